//! Spreadsheets out. `roster` writes 附件3 花名册 in the official layout.

pub mod roster;

pub use roster::{ExportRequest, ExportSummary, export_roster};
