//! Entry points for coverage-guided fuzzing (`fuzz/`, cargo-fuzz + libFuzzer) and for replaying
//! the fuzz corpora in a stable test (`tests/fuzz_corpus.rs`). Not part of the API.
//!
//! One function per target. Each takes any bytes, runs them through a parser a user can feed (a
//! spreadsheet, a form, an exchange file, a configuration) by its real entry points, and must
//! never panic: a panic is a bug, in the code under test or here. Beyond "no panic", a few
//! documented properties are asserted (a canonical value parses back to itself, a reader keeps
//! its limits), so that a broken contract shows up as a crash too.
//!
//! Where the real entry point needs a database (the FHIR and referral-platform imports), the
//! target calls the import's own database-free part (`fhir_import::read_bundle` and `plan`,
//! `platform::read_file`) on a fixed county.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use chrono::NaiveDate;
use serde_json::Value;

use crate::care::followup::{self, FormDef};
use crate::care::schedule::ConditionClass;
use crate::care::standard::Period;
use crate::domain::{
    CreditCode, DisabilityCategory, DisabilityCertificate, DisabilityGrade, IdNumber, PersonName,
    Phone, PhoneKind, RegionCode, RegistrationState, Sex, check_char,
};
use crate::exchange::Ours;
use crate::import::header::{self, ColumnMap};
use crate::import::roster::{self, ROSTER_COLUMNS};
use crate::import::sheet::{Cell, Kind, RawRow, ReadError, RowStream};
use crate::import::{guard, limits};
use crate::messages;
use crate::regions::{Region, RegionTree, Scope};

/// The targets, by name (`fuzz/fuzz_targets/<name>.rs`, `fuzz/corpus/<name>/`).
pub const TARGETS: &[&str] = &[
    "roster_sheet",
    "csv_reader",
    "xlsx_reader",
    "xls_reader",
    "domain_validators",
    "followup_form",
    "fhir_bundle",
    "platform_file",
    "linkage_config",
];

/// Run the target `target` on `data`. Panics only on an unknown target name (or a bug found).
pub fn run(target: &str, data: &[u8]) {
    match target {
        "roster_sheet" => roster_sheet(data),
        "csv_reader" => csv_reader(data),
        "xlsx_reader" => xlsx_reader(data),
        "xls_reader" => xls_reader(data),
        "domain_validators" => domain_validators(data),
        "followup_form" => followup_form(data),
        "fhir_bundle" => fhir_bundle(data),
        "platform_file" => platform_file(data),
        "linkage_config" => linkage_config(data),
        other => panic!("no fuzz target named {other:?} (see fuzzing::TARGETS)"),
    }
}

/// The day the targets take as today: fixed, so that a run can be replayed.
fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default()
}

/// The embedded region tree and the county the imports are run into (綦江区, as in the tests).
struct Place {
    tree: RegionTree,
    county: Region,
}

fn place() -> Option<&'static Place> {
    static PLACE: OnceLock<Option<Place>> = OnceLock::new();
    PLACE
        .get_or_init(|| {
            let tree = RegionTree::new(crate::regions::embedded_regions().ok()?);
            let county = tree.get("500110")?.clone();
            Some(Place { tree, county })
        })
        .as_ref()
}

// ---------------------------------------------------------------------------------------------
// Spreadsheets: RowStream (guard, calamine, the CSV reader), header detection, row validation.
// ---------------------------------------------------------------------------------------------

/// Write `data` to a fresh temporary file named `*.ext` and call `f` with its path.
fn with_file(ext: &str, data: &[u8], f: impl FnOnce(&Path)) {
    let Ok(mut file) = tempfile::Builder::new()
        .prefix("jingkang-fuzz-")
        .suffix(&format!(".{ext}"))
        .tempfile()
    else {
        return;
    };
    if file.write_all(data).and_then(|()| file.flush()).is_err() {
        return;
    }
    f(file.path());
}

fn read_error(e: &ReadError) {
    let _ = (e.code(), e.message_zh(), e.to_string());
}

/// What the readers promise about every row they hand out.
fn check_row(kind: Kind, row: &RawRow) {
    for c in &row.cells {
        let _ = (c.text(), c.as_text(), c.is_blank());
        if let Cell::Text(s) = c {
            assert!(
                !s.contains(guard::TOO_LONG),
                "row {}: a text cell still holds the too-long marker",
                row.number
            );
        }
    }
    let _ = (row.is_blank(), row.too_long().count(), row.get(usize::MAX));
    let most = match kind {
        Kind::Csv => limits::COLUMNS,
        // The .xlsx reader drops cells at column 512 and beyond.
        Kind::Xlsx => 512,
        // An .xls row is as wide as the sheet's grid, which the guard bounds in cells.
        Kind::Xls => limits::XLS_CELLS as usize,
    };
    assert!(
        row.cells.len() <= most,
        "row {} has {} cells, more than {most}",
        row.number,
        row.cells.len()
    );
}

/// Read every row of `path` as an import does (errors end the stream), `each` seeing each row.
fn read_rows(path: &Path, kind: Kind, mut each: impl FnMut(&RawRow)) {
    let mut stream = match RowStream::open(path) {
        Ok(s) => s,
        Err(e) => return read_error(&e),
    };
    let mut failed = false;
    while let Some(next) = stream.blocking_next() {
        assert!(!failed, "rows after the error that stopped reading");
        match next {
            Ok(row) => {
                check_row(kind, &row);
                each(&row);
            }
            Err(e) => {
                read_error(&e);
                failed = true;
            }
        }
    }
}

/// Rows validated through the entry rules per input (each one looks up the county's townships).
const VALIDATED_ROWS: usize = 32;

/// The roster import's reading of rows: the header among the top rows (exactly as
/// `import_roster` looks for it), then each data row that is not noise validated with the
/// roster's rules (`roster::validate_entry`, the roster's own validation of one record).
#[derive(Default)]
struct RosterRead {
    before: Vec<RawRow>,
    map: Option<ColumnMap>,
    gave_up: bool,
    validated: usize,
}

impl RosterRead {
    fn row(&mut self, row: &RawRow) {
        if self.gave_up {
            return;
        }
        let Some(map) = &self.map else {
            if let Some(m) = header::detect(ROSTER_COLUMNS, row) {
                for i in 0..ROSTER_COLUMNS.len() {
                    let _ = (m.col(i), m.header_text(ROSTER_COLUMNS, i));
                }
                self.map = Some(m);
            } else if row.number > header::MAX_HEADER_ROW {
                let _ = header::missing_required(ROSTER_COLUMNS, &self.before);
                self.gave_up = true;
            } else {
                self.before.push(row.clone());
            }
            return;
        };
        let name_col = ROSTER_COLUMNS
            .iter()
            .position(|s| s.key == "name")
            .unwrap_or(0);
        let _ = map.is_repeated_header(row);
        if row.is_blank() || header::is_noise_row(map, name_col, row) {
            return;
        }
        if self.validated >= VALIDATED_ROWS {
            return;
        }
        self.validated += 1;
        let Some(place) = place() else { return };
        let value = |key: &str| -> Option<String> {
            let spec = ROSTER_COLUMNS.iter().position(|s| s.key == key)?;
            let cell = row.get(map.col(spec)?);
            (!cell.is_blank()).then(|| cell.text().into_owned())
        };
        match roster::validate_entry(&place.tree, &place.county, today(), &value) {
            Ok(record) => {
                let _ = serde_json::to_string(&record.data);
            }
            Err(errors) => {
                for e in errors {
                    assert!(!e.message.is_empty(), "an empty message for {}", e.code);
                }
            }
        }
    }

    fn finish(&self) {
        if self.map.is_none() {
            let _ = header::missing_required(ROSTER_COLUMNS, &self.before);
        }
    }
}

/// 附件3 roster: the first byte picks the file type (`0` .csv, `1` .xlsx, `2` .xls, `3` .xlsx
/// made of XML parts, see [`xlsx_reader`]; by its value modulo 4), the rest is the file.
pub fn roster_sheet(data: &[u8]) {
    let Some((&first, file)) = data.split_first() else {
        return;
    };
    let built;
    let (ext, kind, file) = match first % 4 {
        0 => ("csv", Kind::Csv, file),
        1 => ("xlsx", Kind::Xlsx, file),
        2 => ("xls", Kind::Xls, file),
        _ => {
            built = xlsx_of_parts(file);
            ("xlsx", Kind::Xlsx, built.as_slice())
        }
    };
    with_file(ext, file, |path| {
        let mut read = RosterRead::default();
        read_rows(path, kind, |row| read.row(row));
        read.finish();
    });
}

/// The CSV reader (UTF-8 with or without a BOM, or GBK), rows and header detection.
pub fn csv_reader(data: &[u8]) {
    with_file("csv", data, |path| {
        let mut read = RosterRead {
            // Header detection only: the rows are the reader's business here.
            validated: VALIDATED_ROWS,
            ..Default::default()
        };
        read_rows(path, Kind::Csv, |row| read.row(row));
        read.finish();
    });
}

/// An .xlsx file: the import guard (`guard::check_xlsx`), then calamine's streaming reader.
///
/// Input starting with `PK` is the file itself. Anything else is the XML of the worksheet, then
/// (after a NUL byte, which XML never holds) that of the shared strings, which are zipped into a
/// workbook here: mutations of the XML then reach the guard's scanner and calamine's XML reader
/// instead of failing the zip's checksums.
pub fn xlsx_reader(data: &[u8]) {
    let built;
    let file = if data.starts_with(b"PK") {
        data
    } else {
        built = xlsx_of_parts(data);
        built.as_slice()
    };
    with_file("xlsx", file, |path| {
        read_rows(path, Kind::Xlsx, |_| {});
    });
}

/// A workbook of one worksheet: `sheet XML [NUL shared-strings XML]`, the worksheet deflated and
/// the shared strings stored (both kinds of part the guard inflates).
fn xlsx_of_parts(data: &[u8]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    const MAIN: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
    const REL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
    const PKG: &str = "http://schemas.openxmlformats.org/package/2006/relationships";
    let (sheet, shared) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let ct = "application/vnd.openxmlformats-officedocument.spreadsheetml";
    let types = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
         <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
         <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
         <Override PartName=\"/xl/workbook.xml\" ContentType=\"{ct}.sheet.main+xml\"/>\
         <Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"{ct}.worksheet+xml\"/>\
         <Override PartName=\"/xl/sharedStrings.xml\" ContentType=\"{ct}.sharedStrings+xml\"/></Types>"
    );
    let root = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Relationships xmlns=\"{PKG}\">\
         <Relationship Id=\"rId1\" Type=\"{REL}/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>"
    );
    let workbook = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><workbook xmlns=\"{MAIN}\" xmlns:r=\"{REL}\">\
         <sheets><sheet name=\"花名册\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"
    );
    let mut rels = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Relationships xmlns=\"{PKG}\">\
         <Relationship Id=\"rId1\" Type=\"{REL}/worksheet\" Target=\"worksheets/sheet1.xml\"/>"
    );
    if shared.is_some() {
        rels.push_str(&format!(
            "<Relationship Id=\"rId2\" Type=\"{REL}/sharedStrings\" Target=\"sharedStrings.xml\"/>"
        ));
    }
    rels.push_str("</Relationships>");
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let deflated =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut parts: Vec<(&str, &[u8], SimpleFileOptions)> = vec![
        ("[Content_Types].xml", types.as_bytes(), stored),
        ("_rels/.rels", root.as_bytes(), stored),
        ("xl/workbook.xml", workbook.as_bytes(), stored),
        ("xl/_rels/workbook.xml.rels", rels.as_bytes(), stored),
        ("xl/worksheets/sheet1.xml", sheet, deflated),
    ];
    if let Some(shared) = shared {
        parts.push(("xl/sharedStrings.xml", shared, stored));
    }
    for (name, bytes, options) in parts {
        if zip.start_file(name, options).is_err() || zip.write_all(bytes).is_err() {
            return Vec::new();
        }
    }
    zip.finish().map(|c| c.into_inner()).unwrap_or_default()
}

/// Whether a panic was raised inside calamine: the sheet reader contains those
/// (`import::sheet::unpanicked`) and reports the file as unreadable, so they are upstream bugs
/// met safely, not crashes of ours. Every other panic is one.
pub fn is_contained_upstream(location: Option<&std::panic::Location<'_>>) -> bool {
    location.is_some_and(|l| l.file().contains("/calamine-"))
}

/// For the fuzz targets of the sheet readers: keep the installed panic hook (libFuzzer's, which
/// aborts) for every panic except one raised inside calamine, which the reader contains. A
/// calamine panic that escaped would still abort (libfuzzer-sys catches the unwinding).
pub fn contain_upstream_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let installed = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if is_contained_upstream(info.location()) {
                return;
            }
            installed(info);
        }));
    });
}

/// An .xls file: the import guard (`guard::check_xls`), then calamine.
pub fn xls_reader(data: &[u8]) {
    with_file("xls", data, |path| {
        read_rows(path, Kind::Xls, |_| {});
    });
}

// ---------------------------------------------------------------------------------------------
// Domain values.
// ---------------------------------------------------------------------------------------------

/// Every parser of `domain` (and the period and code-list parsers the pages read from a query)
/// on the text, each line and the first two lines as a pair; what they build is used and parsed
/// back.
pub fn domain_validators(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let day = today();
    domain_text(&text, day);
    let lines: Vec<&str> = text.lines().take(8).collect();
    if lines.len() > 1 {
        for line in &lines {
            domain_text(line, day);
        }
    }
    if let [a, b, ..] = lines.as_slice() {
        domain_pair(a, b, day);
    }
    if let Some(&b) = data.first() {
        if let Some(c) = DisabilityCategory::from_code(b) {
            assert_eq!(c.code(), b);
            let _ = (c.label_zh(), c.is_registry_category());
        }
        if let Some(g) = DisabilityGrade::from_number(b) {
            assert_eq!(g.number(), b);
        }
    }
}

fn domain_text(s: &str, day: NaiveDate) {
    match IdNumber::parse_as_of(s, day) {
        Ok(id) => {
            let _ = (
                id.to_string(),
                format!("{id:?}"),
                id.masked(),
                id.region_prefix(),
            );
            let _ = (id.birth_date(), id.sex().label_zh(), id.age_on(day));
            let _ = (id.age_on(NaiveDate::MIN), id.age_on(NaiveDate::MAX));
            assert_eq!(
                IdNumber::parse_as_of(id.as_str(), day).as_ref(),
                Ok(&id),
                "a canonical ID number parses back to itself"
            );
            assert_eq!(
                id.as_str().get(17..),
                Some(
                    check_char(id.as_str().get(..17).unwrap_or(""))
                        .to_string()
                        .as_str()
                )
            );
        }
        Err(e) => {
            let _ = (e.code(), e.to_string(), messages::template(e.code()));
        }
    }
    let _ = IdNumber::parse(s);
    let _ = check_char(s);
    match DisabilityCertificate::parse_as_of(s, day) {
        Ok(c) => {
            let _ = (
                c.to_string(),
                format!("{c:?}"),
                c.masked(),
                c.holder_id().masked(),
            );
            let _ = (c.category().label_zh(), c.grade().label_zh());
            assert!(c.category().is_registry_category());
            assert_eq!(
                DisabilityCertificate::parse_as_of(c.as_str(), day).as_ref(),
                Ok(&c),
                "a canonical certificate number parses back to itself"
            );
        }
        Err(e) => {
            let _ = (e.code(), e.to_string());
        }
    }
    let _ = DisabilityCertificate::parse(s);
    match DisabilityGrade::parse_text(s) {
        Ok((category, grade)) => {
            let _ = category.map(|c| (c.label_zh(), c.code(), c.is_registry_category()));
            assert_eq!(DisabilityGrade::from_number(grade.number()), Some(grade));
            assert_eq!(
                DisabilityGrade::parse_text(grade.label_zh()),
                Ok((None, grade))
            );
            let _ = serde_json::to_string(&grade);
        }
        Err(e) => {
            let _ = e.code();
        }
    }
    match Phone::parse(s) {
        Ok(p) => phone(&p),
        Err(e) => {
            let _ = (e.code(), e.to_string());
        }
    }
    if let Ok(list) = Phone::parse_list(s) {
        for p in &list {
            phone(p);
        }
    }
    match PersonName::parse(s) {
        Ok(n) => {
            let _ = (n.to_string(), format!("{n:?}"), n.masked());
            assert_eq!(
                PersonName::parse(n.as_str()).as_ref(),
                Ok(&n),
                "a normalised name parses back to itself"
            );
        }
        Err(e) => {
            let _ = e.code();
        }
    }
    match Sex::parse(s) {
        Ok(sex) => {
            assert_eq!(Sex::parse(sex.code()), Ok(sex));
            assert_eq!(Sex::parse(sex.label_zh()), Ok(sex));
        }
        Err(e) => {
            let _ = e.code();
        }
    }
    match RegionCode::parse(s) {
        Ok(code) => {
            let _ = (code.level().label_zh(), code.prefix());
            assert_eq!(RegionCode::parse(code.as_str()).as_ref(), Ok(&code));
            let mut child = code;
            while let Some(parent) = child.parent_code() {
                assert!(
                    parent.level() < child.level(),
                    "a parent is above its child"
                );
                let _ = (parent.contains(&child), parent.is_ancestor_of(&child));
                child = parent;
            }
        }
        Err(e) => {
            let _ = e.code();
        }
    }
    match CreditCode::parse(s) {
        Ok(c) => assert_eq!(CreditCode::parse(c.as_str()).as_ref(), Ok(&c)),
        Err(e) => {
            let _ = e.code();
        }
    }
    let _ = crate::domain::credit_code::credit_check_char(s.as_bytes());
    if let Some(state) = RegistrationState::from_code(s) {
        let _ = state.label_zh();
    }
    for list in crate::registry::codes::CODE_LISTS {
        if let Some(code) = crate::registry::codes::parse(list.field, s) {
            let _ = crate::registry::codes::label(list.field, code);
        }
    }
    for period in [Period::parse_month(s), Period::parse_quarter(s)]
        .into_iter()
        .flatten()
    {
        assert!(period.start <= period.end);
        let _ = (period.months(), period.label_zh());
    }
}

fn phone(p: &Phone) {
    let _ = (p.to_string(), format!("{p:?}"), p.masked(), p.kind());
    let _ = (p.is_mobile(), p.area_code(), p.extension());
    assert_eq!(p.is_mobile(), p.kind() == PhoneKind::Mobile);
    assert_eq!(
        Phone::parse(p.as_str()).as_ref(),
        Ok(p),
        "a canonical phone number parses back to itself"
    );
}

fn domain_pair(a: &str, b: &str, day: NaiveDate) {
    if let Ok(id) = IdNumber::parse_as_of(a, day)
        && let Ok(c) = DisabilityCertificate::parse_for(b, &id)
    {
        assert_eq!(c.holder_id(), &id);
    }
    if let (Ok(x), Ok(y)) = (RegionCode::parse(a), RegionCode::parse(b))
        && x.is_ancestor_of(&y)
    {
        assert!(x.contains(&y) && !y.is_ancestor_of(&x));
    }
}

// ---------------------------------------------------------------------------------------------
// The follow-up form.
// ---------------------------------------------------------------------------------------------

/// A JSON body as the API's follow-up endpoint takes it, validated against the shipped form and
/// concluded (condition class, next date) after each possible previous class.
pub fn followup_form(data: &[u8]) {
    let Ok(form) = FormDef::shipped() else {
        return;
    };
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let day = today();
    match followup::validate_json(form, &body, day) {
        Ok(f) => {
            assert!(f.visit_date <= day, "a visit in the future was accepted");
            for (key, value) in &f.answers {
                let field = form.field(key);
                assert!(field.is_some(), "an answer to no field: {key}");
                if let Some(field) = field {
                    let _ = followup::display_answer(field, value);
                }
            }
            for previous in [
                None,
                Some(ConditionClass::Unstable),
                Some(ConditionClass::BasicallyStable),
                Some(ConditionClass::Stable),
            ] {
                match followup::conclude(form, &f, previous) {
                    Ok(c) => {
                        if let Some(next) = c.next_date {
                            assert!(next > f.visit_date, "the next follow-up is not later");
                        }
                        let _ = c.class.map(|c| (c.label_zh(), c.handling_zh()));
                    }
                    Err(e) => assert!(!e.message.is_empty()),
                }
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "refused without a reason");
            for e in errors {
                assert!(!e.message.is_empty(), "an empty message for {}", e.code);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// FHIR R4 Bundle import (interop::fhir_import), up to the database.
// ---------------------------------------------------------------------------------------------

/// A registry of three persons of the county to link Patients to.
fn registry() -> &'static [Ours] {
    static OURS: OnceLock<Vec<Ours>> = OnceLock::new();
    OURS.get_or_init(|| {
        [
            ("500110199001011236", "张三", "male", "万盛街道"),
            ("50011019850615246X", "李四", "female", "古南街道"),
            ("500110199202294682", "钱七", "female", "万盛街道"),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, (id, name, sex, address))| Ours {
            person: i as i64 + 1,
            id_number: id.to_string(),
            name: name.to_string(),
            sex: sex.to_string(),
            birth_date: IdNumber::parse_as_of(id, today())
                .ok()
                .map(|i| i.birth_date()),
            residence_address: Some(format!("綦江区{address}")),
            household_address: None,
            phone: Some("13800001111".to_string()),
            guardian: None,
            certificate: None,
            grade: None,
            allowance: false,
            active: true,
            died: false,
        })
        .collect()
    })
}

/// Patients linked per input (the linkage fits a model on them).
const LINKED_PATIENTS: usize = 64;

/// A FHIR R4 Bundle as `interop::fhir_import::import` reads it, up to the database: streamed and
/// checked by `read_bundle`, then linked to a small registry and the unlinked Patients checked by
/// the entry rules (`plan`), every outcome accounted for.
pub fn fhir_bundle(data: &[u8]) {
    use crate::interop::fhir_import::{FhirImportError, plan, read_bundle};
    let Some(place) = place() else { return };
    let day = today();
    let rows = match read_bundle(data, &place.tree, &place.county, day) {
        Ok(rows) => rows,
        Err(e) => {
            assert!(matches!(e, FhirImportError::Invalid(ref p) if !p.is_empty()));
            let _ = e.message_zh();
            return;
        }
    };
    if rows.len() > LINKED_PATIENTS {
        return;
    }
    let ours = registry();
    let plan = plan(&place.tree, &place.county, day, ours, &rows);
    assert_eq!(plan.report.patients, rows.len());
    assert_eq!(
        plan.report.linked + plan.report.created,
        plan.report.outcomes.len()
    );
    for o in &plan.report.outcomes {
        if let Some(person) = o.person {
            assert!(ours.iter().any(|p| p.person == person));
        }
        assert!(o.score.is_none_or(|s| (0.0..=1.0).contains(&s)));
    }
    for (at, record) in &plan.new {
        assert_eq!(plan.report.outcomes[*at].how, "created");
        assert!(IdNumber::parse_as_of(&record.data.id_number, day).is_ok());
    }
}

// ---------------------------------------------------------------------------------------------
// The referral-platform exchange file (interop::platform), up to the database.
// ---------------------------------------------------------------------------------------------

/// An exchange file as `interop::platform::import` reads it before it asks the registry
/// (`read_file`): the format and version, each registration's region, ID number and codes and the
/// entry rules for a person to register, each referral's members.
pub fn platform_file(data: &[u8]) {
    use crate::interop::platform::{PlatformImportError, read_file};
    let Some(place) = place() else { return };
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let day = today();
    match read_file(text, &place.tree, &place.county, day) {
        Ok(read) => {
            let county = Scope::of(&place.county);
            for r in &read.registrations {
                if let Ok(record) = &r.entry {
                    assert_eq!(record.data.id_number, r.id.as_str());
                }
                assert!(RegistrationState::from_code(&r.state).is_some());
            }
            for f in &read.referrals {
                assert!(county.contains(&f.to) && !county.contains(&f.from));
                assert!(serde_json::from_str::<Value>(&f.documents).is_ok());
            }
            let _ = PlatformImportError::Invalid(read.problems).message_zh();
        }
        Err(e) => {
            let _ = e.message_zh();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Record-linkage configuration (link, as `jingkang link csv --config` reads it).
// ---------------------------------------------------------------------------------------------

/// Rows of the table the configuration is run on.
const LINKAGE_ROWS: usize = 48;

/// Values a column of the made-up table takes (names, dates, phones, ID numbers, addresses).
const SAMPLE_VALUES: &[&str] = &[
    "张三",
    "张 三",
    "李四",
    "欧阳新来",
    "John Smith",
    "1990-01-01",
    "1990/1/1",
    "19900110",
    "13800001111",
    "023-48281234",
    "500110199001011236",
    "500110900101123",
    "50011019850615246X",
    "重庆市綦江区古南街道",
    "古南街道 新街 3 号",
    "",
];

/// The configuration text up to the first NUL byte; after it, if any, the CSV file to link
/// (else a made-up table of the configuration's columns). The configuration is parsed as
/// `Config::parse` does for the command line; a valid one is run over the table alone (duplicates)
/// and against itself, its EM rounds capped so that a run stays short.
pub fn linkage_config(data: &[u8]) {
    use crate::link::{self, Config, Table};
    let (config, csv) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let Ok(text) = std::str::from_utf8(config) else {
        return;
    };
    let c = match Config::parse(text, "fuzz.toml") {
        Ok(c) => c,
        Err(p) => {
            let _ = (p.message(), p.to_string());
            return;
        }
    };
    let columns = c.columns();
    assert_eq!(columns.first(), Some(&c.id), "the id column comes first");
    let table = match csv {
        Some(bytes) => {
            let text = match std::str::from_utf8(bytes) {
                Ok(t) => std::borrow::Cow::Borrowed(t.trim_start_matches('\u{FEFF}')),
                Err(_) => encoding_rs::GB18030.decode(bytes).0,
            };
            Table::from_csv_text(&text, "left.csv", &c)
        }
        None => {
            let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
            let _ = w.write_record(&columns);
            for row in 0..12usize {
                let record: Vec<String> = columns
                    .iter()
                    .enumerate()
                    .map(|(col, _)| {
                        if col == 0 {
                            format!("r{row}")
                        } else {
                            let at = (row * 7 + col * 3) % SAMPLE_VALUES.len();
                            SAMPLE_VALUES[at].to_string()
                        }
                    })
                    .collect();
                let _ = w.write_record(&record);
            }
            let bytes = w.into_inner().unwrap_or_default();
            Table::from_csv_text(&String::from_utf8_lossy(&bytes), "made-up.csv", &c)
        }
    };
    let table = match table {
        Ok(t) => t,
        Err(p) => {
            let _ = p.message();
            return;
        }
    };
    if table.len() > LINKAGE_ROWS {
        return;
    }
    let capped = Config {
        max_rounds: c.max_rounds.min(25),
        u_sample: c.u_sample.min(2_000),
        ..c
    };
    for right in [None, Some(&table)] {
        let outcome = link::run(&capped, &table, right);
        for p in &outcome.pairs {
            assert!(p.score >= capped.threshold, "a pair below the threshold");
            assert_eq!(p.fields.len(), capped.fields.len());
        }
        let _ = serde_json::to_string(&outcome.model);
    }
}
