//! Who may see which persons and which of their fields (SPEC §10): the row rule and the field
//! table per role. The store applies the row rule in SQL through the reader's
//! [`Scope`](crate::regions::Scope) ([`rows`] makes it); pages, the API and exports apply the field
//! table ([`may_see_field`]) wherever a person's fields are rendered or serialised.

use super::Role;
use crate::regions::Rows;

/// The current risk grade from which the police see a person.
pub const POLICE_MIN_RISK: i64 = 3;

/// The row rule of a user of `role`, attached to `site` (a rehabilitation site's staff): the police
/// see persons at risk ≥ 3 only; a site's staff the persons their site serves.
pub fn rows(role: Role, site: Option<i64>) -> Rows {
    Rows {
        site,
        min_risk: (role == Role::Police).then_some(POLICE_MIN_RISK),
    }
}

/// Fields the police may see (SPEC §10: identity, address, guardian and risk). Field names are the
/// record's (`registry::FIELDS`; a department list's columns are named by the record field they
/// hold) and, for what is not a record field, dotted names of the thing shown
/// (`registration.reason`).
const POLICE_FIELDS: &[&str] = &[
    "id_number",
    "name",
    "sex",
    "birth_date",
    "residence_region",
    "residence_address",
    "risk_grade",
    "guardian1.name",
    "guardian1.relation",
    "guardian1.phone",
    "guardian1.phone_alt",
    // Whether a person died (a department's list says so; the police keep the records).
    "died",
];

/// Whether a user of `role` may see `field` of a person. Every role that reads persons sees every
/// field (sensitive ones masked until revealed) except the police, who see only [`POLICE_FIELDS`].
pub fn may_see_field(role: Role, field: &str) -> bool {
    match role {
        Role::Police => POLICE_FIELDS.contains(&field),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn police_rule_and_fields() {
        assert_eq!(rows(Role::Police, None).min_risk, Some(3));
        assert!(rows(Role::Township, None).is_all());
        assert_eq!(rows(Role::Worker, Some(4)).site, Some(4));
        assert!(may_see_field(Role::Police, "guardian1.phone"));
        assert!(!may_see_field(Role::Police, "diagnosis"));
        assert!(!may_see_field(Role::Police, "disability_grade"));
        assert!(!may_see_field(Role::Police, "registration.reason"));
        assert!(may_see_field(Role::Doctor, "diagnosis"));
    }
}
