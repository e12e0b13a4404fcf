//! Person repository. Every function over persons takes the caller's [`Scope`]: a query can only see
//! persons whose residence region lies in the scope, and a write outside it is refused.

use std::collections::{HashMap, HashSet};

use anyhow::bail;
use super::audit::{self, Target};
use super::{Actor, Tx};
use crate::on_tx;
use crate::regions::Scope;
use crate::registry::{FieldChange, Guardian, PERSON_COLUMNS, PersonData, PersonWithGuardian};

/// A person as stored, with its internal id.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPerson {
    pub id: i64,
    pub version: i64,
    pub record: PersonWithGuardian,
}

/// Bind limit per statement: SQLite allows 32 766 variables, PostgreSQL 65 535.
const MAX_BINDS: usize = 30_000;

fn person_select(alias: &str) -> String {
    PERSON_COLUMNS.iter().map(|c| format!("{alias}.{c}")).collect::<Vec<_>>().join(", ")
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
    #[sqlx(flatten)]
    data: PersonData,
    #[sqlx(flatten)]
    g: GuardianCols,
}

impl From<PersonRow> for StoredPerson {
    fn from(r: PersonRow) -> StoredPerson {
        let guardian = r.g.g_name.map(|name| Guardian {
            name,
            relation: r.g.g_relation,
            phone: r.g.g_phone,
            phone_alt: r.g.g_phone_alt,
            id_number: r.g.g_id_number,
        });
        StoredPerson { id: r.id, version: r.version, record: PersonWithGuardian { data: r.data, guardian } }
    }
}

const GUARDIAN_JOIN: &str = "LEFT JOIN guardians g ON g.person_id = p.id AND g.ordinal = 1";
const GUARDIAN_COLS: &str =
    "g.name AS g_name, g.relation AS g_relation, g.phone AS g_phone, g.phone_alt AS g_phone_alt, g.id_number AS g_id_number";

/// Persons in scope with the given canonical ID numbers, keyed by ID number.
pub async fn find_by_id_numbers(
    tx: &mut Tx,
    scope: &Scope,
    ids: &[&str],
) -> anyhow::Result<HashMap<String, StoredPerson>> {
    let (lo, hi) = scope.bounds();
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(MAX_BINDS / 2) {
        let placeholders = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect::<Vec<_>>().join(",");
        let sql = format!(
            "SELECT p.id, p.version, {}, {GUARDIAN_COLS} FROM persons p {GUARDIAN_JOIN} \
             WHERE p.residence_region >= $1 AND p.residence_region < $2 AND p.id_number IN ({placeholders})",
            person_select("p")
        );
        on_tx!(tx, c => {
            let mut q = sqlx::query_as::<_, PersonRow>(&sql).bind(&lo).bind(&hi);
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&mut **c).await? {
                let p = StoredPerson::from(row);
                out.insert(p.record.data.id_number.clone(), p);
            }
            Ok::<_, anyhow::Error>(())
        })?;
    }
    Ok(out)
}

/// Which of `ids` are registered *outside* the scope. Reveals only the fact, not where or who: the
/// caller reports "registered elsewhere, needs a transfer" without seeing the record.
pub async fn registered_outside(tx: &mut Tx, scope: &Scope, ids: &[&str]) -> anyhow::Result<HashSet<String>> {
    let (lo, hi) = scope.bounds();
    let mut out = HashSet::new();
    for chunk in ids.chunks(MAX_BINDS / 2) {
        let placeholders = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect::<Vec<_>>().join(",");
        let sql = format!(
            "SELECT id_number FROM persons WHERE NOT (residence_region >= $1 AND residence_region < $2) \
             AND id_number IN ({placeholders})"
        );
        let found: Vec<String> = on_tx!(tx, c => {
            let mut q = sqlx::query_scalar(&sql).bind(&lo).bind(&hi);
            for id in chunk {
                q = q.bind(*id);
            }
            q.fetch_all(&mut **c).await
        })?;
        out.extend(found);
    }
    Ok(out)
}

fn check_in_scope(scope: &Scope, p: &PersonWithGuardian) -> anyhow::Result<()> {
    if !scope.contains(&p.data.residence_region) {
        bail!("refusing to write a person outside the caller's scope");
    }
    Ok(())
}

/// Insert new persons (with their first guardian) in one change set. Returns their ids in order.
pub async fn insert_many(
    tx: &mut Tx,
    scope: &Scope,
    change_id: i64,
    persons: &[PersonWithGuardian],
) -> anyhow::Result<Vec<i64>> {
    for p in persons {
        check_in_scope(scope, p)?;
    }
    let per_row = PERSON_COLUMNS.len() + 2;
    let mut ids = Vec::with_capacity(persons.len());
    for chunk in persons.chunks(MAX_BINDS / per_row) {
        let sql_head = format!(
            "INSERT INTO persons ({}, created_change, updated_change) ",
            PERSON_COLUMNS.join(", ")
        );
        let rows: Vec<(i64, String)> = on_tx!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new(&sql_head);
            qb.push_values(chunk, |mut b, p| {
                let d = &p.data;
                b.push_bind(&d.id_number).push_bind(&d.name).push_bind(&d.sex).push_bind(d.birth_date)
                    .push_bind(&d.ethnicity).push_bind(&d.phone).push_bind(&d.phone_alt)
                    .push_bind(&d.household_region).push_bind(&d.household_address)
                    .push_bind(&d.residence_region).push_bind(&d.residence_address)
                    .push_bind(&d.disability_certificate).push_bind(d.disability_category)
                    .push_bind(d.disability_grade).push_bind(&d.diagnosis_code).push_bind(&d.diagnosis_name)
                    .push_bind(&d.marital_status).push_bind(&d.education).push_bind(&d.employment)
                    .push_bind(&d.living_situation).push_bind(&d.economic_status)
                    .push_bind(d.subsistence_allowance).push_bind(d.extreme_poverty).push_bind(d.low_income)
                    .push_bind(&d.medical_insurance).push_bind(&d.dangerous_history).push_bind(d.risk_grade)
                    .push_bind(&d.medication_adherence).push_bind(&d.medication_method)
                    .push_bind(&d.side_effects).push_bind(&d.treatment_effect).push_bind(&d.notes)
                    .push_bind(change_id).push_bind(change_id);
            });
            qb.push(" RETURNING id, id_number");
            qb.build_query_as().fetch_all(&mut **c).await
        })?;
        let by_id: HashMap<String, i64> = rows.into_iter().map(|(id, n)| (n, id)).collect();
        let mut guardians = Vec::new();
        for p in chunk {
            let Some(&id) = by_id.get(&p.data.id_number) else { bail!("insert did not return a row") };
            ids.push(id);
            if let Some(g) = &p.guardian {
                guardians.push((id, g));
            }
        }
        insert_guardians(tx, &guardians).await?;
    }
    Ok(ids)
}

async fn insert_guardians(tx: &mut Tx, guardians: &[(i64, &Guardian)]) -> anyhow::Result<()> {
    for chunk in guardians.chunks(MAX_BINDS / 7) {
        if chunk.is_empty() {
            continue;
        }
        on_tx!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO guardians (person_id, ordinal, name, relation, phone, phone_alt, id_number) ");
            qb.push_values(chunk, |mut b, (pid, g)| {
                b.push_bind(*pid).push_bind(1i64).push_bind(&g.name).push_bind(&g.relation)
                    .push_bind(&g.phone).push_bind(&g.phone_alt).push_bind(&g.id_number);
            });
            qb.build().execute(&mut **c).await.map(|r| r.rows_affected())
        })?;
    }
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
    let person_cols: Vec<&str> = changes.iter().map(|c| c.field).filter(|f| !f.starts_with("guardian1.")).collect();
    let d = &new.data;
    let mut sets: Vec<String> = person_cols.iter().enumerate().map(|(i, c)| format!("{c} = ${}", i + 5)).collect();
    sets.push("updated_change = $1".into());
    sets.push("version = version + 1".into());
    let sql = format!(
        "UPDATE persons SET {} WHERE id = $2 AND residence_region >= $3 AND residence_region < $4",
        sets.join(", ")
    );
    let affected = on_tx!(tx, c => {
        let mut q = sqlx::query(&sql).bind(change_id).bind(person_id).bind(&lo).bind(&hi);
        for col in &person_cols {
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
pub async fn insert_history(tx: &mut Tx, change_id: i64, items: &[(i64, &[FieldChange])]) -> anyhow::Result<()> {
    let rows: Vec<(i64, &FieldChange)> = items.iter().flat_map(|(pid, chs)| chs.iter().map(move |c| (*pid, c))).collect();
    for chunk in rows.chunks(MAX_BINDS / 5) {
        if chunk.is_empty() {
            continue;
        }
        on_tx!(tx, c => {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO person_history (person_id, change_id, field, old_value, new_value) ");
            qb.push_values(chunk, |mut b, (pid, ch)| {
                b.push_bind(*pid).push_bind(change_id).push_bind(ch.field).push_bind(&ch.old).push_bind(&ch.new);
            });
            qb.build().execute(&mut **c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// Options for listing persons.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only persons under this narrower scope (ignored unless inside the caller's scope).
    pub within: Option<Scope>,
    pub limit: Option<i64>,
    pub offset: i64,
}

/// Persons in scope (and filter), ordered by residence region then id.
pub async fn list(tx: &mut Tx, scope: &Scope, filter: &ListFilter) -> anyhow::Result<Vec<StoredPerson>> {
    let (mut lo, mut hi) = scope.bounds();
    if let Some(inner) = &filter.within {
        if !inner.is_within(scope) {
            return Ok(vec![]);
        }
        (lo, hi) = inner.bounds();
    }
    let sql = format!(
        "SELECT p.id, p.version, {}, {GUARDIAN_COLS} FROM persons p {GUARDIAN_JOIN} \
         WHERE p.residence_region >= $1 AND p.residence_region < $2 \
         ORDER BY p.residence_region, p.id LIMIT $3 OFFSET $4",
        person_select("p")
    );
    let limit = filter.limit.unwrap_or(i64::MAX);
    let rows: Vec<PersonRow> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(&lo).bind(&hi).bind(limit).bind(filter.offset).fetch_all(&mut **c).await)?;
    Ok(rows.into_iter().map(StoredPerson::from).collect())
}

/// Number of persons per residence township in scope: (township code, count), ordered by code.
pub async fn count_by_township(tx: &mut Tx, scope: &Scope) -> anyhow::Result<Vec<(String, i64)>> {
    let (lo, hi) = scope.bounds();
    let rows: Vec<(String, i64)> = on_tx!(tx, c => sqlx::query_as(
        "SELECT substr(residence_region, 1, 9) AS t, COUNT(*) FROM persons \
         WHERE residence_region >= $1 AND residence_region < $2 GROUP BY t ORDER BY t")
        .bind(&lo).bind(&hi).fetch_all(&mut **c).await)?;
    Ok(rows)
}

/// One person in scope, audited as a read by `actor`. `None` when absent or out of scope.
pub async fn get(tx: &mut Tx, scope: &Scope, actor: &Actor, id: i64) -> anyhow::Result<Option<StoredPerson>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT p.id, p.version, {}, {GUARDIAN_COLS} FROM persons p {GUARDIAN_JOIN} \
         WHERE p.id = $1 AND p.residence_region >= $2 AND p.residence_region < $3",
        person_select("p")
    );
    let found: Option<PersonRow> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    let found = found.map(StoredPerson::from);
    if found.is_some() {
        audit::record(tx, actor, "person.read", Some(Target::person(id)), serde_json::json!({})).await?;
    }
    Ok(found)
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
    let rows: Vec<HistoryEntry> =
        on_tx!(tx, c => sqlx::query_as(
            "SELECT h.field, h.old_value, h.new_value, cs.actor, cs.source, cs.at FROM person_history h \
             JOIN persons p ON p.id = h.person_id JOIN change_sets cs ON cs.id = h.change_id \
             WHERE h.person_id = $1 AND p.residence_region >= $2 AND p.residence_region < $3 ORDER BY h.id")
            .bind(id).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?;
    Ok(rows)
}

/// Total persons in scope.
pub async fn count(tx: &mut Tx, scope: &Scope) -> anyhow::Result<i64> {
    let (lo, hi) = scope.bounds();
    Ok(on_tx!(tx, c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM persons WHERE residence_region >= $1 AND residence_region < $2")
        .bind(&lo).bind(&hi).fetch_one(&mut **c).await)?)
}
