//! The registry as of a day, on both backends: a person registered after the day is not
//! registered on it, one closed before it is closed (with the reason) on it, one not yet in the
//! registry is not counted; events in a period count once a person.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use chrono::NaiveDate;
use common::{TestDb, register_by_exception as register, transition_on as on};
use jingkang_core::care::registration::{CloseReason, Event};
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::store::asof::{self, StateCount};

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

async fn states(t: &TestDb, scope: &Scope, day: &str) -> Vec<(String, Option<String>, i64)> {
    let mut tx = t.db.begin_read().await.unwrap();
    let rows: Vec<StateCount> = asof::states_on(&mut tx, scope, d(day)).await.unwrap();
    tx.commit().await.unwrap();
    assert!(rows.iter().all(|r| r.township == "500110004"));
    rows.into_iter()
        .map(|r| (r.state, r.close_reason, r.persons))
        .collect()
}

fn s(state: &str, reason: Option<&str>, n: i64) -> (String, Option<String>, i64) {
    (state.to_string(), reason.map(str::to_string), n)
}

async fn the_registry_as_of_a_day(t: TestDb) {
    let ids = common::some_persons(&t, 5).await;
    let scope = Scope::of(t.tree.get("500110").unwrap());
    let known: Vec<NaiveDate> = on_pool!(&t.db, p => sqlx::query_scalar("SELECT known_since FROM persons ORDER BY id").fetch_all(p).await).unwrap();
    assert_eq!(
        known,
        vec![common::today(); 5],
        "an import enters the registry on the importer's day"
    );
    // The first four were in the registry from January (as the history generator backdates them);
    // the fifth only from the import.
    on_pool!(&t.db, p => sqlx::query("UPDATE persons SET known_since = $1 WHERE id <> $2").bind(d("2026-01-01")).bind(ids[4]).execute(p).await.map(drop)).unwrap();
    on(&t, &scope, ids[0], "2026-08-01", register()).await;
    on(&t, &scope, ids[1], "2026-10-05", register()).await;
    on(&t, &scope, ids[2], "2026-07-01", register()).await;
    on(&t, &scope, ids[2], "2026-07-10", Event::StartService).await;
    on(
        &t,
        &scope,
        ids[2],
        "2026-09-15",
        Event::Close {
            reason: CloseReason::Died,
            note: String::new(),
        },
    )
    .await;
    on(
        &t,
        &scope,
        ids[3],
        "2026-09-30",
        Event::Decline {
            reason: "本人不愿参加".into(),
        },
    )
    .await;

    assert_eq!(
        states(&t, &scope, "2025-12-31").await,
        vec![],
        "nobody was in the registry yet"
    );
    assert_eq!(
        states(&t, &scope, "2026-08-31").await,
        vec![
            s("in_service", None, 1),
            s("pending", None, 2),
            s("registered", None, 1)
        ]
    );
    assert_eq!(
        states(&t, &scope, "2026-09-30").await,
        vec![
            s("closed", Some("died"), 1),
            s("declined", None, 1),
            s("pending", None, 1),
            s("registered", None, 1)
        ],
        "registered after the quarter: still pending; closed during it: closed, with the reason; declined on its last day: declined"
    );
    assert_eq!(
        states(&t, &scope, "2026-12-31").await,
        vec![
            s("closed", Some("died"), 1),
            s("declined", None, 1),
            s("pending", None, 1),
            s("registered", None, 2)
        ],
        "the imported one counts from its import, pending"
    );
    let mut tx = t.db.begin_read().await.unwrap();
    let q3 = asof::events_between(
        &mut tx,
        &scope,
        "register",
        d("2026-07-01"),
        d("2026-09-30"),
    )
    .await
    .unwrap();
    assert_eq!(q3, vec![("500110004".to_string(), 2)]);
    let elsewhere = Scope::of(t.tree.get("500111").unwrap());
    assert!(
        asof::events_between(
            &mut tx,
            &elsewhere,
            "register",
            d("2026-01-01"),
            d("2026-12-31")
        )
        .await
        .unwrap()
        .is_empty()
    );
    assert!(
        asof::states_on(&mut tx, &elsewhere, d("2026-12-31"))
            .await
            .unwrap()
            .is_empty(),
        "scoped"
    );
    tx.commit().await.unwrap();
}

backend_tests!(the_registry_as_of_a_day);
