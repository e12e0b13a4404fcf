//! Family support in the database (migration 0023): caregiver trainings with their attendees,
//! respite episodes, mutual-aid groups with members and meetings (attendance once for all), peer
//! supporters. Each entry is all or nothing: every person it names in the caller's scope (or it
//! answers as if they did not exist, and nothing is written), its change set and its audit entry
//! in the same transaction. Entries are checked first by `care::family`; what needs the database
//! (the persons, a group's members on a day) is checked here.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::audit::{self, Target};
use super::bulk::{self, Col, Rows};
use super::sealing::{MEETING_NOTES, RESPITE_NOTES, open_each};
use super::{Actor, Tx, open_change_set};
use crate::care::family::{
    FamilyMember, Group, Meeting, MembersChange, Peer, PeerUpdate, Respite, Training, problem,
};
use crate::on_tx;
use crate::regions::Scope;

/// Why nothing was written: the group or supporter absent or outside the caller's scope, or
/// problems by field (persons not in scope, members not in the group …).
pub use super::Refusal;
use super::refuse;

/// How many of `ids` are not persons in `scope`.
async fn persons_missing(tx: &mut Tx, scope: &Scope, ids: &[i64]) -> anyhow::Result<usize> {
    let mut distinct = ids.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.is_empty() {
        return Ok(0);
    }
    let (lo, hi) = scope.bounds();
    let site = scope.rows_sql("p");
    let sql = format!(
        "SELECT COUNT(*) FROM persons p WHERE p.id IN ({}) AND p.residence_region >= $2 AND p.residence_region < $3{site}",
        bulk::json_int_list(tx.backend(), 1)
    );
    let list = serde_json::to_string(&distinct)?;
    let found: i64 = on_tx!(tx, c => sqlx::query_scalar(&sql).bind(&list).bind(&lo).bind(&hi).fetch_one(&mut **c).await)?;
    Ok(distinct
        .len()
        .saturating_sub(usize::try_from(found).unwrap_or(0)))
}

/// Refuse a region outside the scope (the check of the entry has done so already; this is the
/// storage's own guard).
fn region_outside(scope: &Scope, region: &str) -> Option<Refusal> {
    (!scope.contains(region)).then(|| {
        Refusal::Problems(vec![problem(
            "region",
            "family-region-outside",
            &[("code", region)],
        )])
    })
}

// ---------- caregiver trainings ----------

/// Record a training session with all its attendees. Returns its id.
pub async fn record_training(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    t: &Training,
) -> anyhow::Result<Result<i64, Refusal>> {
    if let Some(r) = region_outside(scope, &t.region) {
        return Ok(Err(r));
    }
    let persons: Vec<i64> = t.attendees.iter().map(|a| a.person_id).collect();
    let missing = persons_missing(tx, scope, &persons).await?;
    if missing > 0 {
        return refuse(
            "attendees",
            "family-persons-unknown",
            &[("n", &missing.to_string())],
        );
    }
    let change = open_change_set(tx, actor, "family", "training").await?;
    let id: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO caregiver_trainings (change_id, held_on, region, topic, hours, trainer, attendees) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id")
        .bind(change).bind(t.held_on).bind(&t.region).bind(&t.topic).bind(t.hours).bind(&t.trainer).bind(t.attendees.len() as i64)
        .fetch_one(&mut **c).await)?;
    let mut rows = Rows::new();
    for (i, a) in t.attendees.iter().enumerate() {
        rows.row()
            .int(Some(id))
            .int(Some(i as i64 + 1))
            .int(Some(a.person_id))
            .text(Some(&a.name))
            .text(Some(a.relation.code()));
        rows.end_row();
    }
    let cols = [
        ("training_id", Col::Int),
        ("ordinal", Col::Int),
        ("person_id", Col::Int),
        ("name", Col::Text),
        ("relation", Col::Text),
    ];
    bulk::insert(tx, "caregiver_training_attendees", &cols, rows).await?;
    audit::record(
        tx,
        actor,
        "family.training.record",
        Some(Target::region(&t.region)),
        serde_json::json!({"training": id, "persons": persons}),
    )
    .await?;
    Ok(Ok(id))
}

/// A training session as the lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredTraining {
    pub id: i64,
    pub held_on: NaiveDate,
    pub region: String,
    pub topic: String,
    pub hours: f64,
    pub trainer: String,
    /// How many family members attended.
    pub attendees: i64,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// One family member at a training.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredAttendee {
    pub training_id: i64,
    pub person_id: i64,
    /// The family member's name.
    pub name: String,
    /// `parent`, `spouse`, `child`, `sibling` or `other`.
    pub relation: String,
}

const TRAINING_COLS: &str = "t.id, t.held_on, t.region, t.topic, t.hours, t.trainer, t.attendees, cs.actor AS recorded_by, cs.at AS recorded_at";

/// The trainings held in `scope`, newest first.
pub async fn trainings(
    tx: &mut Tx,
    scope: &Scope,
    limit: i64,
) -> anyhow::Result<Vec<StoredTraining>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT {TRAINING_COLS} FROM caregiver_trainings t JOIN change_sets cs ON cs.id = t.change_id \
         WHERE t.region >= $1 AND t.region < $2 ORDER BY t.held_on DESC, t.id DESC LIMIT $3"
    );
    Ok(
        on_tx!(tx, c => sqlx::query_as(&sql).bind(&lo).bind(&hi).bind(limit).fetch_all(&mut **c).await)?,
    )
}

/// The attendees of trainings `ids` whose person is in `scope`.
pub async fn training_attendees(
    tx: &mut Tx,
    scope: &Scope,
    ids: &[i64],
) -> anyhow::Result<Vec<StoredAttendee>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (lo, hi) = scope.bounds();
    let site = scope.rows_sql("p");
    let sql = format!(
        "SELECT a.training_id, a.person_id, a.name, a.relation FROM caregiver_training_attendees a JOIN persons p ON p.id = a.person_id \
         WHERE a.training_id IN ({}) AND p.residence_region >= $2 AND p.residence_region < $3{site} ORDER BY a.training_id, a.ordinal",
        bulk::json_int_list(tx.backend(), 1)
    );
    let list = serde_json::to_string(ids)?;
    Ok(
        on_tx!(tx, c => sqlx::query_as(&sql).bind(&list).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?,
    )
}

/// A training a family member of a person attended.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonTraining {
    pub id: i64,
    pub held_on: NaiveDate,
    pub topic: String,
    pub hours: f64,
    pub trainer: String,
    /// The family member who attended, and how related.
    pub name: String,
    pub relation: String,
}

/// The trainings the family of person `id` (in `scope`) attended, newest first.
pub async fn trainings_of_person(
    tx: &mut Tx,
    scope: &Scope,
    id: i64,
    limit: i64,
) -> anyhow::Result<Vec<PersonTraining>> {
    let (lo, hi) = scope.bounds();
    let site = scope.rows_sql("p");
    Ok(on_tx!(tx, c => sqlx::query_as(&format!(
        "SELECT t.id, t.held_on, t.topic, t.hours, t.trainer, a.name, a.relation FROM caregiver_training_attendees a \
         JOIN caregiver_trainings t ON t.id = a.training_id JOIN persons p ON p.id = a.person_id \
         WHERE a.person_id = $1 AND p.residence_region >= $2 AND p.residence_region < $3{site} ORDER BY t.held_on DESC, t.id DESC, a.ordinal LIMIT $4"))
        .bind(id).bind(&lo).bind(&hi).bind(limit).fetch_all(&mut **c).await)?)
}

// ---------- respite ----------

/// Record a respite episode of a person in `scope`. Returns its id.
pub async fn record_respite(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    r: &Respite,
) -> anyhow::Result<Result<i64, Refusal>> {
    if persons_missing(tx, scope, &[r.person_id]).await? > 0 {
        return refuse("person_id", "family-persons-unknown", &[("n", "1")]);
    }
    let change = open_change_set(tx, actor, "family", "respite").await?;
    let notes = tx.keys.seal_opt(RESPITE_NOTES, r.notes.as_deref())?;
    let id: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO respite_episodes (change_id, person_id, from_date, to_date, provider, hours, notes) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id")
        .bind(change).bind(r.person_id).bind(r.from_date).bind(r.to_date).bind(&r.provider).bind(r.hours).bind(&notes)
        .fetch_one(&mut **c).await)?;
    audit::record(
        tx,
        actor,
        "family.respite.record",
        Some(Target::person(r.person_id)),
        serde_json::json!({"respite": id}),
    )
    .await?;
    Ok(Ok(id))
}

/// A respite episode.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredRespite {
    pub id: i64,
    pub person_id: i64,
    pub person_name: String,
    pub from_date: NaiveDate,
    pub to_date: NaiveDate,
    pub provider: String,
    pub hours: f64,
    pub notes: Option<String>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

const RESPITE_COLS: &str = "r.id, r.person_id, p.name AS person_name, r.from_date, r.to_date, r.provider, r.hours, r.notes, cs.actor AS recorded_by, cs.at AS recorded_at";

/// The respite episodes of the persons in `scope`, newest first.
pub async fn respite(tx: &mut Tx, scope: &Scope, limit: i64) -> anyhow::Result<Vec<StoredRespite>> {
    let (lo, hi) = scope.bounds();
    let site = scope.rows_sql("p");
    let sql = format!(
        "SELECT {RESPITE_COLS} FROM respite_episodes r JOIN persons p ON p.id = r.person_id JOIN change_sets cs ON cs.id = r.change_id \
         WHERE p.residence_region >= $1 AND p.residence_region < $2{site} ORDER BY r.from_date DESC, r.id DESC LIMIT $3"
    );
    let rows = on_tx!(tx, c => sqlx::query_as(&sql).bind(&lo).bind(&hi).bind(limit).fetch_all(&mut **c).await)?;
    open_each(&tx.keys, RESPITE_NOTES, rows, |r: &mut StoredRespite| {
        &mut r.notes
    })
}

/// The respite episodes of person `id` (in `scope`), newest first.
pub async fn respite_of_person(
    tx: &mut Tx,
    scope: &Scope,
    id: i64,
    limit: i64,
) -> anyhow::Result<Vec<StoredRespite>> {
    let (lo, hi) = scope.bounds();
    let site = scope.rows_sql("p");
    let sql = format!(
        "SELECT {RESPITE_COLS} FROM respite_episodes r JOIN persons p ON p.id = r.person_id JOIN change_sets cs ON cs.id = r.change_id \
         WHERE r.person_id = $1 AND p.residence_region >= $2 AND p.residence_region < $3{site} ORDER BY r.from_date DESC, r.id DESC LIMIT $4"
    );
    let rows = on_tx!(tx, c => sqlx::query_as(&sql).bind(id).bind(&lo).bind(&hi).bind(limit).fetch_all(&mut **c).await)?;
    open_each(&tx.keys, RESPITE_NOTES, rows, |r: &mut StoredRespite| {
        &mut r.notes
    })
}

// ---------- mutual-aid groups ----------

async fn insert_members(
    tx: &mut Tx,
    group: i64,
    change: i64,
    members: &[FamilyMember],
) -> anyhow::Result<()> {
    let mut rows = Rows::new();
    for m in members {
        rows.row()
            .int(Some(group))
            .int(Some(m.person_id))
            .text(Some(&m.name))
            .text(Some(m.relation.code()))
            .date(m.joined_on)
            .int(Some(change));
        rows.end_row();
    }
    let cols = [
        ("group_id", Col::Int),
        ("person_id", Col::Int),
        ("name", Col::Text),
        ("relation", Col::Text),
        ("joined_on", Col::Date),
        ("change_id", Col::Int),
    ];
    bulk::insert(tx, "mutual_aid_members", &cols, rows).await?;
    Ok(())
}

/// Record a group with its first members. Returns its id.
pub async fn record_group(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    g: &Group,
) -> anyhow::Result<Result<i64, Refusal>> {
    if let Some(r) = region_outside(scope, &g.region) {
        return Ok(Err(r));
    }
    let persons: Vec<i64> = g.members.iter().map(|m| m.person_id).collect();
    let missing = persons_missing(tx, scope, &persons).await?;
    if missing > 0 {
        return refuse(
            "members",
            "family-persons-unknown",
            &[("n", &missing.to_string())],
        );
    }
    let change = open_change_set(tx, actor, "family", "group").await?;
    let id: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO mutual_aid_groups (change_id, name, region, facilitator, started_on) VALUES ($1, $2, $3, $4, $5) RETURNING id")
        .bind(change).bind(&g.name).bind(&g.region).bind(&g.facilitator).bind(g.started_on).fetch_one(&mut **c).await)?;
    insert_members(tx, id, change, &g.members).await?;
    audit::record(
        tx,
        actor,
        "family.group.record",
        Some(Target::region(&g.region)),
        serde_json::json!({"group": id, "persons": persons}),
    )
    .await?;
    Ok(Ok(id))
}

/// The group `id` if it is in `scope`: its start. On PostgreSQL the row is locked, so members and
/// meetings are checked against what stays true until the commit.
async fn group_in_scope(tx: &mut Tx, scope: &Scope, id: i64) -> anyhow::Result<Option<NaiveDate>> {
    let (lo, hi) = scope.bounds();
    let lock = tx.backend().for_update();
    let sql = format!(
        "SELECT started_on FROM mutual_aid_groups WHERE id = $1 AND region >= $2 AND region < $3{lock}"
    );
    Ok(
        on_tx!(tx, c => sqlx::query_scalar(&sql).bind(id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?,
    )
}

/// Members join and leave group `gid`, all at once.
pub async fn change_members(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    gid: i64,
    m: &MembersChange,
) -> anyhow::Result<Result<(), Refusal>> {
    let Some(started) = group_in_scope(tx, scope, gid).await? else {
        return Ok(Err(Refusal::NotFound));
    };
    let mut problems = Vec::new();
    for (i, a) in m
        .add
        .iter()
        .enumerate()
        .filter(|(_, a)| a.joined_on < started)
    {
        problems.push(problem(
            "add",
            "family-member-before-start",
            &[
                ("n", &(i + 1).to_string()),
                ("date", &started.to_string()),
                ("joined", &a.joined_on.to_string()),
            ],
        ));
    }
    let persons: Vec<i64> = m.add.iter().map(|a| a.person_id).collect();
    let missing = persons_missing(tx, scope, &persons).await?;
    if missing > 0 {
        problems.push(problem(
            "add",
            "family-persons-unknown",
            &[("n", &missing.to_string())],
        ));
    }
    for a in &m.add {
        let current: i64 = on_tx!(tx, c => sqlx::query_scalar(
            "SELECT COUNT(*) FROM mutual_aid_members WHERE group_id = $1 AND person_id = $2 AND name = $3 AND left_on IS NULL")
            .bind(gid).bind(a.person_id).bind(&a.name).fetch_one(&mut **c).await)?;
        if current > 0 {
            problems.push(problem(
                "add",
                "family-member-duplicate",
                &[("name", &a.name)],
            ));
        }
    }
    // Who leaves: current members of this group, whose person is in scope, leaving on or after joining.
    let (lo, hi) = scope.bounds();
    let site = scope.rows_sql("p");
    let mut unknown = 0;
    for (member, on) in &m.leave {
        let joined: Option<NaiveDate> = on_tx!(tx, c => sqlx::query_scalar(&format!(
            "SELECT m.joined_on FROM mutual_aid_members m JOIN persons p ON p.id = m.person_id \
             WHERE m.id = $1 AND m.group_id = $2 AND m.left_on IS NULL AND p.residence_region >= $3 AND p.residence_region < $4{site}"))
            .bind(*member).bind(gid).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
        match joined {
            None => unknown += 1,
            Some(j) if *on < j => {
                problems.push(problem("leave", "family-member-left-before-joined", &[]))
            }
            Some(_) => {}
        }
    }
    if unknown > 0 {
        problems.push(problem(
            "leave",
            "family-member-unknown",
            &[("n", &unknown.to_string())],
        ));
    }
    if !problems.is_empty() {
        return Ok(Err(Refusal::Problems(problems)));
    }
    let change = open_change_set(tx, actor, "family", "members").await?;
    insert_members(tx, gid, change, &m.add).await?;
    for (member, on) in &m.leave {
        on_tx!(tx, c => sqlx::query("UPDATE mutual_aid_members SET left_on = $1, left_change = $2 WHERE id = $3")
            .bind(*on).bind(change).bind(*member).execute(&mut **c).await.map(drop))?;
    }
    let left: Vec<i64> = m.leave.iter().map(|(id, _)| *id).collect();
    audit::record(
        tx,
        actor,
        "family.group.members",
        Some(Target {
            kind: "mutual_aid_group",
            id: gid.to_string(),
        }),
        serde_json::json!({"joined": persons, "left_members": left}),
    )
    .await?;
    Ok(Ok(()))
}

/// Record a meeting of group `gid` with the members who attended. Returns its id.
pub async fn record_meeting(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    gid: i64,
    m: &Meeting,
) -> anyhow::Result<Result<i64, Refusal>> {
    let Some(started) = group_in_scope(tx, scope, gid).await? else {
        return Ok(Err(Refusal::NotFound));
    };
    if m.held_on < started {
        return refuse(
            "held_on",
            "family-meeting-before-start",
            &[
                ("held", &m.held_on.to_string()),
                ("date", &started.to_string()),
            ],
        );
    }
    // Every attendee a member of this group on the day, their person in scope.
    let (lo, hi) = scope.bounds();
    let site = scope.rows_sql("p");
    let sql = format!(
        "SELECT COUNT(*) FROM mutual_aid_members m JOIN persons p ON p.id = m.person_id \
         WHERE m.id IN ({}) AND m.group_id = $2 AND m.joined_on <= $3 AND (m.left_on IS NULL OR m.left_on >= $3) \
         AND p.residence_region >= $4 AND p.residence_region < $5{site}",
        bulk::json_int_list(tx.backend(), 1)
    );
    let list = serde_json::to_string(&m.attendees)?;
    let found: i64 = on_tx!(tx, c => sqlx::query_scalar(&sql).bind(&list).bind(gid).bind(m.held_on).bind(&lo).bind(&hi).fetch_one(&mut **c).await)?;
    let missing = m
        .attendees
        .len()
        .saturating_sub(usize::try_from(found).unwrap_or(0));
    if missing > 0 {
        return refuse(
            "attendees",
            "family-meeting-attendee-unknown",
            &[
                ("n", &missing.to_string()),
                ("date", &m.held_on.to_string()),
            ],
        );
    }
    let change = open_change_set(tx, actor, "family", "meeting").await?;
    let notes = tx.keys.seal_opt(MEETING_NOTES, m.notes.as_deref())?;
    let id: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO mutual_aid_meetings (group_id, change_id, held_on, topic, notes, attendees) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
        .bind(gid).bind(change).bind(m.held_on).bind(&m.topic).bind(&notes).bind(m.attendees.len() as i64).fetch_one(&mut **c).await)?;
    let mut rows = Rows::new();
    for member in &m.attendees {
        rows.row().int(Some(id)).int(Some(*member));
        rows.end_row();
    }
    bulk::insert(
        tx,
        "mutual_aid_attendance",
        &[("meeting_id", Col::Int), ("member_id", Col::Int)],
        rows,
    )
    .await?;
    audit::record(
        tx,
        actor,
        "family.meeting.record",
        Some(Target {
            kind: "mutual_aid_group",
            id: gid.to_string(),
        }),
        serde_json::json!({"meeting": id, "members": m.attendees}),
    )
    .await?;
    Ok(Ok(id))
}

/// A group as the lists show it: current members and meetings counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredGroup {
    pub id: i64,
    pub name: String,
    pub region: String,
    pub facilitator: String,
    pub started_on: NaiveDate,
    /// Current members (not left) whose person is in the caller's scope.
    pub members: i64,
    pub meetings: i64,
    pub last_meeting: Option<NaiveDate>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// The group columns; `$1`, `$2` are the scope's bounds.
const GROUP_COLS: &str = "g.id, g.name, g.region, g.facilitator, g.started_on, \
    (SELECT COUNT(*) FROM mutual_aid_members m JOIN persons p ON p.id = m.person_id \
      WHERE m.group_id = g.id AND m.left_on IS NULL AND p.residence_region >= $1 AND p.residence_region < $2{SITE}) AS members, \
    (SELECT COUNT(*) FROM mutual_aid_meetings x WHERE x.group_id = g.id) AS meetings, \
    (SELECT MAX(x.held_on) FROM mutual_aid_meetings x WHERE x.group_id = g.id) AS last_meeting, \
    cs.actor AS recorded_by, cs.at AS recorded_at";

/// The groups in `scope`, the newest first.
pub async fn groups(tx: &mut Tx, scope: &Scope, limit: i64) -> anyhow::Result<Vec<StoredGroup>> {
    let (lo, hi) = scope.bounds();
    let site = scope.rows_sql("p");
    let group_cols = GROUP_COLS.replace("{SITE}", &site);
    let sql = format!(
        "SELECT {group_cols} FROM mutual_aid_groups g JOIN change_sets cs ON cs.id = g.change_id \
         WHERE g.region >= $1 AND g.region < $2 ORDER BY g.started_on DESC, g.id DESC LIMIT $3"
    );
    Ok(
        on_tx!(tx, c => sqlx::query_as(&sql).bind(&lo).bind(&hi).bind(limit).fetch_all(&mut **c).await)?,
    )
}

/// A member of a group (present or past).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredMember {
    /// The member id (for meetings' attendance and leaving).
    pub id: i64,
    pub person_id: i64,
    /// The person (服务对象) whose family member this is.
    pub person_name: String,
    /// The family member's name.
    pub name: String,
    pub relation: String,
    pub joined_on: NaiveDate,
    pub left_on: Option<NaiveDate>,
    pub meetings_attended: i64,
}

/// A meeting of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredMeeting {
    pub id: i64,
    pub held_on: NaiveDate,
    pub topic: String,
    pub notes: Option<String>,
    /// How many members attended.
    pub attendees: i64,
    /// The member ids of those who attended whose person is in the caller's scope.
    #[sqlx(skip)]
    pub members: Vec<i64>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// A group with its members (whose person is in scope) and its meetings, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupDetail {
    pub group: StoredGroup,
    pub members: Vec<StoredMember>,
    pub meetings: Vec<StoredMeeting>,
}

/// Group `id` if it is in `scope`, with its members and meetings.
pub async fn group(tx: &mut Tx, scope: &Scope, id: i64) -> anyhow::Result<Option<GroupDetail>> {
    let (lo, hi) = scope.bounds();
    let site = scope.rows_sql("p");
    let group_cols = GROUP_COLS.replace("{SITE}", &site);
    let sql = format!(
        "SELECT {group_cols} FROM mutual_aid_groups g JOIN change_sets cs ON cs.id = g.change_id \
         WHERE g.id = $3 AND g.region >= $1 AND g.region < $2"
    );
    let found: Option<StoredGroup> = on_tx!(tx, c => sqlx::query_as(&sql).bind(&lo).bind(&hi).bind(id).fetch_optional(&mut **c).await)?;
    let Some(group) = found else { return Ok(None) };
    let members: Vec<StoredMember> = on_tx!(tx, c => sqlx::query_as(&format!(
        "SELECT m.id, m.person_id, p.name AS person_name, m.name, m.relation, m.joined_on, m.left_on, \
         (SELECT COUNT(*) FROM mutual_aid_attendance a WHERE a.member_id = m.id) AS meetings_attended \
         FROM mutual_aid_members m JOIN persons p ON p.id = m.person_id \
         WHERE m.group_id = $1 AND p.residence_region >= $2 AND p.residence_region < $3{site} \
         ORDER BY (CASE WHEN m.left_on IS NULL THEN 0 ELSE 1 END), p.name, m.id"))
        .bind(id).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?;
    let meetings: Vec<StoredMeeting> = on_tx!(tx, c => sqlx::query_as(
        "SELECT x.id, x.held_on, x.topic, x.notes, x.attendees, cs.actor AS recorded_by, cs.at AS recorded_at \
         FROM mutual_aid_meetings x JOIN change_sets cs ON cs.id = x.change_id WHERE x.group_id = $1 ORDER BY x.held_on DESC, x.id DESC")
        .bind(id).fetch_all(&mut **c).await)?;
    let mut meetings = open_each(
        &tx.keys,
        MEETING_NOTES,
        meetings,
        |m: &mut StoredMeeting| &mut m.notes,
    )?;
    let attendance: Vec<(i64, i64)> = on_tx!(tx, c => sqlx::query_as(&format!(
        "SELECT a.meeting_id, a.member_id FROM mutual_aid_attendance a JOIN mutual_aid_meetings x ON x.id = a.meeting_id \
         JOIN mutual_aid_members m ON m.id = a.member_id JOIN persons p ON p.id = m.person_id \
         WHERE x.group_id = $1 AND p.residence_region >= $2 AND p.residence_region < $3{site} ORDER BY a.meeting_id, a.member_id"))
        .bind(id).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?;
    for m in &mut meetings {
        m.members = attendance
            .iter()
            .filter(|(meeting, _)| *meeting == m.id)
            .map(|(_, member)| *member)
            .collect();
    }
    Ok(Some(GroupDetail {
        group,
        members,
        meetings,
    }))
}

/// A group a family member of a person belongs (or belonged) to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Membership {
    pub group_id: i64,
    pub group_name: String,
    pub name: String,
    pub relation: String,
    pub joined_on: NaiveDate,
    pub left_on: Option<NaiveDate>,
    pub meetings_attended: i64,
}

/// The groups the family of person `id` (in `scope`) joined, current ones first.
pub async fn groups_of_person(
    tx: &mut Tx,
    scope: &Scope,
    id: i64,
) -> anyhow::Result<Vec<Membership>> {
    let (lo, hi) = scope.bounds();
    let site = scope.rows_sql("p");
    Ok(on_tx!(tx, c => sqlx::query_as(&format!(
        "SELECT g.id AS group_id, g.name AS group_name, m.name, m.relation, m.joined_on, m.left_on, \
         (SELECT COUNT(*) FROM mutual_aid_attendance a WHERE a.member_id = m.id) AS meetings_attended \
         FROM mutual_aid_members m JOIN mutual_aid_groups g ON g.id = m.group_id JOIN persons p ON p.id = m.person_id \
         WHERE m.person_id = $1 AND p.residence_region >= $2 AND p.residence_region < $3{site} \
         ORDER BY (CASE WHEN m.left_on IS NULL THEN 0 ELSE 1 END), m.joined_on DESC, m.id DESC"))
        .bind(id).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?)
}

// ---------- peer supporters ----------

/// Record a peer supporter. Returns the id.
pub async fn record_peer(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    p: &Peer,
) -> anyhow::Result<Result<i64, Refusal>> {
    if let Some(r) = region_outside(scope, &p.region) {
        return Ok(Err(r));
    }
    if let Some(person) = p.person_id
        && persons_missing(tx, scope, &[person]).await? > 0
    {
        return refuse("person_id", "family-persons-unknown", &[("n", "1")]);
    }
    let change = open_change_set(tx, actor, "family", "peer").await?;
    let id: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO peer_supporters (change_id, updated_change, name, region, person_id, trained_on, status, hours) \
         VALUES ($1, $1, $2, $3, $4, $5, $6, $7) RETURNING id")
        .bind(change).bind(&p.name).bind(&p.region).bind(p.person_id).bind(p.trained_on).bind(p.status.code()).bind(p.hours)
        .fetch_one(&mut **c).await)?;
    audit::record(
        tx,
        actor,
        "family.peer.record",
        Some(Target::region(&p.region)),
        serde_json::json!({"peer": id, "person": p.person_id}),
    )
    .await?;
    Ok(Ok(id))
}

/// Add hours of support to peer supporter `id` (in `scope`) and/or change their status.
pub async fn update_peer(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    id: i64,
    u: &PeerUpdate,
) -> anyhow::Result<Result<(), Refusal>> {
    let (lo, hi) = scope.bounds();
    let lock = tx.backend().for_update();
    let sql = format!(
        "SELECT hours FROM peer_supporters WHERE id = $1 AND region >= $2 AND region < $3{lock}"
    );
    let found: Option<f64> = on_tx!(tx, c => sqlx::query_scalar(&sql).bind(id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    let Some(hours) = found else {
        return Ok(Err(Refusal::NotFound));
    };
    let max = crate::care::family::MAX_PEER_HOURS;
    if hours + u.add_hours > max {
        return refuse(
            "add_hours",
            "family-peer-hours",
            &[("max", &format!("{max}"))],
        );
    }
    let change = open_change_set(tx, actor, "family", "peer-update").await?;
    on_tx!(tx, c => sqlx::query(
        "UPDATE peer_supporters SET hours = hours + $1, status = COALESCE($2, status), updated_change = $3 WHERE id = $4")
        .bind(u.add_hours).bind(u.status.map(|s| s.code())).bind(change).bind(id).execute(&mut **c).await.map(drop))?;
    audit::record(
        tx,
        actor,
        "family.peer.update",
        Some(Target {
            kind: "peer_supporter",
            id: id.to_string(),
        }),
        serde_json::json!({"add_hours": u.add_hours, "status": u.status.map(|s| s.code())}),
    )
    .await?;
    Ok(Ok(()))
}

/// A peer supporter.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredPeer {
    pub id: i64,
    pub name: String,
    pub region: String,
    /// The supporter's own record, when it is in the caller's scope.
    pub person_id: Option<i64>,
    pub trained_on: NaiveDate,
    /// `active` or `inactive`.
    pub status: String,
    /// Hours of support given.
    pub hours: f64,
    /// Who last changed the entry, and when.
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// The peer supporters of `scope`, active first, by name.
pub async fn peers(tx: &mut Tx, scope: &Scope, limit: i64) -> anyhow::Result<Vec<StoredPeer>> {
    let (lo, hi) = scope.bounds();
    let site = scope.rows_sql("p");
    Ok(on_tx!(tx, c => sqlx::query_as(&format!(
        "SELECT s.id, s.name, s.region, p.id AS person_id, s.trained_on, s.status, s.hours, cs.actor AS updated_by, cs.at AS updated_at \
         FROM peer_supporters s JOIN change_sets cs ON cs.id = s.updated_change \
         LEFT JOIN persons p ON p.id = s.person_id AND p.residence_region >= $1 AND p.residence_region < $2{site} \
         WHERE s.region >= $1 AND s.region < $2 ORDER BY s.status, s.name, s.id LIMIT $3"))
        .bind(&lo).bind(&hi).bind(limit).fetch_all(&mut **c).await)?)
}
