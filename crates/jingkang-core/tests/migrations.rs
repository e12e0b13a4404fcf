//! Migrations over existing data: a database written by an older schema keeps every row, and
//! its sensitive values are sealed in place (encryption at rest), resumably; a key rotation
//! re-seals them, resumably.

#![allow(clippy::unwrap_used)]

mod common;

use common::{id, install_regions};
use jingkang_core::regions::Scope;
use jingkang_core::registry::{PersonData, PersonWithGuardian};
use jingkang_core::secrets::{Keys, MasterKey};
use jingkang_core::store::{self, Actor, Db, persons, sealing};

/// From schema version 1 to now: migration 2 rebuilds `persons` on SQLite (its unique constraint
/// becomes a named index), migration 38 moves uniqueness and search to blind indexes; the rows
/// written in the clear by version 1 are then sealed in batches (interrupted after one, resumed),
/// and read back the same; the unique rule still holds.
async fn person_index_migration_keeps_data(db: Db) {
    let old = MasterKey::generate();
    let db = db.with_keys(Keys::of(&old));
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
            "UPDATE persons SET phone = '13900001111', diagnosis_code = 'F20.0', diagnosis_name = '偏执型精神分裂症', notes = '家属陪同' WHERE id = $1")
            .bind(pid).execute(p).await.map(drop)).unwrap();
        jingkang_core::on_pool!(&db, p => sqlx::query(
            "INSERT INTO guardians (person_id, ordinal, name, phone, id_number) VALUES ($1, 1, '张大山', '13812345678', '500110195001011232')")
            .bind(pid).execute(p).await.map(drop)).unwrap();
        ids.push(pid);
    }
    jingkang_core::on_pool!(&db, p => sqlx::query(
        "INSERT INTO person_history (person_id, change_id, field, old_value, new_value) VALUES ($1, $2, 'name', '甲', '甲')")
        .bind(ids[0]).bind(cs).execute(p).await.map(drop)).unwrap();
    jingkang_core::on_pool!(&db, p => sqlx::query(
        "INSERT INTO person_history (person_id, change_id, field, old_value, new_value) VALUES ($1, $2, 'phone', '13700000000', '13900001111')")
        .bind(ids[0]).bind(cs).execute(p).await.map(drop)).unwrap();
    db.migrate().await.unwrap();

    // Sealing in batches of one row, stopped after one batch: one person sealed, one not yet;
    // both read right meanwhile.
    let first = sealing::seal_pending(&db, 1, Some(1)).await.unwrap();
    assert_eq!((first.persons, first.complete), (1, false));
    assert!(
        raw(&db, "SELECT id_number FROM persons WHERE id = $1", ids[0])
            .await
            .starts_with("jk1:")
    );
    assert_eq!(
        raw(&db, "SELECT id_number FROM persons WHERE id = $1", ids[1]).await,
        b
    );
    let mut tx = db.begin().await.unwrap();
    for (pid, idn) in [(ids[0], &a), (ids[1], &b)] {
        let p = persons::get(&mut tx, &scope, &Actor::cli(), pid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&p.record.data.id_number, idn);
        assert_eq!(p.record.data.phone.as_deref(), Some("13900001111"));
    }
    tx.commit().await.unwrap();
    // Resumed: the rest, then nothing more to do.
    let rest = sealing::seal_pending(&db, 1, None).await.unwrap();
    assert_eq!(
        (rest.persons, rest.guardians, rest.history, rest.complete),
        (1, 2, 1, true)
    );
    let again = sealing::seal_pending(&db, 1, None).await.unwrap();
    assert_eq!((again.persons, again.guardians, again.history), (0, 0, 0));
    // No plaintext left where it was: every sensitive value is sealed, the others are as written.
    for (sql, plain) in [
        ("SELECT id_number FROM persons WHERE id = $1", a.as_str()),
        ("SELECT phone FROM persons WHERE id = $1", "13900001111"),
        ("SELECT diagnosis_code FROM persons WHERE id = $1", "F20.0"),
        (
            "SELECT diagnosis_name FROM persons WHERE id = $1",
            "偏执型精神分裂症",
        ),
        ("SELECT notes FROM persons WHERE id = $1", "家属陪同"),
        (
            "SELECT phone FROM guardians WHERE person_id = $1",
            "13812345678",
        ),
        (
            "SELECT id_number FROM guardians WHERE person_id = $1",
            "500110195001011232",
        ),
        (
            "SELECT new_value FROM person_history WHERE person_id = $1 AND field = 'phone'",
            "13900001111",
        ),
    ] {
        let stored = raw(&db, sql, ids[0]).await;
        assert!(
            stored.starts_with("jk1:") && !stored.contains(plain),
            "{sql}: {stored}"
        );
    }
    assert_eq!(
        raw(&db, "SELECT name FROM persons WHERE id = $1", ids[0]).await,
        "甲"
    );
    assert_eq!(
        raw(
            &db,
            "SELECT new_value FROM person_history WHERE person_id = $1 AND field = 'name'",
            ids[0]
        )
        .await,
        "甲"
    );

    let mut tx = db.begin().await.unwrap();
    assert_eq!(persons::count(&mut tx, &scope).await.unwrap(), 2);
    assert_eq!(
        persons::index_names(&mut tx).await.unwrap(),
        vec![
            "persons_agreement_due",
            "persons_followup_due",
            "persons_id_bi14",
            "persons_id_bi4",
            "persons_id_bi6",
            "persons_id_hash",
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
    let history = persons::history(&mut tx, &scope, ids[0]).await.unwrap();
    assert_eq!(history.len(), 2, "history survived");
    assert_eq!(history[1].old.as_deref(), Some("13700000000"));
    // Found by the last four digits a masked ID shows, the whole number, and prefixes (甲 and 乙
    // share a birth date, so their first fourteen).
    for (q, want) in [
        (&a[14..], vec![ids[0]]),
        (a.as_str(), vec![ids[0]]),
        (&a[..14], ids.clone()),
        (&a[..10], ids.clone()),
        (&b[..16], vec![ids[1]]),
        ("500111", vec![]),
    ] {
        let filter = persons::ListFilter {
            search: Some(q.to_string()),
            ..Default::default()
        };
        let found = persons::list(&mut tx, &scope, &filter).await.unwrap();
        assert_eq!(found.iter().map(|p| p.id).collect::<Vec<_>>(), want, "{q}");
    }
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
    drop(tx);

    // A key rotation, stopped after one batch and resumed: every value re-sealed under the new
    // key, the indexes recomputed; the old key opens nothing any more.
    let new = MasterKey::generate();
    let bare = db.clone().with_keys(Keys::none());
    let (part, finished) = sealing::rotate(&bare, &old, &new, (1, Some(2)))
        .await
        .unwrap();
    assert!(!finished && part.persons == 2);
    let (rest, finished) = sealing::rotate(&bare, &old, &new, (1, None)).await.unwrap();
    assert!(finished, "{rest:?}");
    assert_eq!((rest.guardians, rest.history), (2, 1));
    let db = db.with_keys(Keys::of(&new));
    let mut tx = db.begin().await.unwrap();
    let p = persons::get(&mut tx, &scope, &Actor::cli(), ids[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.record.data.id_number, a);
    assert_eq!(p.record.data.diagnosis_code.as_deref(), Some("F20.0"));
    assert_eq!(
        p.record.guardian.unwrap().id_number.as_deref(),
        Some("500110195001011232")
    );
    let filter = persons::ListFilter {
        search: Some(a[14..].to_string()),
        ..Default::default()
    };
    assert_eq!(
        persons::list(&mut tx, &scope, &filter).await.unwrap().len(),
        1
    );
    tx.commit().await.unwrap();
    let stale = db.clone().with_keys(Keys::of(&old));
    let mut tx = stale.begin().await.unwrap();
    assert!(
        persons::get(&mut tx, &scope, &Actor::cli(), ids[0])
            .await
            .is_err()
    );
}

/// One stored value, as it is in the database.
async fn raw(db: &Db, sql: &str, id: i64) -> String {
    jingkang_core::on_pool!(db, p => sqlx::query_scalar::<_, String>(sql).bind(id).fetch_one(p).await)
        .unwrap()
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
