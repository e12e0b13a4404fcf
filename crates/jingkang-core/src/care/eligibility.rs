//! The eligibility rule for community rehabilitation (SPEC §3), as data (`data/eligibility.json`),
//! and its evaluation against a record: each condition with its verdict and the data behind it.
//!
//! Two conditions have no data in the registry yet — serious physical or infectious disease, and the
//! signed agreement — and are `Unknown` unless the evaluator states them.

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::Deserialize;

use crate::registry::PersonData;

/// A severe mental disorder of the national list, by ICD-10 code prefixes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Disorder {
    pub name: String,
    pub icd10: Vec<String>,
}

/// The rule; see `data/eligibility.json` for the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rule {
    pub min_age: u32,
    pub max_age: u32,
    /// Disability certificate category digit (6 = 精神).
    pub certificate_category: i64,
    pub certificate_grades: Vec<i64>,
    pub severe_disorders: Vec<Disorder>,
    pub max_risk_grade: i64,
    pub risk_months: u32,
}

static DEFAULT_RULE: &str = include_str!("../../data/eligibility.json");

impl Rule {
    /// The shipped rule.
    pub fn default_rule() -> anyhow::Result<Rule> {
        Ok(serde_json::from_str(DEFAULT_RULE)?)
    }

    /// The listed disorder an ICD-10 code belongs to (`F20.0` → 精神分裂症).
    pub fn disorder_of(&self, code: &str) -> Option<&Disorder> {
        let code = code.trim().to_ascii_uppercase();
        self.severe_disorders
            .iter()
            .find(|d| d.icd10.iter().any(|p| code.starts_with(p.as_str())))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// No data to decide on.
    Unknown,
}

impl Verdict {
    pub fn label_zh(self) -> &'static str {
        match self {
            Verdict::Pass => "符合",
            Verdict::Fail => "不符合",
            Verdict::Unknown => "待核实",
        }
    }
}

/// One condition of the rule, decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub key: &'static str,
    /// The condition as a clerk reads it.
    pub condition: String,
    pub verdict: Verdict,
    /// The data behind the verdict, in Chinese.
    pub detail: String,
}

/// A change of the risk grade: when, and the grade before and after (`None`: not recorded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskChange {
    pub at: DateTime<Utc>,
    pub old: Option<i64>,
    pub new: Option<i64>,
}

/// What the evaluation looks at beyond the record.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Changes of the risk grade, oldest first (from the record's history).
    pub risk_changes: Vec<RiskChange>,
    /// Stated by the evaluator: `Some(true)` when there is no serious physical or infectious disease.
    pub no_serious_disease: Option<bool>,
    /// Stated by the evaluator, or known from a stored agreement.
    pub agreement_signed: Option<bool>,
}

/// Age in whole years on `day`.
pub fn age_on(birth: NaiveDate, day: NaiveDate) -> i32 {
    let mut age = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

fn grade_text(g: Option<i64>) -> String {
    g.map_or_else(|| "未评估".to_string(), |g| format!("{g} 级"))
}

/// Every condition of `rule` for `person` on `today`.
pub fn evaluate(
    rule: &Rule,
    person: &PersonData,
    evidence: &Evidence,
    today: NaiveDate,
) -> Vec<Check> {
    let mut checks = Vec::with_capacity(6);

    let age = age_on(person.birth_date, today);
    let in_range = age >= rule.min_age as i32 && age <= rule.max_age as i32;
    checks.push(Check {
        key: "age",
        condition: format!("年龄 {}～{} 周岁", rule.min_age, rule.max_age),
        verdict: if in_range {
            Verdict::Pass
        } else {
            Verdict::Fail
        },
        detail: format!("{age} 周岁（{} 出生）", person.birth_date),
    });

    // The record is in the evaluator's scope by its residence, so residing in the area holds; the
    // detail names both places so the clerk sees them.
    checks.push(Check {
        key: "area",
        condition: "户籍或居住在本地区".into(),
        verdict: Verdict::Pass,
        detail: match &person.household_region {
            Some(h) if !h.is_empty() => {
                format!("现居住地 {}，户籍地 {}", person.residence_region, h)
            }
            _ => format!("现居住地 {}", person.residence_region),
        },
    });

    let certificate_ok = person.disability_category == Some(rule.certificate_category)
        && person
            .disability_grade
            .is_some_and(|g| rule.certificate_grades.contains(&g));
    let disorder = person
        .diagnosis_code
        .as_deref()
        .and_then(|c| rule.disorder_of(c));
    let grades: Vec<String> = rule
        .certificate_grades
        .iter()
        .map(|g| format!("{g}"))
        .collect();
    let mut found = Vec::new();
    if let (Some(c), Some(g)) = (person.disability_category, person.disability_grade) {
        found.push(format!("残疾证类别 {c}、等级 {g}"));
    }
    // The diagnosis is a masked field: the detail says only whether it is on the list.
    if person
        .diagnosis_code
        .as_deref()
        .is_some_and(|c| !c.trim().is_empty())
    {
        found.push(if disorder.is_some() {
            "诊断属六类严重精神障碍".to_string()
        } else {
            "诊断不在六类严重精神障碍之列".to_string()
        });
    }
    checks.push(Check {
        key: "diagnosis",
        condition: format!(
            "持精神残疾证（{} 级）或患六类严重精神障碍之一",
            grades.join("、")
        ),
        verdict: if certificate_ok || disorder.is_some() {
            Verdict::Pass
        } else if found.is_empty() {
            Verdict::Unknown
        } else {
            Verdict::Fail
        },
        detail: if found.is_empty() {
            "未登记残疾证类别等级或诊断".into()
        } else {
            found.join("；")
        },
    });

    checks.push(Check {
        key: "physical",
        condition: "无严重躯体疾病或传染病".into(),
        verdict: match evidence.no_serious_disease {
            Some(true) => Verdict::Pass,
            Some(false) => Verdict::Fail,
            None => Verdict::Unknown,
        },
        detail: match evidence.no_serious_disease {
            Some(true) => "评估人确认无".into(),
            Some(false) => "评估人确认有".into(),
            None => "需评估人核实".into(),
        },
    });

    // The grades in effect at any time in the window: the one at its start and every later one.
    let since = today
        .checked_sub_months(Months::new(rule.risk_months))
        .unwrap_or(today);
    let in_window: Vec<&RiskChange> = evidence
        .risk_changes
        .iter()
        .filter(|c| c.at.date_naive() >= since)
        .collect();
    let at_start = in_window.first().map_or(person.risk_grade, |c| c.old);
    let mut seen: Vec<Option<i64>> = vec![at_start];
    seen.extend(in_window.iter().map(|c| c.new));
    let worst = seen.iter().flatten().max().copied();
    let risk_verdict = if seen.iter().all(Option::is_none) {
        Verdict::Unknown
    } else if worst.is_some_and(|w| w > rule.max_risk_grade) {
        Verdict::Fail
    } else if seen.iter().any(Option::is_none) {
        Verdict::Unknown
    } else {
        Verdict::Pass
    };
    checks.push(Check {
        key: "risk",
        condition: format!(
            "近 {} 个月危险性评估均为 0～{} 级",
            rule.risk_months, rule.max_risk_grade
        ),
        verdict: risk_verdict,
        detail: format!(
            "{since} 以来：{}",
            seen.iter()
                .map(|g| grade_text(*g))
                .collect::<Vec<_>>()
                .join(" → ")
        ),
    });

    checks.push(Check {
        key: "agreement",
        condition: "已与本人及监护人签订知情同意书和服务协议".into(),
        verdict: match evidence.agreement_signed {
            Some(true) => Verdict::Pass,
            Some(false) => Verdict::Fail,
            None => Verdict::Unknown,
        },
        detail: match evidence.agreement_signed {
            Some(true) => "已签订".into(),
            Some(false) => "未签订".into(),
            None => "需核实协议".into(),
        },
    });
    checks
}

/// Eligible when every condition passes.
pub fn eligible(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.verdict == Verdict::Pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(birth: &str) -> PersonData {
        PersonData {
            id_number: "500110199001011234".into(),
            name: "张三".into(),
            sex: "male".into(),
            birth_date: NaiveDate::parse_from_str(birth, "%Y-%m-%d").unwrap(),
            residence_region: "500110004".into(),
            ..Default::default()
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap()
            .and_utc()
    }

    fn verdicts(checks: &[Check]) -> Vec<(&'static str, Verdict)> {
        checks.iter().map(|c| (c.key, c.verdict)).collect()
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    #[test]
    fn the_shipped_rule_parses_and_names_six_disorders() {
        let rule = Rule::default_rule().unwrap();
        assert_eq!(
            (
                rule.min_age,
                rule.max_age,
                rule.max_risk_grade,
                rule.risk_months
            ),
            (18, 60, 2, 6)
        );
        assert_eq!(rule.severe_disorders.len(), 6);
        assert_eq!(
            rule.disorder_of("f20.0").map(|d| d.name.as_str()),
            Some("精神分裂症")
        );
        assert_eq!(
            rule.disorder_of("F32.1"),
            None,
            "depression is not on the list"
        );
    }

    #[test]
    fn a_person_meeting_every_condition_is_eligible() {
        let rule = Rule::default_rule().unwrap();
        let mut p = person("1990-01-01");
        p.diagnosis_code = Some("F20.0".into());
        p.risk_grade = Some(1);
        let ev = Evidence {
            risk_changes: vec![RiskChange {
                at: at("2026-09-01"),
                old: Some(2),
                new: Some(1),
            }],
            no_serious_disease: Some(true),
            agreement_signed: Some(true),
        };
        let checks = evaluate(&rule, &p, &ev, today());
        assert!(eligible(&checks), "{checks:?}");
        assert!(
            checks.iter().all(|c| !c.detail.contains("F20")),
            "no diagnosis in clear"
        );
        assert!(
            checks
                .iter()
                .find(|c| c.key == "risk")
                .unwrap()
                .detail
                .contains("2 级 → 1 级")
        );
    }

    #[test]
    fn each_condition_fails_on_its_own_data() {
        let rule = Rule::default_rule().unwrap();
        let ok = Evidence {
            no_serious_disease: Some(true),
            agreement_signed: Some(true),
            ..Default::default()
        };
        // Age: 60 is in, the day after the 61st birthday... 61 is out; 17 is out.
        let mut p = person("1966-11-25");
        p.disability_category = Some(6);
        p.disability_grade = Some(3);
        p.risk_grade = Some(0);
        assert!(eligible(&evaluate(&rule, &p, &ok, today())), "60 today");
        p.birth_date = NaiveDate::from_ymd_opt(1965, 11, 25).unwrap();
        assert_eq!(
            verdicts(&evaluate(&rule, &p, &ok, today()))[0],
            ("age", Verdict::Fail)
        );
        p.birth_date = NaiveDate::from_ymd_opt(2008, 11, 26).unwrap();
        assert_eq!(
            verdicts(&evaluate(&rule, &p, &ok, today()))[0],
            ("age", Verdict::Fail),
            "17, 18 tomorrow"
        );
        p.birth_date = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap();
        // Certificate: 精神 grade 2 fails, another category fails, nothing recorded is unknown.
        p.disability_grade = Some(2);
        assert_eq!(
            verdicts(&evaluate(&rule, &p, &ok, today()))[2],
            ("diagnosis", Verdict::Fail)
        );
        p.disability_category = Some(4);
        p.disability_grade = Some(3);
        assert_eq!(
            verdicts(&evaluate(&rule, &p, &ok, today()))[2],
            ("diagnosis", Verdict::Fail)
        );
        p.disability_category = None;
        p.disability_grade = None;
        assert_eq!(
            verdicts(&evaluate(&rule, &p, &ok, today()))[2],
            ("diagnosis", Verdict::Unknown)
        );
        // ...and a listed diagnosis passes without a certificate.
        p.diagnosis_code = Some("F31.2".into());
        assert!(eligible(&evaluate(&rule, &p, &ok, today())));
        // Risk: grade 3 four months ago fails even though it is 0 now; seven months ago is outside.
        let ev = Evidence {
            risk_changes: vec![
                RiskChange {
                    at: at("2026-04-01"),
                    old: None,
                    new: Some(4),
                },
                RiskChange {
                    at: at("2026-07-20"),
                    old: Some(4),
                    new: Some(3),
                },
                RiskChange {
                    at: at("2026-08-01"),
                    old: Some(3),
                    new: Some(0),
                },
            ],
            ..ok.clone()
        };
        let checks = evaluate(&rule, &p, &ev, today());
        assert_eq!(verdicts(&checks)[4], ("risk", Verdict::Fail));
        assert!(
            checks[4].detail.contains("4 级 → 3 级 → 0 级"),
            "{}",
            checks[4].detail
        );
        let calm = Evidence {
            risk_changes: vec![RiskChange {
                at: at("2026-04-01"),
                old: Some(4),
                new: Some(0),
            }],
            ..ok.clone()
        };
        assert_eq!(
            verdicts(&evaluate(&rule, &p, &calm, today()))[4],
            ("risk", Verdict::Pass)
        );
        p.risk_grade = None;
        assert_eq!(
            verdicts(&evaluate(&rule, &p, &ok, today()))[4],
            ("risk", Verdict::Unknown),
            "never assessed"
        );
        // The evaluator's statements.
        let unstated = Evidence::default();
        let v = verdicts(&evaluate(&rule, &p, &unstated, today()));
        assert_eq!(
            (v[3], v[5]),
            (
                ("physical", Verdict::Unknown),
                ("agreement", Verdict::Unknown)
            )
        );
        let refused = Evidence {
            no_serious_disease: Some(false),
            agreement_signed: Some(false),
            ..Default::default()
        };
        let v = verdicts(&evaluate(&rule, &p, &refused, today()));
        assert_eq!(
            (v[3], v[5]),
            (("physical", Verdict::Fail), ("agreement", Verdict::Fail))
        );
    }
}
