//! Assessments in the database: scored by their instrument before anything is written; refusals
//! (out of scope, a future date, no assessor, bad answers) write nothing; the employment referral
//! needs a recent functional assessment, which stands for its document — on both backends.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use common::{TestDb, one_person};
use jingkang_core::app::referrals::{self, Desk, NewReferral, SendRefusal, Subject};
use jingkang_core::care::instrument::Catalogue;
use jingkang_core::care::referral::Book;
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::store::assessments::{self, NewAssessment, Refusal};
use jingkang_core::store::{Actor, audit};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

async fn counts(t: &TestDb) -> (i64, i64) {
    let q = |sql: &'static str| async move {
        on_pool!(&t.db, p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await).unwrap()
    };
    (
        q("SELECT COUNT(*) FROM assessments").await,
        q("SELECT COUNT(*) FROM audit_log").await,
    )
}

fn sdss(values: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut a: BTreeMap<String, String> = [
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
    for (k, v) in values {
        a.insert(k.to_string(), v.to_string());
    }
    a
}

async fn record(
    t: &TestDb,
    scope: &Scope,
    pid: i64,
    on: NaiveDate,
    assessor: &str,
    answers: BTreeMap<String, String>,
) -> Result<i64, Refusal> {
    let catalogue = Catalogue::shipped().unwrap();
    let new = NewAssessment {
        assessed_on: on,
        assessor: assessor.into(),
        answers,
    };
    let mut tx = t.db.begin().await.unwrap();
    let r = assessments::record(
        &mut tx,
        scope,
        &Actor::user("worker"),
        catalogue.get("sdss").unwrap(),
        pid,
        &new,
        d("2026-11-23"),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    r.map(|(id, _)| id)
}

async fn assessments_are_scored_and_refusals_write_nothing(t: TestDb) {
    let pid = one_person(&t).await;
    let town = Scope::of(t.tree.get("500110004").unwrap());
    let other = Scope::of(t.tree.get("500110001").unwrap());
    let before = counts(&t).await;
    assert_eq!(
        record(&t, &other, pid, d("2026-11-20"), "李社工", sdss(&[])).await,
        Err(Refusal::NotFound)
    );
    // Each problem by its field (the answers themselves are complete here).
    let codes = |r: Result<_, Refusal>| match r {
        Err(Refusal::Invalid(p)) => p.into_iter().map(|p| (p.key, p.code)).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        codes(record(&t, &town, pid, d("2026-11-24"), "李社工", sdss(&[])).await),
        [("assessed_on".to_string(), "assessment-future".to_string())]
    );
    assert_eq!(
        codes(record(&t, &town, pid, d("2026-11-24"), " ", sdss(&[("work", "5")])).await),
        [
            ("assessed_on".to_string(), "assessment-future".to_string()),
            ("assessor".into(), "assessment-assessor-missing".into()),
            ("work".into(), "instrument-item-invalid".into()),
        ],
        "every problem at once"
    );
    match record(
        &t,
        &town,
        pid,
        d("2026-11-20"),
        "李社工",
        sdss(&[("work", "5")]),
    )
    .await
    {
        Err(Refusal::Invalid(p)) => assert_eq!(p[0].key, "work"),
        other => panic!("{other:?}"),
    }
    assert_eq!(counts(&t).await, before, "refusals write nothing");
    record(
        &t,
        &town,
        pid,
        d("2026-05-01"),
        "李社工",
        sdss(&[("work", "2"), ("marriage", "9")]),
    )
    .await
    .unwrap();
    record(
        &t,
        &town,
        pid,
        d("2026-11-20"),
        "李社工",
        sdss(&[("work", "1")]),
    )
    .await
    .unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let all = assessments::of_person(&mut tx, &town, pid).await.unwrap();
    assert_eq!(
        all.iter().map(|a| (a.total, a.flag)).collect::<Vec<_>>(),
        vec![(2, true), (1, false)],
        "oldest first"
    );
    let answers: BTreeMap<String, String> = serde_json::from_str(&all[0].answers).unwrap();
    assert_eq!(answers["marriage"], "9");
    assert!(
        assessments::of_person(&mut tx, &other, pid)
            .await
            .unwrap()
            .is_empty()
    );
    let latest =
        assessments::latest_in_domain(&mut tx, &town, pid, "social_function", d("2026-06-01"))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(latest.assessed_on, d("2026-11-20"));
    assert!(
        assessments::latest_in_domain(&mut tx, &town, pid, "mood", d("2020-01-01"))
            .await
            .unwrap()
            .is_none()
    );
    let log = audit::entries(&mut tx).await.unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.action == "assessment.record")
            .count(),
        2
    );
    tx.commit().await.unwrap();
}

async fn send(t: &TestDb, desk: &Desk, book: &Book, n: &NewReferral) -> Result<i64, SendRefusal> {
    let mut tx = t.db.begin().await.unwrap();
    let r = referrals::send(&mut tx, desk, book, &t.tree, n)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    r
}

/// The employment referral needs a functional assessment of the last six months, which stands for
/// its 功能评估结果; an older one does not count.
async fn employment_needs_a_recent_functional_assessment(t: TestDb) {
    let pid = one_person(&t).await;
    let town = Scope::of(t.tree.get("500110004").unwrap());
    let book = Book::shipped().unwrap();
    let desk = Desk::of_role(&book, town.clone(), Actor::user("clerk"), "township");
    let sent_on = common::today();
    let new = NewReferral {
        kind: "employment".into(),
        subject: Subject::Existing(pid),
        to_region: "500110".into(),
        reason: "希望就业".into(),
        documents: common::filled(&["就业意向表".into()]),
        contact: common::contact(),
        sent_on,
    };
    assert_eq!(
        send(&t, &desk, &book, &new).await,
        Err(SendRefusal::AssessmentMissing {
            domain: "social_function".into(),
            within_days: 183
        })
    );
    let catalogue = Catalogue::shipped().unwrap();
    let old = NewAssessment {
        assessed_on: sent_on - Duration::days(200),
        assessor: "李社工".into(),
        answers: sdss(&[]),
    };
    let mut tx = t.db.begin().await.unwrap();
    assessments::record(
        &mut tx,
        &town,
        &Actor::user("worker"),
        catalogue.get("sdss").unwrap(),
        pid,
        &old,
        sent_on,
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    assert!(
        matches!(
            send(&t, &desk, &book, &new).await,
            Err(SendRefusal::AssessmentMissing { .. })
        ),
        "200 days is too old"
    );
    let recent = NewAssessment {
        assessed_on: sent_on - Duration::days(10),
        assessor: "李社工".into(),
        answers: sdss(&[("work", "1")]),
    };
    let mut tx = t.db.begin().await.unwrap();
    assessments::record(
        &mut tx,
        &town,
        &Actor::user("worker"),
        catalogue.get("sdss").unwrap(),
        pid,
        &recent,
        sent_on,
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    let rid = send(&t, &desk, &book, &new).await.unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let detail = referrals::get(&mut tx, &desk, rid).await.unwrap().unwrap();
    assert!(
        detail.documents.contains(&"功能评估结果".to_string())
            && detail.documents.contains(&"就业意向表".to_string()),
        "{:?}",
        detail.documents
    );
    // The receiver (残联, county) reads the assessment itself, as filled: the recent one.
    let receiver = Desk::of_role(
        &book,
        Scope::of(t.tree.get("500110").unwrap()),
        Actor::user("dpf"),
        "disability",
    );
    let seen = referrals::get(&mut tx, &receiver, rid)
        .await
        .unwrap()
        .unwrap();
    let a = seen
        .assessment
        .expect("the assessment travels with the referral");
    assert_eq!(
        (a.instrument.as_str(), a.assessed_on),
        ("sdss", sent_on - Duration::days(10))
    );
    let instrument = catalogue.get("sdss").unwrap();
    let answers: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&a.answers).unwrap();
    let lines = instrument.describe(&answers);
    assert_eq!(lines.len(), instrument.items.len());
    assert!(
        lines.iter().all(|(_, answer)| !answer.is_empty()),
        "every item reads as answered: {lines:?}"
    );
    assert_eq!(seen.carried.len(), 1, "the typed 就业意向表");
    assert_eq!(
        seen.carried[0].text.as_deref(),
        Some("就业意向表：内容见此")
    );
    tx.commit().await.unwrap();
}

backend_tests!(
    assessments_are_scored_and_refusals_write_nothing,
    employment_needs_a_recent_functional_assessment
);
