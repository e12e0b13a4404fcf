//! Browser tests in real Chromium (Debian `chromium` + `chromedriver`, driven over WebDriver by
//! fantoccini) against the real server on a fresh SQLite database. Screenshots of key pages go to
//! `target/test-artifacts/`. Under `CI=true` a missing Chromium fails the test; elsewhere it is
//! reported and the test returns.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use jingkang_core::accounts::{self, Role};
use jingkang_core::store::accounts as store_accounts;
use jingkang_core::store::persons;

struct Driver(Child);
impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find(cmds: &[&str]) -> Option<PathBuf> {
    cmds.iter().map(PathBuf::from).find(|p| p.exists())
}

async fn browser() -> Option<(Client, Driver)> {
    // Two rustls crypto providers are compiled into the tests: choose one for the process.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let chromium = find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
    let driver = find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
    let (Some(chromium), Some(driver)) = (chromium, driver) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but Chromium/chromedriver are not installed"
        );
        eprintln!("chromium or chromedriver not installed: browser test not run");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = Driver(child);
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
        // The browser's console, read by `console_problems`: errors and policy violations.
        "goog:loggingPrefs": { "browser": "ALL" },
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1024,900", "--lang=zh-CN"]
        }
    }))
    .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..50 {
        if let Ok(c) = ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            return Some((c, guard));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("chromedriver did not start");
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves a screenshot, and fails on anything the console has said since the last check.
async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(artifacts().join(format!("{name}.png")), png).unwrap();
    assert_console_clean(c, name).await;
}

/// chromedriver's log command (`POST /session/{id}/se/log`), which fantoccini does not wrap.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(r#"{"type":"browser"}"#.into()),
        )
    }
}

/// Chromium's own print to PDF (DevTools `Page.printToPDF` through chromedriver), honouring the
/// page's CSS `@page` size as the print dialog does; WebDriver's print command would impose its
/// own paper.
#[derive(Debug)]
struct PrintAsBrowser;

impl fantoccini::wd::WebDriverCompatibleCommand for PrintAsBrowser {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }
    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(
                r#"{"cmd":"Page.printToPDF","params":{"preferCSSPageSize":true,"printBackground":false}}"#
                    .into(),
            ),
        )
    }
}

/// The current page printed as the browser prints it: each page's size in points (width, height).
async fn printed_pages(c: &Client) -> Vec<(f64, f64)> {
    use base64::Engine;
    let v = c.issue_cmd(PrintAsBrowser).await.expect("printToPDF");
    let pdf = base64::engine::general_purpose::STANDARD
        .decode(v["data"].as_str().expect("PDF data"))
        .unwrap();
    let text = String::from_utf8_lossy(&pdf);
    // Each page object carries its MediaBox: `/MediaBox [0 0 595.92 842.88]`.
    text.match_indices("/MediaBox [")
        .filter_map(|(i, m)| {
            let rest = &text[i + m.len()..];
            let nums: Vec<f64> = rest
                .split(']')
                .next()?
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            (nums.len() == 4).then(|| (nums[2] - nums[0], nums[3] - nums[1]))
        })
        .collect()
}

/// Whether a page size in points is A4 (210 × 297 mm), upright or landscape.
fn is_a4((w, h): (f64, f64), landscape: bool) -> bool {
    let (short, long) = if landscape { (h, w) } else { (w, h) };
    (short - 595.3).abs() < 3.0 && (long - 841.9).abs() < 3.0
}

/// The console's errors and warnings since the last call (each entry is handed out once): a
/// script error, a resource that failed to load, and every Content-Security-Policy violation
/// (an inline handler the policy blocked is only ever reported there).
async fn console_problems(c: &Client) -> Vec<String> {
    let log = c
        .issue_cmd(BrowserLog)
        .await
        .expect("chromedriver browser log");
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|e| matches!(e["level"].as_str(), Some("SEVERE" | "WARNING")))
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        // 422 is the answer of a form sent back with its problems listed (the tests read them on
        // the page); Chromium logs every 4xx document as a failed load.
        .filter(|m| {
            !m.ends_with("the server responded with a status of 422 (Unprocessable Entity)")
        })
        .collect()
}

/// Fails the test on any console error or policy violation of the pages visited since the last
/// check. Every test ends with one, so no page it visits goes unchecked.
async fn assert_console_clean(c: &Client, at: &str) {
    let problems = console_problems(c).await;
    assert!(
        problems.is_empty(),
        "the browser console reported (checked at {at}):\n{}",
        problems.join("\n")
    );
}

async fn fill(c: &Client, name: &str, value: &str) {
    let e = c
        .find(Locator::Css(&format!("input[name=\"{name}\"]")))
        .await
        .unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn fill_area(c: &Client, name: &str, value: &str) {
    let e = c
        .find(Locator::Css(&format!("textarea[name=\"{name}\"]")))
        .await
        .unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn submit(c: &Client, form: &str) {
    c.find(Locator::Css(&format!("{form} button[type=submit]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits (up to 15 s: CI machines are slow) for an element that appears after a navigation.
async fn wait_for(c: &Client, locator: Locator<'_>) -> fantoccini::elements::Element {
    match c
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(locator)
        .await
    {
        Ok(e) => e,
        Err(e) => {
            let url = c
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            let text = body(c).await;
            panic!("{e}: not found on {url}:\n{text}");
        }
    }
}

/// Waits until the browser is on a path ending in `suffix`.
async fn wait_path(c: &Client, suffix: &str) {
    for _ in 0..150 {
        if c.current_url().await.unwrap().path().ends_with(suffix) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "not on …{suffix} but on {}:\n{}",
        c.current_url().await.unwrap(),
        body(c).await
    );
}

/// Waits until the browser has left a path ending in `suffix` (a form was accepted).
async fn wait_left(c: &Client, suffix: &str) {
    for _ in 0..150 {
        if !c.current_url().await.unwrap().path().ends_with(suffix) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("still on …{suffix}:\n{}", body(c).await);
}

/// Waits until the page text contains `needle`.
async fn wait_text(c: &Client, needle: &str) -> String {
    let mut text = String::new();
    for _ in 0..150 {
        text = body(c).await;
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{needle:?} not on {}:\n{text}",
        c.current_url().await.unwrap()
    );
}

/// The page text. A navigation may replace the page between finding `body` and reading it (a
/// stale element): then read the new page.
async fn body(c: &Client) -> String {
    for _ in 0..50 {
        if let Ok(e) = c.find(Locator::Css("body")).await
            && let Ok(t) = e.text().await
        {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no readable page at {:?}",
        c.current_url().await.map(|u| u.to_string())
    );
}

/// `first17` followed by its check character.
fn id_with_check(first17: &str) -> String {
    let first17 = &first17[..17];
    format!("{first17}{}", jingkang_core::domain::check_char(first17))
}

async fn login(c: &Client, app: &App, username: &str) {
    c.goto(&app.url("/login")).await.unwrap();
    fill(c, "username", username).await;
    fill(c, "password", PASSWORD).await;
    submit(c, "form[action=\"/login\"]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_and_an_officer_in_chromium() {
    let Some((c, _driver)) = browser().await else {
        return;
    };
    let (db, dir) = sqlite_db().await;
    let app = spawn_app(db, dir).await;
    app.add_user("minzheng", Role::Civil, COUNTY, false).await;
    app.add_user("jiezhen", Role::Township, &app.town_a, true)
        .await;

    // 1. 民政 officer: password, then the mandatory TOTP enrolment with its QR code.
    login(&c, &app, "minzheng").await;
    wait_path(&c, "/account/totp").await;
    shot(&c, "01-totp-enrolment").await;
    let secret = wait_for(&c, Locator::Id("totp-secret"))
        .await
        .text()
        .await
        .unwrap();
    let code = accounts::totp_code(
        &secret,
        u64::try_from(chrono::Utc::now().timestamp()).unwrap(),
    )
    .unwrap();
    fill(&c, "code", &code).await;
    submit(&c, "form[action=\"/account/totp\"]").await;
    let codes = wait_for(&c, Locator::Id("recovery-codes"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(codes.lines().count(), 10, "{codes}");
    shot(&c, "02-recovery-codes").await;
    wait_for(&c, Locator::LinkText("继续"))
        .await
        .click()
        .await
        .unwrap();
    wait_text(&c, "合计").await;
    shot(&c, "03-home").await;
    c.delete_all_cookies().await.unwrap();

    // 2. Township clerk: first login forces a new password.
    login(&c, &app, "jiezhen").await;
    wait_path(&c, "/account/password").await;
    fill(&c, "current", PASSWORD).await;
    fill(&c, "new", "Clerk-Secret-2026").await;
    fill(&c, "confirm", "Clerk-Secret-2026").await;
    submit(&c, "form[action=\"/account/password\"]").await;
    wait_left(&c, "/account/password").await;

    // 3. Import a messy roster through the page: preview with errors by row and column, confirm,
    //    then correct the rejected row in the form.
    let town = app.tree.get(&app.town_a).unwrap().name.clone();
    let (good1, good2, fixed) = (
        id_with_check("500110198002020013"),
        id_with_check("500110197503030024"),
        id_with_check("500110199004040035"),
    );
    let mut broken = fixed.clone();
    broken.replace_range(17.., if fixed.ends_with('1') { "2" } else { "1" });
    let dir = tempfile::tempdir().unwrap();
    let roster = dir.path().join("roster.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write(0, 0, format!("{town}精神障碍患者花名册")).unwrap();
    for (c, h) in [
        "序号",
        "乡镇（街道）",
        "姓 名",
        "性别",
        "公民身份号码",
        "家庭住址",
        "监护人姓名",
        "联系电话",
    ]
    .iter()
    .enumerate()
    {
        ws.write(2, c as u16, *h).unwrap();
    }
    let rows = [
        [
            "1",
            town.as_str(),
            "李建国",
            "男",
            good1.as_str(),
            "幸福路3号",
            "李大国",
            "13900139000",
        ],
        [
            "2",
            town.as_str(),
            "赵春梅",
            "女",
            good2.as_str(),
            "幸福路5号",
            "",
            "",
        ],
        [
            "3",
            town.as_str(),
            "孙立新",
            "男",
            broken.as_str(),
            "幸福路7号",
            "孙大新",
            "13700137000",
        ],
    ];
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            ws.write(3 + r as u32, c as u16, *v).unwrap();
        }
    }
    ws.write(6, 0, "合计").unwrap();
    wb.save(&roster).unwrap();
    c.goto(&app.url("/import")).await.unwrap();
    wait_for(&c, Locator::Css("input[type=file]"))
        .await
        .send_keys(roster.to_str().unwrap())
        .await
        .unwrap();
    submit(&c, "form.upload").await;
    let preview = wait_text(&c, "导入检查").await;
    assert!(
        preview.contains("身份证号") && preview.contains("校验"),
        "row 6's ID error: {preview}"
    );
    shot(&c, "04-import-preview").await;
    submit(&c, "form.confirm").await;
    wait_text(&c, "导入完成").await;
    shot(&c, "05-import-done").await;
    wait_for(&c, Locator::Css("form.rejected button"))
        .await
        .click()
        .await
        .unwrap();
    wait_path(&c, "/persons/new").await;
    wait_for(&c, Locator::Id("err-id_number")).await;
    shot(&c, "06-correct-row").await;
    fill(&c, "id_number", &fixed).await;
    submit(&c, "form.entry").await;
    let saved = wait_text(&c, "已登记入档").await;
    assert!(
        saved.contains("孙立新") && !saved.contains(&fixed),
        "saved, ID masked: {saved}"
    );

    // 4. Search by pinyin initials, open the person: sensitive fields are masked.
    let person = app
        .all_persons()
        .await
        .into_iter()
        .find(|p| p.record.data.residence_region.starts_with(&app.town_a))
        .unwrap();
    let initials = persons::name_initials(&person.record.data.name);
    c.goto(&app.url("/persons")).await.unwrap();
    fill(&c, "q", &initials).await;
    submit(&c, "form.search").await;
    shot(&c, "07-search-pinyin").await;
    wait_for(
        &c,
        Locator::Css(&format!("a[href=\"/persons/{}\"]", person.id)),
    )
    .await
    .click()
    .await
    .unwrap();
    let page = wait_text(&c, &person.record.data.name).await;
    assert!(!page.contains(&person.record.data.id_number), "ID masked");
    shot(&c, "08-person-masked").await;

    // 5. Reveal the ID number with a reason (htmx swaps the cell in place).
    let cell = wait_for(&c, Locator::Id("f-id_number")).await;
    cell.find(Locator::Css("input[name=reason]"))
        .await
        .unwrap()
        .send_keys("入户随访核对身份")
        .await
        .unwrap();
    cell.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut revealed = String::new();
    for _ in 0..50 {
        revealed = c
            .find(Locator::Id("f-id_number"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if revealed.contains(&person.record.data.id_number) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        revealed.contains(&person.record.data.id_number),
        "revealed: {revealed}"
    );
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with(&format!("/persons/{}", person.id)),
        "htmx: no page change"
    );
    shot(&c, "09-person-revealed").await;
    c.delete_all_cookies().await.unwrap();

    // 6. An auditor sees the reveal, with its reason, in the audit log.
    app.add_user("shenji", Role::Auditor, COUNTY, false).await;
    let mut tx = app.db.begin().await.unwrap();
    let auditor = store_accounts::find_user(&mut tx, "shenji")
        .await
        .unwrap()
        .unwrap();
    let secret = accounts::new_totp_secret();
    store_accounts::set_totp_secret(&mut tx, &auditor, Some(&secret))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    login(&c, &app, "shenji").await;
    wait_path(&c, "/login/totp").await;
    let code = accounts::totp_code(
        &secret,
        u64::try_from(chrono::Utc::now().timestamp()).unwrap(),
    )
    .unwrap();
    fill(&c, "code", &code).await;
    submit(&c, "form[action=\"/login/totp\"]").await;
    wait_left(&c, "/login/totp").await;
    c.goto(&app.url("/audit?action=person.reveal"))
        .await
        .unwrap();
    let log = wait_for(&c, Locator::Id("audit"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        log.contains("user:jiezhen") && log.contains("入户随访核对身份"),
        "{log}"
    );
    shot(&c, "10-audit").await;
    assert_console_clean(&c, "the end").await;
    c.close().await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// A doctor records a follow-up at risk grade 3 on a tablet-sized window; the police of the county
/// then find the alert in their notification centre and open the person (without the clinical
/// record).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_at_risk_three_reaches_the_police_in_chromium() {
    let Some((c, _driver)) = browser().await else {
        return;
    };
    let (db, dir) = sqlite_db().await;
    let app = spawn_app(db, dir).await;
    app.add_user("yisheng", Role::Doctor, COUNTY, false).await;
    app.add_user("gongan", Role::Police, COUNTY, false).await;
    let id = app.person_in(&app.town_a).await;
    let name = app
        .all_persons()
        .await
        .into_iter()
        .find(|p| p.id == id)
        .unwrap()
        .record
        .data
        .name;

    // The police see no one before (no one at risk ≥ 3).
    login(&c, &app, "gongan").await;
    wait_left(&c, "/login").await;
    c.goto(&app.url("/notifications")).await.unwrap();
    wait_text(&c, "没有通知").await;
    c.delete_all_cookies().await.unwrap();

    // 1. The doctor fills the form: date and name are filled in, choices are one tap each.
    login(&c, &app, "yisheng").await;
    wait_left(&c, "/login").await;
    c.set_window_size(820, 1180).await.unwrap();
    c.goto(&app.url(&format!("/persons/{id}/followups/new")))
        .await
        .unwrap();
    wait_text(&c, "严重精神障碍患者随访服务记录表").await;
    shot(&c, "11-followup-form").await;
    // Submitting with the clinical items missing: every problem listed, nothing saved.
    click(&c, "form.followup button[type=submit]").await;
    let text = wait_text(&c, "没有保存").await;
    assert!(
        text.contains("【危险性评估】未填写") && text.contains("【自知力】未填写"),
        "{text}"
    );
    shot(&c, "12-followup-errors").await;
    for (name, value) in [
        ("mode", "home"),
        ("risk_grade", "3"),
        ("symptom_level", "marked"),
        ("insight", "partial"),
        ("social.self_care", "fair"),
        ("social.housework", "fair"),
        ("social.work", "na"),
        ("social.learning", "fair"),
        ("social.interpersonal", "poor"),
        ("adherence", "intermittent"),
        ("symptoms", "suspicion"),
    ] {
        click(&c, &format!("input[name=\"{name}\"][value=\"{value}\"]")).await;
    }
    fill(&c, "drug1.name", "利培酮").await;
    fill(&c, "drug1.night_mg", "2").await;
    click(&c, "form.followup button[type=submit]").await;
    let page = wait_text(&c, "已记录随访").await;
    assert!(
        page.contains("病情分类“不稳定”")
            && page.contains("立即转诊")
            && page.contains("通知公安、街镇、精防医生"),
        "{page}"
    );
    shot(&c, "13-followup-recorded").await;

    // The urgent path: 复发绿色通道 chosen in the kind list switches the form (a script file does
    // it; the inline handler it had was blocked by the page's own policy, so the kind stayed
    // 出院转介 and the referral could only leave as a routine one).
    c.goto(&app.url(&format!("/referrals/new?person={id}")))
        .await
        .unwrap();
    wait_text(&c, "发起转介").await;
    c.find(Locator::Css("select[name=\"kind\"]"))
        .await
        .unwrap()
        .select_by_value("relapse")
        .await
        .unwrap();
    wait_text(&c, "转诊单").await;
    let kind = c
        .find(Locator::Css("form.followup input[name=\"kind\"]"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kind.as_deref(), Some("relapse"));
    c.find(Locator::Css("select[name=\"to_region\"]"))
        .await
        .unwrap()
        .select_by_value(COUNTY)
        .await
        .unwrap();
    fill_area(
        &c,
        "text_0",
        "危险性 3 级，家属诉近一周拒药、夜间不眠，请优先安排住院评估",
    )
    .await;
    fill(&c, "contact_phone", "13800002222").await;
    shot(&c, "13b-relapse-referral-form").await;
    click(&c, "form.followup button[type=submit]").await;
    let sent = wait_text(&c, "转介已发出").await;
    assert!(
        sent.contains("复发绿色通道") && sent.contains("紧急"),
        "{sent}"
    );
    shot(&c, "13c-relapse-referral-sent").await;

    // 附件4 printed from the browser: one A4 page for the person, however full the record.
    c.set_window_size(1024, 900).await.unwrap();
    c.goto(&app.url(&format!("/persons/{id}/form4")))
        .await
        .unwrap();
    wait_text(&c, "打印原因").await;
    // The form opens the print page in a new window; here it stays in this one.
    c.execute(
        "document.querySelector('form.search').removeAttribute('target')",
        vec![],
    )
    .await
    .unwrap();
    fill(&c, "reason", "季度报送存档").await;
    click(&c, "form.search button:not([name])").await;
    let sheet = wait_text(&c, "共 1 页").await;
    // Filled from the follow-up just recorded, not only from the record.
    assert!(sheet.contains("利培酮（晚 2 mg）"), "{sheet}");
    shot(&c, "13e-form4-screen").await;
    let pages = printed_pages(&c).await;
    assert!(
        pages.len() == 1 && is_a4(pages[0], false),
        "one 附件4 on one A4 page: {pages:?}"
    );
    c.delete_all_cookies().await.unwrap();

    // 2. The police: the alert is waiting; it opens the person, whom they may now see.
    c.set_window_size(1024, 900).await.unwrap();
    login(&c, &app, "gongan").await;
    wait_left(&c, "/login").await;
    // At once on their home page and counted on the menu (htmx loads the count), until read.
    let home = wait_text(&c, "未读高风险提醒 1 条").await;
    assert!(home.contains(&name), "{home}");
    let count = wait_for(&c, Locator::Css("nav a[href=\"/notifications\"] .count"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(count, "1");
    shot(&c, "13d-police-home-alert").await;
    c.goto(&app.url("/notifications")).await.unwrap();
    let notes = wait_text(&c, "高风险提醒").await;
    assert!(
        notes.contains(&name)
            && notes.contains("1 条未读")
            && notes.contains("随访评估危险性 3 级"),
        "{notes}"
    );
    shot(&c, "14-police-notification").await;
    click(&c, "table.notifications a").await;
    wait_path(&c, &format!("/persons/{id}")).await;
    let person = wait_text(&c, &name).await;
    assert!(
        person.contains("危险性评估") && !person.contains("利培酮") && !person.contains("随访记录"),
        "{person}"
    );
    shot(&c, "15-police-person").await;
    assert_console_clean(&c, "the end").await;
    c.close().await.unwrap();
}

/// A hospital sends a discharge referral for a patient not yet in the community registry, with the
/// 一历六单 filled in one by one (first sent with the summary missing: refused, what was entered
/// kept; then the summary uploaded as a scan); the receiving township reads the documents and whom
/// to call, accepts it, and the patient is in its registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discharge_referral_is_accepted_into_the_township_registry_in_chromium() {
    let Some((c, _driver)) = browser().await else {
        return;
    };
    let (db, dir) = sqlite_db().await;
    let app = spawn_app(db, dir).await;
    app.add_user("yiyuan", Role::Hospital, COUNTY, false).await;
    app.add_user("jiezhen", Role::Township, &app.town_b, false)
        .await;
    let id_number = id_with_check(&format!("{COUNTY}19790315532"));
    let town_name = app.tree.get(&app.town_b).unwrap().name.clone();

    // 1. The hospital: 转介 → 发起转介; the discharge is the default kind for a hospital.
    login(&c, &app, "yiyuan").await;
    wait_left(&c, "/login").await;
    click(&c, "nav a[href=\"/referrals\"]").await;
    wait_path(&c, "/referrals").await;
    click(&c, "a[href=\"/referrals/new\"]").await;
    wait_text(&c, "出院患者（尚未在社区登记）").await;
    for (name, value) in [
        ("name", "赵康复"),
        ("sex", "女"),
        ("id_number", id_number.as_str()),
        ("grade", "精神二级"),
        ("address", "团结路8号"),
        ("guardian", "赵父"),
        ("guardian_phone", "13600002222"),
        ("reason", "病情稳定，出院回社区"),
    ] {
        fill(&c, name, value).await;
    }
    c.find(Locator::Css("select[name=\"to_region\"]"))
        .await
        .unwrap()
        .select_by_value(&app.town_b)
        .await
        .unwrap();
    fill(&c, "contact_phone", "023-48281234").await;
    let boxes = c
        .find_all(Locator::Css("textarea[name^=\"text_\"]"))
        .await
        .unwrap();
    assert_eq!(boxes.len(), 7, "一历六单");
    for b in &boxes[1..] {
        b.send_keys("已按出院记录填写：规律服药，门诊复查每月一次")
            .await
            .unwrap();
    }
    shot(&c, "21-referral-form").await;
    click(&c, "form.followup button[type=submit]").await;
    let text = wait_text(&c, "没有发出").await;
    assert!(
        text.contains("转介材料不全") && text.contains("病历摘要"),
        "{text}"
    );
    // What was entered is kept; scan the missing summary and send.
    let kept = c
        .find(Locator::Css("input[name=\"name\"]"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("赵康复"));
    let typed = c
        .find(Locator::Css("textarea[name=\"text_1\"]"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        typed.as_deref(),
        Some("已按出院记录填写：规律服药，门诊复查每月一次")
    );
    let scan = tempfile::Builder::new().suffix(".pdf").tempfile().unwrap();
    let scan_name = scan
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    std::fs::write(
        scan.path(),
        b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
    )
    .unwrap();
    c.find(Locator::Css("input[type=file][name=\"file_0\"]"))
        .await
        .unwrap()
        .send_keys(scan.path().to_str().unwrap())
        .await
        .unwrap();
    click(&c, "form.followup button[type=submit]").await;
    let sent = wait_text(&c, "转介已发出").await;
    assert!(
        sent.contains("赵康复") && sent.contains("尚未建档") && !sent.contains(&id_number),
        "{sent}"
    );
    shot(&c, "22-referral-sent").await;
    c.delete_all_cookies().await.unwrap();

    // 2. The township: waiting list → the referral → 接收.
    login(&c, &app, "jiezhen").await;
    wait_left(&c, "/login").await;
    c.goto(&app.url("/referrals?view=waiting")).await.unwrap();
    let list = wait_text(&c, "赵康复").await;
    assert!(
        list.contains("未登记") && list.contains(&town_name),
        "{list}"
    );
    shot(&c, "23-township-waiting").await;
    click(&c, "table.data a[href^=\"/referrals/\"]").await;
    let detail = wait_text(&c, "办理经过").await;
    // The documents themselves, the sending unit and whom to call.
    assert!(
        detail.contains("已按出院记录填写：规律服药")
            && detail.contains("023-48281234")
            && detail.contains(&scan_name),
        "{detail}"
    );
    let link = wait_for(
        &c,
        Locator::Css("section.document a[href*=\"/documents/\"]"),
    )
    .await;
    let href = link.attr("href").await.unwrap().unwrap();
    let opened = c
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             fetch(arguments[0]).then(r => done([r.status, r.headers.get('content-type'), r.headers.get('content-disposition')]))",
            vec![serde_json::json!(href)],
        )
        .await
        .unwrap();
    assert_eq!(opened[0], 200, "{opened}");
    assert_eq!(opened[1], "application/pdf", "{opened}");
    assert!(
        opened[2].as_str().unwrap().starts_with("inline"),
        "{opened}"
    );
    c.execute(
        "document.querySelector('section.document').scrollIntoView()",
        vec![],
    )
    .await
    .unwrap();
    shot(&c, "23b-township-reads-the-documents").await;
    click(&c, "form.inline[action$=\"/events\"] button[type=submit]").await;
    let done = wait_text(&c, "已接收。").await;
    assert!(!done.contains("尚未建档"), "{done}");
    shot(&c, "24-township-accepted").await;
    // 3. The patient is in the township's registry.
    c.goto(&app.url("/persons")).await.unwrap();
    let persons = wait_text(&c, "赵康复").await;
    assert!(persons.contains("赵康复"), "{persons}");
    let in_db = app
        .all_persons()
        .await
        .into_iter()
        .find(|p| p.record.data.id_number == id_number)
        .expect("registered");
    assert_eq!(in_db.record.data.residence_region, app.town_b);
    assert_console_clean(&c, "the end").await;
    c.close().await.unwrap();
}

/// A site worker records a group session for 8 participants (ticked once for the session) and an
/// SDSS assessment for one of them; the person page shows both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_session_and_an_sdss_reach_the_person_page_in_chromium() {
    let Some((c, _driver)) = browser().await else {
        return;
    };
    let (db, dir) = sqlite_db().await;
    let app = spawn_app(db, dir).await;
    // A worker of the county's centre: the fixture's townships hold a few persons each.
    app.add_user("shegong", Role::Worker, COUNTY, false).await;
    let scope = jingkang_core::regions::Scope::of(app.tree.get(COUNTY).unwrap());
    let mut tx = app.db.begin().await.unwrap();
    let group = persons::list(
        &mut tx,
        &scope,
        &persons::ListFilter {
            limit: Some(8),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        group.len(),
        8,
        "the fixture's county has 8 persons to serve"
    );
    for p in &group {
        jingkang_core::on_pool!(&app.db, db => sqlx::query("UPDATE persons SET registration_state = 'in_service' WHERE id = $1").bind(p.id).execute(db).await.map(drop)).unwrap();
    }
    let first = &group[0];

    login(&c, &app, "shegong").await;
    wait_left(&c, "/login").await;
    c.set_window_size(820, 1180).await.unwrap();
    // 1. 康复服务 → 填写服务记录: item, today, the 8 participants.
    click(&c, "nav a[href=\"/services\"]").await;
    wait_path(&c, "/services").await;
    click(&c, "a[href=\"/services/new\"]").await;
    wait_text(&c, "参加者").await;
    c.find(Locator::Css("select[name=\"item\"]"))
        .await
        .unwrap()
        .select_by_value("group_activity")
        .await
        .unwrap();
    let today = jingkang_web::entry::today().to_string();
    click(&c, &format!("input[name=\"dates\"][value=\"{today}\"]")).await;
    for p in &group {
        click(
            &c,
            &format!("input[name=\"participants\"][value=\"{}\"]", p.id),
        )
        .await;
    }
    fill(&c, "notes", "手工小组第一次活动").await;
    shot(&c, "31-group-session-form").await;
    click(&c, "form.followup button[type=submit]").await;
    let done = wait_text(&c, "已保存 1 次服务，每次 8 名参加者").await;
    assert!(
        done.contains("小组活动") && done.contains("手工小组第一次活动"),
        "{done}"
    );
    shot(&c, "32-sessions").await;

    // 2. The first participant's page → 新增评估 → SDSS, one tap per item.
    c.goto(&app.url(&format!("/persons/{}", first.id)))
        .await
        .unwrap();
    wait_text(&c, "康复评估").await;
    click(
        &c,
        &format!("a[href=\"/persons/{}/assessments/new\"]", first.id),
    )
    .await;
    wait_text(&c, "社会功能缺陷筛选量表").await;
    for (key, value) in [
        ("work", "1"),
        ("marriage", "9"),
        ("parenting", "9"),
        ("withdrawal", "1"),
        ("outside_activity", "0"),
        ("home_activity", "0"),
        ("family_role", "0"),
        ("self_care", "0"),
        ("interest", "1"),
        ("responsibility", "0"),
    ] {
        click(&c, &format!("input[name=\"{key}\"][value=\"{value}\"]")).await;
    }
    shot(&c, "33-sdss-form").await;
    click(&c, "form.followup button[type=submit]").await;
    let page = wait_text(&c, "评估已保存").await;
    assert!(
        page.contains("SDSS") && page.contains("有社会功能缺陷"),
        "{page}"
    );
    assert!(
        page.contains("小组活动") && page.contains(&today),
        "the session is on the person page too: {page}"
    );
    shot(&c, "34-person-services-and-assessment").await;

    // 3. 制定康复计划 from the person page: goals, times per month, the guardian's signature.
    click(&c, &format!("a[href=\"/persons/{}/plans/new\"]", first.id)).await;
    wait_text(&c, "这是此人的第一份康复计划").await;
    // Saved too early — no goals, no service, a signer without a date: every problem is listed
    // at the top and beside its field, and the signer chosen stays chosen.
    click(&c, "input[name=\"signed_by\"][value=\"guardian\"]").await;
    click(&c, "form.followup button[type=submit]").await;
    let refused = wait_text(&c, "没有保存，请修改以下 3 处").await;
    assert!(
        refused.contains("请填写康复目标") && refused.contains("请至少选择一项服务"),
        "{refused}"
    );
    let beside = c
        .find_all(Locator::Css("form.followup .field-error"))
        .await
        .unwrap();
    assert_eq!(beside.len(), 3, "each problem beside its field");
    assert!(
        c.find(Locator::Css(
            "input[name=\"signed_by\"][value=\"guardian\"]"
        ))
        .await
        .unwrap()
        .prop("checked")
        .await
        .unwrap()
        .as_deref()
            == Some("true"),
        "the signer is kept"
    );
    shot(&c, "35a-plan-form-refused").await;
    let goals = c
        .find(Locator::Css("textarea[name=\"goals\"]"))
        .await
        .unwrap();
    goals.send_keys("规律服药，每周参加小组活动").await.unwrap();
    fill(&c, "per_month_group_activity", "4").await;
    fill(&c, "per_month_medication", "2").await;
    c.execute(
        &format!("document.querySelector('input[name=\"signed_on\"]').value = '{today}';"),
        vec![],
    )
    .await
    .unwrap();
    shot(&c, "35-plan-form").await;
    click(&c, "form.followup button[type=submit]").await;
    let page = wait_text(&c, "康复计划第 1 版已保存").await;
    assert!(
        page.contains("小组活动 每月 4 次")
            && page.contains("服药训练 每月 2 次")
            && page.contains(&format!("监护人于 {today} 签字")),
        "{page}"
    );
    shot(&c, "36-person-plan").await;
    assert_console_clean(&c, "the end").await;
    c.close().await.unwrap();
}

/// 附件2 through its workflow in the browser — the township enters its columns and 填报s, 民政
/// 审核s and 签发s, the row is frozen, the official .xlsx downloads — and the 工作指标 dashboard:
/// its charts drawn by the vendored ECharts, a figure opened to the persons behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarterly_report_is_signed_and_the_dashboard_drills_down_in_chromium() {
    let Some((c, _driver)) = browser().await else {
        return;
    };
    let (db, dir) = sqlite_db().await;
    let app = spawn_app(db, dir).await;
    app.add_user("tianbao", Role::Township, &app.town_a, false)
        .await;
    app.add_user("shenhe", Role::Civil, COUNTY, false).await;
    // The persons of town_a have a severe disorder and were in the registry all year.
    let like = format!("{}%", app.town_a);
    jingkang_core::on_pool!(&app.db, db => sqlx::query("UPDATE persons SET diagnosis_code = 'F20.0', known_since = '2025-01-01' WHERE residence_region LIKE $1")
        .bind(&like).execute(db).await.map(drop)).unwrap();
    common::reseal(&app.db).await;
    let in_town: i64 = jingkang_core::on_pool!(&app.db, db => sqlx::query_scalar("SELECT COUNT(*) FROM persons WHERE residence_region LIKE $1").bind(&like).fetch_one(db).await).unwrap();
    let town = app.tree.get(&app.town_a).unwrap().name.clone();

    // 1. The township fills the hand-entered columns and 填报s.
    login(&c, &app, "tianbao").await;
    wait_left(&c, "/login").await;
    c.goto(&app.url("/reports/fujian2?quarter=2026Q3"))
        .await
        .unwrap();
    wait_text(&c, "本镇街填报").await;
    fill(&c, "m2", "3").await;
    fill(&c, "m16", "1").await;
    fill(&c, "m17", "2").await;
    fill(&c, "name", "王填报").await;
    shot(&c, "40-report-fill").await;
    click(&c, "form.followup button[name=\"submit\"][value=\"1\"]").await;
    wait_text(&c, "已填报，等待区民政局审核").await;
    c.delete_all_cookies().await.unwrap();

    // 2. 民政 (after the TOTP enrolment its role requires) 审核s and 签发s.
    login(&c, &app, "shenhe").await;
    wait_path(&c, "/account/totp").await;
    let secret = wait_for(&c, Locator::Id("totp-secret"))
        .await
        .text()
        .await
        .unwrap();
    let code = accounts::totp_code(
        &secret,
        u64::try_from(chrono::Utc::now().timestamp()).unwrap(),
    )
    .unwrap();
    fill(&c, "code", &code).await;
    submit(&c, "form[action=\"/account/totp\"]").await;
    wait_for(&c, Locator::LinkText("继续"))
        .await
        .click()
        .await
        .unwrap();
    wait_left(&c, "/account/totp").await;
    c.goto(&app.url("/reports/fujian2?quarter=2026Q3"))
        .await
        .unwrap();
    wait_text(&c, "已填报，待审核").await;
    shot(&c, "41-report-to-review").await;
    let name = c
        .find(Locator::Css(
            "form[action$=\"/review\"] input[name=\"name\"]",
        ))
        .await
        .unwrap();
    name.clear().await.unwrap();
    name.send_keys("李审核").await.unwrap();
    click(&c, "form[action$=\"/review\"] button[value=\"approve\"]").await;
    wait_text(&c, "已审核，待签发").await;
    let name = c
        .find(Locator::Css("form[action$=\"/sign\"] input[name=\"name\"]"))
        .await
        .unwrap();
    name.clear().await.unwrap();
    name.send_keys("张负责").await.unwrap();
    click(&c, "form[action$=\"/sign\"] button[type=\"submit\"]").await;
    let page = wait_text(&c, "的报表，该行已冻结；本季度还有").await;
    assert!(
        page.contains("签发 张负责") && page.contains("审核 李审核"),
        "{page}"
    );
    shot(&c, "42-report-signed").await;
    // The print version goes on A4 landscape, as the official sheet, with no menu on paper.
    let print = c
        .find(Locator::Css("a[href^=\"/reports/fujian2/print\"]"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let back = c.current_url().await.unwrap();
    c.goto(&app.url(&print)).await.unwrap();
    wait_text(&c, "合计").await;
    let pages = printed_pages(&c).await;
    assert!(
        !pages.is_empty() && pages.iter().all(|p| is_a4(*p, true)),
        "附件2 on A4 landscape: {pages:?}"
    );
    c.goto(back.as_str()).await.unwrap();
    wait_text(&c, "的报表，该行已冻结").await;

    // 3. The download, as the page's form posts it (with a reason), read back.
    let got = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
         const f = document.querySelector('form[action=\"/reports/fujian2/export\"]');
         const body = new URLSearchParams(new FormData(f)); body.set('reason', '报送区政府');
         fetch(f.action, { method: 'POST', body }).then(r => r.arrayBuffer().then(b => {
           done([r.status, r.headers.get('content-type'), Array.from(new Uint8Array(b))]);
         }));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(got[0].as_i64(), Some(200), "{got:?}");
    assert!(
        got[1].as_str().unwrap().contains("spreadsheetml"),
        "{got:?}"
    );
    let bytes: Vec<u8> = got[2]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| u8::try_from(b.as_u64().unwrap()).unwrap())
        .collect();
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let sheet = calamine::Reader::worksheet_range(&mut wb, "2026Q3").unwrap();
    let row = (0..sheet.height() as u32)
        .find(|r| sheet.get_value((*r, 0)) == Some(&calamine::Data::String(town.clone())))
        .unwrap();
    assert_eq!(
        sheet
            .get_value((row, 2))
            .and_then(calamine::DataType::as_f64),
        Some(3.0),
        "the hand-entered figure as signed"
    );
    assert_eq!(
        sheet
            .get_value((row, 3))
            .and_then(calamine::DataType::as_f64),
        Some(in_town as f64),
        "column 3: the severe persons on the day"
    );

    // 4. 工作指标: the charts are drawn; 管理率's gap for the township opens its persons.
    c.goto(&app.url("/indicators?quarter=2026Q3"))
        .await
        .unwrap();
    wait_for(
        &c,
        Locator::Css("[data-chart=\"bar-management_rate\"][data-drawn=\"1\"] canvas"),
    )
    .await;
    wait_text(&c, "管理率：近四个季度合计").await;
    wait_for(
        &c,
        Locator::Css("[data-chart=\"line-management_rate\"][data-drawn=\"1\"] canvas"),
    )
    .await;
    shot(&c, "43-indicators").await;
    let gap = format!(
        "a[href=\"/indicators/list?code=management_rate&region={}&quarter=2026Q3&part=gap\"]",
        app.town_a
    );
    assert_eq!(
        c.find(Locator::Css(&gap))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        in_town.to_string()
    );
    click(&c, &gap).await;
    let page = wait_text(&c, "管理率 · 未达").await;
    assert!(page.contains(&format!("{in_town} 人")), "{page}");
    let rows = c
        .find_all(Locator::Css("table.worklist tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len() as i64, in_town.min(50));
    shot(&c, "44-indicator-persons").await;
    assert_console_clean(&c, "the end").await;
    c.close().await.unwrap();
}
