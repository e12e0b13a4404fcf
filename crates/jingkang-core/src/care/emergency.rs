//! Emergency events (应急处置, SPEC §4): what happened, when, how dangerous, what was done. An
//! event is recorded within 24 hours; a later record needs the reason for the delay. Grade ≥ 3
//! alerts the police and the township at once (`store::alerts`).

use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;

use super::followup::{FieldError, MAX_TEXT};
use crate::messages;

/// Hours within which an event must be recorded.
pub const RECORD_WITHIN_HOURS: i64 = 24;
/// The grade from which the police and the township are alerted.
pub const ALERT_GRADE: u8 = 3;

/// What happened (any of).
pub const KINDS: &[(&str, &str)] = &[
    ("hurt_others", "伤人"),
    ("damage", "毁物"),
    ("self_harm", "自伤"),
    ("suicide", "自杀（含未遂）"),
    ("disturbance", "扰乱公共秩序"),
    ("wandering", "走失"),
    ("acute_relapse", "急性发病"),
    ("other", "其他"),
];

/// What was done (any of).
pub const MEASURES: &[(&str, &str)] = &[
    ("on_site", "现场心理危机干预/劝导"),
    ("medication", "现场药物处置"),
    ("sent_to_hospital", "送精神专科医院"),
    ("police_assist", "公安协助处置"),
    ("emergency_admission", "紧急住院"),
    ("guardian_notified", "通知监护人"),
    ("other", "其他"),
];

fn label_of(table: &[(&str, &'static str)], code: &str) -> Option<&'static str> {
    table.iter().find(|(c, _)| *c == code).map(|(_, l)| *l)
}

pub fn kind_label(code: &str) -> &'static str {
    label_of(KINDS, code).unwrap_or("")
}

pub fn measure_label(code: &str) -> &'static str {
    label_of(MEASURES, code).unwrap_or("")
}

/// A submitted emergency record, before validation (form fields as text).
#[derive(Debug, Clone, Default)]
pub struct EmergencyInput {
    /// `YYYY-MM-DDTHH:MM` (the browser's datetime-local), Beijing time.
    pub occurred_at: String,
    pub risk_grade: String,
    pub kinds: Vec<String>,
    pub place: String,
    pub description: String,
    pub measures: Vec<String>,
    pub outcome: String,
    pub late_reason: String,
}

/// A validated emergency record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Emergency {
    pub occurred_at: DateTime<Utc>,
    pub risk_grade: u8,
    pub kinds: Vec<String>,
    pub place: String,
    pub description: String,
    pub measures: Vec<String>,
    pub outcome: String,
    /// Why it was recorded more than 24 hours after it happened.
    pub late_reason: Option<String>,
}

impl Emergency {
    pub fn alerts(&self) -> bool {
        self.risk_grade >= ALERT_GRADE
    }
}

/// A time as users read it: China time, to the minute.
pub use crate::domain::clock::minute as beijing_minute;

fn beijing() -> FixedOffset {
    crate::domain::clock::china()
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

/// Validate `input` at `now`; every problem is reported with its field.
pub fn validate(input: &EmergencyInput, now: DateTime<Utc>) -> Result<Emergency, Vec<FieldError>> {
    let mut errors = Vec::new();
    let occurred = input.occurred_at.trim();
    let occurred_at = if occurred.is_empty() {
        errors.push(err(
            "occurred_at",
            "发生时间",
            "followup-field-missing",
            &[],
        ));
        None
    } else {
        match NaiveDateTime::parse_from_str(occurred, "%Y-%m-%dT%H:%M")
            .or_else(|_| NaiveDateTime::parse_from_str(occurred, "%Y-%m-%d %H:%M"))
        {
            Ok(t) => match beijing()
                .from_local_datetime(&t)
                .single()
                .map(|t| t.with_timezone(&Utc))
            {
                Some(t) if t > now + Duration::minutes(5) => {
                    errors.push(err("occurred_at", "发生时间", "followup-date-future", &[]));
                    None
                }
                Some(t) => Some(t),
                None => {
                    errors.push(err(
                        "occurred_at",
                        "发生时间",
                        "emergency-time-invalid",
                        &[("value", occurred)],
                    ));
                    None
                }
            },
            Err(_) => {
                errors.push(err(
                    "occurred_at",
                    "发生时间",
                    "emergency-time-invalid",
                    &[("value", occurred)],
                ));
                None
            }
        }
    };
    let risk_grade = match input.risk_grade.trim().parse::<u8>() {
        Ok(g) if g <= 5 => Some(g),
        _ if input.risk_grade.trim().is_empty() => {
            errors.push(err(
                "risk_grade",
                "危险性评估",
                "followup-field-missing",
                &[],
            ));
            None
        }
        _ => {
            errors.push(err(
                "risk_grade",
                "危险性评估",
                "followup-option-unknown",
                &[("value", input.risk_grade.trim())],
            ));
            None
        }
    };
    let pick = |field: &str,
                label: &str,
                values: &[String],
                table: &[(&str, &'static str)],
                errors: &mut Vec<FieldError>|
     -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
            if label_of(table, v).is_none() {
                errors.push(err(
                    field,
                    label,
                    "followup-option-unknown",
                    &[("value", v)],
                ));
            } else if !out.iter().any(|o| o == v) {
                out.push(v.to_string());
            }
        }
        if out.is_empty() && !errors.iter().any(|e| e.field == field) {
            errors.push(err(field, label, "followup-field-missing", &[]));
        }
        out
    };
    let kinds = pick("kinds", "事件类型", &input.kinds, KINDS, &mut errors);
    let measures = pick(
        "measures",
        "处置措施",
        &input.measures,
        MEASURES,
        &mut errors,
    );
    let text = |field: &str,
                label: &str,
                v: &str,
                required: bool,
                errors: &mut Vec<FieldError>|
     -> String {
        let v = v.trim();
        if v.is_empty() && required {
            errors.push(err(field, label, "followup-field-missing", &[]));
        } else if v.chars().count() > MAX_TEXT {
            errors.push(err(
                field,
                label,
                "followup-text-too-long",
                &[("max", &MAX_TEXT.to_string())],
            ));
        }
        v.to_string()
    };
    let place = text("place", "发生地点", &input.place, false, &mut errors);
    let description = text(
        "description",
        "事件经过",
        &input.description,
        true,
        &mut errors,
    );
    let outcome = text("outcome", "处置结果", &input.outcome, false, &mut errors);
    let late_reason = text(
        "late_reason",
        "延迟报告原因",
        &input.late_reason,
        false,
        &mut errors,
    );
    if let Some(t) = occurred_at
        && now - t > Duration::hours(RECORD_WITHIN_HOURS)
        && late_reason.is_empty()
    {
        errors.push(err(
            "late_reason",
            "延迟报告原因",
            "emergency-late-reason-missing",
            &[],
        ));
    }
    match (occurred_at, risk_grade) {
        (Some(occurred_at), Some(risk_grade)) if errors.is_empty() => Ok(Emergency {
            occurred_at,
            risk_grade,
            kinds,
            place,
            description,
            measures,
            outcome,
            late_reason: Some(late_reason).filter(|r| !r.is_empty()),
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        // 2026-11-23 12:00 Beijing.
        Utc.with_ymd_and_hms(2026, 11, 23, 4, 0, 0).unwrap()
    }

    fn input() -> EmergencyInput {
        EmergencyInput {
            occurred_at: "2026-11-23T09:30".into(),
            risk_grade: "3".into(),
            kinds: vec!["damage".into()],
            place: "家中".into(),
            description: "在家中砸毁电视，家属劝说无效".into(),
            measures: vec!["on_site".into(), "police_assist".into()],
            outcome: "已送医".into(),
            late_reason: String::new(),
        }
    }

    #[test]
    fn a_timely_record_passes_and_alerts_from_grade_three() {
        let e = validate(&input(), now()).unwrap();
        assert_eq!(
            e.occurred_at,
            Utc.with_ymd_and_hms(2026, 11, 23, 1, 30, 0).unwrap(),
            "Beijing time"
        );
        assert!(e.alerts());
        let calm = validate(
            &EmergencyInput {
                risk_grade: "2".into(),
                ..input()
            },
            now(),
        )
        .unwrap();
        assert!(!calm.alerts());
    }

    #[test]
    fn late_records_need_a_reason() {
        let late = EmergencyInput {
            occurred_at: "2026-11-22T11:59".into(),
            ..input()
        };
        let errs = validate(&late, now()).unwrap_err();
        assert_eq!(
            errs.iter().map(|e| e.code).collect::<Vec<_>>(),
            ["emergency-late-reason-missing"]
        );
        let ok = EmergencyInput {
            late_reason: "家属次日才告知".into(),
            ..late
        };
        assert_eq!(
            validate(&ok, now()).unwrap().late_reason.as_deref(),
            Some("家属次日才告知")
        );
        // Exactly 24 hours before is still on time.
        assert!(
            validate(
                &EmergencyInput {
                    occurred_at: "2026-11-22T12:00".into(),
                    ..input()
                },
                now()
            )
            .is_ok()
        );
    }

    #[test]
    fn every_problem_names_its_field() {
        let bad = EmergencyInput {
            occurred_at: "昨天".into(),
            risk_grade: "6".into(),
            kinds: vec!["fire".into()],
            measures: vec![],
            description: " ".into(),
            ..input()
        };
        let errs = validate(&bad, now()).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "occurred_at",
                "risk_grade",
                "kinds",
                "measures",
                "description"
            ]
        );
        assert!(errs.iter().all(|e| e.message.contains('【')), "{errs:?}");
        let future = EmergencyInput {
            occurred_at: "2026-11-23T13:00".into(),
            ..input()
        };
        assert_eq!(
            validate(&future, now()).unwrap_err()[0].code,
            "followup-date-future"
        );
    }
}
