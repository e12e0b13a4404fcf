//! 规范服务 for a whole region and period in one query (SPEC §6): registered persons (the
//! denominator) and those meeting the rule (`care::standard`), by township.
//!
//! Two facts tables are kept in the same transaction as every write they depend on:
//! `service_months` (contacts per person and month, by `store::services`) and `service_quarters`
//! (per person and quarter with contacts: contacts in each of its months, whether a plan was
//! current, the latest assessment on or before its end — [`refresh_quarters`], called by the
//! service, plan and assessment stores). The rule is applied when the figures are read, so a
//! changed rule changes the figures, not these rows. A quarter's headline reads one
//! `service_quarters` row per person; other periods, and the conditions one by one, are decided
//! from `service_months`, the plans and the assessments.

use chrono::{Datelike, NaiveDate};
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
pub async fn by_township(
    tx: &mut Tx,
    scope: &Scope,
    rule: &StandardRule,
    period: &Period,
    detail: bool,
) -> anyhow::Result<Vec<StandardRow>> {
    let (lo, hi) = scope.bounds();
    let quarter = Period::quarter(period.start.year(), (period.start.month() - 1) / 3 + 1)
        .filter(|q| q == period);
    match quarter {
        // Only quarters with contacts have a row: a rule asking for none needs every person.
        Some(q) if !detail && rule.contacts_per_month >= 1 => {
            quarter_headline(tx, (&lo, &hi, &scope.rows_sql("p")), rule, &q).await
        }
        _ => in_range(tx, (&lo, &hi, &scope.rows_sql("p")), rule, period, detail).await,
    }
}

fn registered_states(rule: &StandardRule) -> String {
    rule.registered_states
        .iter()
        .map(|s| format!("'{}'", s.replace('\'', "")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A quarter's headline from `service_quarters`: the persons meeting the rule are one index
/// range of the quarter's rows (ids only), matched to the registered persons of the region.
async fn quarter_headline(
    tx: &mut Tx,
    (lo, hi, site): (&str, &str, &str),
    rule: &StandardRule,
    q: &Period,
) -> anyhow::Result<Vec<StandardRow>> {
    let since = q.end - chrono::Duration::days(rule.assessment_within_days);
    let plan = if rule.plan {
        " AND q.planned = TRUE"
    } else {
        ""
    };
    let null = if tx.backend() == super::Backend::Postgres {
        "NULL::bigint"
    } else {
        "NULL"
    };
    if tx.backend() == super::Backend::Postgres {
        // One hash table of the ids meeting the rule, built once (parallel workers would each
        // build their own); a plan for these bounds, not a generic one for any region (which
        // seeks person by person); no JIT compilation for a query of well under a second.
        for set in [
            "SET LOCAL work_mem = '128MB'",
            "SET LOCAL max_parallel_workers_per_gather = 0",
            "SET LOCAL plan_cache_mode = force_custom_plan",
            "SET LOCAL jit = off",
        ] {
            on_tx!(tx, c => sqlx::query(set).execute(&mut **c).await.map(drop))?;
        }
    }
    let meeting = format!(
        "SELECT q.person_id FROM service_quarters q WHERE q.quarter_start = $5{plan} AND q.m1 >= $3 AND q.m2 >= $3 AND q.m3 >= $3 AND q.last_assessed_on >= $4"
    );
    // PostgreSQL hash-joins the ids to the persons; SQLite (no hash join) builds them into one
    // in-memory index, then looks each person up there rather than in the table.
    let (standard, join) = match tx.backend() {
        super::Backend::Postgres => (
            "COUNT(s.person_id)".to_string(),
            format!(" LEFT JOIN ({meeting}) s ON s.person_id = p.id"),
        ),
        super::Backend::Sqlite => (
            format!("SUM(CASE WHEN p.id IN ({meeting}) THEN 1 ELSE 0 END)"),
            String::new(),
        ),
    };
    let sql = format!(
        "SELECT substr(p.residence_region, 1, 9) AS township, COUNT(*) AS registered, {standard} AS standard, \
                {null} AS with_plan, {null} AS assessed, {null} AS served_monthly \
         FROM persons p{join} \
         WHERE p.residence_region >= $1 AND p.residence_region < $2{site} AND p.registration_state IN ({states}) \
         GROUP BY substr(p.residence_region, 1, 9) ORDER BY township",
        states = registered_states(rule),
    );
    let rows: Vec<StandardRow> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(lo).bind(hi).bind(rule.contacts_per_month).bind(since).bind(q.start)
        .fetch_all(&mut **c).await)?;
    Ok(rows)
}

/// The rows of `service_quarters` computed from the `service_months` rows that match `filter`
/// (a condition on `service_months`), for `INSERT … SELECT`.
fn quarters_select(backend: super::Backend, filter: &str) -> String {
    let (qs, end) = (
        backend.quarter_of_month("month"),
        backend.last_day_of_quarter("g.qs"),
    );
    format!(
        "SELECT g.person_id, g.qs, g.m1, g.m2, g.m3, \
                EXISTS (SELECT 1 FROM rehab_plans r WHERE r.person_id = g.person_id AND r.starts_on <= {end} AND r.review_on >= g.qs), \
                (SELECT MAX(a.assessed_on) FROM assessments a WHERE a.person_id = g.person_id AND a.assessed_on <= {end}) \
         FROM (SELECT person_id, qs, SUM(CASE WHEN k = 0 THEN contacts ELSE 0 END) AS m1, SUM(CASE WHEN k = 1 THEN contacts ELSE 0 END) AS m2, \
                      SUM(CASE WHEN k = 2 THEN contacts ELSE 0 END) AS m3 \
               FROM (SELECT person_id, contacts, (CAST(substr(month, 6, 2) AS INTEGER) - 1) % 3 AS k, {qs} AS qs \
                     FROM service_months WHERE {filter}) mq \
               GROUP BY person_id, qs) g"
    )
}

const QUARTER_COLS: &str = "person_id, quarter_start, m1, m2, m3, planned, last_assessed_on";

/// Recompute the `service_quarters` rows of `persons` from the quarter of `from` on, after a
/// write that may change them: a service contact on `from`, a plan starting then, an assessment
/// then (which counts as the latest in every later quarter too).
pub async fn refresh_quarters(tx: &mut Tx, persons: &[i64], from: NaiveDate) -> anyhow::Result<()> {
    if persons.is_empty() {
        return Ok(());
    }
    let first =
        NaiveDate::from_ymd_opt(from.year(), (from.month() - 1) / 3 * 3 + 1, 1).unwrap_or(from);
    let list = serde_json::to_string(persons)?;
    let ids = super::bulk::json_int_list(tx.backend(), 1);
    let delete =
        format!("DELETE FROM service_quarters WHERE person_id IN ({ids}) AND quarter_start >= $2");
    on_tx!(tx, c => sqlx::query(&delete).bind(&list).bind(first).execute(&mut **c).await.map(drop))?;
    let insert = format!(
        "INSERT INTO service_quarters ({QUARTER_COLS}) {}",
        quarters_select(
            tx.backend(),
            &format!("person_id IN ({ids}) AND month >= $2")
        )
    );
    on_tx!(tx, c => sqlx::query(&insert).bind(&list).bind(first.format("%Y-%m").to_string()).execute(&mut **c).await.map(drop))?;
    Ok(())
}

/// Recompute every row of `service_quarters` (after a bulk load of services).
pub async fn rebuild_quarters(tx: &mut Tx) -> anyhow::Result<()> {
    on_tx!(tx, c => sqlx::query("DELETE FROM service_quarters").execute(&mut **c).await.map(drop))?;
    let insert = format!(
        "INSERT INTO service_quarters ({QUARTER_COLS}) {}",
        quarters_select(tx.backend(), "1 = 1")
    );
    on_tx!(tx, c => sqlx::query(&insert).execute(&mut **c).await.map(drop))?;
    Ok(())
}

async fn in_range(
    tx: &mut Tx,
    (lo, hi, site): (&str, &str, &str),
    rule: &StandardRule,
    period: &Period,
    detail: bool,
) -> anyhow::Result<Vec<StandardRow>> {
    let states = registered_states(rule);
    let since = period.end - chrono::Duration::days(rule.assessment_within_days);
    let months = period.months();
    let (first, last) = match (months.first(), months.last()) {
        (Some(f), Some(l)) => (
            format!("{:04}-{:02}", f.0, f.1),
            format!("{:04}-{:02}", l.0, l.1),
        ),
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
        return set_based(
            tx,
            (lo, hi, site),
            &states,
            rule,
            period,
            detail,
            (&first, &last, months.len() as i64, since),
        )
        .await;
    }
    let count = |cond: &str| format!("SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)");
    let details = if detail {
        format!(
            "{} AS with_plan, {} AS assessed, {} AS served_monthly",
            count(plan),
            count(assessed),
            count(served)
        )
    } else {
        "NULL AS with_plan, NULL AS assessed, NULL AS served_monthly".to_string()
    };
    let sql = format!(
        "SELECT substr(p.residence_region, 1, 9) AS township, COUNT(*) AS registered, {standard} AS standard, {details} \
         FROM persons p WHERE p.residence_region >= $1 AND p.residence_region < $2{site} AND p.registration_state IN ({states}) \
         GROUP BY substr(p.residence_region, 1, 9) ORDER BY township",
        standard = count(&format!("{plan} AND {served} AND {assessed}")),
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
        format!(
            "{} AS with_plan, {} AS assessed, {} AS served_monthly",
            count(&flag("pl")),
            count(&flag("ass")),
            count(&flag("srv"))
        )
    } else {
        "NULL::bigint AS with_plan, NULL::bigint AS assessed, NULL::bigint AS served_monthly"
            .to_string()
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
        standard = count(&format!(
            "{} AND {} AND {}",
            flag("pl"),
            flag("ass"),
            flag("srv")
        ))
    );
    let rows: Vec<StandardRow> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(lo).bind(hi).bind(period.start).bind(period.end).bind(since).bind(rule.contacts_per_month).bind(months)
        .bind(first).bind(last)
        .fetch_all(&mut **c).await)?;
    Ok(rows)
}
