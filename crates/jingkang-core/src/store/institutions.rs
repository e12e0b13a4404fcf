//! Institutions, sites and their staff in the database (SPEC §7): the register of institutions in
//! a region, the persons each site serves (`persons.site_id`), staff with their qualifications
//! (持证上岗) and training, and the two flags — staff under the yearly training hours, institutions
//! under the share of qualified staff. Every change opens a change set and is audited in the same
//! transaction; an institution outside the caller's region answers as absent.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::audit::{self, Target};
use super::bulk;
use super::{Actor, Tx, open_change_set};
use crate::care::institution::InstitutionRules;
use crate::domain::CreditCode;
use crate::on_tx;
use crate::regions::{RegionTree, Scope};

/// An institution to register, or its new details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewInstitution {
    pub name: String,
    /// A kind's code (`GET /api/v1/institutions/rules`): `center`, `site`, `yukang_home` …
    pub kind: String,
    pub urban: bool,
    /// The region (county, township or village) it is in.
    pub region: String,
    pub address: String,
    pub capacity: i64,
    pub operator: String,
    /// The operator's 统一社会信用代码 (GB 32100, check character verified).
    pub operator_code: String,
    #[serde(default)]
    pub opened_on: Option<NaiveDate>,
    /// A status's code: `preparing`, `operating`, `suspended`, `closed`.
    pub status: String,
}

/// A problem with one field: its name and the message code of `messages.rs`.
pub type Problem = (&'static str, &'static str);

/// Check an institution's details: every problem, by field.
pub fn check(
    new: &NewInstitution,
    rules: &InstitutionRules,
    tree: &RegionTree,
    scope: &Scope,
    today: NaiveDate,
) -> Vec<Problem> {
    let mut out = Vec::new();
    if new.name.trim().is_empty() || new.name.trim().chars().count() > 100 {
        out.push(("name", "institution-name-invalid"));
    }
    if rules.kind(&new.kind).is_none() {
        out.push(("kind", "institution-kind-unknown"));
    }
    let region = new.region.trim();
    if tree.get(region).is_none() || !scope.contains(region) {
        out.push(("region", "institution-region-invalid"));
    }
    if new.address.trim().is_empty() {
        out.push(("address", "institution-address-missing"));
    }
    if !(0..=100_000).contains(&new.capacity) {
        out.push(("capacity", "institution-capacity-invalid"));
    }
    if new.operator.trim().is_empty() {
        out.push(("operator", "institution-operator-missing"));
    }
    if let Err(e) = CreditCode::parse(&new.operator_code) {
        out.push(("operator_code", e.code()));
    }
    if new.opened_on.is_some_and(|d| d > today) && new.status != "preparing" {
        out.push(("opened_on", "institution-opened-future"));
    }
    if rules.status(&new.status).is_none() {
        out.push(("status", "institution-status-unknown"));
    }
    out
}

/// Register an institution in the caller's region. Returns its id, or every problem.
pub async fn create(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    (rules, tree): (&InstitutionRules, &RegionTree),
    new: &NewInstitution,
    today: NaiveDate,
) -> anyhow::Result<Result<i64, Vec<Problem>>> {
    let problems = check(new, rules, tree, scope, today);
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let code = CreditCode::parse(&new.operator_code)
        .map(|c| c.to_string())
        .unwrap_or_default();
    let change = open_change_set(tx, actor, "institution", "create").await?;
    let id: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO institutions (change_id, name, kind, urban, region, address, capacity, operator, operator_code, opened_on, status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id")
        .bind(change).bind(new.name.trim()).bind(&new.kind).bind(new.urban).bind(new.region.trim()).bind(new.address.trim())
        .bind(new.capacity).bind(new.operator.trim()).bind(&code).bind(new.opened_on).bind(&new.status)
        .fetch_one(&mut **c).await)?;
    audit::record(tx, actor, "institution.create", Some(Target { kind: "institution", id: id.to_string() }),
        serde_json::json!({"name": new.name.trim(), "region": new.region.trim(), "status": new.status})).await?;
    Ok(Ok(id))
}

/// Change an institution's details (its status, capacity …). `Ok(None)` when it is not in scope.
pub async fn update(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    (rules, tree): (&InstitutionRules, &RegionTree),
    id: i64,
    new: &NewInstitution,
    today: NaiveDate,
) -> anyhow::Result<Option<Result<(), Vec<Problem>>>> {
    if status_in_scope(tx, scope, id).await?.is_none() {
        return Ok(None);
    }
    let problems = check(new, rules, tree, scope, today);
    if !problems.is_empty() {
        return Ok(Some(Err(problems)));
    }
    let code = CreditCode::parse(&new.operator_code)
        .map(|c| c.to_string())
        .unwrap_or_default();
    let change = open_change_set(tx, actor, "institution", "update").await?;
    on_tx!(tx, c => sqlx::query(
        "UPDATE institutions SET change_id = $1, name = $2, kind = $3, urban = $4, region = $5, address = $6, capacity = $7, \
         operator = $8, operator_code = $9, opened_on = $10, status = $11 WHERE id = $12")
        .bind(change).bind(new.name.trim()).bind(&new.kind).bind(new.urban).bind(new.region.trim()).bind(new.address.trim())
        .bind(new.capacity).bind(new.operator.trim()).bind(&code).bind(new.opened_on).bind(&new.status).bind(id)
        .execute(&mut **c).await.map(drop))?;
    audit::record(
        tx,
        actor,
        "institution.update",
        Some(Target {
            kind: "institution",
            id: id.to_string(),
        }),
        serde_json::json!({"status": new.status, "capacity": new.capacity}),
    )
    .await?;
    Ok(Some(Ok(())))
}

/// An institution with its figures.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Institution {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub urban: bool,
    pub region: String,
    pub address: String,
    pub capacity: i64,
    pub operator: String,
    pub operator_code: String,
    pub opened_on: Option<NaiveDate>,
    pub status: String,
    /// Persons the site serves now.
    pub persons_served: i64,
    /// Current staff (not left).
    pub staff: i64,
    /// Current staff with a qualification valid today (持证上岗).
    pub qualified_staff: i64,
}

const INSTITUTION_COLS: &str = "i.id, i.name, i.kind, i.urban, i.region, i.address, i.capacity, i.operator, i.operator_code, i.opened_on, i.status, \
    (SELECT COUNT(*) FROM persons p WHERE p.site_id = i.id) AS persons_served, \
    (SELECT COUNT(*) FROM staff s WHERE s.institution_id = i.id AND (s.left_on IS NULL OR s.left_on > $3)) AS staff, \
    (SELECT COUNT(*) FROM staff s WHERE s.institution_id = i.id AND (s.left_on IS NULL OR s.left_on > $3) \
       AND EXISTS (SELECT 1 FROM staff_qualifications q WHERE q.staff_id = s.id AND q.issued_on <= $3 AND (q.valid_until IS NULL OR q.valid_until >= $3))) AS qualified_staff";

/// The institutions in scope (a site user: their own site), by region and name, with figures on
/// `today`.
pub async fn list(
    tx: &mut Tx,
    scope: &Scope,
    today: NaiveDate,
) -> anyhow::Result<Vec<Institution>> {
    let (lo, hi) = scope.bounds();
    let site = scope
        .site()
        .map_or(String::new(), |id| format!(" AND i.id = {id}"));
    let sql = format!(
        "SELECT {INSTITUTION_COLS} FROM institutions i WHERE i.region >= $1 AND i.region < $2{site} ORDER BY i.region, i.name"
    );
    Ok(
        on_tx!(tx, c => sqlx::query_as(&sql).bind(&lo).bind(&hi).bind(today).fetch_all(&mut **c).await)?,
    )
}

/// One institution in scope, with its figures on `today`.
pub async fn get(
    tx: &mut Tx,
    scope: &Scope,
    id: i64,
    today: NaiveDate,
) -> anyhow::Result<Option<Institution>> {
    let (lo, hi) = scope.bounds();
    if scope.site().is_some_and(|s| s != id) {
        return Ok(None);
    }
    let sql = format!(
        "SELECT {INSTITUTION_COLS} FROM institutions i WHERE i.region >= $1 AND i.region < $2 AND i.id = $4"
    );
    Ok(
        on_tx!(tx, c => sqlx::query_as(&sql).bind(&lo).bind(&hi).bind(today).bind(id).fetch_optional(&mut **c).await)?,
    )
}

/// The status of institution `id` if it is in scope (no figures: the check before a change).
async fn status_in_scope(tx: &mut Tx, scope: &Scope, id: i64) -> anyhow::Result<Option<String>> {
    let (lo, hi) = scope.bounds();
    if scope.site().is_some_and(|s| s != id) {
        return Ok(None);
    }
    Ok(
        on_tx!(tx, c => sqlx::query_scalar("SELECT status FROM institutions WHERE region >= $1 AND region < $2 AND id = $3")
        .bind(&lo).bind(&hi).bind(id).fetch_optional(&mut **c).await)?,
    )
}

/// Why persons could not be put in a site's care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignRefusal {
    /// The site is not in scope.
    NotFound,
    /// The site is not operating.
    NotOperating,
    /// This many persons are not in the caller's scope.
    UnknownPersons(usize),
}

/// Put `persons` in the care of site `id` (taking them from any other site), or, with `None`,
/// take them out of any site's care. All in scope, or nothing is written; one audit entry per
/// person.
pub async fn assign_persons(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    rules: &InstitutionRules,
    site: Option<i64>,
    persons: &[i64],
) -> anyhow::Result<Result<usize, AssignRefusal>> {
    if let Some(id) = site {
        match status_in_scope(tx, scope, id).await? {
            None => return Ok(Err(AssignRefusal::NotFound)),
            Some(status) if !rules.status(&status).is_some_and(|s| s.operating) => {
                return Ok(Err(AssignRefusal::NotOperating));
            }
            Some(_) => {}
        }
    }
    let mut ids: Vec<i64> = persons.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let (lo, hi) = scope.bounds();
    let list = serde_json::to_string(&ids)?;
    let sql = format!(
        "SELECT COUNT(*) FROM persons WHERE id IN ({}) AND residence_region >= $2 AND residence_region < $3{}",
        bulk::json_int_list(tx.backend(), 1),
        scope.rows_sql("")
    );
    let found: i64 = on_tx!(tx, c => sqlx::query_scalar(&sql).bind(&list).bind(&lo).bind(&hi).fetch_one(&mut **c).await)?;
    let missing = ids
        .len()
        .saturating_sub(usize::try_from(found).unwrap_or(0));
    if missing > 0 {
        return Ok(Err(AssignRefusal::UnknownPersons(missing)));
    }
    let sql = format!(
        "UPDATE persons SET site_id = $2 WHERE id IN ({})",
        bulk::json_int_list(tx.backend(), 1)
    );
    on_tx!(tx, c => sqlx::query(&sql).bind(&list).bind(site).execute(&mut **c).await.map(drop))?;
    for pid in &ids {
        audit::record(
            tx,
            actor,
            "person.site",
            Some(Target::person(*pid)),
            serde_json::json!({"site": site}),
        )
        .await?;
    }
    Ok(Ok(ids.len()))
}

/// A staff member to add to an institution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewStaff {
    pub institution_id: i64,
    pub name: String,
    /// 岗位: 社工, 护士, 康复师, 管理人员 …
    pub position: String,
    pub hired_on: NaiveDate,
    #[serde(default)]
    pub qualifications: Vec<NewQualification>,
}

/// A qualification certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewQualification {
    /// A qualification's code: `social_worker`, `counsellor`, `nurse`, `physician`, `therapist` …
    pub kind: String,
    /// The certificate number.
    pub number: String,
    pub issued_on: NaiveDate,
    #[serde(default)]
    pub valid_until: Option<NaiveDate>,
}

/// Training hours to record for a staff member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewTraining {
    pub trained_on: NaiveDate,
    pub topic: String,
    pub hours: f64,
}

fn check_qualification(
    q: &NewQualification,
    rules: &InstitutionRules,
    today: NaiveDate,
    out: &mut Vec<Problem>,
) {
    if rules.qualification(&q.kind).is_none() {
        out.push(("qualifications", "staff-qualification-unknown"));
    }
    if q.number.trim().is_empty() || q.number.trim().chars().count() > 50 {
        out.push(("qualifications", "staff-certificate-number-invalid"));
    }
    if q.issued_on > today || q.valid_until.is_some_and(|v| v < q.issued_on) {
        out.push(("qualifications", "staff-certificate-dates-invalid"));
    }
}

async fn insert_qualification(
    tx: &mut Tx,
    change: i64,
    staff_id: i64,
    q: &NewQualification,
) -> anyhow::Result<()> {
    on_tx!(tx, c => sqlx::query("INSERT INTO staff_qualifications (staff_id, change_id, kind, number, issued_on, valid_until) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(staff_id).bind(change).bind(&q.kind).bind(q.number.trim()).bind(q.issued_on).bind(q.valid_until).execute(&mut **c).await.map(drop))?;
    Ok(())
}

/// Every problem of a new staff member and their certificates, in the form's order (the
/// institution itself is checked against the scope when it is written).
pub fn check_staff(new: &NewStaff, rules: &InstitutionRules, today: NaiveDate) -> Vec<Problem> {
    let mut problems = Vec::new();
    if new.name.trim().is_empty() || new.name.trim().chars().count() > 50 {
        problems.push(("name", "staff-name-invalid"));
    }
    if new.position.trim().is_empty() {
        problems.push(("position", "staff-position-missing"));
    }
    if new.hired_on > today {
        problems.push(("hired_on", "staff-hired-future"));
    }
    for q in &new.qualifications {
        check_qualification(q, rules, today, &mut problems);
    }
    problems.dedup();
    problems
}

/// Every problem of a training record.
pub fn check_training(t: &NewTraining, today: NaiveDate) -> Vec<Problem> {
    let mut problems = Vec::new();
    if t.trained_on > today {
        problems.push(("trained_on", "staff-training-future"));
    }
    if t.topic.trim().is_empty() {
        problems.push(("topic", "staff-training-topic-missing"));
    }
    if !(t.hours > 0.0 && t.hours <= 200.0) {
        problems.push(("hours", "staff-training-hours-invalid"));
    }
    problems
}

/// Add a staff member (with their certificates) to an institution in scope.
pub async fn add_staff(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    rules: &InstitutionRules,
    new: &NewStaff,
    today: NaiveDate,
) -> anyhow::Result<Result<i64, Vec<Problem>>> {
    let mut problems = Vec::new();
    if status_in_scope(tx, scope, new.institution_id)
        .await?
        .is_none()
    {
        problems.push(("institution_id", "institution-unknown"));
    }
    problems.extend(check_staff(new, rules, today));
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let change = open_change_set(tx, actor, "staff", "create").await?;
    let id: i64 = on_tx!(tx, c => sqlx::query_scalar("INSERT INTO staff (institution_id, change_id, name, position, hired_on) VALUES ($1, $2, $3, $4, $5) RETURNING id")
        .bind(new.institution_id).bind(change).bind(new.name.trim()).bind(new.position.trim()).bind(new.hired_on).fetch_one(&mut **c).await)?;
    for q in &new.qualifications {
        insert_qualification(tx, change, id, q).await?;
    }
    audit::record(tx, actor, "staff.create", Some(Target { kind: "staff", id: id.to_string() }),
        serde_json::json!({"institution": new.institution_id, "qualifications": new.qualifications.len()})).await?;
    Ok(Ok(id))
}

/// The institution of staff member `id`, if both are in scope.
async fn staff_in_scope(tx: &mut Tx, scope: &Scope, id: i64) -> anyhow::Result<bool> {
    let institution: Option<i64> = on_tx!(tx, c => sqlx::query_scalar("SELECT institution_id FROM staff WHERE id = $1").bind(id).fetch_optional(&mut **c).await)?;
    Ok(match institution {
        Some(i) => status_in_scope(tx, scope, i).await?.is_some(),
        None => false,
    })
}

/// Add a certificate to staff member `id`. `Ok(None)` when not in scope.
pub async fn add_qualification(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    rules: &InstitutionRules,
    id: i64,
    q: &NewQualification,
    today: NaiveDate,
) -> anyhow::Result<Option<Result<(), Vec<Problem>>>> {
    if !staff_in_scope(tx, scope, id).await? {
        return Ok(None);
    }
    let mut problems = Vec::new();
    check_qualification(q, rules, today, &mut problems);
    if !problems.is_empty() {
        return Ok(Some(Err(problems)));
    }
    let change = open_change_set(tx, actor, "staff", "qualification").await?;
    insert_qualification(tx, change, id, q).await?;
    audit::record(
        tx,
        actor,
        "staff.qualification",
        Some(Target {
            kind: "staff",
            id: id.to_string(),
        }),
        serde_json::json!({"kind": q.kind}),
    )
    .await?;
    Ok(Some(Ok(())))
}

/// Record training hours of staff member `id`. `Ok(None)` when not in scope.
pub async fn add_training(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    id: i64,
    t: &NewTraining,
    today: NaiveDate,
) -> anyhow::Result<Option<Result<(), Vec<Problem>>>> {
    if !staff_in_scope(tx, scope, id).await? {
        return Ok(None);
    }
    let problems = check_training(t, today);
    if !problems.is_empty() {
        return Ok(Some(Err(problems)));
    }
    let change = open_change_set(tx, actor, "staff", "training").await?;
    on_tx!(tx, c => sqlx::query("INSERT INTO staff_trainings (staff_id, change_id, trained_on, topic, hours) VALUES ($1, $2, $3, $4, $5)")
        .bind(id).bind(change).bind(t.trained_on).bind(t.topic.trim()).bind(t.hours).execute(&mut **c).await.map(drop))?;
    audit::record(
        tx,
        actor,
        "staff.training",
        Some(Target {
            kind: "staff",
            id: id.to_string(),
        }),
        serde_json::json!({"hours": t.hours}),
    )
    .await?;
    Ok(Some(Ok(())))
}

/// Record that staff member `id` left on `day`. `Ok(false)` when not in scope.
pub async fn staff_left(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    id: i64,
    day: NaiveDate,
) -> anyhow::Result<bool> {
    if !staff_in_scope(tx, scope, id).await? {
        return Ok(false);
    }
    let change = open_change_set(tx, actor, "staff", "leave").await?;
    on_tx!(tx, c => sqlx::query("UPDATE staff SET left_on = $1, change_id = $2 WHERE id = $3").bind(day).bind(change).bind(id).execute(&mut **c).await.map(drop))?;
    audit::record(
        tx,
        actor,
        "staff.leave",
        Some(Target {
            kind: "staff",
            id: id.to_string(),
        }),
        serde_json::json!({"on": day}),
    )
    .await?;
    Ok(true)
}

/// A qualification as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Qualification {
    pub kind: String,
    pub number: String,
    pub issued_on: NaiveDate,
    pub valid_until: Option<NaiveDate>,
}

/// A staff member with their certificates and the year's training.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StaffMember {
    pub id: i64,
    pub institution_id: i64,
    pub institution: String,
    pub name: String,
    pub position: String,
    pub hired_on: NaiveDate,
    pub left_on: Option<NaiveDate>,
    pub qualifications: Vec<Qualification>,
    /// Holds a certificate valid on the day asked (持证上岗).
    pub certified: bool,
    /// Training hours in the calendar year asked.
    pub training_hours: f64,
    /// Under the yearly training hours of the rules.
    pub under_trained: bool,
}

#[derive(sqlx::FromRow)]
struct StaffRow {
    id: i64,
    institution_id: i64,
    institution: String,
    name: String,
    position: String,
    hired_on: NaiveDate,
    left_on: Option<NaiveDate>,
    training_hours: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct QualificationRow {
    staff_id: i64,
    kind: String,
    number: String,
    issued_on: NaiveDate,
    valid_until: Option<NaiveDate>,
}

/// The current staff of the institutions in scope (or of one), with their certificates on `today`
/// and their training hours in `today`'s year.
pub async fn staff(
    tx: &mut Tx,
    scope: &Scope,
    rules: &InstitutionRules,
    institution: Option<i64>,
    today: NaiveDate,
) -> anyhow::Result<Vec<StaffMember>> {
    let (lo, hi) = scope.bounds();
    let year_start = NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today);
    let mut only = scope
        .site()
        .map_or(String::new(), |id| format!(" AND i.id = {id}"));
    if let Some(id) = institution {
        only.push_str(&format!(" AND i.id = {id}"));
    }
    let sql = format!(
        "SELECT s.id, s.institution_id, i.name AS institution, s.name, s.position, s.hired_on, s.left_on, \
         (SELECT SUM(t.hours) FROM staff_trainings t WHERE t.staff_id = s.id AND t.trained_on >= $3 AND t.trained_on <= $4) AS training_hours \
         FROM staff s JOIN institutions i ON i.id = s.institution_id \
         WHERE i.region >= $1 AND i.region < $2{only} AND (s.left_on IS NULL OR s.left_on > $4) ORDER BY i.region, i.name, s.name, s.id"
    );
    let rows: Vec<StaffRow> = on_tx!(tx, c => sqlx::query_as(&sql).bind(&lo).bind(&hi).bind(year_start).bind(today).fetch_all(&mut **c).await)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = serde_json::to_string(&rows.iter().map(|r| r.id).collect::<Vec<_>>())?;
    let sql = format!(
        "SELECT staff_id, kind, number, issued_on, valid_until FROM staff_qualifications WHERE staff_id IN ({}) ORDER BY staff_id, issued_on",
        bulk::json_int_list(tx.backend(), 1)
    );
    let quals: Vec<QualificationRow> =
        on_tx!(tx, c => sqlx::query_as(&sql).bind(&ids).fetch_all(&mut **c).await)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let qualifications: Vec<Qualification> = quals
                .iter()
                .filter(|q| q.staff_id == r.id)
                .map(|q| Qualification {
                    kind: q.kind.clone(),
                    number: q.number.clone(),
                    issued_on: q.issued_on,
                    valid_until: q.valid_until,
                })
                .collect();
            let certified = qualifications
                .iter()
                .any(|q| q.issued_on <= today && q.valid_until.is_none_or(|v| v >= today));
            let hours = r.training_hours.unwrap_or(0.0);
            StaffMember {
                id: r.id,
                institution_id: r.institution_id,
                institution: r.institution,
                name: r.name,
                position: r.position,
                hired_on: r.hired_on,
                left_on: r.left_on,
                qualifications,
                certified,
                training_hours: hours,
                under_trained: rules.under_trained(hours),
            }
        })
        .collect())
}
