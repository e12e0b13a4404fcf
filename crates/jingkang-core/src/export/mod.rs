//! Spreadsheets out. `roster` writes 附件3 花名册 in the official layout; `worklist` a worklist.

pub mod roster;
pub mod worklist;

pub use roster::{ExportRequest, ExportSummary, export_roster};
