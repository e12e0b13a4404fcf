//! Institution, site and staff pages (SPEC §7): the register of institutions in scope with their
//! flags (under 30 % qualified staff), an institution's page (its figures, status, staff with
//! certificates and the year's training hours, the persons it serves), the staff overview with
//! those under 20 training hours, and the API. Kinds, statuses, qualifications and thresholds are
//! data (`data/institutions.json`).

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike, NaiveDate};
use jingkang_core::accounts::policy::Permission;
use jingkang_core::care::institution::InstitutionRules;
use jingkang_core::domain::RegistrationState;
use jingkang_core::export::table::Table;
use jingkang_core::messages;
use jingkang_core::store::batch::Outcome;
use jingkang_core::store::institutions::{
    self as store, AssignRefusal, Institution, NewInstitution, NewQualification, NewStaff,
    NewTraining, StaffMember,
};
use jingkang_core::store::persons::ListFilter;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use crate::api_base::{ApiError, ApiUser};
use crate::auth::CurrentUser;
use crate::downloads::{self, ExportForm, num, text};
use crate::entry::today;
use crate::error::{AppError, AppResult};
use crate::extract::{Form, Path};
use crate::pages::Chrome;
use crate::problems::FieldProblems;

/// A problem with one field, as the pages and the API show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstitutionProblem {
    pub field: String,
    pub code: String,
    pub message: String,
}

fn problems_of(list: Vec<store::Problem>) -> Vec<InstitutionProblem> {
    list.into_iter()
        .map(|(f, c)| InstitutionProblem {
            field: f.to_string(),
            code: c.to_string(),
            message: messages::render(c, &[]),
        })
        .collect()
}

fn problem(field: &str, code: &str, args: &[(&str, &str)]) -> InstitutionProblem {
    InstitutionProblem {
        field: field.to_string(),
        code: code.to_string(),
        message: messages::render(code, args),
    }
}

/// The institutions in scope, read beside the writer.
pub(crate) async fn list(state: &AppState, who: &CurrentUser) -> AppResult<Vec<Institution>> {
    let mut tx = state.db.begin_read().await?;
    let found = store::list(&mut tx, &who.scope, today()).await?;
    tx.commit().await?;
    Ok(found)
}

async fn get(state: &AppState, who: &CurrentUser, id: i64) -> AppResult<Institution> {
    let mut tx = state.db.begin_read().await?;
    let found = store::get(&mut tx, &who.scope, id, today()).await?;
    tx.commit().await?;
    found.ok_or(AppError::NotFound)
}

async fn staff_of(
    state: &AppState,
    who: &CurrentUser,
    institution: Option<i64>,
) -> AppResult<Vec<StaffMember>> {
    let mut tx = state.db.begin_read().await?;
    let found = store::staff(
        &mut tx,
        &who.scope,
        &state.institutions,
        institution,
        today(),
    )
    .await?;
    tx.commit().await?;
    Ok(found)
}

/// Register an institution in one transaction.
pub(crate) async fn create_institution(
    state: &AppState,
    who: &CurrentUser,
    new: NewInstitution,
) -> AppResult<Result<i64, Vec<InstitutionProblem>>> {
    let (scope, actor, rules, tree, new, day) = (
        who.scope.clone(),
        who.user.actor(),
        state.institutions.clone(),
        state.tree.clone(),
        std::sync::Arc::new(new),
        today(),
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
                    store::create(tx, &scope, &actor, (&rules, &tree), &new, day).await?,
                ))
            })
        })
        .await?;
    Ok(done.map_err(problems_of))
}

/// Change an institution's details in one transaction; `NotFound` out of scope.
pub(crate) async fn update_institution(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
    new: NewInstitution,
) -> AppResult<Result<(), Vec<InstitutionProblem>>> {
    let (scope, actor, rules, tree, new, day) = (
        who.scope.clone(),
        who.user.actor(),
        state.institutions.clone(),
        state.tree.clone(),
        std::sync::Arc::new(new),
        today(),
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
                    store::update(tx, &scope, &actor, (&rules, &tree), id, &new, day).await?,
                ))
            })
        })
        .await?;
    done.map(|r| r.map_err(problems_of))
        .ok_or(AppError::NotFound)
}

/// Put persons in a site's care (`None`: out of any site's care).
pub(crate) async fn assign(
    state: &AppState,
    who: &CurrentUser,
    site: Option<i64>,
    persons: Vec<i64>,
) -> AppResult<Result<usize, InstitutionProblem>> {
    let (scope, actor, rules, persons) = (
        who.scope.clone(),
        who.user.actor(),
        state.institutions.clone(),
        std::sync::Arc::new(persons),
    );
    let done = state
        .writes
        .run(move |tx| {
            let (scope, actor, rules, persons) =
                (scope.clone(), actor.clone(), rules.clone(), persons.clone());
            Box::pin(async move {
                Ok(Outcome::Keep(
                    store::assign_persons(tx, &scope, &actor, &rules, site, &persons).await?,
                ))
            })
        })
        .await?;
    match done {
        Ok(n) => Ok(Ok(n)),
        Err(AssignRefusal::NotFound) => Err(AppError::NotFound),
        Err(AssignRefusal::NotOperating) => Ok(Err(problem("site", "site-not-operating", &[]))),
        Err(AssignRefusal::UnknownPersons(n)) => Ok(Err(problem(
            "persons",
            "site-persons-unknown",
            &[("n", &n.to_string())],
        ))),
    }
}

/// Add a staff member in one transaction.
pub(crate) async fn create_staff(
    state: &AppState,
    who: &CurrentUser,
    new: NewStaff,
) -> AppResult<Result<i64, Vec<InstitutionProblem>>> {
    let (scope, actor, rules, new, day) = (
        who.scope.clone(),
        who.user.actor(),
        state.institutions.clone(),
        std::sync::Arc::new(new),
        today(),
    );
    let done = state
        .writes
        .run(move |tx| {
            let (scope, actor, rules, new) =
                (scope.clone(), actor.clone(), rules.clone(), new.clone());
            Box::pin(async move {
                Ok(Outcome::Keep(
                    store::add_staff(tx, &scope, &actor, &rules, &new, day).await?,
                ))
            })
        })
        .await?;
    Ok(done.map_err(problems_of))
}

/// Record training hours; `NotFound` out of scope.
pub(crate) async fn record_training(
    state: &AppState,
    who: &CurrentUser,
    staff: i64,
    t: NewTraining,
) -> AppResult<Result<(), Vec<InstitutionProblem>>> {
    let (scope, actor, t, day) = (
        who.scope.clone(),
        who.user.actor(),
        std::sync::Arc::new(t),
        today(),
    );
    let done = state
        .writes
        .run(move |tx| {
            let (scope, actor, t) = (scope.clone(), actor.clone(), t.clone());
            Box::pin(async move {
                Ok(Outcome::Keep(
                    store::add_training(tx, &scope, &actor, staff, &t, day).await?,
                ))
            })
        })
        .await?;
    done.map(|r| r.map_err(problems_of))
        .ok_or(AppError::NotFound)
}

/// Add a certificate; `NotFound` out of scope.
pub(crate) async fn record_qualification(
    state: &AppState,
    who: &CurrentUser,
    staff: i64,
    q: NewQualification,
) -> AppResult<Result<(), Vec<InstitutionProblem>>> {
    let (scope, actor, rules, q, day) = (
        who.scope.clone(),
        who.user.actor(),
        state.institutions.clone(),
        std::sync::Arc::new(q),
        today(),
    );
    let done = state
        .writes
        .run(move |tx| {
            let (scope, actor, rules, q) = (scope.clone(), actor.clone(), rules.clone(), q.clone());
            Box::pin(async move {
                Ok(Outcome::Keep(
                    store::add_qualification(tx, &scope, &actor, &rules, staff, &q, day).await?,
                ))
            })
        })
        .await?;
    done.map(|r| r.map_err(problems_of))
        .ok_or(AppError::NotFound)
}

// ---------------------------------------------------------------------------------------------
// Pages

/// One institution as the list shows it.
pub struct InstitutionLine {
    id: i64,
    name: String,
    kind: String,
    place: String,
    urban: &'static str,
    status: String,
    operating: bool,
    capacity: i64,
    served: i64,
    staff: i64,
    qualified: String,
    under_qualified: bool,
}

fn share(part: i64, whole: i64) -> String {
    if whole == 0 {
        "—".into()
    } else {
        format!("{:.0}%", 100.0 * part as f64 / whole as f64)
    }
}

fn line(state: &AppState, i: &Institution) -> InstitutionLine {
    let rules = &state.institutions;
    InstitutionLine {
        id: i.id,
        name: i.name.clone(),
        kind: rules
            .kind(&i.kind)
            .map_or_else(|| i.kind.clone(), |k| k.label.clone()),
        place: state.tree.path_name(&i.region),
        urban: if i.urban { "城市" } else { "农村" },
        status: rules
            .status(&i.status)
            .map_or_else(|| i.status.clone(), |s| s.label.clone()),
        operating: rules.status(&i.status).is_some_and(|s| s.operating),
        capacity: i.capacity,
        served: i.persons_served,
        staff: i.staff,
        qualified: format!(
            "{} / {}（{}）",
            i.qualified_staff,
            i.staff,
            share(i.qualified_staff, i.staff)
        ),
        under_qualified: rules.status(&i.status).is_some_and(|s| s.operating)
            && rules.under_qualified(i.qualified_staff, i.staff),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "institutions.html")]
pub struct ListPage {
    chrome: Option<Chrome>,
    csrf: String,
    export_action: &'static str,
    export_error: Option<String>,
    lines: Vec<InstitutionLine>,
    can_manage: bool,
    rule: String,
    notice: Option<String>,
}

fn qualified_rule(rules: &InstitutionRules) -> String {
    format!(
        "持证上岗：在职人员持有在有效期内的{}之一；持证比例低于 {:.0}% 的运营中机构标红；年度培训不足 {} 学时的人员在人员名单中标出。",
        rules
            .qualifications
            .iter()
            .map(|q| q.label.as_str())
            .collect::<Vec<_>>()
            .join("、"),
        rules.min_qualified_share * 100.0,
        rules.min_training_hours_per_year
    )
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    created: Option<i64>,
}

/// The institutions in scope.
pub async fn page(
    State(state): State<AppState>,
    who: CurrentUser,
    crate::extract::Query(q): crate::extract::Query<ListQuery>,
) -> AppResult<Response> {
    let found = list(&state, &who).await?;
    Ok(ListPage::of(
        &state,
        &who,
        &found,
        q.created.map(|_| "机构已登记。".to_string()),
        None,
    )
    .into_response())
}

impl ListPage {
    fn of(
        state: &AppState,
        who: &CurrentUser,
        found: &[Institution],
        notice: Option<String>,
        export_error: Option<String>,
    ) -> ListPage {
        ListPage {
            chrome: Some(Chrome::of(state, who)),
            csrf: who.csrf().to_string(),
            export_action: "/institutions/export",
            export_error,
            lines: found.iter().map(|i| line(state, i)).collect(),
            can_manage: who.may(Permission::ManageInstitutions),
            rule: qualified_rule(&state.institutions),
            notice,
        }
    }
}

/// The institutions list as .xlsx, with a reason, audited `institution.export`.
pub async fn export(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(form): Form<ExportForm>,
) -> AppResult<Response> {
    let found = list(&state, &who).await?;
    let Some(reason) = form.reason() else {
        let page = ListPage::of(&state, &who, &found, None, downloads::reason_missing());
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let table = Table {
        sheet: "康复机构",
        title: format!(
            "精神障碍社区康复机构与站点 — {}",
            state.tree.path_name(&who.user.region_code)
        ),
        notes: vec![
            format!("口径：{}", qualified_rule(&state.institutions)),
            format!("导出日期：{}", today()),
        ],
        headers: &[
            "序号",
            "名称",
            "类型",
            "所在地",
            "城乡",
            "状态",
            "容量",
            "服务对象",
            "在职人员",
            "持证上岗",
        ],
        widths: &[6.0, 28.0, 14.0, 30.0, 6.0, 8.0, 8.0, 10.0, 10.0, 16.0],
    };
    let rows = found.iter().map(|i| line(&state, i)).map(|l| {
        vec![
            text(l.name),
            text(l.kind),
            text(l.place),
            text(l.urban),
            text(l.status),
            num(l.capacity as f64),
            num(l.served as f64),
            num(l.staff as f64),
            text(l.qualified),
        ]
    });
    downloads::book(
        &state,
        &who,
        "institution.export",
        reason,
        "康复机构",
        vec![(table, rows.collect())],
    )
    .await
}

pub struct Pick {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) checked: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "institution_form.html")]
pub struct FormPage {
    chrome: Option<Chrome>,
    csrf: String,
    action: String,
    title: String,
    values: BTreeMap<String, String>,
    kinds: Vec<Pick>,
    statuses: Vec<Pick>,
    regions: Vec<Pick>,
    errors: Vec<(String, String)>,
}

impl FormPage {
    fn value(&self, key: &str) -> &str {
        self.values.get(key).map_or("", String::as_str)
    }
}

/// The regions a user may put an institution in: their own and the ones below it, two levels.
pub(crate) fn region_picks(state: &AppState, who: &CurrentUser, chosen: &str) -> Vec<Pick> {
    let mut out = Vec::new();
    if let Some(root) = state.tree.get(&who.user.region_code) {
        out.push(Pick {
            value: root.code.clone(),
            label: root.name.clone(),
            checked: root.code == chosen,
        });
        for child in state.tree.children(&root.code) {
            out.push(Pick {
                value: child.code.clone(),
                label: format!("{} {}", root.name, child.name),
                checked: child.code == chosen,
            });
            for grand in state.tree.children(&child.code) {
                out.push(Pick {
                    value: grand.code.clone(),
                    label: format!("{} {} {}", root.name, child.name, grand.name),
                    checked: grand.code == chosen,
                });
            }
        }
    }
    out
}

fn form_page(
    state: &AppState,
    who: &CurrentUser,
    action: String,
    title: String,
    values: BTreeMap<String, String>,
    problems: &[InstitutionProblem],
) -> FormPage {
    let get = |k: &str| values.get(k).cloned().unwrap_or_default();
    let rules = &state.institutions;
    FormPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        action,
        title,
        kinds: rules
            .kinds
            .iter()
            .map(|k| Pick {
                value: k.code.clone(),
                label: k.label.clone(),
                checked: k.code == get("kind"),
            })
            .collect(),
        statuses: rules
            .statuses
            .iter()
            .map(|s| Pick {
                value: s.code.clone(),
                label: s.label.clone(),
                checked: s.code == get("status"),
            })
            .collect(),
        regions: region_picks(state, who, &get("region")),
        errors: problems
            .iter()
            .map(|p| (p.field.clone(), p.message.clone()))
            .collect(),
        values,
    }
}

/// What a form says, as an institution, or the problems of its text.
fn institution_of(
    state: &AppState,
    who: &CurrentUser,
    values: &BTreeMap<String, String>,
) -> Result<NewInstitution, Vec<InstitutionProblem>> {
    let get = |k: &str| values.get(k).map_or("", |s| s.trim()).to_string();
    let mut problems = Vec::new();
    let capacity = match get("capacity").parse::<i64>() {
        Ok(n) => n,
        Err(_) => {
            problems.push(problem("capacity", "institution-capacity-invalid", &[]));
            0
        }
    };
    let opened_on = match get("opened_on") {
        t if t.is_empty() => None,
        t => match NaiveDate::parse_from_str(&t, "%Y-%m-%d") {
            Ok(d) => Some(d),
            Err(_) => {
                problems.push(problem("opened_on", "date-invalid", &[]));
                None
            }
        },
    };
    let new = NewInstitution {
        name: get("name"),
        kind: get("kind"),
        urban: get("urban") == "1",
        region: get("region"),
        address: get("address"),
        capacity,
        operator: get("operator"),
        operator_code: get("operator_code"),
        opened_on,
        status: get("status"),
    };
    if problems.is_empty() {
        return Ok(new);
    }
    // A number or date the form could not read, and every other problem: all at once.
    let rest = store::check(&new, &state.institutions, &state.tree, &who.scope, today());
    for p in problems_of(rest) {
        if !problems.iter().any(|q| q.field == p.field) {
            problems.push(p);
        }
    }
    Err(problems)
}

fn values_of(i: &Institution) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("name".to_string(), i.name.clone()),
        ("kind".to_string(), i.kind.clone()),
        (
            "urban".to_string(),
            if i.urban { "1" } else { "0" }.to_string(),
        ),
        ("region".to_string(), i.region.clone()),
        ("address".to_string(), i.address.clone()),
        ("capacity".to_string(), i.capacity.to_string()),
        ("operator".to_string(), i.operator.clone()),
        ("operator_code".to_string(), i.operator_code.clone()),
        (
            "opened_on".to_string(),
            i.opened_on.map(|d| d.to_string()).unwrap_or_default(),
        ),
        ("status".to_string(), i.status.clone()),
    ])
}

/// The form for a new institution.
pub async fn new_form(State(state): State<AppState>, who: CurrentUser) -> AppResult<Response> {
    let values = BTreeMap::from([
        ("status".to_string(), "operating".to_string()),
        ("urban".to_string(), "1".to_string()),
    ]);
    Ok(form_page(
        &state,
        &who,
        "/institutions".into(),
        "登记康复机构".into(),
        values,
        &[],
    )
    .into_response())
}

/// Register from the form; problems show the form again beside their fields (422).
pub async fn create(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let values: BTreeMap<String, String> = pairs.into_iter().collect();
    let outcome = match institution_of(&state, &who, &values) {
        Ok(new) => create_institution(&state, &who, new).await?,
        Err(p) => Err(p),
    };
    match outcome {
        Ok(id) => Ok(Redirect::to(&format!("/institutions/{id}?created=1")).into_response()),
        Err(problems) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            form_page(
                &state,
                &who,
                "/institutions".into(),
                "登记康复机构".into(),
                values,
                &problems,
            ),
        )
            .into_response()),
    }
}

/// The form to change an institution (status, capacity …).
pub async fn edit_form(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let i = get(&state, &who, id).await?;
    Ok(form_page(
        &state,
        &who,
        format!("/institutions/{id}/edit"),
        format!("修改机构信息 — {}", i.name),
        values_of(&i),
        &[],
    )
    .into_response())
}

pub async fn edit(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let values: BTreeMap<String, String> = pairs.into_iter().collect();
    let i = get(&state, &who, id).await?;
    let outcome = match institution_of(&state, &who, &values) {
        Ok(new) => update_institution(&state, &who, id, new).await?,
        Err(p) => Err(p),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("/institutions/{id}?saved=1")).into_response()),
        Err(problems) => {
            let page = form_page(
                &state,
                &who,
                format!("/institutions/{id}/edit"),
                format!("修改机构信息 — {}", i.name),
                values,
                &problems,
            );
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

/// One staff member as the pages show them.
pub struct StaffLine {
    id: i64,
    name: String,
    institution_id: i64,
    institution: String,
    position: String,
    hired_on: String,
    certificates: String,
    certified: bool,
    hours: String,
    under_trained: bool,
}

fn staff_lines(state: &AppState, list: &[StaffMember]) -> Vec<StaffLine> {
    list.iter()
        .map(|s| StaffLine {
            id: s.id,
            name: s.name.clone(),
            institution_id: s.institution_id,
            institution: s.institution.clone(),
            position: s.position.clone(),
            hired_on: s.hired_on.to_string(),
            certificates: s
                .qualifications
                .iter()
                .map(|q| {
                    let label = state
                        .institutions
                        .qualification(&q.kind)
                        .map_or(q.kind.as_str(), |c| c.label.as_str());
                    match q.valid_until {
                        Some(v) => format!("{label}（{}，有效期至 {v}）", q.number),
                        None => format!("{label}（{}）", q.number),
                    }
                })
                .collect::<Vec<_>>()
                .join("；"),
            certified: s.certified,
            hours: format!("{}", s.training_hours),
            under_trained: s.under_trained,
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "institution.html")]
pub struct ShowPage {
    chrome: Option<Chrome>,
    csrf: String,
    i: InstitutionLine,
    address: String,
    operator: String,
    operator_code: String,
    opened_on: String,
    staff: Vec<StaffLine>,
    year: i32,
    persons: Vec<(i64, String, String)>,
    candidates: Vec<Pick>,
    qualifications: Vec<Pick>,
    can_manage: bool,
    can_staff: bool,
    today: String,
    notice: Option<String>,
    /// Problems by field, for the staff and training forms (the assignment's under `persons`).
    errors: Vec<(String, String)>,
    /// What the staff form and the training form hold: empty, or what was sent when refused.
    staff_input: BTreeMap<String, String>,
    training_input: BTreeMap<String, String>,
}

impl FieldProblems for ShowPage {
    fn problems(&self) -> &[(String, String)] {
        &self.errors
    }
}

impl ShowPage {
    /// A value the staff form (`staff`) or the training form (`training`) was sent.
    fn sent<'a>(&'a self, form: &str, key: &str) -> &'a str {
        let input = if form == "staff" {
            &self.staff_input
        } else {
            &self.training_input
        };
        input.get(key).map_or("", String::as_str)
    }
}

/// A form of the institution page refused: which one, what it was sent, its problems.
struct Refused {
    staff_form: bool,
    sent: BTreeMap<String, String>,
    problems: Vec<InstitutionProblem>,
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    created: Option<u8>,
    saved: Option<u8>,
    assigned: Option<usize>,
    staff: Option<i64>,
    trained: Option<i64>,
}

async fn show_page(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
    notice: Option<String>,
    refused: Option<Refused>,
) -> AppResult<ShowPage> {
    let (errors, staff_input, training_input) = match refused {
        None => Default::default(),
        Some(r) => {
            let errors = r
                .problems
                .into_iter()
                .map(|p| (p.field, p.message))
                .collect();
            if r.staff_form {
                (errors, r.sent, BTreeMap::new())
            } else {
                (errors, BTreeMap::new(), r.sent)
            }
        }
    };
    let i = get(state, who, id).await?;
    let staff = staff_of(state, who, Some(id)).await?;
    // The persons the site serves, and those in service in scope who could join it: person
    // lists, audited as every list is.
    let served_scope = who.scope.clone().at_site(Some(id));
    let served = crate::pages::list_audited_in(
        state,
        who,
        served_scope,
        ListFilter {
            limit: Some(500),
            ..Default::default()
        },
        500,
        "institution",
    )
    .await?;
    let can_manage = who.may(Permission::ManageInstitutions);
    let candidates = if can_manage {
        let all = crate::pages::list_audited(
            state,
            who,
            ListFilter {
                limit: Some(300),
                ..Default::default()
            },
            300,
            "institution-assign",
        )
        .await?;
        let mut c: Vec<Pick> = all
            .into_iter()
            .filter(|p| {
                matches!(
                    p.state,
                    RegistrationState::Registered | RegistrationState::InService
                ) && !served.iter().any(|s| s.id == p.id)
            })
            .map(|p| Pick {
                value: p.id.to_string(),
                label: p.record.data.name,
                checked: false,
            })
            .collect();
        c.sort_by(|a, b| a.label.cmp(&b.label));
        c
    } else {
        Vec::new()
    };
    Ok(ShowPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        address: i.address.clone(),
        operator: i.operator.clone(),
        operator_code: i.operator_code.clone(),
        opened_on: i.opened_on.map(|d| d.to_string()).unwrap_or_default(),
        i: line(state, &i),
        staff: staff_lines(state, &staff),
        year: today().year(),
        persons: served
            .into_iter()
            .map(|p| {
                (
                    p.id,
                    p.record.data.name,
                    state.tree.path_name(&p.record.data.residence_region),
                )
            })
            .collect(),
        candidates,
        qualifications: state
            .institutions
            .qualifications
            .iter()
            .map(|q| Pick {
                value: q.code.clone(),
                label: q.label.clone(),
                checked: false,
            })
            .collect(),
        can_manage,
        can_staff: who.may(Permission::ManageStaff),
        today: today().to_string(),
        notice,
        errors,
        staff_input,
        training_input,
    })
}

/// An institution's page.
pub async fn show(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    crate::extract::Query(q): crate::extract::Query<ShowQuery>,
) -> AppResult<Response> {
    let notice = if q.created.is_some() {
        Some("机构已登记。".to_string())
    } else if q.saved.is_some() {
        Some("机构信息已保存。".to_string())
    } else if let Some(n) = q.assigned {
        Some(format!("已将 {n} 名服务对象纳入本机构服务。"))
    } else if q.staff.is_some() {
        Some("工作人员已添加。".to_string())
    } else {
        q.trained.map(|_| "已保存。".to_string())
    };
    Ok(show_page(&state, &who, id, notice, None)
        .await?
        .into_response())
}

fn ids_of(pairs: &[(String, String)], key: &str) -> Vec<i64> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .filter_map(|(_, v)| v.trim().parse().ok())
        .collect()
}

fn value<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.trim())
}

/// Put the ticked persons in the site's care.
pub async fn assign_form(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let persons = ids_of(&pairs, "persons");
    match assign(&state, &who, Some(id), persons).await? {
        Ok(n) => {
            Ok(Redirect::to(&format!("/institutions/{id}?assigned={n}#persons")).into_response())
        }
        Err(p) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            show_page(
                &state,
                &who,
                id,
                None,
                Some(Refused {
                    staff_form: false,
                    sent: BTreeMap::new(),
                    problems: vec![p],
                }),
            )
            .await?,
        )
            .into_response()),
    }
}

fn date_of(text: &str, field: &str, problems: &mut Vec<InstitutionProblem>) -> NaiveDate {
    match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(d) => d,
        Err(_) => {
            problems.push(problem(field, "date-invalid", &[]));
            NaiveDate::MIN
        }
    }
}

/// The fields a form of the institution page sends, trimmed (the first of each name).
fn sent_of(pairs: &[(String, String)], keys: &[&str]) -> BTreeMap<String, String> {
    keys.iter()
        .map(|k| (k.to_string(), value(pairs, k).to_string()))
        .collect()
}

/// Answer a refused form of the institution page: 422, the page with what was sent kept and
/// every problem listed and beside its field.
async fn refuse_form(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
    refused: Refused,
) -> AppResult<Response> {
    Ok((
        StatusCode::UNPROCESSABLE_ENTITY,
        show_page(state, who, id, None, Some(refused)).await?,
    )
        .into_response())
}

const STAFF_KEYS: [&str; 7] = [
    "name",
    "position",
    "hired_on",
    "qualification",
    "number",
    "issued_on",
    "valid_until",
];

/// Add a staff member (and a first certificate) from the institution page. Every problem is
/// found at once: a date the form cannot read is one problem, the others are still checked.
pub async fn staff_form(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let sent = sent_of(&pairs, &STAFF_KEYS);
    let day = today();
    let mut problems = Vec::new();
    let hired_on = date_of(&sent["hired_on"], "hired_on", &mut problems);
    let qualifications = if sent["qualification"].is_empty() {
        Vec::new()
    } else {
        let issued_on = date_of(&sent["issued_on"], "qualification", &mut problems);
        let valid_until = match sent["valid_until"].as_str() {
            "" => None,
            v => Some(date_of(v, "qualification", &mut problems)),
        };
        vec![NewQualification {
            kind: sent["qualification"].clone(),
            number: sent["number"].clone(),
            issued_on: issued_on.min(day),
            valid_until: valid_until.map(|v| v.max(issued_on)),
        }]
    };
    let new = NewStaff {
        institution_id: id,
        name: sent["name"].clone(),
        position: sent["position"].clone(),
        hired_on: hired_on.min(day),
        qualifications,
    };
    // The certificate's problems are shown at its kind's field.
    problems.extend(
        problems_of(store::check_staff(&new, &state.institutions, day))
            .into_iter()
            .map(|mut p| {
                if p.field == "qualifications" {
                    p.field = "qualification".into();
                }
                p
            }),
    );
    let outcome = if problems.is_empty() {
        create_staff(&state, &who, new).await?
    } else {
        Err(problems)
    };
    match outcome {
        Ok(sid) => {
            Ok(Redirect::to(&format!("/institutions/{id}?staff={sid}#staff")).into_response())
        }
        Err(problems) => {
            let refused = Refused {
                staff_form: true,
                sent,
                problems,
            };
            refuse_form(&state, &who, id, refused).await
        }
    }
}

/// Record training hours of a staff member from the institution page.
pub async fn training_form(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let sent = sent_of(&pairs, &["staff", "trained_on", "topic", "hours"]);
    let staff: i64 = sent["staff"]
        .parse()
        .map_err(|_| AppError::BadRequest("form-invalid".into()))?;
    // The staff member must belong to this institution (and it to the scope).
    let members = staff_of(&state, &who, Some(id)).await?;
    if !members.iter().any(|m| m.id == staff) {
        return Err(AppError::NotFound);
    }
    let day = today();
    let mut problems = Vec::new();
    let trained_on = date_of(&sent["trained_on"], "trained_on", &mut problems);
    let hours: f64 = sent["hours"].parse().unwrap_or(f64::NAN);
    let t = NewTraining {
        trained_on: trained_on.min(day),
        topic: sent["topic"].clone(),
        hours,
    };
    problems.extend(problems_of(store::check_training(&t, day)));
    let outcome = if problems.is_empty() {
        record_training(&state, &who, staff, t).await?
    } else {
        Err(problems)
    };
    match outcome {
        Ok(()) => {
            Ok(Redirect::to(&format!("/institutions/{id}?trained={staff}#staff")).into_response())
        }
        Err(problems) => {
            let refused = Refused {
                staff_form: false,
                sent,
                problems,
            };
            refuse_form(&state, &who, id, refused).await
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "staff.html")]
pub struct StaffPage {
    chrome: Option<Chrome>,
    csrf: String,
    export_action: &'static str,
    export_error: Option<String>,
    year: i32,
    lines: Vec<StaffLine>,
    under: usize,
    uncertified: usize,
    rule: String,
}

/// Every current staff member in scope, those under the year's training hours first.
pub async fn staff_page(State(state): State<AppState>, who: CurrentUser) -> AppResult<Response> {
    let list = staff_sorted(&state, &who).await?;
    Ok(StaffPage::of(&state, &who, &list, None).into_response())
}

async fn staff_sorted(state: &AppState, who: &CurrentUser) -> AppResult<Vec<StaffMember>> {
    let mut list = staff_of(state, who, None).await?;
    list.sort_by_key(|s| !s.under_trained);
    Ok(list)
}

impl StaffPage {
    fn of(
        state: &AppState,
        who: &CurrentUser,
        list: &[StaffMember],
        export_error: Option<String>,
    ) -> StaffPage {
        StaffPage {
            chrome: Some(Chrome::of(state, who)),
            csrf: who.csrf().to_string(),
            export_action: "/staff/export",
            export_error,
            year: today().year(),
            under: list.iter().filter(|s| s.under_trained).count(),
            uncertified: list.iter().filter(|s| !s.certified).count(),
            lines: staff_lines(state, list),
            rule: qualified_rule(&state.institutions),
        }
    }
}

/// The staff list as .xlsx, with a reason, audited `staff.export`.
pub async fn staff_export(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(form): Form<ExportForm>,
) -> AppResult<Response> {
    let list = staff_sorted(&state, &who).await?;
    let Some(reason) = form.reason() else {
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            StaffPage::of(&state, &who, &list, downloads::reason_missing()),
        )
            .into_response());
    };
    let year = today().year();
    let hours_header = format!("{year} 年培训学时");
    let headers = [
        "序号",
        "姓名",
        "机构",
        "岗位",
        "入职日期",
        "资格证书",
        "持证",
        hours_header.as_str(),
        "学时是否足够",
    ];
    let table = Table {
        sheet: "工作人员",
        title: format!(
            "康复机构工作人员 — {}",
            state.tree.path_name(&who.user.region_code)
        ),
        notes: vec![
            format!("口径：{}", qualified_rule(&state.institutions)),
            format!("导出日期：{}", today()),
        ],
        headers: &headers,
        widths: &[6.0, 10.0, 28.0, 12.0, 12.0, 30.0, 6.0, 14.0, 12.0],
    };
    let rows = staff_lines(&state, &list).into_iter().map(|s| {
        let certificates = if s.certificates.is_empty() {
            "无".to_string()
        } else {
            s.certificates
        };
        vec![
            text(s.name),
            text(s.institution),
            text(s.position),
            text(s.hired_on),
            text(certificates),
            text(if s.certified { "是" } else { "否" }),
            text(s.hours),
            text(if s.under_trained { "不足" } else { "足够" }),
        ]
    });
    downloads::book(
        &state,
        &who,
        "staff.export",
        reason,
        "工作人员",
        vec![(table, rows.collect())],
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// API

/// The institutions in scope with their figures (persons served, staff, qualified staff).
#[utoipa::path(get, path = "/api/v1/institutions", responses((status = 200, body = Vec<Institution>)), security(("bearer" = [])), tag = "institutions")]
pub async fn api_list(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Vec<Institution>>, ApiError> {
    Ok(Json(list(&state, &who).await?))
}

/// One institution in scope.
#[utoipa::path(get, path = "/api/v1/institutions/{id}", params(("id" = i64, Path, description = "institution id")),
    responses((status = 200, body = Institution), (status = 404)), security(("bearer" = [])), tag = "institutions")]
pub async fn api_get(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
) -> Result<Json<Institution>, ApiError> {
    Ok(Json(get(&state, &who, id).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    pub id: i64,
}

/// A refusal: every problem by field; nothing was written.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstitutionRefused {
    pub code: String,
    pub message: String,
    pub problems: Vec<InstitutionProblem>,
}

fn refused(code: &str, problems: Vec<InstitutionProblem>) -> Response {
    let message = problems
        .iter()
        .map(|p| p.message.as_str())
        .collect::<Vec<_>>()
        .join("；");
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(InstitutionRefused {
            code: code.into(),
            message,
            problems,
        }),
    )
        .into_response()
}

fn json<T>(body: Result<Json<T>, axum::extract::rejection::JsonRejection>) -> Result<T, AppError> {
    body.map(|Json(t)| t)
        .map_err(|_| AppError::BadRequest("form-invalid".into()))
}

/// Register an institution (the operator's credit code is checked, GB 32100).
#[utoipa::path(post, path = "/api/v1/institutions", request_body = NewInstitution,
    responses((status = 201, body = Created), (status = 422, body = InstitutionRefused)), security(("bearer" = [])), tag = "institutions")]
pub async fn api_create(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    body: Result<Json<NewInstitution>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    match create_institution(&state, &who, json(body)?).await? {
        Ok(id) => Ok((StatusCode::CREATED, Json(Created { id })).into_response()),
        Err(p) => Ok(refused("institution-invalid", p)),
    }
}

/// Persons to put in a site's care.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AssignRequest {
    pub persons: Vec<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Assigned {
    pub persons: usize,
}

/// Put persons in the site's care (taking them from any other site). All in scope, or nothing.
#[utoipa::path(post, path = "/api/v1/institutions/{id}/persons", params(("id" = i64, Path, description = "institution id")), request_body = AssignRequest,
    responses((status = 200, body = Assigned), (status = 422, body = InstitutionRefused), (status = 404)), security(("bearer" = [])), tag = "institutions")]
pub async fn api_assign(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<AssignRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    match assign(&state, &who, Some(id), json(body)?.persons).await? {
        Ok(n) => Ok(Json(Assigned { persons: n }).into_response()),
        Err(p) => Ok(refused("site-invalid", vec![p])),
    }
}

/// The current staff in scope, with certificates (持证上岗) and this year's training hours.
#[utoipa::path(get, path = "/api/v1/staff", responses((status = 200, body = Vec<StaffMember>)), security(("bearer" = [])), tag = "institutions")]
pub async fn api_staff(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Vec<StaffMember>>, ApiError> {
    Ok(Json(staff_of(&state, &who, None).await?))
}

/// Add a staff member to an institution in scope, with their certificates.
#[utoipa::path(post, path = "/api/v1/staff", request_body = NewStaff,
    responses((status = 201, body = Created), (status = 422, body = InstitutionRefused)), security(("bearer" = [])), tag = "institutions")]
pub async fn api_staff_create(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    body: Result<Json<NewStaff>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    match create_staff(&state, &who, json(body)?).await? {
        Ok(id) => Ok((StatusCode::CREATED, Json(Created { id })).into_response()),
        Err(p) => Ok(refused("staff-invalid", p)),
    }
}

/// Record training hours of a staff member.
#[utoipa::path(post, path = "/api/v1/staff/{id}/trainings", params(("id" = i64, Path, description = "staff id")), request_body = NewTraining,
    responses((status = 201), (status = 422, body = InstitutionRefused), (status = 404)), security(("bearer" = [])), tag = "institutions")]
pub async fn api_training(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<NewTraining>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    match record_training(&state, &who, id, json(body)?).await? {
        Ok(()) => Ok(StatusCode::CREATED.into_response()),
        Err(p) => Ok(refused("training-invalid", p)),
    }
}

/// Add a certificate of a staff member.
#[utoipa::path(post, path = "/api/v1/staff/{id}/qualifications", params(("id" = i64, Path, description = "staff id")), request_body = NewQualification,
    responses((status = 201), (status = 422, body = InstitutionRefused), (status = 404)), security(("bearer" = [])), tag = "institutions")]
pub async fn api_qualification(
    State(state): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<i64>,
    body: Result<Json<NewQualification>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    match record_qualification(&state, &who, id, json(body)?).await? {
        Ok(()) => Ok(StatusCode::CREATED.into_response()),
        Err(p) => Ok(refused("qualification-invalid", p)),
    }
}

impl FieldProblems for FormPage {
    fn problems(&self) -> &[(String, String)] {
        &self.errors
    }
}
