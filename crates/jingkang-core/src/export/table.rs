//! A titled list as an .xlsx sheet — the shape every exported worklist shares: a merged title row,
//! notes (definition, date, count), a header row, then numbered rows with thin borders.

use anyhow::Context;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook};

/// One cell of a data row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Number(f64),
}

/// The sheet's frame: its name, title, note lines, headers (the first is the row number 序号)
/// and column widths (one per header).
pub struct Table<'a> {
    pub sheet: &'a str,
    pub title: String,
    pub notes: Vec<String>,
    pub headers: &'a [&'a str],
    pub widths: &'a [f64],
}

/// Write `rows` (without the row number, which is added) under `table` as an .xlsx file in memory.
pub fn to_xlsx(
    table: &Table,
    rows: impl IntoIterator<Item = Vec<Value>>,
) -> anyhow::Result<Vec<u8>> {
    to_book([(table, rows.into_iter().collect())])
}

/// Several titled lists, one sheet each, in one .xlsx file (in memory).
pub fn to_book<'t, 'a: 't>(
    sheets: impl IntoIterator<Item = (&'t Table<'a>, Vec<Vec<Value>>)>,
) -> anyhow::Result<Vec<u8>> {
    let mut wb = Workbook::new();
    let mut names = Vec::new();
    for (table, rows) in sheets {
        write_sheet(&mut wb, table, rows)?;
        names.push(table.sheet);
    }
    wb.save_to_buffer()
        .with_context(|| format!("cannot write the workbook {}", names.join(", ")))
}

fn write_sheet(wb: &mut Workbook, table: &Table, rows: Vec<Vec<Value>>) -> anyhow::Result<()> {
    let ws = wb.add_worksheet();
    ws.set_name(table.sheet)?;
    let title = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center);
    let head = Format::new()
        .set_bold()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center);
    let cell = Format::new().set_border(FormatBorder::Thin);
    let last_col = table.headers.len().saturating_sub(1) as u16;
    ws.merge_range(0, 0, 0, last_col.max(1), &table.title, &title)?;
    let mut r: u32 = 1;
    for note in &table.notes {
        ws.write_string(r, 0, note)?;
        r += 1;
    }
    for (c, h) in table.headers.iter().enumerate() {
        ws.write_string_with_format(r, c as u16, *h, &head)?;
    }
    for (c, w) in table.widths.iter().enumerate() {
        ws.set_column_width(c as u16, *w)?;
    }
    for (i, row) in rows.into_iter().enumerate() {
        r += 1;
        ws.write_number_with_format(r, 0, (i + 1) as f64, &cell)?;
        for (c, v) in row.iter().enumerate() {
            let col = (c + 1) as u16;
            match v {
                Value::Text(t) => ws.write_string_with_format(r, col, t, &cell)?,
                Value::Number(n) => ws.write_number_with_format(r, col, *n, &cell)?,
            };
        }
    }
    Ok(())
}
