//! Reading spreadsheets and importing them. `sheet` streams rows out of .xlsx/.xls/.csv files,
//! `header` finds the header row, `roster` imports 附件3 花名册, `entry` saves one
//! person entered by hand with the roster's rules.

pub mod entry;
pub mod guard;
pub mod header;
pub mod limits;
pub mod roster;
pub mod sheet;

pub use roster::{ImportError, ImportOptions, ImportReport, RowError, import_roster};
