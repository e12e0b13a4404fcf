//! Roster import in the browser — upload, preview (errors by row and column, what would change),
//! confirm — and roster export download. The import itself is the CLI's
//! (`jingkang_core::import::import_roster`): same rules, same messages, all-or-nothing.

use std::io::Write;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::Multipart;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jingkang_core::export::roster::{ExportRequest, export_roster};
use jingkang_core::import::entry::entry_region;
use jingkang_core::import::roster::{ChangeLine, Duplicate, RejectedRow, RowError};
use jingkang_core::import::{ImportOptions, ImportReport, import_roster};
use jingkang_core::messages;
use jingkang_core::regions::{Region, Scope};
use serde::Deserialize;

use crate::AppState;
use crate::auth::CurrentUser;
use crate::entry::today;
use crate::error::{AppError, AppResult};
use crate::extract::Form;
use crate::pages::{Chrome, urlencode};

/// Errors and changes shown on the page (the rest are counted).
const SHOWN: usize = 1000;

#[derive(Template, WebTemplate)]
#[template(path = "import.html")]
pub struct ImportPage {
    chrome: Option<Chrome>,
    csrf: String,
    region_name: String,
    /// Regions the user may export: their own and the townships under it.
    export_regions: Vec<(String, String)>,
    error: Option<String>,
}

pub struct RejectedLine {
    row: u32,
    name: String,
    values: Vec<(&'static str, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "import_preview.html")]
pub struct PreviewPage {
    chrome: Option<Chrome>,
    csrf: String,
    file_name: String,
    region_name: String,
    /// The upload's token: `Some` on the preview (to confirm), `None` once imported.
    token: Option<String>,
    report: ImportReport,
    error_rows: usize,
    errors: Vec<RowError>,
    /// Who is (or would be) created: row, masked person, residence by name.
    creates: Vec<(u32, String, String)>,
    changes: Vec<ChangeLine>,
    duplicates: Vec<Duplicate>,
    rejected: Vec<RejectedLine>,
}

fn import_page(
    state: &AppState,
    who: &CurrentUser,
    error: Option<String>,
) -> AppResult<ImportPage> {
    let region = entry_region(&state.tree, &who.scope)
        .ok_or(AppError::BadRequest("entry-region-too-low".into()))?;
    let mut export_regions = vec![(region.code.clone(), state.tree.path_name(&region.code))];
    if region.level != jingkang_core::regions::Level::Township {
        export_regions.extend(
            state
                .tree
                .townships_under(&region.code)
                .into_iter()
                .map(|t| (t.code.clone(), t.name.clone())),
        );
    }
    Ok(ImportPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        region_name: state.tree.path_name(&region.code),
        export_regions,
        error,
    })
}

/// The import page again (422) with what was wrong; nothing was written.
fn refused(state: &AppState, who: &CurrentUser, message: String) -> AppResult<Response> {
    Ok((
        StatusCode::UNPROCESSABLE_ENTITY,
        import_page(state, who, Some(message))?,
    )
        .into_response())
}

/// An import that could not run at all: its Chinese message, and the detail to the log if it was
/// the system's fault.
fn refused_import(
    state: &AppState,
    who: &CurrentUser,
    e: &jingkang_core::import::ImportError,
) -> AppResult<Response> {
    if e.code() == "internal-error" {
        tracing::error!(error = format!("{e:#}"), "import failed");
    }
    refused(state, who, e.message_zh())
}

pub async fn page(State(state): State<AppState>, who: CurrentUser) -> AppResult<Response> {
    Ok(import_page(&state, &who, None)?.into_response())
}

/// The extension of an uploaded file name, lower-case ASCII letters only (it picks the reader).
fn extension(name: &str) -> String {
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    ext.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_lowercase()
}

fn preview_page(
    state: &AppState,
    who: &CurrentUser,
    region: &Region,
    file_name: String,
    token: Option<String>,
    mut report: ImportReport,
) -> PreviewPage {
    let mut rows: Vec<u32> = report.errors.iter().map(|e| e.row).collect();
    rows.dedup();
    let errors: Vec<RowError> = report.errors.iter().take(SHOWN).cloned().collect();
    let changes: Vec<ChangeLine> = report.changes.iter().take(SHOWN).cloned().collect();
    let creates = report
        .creates
        .iter()
        .take(SHOWN)
        .map(|c| (c.row, c.person.clone(), state.tree.path_name(&c.region)))
        .collect();
    let duplicates: Vec<Duplicate> = report.duplicates.iter().take(SHOWN).cloned().collect();
    let rejected = std::mem::take(&mut report.rejected)
        .into_iter()
        .map(|RejectedRow { row, values }| {
            let name = values
                .iter()
                .find(|(k, _)| *k == "name")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            RejectedLine { row, name, values }
        })
        .collect();
    PreviewPage {
        chrome: Some(Chrome::of(state, who)),
        csrf: who.csrf().to_string(),
        file_name,
        region_name: state.tree.path_name(&region.code),
        token,
        error_rows: usize::try_from(report.rows_rejected)
            .unwrap_or(usize::MAX)
            .max(rows.len()),
        errors,
        creates,
        changes,
        duplicates,
        rejected,
        report,
    }
}

/// An uploaded form: its text fields, and its file (name as uploaded, saved to a temporary file
/// whose extension picks the reader) when one was sent and is not empty.
pub(crate) type Upload = (
    std::collections::HashMap<String, String>,
    Option<(String, tempfile::TempPath)>,
);

/// Read a multipart form, streaming the file to disk.
pub(crate) async fn read_upload(multipart: Multipart) -> AppResult<Upload> {
    let (fields, mut files) = read_uploads(multipart).await?;
    Ok((fields, files.remove("file")))
}

/// A form with several files: its text fields, and each file given (by field name) as its name
/// and a temporary copy. Empty file fields are left out.
pub(crate) async fn read_uploads(
    mut multipart: Multipart,
) -> AppResult<(
    std::collections::HashMap<String, String>,
    std::collections::HashMap<String, (String, tempfile::TempPath)>,
)> {
    let invalid = || AppError::BadRequest("upload-invalid".into());
    // Over the upload limit: 413 with the limit named; anything else: a broken upload.
    let failed = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            AppError::TooLarge
        } else {
            invalid()
        }
    };
    let mut fields = std::collections::HashMap::new();
    let mut files = std::collections::HashMap::new();
    while let Some(mut field) = multipart.next_field().await.map_err(failed)? {
        let Some(key) = field.name().map(str::to_string) else {
            continue;
        };
        let Some(name) = field.file_name().map(str::to_string) else {
            fields.insert(key, field.text().await.map_err(failed)?);
            continue;
        };
        let ext = extension(&name);
        let mut tmp = tempfile::Builder::new()
            .prefix("jingkang-upload-")
            .suffix(&format!(".{ext}"))
            .tempfile()
            .map_err(|e| AppError::Internal(e.into()))?;
        let mut size = 0usize;
        while let Some(chunk) = field.chunk().await.map_err(failed)? {
            size += chunk.len();
            tmp.write_all(&chunk)
                .map_err(|e| AppError::Internal(e.into()))?;
        }
        tmp.flush().map_err(|e| AppError::Internal(e.into()))?;
        if size > 0 {
            files.insert(key, (name, tmp.into_temp_path()));
        }
    }
    Ok((fields, files))
}

/// Receive the file, check it without writing anything, and show what an import would do.
pub async fn upload(
    State(state): State<AppState>,
    who: CurrentUser,
    crate::extract::Multipart(multipart): crate::extract::Multipart,
) -> AppResult<Response> {
    let region = entry_region(&state.tree, &who.scope)
        .ok_or(AppError::BadRequest("entry-region-too-low".into()))?
        .clone();
    let (_, file) = read_upload(multipart).await?;
    let Some((name, path)) = file else {
        return refused(&state, &who, messages::render("upload-missing", &[]));
    };
    let actor = who.user.actor();
    let opts = ImportOptions {
        county: &region.code,
        dry_run: true,
        actor: &actor,
        source: &name,
        today: today(),
        progress: None,
    };
    match import_roster(&state.db, &state.tree, &path, &opts).await {
        Ok(report) => {
            let token =
                (report.accepted > 0).then(|| state.uploads.put(who.user.id, name.clone(), path));
            Ok(preview_page(&state, &who, &region, name, token, report).into_response())
        }
        Err(e) => refused_import(&state, &who, &e),
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    token: String,
}

/// Import the previewed file for real.
pub async fn confirm(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(form): Form<ConfirmForm>,
) -> AppResult<Response> {
    let region = entry_region(&state.tree, &who.scope)
        .ok_or(AppError::BadRequest("entry-region-too-low".into()))?
        .clone();
    let Some(upload) = state.uploads.take(who.user.id, &form.token) else {
        return refused(&state, &who, messages::render("upload-expired", &[]));
    };
    let actor = who.user.actor();
    let opts = ImportOptions {
        county: &region.code,
        dry_run: false,
        actor: &actor,
        source: &upload.name,
        today: today(),
        progress: None,
    };
    match import_roster(&state.db, &state.tree, &upload.path, &opts).await {
        Ok(report) => Ok(
            preview_page(&state, &who, &region, upload.name.clone(), None, report).into_response(),
        ),
        Err(e) => {
            state.uploads.put_back(form.token, upload);
            refused_import(&state, &who, &e)
        }
    }
}

#[derive(Deserialize)]
pub struct ExportForm {
    region: String,
    #[serde(default)]
    reason: String,
}

/// Download the roster of a region in the caller's scope as .xlsx (附件3 layout), audited with the
/// reason given.
pub async fn export(
    State(state): State<AppState>,
    who: CurrentUser,
    Form(form): Form<ExportForm>,
) -> AppResult<Response> {
    let region = state
        .tree
        .get(form.region.trim())
        .filter(|r| Scope::of(r).is_within(&who.scope))
        .ok_or(AppError::NotFound)?;
    let reason = form.reason.trim();
    if reason.is_empty() {
        return refused(&state, &who, messages::render("export-reason-missing", &[]));
    }
    let tmp = tempfile::Builder::new()
        .prefix("jingkang-export-")
        .suffix(".xlsx")
        .tempfile()
        .map_err(|e| AppError::Internal(e.into()))?;
    let actor = who.user.actor();
    let reason: String = reason.chars().take(200).collect();
    let req = ExportRequest {
        scope: &who.scope,
        region,
        out: tmp.path(),
        as_of: today(),
        actor: &actor,
        reason: &reason,
    };
    export_roster(&state.db, &state.tree, &req).await?;
    let bytes = tokio::fs::read(tmp.path())
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(xlsx_download(
        &format!("{}花名册-{}.xlsx", region.name, today().format("%Y%m%d")),
        bytes,
    ))
}

/// An .xlsx file as a download named `file_name` (UTF-8, RFC 5987), never cached.
pub(crate) fn xlsx_download(file_name: &str, bytes: Vec<u8>) -> Response {
    download(
        file_name,
        (
            "export.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        bytes,
    )
}

/// A file to save (`fallback`: the ASCII name for old browsers), never cached.
pub(crate) fn download(
    file_name: &str,
    (fallback, mime): (&str, &str),
    bytes: Vec<u8>,
) -> Response {
    let disposition = format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        urlencode(file_name)
    );
    (
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        bytes,
    )
        .into_response()
}
