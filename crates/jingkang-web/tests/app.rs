//! The web application over real HTTP: `spawn_app()` serves on port 0 against a fresh database —
//! a temp SQLite file, and a fresh PostgreSQL schema when `JINGKANG_TEST_DATABASE_URL` is set
//! (mandatory under `CI=true`).

#![allow(clippy::unwrap_used)]

#[path = "app_parts/api_contract.rs"]
mod api_contract;
mod common;
#[path = "app_parts/forms.rs"]
mod forms;
#[path = "app_parts/login.rs"]
mod login;
#[path = "app_parts/row_rules.rs"]
mod row_rules;

use api_contract::api_errors_are_json_everywhere;
use common::*;
use forms::forms_keep_input_and_list_every_problem;
use jingkang_core::accounts::{self, Role};
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::store::accounts as store_accounts;
use jingkang_core::store::persons;
use jingkang_core::store::{Actor, audit};
use login::sign_in_is_hardened;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use row_rules::row_rules_on_every_route;

macro_rules! app_tests {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (db, dir) = super::sqlite_db().await;
                super::$name(super::spawn_app(db, dir).await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = super::postgres_db().await {
                    super::$name(super::spawn_app(db, None).await).await;
                }
            }
        }
    )* };
}

app_tests!(
    login_lockout_and_first_password_change,
    second_factor_enrolment_and_login,
    township_scope_and_masking,
    reveal_needs_a_reason_and_is_audited,
    csrf_and_security_headers,
    police_see_no_one_without_risk,
    authorization_matrix,
    row_rules_on_every_route,
    api_errors_are_json_everywhere,
    sign_in_is_hardened,
    api_with_bearer_token,
    audit_page_finds_reads_and_admin_manages_users,
    person_form_uses_the_importer_rules,
    roster_import_and_export_in_the_browser,
    exchange_in_the_browser,
    api_imports_and_users,
    admin_manages_organisations,
    registration_changes_on_the_person_page,
    followups_risk_worklists_end_to_end,
    agreements_with_scans,
    referrals_through_the_api,
    referral_pages_register_a_discharged_patient,
    assessments_on_the_person_page_and_in_the_api,
    a_week_of_group_sessions_in_one_entry,
    standard_service_rate_with_its_rule,
    plans_keep_versions_and_come_up_for_review,
    institutions_staff_and_site_scope,
    contracts_page_and_api,
    family_support_pages_and_api,
    quarterly_report_filled_reviewed_signed,
    indicators_with_targets_and_the_lists_behind_them,
    registration_forms_printed_with_a_reason,
    forms_keep_input_and_list_every_problem,
);

async fn login_lockout_and_first_password_change(app: App) {
    app.add_user("jiezhen", Role::Township, &app.town_a, true)
        .await;
    let c = client();
    // Not signed in: to the login page.
    let r = c.get(app.url("/persons")).send().await.unwrap();
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/login".into())
    );
    // Wrong password: the same answer as an unknown user.
    let r = app.login(&c, "jiezhen", "wrong").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("用户名或密码不正确"));
    let r = app.login(&c, "nobody", "wrong").await;
    assert!(r.text().await.unwrap().contains("用户名或密码不正确"));
    // First login: must change the password before anything else.
    let r = app.login(&c, "jiezhen", PASSWORD).await;
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/".into())
    );
    let r = c.get(app.url("/persons")).send().await.unwrap();
    assert_eq!(location(&r), "/account/password");
    let csrf = app.csrf_of(&c, "/account/password").await;
    let weak = c
        .post(app.url("/account/password"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("current", PASSWORD),
            ("new", "short"),
            ("confirm", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), StatusCode::BAD_REQUEST);
    assert!(weak.text().await.unwrap().contains("至少需要 10 个字符"));
    let new_pw = "Another-Secret-77";
    let r = c
        .post(app.url("/account/password"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("current", PASSWORD),
            ("new", new_pw),
            ("confirm", new_pw),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/".into())
    );
    let r = c.get(app.url("/persons")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Five wrong passwords lock the account, even against the right one.
    let other = client();
    for _ in 0..5 {
        let _ = app.login(&other, "jiezhen", "nope-nope").await;
    }
    let r = app.login(&other, "jiezhen", new_pw).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().await.unwrap().contains("已锁定"));
    let actions = app.audit_actions().await;
    assert!(actions.iter().any(|a| a == "login.locked"), "{actions:?}");
    assert!(actions.iter().any(|a| a == "user.password_change"));
}

async fn second_factor_enrolment_and_login(app: App) {
    app.add_user("minzheng", Role::Civil, COUNTY, false).await;
    let c = client();
    let r = app.login(&c, "minzheng", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Civil affairs must enrol a second factor before anything else.
    let r = c.get(app.url("/persons")).send().await.unwrap();
    assert_eq!(location(&r), "/account/totp");
    let page = c
        .get(app.url("/account/totp"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<svg"), "QR code as SVG");
    let secret = page
        .split("id=\"totp-secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let csrf = hidden(&page, "csrf");
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    let bad = c
        .post(app.url("/account/totp"))
        .form(&[("csrf", csrf.as_str()), ("code", "000000")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let code = accounts::totp_code(&secret, now).unwrap();
    let r = c
        .post(app.url("/account/totp"))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(body.contains("recovery-codes"), "{body}");
    let recovery: Vec<String> = body
        .split("<li>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10);
    assert_eq!(
        c.get(app.url("/persons")).send().await.unwrap().status(),
        StatusCode::OK
    );

    // A new login asks for the code; the code already used does not work twice.
    let c2 = client();
    app.login(&c2, "minzheng", PASSWORD).await;
    let r = c2.get(app.url("/persons")).send().await.unwrap();
    assert_eq!(location(&r), "/login/totp");
    let csrf = app.csrf_of(&c2, "/login/totp").await;
    let r = c2
        .post(app.url("/login/totp"))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a TOTP code is accepted once"
    );
    // A recovery code works once.
    let r = c2
        .post(app.url("/login/totp"))
        .form(&[("csrf", csrf.as_str()), ("code", recovery[0].as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/".into())
    );
    assert_eq!(
        c2.get(app.url("/persons")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let c3 = client();
    app.login(&c3, "minzheng", PASSWORD).await;
    let csrf = app.csrf_of(&c3, "/login/totp").await;
    let r = c3
        .post(app.url("/login/totp"))
        .form(&[("csrf", csrf.as_str()), ("code", recovery[0].as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "a recovery code is spent"
    );
}

async fn township_scope_and_masking(app: App) {
    app.add_user("jiezhen", Role::Township, &app.town_a, false)
        .await;
    let c = client();
    app.login(&c, "jiezhen", PASSWORD).await;
    let list = c
        .get(app.url("/persons"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mine = app.person_in(&app.town_a).await;
    let theirs = app.person_in(&app.town_b).await;
    assert!(list.contains(&format!("/persons/{mine}\"")));
    assert!(
        !list.contains(&format!("/persons/{theirs}\"")),
        "another township's person is not listed"
    );
    // IDs are masked in the list: no person's ID number appears in clear.
    for p in app.all_persons().await {
        assert!(
            !list.contains(&p.record.data.id_number),
            "clear ID number in the list"
        );
    }
    // Out of scope answers exactly like absent.
    let r = c
        .get(app.url(&format!("/persons/{theirs}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let absent = c.get(app.url("/persons/999999")).send().await.unwrap();
    assert_eq!(absent.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.text().await.unwrap(), absent.text().await.unwrap());
    let r = c
        .get(app.url(&format!("/persons/{mine}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("**********"), "masked ID on the person page");
    let actions = app.audit_actions().await;
    assert!(actions.iter().any(|a| a == "person.read"), "{actions:?}");
    // Searching by ID prefix and by name stays within scope.
    let mut tx = app.db.begin().await.unwrap();
    let scope = Scope::of(app.tree.get(&app.town_a).unwrap());
    let p = persons::get(&mut tx, &scope, &Actor::system(), mine)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    let by_id = c
        .get(app.url(&format!("/persons?q={}", &p.record.data.id_number[..14])))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(by_id.contains(&format!("/persons/{mine}\"")));
    let by_name = c
        .get(app.url("/persons"))
        .query(&[("q", p.record.data.name.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(by_name.contains(&format!("/persons/{mine}\"")));
    let initials = persons::name_initials(&p.record.data.name);
    let by_pinyin = c
        .get(app.url(&format!("/persons?q={}", initials.to_uppercase())))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        by_pinyin.contains(&format!("/persons/{mine}\"")),
        "pinyin initials {initials}"
    );
    let theirs_name = {
        let mut tx = app.db.begin().await.unwrap();
        let all = Scope::of(app.tree.get(COUNTY).unwrap());
        let p = persons::get(&mut tx, &all, &Actor::system(), theirs)
            .await
            .unwrap()
            .unwrap();
        tx.commit().await.unwrap();
        p.record.data.name
    };
    let other = c
        .get(app.url("/persons"))
        .query(&[("q", theirs_name.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !other.contains(&format!("/persons/{theirs}\"")),
        "search never crosses the scope"
    );
    // The state filter: everyone starts 待评估; a person moved to 服务中 is found by that state only.
    assert!(
        list.contains("登记状态") && list.contains("<td>待评估</td>"),
        "state column"
    );
    on_pool!(&app.db, p => sqlx::query("UPDATE persons SET registration_state = 'in_service' WHERE id = $1").bind(mine).execute(p).await.map(drop)).unwrap();
    let serving = c
        .get(app.url("/persons?state=in_service"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        serving.contains(&format!("/persons/{mine}\""))
            && serving.contains("<option value=\"in_service\" selected>服务中")
    );
    let pending = c
        .get(app.url("/persons?state=pending"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!pending.contains(&format!("/persons/{mine}\"")));
    let page = c
        .get(app.url(&format!("/persons/{mine}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("服务中</span>"), "state on the person page");
    let r = c
        .get(app.url("/persons?state=nonsense"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains(jingkang_core::messages::template("form-invalid"))
    );
}

async fn reveal_needs_a_reason_and_is_audited(app: App) {
    app.add_user("yisheng", Role::Doctor, COUNTY, false).await;
    let c = client();
    app.login(&c, "yisheng", PASSWORD).await;
    let id = app.person_in(&app.town_a).await;
    let page = c
        .get(app.url(&format!("/persons/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let r = c
        .post(app.url(&format!("/persons/{id}/reveal")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("field", "id_number"),
            ("reason", "  "),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("请填写查看原因"));
    let r = c
        .post(app.url(&format!("/persons/{id}/reveal")))
        .header("HX-Request", "true")
        .form(&[
            ("csrf", csrf.as_str()),
            ("field", "id_number"),
            ("reason", "入户随访核对"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let fragment = r.text().await.unwrap();
    let clear = app
        .all_persons()
        .await
        .into_iter()
        .find(|p| p.id == id)
        .unwrap()
        .record
        .data
        .id_number;
    assert!(fragment.contains(&clear), "the clear ID: {fragment}");
    let mut tx = app.db.begin().await.unwrap();
    let entries = audit::entries(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    let reveal = entries
        .iter()
        .find(|e| e.action == "person.reveal")
        .unwrap();
    assert!(reveal.detail.contains("入户随访核对"));
    assert!(!reveal.detail.contains(&clear), "no ID in the audit entry");
}

async fn csrf_and_security_headers(app: App) {
    app.add_user("jiezhen", Role::Township, &app.town_a, false)
        .await;
    let c = client();
    // A login POST without the login page's token is refused.
    let r = c
        .post(app.url("/login"))
        .form(&[
            ("csrf", "x"),
            ("username", "jiezhen"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    app.login(&c, "jiezhen", PASSWORD).await;
    let r = c
        .post(app.url("/logout"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c.get(app.url("/persons")).send().await.unwrap();
    let h = r.headers();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert!(
        !h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("unsafe-inline")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    let css = c
        .get(app.url("/static/vendor/htmx-2.0.8.min.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    // Every form and upload is checked by its extractor, before the handler runs: a forged or
    // missing token, or an upload whose first part is not the token, is refused and writes nothing.
    let persons_before = app.all_persons().await.len();
    for form in [
        vec![("csrf", "forged"), ("name", "伪造请求"), ("sex", "男")],
        vec![("name", "伪造请求"), ("sex", "男")],
    ] {
        let r = c
            .post(app.url("/persons/new"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{form:?}");
    }
    let csrf = app.csrf_of(&c, "/persons").await;
    let upload = |first: Option<(&'static str, String)>| {
        let mut form = reqwest::multipart::Form::new();
        if let Some((k, v)) = first {
            form = form.text(k, v);
        }
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(b"name\n".to_vec()).file_name("r.csv"),
        );
        c.post(app.url("/import")).multipart(form).send()
    };
    for first in [
        None,
        Some(("csrf", "forged".to_string())),
        Some(("note", csrf.clone())),
    ] {
        let r = upload(first.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{first:?}");
    }
    assert_eq!(app.all_persons().await.len(), persons_before);
    // Logout with the right token ends the session.
    let r = c
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/login");
    let r = c.get(app.url("/persons")).send().await.unwrap();
    assert_eq!(location(&r), "/login");
}

async fn police_see_no_one_without_risk(app: App) {
    app.add_user("gongan", Role::Police, COUNTY, false).await;
    let c = client();
    app.login(&c, "gongan", PASSWORD).await;
    let list = c
        .get(app.url("/persons"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("没有符合条件的服务对象"));
    let id = app.person_in(&app.town_a).await;
    assert_eq!(
        c.get(app.url(&format!("/persons/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    // An admin manages accounts and does not read records.
    app.add_user("guanli", Role::Auditor, COUNTY, false).await;
}

/// A signed-in client for a new user of `role` at `region`, with the second factor given.
async fn session_for(
    app: &App,
    username: &str,
    role: Role,
    region: &str,
) -> (reqwest::Client, String, i64) {
    app.add_user(username, role, region, false).await;
    let mut tx = app.db.begin().await.unwrap();
    let user = store_accounts::find_user(&mut tx, username)
        .await
        .unwrap()
        .unwrap();
    if role.requires_totp() {
        store_accounts::set_totp_secret(&mut tx, &user, Some(&accounts::new_totp_secret()))
            .await
            .unwrap();
    }
    let user = store_accounts::find_user(&mut tx, username)
        .await
        .unwrap()
        .unwrap();
    let (token, session) = store_accounts::create_session(&mut tx, &user, true)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(&format!("jk_session={token}"), &app.base.parse().unwrap());
    let c = reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(Policy::none())
        .build()
        .unwrap();
    (c, session.csrf, user.id)
}

/// Every route × every role × (in scope, out of scope, no session) against the access rule the
/// route table declares. The table is what the router is built from, so a new route is covered.
async fn authorization_matrix(app: App) {
    use jingkang_web::Access;
    let in_person = app.person_in(&app.town_b).await;
    let out_person = app.person_in(&app.town_a).await;
    // Risk grade 3 on both, so that the police may see the one in their scope.
    jingkang_core::on_pool!(&app.db, p => sqlx::query("UPDATE persons SET risk_grade = 3").execute(p).await.map(drop)).unwrap();
    // Users live in town_b; a user of town_a is out of an admin's scope.
    let (_, _, out_user) = session_for(&app, "someone-else", Role::Township, &app.town_a).await;
    // One notification per role in scope (town_b) and one out of it (town_a), for the routes on
    // a notification.
    let mut notes = std::collections::HashMap::new();
    for role in Role::ALL {
        let mut ids = Vec::new();
        for town in [&app.town_b, &app.town_a] {
            let id: i64 = on_pool!(&app.db, p => sqlx::query_scalar(
                "INSERT INTO notifications (created_at, region_code, audience, kind, title, body) VALUES ($1, $2, $3, 'followup', '测试', '测试') RETURNING id")
                .bind(chrono::Utc::now()).bind(town.as_str()).bind(role.code()).fetch_one(p).await).unwrap();
            ids.push(id);
        }
        notes.insert(role, (ids[0], ids[1]));
    }
    // An agreement with a scan on each person, for the scan route.
    let mut aids = Vec::new();
    for person in [in_person, out_person] {
        let county = Scope::of(app.tree.get(COUNTY).unwrap());
        let a = jingkang_core::care::agreement::Agreement {
            kind: jingkang_core::care::agreement::AgreementKind::Consent,
            signed_on: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            person_signed: true,
            guardian_name: None,
            valid_until: chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
        };
        let scan = jingkang_core::store::agreements::Scan {
            media_type: "image/png",
            file_name: "a.png",
            bytes: b"\x89PNG\r\n\x1a\n",
        };
        let mut tx = app.db.begin().await.unwrap();
        aids.push(
            jingkang_core::store::agreements::record(
                &mut tx,
                &county,
                &Actor::cli(),
                person,
                &a,
                Some(scan),
            )
            .await
            .unwrap()
            .unwrap(),
        );
        tx.commit().await.unwrap();
    }
    // A referral per role in scope (sent to town_b if the role receives some kind, else sent from
    // it) and one out of it (town_a to town_a), for the routes on a referral.
    let book = jingkang_core::care::referral::Book::shipped().unwrap();
    let mut rids = std::collections::HashMap::new();
    let mut rdocs = std::collections::HashMap::new();
    for role in Role::ALL {
        let (receives, sends) = (
            book.rules.received_by(role.code()),
            book.rules.sent_by(role.code()),
        );
        let (kind, from, to) = match (receives.first(), sends.first()) {
            (Some(k), _) => (k.clone(), app.town_a.clone(), app.town_b.clone()),
            (None, Some(k)) => (k.clone(), app.town_b.clone(), app.town_a.clone()),
            (None, None) => continue,
        };
        let mut ids = Vec::new();
        for (from, to) in [(from, to), (app.town_a.clone(), app.town_a.clone())] {
            let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
            let id: i64 = on_pool!(&app.db, p => async {
                let cs: i64 = sqlx::query_scalar("INSERT INTO change_sets (actor, source, action, at) VALUES ('cli:test', 'test', 'send', $1) RETURNING id")
                    .bind(chrono::Utc::now()).fetch_one(p).await?;
                sqlx::query_scalar("INSERT INTO referrals (person_id, kind, state, urgent, from_region, to_region, reason, documents, sent_on, deadline, change_id) \
                    VALUES ($1, $2, 'initiated', FALSE, $3, $4, '', '[]', $5, $5, $6) RETURNING id")
                    .bind(in_person).bind(&kind).bind(&from).bind(&to).bind(day).bind(cs).fetch_one(p).await
            }.await).unwrap();
            // A scanned file it carries, for the route that opens one.
            let did: i64 = on_pool!(&app.db, p => sqlx::query_scalar(
                "INSERT INTO referral_documents (referral_id, slot, media_type, file_name, size, sha256, content) \
                 VALUES ($1, '转诊单', 'application/pdf', 'm.pdf', $2, '', $3) RETURNING id")
                .bind(id).bind(PDF.len() as i64).bind(PDF).fetch_one(p).await).unwrap();
            rdocs.insert(id, did);
            ids.push(id);
        }
        rids.insert(role, (ids[0], ids[1]));
    }
    // An institution with one staff member in scope (town_b) and out of it (town_a), for the
    // routes on an institution or a staff member.
    let (mut sites, mut staff) = (Vec::new(), Vec::new());
    for town in [&app.town_b, &app.town_a] {
        let (site, member) = site_with_staff(&app, town, "矩阵站点").await;
        sites.push(site);
        staff.push(member);
    }
    // A mutual-aid group and a peer supporter in scope (town_b) and out of it (town_a), for the
    // family routes (`{gid}`, `{pid}`).
    let (mut gids, mut pids) = (Vec::new(), Vec::new());
    for town in [&app.town_b, &app.town_a] {
        use jingkang_core::care::family::{GroupInput, PeerInput, check_group, check_peer};
        let scope = Scope::of(app.tree.get(town).unwrap());
        let today = jingkang_web::entry::today();
        let group = check_group(
            &app.tree,
            &scope,
            &GroupInput {
                name: "互助小组".into(),
                facilitator: "李社工".into(),
                started_on: "2026-01-01".into(),
                ..Default::default()
            },
            today,
        )
        .unwrap();
        let peer = check_peer(
            &app.tree,
            &scope,
            &PeerInput {
                name: "同伴".into(),
                trained_on: "2026-01-01".into(),
                ..Default::default()
            },
            today,
        )
        .unwrap();
        let mut tx = app.db.begin().await.unwrap();
        gids.push(
            jingkang_core::store::family::record_group(&mut tx, &scope, &Actor::cli(), &group)
                .await
                .unwrap()
                .unwrap(),
        );
        pids.push(
            jingkang_core::store::family::record_peer(&mut tx, &scope, &Actor::cli(), &peer)
                .await
                .unwrap()
                .unwrap(),
        );
        tx.commit().await.unwrap();
    }
    // A filed report in scope (town_b) and out of it (town_a), for the routes on a filing.
    let mut fids = Vec::new();
    for town in [&app.town_b, &app.town_a] {
        let scope = Scope::of(app.tree.get(town).unwrap());
        let def = jingkang_core::report::Definition::shipped("fujian2").unwrap();
        let mut tx = app.db.begin().await.unwrap();
        fids.push(
            jingkang_core::app::filings::save(
                &mut tx,
                &scope,
                &Actor::cli(),
                &def,
                (town, "2026Q3"),
                &Default::default(),
                Some("矩阵"),
                jingkang_web::entry::today(),
            )
            .await
            .unwrap()
            .unwrap(),
        );
        tx.commit().await.unwrap();
    }
    // A 派出所's list compared in scope (town_b) and out of it (town_a), for the exchange routes.
    let (mut xruns, mut xitems) = (Vec::new(), Vec::new());
    for town in [&app.town_b, &app.town_a] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.csv");
        std::fs::write(&path, "姓名,身份证号,性别\n欧阳明月,,女\n").unwrap();
        let today = jingkang_web::entry::today();
        let r = jingkang_core::exchange::run::run_list(
            &app.db,
            &app.tree,
            jingkang_core::exchange::run::RunRequest {
                source: jingkang_core::exchange::source("police").unwrap(),
                region: town,
                path: &path,
                file_name: "list.csv",
                taken_on: today,
                mapping: Default::default(),
                actor: &Actor::cli(),
                today,
                // Made under the police's rule, so that every role comparing lists may open it.
                rules: jingkang_core::accounts::policy::rows(Role::Police, None),
            },
        )
        .await
        .unwrap();
        let item: i64 = on_pool!(&app.db, p => sqlx::query_scalar(
            "SELECT id FROM exchange_items WHERE run_id = $1 ORDER BY id LIMIT 1")
            .bind(r.run).fetch_one(p).await)
        .unwrap();
        xruns.push(r.run);
        xitems.push(item);
    }
    let anon = client();
    for (i, spec) in jingkang_web::route_specs().into_iter().enumerate() {
        for role in Role::ALL {
            // A fresh user per route and role: some routes end the session or disable the account.
            let (c, csrf, me) =
                session_for(&app, &format!("m{i}-{}", role.code()), role, &app.town_b).await;
            // Out of scope first: an in-scope POST may end the session (reset, disable, logout).
            for in_scope in [false, true] {
                if !["{id}", "{gid}", "{pid}"]
                    .iter()
                    .any(|p| spec.path.contains(p))
                    && !in_scope
                {
                    continue;
                }
                let id = match (spec.path.starts_with("/admin/users"), in_scope) {
                    _ if spec.path.starts_with("/notifications/") => {
                        if in_scope {
                            notes[&role].0
                        } else {
                            notes[&role].1
                        }
                    }
                    _ if spec.path.contains("/referrals/") => rids
                        .get(&role)
                        .map_or(in_person, |r| if in_scope { r.0 } else { r.1 }),
                    _ if spec.path.contains("/institutions/") => sites[usize::from(!in_scope)],
                    _ if spec.path.contains("/staff/") => staff[usize::from(!in_scope)],
                    _ if spec.path.contains("/filings/") => fids[usize::from(!in_scope)],
                    _ if spec.path.contains("/exchange/runs/") => xruns[usize::from(!in_scope)],
                    _ if spec.path.contains("/exchange/items/") => xitems[usize::from(!in_scope)],
                    (true, true) => me,
                    (true, false) => out_user,
                    (false, true) => in_person,
                    (false, false) => out_person,
                };
                let path = spec
                    .path
                    .replace("{id}", &id.to_string())
                    .replace("{*path}", "app.css")
                    .replace("{name}", "overdue")
                    .replace("{aid}", &aids[usize::from(!in_scope)].to_string())
                    .replace("{gid}", &gids[usize::from(!in_scope)].to_string())
                    .replace("{pid}", &pids[usize::from(!in_scope)].to_string())
                    .replace("{did}", &rdocs.get(&id).copied().unwrap_or(0).to_string());
                let url = app.url(&path);
                let send = |url: String| {
                    let req = if spec.method == axum::http::Method::GET {
                        c.get(&url)
                    } else {
                        c.post(&url).header("x-csrf-token", csrf.as_str()).form(&[
                            ("csrf", csrf.as_str()),
                            ("field", "id_number"),
                            ("reason", "授权矩阵测试"),
                        ])
                    };
                    async move { req.send().await.unwrap().status() }
                };
                let status = send(url).await;
                let allowed = match spec.access {
                    Access::Public | Access::AnyUser => true,
                    Access::Permission(p) => p.roles().contains(&role),
                };
                let what = format!(
                    "{} {path} as {} (in scope: {in_scope}) → {status}",
                    spec.method,
                    role.code()
                );
                if !allowed {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{what}");
                } else if !in_scope {
                    // Out of scope answers exactly like an id that does not exist.
                    let absent = send(
                        app.url(
                            &spec
                                .path
                                .replace("{id}", "987654321")
                                .replace("{gid}", "987654321")
                                .replace("{pid}", "987654321")
                                .replace("{did}", "987654321"),
                        ),
                    )
                    .await;
                    assert_eq!(status, absent, "{what}");
                    assert!(status.is_client_error(), "{what}");
                } else {
                    assert!(
                        status != StatusCode::FORBIDDEN
                            && status != StatusCode::NOT_FOUND
                            && !status.is_server_error(),
                        "{what}"
                    );
                }
            }
        }
        // No session: public routes answer, the rest send the browser to the login page.
        let path = spec
            .path
            .replace("{id}", &in_person.to_string())
            .replace("{*path}", "app.css")
            .replace("{name}", "overdue")
            .replace("{gid}", &gids[0].to_string())
            .replace("{pid}", &pids[0].to_string())
            .replace("{did}", "1");
        let r = if spec.method == axum::http::Method::GET {
            anon.get(app.url(&path))
        } else {
            anon.post(app.url(&path)).form(&[("csrf", "x")])
        }
        .send()
        .await
        .unwrap();
        match spec.access {
            Access::Public => assert!(
                !r.status().is_server_error() && location(&r) != "/login",
                "{} {path}",
                spec.method
            ),
            _ if path.starts_with("/api/") => {
                assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} without token")
            }
            _ => assert_eq!(
                (r.status(), location(&r)),
                (StatusCode::SEE_OTHER, "/login".to_string()),
                "{} {path} without session",
                spec.method
            ),
        }
    }
}

async fn audit_page_finds_reads_and_admin_manages_users(app: App) {
    let (doctor, _, _) = session_for(&app, "yisheng", Role::Doctor, COUNTY).await;
    let id = app.person_in(&app.town_a).await;
    assert_eq!(
        doctor
            .get(app.url(&format!("/persons/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let (auditor, _, _) = session_for(&app, "shenji", Role::Auditor, COUNTY).await;
    let page = auditor
        .get(app.url(&format!("/audit?user=yisheng&person={id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("person.read") && page.contains(&format!("person:{id}")),
        "{page}"
    );
    assert!(page.contains("完整"), "the chain verifies");
    let none = auditor
        .get(app.url("/audit?user=nobody"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(none.contains("没有符合条件的记录"));
    let bad = auditor
        .get(app.url("/audit?from=2026-13-45"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("日期格式"));

    let (admin, csrf, _) = session_for(&app, "guanli", Role::Admin, COUNTY).await;
    let r = admin
        .post(app.url("/admin/users"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "xinren"),
            ("display_name", "新人"),
            ("role", "worker"),
            ("region", app.town_a.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    let password = page
        .split("首次登录须修改）：")
        .nth(1)
        .unwrap()
        .split(['<', '。'])
        .next()
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(accounts::check_password_policy("xinren", &password), Ok(()));
    // The new user can log in with it and must change it.
    let c = client();
    let r = app.login(&c, "xinren", &password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&c.get(app.url("/persons")).send().await.unwrap()),
        "/account/password"
    );
    // Outside the admin's region: refused with a message, nothing created.
    let r = admin
        .post(app.url("/admin/users"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "yuanfang"),
            ("display_name", "远方"),
            ("role", "worker"),
            ("region", "110101"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let mut tx = app.db.begin().await.unwrap();
    assert!(
        store_accounts::find_user(&mut tx, "yuanfang")
            .await
            .unwrap()
            .is_none()
    );
    tx.commit().await.unwrap();
    // A form with its fields missing gets every problem in Chinese, not axum's English text.
    let r = admin
        .post(app.url("/admin/users"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("请修改以下 4 处") && page.contains("请填写姓名或单位"),
        "{page}"
    );
}

async fn api_with_bearer_token(app: App) {
    app.add_user("jiezhen", Role::Township, &app.town_a, false)
        .await;
    let token = app.token_for("jiezhen").await;
    let c = client();
    // No token: 401 with a JSON error.
    let r = c.get(app.url("/api/v1/persons")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "unauthenticated");
    assert!(body["message"].as_str().unwrap().contains("令牌"));
    let bad = c
        .get(app.url("/api/v1/persons"))
        .bearer_auth("jk_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    // The token sees the user's scope, masked.
    let page: serde_json::Value = c
        .get(app.url("/api/v1/persons?limit=200"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(items.iter().all(|p| {
        p["residence_region"]
            .as_str()
            .unwrap()
            .starts_with(&app.town_a)
    }));
    assert!(items.iter().all(|p| {
        p["id_number_masked"]
            .as_str()
            .unwrap()
            .contains("**********")
    }));
    let mine = items[0]["id"].as_i64().unwrap();
    let rec: serde_json::Value = c
        .get(app.url(&format!("/api/v1/persons/{mine}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let idf = rec["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "id_number")
        .unwrap();
    assert_eq!(idf["masked"], true);
    let theirs = app.person_in(&app.town_b).await;
    let r = c
        .get(app.url(&format!("/api/v1/persons/{theirs}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "not-found"
    );
    let r = c
        .get(app.url("/api/v1/persons/abc"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c
        .get(app.url("/api/v1/nothing"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            r.status(),
            r.json::<serde_json::Value>().await.unwrap()["code"].clone()
        ),
        (StatusCode::NOT_FOUND, "not-found".into())
    );
    // Reads through the API are audited like page reads.
    let mut tx = app.db.begin().await.unwrap();
    let entries = audit::entries(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    assert!(entries.iter().any(|e| e.action == "person.read"
        && e.target_id.as_deref() == Some(&mine.to_string())
        && e.actor == "user:jiezhen"));
    // Regions, and the OpenAPI document generated from the handlers.
    let regions: serde_json::Value = c
        .get(app.url("/api/v1/regions"))
        .query(&[("q", "万盛")])
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        regions
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "万盛街道")
    );
    let doc: serde_json::Value = c
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/api/v1/persons/{id}"]["get"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let docs = c.get(app.url("/api/v1/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

/// A valid ID number of a man born 1980-01-01 in the test county, with sequence `seq` (odd: male).
fn valid_id(seq: u32) -> String {
    let first17 = format!("{COUNTY}19800101{seq:03}");
    format!(
        "{first17}{}",
        jingkang_core::domain::id_number::check_char(&first17)
    )
}

fn msg(code: &str, column: &str) -> String {
    jingkang_core::messages::render(code, &[("column", column)])
}

async fn person_form_uses_the_importer_rules(app: App) {
    app.add_user("jiezhen", Role::Township, &app.town_a, false)
        .await;
    let c = client();
    app.login(&c, "jiezhen", PASSWORD).await;
    let csrf = app.csrf_of(&c, "/persons/new").await;
    let town = app.tree.get(&app.town_a).unwrap().name.clone();
    let before = app.all_persons().await.len();
    let id = valid_id(123);
    let mut wrong_check = id.clone();
    wrong_check.replace_range(17.., if id.ends_with('0') { "1" } else { "0" });

    // Three mistakes, each reported on its field with the importer's message; nothing saved.
    let r = c
        .post(app.url("/persons/new"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("township", "不存在镇"),
            ("name", "王1"),
            ("id_number", wrong_check.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains(&msg("id-checksum", "身份证号")), "{page}");
    assert!(
        page.contains("err-name")
            && page.contains("err-township")
            && page.contains("err-id_number"),
        "{page}"
    );
    assert!(page.contains("不存在镇"), "the values entered are kept");
    assert_eq!(app.all_persons().await.len(), before, "nothing written");

    // Correct values: saved, with guardian, audited.
    let form = [
        ("csrf", csrf.as_str()),
        ("township", town.as_str()),
        ("name", "王小明"),
        ("sex", "男"),
        ("id_number", id.as_str()),
        ("address", "幸福路1号"),
        ("guardian", "王大明"),
        ("guardian_phone", "13800138000"),
    ];
    let r = c
        .post(app.url("/persons/new"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    assert!(to.ends_with("?created=true"), "{to}");
    let new_id: i64 = to
        .trim_start_matches("/persons/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let page = c
        .get(app.url(&to))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("已登记入档") && page.contains("王小明") && !page.contains(&id),
        "masked after saving"
    );
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|a| a == "person.create")
    );

    // The same ID again: refused, pointing at the existing record.
    let r = c
        .post(app.url("/persons/new"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains(&format!("编号 {new_id}")));
    assert_eq!(app.all_persons().await.len(), before + 1);

    // Edit: the form shows no clear ID or phone; a blank masked field keeps its value.
    let page = c
        .get(app.url(&format!("/persons/{new_id}/edit")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("幸福路1号") && !page.contains(&id) && !page.contains("13800138000"),
        "{page}"
    );
    let r = c
        .post(app.url(&format!("/persons/{new_id}/edit")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("township", town.as_str()),
            ("name", "王小明"),
            ("address", "幸福路2号"),
            ("guardian", "王大明"),
            ("guardian_phone", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, format!("/persons/{new_id}?saved=1"))
    );
    let p = app
        .all_persons()
        .await
        .into_iter()
        .find(|p| p.id == new_id)
        .unwrap();
    assert_eq!(
        p.record.data.residence_address.as_deref(),
        Some("幸福路2号")
    );
    assert_eq!(
        p.record.guardian.unwrap().phone.as_deref(),
        Some("13800138000"),
        "kept"
    );
    let page = c
        .get(app.url(&format!("/persons/{new_id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("幸福路1号") && page.contains("网页修改"),
        "history of the edit"
    );
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|a| a == "person.update")
    );
    // An invalid edit changes nothing.
    let r = c
        .post(app.url(&format!("/persons/{new_id}/edit")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("township", town.as_str()),
            ("name", "王小明"),
            ("sex", "女"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("性别与身份证号不符"));
    // Another township's person cannot be edited, exactly as if absent.
    let theirs = app.person_in(&app.town_b).await;
    assert_eq!(
        c.get(app.url(&format!("/persons/{theirs}/edit")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

async fn roster_import_and_export_in_the_browser(app: App) {
    let (c, csrf, _) = session_for(&app, "minzheng", Role::Civil, COUNTY).await;
    let county = app.tree.get(COUNTY).unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("花名册.xlsx");
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let opts = jingkang_core::generate::GenOptions {
        rows: 40,
        seed: 5,
        error_rate: 0.2,
        messy: true,
        today,
    };
    let truth =
        jingkang_core::generate::write_roster(&app.tree, &county, opts, &file, None).unwrap();
    let error_rows: std::collections::BTreeSet<u32> =
        truth.errors.values().flatten().copied().collect();
    assert!(!error_rows.is_empty());
    let before = app.all_persons().await.len();
    let upload = |csrf: &str| {
        let part =
            reqwest::multipart::Part::bytes(std::fs::read(&file).unwrap()).file_name("花名册.xlsx");
        reqwest::multipart::Form::new()
            .text("csrf", csrf.to_string())
            .part("file", part)
    };
    // Preview: errors by row and column, nothing written.
    let r = c
        .post(app.url("/import"))
        .multipart(upload(&csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("导入检查"), "{page}");
    assert!(
        page.contains(&format!(
            "<strong id=\"n-error-rows\">{}</strong>",
            error_rows.len()
        )),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "<strong id=\"n-created\">{}</strong>",
            truth.valid
        )),
        "{page}"
    );
    for row in &error_rows {
        assert!(
            page.contains(&format!("更正第 {row} 行")),
            "row {row} offered for correction"
        );
    }
    // It says who would be created, masked as pages mask: a line each, no ID number in clear.
    let table = page
        .split("id=\"import-creates\"")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .expect("the persons to be created are listed");
    assert!(table.contains("将新建的服务对象"), "{table}");
    assert_eq!(
        table.matches("<tr><td class=\"num\">").count() as u64,
        truth.valid.min(1000)
    );
    assert!(table.contains("**********"), "{table}");
    assert!(
        !table
            .bytes()
            .collect::<Vec<_>>()
            .windows(18)
            .any(|w| w.iter().all(u8::is_ascii_digit)),
        "no whole ID number: {table}"
    );
    assert_eq!(
        app.all_persons().await.len(),
        before,
        "a preview writes nothing"
    );
    // Without the CSRF token: refused.
    let r = c
        .post(app.url("/import"))
        .multipart(upload("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Confirm: the valid rows are imported, once.
    let token = hidden(&page, "token");
    let r = c
        .post(app.url("/import/confirm"))
        .form(&[("csrf", csrf.as_str()), ("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("导入完成"));
    assert_eq!(
        app.all_persons().await.len() as u64,
        before as u64 + truth.valid
    );
    let r = c
        .post(app.url("/import/confirm"))
        .form(&[("csrf", csrf.as_str()), ("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a token is used once"
    );
    let actions = app.audit_actions().await;
    assert!(
        actions.iter().any(|a| a == "roster.import.preview")
            && actions.iter().any(|a| a == "roster.import")
    );
    // Files that are not rosters: a clear message each, nothing written.
    for (name, bytes, expected) in [
        ("notes.pdf", b"%PDF-1.4".to_vec(), "不支持的文件类型"),
        (
            "broken.xlsx",
            b"PK\x03\x04 not really a workbook".to_vec(),
            "文件无法读取",
        ),
        (
            "list.csv",
            "姓名,电话\n张三,1\n".as_bytes().to_vec(),
            "找不到表头",
        ),
    ] {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name);
        let r = c
            .post(app.url("/import"))
            .multipart(
                reqwest::multipart::Form::new()
                    .text("csrf", csrf.clone())
                    .part("file", part),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let page = r.text().await.unwrap();
        assert!(page.contains(expected), "{name}: {page}");
    }
    assert_eq!(
        app.all_persons().await.len() as u64,
        before as u64 + truth.valid
    );

    // Export: a reason is required; the file read back by the importer's reader has every person.
    let r = c
        .post(app.url("/export"))
        .form(&[("csrf", csrf.as_str()), ("region", COUNTY), ("reason", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = c
        .post(app.url("/export"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("region", COUNTY),
            ("reason", "季度报送"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let out = dir.path().join("out.xlsx");
    std::fs::write(&out, r.bytes().await.unwrap()).unwrap();
    let mut stream = jingkang_core::import::sheet::RowStream::open(&out).unwrap();
    let ids: std::collections::HashSet<String> = app
        .all_persons()
        .await
        .into_iter()
        .map(|p| p.record.data.id_number)
        .collect();
    let mut found = 0;
    while let Some(row) = stream.next().await {
        if row
            .unwrap()
            .cells
            .iter()
            .any(|c| ids.contains(c.text().as_ref()))
        {
            found += 1;
        }
    }
    assert_eq!(found, ids.len());
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|a| a == "roster.export")
    );
    // A region outside the caller's scope answers like one that does not exist.
    let r = c
        .post(app.url("/export"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("region", "500101"),
            ("reason", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// HTTPS served directly (rustls): pages answer, cookies are `Secure`, HSTS is sent, and plain
/// HTTP on the same port gets no page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_with_secure_cookies_and_hsts() {
    let (db, _dir) = sqlite_db().await;
    let tree = install(&db).await;
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, cert.cert.pem()).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let tls = jingkang_web::RustlsConfig::from_pem_file(&cert_file, &key_file)
        .await
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let state = jingkang_web::AppState::new(
        db,
        tree,
        jingkang_web::Settings {
            secure_cookies: true,
            ..Default::default()
        },
    );
    tokio::spawn(jingkang_web::serve_tls(
        listener,
        state,
        tls,
        std::future::pending(),
    ));
    let c = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(Policy::none())
        .build()
        .unwrap();
    let r = c.get(format!("https://{addr}/login")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("Secure")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let plain = reqwest::Client::new()
        .get(format!("http://{addr}/login"))
        .send()
        .await;
    assert!(
        plain.map(|r| !r.status().is_success()).unwrap_or(true),
        "no page over plain HTTP"
    );
}

async fn api_imports_and_users(app: App) {
    app.add_user("jiezhen", Role::Township, &app.town_a, false)
        .await;
    app.add_user("guanli", Role::Admin, COUNTY, false).await;
    let mut tx = app.db.begin().await.unwrap();
    let clerk = store_accounts::find_user(&mut tx, "jiezhen")
        .await
        .unwrap()
        .unwrap();
    let admin = store_accounts::find_user(&mut tx, "guanli")
        .await
        .unwrap()
        .unwrap();
    let clerk_token = store_accounts::create_api_token(&mut tx, &Actor::cli(), &clerk)
        .await
        .unwrap();
    let admin_token = store_accounts::create_api_token(&mut tx, &Actor::cli(), &admin)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let c = client();
    // A township's roster: checked (dry run by default), then imported.
    let town = app.tree.get(&app.town_a).unwrap().clone();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.xlsx");
    let opts = jingkang_core::generate::GenOptions {
        rows: 20,
        seed: 21,
        error_rate: 0.2,
        messy: true,
        today,
    };
    let truth = jingkang_core::generate::write_roster(&app.tree, &town, opts, &file, None).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let before = app.all_persons().await.len() as u64;
    let post = |dry: &str| {
        c.post(app.url(&format!("/api/v1/imports?file_name=r.xlsx&dry_run={dry}")))
            .bearer_auth(&clerk_token)
            .body(bytes.clone())
            .send()
    };
    let check: serde_json::Value = post("true").await.unwrap().json().await.unwrap();
    assert_eq!(check["dry_run"], true);
    assert_eq!(check["created"].as_u64().unwrap(), truth.valid, "{check}");
    let planted: usize = truth.errors.values().map(Vec::len).sum();
    assert_eq!(
        check["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["row"].as_u64().unwrap())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        planted
    );
    assert_eq!(app.all_persons().await.len() as u64, before);
    let done: serde_json::Value = post("false").await.unwrap().json().await.unwrap();
    assert_eq!(done["created"].as_u64().unwrap(), truth.valid);
    assert_eq!(app.all_persons().await.len() as u64, before + truth.valid);
    // A whole-file problem: 422 with a code and a Chinese message, nothing written.
    let r = c
        .post(app.url("/api/v1/imports?file_name=a.pdf"))
        .bearer_auth(&clerk_token)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "file-type-unsupported"
    );
    // A clerk may not manage users; an administrator may, within their region.
    assert_eq!(
        c.get(app.url("/api/v1/users"))
            .bearer_auth(&clerk_token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let users: serde_json::Value = c
        .get(app.url("/api/v1/users"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "jiezhen" && u["role"] == "township")
    );
    let new = serde_json::json!({"username": "xinren", "display_name": "新人", "role": "worker", "region": app.town_b});
    let r = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin_token)
        .json(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: serde_json::Value = r.json().await.unwrap();
    assert!(made["first_password"].as_str().unwrap().len() >= 10);
    let again = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin_token)
        .json(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::BAD_REQUEST,
        "the username is taken"
    );
    let outside = serde_json::json!({"username": "waidi", "display_name": "外地", "role": "worker", "region": "500101"});
    let r = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin_token)
        .json(&outside)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["code"],
        "region-unknown"
    );
    // With a browser session instead of a token, a change needs the CSRF header.
    let (s, csrf, _) = session_for(&app, "guanli2", Role::Admin, COUNTY).await;
    let third = serde_json::json!({"username": "xinren3", "display_name": "新人", "role": "worker", "region": app.town_b});
    assert_eq!(
        s.post(app.url("/api/v1/users"))
            .json(&third)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let r = s
        .post(app.url("/api/v1/users"))
        .header("x-csrf-token", csrf)
        .json(&third)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

async fn admin_manages_organisations(app: App) {
    let (c, csrf, _) = session_for(&app, "guanli", Role::Admin, COUNTY).await;
    let add = |name: &'static str, region: String| {
        c.post(app.url("/admin/organisations"))
            .form(&[
                ("csrf", csrf.clone()),
                ("name", name.to_string()),
                ("region", region),
            ])
            .send()
    };
    let page = add("綦江区民政局", COUNTY.to_string())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("已添加单位：綦江区民政局"), "{page}");
    assert!(
        page.contains("<title>用户管理 · "),
        "the page title is plain text"
    );
    let r = add("綦江区民政局", COUNTY.to_string()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("该地区已有同名单位"));
    let r = add("外区民政局", "500101".to_string()).await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "outside the administrator's region"
    );
    add("街道办事处", app.town_a.clone()).await.unwrap();
    let mut tx = app.db.begin().await.unwrap();
    let orgs = store_accounts::list_organisations(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    let county_org = orgs
        .iter()
        .find(|o| o.name == "綦江区民政局")
        .unwrap()
        .id
        .to_string();
    let town_org = orgs
        .iter()
        .find(|o| o.name == "街道办事处")
        .unwrap()
        .id
        .to_string();
    let user = |username: &'static str, region: String, org: String| {
        c.post(app.url("/admin/users"))
            .form(&[
                ("csrf", csrf.clone()),
                ("username", username.into()),
                ("display_name", "张三".into()),
                ("role", "township".into()),
                ("region", region),
                ("organisation", org),
            ])
            .send()
    };
    // A township clerk of the county office: fine. Of another township's office: refused.
    let page = user("zhangsan", app.town_b.clone(), county_org)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("zhangsan") && page.contains("<td>綦江区民政局</td>"),
        "{page}"
    );
    let r = user("lisi", app.town_b.clone(), town_org).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("不在该单位的地区范围内"));
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|a| a == "organisation.create")
    );
}

async fn registration_changes_on_the_person_page(app: App) {
    let (c, csrf, _) = session_for(&app, "reg-clerk", Role::Township, &app.town_a).await;
    let id = app.person_in(&app.town_a).await;
    let url = app.url(&format!("/persons/{id}/registration"));
    let post = |fields: Vec<(&'static str, &'static str)>| {
        let mut form = vec![("csrf", csrf.clone())];
        form.extend(fields.into_iter().map(|(k, v)| (k, v.to_string())));
        c.post(&url).form(&form).send()
    };
    let page = c
        .get(app.url(&format!("/persons/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("登记状态：待评估")
            && page.contains("<option value=\"register\">登记</option>"),
        "{page}"
    );
    // While 待评估, the eligibility rule is shown condition by condition; nothing decides the
    // agreement yet, so it is 待核实 and registering needs an exception's reason.
    assert!(
        page.contains("登记评估：有条件不符合或待核实")
            && page.contains("年龄 18～60 周岁")
            && page.contains("需核实协议"),
        "{page}"
    );
    assert!(
        page.contains("现居住地 重庆市 / "),
        "places by name, not by code"
    );
    assert!(
        !page.contains("<option value=\"resume\">"),
        "only what the state allows is offered"
    );

    // 登记 while conditions are unmet or unknown: refused, naming them; with an exception's reason
    // it goes through (and is marked 例外登记).
    let r = post(vec![("event", "register"), ("no_serious_disease", "1")])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("登记条件未全部符合") && text.contains("待核实") && text.contains("例外理由"),
        "{text}"
    );
    // The API answers the same refusal, with its code.
    let r = c
        .post(app.url(&format!("/api/v1/persons/{id}/registration")))
        .header("x-csrf-token", csrf.as_str())
        .json(&serde_json::json!({"event": "register", "no_serious_disease": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["code"] == "registration-ineligible"
            && body["message"].as_str().unwrap().contains("待核实"),
        "{body}"
    );
    // 登记 → 开始服务, each redirected to the page with a notice.
    let r = post(vec![
        ("event", "register"),
        ("reason", "纸质协议已签，扫描件待补"),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"],
        format!("/persons/{id}?reg=registered").as_str()
    );
    let page = c
        .get(app.url(&format!("/persons/{id}?reg=registered")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("登记状态已改为“已登记”") && page.contains("待评估 → 已登记"),
        "{page}"
    );
    assert!(
        !page.contains("登记评估："),
        "the rule is shown only while 待评估"
    );
    // 开始服务 needs a signed consent and service agreement valid today (SPEC §3): refused with
    // what is missing, the state unchanged; once both are recorded it goes through.
    let r = post(vec![("event", "start_service")]).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("不能开始服务：尚无有效的知情同意书、服务协议"),
        "{text}"
    );
    let r = c
        .post(app.url(&format!("/api/v1/persons/{id}/registration")))
        .header("x-csrf-token", csrf.as_str())
        .json(&serde_json::json!({"event": "start_service"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "registration-agreement-missing", "{body}");
    let county = jingkang_core::regions::Scope::of(app.tree.get(COUNTY).unwrap());
    let today = chrono::Utc::now().date_naive();
    for kind in jingkang_core::care::agreement::AgreementKind::ALL {
        let a = jingkang_core::care::agreement::Agreement {
            kind,
            signed_on: today - chrono::Duration::days(2),
            person_signed: true,
            guardian_name: None,
            valid_until: today + chrono::Duration::days(360),
        };
        let mut tx = app.db.begin().await.unwrap();
        jingkang_core::store::agreements::record(&mut tx, &county, &Actor::cli(), id, &a, None)
            .await
            .unwrap()
            .unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(
        post(vec![("event", "start_service")])
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );

    // Refusals: 422 with the reason on the page, and the state unchanged.
    let r = post(vec![("event", "suspend"), ("reason", "  ")])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("请填写原因"));
    let r = post(vec![("event", "start_service")]).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("当前登记状态为“服务中”，不能“开始服务”")
            && text.contains("可进行的操作：暂停服务、结案"),
        "{text}"
    );
    let r = post(vec![("event", "close")]).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("请选择结案原因"));
    assert_eq!(
        post(vec![("event", "fly")]).await.unwrap().status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let serving = c
        .get(app.url("/persons?state=in_service"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        serving.contains(&format!("/persons/{id}\"")),
        "still 服务中 after the refusals"
    );

    // 结案 with a reason; the events table shows it; each change is audited.
    let r = post(vec![
        ("event", "close"),
        ("close_reason", "moved_away"),
        ("reason", "迁往重庆市渝北区"),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = c
        .get(app.url(&format!("/persons/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("服务中 → 结案") && page.contains("迁出；迁往重庆市渝北区"),
        "{page}"
    );
    assert!(page.contains("<option value=\"reopen\">重新申请</option>"));
    let actions = app.audit_actions().await;
    for a in [
        "registration.register",
        "registration.start_service",
        "registration.close",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
    assert!(
        !actions.iter().any(|x| x == "registration.suspend"),
        "a refusal is not a change"
    );
    // A wrong CSRF token changes nothing.
    let r = c
        .post(&url)
        .form(&[("csrf", "forged"), ("event", "reopen"), ("reason", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // The same through the API (session + X-CSRF-Token).
    let api = app.url(&format!("/api/v1/persons/{id}/registration"));
    let r = c
        .post(&api)
        .header("x-csrf-token", csrf.as_str())
        .json(&serde_json::json!({"event": "resume"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "registration-illegal");
    let r = c
        .post(&api)
        .header("x-csrf-token", csrf.as_str())
        .json(&serde_json::json!({"event": "reopen", "reason": "迁回本区"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["state"], "pending");
    assert_eq!(body["allowed"], serde_json::json!(["register", "decline"]));
    let info: serde_json::Value = c.get(&api).send().await.unwrap().json().await.unwrap();
    let events: Vec<&str> = info["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["register", "start_service", "close", "reopen"]);
    assert_eq!(info["events"][2]["close_reason"], "moved_away");
}

/// A doctor fills the follow-up form (a refusal first), the class and next date follow the rules,
/// the police then see the person at risk 3, the worklists list them, the export needs a reason and
/// reads back; the API records and reads the same, and refuses field by field.
async fn followups_risk_worklists_end_to_end(app: App) {
    let (doc, csrf, _) = session_for(&app, "fu-doctor", Role::Doctor, &app.town_a).await;
    let id = app.person_in(&app.town_a).await;
    let before = app.audit_actions().await.len();
    // The form comes from the definition, with today's date and the doctor's name filled in.
    let form = doc
        .get(app.url(&format!("/persons/{id}/followups/new")))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let form = form.text().await.unwrap();
    for label in [
        "本次随访形式",
        "若失访，原因",
        "目前症状",
        "自知力",
        "个人生活料理",
        "肇祸",
        "关锁",
        "用药依从性",
        "药物3",
        "长效针剂",
        "康复措施",
        "下次随访日期",
    ] {
        assert!(form.contains(label), "{label}");
    }
    assert!(
        form.contains("持管制性危险武器"),
        "the official risk definitions are shown in the form"
    );
    let post = |pairs: Vec<(&'static str, &'static str)>| {
        let mut body = vec![("csrf", csrf.clone())];
        body.extend(pairs.into_iter().map(|(k, v)| (k, v.to_string())));
        doc.post(app.url(&format!("/persons/{id}/followups")))
            .form(&body)
            .send()
    };
    let today = jingkang_web::entry::today();
    let visit = (today - chrono::Duration::days(1)).to_string();
    let visit: &'static str = Box::leak(visit.into_boxed_str());
    // A refusal: every problem named with its field, the entries kept, nothing written.
    let r = post(vec![
        ("visit_date", visit),
        ("mode", "home"),
        ("risk_grade", "9"),
        ("danger.trouble", "x"),
        ("symptoms", "hallucination"),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("【危险性评估】没有“9”这一选项")
            && text.contains("【肇事】应为 0 至 999 的整数")
            && text.contains("【自知力】未填写"),
        "{text}"
    );
    assert!(
        text.contains("value=\"hallucination\" checked"),
        "what was entered is kept"
    );
    // Risk 3 with a marked symptom: 不稳定, next in 2 weeks.
    let full = vec![
        ("visit_date", visit),
        ("mode", "home"),
        ("risk_grade", "3"),
        ("symptoms", "hallucination"),
        ("symptoms", "suspicion"),
        ("symptom_level", "marked"),
        ("insight", "partial"),
        ("social.self_care", "fair"),
        ("social.housework", "poor"),
        ("social.work", "na"),
        ("social.learning", "fair"),
        ("social.interpersonal", "poor"),
        ("danger.trouble", "1"),
        ("adherence", "intermittent"),
        ("drug1.name", "利培酮"),
        ("drug1.night_mg", "2"),
        ("doctor", "王医生"),
    ];
    let r = post(full).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    let to = location(&r);
    assert!(to.starts_with(&format!("/persons/{id}?fu=")), "{to}");
    let page = doc
        .get(app.url(&to))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let next = (today - chrono::Duration::days(1) + chrono::Duration::days(14)).to_string();
    assert!(
        page.contains(&format!(
            "已记录随访：病情分类“不稳定”，下次随访日期 {next}"
        )),
        "{page}"
    );
    assert!(
        page.contains("3 级：明显打砸行为") && page.contains("利培酮"),
        "{page}"
    );
    // The confirmation names who was told of the alert, and when.
    assert!(
        page.contains("通知公安、街镇、精防医生（")
            && page.contains("未读时会在其首页和菜单上提示"),
        "{page}"
    );
    // The next form offers the lasting answers again, not the visit's own.
    let again = doc
        .get(app.url(&format!("/persons/{id}/followups/new")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        again.contains("value=\"利培酮\"") && again.contains("上次随访"),
        "previous values offered"
    );
    assert!(
        !again.contains("name=\"danger.trouble\" id=\"fu-danger-trouble-input\" value=\"1\""),
        "counts since the last visit start empty"
    );
    // The risk grade is this visit's own assessment: the last one is a hint, nothing is ticked.
    assert!(
        again.contains("上次随访评估为 3 级；请按本次评估重新选择")
            && !again.contains("name=\"risk_grade\" value=\"3\" checked")
            && !again.contains("name=\"risk_grade\" value=\"0\" checked"),
        "{again}"
    );
    // Police of the county now see the person (risk ≥ 3), without the follow-ups.
    let (police, _, _) = session_for(&app, "fu-police", Role::Police, COUNTY).await;
    let seen = police
        .get(app.url(&format!("/persons/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(seen.status(), StatusCode::OK);
    let seen = seen.text().await.unwrap();
    assert!(
        !seen.contains("id=\"followups\"") && !seen.contains("利培酮"),
        "no clinical content for the police"
    );
    assert_eq!(
        police
            .get(app.url(&format!("/api/v1/persons/{id}/followups")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        police
            .get(app.url("/worklists"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    // …and the alert, at once, in their notification centre; so does the township clerk.
    let notes = police
        .get(app.url("/notifications"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        notes.contains("高风险提醒")
            && notes.contains("随访评估危险性 3 级")
            && notes.contains("1 条未读"),
        "{notes}"
    );
    let api: serde_json::Value = police
        .get(app.url("/api/v1/notifications"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let police_note_id = api[0]["id"].as_i64().unwrap();
    let police_csrf = hidden(&notes, "csrf");
    let r = police
        .post(app.url(&format!("/notifications/{police_note_id}/read")))
        .form(&[("csrf", police_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let notes = police
        .get(app.url("/notifications"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        notes.contains("已读") && !notes.contains("条未读"),
        "{notes}"
    );
    // Worklists: not overdue yet; a township clerk sees the counts and the list.
    let (clerk, clerk_csrf, _) = session_for(&app, "fu-clerk", Role::Township, &app.town_a).await;
    // The township has not opened its notifications: the alert is at the top of its home page
    // and counted on the menu until read; reading it is audited with the person.
    let get_text = |path: &str| {
        let r = clerk.get(app.url(path)).send();
        async move { r.await.unwrap().text().await.unwrap() }
    };
    let home = get_text("/").await;
    assert!(
        home.contains("未读高风险提醒 1 条")
            && home.contains("随访评估危险性 3 级")
            && home.contains(&format!("href=\"/persons/{id}\""))
            && home.contains("hx-get=\"/notifications/unread\""),
        "{home}"
    );
    assert!(
        get_text("/notifications/unread")
            .await
            .contains(">1</span>")
    );
    let list = get_text("/notifications").await;
    let note = list
        .split("action=\"/notifications/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_string();
    let reads_before = app
        .audit_actions()
        .await
        .iter()
        .filter(|a| *a == "notification.read")
        .count();
    let r = clerk
        .post(app.url(&format!("/notifications/{note}/read")))
        .form(&[("csrf", clerk_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let actions = app.audit_actions().await;
    assert_eq!(
        actions.iter().filter(|a| *a == "notification.read").count(),
        reads_before + 1
    );
    assert!(actions.iter().any(|a| a == "notification.list"));
    assert!(!get_text("/").await.contains("未读高风险提醒"));
    assert_eq!(get_text("/notifications/unread").await, "");
    let overview = clerk
        .get(app.url("/worklists"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        overview.contains("逾期未随访") && overview.contains("下次随访日期早于今天"),
        "{overview}"
    );
    // Make the visit 20 days old: overdue, and unstable without a follow-up for two weeks.
    let old = (today - chrono::Duration::days(20)).to_string();
    let old_next = (today - chrono::Duration::days(6)).to_string();
    on_pool!(&app.db, p => sqlx::query(&format!(
        "UPDATE persons SET last_followup_date = '{old}', next_followup_date = '{old_next}' WHERE id = {id}")).execute(p).await.map(drop)).unwrap();
    for list in ["overdue", "unstable"] {
        let page = clerk
            .get(app.url(&format!("/worklists/{list}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains(&format!("/persons/{id}#followups")),
            "{list}: {page}"
        );
    }
    let due = clerk
        .get(app.url("/worklists/due"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(due.contains("清单为空"), "{due}");
    assert_eq!(
        clerk
            .get(app.url("/worklists/nonsense"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    // Export: a reason is required; the file reads back with the person on it.
    let export = app.url("/worklists/overdue/export");
    let r = clerk
        .post(&export)
        .form(&[("csrf", clerk_csrf.as_str()), ("reason", " ")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = clerk
        .post(&export)
        .form(&[("csrf", clerk_csrf.as_str()), ("reason", "本周随访安排")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let bytes = r.bytes().await.unwrap();
    use calamine::Reader;
    let mut wb =
        calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let sheet = wb.worksheet_range("逾期未随访").unwrap();
    let rows: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(rows[3][1], "姓名");
    assert_eq!(
        rows.len(),
        5,
        "title, definition, date, header, one person: {rows:?}"
    );
    assert_eq!(rows[4][6], "不稳定");
    assert_eq!(rows[4][9], "6");
    let actions = app.audit_actions().await;
    assert!(actions[before..].iter().any(|a| a == "followup.record"));
    assert!(actions[before..].iter().any(|a| a == "worklist.export"));
    assert!(actions[before..].iter().any(|a| a == "worklist.view"));

    // The API: record (201), refuse (422 with every field), read, risk history, worklist.
    let api = app.url(&format!("/api/v1/persons/{id}/followups"));
    let ok = serde_json::json!({
        "visit_date": today.to_string(), "mode": "clinic", "risk_grade": 0, "symptom_level": "none", "insight": "complete",
        "social.self_care": "good", "social.housework": "good", "social.work": "good", "social.learning": "good",
        "social.interpersonal": "good", "adherence": "regular", "doctor": "王医生"
    });
    let r = doc
        .post(&api)
        .header("x-csrf-token", csrf.as_str())
        .json(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: serde_json::Value = r.json().await.unwrap();
    // After an unstable visit, a calm one is 稳定 → 3 months.
    assert_eq!(body["condition_class"], "stable");
    assert_eq!(body["risk_grade"], 0);
    let bad = serde_json::json!({"visit_date": "2026-02-30", "mode": "fax", "doctor": ""});
    let r = doc
        .post(&api)
        .header("x-csrf-token", csrf.as_str())
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = r.json().await.unwrap();
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in ["visit_date", "mode", "doctor", "risk_grade", "insight"] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    let info: serde_json::Value = clerk.get(&api).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["items"].as_array().unwrap().len(), 2);
    assert_eq!(info["schedule"]["condition_class"], "stable");
    assert_eq!(info["items"][1]["answers"]["drug1.name"], "利培酮");
    let risk: serde_json::Value = clerk
        .get(app.url(&format!("/api/v1/persons/{id}/risk")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let grades: Vec<i64> = risk["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["risk_grade"].as_i64().unwrap())
        .collect();
    assert_eq!(grades, [3, 0]);
    let wl: serde_json::Value = clerk
        .get(app.url("/api/v1/worklists/overdue"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(wl["total"], 0, "followed up today: no longer overdue");
    let form_def: serde_json::Value = clerk
        .get(app.url("/api/v1/forms/followup"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(form_def["version"], "2018");
    // An emergency: a refusal names its fields; grade 4 notifies the police and the township.
    let em = app.url(&format!("/persons/{id}/emergencies"));
    let now_bj = (chrono::Utc::now() + chrono::Duration::hours(8) - chrono::Duration::minutes(30))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let r = doc
        .post(&em)
        .form(&[
            ("csrf", csrf.as_str()),
            ("occurred_at", now_bj.as_str()),
            ("risk_grade", "4"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("【事件类型】未填写")
            && text.contains("【处置措施】未填写")
            && text.contains("【事件经过】未填写"),
        "{text}"
    );
    let r = doc
        .post(&em)
        .form(&[
            ("csrf", csrf.as_str()),
            ("occurred_at", now_bj.as_str()),
            ("risk_grade", "4"),
            ("kinds", "damage"),
            ("kinds", "hurt_others"),
            ("description", "在家中砸物并推伤家属"),
            ("measures", "police_assist"),
            ("measures", "sent_to_hospital"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), location(&r)),
        (
            StatusCode::SEE_OTHER,
            format!("/persons/{id}?em=3#emergencies")
        )
    );
    let page = doc
        .get(app.url(&format!("/persons/{id}?em=3")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("已记录应急处置，并已通知辖区公安、街镇和精防医生")
            && page.contains("毁物、伤人")
            && page.contains("4 级"),
        "{page}"
    );
    let notes: serde_json::Value = police
        .get(app.url("/api/v1/notifications"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        notes[0]["title"].as_str().unwrap().starts_with("应急处置"),
        "{notes}"
    );
    let api_em = serde_json::json!({"person_id": id, "occurred_at": now_bj, "risk_grade": 1, "kinds": ["wandering"], "description": "外出未归，已找回", "measures": ["guardian_notified"]});
    let r = clerk
        .post(app.url("/api/v1/emergencies"))
        .header("x-csrf-token", clerk_csrf.as_str())
        .json(&api_em)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (body["notified"].as_i64(), body["risk_grade"].as_i64()),
        (Some(0), Some(4)),
        "a calm event neither alerts nor lowers the risk"
    );
    let list: serde_json::Value = clerk
        .get(app.url("/api/v1/emergencies"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(
        police
            .post(app.url("/api/v1/emergencies"))
            .json(&api_em)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );

    // A person out of the doctor's scope answers 404, and writes nothing.
    let other = app.person_in(&app.town_b).await;
    let r = doc
        .post(app.url(&format!("/api/v1/persons/{other}/followups")))
        .header("x-csrf-token", csrf.as_str())
        .json(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // A second follow-up on the same visit date is not saved without a word: the form comes back
    // naming the earlier one, with a box to confirm; confirmed, it is saved.
    let second = vec![
        ("visit_date", visit),
        ("mode", "phone"),
        ("risk_grade", "3"),
        ("symptom_level", "marked"),
        ("insight", "partial"),
        ("social.self_care", "fair"),
        ("social.housework", "poor"),
        ("social.work", "na"),
        ("social.learning", "fair"),
        ("social.interpersonal", "poor"),
        ("adherence", "intermittent"),
        ("doctor", "李医生"),
    ];
    let r = post(second.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = r.text().await.unwrap();
    assert!(
        text.contains(&format!("{visit} 已有一条随访记录（随访医生 王医生"))
            && text.contains("name=\"confirm_same_day\" value=\"yes\"")
            && text.contains("value=\"李医生\""),
        "{text}"
    );
    let mut confirmed = second.clone();
    confirmed.push(("confirm_same_day", "yes"));
    let r = post(confirmed).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
}

/// Agreements: a scan is checked by its content, stored, served only to the roles that read
/// agreements (each read audited); a service agreement about to end puts the person on the list.
async fn agreements_with_scans(app: App) {
    let (c, csrf, _) = session_for(&app, "ag-clerk", Role::Township, &app.town_a).await;
    let id = app.person_in(&app.town_a).await;
    jingkang_core::on_pool!(&app.db, p => sqlx::query("UPDATE persons SET registration_state = 'in_service' WHERE id = $1").bind(id).execute(p).await.map(drop)).unwrap();
    let today = jingkang_web::entry::today();
    let upload = |kind: &'static str, bytes: Vec<u8>, name: &'static str, until: String| {
        let form = reqwest::multipart::Form::new()
            .text("csrf", csrf.clone())
            .text("kind", kind)
            .text("signed_on", today.to_string())
            .text("person_signed", "1")
            .text("guardian_name", "张大山")
            .text("valid_until", until)
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(name),
            );
        c.post(app.url(&format!("/persons/{id}/agreements")))
            .multipart(form)
            .send()
    };
    let pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF".to_vec();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0".to_vec();
    // A program renamed .pdf is refused; nothing is written.
    let r = upload(
        "consent",
        b"MZ\x90\0\x03 not a scan".to_vec(),
        "同意书.pdf",
        String::new(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("扫描件须为 PDF、JPG 或 PNG 文件")
    );
    let r = upload("consent", pdf.clone(), "同意书.pdf", "2020-01-01".into())
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "ends before it was signed"
    );
    // Over 10 MB: refused by its size with the message that says so (not the framework's 2 MB).
    let mut huge = pdf.clone();
    huge.resize(10 * 1024 * 1024 + 1, b' ');
    let r = upload("consent", huge, "同意书.pdf", String::new())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("扫描件超过 10 MB"));
    let n: i64 = jingkang_core::on_pool!(&app.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM agreements").fetch_one(p).await).unwrap();
    assert_eq!(n, 0);
    // A 3 MB scan (a phone photo of the paper) is taken.
    let mut photo = pdf.clone();
    photo.resize(3 * 1024 * 1024, b' ');
    assert_eq!(
        upload("consent", photo, "同意书-拍照.pdf", String::new())
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        upload("consent", pdf.clone(), "同意书.pdf", String::new())
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    let soon = (today + chrono::Duration::days(10)).to_string();
    assert_eq!(
        upload("service", png.clone(), "协议.png", soon.clone())
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    let page = c
        .get(app.url(&format!("/persons/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("知情同意书")
            && page.contains("服务协议")
            && page.contains("本人、监护人 张大山")
            && page.contains(&soon),
        "{page}"
    );
    // The scan, as stored, with its type; audited.
    let link = page
        .split("href=\"")
        .filter_map(|s| s.split('"').next())
        .find(|h| h.ends_with("/scan"))
        .unwrap()
        .to_string();
    let r = c.get(app.url(&link)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"] == "application/pdf"
            || r.headers()["content-type"] == "image/png"
    );
    let body = r.bytes().await.unwrap();
    assert!(body.as_ref() == pdf.as_slice() || body.as_ref() == png.as_slice());
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|a| a == "agreement.scan.read")
    );
    // The police may not fetch it (403), another township's clerk finds nothing (404).
    let (police, _, _) = session_for(&app, "ag-police", Role::Police, COUNTY).await;
    assert_eq!(
        police.get(app.url(&link)).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let (other, _, _) = session_for(&app, "ag-other", Role::Township, &app.town_b).await;
    assert_eq!(
        other.get(app.url(&link)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    // Ending within 30 days: on the list.
    let list = c
        .get(app.url("/worklists/agreements"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        list.contains(&format!("/persons/{id}#agreements")) && list.contains(&soon),
        "{list}"
    );
}

/// The smallest file `infer` reads as a PDF.
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

/// A hospital sends a discharge referral with the 一历六单 (a refusal first, for missing
/// documents); the receiving township finds it in its inbox and accepts; another township cannot.
async fn referrals_through_the_api(app: App) {
    let (hospital, h_csrf, _) = session_for(&app, "rf-hospital", Role::Hospital, COUNTY).await;
    let (town_b, b_csrf, _) = session_for(&app, "rf-town-b", Role::Township, &app.town_b).await;
    let (town_a, a_csrf, _) = session_for(&app, "rf-town-a", Role::Township, &app.town_a).await;
    let id = app.person_in(&app.town_a).await;
    let docs = jingkang_core::care::referral::ReferralRules::shipped()
        .unwrap()
        .kind("hospital_to_community")
        .unwrap()
        .documents
        .clone();
    use base64::Engine;
    let contact =
        serde_json::json!({"unit": "綦江区人民医院", "name": "王医生", "phone": "13800001111"});
    // The summary as a scanned PDF, the others filled in as text.
    let documents = |slots: &[String]| -> Vec<serde_json::Value> {
        slots
            .iter()
            .map(|s| {
                if *s == docs[0] {
                    serde_json::json!({"slot": s, "file_name": "病历摘要.pdf",
                        "content_base64": base64::engine::general_purpose::STANDARD.encode(PDF)})
                } else {
                    serde_json::json!({"slot": s, "text": format!("{s}：已填写")})
                }
            })
            .collect()
    };
    let send = |documents: Vec<serde_json::Value>| {
        hospital.post(app.url("/api/v1/referrals")).header("x-csrf-token", h_csrf.as_str())
            .json(&serde_json::json!({"kind": "hospital_to_community", "person_id": id, "to_region": app.town_b, "reason": "出院",
                "documents": documents, "contact": contact})).send()
    };
    let r = send(documents(&docs[..1])).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "referral-incomplete");
    assert!(
        body["message"].as_str().unwrap().contains(&docs[1]),
        "{body}"
    );
    let mut broken = documents(&docs);
    broken[1] = serde_json::json!({"slot": docs[1], "content_base64": "***"});
    let body: serde_json::Value = send(broken).await.unwrap().json().await.unwrap();
    assert_eq!(body["code"], "referral-document-shape", "{body}");
    let mut not_pdf = documents(&docs);
    not_pdf[0]["content_base64"] = base64::engine::general_purpose::STANDARD
        .encode("MZ not a scan")
        .into();
    let body: serde_json::Value = send(not_pdf).await.unwrap().json().await.unwrap();
    assert_eq!(body["code"], "referral-file-invalid", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("病历摘要.pdf"),
        "{body}"
    );
    let r = send(documents(&docs)).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let rid = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let inbox: serde_json::Value = town_b
        .get(app.url("/api/v1/referrals"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(inbox["inbox"][0]["id"], rid);
    assert_eq!(inbox["inbox"][0]["state"], "initiated");
    let step = |c: &reqwest::Client, csrf: &str, event: &str| {
        c.post(app.url(&format!("/api/v1/referrals/{rid}/events")))
            .header("x-csrf-token", csrf)
            .json(&serde_json::json!({"event": event}))
            .send()
    };
    assert_eq!(
        step(&town_a, &a_csrf, "accept").await.unwrap().status(),
        StatusCode::NOT_FOUND,
        "not the receiver"
    );
    let r = step(&town_b, &b_csrf, "return").await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a return needs its reason"
    );
    let r = step(&town_b, &b_csrf, "accept").await.unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["state"],
        "accepted"
    );
    let sent: serde_json::Value = hospital
        .get(app.url("/api/v1/referrals"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        sent["sent"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == rid && r["state"] == "accepted"),
        "{sent}"
    );
    // One referral with its steps, for either side; for no one else.
    let one: serde_json::Value = town_b
        .get(app.url(&format!("/api/v1/referrals/{rid}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let steps: Vec<&str> = one["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["event"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["send", "accept"], "{one}");
    assert!(
        one["receiving"].as_bool().unwrap()
            && one["documents"].as_array().unwrap().len() == docs.len(),
        "{one}"
    );
    // The documents themselves travel: the filled forms as typed, the file by its link.
    assert_eq!(one["contact"]["phone"], "13800001111", "{one}");
    let carried = one["carried"].as_array().unwrap();
    assert_eq!(carried.len(), docs.len());
    assert_eq!(carried[1]["text"], format!("{}：已填写", docs[1]));
    assert_eq!(carried[0]["media_type"], "application/pdf");
    let file_url = format!("/api/v1/referrals/{rid}/documents/{}", carried[0]["id"]);
    let r = town_b.get(app.url(&file_url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(r.bytes().await.unwrap().as_ref(), PDF);
    assert_eq!(
        town_a
            .get(app.url(&file_url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND,
        "not on either side"
    );
    assert_eq!(
        hospital
            .get(app.url(&format!("/api/v1/referrals/{rid}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        town_a
            .get(app.url(&format!("/api/v1/referrals/{rid}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|a| a == "referral.accept")
    );
}

/// The pages: a hospital sends a discharge of a patient not yet in the registry with the 一历六单
/// (refused first for a missing form and a wrong ID number, with what was entered kept); the
/// township finds it in its waiting list with the identity masked, accepts it, and the person is in
/// its registry; the list exports to .xlsx with a reason.
async fn referral_pages_register_a_discharged_patient(app: App) {
    let (hospital, h_csrf, _) = session_for(&app, "rp-hospital", Role::Hospital, COUNTY).await;
    let (town, t_csrf, _) = session_for(&app, "rp-town", Role::Township, &app.town_b).await;
    let form = hospital
        .get(app.url("/referrals/new?kind=hospital_to_community"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let docs = jingkang_core::care::referral::ReferralRules::shipped()
        .unwrap()
        .kind("hospital_to_community")
        .unwrap()
        .documents
        .clone();
    assert!(
        form.contains("出院患者") && docs.iter().all(|d| form.contains(d.as_str())),
        "{form}"
    );
    let first17 = format!("{COUNTY}19880808235");
    let id_number = format!("{first17}{}", jingkang_core::domain::check_char(&first17));
    let mut fields: Vec<(String, String)> = [
        ("csrf", h_csrf.clone()),
        ("kind", "hospital_to_community".into()),
        ("name", "王出院".into()),
        ("sex", "男".into()),
        ("id_number", id_number.clone()),
        ("grade", "精神二级".into()),
        ("address", "和平路1号".into()),
        ("guardian", "王父".into()),
        ("guardian_phone", "13700001111".into()),
        ("to_region", app.town_b.clone()),
        ("reason", "病情稳定出院".into()),
        ("contact_unit", "綦江区人民医院".into()),
        ("contact_name", "王医生".into()),
        ("contact_phone", "023-48281234".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (i, d) in docs.iter().enumerate().skip(1) {
        fields.push((format!("text_{i}"), format!("{d}：已填写\n第二行")));
    }
    let post = |fields: &[(String, String)], file: Option<&[u8]>| {
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in fields {
            form = form.text(k.clone(), v.clone());
        }
        if let Some(bytes) = file {
            form = form.part(
                "file_0",
                reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("病历摘要.pdf"),
            );
        }
        hospital.post(app.url("/referrals")).multipart(form).send()
    };
    let r = post(&fields, None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("转介材料不全")
            && page.contains(docs[0].as_str())
            && page.contains("王出院")
            && page.contains("第二行")
            && page.contains("023-48281234"),
        "what was typed is kept: {page}"
    );
    // A file that is not a scan is refused by name; the typed text stays.
    let r = post(&fields, Some(b"just text, renamed to .pdf"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("病历摘要.pdf") && page.contains("须为 PDF"),
        "{page}"
    );
    // The right file with a wrong ID number: refused beside the field, the file kept for the next try.
    let mut wrong = fields.clone();
    wrong.retain(|(k, _)| k != "id_number");
    wrong.push((
        "id_number".into(),
        format!(
            "{first17}{}",
            if id_number.ends_with('0') { '1' } else { '0' }
        ),
    ));
    let r = post(&wrong, Some(PDF)).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("field-error") && page.contains("已上传：病历摘要.pdf"),
        "the ID number's problem is shown beside it, the file is kept: {page}"
    );
    let token = page
        .split("name=\"kept_0\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    fields.push(("kept_0".into(), token));
    let r = post(&fields, None).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let at = location(&r);
    let rid: i64 = at
        .trim_start_matches("/referrals/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    // The township's waiting list shows it, unregistered; the page masks the ID number.
    let list = town
        .get(app.url("/referrals?view=waiting"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        list.contains("王出院")
            && list.contains("未登记")
            && list.contains(&format!("/referrals/{rid}")),
        "{list}"
    );
    let page = town
        .get(app.url(&format!("/referrals/{rid}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("尚未建档") && !page.contains(&id_number) && page.contains("接收"),
        "{page}"
    );
    // The receiver reads the documents themselves, and whom to call.
    assert!(
        page.contains("綦江区人民医院")
            && page.contains("tel:023-48281234")
            && page.contains(&format!("{}：已填写\n第二行", docs[1]))
            && page.contains("病历摘要.pdf"),
        "{page}"
    );
    let href = page
        .split(&format!("href=\"/referrals/{rid}/documents/"))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    let r = town
        .get(app.url(&format!("/referrals/{rid}/documents/{href}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline"),
        "opens in the browser"
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), PDF);
    let api: serde_json::Value = town
        .get(app.url(&format!("/api/v1/referrals/{rid}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["subject"]["name"], "王出院");
    assert!(
        api["subject"]["id_number"].as_str().unwrap().contains('*')
            && api["subject"]["grade"] == "***",
        "{api}"
    );
    let r = town
        .post(app.url(&format!("/referrals/{rid}/events")))
        .form(&[("csrf", t_csrf.as_str()), ("event", "accept")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = town
        .get(app.url(&location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("已接收") && page.contains("data-state=\"accepted\""),
        "{page}"
    );
    let persons = town
        .get(app.url("/persons?q=王出院"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        persons.contains("王出院"),
        "in the township's registry: {persons}"
    );
    // Accepting twice is refused with the state machine's message.
    let r = town
        .post(app.url(&format!("/referrals/{rid}/events")))
        .form(&[("csrf", t_csrf.as_str()), ("event", "accept")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("不能“接收”"));
    // The hospital's trace; the export needs a reason.
    let sent = hospital
        .get(app.url("/referrals?view=sent"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sent.contains("王出院") && sent.contains("已接收"), "{sent}");
    let r = town
        .post(app.url("/referrals/export"))
        .form(&[("csrf", t_csrf.as_str()), ("view", "inbox"), ("reason", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = town
        .post(app.url("/referrals/export"))
        .form(&[
            ("csrf", t_csrf.as_str()),
            ("view", "inbox"),
            ("reason", "周报"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let bytes = r.bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.xlsx");
    std::fs::write(&path, &bytes).unwrap();
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook(&path).unwrap();
    let sheet = wb.worksheet_range_at(0).unwrap().unwrap();
    assert!(
        sheet.rows().any(|row| row
            .iter()
            .any(|c| matches!(c, calamine::Data::String(s) if s == "王出院"))),
        "the export holds the referral"
    );
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|a| a == "referral.export")
    );
}

/// A site worker records an SDSS from the form rendered from its definition (refused first for a
/// missing item, shown beside it, with the answers kept), twice; the person page lists both and
/// charts the totals; the API lists the instruments and scores a PSP (refusing a total off range).
async fn assessments_on_the_person_page_and_in_the_api(app: App) {
    let (c, csrf, _) = session_for(&app, "as-worker", Role::Worker, &app.town_a).await;
    let id = app.person_in(&app.town_a).await;
    let form = c
        .get(app.url(&format!("/persons/{id}/assessments/new?instrument=sdss")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("社会功能缺陷筛选量表")
            && form.contains("婚姻职能")
            && form.contains("不适用"),
        "{form}"
    );
    let keys = [
        "work",
        "marriage",
        "parenting",
        "withdrawal",
        "outside_activity",
        "home_activity",
        "family_role",
        "self_care",
        "interest",
        "responsibility",
    ];
    let post = |answers: Vec<(&'static str, &'static str)>, date: &'static str| {
        let mut f: Vec<(String, String)> = vec![
            ("csrf".into(), csrf.clone()),
            ("instrument".into(), "sdss".into()),
            ("assessed_on".into(), date.into()),
            ("assessor".into(), "李社工".into()),
        ];
        f.extend(
            answers
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        c.post(app.url(&format!("/persons/{id}/assessments")))
            .form(&f)
            .send()
    };
    let mut answers: Vec<(&str, &str)> = keys.iter().map(|k| (*k, "0")).collect();
    answers.retain(|(k, _)| *k != "interest");
    let r = post(answers.clone(), "2026-05-10").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("【对外界的兴趣和关心】未填写") && page.contains("field-error"),
        "{page}"
    );
    assert!(page.contains("value=\"2026-05-10\""), "the date is kept");
    answers.push(("interest", "2"));
    answers.retain(|(k, _)| *k != "marriage");
    answers.push(("marriage", "9"));
    let r = post(answers.clone(), "2026-05-10").await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    answers.retain(|(k, _)| *k != "interest");
    answers.push(("interest", "0"));
    let r = post(answers, "2026-11-10").await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let person = c
        .get(app.url(&location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        person.contains("评估已保存")
            && person.contains("康复评估")
            && person.contains("有社会功能缺陷")
            && person.contains("无明显社会功能缺陷"),
        "{person}"
    );
    assert!(
        person.contains("<polyline") && person.contains("2026-05-10：2 分"),
        "the totals are charted: {person}"
    );

    // The API: the instruments, a PSP refused then scored, the list.
    let list: serde_json::Value = c
        .get(app.url("/api/v1/instruments"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|i| i["code"] == "psp" && i["total"]["kind"] == "rated"),
        "{list}"
    );
    let psp = |score: &str| {
        serde_json::json!({"instrument": "psp", "assessed_on": "2026-11-20", "assessor": "王医生",
        "answers": {"useful_activities": "manifest", "relationships": "mild", "self_care": "absent", "disturbing": "absent", "score": score}})
    };
    let r = c
        .post(app.url(&format!("/api/v1/persons/{id}/assessments")))
        .header("x-csrf-token", csrf.as_str())
        .json(&psp("120"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["problems"][0]["key"], "score", "{body}");
    let r = c
        .post(app.url(&format!("/api/v1/persons/{id}/assessments")))
        .header("x-csrf-token", csrf.as_str())
        .json(&psp("65"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["scored"]["band"]
            .as_str()
            .unwrap()
            .starts_with("61–70"),
        "{body}"
    );
    let all: serde_json::Value = c
        .get(app.url(&format!("/api/v1/persons/{id}/assessments")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        all.as_array()
            .unwrap()
            .iter()
            .map(|a| a["total"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![2, 0, 65]
    );
    assert!(
        app.audit_actions()
            .await
            .iter()
            .filter(|a| *a == "assessment.record")
            .count()
            == 3
    );
}

/// A site worker records a week of a group's sessions in one entry: the days of this week ticked,
/// the participants ticked once (refused first without them, the rest kept); every day is one
/// session with every participant; the person page lists them; the API refuses and records too.
async fn a_week_of_group_sessions_in_one_entry(app: App) {
    let (c, csrf, _) = session_for(&app, "sv-worker", Role::Worker, &app.town_b).await;
    let scope = Scope::of(app.tree.get(&app.town_b).unwrap());
    let ids: Vec<i64> = {
        let mut tx = app.db.begin().await.unwrap();
        let list = jingkang_core::store::persons::list(
            &mut tx,
            &scope,
            &jingkang_core::store::persons::ListFilter {
                limit: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        list.into_iter().map(|p| p.id).collect()
    };
    for id in &ids {
        on_pool!(&app.db, p => sqlx::query("UPDATE persons SET registration_state = 'in_service' WHERE id = $1").bind(*id).execute(p).await.map(drop)).unwrap();
    }
    let form = c
        .get(app.url("/services/new"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("社交技能训练") && form.contains("机构"),
        "{form}"
    );
    let today = jingkang_web::entry::today();
    let day = today.to_string();
    let yesterday = (today - chrono::Duration::days(1)).to_string();
    let mut fields: Vec<(&str, String)> = vec![
        ("csrf", csrf.clone()),
        ("item", "social_skills".into()),
        ("mode", "institution".into()),
        ("dates", day.clone()),
        ("other_date", yesterday.clone()),
        ("start", "09:00".into()),
        ("end", "10:30".into()),
        ("staff", "李社工".into()),
    ];
    let r = c
        .post(app.url("/services"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("请至少选择一名参加者") && page.contains("李社工"),
        "{page}"
    );
    for id in &ids {
        fields.push(("participants", id.to_string()));
    }
    let r = c
        .post(app.url("/services"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let list = c
        .get(app.url(&location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        list.contains(&format!("已保存 2 次服务，每次 {} 名参加者", ids.len()))
            && list.contains("社交技能训练"),
        "{list}"
    );
    let person = c
        .get(app.url(&format!("/persons/{}", ids[0])))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        person.contains("康复服务")
            && person.contains(&yesterday)
            && person.contains("09:00–10:30"),
        "{person}"
    );
    // The API: a participant out of scope refuses the whole entry.
    let out = app.person_in(&app.town_a).await;
    let body = |participants: Vec<i64>| serde_json::json!({"item": "medication", "mode": "home", "dates": [day], "start": "14:00", "end": "15:00", "staff": "李社工", "participants": participants});
    let r = c
        .post(app.url("/api/v1/services"))
        .header("x-csrf-token", csrf.as_str())
        .json(&body(vec![ids[0], out]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["problems"][0]["code"],
        "service-participant-unknown"
    );
    let r = c
        .post(app.url("/api/v1/services"))
        .header("x-csrf-token", csrf.as_str())
        .json(&body(vec![ids[0]]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let all: serde_json::Value = c
        .get(app.url("/api/v1/services"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 3);
    // The sessions of one day as .xlsx (a bad range refused, the dates kept), audited with the reason.
    let r = c
        .post(app.url("/services/export"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("from", day.as_str()),
            ("to", yesterday.as_str()),
            ("reason", "月报"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("服务日期有误") && page.contains(&format!("value=\"{yesterday}\"")),
        "{page}"
    );
    let mut wb = download_list(
        &app,
        &c,
        "/services/export",
        &[
            ("csrf", csrf.clone()),
            ("from", yesterday.clone()),
            ("to", yesterday.clone()),
        ],
    )
    .await;
    let rows = sheet_rows(&mut wb, "康复服务");
    let sessions: Vec<&Vec<String>> = rows
        .iter()
        .filter(|r| r.get(1) == Some(&yesterday))
        .collect();
    assert_eq!(sessions.len(), 1, "{rows:?}");
    assert_eq!(
        (
            sessions[0][3].as_str(),
            sessions[0][5].as_str(),
            sessions[0][6].as_str()
        ),
        ("社交技能训练", &*ids.len().to_string(), "李社工")
    );
    let detail: String = on_pool!(&app.db, p => sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'service.export'").fetch_one(p).await).unwrap();
    assert!(
        detail.contains("年度检查") && detail.contains("\"results\":1"),
        "{detail}"
    );
}

/// 规范服务 for the last whole quarter: one person with a plan, an assessment and a contact in every
/// month counts; the page shows the rate, each condition, and the rule beside them.
async fn standard_service_rate_with_its_rule(app: App) {
    use chrono::Datelike;
    use jingkang_core::care::standard::Period;
    let (c, csrf, _) = session_for(&app, "st-town", Role::Township, &app.town_a).await;
    let scope = Scope::of(app.tree.get(&app.town_a).unwrap());
    let id = app.person_in(&app.town_a).await;
    on_pool!(&app.db, p => sqlx::query("UPDATE persons SET registration_state = 'in_service' WHERE residence_region >= $1 AND residence_region < $2")
        .bind(scope.bounds().0).bind(scope.bounds().1).execute(p).await.map(drop)).unwrap();
    let today = jingkang_web::entry::today();
    let this = Period::quarter(today.year(), (today.month() - 1) / 3 + 1).unwrap();
    let before = this.start - chrono::Duration::days(1);
    let q = Period::quarter(before.year(), (before.month() - 1) / 3 + 1).unwrap();
    let actor = Actor::user("st-town");
    let catalogue = jingkang_core::care::service::ServiceCatalogue::shipped().unwrap();
    let mut tx = app.db.begin().await.unwrap();
    let plan = jingkang_core::store::plans::NewPlan {
        goals: "规律服药".into(),
        items: vec![jingkang_core::store::plans::PlanItem {
            item: "medication".into(),
            per_month: 1,
        }],
        responsible: "李社工".into(),
        starts_on: q.start,
        review_on: None,
        signed_on: None,
        signed_by: None,
    };
    jingkang_core::store::plans::record(&mut tx, &scope, &actor, &catalogue, id, &plan)
        .await
        .unwrap()
        .unwrap();
    let answers = [
        "work",
        "marriage",
        "parenting",
        "withdrawal",
        "outside_activity",
        "home_activity",
        "family_role",
        "self_care",
        "interest",
        "responsibility",
    ]
    .into_iter()
    .map(|k| (k.to_string(), "0".to_string()))
    .collect();
    let instruments = jingkang_core::care::instrument::Catalogue::shipped().unwrap();
    jingkang_core::store::assessments::record(
        &mut tx,
        &scope,
        &actor,
        instruments.get("sdss").unwrap(),
        id,
        &jingkang_core::store::assessments::NewAssessment {
            assessed_on: q.start,
            assessor: "李社工".into(),
            answers,
        },
        today,
    )
    .await
    .unwrap()
    .unwrap();
    let dates: Vec<String> = q
        .months()
        .iter()
        .map(|(y, m)| format!("{y:04}-{m:02}-10"))
        .collect();
    let input = jingkang_core::care::service::SessionInput {
        item: "medication".into(),
        mode: "home".into(),
        dates,
        start: "09:00".into(),
        end: "10:00".into(),
        staff: "李社工".into(),
        participants: vec![id],
        notes: String::new(),
    };
    jingkang_core::store::services::record(
        &mut tx,
        &scope,
        &actor,
        &jingkang_core::care::service::validate(&catalogue, &input, today).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    let page = c
        .get(app.url("/standard"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let town = app.tree.get(&app.town_a).unwrap().name.clone();
    assert!(
        page.contains(&q.label_zh()) && page.contains("口径：规范服务：") && page.contains(&town),
        "{page}"
    );
    let registered: i64 = on_pool!(&app.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM persons WHERE residence_region >= $1 AND residence_region < $2")
        .bind(scope.bounds().0).bind(scope.bounds().1).fetch_one(p).await).unwrap();
    let expected = format!("{:.1}%", 100.0 / registered as f64);
    assert!(
        page.contains(&expected),
        "one of {registered} is standard ({expected}): {page}"
    );
    let bad = c
        .get(app.url("/standard?quarter=2026Q7"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("2026Q3"));
    // The table as .xlsx: a reason first; the township's row and the total, audited with it.
    let quarter = format!(
        "{}Q{}",
        chrono::Datelike::year(&q.start),
        (chrono::Datelike::month(&q.start) - 1) / 3 + 1
    );
    let r = c
        .post(app.url("/standard/export"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("quarter", quarter.as_str()),
            ("reason", " "),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("请填写导出原因"));
    let r = c
        .post(app.url("/standard/export"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("quarter", quarter.as_str()),
            ("reason", "季度督导"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(r.bytes().await.unwrap().to_vec()))
            .unwrap();
    let sheet = calamine::Reader::worksheet_range(&mut wb, "规范服务率").unwrap();
    let row_of = |name: &str| {
        (0..sheet.height() as u32)
            .find(|r| sheet.get_value((*r, 1)) == Some(&calamine::Data::String(name.into())))
            .unwrap()
    };
    let (t, total) = (row_of(&town), row_of("合计"));
    assert_eq!(
        sheet.get_value((t, 2)).and_then(calamine::DataType::as_f64),
        Some(registered as f64)
    );
    assert_eq!(
        sheet.get_value((t, 3)).and_then(calamine::DataType::as_f64),
        Some(1.0)
    );
    assert_eq!(
        sheet
            .get_value((total, 3))
            .and_then(calamine::DataType::as_f64),
        Some(1.0)
    );
    let detail: String = on_pool!(&app.db, p => sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'standard.export'").fetch_one(p).await).unwrap();
    assert!(detail.contains("季度督导"), "{detail}");
}

/// A worker writes a person's first plan (refused first, every problem beside its field), the
/// person page shows it and, its review date passed, the review worklist lists the person; a
/// second version through the API takes the person off the list and keeps the first; another
/// township's worker sees none of it.
async fn plans_keep_versions_and_come_up_for_review(app: App) {
    let (c, csrf, _) = session_for(&app, "pl-worker", Role::Worker, &app.town_a).await;
    let id = app.person_in(&app.town_a).await;
    on_pool!(&app.db, p => sqlx::query("UPDATE persons SET registration_state = 'in_service' WHERE id = $1").bind(id).execute(p).await.map(drop)).unwrap();
    let name = app
        .all_persons()
        .await
        .into_iter()
        .find(|p| p.id == id)
        .unwrap()
        .record
        .data
        .name;
    let form = c
        .get(app.url(&format!("/persons/{id}/plans/new")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("这是此人的第一份康复计划")
            && form.contains("服药训练")
            && form.contains("per_month_social_skills"),
        "{form}"
    );
    let today = jingkang_web::entry::today();
    let start = (today - chrono::Duration::days(200)).to_string();
    let post = |pairs: Vec<(&str, String)>| {
        let mut f: Vec<(String, String)> = vec![("csrf".into(), csrf.clone())];
        f.extend(pairs.into_iter().map(|(k, v)| (k.to_string(), v)));
        c.post(app.url(&format!("/persons/{id}/plans")))
            .form(&f)
            .send()
    };
    let r = post(vec![
        ("goals", " ".into()),
        ("per_month_medication", "40".into()),
        ("responsible", "李社工".into()),
        ("starts_on", start.clone()),
        ("signed_on", today.to_string()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("请填写康复目标")
            && page.contains("每项每月 1 至 31 次")
            && page.contains("须同时填写")
            && page.contains("value=\"40\""),
        "{page}"
    );
    let r = post(vec![
        ("goals", "规律服药，恢复社交".into()),
        ("per_month_medication", "4".into()),
        ("per_month_social_skills", "2".into()),
        ("responsible", "李社工".into()),
        ("starts_on", start.clone()),
        ("signed_on", start.clone()),
        ("signed_by", "guardian".into()),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/persons/{id}?plan=1#plans"));
    let person = c
        .get(app.url(&location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        person.contains("康复计划第 1 版已保存")
            && person.contains("服药训练 每月 4 次")
            && person.contains("社交技能训练 每月 2 次")
            && person.contains("（待复核）")
            && person.contains(&format!("监护人于 {start} 签字")),
        "{person}"
    );
    let list = c
        .get(app.url("/worklists/plans"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        list.contains("康复计划待复核")
            && list.contains(&format!("/persons/{id}#plans"))
            && list.contains(&name),
        "{list}"
    );
    let api: serde_json::Value = c
        .get(app.url("/api/v1/worklists/plans"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(api.to_string().contains(&format!("\"id\":{id}")), "{api}");

    // A review through the API: a new version, the old one kept, off the list.
    let bad = serde_json::json!({"goals": "独立生活", "items": [{"item": "yoga", "per_month": 1}], "responsible": "", "starts_on": today});
    let r = c
        .post(app.url(&format!("/api/v1/persons/{id}/plans")))
        .header("x-csrf-token", csrf.as_str())
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = r.json().await.unwrap();
    let fields: Vec<&str> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["items", "responsible"], "{body}");
    let good = serde_json::json!({"goals": "独立生活", "items": [{"item": "living_skills", "per_month": 8}], "responsible": "王社工", "starts_on": today});
    let r = c
        .post(app.url(&format!("/api/v1/persons/{id}/plans")))
        .header("x-csrf-token", csrf.as_str())
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["version"], 2);
    let all: serde_json::Value = c
        .get(app.url(&format!("/api/v1/persons/{id}/plans")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let all = all.as_array().unwrap();
    assert_eq!(
        all.iter()
            .map(|p| p["version"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(all[0]["items"][0]["item"], "living_skills");
    assert_eq!(
        all[0]["review_on"],
        serde_json::json!(today.checked_add_months(chrono::Months::new(6)).unwrap())
    );
    let list = c
        .get(app.url("/worklists/plans"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!list.contains(&format!("/persons/{id}#plans")), "{list}");
    let form = c
        .get(app.url(&format!("/persons/{id}/plans/new")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("保存后成为第 3 版")
            && form.contains("独立生活")
            && form.contains("value=\"8\""),
        "the form starts from the current version: {form}"
    );
    let person = c
        .get(app.url(&format!("/persons/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        person.contains("历次版本（1）") && person.contains("规律服药，恢复社交"),
        "{person}"
    );

    let (other, other_csrf, _) = session_for(&app, "pl-other", Role::Worker, &app.town_b).await;
    assert_eq!(
        other
            .get(app.url(&format!("/api/v1/persons/{id}/plans")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let r = other
        .post(app.url(&format!("/api/v1/persons/{id}/plans")))
        .header("x-csrf-token", other_csrf.as_str())
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let other_list = other
        .get(app.url("/worklists/plans"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !other_list.contains(&format!("/persons/{id}#")),
        "{other_list}"
    );
    assert_eq!(
        app.audit_actions()
            .await
            .iter()
            .filter(|a| *a == "plan.record")
            .count(),
        2
    );
}

/// A new session for an existing user (after their site changed, which ends their sessions).
async fn new_session(app: &App, username: &str) -> (reqwest::Client, String) {
    let mut tx = app.db.begin().await.unwrap();
    let user = store_accounts::find_user(&mut tx, username)
        .await
        .unwrap()
        .unwrap();
    let (token, session) = store_accounts::create_session(&mut tx, &user, true)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(&format!("jk_session={token}"), &app.base.parse().unwrap());
    (
        reqwest::Client::builder()
            .cookie_provider(jar)
            .redirect(Policy::none())
            .build()
            .unwrap(),
        session.csrf,
    )
}

/// 民政 registers two sites of a township (a mistyped credit code refused first), adds staff with
/// certificates and training through the API, and puts persons in each site's care; the admin
/// makes two workers staff of one site each: each sees only the persons of their own site, on
/// every page and in the API, and cannot write for the other's; the township still sees all.
async fn institutions_staff_and_site_scope(app: App) {
    let (civil, csrf, _) = session_for(&app, "in-civil", Role::Civil, COUNTY).await;
    let form = civil
        .get(app.url("/institutions/new"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("统一社会信用代码") && form.contains("渝康家园"),
        "{form}"
    );
    let fields = |name: &str, code: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", name.to_string()),
            ("kind", "site".into()),
            ("urban", "1".into()),
            ("region", app.town_b.clone()),
            ("address", "新华路 1 号".into()),
            ("capacity", "30".into()),
            ("operator", "心翼社工中心".into()),
            ("operator_code", code.to_string()),
            ("opened_on", "2025-03-01".into()),
            ("status", "operating".into()),
        ]
    };
    let r = civil
        .post(app.url("/institutions"))
        .form(&fields("甲站", "91110108551385082A"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("校验位不对") && page.contains("value=\"甲站\""),
        "{page}"
    );
    let mut sites = Vec::new();
    for name in ["甲站", "乙站"] {
        let r = civil
            .post(app.url("/institutions"))
            .form(&fields(name, "91110108551385082q"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let loc = location(&r);
        sites.push(
            loc.trim_start_matches("/institutions/")
                .split('?')
                .next()
                .unwrap()
                .parse::<i64>()
                .unwrap(),
        );
    }
    let (a, b) = (sites[0], sites[1]);
    // Staff through the API: one certified with 24 hours, one without a certificate with 6.
    let member = |name: &str, quals: serde_json::Value| serde_json::json!({"institution_id": a, "name": name, "position": "社工", "hired_on": "2025-03-01", "qualifications": quals});
    let cert = serde_json::json!([{"kind": "social_worker", "number": "SW001", "issued_on": "2024-06-01"}]);
    let mut staff = Vec::new();
    for (name, q) in [("李社工", cert), ("王护士", serde_json::json!([]))] {
        let r = civil
            .post(app.url("/api/v1/staff"))
            .header("x-csrf-token", csrf.as_str())
            .json(&member(name, q))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        staff.push(
            r.json::<serde_json::Value>().await.unwrap()["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let today = jingkang_web::entry::today();
    for (sid, hours) in [(staff[0], 24.0), (staff[1], 6.0)] {
        let t = serde_json::json!({"trained_on": today, "topic": "危机干预", "hours": hours});
        let r = civil
            .post(app.url(&format!("/api/v1/staff/{sid}/trainings")))
            .header("x-csrf-token", csrf.as_str())
            .json(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let bad = serde_json::json!({"trained_on": today, "topic": "", "hours": 0});
    let r = civil
        .post(app.url(&format!("/api/v1/staff/{}/trainings", staff[1])))
        .header("x-csrf-token", csrf.as_str())
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["problems"].as_array().unwrap().len(), 2, "{body}");
    let list = civil
        .get(app.url("/staff"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        list.contains("培训学时不足：<strong class=\"warn\">1</strong> 人")
            && list.contains("6（不足）"),
        "{list}"
    );
    // Both lists as .xlsx, each with a reason, audited.
    let mut wb = download_list(
        &app,
        &civil,
        "/institutions/export",
        &[("csrf", csrf.clone())],
    )
    .await;
    let rows = sheet_rows(&mut wb, "康复机构");
    let jia = rows
        .iter()
        .find(|r| r.get(1).map(String::as_str) == Some("甲站"))
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(
        (jia[8].as_str(), jia[9].as_str()),
        ("2", "1 / 2（50%）"),
        "{jia:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.get(1).map(String::as_str) == Some("乙站"))
    );
    let mut wb = download_list(&app, &civil, "/staff/export", &[("csrf", csrf.clone())]).await;
    let rows = sheet_rows(&mut wb, "工作人员");
    let wang = rows
        .iter()
        .find(|r| r.get(1).map(String::as_str) == Some("王护士"))
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(
        (
            wang[2].as_str(),
            wang[6].as_str(),
            wang[7].as_str(),
            wang[8].as_str()
        ),
        ("甲站", "否", "6", "不足"),
        "{wang:?}"
    );
    let actions = app.audit_actions().await;
    assert!(
        actions.iter().any(|a| a == "institution.export")
            && actions.iter().any(|a| a == "staff.export"),
        "{actions:?}"
    );
    let api: serde_json::Value = civil
        .get(app.url("/api/v1/institutions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ia = api
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == a)
        .unwrap();
    assert_eq!(
        (
            ia["staff"].as_i64(),
            ia["qualified_staff"].as_i64(),
            ia["operator_code"].as_str()
        ),
        (Some(2), Some(1), Some("91110108551385082Q"))
    );

    // Two persons in site a's care (one through the page), one in site b's.
    let scope_b = Scope::of(app.tree.get(&app.town_b).unwrap());
    let mut tx = app.db.begin().await.unwrap();
    let people: Vec<i64> = persons::list(&mut tx, &scope_b, &persons::ListFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .take(3)
        .collect();
    tx.commit().await.unwrap();
    on_pool!(&app.db, p => sqlx::query("UPDATE persons SET registration_state = 'in_service'").execute(p).await.map(drop)).unwrap();
    let r = civil
        .post(app.url(&format!("/institutions/{a}/persons")))
        .form(&[
            ("csrf", csrf.clone()),
            ("persons", people[0].to_string()),
            ("persons", people[1].to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        location(&r),
        format!("/institutions/{a}?assigned=2#persons")
    );
    let r = civil
        .post(app.url(&format!("/api/v1/institutions/{b}/persons")))
        .header("x-csrf-token", csrf.as_str())
        .json(&serde_json::json!({"persons": [people[2]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = civil
        .get(app.url(&format!("/institutions/{a}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("服务对象（2 人）")
            && page.contains(&format!("/persons/{}", people[0]))
            && page.contains("李社工"),
        "{page}"
    );

    // The admin makes two workers staff of a site each.
    let (admin, admin_csrf, _) = session_for(&app, "in-admin", Role::Admin, COUNTY).await;
    for (name, site) in [("in-worker-a", a), ("in-worker-b", b)] {
        let (_, _, uid) = session_for(&app, name, Role::Worker, &app.town_b).await;
        let r = admin
            .post(app.url(&format!("/admin/users/{uid}/site")))
            .form(&[("csrf", admin_csrf.as_str()), ("site", &site.to_string())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let (wa, wa_csrf) = new_session(&app, "in-worker-a").await;
    let (wb, _) = new_session(&app, "in-worker-b").await;
    let (town, _, _) = session_for(&app, "in-town", Role::Township, &app.town_b).await;
    let ids_in = |html: &str| {
        people
            .iter()
            .map(|id| html.contains(&format!("/persons/{id}\"")))
            .collect::<Vec<_>>()
    };
    let list_a = wa
        .get(app.url("/persons"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let list_b = wb
        .get(app.url("/persons"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let list_t = town
        .get(app.url("/persons"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        (ids_in(&list_a), ids_in(&list_b), ids_in(&list_t)),
        (
            vec![true, true, false],
            vec![false, false, true],
            vec![true, true, true]
        )
    );
    for (c, id, seen) in [
        (&wa, people[0], true),
        (&wb, people[0], false),
        (&wb, people[2], true),
        (&wa, people[2], false),
    ] {
        let want = if seen {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(
            c.get(app.url(&format!("/persons/{id}")))
                .send()
                .await
                .unwrap()
                .status(),
            want,
            "page {id}"
        );
        assert_eq!(
            c.get(app.url(&format!("/api/v1/persons/{id}")))
                .send()
                .await
                .unwrap()
                .status(),
            want,
            "api {id}"
        );
    }
    assert_eq!(
        wb.get(app.url(&format!("/institutions/{a}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let plan = serde_json::json!({"goals": "独立生活", "items": [{"item": "living_skills", "per_month": 4}], "responsible": "甲站社工", "starts_on": today});
    let r = wa
        .post(app.url(&format!("/api/v1/persons/{}/plans", people[2])))
        .header("x-csrf-token", wa_csrf.as_str())
        .json(&plan)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "no writing for another site's person"
    );
    let respite = serde_json::json!({"person_id": people[2], "from_date": today, "to_date": today, "provider": "甲站", "hours": 2});
    let r = wa
        .post(app.url("/api/v1/family/respite"))
        .header("x-csrf-token", wa_csrf.as_str())
        .json(&respite)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["problems"][0]["code"],
        "family-persons-unknown",
        "family support keeps to the site too"
    );
    let r = wa
        .post(app.url(&format!("/api/v1/persons/{}/plans", people[0])))
        .header("x-csrf-token", wa_csrf.as_str())
        .json(&plan)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let actions = app.audit_actions().await;
    assert!(
        actions.iter().filter(|a| *a == "person.site").count() == 3
            && actions.iter().filter(|a| *a == "user.site").count() == 2,
        "{actions:?}"
    );
}

/// 家庭支持 end to end: a site worker records a caregiver training (the family members ticked
/// from the township's persons, refused first with every problem named), a respite episode, a
/// group with its members and a meeting (attendance once for all), a peer supporter; the person
/// page shows the family's part; the API reads and records the same, refuses a bad entry with 422
/// and Chinese messages by field; a user of another township sees none of it.
async fn family_support_pages_and_api(app: App) {
    let (c, csrf, _) = session_for(&app, "fs-worker", Role::Worker, &app.town_b).await;
    let ids: Vec<i64> = app
        .persons_in(&app.town_b, 3)
        .await
        .into_iter()
        .map(|p| p.id)
        .collect();
    let page = c
        .get(app.url("/family"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("家属护理培训")
            && page.contains("尚无培训记录")
            && page.contains("href=\"/family/trainings/new\""),
        "{page}"
    );
    let form = c
        .get(app.url("/family/trainings/new"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains(&format!("name=\"name_{}\"", ids[0])) && form.contains("兄弟姐妹"),
        "{form}"
    );

    // A training: refused with every problem, then recorded.
    let day = jingkang_web::entry::today().to_string();
    let mut fields: Vec<(String, String)> = vec![
        ("csrf".into(), csrf.clone()),
        ("held_on".into(), day.clone()),
        ("topic".into(), " ".into()),
        ("hours".into(), "1.25".into()),
        ("trainer".into(), "王医生".into()),
    ];
    let r = c
        .post(app.url("/family/trainings"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("请填写培训主题")
            && body.contains("以半小时为单位")
            && body.contains("请至少选择一名参加培训的家属")
            && body.contains("王医生"),
        "{body}"
    );
    fields[2].1 = "服药照护与复发先兆".into();
    fields[3].1 = "1.5".into();
    for (id, name, relation) in [(ids[0], "张母", "parent"), (ids[1], "李妻", "spouse")] {
        fields.extend([
            ("person".to_string(), id.to_string()),
            (format!("name_{id}"), name.to_string()),
            (format!("relation_{id}"), relation.to_string()),
        ]);
    }
    let r = c
        .post(app.url("/family/trainings"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), location(&r)),
        (StatusCode::SEE_OTHER, "/family?saved=training".to_string())
    );
    let page = c
        .get(app.url("/family?saved=training"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("已保存家属护理培训记录") && page.contains("服药照护与复发先兆"),
        "{page}"
    );

    // Respite from the form; the person page shows the family's part.
    let first = ids[0].to_string();
    let respite = [
        ("csrf", csrf.as_str()),
        ("person_id", first.as_str()),
        ("from_date", day.as_str()),
        ("to_date", day.as_str()),
        ("provider", "万盛康复站"),
        ("hours", "8"),
        ("notes", ""),
    ];
    let r = c
        .post(app.url("/family/respite"))
        .form(&respite)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let person = c
        .get(app.url(&format!("/persons/{}", ids[0])))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        person.contains("家庭支持")
            && person.contains("万盛康复站")
            && person.contains("张母（父母）"),
        "{person}"
    );

    // A group through the API, a meeting through its page.
    let group = serde_json::json!({"name": "阳光家属小组", "facilitator": "李社工", "started_on": day,
        "members": [{"person_id": ids[0], "name": "张母", "relation": "parent"}, {"person_id": ids[2], "name": "王父", "relation": "父母"}]});
    let r = c
        .post(app.url("/api/v1/family/groups"))
        .header("x-csrf-token", csrf.as_str())
        .json(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let gid = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let detail: serde_json::Value = c
        .get(app.url(&format!("/api/v1/family/groups/{gid}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let members: Vec<i64> = detail["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(members.len(), 2, "{detail}");
    let mut meeting: Vec<(String, String)> = vec![
        ("csrf".into(), csrf.clone()),
        ("held_on".into(), day.clone()),
        ("topic".into(), "照护压力与自我调适".into()),
    ];
    let r = c
        .post(app.url(&format!("/family/groups/{gid}/meetings")))
        .form(&meeting)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("请至少勾选一名出席的成员"));
    meeting.extend(
        members
            .iter()
            .map(|m| ("attendees".to_string(), m.to_string())),
    );
    let r = c
        .post(app.url(&format!("/family/groups/{gid}/meetings")))
        .form(&meeting)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), location(&r)),
        (
            StatusCode::SEE_OTHER,
            format!("/family/groups/{gid}?saved=meeting")
        )
    );
    let page = c
        .get(app.url(&format!("/family/groups/{gid}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("照护压力与自我调适") && page.contains("张母（") && page.contains("王父（"),
        "{page}"
    );
    let r = c
        .post(app.url(&format!("/api/v1/family/groups/{gid}/meetings")))
        .header("x-csrf-token", csrf.as_str())
        .json(
            &serde_json::json!({"held_on": "2000-01-01", "topic": "x", "attendees": [members[0]]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["problems"][0]["code"],
        "family-meeting-before-start"
    );

    // The API: round trips, and a bad entry refused by field in Chinese.
    let trainings: serde_json::Value = c
        .get(app.url("/api/v1/family/trainings"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            trainings[0]["training"]["hours"].as_f64(),
            trainings[0]["attendees"].as_array().unwrap().len()
        ),
        (Some(1.5), 2),
        "{trainings}"
    );
    let bad = serde_json::json!({"person_id": ids[1], "from_date": day, "to_date": "2000-01-01", "provider": "", "hours": 0});
    let r = c
        .post(app.url("/api/v1/family/respite"))
        .header("x-csrf-token", csrf.as_str())
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused: serde_json::Value = r.json().await.unwrap();
    let fields: Vec<&str> = refused["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["to_date", "provider", "hours"], "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("请填写服务提供方"),
        "{refused}"
    );
    let respite: serde_json::Value = c
        .get(app.url("/api/v1/family/respite"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        respite.as_array().unwrap().len(),
        1,
        "the refused entry wrote nothing"
    );
    let r = c.post(app.url("/api/v1/family/peers")).header("x-csrf-token", csrf.as_str())
        .json(&serde_json::json!({"name": "周康复", "person_id": ids[2], "trained_on": day, "hours": 4})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let pid = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = c
        .post(app.url(&format!("/api/v1/family/peers/{pid}")))
        .header("x-csrf-token", csrf.as_str())
        .json(&serde_json::json!({"add_hours": 2.5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let peers: serde_json::Value = c
        .get(app.url("/api/v1/family/peers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (peers[0]["hours"].as_f64(), peers[0]["person_id"].as_i64()),
        (Some(6.5), Some(ids[2])),
        "{peers}"
    );
    let doc: serde_json::Value = c
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/family/trainings",
        "/api/v1/family/respite",
        "/api/v1/family/groups",
        "/api/v1/family/groups/{gid}/meetings",
        "/api/v1/family/peers",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
    let mut wb = download_list(&app, &c, "/family/export", &[("csrf", csrf.clone())]).await;
    let text = |wb: &mut calamine::Xlsx<_>, sheet| sheet_rows(wb, sheet).concat().join("|");
    assert!(
        text(&mut wb, "家属护理培训").contains("服药照护与复发先兆")
            && text(&mut wb, "喘息服务").contains("万盛康复站")
    );
    assert!(
        text(&mut wb, "家属互助小组").contains("阳光家属小组")
            && text(&mut wb, "同伴支持者").contains("周康复")
    );
    let actions = app.audit_actions().await;
    for a in [
        "family.export",
        "family.training.record",
        "family.respite.record",
        "family.group.record",
        "family.meeting.record",
        "family.peer.record",
        "family.peer.update",
        "family.list",
        "family.group.read",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a}: {actions:?}");
    }

    // Another township's user sees none of it.
    let (other, other_csrf, _) = session_for(&app, "fs-other", Role::Township, &app.town_a).await;
    let page = other
        .get(app.url("/family"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !page.contains("服药照护与复发先兆")
            && !page.contains("阳光家属小组")
            && !page.contains("万盛康复站")
            && !page.contains("周康复"),
        "{page}"
    );
    assert_eq!(
        other
            .get(app.url(&format!("/family/groups/{gid}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other
            .get(app.url(&format!("/api/v1/family/groups/{gid}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    for list in ["trainings", "respite", "groups", "peers"] {
        let v: serde_json::Value = other
            .get(app.url(&format!("/api/v1/family/{list}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v.as_array().unwrap().len(), 0, "{list}: {v}");
    }
    let r = other
        .post(app.url(&format!("/api/v1/family/groups/{gid}/meetings")))
        .header("x-csrf-token", other_csrf.as_str())
        .json(&serde_json::json!({"held_on": day, "topic": "越权", "attendees": [members[0]]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = other.post(app.url("/api/v1/family/respite")).header("x-csrf-token", other_csrf.as_str())
        .json(&serde_json::json!({"person_id": ids[0], "from_date": day, "to_date": day, "provider": "越权", "hours": 1})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["problems"][0]["code"],
        "family-persons-unknown"
    );
    let count: i64 = on_pool!(&app.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM respite_episodes").fetch_one(p).await).unwrap();
    assert_eq!(count, 1);
}

/// 民政 records a purchase-of-service contract (refused first for a mistyped credit code, the
/// values kept); the page and the API show what it bought from the provider's site's sessions; a
/// township reads it, cannot record one; another county sees nothing.
async fn contracts_page_and_api(app: App) {
    let (civil, csrf, _) = session_for(&app, "ct-civil", Role::Civil, COUNTY).await;
    let county = Scope::of(app.tree.get(COUNTY).unwrap());
    let rules = jingkang_core::care::institution::InstitutionRules::shipped().unwrap();
    let today = jingkang_web::entry::today();
    let new = jingkang_core::store::institutions::NewInstitution {
        name: "甲站".into(),
        kind: "site".into(),
        urban: true,
        region: app.town_a.clone(),
        address: "一号".into(),
        capacity: 10,
        operator: "心翼".into(),
        operator_code: "91110108551385082Q".into(),
        opened_on: None,
        status: "operating".into(),
    };
    let id = app.person_in(&app.town_a).await;
    let mut tx = app.db.begin().await.unwrap();
    let site = jingkang_core::store::institutions::create(
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
    jingkang_core::store::institutions::assign_persons(
        &mut tx,
        &county,
        &Actor::cli(),
        &rules,
        Some(site),
        &[id],
    )
    .await
    .unwrap()
    .unwrap();
    let catalogue = jingkang_core::care::service::ServiceCatalogue::shipped().unwrap();
    let input = jingkang_core::care::service::SessionInput {
        item: "medication".into(),
        mode: "institution".into(),
        dates: vec![today.to_string()],
        start: "09:00".into(),
        end: "10:00".into(),
        staff: "社工".into(),
        participants: vec![id],
        notes: String::new(),
    };
    let session = jingkang_core::care::service::validate(&catalogue, &input, today).unwrap();
    jingkang_core::store::services::record(
        &mut tx,
        &county.clone().at_site(Some(site)),
        &Actor::cli(),
        &session,
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    let start = format!("{}-01-01", chrono::Datelike::year(&today));
    let end = format!("{}-12-31", chrono::Datelike::year(&today));
    let form = |code: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("region", COUNTY.to_string()),
            ("buyer", "綦江区民政局".into()),
            ("provider", "心翼社工中心".into()),
            ("provider_code", code.to_string()),
            ("starts_on", start.clone()),
            ("ends_on", end.clone()),
            ("budget_yuan", "30,000".into()),
        ]
    };
    let r = civil
        .post(app.url("/contracts"))
        .form(&form("91110108551385082"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("统一社会信用代码应为 18 位") && page.contains("value=\"心翼社工中心\""),
        "{page}"
    );
    let r = civil
        .post(app.url("/contracts"))
        .form(&form("91110108551385082Q"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = civil
        .get(app.url(&location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("购买服务合同已登记")
            && page.contains("30,000 元")
            && page.contains("（未达计划）"),
        "one served of three planned: {page}"
    );
    let api: serde_json::Value = civil
        .get(app.url("/api/v1/contracts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            api[0]["persons_served"].as_i64(),
            api[0]["spend_per_person_yuan"].as_i64(),
            api[0]["planned_persons"].as_i64()
        ),
        (Some(1), Some(30_000), Some(3)),
        "{api}"
    );
    let mut wb = download_list(&app, &civil, "/contracts/export", &[("csrf", csrf.clone())]).await;
    let rows = sheet_rows(&mut wb, "购买服务合同");
    let line = rows
        .iter()
        .find(|r| r.get(3).map(String::as_str) == Some("心翼社工中心"))
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(
        (
            line[4].as_str(),
            line[7].as_str(),
            line[9].as_str(),
            line[10].as_str(),
            line[12].as_str()
        ),
        ("91110108551385082Q", "30000", "3", "1", "30000"),
        "{line:?}"
    );
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|a| a == "contract.export")
    );
    let bad = serde_json::json!({"region": COUNTY, "buyer": "", "provider": "x", "provider_code": "91110108551385082Q", "starts_on": start, "ends_on": end, "budget_yuan": 5});
    let r = civil
        .post(app.url("/api/v1/contracts"))
        .header("x-csrf-token", csrf.as_str())
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["problems"][0]["field"],
        "buyer"
    );
    let (town, _, _) = session_for(&app, "ct-town", Role::Township, &app.town_a).await;
    let seen: serde_json::Value = town
        .get(app.url("/api/v1/contracts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        seen.as_array().unwrap().len(),
        0,
        "the county's contract lies above a township's scope"
    );
    let (other, _, _) = session_for(&app, "ct-other", Role::Civil, "500111").await;
    let seen: serde_json::Value = other
        .get(app.url("/api/v1/contracts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen.as_array().unwrap().len(), 0);
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|a| a == "contract.record")
    );
}

async fn quarterly_report_filled_reviewed_signed(app: App) {
    let (town, town_csrf, _) = session_for(&app, "rp-town", Role::Township, &app.town_a).await;
    let (civil, csrf, _) = session_for(&app, "rp-civil", Role::Civil, COUNTY).await;
    app.person_in(&app.town_a).await;
    let page = town
        .get(app.url("/reports/fujian2?quarter=2026Q3"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("“精康融合行动”推进情况汇总表")
            && page.contains("2026年第3季度")
            && page.contains("本镇街填报"),
        "{page}"
    );
    let fill = |m2: &str, submit: &str| {
        vec![
            ("csrf", town_csrf.clone()),
            ("quarter", "2026Q3".into()),
            ("m2", m2.into()),
            ("m16", "1".into()),
            ("m17", "2".into()),
            ("name", "王填报".into()),
            ("submit", submit.into()),
        ]
    };
    let r = town
        .post(app.url("/reports/fujian2"))
        .form(&fill("三", "1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("第 2 列“派出所登记在册的居家严重精神障碍患者人数”须为 0 至 1000000 的整数")
            && page.contains("value=\"三\""),
        "{page}"
    );
    let r = town
        .post(app.url("/reports/fujian2"))
        .form(&fill("3", "1"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), location(&r)),
        (
            StatusCode::SEE_OTHER,
            "/reports/fujian2?quarter=2026Q3&done=fill".to_string()
        )
    );
    let page = civil
        .get(app.url("/reports/fujian2?quarter=2026Q3"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("已填报，待审核")
            && page.contains("填报 王填报")
            && page.contains("尚未填报"),
        "the other townships have not filed: {page}"
    );
    let fid: i64 = on_pool!(&app.db, p => sqlx::query_scalar("SELECT id FROM report_filings").fetch_one(p).await).unwrap();
    let step = |path: String, form: Vec<(&'static str, String)>| {
        civil.post(app.url(&path)).form(&form).send()
    };
    let r = step(
        format!("/reports/filings/{fid}/review"),
        vec![
            ("csrf", csrf.clone()),
            ("quarter", "2026Q3".into()),
            ("name", "李审核".into()),
            ("decision", "approve".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = step(
        format!("/reports/filings/{fid}/sign"),
        vec![
            ("csrf", csrf.clone()),
            ("quarter", "2026Q3".into()),
            ("name", " ".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a signature needs a name"
    );
    let r = step(
        format!("/reports/filings/{fid}/sign"),
        vec![
            ("csrf", csrf.clone()),
            ("quarter", "2026Q3".into()),
            ("name", "张负责".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        (r.status(), location(&r)),
        (
            StatusCode::SEE_OTHER,
            format!(
                "/reports/fujian2?quarter=2026Q3&done=sign&row={}",
                app.town_a
            )
        )
    );
    let page = civil
        .get(app.url(&location(&r)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The notice says which row was signed and how many of the county's rows remain.
    let town_name = app.tree.get(&app.town_a).unwrap().name.clone();
    let rows = app.tree.townships_under(COUNTY).len();
    assert!(
        page.contains(&format!(
            "已签发{town_name}的报表，该行已冻结；本季度还有 {} 行（共 {rows} 行）未签发",
            rows - 1
        )) && page.contains("签发 张负责"),
        "{page}"
    );
    let r = town
        .post(app.url("/reports/fujian2"))
        .form(&fill("4", "0"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("已签发，不能再修改"));
    // Another county's 民政 does not see the filing at all.
    let (other, other_csrf, _) = session_for(&app, "rp-other", Role::Civil, "500111").await;
    let r = other
        .post(app.url(&format!("/reports/filings/{fid}/correct")))
        .form(&[("csrf", other_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Download: a reason first, then the official layout; audited.
    let r = civil
        .post(app.url("/reports/fujian2/export"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("quarter", "2026Q3"),
            ("reason", " "),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = civil
        .post(app.url("/reports/fujian2/export"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("quarter", "2026Q3"),
            ("reason", "报送区政府"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let bytes = r.bytes().await.unwrap();
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let sheet = calamine::Reader::worksheet_range(&mut wb, "2026Q3").unwrap();
    let row = (0..sheet.height() as u32)
        .find(|r| {
            sheet.get_value((*r, 0))
                == Some(&calamine::Data::String(
                    app.tree.get(&app.town_a).unwrap().name.clone(),
                ))
        })
        .unwrap();
    assert_eq!(
        sheet
            .get_value((row, 2))
            .and_then(calamine::DataType::as_f64),
        Some(3.0),
        "the hand-entered figure as signed"
    );
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|a| a == "report.export")
    );
    let print = civil
        .get(app.url("/reports/fujian2/print?quarter=2026Q3"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        print.contains("单位负责人签字") && !print.contains("主菜单"),
        "{print}"
    );
}

async fn indicators_with_targets_and_the_lists_behind_them(app: App) {
    let (civil, csrf, _) = session_for(&app, "ind-civil", Role::Civil, COUNTY).await;
    let id = app.person_in(&app.town_a).await;
    on_pool!(&app.db, p => sqlx::query("UPDATE persons SET diagnosis_code = 'F20.0', known_since = '2025-01-01' WHERE id = $1").bind(id).execute(p).await.map(drop)).unwrap();
    common::reseal(&app.db).await;
    let name: String = on_pool!(&app.db, p => sqlx::query_scalar("SELECT name FROM persons WHERE id = $1").bind(id).fetch_one(p).await).unwrap();
    let severe = common::diagnoses(&app.db, &app.town_a)
        .await
        .iter()
        .filter(|(_, dx)| dx.as_deref().is_some_and(|d| d.starts_with("F20")))
        .count();
    let page = civil
        .get(app.url("/indicators?quarter=2026Q3"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for text in [
        "工作指标",
        "街镇覆盖率",
        "规范服务率",
        "管理率",
        "规范管理率",
        "服药率",
        "规律服药率",
        "病情不稳定患者个案管理率",
        "康复机构街镇覆盖率",
        "2026年目标 ≥ 80%",
        "未设目标",
        "定义：在管患者数 ÷ 在册患者数",
        "data-chart=\"bar-management_rate\" data-spec=",
        "/static/vendor/echarts-6.1.0.min.js",
        "hx-get=\"/indicators/trend?region=500110&amp;quarter=2026Q3\"",
    ] {
        assert!(page.contains(text), "{text}: {page}");
    }
    // The four quarters' totals come after the page.
    let trend = civil
        .get(app.url("/indicators/trend?quarter=2026Q3"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for text in [
        "近四个季度合计",
        "2025Q4",
        "2026Q3",
        "data-chart=\"line-management_rate\"",
        "line-institution_coverage",
    ] {
        assert!(trend.contains(text), "{text}: {trend}");
    }
    assert!(!trend.contains("<html"), "a part of the page");
    // 管理率 of town_a: nobody followed up, so 0 of the severe persons there; the gap lists them.
    let gap = format!(
        "/indicators/list?code=management_rate&amp;region={}&amp;quarter=2026Q3&amp;part=gap\">{severe}</a>",
        app.town_a
    );
    assert!(page.contains(&gap), "{gap}: {page}");
    let list = civil
        .get(app.url(&format!(
            "/indicators/list?code=management_rate&region={}&quarter=2026Q3&part=gap",
            app.town_a
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    let list = list.text().await.unwrap();
    assert!(
        list.contains("管理率 · 未达")
            && list.contains(&name)
            && list.contains(&format!("/persons/{id}")),
        "{list}"
    );
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|a| a == "indicator.list")
    );
    // A township below the county opens its own board; outside the area answers as unknown.
    let town = civil
        .get(app.url(&format!("/indicators?region={}&quarter=2026Q3", app.town_a)))
        .send()
        .await
        .unwrap();
    assert_eq!(town.status(), StatusCode::OK);
    assert_eq!(
        civil
            .get(app.url("/indicators?region=500111"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    let r = civil
        .get(app.url("/indicators/list?code=nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("没有这项指标"));
    // The download needs a reason, and is audited with it.
    let form = |reason: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("code", "management_rate".into()),
            ("region", app.town_a.clone()),
            ("quarter", "2026Q3".into()),
            ("part", "gap".into()),
            ("reason", reason.into()),
        ]
    };
    let r = civil
        .post(app.url("/indicators/export"))
        .form(&form(" "))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = civil
        .post(app.url("/indicators/export"))
        .form(&form("季度督导"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let bytes = r.bytes().await.unwrap();
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let sheet = calamine::Reader::worksheet_range(&mut wb, "管理率").unwrap();
    // The numbered rows are the persons.
    let names: Vec<String> = (0..sheet.height() as u32)
        .filter(|r| {
            sheet
                .get_value((*r, 0))
                .and_then(calamine::DataType::as_f64)
                .is_some()
        })
        .filter_map(|r| sheet.get_value((r, 1)).map(|v| v.to_string()))
        .collect();
    assert!(names.contains(&name), "{names:?}");
    assert_eq!(names.len(), severe);
    let detail: String = on_pool!(&app.db, p => sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'indicator.export'").fetch_one(p).await).unwrap();
    assert!(detail.contains("季度督导"), "{detail}");
    // Townships behind 康复机构街镇覆盖率: none has a site.
    let r = civil
        .get(app.url("/indicators/list?code=institution_coverage&part=gap&quarter=2026Q3"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(r.contains(&app.tree.get(&app.town_a).unwrap().name), "{r}");
    // A doctor has no dashboard.
    let (doctor, _, _) = session_for(&app, "ind-doc", Role::Doctor, COUNTY).await;
    assert_eq!(
        doctor
            .get(app.url("/indicators"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    // The board is kept for a while and says when it was computed; 重新计算 reads the data anew.
    // The first opening above computed it live and counted the registry's quarter in the
    // background; once counted, every whole region's board comes from that count.
    let computed = |page: &str| {
        page.split("本页数字计算于 ")
            .nth(1)
            .and_then(|t| t.split('（').next())
            .map(str::to_string)
    };
    assert!(computed(&page).is_some(), "{page}");
    jingkang_web::boards::count(
        &app.state,
        "2026Q3",
        jingkang_core::care::standard::Period::quarter(2026, 3).unwrap(),
    )
    .await
    .unwrap();
    let page = civil
        .get(app.url("/indicators?quarter=2026Q3"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&gap), "{gap}: {page}");
    let before = computed(&page).unwrap_or_else(|| panic!("{page}"));
    let (town_user, _, _) = session_for(&app, "ind-town", Role::Township, &app.town_a).await;
    let own = town_user
        .get(app.url("/indicators?quarter=2026Q3"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        computed(&own),
        Some(before.clone()),
        "a township's board from the same count: {own}"
    );
    assert!(own.contains(&format!("part=gap\">{severe}</a>")), "{own}");
    let another: i64 = common::diagnoses(&app.db, &app.town_a)
        .await
        .into_iter()
        .find(|(_, dx)| !dx.as_deref().is_some_and(|d| d.starts_with("F20")))
        .unwrap()
        .0;
    on_pool!(&app.db, p => sqlx::query("UPDATE persons SET diagnosis_code = 'F20.1', known_since = '2025-01-01' WHERE id = $1").bind(another).execute(p).await.map(drop)).unwrap();
    common::reseal(&app.db).await;
    let kept = civil
        .get(app.url("/indicators?quarter=2026Q3"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        kept.contains(&gap) && computed(&kept) == Some(before.clone()),
        "the kept board: {kept}"
    );
    assert!(
        kept.contains("quarter=2026Q3&amp;fresh=1\">重新计算</a>"),
        "{kept}"
    );
    let fresh = civil
        .get(app.url("/indicators?quarter=2026Q3&fresh=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let gap_now = format!(
        "/indicators/list?code=management_rate&amp;region={}&amp;quarter=2026Q3&amp;part=gap\">{}</a>",
        app.town_a,
        severe + 1
    );
    assert!(fresh.contains(&gap_now), "{gap_now}: {fresh}");
    let again = civil
        .get(app.url("/indicators?quarter=2026Q3"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        again.contains(&gap_now),
        "the new board is the one kept now"
    );
}

async fn registration_forms_printed_with_a_reason(app: App) {
    let (town, csrf, _) = session_for(&app, "f4-town", Role::Township, &app.town_a).await;
    let id = app.person_in(&app.town_a).await;
    let (name, id_number) = app.name_and_id_number(id).await;
    let page = town
        .get(app.url(&format!("/persons/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("/persons/{id}/form4")),
        "the person page offers the form"
    );
    let ask = town
        .get(app.url(&format!("/persons/{id}/form4")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(ask.contains("打印原因"), "{ask}");
    let r = town
        .post(app.url(&format!("/persons/{id}/form4")))
        .form(&[("csrf", csrf.as_str()), ("reason", " ")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let before = app
        .audit_actions()
        .await
        .iter()
        .filter(|a| *a == "person.print")
        .count();
    let r = town
        .post(app.url(&format!("/persons/{id}/form4")))
        .form(&[("csrf", csrf.as_str()), ("reason", "季度报送存档")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let sheet = r.text().await.unwrap();
    assert!(
        sheet.contains("精神障碍患者登记表")
            && sheet.contains(&name)
            && sheet.contains(&id_number)
            && sheet.contains("☐已婚"),
        "filled from the record, unmasked: {sheet}"
    );
    assert_eq!(sheet.matches("<section class=\"form4\">").count(), 1);
    let after = app
        .audit_actions()
        .await
        .iter()
        .filter(|a| *a == "person.print")
        .count();
    assert_eq!(after, before + 1);
    // The whole township, one page each.
    let in_town: i64 = {
        let (lo, hi) = Scope::of(app.tree.get(&app.town_a).unwrap()).bounds();
        on_pool!(&app.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM persons WHERE residence_region >= $1 AND residence_region < $2").bind(lo).bind(hi).fetch_one(p).await).unwrap()
    };
    let r = town
        .post(app.url("/persons/form4"))
        .form(&[("csrf", csrf.as_str()), ("reason", "季度报送存档")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.text()
            .await
            .unwrap()
            .matches("<section class=\"form4\">")
            .count() as i64,
        in_town.min(jingkang_web::forms::BATCH_MAX)
    );
    // The same as a PDF file: a page per person (A4, the standard Chinese font), each audited.
    let before = app
        .audit_actions()
        .await
        .iter()
        .filter(|a| *a == "person.print")
        .count() as i64;
    let r = town
        .post(app.url("/persons/form4"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("reason", "季度报送存档"),
            ("format", "pdf"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        (r.status(), r.headers()["content-type"].to_str().unwrap()),
        (StatusCode::OK, "application/pdf")
    );
    let pdf = r.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&pdf);
    assert!(
        pdf.starts_with(b"%PDF-") && text.contains("/STSong-Light"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "/Count {}",
            in_town.min(jingkang_web::forms::BATCH_MAX)
        )),
        "a page each: {text}"
    );
    let after = app
        .audit_actions()
        .await
        .iter()
        .filter(|a| *a == "person.print")
        .count() as i64;
    assert_eq!(after - before, in_town.min(jingkang_web::forms::BATCH_MAX));
    // Another township's clerk: as if the person did not exist.
    let (other, other_csrf, _) = session_for(&app, "f4-other", Role::Township, &app.town_b).await;
    let r = other
        .post(app.url(&format!("/persons/{id}/form4")))
        .form(&[("csrf", other_csrf.as_str()), ("reason", "查看")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn exchange_in_the_browser(app: App) {
    let (c, csrf, _) = session_for(&app, "minzheng-bidui", Role::Civil, COUNTY).await;
    let pid = app.person_in(&app.town_b).await;
    let (name, id_number) = app.name_and_id_number(pid).await;
    // The same person registered twice: another sequence number, the same name and address.
    let first17 = format!("{}9{}", &id_number[..14], &id_number[15..17]);
    let twin_id = format!(
        "{first17}{}",
        jingkang_core::domain::id_number::check_char(&first17)
    );
    on_pool!(&app.db, p => sqlx::query("UPDATE persons SET residence_address = '新华路9号3栋', phone = NULL WHERE id = $1")
        .bind(pid).execute(p).await.map(drop))
    .unwrap();
    on_pool!(&app.db, p => sqlx::query(
        "INSERT INTO persons (id_number, name, name_initials, sex, birth_date, residence_region, residence_address, phone, created_change, updated_change, known_since) \
         SELECT $1, name, name_initials, sex, birth_date, residence_region, residence_address, '13800001111', created_change, updated_change, known_since FROM persons WHERE id = $2")
        .bind(&twin_id).bind(pid).execute(p).await.map(drop))
    .unwrap();
    common::reseal(&app.db).await;
    let twin = common::person_by_id_number(&app.db, &twin_id).await;
    let lists = || async {
        let n: i64 = on_pool!(&app.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM exchange_lists").fetch_one(p).await).unwrap();
        n
    };
    // A 公安 list: the person, at an address that is not ours; someone the registry does not know.
    let list = format!(
        "序号,人员姓名,身份证号码,性别,户籍详址\n1,{name},{id_number},,南桐镇红岩社区八栋二单元\n2,欧阳明月,,女,东林街道\n"
    );
    let upload = |source: &str, file_name: &str, bytes: Vec<u8>| {
        reqwest::multipart::Form::new()
            .text("csrf", csrf.clone())
            .text("source", source.to_string())
            .text("taken_on", "2026-10-31")
            .text("mapping", "户籍详址=address")
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_string()),
            )
    };
    // Bad input first: no department, a PDF, a mapping to no column — each explained, nothing kept.
    for (source, file, bytes, says) in [
        (
            "",
            "公安.csv",
            list.clone().into_bytes(),
            "请选择名单来自哪个部门",
        ),
        ("police", "公安.pdf", b"%PDF".to_vec(), "pdf"),
    ] {
        let r = c
            .post(app.url("/exchange"))
            .multipart(upload(source, file, bytes))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let page = r.text().await.unwrap();
        assert!(page.contains(says), "{page}");
    }
    assert_eq!(lists().await, 0);

    let r = c
        .post(app.url("/exchange"))
        .multipart(upload("police", "公安.csv", list.clone().into_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let run_url = location(&r);
    assert!(run_url.starts_with("/exchange/runs/"), "{run_url}");
    assert_eq!(lists().await, 1);

    // The run: the conflict on the address, the ID masked.
    let page = c
        .get(app.url(&format!("{run_url}?class=conflict")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("地址") && page.contains(&name), "{page}");
    assert!(
        !page.contains(&id_number),
        "ID number in clear on the run page"
    );
    let item = page
        .split("href=\"/exchange/items/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    // The item side by side, the difference marked; opening it is an audited read of the person.
    let reads_before = app
        .audit_actions()
        .await
        .iter()
        .filter(|a| a.as_str() == "person.read")
        .count();
    let item_url = app.url(&format!("/exchange/items/{item}"));
    let page = c.get(&item_url).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("南桐镇红岩社区八栋二单元") && page.contains("（不一致）"),
        "{page}"
    );
    assert!(
        !page.contains(&id_number),
        "ID number in clear on the item page"
    );
    let reads = app
        .audit_actions()
        .await
        .iter()
        .filter(|a| a.as_str() == "person.read")
        .count();
    assert_eq!(reads, reads_before + 1);

    // Decide, undo, decide again.
    let decide = |url: String, fields: Vec<(&'static str, String)>| {
        let mut form = vec![("csrf", csrf.clone())];
        form.extend(fields);
        let c = c.clone();
        async move { c.post(url).form(&form).send().await.unwrap() }
    };
    let r = decide(format!("{item_url}/decide"), vec![]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("请选择处理方式"));
    let r = decide(
        format!("{item_url}/decide"),
        vec![
            ("decision", "reject".into()),
            ("note", "地址以我方为准".into()),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = c.get(&item_url).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("不予采纳") && page.contains("撤销处理"),
        "{page}"
    );
    let r = decide(
        format!("{item_url}/decide"),
        vec![("decision", "reopen".into())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = c.get(&item_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("待处理"), "{page}");

    // Theirs only: linked to a registry person named by ID number; an unknown one is refused.
    let page = c
        .get(app.url(&format!("{run_url}?class=theirs_only")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("欧阳明月"), "{page}");
    let stranger = page
        .split("href=\"/exchange/items/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let stranger_url = app.url(&format!("/exchange/items/{stranger}"));
    let r = decide(
        format!("{stranger_url}/decide"),
        vec![("decision", "link".into()), ("person", "99999999".into())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("不在本次比对"));
    let r = decide(
        format!("{stranger_url}/decide"),
        vec![("decision", "link".into()), ("person", id_number.clone())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = c
        .get(&stranger_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("已确认关联"), "{page}");
    let decided = app
        .audit_actions()
        .await
        .iter()
        .filter(|a| a.as_str() == "exchange.decide")
        .count();
    assert_eq!(decided, 3);

    // The twin: merged into the person, taking its phone; the twin's page says where it went;
    // undone from the item.
    let page = c
        .get(app.url(&format!("{run_url}?class=duplicate")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dup = page
        .split("href=\"/exchange/items/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let dup_url = app.url(&format!("/exchange/items/{dup}"));
    let page = c.get(&dup_url).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains("合并为一份档案") && page.contains("name=\"use.phone\""),
        "{page}"
    );
    assert!(
        !page.contains(&twin_id),
        "ID number in clear on the merge form"
    );
    let (left, right) = on_pool!(&app.db, p => sqlx::query_as::<_, (i64, i64)>(
        "SELECT person_id, other_person_id FROM exchange_items WHERE id = $1").bind(dup.parse::<i64>().unwrap()).fetch_one(p).await)
    .unwrap();
    let (survivor, phone_side) = if left == pid {
        ("left", "right")
    } else {
        ("right", "left")
    };
    assert_eq!(if left == pid { right } else { left }, twin);
    let r = decide(
        format!("{dup_url}/decide"),
        vec![
            ("decision", "merge".into()),
            ("survivor", survivor.into()),
            ("use.phone", phone_side.into()),
            ("use.id_number", survivor.into()),
            ("note", "同一人".into()),
        ],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let merged: (Option<String>, Option<i64>, String) = (
        common::opened(
            &app.db,
            "persons.phone",
            "SELECT phone FROM persons WHERE id = $1",
            pid,
        )
        .await,
        on_pool!(&app.db, p => sqlx::query_scalar("SELECT merged_into FROM persons WHERE id = $1")
            .bind(twin).fetch_one(p).await)
        .unwrap(),
        common::opened(
            &app.db,
            "persons.id_number",
            "SELECT id_number FROM persons WHERE id = $1",
            pid,
        )
        .await
        .unwrap(),
    );
    assert_eq!(
        merged,
        (Some("13800001111".into()), Some(pid), id_number.clone())
    );
    let page = c
        .get(app.url(&format!("/persons/{twin}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("已并入") && page.contains(&format!("/persons/{pid}")),
        "{page}"
    );
    let page = c.get(&dup_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("撤销合并"), "{page}");
    // The health side may compare but neither merge nor undo a merge.
    let (doctor, doctor_csrf, _) = session_for(&app, "jiankang-bidui", Role::Health, COUNTY).await;
    let r = doctor
        .post(format!("{dup_url}/decide"))
        .form(&[("csrf", doctor_csrf.as_str()), ("decision", "reopen")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("须由街镇或民政"));
    let r = decide(
        format!("{dup_url}/decide"),
        vec![("decision", "reopen".into())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let undone: Option<i64> =
        on_pool!(&app.db, p => sqlx::query_scalar("SELECT merged_into FROM persons WHERE id = $1")
        .bind(twin).fetch_one(p).await)
        .unwrap();
    assert_eq!(undone, None);
    let r = doctor
        .post(format!("{dup_url}/decide"))
        .form(&[
            ("csrf", doctor_csrf.as_str()),
            ("decision", "merge"),
            ("survivor", "left"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("须由街镇或民政"));
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|a| a.as_str() == "person.unmerge")
    );

    // The annual census: one file refused; 公安's and 卫健's lists at once, one item a person.
    let census = |files: Vec<(&str, &str)>| {
        let mut form = reqwest::multipart::Form::new()
            .text("csrf", csrf.clone())
            .text("taken_on", "2026-10-31");
        for (code, text) in files {
            form = form.part(
                format!("file.{code}"),
                reqwest::multipart::Part::bytes(text.as_bytes().to_vec())
                    .file_name(format!("{code}.csv")),
            );
        }
        let c = c.clone();
        let url = app.url("/exchange/census");
        async move { c.post(url).multipart(form).send().await.unwrap() }
    };
    let r = census(vec![("police", list.as_str())]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("至少两个部门"));
    let health = format!("姓名,身份证号\n{name},{id_number}\n");
    let r = census(vec![("police", list.as_str()), ("health", health.as_str())]).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let census_url = location(&r);
    let page = c
        .get(app.url(&format!("{census_url}?class=theirs_only")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("本次普查的名单")
            && page.contains("欧阳明月")
            && page.contains("见于公安名单"),
        "{page}"
    );
    // A registry person on neither list: one item naming both lists.
    let page = c
        .get(app.url(&format!("{census_url}?class=ours_only")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("不在卫健、公安名单上") || page.contains("不在公安、卫健名单上"),
        "{page}"
    );
    let item = page
        .split("href=\"/exchange/items/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let page = c
        .get(app.url(&format!("/exchange/items/{item}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("各部门名单") && page.contains("名单上没有此人"),
        "{page}"
    );

    // The list page shows the run; a township clerk of another township sees none of it.
    let page = c
        .get(app.url("/exchange"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("公安.csv"), "{page}");
    let (other, _, _) = session_for(&app, "zhenjie-bidui", Role::Township, &app.town_a).await;
    let page = other
        .get(app.url("/exchange"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!page.contains("公安.csv"), "{page}");
    assert_eq!(
        other.get(&item_url).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}
