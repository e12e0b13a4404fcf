//! 居民身份证号 (GB 11643-1999 citizen identification number).
//!
//! Layout of the canonical 18-character form:
//! `RRRRRR YYYYMMDD SSS C` — 6-digit region code, birth date, 3-digit sequence (the last of them
//! odd for men, even for women) and the ISO 7064 MOD 11-2 check character (`0`-`9` or `X`).
//! Legacy 15-digit numbers (`RRRRRR YYMMDD SSS`, born 19YY) are upgraded to 18 characters.

use chrono::{Datelike, NaiveDate};

use super::sex::Sex;
use super::{looks_like_spreadsheet_number, normalize_code_text};

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// A valid 居民身份证号 in canonical 18-character form (digits, optional final uppercase `X`).
///
/// `Display` prints the full number; `Debug` prints only the masked form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdNumber {
    value: String,
    /// Derived from `value` (kept so accessors never have to re-parse).
    birth: NaiveDate,
}

/// Why a text is not a valid ID number. `Display` is English for developers; the user-facing
/// Chinese text is `crate::messages::template(err.code())`. Never contains the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("ID number is empty")]
    Missing,
    #[error("ID number must have 18 characters (or 15 for a legacy number), found {found}")]
    Length { found: usize },
    #[error("ID number may only contain digits and a final X")]
    Characters,
    #[error("ID number check character does not match (ISO 7064 MOD 11-2)")]
    Checksum,
    #[error("ID number birth date is not a real date, lies in the future or before 1900")]
    InvalidDate,
    #[error(
        "ID number was stored as a spreadsheet number (scientific notation or .0); digits were lost"
    )]
    NotTextPrecisionLost,
}

impl IdError {
    /// Stable kebab-case code (key into `crate::messages::MESSAGES`).
    pub fn code(&self) -> &'static str {
        match self {
            IdError::Missing => "id-missing",
            IdError::Length { .. } => "id-length",
            IdError::Characters => "id-characters",
            IdError::Checksum => "id-checksum",
            IdError::InvalidDate => "id-invalid-date",
            IdError::NotTextPrecisionLost => "id-not-text-precision-lost",
        }
    }
}

/// The ISO 7064 MOD 11-2 check character for the first 17 characters of an ID number.
///
/// Only the first 17 characters are used; anything that is not an ASCII digit counts as 0
/// (never panics). Callers should pass 17 ASCII digits.
pub fn check_char(first17: &str) -> char {
    let sum: u32 = first17
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
        .sum();
    CHECK_CHARS[(sum % 11) as usize]
}

impl IdNumber {
    /// Parses and validates an ID number as of today's local date (see [`IdNumber::parse_as_of`]).
    pub fn parse(input: &str) -> Result<IdNumber, IdError> {
        Self::parse_as_of(input, super::clock::today())
    }

    /// Parses and validates an ID number; the birth date must not be after `today`.
    ///
    /// Accepted mess: leading/trailing/inner whitespace (space, tab, NBSP, U+3000), zero-width
    /// characters, full-width digits, `x`/`ｘ`/`Ｘ`, a leading `'`, and legacy 15-digit numbers.
    /// Text such as `5.0011e17` or `500110199001011234.0` (Excel turned the cell into a number)
    /// is reported as [`IdError::NotTextPrecisionLost`]; so is an 18-digit number ending in
    /// `000` whose checksum fails (Excel keeps only 15 significant digits).
    pub fn parse_as_of(input: &str, today: NaiveDate) -> Result<IdNumber, IdError> {
        let s = normalize_code_text(input);
        if s.is_empty() {
            return Err(IdError::Missing);
        }
        if looks_like_spreadsheet_number(&s) {
            return Err(IdError::NotTextPrecisionLost);
        }
        if !s.chars().all(|c| c.is_ascii_digit() || c == 'X') {
            return Err(IdError::Characters);
        }
        // All ASCII from here on, so byte indices are character indices.
        let len = s.len();
        if len != 15 && len != 18 {
            return Err(IdError::Length { found: len });
        }
        let x_ok = |i: usize, c: u8| c != b'X' || (len == 18 && i == 17);
        if !s.bytes().enumerate().all(|(i, c)| x_ok(i, c)) {
            return Err(IdError::Characters);
        }

        let first17 = if len == 15 {
            format!("{}19{}", &s[..6], &s[6..])
        } else {
            s[..17].to_string()
        };
        let birth = birth_date_of(&first17[6..14]).ok_or(IdError::InvalidDate)?;
        if birth.year() < 1900 || birth > today {
            return Err(IdError::InvalidDate);
        }
        let expected = check_char(&first17);
        if len == 18 && s.as_bytes()[17] != expected as u8 {
            return Err(if s.ends_with("000") {
                IdError::NotTextPrecisionLost
            } else {
                IdError::Checksum
            });
        }
        let mut value = first17;
        value.push(expected);
        Ok(IdNumber { value, birth })
    }

    /// The canonical 18-character form.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The birth date encoded in digits 7-14.
    pub fn birth_date(&self) -> NaiveDate {
        self.birth
    }

    /// Sex from the 17th digit: odd = male, even = female.
    pub fn sex(&self) -> Sex {
        let digit = self.value.as_bytes().get(16).copied().unwrap_or(b'0');
        // b'0' is even, so the byte has the parity of the digit.
        if digit % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// The 6-digit administrative region code of the place of first registration.
    pub fn region_prefix(&self) -> &str {
        self.value.get(..6).unwrap_or("")
    }

    /// Age in completed years on `date` (0 if `date` is before the birth date).
    pub fn age_on(&self, date: NaiveDate) -> u32 {
        let b = self.birth;
        let mut years = date.year() - b.year();
        if (date.month(), date.day()) < (b.month(), b.day()) {
            years -= 1;
        }
        u32::try_from(years).unwrap_or(0)
    }

    /// First 4 + ten `*` + last 4, e.g. `5001**********1234`. Safe for logs and screens.
    pub fn masked(&self) -> String {
        let head = self.value.get(..4).unwrap_or("");
        let tail = self.value.get(14..).unwrap_or("");
        format!("{head}{}{tail}", "*".repeat(10))
    }
}

/// `YYYYMMDD` → date, `None` if it is not a calendar date.
fn birth_date_of(yyyymmdd: &str) -> Option<NaiveDate> {
    let y: i32 = yyyymmdd.get(0..4)?.parse().ok()?;
    let m: u32 = yyyymmdd.get(4..6)?.parse().ok()?;
    let d: u32 = yyyymmdd.get(6..8)?.parse().ok()?;
    NaiveDate::from_ymd_opt(y, m, d)
}

super::text_value!(IdNumber, IdError, masked);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// Builds a valid canonical ID from its parts (used by other modules' tests too).
    pub(crate) fn make_id(region: &str, date: NaiveDate, seq: u32) -> String {
        let first17 = format!("{region}{}{seq:03}", date.format("%Y%m%d"));
        format!("{first17}{}", check_char(&first17))
    }

    /// Strategy for valid canonical ID numbers (birth 1900-01-01 ..= 2020-12-31).
    pub(crate) fn valid_id() -> impl Strategy<Value = String> {
        ("[1-8][0-9]{5}", 0i64..=44_194, 0u32..1000).prop_map(|(region, days, seq)| {
            let date = d(1900, 1, 1) + chrono::Duration::days(days);
            make_id(&region, date, seq)
        })
    }

    /// Formats a canonical value messily: full-width digits, lowercase / full-width x,
    /// whitespace of several kinds between characters and around.
    pub(crate) fn messy(canonical: &str, choices: &[u8]) -> String {
        let mut out = String::new();
        if choices.first().is_some_and(|c| c % 3 == 0) {
            out.push_str(" \t");
        }
        for (i, c) in canonical.chars().enumerate() {
            let k = choices.get(i).copied().unwrap_or(0);
            let c = match (c, k % 4) {
                ('X', 1) => 'x',
                ('X', 2) => 'ｘ',
                ('X', 3) => 'Ｘ',
                (c, 1 | 3) if c.is_ascii_digit() => char::from_u32(c as u32 + 0xFEE0).unwrap(),
                (c, _) => c,
            };
            out.push(c);
            match k / 4 {
                1 => out.push(' '),
                2 => out.push('\u{3000}'),
                3 => out.push('\u{a0}'),
                _ => {}
            }
        }
        if choices.last().is_some_and(|c| c % 2 == 0) {
            out.push_str("\u{3000}\n");
        }
        out
    }

    #[test]
    fn table_of_messy_inputs() {
        let today = d(2025, 6, 1);
        let ok: &[(&str, &str)] = &[
            ("11010519491231002X", "11010519491231002X"),
            ("11010519491231002x", "11010519491231002X"),
            ("11010519491231002ｘ", "11010519491231002X"),
            ("11010519491231002Ｘ", "11010519491231002X"),
            ("１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X"),
            ("  110105 19491231 002X\t", "11010519491231002X"),
            ("110105\u{3000}19491231\u{a0}002X", "11010519491231002X"),
            ("'11010519491231002X", "11010519491231002X"),
            ("\u{feff}11010519491231002X\u{200b}", "11010519491231002X"),
            ("110105491231002", "11010519491231002X"),
            ("440524198001010013", "440524198001010013"),
            ("500110200002290017", "500110200002290017"),
        ];
        for (input, want) in ok {
            let got = IdNumber::parse_as_of(input, today);
            assert_eq!(
                got.as_ref().map(|i| i.as_str()),
                Ok(*want),
                "input {input:?}"
            );
        }
        let bad: &[(&str, &str)] = &[
            ("", "id-missing"),
            ("  \u{3000}\t", "id-missing"),
            ("5.0011e17", "id-not-text-precision-lost"),
            ("5.00110E+17", "id-not-text-precision-lost"),
            ("5.00110199001011E+17", "id-not-text-precision-lost"),
            ("５．００１１Ｅ＋１７", "id-not-text-precision-lost"),
            ("500110199001011234.0", "id-not-text-precision-lost"),
            ("110105491231002.0", "id-not-text-precision-lost"),
            ("500110199001011000", "id-not-text-precision-lost"),
            ("11010519491231002", "id-length"),
            ("1101051949123100211", "id-length"),
            ("1234", "id-length"),
            ("11010519491231002Y", "id-characters"),
            ("1101051949123100X2", "id-characters"),
            ("11010549123100X", "id-characters"),
            ("110105-19491231-002X", "id-characters"),
            ("身份证11010519491231002X", "id-characters"),
            ("110105194912310021", "id-checksum"),
            ("11010519491231002 1", "id-checksum"),
            // 30 February
            ("110105199002300010", "id-invalid-date"),
            ("110105199013010010", "id-invalid-date"),
            ("110105189912310010", "id-invalid-date"),
            ("110105990230001", "id-invalid-date"),
        ];
        for (input, code) in bad {
            let got = IdNumber::parse_as_of(input, today);
            assert_eq!(got.map_err(|e| e.code()), Err(*code), "input {input:?}");
        }
        // Feb 30 with a *correct* check char is still a date error.
        let feb30 = make_id_unchecked("110105", "19900230", "001");
        assert_eq!(
            IdNumber::parse_as_of(&feb30, today).unwrap_err(),
            IdError::InvalidDate
        );
        // Future birth date (valid checksum).
        let future = make_id("110105", d(2025, 6, 2), 1);
        assert_eq!(
            IdNumber::parse_as_of(&future, today).unwrap_err(),
            IdError::InvalidDate
        );
        let born_today = make_id("110105", today, 1);
        assert!(IdNumber::parse_as_of(&born_today, today).is_ok());
        // Not 1900+.
        let old = make_id_unchecked("110105", "18991231", "001");
        assert_eq!(
            IdNumber::parse_as_of(&old, today).unwrap_err(),
            IdError::InvalidDate
        );
    }

    fn make_id_unchecked(region: &str, ymd: &str, seq: &str) -> String {
        let first17 = format!("{region}{ymd}{seq}");
        format!("{first17}{}", check_char(&first17))
    }

    #[test]
    fn accessors() {
        let id = IdNumber::parse("11010519491231002X").unwrap();
        assert_eq!(id.birth_date(), d(1949, 12, 31));
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.region_prefix(), "110105");
        assert_eq!(id.masked(), "1101**********002X");
        assert_eq!(id.age_on(d(2024, 12, 30)), 74);
        assert_eq!(id.age_on(d(2024, 12, 31)), 75);
        assert_eq!(id.age_on(d(1900, 1, 1)), 0);
        assert_eq!(id.to_string(), "11010519491231002X");
        assert_eq!(format!("{id:?}"), "IdNumber(1101**********002X)");
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"11010519491231002X\""
        );
        let back: IdNumber = serde_json::from_str("\"110105491231002\"").unwrap();
        assert_eq!(back, id);
        let err = serde_json::from_str::<IdNumber>("\"110105194912310021\"").unwrap_err();
        assert!(!err.to_string().contains("110105"));
        assert_eq!("11010519491231002x".parse::<IdNumber>(), Ok(id));

        let male = IdNumber::parse("440524198001010013").unwrap();
        assert_eq!(male.sex(), Sex::Male);
        // Leap day birthday: not yet 1 on 28 Feb of the next year.
        let leap = IdNumber::parse(&make_id("500110", d(2000, 2, 29), 11)).unwrap();
        assert_eq!(leap.age_on(d(2001, 2, 28)), 0);
        assert_eq!(leap.age_on(d(2001, 3, 1)), 1);
    }

    #[test]
    fn check_char_known_values_and_junk() {
        assert_eq!(check_char("11010519491231002"), 'X');
        assert_eq!(check_char("44052419800101001"), '3');
        assert_eq!(check_char("50011019850615123"), 'X');
        // Never panics on junk.
        let _ = check_char("");
        let _ = check_char("ab😀");
    }

    #[test]
    fn errors_have_messages_and_hide_input() {
        let all = [
            IdError::Missing,
            IdError::Length { found: 17 },
            IdError::Characters,
            IdError::Checksum,
            IdError::InvalidDate,
            IdError::NotTextPrecisionLost,
        ];
        for e in all {
            assert_ne!(
                crate::messages::template(e.code()),
                "未知错误",
                "{}",
                e.code()
            );
        }
    }

    proptest! {
        #[test]
        fn messy_round_trip(id in valid_id(), choices in proptest::collection::vec(0u8..16, 18)) {
            let parsed = IdNumber::parse(&messy(&id, &choices)).unwrap();
            prop_assert_eq!(parsed.as_str(), id.as_str());
            prop_assert_eq!(IdNumber::parse(parsed.as_str()).unwrap(), parsed.clone());
            prop_assert_eq!(parsed.to_string().parse::<IdNumber>().unwrap(), parsed);
        }

        #[test]
        fn legacy_15_upgrades(region in "[1-8][0-9]{5}", days in 0i64..36_524, seq in 0u32..1000) {
            let date = d(1900, 1, 1) + chrono::Duration::days(days);
            let legacy = format!("{region}{}{seq:03}", date.format("%y%m%d"));
            let parsed = IdNumber::parse(&legacy).unwrap();
            prop_assert_eq!(parsed.as_str(), make_id(&region, date, seq));
            prop_assert_eq!(parsed.birth_date(), date);
        }

        #[test]
        fn masked_hides_middle(id in valid_id()) {
            let parsed = IdNumber::parse(&id).unwrap();
            let m = parsed.masked();
            prop_assert_eq!(m.chars().count(), 18);
            prop_assert!(m[4..14].chars().all(|c| c == '*'));
            prop_assert!(!m.contains(&id[4..14]));
            let debug = format!("{parsed:?}");
            prop_assert!(!debug.contains(&id[4..14]));
        }

        #[test]
        fn wrong_check_char_rejected(id in valid_id(), k in 0usize..10) {
            let last = id.chars().last().unwrap();
            let wrong = CHECK_CHARS.iter().copied().filter(|c| *c != last).nth(k).unwrap();
            let bad = format!("{}{}", &id[..17], wrong);
            let err = IdNumber::parse(&bad).unwrap_err();
            prop_assert!(err == IdError::Checksum || err == IdError::NotTextPrecisionLost);
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = IdNumber::parse(&s);
        }

        #[test]
        fn never_panics_near_miss(s in "[0-9xXｘ０-９ .eE+\u{3000}-]{0,25}") {
            if let Ok(id) = IdNumber::parse(&s) {
                prop_assert_eq!(id.as_str().len(), 18);
            }
        }
    }
}
