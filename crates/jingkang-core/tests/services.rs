//! Service records in the database: a group session is one row per date with its attendance; a
//! participant out of scope refuses the whole entry and nothing is written — on both backends.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use chrono::NaiveDate;
use common::TestDb;
use jingkang_core::care::service::{ServiceCatalogue, SessionInput, validate};
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::store::services::{self, Refusal};
use jingkang_core::store::{Actor, audit};

async fn counts(t: &TestDb) -> (i64, i64, i64) {
    let q = |sql: &'static str| async move {
        on_pool!(&t.db, p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await).unwrap()
    };
    (
        q("SELECT COUNT(*) FROM service_sessions").await,
        q("SELECT COUNT(*) FROM service_attendance").await,
        q("SELECT COUNT(*) FROM audit_log").await,
    )
}

async fn a_week_of_group_sessions(t: TestDb) {
    let ids = common::some_persons(&t, 8).await;
    let county = Scope::of(t.tree.get("500110").unwrap());
    let elsewhere = Scope::of(t.tree.get("500111").unwrap());
    let c = ServiceCatalogue::shipped().unwrap();
    let input = SessionInput {
        item: "social_skills".into(),
        mode: "institution".into(),
        dates: [
            "2026-11-16",
            "2026-11-17",
            "2026-11-18",
            "2026-11-19",
            "2026-11-20",
        ]
        .map(String::from)
        .to_vec(),
        start: "09:00".into(),
        end: "10:30".into(),
        staff: "李社工".into(),
        participants: ids.clone(),
        notes: "第三单元".into(),
    };
    let session = validate(&c, &input, NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()).unwrap();
    let before = counts(&t).await;
    let mut tx = t.db.begin().await.unwrap();
    assert_eq!(
        services::record(&mut tx, &elsewhere, &Actor::user("w"), &session)
            .await
            .unwrap(),
        Err(Refusal::UnknownParticipants(8))
    );
    tx.commit().await.unwrap();
    assert_eq!(counts(&t).await, before, "refused: nothing written");
    let mut tx = t.db.begin().await.unwrap();
    let sessions = services::record(&mut tx, &county, &Actor::user("w"), &session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sessions.len(), 5);
    let mine = services::of_person(&mut tx, &county, ids[3], 50)
        .await
        .unwrap();
    assert_eq!(mine.len(), 5);
    assert_eq!(
        (
            mine[0].service_date,
            mine[0].participants,
            mine[0].notes.as_deref()
        ),
        (
            NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(),
            8,
            Some("第三单元")
        )
    );
    assert!(
        services::of_person(&mut tx, &elsewhere, ids[3], 50)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        services::in_scope(&mut tx, &county, None, 100)
            .await
            .unwrap()
            .len(),
        5
    );
    let log = audit::entries(&mut tx).await.unwrap();
    assert_eq!(
        log.iter().filter(|e| e.action == "service.record").count(),
        1,
        "one entry, one audit entry"
    );
    tx.commit().await.unwrap();
    assert_eq!(
        counts(&t).await,
        (before.0 + 5, before.1 + 40, before.2 + 1)
    );
}

backend_tests!(a_week_of_group_sessions);
