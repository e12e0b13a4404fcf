//! Reading spreadsheets row by row: .xlsx (streamed), .xls and .csv (UTF-8 or GBK).
//!
//! A background thread reads the file and sends batches of rows over a bounded channel, so parsing the
//! file overlaps with validating and writing, and memory stays bounded however large the file is
//! (calamine's `worksheet_range` would load a whole sheet; its cells reader streams).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use calamine::{Data, DataRef, Reader, Xls, Xlsx, open_workbook};
use compact_str::CompactString;
use tokio::sync::mpsc::{Receiver, Sender as BatchSender, channel};

/// One cell as read from the file, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    /// Text, inline up to 24 bytes (most roster cells: names, ID numbers, townships), so reading a
    /// million rows does not cost ten million heap allocations.
    Text(CompactString),
    /// A numeric cell. For identifiers this means the digits may already be lost.
    Number(f64),
    Bool(bool),
    /// A date/time cell, as ISO text.
    Date(String),
    /// An Excel error value such as `#N/A`.
    Error(String),
    /// A cell longer than `limits::CELL_BYTES`: its text was never held whole, and its row is
    /// rejected (the column named) by whoever reads the row.
    TooLong,
}

impl Cell {
    /// The cell as text, as a person reads it (numbers without a trailing `.0`). Borrows text cells.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            Cell::Empty => Cow::Borrowed(""),
            Cell::Text(s) => Cow::Borrowed(s.as_str()),
            Cell::Date(s) | Cell::Error(s) => Cow::Borrowed(s.as_str()),
            Cell::Number(n) => {
                if n.fract() == 0.0 && n.abs() < 1e15 {
                    Cow::Owned(format!("{}", *n as i64))
                } else {
                    Cow::Owned(format!("{n}"))
                }
            }
            Cell::Bool(b) => Cow::Borrowed(if *b { "TRUE" } else { "FALSE" }),
            Cell::TooLong => Cow::Borrowed(""),
        }
    }
    /// The text of a text cell, trimmed; `None` for other kinds.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s.trim()),
            _ => None,
        }
    }
    pub fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }
}

/// A row with its 1-based row number as shown by Excel (or line number in a CSV file).
#[derive(Debug, Clone, PartialEq)]
pub struct RawRow {
    pub number: u32,
    pub cells: Vec<Cell>,
}

impl RawRow {
    pub fn get(&self, col: usize) -> &Cell {
        self.cells.get(col).unwrap_or(&Cell::Empty)
    }
    pub fn is_blank(&self) -> bool {
        self.cells.iter().all(Cell::is_blank)
    }
    /// The columns (0-based) whose cell was over the length limit.
    pub fn too_long(&self) -> impl Iterator<Item = usize> + '_ {
        self.cells
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c, Cell::TooLong))
            .map(|(i, _)| i)
    }
}

/// A text cell, or [`Cell::TooLong`] when over the limit (or cut by the guard).
fn text_cell(s: &str) -> Cell {
    if s.len() > super::limits::CELL_BYTES || s.contains(super::guard::TOO_LONG) {
        Cell::TooLong
    } else {
        Cell::Text(CompactString::from(s))
    }
}

/// Why a file could not be read at all (as opposed to a bad row).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("file not found: {0}")]
    NotFound(PathBuf),
    #[error("unsupported file type: {0}")]
    UnsupportedType(String),
    #[error("cannot read workbook: {0}")]
    Workbook(String),
    #[error("the workbook has no worksheet")]
    NoSheet,
    #[error("cannot read file: {0}")]
    Io(#[from] std::io::Error),
    /// Over one of `limits`: the message code and its arguments (the limit, the place).
    #[error("over a limit: {code}")]
    Limit {
        code: &'static str,
        args: Vec<(&'static str, String)>,
    },
}

impl ReadError {
    pub fn code(&self) -> &'static str {
        match self {
            ReadError::NotFound(_) => "file-not-found",
            ReadError::UnsupportedType(_) => "file-type-unsupported",
            ReadError::Workbook(_) => "file-unreadable",
            ReadError::NoSheet => "file-no-sheet",
            ReadError::Io(_) => "file-unreadable",
            ReadError::Limit { code, .. } => code,
        }
    }
    /// The Chinese message for the user.
    pub fn message_zh(&self) -> String {
        match self {
            ReadError::UnsupportedType(ext) => {
                crate::messages::render("file-type-unsupported", &[("ext", ext)])
            }
            ReadError::Limit { code, args } => {
                let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
                crate::messages::render(code, &args)
            }
            other => crate::messages::render(other.code(), &[]),
        }
    }
}

/// The file kinds we read, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Xlsx,
    Xls,
    Csv,
}

pub fn kind_of(path: &Path) -> Result<Kind, ReadError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "xlsx" | "xlsm" => Ok(Kind::Xlsx),
        "xls" => Ok(Kind::Xls),
        "csv" | "txt" => Ok(Kind::Csv),
        other => Err(ReadError::UnsupportedType(other.to_string())),
    }
}

const BATCH: usize = 2048;

/// A stream of rows read by a background thread. Dropping it stops the reader.
pub struct RowStream {
    rx: Receiver<Result<Vec<RawRow>, ReadError>>,
    /// The guard's copy of the file (long cells cut), read instead of it; deleted with the stream.
    _checked: Option<tempfile::TempPath>,
    /// Formula cells without a saved value (read as empty): the first ones' references, and how many.
    formulas: (Vec<String>, u64),
    handle: Option<JoinHandle<()>>,
    pending: std::vec::IntoIter<RawRow>,
    failed: bool,
}

impl RowStream {
    /// Open `path` and start reading its first worksheet. Errors opening the file come back at once.
    pub fn open(path: &Path) -> Result<RowStream, ReadError> {
        if !path.exists() {
            return Err(ReadError::NotFound(path.to_path_buf()));
        }
        let kind = kind_of(path)?;
        // Nothing is read by calamine before the guard has checked the file against the limits.
        let mut checked = super::guard::Checked::default();
        // Open synchronously so that "cannot read" is reported before anything else happens.
        let source = match kind {
            Kind::Xlsx => {
                checked = super::guard::check_xlsx(path)?;
                let read = checked.copy.as_deref().unwrap_or(path);
                let wb: Xlsx<_> = unpanicked(|| open_workbook(read))?
                    .map_err(|e: calamine::XlsxError| ReadError::Workbook(e.to_string()))?;
                Source::Xlsx(wb)
            }
            Kind::Xls => {
                super::guard::check_xls(path)?;
                let wb: Xls<_> = unpanicked(|| open_workbook(path))?
                    .map_err(|e: calamine::XlsError| ReadError::Workbook(e.to_string()))?;
                Source::Xls(wb)
            }
            Kind::Csv => {
                super::guard::check_csv(path)?;
                Source::Csv(File::open(path)?)
            }
        };
        // Four batches ahead of the validator: enough to keep it busy, few enough to stay small.
        let (tx, rx) = channel(4);
        let handle = std::thread::Builder::new()
            .name("sheet-reader".into())
            .spawn(move || {
                // A panic in the reader must not look like the end of the file (rows lost
                // without a word): it is an error like any other.
                let result = unpanicked(|| match source {
                    Source::Xlsx(wb) => read_xlsx(wb, &tx),
                    Source::Xls(wb) => read_xls(wb, &tx),
                    Source::Csv(f) => read_csv(f, &tx),
                })
                .and_then(|r| r);
                if let Err(e) = result {
                    let _ = tx.blocking_send(Err(e));
                }
            })
            .map_err(ReadError::Io)?;
        Ok(RowStream {
            rx,
            _checked: checked.copy,
            formulas: (checked.formulas, checked.formulas_total),
            handle: Some(handle),
            pending: Vec::new().into_iter(),
            failed: false,
        })
    }
}

impl RowStream {
    /// Cells holding a formula whose result the file does not hold (saved by a program that does
    /// not compute): read as empty, to be reported as a warning naming each cell. The first ones'
    /// references (`C5`) and how many in all.
    pub fn formulas_without_value(&self) -> (&[String], u64) {
        (&self.formulas.0, self.formulas.1)
    }

    /// Like [`RowStream::next`], for a plain (non-async) thread.
    pub fn blocking_next(&mut self) -> Option<Result<RawRow, ReadError>> {
        loop {
            if let Some(r) = self.pending.next() {
                return Some(Ok(r));
            }
            if self.failed {
                return None;
            }
            match self.rx.blocking_recv() {
                Some(Ok(batch)) => self.pending = batch.into_iter(),
                Some(Err(e)) => {
                    self.failed = true;
                    return Some(Err(e));
                }
                None => return None,
            }
        }
    }

    /// The next row, or the error that stopped reading, or `None` at the end.
    pub async fn next(&mut self) -> Option<Result<RawRow, ReadError>> {
        loop {
            if let Some(r) = self.pending.next() {
                return Some(Ok(r));
            }
            if self.failed {
                return None;
            }
            match self.rx.recv().await {
                Some(Ok(batch)) => self.pending = batch.into_iter(),
                Some(Err(e)) => {
                    self.failed = true;
                    return Some(Err(e));
                }
                None => {
                    if let Some(h) = self.handle.take() {
                        let _ = h.join();
                    }
                    return None;
                }
            }
        }
    }
}

/// Run a third-party reader, a panic in it (a bug on a malformed file) turned into "cannot read".
fn unpanicked<T>(f: impl FnOnce() -> T) -> Result<T, ReadError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|_| ReadError::Workbook("the reader stopped on a malformed file".into()))
}

enum Source {
    Xlsx(Xlsx<BufReader<File>>),
    Xls(Xls<BufReader<File>>),
    Csv(File),
}

type Sender = BatchSender<Result<Vec<RawRow>, ReadError>>;

fn from_data_ref(d: &DataRef<'_>) -> Cell {
    match d {
        DataRef::Empty => Cell::Empty,
        DataRef::String(s) => text_cell(s),
        DataRef::SharedString(s) => text_cell(s),
        DataRef::Int(i) => Cell::Number(*i as f64),
        DataRef::Float(f) => Cell::Number(*f),
        DataRef::Bool(b) => Cell::Bool(*b),
        DataRef::DateTime(dt) => match dt.as_datetime() {
            Some(t) => Cell::Date(t.date().to_string()),
            None => Cell::Number(dt.as_f64()),
        },
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Cell::Date(s.clone()),
        DataRef::Error(e) => Cell::Error(e.to_string()),
    }
}

fn from_data(d: &Data) -> Cell {
    match d {
        Data::Empty => Cell::Empty,
        Data::String(s) => text_cell(s),
        Data::Int(i) => Cell::Number(*i as f64),
        Data::Float(f) => Cell::Number(*f),
        Data::Bool(b) => Cell::Bool(*b),
        Data::DateTime(dt) => match dt.as_datetime() {
            Some(t) => Cell::Date(t.date().to_string()),
            None => Cell::Number(dt.as_f64()),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::Date(s.clone()),
        Data::Error(e) => Cell::Error(e.to_string()),
    }
}

fn send(tx: &Sender, batch: &mut Vec<RawRow>) -> bool {
    if batch.is_empty() {
        return true;
    }
    tx.blocking_send(Ok(std::mem::replace(batch, Vec::with_capacity(BATCH))))
        .is_ok()
}

fn read_xlsx(mut wb: Xlsx<BufReader<File>>, tx: &Sender) -> Result<(), ReadError> {
    let name = wb
        .sheet_names()
        .first()
        .cloned()
        .ok_or(ReadError::NoSheet)?;
    let mut reader = wb
        .worksheet_cells_reader(&name)
        .map_err(|e| ReadError::Workbook(e.to_string()))?;
    let mut batch = Vec::with_capacity(BATCH);
    let mut current: Option<RawRow> = None;
    while let Some(cell) = reader
        .next_cell()
        .map_err(|e| ReadError::Workbook(e.to_string()))?
    {
        let (r, c) = cell.get_position();
        let value = from_data_ref(cell.get_value());
        let row = match &mut current {
            Some(row) if row.number == r + 1 => row,
            _ => {
                if let Some(done) = current.take() {
                    batch.push(done);
                    if batch.len() >= BATCH && !send(tx, &mut batch) {
                        return Ok(());
                    }
                }
                current.insert(RawRow {
                    number: r + 1,
                    cells: Vec::with_capacity(16),
                })
            }
        };
        let c = c as usize;
        if c >= 512 {
            continue; // a stray cell far to the right: not part of any roster
        }
        if row.cells.len() <= c {
            row.cells.resize(c + 1, Cell::Empty);
        }
        row.cells[c] = value;
    }
    if let Some(done) = current.take() {
        batch.push(done);
    }
    send(tx, &mut batch);
    Ok(())
}

fn read_xls(mut wb: Xls<BufReader<File>>, tx: &Sender) -> Result<(), ReadError> {
    let name = wb
        .sheet_names()
        .first()
        .cloned()
        .ok_or(ReadError::NoSheet)?;
    let range = wb
        .worksheet_range(&name)
        .map_err(|e| ReadError::Workbook(e.to_string()))?;
    let (r0, c0) = range.start().unwrap_or((0, 0));
    let mut batch = Vec::with_capacity(BATCH);
    for (i, row) in range.rows().enumerate() {
        let mut cells = vec![Cell::Empty; c0 as usize];
        cells.extend(row.iter().map(from_data));
        batch.push(RawRow {
            number: r0 + i as u32 + 1,
            cells,
        });
        if batch.len() >= BATCH && !send(tx, &mut batch) {
            return Ok(());
        }
    }
    send(tx, &mut batch);
    Ok(())
}

/// Decode one CSV field: UTF-8 when valid, else GBK (GB18030), which is what Excel on a Chinese
/// Windows writes. CSV delimiters are ASCII and GBK trail bytes are ≥ 0x40, so fields split correctly
/// before decoding.
fn decode_field(bytes: &[u8], gbk: bool) -> CompactString {
    if !gbk && let Ok(s) = std::str::from_utf8(bytes) {
        return CompactString::from(s);
    }
    let (s, _, _) = encoding_rs::GB18030.decode(bytes);
    CompactString::from(s)
}

fn read_csv(mut f: File, tx: &Sender) -> Result<(), ReadError> {
    use super::limits;
    use std::io::BufRead;
    // Sniff the encoding from the first 64 KiB.
    let mut head = vec![0u8; 64 * 1024];
    let n = read_up_to(&mut f, &mut head)?;
    head.truncate(n);
    let bom = head.starts_with(b"\xEF\xBB\xBF");
    let gbk = !bom && !is_utf8_prefix(&head);
    let start = if bom { 3 } else { 0 };
    let chained = std::io::Cursor::new(head[start..].to_vec()).chain(f);
    let mut input = BufReader::with_capacity(256 * 1024, chained);
    // csv_core parses field by field into a buffer of the cell limit: a longer field is read on
    // into a scratch buffer and dropped (the cell is `TooLong`), so no field or record is ever
    // held whole, whatever the file.
    let mut rdr = csv_core::ReaderBuilder::new().build();
    let mut field = vec![0u8; limits::CELL_BYTES];
    let mut scratch = vec![0u8; 64 * 1024];
    let (mut len, mut over) = (0usize, false);
    let mut cells: Vec<Cell> = Vec::with_capacity(32);
    let mut batch = Vec::with_capacity(BATCH);
    // The physical line (1-based) the input is at, and the one the current record started on: the
    // row a person sees when opening the file.
    let (mut line, mut record_line, mut in_record) = (1u64, 1u64, false);
    let mut rows = 0u64;
    loop {
        let buf = input.fill_buf()?;
        if !in_record {
            // Skip blank lines before a record, so that the record's own line is known.
            let skip = buf
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            if skip > 0 {
                line += buf[..skip].iter().filter(|&&b| b == b'\n').count() as u64;
                input.consume(skip);
                continue;
            }
            record_line = line;
            in_record = true;
        }
        let buf = input.fill_buf()?;
        let out: &mut [u8] = if over {
            &mut scratch
        } else {
            &mut field[len..]
        };
        let (res, nin, nout) = rdr.read_field(buf, out);
        line += buf[..nin].iter().filter(|&&b| b == b'\n').count() as u64;
        input.consume(nin);
        if !over {
            len += nout;
        }
        match res {
            csv_core::ReadFieldResult::InputEmpty => {}
            csv_core::ReadFieldResult::OutputFull => over = true,
            csv_core::ReadFieldResult::Field { record_end } => {
                let cell = if over {
                    Cell::TooLong
                } else if len == 0 {
                    Cell::Empty
                } else {
                    let s = decode_field(&field[..len], gbk);
                    if s.contains(super::guard::TOO_LONG) {
                        Cell::TooLong
                    } else {
                        Cell::Text(s)
                    }
                };
                (len, over) = (0, false);
                cells.push(cell);
                if cells.len() > limits::COLUMNS {
                    return Err(super::guard::refuse(
                        "file-too-many-columns",
                        vec![
                            ("row", record_line.to_string()),
                            ("limit", limits::COLUMNS.to_string()),
                        ],
                    ));
                }
                if record_end {
                    rows += 1;
                    if rows > limits::ROWS {
                        return Err(super::guard::refuse(
                            "file-too-many-rows",
                            vec![("limit", limits::ROWS.to_string())],
                        ));
                    }
                    in_record = false;
                    batch.push(RawRow {
                        number: u32::try_from(record_line).unwrap_or(u32::MAX),
                        // The next row likely has as many cells: rows queued for validation hold
                        // no spare room.
                        cells: {
                            let width = cells.len();
                            std::mem::replace(&mut cells, Vec::with_capacity(width))
                        },
                    });
                    if batch.len() >= BATCH && !send(tx, &mut batch) {
                        return Ok(());
                    }
                }
            }
            csv_core::ReadFieldResult::End => break,
        }
    }
    send(tx, &mut batch);
    Ok(())
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

/// Valid UTF-8, allowing a multi-byte character cut at the end of the sample.
fn is_utf8_prefix(b: &[u8]) -> bool {
    match std::str::from_utf8(b) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && b.len() - e.valid_up_to() < 4,
    }
}

/// The benchmark baseline: calamine's bare streaming read of the first worksheet of an .xlsx file,
/// touching every cell and converting nothing. Returns the number of non-empty cells.
pub fn bare_read_xlsx(path: &Path) -> Result<u64, ReadError> {
    let mut wb: Xlsx<_> =
        open_workbook(path).map_err(|e: calamine::XlsxError| ReadError::Workbook(e.to_string()))?;
    let name = wb
        .sheet_names()
        .first()
        .cloned()
        .ok_or(ReadError::NoSheet)?;
    let mut reader = wb
        .worksheet_cells_reader(&name)
        .map_err(|e| ReadError::Workbook(e.to_string()))?;
    let mut n = 0u64;
    while let Some(cell) = reader
        .next_cell()
        .map_err(|e| ReadError::Workbook(e.to_string()))?
    {
        if !matches!(cell.get_value(), DataRef::Empty) {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_cells_print_like_excel() {
        assert_eq!(Cell::Number(3.0).text(), "3");
        assert_eq!(Cell::Number(5.0011e17).text(), "500110000000000000");
        assert_eq!(Cell::Number(2.5).text(), "2.5");
    }

    #[test]
    fn utf8_sniffing_tolerates_a_cut_character() {
        let s = "张三".as_bytes();
        assert!(is_utf8_prefix(&s[..4]));
        let (gbk, _, _) = encoding_rs::GBK.encode("张三,男");
        assert!(!is_utf8_prefix(&gbk));
        assert_eq!(decode_field(&gbk, true), "张三,男");
    }
}
