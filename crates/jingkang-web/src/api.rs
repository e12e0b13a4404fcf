//! JSON API under `/api/v1`: the same scope, roles and audit as the pages, for bearer tokens from
//! `jingkang token create` (or a browser session). Errors are `{"code","message"}`. The OpenAPI
//! document is generated from these handlers by utoipa.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use jingkang_core::regions::Scope;
use jingkang_core::registry::{self, Sensitivity};
use jingkang_core::store::persons::ListFilter;
use jingkang_core::store::registration;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::AppError;
use crate::extract::{Path, Query};

pub use crate::api_base::{ApiError, ApiErrorBody, ApiUser};

/// A person in a list: identifiers masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonSummary {
    pub id: i64,
    pub name: String,
    /// `male` or `female`.
    pub sex: String,
    pub birth_date: chrono::NaiveDate,
    /// Masked, e.g. `5001**********1234`.
    pub id_number_masked: String,
    /// 9-digit township code of residence.
    pub residence_region: String,
    /// Registration state: `pending` (待评估), `registered` (已登记), `in_service` (服务中),
    /// `suspended` (暂停), `closed` (结案) or `declined` (不参与).
    pub state: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonPage {
    pub items: Vec<PersonSummary>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_after: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PersonQuery {
    /// ID-number prefix (≥ 4 characters), pinyin initials, or part of a name.
    pub q: Option<String>,
    /// Only this region's subtree (inside the caller's scope).
    pub region: Option<String>,
    /// Only persons in this registration state (`pending`, `registered`, `in_service`,
    /// `suspended`, `closed`, `declined`).
    pub state: Option<String>,
    /// Cursor from `next_after`.
    pub after: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<i64>,
}

/// One field of a record as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldValue {
    pub field: String,
    pub label: String,
    pub value: String,
    /// The value is masked; reveal it in the web page, with a reason (audited).
    pub masked: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonRecord {
    pub id: i64,
    pub version: i64,
    /// Registration state code, as in the list.
    pub state: String,
    pub fields: Vec<FieldValue>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegionItem {
    pub code: String,
    pub name: String,
    pub path: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RegionQuery {
    /// Part of a region name, e.g. `万盛`.
    pub q: String,
}

/// Persons in the caller's scope.
#[utoipa::path(get, path = "/api/v1/persons", params(PersonQuery),
    responses((status = 200, body = PersonPage), (status = 401, body = ApiErrorBody), (status = 403, body = ApiErrorBody)),
    security(("bearer" = [])), tag = "persons")]
pub async fn persons_list(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Query(q): Query<PersonQuery>,
) -> Result<Json<PersonPage>, ApiError> {
    let within = match q.region.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        None => None,
        Some(code) => Some(Scope::of(state.tree.get(code).ok_or(AppError::NotFound)?)),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let filter = ListFilter {
        state: crate::pages::state_filter(q.state.as_deref().unwrap_or(""))?,
        within,
        limit: Some(limit + 1),
        after: q
            .after
            .as_deref()
            .and_then(|a| a.split_once('.'))
            .and_then(|(r, id)| Some((r.to_string(), id.parse().ok()?))),
        search: q.q.clone().filter(|s| !s.trim().is_empty()),
        ..Default::default()
    };
    let mut found = crate::pages::list_audited(&state, &who, filter, limit as usize, "api").await?;
    let next_after = if found.len() as i64 > limit {
        found.truncate(limit as usize);
        found
            .last()
            .map(|p| format!("{}.{}", p.record.data.residence_region, p.id))
    } else {
        None
    };
    let items = found
        .into_iter()
        .map(|p| PersonSummary {
            id: p.id,
            id_number_masked: registry::mask(Sensitivity::Identifier, &p.record.data.id_number),
            name: p.record.data.name,
            sex: p.record.data.sex,
            birth_date: p.record.data.birth_date,
            residence_region: p.record.data.residence_region,
            state: p.state.code().to_string(),
        })
        .collect();
    Ok(Json(PersonPage { items, next_after }))
}

/// One person's record (masked where sensitive). The read is audited.
#[utoipa::path(get, path = "/api/v1/persons/{id}", params(("id" = i64, Path, description = "Internal person id")),
    responses((status = 200, body = PersonRecord), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])), tag = "persons")]
pub async fn person_get(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
) -> Result<Json<PersonRecord>, ApiError> {
    let (p, ()) = crate::pages::read_person(&state, &who, id, nothing_more)
        .await?
        .ok_or(AppError::NotFound)?;
    let fields = registry::FIELDS
        .iter()
        .filter(|d| who.may_see_field(d.name))
        .filter_map(|d| {
            let raw = p.record.get(d.name).filter(|v| !v.is_empty())?;
            let masked = d.sensitivity != Sensitivity::Plain;
            let value = if masked {
                registry::mask(d.sensitivity, &raw)
            } else {
                raw
            };
            Some(FieldValue {
                field: d.name.to_string(),
                label: d.label_zh.to_string(),
                value,
                masked,
            })
        })
        .collect();
    Ok(Json(PersonRecord {
        id: p.id,
        version: p.version,
        state: p.state.code().to_string(),
        fields,
    }))
}

/// Regions by name, with their full paths.
#[utoipa::path(get, path = "/api/v1/regions", params(RegionQuery),
    responses((status = 200, body = Vec<RegionItem>)), security(("bearer" = [])), tag = "regions")]
pub async fn regions_find(
    State(state): State<AppState>,
    ApiUser(_who): ApiUser,
    Query(q): Query<RegionQuery>,
) -> Result<Json<Vec<RegionItem>>, ApiError> {
    let found = jingkang_core::store::regions::find(&state.db, &state.tree, q.q.trim(), 50).await?;
    Ok(Json(
        found
            .into_iter()
            .filter_map(|path| {
                let last = path.last()?;
                Some(RegionItem {
                    code: last.code.clone(),
                    name: last.name.clone(),
                    path: path
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(" / "),
                })
            })
            .collect(),
    ))
}

/// One problem in one cell of an imported file.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportRowError {
    /// Row number as Excel shows it.
    pub row: u32,
    /// Column code name (`id_number`, `name`, `township`, …).
    pub field: String,
    /// The column's header as written in the file.
    pub column: String,
    pub code: String,
    pub message: String,
}

/// What an import did, or — for a dry run — would do.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    pub dry_run: bool,
    pub header_row: u32,
    pub rows_read: u64,
    pub accepted: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// `[row, same_as_row]` pairs: later rows with an ID number already seen (the first 1 000).
    pub duplicates: Vec<[u32; 2]>,
    pub duplicates_total: u64,
    /// The first 1 000 problems by row; `errors_total` in all, `error_counts` per code.
    pub errors: Vec<ImportRowError>,
    pub errors_total: u64,
    pub error_counts: std::collections::BTreeMap<String, u64>,
    /// Rows not imported because of a problem.
    pub rows_rejected: u64,
    /// Read, but to be checked (a formula cell without a saved result, read as empty): the first
    /// 1 000; `warnings_total` in all.
    pub warnings: Vec<ImportRowError>,
    pub warnings_total: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ImportQuery {
    /// The file's name; its extension (.xlsx, .xls, .csv) selects the reader.
    pub file_name: String,
    /// Check only, write nothing (default `true`: writing must be asked for).
    pub dry_run: Option<bool>,
}

/// Import a 附件3 roster (the request body is the file) into the caller's county or township.
/// All-or-nothing; rows with errors are reported and not imported. Audited.
#[utoipa::path(post, path = "/api/v1/imports", params(ImportQuery), request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = ImportResult), (status = 422, body = ApiErrorBody, description = "The file could not be imported at all; nothing was written")),
    security(("bearer" = [])), tag = "imports")]
pub async fn import_roster(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Query(q): Query<ImportQuery>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    use http_body_util::BodyExt;
    use std::io::Write;
    let region = jingkang_core::import::entry::entry_region(&state.tree, &who.scope)
        .ok_or(AppError::BadRequest("entry-region-too-low".into()))?
        .clone();
    let ext: String = q
        .file_name
        .rsplit_once('.')
        .map(|(_, e)| e)
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    let mut tmp = tempfile::Builder::new()
        .prefix("jingkang-api-")
        .suffix(&format!(".{}", ext.to_ascii_lowercase()))
        .tempfile()
        .map_err(anyhow::Error::from)?;
    // Streamed to the file: the body is never held whole (up to the one upload limit).
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            if e.into_inner().is::<http_body_util::LengthLimitError>() {
                ApiError(AppError::TooLarge)
            } else {
                ApiError(AppError::BadRequest("upload-invalid".into()))
            }
        })?;
        if let Ok(chunk) = frame.into_data() {
            tmp.write_all(&chunk).map_err(anyhow::Error::from)?;
        }
    }
    tmp.flush().map_err(anyhow::Error::from)?;
    let actor = who.user.actor();
    let opts = jingkang_core::import::ImportOptions {
        county: &region.code,
        dry_run: q.dry_run.unwrap_or(true),
        actor: &actor,
        source: &q.file_name,
        today: crate::entry::today(),
        progress: None,
    };
    match jingkang_core::import::import_roster(&state.db, &state.tree, tmp.path(), &opts).await {
        Ok(r) => Ok(Json(ImportResult {
            dry_run: r.dry_run,
            header_row: r.header_row,
            rows_read: r.rows_read,
            accepted: r.accepted,
            created: r.created,
            updated: r.updated,
            unchanged: r.unchanged,
            duplicates: r
                .duplicates
                .iter()
                .map(|d| [d.row, d.same_as_row])
                .collect(),
            duplicates_total: r.duplicates_total,
            errors_total: r.errors_total,
            error_counts: r.error_counts.clone(),
            rows_rejected: r.rows_rejected,
            warnings_total: r.warnings_total,
            warnings: r
                .warnings
                .iter()
                .map(|e| ImportRowError {
                    row: e.row,
                    field: e.field.to_string(),
                    column: e.column.clone(),
                    code: e.code.clone(),
                    message: e.message.clone(),
                })
                .collect(),
            errors: r
                .errors
                .into_iter()
                .map(|e| ImportRowError {
                    row: e.row,
                    field: e.field.to_string(),
                    column: e.column,
                    code: e.code,
                    message: e.message,
                })
                .collect(),
        })
        .into_response()),
        Err(e) if e.code() == "internal-error" => Err(anyhow::anyhow!("{e:#}").into()),
        Err(e) => Ok((
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            Json(ApiErrorBody {
                code: e.code().to_string(),
                message: e.message_zh(),
            }),
        )
            .into_response()),
    }
}

/// A person's registration state, what may be done next, and every change so far.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationInfo {
    /// `pending` (待评估), `registered` (已登记), `in_service` (服务中), `suspended` (暂停),
    /// `closed` (结案) or `declined` (不参与).
    pub state: String,
    /// Event codes allowed now: `register`, `start_service`, `suspend`, `resume`, `close`,
    /// `decline`, `reopen`.
    pub allowed: Vec<String>,
    /// Oldest first.
    pub events: Vec<RegistrationEventItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegistrationEventItem {
    pub event: String,
    pub from_state: String,
    pub to_state: String,
    /// For `close`: `recovered`, `moved_away`, `died`, `long_term_hospital`, `withdrew`, `other`.
    pub close_reason: Option<String>,
    pub reason: Option<String>,
    /// Registered although the eligibility rule was not met (the reason says why).
    pub exception: bool,
    pub actor: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// A change of registration state.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegistrationRequest {
    /// Event code, as in `allowed`.
    pub event: String,
    /// Needed for `suspend`, `decline`, `reopen` and `close` with `other`; for `register`, the
    /// reason of an exception to the eligibility rule.
    #[serde(default)]
    pub reason: String,
    /// Needed for `close`.
    #[serde(default)]
    pub close_reason: String,
    /// For `register`: the evaluator states there is no serious physical or infectious disease.
    /// Without an exception reason, `register` needs every eligibility condition met.
    #[serde(default)]
    pub no_serious_disease: bool,
}

fn nothing_more<'a>(
    _: &'a mut jingkang_core::store::Tx,
    _: &'a jingkang_core::regions::Scope,
    _: i64,
) -> jingkang_core::store::batch::BoxFuture<'a, anyhow::Result<()>> {
    Box::pin(async { Ok(()) })
}

fn events_of<'a>(
    tx: &'a mut jingkang_core::store::Tx,
    scope: &'a jingkang_core::regions::Scope,
    id: i64,
) -> jingkang_core::store::batch::BoxFuture<'a, anyhow::Result<Vec<registration::RegistrationEvent>>>
{
    Box::pin(registration::events(tx, scope, id))
}

async fn registration_info(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
) -> Result<RegistrationInfo, ApiError> {
    let (p, events) = crate::pages::read_person(state, who, id, events_of)
        .await?
        .ok_or(AppError::NotFound)?;
    let current = p.state;
    Ok(RegistrationInfo {
        state: current.code().to_string(),
        allowed: jingkang_core::care::registration::allowed(current)
            .into_iter()
            .map(str::to_string)
            .collect(),
        events: events
            .into_iter()
            .map(|e| RegistrationEventItem {
                event: e.event,
                from_state: e.from_state,
                to_state: e.to_state,
                close_reason: e
                    .close_reason
                    .filter(|_| who.may_see_field("registration.reason")),
                reason: e
                    .reason
                    .filter(|_| who.may_see_field("registration.reason")),
                exception: e.exception,
                actor: e.actor,
                at: e.at,
            })
            .collect(),
    })
}

/// A person's registration state and its changes. The read is audited.
#[utoipa::path(get, path = "/api/v1/persons/{id}/registration", params(("id" = i64, Path, description = "Internal person id")),
    responses((status = 200, body = RegistrationInfo), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])), tag = "registration")]
pub async fn registration_get(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
) -> Result<Json<RegistrationInfo>, ApiError> {
    Ok(Json(registration_info(&state, &who, id).await?))
}

/// Change a person's registration state. A refusal (an event the state does not allow, a missing
/// reason) answers 422 and changes nothing.
#[utoipa::path(post, path = "/api/v1/persons/{id}/registration", request_body = RegistrationRequest,
    params(("id" = i64, Path, description = "Internal person id")),
    responses((status = 200, body = RegistrationInfo), (status = 404, body = ApiErrorBody),
        (status = 422, body = ApiErrorBody, description = "Not allowed now, or a reason is missing; nothing was written")),
    security(("bearer" = [])), tag = "registration")]
pub async fn registration_post(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<RegistrationRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|_| AppError::BadRequest("form-invalid".into()))?;
    let unprocessable = |code: &str, message: String| {
        (
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            Json(ApiErrorBody {
                code: code.to_string(),
                message,
            }),
        )
            .into_response()
    };
    let event = match crate::care::event_of(&req.event, &req.reason, &req.close_reason) {
        Ok(e) => e,
        Err(code) => {
            return Ok(unprocessable(
                code,
                jingkang_core::messages::template(code).to_string(),
            ));
        }
    };
    let mut tx = state.db.begin().await?;
    match registration::transition(
        &mut tx,
        &who.scope,
        &who.user.actor(),
        id,
        &event,
        &crate::care::gate(req.no_serious_disease)?,
    )
    .await?
    {
        Ok(_) => tx.commit().await?,
        Err(registration::Refusal::NotFound) => return Err(AppError::NotFound.into()),
        Err(registration::Refusal::Rule(e)) => return Ok(unprocessable(e.code(), e.message())),
        Err(r) => return Ok(unprocessable(r.code(), r.message())),
    }
    Ok(Json(registration_info(&state, &who, id).await?).into_response())
}

/// A user account (no secrets).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserItem {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    /// Role code: admin, civil, township, worker, doctor, hospital, police, disability, health, auditor.
    pub role: String,
    pub region: String,
    pub organisation: Option<String>,
    pub disabled: bool,
    pub must_change_password: bool,
    pub second_factor: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUserRequest {
    pub username: String,
    pub display_name: String,
    pub role: String,
    /// Region code inside the administrator's own region.
    pub region: String,
    /// The user's organisation (its region must contain the user's).
    pub organisation_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewUserResponse {
    pub id: i64,
    pub username: String,
    /// Shown once; the user must change it at first login.
    pub first_password: String,
}

/// Accounts of the administrator's region subtree.
#[utoipa::path(get, path = "/api/v1/users", responses((status = 200, body = Vec<UserItem>), (status = 403, body = ApiErrorBody)),
    security(("bearer" = [])), tag = "users")]
pub async fn users_list(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Vec<UserItem>>, ApiError> {
    let mut tx = state.db.begin().await?;
    let all = jingkang_core::store::accounts::list_users(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(
        all.into_iter()
            .filter(|u| who.scope.contains(&u.region_code))
            .map(|u| UserItem {
                id: u.id,
                role: u.role.code().to_string(),
                region: u.region_code,
                organisation: u.organisation,
                disabled: u.disabled,
                must_change_password: u.must_change_password,
                second_factor: u.totp_enrolled,
                username: u.username,
                display_name: u.display_name,
            })
            .collect(),
    ))
}

/// Create an account in the administrator's region subtree, with a first password shown once.
#[utoipa::path(post, path = "/api/v1/users", request_body = NewUserRequest,
    responses((status = 201, body = NewUserResponse), (status = 400, body = ApiErrorBody), (status = 403, body = ApiErrorBody)),
    security(("bearer" = [])), tag = "users")]
pub async fn users_create(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    body: Result<Json<NewUserRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|_| AppError::BadRequest("form-invalid".into()))?;
    let role = jingkang_core::accounts::Role::parse(&req.role)
        .ok_or(AppError::BadRequest("role-invalid".into()))?;
    let region = req.region.trim();
    if !who.scope.contains(region) || state.tree.get(region).is_none() {
        return Err(AppError::BadRequest("region-unknown".into()).into());
    }
    let password = jingkang_core::accounts::generate_password();
    let new = jingkang_core::store::accounts::NewUser {
        username: req.username.trim(),
        display_name: req.display_name.trim(),
        role,
        region_code: region,
        password: &password,
        must_change_password: true,
        organisation_id: req.organisation_id,
    };
    let mut tx = state.db.begin().await?;
    match jingkang_core::store::accounts::create_user(&mut tx, &who.user.actor(), &new).await? {
        Ok(id) => {
            tx.commit().await?;
            let body = NewUserResponse {
                id,
                username: new.username.to_string(),
                first_password: password,
            };
            Ok((axum::http::StatusCode::CREATED, Json(body)).into_response())
        }
        Err(e) => Err(AppError::BadRequest(e.0.to_string()).into()),
    }
}

struct BearerAuth;
impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every error an operation can answer, documented where it can occur, each as [`ApiErrorBody`]
/// (the JSON layer, `error::api_json_errors`, makes every error under `/api` that shape):
/// 401 and 403 with a token; 429 everywhere (too many requests); 400 where there are parameters
/// or a body; 404 for a path with an id or a parameter naming something (a region); 413, 415 and
/// 422 where there is a body. Declared here
/// once, so that no handler can forget one.
struct ErrorResponses;
impl utoipa::Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |what: &str| -> RefOr<utoipa::openapi::Response> {
            RefOr::T(
                ResponseBuilder::new()
                    .description(what)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ApiErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let has_id = path.contains('{');
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let has_body = op.request_body.is_some();
                let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let mut add = |code: &str, what: &str| {
                    op.responses
                        .responses
                        .entry(code.to_string())
                        .or_insert_with(|| error(what));
                };
                if secured {
                    add("401", "缺少或无效的令牌，或账号已停用");
                    add("403", "角色无权进行此操作");
                }
                add("429", "请求过于频繁");
                if has_params || has_body {
                    add("400", "请求格式不正确");
                }
                if has_id || has_params {
                    add("404", "不存在，或不在调用者的管辖范围内");
                }
                if has_body {
                    add("413", "请求正文超过上限");
                    add("415", "请求正文类型不正确");
                    add("422", "请求内容不符合规则（逐项列出）");
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "精康 jingkang API", description = "社区康复服务信息系统接口：与网页相同的地区范围、角色与审计。令牌由 `jingkang token create` 生成。"),
    paths(persons_list, person_get, registration_get, registration_post, regions_find, import_roster, users_list, users_create,
        crate::api_care::followups_get, crate::api_care::followups_post, crate::api_care::risk_get, crate::api_care::followup_form,
        crate::api_care::worklist_get, crate::api_care::emergencies_get, crate::api_care::emergencies_post, crate::api_care::notifications_get,
        crate::api_care::referrals_get, crate::api_care::referrals_post, crate::api_care::referral_get, crate::api_care::referral_document, crate::api_care::referral_step,
        crate::api_care::instruments_get, crate::api_care::assessments_get, crate::api_care::assessments_post,
        crate::services::api_list, crate::services::api_create, crate::plans::api_list, crate::plans::api_create,
        crate::institutions::api_list, crate::institutions::api_create, crate::institutions::api_get, crate::institutions::api_assign,
        crate::institutions::api_staff, crate::institutions::api_staff_create, crate::institutions::api_training, crate::institutions::api_qualification, crate::contracts::api_list, crate::contracts::api_create,
        crate::family::api_trainings, crate::family::api_training_create, crate::family::api_respite, crate::family::api_respite_create,
        crate::family::api_groups, crate::family::api_group_create, crate::family::api_group, crate::family::api_meeting_create,
        crate::family::api_members_change, crate::family::api_peers, crate::family::api_peer_create, crate::family::api_peer_update),
    components(schemas(ApiErrorBody, PersonSummary, PersonPage, FieldValue, PersonRecord, RegionItem, ImportResult, ImportRowError,
        UserItem, NewUserRequest, NewUserResponse, RegistrationInfo, RegistrationEventItem, RegistrationRequest,
        crate::api_care::ScheduleInfo, jingkang_core::store::followups::StoredFollowup, jingkang_core::care::schedule::ConditionClass, crate::api_care::FollowupsInfo, crate::api_care::FieldProblem,
        crate::api_care::FollowupRefused, crate::api_care::FollowupRecorded, crate::api_care::RiskPoint, crate::api_care::RiskInfo,
        jingkang_core::store::worklists::WorkItem, crate::api_care::WorklistOut, jingkang_core::store::emergencies::StoredEmergency, crate::api_care::EmergencyRequest,
        crate::api_care::EmergencyRecorded, jingkang_core::store::alerts::Notification,
        jingkang_core::app::referrals::ReferralItem, crate::api_care::ReferralsOut, crate::api_care::ReferralRequest, crate::api_care::DocumentIn, crate::api_care::ContactIn, crate::api_care::ReferralSent,
        crate::api_care::ReferralStep, crate::api_care::ReferralStepped, jingkang_core::app::referrals::ReferralDetail, jingkang_core::app::referrals::CarriedDocument,
        jingkang_core::app::referrals::SenderContact,
        jingkang_core::app::referrals::ReferralStepRow, jingkang_core::care::instrument::Instrument, jingkang_core::care::instrument::Item,
        jingkang_core::care::instrument::Choice, jingkang_core::care::instrument::Total, jingkang_core::care::instrument::Band,
        jingkang_core::care::instrument::Scored, jingkang_core::care::instrument::ItemScore, jingkang_core::care::instrument::Problem,
        jingkang_core::store::assessments::StoredAssessment, crate::api_care::AssessmentRequest, crate::api_care::AssessmentRecorded,
        crate::api_care::AssessmentRefused, jingkang_core::store::services::StoredSession, jingkang_core::care::service::SessionInput,
        jingkang_core::care::service::FieldError, crate::services::ServicesRecorded, crate::services::ServicesRefused,
        jingkang_core::store::plans::StoredPlan, jingkang_core::store::plans::PlanItem, jingkang_core::store::plans::NewPlan,
        crate::plans::PlanRecorded, crate::plans::PlanRefused, crate::plans::PlanProblem,
        jingkang_core::store::institutions::Institution, jingkang_core::store::institutions::NewInstitution, jingkang_core::store::institutions::NewStaff,
        jingkang_core::store::institutions::NewQualification, jingkang_core::store::institutions::NewTraining, jingkang_core::store::institutions::StaffMember,
        jingkang_core::store::institutions::Qualification, crate::institutions::InstitutionProblem, crate::institutions::InstitutionRefused,
        crate::institutions::Created, crate::institutions::AssignRequest, crate::institutions::Assigned,
        jingkang_core::store::contracts::Contract, jingkang_core::store::contracts::NewContract,
        jingkang_core::care::family::FamilyMemberInput, jingkang_core::care::family::TrainingInput, jingkang_core::care::family::RespiteInput,
        jingkang_core::care::family::GroupInput, jingkang_core::care::family::MembersInput, jingkang_core::care::family::LeaveInput,
        jingkang_core::care::family::MeetingInput, jingkang_core::care::family::PeerInput, jingkang_core::care::family::PeerUpdateInput,
        jingkang_core::store::family::StoredTraining, jingkang_core::store::family::StoredAttendee, jingkang_core::store::family::StoredRespite,
        jingkang_core::store::family::StoredGroup, jingkang_core::store::family::StoredMember, jingkang_core::store::family::StoredMeeting,
        jingkang_core::store::family::GroupDetail, jingkang_core::store::family::StoredPeer,
        crate::family::FamilyRecorded, crate::family::FamilyRefused, crate::family::TrainingOut)),
    modifiers(&BearerAuth, &ErrorResponses)
)]
pub struct ApiDoc;

pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Unknown paths under /api answer in JSON too.
pub async fn not_found() -> ApiError {
    ApiError(AppError::NotFound)
}
