//! The measures report definitions are made of (`crate::report`): counts over the registry,
//! institutions, staff and contracts of a scope, as of a period's last day, by township and in
//! total. Person measures take each person's registration state on that day (`store::asof`'s
//! rule) and, for 规范服务, the quarter's facts (`service_quarters`, `store::standard`).

use std::collections::{BTreeMap, HashSet};

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::Tx;
use crate::care::eligibility::Rule;
use crate::care::standard::{Period, StandardRule};
use crate::on_tx;
use crate::regions::{RegionTree, Scope};
use crate::secrets::Keys;

/// What a column or an indicator can count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Persons in the registry on the day, less those who had died (closed, reason died) and the
    /// duplicates merged into another record (closed, reason merged).
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
            InRegistry | InRegistrySevere | InRegistryGeneral | Registered | Declined
            | Standard | Served | Managed | StandardManaged | FollowedUp | LostToFollowUp
            | OnMedication | RegularMedication | Unstable | UnstableCaseManaged | NewRegistered => {
                Unit::Persons
            }
            NewSites | Staff | StaffCertified | ContractProviders => Unit::Other,
        }
    }

    /// The parts of the per-person query this measure needs (none: not a per-person measure).
    fn parts(self) -> Option<Parts> {
        use Measure::*;
        let p = Parts::default();
        match self {
            InRegistry | InRegistrySevere | InRegistryGeneral | Registered | Declined => Some(p),
            Standard => Some(Parts {
                standard: true,
                ..p
            }),
            Served | TownshipsServing => Some(Parts { served: true, ..p }),
            Managed | StandardManaged | FollowedUp | LostToFollowUp | OnMedication
            | RegularMedication | Unstable | UnstableCaseManaged => Some(Parts {
                followups: true,
                ..p
            }),
            _ => None,
        }
    }

    /// Whether a person in state `state` (`state:reason`), of a severe disorder or not, is of the
    /// population this measure counts in (before the fact it asks for, [`Measure::fact`]).
    fn holds(self, rule: &StandardRule, state: &str, severe: bool) -> bool {
        use Measure::*;
        let (st, reason) = state.split_once(':').unwrap_or((state, ""));
        // A duplicate merged into another record is no person of its own.
        let alive = !(st == "closed" && (reason == "died" || reason == "merged"));
        let registered = rule.registered_states.iter().any(|s| s == st);
        let listed = alive && severe;
        match self {
            InRegistry => alive,
            InRegistrySevere => listed,
            InRegistryGeneral => alive && !severe,
            Registered | Standard | Served | TownshipsServing => registered,
            Declined => st == "declined",
            Managed | StandardManaged | FollowedUp | LostToFollowUp | OnMedication
            | RegularMedication | Unstable | UnstableCaseManaged => listed,
            _ => false,
        }
    }

    /// The one fact (bit) a person must have besides [`Measure::holds`], or 0. (个案管理 is only
    /// set for persons found unstable, so it alone stands for both.)
    fn fact(self) -> i64 {
        use Measure::*;
        match self {
            Standard => STANDARD,
            Served | TownshipsServing => SERVED,
            Managed => MANAGED,
            StandardManaged => STANDARD_MANAGED,
            FollowedUp => FOLLOWED,
            LostToFollowUp => LOST,
            OnMedication => MEDICATED,
            RegularMedication => REGULAR,
            Unstable => UNSTABLE,
            UnstableCaseManaged => CASE_MANAGED,
            _ => 0,
        }
    }

    /// Whether a person in state `state` (`state:reason`) with facts `flags` counts.
    fn counts(self, rule: &StandardRule, state: &str, flags: i64) -> bool {
        self.holds(rule, state, flags & SEVERE != 0)
            && (self.fact() == 0 || flags & self.fact() != 0)
    }

    /// How many of a group of persons count.
    fn count_in(self, rule: &StandardRule, g: &FactCount) -> i64 {
        if !self.holds(rule, &g.state, g.severe) {
            return 0;
        }
        match FACTS.iter().position(|b| *b == self.fact()) {
            Some(i) => g.with[i],
            None => g.persons,
        }
    }
}

/// The facts counted for each group of persons, in this order.
const FACTS: [i64; 10] = [
    STANDARD,
    MANAGED,
    STANDARD_MANAGED,
    FOLLOWED,
    LOST,
    MEDICATED,
    REGULAR,
    UNSTABLE,
    CASE_MANAGED,
    SERVED,
];

/// The persons of a township with one state on the day (`state:reason`) and one severity,
/// counted in all and with each fact of [`FACTS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactCount {
    pub township: String,
    pub state: String,
    pub severe: bool,
    pub persons: i64,
    pub with: [i64; 10],
}

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
    /// Every part a per-person measure can ask for.
    pub const ALL: Parts = Parts {
        standard: true,
        served: true,
        followups: true,
    };

    fn union(self, o: Parts) -> Parts {
        Parts {
            standard: self.standard || o.standard,
            served: self.served || o.served,
            followups: self.followups || o.followups,
        }
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
        let wanted = measures
            .into_iter()
            .filter_map(Measure::parts)
            .fold(Parts::default(), Parts::union);
        People { wanted, rows: None }
    }

    /// The facts of `scope`'s persons taken from counts made for the whole registry with every
    /// part ([`registry_counts`]): its townships' groups. `None` when they cannot tell: a scope
    /// narrowed to a site, or finer than a township (the counts go no deeper).
    pub fn within(counts: &[FactCount], scope: &Scope) -> Option<People> {
        if scope.site().is_some() || scope.prefix().len() > 9 {
            return None;
        }
        let rows = counts
            .iter()
            .filter(|g| scope.contains(&g.township))
            .cloned()
            .collect();
        Some(People {
            wanted: Parts::ALL,
            rows: Some((Parts::ALL, rows)),
        })
    }
}

/// The per-person facts of the whole registry for a quarter, by township, state on its last day
/// and facts, with every part: what [`People::within`] narrows to any region's board. A
/// province's boards then share one read of its persons instead of one per region and user.
pub async fn registry_counts(
    tx: &mut Tx,
    period: &Period,
    rule: &StandardRule,
) -> anyhow::Result<Vec<FactCount>> {
    person_counts(tx, &Scope::national(), period, rule, Parts::ALL).await
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

/// The SQL condition "diagnosis is severe": the diagnosis is sealed, so its ICD-10 category's
/// blind index (`dx_bi3`) is looked up among those of the eligibility rule's categories.
fn severe_sql(keys: &Keys, rule: &Rule) -> anyhow::Result<String> {
    let list: Vec<String> = severe_indexes(keys, rule)?
        .into_iter()
        .map(|h| format!("'{h}'"))
        .collect();
    Ok(if list.is_empty() {
        "1 = 0".to_string()
    } else {
        format!("p.dx_bi3 IN ({})", list.join(", "))
    })
}

/// The blind indexes (hex, so they can be written into SQL) of the eligibility rule's ICD-10
/// categories of the severe disorders. The reports count by category: a rule's code must be a
/// 3-character category (`F20`), which the rule's own test checks for the shipped rule.
fn severe_indexes(keys: &Keys, rule: &Rule) -> anyhow::Result<HashSet<String>> {
    rule.severe_disorders
        .iter()
        .flat_map(|d| d.icd10.iter())
        .filter(|p| p.len() == 3 && p.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|p| super::sealing::diagnosis_index(keys, Some(p)).map(|h| h.unwrap_or_default()))
        .collect()
}

/// What the per-person queries join to the persons, and the condition of each fact (bit,
/// without [`SEVERE`]) they compute from it, for the `parts` asked for.
/// On PostgreSQL the quarter's service facts are joined (a parallel hash join); SQLite tests each
/// person against the set of those meeting the condition (an index it builds once per query,
/// twice as fast there as looking each person up in `service_quarters`).
fn facts_sql(
    backend: super::Backend,
    period: &Period,
    rule: &StandardRule,
    parts: Parts,
) -> anyhow::Result<(String, Vec<(i64, String)>)> {
    let quarter = Period::quarter(period.start.year(), (period.start.month() - 1) / 3 + 1)
        .filter(|q| q == period);
    if parts.standard || parts.served {
        anyhow::ensure!(quarter.is_some(), "service measures need a quarter");
        anyhow::ensure!(
            rule.contacts_per_month >= 1,
            "report measures need a rule asking for contacts"
        );
    }
    let mut joins = String::new();
    let mut facts = Vec::new();
    // The quarter's service facts: one row per person served (`service_quarters`); 规范服务 is the
    // rule applied to it.
    let joined = backend == super::Backend::Postgres;
    if joined && (parts.standard || parts.served) {
        joins.push_str(
            " LEFT JOIN service_quarters sq ON sq.person_id = p.id AND sq.quarter_start = $4",
        );
    }
    let service = |cond: &str| match (joined, cond) {
        (true, "") => "sq.person_id IS NOT NULL".to_string(),
        (true, cond) => cond.to_string(),
        (false, "") => {
            "p.id IN (SELECT sq.person_id FROM service_quarters sq WHERE sq.quarter_start = $4)"
                .to_string()
        }
        (false, cond) => format!(
            "p.id IN (SELECT sq.person_id FROM service_quarters sq WHERE sq.quarter_start = $4 AND {cond})"
        ),
    };
    if parts.standard {
        let plan = if rule.plan {
            "sq.planned = TRUE AND "
        } else {
            ""
        };
        facts.push((
            STANDARD,
            service(&format!(
                "{plan}sq.m1 >= $5 AND sq.m2 >= $5 AND sq.m3 >= $5 AND sq.last_assessed_on >= $6"
            )),
        ));
    }
    if parts.served {
        facts.push((SERVED, service("")));
    }
    if parts.followups {
        // A quarter reads one row per person of `followup_quarters` (the facts of the quarter
        // and its 12 months); another period (a month) reads the scope's follow-ups of the 12
        // months to the day in one pass (covering index followups_facts).
        joins.push_str(if quarter.is_some() {
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
        });
        // 个案管理 in the period: the persons of its sessions, once each.
        joins.push_str(
            " LEFT JOIN (SELECT DISTINCT a.person_id FROM service_sessions ss JOIN service_attendance a ON a.session_id = ss.id \
                 WHERE ss.item = 'case_management' AND ss.service_date >= $4 AND ss.service_date <= $3) cm ON cm.person_id = p.id",
        );
        for (bit, cond) in [
            (MANAGED, "fu.seen_year >= 1"),
            (STANDARD_MANAGED, "fu.seen_year >= 4"),
            (FOLLOWED, "fu.seen >= 1"),
            (LOST, "fu.seen = 0 AND fu.lost >= 1"),
            (MEDICATED, "fu.adherence IN ('regular', 'intermittent')"),
            (REGULAR, "fu.adherence = 'regular'"),
            (UNSTABLE, "fu.unstable >= 1"),
            (
                CASE_MANAGED,
                "fu.unstable >= 1 AND cm.person_id IS NOT NULL",
            ),
        ] {
            facts.push((bit, cond.to_string()));
        }
    }
    Ok((joins, facts))
}

/// The persons of `scope` known by the day (`$1`, `$2`, `$3`), with the site's restriction.
fn persons_where(scope: &Scope) -> String {
    format!(
        "p.residence_region >= $1 AND p.residence_region < $2{} AND (p.known_since IS NULL OR p.known_since <= $3)",
        scope.rows_sql("p")
    )
}

/// A person's state on the day (`state:reason`) from their events: the last one in effect by
/// then (before their first, `pending`).
const STATE_ON_THE_DAY: &str = "COALESCE((SELECT e.to_state || ':' || COALESCE(e.close_reason, '') FROM registration_events e \
     WHERE e.person_id = p.id AND e.effective_on <= $3 ORDER BY e.effective_on DESC, e.id DESC LIMIT 1), 'pending:')";

/// The persons whose state on the day is not their current one: an event took effect after it.
const STATE_DIFFERS: &str =
    "p.id IN (SELECT l.person_id FROM registration_events l WHERE l.effective_on > $3)";

/// A person's current state with its reason (`state:reason`; the reason of a closing only).
const STATE_NOW: &str = "p.registration_state || ':' || COALESCE(p.close_reason, '')";

/// The per-person query of `scope` as of `period`'s end: each person's id, township, state on
/// the day (as `state:reason`) and facts (bits), with the `parts` asked for.
fn person_sql(
    keys: &Keys,
    backend: super::Backend,
    scope: &Scope,
    period: &Period,
    rule: &StandardRule,
    parts: Parts,
) -> anyhow::Result<String> {
    let severe = severe_sql(keys, &Rule::default_rule()?)?;
    let (joins, facts) = facts_sql(backend, period, rule, parts)?;
    let flags: String = facts
        .iter()
        .map(|(bit, cond)| format!(" + (CASE WHEN {cond} THEN {bit} ELSE 0 END)"))
        .collect();
    Ok(format!(
        "SELECT p.id AS id, substr(p.residence_region, 1, 9) AS township, \
                CASE WHEN {STATE_DIFFERS} THEN {STATE_ON_THE_DAY} ELSE {STATE_NOW} END AS state, \
                CAST((CASE WHEN {severe} THEN {SEVERE} ELSE 0 END){flags} AS BIGINT) AS flags \
         FROM persons p{joins} WHERE {}",
        persons_where(scope)
    ))
}

/// Settings for the per-person queries on PostgreSQL: no JIT, a plan for these dates, the
/// covering indexes rather than the tables. The counts ([`Query::Counts`]) are aggregated in
/// parallel (two workers and the leader, each its share of the persons, then the groups merged);
/// a drill-down list of one figure ([`Query::List`]) runs in one process, grouping by hashing.
async fn tune(tx: &mut Tx, query: Query) -> anyhow::Result<()> {
    if tx.backend() == super::Backend::Postgres {
        let sets: &[&str] = match query {
            Query::Counts => &["SET LOCAL max_parallel_workers_per_gather = 2"],
            Query::List => &[
                "SET LOCAL max_parallel_workers_per_gather = 0",
                "SET LOCAL enable_sort = off",
            ],
        };
        for set in [
            "SET LOCAL work_mem = '128MB'",
            "SET LOCAL plan_cache_mode = force_custom_plan",
            "SET LOCAL jit = off",
            "SET LOCAL enable_seqscan = off",
        ]
        .iter()
        .chain(sets)
        {
            on_tx!(tx, c => sqlx::query(set).execute(&mut **c).await.map(drop))?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Query {
    Counts,
    List,
}

/// The query's parameters: scope bounds, the day, the period's start, contacts a month, the
/// assessment window's start and the follow-up window's start (the day 12 months before).
fn person_params(
    scope: &Scope,
    period: &Period,
    rule: &StandardRule,
) -> (
    String,
    String,
    NaiveDate,
    NaiveDate,
    i64,
    NaiveDate,
    NaiveDate,
) {
    let (lo, hi) = scope.bounds();
    let since = period.end - chrono::Duration::days(rule.assessment_within_days);
    let year_before = period
        .end
        .checked_sub_months(chrono::Months::new(12))
        .unwrap_or(period.end);
    (
        lo,
        hi,
        period.end,
        period.start,
        rule.contacts_per_month,
        since,
        year_before,
    )
}

/// Persons by township, state on the day and facts, counted in one pass PostgreSQL runs in
/// parallel: grouped on the columns as stored (township, current state with a closing's reason,
/// diagnosis) and, for the persons with an event after the day, the state their last event by
/// then gave them; each fact summed. The diagnosis becomes [`SEVERE`] here, by the eligibility rule's ICD-10 prefixes
/// as `severe_sql` tests them.
async fn person_counts(
    tx: &mut Tx,
    scope: &Scope,
    period: &Period,
    rule: &StandardRule,
    parts: Parts,
) -> anyhow::Result<Vec<FactCount>> {
    tune(tx, Query::Counts).await?;
    let (joins, facts) = facts_sql(tx.backend(), period, rule, parts)?;
    let (within, township) = (persons_where(scope), "substr(p.residence_region, 1, 9)");
    // Per fact: how many of the group have it (0 when not asked for).
    let sums: String = FACTS
        .iter()
        .map(|bit| match facts.iter().find(|(b, _)| b == bit) {
            Some((_, cond)) => format!(", SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)"),
            None => ", CAST(0 AS BIGINT)".to_string(),
        })
        .collect();
    // The persons with an event after the day, each with the last event in effect on it (its
    // day, id and state, so that the greatest is the last; none: not yet registered, pending).
    let id = tx.backend().zero_padded("e.id", 19);
    let later = format!(
        "SELECT e.person_id, MAX(CASE WHEN e.effective_on <= $3 THEN CAST(e.effective_on AS TEXT) || {id} || '|' || e.to_state || ':' || COALESCE(e.close_reason, '') END) AS last \
         FROM registration_events e WHERE e.person_id IN (SELECT l.person_id FROM registration_events l WHERE l.effective_on > $3) GROUP BY e.person_id"
    );
    let (lo, hi, day, start, contacts, since, year_before) = person_params(scope, period, rule);
    let join = format!(" LEFT JOIN ({later}) w ON w.person_id = p.id");
    // One pass: the persons counted by township, current state (with a closing's reason),
    // diagnosis and, for those with an event after the day, their state on it.
    let sql = format!(
        "SELECT {township}, p.registration_state, p.close_reason, p.dx_bi3, \
                CASE WHEN w.person_id IS NULL THEN NULL ELSE COALESCE(substr(w.last, 31), 'pending:') END, COUNT(*){sums} \
         FROM persons p{joins}{join} WHERE {within} GROUP BY 1, 2, 3, 4, 5"
    );
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Vec<i64>,
    );
    let decode = |r: &dyn Fn(usize) -> Result<i64, sqlx::Error>| -> Result<Vec<i64>, sqlx::Error> {
        (5..5 + 1 + FACTS.len()).map(r).collect()
    };
    let rows: Vec<Row> = on_tx!(tx, c => {
        use sqlx::Row as _;
        let found = sqlx::query(&sql).bind(&lo).bind(&hi).bind(day).bind(start).bind(contacts).bind(since).bind(year_before).fetch_all(&mut **c).await?;
        found.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, decode(&|i| r.try_get::<i64, _>(i))?)))
            .collect::<Result<Vec<Row>, sqlx::Error>>()
    })?;
    let severe_set = severe_indexes(&tx.keys, &Rule::default_rule()?)?;
    let severe = |dx: &Option<String>| dx.as_ref().is_some_and(|h| severe_set.contains(h));
    let mut groups: std::collections::HashMap<(String, String, bool), FactCount> =
        std::collections::HashMap::new();
    for (t, st, reason, dx, on_the_day, counts) in rows {
        let (sev, state) = (
            severe(&dx),
            on_the_day.unwrap_or_else(|| format!("{st}:{}", reason.as_deref().unwrap_or(""))),
        );
        let g = groups
            .entry((t.clone(), state.clone(), sev))
            .or_insert_with(|| FactCount {
                township: t,
                state,
                severe: sev,
                persons: 0,
                with: [0; 10],
            });
        g.persons += counts[0];
        for (w, n) in g.with.iter_mut().zip(&counts[1..]) {
            *w += n;
        }
    }
    Ok(groups.into_values().filter(|g| g.persons != 0).collect())
}

/// What a drill-down lists: the persons, or the townships (by code), behind a figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Members {
    Persons(Vec<i64>),
    Townships(Vec<String>),
}

/// The persons (or townships) `what` counts in `scope` for `period`, as [`measure`] counts them.
pub async fn members(
    tx: &mut Tx,
    tree: &RegionTree,
    scope: &Scope,
    what: Measure,
    period: &Period,
    rule: &StandardRule,
) -> anyhow::Result<Members> {
    match what.unit() {
        Unit::Townships => {
            let m = measure(
                tx,
                tree,
                scope,
                (what, None),
                period,
                rule,
                &mut People::wanting([what]),
            )
            .await?;
            Ok(Members::Townships(
                m.by_township
                    .into_iter()
                    .filter(|(_, n)| *n > 0)
                    .map(|(t, _)| t)
                    .collect(),
            ))
        }
        Unit::Persons if what.parts().is_some() => {
            let parts = what.parts().unwrap_or_default();
            tune(tx, Query::List).await?;
            let sql = format!(
                "SELECT id, state, flags FROM ({}) s ORDER BY id",
                person_sql(&tx.keys, tx.backend(), scope, period, rule, parts)?
            );
            let (lo, hi, day, start, contacts, since, year_before) =
                person_params(scope, period, rule);
            let rows: Vec<(i64, String, i64)> = on_tx!(tx, c => sqlx::query_as(&sql)
                .bind(&lo).bind(&hi).bind(day).bind(start).bind(contacts).bind(since).bind(year_before)
                .fetch_all(&mut **c).await)?;
            Ok(Members::Persons(
                rows.into_iter()
                    .filter(|(_, st, f)| what.counts(rule, st, *f))
                    .map(|(id, _, _)| id)
                    .collect(),
            ))
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
    Ok(people
        .rows
        .as_ref()
        .map(|(_, r)| r.as_slice())
        .unwrap_or(&[]))
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
                Some(root) => tree
                    .townships_under(root)
                    .into_iter()
                    .map(|r| r.code.clone())
                    .collect(),
                None => tree
                    .townships_under("")
                    .into_iter()
                    .map(|r| r.code.clone())
                    .collect(),
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
                    rows.iter()
                        .filter(|g| what.count_in(rule, g) > 0)
                        .map(|g| g.township.clone())
                        .collect()
                }
            };
            let by_township: BTreeMap<String, i64> = towns
                .into_iter()
                .map(|t| {
                    let n = i64::from(having.contains(&t));
                    (t, n)
                })
                .collect();
            let total = by_township.values().sum();
            return Ok(Measured { by_township, total });
        }
        m @ (Measure::InRegistry
        | Measure::InRegistrySevere
        | Measure::InRegistryGeneral
        | Measure::Registered
        | Measure::Declined
        | Measure::Standard
        | Measure::Served
        | Measure::Managed
        | Measure::StandardManaged
        | Measure::FollowedUp
        | Measure::LostToFollowUp
        | Measure::OnMedication
        | Measure::RegularMedication
        | Measure::Unstable
        | Measure::UnstableCaseManaged) => {
            let rows = person_rows(tx, (scope, period, rule), what, people).await?;
            rows.iter()
                .map(|g| (g.township.clone(), m.count_in(rule, g)))
                .filter(|(_, n)| *n != 0)
                .collect()
        }
        Measure::NewSites => {
            let rows: Vec<(String, bool, i64)> = on_tx!(tx, c => sqlx::query_as(
                "SELECT region, urban, COUNT(*) FROM institutions WHERE region >= $1 AND region < $2 AND opened_on >= $3 AND opened_on <= $4 GROUP BY region, urban")
                .bind(&lo).bind(&hi).bind(start).bind(end).fetch_all(&mut **c).await)?;
            rows.into_iter()
                .filter(|(_, u, _)| urban.is_none_or(|w| w == *u))
                .map(|(r, _, n)| (r, n))
                .collect()
        }
        Measure::NewRegistered => {
            let rows = super::asof::events_between(tx, scope, "register", start, end).await?;
            rows.into_iter()
                .filter(|(t, _)| urban.is_none_or(|w| urban_township(tree, t) == Some(w)))
                .collect()
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
            m.total = rows
                .iter()
                .map(|(_, p)| p)
                .collect::<std::collections::BTreeSet<_>>()
                .len() as i64;
            return Ok(m);
        }
    };
    Ok(Measured::from_regions(by_region))
}
