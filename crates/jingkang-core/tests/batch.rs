//! Group commit: pieces of work from many callers share transactions, each caller sees exactly its
//! own outcome, and the audit chain stays whole.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::TestDb;
use jingkang_core::store::batch::{Outcome, WriteBatcher};
use jingkang_core::store::{Actor, audit};

async fn audited(batcher: &WriteBatcher, n: i64, outcome: &'static str) -> anyhow::Result<i64> {
    batcher
        .run(move |tx| {
            Box::pin(async move {
                audit::record(
                    tx,
                    &Actor::system(),
                    "test.piece",
                    None,
                    serde_json::json!({"n": n, "outcome": outcome}),
                )
                .await?;
                match outcome {
                    "keep" => Ok(Outcome::Keep(n)),
                    "discard" => Ok(Outcome::Discard(-n)),
                    "fail" => anyhow::bail!("piece {n} fails"),
                    _ => panic!("piece {n} panics"),
                }
            })
        })
        .await
}

fn kind(n: i64) -> &'static str {
    match n % 10 {
        3 => "discard",
        6 => "fail",
        9 if n % 30 == 9 => "panic",
        _ => "keep",
    }
}

async fn concurrent_pieces_each_get_their_own_outcome(t: TestDb) {
    let batcher = WriteBatcher::start(t.db.clone());
    let mut handles = Vec::new();
    for n in 0..200i64 {
        let b = batcher.clone();
        handles.push(tokio::spawn(
            async move { (n, audited(&b, n, kind(n)).await) },
        ));
    }
    let mut kept = Vec::new();
    for h in handles {
        let (n, result) = h.await.unwrap();
        match kind(n) {
            "keep" => {
                assert_eq!(result.unwrap(), n);
                kept.push(n);
            }
            "discard" => assert_eq!(result.unwrap(), -n),
            "fail" => assert!(
                result
                    .unwrap_err()
                    .to_string()
                    .contains(&format!("piece {n} fails"))
            ),
            _ => assert!(result.is_err(), "a panicking piece gets an error"),
        }
    }
    // Pieces answered after a panic are served: the batcher is still there.
    assert_eq!(audited(&batcher, 1000, "keep").await.unwrap(), 1000);
    kept.push(1000);
    // Exactly the kept pieces left an audit entry, each once, and the chain verifies.
    let mut tx = t.db.begin().await.unwrap();
    let entries = audit::entries(&mut tx).await.unwrap();
    let mut logged: Vec<i64> = entries
        .iter()
        .filter(|e| e.action == "test.piece")
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.detail).unwrap()["n"]
                .as_i64()
                .unwrap()
        })
        .collect();
    logged.sort_unstable();
    kept.sort_unstable();
    assert_eq!(logged, kept);
    let v = audit::verify(&mut tx).await.unwrap();
    assert_eq!(v.first_broken, None);
    assert_eq!(v.entries as usize, entries.len());
    tx.commit().await.unwrap();
}

/// Entries recorded outside a batch and inside one interleave into one valid chain.
async fn batched_and_direct_entries_chain_together(t: TestDb) {
    let batcher = WriteBatcher::start(t.db.clone());
    for round in 0..5i64 {
        let mut tx = t.db.begin().await.unwrap();
        audit::record(
            &mut tx,
            &Actor::cli(),
            "test.direct",
            None,
            serde_json::json!({"round": round}),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let pieces: Vec<_> = (0..10)
            .map(|i| {
                let b = batcher.clone();
                tokio::spawn(async move { audited(&b, round * 100 + i, "keep").await })
            })
            .collect();
        for p in pieces {
            p.await.unwrap().unwrap();
        }
    }
    let mut tx = t.db.begin().await.unwrap();
    let v = audit::verify(&mut tx).await.unwrap();
    assert_eq!((v.entries, v.first_broken), (55, None));
    tx.commit().await.unwrap();
}

backend_tests!(
    concurrent_pieces_each_get_their_own_outcome,
    batched_and_direct_entries_chain_together
);
