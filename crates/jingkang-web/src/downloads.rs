//! Downloads of a page's lists as .xlsx (SPEC §9: every report and list exportable): the form
//! every download sends (a reason is required), and one helper that writes the sheets and records
//! the download in the audit log with its reason and row counts.

use axum::response::Response;
use jingkang_core::export::table::{self, Table, Value};
use serde::Deserialize;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::entry::today;
use crate::error::AppResult;

/// What a list's download form sends.
#[derive(Deserialize, Default)]
pub struct ExportForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub reason: String,
}

impl ExportForm {
    /// The reason given (trimmed, at most 200 characters); `None` when there is none, and then
    /// the page is shown again with [`reason_missing`] and nothing is downloaded.
    pub fn reason(&self) -> Option<String> {
        reason_of(&self.reason)
    }
}

/// A download's reason as typed: trimmed, at most 200 characters; `None` when empty.
pub fn reason_of(text: &str) -> Option<String> {
    let reason: String = text.trim().chars().take(200).collect();
    (!reason.is_empty()).then_some(reason)
}

/// The message shown above a download form sent without a reason.
pub fn reason_missing() -> Option<String> {
    Some(jingkang_core::messages::render(
        "export-reason-missing",
        &[],
    ))
}

/// `sheets` as one .xlsx file named `stem-YYYYMMDD.xlsx`, after recording `action` (with the
/// reason and each sheet's row count) in the audit log. For lists of figures and of institutions
/// or staff; a list of persons is read and audited in one transaction, then given to [`file`].
pub async fn book(
    state: &AppState,
    who: &CurrentUser,
    action: &'static str,
    reason: String,
    stem: &str,
    sheets: Vec<(Table<'_>, Vec<Vec<Value>>)>,
) -> AppResult<Response> {
    let rows: serde_json::Map<String, serde_json::Value> = sheets
        .iter()
        .map(|(t, r)| (t.sheet.to_string(), r.len().into()))
        .collect();
    let download = file(&format!("{stem}-{}", today().format("%Y%m%d")), sheets)?;
    crate::pages::audit_alone(
        state,
        who,
        action,
        &who.user.region_code,
        serde_json::json!({"rows": rows, "reason": reason}),
    )
    .await?;
    Ok(download)
}

/// `sheets` as one .xlsx file named `name.xlsx`, to save.
pub fn file(name: &str, sheets: Vec<(Table<'_>, Vec<Vec<Value>>)>) -> AppResult<Response> {
    let (tables, lines): (Vec<Table>, Vec<Vec<Vec<Value>>>) = sheets.into_iter().unzip();
    let bytes = table::to_book(tables.iter().zip(lines))?;
    Ok(crate::imports::xlsx_download(
        &format!("{name}.xlsx"),
        bytes,
    ))
}

/// A text cell.
pub fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

/// A number cell.
pub fn num(n: impl Into<f64>) -> Value {
    Value::Number(n.into())
}
