//! Roster import/export, history, scope and audit — on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{TestDb, id, today, write_roster_xlsx};
use jingkang_core::domain::RegistrationState;
use jingkang_core::export::{ExportRequest, export_roster};
use jingkang_core::generate::{self, GenOptions};
use jingkang_core::import::{ImportError, ImportOptions, ImportReport, import_roster};
use jingkang_core::regions::Scope;
use jingkang_core::store::persons::{self, ListFilter};
use jingkang_core::store::{Actor, Db, audit};
use jingkang_core::{on_pool, on_tx};

const COUNTY: &str = "500110"; // 綦江区 (万盛街道 500110004)
const OTHER_COUNTY: &str = "500111"; // 大足区

async fn import(
    t: &TestDb,
    path: &Path,
    county: &str,
    dry_run: bool,
) -> Result<ImportReport, ImportError> {
    let actor = Actor::user("tester");
    let opts = ImportOptions {
        county,
        dry_run,
        actor: &actor,
        source: "test",
        today: today(),
        progress: None,
    };
    import_roster(&t.db, &t.tree, path, &opts).await
}

async fn count(db: &Db, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    on_pool!(db, p => sqlx::query_scalar(&sql).fetch_one(p).await).unwrap()
}

async fn table_counts(db: &Db) -> BTreeMap<&'static str, i64> {
    let mut m = BTreeMap::new();
    for t in ["persons", "guardians", "person_history", "change_sets"] {
        m.insert(t, count(db, t).await);
    }
    m
}

/// Generate a roster for COUNTY into `dir`; returns its path and what an import must find.
fn gen_roster(
    t: &TestDb,
    dir: &Path,
    rows: u64,
    seed: u64,
    error_rate: f64,
    messy: bool,
) -> (std::path::PathBuf, generate::Truth) {
    let path = dir.join("gen.xlsx");
    let county = t.tree.get(COUNTY).unwrap();
    let opts = GenOptions {
        rows,
        seed,
        error_rate,
        messy,
        today: today(),
    };
    let truth = generate::write_roster(&t.tree, county, opts, &path, None).unwrap();
    (path, truth)
}

fn scope(t: &TestDb, code: &str) -> Scope {
    Scope::of(t.tree.get(code).expect("region"))
}

async fn generated_roster_matches_truth(t: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (path, truth) = gen_roster(&t, dir.path(), 3000, 11, 0.05, true);
    assert!(
        truth.errors.len() >= 8,
        "all error kinds planted: {:?}",
        truth.errors.keys()
    );

    let r = import(&t, &path, COUNTY, false).await.unwrap();
    assert_eq!(r.rows_read, truth.rows);
    assert_eq!(r.created, truth.valid);
    assert_eq!(r.accepted, truth.valid);
    let dups: Vec<(u32, u32)> = r
        .duplicates
        .iter()
        .map(|d| (d.row, d.same_as_row))
        .collect();
    assert_eq!(dups, truth.duplicates);
    let mut found: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for e in &r.errors {
        found.entry(e.code.clone()).or_default().push(e.row);
        assert!(!e.message.is_empty() && !e.column.is_empty());
        assert!(
            e.message
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "message in Chinese: {}",
            e.message
        );
    }
    assert_eq!(found, truth.errors);
    assert_eq!(count(&t.db, "persons").await as u64, truth.valid);
}

/// A large import leaves PostgreSQL's planner statistics and visibility map current (VACUUM
/// ANALYZE after it): otherwise the planner takes the new persons for none and every index-only
/// search visits the table for each match, until autovacuum comes round.
async fn a_large_import_refreshes_planner_statistics(t: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let rows = persons::REFRESH_AFTER_ROWS + 200;
    let (path, truth) = gen_roster(&t, dir.path(), rows, 3, 0.0, false);
    let r = import(&t, &path, COUNTY, false).await.unwrap();
    assert_eq!(r.created, truth.valid);
    assert!(r.created >= persons::REFRESH_AFTER_ROWS, "{}", r.created);
    if let jingkang_core::store::Pool::Postgres(p) = &t.db.pool {
        let tuples: f32 = sqlx::query_scalar(
            "SELECT reltuples FROM pg_class WHERE relname = 'persons' \
             AND relnamespace = current_schema()::regnamespace",
        )
        .fetch_one(p)
        .await
        .unwrap();
        assert!(tuples as u64 >= r.created * 9 / 10, "reltuples {tuples}");
        // The VACUUM ran (the visibility map it sets depends on no older snapshot being open in
        // the cluster, which other tests running beside this one may hold: not asserted).
        let vacuumed: bool = sqlx::query_scalar(
            "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'persons' \
             AND schemaname = current_schema()",
        )
        .fetch_one(p)
        .await
        .unwrap();
        assert!(vacuumed, "persons was vacuumed after the import");
    }
}

/// A CSV and an xlsx of the same sheet report a problem on the same row: the row a person sees
/// when opening the file (line 5 in a text editor, row 5 in Excel/WPS), not one lower.
async fn csv_and_xlsx_report_the_same_rows(t: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let good = id("500110", "19900101", "123");
    // A check character that does not match.
    let valid = id("500110", "19850615", "246");
    let last = if valid.ends_with('1') { "2" } else { "1" };
    let bad = format!("{}{last}", &valid[..17]);
    let rows: [[&str; 11]; 2] = [
        [
            "万盛街道",
            "张三",
            "男",
            "36",
            &good,
            "",
            "",
            "新华路12号",
            "张大山",
            "13812345678",
            "",
        ],
        [
            "万盛街道",
            "李四",
            "女",
            "41",
            &bad,
            "",
            "",
            "东林村3组",
            "",
            "",
            "",
        ],
    ];
    let xlsx = dir.path().join("same.xlsx");
    write_roster_xlsx(&xlsx, &rows);
    let csv = dir.path().join("same.csv");
    let mut text = String::from(
        "綦江区万盛街道精神障碍患者花名册\n填报单位：万盛街道\n\
         序号,镇街,姓名,性别,年龄,身份证号,残疾证号,残疾等级,家庭住址,监护人,监护人电话,备注\n",
    );
    for (i, r) in rows.iter().enumerate() {
        text.push_str(&format!("{},{}\n", i + 1, r.join(",")));
    }
    text.push_str("合计\n填表人：\n");
    std::fs::write(&csv, text).unwrap();
    let mut seen = Vec::new();
    for path in [&xlsx, &csv] {
        let r = import(&t, path, COUNTY, true).await.unwrap();
        assert_eq!(r.accepted, 1, "{:?}", r.errors);
        let rows: Vec<(u32, &str)> = r.errors.iter().map(|e| (e.row, e.field)).collect();
        seen.push(rows);
    }
    assert_eq!(seen[0], vec![(5, "id_number")], "xlsx");
    assert_eq!(seen[1], seen[0], "the CSV names the same rows as the xlsx");
}

/// A township's clerk imports the county's roster as it comes: rows of the county's other
/// townships are skipped and counted, not errors; a name that is no township of the county is
/// still an error, whose example is a real township and never the name it rejects.
async fn a_township_import_skips_the_other_townships(t: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        id("500110", "19900101", "123"),
        id("500110", "19850615", "246"),
        id("500110", "19700303", "357"),
    );
    let path = dir.path().join("county.xlsx");
    let row = |town: &'static str, name: &'static str, id: &str| -> [String; 11] {
        [town, name, "", "", id, "", "", "", "", "", ""].map(str::to_string)
    };
    let rows = [
        row("万盛街道", "张三", &a),
        row("东林街道", "李四", &b),
        row("万胜镇", "王五", &c),
    ];
    let refs: Vec<[&str; 11]> = rows
        .iter()
        .map(|r| r.each_ref().map(String::as_str))
        .collect();
    write_roster_xlsx(&path, &refs);
    let r = import(&t, &path, "500110004", false).await.unwrap();
    assert_eq!((r.created, r.outside_rows), (1, 1), "{:?}", r.errors);
    let problems: Vec<(u32, &str)> = r.errors.iter().map(|e| (e.row, e.code.as_str())).collect();
    assert_eq!(problems, vec![(6, "township-unknown")]);
    let message = &r.errors[0].message;
    assert!(
        message.contains("“万胜镇”不是") && message.contains("如“万盛街道”"),
        "{message}"
    );
    // The county's own import takes every township and skips nothing.
    let r = import(&t, &path, COUNTY, true).await.unwrap();
    assert_eq!(r.outside_rows, 0);
    assert_eq!((r.created, r.unchanged), (1, 1), "{:?}", r.errors);
}

async fn reimport_changes_nothing(t: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (path, truth) = gen_roster(&t, dir.path(), 500, 5, 0.02, true);
    let first = import(&t, &path, COUNTY, false).await.unwrap();
    assert_eq!(first.created, truth.valid);
    // The first load into an empty registry drops and rebuilds the person indexes: all are back.
    let mut tx = t.db.begin().await.unwrap();
    assert_eq!(
        jingkang_core::store::persons::index_names(&mut tx)
            .await
            .unwrap(),
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
    drop(tx);
    let before = table_counts(&t.db).await;
    let again = import(&t, &path, COUNTY, false).await.unwrap();
    assert_eq!(
        (again.created, again.updated, again.unchanged),
        (0, 0, truth.valid)
    );
    assert!(again.changes.is_empty());
    assert_eq!(
        table_counts(&t.db).await,
        before,
        "a re-import writes no data rows"
    );
}

async fn changed_file_shows_diff_then_records_history(t: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let a = id("500110", "19900101", "123");
    let b = id("500110", "19850615", "246");
    let cert_a = format!("{a}63");
    let v1 = dir.path().join("v1.xlsx");
    write_roster_xlsx(
        &v1,
        &[
            [
                "万盛街道",
                "张三",
                "男",
                "36",
                &a,
                &cert_a,
                "精神三级",
                "新华路12号",
                "张大山",
                "13812345678",
                "",
            ],
            [
                "东林街道",
                "李四",
                "女",
                "41",
                &b,
                "",
                "",
                "东林村3组",
                "李老汉",
                "023-48281234",
                "独居",
            ],
        ],
    );
    let r = import(&t, &v1, COUNTY, false).await.unwrap();
    assert_eq!((r.created, r.errors.len()), (2, 0), "{:?}", r.errors);

    // v2: 张三 moved within the county and has a new guardian phone; 李四 unchanged; a blank cell keeps data.
    let v2 = dir.path().join("v2.xlsx");
    write_roster_xlsx(
        &v2,
        &[
            [
                "古南街道",
                "张三",
                "男",
                "36",
                &a,
                &cert_a,
                "三级",
                "古南大道8号",
                "张大山",
                "13900001111",
                "",
            ],
            [
                "东林街道",
                "李四",
                "女",
                "41",
                &b,
                "",
                "",
                "东林村3组",
                "李老汉",
                "023-48281234",
                "",
            ],
        ],
    );
    let before = table_counts(&t.db).await;
    let preview = import(&t, &v2, COUNTY, true).await.unwrap();
    assert!(preview.dry_run);
    assert_eq!((preview.updated, preview.unchanged), (1, 1));
    let mut fields: Vec<&str> = preview.changes.iter().map(|c| c.field.as_str()).collect();
    fields.sort();
    assert_eq!(
        fields,
        ["guardian1.phone", "residence_address", "residence_region"]
    );
    let phone = preview
        .changes
        .iter()
        .find(|c| c.field == "guardian1.phone")
        .unwrap();
    assert_eq!(
        phone.old.as_deref(),
        Some("138****5678"),
        "phones masked in the diff"
    );
    assert_eq!(phone.new.as_deref(), Some("139****1111"));
    assert!(
        preview.changes[0].person.contains("5001**********"),
        "ID masked: {}",
        preview.changes[0].person
    );
    assert_eq!(table_counts(&t.db).await, before, "dry run writes nothing");

    let applied = import(&t, &v2, COUNTY, false).await.unwrap();
    assert_eq!(applied.updated, 1);
    let sc = scope(&t, COUNTY);
    let mut tx = t.db.begin().await.unwrap();
    let found = persons::find_by_id_numbers(&mut tx, &sc, &[a.as_str()])
        .await
        .unwrap();
    let p = &found[&a];
    assert_eq!(p.record.data.residence_region, "500110001");
    assert_eq!(p.record.data.notes, None);
    assert_eq!(p.version, 2);
    let h = persons::history(&mut tx, &sc, p.id).await.unwrap();
    tx.commit().await.unwrap();
    let addr = h.iter().find(|e| e.field == "residence_address").unwrap();
    assert_eq!(addr.old.as_deref(), Some("新华路12号"));
    assert_eq!(addr.new.as_deref(), Some("古南大道8号"));
    assert_eq!(addr.actor, "user:tester");
    assert_eq!(addr.source, "test");
    assert_eq!(h.len(), 3);

    // 李四's 备注 was blank in v2: kept.
    let mut tx = t.db.begin().await.unwrap();
    let lisi = persons::find_by_id_numbers(&mut tx, &sc, &[b.as_str()])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(lisi[&b].record.data.notes.as_deref(), Some("独居"));
}

async fn bad_rows_are_rejected_whole_and_good_rows_imported(t: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let good = id("500110", "19700303", "135");
    let bad_phone = id("500110", "19750505", "357");
    let wrong_sex = id("500110", "19800808", "246"); // even → female
    let mismatch = id("500110", "19820202", "112");
    let path = dir.path().join("bad.xlsx");
    write_roster_xlsx(
        &path,
        &[
            ["万盛", "王五", "男", "", &good, "", "4级", "", "", "", ""],
            [
                "万盛街道",
                "赵六",
                "男",
                "",
                &bad_phone,
                "",
                "",
                "",
                "赵妻",
                "12345",
                "",
            ],
            [
                "万盛街道",
                "孙七",
                "男",
                "",
                &wrong_sex,
                "",
                "",
                "",
                "",
                "",
                "",
            ],
            [
                "万盛街道",
                "周八",
                "女",
                "",
                &mismatch,
                &format!("{good}63"),
                "",
                "",
                "",
                "",
                "",
            ],
            [
                "万盛街道",
                "",
                "女",
                "",
                &id("500110", "19900909", "222"),
                "",
                "",
                "",
                "",
                "",
                "",
            ],
            [
                "北京街道",
                "吴九",
                "女",
                "",
                &id("500110", "19911111", "224"),
                "",
                "",
                "",
                "",
                "",
                "",
            ],
            [
                "万盛街道",
                "郑十",
                "男",
                "",
                &format!("{}0", &good[..17]),
                "",
                "",
                "",
                "",
                "",
                "",
            ],
            [
                "万盛街道",
                "冯一",
                "男",
                "",
                &id("500110", "19930231", "111"),
                "",
                "",
                "",
                "",
                "",
                "",
            ],
            [
                "万盛街道",
                "陈二",
                "男",
                "",
                &good,
                "",
                "",
                "",
                "",
                "",
                "重复行",
            ],
            ["", "", "", "", "", "", "", "", "", "", ""], // a pre-numbered template row: only 序号
        ],
    );
    let r = import(&t, &path, COUNTY, false).await.unwrap();
    assert_eq!(r.rows_read, 9, "the template row is skipped, not an error");
    let codes: Vec<(u32, &str, &str)> = r
        .errors
        .iter()
        .map(|e| (e.row, e.column.as_str(), e.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        vec![
            (5, "监护人电话", "phone-invalid"),
            (6, "性别", "sex-id-mismatch"),
            (7, "残疾证号", "certificate-id-mismatch"),
            (8, "姓名", "name-missing"),
            (9, "镇街", "township-unknown"),
            (10, "身份证号", "id-checksum"),
            (11, "身份证号", "id-invalid-date"),
        ]
    );
    assert_eq!(r.duplicates.len(), 1);
    assert_eq!((r.duplicates[0].row, r.duplicates[0].same_as_row), (12, 4));
    assert_eq!(r.created, 1);
    assert_eq!(count(&t.db, "persons").await, 1, "no half rows");
    assert_eq!(
        count(&t.db, "guardians").await,
        0,
        "the rejected row's guardian was not written"
    );
}

async fn scope_isolates_counties(t: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let a = id("500110", "19900101", "123");
    let path = dir.path().join("a.xlsx");
    write_roster_xlsx(
        &path,
        &[["万盛街道", "张三", "男", "", &a, "", "", "", "", "", ""]],
    );
    import(&t, &path, COUNTY, false).await.unwrap();

    // The same person in another county's roster: refused, nothing changed, nothing revealed.
    let other = t.tree.townships_under(OTHER_COUNTY)[0].name.clone();
    let path2 = dir.path().join("b.xlsx");
    write_roster_xlsx(
        &path2,
        &[[&other, "张三", "男", "", &a, "", "", "", "", "", ""]],
    );
    let before = table_counts(&t.db).await;
    let r = import(&t, &path2, OTHER_COUNTY, false).await.unwrap();
    assert_eq!(r.errors.len(), 1);
    assert_eq!(r.errors[0].code, "person-outside-scope");
    assert_eq!(table_counts(&t.db).await, before);

    let mut tx = t.db.begin().await.unwrap();
    let own = persons::list(&mut tx, &scope(&t, COUNTY), &ListFilter::default())
        .await
        .unwrap();
    assert_eq!(own.len(), 1);
    let id_ = own[0].id;
    let theirs = persons::list(&mut tx, &scope(&t, OTHER_COUNTY), &ListFilter::default())
        .await
        .unwrap();
    assert!(theirs.is_empty());
    // Learning that the record exists in another county was audited with the person.
    let disclosed: i64 = on_tx!(&mut tx, c => sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'person.exists_elsewhere' AND target_kind = 'person' AND target_id = $1")
        .bind(id_.to_string()).fetch_one(&mut **c).await)
    .unwrap();
    assert_eq!(disclosed, 1);
    let actor = Actor::user("tester");
    assert!(
        persons::get(&mut tx, &scope(&t, OTHER_COUNTY), &actor, id_)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        persons::history(&mut tx, &scope(&t, OTHER_COUNTY), id_)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        persons::get(&mut tx, &scope(&t, "500000"), &actor, id_)
            .await
            .unwrap()
            .is_some(),
        "the city sees its subtree"
    );
    let township = scope(&t, "500110004");
    assert_eq!(persons::count(&mut tx, &township).await.unwrap(), 1);
    assert_eq!(
        persons::count(&mut tx, &scope(&t, "500110001"))
            .await
            .unwrap(),
        0
    );
    tx.commit().await.unwrap();
}

async fn export_then_import_is_zero_changes(t: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (path, truth) = gen_roster(&t, dir.path(), 400, 3, 0.0, true);
    import(&t, &path, COUNTY, false).await.unwrap();

    let out = dir.path().join("export.xlsx");
    let sc = scope(&t, COUNTY);
    let actor = Actor::user("tester");
    let req = ExportRequest {
        scope: &sc,
        region: t.tree.get(COUNTY).unwrap(),
        out: &out,
        as_of: today(),
        actor: &actor,
        reason: "测试",
    };
    let s = export_roster(&t.db, &t.tree, &req).await.unwrap();
    assert_eq!(s.persons, truth.valid);

    // The file, read back with calamine: title, header, text IDs, ages, 合计.
    use calamine::{Data, Reader, Xlsx, open_workbook};
    let mut wb: Xlsx<_> = open_workbook(&out).unwrap();
    let range = wb.worksheet_range("花名册").unwrap();
    assert_eq!(
        range.get_value((0, 0)),
        Some(&Data::String("綦江区精神障碍患者花名册".into()))
    );
    assert_eq!(
        range.get_value((2, 5)),
        Some(&Data::String("身份证号".into()))
    );
    let first_id = range.get_value((3, 5)).unwrap();
    assert!(
        matches!(first_id, Data::String(s) if s.len() == 18),
        "ID written as text: {first_id:?}"
    );
    let total_row = 3 + truth.valid as u32;
    assert_eq!(
        range.get_value((total_row, 0)),
        Some(&Data::String("合计".into()))
    );
    if let Data::String(idn) = first_id {
        let parsed = jingkang_core::domain::IdNumber::parse(idn).unwrap();
        let age = range.get_value((3, 4)).unwrap();
        assert_eq!(age, &Data::Float(f64::from(parsed.age_on(today()))));
    }

    let before = table_counts(&t.db).await;
    let r = import(&t, &out, COUNTY, false).await.unwrap();
    assert_eq!(
        (r.created, r.updated, r.unchanged, r.errors.len()),
        (0, 0, truth.valid, 0),
        "{:?}",
        r.errors.first()
    );
    assert_eq!(table_counts(&t.db).await, before);

    // A township export re-imports under its county too.
    let town = t.tree.get("500110004").unwrap();
    let out2 = dir.path().join("town.xlsx");
    let req = ExportRequest {
        scope: &sc,
        region: town,
        out: &out2,
        as_of: today(),
        actor: &actor,
        reason: "测试",
    };
    export_roster(&t.db, &t.tree, &req).await.unwrap();
    let r2 = import(&t, &out2, COUNTY, false).await.unwrap();
    assert_eq!((r2.created, r2.updated, r2.errors.len()), (0, 0, 0));
}

async fn csv_in_gbk_and_utf8_import_alike(t: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let a = id("500110", "19900101", "123");
    let b = id("500110", "19850615", "246");
    let text = format!(
        "万盛街道精神障碍患者花名册\n填报单位：万盛街道\n序号,乡镇（街道）,姓名,性别,年龄,公民身份号码,残疾证号码,残疾等级,现住址,监护人姓名,联系电话,备注\n\
         1,万盛,张三,男,36,{a},{a}62,精神二级,新华路1号,张父,13812345678,\n\
         2,万盛街道,李四,女,41,{b},,,\"东林村3组,5号\",,,\n,,,,,,,,,,,\n合计,2 人\n填表人：王五\n"
    );
    let utf8 = dir.path().join("utf8.csv");
    std::fs::write(&utf8, format!("\u{feff}{text}")).unwrap();
    let gbk = dir.path().join("gbk.csv");
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(&text);
    assert!(!unmappable);
    std::fs::write(&gbk, &bytes).unwrap();

    let r1 = import(&t, &utf8, COUNTY, false).await.unwrap();
    assert_eq!(
        (r1.rows_read, r1.created, r1.errors.len()),
        (2, 2, 0),
        "{:?}",
        r1.errors
    );
    let r2 = import(&t, &gbk, COUNTY, false).await.unwrap();
    assert_eq!(
        (r2.created, r2.updated, r2.unchanged, r2.errors.len()),
        (0, 0, 2, 0),
        "{:?}",
        r2.errors
    );
    let mut tx = t.db.begin().await.unwrap();
    let found = persons::find_by_id_numbers(&mut tx, &scope(&t, COUNTY), &[b.as_str()])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        found[&b].record.data.residence_address.as_deref(),
        Some("东林村3组,5号")
    );
}

async fn xls_fixture_imports(t: TestDb) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/roster-small.xls");
    let r = import(&t, &path, COUNTY, false).await.unwrap();
    let codes: Vec<(u32, &str)> = r.errors.iter().map(|e| (e.row, e.code.as_str())).collect();
    assert_eq!(
        codes,
        vec![(6, "id-not-text-precision-lost"), (9, "township-unknown")]
    );
    assert_eq!(r.created, 3);
    assert_eq!(r.header_row, 3);
    // The correction form of row 6 gives the same verdict as the preview (it said 校验位错误
    // for the same cell: the number's digits, printed in full, looked like an ID with a wrong
    // check character).
    let rejected = r.rejected.iter().find(|x| x.row == 6).unwrap();
    let values: std::collections::HashMap<&str, String> = rejected.values.iter().cloned().collect();
    let e = jingkang_core::import::roster::validate_entry(
        &t.tree,
        t.tree.get(COUNTY).unwrap(),
        today(),
        &|k: &str| values.get(k).cloned(),
    )
    .unwrap_err();
    let id_errors: Vec<&str> = e
        .iter()
        .filter(|e| e.field == "id_number")
        .map(|e| e.code.as_str())
        .collect();
    assert_eq!(id_errors, ["id-not-text-precision-lost"], "{e:?}");
}

async fn unreadable_files_change_nothing(t: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let before = table_counts(&t.db).await;
    let audit_before = count(&t.db, "audit_log").await;

    let missing = import(&t, &dir.path().join("nope.xlsx"), COUNTY, false)
        .await
        .unwrap_err();
    assert_eq!(missing.code(), "file-not-found");
    let garbage = dir.path().join("garbage.xlsx");
    std::fs::write(&garbage, b"this is not a zip file").unwrap();
    let e = import(&t, &garbage, COUNTY, false).await.unwrap_err();
    assert_eq!(e.code(), "file-unreadable");
    assert!(e.message_zh().contains("无法读取"));
    let pdf = dir.path().join("roster.pdf");
    std::fs::write(&pdf, b"%PDF").unwrap();
    assert_eq!(
        import(&t, &pdf, COUNTY, false).await.unwrap_err().code(),
        "file-type-unsupported"
    );
    let no_header = dir.path().join("noheader.csv");
    std::fs::write(&no_header, "序号,镇街,姓名,性别\n1,万盛,张三,男\n").unwrap();
    let e = import(&t, &no_header, COUNTY, false).await.unwrap_err();
    assert_eq!(e.code(), "header-not-found");
    assert!(e.message_zh().contains("身份证号"), "{}", e.message_zh());
    assert_eq!(
        import(&t, &no_header, "999999", false)
            .await
            .unwrap_err()
            .code(),
        "county-unknown"
    );
    assert_eq!(
        import(&t, &no_header, "500000", false)
            .await
            .unwrap_err()
            .code(),
        "county-not-county",
        "a province"
    );
    // A township imports its own part of the roster (a township clerk's upload).
    assert_eq!(
        import(&t, &no_header, "500110004", false)
            .await
            .unwrap_err()
            .code(),
        "header-not-found"
    );

    assert_eq!(table_counts(&t.db).await, before);
    assert_eq!(count(&t.db, "audit_log").await, audit_before);
}

async fn audit_chain_detects_tampering(t: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.xlsx");
    write_roster_xlsx(
        &path,
        &[[
            "万盛街道",
            "张三",
            "男",
            "",
            &id("500110", "19900101", "123"),
            "",
            "",
            "",
            "",
            "",
            "",
        ]],
    );
    import(&t, &path, COUNTY, true).await.unwrap();
    import(&t, &path, COUNTY, false).await.unwrap();
    import(&t, &path, COUNTY, false).await.unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let v = audit::verify(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!((v.entries, v.first_broken), (3, None));

    // No cleartext ID numbers in audit details.
    let details: Vec<String> =
        on_pool!(&t.db, p => sqlx::query_scalar("SELECT detail FROM audit_log").fetch_all(p).await)
            .unwrap();
    assert!(details.iter().all(|d| !d.contains("19900101")));

    // The table refuses updates; an attacker who drops the guard is still caught by the chain.
    let upd =
        "UPDATE audit_log SET actor = 'someone' WHERE id = (SELECT MIN(id) FROM audit_log) + 1";
    let refused = on_pool!(&t.db, p => sqlx::query(upd).execute(p).await.map(|_| ()));
    assert!(refused.is_err(), "append-only");
    let ddl = match t.db.backend() {
        jingkang_core::store::Backend::Sqlite => "DROP TRIGGER audit_log_no_update",
        jingkang_core::store::Backend::Postgres => "DROP TRIGGER audit_log_no_change ON audit_log",
    };
    on_pool!(&t.db, p => sqlx::query(ddl).execute(p).await.map(|_| ())).unwrap();
    on_pool!(&t.db, p => sqlx::query(upd).execute(p).await.map(|_| ())).unwrap();
    let second: i64 = on_pool!(&t.db, p => sqlx::query_scalar("SELECT MIN(id) + 1 FROM audit_log").fetch_one(p).await).unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let v = audit::verify(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(v.first_broken, Some(second));
}

async fn every_field_round_trips_through_bulk_insert(t: TestDb) {
    use jingkang_core::registry::{Guardian, PersonData, PersonWithGuardian};
    let idn = id("500110", "19800101", "111");
    let full = PersonWithGuardian {
        data: PersonData {
            id_number: idn.clone(),
            name: "欧阳·娜娜".into(),
            sex: "male".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
            ethnicity: Some("土家族".into()),
            phone: Some("13812345678".into()),
            phone_alt: Some("023-48281234-801".into()),
            household_region: Some("500110001".into()),
            household_address: Some("古南街道\"老街\"1号".into()),
            residence_region: "500110004".into(),
            residence_address: Some("万盛街道新华路12号".into()),
            disability_certificate: Some(format!("{idn}63")),
            disability_category: Some(6),
            disability_grade: Some(3),
            diagnosis_code: Some("F20.0".into()),
            diagnosis_name: Some("偏执型精神分裂症".into()),
            marital_status: Some("unmarried".into()),
            education: Some("junior".into()),
            employment: Some("unemployed".into()),
            living_situation: Some("with_family".into()),
            economic_status: Some("poor".into()),
            subsistence_allowance: true,
            extreme_poverty: false,
            low_income: true,
            medical_insurance: Some("resident".into()),
            dangerous_history: Some("肇事肇祸史".into()),
            risk_grade: Some(0),
            medication_adherence: Some("regular".into()),
            medication_method: Some("long_acting".into()),
            side_effects: Some("无".into()),
            treatment_effect: Some("improved".into()),
            notes: Some("多行\n备注".into()),
        },
        guardian: Some(Guardian {
            name: "张大山".into(),
            relation: Some("父亲".into()),
            phone: Some("13900001111".into()),
            phone_alt: None,
            id_number: Some(id("500110", "19550505", "111")),
        }),
    };
    let sparse = PersonWithGuardian {
        data: PersonData {
            id_number: id("500110", "19900101", "222"),
            name: "李四".into(),
            sex: "female".into(),
            birth_date: chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
            residence_region: "500110004".into(),
            ..Default::default()
        },
        guardian: None,
    };
    let sc = scope(&t, COUNTY);
    let mut tx = t.db.begin().await.unwrap();
    let cs =
        jingkang_core::store::open_change_set(&mut tx, &Actor::user("tester"), "test", "create")
            .await
            .unwrap();
    let ids = persons::insert_many(
        &mut tx,
        &sc,
        (cs, common::today()),
        &[full.clone(), sparse.clone()],
    )
    .await
    .unwrap();
    assert_eq!(ids.len(), 2);
    let found = persons::find_by_id_numbers(
        &mut tx,
        &sc,
        &[full.data.id_number.as_str(), sparse.data.id_number.as_str()],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(found[&full.data.id_number].record, full);
    assert_eq!(found[&sparse.data.id_number].record, sparse);
    assert_eq!(found[&full.data.id_number].id, ids[0]);
}

async fn database_failure_mid_import_rolls_back_and_reports(t: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = gen_roster(&t, dir.path(), 5000, 21, 0.0, false);
    // Break the guardians table so the first guardian insert fails after persons were inserted.
    on_pool!(&t.db, p => sqlx::query("ALTER TABLE guardians RENAME TO guardians_gone").execute(p).await.map(|_| ())).unwrap();
    let before = count(&t.db, "persons").await;
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        import(&t, &path, COUNTY, false),
    )
    .await;
    let err = result.expect("the import must not hang").unwrap_err();
    assert_eq!(err.code(), "internal-error");
    assert_eq!(count(&t.db, "persons").await, before, "nothing written");
    assert_eq!(count(&t.db, "change_sets").await, 0);
}

async fn keyset_pages_cover_the_list_once_in_order(t: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (path, truth) = gen_roster(&t, dir.path(), 120, 8, 0.0, false);
    import(&t, &path, COUNTY, false).await.unwrap();
    let sc = scope(&t, COUNTY);
    let mut tx = t.db.begin().await.unwrap();
    let all = persons::list(&mut tx, &sc, &ListFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len() as u64, truth.valid);
    let mut paged = Vec::new();
    let mut filter = ListFilter {
        limit: Some(7),
        ..Default::default()
    };
    loop {
        let page = persons::list(&mut tx, &sc, &filter).await.unwrap();
        let Some(last) = page.last() else { break };
        filter.after = Some((last.record.data.residence_region.clone(), last.id));
        paged.extend(page.into_iter().map(|p| p.id));
    }
    tx.commit().await.unwrap();
    assert_eq!(paged, all.iter().map(|p| p.id).collect::<Vec<_>>());
}

/// Search and the state filter select exactly what a filter over the whole list selects, in list
/// order, on both backends (the page's ids are chosen in a subquery over the covering indexes).
async fn search_and_state_filters_match_a_scan(t: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = gen_roster(&t, dir.path(), 300, 9, 0.0, false);
    import(&t, &path, COUNTY, false).await.unwrap();
    // The care workflow moves states; here they are set directly.
    on_pool!(&t.db, p => sqlx::query("UPDATE persons SET registration_state = 'in_service' WHERE id % 3 = 0").execute(p).await.map(drop)).unwrap();
    on_pool!(&t.db, p => sqlx::query("UPDATE persons SET registration_state = 'closed' WHERE id % 5 = 0").execute(p).await.map(drop)).unwrap();
    let sc = scope(&t, COUNTY);
    let mut tx = t.db.begin().await.unwrap();
    let all = persons::list(&mut tx, &sc, &ListFilter::default())
        .await
        .unwrap();
    assert_eq!(
        all.iter()
            .filter(|p| p.state == RegistrationState::Pending)
            .count(),
        all.iter()
            .filter(|p| p.id % 3 != 0 && p.id % 5 != 0)
            .count()
    );
    let ids = |v: &[persons::StoredPerson]| v.iter().map(|p| p.id).collect::<Vec<_>>();
    for state in RegistrationState::ALL {
        let found = persons::list(
            &mut tx,
            &sc,
            &ListFilter {
                state: Some(state),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let expected: Vec<_> = all.iter().filter(|p| p.state == state).cloned().collect();
        assert_eq!(ids(&found), ids(&expected), "{state:?}");
    }
    // Pinyin initials, a name prefix and an ID prefix, alone and with a state, and paged.
    let someone = &all[all.len() / 2].record.data;
    let initials = persons::name_initials(&someone.name);
    let surname: String = someone.name.chars().take(1).collect();
    let id_prefix = someone.id_number[..10].to_string();
    type Keep<'a> = Box<dyn Fn(&persons::StoredPerson) -> bool + 'a>;
    let cases: Vec<(String, Keep<'_>)> = vec![
        (
            initials.clone(),
            Box::new(|p: &persons::StoredPerson| {
                persons::name_initials(&p.record.data.name).starts_with(&initials)
            }),
        ),
        (
            surname.clone(),
            Box::new(|p: &persons::StoredPerson| p.record.data.name.starts_with(&surname)),
        ),
        (
            id_prefix.clone(),
            Box::new(|p: &persons::StoredPerson| p.record.data.id_number.starts_with(&id_prefix)),
        ),
    ];
    for (q, keep) in &cases {
        for state in [None, Some(RegistrationState::InService)] {
            let expected: Vec<_> = all
                .iter()
                .filter(|p| keep(p) && state.is_none_or(|s| p.state == s))
                .cloned()
                .collect();
            assert!(state.is_some() || !expected.is_empty(), "{q} finds someone");
            let mut filter = ListFilter {
                search: Some(q.clone()),
                state,
                limit: Some(2),
                ..Default::default()
            };
            let mut paged = Vec::new();
            loop {
                let page = persons::list(&mut tx, &sc, &filter).await.unwrap();
                let Some(last) = page.last() else { break };
                filter.after = Some((last.record.data.residence_region.clone(), last.id));
                paged.extend(page.into_iter().map(|p| p.id));
            }
            assert_eq!(paged, ids(&expected), "search {q} with {state:?}");
        }
    }
    tx.commit().await.unwrap();
}

backend_tests!(
    search_and_state_filters_match_a_scan,
    keyset_pages_cover_the_list_once_in_order,
    every_field_round_trips_through_bulk_insert,
    database_failure_mid_import_rolls_back_and_reports,
    generated_roster_matches_truth,
    a_large_import_refreshes_planner_statistics,
    csv_and_xlsx_report_the_same_rows,
    a_township_import_skips_the_other_townships,
    reimport_changes_nothing,
    changed_file_shows_diff_then_records_history,
    bad_rows_are_rejected_whole_and_good_rows_imported,
    scope_isolates_counties,
    export_then_import_is_zero_changes,
    csv_in_gbk_and_utf8_import_alike,
    xls_fixture_imports,
    unreadable_files_change_nothing,
    audit_chain_detects_tampering,
);
