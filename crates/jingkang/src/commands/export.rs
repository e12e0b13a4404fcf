//! `jingkang export roster|platform|fhir`: a region's data written out, audited.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use jingkang_core::export::{ExportRequest, export_roster};
use jingkang_core::messages::render;
use jingkang_core::regions::{RegionTree, Scope};
use jingkang_core::store::{Actor, Db};

use crate::ExportCmd;
use crate::db::{open, today, user_error};

pub async fn run(url: &str, cmd: ExportCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ExportCmd::Roster {
            region,
            out,
            reason,
            as_of,
        } => roster(url, region, out, reason, as_of).await,
        ExportCmd::Platform {
            region,
            out,
            reason,
            since,
        } => platform(url, region, out, reason, since).await,
        ExportCmd::Fhir {
            subject,
            out,
            reveal,
            reason,
        } => {
            let (db, tree) = open(url).await?;
            fhir(&db, &tree, &subject, &out, (reveal, reason.as_deref())).await
        }
    }
}

/// `jingkang export roster`: the 附件3 花名册 of a county or township in the official layout.
async fn roster(
    url: &str,
    region: String,
    out: PathBuf,
    reason: String,
    as_of: Option<chrono::NaiveDate>,
) -> anyhow::Result<ExitCode> {
    let (db, tree) = open(url).await?;
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

/// `jingkang export platform`: a region's registrations and referrals as the exchange file.
async fn platform(
    url: &str,
    region: String,
    out: PathBuf,
    reason: String,
    since: Option<chrono::NaiveDate>,
) -> anyhow::Result<ExitCode> {
    use jingkang_core::interop::platform::{self, PlatformExport};
    let (db, tree) = open(url).await?;
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

/// `jingkang export fhir`: a person or a region as a FHIR R4 Bundle, masked unless revealed.
async fn fhir(
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
