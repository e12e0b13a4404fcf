//! A worklist as an .xlsx sheet: title, its definition, the region and date, one row per person.

use anyhow::Context;
use chrono::NaiveDate;

use super::table::{self, Table, Value};
use crate::care::eligibility::age_on;
use crate::care::schedule::ConditionClass;
use crate::regions::RegionTree;
use crate::store::worklists::{WorkItem, Worklist};

/// The column headers of an exported worklist.
pub const HEADERS: [&str; 12] = [
    "序号",
    "姓名",
    "性别",
    "年龄",
    "现居住地",
    "危险性评估",
    "病情分类",
    "最近随访",
    "下次随访",
    "逾期天数",
    "服务协议有效期至",
    "康复计划复核日期",
];

/// The cells of one row, as text (the numbers are written as numbers).
pub fn row_cells(tree: &RegionTree, item: &WorkItem, today: NaiveDate) -> [String; 11] {
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
        item.condition_class
            .as_deref()
            .and_then(ConditionClass::from_code)
            .map_or("", ConditionClass::label_zh)
            .to_string(),
        item.last_followup_date
            .map_or(String::new(), |d| d.to_string()),
        item.next_followup_date
            .map_or(String::new(), |d| d.to_string()),
        item.next_followup_date
            .map_or(0, |d| (today - d).num_days().max(0))
            .to_string(),
        item.agreement_valid_until
            .map_or(String::new(), |d| d.to_string()),
        item.plan_review_on.map_or(String::new(), |d| d.to_string()),
    ]
}

/// Write `items` of `list` for `region_name` on `today` as an .xlsx file in memory.
pub fn to_xlsx(
    tree: &RegionTree,
    list: Worklist,
    region_name: &str,
    today: NaiveDate,
    items: &[WorkItem],
) -> anyhow::Result<Vec<u8>> {
    let title = format!("{}工作清单 — {}", list.label_zh(), region_name);
    persons_xlsx(
        tree,
        (list.label_zh(), &title),
        &[format!("口径：{}", list.definition_zh(today))],
        today,
        items,
    )
}

/// Persons in the worklist's columns under a sheet name and title, the notes (the definition)
/// and the date and count after them: a worklist, or the persons behind an indicator.
pub fn persons_xlsx(
    tree: &RegionTree,
    (sheet, title): (&str, &str),
    notes: &[String],
    today: NaiveDate,
    items: &[WorkItem],
) -> anyhow::Result<Vec<u8>> {
    let mut notes = notes.to_vec();
    notes.push(format!("生成日期：{today}　共 {} 人", items.len()));
    let table = Table {
        sheet,
        title: title.to_string(),
        notes,
        headers: &HEADERS,
        widths: &[
            6.0, 10.0, 6.0, 6.0, 36.0, 12.0, 10.0, 12.0, 12.0, 10.0, 16.0, 16.0,
        ],
    };
    let rows = items.iter().map(|item| {
        row_cells(tree, item, today)
            .into_iter()
            .enumerate()
            .map(|(c, v)| match c {
                2 | 8 => Value::Number(v.parse::<f64>().unwrap_or(0.0)),
                _ => Value::Text(v),
            })
            .collect()
    });
    table::to_xlsx(&table, rows).context("cannot write the worklist workbook")
}
