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

/// The master key file: `--key-file`, else `jingkang.key` in the data directory.
pub fn key_path(g: &GlobalOpts) -> std::path::PathBuf {
    g.key_file
        .clone()
        .unwrap_or_else(|| g.data_dir.join("jingkang.key"))
}

/// The audit witness: `--audit-witness`, else `audit-witness.log` in the data directory.
pub fn witness_path(g: &GlobalOpts) -> std::path::PathBuf {
    g.audit_witness
        .clone()
        .unwrap_or_else(|| g.data_dir.join("audit-witness.log"))
}

/// The master key, created (with a notice on stderr) when `create` and the file does not exist,
/// and checked against the database: `Err` carries the Chinese message for the user.
pub async fn master_key(
    g: &GlobalOpts,
    db: &jingkang_core::store::Db,
    create: bool,
) -> anyhow::Result<Result<jingkang_core::secrets::MasterKey, String>> {
    use jingkang_core::messages::render;
    use jingkang_core::secrets::MasterKey;
    let path = key_path(g);
    let shown = path.display().to_string();
    let key = if create && !path.exists() {
        let k = MasterKey::create(&path)?;
        eprintln!("{}", render("cli-key-created", &[("file", &shown)]));
        k
    } else {
        match MasterKey::load(&path) {
            Ok(k) => k,
            Err(e) => return Ok(Err(e.message_zh())),
        }
    };
    if !jingkang_core::store::audit::key_matches(db, &key).await? {
        return Ok(Err(render("key-mismatch", &[("file", &shown)])));
    }
    Ok(Ok(key))
}
