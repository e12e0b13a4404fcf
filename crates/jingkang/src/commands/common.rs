//! What several subcommands share: the exit of a file they could not take in. A leaf: it imports
//! no other subcommand module.

use std::process::ExitCode;

use jingkang_core::messages::render;

use crate::db::user_error;

/// A file that could not be taken in: the user's mistake (exit code 2, with `--json` an error
/// object), or an internal error.
pub fn refused(
    e: jingkang_core::import::ImportError,
    json: bool,
    message: &str,
) -> anyhow::Result<ExitCode> {
    if e.code() == "internal-error" {
        return Err(anyhow::Error::from(e));
    }
    if json {
        out!(
            "{}",
            serde_json::json!({"error": {"code": e.code(), "message": e.message_zh()}})
        );
    }
    Ok(user_error(render(message, &[("message", &e.message_zh())])))
}
