//! Service-record pages (SPEC §6): the entry form made for a week of group sessions in under a
//! minute — item, mode, the days of this week as checkboxes (or any dates), the times, and the
//! participants ticked once for all the dates — the list of recent sessions, and the API.

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike, Duration, NaiveDate};
use jingkang_core::accounts::policy::Permission;
use jingkang_core::care::service::{self, FieldError, SessionInput};
use jingkang_core::domain::RegistrationState;
use jingkang_core::export::table::Table;
use jingkang_core::store::batch::Outcome;
use jingkang_core::store::persons::ListFilter;
use jingkang_core::store::services::{self as store, Refusal, StoredSession};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::api_base::{ApiError, ApiUser};
use crate::auth::CurrentUser;
use crate::downloads::{num, text};
use crate::entry::today;
use crate::error::{AppError, AppResult};
use crate::extract::{Form, Query};
use crate::pages::Chrome;
use crate::problems::FieldProblems;

/// Check and record an entry in one group-committed transaction.
pub(crate) async fn record(
    state: &AppState,
    who: &CurrentUser,
    input: &SessionInput,
) -> AppResult<Result<Vec<i64>, Vec<FieldError>>> {
    let session = match service::validate(&state.services, input, today()) {
        Ok(s) => std::sync::Arc::new(s),
        Err(e) => return Ok(Err(e)),
    };
    let (scope, actor) = (who.scope.clone(), who.user.actor());
    let done = state
        .writes
        .run(move |tx| {
            let (scope, actor, session) = (scope.clone(), actor.clone(), session.clone());
            Box::pin(async move {
                Ok(Outcome::Keep(
                    store::record(tx, &scope, &actor, &session).await?,
                ))
            })
        })
        .await?;
    Ok(match done {
        Ok(ids) => Ok(ids),
        Err(Refusal::UnknownParticipants(n)) => Err(vec![FieldError {
            field: "participants".into(),
            code: "service-participant-unknown".into(),
            message: jingkang_core::messages::render(
                "service-participant-unknown",
                &[("n", &n.to_string())],
            ),
        }]),
    })
}

pub struct Pick {
    value: String,
    label: String,
    checked: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "service_form.html")]
pub struct FormPage {
    chrome: Option<Chrome>,
    csrf: String,
    items: Vec<Pick>,
    modes: Vec<Pick>,
    /// This week's days up to today.
    days: Vec<Pick>,
    other_date: String,
    start: String,
    end: String,
    staff: String,
    notes: String,
    persons: Vec<Pick>,
    errors: Vec<(String, String)>,
}

fn field_error(errors: &[FieldError], field: &str) -> Option<String> {
    let m: Vec<&str> = errors
        .iter()
        .filter(|e| e.field == field)
        .map(|e| e.message.as_str())
        .collect();
    (!m.is_empty()).then(|| m.join("；"))
}

async fn form_page(
    state: &AppState,
    who: &CurrentUser,
    input: &SessionInput,
    errors: &[FieldError],
) -> AppResult<FormPage> {
    let day = today();
    let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
    let week: Vec<NaiveDate> = (0..7)
        .map(|i| monday + Duration::days(i))
        .filter(|d| *d <= day)
        .collect();
    let days = week
        .iter()
        .map(|d| Pick {
            value: d.to_string(),
            label: format!(
                "{} 周{}",
                d.format("%m-%d"),
                ["一", "二", "三", "四", "五", "六", "日"]
                    [d.weekday().num_days_from_monday() as usize]
            ),
            checked: input.dates.iter().any(|x| x == &d.to_string()),
        })
        .collect();
    let other_date = input
        .dates
        .iter()
        .find(|x| !week.iter().any(|d| &d.to_string() == *x))
        .cloned()
        .unwrap_or_default();
    // The persons in service in the user's scope (a site's or a township's), by name: a list
    // read, audited as every list of persons is.
    let filter = ListFilter {
        limit: Some(300),
        ..Default::default()
    };
    let list = crate::pages::list_audited(state, who, filter, 300, "service-form").await?;
    let mut persons: Vec<Pick> = list
        .into_iter()
        .filter(|p| {
            matches!(
                p.state,
                RegistrationState::Registered | RegistrationState::InService
            )
        })
        .map(|p| Pick {
            checked: input.participants.contains(&p.id),
            value: p.id.to_string(),
            label: p.record.data.name,
        })
        .collect();
    persons.sort_by(|a, b| a.label.cmp(&b.label));
    let c = &state.services;
    Ok(FormPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        items: c
            .items
            .iter()
            .map(|i| Pick {
                value: i.code.clone(),
                label: i.label.clone(),
                checked: i.code == input.item,
            })
            .collect(),
        modes: c
            .modes
            .iter()
            .map(|m| Pick {
                value: m.code.clone(),
                label: m.label.clone(),
                checked: m.code == input.mode,
            })
            .collect(),
        days,
        other_date,
        start: if input.start.is_empty() {
            "09:00".into()
        } else {
            input.start.clone()
        },
        end: if input.end.is_empty() {
            "10:00".into()
        } else {
            input.end.clone()
        },
        staff: if input.staff.is_empty() {
            who.user.display_name.clone()
        } else {
            input.staff.clone()
        },
        notes: input.notes.clone(),
        persons,
        errors: [
            "item",
            "mode",
            "dates",
            "start",
            "end",
            "staff",
            "participants",
        ]
        .into_iter()
        .filter_map(|f| field_error(errors, f).map(|m| (f.to_string(), m)))
        .collect(),
    })
}

/// The entry form.
pub async fn new_form(State(state): State<AppState>, who: CurrentUser) -> AppResult<Response> {
    let input = SessionInput {
        mode: "institution".into(),
        ..Default::default()
    };
    Ok(form_page(&state, &who, &input, &[]).await?.into_response())
}

/// Record from the form: every ticked day is one session for all ticked participants.
pub async fn create(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let mut input = SessionInput::default();
    for (k, v) in pairs {
        match k.as_str() {
            "csrf" => {} // checked by the form extractor
            "item" => input.item = v,
            "mode" => input.mode = v,
            "dates" | "other_date" if !v.trim().is_empty() => input.dates.push(v),
            "start" => input.start = v,
            "end" => input.end = v,
            "staff" => input.staff = v,
            "notes" => input.notes = v,
            "participants" => {
                if let Ok(id) = v.trim().parse() {
                    input.participants.push(id);
                }
            }
            _ => {}
        }
    }
    match record(&state, &who, &input).await? {
        Ok(ids) => Ok(Redirect::to(&format!(
            "/services?recorded={}&people={}",
            ids.len(),
            input.participants.len()
        ))
        .into_response()),
        Err(errors) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            form_page(&state, &who, &input, &errors).await?,
        )
            .into_response()),
    }
}

pub struct SessionLine {
    pub(crate) date: String,
    pub(crate) time: String,
    pub(crate) item: String,
    pub(crate) mode: String,
    pub(crate) participants: i64,
    pub(crate) staff: String,
    pub(crate) notes: String,
}

pub(crate) fn lines(state: &AppState, list: &[StoredSession]) -> Vec<SessionLine> {
    list.iter()
        .map(|s| SessionLine {
            date: s.service_date.to_string(),
            time: format!("{}–{}", s.start_time, s.end_time),
            item: state
                .services
                .item(&s.item)
                .map_or_else(|| s.item.clone(), |i| i.label.clone()),
            mode: state
                .services
                .mode(&s.mode)
                .map_or_else(|| s.mode.clone(), |m| m.label.clone()),
            participants: s.participants,
            staff: s.staff.clone(),
            notes: s.notes.clone().unwrap_or_default(),
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "services.html")]
pub struct ListPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<String>,
    can_record: bool,
    sessions: Vec<SessionLine>,
    /// The download's days (`YYYY-MM-DD`): the month so far by default.
    export_from: String,
    export_to: String,
    export_error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    recorded: Option<usize>,
    people: Option<usize>,
}

/// The most sessions one download holds.
const EXPORT_MAX: i64 = 50_000;

/// The latest sessions recorded in the user's scope.
pub async fn page(
    State(state): State<AppState>,
    who: CurrentUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let notice = q.recorded.map(|n| {
        format!(
            "已保存 {n} 次服务，每次 {} 名参加者。",
            q.people.unwrap_or(0)
        )
    });
    Ok(list_page(&state, &who, notice, None, None)
        .await?
        .into_response())
}

async fn list_page(
    state: &AppState,
    who: &CurrentUser,
    notice: Option<String>,
    days: Option<(String, String)>,
    export_error: Option<String>,
) -> AppResult<ListPage> {
    let list = in_scope(state, who, None, 200, None).await?;
    let today = today();
    let (export_from, export_to) = days.unwrap_or_else(|| {
        (
            today.with_day(1).unwrap_or(today).to_string(),
            today.to_string(),
        )
    });
    Ok(ListPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        notice,
        can_record: who.may(Permission::RecordServices),
        sessions: lines(state, &list),
        export_from,
        export_to,
        export_error,
    })
}

/// The sessions of scope on the days of `within`, read with their audit entry: a list read, or
/// with a reason a download (`service.export`).
async fn in_scope(
    state: &AppState,
    who: &CurrentUser,
    within: Option<(NaiveDate, NaiveDate)>,
    limit: i64,
    reason: Option<String>,
) -> AppResult<Vec<StoredSession>> {
    let (scope, actor) = (who.scope.clone(), who.user.actor());
    let region = who.user.region_code.clone();
    Ok(state
        .writes
        .run(move |tx| {
            let (scope, actor, region, reason) = (scope.clone(), actor.clone(), region.clone(), reason.clone());
            Box::pin(async move {
                let list = store::in_scope(tx, &scope, within, limit).await?;
                let target = Some(jingkang_core::store::audit::Target::region(&region));
                let (action, detail) = match reason {
                    None => ("service.list", serde_json::json!({"results": list.len()})),
                    Some(reason) => ("service.export", serde_json::json!({"results": list.len(), "from": within.map(|w| w.0), "to": within.map(|w| w.1), "reason": reason})),
                };
                jingkang_core::store::audit::record(tx, &actor, action, target, detail).await?;
                Ok(Outcome::Keep(list))
            })
        })
        .await?)
}

#[derive(Deserialize, Default)]
pub struct ExportForm {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    reason: String,
}

/// The sessions of the days asked for as .xlsx, with a reason, audited `service.export` in the
/// transaction that reads them.
pub async fn export(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(form): Form<ExportForm>,
) -> AppResult<Response> {
    let days = (form.from.trim().to_string(), form.to.trim().to_string());
    let date = |t: &str| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok();
    let (from, to) = match (date(&days.0), date(&days.1)) {
        (Some(f), Some(t)) if f <= t => (f, t),
        _ => {
            let error = Some(jingkang_core::messages::render(
                "services-export-days-invalid",
                &[],
            ));
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                list_page(&state, &who, None, Some(days), error).await?,
            )
                .into_response());
        }
    };
    let Some(reason) = crate::downloads::reason_of(&form.reason) else {
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            list_page(
                &state,
                &who,
                None,
                Some(days),
                crate::downloads::reason_missing(),
            )
            .await?,
        )
            .into_response());
    };
    let list = in_scope(&state, &who, Some((from, to)), EXPORT_MAX, Some(reason)).await?;
    let mut notes = vec![
        format!("服务日期：{from} 至 {to}"),
        format!("导出日期：{}", today()),
    ];
    if list.len() as i64 >= EXPORT_MAX {
        notes.push(format!(
            "仅含最近的 {EXPORT_MAX} 次服务，请缩短日期范围后分次导出。"
        ));
    }
    let table = Table {
        sheet: "康复服务",
        title: format!(
            "精神障碍社区康复服务记录 — {}",
            state.tree.path_name(&who.user.region_code)
        ),
        notes,
        headers: &[
            "序号",
            "日期",
            "时间",
            "服务项目",
            "方式",
            "参加人数",
            "服务人员",
            "内容摘要",
        ],
        widths: &[6.0, 12.0, 12.0, 16.0, 8.0, 10.0, 12.0, 40.0],
    };
    let rows = lines(&state, &list).into_iter().map(|l| {
        vec![
            text(l.date),
            text(l.time),
            text(l.item),
            text(l.mode),
            num(l.participants as f64),
            text(l.staff),
            text(l.notes),
        ]
    });
    crate::downloads::file(
        &format!("康复服务-{from}至{to}"),
        vec![(table, rows.collect())],
    )
}

/// The latest 500 sessions recorded in the caller's scope. Audited.
#[utoipa::path(get, path = "/api/v1/services", responses((status = 200, body = Vec<StoredSession>)), security(("bearer" = [])), tag = "services")]
pub async fn api_list(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Vec<StoredSession>>, ApiError> {
    Ok(Json(in_scope(&state, &who, None, 500, None).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServicesRecorded {
    /// One session per date.
    pub ids: Vec<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServicesRefused {
    pub code: String,
    pub message: String,
    pub problems: Vec<FieldError>,
}

/// Record a session (or the same group's sessions on several dates). Problems answer 422, by
/// field; nothing is written.
#[utoipa::path(post, path = "/api/v1/services", request_body = SessionInput,
    responses((status = 201, body = ServicesRecorded), (status = 422, body = ServicesRefused)), security(("bearer" = [])), tag = "services")]
pub async fn api_create(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    body: Result<Json<SessionInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(input) = body.map_err(|_| AppError::BadRequest("form-invalid".into()))?;
    match record(&state, &who, &input).await? {
        Ok(ids) => Ok((StatusCode::CREATED, Json(ServicesRecorded { ids })).into_response()),
        Err(problems) => {
            let message = problems
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join("；");
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(ServicesRefused {
                    code: "service-invalid".into(),
                    message,
                    problems,
                }),
            )
                .into_response())
        }
    }
}

impl FieldProblems for FormPage {
    fn problems(&self) -> &[(String, String)] {
        &self.errors
    }
}
