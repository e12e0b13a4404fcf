//! 附件4 精神障碍患者登记表 (SPEC §9): one printable page per person filled from the record
//! (`report::form`, layout as data), for one person or for every person of the user's area in
//! one batch. The printed form shows the record unmasked, so it is given with a reason and every
//! person printed is audited (`person.print`) in the transaction that reads them.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jingkang_core::report::form::{FilledCell, FormDef};
use jingkang_core::store::audit::{self, Target};
use jingkang_core::store::batch::Outcome;
use jingkang_core::store::persons::{self, ListFilter, StoredPerson};
use serde::Deserialize;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::entry::today;
use crate::error::{AppError, AppResult};
use crate::extract::Form;
use crate::pages::Chrome;

/// At most this many pages in one batch.
pub const BATCH_MAX: i64 = 500;

pub struct Sheet {
    title: String,
    rows: Vec<Vec<FilledCell>>,
}

#[derive(Template, WebTemplate)]
#[template(path = "form4.html")]
pub struct Printed {
    sheets: Vec<Sheet>,
    note: String,
    more: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "form4_ask.html")]
pub struct Ask {
    chrome: Option<Chrome>,
    csrf: String,
    action: String,
    what: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    reason: String,
    /// `pdf`: a PDF file to save; otherwise the print page.
    #[serde(default)]
    format: String,
}

fn ask(
    state: &AppState,
    who: &CurrentUser,
    action: String,
    what: String,
    error: Option<String>,
) -> Ask {
    Ask {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        action,
        what,
        error,
    }
}

/// The reason form before printing one person's 登记表 (a person out of scope: absent).
pub async fn ask_one(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let mut tx = state.db.begin_read().await?;
    let found = persons::get_unaudited(&mut tx, &who.scope, id).await?;
    tx.commit().await?;
    if found.is_none() {
        return Err(AppError::NotFound);
    }
    Ok(ask(
        &state,
        &who,
        format!("/persons/{id}/form4"),
        "此人的精神障碍患者登记表（附件4）".into(),
        None,
    )
    .into_response())
}

/// The reason form before printing the 登记表 of every person of the user's area.
pub async fn ask_batch(State(state): State<AppState>, who: CurrentUser) -> AppResult<Response> {
    let what = format!(
        "{}全部服务对象的精神障碍患者登记表（附件4，每人一页，最多 {BATCH_MAX} 人）",
        state.tree.path_name(&who.user.region_code)
    );
    Ok(ask(&state, &who, "/persons/form4".into(), what, None).into_response())
}

fn reason_of(form: &ReasonForm) -> Option<String> {
    crate::downloads::reason_of(&form.reason)
}

/// A person to print and the answers of their latest follow-up.
type ToPrint = (
    StoredPerson,
    Option<serde_json::Map<String, serde_json::Value>>,
);

/// Read `ids` (or the first persons of the scope), each with their latest follow-up, and audit
/// each as printed, in one transaction.
async fn read_printed(
    state: &AppState,
    who: &CurrentUser,
    one: Option<i64>,
    reason: String,
) -> AppResult<(Vec<ToPrint>, bool)> {
    let reader = who.clone();
    Ok(state
        .writes
        .run(move |tx| {
            let (reader, reason) = (reader.clone(), reason.clone());
            Box::pin(async move {
                let (found, more) = match one {
                    Some(id) => (
                        persons::get(tx, &reader.scope, &reader.user.actor(), id)
                            .await?
                            .into_iter()
                            .collect::<Vec<_>>(),
                        false,
                    ),
                    None => {
                        let filter = ListFilter {
                            limit: Some(BATCH_MAX + 1),
                            ..Default::default()
                        };
                        let mut all = persons::list(tx, &reader.scope, &filter).await?;
                        let more = all.len() as i64 > BATCH_MAX;
                        all.truncate(BATCH_MAX as usize);
                        (all, more)
                    }
                };
                let mut shown: Vec<ToPrint> = Vec::with_capacity(found.len());
                for p in found {
                    let latest = jingkang_core::store::followups::list(tx, &reader.scope, p.id, 1)
                        .await?
                        .into_iter()
                        .next()
                        .map(|f| f.answers);
                    shown.push((p, latest));
                }
                for (p, _) in &shown {
                    audit::record(
                        tx,
                        &reader.user.actor(),
                        "person.print",
                        Some(Target::person(p.id)),
                        serde_json::json!({"form": "fujian4", "reason": reason}),
                    )
                    .await?;
                }
                Ok(Outcome::Keep((shown, more)))
            })
        })
        .await?)
}

fn printed(state: &AppState, list: &[ToPrint], more: bool) -> AppResult<Printed> {
    let def = FormDef::registration()?;
    let sheets = list
        .iter()
        .map(|(p, latest)| {
            let town = state
                .tree
                .get(p.record.data.residence_region.get(..9).unwrap_or_default())
                .map(|r| r.name.clone())
                .unwrap_or_default();
            Sheet {
                title: format!("{town}{}", def.title),
                rows: def.fill(&state.tree, &p.record, latest.as_ref()),
            }
        })
        .collect();
    Ok(Printed {
        sheets,
        note: def.note,
        more,
    })
}

/// The printed forms as the print page, or (`format=pdf`) as a PDF file.
fn deliver(p: Printed, format: &str) -> AppResult<Response> {
    if format != "pdf" {
        return Ok(p.into_response());
    }
    let sheets: Vec<jingkang_core::export::pdf::Sheet> = p
        .sheets
        .iter()
        .map(|s| jingkang_core::export::pdf::Sheet {
            title: &s.title,
            rows: &s.rows,
            note: &p.note,
        })
        .collect();
    let bytes = jingkang_core::export::pdf::form_pdf(&sheets)?;
    Ok(crate::imports::download(
        &format!("精神障碍患者登记表-{}.pdf", today().format("%Y%m%d")),
        ("form4.pdf", "application/pdf"),
        bytes,
    ))
}

/// One person's 登记表, printed with a reason.
pub async fn print_one(
    State(state): State<AppState>,
    who: CurrentUser,
    Path(id): Path<i64>,
    Form(form): Form<ReasonForm>,
) -> AppResult<Response> {
    let Some(reason) = reason_of(&form) else {
        let error = Some(jingkang_core::messages::render(
            "export-reason-missing",
            &[],
        ));
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            ask(
                &state,
                &who,
                format!("/persons/{id}/form4"),
                "此人的精神障碍患者登记表（附件4）".into(),
                error,
            ),
        )
            .into_response());
    };
    let (list, _) = read_printed(&state, &who, Some(id), reason).await?;
    if list.is_empty() {
        return Err(AppError::NotFound);
    }
    deliver(printed(&state, &list, false)?, &form.format)
}

/// Every person of the user's area, one page each, printed with a reason.
pub async fn print_batch(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(form): Form<ReasonForm>,
) -> AppResult<Response> {
    let Some(reason) = reason_of(&form) else {
        let error = Some(jingkang_core::messages::render(
            "export-reason-missing",
            &[],
        ));
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            ask(
                &state,
                &who,
                "/persons/form4".into(),
                "全部服务对象的登记表".into(),
                error,
            ),
        )
            .into_response());
    };
    let (list, more) = read_printed(&state, &who, None, reason).await?;
    deliver(printed(&state, &list, more)?, &form.format)
}
