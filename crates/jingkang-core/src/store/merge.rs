//! Merging a duplicate record into another (信息比对, SPEC §8), and undoing it.
//!
//! Two records of one person: the user keeps one (the survivor) and chooses, field by field, the
//! values it takes from the other (the absorbed record). The survivor takes the absorbed record's
//! follow-ups, assessments, services, plans, agreements, referrals and family-support rows, so
//! that its history is both histories and the indicators see one person; the absorbed record
//! stays, closed with reason `merged` and pointing at the survivor (`persons.merged_into`), with
//! its own field history and registration events. When the survivor takes the absorbed record's
//! ID number, the two numbers are swapped (the ID number is the registry's unique key).
//!
//! Every merge keeps what it changed (`person_merges`): undoing it moves the rows back, restores
//! the survivor's fields that still hold the merged values (a field edited since keeps the edit)
//! and the absorbed record's state. Both are audited in the same transaction.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::audit::{self, Target};
use super::{Actor, Refusal, Tx, open_change_set, persons, refuse};
use crate::on_tx;
use crate::regions::Scope;
use crate::registry::{self, FieldChange, PersonWithGuardian};

/// Tables whose rows belong to a person by `person_id` and have an `id` of their own: moved whole.
pub(crate) const MOVED_BY_ID: &[&str] = &[
    "followups",
    "assessments",
    "emergencies",
    "documents",
    "agreements",
    "referrals",
    "respite_episodes",
    "mutual_aid_members",
];

/// A merge to make.
#[derive(Debug, Clone)]
pub struct MergeRequest<'a> {
    pub survivor: i64,
    pub absorbed: i64,
    /// Fields (names of [`registry::FIELDS`]) whose values the survivor takes from the absorbed
    /// record; the others keep the survivor's.
    pub take: &'a [String],
    /// The review item the merge decides, if any.
    pub item: Option<i64>,
    pub today: NaiveDate,
}

/// A merge made.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub id: i64,
    /// The survivor's fields that changed.
    pub changes: Vec<FieldChange>,
    /// Rows moved to the survivor.
    pub moved: usize,
}

/// The rows a merge moved, to move them back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Moved {
    /// Table → ids (the tables of [`MOVED_BY_ID`]).
    by_id: BTreeMap<String, Vec<i64>>,
    /// `service_attendance` rows moved, by session (a session both records attended stays).
    sessions: Vec<i64>,
    /// `caregiver_training_attendees` rows moved, by (training, ordinal).
    trainings: Vec<(i64, i64)>,
    /// Both records' plans before: (plan id, person, version). The survivor's plans are numbered
    /// anew in the order they started.
    plans: Vec<(i64, i64, i64)>,
}

impl Moved {
    fn count(&self) -> usize {
        self.by_id.values().map(Vec::len).sum::<usize>()
            + self.sessions.len()
            + self.trainings.len()
    }
}

/// What the survivor's taken fields held before and after the merge.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Taken {
    before: Map<String, Value>,
    after: Map<String, Value>,
}

/// A record's fields as one flat map by field name (`guardian1.*` for the guardian's).
fn flat(p: &PersonWithGuardian) -> anyhow::Result<Map<String, Value>> {
    let Value::Object(mut map) = serde_json::to_value(&p.data)? else {
        anyhow::bail!("person data is not an object");
    };
    if let Some(g) = &p.guardian
        && let Value::Object(gm) = serde_json::to_value(g)?
    {
        for (k, v) in gm {
            map.insert(format!("guardian1.{k}"), v);
        }
    }
    Ok(map)
}

/// The record of a flat map (the inverse of [`flat`]); no guardian when the guardian has no name.
fn unflat(map: &Map<String, Value>) -> anyhow::Result<PersonWithGuardian> {
    let mut data = Map::new();
    let mut guardian = Map::new();
    for (k, v) in map {
        match k.strip_prefix("guardian1.") {
            Some(g) => guardian.insert(g.to_string(), v.clone()),
            None => data.insert(k.clone(), v.clone()),
        };
    }
    let named = guardian
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.trim().is_empty());
    Ok(PersonWithGuardian {
        data: serde_json::from_value(Value::Object(data))?,
        guardian: if named {
            Some(serde_json::from_value(Value::Object(guardian))?)
        } else {
            None
        },
    })
}

fn all_fields() -> Vec<&'static str> {
    registry::FIELDS.iter().map(|f| f.name).collect()
}

/// Merge `req.absorbed` into `req.survivor`, both in `scope` and neither merged already.
pub async fn merge(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    req: &MergeRequest<'_>,
) -> anyhow::Result<Result<Merged, Refusal>> {
    if req.survivor == req.absorbed {
        return refuse("survivor", "merge-same", &[]);
    }
    let (Some(survivor), Some(absorbed)) = (
        persons::get_unaudited(tx, scope, req.survivor).await?,
        persons::get_unaudited(tx, scope, req.absorbed).await?,
    ) else {
        return Ok(Err(Refusal::NotFound));
    };
    for id in [req.survivor, req.absorbed] {
        if merged_into(tx, id).await?.is_some() {
            return refuse("survivor", "merge-already", &[("id", &id.to_string())]);
        }
    }
    for f in req.take {
        if registry::field(f).is_none() {
            return refuse("take", "merge-field-unknown", &[("field", f)]);
        }
    }
    let before = flat(&survivor.record)?;
    let from = flat(&absorbed.record)?;
    let mut after = before.clone();
    for f in req.take {
        after.insert(f.clone(), from.get(f).cloned().unwrap_or(Value::Null));
    }
    let merged = unflat(&after)?;
    if !scope.contains(&merged.data.residence_region) {
        return refuse("take", "merge-outside-scope", &[]);
    }
    let changes = registry::diff(&survivor.record, &merged, &all_fields(), false);
    let change = open_change_set(tx, actor, "merge", "merge").await?;

    // The ID number is unique: the two records swap theirs.
    let swap = merged.data.id_number != survivor.record.data.id_number;
    if swap {
        set_id_number(tx, req.absorbed, &format!("merging-{}", req.absorbed)).await?;
    }
    persons::update_fields(tx, scope, change, req.survivor, &merged, &changes).await?;
    if swap {
        set_id_number(tx, req.absorbed, &survivor.record.data.id_number).await?;
        persons::insert_history(
            tx,
            change,
            &[(
                req.absorbed,
                &[FieldChange {
                    field: "id_number",
                    old: Some(absorbed.record.data.id_number.clone()),
                    new: Some(survivor.record.data.id_number.clone()),
                }][..],
            )],
        )
        .await?;
    }

    // The absorbed record: closed as merged, pointing at the survivor.
    let (state, reason): (String, Option<String>) = on_tx!(tx, c => sqlx::query_as(
        "SELECT registration_state, close_reason FROM persons WHERE id = $1")
        .bind(req.absorbed).fetch_one(&mut **c).await)?;
    set_state(
        tx,
        change,
        req.absorbed,
        (&state, "closed"),
        Some("merged"),
        Some(req.survivor),
        ("merge", req.today),
    )
    .await?;

    let moved = move_rows(tx, req.absorbed, req.survivor).await?;
    refresh_derived(tx, &[req.survivor, req.absorbed]).await?;

    let taken = Taken {
        before: req
            .take
            .iter()
            .map(|f| (f.clone(), before.get(f).cloned().unwrap_or(Value::Null)))
            .collect(),
        after: req
            .take
            .iter()
            .map(|f| (f.clone(), after.get(f).cloned().unwrap_or(Value::Null)))
            .collect(),
    };
    let id: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO person_merges (survivor_id, absorbed_id, item_id, change_id, taken, survivor_before, absorbed_state, absorbed_close_reason, moved) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id")
        .bind(req.survivor).bind(req.absorbed).bind(req.item).bind(change)
        .bind(serde_json::to_string(&req.take)?).bind(serde_json::to_string(&taken)?)
        .bind(&state).bind(&reason).bind(serde_json::to_string(&moved)?)
        .fetch_one(&mut **c).await)?;
    let fields: Vec<&str> = changes.iter().map(|c| c.field).collect();
    for (target, other) in [(req.survivor, req.absorbed), (req.absorbed, req.survivor)] {
        audit::record(
            tx,
            actor,
            if target == req.survivor {
                "person.merge"
            } else {
                "person.merged_into"
            },
            Some(Target::person(target)),
            serde_json::json!({"merge": id, "other": other, "fields": fields, "moved": moved.count(), "item": req.item}),
        )
        .await?;
    }
    Ok(Ok(Merged {
        id,
        changes,
        moved: moved.count(),
    }))
}

/// What undoing a merge did.
#[derive(Debug, Clone, PartialEq)]
pub struct Unmerged {
    pub survivor: i64,
    pub absorbed: i64,
    pub item: Option<i64>,
    /// Fields the survivor had changed since the merge, kept as they are.
    pub kept: Vec<&'static str>,
}

#[derive(sqlx::FromRow)]
struct MergeCols {
    survivor_id: i64,
    absorbed_id: i64,
    item_id: Option<i64>,
    survivor_before: String,
    absorbed_state: String,
    absorbed_close_reason: Option<String>,
    moved: String,
    undone_change: Option<i64>,
}

/// Undo merge `id` (its survivor in `scope`).
pub async fn unmerge(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    id: i64,
    today: NaiveDate,
) -> anyhow::Result<Result<Unmerged, Refusal>> {
    let row: Option<MergeCols> = on_tx!(tx, c => sqlx::query_as(
        "SELECT survivor_id, absorbed_id, item_id, survivor_before, absorbed_state, absorbed_close_reason, moved, undone_change \
         FROM person_merges WHERE id = $1")
        .bind(id).fetch_optional(&mut **c).await)?;
    let Some(row) = row else {
        return Ok(Err(Refusal::NotFound));
    };
    let (Some(survivor), Some(absorbed)) = (
        persons::get_unaudited(tx, scope, row.survivor_id).await?,
        persons::get_unaudited(tx, scope, row.absorbed_id).await?,
    ) else {
        return Ok(Err(Refusal::NotFound));
    };
    if row.undone_change.is_some() {
        return refuse("merge", "merge-undone", &[]);
    }
    let taken: Taken = serde_json::from_str(&row.survivor_before)?;
    let moved: Moved = serde_json::from_str(&row.moved)?;
    let change = open_change_set(tx, actor, "merge", "unmerge").await?;

    // The survivor's taken fields back, where they still hold what the merge wrote.
    let now = flat(&survivor.record)?;
    let mut restored = now.clone();
    let mut kept = Vec::new();
    for (f, after) in &taken.after {
        if now.get(f) == Some(after) {
            restored.insert(
                f.clone(),
                taken.before.get(f).cloned().unwrap_or(Value::Null),
            );
        } else if let Some(def) = registry::field(f) {
            kept.push(def.name);
        }
    }
    let mut restored = unflat(&restored)?;
    // The ID numbers are swapped back only when neither changed since.
    let swapped_back = restored.data.id_number != survivor.record.data.id_number
        && restored.data.id_number == absorbed.record.data.id_number;
    if restored.data.id_number != survivor.record.data.id_number && !swapped_back {
        restored.data.id_number = survivor.record.data.id_number.clone();
        kept.push("id_number");
    }
    let changes = registry::diff(&survivor.record, &restored, &all_fields(), false);
    if swapped_back {
        set_id_number(tx, row.absorbed_id, &format!("merging-{}", row.absorbed_id)).await?;
    }
    persons::update_fields(tx, scope, change, row.survivor_id, &restored, &changes).await?;
    if swapped_back {
        set_id_number(tx, row.absorbed_id, &survivor.record.data.id_number).await?;
        persons::insert_history(
            tx,
            change,
            &[(
                row.absorbed_id,
                &[FieldChange {
                    field: "id_number",
                    old: Some(absorbed.record.data.id_number.clone()),
                    new: Some(survivor.record.data.id_number.clone()),
                }][..],
            )],
        )
        .await?;
    }

    set_state(
        tx,
        change,
        row.absorbed_id,
        ("closed", &row.absorbed_state),
        row.absorbed_close_reason.as_deref(),
        None,
        ("unmerge", today),
    )
    .await?;
    move_back(tx, &moved, row.absorbed_id, row.survivor_id).await?;
    refresh_derived(tx, &[row.survivor_id, row.absorbed_id]).await?;
    on_tx!(tx, c => sqlx::query("UPDATE person_merges SET undone_change = $1 WHERE id = $2")
        .bind(change).bind(id).execute(&mut **c).await.map(drop))?;
    for (target, other) in [
        (row.survivor_id, row.absorbed_id),
        (row.absorbed_id, row.survivor_id),
    ] {
        audit::record(
            tx,
            actor,
            "person.unmerge",
            Some(Target::person(target)),
            serde_json::json!({"merge": id, "other": other, "kept": kept, "item": row.item_id}),
        )
        .await?;
    }
    Ok(Ok(Unmerged {
        survivor: row.survivor_id,
        absorbed: row.absorbed_id,
        item: row.item_id,
        kept,
    }))
}

/// One merge as a person page lists it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MergeRow {
    pub id: i64,
    pub survivor_id: i64,
    pub absorbed_id: i64,
    pub item_id: Option<i64>,
    pub actor: String,
    pub at: chrono::DateTime<chrono::Utc>,
    pub undone: bool,
}

/// The merges person `id` (in `scope`) took part in, newest first.
pub async fn of_person(tx: &mut Tx, scope: &Scope, id: i64) -> anyhow::Result<Vec<MergeRow>> {
    if persons::get_unaudited(tx, scope, id).await?.is_none() {
        return Ok(Vec::new());
    }
    let rows: Vec<MergeRow> = on_tx!(tx, c => sqlx::query_as(
        "SELECT m.id, m.survivor_id, m.absorbed_id, m.item_id, cs.actor, cs.at, m.undone_change IS NOT NULL AS undone \
         FROM person_merges m JOIN change_sets cs ON cs.id = m.change_id \
         WHERE m.survivor_id = $1 OR m.absorbed_id = $1 ORDER BY m.id DESC")
        .bind(id).fetch_all(&mut **c).await)?;
    Ok(rows)
}

/// The record person `id` was merged into, if it was.
pub async fn merged_into(tx: &mut Tx, id: i64) -> anyhow::Result<Option<i64>> {
    let into: Option<Option<i64>> = on_tx!(tx, c => sqlx::query_scalar(
        "SELECT merged_into FROM persons WHERE id = $1")
        .bind(id).fetch_optional(&mut **c).await)?;
    Ok(into.flatten())
}

/// Set a record's ID number (sealed) and its blind indexes.
async fn set_id_number(tx: &mut Tx, id: i64, value: &str) -> anyhow::Result<()> {
    let sealed = tx.keys.seal("persons.id_number", value)?;
    let ix = tx.keys.id_indexes(value)?;
    on_tx!(tx, c => sqlx::query(
        "UPDATE persons SET id_number = $1, id_hash = $3, id_bi6 = $4, id_bi14 = $5, id_bi4 = $6 WHERE id = $2")
        .bind(&sealed).bind(id).bind(&ix.whole).bind(&ix.first6).bind(&ix.first14).bind(&ix.last4)
        .execute(&mut **c).await.map(drop))?;
    Ok(())
}

/// Set the absorbed record's state (`from` → `to`), writing its history and a registration event
/// (`event` on the day).
async fn set_state(
    tx: &mut Tx,
    change: i64,
    id: i64,
    (from, to): (&str, &str),
    reason: Option<&str>,
    into: Option<i64>,
    (event, on): (&str, NaiveDate),
) -> anyhow::Result<()> {
    on_tx!(tx, c => sqlx::query(
        "UPDATE persons SET registration_state = $1, close_reason = $2, merged_into = $3, version = version + 1, updated_change = $4 WHERE id = $5")
        .bind(to).bind(reason).bind(into).bind(change).bind(id).execute(&mut **c).await.map(drop))?;
    if from != to {
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO person_history (person_id, change_id, field, old_value, new_value) VALUES ($1, $2, 'registration_state', $3, $4)")
            .bind(id).bind(change).bind(from).bind(to).execute(&mut **c).await.map(drop))?;
    }
    let close_reason = (to == "closed").then_some(reason).flatten();
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO registration_events (person_id, change_id, event, from_state, to_state, close_reason, reason, exception, effective_on) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8)")
        .bind(id).bind(change).bind(event).bind(from).bind(to).bind(close_reason).bind(false).bind(on)
        .execute(&mut **c).await.map(drop))?;
    Ok(())
}

/// Move the absorbed record's rows to the survivor; what was moved.
async fn move_rows(tx: &mut Tx, from: i64, to: i64) -> anyhow::Result<Moved> {
    let mut moved = Moved::default();
    for table in MOVED_BY_ID {
        let ids: Vec<i64> = on_tx!(tx, c => sqlx::query_scalar(&format!(
            "UPDATE {table} SET person_id = $1 WHERE person_id = $2 RETURNING id"))
            .bind(to).bind(from).fetch_all(&mut **c).await)?;
        if !ids.is_empty() {
            moved.by_id.insert((*table).to_string(), ids);
        }
    }
    // A session both attended is one attendance: the survivor's stays, the other stays put.
    moved.sessions = on_tx!(tx, c => sqlx::query_scalar(
        "UPDATE service_attendance SET person_id = $1 WHERE person_id = $2 \
         AND session_id NOT IN (SELECT session_id FROM service_attendance WHERE person_id = $1) RETURNING session_id")
        .bind(to).bind(from).fetch_all(&mut **c).await)?;
    moved.trainings = on_tx!(tx, c => sqlx::query_as(
        "UPDATE caregiver_training_attendees SET person_id = $1 WHERE person_id = $2 RETURNING training_id, ordinal")
        .bind(to).bind(from).fetch_all(&mut **c).await)?;
    // Plans: both records' plans under the survivor, numbered in the order they started.
    moved.plans = on_tx!(tx, c => sqlx::query_as(
        "SELECT id, person_id, version FROM rehab_plans WHERE person_id IN ($1, $2) ORDER BY starts_on, id")
        .bind(to).bind(from).fetch_all(&mut **c).await)?;
    if moved.plans.iter().any(|p| p.1 == from) {
        let order: Vec<(i64, i64, i64)> = moved
            .plans
            .iter()
            .enumerate()
            .map(|(i, p)| (p.0, to, i as i64 + 1))
            .collect();
        renumber_plans(tx, &order).await?;
    } else {
        moved.plans.clear();
    }
    Ok(moved)
}

/// Move the rows of `moved` back from the survivor to the absorbed record.
async fn move_back(tx: &mut Tx, moved: &Moved, absorbed: i64, survivor: i64) -> anyhow::Result<()> {
    let ids = super::bulk::json_int_list(tx.backend(), 3);
    for (table, rows) in &moved.by_id {
        if !MOVED_BY_ID.contains(&table.as_str()) {
            anyhow::bail!("unknown table {table} in a merge record");
        }
        let list = serde_json::to_string(rows)?;
        on_tx!(tx, c => sqlx::query(&format!(
            "UPDATE {table} SET person_id = $1 WHERE person_id = $2 AND id IN ({ids})"))
            .bind(absorbed).bind(survivor).bind(&list).execute(&mut **c).await.map(drop))?;
    }
    let list = serde_json::to_string(&moved.sessions)?;
    on_tx!(tx, c => sqlx::query(&format!(
        "UPDATE service_attendance SET person_id = $1 WHERE person_id = $2 AND session_id IN ({ids})"))
        .bind(absorbed).bind(survivor).bind(&list).execute(&mut **c).await.map(drop))?;
    for (training, ordinal) in &moved.trainings {
        on_tx!(tx, c => sqlx::query(
            "UPDATE caregiver_training_attendees SET person_id = $1 WHERE person_id = $2 AND training_id = $3 AND ordinal = $4")
            .bind(absorbed).bind(survivor).bind(training).bind(ordinal).execute(&mut **c).await.map(drop))?;
    }
    if !moved.plans.is_empty() {
        renumber_plans(tx, &moved.plans).await?;
    }
    Ok(())
}

/// Give plans their (person, version), through negative versions so that no two collide on the way.
async fn renumber_plans(tx: &mut Tx, plans: &[(i64, i64, i64)]) -> anyhow::Result<()> {
    for (id, _, _) in plans {
        on_tx!(tx, c => sqlx::query("UPDATE rehab_plans SET version = -id WHERE id = $1")
            .bind(id).execute(&mut **c).await.map(drop))?;
    }
    for (id, person, version) in plans {
        on_tx!(tx, c => sqlx::query("UPDATE rehab_plans SET person_id = $1, version = $2 WHERE id = $3")
            .bind(person).bind(version).bind(id).execute(&mut **c).await.map(drop))?;
    }
    Ok(())
}

/// Recompute what is kept per person from the rows that moved: follow-up and service quarters,
/// contacts per month, the agreement and plan dates the worklists read.
async fn refresh_derived(tx: &mut Tx, ids: &[i64]) -> anyhow::Result<()> {
    for &id in ids {
        super::followups::refresh_quarters(tx, id).await?;
        on_tx!(tx, c => sqlx::query("DELETE FROM service_months WHERE person_id = $1")
            .bind(id).execute(&mut **c).await.map(drop))?;
        let month = tx.backend().month_of("service_date");
        on_tx!(tx, c => sqlx::query(&format!(
            "INSERT INTO service_months (person_id, month, contacts) \
             SELECT person_id, {month}, COUNT(*) FROM service_attendance WHERE person_id = $1 GROUP BY person_id, {month}"))
            .bind(id).execute(&mut **c).await.map(drop))?;
        on_tx!(tx, c => sqlx::query(
            "UPDATE persons SET agreement_valid_until = (SELECT max(valid_until) FROM agreements WHERE person_id = $1 AND kind = 'service'), \
             plan_review_on = (SELECT r.review_on FROM rehab_plans r WHERE r.person_id = $1 ORDER BY r.version DESC LIMIT 1) WHERE id = $1")
            .bind(id).execute(&mut **c).await.map(drop))?;
    }
    let from = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default();
    super::standard::refresh_quarters(tx, ids, from).await
}
