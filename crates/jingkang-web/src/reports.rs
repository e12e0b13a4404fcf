//! 附件2 季度推进情况汇总表 pages (SPEC §9): the report of the user's area for a quarter, computed
//! as of its last day (a township's signed filing shown as signed), who has filed and who has
//! not; the township enters its hand-entered columns and 填报; the district (民政) 审核 or 退回, and
//! 签发; a signed filing is frozen and a correction is a new version whose differences are shown.
//! Download in the official .xlsx layout (with a reason, audited) and a print view.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jingkang_core::accounts::policy::Permission;
use jingkang_core::app::filings::{self, Filing, FilingState, Refusal};
use jingkang_core::care::standard::{Period, StandardRule};
use jingkang_core::domain::period::Quarter;
use jingkang_core::report::{Cell, Definition, Difference, Report, diff};
use jingkang_core::store::audit::{self, Target};
use jingkang_core::store::batch::Outcome;
use serde::Deserialize;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::entry::today;
use crate::error::{AppError, AppResult};
use crate::extract::{Form, Query};
use crate::pages::Chrome;

const CODE: &str = "fujian2";

fn definition() -> AppResult<Definition> {
    Ok(Definition::shipped(CODE)?)
}

/// The quarter asked for (`2026Q3`), or the current one (a report is filed before its quarter
/// ends).
fn quarter_of(text: &str) -> AppResult<(Period, String)> {
    let q = if text.trim().is_empty() {
        Quarter::current()
    } else {
        Quarter::parse(text)
            .ok_or_else(|| AppError::BadRequest("standard-quarter-invalid".into()))?
    };
    Ok((q.period(), q.code()))
}

/// The last eight quarters and the current one, newest first.
fn quarters(selected: &str) -> Vec<(String, String, bool)> {
    Quarter::current()
        .back(9)
        .into_iter()
        .map(|q| (q.code(), q.label_zh(), q.code() == selected))
        .collect()
}

/// The report of the user's area with its filings laid over it.
async fn assemble(
    state: &AppState,
    who: &CurrentUser,
    period: &Period,
    quarter: &str,
) -> AppResult<(
    Definition,
    Report,
    BTreeMap<String, Filing>,
    BTreeMap<String, Vec<Filing>>,
)> {
    let def = definition()?;
    let region = state
        .tree
        .get(&who.user.region_code)
        .ok_or_else(|| AppError::BadRequest("region-unknown".into()))?
        .clone();
    let mut tx = state.db.begin_read().await?;
    let (report, latest, history) = filings::assemble(
        &mut tx,
        &state.tree,
        (&who.scope, &region),
        &def,
        (period, quarter),
        &StandardRule::shipped()?,
    )
    .await?;
    tx.commit().await?;
    Ok((def, report, latest, history))
}

pub struct Head {
    key: String,
    label: String,
    manual: bool,
}

/// A township's own filing on the page: its region, the hand-entered columns as (key, label,
/// value), and whether it can still be edited.
type OwnFiling = (String, Vec<(String, String, String)>, bool);

pub struct GroupHead {
    label: String,
    span: usize,
}

pub struct Line {
    /// The region's own level (区县本级): counted, not filed.
    own_level: bool,
    region: String,
    name: String,
    cells: Vec<String>,
    state: String,
    signed: bool,
    filing: Option<i64>,
    can_review: bool,
    can_sign: bool,
    can_correct: bool,
    steps: String,
    changes: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "report.html")]
pub struct Page {
    chrome: Option<Chrome>,
    csrf: String,
    title: String,
    period: String,
    quarter: String,
    quarters: Vec<(String, String, bool)>,
    groups: Vec<GroupHead>,
    heads: Vec<Head>,
    lines: Vec<Line>,
    total: Vec<String>,
    total_label: String,
    not_filed: Vec<String>,
    /// The township user's own row: the hand-entered columns to fill, with their values.
    own: Option<OwnFiling>,
    signer: String,
    errors: Vec<String>,
    notice: Option<String>,
    note: String,
    signatures: Vec<String>,
    print: bool,
}

fn show(c: Option<&Cell>) -> String {
    match c {
        Some(Cell::Count(n)) => n.to_string(),
        Some(Cell::Percent(Some(p))) => format!("{p:.1}"),
        Some(Cell::Manual(Some(v))) => format!("{v}"),
        Some(Cell::Manual(None)) => "待填".to_string(),
        Some(Cell::Percent(None)) | None => "—".to_string(),
    }
}

fn steps(f: &Filing) -> String {
    let mut out = Vec::new();
    if let (Some(n), Some(d)) = (&f.filled_by, f.filled_on) {
        out.push(format!("填报 {n} {d}"));
    }
    if let (Some(n), Some(d)) = (&f.reviewed_by, f.reviewed_on) {
        out.push(format!("审核 {n} {d}"));
    }
    if let (Some(n), Some(d)) = (&f.signed_by, f.signed_on) {
        out.push(format!("签发 {n} {d}"));
    }
    if f.version > 1 {
        out.push(format!("第 {} 版", f.version));
    }
    out.join("；")
}

fn change_lines(def: &Definition, d: &[Difference]) -> Vec<String> {
    d.iter()
        .filter(|c| c.name != def.total_label)
        .map(|c| {
            let label = def
                .columns
                .iter()
                .find(|x| x.key == c.key)
                .map_or(c.key.as_str(), |x| x.label.as_str());
            let v = |x: Option<f64>| x.map_or_else(|| "—".to_string(), |n| format!("{n}"));
            format!(
                "第 {} 列 {}：{} → {}",
                c.key,
                label,
                v(c.before),
                v(c.after)
            )
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
async fn page_of(
    state: &AppState,
    who: &CurrentUser,
    q: &str,
    errors: Vec<String>,
    notice: Option<String>,
    typed: Option<&BTreeMap<String, String>>,
    print: bool,
) -> AppResult<Page> {
    let (period, quarter) = quarter_of(q)?;
    let (def, report, latest, history) = assemble(state, who, &period, &quarter).await?;
    let mut groups = Vec::new();
    for c in &def.columns {
        match def.groups.iter().find(|g| g.columns.contains(&c.key)) {
            Some(g) if g.columns.first() == Some(&c.key) => groups.push(GroupHead {
                label: g.label.clone(),
                span: g.columns.len(),
            }),
            Some(_) => {}
            None => groups.push(GroupHead {
                label: String::new(),
                span: 1,
            }),
        }
    }
    let heads = def
        .columns
        .iter()
        .map(|c| Head {
            key: c.key.clone(),
            label: c.label.clone(),
            manual: matches!(c.value, jingkang_core::report::Source::Manual { .. }),
        })
        .collect();
    let role = who.user.role;
    let lines = report
        .rows
        .iter()
        .map(|r| {
            let f = latest.get(&r.region);
            // The row of the region's own level (区县本级) is counted, never filed.
            let own_level = r.region == report.region;
            let state_label = if own_level {
                "无需填报".to_string()
            } else {
                f.map_or("未填报", |f| f.state.label_zh()).to_string()
            };
            // The changes of the latest signed version against the one before it.
            let signed: Vec<&Filing> = history
                .get(&r.region)
                .map(|v| {
                    v.iter()
                        .filter(|f| f.state == FilingState::Signed)
                        .collect()
                })
                .unwrap_or_default();
            let changes = match (
                signed.first().and_then(|f| f.snapshot.as_ref()),
                signed.get(1).and_then(|f| f.snapshot.as_ref()),
            ) {
                (Some(now), Some(before)) => change_lines(&def, &diff(before, now)),
                _ => Vec::new(),
            };
            Line {
                own_level,
                region: r.region.clone(),
                name: r.name.clone(),
                cells: def
                    .columns
                    .iter()
                    .map(|c| show(r.columns.get(&c.key)))
                    .collect(),
                state: state_label,
                signed: f.is_some_and(|f| f.state == FilingState::Signed),
                filing: f.map(|f| f.id),
                can_review: role.may(Permission::ReviewReports)
                    && f.is_some_and(|f| f.state == FilingState::Filled),
                can_sign: role.may(Permission::ReviewReports)
                    && f.is_some_and(|f| f.state == FilingState::Reviewed),
                can_correct: role.may(Permission::ReadReports)
                    && f.is_some_and(|f| f.state == FilingState::Signed),
                steps: f.map(steps).unwrap_or_default(),
                changes,
            }
        })
        .collect::<Vec<_>>();
    let not_filed = report
        .rows
        .iter()
        .filter(|r| {
            r.region != report.region
                && latest
                    .get(&r.region)
                    .is_none_or(|f| f.state == FilingState::Draft)
        })
        .map(|r| r.name.clone())
        .collect();
    // A township's own filing: its hand-entered columns (what was typed, else what is saved).
    let own = (role.may(Permission::FileReports) && who.user.region_code.len() == 9).then(|| {
        let f = latest.get(&who.user.region_code);
        let editable = f.is_none_or(|f| f.state == FilingState::Draft);
        let fields = def
            .columns
            .iter()
            .filter(|c| matches!(c.value, jingkang_core::report::Source::Manual { .. }))
            .map(|c| {
                let saved = f
                    .and_then(|f| f.manual.get(&c.key))
                    .map(|v| v.to_string())
                    .unwrap_or_default();
                let value = typed
                    .and_then(|t| t.get(&format!("m{}", c.key)).cloned())
                    .unwrap_or(saved);
                (c.key.clone(), c.label.clone(), value)
            })
            .collect();
        (who.user.region_code.clone(), fields, editable)
    });
    Ok(Page {
        chrome: (!print).then(|| Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        title: format!(
            "{}{}",
            report
                .region_name
                .rsplit(" / ")
                .next()
                .unwrap_or(&report.region_name),
            def.name
        ),
        period: format!("{}（截至 {}）", period.label_zh(), period.end),
        quarters: quarters(&quarter),
        quarter,
        groups,
        heads,
        lines,
        total: def
            .columns
            .iter()
            .map(|c| show(report.total.columns.get(&c.key)))
            .collect(),
        total_label: def.total_label.clone(),
        not_filed,
        own,
        signer: who.user.display_name.clone(),
        errors,
        notice,
        note: def.note.clone(),
        signatures: def.signatures.clone(),
        print,
    })
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    quarter: String,
    #[serde(default)]
    done: String,
    /// After a sign: the region whose row was signed.
    #[serde(default)]
    row: String,
}

/// After a sign: which row was signed (frozen) and how many rows of the quarter remain unsigned.
fn signed_notice(lines: &[Line], row: &str) -> Option<String> {
    let signed = lines.iter().find(|l| l.region == row)?;
    let filed: Vec<&Line> = lines.iter().filter(|l| !l.own_level).collect();
    let remain = filed.iter().filter(|l| !l.signed).count();
    Some(if remain == 0 {
        format!(
            "已签发{}的报表，该行已冻结；本季度全部 {} 行均已签发。",
            signed.name,
            lines.len()
        )
    } else {
        format!(
            "已签发{}的报表，该行已冻结；本季度还有 {remain} 行（共 {} 行）未签发。",
            signed.name,
            filed.len()
        )
    })
}

fn notice_of(done: &str) -> Option<String> {
    let text = match done {
        "save" => "已保存草稿。",
        "fill" => "已填报，等待区民政局审核。",
        "review" => "已审核通过。",
        "return" => "已退回镇街修改。",
        // Replaced by the row signed and how many remain (`signed_notice`) when the row is known.
        "sign" => "已签发，该行已冻结。",
        "correct" => "已生成更正版本（草稿），请修改后重新填报。",
        _ => return None,
    };
    Some(text.to_string())
}

/// The report of the user's area for a quarter.
pub async fn page(
    State(state): State<AppState>,
    who: CurrentUser,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let mut page = page_of(
        &state,
        &who,
        &q.quarter,
        Vec::new(),
        notice_of(&q.done),
        None,
        false,
    )
    .await?;
    if q.done == "sign"
        && let Some(n) = signed_notice(&page.lines, &q.row)
    {
        page.notice = Some(n);
    }
    Ok(page.into_response())
}

/// The print view: the same table without the menu, with the note and signature line.
pub async fn print(
    State(state): State<AppState>,
    who: CurrentUser,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    Ok(
        page_of(&state, &who, &q.quarter, Vec::new(), None, None, true)
            .await?
            .into_response(),
    )
}

fn refusal_messages(r: Refusal) -> AppResult<Vec<String>> {
    match r {
        Refusal::NotFound => Err(AppError::NotFound),
        Refusal::Problems(p) => Ok(p.into_iter().map(|e| e.message).collect()),
    }
}

/// Save the township's hand-entered figures; with `submit=1`, 填报 under the name given.
pub async fn save(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let values: BTreeMap<String, String> = pairs.into_iter().collect();
    let quarter = values.get("quarter").cloned().unwrap_or_default();
    let (_, quarter) = quarter_of(&quarter)?;
    let def = definition()?;
    let mut manual = BTreeMap::new();
    let mut errors = Vec::new();
    for c in def
        .columns
        .iter()
        .filter(|c| matches!(c.value, jingkang_core::report::Source::Manual { .. }))
    {
        let text = values.get(&format!("m{}", c.key)).map_or("", |s| s.trim());
        if text.is_empty() {
            continue;
        }
        match text.parse::<i64>() {
            Ok(n) => {
                manual.insert(c.key.clone(), n);
            }
            Err(_) => errors.push(jingkang_core::messages::render(
                "filing-value-invalid",
                &[
                    ("key", &c.key),
                    ("label", &c.label),
                    ("max", &filings::MAX_MANUAL.to_string()),
                ],
            )),
        }
    }
    let submit = values.get("submit").is_some_and(|s| s == "1");
    if errors.is_empty() {
        let name = values.get("name").cloned().unwrap_or_default();
        let (scope, actor, region, q, def) = (
            who.scope.clone(),
            who.user.actor(),
            who.user.region_code.clone(),
            quarter.clone(),
            def.clone(),
        );
        let outcome = state
            .writes
            .run(move |tx| {
                let (scope, actor, region, q, def, manual, name) = (
                    scope.clone(),
                    actor.clone(),
                    region.clone(),
                    q.clone(),
                    def.clone(),
                    manual.clone(),
                    name.clone(),
                );
                Box::pin(async move {
                    let r = filings::save(
                        tx,
                        &scope,
                        &actor,
                        &def,
                        (&region, &q),
                        &manual,
                        submit.then_some(name.as_str()),
                        today(),
                    )
                    .await?;
                    Ok(Outcome::Keep(r))
                })
            })
            .await?;
        match outcome {
            Ok(_) => {
                return Ok(Redirect::to(&format!(
                    "/reports/fujian2?quarter={quarter}&done={}",
                    if submit { "fill" } else { "save" }
                ))
                .into_response());
            }
            Err(r) => errors = refusal_messages(r)?,
        }
    }
    Ok((
        StatusCode::UNPROCESSABLE_ENTITY,
        page_of(&state, &who, &quarter, errors, None, Some(&values), false).await?,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct StepForm {
    #[serde(default)]
    quarter: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
}

async fn after_step(
    state: &AppState,
    who: &CurrentUser,
    quarter: &str,
    done: &str,
    outcome: Result<Option<String>, Refusal>,
) -> AppResult<Response> {
    let (_, quarter) = quarter_of(quarter)?;
    match outcome {
        Ok(row) => Ok(Redirect::to(&format!(
            "/reports/fujian2?quarter={quarter}&done={done}{}",
            row.filter(|r| r.bytes().all(|b| b.is_ascii_digit()))
                .map(|r| format!("&row={r}"))
                .unwrap_or_default()
        ))
        .into_response()),
        Err(r) => {
            let errors = refusal_messages(r)?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                page_of(state, who, &quarter, errors, None, None, false).await?,
            )
                .into_response())
        }
    }
}

/// 审核: approve (`decision=approve`) or return with a reason.
pub async fn review(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Form(form): Form<StepForm>,
) -> AppResult<Response> {
    let approve = form.decision == "approve";
    let (scope, actor, name, reason) = (
        who.scope.clone(),
        who.user.actor(),
        form.name.clone(),
        form.reason.clone(),
    );
    let outcome = state
        .writes
        .run(move |tx| {
            let (scope, actor, name, reason) =
                (scope.clone(), actor.clone(), name.clone(), reason.clone());
            Box::pin(async move {
                Ok(Outcome::Keep(
                    filings::review(tx, &scope, &actor, id, &name, approve, &reason, today())
                        .await?,
                ))
            })
        })
        .await?;
    after_step(
        &state,
        &who,
        &form.quarter,
        if approve { "review" } else { "return" },
        outcome.map(|()| None),
    )
    .await
}

/// 签发: freeze a reviewed filing.
pub async fn sign(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Form(form): Form<StepForm>,
) -> AppResult<Response> {
    let def = definition()?;
    let (scope, actor, name, tree) = (
        who.scope.clone(),
        who.user.actor(),
        form.name.clone(),
        state.tree.clone(),
    );
    let outcome = state
        .writes
        .run(move |tx| {
            let (scope, actor, name, tree, def) = (
                scope.clone(),
                actor.clone(),
                name.clone(),
                tree.clone(),
                def.clone(),
            );
            Box::pin(async move {
                let rule = StandardRule::shipped()?;
                Ok(Outcome::Keep(
                    filings::sign(tx, &scope, &actor, (&tree, &def, &rule), id, &name, today())
                        .await?
                        .map(|frozen| frozen.rows.first().map(|r| r.region.clone())),
                ))
            })
        })
        .await?;
    after_step(&state, &who, &form.quarter, "sign", outcome).await
}

/// 更正: a new version from the latest signed one.
pub async fn correct(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Form(form): Form<StepForm>,
) -> AppResult<Response> {
    let (scope, actor) = (who.scope.clone(), who.user.actor());
    let outcome = state
        .writes
        .run(move |tx| {
            let (scope, actor) = (scope.clone(), actor.clone());
            Box::pin(async move {
                Ok(Outcome::Keep(
                    filings::correct(tx, &scope, &actor, id).await?.map(drop),
                ))
            })
        })
        .await?;
    after_step(
        &state,
        &who,
        &form.quarter,
        "correct",
        outcome.map(|()| None),
    )
    .await
}

/// The report in the official .xlsx layout; a reason is required and audited with the export.
pub async fn export(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(form): Form<StepForm>,
) -> AppResult<Response> {
    let Some(reason) = crate::downloads::reason_of(&form.reason) else {
        let errors = crate::downloads::reason_missing().into_iter().collect();
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            page_of(&state, &who, &form.quarter, errors, None, None, false).await?,
        )
            .into_response());
    };
    let (period, quarter) = quarter_of(&form.quarter)?;
    let (def, report, _, _) = assemble(&state, &who, &period, &quarter).await?;
    let bytes = jingkang_core::export::report::to_xlsx(&def, &report)?;
    let mut tx = state.db.begin().await?;
    audit::record(&mut tx, &who.user.actor(), "report.export", Some(Target::region(&who.user.region_code)),
        serde_json::json!({"report": CODE, "quarter": quarter, "rows": report.rows.len(), "reason": reason})).await?;
    tx.commit().await?;
    Ok(crate::imports::xlsx_download(
        &format!("{}-{quarter}.xlsx", def.name),
        bytes,
    ))
}
