//! Alerts: in-app notifications to the police and the township of a person's area, and the outbox
//! that external channels (SMS gateway, webhook) drain — written in the caller's transaction, so an
//! alert exists exactly when what caused it was committed.
//!
//! A notification names the person (the police and the township may see a person at risk ≥ 3) but
//! never an ID number, a phone number or a diagnosis. An outbox payload names no person at all: the
//! receiver is told that there is an alert in a region, and looks in the system.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::Tx;
use crate::on_tx;
use crate::regions::Scope;

/// Roles that receive high-risk alerts: the police, the township and the doctors' centre
/// (精防医生) of the person's area.
pub const AUDIENCES: [&str; 3] = ["police", "township", "doctor"];

/// Who an audience is, as a confirmation names them.
pub fn audience_label_zh(audience: &str) -> &'static str {
    match audience {
        "police" => "公安",
        "township" => "街镇",
        "doctor" => "精防医生",
        _ => "其他",
    }
}

/// What raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A follow-up assessed the risk at grade ≥ 3.
    Followup,
    /// An emergency event of grade ≥ 3.
    Emergency,
}

impl AlertKind {
    pub fn code(self) -> &'static str {
        match self {
            AlertKind::Followup => "followup",
            AlertKind::Emergency => "emergency",
        }
    }
}

fn now() -> DateTime<Utc> {
    let n = Utc::now();
    DateTime::from_timestamp_micros(n.timestamp_micros()).unwrap_or(n)
}

/// Alert the police and the township of `region` (the person's township or village) that person
/// `person_id` (`name`) is at risk grade `grade`, and queue the same for external channels.
pub async fn high_risk(
    tx: &mut Tx,
    person_id: i64,
    name: &str,
    region: &str,
    grade: i64,
    (kind, source_id): (AlertKind, i64),
    detail: &str,
) -> anyhow::Result<Vec<i64>> {
    let at = now();
    let title = match kind {
        AlertKind::Followup => format!("高风险提醒：{name} 随访评估危险性 {grade} 级"),
        AlertKind::Emergency => format!("应急处置：{name} 危险性 {grade} 级"),
    };
    let body = format!("{detail}请及时关注，必要时协助处置。");
    let mut ids = Vec::new();
    for audience in AUDIENCES {
        let id: i64 = on_tx!(tx, c => sqlx::query_scalar(
            "INSERT INTO notifications (created_at, region_code, audience, kind, person_id, title, body, source_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
            .bind(at).bind(region).bind(audience).bind(kind.code()).bind(person_id).bind(&title).bind(&body).bind(source_id)
            .fetch_one(&mut **c).await)?;
        ids.push(id);
    }
    let payload = serde_json::json!({"topic": "alert.high_risk", "kind": kind.code(), "region": region, "risk_grade": grade, "notifications": ids, "at": at});
    on_tx!(tx, c => sqlx::query("INSERT INTO outbox (created_at, topic, payload, next_attempt_at) VALUES ($1, 'alert.high_risk', $2, $1)")
        .bind(at).bind(payload.to_string()).execute(&mut **c).await.map(drop))?;
    Ok(ids)
}

/// One notification sent for a follow-up or an emergency: to whom, for which area, when.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Sent {
    pub audience: String,
    pub region_code: String,
    pub created_at: DateTime<Utc>,
}

/// The notifications sent for the follow-up or emergency `source_id` of person `person_id` in
/// `scope` (none when the person is not in scope).
pub async fn sent_for(
    tx: &mut Tx,
    scope: &Scope,
    person_id: i64,
    (kind, source_id): (AlertKind, i64),
) -> anyhow::Result<Vec<Sent>> {
    let (lo, hi) = scope.bounds();
    Ok(on_tx!(tx, c => sqlx::query_as(&format!(
        "SELECT n.audience, n.region_code, n.created_at FROM notifications n JOIN persons p ON p.id = n.person_id \
         WHERE n.kind = $1 AND n.source_id = $2 AND n.person_id = $3 AND p.residence_region >= $4 AND p.residence_region < $5{} \
         ORDER BY n.id",
        scope.rows_sql("p")))
        .bind(kind.code()).bind(source_id).bind(person_id).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?)
}

/// A notification as its reader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub region_code: String,
    pub kind: String,
    pub person_id: Option<i64>,
    pub title: String,
    pub body: String,
    pub read: bool,
}

/// The notifications for `role` in `scope`, newest first, with whether `user_id` has read each.
pub async fn for_user(
    tx: &mut Tx,
    user_id: i64,
    role: &str,
    scope: &Scope,
    limit: i64,
) -> anyhow::Result<Vec<Notification>> {
    let (lo, hi) = scope.bounds();
    Ok(on_tx!(tx, c => sqlx::query_as(&format!(
        "SELECT n.id, n.created_at, n.region_code, n.kind, n.person_id, n.title, n.body, (r.user_id IS NOT NULL) AS read \
         FROM notifications n LEFT JOIN notification_reads r ON r.notification_id = n.id AND r.user_id = $1 \
         WHERE n.audience = $2 AND n.region_code >= $3 AND n.region_code < $4{} ORDER BY n.id DESC LIMIT $5",
         scope.about_sql("n.person_id", true)))
        .bind(user_id).bind(role).bind(&lo).bind(&hi).bind(limit).fetch_all(&mut **c).await)?)
}

/// How many notifications for `role` in `scope` `user_id` has not read.
pub async fn unread(tx: &mut Tx, user_id: i64, role: &str, scope: &Scope) -> anyhow::Result<i64> {
    let (lo, hi) = scope.bounds();
    Ok(on_tx!(tx, c => sqlx::query_scalar(&format!(
        "SELECT count(*) FROM notifications n WHERE n.audience = $2 AND n.region_code >= $3 AND n.region_code < $4{} \
         AND NOT EXISTS (SELECT 1 FROM notification_reads r WHERE r.notification_id = n.id AND r.user_id = $1)",
         scope.about_sql("n.person_id", true)))
        .bind(user_id).bind(role).bind(&lo).bind(&hi).fetch_one(&mut **c).await)?)
}

/// Mark notification `id` read by `user_id`, if it is one of theirs. Returns whether it was.
pub async fn mark_read(
    tx: &mut Tx,
    actor: &super::Actor,
    user_id: i64,
    role: &str,
    scope: &Scope,
    id: i64,
) -> anyhow::Result<bool> {
    let (lo, hi) = scope.bounds();
    let mine: Option<(i64, Option<i64>)> = on_tx!(tx, c => sqlx::query_as(&format!(
        "SELECT id, person_id FROM notifications n WHERE n.id = $1 AND n.audience = $2 AND n.region_code >= $3 AND n.region_code < $4{}",
        scope.about_sql("n.person_id", true)))
        .bind(id).bind(role).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    let Some((_, person)) = mine else {
        return Ok(false);
    };
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO notification_reads (notification_id, user_id, read_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(id).bind(user_id).bind(now()).execute(&mut **c).await.map(drop))?;
    // Reading an alert about a person is a read of that person: audited with them.
    super::audit::record(
        tx,
        actor,
        "notification.read",
        person.map(super::audit::Target::person),
        serde_json::json!({"notification": id}),
    )
    .await?;
    Ok(true)
}

/// One message waiting for (or done with) an external channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OutboxItem {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub topic: String,
    pub payload: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

const OUTBOX_COLS: &str =
    "id, created_at, topic, payload, attempts, next_attempt_at, delivered_at, last_error";

/// Undelivered messages due at `at`, oldest first.
pub async fn due(tx: &mut Tx, at: DateTime<Utc>, limit: i64) -> anyhow::Result<Vec<OutboxItem>> {
    let sql = format!(
        "SELECT {OUTBOX_COLS} FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= $1 ORDER BY id LIMIT $2"
    );
    Ok(on_tx!(tx, c => sqlx::query_as(&sql).bind(at).bind(limit).fetch_all(&mut **c).await)?)
}

/// The latest messages, delivered or not, newest first.
pub async fn recent(tx: &mut Tx, limit: i64) -> anyhow::Result<Vec<OutboxItem>> {
    let sql = format!("SELECT {OUTBOX_COLS} FROM outbox ORDER BY id DESC LIMIT $1");
    Ok(on_tx!(tx, c => sqlx::query_as(&sql).bind(limit).fetch_all(&mut **c).await)?)
}

pub async fn delivered(tx: &mut Tx, id: i64) -> anyhow::Result<()> {
    on_tx!(tx, c => sqlx::query("UPDATE outbox SET delivered_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2")
        .bind(now()).bind(id).execute(&mut **c).await.map(drop))?;
    Ok(())
}

/// The signature a webhook receiver checks: `sha256=` and the hex HMAC-SHA256 of the body under
/// the shared secret.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Backoff after the `attempts`-th failure: 1, 2, 4 … minutes, at most 6 hours.
pub fn backoff(attempts: i64) -> Duration {
    Duration::minutes(1i64 << attempts.clamp(0, 20)).min(Duration::hours(6))
}

pub async fn failed(tx: &mut Tx, item: &OutboxItem, error: &str) -> anyhow::Result<()> {
    let next = now() + backoff(item.attempts);
    let error: String = error.chars().take(500).collect();
    on_tx!(tx, c => sqlx::query("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3")
        .bind(next).bind(error).bind(item.id).execute(&mut **c).await.map(drop))?;
    Ok(())
}

/// Make undelivered messages due now (all, or one). Returns how many.
pub async fn retry_now(tx: &mut Tx, id: Option<i64>) -> anyhow::Result<u64> {
    let at = now();
    Ok(match id {
        Some(id) => {
            on_tx!(tx, c => sqlx::query("UPDATE outbox SET next_attempt_at = $1 WHERE delivered_at IS NULL AND id = $2")
            .bind(at).bind(id).execute(&mut **c).await.map(|r| r.rows_affected()))?
        }
        None => {
            on_tx!(tx, c => sqlx::query("UPDATE outbox SET next_attempt_at = $1 WHERE delivered_at IS NULL")
            .bind(at).execute(&mut **c).await.map(|r| r.rows_affected()))?
        }
    })
}
