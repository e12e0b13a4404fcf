//! Assessment pages (SPEC §6): the form of an instrument rendered from its definition (one tap per
//! answer, every problem beside its item), the 康复评估 section of the person page with each
//! instrument's totals over time drawn as an SVG line (no script, prints on paper), and the API.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use jingkang_core::care::instrument::{Instrument, Problem, Scored, Total};
use jingkang_core::messages;
use jingkang_core::regions::Scope;
use jingkang_core::store::Tx;
use jingkang_core::store::assessments::{self, NewAssessment, Refusal, StoredAssessment};
use jingkang_core::store::batch::{BoxFuture, Outcome};
use serde::Deserialize;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::entry::today;
use crate::error::{AppError, AppResult};
use crate::extract::{Form, Path, Query};
use crate::pages::Chrome;
use crate::problems::FieldProblems;

/// Score and record one assessment in a group-committed transaction. `Err(NotFound)` is 404.
pub(crate) async fn record(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
    code: &str,
    new: NewAssessment,
) -> AppResult<Result<(i64, Scored), Vec<Problem>>> {
    let Some(instrument) = state.instruments.get(code).cloned() else {
        return Ok(Err(vec![problem("instrument", "instrument-unknown", &[])]));
    };
    let (scope, actor, day) = (who.scope.clone(), who.user.actor(), today());
    let (instrument, new) = (std::sync::Arc::new(instrument), std::sync::Arc::new(new));
    let done = state
        .writes
        .run(move |tx| {
            let (scope, actor, instrument, new) = (
                scope.clone(),
                actor.clone(),
                instrument.clone(),
                new.clone(),
            );
            Box::pin(async move {
                Ok(Outcome::Keep(
                    assessments::record(tx, &scope, &actor, &instrument, id, &new, day).await?,
                ))
            })
        })
        .await?;
    match done {
        Ok(v) => Ok(Ok(v)),
        Err(Refusal::NotFound) => Err(AppError::NotFound),
        Err(Refusal::Invalid(p)) => Ok(Err(p)),
    }
}

fn problem(key: &str, code: &str, args: &[(&str, &str)]) -> Problem {
    Problem {
        key: key.to_string(),
        code: code.to_string(),
        message: messages::render(code, args),
    }
}

/// The person's assessments (for the person page and the API), read with the person.
pub(crate) fn of_person<'a>(
    tx: &'a mut Tx,
    scope: &'a Scope,
    id: i64,
) -> BoxFuture<'a, anyhow::Result<Vec<StoredAssessment>>> {
    Box::pin(async move { assessments::of_person(tx, scope, id).await })
}

pub struct OptionView {
    value: String,
    label: String,
    checked: bool,
}

pub struct ItemView {
    key: String,
    label: String,
    options: Vec<OptionView>,
    error: Option<String>,
}

pub struct InstrumentLink {
    code: String,
    name: String,
    current: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "assessment_form.html")]
pub struct FormPage {
    chrome: Option<Chrome>,
    csrf: String,
    id: i64,
    name: String,
    instruments: Vec<InstrumentLink>,
    code: String,
    title: String,
    interpretation: String,
    items: Vec<ItemView>,
    /// A rated total (PSP): its key, label, range, value and error.
    rated: Option<(String, String, i64, i64, String, Option<String>)>,
    assessed_on: String,
    assessor: String,
    /// Every problem, (field, message), in the form's order: listed at the top, each beside its
    /// field.
    errors: Vec<(String, String)>,
}

impl FieldProblems for FormPage {
    fn problems(&self) -> &[(String, String)] {
        &self.errors
    }
}

#[derive(Deserialize, Default)]
pub struct FormQuery {
    #[serde(default)]
    instrument: String,
}

fn form_page(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
    name: String,
    instrument: &Instrument,
    values: &BTreeMap<String, String>,
    problems: &[Problem],
) -> FormPage {
    let error_of = |key: &str| {
        let m: Vec<&str> = problems
            .iter()
            .filter(|p| p.key == key)
            .map(|p| p.message.as_str())
            .collect();
        (!m.is_empty()).then(|| m.join("；"))
    };
    let items = instrument
        .items
        .iter()
        .map(|item| ItemView {
            key: item.key.clone(),
            label: item.label.clone(),
            options: instrument
                .options_of(item)
                .iter()
                .map(|o| OptionView {
                    value: o.value.clone(),
                    label: o.label.clone(),
                    checked: values.get(&item.key) == Some(&o.value),
                })
                .collect(),
            error: error_of(&item.key),
        })
        .collect();
    let rated = match &instrument.total {
        Total::Rated {
            key,
            label,
            min,
            max,
        } => Some((
            key.clone(),
            label.clone(),
            *min,
            *max,
            values.get(key).cloned().unwrap_or_default(),
            error_of(key),
        )),
        Total::Sum => None,
    };
    // The date and the assessor first, then the items and the total in the form's order.
    let order: Vec<&str> = ["assessed_on", "assessor"]
        .into_iter()
        .chain(instrument.items.iter().map(|i| i.key.as_str()))
        .chain(rated.as_ref().map(|r| r.0.as_str()))
        .collect();
    let mut errors: Vec<(String, String)> = problems
        .iter()
        .map(|p| (p.key.clone(), p.message.clone()))
        .collect();
    errors.sort_by_key(|(k, _)| order.iter().position(|o| o == k).unwrap_or(order.len()));
    FormPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        id,
        name,
        instruments: state
            .instruments
            .instruments
            .iter()
            .map(|i| InstrumentLink {
                code: i.code.clone(),
                name: i.name.clone(),
                current: i.code == instrument.code,
            })
            .collect(),
        code: instrument.code.clone(),
        title: instrument.name.clone(),
        interpretation: instrument.interpretation.clone(),
        items,
        rated,
        assessed_on: values
            .get("assessed_on")
            .cloned()
            .unwrap_or_else(|| today().to_string()),
        assessor: values
            .get("assessor")
            .cloned()
            .unwrap_or_else(|| who.user.display_name.clone()),
        errors,
    }
}

async fn person_name(state: &AppState, who: &CurrentUser, id: i64) -> AppResult<String> {
    let (p, _) = crate::pages::read_person(state, who, id, of_person)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(p.record.data.name)
}

fn instrument_or_first<'a>(state: &'a AppState, code: &str) -> AppResult<&'a Instrument> {
    state
        .instruments
        .get(code)
        .or_else(|| state.instruments.instruments.first())
        .ok_or(AppError::NotFound)
}

/// The form of an instrument (`?instrument=sdss`; the first one otherwise).
pub async fn new_form(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<FormQuery>,
) -> AppResult<Response> {
    let name = person_name(&state, &who, id).await?;
    let instrument = instrument_or_first(&state, &q.instrument)?;
    Ok(form_page(&state, &who, id, name, instrument, &BTreeMap::new(), &[]).into_response())
}

/// Record from the form; problems show the form again beside their items (422).
pub async fn create(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let values: BTreeMap<String, String> = pairs.into_iter().collect();
    let code = values.get("instrument").cloned().unwrap_or_default();
    let assessed_on = values
        .get("assessed_on")
        .and_then(|d| NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok());
    let new = NewAssessment {
        // A date the form cannot read is one problem; the rest is still checked.
        assessed_on: assessed_on.unwrap_or_else(today),
        assessor: values.get("assessor").cloned().unwrap_or_default(),
        answers: values.clone(),
    };
    let outcome = match (assessed_on, state.instruments.get(&code)) {
        (Some(_), _) => record(&state, &who, id, &code, new).await?,
        (None, instrument) => {
            let mut problems = vec![problem("assessed_on", "assessment-date-invalid", &[])];
            if let Some(instrument) = instrument {
                problems.extend(
                    assessments::check(instrument, &new, today())
                        .err()
                        .unwrap_or_default(),
                );
            }
            Err(problems)
        }
    };
    match outcome {
        Ok((aid, _)) => {
            Ok(Redirect::to(&format!("/persons/{id}?assessed={aid}#assessments")).into_response())
        }
        Err(problems) => {
            let name = person_name(&state, &who, id).await?;
            let instrument = instrument_or_first(&state, &code)?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                form_page(&state, &who, id, name, instrument, &values, &problems),
            )
                .into_response())
        }
    }
}

/// One line of the person page's 康复评估 table.
pub struct AssessmentLine {
    pub(crate) id: i64,
    pub(crate) date: String,
    pub(crate) instrument: String,
    pub(crate) total: i64,
    pub(crate) band: String,
    pub(crate) flag: bool,
    pub(crate) assessor: String,
}

/// One instrument's totals over time as an SVG polyline.
pub struct Chart {
    pub(crate) title: String,
    pub(crate) points: String,
    pub(crate) dots: Vec<(f64, f64, String)>,
    pub(crate) y_labels: Vec<(f64, String)>,
    pub(crate) first: String,
    pub(crate) last: String,
}

const W: f64 = 560.0;
const H: f64 = 160.0;
const PAD: f64 = 30.0;

/// The section: newest first in the table; one chart per instrument with two or more assessments.
pub(crate) fn section(
    state: &AppState,
    list: &[StoredAssessment],
) -> (Vec<AssessmentLine>, Vec<Chart>) {
    let name_of = |code: &str| {
        state
            .instruments
            .get(code)
            .map_or_else(|| code.to_string(), |i| i.short.clone())
    };
    let lines = list
        .iter()
        .rev()
        .map(|a| AssessmentLine {
            id: a.id,
            date: a.assessed_on.to_string(),
            instrument: name_of(&a.instrument),
            total: a.total,
            band: a.band.clone().unwrap_or_default(),
            flag: a.flag,
            assessor: a.assessor.clone(),
        })
        .collect();
    let mut codes: Vec<&str> = list.iter().map(|a| a.instrument.as_str()).collect();
    codes.dedup();
    codes.sort_unstable();
    codes.dedup();
    let charts = codes
        .into_iter()
        .filter_map(|code| {
            let series: Vec<&StoredAssessment> =
                list.iter().filter(|a| a.instrument == code).collect();
            if series.len() < 2 {
                return None;
            }
            let (lo, hi) = match state.instruments.get(code) {
                Some(i) => match &i.total {
                    Total::Rated { min, max, .. } => (*min, *max),
                    Total::Sum => (
                        0,
                        i.bands
                            .iter()
                            .map(|b| b.max)
                            .max()
                            .unwrap_or(1)
                            .min(i.items.len() as i64 * 5)
                            .max(1),
                    ),
                },
                None => (0, series.iter().map(|a| a.total).max().unwrap_or(1).max(1)),
            };
            let (first, last) = (series[0].assessed_on, series[series.len() - 1].assessed_on);
            let span = (last - first).num_days().max(1) as f64;
            let x = |d: NaiveDate| PAD + (W - 2.0 * PAD) * ((d - first).num_days() as f64 / span);
            let y = |v: i64| {
                H - PAD
                    - (H - 2.0 * PAD) * ((v.clamp(lo, hi) - lo) as f64 / (hi - lo).max(1) as f64)
            };
            let dots: Vec<(f64, f64, String)> = series
                .iter()
                .map(|a| {
                    (
                        x(a.assessed_on),
                        y(a.total),
                        format!("{}：{} 分", a.assessed_on, a.total),
                    )
                })
                .collect();
            Some(Chart {
                title: name_of(code),
                points: dots
                    .iter()
                    .map(|(x, y, _)| format!("{x:.1},{y:.1}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                dots,
                y_labels: vec![(y(lo), lo.to_string()), (y(hi), hi.to_string())],
                first: first.to_string(),
                last: last.to_string(),
            })
        })
        .collect();
    (lines, charts)
}
