//! 规范服务 for a region in one query agrees with the rule decided person by person
//! (`care::standard::decide`) on a table of timelines written through the real stores; plans keep
//! their versions — on both backends.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use common::TestDb;
use jingkang_core::care::instrument::Catalogue;
use jingkang_core::care::service::{ServiceCatalogue, SessionInput, validate};
use jingkang_core::care::standard::{Period, StandardRule, Timeline, decide};
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::store::plans::{self, NewPlan, PlanItem, Refusal};
use jingkang_core::store::{Actor, assessments, services, standard};

/// A `service_quarters` row: person, quarter, contacts by month, planned, last assessment.
type FactsRow = (i64, String, i64, i64, i64, bool, Option<String>);

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

async fn standard_service_by_township(t: TestDb) {
    let ids = common::some_persons(&t, 7).await;
    on_pool!(&t.db, p => sqlx::query("UPDATE persons SET registration_state = 'in_service'").execute(p).await.map(drop)).unwrap();
    // The seventh is closed: not counted at all.
    on_pool!(&t.db, p => sqlx::query("UPDATE persons SET registration_state = 'closed' WHERE id = $1").bind(ids[6]).execute(p).await.map(drop)).unwrap();
    let scope = Scope::of(t.tree.get("500110").unwrap());
    let catalogue = ServiceCatalogue::shipped().unwrap();
    let instruments = Catalogue::shipped().unwrap();
    let rule = StandardRule::shipped().unwrap();
    let q = Period::quarter(2026, 3).unwrap();
    let plan = |start: &str| NewPlan {
        goals: "规律服药，参加小组".into(),
        items: vec![PlanItem {
            item: "social_skills".into(),
            per_month: 2,
        }],
        responsible: "李社工".into(),
        starts_on: d(start),
        review_on: None,
        signed_on: Some(d(start)),
        signed_by: Some("guardian".into()),
    };
    let monthly = ["2026-07-10", "2026-08-10", "2026-09-10"];
    // (plan start, assessment, contact dates); the last is closed, the one before it is written
    // contacts first, plan and assessment after (the quarter's facts follow every write).
    let timelines: Vec<(Option<&str>, Option<&str>, Vec<&str>)> = vec![
        (Some("2026-04-01"), Some("2026-06-01"), monthly.to_vec()), // standard
        (None, Some("2026-06-01"), monthly.to_vec()),               // no plan
        (Some("2026-04-01"), Some("2026-03-01"), monthly.to_vec()), // assessment too old
        (
            Some("2026-04-01"),
            Some("2026-06-01"),
            vec!["2026-07-10", "2026-09-10"],
        ), // August missed
        (Some("2025-06-01"), Some("2026-06-01"), monthly.to_vec()), // plan reviewed 2025-12-01, before the quarter
        (Some("2026-04-01"), Some("2026-06-01"), monthly.to_vec()), // standard, entered in reverse
        (Some("2026-04-01"), Some("2026-06-01"), monthly.to_vec()), // closed: not counted
    ];
    let actor = Actor::user("worker");
    let mut expected = (0, 0, 0, 0, 0);
    for (i, (p, a, contacts)) in timelines.iter().enumerate() {
        let pid = ids[i];
        let reverse = i == 5;
        let record_contacts = || async {
            let input = SessionInput {
                item: "social_skills".into(),
                mode: "institution".into(),
                dates: contacts.iter().map(|s| s.to_string()).collect(),
                start: "09:00".into(),
                end: "10:00".into(),
                staff: "李社工".into(),
                participants: vec![pid],
                notes: String::new(),
            };
            let mut tx = t.db.begin().await.unwrap();
            services::record(
                &mut tx,
                &scope,
                &actor,
                &validate(&catalogue, &input, d("2026-11-23")).unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
            tx.commit().await.unwrap();
        };
        if reverse {
            record_contacts().await;
        }
        let mut tx = t.db.begin().await.unwrap();
        if let Some(start) = p {
            plans::record(&mut tx, &scope, &actor, &catalogue, pid, &plan(start))
                .await
                .unwrap()
                .unwrap();
        }
        if let Some(on) = a {
            let answers: BTreeMap<String, String> = [
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
                assessed_on: d(on),
                assessor: "李社工".into(),
                answers,
            };
            assessments::record(
                &mut tx,
                &scope,
                &actor,
                instruments.get("sdss").unwrap(),
                pid,
                &new,
                d("2026-11-23"),
            )
            .await
            .unwrap()
            .unwrap();
        }
        tx.commit().await.unwrap();
        if !reverse && !contacts.is_empty() {
            record_contacts().await;
        }
        if i < 6 {
            let review = |s: &str| d(s).checked_add_months(chrono::Months::new(6)).unwrap();
            let tl = Timeline {
                plans: p.iter().map(|s| (d(s), review(s))).collect(),
                assessments: a.iter().map(|s| d(s)).collect(),
                contacts: contacts.iter().map(|s| d(s)).collect(),
            };
            let dec = decide(&rule, &q, &tl);
            expected.0 += 1;
            expected.1 += i64::from(dec.plan);
            expected.2 += i64::from(dec.assessment);
            expected.3 += i64::from(dec.contacts);
            expected.4 += i64::from(dec.standard());
        }
    }
    assert_eq!(expected, (6, 4, 5, 5, 2), "the table's own arithmetic");
    let mut tx = t.db.begin().await.unwrap();
    let rows = standard::by_township(&mut tx, &scope, &rule, &q, true)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.township, "500110004");
    assert_eq!(
        (
            r.registered,
            r.with_plan.unwrap(),
            r.assessed.unwrap(),
            r.served_monthly.unwrap(),
            r.standard
        ),
        expected
    );
    let headline = standard::by_township(&mut tx, &scope, &rule, &q, false)
        .await
        .unwrap();
    assert_eq!(
        (
            headline[0].registered,
            headline[0].standard,
            headline[0].with_plan
        ),
        (expected.0, expected.4, None)
    );
    // The rule is data: no plan needed → the two with everything but a current plan count too.
    let loose = StandardRule {
        plan: false,
        ..rule.clone()
    };
    assert_eq!(
        standard::by_township(&mut tx, &scope, &loose, &q, false)
            .await
            .unwrap()[0]
            .standard,
        4
    );
    // The quarter's headline (one facts row a person) agrees with the conditions decided from the
    // plans, assessments and monthly contacts, whatever the rule.
    for r in [
        rule.clone(),
        StandardRule {
            assessment_within_days: 30,
            ..rule.clone()
        },
        StandardRule {
            contacts_per_month: 2,
            ..rule.clone()
        },
        StandardRule {
            assessment_within_days: 400,
            plan: false,
            ..rule.clone()
        },
    ] {
        for period in [
            q,
            Period::quarter(2026, 2).unwrap(),
            Period::quarter(2026, 4).unwrap(),
        ] {
            let fast = standard::by_township(&mut tx, &scope, &r, &period, false)
                .await
                .unwrap();
            let slow = standard::by_township(&mut tx, &scope, &r, &period, true)
                .await
                .unwrap();
            assert_eq!(
                fast.iter()
                    .map(|x| (x.registered, x.standard))
                    .collect::<Vec<_>>(),
                slow.iter()
                    .map(|x| (x.registered, x.standard))
                    .collect::<Vec<_>>(),
                "{r:?} {period:?}"
            );
        }
    }
    // A period that is not a quarter (August alone) is decided from the months.
    let august = Period {
        start: d("2026-08-01"),
        end: d("2026-08-31"),
    };
    assert_eq!(
        standard::by_township(&mut tx, &scope, &rule, &august, false)
            .await
            .unwrap()[0]
            .standard,
        3,
        "the one who missed August is out; the 2026-03-01 assessment is within 183 days of August's end"
    );
    tx.commit().await.unwrap();
    // The facts kept write by write equal the facts rebuilt from scratch.
    let facts = || async {
        let rows: Vec<FactsRow> = on_pool!(&t.db, p => sqlx::query_as(
            "SELECT person_id, CAST(quarter_start AS TEXT), m1, m2, m3, planned, CAST(last_assessed_on AS TEXT) FROM service_quarters ORDER BY person_id, quarter_start")
            .fetch_all(p).await).unwrap();
        rows
    };
    let kept = facts().await;
    assert_eq!(
        kept.len(),
        7,
        "one quarter with contacts for each of the seven"
    );
    let mut tx = t.db.begin().await.unwrap();
    standard::rebuild_quarters(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(facts().await, kept);
    let mut tx = t.db.begin().await.unwrap();
    // Plans keep their versions; the person's review date follows the current one.
    let first = plans::of_person(&mut tx, &scope, ids[0]).await.unwrap();
    assert_eq!(first.len(), 1);
    tx.commit().await.unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let v2 = NewPlan {
        review_on: Some(d("2026-12-31")),
        ..plan("2026-10-01")
    };
    assert_eq!(
        plans::record(&mut tx, &scope, &actor, &catalogue, ids[0], &v2)
            .await
            .unwrap(),
        Ok(2)
    );
    let bad = NewPlan {
        goals: " ".into(),
        items: vec![PlanItem {
            item: "yoga".into(),
            per_month: 1,
        }],
        signed_by: None,
        ..plan("2026-10-01")
    };
    match plans::record(&mut tx, &scope, &actor, &catalogue, ids[0], &bad)
        .await
        .unwrap()
    {
        Err(Refusal::Invalid(p)) => assert_eq!(
            p.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
            ["goals", "items", "signed_by"]
        ),
        other => panic!("{other:?}"),
    }
    let all = plans::of_person(&mut tx, &scope, ids[0]).await.unwrap();
    assert_eq!(all.iter().map(|p| p.version).collect::<Vec<_>>(), [2, 1]);
    tx.commit().await.unwrap();
    let review: Option<NaiveDate> = on_pool!(&t.db, p => sqlx::query_scalar("SELECT plan_review_on FROM persons WHERE id = $1").bind(ids[0]).fetch_one(p).await).unwrap();
    assert_eq!(review, Some(d("2026-12-31")));
}

backend_tests!(standard_service_by_township);
