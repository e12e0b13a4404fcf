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

/// What a column or an indicator can count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Persons in the registry on the day, less those who had died (closed, reason died).
    InRegistry,
    /// Of those, with a severe disorder (the eligibility rule's six, by ICD-10): 在册.
    InRegistrySevere,
    /// Of those, the others (another or no diagnosis recorded).
    InRegistryGeneral,
    /// 登记康复对象 on the day: the 规范服务 rule's registered states.
    Registered,
    /// 不参与 on the day.
    Declined,
    /// Registered on the day and receiving 规范服务 in the period.
    Standard,
    /// Registered on the day with at least one service contact in the period (a quarter).
    Served,
    /// 在管: 在册 with at least one follow-up (seen, not lost) in the 12 months to the day.
    Managed,
    /// 规范管理: 在册 with at least four follow-ups in the 12 months to the day.
    StandardManaged,
    /// 在册 followed up (seen) in the period.
    FollowedUp,
    /// 在册 whose follow-ups in the period were all attempts that found nobody (失访).
    LostToFollowUp,
    /// 服药: 在册 whose latest follow-up in the 12 months records medication (regular or not).
    OnMedication,
    /// 规律服药: of those, taken regularly.
    RegularMedication,
    /// 在册 assessed 病情不稳定 at a follow-up in the period.
    Unstable,
    /// Of those, receiving 个案管理 (a case-management service contact) in the period.
    UnstableCaseManaged,
    /// Townships (街道, 镇, 乡) of the area.
    Townships,
    /// Townships with at least one person served (`served`) in the period: 街镇覆盖.
    TownshipsServing,
    /// Townships with a rehabilitation institution open on the day.
    TownshipsWithSite,
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

/// What a measure counts: persons, townships, or other things (sites, staff, providers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Persons,
    Townships,
    Other,
}

// What the per-person query knows of each person, as bits of one integer.
const SEVERE: i64 = 1;
const STANDARD: i64 = 2;
const MANAGED: i64 = 4;
const STANDARD_MANAGED: i64 = 8;
const FOLLOWED: i64 = 16;
const LOST: i64 = 32;
const MEDICATED: i64 = 64;
const REGULAR: i64 = 128;
const UNSTABLE: i64 = 256;
const CASE_MANAGED: i64 = 512;
const SERVED: i64 = 1024;

impl Measure {
    pub fn unit(self) -> Unit {
        use Measure::*;
        match self {
            Townships | TownshipsServing | TownshipsWithSite => Unit::Townships,
            InRegistry | InRegistrySevere | InRegistryGeneral | Registered | Declined | Standard | Served | Managed | StandardManaged
            | FollowedUp | LostToFollowUp | OnMedication | RegularMedication | Unstable | UnstableCaseManaged | NewRegistered => Unit::Persons,
            NewSites | Staff | StaffCertified | ContractProviders => Unit::Other,
        }
    }

    /// The parts of the per-person query this measure needs (none: not a per-person measure).
    fn parts(self) -> Option<Parts> {
        use Measure::*;
        let p = Parts::default();
        match self {
            InRegistry | InRegistrySevere | InRegistryGeneral | Registered | Declined => Some(p),
            Standard => Some(Parts { standard: true, ..p }),
            Served | TownshipsServing => Some(Parts { served: true, ..p }),
            Managed | StandardManaged | FollowedUp | LostToFollowUp | OnMedication | RegularMedication | Unstable | UnstableCaseManaged => {
                Some(Parts { followups: true, ..p })
            }
            _ => None,
        }
    }

    /// Whether a person in state `state` (`state:reason`) with facts `flags` counts.
    fn counts(self, rule: &StandardRule, state: &str, flags: i64) -> bool {
        use Measure::*;
        let (st, reason) = state.split_once(':').unwrap_or((state, ""));
        let alive = !(st == "closed" && reason == "died");
        let registered = rule.registered_states.iter().any(|s| s == st);
        let listed = alive && flags & SEVERE != 0;
        let has = |bit: i64| flags & bit != 0;
        match self {
            InRegistry => alive,
            InRegistrySevere => listed,
            InRegistryGeneral => alive && !has(SEVERE),
            Registered => registered,
            Declined => st == "declined",
            Standard => registered && has(STANDARD),
            Served | TownshipsServing => registered && has(SERVED),
            Managed => listed && has(MANAGED),
            StandardManaged => listed && has(STANDARD_MANAGED),
            FollowedUp => listed && has(FOLLOWED),
            LostToFollowUp => listed && has(LOST),
            OnMedication => listed && has(MEDICATED),
            RegularMedication => listed && has(REGULAR),
            Unstable => listed && has(UNSTABLE),
            UnstableCaseManaged => listed && has(UNSTABLE) && has(CASE_MANAGED),
            _ => false,
        }
    }
}

/// Persons of a township with one state on the day (`state:reason`) and the same facts, counted.
pub type FactCount = (String, String, i64, i64);

/// Which optional parts the per-person query computes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Parts {
    /// 规范服务 in the quarter (`service_quarters` and the rule).
    pub standard: bool,
    /// Any service contact in the quarter.
    pub served: bool,
    /// The follow-ups of the 12 months to the day.
    pub followups: bool,
}

impl Parts {
    fn union(self, o: Parts) -> Parts {
        Parts { standard: self.standard || o.standard, served: self.served || o.served, followups: self.followups || o.followups }
    }
    fn covers(self, o: Parts) -> bool {
        self.union(o) == self
    }
}

/// The per-person facts of a scope and period, counted by township, state and facts; computed
/// once with every part the caller's measures need ([`People::wanting`]) and shared by them.
#[derive(Debug, Default)]
pub struct People {
    wanted: Parts,
    rows: Option<(Parts, Vec<FactCount>)>,
}

impl People {
    /// Facts for these measures (their parts computed in one read).
    pub fn wanting(measures: impl IntoIterator<Item = Measure>) -> People {
        let wanted = measures.into_iter().filter_map(Measure::parts).fold(Parts::default(), Parts::union);
        People { wanted, rows: None }
    }
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
/// and digits only, so they can be written into the SQL): for each prefix length one lookup of
/// the code's upper-cased start in a list, not one LIKE per prefix (a million rows are read).
fn severe_sql(rule: &Rule) -> String {
    let mut by_len: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for p in rule.severe_disorders.iter().flat_map(|d| d.icd10.iter()) {
        if !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()) {
            by_len.entry(p.len()).or_default().push(format!("'{}'", p.to_ascii_uppercase()));
        }
    }
    if by_len.is_empty() {
        return "1 = 0".to_string();
    }
    let terms: Vec<String> = by_len.iter().map(|(n, list)| format!("upper(substr(p.diagnosis_code, 1, {n})) IN ({})", list.join(", "))).collect();
    format!("({})", terms.join(" OR "))
}

/// The per-person query of `scope` as of `period`'s end: each person's id, township, state on
/// the day (as `state:reason`) and facts (bits), with the `parts` asked for.
fn person_sql(scope: &Scope, period: &Period, rule: &StandardRule, parts: Parts) -> anyhow::Result<String> {
    let site = scope.site_sql("p");
    let severe = severe_sql(&Rule::default_rule()?);
    let plan = if rule.plan { " AND q.planned = TRUE" } else { "" };
    let quarter = Period::quarter(period.start.year(), (period.start.month() - 1) / 3 + 1).filter(|q| q == period);
    if parts.standard || parts.served {
        anyhow::ensure!(quarter.is_some(), "service measures need a quarter");
        anyhow::ensure!(rule.contacts_per_month >= 1, "report measures need a rule asking for contacts");
    }
    let mut flags = format!("(CASE WHEN {severe} THEN {SEVERE} ELSE 0 END)");
    // The persons meeting 规范服务 (or served at all) are one index range of the quarter's facts.
    if parts.standard {
        flags.push_str(&format!(
            " + (CASE WHEN p.id IN (SELECT q.person_id FROM service_quarters q WHERE q.quarter_start = $4{plan} \
             AND q.m1 >= $5 AND q.m2 >= $5 AND q.m3 >= $5 AND q.last_assessed_on >= $6) THEN {STANDARD} ELSE 0 END)"
        ));
    }
    if parts.served {
        flags.push_str(&format!(" + (CASE WHEN p.id IN (SELECT q.person_id FROM service_quarters q WHERE q.quarter_start = $4) THEN {SERVED} ELSE 0 END)"));
    }
    let mut join_sql = String::new();
    if parts.followups {
        // A quarter reads one row per person of `followup_quarters` (the facts of the quarter
        // and its 12 months); another period (a month) reads the scope's follow-ups of the 12
        // months to the day in one pass (covering index followups_facts).
        let join = if quarter.is_some() {
            " LEFT JOIN followup_quarters fu ON fu.person_id = p.id AND fu.quarter_start = $4"
        } else {
            " LEFT JOIN (SELECT f.person_id, \
                     SUM(CASE WHEN f.lost OR f.died THEN 0 ELSE 1 END) AS seen_year, \
                     SUM(CASE WHEN f.lost OR f.died OR f.visit_date < $4 THEN 0 ELSE 1 END) AS seen, \
                     SUM(CASE WHEN f.lost AND f.visit_date >= $4 THEN 1 ELSE 0 END) AS lost, \
                     SUM(CASE WHEN f.lost OR f.died OR f.visit_date < $4 OR f.condition_class IS NULL OR f.condition_class <> 'unstable' THEN 0 ELSE 1 END) AS unstable, \
                     substr(MAX(CASE WHEN f.lost OR f.died THEN NULL ELSE CAST(f.visit_date AS TEXT) || ':' || COALESCE(f.adherence, '') END), 12) AS adherence \
                   FROM followups f JOIN persons fp ON fp.id = f.person_id \
                   WHERE fp.residence_region >= $1 AND fp.residence_region < $2 AND f.visit_date > $7 AND f.visit_date <= $3 \
                   GROUP BY f.person_id) fu ON fu.person_id = p.id"
        };
        let (year, seen, lost, unstable, adherence) = ("fu.seen_year", "fu.seen", "fu.lost", "fu.unstable", "fu.adherence");
        flags.push_str(&format!(
            " + (CASE WHEN {year} >= 1 THEN {MANAGED} ELSE 0 END) + (CASE WHEN {year} >= 4 THEN {STANDARD_MANAGED} ELSE 0 END) \
             + (CASE WHEN {seen} >= 1 THEN {FOLLOWED} ELSE 0 END) + (CASE WHEN {seen} = 0 AND {lost} >= 1 THEN {LOST} ELSE 0 END) \
             + (CASE WHEN {adherence} IN ('regular', 'intermittent') THEN {MEDICATED} ELSE 0 END) \
             + (CASE WHEN {adherence} = 'regular' THEN {REGULAR} ELSE 0 END) \
             + (CASE WHEN {unstable} >= 1 THEN {UNSTABLE} ELSE 0 END) \
             + (CASE WHEN {unstable} >= 1 AND p.id IN (SELECT a.person_id FROM service_sessions ss JOIN service_attendance a ON a.session_id = ss.id \
                    WHERE ss.item = 'case_management' AND ss.service_date >= $4 AND ss.service_date <= $3) THEN {CASE_MANAGED} ELSE 0 END)"
        ));
        join_sql = join.to_string();
    }
    // A person's state on the day is their current one unless an event took effect after it (or
    // they are closed: the reason is in the event); only those few are looked up event by event.
    Ok(format!(
        "SELECT p.id AS id, substr(p.residence_region, 1, 9) AS township, \
                CASE WHEN p.registration_state = 'closed' OR p.id IN (SELECT l.person_id FROM registration_events l WHERE l.effective_on > $3) \
                     THEN COALESCE((SELECT e.to_state || ':' || COALESCE(e.close_reason, '') FROM registration_events e \
                                    WHERE e.person_id = p.id AND e.effective_on <= $3 ORDER BY e.effective_on DESC, e.id DESC LIMIT 1), 'pending:') \
                     ELSE p.registration_state || ':' END AS state, \
                CAST({flags} AS BIGINT) AS flags \
         FROM persons p{join_sql} \
         WHERE p.residence_region >= $1 AND p.residence_region < $2{site} AND (p.known_since IS NULL OR p.known_since <= $3)"
    ))
}

/// Settings for the per-person query on PostgreSQL: hash tables of the id sets built once, a
/// plan for these dates, no JIT, grouping by hashing.
async fn tune(tx: &mut Tx) -> anyhow::Result<()> {
    if tx.backend() == super::Backend::Postgres {
        // The counts are grouped by hashing (some thousand groups): the planner, expecting a group
        // per person, would sort a million rows first. The persons are read from the covering
        // index persons_report (a third faster than the table for a province).
        for set in [
            "SET LOCAL work_mem = '128MB'",
            "SET LOCAL max_parallel_workers_per_gather = 0",
            "SET LOCAL plan_cache_mode = force_custom_plan",
            "SET LOCAL jit = off",
            "SET LOCAL enable_sort = off",
            "SET LOCAL enable_seqscan = off",
        ] {
            on_tx!(tx, c => sqlx::query(set).execute(&mut **c).await.map(drop))?;
        }
    }
    Ok(())
}

/// The query's parameters: scope bounds, the day, the period's start, contacts a month, the
/// assessment window's start and the follow-up window's start (the day 12 months before).
fn person_params(scope: &Scope, period: &Period, rule: &StandardRule) -> (String, String, NaiveDate, NaiveDate, i64, NaiveDate, NaiveDate) {
    let (lo, hi) = scope.bounds();
    let since = period.end - chrono::Duration::days(rule.assessment_within_days);
    let year_before = period.end.checked_sub_months(chrono::Months::new(12)).unwrap_or(period.end);
    (lo, hi, period.end, period.start, rule.contacts_per_month, since, year_before)
}

/// Persons by township, state on the day and facts, counted.
async fn person_counts(tx: &mut Tx, scope: &Scope, period: &Period, rule: &StandardRule, parts: Parts) -> anyhow::Result<Vec<FactCount>> {
    tune(tx).await?;
    let sql = format!("SELECT township, state, flags, COUNT(*) FROM ({}) s GROUP BY township, state, flags", person_sql(scope, period, rule, parts)?);
    let (lo, hi, day, start, contacts, since, year_before) = person_params(scope, period, rule);
    let rows: Vec<FactCount> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(&lo).bind(&hi).bind(day).bind(start).bind(contacts).bind(since).bind(year_before)
        .fetch_all(&mut **c).await)?;
    Ok(rows)
}

/// What a drill-down lists: the persons, or the townships (by code), behind a figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Members {
    Persons(Vec<i64>),
    Townships(Vec<String>),
}

/// The persons (or townships) `what` counts in `scope` for `period`, as [`measure`] counts them.
pub async fn members(tx: &mut Tx, tree: &RegionTree, scope: &Scope, what: Measure, period: &Period, rule: &StandardRule) -> anyhow::Result<Members> {
    match what.unit() {
        Unit::Townships => {
            let m = measure(tx, tree, scope, (what, None), period, rule, &mut People::wanting([what])).await?;
            Ok(Members::Townships(m.by_township.into_iter().filter(|(_, n)| *n > 0).map(|(t, _)| t).collect()))
        }
        Unit::Persons if what.parts().is_some() => {
            let parts = what.parts().unwrap_or_default();
            tune(tx).await?;
            let sql = format!("SELECT id, state, flags FROM ({}) s ORDER BY id", person_sql(scope, period, rule, parts)?);
            let (lo, hi, day, start, contacts, since, year_before) = person_params(scope, period, rule);
            let rows: Vec<(i64, String, i64)> = on_tx!(tx, c => sqlx::query_as(&sql)
                .bind(&lo).bind(&hi).bind(day).bind(start).bind(contacts).bind(since).bind(year_before)
                .fetch_all(&mut **c).await)?;
            Ok(Members::Persons(rows.into_iter().filter(|(_, st, f)| what.counts(rule, st, *f)).map(|(id, _, _)| id).collect()))
        }
        _ => anyhow::bail!("no list behind {what:?}"),
    }
}

/// The per-person rows `people` holds, read now (with every part it wants) if not yet.
async fn person_rows<'a>(
    tx: &mut Tx,
    (scope, period, rule): (&Scope, &Period, &StandardRule),
    need: Measure,
    people: &'a mut People,
) -> anyhow::Result<&'a [FactCount]> {
    people.wanted = people.wanted.union(need.parts().unwrap_or_default());
    let fresh = !matches!(&people.rows, Some((parts, _)) if parts.covers(people.wanted));
    if fresh {
        let rows = person_counts(tx, scope, period, rule, people.wanted).await?;
        people.rows = Some((people.wanted, rows));
    }
    Ok(people.rows.as_ref().map(|(_, r)| r.as_slice()).unwrap_or(&[]))
}

/// Measure `what` (narrowed to urban or rural townships with `urban`) for `scope` in `period`.
/// The person measures share one read of the persons (`people`, with the parts all of them need).
#[allow(clippy::too_many_arguments)]
pub async fn measure(
    tx: &mut Tx,
    tree: &RegionTree,
    scope: &Scope,
    (what, urban): (Measure, Option<bool>),
    period: &Period,
    rule: &StandardRule,
    people: &mut People,
) -> anyhow::Result<Measured> {
    let (lo, hi) = scope.bounds();
    let (start, end) = (period.start, period.end);
    let by_region: Vec<(String, i64)> = match what {
        Measure::Townships | Measure::TownshipsWithSite | Measure::TownshipsServing => {
            let towns: Vec<String> = match scope.root() {
                Some(root) => tree.townships_under(root).into_iter().map(|r| r.code.clone()).collect(),
                None => tree.townships_under("").into_iter().map(|r| r.code.clone()).collect(),
            };
            let having: std::collections::BTreeSet<String> = match what {
                Measure::Townships => towns.iter().cloned().collect(),
                Measure::TownshipsWithSite => {
                    let rows: Vec<(String,)> = on_tx!(tx, c => sqlx::query_as(
                        "SELECT DISTINCT substr(region, 1, 9) FROM institutions WHERE region >= $1 AND region < $2 AND length(region) >= 9 \
                         AND status = 'operating' AND (opened_on IS NULL OR opened_on <= $3)")
                        .bind(&lo).bind(&hi).bind(end).fetch_all(&mut **c).await)?;
                    rows.into_iter().map(|(t,)| t).collect()
                }
                _ => {
                    let rows = person_rows(tx, (scope, period, rule), what, people).await?;
                    rows.iter().filter(|(_, st, f, _)| what.counts(rule, st, *f)).map(|(t, ..)| t.clone()).collect()
                }
            };
            let by_township: BTreeMap<String, i64> = towns.into_iter().map(|t| {
                let n = i64::from(having.contains(&t));
                (t, n)
            }).collect();
            let total = by_township.values().sum();
            return Ok(Measured { by_township, total });
        }
        m @ (Measure::InRegistry | Measure::InRegistrySevere | Measure::InRegistryGeneral | Measure::Registered | Measure::Declined | Measure::Standard
        | Measure::Served | Measure::Managed | Measure::StandardManaged | Measure::FollowedUp | Measure::LostToFollowUp | Measure::OnMedication
        | Measure::RegularMedication | Measure::Unstable | Measure::UnstableCaseManaged) => {
            let rows = person_rows(tx, (scope, period, rule), what, people).await?;
            rows.iter().filter(|(_, st, f, _)| m.counts(rule, st, *f)).map(|(t, _, _, n)| (t.clone(), *n)).collect()
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
