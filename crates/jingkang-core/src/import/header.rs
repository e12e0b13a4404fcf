//! Finding the header row of a hand-made spreadsheet and mapping its columns.
//!
//! Column names and their usual variants are data ([`ColumnSpec`]); a row is the header when it names
//! at least [`MIN_MATCHES`] known columns including every required one. Rows above it (title, 填报单位)
//! are ignored.

use super::sheet::{Cell, RawRow};

/// One logical column: its code name, the name shown to users, and the header texts that mean it.
#[derive(Debug)]
pub struct ColumnSpec {
    pub key: &'static str,
    pub label_zh: &'static str,
    pub aliases: &'static [&'static str],
    pub required: bool,
}

/// Header texts of the ID number column, seen in rosters and department lists alike.
pub const ID_NUMBER_ALIASES: &[&str] = &[
    "身份证号",
    "身份证号码",
    "公民身份号码",
    "公民身份证号码",
    "居民身份证号",
    "居民身份证号码",
    "身份证",
    "证件号码",
];
/// Header texts of the 残疾证号 column.
pub const CERTIFICATE_ALIASES: &[&str] = &[
    "残疾证号",
    "残疾证号码",
    "残疾人证号",
    "残疾人证号码",
    "残疾证",
];
/// Header texts of the 残疾等级 column.
pub const GRADE_ALIASES: &[&str] = &["残疾等级", "残疾级别", "残疾类别等级", "等级"];

/// At least this many known columns make a header row.
pub const MIN_MATCHES: usize = 3;
/// How far down the header may be.
pub const MAX_HEADER_ROW: u32 = 30;

/// Normalise header text: drop whitespace, line breaks, asterisks and bracketed notes such as
/// `（必填）`; full-width parentheses to half-width.
pub fn normalise_header(s: &str) -> String {
    let s: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '*' && *c != '＊')
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            _ => c,
        })
        .collect();
    for note in ["(必填)", "(选填)", "(可选)"] {
        if let Some(stripped) = s.strip_suffix(note) {
            return stripped.to_string();
        }
    }
    s
}

/// The columns found in a header row: for each spec index, the column number and header text.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    pub header_row: u32,
    pub columns: Vec<Option<(usize, String)>>,
    /// The header texts, by column, to recognise a repeated header further down.
    pub header_texts: Vec<String>,
}

impl ColumnMap {
    pub fn col(&self, spec_index: usize) -> Option<usize> {
        self.columns
            .get(spec_index)
            .and_then(|c| c.as_ref().map(|(i, _)| *i))
    }
    /// The header text as written in the file (for error messages), or the label.
    pub fn header_text(&self, specs: &[ColumnSpec], spec_index: usize) -> String {
        self.columns
            .get(spec_index)
            .and_then(|c| c.as_ref().map(|(_, t)| t.clone()))
            .unwrap_or_else(|| specs[spec_index].label_zh.to_string())
    }
    pub fn is_repeated_header(&self, row: &RawRow) -> bool {
        let matches = row
            .cells
            .iter()
            .zip(&self.header_texts)
            .filter(|(c, h)| {
                !h.is_empty() && c.as_text().is_some_and(|t| normalise_header(t) == **h)
            })
            .count();
        matches >= MIN_MATCHES
    }
}

fn match_row(specs: &[ColumnSpec], row: &RawRow) -> Vec<Option<(usize, String)>> {
    let mut found: Vec<Option<(usize, String)>> = vec![None; specs.len()];
    for (ci, cell) in row.cells.iter().enumerate() {
        if !matches!(cell, Cell::Text(_)) {
            continue;
        }
        let raw = cell.text();
        let h = normalise_header(&raw);
        if h.is_empty() {
            continue;
        }
        if let Some(si) = specs.iter().position(|s| s.aliases.contains(&h.as_str()))
            && found[si].is_none()
        {
            found[si] = Some((ci, raw.trim().to_string()));
        }
    }
    found
}

/// Try `row` as the header. `None` unless enough columns and all required ones are present.
pub fn detect(specs: &[ColumnSpec], row: &RawRow) -> Option<ColumnMap> {
    detect_min(specs, row, MIN_MATCHES)
}

/// [`detect`] with another least number of known columns (a department's list may hold only a
/// name and an ID number).
pub fn detect_min(specs: &[ColumnSpec], row: &RawRow, min: usize) -> Option<ColumnMap> {
    if row.number > MAX_HEADER_ROW {
        return None;
    }
    let columns = match_row(specs, row);
    let n = columns.iter().filter(|c| c.is_some()).count();
    let required_ok = specs
        .iter()
        .zip(&columns)
        .all(|(s, c)| !s.required || c.is_some());
    (n >= min && required_ok).then(|| ColumnMap {
        header_row: row.number,
        header_texts: row
            .cells
            .iter()
            .map(|c| normalise_header(&c.text()))
            .collect(),
        columns,
    })
}

/// The best near-miss among the rows seen, to explain why no header was found: the required columns
/// it lacks.
pub fn missing_required(specs: &[ColumnSpec], rows: &[RawRow]) -> Vec<&'static str> {
    let best = rows
        .iter()
        .map(|r| match_row(specs, r))
        .max_by_key(|c| c.iter().filter(|x| x.is_some()).count());
    match best {
        Some(cols) if cols.iter().any(|c| c.is_some()) => specs
            .iter()
            .zip(&cols)
            .filter(|(s, c)| s.required && c.is_none())
            .map(|(s, _)| s.label_zh)
            .collect(),
        _ => specs
            .iter()
            .filter(|s| s.required)
            .map(|s| s.label_zh)
            .collect(),
    }
}

/// Rows that are not data: totals, signature lines, repeated headers, column-number rows. Cheap for
/// ordinary data rows (no allocation unless a cell starts like a marker).
pub fn is_noise_row(map: &ColumnMap, name_col: usize, raw: &RawRow) -> bool {
    const MARKERS: &[&str] = &[
        "合计",
        "总计",
        "小计",
        "填表人",
        "填报人",
        "审核人",
        "负责人",
        "单位负责人",
        "分管负责人",
        "填表日期",
        "填报日期",
        "制表",
        "联系电话：",
        "联系电话:",
        "填报单位",
        "说明",
        "填表说明",
        "注：",
        "注:",
    ];
    const FIRST_CHARS: &[char] = &[
        '合', '总', '小', '填', '审', '负', '单', '分', '制', '联', '说', '注',
    ];
    for c in raw.cells.iter().take(4) {
        let Some(t) = c.as_text() else { continue };
        if t.starts_with(FIRST_CHARS) {
            let t: String = t.chars().filter(|c| !c.is_whitespace()).collect();
            if MARKERS.iter().any(|m| t.starts_with(m)) {
                return true;
            }
        }
    }
    // A repeated header has header text in the name column.
    if let Some(ci) = map.col(name_col) {
        let name_header = map.header_texts.get(ci).map(String::as_str).unwrap_or("");
        if raw
            .get(ci)
            .as_text()
            .is_some_and(|t| normalise_header(t) == name_header)
            && map.is_repeated_header(raw)
        {
            return true;
        }
    }
    // A row of column numbers 1, 2, 3, … under the header.
    let first_is_one =
        matches!(raw.get(0), Cell::Number(n) if *n == 1.0) || raw.get(0).as_text() == Some("1");
    if first_is_one {
        let nums: Vec<String> = raw
            .cells
            .iter()
            .filter(|c| !c.is_blank())
            .map(|c| c.text().into_owned())
            .collect();
        return nums.len() >= 3
            && nums
                .iter()
                .enumerate()
                .all(|(i, t)| *t == (i + 1).to_string());
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPECS: &[ColumnSpec] = &[
        ColumnSpec {
            key: "name",
            label_zh: "姓名",
            aliases: &["姓名"],
            required: true,
        },
        ColumnSpec {
            key: "id",
            label_zh: "身份证号",
            aliases: &["身份证号", "身份证号码"],
            required: true,
        },
        ColumnSpec {
            key: "sex",
            label_zh: "性别",
            aliases: &["性别"],
            required: false,
        },
        ColumnSpec {
            key: "town",
            label_zh: "镇街",
            aliases: &["镇街", "乡镇(街道)"],
            required: true,
        },
    ];

    fn row(n: u32, cells: &[&str]) -> RawRow {
        RawRow {
            number: n,
            cells: cells.iter().map(|s| Cell::Text((*s).into())).collect(),
        }
    }

    #[test]
    fn finds_header_with_variants_and_notes() {
        let title = row(1, &["万盛经开区XX镇精神障碍患者花名册"]);
        assert!(detect(SPECS, &title).is_none());
        let h = row(
            3,
            &[
                "序号",
                "乡镇（街道）",
                "姓 名",
                "性别",
                "身份证号码*（必填）",
            ],
        );
        let m = detect(SPECS, &h).expect("header");
        assert_eq!(m.col(0), Some(2));
        assert_eq!(m.col(1), Some(4));
        assert_eq!(m.col(3), Some(1));
        assert_eq!(m.header_text(SPECS, 1), "身份证号码*（必填）");
        assert!(m.is_repeated_header(&h));
    }

    #[test]
    fn explains_missing_required_columns() {
        let h = row(2, &["序号", "镇街", "姓名", "性别"]);
        assert!(detect(SPECS, &h).is_none());
        assert_eq!(missing_required(SPECS, &[h]), vec!["身份证号"]);
    }
}
