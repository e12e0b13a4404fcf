//! `jingkang report quarterly|monthly` and `jingkang worklist`: computed now, audited as exports,
//! printed as a table or JSON or written as .xlsx.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use jingkang_core::messages::render;
use jingkang_core::regions::RegionTree;
use jingkang_core::store::{Actor, Db, audit};

use crate::ReportCmd;
use crate::db::{open, today, user_error};

pub async fn run(url: &str, cmd: ReportCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ReportCmd::Quarterly {
            quarter,
            region,
            json,
            out,
        } => {
            let (db, tree) = open(url).await?;
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
        ReportCmd::Monthly {
            month,
            region,
            json,
            out,
        } => {
            let (db, tree) = open(url).await?;
            monthly(&db, &tree, month.as_deref(), &region, json, out.as_deref()).await
        }
    }
}

/// `jingkang worklist NAME --region CODE`.
pub async fn worklist(
    url: &str,
    name: String,
    region: String,
    json: bool,
    out: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let (db, tree) = open(url).await?;
    worklist_of(&db, &tree, &name, &region, json, out.as_deref()).await
}

/// `jingkang worklist NAME --region CODE`: the list computed now, audited as an export.
async fn worklist_of(
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
