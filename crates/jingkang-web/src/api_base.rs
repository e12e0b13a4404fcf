//! What every JSON handler uses, whichever feature it belongs to: the caller (`ApiUser`, with the
//! `X-CSRF-Token` check for a browser session; the route table's layer has already checked the
//! caller's permission) and the error as the API returns it. A leaf beside `auth` and `error`: it
//! imports no feature.

use axum::Json;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::AppError;

/// An error as the API returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiErrorBody {
    /// Stable kebab-case code, e.g. `not-found`.
    pub code: String,
    /// The Chinese message for a person.
    pub message: String,
}

/// [`AppError`] rendered as JSON (401 instead of a redirect to the login page).
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError(AppError::Internal(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self.0 {
            AppError::Login | AppError::RedirectTo(_) => (
                axum::http::StatusCode::UNAUTHORIZED,
                "unauthenticated".to_string(),
            ),
            other => (other.status(), other.code().to_string()),
        };
        if let AppError::Internal(e) = &self.0 {
            tracing::error!(error = format!("{e:#}"), "api request failed");
        }
        let message = crate::error::message_of(&code);
        (status, Json(ApiErrorBody { code, message })).into_response()
    }
}

/// The caller, with API-style rejections. What the caller may do is the route's
/// [`Access`](crate::Access), checked by the router before the handler runs.
pub struct ApiUser(pub CurrentUser);

impl<S> FromRequestParts<S> for ApiUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let who = CurrentUser::from_request_parts(parts, state).await?;
        // A change made with a browser session (not a bearer token) must carry the session's CSRF
        // token in `X-CSRF-Token`.
        if !matches!(
            parts.method,
            axum::http::Method::GET | axum::http::Method::HEAD
        ) {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            who.check_csrf(sent)?;
        }
        Ok(ApiUser(who))
    }
}
