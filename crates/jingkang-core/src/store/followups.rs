//! Follow-ups: a recorded 随访服务记录表 updates the person's risk grade, condition class and
//! schedule, with a history row for the risk grade and an audit entry — all in the caller's
//! transaction, or nothing when refused.
//!
//! A follow-up entered late (its visit date before the person's latest) is kept in the record but
//! does not move the current schedule, which belongs to the latest visit.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use super::alerts;
use super::audit::{self, Target};
use super::sealing::FOLLOWUP_ANSWERS;
use super::{Actor, Backend, Tx, open_change_set};
use crate::care::followup::{self, Conclusion, FieldError, Followup, FormDef};
use crate::care::schedule::ConditionClass;
use crate::on_tx;
use crate::regions::Scope;

/// Why nothing was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such person in the caller's scope (the same answer as absent).
    NotFound,
    /// The form breaks a rule only the stored record can check (the next date).
    Invalid(Vec<FieldError>),
    /// The person already has a follow-up on that visit date, and recording a second one was not
    /// confirmed: the earlier one, to name it.
    SameDay(SameDayEarlier),
}

/// The follow-up already recorded on a visit date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SameDayEarlier {
    pub visit_date: NaiveDate,
    pub doctor: String,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

impl SameDayEarlier {
    /// The question put to the user, in Chinese.
    pub fn message(&self) -> String {
        let at = crate::care::emergency::beijing_minute(self.recorded_at);
        crate::messages::render(
            "followup-same-day",
            &[
                ("date", &self.visit_date.to_string()),
                ("doctor", &self.doctor),
                ("at", &at),
            ],
        )
    }
}

impl SameDayEarlier {
    /// The question as a problem of the visit date (how the form and the API list problems).
    pub fn field_error(&self) -> FieldError {
        FieldError {
            field: "visit_date".into(),
            label: "随访日期".into(),
            code: "followup-same-day",
            message: self.message(),
        }
    }
}

/// The key a form or an API body sends to record a second follow-up of the same day anyway.
pub const CONFIRM_SAME_DAY: &str = "confirm_same_day";

/// Whether the second follow-up of a day is recorded anyway (the user confirmed it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameDay {
    Ask,
    Confirmed,
}

/// A follow-up that was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub id: i64,
    pub conclusion: Conclusion,
    /// Whether it became the person's current state (false for a late entry of an older visit).
    pub current: bool,
    /// The person's risk grade before, and after.
    pub risk_before: Option<i64>,
    pub risk_after: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Current {
    name: String,
    residence_region: String,
    risk_grade: Option<i64>,
    condition_class: Option<String>,
    last_followup_date: Option<NaiveDate>,
}

/// Record follow-up `f` of person `id` in `scope`.
pub async fn record(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    id: i64,
    form: &FormDef,
    f: &Followup,
    same_day: SameDay,
) -> anyhow::Result<Result<Recorded, Refusal>> {
    let (lo, hi) = scope.bounds();
    let lock = tx.backend().for_update();
    let sql = format!(
        "SELECT name, residence_region, risk_grade, condition_class, last_followup_date FROM persons \
         WHERE id = $1 AND residence_region >= $2 AND residence_region < $3{}{lock}",
        scope.rows_sql("")
    );
    let cur: Option<Current> = on_tx!(tx, c => sqlx::query_as(&sql).bind(id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    let Some(cur) = cur else {
        return Ok(Err(Refusal::NotFound));
    };
    if same_day == SameDay::Ask {
        let earlier: Option<(String, String, DateTime<Utc>)> = on_tx!(tx, c => sqlx::query_as(
            "SELECT f.doctor, cs.actor, cs.at FROM followups f JOIN change_sets cs ON cs.id = f.change_id \
             WHERE f.person_id = $1 AND f.visit_date = $2 ORDER BY f.id LIMIT 1")
            .bind(id).bind(f.visit_date).fetch_optional(&mut **c).await)?;
        if let Some((doctor, recorded_by, recorded_at)) = earlier {
            return Ok(Err(Refusal::SameDay(SameDayEarlier {
                visit_date: f.visit_date,
                doctor,
                recorded_by,
                recorded_at,
            })));
        }
    }
    let previous = cur
        .condition_class
        .as_deref()
        .and_then(ConditionClass::from_code);
    let conclusion = match followup::conclude(form, f, previous) {
        Ok(c) => c,
        Err(e) => return Ok(Err(Refusal::Invalid(vec![e]))),
    };
    let current = cur
        .last_followup_date
        .is_none_or(|last| f.visit_date >= last);
    let change = open_change_set(tx, actor, "followup", "record").await?;
    let answers = tx
        .keys
        .seal(FOLLOWUP_ANSWERS, &serde_json::to_string(&f.answers)?)?;
    let risk = f.risk_grade.map(i64::from);
    let class = conclusion.class.map(|c| c.code());
    let adherence = f.answers.get("adherence").and_then(Value::as_str);
    let fid: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO followups (person_id, change_id, visit_date, mode, lost, died, risk_grade, condition_class, adherence, next_date, doctor, form_version, answers) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id")
        .bind(id).bind(change).bind(f.visit_date).bind(&f.mode).bind(f.lost).bind(f.death_date.is_some()).bind(risk).bind(class)
        .bind(adherence).bind(conclusion.next_date).bind(&f.doctor).bind(&form.version).bind(&answers)
        .fetch_one(&mut **c).await)?;
    refresh_quarters(tx, id).await?;
    let risk_after = if current {
        risk.or(cur.risk_grade)
    } else {
        cur.risk_grade
    };
    if current {
        // A lost follow-up keeps the last known risk and class; it moves only the date.
        let class_after = class.map(str::to_string).or(if f.lost {
            cur.condition_class.clone()
        } else {
            None
        });
        on_tx!(tx, c => sqlx::query(
            "UPDATE persons SET risk_grade = $1, condition_class = $2, last_followup_date = $3, next_followup_date = $4, \
             followup_lost = $5, last_followup_by = $6, version = version + 1, updated_change = $7 WHERE id = $8")
            .bind(risk_after).bind(class_after).bind(f.visit_date).bind(conclusion.next_date).bind(f.lost)
            .bind(actor.as_str()).bind(change).bind(id)
            .execute(&mut **c).await.map(drop))?;
        if risk_after != cur.risk_grade {
            on_tx!(tx, c => sqlx::query(
                "INSERT INTO person_history (person_id, change_id, field, old_value, new_value) VALUES ($1, $2, 'risk_grade', $3, $4)")
                .bind(id).bind(change).bind(cur.risk_grade.map(|g| g.to_string())).bind(risk_after.map(|g| g.to_string()))
                .execute(&mut **c).await.map(drop))?;
        }
    }
    // Risk ≥ 3 on the latest visit alerts the police and the township at once (SPEC §4).
    let alerted = match (current, risk) {
        (true, Some(g)) if g >= i64::from(crate::care::emergency::ALERT_GRADE) => {
            let detail = format!(
                "{} 随访评估危险性 {g} 级，病情分类“{}”。",
                f.visit_date,
                conclusion.class.map_or("", ConditionClass::label_zh)
            );
            !alerts::high_risk(
                tx,
                id,
                &cur.name,
                &cur.residence_region,
                g,
                (alerts::AlertKind::Followup, fid),
                &detail,
            )
            .await?
            .is_empty()
        }
        _ => false,
    };
    // Clinical content stays in `followups`; the audit entry says that a follow-up was recorded.
    audit::record(
        tx,
        actor,
        "followup.record",
        Some(Target::person(id)),
        serde_json::json!({"followup": fid, "current": current, "alerted": alerted}),
    )
    .await?;
    Ok(Ok(Recorded {
        id: fid,
        conclusion,
        current,
        risk_before: cur.risk_grade,
        risk_after,
    }))
}

/// One recorded follow-up.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredFollowup {
    pub id: i64,
    pub visit_date: NaiveDate,
    pub mode: String,
    pub lost: bool,
    pub died: bool,
    pub risk_grade: Option<i64>,
    pub condition_class: Option<ConditionClass>,
    pub next_date: Option<NaiveDate>,
    pub doctor: String,
    pub form_version: String,
    /// Every answered field by key (see `/api/v1/forms/followup`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub answers: serde_json::Map<String, Value>,
    /// Who entered it, and when.
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct FollowupRow {
    id: i64,
    visit_date: NaiveDate,
    mode: String,
    lost: bool,
    died: bool,
    risk_grade: Option<i64>,
    condition_class: Option<String>,
    next_date: Option<NaiveDate>,
    doctor: String,
    form_version: String,
    answers: String,
    actor: String,
    at: DateTime<Utc>,
}

/// The follow-ups of person `id` in `scope`, newest visit first (at most `limit`).
pub async fn list(
    tx: &mut Tx,
    scope: &Scope,
    id: i64,
    limit: i64,
) -> anyhow::Result<Vec<StoredFollowup>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT f.id, f.visit_date, f.mode, f.lost, f.died, f.risk_grade, f.condition_class, f.next_date, f.doctor, \
         f.form_version, f.answers, cs.actor, cs.at \
         FROM followups f JOIN persons p ON p.id = f.person_id JOIN change_sets cs ON cs.id = f.change_id \
         WHERE f.person_id = $1 AND p.residence_region >= $2 AND p.residence_region < $3{} \
         ORDER BY f.visit_date DESC, f.id DESC LIMIT $4",
        scope.rows_sql("p")
    );
    let rows: Vec<FollowupRow> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(id).bind(&lo).bind(&hi).bind(limit).fetch_all(&mut **c).await)?;
    rows.into_iter()
        .map(|mut r| {
            super::sealing::open_text(&tx.keys, FOLLOWUP_ANSWERS, &mut r.answers)?;
            let answers = match serde_json::from_str(&r.answers)? {
                Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            Ok(StoredFollowup {
                id: r.id,
                visit_date: r.visit_date,
                mode: r.mode,
                lost: r.lost,
                died: r.died,
                risk_grade: r.risk_grade,
                condition_class: r
                    .condition_class
                    .as_deref()
                    .and_then(ConditionClass::from_code),
                next_date: r.next_date,
                doctor: r.doctor,
                form_version: r.form_version,
                answers,
                recorded_by: r.actor,
                recorded_at: r.at,
            })
        })
        .collect()
}

/// The person's current risk and schedule, as the follow-ups left them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Schedule {
    pub risk_grade: Option<i64>,
    pub condition_class: Option<String>,
    pub last_followup_date: Option<NaiveDate>,
    pub next_followup_date: Option<NaiveDate>,
    pub followup_lost: bool,
}

/// The current schedule of person `id` in `scope`.
pub async fn schedule(tx: &mut Tx, scope: &Scope, id: i64) -> anyhow::Result<Option<Schedule>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT risk_grade, condition_class, last_followup_date, next_followup_date, followup_lost FROM persons \
         WHERE id = $1 AND residence_region >= $2 AND residence_region < $3{}",
        scope.rows_sql("")
    );
    Ok(on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?)
}

/// The `followup_quarters` rows computed from the follow-ups that match `cond` (over `f`): each
/// follow-up counts in its quarter and the three after it (whose 12 months hold it).
fn quarters_select(backend: Backend, cond: &str) -> String {
    let fq = backend.quarter_start_of("f.visit_date");
    let qs = backend.plus_months(&fq, "3 * k.n");
    format!(
        "SELECT person_id, qs, \
                SUM(CASE WHEN lost OR died THEN 0 ELSE 1 END), \
                SUM(CASE WHEN NOT (lost OR died) AND fq = qs THEN 1 ELSE 0 END), \
                SUM(CASE WHEN lost AND fq = qs THEN 1 ELSE 0 END), \
                SUM(CASE WHEN NOT (lost OR died) AND fq = qs AND condition_class = 'unstable' THEN 1 ELSE 0 END), \
                substr(MAX(CASE WHEN lost OR died THEN NULL ELSE CAST(visit_date AS TEXT) || ':' || COALESCE(adherence, '') END), 12) \
         FROM (SELECT f.person_id, f.lost, f.died, f.condition_class, f.adherence, f.visit_date, {fq} AS fq, {qs} AS qs \
               FROM followups f CROSS JOIN (SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) k WHERE {cond}) x \
         GROUP BY person_id, qs"
    )
}

const QUARTER_COLS: &str = "person_id, quarter_start, seen_year, seen, lost, unstable, adherence";

/// Recompute person `id`'s `followup_quarters` rows (after a follow-up is recorded).
pub async fn refresh_quarters(tx: &mut Tx, id: i64) -> anyhow::Result<()> {
    on_tx!(tx, c => sqlx::query("DELETE FROM followup_quarters WHERE person_id = $1").bind(id).execute(&mut **c).await.map(drop))?;
    let insert = format!(
        "INSERT INTO followup_quarters ({QUARTER_COLS}) {}",
        quarters_select(tx.backend(), "f.person_id = $1")
    );
    on_tx!(tx, c => sqlx::query(&insert).bind(id).execute(&mut **c).await.map(drop))?;
    Ok(())
}

/// Recompute every row of `followup_quarters` (after a bulk load of follow-ups).
pub async fn rebuild_quarters(tx: &mut Tx) -> anyhow::Result<()> {
    on_tx!(tx, c => sqlx::query("DELETE FROM followup_quarters").execute(&mut **c).await.map(drop))?;
    let insert = format!(
        "INSERT INTO followup_quarters ({QUARTER_COLS}) {}",
        quarters_select(tx.backend(), "1 = 1")
    );
    on_tx!(tx, c => sqlx::query(&insert).execute(&mut **c).await.map(drop))?;
    Ok(())
}
