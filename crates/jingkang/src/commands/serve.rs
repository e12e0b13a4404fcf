//! `jingkang serve`: the web application, with optional demo data and accounts.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use jingkang_core::accounts::{self, Role};
use jingkang_core::messages::render;
use jingkang_core::regions::{self, Level};
use jingkang_core::store::accounts::{self as store_accounts, NewUser};
use jingkang_core::store::{Actor, Db, persons};
use jingkang_web::{AppState, Settings};

use crate::db::{load_demo, user_error};

pub async fn run(
    url: &str,
    global: &crate::GlobalOpts,
    args: crate::ServeArgs,
) -> anyhow::Result<ExitCode> {
    let crate::ServeArgs {
        listen,
        demo,
        demo_county,
        behind_proxy,
        trusted_proxy,
        password_max_age_days,
        tls_cert,
        tls_key,
        instruments,
        indicators,
        backup_dir,
        backup_every,
        backup_keep,
        pg_dump,
    } = args;
    let demo_county = demo_county.as_str();
    let tls: Option<(PathBuf, PathBuf)> = tls_cert.zip(tls_key);
    // Behind a proxy with none named: the proxy is on this host.
    let trusted_proxies = if behind_proxy && trusted_proxy.is_empty() {
        ["127.0.0.0/8", "::1/128"]
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect()
    } else {
        trusted_proxy
    };
    // A deployment's own instruments are checked before anything else happens, like the TLS files.
    let catalogue = match &instruments {
        None => None,
        Some(dir) => match jingkang_core::care::instrument::Catalogue::shipped_and(dir) {
            Ok(c) => Some(c),
            Err(e) => {
                let (dir, detail) = (dir.display().to_string(), format!("{e:#}"));
                return Ok(user_error(render(
                    "cli-instruments-invalid",
                    &[("dir", &dir), ("detail", &detail)],
                )));
            }
        },
    };
    let indicators = match &indicators {
        None => None,
        Some(file) => match jingkang_core::report::indicators::Indicators::load(Some(file)) {
            Ok(i) => Some(i),
            Err(e) => {
                let (file, detail) = (file.display().to_string(), format!("{e:#}"));
                return Ok(user_error(render(
                    "cli-indicators-invalid",
                    &[("file", &file), ("detail", &detail)],
                )));
            }
        },
    };
    // Certificate problems are found before anything else happens.
    let tls_config = match &tls {
        None => None,
        Some((cert, key)) => match jingkang_web::RustlsConfig::from_pem_file(cert, key).await {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::debug!(error = %e, "TLS configuration rejected");
                let files = format!("{}、{}", cert.display(), key.display());
                return Ok(user_error(render("cli-tls-invalid", &[("files", &files)])));
            }
        },
    };
    // The master key (created in the data directory at a first start) must be this database's.
    let (db, tree, key) = crate::db::open_all(url).await?;
    if demo {
        let Some(county) = tree.get(demo_county).cloned() else {
            return Ok(user_error(render(
                "cli-region-unknown",
                &[("code", demo_county)],
            )));
        };
        let mut tx = db.begin().await?;
        let empty = persons::registry_is_empty(&mut tx).await?;
        tx.commit().await?;
        if empty {
            load_demo(&db, &tree, &county).await?;
        }
        demo_accounts(&db, &tree, &county).await?;
    }
    let stop = shutdown_signal()?;
    let listener = std::net::TcpListener::bind(listen)?;
    let addr = listener.local_addr()?;
    let scheme = if tls_config.is_some() {
        "https"
    } else {
        "http"
    };
    out!(
        "{}",
        render(
            "cli-serve-listening",
            &[("scheme", scheme), ("addr", &addr.to_string())]
        )
    );
    tracing::info!(%addr, tls = tls_config.is_some(), "serving");
    let settings = Settings {
        secure_cookies: behind_proxy || tls_config.is_some(),
        trusted_proxies,
        password_max_age_days,
    };
    let mut state = AppState::new(db, tree, settings);
    if let Some(i) = indicators {
        tracing::info!(indicators = i.indicators.len(), "indicators loaded");
        state = state.with_indicators(i);
    }
    if let Some(c) = catalogue {
        tracing::info!(
            instruments = c.instruments.len(),
            "assessment instruments loaded"
        );
        state = state.with_instruments(c);
    }
    // The dashboard's quarters counted in the background from now on (`jingkang_web::boards`).
    jingkang_web::boards::keep_warm(state.clone());
    // Scheduled backups, when asked for.
    if let Some(dir) = backup_dir {
        let schedule = Backups {
            db: state.db.clone(),
            url: url.to_string(),
            dir,
            keep: backup_keep.max(1),
            pg_dump,
        };
        tokio::spawn(async move {
            let mut every = tokio::time::interval(backup_every);
            every.tick().await; // the first one after one period, not at start
            loop {
                every.tick().await;
                schedule.take().await;
            }
        });
    }
    // The audit chain's checkpoints go to the witness every minute and at shutdown.
    let witness = Witness {
        db: state.db.clone(),
        key,
        path: crate::config::witness_path(global),
    };
    let ticking = witness.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            ticking.write().await;
        }
    });
    match tls_config {
        Some(tls) => jingkang_web::serve_tls(listener, state, tls, stop).await?,
        None => {
            listener.set_nonblocking(true)?;
            jingkang_web::serve(tokio::net::TcpListener::from_std(listener)?, state, stop).await?;
        }
    }
    witness.write().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Where and how the server writes the audit chain's checkpoints.
#[derive(Clone)]
struct Witness {
    db: Db,
    key: jingkang_core::secrets::MasterKey,
    path: PathBuf,
}

impl Witness {
    /// Append a checkpoint when the chain grew since the last one written. A failure is logged
    /// (without personal data) and retried at the next tick.
    async fn write(&self) {
        static LAST: std::sync::Mutex<Option<(u64, String)>> = std::sync::Mutex::new(None);
        let result: anyhow::Result<()> = async {
            let mut tx = self.db.begin_read().await?;
            let c = jingkang_core::store::audit::checkpoint(&mut tx).await?;
            tx.commit().await?;
            let seen = Some((c.entries, c.head.clone()));
            if *LAST
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                == seen
            {
                return Ok(());
            }
            jingkang_core::witness::append(&self.path, &self.key, &c)?;
            *LAST
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = seen;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error = %format!("{e:#}"), path = %self.path.display(), "audit witness not written");
        }
    }
}

/// Demo accounts, created once, each printed with a first password that must be changed at first
/// login: an administrator, a county 民政 officer, a township clerk, a doctor and a
/// social worker of a site.
async fn demo_accounts(
    db: &Db,
    tree: &regions::RegionTree,
    county: &regions::Region,
) -> anyhow::Result<()> {
    let township = tree
        .children(&county.code)
        .into_iter()
        .find(|r| r.level == Level::Township)
        .map(|r| r.code.clone());
    let province = county.code[..2].to_string() + "0000";
    let name_of = |code: &str| tree.get(code).map(|r| r.name.clone()).unwrap_or_default();
    let mut wanted = vec![
        (
            "admin",
            "系统管理员",
            Role::Admin,
            province.clone(),
            format!("{}民政局", name_of(&province)),
        ),
        (
            "minzheng",
            "区民政局",
            Role::Civil,
            county.code.clone(),
            format!("{}民政局", county.name),
        ),
        (
            "yisheng",
            "精防医生",
            Role::Doctor,
            county.code.clone(),
            format!("{}精神卫生中心", county.name),
        ),
    ];
    if let Some(t) = township {
        let org = format!("{}办事处", name_of(&t));
        wanted.push(("jiezhen", "街镇工作人员", Role::Township, t, org));
    }
    let mut tx = db.begin().await?;
    // A social worker of the first township site: sees only the persons in that site's care.
    let (lo, hi) = regions::Scope::of(county).bounds();
    let site: Option<(i64, String, String)> = jingkang_core::on_tx!(&mut tx, c => sqlx::query_as(
        "SELECT id, region, name FROM institutions WHERE kind <> 'center' AND region >= $1 AND region < $2 ORDER BY id LIMIT 1")
        .bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    if let Some((_, region, name)) = &site {
        wanted.push((
            "shegong",
            "康复站社工",
            Role::Worker,
            region.clone(),
            name.clone(),
        ));
    }
    for (username, display, role, region, org) in wanted {
        if store_accounts::find_user(&mut tx, username)
            .await?
            .is_some()
        {
            continue;
        }
        let organisation_id = match store_accounts::find_organisation_for(&mut tx, &org, &region)
            .await?
        {
            Some(o) => Some(o.id),
            None => store_accounts::create_organisation(&mut tx, &Actor::system(), &org, &region)
                .await?
                .ok(),
        };
        let password = accounts::generate_password();
        let new = NewUser {
            username,
            display_name: display,
            role,
            region_code: &region,
            password: &password,
            must_change_password: true,
            organisation_id,
        };
        if store_accounts::create_user(&mut tx, &Actor::system(), &new)
            .await?
            .is_ok()
        {
            if let (Role::Worker, Some((site_id, _, _))) = (role, &site) {
                let user = store_accounts::find_user(&mut tx, username)
                    .await?
                    .context("demo worker")?;
                store_accounts::set_site(&mut tx, &Actor::system(), &user, Some(*site_id))
                    .await?
                    .map_err(|e| anyhow::anyhow!("demo worker's site: {e:?}"))?;
            }
            out!(
                "{}",
                render(
                    "cli-serve-demo-account",
                    &[
                        ("username", username),
                        ("role", role.label_zh()),
                        ("region", &tree.path_name(&region)),
                        ("password", &password)
                    ]
                )
            );
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The stop signals, registered at once: a SIGTERM that arrives right after the server said it
/// started must stop it gracefully, not kill it with the default disposition (which it would if
/// the handler were only installed when the future is first polled).
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let (mut term, mut int) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
        )
    };
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing requests in flight");
    })
}

/// The server's scheduled backups.
struct Backups {
    db: Db,
    url: String,
    dir: PathBuf,
    keep: usize,
    pg_dump: PathBuf,
}

impl Backups {
    /// Take one backup, then keep only the newest `keep`. A failure is logged and shown to the
    /// administrators (a notification), and the next period tries again.
    async fn take(&self) {
        let ext = match self.db.backend() {
            jingkang_core::store::Backend::Sqlite => "db",
            jingkang_core::store::Backend::Postgres => "dump",
        };
        let now = chrono::Utc::now();
        let file = self
            .dir
            .join(format!("jingkang-{}.{ext}", now.format("%Y%m%d-%H%M%S")));
        match jingkang_core::store::backup::backup(&self.db, &self.url, &file, &self.pg_dump).await
        {
            Ok(m) => {
                tracing::info!(file = %file.display(), bytes = m.bytes, audit_entries = m.audit_entries, "backup taken");
                self.prune(ext);
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), dir = %self.dir.display(), "scheduled backup failed");
                if let Err(e) = self.tell_admins(now).await {
                    tracing::error!(error = %format!("{e:#}"), "backup failure notice not written");
                }
            }
        }
    }

    fn prune(&self, ext: &str) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut ours: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("jingkang-") && n.ends_with(&format!(".{ext}")))
            })
            .collect();
        ours.sort();
        let excess = ours.len().saturating_sub(self.keep);
        for old in ours.into_iter().take(excess) {
            let _ = std::fs::remove_file(jingkang_core::store::backup::manifest_path(&old));
            let _ = std::fs::remove_file(&old);
        }
    }

    async fn tell_admins(&self, at: chrono::DateTime<chrono::Utc>) -> anyhow::Result<()> {
        let when = jingkang_core::domain::clock::minute(at);
        let (title, body) = (
            render("notice-backup-failed-title", &[]),
            render("notice-backup-failed", &[("at", &when)]),
        );
        let mut tx = self.db.begin().await?;
        jingkang_core::on_tx!(&mut tx, c => sqlx::query(
            "INSERT INTO notifications (created_at, region_code, audience, kind, person_id, title, body) \
             SELECT DISTINCT $1, region_code, 'admin', 'backup', NULL, $2, $3 FROM users WHERE role = 'admin'")
            .bind(at).bind(&title).bind(&body).execute(&mut **c).await.map(drop))?;
        tx.commit().await?;
        Ok(())
    }
}
