//! Shared by the web tests: a served app on a fresh database, logins, page helpers.

#![allow(clippy::unwrap_used, dead_code)]

use std::str::FromStr;

use jingkang_core::accounts::Role;
use jingkang_core::generate::{self, GenOptions};
use jingkang_core::import::{ImportOptions, import_roster};
use jingkang_core::regions::{self, RegionTree, Scope};
use jingkang_core::store::accounts::{self as store_accounts, NewUser};
use jingkang_core::store::persons::{self, ListFilter};
use jingkang_core::store::{Actor, Db, audit};
use jingkang_web::{AppState, Settings};
use reqwest::redirect::Policy;
use sqlx::Connection;

pub const COUNTY: &str = "500110";
pub const PASSWORD: &str = "Test-Password-2026";

pub struct App {
    pub base: String,
    pub db: Db,
    pub tree: RegionTree,
    /// A township under the county, and another one, for scope tests.
    pub town_a: String,
    pub town_b: String,
    /// The server's state (shared with it: its kept boards, say).
    pub state: AppState,
    _dir: Option<tempfile::TempDir>,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

pub async fn install(db: &Db) -> RegionTree {
    let all = regions::embedded_regions().unwrap();
    let subset: Vec<_> = all
        .into_iter()
        .filter(|r| r.code.starts_with("50"))
        .collect();
    let mut tx = db.begin().await.unwrap();
    jingkang_core::store::regions::upsert(&mut tx, &subset)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    jingkang_core::store::regions::load_tree(db, false)
        .await
        .unwrap()
}

pub async fn sqlite_db() -> (Db, Option<tempfile::TempDir>) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
        .await
        .unwrap()
        .with_keys(test_keys());
    (db, Some(dir))
}

pub async fn postgres_db() -> Option<Db> {
    let url = match std::env::var("JINGKANG_TEST_DATABASE_URL") {
        Ok(u) if !u.trim().is_empty() => u,
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true needs JINGKANG_TEST_DATABASE_URL"
            );
            return None;
        }
    };
    let schema = format!("w_{}_{}", std::process::id(), rand_suffix());
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    let opts = sqlx::postgres::PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let db = Db::connect_postgres(opts)
        .await
        .unwrap()
        .with_keys(test_keys());
    db.migrate().await.unwrap();
    Some(db)
}

pub fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000;
    format!("{t}_{}", N.fetch_add(1, Ordering::SeqCst))
}

/// Serve the app on port 0 with 60 generated persons in the county.
pub async fn spawn_app(db: Db, dir: Option<tempfile::TempDir>) -> App {
    let tree = install(&db).await;
    let county = tree.get(COUNTY).unwrap().clone();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("r.xlsx");
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    generate::write_roster(
        &tree,
        &county,
        GenOptions {
            rows: 60,
            seed: 11,
            error_rate: 0.0,
            messy: false,
            today,
        },
        &file,
        None,
    )
    .unwrap();
    let actor = Actor::system();
    let opts = ImportOptions {
        county: COUNTY,
        dry_run: false,
        actor: &actor,
        source: "test",
        today,
        progress: None,
    };
    let r = import_roster(&db, &tree, &file, &opts).await.unwrap();
    assert_eq!(r.created, 60);
    // The two townships with the most persons.
    let mut tx = db.begin().await.unwrap();
    let mut counts = persons::count_by_township(&mut tx, &Scope::of(&county))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    counts.sort_by_key(|(_, n)| -n);
    let (town_a, town_b) = (counts[0].0.clone(), counts[1].0.clone());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::new(db.clone(), tree.clone(), Settings::default());
    tokio::spawn(jingkang_web::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    App {
        base,
        db,
        tree,
        town_a,
        town_b,
        state,
        _dir: dir,
    }
}

impl App {
    pub async fn add_user(&self, username: &str, role: Role, region: &str, must_change: bool) {
        let mut tx = self.db.begin().await.unwrap();
        let new = NewUser {
            username,
            display_name: username,
            role,
            region_code: region,
            password: PASSWORD,
            must_change_password: must_change,
            organisation_id: None,
        };
        store_accounts::create_user(&mut tx, &Actor::cli(), &new)
            .await
            .unwrap()
            .unwrap();
        tx.commit().await.unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET the login page, then POST the form; returns the response to the POST.
    pub async fn login(
        &self,
        c: &reqwest::Client,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let page = c
            .get(self.url("/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = hidden(&page, "csrf");
        c.post(self.url("/login"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn csrf_of(&self, c: &reqwest::Client, path: &str) -> String {
        let page = c
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        hidden(&page, "csrf")
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        let mut tx = self.db.begin().await.unwrap();
        let v = audit::entries(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        v.into_iter().map(|e| e.action).collect()
    }

    /// Every person of the county (read without audit, for assertions).
    pub async fn all_persons(&self) -> Vec<persons::StoredPerson> {
        let mut tx = self.db.begin().await.unwrap();
        let scope = Scope::of(self.tree.get(COUNTY).unwrap());
        let v = persons::list(&mut tx, &scope, &ListFilter::default())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        v
    }

    /// The first `n` persons of `township` in list order (read without audit).
    pub async fn persons_in(&self, township: &str, n: i64) -> Vec<persons::StoredPerson> {
        let mut tx = self.db.begin().await.unwrap();
        let scope = Scope::of(self.tree.get(township).unwrap());
        let v = persons::list(
            &mut tx,
            &scope,
            &ListFilter {
                limit: Some(n),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        v
    }

    /// An API token of user `username` (who exists).
    pub async fn token_for(&self, username: &str) -> String {
        let mut tx = self.db.begin().await.unwrap();
        let user = store_accounts::find_user(&mut tx, username)
            .await
            .unwrap()
            .unwrap();
        let token = store_accounts::create_api_token(&mut tx, &Actor::cli(), &user)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        token
    }

    /// A person's name and ID number (opened: it is stored sealed).
    #[allow(dead_code)]
    pub async fn name_and_id_number(&self, id: i64) -> (String, String) {
        let (name, sealed): (String, String) =
            jingkang_core::on_pool!(&self.db, p => sqlx::query_as(
            "SELECT name, id_number FROM persons WHERE id = $1").bind(id).fetch_one(p).await)
            .unwrap();
        (
            name,
            self.db.keys().open("persons.id_number", &sealed).unwrap(),
        )
    }

    /// A person of `township`, by internal id.
    pub async fn person_in(&self, township: &str) -> i64 {
        let mut tx = self.db.begin().await.unwrap();
        let scope = Scope::of(self.tree.get(township).unwrap());
        let v = persons::list(
            &mut tx,
            &scope,
            &ListFilter {
                limit: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        v[0].id
    }
}

/// The value of the first hidden input named `name` in an HTML page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no hidden {name} in page:\n{html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// Download a list as .xlsx from `path` with `fields`: refused first without a reason (422, the
/// page again with the message), then given one, it answers a workbook, returned opened.
pub async fn download_list(
    app: &App,
    c: &reqwest::Client,
    path: &str,
    fields: &[(&str, String)],
) -> calamine::Xlsx<std::io::Cursor<Vec<u8>>> {
    let with = |reason: &str| {
        let mut f: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        f.push(("reason".into(), reason.into()));
        f
    };
    let r = c
        .post(app.url(path))
        .form(&with("  "))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        reqwest::StatusCode::UNPROCESSABLE_ENTITY,
        "{path} without a reason"
    );
    assert!(
        r.text().await.unwrap().contains("请填写导出原因"),
        "{path}: the page says why"
    );
    let r = c
        .post(app.url(path))
        .form(&with("年度检查"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK, "{path}");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(".xlsx"),
        "{path}"
    );
    calamine::open_workbook_from_rs(std::io::Cursor::new(r.bytes().await.unwrap().to_vec()))
        .unwrap()
}

/// The text of every cell of a sheet, row by row (numbers as written).
pub fn sheet_rows(
    wb: &mut calamine::Xlsx<std::io::Cursor<Vec<u8>>>,
    sheet: &str,
) -> Vec<Vec<String>> {
    let range = calamine::Reader::worksheet_range(wb, sheet)
        .unwrap_or_else(|e| panic!("sheet {sheet}: {e}"));
    range
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect()
}

/// A fresh master key's keys, as a first start creates one.
pub fn test_keys() -> jingkang_core::secrets::Keys {
    jingkang_core::secrets::Keys::of(&jingkang_core::secrets::MasterKey::generate())
}

/// The registry id of the person with this ID number (through its blind index: the number is
/// stored sealed).
#[allow(dead_code)]
pub async fn person_by_id_number(db: &Db, id_number: &str) -> i64 {
    let hash = db
        .keys()
        .index(jingkang_core::secrets::Index::IdNumber, id_number)
        .unwrap();
    jingkang_core::on_pool!(db, p => sqlx::query_scalar("SELECT id FROM persons WHERE id_hash = $1")
        .bind(&hash).fetch_one(p).await)
    .unwrap()
}

/// Seal what a test wrote in the clear with plain SQL (as the migration step does for a database
/// from before encryption), with the blind indexes.
#[allow(dead_code)]
pub async fn reseal(db: &Db) {
    jingkang_core::store::sealing::seal_pending(db, jingkang_core::store::sealing::BATCH, None)
        .await
        .unwrap();
}

/// A stored value of a sealed column `label` (`persons.phone`), opened.
#[allow(dead_code)]
pub async fn opened(db: &Db, label: &'static str, sql: &str, id: i64) -> Option<String> {
    let stored: Option<String> =
        jingkang_core::on_pool!(db, p => sqlx::query_scalar(sql).bind(id).fetch_one(p).await)
            .unwrap();
    db.keys().open_opt(label, stored.as_deref()).unwrap()
}

/// The persons of a region (code prefix) with their diagnosis codes, opened.
#[allow(dead_code)]
pub async fn diagnoses(db: &Db, region: &str) -> Vec<(i64, Option<String>)> {
    let rows: Vec<(i64, Option<String>)> = jingkang_core::on_pool!(db, p => sqlx::query_as(
        "SELECT id, diagnosis_code FROM persons WHERE residence_region LIKE $1 ORDER BY id")
        .bind(format!("{region}%")).fetch_all(p).await)
    .unwrap();
    rows.into_iter()
        .map(|(id, dx)| {
            (
                id,
                db.keys()
                    .open_opt("persons.diagnosis_code", dx.as_deref())
                    .unwrap(),
            )
        })
        .collect()
}

/// An operating site in `town` with one staff member, written as the county would: (site, staff).
pub async fn site_with_staff(app: &App, town: &str, name: &str) -> (i64, i64) {
    use jingkang_core::store::institutions as inst;
    let county = Scope::of(app.tree.get(COUNTY).unwrap());
    let rules = jingkang_core::care::institution::InstitutionRules::shipped().unwrap();
    let today = jingkang_web::entry::today();
    let new = inst::NewInstitution {
        name: name.into(),
        kind: "site".into(),
        urban: true,
        region: town.to_string(),
        address: "一号".into(),
        capacity: 10,
        operator: "运营方".into(),
        operator_code: "91110108551385082Q".into(),
        opened_on: None,
        status: "operating".into(),
    };
    let mut tx = app.db.begin().await.unwrap();
    let site = inst::create(
        &mut tx,
        &county,
        &Actor::cli(),
        (&rules, &app.tree),
        &new,
        today,
    )
    .await
    .unwrap()
    .unwrap();
    let staff = inst::NewStaff {
        institution_id: site,
        name: "社工甲".into(),
        position: "社工".into(),
        hired_on: chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap(),
        qualifications: vec![],
    };
    let member = inst::add_staff(&mut tx, &county, &Actor::cli(), &rules, &staff, today)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    (site, member)
}
