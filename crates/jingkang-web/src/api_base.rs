//! What every JSON handler uses, whichever feature it belongs to: the caller allowed by a
//! policy (`ApiNeed`, with the `X-CSRF-Token` check for a browser session) and the error as the
//! API returns it. A leaf beside `auth` and `error`: it imports no feature.

use axum::Json;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{CurrentUser, Need, Policy};
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

/// The caller, allowed by policy `P`, with API-style rejections.
pub struct ApiNeed<P: Policy>(pub CurrentUser, pub std::marker::PhantomData<P>);

impl<S, P> FromRequestParts<S> for ApiNeed<P>
where
    AppState: FromRef<S>,
    S: Send + Sync,
    P: Policy,
{
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let need = Need::<P>::from_request_parts(parts, state).await?;
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
            need.who.check_csrf(sent)?;
        }
        Ok(ApiNeed(need.who, std::marker::PhantomData))
    }
}
