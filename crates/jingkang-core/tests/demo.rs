//! The demo's institutions, staff, contract and family support (`generate::sites`) on both
//! backends: written through the store's checked paths, once; the services generated after them
//! are delivered by the sites, so the contract counts the persons it served and both flags show.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::{TestDb, today};
use jingkang_core::care::institution::InstitutionRules;
use jingkang_core::generate::{services, sites};
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::store::{contracts, family, institutions};

async fn demo_sites_serve_the_generated_services(t: TestDb) {
    let ids = common::some_persons(&t, 12).await;
    // As after the registration of the generated history.
    on_pool!(&t.db, p => sqlx::query("UPDATE persons SET registration_state = 'in_service'").execute(p).await.map(drop)).unwrap();
    let county = t.tree.get("500110").unwrap().clone();
    let scope = Scope::of(&county);
    let s = sites::write(&t.db, &t.tree, &county, today())
        .await
        .unwrap();
    assert_eq!(
        (s.institutions, s.staff, s.persons_in_care),
        (2, 6, ids.len() as u64),
        "a centre, 万盛's site, three staff each, every person in care"
    );
    let again = sites::write(&t.db, &t.tree, &county, today())
        .await
        .unwrap_err();
    assert_eq!(
        again.downcast_ref::<sites::SitesExist>(),
        Some(&sites::SitesExist(2)),
        "written once"
    );
    let g = services::write(&t.db, 5, 1, today(), None).await.unwrap();
    assert!(g.contacts > 0);

    let site_id: i64 = on_pool!(&t.db, p => sqlx::query_scalar("SELECT id FROM institutions WHERE kind <> 'center'").fetch_one(p).await).unwrap();
    // Every session names the site; the contract counts the persons who attended this year.
    let unnamed: i64 = on_pool!(&t.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM service_sessions WHERE institution_id IS NULL OR institution_id <> $1")
        .bind(site_id).fetch_one(p).await).unwrap();
    assert_eq!(unnamed, 0);
    let attended: i64 = on_pool!(&t.db, p => sqlx::query_scalar("SELECT COUNT(DISTINCT person_id) FROM service_attendance WHERE service_date >= $1")
        .bind(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()).fetch_one(p).await).unwrap();
    let rules = InstitutionRules::shipped().unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let list = institutions::list(&mut tx, &scope, today()).await.unwrap();
    let site = list.iter().find(|i| i.id == site_id).unwrap();
    assert_eq!(site.persons_served, ids.len() as i64);
    assert_eq!(
        (site.staff, site.qualified_staff),
        (3, 0),
        "the last site has nobody certified: under the qualified share"
    );
    let centre = list.iter().find(|i| i.kind == "center").unwrap();
    assert_eq!((centre.staff, centre.qualified_staff), (3, 2));
    let staff = institutions::staff(&mut tx, &scope, &rules, None, today())
        .await
        .unwrap();
    assert_eq!(
        staff.iter().filter(|m| m.under_trained).count(),
        2,
        "every third member trained 10 hours this year"
    );
    assert!(
        staff
            .iter()
            .filter(|m| !m.under_trained)
            .all(|m| m.training_hours >= 20.0)
    );

    let c = contracts::list(&mut tx, &scope, 10).await.unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].persons_served, attended);
    assert!(attended > 0 && c[0].spend_per_person_yuan == Some(c[0].budget_yuan / attended));

    assert_eq!(
        family::trainings(&mut tx, &scope, 10).await.unwrap().len(),
        1
    );
    assert_eq!(family::respite(&mut tx, &scope, 10).await.unwrap().len(), 1);
    let groups = family::groups(&mut tx, &scope, 10).await.unwrap();
    assert_eq!(groups.len(), 1);
    let detail = family::group(&mut tx, &scope, groups[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((detail.members.len(), detail.meetings.len()), (8, 2));
    assert_eq!(family::peers(&mut tx, &scope, 10).await.unwrap().len(), 1);
    tx.commit().await.unwrap();

    // Each entry went through the audited path.
    let audited: i64 = on_pool!(&t.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'person.site'").fetch_one(p).await).unwrap();
    assert_eq!(audited, ids.len() as i64);
}

backend_tests!(demo_sites_serve_the_generated_services);
