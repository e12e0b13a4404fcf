//! Backup and restore (SPEC §11): a consistent online snapshot while the server writes, with the
//! audit chain's head recorded beside it and checked; a restore into an empty database, migrated
//! and verified.
//!
//! - SQLite: `VACUUM INTO` on a read connection (a consistent copy of the WAL database; writers
//!   go on), then the copy is opened read-only: its audit chain verified, its head recorded.
//! - PostgreSQL: `pg_dump --format=custom` (found on PATH or named) under a snapshot exported from
//!   the transaction that reads the audit head, so the head recorded is the dump's own; the dump
//!   is then listed by `pg_restore --list` to check it is whole.
//!
//! Every backup writes `FILE.manifest.json`: backend, when, the number of audit entries and the
//! head hash, the file's SHA-256.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::{Backend, Db, Pool, audit};

/// What a backup holds, written beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub backend: String,
    pub at: DateTime<Utc>,
    /// Audit entries in the backup and the newest one's hash.
    pub audit_entries: u64,
    pub audit_head: String,
    pub sha256: String,
    pub bytes: u64,
}

/// Where the manifest of `file` is.
pub fn manifest_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".manifest.json");
    PathBuf::from(name)
}

/// Take a backup of `db` (at `url`) into `out`. `pg_dump`: the program to use on PostgreSQL.
pub async fn backup(db: &Db, url: &str, out: &Path, pg_dump: &Path) -> anyhow::Result<Manifest> {
    if out.exists() {
        bail!("{} exists already", out.display());
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let checkpoint = match &db.pool {
        Pool::Sqlite { read, .. } => {
            let target = out.to_string_lossy().to_string();
            sqlx::query("VACUUM INTO $1")
                .bind(&target)
                .execute(read)
                .await
                .context("VACUUM INTO")?;
            // The copy's own chain: verified whole, and its head is what the backup holds.
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(
                    sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(out)
                        .read_only(true),
                )
                .await
                .context("opening the backup")?;
            let copy = Db::of(Pool::Sqlite {
                write: pool.clone(),
                read: pool,
            });
            let mut tx = copy.begin_read().await?;
            let v = audit::verify(&mut tx).await?;
            let c = audit::checkpoint(&mut tx).await?;
            tx.commit().await?;
            copy.close().await;
            if let Some(id) = v.first_broken {
                bail!("the audit chain of the backup is broken at entry {id}");
            }
            c
        }
        Pool::Postgres(pool) => {
            // The dump runs in the snapshot of this transaction, which also reads the audit head.
            let mut tx = pool.begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
            let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
                .fetch_one(&mut *tx)
                .await?;
            let mut wrapped = super::Tx {
                conn: super::Conn::Postgres(tx),
                keys: db.keys().clone(),
            };
            let c = audit::checkpoint(&mut wrapped).await?;
            let status = Command::new(pg_dump)
                .args(["--format=custom", "--no-owner", "--no-privileges"])
                .arg(format!("--snapshot={snapshot}"))
                .arg(format!("--file={}", out.display()))
                .arg(format!("--dbname={url}"))
                .status()
                .with_context(|| format!("cannot run {}", pg_dump.display()))?;
            wrapped.rollback().await?;
            if !status.success() {
                let _ = std::fs::remove_file(out);
                bail!("{} failed ({status})", pg_dump.display());
            }
            let restore = pg_restore_of(pg_dump);
            let listed = Command::new(&restore)
                .arg("--list")
                .arg(out)
                .output()
                .with_context(|| format!("cannot run {}", restore.display()))?;
            if !listed.status.success()
                || !String::from_utf8_lossy(&listed.stdout).contains("audit_log")
            {
                bail!("the dump {} cannot be read back", out.display());
            }
            c
        }
    };
    let (sha256, bytes) = digest(out)?;
    let manifest = Manifest {
        backend: match db.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
        .into(),
        at: Utc::now(),
        audit_entries: checkpoint.entries,
        audit_head: checkpoint.head,
        sha256,
        bytes,
    };
    std::fs::write(manifest_path(out), serde_json::to_string_pretty(&manifest)?)?;
    Ok(manifest)
}

/// `pg_restore` beside the `pg_dump` named (or on PATH).
fn pg_restore_of(pg_dump: &Path) -> PathBuf {
    match pg_dump.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir.join("pg_restore"),
        None => PathBuf::from("pg_restore"),
    }
}

fn digest(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let bytes = std::io::copy(&mut f, &mut h)?;
    Ok((hex::encode(h.finalize()), bytes))
}

/// Why a restore did not run. Nothing was changed.
#[derive(Debug)]
pub enum RestoreRefusal {
    /// The target database holds data (use `--force`).
    NotEmpty,
    /// The file is not a backup of this backend, or does not match its manifest.
    NotABackup(String),
}

/// Restore `file` into the database at `url` (empty, or emptied with `force`), then migrate it.
/// Returns the restored database.
pub async fn restore(
    url: &str,
    file: &Path,
    force: bool,
    pg_dump: &Path,
) -> anyhow::Result<Result<Db, RestoreRefusal>> {
    if let Ok(text) = std::fs::read_to_string(manifest_path(file)) {
        let m: Manifest = serde_json::from_str(&text).context("the backup's manifest")?;
        if digest(file)?.0 != m.sha256 {
            return Ok(Err(RestoreRefusal::NotABackup(
                "checksum differs from its manifest".into(),
            )));
        }
    }
    if url.starts_with("sqlite:") {
        let header = std::fs::read(file).map(|b| b.starts_with(b"SQLite format 3\0"));
        if !header.unwrap_or(false) {
            return Ok(Err(RestoreRefusal::NotABackup("not an SQLite file".into())));
        }
        let target = Db::connect_without_migrating(url).await?;
        let tables = user_tables(&target).await?;
        let path = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
            .get_filename()
            .to_path_buf();
        target.close().await;
        if tables > 0 && !force {
            return Ok(Err(RestoreRefusal::NotEmpty));
        }
        // Replace the file (and its WAL) with the backup, through a temporary copy beside it.
        let tmp = path.with_extension("restoring");
        std::fs::copy(file, &tmp)?;
        for ext in ["db-wal", "db-shm"] {
            let _ = std::fs::remove_file(path.with_extension(ext));
        }
        std::fs::rename(&tmp, &path)?;
    } else {
        let target = Db::connect_without_migrating(url).await?;
        let tables = user_tables(&target).await?;
        if tables > 0 {
            if !force {
                return Ok(Err(RestoreRefusal::NotEmpty));
            }
            if let Pool::Postgres(p) = &target.pool {
                sqlx::query("DROP SCHEMA public CASCADE").execute(p).await?;
                sqlx::query("CREATE SCHEMA public").execute(p).await?;
            }
        }
        target.close().await;
        let restore = pg_restore_of(pg_dump);
        let out = Command::new(&restore)
            .args(["--no-owner", "--no-privileges", "--exit-on-error"])
            .arg(format!("--dbname={url}"))
            .arg(file)
            .output()
            .with_context(|| format!("cannot run {}", restore.display()))?;
        if !out.status.success() {
            return Ok(Err(RestoreRefusal::NotABackup(
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" "),
            )));
        }
    }
    Ok(Ok(Db::connect(url).await?))
}

/// Tables of the application in the database (0: empty).
async fn user_tables(db: &Db) -> anyhow::Result<i64> {
    let sql = match db.backend() {
        Backend::Sqlite => {
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        Backend::Postgres => "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
    };
    Ok(crate::on_pool!(db, p => sqlx::query_scalar(sql).fetch_one(p).await)?)
}
