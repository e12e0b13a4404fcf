//! 残疾证号 (disability certificate number) and 残疾类别 / 残疾等级.
//!
//! The second-generation certificate number is the holder's 18-character ID number followed by
//! one digit for the category (1 视力 2 听力 3 言语 4 肢体 5 智力 6 精神 7 多重) and one digit for
//! the grade (1-4). A reissued certificate may carry a suffix such as `B1`; it is dropped.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::id_number::{IdError, IdNumber};
use super::{fold_width, is_invisible, looks_like_spreadsheet_number, normalize_code_text};

/// 残疾类别 (GB/T 26341-2010). [`DisabilityCategory::code`] is the digit used in certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisabilityCategory {
    /// 视力残疾
    Visual,
    /// 听力残疾
    Hearing,
    /// 言语残疾
    Speech,
    /// 肢体残疾
    Physical,
    /// 智力残疾
    Intellectual,
    /// 精神残疾
    Mental,
    /// 多重残疾
    Multiple,
}

impl DisabilityCategory {
    pub const ALL: [DisabilityCategory; 7] = [
        DisabilityCategory::Visual,
        DisabilityCategory::Hearing,
        DisabilityCategory::Speech,
        DisabilityCategory::Physical,
        DisabilityCategory::Intellectual,
        DisabilityCategory::Mental,
        DisabilityCategory::Multiple,
    ];

    /// The certificate digit, 1..=7.
    pub fn code(self) -> u8 {
        match self {
            DisabilityCategory::Visual => 1,
            DisabilityCategory::Hearing => 2,
            DisabilityCategory::Speech => 3,
            DisabilityCategory::Physical => 4,
            DisabilityCategory::Intellectual => 5,
            DisabilityCategory::Mental => 6,
            DisabilityCategory::Multiple => 7,
        }
    }

    /// Inverse of [`DisabilityCategory::code`].
    pub fn from_code(code: u8) -> Option<DisabilityCategory> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// Short Chinese label: 视力 听力 言语 肢体 智力 精神 多重.
    pub fn label_zh(self) -> &'static str {
        match self {
            DisabilityCategory::Visual => "视力",
            DisabilityCategory::Hearing => "听力",
            DisabilityCategory::Speech => "言语",
            DisabilityCategory::Physical => "肢体",
            DisabilityCategory::Intellectual => "智力",
            DisabilityCategory::Mental => "精神",
            DisabilityCategory::Multiple => "多重",
        }
    }

    /// Whether this registry accepts certificates of this category (精神 or 多重).
    pub fn is_registry_category(self) -> bool {
        matches!(
            self,
            DisabilityCategory::Mental | DisabilityCategory::Multiple
        )
    }
}

/// 残疾等级, 一级 (most severe) to 四级. Serialized as the number 1..=4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DisabilityGrade {
    One,
    Two,
    Three,
    Four,
}

/// Why a 残疾等级 cell could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GradeError {
    #[error("disability grade is empty")]
    Missing,
    #[error("disability grade is not one of 1-4 / 一级-四级 (optionally with a category)")]
    Invalid,
}

impl GradeError {
    /// Stable kebab-case code (key into `crate::messages::MESSAGES`).
    pub fn code(&self) -> &'static str {
        match self {
            GradeError::Missing => "grade-missing",
            GradeError::Invalid => "grade-invalid",
        }
    }
}

impl DisabilityGrade {
    pub const ALL: [DisabilityGrade; 4] = [
        DisabilityGrade::One,
        DisabilityGrade::Two,
        DisabilityGrade::Three,
        DisabilityGrade::Four,
    ];

    /// 1..=4.
    pub fn number(self) -> u8 {
        match self {
            DisabilityGrade::One => 1,
            DisabilityGrade::Two => 2,
            DisabilityGrade::Three => 3,
            DisabilityGrade::Four => 4,
        }
    }

    /// Inverse of [`DisabilityGrade::number`].
    pub fn from_number(n: u8) -> Option<DisabilityGrade> {
        Self::ALL.into_iter().find(|g| g.number() == n)
    }

    /// `一级` .. `四级`.
    pub fn label_zh(self) -> &'static str {
        match self {
            DisabilityGrade::One => "一级",
            DisabilityGrade::Two => "二级",
            DisabilityGrade::Three => "三级",
            DisabilityGrade::Four => "四级",
        }
    }

    /// Reads a free-text 残疾等级 cell. Accepts e.g. `3`, `３级`, `三`, `三级`, `3 级`, `Ⅲ级`,
    /// `III级`, `iii`, `叁级`, `精神三级`, `精神残疾三级`, `三级精神残疾`, `多重二级`,
    /// `残疾等级：三级`. Returns the category too if the text names one (精神, 多重, 肢体, 智力,
    /// 视力, 听力, 言语); naming two different categories is an error.
    pub fn parse_text(
        input: &str,
    ) -> Result<(Option<DisabilityCategory>, DisabilityGrade), GradeError> {
        let mut s: String = input
            .chars()
            .map(fold_width)
            .filter(|c| !c.is_whitespace() && !is_invisible(*c))
            .flat_map(char::to_lowercase)
            .collect();
        if s.is_empty() {
            return Err(GradeError::Missing);
        }
        let mut category = None;
        for cat in DisabilityCategory::ALL {
            if s.contains(cat.label_zh()) {
                if category.is_some() {
                    return Err(GradeError::Invalid);
                }
                category = Some(cat);
                s = s.replacen(cat.label_zh(), "", 1);
            }
        }
        for noise in ["残疾人", "残疾", "等级", "级别", "级", "第", ":", "："] {
            s = s.replace(noise, "");
        }
        let grade = match s.as_str() {
            "1" | "一" | "壹" | "i" | "ⅰ" | "Ⅰ" => DisabilityGrade::One,
            "2" | "二" | "贰" | "ii" | "ⅱ" | "Ⅱ" => DisabilityGrade::Two,
            "3" | "三" | "叁" | "iii" | "ⅲ" | "Ⅲ" => DisabilityGrade::Three,
            "4" | "四" | "肆" | "iv" | "ⅳ" | "Ⅳ" => DisabilityGrade::Four,
            _ => return Err(GradeError::Invalid),
        };
        Ok((category, grade))
    }
}

impl fmt::Display for DisabilityGrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label_zh())
    }
}

impl Serialize for DisabilityGrade {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.number())
    }
}

impl<'de> Deserialize<'de> for DisabilityGrade {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let n = u8::deserialize(deserializer)?;
        DisabilityGrade::from_number(n)
            .ok_or_else(|| serde::de::Error::custom(GradeError::Invalid.code()))
    }
}

/// A valid 残疾证号 of the 精神 (6) or 多重 (7) category; canonical form is 20 characters.
///
/// `Display` prints the full number; `Debug` prints only the masked form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DisabilityCertificate {
    value: String,
    holder: IdNumber,
    category: DisabilityCategory,
    grade: DisabilityGrade,
}

/// Why a text is not a valid certificate number for this registry. Never contains the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("disability certificate number is empty")]
    Missing,
    #[error("disability certificate number was stored as a spreadsheet number; digits were lost")]
    NotTextPrecisionLost,
    #[error("disability certificate number contains characters other than digits and X")]
    Characters,
    #[error(
        "disability certificate number must have 20 characters (ID + category + grade), found {found}"
    )]
    Length { found: usize },
    #[error("the ID part of the disability certificate number is invalid: {0}")]
    IdInvalid(IdError),
    #[error("disability category digit must be 1-7")]
    CategoryInvalid,
    #[error("disability category {0:?} is not mental (6) or multiple (7)")]
    NotMental(DisabilityCategory),
    #[error("disability grade digit must be 1-4")]
    GradeInvalid,
    #[error("the ID part of the disability certificate number differs from the holder's ID number")]
    IdMismatch,
}

impl CertificateError {
    /// Stable kebab-case code (key into `crate::messages::MESSAGES`).
    pub fn code(&self) -> &'static str {
        match self {
            CertificateError::Missing => "certificate-missing",
            CertificateError::NotTextPrecisionLost => "certificate-not-text-precision-lost",
            CertificateError::Characters => "certificate-characters",
            CertificateError::Length { .. } => "certificate-length",
            CertificateError::IdInvalid(_) => "certificate-id-invalid",
            CertificateError::CategoryInvalid => "certificate-category-invalid",
            CertificateError::NotMental(_) => "certificate-not-mental",
            CertificateError::GradeInvalid => "certificate-grade-invalid",
            CertificateError::IdMismatch => "certificate-id-mismatch",
        }
    }
}

impl DisabilityCertificate {
    /// Parses a certificate number as of today's local date (the ID part's birth date must not
    /// lie in the future). See [`DisabilityCertificate::parse_as_of`].
    pub fn parse(input: &str) -> Result<DisabilityCertificate, CertificateError> {
        Self::parse_as_of(input, super::clock::today())
    }

    /// Parses a certificate number and checks that its ID part is `holder`'s ID number.
    pub fn parse_for(
        input: &str,
        holder: &IdNumber,
    ) -> Result<DisabilityCertificate, CertificateError> {
        let cert = Self::parse(input)?;
        if cert.holder != *holder {
            return Err(CertificateError::IdMismatch);
        }
        Ok(cert)
    }

    /// Parses a certificate number. Accepts the same mess as [`IdNumber::parse`] (whitespace,
    /// full-width characters, lowercase x, leading `'`) plus a reissue suffix `B<digits>` (1-2
    /// digits, any case) after the 20 characters, which is dropped.
    pub fn parse_as_of(
        input: &str,
        today: NaiveDate,
    ) -> Result<DisabilityCertificate, CertificateError> {
        let s = normalize_code_text(input);
        if s.is_empty() {
            return Err(CertificateError::Missing);
        }
        if looks_like_spreadsheet_number(&s) {
            return Err(CertificateError::NotTextPrecisionLost);
        }
        if !s.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(CertificateError::Characters);
        }
        // ASCII only from here on.
        let main = match s.get(20..) {
            Some(suffix) if is_reissue_suffix(suffix) => &s[..20],
            _ => s.as_str(),
        };
        if main.len() != 20 {
            return Err(CertificateError::Length { found: main.len() });
        }
        let (id_part, tail) = main.split_at(18);
        if !id_part.bytes().all(|b| b.is_ascii_digit() || b == b'X')
            || !tail.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(CertificateError::Characters);
        }
        let holder = IdNumber::parse_as_of(id_part, today).map_err(CertificateError::IdInvalid)?;
        let digits = tail.as_bytes();
        let category = DisabilityCategory::from_code(digits[0] - b'0')
            .ok_or(CertificateError::CategoryInvalid)?;
        if !category.is_registry_category() {
            return Err(CertificateError::NotMental(category));
        }
        let grade =
            DisabilityGrade::from_number(digits[1] - b'0').ok_or(CertificateError::GradeInvalid)?;
        Ok(DisabilityCertificate {
            value: main.to_string(),
            holder,
            category,
            grade,
        })
    }

    /// The canonical 20-character form (no reissue suffix).
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The holder's ID number (first 18 characters).
    pub fn holder_id(&self) -> &IdNumber {
        &self.holder
    }

    /// 精神 or 多重.
    pub fn category(&self) -> DisabilityCategory {
        self.category
    }

    pub fn grade(&self) -> DisabilityGrade {
        self.grade
    }

    /// The masked ID part followed by the category and grade digits, e.g.
    /// `5001**********123463`.
    pub fn masked(&self) -> String {
        format!(
            "{}{}{}",
            self.holder.masked(),
            self.category.code(),
            self.grade.number()
        )
    }
}

fn is_reissue_suffix(suffix: &str) -> bool {
    match suffix.strip_prefix('B') {
        Some(d) => (1..=2).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

super::text_value!(DisabilityCertificate, CertificateError, masked);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::id_number::tests::{messy, valid_id};
    use proptest::prelude::*;

    const ID: &str = "11010519491231002X";

    #[test]
    fn table_of_messy_inputs() {
        let ok: &[(&str, &str, u8, u8)] = &[
            ("11010519491231002X63", "11010519491231002X63", 6, 3),
            ("11010519491231002x61", "11010519491231002X61", 6, 1),
            (" 110105 19491231 002X 6 4 ", "11010519491231002X64", 6, 4),
            (
                "１１０１０５１９４９１２３１００２ｘ７２",
                "11010519491231002X72",
                7,
                2,
            ),
            ("11010519491231002X63B1", "11010519491231002X63", 6, 3),
            ("11010519491231002x63b2", "11010519491231002X63", 6, 3),
            ("11010519491231002X63 B12", "11010519491231002X63", 6, 3),
            (
                "'11010519491231002X74\u{3000}",
                "11010519491231002X74",
                7,
                4,
            ),
        ];
        for (input, want, cat, grade) in ok {
            let c = DisabilityCertificate::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(c.as_str(), *want);
            assert_eq!(c.holder_id().as_str(), ID);
            assert_eq!(c.category().code(), *cat);
            assert_eq!(c.grade().number(), *grade);
        }
        let bad: &[(&str, &str)] = &[
            ("", "certificate-missing"),
            (" \t", "certificate-missing"),
            (
                "1.10105194912310E+19",
                "certificate-not-text-precision-lost",
            ),
            (
                "11010519491231002063.0",
                "certificate-not-text-precision-lost",
            ),
            ("11010519491231002X-63", "certificate-characters"),
            ("残11010519491231002X63", "certificate-characters"),
            ("11010519491231002X6A", "certificate-characters"),
            ("1101051949123100X263", "certificate-id-invalid"),
            ("11010519491231002X", "certificate-length"),
            ("11010519491231002X6", "certificate-length"),
            ("11010519491231002X631", "certificate-length"),
            ("11010519491231002X63B", "certificate-length"),
            ("11010519491231002X63B123", "certificate-length"),
            ("11010519491231002X63C1", "certificate-length"),
            ("11010519491231002163", "certificate-id-invalid"),
            ("11010519490231002X63", "certificate-id-invalid"),
            ("11010519491231002X03", "certificate-category-invalid"),
            ("11010519491231002X83", "certificate-category-invalid"),
            ("11010519491231002X13", "certificate-not-mental"),
            ("11010519491231002X43", "certificate-not-mental"),
            ("11010519491231002X53", "certificate-not-mental"),
            ("11010519491231002X60", "certificate-grade-invalid"),
            ("11010519491231002X65", "certificate-grade-invalid"),
        ];
        for (input, code) in bad {
            let got = DisabilityCertificate::parse(input).map_err(|e| e.code());
            assert_eq!(
                got.map(|c| c.as_str().to_string()),
                Err(*code),
                "input {input:?}"
            );
        }
        assert_eq!(
            DisabilityCertificate::parse("11010519491231002163").unwrap_err(),
            CertificateError::IdInvalid(IdError::Checksum)
        );
    }

    #[test]
    fn parse_for_holder() {
        let holder = IdNumber::parse(ID).unwrap();
        let other = IdNumber::parse("440524198001010013").unwrap();
        assert!(DisabilityCertificate::parse_for("11010519491231002x62", &holder).is_ok());
        assert_eq!(
            DisabilityCertificate::parse_for("11010519491231002X62", &other).unwrap_err(),
            CertificateError::IdMismatch
        );
        // The certificate's own problems are reported first.
        assert_eq!(
            DisabilityCertificate::parse_for("11010519491231002X42", &other)
                .unwrap_err()
                .code(),
            "certificate-not-mental"
        );
    }

    #[test]
    fn accessors_and_formatting() {
        let c = DisabilityCertificate::parse("11010519491231002X63").unwrap();
        assert_eq!(c.category(), DisabilityCategory::Mental);
        assert_eq!(c.category().label_zh(), "精神");
        assert_eq!(c.grade(), DisabilityGrade::Three);
        assert_eq!(c.grade().label_zh(), "三级");
        assert_eq!(c.masked(), "1101**********002X63");
        assert_eq!(
            format!("{c:?}"),
            "DisabilityCertificate(1101**********002X63)"
        );
        assert_eq!(c.to_string(), "11010519491231002X63");
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            "\"11010519491231002X63\""
        );
        assert_eq!(serde_json::to_string(&DisabilityGrade::Two).unwrap(), "2");
        assert_eq!(
            serde_json::to_string(&DisabilityCategory::Multiple).unwrap(),
            "\"multiple\""
        );
        let labels: Vec<_> = DisabilityCategory::ALL
            .iter()
            .map(|c| c.label_zh())
            .collect();
        assert_eq!(
            labels,
            ["视力", "听力", "言语", "肢体", "智力", "精神", "多重"]
        );
        for c in DisabilityCategory::ALL {
            assert_eq!(DisabilityCategory::from_code(c.code()), Some(c));
        }
        assert_eq!(DisabilityCategory::from_code(0), None);
        assert_eq!(DisabilityCategory::from_code(8), None);
    }

    #[test]
    fn grade_text_table() {
        use DisabilityCategory as C;
        use DisabilityGrade as G;
        let ok: &[(&str, Option<C>, G)] = &[
            ("3", None, G::Three),
            ("三", None, G::Three),
            ("三级", None, G::Three),
            ("3级", None, G::Three),
            ("3 级", None, G::Three),
            ("３级", None, G::Three),
            ("Ⅲ级", None, G::Three),
            ("III级", None, G::Three),
            ("iii", None, G::Three),
            ("ⅲ", None, G::Three),
            ("叁级", None, G::Three),
            ("第三级", None, G::Three),
            ("一级", None, G::One),
            ("二级", None, G::Two),
            ("四级", None, G::Four),
            ("IV", None, G::Four),
            ("Ⅱ", None, G::Two),
            ("精神三级", Some(C::Mental), G::Three),
            ("精神残疾三级", Some(C::Mental), G::Three),
            ("精神3级", Some(C::Mental), G::Three),
            ("三级精神残疾", Some(C::Mental), G::Three),
            ("多重二级", Some(C::Multiple), G::Two),
            ("多重残疾 二级", Some(C::Multiple), G::Two),
            ("肢体一级", Some(C::Physical), G::One),
            ("智力残疾四级", Some(C::Intellectual), G::Four),
            ("视力二级", Some(C::Visual), G::Two),
            ("听力3级", Some(C::Hearing), G::Three),
            ("言语残疾1级", Some(C::Speech), G::One),
            ("残疾等级：三级", None, G::Three),
            (" 精神 残疾 ３ 级 ", Some(C::Mental), G::Three),
        ];
        for (input, cat, grade) in ok {
            assert_eq!(
                DisabilityGrade::parse_text(input),
                Ok((*cat, *grade)),
                "input {input:?}"
            );
        }
        let bad: &[(&str, &str)] = &[
            ("", "grade-missing"),
            ("  ", "grade-missing"),
            ("0", "grade-invalid"),
            ("5", "grade-invalid"),
            ("五级", "grade-invalid"),
            ("33", "grade-invalid"),
            ("三四级", "grade-invalid"),
            ("精神", "grade-invalid"),
            ("精神多重二级", "grade-invalid"),
            ("精神病", "grade-invalid"),
            ("轻度", "grade-invalid"),
            ("v", "grade-invalid"),
        ];
        for (input, code) in bad {
            assert_eq!(
                DisabilityGrade::parse_text(input).map_err(|e| e.code()),
                Err(*code),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn errors_have_messages() {
        let all = [
            CertificateError::Missing,
            CertificateError::NotTextPrecisionLost,
            CertificateError::Characters,
            CertificateError::Length { found: 18 },
            CertificateError::IdInvalid(IdError::Checksum),
            CertificateError::CategoryInvalid,
            CertificateError::NotMental(DisabilityCategory::Physical),
            CertificateError::GradeInvalid,
            CertificateError::IdMismatch,
        ];
        let codes = all.iter().map(|e| e.code());
        let codes = codes.chain([GradeError::Missing.code(), GradeError::Invalid.code()]);
        for code in codes {
            assert_ne!(crate::messages::template(code), "未知错误", "{code}");
        }
    }

    fn grade_formats() -> Vec<&'static str> {
        vec![
            "{n}",
            "{zh}",
            "{zh}级",
            "{n}级",
            "{n} 级",
            "{cat}{zh}级",
            "{cat}残疾{n}级",
            "{roman}级",
        ]
    }

    proptest! {
        #[test]
        fn messy_round_trip(
            id in valid_id(),
            cat in prop_oneof![Just(6u8), Just(7u8)],
            grade in 1u8..=4,
            suffix in prop_oneof![Just(""), Just("B1"), Just("b2"), Just(" B10")],
            choices in proptest::collection::vec(0u8..16, 20),
        ) {
            let canonical = format!("{id}{cat}{grade}");
            let input = format!("{}{suffix}", messy(&canonical, &choices));
            let c = DisabilityCertificate::parse(&input).unwrap();
            prop_assert_eq!(c.as_str(), canonical.as_str());
            prop_assert_eq!(c.holder_id().as_str(), id.as_str());
            prop_assert_eq!(DisabilityCertificate::parse(c.as_str()).unwrap(), c.clone());
            let holder = IdNumber::parse(&id).unwrap();
            prop_assert_eq!(DisabilityCertificate::parse_for(&input, &holder).unwrap(), c.clone());
            prop_assert!(!c.masked().contains(&id[4..14]));
            let debug = format!("{c:?}");
            prop_assert!(!debug.contains(&id[4..14]));
        }

        #[test]
        fn grade_text_round_trip(
            g in 1u8..=4,
            cat in proptest::sample::select(DisabilityCategory::ALL.to_vec()),
            fmt_idx in 0usize..8,
        ) {
            let grade = DisabilityGrade::from_number(g).unwrap();
            let zh = ["一", "二", "三", "四"][usize::from(g - 1)];
            let roman = ["Ⅰ", "II", "iii", "Ⅳ"][usize::from(g - 1)];
            let text = grade_formats()[fmt_idx]
                .replace("{n}", &g.to_string())
                .replace("{zh}", zh)
                .replace("{roman}", roman)
                .replace("{cat}", cat.label_zh());
            let want_cat = grade_formats()[fmt_idx].contains("{cat}").then_some(cat);
            prop_assert_eq!(DisabilityGrade::parse_text(&text), Ok((want_cat, grade)));
            prop_assert_eq!(DisabilityGrade::parse_text(grade.label_zh()), Ok((None, grade)));
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = DisabilityCertificate::parse(&s);
            let _ = DisabilityGrade::parse_text(&s);
        }

        #[test]
        fn never_panics_near_miss(s in "[0-9xXbB０-９ .eE+-]{15,26}") {
            if let Ok(c) = DisabilityCertificate::parse(&s) {
                prop_assert_eq!(c.as_str().len(), 20);
            }
        }
    }
}
