//! The second factor: TOTP enrolment (QR code as SVG) with recovery codes, and the code step at login.

use crate::extract::Form;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use jingkang_core::accounts;
use jingkang_core::messages;
use jingkang_core::store::accounts as store_accounts;
use serde::Deserialize;
use std::net::SocketAddr;

use crate::AppState;
use crate::auth::{CurrentUser, SESSION_COOKIE};
use crate::error::{AppError, AppResult};
use crate::pages::{Chrome, client_addr};
use axum_extra::extract::cookie::{Cookie, CookieJar};

#[derive(Template, WebTemplate)]
#[template(path = "totp_enrol.html")]
pub struct EnrolPage {
    chrome: Option<Chrome>,
    csrf: String,
    secret: String,
    qr_svg: String,
    required: bool,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "recovery.html")]
pub struct RecoveryPage {
    chrome: Option<Chrome>,
    codes: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "totp_login.html")]
pub struct TotpLoginPage {
    chrome: Option<Chrome>,
    csrf: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

fn qr_svg(url: &str) -> anyhow::Result<String> {
    let code = qrcode::QrCode::new(url.as_bytes())?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

async fn enrol_page(
    state: &AppState,
    who: &CurrentUser,
    error: Option<String>,
) -> AppResult<Response> {
    let session = who.session.as_ref().ok_or(AppError::Forbidden)?;
    let mut tx = state.db.begin().await?;
    let secret = match store_accounts::pending_totp(&mut tx, session).await? {
        Some(s) => s,
        None => store_accounts::begin_totp_enrolment(&mut tx, session).await?,
    };
    tx.commit().await?;
    let url = accounts::totp_url(&secret, &who.user.username)?;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = EnrolPage {
        chrome: None,
        csrf: who.csrf().to_string(),
        secret,
        qr_svg: qr_svg(&url)?,
        required: who.user.role.requires_totp(),
        error,
    };
    Ok((status, page).into_response())
}

pub async fn enrol_form(State(state): State<AppState>, who: CurrentUser) -> AppResult<Response> {
    if who.user.totp_enrolled {
        return Ok(Redirect::to("/").into_response());
    }
    enrol_page(&state, &who, None).await
}

pub async fn enrol(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    if who.user.totp_enrolled {
        return Ok(Redirect::to("/").into_response());
    }
    let session = who.session.as_ref().ok_or(AppError::Forbidden)?;
    let mut tx = state.db.begin().await?;
    let codes =
        store_accounts::finish_totp_enrolment(&mut tx, &who.user, session, &form.code).await?;
    tx.commit().await?;
    match codes {
        Some(codes) => Ok(RecoveryPage {
            chrome: None,
            codes,
        }
        .into_response()),
        None => enrol_page(&state, &who, Some(messages::render("totp-invalid", &[]))).await,
    }
}

pub async fn login_form(who: CurrentUser) -> AppResult<Response> {
    if who.session.as_ref().is_none_or(|s| s.totp_ok) {
        return Ok(Redirect::to("/").into_response());
    }
    Ok(TotpLoginPage {
        chrome: None,
        csrf: who.csrf().to_string(),
        error: None,
    }
    .into_response())
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    who: CurrentUser,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    let session = who.session.as_ref().ok_or(AppError::Forbidden)?;
    if session.totp_ok {
        return Ok(Redirect::to("/").into_response());
    }
    let client = client_addr(&state, Some(peer), &headers);
    let again = |code: &str| {
        let page = TotpLoginPage {
            chrome: None,
            csrf: who.csrf().to_string(),
            error: Some(messages::render(code, &[])),
        };
        (StatusCode::UNAUTHORIZED, page).into_response()
    };
    if !state.login_limiter.allow(&client) {
        return Ok(again("login-rate-limited"));
    }
    let mut tx = state.db.begin().await?;
    let outcome =
        store_accounts::verify_second_factor(&mut tx, &who.user, session, &form.code, &client)
            .await?;
    tx.commit().await?;
    if let (store_accounts::SecondFactor::Ok, Some(hold)) = (outcome, session.held) {
        // The right password and code of a disabled or locked account: now its state is said,
        // and the held session ends.
        let mut tx = state.db.begin().await?;
        if let Some(c) = jar.get(SESSION_COOKIE) {
            store_accounts::delete_session(&mut tx, c.value()).await?;
        }
        tx.commit().await?;
        let code = match hold {
            store_accounts::Hold::Disabled => "login-disabled",
            store_accounts::Hold::Locked => "login-locked",
        };
        let jar = jar.remove(Cookie::build(SESSION_COOKIE).path("/"));
        return Ok((jar, again(code)).into_response());
    }
    match outcome {
        store_accounts::SecondFactor::Ok => Ok(Redirect::to("/").into_response()),
        store_accounts::SecondFactor::Invalid => Ok(again("totp-invalid")),
        store_accounts::SecondFactor::Locked => Ok(again("totp-locked")),
    }
}
