//! `jingkang serve`: the web application, with optional demo data and accounts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use jingkang_core::accounts::{self, Role};
use jingkang_core::messages::render;
use jingkang_core::regions::{self, Level};
use jingkang_core::store::accounts::{self as store_accounts, NewUser};
use jingkang_core::store::{Actor, Db, persons};
use jingkang_web::{AppState, Settings};

use crate::commands::{load_demo, open, user_error};

pub async fn run(
    url: &str,
    listen: SocketAddr,
    (demo, demo_county): (bool, &str),
    behind_proxy: bool,
    tls: Option<(PathBuf, PathBuf)>,
    (instruments, indicators): (Option<PathBuf>, Option<PathBuf>),
) -> anyhow::Result<ExitCode> {
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
    let (db, tree) = open(url).await?;
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
        trust_proxy: behind_proxy,
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
    match tls_config {
        Some(tls) => jingkang_web::serve_tls(listener, state, tls, shutdown_signal()).await?,
        None => {
            listener.set_nonblocking(true)?;
            jingkang_web::serve(
                tokio::net::TcpListener::from_std(listener)?,
                state,
                shutdown_signal(),
            )
            .await?;
        }
    }
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
