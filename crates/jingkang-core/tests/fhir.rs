//! FHIR R4 export, on both backends: a person with follow-ups, an assessment, services, a plan and
//! a referral, exported revealed and masked; every Bundle read back by an R4 library (fhirkit,
//! path-precise validation), with what masking must and must not let through.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use chrono::NaiveDate;
use common::{TestDb, plan_and_assess, serve_all, today, visit};
use jingkang_core::interop::fhir::{self, FhirExport, Subject};
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::store::Actor;
use serde_json::Value;

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// The Bundle read by the R4 library: no error-level issue; the JSON to look into.
fn valid_bundle(text: &str) -> Value {
    let (bundle, issues) = fhirkit::from_json::<fhirkit::r4::Bundle>(text).unwrap();
    let errors: Vec<String> = issues
        .iter()
        .filter(|i| i.severity == fhirkit::Severity::Error)
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(bundle.is_some());
    serde_json::from_str(text).unwrap()
}

fn of_type<'v>(bundle: &'v Value, kind: &str) -> Vec<&'v Value> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == kind)
        .collect()
}

async fn bundles_are_valid_r4_and_masked_unless_revealed(t: TestDb) {
    let pid = common::import_named(
        &t,
        &[("辛一", "万盛街道", "F20.0"), ("辛二", "万盛街道", "F31.2")],
        (1985, 500),
        |_| d("2025-01-01"),
    )
    .await;
    let (a, b) = (pid["辛一"], pid["辛二"]);
    let scope = Scope::of(t.tree.get("500110").unwrap());
    visit(&t, &scope, a, "2026-09-10", "2", "regular").await;
    visit(&t, &scope, a, "2026-10-12", "lost", "").await;
    serve_all(&t, &scope, &[a, b], "case_management", &["2026-10-20"]).await;
    plan_and_assess(&t, &scope, a).await;
    on_pool!(&t.db, p => sqlx::query("UPDATE persons SET phone = '13800001111', diagnosis_name = '精神分裂症' WHERE id = $1").bind(a).execute(p).await.map(drop)).unwrap();
    common::reseal(&t.db).await;
    // A referral to the county's hospital, as a township sends it.
    on_pool!(&t.db, p => sqlx::query(
        "INSERT INTO referrals (person_id, kind, state, from_region, to_region, reason, documents, sent_on, change_id) \
         VALUES ($1, 'relapse', 'initiated', '500110001', '500110', '病情波动，近一周拒绝服药', '[]', '2026-10-13', (SELECT MAX(id) FROM change_sets))")
        .bind(a).execute(p).await.map(drop)).unwrap();
    let id_number = common::opened(
        &t.db,
        "persons.id_number",
        "SELECT id_number FROM persons WHERE id = $1",
        a,
    )
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let actor = Actor::user("exporter");
    let export = |subject, reveal: bool, name: &str| {
        let out = dir.path().join(name);
        let (t, scope, actor) = (&t, &scope, &actor);
        async move {
            let s = fhir::export(
                &t.db,
                &t.tree,
                &FhirExport {
                    scope,
                    subject,
                    out: &out,
                    reveal,
                    actor,
                    reason: "省平台对接测试",
                    today: today(),
                },
            )
            .await
            .unwrap();
            (s, std::fs::read_to_string(&out).unwrap_or_default())
        }
    };

    // The library does check: an impossible birth date and an Observation without status are errors.
    let (_, issues) = fhirkit::from_json::<fhirkit::r4::Bundle>(
        r#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","birthDate":"1990-13-45"}},{"resource":{"resourceType":"Observation","code":{"text":"t"}}}]}"#,
    )
    .unwrap();
    assert!(
        issues
            .iter()
            .filter(|i| i.severity == fhirkit::Severity::Error)
            .count()
            >= 2,
        "{issues:?}"
    );

    // Revealed, one person: every resource kind, the ID number and the diagnosis in clear.
    let (summary, text) = export(Subject::Person(a), true, "a.json").await;
    let summary = summary.unwrap();
    let bundle = valid_bundle(&text);
    assert_eq!(summary.persons, 1);
    assert_eq!(
        summary.resources as usize,
        bundle["entry"].as_array().unwrap().len()
    );
    let patient = of_type(&bundle, "Patient")[0];
    assert_eq!(patient["identifier"][0]["value"], id_number.as_str());
    assert_eq!(
        patient["identifier"][0]["system"],
        fhir::systems().id_number_system.as_str()
    );
    assert_eq!(patient["address"][0]["line"][0], "万盛街道");
    let condition = of_type(&bundle, "Condition")[0];
    assert_eq!(condition["code"]["coding"][0]["code"], "F20.0");
    // Two follow-ups (one found nobody) and one service: three encounters.
    let encounters = of_type(&bundle, "Encounter");
    assert_eq!(encounters.len(), 3);
    assert_eq!(
        encounters
            .iter()
            .filter(|e| e["status"] == "cancelled")
            .count(),
        1
    );
    // The risk grade of the seen follow-up, and the SDSS total.
    let observations = of_type(&bundle, "Observation");
    assert_eq!(observations.len(), 2);
    assert!(observations.iter().any(|o| o["valueInteger"] == 2));
    assert_eq!(of_type(&bundle, "CarePlan").len(), 1);
    let request = of_type(&bundle, "ServiceRequest")[0];
    assert_eq!(request["status"], "active");
    assert_eq!(request["reasonCode"][0]["text"], "病情波动，近一周拒绝服药");
    assert_eq!(bundle["meta"]["security"][0]["code"], "R");

    // Masked, the county: both persons; no ID number, phone, diagnosis, grade or reason in it.
    let (summary, text) = export(
        Subject::Region(t.tree.get("500110").unwrap()),
        false,
        "county.json",
    )
    .await;
    assert_eq!(summary.unwrap().persons, 2);
    let bundle = valid_bundle(&text);
    assert_eq!(of_type(&bundle, "Patient").len(), 2);
    for secret in [
        id_number.as_str(),
        "13800001111",
        "F20",
        "精神分裂症",
        "拒绝服药",
    ] {
        assert!(!text.contains(secret), "{secret} in a masked export");
    }
    assert!(
        of_type(&bundle, "Observation")
            .iter()
            .all(|o| o["dataAbsentReason"]["coding"][0]["code"] == "masked"
                && o.get("valueInteger").is_none())
    );
    assert_eq!(bundle["meta"]["security"][0]["code"], "MASKED");

    // Out of scope: nothing; every export audited with its reason.
    let far = Scope::of(t.tree.get("500101").unwrap());
    let out = dir.path().join("far.json");
    let none = fhir::export(
        &t.db,
        &t.tree,
        &FhirExport {
            scope: &far,
            subject: Subject::Person(a),
            out: &out,
            reveal: true,
            actor: &actor,
            reason: "x",
            today: today(),
        },
    )
    .await
    .unwrap();
    assert_eq!(none, None);
    let audited: Vec<String> = on_pool!(&t.db, p => sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE action = 'export.fhir' ORDER BY id").fetch_all(p).await)
    .unwrap();
    assert_eq!(audited.len(), 2);
    assert!(audited[0].contains("省平台对接测试"));
}

async fn bundle_import_links_and_registers(t: TestDb) {
    use jingkang_core::interop::fhir_import::{self, FhirImport, FhirImportError};
    let pid = common::import_named(
        &t,
        &[
            ("壬一", "万盛街道", "F20.0"),
            ("壬二", "万盛街道", "F20.0"),
            ("壬三", "黑山镇", "F20.0"),
        ],
        (1975, 600),
        |_| d("2025-01-01"),
    )
    .await;
    let county = t.tree.get("500110").unwrap();
    let scope = Scope::of(county);
    let dir = tempfile::tempdir().unwrap();
    let actor = Actor::user("platform");
    let exported = dir.path().join("out.json");
    fhir::export(
        &t.db,
        &t.tree,
        &FhirExport {
            scope: &scope,
            subject: Subject::Region(county),
            out: &exported,
            reveal: true,
            actor: &actor,
            reason: "回传测试",
            today: today(),
        },
    )
    .await
    .unwrap()
    .unwrap();
    let run = |bundle: &Value, dry_run: bool| {
        let path = dir.path().join("in.json");
        std::fs::write(&path, bundle.to_string()).unwrap();
        let (t, actor) = (&t, &actor);
        async move {
            fhir_import::import(
                &t.db,
                &t.tree,
                &FhirImport {
                    county,
                    path: &path,
                    dry_run,
                    actor,
                    today: today(),
                },
            )
            .await
        }
    };
    let persons = || async {
        let n: i64 = on_pool!(&t.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM persons").fetch_one(p).await).unwrap();
        n
    };
    let before = persons().await;
    let mut bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(&exported).unwrap()).unwrap();

    // As exported: every Patient is the person it came from, by ID number.
    let r = run(&bundle, false).await.unwrap();
    assert_eq!((r.patients, r.linked, r.created), (3, 3, 0));
    let mut linked: Vec<i64> = r.outcomes.iter().map(|o| o.person.unwrap()).collect();
    linked.sort();
    let mut ids: Vec<i64> = pid.values().copied().collect();
    ids.sort();
    assert_eq!(linked, ids);
    assert!(r.outcomes.iter().all(|o| o.how == "id_number"));

    // Without its ID number one is found by the linkage; another, a new person, is registered.
    let entries = bundle["entry"].as_array_mut().unwrap();
    let patients: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i]["resource"]["resourceType"] == "Patient")
        .collect();
    entries[patients[0]]["resource"]
        .as_object_mut()
        .unwrap()
        .remove("identifier");
    let newcomer = common::id("500110", "19900315", "713");
    let p1 = &mut entries[patients[1]]["resource"];
    p1["identifier"][0]["value"] = newcomer.clone().into();
    p1["name"] = serde_json::json!([{"family": "欧阳", "given": ["新来"]}]);
    p1["birthDate"] = "1990-03-15".into();
    let dry = run(&bundle, true).await.unwrap();
    assert_eq!((dry.linked, dry.created), (2, 1));
    assert_eq!(persons().await, before);
    let r = run(&bundle, false).await.unwrap();
    assert_eq!((r.linked, r.created), (2, 1));
    let by_linkage = r.outcomes.iter().find(|o| o.entry == patients[0]).unwrap();
    assert_eq!(by_linkage.how, "linkage");
    assert_eq!(by_linkage.person, Some(pid["壬一"]));
    let created = r
        .outcomes
        .iter()
        .find(|o| o.how == "created")
        .unwrap()
        .person
        .unwrap();
    let (name, state, region): (String, String, String) = on_pool!(&t.db, p => sqlx::query_as(
        "SELECT name, registration_state, residence_region FROM persons WHERE id = $1").bind(created).fetch_one(p).await).unwrap();
    assert_eq!((name.as_str(), state.as_str()), ("欧阳新来", "pending"));
    assert!(region.starts_with("500110"), "{region}");
    assert_eq!(persons().await, before + 1);

    // Refused, nothing written: an impossible birth date (where it is), a stranger without an ID.
    let mut bad = bundle.clone();
    bad["entry"][patients[2]]["resource"]["birthDate"] = "1990-13-45".into();
    match run(&bad, false).await {
        Err(e @ FhirImportError::Invalid(_)) => {
            assert!(e.message_zh().contains("birthDate"), "{}", e.message_zh());
        }
        other => panic!("{other:?}"),
    }
    let mut stranger = bundle.clone();
    let p2 = &mut stranger["entry"][patients[2]]["resource"];
    p2.as_object_mut().unwrap().remove("identifier");
    p2["name"] = serde_json::json!([{"text": "查无此人"}]);
    p2["birthDate"] = "1961-07-07".into();
    match run(&stranger, false).await {
        Err(e @ FhirImportError::Invalid(_)) => {
            assert!(e.message_zh().contains("身份证号"), "{}", e.message_zh());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(persons().await, before + 1);
    let audited: i64 = on_pool!(&t.db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'import.fhir'").fetch_one(p).await)
    .unwrap();
    assert_eq!(audited, 2);
}

backend_tests!(
    bundles_are_valid_r4_and_masked_unless_revealed,
    bundle_import_links_and_registers
);
