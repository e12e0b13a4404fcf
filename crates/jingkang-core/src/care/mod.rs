//! The care workflow (SPEC §3–§5): registration, and — as they land — agreements, risk, follow-up,
//! emergencies and referrals. Rules only; storage is in `crate::store`.

pub mod registration;
