//! The care workflow (SPEC §3–§5): eligibility and registration, and — as they land — agreements,
//! risk, follow-up, emergencies and referrals. Rules only; storage is in `crate::store`.

pub mod agreement;
pub mod eligibility;
pub mod emergency;
pub mod followup;
pub mod referral;
pub mod registration;
pub mod schedule;
