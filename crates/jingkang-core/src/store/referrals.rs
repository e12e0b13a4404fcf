//! Referrals in the database: sending one (its documents complete, its deadline in working days),
//! each step by the receiver (or the sender's resend) through the state machine of
//! `care::referral`, with an event row and an audit entry in the same transaction. A transfer
//! (迁移) moves the person's residence into the receiver's region on acceptance; the sender keeps
//! the referral itself as a read-only trace.
//!
//! Scope: the sender sees what it sent (`from_region` in its scope), the receiver what was sent to
//! it (`to_region` in its scope); nothing else.

use chrono::NaiveDate;
use serde::Serialize;

use super::audit::{self, Target};
use super::{Actor, Backend, Tx, open_change_set};
use crate::care::referral::{self, ReferralError, ReferralEvent, ReferralRules, ReferralState, WorkCalendar};
use crate::on_tx;
use crate::regions::Scope;

/// A referral to send.
#[derive(Debug, Clone)]
pub struct NewReferral {
    pub kind: String,
    pub person_id: i64,
    /// The receiving region (a township or village code).
    pub to_region: String,
    pub reason: String,
    /// The documents attached, by slot name.
    pub documents: Vec<String>,
    pub sent_on: NaiveDate,
}

/// Why a referral was not sent; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendRefusal {
    NotFound,
    KindUnknown,
    /// To the region the person already lives in.
    SameRegion,
    /// These documents are missing.
    Incomplete(Vec<String>),
}

/// Send `new` from the caller's scope.
pub async fn send(tx: &mut Tx, scope: &Scope, actor: &Actor, rules: &ReferralRules, cal: &WorkCalendar, new: &NewReferral) -> anyhow::Result<Result<i64, SendRefusal>> {
    let Some(rule) = rules.kind(&new.kind) else { return Ok(Err(SendRefusal::KindUnknown)) };
    let (lo, hi) = scope.bounds();
    let from: Option<String> = on_tx!(tx, c => sqlx::query_scalar("SELECT residence_region FROM persons WHERE id = $1 AND residence_region >= $2 AND residence_region < $3")
        .bind(new.person_id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    let Some(from) = from else { return Ok(Err(SendRefusal::NotFound)) };
    if new.to_region == from {
        return Ok(Err(SendRefusal::SameRegion));
    }
    let missing = referral::missing_documents(rule, &new.documents);
    if !missing.is_empty() {
        return Ok(Err(SendRefusal::Incomplete(missing.into_iter().map(str::to_string).collect())));
    }
    let deadline = referral::deadline(rule, cal, ReferralState::Initiated, new.sent_on, None);
    let change = open_change_set(tx, actor, "referral", "send").await?;
    let id: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO referrals (person_id, kind, state, urgent, from_region, to_region, reason, documents, sent_on, deadline, change_id) \
         VALUES ($1, $2, 'initiated', $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id")
        .bind(new.person_id).bind(&rule.code).bind(rule.urgent).bind(&from).bind(&new.to_region).bind(new.reason.trim())
        .bind(serde_json::to_string(&new.documents)?).bind(new.sent_on).bind(deadline).bind(change)
        .fetch_one(&mut **c).await)?;
    on_tx!(tx, c => sqlx::query("INSERT INTO referral_events (referral_id, change_id, event, from_state, to_state) VALUES ($1, $2, 'send', NULL, 'initiated')")
        .bind(id).bind(change).execute(&mut **c).await.map(drop))?;
    audit::record(tx, actor, "referral.send", Some(Target::person(new.person_id)), serde_json::json!({"referral": id, "kind": rule.code, "to": new.to_region})).await?;
    Ok(Ok(id))
}

/// Why a step was not taken; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActRefusal {
    /// No such referral on the caller's side (the same answer as absent).
    NotFound,
    Rule(ReferralError),
}

#[derive(sqlx::FromRow)]
struct Row {
    person_id: Option<i64>,
    kind: String,
    state: String,
    from_region: String,
    to_region: String,
    sent_on: NaiveDate,
}

/// Take `event` on referral `id`: accept, return, complete by the receiver (its `to_region` in
/// `scope`), resend by the sender (`from_region` in `scope`), expire by the system.
#[allow(clippy::too_many_arguments)]
pub async fn act(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    rules: &ReferralRules,
    cal: &WorkCalendar,
    id: i64,
    event: &ReferralEvent,
    today: NaiveDate,
) -> anyhow::Result<Result<ReferralState, ActRefusal>> {
    let (lo, hi) = scope.bounds();
    let side = if matches!(event, ReferralEvent::Resend) { "from_region" } else { "to_region" };
    let lock = if tx.backend() == Backend::Postgres { " FOR UPDATE" } else { "" };
    let sql = format!(
        "SELECT person_id, kind, state, from_region, to_region, sent_on FROM referrals WHERE id = $1 AND {side} >= $2 AND {side} < $3{lock}"
    );
    let row: Option<Row> = on_tx!(tx, c => sqlx::query_as(&sql).bind(id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    let Some(row) = row else { return Ok(Err(ActRefusal::NotFound)) };
    let Some(from) = ReferralState::from_code(&row.state) else { return Ok(Err(ActRefusal::NotFound)) };
    let to = match referral::next(from, event) {
        Ok(to) => to,
        Err(e) => return Ok(Err(ActRefusal::Rule(e))),
    };
    let rule = rules.kind(&row.kind);
    let accepted_on = matches!(to, ReferralState::Accepted).then_some(today);
    let deadline = match (rule, to) {
        (Some(r), ReferralState::Initiated) => referral::deadline(r, cal, to, today, None),
        (Some(r), ReferralState::Accepted) => referral::deadline(r, cal, to, row.sent_on, Some(today)),
        _ => None,
    };
    let change = open_change_set(tx, actor, "referral", event.code()).await?;
    on_tx!(tx, c => sqlx::query(
        "UPDATE referrals SET state = $1, accepted_on = COALESCE($2, accepted_on), deadline = $3, \
         sent_on = CASE WHEN $1 = 'initiated' THEN $4 ELSE sent_on END WHERE id = $5")
        .bind(to.code()).bind(accepted_on).bind(deadline).bind(today).bind(id).execute(&mut **c).await.map(drop))?;
    let reason = match event {
        ReferralEvent::Return { reason } => Some(reason.trim().to_string()),
        _ => None,
    };
    on_tx!(tx, c => sqlx::query("INSERT INTO referral_events (referral_id, change_id, event, from_state, to_state, reason) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id).bind(change).bind(event.code()).bind(from.code()).bind(to.code()).bind(&reason).execute(&mut **c).await.map(drop))?;
    // A transfer, once accepted, moves the person into the receiver's region (and scope).
    if row.kind == "transfer"
        && to == ReferralState::Accepted
        && let Some(pid) = row.person_id
    {
        on_tx!(tx, c => sqlx::query("UPDATE persons SET residence_region = $1, version = version + 1, updated_change = $2 WHERE id = $3")
            .bind(&row.to_region).bind(change).bind(pid).execute(&mut **c).await.map(drop))?;
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO person_history (person_id, change_id, field, old_value, new_value) VALUES ($1, $2, 'residence_region', $3, $4)")
            .bind(pid).bind(change).bind(&row.from_region).bind(&row.to_region).execute(&mut **c).await.map(drop))?;
    }
    audit::record(tx, actor, &format!("referral.{}", event.code()), row.person_id.map(Target::person),
        serde_json::json!({"referral": id, "from": from.code(), "to": to.code(), "reason_given": reason.is_some()})).await?;
    Ok(Ok(to))
}

/// A referral as its lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralItem {
    pub id: i64,
    pub person_id: Option<i64>,
    pub person_name: Option<String>,
    pub kind: String,
    pub state: String,
    pub urgent: bool,
    pub from_region: String,
    pub to_region: String,
    pub reason: Option<String>,
    pub sent_on: NaiveDate,
    pub accepted_on: Option<NaiveDate>,
    pub deadline: Option<NaiveDate>,
}

const ITEM: &str = "r.id, r.person_id, p.name AS person_name, r.kind, r.state, r.urgent, r.from_region, r.to_region, r.reason, r.sent_on, r.accepted_on, r.deadline";

/// What was sent to the caller's region and is not finished: urgent first, then by deadline.
pub async fn inbox(tx: &mut Tx, scope: &Scope) -> anyhow::Result<Vec<ReferralItem>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT {ITEM} FROM referrals r LEFT JOIN persons p ON p.id = r.person_id \
         WHERE r.to_region >= $1 AND r.to_region < $2 AND r.state IN ('initiated', 'accepted', 'timed_out') \
         ORDER BY r.urgent DESC, r.deadline, r.id"
    );
    Ok(on_tx!(tx, c => sqlx::query_as(&sql).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?)
}

/// What the caller's region sent, newest first — the sender's read-only trace, also after a
/// transfer took the person out of its scope.
pub async fn sent(tx: &mut Tx, scope: &Scope, limit: i64) -> anyhow::Result<Vec<ReferralItem>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT {ITEM} FROM referrals r LEFT JOIN persons p ON p.id = r.person_id \
         WHERE r.from_region >= $1 AND r.from_region < $2 ORDER BY r.id DESC LIMIT $3"
    );
    Ok(on_tx!(tx, c => sqlx::query_as(&sql).bind(&lo).bind(&hi).bind(limit).fetch_all(&mut **c).await)?)
}

/// Mark every referral whose deadline passed before `today` as 超时 (a system step, audited).
/// Returns how many.
pub async fn expire_due(tx: &mut Tx, rules: &ReferralRules, cal: &WorkCalendar, today: NaiveDate) -> anyhow::Result<u64> {
    let due: Vec<i64> = on_tx!(tx, c => sqlx::query_scalar(
        "SELECT id FROM referrals WHERE state IN ('initiated', 'accepted') AND deadline < $1 ORDER BY id")
        .bind(today).fetch_all(&mut **c).await)?;
    let mut n = 0;
    for id in due {
        if act(tx, &Scope::national(), &Actor::system(), rules, cal, id, &ReferralEvent::Expire, today).await?.is_ok() {
            n += 1;
        }
    }
    Ok(n)
}
