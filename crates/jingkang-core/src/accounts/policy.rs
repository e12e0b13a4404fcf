//! Who may do what (SPEC §1, §10): the permissions of each role, the row rule and the field table
//! per role. The web layer's route table declares one [`Permission`] per route and enforces it
//! before the handler runs; pages ask [`Role::may`] before showing a link or section. The store
//! applies the row rule in SQL through the reader's [`Scope`](crate::regions::Scope) ([`rows`]
//! makes it); pages, the API and exports apply the field table ([`may_see_field`]) wherever a
//! person's fields are rendered or serialised.

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

/// What a route, or a link or section of a page, needs (SPEC §1, §10): each permission is held by
/// a fixed list of roles ([`Permission::roles`]). The web layer's route table declares one per
/// route and enforces it before the handler runs; pages ask [`Role::may`] to show what leads there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read the person registry of one's region. `admin` manages accounts and does not read
    /// person records (least privilege); `auditor` reads the audit log, not records.
    ReadRegistry,
    /// Compare a department's list with the registry of one's region (信息比对): the departments
    /// that exchange lists, and the township that checks the differences on the ground.
    CompareLists,
    /// Manage accounts and organisations: the administrator.
    Admins,
    /// Read the audit log: the auditor and the administrator.
    Auditors,
    /// Register and correct persons and import rosters (SPEC §1: 街镇 staff; 民政 staff of the
    /// district for their county).
    EditRegistry,
    /// Read clinical content — follow-ups, risk history, worklists (SPEC §10): the health side,
    /// the township and its workers. Not the police (identity, address, guardian and current risk
    /// only), not 残联 or 民政.
    ReadClinical,
    /// Record follow-ups: the doctors of primary care and of the psychiatric hospital.
    RecordFollowups,
    /// Record rehabilitation services (SPEC §6): the township and site workers.
    RecordServices,
    /// Read the register of institutions and their staff (SPEC §7): 民政 oversees them, the
    /// township and the sites' own workers keep them, 卫健 reads.
    ReadInstitutions,
    /// Register institutions, change them and put persons in a site's care: 民政 and the township
    /// (SPEC §1: 民政 manages institutions and purchase contracts).
    ManageInstitutions,
    /// Keep staff records (certificates, training hours): those who manage institutions and a
    /// site's own workers (for their site only, by their scope).
    ManageStaff,
    /// Read purchase-of-service contracts and what they bought (SPEC §7).
    ReadContracts,
    /// Record purchase-of-service contracts: 民政 (SPEC §1).
    ManageContracts,
    /// The indicator dashboard and the lists behind its figures (民政, 街镇, 卫健).
    ReadIndicators,
    /// Read the quarterly report (附件2, SPEC §9): the townships that file it and 民政, which
    /// reviews and signs it.
    ReadReports,
    /// Fill in and 填报 one's township's report.
    FileReports,
    /// 审核, 退回 and 签发 reports: 民政 (SPEC §9).
    ReviewReports,
    /// Write 个案康复计划 (SPEC §6): the township and site workers.
    RecordPlans,
    /// Assess (SPEC §6): the township, site workers, doctors and hospitals.
    RecordAssessments,
    /// Record emergencies: the doctors, hospitals, the township and its workers.
    RecordEmergencies,
    /// Record agreements with a person (the township and its workers, 民政 of the district).
    ManageAgreements,
    /// See a person's agreements and their scans.
    ReadAgreements,
    /// Send and receive referrals (SPEC §5): hospitals, the township and its workers, the doctors,
    /// 残联 (employment) and 民政. Which kinds each sends and receives is data
    /// (`data/referrals.json`); which side a user is on is their scope.
    Referrals,
}

impl Permission {
    pub const ALL: [Permission; 23] = [
        Permission::ReadRegistry,
        Permission::CompareLists,
        Permission::Admins,
        Permission::Auditors,
        Permission::EditRegistry,
        Permission::ReadClinical,
        Permission::RecordFollowups,
        Permission::RecordServices,
        Permission::ReadInstitutions,
        Permission::ManageInstitutions,
        Permission::ManageStaff,
        Permission::ReadContracts,
        Permission::ManageContracts,
        Permission::ReadIndicators,
        Permission::ReadReports,
        Permission::FileReports,
        Permission::ReviewReports,
        Permission::RecordPlans,
        Permission::RecordAssessments,
        Permission::RecordEmergencies,
        Permission::ManageAgreements,
        Permission::ReadAgreements,
        Permission::Referrals,
    ];

    /// The roles that hold this permission.
    pub const fn roles(self) -> &'static [Role] {
        match self {
            Permission::ReadRegistry => &[
                Role::Civil,
                Role::Township,
                Role::Worker,
                Role::Doctor,
                Role::Hospital,
                Role::Disability,
                Role::Health,
                Role::Police,
            ],
            Permission::CompareLists => &[
                Role::Civil,
                Role::Township,
                Role::Health,
                Role::Police,
                Role::Disability,
            ],
            Permission::Admins => &[Role::Admin],
            Permission::Auditors => &[Role::Auditor, Role::Admin],
            Permission::EditRegistry => &[Role::Civil, Role::Township],
            Permission::ReadClinical => &[
                Role::Township,
                Role::Worker,
                Role::Doctor,
                Role::Hospital,
                Role::Health,
            ],
            Permission::RecordFollowups => &[Role::Doctor, Role::Hospital],
            Permission::RecordServices => &[Role::Township, Role::Worker],
            Permission::ReadInstitutions => {
                &[Role::Civil, Role::Township, Role::Worker, Role::Health]
            }
            Permission::ManageInstitutions => &[Role::Civil, Role::Township],
            Permission::ManageStaff => &[Role::Civil, Role::Township, Role::Worker],
            Permission::ReadContracts => &[Role::Civil, Role::Township],
            Permission::ManageContracts => &[Role::Civil],
            Permission::ReadIndicators => &[Role::Civil, Role::Township, Role::Health],
            Permission::ReadReports => &[Role::Civil, Role::Township],
            Permission::FileReports => &[Role::Township],
            Permission::ReviewReports => &[Role::Civil],
            Permission::RecordPlans => &[Role::Township, Role::Worker],
            Permission::RecordAssessments => {
                &[Role::Township, Role::Worker, Role::Doctor, Role::Hospital]
            }
            Permission::RecordEmergencies => {
                &[Role::Doctor, Role::Hospital, Role::Township, Role::Worker]
            }
            Permission::ManageAgreements => &[Role::Civil, Role::Township, Role::Worker],
            Permission::ReadAgreements => &[
                Role::Civil,
                Role::Township,
                Role::Worker,
                Role::Doctor,
                Role::Hospital,
                Role::Health,
            ],
            Permission::Referrals => &[
                Role::Civil,
                Role::Township,
                Role::Worker,
                Role::Doctor,
                Role::Hospital,
                Role::Disability,
            ],
        }
    }
}

impl Role {
    /// Whether a user of this role holds `permission`.
    pub fn may(self, permission: Permission) -> bool {
        permission.roles().contains(&self)
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

    #[test]
    fn permissions_of_roles() {
        assert!(Role::Police.may(Permission::ReadRegistry));
        assert!(!Role::Police.may(Permission::ReadClinical));
        assert!(Role::Police.may(Permission::CompareLists));
        assert!(!Role::Admin.may(Permission::ReadRegistry));
        assert!(Role::Admin.may(Permission::Admins));
        assert!(Role::Admin.may(Permission::Auditors));
        assert!(!Role::Auditor.may(Permission::Admins));
        assert!(Role::Doctor.may(Permission::RecordFollowups));
        assert!(!Role::Township.may(Permission::RecordFollowups));
        assert!(Role::Township.may(Permission::FileReports));
        assert!(!Role::Civil.may(Permission::FileReports));
        assert!(Role::Civil.may(Permission::ReviewReports));
        // Least privilege: the administrator and the auditor read no person records, only accounts
        // and the audit log.
        for role in [Role::Admin, Role::Auditor] {
            let held: Vec<Permission> = Permission::ALL
                .into_iter()
                .filter(|&p| role.may(p))
                .collect();
            assert!(
                held.iter()
                    .all(|p| matches!(p, Permission::Admins | Permission::Auditors)),
                "{role:?}: {held:?}"
            );
        }
        // Every permission is held by someone, and `ALL` lists each once.
        for p in Permission::ALL {
            assert!(!p.roles().is_empty(), "{p:?}");
            assert_eq!(Permission::ALL.iter().filter(|&&q| q == p).count(), 1);
        }
    }
}
