//! Backup while the application writes, restore into an empty database, and the restored copy
//! equal to what the backup's manifest recorded — on SQLite and PostgreSQL (pg_dump/pg_restore of
//! the machine's PostgreSQL, into databases of the test's own).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jingkang_core::on_pool;
use jingkang_core::store::backup::{self, RestoreRefusal};
use jingkang_core::store::{Actor, Db, audit};

async fn count(db: &Db, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table}");
    on_pool!(db, p => sqlx::query_scalar(&sql).fetch_one(p).await).unwrap()
}

/// Write audit entries (and a person-free change set each) until told to stop.
fn load(db: Db, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let mut tx = db.begin().await.unwrap();
            audit::record(
                &mut tx,
                &Actor::system(),
                "test.load",
                None,
                serde_json::json!({ "n": n }),
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
            n += 1;
        }
        n
    })
}

async fn backup_under_load_then_restore(src: &Db, src_url: &str, dst_url: &str, dir: &Path) {
    let tree_rows = count(src, "regions").await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = load(src.clone(), stop.clone());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let file = dir.join("backup.bin");
    let m = backup::backup(src, src_url, &file, Path::new("pg_dump"))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let written = writer.await.unwrap();
    assert!(written > 0);
    assert!(backup::manifest_path(&file).exists());
    // The source went on after the snapshot.
    let after = u64::try_from(count(src, "audit_log").await).unwrap();
    assert!(after >= m.audit_entries, "{after} < {}", m.audit_entries);

    // A second backup to the same file is refused.
    assert!(
        backup::backup(src, src_url, &file, Path::new("pg_dump"))
            .await
            .is_err()
    );

    let restored = backup::restore(dst_url, &file, false, Path::new("pg_dump"))
        .await
        .unwrap()
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    // Exactly what the manifest says: the audit chain whole, ending at the recorded head.
    let mut tx = restored.begin_read().await.unwrap();
    let v = audit::verify(&mut tx).await.unwrap();
    let c = audit::checkpoint(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(v.first_broken, None);
    assert_eq!(
        (c.entries, c.head.clone()),
        (m.audit_entries, m.audit_head.clone())
    );
    assert_eq!(count(&restored, "regions").await, tree_rows);
    restored.close().await;

    // The target is no longer empty: a second restore is refused without --force, and works with.
    let again = backup::restore(dst_url, &file, false, Path::new("pg_dump"))
        .await
        .unwrap();
    assert!(matches!(again, Err(RestoreRefusal::NotEmpty)));
    let forced = backup::restore(dst_url, &file, true, Path::new("pg_dump"))
        .await
        .unwrap()
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    assert_eq!(
        u64::try_from(count(&forced, "audit_log").await).unwrap(),
        m.audit_entries
    );
    forced.close().await;

    // A file that is not a backup changes nothing.
    let junk = dir.join("junk.bin");
    std::fs::write(&junk, b"not a backup").unwrap();
    let r = backup::restore(dst_url, &junk, true, Path::new("pg_dump"))
        .await
        .unwrap();
    assert!(matches!(r, Err(RestoreRefusal::NotABackup(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backup_under_load_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let src_url = format!("sqlite://{}", dir.path().join("src.db").display());
    let src = Db::connect(&src_url)
        .await
        .unwrap()
        .with_keys(common::test_keys());
    common::install_regions(&src).await;
    let dst_url = format!("sqlite://{}", dir.path().join("dst.db").display());
    backup_under_load_then_restore(&src, &src_url, &dst_url, dir.path()).await;
}

/// A URL of the test server naming database `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backup_under_load_and_restore() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    use sqlx::Connection;
    let suffix = std::process::id();
    let (src_name, dst_name) = (format!("jk_bk_src_{suffix}"), format!("jk_bk_dst_{suffix}"));
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    for name in [&src_name, &dst_name] {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    let (src_url, dst_url) = (
        with_database(&url, &src_name),
        with_database(&url, &dst_name),
    );
    let src = Db::connect(&src_url)
        .await
        .unwrap()
        .with_keys(common::test_keys());
    common::install_regions(&src).await;
    let dir = tempfile::tempdir().unwrap();
    backup_under_load_then_restore(&src, &src_url, &dst_url, dir.path()).await;
    src.close().await;
    for name in [&src_name, &dst_name] {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap();
    }
}
