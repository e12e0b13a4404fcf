//! 规范服务 for a whole region and period in one query (SPEC §6): registered persons (the
//! denominator) and those meeting the rule (`care::standard`), by township. The monthly contacts
//! are counted from `service_attendance(person_id, service_date)` within the period only.

use serde::Serialize;

use super::{Backend, Tx};
use crate::care::standard::{Period, StandardRule};
use crate::on_tx;
use crate::regions::Scope;

/// The figures of one township.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StandardRow {
    pub township: String,
    pub registered: i64,
    pub with_plan: i64,
    pub assessed: i64,
    pub served_monthly: i64,
    pub standard: i64,
}

/// 规范服务 by township for the persons of `scope` in `period`.
pub async fn by_township(tx: &mut Tx, scope: &Scope, rule: &StandardRule, period: &Period) -> anyhow::Result<Vec<StandardRow>> {
    let (lo, hi) = scope.bounds();
    let month = match tx.backend() {
        Backend::Sqlite => "substr(a.service_date, 1, 7)",
        Backend::Postgres => "to_char(a.service_date, 'YYYY-MM')",
    };
    let states: Vec<String> = rule.registered_states.iter().map(|s| format!("'{}'", s.replace('\'', ""))).collect();
    let since = period.end - chrono::Duration::days(rule.assessment_within_days);
    let months = period.months().len() as i64;
    let plan = if rule.plan {
        "EXISTS (SELECT 1 FROM rehab_plans r WHERE r.person_id = p.id AND r.starts_on <= $4 AND r.review_on >= $3)"
    } else {
        "TRUE"
    };
    // Persons with at least N contacts in every month of the period.
    let sql = format!(
        "WITH reg AS (SELECT p.id, substr(p.residence_region, 1, 9) AS township, \
                 CASE WHEN {plan} THEN 1 ELSE 0 END AS has_plan, \
                 CASE WHEN EXISTS (SELECT 1 FROM assessments s WHERE s.person_id = p.id AND s.assessed_on >= $5 AND s.assessed_on <= $4) THEN 1 ELSE 0 END AS assessed \
              FROM persons p WHERE p.residence_region >= $1 AND p.residence_region < $2 AND p.registration_state IN ({states})), \
         monthly AS (SELECT a.person_id, {month} AS m, COUNT(*) AS n FROM service_attendance a \
              WHERE a.service_date >= $3 AND a.service_date <= $4 AND a.person_id IN (SELECT id FROM reg) GROUP BY a.person_id, {month}), \
         served AS (SELECT person_id FROM monthly WHERE n >= $6 GROUP BY person_id HAVING COUNT(*) = $7) \
         SELECT reg.township, COUNT(*) AS registered, SUM(reg.has_plan) AS with_plan, SUM(reg.assessed) AS assessed, \
                SUM(CASE WHEN served.person_id IS NULL THEN 0 ELSE 1 END) AS served_monthly, \
                SUM(CASE WHEN served.person_id IS NOT NULL AND reg.has_plan = 1 AND reg.assessed = 1 THEN 1 ELSE 0 END) AS standard \
         FROM reg LEFT JOIN served ON served.person_id = reg.id GROUP BY reg.township ORDER BY reg.township",
        states = states.join(", ")
    );
    let rows: Vec<StandardRow> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(&lo).bind(&hi).bind(period.start).bind(period.end).bind(since).bind(rule.contacts_per_month).bind(months)
        .fetch_all(&mut **c).await)?;
    Ok(rows)
}
