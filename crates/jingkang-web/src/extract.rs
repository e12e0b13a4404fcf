//! axum's extractors with our rejection: a malformed form, path or query string gets the Chinese
//! error page (400), never axum's English plain text.

use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};

use crate::error::AppError;

#[derive(FromRequest)]
#[from_request(via(axum::Form), rejection(AppError))]
pub struct Form<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);

impl From<FormRejection> for AppError {
    fn from(e: FormRejection) -> Self {
        tracing::debug!(error = %e, "form rejected");
        AppError::BadRequest("form-invalid".into())
    }
}

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
