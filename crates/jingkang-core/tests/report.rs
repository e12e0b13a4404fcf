//! 附件2 against a hand-built data set, on both backends: two townships (a 街道 and a 镇), every
//! column's value worked out by hand below, as of the quarter's end — a person registered after
//! it is not counted, one who died during it is out of the registry, one imported after it does
//! not exist yet; institutions, staff and contracts by their dates.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use common::{TestDb, register_by_exception as register, today, transition_on as on};
use jingkang_core::care::institution::InstitutionRules;
use jingkang_core::care::registration::{CloseReason, Event};
use jingkang_core::care::service::{ServiceCatalogue, SessionInput, validate};
use jingkang_core::care::standard::{Period, StandardRule};
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::report::{Cell, Definition, compute};
use jingkang_core::store::institutions::{NewInstitution, NewQualification, NewStaff};
use jingkang_core::store::{Actor, contracts, institutions, services};

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// The persons, by name: township, diagnosis.
const PERSONS: [(&str, &str, &str); 7] = [
    ("甲一", "万盛街道", "F20.0"),
    ("甲二", "万盛街道", "F32.1"),
    ("甲三", "万盛街道", "F25"),
    ("甲四", "万盛街道", "F31.2"),
    ("甲五", "万盛街道", "F20"),
    ("乙一", "黑山镇", ""),
    ("乙二", "黑山镇", "f20.3"),
];

pub async fn hand_built(t: &TestDb) -> BTreeMap<&'static str, i64> {
    common::import_named(t, &PERSONS, (1990, 200), |name| {
        if name == "甲五" {
            today()
        } else {
            d("2026-01-01")
        }
    })
    .await
}

/// 规范服务 in 2026Q3: a plan, an assessment and a contact on each of `months`.
async fn standard_service(t: &TestDb, scope: &Scope, pid: i64, months: &[&str]) {
    common::plan_and_assess(t, scope, pid).await;
    let actor = Actor::user("worker");
    let mut tx = t.db.begin().await.unwrap();
    let input = SessionInput {
        item: "social_skills".into(),
        mode: "institution".into(),
        dates: months.iter().map(|s| s.to_string()).collect(),
        start: "09:00".into(),
        end: "10:00".into(),
        staff: "李社工".into(),
        participants: vec![pid],
        notes: String::new(),
    };
    services::record(
        &mut tx,
        scope,
        &actor,
        &validate(&ServiceCatalogue::shipped().unwrap(), &input, today()).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
}

async fn fujian2_by_hand(t: TestDb) {
    let p = hand_built(&t).await;
    let county = t.tree.get("500110").unwrap();
    let scope = Scope::of(county);
    let town = |name: &str| {
        t.tree
            .townships_under("500110")
            .into_iter()
            .find(|r| r.name == name)
            .unwrap()
            .code
            .clone()
    };
    let (a, b) = (town("万盛街道"), town("黑山镇"));
    on(&t, &scope, p["甲一"], "2026-08-01", register()).await;
    on(&t, &scope, p["甲一"], "2026-08-05", Event::StartService).await;
    on(&t, &scope, p["甲二"], "2026-03-01", register()).await;
    on(
        &t,
        &scope,
        p["甲三"],
        "2026-05-01",
        Event::Decline {
            reason: "本人不愿参加".into(),
        },
    )
    .await;
    on(&t, &scope, p["甲四"], "2026-02-01", register()).await;
    on(
        &t,
        &scope,
        p["甲四"],
        "2026-09-10",
        Event::Close {
            reason: CloseReason::Died,
            note: String::new(),
        },
    )
    .await;
    on(&t, &scope, p["甲五"], "2026-11-23", register()).await;
    on(&t, &scope, p["乙一"], "2026-10-05", register()).await;
    on(&t, &scope, p["乙二"], "2026-07-20", register()).await;
    on(&t, &scope, p["乙二"], "2026-07-21", Event::StartService).await;
    standard_service(
        &t,
        &scope,
        p["甲一"],
        &["2026-07-10", "2026-08-10", "2026-09-10"],
    )
    .await;
    standard_service(&t, &scope, p["甲二"], &["2026-07-10", "2026-09-10"]).await;
    standard_service(
        &t,
        &scope,
        p["乙二"],
        &["2026-07-25", "2026-08-25", "2026-09-25"],
    )
    .await;

    let rules = InstitutionRules::shipped().unwrap();
    let civil = Actor::user("civil");
    let site = |name: &str, region: &str, urban: bool, opened: &str| NewInstitution {
        name: name.into(),
        kind: "site".into(),
        urban,
        region: region.into(),
        address: "一号".into(),
        capacity: 20,
        operator: "心翼社工中心".into(),
        operator_code: "91110108551385082Q".into(),
        opened_on: Some(d(opened)),
        status: "operating".into(),
    };
    let mut tx = t.db.begin().await.unwrap();
    let sa = institutions::create(
        &mut tx,
        &scope,
        &civil,
        (&rules, &t.tree),
        &site("甲站", &a, true, "2026-07-15"),
        today(),
    )
    .await
    .unwrap()
    .unwrap();
    institutions::create(
        &mut tx,
        &scope,
        &civil,
        (&rules, &t.tree),
        &site("乙站一", &b, false, "2026-05-01"),
        today(),
    )
    .await
    .unwrap()
    .unwrap();
    institutions::create(
        &mut tx,
        &scope,
        &civil,
        (&rules, &t.tree),
        &site("乙站二", &b, false, "2026-09-01"),
        today(),
    )
    .await
    .unwrap()
    .unwrap();
    let staff = |name: &str, hired: &str, certified: bool| NewStaff {
        institution_id: sa,
        name: name.into(),
        position: "社工".into(),
        hired_on: d(hired),
        qualifications: if certified {
            vec![NewQualification {
                kind: "social_worker".into(),
                number: "SW001".into(),
                issued_on: d("2025-01-01"),
                valid_until: None,
            }]
        } else {
            vec![]
        },
    };
    for (n, h, c) in [
        ("社工一", "2026-07-01", true),
        ("社工二", "2026-07-01", false),
        ("社工三", "2026-10-10", true),
    ] {
        institutions::add_staff(&mut tx, &scope, &civil, &rules, &staff(n, h, c), today())
            .await
            .unwrap()
            .unwrap();
    }
    let contract = contracts::NewContract {
        region: "500110".into(),
        buyer: "綦江区民政局".into(),
        provider: "心翼社工中心".into(),
        provider_code: "91110108551385082Q".into(),
        starts_on: d("2026-01-01"),
        ends_on: d("2026-12-31"),
        budget_yuan: 100_000,
        per_person_yuan: None,
        planned_persons: None,
    };
    contracts::record(&mut tx, &scope, &civil, (&rules, &t.tree), &contract)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();

    let def = Definition::shipped("fujian2").unwrap();
    let q3 = Period::quarter(2026, 3).unwrap();
    let mut tx = t.db.begin_read().await.unwrap();
    let report = compute(
        &mut tx,
        &t.tree,
        (&scope, county),
        &def,
        (&q3, "2026Q3"),
        &StandardRule::shipped().unwrap(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        report.rows.len(),
        t.tree.townships_under("500110").len() + 1,
        "every township has its row, and the county's own level one (the county's contract)"
    );
    assert_eq!(
        (
            report.rows.last().unwrap().region.as_str(),
            report.rows.last().unwrap().name.as_str()
        ),
        ("500110", "区县本级")
    );
    // Every count column's total is the sum of its rows.
    for c in def
        .columns
        .iter()
        .filter(|c| matches!(c.value, jingkang_core::report::Source::Count { .. }))
    {
        let sum: f64 = report
            .rows
            .iter()
            .filter_map(|r| r.columns.get(&c.key).and_then(Cell::number))
            .sum();
        assert_eq!(
            Some(sum),
            report.total.columns.get(&c.key).and_then(Cell::number),
            "column {}",
            c.key
        );
    }
    let row = |code: &str| {
        report
            .rows
            .iter()
            .find(|r| r.region == code)
            .unwrap()
            .columns
            .clone()
    };
    let expect = |v: [Option<f64>; 18]| -> BTreeMap<String, Option<f64>> {
        v.iter()
            .enumerate()
            .map(|(i, x)| ((i + 1).to_string(), *x))
            .collect()
    };
    let numbers = |cols: BTreeMap<String, Cell>| -> BTreeMap<String, Option<f64>> {
        cols.into_iter().map(|(k, c)| (k, c.number())).collect()
    };
    let (n, none) = (|x: f64| Some(x), None);
    // 万盛街道: 甲一 甲二 甲三 in the registry (甲四 died in September, 甲五 came in November);
    // severe 甲一 甲三; registered 甲一 (in service) 甲二; 规范服务 甲一 of 2 = 50 %; declined 甲三;
    // the site opened in July; 甲一 newly registered (urban); two staff employed on 30 September,
    // one certified; the contract is the county's.
    assert_eq!(
        numbers(row(&a)),
        expect([
            n(3.),
            none,
            n(2.),
            n(1.),
            n(2.),
            n(50.),
            n(1.),
            n(1.),
            n(0.),
            n(1.),
            n(0.),
            n(2.),
            n(50.),
            n(2.),
            n(0.),
            none,
            none,
            n(1.)
        ])
    );
    // 黑山镇: 乙一 (registered only in October: pending on the day) and 乙二 (severe, registered
    // in July, 规范服务: 100 %); one rural site opened in the quarter (the other in May).
    assert_eq!(
        numbers(row(&b)),
        expect([
            n(2.),
            none,
            n(1.),
            n(1.),
            n(1.),
            n(100.),
            n(0.),
            n(0.),
            n(1.),
            n(0.),
            n(1.),
            n(1.),
            n(100.),
            n(0.),
            n(0.),
            none,
            none,
            n(0.)
        ])
    );
    // The total: the ratio recomputed (2 of 3 = 66.7 %), not summed; the county's contract counts.
    assert_eq!(
        numbers(report.total.columns.clone()),
        expect([
            n(5.),
            none,
            n(3.),
            n(2.),
            n(3.),
            n(66.7),
            n(1.),
            n(1.),
            n(1.),
            n(1.),
            n(1.),
            n(3.),
            n(66.7),
            n(2.),
            n(1.),
            none,
            none,
            n(1.)
        ])
    );
    assert_eq!(report.total.name, "合计");
    // The official layout, read back by calamine, holds the same figures.
    let bytes = jingkang_core::export::report::to_xlsx(&def, &report).unwrap();
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let sheet = calamine::Reader::worksheet_range(&mut wb, "2026Q3").unwrap();
    let cell = |r: u32, c: u32| {
        sheet
            .get_value((r, c))
            .cloned()
            .unwrap_or(calamine::Data::Empty)
    };
    assert_eq!(
        cell(0, 0),
        calamine::Data::String("綦江区“精康融合行动”推进情况汇总表".into())
    );
    assert_eq!(
        cell(3, 1),
        calamine::Data::String("辖区内精神障碍患者总数".into())
    );
    assert_eq!(
        (1..=18).map(|c| cell(4, c)).collect::<Vec<_>>(),
        (1..=18)
            .map(|n| calamine::Data::Float(n as f64))
            .collect::<Vec<_>>()
    );
    let first = jingkang_core::export::report::FIRST_DATA_ROW;
    for (i, row) in report.rows.iter().chain([&report.total]).enumerate() {
        let r = first + i as u32;
        assert_eq!(cell(r, 0), calamine::Data::String(row.name.clone()));
        for c in 1..=18u32 {
            let got = match cell(r, c) {
                calamine::Data::Float(f) => Some(f),
                calamine::Data::Int(n) => Some(n as f64),
                calamine::Data::Empty => None,
                other => panic!("row {r} column {c}: {other:?}"),
            };
            assert_eq!(
                got,
                row.columns[&c.to_string()].number(),
                "row {} column {c}",
                row.name
            );
        }
    }
    // Scoped: a township's clerk computes only their own row.
    let mut tx = t.db.begin_read().await.unwrap();
    let town_region = t.tree.get(&b).unwrap();
    let mine = compute(
        &mut tx,
        &t.tree,
        (&Scope::of(town_region), town_region),
        &def,
        (&q3, "2026Q3"),
        &StandardRule::shipped().unwrap(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(mine.rows.len(), 1);
    assert_eq!(numbers(mine.rows[0].columns.clone())["1"], Some(2.0));
    assert_eq!(
        numbers(mine.total.columns.clone())["15"],
        Some(0.0),
        "the county's contract is not the township's"
    );
}

backend_tests!(fujian2_by_hand);

async fn filings_are_filled_reviewed_signed_and_then_frozen(t: TestDb) {
    use jingkang_core::app::filings::{self, FilingState, Refusal};
    use jingkang_core::report::diff;
    let p = hand_built(&t).await;
    let county = t.tree.get("500110").unwrap();
    let civil_scope = Scope::of(county);
    let b = t
        .tree
        .townships_under("500110")
        .into_iter()
        .find(|r| r.name == "黑山镇")
        .unwrap()
        .clone();
    let clerk_scope = Scope::of(&b);
    on(&t, &civil_scope, p["乙二"], "2026-07-20", register()).await;
    let def = Definition::shipped("fujian2").unwrap();
    let rule = StandardRule::shipped().unwrap();
    let (clerk, civil) = (Actor::user("clerk"), Actor::user("civil"));
    let day = d("2026-09-28");
    let manual = |pairs: &[(&str, i64)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>()
    };
    let problems = |r: Result<i64, Refusal>| match r {
        Err(Refusal::Problems(p)) => p.into_iter().map(|e| e.code).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    let filings_count = || async {
        on_pool!(&t.db, p => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM report_filings").fetch_one(p).await).unwrap()
    };

    let mut tx = t.db.begin().await.unwrap();
    assert_eq!(
        problems(
            filings::save(
                &mut tx,
                &clerk_scope,
                &clerk,
                &def,
                (&b.code, "2026Q3"),
                &manual(&[("1", 5), ("2", -1), ("99", 1)]),
                None,
                day
            )
            .await
            .unwrap()
        ),
        [
            "filing-column-computed",
            "filing-value-invalid",
            "filing-column-unknown"
        ]
    );
    assert_eq!(
        filings::save(
            &mut tx,
            &clerk_scope,
            &clerk,
            &def,
            ("500110", "2026Q3"),
            &manual(&[]),
            None,
            day
        )
        .await
        .unwrap(),
        Err(Refusal::NotFound),
        "outside the clerk's township"
    );
    tx.commit().await.unwrap();
    assert_eq!(filings_count().await, 0, "refused: nothing written");

    let mut tx = t.db.begin().await.unwrap();
    let id = filings::save(
        &mut tx,
        &clerk_scope,
        &clerk,
        &def,
        (&b.code, "2026Q3"),
        &manual(&[("2", 3), ("16", 1)]),
        None,
        day,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        problems(
            filings::save(
                &mut tx,
                &clerk_scope,
                &clerk,
                &def,
                (&b.code, "2026Q3"),
                &manual(&[("2", 3)]),
                Some(" "),
                day
            )
            .await
            .unwrap()
        ),
        ["filing-name-missing"]
    );
    assert_eq!(
        filings::save(
            &mut tx,
            &clerk_scope,
            &clerk,
            &def,
            (&b.code, "2026Q3"),
            &manual(&[("2", 3), ("16", 1), ("17", 2)]),
            Some("王填报"),
            day
        )
        .await
        .unwrap(),
        Ok(id)
    );
    let change_sets = || async {
        on_pool!(&t.db, p => sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM change_sets").fetch_one(p).await).unwrap()
    };
    assert_eq!(
        problems(
            filings::save(
                &mut tx,
                &clerk_scope,
                &clerk,
                &def,
                (&b.code, "2026Q3"),
                &manual(&[]),
                None,
                day
            )
            .await
            .unwrap()
        ),
        ["filing-not-draft"]
    );
    // 审核: a return needs a reason and sends it back to a draft; then it is filed again and approved.
    assert!(matches!(
        filings::review(&mut tx, &civil_scope, &civil, id, "李审核", false, " ", day)
            .await
            .unwrap(),
        Err(Refusal::Problems(_))
    ));
    filings::review(
        &mut tx,
        &civil_scope,
        &civil,
        id,
        "李审核",
        false,
        "第17列请核实",
        day,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        filings::versions(&mut tx, &civil_scope, "fujian2", &b.code, "2026Q3")
            .await
            .unwrap()[0]
            .state,
        FilingState::Draft
    );
    filings::save(
        &mut tx,
        &clerk_scope,
        &clerk,
        &def,
        (&b.code, "2026Q3"),
        &manual(&[("2", 3), ("16", 1), ("17", 1)]),
        Some("王填报"),
        day,
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        matches!(
            filings::sign(
                &mut tx,
                &civil_scope,
                &civil,
                (&t.tree, &def, &rule),
                id,
                "张负责",
                day
            )
            .await
            .unwrap(),
            Err(Refusal::Problems(_))
        ),
        "not reviewed yet"
    );
    filings::review(&mut tx, &civil_scope, &civil, id, "李审核", true, "", day)
        .await
        .unwrap()
        .unwrap();
    let v1 = filings::sign(
        &mut tx,
        &civil_scope,
        &civil,
        (&t.tree, &def, &rule),
        id,
        "张负责",
        day,
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(v1.rows.len(), 1);
    assert_eq!(
        (
            v1.rows[0].columns["5"],
            v1.rows[0].columns["2"],
            v1.rows[0].columns["17"]
        ),
        (Some(1.0), Some(3.0), Some(1.0))
    );

    // A registration of September entered late: the live figures change, the signed ones do not.
    on(&t, &civil_scope, p["乙一"], "2026-09-20", register()).await;
    let mut tx = t.db.begin().await.unwrap();
    let live = compute(
        &mut tx,
        &t.tree,
        (&clerk_scope, &b),
        &def,
        (&Period::quarter(2026, 3).unwrap(), "2026Q3"),
        &rule,
    )
    .await
    .unwrap();
    assert_eq!(live.rows[0].columns["5"].number(), Some(2.0));
    let stored = filings::versions(&mut tx, &clerk_scope, "fujian2", &b.code, "2026Q3")
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].state, stored[0].snapshot.as_ref()),
        (FilingState::Signed, Some(&v1)),
        "frozen"
    );
    assert_eq!(
        (
            stored[0].filled_by.as_deref(),
            stored[0].reviewed_by.as_deref(),
            stored[0].signed_by.as_deref(),
            stored[0].signed_on
        ),
        (Some("王填报"), Some("李审核"), Some("张负责"), Some(day))
    );
    tx.commit().await.unwrap();
    // A refusal writes nothing, not even a change set (it commits here, as the web's writer does).
    let before = change_sets().await;
    let mut tx = t.db.begin().await.unwrap();
    assert_eq!(
        problems(
            filings::save(
                &mut tx,
                &clerk_scope,
                &clerk,
                &def,
                (&b.code, "2026Q3"),
                &manual(&[]),
                None,
                day
            )
            .await
            .unwrap()
        ),
        ["filing-signed"]
    );
    tx.commit().await.unwrap();
    assert_eq!(change_sets().await, before);
    let mut tx = t.db.begin().await.unwrap();
    // The correction is version 2, filled from version 1, and shows what changed.
    let v2id = filings::correct(&mut tx, &clerk_scope, &clerk, id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(
            filings::correct(&mut tx, &clerk_scope, &clerk, id)
                .await
                .unwrap(),
            Err(Refusal::Problems(_))
        ),
        "only the latest signed version"
    );
    filings::save(
        &mut tx,
        &clerk_scope,
        &clerk,
        &def,
        (&b.code, "2026Q3"),
        &stored[0].manual,
        Some("王填报"),
        day,
    )
    .await
    .unwrap()
    .unwrap();
    filings::review(&mut tx, &civil_scope, &civil, v2id, "李审核", true, "", day)
        .await
        .unwrap()
        .unwrap();
    let v2 = filings::sign(
        &mut tx,
        &civil_scope,
        &civil,
        (&t.tree, &def, &rule),
        v2id,
        "张负责",
        day,
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    let changed: Vec<(String, Option<f64>, Option<f64>)> = diff(&v1, &v2)
        .into_iter()
        .filter(|c| c.region == b.code && c.name == b.name)
        .map(|c| (c.key, c.before, c.after))
        .collect();
    // 乙一 is now registered in the quarter: a new rural registration (11) and a participant (5, 12).
    assert_eq!(
        changed,
        vec![
            ("11".to_string(), Some(1.0), Some(2.0)),
            ("12".to_string(), Some(1.0), Some(2.0)),
            ("5".to_string(), Some(1.0), Some(2.0))
        ]
    );
    let audited: i64 = on_pool!(&t.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'report.%'").fetch_one(p).await).unwrap();
    assert_eq!(
        audited, 10,
        "save, fill, return, fill, review, sign; correct, fill, review, sign (refusals write no entry)"
    );
}

backend_tests!(filings_are_filled_reviewed_signed_and_then_frozen);
