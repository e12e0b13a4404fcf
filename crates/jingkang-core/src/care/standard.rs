//! 规范服务 (standardised service, SPEC §6) as a rule of data (`data/standard_service.json`) and
//! the decision for one person from their timeline; `store::standard` decides it for a whole
//! region in one query. The rule's description goes with every figure it produces.

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StandardRule {
    /// A plan current during the period is needed.
    pub plan: bool,
    /// An assessment within this many days before the period's end is needed.
    pub assessment_within_days: i64,
    /// Service contacts needed in every month of the period.
    pub contacts_per_month: i64,
    /// The registration states counted as 登记康复对象 (the denominator).
    pub registered_states: Vec<String>,
    pub description: String,
}

static SHIPPED: &str = include_str!("../../data/standard_service.json");

impl StandardRule {
    pub fn parse(json: &str) -> anyhow::Result<StandardRule> {
        let r: StandardRule = serde_json::from_str(json)?;
        anyhow::ensure!(
            r.assessment_within_days >= 0 && r.contacts_per_month >= 0,
            "规范服务 rule: negative numbers"
        );
        for s in &r.registered_states {
            anyhow::ensure!(
                crate::domain::RegistrationState::from_code(s).is_some(),
                "规范服务 rule: unknown state {s}"
            );
        }
        Ok(r)
    }

    pub fn shipped() -> anyhow::Result<StandardRule> {
        StandardRule::parse(SHIPPED)
    }
}

pub use crate::domain::period::Period;

/// One person's timeline within and before a period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    /// The plans as (starts_on, review_on).
    pub plans: Vec<(NaiveDate, NaiveDate)>,
    pub assessments: Vec<NaiveDate>,
    pub contacts: Vec<NaiveDate>,
}

/// Which conditions a person meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub plan: bool,
    pub assessment: bool,
    pub contacts: bool,
}

impl Decision {
    pub fn standard(&self) -> bool {
        self.plan && self.assessment && self.contacts
    }
}

/// Decide for one person: the reference the region-wide query is tested against.
pub fn decide(rule: &StandardRule, period: &Period, t: &Timeline) -> Decision {
    let plan = !rule.plan
        || t.plans
            .iter()
            .any(|(s, r)| *s <= period.end && *r >= period.start);
    let since = period.end - Duration::days(rule.assessment_within_days);
    let assessment = t
        .assessments
        .iter()
        .any(|d| *d >= since && *d <= period.end);
    let contacts = period.months().iter().all(|(y, m)| {
        t.contacts
            .iter()
            .filter(|d| d.year() == *y && d.month() == *m)
            .count() as i64
            >= rule.contacts_per_month
    });
    Decision {
        plan,
        assessment,
        contacts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// The rule against a table of timelines for 2026 Q3 (Jul–Sep).
    #[test]
    fn the_rule_against_timelines() {
        let rule = StandardRule::shipped().unwrap();
        let q = Period::quarter(2026, 3).unwrap();
        let plan = vec![(d("2026-03-01"), d("2026-09-01"))];
        let monthly = vec![d("2026-07-15"), d("2026-08-03"), d("2026-09-30")];
        let cases: Vec<(&str, Timeline, (bool, bool, bool))> = vec![
            (
                "everything",
                Timeline {
                    plans: plan.clone(),
                    assessments: vec![d("2026-05-01")],
                    contacts: monthly.clone(),
                },
                (true, true, true),
            ),
            (
                "no plan",
                Timeline {
                    plans: vec![],
                    assessments: vec![d("2026-05-01")],
                    contacts: monthly.clone(),
                },
                (false, true, true),
            ),
            (
                "plan reviewed before the quarter",
                Timeline {
                    plans: vec![(d("2025-12-01"), d("2026-06-30"))],
                    assessments: vec![d("2026-05-01")],
                    contacts: monthly.clone(),
                },
                (false, true, true),
            ),
            (
                "plan starting on the last day",
                Timeline {
                    plans: vec![(d("2026-09-30"), d("2027-03-30"))],
                    assessments: vec![d("2026-09-30")],
                    contacts: monthly.clone(),
                },
                (true, true, true),
            ),
            (
                "assessment 183 days before the end",
                Timeline {
                    plans: plan.clone(),
                    assessments: vec![d("2026-03-31")],
                    contacts: monthly.clone(),
                },
                (true, true, true),
            ),
            (
                "assessment 184 days before the end",
                Timeline {
                    plans: plan.clone(),
                    assessments: vec![d("2026-03-30")],
                    contacts: monthly.clone(),
                },
                (true, false, true),
            ),
            (
                "assessment after the quarter",
                Timeline {
                    plans: plan.clone(),
                    assessments: vec![d("2026-10-01")],
                    contacts: monthly.clone(),
                },
                (true, false, true),
            ),
            (
                "August missed",
                Timeline {
                    plans: plan.clone(),
                    assessments: vec![d("2026-05-01")],
                    contacts: vec![d("2026-07-01"), d("2026-07-31"), d("2026-09-01")],
                },
                (true, true, false),
            ),
            (
                "contacts outside the quarter",
                Timeline {
                    plans: plan.clone(),
                    assessments: vec![d("2026-05-01")],
                    contacts: vec![d("2026-06-30"), d("2026-10-01")],
                },
                (true, true, false),
            ),
        ];
        for (what, t, (p, a, c)) in cases {
            let got = decide(&rule, &q, &t);
            assert_eq!(
                (got.plan, got.assessment, got.contacts),
                (p, a, c),
                "{what}"
            );
            assert_eq!(got.standard(), p && a && c, "{what}");
        }
        // The rule is data: two contacts a month and no plan needed change the answer.
        let strict = StandardRule {
            contacts_per_month: 2,
            plan: false,
            ..rule.clone()
        };
        let t = Timeline {
            plans: vec![],
            assessments: vec![d("2026-05-01")],
            contacts: monthly.clone(),
        };
        assert_eq!(
            decide(&strict, &q, &t),
            Decision {
                plan: true,
                assessment: true,
                contacts: false
            }
        );
        let twice: Vec<NaiveDate> = monthly.iter().flat_map(|x| [*x, *x]).collect();
        assert!(
            decide(
                &strict,
                &q,
                &Timeline {
                    contacts: twice,
                    ..t
                }
            )
            .standard()
        );
        assert!(StandardRule::parse(&SHIPPED.replace("\"suspended\"", "\"asleep\"")).is_err());
    }
}
