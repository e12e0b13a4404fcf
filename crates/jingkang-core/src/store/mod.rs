//! Storage: one code path over SQLite and PostgreSQL.
//!
//! The backend is chosen at run time from the database URL (`sqlite:` or `postgres:`). Queries are
//! written once with `$1, $2, …` placeholders, which both sqlx drivers accept, and run through the
//! [`on_tx!`] / [`on_pool!`] macros: the body is compiled once per backend, so row types and binds are
//! native on each (dates are `DATE` on PostgreSQL and ISO text on SQLite). Where the dialects really
//! differ, code matches on [`Backend`].
//!
//! Every repository function over persons takes a [`crate::regions::Scope`]; see `persons.rs`.

pub mod accounts;
pub mod agreements;
pub mod alerts;
pub mod asof;
pub mod assessments;
pub mod audit;
pub mod backup;
pub mod batch;
pub mod bulk;
pub mod contracts;
pub mod dialect;
pub mod emergencies;
pub mod family;
pub mod followups;
pub mod institutions;
pub mod leases;
pub mod merge;
pub mod persons;
pub mod plans;
pub mod regions;
pub mod registration;
pub mod report;
pub mod sealing;
pub mod services;
pub mod standard;
pub mod throttle;
pub mod worklists;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use crate::secrets::Keys;

/// Run `$body` with `$c` bound to the concrete transaction (`&mut Transaction<'static, DB>`).
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match &mut ($tx).conn {
            $crate::store::Conn::Sqlite($c) => $body,
            $crate::store::Conn::Postgres($c) => $body,
        }
    };
}

/// Run `$body` with `$p` bound to the concrete pool (`&SqlitePool` / `&PgPool`).
#[macro_export]
macro_rules! on_pool {
    ($db:expr, $p:ident => $body:expr) => {
        match &($db).pool {
            $crate::store::Pool::Sqlite { write: $p, .. } => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database: its connection pool and the keys its sensitive values are sealed with
/// ([`crate::secrets::Keys`], attached with [`Db::with_keys`]). Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: Pool,
    keys: Keys,
}

/// A connection pool on one of the two backends.
///
/// SQLite has one writer at a time, so its writes go through a pool of exactly one connection:
/// writers queue in the pool, in order, instead of sleeping in SQLite's busy handler (which costs
/// milliseconds per collision under load). Reads that write nothing (a session lookup) use `read`,
/// read-only connections that run beside the writer under WAL.
#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite { write: SqlitePool, read: SqlitePool },
    Postgres(PgPool),
}

/// SQLite page cache per connection, in KiB: the writer's is larger (imports build indexes), the
/// readers' small, so the server stays small at a million persons.
const SQLITE_WRITE_CACHE_KIB: i64 = 32 * 1024;
const SQLITE_READ_CACHE_KIB: i64 = 8 * 1024;
const SQLITE_READERS: u32 = 4;

/// A transaction on one of the two backends, with the database's keys.
pub struct Tx {
    pub conn: Conn,
    pub keys: Keys,
}

/// The connection of a transaction.
pub enum Conn {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// The default database URL for a data directory: an SQLite file `jingkang.db` inside it.
pub fn default_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("jingkang.db").display())
}

/// Describe a URL without its password, for logs and messages.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://…@{host}"),
            None => format!("{scheme}://{rest}"),
        },
        None => url.to_string(),
    }
}

impl Db {
    /// A database on `pool`, without keys yet.
    pub fn of(pool: Pool) -> Db {
        Db {
            pool,
            keys: Keys::none(),
        }
    }

    /// The same database with `keys` to seal and open sensitive values.
    pub fn with_keys(mut self, keys: Keys) -> Db {
        self.keys = keys;
        self
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Open (creating if needed) the database at `url` and apply the embedded migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        let db = Self::connect_without_migrating(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    pub async fn connect_without_migrating(url: &str) -> anyhow::Result<Db> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .with_context(|| format!("invalid SQLite URL {}", redact_url(url)))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
                .pragma("temp_store", "memory");
            let in_memory = opts.get_filename().as_os_str().is_empty()
                || url.contains(":memory:")
                || url.contains("mode=memory");
            if let Some(path) = opts.get_filename().parent()
                && !path.as_os_str().is_empty()
            {
                std::fs::create_dir_all(path)
                    .with_context(|| format!("cannot create data directory {}", path.display()))?;
            }
            // No ping before each acquire: a file connection does not go stale, and the ping is one
            // more round trip to the driver's thread on every request.
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(
                    opts.clone()
                        .pragma("cache_size", format!("-{SQLITE_WRITE_CACHE_KIB}"))
                        // The writer's sorts (an import's index builds: millions of keys) spill to
                        // temporary files past the cache size; with temporary storage in memory
                        // SQLite sorts wholly in memory (142 MB for 2 M persons).
                        .pragma("temp_store", "file"),
                )
                .await
                .with_context(|| format!("cannot open SQLite database {}", redact_url(url)))?;
            // An in-memory database exists only in its one connection.
            let read = if in_memory {
                write.clone()
            } else {
                // Lazy: the readers open after the writer has created the file and migrated it.
                SqlitePoolOptions::new()
                    .max_connections(SQLITE_READERS)
                    .test_before_acquire(false)
                    .connect_lazy_with(
                        opts.create_if_missing(false)
                            .read_only(true)
                            .pragma("cache_size", format!("-{SQLITE_READ_CACHE_KIB}")),
                    )
            };
            Ok(Db::of(Pool::Sqlite { write, read }))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts = PgConnectOptions::from_str(url)
                .with_context(|| format!("invalid PostgreSQL URL {}", redact_url(url)))?;
            Self::connect_postgres(opts).await
        } else {
            bail!(
                "unsupported database URL {} (use sqlite://… or postgres://…)",
                redact_url(url)
            )
        }
    }

    pub async fn connect_postgres(opts: PgConnectOptions) -> anyhow::Result<Db> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await
            .context("cannot connect to PostgreSQL")?;
        Ok(Db::of(Pool::Postgres(pool)))
    }

    /// Apply the embedded migrations up to and including `version` only (tests of a migration over
    /// data written by the schema before it).
    pub async fn migrate_up_to(&self, version: i64) -> anyhow::Result<()> {
        fn only(mut m: sqlx::migrate::Migrator, version: i64) -> sqlx::migrate::Migrator {
            m.migrations = m
                .migrations
                .iter()
                .filter(|x| x.version <= version)
                .cloned()
                .collect::<Vec<_>>()
                .into();
            m
        }
        match &self.pool {
            Pool::Sqlite { write: p, .. } => {
                only(sqlx::migrate!("./migrations/sqlite"), version)
                    .run(p)
                    .await?
            }
            Pool::Postgres(p) => {
                only(sqlx::migrate!("./migrations/postgres"), version)
                    .run(p)
                    .await?
            }
        }
        Ok(())
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match &self.pool {
            Pool::Sqlite { write: p, .. } => sqlx::migrate!("./migrations/sqlite").run(p).await?,
            Pool::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(p).await?,
        }
        // Data the SQL migrations cannot compute.
        persons::backfill_initials(self).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match &self.pool {
            Pool::Sqlite { .. } => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Begin a read-write transaction. On SQLite it is `BEGIN IMMEDIATE`, so the write lock is held
    /// from the start (every person read writes an audit entry, and the audit chain reads its head).
    pub async fn begin(&self) -> anyhow::Result<Tx> {
        let conn = match &self.pool {
            Pool::Sqlite { write, .. } => Conn::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => Conn::Postgres(p.begin().await?),
        };
        Ok(Tx {
            conn,
            keys: self.keys.clone(),
        })
    }

    /// Begin a transaction that only reads. On SQLite it runs on a read-only connection beside the
    /// writer (a write in it fails); on PostgreSQL it is an ordinary transaction.
    pub async fn begin_read(&self) -> anyhow::Result<Tx> {
        let conn = match &self.pool {
            Pool::Sqlite { read, .. } => Conn::Sqlite(read.begin().await?),
            Pool::Postgres(p) => Conn::Postgres(p.begin().await?),
        };
        Ok(Tx {
            conn,
            keys: self.keys.clone(),
        })
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite { write, read } => {
                read.close().await;
                write.close().await;
            }
            Pool::Postgres(p) => p.close().await,
        }
    }
}

impl Tx {
    pub fn backend(&self) -> Backend {
        match &self.conn {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn commit(self) -> anyhow::Result<()> {
        match self.conn {
            Conn::Sqlite(t) => t.commit().await?,
            Conn::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> anyhow::Result<()> {
        match self.conn {
            Conn::Sqlite(t) => t.rollback().await?,
            Conn::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}

/// Who did something: a user of the web app, a CLI operator, or the system itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// An operator at the command line, named after the OS user.
    pub fn cli() -> Actor {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("USERNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Actor(format!("cli:{user}"))
    }
    pub fn user(username: &str) -> Actor {
        Actor(format!("user:{username}"))
    }
    pub fn system() -> Actor {
        Actor("system".into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Open a change set: the unit of provenance (who, when, source) that history rows point to.
pub async fn open_change_set(
    tx: &mut Tx,
    actor: &Actor,
    source: &str,
    action: &str,
) -> anyhow::Result<i64> {
    let at: DateTime<Utc> = Utc::now();
    let id: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO change_sets (actor, source, action, at) VALUES ($1, $2, $3, $4) RETURNING id")
        .bind(actor.as_str()).bind(source).bind(action).bind(at)
        .fetch_one(&mut **c).await)?;
    Ok(id)
}

/// Why an entry was not written (family support, report filings): the thing is absent or outside
/// the caller's scope (the same answer), or these problems by field. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    Problems(Vec<crate::care::service::FieldError>),
}

/// A refusal of one problem: `field`, message `code` with `args`.
pub(crate) fn refuse<T>(
    field: &str,
    code: &str,
    args: &[(&str, &str)],
) -> anyhow::Result<Result<T, Refusal>> {
    Ok(Err(Refusal::Problems(vec![crate::care::family::problem(
        field, code, args,
    )])))
}
