//! Rendering results for a person at the terminal, in Chinese, from the core message table.

use jingkang_core::import::ImportReport;
use jingkang_core::messages::render;

/// How many error/change lines to show before "… and N more".
const SHOW: usize = 200;

pub fn internal_error(_e: &anyhow::Error) -> String {
    render("cli-internal-error", &[])
}

pub fn import_report(r: &ImportReport) -> String {
    let mut out = Vec::new();
    out.push(render(
        "cli-import-summary",
        &[
            ("rows_read", &r.rows_read.to_string()),
            ("accepted", &r.accepted.to_string()),
            ("created", &r.created.to_string()),
            ("updated", &r.updated.to_string()),
            ("unchanged", &r.unchanged.to_string()),
            ("duplicates", &r.duplicates.len().to_string()),
            ("errors", &r.errors.len().to_string()),
        ],
    ));
    for e in r.errors.iter().take(SHOW) {
        out.push(render(
            "cli-row-error",
            &[
                ("row", &e.row.to_string()),
                ("column", &e.column),
                ("message", &e.message),
                ("code", &e.code),
            ],
        ));
    }
    if r.errors.len() > SHOW {
        out.push(render(
            "cli-more",
            &[("n", &(r.errors.len() - SHOW).to_string())],
        ));
    }
    for d in r.duplicates.iter().take(SHOW) {
        out.push(render(
            "cli-duplicate",
            &[
                ("row", &d.row.to_string()),
                ("same_as_row", &d.same_as_row.to_string()),
            ],
        ));
    }
    if r.duplicates.len() > SHOW {
        out.push(render(
            "cli-more",
            &[("n", &(r.duplicates.len() - SHOW).to_string())],
        ));
    }
    for c in r.changes.iter().take(SHOW) {
        out.push(render(
            "cli-change",
            &[
                ("row", &c.row.to_string()),
                ("person", &c.person),
                ("label", &c.label),
                ("old", c.old.as_deref().unwrap_or("（空）")),
                ("new", c.new.as_deref().unwrap_or("（空）")),
            ],
        ));
    }
    if r.changes.len() > SHOW {
        out.push(render(
            "cli-more",
            &[("n", &(r.changes.len() - SHOW).to_string())],
        ));
    }
    out.push(render(
        if r.dry_run {
            "cli-import-dry-run"
        } else {
            "cli-import-done"
        },
        &[],
    ));
    out.join("\n")
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress(len: Option<u64>, what: &str) -> indicatif::ProgressBar {
    let pb = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {msg} [{elapsed_precise}] {bar:40} {pos}/{len} ({per_sec})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    pb.set_style(style);
    pb.set_message(what.to_string());
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
    pb
}
