//! axum's extractors with our rejection: a malformed form, path or query string gets the Chinese
//! error page (400), never axum's English plain text.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::AppError;

/// A posted form (`application/x-www-form-urlencoded`) whose CSRF token is checked against the
/// signed-in session before the handler sees it: a handler never checks it itself. A request
/// without a session (the login form; an API token, which browsers do not send by themselves) has
/// nothing to check; the route's access layer has refused it if it needs a user.
pub struct Form<T>(pub T);

/// The token a form carries, whatever else it holds.
#[derive(serde::Deserialize)]
struct Token {
    #[serde(default)]
    csrf: String,
}

/// The session user of the request, if any (cached by the route's access layer).
async fn session_user<S>(parts: &mut axum::http::request::Parts, state: &S) -> Option<CurrentUser>
where
    AppState: axum::extract::FromRef<S>,
    S: Send + Sync,
{
    CurrentUser::from_request_parts(parts, state)
        .await
        .ok()
        .filter(|who| who.session.is_some())
}

impl<S, T> FromRequest<S> for Form<T>
where
    T: serde::de::DeserializeOwned,
    AppState: axum::extract::FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, AppError> {
        let (mut parts, body) = req.into_parts();
        let who = session_user(&mut parts, state).await;
        let req = axum::extract::Request::from_parts(parts, body);
        let urlencoded = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !urlencoded {
            return Err(AppError::BadRequest("form-invalid".into()));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| AppError::BadRequest("form-invalid".into()))?;
        if let Some(who) = who {
            let token: Token = serde_urlencoded::from_bytes(&bytes)
                .map_err(|_| AppError::BadRequest("form-invalid".into()))?;
            who.check_csrf(&token.csrf)?;
        }
        serde_urlencoded::from_bytes(&bytes).map(Form).map_err(|e| {
            tracing::debug!(error = %e, "form rejected");
            AppError::BadRequest("form-invalid".into())
        })
    }
}

/// A form that carries nothing but its CSRF token (a button: log out, disable, sign).
pub type Posted = Form<serde::de::IgnoredAny>;

/// A multipart upload whose first part is the CSRF token, checked against the signed-in session
/// before the handler reads the rest (our forms put the token first; a form that does not is
/// refused). Without a session there is nothing to check.
pub struct Multipart(pub axum::extract::Multipart);

impl<S> FromRequest<S> for Multipart
where
    AppState: axum::extract::FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, AppError> {
        let bad = || AppError::BadRequest("upload-invalid".into());
        let failed = |e: axum::extract::multipart::MultipartError| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::TooLarge
            } else {
                bad()
            }
        };
        let (mut parts, body) = req.into_parts();
        let who = session_user(&mut parts, state).await;
        let req = axum::extract::Request::from_parts(parts, body);
        let mut multipart = axum::extract::Multipart::from_request(req, state)
            .await
            .map_err(|_| bad())?;
        if let Some(who) = who {
            let field = multipart.next_field().await.map_err(failed)?;
            let token = match field {
                Some(f) if f.name() == Some("csrf") => f.text().await.map_err(failed)?,
                _ => String::new(),
            };
            who.check_csrf(&token)?;
        }
        Ok(Multipart(multipart))
    }
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);

impl From<PathRejection> for AppError {
    fn from(_: PathRejection) -> Self {
        // A malformed id in the path is simply nothing that exists.
        AppError::NotFound
    }
}

impl From<QueryRejection> for AppError {
    fn from(e: QueryRejection) -> Self {
        tracing::debug!(error = %e, "query rejected");
        AppError::BadRequest("query-invalid".into())
    }
}
