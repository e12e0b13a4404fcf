//! Row rules on every route (SPEC §10): the police see persons at risk ≥ 3 only, a site's worker
//! the persons the site serves. For every route of the route table, a police user and a site
//! worker asking about a person hidden from them (risk 0, served by no site, in their own region)
//! get exactly what an id that does not exist gets, and no page they can open names that person.
//! A route with a path parameter and no probe here fails the test.

use super::*;

/// What a route's path parameter names, for the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// A person (`/persons/{id}…`, `/api/v1/persons/{id}…`).
    Person,
    /// A referral about the person.
    Referral,
    /// A notification about the person.
    Notification,
    /// A comparison run made under no row rule (it compared the whole registry).
    WideRun,
    /// A comparison item about the person, in a run the police may open.
    ExchangeItem,
    /// Things that are not about one person (institutions, staff, filings, users, family groups
    /// and supporters, worklists, static files): the id of an existing one; the page must not
    /// name the hidden person.
    NotAboutOnePerson,
}

fn probe_of(path: &str) -> Probe {
    let p = path;
    if p.starts_with("/persons/{id}") || p.starts_with("/api/v1/persons/{id}") {
        Probe::Person
    } else if p.starts_with("/referrals/{id}") || p.starts_with("/api/v1/referrals/{id}") {
        Probe::Referral
    } else if p.starts_with("/notifications/{id}") {
        Probe::Notification
    } else if p.starts_with("/exchange/runs/{id}") {
        Probe::WideRun
    } else if p.starts_with("/exchange/items/{id}") {
        Probe::ExchangeItem
    } else if [
        "/institutions/{id}",
        "/api/v1/institutions/{id}",
        "/staff/{id}",
        "/api/v1/staff/{id}",
        "/reports/filings/{id}",
        "/admin/users/{id}",
        "/family/groups/{gid}",
        "/api/v1/family/groups/{gid}",
        "/family/peers/{pid}",
        "/api/v1/family/peers/{pid}",
        "/worklists/{name}",
        "/api/v1/worklists/{name}",
        "/static/{*path}",
        "/api/{*rest}",
    ]
    .iter()
    .any(|q| p.starts_with(q))
        || !p.contains('{')
    {
        Probe::NotAboutOnePerson
    } else {
        panic!("route {path} has a path parameter and no row-rule probe: add one in row_rules.rs")
    }
}

pub async fn row_rules_on_every_route(app: App) {
    // Two persons of town_b: `hidden` (risk 0, no site) and `seen` (risk 3, at the site).
    let town = app.persons_in(&app.town_b, 2).await;
    let (hidden, seen) = (town[0].id, town[1].id);
    let hidden_id_number = town[0].record.data.id_number.clone();
    let hidden_name = "隐没测试甲";
    // A site of town_b.
    let county = Scope::of(app.tree.get(COUNTY).unwrap());
    let rules = jingkang_core::care::institution::InstitutionRules::shipped().unwrap();
    let mut tx = app.db.begin().await.unwrap();
    let site = jingkang_core::store::institutions::create(
        &mut tx,
        &county,
        &Actor::cli(),
        (&rules, &app.tree),
        &jingkang_core::store::institutions::NewInstitution {
            name: "行规则站点".into(),
            kind: "site".into(),
            urban: true,
            region: app.town_b.clone(),
            address: "一号".into(),
            capacity: 10,
            operator: "运营方".into(),
            operator_code: "91110108551385082Q".into(),
            opened_on: None,
            status: "operating".into(),
        },
        jingkang_web::entry::today(),
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    on_pool!(&app.db, p => async {
        sqlx::query("UPDATE persons SET risk_grade = 3, site_id = NULL, name = $2 WHERE id = $1")
            .bind(hidden).bind(hidden_name).execute(p).await?;
        sqlx::query("UPDATE persons SET risk_grade = 3, site_id = $2 WHERE id = $1")
            .bind(seen).bind(site).execute(p).await.map(drop)
    }.await)
    .unwrap();

    // A comparison run under the police's rule while `hidden` is at risk 3 (its ours-only item is
    // about `hidden`), then one under no rule; then `hidden` falls to risk 0.
    let run_as = |rules: jingkang_core::regions::Rows| {
        let app = &app;
        async move {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("list.csv");
            std::fs::write(&path, "姓名,身份证号,性别\n欧阳明月,,女\n").unwrap();
            let today = jingkang_web::entry::today();
            jingkang_core::exchange::run::run_list(
                &app.db,
                &app.tree,
                jingkang_core::exchange::run::RunRequest {
                    source: jingkang_core::exchange::source("police").unwrap(),
                    region: &app.town_b,
                    path: &path,
                    file_name: "list.csv",
                    taken_on: today,
                    mapping: Default::default(),
                    actor: &Actor::cli(),
                    today,
                    rules,
                },
            )
            .await
            .unwrap()
            .run
        }
    };
    let police_rules = jingkang_core::accounts::policy::rows(Role::Police, None);
    let police_run = run_as(police_rules).await;
    let wide_run = run_as(jingkang_core::regions::Rows::ALL).await;
    let hidden_item: i64 = on_pool!(&app.db, p => sqlx::query_scalar(
        "SELECT id FROM exchange_items WHERE run_id = $1 AND person_id = $2")
        .bind(police_run).bind(hidden).fetch_one(p).await)
    .unwrap();
    on_pool!(&app.db, p => sqlx::query("UPDATE persons SET risk_grade = 0 WHERE id = $1")
        .bind(hidden).execute(p).await.map(drop))
    .unwrap();

    // A referral of every kind about `hidden`, within town_b; a notification about `hidden` for
    // every role; an agreement with a scan.
    let book = jingkang_core::care::referral::Book::shipped().unwrap();
    let mut referral_of_kind = std::collections::HashMap::new();
    for kind in book.rules.kinds.iter().map(|k| k.code.clone()) {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let id: i64 = on_pool!(&app.db, p => async {
            let cs: i64 = sqlx::query_scalar("INSERT INTO change_sets (actor, source, action, at) VALUES ('cli:test', 'test', 'send', $1) RETURNING id")
                .bind(chrono::Utc::now()).fetch_one(p).await?;
            sqlx::query_scalar("INSERT INTO referrals (person_id, kind, state, urgent, from_region, to_region, reason, documents, sent_on, deadline, change_id) \
                VALUES ($1, $2, 'initiated', TRUE, $3, $3, '复发', '[]', $4, $4, $5) RETURNING id")
                .bind(hidden).bind(&kind).bind(&app.town_b).bind(day).bind(cs).fetch_one(p).await
        }.await)
        .unwrap();
        referral_of_kind.insert(kind, id);
    }
    let mut note_of_role = std::collections::HashMap::new();
    for role in Role::ALL {
        let id: i64 = on_pool!(&app.db, p => sqlx::query_scalar(
            "INSERT INTO notifications (created_at, region_code, audience, kind, person_id, title, body) VALUES ($1, $2, $3, 'risk', $4, '高风险', '高风险') RETURNING id")
            .bind(chrono::Utc::now()).bind(&app.town_b).bind(role.code()).bind(hidden).fetch_one(p).await)
        .unwrap();
        note_of_role.insert(role, id);
    }
    let mut tx = app.db.begin().await.unwrap();
    let agreement = jingkang_core::store::agreements::record(
        &mut tx,
        &county,
        &Actor::cli(),
        hidden,
        &jingkang_core::care::agreement::Agreement {
            kind: jingkang_core::care::agreement::AgreementKind::Consent,
            signed_on: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            person_signed: true,
            guardian_name: None,
            valid_until: chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
        },
        Some(jingkang_core::store::agreements::Scan {
            media_type: "image/png",
            file_name: "a.png",
            bytes: b"\x89PNG\r\n\x1a\n",
        }),
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    // Existing things not about one person, for their routes.
    let any_id = |table: &'static str| {
        let db = app.db.clone();
        async move {
            let sql = format!("SELECT COALESCE(MAX(id), 1) FROM {table}");
            on_pool!(&db, p => sqlx::query_scalar::<_, i64>(&sql).fetch_one(p).await).unwrap()
        }
    };
    let (staff_id, user_id) = (any_id("staff").await, any_id("users").await);

    // The two readers: police of the county, a worker of the site in town_b.
    let (police, police_csrf, _) = session_for(&app, "rr-police", Role::Police, COUNTY).await;
    let (worker, worker_csrf, worker_id) =
        session_for(&app, "rr-worker", Role::Worker, &app.town_b).await;
    on_pool!(&app.db, p => sqlx::query("UPDATE users SET site_id = $1 WHERE id = $2")
        .bind(site).bind(worker_id).execute(p).await.map(drop))
    .unwrap();

    let mut probed = 0;
    for spec in jingkang_web::route_specs() {
        let probe = probe_of(spec.path);
        for (role, c, csrf) in [
            (Role::Police, &police, &police_csrf),
            (Role::Worker, &worker, &worker_csrf),
        ] {
            // Routes that end a session or change the account are not probes of person rows.
            if ["/logout", "/account/", "/login"]
                .iter()
                .any(|p| spec.path.starts_with(p))
            {
                continue;
            }
            let referral = book
                .rules
                .received_by(role.code())
                .into_iter()
                .chain(book.rules.sent_by(role.code()))
                .next()
                .map_or(987_654_321, |k| referral_of_kind[&k]);
            let id = match probe {
                Probe::Person => hidden,
                Probe::Referral => referral,
                Probe::Notification => note_of_role[&role],
                Probe::WideRun => wide_run,
                Probe::ExchangeItem => hidden_item,
                Probe::NotAboutOnePerson if spec.path.contains("/staff/") => staff_id,
                Probe::NotAboutOnePerson if spec.path.contains("/users/") => user_id,
                Probe::NotAboutOnePerson => site,
            };
            let fill = |id: &str| {
                spec.path
                    .replace("{id}", id)
                    .replace("{aid}", &agreement.to_string())
                    .replace("{gid}", id)
                    .replace("{pid}", id)
                    .replace("{name}", "overdue")
                    .replace("{*path}", "app.css")
                    .replace("{*rest}", "nothing")
            };
            let send = |path: String| {
                let req = if spec.method == axum::http::Method::GET {
                    c.get(app.url(&path))
                } else {
                    c.post(app.url(&path))
                        .header("x-csrf-token", csrf.as_str())
                        .form(&[
                            ("csrf", csrf.as_str()),
                            ("field", "id_number"),
                            ("reason", "行规则测试"),
                        ])
                };
                async move {
                    let r = req.send().await.unwrap();
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    (status, text)
                }
            };
            let (status, body) = send(fill(&id.to_string())).await;
            let what = format!("{} {} as {}", spec.method, spec.path, role.code());
            assert!(!status.is_server_error(), "{what} → {status}");
            if probe != Probe::NotAboutOnePerson {
                let (absent, _) = send(fill("987654321")).await;
                assert_eq!(
                    status, absent,
                    "{what}: hidden → {status}, absent → {absent}"
                );
                probed += 1;
            }
            assert!(
                !body.contains(hidden_name) && !body.contains(&hidden_id_number),
                "{what} names the hidden person"
            );
        }
    }
    assert!(probed > 40, "only {probed} probes ran");
    // The run the police may open lists no item about the hidden person; the seen person is
    // listed with identity only.
    let page = police
        .get(app.url(&format!("/exchange/runs/{police_run}?class=ours_only")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(!page.text().await.unwrap().contains(hidden_name));
    // The police see identity, address, guardian and risk of a person at risk ≥ 3, nothing else.
    let json: serde_json::Value = police
        .get(app.url(&format!("/api/v1/persons/{seen}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for field in [
        "diagnosis",
        "disability_grade",
        "disability_certificate",
        "phone",
    ] {
        assert!(
            json.get(field).is_none_or(serde_json::Value::is_null)
                && json["fields"]
                    .get(field)
                    .is_none_or(serde_json::Value::is_null),
            "police see {field}: {json}"
        );
    }
    // A registration event with a free-text reason on the seen person.
    on_pool!(&app.db, p => async {
        let cs: i64 = sqlx::query_scalar("INSERT INTO change_sets (actor, source, action, at) VALUES ('cli:test', 'test', 'registration', $1) RETURNING id")
            .bind(chrono::Utc::now()).fetch_one(p).await?;
        sqlx::query("INSERT INTO registration_events (person_id, change_id, event, from_state, to_state, reason, effective_on) \
            VALUES ($1, $2, 'suspend', 'in_service', 'suspended', '住院治疗中', $3)")
            .bind(seen).bind(cs).bind(chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()).execute(p).await.map(drop)
    }.await)
    .unwrap();
    let registration: serde_json::Value = police
        .get(app.url(&format!("/api/v1/persons/{seen}/registration")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = registration["events"].as_array().unwrap();
    assert!(!events.is_empty(), "{registration}");
    for e in events {
        assert!(e["reason"].is_null() && e["close_reason"].is_null(), "{e}");
    }
    // The site worker sees the site's person.
    let r = worker
        .get(app.url(&format!("/api/v1/persons/{seen}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
