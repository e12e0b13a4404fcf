//! Configuration: the database URL from flags/environment, and logging.

use crate::GlobalOpts;

/// The database URL: `--database`/`JINGKANG_DATABASE_URL`, else `jingkang.db` in the data directory.
pub fn database_url(g: &GlobalOpts) -> String {
    match &g.database {
        Some(u) if !u.trim().is_empty() => u.trim().to_string(),
        _ => jingkang_core::store::default_url(&g.data_dir),
    }
}

/// Logs go to stderr in English, with no personal data (IDs, phones and names are never logged).
/// `JINGKANG_LOG_FORMAT=json` writes one JSON object per line, for log collectors.
pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if std::env::var("JINGKANG_LOG_FORMAT").is_ok_and(|v| v == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
