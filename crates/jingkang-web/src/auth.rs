//! Who is asking: the session (cookie) or API token behind a request, their region scope, and the
//! role a handler needs — declared in the handler's signature with [`Need`].

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use jingkang_core::accounts::Role;
use jingkang_core::regions::Scope;
use jingkang_core::store::accounts::{self, Session, User};

use crate::AppState;
use crate::error::AppError;

pub const SESSION_COOKIE: &str = "jk_session";
/// Double-submit token protecting the login form (there is no session yet to hold one).
pub const LOGIN_CSRF_COOKIE: &str = "jk_login_csrf";

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    /// `None` for API token requests.
    pub session: Option<Session>,
    /// The user's region subtree: every person query of the request goes through it.
    pub scope: Scope,
}

impl CurrentUser {
    /// Whether this user may see a field of a person (`accounts::policy`'s field table).
    pub fn may_see_field(&self, field: &str) -> bool {
        jingkang_core::accounts::policy::may_see_field(self.user.role, field)
    }
    pub fn csrf(&self) -> &str {
        self.session.as_ref().map(|s| s.csrf.as_str()).unwrap_or("")
    }
    /// Check the CSRF token a form sent against the session's.
    pub fn check_csrf(&self, sent: &str) -> Result<(), AppError> {
        match &self.session {
            Some(s) if constant_time_eq(s.csrf.as_bytes(), sent.as_bytes()) => Ok(()),
            Some(_) => Err(AppError::Csrf),
            None => Ok(()), // bearer tokens are not sent by browsers automatically: no CSRF
        }
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Paths a user who must change the password (or give the second factor) may still reach.
fn allowed_while_pending(path: &str) -> bool {
    matches!(
        path,
        "/account/password" | "/logout" | "/login/totp" | "/account/totp"
    )
}

impl<S> FromRequestParts<S> for CurrentUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Found once per request: the route's `Need` finds the user, the form extractor (which
        // checks the CSRF token) reads it back.
        if let Some(found) = parts.extensions.get::<CurrentUser>() {
            return Ok(found.clone());
        }
        let state = AppState::from_ref(state);
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .map(str::to_string);
        let jar = CookieJar::from_headers(&parts.headers);
        // Reading only, beside the writer; the rare write (an expired session deleted, `last_seen`
        // touched once a minute) gets its own short transaction.
        let (user, session) = if let Some(token) = bearer {
            let mut tx = state.db.begin_read().await?;
            let found = accounts::token_user(&mut tx, &token).await?;
            tx.commit().await?;
            match found {
                Some(u) if u.disabled => return Err(AppError::Disabled),
                Some(u) => (u, None),
                None => return Err(AppError::Login),
            }
        } else {
            let Some(cookie) = jar.get(SESSION_COOKIE) else {
                return Err(AppError::Login);
            };
            let found = accounts::find_session(&state.db, cookie.value()).await?;
            match found {
                accounts::SessionLookup::Missing => return Err(AppError::Login),
                accounts::SessionLookup::Expired => {
                    let mut tx = state.db.begin().await?;
                    accounts::delete_session(&mut tx, cookie.value()).await?;
                    tx.commit().await?;
                    return Err(AppError::Login);
                }
                accounts::SessionLookup::Live {
                    user,
                    session,
                    stale,
                } => {
                    if stale {
                        let mut tx = state.db.begin().await?;
                        accounts::touch_session(&mut tx, &session).await?;
                        tx.commit().await?;
                    }
                    (*user, Some(session))
                }
            }
        };
        if let Some(s) = &session {
            let path = parts.uri.path();
            if s.held.is_some() && !matches!(path, "/login/totp" | "/logout") {
                return Err(AppError::RedirectTo("/login/totp"));
            }
            if !allowed_while_pending(path) {
                if user.role.requires_totp() && !user.totp_enrolled {
                    return Err(AppError::RedirectTo("/account/totp"));
                }
                if user.totp_enrolled && !s.totp_ok {
                    return Err(AppError::RedirectTo("/login/totp"));
                }
                if user.must_change_password
                    || user
                        .password_expired(chrono::Utc::now(), state.settings.password_max_age_days)
                {
                    return Err(AppError::RedirectTo("/account/password"));
                }
            }
        }
        let region = state
            .tree
            .get(&user.region_code)
            .ok_or(AppError::Forbidden)?;
        // The region and the row rules of the role (a site's staff: their site's persons; the
        // police: persons at risk ≥ 3), applied by the store to every person query.
        let scope = Scope::of(region).with_rows(jingkang_core::accounts::policy::rows(
            user.role,
            user.site_id,
        ));
        let who = CurrentUser {
            user,
            session,
            scope,
        };
        parts.extensions.insert(who.clone());
        Ok(who)
    }
}

/// A set of roles allowed to use a handler.
pub trait Policy: Send + Sync + 'static {
    const ROLES: &'static [Role];
}

/// The signed-in user, if their role is allowed by `P`; otherwise 403.
#[derive(Debug, Clone)]
pub struct Need<P: Policy> {
    pub who: CurrentUser,
    _policy: PhantomData<P>,
}

impl<P: Policy> std::ops::Deref for Need<P> {
    type Target = CurrentUser;
    fn deref(&self) -> &CurrentUser {
        &self.who
    }
}

impl<S, P> FromRequestParts<S> for Need<P>
where
    AppState: FromRef<S>,
    S: Send + Sync,
    P: Policy,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let who = CurrentUser::from_request_parts(parts, state).await?;
        if P::ROLES.contains(&who.user.role) {
            Ok(Need {
                who,
                _policy: PhantomData,
            })
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// Roles that read the person registry of their region. `admin` manages accounts and does not
/// read person records (least privilege); `auditor` reads the audit log, not records.
pub struct ReadRegistry;
impl Policy for ReadRegistry {
    const ROLES: &'static [Role] = &[
        Role::Civil,
        Role::Township,
        Role::Worker,
        Role::Doctor,
        Role::Hospital,
        Role::Disability,
        Role::Health,
        Role::Police,
    ];
}

/// Roles that compare a department's list with the registry of their region (信息比对): the
/// departments that exchange lists, and the township that checks the differences on the ground.
pub struct CompareLists;
impl Policy for CompareLists {
    const ROLES: &'static [Role] = &[
        Role::Civil,
        Role::Township,
        Role::Health,
        Role::Police,
        Role::Disability,
    ];
}

/// Any signed-in user.
pub struct AnyUser;
impl Policy for AnyUser {
    const ROLES: &'static [Role] = &Role::ALL;
}

pub struct Admins;
impl Policy for Admins {
    const ROLES: &'static [Role] = &[Role::Admin];
}

pub struct Auditors;
impl Policy for Auditors {
    const ROLES: &'static [Role] = &[Role::Auditor, Role::Admin];
}

/// Roles that register and correct persons and import rosters (SPEC §1: 街镇 staff; 民政 staff of
/// the district for their county).
pub struct EditRegistry;
impl Policy for EditRegistry {
    const ROLES: &'static [Role] = &[Role::Civil, Role::Township];
}

/// Roles that read clinical content — follow-ups, risk history, worklists (SPEC §10): the health
/// side, the township and its workers. Not the police (identity, address, guardian and current
/// risk only), not 残联 or 民政.
pub struct ReadClinical;
impl Policy for ReadClinical {
    const ROLES: &'static [Role] = &[
        Role::Township,
        Role::Worker,
        Role::Doctor,
        Role::Hospital,
        Role::Health,
    ];
}

/// Roles that record follow-ups: the doctors of primary care and of the psychiatric hospital.
pub struct RecordFollowups;
impl Policy for RecordFollowups {
    const ROLES: &'static [Role] = &[Role::Doctor, Role::Hospital];
}

/// Whether `role` is allowed by policy `P` (for showing links and sections).
pub fn allows<P: Policy>(role: Role) -> bool {
    P::ROLES.contains(&role)
}

/// Roles that record rehabilitation services (SPEC §6): the township and site workers.
pub struct RecordServices;
impl Policy for RecordServices {
    const ROLES: &'static [Role] = &[Role::Township, Role::Worker];
}

/// Roles that read the register of institutions and their staff (SPEC §7): 民政 oversees them,
/// the township and the sites' own workers keep them, 卫健 reads.
pub struct ReadInstitutions;
impl Policy for ReadInstitutions {
    const ROLES: &'static [Role] = &[Role::Civil, Role::Township, Role::Worker, Role::Health];
}

/// Roles that register institutions, change them and put persons in a site's care: 民政 and the
/// township (SPEC §1: 民政 manages institutions and purchase contracts).
pub struct ManageInstitutions;
impl Policy for ManageInstitutions {
    const ROLES: &'static [Role] = &[Role::Civil, Role::Township];
}

/// Roles that keep staff records (certificates, training hours): those who manage institutions
/// and a site's own workers (for their site only, by their scope).
pub struct ManageStaff;
impl Policy for ManageStaff {
    const ROLES: &'static [Role] = &[Role::Civil, Role::Township, Role::Worker];
}

/// Roles that read purchase-of-service contracts and what they bought (SPEC §7).
pub struct ReadContracts;
impl Policy for ReadContracts {
    const ROLES: &'static [Role] = &[Role::Civil, Role::Township];
}

/// Roles that record purchase-of-service contracts: 民政 (SPEC §1).
pub struct ManageContracts;
impl Policy for ManageContracts {
    const ROLES: &'static [Role] = &[Role::Civil];
}

/// The indicator dashboard and the lists behind its figures (民政, 街镇, 卫健).
pub struct ReadIndicators;
impl Policy for ReadIndicators {
    const ROLES: &'static [Role] = &[Role::Civil, Role::Township, Role::Health];
}

/// Roles that read the quarterly report (附件2, SPEC §9): the townships that file it and 民政,
/// which reviews and signs it.
pub struct ReadReports;
impl Policy for ReadReports {
    const ROLES: &'static [Role] = &[Role::Civil, Role::Township];
}

/// Roles that fill in and 填报 their township's report.
pub struct FileReports;
impl Policy for FileReports {
    const ROLES: &'static [Role] = &[Role::Township];
}

/// Roles that 审核, 退回 and 签发 reports: 民政 (SPEC §9).
pub struct ReviewReports;
impl Policy for ReviewReports {
    const ROLES: &'static [Role] = &[Role::Civil];
}

/// Roles that write 个案康复计划 (SPEC §6): the township and site workers.
pub struct RecordPlans;
impl Policy for RecordPlans {
    const ROLES: &'static [Role] = &[Role::Township, Role::Worker];
}

/// Roles that assess (SPEC §6): the township, site workers, doctors and hospitals.
pub struct RecordAssessments;
impl Policy for RecordAssessments {
    const ROLES: &'static [Role] = &[Role::Township, Role::Worker, Role::Doctor, Role::Hospital];
}

pub struct RecordEmergencies;
impl Policy for RecordEmergencies {
    const ROLES: &'static [Role] = &[Role::Doctor, Role::Hospital, Role::Township, Role::Worker];
}

/// Roles that record agreements with a person (the township and its workers, 民政 of the district).
pub struct ManageAgreements;
impl Policy for ManageAgreements {
    const ROLES: &'static [Role] = &[Role::Civil, Role::Township, Role::Worker];
}

/// Roles that see a person's agreements and their scans.
pub struct ReadAgreements;
impl Policy for ReadAgreements {
    const ROLES: &'static [Role] = &[
        Role::Civil,
        Role::Township,
        Role::Worker,
        Role::Doctor,
        Role::Hospital,
        Role::Health,
    ];
}

/// Roles that send and receive referrals (SPEC §5): hospitals, the township and its workers, the
/// doctors, 残联 (employment) and 民政. Which kinds each sends and receives is data
/// (`data/referrals.json`); which side a user is on is their scope.
pub struct Referrals;
impl Policy for Referrals {
    const ROLES: &'static [Role] = &[
        Role::Civil,
        Role::Township,
        Role::Worker,
        Role::Doctor,
        Role::Hospital,
        Role::Disability,
    ];
}
