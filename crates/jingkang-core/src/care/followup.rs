//! The follow-up record (随访服务记录表, SPEC §4): the form as data (`data/followup_form.json`), the
//! validation of a filled form, and what the rules make of it — the condition class and the date
//! of the next follow-up (`care::schedule`).
//!
//! The form definition names every field, its kind and its options; this module knows only the
//! keys that carry meaning for the rules (see [`RULE_KEYS`]), and checks on load that the
//! definition has them. Everything else a form holds is validated by kind and stored as answered.

use std::collections::{BTreeMap, HashSet};

use anyhow::{Context, bail};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::schedule::{self, ConditionClass, Findings};
use crate::messages;

/// The kind of a field, which decides its input and its validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Date,
    /// One of the options.
    Choice,
    /// Any of the options.
    Multi,
    /// A whole number ≥ 0.
    Count,
    /// A number ≥ 0 (a dose in mg).
    Number,
    Text,
}

/// One field of the form.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FieldDef {
    pub key: String,
    pub label: String,
    pub kind: Kind,
    #[serde(default)]
    pub required: bool,
    /// Required unless the follow-up records 失访 (the person was not reached).
    #[serde(default)]
    pub required_unless_lost: bool,
    /// `[code, label]` pairs.
    #[serde(default)]
    pub options: Vec<(String, String)>,
    #[serde(default)]
    pub hint: Option<String>,
    /// Show the official risk-grade definitions beside the options.
    #[serde(default)]
    pub show_risk_definitions: bool,
}

impl FieldDef {
    /// The label of option `code`, if it is one.
    pub fn option_label(&self, code: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, l)| l.as_str())
    }
}

/// A section of the form; `repeat` sections (the three drugs) are expanded on load.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Section {
    pub title: String,
    #[serde(default)]
    pub repeat: Option<u32>,
    pub fields: Vec<FieldDef>,
}

/// The follow-up form.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FormDef {
    pub name: String,
    pub version: String,
    pub sections: Vec<Section>,
}

/// Keys the rules read, with the kind each must have.
pub const RULE_KEYS: &[(&str, Kind)] = &[
    ("visit_date", Kind::Date),
    ("mode", Kind::Choice),
    ("lost_reason", Kind::Choice),
    ("death_date", Kind::Date),
    ("risk_grade", Kind::Choice),
    ("symptom_level", Kind::Choice),
    ("insight", Kind::Choice),
    ("adverse_reaction", Kind::Choice),
    ("physical_illness", Kind::Choice),
    ("next_date", Kind::Date),
    ("doctor", Kind::Text),
];

/// Prefix of the social-function items; any one rated `poor` makes that area poor.
pub const SOCIAL_PREFIX: &str = "social.";

static SHIPPED: &str = include_str!("../../data/followup_form.json");

/// Longest text answer, in characters.
pub const MAX_TEXT: usize = 500;

impl FormDef {
    /// Parse a definition, expand its repeated sections and check it: unique keys, options for
    /// choices, the keys the rules need with the right kinds.
    pub fn parse(json: &str) -> anyhow::Result<FormDef> {
        let mut def: FormDef = serde_json::from_str(json).context("follow-up form definition")?;
        let mut sections = Vec::new();
        for s in def.sections.drain(..) {
            match s.repeat {
                None => sections.push(s),
                Some(n) => {
                    for i in 1..=n {
                        let n = i.to_string();
                        sections.push(Section {
                            title: s.title.replace("{n}", &n),
                            repeat: None,
                            fields: s
                                .fields
                                .iter()
                                .map(|f| FieldDef {
                                    key: f.key.replace("{n}", &n),
                                    label: f.label.replace("{n}", &n),
                                    ..f.clone()
                                })
                                .collect(),
                        });
                    }
                }
            }
        }
        def.sections = sections;
        let mut seen = HashSet::new();
        for f in def.fields() {
            if !seen.insert(f.key.as_str()) {
                bail!("field {} appears twice", f.key);
            }
            if matches!(f.kind, Kind::Choice | Kind::Multi) && f.options.is_empty() {
                bail!("field {} has no options", f.key);
            }
        }
        for (key, kind) in RULE_KEYS {
            match def.field(key) {
                Some(f) if f.kind == *kind => {}
                Some(f) => bail!("field {key} must be {kind:?}, not {:?}", f.kind),
                None => bail!("the rules need field {key}"),
            }
        }
        let risk = def
            .field("risk_grade")
            .map(|f| f.options.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>());
        if risk.as_deref() != Some(&["0", "1", "2", "3", "4", "5"].map(String::from)[..]) {
            bail!("risk_grade options must be the codes 0 to 5");
        }
        Ok(def)
    }

    /// The shipped form (parsed once; a test checks that it parses).
    pub fn shipped() -> anyhow::Result<&'static FormDef> {
        static FORM: std::sync::OnceLock<Result<FormDef, String>> = std::sync::OnceLock::new();
        FORM.get_or_init(|| FormDef::parse(SHIPPED).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    pub fn fields(&self) -> impl Iterator<Item = &FieldDef> {
        self.sections.iter().flat_map(|s| s.fields.iter())
    }

    pub fn field(&self, key: &str) -> Option<&FieldDef> {
        self.fields().find(|f| f.key == key)
    }
}

/// A problem with one field of a submitted form, in Chinese.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's key (`form` for the form as a whole).
    pub field: String,
    pub label: String,
    /// Stable message code (`crate::messages`).
    pub code: &'static str,
    pub message: String,
}

/// A filled form that passed validation: the answers, normalised (dates ISO, counts integers,
/// doses numbers, multi-choices arrays), and what the rules read from them.
#[derive(Debug, Clone, PartialEq)]
pub struct Followup {
    pub visit_date: NaiveDate,
    pub mode: String,
    /// 失访: the person was not reached; the clinical items may be empty.
    pub lost: bool,
    pub death_date: Option<NaiveDate>,
    pub risk_grade: Option<u8>,
    /// The findings the class depends on (absent when lost or dead).
    pub findings: Option<Findings>,
    /// A next date the doctor chose, if any.
    pub requested_next: Option<NaiveDate>,
    pub doctor: String,
    pub answers: BTreeMap<String, Value>,
}

/// What the rules make of a follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conclusion {
    pub class: Option<ConditionClass>,
    /// The next follow-up date (none after a death).
    pub next_date: Option<NaiveDate>,
}

fn field_error(f: &FieldDef, code: &'static str, args: &[(&str, &str)]) -> FieldError {
    let mut all = vec![("label", f.label.as_str())];
    all.extend_from_slice(args);
    FieldError {
        field: f.key.clone(),
        label: f.label.clone(),
        code,
        message: messages::render(code, &all),
    }
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%Y/%m/%d"))
        .ok()
}

/// Days within which a lost follow-up is tried again.
pub const LOST_RETRY_DAYS: i64 = 14;

/// Validate submitted values (`key → values`; a multi-choice may have several, every other field
/// at most one non-empty) against `form`. Every problem is reported, each naming its field; nothing
/// is decided until all pass.
pub fn validate(
    form: &FormDef,
    submitted: &BTreeMap<String, Vec<String>>,
    today: NaiveDate,
) -> Result<Followup, Vec<FieldError>> {
    let mut errors = Vec::new();
    for key in submitted.keys() {
        if form.field(key).is_none() {
            errors.push(FieldError {
                field: key.clone(),
                label: key.clone(),
                code: "followup-field-unknown",
                message: messages::render("followup-field-unknown", &[("field", key)]),
            });
        }
    }
    let lost = submitted
        .get("lost_reason")
        .is_some_and(|v| v.iter().any(|s| !s.trim().is_empty()));
    let died = submitted
        .get("death_date")
        .is_some_and(|v| v.iter().any(|s| !s.trim().is_empty()));
    let mut answers = BTreeMap::new();
    for f in form.fields() {
        let values: Vec<&str> = submitted
            .get(&f.key)
            .map(|v| {
                v.iter()
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if values.is_empty() {
            if f.required || (f.required_unless_lost && !lost && !died) {
                errors.push(field_error(f, "followup-field-missing", &[]));
            }
            continue;
        }
        if f.kind != Kind::Multi && values.len() > 1 {
            errors.push(field_error(f, "followup-field-one-value", &[]));
            continue;
        }
        let v = values[0];
        let parsed = match f.kind {
            Kind::Date => match parse_date(v) {
                Some(d) if d > today && f.key != "next_date" => {
                    Err(field_error(f, "followup-date-future", &[]))
                }
                Some(d) if d.year() < 1900 => {
                    Err(field_error(f, "followup-date-invalid", &[("value", v)]))
                }
                Some(d) => Ok(Value::String(d.to_string())),
                None => Err(field_error(f, "followup-date-invalid", &[("value", v)])),
            },
            Kind::Choice => match f.option_label(v) {
                Some(_) => Ok(Value::String(v.to_string())),
                None => Err(field_error(f, "followup-option-unknown", &[("value", v)])),
            },
            Kind::Multi => {
                let mut codes = Vec::new();
                let mut bad = None;
                for v in &values {
                    if f.option_label(v).is_none() {
                        bad = Some(*v);
                    } else if !codes.contains(v) {
                        codes.push(*v);
                    }
                }
                match bad {
                    Some(b) => Err(field_error(f, "followup-option-unknown", &[("value", b)])),
                    None => Ok(Value::Array(
                        codes
                            .into_iter()
                            .map(|c| Value::String(c.to_string()))
                            .collect(),
                    )),
                }
            }
            Kind::Count => match v.parse::<u32>() {
                Ok(n) if n <= 999 => Ok(Value::from(n)),
                _ => Err(field_error(f, "followup-count-invalid", &[("value", v)])),
            },
            Kind::Number => match v.parse::<f64>() {
                Ok(x) if x.is_finite() && (0.0..=100_000.0).contains(&x) => Ok(Value::from(x)),
                _ => Err(field_error(f, "followup-number-invalid", &[("value", v)])),
            },
            Kind::Text => {
                if v.chars().count() > MAX_TEXT {
                    Err(field_error(
                        f,
                        "followup-text-too-long",
                        &[("max", &MAX_TEXT.to_string())],
                    ))
                } else {
                    Ok(Value::String(v.to_string()))
                }
            }
        };
        match parsed {
            Ok(value) => {
                answers.insert(f.key.clone(), value);
            }
            Err(e) => errors.push(e),
        }
    }
    // A dose needs its drug.
    for s in &form.sections {
        let Some(name_field) = s.fields.iter().find(|f| f.key.ends_with(".name")) else {
            continue;
        };
        let has_dose = s
            .fields
            .iter()
            .any(|f| f.kind == Kind::Number && answers.contains_key(&f.key));
        if has_dose && !answers.contains_key(&name_field.key) {
            errors.push(field_error(
                name_field,
                "followup-drug-name-missing",
                &[("section", &s.title)],
            ));
        }
    }
    let text = |k: &str| answers.get(k).and_then(Value::as_str).map(str::to_string);
    let date = |k: &str| text(k).and_then(|s| parse_date(&s));
    if let (Some(visit), Some(death)) = (date("visit_date"), date("death_date"))
        && death > visit
        && let Some(f) = form.field("death_date")
    {
        errors.push(field_error(f, "followup-death-after-visit", &[]));
    }
    if let (Some(visit), Some(next)) = (date("visit_date"), date("next_date"))
        && next <= visit
        && let Some(f) = form.field("next_date")
    {
        errors.push(field_error(f, "followup-next-not-after-visit", &[]));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let (Some(visit_date), Some(mode), Some(doctor)) =
        (date("visit_date"), text("mode"), text("doctor"))
    else {
        // Required fields were checked above; reaching here would be a form-definition bug.
        return Err(vec![FieldError {
            field: "form".into(),
            label: form.name.clone(),
            code: "form-invalid",
            message: messages::template("form-invalid").into(),
        }]);
    };
    let risk_grade = text("risk_grade").and_then(|s| s.parse::<u8>().ok());
    let is = |k: &str, code: &str| text(k).as_deref() == Some(code);
    let findings = (!lost && !died).then(|| {
        let social_poor = answers
            .iter()
            .any(|(k, v)| k.starts_with(SOCIAL_PREFIX) && v.as_str() == Some("poor"));
        Findings {
            risk_grade: risk_grade.unwrap_or(0),
            marked_psychotic_symptoms: is("symptom_level", "marked"),
            no_insight: is("insight", "none"),
            serious_adverse_reaction: is("adverse_reaction", "serious"),
            serious_physical_illness: is("physical_illness", "yes"),
            areas_poor: u8::from(is("symptom_level", "mild"))
                + u8::from(is("insight", "partial"))
                + u8::from(social_poor),
        }
    });
    Ok(Followup {
        visit_date,
        mode,
        lost,
        death_date: date("death_date"),
        risk_grade,
        findings,
        requested_next: date("next_date"),
        doctor,
        answers,
    })
}

/// Validate a JSON object (the API's body): strings, numbers, booleans or arrays of strings.
pub fn validate_json(
    form: &FormDef,
    body: &serde_json::Map<String, Value>,
    today: NaiveDate,
) -> Result<Followup, Vec<FieldError>> {
    let mut submitted = BTreeMap::new();
    for (k, v) in body {
        let values = match v {
            Value::Null => Vec::new(),
            Value::String(s) => vec![s.clone()],
            Value::Number(n) => vec![n.to_string()],
            Value::Array(items) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
            other => vec![other.to_string()],
        };
        submitted.insert(k.clone(), values);
    }
    validate(form, &submitted, today)
}

/// The class and next date of a validated follow-up; `previous` is the class the last follow-up
/// found. A next date the doctor chose may be earlier than the rule's, never later.
pub fn conclude(
    form: &FormDef,
    f: &Followup,
    previous: Option<ConditionClass>,
) -> Result<Conclusion, FieldError> {
    if f.death_date.is_some() {
        return Ok(Conclusion {
            class: None,
            next_date: None,
        });
    }
    let (class, rule_date) = match &f.findings {
        Some(findings) => {
            let class = schedule::classify(findings);
            (
                Some(class),
                schedule::next_followup(f.visit_date, class, previous),
            )
        }
        None => (None, f.visit_date + chrono::Duration::days(LOST_RETRY_DAYS)),
    };
    let next_date = match f.requested_next {
        Some(d) if d > rule_date => {
            let field = form.field("next_date").cloned().unwrap_or(FieldDef {
                key: "next_date".into(),
                label: "下次随访日期".into(),
                kind: Kind::Date,
                required: false,
                required_unless_lost: false,
                options: Vec::new(),
                hint: None,
                show_risk_definitions: false,
            });
            let why = class.map_or("失访".to_string(), |c| {
                format!("病情分类“{}”", c.label_zh())
            });
            return Err(field_error(
                &field,
                "followup-next-too-late",
                &[("latest", &rule_date.to_string()), ("why", &why)],
            ));
        }
        Some(d) => d,
        None => rule_date,
    };
    Ok(Conclusion {
        class,
        next_date: Some(next_date),
    })
}

/// A readable rendering of one stored answer (option labels, not codes).
pub fn display_answer(f: &FieldDef, v: &Value) -> String {
    match v {
        Value::String(s) => f.option_label(s).map_or_else(|| s.clone(), str::to_string),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|c| f.option_label(c).unwrap_or(c).to_string())
            .collect::<Vec<_>>()
            .join("、"),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn form() -> &'static FormDef {
        FormDef::shipped().unwrap()
    }

    fn filled(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
        m
    }

    /// A complete, calm follow-up by home visit.
    fn calm() -> Vec<(&'static str, &'static str)> {
        vec![
            ("visit_date", "2026-11-20"),
            ("mode", "home"),
            ("risk_grade", "0"),
            ("symptom_level", "none"),
            ("insight", "complete"),
            ("social.self_care", "good"),
            ("social.housework", "good"),
            ("social.work", "na"),
            ("social.learning", "fair"),
            ("social.interpersonal", "good"),
            ("adherence", "regular"),
            ("doctor", "王医生"),
        ]
    }

    fn with(
        base: Vec<(&'static str, &'static str)>,
        over: &[(&'static str, &'static str)],
    ) -> BTreeMap<String, Vec<String>> {
        let mut pairs: Vec<_> = base
            .into_iter()
            .filter(|(k, _)| !over.iter().any(|(o, _)| o == k))
            .collect();
        pairs.extend_from_slice(over);
        filled(&pairs)
    }

    const TODAY: &str = "2026-11-23";

    #[test]
    fn the_shipped_form_has_every_section_of_the_2018_record() {
        let f = form();
        for key in [
            "mode",
            "lost_reason",
            "death_date",
            "death_cause",
            "risk_grade",
            "symptoms",
            "insight",
            "sleep",
            "diet",
            "social.self_care",
            "social.housework",
            "social.work",
            "social.learning",
            "social.interpersonal",
            "danger.minor_trouble",
            "danger.trouble",
            "danger.disaster",
            "danger.other",
            "danger.self_harm",
            "danger.suicide_attempt",
            "locked",
            "hospitalisation",
            "last_discharge",
            "lab",
            "adherence",
            "adverse_reaction",
            "effect",
            "referral",
            "drug1.name",
            "drug2.morning_mg",
            "drug3.night_mg",
            "injection.name",
            "rehab_measures",
            "next_date",
            "doctor",
        ] {
            assert!(f.field(key).is_some(), "{key}");
        }
        assert_eq!(
            f.field("symptoms").unwrap().options.len(),
            12,
            "12 symptoms"
        );
        assert_eq!(
            f.fields()
                .filter(|f| f.key.starts_with(SOCIAL_PREFIX))
                .count(),
            5
        );
        assert!(
            f.fields().all(|f| !f.key.contains("{n}")),
            "repeats expanded"
        );
    }

    #[test]
    fn a_calm_follow_up_is_stable_with_the_next_in_three_months() {
        let f = validate(form(), &filled(&calm()), d(TODAY)).unwrap();
        assert!(!f.lost);
        assert_eq!(f.risk_grade, Some(0));
        let c = conclude(form(), &f, None).unwrap();
        assert_eq!(c.class, Some(ConditionClass::Stable));
        assert_eq!(c.next_date, Some(d("2027-02-20")));
        assert_eq!(f.answers["social.work"], Value::String("na".into()));
    }

    #[test]
    fn findings_decide_the_class() {
        let cases: &[(&[(&str, &str)], ConditionClass)] = &[
            (&[("risk_grade", "3")], ConditionClass::Unstable),
            (&[("risk_grade", "2")], ConditionClass::BasicallyStable),
            (&[("symptom_level", "marked")], ConditionClass::Unstable),
            (
                &[("symptom_level", "mild")],
                ConditionClass::BasicallyStable,
            ),
            (&[("insight", "none")], ConditionClass::Unstable),
            (&[("insight", "partial")], ConditionClass::BasicallyStable),
            (
                &[("social.housework", "poor")],
                ConditionClass::BasicallyStable,
            ),
            (&[("adverse_reaction", "serious")], ConditionClass::Unstable),
            (&[("adverse_reaction", "mild")], ConditionClass::Stable),
            (&[("physical_illness", "yes")], ConditionClass::Unstable),
        ];
        for (over, class) in cases {
            let f = validate(form(), &with(calm(), over), d(TODAY)).unwrap();
            assert_eq!(
                conclude(form(), &f, None).unwrap().class,
                Some(*class),
                "{over:?}"
            );
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let sub = filled(&[
            ("visit_date", "2026-13-01"),
            ("mode", "fax"),
            ("risk_grade", "7"),
            ("danger.trouble", "-1"),
            ("drug1.morning_mg", "abc"),
            ("drug2.noon_mg", "100"),
            ("nonsense", "1"),
        ]);
        let errs = validate(form(), &sub, d(TODAY)).unwrap_err();
        let by = |k: &str| {
            errs.iter()
                .find(|e| e.field == k)
                .unwrap_or_else(|| panic!("no error for {k}: {errs:?}"))
        };
        assert!(by("visit_date").message.contains("随访日期"));
        assert!(by("mode").message.contains("fax"));
        assert_eq!(by("risk_grade").code, "followup-option-unknown");
        assert_eq!(by("danger.trouble").code, "followup-count-invalid");
        assert_eq!(by("drug1.morning_mg").code, "followup-number-invalid");
        assert_eq!(by("drug2.name").code, "followup-drug-name-missing");
        assert_eq!(by("nonsense").code, "followup-field-unknown");
        assert_eq!(by("doctor").code, "followup-field-missing");
        assert_eq!(by("insight").code, "followup-field-missing");
        assert!(
            errs.iter()
                .all(|e| !e.message.is_empty() && !e.message.contains('{')),
            "{errs:?}"
        );
    }

    #[test]
    fn dates_are_checked() {
        let errs = validate(
            form(),
            &with(calm(), &[("visit_date", "2026-11-24")]),
            d(TODAY),
        )
        .unwrap_err();
        assert_eq!(errs[0].code, "followup-date-future");
        let errs = validate(
            form(),
            &with(calm(), &[("next_date", "2026-11-20")]),
            d(TODAY),
        )
        .unwrap_err();
        assert_eq!(errs[0].code, "followup-next-not-after-visit");
        let errs = validate(
            form(),
            &with(calm(), &[("death_date", "2026-11-21")]),
            d(TODAY),
        )
        .unwrap_err();
        assert_eq!(errs[0].code, "followup-death-after-visit");
    }

    #[test]
    fn a_lost_follow_up_needs_no_findings_and_is_retried_in_two_weeks() {
        let sub = filled(&[
            ("visit_date", "2026-11-20"),
            ("mode", "phone"),
            ("lost_reason", "migrant_work"),
            ("doctor", "王医生"),
        ]);
        let f = validate(form(), &sub, d(TODAY)).unwrap();
        assert!(f.lost);
        assert_eq!(f.findings, None);
        let c = conclude(form(), &f, Some(ConditionClass::Stable)).unwrap();
        assert_eq!(
            c,
            Conclusion {
                class: None,
                next_date: Some(d("2026-12-04"))
            }
        );
    }

    #[test]
    fn a_death_ends_the_schedule() {
        let sub = filled(&[
            ("visit_date", "2026-11-20"),
            ("mode", "home"),
            ("death_date", "2026-11-18"),
            ("death_cause", "accident"),
            ("doctor", "王医生"),
        ]);
        let f = validate(form(), &sub, d(TODAY)).unwrap();
        assert_eq!(
            conclude(form(), &f, None).unwrap(),
            Conclusion {
                class: None,
                next_date: None
            }
        );
    }

    #[test]
    fn the_doctor_may_bring_the_next_date_forward_not_back() {
        let f = validate(
            form(),
            &with(calm(), &[("next_date", "2026-12-20")]),
            d(TODAY),
        )
        .unwrap();
        assert_eq!(
            conclude(form(), &f, None).unwrap().next_date,
            Some(d("2026-12-20"))
        );
        let f = validate(
            form(),
            &with(calm(), &[("risk_grade", "3"), ("next_date", "2026-12-20")]),
            d(TODAY),
        )
        .unwrap();
        let e = conclude(form(), &f, None).unwrap_err();
        assert_eq!(e.code, "followup-next-too-late");
        assert!(
            e.message.contains("2026-12-04") && e.message.contains("不稳定"),
            "{}",
            e.message
        );
    }

    #[test]
    fn json_bodies_validate_like_forms() {
        let body = serde_json::json!({
            "visit_date": "2026-11-20", "mode": "clinic", "risk_grade": 1, "symptom_level": "none", "insight": "complete",
            "social.self_care": "good", "social.housework": "good", "social.work": "good", "social.learning": "good",
            "social.interpersonal": "good", "adherence": "regular", "doctor": "李医生",
            "symptoms": ["suspicion", "withdrawn"], "drug1.name": "利培酮", "drug1.night_mg": 2, "danger.minor_trouble": 0
        });
        let f = validate_json(form(), body.as_object().unwrap(), d(TODAY)).unwrap();
        assert_eq!(f.risk_grade, Some(1));
        assert_eq!(
            f.answers["symptoms"],
            serde_json::json!(["suspicion", "withdrawn"])
        );
        assert_eq!(f.answers["drug1.night_mg"], serde_json::json!(2.0));
        assert_eq!(
            conclude(form(), &f, None).unwrap().class,
            Some(ConditionClass::BasicallyStable)
        );
    }

    #[test]
    fn broken_definitions_are_refused() {
        let mut v: Value = serde_json::from_str(SHIPPED).unwrap();
        v["sections"][0]["fields"]
            .as_array_mut()
            .unwrap()
            .retain(|f| f["key"] != "mode");
        assert!(
            FormDef::parse(&v.to_string())
                .unwrap_err()
                .to_string()
                .contains("mode")
        );
        let mut v: Value = serde_json::from_str(SHIPPED).unwrap();
        let first = v["sections"][0]["fields"][0].clone();
        v["sections"][0]["fields"]
            .as_array_mut()
            .unwrap()
            .push(first);
        assert!(
            FormDef::parse(&v.to_string())
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }
}
