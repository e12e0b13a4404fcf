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

/// A stored scan or document, to open in the browser (not to save): its own type, never sniffed,
/// never cached.
pub fn inline(media_type: String, file_name: &str, bytes: Vec<u8>) -> Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let disposition = format!(
        "inline; filename=\"scan\"; filename*=UTF-8''{}",
        crate::pages::urlencode(file_name)
    );
    (
        [
            (header::CONTENT_TYPE, media_type),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_string()),
            (
                header::HeaderName::from_static("x-content-type-options"),
                "nosniff".to_string(),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// A file field of a multipart form, read up to `max` bytes: past it the rest is drained and
/// `too_large` is set (nothing more is kept).
pub struct Uploaded {
    pub field: String,
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub too_large: bool,
}

/// Read one file field to its end (see [`Uploaded`]). `None` for a file input left empty.
pub async fn read_file_field(
    mut field: axum::extract::multipart::Field<'_>,
    max: usize,
) -> Result<Option<Uploaded>, axum::extract::multipart::MultipartError> {
    let name = field.name().unwrap_or("").to_string();
    let file_name = field.file_name().unwrap_or("").to_string();
    let mut bytes = Vec::new();
    let mut too_large = false;
    while let Some(chunk) = field.chunk().await? {
        if too_large || bytes.len() + chunk.len() > max {
            too_large = true;
            continue; // drain the rest, keep nothing more
        }
        bytes.extend_from_slice(&chunk);
    }
    if too_large {
        bytes = Vec::new();
    }
    Ok(
        (!bytes.is_empty() || too_large || !file_name.is_empty()).then_some(Uploaded {
            field: name,
            file_name,
            bytes,
            too_large,
        }),
    )
}
