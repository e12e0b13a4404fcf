//! Use cases that cross features: each composes rules, several tables and the audit in one
//! transaction, and both the web and the CLI call it (they never compose these themselves).
//!
//! - [`filings`]: a quarterly form as computed, with the township's filing laid over it (signed
//!   rows frozen), and the filing's steps 填报 → 审核 → 签发.
//! - [`referrals`]: sending a referral (a new person checked as the entry form checks one, its
//!   documents sealed) and each step of the receiver.
//!
//! Nothing below this module (`store`, `care`, `report`, `import`, …) uses it.

pub mod filings;
pub mod referrals;
