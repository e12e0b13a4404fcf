//! The 规范服务 page (SPEC §6): by township for a quarter, the rate with its numerator and
//! denominator, each condition counted one by one, and the rule (data) written beside the figures.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jingkang_core::care::standard::{Period, StandardRule};
use jingkang_core::domain::period::Quarter;
use jingkang_core::export::table::{self, Table, Value};
use jingkang_core::store::standard::{self, StandardRow};
use serde::Deserialize;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::entry::today;
use crate::error::{AppError, AppResult};
use crate::extract::{Form, Query};
use crate::pages::Chrome;

pub struct Line {
    township: String,
    registered: i64,
    standard: i64,
    rate: String,
    with_plan: i64,
    assessed: i64,
    served: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "standard.html")]
pub struct Page {
    chrome: Option<Chrome>,
    csrf: String,
    /// `2026Q3`.
    quarter: String,
    error: Option<String>,
    period: String,
    quarters: Vec<(String, String, bool)>,
    rule: String,
    lines: Vec<Line>,
    total: Line,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    /// `2026Q3`; default the last whole quarter.
    #[serde(default)]
    quarter: String,
}

fn rate(n: i64, d: i64) -> String {
    if d == 0 {
        "—".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / d as f64)
    }
}

/// The quarters offered: the last eight whole ones and the current one.
fn quarters(selected: &Period) -> Vec<(String, String, bool)> {
    Quarter::current()
        .back(9)
        .into_iter()
        .map(|q| (q.code(), q.label_zh(), q.period() == *selected))
        .collect()
}

/// The quarter asked for (`2026Q3`), or the last whole one.
fn period_of(text: &str) -> AppResult<Period> {
    if text.trim().is_empty() {
        return Ok(Quarter::last_complete().period());
    }
    Quarter::parse(text)
        .map(Quarter::period)
        .ok_or_else(|| AppError::BadRequest("standard-quarter-invalid".into()))
}

/// The page's lines (a township each) and the total, for the user's area in `period`.
async fn lines(
    state: &AppState,
    who: &crate::auth::CurrentUser,
    period: &Period,
    rule: &StandardRule,
) -> AppResult<(Vec<Line>, Line)> {
    let mut tx = state.db.begin_read().await?;
    let rows: Vec<StandardRow> =
        standard::by_township(&mut tx, &who.scope, rule, period, true).await?;
    tx.commit().await?;
    let line = |township: String, r: &[&StandardRow]| {
        let sum = |f: fn(&StandardRow) -> i64| r.iter().map(|x| f(x)).sum::<i64>();
        let (registered, standard) = (sum(|x| x.registered), sum(|x| x.standard));
        Line {
            township,
            registered,
            standard,
            rate: rate(standard, registered),
            with_plan: sum(|x| x.with_plan.unwrap_or(0)),
            assessed: sum(|x| x.assessed.unwrap_or(0)),
            served: sum(|x| x.served_monthly.unwrap_or(0)),
        }
    };
    let out = rows
        .iter()
        .map(|r| {
            line(
                state
                    .tree
                    .get(&r.township)
                    .map_or_else(|| r.township.clone(), |t| t.name.clone()),
                &[r],
            )
        })
        .collect();
    let all: Vec<&StandardRow> = rows.iter().collect();
    Ok((out, line("合计".into(), &all)))
}

pub async fn page(
    State(state): State<AppState>,
    who: CurrentUser,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let period = period_of(&q.quarter)?;
    let rule = StandardRule::shipped()?;
    let (lines, total) = lines(&state, &who, &period, &rule).await?;
    Ok(Page::of(&state, &who, &period, rule, (lines, total), None).into_response())
}

impl Page {
    fn of(
        state: &AppState,
        who: &crate::auth::CurrentUser,
        period: &Period,
        rule: StandardRule,
        (lines, total): (Vec<Line>, Line),
        error: Option<String>,
    ) -> Page {
        Page {
            chrome: Some(Chrome::of(state, who)),
            csrf: who.csrf().to_string(),
            quarter: quarters_to_code(period),
            period: period.label_zh(),
            quarters: quarters(period),
            rule: rule.description,
            lines,
            total,
            error,
        }
    }
}

fn quarters_to_code(p: &Period) -> String {
    Quarter::of(p.start).code()
}

#[derive(Deserialize, Default)]
pub struct ExportForm {
    #[serde(default)]
    quarter: String,
    #[serde(default)]
    reason: String,
}

/// The page's table as .xlsx, with a reason, audited `standard.export`.
pub async fn export(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(form): Form<ExportForm>,
) -> AppResult<Response> {
    let period = period_of(&form.quarter)?;
    let rule = StandardRule::shipped()?;
    let (lines, total) = lines(&state, &who, &period, &rule).await?;
    let Some(reason) = crate::downloads::reason_of(&form.reason) else {
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Page::of(
                &state,
                &who,
                &period,
                rule,
                (lines, total),
                crate::downloads::reason_missing(),
            ),
        )
            .into_response());
    };
    let detail = serde_json::json!({"quarter": quarters_to_code(&period), "rows": lines.len(), "reason": reason});
    crate::pages::audit_alone(
        &state,
        &who,
        "standard.export",
        &who.user.region_code,
        detail,
    )
    .await?;
    let region_name = state.tree.path_name(&who.user.region_code);
    let table = Table {
        sheet: "规范服务率",
        title: format!(
            "登记康复对象接受规范服务情况 — {region_name}，{}",
            period.label_zh()
        ),
        notes: vec![
            format!("口径：{}", rule.description),
            format!("生成日期：{}", today()),
        ],
        headers: &[
            "序号",
            "乡镇（街道）",
            "登记康复对象",
            "接受规范服务",
            "规范服务率",
            "有有效计划",
            "半年内有评估",
            "每月均有服务",
        ],
        widths: &[6.0, 16.0, 12.0, 12.0, 10.0, 12.0, 12.0, 12.0],
    };
    let n = |v: i64| Value::Number(v as f64);
    let rows = lines.iter().chain([&total]).map(|l| {
        vec![
            Value::Text(l.township.clone()),
            n(l.registered),
            n(l.standard),
            Value::Text(l.rate.clone()),
            n(l.with_plan),
            n(l.assessed),
            n(l.served),
        ]
    });
    let bytes = table::to_xlsx(&table, rows)?;
    Ok(crate::imports::xlsx_download(
        &format!("规范服务率-{}.xlsx", quarters_to_code(&period)),
        bytes,
    ))
}
