//! Test helpers: a fresh database on each backend, a small region tree, roster files.
//!
//! Every backend-neutral test runs on a temp SQLite file and, when `JINGKANG_TEST_DATABASE_URL`
//! names a PostgreSQL server, on a fresh schema there too. Under `CI=true` the PostgreSQL URL is
//! mandatory, so CI can never silently skip the PostgreSQL half.

#![allow(dead_code, clippy::unwrap_used)]

use std::str::FromStr;

use jingkang_core::regions::{self, RegionTree};
use jingkang_core::store::Db;
use sqlx::Connection;
use sqlx::postgres::PgConnectOptions;

pub struct TestDb {
    pub db: Db,
    pub tree: RegionTree,
    _dir: Option<tempfile::TempDir>,
}

/// Regions of 重庆 (and one township elsewhere) — enough for the tests, fast to install.
pub async fn install_regions(db: &Db) -> RegionTree {
    let all = regions::embedded_regions().expect("embedded regions");
    let subset: Vec<_> = all
        .into_iter()
        .filter(|r| r.code.starts_with("50") || r.code.starts_with("11"))
        .collect();
    let mut tx = db.begin().await.expect("begin");
    jingkang_core::store::regions::upsert(&mut tx, &subset)
        .await
        .expect("install regions");
    tx.commit().await.expect("commit");
    jingkang_core::store::regions::load_tree(db, false)
        .await
        .expect("load tree")
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let db = Db::connect(&url)
        .await
        .expect("connect sqlite")
        .with_keys(test_keys());
    let tree = install_regions(&db).await;
    TestDb {
        db,
        tree,
        _dir: Some(dir),
    }
}

/// A fresh SQLite database migrated only up to `version`, without regions.
pub async fn sqlite_at(version: i64) -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let db = Db::connect_without_migrating(&url)
        .await
        .expect("connect sqlite")
        .with_keys(test_keys());
    db.migrate_up_to(version).await.expect("migrate");
    (db, dir)
}

/// A fresh PostgreSQL schema migrated only up to `version`, without regions.
/// (`i64::MAX`: every migration, with the data steps that follow them.)
pub async fn postgres_at(version: i64) -> Option<Db> {
    let url = postgres_url()?;
    let schema = format!("t_{}", rand_suffix());
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .expect("connect postgres");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .expect("create schema");
    conn.close().await.ok();
    let opts = PgConnectOptions::from_str(&url)
        .expect("pg url")
        .options([("search_path", schema.as_str())]);
    let db = Db::connect_postgres(opts)
        .await
        .expect("pool")
        .with_keys(test_keys());
    if version == i64::MAX {
        db.migrate().await.expect("migrate");
    } else {
        db.migrate_up_to(version).await.expect("migrate");
    }
    Some(db)
}

pub fn postgres_url() -> Option<String> {
    match std::env::var("JINGKANG_TEST_DATABASE_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "CI=true but JINGKANG_TEST_DATABASE_URL is not set: the PostgreSQL half of the suite must run in CI"
                );
            }
            eprintln!("JINGKANG_TEST_DATABASE_URL not set: PostgreSQL variant not run");
            None
        }
    }
}

/// A fresh schema on the test server, used through `search_path`.
pub async fn postgres() -> Option<TestDb> {
    let db = postgres_at(i64::MAX).await?;
    let tree = install_regions(&db).await;
    Some(TestDb {
        db,
        tree,
        _dir: None,
    })
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        t % 1_000_000_000,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// Run each named `async fn name(t: TestDb)` on SQLite and on PostgreSQL.
#[allow(unused_macros)]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::common::sqlite().await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(t) = crate::common::postgres().await {
                    super::$name(t).await;
                }
            }
        }
    )* };
}

/// A valid ID number with the given first 17 characters' parts.
pub fn id(prefix6: &str, birth: &str, seq3: &str) -> String {
    let first17 = format!("{prefix6}{birth}{seq3}");
    format!("{first17}{}", jingkang_core::domain::check_char(&first17))
}

/// Write a roster .xlsx the way a clerk lays it out: title, 填报单位, header on row 3, data, 合计, 填表人.
/// Each data row is 11 text cells after 序号 (empty strings are left blank).
pub fn write_roster_xlsx(path: &std::path::Path, rows: &[[&str; 11]]) {
    use rust_xlsxwriter::Workbook;
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "綦江区万盛街道精神障碍患者花名册")
        .unwrap();
    ws.write_string(1, 0, "填报单位：万盛街道").unwrap();
    let header = [
        "序号",
        "镇街",
        "姓名",
        "性别",
        "年龄",
        "身份证号",
        "残疾证号",
        "残疾等级",
        "家庭住址",
        "监护人",
        "监护人电话",
        "备注",
    ];
    for (c, h) in header.iter().enumerate() {
        ws.write_string(2, c as u16, *h).unwrap();
    }
    for (i, row) in rows.iter().enumerate() {
        let r = 3 + i as u32;
        ws.write_number(r, 0, (i + 1) as f64).unwrap();
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                ws.write_string(r, (c + 1) as u16, *v).unwrap();
            }
        }
    }
    let end = 3 + rows.len() as u32;
    ws.write_string(end, 0, "合计").unwrap();
    ws.write_string(end + 1, 0, "填表人：").unwrap();
    wb.save(path).unwrap();
}

pub fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

/// One person, 张三 of 万盛街道, imported through the roster importer; returns the person's id.
pub async fn one_person(t: &TestDb) -> i64 {
    use jingkang_core::import::{ImportOptions, import_roster};
    use jingkang_core::store::Actor;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.xlsx");
    let a = id("500110", "19900101", "123");
    write_roster_xlsx(
        &path,
        &[[
            "万盛街道",
            "张三",
            "男",
            "36",
            &a,
            "",
            "",
            "新华路12号",
            "张大山",
            "13812345678",
            "",
        ]],
    );
    let actor = Actor::user("tester");
    let opts = ImportOptions {
        county: "500110",
        dry_run: false,
        actor: &actor,
        source: "test",
        today: today(),
        progress: None,
    };
    import_roster(&t.db, &t.tree, &path, &opts).await.unwrap();
    jingkang_core::on_pool!(&t.db, p => sqlx::query_scalar("SELECT id FROM persons").fetch_one(p).await).unwrap()
}

/// `n` persons in 万盛街道 (imported from a roster), their ids in order.
#[allow(dead_code)]
pub async fn some_persons(t: &TestDb, n: usize) -> Vec<i64> {
    use jingkang_core::import::{ImportOptions, import_roster};
    use jingkang_core::store::Actor;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.xlsx");
    let ids: Vec<String> = (0..n)
        .map(|i| id("500110", "19900101", &format!("{:03}", 100 + 2 * i)))
        .collect();
    let names: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "参加者{}",
                "一二三四五六七八九十".chars().nth(i % 10).unwrap_or('甲')
            )
        })
        .collect();
    let rows: Vec<[&str; 11]> = (0..n)
        .map(|i| {
            [
                "万盛街道",
                names[i].as_str(),
                "女",
                "36",
                ids[i].as_str(),
                "",
                "",
                "新华路1号",
                "",
                "",
                "",
            ]
        })
        .collect();
    write_roster_xlsx(&path, &rows);
    let actor = Actor::user("tester");
    let opts = ImportOptions {
        county: "500110",
        dry_run: false,
        actor: &actor,
        source: "test",
        today: today(),
        progress: None,
    };
    import_roster(&t.db, &t.tree, &path, &opts).await.unwrap();
    jingkang_core::on_pool!(&t.db, p => sqlx::query_scalar("SELECT id FROM persons ORDER BY id").fetch_all(p).await).unwrap()
}

/// Record an agreement of `kind` for person `pid`, signed on `from` and valid until `until`.
#[allow(dead_code)]
pub async fn sign_agreement(
    t: &TestDb,
    scope: &jingkang_core::regions::Scope,
    pid: i64,
    kind: jingkang_core::care::agreement::AgreementKind,
    (from, until): (&str, &str),
) {
    let a = jingkang_core::care::agreement::Agreement {
        kind,
        signed_on: from.parse().unwrap(),
        person_signed: true,
        guardian_name: None,
        valid_until: until.parse().unwrap(),
    };
    let mut tx = t.db.begin().await.unwrap();
    jingkang_core::store::agreements::record(
        &mut tx,
        scope,
        &jingkang_core::store::Actor::user("clerk"),
        pid,
        &a,
        None,
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
}

/// Apply registration `event` to person `pid` as a clerk on `day` (`YYYY-MM-DD`): the day the
/// change takes effect. Starting or resuming service first records the consent
/// and service agreement it needs (valid for a year from `day`), as a clerk would.
#[allow(dead_code)]
pub async fn transition_on(
    t: &TestDb,
    scope: &jingkang_core::regions::Scope,
    pid: i64,
    day: &str,
    event: jingkang_core::care::registration::Event,
) {
    use jingkang_core::care::agreement::AgreementKind;
    use jingkang_core::care::registration::Event;
    use jingkang_core::store::{Actor, registration};
    if matches!(event, Event::StartService | Event::Resume) {
        let from: chrono::NaiveDate = day.parse().unwrap();
        let until = (from + chrono::Duration::days(365)).to_string();
        for kind in AgreementKind::ALL {
            sign_agreement(t, scope, pid, kind, (day, &until)).await;
        }
    }
    let rule = jingkang_core::care::eligibility::Rule::default_rule().unwrap();
    let gate = registration::Gate {
        rule: &rule,
        today: day.parse().unwrap(),
        no_serious_disease: true,
    };
    let mut tx = t.db.begin().await.unwrap();
    registration::transition(&mut tx, scope, &Actor::user("clerk"), pid, &event, &gate)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
}

/// Registration by exception (the conditions checked elsewhere), for tests about dates.
#[allow(dead_code)]
pub fn register_by_exception() -> jingkang_core::care::registration::Event {
    jingkang_core::care::registration::Event::Register {
        exception: Some("测试：条件另行核实".into()),
    }
}

/// Import persons (name, township written as in a roster, ICD-10 code or empty) into 500110 as
/// women born 1 January `birth_year` with ID sequences from `seq` on, then set each one's
/// diagnosis and `known_since` (`known(name)`). Their ids by name.
#[allow(dead_code)]
pub async fn import_named(
    t: &TestDb,
    persons: &[(&'static str, &str, &str)],
    (birth_year, seq): (u32, usize),
    known: impl Fn(&str) -> chrono::NaiveDate,
) -> std::collections::BTreeMap<&'static str, i64> {
    use jingkang_core::import::{ImportOptions, import_roster};
    use jingkang_core::store::Actor;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.xlsx");
    let ids: Vec<String> = (0..persons.len())
        .map(|i| {
            id(
                "500110",
                &format!("{birth_year}0101"),
                &format!("{:03}", seq + 2 * i),
            )
        })
        .collect();
    let age = (2026 - birth_year).to_string();
    let rows: Vec<[&str; 11]> = persons
        .iter()
        .zip(&ids)
        .map(|((n, town, _), id)| {
            [
                *town,
                *n,
                "女",
                age.as_str(),
                id.as_str(),
                "",
                "",
                "新华路1号",
                "",
                "",
                "",
            ]
        })
        .collect();
    write_roster_xlsx(&path, &rows);
    let actor = Actor::user("tester");
    let opts = ImportOptions {
        county: "500110",
        dry_run: false,
        actor: &actor,
        source: "test",
        today: today(),
        progress: None,
    };
    let r = import_roster(&t.db, &t.tree, &path, &opts).await.unwrap();
    assert_eq!(r.created as usize, persons.len());
    let mut pid = std::collections::BTreeMap::new();
    for (name, _, dx) in persons {
        let id: i64 = jingkang_core::on_pool!(&t.db, p => sqlx::query_scalar("SELECT id FROM persons WHERE name = $1").bind(*name).fetch_one(p).await).unwrap();
        jingkang_core::on_pool!(&t.db, p => sqlx::query("UPDATE persons SET known_since = $1, diagnosis_code = $2 WHERE id = $3")
            .bind(known(name)).bind((!dx.is_empty()).then_some(*dx)).bind(id).execute(p).await.map(drop)).unwrap();
        pid.insert(*name, id);
    }
    reseal(&t.db).await;
    pid
}

/// A plan from 1 July 2026 (signed by the guardian) and an SDSS on 15 July: with a contact every
/// month of the quarter, 规范服务 in 2026Q3.
#[allow(dead_code)]
pub async fn plan_and_assess(t: &TestDb, scope: &jingkang_core::regions::Scope, pid: i64) {
    use jingkang_core::care::instrument::Catalogue;
    use jingkang_core::care::service::ServiceCatalogue;
    use jingkang_core::store::plans::{NewPlan, PlanItem};
    use jingkang_core::store::{Actor, assessments, plans};
    let d = |s: &str| s.parse::<chrono::NaiveDate>().unwrap();
    let actor = Actor::user("worker");
    let mut tx = t.db.begin().await.unwrap();
    let plan = NewPlan {
        goals: "规律服药".into(),
        items: vec![PlanItem {
            item: "social_skills".into(),
            per_month: 1,
        }],
        responsible: "李社工".into(),
        starts_on: d("2026-07-01"),
        review_on: None,
        signed_on: Some(d("2026-07-01")),
        signed_by: Some("guardian".into()),
    };
    plans::record(
        &mut tx,
        scope,
        &actor,
        &ServiceCatalogue::shipped().unwrap(),
        pid,
        &plan,
    )
    .await
    .unwrap()
    .unwrap();
    let answers = [
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
    ]
    .into_iter()
    .map(|k| (k.to_string(), "0".to_string()))
    .collect();
    let new = assessments::NewAssessment {
        assessed_on: d("2026-07-15"),
        assessor: "李社工".into(),
        answers,
    };
    assessments::record(
        &mut tx,
        scope,
        &actor,
        Catalogue::shipped().unwrap().get("sdss").unwrap(),
        pid,
        &new,
        today(),
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
}

/// A follow-up seen on `day` with risk grade `risk` and adherence `adherence`; or, with
/// `risk` "lost", an attempt that found nobody.
#[allow(dead_code)]
pub async fn visit(
    t: &TestDb,
    scope: &jingkang_core::regions::Scope,
    pid: i64,
    day: &str,
    risk: &str,
    adherence: &str,
) {
    use jingkang_core::care::followup::{self, FormDef};
    use jingkang_core::store::{Actor, followups};
    let mut m: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut put = |k: &str, v: &str| {
        m.insert(k.to_string(), vec![v.to_string()]);
    };
    put("visit_date", day);
    put("doctor", "王医生");
    if risk == "lost" {
        put("mode", "phone");
        put("lost_reason", "migrant_work");
    } else {
        for (k, v) in [
            ("mode", "home"),
            ("risk_grade", risk),
            ("symptom_level", "none"),
            ("insight", "complete"),
            ("social.self_care", "good"),
            ("social.housework", "good"),
            ("social.work", "good"),
            ("social.learning", "good"),
            ("social.interpersonal", "good"),
            ("adherence", adherence),
        ] {
            put(k, v);
        }
    }
    let form = FormDef::shipped().unwrap();
    let f = followup::validate(form, &m, today()).unwrap();
    let mut tx = t.db.begin().await.unwrap();
    followups::record(
        &mut tx,
        scope,
        &Actor::user("doctor"),
        pid,
        form,
        &f,
        followups::SameDay::Ask,
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
}

/// A service session of `item` on each of `days`, attended by `pids`.
#[allow(dead_code)]
pub async fn serve_all(
    t: &TestDb,
    scope: &jingkang_core::regions::Scope,
    pids: &[i64],
    item: &str,
    days: &[&str],
) {
    use jingkang_core::care::service::{ServiceCatalogue, SessionInput, validate};
    use jingkang_core::store::{Actor, services};
    let input = SessionInput {
        item: item.into(),
        mode: "home".into(),
        dates: days.iter().map(|s| s.to_string()).collect(),
        start: "09:00".into(),
        end: "10:00".into(),
        staff: "李社工".into(),
        participants: pids.to_vec(),
        notes: String::new(),
    };
    let mut tx = t.db.begin().await.unwrap();
    services::record(
        &mut tx,
        scope,
        &Actor::user("worker"),
        &validate(&ServiceCatalogue::shipped().unwrap(), &input, today()).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
}

/// A fresh master key's keys, as a first start creates one.
pub fn test_keys() -> jingkang_core::secrets::Keys {
    jingkang_core::secrets::Keys::of(&jingkang_core::secrets::MasterKey::generate())
}

/// The registry id of the person with this ID number (through its blind index: the number is
/// stored sealed).
#[allow(dead_code)]
pub async fn person_by_id_number(db: &Db, id_number: &str) -> i64 {
    let hash = db
        .keys()
        .index(jingkang_core::secrets::Index::IdNumber, id_number)
        .unwrap();
    jingkang_core::on_pool!(db, p => sqlx::query_scalar("SELECT id FROM persons WHERE id_hash = $1")
        .bind(&hash).fetch_one(p).await)
    .unwrap()
}

/// Seal what a test wrote in the clear with plain SQL (as the migration step does for a database
/// from before encryption), with the blind indexes.
#[allow(dead_code)]
pub async fn reseal(db: &Db) {
    jingkang_core::store::sealing::seal_pending(db, jingkang_core::store::sealing::BATCH, None)
        .await
        .unwrap();
}

/// A stored value of a sealed column `label` (`persons.phone`), opened.
#[allow(dead_code)]
pub async fn opened(db: &Db, label: &'static str, sql: &str, id: i64) -> Option<String> {
    let stored: Option<String> =
        jingkang_core::on_pool!(db, p => sqlx::query_scalar(sql).bind(id).fetch_one(p).await)
            .unwrap();
    db.keys().open_opt(label, stored.as_deref()).unwrap()
}

/// Each of `slots` as a form filled in as text (what a referral carries).
#[allow(dead_code)]
pub fn filled(slots: &[String]) -> Vec<jingkang_core::app::referrals::Carried> {
    slots
        .iter()
        .map(|s| jingkang_core::app::referrals::Carried::text(s, &format!("{s}：内容见此")))
        .collect()
}

/// A sending unit's contact that passes the checks.
#[allow(dead_code)]
pub fn contact() -> jingkang_core::app::referrals::Contact {
    jingkang_core::app::referrals::Contact {
        unit: "綦江区人民医院".into(),
        name: "王医生".into(),
        phone: "023-48281234".into(),
    }
}
