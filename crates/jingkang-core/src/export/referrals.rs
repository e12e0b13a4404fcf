//! A referral worklist (待接收 / 逾期) as an .xlsx sheet.

use anyhow::Context;
use chrono::NaiveDate;

use super::table::{self, Table, Value};
use crate::app::referrals::ReferralItem;
use crate::care::referral::{ReferralRules, ReferralState};
use crate::regions::RegionTree;

/// The column headers of an exported referral list.
pub const HEADERS: [&str; 10] = [
    "序号",
    "类型",
    "紧急",
    "服务对象",
    "发出地区",
    "接收地区",
    "发起日期",
    "期限",
    "逾期工作日",
    "状态",
];

/// The cells of one row, as text; `late_days` is the count of working days past the deadline.
pub fn row_cells(
    tree: &RegionTree,
    rules: &ReferralRules,
    item: &ReferralItem,
    late_days: u32,
) -> [String; 9] {
    [
        rules
            .kind(&item.kind)
            .map_or(item.kind.clone(), |k| k.label.clone()),
        if item.urgent { "紧急" } else { "" }.to_string(),
        item.person_name.clone().unwrap_or_default(),
        tree.path_name(&item.from_region),
        tree.path_name(&item.to_region),
        item.sent_on.to_string(),
        item.deadline.map_or(String::new(), |d| d.to_string()),
        late_days.to_string(),
        ReferralState::from_code(&item.state)
            .map_or_else(|| item.state.clone(), |s| s.label_zh().to_string()),
    ]
}

/// Write a referral list titled `label` for `region_name` on `today`; `late` gives each item's
/// working days past its deadline.
pub fn to_xlsx(
    tree: &RegionTree,
    rules: &ReferralRules,
    label: &str,
    definition: &str,
    region_name: &str,
    today: NaiveDate,
    items: &[(ReferralItem, u32)],
) -> anyhow::Result<Vec<u8>> {
    let table = Table {
        sheet: label,
        title: format!("{label} — {region_name}"),
        notes: vec![
            format!("口径：{definition}"),
            format!("生成日期：{today}　共 {} 条", items.len()),
        ],
        headers: &HEADERS,
        widths: &[6.0, 24.0, 6.0, 10.0, 30.0, 30.0, 12.0, 12.0, 10.0, 8.0],
    };
    let rows = items.iter().map(|(item, late)| {
        row_cells(tree, rules, item, *late)
            .into_iter()
            .enumerate()
            .map(|(c, v)| {
                if c == 7 {
                    Value::Number(f64::from(*late))
                } else {
                    Value::Text(v)
                }
            })
            .collect()
    });
    table::to_xlsx(&table, rows).context("cannot write the referral workbook")
}
