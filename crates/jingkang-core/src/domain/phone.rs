//! 联系电话: mainland China mobile or landline numbers.
//!
//! Canonical forms:
//! - mobile: 11 digits, `13812345678`;
//! - landline: `area-number`, e.g. `023-48281234`, `0571-8888123`; an extension is **kept** as a
//!   third part, `023-48281234-801`. Area codes `010` and `02x` have 3 digits, all others 4
//!   (including the leading 0); the local number has 7-8 digits and starts with 2-9.
//!
//! Accepted mess: spaces, `-`, `—`, `–`, `.`, parentheses (also full-width `（）`), full-width
//! digits, the prefixes `+86`/`0086` (mobile and landline) and bare `86` (mobile only), a `0`
//! dialled before a mobile, labels such as `手机：`/`电话:`/`Tel`, and extensions written as
//! `转801`, `分机801`, `ext 801`, `x801`, `#801` or a trailing `-801` group. An extension written
//! after a mobile number is dropped.

use serde::{Deserialize, Serialize};

use super::{fold_width, is_invisible};

/// Mobile or landline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhoneKind {
    Mobile,
    Landline,
}

/// A valid phone number in canonical form. `Display` prints it in full, `Debug` masked.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone {
    value: String,
    kind: PhoneKind,
}

/// Why a text is not a valid phone number. Never contains the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Missing,
    #[error("landline number has no area code")]
    NoAreaCode,
    #[error("not a mainland China mobile or landline number")]
    Invalid,
}

impl PhoneError {
    /// Stable kebab-case code (key into `crate::messages::MESSAGES`).
    pub fn code(&self) -> &'static str {
        match self {
            PhoneError::Missing => "phone-missing",
            PhoneError::NoAreaCode => "phone-no-area-code",
            PhoneError::Invalid => "phone-invalid",
        }
    }
}

const EXTENSION_MARKERS: [&str; 6] = ["转", "分机", "ext.", "ext", "x", "#"];
const LABELS: [&str; 8] = [
    "手机号码",
    "手机号",
    "手机",
    "电话号码",
    "电话",
    "座机",
    "固话",
    "tel",
];

fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '—' | '–' | '‐' | '−' | '─' | '(' | ')' | '[' | ']' | '.' | '【' | '】'
        )
}

fn is_mobile(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && d.bytes().all(|c| c.is_ascii_digit())
}

/// A local (subscriber) number: 7-8 digits, first digit 2-9.
fn is_local(d: &str) -> bool {
    (7..=8).contains(&d.len())
        && d.bytes().all(|c| c.is_ascii_digit())
        && d.as_bytes()
            .first()
            .is_some_and(|c| (b'2'..=b'9').contains(c))
}

/// Length of the area code at the start of `d` (which starts with `0`), if it can be one.
fn area_code_len(d: &str) -> Option<usize> {
    let b = d.as_bytes();
    match (b.first(), b.get(1), b.get(2)) {
        (Some(b'0'), Some(b'1'), Some(b'0')) => Some(3),
        (Some(b'0'), Some(b'2'), _) => Some(3),
        (Some(b'0'), Some(b'3'..=b'9'), _) => Some(4),
        _ => None,
    }
}

fn is_extension(d: &str) -> bool {
    (1..=6).contains(&d.len()) && d.bytes().all(|c| c.is_ascii_digit())
}

impl Phone {
    /// Parses one phone number (see the module docs for what is accepted).
    pub fn parse(input: &str) -> Result<Phone, PhoneError> {
        let folded: String = input
            .chars()
            .map(fold_width)
            .filter(|c| !is_invisible(*c))
            .flat_map(char::to_lowercase)
            .collect();
        let mut s = folded.trim();
        if s.is_empty() {
            return Err(PhoneError::Missing);
        }
        if let Some(label) = LABELS.iter().find(|l| s.starts_with(**l)) {
            s = s[label.len()..].trim_start_matches(|c: char| c == ':' || c.is_whitespace());
        }

        // An explicitly marked extension.
        let marker = EXTENSION_MARKERS
            .iter()
            .filter_map(|m| s.find(m).map(|pos| (pos, m.len())))
            .min();
        let (main, mut ext) = match marker {
            Some((pos, len)) => {
                let ext: String = s[pos + len..]
                    .chars()
                    .filter(|c| !is_separator(*c) && *c != ':')
                    .collect();
                if !is_extension(&ext) {
                    return Err(PhoneError::Invalid);
                }
                (&s[..pos], Some(ext))
            }
            None => (s, None),
        };

        // Digit groups as the user separated them.
        let mut groups: Vec<String> = main
            .split(is_separator)
            .filter(|g| !g.is_empty())
            .map(str::to_string)
            .collect();
        let mut international = false;
        if let Some(first) = groups.first_mut() {
            if let Some(rest) = first.strip_prefix('+') {
                let Some(rest) = rest.strip_prefix("86") else {
                    return Err(PhoneError::Invalid);
                };
                *first = rest.to_string();
                international = true;
            } else if let Some(rest) = first.strip_prefix("0086") {
                *first = rest.to_string();
                international = true;
            }
        }
        groups.retain(|g| !g.is_empty());
        if groups.is_empty() || !groups.iter().all(|g| g.bytes().all(|c| c.is_ascii_digit())) {
            return Err(PhoneError::Invalid);
        }
        let mut digits: String = groups.concat();

        // Mobiles.
        let mobile = if is_mobile(&digits) {
            Some(digits.clone())
        } else if !international
            && digits.len() == 13
            && digits.starts_with("86")
            && is_mobile(&digits[2..])
        {
            Some(digits[2..].to_string())
        } else if !international
            && digits.len() == 12
            && digits.starts_with('0')
            && is_mobile(&digits[1..])
        {
            Some(digits[1..].to_string())
        } else {
            None
        };
        if let Some(value) = mobile {
            return Ok(Phone {
                value,
                kind: PhoneKind::Mobile,
            });
        }

        if international && !digits.starts_with('0') {
            digits.insert(0, '0');
            if let Some(first) = groups.first_mut() {
                first.insert(0, '0');
            }
        }

        if !digits.starts_with('0') {
            let without_last = match groups.as_slice() {
                [.., last] if groups.len() >= 2 && is_extension(last) => {
                    Some(&digits[..digits.len() - last.len()])
                }
                _ => None,
            };
            if is_local(&digits) || without_last.is_some_and(is_local) {
                return Err(PhoneError::NoAreaCode);
            }
            return Err(PhoneError::Invalid);
        }

        let area_len = area_code_len(&digits).ok_or(PhoneError::Invalid)?;
        let (Some(area), Some(rest)) = (digits.get(..area_len), digits.get(area_len..)) else {
            return Err(PhoneError::Invalid);
        };

        // Prefer the user's own grouping `area-number[-ext]` when it is consistent.
        let number: String = match groups.as_slice() {
            [a, n] if a == area && is_local(n) => n.clone(),
            [a, n, e] if a == area && is_local(n) && ext.is_none() && is_extension(e) => {
                ext = Some(e.clone());
                n.clone()
            }
            _ if is_local(rest) => rest.to_string(),
            [.., last] if groups.len() >= 2 && ext.is_none() && is_extension(last) => {
                let n = rest
                    .get(..rest.len().saturating_sub(last.len()))
                    .unwrap_or("");
                if !is_local(n) {
                    return Err(PhoneError::Invalid);
                }
                ext = Some(last.clone());
                n.to_string()
            }
            _ => return Err(PhoneError::Invalid),
        };
        let value = match ext {
            Some(e) => format!("{area}-{number}-{e}"),
            None => format!("{area}-{number}"),
        };
        Ok(Phone {
            value,
            kind: PhoneKind::Landline,
        })
    }

    /// Parses a cell that may hold several numbers separated by `/`, `、`, `,`, `，`, `;`, `；`,
    /// `|`, `或` or line breaks (also plain spaces between complete numbers). Empty pieces are
    /// skipped, so an empty cell gives `Ok(vec![])`; duplicates are removed (first kept).
    /// Fails with the first piece's error if any piece is not a valid number.
    pub fn parse_list(input: &str) -> Result<Vec<Phone>, PhoneError> {
        let mut out: Vec<Phone> = Vec::new();
        let pieces = input.split(|c: char| {
            matches!(
                fold_width(c),
                '/' | '、' | ',' | ';' | '|' | '或' | '\n' | '\r'
            )
        });
        for piece in pieces {
            if piece.chars().all(|c| c.is_whitespace() || is_invisible(c)) {
                continue;
            }
            let found = match Phone::parse(piece) {
                Ok(p) => vec![p],
                Err(e) => {
                    let words: Vec<&str> = piece.split_whitespace().collect();
                    let each: Result<Vec<Phone>, PhoneError> =
                        words.iter().map(|w| Phone::parse(w)).collect();
                    match each {
                        Ok(list) if words.len() >= 2 => list,
                        _ => return Err(e),
                    }
                }
            };
            for p in found {
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    /// Canonical form: `13812345678`, `023-48281234` or `023-48281234-801`.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    pub fn kind(&self) -> PhoneKind {
        self.kind
    }

    pub fn is_mobile(&self) -> bool {
        self.kind == PhoneKind::Mobile
    }

    /// Area code with its leading 0 (landlines only).
    pub fn area_code(&self) -> Option<&str> {
        match self.kind {
            PhoneKind::Mobile => None,
            PhoneKind::Landline => self.value.split('-').next(),
        }
    }

    /// Extension digits (landlines only, if given).
    pub fn extension(&self) -> Option<&str> {
        match self.kind {
            PhoneKind::Mobile => None,
            PhoneKind::Landline => self.value.split('-').nth(2),
        }
    }

    /// Mobile `138****5678`; landline keeps the area code and the last 4 digits of the number,
    /// `023-****1234` (the extension is left out).
    pub fn masked(&self) -> String {
        match self.kind {
            PhoneKind::Mobile => {
                let head = self.value.get(..3).unwrap_or("");
                let tail = self.value.get(7..).unwrap_or("");
                format!("{head}****{tail}")
            }
            PhoneKind::Landline => {
                let mut parts = self.value.split('-');
                let area = parts.next().unwrap_or("");
                let number = parts.next().unwrap_or("");
                let keep = number.len().saturating_sub(4);
                let tail = number.get(keep..).unwrap_or("");
                format!("{area}-{}{tail}", "*".repeat(keep))
            }
        }
    }
}

super::text_value!(Phone, PhoneError, masked);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table_of_messy_inputs() {
        let ok: &[(&str, &str)] = &[
            ("13812345678", "13812345678"),
            (" 138 1234 5678 ", "13812345678"),
            ("138-1234-5678", "13812345678"),
            ("１３８１２３４５６７８", "13812345678"),
            ("+86 138 1234 5678", "13812345678"),
            ("+86-13812345678", "13812345678"),
            ("(+86)13812345678", "13812345678"),
            ("＋８６　１３８１２３４５６７８", "13812345678"),
            ("008613812345678", "13812345678"),
            ("8613812345678", "13812345678"),
            ("86 138 1234 5678", "13812345678"),
            ("013812345678", "13812345678"),
            ("手机：13812345678", "13812345678"),
            ("Tel: 13812345678", "13812345678"),
            ("19912345678", "19912345678"),
            ("13812345678转1", "13812345678"),
            ("023-48281234", "023-48281234"),
            ("02348281234", "023-48281234"),
            ("023 4828 1234", "023-48281234"),
            ("(023)48281234", "023-48281234"),
            ("（023）48281234", "023-48281234"),
            ("（０２３）４８２８—１２３４", "023-48281234"),
            ("023—48281234", "023-48281234"),
            ("010-62751234", "010-62751234"),
            ("01062751234", "010-62751234"),
            ("0571-88881234", "0571-88881234"),
            ("0571-8888123", "0571-8888123"),
            ("057188881234", "0571-88881234"),
            ("0571-8888-1234", "0571-88881234"),
            ("+86 23 4828 1234", "023-48281234"),
            ("+86 571 8888 1234", "0571-88881234"),
            ("0086-10-62751234", "010-62751234"),
            ("+86 (0)23 48281234", "023-48281234"),
            ("023-48281234转801", "023-48281234-801"),
            ("023-48281234 分机 801", "023-48281234-801"),
            ("023-48281234 ext. 801", "023-48281234-801"),
            ("023-48281234x801", "023-48281234-801"),
            ("023-48281234#801", "023-48281234-801"),
            ("023-48281234-801", "023-48281234-801"),
            ("0571-8888123-1", "0571-8888123-1"),
            ("023 48281234 801", "023-48281234-801"),
            ("电话：023-48281234", "023-48281234"),
        ];
        for (input, want) in ok {
            let got = Phone::parse(input);
            assert_eq!(
                got.as_ref().map(|p| p.as_str()),
                Ok(*want),
                "input {input:?}"
            );
        }
        let bad: &[(&str, &str)] = &[
            ("", "phone-missing"),
            ("  \u{3000}", "phone-missing"),
            ("48281234", "phone-no-area-code"),
            ("4828-1234", "phone-no-area-code"),
            ("8281234", "phone-no-area-code"),
            ("48281234转801", "phone-no-area-code"),
            ("4828-1234-801", "phone-no-area-code"),
            ("1381234567", "phone-invalid"),
            ("138123456789", "phone-invalid"),
            ("12812345678", "phone-invalid"),
            ("023-1234567", "phone-invalid"),
            ("023-0828123", "phone-invalid"),
            ("0123-48281234", "phone-invalid"),
            ("00123", "phone-invalid"),
            ("+1 555 123 4567", "phone-invalid"),
            ("+86 12345", "phone-invalid"),
            ("无", "phone-invalid"),
            ("13812345678 13912345678", "phone-invalid"),
            ("1.3812345678E+10", "phone-invalid"),
            ("023-48281234转", "phone-invalid"),
            ("023-48281234转abc", "phone-invalid"),
            ("400-123-4567", "phone-invalid"),
            ("+", "phone-invalid"),
            ("--", "phone-invalid"),
            ("02", "phone-invalid"),
            ("0", "phone-invalid"),
            ("+86 2", "phone-invalid"),
        ];
        for (input, code) in bad {
            let got = Phone::parse(input).map(|p| p.as_str().to_string());
            assert_eq!(got.map_err(|e| e.code()), Err(*code), "input {input:?}");
        }
    }

    #[test]
    fn lists() {
        let strs = |r: Result<Vec<Phone>, PhoneError>| {
            r.map(|v| v.iter().map(|p| p.as_str().to_string()).collect::<Vec<_>>())
                .map_err(|e| e.code())
        };
        let ok: &[(&str, &[&str])] = &[
            ("", &[]),
            ("  ", &[]),
            ("13812345678", &["13812345678"]),
            ("13812345678/023-48281234", &["13812345678", "023-48281234"]),
            ("13812345678、13912345678", &["13812345678", "13912345678"]),
            ("13812345678，13912345678", &["13812345678", "13912345678"]),
            ("13812345678; 13912345678", &["13812345678", "13912345678"]),
            ("13812345678；13912345678", &["13812345678", "13912345678"]),
            (
                "13812345678 或 13912345678",
                &["13812345678", "13912345678"],
            ),
            (
                "13812345678\n13912345678\r\n",
                &["13812345678", "13912345678"],
            ),
            ("13812345678 13912345678", &["13812345678", "13912345678"]),
            (
                "138 1234 5678, 023 4828 1234",
                &["13812345678", "023-48281234"],
            ),
            ("13812345678/138-1234-5678", &["13812345678"]),
            ("13812345678／／", &["13812345678"]),
        ];
        for (input, want) in ok {
            let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            assert_eq!(strs(Phone::parse_list(input)), Ok(want), "input {input:?}");
        }
        assert_eq!(
            strs(Phone::parse_list("13812345678/48281234")),
            Err("phone-no-area-code")
        );
        assert_eq!(
            strs(Phone::parse_list("13812345678、abc")),
            Err("phone-invalid")
        );
    }

    #[test]
    fn accessors_masking_serde() {
        let m = Phone::parse("13812345678").unwrap();
        assert_eq!(m.kind(), PhoneKind::Mobile);
        assert!(m.is_mobile());
        assert_eq!(m.area_code(), None);
        assert_eq!(m.masked(), "138****5678");
        assert_eq!(format!("{m:?}"), "Phone(138****5678)");
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"13812345678\"");
        let l = Phone::parse("023-48281234转801").unwrap();
        assert_eq!(l.kind(), PhoneKind::Landline);
        assert_eq!(l.area_code(), Some("023"));
        assert_eq!(l.extension(), Some("801"));
        assert_eq!(l.masked(), "023-****1234");
        assert_eq!(
            Phone::parse("0571-8888123").unwrap().masked(),
            "0571-***8123"
        );
        assert_eq!(l.to_string(), "023-48281234-801");
        assert_eq!("023 48281234".parse::<Phone>().unwrap().extension(), None);
        let back: Phone = serde_json::from_str("\"+86 138 1234 5678\"").unwrap();
        assert_eq!(back, m);
        for e in [
            PhoneError::Missing,
            PhoneError::NoAreaCode,
            PhoneError::Invalid,
        ] {
            assert_ne!(crate::messages::template(e.code()), "未知错误");
        }
    }

    fn area_code() -> impl Strategy<Value = String> {
        prop_oneof![Just("010".to_string()), "02[0-9]", "0[3-9][0-9]{2}"]
    }

    fn sep() -> impl Strategy<Value = &'static str> {
        proptest::sample::select(vec!["", " ", "-", "—", "\u{3000}", " - "])
    }

    fn widen(s: &str, full: bool) -> String {
        if full {
            s.chars()
                .map(|c| match c {
                    '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
                    ' ' => '\u{3000}',
                    _ => c,
                })
                .collect()
        } else {
            s.to_string()
        }
    }

    proptest! {
        #[test]
        fn mobile_round_trip(
            m in "1[3-9][0-9]{9}",
            s1 in sep(), s2 in sep(),
            prefix in proptest::sample::select(vec!["", "+86 ", "+86", "0086", "86", "(+86)"]),
            full in any::<bool>(),
        ) {
            let input = format!("{prefix}{}{s1}{}{s2}{}", widen(&m[..3], full), &m[3..7], &m[7..]);
            let p = Phone::parse(&input).unwrap();
            prop_assert_eq!(p.as_str(), m.as_str());
            prop_assert_eq!(Phone::parse(p.as_str()).unwrap(), p.clone());
            prop_assert_eq!(p.masked(), format!("{}****{}", &m[..3], &m[7..]));
            prop_assert_eq!(format!("{p:?}"), format!("Phone({}****{})", &m[..3], &m[7..]));
        }

        #[test]
        fn landline_round_trip(
            area in area_code(),
            number in "[2-9][0-9]{6,7}",
            ext in proptest::option::of("[0-9]{1,4}"),
            style in 0u8..5,
            full in any::<bool>(),
        ) {
            let canonical = match &ext {
                Some(e) => format!("{area}-{number}-{e}"),
                None => format!("{area}-{number}"),
            };
            let body = match style {
                0 => format!("{area}-{number}"),
                1 => format!("({area}){number}"),
                2 => format!("（{area}） {} {}", &number[..3], &number[3..]),
                3 => format!("+86 {} {number}", &area[1..]),
                _ => format!("{area}{number}"),
            };
            let input = match &ext {
                Some(e) => format!("{}转{e}", widen(&body, full)),
                None => widen(&body, full),
            };
            let p = Phone::parse(&input).unwrap();
            prop_assert_eq!(p.as_str(), canonical.as_str());
            prop_assert_eq!(Phone::parse(p.as_str()).unwrap(), p.clone());
            prop_assert_eq!(p.area_code(), Some(area.as_str()));
            let keep = number.len() - 4;
            let want_masked = format!("{area}-{}{}", "*".repeat(keep), &number[keep..]);
            prop_assert_eq!(p.masked(), want_masked.clone());
            prop_assert_eq!(format!("{p:?}"), format!("Phone({want_masked})"));
        }

        #[test]
        fn list_round_trip(
            phones in proptest::collection::vec("1[3-9][0-9]{9}", 1..4),
            seps in proptest::collection::vec(proptest::sample::select(vec!["/", "、", "，", "；", "\n", " 或 ", " "]), 3),
        ) {
            let mut input = String::new();
            for (i, p) in phones.iter().enumerate() {
                if i > 0 {
                    input.push_str(seps[i - 1]);
                }
                input.push_str(p);
            }
            let mut want: Vec<String> = Vec::new();
            for p in &phones {
                if !want.contains(p) {
                    want.push(p.clone());
                }
            }
            let got: Vec<String> = Phone::parse_list(&input).unwrap().iter().map(|p| p.to_string()).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = Phone::parse(&s);
            let _ = Phone::parse_list(&s);
        }

        #[test]
        fn never_panics_near_miss(s in "[0-9０-９+()（） 转x#/、-]{0,24}") {
            if let Ok(p) = Phone::parse(&s) {
                prop_assert_eq!(Phone::parse(p.as_str()), Ok(p));
            }
        }
    }
}
