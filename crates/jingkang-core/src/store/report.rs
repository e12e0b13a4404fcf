//! The measures report definitions are made of (`crate::report`): counts over the registry,
//! institutions, staff and contracts of a scope, as of a period's last day, by township and in
//! total. Person measures take each person's registration state on that day (`store::asof`'s
//! rule) and, for 规范服务, the quarter's facts (`service_quarters`, `store::standard`).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::Tx;
use crate::care::eligibility::Rule;
use crate::care::standard::{Period, StandardRule};
use crate::on_tx;
use crate::regions::{RegionTree, Scope};

/// What a column can count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Persons in the registry on the day, less those who had died (closed, reason died).
    InRegistry,
    /// Of those, with a severe disorder (the eligibility rule's six, by ICD-10).
    InRegistrySevere,
    /// Of those, the others (another or no diagnosis recorded).
    InRegistryGeneral,
    /// 登记康复对象 on the day: the 规范服务 rule's registered states.
    Registered,
    /// 不参与 on the day.
    Declined,
    /// Registered on the day and receiving 规范服务 in the period.
    Standard,
    /// Institutions opened in the period (`urban`: 城市 / 农村).
    NewSites,
    /// Persons registered in the period (`urban`: of a 街道 / of a 镇 or 乡).
    NewRegistered,
    /// Staff of the institutions, employed on the day.
    Staff,
    /// Of those, with a certificate valid on the day (持证上岗).
    StaffCertified,
    /// Distinct providers of purchase-of-service contracts running in the period.
    ContractProviders,
}

/// A measure's value by township (9-digit code) and in total (the total also holds what belongs
/// to no single township, e.g. a county's centre or contract).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Measured {
    pub by_township: BTreeMap<String, i64>,
    pub total: i64,
}

impl Measured {
    /// From counts by region code (any level): townships get theirs, the total gets all.
    fn from_regions(rows: Vec<(String, i64)>) -> Measured {
        let mut m = Measured::default();
        for (code, n) in rows {
            m.total += n;
            if code.len() >= 9 {
                *m.by_township.entry(code[..9].to_string()).or_default() += n;
            }
        }
        m
    }
}

/// Whether a township is urban (街道) rather than rural (镇, 乡).
fn urban_township(tree: &RegionTree, code: &str) -> Option<bool> {
    tree.get(code.get(..9)?).map(|r| r.name.ends_with("街道"))
}

/// The SQL condition "diagnosis is severe" from the eligibility rule's ICD-10 prefixes (letters
/// and digits only, so they can be written into the SQL).
fn severe_sql(rule: &Rule) -> String {
    let prefixes: Vec<String> = rule
        .severe_disorders
        .iter()
        .flat_map(|d| d.icd10.iter())
        .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|p| format!("upper(p.diagnosis_code) LIKE '{}%'", p.to_ascii_uppercase()))
        .collect();
    if prefixes.is_empty() { "1 = 0".to_string() } else { format!("({})", prefixes.join(" OR ")) }
}

/// Persons by township, state on the day (as `state:reason`), severity and 规范服务.
pub type PersonCounts = Vec<(String, String, bool, bool, i64)>;

/// Persons by township, state on `day` (as `state:reason`), severity and 规范服务 in `period`.
async fn person_counts(tx: &mut Tx, scope: &Scope, period: &Period, rule: &StandardRule) -> anyhow::Result<Vec<(String, String, bool, bool, i64)>> {
    let (lo, hi) = scope.bounds();
    let site = scope.site_sql("p");
    let severe = severe_sql(&Rule::default_rule()?);
    let since = period.end - chrono::Duration::days(rule.assessment_within_days);
    let plan = if rule.plan { " AND q.planned = TRUE" } else { "" };
    let quarter = Period::quarter(period.start.year(), (period.start.month() - 1) / 3 + 1).filter(|q| q == period);
    anyhow::ensure!(quarter.is_some() && rule.contacts_per_month >= 1, "report measures need a quarter and a rule asking for contacts");
    if tx.backend() == super::Backend::Postgres {
        // Hash tables of the id sets built once; a plan for these dates; no JIT.
        for set in ["SET LOCAL work_mem = '128MB'", "SET LOCAL max_parallel_workers_per_gather = 0", "SET LOCAL plan_cache_mode = force_custom_plan", "SET LOCAL jit = off"] {
            on_tx!(tx, c => sqlx::query(set).execute(&mut **c).await.map(drop))?;
        }
    }
    // A person's state on the day is their current one unless an event took effect after it (or
    // they are closed: the reason is in the event); only those few are looked up event by event.
    // The persons meeting 规范服务 are one index range of the quarter's facts, matched in memory.
    let sql = format!(
        "SELECT township, state, severe, standard, COUNT(*) FROM ( \
            SELECT substr(p.residence_region, 1, 9) AS township, \
                   CASE WHEN p.registration_state = 'closed' OR p.id IN (SELECT l.person_id FROM registration_events l WHERE l.effective_on > $3) \
                        THEN COALESCE((SELECT e.to_state || ':' || COALESCE(e.close_reason, '') FROM registration_events e \
                                       WHERE e.person_id = p.id AND e.effective_on <= $3 ORDER BY e.effective_on DESC, e.id DESC LIMIT 1), 'pending:') \
                        ELSE p.registration_state || ':' END AS state, \
                   CASE WHEN {severe} THEN 1 ELSE 0 END AS severe, \
                   CASE WHEN p.id IN (SELECT q.person_id FROM service_quarters q WHERE q.quarter_start = $4{plan} \
                                      AND q.m1 >= $5 AND q.m2 >= $5 AND q.m3 >= $5 AND q.last_assessed_on >= $6) THEN 1 ELSE 0 END AS standard \
            FROM persons p \
            WHERE p.residence_region >= $1 AND p.residence_region < $2{site} AND (p.known_since IS NULL OR p.known_since <= $3)) s \
         GROUP BY township, state, severe, standard"
    );
    let rows: Vec<(String, String, i32, i32, i64)> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(&lo).bind(&hi).bind(period.end).bind(period.start).bind(rule.contacts_per_month).bind(since)
        .fetch_all(&mut **c).await)?;
    Ok(rows.into_iter().map(|(t, s, sev, std, n)| (t, s, sev != 0, std != 0, n)).collect())
}

/// Measure `what` (narrowed to urban or rural townships with `urban`) for `scope` in `period`.
/// The person measures share one read of the persons, kept in `people` for the next.
#[allow(clippy::too_many_arguments)]
pub async fn measure(
    tx: &mut Tx,
    tree: &RegionTree,
    scope: &Scope,
    (what, urban): (Measure, Option<bool>),
    period: &Period,
    rule: &StandardRule,
    people: &mut Option<PersonCounts>,
) -> anyhow::Result<Measured> {
    let (lo, hi) = scope.bounds();
    let (start, end) = (period.start, period.end);
    let by_region: Vec<(String, i64)> = match what {
        Measure::InRegistry | Measure::InRegistrySevere | Measure::InRegistryGeneral | Measure::Registered | Measure::Declined | Measure::Standard => {
            if people.is_none() {
                *people = Some(person_counts(tx, scope, period, rule).await?);
            }
            people
                .iter()
                .flatten()
                .filter(|(_, state, severe, standard, _)| {
                    let (st, reason) = state.split_once(':').unwrap_or((state, ""));
                    let alive = !(st == "closed" && reason == "died");
                    let registered = rule.registered_states.iter().any(|s| s == st);
                    match what {
                        Measure::InRegistry => alive,
                        Measure::InRegistrySevere => alive && *severe,
                        Measure::InRegistryGeneral => alive && !*severe,
                        Measure::Registered => registered,
                        Measure::Declined => st == "declined",
                        _ => registered && *standard,
                    }
                })
                .map(|(t, _, _, _, n)| (t.clone(), *n))
                .collect()
        }
        Measure::NewSites => {
            let rows: Vec<(String, bool, i64)> = on_tx!(tx, c => sqlx::query_as(
                "SELECT region, urban, COUNT(*) FROM institutions WHERE region >= $1 AND region < $2 AND opened_on >= $3 AND opened_on <= $4 GROUP BY region, urban")
                .bind(&lo).bind(&hi).bind(start).bind(end).fetch_all(&mut **c).await)?;
            rows.into_iter().filter(|(_, u, _)| urban.is_none_or(|w| w == *u)).map(|(r, _, n)| (r, n)).collect()
        }
        Measure::NewRegistered => {
            let rows = super::asof::events_between(tx, scope, "register", start, end).await?;
            rows.into_iter().filter(|(t, _)| urban.is_none_or(|w| urban_township(tree, t) == Some(w))).collect()
        }
        Measure::Staff | Measure::StaffCertified => {
            let certified = if what == Measure::StaffCertified {
                " AND EXISTS (SELECT 1 FROM staff_qualifications q WHERE q.staff_id = s.id AND q.issued_on <= $3 AND (q.valid_until IS NULL OR q.valid_until >= $3))"
            } else {
                ""
            };
            let sql = format!(
                "SELECT i.region, COUNT(*) FROM staff s JOIN institutions i ON i.id = s.institution_id \
                 WHERE i.region >= $1 AND i.region < $2 AND s.hired_on <= $3 AND (s.left_on IS NULL OR s.left_on > $3){certified} GROUP BY i.region"
            );
            on_tx!(tx, c => sqlx::query_as(&sql).bind(&lo).bind(&hi).bind(end).fetch_all(&mut **c).await)?
        }
        Measure::ContractProviders => {
            // Distinct providers: the total counts a provider once however many contracts it holds.
            let rows: Vec<(String, String)> = on_tx!(tx, c => sqlx::query_as(
                "SELECT DISTINCT region, provider_code FROM service_contracts WHERE region >= $1 AND region < $2 AND starts_on <= $4 AND ends_on >= $3")
                .bind(&lo).bind(&hi).bind(start).bind(end).fetch_all(&mut **c).await)?;
            let mut m = Measured::from_regions(rows.iter().map(|(r, _)| (r.clone(), 1)).collect());
            m.total = rows.iter().map(|(_, p)| p).collect::<std::collections::BTreeSet<_>>().len() as i64;
            return Ok(m);
        }
    };
    Ok(Measured::from_regions(by_region))
}

/// The default quarter of a report on `today`: the current one (filed before its last month ends).
pub fn current_quarter(today: NaiveDate) -> (i32, u32) {
    (today.year(), (today.month() - 1) / 3 + 1)
}
