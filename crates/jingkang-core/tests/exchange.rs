//! Information exchange: a department's list, as a clerk receives it, compared with the registry.
//! The list is written as a real .xlsx and read by the real reader; every designed discrepancy must
//! land in its class, and bad input must change nothing.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::collections::HashSet;

use common::{TestDb, id, today, write_roster_xlsx};
use jingkang_core::exchange::{self, Check, Class, MatchedBy, run::RunRequest};
use jingkang_core::import::{ImportOptions, import_roster};
use jingkang_core::store::Actor;

const SURNAMES: &[&str] = &["张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴"];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超",
    "秀英", "桂英", "建华", "志强",
];
const N: usize = 60;

/// A registry person of the test: name, ID number, address, guardian.
struct Person {
    name: String,
    id: String,
    address: String,
    guardian: String,
}

fn persons() -> Vec<Person> {
    (0..N)
        .map(|i| {
            let birth = format!(
                "{}{:02}{:02}",
                1950 + (i * 37) % 50,
                1 + i % 12,
                1 + (i * 5) % 28
            );
            Person {
                name: format!("{}{}", SURNAMES[i % 10], GIVEN[(i * 7 + i / 10) % 20]),
                id: id("500110", &birth, &format!("{:03}", 100 + i)),
                address: format!(
                    "{}路{}号{}栋",
                    ["新华", "建设", "人民", "胜利"][i % 4],
                    10 + i,
                    i % 9 + 1
                ),
                guardian: format!("{}{}", SURNAMES[(i + 3) % 10], GIVEN[(i * 3) % 20]),
            }
        })
        .collect()
}

async fn import(t: &TestDb, county: &str, town: &str, people: &[Person]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.xlsx");
    let rows: Vec<[&str; 11]> = people
        .iter()
        .map(|p| {
            [
                town,
                p.name.as_str(),
                "",
                "",
                p.id.as_str(),
                "",
                "",
                p.address.as_str(),
                p.guardian.as_str(),
                "",
                "",
            ]
        })
        .collect();
    write_roster_xlsx(&path, &rows);
    let actor = Actor::user("tester");
    let opts = ImportOptions {
        county,
        dry_run: false,
        actor: &actor,
        source: "test",
        today: today(),
        progress: None,
    };
    let r = import_roster(&t.db, &t.tree, &path, &opts).await.unwrap();
    assert_eq!(r.created as usize, people.len(), "{:?}", r.errors);
}

/// A 公安 list as they send it: a title, their own header texts, a 合计 line.
fn write_list(path: &std::path::Path, header: &[&str], rows: &[Vec<String>]) {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "綦江区公安局 严重精神障碍患者名单")
        .unwrap();
    for (c, h) in header.iter().enumerate() {
        ws.write_string(1, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                ws.write_string(2 + r as u32, c as u16, v).unwrap();
            }
        }
    }
    ws.write_string(2 + rows.len() as u32, 0, "合计").unwrap();
    wb.save(path).unwrap();
}

async fn count(t: &TestDb, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    jingkang_core::on_pool!(&t.db, p => sqlx::query_scalar(&sql).fetch_one(p).await).unwrap()
}

async fn person_id(t: &TestDb, id_number: &str) -> i64 {
    common::person_by_id_number(&t.db, id_number).await
}

async fn police_list_lands_in_its_classes(t: TestDb) {
    let people = persons();
    import(&t, "500110", "万盛街道", &people).await;
    // The same person registered twice, under an ID number with a wrong sequence.
    let twin = Person {
        name: people[5].name.clone(),
        id: id("500110", &people[5].id[6..14], "195"),
        address: people[5].address.clone(),
        guardian: people[5].guardian.clone(),
    };
    import(&t, "500110", "万盛街道", std::slice::from_ref(&twin)).await;
    // A person registered in another county.
    let far_town = t.tree.townships_under("500101")[0].name.clone();
    let far = Person {
        name: "钱多多".into(),
        id: id("500101", "19800808", "555"),
        address: "万州某路1号".into(),
        guardian: "钱大".into(),
    };
    import(&t, "500101", &far_town, std::slice::from_ref(&far)).await;

    let header = [
        "序号",
        "人员姓名",
        "公民身份号码",
        "性别",
        "出生日期",
        "户籍详址",
        "监护人",
        "人员状态",
    ];
    let mut rows = Vec::new();
    let mut missing_id = Vec::new();
    for (i, p) in people.iter().enumerate() {
        if i % 10 == 0 {
            continue; // not on their list
        }
        let id = if i % 7 == 0 {
            missing_id.push(p.id.clone());
            String::new()
        } else {
            p.id.clone()
        };
        let address = if i == 9 || i == 27 {
            "南桐镇红岩社区八栋二单元".to_string()
        } else {
            p.address.clone()
        };
        let guardian = if i == 13 {
            "孙悟空".to_string()
        } else {
            p.guardian.clone()
        };
        let birth = format!("{}-{}-{}", &p.id[6..10], &p.id[10..12], &p.id[12..14]);
        let sex = if (p.id.as_bytes()[16] - b'0') % 2 == 1 {
            "男"
        } else {
            "女"
        };
        let state = if i == 11 { "死亡" } else { "正常" };
        rows.push(vec![
            (rows.len() + 1).to_string(),
            p.name.clone(),
            id,
            sex.into(),
            birth,
            address,
            guardian,
            state.into(),
        ]);
    }
    let strangers = [
        ("欧阳明月", id("500110", "19660606", "771")),
        ("司马青", id("500110", "19770707", "882")),
    ];
    for (name, sid) in &strangers {
        rows.push(vec![
            (rows.len() + 1).to_string(),
            (*name).into(),
            sid.clone(),
            String::new(),
            String::new(),
            "东林街道".into(),
            String::new(),
            "正常".into(),
        ]);
    }
    rows.push(vec![
        (rows.len() + 1).to_string(),
        far.name.clone(),
        far.id.clone(),
        String::new(),
        String::new(),
        far.address.clone(),
        String::new(),
        "正常".into(),
    ]);
    // A row with a name no one could have, and the same ID number as an earlier row.
    rows.push(vec![
        "99".into(),
        "12345".into(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]);
    rows.push(vec![
        "100".into(),
        people[1].name.clone(),
        people[1].id.clone(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    ]);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("公安名单.xlsx");
    write_list(&path, &header, &rows);

    let police = exchange::source("gongan").unwrap();
    let actor = Actor::user("clerk");
    let before_persons = count(&t, "persons").await;
    let report = exchange::run::run_list(
        &t.db,
        &t.tree,
        RunRequest {
            source: police,
            region: "500110",
            path: &path,
            file_name: "公安名单.xlsx",
            taken_on: "2026-10-31".parse().unwrap(),
            mapping: exchange::list::parse_mapping(&["户籍详址=address".into()]).unwrap(),
            actor: &actor,
            today: today(),
            rules: jingkang_core::regions::Rows::ALL,
        },
    )
    .await
    .unwrap();

    // Rows: the bad name is an error naming its row and column; the repeated ID is kept once.
    assert_eq!(report.read.errors.len(), 1, "{:?}", report.read.errors);
    let e = &report.read.errors[0];
    assert_eq!(
        (e.row, e.column.as_str(), e.field),
        (2 + rows.len() as u32 - 1, "人员姓名", "name")
    );
    assert_eq!(report.read.duplicates.len(), 1);
    assert_eq!(report.read.header_row, 2);

    let cmp = &report.comparison;
    let of = |class: Class| cmp.items.iter().filter(move |i| i.class == class);
    // Ours only: every tenth person, and the twin (active, not on their list).
    let mut ours_only: Vec<i64> = of(Class::OursOnly).map(|i| i.person.unwrap()).collect();
    ours_only.sort();
    let mut expected = Vec::new();
    for (i, p) in people.iter().enumerate() {
        if i % 10 == 0 {
            expected.push(person_id(&t, &p.id).await);
        }
    }
    expected.push(person_id(&t, &twin.id).await);
    expected.sort();
    assert_eq!(ours_only, expected);

    // Persons without an ID number on their list were found by the linkage.
    assert_eq!(cmp.matched_by_linkage as usize, missing_id.len());
    assert_eq!(
        cmp.matched_by_id as usize,
        people.len() - people.len() / 10 - missing_id.len()
    );

    // Theirs only: the two strangers, and the person of another county, flagged as such.
    let theirs: Vec<&exchange::Item> = of(Class::TheirsOnly).collect();
    assert_eq!(theirs.len(), 3, "{theirs:?}");
    let names: HashSet<&str> = theirs
        .iter()
        .map(|i| report.read.rows[i.row.unwrap()].name.as_str())
        .collect();
    assert_eq!(names, HashSet::from(["欧阳明月", "司马青", "钱多多"]));
    let far_item = theirs
        .iter()
        .find(|i| report.read.rows[i.row.unwrap()].name == "钱多多")
        .unwrap();
    assert!(far_item.elsewhere);

    // Conflicts: the moved addresses, the death, the guardian — each on its field.
    let conflict_of = |pid: i64| {
        of(Class::Conflict)
            .find(|i| i.person == Some(pid))
            .map(|i| i.conflicts.iter().map(|c| c.check).collect::<Vec<_>>())
    };
    assert_eq!(
        conflict_of(person_id(&t, &people[9].id).await),
        Some(vec![Check::Address])
    );
    assert_eq!(
        conflict_of(person_id(&t, &people[27].id).await),
        Some(vec![Check::Address])
    );
    assert_eq!(
        conflict_of(person_id(&t, &people[11].id).await),
        Some(vec![Check::Death])
    );
    assert_eq!(
        conflict_of(person_id(&t, &people[13].id).await),
        Some(vec![Check::Guardian])
    );
    assert_eq!(of(Class::Conflict).count(), 4);
    // A person linked without an ID who agrees on everything is no item at all.
    assert!(of(Class::Conflict).all(|i| i.matched_by == Some(MatchedBy::IdNumber)));

    // Duplicates inside the registry: the twin, with the fields that agreed.
    let dups: Vec<&exchange::Item> = of(Class::Duplicate).collect();
    assert_eq!(dups.len(), 1, "{dups:?}");
    let pair = (dups[0].person.unwrap(), dups[0].other.unwrap());
    assert_eq!(
        pair,
        (
            person_id(&t, &people[5].id).await,
            person_id(&t, &twin.id).await
        )
    );
    assert!(
        dups[0]
            .fields
            .iter()
            .any(|(c, l, _)| c == "姓名" && l == "exact")
    );

    // Saved: the list as a snapshot, the run with its counts, every item; the registry untouched.
    assert_eq!(count(&t, "exchange_lists").await, 1);
    assert_eq!(
        count(&t, "exchange_rows").await,
        report.read.rows.len() as i64
    );
    assert_eq!(count(&t, "exchange_items").await, cmp.items.len() as i64);
    assert_eq!(count(&t, "persons").await, before_persons);
    assert_eq!(report.summary.counts["theirs_only"], 3);
    let audited: i64 = jingkang_core::on_pool!(&t.db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'exchange.run' AND actor = 'user:clerk'").fetch_one(p).await).unwrap();
    assert_eq!(audited, 1);

    // The header text was remembered for 公安: the next list reads without being told.
    let again = exchange::run::run_list(
        &t.db,
        &t.tree,
        RunRequest {
            source: police,
            region: "500110",
            path: &path,
            file_name: "公安名单.xlsx",
            taken_on: "2026-11-30".parse().unwrap(),
            mapping: Default::default(),
            actor: &actor,
            today: today(),
            rules: jingkang_core::regions::Rows::ALL,
        },
    )
    .await
    .unwrap();
    assert_eq!(again.summary.counts, report.summary.counts);
    assert_eq!(count(&t, "exchange_lists").await, 2);

    // Review: the county sees both runs, another county none; items by class, with their rows.
    use jingkang_core::exchange::records::{self as saved, Decision, ItemState};
    use jingkang_core::regions::Scope;
    use jingkang_core::store::Refusal;
    let county = Scope::of(t.tree.get("500110").unwrap());
    let elsewhere = Scope::of(t.tree.get("500101").unwrap());
    let far_pid = person_id(&t, &far.id).await;
    let here = person_id(&t, &people[0].id).await;
    let mut tx = t.db.begin().await.unwrap();
    let runs = saved::runs(&mut tx, &county, 10).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![again.run, report.run]
    );
    assert_eq!(runs[1].taken_on.to_string(), "2026-10-31");
    assert!(
        saved::runs(&mut tx, &elsewhere, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        saved::items(&mut tx, &elsewhere, report.run, None)
            .await
            .unwrap()
            .is_none()
    );
    let theirs = saved::items(&mut tx, &county, report.run, Some(Class::TheirsOnly))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(theirs.len(), 3);
    assert!(
        theirs
            .iter()
            .all(|i| i.row.is_some() && i.state == ItemState::Open)
    );
    let conflict = saved::items(&mut tx, &county, report.run, Some(Class::Conflict))
        .await
        .unwrap()
        .unwrap()
        .remove(0);

    // Decisions: each audited, reversible, refused with a reason when they do not fit.
    async fn decide(
        tx: &mut jingkang_core::store::Tx,
        tree: &jingkang_core::regions::RegionTree,
        id: i64,
        d: Decision,
    ) -> Result<ItemState, Refusal> {
        let county = Scope::under(&"500110".parse().unwrap());
        let desk = saved::Desk {
            scope: &county,
            actor: &Actor::user("clerk"),
            tree,
            today: today(),
        };
        saved::decide(tx, &desk, id, &d, "核实").await.unwrap()
    }
    let code = |r: Result<ItemState, Refusal>| match r {
        Err(Refusal::Problems(p)) => p[0].code.clone(),
        other => format!("{other:?}"),
    };
    assert_eq!(
        decide(&mut tx, &t.tree, conflict.id, Decision::Reject).await,
        Ok(ItemState::Rejected)
    );
    assert_eq!(
        code(decide(&mut tx, &t.tree, conflict.id, Decision::Reject).await),
        "exchange-item-decided"
    );
    assert_eq!(
        decide(&mut tx, &t.tree, conflict.id, Decision::Reopen).await,
        Ok(ItemState::Open)
    );
    assert_eq!(
        code(decide(&mut tx, &t.tree, conflict.id, Decision::Reopen).await),
        "exchange-item-open"
    );
    let stranger = theirs[0].id;
    assert_eq!(
        code(decide(&mut tx, &t.tree, stranger, Decision::Link { person: None }).await),
        "exchange-link-person-missing"
    );
    assert_eq!(
        code(
            decide(
                &mut tx,
                &t.tree,
                stranger,
                Decision::Link {
                    person: Some(far_pid)
                }
            )
            .await
        ),
        "exchange-link-person-unknown"
    );
    assert_eq!(
        decide(
            &mut tx,
            &t.tree,
            stranger,
            Decision::Link { person: Some(here) }
        )
        .await,
        Ok(ItemState::Linked)
    );
    // Another county's user cannot touch it.
    assert_eq!(
        saved::decide(
            &mut tx,
            &saved::Desk {
                scope: &elsewhere,
                actor: &actor,
                tree: &t.tree,
                today: today(),
            },
            stranger,
            &Decision::Reject,
            ""
        )
        .await
        .unwrap(),
        Err(Refusal::NotFound)
    );
    tx.commit().await.unwrap();
    let mut tx = t.db.begin_read().await.unwrap();
    let (_, linked) = saved::item(&mut tx, &county, stranger)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (linked.state, linked.person),
        (ItemState::Linked, Some(here))
    );
    drop(tx);
    let decided: i64 = jingkang_core::on_pool!(&t.db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'exchange.decide'").fetch_one(p).await)
    .unwrap();
    assert_eq!(decided, 3);

    // Merge the twin into the person it duplicates, then undo it.
    let mut tx = t.db.begin().await.unwrap();
    let dup = saved::items(&mut tx, &county, report.run, Some(Class::Duplicate))
        .await
        .unwrap()
        .unwrap()
        .remove(0);
    let theirs = saved::items(&mut tx, &county, report.run, Some(Class::TheirsOnly))
        .await
        .unwrap()
        .unwrap();
    let item_named = |name: &str| {
        theirs
            .iter()
            .find(|i| i.row.as_ref().is_some_and(|r| r.name == name))
            .unwrap()
            .id
    };
    let (sima, qian) = (item_named("司马青"), item_named("钱多多"));
    let (kept, twin_pid) = (dup.person.unwrap(), dup.other.unwrap());
    let merge = |survivor| Decision::Merge {
        survivor,
        take: vec!["guardian1.name".into()],
    };
    assert_eq!(
        code(decide(&mut tx, &t.tree, conflict.id, merge(kept)).await),
        "exchange-merge-class"
    );
    assert_eq!(
        code(decide(&mut tx, &t.tree, dup.id, merge(here)).await),
        "exchange-merge-survivor"
    );
    assert_eq!(
        decide(&mut tx, &t.tree, dup.id, merge(kept)).await,
        Ok(ItemState::Merged)
    );
    assert_eq!(
        jingkang_core::store::merge::merged_into(&mut tx, twin_pid)
            .await
            .unwrap(),
        Some(kept)
    );
    assert_eq!(
        decide(&mut tx, &t.tree, dup.id, Decision::Reopen).await,
        Ok(ItemState::Open)
    );
    assert_eq!(
        jingkang_core::store::merge::merged_into(&mut tx, twin_pid)
            .await
            .unwrap(),
        None
    );

    // Create a record from their row: the township is needed (their list has none), the
    // person must not be registered elsewhere; undone while nothing was recorded for them.
    let create = |township: Option<&str>| Decision::Create {
        township: township.map(str::to_string),
    };
    match decide(&mut tx, &t.tree, sima, create(None)).await {
        Err(Refusal::Problems(p)) => assert_eq!(p[0].field, "township", "{p:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        code(decide(&mut tx, &t.tree, qian, create(Some("万盛街道"))).await),
        "exchange-create-elsewhere"
    );
    assert_eq!(
        code(decide(&mut tx, &t.tree, conflict.id, create(Some("万盛街道"))).await),
        "exchange-create-class"
    );
    assert_eq!(
        decide(&mut tx, &t.tree, sima, create(Some("万盛街道"))).await,
        Ok(ItemState::Created)
    );
    tx.commit().await.unwrap();
    let sima_id = strangers[1].1.clone();
    let created = person_id(&t, &sima_id).await;
    let state: String = jingkang_core::on_pool!(&t.db, p => sqlx::query_scalar("SELECT registration_state FROM persons WHERE id = $1")
        .bind(created).fetch_one(p).await).unwrap();
    assert_eq!(state, "pending");
    let mut tx = t.db.begin().await.unwrap();
    assert_eq!(
        decide(&mut tx, &t.tree, sima, Decision::Reopen).await,
        Ok(ItemState::Open)
    );
    tx.commit().await.unwrap();
    let hash =
        t.db.keys()
            .index(jingkang_core::secrets::Index::IdNumber, &sima_id)
            .unwrap();
    let left: i64 = jingkang_core::on_pool!(&t.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM persons WHERE id_hash = $1")
        .bind(&hash).fetch_one(p).await).unwrap();
    assert_eq!(left, 0);
    let mut tx = t.db.begin().await.unwrap();
    assert_eq!(
        decide(&mut tx, &t.tree, sima, create(Some("万盛街道"))).await,
        Ok(ItemState::Created)
    );
    tx.commit().await.unwrap();
    // Once the record is used (registered), creating it is no longer undone.
    let created = person_id(&t, &sima_id).await;
    common::transition_on(
        &t,
        &county,
        created,
        "2026-11-23",
        common::register_by_exception(),
    )
    .await;
    let mut tx = t.db.begin().await.unwrap();
    assert_eq!(
        code(decide(&mut tx, &t.tree, sima, Decision::Reopen).await),
        "exchange-create-used"
    );
    tx.commit().await.unwrap();
    let audited: i64 = jingkang_core::on_pool!(&t.db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action IN ('person.create', 'person.delete') AND actor = 'user:clerk'").fetch_one(p).await)
    .unwrap();
    assert_eq!(audited, 3);
}

async fn bad_lists_change_nothing(t: TestDb) {
    common::some_persons(&t, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let police = exchange::source("police").unwrap();
    let actor = Actor::user("clerk");
    let run = |path: std::path::PathBuf, county: &'static str| {
        let (db, tree, actor) = (&t.db, &t.tree, &actor);
        async move {
            exchange::run::run_list(
                db,
                tree,
                RunRequest {
                    source: police,
                    region: county,
                    path: &path,
                    file_name: "x",
                    taken_on: today(),
                    mapping: Default::default(),
                    actor,
                    today: today(),
                    rules: jingkang_core::regions::Rows::ALL,
                },
            )
            .await
        }
    };
    // No header: says which column is missing.
    let no_header = dir.path().join("a.xlsx");
    write_list(
        &no_header,
        &["序号", "人名", "号码"],
        &[vec!["1".into(), "张三".into(), "1".into()]],
    );
    let e = run(no_header.clone(), "500110").await.unwrap_err();
    assert_eq!(e.code(), "list-header-not-found");
    assert!(e.message_zh().contains("姓名"), "{}", e.message_zh());
    // Not a spreadsheet; an unknown county; a province instead of a county.
    let txt = dir.path().join("a.pdf");
    std::fs::write(&txt, "x").unwrap();
    assert_eq!(
        run(txt, "500110").await.unwrap_err().code(),
        "file-type-unsupported"
    );
    let ok = dir.path().join("b.xlsx");
    write_list(
        &ok,
        &["姓名", "身份证号", "性别"],
        &[vec!["张三".into(), String::new(), "男".into()]],
    );
    assert_eq!(
        run(ok.clone(), "509999").await.unwrap_err().code(),
        "county-unknown"
    );
    // A province is too wide a list (a township is fine: a 派出所 lists its township).
    assert_eq!(
        run(ok, "500000").await.unwrap_err().code(),
        "county-not-county"
    );
    for table in [
        "exchange_lists",
        "exchange_rows",
        "exchange_runs",
        "exchange_items",
        "exchange_mappings",
    ] {
        assert_eq!(count(&t, table).await, 0, "{table}");
    }
}

/// Write a CSV list: a header line and rows.
fn write_csv(path: &std::path::Path, header: &str, rows: &[String]) {
    let mut text = format!("{header}\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

async fn census_gives_one_item_per_person(t: TestDb) {
    use jingkang_core::exchange::run::{CensusError, CensusFile, CensusRequest, run_census};
    let people: Vec<Person> = persons().into_iter().take(20).collect();
    import(&t, "500110", "万盛街道", &people).await;
    let pid = |i: usize| person_id(&t, &people[i].id);
    let certificate = format!("{}62", people[3].id);
    let (third, fourth) = (pid(3).await, pid(4).await);
    jingkang_core::on_pool!(&t.db, p => sqlx::query("UPDATE persons SET disability_certificate = $1, disability_grade = 2 WHERE id = $2")
        .bind(&certificate).bind(third).execute(p).await.map(drop)).unwrap();
    jingkang_core::on_pool!(&t.db, p => sqlx::query("UPDATE persons SET subsistence_allowance = $1 WHERE id = $2")
        .bind(true).bind(fourth).execute(p).await.map(drop)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let line = |p: &Person| format!("{},{},{}", p.name, p.id, p.address);
    let stranger = Person {
        name: "欧阳明月".into(),
        id: id("500110", "19660606", "771"),
        address: "东林街道红岩路5号".into(),
        guardian: String::new(),
    };
    // 公安: all but persons 0 and 1, and a stranger with an ID number.
    let mut police: Vec<String> = people.iter().skip(2).map(line).collect();
    police.push(line(&stranger));
    // 卫健: all but person 1.
    let health: Vec<String> = people
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, p)| line(p))
        .collect();
    // 民政: the allowance recipient, and someone who is only a recipient (not reported).
    let civil = vec![
        format!(
            "{},{},{},低保",
            people[4].name, people[4].id, people[4].address
        ),
        format!("赵铁柱,{},南桐镇1号,特困", id("500110", "19500101", "313")),
    ];
    // 残联: person 3 with another grade; the stranger again, without an ID number.
    let disability = vec![
        format!("{},{},{},一级", people[3].name, people[3].id, certificate),
        format!("{},,,二级,1966-06-06,{}", stranger.name, stranger.address),
    ];
    let files = [
        ("gongan", "公安.csv", "姓名,身份证号,地址", police),
        ("weijian", "卫健.csv", "姓名,身份证号,地址", health),
        ("minzheng", "民政.csv", "姓名,身份证号,地址,救助类别", civil),
        (
            "canlian",
            "残联.csv",
            "姓名,身份证号,残疾证号,残疾等级,出生日期,地址",
            disability,
        ),
    ];
    let mut paths = Vec::new();
    for (_, name, header, rows) in &files {
        let path = dir.path().join(name);
        write_csv(&path, header, rows);
        paths.push(path);
    }
    let actor = Actor::user("clerk");
    let request = |which: &[usize]| CensusRequest {
        region: "500110",
        files: which
            .iter()
            .map(|&k| CensusFile {
                source: exchange::source(files[k].0).unwrap(),
                path: &paths[k],
                file_name: files[k].1,
            })
            .collect(),
        taken_on: "2026-10-31".parse().unwrap(),
        actor: &actor,
        today: today(),
        rules: jingkang_core::regions::Rows::ALL,
    };

    // Refused, nothing saved: one list; one department twice; a file that is no spreadsheet.
    let code = |r: Result<_, CensusError>| {
        r.map(|_: jingkang_core::exchange::run::CensusReport| ())
            .unwrap_err()
    };
    assert_eq!(
        code(run_census(&t.db, &t.tree, request(&[0])).await).code(),
        "census-needs-lists"
    );
    let e = code(run_census(&t.db, &t.tree, request(&[0, 0])).await);
    assert_eq!(e.code(), "census-source-twice");
    assert!(e.message_zh().contains("公安"), "{}", e.message_zh());
    let pdf = dir.path().join("残联.pdf");
    std::fs::write(&pdf, "%PDF").unwrap();
    let mut bad = request(&[0, 3]);
    bad.files[1].path = &pdf;
    let e = code(run_census(&t.db, &t.tree, bad).await);
    assert!(e.message_zh().starts_with("残联名单"), "{}", e.message_zh());
    assert_eq!(count(&t, "exchange_runs").await, 0);

    let report = run_census(&t.db, &t.tree, request(&[0, 1, 2, 3]))
        .await
        .unwrap();
    let items = &report.comparison.items;
    let of = |class: Class| items.iter().filter(move |i| i.class == class);
    // One item per person: person 0 missing from 公安; person 1 from 公安 and 卫健.
    let mut missing: Vec<(i64, Vec<String>)> = of(Class::OursOnly)
        .map(|i| (i.person.unwrap(), i.missing_from.clone()))
        .collect();
    missing.sort();
    assert_eq!(
        missing,
        vec![
            (pid(0).await, vec!["police".to_string()]),
            (
                pid(1).await,
                vec!["police".to_string(), "health".to_string()]
            ),
        ]
    );
    // Person 3: the grade 残联 reports, tagged with the department, seen on three lists.
    let conflicts: Vec<&exchange::Item> = of(Class::Conflict).collect();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].person, Some(pid(3).await));
    assert_eq!(
        conflicts[0]
            .conflicts
            .iter()
            .map(|c| (c.check, c.source.as_deref()))
            .collect::<Vec<_>>(),
        vec![(Check::Grade, Some("disability_federation"))]
    );
    assert_eq!(conflicts[0].seen.len(), 3);
    // The stranger is one person on two lists (linked without an ID number); the 民政-only
    // recipient is no item.
    let theirs: Vec<&exchange::Item> = of(Class::TheirsOnly).collect();
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    let sources: Vec<&str> = theirs[0].seen.iter().map(|s| s.source.as_str()).collect();
    assert_eq!(sources, vec!["police", "disability_federation"]);
    assert_eq!(theirs[0].seen[1].matched_by, Some(MatchedBy::Linkage));
    assert_eq!(of(Class::Duplicate).count(), 0);
    assert_eq!(items.len(), 4);

    // Saved: four lists, one run, its items with their rows on every list.
    assert_eq!(count(&t, "exchange_lists").await, 4);
    assert_eq!(count(&t, "exchange_runs").await, 1);
    assert_eq!(report.summary.files.len(), 4);
    let county = jingkang_core::regions::Scope::of(t.tree.get("500110").unwrap());
    let mut tx = t.db.begin_read().await.unwrap();
    let saved = jingkang_core::exchange::records::items(
        &mut tx,
        &county,
        report.run,
        Some(Class::TheirsOnly),
    )
    .await
    .unwrap()
    .unwrap();
    let seen = saved[0].detail["seen"].as_array().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1]["source"], "disability_federation");
    assert_eq!(seen[1]["row_number"], 3);
    assert_eq!(saved[0].row.as_ref().unwrap().name, "欧阳明月");
    let run = jingkang_core::exchange::records::run(&mut tx, &county, report.run)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.source, "census");
}

backend_tests!(
    police_list_lands_in_its_classes,
    bad_lists_change_nothing,
    census_gives_one_item_per_person
);
