//! Purchase-of-service contracts on both backends: what a contract bought is computed from the
//! sessions of the provider's institutions in its region and period — not another provider's, not
//! outside the period — and a refused contract writes nothing.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::{TestDb, today};
use jingkang_core::care::institution::InstitutionRules;
use jingkang_core::care::service::{ServiceCatalogue, SessionInput, validate};
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::store::contracts::{self, NewContract};
use jingkang_core::store::institutions::{self, NewInstitution};
use jingkang_core::store::{Actor, services};

fn d(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

async fn contracts_count_what_the_provider_served(t: TestDb) {
    let ids = common::some_persons(&t, 4).await;
    let town = t
        .tree
        .townships_under("500110")
        .into_iter()
        .find(|r| r.name == "万盛街道")
        .unwrap()
        .code
        .clone();
    let county = Scope::of(t.tree.get("500110").unwrap());
    let elsewhere = Scope::of(t.tree.get("500111").unwrap());
    let rules = InstitutionRules::shipped().unwrap();
    let actor = Actor::user("civil");
    let site = |name: &str, code: &str| NewInstitution {
        name: name.into(),
        kind: "site".into(),
        urban: true,
        region: town.clone(),
        address: "一号".into(),
        capacity: 20,
        operator: "承接方".into(),
        operator_code: code.into(),
        opened_on: None,
        status: "operating".into(),
    };
    let mut tx = t.db.begin().await.unwrap();
    let a = institutions::create(
        &mut tx,
        &county,
        &actor,
        (&rules, &t.tree),
        &site("甲站", "91110108551385082Q"),
        today(),
    )
    .await
    .unwrap()
    .unwrap();
    let c = institutions::create(
        &mut tx,
        &county,
        &actor,
        (&rules, &t.tree),
        &site("丙站", "91350100M000100Y43"),
        today(),
    )
    .await
    .unwrap()
    .unwrap();
    institutions::assign_persons(
        &mut tx,
        &county,
        &actor,
        &rules,
        Some(a),
        &[ids[0], ids[1], ids[3]],
    )
    .await
    .unwrap()
    .unwrap();
    institutions::assign_persons(&mut tx, &county, &actor, &rules, Some(c), &[ids[2]])
        .await
        .unwrap()
        .unwrap();
    // Sessions recorded by each site's staff: they name their site.
    let catalogue = ServiceCatalogue::shipped().unwrap();
    let session = |date: &str, who: Vec<i64>| {
        validate(
            &catalogue,
            &SessionInput {
                item: "social_skills".into(),
                mode: "institution".into(),
                dates: vec![date.into()],
                start: "09:00".into(),
                end: "10:00".into(),
                staff: "社工".into(),
                participants: who,
                notes: String::new(),
            },
            today(),
        )
        .unwrap()
    };
    let (at_a, at_c) = (
        county.clone().at_site(Some(a)),
        county.clone().at_site(Some(c)),
    );
    services::record(
        &mut tx,
        &at_a,
        &actor,
        &session("2026-05-10", vec![ids[0], ids[1]]),
    )
    .await
    .unwrap()
    .unwrap();
    services::record(&mut tx, &at_a, &actor, &session("2026-06-10", vec![ids[0]]))
        .await
        .unwrap()
        .unwrap();
    services::record(&mut tx, &at_a, &actor, &session("2025-12-01", vec![ids[3]]))
        .await
        .unwrap()
        .unwrap();
    services::record(&mut tx, &at_c, &actor, &session("2026-05-10", vec![ids[2]]))
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();

    let contract = NewContract {
        region: "500110".into(),
        buyer: "綦江区民政局".into(),
        provider: "心翼社工中心".into(),
        provider_code: "91110108551385082q".into(),
        starts_on: d("2026-01-01"),
        ends_on: d("2026-12-31"),
        budget_yuan: 20_000,
        per_person_yuan: None,
        planned_persons: None,
    };
    let mut tx = t.db.begin().await.unwrap();
    let bad = NewContract {
        provider_code: "91110108551385082A".into(),
        ends_on: d("2025-12-31"),
        budget_yuan: 0,
        ..contract.clone()
    };
    assert_eq!(
        contracts::record(&mut tx, &county, &actor, (&rules, &t.tree), &bad)
            .await
            .unwrap()
            .unwrap_err(),
        vec![
            ("provider_code", "uscc-checksum"),
            ("ends_on", "contract-period-invalid"),
            ("budget_yuan", "contract-budget-invalid")
        ]
    );
    assert_eq!(
        contracts::record(&mut tx, &elsewhere, &actor, (&rules, &t.tree), &contract)
            .await
            .unwrap()
            .unwrap_err(),
        vec![("region", "contract-region-invalid")]
    );
    tx.commit().await.unwrap();
    let none: i64 = on_pool!(&t.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM service_contracts").fetch_one(p).await).unwrap();
    assert_eq!(none, 0, "refused: nothing written");

    let mut tx = t.db.begin().await.unwrap();
    contracts::record(&mut tx, &county, &actor, (&rules, &t.tree), &contract)
        .await
        .unwrap()
        .unwrap();
    let ambitious = NewContract {
        planned_persons: Some(5),
        per_person_yuan: Some(8_000),
        ..contract.clone()
    };
    contracts::record(&mut tx, &county, &actor, (&rules, &t.tree), &ambitious)
        .await
        .unwrap()
        .unwrap();
    let list = contracts::list(&mut tx, &county, 10).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(list.len(), 2);
    let plain = list.iter().find(|c| c.per_person_yuan == 10_000).unwrap();
    // Persons 0 and 1 at the provider's site in 2026 (three attendances); not person 3 (2025), not person 2 (another provider).
    assert_eq!(
        (
            plain.persons_served,
            plain.contacts,
            plain.spend_per_person_yuan,
            plain.standard_for_period_yuan
        ),
        (2, 3, Some(10_000), 10_000)
    );
    assert_eq!(
        (
            plain.planned_persons,
            plain.under_served,
            plain.provider_code.as_str()
        ),
        (2, false, "91110108551385082Q")
    );
    let more = list.iter().find(|c| c.per_person_yuan == 8_000).unwrap();
    assert_eq!((more.planned_persons, more.under_served), (5, true));
    let mut tx = t.db.begin().await.unwrap();
    assert!(
        contracts::list(&mut tx, &elsewhere, 10)
            .await
            .unwrap()
            .is_empty()
    );
    tx.commit().await.unwrap();
}

backend_tests!(contracts_count_what_the_provider_served);
