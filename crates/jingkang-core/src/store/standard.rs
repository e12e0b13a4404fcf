//! 规范服务 for a whole region and period in one query (SPEC §6): registered persons (the
//! denominator) and those meeting the rule (`care::standard`), by township. The monthly contacts
//! are read from `service_months`, kept by `store::services` with every record.

use serde::Serialize;

use super::Tx;
use crate::care::standard::{Period, StandardRule};
use crate::on_tx;
use crate::regions::Scope;

/// The figures of one township. The conditions one by one (`with_plan`, `assessed`,
/// `served_monthly`) are counted only when asked (`detail`): the headline decides each person with
/// as few seeks as possible, the most selective condition first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StandardRow {
    pub township: String,
    pub registered: i64,
    pub standard: i64,
    pub with_plan: Option<i64>,
    pub assessed: Option<i64>,
    pub served_monthly: Option<i64>,
}

/// 规范服务 by township for the persons of `scope` in `period`; with `detail`, each condition's
/// count too.
pub async fn by_township(tx: &mut Tx, scope: &Scope, rule: &StandardRule, period: &Period, detail: bool) -> anyhow::Result<Vec<StandardRow>> {
    let (lo, hi) = scope.bounds();
    in_range(tx, (&lo, &hi, &scope.site_sql("p")), rule, period, detail).await
}

async fn in_range(tx: &mut Tx, (lo, hi, site): (&str, &str, &str), rule: &StandardRule, period: &Period, detail: bool) -> anyhow::Result<Vec<StandardRow>> {
    let states: Vec<String> = rule.registered_states.iter().map(|s| format!("'{}'", s.replace('\'', ""))).collect();
    let since = period.end - chrono::Duration::days(rule.assessment_within_days);
    let months = period.months();
    let (first, last) = match (months.first(), months.last()) {
        (Some(f), Some(l)) => (format!("{:04}-{:02}", f.0, f.1), format!("{:04}-{:02}", l.0, l.1)),
        _ => return Ok(Vec::new()),
    };
    // Each condition is one index seek for a person.
    let plan = if rule.plan {
        "EXISTS (SELECT 1 FROM rehab_plans r WHERE r.person_id = p.id AND r.starts_on <= $4 AND r.review_on >= $3)"
    } else {
        "1 = 1"
    };
    let served = "(SELECT COUNT(*) FROM service_months m WHERE m.person_id = p.id AND m.month >= $8 AND m.month <= $9 AND m.contacts >= $6) = $7";
    let assessed = "EXISTS (SELECT 1 FROM assessments s WHERE s.person_id = p.id AND s.assessed_on >= $5 AND s.assessed_on <= $4)";
    if tx.backend() == super::Backend::Postgres {
        return set_based(tx, (lo, hi, site), &states.join(", "), rule, period, detail, (&first, &last, months.len() as i64, since)).await;
    }
    let count = |cond: &str| format!("SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)");
    let details = if detail {
        format!("{} AS with_plan, {} AS assessed, {} AS served_monthly", count(plan), count(assessed), count(served))
    } else {
        "NULL AS with_plan, NULL AS assessed, NULL AS served_monthly".to_string()
    };
    let sql = format!(
        "SELECT substr(p.residence_region, 1, 9) AS township, COUNT(*) AS registered, {standard} AS standard, {details} \
         FROM persons p WHERE p.residence_region >= $1 AND p.residence_region < $2{site} AND p.registration_state IN ({states}) \
         GROUP BY substr(p.residence_region, 1, 9) ORDER BY township",
        standard = count(&format!("{plan} AND {served} AND {assessed}")),
        states = states.join(", "),
    );
    let rows: Vec<StandardRow> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(lo).bind(hi).bind(period.start).bind(period.end).bind(since).bind(rule.contacts_per_month).bind(months.len() as i64)
        .bind(&first).bind(&last)
        .fetch_all(&mut **c).await)?;
    Ok(rows)
}

/// PostgreSQL: the three conditions as sets (each read once, from its index), hash-joined to the
/// registered persons — a correlated subquery per person costs it several times more.
#[allow(clippy::too_many_arguments)]
async fn set_based(
    tx: &mut Tx,
    (lo, hi, site): (&str, &str, &str),
    states: &str,
    rule: &StandardRule,
    period: &Period,
    detail: bool,
    (first, last, months, since): (&str, &str, i64, chrono::NaiveDate),
) -> anyhow::Result<Vec<StandardRow>> {
    // Room for the hash tables of a province in memory, in this transaction only; one process
    // builds them once (parallel workers would each build their own).
    on_tx!(tx, c => sqlx::query("SET LOCAL work_mem = '128MB'").execute(&mut **c).await.map(drop))?;
    on_tx!(tx, c => sqlx::query("SET LOCAL max_parallel_workers_per_gather = 0").execute(&mut **c).await.map(drop))?;
    let plan_set = if rule.plan {
        "SELECT DISTINCT person_id FROM rehab_plans WHERE starts_on <= $4 AND review_on >= $3"
    } else {
        "SELECT id AS person_id FROM persons WHERE residence_region >= $1 AND residence_region < $2"
    };
    let flag = |t: &str| format!("{t}.person_id IS NOT NULL");
    let count = |cond: &str| format!("SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)");
    let details = if detail {
        format!("{} AS with_plan, {} AS assessed, {} AS served_monthly", count(&flag("pl")), count(&flag("ass")), count(&flag("srv")))
    } else {
        "NULL::bigint AS with_plan, NULL::bigint AS assessed, NULL::bigint AS served_monthly".to_string()
    };
    let sql = format!(
        "WITH reg AS (SELECT p.id, substr(p.residence_region, 1, 9) AS township FROM persons p \
                      WHERE p.residence_region >= $1 AND p.residence_region < $2{site} AND p.registration_state IN ({states})), \
              pl AS ({plan_set}), \
              ass AS (SELECT DISTINCT person_id FROM assessments WHERE assessed_on >= $5 AND assessed_on <= $4), \
              srv AS (SELECT person_id FROM service_months WHERE month >= $8 AND month <= $9 AND contacts >= $6 GROUP BY person_id HAVING COUNT(*) = $7) \
         SELECT reg.township, COUNT(*) AS registered, {standard} AS standard, {details} \
         FROM reg LEFT JOIN pl ON pl.person_id = reg.id LEFT JOIN ass ON ass.person_id = reg.id LEFT JOIN srv ON srv.person_id = reg.id \
         GROUP BY reg.township ORDER BY reg.township",
        standard = count(&format!("{} AND {} AND {}", flag("pl"), flag("ass"), flag("srv")))
    );
    let rows: Vec<StandardRow> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(lo).bind(hi).bind(period.start).bind(period.end).bind(since).bind(rule.contacts_per_month).bind(months)
        .bind(first).bind(last)
        .fetch_all(&mut **c).await)?;
    Ok(rows)
}
