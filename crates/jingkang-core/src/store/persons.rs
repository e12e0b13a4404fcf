//! Person repository. Every function over persons takes the caller's [`Scope`]: a query can only see
//! persons whose residence region lies in the scope, and a write outside it is refused.

use std::collections::HashMap;

use super::audit::{self, Target};
use super::bulk::{self, Col, Rows};
use super::{Actor, Backend, Conn, Db, Tx, sealing};
use crate::domain::RegistrationState;
use crate::on_tx;
use crate::regions::Scope;
use crate::registry::{FieldChange, Guardian, PERSON_COLUMNS, PersonData, PersonWithGuardian};
use crate::secrets::{Index, Keys};
use anyhow::{Context, bail};
use chrono::NaiveDate;

/// A person as stored, with its internal id.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPerson {
    pub id: i64,
    pub version: i64,
    /// 登记状态.
    pub state: RegistrationState,
    pub record: PersonWithGuardian,
}

fn person_select(alias: &str) -> String {
    PERSON_COLUMNS
        .iter()
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(sqlx::FromRow)]
struct GuardianCols {
    g_name: Option<String>,
    g_relation: Option<String>,
    g_phone: Option<String>,
    g_phone_alt: Option<String>,
    g_id_number: Option<String>,
}

#[derive(sqlx::FromRow)]
struct PersonRow {
    id: i64,
    version: i64,
    registration_state: String,
    #[sqlx(flatten)]
    data: PersonData,
    #[sqlx(flatten)]
    g: GuardianCols,
}

impl PersonRow {
    /// The stored person, its sealed values opened with `keys`.
    fn open(self, keys: &Keys) -> anyhow::Result<StoredPerson> {
        let r = self;
        let mut data = r.data;
        sealing::open_person(keys, &mut data)?;
        let guardian =
            r.g.g_name
                .map(|name| {
                    let mut g = Guardian {
                        name,
                        relation: r.g.g_relation,
                        phone: r.g.g_phone,
                        phone_alt: r.g.g_phone_alt,
                        id_number: r.g.g_id_number,
                    };
                    sealing::open_guardian(keys, &mut g).map(|()| g)
                })
                .transpose()?;
        // The column's CHECK constraint admits only known codes.
        let state = RegistrationState::from_code(&r.registration_state)
            .unwrap_or(RegistrationState::Pending);
        Ok(StoredPerson {
            id: r.id,
            version: r.version,
            state,
            record: PersonWithGuardian { data, guardian },
        })
    }
}

const GUARDIAN_JOIN: &str = "LEFT JOIN guardians g ON g.person_id = p.id AND g.ordinal = 1";
const GUARDIAN_COLS: &str = "g.name AS g_name, g.relation AS g_relation, g.phone AS g_phone, g.phone_alt AS g_phone_alt, g.id_number AS g_id_number";

/// What is known about a set of ID numbers, from the caller's point of view.
#[derive(Debug, Default)]
pub struct IdLookup {
    /// Persons in scope, keyed by ID number.
    pub inside: HashMap<String, StoredPerson>,
    /// ID numbers registered *outside* the scope, with the record's id for the audit entry of the
    /// disclosure. Only the fact is revealed to the user, not where or who: the caller reports
    /// "registered elsewhere, needs a transfer" without showing the record.
    pub elsewhere: HashMap<String, i64>,
}

/// Look up canonical ID numbers: one query per chunk, whose out-of-scope rows never leave this
/// function beyond their ID number.
pub async fn lookup_id_numbers(
    tx: &mut Tx,
    scope: &Scope,
    ids: &[&str],
) -> anyhow::Result<IdLookup> {
    let (lo, hi) = scope.bounds();
    let mut out = IdLookup::default();
    let sql = format!(
        "SELECT p.id, p.version, p.registration_state, {}, {GUARDIAN_COLS}, \
         (p.residence_region >= $1 AND p.residence_region < $2{}) AS inside \
         FROM persons p {GUARDIAN_JOIN} WHERE p.id_hash IN ({})",
        person_select("p"),
        scope.rows_sql("p"),
        bulk::json_text_list(tx.backend(), 3)
    );
    let keys = tx.keys.clone();
    for chunk in ids.chunks(10_000) {
        let hashes = chunk
            .iter()
            .map(|id| keys.index(Index::IdNumber, id))
            .collect::<Result<Vec<_>, _>>()?;
        let list = serde_json::to_string(&hashes)?;
        let rows: Vec<ScopedRow> = on_tx!(tx, c => sqlx::query_as(&sql)
            .bind(&lo).bind(&hi).bind(&list).fetch_all(&mut **c).await)?;
        for r in rows {
            if r.inside {
                let p = r.row.open(&keys)?;
                out.inside.insert(p.record.data.id_number.clone(), p);
            } else {
                let id = keys.open("persons.id_number", &r.row.data.id_number)?;
                out.elsewhere.insert(id, r.row.id);
            }
        }
    }
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct ScopedRow {
    #[sqlx(flatten)]
    row: PersonRow,
    inside: bool,
}

/// Persons in scope with the given canonical ID numbers, keyed by ID number.
pub async fn find_by_id_numbers(
    tx: &mut Tx,
    scope: &Scope,
    ids: &[&str],
) -> anyhow::Result<HashMap<String, StoredPerson>> {
    Ok(lookup_id_numbers(tx, scope, ids).await?.inside)
}

fn check_in_scope(scope: &Scope, p: &PersonWithGuardian) -> anyhow::Result<()> {
    if !scope.contains(&p.data.residence_region) {
        bail!("refusing to write a person outside the caller's scope");
    }
    Ok(())
}

/// Insert new persons (with their first guardian) in one change set, entering the registry on
/// `known_since` (the user's day). Returns their ids in order.
pub async fn insert_many(
    tx: &mut Tx,
    scope: &Scope,
    (change_id, known_since): (i64, NaiveDate),
    persons: &[PersonWithGuardian],
) -> anyhow::Result<Vec<i64>> {
    for p in persons {
        check_in_scope(scope, p)?;
    }
    let mut ids = Vec::with_capacity(persons.len());
    for chunk in persons.chunks(INSERT_CHUNK) {
        // Only the columns some row of the chunk uses (a roster fills a third of them).
        let used: Vec<usize> = (0..PERSON_COLUMNS.len())
            .filter(|&i| i < MANDATORY_COLUMNS || !chunk.iter().all(|p| is_default(&p.data, i)))
            .collect();
        let mut cols = vec![("id", Col::Int)];
        cols.extend(
            used.iter()
                .map(|&i| (PERSON_COLUMNS[i], PERSON_COLUMN_TYPES[i])),
        );
        cols.extend([
            ("name_initials", Col::Text),
            ("created_change", Col::Int),
            ("updated_change", Col::Int),
            ("known_since", Col::Date),
            ("id_hash", Col::Text),
            ("id_bi6", Col::Text),
            ("id_bi14", Col::Text),
            ("id_bi4", Col::Text),
            ("dx_bi3", Col::Text),
        ]);
        let new_ids = reserve_ids(tx, "persons", chunk.len()).await?;
        let mut rows = Rows::new();
        for (p, id) in chunk.iter().zip(&new_ids) {
            let sealed = sealing::sealed_person(&tx.keys, &p.data)?;
            let ix = sealing::person_indexes(&tx.keys, &p.data)?;
            rows.row().int(Some(*id));
            for &i in &used {
                write_person_col(&mut rows, &sealed, i);
            }
            rows.text(Some(&name_initials(&p.data.name)))
                .int(Some(change_id))
                .int(Some(change_id))
                .date(known_since)
                .text(Some(&ix.id_hash))
                .text(Some(&ix.id_bi6))
                .text(Some(&ix.id_bi14))
                .text(Some(&ix.id_bi4))
                .text(ix.dx_bi3.as_deref())
                .end_row();
        }
        bulk::insert(tx, "persons", &cols, rows).await?;
        let guardians: Vec<(i64, &Guardian)> = chunk
            .iter()
            .zip(&new_ids)
            .filter_map(|(p, id)| p.guardian.as_ref().map(|g| (*id, g)))
            .collect();
        insert_guardians(tx, &guardians).await?;
        ids.extend(new_ids);
    }
    Ok(ids)
}

/// SQL types of [`PERSON_COLUMNS`], in the same order.
const PERSON_COLUMN_TYPES: [Col; 32] = {
    use Col::*;
    [
        Text, Text, Text, Date, Text, Text, Text, Text, Text, Text, Text, Text, Int, Int, Text,
        Text, Text, Text, Text, Text, Text, Bool, Bool, Bool, Text, Text, Int, Text, Text, Text,
        Text, Text,
    ]
};

/// Write column `i` of [`PERSON_COLUMNS`] of `d` into the current JSON row.
fn write_person_col(j: &mut Rows, d: &PersonData, i: usize) {
    match PERSON_COLUMN_TYPES[i] {
        Col::Date => {
            j.date(d.birth_date);
        }
        Col::Bool => {
            j.bool(d.get(PERSON_COLUMNS[i]).as_deref() == Some("1"));
        }
        Col::Int => {
            j.int(d.get(PERSON_COLUMNS[i]).and_then(|v| v.parse().ok()));
        }
        Col::Real | Col::Text => match i {
            // The hot columns of a bulk import without an allocation.
            0 => {
                j.text(Some(&d.id_number));
            }
            1 => {
                j.text(Some(&d.name));
            }
            2 => {
                j.text(Some(&d.sex));
            }
            9 => {
                j.text(Some(&d.residence_region));
            }
            10 => {
                j.text(d.residence_address.as_deref());
            }
            11 => {
                j.text(d.disability_certificate.as_deref());
            }
            31 => {
                j.text(d.notes.as_deref());
            }
            _ => {
                j.text(d.get(PERSON_COLUMNS[i]).as_deref());
            }
        },
    }
}

/// Reserve `n` new ids of `table`. Ids are taken up front so bulk inserts need no `RETURNING`
/// (whose rows would travel back one by one). SQLite: the transaction holds the write lock
/// (`BEGIN IMMEDIATE`), so the ids after the current maximum are free. PostgreSQL: the identity
/// sequence hands them out, safe under concurrency.
async fn reserve_ids(tx: &mut Tx, table: &str, n: usize) -> anyhow::Result<Vec<i64>> {
    Ok(match &mut tx.conn {
        Conn::Sqlite(c) => {
            let max: i64 = sqlx::query_scalar(&format!("SELECT COALESCE(MAX(id), 0) FROM {table}"))
                .fetch_one(&mut **c)
                .await?;
            (max + 1..=max + n as i64).collect()
        }
        Conn::Postgres(c) => sqlx::query_scalar(&format!(
            "SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, $1)"
        ))
        .bind(n as i64)
        .fetch_all(&mut **c)
        .await?,
    })
}

/// Rows per INSERT statement (one JSON parameter each); bulk callers hand over multiples of it.
pub const INSERT_CHUNK: usize = 1024;

/// The first columns of [`PERSON_COLUMNS`] (id_number, name, sex, birth_date) are always bound.
const MANDATORY_COLUMNS: usize = 4;

/// Whether column `i` of `d` holds its database default (NULL or false), so it need not be bound.
fn is_default(d: &PersonData, i: usize) -> bool {
    match PERSON_COLUMNS[i] {
        "residence_region" => false,
        "subsistence_allowance" => !d.subsistence_allowance,
        "extreme_poverty" => !d.extreme_poverty,
        "low_income" => !d.low_income,
        "disability_category" => d.disability_category.is_none(),
        "disability_grade" => d.disability_grade.is_none(),
        "risk_grade" => d.risk_grade.is_none(),
        other => d.get(other).is_none(),
    }
}

async fn insert_guardians(tx: &mut Tx, guardians: &[(i64, &Guardian)]) -> anyhow::Result<()> {
    let mut rows = Rows::new();
    for (pid, g) in guardians {
        let g = sealing::sealed_guardian(&tx.keys, g)?;
        rows.row()
            .int(Some(*pid))
            .int(Some(1))
            .text(Some(&g.name))
            .text(g.relation.as_deref())
            .text(g.phone.as_deref())
            .text(g.phone_alt.as_deref())
            .text(g.id_number.as_deref())
            .end_row();
    }
    const COLS: &[(&str, Col)] = &[
        ("person_id", Col::Int),
        ("ordinal", Col::Int),
        ("name", Col::Text),
        ("relation", Col::Text),
        ("phone", Col::Text),
        ("phone_alt", Col::Text),
        ("id_number", Col::Text),
    ];
    bulk::insert(tx, "guardians", COLS, rows).await?;
    Ok(())
}

/// Apply field changes to one person (in scope), writing one history row per field.
pub async fn update_fields(
    tx: &mut Tx,
    scope: &Scope,
    change_id: i64,
    person_id: i64,
    new: &PersonWithGuardian,
    changes: &[FieldChange],
) -> anyhow::Result<()> {
    check_in_scope(scope, new)?;
    if changes.is_empty() {
        return Ok(());
    }
    let (lo, hi) = scope.bounds();
    // Person columns: one UPDATE with every changed column, written from the new typed record.
    let person_cols: Vec<&str> = changes
        .iter()
        .map(|c| c.field)
        .filter(|f| !f.starts_with("guardian1."))
        .collect();
    let d = &new.data;
    let mut sets: Vec<String> = person_cols
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 5))
        .collect();
    let mut extra = person_cols.len() + 5;
    if person_cols.contains(&"name") {
        sets.push(format!("name_initials = ${extra}"));
        extra += 1;
    }
    // The blind indexes follow the values they are of.
    let ix = sealing::person_indexes(&tx.keys, d)?;
    let mut index_binds: Vec<Option<String>> = Vec::new();
    if person_cols.contains(&"id_number") {
        for (col, v) in [
            ("id_hash", &ix.id_hash),
            ("id_bi6", &ix.id_bi6),
            ("id_bi14", &ix.id_bi14),
            ("id_bi4", &ix.id_bi4),
        ] {
            sets.push(format!("{col} = ${extra}"));
            extra += 1;
            index_binds.push(Some(v.clone()));
        }
    }
    if person_cols.contains(&"diagnosis_code") {
        sets.push(format!("dx_bi3 = ${extra}"));
        index_binds.push(ix.dx_bi3.clone());
    }
    let sealed: Vec<Option<Option<String>>> = person_cols
        .iter()
        .map(|c| sealing::seal_person_column(&tx.keys, c, d.get(c).as_deref()))
        .collect::<anyhow::Result<_>>()?;
    sets.push("updated_change = $1".into());
    sets.push("version = version + 1".into());
    let sql = format!(
        "UPDATE persons SET {} WHERE id = $2 AND residence_region >= $3 AND residence_region < $4{}",
        sets.join(", "),
        scope.rows_sql("")
    );
    let affected = on_tx!(tx, c => {
        let mut q = sqlx::query(&sql).bind(change_id).bind(person_id).bind(&lo).bind(&hi);
        for (col, sealed) in person_cols.iter().zip(&sealed) {
            if let Some(v) = sealed {
                q = q.bind(v.clone());
                continue;
            }
            q = match *col {
                "birth_date" => q.bind(d.birth_date),
                "disability_category" => q.bind(d.disability_category),
                "disability_grade" => q.bind(d.disability_grade),
                "risk_grade" => q.bind(d.risk_grade),
                "subsistence_allowance" => q.bind(d.subsistence_allowance),
                "extreme_poverty" => q.bind(d.extreme_poverty),
                "low_income" => q.bind(d.low_income),
                other => q.bind(d.get(other)),
            };
        }
        if person_cols.contains(&"name") {
            q = q.bind(name_initials(&d.name));
        }
        for v in &index_binds {
            q = q.bind(v.clone());
        }
        q.execute(&mut **c).await.map(|r| r.rows_affected())
    })?;
    if affected != 1 {
        bail!("person {person_id} not found in scope");
    }
    if changes.iter().any(|c| c.field.starts_with("guardian1.")) {
        upsert_guardian(tx, person_id, new.guardian.as_ref()).await?;
    }
    insert_history(tx, change_id, &[(person_id, changes)]).await
}

async fn upsert_guardian(tx: &mut Tx, person_id: i64, g: Option<&Guardian>) -> anyhow::Result<()> {
    on_tx!(tx, c => sqlx::query("DELETE FROM guardians WHERE person_id = $1 AND ordinal = 1")
        .bind(person_id).execute(&mut **c).await.map(|r| r.rows_affected()))?;
    if let Some(g) = g {
        insert_guardians(tx, &[(person_id, g)]).await?;
    }
    Ok(())
}

/// Write history rows for several persons at once.
pub async fn insert_history(
    tx: &mut Tx,
    change_id: i64,
    items: &[(i64, &[FieldChange])],
) -> anyhow::Result<()> {
    let mut rows = Rows::new();
    for (pid, changes) in items {
        for ch in *changes {
            let old = sealing::seal_history(&tx.keys, ch.field, ch.old.as_deref())?;
            let new = sealing::seal_history(&tx.keys, ch.field, ch.new.as_deref())?;
            rows.row()
                .int(Some(*pid))
                .int(Some(change_id))
                .text(Some(ch.field))
                .text(old.as_deref())
                .text(new.as_deref())
                .end_row();
        }
    }
    const COLS: &[(&str, Col)] = &[
        ("person_id", Col::Int),
        ("change_id", Col::Int),
        ("field", Col::Text),
        ("old_value", Col::Text),
        ("new_value", Col::Text),
    ];
    bulk::insert(tx, "person_history", COLS, rows).await?;
    Ok(())
}

/// Options for listing persons.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only persons under this narrower scope (ignored unless inside the caller's scope).
    pub within: Option<Scope>,
    pub limit: Option<i64>,
    pub offset: i64,
    /// Keyset pagination: only persons after this (residence region, id) in list order. Pages of a
    /// long list cost the same however deep they are, unlike `offset`.
    pub after: Option<(String, i64)>,
    /// What a user typed in the search box: the start of an ID number (digits, maybe a final X),
    /// or part of a name.
    pub search: Option<String>,
    /// Only persons in this registration state.
    pub state: Option<RegistrationState>,
}

/// Every person of a region, a page at a time in list order (keyset pagination), for exports that
/// stream a region of any size with flat memory.
pub struct RegionPages {
    filter: ListFilter,
}

impl RegionPages {
    pub fn new(within: Scope, page: i64) -> RegionPages {
        RegionPages {
            filter: ListFilter {
                within: Some(within),
                limit: Some(page),
                ..Default::default()
            },
        }
    }

    /// The next page (empty when done), read in `scope`.
    pub async fn next(&mut self, tx: &mut Tx, scope: &Scope) -> anyhow::Result<Vec<StoredPerson>> {
        let page = list(tx, scope, &self.filter).await?;
        if let Some(last) = page.last() {
            self.filter.after = Some((last.record.data.residence_region.clone(), last.id));
        }
        Ok(page)
    }
}

/// `LIKE` pattern text with `%`, `_` and `\` escaped (used with `ESCAPE '\'`).
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod search_tests {
    #[test]
    fn id_queries() {
        use super::{IdQuery, id_query};
        // Four characters are the last four a masked ID shows; 6 to 18 a prefix.
        assert_eq!(id_query("1236"), Some(IdQuery::Last4("1236".into())));
        assert_eq!(id_query("246x"), Some(IdQuery::Last4("246X".into())));
        assert_eq!(id_query("500110"), Some(IdQuery::Prefix("500110".into())));
        assert_eq!(
            id_query(" 50011019800101111x "),
            Some(IdQuery::Prefix("50011019800101111X".into()))
        );
        assert_eq!(id_query("500"), None);
        assert_eq!(id_query("50011"), None);
        assert_eq!(id_query("5001101980010111112"), None);
        assert_eq!(id_query("孔波秀"), None);
        assert_eq!(id_query("50x1"), None);
        assert_eq!(super::name_initials("张三"), "zs");
        assert_eq!(super::name_initials("欧阳·娜娜"), "oynn");
        assert_eq!(super::name_initials("阿依古丽A"), "aygla");
        assert_eq!(super::like_escape("a%b_c\\"), "a\\%b\\_c\\\\");
    }
}

/// The pinyin initials of a name, lower case: 张三 → `zs`, 欧阳娜娜 → `oynn`. Characters without a
/// reading (letters, the middle dot of minority names) are kept if ASCII letters, else dropped.
/// Polyphonic characters take their most common reading (单 → d, not s).
pub fn name_initials(name: &str) -> String {
    use pinyin::ToPinyin;
    name.chars()
        .filter_map(|c| match c.to_pinyin() {
            Some(p) => p.first_letter().chars().next(),
            None if c.is_ascii_alphabetic() => Some(c.to_ascii_lowercase()),
            None => None,
        })
        .collect()
}

/// Fill `name_initials` where it is missing (rows written before the column existed). Idempotent.
pub async fn backfill_initials(db: &super::Db) -> anyhow::Result<u64> {
    let mut total = 0;
    loop {
        let mut tx = db.begin().await?;
        let rows: Vec<(i64, String)> = on_tx!(&mut tx, c => sqlx::query_as(
            "SELECT id, name FROM persons WHERE name_initials IS NULL LIMIT 5000").fetch_all(&mut **c).await)?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(total);
        }
        for (id, name) in &rows {
            on_tx!(&mut tx, c => sqlx::query("UPDATE persons SET name_initials = $1 WHERE id = $2")
                .bind(name_initials(name)).bind(id).execute(&mut **c).await.map(drop))?;
        }
        total += rows.len() as u64;
        tx.commit().await?;
    }
}

/// The search box text as an ID-number search, if it looks like one: 4 characters are the last 4
/// a masked ID shows (`3101**********1234`), 6 to 18 a prefix (digits, perhaps ending in X).
#[derive(Debug, Clone, PartialEq, Eq)]
enum IdQuery {
    Last4(String),
    Prefix(String),
}

impl IdQuery {
    fn len(&self) -> usize {
        match self {
            IdQuery::Last4(s) | IdQuery::Prefix(s) => s.len(),
        }
    }
}

fn id_query(q: &str) -> Option<IdQuery> {
    let q = q.trim().to_ascii_uppercase();
    if !q.is_ascii() {
        return None;
    }
    let (body, last) = q.split_at(q.len().saturating_sub(1));
    let ok = body.chars().all(|c| c.is_ascii_digit())
        && last.chars().all(|c| c.is_ascii_digit() || c == 'X');
    match q.len() {
        4 if ok => Some(IdQuery::Last4(q)),
        6..=18 if ok => Some(IdQuery::Prefix(q)),
        _ => None,
    }
}

/// The ids of the persons in the region range (and row rule) whose blind index `column` is
/// `index` and whose opened ID number starts with `prefix`.
async fn prefix_matches(
    tx: &mut Tx,
    (lo, hi): (&str, &str),
    scope: &Scope,
    column: &str,
    index: &str,
    prefix: &str,
) -> anyhow::Result<Vec<i64>> {
    let sql = format!(
        "SELECT s.id, s.id_number FROM persons s WHERE s.{column} = $1 \
         AND s.residence_region >= $2 AND s.residence_region < $3{}",
        scope.rows_sql("s")
    );
    let rows: Vec<(i64, String)> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(index).bind(lo).bind(hi).fetch_all(&mut **c).await)?;
    let mut ids = Vec::new();
    for (id, sealed) in rows {
        if tx
            .keys
            .open("persons.id_number", &sealed)?
            .starts_with(prefix)
        {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Persons in scope (and filter), ordered by residence region then id.
pub async fn list(
    tx: &mut Tx,
    scope: &Scope,
    filter: &ListFilter,
) -> anyhow::Result<Vec<StoredPerson>> {
    let (mut lo, mut hi) = scope.bounds();
    if let Some(inner) = &filter.within {
        if !inner.is_within(scope) {
            return Ok(vec![]);
        }
        (lo, hi) = inner.bounds();
    }
    // Optional conditions, each with its own placeholder after the six fixed ones.
    let mut extra = String::new();
    let mut texts: Vec<String> = Vec::new();
    if let Some(q) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
    {
        if let Some(id) = id_query(q) {
            // ID numbers are sealed: the search goes through a blind index (the whole number,
            // its first 14 or 6 characters, or its last 4); a prefix between those lengths takes
            // the shorter index's persons and keeps those whose opened number starts with it.
            let (column, kind, part) = match (&id, id.len()) {
                (IdQuery::Last4(l), _) => ("id_bi4", Index::IdLast4, l.clone()),
                (IdQuery::Prefix(p), 18) => ("id_hash", Index::IdNumber, p.clone()),
                (IdQuery::Prefix(p), 14..) => ("id_bi14", Index::IdFirst14, p[..14].to_string()),
                (IdQuery::Prefix(p), _) => ("id_bi6", Index::IdFirst6, p[..6].to_string()),
            };
            extra.push_str(&format!(" AND s.{column} = ${}", 7 + texts.len()));
            texts.push(tx.keys.index(kind, &part)?);
            if let IdQuery::Prefix(p) = &id
                && ![6, 14, 18].contains(&p.len())
            {
                let ids = prefix_matches(
                    tx,
                    (&lo, &hi),
                    scope,
                    column,
                    texts[texts.len() - 1].as_str(),
                    p,
                )
                .await?;
                extra.push_str(&format!(
                    " AND s.id IN ({})",
                    bulk::json_int_list(tx.backend(), 7 + texts.len())
                ));
                texts.push(serde_json::to_string(&ids)?);
            }
        } else if q.len() <= 8 && q.chars().all(|c| c.is_ascii_alphabetic()) {
            // Pinyin initials: `zs` finds 张三, 赵四…; a range on the initials index.
            let lower = q.to_ascii_lowercase();
            let mut upper = lower.clone().into_bytes();
            if let Some(b) = upper.last_mut() {
                *b += 1;
            }
            if tx.backend() == Backend::Postgres {
                // LIKE 'zs%' is what the text_pattern_ops index serves under any collation.
                extra.push_str(&format!(" AND s.name_initials LIKE ${}", 7 + texts.len()));
                texts.push(format!("{lower}%"));
            } else {
                extra.push_str(&format!(
                    " AND s.name_initials >= ${} AND s.name_initials < ${}",
                    7 + texts.len(),
                    8 + texts.len()
                ));
                texts.push(lower);
                texts.push(String::from_utf8(upper).unwrap_or_default());
            }
        } else if tx.backend() == Backend::Postgres {
            // A name prefix (张 finds 张三): LIKE 'q%' on the text_pattern_ops index.
            extra.push_str(&format!(
                " AND s.name LIKE ${} ESCAPE '\\'",
                7 + texts.len()
            ));
            texts.push(format!("{}%", like_escape(q)));
        } else {
            // A name prefix as a range on the name index (BINARY collation: code point order).
            let mut upper: Vec<char> = q.chars().collect();
            if let Some(last) = upper.last_mut() {
                *last = char::from_u32(u32::from(*last) + 1).unwrap_or(char::MAX);
            }
            extra.push_str(&format!(
                " AND s.name >= ${} AND s.name < ${}",
                7 + texts.len(),
                8 + texts.len()
            ));
            texts.push(q.to_string());
            texts.push(upper.into_iter().collect());
        }
    }
    // A search term is selective and has its own index; SQLite's planner would rather walk the
    // region index in ORDER BY order through a whole county (seconds at a million persons), so the
    // unary `+` takes the other terms out of index selection there and the few matches are sorted.
    let plus = if !texts.is_empty() && tx.backend() == Backend::Sqlite {
        "+"
    } else {
        ""
    };
    if let Some(state) = filter.state {
        // Without a search term, (state, region, id) is the state index's own order: no sort.
        extra.push_str(&format!(
            " AND {plus}s.registration_state = ${}",
            7 + texts.len()
        ));
        texts.push(state.code().to_string());
    }
    extra.push_str(&scope.rows_sql("s"));
    // The page's ids are chosen first, from the indexes alone where the search term's index also
    // holds the region (migration 0006); only the rows on the page are then read in full.
    let region = format!("{plus}s.residence_region");
    let sql = format!(
        "SELECT p.id, p.version, p.registration_state, {}, {GUARDIAN_COLS} FROM persons p {GUARDIAN_JOIN} \
         WHERE p.id IN (SELECT s.id FROM persons s WHERE {region} >= $1 AND {region} < $2 \
         AND ({region} > $5 OR ({region} = $5 AND s.id > $6)){extra} \
         ORDER BY s.residence_region, s.id LIMIT $3 OFFSET $4) \
         ORDER BY p.residence_region, p.id",
        person_select("p")
    );
    let limit = filter.limit.unwrap_or(i64::MAX);
    let (after_region, after_id) = filter.after.clone().unwrap_or_default();
    let rows: Vec<PersonRow> = on_tx!(tx, c => {
        let mut q = sqlx::query_as(&sql)
            .bind(&lo).bind(&hi).bind(limit).bind(filter.offset).bind(&after_region).bind(after_id);
        for t in &texts {
            q = q.bind(t);
        }
        q.fetch_all(&mut **c).await
    })?;
    let keys = tx.keys.clone();
    rows.into_iter().map(|r| r.open(&keys)).collect()
}

/// Number of persons per residence township in scope: (township code, count), ordered by code.
pub async fn count_by_township(tx: &mut Tx, scope: &Scope) -> anyhow::Result<Vec<(String, i64)>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT substr(residence_region, 1, 9) AS t, COUNT(*) FROM persons \
         WHERE residence_region >= $1 AND residence_region < $2{} GROUP BY t ORDER BY t",
        scope.rows_sql("")
    );
    let rows: Vec<(String, i64)> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(&lo).bind(&hi).fetch_all(&mut **c).await)?;
    Ok(rows)
}

/// One person in scope, audited as a read by `actor`. `None` when absent or out of scope.
pub async fn get(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    id: i64,
) -> anyhow::Result<Option<StoredPerson>> {
    let found = get_unaudited(tx, scope, id).await?;
    if found.is_some() {
        audit::record(
            tx,
            actor,
            "person.read",
            Some(Target::person(id)),
            serde_json::json!({}),
        )
        .await?;
    }
    Ok(found)
}

/// One person in scope, *not* audited as a read: only for a change that writes its own audit entry
/// in the same transaction (an edit), never to show a record.
pub async fn get_unaudited(
    tx: &mut Tx,
    scope: &Scope,
    id: i64,
) -> anyhow::Result<Option<StoredPerson>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT p.id, p.version, p.registration_state, {}, {GUARDIAN_COLS} FROM persons p {GUARDIAN_JOIN} \
         WHERE p.id = $1 AND p.residence_region >= $2 AND p.residence_region < $3{}",
        person_select("p"),
        scope.rows_sql("p")
    );
    let found: Option<PersonRow> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    let keys = tx.keys.clone();
    found.map(|r| r.open(&keys)).transpose()
}

/// One history entry with its provenance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct HistoryEntry {
    pub field: String,
    #[sqlx(rename = "old_value")]
    pub old: Option<String>,
    #[sqlx(rename = "new_value")]
    pub new: Option<String>,
    pub actor: String,
    pub source: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// The field history of one person in scope, oldest first.
pub async fn history(tx: &mut Tx, scope: &Scope, id: i64) -> anyhow::Result<Vec<HistoryEntry>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT h.field, h.old_value, h.new_value, cs.actor, cs.source, cs.at FROM person_history h \
         JOIN persons p ON p.id = h.person_id JOIN change_sets cs ON cs.id = h.change_id \
         WHERE h.person_id = $1 AND p.residence_region >= $2 AND p.residence_region < $3{} ORDER BY h.id",
        scope.rows_sql("p")
    );
    let mut rows: Vec<HistoryEntry> = on_tx!(tx, c => sqlx::query_as(&sql)
            .bind(id).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?;
    for r in &mut rows {
        sealing::open_history(&tx.keys, &mut r.old)?;
        sealing::open_history(&tx.keys, &mut r.new)?;
    }
    Ok(rows)
}

/// The indexes of `persons` as the migrations create them, per backend. A first load into an empty
/// registry drops them, inserts, and builds them once at the end (what `pg_restore` does): building an
/// index over sorted keys is several times cheaper than a million random B-tree inserts.
const PERSON_INDEXES_SQLITE: &[(&str, &str)] = &[
    (
        "persons_id_hash",
        "CREATE UNIQUE INDEX persons_id_hash ON persons(id_hash)",
    ),
    (
        "persons_id_bi6",
        "CREATE INDEX persons_id_bi6 ON persons(id_bi6, residence_region)",
    ),
    (
        "persons_id_bi14",
        "CREATE INDEX persons_id_bi14 ON persons(id_bi14, residence_region)",
    ),
    (
        "persons_id_bi4",
        "CREATE INDEX persons_id_bi4 ON persons(id_bi4, residence_region)",
    ),
    (
        "persons_residence",
        "CREATE INDEX persons_residence ON persons(residence_region)",
    ),
    (
        "persons_initials_region",
        "CREATE INDEX persons_initials_region ON persons(name_initials, residence_region)",
    ),
    (
        "persons_name_region",
        "CREATE INDEX persons_name_region ON persons(name, residence_region)",
    ),
    (
        "persons_state_region",
        "CREATE INDEX persons_state_region ON persons(registration_state, residence_region)",
    ),
    (
        "persons_followup_due",
        "CREATE INDEX persons_followup_due ON persons(next_followup_date, residence_region)",
    ),
    (
        "persons_unstable",
        "CREATE INDEX persons_unstable ON persons(last_followup_date, residence_region) WHERE condition_class = 'unstable'",
    ),
    (
        "persons_lost",
        "CREATE INDEX persons_lost ON persons(last_followup_date, residence_region) WHERE followup_lost",
    ),
    (
        "persons_agreement_due",
        "CREATE INDEX persons_agreement_due ON persons(agreement_valid_until, residence_region, registration_state) WHERE agreement_valid_until IS NOT NULL",
    ),
    (
        "persons_plan_review",
        "CREATE INDEX persons_plan_review ON persons(plan_review_on, residence_region) WHERE plan_review_on IS NOT NULL",
    ),
    (
        "persons_site",
        "CREATE INDEX persons_site ON persons(site_id, residence_region) WHERE site_id IS NOT NULL",
    ),
    (
        "persons_report",
        "CREATE INDEX persons_report ON persons(residence_region, registration_state, known_since, dx_bi3, close_reason)",
    ),
];
const PERSON_INDEXES_POSTGRES: &[(&str, &str)] = &[
    (
        "persons_id_hash",
        "CREATE UNIQUE INDEX persons_id_hash ON persons(id_hash)",
    ),
    (
        "persons_id_bi6",
        "CREATE INDEX persons_id_bi6 ON persons(id_bi6, residence_region) INCLUDE (id)",
    ),
    (
        "persons_id_bi14",
        "CREATE INDEX persons_id_bi14 ON persons(id_bi14, residence_region) INCLUDE (id)",
    ),
    (
        "persons_id_bi4",
        "CREATE INDEX persons_id_bi4 ON persons(id_bi4, residence_region) INCLUDE (id)",
    ),
    (
        "persons_residence",
        "CREATE INDEX persons_residence ON persons(residence_region text_pattern_ops)",
    ),
    (
        "persons_initials_region",
        "CREATE INDEX persons_initials_region ON persons(name_initials text_pattern_ops, residence_region) INCLUDE (id)",
    ),
    (
        "persons_name_region",
        "CREATE INDEX persons_name_region ON persons(name text_pattern_ops, residence_region) INCLUDE (id)",
    ),
    (
        "persons_state_region",
        "CREATE INDEX persons_state_region ON persons(registration_state, residence_region) INCLUDE (id)",
    ),
    (
        "persons_followup_due",
        "CREATE INDEX persons_followup_due ON persons(next_followup_date, residence_region) INCLUDE (id)",
    ),
    (
        "persons_unstable",
        "CREATE INDEX persons_unstable ON persons(last_followup_date, residence_region) INCLUDE (id) WHERE condition_class = 'unstable'",
    ),
    (
        "persons_lost",
        "CREATE INDEX persons_lost ON persons(last_followup_date, residence_region) INCLUDE (id) WHERE followup_lost",
    ),
    (
        "persons_agreement_due",
        "CREATE INDEX persons_agreement_due ON persons(agreement_valid_until, residence_region, registration_state) INCLUDE (id) WHERE agreement_valid_until IS NOT NULL",
    ),
    (
        "persons_plan_review",
        "CREATE INDEX persons_plan_review ON persons(plan_review_on, residence_region) WHERE plan_review_on IS NOT NULL",
    ),
    (
        "persons_site",
        "CREATE INDEX persons_site ON persons(site_id, residence_region) WHERE site_id IS NOT NULL",
    ),
    (
        "persons_report",
        "CREATE INDEX persons_report ON persons(residence_region, registration_state, known_since, dx_bi3) INCLUDE (id, close_reason)",
    ),
];

/// Drop the person indexes for a bulk load, inside `tx`. Only when the registry is empty (checked
/// here, not trusted from the caller): nobody can match, and nothing is slowed for other readers.
/// Pair with [`rebuild_indexes_after_bulk_load`] before committing; a rollback restores them anyway,
/// DDL being transactional on both backends.
pub async fn drop_indexes_for_bulk_load(tx: &mut Tx) -> anyhow::Result<()> {
    if !registry_is_empty(tx).await? {
        bail!("bulk load mode needs an empty registry");
    }
    let defs = match &tx.conn {
        Conn::Sqlite(_) => PERSON_INDEXES_SQLITE,
        Conn::Postgres(_) => PERSON_INDEXES_POSTGRES,
    };
    for (name, _) in defs {
        let sql = format!("DROP INDEX {name}");
        on_tx!(tx, c => sqlx::query(&sql).execute(&mut **c).await.map(drop))?;
    }
    Ok(())
}

/// Build the person indexes dropped by [`drop_indexes_for_bulk_load`]. Fails (and the caller rolls
/// back) if the loaded rows break the unique ID index.
pub async fn rebuild_indexes_after_bulk_load(tx: &mut Tx) -> anyhow::Result<()> {
    let defs = match &tx.conn {
        Conn::Sqlite(_) => PERSON_INDEXES_SQLITE,
        Conn::Postgres(_) => PERSON_INDEXES_POSTGRES,
    };
    for (_, sql) in defs {
        on_tx!(tx, c => sqlx::query(sql).execute(&mut **c).await.map(drop))?;
    }
    Ok(())
}

/// How many persons an import must create or change before [`refresh_statistics`] runs.
pub const REFRESH_AFTER_ROWS: u64 = 10_000;

/// After a large import, on PostgreSQL: `VACUUM (ANALYZE)` the person tables, outside any
/// transaction. Without it the planner takes a million new rows for a handful (its statistics
/// predate them) and every index-only scan visits the table for each row (the visibility map is
/// unset until a vacuum): a county's pinyin-initials search took 57 ms instead of 3.5 ms until
/// autovacuum came round, which may be minutes later. SQLite keeps no planner statistics here (its
/// plans are fixed in the SQL) and its indexes need no visibility map: nothing to do.
pub async fn refresh_statistics(db: &Db) -> anyhow::Result<()> {
    if let super::Pool::Postgres(p) = &db.pool {
        sqlx::query("VACUUM (ANALYZE) persons, guardians")
            .execute(p)
            .await
            .context("VACUUM (ANALYZE) persons")?;
    }
    Ok(())
}

/// The names of the indexes on `persons`, sorted (for tests and `jingkang` diagnostics).
pub async fn index_names(tx: &mut Tx) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = match &mut tx.conn {
        Conn::Sqlite(c) => sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'persons' AND name NOT LIKE 'sqlite_%'",
        )
        .fetch_all(&mut **c)
        .await?,
        Conn::Postgres(c) => sqlx::query_scalar(
            "SELECT indexname::text FROM pg_indexes WHERE tablename = 'persons' AND schemaname = current_schema() \
             AND indexname <> 'persons_pkey'",
        )
        .fetch_all(&mut **c)
        .await?,
    };
    names.sort();
    Ok(names)
}

/// Whether the registry holds no person at all, in any region. Reveals nothing about anyone; used
/// to skip matching on a first load.
pub async fn registry_is_empty(tx: &mut Tx) -> anyhow::Result<bool> {
    let any: Option<i64> = on_tx!(tx, c => sqlx::query_scalar("SELECT id FROM persons LIMIT 1").fetch_optional(&mut **c).await)?;
    Ok(any.is_none())
}

/// Total persons in scope.
pub async fn count(tx: &mut Tx, scope: &Scope) -> anyhow::Result<i64> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT COUNT(*) FROM persons WHERE residence_region >= $1 AND residence_region < $2{}",
        scope.rows_sql("")
    );
    Ok(on_tx!(tx, c => sqlx::query_scalar(&sql)
        .bind(&lo).bind(&hi).fetch_one(&mut **c).await)?)
}
