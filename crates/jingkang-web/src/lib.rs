//! jingkang-web: the HTTP layer — axum router, extractors, server-rendered pages.
//!
//! Only this crate knows axum. Handlers declare the roles they need in their signature
//! ([`auth::Need`]); every person query goes through the caller's [`jingkang_core::regions::Scope`].

pub mod assets;
pub mod auth;
pub mod error;
pub mod limit;
pub mod pages;
pub mod security;
pub mod totp;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use jingkang_core::regions::RegionTree;
use jingkang_core::store::Db;

/// Deployment settings the web layer needs.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Mark cookies `Secure` and send HSTS: served over TLS, directly or by a proxy.
    pub secure_cookies: bool,
    /// A trusted reverse proxy sets `X-Forwarded-For`: use it as the client address.
    pub trust_proxy: bool,
}

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub tree: Arc<RegionTree>,
    pub settings: Arc<Settings>,
    pub login_limiter: Arc<limit::RateLimiter>,
}

impl AppState {
    pub fn new(db: Db, tree: RegionTree, settings: Settings) -> AppState {
        AppState {
            db,
            tree: Arc::new(tree),
            settings: Arc::new(settings),
            // 10 login attempts per minute per client address, on top of the per-account lockout.
            login_limiter: Arc::new(limit::RateLimiter::new(10, std::time::Duration::from_secs(60))),
        }
    }
}

/// The application router.
pub fn router(state: AppState) -> Router {
    let secure = state.settings.secure_cookies;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/static/{*path}", get(assets::serve))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/account/password", get(pages::password_form).post(pages::password_change))
        .route("/account/totp", get(totp::enrol_form).post(totp::enrol))
        .route("/login/totp", get(totp::login_form).post(totp::login))
        .route("/", get(pages::home))
        .route("/persons", get(pages::persons_list))
        .route("/persons/{id}", get(pages::person_show))
        .route("/persons/{id}/reveal", post(pages::person_reveal))
        .fallback(|| async { error::AppError::NotFound })
        .layer(axum::middleware::from_fn(move |req, next| security::headers(secure, req, next)))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(64 * 1024 * 1024))
        // A bug must not drop the connection: the user gets the Chinese error page, the log the detail.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            use axum::response::IntoResponse;
            error::AppError::Internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

/// Serve on `listener` until `shutdown` resolves; in-flight requests finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
