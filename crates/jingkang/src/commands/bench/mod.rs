//! `jingkang bench import`: the roster-import benchmark of the foundation issue.
//!
//! Each phase runs in its own child process (`jingkang bench phase …`) so that its peak RSS
//! (VmHWM) is its own; the child times only the work (not process start or database setup) and
//! prints one JSON line. Phases: (a) calamine's bare read, (b) import --dry-run, (c) import into a
//! fresh SQLite file, (d) into a fresh PostgreSQL database, (e) the Python openpyxl + pandas script.
//! The other benchmarks are in `web` (`bench search`, `bench web`) and `care` (`bench care`,
//! `bench standard`, `bench indicators`).

mod care;
mod web;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Subcommand;
use jingkang_core::import::sheet::bare_read_xlsx;
use jingkang_core::import::{ImportOptions, import_roster};
use jingkang_core::store::Actor;
use serde_json::{Value, json};
use sqlx::Connection;

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// Benchmark the roster import: bare read, dry run, SQLite, PostgreSQL, Python baseline.
    Import {
        /// Rows of the generated roster (ignored with --file).
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Use this roster instead of generating one.
        #[arg(long)]
        file: Option<PathBuf>,
        /// PostgreSQL server URL for phase (d); a scratch database is created and dropped on it.
        #[arg(long, env = "JINGKANG_BENCH_POSTGRES")]
        postgres: Option<String>,
        /// Python interpreter with openpyxl and pandas for phase (e) (see bench/requirements.txt).
        #[arg(long, default_value = "python3")]
        python: String,
        /// Working directory for generated files and scratch databases.
        #[arg(long, default_value = "bench/out")]
        work_dir: PathBuf,
        /// Repeat each phase this many times and report the best run.
        #[arg(long, default_value_t = 1)]
        repeat: u32,
    },
    /// Search latency (ID prefix, name, pinyin initials) on the persons already in the database.
    Search {
        /// Persons to sample as queries (each searched three ways, in two scopes).
        #[arg(long, default_value_t = 1000)]
        queries: usize,
    },
    /// Worklists (county, province) and recording follow-ups, through the application router, on
    /// the persons and history already in the database.
    Care {
        /// Requests per worklist and scope.
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Follow-ups recorded one at a time; as many again from concurrent clients.
        #[arg(long, default_value_t = 500)]
        records: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// 规范服务 by township for every person of the province (and of the county) for one quarter,
    /// on the persons and service history already in the database (`gen history`, `gen services`).
    Standard {
        /// Runs per scope.
        #[arg(long, default_value_t = 10)]
        queries: usize,
        /// The quarter, e.g. 2026Q3; default the last whole quarter.
        #[arg(long)]
        quarter: Option<String>,
    },
    /// 附件2 (every measure of its 18 columns, computed live as of the quarter's end) for the
    /// province and the county, on the data already in the database.
    Report {
        /// Runs per scope.
        #[arg(long, default_value_t = 5)]
        queries: usize,
        /// The quarter, e.g. 2026Q3; default the last whole quarter.
        #[arg(long)]
        quarter: Option<String>,
    },
    /// The indicator dashboard for the province and the county: every indicator by region for
    /// one quarter (`board`), and as the page computes it, with the three quarters before
    /// (`dashboard`), on the data already in the database.
    Indicators {
        /// Runs per scope.
        #[arg(long, default_value_t = 5)]
        queries: usize,
        /// The quarter, e.g. 2026Q3; default the last whole quarter.
        #[arg(long)]
        quarter: Option<String>,
    },
    /// wrk against an authenticated person page vs /healthz, served by this process; its peak RSS.
    Web {
        #[arg(long, default_value_t = 64)]
        connections: u32,
        #[arg(long, default_value_t = 20)]
        seconds: u32,
    },
    /// (internal) run one phase and print its JSON line.
    #[command(hide = true)]
    Phase {
        phase: String,
        file: PathBuf,
        #[arg(long)]
        db: Option<String>,
        #[arg(long, default_value = "500110")]
        county: String,
    },
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn child_peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub async fn run(cmd: BenchCmd, url: &str) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCmd::Search { queries } => web::search(url, queries).await,
        BenchCmd::Web {
            connections,
            seconds,
        } => web::web(url, connections, seconds).await,
        BenchCmd::Care {
            queries,
            records,
            concurrency,
        } => care::care(url, queries, records, concurrency).await,
        BenchCmd::Standard { queries, quarter } => {
            care::standard(url, queries, quarter.as_deref(), false).await
        }
        BenchCmd::Report { queries, quarter } => {
            care::standard(url, queries, quarter.as_deref(), true).await
        }
        BenchCmd::Indicators { queries, quarter } => {
            care::indicators(url, queries, quarter.as_deref()).await
        }
        BenchCmd::Phase {
            phase,
            file,
            db,
            county,
        } => {
            let out = phase_run(&phase, &file, db.as_deref(), &county).await?;
            out!("{out}");
            Ok(ExitCode::SUCCESS)
        }
        BenchCmd::Import {
            rows,
            file,
            postgres,
            python,
            work_dir,
            repeat,
        } => {
            std::fs::create_dir_all(&work_dir)?;
            let file = match file {
                Some(f) => f,
                None => {
                    let f = work_dir.join(format!("roster-{rows}.xlsx"));
                    if !f.exists() {
                        eprintln!("generating {} ({rows} rows)…", f.display());
                        let status = Command::new(std::env::current_exe()?)
                            .args([
                                "gen",
                                "roster",
                                "--rows",
                                &rows.to_string(),
                                "--seed",
                                "7",
                                "--error-rate",
                                "0.01",
                                "--out",
                            ])
                            .arg(&f)
                            .status()?;
                        if !status.success() {
                            bail!("generating the roster failed");
                        }
                    }
                    f
                }
            };
            let mut results = Vec::new();
            let best = |phase: &str, db: Option<String>| -> anyhow::Result<Value> {
                let mut best: Option<Value> = None;
                for _ in 0..repeat.max(1) {
                    let v = spawn_phase(phase, &file, db.as_deref())?;
                    let better = match &best {
                        None => true,
                        Some(b) => v["seconds"].as_f64() < b["seconds"].as_f64(),
                    };
                    if better {
                        best = Some(v);
                    }
                }
                best.context("no run")
            };
            results.push(best("read", None)?);
            results.push(best("read-range", None)?);
            let sqlite_dir = work_dir.join("sqlite");
            let _ = std::fs::remove_dir_all(&sqlite_dir);
            std::fs::create_dir_all(&sqlite_dir)?;
            let dry = format!("sqlite://{}", sqlite_dir.join("dry.db").display());
            results.push(best("dry-run", Some(dry))?);
            let mut sqlite_best: Option<Value> = None;
            for i in 0..repeat.max(1) {
                let url = format!(
                    "sqlite://{}",
                    sqlite_dir.join(format!("import-{i}.db")).display()
                );
                let v = spawn_phase("sqlite", &file, Some(&url))?;
                if sqlite_best
                    .as_ref()
                    .is_none_or(|b| v["seconds"].as_f64() < b["seconds"].as_f64())
                {
                    sqlite_best = Some(v);
                }
            }
            results.extend(sqlite_best);
            if let Some(pg) = &postgres {
                let mut pg_best: Option<Value> = None;
                for _ in 0..repeat.max(1) {
                    let (url, name) = create_pg_database(pg).await?;
                    let v = spawn_phase("postgres", &file, Some(&url));
                    drop_pg_database(pg, &name).await?;
                    let v = v?;
                    if pg_best
                        .as_ref()
                        .is_none_or(|b| v["seconds"].as_f64() < b["seconds"].as_f64())
                    {
                        pg_best = Some(v);
                    }
                }
                results.extend(pg_best);
            }
            match run_python(&python, &file) {
                Ok(v) => results.push(v),
                Err(e) => results.push(json!({"phase": "python", "skipped": format!("{e:#}")})),
            }
            let _ = std::fs::remove_dir_all(&sqlite_dir);
            let secs = |p: &str| {
                results
                    .iter()
                    .find(|r| r["phase"] == p)
                    .and_then(|r| r["seconds"].as_f64())
            };
            let summary = json!({
                "file": file.display().to_string(),
                "phases": results,
                "ratio_sqlite_to_read": secs("sqlite").zip(secs("read")).map(|(a, b)| a / b),
                "ratio_sqlite_to_read_range": secs("sqlite").zip(secs("read-range")).map(|(a, b)| a / b),
                "ratio_postgres_to_read": secs("postgres").zip(secs("read")).map(|(a, b)| a / b),
                "speedup_sqlite_vs_python": secs("python").zip(secs("sqlite")).map(|(a, b)| a / b),
            });
            out!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn spawn_phase(phase: &str, file: &Path, db: Option<&str>) -> anyhow::Result<Value> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["bench", "phase", phase]).arg(file);
    // The scratch databases' master key, beside the roster (not in ./data).
    if std::env::var_os("JINGKANG_KEY_FILE").is_none() {
        cmd.env("JINGKANG_KEY_FILE", file.with_file_name("bench.key"));
    }
    if let Some(db) = db {
        cmd.args(["--db", db]);
    }
    eprintln!("running phase {phase}…");
    let out = cmd.stderr(Stdio::inherit()).output()?;
    if !out.status.success() {
        bail!("phase {phase} failed");
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().context("phase printed nothing")?;
    Ok(serde_json::from_str(line)?)
}

async fn phase_run(
    phase: &str,
    file: &Path,
    db: Option<&str>,
    county: &str,
) -> anyhow::Result<Value> {
    if phase == "read-range" {
        // calamine's usual API, which loads the whole sheet into memory: for comparison only.
        use calamine::{Reader, Xlsx, open_workbook};
        let t = Instant::now();
        let mut wb: Xlsx<_> = open_workbook(file)?;
        let name = wb.sheet_names().first().cloned().context("no sheet")?;
        let range = wb.worksheet_range(&name)?;
        let cells = range.used_cells().count();
        return Ok(
            json!({"phase": "read-range", "seconds": t.elapsed().as_secs_f64(), "cells": cells, "peak_rss_mb": peak_rss_mb()}),
        );
    }
    if phase == "read" {
        let t = Instant::now();
        let cells = bare_read_xlsx(file)?;
        return Ok(
            json!({"phase": "read", "seconds": t.elapsed().as_secs_f64(), "cells": cells, "peak_rss_mb": peak_rss_mb()}),
        );
    }
    let url = db.context("phase needs --db")?;
    let dry_run = phase == "dry-run";
    // Setup (not timed): schema and region tree.
    let (db, tree) = crate::db::open(url).await?;
    let actor = Actor::cli();
    let opts = ImportOptions {
        county,
        dry_run,
        actor: &actor,
        source: "bench",
        today: jingkang_core::domain::clock::today(),
        progress: None,
    };
    let t = Instant::now();
    let report = import_roster(&db, &tree, file, &opts)
        .await
        .map_err(anyhow::Error::from)?;
    let seconds = t.elapsed().as_secs_f64();
    db.close().await;
    Ok(json!({
        "phase": phase, "seconds": seconds, "peak_rss_mb": peak_rss_mb(),
        "rows_read": report.rows_read, "accepted": report.accepted, "created": report.created,
        "errors": report.errors_total, "duplicates": report.duplicates_total,
    }))
}

fn run_python(python: &str, file: &Path) -> anyhow::Result<Value> {
    let script = Path::new("bench/roster_openpyxl.py");
    if !script.exists() {
        bail!("bench/roster_openpyxl.py not found (run from the repository root)");
    }
    eprintln!("running phase python…");
    let t = Instant::now();
    let mut child = Command::new(python)
        .arg(script)
        .arg(file)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {python}"))?;
    let pid = child.id();
    let mut peak = None;
    loop {
        if let Some(v) = child_peak_rss_mb(pid) {
            peak = Some(v);
        }
        if child.try_wait()?.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let wall = t.elapsed().as_secs_f64();
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("python baseline failed (install bench/requirements.txt)");
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v: Value = serde_json::from_str(text.lines().last().unwrap_or("{}"))?;
    v["phase"] = json!("python");
    v["wall_seconds"] = json!(wall);
    v["peak_rss_mb"] = json!(peak);
    Ok(v)
}

async fn create_pg_database(server: &str) -> anyhow::Result<(String, String)> {
    let name = format!("jingkang_bench_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .context("cannot connect to PostgreSQL")?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut conn)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let url = match server.rsplit_once('/') {
        Some((base, _)) if base.contains("://") && !base.ends_with('/') => format!("{base}/{name}"),
        _ => format!("{}/{name}", server.trim_end_matches('/')),
    };
    Ok((url, name))
}

async fn drop_pg_database(server: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(server).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}
