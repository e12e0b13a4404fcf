//! jingkang-core: domain types, rules, storage, import/export and reports. Knows nothing about HTTP
//! or the command line.
//!
//! Public face by area:
//! - [`domain`]: validated values (ID number, certificate, phone, name, sex, region code).
//! - [`regions`]: the region tree and [`regions::Scope`].
//! - [`registry`]: the person record, its fields and diffs.
//! - [`store`]: database pool/transactions, migrations, repositories, audit.
//! - [`import`] / [`export`]: spreadsheets in and out.
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
