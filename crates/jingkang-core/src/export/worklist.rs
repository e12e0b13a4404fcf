//! A worklist as an .xlsx sheet: title, its definition, the region and date, one row per person.

use anyhow::Context;
use chrono::NaiveDate;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook};

use crate::care::eligibility::age_on;
use crate::care::schedule::ConditionClass;
use crate::regions::RegionTree;
use crate::store::worklists::{WorkItem, Worklist};

/// The column headers of an exported worklist.
pub const HEADERS: [&str; 11] = ["序号", "姓名", "性别", "年龄", "现居住地", "危险性评估", "病情分类", "最近随访", "下次随访", "逾期天数", "服务协议有效期至"];

/// The cells of one row, as text (the numbers are written as numbers).
pub fn row_cells(tree: &RegionTree, item: &WorkItem, today: NaiveDate) -> [String; 10] {
    [
        item.name.clone(),
        match item.sex.as_str() {
            "male" => "男",
            "female" => "女",
            _ => "",
        }
        .to_string(),
        age_on(item.birth_date, today).to_string(),
        tree.path_name(&item.residence_region),
        item.risk_grade.map_or(String::new(), |g| format!("{g} 级")),
        item.condition_class.as_deref().and_then(ConditionClass::from_code).map_or("", ConditionClass::label_zh).to_string(),
        item.last_followup_date.map_or(String::new(), |d| d.to_string()),
        item.next_followup_date.map_or(String::new(), |d| d.to_string()),
        item.next_followup_date.map_or(0, |d| (today - d).num_days().max(0)).to_string(),
        item.agreement_valid_until.map_or(String::new(), |d| d.to_string()),
    ]
}

/// Write `items` of `list` for `region_name` on `today` as an .xlsx file in memory.
pub fn to_xlsx(tree: &RegionTree, list: Worklist, region_name: &str, today: NaiveDate, items: &[WorkItem]) -> anyhow::Result<Vec<u8>> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(list.label_zh())?;
    let title = Format::new().set_bold().set_font_size(16).set_align(FormatAlign::Center);
    let head = Format::new().set_bold().set_border(FormatBorder::Thin).set_align(FormatAlign::Center);
    let cell = Format::new().set_border(FormatBorder::Thin);
    ws.merge_range(0, 0, 0, (HEADERS.len() - 1) as u16, &format!("{}工作清单 — {}", list.label_zh(), region_name), &title)?;
    ws.write_string(1, 0, format!("口径：{}", list.definition_zh(today)))?;
    ws.write_string(2, 0, format!("生成日期：{today}　共 {} 人", items.len()))?;
    for (c, h) in HEADERS.iter().enumerate() {
        ws.write_string_with_format(3, c as u16, *h, &head)?;
    }
    for (c, w) in [6, 10, 6, 6, 36, 12, 10, 12, 12, 10, 16].into_iter().enumerate() {
        ws.set_column_width(c as u16, w)?;
    }
    for (i, item) in items.iter().enumerate() {
        let r = 4 + i as u32;
        ws.write_number_with_format(r, 0, (i + 1) as f64, &cell)?;
        for (c, v) in row_cells(tree, item, today).iter().enumerate() {
            let col = (c + 1) as u16;
            match c {
                2 | 8 => ws.write_number_with_format(r, col, v.parse::<f64>().unwrap_or(0.0), &cell)?,
                _ => ws.write_string_with_format(r, col, v, &cell)?,
            };
        }
    }
    wb.save_to_buffer().context("cannot write the worklist workbook")
}
