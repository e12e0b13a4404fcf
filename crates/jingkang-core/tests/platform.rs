//! The referral-platform exchange file, on both backends: a county's registrations and referrals in
//! the documented format, codes mapped by the shipped mapping, filtered by day, audited.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use chrono::NaiveDate;
use common::{TestDb, register_by_exception, transition_on};
use jingkang_core::care::registration::Event;
use jingkang_core::interop::platform::{self, Mapping, PlatformExport};
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::store::Actor;
use serde_json::Value;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Two persons of 500110 (万盛街道, 黑山镇); the first registered on 5 January and in service
/// from 1 February, with a relapse referral (in `state`) from its township to the county sent on
/// 2 March. The first's id and ID number.
async fn setup(t: &TestDb, names: [&'static str; 2], seq: usize, state: &str) -> (i64, String) {
    let pid = common::import_named(
        t,
        &[
            (names[0], "万盛街道", "F20.0"),
            (names[1], "黑山镇", "F20.0"),
        ],
        (1980, seq),
        |_| d("2025-01-01"),
    )
    .await;
    let a = pid[names[0]];
    let scope = Scope::of(t.tree.get("500110").unwrap());
    transition_on(t, &scope, a, "2026-01-05", register_by_exception()).await;
    transition_on(t, &scope, a, "2026-02-01", Event::StartService).await;
    on_pool!(&t.db, p => sqlx::query(
        "INSERT INTO referrals (person_id, kind, state, from_region, to_region, reason, documents, sent_on, change_id) \
         VALUES ($1, 'relapse', $2, '500110001', '500110', '病情波动', '[\"referral_form\"]', '2026-03-02', (SELECT MAX(id) FROM change_sets))")
        .bind(a).bind(state).execute(p).await.map(drop)).unwrap();
    let id_number = common::opened(
        &t.db,
        "persons.id_number",
        "SELECT id_number FROM persons WHERE id = $1",
        a,
    )
    .await
    .unwrap();
    (a, id_number)
}

async fn registrations_and_referrals_in_the_exchange_format(t: TestDb) {
    let (_, id_number) = setup(&t, ["癸一", "癸二"], 700, "accepted").await;
    let county = t.tree.get("500110").unwrap();
    let scope = Scope::of(county);

    let dir = tempfile::tempdir().unwrap();
    let actor = Actor::user("province");
    let export = |since: Option<NaiveDate>, scope: Scope| {
        let out = dir.path().join("x.json");
        let (t, actor) = (&t, &actor);
        async move {
            let s = platform::export(
                &t.db,
                &t.tree,
                &PlatformExport {
                    scope: &scope,
                    region: county,
                    since,
                    out: &out,
                    actor,
                    reason: "与国家转介平台交换",
                },
            )
            .await
            .unwrap();
            let v: Option<Value> = s
                .as_ref()
                .map(|_| serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap());
            (s, v)
        }
    };
    let m = Mapping::shipped();
    let (s, v) = export(None, scope.clone()).await;
    let (s, v) = (s.unwrap(), v.unwrap());
    assert_eq!((s.registrations, s.referrals), (1, 1));
    assert_eq!(v["format"], "jingkang.platform-exchange");
    assert_eq!(v["version"], m.version.as_str());
    let r = &v["registrations"][0];
    assert_eq!(r["id_number"], id_number.as_str());
    assert_eq!(r["state"], m.registration_state["in_service"].as_str());
    assert_eq!(r["sex"], m.sex["female"].as_str());
    let events: Vec<(&str, &str)> = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["event"].as_str().unwrap(), e["on"].as_str().unwrap()))
        .collect();
    assert_eq!(
        events,
        vec![
            (m.registration_event["register"].as_str(), "2026-01-05"),
            (m.registration_event["start_service"].as_str(), "2026-02-01"),
        ]
    );
    let f = &v["referrals"][0];
    assert_eq!(f["kind"], m.referral_kind["relapse"].as_str());
    assert_eq!(f["state"], m.referral_state["accepted"].as_str());
    assert_eq!(f["id_number"], id_number.as_str());
    assert_eq!(f["documents"][0], "referral_form");

    // Since a later day: nothing that changed before it.
    let (s, _) = export(Some(d("2026-04-01")), scope.clone()).await;
    assert_eq!(s.unwrap(), platform::PlatformSummary::default());
    // A township's user cannot export the county.
    let town = Scope::of(
        t.tree
            .get(&t.tree.townships_under("500110")[0].code)
            .unwrap(),
    );
    assert_eq!(export(None, town).await.0, None);
    let audited: Vec<String> = on_pool!(&t.db, p => sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE action = 'export.platform' ORDER BY id").fetch_all(p).await).unwrap();
    assert_eq!(audited.len(), 2);
    assert!(audited[0].contains("与国家转介平台交换"));
}

async fn exchange_file_read_into_a_county(t: TestDb) {
    use jingkang_core::interop::platform::{PlatformImport, PlatformImportError};
    let (a, id_a) = setup(&t, ["子一", "子二"], 800, "initiated").await;
    let county = t.tree.get("500110").unwrap();
    let scope = Scope::of(county);
    let dir = tempfile::tempdir().unwrap();
    let actor = Actor::user("province");
    let exported = dir.path().join("out.json");
    platform::export(
        &t.db,
        &t.tree,
        &PlatformExport {
            scope: &scope,
            region: county,
            since: None,
            out: &exported,
            actor: &actor,
            reason: "交换",
        },
    )
    .await
    .unwrap()
    .unwrap();
    let m = Mapping::shipped();
    let mut file: Value =
        serde_json::from_str(&std::fs::read_to_string(&exported).unwrap()).unwrap();
    // The platform has 子一 as 已登记; a newcomer registered there; a relapse referral from
    // another county waiting for this one.
    file["registrations"][0]["state"] = m.registration_state["registered"].clone().into();
    let township = t.tree.townships_under("500110")[0].clone();
    let newcomer = common::id("500110", "19881212", "417");
    file["registrations"].as_array_mut().unwrap().push(serde_json::json!({
        "id_number": newcomer, "name": "丑新", "sex": m.sex["female"], "birth_date": "1988-12-12",
        "region": township.code, "address": "新华路2号", "state": m.registration_state["registered"],
        "events": [{"event": m.registration_event["register"], "from": m.registration_state["pending"],
                    "to": m.registration_state["registered"], "on": "2026-05-01", "close_reason": null}]
    }));
    file["referrals"].as_array_mut().unwrap().push(serde_json::json!({
        "ref": "platform:500101:88", "kind": m.referral_kind["relapse"], "state": m.referral_state["initiated"],
        "urgent": false, "from_region": "500101", "to_region": "500110", "sent_on": "2026-11-20",
        "accepted_on": null, "deadline": "2026-11-27", "id_number": id_a, "name": "子一",
        "documents": ["referral_form"], "reason": "复发"
    }));
    let run = |file: &Value, dry_run: bool| {
        let path = dir.path().join("in.json");
        std::fs::write(&path, file.to_string()).unwrap();
        let (t, actor) = (&t, &actor);
        async move {
            platform::import(
                &t.db,
                &t.tree,
                &PlatformImport {
                    county,
                    path: &path,
                    dry_run,
                    actor,
                    today: common::today(),
                },
            )
            .await
        }
    };
    let count = |table: &'static str| {
        let t = &t;
        async move {
            let n: i64 = on_pool!(&t.db, p => sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(p).await).unwrap();
            n
        }
    };
    let (persons, referrals) = (count("persons").await, count("referrals").await);
    let dry = run(&file, true).await.unwrap();
    assert_eq!(
        (
            dry.registrations,
            dry.agreeing,
            dry.differing.len(),
            dry.created,
            dry.referrals_new,
            dry.referrals_skipped
        ),
        (2, 0, 1, 1, 1, 1)
    );
    assert_eq!(
        (count("persons").await, count("referrals").await),
        (persons, referrals)
    );
    let r = run(&file, false).await.unwrap();
    assert_eq!(r.differing[0].person, a);
    assert_eq!(
        (r.differing[0].ours.as_str(), r.differing[0].theirs.as_str()),
        ("in_service", "registered")
    );
    assert_eq!(
        (count("persons").await, count("referrals").await),
        (persons + 1, referrals + 1)
    );
    let (state, ext): (String, Option<String>) = on_pool!(&t.db, p => sqlx::query_as(
        "SELECT state, external_ref FROM referrals WHERE external_ref IS NOT NULL").fetch_one(p).await).unwrap();
    assert_eq!(
        (state.as_str(), ext.as_deref()),
        ("initiated", Some("platform:500101:88"))
    );
    // Read again: nothing twice.
    let again = run(&file, false).await.unwrap();
    assert_eq!(
        (again.created, again.referrals_new, again.referrals_known),
        (0, 0, 1)
    );
    assert_eq!(again.differing.len(), 2);
    assert_eq!(
        (count("persons").await, count("referrals").await),
        (persons + 1, referrals + 1)
    );
    // Refused, nothing written: another major version; a code the mapping does not know.
    let mut other = file.clone();
    other["version"] = "2.0".into();
    match run(&other, false).await {
        Err(e @ PlatformImportError::Invalid(_)) => {
            assert!(e.message_zh().contains("版本"), "{}", e.message_zh())
        }
        x => panic!("{x:?}"),
    }
    let mut unknown = file.clone();
    unknown["registrations"][0]["state"] = "99".into();
    match run(&unknown, false).await {
        Err(e @ PlatformImportError::Invalid(_)) => {
            assert!(
                e.message_zh().contains("registrations[0].state"),
                "{}",
                e.message_zh()
            );
        }
        x => panic!("{x:?}"),
    }
    assert_eq!(
        (count("persons").await, count("referrals").await),
        (persons + 1, referrals + 1)
    );
}

backend_tests!(
    registrations_and_referrals_in_the_exchange_format,
    exchange_file_read_into_a_county
);
