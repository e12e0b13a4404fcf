//! Reading a department's list (公安、民政、残联、卫健) from .xlsx, .xls or .csv: the roster's header
//! detection and noise-row rules, with the column names each department uses saved per source.
//!
//! A department's list is evidence, not a registration: a row is kept when it names a person (a name
//! that parses); an ID number that is missing, wrong or a legacy 15-digit one, an unreadable birth date
//! or grade are warnings, and the row is linked on what it has. Only a row without a usable name is an
//! error. Rows repeating an earlier row's ID number are reported and kept once.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;

use crate::domain::{DisabilityGrade, IdNumber, PersonName, Sex};
use crate::import::header::{self, ColumnMap, ColumnSpec, normalise_header};
use crate::import::roster::{Duplicate, ImportError, RowError};
use crate::import::sheet::{Cell, RawRow, RowStream};
use crate::messages;

/// The columns a department list may have, with the header texts seen in real exports. The first
/// alias of each is its label. A source's saved mapping adds header texts of its own.
pub static LIST_COLUMNS: &[ColumnSpec] = &[
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
            "所属镇街",
            "所属乡镇(街道)",
            "乡镇",
            "街道",
            "所属派出所",
            "派出所",
        ],
        required: false,
    },
    ColumnSpec {
        key: "name",
        label_zh: "姓名",
        aliases: &[
            "姓名",
            "人员姓名",
            "患者姓名",
            "救助对象姓名",
            "持证人姓名",
            "户主姓名",
        ],
        required: true,
    },
    ColumnSpec {
        key: "sex",
        label_zh: "性别",
        aliases: &["性别"],
        required: false,
    },
    ColumnSpec {
        key: "birth_date",
        label_zh: "出生日期",
        aliases: &["出生日期", "出生年月", "出生年月日", "生日"],
        required: false,
    },
    ColumnSpec {
        key: "id_number",
        label_zh: "身份证号",
        aliases: header::ID_NUMBER_ALIASES,
        required: false,
    },
    ColumnSpec {
        key: "address",
        label_zh: "地址",
        aliases: &[
            "地址",
            "住址",
            "家庭住址",
            "现住址",
            "居住地址",
            "现居住地址",
            "户籍地址",
            "户籍地",
            "户籍详址",
            "家庭地址",
        ],
        required: false,
    },
    ColumnSpec {
        key: "phone",
        label_zh: "电话",
        aliases: &["电话", "联系电话", "手机", "手机号码", "联系方式"],
        required: false,
    },
    ColumnSpec {
        key: "guardian",
        label_zh: "监护人",
        aliases: &["监护人", "监护人姓名"],
        required: false,
    },
    ColumnSpec {
        key: "died",
        label_zh: "人员状态",
        aliases: &["人员状态", "是否死亡", "死亡标志", "生存状态", "状态"],
        required: false,
    },
    ColumnSpec {
        key: "died_on",
        label_zh: "死亡日期",
        aliases: &["死亡日期", "死亡时间", "注销日期"],
        required: false,
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
        key: "category",
        label_zh: "救助类别",
        aliases: &[
            "救助类别",
            "保障类别",
            "低保类别",
            "救助类型",
            "保障类型",
            "类别",
        ],
        required: false,
    },
];

const C_TOWNSHIP: usize = 1;
const C_NAME: usize = 2;
const C_SEX: usize = 3;
const C_BIRTH: usize = 4;
const C_ID: usize = 5;
const C_ADDRESS: usize = 6;
const C_PHONE: usize = 7;
const C_GUARDIAN: usize = 8;
const C_DIED: usize = 9;
const C_DIED_ON: usize = 10;
const C_CERT: usize = 11;
const C_GRADE: usize = 12;
const C_CATEGORY: usize = 13;

/// One person as a department lists them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListRow {
    /// The row number in their file.
    pub row: u32,
    pub name: String,
    /// Canonical when `id_valid`, else as written (folded, upper-case), for the linkage to compare.
    pub id_number: Option<String>,
    pub id_valid: bool,
    pub sex: Option<Sex>,
    pub birth_date: Option<NaiveDate>,
    pub address: Option<String>,
    pub phone: Option<String>,
    pub guardian: Option<String>,
    pub died: bool,
    pub died_on: Option<NaiveDate>,
    pub certificate: Option<String>,
    pub grade: Option<u8>,
    pub township: Option<String>,
    pub category: Option<String>,
}

/// What reading a list found.
#[derive(Debug, Clone, Default)]
pub struct ListRead {
    pub header_row: u32,
    pub rows: Vec<ListRow>,
    pub rows_read: u64,
    pub skipped_rows: u64,
    /// Rows not kept, with why.
    pub errors: Vec<RowError>,
    /// Rows kept, with a value that could not be read (left out of the comparison).
    pub warnings: Vec<RowError>,
    pub duplicates: Vec<Duplicate>,
}

/// A source's own header texts: normalised header text → column key.
pub type Mapping = HashMap<String, String>;

/// Check a mapping a user gives (`表头=字段`): every key must be a list column's. The header texts
/// are normalised as headers are.
pub fn parse_mapping(pairs: &[String]) -> Result<Mapping, String> {
    let mut out = Mapping::new();
    for p in pairs {
        let Some((h, k)) = p.split_once('=') else {
            return Err(messages::render("exchange-mapping-form", &[("text", p)]));
        };
        let (h, k) = (normalise_header(h), k.trim());
        if h.is_empty() || !LIST_COLUMNS.iter().any(|c| c.key == k || c.label_zh == k) {
            let keys: Vec<String> = LIST_COLUMNS
                .iter()
                .map(|c| format!("{}（{}）", c.key, c.label_zh))
                .collect();
            return Err(messages::render(
                "exchange-mapping-key",
                &[("text", p), ("keys", &keys.join("、"))],
            ));
        }
        let key = LIST_COLUMNS
            .iter()
            .find(|c| c.key == k || c.label_zh == k)
            .map(|c| c.key)
            .unwrap_or(k);
        out.insert(h, key.to_string());
    }
    Ok(out)
}

/// The header row with a source's own header texts renamed to the columns' labels, so that
/// [`header::detect`] knows them.
fn renamed(row: &RawRow, mapping: &Mapping) -> RawRow {
    if mapping.is_empty() {
        return row.clone();
    }
    let cells = row
        .cells
        .iter()
        .map(|c| {
            let own = c
                .as_text()
                .and_then(|t| mapping.get(&normalise_header(t)))
                .and_then(|k| LIST_COLUMNS.iter().find(|s| s.key == k));
            match own {
                Some(spec) => Cell::Text(spec.label_zh.into()),
                None => c.clone(),
            }
        })
        .collect();
    RawRow {
        number: row.number,
        cells,
    }
}

fn detect(row: &RawRow, mapping: &Mapping) -> Option<ColumnMap> {
    // The name and one more known column: a list may be just 姓名 and 身份证号.
    let mut map = header::detect_min(LIST_COLUMNS, &renamed(row, mapping), 2)?;
    // Messages name the columns as the file wrote them.
    for slot in map.columns.iter_mut().flatten() {
        slot.1 = row.get(slot.0).text().trim().to_string();
    }
    map.header_texts = row
        .cells
        .iter()
        .map(|c| normalise_header(&c.text()))
        .collect();
    Some(map)
}

/// Read a department list. Errors opening the file or finding its header come back as
/// [`ImportError`]; row problems are in the result.
pub fn read_list(
    path: &Path,
    mapping: &Mapping,
    today: NaiveDate,
) -> Result<ListRead, ImportError> {
    let mut stream = RowStream::open(path)?;
    let mut before = Vec::new();
    let map = loop {
        match stream.blocking_next() {
            Some(Ok(row)) => {
                if let Some(m) = detect(&row, mapping) {
                    break m;
                }
                if row.number > header::MAX_HEADER_ROW {
                    return Err(ImportError::NoListHeader(header::missing_required(
                        LIST_COLUMNS,
                        &before,
                    )));
                }
                before.push(renamed(&row, mapping));
            }
            Some(Err(e)) => return Err(e.into()),
            None => {
                return Err(ImportError::NoListHeader(header::missing_required(
                    LIST_COLUMNS,
                    &before,
                )));
            }
        }
    };
    let mut out = ListRead {
        header_row: map.header_row,
        warnings: crate::import::roster::formula_warnings(stream.formulas_without_value().0),
        ..Default::default()
    };
    let reader = RowReader { map: &map, today };
    let mut first_of: HashMap<String, u32> = HashMap::new();
    while let Some(next) = stream.blocking_next() {
        let raw = next?;
        if raw.is_blank() || reader.is_template(&raw) || header::is_noise_row(&map, C_NAME, &raw) {
            out.skipped_rows += 1;
            continue;
        }
        out.rows_read += 1;
        match reader.row(&raw, &mut out.warnings) {
            Ok(r) => {
                if r.id_valid
                    && let Some(id) = &r.id_number
                {
                    if let Some(&first) = first_of.get(id) {
                        out.duplicates.push(Duplicate {
                            row: r.row,
                            same_as_row: first,
                        });
                        continue;
                    }
                    first_of.insert(id.clone(), r.row);
                }
                out.rows.push(r);
            }
            Err(e) => out.errors.push(e),
        }
    }
    Ok(out)
}

struct RowReader<'m> {
    map: &'m ColumnMap,
    today: NaiveDate,
}

impl RowReader<'_> {
    fn cell<'r>(&self, raw: &'r RawRow, col: usize) -> &'r Cell {
        match self.map.col(col) {
            Some(i) => raw.get(i),
            None => &Cell::Empty,
        }
    }

    fn text(&self, raw: &RawRow, col: usize) -> Option<String> {
        let t = self.cell(raw, col).text();
        let t = t.trim();
        (!t.is_empty()).then(|| t.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    fn problem(&self, row: u32, col: usize, code: &str) -> RowError {
        let column = self.map.header_text(LIST_COLUMNS, col);
        RowError {
            row,
            field: LIST_COLUMNS[col].key,
            column: column.clone(),
            code: code.to_string(),
            message: messages::render(code, &[("column", &column)]),
        }
    }

    fn is_template(&self, raw: &RawRow) -> bool {
        (C_TOWNSHIP..=C_CATEGORY)
            .filter(|&c| c != C_DIED)
            .all(|c| self.cell(raw, c).is_blank())
    }

    fn date(&self, raw: &RawRow, col: usize, warnings: &mut Vec<RowError>) -> Option<NaiveDate> {
        let cell = self.cell(raw, col);
        if cell.is_blank() {
            return None;
        }
        let found = match cell {
            Cell::Date(iso) => {
                NaiveDate::parse_from_str(iso.get(..10).unwrap_or(iso), "%Y-%m-%d").ok()
            }
            c => loose_date(&c.text()),
        };
        if found.is_none() {
            warnings.push(self.problem(raw.number, col, "date-invalid"));
        }
        found
    }

    fn row(&self, raw: &RawRow, warnings: &mut Vec<RowError>) -> Result<ListRow, RowError> {
        let row = raw.number;
        // A cell over the length limit rejects its row (its text was never read).
        if let Some(col) =
            (0..LIST_COLUMNS.len()).find(|&c| matches!(self.cell(raw, c), Cell::TooLong))
        {
            let column = self.map.header_text(LIST_COLUMNS, col);
            let limit = crate::import::limits::size_label(crate::import::limits::CELL_BYTES as u64);
            return Err(RowError {
                row,
                field: LIST_COLUMNS[col].key,
                column: column.clone(),
                code: "cell-too-long".into(),
                message: messages::render(
                    "cell-too-long",
                    &[("column", &column), ("limit", &limit)],
                ),
            });
        }
        let name = PersonName::parse(&self.cell(raw, C_NAME).text())
            .map_err(|e| self.problem(row, C_NAME, e.code()))?;
        let mut out = ListRow {
            row,
            name: name.as_str().to_string(),
            ..Default::default()
        };
        let mut parsed_id = None;
        match self.cell(raw, C_ID) {
            c if c.is_blank() => {}
            Cell::Number(_) => warnings.push(self.problem(row, C_ID, "id-not-text-precision-lost")),
            c => match IdNumber::parse_as_of(&c.text(), self.today) {
                Ok(id) => {
                    out.id_number = Some(id.as_str().to_string());
                    out.id_valid = true;
                    parsed_id = Some(id);
                }
                Err(e) => {
                    warnings.push(self.problem(row, C_ID, e.code()));
                    let folded: String = c
                        .text()
                        .chars()
                        .map(crate::domain::fold_width)
                        .filter(|c| c.is_ascii_alphanumeric())
                        .flat_map(char::to_uppercase)
                        .collect();
                    out.id_number = (!folded.is_empty()).then_some(folded);
                }
            },
        }
        out.sex = match self.text(raw, C_SEX) {
            None => parsed_id.as_ref().map(IdNumber::sex),
            Some(t) => match Sex::parse(&t) {
                Ok(s) => Some(s),
                Err(e) => {
                    warnings.push(self.problem(row, C_SEX, e.code()));
                    None
                }
            },
        };
        out.birth_date = self
            .date(raw, C_BIRTH, warnings)
            .or_else(|| parsed_id.as_ref().map(IdNumber::birth_date));
        out.address = self.text(raw, C_ADDRESS);
        out.phone = self.text(raw, C_PHONE);
        out.guardian = self.text(raw, C_GUARDIAN);
        out.died_on = self.date(raw, C_DIED_ON, warnings);
        out.died = out.died_on.is_some() || self.text(raw, C_DIED).is_some_and(|t| says_died(&t));
        out.certificate = self.text(raw, C_CERT);
        out.grade = match self.text(raw, C_GRADE) {
            None => None,
            Some(t) => match DisabilityGrade::parse_text(&t) {
                Ok((_, g)) => Some(g.number()),
                Err(_) => {
                    warnings.push(self.problem(row, C_GRADE, "grade-invalid"));
                    None
                }
            },
        };
        out.township = self.text(raw, C_TOWNSHIP);
        out.category = self.text(raw, C_CATEGORY);
        Ok(out)
    }
}

/// A 人员状态 / 是否死亡 cell that says the person died.
fn says_died(t: &str) -> bool {
    let t: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    matches!(t.as_str(), "是" | "Y" | "y" | "1")
        || ["死亡", "已故", "去世", "身故"]
            .iter()
            .any(|w| t.contains(w))
}

/// A date as people write it: 1980-01-02, 1980/1/2, 1980.1.2, 1980年1月2日, 19800102.
pub fn loose_date(text: &str) -> Option<NaiveDate> {
    let t: String = text.trim().chars().map(crate::domain::fold_width).collect();
    let t = t.split_whitespace().next().unwrap_or("");
    if t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::parse_from_str(t, "%Y%m%d").ok();
    }
    let parts: Vec<&str> = t
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .collect();
    match parts.as_slice() {
        [y, m, d, ..] if y.len() == 4 => {
            NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_as_people_write_them() {
        let d = NaiveDate::from_ymd_opt(1980, 1, 2);
        for t in [
            "1980-01-02",
            "1980/1/2",
            "1980.1.2",
            "1980年1月2日",
            "19800102",
            "１９８０-01-02 00:00:00",
        ] {
            assert_eq!(loose_date(t), d, "{t}");
        }
        assert_eq!(loose_date("80-1-2"), None);
        assert_eq!(loose_date("1980-02-30"), None);
    }

    #[test]
    fn mapping_names_known_columns() {
        let m = parse_mapping(&["人员 姓名=name".into(), "户籍详址=地址".into()]).unwrap();
        assert_eq!(m.get("人员姓名").map(String::as_str), Some("name"));
        assert_eq!(m.get("户籍详址").map(String::as_str), Some("address"));
        let e = parse_mapping(&["姓名=nom".into()]).unwrap_err();
        assert!(e.contains("nom") && e.contains("name（姓名）"), "{e}");
        assert!(parse_mapping(&["姓名".into()]).is_err());
    }

    #[test]
    fn died_cells() {
        assert!(says_died("死亡"));
        assert!(says_died("已死亡"));
        assert!(says_died("是"));
        assert!(!says_died("正常"));
        assert!(!says_died("否"));
    }
}
