//! One error type for every handler: what the user sees (Chinese, from the message table) is kept
//! apart from what the log gets (the technical detail, never personal data).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jingkang_core::messages;

use crate::pages::ErrorPage;

#[derive(Debug)]
pub enum AppError {
    /// No valid session: go to the login page (API: 401).
    Login,
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
            AppError::Login => StatusCode::UNAUTHORIZED,
            AppError::RedirectTo(_) => StatusCode::SEE_OTHER,
            AppError::Forbidden | AppError::Csrf => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    pub fn code(&self) -> &str {
        match self {
            AppError::Login => "session-expired",
            AppError::RedirectTo(_) => "redirect",
            AppError::Forbidden => "forbidden",
            AppError::NotFound => "not-found",
            AppError::Csrf => "csrf-invalid",
            AppError::BadRequest(code) => code,
            AppError::Internal(_) => "internal-error",
        }
    }
    pub fn message(&self) -> String {
        messages::render(self.code(), &[])
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Login => Redirect::to("/login").into_response(),
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
                (other.status(), page).into_response()
            }
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;
