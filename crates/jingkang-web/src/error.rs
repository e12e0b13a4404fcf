//! One error type for every handler: what the user sees (Chinese, from the message table) is kept
//! apart from what the log gets (the technical detail, never personal data).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jingkang_core::messages;

use crate::shell::ErrorPage;

#[derive(Debug)]
pub enum AppError {
    /// No valid session: go to the login page (API: 401).
    Login,
    /// An API token of a disabled user (API: 401 saying so).
    Disabled,
    /// An upload over the one limit (`import::limits::UPLOAD_BYTES`).
    TooLarge,
    /// A session is valid but a step is due first (password change, second factor).
    RedirectTo(&'static str),
    Forbidden,
    /// Absent, or outside the caller's scope: the two answers are identical.
    NotFound,
    Csrf,
    /// Bad input: the message code (and arguments) of what was wrong.
    BadRequest(String),
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        AppError::Internal(e)
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Login | AppError::Disabled => StatusCode::UNAUTHORIZED,
            AppError::RedirectTo(_) => StatusCode::SEE_OTHER,
            AppError::Forbidden | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    pub fn code(&self) -> &str {
        match self {
            AppError::Login => "session-expired",
            AppError::Disabled => "account-disabled",
            AppError::TooLarge => "upload-too-large",
            AppError::RedirectTo(_) => "redirect",
            AppError::Forbidden => "forbidden",
            AppError::NotFound => "not-found",
            AppError::Csrf => "csrf-invalid",
            AppError::BadRequest(code) => code,
            AppError::Internal(_) => "internal-error",
        }
    }
    pub fn message(&self) -> String {
        message_of(self.code())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Login | AppError::Disabled => Redirect::to("/login").into_response(),
            AppError::RedirectTo(to) => Redirect::to(to).into_response(),
            other => {
                if let AppError::Internal(e) = &other {
                    // The detail goes to the log; the user gets the generic message.
                    tracing::error!(error = format!("{e:#}"), "request failed");
                }
                let page = ErrorPage {
                    chrome: None,
                    status: other.status().as_u16(),
                    message: other.message(),
                };
                let mut response = (other.status(), page).into_response();
                // The code, for the API's JSON answer ([`api_json_errors`]).
                response
                    .extensions_mut()
                    .insert(ErrorCode(other.code().to_string()));
                response
            }
        }
    }
}

/// The message code of an error answer, kept with the response so that the API layer can answer
/// the same error as JSON.
#[derive(Debug, Clone)]
pub struct ErrorCode(pub String);

/// The code of an error answer that carries none (the framework's own rejections: a body over the
/// limit, a wrong method or media type, malformed JSON).
fn code_of_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "upload-too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "media-type-unsupported",
        StatusCode::UNPROCESSABLE_ENTITY => "body-invalid",
        StatusCode::TOO_MANY_REQUESTS => "too-many-requests",
        s if s.is_server_error() => "internal-error",
        _ => "bad-request",
    }
}

/// The Chinese message of an error code, with the upload limit filled in.
pub fn message_of(code: &str) -> String {
    let limit =
        jingkang_core::import::limits::size_label(jingkang_core::import::limits::UPLOAD_BYTES);
    messages::render(code, &[("limit", &limit)])
}

/// Every error under `/api/` answers `{"code","message"}` in JSON, whatever produced it: a handler,
/// an extractor's rejection (a malformed id, query or body), the body limit, the router (405).
/// Answers that are JSON already pass unchanged. Pages keep their Chinese error page; a 413 from
/// the body limit, which has none, gets one.
pub async fn api_json_errors(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let api =
        req.uri().path().starts_with("/api/") && !req.uri().path().starts_with("/api/v1/docs");
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let is_html = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if (api && is_json) || (!api && is_html) {
        return response;
    }
    let code = response
        .extensions()
        .get::<ErrorCode>()
        .map_or_else(|| code_of_status(status).to_string(), |c| c.0.clone());
    let code = match code.as_str() {
        "session-expired" if api => "unauthenticated".to_string(),
        _ => code,
    };
    let message = message_of(&code);
    let mut out = if api {
        let body = serde_json::json!({"code": code, "message": message});
        (status, axum::Json(body)).into_response()
    } else {
        let page = ErrorPage {
            chrome: None,
            status: status.as_u16(),
            message,
        };
        (status, page).into_response()
    };
    // Keep what the client needs to act on (a 429's Retry-After, a 405's Allow).
    for name in [axum::http::header::RETRY_AFTER, axum::http::header::ALLOW] {
        if let Some(v) = response.headers().get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

pub type AppResult<T> = Result<T, AppError>;
