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

/// This process's global options, set once at start (`main`): where the key file is, for every
/// command that opens the database.
static GLOBAL: std::sync::OnceLock<GlobalOpts> = std::sync::OnceLock::new();

pub fn set_global(g: &GlobalOpts) {
    let _ = GLOBAL.set(g.clone());
}

/// The options set at start (defaults when none were, as in unit tests).
pub fn global() -> GlobalOpts {
    GLOBAL.get().cloned().unwrap_or_else(|| GlobalOpts {
        database: None,
        data_dir: "./data".into(),
        key_file: None,
        audit_witness: None,
        log: "warn".into(),
    })
}

/// A Chinese message for the user: the command stops with it (exit code 2), having changed
/// nothing.
#[derive(Debug)]
pub struct UserError(pub String);

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UserError {}

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
