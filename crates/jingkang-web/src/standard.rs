//! The 规范服务 page (SPEC §6): by township for a quarter, the rate with its numerator and
//! denominator, each condition counted one by one, and the rule (data) written beside the figures.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::Datelike;
use jingkang_core::care::standard::{Period, StandardRule};
use jingkang_core::store::standard::{self, StandardRow};
use serde::Deserialize;

use crate::AppState;
use crate::auth::{Need, ReadClinical};
use crate::entry::today;
use crate::error::{AppError, AppResult};
use crate::extract::Query;
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
    if d == 0 { "—".into() } else { format!("{:.1}%", 100.0 * n as f64 / d as f64) }
}

fn quarter_of(d: chrono::NaiveDate) -> (i32, u32) {
    (d.year(), (d.month() - 1) / 3 + 1)
}

/// The quarters offered: the last eight whole ones and the current one.
fn quarters(selected: &Period) -> Vec<(String, String, bool)> {
    let (mut y, mut q) = quarter_of(today());
    let mut out = Vec::new();
    for _ in 0..9 {
        if let Some(p) = Period::quarter(y, q) {
            out.push((format!("{y}Q{q}"), p.label_zh(), p == *selected));
        }
        (y, q) = if q == 1 { (y - 1, 4) } else { (y, q - 1) };
    }
    out
}

pub async fn page(State(state): State<AppState>, Need { who, .. }: Need<ReadClinical>, Query(q): Query<PageQuery>) -> AppResult<Response> {
    let period = match q.quarter.trim() {
        text if !text.is_empty() => Period::parse_quarter(text).ok_or_else(|| AppError::BadRequest("standard-quarter-invalid".into()))?,
        _ => {
            let (y, n) = quarter_of(today());
            let this = Period::quarter(y, n).ok_or_else(|| AppError::BadRequest("standard-quarter-invalid".into()))?;
            let (y, n) = quarter_of(this.start - chrono::Duration::days(1));
            Period::quarter(y, n).ok_or_else(|| AppError::BadRequest("standard-quarter-invalid".into()))?
        }
    };
    let rule = StandardRule::shipped()?;
    let mut tx = state.db.begin_read().await?;
    let rows: Vec<StandardRow> = standard::by_township(&mut tx, &who.scope, &rule, &period, true).await?;
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
    let lines = rows.iter().map(|r| line(state.tree.get(&r.township).map_or_else(|| r.township.clone(), |t| t.name.clone()), &[r])).collect();
    let all: Vec<&StandardRow> = rows.iter().collect();
    Ok(Page {
        chrome: Some(Chrome::of(&state, &who)),
        period: period.label_zh(),
        quarters: quarters(&period),
        rule: rule.description,
        lines,
        total: line("合计".into(), &all),
    }
    .into_response())
}
