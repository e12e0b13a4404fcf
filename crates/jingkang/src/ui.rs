//! Rendering results for a person at the terminal, in Chinese, from the core message table.

use jingkang_core::exchange::run::{CensusReport, RunReport};
use jingkang_core::exchange::{Class, Source};
use jingkang_core::import::ImportReport;
use jingkang_core::import::roster::{Duplicate, RowError};
use jingkang_core::messages::render;

/// How many error/change lines to show before "… and N more".
const SHOW: usize = 200;

/// Row errors and repeated rows, the first [`SHOW`] of each, then how many more (of their totals:
/// a report lists only the first problems of a file and counts the rest).
fn row_problems(
    out: &mut Vec<String>,
    (errors, errors_total): (&[RowError], u64),
    (duplicates, duplicates_total): (&[Duplicate], u64),
) {
    for e in errors.iter().take(SHOW) {
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
    let shown = errors.len().min(SHOW) as u64;
    if errors_total > shown {
        out.push(render(
            "cli-more",
            &[("n", &(errors_total - shown).to_string())],
        ));
    }
    for d in duplicates.iter().take(SHOW) {
        out.push(render(
            "cli-duplicate",
            &[
                ("row", &d.row.to_string()),
                ("same_as_row", &d.same_as_row.to_string()),
            ],
        ));
    }
    let shown = duplicates.len().min(SHOW) as u64;
    if duplicates_total > shown {
        out.push(render(
            "cli-more",
            &[("n", &(duplicates_total - shown).to_string())],
        ));
    }
}

/// What `link run` found: the list read, the matches, the items per class.
pub fn exchange_report(source: &Source, county: &str, r: &RunReport) -> String {
    let s = &r.summary;
    let mut out = vec![render(
        "cli-exchange-summary",
        &[
            ("source", &source.label),
            ("county", county),
            ("rows_read", &s.rows_read.to_string()),
            ("kept", &s.kept.to_string()),
            ("errors", &s.errors.to_string()),
            ("warnings", &s.warnings.to_string()),
            ("duplicates", &s.duplicates.to_string()),
            ("registry", &s.registry.to_string()),
            ("by_id", &s.matched_by_id.to_string()),
            ("by_linkage", &s.matched_by_linkage.to_string()),
            ("agreeing", &s.agreeing.to_string()),
        ],
    )];
    for class in Class::ALL {
        let n = s.counts.get(class.code()).copied().unwrap_or(0);
        out.push(render(
            "cli-exchange-class",
            &[("class", class.label_zh()), ("n", &n.to_string())],
        ));
    }
    row_problems(
        &mut out,
        (&r.read.errors, r.read.errors.len() as u64),
        (&r.read.duplicates, r.read.duplicates.len() as u64),
    );
    for w in r.read.warnings.iter().take(SHOW) {
        out.push(render(
            "cli-row-warning",
            &[
                ("row", &w.row.to_string()),
                ("column", &w.column),
                ("message", &w.message),
                ("code", &w.code),
            ],
        ));
    }
    if r.read.warnings.len() > SHOW {
        out.push(render(
            "cli-more",
            &[("n", &(r.read.warnings.len() - SHOW).to_string())],
        ));
    }
    out.push(render("cli-exchange-saved", &[("run", &r.run.to_string())]));
    out.join("\n")
}

/// A census as the terminal shows it: the lists, the counts per class, each list's problems.
pub fn census_report(sources: &[&Source], county: &str, r: &CensusReport) -> String {
    let s = &r.summary;
    let mut out = vec![render(
        "cli-census-summary",
        &[
            ("county", county),
            ("lists", &sources.len().to_string()),
            ("registry", &s.registry.to_string()),
            ("agreeing", &s.agreeing.to_string()),
        ],
    )];
    for (source, read) in sources.iter().zip(&r.reads) {
        out.push(render(
            "cli-census-list",
            &[
                ("source", &source.label),
                ("rows_read", &read.rows_read.to_string()),
                ("kept", &read.rows.len().to_string()),
                ("errors", &read.errors.len().to_string()),
                ("warnings", &read.warnings.len().to_string()),
            ],
        ));
        row_problems(
            &mut out,
            (&read.errors, read.errors.len() as u64),
            (&read.duplicates, read.duplicates.len() as u64),
        );
    }
    for class in Class::ALL {
        let n = s.counts.get(class.code()).copied().unwrap_or(0);
        out.push(render(
            "cli-exchange-class",
            &[("class", class.label_zh()), ("n", &n.to_string())],
        ));
    }
    out.push(render("cli-exchange-saved", &[("run", &r.run.to_string())]));
    out.join("\n")
}

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
            ("duplicates", &r.duplicates_total.to_string()),
            ("errors", &r.errors_total.to_string()),
        ],
    ));
    if r.outside_rows > 0 {
        out.push(render(
            "import-outside-rows",
            &[("n", &r.outside_rows.to_string())],
        ));
    }
    row_problems(
        &mut out,
        (&r.errors, r.errors_total),
        (&r.duplicates, r.duplicates_total),
    );
    for w in r.warnings.iter().take(SHOW) {
        out.push(render(
            "cli-import-warning",
            &[("row", &w.row.to_string()), ("message", &w.message)],
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
    let shown = r.changes.len().min(SHOW) as u64;
    if r.changes_total > shown {
        out.push(render(
            "cli-more",
            &[("n", &(r.changes_total - shown).to_string())],
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
