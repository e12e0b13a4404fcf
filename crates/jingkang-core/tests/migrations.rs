//! Migrations over existing data: a database written by an older schema keeps every row.

#![allow(clippy::unwrap_used)]

mod common;

use common::{id, install_regions};
use jingkang_core::regions::Scope;
use jingkang_core::registry::{Guardian, PersonData, PersonWithGuardian};
use jingkang_core::store::{self, Actor, Db, persons};

fn person(idn: &str, name: &str) -> PersonWithGuardian {
    PersonWithGuardian {
        data: PersonData {
            id_number: idn.to_string(),
            name: name.into(),
            sex: "male".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
            residence_region: "500110004".into(),
            ..Default::default()
        },
        guardian: Some(Guardian { name: "张大山".into(), phone: Some("13812345678".into()), ..Default::default() }),
    }
}

/// Migration 2 rebuilds `persons` on SQLite (its unique constraint becomes a named index); the
/// tables that reference persons must keep their rows, and the unique rule must still hold.
async fn person_index_migration_keeps_data(db: Db) {
    let tree = install_regions(&db).await;
    let scope = Scope::of(tree.get("500110").unwrap());
    let mut tx = db.begin().await.unwrap();
    let cs = store::open_change_set(&mut tx, &Actor::cli(), "test", "test").await.unwrap();
    let (a, b) = (id("500110", "19800101", "111"), id("500110", "19800101", "131"));
    let ids = persons::insert_many(&mut tx, &scope, cs, &[person(&a, "甲"), person(&b, "乙")]).await.unwrap();
    tx.commit().await.unwrap();
    // A history row, written as version 1 of the schema has it.
    jingkang_core::on_pool!(&db, p => sqlx::query(
        "INSERT INTO person_history (person_id, change_id, field, old_value, new_value) VALUES ($1, $2, 'name', '甲', '甲')")
        .bind(ids[0]).bind(cs).execute(p).await.map(drop)).unwrap();

    db.migrate().await.unwrap();

    let mut tx = db.begin().await.unwrap();
    assert_eq!(persons::count(&mut tx, &scope).await.unwrap(), 2);
    assert_eq!(persons::index_names(&mut tx).await.unwrap(), vec!["persons_id_number", "persons_residence"]);
    let got = persons::get(&mut tx, &scope, &Actor::cli(), ids[0]).await.unwrap().unwrap();
    assert_eq!(got.record.guardian.unwrap().name, "张大山", "guardian survived the rebuild");
    assert_eq!(persons::history(&mut tx, &scope, ids[0]).await.unwrap().len(), 1, "history survived");
    // The unique rule on the ID number still holds.
    let again = persons::insert_many(&mut tx, &scope, cs, &[person(&a, "甲")]).await;
    assert!(again.is_err(), "a second person with the same ID number must be refused");
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
