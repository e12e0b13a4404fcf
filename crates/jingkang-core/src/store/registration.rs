//! Registration state changes: the person's state, a history row, a `registration_events` row and
//! an audit entry, all in the caller's transaction — or nothing, when the event is refused.

use chrono::{DateTime, Utc};

use super::audit::{self, Target};
use super::{Actor, Backend, Tx, open_change_set};
use crate::care::registration::{self, CloseReason, Event, TransitionError};
use crate::domain::RegistrationState;
use crate::on_tx;
use crate::regions::Scope;

/// A state change that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transitioned {
    pub from: RegistrationState,
    pub to: RegistrationState,
}

/// Why nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such person in the caller's scope (the same answer as absent).
    NotFound,
    /// The event is not allowed now, or lacks its reason.
    Rule(TransitionError),
}

/// Apply `event` to person `id` in `scope`. Refusals write nothing.
pub async fn transition(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    id: i64,
    event: &Event,
) -> anyhow::Result<Result<Transitioned, Refusal>> {
    let (lo, hi) = scope.bounds();
    // On PostgreSQL the row is locked until commit, so two clerks cannot both move the same state.
    let lock = if tx.backend() == Backend::Postgres { " FOR UPDATE" } else { "" };
    let sql = format!(
        "SELECT registration_state FROM persons WHERE id = $1 AND residence_region >= $2 AND residence_region < $3{lock}"
    );
    let current: Option<String> = on_tx!(tx, c => sqlx::query_scalar(&sql).bind(id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    let Some(from) = current.as_deref().and_then(RegistrationState::from_code) else { return Ok(Err(Refusal::NotFound)) };
    let to = match registration::next(from, event) {
        Ok(to) => to,
        Err(e) => return Ok(Err(Refusal::Rule(e))),
    };
    let change = open_change_set(tx, actor, "registration", event.code()).await?;
    on_tx!(tx, c => sqlx::query(
        "UPDATE persons SET registration_state = $1, version = version + 1, updated_change = $2 WHERE id = $3")
        .bind(to.code()).bind(change).bind(id).execute(&mut **c).await.map(drop))?;
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO person_history (person_id, change_id, field, old_value, new_value) VALUES ($1, $2, 'registration_state', $3, $4)")
        .bind(id).bind(change).bind(from.code()).bind(to.code()).execute(&mut **c).await.map(drop))?;
    let close_reason = match event {
        Event::Close { reason, .. } => Some(reason.code()),
        _ => None,
    };
    let exception = matches!(event, Event::Register { exception: Some(_) });
    let reason = event.reason_text().filter(|r| !r.is_empty());
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO registration_events (person_id, change_id, event, from_state, to_state, close_reason, reason, exception) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(id).bind(change).bind(event.code()).bind(from.code()).bind(to.code()).bind(close_reason).bind(reason).bind(exception)
        .execute(&mut **c).await.map(drop))?;
    // The reason's text stays in `registration_events` (it may name people); the audit entry says
    // what happened and that a reason was given.
    audit::record(
        tx,
        actor,
        &format!("registration.{}", event.code()),
        Some(Target::person(id)),
        serde_json::json!({"from": from.code(), "to": to.code(), "close_reason": close_reason, "exception": exception, "reason_given": reason.is_some()}),
    )
    .await?;
    Ok(Ok(Transitioned { from, to }))
}

/// One recorded state change, as the person page lists them.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RegistrationEvent {
    pub event: String,
    pub from_state: String,
    pub to_state: String,
    pub close_reason: Option<String>,
    pub reason: Option<String>,
    pub exception: bool,
    pub actor: String,
    pub at: DateTime<Utc>,
}

impl RegistrationEvent {
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason.as_deref().and_then(CloseReason::from_code)
    }
}

/// The state changes of person `id` in `scope`, oldest first.
pub async fn events(tx: &mut Tx, scope: &Scope, id: i64) -> anyhow::Result<Vec<RegistrationEvent>> {
    let (lo, hi) = scope.bounds();
    Ok(on_tx!(tx, c => sqlx::query_as(
        "SELECT e.event, e.from_state, e.to_state, e.close_reason, e.reason, e.exception, cs.actor, cs.at \
         FROM registration_events e JOIN change_sets cs ON cs.id = e.change_id JOIN persons p ON p.id = e.person_id \
         WHERE e.person_id = $1 AND p.residence_region >= $2 AND p.residence_region < $3 ORDER BY e.id")
        .bind(id).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?)
}
