//! Follow-up pages (SPEC §4): the 随访服务记录表 rendered from its definition, filled with the
//! previous visit's answers, validated field by field; and the 随访 section of the person page.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jingkang_core::accounts::policy::Permission;
use jingkang_core::care::followup::{self, FieldDef, FieldError, FormDef, Kind};
use jingkang_core::care::schedule::{self, ConditionClass};
use jingkang_core::messages;
use jingkang_core::regions::Scope;
use jingkang_core::store::Tx;
use jingkang_core::store::batch::{BoxFuture, Outcome};
use jingkang_core::store::followups::{self, Recorded, Refusal, StoredFollowup};

use crate::AppState;
use crate::auth::CurrentUser;
use crate::entry::today;
use crate::error::{AppError, AppResult};
use crate::extract::{Form, Path};
use crate::pages::{Chrome, read_person};

/// Fields whose previous answer is offered again: the person's lasting state (symptoms, function,
/// drugs), not what belongs to one visit (its date, mode, events since the last one).
fn carried_forward(key: &str) -> bool {
    !(matches!(
        key,
        "visit_date"
            | "mode"
            | "lost_reason"
            | "death_date"
            | "death_cause"
            | "next_date"
            | "doctor"
            | "lab"
            | "lab_detail"
            | "last_discharge"
            // This visit's own assessment: the last grade is shown beside it, never pre-chosen.
            | "risk_grade"
    ) || key.starts_with("danger.")
        || key.starts_with("referral"))
}

/// The shipped form, or the Chinese message that it is broken (logged once).
pub(crate) fn form_def() -> AppResult<&'static FormDef> {
    FormDef::shipped().map_err(|e| {
        tracing::error!(error = %e, "the follow-up form definition does not parse");
        AppError::BadRequest("followup-form-broken".into())
    })
}

pub struct OptionView {
    value: String,
    label: String,
    checked: bool,
}

pub struct FieldView {
    key: String,
    /// `key` safe for an HTML id.
    dom_id: String,
    label: String,
    /// `date`, `radio`, `select`, `multi`, `count`, `number` or `text`.
    input: &'static str,
    required: bool,
    hint: String,
    options: Vec<OptionView>,
    value: String,
    /// Filled from the previous follow-up.
    carried: bool,
    error: Option<String>,
    risk_definitions: Vec<(u8, &'static str)>,
}

pub struct SectionView {
    title: String,
    fields: Vec<FieldView>,
}

#[derive(Template, WebTemplate)]
#[template(path = "followup_form.html")]
pub struct FollowupFormPage {
    chrome: Option<Chrome>,
    csrf: String,
    id: i64,
    name: String,
    form_name: String,
    form_version: String,
    previous: Option<String>,
    sections: Vec<SectionView>,
    errors: Vec<FieldError>,
    /// The person has a follow-up on this date already: the form asks to confirm a second one.
    ask_same_day: bool,
}

/// Radio buttons up to this many options (one tap on a tablet); a select beyond.
const MAX_RADIOS: usize = 6;

fn field_view(f: &FieldDef, values: &[String], carried: bool, error: Option<String>) -> FieldView {
    let input = match f.kind {
        Kind::Date => "date",
        Kind::Choice if f.options.len() <= MAX_RADIOS => "radio",
        Kind::Choice => "select",
        Kind::Multi => "multi",
        Kind::Count => "count",
        Kind::Number => "number",
        Kind::Text => "text",
    };
    FieldView {
        dom_id: format!("fu-{}", f.key.replace('.', "-")),
        key: f.key.clone(),
        label: f.label.clone(),
        input,
        required: f.required || f.required_unless_lost,
        hint: f.hint.clone().unwrap_or_default(),
        options: f
            .options
            .iter()
            .map(|(c, l)| OptionView {
                value: c.clone(),
                label: l.clone(),
                checked: values.iter().any(|v| v == c),
            })
            .collect(),
        value: values.first().cloned().unwrap_or_default(),
        carried,
        error,
        risk_definitions: if f.show_risk_definitions {
            schedule::RISK_GRADES.to_vec()
        } else {
            Vec::new()
        },
    }
}

/// Stored answers as submitted values (`key → values`).
fn as_values(
    answers: &serde_json::Map<String, serde_json::Value>,
) -> BTreeMap<String, Vec<String>> {
    answers
        .iter()
        .map(|(k, v)| {
            let vals = match v {
                serde_json::Value::String(s) => vec![s.clone()],
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect(),
                serde_json::Value::Null => Vec::new(),
                other => vec![other.to_string()],
            };
            (k.clone(), vals)
        })
        .collect()
}

fn sections(
    form: &FormDef,
    values: &BTreeMap<String, Vec<String>>,
    carried: &BTreeMap<String, Vec<String>>,
    errors: &[FieldError],
) -> Vec<SectionView> {
    form.sections
        .iter()
        .map(|s| SectionView {
            title: s.title.clone(),
            fields: s
                .fields
                .iter()
                .map(|f| {
                    let (vals, from_previous) = match values.get(&f.key) {
                        Some(v) => (v.clone(), false),
                        None => match carried.get(&f.key) {
                            Some(v) => (v.clone(), true),
                            None => (Vec::new(), false),
                        },
                    };
                    let error = errors
                        .iter()
                        .filter(|e| e.field == f.key)
                        .map(|e| e.message.clone())
                        .reduce(|a, b| format!("{a}；{b}"));
                    field_view(f, &vals, from_previous, error)
                })
                .collect(),
        })
        .collect()
}

/// The risk grade field says the last visit's grade as a hint: this visit's grade must be chosen.
fn with_last_risk(mut sections: Vec<SectionView>, last: Option<i64>) -> Vec<SectionView> {
    let Some(last) = last else {
        return sections;
    };
    for f in sections.iter_mut().flat_map(|s| s.fields.iter_mut()) {
        if f.key == "risk_grade" {
            let said = format!("上次随访评估为 {last} 级；请按本次评估重新选择。");
            f.hint = if f.hint.is_empty() {
                said
            } else {
                format!("{said}{}", f.hint)
            };
        }
    }
    sections
}

fn latest<'a>(
    tx: &'a mut Tx,
    scope: &'a Scope,
    id: i64,
) -> BoxFuture<'a, anyhow::Result<Vec<StoredFollowup>>> {
    Box::pin(followups::list(tx, scope, id, 1))
}

fn previous_line(f: &StoredFollowup) -> String {
    let class = f
        .condition_class
        .map_or(if f.lost { "失访" } else { "—" }, ConditionClass::label_zh);
    format!(
        "上次随访 {}（{}），病情分类：{}。已带入上次的症状、社会功能和用药，请逐项核对后修改。",
        f.visit_date, f.doctor, class
    )
}

/// The page of a new follow-up for person `id`, with `values` as entered (after a refusal) or the
/// previous visit's answers offered.
async fn form_page(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
    values: BTreeMap<String, Vec<String>>,
    errors: Vec<FieldError>,
) -> AppResult<FollowupFormPage> {
    let form = form_def()?;
    let (p, last) = read_person(state, who, id, latest)
        .await?
        .ok_or(AppError::NotFound)?;
    let previous = last.first();
    let mut carried: BTreeMap<String, Vec<String>> = previous
        .map(|f| {
            as_values(&f.answers)
                .into_iter()
                .filter(|(k, _)| carried_forward(k))
                .collect()
        })
        .unwrap_or_default();
    let mut values = values;
    if errors.is_empty() {
        values
            .entry("visit_date".into())
            .or_insert_with(|| vec![today().to_string()]);
        values
            .entry("doctor".into())
            .or_insert_with(|| vec![who.user.display_name.clone()]);
    } else {
        // After a refusal the form shows exactly what was sent.
        carried.clear();
    }
    Ok(FollowupFormPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        id,
        name: p.record.data.name.clone(),
        form_name: form.name.clone(),
        form_version: form.version.clone(),
        previous: if errors.is_empty() {
            previous.map(previous_line)
        } else {
            None
        },
        sections: with_last_risk(
            sections(form, &values, &carried, &errors),
            previous.and_then(|f| f.risk_grade),
        ),
        errors,
        ask_same_day: false,
    })
}

pub async fn new_form(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    Ok(form_page(&state, &who, id, BTreeMap::new(), Vec::new())
        .await?
        .into_response())
}

/// Validate and record follow-up `f` of person `id` in one group-committed transaction.
pub(crate) async fn record(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
    f: followup::Followup,
    same_day: followups::SameDay,
) -> AppResult<Result<Recorded, Refusal>> {
    let form = form_def()?;
    let (scope, actor) = (who.scope.clone(), who.user.actor());
    let f = std::sync::Arc::new(f);
    Ok(state
        .writes
        .run(move |tx| {
            let (scope, actor, f) = (scope.clone(), actor.clone(), f.clone());
            Box::pin(async move {
                Ok(Outcome::Keep(
                    followups::record(tx, &scope, &actor, id, form, &f, same_day).await?,
                ))
            })
        })
        .await?)
}

/// Submitted pairs as `key → values`, without the CSRF token.
fn submitted(pairs: Vec<(String, String)>) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in pairs.into_iter().filter(|(k, _)| k != "csrf") {
        m.entry(k).or_default().push(v);
    }
    m
}

pub async fn create(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let mut values = submitted(pairs);
    let same_day = match values.remove(followups::CONFIRM_SAME_DAY) {
        Some(v) if v.iter().any(|v| v == "yes") => followups::SameDay::Confirmed,
        _ => followups::SameDay::Ask,
    };
    let form = form_def()?;
    let mut ask_same_day = false;
    let errors = match followup::validate(form, &values, today()) {
        Err(errors) => errors,
        Ok(f) => match record(&state, &who, id, f, same_day).await? {
            Ok(done) => {
                return Ok(
                    Redirect::to(&format!("/persons/{id}?fu={}#followups", done.id))
                        .into_response(),
                );
            }
            Err(Refusal::NotFound) => return Err(AppError::NotFound),
            Err(Refusal::Invalid(errors)) => errors,
            Err(Refusal::SameDay(earlier)) => {
                ask_same_day = true;
                vec![earlier.field_error()]
            }
        },
    };
    let mut page = form_page(&state, &who, id, values, errors).await?;
    page.ask_same_day = ask_same_day;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// One follow-up on the person page.
pub struct FollowupLine {
    pub(crate) id: i64,
    pub(crate) visit_date: String,
    pub(crate) mode: String,
    pub(crate) risk: String,
    pub(crate) class: String,
    pub(crate) unstable: bool,
    pub(crate) next_date: String,
    pub(crate) doctor: String,
    /// Every answered field, as label and readable value, by section.
    pub(crate) details: Vec<(String, String)>,
}

/// The 随访 section of the person page.
pub struct FollowupSection {
    pub(crate) risk: String,
    pub(crate) risk_definition: String,
    pub(crate) class: String,
    pub(crate) last: String,
    pub(crate) next: String,
    pub(crate) overdue_days: i64,
    pub(crate) lost: bool,
    pub(crate) lines: Vec<FollowupLine>,
    pub(crate) can_record: bool,
    pub(crate) notice: Option<String>,
}

pub(crate) fn section(
    who: &CurrentUser,
    schedule: Option<followups::Schedule>,
    list: Vec<StoredFollowup>,
    just_recorded: Option<i64>,
) -> FollowupSection {
    let form = FormDef::shipped().ok();
    let s = schedule.unwrap_or(followups::Schedule {
        risk_grade: None,
        condition_class: None,
        last_followup_date: None,
        next_followup_date: None,
        followup_lost: false,
    });
    let class_label = |c: Option<&str>| {
        c.and_then(ConditionClass::from_code)
            .map_or("—", ConditionClass::label_zh)
            .to_string()
    };
    let mode_label = |f: &StoredFollowup| {
        form.and_then(|d| d.field("mode"))
            .and_then(|m| m.option_label(&f.mode))
            .unwrap_or(&f.mode)
            .to_string()
    };
    let notice = just_recorded
        .and_then(|id| list.iter().find(|f| f.id == id))
        .map(|f| {
            let next = f
                .next_date
                .map_or("无（已死亡）".to_string(), |d| d.to_string());
            match f.condition_class {
                Some(c) => format!(
                    "已记录随访：病情分类“{}”，下次随访日期 {}。{}",
                    c.label_zh(),
                    next,
                    c.handling_zh()
                ),
                None if f.lost => format!("已记录失访，请在 {next} 前再次随访。"),
                None => "已记录随访。".to_string(),
            }
        });
    let lines = list
        .iter()
        .map(|f| FollowupLine {
            id: f.id,
            visit_date: f.visit_date.to_string(),
            mode: if f.lost {
                format!("{}（失访）", mode_label(f))
            } else {
                mode_label(f)
            },
            risk: f.risk_grade.map_or("—".into(), |g| format!("{g} 级")),
            class: f
                .condition_class
                .map_or("—", ConditionClass::label_zh)
                .to_string(),
            unstable: f.condition_class == Some(ConditionClass::Unstable),
            next_date: f.next_date.map_or("—".into(), |d| d.to_string()),
            doctor: f.doctor.clone(),
            details: form
                .map(|d| {
                    d.fields()
                        .filter_map(|fd| {
                            f.answers
                                .get(&fd.key)
                                .map(|v| (fd.label.clone(), followup::display_answer(fd, v)))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    let today = today();
    FollowupSection {
        risk: s.risk_grade.map_or("未评估".into(), |g| format!("{g} 级")),
        risk_definition: s
            .risk_grade
            .and_then(|g| {
                schedule::RISK_GRADES
                    .iter()
                    .find(|(n, _)| i64::from(*n) == g)
            })
            .map(|(_, t)| t.to_string())
            .unwrap_or_default(),
        class: class_label(s.condition_class.as_deref()),
        last: s
            .last_followup_date
            .map_or("尚未随访".into(), |d| d.to_string()),
        next: s.next_followup_date.map_or("—".into(), |d| d.to_string()),
        overdue_days: s
            .next_followup_date
            .map_or(0, |d| (today - d).num_days().max(0)),
        lost: s.followup_lost,
        lines,
        can_record: who.may(Permission::RecordFollowups),
        notice,
    }
}

/// A validation failure as the API answers it.
pub(crate) fn errors_message(errors: &[FieldError]) -> String {
    match errors {
        [one] => one.message.clone(),
        _ => messages::render(
            "followup-errors",
            &[
                ("n", &errors.len().to_string()),
                ("first", errors.first().map_or("", |e| e.message.as_str())),
            ],
        ),
    }
}
