//! 姓名.
//!
//! Chinese names lose all inner whitespace (`张 三` → `张三`) and the many middle-dot look-alikes
//! (`.`, `．`, `•`, `・`, `‧`, `･`, `∙`, `⋅`, `﹒`) become `·` (`买买提.艾力` → `买买提·艾力`).
//! Latin-only names keep single inner spaces, `.`, `-` and `'` (`John  Smith` → `John Smith`).

use super::{fold_width, is_invisible};

/// Maximum length in characters after normalisation.
pub const MAX_NAME_CHARS: usize = 30;

/// Cell contents that mean "no name" rather than a name.
const PLACEHOLDERS: [&str; 9] = ["无", "不详", "未知", "空", "null", "none", "n/a", "-", "—"];

const MIDDLE_DOT: char = '·';

/// A person's name in normalised form. `Display` prints it in full, `Debug` masked.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonName(String);

/// Why a text is not a usable name. Never contains the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is empty")]
    Missing,
    #[error("name may only contain letters (CJK or Latin) and a middle dot, no digits")]
    Invalid,
    #[error("name is longer than 30 characters")]
    TooLong,
}

impl NameError {
    /// Stable kebab-case code (key into `crate::messages::MESSAGES`).
    pub fn code(&self) -> &'static str {
        match self {
            NameError::Missing => "name-missing",
            NameError::Invalid => "name-invalid",
            NameError::TooLong => "name-too-long",
        }
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3007}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2EBEF}'
        | '\u{30000}'..='\u{323AF}')
}

fn is_latin_letter(c: char) -> bool {
    c.is_ascii_alphabetic() || (c.is_alphabetic() && ('\u{C0}'..='\u{24F}').contains(&c))
}

fn is_dot_variant(c: char) -> bool {
    matches!(
        c,
        '·' | '.' | '•' | '・' | '‧' | '･' | '∙' | '⋅' | '﹒' | '\u{2E31}' | '\u{318D}'
    )
}

impl PersonName {
    /// Normalises and validates a name (see the module docs). Also treats the placeholders
    /// `无`, `不详`, `未知`, `空`, `null`, `none`, `n/a`, `-` as a missing name.
    pub fn parse(input: &str) -> Result<PersonName, NameError> {
        let folded: String = input
            .chars()
            .map(fold_width)
            .filter(|c| !is_invisible(*c))
            .collect();
        let trimmed = folded.trim();
        if trimmed.is_empty() || PLACEHOLDERS.contains(&trimmed.to_lowercase().as_str()) {
            return Err(NameError::Missing);
        }
        let has_cjk = trimmed.chars().any(is_cjk);

        let mut out = String::new();
        let mut pending_space = false;
        for c in trimmed.chars() {
            if c.is_whitespace() {
                pending_space = !has_cjk;
                continue;
            }
            // In Latin names `.` is an abbreviation point (`J. Smith`), elsewhere a middle dot.
            let c = if is_dot_variant(c) && (has_cjk || c != '.') {
                MIDDLE_DOT
            } else {
                c
            };
            if c == MIDDLE_DOT {
                pending_space = false;
                if out.is_empty() || out.ends_with(MIDDLE_DOT) {
                    continue;
                }
            } else if pending_space && !out.is_empty() && !out.ends_with(MIDDLE_DOT) {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        }
        while out.ends_with(MIDDLE_DOT) {
            out.pop();
        }

        let allowed = |c: char| {
            c == MIDDLE_DOT
                || (c.is_alphabetic() && (c == '\u{3007}' || !c.is_numeric()))
                || (!has_cjk && matches!(c, ' ' | '.' | '-' | '\''))
        };
        if !out.chars().all(allowed) || !out.chars().any(|c| is_cjk(c) || is_latin_letter(c)) {
            return Err(NameError::Invalid);
        }
        if PLACEHOLDERS.contains(&out.to_lowercase().as_str()) {
            return Err(NameError::Missing);
        }
        if out.chars().count() > MAX_NAME_CHARS {
            return Err(NameError::TooLong);
        }
        Ok(PersonName(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// First character and one `*` per remaining character: `张三` → `张*`.
    pub fn masked(&self) -> String {
        let mut chars = self.0.chars();
        let first = chars.next().map(String::from).unwrap_or_default();
        let rest = "*".repeat(chars.count());
        format!("{first}{rest}")
    }
}

super::text_value!(PersonName, NameError, masked);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table_of_messy_inputs() {
        let ok: &[(&str, &str)] = &[
            ("张三", "张三"),
            (" 张 三 ", "张三"),
            ("张\u{3000}三", "张三"),
            ("\t李\u{a0}四\n", "李四"),
            ("欧阳娜娜", "欧阳娜娜"),
            ("买买提·艾力", "买买提·艾力"),
            ("买买提.艾力", "买买提·艾力"),
            ("买买提．艾力", "买买提·艾力"),
            ("买买提•艾力", "买买提·艾力"),
            ("买买提・艾力", "买买提·艾力"),
            ("买买提‧艾力", "买买提·艾力"),
            ("买买提･艾力", "买买提·艾力"),
            ("买买提 · 艾力", "买买提·艾力"),
            ("买买提··艾力", "买买提·艾力"),
            ("·买买提·艾力·", "买买提·艾力"),
            ("阿依古丽·买买提·托合提", "阿依古丽·买买提·托合提"),
            ("李〇", "李〇"),
            ("\u{200b}王五\u{feff}", "王五"),
            ("John Smith", "John Smith"),
            ("  John   Smith ", "John Smith"),
            ("Ｊｏｈｎ Ｓｍｉｔｈ", "John Smith"),
            ("J. Smith", "J. Smith"),
            ("Mary-Jane O'Neil", "Mary-Jane O'Neil"),
            ("José Müller", "José Müller"),
            ("Jean · Paul", "Jean·Paul"),
            ("王Anna", "王Anna"),
            ("王 Anna", "王Anna"),
            ("张", "张"),
        ];
        for (input, want) in ok {
            let got = PersonName::parse(input);
            assert_eq!(
                got.as_ref().map(|n| n.as_str()),
                Ok(*want),
                "input {input:?}"
            );
        }
        let bad: &[(&str, &str)] = &[
            ("", "name-missing"),
            ("   ", "name-missing"),
            ("\u{3000}", "name-missing"),
            ("无", "name-missing"),
            ("不详", "name-missing"),
            ("NULL", "name-missing"),
            ("Null·", "name-missing"),
            ("张三1", "name-invalid"),
            ("张三２", "name-invalid"),
            ("123", "name-invalid"),
            ("张三(母亲)", "name-invalid"),
            ("张三，李四", "name-invalid"),
            ("张-三", "name-invalid"),
            ("·", "name-invalid"),
            ("...", "name-invalid"),
            ("Иван", "name-invalid"),
            ("😀", "name-invalid"),
            ("张三Ⅱ", "name-invalid"),
            (&"张".repeat(31), "name-too-long"),
        ];
        for (input, code) in bad {
            let got = PersonName::parse(input).map(|n| n.as_str().to_string());
            assert_eq!(got.map_err(|e| e.code()), Err(*code), "input {input:?}");
        }
        assert!(PersonName::parse(&"张".repeat(30)).is_ok());
    }

    #[test]
    fn masking_and_formatting() {
        let n = PersonName::parse("张三").unwrap();
        assert_eq!(n.masked(), "张*");
        assert_eq!(format!("{n:?}"), "PersonName(张*)");
        assert_eq!(n.to_string(), "张三");
        assert_eq!(PersonName::parse("欧阳娜娜").unwrap().masked(), "欧***");
        assert_eq!(PersonName::parse("张").unwrap().masked(), "张");
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"张三\"");
        assert_eq!(
            serde_json::from_str::<PersonName>("\" 张 三 \"").unwrap(),
            n
        );
        for e in [NameError::Missing, NameError::Invalid, NameError::TooLong] {
            assert_ne!(crate::messages::template(e.code()), "未知错误");
        }
    }

    fn cjk_part() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::char::range('\u{4E00}', '\u{9FA5}'), 1..5)
            .prop_map(|v| v.into_iter().collect::<String>())
            .prop_filter("placeholder", |s| !PLACEHOLDERS.contains(&s.as_str()))
    }

    proptest! {
        #[test]
        fn chinese_round_trip(
            name in cjk_part(),
            spaces in proptest::collection::vec(proptest::sample::select(vec!["", "", " ", "\u{3000}", "\t", "\u{a0}"]), 6),
        ) {
            let mut messy = String::from(spaces[0]);
            for (i, c) in name.chars().enumerate() {
                messy.push(c);
                messy.push_str(spaces[(i + 1) % spaces.len()]);
            }
            let n = PersonName::parse(&messy).unwrap();
            prop_assert_eq!(n.as_str(), name.as_str());
            prop_assert_eq!(PersonName::parse(n.as_str()).unwrap(), n.clone());
            let masked = n.masked();
            prop_assert_eq!(masked.chars().count(), name.chars().count());
            prop_assert!(masked.chars().skip(1).all(|c| c == '*'));
        }

        #[test]
        fn dotted_round_trip(
            parts in proptest::collection::vec(cjk_part(), 2..4),
            dot in proptest::sample::select(vec![".", "．", "•", "・", "‧", "･", "·", " · "]),
        ) {
            let canonical = parts.join("·");
            let n = PersonName::parse(&parts.join(dot)).unwrap();
            prop_assert_eq!(n.as_str(), canonical.as_str());
            prop_assert_eq!(PersonName::parse(n.as_str()).unwrap(), n);
        }

        #[test]
        fn latin_round_trip(first in "[A-Z][a-z]{1,8}", last in "[A-Z][a-z]{1,8}", gap in " {1,3}") {
            let n = PersonName::parse(&format!(" {first}{gap}{last} ")).unwrap();
            prop_assert_eq!(n.as_str(), format!("{first} {last}"));
            prop_assert_eq!(PersonName::parse(n.as_str()).unwrap(), n);
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            if let Ok(n) = PersonName::parse(&s) {
                prop_assert_eq!(PersonName::parse(n.as_str()), Ok(n.clone()));
                prop_assert!(n.as_str().chars().count() <= MAX_NAME_CHARS);
            }
        }
    }
}
