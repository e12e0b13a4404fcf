//! Institutions, staff and purchased services (SPEC §7) as configuration: the kinds of
//! institution, their statuses, the qualifications that make a staff member 持证上岗, and the
//! thresholds of the two flags (staff under 20 training hours in a year; institutions with under
//! 30 % qualified staff) and of a contract's per-person standard (`data/institutions.json`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Choice {
    pub code: String,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Status {
    pub code: String,
    pub label: String,
    /// Counts as an operating site (coverage, the service form's choices).
    pub operating: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstitutionRules {
    pub kinds: Vec<Choice>,
    pub statuses: Vec<Status>,
    pub qualifications: Vec<Choice>,
    /// A staff member with fewer training hours in a calendar year is flagged.
    pub min_training_hours_per_year: f64,
    /// An institution whose share of qualified (持证上岗) current staff is below this is flagged.
    pub min_qualified_share: f64,
    /// A purchase-of-service contract's default budget per person and year (元).
    pub per_person_standard_yuan: i64,
}

static SHIPPED: &str = include_str!("../../data/institutions.json");

impl InstitutionRules {
    pub fn parse(json: &str) -> anyhow::Result<InstitutionRules> {
        let r: InstitutionRules = serde_json::from_str(json)?;
        let mut seen = BTreeSet::new();
        for code in r
            .kinds
            .iter()
            .map(|k| &k.code)
            .chain(r.statuses.iter().map(|s| &s.code))
            .chain(r.qualifications.iter().map(|q| &q.code))
        {
            anyhow::ensure!(
                seen.insert(code.as_str()),
                "institution code {code} appears twice"
            );
        }
        anyhow::ensure!(
            !r.kinds.is_empty() && !r.statuses.is_empty() && !r.qualifications.is_empty(),
            "kinds, statuses and qualifications are needed"
        );
        anyhow::ensure!(
            r.statuses.iter().any(|s| s.operating),
            "one status must be operating"
        );
        anyhow::ensure!(
            (0.0..=1.0).contains(&r.min_qualified_share),
            "min_qualified_share is a share between 0 and 1"
        );
        anyhow::ensure!(
            r.min_training_hours_per_year >= 0.0 && r.per_person_standard_yuan > 0,
            "thresholds must be positive"
        );
        Ok(r)
    }

    pub fn shipped() -> anyhow::Result<InstitutionRules> {
        InstitutionRules::parse(SHIPPED)
    }

    pub fn kind(&self, code: &str) -> Option<&Choice> {
        self.kinds.iter().find(|k| k.code == code)
    }

    pub fn status(&self, code: &str) -> Option<&Status> {
        self.statuses.iter().find(|s| s.code == code)
    }

    pub fn qualification(&self, code: &str) -> Option<&Choice> {
        self.qualifications.iter().find(|q| q.code == code)
    }

    /// Whether `qualified` of `staff` current staff is under the threshold (no staff: flagged).
    pub fn under_qualified(&self, qualified: i64, staff: i64) -> bool {
        staff == 0 || (qualified as f64) < self.min_qualified_share * staff as f64
    }

    /// Whether `hours` of training in a year is under the threshold.
    pub fn under_trained(&self, hours: f64) -> bool {
        hours < self.min_training_hours_per_year
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_rules_parse_and_flag_at_the_thresholds() {
        let r = InstitutionRules::shipped().unwrap();
        assert_eq!(r.kinds.len(), 5);
        assert_eq!(r.kind("yukang_home").unwrap().label, "渝康家园");
        assert!(r.status("operating").unwrap().operating && !r.status("closed").unwrap().operating);
        // 30 %: 3 of 10 is enough, 2 of 10 is not; 1 of 3 is enough; nobody at all is flagged.
        assert!(
            !r.under_qualified(3, 10)
                && r.under_qualified(2, 10)
                && !r.under_qualified(1, 3)
                && r.under_qualified(0, 0)
        );
        assert!(r.under_trained(19.5) && !r.under_trained(20.0));
        assert_eq!(r.per_person_standard_yuan, 10_000);
    }

    #[test]
    fn broken_rules_are_refused() {
        let dup = SHIPPED.replace("\"code\": \"clubhouse\"", "\"code\": \"center\"");
        assert!(InstitutionRules::parse(&dup).is_err());
        let share = SHIPPED.replace(
            "\"min_qualified_share\": 0.3",
            "\"min_qualified_share\": 30",
        );
        assert!(InstitutionRules::parse(&share).is_err());
    }
}
