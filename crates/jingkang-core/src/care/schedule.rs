//! Risk grades, the condition class after a follow-up, and the next follow-up date (SPEC §4, from
//! the national 严重精神障碍管理治疗工作规范 (2018)).

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// 危险性评估 0–5 with the official definitions, as the follow-up form shows them.
pub const RISK_GRADES: [(u8, &str); 6] = [
    (0, "无符合以下 1～5 级中的任何行为"),
    (1, "口头威胁，喊叫，但没有打砸行为"),
    (2, "打砸行为，局限在家里，针对财物，能被劝说制止"),
    (3, "明显打砸行为，不分场合，针对财物，不能接受劝说而停止"),
    (
        4,
        "持续的打砸行为，不分场合，针对财物或人，不能接受劝说而停止（包括自伤、自杀）",
    ),
    (
        5,
        "持管制性危险武器的针对人的任何暴力行为，或者纵火、爆炸等行为，无论在家里还是公共场合",
    ),
];

/// 病情分类.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConditionClass {
    /// 不稳定
    Unstable,
    /// 基本稳定
    BasicallyStable,
    /// 稳定
    Stable,
}

impl ConditionClass {
    pub fn code(self) -> &'static str {
        match self {
            ConditionClass::Unstable => "unstable",
            ConditionClass::BasicallyStable => "basically_stable",
            ConditionClass::Stable => "stable",
        }
    }

    pub fn from_code(code: &str) -> Option<ConditionClass> {
        [
            ConditionClass::Unstable,
            ConditionClass::BasicallyStable,
            ConditionClass::Stable,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            ConditionClass::Unstable => "不稳定",
            ConditionClass::BasicallyStable => "基本稳定",
            ConditionClass::Stable => "稳定",
        }
    }

    /// What the rule asks the doctor to do, as the form shows it.
    pub fn handling_zh(self) -> &'static str {
        match self {
            ConditionClass::Unstable => {
                "对症处理后立即转诊上级医院；必要时报告当地公安部门，协助送院治疗；未能住院或转诊的，2 周内随访"
            }
            ConditionClass::BasicallyStable => {
                "在规定剂量范围内调整用药或对症处理，2 周时随访；病情趋于稳定的维持治疗方案，3 个月时随访"
            }
            ConditionClass::Stable => "继续执行上级医院制定的治疗方案，3 个月时随访",
        }
    }
}

/// What the follow-up found, as far as the class depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Findings {
    /// 危险性评估, 0–5.
    pub risk_grade: u8,
    /// 精神病症状明显.
    pub marked_psychotic_symptoms: bool,
    /// 自知力缺乏.
    pub no_insight: bool,
    /// 严重药物不良反应.
    pub serious_adverse_reaction: bool,
    /// 严重躯体疾病.
    pub serious_physical_illness: bool,
    /// How many of 精神症状, 自知力, 社会功能 are rated poor (较差) without being severe.
    pub areas_poor: u8,
}

/// The condition class: 不稳定 if risk 3–5 or any severe finding; 基本稳定 if risk 1–2 or at
/// least one area poor; otherwise 稳定.
pub fn classify(f: &Findings) -> ConditionClass {
    if f.risk_grade >= 3
        || f.marked_psychotic_symptoms
        || f.no_insight
        || f.serious_adverse_reaction
        || f.serious_physical_illness
    {
        ConditionClass::Unstable
    } else if f.risk_grade >= 1 || f.areas_poor >= 1 {
        ConditionClass::BasicallyStable
    } else {
        ConditionClass::Stable
    }
}

/// The date of the next follow-up after one on `date` that found `class`; `previous` is the class
/// the follow-up before it found. 不稳定: 2 weeks. 基本稳定: 2 weeks, and 3 months when the previous
/// follow-up was already 基本稳定 or better (the adjustment has held). 稳定: 3 months — which also
/// keeps every person at four or more follow-ups a year.
pub fn next_followup(
    date: NaiveDate,
    class: ConditionClass,
    previous: Option<ConditionClass>,
) -> NaiveDate {
    let two_weeks = date + chrono::Duration::days(14);
    let three_months = date.checked_add_months(Months::new(3)).unwrap_or(two_weeks);
    match (class, previous) {
        (ConditionClass::Unstable, _) => two_weeks,
        (
            ConditionClass::BasicallyStable,
            Some(ConditionClass::BasicallyStable | ConditionClass::Stable),
        ) => three_months,
        (ConditionClass::BasicallyStable, Some(ConditionClass::Unstable) | None) => two_weeks,
        (ConditionClass::Stable, _) => three_months,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Cases taken from the official definitions, one per clause.
    #[test]
    fn classes_follow_the_official_definitions() {
        let base = Findings::default();
        let cases: &[(&str, Findings, ConditionClass)] = &[
            ("危险性 0 级，各方面良好", base, ConditionClass::Stable),
            (
                "危险性 1 级",
                Findings {
                    risk_grade: 1,
                    ..base
                },
                ConditionClass::BasicallyStable,
            ),
            (
                "危险性 2 级",
                Findings {
                    risk_grade: 2,
                    ..base
                },
                ConditionClass::BasicallyStable,
            ),
            (
                "危险性 3 级",
                Findings {
                    risk_grade: 3,
                    ..base
                },
                ConditionClass::Unstable,
            ),
            (
                "危险性 4 级",
                Findings {
                    risk_grade: 4,
                    ..base
                },
                ConditionClass::Unstable,
            ),
            (
                "危险性 5 级",
                Findings {
                    risk_grade: 5,
                    ..base
                },
                ConditionClass::Unstable,
            ),
            (
                "精神病症状明显",
                Findings {
                    marked_psychotic_symptoms: true,
                    ..base
                },
                ConditionClass::Unstable,
            ),
            (
                "自知力缺乏",
                Findings {
                    no_insight: true,
                    ..base
                },
                ConditionClass::Unstable,
            ),
            (
                "严重药物不良反应",
                Findings {
                    serious_adverse_reaction: true,
                    ..base
                },
                ConditionClass::Unstable,
            ),
            (
                "严重躯体疾病",
                Findings {
                    serious_physical_illness: true,
                    ..base
                },
                ConditionClass::Unstable,
            ),
            (
                "0 级，社会功能较差",
                Findings {
                    areas_poor: 1,
                    ..base
                },
                ConditionClass::BasicallyStable,
            ),
            (
                "0 级，三方面较差",
                Findings {
                    areas_poor: 3,
                    ..base
                },
                ConditionClass::BasicallyStable,
            ),
            (
                "2 级且自知力缺乏",
                Findings {
                    risk_grade: 2,
                    no_insight: true,
                    ..base
                },
                ConditionClass::Unstable,
            ),
        ];
        for (what, f, class) in cases {
            assert_eq!(classify(f), *class, "{what}");
        }
    }

    #[test]
    fn next_dates_follow_the_class() {
        let day = d("2026-01-31");
        assert_eq!(
            next_followup(day, ConditionClass::Unstable, None),
            d("2026-02-14")
        );
        assert_eq!(
            next_followup(day, ConditionClass::Unstable, Some(ConditionClass::Stable)),
            d("2026-02-14")
        );
        assert_eq!(
            next_followup(day, ConditionClass::BasicallyStable, None),
            d("2026-02-14"),
            "first time: review in 2 weeks"
        );
        assert_eq!(
            next_followup(
                day,
                ConditionClass::BasicallyStable,
                Some(ConditionClass::Unstable)
            ),
            d("2026-02-14")
        );
        assert_eq!(
            next_followup(
                day,
                ConditionClass::BasicallyStable,
                Some(ConditionClass::BasicallyStable)
            ),
            d("2026-04-30"),
            "held: 3 months"
        );
        assert_eq!(
            next_followup(day, ConditionClass::Stable, None),
            d("2026-04-30"),
            "month end clamps"
        );
        assert_eq!(
            next_followup(d("2025-11-30"), ConditionClass::Stable, None),
            d("2026-02-28")
        );
    }

    /// A person kept stable all year is followed up at least four times.
    #[test]
    fn stable_all_year_means_four_or_more_follow_ups() {
        for start in [
            "2026-01-01",
            "2026-01-31",
            "2026-02-28",
            "2026-03-31",
            "2026-12-31",
        ] {
            let mut day = d(start);
            let end = day + chrono::Duration::days(365);
            let mut n = 0;
            while day < end {
                n += 1;
                day = next_followup(day, ConditionClass::Stable, Some(ConditionClass::Stable));
            }
            assert!(n >= 4, "{start}: {n}");
        }
    }

    #[test]
    fn every_grade_has_its_definition() {
        for (i, (g, text)) in RISK_GRADES.iter().enumerate() {
            assert_eq!(*g as usize, i);
            assert!(!text.is_empty());
        }
    }
}
