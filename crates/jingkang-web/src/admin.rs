//! Pages for administrators (accounts) and auditors (the audit log).

use crate::extract::Form;
use crate::extract::{Path, Query};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jingkang_core::accounts::{self, Role};
use jingkang_core::messages;
use jingkang_core::store::accounts::{self as store_accounts, NewUser};
use jingkang_core::store::audit;
use serde::Deserialize;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::pages::{Chrome, beijing_time};

// ---------- audit ----------

pub struct EntryLine {
    id: i64,
    at: String,
    actor: String,
    action: String,
    target: String,
    detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
pub struct AuditPage {
    chrome: Option<Chrome>,
    q_user: String,
    q_person: String,
    q_action: String,
    q_from: String,
    q_to: String,
    actions: Vec<(&'static str, &'static str)>,
    entries: Vec<EntryLine>,
    chain: String,
    next: Option<String>,
    error: Option<String>,
}

/// The action families an auditor filters by.
const ACTIONS: &[(&str, &str)] = &[
    ("person.read", "查看服务对象"),
    ("person.reveal", "显示敏感信息"),
    ("person.list", "查询列表"),
    ("roster.", "花名册导入导出"),
    ("login", "登录"),
    ("logout", "退出"),
    ("user.", "账号管理"),
    ("token.", "API 令牌"),
];

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    user: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: String,
}

const AUDIT_PAGE: i64 = 100;

fn day_bound(s: &str, end: bool) -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::BadRequest("date-invalid".into()))?;
    let t = if end {
        d.and_hms_opt(23, 59, 59)
    } else {
        d.and_hms_opt(0, 0, 0)
    };
    // Days are China Standard Time.
    Ok(t.map(jingkang_core::domain::clock::from_china))
}

pub async fn audit_page(
    State(state): State<AppState>,
    who: CurrentUser,
    Query(q): Query<AuditQuery>,
) -> AppResult<Response> {
    let query = audit::Query {
        actor: Some(q.user.trim())
            .filter(|s| !s.is_empty())
            .map(|u| format!("user:{u}")),
        action: Some(q.action.trim())
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        target_kind: (!q.person.trim().is_empty()).then(|| "person".to_string()),
        target_id: Some(q.person.trim())
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        from: day_bound(&q.from, false)?,
        to: day_bound(&q.to, true)?,
        before_id: q.before.parse().ok(),
        limit: AUDIT_PAGE,
    };
    let mut tx = state.db.begin().await?;
    let found = audit::search(&mut tx, &query).await?;
    let chain = audit::verify(&mut tx).await?;
    audit::record(
        &mut tx,
        &who.user.actor(),
        "audit.search",
        None,
        serde_json::json!({"results": found.len()}),
    )
    .await?;
    tx.commit().await?;
    let chain = match chain.first_broken {
        None => format!("完整（{} 条）", chain.entries),
        Some(id) => format!("第 {id} 条起被篡改！请立即报告"),
    };
    let next = (found.len() as i64 == AUDIT_PAGE)
        .then(|| found.last().map(|e| e.id))
        .flatten()
        .map(|id| {
            format!(
                "/audit?user={}&person={}&action={}&from={}&to={}&before={id}",
                crate::pages::urlencode(&q.user),
                crate::pages::urlencode(&q.person),
                crate::pages::urlencode(&q.action),
                crate::pages::urlencode(&q.from),
                crate::pages::urlencode(&q.to)
            )
        });
    let entries = found
        .into_iter()
        .map(|e| EntryLine {
            id: e.id,
            at: beijing_time(e.at),
            actor: e.actor,
            action: e.action,
            target: match (e.target_kind, e.target_id) {
                (Some(k), Some(i)) => format!("{k}:{i}"),
                _ => String::new(),
            },
            detail: e.detail,
        })
        .collect();
    Ok(AuditPage {
        chrome: Some(Chrome::of(&state, &who)),
        q_user: q.user,
        q_person: q.person,
        q_action: q.action,
        q_from: q.from,
        q_to: q.to,
        actions: ACTIONS.to_vec(),
        entries,
        chain,
        next,
        error: None,
    }
    .into_response())
}

// ---------- users ----------

pub struct UserLine {
    id: i64,
    username: String,
    display_name: String,
    role: &'static str,
    region: String,
    organisation: String,
    status: &'static str,
    disabled: bool,
    is_worker: bool,
    /// The site's id, empty for none.
    site: String,
}

pub struct OrgLine {
    id: i64,
    name: String,
    region: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "users.html")]
pub struct UsersPage {
    chrome: Option<Chrome>,
    csrf: String,
    users: Vec<UserLine>,
    organisations: Vec<OrgLine>,
    roles: Vec<(&'static str, &'static str)>,
    notice: Option<String>,
    error: Option<String>,
    /// The new-user form as typed, and its problems by field (all of them, in the form's order).
    draft: NewUserForm,
    errors: Vec<(String, String)>,
    /// The new-organisation form as typed, and its problems.
    org_draft: NewOrgForm,
    org_errors: Vec<(String, String)>,
}

impl UsersPage {
    /// The problem of `field` of the new-user form (`org.` + field for the organisation form).
    fn problem(&self, field: &str) -> Option<&str> {
        let (list, key) = match field.strip_prefix("org.") {
            Some(k) => (&self.org_errors, k),
            None => (&self.errors, field),
        };
        crate::problems::of(list, key)
    }
}

/// What the two forms of the users page send back after a refusal.
#[derive(Default)]
struct Drafts {
    user: NewUserForm,
    user_errors: Vec<(&'static str, &'static str)>,
    org: NewOrgForm,
    org_errors: Vec<(&'static str, &'static str)>,
}

fn problems_of(list: &[(&'static str, &'static str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(f, code)| {
            let text = if *code == "role-unknown" {
                messages::render(code, &[("role", ""), ("roles", "")])
            } else {
                messages::template(code).to_string()
            };
            (f.to_string(), text)
        })
        .collect()
}

async fn users_page(
    state: &AppState,
    who: &CurrentUser,
    notice: Option<String>,
    error: Option<String>,
) -> AppResult<Response> {
    users_page_with(state, who, notice, error, Drafts::default()).await
}

async fn users_page_with(
    state: &AppState,
    who: &CurrentUser,
    notice: Option<String>,
    error: Option<String>,
    drafts: Drafts,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    let all = store_accounts::list_users(&mut tx).await?;
    let orgs = store_accounts::list_organisations(&mut tx).await?;
    tx.commit().await?;
    let organisations = orgs
        .into_iter()
        .filter(|o| who.scope.contains(&o.region_code))
        .map(|o| OrgLine {
            id: o.id,
            region: state.tree.path_name(&o.region_code),
            name: o.name,
        })
        .collect();
    let now = chrono::Utc::now();
    let users = all
        .into_iter()
        // An administrator manages the accounts of their own region subtree.
        .filter(|u| who.scope.contains(&u.region_code))
        .map(|u| UserLine {
            id: u.id,
            status: if u.disabled {
                "已停用"
            } else if u.is_locked(now) {
                "已锁定"
            } else if u.must_change_password {
                "待首次登录"
            } else {
                "正常"
            },
            disabled: u.disabled,
            is_worker: u.role == jingkang_core::accounts::Role::Worker,
            site: u.site_id.map(|s| s.to_string()).unwrap_or_default(),
            region: state.tree.path_name(&u.region_code),
            organisation: u.organisation.clone().unwrap_or_default(),
            role: u.role.label_zh(),
            username: u.username,
            display_name: u.display_name,
        })
        .collect();
    let status = if !drafts.user_errors.is_empty() || !drafts.org_errors.is_empty() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = UsersPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        users,
        organisations,
        roles: Role::ALL.iter().map(|r| (r.code(), r.label_zh())).collect(),
        notice,
        error,
        errors: problems_of(&drafts.user_errors),
        org_errors: problems_of(&drafts.org_errors),
        draft: drafts.user,
        org_draft: drafts.org,
    };
    Ok((status, page).into_response())
}

pub async fn users(State(state): State<AppState>, who: CurrentUser) -> AppResult<Response> {
    users_page(&state, &who, None, None).await
}

#[derive(Deserialize, Default)]
pub struct NewUserForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    region: String,
    /// Organisation id, or empty.
    #[serde(default)]
    organisation: String,
}

#[derive(Deserialize, Default)]
pub struct NewOrgForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    region: String,
}

/// Add an organisation in the administrator's region subtree. A refusal lists every problem
/// beside its field and keeps what was typed.
pub async fn organisation_create(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(f): Form<NewOrgForm>,
) -> AppResult<Response> {
    let region = f.region.trim().to_string();
    let mut tx = state.db.begin().await?;
    let mut problems = store_accounts::check_new_organisation(&mut tx, &f.name, &region).await?;
    // Outside the administrator's area reads like a code that does not exist.
    if !who.scope.contains(&region) && !problems.iter().any(|(field, _)| *field == "region") {
        problems.push(("region", "region-unknown"));
    }
    if problems.is_empty()
        && let Err(e) =
            store_accounts::create_organisation(&mut tx, &who.user.actor(), &f.name, &region)
                .await?
    {
        problems.push(("name", e.0));
    }
    if problems.is_empty() {
        tx.commit().await?;
    } else {
        tx.rollback().await?; // the page below needs the connection (SQLite has one writer)
        let drafts = Drafts {
            org: f,
            org_errors: problems,
            ..Drafts::default()
        };
        return users_page_with(&state, &who, None, None, drafts).await;
    }
    let notice = messages::render(
        "cli-org-added",
        &[
            ("name", f.name.trim()),
            ("region", &state.tree.path_name(&region)),
        ],
    );
    users_page(&state, &who, Some(notice), None).await
}

/// Create a user in the administrator's region subtree with a generated first password. A
/// refusal lists every problem beside its field and keeps what was typed (the role too).
pub async fn user_create(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(f): Form<NewUserForm>,
) -> AppResult<Response> {
    let role = Role::parse(&f.role);
    let region = f.region.trim().to_string();
    let password = accounts::generate_password();
    let organisation = f.organisation.trim();
    let mut problems = Vec::new();
    let organisation_id = if organisation.is_empty() {
        None
    } else {
        match organisation.parse::<i64>() {
            Ok(id) => Some(id),
            Err(_) => {
                problems.push(("organisation", "organisation-unknown"));
                None
            }
        }
    };
    let new = NewUser {
        username: f.username.trim(),
        display_name: f.display_name.trim(),
        role: role.unwrap_or(Role::Township),
        region_code: &region,
        password: &password,
        must_change_password: true,
        organisation_id,
    };
    let mut tx = state.db.begin().await?;
    problems.extend(store_accounts::check_new_user(&mut tx, &new).await?);
    if role.is_none() {
        problems.push(("role", "role-unknown"));
    }
    // Outside the administrator's area reads like a code that does not exist.
    if !who.scope.contains(&region) && !problems.iter().any(|(field, _)| *field == "region") {
        problems.push(("region", "region-unknown"));
    }
    if problems.is_empty()
        && let Err(e) = store_accounts::create_user(&mut tx, &who.user.actor(), &new).await?
    {
        problems.push(("username", e.0));
    }
    if problems.is_empty() {
        tx.commit().await?;
    } else {
        tx.rollback().await?; // the page below needs the connection (SQLite has one writer)
        let order = [
            "username",
            "display_name",
            "role",
            "region",
            "organisation",
            "password",
        ];
        problems.sort_by_key(|(field, _)| order.iter().position(|o| o == field));
        let drafts = Drafts {
            user: f,
            user_errors: problems,
            ..Drafts::default()
        };
        return users_page_with(&state, &who, None, None, drafts).await;
    }
    let notice = format!(
        "{}。{}",
        messages::render(
            "cli-user-added",
            &[
                ("username", new.username),
                ("role", new.role.label_zh()),
                ("region", &state.tree.path_name(&region))
            ]
        ),
        messages::render("cli-user-password", &[("password", &password)])
    );
    users_page(&state, &who, Some(notice), None).await
}

async fn managed_user(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
) -> AppResult<store_accounts::User> {
    let mut tx = state.db.begin().await?;
    let u = store_accounts::get_user(&mut tx, id).await?;
    tx.commit().await?;
    u.filter(|u| who.scope.contains(&u.region_code))
        .ok_or(AppError::NotFound)
}

pub async fn user_reset(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    _: crate::extract::Posted,
) -> AppResult<Response> {
    let user = managed_user(&state, &who, id).await?;
    let password = accounts::generate_password();
    let mut tx = state.db.begin().await?;
    if let Err(e) =
        store_accounts::set_password(&mut tx, &who.user.actor(), &user, &password, true).await?
    {
        return users_page(&state, &who, None, Some(messages::render(e.0, &[]))).await;
    }
    tx.commit().await?;
    let notice = format!(
        "{}。{}",
        messages::render("cli-user-reset", &[("username", &user.username)]),
        messages::render("cli-user-password", &[("password", &password)])
    );
    users_page(&state, &who, Some(notice), None).await
}

#[derive(Deserialize)]
pub struct SiteForm {
    #[serde(default)]
    site: String,
}

/// Make a user staff of a rehabilitation site (an empty site: of none).
pub async fn user_site(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Form(f): Form<SiteForm>,
) -> AppResult<Response> {
    let user = managed_user(&state, &who, id).await?;
    let site = match f.site.trim() {
        "" => None,
        t => Some(
            t.parse::<i64>()
                .map_err(|_| AppError::BadRequest("form-invalid".into()))?,
        ),
    };
    let mut tx = state.db.begin().await?;
    let done = store_accounts::set_site(&mut tx, &who.user.actor(), &user, site).await?;
    tx.commit().await?;
    match done {
        Ok(()) => {
            users_page(
                &state,
                &who,
                Some(messages::render(
                    "cli-user-site",
                    &[("username", &user.username)],
                )),
                None,
            )
            .await
        }
        Err(e) => {
            let page = users_page(&state, &who, None, Some(messages::render(e.0, &[]))).await?;
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

pub async fn user_disable(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    _: crate::extract::Posted,
) -> AppResult<Response> {
    let user = managed_user(&state, &who, id).await?;
    let mut tx = state.db.begin().await?;
    store_accounts::set_disabled(&mut tx, &who.user.actor(), &user, true).await?;
    tx.commit().await?;
    let notice = messages::render("cli-user-disabled", &[("username", &user.username)]);
    users_page(&state, &who, Some(notice), None).await
}
