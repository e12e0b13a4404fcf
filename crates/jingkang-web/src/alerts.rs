//! Emergency events (应急处置) and the notification centre (SPEC §4): the event form on a person,
//! and each user's notifications — the police and the township see the alerts of their area.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use jingkang_core::care::emergency::{self, EmergencyInput, KINDS, MEASURES};
use jingkang_core::care::followup::FieldError;
use jingkang_core::care::schedule::RISK_GRADES;
use jingkang_core::regions::Scope;
use jingkang_core::store::Tx;
use jingkang_core::store::alerts::{self, Notification};
use jingkang_core::store::batch::{BoxFuture, Outcome};
use jingkang_core::store::emergencies::{self, StoredEmergency};

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::extract::{Form, Path};
use crate::pages::{Chrome, beijing_time, read_person};
use crate::problems::FieldProblems;

pub struct Opt {
    value: &'static str,
    label: &'static str,
    checked: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "emergency_form.html")]
pub struct EmergencyPage {
    chrome: Option<Chrome>,
    csrf: String,
    id: i64,
    name: String,
    occurred_at: String,
    risk_grade: String,
    grades: Vec<(u8, &'static str)>,
    kinds: Vec<Opt>,
    measures: Vec<Opt>,
    place: String,
    description: String,
    outcome: String,
    late_reason: String,
    /// Every problem, (field, message), listed at the top and each beside its field.
    errors: Vec<(String, String)>,
}

impl FieldProblems for EmergencyPage {
    fn problems(&self) -> &[(String, String)] {
        &self.errors
    }
}

fn opts(table: &'static [(&'static str, &'static str)], chosen: &[String]) -> Vec<Opt> {
    table
        .iter()
        .map(|(v, l)| Opt {
            value: v,
            label: l,
            checked: chosen.iter().any(|c| c == v),
        })
        .collect()
}

fn nothing<'a>(_: &'a mut Tx, _: &'a Scope, _: i64) -> BoxFuture<'a, anyhow::Result<()>> {
    Box::pin(async { Ok(()) })
}

async fn page(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
    input: EmergencyInput,
    errors: Vec<FieldError>,
) -> AppResult<EmergencyPage> {
    let (p, ()) = read_person(state, who, id, nothing)
        .await?
        .ok_or(AppError::NotFound)?;
    let occurred_at = if input.occurred_at.is_empty() {
        Utc::now()
            .with_timezone(&jingkang_core::domain::clock::china())
            .format("%Y-%m-%dT%H:%M")
            .to_string()
    } else {
        input.occurred_at.clone()
    };
    Ok(EmergencyPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        id,
        name: p.record.data.name.clone(),
        occurred_at,
        risk_grade: input.risk_grade,
        grades: RISK_GRADES.to_vec(),
        kinds: opts(KINDS, &input.kinds),
        measures: opts(MEASURES, &input.measures),
        place: input.place,
        description: input.description,
        outcome: input.outcome,
        late_reason: input.late_reason,
        errors: errors.into_iter().map(|e| (e.field, e.message)).collect(),
    })
}

pub async fn new_form(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    Ok(
        page(&state, &who, id, EmergencyInput::default(), Vec::new())
            .await?
            .into_response(),
    )
}

/// Form pairs as an [`EmergencyInput`] and the CSRF token.
fn input_of(pairs: Vec<(String, String)>) -> EmergencyInput {
    let mut input = EmergencyInput::default();
    for (k, v) in pairs {
        match k.as_str() {
            "occurred_at" => input.occurred_at = v,
            "risk_grade" => input.risk_grade = v,
            "kinds" => input.kinds.push(v),
            "measures" => input.measures.push(v),
            "place" => input.place = v,
            "description" => input.description = v,
            "outcome" => input.outcome = v,
            "late_reason" => input.late_reason = v,
            _ => {}
        }
    }
    input
}

/// Record a validated event in one group-committed transaction; `None`: no such person in scope.
pub(crate) async fn record(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
    e: emergency::Emergency,
) -> AppResult<Option<emergencies::Recorded>> {
    let (scope, actor) = (who.scope.clone(), who.user.actor());
    let e = std::sync::Arc::new(e);
    Ok(state
        .writes
        .run(move |tx| {
            let (scope, actor, e) = (scope.clone(), actor.clone(), e.clone());
            Box::pin(async move {
                Ok(Outcome::Keep(
                    emergencies::record(tx, &scope, &actor, id, &e).await?,
                ))
            })
        })
        .await?)
}

pub async fn create(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let input = input_of(pairs);
    match emergency::validate(&input, Utc::now()) {
        Ok(e) => match record(&state, &who, id, e).await? {
            Some(r) => Ok(Redirect::to(&format!(
                "/persons/{id}?em={}#emergencies",
                r.notifications.len()
            ))
            .into_response()),
            None => Err(AppError::NotFound),
        },
        Err(errors) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            page(&state, &who, id, input, errors).await?,
        )
            .into_response()),
    }
}

/// One event on the person page.
pub struct EmergencyLine {
    pub(crate) occurred_at: String,
    pub(crate) grade: i64,
    pub(crate) kinds: String,
    pub(crate) measures: String,
    pub(crate) description: String,
    pub(crate) outcome: String,
    pub(crate) late: String,
    pub(crate) recorded: String,
}

pub(crate) fn lines(list: Vec<StoredEmergency>) -> Vec<EmergencyLine> {
    list.into_iter()
        .map(|e| EmergencyLine {
            occurred_at: emergency::beijing_minute(e.occurred_at),
            grade: e.risk_grade,
            kinds: e
                .kinds
                .iter()
                .map(|k| emergency::kind_label(k))
                .collect::<Vec<_>>()
                .join("、"),
            measures: e
                .measures
                .iter()
                .map(|m| emergency::measure_label(m))
                .collect::<Vec<_>>()
                .join("、"),
            description: e.description,
            outcome: e.outcome.unwrap_or_default(),
            late: e
                .late_reason
                .map(|r| format!("（迟报：{r}）"))
                .unwrap_or_default(),
            recorded: format!("{} {}", beijing_time(e.recorded_at), e.recorded_by),
        })
        .collect()
}

// ---------- notifications ----------

pub struct NoteLine {
    pub(crate) id: i64,
    pub(crate) at: String,
    pub(crate) title: String,
    pub(crate) body: String,
    pub(crate) place: String,
    pub(crate) person: Option<i64>,
    pub(crate) read: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "notifications.html")]
pub struct NotificationsPage {
    chrome: Option<Chrome>,
    csrf: String,
    notes: Vec<NoteLine>,
    unread: usize,
}

/// Notifications one page shows.
const NOTES: i64 = 100;

pub(crate) async fn read_notes(
    state: &AppState,
    who: &CurrentUser,
) -> AppResult<Vec<Notification>> {
    let (uid, role, scope) = (who.user.id, who.user.role.code(), who.scope.clone());
    let mut tx = state.db.begin().await?;
    let notes = alerts::for_user(&mut tx, uid, role, &scope, NOTES).await?;
    audit_shown(&mut tx, who, &notes).await?;
    tx.commit().await?;
    Ok(notes)
}

/// Alerts name persons: showing them is audited (which ones), in the reading transaction.
async fn audit_shown(tx: &mut Tx, who: &CurrentUser, notes: &[Notification]) -> AppResult<()> {
    if !notes.is_empty() {
        let ids: Vec<i64> = notes.iter().map(|n| n.id).collect();
        jingkang_core::store::audit::record(
            tx,
            &who.user.actor(),
            "notification.list",
            None,
            serde_json::json!({"notifications": ids}),
        )
        .await?;
    }
    Ok(())
}

/// The unread alerts of `who`, newest first (at most `limit`), and how many are unread in all;
/// those shown are audited. For the home page's banner.
pub(crate) async fn unread_alerts(
    state: &AppState,
    who: &CurrentUser,
    limit: usize,
) -> AppResult<(Vec<NoteLine>, i64)> {
    let (uid, role, scope) = (who.user.id, who.user.role.code(), who.scope.clone());
    if !alerts::AUDIENCES.contains(&role) {
        return Ok((Vec::new(), 0));
    }
    let mut tx = state.db.begin().await?;
    let total = alerts::unread(&mut tx, uid, role, &scope).await?;
    let shown: Vec<Notification> = if total > 0 {
        alerts::for_user(&mut tx, uid, role, &scope, NOTES)
            .await?
            .into_iter()
            .filter(|n| !n.read)
            .take(limit)
            .collect()
    } else {
        Vec::new()
    };
    audit_shown(&mut tx, who, &shown).await?;
    tx.commit().await?;
    Ok((
        shown.into_iter().map(|n| note_line(state, n)).collect(),
        total,
    ))
}

fn note_line(state: &AppState, n: Notification) -> NoteLine {
    NoteLine {
        id: n.id,
        at: beijing_time(n.created_at),
        place: state.tree.path_name(&n.region_code),
        title: n.title,
        body: n.body,
        person: n.person_id,
        read: n.read,
    }
}

/// `GET /notifications/unread`: the menu's count of unread notifications (htmx loads it into
/// every page's menu), or nothing when all are read. Names no one, so it is not audited.
pub async fn unread_count(State(state): State<AppState>, who: CurrentUser) -> AppResult<Response> {
    let mut tx = state.db.begin_read().await?;
    let n = alerts::unread(&mut tx, who.user.id, who.user.role.code(), &who.scope).await?;
    tx.commit().await?;
    let html = if n > 0 {
        format!("<span class=\"count\" title=\"{n} 条未读通知\">{n}</span>")
    } else {
        String::new()
    };
    Ok((
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        axum::response::Html(html),
    )
        .into_response())
}

/// Who was told of an alert, and when: `已于 12-08 02:29 通知 公安、街镇、精防医生（…万盛街道）。`
pub(crate) fn told_line(state: &AppState, sent: &[alerts::Sent]) -> Option<String> {
    let first = sent.first()?;
    let mut who: Vec<&str> = Vec::new();
    for s in sent {
        let label = alerts::audience_label_zh(&s.audience);
        if !who.contains(&label) {
            who.push(label);
        }
    }
    Some(format!(
        "已于 {} 通知{}（{}），未读时会在其首页和菜单上提示。",
        beijing_time(first.created_at),
        who.join("、"),
        state.tree.path_name(&first.region_code)
    ))
}

pub async fn notifications(State(state): State<AppState>, who: CurrentUser) -> AppResult<Response> {
    let notes: Vec<NoteLine> = read_notes(&state, &who)
        .await?
        .into_iter()
        .map(|n| note_line(&state, n))
        .collect();
    let unread = notes.iter().filter(|n| !n.read).count();
    Ok(NotificationsPage {
        chrome: Some(Chrome::of(&state, &who)),
        csrf: who.csrf().to_string(),
        notes,
        unread,
    }
    .into_response())
}

#[derive(serde::Deserialize)]
pub struct CsrfOnly {}

pub async fn mark_read(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    _: crate::extract::Posted,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    let mine = alerts::mark_read(
        &mut tx,
        &who.user.actor(),
        who.user.id,
        who.user.role.code(),
        &who.scope,
        id,
    )
    .await?;
    tx.commit().await?;
    if !mine {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to("/notifications").into_response())
}
