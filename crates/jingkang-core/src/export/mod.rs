//! Spreadsheets out. `roster` writes 附件3 花名册 in the official layout; `worklist` a worklist of
//! persons, `referrals` one of referrals, both through `table`.

pub mod pdf;
pub mod referrals;
pub mod report;
pub mod roster;
pub mod table;
pub mod worklist;

pub use roster::{ExportRequest, ExportSummary, export_roster};
