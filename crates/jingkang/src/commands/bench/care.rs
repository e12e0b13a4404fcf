//! `jingkang bench care`: the care-workflow issue's benchmark, on a database that already holds
//! persons and their history (`jingkang import roster`, then `jingkang gen history`).
//!
//! Requests go through the real application router in this process (`tower::ServiceExt::oneshot`):
//! bearer-token lookup, role check, JSON, validation, the group-committed transaction with its
//! audit entry, and the response — everything but the TCP socket.
//! - worklists: `GET /api/v1/worklists/{name}?limit=50` (a page and the total) for a county user
//!   and a province user, every list;
//! - recording: `POST /api/v1/persons/{id}/followups` for persons across the registry, one at a
//!   time and from concurrent clients;
//! - referrals: `GET /api/v1/referrals` (the inbox and the latest 200 sent) for a township (its
//!   discharges) and the county hospital (the relapse green channel).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use jingkang_core::accounts::Role;
use jingkang_core::on_pool;
use jingkang_core::store::accounts::{self as store_accounts, NewUser};
use jingkang_core::store::worklists::Worklist;
use jingkang_core::store::{Actor, Db};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::web::summary;
use crate::db::open;

async fn token_for(
    db: &Db,
    role: Role,
    region: &str,
    tag: &str,
) -> anyhow::Result<(String, store_accounts::User)> {
    let username = format!("bench-{tag}-{}", std::process::id());
    let password = jingkang_core::accounts::generate_password();
    let mut tx = db.begin().await?;
    let new = NewUser {
        username: &username,
        display_name: "压测",
        role,
        region_code: region,
        password: &password,
        must_change_password: false,
        organisation_id: None,
    };
    store_accounts::create_user(&mut tx, &Actor::cli(), &new)
        .await?
        .map_err(|e| anyhow::anyhow!("{}", e.0))?;
    let user = store_accounts::find_user(&mut tx, &username)
        .await?
        .context("bench user")?;
    let token = store_accounts::create_api_token(&mut tx, &Actor::cli(), &user).await?;
    tx.commit().await?;
    Ok((token, user))
}

async fn call(app: &axum::Router, req: Request<Body>) -> anyhow::Result<(StatusCode, f64)> {
    let t = Instant::now();
    let res = app.clone().oneshot(req).await?;
    let status = res.status();
    let _ = axum::body::to_bytes(res.into_body(), usize::MAX).await?;
    Ok((status, t.elapsed().as_secs_f64() * 1000.0))
}

fn followup_body(day: chrono::NaiveDate, i: usize) -> Value {
    json!({
        "visit_date": day.to_string(), "mode": "home", "risk_grade": (i % 3).to_string(), "symptom_level": "none",
        "insight": "complete", "social.self_care": "good", "social.housework": "good", "social.work": "na",
        "social.learning": "good", "social.interpersonal": "good", "adherence": "regular", "doctor": "压测医生",
        "drug1.name": "利培酮", "drug1.night_mg": 2
    })
}

pub async fn care(
    url: &str,
    queries: usize,
    records: usize,
    concurrency: usize,
) -> anyhow::Result<ExitCode> {
    let (db, tree) = open(url).await?;
    let followups: i64 = on_pool!(&db, p => sqlx::query_scalar("SELECT COUNT(*) FROM followups").fetch_one(p).await)?;
    let total: i64 =
        on_pool!(&db, p => sqlx::query_scalar("SELECT COUNT(*) FROM persons").fetch_one(p).await)?;
    if total == 0 || followups == 0 {
        bail!(
            "load persons and their history first (jingkang import roster …; jingkang gen history)"
        );
    }
    let region: String = on_pool!(&db, p => sqlx::query_scalar("SELECT residence_region FROM persons ORDER BY id LIMIT 1").fetch_one(p).await)?;
    let county = region[..6].to_string();
    let province = format!("{}0000", &region[..2]);
    anyhow::ensure!(
        tree.get(&province).is_some() && tree.get(&county).is_some(),
        "region {region} not in the region tree"
    );
    let (county_token, county_user) = token_for(&db, Role::Health, &county, "county").await?;
    let (province_token, province_user) =
        token_for(&db, Role::Health, &province, "province").await?;
    let (doctor_token, doctor_user) = token_for(&db, Role::Doctor, &county, "doctor").await?;
    let township = region.get(..9).unwrap_or(&region).to_string();
    let (hospital_token, hospital_user) =
        token_for(&db, Role::Hospital, &county, "hospital").await?;
    let (town_token, town_user) = token_for(&db, Role::Township, &township, "township").await?;
    let referrals: i64 = on_pool!(&db, p => sqlx::query_scalar("SELECT COUNT(*) FROM referrals").fetch_one(p).await)?;
    let state = jingkang_web::AppState::new(db.clone(), tree, jingkang_web::Settings::default());
    let app = jingkang_web::router(state);

    let mut out = serde_json::Map::new();
    out.insert("backend".into(), json!(format!("{:?}", db.backend())));
    out.insert("persons".into(), json!(total));
    out.insert("followups".into(), json!(followups));
    out.insert("referrals".into(), json!(referrals));
    // Worklists.
    for (level, token) in [("county", &county_token), ("province", &province_token)] {
        for list in Worklist::ALL {
            let mut ms = Vec::with_capacity(queries);
            let mut found = 0;
            for i in 0..queries {
                // Mostly the first page, sometimes a later one (a clerk paging through).
                let offset = if i % 10 == 9 { 50 * (i % 20) } else { 0 };
                let req = Request::get(format!(
                    "/api/v1/worklists/{}?limit=50&offset={offset}",
                    list.code()
                ))
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())?;
                let t = Instant::now();
                let res = app.clone().oneshot(req).await?;
                anyhow::ensure!(
                    res.status() == StatusCode::OK,
                    "worklist answered {}",
                    res.status()
                );
                let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await?;
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
                if i == 0 {
                    found = serde_json::from_slice::<Value>(&bytes)?["total"]
                        .as_i64()
                        .unwrap_or(0);
                }
            }
            let mut s = summary(ms);
            s["total_on_list"] = json!(found);
            out.insert(format!("worklist_{level}_{}", list.code()), s);
        }
    }
    // Referral lists.
    for (desk, token) in [
        ("township", &town_token),
        ("county_hospital", &hospital_token),
    ] {
        let mut ms = Vec::with_capacity(queries);
        let mut sizes = (0, 0);
        for i in 0..queries {
            let req = Request::get("/api/v1/referrals")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())?;
            let t = Instant::now();
            let res = app.clone().oneshot(req).await?;
            anyhow::ensure!(
                res.status() == StatusCode::OK,
                "referrals answered {}",
                res.status()
            );
            let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            if i == 0 {
                let v: Value = serde_json::from_slice(&bytes)?;
                sizes = (
                    v["inbox"].as_array().map_or(0, Vec::len),
                    v["sent"].as_array().map_or(0, Vec::len),
                );
            }
        }
        let mut s = summary(ms);
        s["inbox"] = json!(sizes.0);
        s["sent"] = json!(sizes.1);
        out.insert(format!("referrals_{desk}"), s);
    }
    // Recording follow-ups: persons spread over the registry.
    let step = (total / (2 * records.max(1)) as i64).max(1);
    let ids: Vec<i64> = on_pool!(&db, p => sqlx::query_scalar("SELECT id FROM persons WHERE id % $1 = 0 ORDER BY id LIMIT $2")
        .bind(step).bind((records * 2) as i64).fetch_all(p).await)?;
    let today = jingkang_web::entry::today();
    let post = |id: i64, i: usize| -> anyhow::Result<Request<Body>> {
        Ok(Request::post(format!("/api/v1/persons/{id}/followups"))
            .header("authorization", format!("Bearer {doctor_token}"))
            .header("content-type", "application/json")
            .body(Body::from(followup_body(today, i).to_string()))?)
    };
    let mut ms = Vec::with_capacity(records);
    for (i, id) in ids.iter().take(records).enumerate() {
        let (status, t) = call(&app, post(*id, i)?).await?;
        anyhow::ensure!(status == StatusCode::CREATED, "recording answered {status}");
        ms.push(t);
    }
    out.insert("record_followup_sequential".into(), summary(ms));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..concurrency {
        let app = app.clone();
        let reqs: Vec<Request<Body>> = ids
            .iter()
            .skip(records)
            .enumerate()
            .filter(|(i, _)| i % concurrency == c)
            .map(|(i, id)| post(*id, i))
            .collect::<anyhow::Result<_>>()?;
        tasks.spawn(async move {
            let mut ms = Vec::new();
            for r in reqs {
                let (status, t) = call(&app, r).await?;
                anyhow::ensure!(status == StatusCode::CREATED, "recording answered {status}");
                ms.push(t);
            }
            Ok::<_, anyhow::Error>(ms)
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r??);
    }
    let n = all.len();
    let mut s = summary(all);
    s["clients"] = json!(concurrency);
    s["per_second"] = json!((n as f64 / started.elapsed().as_secs_f64()).round());
    out.insert("record_followup_concurrent".into(), s);
    out!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
    let mut tx = db.begin().await?;
    for u in [
        &county_user,
        &province_user,
        &doctor_user,
        &hospital_user,
        &town_user,
    ] {
        store_accounts::set_disabled(&mut tx, &Actor::cli(), u, true).await?;
    }
    tx.commit().await?;
    Ok(ExitCode::SUCCESS)
}

/// `jingkang bench standard`: 规范服务 by township for a quarter, for the province and the county
/// of the first person, timed as the store computes it (one query). With `report`
/// (`jingkang bench report`): 附件2 of the same scopes, every column computed live.
pub async fn standard(
    url: &str,
    queries: usize,
    quarter: Option<&str>,
    report: bool,
) -> anyhow::Result<ExitCode> {
    use jingkang_core::care::standard::StandardRule;
    let (db, tree) = open(url).await?;
    let contacts: i64 = on_pool!(&db, p => sqlx::query_scalar("SELECT COUNT(*) FROM service_attendance").fetch_one(p).await)?;
    let total: i64 =
        on_pool!(&db, p => sqlx::query_scalar("SELECT COUNT(*) FROM persons").fetch_one(p).await)?;
    if contacts == 0 {
        bail!("generate service history first (jingkang gen history; jingkang gen services)");
    }
    let period = bench_quarter(quarter)?;
    let rule = StandardRule::shipped()?;
    let region: String = on_pool!(&db, p => sqlx::query_scalar("SELECT residence_region FROM persons ORDER BY id LIMIT 1").fetch_one(p).await)?;
    let mut out = serde_json::Map::new();
    out.insert("backend".into(), json!(format!("{:?}", db.backend())));
    out.insert("persons".into(), json!(total));
    out.insert("service_contacts".into(), json!(contacts));
    out.insert("period".into(), json!(period.label_zh()));
    for (level, code) in [
        ("province", format!("{}0000", &region[..2])),
        ("county", region[..6].to_string()),
    ] {
        let scope = jingkang_core::regions::Scope::of(
            tree.get(&code).with_context(|| format!("region {code}"))?,
        );
        let mut ms = Vec::with_capacity(queries);
        let mut figures = (0, 0);
        for _ in 0..queries {
            let t = Instant::now();
            // A report reads: on SQLite one of the read-only connections, never the writer.
            let mut tx = db.begin_read().await?;
            if report {
                let region = tree.get(&code).with_context(|| format!("region {code}"))?;
                let def = jingkang_core::report::Definition::shipped("fujian2")?;
                let r = jingkang_core::report::compute(
                    &mut tx,
                    &tree,
                    (&scope, region),
                    &def,
                    (&period, "bench"),
                    &rule,
                )
                .await?;
                tx.commit().await?;
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
                let n = |k: &str| {
                    r.total
                        .columns
                        .get(k)
                        .and_then(jingkang_core::report::Cell::number)
                        .unwrap_or(0.0) as i64
                };
                figures = (n("5"), n("1"));
                continue;
            }
            let rows =
                jingkang_core::store::standard::by_township(&mut tx, &scope, &rule, &period, false)
                    .await?;
            tx.commit().await?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            figures = (
                rows.iter().map(|r| r.registered).sum::<i64>(),
                rows.iter().map(|r| r.standard).sum::<i64>(),
            );
        }
        let mut s = summary(ms);
        s["registered"] = json!(figures.0);
        s[if report { "in_registry" } else { "standard" }] = json!(figures.1);
        out.insert(
            format!("{}_{level}", if report { "fujian2" } else { "standard" }),
            s,
        );
    }
    out!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
    Ok(ExitCode::SUCCESS)
}

/// `bench indicators`: the dashboard's computation for the province and the county.
pub async fn indicators(
    url: &str,
    queries: usize,
    quarter: Option<&str>,
) -> anyhow::Result<ExitCode> {
    use jingkang_core::care::standard::StandardRule;
    use jingkang_core::report::indicators::{Indicators, board, quarters_to, trend};
    use jingkang_web::boards::{Ask, Boards};
    let (db, _) = crate::db::open_keyed(url).await?;
    let tree = jingkang_core::store::regions::load_tree(&db, false).await?;
    let period = bench_quarter(quarter)?;
    let (rule, defs) = (StandardRule::shipped()?, Indicators::shipped()?);
    let runs = quarters_to(&period, 4);
    let label = runs.last().map(|(l, _)| l.clone()).unwrap_or_default();
    let total: i64 =
        on_pool!(&db, p => sqlx::query_scalar("SELECT COUNT(*) FROM persons").fetch_one(p).await)?;
    let followups: i64 = on_pool!(&db, p => sqlx::query_scalar("SELECT COUNT(*) FROM followups").fetch_one(p).await)?;
    let region: String = on_pool!(&db, p => sqlx::query_scalar("SELECT residence_region FROM persons ORDER BY id LIMIT 1").fetch_one(p).await)?;
    let mut out = serde_json::Map::new();
    out.insert("backend".into(), json!(format!("{:?}", db.backend())));
    out.insert("persons".into(), json!(total));
    out.insert("followups".into(), json!(followups));
    out.insert("period".into(), json!(period.label_zh()));
    // What the server does in the background (`jingkang_web::boards::keep_warm`): the registry
    // counted once per quarter; every region's board then comes from it.
    let state = jingkang_web::AppState::new(
        db.clone(),
        tree.clone(),
        jingkang_web::Settings {
            secure_cookies: false,
            ..Default::default()
        },
    );
    let mut counting = Vec::with_capacity(runs.len());
    for (label, p) in &runs {
        let t = Instant::now();
        jingkang_web::boards::count(&state, label, *p)
            .await
            .map_err(|e| anyhow::anyhow!("count: {e:?}"))?;
        counting.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.insert("registry_count_per_quarter".into(), summary(counting));
    for (level, code) in [
        ("province", format!("{}0000", &region[..2])),
        ("county", region[..6].to_string()),
        ("township", region[..9].to_string()),
    ] {
        let r = tree.get(&code).with_context(|| format!("region {code}"))?;
        let scope = jingkang_core::regions::Scope::of(r);
        let (mut one, mut page) = (Vec::with_capacity(queries), Vec::with_capacity(queries));
        let mut figures = serde_json::Map::new();
        for _ in 0..queries {
            let t = Instant::now();
            let mut tx = db.begin_read().await?;
            let b = board(&mut tx, &tree, (&scope, r), &defs, (&period, &label), &rule).await?;
            one.push(t.elapsed().as_secs_f64() * 1000.0);
            trend(
                &mut tx,
                &tree,
                (&scope, r),
                &defs,
                &runs[..runs.len() - 1],
                &rule,
            )
            .await?;
            tx.commit().await?;
            page.push(t.elapsed().as_secs_f64() * 1000.0);
            figures = b
                .values
                .iter()
                .map(|v| {
                    (
                        v.code.clone(),
                        json!([v.total.numerator, v.total.denominator, v.total.percent]),
                    )
                })
                .collect();
        }
        out.insert(format!("board_live_{level}"), summary(one));
        out.insert(format!("dashboard_live_{level}"), summary(page));
        // As the dashboard serves it (`jingkang_web::boards`): the four quarters' boards from the
        // registry's counts (first opening), then as kept (again); the figures must be the live ones.
        let (mut first, mut again) = (Vec::new(), Vec::with_capacity(queries));
        for round in 0..=queries {
            let t = Instant::now();
            for (label, p) in &runs {
                let ask = Ask {
                    scope: scope.clone(),
                    region: code.clone(),
                    period: *p,
                    quarter: label.clone(),
                };
                let kept = Boards::get(&state, ask, false)
                    .await
                    .map_err(|e| anyhow::anyhow!("board: {e:?}"))?;
                if round == 0 && *p == period {
                    let shared: serde_json::Map<String, Value> = kept
                        .board
                        .values
                        .iter()
                        .map(|v| {
                            (
                                v.code.clone(),
                                json!([v.total.numerator, v.total.denominator, v.total.percent]),
                            )
                        })
                        .collect();
                    anyhow::ensure!(
                        shared == figures,
                        "the board from the registry's counts differs from the live one for {code}"
                    );
                }
            }
            if round == 0 { &mut first } else { &mut again }
                .push(t.elapsed().as_secs_f64() * 1000.0);
        }
        out.insert(format!("dashboard_served_first_{level}"), summary(first));
        out.insert(format!("dashboard_served_again_{level}"), summary(again));
        out.insert(format!("figures_{level}"), Value::Object(figures));
    }
    out!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
    Ok(ExitCode::SUCCESS)
}

/// The quarter a bench asks for (`2026Q3`), or the last whole one.
fn bench_quarter(quarter: Option<&str>) -> anyhow::Result<jingkang_core::care::standard::Period> {
    use jingkang_core::care::standard::Period;
    match quarter {
        Some(q) => Period::parse_quarter(q).context("--quarter like 2026Q3"),
        None => {
            let today = jingkang_web::entry::today();
            let this = Period::quarter(
                chrono::Datelike::year(&today),
                (chrono::Datelike::month(&today) - 1) / 3 + 1,
            )
            .context("quarter")?;
            let prev_end = this.start - chrono::Duration::days(1);
            Period::quarter(
                chrono::Datelike::year(&prev_end),
                (chrono::Datelike::month(&prev_end) - 1) / 3 + 1,
            )
            .context("quarter")
        }
    }
}
