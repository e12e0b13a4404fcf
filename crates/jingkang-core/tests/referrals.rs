//! Referrals in the database: sending needs the documents; only the receiver acts, only the
//! sender resends; a transfer moves the person into the receiver's scope while the sender keeps
//! the referral as a trace; deadlines expire in working days; refusals write nothing — on both
//! backends.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use chrono::NaiveDate;
use common::{TestDb, one_person};
use std::collections::BTreeMap;

use jingkang_core::app::referrals::{
    self, ActRefusal, Desk, NewReferral, SendRefusal, Subject, Tray,
};
use jingkang_core::care::referral::{
    Book, ReferralError, ReferralEvent, ReferralRules, ReferralState, WorkCalendar,
};
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::store::{Actor, persons};

const COUNTY: &str = "500110";

const WANSHENG: &str = "500110004";
const OTHER: &str = "500110001";

async fn counts(t: &TestDb) -> (i64, i64, i64) {
    let q = |sql: &'static str| async move {
        on_pool!(&t.db, p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await).unwrap()
    };
    (
        q("SELECT COUNT(*) FROM referrals").await,
        q("SELECT COUNT(*) FROM referral_events").await,
        q("SELECT COUNT(*) FROM audit_log").await,
    )
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The shipped rules on a calendar without holidays (the dates below are plain weekdays).
fn book() -> Book {
    Book {
        rules: ReferralRules::shipped().unwrap(),
        cal: WorkCalendar::default(),
    }
}

fn desk(t: &TestDb, region: &str, user: &str, role: &str) -> Desk {
    Desk::of_role(
        &book(),
        Scope::of(t.tree.get(region).unwrap()),
        Actor::user(user),
        role,
    )
}

async fn send(t: &TestDb, desk: &Desk, n: &NewReferral) -> Result<i64, SendRefusal> {
    let mut tx = t.db.begin().await.unwrap();
    let r = referrals::send(&mut tx, desk, &book(), &t.tree, n)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    r
}

async fn act(
    t: &TestDb,
    desk: &Desk,
    id: i64,
    e: ReferralEvent,
    day: NaiveDate,
) -> Result<ReferralState, ActRefusal> {
    let mut tx = t.db.begin().await.unwrap();
    let r = referrals::act(&mut tx, desk, &book(), &t.tree, id, &e, day)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    r
}

async fn transfer_and_refusals(t: TestDb) {
    let pid = one_person(&t).await;
    let sender = desk(&t, WANSHENG, "clerk", "township");
    let receiver = desk(&t, OTHER, "other", "township");
    let hospital = desk(&t, COUNTY, "ward", "hospital");
    let new = |kind: &str, to: &str, documents: Vec<String>| NewReferral {
        kind: kind.into(),
        subject: Subject::Existing(pid),
        to_region: to.into(),
        reason: "迁居".into(),
        documents: common::filled(&documents),
        contact: common::contact(),
        sent_on: d("2026-11-20"),
    };
    // Refusals write nothing.
    let before = counts(&t).await;
    assert_eq!(
        send(&t, &sender, &new("nonsense", OTHER, vec![])).await,
        Err(SendRefusal::KindUnknown)
    );
    assert_eq!(
        send(&t, &sender, &new("transfer", WANSHENG, vec![])).await,
        Err(SendRefusal::SameRegion)
    );
    assert_eq!(
        send(&t, &receiver, &new("transfer", OTHER, vec![])).await,
        Err(SendRefusal::NotFound),
        "not the sender's person"
    );
    match send(
        &t,
        &hospital,
        &new("hospital_to_community", WANSHENG, vec!["出院信息单".into()]),
    )
    .await
    {
        Err(SendRefusal::Incomplete(missing)) => {
            assert_eq!(missing.len(), 6, "一历六单: six of seven missing")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        send(&t, &hospital, &new("transfer", OTHER, vec![])).await,
        Err(SendRefusal::NotSender),
        "a hospital does not move records"
    );
    assert_eq!(
        send(
            &t,
            &sender,
            &new("relapse", "500110999", vec!["转诊单".into()])
        )
        .await,
        Err(SendRefusal::RegionInvalid)
    );
    assert_eq!(
        send(&t, &sender, &new("transfer", COUNTY, vec![])).await,
        Err(SendRefusal::RegionInvalid),
        "a transfer goes to a township"
    );
    assert_eq!(counts(&t).await, before);

    // A transfer: the deadline is 5 working days (Fri 11-20 → Fri 11-27).
    let rid = send(&t, &sender, &new("transfer", OTHER, vec![]))
        .await
        .unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let inbox = referrals::inbox(&mut tx, &receiver).await.unwrap();
    assert_eq!((inbox.len(), inbox[0].deadline), (1, Some(d("2026-11-27"))));
    assert_eq!(inbox[0].person_name.as_deref(), Some("张三"));
    assert!(
        referrals::inbox(&mut tx, &sender).await.unwrap().is_empty(),
        "not the sender's inbox"
    );
    tx.commit().await.unwrap();
    // Only the receiver acts; the sender cannot accept its own referral; a return needs a reason.
    assert_eq!(
        act(&t, &sender, rid, ReferralEvent::Accept, d("2026-11-23")).await,
        Err(ActRefusal::NotFound)
    );
    assert_eq!(
        act(
            &t,
            &receiver,
            rid,
            ReferralEvent::Return { reason: " ".into() },
            d("2026-11-23")
        )
        .await,
        Err(ActRefusal::Rule(ReferralError::ReasonMissing))
    );
    assert!(matches!(
        act(&t, &receiver, rid, ReferralEvent::Complete, d("2026-11-23")).await,
        Err(ActRefusal::Rule(ReferralError::Illegal { .. }))
    ));
    // Accepted: the person now lives in the receiver's region, out of the sender's scope; the
    // sender still sees the referral.
    assert_eq!(
        act(&t, &receiver, rid, ReferralEvent::Accept, d("2026-11-23")).await,
        Ok(ReferralState::Accepted)
    );
    let mut tx = t.db.begin().await.unwrap();
    assert!(
        persons::get_unaudited(&mut tx, &sender.scope, pid)
            .await
            .unwrap()
            .is_none()
    );
    let p = persons::get_unaudited(&mut tx, &receiver.scope, pid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.record.data.residence_region, OTHER);
    let trace = referrals::sent(&mut tx, &sender, 10).await.unwrap();
    assert_eq!(
        (trace.len(), trace[0].state.as_str(), trace[0].deadline),
        (1, "accepted", Some(d("2026-12-07")))
    );
    let history = persons::history(&mut tx, &receiver.scope, pid)
        .await
        .unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.field == "residence_region" && h.new.as_deref() == Some(OTHER))
    );
    tx.commit().await.unwrap();
    assert_eq!(
        act(&t, &receiver, rid, ReferralEvent::Complete, d("2026-11-30")).await,
        Ok(ReferralState::Completed)
    );
    let events: i64 = on_pool!(&t.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM referral_events WHERE referral_id = $1").bind(rid).fetch_one(p).await).unwrap();
    assert_eq!(events, 3, "send, accept, complete");
}

async fn deadlines_expire_and_returns_are_resent(t: TestDb) {
    let pid = one_person(&t).await;
    let sender = desk(&t, WANSHENG, "clerk", "worker");
    let receiver = desk(&t, OTHER, "other", "worker");
    let b = book();
    let docs = b.rules.kind("between_sites").unwrap().documents.clone();
    let n = NewReferral {
        kind: "between_sites".into(),
        subject: Subject::Existing(pid),
        to_region: OTHER.into(),
        reason: String::new(),
        documents: common::filled(&docs),
        contact: common::contact(),
        sent_on: d("2026-11-20"),
    };
    let rid = send(&t, &sender, &n).await.unwrap();
    // Returned with a reason; the sender resends (a new deadline from the day it resends).
    assert_eq!(
        act(
            &t,
            &receiver,
            rid,
            ReferralEvent::Return {
                reason: "本站已满员".into()
            },
            d("2026-11-23")
        )
        .await,
        Ok(ReferralState::Returned)
    );
    assert_eq!(
        act(&t, &receiver, rid, ReferralEvent::Resend, d("2026-11-24")).await,
        Err(ActRefusal::NotFound),
        "only the sender resends"
    );
    assert_eq!(
        act(&t, &sender, rid, ReferralEvent::Resend, d("2026-11-24")).await,
        Ok(ReferralState::Initiated)
    );
    let mut tx = t.db.begin().await.unwrap();
    assert_eq!(
        referrals::received(&mut tx, &receiver, Tray::Waiting, d("2026-11-24"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        referrals::received(&mut tx, &receiver, Tray::Late, d("2026-12-01"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        referrals::received(&mut tx, &receiver, Tray::Late, d("2026-12-02"))
            .await
            .unwrap()
            .len(),
        1,
        "late before it is marked"
    );
    // Nothing is late on 12-01 (deadline Tue 11-24 + 5 working days = Tue 12-01); on 12-02 it is.
    assert_eq!(
        referrals::expire_due(&mut tx, &b, &t.tree, d("2026-12-01"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        referrals::expire_due(&mut tx, &b, &t.tree, d("2026-12-02"))
            .await
            .unwrap(),
        1
    );
    let inbox = referrals::inbox(&mut tx, &receiver).await.unwrap();
    assert_eq!(inbox[0].state, "timed_out");
    assert!(
        referrals::received(&mut tx, &receiver, Tray::Waiting, d("2026-12-02"))
            .await
            .unwrap()
            .is_empty()
    );
    // The steps, attributed, in order.
    let detail = referrals::get(&mut tx, &receiver, rid)
        .await
        .unwrap()
        .unwrap();
    let steps: Vec<(&str, &str)> = detail
        .steps
        .iter()
        .map(|s| (s.event.as_str(), s.actor.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("send", "user:clerk"),
            ("return", "user:other"),
            ("resend", "user:clerk"),
            ("expire", "system")
        ]
    );
    assert!(detail.receiving && !detail.sending);
    assert_eq!(detail.steps[1].reason.as_deref(), Some("本站已满员"));
    tx.commit().await.unwrap();
    // Late, but still handled.
    assert_eq!(
        act(&t, &receiver, rid, ReferralEvent::Accept, d("2026-12-03")).await,
        Ok(ReferralState::Accepted)
    );
    // A role that does not receive this kind sees nothing of it.
    let police = desk(&t, OTHER, "cop", "police");
    let mut tx = t.db.begin().await.unwrap();
    assert!(
        referrals::get(&mut tx, &police, rid)
            .await
            .unwrap()
            .is_none()
    );
    assert!(referrals::inbox(&mut tx, &police).await.unwrap().is_empty());
    tx.commit().await.unwrap();
}

fn discharge_values(id_number: &str) -> BTreeMap<String, String> {
    [
        ("name", "李四"),
        ("sex", "女"),
        ("id_number", id_number),
        ("grade", "精神二级"),
        ("address", "幸福路3号"),
        ("guardian", "李大"),
        ("guardian_phone", "13912345678"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A hospital discharges a patient not yet in the registry with the 一历六单; the township's
/// acceptance creates the record in its registry; a second discharge of the same person links it;
/// a person registered elsewhere is not duplicated.
async fn discharge_of_a_new_person(t: TestDb) {
    let existing = one_person(&t).await;
    let hospital = desk(&t, COUNTY, "ward", "hospital");
    let township = desk(&t, WANSHENG, "clerk", "township");
    let other = desk(&t, OTHER, "other", "township");
    let docs = book()
        .rules
        .kind("hospital_to_community")
        .unwrap()
        .documents
        .clone();
    let id_number = common::id("500110", "19850505", "456");
    let n = |values: BTreeMap<String, String>, to: &str, docs: Vec<String>| NewReferral {
        kind: "hospital_to_community".into(),
        subject: Subject::New(values),
        to_region: to.into(),
        reason: "出院".into(),
        documents: common::filled(&docs),
        contact: common::contact(),
        sent_on: d("2026-11-20"),
    };
    let before = counts(&t).await;
    // Refused, nothing written: a bad identity (by field), a county instead of a township, missing
    // forms, a kind that cannot carry a new person.
    let mut bad = discharge_values(&id_number);
    bad.insert("id_number".into(), "500110198505054".into());
    match send(&t, &hospital, &n(bad, WANSHENG, docs.clone())).await {
        Err(SendRefusal::Invalid(errors)) => {
            assert!(errors.iter().any(|e| e.field == "id_number"), "{errors:?}")
        }
        other => panic!("{other:?}"),
    }
    match send(
        &t,
        &hospital,
        &n(discharge_values(&id_number), COUNTY, docs.clone()),
    )
    .await
    {
        Err(SendRefusal::RegionInvalid) => {}
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(send(&t, &hospital, &n(discharge_values(&id_number), WANSHENG, docs[..6].to_vec())).await, Err(SendRefusal::Incomplete(m)) if m.len() == 1)
    );
    let transfer = NewReferral {
        kind: "transfer".into(),
        ..n(discharge_values(&id_number), OTHER, vec![])
    };
    assert_eq!(
        send(&t, &township, &transfer).await,
        Err(SendRefusal::NewPersonNotAllowed)
    );
    assert_eq!(counts(&t).await, before);

    let rid = send(
        &t,
        &hospital,
        &n(discharge_values(&id_number), WANSHENG, docs.clone()),
    )
    .await
    .unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let inbox = referrals::inbox(&mut tx, &township).await.unwrap();
    assert_eq!(
        (
            inbox.len(),
            inbox[0].person_id,
            inbox[0].person_name.as_deref()
        ),
        (1, None, Some("李四"))
    );
    assert_eq!(
        referrals::sent(&mut tx, &hospital, 10).await.unwrap().len(),
        1,
        "the hospital's trace"
    );
    assert!(
        referrals::inbox(&mut tx, &hospital)
            .await
            .unwrap()
            .is_empty()
    );
    let found = persons::lookup_id_numbers(&mut tx, &Scope::national(), &[id_number.as_str()])
        .await
        .unwrap();
    assert!(
        found.inside.is_empty(),
        "not in the registry before acceptance"
    );
    tx.commit().await.unwrap();
    // Another township cannot accept it; the right one can, and the person appears in its registry.
    assert_eq!(
        act(&t, &other, rid, ReferralEvent::Accept, d("2026-11-23")).await,
        Err(ActRefusal::NotFound)
    );
    assert_eq!(
        act(&t, &township, rid, ReferralEvent::Accept, d("2026-11-23")).await,
        Ok(ReferralState::Accepted)
    );
    let mut tx = t.db.begin().await.unwrap();
    let found = persons::lookup_id_numbers(&mut tx, &township.scope, &[id_number.as_str()])
        .await
        .unwrap();
    let p = found
        .inside
        .get(&id_number)
        .expect("created in the township's registry");
    assert_eq!(
        (
            p.record.data.name.as_str(),
            p.record.data.residence_region.as_str()
        ),
        ("李四", WANSHENG)
    );
    let detail = referrals::get(&mut tx, &township, rid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.item.person_id, Some(p.id));
    assert_eq!(detail.documents.len(), 7);
    tx.commit().await.unwrap();
    let persons_now: i64 =
        on_pool!(&t.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM persons").fetch_one(p).await)
            .unwrap();
    assert_eq!(persons_now, 2);

    // Discharged again: acceptance links the record already there.
    let again = send(
        &t,
        &hospital,
        &n(discharge_values(&id_number), WANSHENG, docs.clone()),
    )
    .await
    .unwrap();
    assert_eq!(
        act(&t, &township, again, ReferralEvent::Accept, d("2026-11-24")).await,
        Ok(ReferralState::Accepted)
    );
    let persons_now: i64 =
        on_pool!(&t.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM persons").fetch_one(p).await)
            .unwrap();
    assert_eq!(persons_now, 2, "no duplicate");

    // Sent to a township other than where the person is registered: refused, nothing written.
    let zhang = {
        let mut tx = t.db.begin().await.unwrap();
        let p = persons::get_unaudited(&mut tx, &Scope::national(), existing)
            .await
            .unwrap()
            .unwrap();
        tx.commit().await.unwrap();
        p.record.data.id_number
    };
    let mut values = discharge_values(&zhang);
    values.insert("name".into(), "张三".into());
    values.insert("sex".into(), "男".into());
    let wrong = send(&t, &hospital, &n(values, OTHER, docs)).await.unwrap();
    let before = counts(&t).await;
    assert_eq!(
        act(&t, &other, wrong, ReferralEvent::Accept, d("2026-11-24")).await,
        Err(ActRefusal::RegisteredElsewhere)
    );
    assert_eq!(counts(&t).await, before);
}

/// The smallest files of each type `infer` recognises by content.
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";
const PNG: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R',
];

/// What the hospital sends, the township reads: each document itself (a scanned file read back
/// byte for byte and audited, a filled form as typed and sealed at rest), the sending unit and a
/// contact. A document outside the kind's slots, a blank form, a bad contact, a file that is not
/// PDF/JPG/PNG or files too large together are refused, and nothing is written.
async fn the_receiver_reads_the_documents_themselves(t: TestDb) {
    use referrals::{Carried, CheckedFile, Content, FILES_MAX_BYTES};
    let pid = one_person(&t).await;
    let hospital = desk(&t, COUNTY, "ward", "hospital");
    let township = desk(&t, WANSHENG, "clerk", "township");
    let other = desk(&t, OTHER, "other", "township");
    let slots = book()
        .rules
        .kind("hospital_to_community")
        .unwrap()
        .documents
        .clone();
    let file = |name: &str, bytes: &[u8]| Carried {
        slot: slots[0].clone(),
        content: Content::File(CheckedFile::check(name, bytes.to_vec()).unwrap()),
    };
    let mut documents = vec![file("病历摘要.pdf", PDF), file("第2页.png", PNG)];
    documents.extend(common::filled(&slots[1..]));
    let new = |documents: Vec<Carried>, contact: referrals::Contact| NewReferral {
        kind: "hospital_to_community".into(),
        subject: Subject::Existing(pid),
        to_region: WANSHENG.into(),
        reason: "出院回社区".into(),
        documents,
        contact,
        sent_on: d("2026-11-20"),
    };
    assert_eq!(
        CheckedFile::check("a.pdf", b"not a pdf at all".to_vec()),
        Err("referral-file-type"),
        "judged by content, not by name"
    );
    assert_eq!(
        CheckedFile::check("a.pdf", Vec::new()),
        Err("referral-file-empty")
    );
    let before = counts(&t).await;
    let mut unknown = documents.clone();
    unknown.push(Carried::text("转诊单", "不属于出院转介"));
    assert_eq!(
        send(&t, &hospital, &new(unknown, common::contact())).await,
        Err(SendRefusal::DocumentInvalid {
            code: "referral-document-unknown",
            slot: "转诊单".into()
        })
    );
    let mut blank = documents.clone();
    blank.pop();
    blank.push(Carried::text(&slots[slots.len() - 1], "   "));
    assert_eq!(
        send(&t, &hospital, &new(blank, common::contact())).await,
        Err(SendRefusal::Incomplete(vec![
            slots[slots.len() - 1].clone()
        ])),
        "a blank form is not a document"
    );
    let bad_contact = referrals::Contact {
        phone: "12345".into(),
        name: " ".into(),
        ..common::contact()
    };
    match send(&t, &hospital, &new(documents.clone(), bad_contact)).await {
        Err(SendRefusal::ContactInvalid(errors)) => assert_eq!(
            errors.iter().map(|e| e.field).collect::<Vec<_>>(),
            vec!["contact_name", "contact_phone"]
        ),
        other => panic!("{other:?}"),
    }
    let big = {
        let mut bytes = PDF.to_vec();
        bytes.resize(FILES_MAX_BYTES / 4, b' ');
        bytes
    };
    let mut heavy = documents.clone();
    for i in 0..5 {
        heavy.push(file(&format!("{i}.pdf"), &big));
    }
    assert!(matches!(
        send(&t, &hospital, &new(heavy, common::contact())).await,
        Err(SendRefusal::DocumentInvalid {
            code: "referral-files-too-large",
            ..
        })
    ));
    assert_eq!(counts(&t).await, before, "refusals write nothing");

    let rid = send(
        &t,
        &hospital,
        &new(
            documents.clone(),
            referrals::Contact {
                phone: "023 4828 1234 转 801".into(),
                ..common::contact()
            },
        ),
    )
    .await
    .unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let seen = referrals::get(&mut tx, &township, rid)
        .await
        .unwrap()
        .unwrap();
    let contact = seen.contact.clone().expect("the sender's contact");
    assert_eq!(
        (
            contact.unit.as_str(),
            contact.name.as_str(),
            contact.phone.as_str()
        ),
        ("綦江区人民医院", "王医生", "023-48281234-801")
    );
    assert_eq!(seen.carried.len(), slots.len() + 1);
    let files: Vec<_> = seen.carried.iter().filter(|c| c.text.is_none()).collect();
    assert_eq!(
        files
            .iter()
            .map(|f| (
                f.slot.as_str(),
                f.media_type.as_deref(),
                f.file_name.as_deref()
            ))
            .collect::<Vec<_>>(),
        vec![
            (
                slots[0].as_str(),
                Some("application/pdf"),
                Some("病历摘要.pdf")
            ),
            (slots[0].as_str(), Some("image/png"), Some("第2页.png"))
        ]
    );
    for (slot, c) in slots[1..].iter().zip(seen.carried.iter().skip(2)) {
        assert_eq!(
            (c.slot.as_str(), c.text.clone()),
            (slot.as_str(), Some(format!("{slot}：内容见此")))
        );
    }
    let (media, name, bytes) = referrals::document(&mut tx, &township, rid, files[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (media.as_str(), name.as_str(), bytes.as_slice()),
        ("application/pdf", "病历摘要.pdf", PDF)
    );
    assert!(
        referrals::document(&mut tx, &other, rid, files[0].id)
            .await
            .unwrap()
            .is_none(),
        "another township reads nothing"
    );
    assert!(
        referrals::document(&mut tx, &township, rid + 1000, files[0].id)
            .await
            .unwrap()
            .is_none(),
        "the document belongs to its referral"
    );
    tx.commit().await.unwrap();
    let reads: i64 = on_pool!(&t.db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'referral.document.read'").fetch_one(p).await).unwrap();
    assert_eq!(reads, 1, "the read is audited, the refused ones are not");
    let raw: Vec<String> = on_pool!(&t.db, p => sqlx::query_scalar(
        "SELECT body FROM referral_documents WHERE body IS NOT NULL").fetch_all(p).await)
    .unwrap();
    assert!(
        raw.iter()
            .all(|b| jingkang_core::secrets::Keys::is_sealed(b) && !b.contains("内容见此")),
        "filled forms are sealed at rest"
    );
}

backend_tests!(
    the_receiver_reads_the_documents_themselves,
    transfer_and_refusals,
    deadlines_expire_and_returns_are_resent,
    discharge_of_a_new_person
);
