//! The care workflow (SPEC §3–§5): eligibility and registration, and — as they land — agreements,
//! risk, follow-up, emergencies and referrals; and the rehabilitation services (SPEC §6):
//! assessment instruments, service records, family support. Rules only; storage is in `crate::store`.

pub mod agreement;
pub mod eligibility;
pub mod emergency;
pub mod family;
pub mod followup;
pub mod institution;
pub mod instrument;
pub mod referral;
pub mod registration;
pub mod schedule;
pub mod service;
pub mod standard;
