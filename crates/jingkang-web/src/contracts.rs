//! 购买服务 pages (SPEC §7): the contracts of the user's area with what each bought — persons
//! served and contacts from the service records of the provider's institutions, the spend per
//! person against the per-person standard — a form to record one, and the API.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use jingkang_core::accounts::policy::Permission;
use jingkang_core::export::table::Table;
use jingkang_core::regions::{RegionTree, Scope};
use jingkang_core::store::batch::Outcome;
use jingkang_core::store::contracts::{self as store, Contract, NewContract};

use crate::AppState;
use crate::api_base::{ApiError, ApiUser};
use crate::auth::CurrentUser;
use crate::downloads::{self, ExportForm, num, text};
use crate::error::{AppError, AppResult};
use crate::extract::{Form, Query};
use crate::institutions::{
    Created, InstitutionProblem as Problem, InstitutionRefused, Pick, region_picks,
};
use crate::pages::Chrome;
use crate::problems::FieldProblems;

fn problems_of(list: Vec<store::Problem>) -> Vec<Problem> {
    list.into_iter()
        .map(|(f, c)| Problem {
            field: f.to_string(),
            code: c.to_string(),
            message: jingkang_core::messages::render(c, &[]),
        })
        .collect()
}

async fn list(state: &AppState, who: &CurrentUser) -> AppResult<Vec<Contract>> {
    let mut tx = state.db.begin_read().await?;
    let found = store::list(&mut tx, &who.scope, 500).await?;
    tx.commit().await?;
    Ok(found)
}

/// Record a contract in one transaction.
pub(crate) async fn record(
    state: &AppState,
    who: &CurrentUser,
    new: NewContract,
) -> AppResult<Result<i64, Vec<Problem>>> {
    let (scope, actor, rules, tree, new) = (
        who.scope.clone(),
        who.user.actor(),
        state.institutions.clone(),
        state.tree.clone(),
        std::sync::Arc::new(new),
    );
    let done = state
        .writes
        .run(move |tx| {
            let (scope, actor, rules, tree, new) = (
                scope.clone(),
                actor.clone(),
                rules.clone(),
                tree.clone(),
                new.clone(),
            );
            Box::pin(async move {
                Ok(Outcome::Keep(
                    store::record(tx, &scope, &actor, (&rules, &tree), &new).await?,
                ))
            })
        })
        .await?;
    Ok(done.map_err(problems_of))
}

/// One contract as the page shows it.
pub struct Line {
    place: String,
    buyer: String,
    provider: String,
    code: String,
    period: String,
    budget: String,
    standard: String,
    planned: i64,
    served: i64,
    contacts: i64,
    spend: String,
    under_served: bool,
    over_standard: bool,
}

fn yuan(n: i64) -> String {
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out} 元")
    } else {
        format!("{out} 元")
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "contracts.html")]
pub struct Page {
    chrome: Option<Chrome>,
    csrf: String,
    export_action: &'static str,
    export_error: Option<String>,
    lines: Vec<Line>,
    can_manage: bool,
    values: BTreeMap<String, String>,
    regions: Vec<Pick>,
    standard: i64,
    errors: Vec<(String, String)>,
    notice: Option<String>,
}

impl Page {
    fn value(&self, key: &str) -> &str {
        self.values.get(key).map_or("", String::as_str)
    }
}

#[derive(serde::Deserialize, Default)]
pub struct PageQuery {
    saved: Option<i64>,
}

async fn page_of(
    state: &AppState,
    who: &CurrentUser,
    values: BTreeMap<String, String>,
    problems: &[Problem],
    notice: Option<String>,
) -> AppResult<Page> {
    let found = list(state, who).await?;
    let lines = found
        .iter()
        .map(|c| Line {
            place: state.tree.path_name(&c.region),
            buyer: c.buyer.clone(),
            provider: c.provider.clone(),
            code: c.provider_code.clone(),
            period: format!("{} 至 {}", c.starts_on, c.ends_on),
            budget: yuan(c.budget_yuan),
            standard: format!(
                "{}（{} 元/人/年）",
                yuan(c.standard_for_period_yuan),
                c.per_person_yuan
            ),
            planned: c.planned_persons,
            served: c.persons_served,
            contacts: c.contacts,
            spend: c
                .spend_per_person_yuan
                .map_or_else(|| "—".to_string(), yuan),
            under_served: c.under_served,
            over_standard: c
                .spend_per_person_yuan
                .is_some_and(|s| s > c.standard_for_period_yuan),
        })
        .collect();
    let chosen = values.get("region").cloned().unwrap_or_default();
    Ok(Page {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        export_action: "/contracts/export",
        export_error: None,
        lines,
        can_manage: who.may(Permission::ManageContracts),
        regions: region_picks(state, who, &chosen),
        standard: state.institutions.per_person_standard_yuan,
        errors: problems
            .iter()
            .map(|p| (p.field.clone(), p.message.clone()))
            .collect(),
        notice,
        values,
    })
}

/// The contracts of the user's area, and the form to record one.
pub async fn page(
    State(state): State<AppState>,
    who: CurrentUser,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let values = BTreeMap::from([("region".to_string(), who.user.region_code.clone())]);
    let notice = q.saved.map(|_| "购买服务合同已登记。".to_string());
    Ok(page_of(&state, &who, values, &[], notice)
        .await?
        .into_response())
}

/// The contracts as .xlsx, with a reason, audited `contract.export`.
pub async fn export(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(form): Form<ExportForm>,
) -> AppResult<Response> {
    let Some(reason) = form.reason() else {
        let values = BTreeMap::from([("region".to_string(), who.user.region_code.clone())]);
        let mut page = page_of(&state, &who, values, &[], None).await?;
        page.export_error = downloads::reason_missing();
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let found = list(&state, &who).await?;
    let table = Table {
        sheet: "购买服务合同",
        title: format!("政府购买精神障碍社区康复服务合同 — {}", state.tree.path_name(&who.user.region_code)),
        notes: vec![
            "口径：服务人数为合同期内在承接方于合同地区所办机构接受过服务的人数；人均经费 = 合同金额 ÷ 服务人数。".to_string(),
            format!("导出日期：{}", crate::entry::today()),
        ],
        headers: &["序号", "地区", "购买方", "承接方", "统一社会信用代码", "开始日期", "结束日期", "合同金额（元）", "人均标准（元）", "计划人数", "服务人数", "服务人次", "人均经费（元）"],
        widths: &[6.0, 30.0, 20.0, 24.0, 22.0, 12.0, 12.0, 14.0, 12.0, 10.0, 10.0, 10.0, 14.0],
    };
    let rows = found.iter().map(|c| {
        vec![
            text(state.tree.path_name(&c.region)),
            text(c.buyer.clone()),
            text(c.provider.clone()),
            text(c.provider_code.clone()),
            text(c.starts_on.to_string()),
            text(c.ends_on.to_string()),
            num(c.budget_yuan as f64),
            num(c.standard_for_period_yuan as f64),
            num(c.planned_persons as f64),
            num(c.persons_served as f64),
            num(c.contacts as f64),
            c.spend_per_person_yuan
                .map_or_else(|| text("—"), |n| num(n as f64)),
        ]
    });
    downloads::book(
        &state,
        &who,
        "contract.export",
        reason,
        "购买服务合同",
        vec![(table, rows.collect())],
    )
    .await
}

/// What the form says, or the problems of its text (dates, numbers).
/// The contract a form sends, or every problem: a date or number the form cannot read is one
/// problem, and the rules still check every other field.
fn contract_of(
    values: &BTreeMap<String, String>,
    tree: &RegionTree,
    scope: &Scope,
) -> Result<NewContract, Vec<Problem>> {
    let get = |k: &str| values.get(k).map_or("", |s| s.trim()).to_string();
    let mut problems = Vec::new();
    let mut date = |k: &'static str| match NaiveDate::parse_from_str(&get(k), "%Y-%m-%d") {
        Ok(d) => d,
        Err(_) => {
            problems.push(Problem {
                field: k.into(),
                code: "date-invalid".into(),
                message: jingkang_core::messages::render("date-invalid", &[]),
            });
            NaiveDate::MIN
        }
    };
    let (starts_on, ends_on) = (date("starts_on"), date("ends_on"));
    let mut number = |k: &'static str, code: &'static str, required: bool| match get(k)
        .replace([',', '，'], "")
    {
        t if t.is_empty() && !required => None,
        t => match t.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                problems.push(Problem {
                    field: k.into(),
                    code: code.into(),
                    message: jingkang_core::messages::render(code, &[]),
                });
                None
            }
        },
    };
    let budget = number("budget_yuan", "contract-budget-invalid", true);
    let per_person = number("per_person_yuan", "contract-standard-invalid", false);
    let planned = number("planned_persons", "contract-planned-invalid", false);
    let unread = problems;
    let new = NewContract {
        region: get("region"),
        buyer: get("buyer"),
        provider: get("provider"),
        provider_code: get("provider_code"),
        // An unreadable date does not also make the period wrong.
        starts_on: if starts_on == NaiveDate::MIN {
            ends_on
        } else {
            starts_on
        },
        ends_on: if ends_on == NaiveDate::MIN {
            starts_on
        } else {
            ends_on
        },
        budget_yuan: budget.unwrap_or(1),
        per_person_yuan: per_person,
        planned_persons: planned,
    };
    let mut problems: Vec<Problem> = store::check(&new, tree, scope)
        .into_iter()
        .filter(|(f, _)| !unread.iter().any(|u| u.field == *f))
        .map(|(f, c)| Problem {
            field: f.into(),
            code: c.into(),
            message: jingkang_core::messages::render(c, &[]),
        })
        .collect();
    problems.extend(unread);
    // In the form's order.
    problems.sort_by_key(|p| FORM_ORDER.iter().position(|f| *f == p.field));
    if problems.is_empty() {
        Ok(new)
    } else {
        Err(problems)
    }
}

/// The contract form's fields, top to bottom.
const FORM_ORDER: [&str; 9] = [
    "region",
    "buyer",
    "provider",
    "provider_code",
    "starts_on",
    "ends_on",
    "budget_yuan",
    "per_person_yuan",
    "planned_persons",
];

/// Record from the form; problems show the page again beside the form (422).
pub async fn create(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let values: BTreeMap<String, String> = pairs.into_iter().collect();
    let outcome = match contract_of(&values, &state.tree, &who.scope) {
        Ok(new) => record(&state, &who, new).await?,
        Err(p) => Err(p),
    };
    match outcome {
        Ok(id) => Ok(Redirect::to(&format!("/contracts?saved={id}")).into_response()),
        Err(problems) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            page_of(&state, &who, values, &problems, None).await?,
        )
            .into_response()),
    }
}

/// The contracts of the caller's area with persons served, contacts and spend per person.
#[utoipa::path(get, path = "/api/v1/contracts", responses((status = 200, body = Vec<Contract>)), security(("bearer" = [])), tag = "institutions")]
pub async fn api_list(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Vec<Contract>>, ApiError> {
    Ok(Json(list(&state, &who).await?))
}

/// Record a purchase-of-service contract (the provider's credit code is checked, GB 32100).
#[utoipa::path(post, path = "/api/v1/contracts", request_body = NewContract,
    responses((status = 201, body = Created), (status = 422, body = InstitutionRefused)), security(("bearer" = [])), tag = "institutions")]
pub async fn api_create(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    body: Result<Json<NewContract>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(new) = body.map_err(|_| AppError::BadRequest("form-invalid".into()))?;
    match record(&state, &who, new).await? {
        Ok(id) => Ok((StatusCode::CREATED, Json(Created { id })).into_response()),
        Err(problems) => {
            let message = problems
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join("；");
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(InstitutionRefused {
                    code: "contract-invalid".into(),
                    message,
                    problems,
                }),
            )
                .into_response())
        }
    }
}

impl FieldProblems for Page {
    fn problems(&self) -> &[(String, String)] {
        &self.errors
    }
}
