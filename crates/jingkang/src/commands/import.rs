//! `jingkang import roster|platform|fhir`: a county's files taken into its registry.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use jingkang_core::import::{ImportOptions, import_roster};
use jingkang_core::messages::render;
use jingkang_core::regions::RegionTree;
use jingkang_core::store::{Actor, Db};

use super::common::refused;
use crate::ImportCmd;
use crate::db::{open, today, user_error};
use crate::ui;

pub async fn run(url: &str, cmd: ImportCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ImportCmd::Roster {
            file,
            county,
            dry_run,
            json,
        } => {
            let (db, tree) = open(url).await?;
            roster(&db, &tree, &file, &county, dry_run, json).await
        }
        ImportCmd::Platform {
            file,
            county,
            dry_run,
            json,
        } => platform(url, file, county, dry_run, json).await,
        ImportCmd::Fhir {
            file,
            county,
            dry_run,
            json,
        } => {
            let (db, tree) = open(url).await?;
            fhir(&db, &tree, &file, &county, (dry_run, json)).await
        }
    }
}

/// `jingkang import roster`: a 附件3 花名册 validated and imported (or, with --dry-run, checked).
async fn roster(
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

/// `jingkang import platform`: a referral-platform exchange file read into a county.
async fn platform(
    url: &str,
    file: PathBuf,
    county: String,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    use jingkang_core::interop::platform::{self, PlatformImport, PlatformImportError};
    let (db, tree) = open(url).await?;
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
async fn fhir(
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
