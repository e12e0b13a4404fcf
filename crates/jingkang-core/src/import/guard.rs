//! A file is checked against the limits of [`super::limits`] before any reader holds it, so that
//! no file — a zip bomb, a cell of gigabytes, millions of shared strings or columns — can take the
//! memory of the server (SPEC §10).
//!
//! An .xlsx file is a zip of XML parts. Its parts are inflated once, as a stream, and read by a
//! small XML scanner with constant memory: each part's real unpacked size and growth ratio, the
//! rows and columns of the worksheets, the number and total text of the shared strings, the
//! length of every tag, and the text of every cell (`<c>`) and shared string (`<si>`). A file over
//! a file-wide limit is refused with the limit and the place. A cell longer than
//! [`limits::CELL_BYTES`] only rejects its row: the file is copied with that text replaced by
//! [`TOO_LONG`] (the copy made by the same scanner, still streaming), and the reader turns the
//! marker into [`super::sheet::Cell::TooLong`]. calamine then reads a file that has nothing big.
//!
//! An .xls file (the old binary format) is read whole by calamine, as a dense grid per sheet: its
//! cell records are scanned first and a file whose grids would exceed [`limits::XLS_CELLS`] cells
//! is refused. A CSV file is bounded while it is read ([`super::sheet`]).

use std::io::{Read, Seek, Write};
use std::path::Path;

use super::limits;
use super::sheet::ReadError;

/// What replaces the text of a cell over the limit in the checked copy: private-use characters
/// no spreadsheet writes, so a cell holding it is known to have been too long.
pub const TOO_LONG: &str = "\u{E000}jingkang:cell-too-long\u{E000}";

/// A file refused by a limit: the message code and its arguments.
pub fn refuse(code: &'static str, args: Vec<(&'static str, String)>) -> ReadError {
    ReadError::Limit { code, args }
}

/// The result of checking an .xlsx file.
#[derive(Debug, Default)]
pub struct Checked {
    /// The copy to read instead, when cells were cut.
    pub copy: Option<tempfile::TempPath>,
    /// Cells holding a formula without a saved result (read as empty): their references (`C5`),
    /// the first [`limits::LISTED_PROBLEMS`], and how many in all.
    pub formulas: Vec<String>,
    pub formulas_total: u64,
}

/// How a part is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PartKind {
    /// A worksheet: rows, columns, each cell's text.
    Sheet,
    /// The shared strings: how many, their text in total, each one's text.
    Shared,
    /// Other XML calamine may parse (workbook, relations, styles): a small size only.
    Small,
    /// Parts calamine never reads (images, printer settings, macros): not inflated.
    Other,
}

fn part_kind(name: &str) -> PartKind {
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("xl/worksheets/") && lower.ends_with(".xml") {
        PartKind::Sheet
    } else if lower.ends_with("sharedstrings.xml") {
        PartKind::Shared
    } else if lower.ends_with(".xml") || lower.ends_with(".rels") {
        PartKind::Small
    } else {
        PartKind::Other
    }
}

/// Check an .xlsx file. `Err` refuses it; a copy in the result is the file to read (cells cut).
pub fn check_xlsx(path: &Path) -> Result<Checked, ReadError> {
    let file = std::fs::File::open(path)?;
    let broken = |e: zip::result::ZipError| ReadError::Workbook(e.to_string());
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(broken)?;
    let mut cut = false;
    let mut checked = Checked::default();
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).map_err(broken)?;
        if part.is_dir() {
            continue;
        }
        let name = part.name().map_err(broken)?.to_string();
        let kind = part_kind(&name);
        if kind == PartKind::Other {
            continue;
        }
        let packed = part.compressed_size();
        declared_ok(&name, kind, part.size(), packed)?;
        let mut scan = Scanner::new(kind, &name, packed);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = part.read(&mut buf)?;
            if n == 0 {
                break;
            }
            scan.feed(&buf[..n], None)?;
        }
        scan.finish()?;
        cut |= scan.cut;
        checked.formulas_total += scan.formulas_total;
        let room = limits::LISTED_PROBLEMS.saturating_sub(checked.formulas.len());
        checked
            .formulas
            .extend(scan.formulas.into_iter().take(room));
    }
    if cut {
        checked.copy = Some(copy_cut(path, &mut zip)?);
    }
    Ok(checked)
}

/// The declared sizes, before inflating anything (a part may lie: the scan counts real bytes).
fn declared_ok(name: &str, kind: PartKind, size: u64, packed: u64) -> Result<(), ReadError> {
    let max = if kind == PartKind::Small {
        limits::SMALL_PART_BYTES
    } else {
        limits::PART_BYTES
    };
    if size > max {
        return Err(refuse(
            "xlsx-part-too-large",
            vec![
                ("part", name.to_string()),
                ("limit", limits::size_label(max)),
            ],
        ));
    }
    ratio_ok(name, size, packed)
}

fn ratio_ok(name: &str, size: u64, packed: u64) -> Result<(), ReadError> {
    if size > limits::RATIO_FROM_BYTES && size / packed.max(1) > limits::RATIO {
        return Err(refuse(
            "xlsx-ratio",
            vec![
                ("part", name.to_string()),
                ("ratio", limits::RATIO.to_string()),
            ],
        ));
    }
    Ok(())
}

/// Write a copy of the archive with the long cells cut, the worksheet and shared-strings parts
/// re-scanned (and cut) as they are copied, the others copied as they are.
fn copy_cut<R: Read + Seek>(
    _path: &Path,
    zip: &mut zip::ZipArchive<R>,
) -> Result<tempfile::TempPath, ReadError> {
    let out = tempfile::Builder::new()
        .prefix("jingkang-checked-")
        .suffix(".xlsx")
        .tempfile()?;
    let (file, path) = out.into_parts();
    let mut writer = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    let broken = |e: zip::result::ZipError| ReadError::Workbook(e.to_string());
    for i in 0..zip.len() {
        let mut part = zip.by_index(i).map_err(broken)?;
        let name = part.name().map_err(broken)?.to_string();
        let kind = part_kind(&name);
        if part.is_dir() || matches!(kind, PartKind::Small | PartKind::Other) {
            writer.raw_copy_file(part).map_err(broken)?;
            continue;
        }
        writer.start_file(name.as_str(), stored).map_err(broken)?;
        let mut scan = Scanner::new(kind, &name, part.compressed_size());
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = part.read(&mut buf)?;
            if n == 0 {
                break;
            }
            scan.feed(&buf[..n], Some(&mut writer))?;
        }
        scan.finish()?;
    }
    writer
        .finish()
        .map_err(broken)?
        .flush()
        .map_err(ReadError::Io)?;
    Ok(path)
}

/// Where the scanner is in the XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Text,
    /// Inside `<…>`, with the quote of an attribute value if in one.
    Tag(Option<u8>),
    /// Inside `<![CDATA[…]]>`: text up to `]]>`, with how much of the terminator was seen.
    Cdata(u8),
}

/// The longest tag (with its attributes): a real one is well under a kilobyte.
const TAG_BYTES: usize = 64 * 1024;

/// A streaming scanner of one part, which may also write the part with long cells cut.
struct Scanner<'n> {
    kind: PartKind,
    part: &'n str,
    packed: u64,
    at: At,
    /// The bytes of the current tag, up to the first [`TAG_KEPT`] (its name and first attributes).
    tag: Vec<u8>,
    tag_len: usize,
    /// Unpacked bytes so far.
    size: u64,
    rows: u64,
    /// The sheet row (`r` attribute or count) and the cells in it.
    row: u64,
    cells_in_row: usize,
    /// Inside a cell (`<c>`) or a shared string (`<si>`), its text so far, and whether it was cut.
    in_item: bool,
    item_text: usize,
    item_cut: bool,
    /// Shared strings: how many, their text in total.
    strings: u64,
    string_bytes: u64,
    /// Text held back from writing: an unfinished entity (`&amp;`) or UTF-8 character, which
    /// cutting must not split.
    held: Vec<u8>,
    /// Whether any cell was cut.
    cut: bool,
    /// The current cell's reference, and whether it has a formula (`<f>`) and a value (`<v>`).
    cell_ref: String,
    cell_f: bool,
    cell_v: bool,
    /// Formula cells without a saved value: the first ones, and how many.
    formulas: Vec<String>,
    formulas_total: u64,
}

/// How much of a tag is kept to read its name and attributes: all of it (a tag is at most
/// [`TAG_BYTES`]), so that an attribute far into a tag is seen too.
const TAG_KEPT: usize = TAG_BYTES;

/// The value of attribute `name` in a tag (`c r="C5" s="1"`, `r` → `C5`), read as XML does:
/// whitespace around `=`, either quote.
fn attribute<'t>(tag: &'t [u8], name: &[u8]) -> Option<&'t [u8]> {
    let mut i = tag.iter().position(|c| c.is_ascii_whitespace())?;
    loop {
        while i < tag.len() && tag[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < tag.len()
            && !matches!(tag[i], b'=' | b'/' | b'>')
            && !tag[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let key = &tag[start..i];
        while i < tag.len() && tag[i].is_ascii_whitespace() {
            i += 1;
        }
        if key.is_empty() || tag.get(i) != Some(&b'=') {
            return None;
        }
        i += 1;
        while i < tag.len() && tag[i].is_ascii_whitespace() {
            i += 1;
        }
        let quote = *tag.get(i).filter(|q| matches!(q, b'"' | b'\''))?;
        let from = i + 1;
        let len = tag[from..].iter().position(|&c| c == quote)?;
        if key == name {
            return Some(&tag[from..from + len]);
        }
        i = from + len + 1;
    }
}

/// Excel's grid: columns A..XFD, rows 1..1 048 576.
const MAX_COLUMN: u32 = 16_384;
const MAX_ROW: u32 = 1_048_576;

/// Whether `text` is a cell reference inside Excel's grid (`C5`, `$C$5`; with `row_only`, also a
/// row number alone as `<row r="5">` has it).
fn reference_ok(text: &[u8], row_only: bool) -> bool {
    let text: Vec<u8> = text.iter().copied().filter(|&c| c != b'$').collect();
    let letters = text.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    let (col, row) = text.split_at(letters);
    if col.is_empty() && !row_only || col.len() > 3 || row.is_empty() || row.len() > 7 {
        return false;
    }
    if !row.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let column = col.iter().fold(0u32, |n, c| {
        n * 26 + u32::from(c.to_ascii_uppercase() - b'A') + 1
    });
    let row = row.iter().fold(0u32, |n, c| n * 10 + u32::from(c - b'0'));
    column <= MAX_COLUMN && (1..=MAX_ROW).contains(&row)
}

/// Whether `text` is a reference or a range of them (`A1:C9`).
fn range_ok(text: &[u8]) -> bool {
    let mut parts = text.splitn(2, |&c| c == b':');
    parts.next().is_some_and(|a| reference_ok(a, false))
        && parts.next().is_none_or(|b| reference_ok(b, false))
}

impl<'n> Scanner<'n> {
    fn new(kind: PartKind, part: &'n str, packed: u64) -> Scanner<'n> {
        Scanner {
            kind,
            part,
            packed,
            at: At::Text,
            tag: Vec::with_capacity(16),
            tag_len: 0,
            size: 0,
            rows: 0,
            row: 0,
            cells_in_row: 0,
            in_item: false,
            item_text: 0,
            item_cut: false,
            strings: 0,
            string_bytes: 0,
            held: Vec::with_capacity(16),
            cut: false,
            cell_ref: String::new(),
            cell_f: false,
            cell_v: false,
            formulas: Vec::new(),
            formulas_total: 0,
        }
    }

    fn finish(&mut self) -> Result<(), ReadError> {
        ratio_ok(self.part, self.size, self.packed)
    }

    /// Scan `chunk`; with `out`, write it (cut where needed).
    fn feed(&mut self, chunk: &[u8], mut out: Option<&mut dyn Write>) -> Result<(), ReadError> {
        self.size += chunk.len() as u64;
        let max = if self.kind == PartKind::Small {
            limits::SMALL_PART_BYTES
        } else {
            limits::PART_BYTES
        };
        if self.size > max {
            return Err(refuse(
                "xlsx-part-too-large",
                vec![
                    ("part", self.part.to_string()),
                    ("limit", limits::size_label(max)),
                ],
            ));
        }
        if self.size > limits::RATIO_FROM_BYTES {
            ratio_ok(self.part, self.size, self.packed)?;
        }
        if self.kind == PartKind::Small {
            // Counted only; calamine parses these small parts itself.
            return write(&mut out, chunk);
        }
        // Runs of bytes written as they are; text bytes go through `text` (which may cut them).
        let mut start = 0;
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            match self.at {
                At::Text => {
                    if b == b'<' {
                        self.text(&chunk[start..i], &mut out)?;
                        // The text run ended: nothing of it is held back any longer.
                        if !self.item_cut {
                            let held = std::mem::take(&mut self.held);
                            write(&mut out, &held)?;
                        }
                        self.held.clear();
                        start = i;
                        self.at = At::Tag(None);
                        self.tag.clear();
                        self.tag_len = 0;
                    }
                }
                At::Tag(quote) => {
                    self.tag_len += 1;
                    if self.tag_len > TAG_BYTES {
                        return Err(refuse(
                            "xlsx-malformed",
                            vec![("part", self.part.to_string())],
                        ));
                    }
                    if self.tag.len() < TAG_KEPT {
                        self.tag.push(b);
                        if self.tag == b"![CDATA[" {
                            write(&mut out, &chunk[start..=i])?;
                            start = i + 1;
                            self.at = At::Cdata(0);
                            i += 1;
                            continue;
                        }
                    }
                    match (quote, b) {
                        (Some(q), _) if b == q => self.at = At::Tag(None),
                        (Some(_), _) => {}
                        (None, b'"' | b'\'') => self.at = At::Tag(Some(b)),
                        (None, b'>') => {
                            write(&mut out, &chunk[start..=i])?;
                            start = i + 1;
                            self.at = At::Text;
                            self.end_tag()?;
                        }
                        _ => {}
                    }
                }
                At::Cdata(seen) => {
                    let seen = match (seen, b) {
                        (0 | 1, b']') => seen + 1,
                        (2, b']') => 2,
                        (2, b'>') => 3,
                        _ => 0,
                    };
                    if seen == 3 {
                        if i + 1 >= start + 3 {
                            // The text before `]]>`, then the terminator itself.
                            self.text(&chunk[start..i - 2], &mut out)?;
                            if !self.item_cut {
                                let held = std::mem::take(&mut self.held);
                                write(&mut out, &held)?;
                            }
                            write(&mut out, b"]]>")?;
                        } else {
                            // The terminator began in the previous chunk (written as text).
                            write(&mut out, &chunk[start..=i])?;
                        }
                        start = i + 1;
                        self.at = At::Text;
                    } else {
                        self.at = At::Cdata(seen);
                    }
                }
            }
            i += 1;
        }
        match self.at {
            At::Text => self.text(&chunk[start..], &mut out),
            At::Tag(_) => write(&mut out, &chunk[start..]),
            // A terminator cut between chunks is written as text: hold nothing back here.
            At::Cdata(_) => self.text(&chunk[start..], &mut out),
        }
    }

    /// A tag ended: its name (in `self.tag`) moves the scanner between rows, cells and strings.
    fn end_tag(&mut self) -> Result<(), ReadError> {
        let name: &[u8] = {
            let end = self
                .tag
                .iter()
                .position(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/'))
                .unwrap_or(self.tag.len());
            // `</c>`: the slash is the first byte.
            if self.tag.first() == Some(&b'/') {
                let rest = &self.tag[1..];
                let end = rest
                    .iter()
                    .position(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'>'))
                    .unwrap_or(rest.len());
                match (&rest[..end], self.kind) {
                    (b"c", PartKind::Sheet) => {
                        self.end_cell();
                        self.end_item();
                    }
                    (b"si", PartKind::Shared) => self.end_item(),
                    _ => {}
                }
                return Ok(());
            }
            &self.tag[..end]
        };
        let empty = self.tag.ends_with(b"/>");
        // The positions calamine computes from references: one outside Excel's grid is no real
        // file's (and overflowed calamine's arithmetic, found by fuzzing).
        if self.kind == PartKind::Sheet {
            let bad = match name {
                b"c" => attribute(&self.tag, b"r").filter(|r| !reference_ok(r, false)),
                b"row" => attribute(&self.tag, b"r").filter(|r| !reference_ok(r, true)),
                b"dimension" | b"f" | b"mergeCell" => {
                    attribute(&self.tag, b"ref").filter(|r| !range_ok(r))
                }
                _ => None,
            };
            if let Some(bad) = bad {
                let shown: String = String::from_utf8_lossy(bad).chars().take(20).collect();
                return Err(refuse(
                    "xlsx-bad-reference",
                    vec![
                        ("part", self.part.to_string()),
                        ("reference", shown),
                        ("row", (self.row + u64::from(name == b"row")).to_string()),
                    ],
                ));
            }
        }
        match (name, self.kind) {
            (b"row", PartKind::Sheet) => {
                self.rows += 1;
                // The row's number as Excel shows it (a row without one follows the previous).
                self.row = attribute(&self.tag, b"r")
                    .and_then(|r| std::str::from_utf8(r).ok()?.parse().ok())
                    .unwrap_or(self.row + 1);
                self.cells_in_row = 0;
                if self.rows > limits::ROWS {
                    return Err(refuse(
                        "file-too-many-rows",
                        vec![("limit", limits::ROWS.to_string())],
                    ));
                }
            }
            (b"c", PartKind::Sheet) => {
                self.cells_in_row += 1;
                if self.cells_in_row > limits::COLUMNS {
                    return Err(refuse(
                        "file-too-many-columns",
                        vec![
                            ("row", self.row.to_string()),
                            ("limit", limits::COLUMNS.to_string()),
                        ],
                    ));
                }
                self.begin_item(empty);
                self.cell_ref = attribute(&self.tag, b"r")
                    .map(|r| String::from_utf8_lossy(r).into_owned())
                    .unwrap_or_default();
                (self.cell_f, self.cell_v) = (false, false);
                if empty {
                    self.end_cell();
                }
            }
            (b"f", PartKind::Sheet) => self.cell_f = true,
            (b"v", PartKind::Sheet) => self.cell_v = true,
            (b"si", PartKind::Shared) => {
                self.strings += 1;
                if self.strings > limits::SHARED_STRINGS {
                    return Err(refuse(
                        "xlsx-too-many-strings",
                        vec![("limit", limits::SHARED_STRINGS.to_string())],
                    ));
                }
                self.begin_item(empty);
            }
            _ => {}
        }
        Ok(())
    }

    fn begin_item(&mut self, empty: bool) {
        self.in_item = !empty;
        self.item_text = 0;
        self.item_cut = false;
    }

    fn end_item(&mut self) {
        self.in_item = false;
    }

    /// A cell ended: a formula without a saved value is noted.
    fn end_cell(&mut self) {
        if self.cell_f && !self.cell_v {
            self.formulas_total += 1;
            if self.formulas.len() < limits::LISTED_PROBLEMS {
                self.formulas.push(std::mem::take(&mut self.cell_ref));
            }
        }
        (self.cell_f, self.cell_v) = (false, false);
    }

    /// Text between tags: counted, and written unless its cell is over the limit (then the marker
    /// once, and nothing more of that cell).
    fn text(&mut self, bytes: &[u8], out: &mut Option<&mut dyn Write>) -> Result<(), ReadError> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.kind == PartKind::Shared {
            self.string_bytes += bytes.len() as u64;
            if self.string_bytes > limits::SHARED_STRING_BYTES {
                return Err(refuse(
                    "xlsx-strings-too-large",
                    vec![("limit", limits::size_label(limits::SHARED_STRING_BYTES))],
                ));
            }
        }
        if !self.in_item {
            return write(out, bytes);
        }
        if self.item_cut {
            return Ok(());
        }
        if self.item_text + bytes.len() <= limits::CELL_BYTES {
            self.item_text += bytes.len();
            return self.write_text(out, bytes);
        }
        // Over the limit: keep what fits up to a whole character and entity, then the marker.
        self.cut = true;
        self.item_cut = true;
        let room = limits::CELL_BYTES - self.item_text;
        let mut kept = Vec::with_capacity(self.held.len() + room);
        kept.append(&mut self.held);
        kept.extend_from_slice(&bytes[..room.min(bytes.len())]);
        let safe = safe_prefix(&kept);
        write(out, &kept[..safe])?;
        write(out, TOO_LONG.as_bytes())
    }

    /// Write cell text, holding back an unfinished entity or character at its end.
    fn write_text(
        &mut self,
        out: &mut Option<&mut dyn Write>,
        bytes: &[u8],
    ) -> Result<(), ReadError> {
        if out.is_none() {
            return Ok(());
        }
        let mut all = std::mem::take(&mut self.held);
        all.extend_from_slice(bytes);
        let safe = safe_prefix(&all);
        write(out, &all[..safe])?;
        self.held = all[safe..].to_vec();
        Ok(())
    }
}

/// The longest prefix of `text` that ends neither inside an entity (`&…;`) nor inside a UTF-8
/// character.
fn safe_prefix(text: &[u8]) -> usize {
    let mut end = text.len();
    // An `&` with no `;` after it, within an entity's length, starts an unfinished entity.
    if let Some(amp) = text.iter().rposition(|&b| b == b'&')
        && !text[amp..].contains(&b';')
        && text.len() - amp <= 12
    {
        end = amp;
    }
    // Back off to a character boundary.
    while end > 0 && end < text.len() && (text[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    if end == text.len() {
        // The last character may itself be unfinished.
        let mut k = end;
        while k > 0 && (text[k - 1] & 0xC0) == 0x80 {
            k -= 1;
        }
        if k > 0 {
            let lead = text[k - 1];
            let need = match lead {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            if end - (k - 1) < need {
                end = k - 1;
            }
        }
    }
    end
}

fn write(out: &mut Option<&mut dyn Write>, bytes: &[u8]) -> Result<(), ReadError> {
    if let Some(w) = out.as_deref_mut() {
        w.write_all(bytes)?;
    }
    Ok(())
}

/// Check a .csv file: no more than [`limits::ROWS`] records, counted before any row is read, so a
/// file over the limit is refused at once rather than after its first 2 M rows were validated and
/// written. Records are counted as the reader counts them (blank lines between records are not
/// records; a quoted field may span lines). A file too small to hold that many is not scanned.
pub fn check_csv(path: &Path) -> Result<(), ReadError> {
    use std::io::BufRead;
    let file = std::fs::File::open(path)?;
    // The shortest record is one byte and its line end.
    if file.metadata()?.len() <= limits::ROWS * 2 {
        return Ok(());
    }
    let mut input = std::io::BufReader::with_capacity(256 * 1024, file);
    let mut rdr = csv_core::ReaderBuilder::new().build();
    let mut out = [0u8; 4096];
    let (mut records, mut in_record) = (0u64, false);
    loop {
        let buf = input.fill_buf()?;
        if !in_record {
            let skip = buf
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            if skip > 0 {
                input.consume(skip);
                continue;
            }
            in_record = true;
        }
        let buf = input.fill_buf()?;
        let (res, nin, _) = rdr.read_field(buf, &mut out);
        input.consume(nin);
        match res {
            csv_core::ReadFieldResult::Field { record_end: true } => {
                records += 1;
                in_record = false;
                if records > limits::ROWS {
                    return Err(refuse(
                        "file-too-many-rows",
                        vec![("limit", limits::ROWS.to_string())],
                    ));
                }
            }
            csv_core::ReadFieldResult::End => return Ok(()),
            _ => {}
        }
    }
}

/// Check an .xls file: the dense grids calamine would build for its sheets stay within
/// [`limits::XLS_CELLS`] cells in all.
pub fn check_xls(path: &Path) -> Result<(), ReadError> {
    let mut cfb = cfb::open(path).map_err(|e| ReadError::Workbook(e.to_string()))?;
    let stream = if cfb.exists("/Workbook") {
        "/Workbook"
    } else {
        "/Book"
    };
    let mut s = cfb
        .open_stream(stream)
        .map_err(|e| ReadError::Workbook(e.to_string()))?;
    let mut total: u64 = 0;
    // The bounds of the current sheet's cells: (first row, last row, first col, last col).
    let mut bounds: Option<(u32, u32, u32, u32)> = None;
    let mut head = [0u8; 4];
    let mut body = vec![0u8; 8224];
    // Where the stream is, and where each BoundSheet8 says its sheet starts (calamine slices the
    // stream there without checking: a position past the end panicked, found by fuzzing).
    let mut offset: u64 = 0;
    let mut sheets: Vec<u64> = Vec::new();
    let grid = |b: Option<(u32, u32, u32, u32)>| {
        b.map_or(0, |(r0, r1, c0, c1)| {
            u64::from(r1 - r0 + 1) * u64::from(c1 - c0 + 1)
        })
    };
    loop {
        if read_exact_or_end(&mut s, &mut head)? {
            break;
        }
        let kind = u16::from_le_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
        body.resize(len, 0);
        if read_exact_or_end(&mut s, &mut body[..len])? {
            break;
        }
        offset += 4 + len as u64;
        // DIMENSIONS: calamine reserves room for the declared range of each sheet before
        // reading a cell (a huge or reversed range aborted the process, found by fuzzing).
        if kind == 0x0200 && declared_cells(&body[..len]) > limits::XLS_CELLS {
            return Err(refuse(
                "xls-too-large",
                vec![("limit", limits::XLS_CELLS.to_string())],
            ));
        }
        if kind == 0x0085 && len >= 4 {
            sheets.push(u64::from(u32::from_le_bytes([
                body[0], body[1], body[2], body[3],
            ])));
        }
        // Cell records: row (u16), column (u16) first; MULRK/MULBLANK: row, first col, …, last col.
        let cell = |r: u16, c0: u16, c1: u16| (u32::from(r), u32::from(c0), u32::from(c1));
        let at = match kind {
            0x0809 => {
                // A new substream (sheet): close the previous one's grid.
                total += grid(bounds.take());
                None
            }
            0x00FD | 0x027E | 0x0203 | 0x0201 | 0x0006 | 0x0205 | 0x0204 | 0x00D6 if len >= 4 => {
                let r = u16::from_le_bytes([body[0], body[1]]);
                let c = u16::from_le_bytes([body[2], body[3]]);
                Some(cell(r, c, c))
            }
            0x00BD | 0x00BE if len >= 6 => {
                let r = u16::from_le_bytes([body[0], body[1]]);
                let c0 = u16::from_le_bytes([body[2], body[3]]);
                let c1 = u16::from_le_bytes([body[len - 2], body[len - 1]]);
                Some(cell(r, c0, c1.max(c0)))
            }
            _ => None,
        };
        if let Some((r, c0, c1)) = at {
            bounds = Some(match bounds {
                None => (r, r, c0, c1),
                Some((r0, r1, a, b)) => (r0.min(r), r1.max(r), a.min(c0), b.max(c1)),
            });
        }
        if total + grid(bounds) > limits::XLS_CELLS {
            return Err(refuse(
                "xls-too-large",
                vec![("limit", limits::XLS_CELLS.to_string())],
            ));
        }
    }
    let length = s.len();
    if let Some(k) = sheets.iter().position(|&at| at > length.max(offset)) {
        return Err(refuse(
            "xls-bad-sheet",
            vec![("sheet", (k + 1).to_string())],
        ));
    }
    Ok(())
}

/// The cells of a DIMENSIONS record's range, as calamine computes it (BIFF5: 10 bytes, BIFF8: 14
/// or 16; a first column past 0xFF or after the last counts from 0); a reversed range, which
/// calamine's unsigned arithmetic wraps, counts as `u64::MAX`. Other lengths calamine refuses.
fn declared_cells(r: &[u8]) -> u64 {
    let u16_at = |i: usize| u32::from(u16::from_le_bytes([r[i], r[i + 1]]));
    let u32_at = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
    let (rf, rl, mut cf, cl) = match r.len() {
        10 => (u16_at(0), u16_at(2), u16_at(4), u16_at(6)),
        14 | 16 => (u32_at(0), u32_at(4), u16_at(8), u16_at(10)),
        _ => return 0,
    };
    if cf > 0xFF || cl < cf {
        cf = 0;
    }
    let ((r0, c0), (r1, c1)) = if rl >= 1 && cl >= 1 {
        ((rf, cf), (rl - 1, cl - 1))
    } else {
        ((rf, cf), (rf, cf))
    };
    if r1 < r0 || c1 < c0 {
        return u64::MAX;
    }
    u64::from(r1 - r0 + 1) * u64::from(c1 - c0 + 1)
}

/// Fill `buf`, or say the stream ended first.
fn read_exact_or_end(r: &mut impl Read, buf: &mut [u8]) -> Result<bool, ReadError> {
    let mut n = 0;
    while n < buf.len() {
        let k = r.read(&mut buf[n..])?;
        if k == 0 {
            return Ok(true);
        }
        n += k;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_keeps_whole_characters_and_entities() {
        assert_eq!(safe_prefix(b"abc"), 3);
        assert_eq!(safe_prefix(b"ab&am"), 2);
        assert_eq!(safe_prefix(b"ab&amp;c"), 8);
        let zh = "张三".as_bytes();
        assert_eq!(safe_prefix(&zh[..4]), 3);
        assert_eq!(safe_prefix(zh), 6);
    }

    fn scan(kind: PartKind, xml: &str) -> (Result<(), ReadError>, bool, Vec<u8>) {
        let mut s = Scanner::new(kind, "part", xml.len() as u64);
        let mut out = Vec::new();
        let mut r = Ok(());
        // Fed in small pieces, to cross every boundary.
        for piece in xml.as_bytes().chunks(7) {
            r = s.feed(piece, Some(&mut out));
            if r.is_err() {
                break;
            }
        }
        (r, s.cut, out)
    }

    #[test]
    fn long_cells_are_cut_and_short_ones_kept() {
        let long = "字".repeat(limits::CELL_BYTES);
        let xml = format!(
            "<sheetData><row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>短 &amp; 好</t></is></c>\
             <c r=\"B1\" t=\"inlineStr\"><is><t>{long}</t></is></c></row></sheetData>"
        );
        let (r, cut, out) = scan(PartKind::Sheet, &xml);
        assert!(r.is_ok());
        assert!(cut);
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("<t>短 &amp; 好</t>"));
        assert!(out.contains(TOO_LONG));
        assert!(out.len() < limits::CELL_BYTES + 200);
        assert!(out.ends_with("</t></is></c></row></sheetData>"));
    }

    #[test]
    fn many_runs_of_one_string_count_together() {
        let run = format!("<r><t>{}</t></r>", "x".repeat(1000));
        let xml = format!("<sst><si>{}</si><si><t>ok</t></si></sst>", run.repeat(40));
        let (r, cut, out) = scan(PartKind::Shared, &xml);
        assert!(r.is_ok());
        assert!(cut);
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("<si><t>ok</t></si>"));
    }

    #[test]
    fn file_wide_limits_refuse() {
        let row = format!("<row>{}</row>", "<c/>".repeat(limits::COLUMNS + 1));
        let (r, _, _) = scan(PartKind::Sheet, &row);
        assert!(matches!(
            r,
            Err(ReadError::Limit {
                code: "file-too-many-columns",
                ..
            })
        ));
        let tag = format!("<c r=\"{}\">", "A".repeat(TAG_BYTES + 1));
        let (r, _, _) = scan(PartKind::Sheet, &tag);
        assert!(matches!(
            r,
            Err(ReadError::Limit {
                code: "xlsx-malformed",
                ..
            })
        ));
    }

    #[test]
    fn references_outside_the_grid_are_refused_with_the_place() {
        // Real references pass, whatever the quoting and spacing.
        let fine = "<dimension ref=\"A1:XFD1048576\"/><row r=\"1\" spans=\"1:2\"><c r=\"$A$1\"/>\
                    <c s=\"1\"   r = 'XFD1'><f t=\"shared\" ref=\"B1:B9\" si=\"0\">A1</f></c></row>\
                    <row><c><v>1</v></c></row><mergeCell ref=\"A1:B2\"/>";
        assert!(scan(PartKind::Sheet, fine).0.is_ok());
        for (xml, reference, row) in [
            // What the fuzzer found: letters only overflowed calamine's column arithmetic.
            (
                "<sheetData><row r=\"1\"><c r=\"inlineSr\">",
                "inlineSr",
                "1",
            ),
            ("<row r=\"2\"><c r=\"XFE2\"/>", "XFE2", "2"),
            ("<row r=\"3\"><c r=\"A99999999999\"/>", "A99999999999", "3"),
            ("<row r=\"0\">", "0", "1"),
            ("<row r=\"1048577\">", "1048577", "1"),
            ("<dimension ref=\"A1:ZZZZ9\"/>", "A1:ZZZZ9", "0"),
            (
                "<row r=\"4\"><c r=\"A4\"><f t=\"shared\" ref=\"A4:A\">",
                "A4:A",
                "4",
            ),
        ] {
            let (r, _, _) = scan(PartKind::Sheet, xml);
            let Err(ReadError::Limit { code, args }) = r else {
                panic!("{xml}: {r:?}")
            };
            assert_eq!(code, "xlsx-bad-reference", "{xml}");
            assert!(
                args.contains(&("reference", reference.to_string())),
                "{args:?}"
            );
            assert!(args.contains(&("row", row.to_string())), "{xml}: {args:?}");
        }
        // An attribute past the first bytes of a long tag is still seen.
        let long = format!("<row r=\"1\"><c {} r=\"AAAA1\"/>", "x=\"y\" ".repeat(100));
        assert!(scan(PartKind::Sheet, &long).0.is_err());
    }

    #[test]
    fn formulas_without_a_saved_value_are_named() {
        let xml = "<row r=\"5\"><c r=\"B5\"><f>A5*2</f><v>4</v></c><c r=\"C5\" s=\"1\"><f>A5+1</f></c>\
                   <c r=\"D5\" t=\"s\"><v>0</v></c><c r=\"E5\"><f t=\"shared\" si=\"0\"/></c></row>";
        let mut s = Scanner::new(PartKind::Sheet, "part", xml.len() as u64);
        for piece in xml.as_bytes().chunks(5) {
            s.feed(piece, None).unwrap();
        }
        assert_eq!(s.formulas, vec!["C5".to_string(), "E5".to_string()]);
        assert_eq!(s.formulas_total, 2);
    }

    #[test]
    fn attribute_values_and_cdata_do_not_end_a_tag_or_text() {
        let xml = "<c r=\"A1\" x=\"a>b\"><is><t><![CDATA[<not a tag>]]></t></is></c>";
        let (r, cut, out) = scan(PartKind::Sheet, xml);
        assert!(r.is_ok() && !cut);
        assert_eq!(String::from_utf8(out).unwrap(), xml);
    }
}
