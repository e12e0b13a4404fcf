//! 性别.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{fold_width, is_invisible};

/// Sex as recorded in the registry. Serialized as its [`Sex::code`] (`"male"` / `"female"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Male,
    Female,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SexError {
    #[error("sex is empty")]
    Missing,
    #[error("sex must be one of 男/女/男性/女性/M/F/1/2/male/female")]
    Invalid,
}

impl SexError {
    /// Stable kebab-case code (key into `crate::messages::MESSAGES`).
    pub fn code(&self) -> &'static str {
        match self {
            SexError::Missing => "sex-missing",
            SexError::Invalid => "sex-invalid",
        }
    }
}

impl Sex {
    /// Accepts 男/女/男性/女性, M/F, 1/2 (GB/T 2261.1) and male/female, case-insensitive,
    /// full-width and surrounded by any whitespace.
    pub fn parse(input: &str) -> Result<Sex, SexError> {
        let s: String = input
            .chars()
            .map(fold_width)
            .filter(|c| !c.is_whitespace() && !is_invisible(*c))
            .flat_map(char::to_lowercase)
            .collect();
        match s.as_str() {
            "" => Err(SexError::Missing),
            "男" | "男性" | "m" | "1" | "male" => Ok(Sex::Male),
            "女" | "女性" | "f" | "2" | "female" => Ok(Sex::Female),
            _ => Err(SexError::Invalid),
        }
    }

    /// `男` / `女`.
    pub fn label_zh(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }

    /// `male` / `female` (stable, used in JSON and the database).
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }
}

impl fmt::Display for Sex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label_zh())
    }
}

impl FromStr for Sex {
    type Err = SexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Sex::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let cases: &[(&str, Result<Sex, &str>)] = &[
            ("男", Ok(Sex::Male)),
            (" 女 ", Ok(Sex::Female)),
            ("男性", Ok(Sex::Male)),
            ("女性", Ok(Sex::Female)),
            ("M", Ok(Sex::Male)),
            ("m", Ok(Sex::Male)),
            ("F", Ok(Sex::Female)),
            ("f", Ok(Sex::Female)),
            ("Ｆ", Ok(Sex::Female)),
            ("1", Ok(Sex::Male)),
            ("２", Ok(Sex::Female)),
            ("Male", Ok(Sex::Male)),
            ("FEMALE", Ok(Sex::Female)),
            ("\u{3000}男\u{a0}", Ok(Sex::Male)),
            ("", Err("sex-missing")),
            ("  ", Err("sex-missing")),
            ("未知", Err("sex-invalid")),
            ("0", Err("sex-invalid")),
            ("9", Err("sex-invalid")),
            ("男女", Err("sex-invalid")),
            ("x", Err("sex-invalid")),
        ];
        for (input, want) in cases {
            assert_eq!(
                Sex::parse(input).map_err(|e| e.code()),
                *want,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn labels_codes_serde() {
        assert_eq!(Sex::Male.label_zh(), "男");
        assert_eq!(Sex::Female.code(), "female");
        assert_eq!(serde_json::to_string(&Sex::Male).unwrap(), "\"male\"");
        assert_eq!(
            serde_json::from_str::<Sex>("\"female\"").unwrap(),
            Sex::Female
        );
        for e in [SexError::Missing, SexError::Invalid] {
            assert_ne!(crate::messages::template(e.code()), "未知错误");
        }
    }

    proptest! {
        #[test]
        fn round_trip(male in any::<bool>()) {
            let sex = if male { Sex::Male } else { Sex::Female };
            prop_assert_eq!(Sex::parse(sex.label_zh()), Ok(sex));
            prop_assert_eq!(Sex::parse(sex.code()), Ok(sex));
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = Sex::parse(&s);
        }
    }
}
