//! Registration state changes: the person's state, a history row, a `registration_events` row and
//! an audit entry, all in the caller's transaction — or nothing, when the event is refused.
//! Registering without a written exception is judged by the eligibility rule in the same
//! transaction, on the data it is about to change.

use chrono::{DateTime, NaiveDate, Utc};

use super::audit::{self, Target};
use super::{Actor, Tx, open_change_set};
use crate::care::eligibility::{self, Check, Evidence, RiskChange, Verdict};
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
    /// Registering without an exception, and these conditions of the eligibility rule are not met.
    Ineligible(Vec<Check>),
    /// Starting (or resuming) service without a consent and a service agreement valid that day
    /// (SPEC §3): the kinds missing or out of date, in Chinese.
    NoAgreement(Vec<&'static str>),
}

impl Refusal {
    /// The refusal in Chinese (`NotFound` has none: it is answered as absent).
    pub fn message(&self) -> String {
        match self {
            Refusal::NotFound => String::new(),
            Refusal::Rule(e) => e.message(),
            Refusal::Ineligible(open) => {
                let open: Vec<String> = open
                    .iter()
                    .map(|c| format!("{}：{}", c.condition, c.verdict.label_zh()))
                    .collect();
                crate::messages::render(
                    "registration-ineligible",
                    &[("conditions", &open.join("；"))],
                )
            }
            Refusal::NoAgreement(kinds) => crate::messages::render(
                "registration-agreement-missing",
                &[("kinds", &kinds.join("、"))],
            ),
        }
    }

    /// The stable code (API answers).
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotFound => "not-found",
            Refusal::Rule(e) => e.code(),
            Refusal::Ineligible(_) => "registration-ineligible",
            Refusal::NoAgreement(_) => "registration-agreement-missing",
        }
    }
}

/// The agreement kinds (in Chinese) not signed and valid on `today` for person `id`.
async fn agreements_missing(
    tx: &mut Tx,
    scope: &Scope,
    id: i64,
    today: NaiveDate,
) -> anyhow::Result<Vec<&'static str>> {
    let stored = super::agreements::of_person(tx, scope, id).await?;
    let signed: Vec<_> = stored
        .iter()
        .filter_map(|a| Some((a.kind()?, a.signed_on, a.valid_until)))
        .collect();
    Ok(crate::care::agreement::missing(&signed, today)
        .into_iter()
        .map(crate::care::agreement::AgreementKind::label_zh)
        .collect())
}

/// What registering without an exception is judged on: the rule, the day, and the evaluator's
/// statement that there is no serious physical or infectious disease.
#[derive(Debug, Clone, Copy)]
pub struct Gate<'a> {
    pub rule: &'a eligibility::Rule,
    pub today: NaiveDate,
    pub no_serious_disease: bool,
}

/// The evidence beyond the record: the risk grade's changes (from the history) and whether a
/// consent and a service agreement are valid on `today` (unknown while none is recorded — it may
/// be signed on paper and not yet entered).
pub fn evidence_of(
    history: &[super::persons::HistoryEntry],
    agreements: &[super::agreements::StoredAgreement],
    today: NaiveDate,
) -> Evidence {
    let risk_changes = history
        .iter()
        .filter(|h| h.field == "risk_grade")
        .map(|h| RiskChange {
            at: h.at,
            old: h.old.as_deref().and_then(|v| v.parse().ok()),
            new: h.new.as_deref().and_then(|v| v.parse().ok()),
        })
        .collect();
    let signed: Vec<_> = agreements
        .iter()
        .filter_map(|a| Some((a.kind()?, a.signed_on, a.valid_until)))
        .collect();
    let agreement_signed =
        (!signed.is_empty()).then(|| crate::care::agreement::signed_and_valid(&signed, today));
    Evidence {
        risk_changes,
        agreement_signed,
        ..Default::default()
    }
}

/// The conditions of the rule person `id` does not meet (empty: eligible).
async fn open_conditions(
    tx: &mut Tx,
    scope: &Scope,
    id: i64,
    gate: &Gate<'_>,
) -> anyhow::Result<Vec<Check>> {
    let Some(p) = super::persons::get_unaudited(tx, scope, id).await? else {
        return Ok(Vec::new());
    };
    let history = super::persons::history(tx, scope, id).await?;
    let agreements = super::agreements::of_person(tx, scope, id).await?;
    let mut evidence = evidence_of(&history, &agreements, gate.today);
    evidence.no_serious_disease = gate.no_serious_disease.then_some(true);
    Ok(
        eligibility::evaluate(gate.rule, &p.record.data, &evidence, gate.today)
            .into_iter()
            .filter(|c| c.verdict != Verdict::Pass)
            .collect(),
    )
}

/// Apply `event` to person `id` in `scope`; registering without an exception must pass `gate`.
/// Refusals write nothing.
pub async fn transition(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    id: i64,
    event: &Event,
    gate: &Gate<'_>,
) -> anyhow::Result<Result<Transitioned, Refusal>> {
    let (lo, hi) = scope.bounds();
    // On PostgreSQL the row is locked until commit, so two clerks cannot both move the same state.
    let lock = tx.backend().for_update();
    let sql = format!(
        "SELECT registration_state, merged_into FROM persons WHERE id = $1 AND residence_region >= $2 AND residence_region < $3{}{lock}",
        scope.rows_sql("")
    );
    let current: Option<(String, Option<i64>)> = on_tx!(tx, c => sqlx::query_as(&sql).bind(id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    let Some((from, merged_into)) = current else {
        return Ok(Err(Refusal::NotFound));
    };
    let Some(from) = RegistrationState::from_code(&from) else {
        return Ok(Err(Refusal::NotFound));
    };
    // A duplicate merged into another record changes only by undoing the merge.
    if merged_into.is_some() {
        return Ok(Err(Refusal::Rule(TransitionError::Merged)));
    }
    let to = match registration::next(from, event) {
        Ok(to) => to,
        Err(e) => return Ok(Err(Refusal::Rule(e))),
    };
    if matches!(event, Event::Register { exception: None }) {
        let open = open_conditions(tx, scope, id, gate).await?;
        if !open.is_empty() {
            return Ok(Err(Refusal::Ineligible(open)));
        }
    }
    // Service starts (and starts again) only under a signed agreement valid that day (SPEC §3).
    if matches!(event, Event::StartService | Event::Resume) {
        let missing = agreements_missing(tx, scope, id, gate.today).await?;
        if !missing.is_empty() {
            return Ok(Err(Refusal::NoAgreement(missing)));
        }
    }
    let change = open_change_set(tx, actor, "registration", event.code()).await?;
    let close_reason = match event {
        Event::Close { reason, .. } => Some(reason.code()),
        _ => None,
    };
    on_tx!(tx, c => sqlx::query(
        "UPDATE persons SET registration_state = $1, close_reason = $4, version = version + 1, updated_change = $2 WHERE id = $3")
        .bind(to.code()).bind(change).bind(id).bind(close_reason).execute(&mut **c).await.map(drop))?;
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO person_history (person_id, change_id, field, old_value, new_value) VALUES ($1, $2, 'registration_state', $3, $4)")
        .bind(id).bind(change).bind(from.code()).bind(to.code()).execute(&mut **c).await.map(drop))?;
    let exception = matches!(event, Event::Register { exception: Some(_) });
    let reason = event.reason_text().filter(|r| !r.is_empty());
    let reason_given = reason.is_some();
    let reason = tx
        .keys
        .seal_opt(super::sealing::REGISTRATION_REASON, reason)?;
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO registration_events (person_id, change_id, event, from_state, to_state, close_reason, reason, exception, effective_on) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
        .bind(id).bind(change).bind(event.code()).bind(from.code()).bind(to.code()).bind(close_reason).bind(reason).bind(exception).bind(gate.today)
        .execute(&mut **c).await.map(drop))?;
    // The reason's text stays in `registration_events` (it may name people); the audit entry says
    // what happened and that a reason was given.
    audit::record(
        tx,
        actor,
        &format!("registration.{}", event.code()),
        Some(Target::person(id)),
        serde_json::json!({"from": from.code(), "to": to.code(), "close_reason": close_reason, "exception": exception, "reason_given": reason_given}),
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
        self.close_reason
            .as_deref()
            .and_then(CloseReason::from_code)
    }
}

/// The state changes of person `id` in `scope`, oldest first.
pub async fn events(tx: &mut Tx, scope: &Scope, id: i64) -> anyhow::Result<Vec<RegistrationEvent>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT e.event, e.from_state, e.to_state, e.close_reason, e.reason, e.exception, cs.actor, cs.at \
         FROM registration_events e JOIN change_sets cs ON cs.id = e.change_id JOIN persons p ON p.id = e.person_id \
         WHERE e.person_id = $1 AND p.residence_region >= $2 AND p.residence_region < $3{} ORDER BY e.id",
        scope.rows_sql("p")
    );
    let rows = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(id).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?;
    super::sealing::open_each(
        &tx.keys,
        super::sealing::REGISTRATION_REASON,
        rows,
        |e: &mut RegistrationEvent| &mut e.reason,
    )
}
