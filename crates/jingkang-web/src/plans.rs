//! 个案康复计划 pages (SPEC §6): the form (one line per catalogue item with its times per month,
//! filled in from the current version, so a review changes only what changed), the 康复计划
//! section of the person page with the current version and the earlier ones, and the API.
//! Every save is a new version; the review worklist (`/worklists/plans`) follows the current one.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use jingkang_core::messages;
use jingkang_core::regions::Scope;
use jingkang_core::store::Tx;
use jingkang_core::store::batch::{BoxFuture, Outcome};
use jingkang_core::store::plans::{self, NewPlan, PlanItem, Refusal, StoredPlan};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::api_base::{ApiError, ApiUser};
use crate::auth::CurrentUser;
use crate::entry::today;
use crate::error::{AppError, AppResult};
use crate::extract::{Form, Path};
use crate::pages::Chrome;
use crate::problems::FieldProblems;

/// A problem with a plan, by field.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanProblem {
    pub field: String,
    pub code: String,
    pub message: String,
}

fn problem(field: &str, code: &str) -> PlanProblem {
    PlanProblem {
        field: field.to_string(),
        code: code.to_string(),
        message: messages::render(code, &[]),
    }
}

/// Record a new version in one group-committed transaction. `Err(NotFound)` is 404.
pub(crate) async fn record(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
    plan: NewPlan,
) -> AppResult<Result<i64, Vec<PlanProblem>>> {
    if plan.signed_on.is_some_and(|d| d > today()) {
        return Ok(Err(vec![problem("signed_on", "plan-signed-future")]));
    }
    let (scope, actor, catalogue, plan) = (
        who.scope.clone(),
        who.user.actor(),
        state.services.clone(),
        std::sync::Arc::new(plan),
    );
    let done = state
        .writes
        .run(move |tx| {
            let (scope, actor, catalogue, plan) = (
                scope.clone(),
                actor.clone(),
                catalogue.clone(),
                plan.clone(),
            );
            Box::pin(async move {
                Ok(Outcome::Keep(
                    plans::record(tx, &scope, &actor, &catalogue, id, &plan).await?,
                ))
            })
        })
        .await?;
    match done {
        Ok(version) => Ok(Ok(version)),
        Err(Refusal::NotFound) => Err(AppError::NotFound),
        Err(Refusal::Invalid(list)) => {
            Ok(Err(list.into_iter().map(|(f, c)| problem(f, c)).collect()))
        }
    }
}

/// The person's plan versions, read with the person (audited).
pub(crate) fn of_person<'a>(
    tx: &'a mut Tx,
    scope: &'a Scope,
    id: i64,
) -> BoxFuture<'a, anyhow::Result<Vec<StoredPlan>>> {
    Box::pin(async move { plans::of_person(tx, scope, id).await })
}

/// One plan version as the person page shows it.
pub struct PlanView {
    pub(crate) version: i64,
    pub(crate) goals: String,
    /// "服药训练 每月 4 次".
    pub(crate) items: Vec<String>,
    pub(crate) responsible: String,
    pub(crate) period: String,
    pub(crate) review_on: String,
    pub(crate) review_due: bool,
    pub(crate) signed: String,
    pub(crate) recorded: String,
}

fn signer_label(code: Option<&str>) -> &'static str {
    match code {
        Some("person") => "本人",
        Some("guardian") => "监护人",
        _ => "",
    }
}

fn view(state: &AppState, p: &StoredPlan, day: NaiveDate) -> PlanView {
    PlanView {
        version: p.version,
        goals: p.goals.clone(),
        items: p
            .items
            .iter()
            .map(|i| {
                format!(
                    "{} 每月 {} 次",
                    state
                        .services
                        .item(&i.item)
                        .map_or(i.item.as_str(), |c| c.label.as_str()),
                    i.per_month
                )
            })
            .collect(),
        responsible: p.responsible.clone(),
        period: format!("{} 起", p.starts_on),
        review_on: p.review_on.to_string(),
        review_due: p.review_on
            < day + chrono::Duration::days(jingkang_core::store::worklists::PLAN_REVIEW_DAYS),
        signed: match p.signed_on {
            Some(d) => format!("{}于 {d} 签字", signer_label(p.signed_by.as_deref())),
            None => "未签字".to_string(),
        },
        recorded: format!(
            "{} {}",
            p.recorded_by
                .split_once(':')
                .map_or(p.recorded_by.as_str(), |(_, n)| n),
            crate::pages::beijing_time(p.recorded_at)
        ),
    }
}

/// The person page's section: the current version first, then the earlier ones.
pub(crate) fn section(state: &AppState, list: &[StoredPlan]) -> Vec<PlanView> {
    let day = today();
    list.iter().map(|p| view(state, p, day)).collect()
}

pub struct ItemLine {
    code: String,
    label: String,
    per_month: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "plan_form.html")]
pub struct FormPage {
    chrome: Option<Chrome>,
    csrf: String,
    id: i64,
    name: String,
    /// The version this one replaces (0 for the first plan).
    current: i64,
    goals: String,
    items: Vec<ItemLine>,
    responsible: String,
    starts_on: String,
    review_on: String,
    signed_on: String,
    signed_by: String,
    errors: Vec<(String, String)>,
}

impl crate::problems::FieldProblems for FormPage {
    fn problems(&self) -> &[(String, String)] {
        &self.errors
    }
}

fn form_page(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
    name: String,
    current: i64,
    values: &BTreeMap<String, String>,
    problems: &[PlanProblem],
) -> FormPage {
    let get = |k: &str| values.get(k).cloned().unwrap_or_default();
    let order = [
        "goals",
        "items",
        "responsible",
        "starts_on",
        "review_on",
        "signed_on",
        "signed_by",
    ];
    let mut errors: Vec<(String, String)> = problems
        .iter()
        .map(|p| (p.field.clone(), p.message.clone()))
        .collect();
    errors.sort_by_key(|(f, _)| order.iter().position(|o| o == f).unwrap_or(order.len()));
    FormPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        id,
        name,
        current,
        goals: get("goals"),
        items: state
            .services
            .items
            .iter()
            .map(|i| ItemLine {
                code: i.code.clone(),
                label: i.label.clone(),
                per_month: get(&format!("per_month_{}", i.code)),
            })
            .collect(),
        responsible: get("responsible"),
        starts_on: get("starts_on"),
        review_on: get("review_on"),
        signed_on: get("signed_on"),
        signed_by: get("signed_by"),
        errors,
    }
}

/// The form's values from the current version (a review starts today from what was planned).
fn values_of(current: Option<&StoredPlan>, who: &CurrentUser) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    v.insert("starts_on".to_string(), today().to_string());
    match current {
        Some(p) => {
            v.insert("goals".into(), p.goals.clone());
            v.insert("responsible".into(), p.responsible.clone());
            for i in &p.items {
                v.insert(format!("per_month_{}", i.item), i.per_month.to_string());
            }
        }
        None => {
            v.insert("responsible".into(), who.user.display_name.clone());
        }
    }
    v
}

/// The plan form, filled in from the current version.
pub async fn new_form(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let (p, list) = crate::pages::read_person(&state, &who, id, of_person)
        .await?
        .ok_or(AppError::NotFound)?;
    let values = values_of(list.first(), &who);
    Ok(form_page(
        &state,
        &who,
        id,
        p.record.data.name,
        list.first().map_or(0, |p| p.version),
        &values,
        &[],
    )
    .into_response())
}

fn parse_date(
    values: &BTreeMap<String, String>,
    field: &str,
    problems: &mut Vec<PlanProblem>,
) -> Option<NaiveDate> {
    let text = values.get(field).map_or("", |s| s.trim());
    if text.is_empty() {
        return None;
    }
    let parsed = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
    if parsed.is_none() {
        problems.push(PlanProblem {
            field: field.to_string(),
            code: "date-invalid".into(),
            message: messages::render("date-invalid", &[]),
        });
    }
    parsed
}

/// The plan a form describes, or the problems of its text (dates, numbers).
fn plan_of(
    state: &AppState,
    values: &BTreeMap<String, String>,
) -> Result<NewPlan, Vec<PlanProblem>> {
    let mut problems = Vec::new();
    let starts_on = parse_date(values, "starts_on", &mut problems);
    if starts_on.is_none() && !problems.iter().any(|p| p.field == "starts_on") {
        problems.push(problem("starts_on", "plan-start-missing"));
    }
    let review_on = parse_date(values, "review_on", &mut problems);
    let signed_on = parse_date(values, "signed_on", &mut problems);
    let mut items = Vec::new();
    for i in &state.services.items {
        let text = values
            .get(&format!("per_month_{}", i.code))
            .map_or("", |s| s.trim());
        if text.is_empty() {
            continue;
        }
        match text.parse::<i64>() {
            Ok(n) => items.push(PlanItem {
                item: i.code.clone(),
                per_month: n,
            }),
            Err(_) => items.push(PlanItem {
                item: i.code.clone(),
                per_month: 0,
            }),
        }
    }
    let signed_by = values
        .get("signed_by")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let plan = NewPlan {
        goals: values.get("goals").cloned().unwrap_or_default(),
        items,
        responsible: values.get("responsible").cloned().unwrap_or_default(),
        // A start that is missing or unreadable is already a problem; the rest is still checked.
        starts_on: starts_on.unwrap_or(chrono::NaiveDate::MIN),
        review_on,
        signed_on,
        signed_by,
    };
    if problems.is_empty() {
        return Ok(plan);
    }
    // A date the form could not read, and every other problem the plan has: all at once.
    for (field, code) in jingkang_core::store::plans::check(&plan, &state.services) {
        let depends_on_start = field == "review_on" && starts_on.is_none();
        if !depends_on_start && !problems.iter().any(|p| p.field == field) {
            problems.push(problem(field, code));
        }
    }
    Err(problems)
}

/// Save a new version from the form; problems show the form again beside their fields (422).
pub async fn create(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let values: BTreeMap<String, String> = pairs.into_iter().collect();
    let outcome = match plan_of(&state, &values) {
        Ok(plan) => record(&state, &who, id, plan).await?,
        Err(problems) => Err(problems),
    };
    match outcome {
        Ok(version) => {
            Ok(Redirect::to(&format!("/persons/{id}?plan={version}#plans")).into_response())
        }
        Err(problems) => {
            let (p, list) = crate::pages::read_person(&state, &who, id, of_person)
                .await?
                .ok_or(AppError::NotFound)?;
            let page = form_page(
                &state,
                &who,
                id,
                p.record.data.name,
                list.first().map_or(0, |p| p.version),
                &values,
                &problems,
            );
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

/// Every version of the person's plan, the current one first. Audited as a read of the person.
#[utoipa::path(get, path = "/api/v1/persons/{id}/plans", params(("id" = i64, Path, description = "person id")),
    responses((status = 200, body = Vec<StoredPlan>), (status = 404)), security(("bearer" = [])), tag = "services")]
pub async fn api_list(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
) -> Result<Json<Vec<StoredPlan>>, ApiError> {
    let (_, list) = crate::pages::read_person(&state, &who, id, of_person)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(list))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanRecorded {
    pub version: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanRefused {
    pub code: String,
    pub message: String,
    pub problems: Vec<PlanProblem>,
}

/// Record a new version of the person's plan (the review date defaults to six months after the
/// start). Problems answer 422, by field; nothing is written.
#[utoipa::path(post, path = "/api/v1/persons/{id}/plans", params(("id" = i64, Path, description = "person id")), request_body = NewPlan,
    responses((status = 201, body = PlanRecorded), (status = 422, body = PlanRefused), (status = 404)), security(("bearer" = [])), tag = "services")]
pub async fn api_create(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<NewPlan>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(plan) = body.map_err(|_| AppError::BadRequest("form-invalid".into()))?;
    match record(&state, &who, id, plan).await? {
        Ok(version) => Ok((StatusCode::CREATED, Json(PlanRecorded { version })).into_response()),
        Err(problems) => {
            let message = problems
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join("；");
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(PlanRefused {
                    code: "plan-invalid".into(),
                    message,
                    problems,
                }),
            )
                .into_response())
        }
    }
}
