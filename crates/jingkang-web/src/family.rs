//! Family support pages and API (SPEC §6): the 家庭支持 page — recent caregiver trainings,
//! respite episodes, mutual-aid groups with their member and meeting counts, peer supporters —
//! the entry forms (the family members of a training or a group ticked from the persons of the
//! user's area, each with a name and a relation, filled in from the guardian where there is one),
//! a group's page with its members and the meeting form (attendance once for all), and
//! `/api/v1/family/…` with the same scope, roles and audit.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jingkang_core::accounts::policy::Permission;
use jingkang_core::care::family::{
    self as rules, FamilyMemberInput, GroupInput, LeaveInput, MeetingInput, MembersInput,
    PeerInput, PeerStatus, PeerUpdateInput, Relation, RespiteInput, TrainingInput,
};
use jingkang_core::care::service::FieldError;
use jingkang_core::domain::RegistrationState;
use jingkang_core::export::table::Table;
use jingkang_core::regions::{Level, Scope};
use jingkang_core::store::audit::{self, Target};
use jingkang_core::store::batch::{BoxFuture, Outcome};
use jingkang_core::store::family::{
    self as store, GroupDetail, Refusal, StoredAttendee, StoredGroup, StoredPeer, StoredRespite,
    StoredTraining,
};
use jingkang_core::store::persons::ListFilter;
use jingkang_core::store::{Actor, Tx};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::api_base::{ApiError, ApiUser};
use crate::auth::CurrentUser;
use crate::downloads::{self, ExportForm, num, text};
use crate::entry::today;
use crate::error::{AppError, AppResult};
use crate::extract::{Form, Path, Query};
use crate::pages::Chrome;
use crate::problems::FieldProblems;

/// How many of each the page and the API list.
const PAGE_ROWS: i64 = 100;
const API_ROWS: i64 = 500;

// ---------- reading and writing, audited ----------

type Answer<T> = anyhow::Result<Result<T, Refusal>>;

/// Run one change in a group-committed transaction as `who`, with `who`'s scope.
async fn write<T, V, F>(
    state: &AppState,
    who: &CurrentUser,
    value: V,
    f: F,
) -> AppResult<Result<T, Refusal>>
where
    T: Send + 'static,
    V: Send + Sync + 'static,
    F: for<'t> Fn(&'t mut Tx, &'t Scope, &'t Actor, &'t V) -> BoxFuture<'t, Answer<T>>
        + Send
        + Sync
        + 'static,
{
    let (scope, actor, value, f) = (
        who.scope.clone(),
        who.user.actor(),
        Arc::new(value),
        Arc::new(f),
    );
    Ok(state
        .writes
        .run(move |tx| {
            let (scope, actor, value, f) = (scope.clone(), actor.clone(), value.clone(), f.clone());
            Box::pin(async move { Ok(Outcome::Keep(f(tx, &scope, &actor, &value).await?)) })
        })
        .await?)
}

/// Everything the 家庭支持 page shows, read in one transaction with its audit entry.
struct Overview {
    trainings: Vec<StoredTraining>,
    respite: Vec<StoredRespite>,
    groups: Vec<StoredGroup>,
    peers: Vec<StoredPeer>,
}

/// Read what `which` asks for (`None`: everything) in scope, audited as one list read.
async fn overview(
    state: &AppState,
    who: &CurrentUser,
    limit: i64,
    which: Option<&'static str>,
) -> AppResult<Overview> {
    read_overview(state, who, limit, which, None).await
}

/// [`overview`], audited as a list read or, with a reason, as a download (`family.export`).
async fn read_overview(
    state: &AppState,
    who: &CurrentUser,
    limit: i64,
    which: Option<&'static str>,
    reason: Option<String>,
) -> AppResult<Overview> {
    let (scope, actor, region) = (
        who.scope.clone(),
        who.user.actor(),
        who.user.region_code.clone(),
    );
    Ok(state
        .writes
        .run(move |tx| {
            let (scope, actor, region, reason) = (scope.clone(), actor.clone(), region.clone(), reason.clone());
            Box::pin(async move {
                let all = which.is_none();
                let o = Overview {
                    trainings: if all || which == Some("trainings") { store::trainings(tx, &scope, limit).await? } else { vec![] },
                    respite: if all || which == Some("respite") { store::respite(tx, &scope, limit).await? } else { vec![] },
                    groups: if all || which == Some("groups") { store::groups(tx, &scope, limit).await? } else { vec![] },
                    peers: if all || which == Some("peers") { store::peers(tx, &scope, limit).await? } else { vec![] },
                };
                let mut detail = serde_json::json!({
                    "trainings": o.trainings.len(), "respite": o.respite.len(), "groups": o.groups.len(), "peers": o.peers.len(),
                    "via": which.unwrap_or("page")});
                let action = match reason {
                    Some(reason) => {
                        detail["reason"] = reason.into();
                        "family.export"
                    }
                    None => "family.list",
                };
                audit::record(tx, &actor, action, Some(Target::region(&region)), detail).await?;
                Ok(Outcome::Keep(o))
            })
        })
        .await?)
}

/// Group `gid` in scope with its members and meetings, audited; `None` when absent or out of
/// scope (and then no audit entry).
async fn read_group(
    state: &AppState,
    who: &CurrentUser,
    gid: i64,
) -> AppResult<Option<GroupDetail>> {
    let (scope, actor) = (who.scope.clone(), who.user.actor());
    Ok(state
        .writes
        .run(move |tx| {
            let (scope, actor) = (scope.clone(), actor.clone());
            Box::pin(async move {
                let Some(g) = store::group(tx, &scope, gid).await? else {
                    return Ok(Outcome::Keep(None));
                };
                let persons: Vec<i64> = g.members.iter().map(|m| m.person_id).collect();
                audit::record(
                    tx,
                    &actor,
                    "family.group.read",
                    Some(Target {
                        kind: "mutual_aid_group",
                        id: gid.to_string(),
                    }),
                    serde_json::json!({"persons": persons}),
                )
                .await?;
                Ok(Outcome::Keep(Some(g)))
            })
        })
        .await?)
}

async fn record_training(
    state: &AppState,
    who: &CurrentUser,
    input: &TrainingInput,
) -> AppResult<Result<i64, Refusal>> {
    match rules::check_training(&state.tree, &who.scope, input, today()) {
        Ok(t) => {
            write(state, who, t, |tx, s, a, t| {
                Box::pin(store::record_training(tx, s, a, t))
            })
            .await
        }
        Err(e) => Ok(Err(Refusal::Problems(e))),
    }
}

async fn record_respite(
    state: &AppState,
    who: &CurrentUser,
    input: &RespiteInput,
) -> AppResult<Result<i64, Refusal>> {
    match rules::check_respite(input, today()) {
        Ok(r) => {
            write(state, who, r, |tx, s, a, r| {
                Box::pin(store::record_respite(tx, s, a, r))
            })
            .await
        }
        Err(e) => Ok(Err(Refusal::Problems(e))),
    }
}

async fn record_group(
    state: &AppState,
    who: &CurrentUser,
    input: &GroupInput,
) -> AppResult<Result<i64, Refusal>> {
    match rules::check_group(&state.tree, &who.scope, input, today()) {
        Ok(g) => {
            write(state, who, g, |tx, s, a, g| {
                Box::pin(store::record_group(tx, s, a, g))
            })
            .await
        }
        Err(e) => Ok(Err(Refusal::Problems(e))),
    }
}

async fn change_members(
    state: &AppState,
    who: &CurrentUser,
    gid: i64,
    input: &MembersInput,
) -> AppResult<Result<(), Refusal>> {
    match rules::check_members(input, today()) {
        Ok(m) => {
            write(state, who, (gid, m), |tx, s, a, (gid, m)| {
                Box::pin(store::change_members(tx, s, a, *gid, m))
            })
            .await
        }
        Err(e) => Ok(Err(Refusal::Problems(e))),
    }
}

async fn record_meeting(
    state: &AppState,
    who: &CurrentUser,
    gid: i64,
    input: &MeetingInput,
) -> AppResult<Result<i64, Refusal>> {
    match rules::check_meeting(input, today()) {
        Ok(m) => {
            write(state, who, (gid, m), |tx, s, a, (gid, m)| {
                Box::pin(store::record_meeting(tx, s, a, *gid, m))
            })
            .await
        }
        Err(e) => Ok(Err(Refusal::Problems(e))),
    }
}

async fn record_peer(
    state: &AppState,
    who: &CurrentUser,
    input: &PeerInput,
) -> AppResult<Result<i64, Refusal>> {
    match rules::check_peer(&state.tree, &who.scope, input, today()) {
        Ok(p) => {
            write(state, who, p, |tx, s, a, p| {
                Box::pin(store::record_peer(tx, s, a, p))
            })
            .await
        }
        Err(e) => Ok(Err(Refusal::Problems(e))),
    }
}

async fn update_peer(
    state: &AppState,
    who: &CurrentUser,
    pid: i64,
    input: &PeerUpdateInput,
) -> AppResult<Result<(), Refusal>> {
    match rules::check_peer_update(input) {
        Ok(u) => {
            write(state, who, (pid, u), |tx, s, a, (pid, u)| {
                Box::pin(store::update_peer(tx, s, a, *pid, u))
            })
            .await
        }
        Err(e) => Ok(Err(Refusal::Problems(e))),
    }
}

/// A refusal's problems; `NotFound` is the same answer as an absent group or supporter.
fn problems(r: Refusal) -> AppResult<Vec<FieldError>> {
    match r {
        Refusal::NotFound => Err(AppError::NotFound),
        Refusal::Problems(p) => Ok(p),
    }
}

// ---------- page pieces ----------

/// One choice of a select, radio or checkbox.
pub struct Pick {
    value: String,
    label: String,
    checked: bool,
}

/// A person of the area as a row of the family-member picker.
pub struct PersonRow {
    id: i64,
    label: String,
    checked: bool,
    /// The family member's name (entered, or the guardian's).
    name: String,
    relations: Vec<Pick>,
}

fn relations(selected: Option<Relation>) -> Vec<Pick> {
    Relation::ALL
        .into_iter()
        .map(|r| Pick {
            value: r.code().into(),
            label: r.label_zh().into(),
            checked: Some(r) == selected,
        })
        .collect()
}

/// The persons of the user's area family support is for (not closed, not declined), by name: a
/// list read, audited as every list of persons is.
async fn area_persons(
    state: &AppState,
    who: &CurrentUser,
    via: &'static str,
) -> AppResult<Vec<jingkang_core::store::persons::StoredPerson>> {
    let filter = ListFilter {
        limit: Some(300),
        ..Default::default()
    };
    let mut list = crate::pages::list_audited(state, who, filter, 300, via).await?;
    list.retain(|p| {
        !matches!(
            p.state,
            RegistrationState::Closed | RegistrationState::Declined
        )
    });
    list.sort_by(|a, b| a.record.data.name.cmp(&b.record.data.name));
    Ok(list)
}

/// The picker's rows: the ticked ones keep what was entered; the others offer the guardian.
async fn person_rows(
    state: &AppState,
    who: &CurrentUser,
    entered: &[FamilyMemberInput],
    via: &'static str,
) -> AppResult<Vec<PersonRow>> {
    Ok(area_persons(state, who, via)
        .await?
        .into_iter()
        .map(|p| {
            let given = entered.iter().find(|m| m.person_id == p.id);
            let guardian = p.record.guardian.as_ref();
            let name = given
                .map(|m| m.name.clone())
                .or_else(|| guardian.map(|g| g.name.clone()))
                .unwrap_or_default();
            let relation = match given {
                Some(m) => Relation::parse(&m.relation),
                None => guardian
                    .and_then(|g| g.relation.as_deref())
                    .and_then(Relation::guess),
            };
            PersonRow {
                id: p.id,
                label: p.record.data.name,
                checked: given.is_some(),
                name,
                relations: relations(relation),
            }
        })
        .collect())
}

fn person_picks(
    list: Vec<jingkang_core::store::persons::StoredPerson>,
    selected: Option<i64>,
) -> Vec<Pick> {
    list.into_iter()
        .map(|p| Pick {
            checked: Some(p.id) == selected,
            value: p.id.to_string(),
            label: p.record.data.name,
        })
        .collect()
}

/// The townships the user may record for: none when the user's own region is a township or a
/// village (it is the default), else the townships under it.
fn region_picks(state: &AppState, who: &CurrentUser, selected: &str) -> Vec<Pick> {
    let own = state.tree.get(&who.user.region_code).map(|r| r.level);
    if own.is_some_and(|l| l >= Level::Township) {
        return Vec::new();
    }
    state
        .tree
        .descendants_to(&who.user.region_code, Level::Township)
        .into_iter()
        .filter(|r| r.level == Level::Township)
        .map(|r| Pick {
            value: r.code.clone(),
            label: r.name.clone(),
            checked: r.code == selected,
        })
        .collect()
}

fn region_name(state: &AppState, code: &str) -> String {
    state
        .tree
        .get(code)
        .map_or_else(|| code.to_string(), |r| r.name.clone())
}

/// Hours as users write them: `2`, `1.5`.
fn hours(h: f64) -> String {
    format!("{h}")
}

/// A number from a form field; NaN (refused by the checks) when it is not one.
fn number(v: &str) -> f64 {
    match v.trim() {
        "" => 0.0,
        v => v.parse().unwrap_or(f64::NAN),
    }
}

fn field_errors(errors: &[FieldError], fields: &[&str]) -> Vec<(String, String)> {
    fields
        .iter()
        .filter_map(|f| {
            let m: Vec<&str> = errors
                .iter()
                .filter(|e| e.field == *f)
                .map(|e| e.message.as_str())
                .collect();
            (!m.is_empty()).then(|| (f.to_string(), m.join("；")))
        })
        .collect()
}

/// The family members of a picker form: the ticked `person` values with their `name_{id}` and
/// `relation_{id}`.
struct Picked {
    persons: Vec<i64>,
    names: HashMap<String, String>,
    relations: HashMap<String, String>,
}

impl Picked {
    fn new() -> Picked {
        Picked {
            persons: Vec::new(),
            names: HashMap::new(),
            relations: HashMap::new(),
        }
    }
    /// Take `k = v` if it belongs to the picker.
    fn take(&mut self, k: &str, v: &str) -> bool {
        if k == "person" {
            if let Ok(id) = v.trim().parse() {
                self.persons.push(id);
            }
        } else if let Some(id) = k.strip_prefix("name_") {
            self.names.insert(id.to_string(), v.to_string());
        } else if let Some(id) = k.strip_prefix("relation_") {
            self.relations.insert(id.to_string(), v.to_string());
        } else {
            return false;
        }
        true
    }
    fn members(&self) -> Vec<FamilyMemberInput> {
        self.persons
            .iter()
            .map(|id| FamilyMemberInput {
                person_id: *id,
                name: self.names.get(&id.to_string()).cloned().unwrap_or_default(),
                relation: self
                    .relations
                    .get(&id.to_string())
                    .cloned()
                    .unwrap_or_default(),
                joined_on: String::new(),
            })
            .collect()
    }
}

// ---------- the 家庭支持 page ----------

pub struct TrainingLine {
    held_on: String,
    region: String,
    topic: String,
    hours: String,
    trainer: String,
    attendees: i64,
}

pub struct RespiteLine {
    pub(crate) person_id: i64,
    pub(crate) person: String,
    pub(crate) dates: String,
    pub(crate) provider: String,
    pub(crate) hours: String,
    pub(crate) notes: String,
}

pub struct GroupLine {
    id: i64,
    name: String,
    region: String,
    facilitator: String,
    started_on: String,
    members: i64,
    meetings: i64,
    last_meeting: String,
}

pub struct PeerLine {
    id: i64,
    name: String,
    region: String,
    person_id: Option<i64>,
    trained_on: String,
    active: bool,
    status: &'static str,
    hours: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "family.html")]
pub struct FamilyPage {
    chrome: Option<Chrome>,
    csrf: String,
    export_action: &'static str,
    export_error: Option<String>,
    notice: Option<String>,
    errors: Vec<(String, String)>,
    can_record: bool,
    trainings: Vec<TrainingLine>,
    respite: Vec<RespiteLine>,
    groups: Vec<GroupLine>,
    peers: Vec<PeerLine>,
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    /// What was just saved: `training`, `respite`, `group`, `peer`, `peer-update`.
    saved: Option<String>,
}

fn respite_line(r: &StoredRespite) -> RespiteLine {
    RespiteLine {
        person_id: r.person_id,
        person: r.person_name.clone(),
        dates: if r.from_date == r.to_date {
            r.from_date.to_string()
        } else {
            format!("{} 至 {}", r.from_date, r.to_date)
        },
        provider: r.provider.clone(),
        hours: hours(r.hours),
        notes: r.notes.clone().unwrap_or_default(),
    }
}

async fn family_page(
    state: &AppState,
    who: &CurrentUser,
    notice: Option<String>,
    errors: &[FieldError],
) -> AppResult<FamilyPage> {
    let o = overview(state, who, PAGE_ROWS, None).await?;
    Ok(FamilyPage::of(state, who, &o, notice, errors))
}

impl FamilyPage {
    fn of(
        state: &AppState,
        who: &CurrentUser,
        o: &Overview,
        notice: Option<String>,
        errors: &[FieldError],
    ) -> FamilyPage {
        FamilyPage {
            chrome: Some(Chrome::of(state, who)),
            csrf: who.csrf().to_string(),
            export_action: "/family/export",
            export_error: None,
            notice,
            errors: field_errors(errors, &["add_hours", "status"]),
            can_record: who.may(Permission::RecordServices),
            trainings: o
                .trainings
                .iter()
                .map(|t| TrainingLine {
                    held_on: t.held_on.to_string(),
                    region: region_name(state, &t.region),
                    topic: t.topic.clone(),
                    hours: hours(t.hours),
                    trainer: t.trainer.clone(),
                    attendees: t.attendees,
                })
                .collect(),
            respite: o.respite.iter().map(respite_line).collect(),
            groups: o
                .groups
                .iter()
                .map(|g| GroupLine {
                    id: g.id,
                    name: g.name.clone(),
                    region: region_name(state, &g.region),
                    facilitator: g.facilitator.clone(),
                    started_on: g.started_on.to_string(),
                    members: g.members,
                    meetings: g.meetings,
                    last_meeting: g.last_meeting.map(|d| d.to_string()).unwrap_or_default(),
                })
                .collect(),
            peers: o
                .peers
                .iter()
                .map(|p| {
                    let status = PeerStatus::parse(&p.status).unwrap_or(PeerStatus::Inactive);
                    PeerLine {
                        id: p.id,
                        name: p.name.clone(),
                        region: region_name(state, &p.region),
                        person_id: p.person_id,
                        trained_on: p.trained_on.to_string(),
                        active: status == PeerStatus::Active,
                        status: status.label_zh(),
                        hours: hours(p.hours),
                    }
                })
                .collect(),
        }
    }
}

/// 家庭支持: the latest trainings, respite episodes, groups and peer supporters of the user's area.
pub async fn page(
    State(state): State<AppState>,
    who: CurrentUser,
    Query(q): Query<PageQuery>,
) -> AppResult<Response> {
    let notice = q.saved.as_deref().and_then(|s| {
        Some(match s {
            "training" => "已保存家属护理培训记录。",
            "respite" => "已保存喘息服务记录。",
            "group" => "已建立家属互助小组。",
            "peer" => "已登记同伴支持者。",
            "peer-update" => "已更新同伴支持者。",
            _ => return None,
        })
    });
    Ok(family_page(&state, &who, notice.map(str::to_string), &[])
        .await?
        .into_response())
}

/// The most rows of each list one download holds.
const EXPORT_ROWS: i64 = 50_000;

/// The four lists of 家庭支持 as one .xlsx (a sheet each), with a reason, audited `family.export`
/// in the transaction that reads them.
pub async fn export(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(form): Form<ExportForm>,
) -> AppResult<Response> {
    let Some(reason) = form.reason() else {
        let mut page = family_page(&state, &who, None, &[]).await?;
        page.export_error = downloads::reason_missing();
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let o = read_overview(&state, &who, EXPORT_ROWS, None, Some(reason)).await?;
    let page = FamilyPage::of(&state, &who, &o, None, &[]);
    let place = state.tree.path_name(&who.user.region_code);
    let notes = || vec![format!("导出日期：{}", today())];
    let sheet = |sheet, what: &str, headers, widths| Table {
        sheet,
        title: format!("{what} — {place}"),
        notes: notes(),
        headers,
        widths,
    };
    let sheets = vec![
        (
            sheet(
                "家属护理培训",
                "家属护理培训",
                &[
                    "序号",
                    "日期",
                    "街镇",
                    "主题",
                    "时长（小时）",
                    "授课人",
                    "参加家属",
                ],
                &[6.0, 12.0, 16.0, 30.0, 12.0, 12.0, 10.0],
            ),
            page.trainings
                .into_iter()
                .map(|t| {
                    vec![
                        text(t.held_on),
                        text(t.region),
                        text(t.topic),
                        text(t.hours),
                        text(t.trainer),
                        num(t.attendees as f64),
                    ]
                })
                .collect(),
        ),
        (
            sheet(
                "喘息服务",
                "喘息服务",
                &[
                    "序号",
                    "服务对象",
                    "日期",
                    "服务提供方",
                    "时长（小时）",
                    "备注",
                ],
                &[6.0, 12.0, 24.0, 24.0, 12.0, 30.0],
            ),
            page.respite
                .into_iter()
                .map(|r| {
                    vec![
                        text(r.person),
                        text(r.dates),
                        text(r.provider),
                        text(r.hours),
                        text(r.notes),
                    ]
                })
                .collect(),
        ),
        (
            sheet(
                "家属互助小组",
                "家属互助小组",
                &[
                    "序号",
                    "小组",
                    "街镇",
                    "带领人",
                    "成立日期",
                    "在组成员",
                    "活动次数",
                    "最近活动",
                ],
                &[6.0, 20.0, 16.0, 12.0, 12.0, 10.0, 10.0, 12.0],
            ),
            page.groups
                .into_iter()
                .map(|g| {
                    vec![
                        text(g.name),
                        text(g.region),
                        text(g.facilitator),
                        text(g.started_on),
                        num(g.members as f64),
                        num(g.meetings as f64),
                        text(g.last_meeting),
                    ]
                })
                .collect(),
        ),
        (
            sheet(
                "同伴支持者",
                "同伴支持者",
                &[
                    "序号",
                    "姓名",
                    "街镇",
                    "培训合格日期",
                    "状态",
                    "累计服务（小时）",
                ],
                &[6.0, 12.0, 16.0, 14.0, 8.0, 16.0],
            ),
            page.peers
                .into_iter()
                .map(|p| {
                    vec![
                        text(p.name),
                        text(p.region),
                        text(p.trained_on),
                        text(p.status),
                        text(p.hours),
                    ]
                })
                .collect(),
        ),
    ];
    downloads::file(&format!("家庭支持-{}", today().format("%Y%m%d")), sheets)
}

// ---------- caregiver training ----------

#[derive(Template, WebTemplate)]
#[template(path = "family_training_form.html")]
pub struct TrainingForm {
    chrome: Option<Chrome>,
    csrf: String,
    held_on: String,
    regions: Vec<Pick>,
    topic: String,
    hours: String,
    trainer: String,
    people: Vec<PersonRow>,
    errors: Vec<(String, String)>,
}

async fn training_form(
    state: &AppState,
    who: &CurrentUser,
    input: &TrainingInput,
    hours_text: &str,
    errors: &[FieldError],
) -> AppResult<TrainingForm> {
    Ok(TrainingForm {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        held_on: if input.held_on.is_empty() {
            today().to_string()
        } else {
            input.held_on.clone()
        },
        regions: region_picks(state, who, &input.region),
        topic: input.topic.clone(),
        hours: hours_text.to_string(),
        trainer: input.trainer.clone(),
        people: person_rows(state, who, &input.attendees, "family-training-form").await?,
        errors: field_errors(
            errors,
            &[
                "held_on",
                "region",
                "topic",
                "hours",
                "trainer",
                "attendees",
            ],
        ),
    })
}

pub async fn training_new(State(state): State<AppState>, who: CurrentUser) -> AppResult<Response> {
    let input = TrainingInput {
        trainer: who.user.display_name.clone(),
        ..Default::default()
    };
    Ok(training_form(&state, &who, &input, "2", &[])
        .await?
        .into_response())
}

pub async fn training_create(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let (mut input, mut hours_text, mut picked) =
        (TrainingInput::default(), String::new(), Picked::new());
    for (k, v) in pairs {
        if picked.take(&k, &v) {
            continue;
        }
        match k.as_str() {
            "csrf" => {} // checked by the form extractor
            "held_on" => input.held_on = v,
            "region" => input.region = v,
            "topic" => input.topic = v,
            "hours" => hours_text = v,
            "trainer" => input.trainer = v,
            _ => {}
        }
    }
    input.hours = number(&hours_text);
    input.attendees = picked.members();
    match record_training(&state, &who, &input).await? {
        Ok(_) => Ok(Redirect::to("/family?saved=training").into_response()),
        Err(r) => {
            let errors = problems(r)?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                training_form(&state, &who, &input, &hours_text, &errors).await?,
            )
                .into_response())
        }
    }
}

// ---------- respite ----------

#[derive(Template, WebTemplate)]
#[template(path = "family_respite_form.html")]
pub struct RespiteForm {
    chrome: Option<Chrome>,
    csrf: String,
    persons: Vec<Pick>,
    from_date: String,
    to_date: String,
    provider: String,
    hours: String,
    notes: String,
    errors: Vec<(String, String)>,
}

#[derive(Deserialize, Default)]
pub struct RespiteQuery {
    /// Preselect this person (from the person page).
    person: Option<i64>,
}

async fn respite_form(
    state: &AppState,
    who: &CurrentUser,
    input: &RespiteInput,
    hours_text: &str,
    errors: &[FieldError],
) -> AppResult<RespiteForm> {
    let persons = area_persons(state, who, "family-respite-form").await?;
    Ok(RespiteForm {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        persons: person_picks(persons, Some(input.person_id)),
        from_date: input.from_date.clone(),
        to_date: input.to_date.clone(),
        provider: input.provider.clone(),
        hours: hours_text.to_string(),
        notes: input.notes.clone(),
        errors: field_errors(
            errors,
            &[
                "person_id",
                "from_date",
                "to_date",
                "provider",
                "hours",
                "notes",
            ],
        ),
    })
}

pub async fn respite_new(
    State(state): State<AppState>,
    who: CurrentUser,
    Query(q): Query<RespiteQuery>,
) -> AppResult<Response> {
    let input = RespiteInput {
        person_id: q.person.unwrap_or(0),
        ..Default::default()
    };
    Ok(respite_form(&state, &who, &input, "", &[])
        .await?
        .into_response())
}

pub async fn respite_create(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let (mut input, mut hours_text) = (RespiteInput::default(), String::new());
    for (k, v) in pairs {
        match k.as_str() {
            "csrf" => {} // checked by the form extractor
            "person_id" => input.person_id = v.trim().parse().unwrap_or(0),
            "from_date" => input.from_date = v,
            "to_date" => input.to_date = v,
            "provider" => input.provider = v,
            "hours" => hours_text = v,
            "notes" => input.notes = v,
            _ => {}
        }
    }
    input.hours = number(&hours_text);
    match record_respite(&state, &who, &input).await? {
        Ok(_) => Ok(Redirect::to("/family?saved=respite").into_response()),
        Err(r) => {
            let errors = problems(r)?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                respite_form(&state, &who, &input, &hours_text, &errors).await?,
            )
                .into_response())
        }
    }
}

// ---------- mutual-aid groups ----------

#[derive(Template, WebTemplate)]
#[template(path = "family_group_form.html")]
pub struct GroupForm {
    chrome: Option<Chrome>,
    csrf: String,
    name: String,
    regions: Vec<Pick>,
    facilitator: String,
    started_on: String,
    people: Vec<PersonRow>,
    errors: Vec<(String, String)>,
}

async fn group_form(
    state: &AppState,
    who: &CurrentUser,
    input: &GroupInput,
    errors: &[FieldError],
) -> AppResult<GroupForm> {
    Ok(GroupForm {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        name: input.name.clone(),
        regions: region_picks(state, who, &input.region),
        facilitator: input.facilitator.clone(),
        started_on: if input.started_on.is_empty() {
            today().to_string()
        } else {
            input.started_on.clone()
        },
        people: person_rows(state, who, &input.members, "family-group-form").await?,
        errors: field_errors(
            errors,
            &["name", "region", "facilitator", "started_on", "members"],
        ),
    })
}

pub async fn group_new(State(state): State<AppState>, who: CurrentUser) -> AppResult<Response> {
    let input = GroupInput {
        facilitator: who.user.display_name.clone(),
        ..Default::default()
    };
    Ok(group_form(&state, &who, &input, &[]).await?.into_response())
}

pub async fn group_create(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let (mut input, mut picked) = (GroupInput::default(), Picked::new());
    for (k, v) in pairs {
        if picked.take(&k, &v) {
            continue;
        }
        match k.as_str() {
            "csrf" => {} // checked by the form extractor
            "name" => input.name = v,
            "region" => input.region = v,
            "facilitator" => input.facilitator = v,
            "started_on" => input.started_on = v,
            _ => {}
        }
    }
    input.members = picked.members();
    match record_group(&state, &who, &input).await? {
        Ok(id) => Ok(Redirect::to(&format!("/family/groups/{id}?saved=group")).into_response()),
        Err(r) => {
            let errors = problems(r)?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                group_form(&state, &who, &input, &errors).await?,
            )
                .into_response())
        }
    }
}

pub struct MemberLine {
    id: i64,
    person_id: i64,
    person: String,
    name: String,
    relation: String,
    joined_on: String,
    left_on: String,
    current: bool,
    attended: i64,
    /// Ticked in the meeting form.
    checked: bool,
}

pub struct MeetingLine {
    held_on: String,
    topic: String,
    attendees: i64,
    names: String,
    notes: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "family_group.html")]
pub struct GroupPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<String>,
    can_record: bool,
    id: i64,
    name: String,
    region: String,
    facilitator: String,
    started_on: String,
    members: Vec<MemberLine>,
    meetings: Vec<MeetingLine>,
    /// The meeting form, as entered.
    held_on: String,
    topic: String,
    notes: String,
    meeting_errors: Vec<(String, String)>,
    /// The member form: the persons of the area to add a family member of.
    persons: Vec<Pick>,
    relations: Vec<Pick>,
    today: String,
    member_errors: Vec<(String, String)>,
}

/// What was entered in a refused form of the group page.
#[derive(Default)]
struct GroupEntered {
    meeting: Option<MeetingInput>,
    meeting_errors: Vec<FieldError>,
    member_errors: Vec<FieldError>,
}

async fn group_page(
    state: &AppState,
    who: &CurrentUser,
    gid: i64,
    notice: Option<String>,
    entered: GroupEntered,
) -> AppResult<GroupPage> {
    let g = read_group(state, who, gid)
        .await?
        .ok_or(AppError::NotFound)?;
    let can_record = who.may(Permission::RecordServices);
    let persons = if can_record {
        person_picks(area_persons(state, who, "family-group-page").await?, None)
    } else {
        Vec::new()
    };
    let meeting = entered.meeting.unwrap_or_else(|| MeetingInput {
        held_on: today().to_string(),
        ..Default::default()
    });
    let name_of: HashMap<i64, String> = g
        .members
        .iter()
        .map(|m| (m.id, format!("{}（{}）", m.name, m.person_name)))
        .collect();
    Ok(GroupPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        notice,
        can_record,
        id: g.group.id,
        name: g.group.name.clone(),
        region: state.tree.path_name(&g.group.region),
        facilitator: g.group.facilitator.clone(),
        started_on: g.group.started_on.to_string(),
        members: g
            .members
            .iter()
            .map(|m| MemberLine {
                id: m.id,
                person_id: m.person_id,
                person: m.person_name.clone(),
                name: m.name.clone(),
                relation: Relation::label_of(&m.relation),
                joined_on: m.joined_on.to_string(),
                left_on: m.left_on.map(|d| d.to_string()).unwrap_or_default(),
                current: m.left_on.is_none(),
                attended: m.meetings_attended,
                checked: meeting.attendees.contains(&m.id),
            })
            .collect(),
        meetings: g
            .meetings
            .iter()
            .map(|m| MeetingLine {
                held_on: m.held_on.to_string(),
                topic: m.topic.clone(),
                attendees: m.attendees,
                names: m
                    .members
                    .iter()
                    .filter_map(|id| name_of.get(id).cloned())
                    .collect::<Vec<_>>()
                    .join("、"),
                notes: m.notes.clone().unwrap_or_default(),
            })
            .collect(),
        held_on: meeting.held_on,
        topic: meeting.topic,
        notes: meeting.notes,
        meeting_errors: field_errors(
            &entered.meeting_errors,
            &["held_on", "topic", "attendees", "notes"],
        ),
        persons,
        relations: relations(None),
        today: today().to_string(),
        member_errors: field_errors(&entered.member_errors, &["add", "leave"]),
    })
}

#[derive(Deserialize, Default)]
pub struct GroupQuery {
    saved: Option<String>,
}

/// A group: its members (current first) and meetings, the meeting form and the member form.
pub async fn group_show(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(gid): Path<i64>,
    Query(q): Query<GroupQuery>,
) -> AppResult<Response> {
    let notice = q.saved.as_deref().and_then(|s| {
        Some(match s {
            "group" => "已建立小组。",
            "meeting" => "已保存活动记录和出席情况。",
            "members" => "已更新小组成员。",
            _ => return None,
        })
    });
    Ok(group_page(
        &state,
        &who,
        gid,
        notice.map(str::to_string),
        GroupEntered::default(),
    )
    .await?
    .into_response())
}

/// Record a meeting: the ticked members attended.
pub async fn meeting_create(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(gid): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let mut input = MeetingInput::default();
    for (k, v) in pairs {
        match k.as_str() {
            "csrf" => {} // checked by the form extractor
            "held_on" => input.held_on = v,
            "topic" => input.topic = v,
            "notes" => input.notes = v,
            "attendees" => {
                if let Ok(id) = v.trim().parse() {
                    input.attendees.push(id);
                }
            }
            _ => {}
        }
    }
    match record_meeting(&state, &who, gid, &input).await? {
        Ok(_) => Ok(Redirect::to(&format!("/family/groups/{gid}?saved=meeting")).into_response()),
        Err(r) => {
            let meeting_errors = problems(r)?;
            let entered = GroupEntered {
                meeting: Some(input),
                meeting_errors,
                ..Default::default()
            };
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                group_page(&state, &who, gid, None, entered).await?,
            )
                .into_response())
        }
    }
}

/// Add a family member to the group (`person_id`, `name`, `relation`, `joined_on`), or let one
/// leave (`leave` = member id, `left_on`).
pub async fn members_change(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(gid): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let (mut add, mut leave) = (FamilyMemberInput::default(), LeaveInput::default());
    let mut leaving = false;
    for (k, v) in pairs {
        match k.as_str() {
            "csrf" => {} // checked by the form extractor
            "person_id" => add.person_id = v.trim().parse().unwrap_or(0),
            "name" => add.name = v,
            "relation" => add.relation = v,
            "joined_on" => add.joined_on = v,
            "leave" => {
                leaving = true;
                leave.member_id = v.trim().parse().unwrap_or(0);
            }
            "left_on" => leave.left_on = v,
            _ => {}
        }
    }
    let input = if leaving {
        MembersInput {
            leave: vec![leave],
            ..Default::default()
        }
    } else {
        MembersInput {
            add: vec![add],
            ..Default::default()
        }
    };
    match change_members(&state, &who, gid, &input).await? {
        Ok(()) => Ok(Redirect::to(&format!("/family/groups/{gid}?saved=members")).into_response()),
        Err(r) => {
            let member_errors = problems(r)?;
            let entered = GroupEntered {
                member_errors,
                ..Default::default()
            };
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                group_page(&state, &who, gid, None, entered).await?,
            )
                .into_response())
        }
    }
}

// ---------- peer supporters ----------

#[derive(Template, WebTemplate)]
#[template(path = "family_peer_form.html")]
pub struct PeerForm {
    chrome: Option<Chrome>,
    csrf: String,
    name: String,
    regions: Vec<Pick>,
    persons: Vec<Pick>,
    trained_on: String,
    statuses: Vec<Pick>,
    hours: String,
    errors: Vec<(String, String)>,
}

async fn peer_form(
    state: &AppState,
    who: &CurrentUser,
    input: &PeerInput,
    hours_text: &str,
    errors: &[FieldError],
) -> AppResult<PeerForm> {
    let persons = area_persons(state, who, "family-peer-form").await?;
    let status = PeerStatus::parse(&input.status).unwrap_or(PeerStatus::Active);
    Ok(PeerForm {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        name: input.name.clone(),
        regions: region_picks(state, who, &input.region),
        persons: person_picks(persons, input.person_id),
        trained_on: input.trained_on.clone(),
        statuses: PeerStatus::ALL
            .into_iter()
            .map(|s| Pick {
                value: s.code().into(),
                label: s.label_zh().into(),
                checked: s == status,
            })
            .collect(),
        hours: hours_text.to_string(),
        errors: field_errors(
            errors,
            &[
                "name",
                "region",
                "person_id",
                "trained_on",
                "status",
                "hours",
            ],
        ),
    })
}

pub async fn peer_new(State(state): State<AppState>, who: CurrentUser) -> AppResult<Response> {
    Ok(peer_form(&state, &who, &PeerInput::default(), "0", &[])
        .await?
        .into_response())
}

pub async fn peer_create(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let (mut input, mut hours_text) = (PeerInput::default(), String::new());
    for (k, v) in pairs {
        match k.as_str() {
            "csrf" => {} // checked by the form extractor
            "name" => input.name = v,
            "region" => input.region = v,
            "person_id" => input.person_id = v.trim().parse().ok(),
            "trained_on" => input.trained_on = v,
            "status" => input.status = v,
            "hours" => hours_text = v,
            _ => {}
        }
    }
    input.hours = number(&hours_text);
    match record_peer(&state, &who, &input).await? {
        Ok(_) => Ok(Redirect::to("/family?saved=peer").into_response()),
        Err(r) => {
            let errors = problems(r)?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                peer_form(&state, &who, &input, &hours_text, &errors).await?,
            )
                .into_response())
        }
    }
}

/// Add hours of support to a peer supporter and/or change the status (from the 家庭支持 page).
pub async fn peer_update(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(pid): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let mut input = PeerUpdateInput::default();
    for (k, v) in pairs {
        match k.as_str() {
            "csrf" => {} // checked by the form extractor
            "add_hours" => input.add_hours = number(&v),
            "status" => input.status = v,
            _ => {}
        }
    }
    match update_peer(&state, &who, pid, &input).await? {
        Ok(()) => Ok(Redirect::to("/family?saved=peer-update").into_response()),
        Err(r) => {
            let errors = problems(r)?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                family_page(&state, &who, None, &errors).await?,
            )
                .into_response())
        }
    }
}

// ---------- the person page's 家庭支持 section ----------

/// What the person page shows of family support, read with the person (same transaction).
#[derive(Default)]
pub(crate) struct PersonFamily {
    pub(crate) respite: Vec<StoredRespite>,
    pub(crate) trainings: Vec<store::PersonTraining>,
    pub(crate) groups: Vec<store::Membership>,
}

pub(crate) async fn of_person(tx: &mut Tx, scope: &Scope, id: i64) -> anyhow::Result<PersonFamily> {
    Ok(PersonFamily {
        respite: store::respite_of_person(tx, scope, id, 100).await?,
        trainings: store::trainings_of_person(tx, scope, id, 100).await?,
        groups: store::groups_of_person(tx, scope, id).await?,
    })
}

pub struct PersonTrainingLine {
    pub(crate) held_on: String,
    pub(crate) topic: String,
    pub(crate) hours: String,
    pub(crate) attendee: String,
}

pub struct MembershipLine {
    pub(crate) group_id: i64,
    pub(crate) group: String,
    pub(crate) member: String,
    pub(crate) period: String,
    pub(crate) attended: i64,
}

/// The 家庭支持 section of the person page.
pub struct FamilySection {
    pub(crate) respite: Vec<RespiteLine>,
    pub(crate) trainings: Vec<PersonTrainingLine>,
    pub(crate) groups: Vec<MembershipLine>,
    pub(crate) can_record: bool,
}

pub(crate) fn section(who: &CurrentUser, f: PersonFamily) -> FamilySection {
    FamilySection {
        respite: f.respite.iter().map(respite_line).collect(),
        trainings: f
            .trainings
            .iter()
            .map(|t| PersonTrainingLine {
                held_on: t.held_on.to_string(),
                topic: t.topic.clone(),
                hours: hours(t.hours),
                attendee: format!("{}（{}）", t.name, Relation::label_of(&t.relation)),
            })
            .collect(),
        groups: f
            .groups
            .iter()
            .map(|m| MembershipLine {
                group_id: m.group_id,
                group: m.group_name.clone(),
                member: format!("{}（{}）", m.name, Relation::label_of(&m.relation)),
                period: match m.left_on {
                    Some(l) => format!("{} 至 {}", m.joined_on, l),
                    None => format!("{} 起", m.joined_on),
                },
                attended: m.meetings_attended,
            })
            .collect(),
        can_record: who.may(Permission::RecordServices),
    }
}

// ---------- API ----------

#[derive(Debug, Serialize, ToSchema)]
pub struct FamilyRecorded {
    pub id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FamilyRefused {
    /// `family-invalid`.
    pub code: String,
    /// Every problem in one Chinese sentence.
    pub message: String,
    pub problems: Vec<FieldError>,
}

/// A training with its attendees (those whose person is in the caller's scope).
#[derive(Debug, Serialize, ToSchema)]
pub struct TrainingOut {
    pub training: StoredTraining,
    pub attendees: Vec<StoredAttendee>,
}

fn refused(r: Refusal) -> Result<Response, ApiError> {
    let problems = problems(r)?;
    let message = problems
        .iter()
        .map(|p| p.message.as_str())
        .collect::<Vec<_>>()
        .join("；");
    Ok((
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(FamilyRefused {
            code: "family-invalid".into(),
            message,
            problems,
        }),
    )
        .into_response())
}

fn created(r: Result<i64, Refusal>) -> Result<Response, ApiError> {
    match r {
        Ok(id) => Ok((StatusCode::CREATED, Json(FamilyRecorded { id })).into_response()),
        Err(r) => refused(r),
    }
}

fn body<T>(b: Result<Json<T>, axum::extract::rejection::JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|_| AppError::BadRequest("form-invalid".into()).into())
}

type JsonBody<T> = Result<Json<T>, axum::extract::rejection::JsonRejection>;

/// The latest 500 caregiver trainings of the caller's scope, with their attendees. Audited.
#[utoipa::path(get, path = "/api/v1/family/trainings", responses((status = 200, body = Vec<TrainingOut>)), security(("bearer" = [])), tag = "family")]
pub async fn api_trainings(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Vec<TrainingOut>>, ApiError> {
    let (scope, actor) = (who.scope.clone(), who.user.actor());
    let region = who.user.region_code.clone();
    let out = state
        .writes
        .run(move |tx| {
            let (scope, actor, region) = (scope.clone(), actor.clone(), region.clone());
            Box::pin(async move {
                let trainings = store::trainings(tx, &scope, API_ROWS).await?;
                let ids: Vec<i64> = trainings.iter().map(|t| t.id).collect();
                let attendees = store::training_attendees(tx, &scope, &ids).await?;
                audit::record(tx, &actor, "family.list", Some(Target::region(&region)),
                    serde_json::json!({"trainings": trainings.len(), "attendees": attendees.len(), "via": "api"})).await?;
                let mut by_training: HashMap<i64, Vec<StoredAttendee>> = HashMap::new();
                for a in attendees {
                    by_training.entry(a.training_id).or_default().push(a);
                }
                let out: Vec<TrainingOut> = trainings
                    .into_iter()
                    .map(|training| TrainingOut { attendees: by_training.remove(&training.id).unwrap_or_default(), training })
                    .collect();
                Ok(Outcome::Keep(out))
            })
        })
        .await?;
    Ok(Json(out))
}

/// Record a caregiver training with the family members who attended. Problems answer 422, by
/// field; nothing is written.
#[utoipa::path(post, path = "/api/v1/family/trainings", request_body = TrainingInput,
    responses((status = 201, body = FamilyRecorded), (status = 422, body = FamilyRefused)), security(("bearer" = [])), tag = "family")]
pub async fn api_training_create(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    b: JsonBody<TrainingInput>,
) -> Result<Response, ApiError> {
    let input = body(b)?;
    created(record_training(&state, &who, &input).await?)
}

/// The latest 500 respite episodes of the persons in the caller's scope. Audited.
#[utoipa::path(get, path = "/api/v1/family/respite", responses((status = 200, body = Vec<StoredRespite>)), security(("bearer" = [])), tag = "family")]
pub async fn api_respite(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Vec<StoredRespite>>, ApiError> {
    Ok(Json(
        overview(&state, &who, API_ROWS, Some("respite"))
            .await?
            .respite,
    ))
}

/// Record a respite episode (喘息服务) of a person in the caller's scope.
#[utoipa::path(post, path = "/api/v1/family/respite", request_body = RespiteInput,
    responses((status = 201, body = FamilyRecorded), (status = 422, body = FamilyRefused)), security(("bearer" = [])), tag = "family")]
pub async fn api_respite_create(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    b: JsonBody<RespiteInput>,
) -> Result<Response, ApiError> {
    let input = body(b)?;
    created(record_respite(&state, &who, &input).await?)
}

/// The mutual-aid groups of the caller's scope, with member and meeting counts. Audited.
#[utoipa::path(get, path = "/api/v1/family/groups", responses((status = 200, body = Vec<StoredGroup>)), security(("bearer" = [])), tag = "family")]
pub async fn api_groups(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Vec<StoredGroup>>, ApiError> {
    Ok(Json(
        overview(&state, &who, API_ROWS, Some("groups"))
            .await?
            .groups,
    ))
}

/// Set up a mutual-aid group (家属互助小组) with its first members.
#[utoipa::path(post, path = "/api/v1/family/groups", request_body = GroupInput,
    responses((status = 201, body = FamilyRecorded), (status = 422, body = FamilyRefused)), security(("bearer" = [])), tag = "family")]
pub async fn api_group_create(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    b: JsonBody<GroupInput>,
) -> Result<Response, ApiError> {
    let input = body(b)?;
    created(record_group(&state, &who, &input).await?)
}

/// One group with its members (whose person is in the caller's scope) and meetings. Audited.
#[utoipa::path(get, path = "/api/v1/family/groups/{gid}", params(("gid" = i64, Path, description = "group id")),
    responses((status = 200, body = GroupDetail), (status = 404, body = crate::api_base::ApiErrorBody)), security(("bearer" = [])), tag = "family")]
pub async fn api_group(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(gid): Path<i64>,
) -> Result<Json<GroupDetail>, ApiError> {
    Ok(Json(
        read_group(&state, &who, gid)
            .await?
            .ok_or(AppError::NotFound)?,
    ))
}

/// Record a meeting of a group: the member ids who attended, once for all.
#[utoipa::path(post, path = "/api/v1/family/groups/{gid}/meetings", params(("gid" = i64, Path, description = "group id")), request_body = MeetingInput,
    responses((status = 201, body = FamilyRecorded), (status = 404, body = crate::api_base::ApiErrorBody), (status = 422, body = FamilyRefused)),
    security(("bearer" = [])), tag = "family")]
pub async fn api_meeting_create(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(gid): Path<i64>,
    b: JsonBody<MeetingInput>,
) -> Result<Response, ApiError> {
    let input = body(b)?;
    created(record_meeting(&state, &who, gid, &input).await?)
}

/// Members join (`add`) and leave (`leave`) a group, all at once.
#[utoipa::path(post, path = "/api/v1/family/groups/{gid}/members", params(("gid" = i64, Path, description = "group id")), request_body = MembersInput,
    responses((status = 204), (status = 404, body = crate::api_base::ApiErrorBody), (status = 422, body = FamilyRefused)),
    security(("bearer" = [])), tag = "family")]
pub async fn api_members_change(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(gid): Path<i64>,
    b: JsonBody<MembersInput>,
) -> Result<Response, ApiError> {
    let input = body(b)?;
    match change_members(&state, &who, gid, &input).await? {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(r) => refused(r),
    }
}

/// The peer supporters (同伴支持者) of the caller's scope. Audited.
#[utoipa::path(get, path = "/api/v1/family/peers", responses((status = 200, body = Vec<StoredPeer>)), security(("bearer" = [])), tag = "family")]
pub async fn api_peers(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Vec<StoredPeer>>, ApiError> {
    Ok(Json(
        overview(&state, &who, API_ROWS, Some("peers")).await?.peers,
    ))
}

/// Register a peer supporter.
#[utoipa::path(post, path = "/api/v1/family/peers", request_body = PeerInput,
    responses((status = 201, body = FamilyRecorded), (status = 422, body = FamilyRefused)), security(("bearer" = [])), tag = "family")]
pub async fn api_peer_create(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    b: JsonBody<PeerInput>,
) -> Result<Response, ApiError> {
    let input = body(b)?;
    created(record_peer(&state, &who, &input).await?)
}

/// Add hours of support given by a peer supporter and/or change their status.
#[utoipa::path(post, path = "/api/v1/family/peers/{pid}", params(("pid" = i64, Path, description = "peer supporter id")), request_body = PeerUpdateInput,
    responses((status = 204), (status = 404, body = crate::api_base::ApiErrorBody), (status = 422, body = FamilyRefused)),
    security(("bearer" = [])), tag = "family")]
pub async fn api_peer_update(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(pid): Path<i64>,
    b: JsonBody<PeerUpdateInput>,
) -> Result<Response, ApiError> {
    let input = body(b)?;
    match update_peer(&state, &who, pid, &input).await? {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(r) => refused(r),
    }
}

impl FieldProblems for GroupForm {
    fn problems(&self) -> &[(String, String)] {
        &self.errors
    }
}

impl FieldProblems for PeerForm {
    fn problems(&self) -> &[(String, String)] {
        &self.errors
    }
}

impl FieldProblems for RespiteForm {
    fn problems(&self) -> &[(String, String)] {
        &self.errors
    }
}

impl FieldProblems for TrainingForm {
    fn problems(&self) -> &[(String, String)] {
        &self.errors
    }
}
