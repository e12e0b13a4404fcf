//! Validated domain values ("parse, don't validate").
//!
//! Every type here can only be built through a `parse` function that normalises the messy text
//! found in real spreadsheets (full-width digits, stray spaces, lowercase `x`, Excel number
//! formatting, ...) and rejects anything that is not a valid value. Once you hold an [`IdNumber`],
//! a [`Phone`] or a [`PersonName`] it is canonical and valid; nothing downstream re-checks it.
//!
//! Errors carry a stable kebab-case `code()` whose Chinese text lives in [`crate::messages`].
//! Errors never contain the input value, and the `Debug` output of personal data (ID numbers,
//! certificate numbers, phone numbers, names) is masked so it cannot leak into logs by accident.

pub mod certificate;
pub mod clock;
pub mod credit_code;
pub mod id_number;
pub mod name;
pub mod period;
pub mod phone;
pub mod region_code;
pub mod registration;
pub mod sex;

pub use certificate::{
    CertificateError, DisabilityCategory, DisabilityCertificate, DisabilityGrade, GradeError,
};
pub use credit_code::{CreditCode, CreditCodeError};
pub use id_number::{IdError, IdNumber, check_char};
pub use name::{NameError, PersonName};
pub use phone::{Phone, PhoneError, PhoneKind};
pub use region_code::{RegionCode, RegionCodeError, RegionLevel};
pub use registration::RegistrationState;
pub use sex::{Sex, SexError};

/// The trait impls every validated text value shares: `Display` (the canonical value), `FromStr` and
/// `Deserialize` through `parse` (a deserialisation error names only the code, never the value),
/// `Serialize` as the canonical string, and — with `masked` — a `Debug` that prints the masked form,
/// so personal data cannot reach a log through `{:?}`.
macro_rules! text_value {
    ($t:ident, $err:ty, masked) => {
        $crate::domain::text_value!($t, $err, common);
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($t), self.masked())
            }
        }
    };
    ($t:ident, $err:ty, common) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $t {
            type Err = $err;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $t::parse(s)
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                $t::parse(&s).map_err(|e| serde::de::Error::custom(e.code()))
            }
        }
    };
}
pub(crate) use text_value;

/// Maps full-width ASCII variants (U+FF01..U+FF5E, e.g. `０`, `Ｘ`, `（`) to ASCII and the
/// ideographic space U+3000 to a plain space. Other characters are returned unchanged.
pub(crate) fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Zero-width characters that sneak in with copy and paste (ZWSP, ZWNJ, ZWJ, word joiner, BOM).
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Normalisation shared by ID and certificate numbers: drops all whitespace (incl. NBSP, tab,
/// U+3000) and zero-width characters, folds full-width characters, upper-cases ASCII letters and
/// removes a leading apostrophe (Excel's "store as text" marker, sometimes exported verbatim).
pub(crate) fn normalize_code_text(input: &str) -> String {
    let s: String = input
        .chars()
        .map(fold_width)
        .filter(|c| !c.is_whitespace() && !is_invisible(*c))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    s.trim_start_matches(['\'', '\u{2018}', '\u{2019}', '`'])
        .to_string()
}

/// True if already-normalised (upper-cased) text looks like a long number that went through a
/// spreadsheet as a number: scientific notation (`5.0011E+17`, `5,0011E17`) or an integer with a
/// trailing `.0`. Such values have lost digits and cannot be recovered.
pub(crate) fn looks_like_spreadsheet_number(s: &str) -> bool {
    fn all_digits(t: &str) -> bool {
        !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
    }
    if let Some((mantissa, exponent)) = s.split_once('E') {
        let (int, frac) = mantissa.split_once(['.', ',']).unwrap_or((mantissa, "0"));
        let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
        return all_digits(int) && all_digits(frac) && all_digits(exponent) && exponent.len() <= 3;
    }
    if let Some((int, frac)) = s.split_once('.') {
        return all_digits(int) && !frac.is_empty() && frac.bytes().all(|b| b == b'0');
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreadsheet_number_detection() {
        for s in [
            "5.0011E17",
            "5.00110E+17",
            "5,0011E+17",
            "500110199001011234.0",
            "1E+17",
        ] {
            assert!(looks_like_spreadsheet_number(s), "{s}");
        }
        for s in [
            "",
            "E",
            "11010519491231002X",
            "5.0011",
            "1.5",
            "5.0011E",
            "ABC.0",
            "5.0011E+1234",
        ] {
            assert!(!looks_like_spreadsheet_number(s), "{s}");
        }
    }

    #[test]
    fn normalize_code_text_cases() {
        assert_eq!(normalize_code_text(" １１０\u{3000}1x\u{a0}\t"), "1101X");
        assert_eq!(normalize_code_text("'110\u{200b}"), "110");
        assert_eq!(normalize_code_text("ｘＸ"), "XX");
    }
}
