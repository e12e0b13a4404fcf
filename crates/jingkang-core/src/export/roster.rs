//! 附件3 花名册 export in the official layout: merged title, 填报单位 line, header, one row per person
//! with 序号, ID numbers as text and age at the export date, a 合计 line and the signature line.
//! Importing the exported file changes nothing (tested).

use std::path::Path;

use anyhow::Context;
use chrono::NaiveDate;
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook};

use crate::domain::{DisabilityCategory, DisabilityGrade};
use crate::regions::{Region, RegionTree, Scope};
use crate::registry::PersonWithGuardian;
use crate::store::audit::{self, Target};
use crate::store::persons;
use crate::store::{Actor, Db};

pub const HEADER: [&str; 12] = [
    "序号",
    "镇街",
    "姓名",
    "性别",
    "年龄",
    "身份证号",
    "残疾证号",
    "残疾等级",
    "家庭住址",
    "监护人",
    "监护人电话",
    "备注",
];

/// Persons read per query while exporting.
const EXPORT_PAGE: i64 = 2000;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportSummary {
    pub region: String,
    pub persons: u64,
}

/// The roster's text for a grade: `精神三级`, `多重二级`, or `三级` when the category is unknown.
pub fn grade_text(category: Option<i64>, grade: Option<i64>) -> String {
    let Some(g) = grade
        .and_then(|g| u8::try_from(g).ok())
        .and_then(DisabilityGrade::from_number)
    else {
        return String::new();
    };
    let cat = category
        .and_then(|c| u8::try_from(c).ok())
        .and_then(DisabilityCategory::from_code)
        .map(DisabilityCategory::label_zh)
        .unwrap_or("");
    format!("{cat}{}", g.label_zh())
}

fn row_values(tree: &RegionTree, p: &PersonWithGuardian, as_of: NaiveDate) -> [String; 11] {
    let d = &p.data;
    let township = tree
        .path(&d.residence_region)
        .into_iter()
        .find(|r| r.level == crate::regions::Level::Township)
        .map(|r| r.name)
        .unwrap_or_default();
    let age = {
        let b = d.birth_date;
        let mut a = chrono::Datelike::year(&as_of) - chrono::Datelike::year(&b);
        if (
            chrono::Datelike::month(&as_of),
            chrono::Datelike::day(&as_of),
        ) < (chrono::Datelike::month(&b), chrono::Datelike::day(&b))
        {
            a -= 1;
        }
        a.max(0).to_string()
    };
    let g = p.guardian.as_ref();
    let phones = g
        .map(|g| {
            [g.phone.clone(), g.phone_alt.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_default();
    [
        township,
        d.name.clone(),
        if d.sex == "male" { "男" } else { "女" }.to_string(),
        age,
        d.id_number.clone(),
        d.disability_certificate.clone().unwrap_or_default(),
        grade_text(d.disability_category, d.disability_grade),
        d.residence_address.clone().unwrap_or_default(),
        g.map(|g| g.name.clone()).unwrap_or_default(),
        phones,
        d.notes.clone().unwrap_or_default(),
    ]
}

/// What to export, for whom and why.
pub struct ExportRequest<'a> {
    /// The caller's scope; `region` must lie inside it.
    pub scope: &'a Scope,
    /// A county or township.
    pub region: &'a Region,
    pub out: &'a Path,
    /// Ages are computed as of this date.
    pub as_of: NaiveDate,
    pub actor: &'a Actor,
    /// Recorded in the audit log.
    pub reason: &'a str,
}

/// Write the roster of `req.region` to `req.out`. The export is audited with its reason, in the
/// same transaction that reads the persons.
pub async fn export_roster(
    db: &Db,
    tree: &RegionTree,
    req: &ExportRequest<'_>,
) -> anyhow::Result<ExportSummary> {
    let ExportRequest {
        scope,
        region,
        out,
        as_of,
        actor,
        reason,
    } = *req;
    let within = Scope::of(region);
    if !within.is_within(scope) {
        anyhow::bail!("export region outside the caller's scope");
    }
    let mut tx = db.begin().await?;

    let mut wb = Workbook::new();
    let ws = wb.add_worksheet_with_constant_memory()?;
    ws.set_name("花名册")?;
    let title = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center);
    let head = Format::new()
        .set_bold()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center);
    let cellf = Format::new().set_border(FormatBorder::Thin);
    let textf = Format::new()
        .set_border(FormatBorder::Thin)
        .set_num_format("@");
    ws.merge_range(
        0,
        0,
        0,
        11,
        &format!("{}精神障碍患者花名册", region.name),
        &title,
    )?;
    ws.write_string(1, 0, format!("填报单位：{}", tree.path_name(&region.code)))?;
    ws.write_string(1, 8, format!("导出日期：{as_of}"))?;
    for (c, h) in HEADER.iter().enumerate() {
        ws.write_string_with_format(2, c as u16, *h, &head)?;
    }
    for (width, col) in [
        (6, 0),
        (12, 1),
        (10, 2),
        (6, 3),
        (6, 4),
        (22, 5),
        (26, 6),
        (12, 7),
        (36, 8),
        (10, 9),
        (26, 10),
        (16, 11),
    ] {
        ws.set_column_width(col, width)?;
    }
    // Page through the persons (keyset order) while the sheet streams to disk: memory stays flat
    // however large the region.
    let mut r = 3u32;
    let mut total = 0usize;
    let mut pages = persons::RegionPages::new(within, EXPORT_PAGE);
    loop {
        let page = pages.next(&mut tx, scope).await?;
        if page.is_empty() {
            break;
        }
        for p in &page {
            total += 1;
            ws.write_number_with_format(r, 0, total as f64, &cellf)?;
            let vals = row_values(tree, &p.record, as_of);
            for (c, v) in vals.iter().enumerate() {
                let col = (c + 1) as u16;
                if col == 4 {
                    ws.write_number_with_format(r, col, v.parse::<f64>().unwrap_or(0.0), &cellf)?;
                } else {
                    // IDs, certificates and phones are written as text so Excel keeps every digit.
                    ws.write_string_with_format(
                        r,
                        col,
                        v,
                        if matches!(col, 5 | 6 | 10) {
                            &textf
                        } else {
                            &cellf
                        },
                    )?;
                }
            }
            r += 1;
        }
    }
    ws.write_string_with_format(r, 0, "合计", &head)?;
    ws.write_string_with_format(r, 1, format!("{total} 人"), &cellf)?;
    ws.write_string(r + 2, 0, "填表人：")?;
    ws.write_string(r + 2, 4, "联系电话：")?;
    ws.write_string(r + 2, 8, "单位负责人签字（盖章）：")?;
    wb.save(out)
        .with_context(|| format!("cannot write {}", out.display()))?;

    audit::record(
        &mut tx,
        actor,
        "roster.export",
        Some(Target::region(&region.code)),
        serde_json::json!({"persons": total, "reason": reason, "file": out.file_name().map(|f| f.to_string_lossy().to_string())}),
    )
    .await?;
    tx.commit().await?;
    Ok(ExportSummary {
        region: region.code.clone(),
        persons: total as u64,
    })
}
