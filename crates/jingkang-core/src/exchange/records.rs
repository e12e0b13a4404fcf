//! Information exchange storage: department lists as dated snapshots, each department's column
//! names, and the discrepancy items of a run. Every query over items and persons is bounded by the
//! caller's [`Scope`]; a run is audited in the transaction that saves it.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde::Serialize;

use crate::exchange::{Class, Comparison, ListRead, Mapping, Ours, Source};
use crate::on_tx;
use crate::regions::Scope;
use crate::secrets::Keys;
use crate::store::audit::{self, Target};
use crate::store::bulk::{self, Col, Rows};
use crate::store::sealing::{LIST_CERTIFICATE, LIST_ID_NUMBER, LIST_PHONE};
use crate::store::{Actor, Tx, open_change_set};

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
         WHERE p.residence_region >= $1 AND p.residence_region < $2{} AND p.merged_into IS NULL ORDER BY p.id",
        scope.rows_sql("p")
    );
    let rows: Vec<OursRow> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(&lo).bind(&hi).fetch_all(&mut **c).await)?;
    let keys = tx.keys.clone();
    rows.into_iter()
        .map(|r| -> anyhow::Result<Ours> {
            Ok(Ours {
                person: r.id,
                id_number: keys.open("persons.id_number", &r.id_number)?,
                name: r.name,
                sex: r.sex,
                birth_date: Some(r.birth_date),
                residence_address: r.residence_address,
                household_address: r.household_address,
                phone: keys.open_opt("persons.phone", r.phone.as_deref())?,
                guardian: r.guardian,
                certificate: keys.open_opt(
                    "persons.disability_certificate",
                    r.disability_certificate.as_deref(),
                )?,
                grade: r.disability_grade,
                allowance: r.subsistence_allowance || r.extreme_poverty,
                active: r.registration_state != "closed",
                died: r.close_reason.as_deref() == Some("died"),
            })
        })
        .collect()
}

/// Which of these canonical ID numbers are registered outside the scope (only the fact). A reader
/// under a row rule learns nothing of persons outside it (empty set).
pub async fn registered_elsewhere(
    tx: &mut Tx,
    scope: &Scope,
    ids: &[&str],
) -> anyhow::Result<HashSet<String>> {
    if !scope.rows().is_all() {
        return Ok(HashSet::new());
    }
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT id_number FROM persons WHERE id_hash IN ({}) \
         AND NOT (residence_region >= $2 AND residence_region < $3{})",
        bulk::json_text_list(tx.backend(), 1),
        scope.rows_sql("")
    );
    let mut out = HashSet::new();
    let keys = tx.keys.clone();
    for chunk in ids.chunks(10_000) {
        let hashes = chunk
            .iter()
            .map(|id| keys.index(crate::secrets::Index::IdNumber, id))
            .collect::<Result<Vec<_>, _>>()?;
        let list = serde_json::to_string(&hashes)?;
        let rows: Vec<String> = on_tx!(tx, c => sqlx::query_scalar(&sql)
            .bind(&list).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?;
        for sealed in rows {
            out.insert(keys.open("persons.id_number", &sealed)?);
        }
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
    /// The lists compared: (department code, file name, rows kept).
    #[serde(default)]
    pub files: Vec<(String, String, u64)>,
}

impl Summary {
    pub fn of(read: &ListRead, registry: usize, cmp: &Comparison) -> Summary {
        Summary::of_lists(&[("", "", read)], registry, cmp)
    }

    /// The summary of several lists (department code, file name, what was read) compared at once.
    pub fn of_lists(
        lists: &[(&str, &str, &ListRead)],
        registry: usize,
        cmp: &Comparison,
    ) -> Summary {
        let sum = |f: &dyn Fn(&ListRead) -> u64| lists.iter().map(|(_, _, r)| f(r)).sum::<u64>();
        Summary {
            rows_read: sum(&|r| r.rows_read),
            kept: sum(&|r| r.rows.len() as u64),
            errors: sum(&|r| r.errors.len() as u64),
            warnings: sum(&|r| r.warnings.len() as u64),
            duplicates: sum(&|r| r.duplicates.len() as u64),
            registry: registry as u64,
            matched_by_id: cmp.matched_by_id,
            matched_by_linkage: cmp.matched_by_linkage,
            agreeing: cmp.agreeing,
            compared: cmp.compared,
            counts: Class::ALL
                .iter()
                .map(|c| (c.code().to_string(), cmp.count(*c)))
                .collect(),
            files: lists
                .iter()
                .filter(|(code, _, _)| !code.is_empty())
                .map(|(code, file, r)| (code.to_string(), file.to_string(), r.rows.len() as u64))
                .collect(),
        }
    }
}

/// A department's list to keep.
pub struct NewList<'a> {
    pub source: &'a Source,
    pub file_name: &'a str,
    pub read: &'a ListRead,
}

/// The lists of a run and its items to save.
pub struct NewRun<'a> {
    /// The department's code, or [`CENSUS`] for the annual joint census.
    pub kind: &'a str,
    pub region: &'a str,
    pub taken_on: NaiveDate,
    /// The lists, in the order the items' rows index them.
    pub lists: &'a [NewList<'a>],
    pub comparison: &'a Comparison,
    pub summary: &'a Summary,
    /// The row rules of its maker: the registry it compared ([`registry`]) was read under them.
    pub rules: crate::regions::Rows,
}

/// The run kind of the annual joint census.
pub const CENSUS: &str = "census";

const ROW_COLS: &[(&str, Col)] = &[
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

/// Keep one list as a snapshot; its rows' ids in the order of `read.rows`.
async fn save_list(
    tx: &mut Tx,
    change: i64,
    region: &str,
    taken_on: NaiveDate,
    new: &NewList<'_>,
) -> anyhow::Result<(i64, Vec<i64>)> {
    let list: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO exchange_lists (source, region, taken_on, file_name, row_count, change_id) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
        .bind(&new.source.code).bind(region).bind(taken_on).bind(new.file_name)
        .bind(new.read.rows.len() as i64).bind(change).fetch_one(&mut **c).await)?;
    for chunk in new.read.rows.chunks(5_000) {
        let mut rows = Rows::new();
        for r in chunk {
            rows.row()
                .int(Some(list))
                .int(Some(i64::from(r.row)))
                .text(Some(&r.name))
                .text(
                    tx.keys
                        .seal_opt(LIST_ID_NUMBER, r.id_number.as_deref())?
                        .as_deref(),
                )
                .bool(r.id_valid)
                .text(r.sex.map(|s| s.code()))
                .opt_date(r.birth_date)
                .text(r.address.as_deref())
                .text(tx.keys.seal_opt(LIST_PHONE, r.phone.as_deref())?.as_deref())
                .text(r.guardian.as_deref())
                .bool(r.died)
                .opt_date(r.died_on)
                .text(
                    tx.keys
                        .seal_opt(LIST_CERTIFICATE, r.certificate.as_deref())?
                        .as_deref(),
                )
                .int(r.grade.map(i64::from))
                .text(r.township.as_deref())
                .text(r.category.as_deref())
                .end_row();
        }
        bulk::insert(tx, "exchange_rows", ROW_COLS, rows).await?;
    }
    let ids: Vec<(i64, i64)> = on_tx!(tx, c => sqlx::query_as(
        "SELECT row_number, id FROM exchange_rows WHERE list_id = $1")
        .bind(list).fetch_all(&mut **c).await)?;
    let row_id: HashMap<i64, i64> = ids.into_iter().collect();
    let ids = new
        .read
        .rows
        .iter()
        .map(|r| row_id.get(&i64::from(r.row)).copied().unwrap_or(0))
        .collect();
    Ok((list, ids))
}

/// Save the lists as snapshots, the run and its items, in one change set. Returns (first list, run).
pub async fn save_run(tx: &mut Tx, actor: &Actor, new: &NewRun<'_>) -> anyhow::Result<(i64, i64)> {
    let change = open_change_set(tx, actor, "exchange", new.kind).await?;
    let mut lists = Vec::new();
    let mut row_ids: Vec<i64> = Vec::new();
    // Row numbers in the sheets, in the same order, for the items' detail.
    let mut row_numbers: Vec<u32> = Vec::new();
    for l in new.lists {
        let (list, ids) = save_list(tx, change, new.region, new.taken_on, l).await?;
        lists.push(list);
        row_ids.extend(ids);
        row_numbers.extend(l.read.rows.iter().map(|r| r.row));
    }
    let first = *lists
        .first()
        .ok_or_else(|| anyhow::anyhow!("a run needs a list"))?;
    let run: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO exchange_runs (list_id, source, region, summary, change_id, rows_min_risk, rows_site) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id")
        .bind(first).bind(new.kind).bind(new.region)
        .bind(serde_json::to_string(new.summary)?).bind(change)
        .bind(new.rules.min_risk).bind(new.rules.site).fetch_one(&mut **c).await)?;
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
            let row = item.row.and_then(|j| row_ids.get(j).copied());
            let seen: Vec<serde_json::Value> = item
                .seen
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "source": s.source,
                        "row": row_ids.get(s.row),
                        "row_number": row_numbers.get(s.row),
                        "matched_by": s.matched_by,
                        "score": s.score,
                    })
                })
                .collect();
            let mut detail = serde_json::json!({
                "matched_by": item.matched_by,
                "fields": item.fields,
                "conflicts": item.conflicts,
                "elsewhere": item.elsewhere,
            });
            if new.kind == CENSUS {
                detail["seen"] = seen.into();
                detail["missing"] = item.missing_from.clone().into();
            }
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
        Some(Target::region(new.region)),
        serde_json::json!({
            "source": new.kind,
            "lists": lists,
            "run": run,
            "taken_on": new.taken_on,
            "counts": new.summary.counts,
        }),
    )
    .await?;
    Ok((first, run))
}

/// A saved run, as the review pages list it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub source: String,
    pub region: String,
    pub taken_on: NaiveDate,
    pub file_name: String,
    pub summary: Summary,
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(sqlx::FromRow)]
struct RunCols {
    id: i64,
    source: String,
    region: String,
    taken_on: NaiveDate,
    file_name: String,
    summary: String,
    at: chrono::DateTime<chrono::Utc>,
}

impl RunCols {
    fn into_row(self) -> RunRow {
        RunRow {
            id: self.id,
            source: self.source,
            region: self.region,
            taken_on: self.taken_on,
            file_name: self.file_name,
            summary: serde_json::from_str(&self.summary).unwrap_or_default(),
            at: self.at,
        }
    }
}

const RUN_SELECT: &str = "SELECT r.id, r.source, r.region, l.taken_on, l.file_name, r.summary, c.at \
     FROM exchange_runs r JOIN exchange_lists l ON l.id = r.list_id JOIN change_sets c ON c.id = r.change_id";

/// A run is seen by users whose scope holds its whole region (the county's departments exchange at
/// county level; a 派出所's list is compared by its township) and whose row rules are as wide as
/// the rules it was made under or wider (the police see the runs made under the police's rule).
fn region_filter(scope: &Scope) -> (String, String) {
    scope.bounds()
}

/// The condition on `exchange_runs r` of [`region_filter`]'s second half: the run's rules lie
/// within the reader's. Integers from code or the database, written into the SQL.
fn rules_sql(scope: &Scope) -> String {
    let rows = scope.rows();
    let mut out = String::new();
    if let Some(min) = rows.min_risk {
        out.push_str(&format!(" AND r.rows_min_risk >= {min}"));
    }
    if let Some(site) = rows.site {
        out.push_str(&format!(" AND r.rows_site = {site}"));
    }
    out
}

/// The condition on an item `i` of a run: the persons it is about pass the reader's row rules (a
/// person whose risk fell since the run is no longer shown to the police).
fn item_rows_sql(scope: &Scope) -> String {
    format!(
        "{}{}",
        scope.about_sql("i.person_id", true),
        scope.about_sql("i.other_person_id", true)
    )
}

/// The latest runs of regions in the scope, newest first.
pub async fn runs(tx: &mut Tx, scope: &Scope, limit: i64) -> anyhow::Result<Vec<RunRow>> {
    let (lo, hi) = region_filter(scope);
    let sql = format!(
        "{RUN_SELECT} WHERE r.region >= $1 AND r.region < $2{} ORDER BY r.id DESC LIMIT $3",
        rules_sql(scope)
    );
    let rows: Vec<RunCols> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(&lo).bind(&hi).bind(limit).fetch_all(&mut **c).await)?;
    Ok(rows.into_iter().map(RunCols::into_row).collect())
}

/// One run, if its region is in the scope.
pub async fn run(tx: &mut Tx, scope: &Scope, id: i64) -> anyhow::Result<Option<RunRow>> {
    let (lo, hi) = region_filter(scope);
    let sql = format!(
        "{RUN_SELECT} WHERE r.id = $1 AND r.region >= $2 AND r.region < $3{}",
        rules_sql(scope)
    );
    let row: Option<RunCols> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    Ok(row.map(RunCols::into_row))
}

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    Open,
    Linked,
    Merged,
    Created,
    Rejected,
}

impl ItemState {
    pub const ALL: [ItemState; 5] = [
        ItemState::Open,
        ItemState::Linked,
        ItemState::Merged,
        ItemState::Created,
        ItemState::Rejected,
    ];
    pub fn code(self) -> &'static str {
        match self {
            ItemState::Open => "open",
            ItemState::Linked => "linked",
            ItemState::Merged => "merged",
            ItemState::Created => "created",
            ItemState::Rejected => "rejected",
        }
    }
    pub fn from_code(code: &str) -> Option<ItemState> {
        ItemState::ALL.into_iter().find(|s| s.code() == code)
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            ItemState::Open => "待处理",
            ItemState::Linked => "已确认关联",
            ItemState::Merged => "已合并",
            ItemState::Created => "已新建",
            ItemState::Rejected => "不予采纳",
        }
    }
}

/// An item of a run, with their row as kept in the snapshot (ID numbers and phones in clear: show
/// them masked).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRow {
    pub id: i64,
    pub class: Class,
    pub person: Option<i64>,
    pub other: Option<i64>,
    pub row: Option<crate::exchange::ListRow>,
    pub score: Option<f64>,
    pub detail: serde_json::Value,
    pub state: ItemState,
}

#[derive(sqlx::FromRow)]
struct ItemCols {
    id: i64,
    class: String,
    person_id: Option<i64>,
    other_person_id: Option<i64>,
    score: Option<f64>,
    detail: String,
    state: String,
    row_number: Option<i64>,
    name: Option<String>,
    id_number: Option<String>,
    id_valid: Option<bool>,
    sex: Option<String>,
    birth_date: Option<NaiveDate>,
    address: Option<String>,
    phone: Option<String>,
    guardian: Option<String>,
    died: Option<bool>,
    died_on: Option<NaiveDate>,
    certificate: Option<String>,
    grade: Option<i64>,
    township: Option<String>,
    category: Option<String>,
}

impl ItemCols {
    /// The item, its list row's sealed values opened; `None` for an unknown class or state.
    fn into_row(mut self, keys: &Keys) -> anyhow::Result<Option<ItemRow>> {
        self.id_number = keys.open_opt(LIST_ID_NUMBER, self.id_number.as_deref())?;
        self.phone = keys.open_opt(LIST_PHONE, self.phone.as_deref())?;
        self.certificate = keys.open_opt(LIST_CERTIFICATE, self.certificate.as_deref())?;
        Ok(self.known())
    }

    fn known(self) -> Option<ItemRow> {
        let row = self.name.map(|name| crate::exchange::ListRow {
            row: self.row_number.unwrap_or(0) as u32,
            name,
            id_number: self.id_number,
            id_valid: self.id_valid.unwrap_or(false),
            sex: self
                .sex
                .as_deref()
                .and_then(|s| crate::domain::Sex::parse(s).ok()),
            birth_date: self.birth_date,
            address: self.address,
            phone: self.phone,
            guardian: self.guardian,
            died: self.died.unwrap_or(false),
            died_on: self.died_on,
            certificate: self.certificate,
            grade: self.grade.and_then(|g| u8::try_from(g).ok()),
            township: self.township,
            category: self.category,
        });
        Some(ItemRow {
            id: self.id,
            class: Class::from_code(&self.class)?,
            person: self.person_id,
            other: self.other_person_id,
            row,
            score: self.score,
            detail: serde_json::from_str(&self.detail).unwrap_or_default(),
            state: ItemState::from_code(&self.state)?,
        })
    }
}

const ITEM_SELECT: &str = "SELECT r.id AS run_id, i.id, i.class, i.person_id, i.other_person_id, i.score, i.detail, i.state, \
     x.row_number, x.name, x.id_number, x.id_valid, x.sex, x.birth_date, x.address, x.phone, x.guardian, x.died, \
     x.died_on, x.certificate, x.grade, x.township, x.category \
     FROM exchange_items i JOIN exchange_runs r ON r.id = i.run_id LEFT JOIN exchange_rows x ON x.id = i.row_id";

/// The items of a run in the scope (of one class, or all), in the order saved. `None` when the run
/// is absent or out of scope.
pub async fn items(
    tx: &mut Tx,
    scope: &Scope,
    run: i64,
    class: Option<Class>,
) -> anyhow::Result<Option<Vec<ItemRow>>> {
    if self::run(tx, scope, run).await?.is_none() {
        return Ok(None);
    }
    let sql = format!(
        "{ITEM_SELECT} WHERE i.run_id = $1 AND ($2 = '' OR i.class = $2){} ORDER BY i.id",
        item_rows_sql(scope)
    );
    let class = class.map_or("", Class::code);
    let rows: Vec<ItemCols> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(run).bind(class).fetch_all(&mut **c).await)?;
    Ok(Some(
        rows.into_iter()
            .map(|r| r.into_row(&tx.keys))
            .filter_map(Result::transpose)
            .collect::<anyhow::Result<Vec<_>>>()?,
    ))
}

/// One item, if its run's region is in the scope; with its run's id.
pub async fn item(tx: &mut Tx, scope: &Scope, id: i64) -> anyhow::Result<Option<(i64, ItemRow)>> {
    let (lo, hi) = region_filter(scope);
    let sql = format!(
        "{ITEM_SELECT} WHERE i.id = $1 AND r.region >= $2 AND r.region < $3{}{}",
        rules_sql(scope),
        item_rows_sql(scope)
    );
    #[derive(sqlx::FromRow)]
    struct WithRun {
        run_id: i64,
        #[sqlx(flatten)]
        cols: ItemCols,
    }
    let row: Option<WithRun> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    Ok(match row {
        Some(r) => r.cols.into_row(&tx.keys)?.map(|item| (r.run_id, item)),
        None => None,
    })
}

/// A user's decision on an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The two records are one person: for a theirs-only item, the registry person (in the run's
    /// region) it is; for the others, the difference was seen and is handled in the record.
    Link { person: Option<i64> },
    /// A duplicate item: keep `survivor` (one of its two records), taking the fields `take` from
    /// the other, which is merged into it ([`crate::store::merge`]).
    Merge { survivor: i64, take: Vec<String> },
    /// A theirs-only item: register their row as a new person (待评估), in `township` (a name; the
    /// row's own when `None`), through the same rules as a form entry.
    Create { township: Option<String> },
    /// Not taken up (their list is wrong, or the difference is not ours to act on).
    Reject,
    /// Undo a decision: the item is open again (a merge is undone; a person created is removed
    /// while nothing has been recorded for them).
    Reopen,
}

/// Who decides, where, on which day.
#[derive(Clone, Copy)]
pub struct Desk<'a> {
    pub scope: &'a Scope,
    pub actor: &'a Actor,
    pub tree: &'a crate::regions::RegionTree,
    pub today: NaiveDate,
}

/// Decide an item, audited in the same transaction with the state before and after. Refused with a
/// message when the item is absent or out of scope, the decision does not fit its state or class,
/// or the person named is not in the run's region.
pub async fn decide(
    tx: &mut Tx,
    desk: &Desk<'_>,
    id: i64,
    decision: &Decision,
    note: &str,
) -> anyhow::Result<Result<ItemState, crate::store::Refusal>> {
    let scope = desk.scope;
    let Some((run_id, item)) = item(tx, scope, id).await? else {
        return Ok(Err(crate::store::Refusal::NotFound));
    };
    let region: String = on_tx!(tx, c => sqlx::query_scalar("SELECT region FROM exchange_runs WHERE id = $1")
        .bind(run_id).fetch_one(&mut **c).await)?;
    let mut merge_id = None;
    let (to, person) = match (decision, item.state) {
        (Decision::Reopen, ItemState::Open) => {
            return crate::store::refuse("decision", "exchange-item-open", &[]);
        }
        (Decision::Reopen, ItemState::Merged) => {
            let merge: Option<i64> = on_tx!(tx, c => sqlx::query_scalar(
                "SELECT id FROM person_merges WHERE item_id = $1 AND undone_change IS NULL")
                .bind(id).fetch_optional(&mut **c).await)?;
            if let Some(m) = merge {
                if let Err(r) =
                    crate::store::merge::unmerge(tx, scope, desk.actor, m, desk.today).await?
                {
                    return Ok(Err(r));
                }
                merge_id = Some(m);
            }
            (ItemState::Open, item.person)
        }
        (Decision::Reopen, ItemState::Created) => {
            if let Some(pid) = item.person
                && let Err(r) = undo_create(tx, scope, desk.actor, pid, id).await?
            {
                return Ok(Err(r));
            }
            (ItemState::Open, None)
        }
        (Decision::Reopen, _) => (ItemState::Open, item.person),
        (_, s) if s != ItemState::Open => {
            return crate::store::refuse(
                "decision",
                "exchange-item-decided",
                &[("state", s.label_zh())],
            );
        }
        (Decision::Reject, _) => (ItemState::Rejected, item.person),
        (Decision::Link { person }, _) => match (item.class, person) {
            (Class::TheirsOnly, None) => {
                return crate::store::refuse("person", "exchange-link-person-missing", &[]);
            }
            (Class::TheirsOnly, Some(pid)) => {
                // In the user's scope and in the run's region.
                let run_scope = Scope::under(&crate::domain::RegionCode::parse(&region)?);
                let here = crate::store::persons::get_unaudited(tx, scope, *pid)
                    .await?
                    .is_some_and(|p| run_scope.contains(&p.record.data.residence_region));
                if !here {
                    return crate::store::refuse(
                        "person",
                        "exchange-link-person-unknown",
                        &[("id", &pid.to_string())],
                    );
                }
                (ItemState::Linked, Some(*pid))
            }
            _ => (ItemState::Linked, item.person),
        },
        (Decision::Merge { survivor, take }, _) => {
            let pair = (item.class == Class::Duplicate)
                .then_some(item.person.zip(item.other))
                .flatten();
            let Some((a, b)) = pair else {
                return crate::store::refuse("decision", "exchange-merge-class", &[]);
            };
            let absorbed = match *survivor {
                s if s == a => b,
                s if s == b => a,
                _ => return crate::store::refuse("survivor", "exchange-merge-survivor", &[]),
            };
            let req = crate::store::merge::MergeRequest {
                survivor: *survivor,
                absorbed,
                take,
                item: Some(id),
                today: desk.today,
            };
            match crate::store::merge::merge(tx, scope, desk.actor, &req).await? {
                Ok(m) => merge_id = Some(m.id),
                Err(r) => return Ok(Err(r)),
            }
            (ItemState::Merged, item.person)
        }
        (Decision::Create { township }, _) => {
            let Some(row) = item
                .row
                .as_ref()
                .filter(|_| item.class == Class::TheirsOnly)
            else {
                return crate::store::refuse("decision", "exchange-create-class", &[]);
            };
            match create_person(tx, desk, &region, row, township.as_deref(), id).await? {
                Ok(pid) => (ItemState::Created, Some(pid)),
                Err(r) => return Ok(Err(r)),
            }
        }
    };
    let change = open_change_set(tx, desk.actor, "exchange", "decide").await?;
    let decided = (to != ItemState::Open).then_some(change);
    on_tx!(tx, c => sqlx::query(
        "UPDATE exchange_items SET state = $1, person_id = $2, decided_change = $3 WHERE id = $4")
        .bind(to.code()).bind(person).bind(decided).bind(id).execute(&mut **c).await.map(drop))?;
    audit::record(
        tx,
        desk.actor,
        "exchange.decide",
        Some(Target {
            kind: "exchange_item",
            id: id.to_string(),
        }),
        serde_json::json!({
            "run": run_id,
            "class": item.class.code(),
            "from": item.state.code(),
            "to": to.code(),
            "person": person,
            "merge": merge_id,
            "note": note,
        }),
    )
    .await?;
    Ok(Ok(to))
}

/// Register their row as a new person in the run's region, validated as a form entry is.
async fn create_person(
    tx: &mut Tx,
    desk: &Desk<'_>,
    region: &str,
    row: &crate::exchange::ListRow,
    township: Option<&str>,
    item: i64,
) -> anyhow::Result<Result<i64, crate::store::Refusal>> {
    use crate::import::roster;
    let Some(region) = desk.tree.get(region) else {
        anyhow::bail!("run region {region} is not in the region tree");
    };
    let township = township
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .or(row.township.as_deref());
    let value = |key: &str| -> Option<String> {
        match key {
            "name" => Some(row.name.clone()),
            "id_number" => row.id_number.clone(),
            "township" => township.map(str::to_string),
            "address" => row.address.clone(),
            "guardian" => row.guardian.clone(),
            "certificate" => row.certificate.clone(),
            "grade" => row.grade.map(|g| g.to_string()),
            _ => None,
        }
    };
    let mut record = match roster::validate_entry(desk.tree, region, desk.today, &value) {
        Ok(r) => r,
        Err(errors) => {
            return Ok(Err(crate::store::Refusal::Problems(
                errors
                    .into_iter()
                    .map(|e| crate::care::service::FieldError {
                        field: e.field.to_string(),
                        code: e.code,
                        message: e.message,
                    })
                    .collect(),
            )));
        }
    };
    if record.data.phone.is_none() {
        record.data.phone = row
            .phone
            .as_deref()
            .and_then(|p| crate::domain::Phone::parse(p).ok())
            .map(|p| p.to_string());
    }
    if !desk.scope.contains(&record.data.residence_region) {
        return crate::store::refuse("township", "exchange-create-outside", &[]);
    }
    let found =
        crate::store::persons::lookup_id_numbers(tx, desk.scope, &[record.data.id_number.as_str()])
            .await?;
    if let Some(existing) = found.inside.values().next() {
        return crate::store::refuse(
            "id_number",
            "exchange-create-exists",
            &[("id", &existing.id.to_string())],
        );
    }
    if !found.elsewhere.is_empty() {
        return crate::store::refuse("id_number", "exchange-create-elsewhere", &[]);
    }
    let change = open_change_set(tx, desk.actor, "信息比对", "exchange-create").await?;
    let ids = crate::store::persons::insert_many(
        tx,
        desk.scope,
        (change, desk.today),
        std::slice::from_ref(&record),
    )
    .await?;
    let pid = *ids
        .first()
        .ok_or_else(|| anyhow::anyhow!("insert returned no id"))?;
    audit::record(
        tx,
        desk.actor,
        "person.create",
        Some(Target::person(pid)),
        serde_json::json!({"change_set": change, "exchange_item": item}),
    )
    .await?;
    Ok(Ok(pid))
}

/// Tables whose rows say a person's record has been used since it was created: those a merge
/// moves, and these.
const USED_BY: &[&str] = &[
    "service_attendance",
    "caregiver_training_attendees",
    "rehab_plans",
    "registration_events",
];

/// Remove a person created from item `item`, while nothing has been recorded for them: never
/// edited, no follow-up, service, plan, state change or other item. Otherwise refused (close the
/// record through registration instead).
async fn undo_create(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    pid: i64,
    item: i64,
) -> anyhow::Result<Result<(), crate::store::Refusal>> {
    let Some(p) = crate::store::persons::get_unaudited(tx, scope, pid).await? else {
        return Ok(Err(crate::store::Refusal::NotFound));
    };
    let mut used = p.version != 1;
    for table in crate::store::merge::MOVED_BY_ID.iter().chain(USED_BY) {
        if used {
            break;
        }
        let n: i64 = on_tx!(tx, c => sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE person_id = $1"))
            .bind(pid).fetch_one(&mut **c).await)?;
        used = n > 0;
    }
    if !used {
        let n: i64 = on_tx!(tx, c => sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM person_merges WHERE survivor_id = $1 OR absorbed_id = $1) \
                  + (SELECT COUNT(*) FROM exchange_items WHERE (person_id = $1 OR other_person_id = $1) AND id <> $2)")
            .bind(pid).bind(item).fetch_one(&mut **c).await)?;
        used = n > 0;
    }
    if used {
        return crate::store::refuse("decision", "exchange-create-used", &[]);
    }
    on_tx!(tx, c => sqlx::query("UPDATE exchange_items SET person_id = NULL WHERE id = $1")
        .bind(item).execute(&mut **c).await.map(drop))?;
    for sql in [
        "DELETE FROM person_history WHERE person_id = $1",
        "DELETE FROM persons WHERE id = $1",
    ] {
        on_tx!(tx, c => sqlx::query(sql).bind(pid).execute(&mut **c).await.map(drop))?;
    }
    audit::record(
        tx,
        actor,
        "person.delete",
        Some(Target::person(pid)),
        serde_json::json!({"exchange_item": item, "reason": "undo_create"}),
    )
    .await?;
    Ok(Ok(()))
}

/// Names and ID numbers of registry persons in the scope, for an item list (show the ID masked;
/// opening an item reads the records in full, audited).
pub async fn names(
    tx: &mut Tx,
    scope: &Scope,
    ids: &[i64],
) -> anyhow::Result<HashMap<i64, (String, String)>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT id, name, id_number FROM persons WHERE id IN ({}) \
         AND residence_region >= $2 AND residence_region < $3{}",
        bulk::json_int_list(tx.backend(), 1),
        scope.rows_sql("")
    );
    let mut out = HashMap::new();
    for chunk in ids.chunks(10_000) {
        let list = serde_json::to_string(chunk)?;
        let rows: Vec<(i64, String, String)> = on_tx!(tx, c => sqlx::query_as(&sql)
            .bind(&list).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?;
        for (id, n, i) in rows {
            out.insert(id, (n, tx.keys.open("persons.id_number", &i)?));
        }
    }
    Ok(out)
}
