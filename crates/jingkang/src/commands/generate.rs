//! `jingkang gen roster|history|services|linkage`: synthetic data for tests and benchmarks.

use std::path::PathBuf;
use std::process::ExitCode;

use jingkang_core::generate::{self, GenOptions};
use jingkang_core::messages::render;
use jingkang_core::regions::{self, RegionTree};

use crate::db::{open, today, user_error};
use crate::{GenCmd, Span, ui};

pub async fn run(url: &str, cmd: GenCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        GenCmd::History { span } => history(url, span).await,
        GenCmd::Linkage {
            rows,
            listed,
            others,
            seed,
            out,
        } => linkage(rows, listed, others, seed, out),
        GenCmd::Services { span } => services(url, span).await,
        GenCmd::Roster {
            rows,
            seed,
            error_rate,
            out,
            county,
            clean,
            truth,
        } => roster(rows, seed, error_rate, out, county, clean, truth),
    }
}

/// What `gen history` and `gen services` share: the span checked, the database opened, a progress
/// bar over the registry's persons. `Err`: the user's error, already said.
async fn begin_span(
    url: &str,
    years: u32,
    what: &str,
) -> anyhow::Result<Result<(jingkang_core::store::Db, indicatif::ProgressBar), ExitCode>> {
    if !(1..=20).contains(&years) {
        return Ok(Err(user_error(render(
            "cli-value-invalid",
            &[("name", "--years"), ("message", "1–20")],
        ))));
    }
    let (db, _) = open(url).await?;
    let total = jingkang_core::store::persons::count(
        &mut db.begin().await?,
        &jingkang_core::regions::Scope::national(),
    )
    .await?;
    Ok(Ok((db, ui::progress(Some(total as u64), what))))
}

/// Say what a generator wrote (message `code` with `args` and the seconds since `started`).
fn said_done(code: &str, args: &[(&str, String)], started: std::time::Instant) -> ExitCode {
    let seconds = format!("{:.1}", started.elapsed().as_secs_f64());
    let mut all: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.push(("seconds", &seconds));
    eprintln!("{}", render(code, &all));
    ExitCode::SUCCESS
}

/// `jingkang gen history`: years of registrations and follow-ups for the persons in the database.
async fn history(url: &str, Span { years, seed, until }: Span) -> anyhow::Result<ExitCode> {
    let (db, pb) = match begin_span(url, years, "gen history").await? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let started = std::time::Instant::now();
    let progress = |n| pb.set_position(n);
    let written = generate::history::write(
        &db,
        seed,
        years,
        until.unwrap_or_else(today),
        Some(&progress),
    )
    .await;
    pb.finish_and_clear();
    let done = match written {
        Ok(d) => d,
        Err(e)
            if e.downcast_ref::<generate::history::HistoryExists>()
                .is_some() =>
        {
            return Ok(user_error(render("cli-gen-history-exists", &[])));
        }
        Err(e) => return Err(e),
    };
    let args = [
        ("persons", done.persons.to_string()),
        ("followups", done.followups.to_string()),
        ("events", done.events.to_string()),
        ("referrals", done.referrals.to_string()),
    ];
    Ok(said_done("cli-gen-history-done", &args, started))
}

/// `jingkang gen linkage`: a registry, a department's list and the truth, as CSV files.
fn linkage(
    rows: usize,
    listed: f64,
    others: f64,
    seed: u64,
    out: PathBuf,
) -> anyhow::Result<ExitCode> {
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

/// `jingkang gen services`: years of rehabilitation services for the persons registered.
async fn services(url: &str, Span { years, seed, until }: Span) -> anyhow::Result<ExitCode> {
    let (db, pb) = match begin_span(url, years, "gen services").await? {
        Ok(v) => v,
        Err(code) => return Ok(code),
    };
    let started = std::time::Instant::now();
    let progress = |n| pb.set_position(n);
    let written = generate::services::write(
        &db,
        seed,
        years,
        until.unwrap_or_else(today),
        Some(&progress),
    )
    .await;
    pb.finish_and_clear();
    let done = match written {
        Ok(d) => d,
        Err(e)
            if e.downcast_ref::<generate::services::ServicesExist>()
                .is_some() =>
        {
            return Ok(user_error(render("cli-gen-services-exist", &[])));
        }
        Err(e) => return Err(e),
    };
    let args = [
        ("persons", done.persons.to_string()),
        ("plans", done.plans.to_string()),
        ("assessments", done.assessments.to_string()),
        ("sessions", done.sessions.to_string()),
        ("contacts", done.contacts.to_string()),
    ];
    Ok(said_done("cli-gen-services-done", &args, started))
}

/// `jingkang gen roster`: a realistic, messy roster (.xlsx or .csv), with its truth.
fn roster(
    rows: u64,
    seed: u64,
    error_rate: f64,
    out: PathBuf,
    county: String,
    clean: bool,
    truth: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
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
