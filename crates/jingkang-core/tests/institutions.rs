//! Institutions, staff and site scope in the database, on both backends: a register refused for
//! a wrong credit code or a region out of scope writes nothing; staff certificates and training
//! make the flags; persons put in a site's care are all a site's scope sees — a person of another
//! site answers as absent to reads and writes alike.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::{TestDb, today};
use jingkang_core::care::institution::InstitutionRules;
use jingkang_core::care::instrument::Catalogue;
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::store::assessments::{self, NewAssessment, Refusal};
use jingkang_core::store::institutions::{
    self, AssignRefusal, NewInstitution, NewQualification, NewStaff, NewTraining,
};
use jingkang_core::store::persons::{self, ListFilter};
use jingkang_core::store::{Actor, audit};

fn d(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

fn site(name: &str, region: &str) -> NewInstitution {
    NewInstitution {
        name: name.into(),
        kind: "site".into(),
        urban: true,
        region: region.into(),
        address: "新华路 1 号".into(),
        capacity: 30,
        operator: "綦江区心翼社会工作服务中心".into(),
        operator_code: "91110108551385082Q".into(),
        opened_on: Some(d("2025-03-01")),
        status: "operating".into(),
    }
}

async fn count(t: &TestDb, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    on_pool!(&t.db, p => sqlx::query_scalar::<_, i64>(&sql).fetch_one(p).await).unwrap()
}

async fn sites_staff_and_site_scope(t: TestDb) {
    let ids = common::some_persons(&t, 4).await;
    let town = t
        .tree
        .townships_under("500110")
        .into_iter()
        .find(|r| r.name == "万盛街道")
        .unwrap()
        .code
        .clone();
    let county = Scope::of(t.tree.get("500110").unwrap());
    let elsewhere = Scope::of(t.tree.get("500111").unwrap());
    let rules = InstitutionRules::shipped().unwrap();
    let actor = Actor::user("civil");
    let (day, tree) = (today(), &t.tree);

    // Refused: a mistyped credit code, an unknown kind, a region out of scope — nothing written.
    let bad = NewInstitution {
        operator_code: "91110108551385082A".into(),
        kind: "spa".into(),
        capacity: -1,
        ..site("甲站", &town)
    };
    let mut tx = t.db.begin().await.unwrap();
    let problems = institutions::create(&mut tx, &county, &actor, (&rules, tree), &bad, day)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        problems,
        vec![
            ("kind", "institution-kind-unknown"),
            ("capacity", "institution-capacity-invalid"),
            ("operator_code", "uscc-checksum")
        ]
    );
    let far = institutions::create(
        &mut tx,
        &elsewhere,
        &actor,
        (&rules, tree),
        &site("甲站", &town),
        day,
    )
    .await
    .unwrap()
    .unwrap_err();
    assert_eq!(far, vec![("region", "institution-region-invalid")]);
    tx.commit().await.unwrap();
    assert_eq!(count(&t, "institutions").await, 0);

    // Two sites of one township, the code written messily (full-width, lower case) and kept canonical.
    let mut tx = t.db.begin().await.unwrap();
    let messy = NewInstitution {
        operator_code: " ９１１１０１０８５５１３８５０８２q ".into(),
        ..site("甲站", &town)
    };
    let a = institutions::create(&mut tx, &county, &actor, (&rules, tree), &messy, day)
        .await
        .unwrap()
        .unwrap();
    let b = institutions::create(
        &mut tx,
        &county,
        &actor,
        (&rules, tree),
        &site("乙站", &town),
        day,
    )
    .await
    .unwrap()
    .unwrap();
    // Staff: one certified with 24 hours of training, one uncertified with 6, one expired certificate.
    let cert = |kind: &str, until: Option<&str>| NewQualification {
        kind: kind.into(),
        number: "SW2024001".into(),
        issued_on: d("2024-06-01"),
        valid_until: until.map(d),
    };
    let staff = |name: &str, q: Vec<NewQualification>| NewStaff {
        institution_id: a,
        name: name.into(),
        position: "社工".into(),
        hired_on: d("2025-03-01"),
        qualifications: q,
    };
    let s1 = institutions::add_staff(
        &mut tx,
        &county,
        &actor,
        &rules,
        &staff("李社工", vec![cert("social_worker", None)]),
        day,
    )
    .await
    .unwrap()
    .unwrap();
    let s2 = institutions::add_staff(
        &mut tx,
        &county,
        &actor,
        &rules,
        &staff("王护士", vec![]),
        day,
    )
    .await
    .unwrap()
    .unwrap();
    let s3 = institutions::add_staff(
        &mut tx,
        &county,
        &actor,
        &rules,
        &staff("赵医生", vec![cert("physician", Some("2025-12-31"))]),
        day,
    )
    .await
    .unwrap()
    .unwrap();
    let wrong = NewStaff {
        qualifications: vec![NewQualification {
            kind: "astrologer".into(),
            ..cert("x", None)
        }],
        ..staff("钱", vec![])
    };
    assert_eq!(
        institutions::add_staff(&mut tx, &county, &actor, &rules, &wrong, day)
            .await
            .unwrap()
            .unwrap_err(),
        vec![("qualifications", "staff-qualification-unknown")]
    );
    let train = |h: f64| NewTraining {
        trained_on: d("2026-05-10"),
        topic: "危机干预".into(),
        hours: h,
    };
    institutions::add_training(&mut tx, &county, &actor, s1, &train(16.0), day)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    institutions::add_training(&mut tx, &county, &actor, s1, &train(8.0), day)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    institutions::add_training(&mut tx, &county, &actor, s2, &train(6.0), day)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let last_year = NewTraining {
        trained_on: d("2025-11-01"),
        ..train(30.0)
    };
    institutions::add_training(&mut tx, &county, &actor, s3, &last_year, day)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        institutions::add_training(&mut tx, &county, &actor, s2, &train(0.0), day)
            .await
            .unwrap()
            .unwrap()
            .unwrap_err(),
        vec![("hours", "staff-training-hours-invalid")]
    );
    assert!(
        institutions::add_training(&mut tx, &elsewhere, &actor, s2, &train(2.0), day)
            .await
            .unwrap()
            .is_none(),
        "out of scope: absent"
    );
    tx.commit().await.unwrap();

    let mut tx = t.db.begin().await.unwrap();
    let list = institutions::staff(&mut tx, &county, &rules, Some(a), day)
        .await
        .unwrap();
    let by_name = |n: &str| list.iter().find(|s| s.name == n).unwrap();
    assert_eq!(
        (
            by_name("李社工").certified,
            by_name("李社工").training_hours,
            by_name("李社工").under_trained
        ),
        (true, 24.0, false)
    );
    assert_eq!(
        (
            by_name("王护士").certified,
            by_name("王护士").training_hours,
            by_name("王护士").under_trained
        ),
        (false, 6.0, true)
    );
    assert_eq!(
        (
            by_name("赵医生").certified,
            by_name("赵医生").training_hours
        ),
        (false, 0.0),
        "expired certificate, last year's hours"
    );
    let found = institutions::list(&mut tx, &county, day).await.unwrap();
    let ia = found.iter().find(|i| i.id == a).unwrap();
    assert_eq!(
        (ia.staff, ia.qualified_staff, ia.operator_code.as_str()),
        (3, 1, "91110108551385082Q")
    );
    assert!(
        !rules.under_qualified(ia.qualified_staff, ia.staff),
        "1 of 3 is 33 %, not under 30 %"
    );
    assert!(
        institutions::list(&mut tx, &elsewhere, day)
            .await
            .unwrap()
            .is_empty()
    );
    tx.commit().await.unwrap();

    // A site takes three persons; the fourth stays with the township.
    let mut tx = t.db.begin().await.unwrap();
    assert_eq!(
        institutions::assign_persons(&mut tx, &elsewhere, &actor, &rules, Some(a), &ids[..3])
            .await
            .unwrap(),
        Err(AssignRefusal::NotFound)
    );
    assert_eq!(
        institutions::assign_persons(
            &mut tx,
            &county,
            &actor,
            &rules,
            Some(a),
            &[ids[0], 987_654_321]
        )
        .await
        .unwrap(),
        Err(AssignRefusal::UnknownPersons(1))
    );
    assert_eq!(
        institutions::assign_persons(&mut tx, &county, &actor, &rules, Some(a), &ids[..3])
            .await
            .unwrap(),
        Ok(3)
    );
    assert_eq!(
        institutions::assign_persons(&mut tx, &county, &actor, &rules, Some(b), &ids[2..3])
            .await
            .unwrap(),
        Ok(1),
        "moved to the other site"
    );
    tx.commit().await.unwrap();

    let at_a = county.clone().at_site(Some(a));
    let at_b = county.clone().at_site(Some(b));
    let mut tx = t.db.begin().await.unwrap();
    let seen: Vec<i64> = persons::list(&mut tx, &at_a, &ListFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(seen, ids[..2].to_vec());
    assert_eq!(persons::count(&mut tx, &at_b).await.unwrap(), 1);
    assert!(
        persons::get(&mut tx, &at_b, &actor, ids[0])
            .await
            .unwrap()
            .is_none(),
        "a person of another site is absent"
    );
    assert!(
        persons::get(&mut tx, &at_a, &actor, ids[0])
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        institutions::get(&mut tx, &at_b, a, today())
            .await
            .unwrap()
            .is_none(),
        "another site's record is absent too"
    );
    // Writes keep to the site as well: site b cannot assess site a's person.
    let catalogue = Catalogue::shipped().unwrap();
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
    let new = NewAssessment {
        assessed_on: d("2026-11-20"),
        assessor: "乙站社工".into(),
        answers,
    };
    assert!(matches!(
        assessments::record(
            &mut tx,
            &at_b,
            &actor,
            catalogue.get("sdss").unwrap(),
            ids[0],
            &new,
            day
        )
        .await
        .unwrap(),
        Err(Refusal::NotFound)
    ));
    assert!(
        assessments::record(
            &mut tx,
            &at_a,
            &actor,
            catalogue.get("sdss").unwrap(),
            ids[0],
            &new,
            day
        )
        .await
        .unwrap()
        .is_ok()
    );
    let log = audit::entries(&mut tx).await.unwrap();
    assert_eq!(log.iter().filter(|e| e.action == "person.site").count(), 4);
    assert_eq!(
        log.iter()
            .filter(|e| e.action == "institution.create")
            .count(),
        2
    );
    assert_eq!(
        log.iter().filter(|e| e.action == "staff.training").count(),
        4
    );
    tx.commit().await.unwrap();
}

backend_tests!(sites_staff_and_site_scope);
