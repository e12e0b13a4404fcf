//! The binary as a user runs it: real files, real databases, exit codes and output.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn jk(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jingkang"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("JINGKANG_DATABASE_URL")
        .output()
        .expect("run jingkang")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// In a report's JSON (`report quarterly --json`), every count column's total is the sum of its
/// rows.
fn assert_counts_add_up(report: &Value, what: &str) {
    let def = jingkang_core::report::Definition::shipped("fujian2").unwrap();
    let rows = report["rows"].as_array().unwrap();
    for c in def
        .columns
        .iter()
        .filter(|c| matches!(c.value, jingkang_core::report::Source::Count { .. }))
    {
        let sum: f64 = rows
            .iter()
            .map(|r| r["columns"][&c.key].as_f64().unwrap_or(0.0))
            .sum();
        assert_eq!(
            Some(sum),
            report["total"]["columns"][&c.key].as_f64(),
            "{what} column {}",
            c.key
        );
    }
}

#[test]
fn init_demo_prints_a_roster_summary_and_is_repeatable() {
    let dir = tempfile::tempdir().unwrap();
    let o = jk(dir.path(), &["init", "--demo"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("万盛街道（500110004）"), "{out}");
    assert!(out.contains("合计　300 人"), "{out}");
    assert!(dir.path().join("jingkang.db").exists());
    let again = jk(dir.path(), &["init", "--demo"]);
    assert!(
        stdout(&again).contains("合计　300 人"),
        "a second init adds no one"
    );
    // The demo carries generated care history: the worklists have people on them.
    let w = jk(
        dir.path(),
        &["worklist", "overdue", "--region", "500110", "--json"],
    );
    assert!(w.status.success(), "{}", stderr(&w));
    let v: Value = serde_json::from_str(&stdout(&w)).unwrap();
    assert!(v["total"].as_i64().unwrap() > 0, "{v}");
    assert_eq!(
        v["items"].as_array().unwrap().len() as i64,
        v["total"].as_i64().unwrap().min(1000)
    );
    let out = dir.path().join("overdue.xlsx");
    let w = jk(
        dir.path(),
        &[
            "worklist",
            "overdue",
            "--region",
            "500110",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(w.status.success() && out.exists(), "{}", stderr(&w));
    let sweep = jk(dir.path(), &["referrals-expire"]);
    assert!(
        sweep.status.success() && stdout(&sweep).contains("已将 0 条逾期未处理的转介标为“超时”"),
        "{}",
        stderr(&sweep)
    );
    let bad = jk(dir.path(), &["worklist", "someday", "--region", "500110"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("清单"), "{}", stderr(&bad));
    // 附件2 of the demo county for this quarter: a row per township, 18 columns, the JSON and
    // the .xlsx agree, the registered persons of the rows add up to the total.
    let r = jk(
        dir.path(),
        &["report", "quarterly", "--region", "500110", "--json"],
    );
    assert!(r.status.success(), "{}", stderr(&r));
    let v: Value = serde_json::from_str(&stdout(&r)).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert!(rows.len() > 20, "{}", rows.len());
    assert_eq!(v["total"]["columns"].as_object().unwrap().len(), 18);
    let total_registered = v["total"]["columns"]["5"].as_f64().unwrap();
    assert!(total_registered > 0.0, "{v}");
    assert_eq!(
        rows.iter()
            .map(|r| r["columns"]["5"].as_f64().unwrap())
            .sum::<f64>(),
        total_registered
    );
    assert!(v["total"]["columns"]["2"].is_null(), "entered by hand");
    // Every count column's total is the sum of its rows: what belongs to no township (the
    // county's own staff and contracts) has a row of its own, 区县本级.
    assert_counts_add_up(&v, "county");
    assert_eq!(
        rows.last().unwrap()["name"],
        "区县本级",
        "the demo has county-level staff"
    );
    // The same for the city: its own row takes its counties' own levels.
    let city = jk(
        dir.path(),
        &["report", "quarterly", "--region", "500100", "--json"],
    );
    assert!(city.status.success(), "{}", stderr(&city));
    let cv: Value = serde_json::from_str(&stdout(&city)).unwrap();
    let city_rows = cv["rows"].as_array().unwrap();
    assert_eq!(city_rows.last().unwrap()["name"], "市、区县本级");
    assert_counts_add_up(&cv, "city");
    // Once 万盛街道 has filed its hand-entered figures and 民政 has signed them, the command line
    // reads the same report as the page: the signed row as frozen, the filed figures in it and
    // in the total (it computed live and ignored filings before).
    let quarter = v["quarter"].as_str().unwrap().to_string();
    let frozen = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use jingkang_core::app::filings;
        use jingkang_core::store::Actor;
        let url = format!("sqlite://{}", dir.path().join("jingkang.db").display());
        let key =
            jingkang_core::secrets::MasterKey::load(&dir.path().join("jingkang.key")).unwrap();
        let db = jingkang_core::store::Db::connect(&url)
            .await
            .unwrap()
            .with_keys(jingkang_core::secrets::Keys::of(&key));
        let tree = jingkang_core::store::regions::load_tree(&db, false)
            .await
            .unwrap();
        let def = jingkang_core::report::Definition::shipped("fujian2").unwrap();
        let rule = jingkang_core::care::standard::StandardRule::shipped().unwrap();
        let (town, county) = (tree.get("500110004").unwrap(), tree.get("500110").unwrap());
        let (town_scope, county_scope) = (
            jingkang_core::regions::Scope::of(town),
            jingkang_core::regions::Scope::of(county),
        );
        let day = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
        let manual: std::collections::BTreeMap<String, i64> = [("2".to_string(), 7)].into();
        let mut tx = db.begin().await.unwrap();
        let id = filings::save(
            &mut tx,
            &town_scope,
            &Actor::user("clerk"),
            &def,
            ("500110004", &quarter),
            &manual,
            Some("王填报"),
            day,
        )
        .await
        .unwrap()
        .unwrap();
        filings::review(
            &mut tx,
            &county_scope,
            &Actor::user("civil"),
            id,
            "李审核",
            true,
            "",
            day,
        )
        .await
        .unwrap()
        .unwrap();
        let frozen = filings::sign(
            &mut tx,
            &county_scope,
            &Actor::user("civil"),
            (&tree, &def, &rule),
            id,
            "张负责",
            day,
        )
        .await
        .unwrap()
        .unwrap();
        tx.commit().await.unwrap();
        frozen
    });
    let r = jk(
        dir.path(),
        &[
            "report",
            "quarterly",
            "--region",
            "500110",
            "--json",
            "--quarter",
            &quarter,
        ],
    );
    assert!(r.status.success(), "{}", stderr(&r));
    let after: Value = serde_json::from_str(&stdout(&r)).unwrap();
    let row = after["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == "500110004")
        .unwrap();
    let signed = &frozen.rows[0];
    for (key, value) in &signed.columns {
        assert_eq!(row["columns"][key].as_f64(), *value, "column {key}: {row}");
    }
    assert_eq!(row["columns"]["2"].as_f64(), Some(7.0));
    assert_eq!(after["total"]["columns"]["2"].as_f64(), Some(7.0));
    let xlsx = dir.path().join("fujian2.xlsx");
    let w = jk(
        dir.path(),
        &[
            "report",
            "quarterly",
            "--region",
            "500110",
            "--out",
            xlsx.to_str().unwrap(),
        ],
    );
    assert!(w.status.success() && xlsx.exists(), "{}", stderr(&w));
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook(&xlsx).unwrap();
    let name = calamine::Reader::sheet_names(&wb)[0].clone();
    let sheet = calamine::Reader::worksheet_range(&mut wb, &name).unwrap();
    let last = 5 + rows.len() as u32;
    assert_eq!(
        sheet.get_value((last, 0)),
        Some(&calamine::Data::String("合计".into()))
    );
    assert_eq!(
        sheet
            .get_value((last, 5))
            .and_then(calamine::DataType::as_f64),
        Some(total_registered)
    );
    let bad = jk(
        dir.path(),
        &[
            "report",
            "quarterly",
            "--region",
            "500110",
            "--quarter",
            "2026Q5",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("季度“2026Q5”无法识别"),
        "{}",
        stderr(&bad)
    );
    // The second report definition: the monthly follow-up summary, from the same measures; the
    // demo's follow-ups put persons in every column's township rows.
    let m = jk(
        dir.path(),
        &[
            "report", "monthly", "--region", "500110", "--month", "2026-10", "--json",
        ],
    );
    assert!(m.status.success(), "{}", stderr(&m));
    let v: Value = serde_json::from_str(&stdout(&m)).unwrap();
    assert_eq!(
        (
            v["month"].as_str(),
            v["total"]["columns"].as_object().unwrap().len()
        ),
        (Some("2026-10"), 11)
    );
    let listed = v["total"]["columns"]["1"].as_f64().unwrap();
    let seen = v["total"]["columns"]["2"].as_f64().unwrap();
    assert!(listed > 0.0 && seen > 0.0 && seen <= listed, "{v}");
    assert_eq!(
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["columns"]["2"].as_f64().unwrap())
            .sum::<f64>(),
        seen
    );
    // The dashboard bench on the demo: the persons' indicators for the province equal the
    // county's (the demo is one county); the townships' count the province's townships.
    let b = jk(
        dir.path(),
        &[
            "bench",
            "indicators",
            "--queries",
            "1",
            "--quarter",
            "2026Q3",
        ],
    );
    assert!(b.status.success(), "{}", stderr(&b));
    let v: Value = serde_json::from_str(&stdout(&b)).unwrap();
    for code in [
        "management_rate",
        "standard_management_rate",
        "medication_rate",
        "standard_service_rate",
        "unstable_case_management_rate",
    ] {
        assert_eq!(
            v["figures_province"][code], v["figures_county"][code],
            "{code}: {v}"
        );
    }
    let towns = |level: &str| {
        v[format!("figures_{level}")]["township_coverage"][1]
            .as_i64()
            .unwrap()
    };
    assert!(
        towns("province") > towns("county") && towns("county") > 20,
        "{v}"
    );
    assert!(
        v["figures_county"]["management_rate"][1].as_i64().unwrap() > 0,
        "{v}"
    );
    assert!(
        v["dashboard_live_province"]["p50_ms"].as_f64().unwrap()
            >= v["board_live_province"]["p50_ms"].as_f64().unwrap(),
        "{v}"
    );
    // Served from the registry's counts (the bench fails if they differ from the live board).
    for level in ["province", "county", "township"] {
        assert!(
            v[format!("dashboard_served_first_{level}")]["p50_ms"]
                .as_f64()
                .is_some(),
            "{v}"
        );
    }
    assert!(
        v["registry_count_per_quarter"]["queries"].as_u64() == Some(4),
        "{v}"
    );
    let bad = jk(
        dir.path(),
        &[
            "report", "monthly", "--region", "500110", "--month", "2026-13",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("月份“2026-13”无法识别"),
        "{}",
        stderr(&bad)
    );
    let v = jk(dir.path(), &["audit", "verify"]);
    assert!(
        v.status.success() && stdout(&v).contains("校验通过"),
        "{}",
        stdout(&v)
    );
}

fn import_json(dir: &Path, db: Option<&str>, file: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "import",
        "roster",
        file.to_str().unwrap(),
        "--county",
        "500110",
        "--json",
    ];
    args.extend_from_slice(extra);
    let mut full = vec![];
    if let Some(db) = db {
        full.extend(["--database", db]);
    }
    full.extend(args);
    let o = jk(dir, &full);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).expect("one JSON object on stdout")
}

fn gen_import_export_cycle(dir: &Path, db: Option<&str>) {
    let roster = dir.join("gen.xlsx");
    let truth_file = dir.join("truth.json");
    let o = jk(
        dir,
        &[
            "gen",
            "roster",
            "--rows",
            "300",
            "--seed",
            "9",
            "--error-rate",
            "0.05",
            "--out",
            roster.to_str().unwrap(),
            "--truth",
            truth_file.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(&truth_file).unwrap()).unwrap();

    let dry = import_json(dir, db, &roster, &["--dry-run"]);
    assert_eq!(dry["created"], truth["valid"]);
    let r = import_json(dir, db, &roster, &[]);
    for key in [
        "rows_read",
        "accepted",
        "created",
        "updated",
        "unchanged",
        "duplicates",
        "errors",
    ] {
        assert!(r.get(key).is_some(), "JSON has {key}");
    }
    assert_eq!(r["rows_read"], truth["rows"]);
    assert_eq!(r["created"], truth["valid"]);
    let dups = r["duplicates"].as_array().unwrap();
    assert_eq!(dups.len(), truth["duplicates"].as_array().unwrap().len());
    assert!(
        dups.iter()
            .all(|d| d["row"].is_u64() && d["same_as_row"].is_u64())
    );
    let errors = r["errors"].as_array().unwrap();
    let planted: usize = truth["errors"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len())
        .sum();
    assert_eq!(errors.len(), planted);
    for e in errors {
        for key in ["row", "column", "code", "message"] {
            assert!(e.get(key).is_some(), "error has {key}: {e}");
        }
    }

    let again = import_json(dir, db, &roster, &[]);
    assert_eq!(
        (again["created"].as_u64(), again["updated"].as_u64()),
        (Some(0), Some(0))
    );

    let out = dir.join("export.xlsx");
    let mut args = vec![];
    if let Some(db) = db {
        args.extend(["--database", db]);
    }
    args.extend([
        "export",
        "roster",
        "--region",
        "500110",
        "--out",
        out.to_str().unwrap(),
    ]);
    let o = jk(dir, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("已导出"));
    let back = import_json(dir, db, &out, &[]);
    assert_eq!(
        (back["created"].as_u64(), back["updated"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(back["unchanged"], truth["valid"]);
    assert_eq!(back["errors"].as_array().unwrap().len(), 0);
}

#[test]
fn gen_import_export_cycle_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    gen_import_export_cycle(dir.path(), None);
}

#[test]
fn gen_import_export_cycle_on_postgres() {
    let Ok(url) = std::env::var("JINGKANG_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI must set JINGKANG_TEST_DATABASE_URL"
        );
        eprintln!("JINGKANG_TEST_DATABASE_URL not set: PostgreSQL variant not run");
        return;
    };
    // A database of its own, created and dropped through psql-free SQL over sqlx.
    let name = format!("jk_cli_{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .unwrap();
    });
    let (base, _) = url.rsplit_once('/').unwrap();
    let db_url = format!("{base}/{name}");
    let dir = tempfile::tempdir().unwrap();
    gen_import_export_cycle(dir.path(), Some(&db_url));
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut c)
            .await
            .unwrap();
    });
}

#[test]
fn unreadable_file_exits_non_zero_with_a_chinese_message() {
    let dir = tempfile::tempdir().unwrap();
    let o = jk(
        dir.path(),
        &[
            "import",
            "roster",
            "/nonexistent/花名册.xlsx",
            "--county",
            "500110",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("找不到文件"), "{}", stderr(&o));
    let bad = dir.path().join("bad.xlsx");
    std::fs::write(&bad, "not excel").unwrap();
    let o = jk(
        dir.path(),
        &[
            "import",
            "roster",
            bad.to_str().unwrap(),
            "--county",
            "500110",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["error"]["code"], "file-unreadable");
    let o = jk(
        dir.path(),
        &["import", "roster", bad.to_str().unwrap(), "--county", "123"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("区县代码 123 不存在"), "{}", stderr(&o));
}

#[test]
fn regions_find_and_villages() {
    let dir = tempfile::tempdir().unwrap();
    let o = jk(dir.path(), &["regions", "find", "万盛"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("500110004\t街镇\t重庆市 / 市辖区 / 綦江区 / 万盛街道"),
        "{}",
        stdout(&o)
    );
    let villages = dir.path().join("villages.csv");
    std::fs::write(
        &villages,
        "code,name,streetCode,provinceCode,cityCode,areaCode\n\
         500110004001,\"新华社区居民委员会\",500110004,50,5001,500110\n\
         500110004002,\"万东村村民委员会\",500110004,50,5001,500110\n\
         999999999001,\"无主村\",999999999,99,9999,999999\n",
    )
    .unwrap();
    let o = jk(
        dir.path(),
        &["regions", "import-villages", villages.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("已导入村（社区）2 个，跳过 1 个"),
        "{}",
        stdout(&o)
    );
    let o = jk(dir.path(), &["regions", "find", "新华社区"]);
    assert!(
        stdout(&o).contains(
            "500110004001\t社区/村\t重庆市 / 市辖区 / 綦江区 / 万盛街道 / 新华社区居民委员会"
        ),
        "{}",
        stdout(&o)
    );
}

/// `serve` as an operator runs it: demo accounts printed once, one JSON access-log line per
/// request with the route template only (never a query string that may hold an ID prefix), and a
/// clean stop on SIGTERM.
#[test]
fn serve_logs_routes_without_personal_data_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jingkang"))
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "--log",
            "info",
            "serve",
            "--demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        // A deployment's own instrument: a copy of SDSS under another code.
        .arg("--instruments")
        .arg({
            let folder = dir.path().join("instruments");
            std::fs::create_dir(&folder).unwrap();
            let sdss = std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../jingkang-core/data/instruments/sdss.json"
            ))
            .unwrap();
            std::fs::write(
                folder.join("local.json"),
                sdss.replacen("\"code\": \"sdss\"", "\"code\": \"sdss_local\"", 1),
            )
            .unwrap();
            folder
        })
        .env_remove("JINGKANG_DATABASE_URL")
        .env("JINGKANG_LOG_FORMAT", "json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "serve ended early: {printed}"
        );
        printed.push_str(&line);
        if line.contains("精康已启动") {
            break;
        }
    }
    assert!(printed.contains("演示账号：jiezhen"), "{printed}");
    // The demo's site has its own social worker.
    assert!(
        printed.contains("演示账号：shegong") && printed.contains("康复机构社工"),
        "{printed}"
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET /persons?q=50011019 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 303"), "{resp}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "graceful stop on SIGTERM: {exit:?}\n{logs}");
    let access: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "jingkang_web::access")
        .collect();
    assert!(logs.contains("assessment instruments loaded"), "{logs}");
    assert_eq!(access.len(), 1, "{logs}");
    assert_eq!(access[0]["fields"]["route"], "/persons");
    assert_eq!(access[0]["fields"]["status"], 303);
    assert!(
        !logs.contains("50011019"),
        "no query string in the logs: {logs}"
    );
}

#[test]
fn serve_refuses_unusable_tls_files_with_a_chinese_message() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, "not a certificate").unwrap();
    let (c, k) = (cert.to_str().unwrap(), dir.path().join("missing-key.pem"));
    let o = jk(
        dir.path(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            c,
            "--tls-key",
            k.to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("无法使用 TLS 证书或私钥"),
        "{}",
        stderr(&o)
    );
    let o = jk(
        dir.path(),
        &["serve", "--listen", "127.0.0.1:0", "--tls-cert", c],
    );
    assert!(!o.status.success(), "a certificate needs its key");
}

#[test]
fn serve_refuses_a_broken_instrument_folder_with_a_chinese_message() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("instruments");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("broken.json"), "{\"code\": \"x\"").unwrap();
    let o = jk(
        dir.path(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--instruments",
            folder.to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("评估量表目录") && stderr(&o).contains("没有启动"),
        "{}",
        stderr(&o)
    );
    let o = jk(
        dir.path(),
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--instruments",
            dir.path().join("missing").to_str().unwrap(),
        ],
    );
    assert!(
        !o.status.success() && stderr(&o).contains("评估量表目录"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bench_search_reports_latency_for_every_kind_and_scope() {
    let dir = tempfile::tempdir().unwrap();
    assert!(jk(dir.path(), &["init", "--demo"]).status.success());
    let o = jk(dir.path(), &["bench", "search", "--queries", "20"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    for level in ["township", "county"] {
        for kind in ["id_prefix", "name", "pinyin"] {
            let s = &v[format!("{level}_{kind}")];
            assert_eq!(s["queries"], 20, "{v}");
            // Every sampled person is found by its own ID prefix, name and initials in its scope.
            assert_eq!(s["found"], 20, "{level} {kind}: {v}");
            assert!(s["p99_ms"].as_f64().unwrap() >= s["p50_ms"].as_f64().unwrap());
        }
    }
    let empty = tempfile::tempdir().unwrap();
    let o = jk(empty.path(), &["bench", "search"]);
    assert!(!o.status.success(), "no persons: an error, not figures");
}

#[test]
fn organisations_and_users_that_belong_to_them() {
    let dir = tempfile::tempdir().unwrap();
    let o = jk(
        dir.path(),
        &["org", "add", "--name", "綦江区民政局", "--region", "500110"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("已添加单位：綦江区民政局"));
    let again = jk(
        dir.path(),
        &["org", "add", "--name", "綦江区民政局", "--region", "500110"],
    );
    assert!(
        !again.status.success() && stderr(&again).contains("同名单位"),
        "{}",
        stderr(&again)
    );
    let o = jk(
        dir.path(),
        &[
            "user",
            "add",
            "--username",
            "minzheng",
            "--role",
            "civil",
            "--region",
            "500110",
            "--org",
            "綦江区民政局",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = jk(
        dir.path(),
        &[
            "user",
            "add",
            "--username",
            "other",
            "--role",
            "civil",
            "--region",
            "500101",
            "--org",
            "綦江区民政局",
        ],
    );
    assert!(
        !o.status.success() && stderr(&o).contains("单位不存在"),
        "another county's user cannot join: {}",
        stderr(&o)
    );
    let list = jk(dir.path(), &["org", "list"]);
    assert!(
        stdout(&list).contains("500110\t綦江区民政局"),
        "{}",
        stdout(&list)
    );
}

/// `outbox drain` posts each due alert to a real webhook, signed with HMAC-SHA256; a failure is
/// kept and retried later; `outbox retry` makes it due now; a missing secret sends nothing.
#[test]
fn outbox_drains_to_a_signed_webhook_and_retries() {
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    assert!(jk(dir.path(), &["init"]).status.success());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("jingkang.db").display());
    rt.block_on(async {
        let db = jingkang_core::store::Db::connect(&url).await.unwrap();
        for (i, grade) in [(1, 3), (2, 4)] {
            let payload = format!(r#"{{"topic":"alert.high_risk","region":"500110004","risk_grade":{grade},"n":{i}}}"#);
            jingkang_core::on_pool!(&db, p => sqlx::query("INSERT INTO outbox (created_at, topic, payload, next_attempt_at) VALUES ($1, 'alert.high_risk', $2, $1)")
                .bind(chrono::Utc::now()).bind(payload).execute(p).await.map(drop)).unwrap();
        }
    });
    // The receiver: checks the signature, fails the first request with 500.
    let seen: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let log = log.clone();
            async move {
                use hmac::{Hmac, Mac};
                let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(b"s3cret").unwrap();
                mac.update(body.as_bytes());
                let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                let ok = headers
                    .get("x-jingkang-signature")
                    .and_then(|v| v.to_str().ok())
                    == Some(expected.as_str());
                let mut log = log.lock().unwrap();
                log.push((body, ok));
                if log.len() == 1 {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::NO_CONTENT
                }
            }
        }),
    );
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    let hook = format!("http://127.0.0.1:{port}/hook");
    let drain = |secret: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_jingkang"));
        c.arg("--data-dir")
            .arg(dir.path())
            .args(["outbox", "drain", "--webhook", &hook])
            .env_remove("JINGKANG_DATABASE_URL");
        match secret {
            Some(s) => c.env("JINGKANG_WEBHOOK_SECRET", s),
            None => c.env_remove("JINGKANG_WEBHOOK_SECRET"),
        };
        c.output().unwrap()
    };
    let o = drain(None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("JINGKANG_WEBHOOK_SECRET"),
        "{}",
        stderr(&o)
    );
    assert!(seen.lock().unwrap().is_empty());

    let o = drain(Some("s3cret"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("发送成功 1 条，失败 1 条"),
        "{}",
        stdout(&o)
    );
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|(_, ok)| *ok), "every request signed");
        assert!(seen[0].0.contains(r#""n":1"#));
    }
    // Backing off: nothing is due; retry makes it due; it is delivered.
    assert!(stdout(&drain(Some("s3cret"))).contains("发送成功 0 条，失败 0 条"));
    let list = stdout(&jk(dir.path(), &["outbox", "list"]));
    assert!(
        list.contains("待重试") && list.contains("HTTP 500") && list.contains("已送达"),
        "{list}"
    );
    assert!(stdout(&jk(dir.path(), &["outbox", "retry"])).contains("已将 1 条消息设为立即重发"));
    assert!(stdout(&drain(Some("s3cret"))).contains("发送成功 1 条，失败 0 条"));
    assert_eq!(seen.lock().unwrap().len(), 3);
    let v: Value =
        serde_json::from_str(&stdout(&jk(dir.path(), &["outbox", "list", "--json"]))).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|i| !i["delivered_at"].is_null())
    );
}

#[test]
fn link_csv_finds_the_same_persons_and_explains_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("link.toml");
    std::fs::write(
        &config,
        r#"id = "编号"
threshold = 0.5
u_sample = 5000
[[field]]
column = "姓名"
compare = "name"
[[field]]
column = "出生日期"
compare = "date"
[[field]]
column = "电话"
compare = "phone"
[[block]]
on = ["姓名:sound"]
[[block]]
on = ["出生日期:first4"]
[[block]]
on = ["电话"]
"#,
    )
    .unwrap();
    // Ours: twenty persons. Theirs: three of them written otherwise, and three others (赵大海 born
    // the year 赵伟明 was: compared, and judged another person).
    let surnames = ["张", "王", "李", "赵", "刘"];
    let given = ["伟", "芳", "娜", "敏"];
    let mut ours = String::from("编号,姓名,出生日期,电话\n");
    for i in 0..20 {
        ours.push_str(&format!(
            "a{i},{}{}明,19{}-0{}-1{},1380013{:04}\n",
            surnames[i % 5],
            given[i / 5],
            60 + i,
            1 + i % 9,
            i % 10,
            i
        ));
    }
    let left = dir.path().join("ours.csv");
    std::fs::write(&left, &ours).unwrap();
    let theirs = "编号,姓名,出生日期,电话\n\
        b1,张伟鸣,1960/1/10,13800130000\n\
        b2,王伟明,1961-02-12,\n\
        b3,明李伟,19620311,138-0013-0002\n\
        b4,孙悟空,1900-01-01,13900000000\n\
        b5,猪八戒,1901-02-02,\n\
        b6,赵大海,1963-05-05,13700000000\n";
    let right = dir.path().join("theirs.csv");
    std::fs::write(&right, theirs).unwrap();
    let o = jk(
        dir.path(),
        &[
            "link",
            "csv",
            "--config",
            config.to_str().unwrap(),
            left.to_str().unwrap(),
            right.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["threshold"], 0.5);
    let mut pairs: Vec<(String, String)> = v["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["left"].as_str().unwrap().to_string(),
                p["right"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    pairs.sort();
    // 张伟鸣 sounds as 张伟明; 王伟明 has the birth day one digit off; 明李伟 is 李伟明 swapped.
    assert_eq!(
        pairs,
        [("a0", "b1"), ("a1", "b2"), ("a2", "b3")].map(|(a, b)| (a.to_string(), b.to_string())),
        "{v}"
    );
    assert!(v["pairs"][0]["score"].as_f64().unwrap() >= 0.5);
    // The text summary, in Chinese.
    let o = jk(
        dir.path(),
        &[
            "link",
            "csv",
            "--config",
            config.to_str().unwrap(),
            left.to_str().unwrap(),
            right.to_str().unwrap(),
        ],
    );
    assert!(stdout(&o).contains("判为同一人 3 对"), "{}", stdout(&o));
    // Duplicates within one file: none among ours.
    let o = jk(
        dir.path(),
        &[
            "link",
            "csv",
            "--config",
            config.to_str().unwrap(),
            left.to_str().unwrap(),
            "--json",
        ],
    );
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["pairs"].as_array().unwrap().len(), 0, "{v}");
    // A column the configuration names is missing: what and where, exit code 2.
    std::fs::write(&right, "编号,名字,出生日期,电话\nb1,张伟鸣,1960/1/10,\n").unwrap();
    let o = jk(
        dir.path(),
        &[
            "link",
            "csv",
            "--config",
            config.to_str().unwrap(),
            left.to_str().unwrap(),
            right.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("theirs.csv 缺少列【姓名】"),
        "{}",
        stderr(&o)
    );
    std::fs::write(
        &config,
        "id = \"编号\"\n[[field]]\ncolumn = \"姓名\"\ncompare = \"fuzzy\"\n",
    )
    .unwrap();
    let o = jk(
        dir.path(),
        &[
            "link",
            "csv",
            "--config",
            config.to_str().unwrap(),
            left.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("匹配配置文件") && stderr(&o).contains("link.toml"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn fhir_export_and_import_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    assert!(jk(dir.path(), &["init", "--demo"]).status.success());
    let out = dir.path().join("county.json");
    let out_s = out.to_str().unwrap();
    // Revealing needs a reason; a person who is not there exports nothing.
    let o = jk(
        dir.path(),
        &[
            "export", "fhir", "--region", "500110", "--out", out_s, "--reveal",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--reason"), "{}", stderr(&o));
    let o = jk(
        dir.path(),
        &["export", "fhir", "--person", "99999999", "--out", out_s],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());
    // Masked: no ID number in the file.
    let o = jk(
        dir.path(),
        &["export", "fhir", "--region", "500110", "--out", out_s],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("已遮蔽"), "{}", stdout(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["resourceType"], "Bundle");
    assert!(
        !text.contains("500110199"),
        "an ID number in a masked export"
    );
    // Revealed and read back: every Patient is the person it came from.
    let o = jk(
        dir.path(),
        &[
            "export",
            "fhir",
            "--region",
            "500110",
            "--out",
            out_s,
            "--reveal",
            "--reason",
            "回传测试",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = jk(
        dir.path(),
        &[
            "import",
            "fhir",
            out_s,
            "--county",
            "500110",
            "--dry-run",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let patients = r["report"]["patients"].as_u64().unwrap();
    assert!(patients > 100, "{r}");
    assert_eq!(r["report"]["linked"].as_u64(), Some(patients), "{r}");
    // The referral-platform exchange file of the demo county.
    let platform = dir.path().join("platform.json");
    let o = jk(
        dir.path(),
        &[
            "export",
            "platform",
            "--region",
            "500110",
            "--out",
            platform.to_str().unwrap(),
            "--reason",
            "与国家转介平台交换",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&platform).unwrap()).unwrap();
    assert_eq!(v["format"], "jingkang.platform-exchange");
    assert!(
        !v["registrations"].as_array().unwrap().is_empty(),
        "{}",
        stdout(&o)
    );
    // Read back into the county it came from: every registration agrees, nothing new.
    let o = jk(
        dir.path(),
        &[
            "import",
            "platform",
            platform.to_str().unwrap(),
            "--county",
            "500110",
            "--dry-run",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["report"]["agreeing"], r["report"]["registrations"], "{r}");
    assert_eq!(r["report"]["created"], 0, "{r}");
    std::fs::write(
        &platform,
        r#"{"format":"jingkang.platform-exchange","version":"9.0"}"#,
    )
    .unwrap();
    let o = jk(
        dir.path(),
        &[
            "import",
            "platform",
            platform.to_str().unwrap(),
            "--county",
            "500110",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("版本"), "{}", stderr(&o));
    // Not a Bundle: explained, exit 2.
    std::fs::write(&out, r#"{"resourceType":"Patient"}"#).unwrap();
    let o = jk(dir.path(), &["import", "fhir", out_s, "--county", "500110"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("没有导入"), "{}", stderr(&o));
}

#[test]
fn link_run_compares_a_department_list_and_explains_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    assert!(jk(dir.path(), &["init", "--demo"]).status.success());
    // The county's own roster, exported, stands in for 卫健's registry export: everyone on it is
    // found by ID number, and no one on it is missing from the registry.
    let roster = dir.path().join("roster.xlsx");
    let o = jk(
        dir.path(),
        &[
            "export",
            "roster",
            "--region",
            "500110",
            "--out",
            roster.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = jk(
        dir.path(),
        &[
            "link",
            "run",
            "--source",
            "weijian",
            roster.to_str().unwrap(),
            "--county",
            "500110",
            "--taken-on",
            "2026-10-31",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let s = &v["summary"];
    let kept = s["kept"].as_u64().unwrap();
    assert!(kept > 100, "{v}");
    assert_eq!(s["matched_by_id"].as_u64(), Some(kept), "{v}");
    assert_eq!(s["counts"]["theirs_only"].as_u64(), Some(0), "{v}");
    assert_eq!(v["source"], "health");
    assert!(v["run"].as_i64().unwrap() > 0);
    // No ID number or phone in what is printed.
    assert!(!stdout(&o).contains("500110199"), "{}", stdout(&o));

    // The Chinese summary names the classes.
    let o = jk(
        dir.path(),
        &[
            "link",
            "run",
            "--source",
            "公安",
            roster.to_str().unwrap(),
            "--county",
            "500110",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for class in [
        "对方有、本库无",
        "本库有、对方无",
        "信息不一致",
        "本库疑似重复",
    ] {
        assert!(stdout(&o).contains(class), "{}", stdout(&o));
    }

    // Bad input: a department no one knows, a mapping to no column, a county that is not one.
    let o = jk(
        dir.path(),
        &[
            "link",
            "run",
            "--source",
            "shuiwu",
            roster.to_str().unwrap(),
            "--county",
            "500110",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("gongan（公安）"), "{}", stderr(&o));
    let o = jk(
        dir.path(),
        &[
            "link",
            "run",
            "--source",
            "gongan",
            roster.to_str().unwrap(),
            "--county",
            "500110",
            "--map",
            "人员姓名=nom",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nom"), "{}", stderr(&o));
    let o = jk(
        dir.path(),
        &[
            "link",
            "run",
            "--source",
            "gongan",
            roster.to_str().unwrap(),
            "--county",
            "509999",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("比对没有进行"), "{}", stderr(&o));

    // The annual joint census: the same export as 卫健's and 公安's list, one run, one item a person.
    let list = |source: &str| format!("{source}={}", roster.to_str().unwrap());
    let o = jk(
        dir.path(),
        &[
            "link",
            "census",
            "--county",
            "500110",
            "--list",
            &list("weijian"),
            "--list",
            &list("gongan"),
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        v["summary"]["files"].as_array().map(Vec::len),
        Some(2),
        "{v}"
    );
    assert_eq!(
        v["summary"]["counts"]["theirs_only"].as_u64(),
        Some(0),
        "{v}"
    );
    assert_eq!(
        v["summary"]["matched_by_id"].as_u64(),
        Some(2 * kept),
        "{v}"
    );
    assert!(!stdout(&o).contains("500110199"), "{}", stdout(&o));
    let o = jk(
        dir.path(),
        &[
            "link",
            "census",
            "--county",
            "500110",
            "--list",
            &list("weijian"),
            "--list",
            &list("canlian"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("年度联合普查") && stdout(&o).contains("残联名单"),
        "{}",
        stdout(&o)
    );
    // Bad: a list without its department, a department twice, a single list.
    for (lists, says) in [
        (vec!["gongan".to_string(), list("weijian")], "部门=文件"),
        (vec![list("gongan"), list("公安")], "只能提供一份"),
        (vec![list("gongan")], "至少两个部门"),
    ] {
        let mut args = vec!["link", "census", "--county", "500110"];
        for l in &lists {
            args.extend(["--list", l.as_str()]);
        }
        let o = jk(dir.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    }
}

/// Start `serve` on a free port, wait until it listens, stop it with SIGTERM (which writes the
/// final audit checkpoint). Returns what it printed.
fn serve_once(dir: &Path) -> (bool, String) {
    serve_for(dir, &[], std::time::Duration::ZERO)
}

/// Like [`serve_once`], with more arguments, running for `run` before it is stopped.
fn serve_for(dir: &Path, extra: &[&str], run: std::time::Duration) -> (bool, String) {
    use std::io::{BufRead, BufReader, Read};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jingkang"))
        .arg("--data-dir")
        .arg(dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .env_remove("JINGKANG_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            let ok = child.wait().unwrap().success();
            return (ok, format!("{printed}{err}"));
        }
        printed.push_str(&line);
        if line.contains("精康已启动") {
            break;
        }
    }
    // Wait until it answers (its signal handler is then in place).
    for _ in 0..100 {
        use std::io::Write;
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = write!(
                s,
                "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            );
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp);
            if resp.contains("200 OK") {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(run);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    (child.wait().unwrap().success(), printed)
}

/// The audit chain is anchored outside the database: cutting off its newest entries (with the
/// append-only triggers dropped) is found by `audit verify`, naming the first missing entry; a
/// forged witness line and another key file are refused.
#[test]
fn the_audit_witness_sees_a_cut_tail_and_the_key_must_match() {
    let dir = tempfile::tempdir().unwrap();
    let o = jk(dir.path(), &["init"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let key = dir.path().join("jingkang.key");
    assert!(
        key.exists() && stderr(&o).contains("创建密钥文件"),
        "{}",
        stderr(&o)
    );
    let (ok, printed) = serve_once(dir.path());
    assert!(ok, "{printed}");
    let witness = dir.path().join("audit-witness.log");
    assert!(witness.exists());
    let v = jk(dir.path(), &["audit", "verify"]);
    assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
    assert!(stdout(&v).contains("均与审计链一致"), "{}", stdout(&v));

    // A backup, then more audited work and a newer checkpoint: restoring the older backup is
    // reported as older than the witness's newest checkpoint.
    let older = dir.path().join("older.db");
    let o = jk(dir.path(), &["backup", "--out", older.to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("已备份到"), "{}", stdout(&o));
    let o = jk(
        dir.path(),
        &["org", "add", "--name", "綦江区民政局", "--region", "500110"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let (ok, printed) = serve_once(dir.path());
    assert!(ok, "{printed}");
    let restored = format!("sqlite://{}", dir.path().join("restored.db").display());
    let o = jk(
        dir.path(),
        &["--database", &restored, "restore", older.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("已把") && stdout(&o).contains("审计日志被截短"),
        "{}",
        stdout(&o)
    );
    // Into a database that is not empty: refused, nothing changed.
    let o = jk(
        dir.path(),
        &["--database", &restored, "restore", older.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("不是空的"), "{}", stderr(&o));

    // Entries written after the checkpoint are fine; cutting below it is not.
    let url = format!("sqlite://{}", dir.path().join("jingkang.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let total: i64 = rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log")
            .fetch_one(&mut c)
            .await
            .unwrap();
        sqlx::query("DROP TRIGGER audit_log_no_delete")
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query(
            "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log ORDER BY id DESC LIMIT 1)",
        )
        .execute(&mut c)
        .await
        .unwrap();
        n
    });
    let v = jk(dir.path(), &["audit", "verify"]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    let first = format!("从第 {total} 条起缺失");
    assert!(stdout(&v).contains(&first), "{}", stdout(&v));
    // The hash chain alone still passes: only the witness sees it.
    assert!(stdout(&v).contains("校验通过"), "{}", stdout(&v));

    // A hand-written checkpoint is not believed.
    let mut text = std::fs::read_to_string(&witness).unwrap();
    text.push_str(
        "{\"entries\":1,\"head\":\"x\",\"at\":\"2026-01-01T00:00:00Z\",\"mac\":\"00\"}\n",
    );
    std::fs::write(&witness, text).unwrap();
    let v = jk(dir.path(), &["audit", "verify"]);
    assert_eq!(v.status.code(), Some(1));
    assert!(stdout(&v).contains("无法用密钥核验"), "{}", stdout(&v));

    // Another key file: the server refuses to start, saying why.
    std::fs::remove_file(&key).unwrap();
    let o = jk(dir.path(), &["init"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("与此数据库不匹配"), "{}", stderr(&o));
    let (ok, printed) = serve_once(dir.path());
    assert!(!ok && printed.contains("与此数据库不匹配"), "{printed}");
}

/// Scheduled backups: taken every period, the newest `--backup-keep` kept; a failing one is shown
/// to the administrators.
#[test]
fn serve_takes_backups_on_a_schedule_and_reports_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    assert!(jk(dir.path(), &["init"]).status.success());
    let backups = dir.path().join("backups");
    let args = [
        "--backup-dir",
        backups.to_str().unwrap(),
        "--backup-every",
        "1s",
        "--backup-keep",
        "2",
    ];
    let (ok, printed) = serve_for(dir.path(), &args, std::time::Duration::from_millis(4500));
    assert!(ok, "{printed}");
    let files: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".db"))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        assert!(backups.join(format!("{f}.manifest.json")).exists());
    }
    // A backup folder that cannot be written: logged, and the administrators are told.
    let blocked = dir.path().join("blocked");
    std::fs::write(&blocked, b"a file, not a folder").unwrap();
    assert!(
        jk(
            dir.path(),
            &["org", "add", "--name", "重庆市民政局", "--region", "500000"]
        )
        .status
        .success()
    );
    let o = jk(
        dir.path(),
        &[
            "user",
            "add",
            "--username",
            "admin",
            "--role",
            "admin",
            "--region",
            "500000",
            "--org",
            "重庆市民政局",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let args = [
        "--backup-dir",
        blocked.to_str().unwrap(),
        "--backup-every",
        "1s",
    ];
    let (ok, printed) = serve_for(dir.path(), &args, std::time::Duration::from_millis(2500));
    assert!(ok, "{printed}");
    let url = format!("sqlite://{}", dir.path().join("jingkang.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let told: i64 = rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar(
            "SELECT count(*) FROM notifications WHERE audience = 'admin' AND kind = 'backup'",
        )
        .fetch_one(&mut c)
        .await
        .unwrap()
    });
    assert!(told >= 1);
}

/// A roster import killed with SIGKILL at 20 points from start to end leaves nothing or
/// everything: the persons are 0 or all of them, the database is intact (SQLite
/// `integrity_check`; PostgreSQL `amcheck` of every index of the person tables) and the audit chain
/// verifies. On SQLite, and on PostgreSQL when `JINGKANG_TEST_DATABASE_URL` names a server.
#[test]
fn an_import_killed_at_any_point_leaves_nothing_or_everything() {
    let dir = tempfile::tempdir().unwrap();
    let roster = dir.path().join("roster.csv");
    let o = jk(
        dir.path(),
        &[
            "gen",
            "roster",
            "--rows",
            "6000",
            "--seed",
            "5",
            "--error-rate",
            "0",
            "--clean",
            "--out",
            roster.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // Each backend with the URL of a fresh database for run `i`.
    type FreshDb = Box<dyn Fn(usize) -> String>;
    let mut backends: Vec<(String, FreshDb)> = vec![(
        "sqlite".into(),
        Box::new({
            let base = dir.path().to_path_buf();
            move |i| format!("sqlite://{}", base.join(format!("crash-{i}.db")).display())
        }),
    )];
    if let Ok(pg) = std::env::var("JINGKANG_TEST_DATABASE_URL")
        && !pg.trim().is_empty()
    {
        let base = pg.rsplit_once('/').unwrap().0.to_string();
        let admin = pg.clone();
        backends.push((
            "postgres".into(),
            Box::new(move |i| {
                let name = format!("jk_crash_{}_{i}", std::process::id());
                psql(
                    &admin,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                );
                psql(&admin, &format!("CREATE DATABASE {name}"));
                format!("{base}/{name}")
            }),
        ));
    }
    for (backend, url_of) in &backends {
        let run = |url: &str| {
            Command::new(env!("CARGO_BIN_EXE_jingkang"))
                .arg("--data-dir")
                .arg(dir.path())
                .args(["--database", url, "import", "roster"])
                .arg(&roster)
                .args(["--county", "500110"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        };
        // How long a whole import takes here.
        let url = url_of(0);
        assert!(
            jk(dir.path(), &["--database", &url, "init"])
                .status
                .success()
        );
        let t = std::time::Instant::now();
        assert!(run(&url).wait().unwrap().success());
        let whole = t.elapsed();
        let all = persons(&url);
        assert_eq!(all, 6000, "{backend}");
        let mut seen = (0, 0);
        for i in 1..=20u32 {
            let url = url_of(i as usize);
            assert!(
                jk(dir.path(), &["--database", &url, "init"])
                    .status
                    .success()
            );
            let mut child = run(&url);
            std::thread::sleep(whole.mul_f64(f64::from(i) / 20.0 * 1.1));
            let _ = Command::new("kill")
                .args(["-KILL", &child.id().to_string()])
                .status();
            let _ = child.wait();
            let n = persons(&url);
            assert!(
                n == 0 || n == all,
                "{backend}: {n} persons after a kill at {i}/20"
            );
            if n == 0 {
                seen.0 += 1
            } else {
                seen.1 += 1
            }
            let v = jk(dir.path(), &["--database", &url, "audit", "verify"]);
            assert!(v.status.success(), "{backend} at {i}/20: {}", stdout(&v));
            assert_eq!(intact(&url), "ok", "{backend} at {i}/20");
        }
        assert_eq!(intact(&url_of_first(backend, dir.path())), "ok");
        assert!(
            seen.0 > 0,
            "{backend}: no kill landed mid-import ({seen:?})"
        );
        eprintln!(
            "{backend}: killed mid-import {} times, after the end {} times",
            seen.0, seen.1
        );
    }
}

/// The database of the whole (unkilled) import, checked and dropped last.
fn url_of_first(backend: &str, dir: &Path) -> String {
    if backend == "sqlite" {
        format!("sqlite://{}", dir.join("crash-0.db").display())
    } else {
        let pg = std::env::var("JINGKANG_TEST_DATABASE_URL").unwrap();
        let base = pg.rsplit_once('/').unwrap().0.to_string();
        format!("{base}/jk_crash_{}_0", std::process::id())
    }
}

fn psql(url: &str, sql: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql).execute(&mut c).await.unwrap();
    });
}

fn persons(url: &str) -> i64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = jingkang_core::store::Db::connect_without_migrating(url)
            .await
            .unwrap();
        let n = jingkang_core::on_pool!(&db, p => sqlx::query_scalar::<_, i64>("SELECT count(*) FROM persons").fetch_one(p).await).unwrap();
        db.close().await;
        n
    })
}

/// `ok` when the database is intact.
fn intact(url: &str) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        if url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_scalar::<_, String>("PRAGMA integrity_check")
                .fetch_one(&mut c)
                .await
                .unwrap()
        } else {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query("CREATE EXTENSION IF NOT EXISTS amcheck")
                .execute(&mut c)
                .await
                .unwrap();
            let indexes: Vec<String> = sqlx::query_scalar(
                "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                 JOIN pg_class t ON t.oid = i.indrelid JOIN pg_am a ON a.oid = c.relam \
                 WHERE a.amname = 'btree' AND t.relname IN ('persons', 'guardians', 'person_history', 'audit_log')",
            )
            .fetch_all(&mut c)
            .await
            .unwrap();
            for ix in &indexes {
                sqlx::query(&format!("SELECT bt_index_check('{ix}'::regclass, true)"))
                    .execute(&mut c)
                    .await
                    .unwrap();
            }
            let name: String = sqlx::query_scalar("SELECT current_database()::text")
                .fetch_one(&mut c)
                .await
                .unwrap();
            c.close().await.unwrap();
            let admin = url.rsplit_once('/').unwrap().0.to_string() + "/postgres";
            let mut a = sqlx::PgConnection::connect(&admin).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut a)
                .await
                .unwrap();
            if indexes.is_empty() { "no indexes".into() } else { "ok".into() }
        }
    })
}

/// Encryption at rest as an operator meets it: no ID number is in the database file in the clear;
/// `key rotate` re-seals everything under a new key; afterwards the old key file is refused and
/// the new one reads the registry (an exchange file with identities in clear).
#[test]
fn a_key_rotation_reseals_everything_and_the_old_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = jk(dir.path(), &["init", "--demo"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The demo's ID numbers, from a platform file; none of them anywhere in the database's files.
    let ids_file = dir.path().join("ids.json");
    let o = jk(
        dir.path(),
        &[
            "export",
            "platform",
            "--region",
            "500110",
            "--reason",
            "加密核对",
            "--out",
            ids_file.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ids_file).unwrap()).unwrap();
    let ids: std::collections::HashSet<Vec<u8>> = file["registrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id_number"].as_str().unwrap().as_bytes().to_vec())
        .collect();
    assert!(ids.len() > 100, "{}", ids.len());
    std::fs::remove_file(&ids_file).unwrap();
    let plain_ids = |dir: &Path| -> usize {
        let mut found = 0;
        for name in ["jingkang.db", "jingkang.db-wal"] {
            let Ok(bytes) = std::fs::read(dir.join(name)) else {
                continue;
            };
            let mut run = 0usize;
            for (i, &b) in bytes.iter().enumerate() {
                run = if b.is_ascii_digit() || b == b'X' {
                    run + 1
                } else {
                    0
                };
                if run >= 18 && ids.contains(&bytes[i + 1 - 18..=i]) {
                    found += 1;
                }
            }
        }
        found
    };
    assert_eq!(
        plain_ids(dir.path()),
        0,
        "an ID number is stored in the clear"
    );
    // Every sealed column holds only sealed values, and the demo wrote some into each kind of
    // note (so that a write path that forgets to seal fails here).
    let census = |dir: &Path| {
        let url = format!("sqlite://{}", dir.join("jingkang.db").display());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let db = jingkang_core::store::Db::connect(&url).await.unwrap();
            let c = jingkang_core::store::sealing::census(&db).await.unwrap();
            db.close().await;
            c
        })
    };
    let before = census(dir.path());
    for c in &before {
        assert_eq!(c.plain, 0, "plain values in {}.{}", c.table, c.column);
    }
    for (table, column) in [
        ("persons", "id_number"),
        ("persons", "diagnosis_code"),
        ("persons", "disability_certificate"),
        ("guardians", "phone"),
        ("followups", "answers"),
        ("assessments", "answers"),
        ("registration_events", "reason"),
        ("referral_events", "reason"),
    ] {
        let c = before
            .iter()
            .find(|c| (c.table, c.column) == (table, column))
            .unwrap();
        assert!(c.sealed > 0, "nothing sealed in {table}.{column}");
    }

    let new_key = dir.path().join("new.key");
    let o = jk(
        dir.path(),
        &["key", "rotate", "--new-key-file", new_key.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("密钥轮换完成"), "{}", stdout(&o));
    assert!(new_key.exists());
    // The same key again: nothing to do.
    let o = jk(
        dir.path(),
        &[
            "--key-file",
            new_key.to_str().unwrap(),
            "key",
            "rotate",
            "--new-key-file",
            new_key.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("无需轮换"), "{}", stderr(&o));

    // The old key file (the default in the data directory) is refused, with the reason.
    let out = dir.path().join("p.json");
    let export = |key: Option<&Path>| {
        let mut args: Vec<String> = Vec::new();
        if let Some(k) = key {
            args.extend(["--key-file".into(), k.display().to_string()]);
        }
        args.extend(
            [
                "export",
                "platform",
                "--region",
                "500110",
                "--reason",
                "轮换核对",
                "--out",
            ]
            .map(String::from),
        );
        args.push(out.display().to_string());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        jk(dir.path(), &refs)
    };
    let o = export(None);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("不匹配"), "{}", stderr(&o));
    let o = export(Some(&new_key));
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let regs = file["registrations"].as_array().unwrap();
    assert!(!regs.is_empty());
    for r in regs {
        let id = r["id_number"].as_str().unwrap();
        assert!(
            jingkang_core::domain::IdNumber::parse(id).is_ok(),
            "opened under the new key: {id}"
        );
    }
    assert_eq!(plain_ids(dir.path()), 0);
    let after = census(dir.path());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(
            (a.sealed, a.plain),
            (b.sealed, 0),
            "{}.{}",
            a.table,
            a.column
        );
    }
}

/// Issue 21 §8: a report freeze (签发, through the server) killed with SIGKILL at 20 points leaves
/// the filing either as it was (审核 passed, nothing frozen, no audit entry) or signed with its
/// frozen row and its audit entry; the database is intact and `audit verify` passes.
#[test]
fn a_report_freeze_killed_at_any_point_leaves_nothing_or_everything() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut backends = vec![(
        "sqlite".to_string(),
        format!("sqlite://{}", dir.path().join("freeze.db").display()),
    )];
    let pg_name = format!("jk_freeze_{}", std::process::id());
    let pg = std::env::var("JINGKANG_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());
    if let Some(pg) = &pg {
        psql(
            pg,
            &format!("DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)"),
        );
        psql(pg, &format!("CREATE DATABASE {pg_name}"));
        let base = pg.rsplit_once('/').unwrap().0;
        backends.push(("postgres".into(), format!("{base}/{pg_name}")));
    }
    const TOWN: &str = "500110123";
    const POINTS: usize = 20;
    for (backend, url) in &backends {
        // A data directory (key, audit witness) of each database's own.
        let dir = tempfile::tempdir().unwrap();
        let o = jk(dir.path(), &["--database", url, "init", "--demo"]);
        assert!(o.status.success(), "{backend}: {}", stderr(&o));
        let mut add = Command::new(env!("CARGO_BIN_EXE_jingkang"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--database", url, "user", "add", "--username", "qz-civil"])
            .args(["--role", "civil", "--region", "500110", "--password-stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        writeln!(add.stdin.take().unwrap(), "Qz-freeze-Kill-2026!").unwrap();
        assert!(add.wait().unwrap().success(), "{backend}: user add");
        // A session of the signer (with its second factor given) and POINTS + 1 filings of the
        // township, each filed and reviewed, ready to be signed.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (cookie, csrf, filings) = rt.block_on(async {
            use jingkang_core::app::filings;
            use jingkang_core::store::{Actor, accounts};
            let key =
                jingkang_core::secrets::MasterKey::load(&dir.path().join("jingkang.key")).unwrap();
            let db = jingkang_core::store::Db::connect(url)
                .await
                .unwrap()
                .with_keys(jingkang_core::secrets::Keys::of(&key));
            let tree = jingkang_core::store::regions::load_tree(&db, false)
                .await
                .unwrap();
            let def = jingkang_core::report::Definition::shipped("fujian2").unwrap();
            let (town, county) = (tree.get(TOWN).unwrap(), tree.get("500110").unwrap());
            // Its first password was given by an administrator: as if changed since.
            jingkang_core::on_pool!(&db, p => sqlx::query(
                "UPDATE users SET must_change_password = $1 WHERE username = 'qz-civil'")
                .bind(false).execute(p).await.map(drop))
            .unwrap();
            let mut tx = db.begin().await.unwrap();
            let user = accounts::find_user(&mut tx, "qz-civil")
                .await
                .unwrap()
                .unwrap();
            let secret = jingkang_core::accounts::new_totp_secret();
            accounts::set_totp_secret(&mut tx, &user, Some(&secret))
                .await
                .unwrap();
            let user = accounts::find_user(&mut tx, "qz-civil")
                .await
                .unwrap()
                .unwrap();
            let (token, session) = accounts::create_session(&mut tx, &user, true)
                .await
                .unwrap();
            let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
            let mut ids = Vec::new();
            for i in 0..=POINTS {
                let quarter = format!("{}Q{}", 2021 + i / 4, i % 4 + 1);
                let id = filings::save(
                    &mut tx,
                    &jingkang_core::regions::Scope::of(town),
                    &Actor::user("qz-clerk"),
                    &def,
                    (TOWN, &quarter),
                    &std::collections::BTreeMap::new(),
                    Some("王填报"),
                    day,
                )
                .await
                .unwrap()
                .unwrap();
                filings::review(
                    &mut tx,
                    &jingkang_core::regions::Scope::of(county),
                    &Actor::user("qz-civil"),
                    id,
                    "李审核",
                    true,
                    "",
                    day,
                )
                .await
                .unwrap()
                .unwrap();
                ids.push((id, quarter));
            }
            tx.commit().await.unwrap();
            db.close().await;
            (format!("jk_session={token}"), session.csrf, ids)
        });
        // Sign filing `k` through a server started for it; kill the server `after` the request
        // left (or, with `None`, let it answer). Returns how long the answer took.
        let sign = |k: usize, after: Option<std::time::Duration>| -> std::time::Duration {
            let (mut server, port) = start_server(dir.path(), url);
            let (id, quarter) = &filings[k];
            let (cookie, csrf, quarter) = (cookie.clone(), csrf.clone(), quarter.clone());
            let id = *id;
            let request = std::thread::spawn(move || {
                use std::io::{Read, Write};
                let enc = |v: &str| -> String {
                    v.bytes()
                        .map(|b| match b {
                            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => {
                                (b as char).to_string()
                            }
                            _ => format!("%{b:02X}"),
                        })
                        .collect()
                };
                let body = format!(
                    "csrf={}&quarter={}&name={}",
                    enc(&csrf),
                    enc(&quarter),
                    enc("张签发")
                );
                let t = std::time::Instant::now();
                let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                let _ = write!(
                    s,
                    "POST /reports/filings/{id}/sign HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
                     Origin: http://127.0.0.1:{port}\r\nCookie: {cookie}\r\n\
                     Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let mut resp = String::new();
                let _ = s.read_to_string(&mut resp);
                let to = resp
                    .lines()
                    .find_map(|l| l.strip_prefix("location: "))
                    .unwrap_or_default()
                    .to_string();
                (t.elapsed(), to)
            });
            match after {
                Some(d) => {
                    std::thread::sleep(d);
                    let _ = Command::new("kill")
                        .args(["-KILL", &server.id().to_string()])
                        .status();
                    let _ = server.wait();
                    let _ = request.join();
                    std::time::Duration::ZERO
                }
                None => {
                    let (took, to) = request.join().unwrap();
                    assert!(
                        to.contains("done=sign"),
                        "{backend}: a whole sign went to {to:?}"
                    );
                    let _ = Command::new("kill")
                        .args(["-TERM", &server.id().to_string()])
                        .status();
                    let _ = server.wait();
                    took
                }
            }
        };
        let whole = sign(0, None);
        assert_eq!(filing_state(url, filings[0].0), ("signed".into(), true, 1));
        let mut seen = (0, 0);
        for (i, (id, _)) in filings.iter().enumerate().skip(1) {
            // Spread over twice a whole sign and some (the kill itself takes a moment to land).
            let span = (whole + std::time::Duration::from_millis(5)) * 2;
            sign(i, Some(span.mul_f64(i as f64 / POINTS as f64)));
            let (state, frozen, audited) = filing_state(url, *id);
            match state.as_str() {
                "reviewed" => {
                    assert!(!frozen && audited == 0, "{backend} at {i}: half a freeze");
                    seen.0 += 1;
                }
                "signed" => {
                    assert!(
                        frozen && audited == 1,
                        "{backend} at {i}: signed without all"
                    );
                    seen.1 += 1;
                }
                other => panic!("{backend} at {i}: state {other}"),
            }
            let v = jk(dir.path(), &["--database", url, "audit", "verify"]);
            assert!(
                v.status.success(),
                "{backend} at {i}: {}{}",
                stdout(&v),
                stderr(&v)
            );
            if backend == "sqlite" {
                assert_eq!(intact(url), "ok", "{backend} at {i}");
            }
        }
        // (On PostgreSQL the check ends by dropping the database.)
        assert_eq!(intact(url), "ok", "{backend}");
        eprintln!(
            "{backend}: freeze killed before its commit {} times, after {} times (a whole sign {whole:?})",
            seen.0, seen.1
        );
        assert!(seen.0 > 0 && seen.1 > 0, "{backend}: {seen:?}");
    }
}

/// Start `serve` on database `url` and a free port; returns once it answers.
fn start_server(dir: &Path, url: &str) -> (std::process::Child, u16) {
    use std::io::{BufRead, BufReader, Read, Write};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jingkang"))
        .arg("--data-dir")
        .arg(dir)
        .args([
            "--database",
            url,
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut err = child.stderr.take().unwrap();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            let mut e = String::new();
            let _ = err.read_to_string(&mut e);
            let _ = child.wait();
            panic!("serve stopped: {e}");
        }
        if line.contains("精康已启动") {
            break;
        }
    }
    // Drain its output so that it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = out.read_to_string(&mut sink);
    });
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = err.read_to_string(&mut sink);
    });
    for _ in 0..100 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = write!(
                s,
                "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            );
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp);
            if resp.contains("200 OK") {
                return (child, port);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("serve did not answer");
}

/// A filing's state, whether it holds a frozen row, and its `report.sign` audit entries.
fn filing_state(url: &str, id: i64) -> (String, bool, i64) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = jingkang_core::store::Db::connect(url).await.unwrap();
        let (state, frozen): (String, bool) = jingkang_core::on_pool!(&db, p => sqlx::query_as(
            "SELECT state, snapshot IS NOT NULL FROM report_filings WHERE id = $1")
            .bind(id).fetch_one(p).await)
        .unwrap();
        let audited: i64 = jingkang_core::on_pool!(&db, p => sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'report.sign' AND detail LIKE $1")
            .bind(format!("%\"filing\":{id},%")).fetch_one(p).await)
        .unwrap();
        db.close().await;
        (state, frozen, audited)
    })
}
