//! `jingkang bench search` and `jingkang bench web`: the web issue's benchmark, run against a
//! database that already holds the persons (load them with `jingkang import roster`).
//!
//! `search` times `persons::list` as the person list page calls it (one transaction, scope first,
//! 51 rows) for ID-number prefixes, names and pinyin initials taken from the data, for a township
//! clerk's scope and for a county's. `web` serves the application in this process and runs `wrk`
//! against an authenticated person page and against `/healthz` in the same run, then reports this
//! process's peak RSS: the server's.

use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, bail};
use jingkang_core::accounts::Role;
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::store::accounts::{self as store_accounts, NewUser};
use jingkang_core::store::persons::{self, ListFilter};
use jingkang_core::store::{Actor, Db};
use serde_json::{Value, json};

use crate::db::open;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(crate) fn summary(mut ms: Vec<f64>) -> Value {
    ms.sort_by(f64::total_cmp);
    json!({
        "queries": ms.len(),
        "p50_ms": (percentile(&ms, 0.50) * 100.0).round() / 100.0,
        "p99_ms": (percentile(&ms, 0.99) * 100.0).round() / 100.0,
        "max_ms": (ms.last().copied().unwrap_or(0.0) * 100.0).round() / 100.0,
    })
}

/// `queries` persons spread over the registry: (ID number, name, township code).
async fn sample(db: &Db, queries: usize) -> anyhow::Result<Vec<(String, String, String)>> {
    let total: i64 =
        on_pool!(db, p => sqlx::query_scalar("SELECT COUNT(*) FROM persons").fetch_one(p).await)?;
    if total == 0 {
        bail!(
            "the database holds no persons: load some first (jingkang import roster FILE --county CODE)"
        );
    }
    let step = (total / queries as i64).max(1);
    let rows: Vec<(String, String, String)> = on_pool!(db, p => sqlx::query_as(
        "SELECT id_number, name, residence_region FROM persons WHERE id % $1 = 0 ORDER BY id LIMIT $2")
        .bind(step).bind(queries as i64).fetch_all(p).await)?;
    rows.into_iter()
        .map(|(id, name, region)| Ok((db.keys().open("persons.id_number", &id)?, name, region)))
        .collect()
}

pub async fn search(url: &str, queries: usize) -> anyhow::Result<ExitCode> {
    let (db, tree) = open(url).await?;
    let people = sample(&db, queries).await?;
    let mut out = serde_json::Map::new();
    out.insert("backend".into(), json!(format!("{:?}", db.backend())));
    out.insert("persons_sampled".into(), json!(people.len()));
    for level in ["township", "county"] {
        for kind in ["id_prefix", "id_whole", "id_last4", "name", "pinyin"] {
            let mut ms = Vec::with_capacity(people.len());
            let mut hits = 0usize;
            for (id, name, town) in &people {
                let region = if level == "township" {
                    town.clone()
                } else {
                    town[..6].to_string()
                };
                let Some(r) = tree.get(&region) else { continue };
                let scope = Scope::of(r);
                let q = match kind {
                    "id_prefix" => id[..14].to_string(),
                    "id_whole" => id.clone(),
                    // The digits a masked ID shows (`3101**********1234`).
                    "id_last4" => id[id.len() - 4..].to_string(),
                    "name" => name.clone(),
                    _ => persons::name_initials(name),
                };
                let filter = ListFilter {
                    limit: Some(51),
                    search: Some(q),
                    ..Default::default()
                };
                let t = Instant::now();
                let mut tx = db.begin().await?;
                let found = persons::list(&mut tx, &scope, &filter).await?;
                tx.commit().await?;
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
                hits += usize::from(!found.is_empty());
            }
            let mut s = summary(ms);
            s["found"] = json!(hits);
            out.insert(format!("{level}_{kind}"), s);
        }
    }
    out!("{}", serde_json::to_string_pretty(&Value::Object(out))?);
    Ok(ExitCode::SUCCESS)
}

struct Wrk {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
}

fn parse_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Some(v) = s.strip_suffix("us") {
        return v.parse::<f64>().ok().map(|v| v / 1000.0);
    }
    if let Some(v) = s.strip_suffix("ms") {
        return v.parse().ok();
    }
    if let Some(v) = s.strip_suffix('s') {
        return v.parse::<f64>().ok().map(|v| v * 1000.0);
    }
    None
}

fn run_wrk(url: &str, cookie: &str, connections: u32, seconds: u32) -> anyhow::Result<Wrk> {
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-H",
            &format!("Cookie: jk_session={cookie}"),
            url,
        ])
        .output()
        .context("cannot run wrk (Debian: apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut w = Wrk {
        requests_per_sec: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        non_2xx: 0,
    };
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            w.requests_per_sec = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("50%") {
            w.p50_ms = parse_ms(v).unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("99%") {
            w.p99_ms = parse_ms(v).unwrap_or(0.0);
        } else if let Some(v) = t.strip_prefix("Non-2xx or 3xx responses:") {
            w.non_2xx = v.trim().parse().unwrap_or(0);
        }
    }
    if w.requests_per_sec == 0.0 {
        bail!("wrk printed no result:\n{text}");
    }
    Ok(w)
}

pub async fn web(url: &str, connections: u32, seconds: u32) -> anyhow::Result<ExitCode> {
    let (db, tree) = open(url).await?;
    let people = sample(&db, 1).await?;
    let (_, _, town) = people.first().context("no person")?.clone();
    // A township clerk with a live session (no second factor needed for this role).
    let username = format!("bench-{}", std::process::id());
    let password = jingkang_core::accounts::generate_password();
    let mut tx = db.begin().await?;
    let new = NewUser {
        username: &username,
        display_name: "压测",
        role: Role::Township,
        region_code: &town,
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
    let (cookie, _) = store_accounts::create_session(&mut tx, &user, true).await?;
    let scope = Scope::of(tree.get(&town).context("township")?);
    let person = persons::list(
        &mut tx,
        &scope,
        &ListFilter {
            limit: Some(1),
            ..Default::default()
        },
    )
    .await?;
    let person_id = person.first().context("a person in the township")?.id;
    tx.commit().await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = jingkang_web::AppState::new(db.clone(), tree, jingkang_web::Settings::default());
    tokio::spawn(jingkang_web::serve(listener, state, std::future::pending()));
    let rss_idle = rss_mb("VmRSS:");

    let page = format!("http://{addr}/persons/{person_id}");
    let trivial = format!("http://{addr}/healthz");
    // wrk blocks: run it off the runtime that serves the requests.
    let (p, h) = tokio::task::spawn_blocking(move || -> anyhow::Result<(Wrk, Wrk)> {
        let h = run_wrk(&trivial, &cookie, connections, seconds)?;
        let p = run_wrk(&page, &cookie, connections, seconds)?;
        Ok((p, h))
    })
    .await??;
    let result = json!({
        "backend": format!("{:?}", db.backend()),
        "connections": connections,
        "seconds": seconds,
        "person_page": {"requests_per_sec": p.requests_per_sec, "p50_ms": p.p50_ms, "p99_ms": p.p99_ms, "non_2xx": p.non_2xx},
        "healthz": {"requests_per_sec": h.requests_per_sec, "p50_ms": h.p50_ms, "p99_ms": h.p99_ms, "non_2xx": h.non_2xx},
        "page_vs_trivial": (p.requests_per_sec / h.requests_per_sec * 1000.0).round() / 1000.0,
        "server_rss_idle_mb": rss_idle,
        "server_peak_rss_mb": rss_mb("VmHWM:"),
    });
    out!("{}", serde_json::to_string_pretty(&result)?);
    let mut tx = db.begin().await?;
    store_accounts::set_disabled(&mut tx, &Actor::cli(), &user, true).await?;
    tx.commit().await?;
    Ok(ExitCode::SUCCESS)
}

fn rss_mb(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}
