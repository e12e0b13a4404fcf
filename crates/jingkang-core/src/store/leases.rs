//! Named leases in the database (migration 0037), shared by every server process: whoever holds
//! `name` until `expires` is the only one doing that work (one import at a time per database);
//! a holder that died leaves a lease that expires and may be taken over.

use chrono::{DateTime, Duration, Utc};

use super::Db;
use crate::on_pool;

/// Who holds a lease, for the message of whoever has to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub holder: String,
    pub since: DateTime<Utc>,
}

/// Take lease `name` for `holder` for `ttl`, unless someone else holds it (then who, since when).
pub async fn take(
    db: &Db,
    name: &str,
    holder: &str,
    ttl: Duration,
) -> anyhow::Result<Result<(), Held>> {
    let now = Utc::now();
    let taken = on_pool!(db, p => sqlx::query(
        "INSERT INTO leases (name, holder, since, expires) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, since = excluded.since, \
         expires = excluded.expires WHERE leases.expires < $3")
        .bind(name).bind(holder).bind(now).bind(now + ttl).execute(p).await.map(|r| r.rows_affected()))?;
    if taken == 1 {
        return Ok(Ok(()));
    }
    let held: Option<(String, DateTime<Utc>)> = on_pool!(db, p => sqlx::query_as(
        "SELECT holder, since FROM leases WHERE name = $1").bind(name).fetch_optional(p).await)?;
    Ok(Err(held.map_or_else(
        || Held {
            holder: String::new(),
            since: now,
        },
        |(holder, since)| Held { holder, since },
    )))
}

/// Give lease `name` back (only if `holder` still holds it).
pub async fn release(db: &Db, name: &str, holder: &str) -> anyhow::Result<()> {
    on_pool!(db, p => sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
        .bind(name).bind(holder).execute(p).await.map(drop))?;
    Ok(())
}

/// The lease of imports (rosters and department lists, from the pages, the API and the CLI).
pub const IMPORT: &str = "import";

/// The import lease while an import runs: renewed every 30 s, so that a server killed mid-import
/// leaves it for at most two minutes; given back when dropped (also when the request that ran
/// the import is cancelled).
pub struct ImportLease {
    db: Db,
    holder: String,
    renew: tokio::task::JoinHandle<()>,
}

impl ImportLease {
    const TTL: Duration = Duration::minutes(2);

    /// Take the import lease for the import of `source` (a file name, shown to whoever waits).
    pub async fn take(db: &Db, source: &str) -> anyhow::Result<Result<ImportLease, Held>> {
        let holder = format!("{source}\t{}", crate::accounts::new_secret());
        if let Err(held) = take(db, IMPORT, &holder, Self::TTL).await? {
            return Ok(Err(held));
        }
        let (renew_db, renew_holder) = (db.clone(), holder.clone());
        let renew = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(30));
            every.tick().await;
            loop {
                every.tick().await;
                let expires = Utc::now() + ImportLease::TTL;
                let r = on_pool!(&renew_db, p => sqlx::query(
                    "UPDATE leases SET expires = $1 WHERE name = $2 AND holder = $3")
                    .bind(expires).bind(IMPORT).bind(&renew_holder).execute(p).await.map(drop));
                if let Err(e) = r {
                    tracing::warn!(error = %e, "import lease not renewed");
                }
            }
        });
        Ok(Ok(ImportLease {
            db: db.clone(),
            holder,
            renew,
        }))
    }
}

impl ImportLease {
    /// Run `work` under the import lease for `source`, giving the lease back however `work`
    /// ends; while another import holds it, `busy` says who (nothing runs).
    pub async fn run<T, E: From<anyhow::Error>>(
        db: &Db,
        source: &str,
        busy: impl FnOnce(Held) -> E,
        work: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let lease = match Self::take(db, source).await? {
            Ok(lease) => lease,
            Err(held) => return Err(busy(held)),
        };
        let done = work.await;
        lease.release().await?;
        done
    }

    /// Give the lease back now (the next import may start at once). Dropping it gives it back
    /// too, a moment later (when a request is cancelled mid-import).
    pub async fn release(mut self) -> anyhow::Result<()> {
        self.renew.abort();
        let holder = std::mem::take(&mut self.holder);
        release(&self.db, IMPORT, &holder).await
    }
}

impl Drop for ImportLease {
    fn drop(&mut self) {
        self.renew.abort();
        let (db, holder) = (self.db.clone(), std::mem::take(&mut self.holder));
        if holder.is_empty() {
            return; // released already
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = release(&db, IMPORT, &holder).await {
                    tracing::warn!(error = %e, "import lease not released");
                }
            });
        }
    }
}

impl Held {
    /// The file of the import that holds the lease.
    pub fn source(&self) -> &str {
        self.holder.split('\t').next().unwrap_or("")
    }
}
