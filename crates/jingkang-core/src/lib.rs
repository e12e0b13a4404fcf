//! jingkang-core: domain types, rules, storage, import/export and reports. Knows nothing about HTTP
//! or the command line.
//!
//! Public face by area:
//! - [`domain`]: validated values (ID number, certificate, phone, name, sex, region code), the
//!   clock (China time) and the quarter.
//! - [`regions`]: the region tree and [`regions::Scope`] (no database).
//! - [`accounts`]: roles, passwords, the policy (what each role may do and see).
//! - [`registry`]: the person record, its fields and diffs.
//! - [`care`]: the rules of care — eligibility, registration, follow-up, referral kinds,
//!   instruments, services, plans, family support, institutions.
//! - [`store`]: database pool/transactions, migrations, repositories, audit, encryption at rest
//!   (with [`secrets`] for the keys and [`witness`] for the audit chain's checkpoints).
//! - [`import`] / [`export`]: spreadsheets in and out; [`exchange`] and [`interop`]: department
//!   lists (信息比对), the national platform and FHIR.
//! - [`report`]: report and indicator definitions (data) and their computation.
//! - [`app`]: use cases that cross features (filings, referrals), called by the web and the CLI.
//! - [`generate`]: synthetic rosters and demo data.
//! - [`link`]: record linkage (comparators, Fellegi–Sunter by EM, blocking), independent of the sources.
//! - [`messages`]: every user-facing Chinese message.

pub mod accounts;
pub mod app;
pub mod care;
pub mod domain;
pub mod exchange;
pub mod export;
#[doc(hidden)]
pub mod fuzzing;
pub mod generate;
pub mod import;
pub mod interop;
pub mod link;
pub mod messages;
pub mod regions;
pub mod registry;
pub mod report;
pub mod secrets;
pub mod store;
pub mod witness;
