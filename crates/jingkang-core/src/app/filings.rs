//! A township's filing of a report for a quarter (migration 0026): the figures entered by hand
//! (the definition's `manual` columns), then 填报 (the township) → 审核 (the district, which may
//! return it) → 签发 (the responsible person), each step with the name and day given. At 签发
//! the whole row — computed figures as of the quarter's end and the hand-entered ones — is kept
//! as it stood ([`Frozen`]); a signed filing never changes, whatever is corrected later. A
//! correction is a new version, started from the signed one, whose differences
//! ([`crate::report::diff`]) are shown against it. Every step is audited in its transaction;
//! refusals write nothing.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::care::family::problem;
use crate::care::service::FieldError;
use crate::care::standard::{Period, StandardRule};
use crate::on_tx;
use crate::regions::{RegionTree, Scope};
use crate::report::{Definition, Frozen, Source, compute};
use crate::store::audit::{self, Target};
use crate::store::{Actor, Tx, open_change_set};

/// The largest figure a hand-entered column takes.
pub const MAX_MANUAL: i64 = 1_000_000;

/// Where a filing stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilingState {
    /// 草稿 (or returned by the reviewer).
    Draft,
    /// 已填报, waiting for 审核.
    Filled,
    /// 已审核, waiting for 签发.
    Reviewed,
    /// 已签发: frozen.
    Signed,
}

impl FilingState {
    pub fn code(self) -> &'static str {
        match self {
            FilingState::Draft => "draft",
            FilingState::Filled => "filled",
            FilingState::Reviewed => "reviewed",
            FilingState::Signed => "signed",
        }
    }
    pub fn from_code(s: &str) -> Option<FilingState> {
        [
            FilingState::Draft,
            FilingState::Filled,
            FilingState::Reviewed,
            FilingState::Signed,
        ]
        .into_iter()
        .find(|f| f.code() == s)
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            FilingState::Draft => "草稿",
            FilingState::Filled => "已填报，待审核",
            FilingState::Reviewed => "已审核，待签发",
            FilingState::Signed => "已签发",
        }
    }
}

/// A filing as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Filing {
    pub id: i64,
    pub code: String,
    pub region: String,
    pub quarter: String,
    pub version: i64,
    pub state: FilingState,
    /// Hand-entered figures by column key.
    pub manual: BTreeMap<String, i64>,
    /// The row as signed (only when signed).
    pub snapshot: Option<Frozen>,
    pub filled_by: Option<String>,
    pub filled_on: Option<NaiveDate>,
    pub reviewed_by: Option<String>,
    pub reviewed_on: Option<NaiveDate>,
    pub signed_by: Option<String>,
    pub signed_on: Option<NaiveDate>,
}

type FilingRow = (
    i64,
    String,
    String,
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<NaiveDate>,
    Option<String>,
    Option<NaiveDate>,
    Option<String>,
    Option<NaiveDate>,
);

const COLS: &str = "id, code, region, quarter, version, state, manual, snapshot, filled_by, filled_on, reviewed_by, reviewed_on, signed_by, signed_on";

fn from_row(r: FilingRow) -> anyhow::Result<Filing> {
    Ok(Filing {
        id: r.0,
        code: r.1,
        region: r.2,
        quarter: r.3,
        version: r.4,
        state: FilingState::from_code(&r.5)
            .ok_or_else(|| anyhow::anyhow!("filing state {}", r.5))?,
        manual: serde_json::from_str(&r.6)?,
        snapshot: r.7.as_deref().map(serde_json::from_str).transpose()?,
        filled_by: r.8,
        filled_on: r.9,
        reviewed_by: r.10,
        reviewed_on: r.11,
        signed_by: r.12,
        signed_on: r.13,
    })
}

/// Every version of the filing of `region` for `quarter`, newest first (none outside `scope`).
pub async fn versions(
    tx: &mut Tx,
    scope: &Scope,
    code: &str,
    region: &str,
    quarter: &str,
) -> anyhow::Result<Vec<Filing>> {
    if !scope.contains(region) {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLS} FROM report_filings WHERE code = $1 AND region = $2 AND quarter = $3 ORDER BY version DESC"
    );
    let rows: Vec<FilingRow> = on_tx!(tx, c => sqlx::query_as(&sql).bind(code).bind(region).bind(quarter).fetch_all(&mut **c).await)?;
    rows.into_iter().map(from_row).collect()
}

/// Every version of every filing in `scope` for `quarter`, by region, the newest first (one query).
pub async fn history_in(
    tx: &mut Tx,
    scope: &Scope,
    code: &str,
    quarter: &str,
) -> anyhow::Result<BTreeMap<String, Vec<Filing>>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT {COLS} FROM report_filings WHERE code = $1 AND quarter = $2 AND region >= $3 AND region < $4 ORDER BY region, version DESC"
    );
    let rows: Vec<FilingRow> = on_tx!(tx, c => sqlx::query_as(&sql).bind(code).bind(quarter).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?;
    let mut out: BTreeMap<String, Vec<Filing>> = BTreeMap::new();
    for r in rows {
        let f = from_row(r)?;
        out.entry(f.region.clone()).or_default().push(f);
    }
    Ok(out)
}

async fn by_id(tx: &mut Tx, scope: &Scope, id: i64) -> anyhow::Result<Option<Filing>> {
    let sql = format!("SELECT {COLS} FROM report_filings WHERE id = $1");
    let row: Option<FilingRow> =
        on_tx!(tx, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?;
    Ok(row
        .map(from_row)
        .transpose()?
        .filter(|f| scope.contains(&f.region)))
}

/// Why nothing was written.
pub use crate::store::Refusal;
use crate::store::refuse;

fn signer(name: &str) -> Option<String> {
    let n = name.trim();
    (!n.is_empty() && n.chars().count() <= 50).then(|| n.to_string())
}

/// Check hand-entered figures against the definition: manual columns only, whole numbers from 0.
pub fn check_manual(def: &Definition, manual: &BTreeMap<String, i64>) -> Vec<FieldError> {
    let mut out = Vec::new();
    for (key, v) in manual {
        match def.columns.iter().find(|c| &c.key == key) {
            Some(c) if matches!(c.value, Source::Manual { .. }) => {
                if !(0..=MAX_MANUAL).contains(v) {
                    out.push(problem(
                        &format!("manual.{key}"),
                        "filing-value-invalid",
                        &[
                            ("key", key),
                            ("label", &c.label),
                            ("max", &MAX_MANUAL.to_string()),
                        ],
                    ));
                }
            }
            Some(c) => out.push(problem(
                &format!("manual.{key}"),
                "filing-column-computed",
                &[("key", key), ("label", &c.label)],
            )),
            None => out.push(problem(
                &format!("manual.{key}"),
                "filing-column-unknown",
                &[("key", key)],
            )),
        }
    }
    out
}

/// Save the hand-entered figures of `region`'s filing for `quarter` (a draft, created when there
/// is none), and with `submit_as` 填报 it under that name on `today`.
#[allow(clippy::too_many_arguments)]
pub async fn save(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    def: &Definition,
    (region, quarter): (&str, &str),
    manual: &BTreeMap<String, i64>,
    submit_as: Option<&str>,
    today: NaiveDate,
) -> anyhow::Result<Result<i64, Refusal>> {
    if !scope.contains(region) {
        return Ok(Err(Refusal::NotFound));
    }
    if region.len() != 9 {
        return refuse("region", "filing-region-not-township", &[]);
    }
    let problems = check_manual(def, manual);
    if !problems.is_empty() {
        return Ok(Err(Refusal::Problems(problems)));
    }
    let name = match submit_as.map(signer) {
        Some(None) => return refuse("name", "filing-name-missing", &[]),
        Some(Some(n)) => Some(n),
        None => None,
    };
    let latest = versions(tx, scope, &def.code, region, quarter)
        .await?
        .into_iter()
        .next();
    if let Some(f) = latest.as_ref().filter(|f| f.state != FilingState::Draft) {
        return refuse(
            "state",
            if f.state == FilingState::Signed {
                "filing-signed"
            } else {
                "filing-not-draft"
            },
            &[("state", f.state.label_zh())],
        );
    }
    let state = if name.is_some() {
        FilingState::Filled
    } else {
        FilingState::Draft
    };
    let json = serde_json::to_string(manual)?;
    let change = open_change_set(
        tx,
        actor,
        "report",
        if name.is_some() { "fill" } else { "save" },
    )
    .await?;
    let id = match latest {
        Some(f) => {
            on_tx!(tx, c => sqlx::query("UPDATE report_filings SET manual = $1, state = $2, filled_by = $3, filled_on = $4, change_id = $5 WHERE id = $6")
                .bind(&json).bind(state.code()).bind(&name).bind(name.as_ref().map(|_| today)).bind(change).bind(f.id).execute(&mut **c).await.map(drop))?;
            f.id
        }
        None => on_tx!(tx, c => sqlx::query_scalar(
            "INSERT INTO report_filings (code, region, quarter, version, state, manual, filled_by, filled_on, change_id) VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8) RETURNING id")
            .bind(&def.code).bind(region).bind(quarter).bind(state.code()).bind(&json).bind(&name).bind(name.as_ref().map(|_| today)).bind(change)
            .fetch_one(&mut **c).await)?,
    };
    audit::record(
        tx,
        actor,
        if name.is_some() {
            "report.fill"
        } else {
            "report.save"
        },
        Some(Target::region(region)),
        serde_json::json!({"report": def.code, "quarter": quarter, "filing": id}),
    )
    .await?;
    Ok(Ok(id))
}

/// 审核: approve a filled filing under `name` on `today`, or return it to a draft (with `reason`).
#[allow(clippy::too_many_arguments)]
pub async fn review(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    id: i64,
    name: &str,
    approve: bool,
    reason: &str,
    today: NaiveDate,
) -> anyhow::Result<Result<(), Refusal>> {
    let Some(f) = by_id(tx, scope, id).await? else {
        return Ok(Err(Refusal::NotFound));
    };
    if f.state != FilingState::Filled {
        return refuse("state", "filing-state", &[("state", f.state.label_zh())]);
    }
    let Some(name) = signer(name) else {
        return refuse("name", "filing-name-missing", &[]);
    };
    if !approve && reason.trim().is_empty() {
        return refuse("reason", "filing-return-reason", &[]);
    }
    let change = open_change_set(
        tx,
        actor,
        "report",
        if approve { "review" } else { "return" },
    )
    .await?;
    if approve {
        on_tx!(tx, c => sqlx::query("UPDATE report_filings SET state = 'reviewed', reviewed_by = $1, reviewed_on = $2, change_id = $3 WHERE id = $4")
            .bind(&name).bind(today).bind(change).bind(id).execute(&mut **c).await.map(drop))?;
    } else {
        on_tx!(tx, c => sqlx::query("UPDATE report_filings SET state = 'draft', filled_by = NULL, filled_on = NULL, change_id = $1 WHERE id = $2")
            .bind(change).bind(id).execute(&mut **c).await.map(drop))?;
    }
    audit::record(tx, actor, if approve { "report.review" } else { "report.return" }, Some(Target::region(&f.region)),
        serde_json::json!({"report": f.code, "quarter": f.quarter, "filing": id, "reason_given": !approve})).await?;
    Ok(Ok(()))
}

/// 签发: freeze a reviewed filing under `name` on `today` — its row computed now as of the
/// quarter's end, with the hand-entered figures, kept as it stands.
#[allow(clippy::too_many_arguments)]
pub async fn sign(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    (tree, def, rule): (&RegionTree, &Definition, &StandardRule),
    id: i64,
    name: &str,
    today: NaiveDate,
) -> anyhow::Result<Result<Frozen, Refusal>> {
    let Some(f) = by_id(tx, scope, id).await? else {
        return Ok(Err(Refusal::NotFound));
    };
    if f.state != FilingState::Reviewed {
        return refuse("state", "filing-state", &[("state", f.state.label_zh())]);
    }
    let Some(name) = signer(name) else {
        return refuse("name", "filing-name-missing", &[]);
    };
    let (period, region) = match (Period::parse_quarter(&f.quarter), tree.get(&f.region)) {
        (Some(p), Some(r)) => (p, r),
        _ => anyhow::bail!("filing {id}: quarter {} or region {}", f.quarter, f.region),
    };
    let report = compute(
        tx,
        tree,
        (&Scope::of(region), region),
        def,
        (&period, &f.quarter),
        rule,
    )
    .await?;
    let frozen = Frozen::of(&report, &f.manual);
    let change = open_change_set(tx, actor, "report", "sign").await?;
    on_tx!(tx, c => sqlx::query("UPDATE report_filings SET state = 'signed', snapshot = $1, signed_by = $2, signed_on = $3, change_id = $4 WHERE id = $5")
        .bind(serde_json::to_string(&frozen)?).bind(&name).bind(today).bind(change).bind(id).execute(&mut **c).await.map(drop))?;
    audit::record(
        tx,
        actor,
        "report.sign",
        Some(Target::region(&f.region)),
        serde_json::json!({"report": f.code, "quarter": f.quarter, "filing": id}),
    )
    .await?;
    Ok(Ok(frozen))
}

/// 更正: start version n + 1 from a signed filing (its hand-entered figures copied). Returns its id.
pub async fn correct(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    id: i64,
) -> anyhow::Result<Result<i64, Refusal>> {
    let Some(f) = by_id(tx, scope, id).await? else {
        return Ok(Err(Refusal::NotFound));
    };
    let latest = versions(tx, scope, &f.code, &f.region, &f.quarter)
        .await?
        .into_iter()
        .next()
        .map_or(0, |l| l.version);
    if f.state != FilingState::Signed || f.version != latest {
        return refuse("state", "filing-correct-latest-signed", &[]);
    }
    let change = open_change_set(tx, actor, "report", "correct").await?;
    let new: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO report_filings (code, region, quarter, version, state, manual, change_id) VALUES ($1, $2, $3, $4, 'draft', $5, $6) RETURNING id")
        .bind(&f.code).bind(&f.region).bind(&f.quarter).bind(f.version + 1).bind(serde_json::to_string(&f.manual)?).bind(change)
        .fetch_one(&mut **c).await)?;
    audit::record(tx, actor, "report.correct", Some(Target::region(&f.region)),
        serde_json::json!({"report": f.code, "quarter": f.quarter, "filing": new, "version": f.version + 1})).await?;
    Ok(Ok(new))
}

/// A report as everyone reads it — the page, its print and xlsx, the API and the command line:
/// computed for `region` as of `period`'s end, with the filings of the quarter (`label`) laid over
/// it (`overlay`: signed rows frozen, hand-entered figures filled in). Returns the report, each
/// region's latest filing and every filing by region, newest first.
pub async fn assemble(
    tx: &mut Tx,
    tree: &RegionTree,
    (scope, region): (&Scope, &crate::regions::Region),
    def: &Definition,
    (period, label): (&Period, &str),
    rule: &StandardRule,
) -> anyhow::Result<(
    crate::report::Report,
    BTreeMap<String, Filing>,
    BTreeMap<String, Vec<Filing>>,
)> {
    let mut report =
        crate::report::compute(tx, tree, (scope, region), def, (period, label), rule).await?;
    let history = history_in(tx, scope, &def.code, label).await?;
    let latest: BTreeMap<String, Filing> = history
        .iter()
        .filter_map(|(region, v)| v.first().map(|f| (region.clone(), f.clone())))
        .collect();
    overlay(def, &mut report, &latest);
    Ok((report, latest, history))
}

/// The report as its readers see it: a township whose latest filing is signed shows the row as
/// signed; any other shows today's figures with its hand-entered ones. The total keeps today's
/// figures, with the hand-entered columns summed over the filings.
pub fn overlay(
    def: &Definition,
    report: &mut crate::report::Report,
    latest: &BTreeMap<String, Filing>,
) {
    use crate::report::Cell;
    for row in &mut report.rows {
        let Some(f) = latest.get(&row.region) else {
            continue;
        };
        match &f.snapshot {
            Some(frozen) if f.state == FilingState::Signed => {
                if let Some(signed) = frozen.rows.first() {
                    for c in &def.columns {
                        let v = signed.columns.get(&c.key).copied().flatten();
                        let cell = match c.value {
                            Source::Manual { .. } => Cell::Manual(v),
                            Source::Ratio { .. } => Cell::Percent(v),
                            Source::Count { .. } => Cell::Count(v.map_or(0, |n| n as i64)),
                        };
                        row.columns.insert(c.key.clone(), cell);
                    }
                }
            }
            _ => {
                for (k, v) in &f.manual {
                    if let Some(Cell::Manual(slot)) = row.columns.get_mut(k) {
                        *slot = Some(*v as f64);
                    }
                }
            }
        }
    }
    for c in def
        .columns
        .iter()
        .filter(|c| matches!(c.value, Source::Manual { .. }))
    {
        let sum: Option<f64> = report
            .rows
            .iter()
            .filter_map(|r| r.columns.get(&c.key).and_then(Cell::number))
            .fold(None, |a, v| Some(a.unwrap_or(0.0) + v));
        report
            .total
            .columns
            .insert(c.key.clone(), Cell::Manual(sum));
    }
}
