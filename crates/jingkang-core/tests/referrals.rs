//! Referrals in the database: sending needs the documents; only the receiver acts, only the
//! sender resends; a transfer moves the person into the receiver's scope while the sender keeps
//! the referral as a trace; deadlines expire in working days; refusals write nothing — on both
//! backends.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use chrono::NaiveDate;
use common::{TestDb, one_person};
use jingkang_core::care::referral::{ReferralError, ReferralEvent, ReferralRules, ReferralState, WorkCalendar};
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::store::referrals::{self, ActRefusal, NewReferral, SendRefusal};
use jingkang_core::store::{Actor, persons};

const WANSHENG: &str = "500110004";
const OTHER: &str = "500110001";

async fn counts(t: &TestDb) -> (i64, i64, i64) {
    let q = |sql: &'static str| async move { on_pool!(&t.db, p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await).unwrap() };
    (q("SELECT COUNT(*) FROM referrals").await, q("SELECT COUNT(*) FROM referral_events").await, q("SELECT COUNT(*) FROM audit_log").await)
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

async fn transfer_and_refusals(t: TestDb) {
    let pid = one_person(&t).await;
    let rules = ReferralRules::shipped().unwrap();
    let cal = WorkCalendar::default();
    let sender = Scope::of(t.tree.get(WANSHENG).unwrap());
    let receiver = Scope::of(t.tree.get(OTHER).unwrap());
    let new = |kind: &str, to: &str, documents: Vec<String>| NewReferral {
        kind: kind.into(), person_id: pid, to_region: to.into(), reason: "迁居".into(), documents, sent_on: d("2026-11-20"),
    };
    let send = |n: NewReferral, scope: Scope| {
        let (db, rules, cal) = (t.db.clone(), rules.clone(), cal.clone());
        async move {
            let mut tx = db.begin().await.unwrap();
            let r = referrals::send(&mut tx, &scope, &Actor::user("clerk"), &rules, &cal, &n).await.unwrap();
            tx.commit().await.unwrap();
            r
        }
    };
    let act = |scope: Scope, id: i64, e: ReferralEvent, day: NaiveDate| {
        let (db, rules, cal) = (t.db.clone(), rules.clone(), cal.clone());
        async move {
            let mut tx = db.begin().await.unwrap();
            let r = referrals::act(&mut tx, &scope, &Actor::user("other"), &rules, &cal, id, &e, day).await.unwrap();
            tx.commit().await.unwrap();
            r
        }
    };
    // Refusals write nothing.
    let before = counts(&t).await;
    assert_eq!(send(new("nonsense", OTHER, vec![]), sender.clone()).await, Err(SendRefusal::KindUnknown));
    assert_eq!(send(new("transfer", WANSHENG, vec![]), sender.clone()).await, Err(SendRefusal::SameRegion));
    assert_eq!(send(new("transfer", OTHER, vec![]), receiver.clone()).await, Err(SendRefusal::NotFound), "not the sender's person");
    match send(new("hospital_to_community", OTHER, vec!["出院信息单".into()]), sender.clone()).await {
        Err(SendRefusal::Incomplete(missing)) => assert_eq!(missing.len(), 6, "一历六单: six of seven missing"),
        other => panic!("{other:?}"),
    }
    assert_eq!(counts(&t).await, before);

    // A transfer: the deadline is 5 working days (Fri 11-20 → Fri 11-27).
    let rid = send(new("transfer", OTHER, vec![]), sender.clone()).await.unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let inbox = referrals::inbox(&mut tx, &receiver).await.unwrap();
    assert_eq!((inbox.len(), inbox[0].deadline), (1, Some(d("2026-11-27"))));
    assert_eq!(inbox[0].person_name.as_deref(), Some("张三"));
    assert!(referrals::inbox(&mut tx, &sender).await.unwrap().is_empty(), "not the sender's inbox");
    tx.commit().await.unwrap();
    // Only the receiver acts; the sender cannot accept its own referral; a return needs a reason.
    assert_eq!(act(sender.clone(), rid, ReferralEvent::Accept, d("2026-11-23")).await, Err(ActRefusal::NotFound));
    assert_eq!(act(receiver.clone(), rid, ReferralEvent::Return { reason: " ".into() }, d("2026-11-23")).await, Err(ActRefusal::Rule(ReferralError::ReasonMissing)));
    assert!(matches!(act(receiver.clone(), rid, ReferralEvent::Complete, d("2026-11-23")).await, Err(ActRefusal::Rule(ReferralError::Illegal { .. }))));
    // Accepted: the person now lives in the receiver's region, out of the sender's scope; the
    // sender still sees the referral.
    assert_eq!(act(receiver.clone(), rid, ReferralEvent::Accept, d("2026-11-23")).await, Ok(ReferralState::Accepted));
    let mut tx = t.db.begin().await.unwrap();
    assert!(persons::get_unaudited(&mut tx, &sender, pid).await.unwrap().is_none());
    let p = persons::get_unaudited(&mut tx, &receiver, pid).await.unwrap().unwrap();
    assert_eq!(p.record.data.residence_region, OTHER);
    let trace = referrals::sent(&mut tx, &sender, 10).await.unwrap();
    assert_eq!((trace.len(), trace[0].state.as_str(), trace[0].deadline), (1, "accepted", Some(d("2026-12-07"))));
    let history = persons::history(&mut tx, &receiver, pid).await.unwrap();
    assert!(history.iter().any(|h| h.field == "residence_region" && h.new.as_deref() == Some(OTHER)));
    tx.commit().await.unwrap();
    assert_eq!(act(receiver.clone(), rid, ReferralEvent::Complete, d("2026-11-30")).await, Ok(ReferralState::Completed));
    let events: i64 = on_pool!(&t.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM referral_events WHERE referral_id = $1").bind(rid).fetch_one(p).await).unwrap();
    assert_eq!(events, 3, "send, accept, complete");
}

async fn deadlines_expire_and_returns_are_resent(t: TestDb) {
    let pid = one_person(&t).await;
    let rules = ReferralRules::shipped().unwrap();
    let cal = WorkCalendar::default();
    let sender = Scope::of(t.tree.get(WANSHENG).unwrap());
    let receiver = Scope::of(t.tree.get(OTHER).unwrap());
    let docs = rules.kind("between_sites").unwrap().documents.clone();
    let n = NewReferral { kind: "between_sites".into(), person_id: pid, to_region: OTHER.into(), reason: String::new(), documents: docs, sent_on: d("2026-11-20") };
    let mut tx = t.db.begin().await.unwrap();
    let rid = referrals::send(&mut tx, &sender, &Actor::user("clerk"), &rules, &cal, &n).await.unwrap().unwrap();
    // Returned with a reason; the sender resends (a new deadline from the day it resends).
    let r = referrals::act(&mut tx, &receiver, &Actor::user("other"), &rules, &cal, rid, &ReferralEvent::Return { reason: "本站已满员".into() }, d("2026-11-23")).await.unwrap();
    assert_eq!(r, Ok(ReferralState::Returned));
    assert_eq!(referrals::act(&mut tx, &receiver, &Actor::user("other"), &rules, &cal, rid, &ReferralEvent::Resend, d("2026-11-24")).await.unwrap(), Err(ActRefusal::NotFound), "only the sender resends");
    assert_eq!(referrals::act(&mut tx, &sender, &Actor::user("clerk"), &rules, &cal, rid, &ReferralEvent::Resend, d("2026-11-24")).await.unwrap(), Ok(ReferralState::Initiated));
    // Nothing is late on 12-01 (deadline Tue 11-24 + 5 working days = Tue 12-01); on 12-02 it is.
    assert_eq!(referrals::expire_due(&mut tx, &rules, &cal, d("2026-12-01")).await.unwrap(), 0);
    assert_eq!(referrals::expire_due(&mut tx, &rules, &cal, d("2026-12-02")).await.unwrap(), 1);
    let inbox = referrals::inbox(&mut tx, &receiver).await.unwrap();
    assert_eq!(inbox[0].state, "timed_out");
    // Late, but still handled.
    assert_eq!(referrals::act(&mut tx, &receiver, &Actor::user("other"), &rules, &cal, rid, &ReferralEvent::Accept, d("2026-12-03")).await.unwrap(), Ok(ReferralState::Accepted));
    tx.commit().await.unwrap();
}

backend_tests!(transfer_and_refusals, deadlines_expire_and_returns_are_resent);
