//! jingkang-web: the HTTP layer (axum router, extractors, pages, JSON API).
//!
//! The web application itself (login, roles, person pages, API) is built on top of this crate in the
//! next issue; for now it provides the router skeleton with the health check that deployments and
//! tests probe.

use axum::Router;
use axum::routing::get;

/// The application router.
pub fn router() -> Router {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz() -> &'static str {
    "ok"
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    #[tokio::test]
    async fn healthz_answers_ok() {
        let res = super::router().oneshot(Request::get("/healthz").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = super::router().oneshot(Request::get("/nope").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}
