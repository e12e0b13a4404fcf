//! Merging a duplicate record into another, on both backends: the survivor takes the fields chosen
//! and the other record's follow-ups, services, plans and assessments; the indicators count one
//! person; the duplicate is closed and pointing at the survivor; and undoing the merge gives back
//! exactly what was there before.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use chrono::NaiveDate;
use common::{TestDb, plan_and_assess, serve_all, today, visit};
use jingkang_core::care::registration::{Event, TransitionError};
use jingkang_core::care::standard::{Period, StandardRule};
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::store::merge::{self, MergeRequest};
use jingkang_core::store::report::{Measure, Members, members};
use jingkang_core::store::{Actor, Refusal, registration};

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

const PERSONS: [(&str, &str, &str); 3] = [
    ("庚一", "万盛街道", "F20.0"),
    ("庚二", "万盛街道", "F20.0"),
    ("庚三", "万盛街道", "F20.0"),
];

/// Everything a merge may touch, as rows of text, in a stable order.
async fn snapshot(t: &TestDb) -> Vec<String> {
    // The sealed ID number and phone opened (a re-sealed value differs by its nonce).
    let sealed: Vec<(i64, String, Option<String>)> = on_pool!(&t.db, p => sqlx::query_as(
        "SELECT id, id_number, phone FROM persons ORDER BY id").fetch_all(p).await)
    .unwrap();
    let keys = t.db.keys();
    let mut out: Vec<String> = sealed
        .into_iter()
        .map(|(id, idn, phone)| {
            format!(
                "{id}:{}:{}",
                keys.open("persons.id_number", &idn).unwrap(),
                keys.open_opt("persons.phone", phone.as_deref())
                    .unwrap()
                    .unwrap_or_default()
            )
        })
        .collect();
    let queries = [
        "SELECT id || ':' || registration_state || ':' || COALESCE(close_reason, '') \
         || ':' || COALESCE(CAST(merged_into AS TEXT), '') || ':' || COALESCE(CAST(agreement_valid_until AS TEXT), '') || ':' || COALESCE(CAST(plan_review_on AS TEXT), '') \
         FROM persons ORDER BY id",
        "SELECT 'f' || id || ':' || person_id FROM followups ORDER BY id",
        "SELECT 'a' || id || ':' || person_id FROM assessments ORDER BY id",
        "SELECT 'p' || id || ':' || person_id || ':' || version FROM rehab_plans ORDER BY id",
        "SELECT 's' || session_id || ':' || person_id FROM service_attendance ORDER BY session_id, person_id",
        "SELECT 'm' || person_id || ':' || month || ':' || contacts FROM service_months ORDER BY person_id, month",
        "SELECT 'q' || person_id || ':' || CAST(quarter_start AS TEXT) || ':' || seen_year || ':' || seen FROM followup_quarters ORDER BY person_id, quarter_start",
        "SELECT 'r' || person_id || ':' || CAST(quarter_start AS TEXT) || ':' || m1 || m2 || m3 || ':' || CAST(planned AS TEXT) FROM service_quarters ORDER BY person_id, quarter_start",
    ];
    for q in queries {
        let rows: Vec<String> =
            on_pool!(&t.db, p => sqlx::query_scalar(q).fetch_all(p).await).unwrap();
        out.extend(rows);
    }
    out
}

async fn scalar(t: &TestDb, sql: &str, id: i64) -> i64 {
    on_pool!(&t.db, p => sqlx::query_scalar(sql).bind(id).fetch_one(p).await).unwrap()
}

/// A stored value, opened when it is sealed (the column's label from the query).
async fn text(t: &TestDb, sql: &str, id: i64) -> Option<String> {
    let label = if sql.contains("SELECT id_number") {
        "persons.id_number"
    } else if sql.contains("SELECT phone") {
        "persons.phone"
    } else {
        return on_pool!(&t.db, p => sqlx::query_scalar(sql).bind(id).fetch_one(p).await).unwrap();
    };
    common::opened(&t.db, label, sql, id).await
}

async fn merge_undo_restores_everything(t: TestDb) {
    let pid = common::import_named(&t, &PERSONS, (1980, 400), |_| d("2025-01-01")).await;
    let (a, b, c) = (pid["庚一"], pid["庚二"], pid["庚三"]);
    let scope = Scope::of(t.tree.get("500110").unwrap());
    // B carries the history: follow-ups, services (one session both attended), a plan and an
    // assessment; A has a plan and an assessment of its own, so the plans need new numbers.
    visit(&t, &scope, b, "2026-10-10", "1", "regular").await;
    visit(&t, &scope, b, "2026-07-10", "0", "regular").await;
    serve_all(
        &t,
        &scope,
        &[b],
        "case_management",
        &["2026-10-12", "2026-11-02"],
    )
    .await;
    serve_all(&t, &scope, &[a, b], "case_management", &["2026-10-20"]).await;
    plan_and_assess(&t, &scope, a).await;
    plan_and_assess(&t, &scope, b).await;
    on_pool!(&t.db, p => sqlx::query("UPDATE persons SET phone = '13800001111' WHERE id = $1").bind(b).execute(p).await.map(drop)).unwrap();
    common::reseal(&t.db).await;
    let (a_id, b_id) = (
        text(&t, "SELECT id_number FROM persons WHERE id = $1", a).await,
        text(&t, "SELECT id_number FROM persons WHERE id = $1", b).await,
    );
    let before = snapshot(&t).await;

    let q4 = Period::quarter(2026, 4).unwrap();
    let rule = StandardRule::shipped().unwrap();
    let counted = |what: Measure| {
        let (t, scope, q4, rule) = (&t, &scope, &q4, &rule);
        async move {
            let mut tx = t.db.begin_read().await.unwrap();
            let m = members(&mut tx, &t.tree, scope, what, q4, rule)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            m
        }
    };
    assert_eq!(
        counted(Measure::InRegistry).await,
        Members::Persons(vec![a, b, c])
    );
    assert_eq!(counted(Measure::Managed).await, Members::Persons(vec![b]));

    // Refused: a record into itself, an unknown field, out of scope. Nothing written.
    let actor = Actor::user("clerk");
    let take = vec!["id_number".to_string(), "phone".to_string()];
    let req = |survivor, absorbed, take| MergeRequest {
        survivor,
        absorbed,
        take,
        item: None,
        today: today(),
    };
    let refusal = |r: Result<merge::Merged, Refusal>| match r {
        Err(Refusal::Problems(p)) => p[0].code.clone(),
        other => format!("{other:?}"),
    };
    let salary = vec!["salary".to_string()];
    let mut tx = t.db.begin().await.unwrap();
    assert_eq!(
        refusal(
            merge::merge(&mut tx, &scope, &actor, &req(a, a, &take))
                .await
                .unwrap()
        ),
        "merge-same"
    );
    assert_eq!(
        refusal(
            merge::merge(&mut tx, &scope, &actor, &req(a, b, &salary))
                .await
                .unwrap()
        ),
        "merge-field-unknown"
    );
    let elsewhere = Scope::of(t.tree.get("500101").unwrap());
    assert_eq!(
        merge::merge(&mut tx, &elsewhere, &actor, &req(a, b, &take))
            .await
            .unwrap(),
        Err(Refusal::NotFound)
    );
    tx.commit().await.unwrap();
    assert_eq!(snapshot(&t).await, before);

    // The merge: A keeps its record and takes B's ID number and phone.
    let mut tx = t.db.begin().await.unwrap();
    let merged = merge::merge(&mut tx, &scope, &actor, &req(a, b, &take))
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    let fields: Vec<&str> = merged.changes.iter().map(|c| c.field).collect();
    assert_eq!(fields, vec!["id_number", "phone"]);
    // 2 follow-ups, 1 assessment, 2 of B's 3 sessions (the shared one stays).
    assert_eq!(merged.moved, 5);
    let id_of = |id| text(&t, "SELECT id_number FROM persons WHERE id = $1", id);
    assert_eq!(
        (id_of(a).await, id_of(b).await),
        (b_id.clone(), a_id.clone())
    );
    assert_eq!(
        text(&t, "SELECT phone FROM persons WHERE id = $1", a).await,
        Some("13800001111".into())
    );
    assert_eq!(
        text(
            &t,
            "SELECT registration_state || ':' || close_reason FROM persons WHERE id = $1",
            b
        )
        .await,
        Some("closed:merged".into())
    );
    assert_eq!(
        merge::merged_into(&mut t.db.begin_read().await.unwrap(), b)
            .await
            .unwrap(),
        Some(a)
    );
    for (table, n_a, n_b) in [
        ("followups", 2, 0),
        ("assessments", 2, 0),
        ("rehab_plans", 2, 0),
        ("service_attendance", 3, 1),
    ] {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE person_id = $1");
        assert_eq!(
            (scalar(&t, &sql, a).await, scalar(&t, &sql, b).await),
            (n_a, n_b),
            "{table}"
        );
    }
    let versions: Vec<i64> = on_pool!(&t.db, p => sqlx::query_scalar("SELECT version FROM rehab_plans WHERE person_id = $1 ORDER BY version").bind(a).fetch_all(p).await).unwrap();
    assert_eq!(versions, vec![1, 2]);
    // Contacts per month follow the attendance: October 2 (the shared session once), November 1.
    let months: Vec<(String, i64)> = on_pool!(&t.db, p => sqlx::query_as("SELECT month, CAST(contacts AS BIGINT) FROM service_months WHERE person_id = $1 ORDER BY month").bind(a).fetch_all(p).await).unwrap();
    assert_eq!(
        months,
        vec![("2026-10".to_string(), 2), ("2026-11".to_string(), 1)]
    );
    // The indicators see one person, with B's follow-ups.
    assert_eq!(
        counted(Measure::InRegistry).await,
        Members::Persons(vec![a, c])
    );
    assert_eq!(counted(Measure::Managed).await, Members::Persons(vec![a]));
    // The duplicate's state moves only by undoing the merge; it cannot be merged again.
    let gate_rule = jingkang_core::care::eligibility::Rule::default_rule().unwrap();
    let gate = registration::Gate {
        rule: &gate_rule,
        today: today(),
        no_serious_disease: true,
    };
    let mut tx = t.db.begin().await.unwrap();
    let reopen = Event::Reopen {
        reason: "重新申请".into(),
    };
    assert_eq!(
        registration::transition(&mut tx, &scope, &actor, b, &reopen, &gate)
            .await
            .unwrap(),
        Err(registration::Refusal::Rule(TransitionError::Merged))
    );
    assert_eq!(
        refusal(
            merge::merge(&mut tx, &scope, &actor, &req(c, b, &[]))
                .await
                .unwrap()
        ),
        "merge-already"
    );
    tx.commit().await.unwrap();
    let audited: Vec<String> = on_pool!(&t.db, p => sqlx::query_scalar(
        "SELECT action || ':' || target_id FROM audit_log WHERE action LIKE 'person.merge%' ORDER BY id").fetch_all(p).await).unwrap();
    assert_eq!(
        audited,
        vec![
            format!("person.merge:{a}"),
            format!("person.merged_into:{b}")
        ]
    );
    let rows = {
        let mut tx = t.db.begin_read().await.unwrap();
        merge::of_person(&mut tx, &scope, b).await.unwrap()
    };
    assert_eq!(
        rows.iter()
            .map(|m| (m.survivor_id, m.absorbed_id, m.undone))
            .collect::<Vec<_>>(),
        vec![(a, b, false)]
    );

    // Undone: everything as it was, the ID numbers swapped back.
    let mut tx = t.db.begin().await.unwrap();
    let undone = merge::unmerge(&mut tx, &scope, &actor, merged.id, today())
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    assert!(undone.kept.is_empty(), "{:?}", undone.kept);
    assert_eq!(snapshot(&t).await, before);
    assert_eq!(
        counted(Measure::InRegistry).await,
        Members::Persons(vec![a, b, c])
    );
    let mut tx = t.db.begin().await.unwrap();
    assert_eq!(
        refusal(
            merge::unmerge(&mut tx, &scope, &actor, merged.id, today())
                .await
                .unwrap()
                .map(|_| merged.clone())
        ),
        "merge-undone"
    );
    drop(tx);

    // A field edited after the merge keeps the edit when the merge is undone.
    let mut tx = t.db.begin().await.unwrap();
    let again = merge::merge(&mut tx, &scope, &actor, &req(a, b, &take))
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    on_pool!(&t.db, p => sqlx::query("UPDATE persons SET phone = '13911112222' WHERE id = $1").bind(a).execute(p).await.map(drop)).unwrap();
    common::reseal(&t.db).await;
    let mut tx = t.db.begin().await.unwrap();
    let undone = merge::unmerge(&mut tx, &scope, &actor, again.id, today())
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(undone.kept, vec!["phone"]);
    assert_eq!(
        text(&t, "SELECT phone FROM persons WHERE id = $1", a).await,
        Some("13911112222".into())
    );
    assert_eq!((id_of(a).await, id_of(b).await), (a_id, b_id));
}

backend_tests!(merge_undo_restores_everything);
