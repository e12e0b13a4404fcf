//! 统一社会信用代码 (unified social credit code, GB 32100-2015) of an organisation: 18 characters
//! from `0-9` and the capital letters without I, O, Z, S, V — 1 registering department, 1 kind,
//! 6 region (GB/T 2260), 9 organisation code, 1 check character.
//!
//! The check character is `31 − (Σ cᵢ·wᵢ mod 31)` over the first 17 characters' values in the
//! alphabet, with weights `3^(i−1) mod 31`; 31 is written `0`. No maintained Rust crate validates
//! it (the ones found check only the pattern), so it is here, tested against published codes.

use super::{looks_like_spreadsheet_number, normalize_code_text};

/// The 31 characters of the code, in value order.
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of positions 1–17: 3^(i−1) mod 31.
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Why a text is not a credit code. `code()` names the message in [`crate::messages`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditCodeError {
    Empty,
    /// Typed into a spreadsheet as a number: digits are lost.
    SpreadsheetNumber,
    Length,
    /// A character outside the alphabet (I, O, Z, S, V, punctuation …).
    Character,
    /// Characters 3–8 are a region code: digits only.
    Region,
    Checksum,
}

impl CreditCodeError {
    pub fn code(self) -> &'static str {
        match self {
            CreditCodeError::Empty => "uscc-empty",
            CreditCodeError::SpreadsheetNumber => "uscc-spreadsheet-number",
            CreditCodeError::Length => "uscc-length",
            CreditCodeError::Character => "uscc-character",
            CreditCodeError::Region => "uscc-region",
            CreditCodeError::Checksum => "uscc-checksum",
        }
    }
}

/// A valid 统一社会信用代码, canonical (upper case, no spaces).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CreditCode(String);

/// The check character of the first 17 characters, or `None` if one is outside the alphabet.
pub fn credit_check_char(first17: &[u8]) -> Option<char> {
    let mut sum = 0u32;
    for (c, w) in first17.iter().zip(WEIGHTS) {
        let v = ALPHABET.iter().position(|a| a == c)? as u32;
        sum += v * w;
    }
    let check = (31 - sum % 31) % 31;
    Some(ALPHABET[check as usize] as char)
}

impl CreditCode {
    pub fn parse(input: &str) -> Result<CreditCode, CreditCodeError> {
        let s = normalize_code_text(input);
        if s.is_empty() {
            return Err(CreditCodeError::Empty);
        }
        if looks_like_spreadsheet_number(&s) {
            return Err(CreditCodeError::SpreadsheetNumber);
        }
        if s.chars().count() != 18 {
            return Err(CreditCodeError::Length);
        }
        let b = s.as_bytes();
        if !b.iter().all(|c| ALPHABET.contains(c)) {
            return Err(CreditCodeError::Character);
        }
        if !b[2..8].iter().all(u8::is_ascii_digit) {
            return Err(CreditCodeError::Region);
        }
        if credit_check_char(&b[..17]) != Some(b[17] as char) {
            return Err(CreditCodeError::Checksum);
        }
        Ok(CreditCode(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

super::text_value!(CreditCode, CreditCodeError, common);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_codes_pass() {
        // Codes printed on public business licences.
        for code in [
            "91350100M000100Y43",
            "91110108551385082Q",
            "91440300708461136T",
            "12100000400000624D",
        ] {
            assert_eq!(
                CreditCode::parse(code).map(|c| c.to_string()),
                Ok(code.to_string()),
                "{code}"
            );
        }
    }

    #[test]
    fn messy_text_is_normalised() {
        assert_eq!(
            CreditCode::parse(" ９１３５０１００m000100y43\u{3000}")
                .unwrap()
                .as_str(),
            "91350100M000100Y43"
        );
        assert_eq!(
            CreditCode::parse("'91350100M000100Y43").unwrap().as_str(),
            "91350100M000100Y43"
        );
    }

    #[test]
    fn every_error_is_named() {
        assert_eq!(CreditCode::parse(""), Err(CreditCodeError::Empty));
        assert_eq!(
            CreditCode::parse("9.1350100E+17"),
            Err(CreditCodeError::SpreadsheetNumber)
        );
        assert_eq!(
            CreditCode::parse("91350100M000100Y4"),
            Err(CreditCodeError::Length)
        );
        assert_eq!(
            CreditCode::parse("91350100M000I00Y43"),
            Err(CreditCodeError::Character)
        );
        assert_eq!(
            CreditCode::parse("913A0100M000100Y43"),
            Err(CreditCodeError::Region)
        );
        assert_eq!(
            CreditCode::parse("91350100M000100Y4A"),
            Err(CreditCodeError::Checksum)
        );
        // One changed character anywhere is caught.
        let good = b"91110108551385082Q";
        for i in 0..17 {
            let mut bad = *good;
            bad[i] = if bad[i] == b'1' { b'2' } else { b'1' };
            let text = std::str::from_utf8(&bad).unwrap();
            assert!(CreditCode::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn check_char_wraps_31_to_zero() {
        // Find a prefix whose weighted sum is a multiple of 31: its check character is '0'.
        let prefix = b"9111010855138508";
        let found = ALPHABET.iter().find_map(|c| {
            let mut p = prefix.to_vec();
            p.push(*c);
            let sum: u32 = p
                .iter()
                .zip(WEIGHTS)
                .map(|(x, w)| ALPHABET.iter().position(|a| a == x).unwrap() as u32 * w)
                .sum();
            sum.is_multiple_of(31).then_some(p)
        });
        let p = found.expect("some 17th character makes the sum a multiple of 31");
        assert_eq!(credit_check_char(&p), Some('0'));
    }
}
