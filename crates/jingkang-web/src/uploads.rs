//! Files uploaded for a two-step import (preview, then confirm): kept in a temporary file owned by
//! the uploading user for a limited time, then deleted (also when the server stops).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tempfile::TempPath;

/// How long an uploaded file waits for its confirmation.
pub const UPLOAD_TTL: Duration = Duration::from_secs(60 * 60);

pub struct Upload {
    pub user_id: i64,
    /// The file name as uploaded (shown and audited as the import's source).
    pub name: String,
    /// Deleted when dropped.
    pub path: TempPath,
    created: Instant,
}

#[derive(Default)]
pub struct Uploads {
    files: Mutex<HashMap<String, Upload>>,
}

impl Uploads {
    /// Keep `path` for `user_id`; returns the token that names it.
    pub fn put(&self, user_id: i64, name: String, path: TempPath) -> String {
        let token = jingkang_core::accounts::new_secret();
        let mut files = self
            .files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        files.retain(|_, u| u.created.elapsed() < UPLOAD_TTL);
        files.insert(
            token.clone(),
            Upload {
                user_id,
                name,
                path,
                created: Instant::now(),
            },
        );
        token
    }

    /// Take the upload named by `token` if it belongs to `user_id` and has not expired.
    pub fn take(&self, user_id: i64, token: &str) -> Option<Upload> {
        let mut files = self
            .files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match files.get(token) {
            Some(u) if u.user_id == user_id && u.created.elapsed() < UPLOAD_TTL => {
                files.remove(token)
            }
            _ => None,
        }
    }

    /// Put back an upload taken for a run that failed, so the user may try again.
    pub fn put_back(&self, token: String, upload: Upload) {
        let mut files = self
            .files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        files.insert(token, upload);
    }
}
