//! The installation's upkeep: `init`, `audit verify`, `key rotate`, `backup`, `restore` and
//! `referrals-expire`.

use std::path::PathBuf;
use std::process::ExitCode;

use jingkang_core::messages::render;
use jingkang_core::regions::{self, RegionTree, Scope};
use jingkang_core::store::{self, Actor, Db, audit, persons};

use crate::db::{load_demo, open, open_keyed, today, user_error};

pub async fn init(
    url: &str,
    global: &crate::GlobalOpts,
    demo: bool,
    demo_county: &str,
) -> anyhow::Result<ExitCode> {
    let _ = global;
    let (db, _) = open_keyed(url).await?;
    let mut tx = db.begin().await?;
    let n = jingkang_core::store::regions::install_embedded(&mut tx).await?;
    audit::record(
        &mut tx,
        &Actor::cli(),
        "system.init",
        None,
        serde_json::json!({"regions": n}),
    )
    .await?;
    tx.commit().await?;
    let tree = jingkang_core::store::regions::load_tree(&db, false).await?;
    out!(
        "{}",
        render(
            "cli-init-done",
            &[
                ("db", &store::redact_url(url)),
                ("regions", &tree.len().to_string())
            ]
        )
    );
    if !demo {
        return Ok(ExitCode::SUCCESS);
    }
    let Some(county) = tree.get(demo_county) else {
        return Ok(user_error(render(
            "cli-region-unknown",
            &[("code", demo_county)],
        )));
    };
    load_demo(&db, &tree, county).await?;
    out!(
        "{}",
        render(
            "cli-demo-done",
            &[("county", &tree.path_name(&county.code))]
        )
    );
    print_summary(&db, &tree, county).await?;
    Ok(ExitCode::SUCCESS)
}

/// Persons per township of `region`, as the roster summary.
pub async fn print_summary(
    db: &Db,
    tree: &RegionTree,
    region: &regions::Region,
) -> anyhow::Result<()> {
    let scope = Scope::of(region);
    let mut tx = db.begin().await?;
    let counts = persons::count_by_township(&mut tx, &scope).await?;
    tx.commit().await?;
    out!(
        "{}",
        render(
            "cli-summary-header",
            &[("region", &tree.path_name(&region.code))]
        )
    );
    let mut total = 0;
    for (code, n) in counts {
        total += n;
        let name = tree
            .get(&code)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| code.clone());
        out!(
            "{}",
            render(
                "cli-summary-line",
                &[("name", &name), ("code", &code), ("count", &n.to_string())]
            )
        );
    }
    out!(
        "{}",
        render("cli-summary-total", &[("count", &total.to_string())])
    );
    Ok(())
}

/// `audit verify`: the hash chain entry by entry, then against the witness's checkpoints.
pub async fn audit_verify(url: &str, global: &crate::GlobalOpts) -> anyhow::Result<ExitCode> {
    let db = Db::connect(url).await?;
    let mut tx = db.begin_read().await?;
    let v = audit::verify(&mut tx).await?;
    tx.commit().await?;
    let mut ok = true;
    match v.first_broken {
        None => out!(
            "{}",
            render("cli-audit-ok", &[("entries", &v.entries.to_string())])
        ),
        Some(id) => {
            ok = false;
            out!(
                "{}",
                render(
                    "cli-audit-broken",
                    &[("id", &id.to_string()), ("entries", &v.entries.to_string())]
                )
            );
        }
    }
    let witness = crate::config::witness_path(global);
    let shown = witness.display().to_string();
    if !witness.exists() && !crate::config::key_path(global).exists() {
        out!("{}", render("cli-audit-witness-none", &[("file", &shown)]));
        return Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let key = match crate::config::master_key(global, &db, false).await? {
        Ok(k) => k,
        Err(message) => return Ok(user_error(message)),
    };
    let checkpoints = match jingkang_core::witness::read(&witness, &key)? {
        Ok(c) => c,
        Err(jingkang_core::witness::WitnessError::Forged(line)) => {
            out!(
                "{}",
                render(
                    "cli-audit-witness-forged",
                    &[("file", &shown), ("line", &line.to_string())]
                )
            );
            return Ok(ExitCode::from(1));
        }
    };
    if checkpoints.is_empty() {
        out!("{}", render("cli-audit-witness-none", &[("file", &shown)]));
        return Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let mut tx = db.begin_read().await?;
    let entries = audit::checkpoint(&mut tx).await?.entries;
    let tx = tokio::sync::Mutex::new(tx);
    let finding = jingkang_core::witness::compare(&checkpoints, entries, |n| {
        let tx = &tx;
        async move { audit::hash_at(&mut *tx.lock().await, n).await }
    })
    .await?;
    tx.into_inner().commit().await?;
    let at = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&jingkang_core::domain::clock::china())
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    use jingkang_core::witness::Finding;
    match finding {
        Finding::Agrees { checkpoints } => out!(
            "{}",
            render(
                "cli-audit-witness-agrees",
                &[("checkpoints", &checkpoints.to_string())]
            )
        ),
        Finding::Truncated {
            first_missing,
            seen,
            at: t,
        } => {
            ok = false;
            out!(
                "{}",
                render(
                    "cli-audit-truncated",
                    &[
                        ("at", &at(t)),
                        ("seen", &seen.to_string()),
                        ("entries", &entries.to_string()),
                        ("first", &first_missing.to_string()),
                    ]
                )
            );
        }
        Finding::Diverged { entry, at: t } => {
            ok = false;
            out!(
                "{}",
                render(
                    "cli-audit-diverged",
                    &[("entry", &entry.to_string()), ("at", &at(t))]
                )
            );
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `key rotate`: the database's key (checked) to the key of `new_file` (created when absent).
pub async fn key_rotate(url: &str, new_file: &std::path::Path) -> anyhow::Result<ExitCode> {
    use jingkang_core::secrets::MasterKey;
    let db = Db::connect(url).await?;
    let old = crate::config::master_key(&crate::config::global(), &db, false)
        .await?
        .map_err(crate::config::UserError)?;
    let new = if new_file.exists() {
        MasterKey::load(new_file).map_err(|e| crate::config::UserError(e.message_zh()))?
    } else {
        let k = MasterKey::create(new_file)?;
        eprintln!(
            "{}",
            render(
                "cli-key-created",
                &[("file", &new_file.display().to_string())]
            )
        );
        k
    };
    let shown = new_file.display().to_string();
    if new.fingerprint() == old.fingerprint() {
        return Ok(user_error(render(
            "cli-key-rotate-same",
            &[("file", &shown)],
        )));
    }
    let (done, finished) =
        store::sealing::rotate(&db, &old, &new, (store::sealing::BATCH, None)).await?;
    anyhow::ensure!(finished, "the rotation stopped before the end");
    out!(
        "{}",
        render(
            "cli-key-rotated",
            &[
                ("persons", &done.persons.to_string()),
                ("guardians", &done.guardians.to_string()),
                ("history", &done.history.to_string()),
                ("file", &shown),
            ]
        )
    );
    Ok(ExitCode::SUCCESS)
}

/// `jingkang backup`: a consistent online backup, its manifest checked.
pub async fn backup(url: &str, out: PathBuf, pg_dump: PathBuf) -> anyhow::Result<ExitCode> {
    let db = Db::connect(url).await?;
    let m = store::backup::backup(&db, url, &out, &pg_dump).await?;
    db.close().await;
    out!("{}", backup_done(&out, &m));
    Ok(ExitCode::SUCCESS)
}

/// `jingkang restore`: a backup into an empty database, then `audit verify`.
pub async fn restore(
    url: &str,
    global: &crate::GlobalOpts,
    file: PathBuf,
    force: bool,
    pg_dump: PathBuf,
) -> anyhow::Result<ExitCode> {
    let shown = file.display().to_string();
    match store::backup::restore(url, &file, force, &pg_dump).await? {
        Ok(db) => {
            db.close().await;
            out!(
                "{}",
                render(
                    "cli-restore-done",
                    &[("file", &shown), ("db", &store::redact_url(url))]
                )
            );
            audit_verify(url, global).await
        }
        Err(store::backup::RestoreRefusal::NotEmpty) => Ok(user_error(render(
            "cli-restore-not-empty",
            &[("db", &store::redact_url(url))],
        ))),
        Err(store::backup::RestoreRefusal::NotABackup(detail)) => {
            tracing::debug!(%detail, "restore refused");
            Ok(user_error(render(
                "cli-restore-not-backup",
                &[("file", &shown)],
            )))
        }
    }
}

/// What a backup holds, for the terminal.
pub fn backup_done(out: &std::path::Path, m: &store::backup::Manifest) -> String {
    render(
        "cli-backup-done",
        &[
            ("file", &out.display().to_string()),
            ("mb", &format!("{:.1}", m.bytes as f64 / 1_048_576.0)),
            ("entries", &m.audit_entries.to_string()),
            ("head", m.audit_head.get(..12).unwrap_or(&m.audit_head)),
        ],
    )
}

/// `jingkang referrals-expire`: referrals past their deadline marked 超时.
pub async fn referrals_expire(url: &str) -> anyhow::Result<ExitCode> {
    let (db, tree) = open(url).await?;
    let book = jingkang_core::care::referral::Book::shipped()?;
    let mut tx = db.begin().await?;
    let n = jingkang_core::app::referrals::expire_due(&mut tx, &book, &tree, today()).await?;
    tx.commit().await?;
    out!(
        "{}",
        render("cli-referrals-expired", &[("n", &n.to_string())])
    );
    Ok(ExitCode::SUCCESS)
}
