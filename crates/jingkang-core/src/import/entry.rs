//! Hand entry of one person (the create and edit forms): a one-row import. The row is validated by
//! the roster's rules ([`roster::validate_entry`]), so a form and a spreadsheet give the same Chinese
//! message for the same mistake, and it is written the way an import writes it — a change set,
//! history per field, audit — in one transaction.

use chrono::NaiveDate;

use super::roster::{self, ROSTER_FIELDS, RowError};
use crate::messages;
use crate::regions::{Region, RegionTree, Scope};
use crate::registry::{self, FieldChange};
use crate::store::audit::{self, Target};
use crate::store::{self, Actor, Db, persons};

/// Why an entry was not saved. Nothing was changed.
#[derive(Debug)]
pub enum EntryError {
    /// Problems with the values, by field, in Chinese.
    Invalid(Vec<RowError>),
    /// The person to edit is not in the caller's scope (or does not exist).
    NotFound,
    Db(anyhow::Error),
}

impl From<anyhow::Error> for EntryError {
    fn from(e: anyhow::Error) -> Self {
        EntryError::Db(e)
    }
}

/// What a save did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub person_id: i64,
    pub created: bool,
    /// Fields changed (0 for an edit that changed nothing).
    pub changed: usize,
}

fn field_error(field: &'static str, code: &str, args: &[(&str, &str)]) -> RowError {
    let column = roster::ROSTER_COLUMNS
        .iter()
        .find(|c| c.key == field)
        .map_or(field, |c| c.label_zh)
        .to_string();
    let mut all: Vec<(&str, &str)> = vec![("column", column.as_str())];
    all.extend_from_slice(args);
    RowError {
        row: 0,
        field,
        code: code.to_string(),
        message: messages::render(code, &all),
        column,
    }
}

/// The region whose townships a form may name: the caller's own region (a county, a city or a
/// township). Users bound to a village or community cannot register persons (records belong to
/// townships).
pub fn entry_region<'t>(tree: &'t RegionTree, scope: &Scope) -> Option<&'t Region> {
    let root = tree.get(scope.root()?)?;
    (!tree.townships_under(&root.code).is_empty()).then_some(root)
}

/// Register a new person from form values (by roster column key).
pub async fn create(
    db: &Db,
    tree: &RegionTree,
    scope: &Scope,
    actor: &Actor,
    today: NaiveDate,
    values: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Saved, EntryError> {
    let region = entry_region(tree, scope).ok_or_else(|| {
        EntryError::Invalid(vec![field_error("township", "entry-region-too-low", &[])])
    })?;
    let record =
        roster::validate_entry(tree, region, today, values).map_err(EntryError::Invalid)?;
    let mut tx = db.begin().await?;
    let lookup =
        persons::lookup_id_numbers(&mut tx, scope, &[record.data.id_number.as_str()]).await?;
    if let Some(existing) = lookup.inside.values().next() {
        let id = existing.id.to_string();
        return Err(EntryError::Invalid(vec![field_error(
            "id_number",
            "entry-person-exists",
            &[("id", &id)],
        )]));
    }
    if !lookup.elsewhere.is_empty() {
        return Err(EntryError::Invalid(vec![field_error(
            "id_number",
            "entry-outside-scope",
            &[],
        )]));
    }
    let cs = store::open_change_set(&mut tx, actor, "网页录入", "web-create").await?;
    let ids =
        persons::insert_many(&mut tx, scope, (cs, today), std::slice::from_ref(&record)).await?;
    let Some(&person_id) = ids.first() else {
        return Err(EntryError::Db(anyhow::anyhow!("insert returned no id")));
    };
    audit::record(
        &mut tx,
        actor,
        "person.create",
        Some(Target::person(person_id)),
        serde_json::json!({"change_set": cs}),
    )
    .await?;
    tx.commit().await?;
    Ok(Saved {
        person_id,
        created: true,
        changed: 0,
    })
}

/// Correct a person's record from form values. The ID number is the record's key and is not
/// changed here; a blank optional value keeps what is stored (as a roster re-import does), so a
/// masked field left empty in the form is not erased.
pub async fn update(
    db: &Db,
    tree: &RegionTree,
    scope: &Scope,
    actor: &Actor,
    today: NaiveDate,
    person_id: i64,
    values: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Saved, EntryError> {
    let region = entry_region(tree, scope).ok_or_else(|| {
        EntryError::Invalid(vec![field_error("township", "entry-region-too-low", &[])])
    })?;
    let mut tx = db.begin().await?;
    // Read without a read audit: the edit itself is audited below, with what changed.
    let Some(old) = persons::get_unaudited(&mut tx, scope, person_id).await? else {
        return Err(EntryError::NotFound);
    };
    let stored_id = old.record.data.id_number.clone();
    let with_id = |k: &str| {
        if k == "id_number" {
            Some(stored_id.clone())
        } else {
            values(k)
        }
    };
    let entered =
        roster::validate_entry(tree, region, today, &with_id).map_err(EntryError::Invalid)?;
    let new = roster::overlay(&old.record, &entered);
    let changes: Vec<FieldChange> = registry::diff(&old.record, &new, ROSTER_FIELDS, false);
    if !changes.is_empty() {
        let cs = store::open_change_set(&mut tx, actor, "网页修改", "web-edit").await?;
        persons::update_fields(&mut tx, scope, cs, person_id, &new, &changes).await?;
        let fields: Vec<&str> = changes.iter().map(|c| c.field).collect();
        audit::record(
            &mut tx,
            actor,
            "person.update",
            Some(Target::person(person_id)),
            serde_json::json!({"change_set": cs, "fields": fields}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Saved {
        person_id,
        created: false,
        changed: changes.len(),
    })
}
