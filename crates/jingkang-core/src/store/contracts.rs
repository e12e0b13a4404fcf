//! 购买服务 contracts in the database (SPEC §7): a region buys rehabilitation services from a
//! provider (identified by its 统一社会信用代码) for a period and a budget, at a per-person standard
//! (default 10 000 元/人/年, `data/institutions.json`). What the contract bought is computed, never
//! typed: the persons who attended a session of one of the provider's institutions in the
//! contract's region and period, their contacts, and the spend per person served.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::audit::{self, Target};
use super::{Actor, Tx, open_change_set};
use crate::care::institution::InstitutionRules;
use crate::domain::CreditCode;
use crate::on_tx;
use crate::regions::{RegionTree, Scope};

/// A contract to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewContract {
    /// The buying region (a county or city in the caller's scope).
    pub region: String,
    /// 购买方, e.g. 某区民政局.
    pub buyer: String,
    /// 承接方: the provider's name and its 统一社会信用代码 (the operator code of its institutions).
    pub provider: String,
    pub provider_code: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub budget_yuan: i64,
    /// 元 per person and year; the rules' standard if absent.
    #[serde(default)]
    pub per_person_yuan: Option<i64>,
    /// Persons the contract is to serve; the budget over the standard for the period if absent.
    #[serde(default)]
    pub planned_persons: Option<i64>,
}

/// A problem: the field and the message code of `messages.rs`.
pub type Problem = (&'static str, &'static str);

/// The period's length in years (days / 365), for the per-person standard.
fn years(starts_on: NaiveDate, ends_on: NaiveDate) -> f64 {
    ((ends_on - starts_on).num_days() + 1) as f64 / 365.0
}

/// The per-person standard for the contract's whole period (元).
pub fn standard_for_period(per_person_yuan: i64, starts_on: NaiveDate, ends_on: NaiveDate) -> i64 {
    (per_person_yuan as f64 * years(starts_on, ends_on)).round() as i64
}

/// Check a contract: every problem, by field.
pub fn check(new: &NewContract, tree: &RegionTree, scope: &Scope) -> Vec<Problem> {
    let mut out = Vec::new();
    let region = new.region.trim();
    if tree.get(region).is_none() || !scope.contains(region) {
        out.push(("region", "contract-region-invalid"));
    }
    if new.buyer.trim().is_empty() {
        out.push(("buyer", "contract-buyer-missing"));
    }
    if new.provider.trim().is_empty() {
        out.push(("provider", "contract-provider-missing"));
    }
    if let Err(e) = CreditCode::parse(&new.provider_code) {
        out.push(("provider_code", e.code()));
    }
    if new.ends_on < new.starts_on || (new.ends_on - new.starts_on).num_days() > 5 * 366 {
        out.push(("ends_on", "contract-period-invalid"));
    }
    if !(1..=10_000_000_000).contains(&new.budget_yuan) {
        out.push(("budget_yuan", "contract-budget-invalid"));
    }
    if new
        .per_person_yuan
        .is_some_and(|p| !(1..=10_000_000).contains(&p))
    {
        out.push(("per_person_yuan", "contract-standard-invalid"));
    }
    if new
        .planned_persons
        .is_some_and(|p| !(0..=10_000_000).contains(&p))
    {
        out.push(("planned_persons", "contract-planned-invalid"));
    }
    out
}

/// Record a contract in the caller's scope. Returns its id, or every problem.
pub async fn record(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    (rules, tree): (&InstitutionRules, &RegionTree),
    new: &NewContract,
) -> anyhow::Result<Result<i64, Vec<Problem>>> {
    let problems = check(new, tree, scope);
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let per_person = new
        .per_person_yuan
        .unwrap_or(rules.per_person_standard_yuan);
    let planned = new.planned_persons.unwrap_or_else(|| {
        new.budget_yuan / standard_for_period(per_person, new.starts_on, new.ends_on).max(1)
    });
    let code = CreditCode::parse(&new.provider_code)
        .map(|c| c.to_string())
        .unwrap_or_default();
    let change = open_change_set(tx, actor, "contract", "record").await?;
    let id: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO service_contracts (change_id, region, buyer, provider, provider_code, starts_on, ends_on, budget_yuan, per_person_yuan, planned_persons) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id")
        .bind(change).bind(new.region.trim()).bind(new.buyer.trim()).bind(new.provider.trim()).bind(&code).bind(new.starts_on).bind(new.ends_on)
        .bind(new.budget_yuan).bind(per_person).bind(planned).fetch_one(&mut **c).await)?;
    audit::record(
        tx,
        actor,
        "contract.record",
        Some(Target {
            kind: "contract",
            id: id.to_string(),
        }),
        serde_json::json!({"region": new.region.trim(), "budget_yuan": new.budget_yuan}),
    )
    .await?;
    Ok(Ok(id))
}

/// A contract with what it bought.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contract {
    pub id: i64,
    pub region: String,
    pub buyer: String,
    pub provider: String,
    pub provider_code: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub budget_yuan: i64,
    pub per_person_yuan: i64,
    pub planned_persons: i64,
    /// Distinct persons who attended a session of the provider's institutions in the region and
    /// period.
    pub persons_served: i64,
    /// Their attendances (a group session counts once per person).
    pub contacts: i64,
    /// The budget over the persons served (元); none while nobody was served.
    pub spend_per_person_yuan: Option<i64>,
    /// The per-person standard over the contract's period (元).
    pub standard_for_period_yuan: i64,
    /// Fewer persons served than planned (so far).
    pub under_served: bool,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    region: String,
    buyer: String,
    provider: String,
    provider_code: String,
    starts_on: NaiveDate,
    ends_on: NaiveDate,
    budget_yuan: i64,
    per_person_yuan: i64,
    planned_persons: i64,
}

/// What the contracts of `scope` bought (a contract's region lies in the scope), newest first.
pub async fn list(tx: &mut Tx, scope: &Scope, limit: i64) -> anyhow::Result<Vec<Contract>> {
    let (lo, hi) = scope.bounds();
    let rows: Vec<Row> = on_tx!(tx, c => sqlx::query_as(
        "SELECT id, region, buyer, provider, provider_code, starts_on, ends_on, budget_yuan, per_person_yuan, planned_persons FROM service_contracts \
         WHERE region >= $1 AND region < $2 ORDER BY starts_on DESC, id DESC LIMIT $3")
        .bind(&lo).bind(&hi).bind(limit).fetch_all(&mut **c).await)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        // The provider's institutions in the contract's region, their sessions in its period.
        let Ok(code) = crate::domain::RegionCode::parse(&r.region) else {
            continue;
        };
        let (rlo, rhi) = Scope::under(&code).bounds();
        let (served, contacts): (i64, i64) = on_tx!(tx, c => sqlx::query_as(
            "SELECT COUNT(DISTINCT a.person_id), COUNT(*) FROM service_attendance a JOIN service_sessions s ON s.id = a.session_id \
             JOIN institutions i ON i.id = s.institution_id \
             WHERE i.operator_code = $1 AND i.region >= $2 AND i.region < $3 AND a.service_date >= $4 AND a.service_date <= $5")
            .bind(&r.provider_code).bind(&rlo).bind(&rhi).bind(r.starts_on).bind(r.ends_on).fetch_one(&mut **c).await)?;
        out.push(Contract {
            spend_per_person_yuan: (served > 0).then(|| r.budget_yuan / served),
            standard_for_period_yuan: standard_for_period(
                r.per_person_yuan,
                r.starts_on,
                r.ends_on,
            ),
            under_served: served < r.planned_persons,
            persons_served: served,
            contacts,
            id: r.id,
            region: r.region,
            buyer: r.buyer,
            provider: r.provider,
            provider_code: r.provider_code,
            starts_on: r.starts_on,
            ends_on: r.ends_on,
            budget_yuan: r.budget_yuan,
            per_person_yuan: r.per_person_yuan,
            planned_persons: r.planned_persons,
        })
    }
    Ok(out)
}
