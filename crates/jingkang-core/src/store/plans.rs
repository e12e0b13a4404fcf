//! 个案康复计划 in the database: each change is a new version (the old ones are kept); the
//! person's `plan_review_on` follows the current version, for the review worklist and 规范服务.

use chrono::{DateTime, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::audit::{self, Target};
use super::{Actor, Tx, open_change_set};
use crate::on_tx;
use crate::regions::Scope;

/// One service item of a plan and how often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanItem {
    /// A code of the service catalogue.
    pub item: String,
    /// Times per month.
    pub per_month: i64,
}

/// A plan version to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewPlan {
    pub goals: String,
    pub items: Vec<PlanItem>,
    /// The responsible worker.
    pub responsible: String,
    pub starts_on: NaiveDate,
    /// Default: six months after the start.
    #[serde(default)]
    pub review_on: Option<NaiveDate>,
    /// Signed by the person or the guardian on this day.
    #[serde(default)]
    pub signed_on: Option<NaiveDate>,
    /// `person` or `guardian`.
    #[serde(default)]
    pub signed_by: Option<String>,
}

/// Months between a plan's start and its review, unless given.
pub const REVIEW_MONTHS: u32 = 6;

/// Why nothing was written, as a message code of `messages.rs` with its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    Invalid(Vec<(&'static str, &'static str)>),
}

/// Check a plan against the catalogue: the fields and message codes of every problem.
pub fn check(
    plan: &NewPlan,
    catalogue: &crate::care::service::ServiceCatalogue,
) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    if plan.goals.trim().is_empty() {
        out.push(("goals", "plan-goals-missing"));
    }
    if plan.items.is_empty()
        || plan
            .items
            .iter()
            .any(|i| catalogue.item(&i.item).is_none() || !(1..=31).contains(&i.per_month))
    {
        out.push(("items", "plan-items-invalid"));
    }
    if plan.responsible.trim().is_empty() {
        out.push(("responsible", "plan-responsible-missing"));
    }
    if plan.review_on.is_some_and(|r| r <= plan.starts_on) {
        out.push(("review_on", "plan-review-before-start"));
    }
    if plan.signed_on.is_some()
        != plan
            .signed_by
            .as_deref()
            .is_some_and(|s| s == "person" || s == "guardian")
    {
        out.push(("signed_by", "plan-signature-incomplete"));
    }
    out
}

/// Record a new version of person `id`'s plan. Returns the version number.
pub async fn record(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    catalogue: &crate::care::service::ServiceCatalogue,
    id: i64,
    plan: &NewPlan,
) -> anyhow::Result<Result<i64, Refusal>> {
    let (lo, hi) = scope.bounds();
    let lock = tx.backend().for_update();
    let sql = format!(
        "SELECT id FROM persons WHERE id = $1 AND residence_region >= $2 AND residence_region < $3{}{lock}",
        scope.rows_sql("")
    );
    let found: Option<i64> = on_tx!(tx, c => sqlx::query_scalar(&sql).bind(id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    if found.is_none() {
        return Ok(Err(Refusal::NotFound));
    }
    let problems = check(plan, catalogue);
    if !problems.is_empty() {
        return Ok(Err(Refusal::Invalid(problems)));
    }
    let review = plan
        .review_on
        .or_else(|| {
            plan.starts_on
                .checked_add_months(Months::new(REVIEW_MONTHS))
        })
        .unwrap_or(plan.starts_on);
    let version: i64 = on_tx!(tx, c => sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) + 1 FROM rehab_plans WHERE person_id = $1")
        .bind(id).fetch_one(&mut **c).await)?;
    let change = open_change_set(tx, actor, "plan", "record").await?;
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO rehab_plans (person_id, change_id, version, goals, items, responsible, starts_on, review_on, signed_on, signed_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
        .bind(id).bind(change).bind(version).bind(plan.goals.trim()).bind(serde_json::to_string(&plan.items)?).bind(plan.responsible.trim())
        .bind(plan.starts_on).bind(review).bind(plan.signed_on).bind(&plan.signed_by).execute(&mut **c).await.map(drop))?;
    on_tx!(tx, c => sqlx::query("UPDATE persons SET plan_review_on = $1 WHERE id = $2").bind(review).bind(id).execute(&mut **c).await.map(drop))?;
    super::standard::refresh_quarters(tx, &[id], plan.starts_on).await?;
    audit::record(
        tx,
        actor,
        "plan.record",
        Some(Target::person(id)),
        serde_json::json!({"version": version}),
    )
    .await?;
    Ok(Ok(version))
}

/// A stored plan version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredPlan {
    pub version: i64,
    pub goals: String,
    pub items: Vec<PlanItem>,
    pub responsible: String,
    pub starts_on: NaiveDate,
    pub review_on: NaiveDate,
    pub signed_on: Option<NaiveDate>,
    pub signed_by: Option<String>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct PlanRow {
    version: i64,
    goals: String,
    items: String,
    responsible: String,
    starts_on: NaiveDate,
    review_on: NaiveDate,
    signed_on: Option<NaiveDate>,
    signed_by: Option<String>,
    recorded_by: String,
    recorded_at: DateTime<Utc>,
}

impl PlanRow {
    fn stored(self) -> anyhow::Result<StoredPlan> {
        Ok(StoredPlan {
            version: self.version,
            goals: self.goals,
            items: serde_json::from_str(&self.items)?,
            responsible: self.responsible,
            starts_on: self.starts_on,
            review_on: self.review_on,
            signed_on: self.signed_on,
            signed_by: self.signed_by,
            recorded_by: self.recorded_by,
            recorded_at: self.recorded_at,
        })
    }
}

/// Every version of person `id`'s plan, the current (latest) first.
pub async fn of_person(tx: &mut Tx, scope: &Scope, id: i64) -> anyhow::Result<Vec<StoredPlan>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT r.version, r.goals, r.items, r.responsible, r.starts_on, r.review_on, r.signed_on, r.signed_by, cs.actor AS recorded_by, cs.at AS recorded_at \
         FROM rehab_plans r JOIN persons p ON p.id = r.person_id JOIN change_sets cs ON cs.id = r.change_id \
         WHERE r.person_id = $1 AND p.residence_region >= $2 AND p.residence_region < $3{} ORDER BY r.version DESC",
        scope.rows_sql("p")
    );
    let rows: Vec<PlanRow> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(id).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?;
    rows.into_iter().map(PlanRow::stored).collect()
}
