//! Reports whose layout is data (`data/reports/*.json`, SPEC §9): a definition names the
//! columns, groups them under headers, and says how each is obtained — a measure over the
//! registry as of the period's end (`store::report`), a ratio of two measures in percent, or
//! entered by hand. [`compute`] fills one row per township of a region plus the total; the
//! xlsx layout is `export::report`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, bail, ensure};
use serde::{Deserialize, Serialize};

use crate::care::standard::{Period, StandardRule};
use crate::regions::{Region, RegionTree, Scope};
use crate::store::Tx;
use crate::store::report::{Measure, Measured};

pub mod form;
pub mod indicators;

/// How a column is obtained.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Source {
    /// Entered by hand on the report (`{"manual": true}`).
    Manual { manual: bool },
    /// Numerator ÷ denominator of two measures, in percent.
    Ratio { ratio: [Measure; 2] },
    /// A count (`{"measure": "new_sites", "urban": true}`).
    Count {
        measure: Measure,
        #[serde(default)]
        urban: Option<bool>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Column {
    /// The column's number in the official form (`"1"` … `"18"`).
    pub key: String,
    pub label: String,
    pub value: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Group {
    pub label: String,
    pub columns: Vec<String>,
}

/// A report definition.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Definition {
    pub code: String,
    pub name: String,
    /// `quarter` or `month`.
    pub period: String,
    pub row_label: String,
    pub total_label: String,
    pub groups: Vec<Group>,
    pub columns: Vec<Column>,
    pub note: String,
    pub signatures: Vec<String>,
}

static SHIPPED: &[(&str, &str)] = &[
    ("fujian2", include_str!("../../data/reports/fujian2.json")),
    (
        "followup_monthly",
        include_str!("../../data/reports/followup_monthly.json"),
    ),
];

impl Definition {
    /// Parse and check a definition: unique column keys, groups of existing columns in order.
    pub fn parse(json: &str) -> anyhow::Result<Definition> {
        let d: Definition = serde_json::from_str(json).context("report definition")?;
        ensure!(
            d.period == "quarter" || d.period == "month",
            "report {}: period {} (quarter or month)",
            d.code,
            d.period
        );
        let mut keys = BTreeSet::new();
        for c in &d.columns {
            ensure!(
                keys.insert(c.key.as_str()),
                "report {}: column {} twice",
                d.code,
                c.key
            );
            if let Source::Manual { manual } = &c.value {
                ensure!(
                    *manual,
                    "report {}: column {}: manual must be true",
                    d.code,
                    c.key
                );
            }
        }
        let grouped: Vec<&str> = d
            .groups
            .iter()
            .flat_map(|g| g.columns.iter().map(String::as_str))
            .collect();
        let order: Vec<&str> = d
            .columns
            .iter()
            .map(|c| c.key.as_str())
            .filter(|k| grouped.contains(k))
            .collect();
        ensure!(
            grouped == order,
            "report {}: groups must name existing columns, in order, once",
            d.code
        );
        Ok(d)
    }

    /// A shipped definition by code.
    pub fn shipped(code: &str) -> anyhow::Result<Definition> {
        let Some((_, json)) = SHIPPED.iter().find(|(c, _)| *c == code) else {
            bail!("no report definition {code}")
        };
        Definition::parse(json)
    }
}

/// One cell: a count, a percentage (none when the denominator is 0), or a figure to be
/// entered by hand (none until it is).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Cell {
    Count(i64),
    Percent(Option<f64>),
    Manual(Option<f64>),
}

impl Cell {
    /// The value as JSON shows it: a number or null.
    pub fn number(&self) -> Option<f64> {
        match *self {
            Cell::Count(n) => Some(n as f64),
            Cell::Percent(p) | Cell::Manual(p) => p,
        }
    }
}

/// A row: a township (or the total) and its cells by column key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub region: String,
    pub name: String,
    pub columns: BTreeMap<String, Cell>,
}

/// A computed report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub code: String,
    pub name: String,
    /// `2026Q3`.
    pub quarter: String,
    pub period: Period,
    pub region: String,
    pub region_name: String,
    pub rows: Vec<Row>,
    pub total: Row,
}

/// A row's figures as numbers (null: none), as a signed filing keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrozenRow {
    pub region: String,
    pub name: String,
    pub columns: BTreeMap<String, Option<f64>>,
}

/// A report's figures as they stood when signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frozen {
    pub rows: Vec<FrozenRow>,
    pub total: FrozenRow,
}

impl FrozenRow {
    fn of(row: &Row, manual: &BTreeMap<String, i64>) -> FrozenRow {
        let columns = row
            .columns
            .iter()
            .map(|(k, c)| {
                let v = match c {
                    Cell::Manual(_) => manual.get(k).map(|n| *n as f64),
                    other => other.number(),
                };
                (k.clone(), v)
            })
            .collect();
        FrozenRow {
            region: row.region.clone(),
            name: row.name.clone(),
            columns,
        }
    }
}

impl Frozen {
    /// The figures of `report` with the hand-entered ones (`manual`, by column) in every row.
    pub fn of(report: &Report, manual: &BTreeMap<String, i64>) -> Frozen {
        Frozen {
            rows: report
                .rows
                .iter()
                .map(|r| FrozenRow::of(r, manual))
                .collect(),
            total: FrozenRow::of(&report.total, manual),
        }
    }
}

/// One figure that differs between two versions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    pub region: String,
    pub name: String,
    pub key: String,
    pub before: Option<f64>,
    pub after: Option<f64>,
}

/// The figures of `after` that differ from `before`, row by row (rows matched by region).
pub fn diff(before: &Frozen, after: &Frozen) -> Vec<Difference> {
    let mut out = Vec::new();
    let pairs = after
        .rows
        .iter()
        .map(|r| (r, before.rows.iter().find(|b| b.region == r.region)))
        .chain([(&after.total, Some(&before.total))]);
    for (row, old) in pairs {
        for (key, v) in &row.columns {
            let was = old.and_then(|o| o.columns.get(key).copied().flatten());
            if was != *v {
                out.push(Difference {
                    region: row.region.clone(),
                    name: row.name.clone(),
                    key: key.clone(),
                    before: was,
                    after: *v,
                });
            }
        }
    }
    out
}

/// Percent with one decimal.
fn percent(num: i64, den: i64) -> Option<f64> {
    (den > 0).then(|| (num as f64 * 1000.0 / den as f64).round() / 10.0)
}

/// Compute `def` for the townships of `region` in `period` (a quarter), as of its last day.
pub async fn compute(
    tx: &mut Tx,
    tree: &RegionTree,
    (scope, region): (&Scope, &Region),
    def: &Definition,
    (period, quarter): (&Period, &str),
    rule: &StandardRule,
) -> anyhow::Result<Report> {
    let mut measured: BTreeMap<(Measure, Option<bool>), Measured> = BTreeMap::new();
    let mut people =
        crate::store::report::People::wanting(def.columns.iter().flat_map(|c| match &c.value {
            Source::Manual { .. } => vec![],
            Source::Ratio { ratio } => ratio.to_vec(),
            Source::Count { measure, .. } => vec![*measure],
        }));
    for c in &def.columns {
        let wanted: Vec<(Measure, Option<bool>)> = match &c.value {
            Source::Manual { .. } => vec![],
            Source::Ratio { ratio } => ratio.iter().map(|m| (*m, None)).collect(),
            Source::Count { measure, urban } => vec![(*measure, *urban)],
        };
        for w in wanted {
            if let std::collections::btree_map::Entry::Vacant(slot) = measured.entry(w) {
                slot.insert(
                    crate::store::report::measure(tx, tree, scope, w, period, rule, &mut people)
                        .await?,
                );
            }
        }
    }
    let towns: Vec<&Region> = if region.code.len() >= 9 {
        vec![region]
    } else {
        tree.townships_under(&region.code)
    };
    // What is counted at the region's own level or above its townships (a county's own staff and
    // contracts): the total less the townships' rows.
    let get = |w: (Measure, Option<bool>), part: Part<'_>| -> i64 {
        measured.get(&w).map_or(0, |m| match part {
            Part::Township(t) => m.by_township.get(t).copied().unwrap_or(0),
            Part::Own => {
                m.total
                    - towns
                        .iter()
                        .map(|t| m.by_township.get(&t.code).copied().unwrap_or(0))
                        .sum::<i64>()
            }
            Part::Total => m.total,
        })
    };
    let row = |code: &str, name: &str, part: Part<'_>| Row {
        region: code.to_string(),
        name: name.to_string(),
        columns: def
            .columns
            .iter()
            .map(|c| {
                let cell = match &c.value {
                    Source::Manual { .. } => Cell::Manual(None),
                    Source::Ratio { ratio: [n, d] } => {
                        Cell::Percent(percent(get((*n, None), part), get((*d, None), part)))
                    }
                    Source::Count { measure, urban } => Cell::Count(get((*measure, *urban), part)),
                };
                (c.key.clone(), cell)
            })
            .collect(),
    };
    let mut rows: Vec<Row> = towns
        .iter()
        .map(|t| row(&t.code, &t.name, Part::Township(&t.code)))
        .collect();
    // A row of its own for what belongs to no township, so that every count column's total is
    // the sum of its rows (in the page, the xlsx and the JSON alike).
    if region.code.len() < 9 {
        let own = row(&region.code, own_level_label(region.level), Part::Own);
        if own
            .columns
            .values()
            .any(|c| matches!(c, Cell::Count(n) if *n != 0))
        {
            rows.push(own);
        }
    }
    Ok(Report {
        code: def.code.clone(),
        name: def.name.clone(),
        quarter: quarter.to_string(),
        period: *period,
        region: region.code.clone(),
        region_name: tree.path_name(&region.code),
        rows,
        total: row(&region.code, &def.total_label, Part::Total),
    })
}

/// Which part of a region a row counts.
#[derive(Clone, Copy)]
enum Part<'a> {
    Township(&'a str),
    /// The region's own level (and those between it and its townships).
    Own,
    Total,
}

/// The row of what is counted at the region's own level, by the region's level.
pub fn own_level_label(level: crate::regions::Level) -> &'static str {
    use crate::regions::Level;
    match level {
        Level::County => "区县本级",
        Level::City => "市、区县本级",
        _ => "省、市、区县本级",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_definition_has_eighteen_numbered_columns_in_three_groups() {
        let d = Definition::shipped("fujian2").unwrap();
        assert_eq!(
            d.columns.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(),
            (1..=18).map(|n| n.to_string()).collect::<Vec<_>>()
        );
        assert_eq!(
            d.groups.iter().map(|g| g.columns.len()).collect::<Vec<_>>(),
            [7, 6, 5]
        );
        assert_eq!(
            d.columns
                .iter()
                .filter(|c| matches!(c.value, Source::Manual { .. }))
                .count(),
            3
        );
    }

    #[test]
    fn a_broken_definition_is_refused() {
        let ok = include_str!("../../data/reports/fujian2.json");
        assert!(
            Definition::parse(&ok.replace("\"key\": \"2\"", "\"key\": \"1\"")).is_err(),
            "a key twice"
        );
        assert!(
            Definition::parse(&ok.replace("\"in_registry_severe\"", "\"in_registry_weird\""))
                .is_err(),
            "an unknown measure"
        );
        assert!(
            Definition::parse(&ok.replace("[\"14\", \"15\"", "[\"15\", \"14\"")).is_err(),
            "groups out of order"
        );
        assert!(
            Definition::parse(&ok.replace("\"period\": \"quarter\"", "\"period\": \"year\""))
                .is_err()
        );
        let monthly = Definition::shipped("followup_monthly").unwrap();
        assert_eq!(
            (monthly.period.as_str(), monthly.columns.len()),
            ("month", 11)
        );
    }

    #[test]
    fn percent_has_one_decimal_and_none_without_a_denominator() {
        assert_eq!(percent(1, 3), Some(33.3));
        assert_eq!(percent(2, 3), Some(66.7));
        assert_eq!(percent(0, 0), None);
    }
}
