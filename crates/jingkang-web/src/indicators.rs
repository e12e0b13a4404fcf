//! Indicators against targets (SPEC §9): for a quarter and a region of the user's area, every
//! indicator of `data/indicators.json` (or the deployment's file) by child region and in total,
//! beside its definition and the year's target, with a chart of the regions against the target
//! and a chart of the last four quarters — each chart with its table. Any figure opens the list
//! behind it (the persons, scope and masking applied, or the townships), which can be
//! downloaded as .xlsx with a reason. Every list and download is audited.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Datelike;
use jingkang_core::care::standard::{Period, StandardRule};
use jingkang_core::domain::period::Quarter;
use jingkang_core::export::table::{self, Table, Value};
use jingkang_core::regions::{Region, Scope};
use jingkang_core::report::indicators::{Figure, Indicator, board_regions, quarters_to};
use jingkang_core::store::audit::{self, Target};
use jingkang_core::store::batch::Outcome;
use jingkang_core::store::report::{Members, members};
use jingkang_core::store::worklists::{self, WorkItem};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::boards::{Ask, Boards, Kept};
use crate::entry::today;
use crate::error::{AppError, AppResult};
use crate::extract::{Form, Query};
use crate::pages::Chrome;

/// Persons on one page of a drill-down.
const PAGE: usize = 50;
/// At most this many persons in one download.
const EXPORT_MAX: usize = 100_000;

#[derive(Deserialize, Default)]
pub struct BoardQuery {
    #[serde(default)]
    quarter: String,
    #[serde(default)]
    region: String,
    /// `1`: compute the board anew rather than show the one kept (`boards`).
    #[serde(default)]
    fresh: String,
}

/// The quarter asked for (`2026Q3`), or the last whole one.
fn quarter_of(text: &str) -> AppResult<(Period, String)> {
    let q = if text.trim().is_empty() {
        Quarter::last_complete()
    } else {
        Quarter::parse(text)
            .ok_or_else(|| AppError::BadRequest("standard-quarter-invalid".into()))?
    };
    Ok((q.period(), q.code()))
}

/// The region asked for, inside the user's area (default: the user's own); the scope to count
/// it in keeps the user's site. Outside the area answers like an unknown region.
fn region_of<'a>(
    state: &'a AppState,
    who: &CurrentUser,
    code: &str,
) -> AppResult<(&'a Region, Scope)> {
    let code = if code.trim().is_empty() {
        who.user.region_code.as_str()
    } else {
        code.trim()
    };
    let region = state
        .tree
        .get(code)
        .filter(|r| who.scope.contains(r.prefix()))
        .ok_or(AppError::NotFound)?;
    Ok((region, who.scope.narrowed_to(region)))
}

fn percent(f: &Figure) -> String {
    f.percent
        .map_or_else(|| "—".to_string(), |p| format!("{p:.1}%"))
}

pub struct Cell {
    region: String,
    name: String,
    numerator: i64,
    denominator: i64,
    percent: String,
    met: Option<bool>,
    /// A region with regions under it opens its own board.
    deeper: bool,
}

pub struct Card {
    code: String,
    label: String,
    definition: String,
    target: String,
    unit: &'static str,
    total: Cell,
    cells: Vec<Cell>,
    chart: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "indicators.html")]
pub struct Page {
    chrome: Option<Chrome>,
    period: String,
    quarter: String,
    quarters: Vec<(String, String, bool)>,
    region: String,
    region_name: String,
    /// Links up to the user's own region: (code, name).
    path: Vec<(String, String)>,
    cards: Vec<Card>,
    /// When the board shown was computed (Beijing time), and for how long one is reused.
    computed_at: String,
    minutes_kept: i64,
}

/// The last eight whole quarters, newest first.
fn quarters(selected: &str) -> Vec<(String, String, bool)> {
    Quarter::current()
        .back(9)
        .into_iter()
        .map(|q| (q.code(), q.label_zh(), q.code() == selected))
        .collect()
}

fn drill(code: &str, region: &str, quarter: &str, part: &str) -> String {
    format!("/indicators/list?code={code}&region={region}&quarter={quarter}&part={part}")
}

pub async fn page(
    State(state): State<AppState>,
    who: CurrentUser,
    Query(q): Query<BoardQuery>,
) -> AppResult<Response> {
    let (period, quarter) = quarter_of(&q.quarter)?;
    let (region, scope) = region_of(&state, &who, &q.region)?;
    let defs = state.indicators.clone();
    let ask = Ask {
        scope: scope.clone(),
        region: region.code.clone(),
        period,
        quarter: quarter.clone(),
    };
    let Kept { board: b, at } = Boards::get(&state, ask, q.fresh == "1").await?;
    let rows = board_regions(&state.tree, region);
    let cards = defs
        .indicators
        .iter()
        .zip(&b.values)
        .map(|(def, v)| {
            let target = v.target;
            let cell = |code: &str, name: &str, f: &Figure, deeper: bool| Cell {
                region: code.to_string(),
                name: name.to_string(),
                numerator: f.numerator,
                denominator: f.denominator,
                percent: percent(f),
                met: target.and_then(|t| f.percent.map(|p| t.met(p))),
                deeper,
            };
            let cells: Vec<Cell> = rows.iter().zip(&v.by_region).map(|(r, f)| cell(&r.code, &r.name, f, r.code != region.code && r.code.len() < 9)).collect();
            let chart = json!({
                "kind": "bar",
                "title": def.label,
                "names": rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
                "values": v.by_region.iter().map(|f| f.percent).collect::<Vec<_>>(),
                "target": target.map(|t| t.min),
                "links": rows.iter().map(|r| drill(&def.code, &r.code, &quarter, "numerator")).collect::<Vec<_>>(),
            });
            Card {
                code: def.code.clone(),
                label: def.label.clone(),
                definition: def.definition.clone(),
                target: target.map_or_else(|| "未设目标".to_string(), |t| format!("{}年目标 {}", period.end.format("%Y"), t.label_zh())),
                unit: unit_label(def),
                total: cell(&region.code, "合计", &v.total, false),
                cells,
                chart: chart.to_string(),
            }
        })
        .collect();
    let mut path: Vec<(String, String)> = state
        .tree
        .path(&region.code)
        .into_iter()
        .filter(|r| who.scope.contains(r.prefix()))
        .map(|r| (r.code.clone(), r.name.clone()))
        .collect();
    path.pop();
    Ok(Page {
        chrome: Some(Chrome::of(&state, &who)),
        period: period.label_zh(),
        quarter: quarter.clone(),
        quarters: quarters(&quarter),
        region: region.code.clone(),
        region_name: b.region_name.clone(),
        path,
        cards,
        computed_at: crate::pages::beijing_time(at),
        minutes_kept: crate::boards::FRESH_FOR.num_minutes(),
    }
    .into_response())
}

pub struct TrendCard {
    code: String,
    label: String,
    rows: Vec<(String, String, i64, i64)>,
    chart: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "indicator_trend.html")]
pub struct TrendPart {
    region: String,
    cards: Vec<TrendCard>,
}

/// The last four quarters' totals of every indicator (a part of the page, loaded after it: it
/// computes four boards).
pub async fn trend_part(
    State(state): State<AppState>,
    who: CurrentUser,
    Query(q): Query<BoardQuery>,
) -> AppResult<Response> {
    let (period, _) = quarter_of(&q.quarter)?;
    let (region, scope) = region_of(&state, &who, &q.region)?;
    let defs = state.indicators.clone();
    let runs = quarters_to(&period, 4);
    // The quarters' boards, each kept like the page's (the last one is the page's own).
    let mut past: Vec<(String, Vec<Figure>)> = Vec::new();
    for (label, p) in runs {
        let ask = Ask {
            scope: scope.clone(),
            region: region.code.clone(),
            period: p,
            quarter: label.clone(),
        };
        let kept = Boards::get(&state, ask, false).await?;
        past.push((label, kept.board.values.iter().map(|v| v.total).collect()));
    }
    let cards = defs
        .indicators
        .iter()
        .enumerate()
        .map(|(i, def)| {
            let chart = json!({
                "kind": "line",
                "title": def.label,
                "names": past.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>(),
                "values": past.iter().map(|(_, f)| f[i].percent).collect::<Vec<_>>(),
                "target": def.target(period.end.year()).map(|t| t.min),
            });
            TrendCard {
                code: def.code.clone(),
                label: def.label.clone(),
                rows: past
                    .iter()
                    .map(|(l, f)| (l.clone(), percent(&f[i]), f[i].numerator, f[i].denominator))
                    .collect(),
                chart: chart.to_string(),
            }
        })
        .collect();
    Ok(TrendPart {
        region: region.code.clone(),
        cards,
    }
    .into_response())
}

fn unit_label(def: &Indicator) -> &'static str {
    match def.unit() {
        jingkang_core::store::report::Unit::Townships => "个街镇",
        _ => "人",
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    quarter: String,
    #[serde(default)]
    region: String,
    /// `numerator`, `denominator` or `gap` (counted below, not above).
    #[serde(default)]
    part: String,
    #[serde(default)]
    page: usize,
}

#[derive(Deserialize, Default)]
pub struct ExportForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    quarter: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    part: String,
    #[serde(default)]
    reason: String,
}

/// What a drill-down shows: the indicator, the part, and the title.
struct Drill<'a> {
    def: &'a Indicator,
    part: &'static str,
    title: String,
}

fn drill_of<'a>(
    defs: &'a jingkang_core::report::indicators::Indicators,
    code: &str,
    part: &str,
) -> AppResult<Drill<'a>> {
    let def = defs
        .get(code.trim())
        .ok_or_else(|| AppError::BadRequest("indicator-unknown".into()))?;
    let (part, what) = match part.trim() {
        "" | "numerator" => ("numerator", "分子"),
        "denominator" => ("denominator", "分母"),
        "gap" => ("gap", "未达（分母中不在分子内）"),
        _ => return Err(AppError::BadRequest("indicator-part-unknown".into())),
    };
    Ok(Drill {
        def,
        part,
        title: format!("{} · {what}", def.label),
    })
}

/// The members behind the figure: the numerator's, the denominator's, or the denominator's not
/// in the numerator.
async fn behind(
    state: &AppState,
    scope: &Scope,
    drill: &Drill<'_>,
    period: &Period,
) -> AppResult<Members> {
    let rule = StandardRule::shipped()?;
    let mut tx = state.db.begin_read().await?;
    let which = if drill.part == "numerator" {
        drill.def.numerator
    } else {
        drill.def.denominator
    };
    let mut out = members(&mut tx, &state.tree, scope, which, period, &rule).await?;
    if drill.part == "gap" {
        let num = members(
            &mut tx,
            &state.tree,
            scope,
            drill.def.numerator,
            period,
            &rule,
        )
        .await?;
        out = match (out, num) {
            (Members::Persons(d), Members::Persons(n)) => {
                let n: std::collections::HashSet<i64> = n.into_iter().collect();
                Members::Persons(d.into_iter().filter(|i| !n.contains(i)).collect())
            }
            (Members::Townships(d), Members::Townships(n)) => {
                Members::Townships(d.into_iter().filter(|t| !n.contains(t)).collect())
            }
            (d, _) => d,
        };
    }
    tx.commit().await?;
    Ok(out)
}

pub struct PersonLine {
    id: i64,
    cells: [String; 11],
}

#[derive(Template, WebTemplate)]
#[template(path = "indicator_list.html")]
pub struct ListPage {
    chrome: Option<Chrome>,
    csrf: String,
    title: String,
    definition: String,
    period: String,
    code: String,
    quarter: String,
    region: String,
    region_name: String,
    part: String,
    total: usize,
    persons: Vec<PersonLine>,
    townships: Vec<String>,
    headers: &'static [&'static str],
    page: usize,
    pages: usize,
    error: Option<String>,
}

/// Read the page's persons and record the list in the audit log, in one transaction.
async fn read_audited(
    state: &AppState,
    who: &CurrentUser,
    scope: &Scope,
    ids: Vec<i64>,
    detail: serde_json::Value,
    action: &'static str,
) -> AppResult<Vec<WorkItem>> {
    let (scope, actor) = (scope.clone(), who.user.actor());
    let region = scope.root().unwrap_or("").to_string();
    Ok(state
        .writes
        .run(move |tx| {
            let (scope, actor, ids, detail, region) = (
                scope.clone(),
                actor.clone(),
                ids.clone(),
                detail.clone(),
                region.clone(),
            );
            Box::pin(async move {
                let mut items = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    items.extend(worklists::items_by_ids(tx, &scope, chunk).await?);
                }
                audit::record(tx, &actor, action, Some(Target::region(&region)), detail).await?;
                Ok(Outcome::Keep(items))
            })
        })
        .await?)
}

async fn list_page(
    state: &AppState,
    who: &CurrentUser,
    q: &ListQuery,
    error: Option<String>,
) -> AppResult<ListPage> {
    let drill = drill_of(&state.indicators, &q.code, &q.part)?;
    let (period, quarter) = quarter_of(&q.quarter)?;
    let (region, scope) = region_of(state, who, &q.region)?;
    let found = behind(state, &scope, &drill, &period).await?;
    let (mut persons, mut townships) = (Vec::new(), Vec::new());
    let total = match found {
        Members::Persons(ids) => {
            let n = ids.len();
            let page: Vec<i64> = ids.into_iter().skip(q.page * PAGE).take(PAGE).collect();
            let detail = json!({"indicator": drill.def.code, "part": drill.part, "quarter": quarter, "results": page.len(), "total": n});
            let items = read_audited(state, who, &scope, page, detail, "indicator.list").await?;
            persons = items
                .iter()
                .map(|i| PersonLine {
                    id: i.id,
                    cells: jingkang_core::export::worklist::row_cells(&state.tree, i, today()),
                })
                .collect();
            n
        }
        Members::Townships(codes) => {
            townships = codes
                .iter()
                .map(|c| state.tree.path_name(c))
                .collect::<Vec<_>>();
            townships.len()
        }
    };
    Ok(ListPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        title: drill.title,
        definition: drill.def.definition.clone(),
        period: period.label_zh(),
        code: drill.def.code.clone(),
        quarter,
        region: region.code.clone(),
        region_name: state.tree.path_name(&region.code),
        part: drill.part.to_string(),
        total,
        persons,
        townships,
        headers: &jingkang_core::export::worklist::HEADERS[1..],
        page: q.page,
        pages: total.div_ceil(PAGE),
        error,
    })
}

pub async fn list(
    State(state): State<AppState>,
    who: CurrentUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    Ok(list_page(&state, &who, &q, None).await?.into_response())
}

pub async fn export(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(form): Form<ExportForm>,
) -> AppResult<Response> {
    let q = ListQuery {
        code: form.code.clone(),
        quarter: form.quarter.clone(),
        region: form.region.clone(),
        part: form.part.clone(),
        page: 0,
    };
    let Some(reason) = crate::downloads::reason_of(&form.reason) else {
        let page = list_page(&state, &who, &q, crate::downloads::reason_missing()).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let drill = drill_of(&state.indicators, &q.code, &q.part)?;
    let (period, quarter) = quarter_of(&q.quarter)?;
    let (region, scope) = region_of(&state, &who, &q.region)?;
    let found = behind(&state, &scope, &drill, &period).await?;
    let region_name = state.tree.path_name(&region.code);
    let title = format!("{} — {region_name}，{}", drill.title, period.label_zh());
    let notes = [format!("口径：{}", drill.def.definition)];
    let bytes = match found {
        Members::Persons(ids) => {
            let n = ids.len();
            let ids: Vec<i64> = ids.into_iter().take(EXPORT_MAX).collect();
            let detail = json!({"indicator": drill.def.code, "part": drill.part, "quarter": quarter, "results": ids.len(), "total": n, "reason": reason});
            let items = read_audited(&state, &who, &scope, ids, detail, "indicator.export").await?;
            jingkang_core::export::worklist::persons_xlsx(
                &state.tree,
                (&drill.def.label, &title),
                &notes,
                today(),
                &items,
            )?
        }
        Members::Townships(codes) => {
            let detail = json!({"indicator": drill.def.code, "part": drill.part, "quarter": quarter, "results": codes.len(), "reason": reason});
            crate::pages::audit_alone(&state, &who, "indicator.export", &region.code, detail)
                .await?;
            let mut notes = notes.to_vec();
            notes.push(format!("生成日期：{}　共 {} 个街镇", today(), codes.len()));
            let table = Table {
                sheet: &drill.def.label,
                title,
                notes,
                headers: &["序号", "街道（乡镇）", "代码"],
                widths: &[6.0, 40.0, 14.0],
            };
            table::to_xlsx(
                &table,
                codes
                    .iter()
                    .map(|c| vec![Value::Text(state.tree.path_name(c)), Value::Text(c.clone())]),
            )?
        }
    };
    Ok(crate::imports::xlsx_download(
        &format!("{}-{}-{}.xlsx", drill.def.label, region.name, quarter),
        bytes,
    ))
}
