//! Server-rendered pages (askama templates under `templates/`).

use crate::extract::Form;
use crate::extract::{Path, Query};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use jingkang_core::accounts::policy::Permission;
use jingkang_core::accounts::{self, Role};
use jingkang_core::care::eligibility;
use jingkang_core::care::registration::{self as care_registration, CloseReason};
use jingkang_core::domain::RegistrationState;
use jingkang_core::messages;
use jingkang_core::regions::{Level, Scope};
use jingkang_core::registry::{self, Sensitivity};
use jingkang_core::store::Tx;
use jingkang_core::store::accounts as store_accounts;
use jingkang_core::store::audit::{self, Target};
use jingkang_core::store::batch::{BoxFuture, Outcome};
use jingkang_core::store::followups;
use jingkang_core::store::persons::{self, ListFilter};
use jingkang_core::store::registration::{self, RegistrationEvent};
use serde::Deserialize;
use std::net::SocketAddr;

use crate::AppState;
use crate::auth::{CurrentUser, LOGIN_CSRF_COOKIE, SESSION_COOKIE, constant_time_eq};
use crate::error::{AppError, AppResult};

pub use crate::shell::{Chrome, ErrorPage};

impl Chrome {
    pub fn of(state: &AppState, who: &CurrentUser) -> Chrome {
        let role = who.user.role;
        Chrome {
            display_name: who.user.display_name.clone(),
            role_label: role.label_zh(),
            region_name: state.tree.path_name(&who.user.region_code),
            csrf: who.csrf().to_string(),
            can_read_registry: role.may(Permission::ReadRegistry),
            can_edit_registry: role.may(Permission::EditRegistry),
            is_admin: role.may(Permission::Admins),
            can_audit: role.may(Permission::Auditors),
            can_read_clinical: role.may(Permission::ReadClinical),
            can_refer: role.may(Permission::Referrals),
            can_read_institutions: role.may(Permission::ReadInstitutions),
            can_read_reports: role.may(Permission::ReadReports),
            can_read_indicators: role.may(Permission::ReadIndicators),
            can_read_notifications: role.may(Permission::ReadRegistry),
            can_compare_lists: role.may(Permission::CompareLists),
        }
    }
}

fn session_cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.settings.secure_cookies)
        .path("/")
        .build()
}

/// The client address for audit and rate limiting: the socket peer; when the peer is a trusted
/// proxy, the right-most address of `X-Forwarded-For` that is not a trusted proxy — the one the
/// last trusted proxy saw. Entries left of it were written by the client and are never believed.
pub fn client_addr(state: &AppState, peer: Option<SocketAddr>, headers: &HeaderMap) -> String {
    client_of(
        &state.settings.trusted_proxies,
        peer.map(|p| p.ip()),
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

fn client_of<'h>(
    trusted: &[ipnet::IpNet],
    peer: Option<std::net::IpAddr>,
    forwarded: impl Iterator<Item = &'h str>,
) -> String {
    let Some(peer) = peer else {
        return String::new();
    };
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer.to_string();
    }
    let hops: Vec<&str> = forwarded
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<std::net::IpAddr>() {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return ip.to_string(),
            // Not an address: what the last trusted hop received it from is all that is known.
            Err(_) => return client.to_string(),
        }
    }
    client.to_string()
}

#[cfg(test)]
mod client_tests {
    use super::client_of;

    #[test]
    fn only_the_proxies_own_entry_is_believed() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer = Some("10.0.0.2".parse().unwrap());
        // The client wrote 1.2.3.4 itself; the proxy appended the address it saw.
        let xff = ["1.2.3.4, 203.0.113.9"];
        assert_eq!(client_of(&trusted, peer, xff.into_iter()), "203.0.113.9");
        // Two proxies in a row: the right-most untrusted address.
        let xff = ["1.2.3.4, 203.0.113.9, 10.0.0.7"];
        assert_eq!(client_of(&trusted, peer, xff.into_iter()), "203.0.113.9");
        // A request straight from the internet: its header is ignored.
        let outside = Some("198.51.100.1".parse().unwrap());
        assert_eq!(
            client_of(&trusted, outside, ["1.2.3.4"].into_iter()),
            "198.51.100.1"
        );
        // No proxy configured: the peer.
        assert_eq!(client_of(&[], peer, ["1.2.3.4"].into_iter()), "10.0.0.2");
        // Garbage in the header: the last trusted hop's peer.
        assert_eq!(
            client_of(&trusted, peer, ["<script>"].into_iter()),
            "10.0.0.2"
        );
    }
}

// ---------- login / logout ----------

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    chrome: Option<Chrome>,
    csrf: String,
    username: String,
    error: Option<String>,
}

pub async fn login_form(State(state): State<AppState>, jar: CookieJar) -> impl IntoResponse {
    let csrf = accounts::new_secret();
    let cookie = Cookie::build((LOGIN_CSRF_COOKIE, csrf.clone()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.settings.secure_cookies)
        .path("/login")
        .build();
    (
        jar.add(cookie),
        LoginPage {
            chrome: None,
            csrf,
            username: String::new(),
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    username: String,
    password: String,
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    let expected = jar
        .get(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), form.csrf.as_bytes()) {
        return Err(AppError::Csrf);
    }
    let client = client_addr(&state, Some(peer), &headers);
    if !state.login_limiter.allow(&client) {
        return Ok(login_again(&form.username, &expected, "login-rate-limited"));
    }
    let mut tx = state.db.begin().await?;
    let outcome =
        store_accounts::check_login(&mut tx, form.username.trim(), &form.password, &client).await?;
    let user = match outcome {
        store_accounts::LoginOutcome::Ok(u) => *u,
        store_accounts::LoginOutcome::Held(u, hold) => {
            // Answered as for any account with a second factor; the state is said after it.
            let (token, _) = store_accounts::create_held_session(&mut tx, &u, hold).await?;
            tx.commit().await?;
            let jar = jar
                .remove(Cookie::build(LOGIN_CSRF_COOKIE).path("/login"))
                .add(session_cookie(&state, token));
            return Ok((jar, Redirect::to("/")).into_response());
        }
        other => {
            tx.commit().await?; // the failure count and its audit entry
            let code = match other {
                store_accounts::LoginOutcome::Locked => "login-locked",
                store_accounts::LoginOutcome::Disabled => "login-disabled",
                _ => "login-invalid",
            };
            return Ok(login_again(&form.username, &expected, code));
        }
    };
    let totp_ok = !user.totp_enrolled;
    let (token, _) = store_accounts::create_session(&mut tx, &user, totp_ok).await?;
    audit::record(
        &mut tx,
        &user.actor(),
        "login",
        Some(Target {
            kind: "user",
            id: user.id.to_string(),
        }),
        serde_json::json!({"client": client}),
    )
    .await?;
    tx.commit().await?;
    let jar = jar
        .remove(Cookie::build(LOGIN_CSRF_COOKIE).path("/login"))
        .add(session_cookie(&state, token));
    Ok((jar, Redirect::to("/")).into_response())
}

fn login_again(username: &str, csrf: &str, code: &str) -> Response {
    let page = LoginPage {
        chrome: None,
        csrf: csrf.to_string(),
        username: username.to_string(),
        error: Some(messages::render(code, &[])),
    };
    (axum::http::StatusCode::UNAUTHORIZED, page).into_response()
}

pub async fn logout(
    State(state): State<AppState>,
    who: CurrentUser,
    jar: CookieJar,
    _: crate::extract::Posted,
) -> AppResult<Response> {
    let mut tx = state.db.begin().await?;
    if let Some(c) = jar.get(SESSION_COOKIE) {
        store_accounts::delete_session(&mut tx, c.value()).await?;
    }
    audit::record(
        &mut tx,
        &who.user.actor(),
        "logout",
        None,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok((
        jar.remove(Cookie::build(SESSION_COOKIE).path("/")),
        Redirect::to("/login"),
    )
        .into_response())
}

// ---------- password ----------

#[derive(Template, WebTemplate)]
#[template(path = "password.html")]
pub struct PasswordPage {
    chrome: Option<Chrome>,
    csrf: String,
    must_change: bool,
    error: Option<String>,
}

pub async fn password_form(State(state): State<AppState>, who: CurrentUser) -> PasswordPage {
    PasswordPage {
        csrf: who.csrf().to_string(),
        must_change: who.user.must_change_password,
        chrome: Some(Chrome::of(&state, &who)),
        error: None,
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
    confirm: String,
}

pub async fn password_change(
    State(state): State<AppState>,
    who: CurrentUser,
    jar: CookieJar,
    Form(form): Form<PasswordForm>,
) -> AppResult<Response> {
    let again = |code: &str| {
        let page = PasswordPage {
            csrf: who.csrf().to_string(),
            must_change: who.user.must_change_password,
            chrome: Some(Chrome::of(&state, &who)),
            error: Some(messages::render(code, &[])),
        };
        (axum::http::StatusCode::BAD_REQUEST, page).into_response()
    };
    if form.new != form.confirm {
        return Ok(again("password-mismatch"));
    }
    let mut tx = state.db.begin().await?;
    // Re-check the current password (a stolen session alone cannot change it).
    if !matches!(
        store_accounts::check_login(
            &mut tx,
            &who.user.username,
            &form.current,
            "password-change"
        )
        .await?,
        store_accounts::LoginOutcome::Ok(_)
    ) {
        tx.commit().await?;
        return Ok(again("password-wrong"));
    }
    match store_accounts::set_password(&mut tx, &who.user.actor(), &who.user, &form.new, false)
        .await?
    {
        Ok(()) => {}
        Err(e) => return Ok(again(e.0)),
    }
    // All sessions ended with the change; start a fresh one for this browser.
    let user = store_accounts::get_user(&mut tx, who.user.id)
        .await?
        .ok_or(AppError::Login)?;
    let totp_ok = who.session.as_ref().is_some_and(|s| s.totp_ok) || !user.totp_enrolled;
    let (token, _) = store_accounts::create_session(&mut tx, &user, totp_ok).await?;
    tx.commit().await?;
    Ok((jar.add(session_cookie(&state, token)), Redirect::to("/")).into_response())
}

// ---------- home ----------

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
pub struct HomePage {
    chrome: Option<Chrome>,
    region_name: String,
    rows: Vec<(String, String, i64)>,
    total: i64,
    /// Unread alerts (newest first, the first few) and how many are unread in all.
    alerts: Vec<crate::alerts::NoteLine>,
    unread: i64,
}

pub async fn home(State(state): State<AppState>, who: CurrentUser) -> AppResult<Response> {
    if !who.may(Permission::ReadRegistry) {
        let to = match who.user.role {
            Role::Admin => "/admin/users",
            _ => "/audit",
        };
        return Ok(Redirect::to(to).into_response());
    }
    // Alerts at risk ≥ 3 stay at the top of the home page until read.
    let (alerts, unread) = crate::alerts::unread_alerts(&state, &who, 5).await?;
    let mut tx = state.db.begin().await?;
    let counts = if who.user.role == Role::Police {
        vec![]
    } else {
        persons::count_by_township(&mut tx, &who.scope).await?
    };
    tx.commit().await?;
    let total = counts.iter().map(|(_, n)| n).sum();
    let rows = counts
        .into_iter()
        .map(|(code, n)| {
            let name = state
                .tree
                .get(&code)
                .map(|r| r.name.clone())
                .unwrap_or_else(|| code.clone());
            (code, name, n)
        })
        .collect();
    Ok(HomePage {
        chrome: Some(Chrome::of(&state, &who)),
        region_name: state.tree.path_name(&who.user.region_code),
        rows,
        total,
        alerts,
        unread,
    }
    .into_response())
}

// ---------- persons ----------

pub struct PersonLine {
    id: i64,
    name: String,
    sex: &'static str,
    birth_date: String,
    id_masked: String,
    region: String,
    state: &'static str,
}

/// One choice of a filter's select: value, label, chosen.
pub struct Choice {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "persons.html")]
pub struct PersonsPage {
    chrome: Option<Chrome>,
    q: String,
    regions: Vec<Choice>,
    states: Vec<Choice>,
    persons: Vec<PersonLine>,
    next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct PersonsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    region: String,
    /// Registration state code (`in_service`, …); empty for all.
    #[serde(default)]
    state: String,
    /// Keyset cursor: "region.id" of the last person of the previous page.
    #[serde(default)]
    after: String,
}

const PAGE_SIZE: i64 = 50;

pub(crate) fn sex_label(code: &str) -> &'static str {
    match code {
        "male" => "男",
        "female" => "女",
        _ => "",
    }
}

pub async fn persons_list(
    State(state): State<AppState>,
    who: CurrentUser,
    Query(query): Query<PersonsQuery>,
) -> AppResult<Response> {
    let within = within_region(&state, &query.region)?;
    let state_filter = state_filter(&query.state)?;
    let after = query
        .after
        .split_once('.')
        .and_then(|(r, id)| Some((r.to_string(), id.parse().ok()?)));
    let filter = ListFilter {
        within,
        limit: Some(PAGE_SIZE + 1),
        after,
        search: Some(query.q.clone()).filter(|q| !q.trim().is_empty()),
        state: state_filter,
        ..Default::default()
    };
    let mut found = list_audited(&state, &who, filter, PAGE_SIZE as usize, "page").await?;
    let next = if found.len() as i64 > PAGE_SIZE {
        found.truncate(PAGE_SIZE as usize);
        found.last().map(|p| {
            let mut url = format!("/persons?after={}.{}", p.record.data.residence_region, p.id);
            if !query.q.is_empty() {
                url.push_str(&format!("&q={}", urlencode(&query.q)));
            }
            if !query.region.is_empty() {
                url.push_str(&format!("&region={}", urlencode(&query.region)));
            }
            if !query.state.is_empty() {
                url.push_str(&format!("&state={}", urlencode(&query.state)));
            }
            url
        })
    } else {
        None
    };
    let persons = found
        .into_iter()
        .map(|p| {
            let d = &p.record.data;
            PersonLine {
                id: p.id,
                name: d.name.clone(),
                sex: sex_label(&d.sex),
                birth_date: d.birth_date.to_string(),
                id_masked: registry::mask(Sensitivity::Identifier, &d.id_number),
                region: state
                    .tree
                    .get(&d.residence_region)
                    .map(|r| r.name.clone())
                    .unwrap_or_default(),
                state: p.state.label_zh(),
            }
        })
        .collect();
    let regions = region_choices(&state, &who, &query.region);
    let states = std::iter::once(Choice {
        value: String::new(),
        label: "全部".into(),
        selected: state_filter.is_none(),
    })
    .chain(RegistrationState::ALL.into_iter().map(|s| Choice {
        value: s.code().into(),
        label: s.label_zh().into(),
        selected: Some(s) == state_filter,
    }))
    .collect();
    Ok(PersonsPage {
        chrome: Some(Chrome::of(&state, &who)),
        q: query.q,
        regions,
        states,
        persons,
        next,
    }
    .into_response())
}

/// The region select of a list: 全部, then every region of the user's subtree down to township,
/// indented by level.
pub(crate) fn region_choices(state: &AppState, who: &CurrentUser, selected: &str) -> Vec<Choice> {
    let selected = selected.trim();
    std::iter::once(Choice {
        value: String::new(),
        label: "全部".into(),
        selected: selected.is_empty(),
    })
    .chain(
        state
            .tree
            .descendants_to(&who.user.region_code, Level::Township)
            .into_iter()
            .map(|r| Choice {
                selected: r.code == selected,
                label: format!(
                    "{}{}",
                    "\u{3000}".repeat((r.level as usize).saturating_sub(Level::County as usize)),
                    r.name
                ),
                value: r.code.clone(),
            }),
    )
    .collect()
}

/// The region a list is narrowed to (`region=` of a query), which must exist; empty: the scope.
pub(crate) fn within_region(state: &AppState, code: &str) -> AppResult<Option<Scope>> {
    let code = code.trim();
    if code.is_empty() {
        return Ok(None);
    }
    state
        .tree
        .get(code)
        .map(|r| Some(Scope::of(r)))
        .ok_or(AppError::NotFound)
}

/// The persons of a list page (pages and API), with the list's audit entry in the same
/// transaction. Listing shows masked identifiers only; opening a record is what is audited per
/// person. `shown` is how many of the rows the caller will show (it asks for one more).
pub(crate) async fn list_audited(
    state: &AppState,
    who: &CurrentUser,
    filter: ListFilter,
    shown: usize,
    via: &'static str,
) -> AppResult<Vec<persons::StoredPerson>> {
    list_audited_in(state, who, who.scope.clone(), filter, shown, via).await
}

/// [`list_audited`] in a scope narrower than the user's (a site's persons).
pub(crate) async fn list_audited_in(
    state: &AppState,
    who: &CurrentUser,
    scope: Scope,
    filter: ListFilter,
    shown: usize,
    via: &'static str,
) -> AppResult<Vec<persons::StoredPerson>> {
    let actor = who.user.actor();
    Ok(state
        .writes
        .run(move |tx| {
            let (scope, actor, filter) = (scope.clone(), actor.clone(), filter.clone());
            Box::pin(async move {
                let found = persons::list(tx, &scope, &filter).await?;
                audit::record(
                    tx,
                    &actor,
                    "person.list",
                    None,
                    serde_json::json!({"results": found.len().min(shown), "via": via}),
                )
                .await?;
                Ok(Outcome::Keep(found))
            })
        })
        .await?)
}

/// A registration-state code from a filter (empty: all states).
pub(crate) fn state_filter(code: &str) -> AppResult<Option<RegistrationState>> {
    let code = code.trim();
    if code.is_empty() {
        return Ok(None);
    }
    RegistrationState::from_code(code)
        .map(Some)
        .ok_or(AppError::BadRequest("form-invalid".into()))
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub struct FieldLine {
    key: String,
    label: &'static str,
    value: String,
    masked: bool,
}

pub struct HistoryLine {
    at: String,
    label: String,
    old: String,
    new: String,
    source: String,
    actor: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "person.html")]
pub struct PersonPage {
    chrome: Option<Chrome>,
    csrf: String,
    can_edit: bool,
    /// After a save: how many fields changed (`Some(0)`: nothing).
    saved: Option<u32>,
    created: bool,
    id: i64,
    name: String,
    /// 登记状态 label.
    state_label: &'static str,
    fields: Vec<FieldLine>,
    history: Vec<HistoryLine>,
    /// Registration: what can be done now, what was done, and the outcome of the last attempt.
    pub(crate) reg_actions: Vec<Choice>,
    pub(crate) close_reasons: Vec<Choice>,
    /// The registration form as typed, after a refusal.
    pub(crate) reg_reason: String,
    pub(crate) reg_checked: bool,
    reg_events: Vec<RegLine>,
    reg_notice: Option<String>,
    pub(crate) reg_error: Option<String>,
    /// Shown to those who register, while the person is 待评估.
    eligibility: Vec<EligLine>,
    eligible: bool,
    /// The 随访 section, for roles that read clinical content.
    pub(crate) followups: Option<crate::followups::FollowupSection>,
    /// 应急处置, for the same roles.
    emergencies: Option<Vec<crate::alerts::EmergencyLine>>,
    can_record_emergency: bool,
    can_refer: bool,
    em_notice: Option<String>,
    /// 康复评估: the table and the charts, for the roles that read clinical content.
    assessments: Option<(
        Vec<crate::assessments::AssessmentLine>,
        Vec<crate::assessments::Chart>,
    )>,
    /// 康复服务 the person attended, newest first.
    services: Option<Vec<crate::services::SessionLine>>,
    /// 家庭支持: respite episodes, trainings the family attended, group memberships.
    family: Option<crate::family::FamilySection>,
    can_assess: bool,
    assessed: bool,
    /// 个案康复计划: the current version first, for the roles that read clinical content.
    plans: Option<Vec<crate::plans::PlanView>>,
    can_plan: bool,
    /// After a plan was saved: its version.
    planned: Option<i64>,
    /// 协议, for those who sign them and the health side.
    agreements: Option<Vec<crate::agreements::AgreementLine>>,
    can_record_agreement: bool,
    agreement_kinds: Vec<Choice>,
    pub(crate) agreement_error: Option<String>,
    today: String,
    /// The record this duplicate was merged into.
    merged_into: Option<i64>,
    merges: Vec<MergeLine>,
}

/// A merge on the person page.
pub struct MergeLine {
    at: String,
    text: String,
    item: Option<i64>,
    actor: String,
}

/// One registration state change on the person page.
pub struct RegLine {
    at: String,
    event: &'static str,
    change: String,
    reason: String,
    actor: String,
}

/// A person as its page shows it: the record, its field history, its registration events.
pub(crate) struct Loaded {
    pub(crate) p: persons::StoredPerson,
    history: Vec<HistoryLine>,
    events: Vec<RegistrationEvent>,
    merges: Vec<jingkang_core::store::merge::MergeRow>,
    /// The eligibility rule's conditions, decided on the record and its risk history.
    checks: Vec<eligibility::Check>,
    followups: Option<(Option<followups::Schedule>, Vec<followups::StoredFollowup>)>,
    /// The follow-up just recorded (its notice is shown).
    pub(crate) just_recorded: Option<i64>,
    emergencies: Vec<jingkang_core::store::emergencies::StoredEmergency>,
    agreements: Vec<jingkang_core::store::agreements::StoredAgreement>,
    assessments: Vec<jingkang_core::store::assessments::StoredAssessment>,
    services: Vec<jingkang_core::store::services::StoredSession>,
    plans: Vec<jingkang_core::store::plans::StoredPlan>,
    family: crate::family::PersonFamily,
}

/// The eligibility rule's conditions for `p` on `evidence`, places by name.
pub(crate) fn decide(
    state: &AppState,
    p: &persons::StoredPerson,
    evidence: &eligibility::Evidence,
) -> Vec<eligibility::Check> {
    let mut checks = eligibility_rule()
        .map(|rule| eligibility::evaluate(rule, &p.record.data, evidence, crate::entry::today()))
        .unwrap_or_default();
    let d = &p.record.data;
    for c in checks.iter_mut().filter(|c| c.key == "area") {
        c.detail = match d.household_region.as_deref().filter(|h| !h.is_empty()) {
            Some(h) => format!(
                "现居住地 {}；户籍地 {}",
                state.tree.path_name(&d.residence_region),
                state.tree.path_name(h)
            ),
            None => format!("现居住地 {}", state.tree.path_name(&d.residence_region)),
        };
    }
    checks
}

/// One condition of the eligibility rule on the person page.
pub struct EligLine {
    condition: String,
    verdict: &'static str,
    pass: bool,
    detail: String,
}

/// The shipped eligibility rule, parsed once (a test checks that it parses).
pub(crate) fn eligibility_rule() -> Option<&'static eligibility::Rule> {
    static RULE: std::sync::OnceLock<Option<eligibility::Rule>> = std::sync::OnceLock::new();
    RULE.get_or_init(|| match eligibility::Rule::default_rule() {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::error!(error = %e, "the eligibility rule does not parse");
            None
        }
    })
    .as_ref()
}

fn display_value(state: &AppState, field: &str, raw: &str) -> String {
    match field {
        "sex" => sex_label(raw).to_string(),
        "residence_region" | "household_region" => state.tree.path_name(raw),
        "disability_category" => raw
            .parse::<u8>()
            .ok()
            .and_then(jingkang_core::domain::DisabilityCategory::from_code)
            .map_or_else(|| raw.to_string(), |c| c.label_zh().to_string()),
        "disability_grade" => raw
            .parse::<u8>()
            .ok()
            .and_then(jingkang_core::domain::DisabilityGrade::from_number)
            .map_or_else(|| raw.to_string(), |g| g.label_zh().to_string()),
        "subsistence_allowance" | "extreme_poverty" | "low_income" => {
            (if raw == "1" || raw == "true" {
                "是"
            } else {
                "否"
            })
            .to_string()
        }
        _ => {
            let label = jingkang_core::registry::codes::label(field, raw);
            if label.is_empty() {
                raw.to_string()
            } else {
                label
            }
        }
    }
}

/// Read person `id` as `who` may see it, audited, together with what `more` reads about the person
/// in the same transaction (a group-committed one). `None`: absent, out of scope or not for this
/// role — and then the read leaves no audit entry.
pub(crate) async fn read_person<T: Send + 'static>(
    state: &AppState,
    who: &CurrentUser,
    id: i64,
    more: for<'a> fn(&'a mut Tx, &'a Scope, i64) -> BoxFuture<'a, anyhow::Result<T>>,
) -> AppResult<Option<(persons::StoredPerson, T)>> {
    let reader = who.clone();
    // The record, its audit entry and what the page shows beside it in one (group-committed)
    // transaction. Reading the sections in a read transaction after the audited one was measured
    // slower (bench web, 1 M persons with a year of history: 916 → 605 requests/s): two
    // transactions and four reader threads cost more hand-offs than the writer's queue saves.
    Ok(state
        .writes
        .run(move |tx| {
            let reader = reader.clone();
            Box::pin(async move {
                let Some(p) = persons::get(tx, &reader.scope, &reader.user.actor(), id).await?
                else {
                    return Ok(Outcome::Keep(None));
                };
                let extra = more(tx, &reader.scope, id).await?;
                Ok(Outcome::Keep(Some((p, extra))))
            })
        })
        .await?)
}

/// What the person page shows besides the record, read in the same transaction.
#[derive(Default)]
pub(crate) struct More {
    history: Vec<persons::HistoryEntry>,
    events: Vec<RegistrationEvent>,
    /// Merges the record took part in (信息比对).
    merges: Vec<jingkang_core::store::merge::MergeRow>,
    /// For roles that read clinical content: the schedule and the follow-ups.
    followups: Option<(Option<followups::Schedule>, Vec<followups::StoredFollowup>)>,
    emergencies: Vec<jingkang_core::store::emergencies::StoredEmergency>,
    agreements: Vec<jingkang_core::store::agreements::StoredAgreement>,
    assessments: Vec<jingkang_core::store::assessments::StoredAssessment>,
    services: Vec<jingkang_core::store::services::StoredSession>,
    plans: Vec<jingkang_core::store::plans::StoredPlan>,
    /// 家庭支持: respite, the family's trainings and groups.
    family: crate::family::PersonFamily,
}

/// Follow-ups the person page lists, newest first.
const PAGE_FOLLOWUPS: i64 = 100;

/// For roles that see neither clinical content nor agreements (police, 残联): only the record's
/// own history — nothing is read that the page would not show.
fn more_limited<'a>(
    tx: &'a mut Tx,
    scope: &'a Scope,
    id: i64,
) -> BoxFuture<'a, anyhow::Result<More>> {
    Box::pin(async move {
        Ok(More {
            history: persons::history(tx, scope, id).await?,
            events: registration::events(tx, scope, id).await?,
            merges: jingkang_core::store::merge::of_person(tx, scope, id).await?,
            ..More::default()
        })
    })
}

fn more_basic<'a>(
    tx: &'a mut Tx,
    scope: &'a Scope,
    id: i64,
) -> BoxFuture<'a, anyhow::Result<More>> {
    Box::pin(async move {
        Ok(More {
            history: persons::history(tx, scope, id).await?,
            events: registration::events(tx, scope, id).await?,
            merges: jingkang_core::store::merge::of_person(tx, scope, id).await?,
            agreements: jingkang_core::store::agreements::of_person(tx, scope, id).await?,
            ..More::default()
        })
    })
}

fn more_clinical<'a>(
    tx: &'a mut Tx,
    scope: &'a Scope,
    id: i64,
) -> BoxFuture<'a, anyhow::Result<More>> {
    Box::pin(async move {
        Ok(More {
            history: persons::history(tx, scope, id).await?,
            events: registration::events(tx, scope, id).await?,
            merges: jingkang_core::store::merge::of_person(tx, scope, id).await?,
            followups: Some((
                followups::schedule(tx, scope, id).await?,
                followups::list(tx, scope, id, PAGE_FOLLOWUPS).await?,
            )),
            emergencies: jingkang_core::store::emergencies::of_person(tx, scope, id).await?,
            agreements: jingkang_core::store::agreements::of_person(tx, scope, id).await?,
            assessments: jingkang_core::store::assessments::of_person(tx, scope, id).await?,
            services: jingkang_core::store::services::of_person(tx, scope, id, 100).await?,
            plans: jingkang_core::store::plans::of_person(tx, scope, id).await?,
            family: crate::family::of_person(tx, scope, id).await?,
        })
    })
}

pub(crate) async fn load_person(state: &AppState, who: &CurrentUser, id: i64) -> AppResult<Loaded> {
    let role = who.user.role;
    let more = if role.may(Permission::ReadClinical) {
        more_clinical
    } else if role.may(Permission::ReadAgreements) {
        more_basic
    } else {
        more_limited
    };
    let Some((
        p,
        More {
            history,
            events,
            merges,
            followups,
            emergencies,
            agreements,
            assessments,
            services,
            plans,
            family,
        },
    )) = read_person(state, who, id, more).await?
    else {
        return Err(AppError::NotFound);
    };
    let evidence = jingkang_core::store::registration::evidence_of(
        &history,
        &agreements,
        crate::entry::today(),
    );
    let checks = decide(state, &p, &evidence);
    let history = history
        .into_iter()
        .filter(|h| who.may_see_field(&h.field))
        .map(|h| {
            let (label, old, new) = if h.field == "registration_state" {
                let show = |v: Option<String>| {
                    v.as_deref()
                        .and_then(RegistrationState::from_code)
                        .map(|s| s.label_zh().to_string())
                        .unwrap_or_default()
                };
                ("登记状态".to_string(), show(h.old), show(h.new))
            } else {
                let sens = registry::field(&h.field)
                    .map(|d| d.sensitivity)
                    .unwrap_or(Sensitivity::Plain);
                let show =
                    |v: Option<String>| v.map(|v| registry::mask(sens, &v)).unwrap_or_default();
                (
                    registry::field(&h.field)
                        .map(|d| d.label_zh.to_string())
                        .unwrap_or(h.field.clone()),
                    show(h.old),
                    show(h.new),
                )
            };
            HistoryLine {
                at: beijing_time(h.at),
                label,
                old,
                new,
                source: h.source,
                actor: h.actor,
            }
        })
        .collect();
    Ok(Loaded {
        p,
        history,
        events,
        merges,
        checks,
        followups,
        just_recorded: None,
        emergencies,
        agreements,
        assessments,
        services,
        plans,
        family,
    })
}

/// A timestamp as users read it: China Standard Time (UTC+8), to the minute.
pub use jingkang_core::domain::clock::minute as beijing_time;

pub(crate) fn person_page(
    state: &AppState,
    who: &CurrentUser,
    loaded: Loaded,
    revealed: Option<(&str, String)>,
) -> PersonPage {
    let Loaded {
        p,
        history,
        events,
        merges,
        checks,
        followups,
        just_recorded,
        emergencies,
        agreements,
        assessments,
        services,
        plans,
        family,
    } = loaded;
    let agreement_lines = crate::agreements::lines(p.id, agreements);
    let clinical = followups.is_some();
    let p = &p;
    let fields = registry::FIELDS
        .iter()
        .filter(|d| who.may_see_field(d.name))
        .filter_map(|d| {
            let raw = p.record.get(d.name)?;
            if raw.is_empty() {
                return None;
            }
            let (value, masked) = match (&revealed, d.sensitivity) {
                (Some((f, v)), _) if *f == d.name => (v.clone(), false),
                (_, Sensitivity::Plain) => (display_value(state, d.name, &raw), false),
                (_, s) => (registry::mask(s, &raw), true),
            };
            Some(FieldLine {
                key: d.name.replace('.', "-"),
                label: d.label_zh,
                value,
                masked,
            })
        })
        .collect();
    let can_edit = who.may(Permission::EditRegistry);
    let reg_actions = if can_edit {
        care_registration::sample_events()
            .into_iter()
            .filter(|e| care_registration::allowed(p.state).contains(&e.code()))
            .map(|e| Choice {
                value: e.code().into(),
                label: e.label_zh().into(),
                selected: false,
            })
            .collect()
    } else {
        Vec::new()
    };
    let close_reasons = CloseReason::ALL
        .into_iter()
        .map(|r| Choice {
            value: r.code().into(),
            label: r.label_zh().into(),
            selected: false,
        })
        .collect();
    let label = |code: &str| RegistrationState::from_code(code).map_or("", |s| s.label_zh());
    let reasons_shown = who.may_see_field("registration.reason");
    let reg_events = events
        .into_iter()
        .rev()
        .map(|e| RegLine {
            at: beijing_time(e.at),
            event: care_registration::event_label(&e.event),
            change: format!("{} → {}", label(&e.from_state), label(&e.to_state)),
            reason: [
                e.close_reason().map(|r| r.label_zh().to_string()),
                e.exception.then(|| "例外登记".to_string()),
                e.reason.clone(),
            ]
            .into_iter()
            .flatten()
            .filter(|_| reasons_shown)
            .collect::<Vec<_>>()
            .join("；"),
            actor: e.actor,
        })
        .collect();
    PersonPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        can_edit,
        reg_actions,
        close_reasons,
        reg_events,
        reg_notice: None,
        reg_error: None,
        reg_reason: String::new(),
        reg_checked: false,
        eligible: eligibility::eligible(&checks),
        eligibility: if can_edit && p.state == RegistrationState::Pending {
            checks
                .into_iter()
                .map(|c| EligLine {
                    pass: c.verdict == eligibility::Verdict::Pass,
                    verdict: c.verdict.label_zh(),
                    condition: c.condition,
                    detail: c.detail,
                })
                .collect()
        } else {
            Vec::new()
        },
        saved: None,
        created: false,
        followups: followups
            .map(|(schedule, list)| crate::followups::section(who, schedule, list, just_recorded)),
        emergencies: clinical.then(|| crate::alerts::lines(emergencies)),
        agreements: who
            .may(Permission::ReadAgreements)
            .then_some(agreement_lines),
        can_record_agreement: who.may(Permission::ManageAgreements),
        agreement_kinds: jingkang_core::care::agreement::AgreementKind::ALL
            .into_iter()
            .map(|k| Choice {
                value: k.code().into(),
                label: k.label_zh().into(),
                selected: false,
            })
            .collect(),
        agreement_error: None,
        today: crate::entry::today().to_string(),
        can_record_emergency: who.may(Permission::RecordEmergencies),
        can_refer: crate::referrals::may_refer(state, who),
        em_notice: None,
        assessments: clinical.then(|| crate::assessments::section(state, &assessments)),
        services: clinical.then(|| crate::services::lines(state, &services)),
        family: clinical.then(|| crate::family::section(who, family)),
        can_assess: who.may(Permission::RecordAssessments),
        assessed: false,
        plans: clinical.then(|| crate::plans::section(state, &plans)),
        can_plan: who.may(Permission::RecordPlans),
        planned: None,
        merged_into: merges
            .iter()
            .find(|m| m.absorbed_id == p.id && !m.undone)
            .map(|m| m.survivor_id),
        merges: merges
            .iter()
            .map(|m| MergeLine {
                at: beijing_time(m.at),
                text: jingkang_core::messages::render(
                    if m.undone {
                        "merge-line-undone"
                    } else {
                        "merge-line"
                    },
                    &[
                        ("absorbed", &m.absorbed_id.to_string()),
                        ("survivor", &m.survivor_id.to_string()),
                    ],
                ),
                item: m.item_id,
                actor: m.actor.clone(),
            })
            .collect(),
        id: p.id,
        name: p.record.data.name.clone(),
        state_label: p.state.label_zh(),
        fields,
        history,
    }
}

pub async fn person_show(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<ShowQuery>,
) -> AppResult<Response> {
    let mut loaded = load_person(&state, &who, id).await?;
    loaded.just_recorded = q.fu;
    // After a follow-up that raised an alert, the confirmation says who was told, and when.
    let told = match q.fu {
        Some(fid) => {
            let mut tx = state.db.begin_read().await?;
            let sent = jingkang_core::store::alerts::sent_for(
                &mut tx,
                &who.scope,
                id,
                (jingkang_core::store::alerts::AlertKind::Followup, fid),
            )
            .await?;
            tx.commit().await?;
            crate::alerts::told_line(&state, &sent)
        }
        None => None,
    };
    let mut page = person_page(&state, &who, loaded, None);
    if let (Some(told), Some(section)) = (told, page.followups.as_mut()) {
        section.notice = Some(match section.notice.take() {
            Some(n) => format!("{n}{told}"),
            None => told,
        });
    }
    page.saved = q.saved;
    page.em_notice = q.em.map(|n| {
        if n > 0 {
            "已记录应急处置，并已通知辖区公安、街镇和精防医生。".to_string()
        } else {
            "已记录应急处置。".to_string()
        }
    });
    page.created = q.created;
    page.assessed = q.assessed.is_some();
    page.planned = q.plan;
    page.reg_notice = q
        .reg
        .as_deref()
        .and_then(RegistrationState::from_code)
        .map(|s| format!("登记状态已改为“{}”。", s.label_zh()));
    Ok(page.into_response())
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    saved: Option<u32>,
    #[serde(default)]
    created: bool,
    /// After a registration change: the new state's code.
    reg: Option<String>,
    /// After a follow-up was recorded: its id.
    fu: Option<i64>,
    /// After an emergency was recorded: how many notifications went out.
    em: Option<usize>,
    /// After an assessment was recorded: its id.
    assessed: Option<i64>,
    /// After a plan was saved: its version.
    plan: Option<i64>,
}

#[derive(Deserialize)]
pub struct RevealForm {
    field: String,
    reason: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "revealed.html")]
pub struct Revealed {
    value: String,
}

/// Show one masked field of one person in clear, after a reason is given; audited with the reason.
pub async fn person_reveal(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Form(form): Form<RevealForm>,
) -> AppResult<Response> {
    let field = form.field.replace('-', ".");
    let def = registry::field(&field)
        .filter(|d| d.sensitivity != Sensitivity::Plain)
        .ok_or(AppError::BadRequest("not-found".into()))?;
    if !who.may_see_field(def.name) {
        return Err(AppError::Forbidden);
    }
    let reason = form.reason.trim();
    if reason.is_empty() {
        return Err(AppError::BadRequest("reveal-reason-missing".into()));
    }
    let loaded = load_person(&state, &who, id).await?;
    let value = loaded.p.record.get(def.name).ok_or(AppError::NotFound)?;
    let mut tx = state.db.begin().await?;
    audit::record(&mut tx, &who.user.actor(), "person.reveal", Some(Target::person(id)),
        serde_json::json!({"field": def.name, "reason": reason.chars().take(200).collect::<String>()})).await?;
    tx.commit().await?;
    if headers.contains_key("hx-request") {
        Ok(Revealed { value }.into_response())
    } else {
        Ok(person_page(&state, &who, loaded, Some((def.name, value))).into_response())
    }
}

/// Record one audit entry (a download of figures without persons in it) in its own write.
pub(crate) async fn audit_alone(
    state: &AppState,
    who: &CurrentUser,
    action: &'static str,
    region: &str,
    detail: serde_json::Value,
) -> AppResult<()> {
    let (actor, region) = (who.user.actor(), region.to_string());
    state
        .writes
        .run(move |tx| {
            let (actor, region, detail) = (actor.clone(), region.clone(), detail.clone());
            Box::pin(async move {
                audit::record(tx, &actor, action, Some(Target::region(&region)), detail).await?;
                Ok(jingkang_core::store::batch::Outcome::Keep(()))
            })
        })
        .await?;
    Ok(())
}
