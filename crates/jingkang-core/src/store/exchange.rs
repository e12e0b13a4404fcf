//! Information exchange storage: department lists as dated snapshots, each department's column
//! names, and the discrepancy items of a run. Every query over items and persons is bounded by the
//! caller's [`Scope`]; a run is audited in the transaction that saves it.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde::Serialize;

use super::audit::{self, Target};
use super::bulk::{self, Col, Rows};
use super::{Actor, Tx, open_change_set};
use crate::exchange::{Class, Comparison, ListRead, Mapping, Ours, Source};
use crate::on_tx;
use crate::regions::Scope;

/// A source's saved header texts (normalised header → column key).
pub async fn mapping(tx: &mut Tx, source: &str) -> anyhow::Result<Mapping> {
    let rows: Vec<(String, String)> = on_tx!(tx, c => sqlx::query_as(
        "SELECT header, column_key FROM exchange_mappings WHERE source = $1")
        .bind(source).fetch_all(&mut **c).await)?;
    Ok(rows.into_iter().collect())
}

/// Save header texts for a source (replacing the same headers' earlier meaning). Audited.
pub async fn save_mapping(
    tx: &mut Tx,
    actor: &Actor,
    source: &str,
    added: &Mapping,
) -> anyhow::Result<()> {
    if added.is_empty() {
        return Ok(());
    }
    let change = open_change_set(tx, actor, "exchange", "mapping").await?;
    for (header, key) in added {
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO exchange_mappings (source, header, column_key, change_id) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (source, header) DO UPDATE SET column_key = excluded.column_key, change_id = excluded.change_id")
            .bind(source).bind(header).bind(key).bind(change).execute(&mut **c).await.map(drop))?;
    }
    let mut pairs: Vec<(&String, &String)> = added.iter().collect();
    pairs.sort();
    audit::record(
        tx,
        actor,
        "exchange.mapping",
        None,
        serde_json::json!({"source": source, "mapping": pairs}),
    )
    .await
}

#[derive(sqlx::FromRow)]
struct OursRow {
    id: i64,
    id_number: String,
    name: String,
    sex: String,
    birth_date: NaiveDate,
    residence_address: Option<String>,
    household_address: Option<String>,
    phone: Option<String>,
    guardian: Option<String>,
    disability_certificate: Option<String>,
    disability_grade: Option<i64>,
    subsistence_allowance: bool,
    extreme_poverty: bool,
    registration_state: String,
    close_reason: Option<String>,
}

/// The registry of a scope as the comparison sees it. Not audited per person: the run that reads
/// it is audited, and its items are shown masked.
pub async fn registry(tx: &mut Tx, scope: &Scope) -> anyhow::Result<Vec<Ours>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT p.id, p.id_number, p.name, p.sex, p.birth_date, p.residence_address, p.household_address, \
         p.phone, g.name AS guardian, p.disability_certificate, p.disability_grade, p.subsistence_allowance, \
         p.extreme_poverty, p.registration_state, p.close_reason \
         FROM persons p LEFT JOIN guardians g ON g.person_id = p.id AND g.ordinal = 1 \
         WHERE p.residence_region >= $1 AND p.residence_region < $2{} ORDER BY p.id",
        scope.site_sql("p")
    );
    let rows: Vec<OursRow> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(&lo).bind(&hi).fetch_all(&mut **c).await)?;
    Ok(rows
        .into_iter()
        .map(|r| Ours {
            person: r.id,
            id_number: r.id_number,
            name: r.name,
            sex: r.sex,
            birth_date: Some(r.birth_date),
            residence_address: r.residence_address,
            household_address: r.household_address,
            phone: r.phone,
            guardian: r.guardian,
            certificate: r.disability_certificate,
            grade: r.disability_grade,
            allowance: r.subsistence_allowance || r.extreme_poverty,
            active: r.registration_state != "closed",
            died: r.close_reason.as_deref() == Some("died"),
        })
        .collect())
}

/// Which of these canonical ID numbers are registered outside the scope (only the fact).
pub async fn registered_elsewhere(
    tx: &mut Tx,
    scope: &Scope,
    ids: &[&str],
) -> anyhow::Result<HashSet<String>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT id_number FROM persons WHERE id_number IN ({}) \
         AND NOT (residence_region >= $2 AND residence_region < $3{})",
        bulk::json_text_list(tx.backend(), 1),
        scope.site_sql("")
    );
    let mut out = HashSet::new();
    for chunk in ids.chunks(10_000) {
        let list = serde_json::to_string(chunk)?;
        let rows: Vec<String> = on_tx!(tx, c => sqlx::query_scalar(&sql)
            .bind(&list).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?;
        out.extend(rows);
    }
    Ok(out)
}

/// What a saved run holds, for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Summary {
    pub rows_read: u64,
    pub kept: u64,
    pub errors: u64,
    pub warnings: u64,
    pub duplicates: u64,
    pub registry: u64,
    pub matched_by_id: u64,
    pub matched_by_linkage: u64,
    pub agreeing: u64,
    pub compared: u64,
    /// Items per class code.
    pub counts: std::collections::BTreeMap<String, u64>,
}

impl Summary {
    pub fn of(read: &ListRead, registry: usize, cmp: &Comparison) -> Summary {
        Summary {
            rows_read: read.rows_read,
            kept: read.rows.len() as u64,
            errors: read.errors.len() as u64,
            warnings: read.warnings.len() as u64,
            duplicates: read.duplicates.len() as u64,
            registry: registry as u64,
            matched_by_id: cmp.matched_by_id,
            matched_by_linkage: cmp.matched_by_linkage,
            agreeing: cmp.agreeing,
            compared: cmp.compared,
            counts: Class::ALL
                .iter()
                .map(|c| (c.code().to_string(), cmp.count(*c)))
                .collect(),
        }
    }
}

/// A list and its run to save.
pub struct NewRun<'a> {
    pub source: &'a Source,
    pub county: &'a str,
    pub taken_on: NaiveDate,
    pub file_name: &'a str,
    pub read: &'a ListRead,
    pub comparison: &'a Comparison,
    pub summary: &'a Summary,
}

/// Save the list as a snapshot, the run and its items, in one change set. Returns (list, run).
pub async fn save_run(tx: &mut Tx, actor: &Actor, new: &NewRun<'_>) -> anyhow::Result<(i64, i64)> {
    let change = open_change_set(tx, actor, "exchange", &new.source.code).await?;
    let list: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO exchange_lists (source, county, taken_on, file_name, row_count, change_id) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
        .bind(&new.source.code).bind(new.county).bind(new.taken_on).bind(new.file_name)
        .bind(new.read.rows.len() as i64).bind(change).fetch_one(&mut **c).await)?;
    const COLS: &[(&str, Col)] = &[
        ("list_id", Col::Int),
        ("row_number", Col::Int),
        ("name", Col::Text),
        ("id_number", Col::Text),
        ("id_valid", Col::Bool),
        ("sex", Col::Text),
        ("birth_date", Col::Date),
        ("address", Col::Text),
        ("phone", Col::Text),
        ("guardian", Col::Text),
        ("died", Col::Bool),
        ("died_on", Col::Date),
        ("certificate", Col::Text),
        ("grade", Col::Int),
        ("township", Col::Text),
        ("category", Col::Text),
    ];
    for chunk in new.read.rows.chunks(5_000) {
        let mut rows = Rows::new();
        for r in chunk {
            rows.row()
                .int(Some(list))
                .int(Some(i64::from(r.row)))
                .text(Some(&r.name))
                .text(r.id_number.as_deref())
                .bool(r.id_valid)
                .text(r.sex.map(|s| s.code()))
                .opt_date(r.birth_date)
                .text(r.address.as_deref())
                .text(r.phone.as_deref())
                .text(r.guardian.as_deref())
                .bool(r.died)
                .opt_date(r.died_on)
                .text(r.certificate.as_deref())
                .int(r.grade.map(i64::from))
                .text(r.township.as_deref())
                .text(r.category.as_deref())
                .end_row();
        }
        bulk::insert(tx, "exchange_rows", COLS, rows).await?;
    }
    let ids: Vec<(i64, i64)> = on_tx!(tx, c => sqlx::query_as(
        "SELECT row_number, id FROM exchange_rows WHERE list_id = $1")
        .bind(list).fetch_all(&mut **c).await)?;
    let row_id: HashMap<i64, i64> = ids.into_iter().collect();
    let run: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO exchange_runs (list_id, source, county, summary, change_id) VALUES ($1, $2, $3, $4, $5) RETURNING id")
        .bind(list).bind(&new.source.code).bind(new.county)
        .bind(serde_json::to_string(new.summary)?).bind(change).fetch_one(&mut **c).await)?;
    const ITEM_COLS: &[(&str, Col)] = &[
        ("run_id", Col::Int),
        ("class", Col::Text),
        ("person_id", Col::Int),
        ("other_person_id", Col::Int),
        ("row_id", Col::Int),
        ("score", Col::Real),
        ("detail", Col::Text),
    ];
    for chunk in new.comparison.items.chunks(5_000) {
        let mut rows = Rows::new();
        for item in chunk {
            let row = item
                .row
                .and_then(|j| new.read.rows.get(j))
                .and_then(|r| row_id.get(&i64::from(r.row)).copied());
            let detail = serde_json::json!({
                "matched_by": item.matched_by,
                "fields": item.fields,
                "conflicts": item.conflicts,
                "elsewhere": item.elsewhere,
            });
            rows.row()
                .int(Some(run))
                .text(Some(item.class.code()))
                .int(item.person)
                .int(item.other)
                .int(row)
                .real(item.score)
                .text(Some(&detail.to_string()))
                .end_row();
        }
        bulk::insert(tx, "exchange_items", ITEM_COLS, rows).await?;
    }
    audit::record(
        tx,
        actor,
        "exchange.run",
        Some(Target::region(new.county)),
        serde_json::json!({
            "source": new.source.code,
            "list": list,
            "run": run,
            "taken_on": new.taken_on,
            "counts": new.summary.counts,
        }),
    )
    .await?;
    Ok((list, run))
}
