//! A report (`crate::report`) as an .xlsx sheet in the official layout: the title with the
//! filing unit, the period and its as-of day; the column groups over the column labels; the row of
//! column numbers 1 … n; one row per township and the total; the note and the signature line.
//! Counts are numbers, percentages numbers with one decimal; a column entered by hand is shaded
//! and left blank until it is filled.

use anyhow::Context;
use rust_xlsxwriter::{Color, Format, FormatAlign, FormatBorder, Workbook};

use crate::report::{Cell, Definition, Report, Row};

/// The first row of data (the townships), 0-based: after the title, the period line, the groups,
/// the labels and the numbers.
pub const FIRST_DATA_ROW: u32 = 5;

/// Write `report` of `def` as an .xlsx file in memory.
pub fn to_xlsx(def: &Definition, report: &Report) -> anyhow::Result<Vec<u8>> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(&report.quarter)?;
    let last = def.columns.len() as u16;
    let title = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center);
    let head = Format::new()
        .set_bold()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
        .set_text_wrap();
    let cell = Format::new().set_border(FormatBorder::Thin);
    let percent = Format::new()
        .set_border(FormatBorder::Thin)
        .set_num_format("0.0");
    let manual = Format::new()
        .set_border(FormatBorder::Thin)
        .set_background_color(Color::RGB(0x00FF_F2CC));
    let bold = Format::new().set_bold().set_border(FormatBorder::Thin);
    ws.merge_range(
        0,
        0,
        0,
        last,
        &format!(
            "{}{}",
            report
                .region_name
                .rsplit(" / ")
                .next()
                .unwrap_or(&report.region_name),
            def.name
        ),
        &title,
    )?;
    ws.merge_range(
        1,
        0,
        1,
        last,
        &format!(
            "填报单位：{}　　统计期：{}（截至 {}）",
            report.region_name,
            report.period.label_zh(),
            report.period.end
        ),
        &Format::new(),
    )?;
    // Groups over labels; a column in no group has its label over both rows.
    ws.merge_range(2, 0, 3, 0, &def.row_label, &head)?;
    for (i, c) in def.columns.iter().enumerate() {
        let col = i as u16 + 1;
        match def.groups.iter().find(|g| g.columns.contains(&c.key)) {
            Some(g) if g.columns.first() == Some(&c.key) => {
                let width = g.columns.len() as u16;
                if width > 1 {
                    ws.merge_range(2, col, 2, col + width - 1, &g.label, &head)?;
                } else {
                    ws.write_string_with_format(2, col, &g.label, &head)?;
                }
                ws.write_string_with_format(3, col, &c.label, &head)?;
            }
            Some(_) => {
                ws.write_string_with_format(3, col, &c.label, &head)?;
            }
            None => {
                ws.merge_range(2, col, 3, col, &c.label, &head)?;
            }
        }
        ws.write_number_with_format(4, col, c.key.parse::<f64>().unwrap_or(0.0), &head)?;
        ws.set_column_width(col, 11)?;
    }
    ws.write_string_with_format(4, 0, "", &head)?;
    ws.set_column_width(0, 16)?;
    ws.set_row_height(3, 96)?;
    let mut r = FIRST_DATA_ROW;
    let mut write_row = |r: u32, row: &Row, label_format: &Format| -> anyhow::Result<()> {
        ws.write_string_with_format(r, 0, &row.name, label_format)?;
        for (i, c) in def.columns.iter().enumerate() {
            let col = i as u16 + 1;
            match row.columns.get(&c.key) {
                Some(Cell::Count(n)) => ws.write_number_with_format(r, col, *n as f64, &cell)?,
                Some(Cell::Percent(Some(p))) => {
                    ws.write_number_with_format(r, col, *p, &percent)?
                }
                Some(Cell::Manual(Some(v))) => ws.write_number_with_format(r, col, *v, &manual)?,
                Some(Cell::Manual(None)) => ws.write_blank(r, col, &manual)?,
                Some(Cell::Percent(None)) | None => ws.write_blank(r, col, &cell)?,
            };
        }
        Ok(())
    };
    for row in &report.rows {
        write_row(r, row, &cell)?;
        r += 1;
    }
    write_row(r, &report.total, &bold)?;
    r += 2;
    ws.merge_range(r, 0, r, last, &def.note, &Format::new().set_text_wrap())?;
    ws.set_row_height(r, 32)?;
    r += 2;
    ws.merge_range(
        r,
        0,
        r,
        last,
        &def.signatures.join("　　　　　　　　"),
        &Format::new(),
    )?;
    wb.save_to_buffer()
        .with_context(|| format!("cannot write the workbook of report {}", def.code))
}
