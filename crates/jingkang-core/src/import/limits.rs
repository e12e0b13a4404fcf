//! The limits every file a user sends is read within (SPEC §10: imports run in bounded memory
//! whatever the file). One place for every number, so the page, the API, the command line and
//! the messages say the same.

/// The largest upload, for rosters and department lists alike (pages and API).
pub const UPLOAD_BYTES: u64 = 64 * 1024 * 1024;
/// The largest cell: a longer one rejects its row (read without holding it whole).
pub const CELL_BYTES: usize = 32 * 1024;
/// The most columns a row may have.
pub const COLUMNS: usize = 256;
/// The most rows a file may have.
pub const ROWS: u64 = 2_000_000;
/// The largest part of an .xlsx file (its worksheet, shared strings, styles…), unpacked.
pub const PART_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// The most an .xlsx part may grow when unpacked (zip bombs), checked once it is past
/// [`RATIO_FROM_BYTES`]: real workbooks stay below 30.
pub const RATIO: u64 = 200;
pub const RATIO_FROM_BYTES: u64 = 16 * 1024 * 1024;
/// Parts other than the worksheet and the shared strings (styles, workbook, relations), unpacked.
pub const SMALL_PART_BYTES: u64 = 16 * 1024 * 1024;
/// Shared strings of an .xlsx file: how many, and their text in total.
pub const SHARED_STRINGS: u64 = 2_000_000;
pub const SHARED_STRING_BYTES: u64 = 96 * 1024 * 1024;
/// The cells of an .xls file's sheets (the old format is read whole: rows × columns of each).
pub const XLS_CELLS: u64 = 2_000_000;
/// The first problems of an import listed one by one; the rest only counted per kind.
pub const LISTED_PROBLEMS: usize = 1_000;

/// A size as the messages say it (`64 MB`, `32 KB`).
pub fn size_label(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if bytes >= MB && bytes.is_multiple_of(MB) {
        format!("{} MB", bytes / MB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KB", bytes / 1024)
    } else {
        format!("{bytes} 字节")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_people_say_them() {
        assert_eq!(super::size_label(super::UPLOAD_BYTES), "64 MB");
        assert_eq!(super::size_label(super::CELL_BYTES as u64), "32 KB");
        assert_eq!(super::size_label(100), "100 字节");
    }
}
