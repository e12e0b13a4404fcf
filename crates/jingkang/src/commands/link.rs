//! `jingkang link csv|run|census`: record linkage over CSV files, and a department's lists compared
//! with a county's registry (saved for review, the registry unchanged).

use std::path::Path;
use std::process::ExitCode;

use jingkang_core::messages::render;
use jingkang_core::regions::RegionTree;
use jingkang_core::store::{Actor, Db};

use super::common::refused;
use crate::LinkCmd;
use crate::db::{open, today, user_error};
use crate::ui;

pub async fn run(url: &str, cmd: LinkCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        LinkCmd::Csv {
            config,
            left,
            right,
            json,
            explain,
        } => csv(&config, &left, right.as_deref(), (json, explain)),
        LinkCmd::Run {
            source,
            file,
            county,
            taken_on,
            map,
            json,
        } => {
            let (db, tree) = open(url).await?;
            list(&db, &tree, (&source, &file, &county), taken_on, &map, json).await
        }
        LinkCmd::Census {
            county,
            lists,
            taken_on,
            json,
        } => {
            let (db, tree) = open(url).await?;
            census(&db, &tree, &county, &lists, taken_on, json).await
        }
    }
}

/// `jingkang link run`: a department's list compared with a county's registry, saved for review.
async fn list(
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
async fn census(
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
fn csv(
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
