//! Referral pages (SPEC §5): the inbox, the waiting and late worklists and the sent trace; the send
//! form (a person of the registry, or a discharged patient not yet in it, with the documents
//! checklist of the kind); one referral with its steps and the receiver's accept / return /
//! complete or the sender's resend. The API (`api_care`) goes through the same functions here, so
//! both answer with the same refusals and the same audit.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jingkang_core::accounts::policy::Permission;
use jingkang_core::app::referrals::{
    self, ActRefusal, Carried, CheckedFile, Contact, Content, Desk, NewReferral, ReferralDetail,
    ReferralItem, SendRefusal, Subject, Tray,
};
use jingkang_core::care::referral::{ReferralEvent, ReferralState};
use jingkang_core::export::referrals as xlsx;
use jingkang_core::import::roster::{ROSTER_COLUMNS, RowError};
use jingkang_core::messages::{self, render};
use jingkang_core::regions::Level;
use jingkang_core::registry::{self, Sensitivity};
use jingkang_core::store::Tx;
use jingkang_core::store::audit::{self, Target};
use jingkang_core::store::batch::Outcome;
use serde::Deserialize;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::entry::today;
use crate::error::{AppError, AppResult};
use crate::extract::{Form, Path, Query};
use crate::pages::Chrome;

/// The referral desk of the signed-in user.
pub(crate) fn desk(state: &AppState, who: &CurrentUser) -> Desk {
    Desk::of_role(
        &state.referrals,
        who.scope.clone(),
        who.user.actor(),
        who.user.role.code(),
    )
}

/// A refusal as the user reads it: a message code, the Chinese text, and for a new person's
/// identity the problems by field.
#[derive(Debug, Clone)]
pub(crate) struct Refused {
    pub code: &'static str,
    pub text: String,
    pub fields: Vec<RowError>,
}

impl Refused {
    fn new(code: &'static str, args: &[(&str, &str)]) -> Refused {
        Refused {
            code,
            text: render(code, args),
            fields: Vec::new(),
        }
    }

    fn invalid(fields: Vec<RowError>) -> Refused {
        let problems: Vec<&str> = fields.iter().map(|e| e.message.as_str()).collect();
        Refused {
            code: "referral-new-person-invalid",
            text: render(
                "referral-new-person-invalid",
                &[("problems", &problems.join("；"))],
            ),
            fields,
        }
    }

    pub fn message(&self) -> String {
        self.text.clone()
    }
}

fn kind_label(state: &AppState, kind: &str) -> String {
    state
        .referrals
        .rules
        .kind(kind)
        .map_or_else(|| kind.to_string(), |k| k.label.clone())
}

/// Send a referral from the user's desk. A referral about a person out of scope answers 404.
pub(crate) async fn send(
    state: &AppState,
    who: &CurrentUser,
    new: std::sync::Arc<NewReferral>,
) -> AppResult<Result<i64, Refused>> {
    let (desk, book, tree) = (
        desk(state, who),
        state.referrals.clone(),
        state.tree.clone(),
    );
    let kind = kind_label(state, &new.kind);
    let new_kind = new.kind.clone();
    let done = state
        .writes
        .run(move |tx| {
            let (desk, book, tree, new) = (desk.clone(), book.clone(), tree.clone(), new.clone());
            Box::pin(async move {
                Ok(Outcome::Keep(
                    referrals::send(tx, &desk, &book, &tree, &new).await?,
                ))
            })
        })
        .await?;
    Ok(match done {
        Ok(id) => Ok(id),
        Err(SendRefusal::NotFound) => return Err(AppError::NotFound),
        Err(SendRefusal::KindUnknown) => Err(Refused::new("referral-kind-unknown", &[])),
        Err(SendRefusal::NotSender) => Err(Refused::new("referral-not-sender", &[("kind", &kind)])),
        Err(SendRefusal::RegionInvalid) => Err(Refused::new("referral-region-invalid", &[])),
        Err(SendRefusal::SameRegion) => Err(Refused::new("referral-same-region", &[])),
        Err(SendRefusal::NewPersonNotAllowed) => Err(Refused::new(
            "referral-new-person-not-allowed",
            &[("kind", &kind)],
        )),
        Err(SendRefusal::Invalid(fields)) => Err(Refused::invalid(fields)),
        Err(SendRefusal::Incomplete(missing)) => Err(Refused::new(
            "referral-incomplete",
            &[("missing", &missing.join("、"))],
        )),
        Err(SendRefusal::DocumentInvalid { code, slot }) => {
            let allowed = state
                .referrals
                .rules
                .kind(&new_kind)
                .map(|r| r.documents.join("、"))
                .unwrap_or_default();
            Err(Refused::new(
                code,
                &[("kind", &kind), ("slot", &slot), ("allowed", &allowed)],
            ))
        }
        Err(SendRefusal::ContactInvalid(fields)) => {
            let problems: Vec<&str> = fields.iter().map(|e| e.message.as_str()).collect();
            Err(Refused {
                code: "referral-contact-invalid",
                text: render(
                    "referral-contact-invalid",
                    &[("problems", &problems.join("；"))],
                ),
                fields,
            })
        }
        Err(SendRefusal::AssessmentMissing {
            domain,
            within_days,
        }) => Err(Refused::new(
            "referral-assessment-missing",
            &[
                ("kind", &kind),
                ("days", &within_days.to_string()),
                (
                    "domain",
                    jingkang_core::care::instrument::domain_label_zh(&domain),
                ),
            ],
        )),
    })
}

/// The event named `code` (`accept`, `return`, `complete`, `resend`); expiry is the system's.
pub(crate) fn event(code: &str, reason: String) -> Option<ReferralEvent> {
    match code.trim() {
        "accept" => Some(ReferralEvent::Accept),
        "return" => Some(ReferralEvent::Return { reason }),
        "complete" => Some(ReferralEvent::Complete),
        "resend" => Some(ReferralEvent::Resend),
        _ => None,
    }
}

/// Take a step on referral `id` from the user's desk; not on the user's side answers 404.
pub(crate) async fn act(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
    event: ReferralEvent,
) -> AppResult<Result<ReferralState, Refused>> {
    let (desk, book, tree, day) = (
        desk(state, who),
        state.referrals.clone(),
        state.tree.clone(),
        today(),
    );
    let event = std::sync::Arc::new(event);
    let done = state
        .writes
        .run(move |tx| {
            let (desk, book, tree, event) =
                (desk.clone(), book.clone(), tree.clone(), event.clone());
            Box::pin(async move {
                Ok(Outcome::Keep(
                    referrals::act(tx, &desk, &book, &tree, id, &event, day).await?,
                ))
            })
        })
        .await?;
    Ok(match done {
        Ok(s) => Ok(s),
        Err(ActRefusal::NotFound) => return Err(AppError::NotFound),
        Err(ActRefusal::Rule(e)) => Err(Refused {
            code: e.code(),
            text: e.message(),
            fields: Vec::new(),
        }),
        Err(ActRefusal::SubjectInvalid(fields)) => Err(Refused::invalid(fields)),
        Err(ActRefusal::RegisteredElsewhere) => {
            Err(Refused::new("referral-registered-elsewhere", &[]))
        }
    })
}

/// Inbox and sent lists (API), audited.
pub(crate) async fn lists(
    state: &AppState,
    who: &CurrentUser,
    via: &'static str,
) -> AppResult<(Vec<ReferralItem>, Vec<ReferralItem>)> {
    let desk = desk(state, who);
    Ok(state
        .writes
        .run(move |tx| {
            let desk = desk.clone();
            Box::pin(async move {
                let inbox = referrals::inbox(tx, &desk).await?;
                let sent = referrals::sent(tx, &desk, 200).await?;
                audit::record(
                    tx,
                    &desk.actor,
                    "referral.list",
                    None,
                    serde_json::json!({"inbox": inbox.len(), "sent": sent.len(), "via": via}),
                )
                .await?;
                Ok(Outcome::Keep((inbox, sent)))
            })
        })
        .await?)
}

/// The views of the referral page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Waiting,
    Late,
    Inbox,
    Sent,
}

impl View {
    const ALL: [View; 4] = [View::Waiting, View::Late, View::Inbox, View::Sent];

    fn code(self) -> &'static str {
        match self {
            View::Waiting => "waiting",
            View::Late => "late",
            View::Inbox => "inbox",
            View::Sent => "sent",
        }
    }

    fn parse(code: &str) -> View {
        View::ALL
            .into_iter()
            .find(|v| v.code() == code)
            .unwrap_or(View::Waiting)
    }

    fn label(self) -> &'static str {
        match self {
            View::Waiting => "待接收转介",
            View::Late => "逾期转介",
            View::Inbox => "收到的在办转介",
            View::Sent => "已发出转介",
        }
    }

    fn definition(self) -> &'static str {
        match self {
            View::Waiting => {
                "转至本辖区、状态为“发起”、尚未接收或退回的转介，紧急的在前，按期限排序"
            }
            View::Late => "转至本辖区、已超时或已过期限（工作日计）仍未处理完的转介",
            View::Inbox => "转至本辖区、尚未完成的全部转介（发起、已接收、超时）",
            View::Sent => "本辖区发出的转介（最近 500 条），含已被对方接收后迁出本辖区的，只读留痕",
        }
    }
}

/// Most rows the sent view and an export hold.
const SENT_MAX: i64 = 500;

async fn read_view(
    state: &AppState,
    who: &CurrentUser,
    view: View,
    via: &'static str,
    reason: Option<String>,
) -> AppResult<Vec<ReferralItem>> {
    let (desk, day) = (desk(state, who), today());
    let region = who.user.region_code.clone();
    Ok(state
        .writes
        .run(move |tx| {
            let (desk, region, reason) = (desk.clone(), region.clone(), reason.clone());
            Box::pin(async move {
                let items = match view {
                    View::Waiting => referrals::received(tx, &desk, Tray::Waiting, day).await?,
                    View::Late => referrals::received(tx, &desk, Tray::Late, day).await?,
                    View::Inbox => referrals::received(tx, &desk, Tray::Inbox, day).await?,
                    View::Sent => referrals::sent(tx, &desk, SENT_MAX).await?,
                };
                let action = if via == "export" { "referral.export" } else { "referral.list" };
                audit::record(tx, &desk.actor, action, Some(Target::region(&region)),
                    serde_json::json!({"view": view.code(), "results": items.len(), "via": via, "reason": reason})).await?;
                Ok(Outcome::Keep(items))
            })
        })
        .await?)
}

pub struct Tab {
    code: &'static str,
    label: &'static str,
    current: bool,
}

pub struct Line {
    id: i64,
    person_id: Option<i64>,
    kind: String,
    urgent: bool,
    person: String,
    from: String,
    to: String,
    sent_on: String,
    deadline: String,
    late_days: u32,
    state: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "referrals.html")]
pub struct ListPage {
    chrome: Option<Chrome>,
    csrf: String,
    tabs: Vec<Tab>,
    view: &'static str,
    label: &'static str,
    definition: &'static str,
    lines: Vec<Line>,
    can_send: bool,
    error: Option<String>,
}

fn late_days(state: &AppState, item: &ReferralItem, day: chrono::NaiveDate) -> u32 {
    let open = matches!(item.state.as_str(), "initiated" | "accepted" | "timed_out");
    match item.deadline {
        Some(d) if open && d < day => state.referrals.cal.working_days_between(d, day),
        _ => 0,
    }
}

fn list_page(
    state: &AppState,
    who: &CurrentUser,
    view: View,
    items: &[ReferralItem],
    error: Option<String>,
) -> ListPage {
    let day = today();
    let d = desk(state, who);
    ListPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        tabs: View::ALL
            .into_iter()
            .map(|v| Tab {
                code: v.code(),
                label: v.label(),
                current: v == view,
            })
            .collect(),
        view: view.code(),
        label: view.label(),
        definition: view.definition(),
        lines: items
            .iter()
            .map(|i| {
                let cells = xlsx::row_cells(
                    &state.tree,
                    &state.referrals.rules,
                    i,
                    late_days(state, i, day),
                );
                Line {
                    id: i.id,
                    person_id: i.person_id.filter(|_| {
                        view != View::Sent || i.kind != "transfer" || i.state != "accepted"
                    }),
                    kind: cells[0].clone(),
                    urgent: i.urgent,
                    person: cells[2].clone(),
                    from: cells[3].clone(),
                    to: cells[4].clone(),
                    sent_on: cells[5].clone(),
                    deadline: cells[6].clone(),
                    late_days: late_days(state, i, day),
                    state: ReferralState::from_code(&i.state).map_or("", ReferralState::label_zh),
                }
            })
            .collect(),
        can_send: !d.sends.is_empty(),
        error,
    }
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    view: String,
}

/// The referral worklists: waiting, late, the whole inbox, and the sent trace.
pub async fn page(
    State(state): State<AppState>,
    who: CurrentUser,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let view = View::parse(&q.view);
    let items = read_view(&state, &who, view, "page", None).await?;
    Ok(list_page(&state, &who, view, &items, None).into_response())
}

#[derive(Deserialize)]
pub struct ExportForm {
    #[serde(default)]
    view: String,
    #[serde(default)]
    reason: String,
}

/// A referral view as .xlsx; a reason is required and audited with the export.
pub async fn export(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(form): Form<ExportForm>,
) -> AppResult<Response> {
    let view = View::parse(&form.view);
    let Some(reason) = crate::downloads::reason_of(&form.reason) else {
        let items = read_view(&state, &who, view, "page", None).await?;
        let page = list_page(
            &state,
            &who,
            view,
            &items,
            crate::downloads::reason_missing(),
        );
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let items = read_view(&state, &who, view, "export", Some(reason)).await?;
    let day = today();
    let rows: Vec<(ReferralItem, u32)> = items
        .into_iter()
        .map(|i| {
            let late = late_days(&state, &i, day);
            (i, late)
        })
        .collect();
    let bytes = xlsx::to_xlsx(
        &state.tree,
        &state.referrals.rules,
        view.label(),
        view.definition(),
        &state.tree.path_name(&who.user.region_code),
        day,
        &rows,
    )?;
    Ok(crate::imports::xlsx_download(
        &format!("{}-{}.xlsx", view.label(), day.format("%Y%m%d")),
        bytes,
    ))
}

/// A kind the user may send, as the form offers it.
pub struct KindChoice {
    code: String,
    label: String,
    selected: bool,
}

/// A document slot of the kind on the send form: the form filled in as text, scanned files
/// (those uploaded on an earlier try that was refused are kept), or the system's own record.
pub struct DocSlot {
    index: usize,
    name: String,
    text: String,
    kept: Vec<KeptFile>,
    /// The system attaches it (the kind's assessment): what it will attach.
    auto: Option<String>,
}

/// A file uploaded on an earlier try, kept for the user (`Uploads`) until sent.
pub struct KeptFile {
    token: String,
    name: String,
    size: String,
}

/// A field of the sender's contact.
pub struct ContactField {
    key: &'static str,
    label: &'static str,
    value: String,
    hint: &'static str,
    error: Option<String>,
}

/// What the user typed and uploaded, to show again after a refusal.
#[derive(Default)]
pub(crate) struct Draft {
    values: HashMap<String, String>,
    /// Files kept for another try, by slot index.
    kept: Vec<(usize, KeptFile)>,
}

/// An identity field of a discharged patient not yet in the registry.
pub struct IdentityField {
    key: &'static str,
    label: &'static str,
    value: String,
    required: bool,
    error: Option<String>,
}

pub struct RegionChoice {
    code: String,
    label: String,
    selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "referral_form.html")]
pub struct SendPage {
    chrome: Option<Chrome>,
    csrf: String,
    kinds: Vec<KindChoice>,
    kind: String,
    urgent: bool,
    deadline_note: String,
    /// The person of the registry it is about, with their name.
    person: Option<(i64, String)>,
    /// The kind may carry a discharged patient not yet in the registry.
    new_person: bool,
    identity: Vec<IdentityField>,
    regions: Vec<RegionChoice>,
    /// A receiving region typed as a code (not among the choices).
    typed_code: String,
    reason: String,
    documents: Vec<DocSlot>,
    contact: Vec<ContactField>,
    error: Option<String>,
}

/// The identity fields a discharge carries: the person form's, without the township (the
/// receiving region is the township).
const IDENTITY_KEYS: [&str; 8] = [
    "name",
    "id_number",
    "sex",
    "grade",
    "address",
    "guardian",
    "guardian_phone",
    "notes",
];

/// The regions the form offers: the sender's county (or its own region above it) and the
/// townships under it. Any other region's 9- or 12-digit code may be typed instead.
fn region_choices(state: &AppState, who: &CurrentUser, selected: &str) -> Vec<RegionChoice> {
    let Some(own) = state.tree.get(&who.user.region_code) else {
        return Vec::new();
    };
    let county_code = if own.level > Level::County {
        state
            .tree
            .path(&own.code)
            .into_iter()
            .find(|r| r.level == Level::County)
            .map_or_else(|| own.code.clone(), |r| r.code)
    } else {
        own.code.clone()
    };
    let Some(county) = state.tree.get(&county_code) else {
        return Vec::new();
    };
    std::iter::once(county)
        .chain(state.tree.townships_under(&county.code))
        .map(|r| RegionChoice {
            code: r.code.clone(),
            label: state.tree.path_name(&r.code),
            selected: r.code == selected,
        })
        .collect()
}

#[derive(Deserialize, Default)]
pub struct NewQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    person: Option<i64>,
}

async fn person_name(state: &AppState, who: &CurrentUser, id: i64) -> AppResult<String> {
    fn nothing<'a>(
        _: &'a mut Tx,
        _: &'a jingkang_core::regions::Scope,
        _: i64,
    ) -> jingkang_core::store::batch::BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }
    let (p, ()) = crate::pages::read_person(state, who, id, nothing)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(p.record.data.name)
}

fn send_page(
    state: &AppState,
    who: &CurrentUser,
    kind: &str,
    person: Option<(i64, String)>,
    draft: &Draft,
    refused: Option<&Refused>,
) -> SendPage {
    let values = &draft.values;
    let d = desk(state, who);
    let rules = &state.referrals.rules;
    let kind = if d.sends.iter().any(|k| k == kind) {
        kind.to_string()
    } else {
        d.sends.first().cloned().unwrap_or_default()
    };
    let rule = rules.kind(&kind);
    let fields = refused.map(|r| r.fields.as_slice()).unwrap_or_default();
    let error_of = |key: &str| {
        let msgs: Vec<&str> = fields
            .iter()
            .filter(|e| e.field == key)
            .map(|e| e.message.as_str())
            .collect();
        (!msgs.is_empty()).then(|| msgs.join("；"))
    };
    let identity = IDENTITY_KEYS
        .iter()
        .filter_map(|k| ROSTER_COLUMNS.iter().find(|c| c.key == *k))
        .map(|c| IdentityField {
            key: c.key,
            label: c.label_zh,
            value: values.get(c.key).cloned().unwrap_or_default(),
            required: c.required,
            error: error_of(c.key),
        })
        .collect();
    let to_region = values
        .get("to_region_code")
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .or_else(|| values.get("to_region").cloned())
        .unwrap_or_default();
    let regions = region_choices(state, who, &to_region);
    let typed_code = if regions.iter().any(|r| r.selected) {
        String::new()
    } else {
        to_region
    };
    // The contact: as typed, else the account's unit (or region) and name.
    let typed = |key: &str, default: String| values.get(key).cloned().unwrap_or(default);
    let contact = vec![
        ContactField {
            key: "contact_unit",
            label: "发出单位",
            value: typed(
                "contact_unit",
                who.user
                    .organisation
                    .clone()
                    .unwrap_or_else(|| state.tree.path_name(&who.user.region_code)),
            ),
            hint: "",
            error: error_of("contact_unit"),
        },
        ContactField {
            key: "contact_name",
            label: "联系人",
            value: typed("contact_name", who.user.display_name.clone()),
            hint: "",
            error: error_of("contact_name"),
        },
        ContactField {
            key: "contact_phone",
            label: "联系电话",
            value: typed("contact_phone", String::new()),
            hint: "接收方有疑问时拨打；手机或带区号的固定电话",
            error: error_of("contact_phone"),
        },
    ];
    let documents = rule.map_or_else(Vec::new, |r| {
        r.documents
            .iter()
            .enumerate()
            .map(|(i, n)| DocSlot {
                index: i,
                name: n.clone(),
                text: values
                    .get(&format!("text_{i}"))
                    .cloned()
                    .unwrap_or_default(),
                kept: draft
                    .kept
                    .iter()
                    .filter(|(slot, _)| *slot == i)
                    .map(|(_, k)| KeptFile {
                        token: k.token.clone(),
                        name: k.name.clone(),
                        size: k.size.clone(),
                    })
                    .collect(),
                auto: r.assessment.as_ref().filter(|a| a.document == *n).map(|a| {
                    format!(
                        "由系统附上近 {} 天内最近一次{}评估（评估项目与结果随转介一并发送）",
                        a.within_days,
                        jingkang_core::care::instrument::domain_label_zh(&a.domain)
                    )
                }),
            })
            .collect()
    });
    SendPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        kinds: d.sends.iter().map(|k| KindChoice { code: k.clone(), label: kind_label(state, k), selected: *k == kind }).collect(),
        urgent: rule.is_some_and(|r| r.urgent),
        deadline_note: rule.map_or_else(String::new, |r| {
            format!("接收方须在 {} 个工作日内接收或退回，接收后 {} 个工作日内完成（节假日按调休安排顺延）", r.accept_working_days, r.complete_working_days)
        }),
        new_person: person.is_none() && rule.is_some_and(|r| r.new_person),
        person,
        identity,
        regions,
        typed_code,
        reason: values.get("reason").cloned().unwrap_or_default(),
        documents,
        contact,
        kind,
        error: refused.map(Refused::message),
    }
}

/// The send form: for a person of the registry (`?person=`), or a discharged patient not yet in it.
pub async fn new_form(
    State(state): State<AppState>,
    who: CurrentUser,
    Query(q): Query<NewQuery>,
) -> AppResult<Response> {
    let person = match q.person {
        Some(id) => Some((id, person_name(&state, &who, id).await?)),
        None => None,
    };
    Ok(send_page(&state, &who, &q.kind, person, &Draft::default(), None).into_response())
}

fn bad_upload() -> AppError {
    AppError::BadRequest("upload-invalid".into())
}

/// The index of a per-slot field (`text_3`, `file_3`, `kept_3`).
fn slot_index(name: &str, prefix: &str) -> Option<usize> {
    name.strip_prefix(prefix)?.parse().ok()
}

/// Keep `file` for the user's next try; its line on the form.
/// The files a refused referral carried, by their slot's index, to keep for the next try (moved
/// out of it; copied only if the writer still held it).
fn files_of(new: std::sync::Arc<NewReferral>, slots: &[String]) -> Vec<(usize, CheckedFile)> {
    let documents = match std::sync::Arc::try_unwrap(new) {
        Ok(new) => new.documents,
        Err(shared) => shared.documents.clone(),
    };
    documents
        .into_iter()
        .filter_map(|c| match c.content {
            Content::File(f) => Some((slots.iter().position(|s| *s == c.slot)?, f)),
            Content::Text(_) => None,
        })
        .collect()
}

fn keep_for_retry(state: &AppState, who: &CurrentUser, file: &CheckedFile) -> AppResult<KeptFile> {
    use std::io::Write;
    let mut tmp = tempfile::NamedTempFile::new().map_err(anyhow::Error::from)?;
    tmp.write_all(file.bytes()).map_err(anyhow::Error::from)?;
    let token = state.uploads.put(
        who.user.id,
        file.file_name().to_string(),
        tmp.into_temp_path(),
    );
    Ok(KeptFile {
        token,
        name: file.file_name().to_string(),
        size: jingkang_core::import::limits::size_label(file.len() as u64),
    })
}

/// Send from the form (multipart: each document as text or scanned files). A refusal shows the
/// form again with everything entered, the files uploaded kept, and why.
pub async fn create(
    State(state): State<AppState>,
    who: CurrentUser,
    crate::extract::Multipart(mut multipart): crate::extract::Multipart,
) -> AppResult<Response> {
    let mut values: HashMap<String, String> = HashMap::new();
    let mut uploaded = Vec::new();
    let mut kept_tokens: Vec<(usize, String)> = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|_| bad_upload())? {
        let name = field.name().unwrap_or("").to_string();
        if slot_index(&name, "file_").is_some() {
            if let Some(u) = crate::downloads::read_file_field(
                field,
                jingkang_core::care::agreement::MAX_SCAN_BYTES,
            )
            .await
            .map_err(|_| bad_upload())?
            {
                uploaded.push(u);
            }
            continue;
        }
        let value = field.text().await.map_err(|_| bad_upload())?;
        if let Some(i) = slot_index(&name, "kept_") {
            kept_tokens.push((i, value));
        } else {
            values.insert(name, value);
        }
    }
    let kind = values.get("kind").cloned().unwrap_or_default();
    let slots = state
        .referrals
        .rules
        .kind(&kind)
        .map(|r| r.documents.clone())
        .unwrap_or_default();
    // The files: kept from an earlier try, then uploaded now; each checked by its content.
    let mut files: Vec<(usize, CheckedFile)> = Vec::new();
    let mut file_problem: Option<Refused> = None;
    for (i, token) in kept_tokens {
        if let Some(u) = state.uploads.take(who.user.id, &token)
            && slots.get(i).is_some()
        {
            let bytes = std::fs::read(&u.path).map_err(anyhow::Error::from)?;
            if let Ok(f) = CheckedFile::check(&u.name, bytes) {
                files.push((i, f));
            }
        }
    }
    for u in uploaded {
        let Some((i, slot)) = slot_index(&u.field, "file_").and_then(|i| Some((i, slots.get(i)?)))
        else {
            continue;
        };
        let checked = if u.too_large {
            Err("referral-file-too-large")
        } else {
            CheckedFile::check(&u.file_name, u.bytes)
        };
        match checked {
            Ok(f) => files.push((i, f)),
            Err(code) => {
                file_problem.get_or_insert(Refused::new(
                    "referral-file-invalid",
                    &[
                        ("slot", slot),
                        ("file", &u.file_name),
                        ("problem", messages::template(code)),
                    ],
                ));
            }
        }
    }
    let person_id = match values
        .get("person")
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
    {
        Some(p) => Some(p.parse::<i64>().map_err(|_| AppError::NotFound)?),
        None => None,
    };
    let refused = match file_problem {
        Some(r) => r,
        None => {
            let subject = match person_id {
                Some(id) => Subject::Existing(id),
                None => Subject::New(
                    IDENTITY_KEYS
                        .iter()
                        .filter_map(|k| {
                            values
                                .get(*k)
                                .map(|v| (k.to_string(), v.trim().to_string()))
                        })
                        .collect::<BTreeMap<_, _>>(),
                ),
            };
            let typed = values
                .get("to_region_code")
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty());
            let to_region =
                typed.unwrap_or_else(|| values.get("to_region").cloned().unwrap_or_default());
            // Per slot in the kind's order: its files, then its text.
            // The files move into the referral (a scan is never copied); a refusal gives them back.
            let mut documents: Vec<(usize, Carried)> = std::mem::take(&mut files)
                .into_iter()
                .map(|(i, f)| {
                    (
                        i,
                        Carried {
                            slot: slots[i].clone(),
                            content: Content::File(f),
                        },
                    )
                })
                .collect();
            for (i, slot) in slots.iter().enumerate() {
                if let Some(t) = values.get(&format!("text_{i}")) {
                    documents.push((i, Carried::text(slot, t)));
                }
            }
            documents.sort_by_key(|(i, _)| *i);
            let new = std::sync::Arc::new(NewReferral {
                kind: kind.clone(),
                subject,
                to_region,
                reason: values.get("reason").cloned().unwrap_or_default(),
                documents: documents.into_iter().map(|(_, c)| c).collect(),
                contact: Contact {
                    unit: values.get("contact_unit").cloned().unwrap_or_default(),
                    name: values.get("contact_name").cloned().unwrap_or_default(),
                    phone: values.get("contact_phone").cloned().unwrap_or_default(),
                },
                sent_on: today(),
            });
            match send(&state, &who, new.clone()).await? {
                Ok(id) => {
                    return Ok(Redirect::to(&format!("/referrals/{id}?sent=1")).into_response());
                }
                Err(refused) => {
                    files = files_of(new, &slots);
                    refused
                }
            }
        }
    };
    let person = match person_id {
        Some(id) => Some((id, person_name(&state, &who, id).await?)),
        None => None,
    };
    let mut draft = Draft {
        values,
        kept: Vec::new(),
    };
    for (i, f) in &files {
        draft.kept.push((*i, keep_for_retry(&state, &who, f)?));
    }
    let page = send_page(&state, &who, &kind, person, &draft, Some(&refused));
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

pub struct StepLine {
    at: String,
    actor: String,
    event: &'static str,
    to_state: &'static str,
    reason: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "referral.html")]
pub struct DetailPage {
    chrome: Option<Chrome>,
    csrf: String,
    id: i64,
    kind: String,
    urgent: bool,
    state: &'static str,
    state_code: String,
    person: String,
    /// A link to the person's record, when the user may open it.
    person_link: Option<i64>,
    /// The identity of a discharged patient not yet in the registry (masked).
    identity: Vec<(&'static str, String)>,
    from: String,
    to: String,
    sent_on: String,
    deadline: String,
    late_days: u32,
    reason: String,
    contact: Option<jingkang_core::app::referrals::SenderContact>,
    documents: Vec<DocView>,
    steps: Vec<StepLine>,
    can_accept: bool,
    can_return: bool,
    can_complete: bool,
    can_resend: bool,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// A file a referral carries, as a link that opens it in the browser.
pub struct FileLink {
    href: String,
    name: String,
    kind: &'static str,
    size: String,
}

/// An assessment a referral carries, as filled.
pub struct AssessmentView {
    title: String,
    assessed_on: String,
    assessor: String,
    total: i64,
    band: String,
    lines: Vec<(String, String)>,
}

/// A document slot of a referral as the receiver reads it.
pub struct DocView {
    slot: String,
    files: Vec<FileLink>,
    texts: Vec<String>,
    assessment: Option<AssessmentView>,
    /// Ticked by the sender without content (a referral from before documents travelled, or from
    /// the provincial platform).
    ticked: bool,
}

fn documents_view(state: &AppState, d: &ReferralDetail) -> Vec<DocView> {
    let Some(rule) = state.referrals.rules.kind(&d.item.kind) else {
        return Vec::new();
    };
    rule.documents
        .iter()
        .map(|slot| {
            let mine = || d.carried.iter().filter(|c| &c.slot == slot);
            let assessment = d
                .assessment
                .as_ref()
                .filter(|_| {
                    rule.assessment
                        .as_ref()
                        .is_some_and(|a| &a.document == slot)
                })
                .map(|a| {
                    let instrument = state.instruments.get(&a.instrument);
                    let answers: BTreeMap<String, String> =
                        serde_json::from_str(&a.answers).unwrap_or_default();
                    AssessmentView {
                        title: instrument.map_or_else(|| a.instrument.clone(), |i| i.name.clone()),
                        assessed_on: a.assessed_on.to_string(),
                        assessor: a.assessor.clone(),
                        total: a.total,
                        band: a.band.clone().unwrap_or_default(),
                        lines: instrument.map_or_else(Vec::new, |i| i.describe(&answers)),
                    }
                });
            DocView {
                slot: slot.clone(),
                files: mine()
                    .filter(|c| c.text.is_none())
                    .map(|c| FileLink {
                        href: format!("/referrals/{}/documents/{}", d.item.id, c.id),
                        name: c.file_name.clone().unwrap_or_default(),
                        kind: match c.media_type.as_deref() {
                            Some("application/pdf") => "PDF",
                            _ => "图片",
                        },
                        size: jingkang_core::import::limits::size_label(
                            u64::try_from(c.size).unwrap_or_default(),
                        ),
                    })
                    .collect(),
                texts: mine().filter_map(|c| c.text.clone()).collect(),
                assessment,
                ticked: d.documents.contains(slot),
            }
        })
        .collect()
}

fn event_label(code: &str) -> &'static str {
    match code {
        "send" => "发起",
        "accept" => "接收",
        "return" => "退回",
        "complete" => "完成",
        "expire" => "超时",
        "resend" => "重新发起",
        _ => "",
    }
}

fn sensitivity_of(key: &str) -> Sensitivity {
    match key {
        "id_number" => Sensitivity::Identifier,
        "guardian_phone" => Sensitivity::Phone,
        "grade" | "notes" => Sensitivity::Health,
        _ => Sensitivity::Plain,
    }
}

fn detail_page(
    state: &AppState,
    who: &CurrentUser,
    d: ReferralDetail,
    notice: Option<&'static str>,
    error: Option<String>,
) -> DetailPage {
    let from = ReferralState::from_code(&d.item.state);
    let allowed =
        |e: &ReferralEvent| from.is_some_and(|s| jingkang_core::care::referral::next(s, e).is_ok());
    let identity = d
        .subject
        .as_ref()
        .map(|s| {
            IDENTITY_KEYS
                .iter()
                .filter_map(|k| {
                    let v = s.get(*k)?;
                    let label = ROSTER_COLUMNS
                        .iter()
                        .find(|c| c.key == *k)
                        .map_or(*k, |c| c.label_zh);
                    Some((label, registry::mask(sensitivity_of(k), v)))
                })
                .collect()
        })
        .unwrap_or_default();
    // The person's record opens for a user whose scope holds it now (a transfer's sender no longer).
    let person_link = d
        .item
        .person_id
        .filter(|_| d.receiving || d.item.kind != "transfer" || d.item.state != "accepted");
    let late = late_days(state, &d.item, today());
    DetailPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        id: d.item.id,
        kind: kind_label(state, &d.item.kind),
        urgent: d.item.urgent,
        state: from.map_or("", ReferralState::label_zh),
        state_code: d.item.state.clone(),
        person: d.item.person_name.clone().unwrap_or_default(),
        person_link,
        identity,
        from: state.tree.path_name(&d.item.from_region),
        to: state.tree.path_name(&d.item.to_region),
        sent_on: d.item.sent_on.to_string(),
        deadline: d.item.deadline.map_or(String::new(), |x| x.to_string()),
        late_days: late,
        reason: d.item.reason.clone().unwrap_or_default(),
        contact: d.contact.clone(),
        documents: documents_view(state, &d),
        steps: d
            .steps
            .iter()
            .map(|s| StepLine {
                at: jingkang_core::domain::clock::minute(s.at),
                actor: s
                    .actor
                    .strip_prefix("user:")
                    .unwrap_or(if s.actor == "system" {
                        "系统"
                    } else {
                        &s.actor
                    })
                    .to_string(),
                event: event_label(&s.event),
                to_state: ReferralState::from_code(&s.to_state).map_or("", ReferralState::label_zh),
                reason: s.reason.clone().unwrap_or_default(),
            })
            .collect(),
        can_accept: d.receiving && allowed(&ReferralEvent::Accept),
        can_return: d.receiving && allowed(&ReferralEvent::Return { reason: "x".into() }),
        can_complete: d.receiving && allowed(&ReferralEvent::Complete),
        can_resend: d.sending && allowed(&ReferralEvent::Resend),
        notice,
        error,
    }
}

/// A referral for the API: the carried identity masked as the page shows it.
pub(crate) async fn read_masked(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
) -> AppResult<ReferralDetail> {
    let mut d = read_detail(state, who, id).await?;
    if let Some(subject) = d.subject.as_mut() {
        for (k, v) in subject.iter_mut() {
            *v = registry::mask(sensitivity_of(k), v);
        }
    }
    Ok(d)
}

async fn read_detail(state: &AppState, who: &CurrentUser, id: i64) -> AppResult<ReferralDetail> {
    let desk = desk(state, who);
    state
        .writes
        .run(move |tx| {
            let desk = desk.clone();
            Box::pin(async move { Ok(Outcome::Keep(referrals::get(tx, &desk, id).await?)) })
        })
        .await?
        .ok_or(AppError::NotFound)
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    sent: String,
    #[serde(default)]
    done: String,
}

/// One referral with its documents, steps and the actions open to the user.
pub async fn show(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<ShowQuery>,
) -> AppResult<Response> {
    let d = read_detail(&state, &who, id).await?;
    let notice = if q.sent == "1" {
        Some("转介已发出，接收方会在其待接收清单中看到。")
    } else {
        match q.done.as_str() {
            "accept" => Some("已接收。"),
            "return" => Some("已退回，发起方会看到退回原因。"),
            "complete" => Some("已完成。"),
            "resend" => Some("已重新发起。"),
            _ => None,
        }
    };
    Ok(detail_page(&state, &who, d, notice, None).into_response())
}

#[derive(Deserialize)]
pub struct StepForm {
    #[serde(default)]
    event: String,
    #[serde(default)]
    reason: String,
}

/// Accept, return (with a reason), complete, or resend. A refusal shows the referral with why.
pub async fn step(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Form(form): Form<StepForm>,
) -> AppResult<Response> {
    let refused = match event(&form.event, form.reason.clone()) {
        None => Refused {
            code: "form-invalid",
            text: messages::template("form-invalid").to_string(),
            fields: Vec::new(),
        },
        Some(e) => match act(&state, &who, id, e).await? {
            Ok(_) => {
                return Ok(
                    Redirect::to(&format!("/referrals/{id}?done={}", form.event.trim()))
                        .into_response(),
                );
            }
            Err(r) => r,
        },
    };
    let d = read_detail(&state, &who, id).await?;
    Ok((
        StatusCode::UNPROCESSABLE_ENTITY,
        detail_page(&state, &who, d, None, Some(refused.message())),
    )
        .into_response())
}

/// A file a referral carries, opened in the browser; audited. Not on either side answers 404.
pub async fn document(
    State(state): State<AppState>,
    who: CurrentUser,
    Path((id, did)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let (media, name, bytes) = read_document(&state, &who, id, did).await?;
    Ok(crate::downloads::inline(media, &name, bytes))
}

/// A file referral `id` carries, read and audited in one transaction.
pub(crate) async fn read_document(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
    did: i64,
) -> AppResult<(String, String, Vec<u8>)> {
    let desk = desk(state, who);
    state
        .writes
        .run(move |tx| {
            let desk = desk.clone();
            Box::pin(async move {
                Ok(Outcome::Keep(
                    referrals::document(tx, &desk, id, did).await?,
                ))
            })
        })
        .await?
        .ok_or(AppError::NotFound)
}

/// For the person page: the referral kinds the user may send about a person.
pub(crate) fn may_refer(state: &AppState, who: &CurrentUser) -> bool {
    who.may(Permission::Referrals) && !desk(state, who).sends.is_empty()
}

#[cfg(test)]
mod tests {
    use jingkang_core::accounts::Role;
    use jingkang_core::care::referral::Book;

    use jingkang_core::accounts::policy::Permission;

    /// The route policy and the referral data agree: every role let in sends or receives some kind,
    /// and every role the data names is let in.
    #[test]
    fn policy_matches_the_referral_data() {
        let book = Book::shipped().unwrap();
        for role in Role::ALL {
            let works = !book.rules.sent_by(role.code()).is_empty()
                || !book.rules.received_by(role.code()).is_empty();
            assert_eq!(role.may(Permission::Referrals), works, "{role:?}");
        }
    }
}
