//! One function per subcommand.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use jingkang_core::export::{ExportRequest, export_roster};
use jingkang_core::generate::{self, GenOptions};
use jingkang_core::import::{ImportOptions, import_roster};
use jingkang_core::messages::render;
use jingkang_core::regions::{self, RegionTree, Scope};
use jingkang_core::store::{self, Actor, Db, audit, persons};

use crate::config::database_url;
use crate::db::{load_demo, open, open_keyed, today, user_error};
use crate::{
    AuditCmd, Cli, Command, ExportCmd, GenCmd, ImportCmd, KeyCmd, LinkCmd, OutboxCmd, RegionsCmd,
    Span, TokenCmd, ui,
};

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

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let url = database_url(&cli.global);
    match cli.command {
        Command::Link(LinkCmd::Csv {
            config,
            left,
            right,
            json,
            explain,
        }) => link_csv(&config, &left, right.as_deref(), (json, explain)),
        Command::Link(LinkCmd::Run {
            source,
            file,
            county,
            taken_on,
            map,
            json,
        }) => {
            let (db, tree) = open(&url).await?;
            link_run(&db, &tree, (&source, &file, &county), taken_on, &map, json).await
        }
        Command::Link(LinkCmd::Census {
            county,
            lists,
            taken_on,
            json,
        }) => {
            let (db, tree) = open(&url).await?;
            link_census(&db, &tree, &county, &lists, taken_on, json).await
        }
        Command::Init { demo, demo_county } => init(&url, &cli.global, demo, &demo_county).await,
        Command::Serve(args) => crate::serve::run(&url, &cli.global, args).await,
        Command::User(cmd) => crate::users::run(&url, cmd).await,
        Command::Org(cmd) => crate::users::org(&url, cmd).await,
        Command::Token(TokenCmd::Create { user }) => crate::users::create_token(&url, &user).await,
        Command::Import(ImportCmd::Platform {
            file,
            county,
            dry_run,
            json,
        }) => {
            use jingkang_core::interop::platform::{self, PlatformImport, PlatformImportError};
            let (db, tree) = open(&url).await?;
            let Some(region) = tree
                .get(&county)
                .filter(|r| r.level == jingkang_core::regions::Level::County)
            else {
                return Ok(user_error(render("county-unknown", &[("code", &county)])));
            };
            let actor = Actor::cli();
            let req = PlatformImport {
                county: region,
                path: &file,
                dry_run,
                actor: &actor,
                today: today(),
            };
            match platform::import(&db, &tree, &req).await {
                Ok(r) => {
                    if json {
                        out!("{}", serde_json::json!({"dry_run": dry_run, "report": r}));
                    } else {
                        out!(
                            "{}",
                            render(
                                if dry_run {
                                    "cli-platform-import-dry"
                                } else {
                                    "cli-platform-import-done"
                                },
                                &[
                                    ("registrations", &r.registrations.to_string()),
                                    ("agreeing", &r.agreeing.to_string()),
                                    ("differing", &r.differing.len().to_string()),
                                    ("created", &r.created.to_string()),
                                    ("elsewhere", &r.elsewhere.to_string()),
                                    ("referrals", &r.referrals_new.to_string()),
                                    ("known", &r.referrals_known.to_string()),
                                ],
                            )
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(PlatformImportError::Db(e)) => Err(e),
                Err(e) => Ok(file_refused(
                    "platform-import-invalid",
                    &e.message_zh(),
                    json,
                )),
            }
        }
        Command::Import(ImportCmd::Fhir {
            file,
            county,
            dry_run,
            json,
        }) => {
            let (db, tree) = open(&url).await?;
            import_fhir(&db, &tree, &file, &county, (dry_run, json)).await
        }
        Command::Import(ImportCmd::Roster {
            file,
            county,
            dry_run,
            json,
        }) => {
            let (db, tree) = open(&url).await?;
            import(&db, &tree, &file, &county, dry_run, json).await
        }
        Command::Export(ExportCmd::Roster {
            region,
            out,
            reason,
            as_of,
        }) => {
            let (db, tree) = open(&url).await?;
            let Some(r) = tree.get(&region) else {
                return Ok(user_error(render(
                    "cli-region-unknown",
                    &[("code", &region)],
                )));
            };
            let scope = Scope::of(r);
            let actor = Actor::cli();
            let req = ExportRequest {
                scope: &scope,
                region: r,
                out: &out,
                as_of: as_of.unwrap_or_else(today),
                actor: &actor,
                reason: &reason,
            };
            let s = export_roster(&db, &tree, &req).await?;
            out!(
                "{}",
                render(
                    "cli-export-done",
                    &[
                        ("region", &tree.path_name(&r.code)),
                        ("count", &s.persons.to_string()),
                        ("file", &out.display().to_string())
                    ]
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(ExportCmd::Platform {
            region,
            out,
            reason,
            since,
        }) => {
            use jingkang_core::interop::platform::{self, PlatformExport};
            let (db, tree) = open(&url).await?;
            let Some(r) = tree.get(&region) else {
                return Ok(user_error(render(
                    "cli-region-unknown",
                    &[("code", &region)],
                )));
            };
            if reason.trim().is_empty() {
                return Ok(user_error(render("cli-fhir-reason-missing", &[])));
            }
            let scope = Scope::of(r);
            let actor = Actor::cli();
            let req = PlatformExport {
                scope: &scope,
                region: r,
                since,
                out: &out,
                actor: &actor,
                reason: reason.trim(),
            };
            let s = platform::export(&db, &tree, &req)
                .await?
                .context("the region is its own scope")?;
            out!(
                "{}",
                render(
                    "cli-platform-done",
                    &[
                        ("region", &tree.path_name(&r.code)),
                        ("registrations", &s.registrations.to_string()),
                        ("referrals", &s.referrals.to_string()),
                        ("file", &out.display().to_string()),
                    ]
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(ExportCmd::Fhir {
            subject,
            out,
            reveal,
            reason,
        }) => {
            let (db, tree) = open(&url).await?;
            export_fhir(&db, &tree, &subject, &out, (reveal, reason.as_deref())).await
        }
        Command::Regions(RegionsCmd::Find { query, limit }) => {
            let (db, tree) = open(&url).await?;
            let found = jingkang_core::store::regions::find(&db, &tree, &query, limit).await?;
            if found.is_empty() {
                out!("{}", render("cli-find-none", &[("query", &query)]));
            }
            for path in found {
                let Some(last) = path.last() else { continue };
                let names: Vec<&str> = path.iter().map(|r| r.name.as_str()).collect();
                out!(
                    "{}\t{}\t{}",
                    last.code,
                    last.level.label_zh(),
                    names.join(" / ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Regions(RegionsCmd::ImportVillages { file }) => {
            let (db, tree) = open(&url).await?;
            let f = std::fs::File::open(&file)
                .with_context(|| format!("cannot open {}", file.display()))?;
            let mut tx = db.begin().await?;
            let (imported, skipped) =
                jingkang_core::store::regions::import_villages(&mut tx, &tree, f).await?;
            audit::record(
                &mut tx,
                &Actor::cli(),
                "regions.import-villages",
                None,
                serde_json::json!({"imported": imported, "skipped": skipped}),
            )
            .await?;
            tx.commit().await?;
            out!(
                "{}",
                render(
                    "cli-villages-done",
                    &[
                        ("imported", &imported.to_string()),
                        ("skipped", &skipped.to_string())
                    ]
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::ReferralsExpire => {
            let (db, tree) = open(&url).await?;
            let book = jingkang_core::care::referral::Book::shipped()?;
            let mut tx = db.begin().await?;
            let n =
                jingkang_core::app::referrals::expire_due(&mut tx, &book, &tree, today()).await?;
            tx.commit().await?;
            out!(
                "{}",
                render("cli-referrals-expired", &[("n", &n.to_string())])
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Outbox(cmd) => {
            let (db, _) = open(&url).await?;
            outbox(&db, cmd).await
        }
        Command::Report(crate::ReportCmd::Quarterly {
            quarter,
            region,
            json,
            out,
        }) => {
            let (db, tree) = open(&url).await?;
            quarterly(
                &db,
                &tree,
                quarter.as_deref(),
                &region,
                json,
                out.as_deref(),
            )
            .await
        }
        Command::Report(crate::ReportCmd::Monthly {
            month,
            region,
            json,
            out,
        }) => {
            let (db, tree) = open(&url).await?;
            monthly(&db, &tree, month.as_deref(), &region, json, out.as_deref()).await
        }
        Command::Worklist {
            name,
            region,
            json,
            out,
        } => {
            let (db, tree) = open(&url).await?;
            worklist(&db, &tree, &name, &region, json, out.as_deref()).await
        }
        Command::Gen(GenCmd::History {
            span: Span { years, seed, until },
        }) => {
            if !(1..=20).contains(&years) {
                return Ok(user_error(render(
                    "cli-value-invalid",
                    &[("name", "--years"), ("message", "1–20")],
                )));
            }
            let (db, _) = open(&url).await?;
            let total = jingkang_core::store::persons::count(
                &mut db.begin().await?,
                &jingkang_core::regions::Scope::national(),
            )
            .await?;
            let pb = ui::progress(Some(total as u64), "gen history");
            let started = std::time::Instant::now();
            let done = match generate::history::write(
                &db,
                seed,
                years,
                until.unwrap_or_else(today),
                Some(&|n| pb.set_position(n)),
            )
            .await
            {
                Ok(d) => d,
                Err(e)
                    if e.downcast_ref::<generate::history::HistoryExists>()
                        .is_some() =>
                {
                    pb.finish_and_clear();
                    return Ok(user_error(render("cli-gen-history-exists", &[])));
                }
                Err(e) => return Err(e),
            };
            pb.finish_and_clear();
            eprintln!(
                "{}",
                render(
                    "cli-gen-history-done",
                    &[
                        ("persons", &done.persons.to_string()),
                        ("followups", &done.followups.to_string()),
                        ("events", &done.events.to_string()),
                        ("referrals", &done.referrals.to_string()),
                        (
                            "seconds",
                            &format!("{:.1}", started.elapsed().as_secs_f64())
                        ),
                    ]
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Gen(GenCmd::Linkage {
            rows,
            listed,
            others,
            seed,
            out,
        }) => {
            if !(0.0..=1.0).contains(&listed) || !(0.0..=10.0).contains(&others) {
                return Ok(user_error(render(
                    "cli-value-invalid",
                    &[("name", "--listed / --others"), ("message", "0–1 / 0–10")],
                )));
            }
            let opts = jingkang_core::generate::linkage::LinkageOptions {
                rows,
                listed,
                others,
                seed,
            };
            match jingkang_core::generate::linkage::write_linkage(&out, opts) {
                Ok(s) => {
                    out!(
                        "{}",
                        render(
                            "cli-gen-linkage-done",
                            &[
                                ("registry", &s.registry.to_string()),
                                ("list", &s.list.to_string()),
                                ("pairs", &s.true_pairs.to_string()),
                                ("dir", &out.display().to_string())
                            ]
                        )
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Ok(user_error(render(
                    "link-file-unreadable",
                    &[
                        ("file", &out.display().to_string()),
                        ("message", &e.to_string()),
                    ],
                ))),
            }
        }
        Command::Gen(GenCmd::Services {
            span: Span { years, seed, until },
        }) => {
            if !(1..=20).contains(&years) {
                return Ok(user_error(render(
                    "cli-value-invalid",
                    &[("name", "--years"), ("message", "1–20")],
                )));
            }
            let (db, _) = open(&url).await?;
            let total = jingkang_core::store::persons::count(
                &mut db.begin().await?,
                &jingkang_core::regions::Scope::national(),
            )
            .await?;
            let pb = ui::progress(Some(total as u64), "gen services");
            let started = std::time::Instant::now();
            let done = match generate::services::write(
                &db,
                seed,
                years,
                until.unwrap_or_else(today),
                Some(&|n| pb.set_position(n)),
            )
            .await
            {
                Ok(d) => d,
                Err(e)
                    if e.downcast_ref::<generate::services::ServicesExist>()
                        .is_some() =>
                {
                    pb.finish_and_clear();
                    return Ok(user_error(render("cli-gen-services-exist", &[])));
                }
                Err(e) => return Err(e),
            };
            pb.finish_and_clear();
            eprintln!(
                "{}",
                render(
                    "cli-gen-services-done",
                    &[
                        ("persons", &done.persons.to_string()),
                        ("plans", &done.plans.to_string()),
                        ("assessments", &done.assessments.to_string()),
                        ("sessions", &done.sessions.to_string()),
                        ("contacts", &done.contacts.to_string()),
                        (
                            "seconds",
                            &format!("{:.1}", started.elapsed().as_secs_f64())
                        ),
                    ]
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Gen(GenCmd::Roster {
            rows,
            seed,
            error_rate,
            out,
            county,
            clean,
            truth,
        }) => {
            if !(0.0..=1.0).contains(&error_rate) {
                return Ok(user_error(render(
                    "cli-value-invalid",
                    &[("name", "--error-rate"), ("message", "0–1")],
                )));
            }
            // The generator only needs the region tree: the embedded data, no database.
            let tree = RegionTree::new(regions::embedded_regions()?);
            let Some(c) = tree.get(&county) else {
                return Ok(user_error(render(
                    "cli-region-unknown",
                    &[("code", &county)],
                )));
            };
            let pb = ui::progress(Some(rows), "gen roster");
            let opts = GenOptions {
                rows,
                seed,
                error_rate,
                messy: !clean,
                today: today(),
            };
            let t = generate::write_roster(&tree, c, opts, &out, Some(&|n| pb.set_position(n)))?;
            pb.finish_and_clear();
            if let Some(p) = truth {
                std::fs::write(&p, serde_json::to_string_pretty(&t)?)?;
            }
            eprintln!(
                "{}",
                render(
                    "cli-gen-done",
                    &[
                        ("rows", &rows.to_string()),
                        ("file", &out.display().to_string())
                    ]
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCmd::Verify) => audit_verify(&url, &cli.global).await,
        Command::Key(KeyCmd::Rotate { new_key_file }) => key_rotate(&url, &new_key_file).await,
        Command::Backup { out, pg_dump } => {
            let db = Db::connect(&url).await?;
            let m = store::backup::backup(&db, &url, &out, &pg_dump).await?;
            db.close().await;
            out!("{}", backup_done(&out, &m));
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore {
            file,
            force,
            pg_dump,
        } => {
            let shown = file.display().to_string();
            match store::backup::restore(&url, &file, force, &pg_dump).await? {
                Ok(db) => {
                    db.close().await;
                    out!(
                        "{}",
                        render(
                            "cli-restore-done",
                            &[("file", &shown), ("db", &store::redact_url(&url))]
                        )
                    );
                    audit_verify(&url, &cli.global).await
                }
                Err(store::backup::RestoreRefusal::NotEmpty) => Ok(user_error(render(
                    "cli-restore-not-empty",
                    &[("db", &store::redact_url(&url))],
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
        Command::Bench(cmd) => crate::bench::run(cmd, &url).await,
    }
}

async fn import(
    db: &Db,
    tree: &RegionTree,
    file: &Path,
    county: &str,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let pb = ui::progress(None, "import roster");
    if json {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let progress = |n: u64| pb.set_position(n);
    let source = format!(
        "roster-import:{}",
        file.file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default()
    );
    let actor = Actor::cli();
    let opts = ImportOptions {
        county,
        dry_run,
        actor: &actor,
        source: &source,
        today: today(),
        progress: Some(&progress),
    };
    let result = import_roster(db, tree, file, &opts).await;
    pb.finish_and_clear();
    match result {
        Ok(report) => {
            if json {
                out!("{}", serde_json::to_string(&report)?);
            } else {
                out!("{}", ui::import_report(&report));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => refused(e, json, "cli-import-failed"),
    }
}

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

/// `jingkang worklist NAME --region CODE`: the list computed now, audited as an export.
async fn worklist(
    db: &Db,
    tree: &RegionTree,
    name: &str,
    region: &str,
    json: bool,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    use jingkang_core::store::worklists::{self, WorkFilter, Worklist};
    let Some(list) = Worklist::from_code(name) else {
        let names = Worklist::ALL
            .map(|w| format!("{}（{}）", w.code(), w.label_zh()))
            .join("、");
        return Ok(user_error(render(
            "cli-worklist-unknown",
            &[("name", name), ("names", &names)],
        )));
    };
    let Some(r) = tree.get(region) else {
        return Ok(user_error(render(
            "cli-region-unknown",
            &[("code", region)],
        )));
    };
    let scope = jingkang_core::regions::Scope::of(r);
    let day = today();
    let mut tx = db.begin().await?;
    let (items, total) = worklists::items(
        &mut tx,
        &scope,
        list,
        day,
        &WorkFilter {
            limit: Some(if out.is_some() { 100_000 } else { 1000 }),
            ..Default::default()
        },
    )
    .await?;
    audit::record(&mut tx, &Actor::cli(), "worklist.export", Some(audit::Target::region(&r.code)),
        serde_json::json!({"list": list.code(), "results": items.len(), "total": total, "via": "cli"})).await?;
    tx.commit().await?;
    if let Some(path) = out {
        let bytes = jingkang_core::export::worklist::to_xlsx(
            tree,
            list,
            &tree.path_name(&r.code),
            day,
            &items,
        )?;
        std::fs::write(path, bytes)?;
        eprintln!(
            "{}",
            render(
                "cli-worklist-written",
                &[
                    ("list", list.label_zh()),
                    ("n", &items.len().to_string()),
                    ("file", &path.display().to_string())
                ]
            )
        );
    } else if json {
        out!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"name": list.code(), "definition": list.definition_zh(day), "total": total, "items": items})
            )?
        );
    } else {
        out!(
            "{}（{}）：{} 人。口径：{}",
            list.label_zh(),
            tree.path_name(&r.code),
            total,
            list.definition_zh(day)
        );
        for i in &items {
            out!(
                "  {}",
                jingkang_core::export::worklist::row_cells(tree, i, day).join("　")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `jingkang report quarterly`: 附件2 computed now as of the quarter's end, audited as an export.
async fn quarterly(
    db: &Db,
    tree: &RegionTree,
    quarter: Option<&str>,
    region: &str,
    json: bool,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    use jingkang_core::care::standard::Period;
    let period = match quarter {
        Some(text) => match Period::parse_quarter(text) {
            Some(p) => p,
            None => return Ok(user_error(render("cli-quarter-invalid", &[("text", text)]))),
        },
        None => jingkang_core::domain::period::Quarter::of(today()).period(),
    };
    let (y, q) = (
        chrono::Datelike::year(&period.start),
        (chrono::Datelike::month(&period.start) - 1) / 3 + 1,
    );
    run_report(
        db,
        tree,
        ("fujian2", "quarter"),
        (&period, &format!("{y}Q{q}")),
        region,
        json,
        out,
    )
    .await
}

/// `jingkang report monthly`.
async fn monthly(
    db: &Db,
    tree: &RegionTree,
    month: Option<&str>,
    region: &str,
    json: bool,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    use chrono::Datelike;
    use jingkang_core::care::standard::Period;
    let period = match month {
        Some(text) => match Period::parse_month(text) {
            Some(p) => p,
            None => return Ok(user_error(render("cli-month-invalid", &[("text", text)]))),
        },
        None => {
            let last = today().with_day(1).context("month")? - chrono::Duration::days(1);
            Period::month(last.year(), last.month()).context("month")?
        }
    };
    let label = period.start.format("%Y-%m").to_string();
    run_report(
        db,
        tree,
        ("followup_monthly", "month"),
        (&period, &label),
        region,
        json,
        out,
    )
    .await
}

/// Compute report `code` for `region` and `period` (labelled `label`, printed under `key` in
/// JSON), audited; print it or write its .xlsx.
async fn run_report(
    db: &Db,
    tree: &RegionTree,
    (code, key): (&str, &str),
    (period, label): (&jingkang_core::care::standard::Period, &str),
    region: &str,
    json: bool,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    use jingkang_core::care::standard::StandardRule;
    use jingkang_core::report::{Cell, Definition};
    let Some(r) = tree.get(region) else {
        return Ok(user_error(render(
            "cli-region-unknown",
            &[("code", region)],
        )));
    };
    let def = Definition::shipped(code)?;
    let scope = jingkang_core::regions::Scope::of(r);
    let mut tx = db.begin().await?;
    // The same use case as the page: computed, with the filings laid over (signed rows frozen).
    let (report, _, _) = jingkang_core::app::filings::assemble(
        &mut tx,
        tree,
        (&scope, r),
        &def,
        (period, label),
        &StandardRule::shipped()?,
    )
    .await?;
    audit::record(&mut tx, &Actor::cli(), "report.export", Some(audit::Target::region(&r.code)),
        serde_json::json!({"report": def.code, key: label, "rows": report.rows.len(), "via": "cli"})).await?;
    tx.commit().await?;
    let columns = |row: &jingkang_core::report::Row| -> serde_json::Map<String, serde_json::Value> {
        def.columns
            .iter()
            .map(|c| {
                (
                    c.key.clone(),
                    serde_json::json!(row.columns.get(&c.key).and_then(Cell::number)),
                )
            })
            .collect()
    };
    if let Some(path) = out {
        std::fs::write(path, jingkang_core::export::report::to_xlsx(&def, &report)?)?;
        eprintln!(
            "{}",
            render(
                "cli-report-written",
                &[
                    ("name", &def.name),
                    ("quarter", &period.label_zh()),
                    ("file", &path.display().to_string())
                ]
            )
        );
    } else if json {
        let rows: Vec<serde_json::Value> = report.rows.iter().map(|row| serde_json::json!({"region": row.region, "name": row.name, "columns": columns(row)})).collect();
        out!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                key: label, "region": r.code, "rows": rows,
                "total": {"region": report.total.region, "name": report.total.name, "columns": columns(&report.total)},
            }))?
        );
    } else {
        out!(
            "{}",
            render(
                "cli-report-header",
                &[
                    ("region", &report.region_name),
                    ("name", &def.name),
                    ("quarter", &period.label_zh()),
                    ("end", &period.end.to_string())
                ]
            )
        );
        let heads: Vec<String> = def
            .columns
            .iter()
            .map(|c| format!("{}.{}", c.key, c.label))
            .collect();
        out!("  {}", heads.join("　"));
        for row in report.rows.iter().chain([&report.total]) {
            let cells: Vec<String> = def
                .columns
                .iter()
                .map(|c| match row.columns.get(&c.key) {
                    Some(Cell::Count(n)) => n.to_string(),
                    Some(Cell::Percent(Some(p))) => format!("{p:.1}%"),
                    Some(Cell::Manual(None)) => "（手填）".to_string(),
                    Some(Cell::Manual(Some(v))) => v.to_string(),
                    Some(Cell::Percent(None)) | None => "—".to_string(),
                })
                .collect();
            out!("  {}：{}", row.name, cells.join("　"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `jingkang outbox …`.
async fn outbox(db: &Db, cmd: OutboxCmd) -> anyhow::Result<ExitCode> {
    use jingkang_core::store::alerts;
    match cmd {
        OutboxCmd::List { limit, json } => {
            let mut tx = db.begin().await?;
            let items = alerts::recent(&mut tx, limit).await?;
            tx.commit().await?;
            if json {
                out!("{}", serde_json::to_string_pretty(&items)?);
            } else if items.is_empty() {
                out!("{}", render("cli-outbox-empty", &[]));
            } else {
                for i in &items {
                    let status = match (&i.delivered_at, &i.last_error) {
                        (Some(at), _) => format!("已送达 {}", at.format("%Y-%m-%d %H:%M:%S")),
                        (None, Some(e)) => format!(
                            "待重试（{}）：{e}",
                            i.next_attempt_at.format("%Y-%m-%d %H:%M:%S")
                        ),
                        (None, None) => "待发送".to_string(),
                    };
                    out!(
                        "{}",
                        render(
                            "cli-outbox-line",
                            &[
                                ("id", &i.id.to_string()),
                                (
                                    "created",
                                    &i.created_at.format("%Y-%m-%d %H:%M:%S").to_string()
                                ),
                                ("topic", &i.topic),
                                ("attempts", &i.attempts.to_string()),
                                ("status", &status),
                            ]
                        )
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        OutboxCmd::Retry { id } => {
            let mut tx = db.begin().await?;
            let n = alerts::retry_now(&mut tx, id).await?;
            audit::record(
                &mut tx,
                &Actor::cli(),
                "outbox.retry",
                None,
                serde_json::json!({"id": id, "n": n}),
            )
            .await?;
            tx.commit().await?;
            out!("{}", render("cli-outbox-retry", &[("n", &n.to_string())]));
            Ok(ExitCode::SUCCESS)
        }
        OutboxCmd::Drain {
            webhook,
            secret_env,
            limit,
        } => {
            let Ok(secret) = std::env::var(&secret_env) else {
                return Ok(user_error(render(
                    "cli-outbox-secret-missing",
                    &[("var", &secret_env)],
                )));
            };
            if !(webhook.starts_with("http://") || webhook.starts_with("https://")) {
                return Ok(user_error(render(
                    "cli-value-invalid",
                    &[("name", "--webhook"), ("message", "http(s)://…")],
                )));
            }
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()?;
            let mut tx = db.begin().await?;
            let due = alerts::due(&mut tx, chrono::Utc::now(), limit).await?;
            tx.commit().await?;
            let (mut sent, mut failed) = (0, 0);
            for item in due {
                let signature = alerts::signature(secret.as_bytes(), item.payload.as_bytes());
                let result = client
                    .post(&webhook)
                    .header("content-type", "application/json")
                    .header("x-jingkang-id", item.id.to_string())
                    .header("x-jingkang-topic", &item.topic)
                    .header("x-jingkang-signature", signature)
                    .body(item.payload.clone())
                    .send()
                    .await;
                let mut tx = db.begin().await?;
                match result {
                    Ok(r) if r.status().is_success() => {
                        alerts::delivered(&mut tx, item.id).await?;
                        sent += 1;
                    }
                    Ok(r) => {
                        alerts::failed(&mut tx, &item, &format!("HTTP {}", r.status().as_u16()))
                            .await?;
                        failed += 1;
                    }
                    Err(e) => {
                        // The URL may carry credentials: log the kind of failure, not the URL.
                        let kind = if e.is_timeout() {
                            "timeout"
                        } else if e.is_connect() {
                            "connect"
                        } else {
                            "request"
                        };
                        alerts::failed(&mut tx, &item, kind).await?;
                        failed += 1;
                    }
                }
                tx.commit().await?;
            }
            out!(
                "{}",
                render(
                    "cli-outbox-drained",
                    &[("sent", &sent.to_string()), ("failed", &failed.to_string())]
                )
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A file that could not be taken in: the user's mistake (exit code 2, with `--json` an error
/// object), or an internal error.
fn refused(
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

/// `jingkang link run`: a department's list compared with a county's registry, saved for review.
async fn link_run(
    db: &Db,
    tree: &RegionTree,
    (source, file, county): (&str, &Path, &str),
    taken_on: Option<chrono::NaiveDate>,
    map: &[String],
    json: bool,
) -> anyhow::Result<ExitCode> {
    use jingkang_core::exchange::{self, run::RunRequest};
    let source = match named_source(source) {
        Ok(s) => s,
        Err(message) => return Ok(user_error(message)),
    };
    let mapping = match exchange::list::parse_mapping(map) {
        Ok(m) => m,
        Err(message) => return Ok(user_error(message)),
    };
    let actor = Actor::cli();
    let file_name = file_name_of(file);
    let req = RunRequest {
        source,
        region: county,
        path: file,
        file_name: &file_name,
        taken_on: taken_on.unwrap_or_else(today),
        mapping,
        actor: &actor,
        today: today(),
        rules: jingkang_core::regions::Rows::ALL,
    };
    match exchange::run::run_list(db, tree, req).await {
        Ok(report) => {
            if json {
                out!(
                    "{}",
                    serde_json::json!({
                        "list": report.list,
                        "run": report.run,
                        "source": source.code,
                        "county": county,
                        "summary": report.summary,
                        "errors": report.read.errors,
                        "warnings": report.read.warnings,
                        "duplicates": report.read.duplicates,
                    })
                );
            } else {
                out!(
                    "{}",
                    ui::exchange_report(source, &tree.path_name(county), &report)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => refused(e, json, "cli-exchange-failed"),
    }
}

/// A file refused with what was wrong: the Chinese message on stderr (and, with --json, as an
/// error object on stdout); exit 2.
fn file_refused(code: &str, message: &str, json: bool) -> ExitCode {
    if json {
        out!(
            "{}",
            serde_json::json!({"error": {"code": code, "message": message}})
        );
    }
    user_error(message.to_string())
}

/// `jingkang import fhir`: a Bundle's Patients linked to a county's registry or registered.
async fn import_fhir(
    db: &Db,
    tree: &RegionTree,
    file: &Path,
    county: &str,
    (dry_run, json): (bool, bool),
) -> anyhow::Result<ExitCode> {
    use jingkang_core::interop::fhir_import::{self, FhirImport, FhirImportError};
    let Some(region) = tree
        .get(county)
        .filter(|r| r.level == jingkang_core::regions::Level::County)
    else {
        return Ok(user_error(render("county-unknown", &[("code", county)])));
    };
    let actor = Actor::cli();
    let req = FhirImport {
        county: region,
        path: file,
        dry_run,
        actor: &actor,
        today: today(),
    };
    match fhir_import::import(db, tree, &req).await {
        Ok(report) => {
            if json {
                out!(
                    "{}",
                    serde_json::json!({"dry_run": dry_run, "report": report})
                );
            } else {
                out!(
                    "{}",
                    render(
                        if dry_run {
                            "cli-fhir-import-dry"
                        } else {
                            "cli-fhir-import-done"
                        },
                        &[
                            ("patients", &report.patients.to_string()),
                            ("linked", &report.linked.to_string()),
                            ("created", &report.created.to_string()),
                        ],
                    )
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(FhirImportError::Db(e)) => Err(e),
        Err(e) => Ok(file_refused("fhir-import-invalid", &e.message_zh(), json)),
    }
}

/// `jingkang export fhir`: a person or a region as a FHIR R4 Bundle, masked unless revealed.
async fn export_fhir(
    db: &Db,
    tree: &RegionTree,
    subject: &crate::FhirSubject,
    out: &Path,
    (reveal, reason): (bool, Option<&str>),
) -> anyhow::Result<ExitCode> {
    use jingkang_core::interop::fhir::{self, FhirExport, Subject};
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if reveal && reason.is_none() {
        return Ok(user_error(render("cli-fhir-reason-missing", &[])));
    }
    let (scope, what) = match (&subject.person, &subject.region) {
        (Some(id), _) => (Scope::national(), Subject::Person(*id)),
        (None, Some(code)) => {
            let Some(r) = tree.get(code) else {
                return Ok(user_error(render("cli-region-unknown", &[("code", code)])));
            };
            (Scope::of(r), Subject::Region(r))
        }
        (None, None) => return Ok(user_error(render("cli-fhir-subject-missing", &[]))),
    };
    let actor = Actor::cli();
    let req = FhirExport {
        scope: &scope,
        subject: what,
        out,
        reveal,
        actor: &actor,
        reason: reason.unwrap_or("数据交换"),
        today: today(),
    };
    match fhir::export(db, tree, &req).await? {
        Some(s) => {
            out!(
                "{}",
                render(
                    "cli-fhir-done",
                    &[
                        ("persons", &s.persons.to_string()),
                        ("resources", &s.resources.to_string()),
                        ("file", &out.display().to_string()),
                        (
                            "masked",
                            if reveal {
                                "身份证号、电话和健康信息未遮蔽"
                            } else {
                                "身份证号、电话已遮蔽，健康信息未导出"
                            }
                        ),
                    ]
                )
            );
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let _ = std::fs::remove_file(out);
            Ok(user_error(render("cli-fhir-not-found", &[])))
        }
    }
}

/// The department a user names, or the message listing the known ones.
fn named_source(name: &str) -> Result<&'static jingkang_core::exchange::Source, String> {
    use jingkang_core::exchange;
    exchange::source(name).ok_or_else(|| {
        let known: Vec<String> = exchange::sources()
            .iter()
            .map(|s| format!("{}（{}）", s.names[0], s.label))
            .collect();
        render(
            "cli-exchange-source-unknown",
            &[("source", name), ("known", &known.join("、"))],
        )
    })
}

fn file_name_of(path: &Path) -> String {
    path.file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default()
}

/// `jingkang link census`: every department's list of a county against its registry at once.
async fn link_census(
    db: &Db,
    tree: &RegionTree,
    county: &str,
    lists: &[String],
    taken_on: Option<chrono::NaiveDate>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use jingkang_core::exchange::run::{CensusError, CensusFile, CensusRequest, run_census};
    let mut named = Vec::new();
    for l in lists {
        let Some((source, file)) = l
            .split_once('=')
            .filter(|(s, f)| !s.trim().is_empty() && !f.trim().is_empty())
        else {
            return Ok(user_error(render("cli-census-list-bad", &[("value", l)])));
        };
        match named_source(source) {
            Ok(s) => named.push((s, std::path::PathBuf::from(file.trim()))),
            Err(message) => return Ok(user_error(message)),
        }
    }
    let names: Vec<String> = named.iter().map(|(_, p)| file_name_of(p)).collect();
    let actor = Actor::cli();
    let req = CensusRequest {
        region: county,
        files: named
            .iter()
            .zip(&names)
            .map(|((source, path), file_name)| CensusFile {
                source,
                path,
                file_name,
            })
            .collect(),
        taken_on: taken_on.unwrap_or_else(today),
        actor: &actor,
        today: today(),
        rules: jingkang_core::regions::Rows::ALL,
    };
    match run_census(db, tree, req).await {
        Ok(report) => {
            if json {
                let lists: Vec<serde_json::Value> = named
                    .iter()
                    .zip(&report.reads)
                    .map(|((s, _), r)| {
                        serde_json::json!({
                            "source": s.code,
                            "errors": r.errors,
                            "warnings": r.warnings,
                            "duplicates": r.duplicates,
                        })
                    })
                    .collect();
                out!(
                    "{}",
                    serde_json::json!({
                        "run": report.run,
                        "county": county,
                        "summary": report.summary,
                        "lists": lists,
                    })
                );
            } else {
                let sources: Vec<&jingkang_core::exchange::Source> =
                    named.iter().map(|(s, _)| *s).collect();
                out!(
                    "{}",
                    ui::census_report(&sources, &tree.path_name(county), &report)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(CensusError::Region(e)) => refused(e, json, "cli-exchange-failed"),
        Err(CensusError::File { error, .. }) if error.code() == "internal-error" => {
            Err(anyhow::Error::from(error))
        }
        Err(e) => {
            if json {
                out!(
                    "{}",
                    serde_json::json!({"error": {"code": e.code(), "message": e.message_zh()}})
                );
            }
            Ok(user_error(render(
                "cli-exchange-failed",
                &[("message", &e.message_zh())],
            )))
        }
    }
}

/// `jingkang link csv`: the linkage engine over CSV files, as its configuration says.
fn link_csv(
    config: &Path,
    left: &Path,
    right: Option<&Path>,
    (json, explain): (bool, bool),
) -> anyhow::Result<ExitCode> {
    use jingkang_core::link::{self, Config, Table};
    let name = config.display().to_string();
    let text = match std::fs::read_to_string(config) {
        Ok(t) => t,
        Err(e) => {
            return Ok(user_error(render(
                "link-file-unreadable",
                &[("file", &name), ("message", &e.to_string())],
            )));
        }
    };
    let read = || -> Result<(Config, Table, Option<Table>), link::Problem> {
        let c = Config::parse(&text, &name)?;
        let l = Table::read_csv(left, &c)?;
        let r = right.map(|r| Table::read_csv(r, &c)).transpose()?;
        Ok((c, l, r))
    };
    let (c, l, r) = match read() {
        Ok(x) => x,
        Err(p) => return Ok(user_error(p.message())),
    };
    let started = std::time::Instant::now();
    let outcome = link::run(&c, &l, r.as_ref());
    tracing::info!(
        left = l.len(),
        right = r.as_ref().map_or(0, Table::len),
        compared = outcome.compared,
        matches = outcome.pairs.len(),
        ms = started.elapsed().as_millis() as u64,
        rounds = outcome.model.iterations,
        "linked"
    );
    if json {
        let pairs: Vec<serde_json::Value> = outcome
            .pairs
            .iter()
            .map(|p| {
                let mut v = serde_json::json!({ "left": p.left, "right": p.right, "score": p.score });
                if explain {
                    v["weight"] = serde_json::json!(p.weight);
                    v["fields"] = serde_json::json!(p.fields.iter().map(|(c, l, w)| serde_json::json!({ "column": c, "level": l, "weight": w })).collect::<Vec<_>>());
                }
                v
            })
            .collect();
        let mut out = serde_json::json!({ "pairs": pairs, "threshold": outcome.threshold, "compared": outcome.compared });
        if explain {
            out["model"] = serde_json::to_value(&outcome.model)?;
            out["candidate_share"] = serde_json::json!(outcome.candidate_share);
        }
        out!("{}", serde_json::to_string(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    out!(
        "{}",
        render(
            "cli-link-summary",
            &[
                ("compared", &outcome.compared.to_string()),
                ("matches", &outcome.pairs.len().to_string()),
                ("threshold", &outcome.threshold.to_string())
            ]
        )
    );
    for p in &outcome.pairs {
        let fields: Vec<String> = p
            .fields
            .iter()
            .map(|(c, l, _)| format!("{c}:{l}"))
            .collect();
        out!(
            "{}",
            render(
                "cli-link-pair",
                &[
                    ("left", &p.left),
                    ("right", &p.right),
                    ("score", &format!("{:.3}", p.score)),
                    ("fields", &fields.join(" "))
                ]
            )
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `audit verify`: the hash chain entry by entry, then against the witness's checkpoints.
async fn audit_verify(url: &str, global: &crate::GlobalOpts) -> anyhow::Result<ExitCode> {
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
