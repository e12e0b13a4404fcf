//! 附件3 花名册 (roster) import: header detection, row validation, and an idempotent, all-or-nothing
//! apply with field-level diffs.
//!
//! Flow: [`RowStream`] reads the file on a background thread → rows before the header are skipped →
//! each data row is validated into a [`RosterRow`] or a list of [`RowError`]s (never half a row) →
//! accepted rows are de-duplicated by canonical ID → batches are matched against the registry *in the
//! county's scope* and created, updated (history per field) or left unchanged, all in one transaction.
//! A dry run reads, validates and matches the same way and writes nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::NaiveDate;

use super::header::{self, ColumnMap, ColumnSpec};
use super::sheet::{Cell, RawRow, ReadError, RowStream};
use crate::domain::{
    DisabilityCategory, DisabilityCertificate, DisabilityGrade, IdNumber, PersonName, Phone, Sex,
};
use crate::messages;
use crate::regions::{Level, Region, RegionTree, Scope, TownshipMatch, resolve_township_among};
use crate::registry::{self, FieldChange, Guardian, PersonData, PersonWithGuardian};
use crate::store::audit::{self, Target};
use crate::store::{self, Actor, Db, Tx, persons};

/// The roster's columns (附件3) and the header texts found in real files.
pub static ROSTER_COLUMNS: &[ColumnSpec] = &[
    ColumnSpec {
        key: "seq",
        label_zh: "序号",
        aliases: &["序号", "编号"],
        required: false,
    },
    ColumnSpec {
        key: "township",
        label_zh: "镇街",
        aliases: &[
            "镇街",
            "街镇",
            "乡镇(街道)",
            "乡镇街道",
            "乡镇/街道",
            "街道(镇)",
            "镇(街道)",
            "镇(街)",
            "所属镇街",
            "所属乡镇(街道)",
            "乡镇",
            "街道",
            "镇街名称",
        ],
        required: true,
    },
    ColumnSpec {
        key: "name",
        label_zh: "姓名",
        aliases: &["姓名", "患者姓名", "服务对象姓名"],
        required: true,
    },
    ColumnSpec {
        key: "sex",
        label_zh: "性别",
        aliases: &["性别"],
        required: false,
    },
    ColumnSpec {
        key: "age",
        label_zh: "年龄",
        aliases: &["年龄"],
        required: false,
    },
    ColumnSpec {
        key: "id_number",
        label_zh: "身份证号",
        aliases: header::ID_NUMBER_ALIASES,
        required: true,
    },
    ColumnSpec {
        key: "certificate",
        label_zh: "残疾证号",
        aliases: header::CERTIFICATE_ALIASES,
        required: false,
    },
    ColumnSpec {
        key: "grade",
        label_zh: "残疾等级",
        aliases: header::GRADE_ALIASES,
        required: false,
    },
    ColumnSpec {
        key: "address",
        label_zh: "家庭住址",
        aliases: &[
            "家庭住址",
            "现住址",
            "居住地址",
            "现居住地址",
            "家庭地址",
            "住址",
            "现居住地",
        ],
        required: false,
    },
    ColumnSpec {
        key: "guardian",
        label_zh: "监护人",
        aliases: &["监护人", "监护人姓名"],
        required: false,
    },
    ColumnSpec {
        key: "guardian_phone",
        label_zh: "监护人电话",
        aliases: &[
            "监护人电话",
            "监护人联系电话",
            "监护人手机",
            "联系电话",
            "电话",
            "联系方式",
        ],
        required: false,
    },
    ColumnSpec {
        key: "notes",
        label_zh: "备注",
        aliases: &["备注"],
        required: false,
    },
];

const C_TOWNSHIP: usize = 1;
const C_NAME: usize = 2;
const C_SEX: usize = 3;
const C_AGE: usize = 4;
const C_ID: usize = 5;
const C_CERT: usize = 6;
const C_GRADE: usize = 7;
const C_ADDRESS: usize = 8;
const C_GUARDIAN: usize = 9;
const C_GPHONE: usize = 10;
const C_NOTES: usize = 11;

/// The fields a roster carries, compared on re-import (ID, birth date and sex are the key or derive
/// from it).
pub const ROSTER_FIELDS: &[&str] = &[
    "residence_region",
    "name",
    "residence_address",
    "disability_certificate",
    "disability_category",
    "disability_grade",
    "notes",
    "guardian1.name",
    "guardian1.phone",
    "guardian1.phone_alt",
];

/// A problem with one cell of one row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    pub row: u32,
    /// The column's code name (a key of [`ROSTER_COLUMNS`]), for forms to put the message on the field.
    pub field: &'static str,
    pub column: String,
    pub code: String,
    pub message: String,
}

/// A validated roster row.
#[derive(Debug, Clone, PartialEq)]
pub struct RosterRow {
    pub row: u32,
    pub record: PersonWithGuardian,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Duplicate {
    pub row: u32,
    pub same_as_row: u32,
}

/// One changed field of one person, masked for display.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChangeLine {
    pub row: u32,
    pub person: String,
    pub field: String,
    pub label: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// One person an import creates (or would), masked for display.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewLine {
    pub row: u32,
    /// Name and masked ID number (`张三 500110**********1234`).
    pub person: String,
    /// The residence region's code (township or village).
    pub region: String,
}

/// What an import did (or would do, for a dry run).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    pub rows_read: u64,
    pub accepted: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// The first [`limits::LISTED_PROBLEMS`] repeated rows ([`Self::duplicates_total`] in all).
    pub duplicates: Vec<Duplicate>,
    pub duplicates_total: u64,
    /// The first [`limits::LISTED_PROBLEMS`] problems, by row ([`Self::errors_total`] in all,
    /// [`Self::error_counts`] per message code): a file of millions of bad rows answers with a
    /// bounded report.
    pub errors: Vec<RowError>,
    pub errors_total: u64,
    pub error_counts: BTreeMap<String, u64>,
    /// Rows not imported because of a problem.
    pub rows_rejected: u64,
    /// What was read but should be checked (a formula cell without a saved result, read as
    /// empty): the first [`limits::LISTED_PROBLEMS`], and how many in all.
    pub warnings: Vec<RowError>,
    pub warnings_total: u64,
    /// The first [`limits::LISTED_PROBLEMS`] persons created ([`Self::created`] in all), so a
    /// preview says who, not only how many.
    pub creates: Vec<NewLine>,
    /// The first [`limits::LISTED_PROBLEMS`] field changes ([`Self::changes_total`] in all).
    pub changes: Vec<ChangeLine>,
    pub changes_total: u64,
    pub dry_run: bool,
    pub header_row: u32,
    pub skipped_rows: u64,
    /// Rows of another township of the county, skipped by a township's import (a clerk importing
    /// the county's roster takes their own township's rows; the others are not errors).
    pub outside_rows: u64,
    /// The values of the first [`MAX_REJECTED_KEPT`] rows with errors, by column key, so a user can
    /// correct them in the entry form. Never serialised: they hold ID numbers and phones in clear.
    #[serde(skip)]
    pub rejected: Vec<RejectedRow>,
}

impl ImportReport {
    /// Count a problem; list it while fewer than [`limits::LISTED_PROBLEMS`] are.
    pub fn add_error(&mut self, e: RowError) {
        self.rows_rejected += 1;
        self.errors_total += 1;
        *self.error_counts.entry(e.code.clone()).or_default() += 1;
        if self.errors.len() < super::limits::LISTED_PROBLEMS {
            self.errors.push(e);
        }
    }
    /// Count a repeated row; list it while fewer than [`limits::LISTED_PROBLEMS`] are.
    pub fn add_duplicate(&mut self, d: Duplicate) {
        self.duplicates_total += 1;
        if self.duplicates.len() < super::limits::LISTED_PROBLEMS {
            self.duplicates.push(d);
        }
    }
}

/// How many rejected rows an import keeps the values of.
pub const MAX_REJECTED_KEPT: usize = 500;

/// A row that was not imported, with its cells as written (by column key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    pub row: u32,
    pub values: Vec<(&'static str, String)>,
}

/// Why an import could not run at all. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("no header row found; missing columns: {0:?}")]
    NoHeader(Vec<&'static str>),
    /// A department's list without a header (the name and one more known column).
    #[error("no list header row found; missing columns: {0:?}")]
    NoListHeader(Vec<&'static str>),
    #[error("unknown county code {0}")]
    UnknownCounty(String),
    #[error("region {0} is not a county")]
    NotACounty(String),
    /// Another import runs (one at a time per database).
    #[error("another import runs")]
    Busy(store::leases::Held),
    #[error(transparent)]
    Db(#[from] anyhow::Error),
}

impl ImportError {
    pub fn code(&self) -> &'static str {
        match self {
            ImportError::Read(e) => e.code(),
            ImportError::NoHeader(_) => "header-not-found",
            ImportError::NoListHeader(_) => "list-header-not-found",
            ImportError::UnknownCounty(_) => "county-unknown",
            ImportError::NotACounty(_) => "county-not-county",
            ImportError::Busy(_) => "import-busy",
            ImportError::Db(_) => "internal-error",
        }
    }
    /// The Chinese message for the user.
    pub fn message_zh(&self) -> String {
        match self {
            ImportError::NoHeader(cols) => {
                messages::render("header-not-found", &[("columns", &cols.join("、"))])
            }
            ImportError::NoListHeader(cols) => messages::render(
                "list-header-not-found",
                &[(
                    "columns",
                    &if cols.is_empty() {
                        String::new()
                    } else {
                        format!("（缺少：{}）", cols.join("、"))
                    },
                )],
            ),
            ImportError::UnknownCounty(c) | ImportError::NotACounty(c) => {
                messages::render(self.code(), &[("code", c)])
            }
            ImportError::Read(e) => e.message_zh(),
            ImportError::Busy(held) => messages::render(
                "import-busy",
                &[
                    ("file", held.source()),
                    (
                        "since",
                        &held
                            .since
                            .with_timezone(&crate::domain::clock::china())
                            .format("%H:%M")
                            .to_string(),
                    ),
                ],
            ),
            _ => messages::render(self.code(), &[]),
        }
    }
}

/// Options of one import run.
pub struct ImportOptions<'a> {
    pub county: &'a str,
    pub dry_run: bool,
    pub actor: &'a Actor,
    /// Shown as the change set's source (e.g. the file name).
    pub source: &'a str,
    pub today: NaiveDate,
    /// Called with the number of rows processed so far.
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
}

/// Everything row validation needs, owned, so it can run on its own thread.
struct Ctx {
    county_name: String,
    townships: Vec<Region>,
    /// For a township's import: the other townships of its county, whose rows are skipped.
    others: Vec<Region>,
    map: ColumnMap,
    today: NaiveDate,
    township_cache: HashMap<String, Result<String, &'static str>>,
}

fn err(ctx: &Ctx, row: u32, col: usize, code: &str, extra: &[(&str, &str)]) -> RowError {
    let column = ctx.map.header_text(ROSTER_COLUMNS, col);
    let mut args: Vec<(&str, &str)> = vec![("column", column.as_str())];
    args.extend_from_slice(extra);
    RowError {
        row,
        field: ROSTER_COLUMNS[col].key,
        column: column.clone(),
        code: code.to_string(),
        message: messages::render(code, &args),
    }
}

fn cell<'r>(ctx: &Ctx, raw: &'r RawRow, col: usize) -> &'r Cell {
    match ctx.map.col(col) {
        Some(i) => raw.get(i),
        None => &Cell::Empty,
    }
}

/// A free-text cell, trimmed, inner whitespace runs collapsed to one space; `None` when empty.
fn text(ctx: &Ctx, raw: &RawRow, col: usize) -> Option<String> {
    let t = cell(ctx, raw, col).text();
    let t = t.trim();
    if t.is_empty() {
        return None;
    }
    if !t.contains(|c: char| c.is_whitespace()) {
        return Some(t.to_string());
    }
    Some(t.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A pre-numbered template row: only 序号 (or 年龄) filled, every personal column empty.
fn is_template_row(ctx: &Ctx, raw: &RawRow) -> bool {
    [
        C_TOWNSHIP, C_NAME, C_SEX, C_ID, C_CERT, C_GRADE, C_ADDRESS, C_GUARDIAN, C_GPHONE, C_NOTES,
    ]
    .iter()
    .all(|&c| cell(ctx, raw, c).is_blank())
}

/// Whether the row names another township of the county than the one importing (its rows are
/// skipped and counted, not rejected).
fn is_outside_row(ctx: &Ctx, raw: &RawRow) -> bool {
    if ctx.others.is_empty() {
        return false;
    }
    let Some(written) = text(ctx, raw, C_TOWNSHIP) else {
        return false;
    };
    let mine: Vec<&Region> = ctx.townships.iter().collect();
    if !matches!(
        resolve_township_among(&mine, &written),
        TownshipMatch::Unknown
    ) {
        return false;
    }
    let others: Vec<&Region> = ctx.others.iter().collect();
    matches!(
        resolve_township_among(&others, &written),
        TownshipMatch::Found(_)
    )
}

fn resolve_township(ctx: &mut Ctx, written: &str) -> Result<String, &'static str> {
    if let Some(r) = ctx.township_cache.get(written) {
        return r.clone();
    }
    let candidates: Vec<&Region> = ctx.townships.iter().collect();
    let r = match resolve_township_among(&candidates, written) {
        TownshipMatch::Found(t) => Ok(t.code.clone()),
        TownshipMatch::Unknown => Err("township-unknown"),
        TownshipMatch::Ambiguous(_) => Err("township-ambiguous"),
    };
    ctx.township_cache.insert(written.to_string(), r.clone());
    r
}

/// Validate one data row. All problems of the row are reported, not just the first.
fn validate(ctx: &mut Ctx, raw: &RawRow) -> Result<RosterRow, Vec<RowError>> {
    let row = raw.number;
    let mut errors = Vec::new();

    // A cell over the length limit rejects its row, the column named (its text was never read).
    let long: Vec<usize> = raw.too_long().collect();
    if !long.is_empty() {
        let limit = super::limits::size_label(super::limits::CELL_BYTES as u64);
        for col in 0..ROSTER_COLUMNS.len() {
            if ctx.map.col(col).is_some_and(|i| long.contains(&i)) {
                errors.push(err(ctx, row, col, "cell-too-long", &[("limit", &limit)]));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
    }

    // ID number: a numeric cell has lost its digits (Excel keeps 15 significant digits).
    let id = match cell(ctx, raw, C_ID) {
        Cell::Number(_) => {
            errors.push(err(ctx, row, C_ID, "id-not-text-precision-lost", &[]));
            None
        }
        c => match IdNumber::parse_as_of(&c.text(), ctx.today) {
            Ok(id) => Some(id),
            Err(e) => {
                errors.push(err(ctx, row, C_ID, e.code(), &[]));
                None
            }
        },
    };

    let name = match PersonName::parse(&cell(ctx, raw, C_NAME).text()) {
        Ok(n) => Some(n),
        Err(e) => {
            errors.push(err(ctx, row, C_NAME, e.code(), &[]));
            None
        }
    };

    let sex = match text(ctx, raw, C_SEX) {
        None => id.as_ref().map(IdNumber::sex),
        Some(t) => match Sex::parse(&t) {
            Ok(s) => {
                if let Some(id) = &id
                    && id.sex() != s
                {
                    errors.push(err(
                        ctx,
                        row,
                        C_SEX,
                        "sex-id-mismatch",
                        &[("id_sex", id.sex().label_zh())],
                    ));
                }
                Some(s)
            }
            Err(e) => {
                errors.push(err(ctx, row, C_SEX, e.code(), &[]));
                None
            }
        },
    };

    let township = match text(ctx, raw, C_TOWNSHIP) {
        None => {
            errors.push(err(ctx, row, C_TOWNSHIP, "township-missing", &[]));
            None
        }
        Some(t) => match resolve_township(ctx, &t) {
            Ok(code) => Some(code),
            Err(code) => {
                let county = ctx.county_name.clone();
                // An example of a name that is accepted here: never the one rejected.
                let example = ctx
                    .townships
                    .iter()
                    .map(|r| r.name.clone())
                    .find(|n| *n != t)
                    .unwrap_or_default();
                errors.push(err(
                    ctx,
                    row,
                    C_TOWNSHIP,
                    code,
                    &[("value", &t), ("county", &county), ("example", &example)],
                ));
                None
            }
        },
    };

    // Grade column (may name the category), then the certificate, which must agree with both.
    let grade_text = match text(ctx, raw, C_GRADE) {
        None => None,
        Some(t) => match DisabilityGrade::parse_text(&t) {
            Ok((cat, grade)) => {
                if let Some(cat) = cat
                    && !cat.is_registry_category()
                {
                    errors.push(err(
                        ctx,
                        row,
                        C_GRADE,
                        "certificate-not-mental",
                        &[("category", cat.label_zh())],
                    ));
                }
                Some((cat, grade))
            }
            Err(e) => {
                errors.push(err(ctx, row, C_GRADE, e.code(), &[]));
                None
            }
        },
    };
    let certificate = match cell(ctx, raw, C_CERT) {
        c if c.is_blank() => None,
        Cell::Number(_) => {
            errors.push(err(
                ctx,
                row,
                C_CERT,
                "certificate-not-text-precision-lost",
                &[],
            ));
            None
        }
        // When the ID itself is wrong, the certificate (which repeats it) is not checked: one root
        // cause, one message.
        _ if id.is_none() => None,
        c => {
            let parsed = match &id {
                Some(id) => DisabilityCertificate::parse_for(&c.text(), id),
                None => DisabilityCertificate::parse(&c.text()),
            };
            match parsed {
                Ok(cert) => {
                    if let Some((_, g)) = grade_text
                        && g != cert.grade()
                    {
                        errors.push(err(
                            ctx,
                            row,
                            C_GRADE,
                            "certificate-grade-mismatch",
                            &[("grade", cert.grade().label_zh())],
                        ));
                    }
                    Some(cert)
                }
                Err(e) => {
                    errors.push(err(ctx, row, C_CERT, e.code(), &[]));
                    None
                }
            }
        }
    };

    let guardian_name = match text(ctx, raw, C_GUARDIAN) {
        None => None,
        Some(t) => match PersonName::parse(&t) {
            Ok(n) => Some(n),
            Err(_) => {
                errors.push(err(ctx, row, C_GUARDIAN, "guardian-name-invalid", &[]));
                None
            }
        },
    };
    let guardian_phones = match cell(ctx, raw, C_GPHONE) {
        c if c.is_blank() => vec![],
        c => match Phone::parse_list(&c.text()) {
            Ok(list) => list,
            Err(e) => {
                errors.push(err(ctx, row, C_GPHONE, e.code(), &[]));
                vec![]
            }
        },
    };
    if guardian_name.is_none() && !guardian_phones.is_empty() && errors.is_empty() {
        errors.push(err(ctx, row, C_GUARDIAN, "guardian-name-missing", &[]));
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    let (Some(id), Some(name), Some(sex), Some(township)) = (id, name, sex, township) else {
        // Every None above pushed an error; this is unreachable in practice but never panics.
        return Err(vec![err(ctx, row, C_ID, "row-invalid", &[])]);
    };

    let (category, grade) = match (&certificate, grade_text) {
        (Some(c), _) => (Some(c.category()), Some(c.grade())),
        (None, Some((cat, g))) => (cat, Some(g)),
        (None, None) => (None, None),
    };
    let mut phones = guardian_phones.into_iter();
    let guardian = guardian_name.map(|n| Guardian {
        name: n.as_str().to_string(),
        relation: None,
        phone: phones.next().map(|p| p.as_str().to_string()),
        phone_alt: phones.next().map(|p| p.as_str().to_string()),
        id_number: None,
    });
    let data = PersonData {
        id_number: id.as_str().to_string(),
        name: name.as_str().to_string(),
        sex: sex.code().to_string(),
        birth_date: id.birth_date(),
        residence_region: township,
        residence_address: text(ctx, raw, C_ADDRESS),
        disability_certificate: certificate.as_ref().map(|c| c.as_str().to_string()),
        disability_category: category.map(|c: DisabilityCategory| i64::from(c.code())),
        disability_grade: grade.map(|g| i64::from(g.number())),
        notes: text(ctx, raw, C_NOTES),
        ..Default::default()
    };
    Ok(RosterRow {
        row,
        record: PersonWithGuardian { data, guardian },
    })
}

/// The cells of a row by column key, as written.
fn rejected_row(ctx: &Ctx, raw: &RawRow) -> RejectedRow {
    let values = ROSTER_COLUMNS
        .iter()
        .enumerate()
        .skip(1) // 序号 is not a field
        .filter(|(i, _)| *i != C_AGE)
        .map(|(i, spec)| {
            let value = match cell(ctx, raw, i) {
                // An ID number stored as a number has lost its last digits: shown as the
                // spreadsheet shows it (`5.00110198506152E17`), so the correction form gives the
                // same verdict as the import (digits lost), not a wrong check character.
                Cell::Number(x) if i == C_ID => format!("{x:E}"),
                c => c.text().trim().to_string(),
            };
            (spec.key, value)
        })
        .collect();
    RejectedRow {
        row: raw.number,
        values,
    }
}

/// The keys of the roster columns a hand-entry form has, in form order (序号 and 年龄 are not
/// entered: the age derives from the ID number).
pub fn entry_keys() -> impl Iterator<Item = &'static ColumnSpec> {
    ROSTER_COLUMNS
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 0 && *i != C_AGE)
        .map(|(_, s)| s)
}

/// Validate one record entered by hand (a form), with exactly the rules and Chinese messages of
/// the roster import. `values` are by column key; `region` is the caller's county or township,
/// whose townships the 镇街 value must name. Errors carry row 0 and the field key.
pub fn validate_entry(
    tree: &RegionTree,
    region: &Region,
    today: NaiveDate,
    values: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<PersonWithGuardian, Vec<RowError>> {
    let cells: Vec<Cell> = ROSTER_COLUMNS
        .iter()
        .map(|s| values(s.key).map_or(Cell::Empty, |v| Cell::Text(v.as_str().into())))
        .collect();
    let map = ColumnMap {
        header_row: 0,
        columns: ROSTER_COLUMNS
            .iter()
            .enumerate()
            .map(|(i, s)| Some((i, s.label_zh.to_string())))
            .collect(),
        header_texts: Vec::new(),
    };
    let mut ctx = Ctx {
        county_name: region.name.clone(),
        townships: tree
            .townships_under(&region.code)
            .into_iter()
            .cloned()
            .collect(),
        others: Vec::new(),
        map,
        today,
        township_cache: HashMap::new(),
    };
    validate(&mut ctx, &RawRow { number: 0, cells }).map(|r| r.record)
}

/// The stored record with the roster's non-blank values laid over it. A different guardian name
/// means a different guardian: relation and ID of the old one are not carried over.
pub(crate) fn overlay(old: &PersonWithGuardian, new: &PersonWithGuardian) -> PersonWithGuardian {
    let mut out = old.clone();
    let (d, n) = (&mut out.data, &new.data);
    d.name = n.name.clone();
    d.residence_region = n.residence_region.clone();
    macro_rules! keep_or_set {
        ($($f:ident),*) => { $( if n.$f.is_some() { d.$f = n.$f.clone(); } )* };
    }
    keep_or_set!(
        residence_address,
        disability_certificate,
        disability_category,
        disability_grade,
        notes
    );
    if let Some(g) = &new.guardian {
        let mut merged = match &old.guardian {
            Some(og) if og.name == g.name => og.clone(),
            _ => Guardian {
                name: g.name.clone(),
                ..Default::default()
            },
        };
        if g.phone.is_some() {
            merged.phone = g.phone.clone();
            merged.phone_alt = g.phone_alt.clone();
        }
        out.guardian = Some(merged);
    }
    out
}

/// Run an import of `path` into the county's scope.
pub async fn import_roster(
    db: &Db,
    tree: &RegionTree,
    path: &Path,
    opts: &ImportOptions<'_>,
) -> Result<ImportReport, ImportError> {
    // One import at a time per database (all servers): the others are told who runs and since when.
    store::leases::ImportLease::run(
        db,
        opts.source,
        ImportError::Busy,
        import_roster_leased(db, tree, path, opts),
    )
    .await
}

async fn import_roster_leased(
    db: &Db,
    tree: &RegionTree,
    path: &Path,
    opts: &ImportOptions<'_>,
) -> Result<ImportReport, ImportError> {
    let county = tree
        .get(opts.county)
        .ok_or_else(|| ImportError::UnknownCounty(opts.county.to_string()))?;
    // A county (or city) roster, or one township's part of it (a township clerk's import).
    if !matches!(county.level, Level::County | Level::City | Level::Township)
        || tree.townships_under(&county.code).is_empty()
    {
        return Err(ImportError::NotACounty(opts.county.to_string()));
    }
    let scope = Scope::of(county);
    let mut stream = RowStream::open(path)?;

    // Header: the first row among the top rows that names the roster's columns.
    let mut before = Vec::new();
    let map = loop {
        match stream.next().await {
            Some(Ok(row)) => {
                if let Some(m) = header::detect(ROSTER_COLUMNS, &row) {
                    break m;
                }
                if row.number > header::MAX_HEADER_ROW {
                    return Err(ImportError::NoHeader(header::missing_required(
                        ROSTER_COLUMNS,
                        &before,
                    )));
                }
                before.push(row);
            }
            Some(Err(e)) => return Err(e.into()),
            None => {
                return Err(ImportError::NoHeader(header::missing_required(
                    ROSTER_COLUMNS,
                    &before,
                )));
            }
        }
    };
    let (formulas, formulas_total) = stream.formulas_without_value();
    let mut report = ImportReport {
        dry_run: opts.dry_run,
        header_row: map.header_row,
        warnings: formula_warnings(formulas),
        warnings_total: formulas_total,
        ..Default::default()
    };
    // A township's clerk imports the county's roster as it comes: the rows of the county's other
    // townships are skipped and counted.
    let others: Vec<Region> = if county.level == Level::Township {
        tree.path(&county.code)
            .into_iter()
            .find(|r| r.level == Level::County)
            .map(|c| {
                tree.townships_under(&c.code)
                    .into_iter()
                    .filter(|t| t.code != county.code)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut ctx = Ctx {
        county_name: county.name.clone(),
        townships: tree
            .townships_under(&county.code)
            .into_iter()
            .cloned()
            .collect(),
        others,
        map,
        today: opts.today,
        township_cache: HashMap::new(),
    };

    // Three stages overlap: the file is read on one thread (RowStream), rows are validated on a
    // second, and batches are written here (the database works on its own thread for SQLite, on the
    // server for PostgreSQL). Bounded channels keep memory flat.
    let (batches_tx, mut batches_rx) =
        tokio::sync::mpsc::channel::<Result<Validated, ReadError>>(4);
    std::thread::Builder::new()
        .name("roster-validate".into())
        .spawn(move || {
            let mut out = Validated::default();
            let mut kept = 0usize;
            let mut listed = 0usize;
            while let Some(next) = stream.blocking_next() {
                let raw = match next {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = batches_tx.blocking_send(Err(e));
                        return;
                    }
                };
                out.processed += 1;
                if raw.is_blank()
                    || is_template_row(&ctx, &raw)
                    || header::is_noise_row(&ctx.map, C_NAME, &raw)
                {
                    out.skipped += 1;
                    continue;
                }
                if is_outside_row(&ctx, &raw) {
                    out.outside += 1;
                    continue;
                }
                out.rows_read += 1;
                match validate(&mut ctx, &raw) {
                    Ok(r) => out.rows.push(r),
                    Err(errs) => {
                        if kept < MAX_REJECTED_KEPT {
                            kept += 1;
                            out.rejected.push(rejected_row(&ctx, &raw));
                        }
                        out.rows_rejected += 1;
                        for e in errs {
                            *out.counts.entry(e.code.clone()).or_default() += 1;
                            if listed < super::limits::LISTED_PROBLEMS {
                                listed += 1;
                                out.errors.push(e);
                            }
                        }
                    }
                }
                if out.rows.len() >= BATCH_ROWS {
                    let processed = out.processed;
                    let full = std::mem::replace(
                        &mut out,
                        Validated {
                            processed,
                            ..Default::default()
                        },
                    );
                    if batches_tx.blocking_send(Ok(full)).is_err() {
                        return; // the writer stopped, with an error it reports itself
                    }
                }
            }
            let _ = batches_tx.blocking_send(Ok(out));
        })
        .map_err(|e| ImportError::Read(ReadError::Io(e)))?;

    // A dry run only reads: on SQLite it runs beside the writer, so person pages (whose reads are
    // audited, i.e. written) never wait for a preview.
    let mut tx = if opts.dry_run {
        db.begin_read().await?
    } else {
        db.begin().await?
    };
    let registry_empty = persons::registry_is_empty(&mut tx).await?;
    // A first load into an empty registry builds the person indexes once at the end.
    let bulk_load = registry_empty && !opts.dry_run;
    if bulk_load {
        persons::drop_indexes_for_bulk_load(&mut tx).await?;
    }
    let mut applier = Applier {
        scope: &scope,
        opts,
        change_id: None,
        seen: HashMap::new(),
        creates: Vec::new(),
        registry_empty,
        disclosed: Vec::new(),
    };
    // On any error below, `tx` is dropped, i.e. rolled back, and the channel closes, which stops the
    // validating thread: nothing was written.
    while let Some(msg) = batches_rx.recv().await {
        let v = msg?;
        report.rows_read += v.rows_read;
        report.skipped_rows += v.skipped;
        report.outside_rows += v.outside;
        report.rows_rejected += v.rows_rejected;
        for (code, n) in v.counts {
            report.errors_total += n;
            *report.error_counts.entry(code).or_default() += n;
        }
        for e in v.errors {
            if report.errors.len() < super::limits::LISTED_PROBLEMS {
                report.errors.push(e);
            }
        }
        report.rejected.extend(v.rejected);
        applier.apply(&mut tx, v.rows, &mut report).await?;
        if let Some(p) = opts.progress {
            p(v.processed);
        }
    }
    applier.finish(&mut tx, &mut report).await?;
    if bulk_load {
        persons::rebuild_indexes_after_bulk_load(&mut tx).await?;
    }
    report.errors.sort_by_key(|e| e.row);

    let detail = serde_json::json!({
        "source": opts.source, "county": county.code, "dry_run": opts.dry_run,
        "rows_read": report.rows_read, "created": report.created, "updated": report.updated,
        "unchanged": report.unchanged, "errors": report.errors_total, "duplicates": report.duplicates_total,
        "change_set": applier.change_id,
    });
    let disclosed = std::mem::take(&mut applier.disclosed);
    if opts.dry_run {
        // Nothing is written, but the dry run did read persons to compare them: audit that alone.
        tx.rollback().await?;
        let mut tx = db.begin().await?;
        audit::record(
            &mut tx,
            opts.actor,
            "roster.import.preview",
            Some(Target::region(&county.code)),
            detail,
        )
        .await?;
        audit_disclosures(&mut tx, opts, &disclosed).await?;
        tx.commit().await?;
    } else {
        audit::record(
            &mut tx,
            opts.actor,
            "roster.import",
            Some(Target::region(&county.code)),
            detail,
        )
        .await?;
        audit_disclosures(&mut tx, opts, &disclosed).await?;
        tx.commit().await?;
        if report.created + report.updated >= persons::REFRESH_AFTER_ROWS {
            // The import is committed: a failure here only delays the planner's statistics until
            // autovacuum, so it is logged, not reported as the import's.
            if let Err(e) = persons::refresh_statistics(db).await {
                tracing::warn!(error = %e, "refreshing statistics after an import failed");
            }
        }
    }
    Ok(report)
}

/// A warning for each formula cell without a saved result (`C5` → row 5, column C).
pub fn formula_warnings(cells: &[String]) -> Vec<RowError> {
    cells
        .iter()
        .map(|cell| {
            let row = cell
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .parse()
                .unwrap_or(0);
            let column: String = cell.chars().take_while(char::is_ascii_alphabetic).collect();
            RowError {
                row,
                field: "",
                message: messages::render("formula-no-value", &[("cell", cell)]),
                column,
                code: "formula-no-value".into(),
            }
        })
        .collect()
}

/// Telling an importer that an ID number is registered in another region is a disclosure about
/// that person (the importing roles, 街镇 and 民政, handle transfers: `data/referrals.json`): each
/// is audited with the person, dry run or not.
async fn audit_disclosures(
    tx: &mut Tx,
    opts: &ImportOptions<'_>,
    disclosed: &[(i64, u32)],
) -> anyhow::Result<()> {
    for (person, row) in disclosed {
        audit::record(
            tx,
            opts.actor,
            "person.exists_elsewhere",
            Some(Target::person(*person)),
            serde_json::json!({"source": opts.source, "row": row, "dry_run": opts.dry_run}),
        )
        .await?;
    }
    Ok(())
}

const BATCH_ROWS: usize = 1024;

/// A batch of validated rows and what validation found on the way.
#[derive(Default)]
struct Validated {
    rows: Vec<RosterRow>,
    /// Problems, each counted; only the first listed ones are kept (the thread counts how many it
    /// has passed on).
    errors: Vec<RowError>,
    counts: BTreeMap<String, u64>,
    rows_rejected: u64,
    rejected: Vec<RejectedRow>,
    rows_read: u64,
    skipped: u64,
    /// Rows of another township of the county (a township's import).
    outside: u64,
    /// Rows of the file processed so far (for progress).
    processed: u64,
}

struct Applier<'a> {
    scope: &'a Scope,
    opts: &'a ImportOptions<'a>,
    change_id: Option<i64>,
    /// Canonical ID (see [`id_key`]) → the row that first had it.
    seen: HashMap<u64, u32>,
    /// Validated new persons not yet written.
    creates: Vec<PersonWithGuardian>,
    /// The registry held no person at all when the import began.
    registry_empty: bool,
    /// Persons registered elsewhere whose existence a row disclosed: (person, row).
    disclosed: Vec<(i64, u32)>,
}

/// An ID number as a map key: its first 17 digits (the 18th is their check character, the number
/// being valid), 8 bytes where the text would take 24 with its length, so the map of 2 M rows stays
/// near 64 MB.
fn id_key(id: &str) -> u64 {
    id.bytes()
        .take(17)
        .fold(0u64, |k, b| k * 10 + u64::from(b.wrapping_sub(b'0') % 10))
}

impl Applier<'_> {
    async fn change_set(&mut self, tx: &mut Tx) -> anyhow::Result<i64> {
        if let Some(id) = self.change_id {
            return Ok(id);
        }
        let id =
            store::open_change_set(tx, self.opts.actor, self.opts.source, "roster-import").await?;
        self.change_id = Some(id);
        Ok(id)
    }

    async fn apply(
        &mut self,
        tx: &mut Tx,
        rows: Vec<RosterRow>,
        report: &mut ImportReport,
    ) -> anyhow::Result<()> {
        let mut unique = Vec::with_capacity(rows.len());
        for r in rows {
            let key = id_key(&r.record.data.id_number);
            match self.seen.get(&key) {
                Some(&first) => report.add_duplicate(Duplicate {
                    row: r.row,
                    same_as_row: first,
                }),
                None => {
                    self.seen.insert(key, r.row);
                    unique.push(r);
                }
            }
        }
        if unique.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = unique
            .iter()
            .map(|r| r.record.data.id_number.as_str())
            .collect();
        // Into an empty registry (a first load) nobody can match: skip the lookups. On SQLite the
        // transaction holds the write lock; on PostgreSQL a concurrent insert of the same ID would
        // hit the unique index and roll this import back whole.
        let persons::IdLookup {
            inside: existing,
            elsewhere,
        } = if self.registry_empty {
            persons::IdLookup::default()
        } else {
            persons::lookup_id_numbers(tx, self.scope, &ids).await?
        };
        for r in unique {
            let idn = &r.record.data.id_number;
            if let Some(old) = existing.get(idn) {
                let new = overlay(&old.record, &r.record);
                let changes: Vec<FieldChange> =
                    registry::diff(&old.record, &new, ROSTER_FIELDS, false);
                if changes.is_empty() {
                    report.unchanged += 1;
                } else {
                    if !self.opts.dry_run {
                        let cs = self.change_set(tx).await?;
                        persons::update_fields(tx, self.scope, cs, old.id, &new, &changes).await?;
                    }
                    report.updated += 1;
                    let who = format!(
                        "{} {}",
                        new.data.name,
                        registry::mask(registry::Sensitivity::Identifier, idn)
                    );
                    for ch in &changes {
                        let (old_v, new_v) = ch.masked();
                        report.changes_total += 1;
                        if report.changes.len() < super::limits::LISTED_PROBLEMS {
                            report.changes.push(ChangeLine {
                                row: r.row,
                                person: who.clone(),
                                field: ch.field.to_string(),
                                label: ch.label_zh().to_string(),
                                old: old_v,
                                new: new_v,
                            });
                        }
                    }
                }
                report.accepted += 1;
            } else if let Some(&other) = elsewhere.get(idn) {
                // Telling an importer that a record exists in another region is a disclosure
                // about that person (the importing roles handle transfers): audited with them.
                self.disclosed.push((other, r.row));
                let column = "身份证号".to_string();
                report.add_error(RowError {
                    row: r.row,
                    field: "id_number",
                    message: messages::render("person-outside-scope", &[("column", &column)]),
                    column,
                    code: "person-outside-scope".into(),
                });
            } else {
                if report.creates.len() < super::limits::LISTED_PROBLEMS {
                    report.creates.push(NewLine {
                        row: r.row,
                        person: format!(
                            "{} {}",
                            r.record.data.name,
                            registry::mask(registry::Sensitivity::Identifier, idn)
                        ),
                        region: r.record.data.residence_region.clone(),
                    });
                }
                self.creates.push(r.record);
                report.accepted += 1;
            }
        }
        // New persons are written in whole chunks, so every INSERT has the same shape.
        let whole = self.creates.len() / persons::INSERT_CHUNK * persons::INSERT_CHUNK;
        if whole > 0 {
            let rest = self.creates.split_off(whole);
            let full = std::mem::replace(&mut self.creates, rest);
            self.insert(tx, full, report).await?;
        }
        Ok(())
    }

    /// Write the remaining new persons.
    async fn finish(&mut self, tx: &mut Tx, report: &mut ImportReport) -> anyhow::Result<()> {
        let rest = std::mem::take(&mut self.creates);
        self.insert(tx, rest, report).await
    }

    async fn insert(
        &mut self,
        tx: &mut Tx,
        rows: Vec<PersonWithGuardian>,
        report: &mut ImportReport,
    ) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        // A dry run counts what would be created; duplicates are already settled in memory
        // (`seen`), so nothing needs to be written to know the outcome.
        if !self.opts.dry_run {
            let cs = self.change_set(tx).await?;
            persons::insert_many(tx, self.scope, (cs, self.opts.today), &rows).await?;
        }
        report.created += rows.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn id_keys_are_the_first_17_digits() {
        assert_eq!(super::id_key("11010519491231002X"), 11_010_519_491_231_002);
        assert_ne!(
            super::id_key("500110199001010011"),
            super::id_key("500110199001010029")
        );
    }
}
