//! In-memory region tree: lookups, full paths and township name resolution.

use std::collections::HashMap;

use super::Level;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Region {
    pub code: String,
    pub name: String,
    pub parent_code: Option<String>,
    pub level: Level,
}

impl Region {
    /// The significant leading digits of the code: every descendant's code starts with them.
    pub fn prefix(&self) -> &str {
        let n = self.level.prefix_len().min(self.code.len());
        &self.code[..n]
    }
}

/// Result of resolving a township name written in a spreadsheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TownshipMatch<'a> {
    Found(&'a Region),
    Unknown,
    Ambiguous(Vec<&'a Region>),
}

#[derive(Debug, Default, Clone)]
pub struct RegionTree {
    regions: Vec<Region>,
    by_code: HashMap<String, usize>,
    children: HashMap<String, Vec<usize>>,
}

/// Administrative suffixes stripped when comparing township names (longest first).
const TOWNSHIP_SUFFIXES: &[&str] = &[
    "街道办事处",
    "民族乡",
    "民族镇",
    "街道办",
    "办事处",
    "街道",
    "地区",
    "苏木",
    "镇",
    "乡",
    "街",
];

/// Normalise a name as written by hand: drop whitespace, full-width ASCII to half-width.
pub(crate) fn normalise_name(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

fn strip_suffix(s: &str) -> &str {
    for suf in TOWNSHIP_SUFFIXES {
        if let Some(base) = s.strip_suffix(suf)
            && !base.is_empty()
        {
            return base;
        }
    }
    s
}

impl RegionTree {
    pub fn new(mut regions: Vec<Region>) -> RegionTree {
        regions.sort_by(|a, b| a.code.cmp(&b.code));
        let mut by_code = HashMap::with_capacity(regions.len());
        let mut children: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in regions.iter().enumerate() {
            by_code.insert(r.code.clone(), i);
            if let Some(p) = &r.parent_code {
                children.entry(p.clone()).or_default().push(i);
            }
        }
        RegionTree {
            regions,
            by_code,
            children,
        }
    }

    pub fn len(&self) -> usize {
        self.regions.len()
    }
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }
    pub fn get(&self, code: &str) -> Option<&Region> {
        self.by_code.get(code).map(|&i| &self.regions[i])
    }
    pub fn children(&self, code: &str) -> impl Iterator<Item = &Region> {
        self.children
            .get(code)
            .into_iter()
            .flatten()
            .map(|&i| &self.regions[i])
    }
    pub fn count_level(&self, level: Level) -> usize {
        self.regions.iter().filter(|r| r.level == level).count()
    }

    /// The chain from the province down to `code` (inclusive); empty if unknown.
    pub fn path(&self, code: &str) -> Vec<Region> {
        let mut out = Vec::new();
        let mut cur = self.get(code);
        while let Some(r) = cur {
            out.push(r.clone());
            cur = r.parent_code.as_deref().and_then(|p| self.get(p));
            if out.len() > 6 {
                break;
            }
        }
        out.reverse();
        out
    }

    /// "重庆市 / 市辖区 / 綦江区 / 万盛街道"
    pub fn path_name(&self, code: &str) -> String {
        self.path(code)
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(" / ")
    }

    /// The regions strictly below `code` down to `deepest` (inclusive), each after its parent and
    /// siblings in code order: the choices of a region filter.
    pub fn descendants_to(&self, code: &str, deepest: Level) -> Vec<&Region> {
        let mut out = Vec::new();
        let mut stack: Vec<&Region> = self.children(code).filter(|r| r.level <= deepest).collect();
        stack.sort_by(|a, b| b.code.cmp(&a.code));
        while let Some(r) = stack.pop() {
            out.push(r);
            if r.level < deepest {
                let mut kids: Vec<&Region> = self
                    .children(&r.code)
                    .filter(|r| r.level <= deepest)
                    .collect();
                kids.sort_by(|a, b| b.code.cmp(&a.code));
                stack.extend(kids);
            }
        }
        out
    }

    /// All townships in the subtree of `code`.
    pub fn townships_under(&self, code: &str) -> Vec<&Region> {
        let Some(root) = self.get(code) else {
            return vec![];
        };
        let prefix = root.prefix();
        self.regions
            .iter()
            .filter(|r| r.level == Level::Township && r.code.starts_with(prefix))
            .collect()
    }

    /// Resolve a township name written in a roster (e.g. `万盛`, `万盛街道`, `万 盛 街道`) among the
    /// townships under `county`; see [`resolve_township_among`].
    pub fn resolve_township(&self, county: &str, written: &str) -> TownshipMatch<'_> {
        resolve_township_among(&self.townships_under(county), written)
    }
}

/// Resolve a written township name among `candidates`: an exact name wins; otherwise a unique match
/// of the name without its administrative suffix, or a unique township whose name starts with what
/// was written.
pub fn resolve_township_among<'a>(candidates: &[&'a Region], written: &str) -> TownshipMatch<'a> {
    let w = normalise_name(written);
    if w.is_empty() {
        return TownshipMatch::Unknown;
    }
    let exact: Vec<&Region> = candidates.iter().copied().filter(|r| r.name == w).collect();
    if exact.len() == 1 {
        return TownshipMatch::Found(exact[0]);
    }
    let wb = strip_suffix(&w);
    let by_base: Vec<&Region> = candidates
        .iter()
        .copied()
        .filter(|r| strip_suffix(&r.name) == wb)
        .collect();
    match by_base.len() {
        1 => return TownshipMatch::Found(by_base[0]),
        n if n > 1 => return TownshipMatch::Ambiguous(by_base),
        _ => {}
    }
    let by_prefix: Vec<&Region> = candidates
        .iter()
        .copied()
        .filter(|r| r.name.starts_with(wb))
        .collect();
    match by_prefix.len() {
        1 => TownshipMatch::Found(by_prefix[0]),
        0 => TownshipMatch::Unknown,
        _ => TownshipMatch::Ambiguous(by_prefix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(code: &str, name: &str, parent: Option<&str>, level: Level) -> Region {
        Region {
            code: code.into(),
            name: name.into(),
            parent_code: parent.map(Into::into),
            level,
        }
    }

    fn sample() -> RegionTree {
        RegionTree::new(vec![
            r("500000", "重庆市", None, Level::Province),
            r("500100", "市辖区", Some("500000"), Level::City),
            r("500110", "綦江区", Some("500100"), Level::County),
            r("500110001", "古南街道", Some("500110"), Level::Township),
            r("500110011", "万盛街道", Some("500110"), Level::Township),
            r("500110012", "东林街道", Some("500110"), Level::Township),
            r("500110101", "东溪镇", Some("500110"), Level::Township),
            r("500110102", "东林镇", Some("500110"), Level::Township),
            r("500111", "大足区", Some("500100"), Level::County),
            r("500111001", "万盛镇", Some("500111"), Level::Township),
        ])
    }

    #[test]
    fn descendants_come_in_tree_order_down_to_the_level_asked() {
        let mut regions = sample().regions;
        regions.push(r(
            "500110001001",
            "古南社区",
            Some("500110001"),
            Level::Village,
        ));
        let t = RegionTree::new(regions);
        let codes = |v: Vec<&Region>| v.into_iter().map(|r| r.code.clone()).collect::<Vec<_>>();
        assert_eq!(
            codes(t.descendants_to("500100", Level::Township)),
            [
                "500110",
                "500110001",
                "500110011",
                "500110012",
                "500110101",
                "500110102",
                "500111",
                "500111001"
            ]
        );
        assert_eq!(
            codes(t.descendants_to("500100", Level::County)),
            ["500110", "500111"]
        );
        assert_eq!(
            codes(t.descendants_to("500110001", Level::Township)),
            Vec::<String>::new()
        );
        assert_eq!(
            codes(t.descendants_to("500110001", Level::Village)),
            ["500110001001"]
        );
        assert!(t.descendants_to("999999", Level::Township).is_empty());
    }

    #[test]
    fn resolves_townships_as_clerks_write_them() {
        let t = sample();
        let code = |m: TownshipMatch<'_>| match m {
            TownshipMatch::Found(r) => r.code.clone(),
            TownshipMatch::Unknown => "unknown".into(),
            TownshipMatch::Ambiguous(v) => format!("ambiguous:{}", v.len()),
        };
        for (written, expected) in [
            ("万盛街道", "500110011"),
            ("万盛", "500110011"),
            (" 万 盛 街道 ", "500110011"),
            ("万盛街道办事处", "500110011"),
            ("东溪", "500110101"),
            ("东溪镇", "500110101"),
            ("东林", "ambiguous:2"),
            ("东林镇", "500110102"),
            ("古南", "500110001"),
            ("北京", "unknown"),
            ("", "unknown"),
        ] {
            assert_eq!(
                code(t.resolve_township("500110", written)),
                expected,
                "{written}"
            );
        }
    }

    #[test]
    fn paths_and_scope_bounds() {
        let t = sample();
        assert_eq!(
            t.path_name("500110011"),
            "重庆市 / 市辖区 / 綦江区 / 万盛街道"
        );
        let county = t.get("500110").unwrap();
        let s = super::super::Scope::of(county);
        assert_eq!(s.bounds(), ("500110".to_string(), "500111".to_string()));
        assert!(s.contains("500110011"));
        assert!(!s.contains("500111001"));
        let city = super::super::Scope::of(t.get("500100").unwrap());
        assert_eq!(city.bounds(), ("5001".to_string(), "5002".to_string()));
        let prov = super::super::Scope::of(t.get("500000").unwrap());
        assert_eq!(prov.bounds(), ("50".to_string(), "51".to_string()));
        let t9 = super::super::Scope::of(t.get("500110019").unwrap_or(t.get("500110011").unwrap()));
        assert_eq!(
            t9.bounds(),
            ("500110011".to_string(), "500110012".to_string())
        );
    }
}
