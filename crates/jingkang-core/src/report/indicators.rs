//! Indicators against yearly targets (SPEC §9) as data (`data/indicators.json`): each is a
//! numerator ÷ denominator of two measures (`store::report`), computed for a region's child
//! regions and in total as of a quarter's end, beside its definition and the year's target.
//! [`board`] computes them all with one read of the persons; [`trend`] repeats it for a
//! run of quarters (totals only).

use std::collections::BTreeSet;

use anyhow::{Context, ensure};
use chrono::Datelike;
use serde::{Deserialize, Serialize};

use crate::care::standard::{Period, StandardRule};
use crate::regions::{Level, Region, RegionTree, Scope};
use crate::store::Tx;
use crate::store::report::{Measure, Measured, People, Unit, measure};

/// A yearly target in percent: a minimum, met at `min` or above (SPEC §9; the seeds set floors,
/// each deployment its own — one district plans 90 % of its townships, another 80 % — never a
/// ceiling: 96.8 % against 80 % is met). A file that still gives a `max` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub year: i32,
    pub min: f64,
}

impl Target {
    pub fn met(&self, percent: f64) -> bool {
        percent + 1e-9 >= self.min
    }

    /// `≥ 60%`.
    pub fn label_zh(&self) -> String {
        format!("≥ {}%", self.min)
    }
}

/// One indicator.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Indicator {
    pub code: String,
    pub label: String,
    pub numerator: Measure,
    pub denominator: Measure,
    /// Shown beside every figure.
    pub definition: String,
    pub targets: Vec<Target>,
}

impl Indicator {
    /// The target for `year`: the latest one set for that year or before.
    pub fn target(&self, year: i32) -> Option<&Target> {
        self.targets
            .iter()
            .filter(|t| t.year <= year)
            .max_by_key(|t| t.year)
    }

    /// What the drill-down lists: persons or townships.
    pub fn unit(&self) -> Unit {
        self.denominator.unit()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Indicators {
    pub indicators: Vec<Indicator>,
}

static SHIPPED: &str = include_str!("../../data/indicators.json");

impl Indicators {
    /// Parse and check: unique codes; numerator and denominator count the same unit; targets
    /// in percent, one per year.
    pub fn parse(json: &str) -> anyhow::Result<Indicators> {
        let d: Indicators = serde_json::from_str(json).context("indicator definitions")?;
        let mut codes = BTreeSet::new();
        for i in &d.indicators {
            ensure!(codes.insert(i.code.as_str()), "indicator {} twice", i.code);
            ensure!(
                i.numerator.unit() == i.denominator.unit() && i.unit() != Unit::Other,
                "indicator {}: numerator and denominator must both count persons or both townships",
                i.code
            );
            let mut years = BTreeSet::new();
            for t in &i.targets {
                ensure!(
                    years.insert(t.year),
                    "indicator {}: two targets for {}",
                    i.code,
                    t.year
                );
                ensure!(
                    (0.0..=100.0).contains(&t.min),
                    "indicator {}: target {} out of 0–100",
                    i.code,
                    t.year
                );
            }
        }
        Ok(d)
    }

    pub fn shipped() -> anyhow::Result<Indicators> {
        Indicators::parse(SHIPPED)
    }

    /// The definitions in `path`, or the shipped ones.
    pub fn load(path: Option<&std::path::Path>) -> anyhow::Result<Indicators> {
        match path {
            Some(p) => Indicators::parse(
                &std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read {}", p.display()))?,
            ),
            None => Indicators::shipped(),
        }
    }

    pub fn get(&self, code: &str) -> Option<&Indicator> {
        self.indicators.iter().find(|i| i.code == code)
    }
}

/// A numerator, a denominator and the rate in percent (one decimal; none without a denominator).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figure {
    pub numerator: i64,
    pub denominator: i64,
    pub percent: Option<f64>,
}

impl Figure {
    pub fn of(numerator: i64, denominator: i64) -> Figure {
        let percent = (denominator > 0)
            .then(|| (numerator as f64 * 1000.0 / denominator as f64).round() / 10.0);
        Figure {
            numerator,
            denominator,
            percent,
        }
    }
}

/// An indicator's figures: one per region of the board, and the total.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Values {
    pub code: String,
    pub by_region: Vec<Figure>,
    pub total: Figure,
    pub target: Option<Target>,
    /// Whether the total meets the target (none without one, or without a denominator).
    pub met: Option<bool>,
}

/// Every indicator for a region's child regions and in total, for a quarter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Board {
    /// `2026Q3`.
    pub quarter: String,
    pub period: Period,
    pub region: String,
    pub region_name: String,
    /// The rows: the child regions (code, name).
    pub regions: Vec<(String, String)>,
    pub values: Vec<Values>,
}

/// The regions a board shows for `region`: its children down to townships; a township shows itself.
pub fn board_regions<'a>(tree: &'a RegionTree, region: &'a Region) -> Vec<&'a Region> {
    if region.level == Level::Township || region.level == Level::Village {
        return vec![region];
    }
    tree.children(&region.code)
        .filter(|r| r.level != Level::Village)
        .collect()
}

/// The part of `m` that belongs to the region with prefix `prefix` (townships are the finest).
fn within(m: &Measured, prefix: &str) -> i64 {
    if prefix.len() >= 9 {
        return m.by_township.get(&prefix[..9]).copied().unwrap_or(0);
    }
    m.by_township
        .range(prefix.to_string()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(_, n)| n)
        .sum()
}

/// The quarter's figures of `defs` for `region` (inside `scope`), by child region and in total.
pub async fn board(
    tx: &mut Tx,
    tree: &RegionTree,
    (scope, region): (&Scope, &Region),
    defs: &Indicators,
    (period, quarter): (&Period, &str),
    rule: &StandardRule,
) -> anyhow::Result<Board> {
    let people = People::wanting(
        defs.indicators
            .iter()
            .flat_map(|i| [i.numerator, i.denominator]),
    );
    board_of(
        tx,
        tree,
        (scope, region),
        defs,
        (period, quarter),
        rule,
        people,
    )
    .await
}

/// [`board`] with the per-person facts given (`People::within` counts already made, or
/// `People::wanting` to read them now); the other measures (sites, staff) are read.
pub async fn board_of(
    tx: &mut Tx,
    tree: &RegionTree,
    (scope, region): (&Scope, &Region),
    defs: &Indicators,
    (period, quarter): (&Period, &str),
    rule: &StandardRule,
    mut people: People,
) -> anyhow::Result<Board> {
    let measures: Vec<Measure> = defs
        .indicators
        .iter()
        .flat_map(|i| [i.numerator, i.denominator])
        .collect();
    let mut measured: std::collections::BTreeMap<Measure, Measured> =
        std::collections::BTreeMap::new();
    for m in measures {
        if let std::collections::btree_map::Entry::Vacant(slot) = measured.entry(m) {
            slot.insert(measure(tx, tree, scope, (m, None), period, rule, &mut people).await?);
        }
    }
    let rows = board_regions(tree, region);
    let year = period.end.year();
    let values = defs
        .indicators
        .iter()
        .map(|i| {
            let (n, d) = (&measured[&i.numerator], &measured[&i.denominator]);
            let total = Figure::of(n.total, d.total);
            let target = i.target(year).copied();
            Values {
                code: i.code.clone(),
                by_region: rows
                    .iter()
                    .map(|r| Figure::of(within(n, r.prefix()), within(d, r.prefix())))
                    .collect(),
                total,
                target,
                met: target.and_then(|t| total.percent.map(|p| t.met(p))),
            }
        })
        .collect();
    Ok(Board {
        quarter: quarter.to_string(),
        period: *period,
        region: region.code.clone(),
        region_name: tree.path_name(&region.code),
        regions: rows
            .iter()
            .map(|r| (r.code.clone(), r.name.clone()))
            .collect(),
        values,
    })
}

/// The quarters ending with `last`, `n` of them, oldest first, as (`2026Q3`, period).
pub fn quarters_to(last: &Period, n: usize) -> Vec<(String, Period)> {
    let mut out: Vec<(String, Period)> = crate::domain::period::Quarter::of(last.start)
        .back(n)
        .into_iter()
        .map(|q| (q.code(), q.period()))
        .collect();
    out.reverse();
    out
}

/// Each indicator's total for each quarter (oldest first): `[quarter][indicator]`.
pub async fn trend(
    tx: &mut Tx,
    tree: &RegionTree,
    (scope, region): (&Scope, &Region),
    defs: &Indicators,
    quarters: &[(String, Period)],
    rule: &StandardRule,
) -> anyhow::Result<Vec<(String, Vec<Figure>)>> {
    let mut out = Vec::new();
    for (label, period) in quarters {
        let b = board(tx, tree, (scope, region), defs, (period, label), rule).await?;
        out.push((label.clone(), b.values.iter().map(|v| v.total).collect()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_indicators_parse_with_the_spec_targets() {
        let d = Indicators::shipped().unwrap();
        assert_eq!(d.indicators.len(), 8);
        let cov = d.get("township_coverage").unwrap();
        assert_eq!(cov.target(2023).unwrap().min, 50.0);
        assert_eq!(cov.target(2024).unwrap().min, 65.0);
        assert_eq!(cov.target(2026).unwrap().label_zh(), "≥ 80%");
        assert!(cov.target(2022).is_none());
        assert_eq!(
            d.get("standard_service_rate")
                .unwrap()
                .target(2026)
                .unwrap()
                .min,
            60.0
        );
        assert_eq!(
            d.get("medication_rate").unwrap().target(2024).unwrap().min,
            70.0
        );
        assert_eq!(
            d.get("institution_coverage").unwrap().unit(),
            Unit::Townships
        );
        assert!(d.get("management_rate").unwrap().target(2026).is_none());
    }

    #[test]
    fn every_target_is_a_minimum_met_at_or_above_it() {
        let d = Indicators::shipped().unwrap();
        let mut judged = 0;
        for i in &d.indicators {
            for t in &i.targets {
                let target = i.target(t.year).unwrap();
                assert!(target.met(t.min), "{} {}: at the minimum", i.code, t.year);
                assert!(target.met(100.0), "{} {}: far above", i.code, t.year);
                assert!(
                    !target.met(t.min - 0.1),
                    "{} {}: just below",
                    i.code,
                    t.year
                );
                assert_eq!(target.label_zh(), format!("≥ {}%", t.min));
                judged += 1;
            }
        }
        assert!(judged >= 10, "{judged}");
        // The field trial's figure: 96.8 % township coverage against 2025's 80 % is met.
        let coverage = d.get("township_coverage").unwrap().target(2025).unwrap();
        assert_eq!(coverage.min, 80.0);
        assert!(coverage.met(96.8));
    }

    #[test]
    fn a_ceiling_is_refused() {
        let with_max = SHIPPED.replace("\"min\": 50 }", "\"min\": 50, \"max\": 60 }");
        assert_ne!(with_max, SHIPPED);
        let e = Indicators::parse(&with_max).unwrap_err();
        assert!(format!("{e:#}").contains("max"), "{e:#}");
    }

    #[test]
    fn broken_definitions_are_refused() {
        let ok = SHIPPED;
        assert!(
            Indicators::parse(&ok.replace("\"management_rate\"", "\"township_coverage\"")).is_err(),
            "a code twice"
        );
        assert!(
            Indicators::parse(
                &ok.replace("\"numerator\": \"managed\"", "\"numerator\": \"townships\"")
            )
            .is_err(),
            "units differ"
        );
        assert!(
            Indicators::parse(&ok.replace("\"min\": 50", "\"min\": 150")).is_err(),
            "over 100"
        );
        assert!(
            Indicators::parse(
                &ok.replace("\"year\": 2024, \"min\": 65", "\"year\": 2023, \"min\": 65")
            )
            .is_err(),
            "a year twice"
        );
        assert!(
            Indicators::parse(&ok.replace("\"unstable\"", "\"wobbly\"")).is_err(),
            "an unknown measure"
        );
    }

    #[test]
    fn quarters_run_back_across_a_year() {
        let q = quarters_to(&Period::quarter(2026, 2).unwrap(), 4);
        assert_eq!(
            q.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(),
            ["2025Q3", "2025Q4", "2026Q1", "2026Q2"]
        );
    }

    #[test]
    fn a_region_takes_the_townships_under_it() {
        let mut m = Measured::default();
        m.by_township.insert("500110001".into(), 3);
        m.by_township.insert("500110002".into(), 4);
        m.by_township.insert("500111001".into(), 5);
        assert_eq!(within(&m, "500110"), 7);
        assert_eq!(within(&m, "5001"), 12);
        assert_eq!(within(&m, "500110002"), 4);
        assert_eq!(within(&m, "500110002001"), 4);
    }
}
