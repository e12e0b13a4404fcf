//! Service records in the database: one session row per date (a group session is one row with
//! many participants), its attendance, the participants' contacts per month (`service_months`,
//! what 规范服务 reads), and one audit entry for the entry — all participants in the caller's
//! scope, or nothing is written.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::audit::{self, Target};
use super::bulk::{self, Col, Rows};
use super::sealing::{SESSION_NOTES, open_each};
use super::{Actor, Tx, open_change_set};
use crate::care::service::Session;
use crate::on_tx;
use crate::regions::Scope;

/// Why nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// This many participants are not persons in the caller's scope.
    UnknownParticipants(usize),
}

/// Record `session` (one row per date) for its participants, all in `scope`. Returns the ids.
pub async fn record(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    session: &Session,
) -> anyhow::Result<Result<Vec<i64>, Refusal>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT COUNT(*) FROM persons WHERE id IN ({}) AND residence_region >= $2 AND residence_region < $3{}",
        bulk::json_int_list(tx.backend(), 1),
        scope.rows_sql("")
    );
    let list = serde_json::to_string(&session.participants)?;
    let found: i64 = on_tx!(tx, c => sqlx::query_scalar(&sql).bind(&list).bind(&lo).bind(&hi).fetch_one(&mut **c).await)?;
    let missing = session
        .participants
        .len()
        .saturating_sub(usize::try_from(found).unwrap_or(0));
    if missing > 0 {
        return Ok(Err(Refusal::UnknownParticipants(missing)));
    }
    let region = scope.root().unwrap_or_default().to_string();
    let change = open_change_set(tx, actor, "service", &session.item).await?;
    let mut ids = Vec::with_capacity(session.dates.len());
    let cols = [
        ("session_id", Col::Int),
        ("person_id", Col::Int),
        ("service_date", Col::Date),
    ];
    let notes = tx.keys.seal_opt(SESSION_NOTES, session.notes.as_deref())?;
    for date in &session.dates {
        let id: i64 = on_tx!(tx, c => sqlx::query_scalar(
            "INSERT INTO service_sessions (change_id, item, mode, service_date, start_time, end_time, staff, region, participants, notes, institution_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id")
            .bind(change).bind(&session.item).bind(&session.mode).bind(*date).bind(session.start.format("%H:%M").to_string())
            .bind(session.end.format("%H:%M").to_string()).bind(&session.staff).bind(&region).bind(session.participants.len() as i64)
            .bind(&notes).bind(scope.site()).fetch_one(&mut **c).await)?;
        let mut rows = Rows::new();
        for pid in &session.participants {
            rows.row().int(Some(id)).int(Some(*pid)).date(*date);
            rows.end_row();
        }
        bulk::insert(tx, "service_attendance", &cols, rows).await?;
        ids.push(id);
        let month = date.format("%Y-%m").to_string();
        let sql = format!(
            "INSERT INTO service_months (person_id, month, contacts) SELECT id, $2, 1 FROM persons WHERE id IN ({}) \
             ON CONFLICT (person_id, month) DO UPDATE SET contacts = service_months.contacts + 1",
            bulk::json_int_list(tx.backend(), 1)
        );
        on_tx!(tx, c => sqlx::query(&sql).bind(&list).bind(&month).execute(&mut **c).await.map(drop))?;
    }
    if let Some(first) = session.dates.iter().min() {
        super::standard::refresh_quarters(tx, &session.participants, *first).await?;
    }
    audit::record(
        tx,
        actor,
        "service.record",
        Some(Target::region(&region)),
        serde_json::json!({"sessions": ids, "item": session.item, "persons": session.participants}),
    )
    .await?;
    Ok(Ok(ids))
}

/// A session as the lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredSession {
    pub id: i64,
    pub item: String,
    pub mode: String,
    pub service_date: NaiveDate,
    pub start_time: String,
    pub end_time: String,
    pub staff: String,
    pub region: String,
    pub participants: i64,
    pub notes: Option<String>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

const COLS: &str = "s.id, s.item, s.mode, s.service_date, s.start_time, s.end_time, s.staff, s.region, s.participants, s.notes, cs.actor AS recorded_by, cs.at AS recorded_at";

/// The sessions person `id` (in `scope`) attended, newest first.
pub async fn of_person(
    tx: &mut Tx,
    scope: &Scope,
    id: i64,
    limit: i64,
) -> anyhow::Result<Vec<StoredSession>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT {COLS} FROM service_attendance a JOIN service_sessions s ON s.id = a.session_id JOIN change_sets cs ON cs.id = s.change_id \
         JOIN persons p ON p.id = a.person_id \
         WHERE a.person_id = $1 AND p.residence_region >= $2 AND p.residence_region < $3{} ORDER BY a.service_date DESC, s.id DESC LIMIT $4",
        scope.rows_sql("p")
    );
    let rows = on_tx!(tx, c => sqlx::query_as(&sql).bind(id).bind(&lo).bind(&hi).bind(limit).fetch_all(&mut **c).await)?;
    open_each(&tx.keys, SESSION_NOTES, rows, |r: &mut StoredSession| {
        &mut r.notes
    })
}

/// The sessions held in `scope` (by the session's region) on the days of `within` (inclusive;
/// `None`: any day), newest first, at most `limit`.
pub async fn in_scope(
    tx: &mut Tx,
    scope: &Scope,
    within: Option<(NaiveDate, NaiveDate)>,
    limit: i64,
) -> anyhow::Result<Vec<StoredSession>> {
    let (lo, hi) = scope.bounds();
    let site = scope
        .site()
        .map_or(String::new(), |id| format!(" AND s.institution_id = {id}"));
    // Dates every backend compares as dates (SQLite compares ISO text; chrono's MIN/MAX are not).
    let any = (
        NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or_default(),
        NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or_default(),
    );
    let (from, to) = within.unwrap_or(any);
    let sql = format!(
        "SELECT {COLS} FROM service_sessions s JOIN change_sets cs ON cs.id = s.change_id \
         WHERE s.region >= $1 AND s.region < $2{site} AND s.service_date >= $3 AND s.service_date <= $4 ORDER BY s.service_date DESC, s.id DESC LIMIT $5"
    );
    let rows = on_tx!(tx, c => sqlx::query_as(&sql).bind(&lo).bind(&hi).bind(from).bind(to).bind(limit).fetch_all(&mut **c).await)?;
    open_each(&tx.keys, SESSION_NOTES, rows, |r: &mut StoredSession| {
        &mut r.notes
    })
}
