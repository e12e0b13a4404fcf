//! Assessments in the database: scored by their instrument (`care::instrument`) before anything
//! is written, stored with the answers, the total and its band, audited in the same transaction.
//! Scope: the person's residence, as every person query.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::audit::{self, Target};
use super::sealing::{ASSESSMENT_ANSWERS, open_text};
use super::{Actor, Tx, open_change_set};
use crate::care::instrument::{Instrument, Problem, Scored};
use crate::on_tx;
use crate::regions::Scope;

/// An assessment to record.
#[derive(Debug, Clone)]
pub struct NewAssessment {
    pub assessed_on: NaiveDate,
    /// Who assessed (a name as the form gives it).
    pub assessor: String,
    pub answers: BTreeMap<String, String>,
}

/// Why nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    /// Every problem, by field: the date, the assessor, then the items.
    Invalid(Vec<Problem>),
}

/// Every problem of an assessment (the date after `today`, the assessor missing, each item the
/// instrument finds wrong), or its score.
pub fn check(
    instrument: &Instrument,
    new: &NewAssessment,
    today: NaiveDate,
) -> Result<Scored, Vec<Problem>> {
    let mut problems = Vec::new();
    if new.assessed_on > today {
        problems.push(Problem::at("assessed_on", "assessment-future"));
    }
    if new.assessor.trim().is_empty() {
        problems.push(Problem::at("assessor", "assessment-assessor-missing"));
    }
    match instrument.score(&new.answers) {
        Ok(scored) if problems.is_empty() => Ok(scored),
        Ok(_) => Err(problems),
        Err(items) => {
            problems.extend(items);
            Err(problems)
        }
    }
}

/// Score `new` with `instrument` and record it for person `id` in `scope`.
pub async fn record(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    instrument: &Instrument,
    id: i64,
    new: &NewAssessment,
    today: NaiveDate,
) -> anyhow::Result<Result<(i64, Scored), Refusal>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT id FROM persons WHERE id = $1 AND residence_region >= $2 AND residence_region < $3{}",
        scope.rows_sql("")
    );
    let found: Option<i64> = on_tx!(tx, c => sqlx::query_scalar(&sql)
        .bind(id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    if found.is_none() {
        return Ok(Err(Refusal::NotFound));
    }
    let scored = match check(instrument, new, today) {
        Ok(s) => s,
        Err(problems) => return Ok(Err(Refusal::Invalid(problems))),
    };
    // Only what the instrument asks is kept.
    let mut kept: BTreeMap<&str, &str> = BTreeMap::new();
    for item in &scored.items {
        if let Some(v) = &item.value {
            kept.insert(&item.key, v);
        }
    }
    if let crate::care::instrument::Total::Rated { key, .. } = &instrument.total {
        kept.insert(key, new.answers.get(key).map_or("", |v| v.trim()));
    }
    let change = open_change_set(tx, actor, "assessment", &instrument.code).await?;
    let answers = tx
        .keys
        .seal(ASSESSMENT_ANSWERS, &serde_json::to_string(&kept)?)?;
    let aid: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO assessments (person_id, change_id, instrument, version, domain, assessed_on, assessor, answers, total, band, flag) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id")
        .bind(id).bind(change).bind(&instrument.code).bind(&instrument.version).bind(&instrument.domain).bind(new.assessed_on)
        .bind(new.assessor.trim()).bind(&answers).bind(scored.total).bind(&scored.band).bind(scored.flag)
        .fetch_one(&mut **c).await)?;
    super::standard::refresh_quarters(tx, &[id], new.assessed_on).await?;
    audit::record(
        tx,
        actor,
        "assessment.record",
        Some(Target::person(id)),
        serde_json::json!({"assessment": aid, "instrument": instrument.code}),
    )
    .await?;
    Ok(Ok((aid, scored)))
}

/// A recorded assessment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredAssessment {
    pub id: i64,
    pub person_id: i64,
    pub instrument: String,
    pub version: String,
    pub domain: String,
    pub assessed_on: NaiveDate,
    pub assessor: String,
    /// Item key → option value (and a rated total under its key), as JSON text.
    pub answers: String,
    pub total: i64,
    pub band: Option<String>,
    pub flag: bool,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

const COLS: &str = "a.id, a.person_id, a.instrument, a.version, a.domain, a.assessed_on, a.assessor, a.answers, a.total, a.band, a.flag, \
                    cs.actor AS recorded_by, cs.at AS recorded_at";

/// The assessments of person `id` in `scope`, oldest first.
pub async fn of_person(
    tx: &mut Tx,
    scope: &Scope,
    id: i64,
) -> anyhow::Result<Vec<StoredAssessment>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT {COLS} FROM assessments a JOIN persons p ON p.id = a.person_id JOIN change_sets cs ON cs.id = a.change_id \
         WHERE a.person_id = $1 AND p.residence_region >= $2 AND p.residence_region < $3{} ORDER BY a.assessed_on, a.id",
        scope.rows_sql("p")
    );
    let mut rows: Vec<StoredAssessment> = on_tx!(tx, c => sqlx::query_as(&sql).bind(id).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?;
    for r in &mut rows {
        open_text(&tx.keys, ASSESSMENT_ANSWERS, &mut r.answers)?;
    }
    Ok(rows)
}

/// The latest assessment of person `id` in `domain` (e.g. `social_function`) on or after `since`.
pub async fn latest_in_domain(
    tx: &mut Tx,
    scope: &Scope,
    id: i64,
    domain: &str,
    since: NaiveDate,
) -> anyhow::Result<Option<StoredAssessment>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT {COLS} FROM assessments a JOIN persons p ON p.id = a.person_id JOIN change_sets cs ON cs.id = a.change_id \
         WHERE a.person_id = $1 AND a.domain = $2 AND a.assessed_on >= $3 AND p.residence_region >= $4 AND p.residence_region < $5{} \
         ORDER BY a.assessed_on DESC, a.id DESC LIMIT 1",
        scope.rows_sql("p")
    );
    let mut row: Option<StoredAssessment> = on_tx!(tx, c => sqlx::query_as(&sql).bind(id).bind(domain).bind(since).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    if let Some(r) = &mut row {
        open_text(&tx.keys, ASSESSMENT_ANSWERS, &mut r.answers)?;
    }
    Ok(row)
}

/// Assessment `id`, whatever the scope: for a referral that carries it, whose access the referral
/// decides (the receiver may not hold the person in its scope).
pub(crate) async fn by_id(tx: &mut Tx, id: i64) -> anyhow::Result<Option<StoredAssessment>> {
    let sql = format!(
        "SELECT {COLS} FROM assessments a JOIN change_sets cs ON cs.id = a.change_id WHERE a.id = $1"
    );
    let mut row: Option<StoredAssessment> =
        on_tx!(tx, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?;
    if let Some(r) = &mut row {
        open_text(&tx.keys, ASSESSMENT_ANSWERS, &mut r.answers)?;
    }
    Ok(row)
}
