//! The indicators against a hand-built data set, on both backends: every figure worked out by
//! hand below for 2026Q3 (as of 30 September; follow-ups of the 12 months to it), by township
//! and in total, the drill-down lists behind them, the trend's earlier quarter, and a second
//! report definition (the monthly follow-up summary) from the same measures.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use common::{TestDb, register_by_exception as register, today, transition_on as on, visit};
use jingkang_core::care::institution::InstitutionRules;
use jingkang_core::care::registration::{CloseReason, Event};
use jingkang_core::care::standard::{Period, StandardRule};
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::report::indicators::{Figure, Indicators, board, board_of, quarters_to, trend};
use jingkang_core::report::{Definition, compute};
use jingkang_core::store::institutions::NewInstitution;
use jingkang_core::store::report::{Measure, Members, People, members, registry_counts};
use jingkang_core::store::{Actor, institutions};

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// The persons, by name: township, diagnosis.
const PERSONS: [(&str, &str, &str); 7] = [
    ("丙一", "万盛街道", "F20.0"),
    ("丙二", "万盛街道", "F20.1"),
    ("丙三", "万盛街道", "F25"),
    ("丙四", "万盛街道", "F32.1"),
    ("丁一", "黑山镇", "F31.2"),
    ("丁二", "黑山镇", "F20"),
    ("丁三", "黑山镇", "F20.3"),
];

async fn persons(t: &TestDb) -> BTreeMap<&'static str, i64> {
    common::import_named(t, &PERSONS, (1988, 300), |_| d("2025-01-01")).await
}

async fn serve(t: &TestDb, scope: &Scope, pid: i64, item: &str, days: &[&str]) {
    common::serve_all(t, scope, &[pid], item, days).await;
}

fn f(n: i64, d: i64) -> Figure {
    Figure::of(n, d)
}

async fn indicators_by_hand(t: TestDb) {
    let p = persons(&t).await;
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
    let towns = t.tree.townships_under("500110").len() as i64;

    // 丙一: four visits in the year, the last in Q3, regular: managed, 规范管理, medicated, regular.
    for day in ["2025-12-01", "2026-03-01", "2026-06-01", "2026-08-01"] {
        visit(&t, &scope, p["丙一"], day, "0", "regular").await;
    }
    // 丙二: one visit before the window (15 Sep 2025), one in Q3 at risk 3 (unstable), taking
    // medicine intermittently; a case-management contact in August.
    visit(&t, &scope, p["丙二"], "2025-09-15", "0", "regular").await;
    visit(&t, &scope, p["丙二"], "2026-08-10", "3", "intermittent").await;
    // 丙三: seen in January, not taking medicine; in Q3 only an attempt that found nobody.
    visit(&t, &scope, p["丙三"], "2026-01-10", "0", "none").await;
    visit(&t, &scope, p["丙三"], "2026-08-01", "lost", "").await;
    // 丙四 (F32: not severe) is seen, and counts nowhere.
    visit(&t, &scope, p["丙四"], "2026-08-01", "0", "regular").await;
    // 丁一 (F31.2, severe): seen in Q3 at risk 4, regular; no case management.
    visit(&t, &scope, p["丁一"], "2026-09-05", "4", "regular").await;
    // 丁二: seen in July, died in September: out of the registry.
    visit(&t, &scope, p["丁二"], "2026-07-01", "0", "regular").await;
    on(&t, &scope, p["丁二"], "2026-02-01", register()).await;
    on(
        &t,
        &scope,
        p["丁二"],
        "2026-09-10",
        Event::Close {
            reason: CloseReason::Died,
            note: String::new(),
        },
    )
    .await;
    // 丁三: seen only in October, after the day.
    visit(&t, &scope, p["丁三"], "2026-10-05", "0", "regular").await;

    // Registered: 丙一, 丙二, 丁一. 丙一 has 规范服务; 丙二 a case-management contact (served).
    for who in ["丙一", "丙二", "丁一"] {
        on(&t, &scope, p[who], "2026-02-01", register()).await;
    }
    common::plan_and_assess(&t, &scope, p["丙一"]).await;
    serve(
        &t,
        &scope,
        p["丙一"],
        "social_skills",
        &["2026-07-10", "2026-08-10", "2026-09-10"],
    )
    .await;
    serve(&t, &scope, p["丙二"], "case_management", &["2026-08-20"]).await;

    // A site in 黑山镇 since May; one in 万盛街道 opened after the day.
    let rules = InstitutionRules::shipped().unwrap();
    let site = |name: &str, region: &str, opened: &str| NewInstitution {
        name: name.into(),
        kind: "site".into(),
        urban: false,
        region: region.into(),
        address: "一号".into(),
        capacity: 20,
        operator: "心翼社工中心".into(),
        operator_code: "91110108551385082Q".into(),
        opened_on: Some(d(opened)),
        status: "operating".into(),
    };
    let mut tx = t.db.begin().await.unwrap();
    institutions::create(
        &mut tx,
        &scope,
        &Actor::user("civil"),
        (&rules, &t.tree),
        &site("丁站", &b, "2026-05-01"),
        today(),
    )
    .await
    .unwrap()
    .unwrap();
    institutions::create(
        &mut tx,
        &scope,
        &Actor::user("civil"),
        (&rules, &t.tree),
        &site("丙站", &a, "2026-10-10"),
        today(),
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();

    // The quarters' follow-up facts kept write by write equal a rebuild from the follow-ups.
    let facts = || async {
        on_pool!(&t.db, p => sqlx::query_as::<_, (i64, String, i64, i64, i64, i64, Option<String>)>(
            "SELECT person_id, CAST(quarter_start AS TEXT), CAST(seen_year AS BIGINT), CAST(seen AS BIGINT), CAST(lost AS BIGINT), CAST(unstable AS BIGINT), adherence FROM followup_quarters ORDER BY 1, 2").fetch_all(p).await).unwrap()
    };
    let kept = facts().await;
    let mut tx = t.db.begin().await.unwrap();
    jingkang_core::store::followups::rebuild_quarters(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(kept, facts().await);
    assert!(
        kept.contains(&(
            p["丙一"],
            "2026-07-01".into(),
            4,
            1,
            0,
            0,
            Some("regular".into())
        )),
        "{kept:?}"
    );
    assert!(
        kept.contains(&(
            p["丙三"],
            "2026-07-01".into(),
            1,
            0,
            1,
            0,
            Some("none".into())
        )),
        "{kept:?}"
    );

    let defs = Indicators::shipped().unwrap();
    let rule = StandardRule::shipped().unwrap();
    let q3 = Period::quarter(2026, 3).unwrap();
    let mut tx = t.db.begin_read().await.unwrap();
    let board = board(
        &mut tx,
        &t.tree,
        (&scope, county),
        &defs,
        (&q3, "2026Q3"),
        &rule,
    )
    .await
    .unwrap();
    let value = |code: &str| {
        board
            .values
            .iter()
            .find(|v| v.code == code)
            .unwrap()
            .clone()
    };
    let at = |code: &str, region: &str| {
        value(code).by_region[board.regions.iter().position(|(c, _)| c == region).unwrap()]
    };
    assert_eq!(
        board.regions.len() as i64,
        towns,
        "a county's board has a row per township"
    );

    // 在册 on 30 September: 丙一 丙二 丙三 丁一 丁三 (丙四 not severe, 丁二 died).
    assert_eq!(
        value("management_rate").total,
        f(4, 5),
        "在管: 丙一 丙二 丙三 丁一 (丁三 seen only after the day)"
    );
    assert_eq!(at("management_rate", &a), f(3, 3));
    assert_eq!(at("management_rate", &b), f(1, 2));
    assert_eq!(
        value("standard_management_rate").total,
        f(1, 5),
        "four visits: 丙一"
    );
    assert_eq!(
        value("medication_rate").total,
        f(3, 5),
        "丙一 regular, 丙二 intermittent, 丁一 regular"
    );
    assert_eq!(value("regular_medication_rate").total, f(2, 5));
    assert_eq!(
        value("unstable_case_management_rate").total,
        f(1, 2),
        "unstable 丙二 丁一; case-managed 丙二"
    );
    assert_eq!(value("standard_service_rate").total, f(1, 3));
    assert_eq!(
        value("township_coverage").total,
        f(1, towns),
        "served in Q3: 万盛街道 only"
    );
    assert_eq!(
        value("institution_coverage").total,
        f(1, towns),
        "a site open on the day: 黑山镇 only"
    );
    assert_eq!(at("institution_coverage", &b), f(1, 1));
    let cov = value("township_coverage");
    assert_eq!((cov.target.unwrap().min, cov.met), (80.0, Some(false)));

    // The same boards from the registry's counts of the quarter (as the dashboard keeps them),
    // for the county and each township, and for the quarter before (丁二's death after its end
    // read from the events): equal to the boards read live.
    for (period, label) in [
        (q3, "2026Q3"),
        (Period::quarter(2026, 2).unwrap(), "2026Q2"),
    ] {
        let counts = registry_counts(&mut tx, &period, &rule).await.unwrap();
        for region in [county, t.tree.get(&a).unwrap(), t.tree.get(&b).unwrap()] {
            let inner = Scope::of(region);
            let live = jingkang_core::report::indicators::board(
                &mut tx,
                &t.tree,
                (&inner, region),
                &defs,
                (&period, label),
                &rule,
            )
            .await
            .unwrap();
            let people = People::within(&counts, &inner).unwrap();
            let shared = board_of(
                &mut tx,
                &t.tree,
                (&inner, region),
                &defs,
                (&period, label),
                &rule,
                people,
            )
            .await
            .unwrap();
            assert_eq!(shared, live, "{label} {}", region.name);
        }
    }
    let counts = registry_counts(&mut tx, &q3, &rule).await.unwrap();
    assert!(
        People::within(&counts, &scope.clone().at_site(Some(1))).is_none(),
        "a site's persons are not told apart"
    );
    let village =
        Scope::under(&jingkang_core::domain::RegionCode::parse(&format!("{a}001")).unwrap());
    assert!(
        People::within(&counts, &village).is_none(),
        "finer than a township"
    );
    assert!(People::within(&counts, &Scope::national()).is_some());

    // The lists behind the figures.
    let ids = |names: &[&str]| -> Members {
        let mut v: Vec<i64> = names.iter().map(|n| p[n]).collect();
        v.sort();
        Members::Persons(v)
    };
    assert_eq!(
        members(&mut tx, &t.tree, &scope, Measure::Managed, &q3, &rule)
            .await
            .unwrap(),
        ids(&["丙一", "丙二", "丙三", "丁一"])
    );
    assert_eq!(
        members(
            &mut tx,
            &t.tree,
            &scope,
            Measure::InRegistrySevere,
            &q3,
            &rule
        )
        .await
        .unwrap(),
        ids(&["丙一", "丙二", "丙三", "丁一", "丁三"])
    );
    assert_eq!(
        members(
            &mut tx,
            &t.tree,
            &scope,
            Measure::UnstableCaseManaged,
            &q3,
            &rule
        )
        .await
        .unwrap(),
        ids(&["丙二"])
    );
    assert_eq!(
        members(
            &mut tx,
            &t.tree,
            &scope,
            Measure::LostToFollowUp,
            &q3,
            &rule
        )
        .await
        .unwrap(),
        ids(&["丙三"])
    );
    assert_eq!(
        members(
            &mut tx,
            &t.tree,
            &scope,
            Measure::TownshipsWithSite,
            &q3,
            &rule
        )
        .await
        .unwrap(),
        Members::Townships(vec![b.clone()])
    );
    assert_eq!(
        members(
            &mut tx,
            &t.tree,
            &scope,
            Measure::TownshipsServing,
            &q3,
            &rule
        )
        .await
        .unwrap(),
        Members::Townships(vec![a.clone()])
    );
    let inner = Scope::of(t.tree.get(&b).unwrap());
    assert_eq!(
        members(
            &mut tx,
            &t.tree,
            &inner,
            Measure::InRegistrySevere,
            &q3,
            &rule
        )
        .await
        .unwrap(),
        ids(&["丁一", "丁三"]),
        "a township's own"
    );

    // The trend: on 30 June 丁二 was alive (6 in the registry); 丙二's September 2025 visit was
    // within the year, 丁二's July visit not yet made: 在管 丙一 丙二 丙三.
    let q = quarters_to(&q3, 2);
    let run = trend(&mut tx, &t.tree, (&scope, county), &defs, &q, &rule)
        .await
        .unwrap();
    let mi = defs
        .indicators
        .iter()
        .position(|i| i.code == "management_rate")
        .unwrap();
    assert_eq!(
        run.iter()
            .map(|(l, v)| (l.as_str(), v[mi]))
            .collect::<Vec<_>>(),
        [("2026Q2", f(3, 6)), ("2026Q3", f(4, 5))]
    );

    // The second report definition: the monthly follow-up summary for August.
    let def = Definition::shipped("followup_monthly").unwrap();
    let aug = Period::month(2026, 8).unwrap();
    let report = compute(
        &mut tx,
        &t.tree,
        (&scope, county),
        &def,
        (&aug, "2026-08"),
        &rule,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let total: Vec<Option<f64>> = def
        .columns
        .iter()
        .map(|c| report.total.columns[&c.key].number())
        .collect();
    // 在册 on 31 August: 丙一 丙二 丙三 丁一 丁二 丁三 = 6; seen in August: 丙一 丙二; lost: 丙三;
    // unstable: 丙二; 在管 丙一 丙二 丙三 丁二 (July); medicated 丙一 丙二 丁二; regular 丙一 丁二;
    // newly registered in August: none.
    assert_eq!(
        total,
        [6., 2., 1., 1., 4., 66.7, 3., 50., 2., 33.3, 0.].map(Some)
    );
}

backend_tests!(indicators_by_hand);
