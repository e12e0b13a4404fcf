//! Append-only audit log, hash-chained.
//!
//! Each entry stores the SHA-256 of the previous entry (`prev_hash`) and its own hash over a canonical
//! serialisation of its fields plus `prev_hash`. Entries are written in the same transaction as the
//! change they describe. Details never contain cleartext ID numbers or phone numbers: callers pass
//! masked values or internal ids.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

use super::{Actor, Backend, Tx};
use crate::on_tx;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an audit entry is about.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub kind: &'a str,
    pub id: String,
}

impl<'a> Target<'a> {
    pub fn person(id: i64) -> Target<'a> {
        Target {
            kind: "person",
            id: id.to_string(),
        }
    }
    pub fn region(code: &str) -> Target<'a> {
        Target {
            kind: "region",
            id: code.to_string(),
        }
    }
}

fn entry_hash(
    prev_hash: &str,
    at: &DateTime<Utc>,
    actor: &str,
    action: &str,
    target_kind: Option<&str>,
    target_id: Option<&str>,
    detail: &str,
) -> String {
    // Canonical serialisation: a JSON array of the fields in a fixed order.
    let canonical = serde_json::json!([
        prev_hash,
        at.to_rfc3339_opts(SecondsFormat::Micros, true),
        actor,
        action,
        target_kind,
        target_id,
        detail
    ])
    .to_string();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// An entry not yet in the chain: what [`record`] was given, with its time.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    at: DateTime<Utc>,
    actor: String,
    action: String,
    target_kind: Option<String>,
    target_id: Option<String>,
    detail: String,
}

tokio::task_local! {
    /// Set by the write batcher (`store::batch`) around each piece of work it runs: [`record`] puts
    /// entries here, and the batcher appends them all with [`append`], in order and in the same
    /// transaction, just before that transaction commits.
    pub(crate) static DEFERRED: Arc<Mutex<Vec<Pending>>>;
}

/// Append one entry in `tx` (inside a write batch: at the end of the batch's transaction).
pub async fn record(
    tx: &mut Tx,
    actor: &Actor,
    action: &str,
    target: Option<Target<'_>>,
    detail: serde_json::Value,
) -> anyhow::Result<()> {
    // Microsecond precision so the stored value round-trips exactly on both backends.
    let now = Utc::now();
    let at = DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now);
    let (target_kind, target_id) = match target {
        Some(t) => (Some(t.kind.to_string()), Some(t.id)),
        None => (None, None),
    };
    let entry = Pending {
        at,
        actor: actor.as_str().to_string(),
        action: action.to_string(),
        target_kind,
        target_id,
        detail: detail.to_string(),
    };
    let mut slot = Some(entry);
    let deferred = DEFERRED
        .try_with(|buffer| {
            if let Some(e) = slot.take() {
                buffer
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(e);
            }
        })
        .is_ok();
    match slot {
        Some(entry) if !deferred => append(tx, vec![entry]).await,
        _ => Ok(()),
    }
}

/// Append `entries` to the chain in `tx`, in order, with one statement.
pub(crate) async fn append(tx: &mut Tx, entries: Vec<Pending>) -> anyhow::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    if tx.backend() == Backend::Postgres {
        // Serialise writers of the chain; released at commit/rollback.
        on_tx!(tx, c => sqlx::query("SELECT pg_advisory_xact_lock(727274)").execute(&mut **c).await.map(|r| r.rows_affected()))?;
    }
    let head: Option<String> = on_tx!(tx, c => sqlx::query_scalar(
        "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetch_optional(&mut **c).await)?;
    let mut prev = head.unwrap_or_else(|| GENESIS.to_string());
    let mut sql = String::from(
        "INSERT INTO audit_log (at, actor, action, target_kind, target_id, detail, prev_hash, hash) VALUES ",
    );
    let mut links = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let hash = entry_hash(
            &prev,
            &e.at,
            &e.actor,
            &e.action,
            e.target_kind.as_deref(),
            e.target_id.as_deref(),
            &e.detail,
        );
        let b = i * 8;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6,
            b + 7,
            b + 8
        ));
        links.push((std::mem::replace(&mut prev, hash.clone()), hash));
    }
    on_tx!(tx, c => {
        let mut q = sqlx::query(&sql);
        for (e, (prev, hash)) in entries.iter().zip(&links) {
            q = q.bind(e.at).bind(&e.actor).bind(&e.action).bind(&e.target_kind).bind(&e.target_id).bind(&e.detail).bind(prev).bind(hash);
        }
        q.execute(&mut **c).await.map(drop)
    })?;
    Ok(())
}

/// Result of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verification {
    pub entries: u64,
    /// Id of the first entry whose hash or link is wrong, if any.
    pub first_broken: Option<i64>,
}

type AuditRow = (
    i64,
    DateTime<Utc>,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
);

/// Recompute every hash in order and check each link.
pub async fn verify(tx: &mut Tx) -> anyhow::Result<Verification> {
    let rows: Vec<AuditRow> = on_tx!(tx, c => sqlx::query_as(
        "SELECT id, at, actor, action, target_kind, target_id, detail, prev_hash, hash FROM audit_log ORDER BY id")
        .fetch_all(&mut **c).await)?;
    let mut prev = GENESIS.to_string();
    for (i, (id, at, actor, action, tk, tid, detail, prev_hash, hash)) in rows.iter().enumerate() {
        let expected = entry_hash(
            &prev,
            at,
            actor,
            action,
            tk.as_deref(),
            tid.as_deref(),
            detail,
        );
        if *prev_hash != prev || *hash != expected {
            return Ok(Verification {
                entries: i as u64,
                first_broken: Some(*id),
            });
        }
        prev = hash.clone();
    }
    Ok(Verification {
        entries: rows.len() as u64,
        first_broken: None,
    })
}

/// One audit entry as read back.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Entry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub detail: String,
}

/// The newest `limit` entries, newest first.
pub async fn recent(tx: &mut Tx, limit: i64) -> anyhow::Result<Vec<Entry>> {
    Ok(on_tx!(tx, c => sqlx::query_as(
        "SELECT id, at, actor, action, target_kind, target_id, detail FROM audit_log ORDER BY id DESC LIMIT $1")
        .bind(limit).fetch_all(&mut **c).await)?)
}

/// Every entry in order (tests, exports of the log).
pub async fn entries(tx: &mut Tx) -> anyhow::Result<Vec<Entry>> {
    Ok(on_tx!(tx, c => sqlx::query_as(
        "SELECT id, at, actor, action, target_kind, target_id, detail FROM audit_log ORDER BY id")
        .fetch_all(&mut **c).await)?)
}

/// What an auditor searches the log by; every part optional.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Exact actor, e.g. `user:zhangsan`.
    pub actor: Option<String>,
    /// Action prefix, e.g. `person.` or `login`.
    pub action: Option<String>,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Keyset paging: entries older than this id.
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Entries matching `q`, newest first.
pub async fn search(tx: &mut Tx, q: &Query) -> anyhow::Result<Vec<Entry>> {
    let mut sql = String::from(
        "SELECT id, at, actor, action, target_kind, target_id, detail FROM audit_log WHERE 1 = 1",
    );
    let mut texts: Vec<String> = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    if let Some(a) = &q.actor {
        sql.push_str(&format!(" AND actor = ${}", next()));
        texts.push(a.clone());
    }
    if let Some(a) = &q.action {
        sql.push_str(&format!(" AND action LIKE ${}", next()));
        texts.push(format!("{}%", a.replace(['%', '_'], "")));
    }
    if let Some(k) = &q.target_kind {
        sql.push_str(&format!(" AND target_kind = ${}", next()));
        texts.push(k.clone());
    }
    if let Some(t) = &q.target_id {
        sql.push_str(&format!(" AND target_id = ${}", next()));
        texts.push(t.clone());
    }
    let (from_i, to_i, before_i, limit_i) = (next(), next(), next(), next());
    sql.push_str(&format!(
        " AND at >= ${from_i} AND at <= ${to_i} AND id < ${before_i} ORDER BY id DESC LIMIT ${limit_i}"
    ));
    // Bounds with four-digit years: SQLite compares the stored RFC 3339 text.
    let from = q.from.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let to =
        q.to.or_else(|| DateTime::from_timestamp(253_402_300_799, 0))
            .unwrap_or_else(Utc::now);
    Ok(on_tx!(tx, c => {
        let mut query = sqlx::query_as(&sql);
        for t in &texts {
            query = query.bind(t);
        }
        query.bind(from).bind(to).bind(q.before_id.unwrap_or(i64::MAX)).bind(q.limit).fetch_all(&mut **c).await
    })?)
}

/// The chain as it stands: how many entries and the newest one's hash, for the witness.
pub async fn checkpoint(tx: &mut Tx) -> anyhow::Result<crate::witness::Checkpoint> {
    let entries: i64 = on_tx!(tx, c => sqlx::query_scalar("SELECT count(*) FROM audit_log")
        .fetch_one(&mut **c).await)?;
    let head: Option<String> = on_tx!(tx, c => sqlx::query_scalar(
        "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetch_optional(&mut **c).await)?;
    Ok(crate::witness::Checkpoint {
        entries: u64::try_from(entries).unwrap_or(0),
        head: head.unwrap_or_else(|| GENESIS.to_string()),
        at: Utc::now(),
    })
}

/// The hash of the entry at 1-based position `n` in the chain's order.
pub async fn hash_at(tx: &mut Tx, n: u64) -> anyhow::Result<Option<String>> {
    let offset = i64::try_from(n.saturating_sub(1)).unwrap_or(i64::MAX);
    Ok(on_tx!(tx, c => sqlx::query_scalar(
        "SELECT hash FROM audit_log ORDER BY id LIMIT 1 OFFSET $1").bind(offset)
        .fetch_optional(&mut **c).await)?)
}

/// Whether `key` is the key this database is used with: the first use records its fingerprint,
/// every later one compares (`false`: another key file — refuse to start).
pub async fn key_matches(db: &super::Db, key: &crate::secrets::MasterKey) -> anyhow::Result<bool> {
    let mut tx = db.begin().await?;
    let known: Option<String> = on_tx!(&mut tx, c => sqlx::query_scalar(
        "SELECT fingerprint FROM key_check WHERE id = 1").fetch_optional(&mut **c).await)?;
    let mine = key.fingerprint();
    let ok = match known {
        Some(f) => f == mine,
        None => {
            on_tx!(&mut tx, c => sqlx::query("INSERT INTO key_check (id, fingerprint) VALUES (1, $1)")
                .bind(&mine).execute(&mut **c).await.map(drop))?;
            true
        }
    };
    tx.commit().await?;
    Ok(ok)
}
