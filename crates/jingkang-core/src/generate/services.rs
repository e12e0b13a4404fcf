//! Rehabilitation-service history for the persons in service (`jingkang gen services`): a plan
//! each (some with a second version), an SDSS every six months or so, and about 20 service
//! contacts a person a year delivered as group sessions of up to 8 of the same township — the
//! data 规范服务 is computed from, at the scale of the benchmark (12 M contacts for a million
//! persons). One transaction; refused when service records exist.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, Months, NaiveDate};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::on_tx;
use crate::store::bulk::{self, Col, Rows};
use crate::store::{Actor, Backend, Db, audit, open_change_set, sealing};

/// What [`write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServicesSummary {
    pub persons: u64,
    pub plans: u64,
    pub assessments: u64,
    pub sessions: u64,
    pub contacts: u64,
}

/// The database already holds service records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the database already holds {0} service sessions")]
pub struct ServicesExist(pub i64);

const ITEMS: &[&str] = &[
    "medication",
    "relapse_prevention",
    "living_skills",
    "social_skills",
    "group_activity",
    "community_integration",
    "peer_support",
];
const STAFF: &[&str] = &["李社工", "王社工", "张社工", "刘社工", "陈社工"];
const SDSS_KEYS: [&str; 10] = [
    "work",
    "marriage",
    "parenting",
    "withdrawal",
    "outside_activity",
    "home_activity",
    "family_role",
    "self_care",
    "interest",
    "responsibility",
];

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// Generate `years` of service history up to `until` for the persons registered or in service.
pub async fn write(
    db: &Db,
    seed: u64,
    years: u32,
    until: NaiveDate,
    progress: Option<&(dyn Fn(u64) + Sync)>,
) -> anyhow::Result<ServicesSummary> {
    let start = first_of_month(
        until
            .checked_sub_months(Months::new(12 * years))
            .unwrap_or(until),
    );
    let mut tx = db.begin().await?;
    let keys = tx.keys.clone();
    let existing: i64 = on_tx!(&mut tx, c => sqlx::query_scalar("SELECT count(*) FROM service_sessions").fetch_one(&mut **c).await)?;
    if existing > 0 {
        return Err(ServicesExist(existing).into());
    }
    // Township by township, and within it site by site: a group session is held by the site whose
    // care its participants are in (no site: the township's own workers).
    let persons: Vec<(i64, String, Option<i64>)> = on_tx!(&mut tx, c => sqlx::query_as(
        "SELECT id, substr(residence_region, 1, 9), site_id FROM persons WHERE registration_state IN ('registered', 'in_service') \
         ORDER BY substr(residence_region, 1, 9), site_id, residence_region, id")
        .fetch_all(&mut **c).await)?;
    let actor = Actor::system();
    let change = open_change_set(&mut tx, &actor, "gen-services", "generate").await?;
    let mut next_session: i64 = on_tx!(&mut tx, c => sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM service_sessions").fetch_one(&mut **c).await)?;
    let plan_cols = [
        ("person_id", Col::Int),
        ("change_id", Col::Int),
        ("version", Col::Int),
        ("goals", Col::Text),
        ("items", Col::Text),
        ("responsible", Col::Text),
        ("starts_on", Col::Date),
        ("review_on", Col::Date),
        ("signed_on", Col::Date),
        ("signed_by", Col::Text),
    ];
    let as_cols = [
        ("person_id", Col::Int),
        ("change_id", Col::Int),
        ("instrument", Col::Text),
        ("version", Col::Text),
        ("domain", Col::Text),
        ("assessed_on", Col::Date),
        ("assessor", Col::Text),
        ("answers", Col::Text),
        ("total", Col::Int),
        ("band", Col::Text),
        ("flag", Col::Bool),
    ];
    let ss_cols = [
        ("id", Col::Int),
        ("change_id", Col::Int),
        ("item", Col::Text),
        ("mode", Col::Text),
        ("service_date", Col::Date),
        ("start_time", Col::Text),
        ("end_time", Col::Text),
        ("staff", Col::Text),
        ("region", Col::Text),
        ("participants", Col::Int),
        ("notes", Col::Text),
        ("institution_id", Col::Int),
    ];
    let at_cols = [
        ("session_id", Col::Int),
        ("person_id", Col::Int),
        ("service_date", Col::Date),
    ];
    let rv_cols = [("person_id", Col::Int), ("review_on", Col::Date)];
    let ddl = match tx.backend() {
        Backend::Sqlite => {
            "CREATE TEMP TABLE gen_plan_review (person_id INTEGER PRIMARY KEY, review_on TEXT NOT NULL)"
        }
        Backend::Postgres => {
            "CREATE TEMP TABLE gen_plan_review (person_id BIGINT PRIMARY KEY, review_on DATE NOT NULL)"
        }
    };
    on_tx!(&mut tx, c => sqlx::query(ddl).execute(&mut **c).await.map(drop))?;
    let mut months = Vec::new();
    let mut m = start;
    while m <= until {
        months.push(m);
        m = m
            .checked_add_months(Months::new(1))
            .unwrap_or(until + Duration::days(1));
    }
    let mut summary = ServicesSummary::default();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Township (and site) by township: its persons' plans and assessments, then its sessions
    // month by month.
    let mut at = 0;
    while at < persons.len() {
        let (town, site) = (persons[at].1.clone(), persons[at].2);
        let end = persons[at..]
            .iter()
            .position(|p| p.1 != town || p.2 != site)
            .map_or(persons.len(), |n| at + n);
        let group: Vec<i64> = persons[at..end].iter().map(|p| p.0).collect();
        at = end;
        let (mut pl, mut asr, mut ss, mut att) =
            (Rows::new(), Rows::new(), Rows::new(), Rows::new());
        let mut rv = Rows::new();
        for &pid in &group {
            if rng.random_bool(0.85) {
                let first = start + Duration::days(rng.random_range(0..120));
                let mut versions = vec![first];
                let second = first.checked_add_months(Months::new(6)).unwrap_or(first);
                if second <= until && rng.random_bool(0.7) {
                    versions.push(second);
                }
                for (v, s) in versions.iter().enumerate() {
                    let r = s.checked_add_months(Months::new(6)).unwrap_or(*s);
                    pl.row()
                        .int(Some(pid))
                        .int(Some(change))
                        .int(Some(v as i64 + 1))
                        .text(Some("规律服药，提高生活自理和社交能力"))
                        .text(Some(r#"[{"item":"social_skills","per_month":2}]"#))
                        .text(Some(STAFF.choose(&mut rng).copied().unwrap_or("李社工")))
                        .date(*s)
                        .date(r)
                        .date(*s)
                        .text(Some("guardian"));
                    pl.end_row();
                    summary.plans += 1;
                }
                if let Some(last) = versions.last() {
                    rv.row()
                        .int(Some(pid))
                        .date(last.checked_add_months(Months::new(6)).unwrap_or(*last));
                    rv.end_row();
                }
            }
            let mut day = start + Duration::days(rng.random_range(0..60));
            while day <= until {
                let mut answers = BTreeMap::new();
                let mut total = 0;
                for k in SDSS_KEYS {
                    let v: i64 = if rng.random_bool(0.7) {
                        0
                    } else {
                        rng.random_range(1..=2)
                    };
                    total += v;
                    answers.insert(k, v.to_string());
                }
                let (band, flag) = if total >= 2 {
                    ("有社会功能缺陷", true)
                } else {
                    ("无明显社会功能缺陷", false)
                };
                asr.row()
                    .int(Some(pid))
                    .int(Some(change))
                    .text(Some("sdss"))
                    .text(Some("1"))
                    .text(Some("social_function"))
                    .date(day)
                    .text(Some(STAFF.choose(&mut rng).copied().unwrap_or("李社工")))
                    .text(Some(&keys.seal(
                        sealing::ASSESSMENT_ANSWERS,
                        &serde_json::to_string(&answers)?,
                    )?))
                    .int(Some(total))
                    .text(Some(band))
                    .bool(flag);
                asr.end_row();
                summary.assessments += 1;
                day += Duration::days(rng.random_range(150..220));
            }
        }
        for month in &months {
            // Contacts this month: 0 to 3 a person, about 1.7 on average; the k-th contact of each
            // person goes to the k-th round, so a session never holds anyone twice.
            let mut rounds: Vec<Vec<i64>> = vec![Vec::new(); 3];
            for &pid in &group {
                let k = match rng.random_range(0..10) {
                    0 => 0,
                    1..=3 => 1,
                    4..=7 => 2,
                    _ => 3,
                };
                for r in rounds.iter_mut().take(k) {
                    r.push(pid);
                }
            }
            let last_day = (month.checked_add_months(Months::new(1)).unwrap_or(*month)
                - Duration::days(1))
            .min(until);
            let span = (last_day - *month).num_days().max(0);
            for mut round in rounds {
                round.shuffle(&mut rng);
                for chunk in round.chunks(8) {
                    next_session += 1;
                    let date = *month + Duration::days(rng.random_range(0..=span));
                    ss.row()
                        .int(Some(next_session))
                        .int(Some(change))
                        .text(Some(
                            ITEMS.choose(&mut rng).copied().unwrap_or("group_activity"),
                        ))
                        .text(Some(if chunk.len() > 1 {
                            "institution"
                        } else {
                            "home"
                        }))
                        .date(date)
                        .text(Some("09:00"))
                        .text(Some("10:30"))
                        .text(Some(STAFF.choose(&mut rng).copied().unwrap_or("李社工")))
                        .text(Some(&town))
                        .int(Some(chunk.len() as i64))
                        .text(None)
                        .int(site);
                    ss.end_row();
                    for &pid in chunk {
                        att.row().int(Some(next_session)).int(Some(pid)).date(date);
                        att.end_row();
                        summary.contacts += 1;
                    }
                    summary.sessions += 1;
                }
            }
        }
        bulk::insert(&mut tx, "rehab_plans", &plan_cols, pl).await?;
        bulk::insert(&mut tx, "assessments", &as_cols, asr).await?;
        bulk::insert(&mut tx, "service_sessions", &ss_cols, ss).await?;
        bulk::insert(&mut tx, "service_attendance", &at_cols, att).await?;
        bulk::insert(&mut tx, "gen_plan_review", &rv_cols, rv).await?;
        summary.persons += group.len() as u64;
        if let Some(p) = progress {
            p(summary.persons);
        }
    }
    on_tx!(&mut tx, c => sqlx::query(
        "UPDATE persons SET plan_review_on = g.review_on FROM gen_plan_review g WHERE g.person_id = persons.id").execute(&mut **c).await.map(drop))?;
    on_tx!(&mut tx, c => sqlx::query("DROP TABLE gen_plan_review").execute(&mut **c).await.map(drop))?;
    let month = tx.backend().month_of("service_date");
    let rebuild = format!(
        "INSERT INTO service_months (person_id, month, contacts) SELECT person_id, {month}, COUNT(*) FROM service_attendance GROUP BY person_id, {month}"
    );
    on_tx!(&mut tx, c => sqlx::query("DELETE FROM service_months").execute(&mut **c).await.map(drop))?;
    on_tx!(&mut tx, c => sqlx::query(&rebuild).execute(&mut **c).await.map(drop))?;
    crate::store::standard::rebuild_quarters(&mut tx).await?;
    if tx.backend() == Backend::Postgres {
        on_tx!(&mut tx, c => sqlx::query("SELECT setval(pg_get_serial_sequence('service_sessions', 'id'), GREATEST((SELECT MAX(id) FROM service_sessions), 1))")
            .execute(&mut **c).await.map(drop))?;
    }
    audit::record(&mut tx, &actor, "gen.services", None, serde_json::json!({"persons": summary.persons, "sessions": summary.sessions, "contacts": summary.contacts})).await?;
    tx.commit().await?;
    Ok(summary)
}
