//! Migrations over existing data: a database written by an older schema keeps every row.

#![allow(clippy::unwrap_used)]

mod common;

use common::{id, install_regions};
use jingkang_core::regions::Scope;
use jingkang_core::registry::{PersonData, PersonWithGuardian};
use jingkang_core::store::{self, Actor, Db, persons};

/// Migration 2 rebuilds `persons` on SQLite (its unique constraint becomes a named index); the
/// tables that reference persons must keep their rows, and the unique rule must still hold.
async fn person_index_migration_keeps_data(db: Db) {
    let tree = install_regions(&db).await;
    let scope = Scope::of(tree.get("500110").unwrap());
    let mut tx = db.begin().await.unwrap();
    let cs = store::open_change_set(&mut tx, &Actor::cli(), "test", "test")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (a, b) = (
        id("500110", "19800101", "111"),
        id("500110", "19800101", "131"),
    );
    // Rows as schema version 1 has them, written with plain SQL (the repository code targets the
    // newest schema).
    let mut ids = Vec::new();
    for (idn, name) in [(&a, "甲"), (&b, "乙")] {
        let pid: i64 = jingkang_core::on_pool!(&db, p => sqlx::query_scalar(
            "INSERT INTO persons (id_number, name, sex, birth_date, residence_region, created_change, updated_change) \
             VALUES ($1, $2, 'male', $3, '500110004', $4, $4) RETURNING id")
            .bind(idn.as_str()).bind(name).bind(chrono::NaiveDate::from_ymd_opt(1980, 1, 1).unwrap()).bind(cs)
            .fetch_one(p).await).unwrap();
        jingkang_core::on_pool!(&db, p => sqlx::query(
            "INSERT INTO guardians (person_id, ordinal, name, phone) VALUES ($1, 1, '张大山', '13812345678')")
            .bind(pid).execute(p).await.map(drop)).unwrap();
        ids.push(pid);
    }
    jingkang_core::on_pool!(&db, p => sqlx::query(
        "INSERT INTO person_history (person_id, change_id, field, old_value, new_value) VALUES ($1, $2, 'name', '甲', '甲')")
        .bind(ids[0]).bind(cs).execute(p).await.map(drop)).unwrap();
    db.migrate().await.unwrap();

    let mut tx = db.begin().await.unwrap();
    assert_eq!(persons::count(&mut tx, &scope).await.unwrap(), 2);
    assert_eq!(
        persons::index_names(&mut tx).await.unwrap(),
        vec![
            "persons_agreement_due",
            "persons_followup_due",
            "persons_id_number",
            "persons_initials_region",
            "persons_lost",
            "persons_name_region",
            "persons_plan_review",
            "persons_report",
            "persons_residence",
            "persons_site",
            "persons_state_region",
            "persons_unstable"
        ]
    );
    let got = persons::get(&mut tx, &scope, &Actor::cli(), ids[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.record.guardian.unwrap().name,
        "张大山",
        "guardian survived the rebuild"
    );
    assert_eq!(
        persons::history(&mut tx, &scope, ids[0])
            .await
            .unwrap()
            .len(),
        1,
        "history survived"
    );
    // Rows written before the initials column were backfilled: 甲 is found by `j`.
    let filter = persons::ListFilter {
        search: Some("j".into()),
        ..Default::default()
    };
    let found = persons::list(&mut tx, &scope, &filter).await.unwrap();
    assert_eq!(found.iter().map(|p| p.id).collect::<Vec<_>>(), vec![ids[0]]);
    // The unique rule on the ID number still holds.
    let dup = PersonWithGuardian {
        data: PersonData {
            id_number: a.clone(),
            name: "甲".into(),
            sex: "male".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
            residence_region: "500110004".into(),
            ..Default::default()
        },
        guardian: None,
    };
    let again = persons::insert_many(&mut tx, &scope, (cs, common::today()), &[dup]).await;
    assert!(
        again.is_err(),
        "a second person with the same ID number must be refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_person_index_migration_keeps_data() {
    let (db, _dir) = common::sqlite_at(1).await;
    person_index_migration_keeps_data(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_person_index_migration_keeps_data() {
    if let Some(db) = common::postgres_at(1).await {
        person_index_migration_keeps_data(db).await;
    }
}
