//! Who is asking: the session (cookie) or API token behind a request and their region scope.
//!
//! What a route needs is not declared here nor in its handler: the route table (`lib.rs`,
//! `table()`) declares each route's [`Access`](crate::Access) — a
//! [`Permission`](jingkang_core::accounts::policy::Permission) of `accounts::policy`, whose role
//! lists live in the core — and the router enforces it as a layer in front of the handler
//! (`crate::require`), which finds the [`CurrentUser`] and answers 403 when the role lacks the
//! permission. Handlers take the [`CurrentUser`] (or `api_base::ApiUser`) the layer found; pages
//! ask [`CurrentUser::may`] before showing a link or section.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use jingkang_core::accounts::policy::Permission;
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
    /// Whether this user's role holds `permission` (for showing links and sections; routes are
    /// guarded by the route table).
    pub fn may(&self, permission: Permission) -> bool {
        self.user.role.may(permission)
    }
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
        // Found once per request: the route's access layer finds the user, the handler and the
        // form extractor (which checks the CSRF token) read it back.
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
