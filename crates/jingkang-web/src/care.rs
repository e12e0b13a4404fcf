//! Care-workflow pages (SPEC §3–§5). Registration: the state-change form on the person page; the
//! eligibility rule is applied by the store in the transaction that registers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use jingkang_core::care::registration::{CloseReason, Event};
use jingkang_core::messages;
use jingkang_core::store::registration::{self, Refusal};
use serde::Deserialize;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::extract::{Form, Path};
use crate::pages::{load_person, person_page};

#[derive(Deserialize)]
pub struct RegistrationForm {
    /// Event code (`register`, `start_service`, …).
    event: String,
    #[serde(default)]
    reason: String,
    /// For `close`: the 结案原因 code.
    #[serde(default)]
    close_reason: String,
    /// For `register`: the evaluator states there is no serious physical or infectious disease.
    #[serde(default)]
    no_serious_disease: String,
}

/// The eligibility gate for a registration: the shipped rule, today, the evaluator's statement.
pub(crate) fn gate(no_serious_disease: bool) -> AppResult<registration::Gate<'static>> {
    let rule = crate::pages::eligibility_rule().ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("the eligibility rule does not parse"))
    })?;
    Ok(registration::Gate {
        rule,
        today: crate::entry::today(),
        no_serious_disease,
    })
}

/// The event a form or an API request asks for, or the message key of what is missing from it.
pub(crate) fn event_of(
    event: &str,
    reason: &str,
    close_reason: &str,
) -> Result<Event, &'static str> {
    let reason = reason.trim().to_string();
    Ok(match event.trim() {
        "register" => Event::Register {
            exception: Some(reason).filter(|r| !r.is_empty()),
        },
        "start_service" => Event::StartService,
        "suspend" => Event::Suspend { reason },
        "resume" => Event::Resume,
        "close" => Event::Close {
            reason: CloseReason::from_code(close_reason.trim())
                .ok_or("registration-close-reason-missing")?,
            note: reason,
        },
        "decline" => Event::Decline { reason },
        "reopen" => Event::Reopen { reason },
        _ => return Err("form-invalid"),
    })
}

/// Change a person's registration state. A refusal shows the person page again with the reason
/// (422) and changes nothing.
pub async fn registration_change(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Form(form): Form<RegistrationForm>,
) -> AppResult<Response> {
    let refused = match event_of(&form.event, &form.reason, &form.close_reason) {
        Err(code) => messages::template(code).to_string(),
        Ok(event) => {
            let mut tx = state.db.begin().await?;
            match registration::transition(
                &mut tx,
                &who.scope,
                &who.user.actor(),
                id,
                &event,
                &gate(form.no_serious_disease == "1")?,
            )
            .await?
            {
                Ok(done) => {
                    tx.commit().await?;
                    return Ok(
                        Redirect::to(&format!("/persons/{id}?reg={}", done.to.code()))
                            .into_response(),
                    );
                }
                Err(Refusal::NotFound) => return Err(AppError::NotFound),
                Err(refusal) => {
                    tx.rollback().await?;
                    refusal.message()
                }
            }
        }
    };
    let loaded = load_person(&state, &who, id).await?;
    let mut page = person_page(&state, &who, loaded, None);
    page.reg_error = Some(refused);
    // What was chosen and typed comes back.
    for c in &mut page.reg_actions {
        c.selected = c.value == form.event.trim();
    }
    for c in &mut page.close_reasons {
        c.selected = c.value == form.close_reason.trim();
    }
    page.reg_reason = form.reason;
    page.reg_checked = form.no_serious_disease == "1";
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}
