//! 行政区划代码 (GB/T 2260, county and above) and 统计用区划代码 (township and village).
//!
//! - 6 digits: province `500000`, city `500100`, county `500110`;
//! - 9 digits: township `500110001` (county code + 3 digits);
//! - 12 digits: village / community `500110001001` (township code + 3 digits).

use serde::{Deserialize, Serialize};

use super::{fold_width, is_invisible};

/// Administrative level, from the top. Ordered: `Province < City < ... < Village`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegionLevel {
    Province,
    City,
    County,
    Township,
    Village,
}

impl RegionLevel {
    /// 省 市 县 乡 村.
    pub fn label_zh(self) -> &'static str {
        match self {
            RegionLevel::Province => "省",
            RegionLevel::City => "市",
            RegionLevel::County => "县",
            RegionLevel::Township => "乡镇街道",
            RegionLevel::Village => "村社区",
        }
    }
}

/// A syntactically valid region code (whether it exists is the region table's business).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionCode {
    code: String,
    level: RegionLevel,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionCodeError {
    #[error("region code is empty")]
    Missing,
    #[error("region code must be 6, 9 or 12 digits and not all zero")]
    Invalid,
}

impl RegionCodeError {
    /// Stable kebab-case code (key into `crate::messages::MESSAGES`).
    pub fn code(&self) -> &'static str {
        match self {
            RegionCodeError::Missing => "region-code-missing",
            RegionCodeError::Invalid => "region-code-invalid",
        }
    }
}

impl RegionCode {
    /// Accepts 6, 9 or 12 digits (full-width digits and surrounding whitespace allowed). The
    /// province part must not be `00`, and the last 3 digits of a township or village code must
    /// not be `000`.
    pub fn parse(input: &str) -> Result<RegionCode, RegionCodeError> {
        let s: String = input
            .chars()
            .map(fold_width)
            .filter(|c| !is_invisible(*c))
            .collect();
        let s = s.trim();
        if s.is_empty() {
            return Err(RegionCodeError::Missing);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with("00") {
            return Err(RegionCodeError::Invalid);
        }
        let level = match s.len() {
            6 if s.ends_with("0000") => RegionLevel::Province,
            6 if s.ends_with("00") => RegionLevel::City,
            6 => RegionLevel::County,
            9 if !s.ends_with("000") => RegionLevel::Township,
            12 if !s.ends_with("000") => RegionLevel::Village,
            _ => return Err(RegionCodeError::Invalid),
        };
        Ok(RegionCode {
            code: s.to_string(),
            level,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.code
    }

    pub fn level(&self) -> RegionLevel {
        self.level
    }

    /// The significant prefix shared by every code in this region's subtree:
    /// province `50`, city `5001`, county `500110`, township 9 digits, village 12 digits.
    pub fn prefix(&self) -> &str {
        let len = match self.level {
            RegionLevel::Province => 2,
            RegionLevel::City => 4,
            RegionLevel::County => 6,
            RegionLevel::Township => 9,
            RegionLevel::Village => 12,
        };
        self.code.get(..len).unwrap_or(&self.code)
    }

    /// True if `other` lies strictly below `self` (`500000` is an ancestor of `500110001`).
    pub fn is_ancestor_of(&self, other: &RegionCode) -> bool {
        self.level < other.level && other.code.starts_with(self.prefix())
    }

    /// True if `other` is `self` or lies below it.
    pub fn contains(&self, other: &RegionCode) -> bool {
        self == other || self.is_ancestor_of(other)
    }

    /// The parent worked out from the code alone: village → township (first 9), township →
    /// county (first 6), county → city (`xxxx00`), city → province (`xx0000`), province → none.
    /// Best effort: e.g. a township of a city without counties (`441900003`) gets the city
    /// `441900`, which is right; the real tree lives in the region table.
    pub fn parent_code(&self) -> Option<RegionCode> {
        let code = match self.level {
            RegionLevel::Province => return None,
            RegionLevel::City => format!("{}0000", self.code.get(..2)?),
            RegionLevel::County => format!("{}00", self.code.get(..4)?),
            RegionLevel::Township => self.code.get(..6)?.to_string(),
            RegionLevel::Village => self.code.get(..9)?.to_string(),
        };
        RegionCode::parse(&code).ok()
    }
}

super::text_value!(RegionCode, RegionCodeError, common);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rc(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    #[test]
    fn table() {
        use RegionLevel as L;
        let ok: &[(&str, &str, RegionLevel, &str)] = &[
            ("500000", "500000", L::Province, "50"),
            ("500100", "500100", L::City, "5001"),
            ("500110", "500110", L::County, "500110"),
            (" 500110 ", "500110", L::County, "500110"),
            ("５００１１０", "500110", L::County, "500110"),
            ("500110001", "500110001", L::Township, "500110001"),
            ("500110001001", "500110001001", L::Village, "500110001001"),
            ("441900003", "441900003", L::Township, "441900003"),
            ("110101", "110101", L::County, "110101"),
        ];
        for (input, code, level, prefix) in ok {
            let r = RegionCode::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                (r.as_str(), r.level(), r.prefix()),
                (*code, *level, *prefix),
                "{input}"
            );
        }
        let bad: &[(&str, &str)] = &[
            ("", "region-code-missing"),
            ("  ", "region-code-missing"),
            ("000000", "region-code-invalid"),
            ("001100", "region-code-invalid"),
            ("50011", "region-code-invalid"),
            ("5001100", "region-code-invalid"),
            ("5001100010", "region-code-invalid"),
            ("500110000", "region-code-invalid"),
            ("500110001000", "region-code-invalid"),
            ("50O110", "region-code-invalid"),
            ("500 110", "region-code-invalid"),
            ("5.0011E+5", "region-code-invalid"),
            ("-500110", "region-code-invalid"),
            ("500110001001001", "region-code-invalid"),
        ];
        for (input, code) in bad {
            assert_eq!(
                RegionCode::parse(input).map_err(|e| e.code()),
                Err(*code),
                "{input}"
            );
        }
    }

    #[test]
    fn tree_relations() {
        let prov = rc("500000");
        let city = rc("500100");
        let county = rc("500110");
        let town = rc("500110001");
        let village = rc("500110001001");
        let other_county = rc("500111");
        let other_prov = rc("510000");
        let chain = [&prov, &city, &county, &town, &village];
        for (i, a) in chain.iter().enumerate() {
            for (j, b) in chain.iter().enumerate() {
                assert_eq!(a.is_ancestor_of(b), i < j, "{a} / {b}");
                assert_eq!(a.contains(b), i <= j, "{a} / {b}");
            }
        }
        assert!(!county.is_ancestor_of(&rc("500111001")));
        assert!(!other_county.contains(&town));
        assert!(!other_prov.contains(&village));
        assert!(prov.is_ancestor_of(&rc("500200")));
        assert!(!city.is_ancestor_of(&rc("500200")));

        assert_eq!(village.parent_code(), Some(town.clone()));
        assert_eq!(town.parent_code(), Some(county.clone()));
        assert_eq!(county.parent_code(), Some(city.clone()));
        assert_eq!(city.parent_code(), Some(prov.clone()));
        assert_eq!(prov.parent_code(), None);
        assert_eq!(rc("441900003").parent_code(), Some(rc("441900")));
        assert_eq!(serde_json::to_string(&county).unwrap(), "\"500110\"");
        assert_eq!(
            serde_json::from_str::<RegionCode>("\"500110\"").unwrap(),
            county
        );
        for e in [RegionCodeError::Missing, RegionCodeError::Invalid] {
            assert_ne!(crate::messages::template(e.code()), "未知错误");
        }
    }

    fn any_code() -> impl Strategy<Value = String> {
        let county = ("[1-8][1-9]", "[0-9][1-9]", "[0-9][1-9]");
        prop_oneof![
            "[1-8][1-9]".prop_map(|p| format!("{p}0000")),
            ("[1-8][1-9]", "[0-9][1-9]").prop_map(|(p, c)| format!("{p}{c}00")),
            county.prop_map(|(p, c, x)| format!("{p}{c}{x}")),
            (county, "[0-9]{2}[1-9]").prop_map(|((p, c, x), t)| format!("{p}{c}{x}{t}")),
            (county, "[0-9]{2}[1-9]", "[0-9]{2}[1-9]")
                .prop_map(|((p, c, x), t, v)| format!("{p}{c}{x}{t}{v}")),
        ]
    }

    proptest! {
        #[test]
        fn round_trip_and_ancestry(code in any_code(), pad in " {0,2}") {
            let r = RegionCode::parse(&format!("{pad}{code}{pad}")).unwrap();
            prop_assert_eq!(r.as_str(), code.as_str());
            prop_assert_eq!(RegionCode::parse(r.as_str()).unwrap(), r.clone());
            prop_assert!(r.as_str().starts_with(r.prefix()));
            prop_assert!(r.contains(&r));
            prop_assert!(!r.is_ancestor_of(&r));
            // Every ancestor on the parent chain contains r and sits at a higher level.
            let mut cur = r.clone();
            let mut steps = 0;
            while let Some(p) = cur.parent_code() {
                prop_assert!(p.is_ancestor_of(&r), "{} !> {}", p, r);
                prop_assert!(p.level() < cur.level());
                prop_assert!(!r.is_ancestor_of(&p));
                cur = p;
                steps += 1;
            }
            prop_assert_eq!(cur.level(), RegionLevel::Province);
            prop_assert!(steps <= 4);
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = RegionCode::parse(&s);
        }
    }
}
