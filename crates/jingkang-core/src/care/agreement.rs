//! Informed consent (知情同意书) and the service agreement (服务协议), SPEC §3: signed before any
//! service, by the person and/or the guardian, valid for a period; the signed paper is scanned and
//! kept (PDF, JPEG or PNG, checked by content, at most 10 MB).

use chrono::{Duration, Months, NaiveDate};
use serde::Serialize;

use super::followup::{FieldError, MAX_TEXT};
use crate::messages;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgreementKind {
    /// 知情同意书
    Consent,
    /// 服务协议
    Service,
}

impl AgreementKind {
    pub const ALL: [AgreementKind; 2] = [AgreementKind::Consent, AgreementKind::Service];

    pub fn code(self) -> &'static str {
        match self {
            AgreementKind::Consent => "consent",
            AgreementKind::Service => "service",
        }
    }

    pub fn from_code(code: &str) -> Option<AgreementKind> {
        AgreementKind::ALL.into_iter().find(|k| k.code() == code)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            AgreementKind::Consent => "知情同意书",
            AgreementKind::Service => "服务协议",
        }
    }
}

/// Longest validity one agreement may state.
pub const MAX_YEARS: u32 = 5;
/// Days before the end of a service agreement from which it is on the "expiring" worklist.
pub const EXPIRING_DAYS: i64 = 30;
/// Largest scanned file.
pub const MAX_SCAN_BYTES: usize = 10 * 1024 * 1024;
/// The media types a scan may have, as detected from its content.
pub const SCAN_TYPES: [&str; 3] = ["application/pdf", "image/jpeg", "image/png"];

/// A submitted agreement, as text.
#[derive(Debug, Clone, Default)]
pub struct AgreementInput {
    pub kind: String,
    pub signed_on: String,
    /// 本人签署.
    pub person_signed: bool,
    /// 监护人 who signed, if any.
    pub guardian_name: String,
    /// Empty: one year from signing.
    pub valid_until: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agreement {
    pub kind: AgreementKind,
    pub signed_on: NaiveDate,
    pub person_signed: bool,
    pub guardian_name: Option<String>,
    pub valid_until: NaiveDate,
}

fn err(field: &str, label: &str, code: &'static str, args: &[(&str, &str)]) -> FieldError {
    let mut all = vec![("label", label)];
    all.extend_from_slice(args);
    FieldError {
        field: field.into(),
        label: label.into(),
        code,
        message: messages::render(code, &all),
    }
}

fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// Validate `input` on `today`: every problem with its field.
pub fn validate(input: &AgreementInput, today: NaiveDate) -> Result<Agreement, Vec<FieldError>> {
    let mut errors = Vec::new();
    let kind = AgreementKind::from_code(input.kind.trim());
    if kind.is_none() {
        errors.push(err("kind", "协议类型", "followup-field-missing", &[]));
    }
    let signed_on = match input.signed_on.trim() {
        "" => {
            errors.push(err("signed_on", "签署日期", "followup-field-missing", &[]));
            None
        }
        s => match date(s) {
            Some(d) if d > today => {
                errors.push(err("signed_on", "签署日期", "followup-date-future", &[]));
                None
            }
            Some(d) => Some(d),
            None => {
                errors.push(err(
                    "signed_on",
                    "签署日期",
                    "followup-date-invalid",
                    &[("value", s)],
                ));
                None
            }
        },
    };
    let guardian = input.guardian_name.trim();
    if guardian.chars().count() > MAX_TEXT {
        errors.push(err(
            "guardian_name",
            "监护人",
            "followup-text-too-long",
            &[("max", &MAX_TEXT.to_string())],
        ));
    }
    if !input.person_signed && guardian.is_empty() {
        errors.push(err(
            "signatories",
            "签署人",
            "agreement-signatory-missing",
            &[],
        ));
    }
    let valid_until = match (input.valid_until.trim(), signed_on) {
        ("", Some(s)) => s
            .checked_add_months(Months::new(12))
            .map(|d| d - Duration::days(1)),
        ("", None) => None,
        (v, s) => match date(v) {
            Some(d) if s.is_some_and(|s| d <= s) => {
                errors.push(err(
                    "valid_until",
                    "有效期至",
                    "agreement-validity-invalid",
                    &[],
                ));
                None
            }
            Some(d)
                if s.and_then(|s| s.checked_add_months(Months::new(12 * MAX_YEARS)))
                    .is_some_and(|max| d > max) =>
            {
                errors.push(err(
                    "valid_until",
                    "有效期至",
                    "agreement-validity-too-long",
                    &[("years", &MAX_YEARS.to_string())],
                ));
                None
            }
            Some(d) => Some(d),
            None => {
                errors.push(err(
                    "valid_until",
                    "有效期至",
                    "followup-date-invalid",
                    &[("value", v)],
                ));
                None
            }
        },
    };
    match (kind, signed_on, valid_until) {
        (Some(kind), Some(signed_on), Some(valid_until)) if errors.is_empty() => Ok(Agreement {
            kind,
            signed_on,
            person_signed: input.person_signed,
            guardian_name: Some(guardian.to_string()).filter(|g| !g.is_empty()),
            valid_until,
        }),
        _ => Err(errors),
    }
}

/// The media type of a scanned file, detected from its content (the `infer` crate reads the
/// magic numbers; the name and the browser's claimed type are not trusted), or the message code
/// of why it is refused.
pub fn check_scan(bytes: &[u8]) -> Result<&'static str, &'static str> {
    if bytes.is_empty() {
        return Err("agreement-file-empty");
    }
    if bytes.len() > MAX_SCAN_BYTES {
        return Err("agreement-file-too-large");
    }
    let detected = infer::get(bytes).map(|t| t.mime_type());
    SCAN_TYPES
        .into_iter()
        .find(|t| Some(*t) == detected)
        .ok_or("agreement-file-type")
}

/// Whether the stored agreements make the eligibility condition "signed agreement" true on
/// `today`: a consent and a service agreement, each valid that day.
pub fn signed_and_valid(
    agreements: &[(AgreementKind, NaiveDate, NaiveDate)],
    today: NaiveDate,
) -> bool {
    missing(agreements, today).is_empty()
}

/// The kinds of which no agreement is valid on `today` (signed on or before it, valid until it).
pub fn missing(
    agreements: &[(AgreementKind, NaiveDate, NaiveDate)],
    today: NaiveDate,
) -> Vec<AgreementKind> {
    AgreementKind::ALL
        .into_iter()
        .filter(|k| {
            !agreements
                .iter()
                .any(|(kind, from, until)| kind == k && *from <= today && today <= *until)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn input() -> AgreementInput {
        AgreementInput {
            kind: "service".into(),
            signed_on: "2026-11-01".into(),
            person_signed: true,
            guardian_name: "张大山".into(),
            valid_until: String::new(),
        }
    }

    #[test]
    fn a_year_by_default() {
        let a = validate(&input(), d("2026-11-23")).unwrap();
        assert_eq!(
            (a.kind, a.valid_until, a.guardian_name.as_deref()),
            (AgreementKind::Service, d("2027-10-31"), Some("张大山"))
        );
    }

    #[test]
    fn problems_name_their_fields() {
        let bad = AgreementInput {
            kind: "x".into(),
            signed_on: "2026-12-01".into(),
            person_signed: false,
            guardian_name: " ".into(),
            valid_until: "2026-11-01".into(),
        };
        let errs = validate(&bad, d("2026-11-23")).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["kind", "signed_on", "signatories"]);
        let backwards = AgreementInput {
            valid_until: "2026-10-01".into(),
            ..input()
        };
        assert_eq!(
            validate(&backwards, d("2026-11-23")).unwrap_err()[0].code,
            "agreement-validity-invalid"
        );
        let forever = AgreementInput {
            valid_until: "2040-01-01".into(),
            ..input()
        };
        assert_eq!(
            validate(&forever, d("2026-11-23")).unwrap_err()[0].code,
            "agreement-validity-too-long"
        );
    }

    #[test]
    fn scans_are_checked_by_content() {
        assert_eq!(
            check_scan(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj"),
            Ok("application/pdf")
        );
        assert_eq!(
            check_scan(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Ok("image/png")
        );
        assert_eq!(
            check_scan(b"\xFF\xD8\xFF\xE0\0\x10JFIF\0"),
            Ok("image/jpeg")
        );
        assert_eq!(
            check_scan(b"MZ\x90\0 this is an .exe named scan.pdf"),
            Err("agreement-file-type")
        );
        assert_eq!(check_scan(b"PK\x03\x04 a docx"), Err("agreement-file-type"));
        assert_eq!(check_scan(b""), Err("agreement-file-empty"));
        assert_eq!(
            check_scan(&vec![0xFF; MAX_SCAN_BYTES + 1]),
            Err("agreement-file-too-large")
        );
    }

    #[test]
    fn signed_means_both_valid_today() {
        let today = d("2026-11-23");
        let both = [
            (AgreementKind::Consent, d("2026-01-01"), d("2026-12-31")),
            (AgreementKind::Service, d("2026-01-01"), d("2026-11-23")),
        ];
        assert!(signed_and_valid(&both, today));
        assert!(!signed_and_valid(&both[..1], today));
        assert!(
            !signed_and_valid(&both, d("2026-11-24")),
            "the service agreement ended"
        );
    }
}
