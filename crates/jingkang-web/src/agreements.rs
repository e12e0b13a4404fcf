//! Agreements on the person page (SPEC §3): 知情同意书 and 服务协议 with their scans, uploaded as
//! multipart, checked by content, stored in the database; a scan is served only to the roles that
//! read agreements, each read audited.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jingkang_core::care::agreement::{self, AgreementInput, AgreementKind, MAX_SCAN_BYTES};
use jingkang_core::messages;
use jingkang_core::store::agreements::{self, Scan, StoredAgreement};
use jingkang_core::store::batch::Outcome;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::entry::today;
use crate::error::{AppError, AppResult};
use crate::extract::Path;
use crate::pages::{beijing_time, load_person, person_page};

/// One agreement on the person page.
pub struct AgreementLine {
    pub(crate) kind: &'static str,
    pub(crate) signed_on: String,
    pub(crate) signatories: String,
    pub(crate) valid_until: String,
    pub(crate) expired: bool,
    /// Link to the scan, if there is one.
    pub(crate) scan: Option<String>,
    pub(crate) scan_label: String,
    pub(crate) recorded: String,
}

pub(crate) fn lines(person: i64, list: Vec<StoredAgreement>) -> Vec<AgreementLine> {
    let today = today();
    list.into_iter()
        .map(|a| {
            let signatories = [
                a.person_signed.then(|| "本人".to_string()),
                a.guardian_name.as_ref().map(|g| format!("监护人 {g}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("、");
            AgreementLine {
                kind: a.kind().map_or("", AgreementKind::label_zh),
                signed_on: a.signed_on.to_string(),
                signatories,
                valid_until: a.valid_until.to_string(),
                expired: a.valid_until < today,
                scan: a
                    .media_type
                    .as_ref()
                    .map(|_| format!("/persons/{person}/agreements/{}/scan", a.id)),
                scan_label: match (a.media_type.as_deref(), a.size) {
                    (Some("application/pdf"), Some(n)) => format!("PDF，{} KB", (n + 1023) / 1024),
                    (Some(_), Some(n)) => format!("图片，{} KB", (n + 1023) / 1024),
                    _ => String::new(),
                },
                recorded: format!("{} {}", beijing_time(a.recorded_at), a.recorded_by),
            }
        })
        .collect()
}

fn bad() -> AppError {
    AppError::BadRequest("upload-invalid".into())
}

pub async fn create(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    crate::extract::Multipart(mut multipart): crate::extract::Multipart,
) -> AppResult<Response> {
    let mut input = AgreementInput::default();
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut too_large = false;
    while let Some(field) = multipart.next_field().await.map_err(|_| bad())? {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            if let Some(u) = crate::downloads::read_file_field(field, MAX_SCAN_BYTES)
                .await
                .map_err(|_| bad())?
                && (!u.bytes.is_empty() || u.too_large)
            {
                too_large = u.too_large;
                file = Some((u.file_name, u.bytes));
            }
            continue;
        }
        let value = field.text().await.map_err(|_| bad())?;
        match name.as_str() {
            "kind" => input.kind = value,
            "signed_on" => input.signed_on = value,
            "person_signed" => input.person_signed = value == "1",
            "guardian_name" => input.guardian_name = value,
            "valid_until" => input.valid_until = value,
            _ => {}
        }
    }
    let a = match agreement::validate(&input, today()) {
        Ok(a) => a,
        Err(errors) => {
            return refuse(
                &state,
                &who,
                id,
                errors
                    .into_iter()
                    .map(|e| e.message)
                    .collect::<Vec<_>>()
                    .join("；"),
            )
            .await;
        }
    };
    let scan = match file {
        None => {
            return refuse(
                &state,
                &who,
                id,
                messages::render("agreement-file-empty", &[]),
            )
            .await;
        }
        Some(_) if too_large => {
            return refuse(
                &state,
                &who,
                id,
                messages::render("agreement-file-too-large", &[]),
            )
            .await;
        }
        Some((name, bytes)) => match agreement::check_scan(&bytes) {
            Ok(media) => (media, name, bytes),
            Err(code) => return refuse(&state, &who, id, messages::render(code, &[])).await,
        },
    };
    let (scope, actor) = (who.scope.clone(), who.user.actor());
    let (a, scan) = (std::sync::Arc::new(a), std::sync::Arc::new(scan));
    let done = state
        .writes
        .run(move |tx| {
            let (scope, actor, a, scan) = (scope.clone(), actor.clone(), a.clone(), scan.clone());
            Box::pin(async move {
                let s = Scan {
                    media_type: scan.0,
                    file_name: &scan.1,
                    bytes: &scan.2,
                };
                Ok(Outcome::Keep(
                    agreements::record(tx, &scope, &actor, id, &a, Some(s)).await?,
                ))
            })
        })
        .await?;
    match done {
        Some(_) => Ok(Redirect::to(&format!("/persons/{id}#agreements")).into_response()),
        None => Err(AppError::NotFound),
    }
}

/// The person page again with why the agreement was not saved (422); nothing was written.
async fn refuse(
    state: &AppState,
    who: &crate::auth::CurrentUser,
    id: i64,
    message: String,
) -> AppResult<Response> {
    let loaded = load_person(state, who, id).await?;
    let mut page = person_page(state, who, loaded, None);
    page.agreement_error = Some(message);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// The scan of an agreement, as stored; audited.
pub async fn scan(
    State(state): State<AppState>,
    who: CurrentUser,
    Path((id, aid)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let (scope, actor) = (who.scope.clone(), who.user.actor());
    let found = state
        .writes
        .run(move |tx| {
            let (scope, actor) = (scope.clone(), actor.clone());
            Box::pin(async move {
                Ok(Outcome::Keep(
                    agreements::scan(tx, &scope, &actor, id, aid).await?,
                ))
            })
        })
        .await?;
    let (media, name, bytes) = found.ok_or(AppError::NotFound)?;
    Ok(crate::downloads::inline(media, &name, bytes))
}
