//! Emergency events: the record, the person's risk grade raised to the event's (with a history
//! row), the alert at grade ≥ 3 and the audit entry — all in the caller's transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::alerts::{self, AlertKind};
use super::audit::{self, Target};
use super::sealing::{
    EMERGENCY_DESCRIPTION, EMERGENCY_LATE_REASON, EMERGENCY_OUTCOME, open_in_place, open_text,
};
use super::{Actor, Tx, open_change_set};
use crate::care::emergency::{self, Emergency};
use crate::on_tx;
use crate::regions::Scope;
use crate::secrets::Keys;

/// What recording did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub id: i64,
    /// Notifications sent (police, township, doctors), empty below grade 3.
    pub notifications: Vec<i64>,
    pub risk_before: Option<i64>,
    pub risk_after: Option<i64>,
}

/// Record `e` for person `id` in `scope`; `None` when there is no such person in scope (nothing
/// is written).
pub async fn record(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    id: i64,
    e: &Emergency,
) -> anyhow::Result<Option<Recorded>> {
    let (lo, hi) = scope.bounds();
    let lock = tx.backend().for_update();
    let sql = format!(
        "SELECT name, residence_region, risk_grade FROM persons WHERE id = $1 AND residence_region >= $2 AND residence_region < $3{}{lock}",
        scope.rows_sql("")
    );
    let row: Option<(String, String, Option<i64>)> = on_tx!(tx, c => sqlx::query_as(&sql).bind(id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    let Some((name, region, risk_before)) = row else {
        return Ok(None);
    };
    let change = open_change_set(tx, actor, "emergency", "record").await?;
    let grade = i64::from(e.risk_grade);
    let k = tx.keys.clone();
    let description = k.seal(EMERGENCY_DESCRIPTION, &e.description)?;
    let outcome = k.seal(EMERGENCY_OUTCOME, &e.outcome)?;
    let late_reason = k.seal_opt(EMERGENCY_LATE_REASON, e.late_reason.as_deref())?;
    let eid: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO emergencies (person_id, change_id, occurred_at, risk_grade, kinds, place, description, measures, outcome, late_reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id")
        .bind(id).bind(change).bind(e.occurred_at).bind(grade).bind(serde_json::to_string(&e.kinds)?).bind(&e.place)
        .bind(&description).bind(serde_json::to_string(&e.measures)?).bind(&outcome).bind(&late_reason)
        .fetch_one(&mut **c).await)?;
    // An event shows the person's current risk: it only ever raises the grade on record.
    let risk_after = Some(risk_before.map_or(grade, |g| g.max(grade)));
    if risk_after != risk_before {
        on_tx!(tx, c => sqlx::query("UPDATE persons SET risk_grade = $1, version = version + 1, updated_change = $2 WHERE id = $3")
            .bind(risk_after).bind(change).bind(id).execute(&mut **c).await.map(drop))?;
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO person_history (person_id, change_id, field, old_value, new_value) VALUES ($1, $2, 'risk_grade', $3, $4)")
            .bind(id).bind(change).bind(risk_before.map(|g| g.to_string())).bind(risk_after.map(|g| g.to_string()))
            .execute(&mut **c).await.map(drop))?;
    }
    let notifications = if e.alerts() {
        let what: Vec<&str> = e.kinds.iter().map(|k| emergency::kind_label(k)).collect();
        let detail = format!(
            "{}发生{}，已采取处置。",
            crate::care::emergency::beijing_minute(e.occurred_at),
            what.join("、")
        );
        alerts::high_risk(
            tx,
            id,
            &name,
            &region,
            grade,
            (AlertKind::Emergency, eid),
            &detail,
        )
        .await?
    } else {
        Vec::new()
    };
    audit::record(tx, actor, "emergency.record", Some(Target::person(id)),
        serde_json::json!({"emergency": eid, "alerted": !notifications.is_empty(), "late": e.late_reason.is_some()})).await?;
    Ok(Some(Recorded {
        id: eid,
        notifications,
        risk_before,
        risk_after,
    }))
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredEmergency {
    pub id: i64,
    pub person_id: i64,
    pub occurred_at: DateTime<Utc>,
    pub risk_grade: i64,
    pub kinds: Vec<String>,
    pub place: Option<String>,
    pub description: String,
    pub measures: Vec<String>,
    pub outcome: Option<String>,
    pub late_reason: Option<String>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

type Row = (
    i64,
    i64,
    DateTime<Utc>,
    i64,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    DateTime<Utc>,
);

fn stored(keys: &Keys, mut r: Row) -> anyhow::Result<StoredEmergency> {
    open_text(keys, EMERGENCY_DESCRIPTION, &mut r.6)?;
    open_in_place(keys, EMERGENCY_OUTCOME, &mut r.8)?;
    open_in_place(keys, EMERGENCY_LATE_REASON, &mut r.9)?;
    Ok(StoredEmergency {
        id: r.0,
        person_id: r.1,
        occurred_at: r.2,
        risk_grade: r.3,
        kinds: serde_json::from_str(&r.4).unwrap_or_default(),
        place: r.5,
        description: r.6,
        measures: serde_json::from_str(&r.7).unwrap_or_default(),
        outcome: r.8,
        late_reason: r.9,
        recorded_by: r.10,
        recorded_at: r.11,
    })
}

const COLS: &str = "e.id, e.person_id, e.occurred_at, e.risk_grade, e.kinds, e.place, e.description, e.measures, e.outcome, e.late_reason, cs.actor, cs.at";

/// The events of person `id` in `scope`, newest first.
pub async fn of_person(
    tx: &mut Tx,
    scope: &Scope,
    id: i64,
) -> anyhow::Result<Vec<StoredEmergency>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT {COLS} FROM emergencies e JOIN persons p ON p.id = e.person_id JOIN change_sets cs ON cs.id = e.change_id \
         WHERE e.person_id = $1 AND p.residence_region >= $2 AND p.residence_region < $3{} ORDER BY e.occurred_at DESC, e.id DESC",
        scope.rows_sql("p")
    );
    let rows: Vec<Row> = on_tx!(tx, c => sqlx::query_as(&sql).bind(id).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?;
    rows.into_iter().map(|r| stored(&tx.keys, r)).collect()
}

/// The latest events in `scope`, newest first.
pub async fn recent(
    tx: &mut Tx,
    scope: &Scope,
    limit: i64,
) -> anyhow::Result<Vec<StoredEmergency>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT {COLS} FROM emergencies e JOIN persons p ON p.id = e.person_id JOIN change_sets cs ON cs.id = e.change_id \
         WHERE p.residence_region >= $1 AND p.residence_region < $2{} ORDER BY e.id DESC LIMIT $3",
        scope.rows_sql("p")
    );
    let rows: Vec<Row> = on_tx!(tx, c => sqlx::query_as(&sql).bind(&lo).bind(&hi).bind(limit).fetch_all(&mut **c).await)?;
    rows.into_iter().map(|r| stored(&tx.keys, r)).collect()
}
