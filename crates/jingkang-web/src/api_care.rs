//! The care workflow in the JSON API: follow-ups, risk, the follow-up form definition and the
//! worklists — the same scope, roles and audit as the pages.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use jingkang_core::care::followup::{self, FormDef};
use jingkang_core::care::schedule::RISK_GRADES;
use jingkang_core::regions::Scope;
use jingkang_core::store::Tx;
use jingkang_core::store::alerts::Notification;
use jingkang_core::store::batch::BoxFuture;
use jingkang_core::store::emergencies::StoredEmergency;
use jingkang_core::store::followups::{self, Refusal, Schedule, StoredFollowup};
use jingkang_core::store::worklists::{WorkFilter, WorkItem};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::api_base::{ApiError, ApiErrorBody, ApiUser};
use crate::entry::today;
use crate::error::AppError;
use crate::extract::{Path, Query};

/// The person's current risk and follow-up schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleInfo {
    /// 危险性评估 0–5 from the latest follow-up (or the roster), if any.
    pub risk_grade: Option<i64>,
    /// The official definition of that grade.
    pub risk_definition: Option<String>,
    /// `unstable` (不稳定), `basically_stable` (基本稳定) or `stable` (稳定).
    pub condition_class: Option<String>,
    pub last_followup_date: Option<NaiveDate>,
    pub next_followup_date: Option<NaiveDate>,
    /// The latest follow-up did not reach the person (失访).
    pub lost: bool,
}

impl From<Option<Schedule>> for ScheduleInfo {
    fn from(s: Option<Schedule>) -> Self {
        let s = s.unwrap_or(Schedule {
            risk_grade: None,
            condition_class: None,
            last_followup_date: None,
            next_followup_date: None,
            followup_lost: false,
        });
        ScheduleInfo {
            risk_definition: s
                .risk_grade
                .and_then(|g| RISK_GRADES.iter().find(|(n, _)| i64::from(*n) == g))
                .map(|(_, t)| t.to_string()),
            risk_grade: s.risk_grade,
            condition_class: s.condition_class,
            last_followup_date: s.last_followup_date,
            next_followup_date: s.next_followup_date,
            lost: s.followup_lost,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FollowupsInfo {
    pub schedule: ScheduleInfo,
    /// Newest visit first.
    pub items: Vec<StoredFollowup>,
}

/// Most follow-ups one API answer lists.
const API_FOLLOWUPS: i64 = 1000;

fn followups_of<'a>(
    tx: &'a mut Tx,
    scope: &'a Scope,
    id: i64,
) -> BoxFuture<'a, anyhow::Result<(Option<Schedule>, Vec<StoredFollowup>)>> {
    Box::pin(async move {
        Ok((
            followups::schedule(tx, scope, id).await?,
            followups::list(tx, scope, id, API_FOLLOWUPS).await?,
        ))
    })
}

async fn followups_info(
    state: &AppState,
    who: &crate::auth::CurrentUser,
    id: i64,
) -> Result<FollowupsInfo, ApiError> {
    let (_, (schedule, list)) = crate::pages::read_person(state, who, id, followups_of)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(FollowupsInfo {
        schedule: schedule.into(),
        items: list,
    })
}

/// A person's follow-ups and current schedule. The read is audited.
#[utoipa::path(get, path = "/api/v1/persons/{id}/followups", params(("id" = i64, Path, description = "Internal person id")),
    responses((status = 200, body = FollowupsInfo), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])), tag = "followups")]
pub async fn followups_get(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
) -> Result<Json<FollowupsInfo>, ApiError> {
    Ok(Json(followups_info(&state, &who, id).await?))
}

/// A field-level problem with a submitted follow-up.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub label: String,
    pub code: String,
    pub message: String,
}

/// A refused follow-up: every problem, each naming its field. Nothing was written.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowupRefused {
    pub code: String,
    pub message: String,
    pub errors: Vec<FieldProblem>,
}

/// What a recorded follow-up concluded.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowupRecorded {
    pub id: i64,
    pub condition_class: Option<String>,
    pub next_date: Option<NaiveDate>,
    /// Whether it is the person's latest visit (an older visit entered late is kept but does not
    /// move the schedule).
    pub current: bool,
    pub risk_grade: Option<i64>,
}

fn refused(errors: &[followup::FieldError]) -> Response {
    let body = FollowupRefused {
        code: "followup-invalid".into(),
        message: crate::followups::errors_message(errors),
        errors: errors
            .iter()
            .map(|e| FieldProblem {
                field: e.field.clone(),
                label: e.label.clone(),
                code: e.code.to_string(),
                message: e.message.clone(),
            })
            .collect(),
    };
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
}

/// Record a follow-up: a JSON object of the form's fields by key (strings, numbers, or arrays for
/// multiple choices; see `/api/v1/forms/followup`). The class and next date are decided by the
/// rules; a refusal answers 422 with every problem and writes nothing.
#[utoipa::path(post, path = "/api/v1/persons/{id}/followups", request_body(content = Object, description = "Answers by field key"),
    params(("id" = i64, Path, description = "Internal person id")),
    responses((status = 201, body = FollowupRecorded), (status = 404, body = ApiErrorBody),
        (status = 422, body = FollowupRefused, description = "Fields missing or invalid; nothing was written")),
    security(("bearer" = [])), tag = "followups")]
pub async fn followups_post(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
    body: Result<
        Json<serde_json::Map<String, serde_json::Value>>,
        axum::extract::rejection::JsonRejection,
    >,
) -> Result<Response, ApiError> {
    let Json(mut body) = body.map_err(|_| AppError::BadRequest("form-invalid".into()))?;
    // `"confirm_same_day": true` records a second follow-up of the same visit date anyway.
    let same_day = match body.remove(followups::CONFIRM_SAME_DAY) {
        Some(serde_json::Value::Bool(true)) => followups::SameDay::Confirmed,
        _ => followups::SameDay::Ask,
    };
    let form = crate::followups::form_def()?;
    let f = match followup::validate_json(form, &body, today()) {
        Ok(f) => f,
        Err(errors) => return Ok(refused(&errors)),
    };
    match crate::followups::record(&state, &who, id, f, same_day).await? {
        Ok(r) => Ok((
            StatusCode::CREATED,
            Json(FollowupRecorded {
                id: r.id,
                condition_class: r.conclusion.class.map(|c| c.code().to_string()),
                next_date: r.conclusion.next_date,
                current: r.current,
                risk_grade: r.risk_after,
            }),
        )
            .into_response()),
        Err(Refusal::NotFound) => Err(AppError::NotFound.into()),
        Err(Refusal::Invalid(errors)) => Ok(refused(&errors)),
        Err(Refusal::SameDay(earlier)) => Ok(refused(&[earlier.field_error()])),
    }
}

/// One risk assessment in the history.
#[derive(Debug, Serialize, ToSchema)]
pub struct RiskPoint {
    pub visit_date: NaiveDate,
    pub risk_grade: Option<i64>,
    pub condition_class: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RiskInfo {
    pub current: ScheduleInfo,
    /// Oldest first.
    pub history: Vec<RiskPoint>,
}

/// A person's current risk grade, class and schedule, and the risk of every follow-up. Audited.
#[utoipa::path(get, path = "/api/v1/persons/{id}/risk", params(("id" = i64, Path, description = "Internal person id")),
    responses((status = 200, body = RiskInfo), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])), tag = "followups")]
pub async fn risk_get(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
) -> Result<Json<RiskInfo>, ApiError> {
    let info = followups_info(&state, &who, id).await?;
    let history = info
        .items
        .into_iter()
        .rev()
        .filter(|f| !f.lost)
        .map(|f| RiskPoint {
            visit_date: f.visit_date,
            risk_grade: f.risk_grade,
            condition_class: f.condition_class.map(|c| c.code().to_string()),
        })
        .collect();
    Ok(Json(RiskInfo {
        current: info.schedule,
        history,
    }))
}

/// The follow-up form definition: sections, fields (key, label, kind, options) — what
/// `POST /api/v1/persons/{id}/followups` accepts.
#[utoipa::path(get, path = "/api/v1/forms/followup", responses((status = 200, body = Object)), security(("bearer" = [])), tag = "followups")]
pub async fn followup_form(_who: ApiUser) -> Result<Json<&'static FormDef>, ApiError> {
    Ok(Json(crate::followups::form_def()?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct WorklistQuery {
    /// A region code inside the caller's scope.
    pub region: Option<String>,
    /// `true`: only persons whose last follow-up the caller recorded.
    #[serde(default)]
    pub mine: bool,
    /// At most 1000 (default 100).
    pub limit: Option<i64>,
    #[serde(default)]
    pub offset: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorklistOut {
    /// `due`, `overdue`, `unstable` or `lost`.
    pub name: String,
    pub label: String,
    /// The definition with today's dates.
    pub definition: String,
    pub total: i64,
    pub items: Vec<WorkItem>,
}

/// A worklist, computed now: `due` (本周应随访), `overdue` (逾期未随访), `unstable` (不稳定且两周内未随访),
/// `lost` (失访). Audited.
#[utoipa::path(get, path = "/api/v1/worklists/{name}", params(("name" = String, Path, description = "due, overdue, unstable or lost"), WorklistQuery),
    responses((status = 200, body = WorklistOut), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])), tag = "worklists")]
pub async fn worklist_get(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(name): Path<String>,
    Query(q): Query<WorklistQuery>,
) -> Result<Json<WorklistOut>, ApiError> {
    let list = crate::worklists::named(&name)?;
    let filter = WorkFilter {
        limit: Some(q.limit.unwrap_or(100).clamp(0, 1000)),
        offset: q.offset.max(0),
        ..crate::worklists::filter_of(&state, &who, q.region.as_deref().unwrap_or(""), q.mine)?
    };
    let (items, total) = crate::worklists::read(&state, &who, list, filter, "api", None).await?;
    Ok(Json(WorklistOut {
        name: list.code().into(),
        label: list.label_zh().into(),
        definition: list.definition_zh(today()),
        total,
        items,
    }))
}

/// The latest emergency events in the caller's scope (at most 200). Audited.
#[utoipa::path(get, path = "/api/v1/emergencies", responses((status = 200, body = Vec<StoredEmergency>)), security(("bearer" = [])), tag = "emergencies")]
pub async fn emergencies_get(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Vec<StoredEmergency>>, ApiError> {
    let (scope, actor) = (who.scope.clone(), who.user.actor());
    let list = state
        .writes
        .run(move |tx| {
            let (scope, actor) = (scope.clone(), actor.clone());
            Box::pin(async move {
                let list = jingkang_core::store::emergencies::recent(tx, &scope, 200).await?;
                jingkang_core::store::audit::record(
                    tx,
                    &actor,
                    "emergency.list",
                    None,
                    serde_json::json!({"results": list.len(), "via": "api"}),
                )
                .await?;
                Ok(jingkang_core::store::batch::Outcome::Keep(list))
            })
        })
        .await?;
    Ok(Json(list))
}

/// A new emergency event.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EmergencyRequest {
    pub person_id: i64,
    /// Beijing time, `YYYY-MM-DDTHH:MM`.
    pub occurred_at: String,
    pub risk_grade: i64,
    pub kinds: Vec<String>,
    #[serde(default)]
    pub place: String,
    pub description: String,
    pub measures: Vec<String>,
    #[serde(default)]
    pub outcome: String,
    /// Needed when recorded more than 24 hours after the event.
    #[serde(default)]
    pub late_reason: String,
}

/// What recording an event did.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmergencyRecorded {
    pub id: i64,
    /// The person's risk grade after the event.
    pub risk_grade: Option<i64>,
    /// Notifications sent to the police and the township (grade ≥ 3).
    pub notified: usize,
}

/// Record an emergency event (within 24 hours, or with the reason for the delay). Grade ≥ 3
/// notifies the police and the township of the person's area at once.
#[utoipa::path(post, path = "/api/v1/emergencies", request_body = EmergencyRequest,
    responses((status = 201, body = EmergencyRecorded), (status = 404, body = ApiErrorBody),
        (status = 422, body = FollowupRefused, description = "Fields missing or invalid; nothing was written")),
    security(("bearer" = [])), tag = "emergencies")]
pub async fn emergencies_post(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    body: Result<Json<EmergencyRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|_| AppError::BadRequest("form-invalid".into()))?;
    let input = jingkang_core::care::emergency::EmergencyInput {
        occurred_at: req.occurred_at,
        risk_grade: req.risk_grade.to_string(),
        kinds: req.kinds,
        place: req.place,
        description: req.description,
        measures: req.measures,
        outcome: req.outcome,
        late_reason: req.late_reason,
    };
    let e = match jingkang_core::care::emergency::validate(&input, chrono::Utc::now()) {
        Ok(e) => e,
        Err(errors) => return Ok(refused(&errors)),
    };
    match crate::alerts::record(&state, &who, req.person_id, e).await? {
        Some(r) => Ok((
            StatusCode::CREATED,
            Json(EmergencyRecorded {
                id: r.id,
                risk_grade: r.risk_after,
                notified: r.notifications.len(),
            }),
        )
            .into_response()),
        None => Err(AppError::NotFound.into()),
    }
}

/// The caller's notifications (the police and the township receive high-risk alerts of their
/// area), newest first.
#[utoipa::path(get, path = "/api/v1/notifications", responses((status = 200, body = Vec<Notification>)), security(("bearer" = [])), tag = "emergencies")]
pub async fn notifications_get(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Vec<Notification>>, ApiError> {
    Ok(Json(crate::alerts::read_notes(&state, &who).await?))
}

/// The caller's referrals: received and not finished (urgent first, then by deadline), and sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralsOut {
    pub inbox: Vec<jingkang_core::app::referrals::ReferralItem>,
    /// The latest 200 sent from the caller's region, whatever became of them.
    pub sent: Vec<jingkang_core::app::referrals::ReferralItem>,
}

/// Referrals received and sent in the caller's scope. Audited.
#[utoipa::path(get, path = "/api/v1/referrals", responses((status = 200, body = ReferralsOut)), security(("bearer" = [])), tag = "referrals")]
pub async fn referrals_get(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<ReferralsOut>, ApiError> {
    let (inbox, sent) = crate::referrals::lists(&state, &who, "api").await?;
    Ok(Json(ReferralsOut { inbox, sent }))
}

/// A referral to send.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReferralRequest {
    /// `hospital_to_community`, `relapse`, `employment`, `transfer` or `between_sites`.
    pub kind: String,
    /// A person of the registry in the caller's scope; or, for a discharge, leave it out and give
    /// `new_person`.
    #[serde(default)]
    pub person_id: Option<i64>,
    /// A discharged patient not yet in the registry (kinds with `new_person` only): the person
    /// form's fields `name`, `id_number`, `sex`, `grade`, `address`, `guardian`, `guardian_phone`,
    /// `notes`. The receiving township's acceptance creates the record.
    #[serde(default)]
    pub new_person: Option<std::collections::BTreeMap<String, String>>,
    /// The receiving region: a township or village code for the community's kinds, a county or
    /// below for the others.
    pub to_region: String,
    #[serde(default)]
    pub reason: String,
    /// The documents it carries, each in a slot of the kind (`data/referrals.json`; for a
    /// discharge the 一历六单): every slot needs one, except the assessed document of a kind that
    /// needs an assessment (the system attaches the latest).
    #[serde(default)]
    pub documents: Vec<DocumentIn>,
    /// The sending unit and whom the receiver calls.
    #[serde(default)]
    pub contact: ContactIn,
}

/// One document of a referral: the form filled in as `text`, or a scanned file (PDF, JPG or PNG
/// by content, at most 10 MB) as `content_base64` with its `file_name`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DocumentIn {
    pub slot: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub content_base64: Option<String>,
    #[serde(default)]
    pub file_name: Option<String>,
}

/// The sending unit, a contact person there and a phone number (mobile, or landline with its area
/// code).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ContactIn {
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub phone: String,
}

/// A document of the API as the store takes it; a refusal as the API answers it.
fn carried_of(
    d: DocumentIn,
) -> Result<jingkang_core::app::referrals::Carried, (&'static str, String)> {
    use base64::Engine;
    use jingkang_core::app::referrals::{Carried, CheckedFile, Content};
    let shape = |slot: &str| {
        (
            "referral-document-shape",
            jingkang_core::messages::render("referral-document-shape", &[("slot", slot)]),
        )
    };
    match (d.text, d.content_base64) {
        (Some(text), None) => Ok(Carried::text(&d.slot, &text)),
        (None, Some(b64)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| shape(&d.slot))?;
            let name = d.file_name.unwrap_or_default();
            let file = CheckedFile::check(&name, bytes).map_err(|code| {
                (
                    "referral-file-invalid",
                    jingkang_core::messages::render(
                        "referral-file-invalid",
                        &[
                            ("slot", &d.slot),
                            ("file", &name),
                            ("problem", jingkang_core::messages::template(code)),
                        ],
                    ),
                )
            })?;
            Ok(Carried {
                slot: d.slot,
                content: Content::File(file),
            })
        }
        _ => Err(shape(&d.slot)),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralSent {
    pub id: i64,
}

fn unprocessable(code: &str, message: String) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(ApiErrorBody {
            code: code.to_string(),
            message,
        }),
    )
        .into_response()
}

/// Send a referral from the caller's scope. Refusals (unknown kind or region, the person's own
/// region, missing documents) answer 422 and write nothing.
#[utoipa::path(post, path = "/api/v1/referrals", request_body = ReferralRequest,
    responses((status = 201, body = ReferralSent), (status = 404, body = ApiErrorBody), (status = 422, body = ApiErrorBody)),
    security(("bearer" = [])), tag = "referrals")]
pub async fn referrals_post(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    body: Result<Json<ReferralRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    use jingkang_core::app::referrals::{NewReferral, Subject};
    let Json(req) = body.map_err(|_| AppError::BadRequest("form-invalid".into()))?;
    let subject = match (req.person_id, req.new_person) {
        (Some(id), None) => Subject::Existing(id),
        (None, Some(values)) => Subject::New(values),
        _ => {
            return Ok(unprocessable(
                "form-invalid",
                jingkang_core::messages::template("form-invalid").to_string(),
            ));
        }
    };
    let mut documents = Vec::with_capacity(req.documents.len());
    for d in req.documents {
        match carried_of(d) {
            Ok(c) => documents.push(c),
            Err((code, message)) => return Ok(unprocessable(code, message)),
        }
    }
    let new = NewReferral {
        kind: req.kind,
        subject,
        to_region: req.to_region.trim().to_string(),
        reason: req.reason,
        documents,
        contact: jingkang_core::app::referrals::Contact {
            unit: req.contact.unit,
            name: req.contact.name,
            phone: req.contact.phone,
        },
        sent_on: today(),
    };
    match crate::referrals::send(&state, &who, std::sync::Arc::new(new)).await? {
        Ok(id) => Ok((StatusCode::CREATED, Json(ReferralSent { id })).into_response()),
        Err(refusal) => Ok(unprocessable(refusal.code, refusal.message())),
    }
}

/// One referral on either side of the caller: its documents, the identity of a discharged patient
/// not yet in the registry (ID number and phone masked, the grade and notes withheld) and every
/// step with its time and actor. Audited.
#[utoipa::path(get, path = "/api/v1/referrals/{id}", params(("id" = i64, Path, description = "Referral id")),
    responses((status = 200, body = jingkang_core::app::referrals::ReferralDetail), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])), tag = "referrals")]
pub async fn referral_get(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
) -> Result<Json<jingkang_core::app::referrals::ReferralDetail>, ApiError> {
    Ok(Json(crate::referrals::read_masked(&state, &who, id).await?))
}

/// A file a referral carries (listed in its `carried` with a `media_type`), as stored. Audited.
#[utoipa::path(get, path = "/api/v1/referrals/{id}/documents/{did}",
    params(("id" = i64, Path, description = "Referral id"), ("did" = i64, Path, description = "Document id")),
    responses((status = 200, description = "The file as stored", content(
        (Vec<u8> = "application/pdf"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"))), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])), tag = "referrals")]
pub async fn referral_document(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path((id, did)): Path<(i64, i64)>,
) -> Result<Response, ApiError> {
    let (media, name, bytes) = crate::referrals::read_document(&state, &who, id, did).await?;
    Ok(crate::downloads::inline(media, &name, bytes))
}

/// A step on a referral.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReferralStep {
    /// `accept`, `return` (with a reason) or `complete` by the receiver; `resend` by the sender.
    pub event: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralStepped {
    /// `initiated`, `accepted`, `returned`, `completed` or `timed_out`.
    pub state: String,
}

/// Take a step on a referral. Only the receiving side accepts, returns or completes; only the
/// sending side resends. A refusal answers 422 and writes nothing.
#[utoipa::path(post, path = "/api/v1/referrals/{id}/events", request_body = ReferralStep,
    params(("id" = i64, Path, description = "Referral id")),
    responses((status = 200, body = ReferralStepped), (status = 404, body = ApiErrorBody), (status = 422, body = ApiErrorBody)),
    security(("bearer" = [])), tag = "referrals")]
pub async fn referral_step(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<ReferralStep>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|_| AppError::BadRequest("form-invalid".into()))?;
    let Some(event) = crate::referrals::event(&req.event, req.reason) else {
        return Ok(unprocessable(
            "form-invalid",
            jingkang_core::messages::template("form-invalid").to_string(),
        ));
    };
    match crate::referrals::act(&state, &who, id, event).await? {
        Ok(s) => Ok(Json(ReferralStepped {
            state: s.code().into(),
        })
        .into_response()),
        Err(refusal) => Ok(unprocessable(refusal.code, refusal.message())),
    }
}

/// The assessment instruments: items, options and scores, the total, bands and interpretation —
/// the definitions the forms are rendered from.
#[utoipa::path(get, path = "/api/v1/instruments", responses((status = 200, body = Vec<jingkang_core::care::instrument::Instrument>)), security(("bearer" = [])), tag = "assessments")]
pub async fn instruments_get(
    State(state): State<AppState>,
    _who: ApiUser,
) -> Json<Vec<jingkang_core::care::instrument::Instrument>> {
    Json(state.instruments.instruments.clone())
}

/// The person's assessments, oldest first (the read of the person is audited).
#[utoipa::path(get, path = "/api/v1/persons/{id}/assessments", params(("id" = i64, Path, description = "Person id")),
    responses((status = 200, body = Vec<jingkang_core::store::assessments::StoredAssessment>), (status = 404, body = ApiErrorBody)),
    security(("bearer" = [])), tag = "assessments")]
pub async fn assessments_get(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
) -> Result<Json<Vec<jingkang_core::store::assessments::StoredAssessment>>, ApiError> {
    let (_, list) = crate::pages::read_person(&state, &who, id, crate::assessments::of_person)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(Json(list))
}

/// An assessment to record.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AssessmentRequest {
    /// An instrument's code (`GET /api/v1/instruments`): `sdss`, `psp`, `social_function` …
    pub instrument: String,
    pub assessed_on: NaiveDate,
    pub assessor: String,
    /// Item key → option value; a rated total (PSP's `score`) under its key.
    pub answers: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssessmentRecorded {
    pub id: i64,
    pub scored: jingkang_core::care::instrument::Scored,
}

/// A refused assessment: every problem, by item. Nothing was written.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssessmentRefused {
    pub code: String,
    pub message: String,
    pub problems: Vec<jingkang_core::care::instrument::Problem>,
}

/// Score and record an assessment. Problems answer 422 with every one of them, by item.
#[utoipa::path(post, path = "/api/v1/persons/{id}/assessments", request_body = AssessmentRequest, params(("id" = i64, Path, description = "Person id")),
    responses((status = 201, body = AssessmentRecorded), (status = 404, body = ApiErrorBody), (status = 422, body = AssessmentRefused)),
    security(("bearer" = [])), tag = "assessments")]
pub async fn assessments_post(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<AssessmentRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body.map_err(|_| AppError::BadRequest("form-invalid".into()))?;
    let new = jingkang_core::store::assessments::NewAssessment {
        assessed_on: req.assessed_on,
        assessor: req.assessor,
        answers: req.answers,
    };
    match crate::assessments::record(&state, &who, id, &req.instrument, new).await? {
        Ok((id, scored)) => {
            Ok((StatusCode::CREATED, Json(AssessmentRecorded { id, scored })).into_response())
        }
        Err(problems) => {
            let message = problems
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join("；");
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(AssessmentRefused {
                    code: "assessment-invalid".into(),
                    message,
                    problems,
                }),
            )
                .into_response())
        }
    }
}
