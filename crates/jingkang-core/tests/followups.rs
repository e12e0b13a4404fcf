//! Follow-ups in the database: recording one moves the person's risk, class and schedule with a
//! risk history row and an audit entry; a late entry keeps the schedule of the latest visit;
//! refusals write nothing; the worklists match a scan of the schedule — on both backends.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use common::{TestDb, id, today, write_roster_xlsx};
use jingkang_core::care::followup::{self, FormDef};
use jingkang_core::care::schedule::ConditionClass;
use jingkang_core::import::{ImportOptions, import_roster};
use jingkang_core::regions::Scope;
use jingkang_core::store::followups::{self, Refusal};
use jingkang_core::store::worklists::{self, WorkFilter, Worklist};
use jingkang_core::store::{Actor, audit, persons};
use jingkang_core::{on_pool, on_tx};

/// Four persons: three in 万盛街道, one in 东林街道. Returns their ids in roster order.
async fn roster(t: &TestDb) -> Vec<i64> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.xlsx");
    let ids = [
        id("500110", "19900101", "123"),
        id("500110", "19850505", "242"),
        id("500110", "19800808", "345"),
        id("500110", "19750707", "456"),
    ];
    write_roster_xlsx(
        &path,
        &[
            [
                "万盛街道",
                "张三",
                "男",
                "36",
                &ids[0],
                "",
                "",
                "新华路12号",
                "张大山",
                "13812345678",
                "",
            ],
            [
                "万盛街道",
                "李四",
                "女",
                "41",
                &ids[1],
                "",
                "",
                "新华路14号",
                "李大山",
                "13812345679",
                "",
            ],
            [
                "万盛街道",
                "王五",
                "男",
                "46",
                &ids[2],
                "",
                "",
                "新华路16号",
                "王大山",
                "13812345670",
                "",
            ],
            [
                "东林街道",
                "赵六",
                "女",
                "51",
                &ids[3],
                "",
                "",
                "东林路1号",
                "赵大山",
                "13812345671",
                "",
            ],
        ],
    );
    let actor = Actor::user("tester");
    let opts = ImportOptions {
        county: "500110",
        dry_run: false,
        actor: &actor,
        source: "test",
        today: today(),
        progress: None,
    };
    import_roster(&t.db, &t.tree, &path, &opts).await.unwrap();
    let mut out = Vec::new();
    for n in &ids {
        out.push(common::person_by_id_number(&t.db, n).await);
    }
    out
}

fn form() -> &'static FormDef {
    FormDef::shipped().unwrap()
}

fn filled(visit: NaiveDate, over: &[(&str, &str)]) -> followup::Followup {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let visit = visit.to_string();
    let base = [
        ("visit_date", visit.as_str()),
        ("mode", "home"),
        ("risk_grade", "0"),
        ("symptom_level", "none"),
        ("insight", "complete"),
        ("social.self_care", "good"),
        ("social.housework", "good"),
        ("social.work", "good"),
        ("social.learning", "good"),
        ("social.interpersonal", "good"),
        ("adherence", "regular"),
        ("doctor", "王医生"),
    ];
    for (k, v) in base
        .iter()
        .filter(|(k, _)| !over.iter().any(|(o, _)| o == k))
        .chain(over.iter())
    {
        if !v.is_empty() {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
    }
    followup::validate(form(), &m, today()).unwrap()
}

async fn counts(t: &TestDb) -> [i64; 4] {
    let q = |sql: &'static str| async move {
        on_pool!(&t.db, p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await).unwrap()
    };
    [
        q("SELECT COUNT(*) FROM followups").await,
        q("SELECT COUNT(*) FROM person_history").await,
        q("SELECT COUNT(*) FROM audit_log").await,
        q("SELECT COUNT(*) FROM change_sets").await,
    ]
}

async fn record(
    t: &TestDb,
    scope: &Scope,
    pid: i64,
    f: &followup::Followup,
) -> Result<followups::Recorded, Refusal> {
    record_as(t, scope, pid, f, followups::SameDay::Ask).await
}

async fn record_as(
    t: &TestDb,
    scope: &Scope,
    pid: i64,
    f: &followup::Followup,
    same_day: followups::SameDay,
) -> Result<followups::Recorded, Refusal> {
    let mut tx = t.db.begin().await.unwrap();
    let r = followups::record(
        &mut tx,
        scope,
        &Actor::user("doctor1"),
        pid,
        form(),
        f,
        same_day,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    r
}

/// A second follow-up of a person on the same visit date is not saved without a word: it is
/// refused, naming the earlier one (its doctor), and nothing is written; confirmed, it is saved.
async fn a_second_follow_up_of_the_day_asks_first(t: TestDb) {
    let pids = roster(&t).await;
    let county = Scope::of(t.tree.get("500110").unwrap());
    let day = d("2026-11-20");
    record(&t, &county, pids[0], &filled(day, &[]))
        .await
        .unwrap();
    // Another person, and another day of the same person, are not asked about.
    record(&t, &county, pids[1], &filled(day, &[]))
        .await
        .unwrap();
    let before = counts(&t).await;
    let again = filled(day, &[("doctor", "李医生"), ("risk_grade", "1")]);
    let Err(Refusal::SameDay(earlier)) = record(&t, &county, pids[0], &again).await else {
        panic!("a second follow-up of the day was saved without asking");
    };
    assert_eq!(counts(&t).await, before, "nothing written");
    assert_eq!(
        (earlier.visit_date, earlier.doctor.as_str()),
        (day, "王医生")
    );
    let message = earlier.field_error().message;
    assert!(
        message.contains("2026-11-20 已有一条随访记录") && message.contains("王医生"),
        "{message}"
    );
    let done = record_as(&t, &county, pids[0], &again, followups::SameDay::Confirmed)
        .await
        .unwrap();
    assert_eq!(done.risk_after, Some(1));
    record(&t, &county, pids[0], &filled(d("2026-11-21"), &[]))
        .await
        .unwrap();
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

async fn a_risk_trajectory_moves_class_and_schedule(t: TestDb) {
    let pids = roster(&t).await;
    let pid = pids[0];
    let county = Scope::of(t.tree.get("500110").unwrap());
    let before = counts(&t).await;

    // Stable → 3 months.
    let r = record(&t, &county, pid, &filled(d("2026-06-01"), &[]))
        .await
        .unwrap();
    assert_eq!(
        (r.conclusion.class, r.conclusion.next_date, r.current),
        (Some(ConditionClass::Stable), Some(d("2026-09-01")), true)
    );
    // Risk 3 → unstable, 2 weeks; the risk grade changes with a history row.
    let r = record(
        &t,
        &county,
        pid,
        &filled(d("2026-08-20"), &[("risk_grade", "3")]),
    )
    .await
    .unwrap();
    assert_eq!(
        (r.conclusion.class, r.conclusion.next_date),
        (Some(ConditionClass::Unstable), Some(d("2026-09-03")))
    );
    assert_eq!((r.risk_before, r.risk_after), (Some(0), Some(3)));
    // Risk 1 after unstable → basically stable, still 2 weeks; then held → 3 months.
    let r = record(
        &t,
        &county,
        pid,
        &filled(d("2026-09-02"), &[("risk_grade", "1")]),
    )
    .await
    .unwrap();
    assert_eq!(
        (r.conclusion.class, r.conclusion.next_date),
        (Some(ConditionClass::BasicallyStable), Some(d("2026-09-16")))
    );
    let r = record(
        &t,
        &county,
        pid,
        &filled(d("2026-09-15"), &[("risk_grade", "1")]),
    )
    .await
    .unwrap();
    assert_eq!(r.conclusion.next_date, Some(d("2026-12-15")));
    // A late entry of an older visit is kept but does not move the schedule.
    let r = record(
        &t,
        &county,
        pid,
        &filled(d("2026-07-01"), &[("risk_grade", "2")]),
    )
    .await
    .unwrap();
    assert!(!r.current);
    // Lost: the class and risk stay, the date moves to a retry in 2 weeks.
    let lost = filled(
        d("2026-11-20"),
        &[
            ("lost_reason", "migrant_work"),
            ("risk_grade", ""),
            ("symptom_level", ""),
            ("insight", ""),
            ("mode", "phone"),
        ],
    );
    let r = record(&t, &county, pid, &lost).await.unwrap();
    assert_eq!(
        (r.conclusion.class, r.conclusion.next_date, r.risk_after),
        (None, Some(d("2026-12-04")), Some(1))
    );

    let after = counts(&t).await;
    // 6 follow-ups, 6 change sets, 6 audit entries; risk history: 0 (import had none → 0), →3, →1.
    assert_eq!(after[0] - before[0], 6);
    assert_eq!(after[3] - before[3], 6);
    assert_eq!(after[2] - before[2], 6);
    assert_eq!(after[1] - before[1], 3);

    let mut tx = t.db.begin().await.unwrap();
    let s = followups::schedule(&mut tx, &county, pid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.risk_grade, Some(1));
    assert_eq!(s.condition_class.as_deref(), Some("basically_stable"));
    assert_eq!(
        (s.last_followup_date, s.next_followup_date, s.followup_lost),
        (Some(d("2026-11-20")), Some(d("2026-12-04")), true)
    );
    let list = followups::list(&mut tx, &county, pid, 100).await.unwrap();
    assert_eq!(
        list.iter().map(|f| f.visit_date).collect::<Vec<_>>(),
        [
            d("2026-11-20"),
            d("2026-09-15"),
            d("2026-09-02"),
            d("2026-08-20"),
            d("2026-07-01"),
            d("2026-06-01")
        ]
    );
    assert!(list[0].lost && list[0].risk_grade.is_none());
    assert_eq!(list[3].answers["risk_grade"], "3");
    assert_eq!(list[3].recorded_by, "user:doctor1");
    let p = persons::get_unaudited(&mut tx, &county, pid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        p.record.data.risk_grade,
        Some(1),
        "the registry's risk grade is the follow-up's"
    );
    // The audit entries say a follow-up was recorded, never what it found.
    let log = audit::entries(&mut tx).await.unwrap();
    let fu: Vec<_> = log
        .iter()
        .filter(|e| e.action == "followup.record")
        .collect();
    assert_eq!(fu.len(), 6);
    assert!(
        fu.iter()
            .all(|e| !e.detail.contains("risk") && !e.detail.contains("王医生"))
    );
    assert_eq!(audit::verify(&mut tx).await.unwrap().first_broken, None);
    // Another county sees nothing.
    let elsewhere = Scope::of(t.tree.get("500111").unwrap());
    assert!(
        followups::list(&mut tx, &elsewhere, pid, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        followups::schedule(&mut tx, &elsewhere, pid)
            .await
            .unwrap()
            .is_none()
    );
    tx.commit().await.unwrap();

    // Refusals write nothing: out of scope, unknown person, a next date later than the rule allows.
    let before = counts(&t).await;
    assert_eq!(
        record(&t, &elsewhere, pid, &filled(d("2026-11-21"), &[]))
            .await
            .unwrap_err(),
        Refusal::NotFound
    );
    assert_eq!(
        record(&t, &county, 9_999_999, &filled(d("2026-11-21"), &[]))
            .await
            .unwrap_err(),
        Refusal::NotFound
    );
    let late = filled(
        d("2026-11-21"),
        &[("risk_grade", "4"), ("next_date", "2027-01-01")],
    );
    match record(&t, &county, pid, &late).await {
        Err(Refusal::Invalid(errs)) => assert_eq!(errs[0].code, "followup-next-too-late"),
        other => panic!("{other:?}"),
    }
    assert_eq!(counts(&t).await, before);
}

/// Each worklist equals a scan of the schedule columns by its definition, within scope.
async fn worklists_match_their_definitions(t: TestDb) {
    let pids = roster(&t).await;
    let county = Scope::of(t.tree.get("500110").unwrap());
    let today = today(); // 2026-11-23
    // 张三: stable on 2026-08-01 → due 2026-11-01: overdue.
    record(&t, &county, pids[0], &filled(d("2026-08-01"), &[]))
        .await
        .unwrap();
    // 李四: unstable on 2026-11-01 → next 11-15: overdue, and unstable without follow-up for 22 days.
    record(
        &t,
        &county,
        pids[1],
        &filled(d("2026-11-01"), &[("insight", "none")]),
    )
    .await
    .unwrap();
    // 王五: stable on 2026-08-25 → due 2026-11-25: due this week.
    record(&t, &county, pids[2], &filled(d("2026-08-25"), &[]))
        .await
        .unwrap();
    // 赵六 (东林街道): lost on 2026-11-20 → retry 12-04: lost, not overdue.
    let lost = filled(
        d("2026-11-20"),
        &[
            ("lost_reason", "moved"),
            ("risk_grade", ""),
            ("symptom_level", ""),
            ("insight", ""),
        ],
    );
    record(&t, &county, pids[3], &lost).await.unwrap();

    let names =
        |items: &[worklists::WorkItem]| items.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
    let mut tx = t.db.begin().await.unwrap();
    let get = |list| {
        (
            list,
            WorkFilter {
                limit: Some(50),
                ..Default::default()
            },
        )
    };
    for (list, expected) in [
        (Worklist::Overdue, vec!["张三", "李四"]),
        (Worklist::Due, vec!["王五"]),
        (Worklist::Unstable, vec!["李四"]),
        (Worklist::Lost, vec!["赵六"]),
    ] {
        let (list, filter) = get(list);
        let (items, total) = worklists::items(&mut tx, &county, list, today, &filter)
            .await
            .unwrap();
        assert_eq!(names(&items), expected, "{list:?}");
        assert_eq!(total, expected.len() as i64);
    }
    // Narrowed to 万盛街道: 赵六 is gone; another county sees nothing; a page of one.
    let wansheng = Scope::of(t.tree.get("500110004").unwrap());
    let (items, _) = worklists::items(
        &mut tx,
        &wansheng,
        Worklist::Lost,
        today,
        &WorkFilter::default(),
    )
    .await
    .unwrap();
    assert!(items.is_empty());
    let within = WorkFilter {
        within: Some(Scope::of(t.tree.get("500110004").unwrap())),
        ..Default::default()
    };
    assert_eq!(
        worklists::items(&mut tx, &county, Worklist::Overdue, today, &within)
            .await
            .unwrap()
            .1,
        2
    );
    let elsewhere = Scope::of(t.tree.get("500111").unwrap());
    assert_eq!(
        worklists::items(
            &mut tx,
            &elsewhere,
            Worklist::Overdue,
            today,
            &WorkFilter::default()
        )
        .await
        .unwrap()
        .1,
        0
    );
    let outside = WorkFilter {
        within: Some(county.clone()),
        ..Default::default()
    };
    assert_eq!(
        worklists::items(&mut tx, &wansheng, Worklist::Overdue, today, &outside)
            .await
            .unwrap()
            .1,
        0,
        "within must be inside the scope"
    );
    let page = WorkFilter {
        limit: Some(1),
        offset: 1,
        ..Default::default()
    };
    let (items, total) = worklists::items(&mut tx, &county, Worklist::Overdue, today, &page)
        .await
        .unwrap();
    assert_eq!((names(&items), total), (vec!["李四".to_string()], 2));
    // By the user who did the last follow-up.
    let mine = WorkFilter {
        by: Some("user:doctor1".into()),
        ..Default::default()
    };
    assert_eq!(
        worklists::items(&mut tx, &county, Worklist::Overdue, today, &mine)
            .await
            .unwrap()
            .1,
        2
    );
    let theirs = WorkFilter {
        by: Some("user:someone".into()),
        ..Default::default()
    };
    assert_eq!(
        worklists::items(&mut tx, &county, Worklist::Overdue, today, &theirs)
            .await
            .unwrap()
            .1,
        0
    );
    // A week later 王五 is overdue too.
    let later = today + Duration::days(7);
    let (items, _) = worklists::items(
        &mut tx,
        &county,
        Worklist::Overdue,
        later,
        &WorkFilter::default(),
    )
    .await
    .unwrap();
    assert_eq!(names(&items), ["张三", "李四", "王五"]);
    tx.commit().await.unwrap();
}

backend_tests!(
    a_risk_trajectory_moves_class_and_schedule,
    a_second_follow_up_of_the_day_asks_first,
    worklists_match_their_definitions
);

/// `gen history` writes follow-ups and registration events whose last follow-up is each person's
/// schedule, and refuses a second run without writing anything.
async fn generated_history_is_consistent(t: TestDb) {
    use jingkang_core::generate::history;
    let pids = roster(&t).await;
    let done = history::write(&t.db, 7, 2, today(), None).await.unwrap();
    assert_eq!(done.persons, pids.len() as u64);
    assert!(done.followups >= 4 * 4, "{done:?}");
    let county = Scope::of(t.tree.get("500110").unwrap());
    let mut tx = t.db.begin().await.unwrap();
    for pid in &pids {
        let list = followups::list(&mut tx, &county, *pid, 1000).await.unwrap();
        let s = followups::schedule(&mut tx, &county, *pid)
            .await
            .unwrap()
            .unwrap();
        let last = list.first().unwrap();
        assert_eq!(s.last_followup_date, Some(last.visit_date));
        assert_eq!(s.next_followup_date, last.next_date);
        assert_eq!(s.followup_lost, last.lost);
        assert!(
            list.iter()
                .all(|f| f.visit_date <= today() && f.recorded_by == "system")
        );
    }
    tx.commit().await.unwrap();
    // Registered persons have their agreements, and the person's column is their end.
    let n: i64 = on_pool!(&t.db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM persons p WHERE p.registration_state IN ('registered','in_service','suspended') \
         AND p.agreement_valid_until = (SELECT max(valid_until) FROM agreements a WHERE a.person_id = p.id AND a.kind = 'service')").fetch_one(p).await).unwrap();
    let registered: i64 = on_pool!(&t.db, p => sqlx::query_scalar(
        "SELECT COUNT(*) FROM persons WHERE registration_state IN ('registered','in_service','suspended')").fetch_one(p).await).unwrap();
    assert_eq!(n, registered);
    // Generated referrals carry their documents as typed forms (sealed) and a contact, as sent.
    let (slots, carried, contacts): (i64, i64, i64) = on_pool!(&t.db, p => sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM referrals r WHERE r.documents <> '[]'), \
                (SELECT COUNT(DISTINCT referral_id) FROM referral_documents WHERE body LIKE 'jk1:%'), \
                (SELECT COUNT(*) FROM referrals WHERE contact_phone IS NOT NULL)").fetch_one(p).await).unwrap();
    let total: i64 = on_pool!(&t.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM referrals").fetch_one(p).await).unwrap();
    assert_eq!((carried, contacts), (slots, total));
    let before = counts(&t).await;
    let again = history::write(&t.db, 7, 2, today(), None)
        .await
        .unwrap_err();
    assert!(again.downcast_ref::<history::HistoryExists>().is_some());
    assert_eq!(counts(&t).await, before);
}

backend_tests!(generated_history_is_consistent);

async fn user(t: &TestDb, name: &str, role: jingkang_core::accounts::Role, region: &str) -> i64 {
    use jingkang_core::store::accounts::{NewUser, create_user};
    let mut tx = t.db.begin().await.unwrap();
    let new = NewUser {
        username: name,
        display_name: name,
        role,
        region_code: region,
        password: "Pw-123456789!",
        must_change_password: false,
        organisation_id: None,
    };
    let id = create_user(&mut tx, &Actor::cli(), &new)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn outbox_count(t: &TestDb) -> i64 {
    on_pool!(&t.db, p => sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(p).await)
        .unwrap()
}

/// Risk ≥ 3 — from a follow-up or an emergency — alerts the police and the township of the area
/// (notifications and one outbox message, no ID number or phone); lower grades do not; the
/// notifications are scoped by role and region; the outbox retries with backoff.
async fn high_risk_alerts_the_police_and_the_township(t: TestDb) {
    use chrono::Utc;
    use jingkang_core::accounts::Role;
    use jingkang_core::care::emergency::{self, EmergencyInput};
    use jingkang_core::store::{alerts, emergencies};
    let pids = roster(&t).await;
    let county = Scope::of(t.tree.get("500110").unwrap());
    let police = user(&t, "police1", Role::Police, "500110").await;
    let town = user(&t, "town1", Role::Township, "500110004").await;
    let other_town = user(&t, "town2", Role::Township, "500110001").await;

    record(
        &t,
        &county,
        pids[0],
        &filled(d("2026-11-20"), &[("risk_grade", "2")]),
    )
    .await
    .unwrap();
    assert_eq!(outbox_count(&t).await, 0, "grade 2 alerts no one");
    record(
        &t,
        &county,
        pids[0],
        &filled(d("2026-11-21"), &[("risk_grade", "3")]),
    )
    .await
    .unwrap();
    assert_eq!(outbox_count(&t).await, 1);

    // An emergency of grade 4 on 李四 (risk none): risk raised, alert; a grade-1 event changes nothing.
    let now = Utc::now();
    let at = (now + chrono::Duration::hours(8) - chrono::Duration::hours(2))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let input = EmergencyInput {
        occurred_at: at.clone(),
        risk_grade: "4".into(),
        kinds: vec!["hurt_others".into()],
        description: "与邻居冲突并伤人".into(),
        measures: vec!["police_assist".into(), "sent_to_hospital".into()],
        ..Default::default()
    };
    let e = emergency::validate(&input, now).unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let elsewhere = Scope::of(t.tree.get("500111").unwrap());
    assert!(
        emergencies::record(&mut tx, &elsewhere, &Actor::user("doc"), pids[1], &e)
            .await
            .unwrap()
            .is_none()
    );
    let r = emergencies::record(&mut tx, &county, &Actor::user("doc"), pids[1], &e)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.risk_before, r.risk_after, r.notifications.len()),
        (None, Some(4), 3),
        "the police, the township and the doctors' centre"
    );
    let r_eid = r.id;
    let calm = emergency::validate(
        &EmergencyInput {
            risk_grade: "1".into(),
            ..input.clone()
        },
        now,
    )
    .unwrap();
    let r = emergencies::record(&mut tx, &county, &Actor::user("doc"), pids[1], &calm)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.risk_before, r.risk_after, r.notifications.len()),
        (Some(4), Some(4), 0)
    );
    assert_eq!(
        emergencies::of_person(&mut tx, &county, pids[1])
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        emergencies::recent(&mut tx, &elsewhere, 10)
            .await
            .unwrap()
            .len(),
        0
    );
    tx.commit().await.unwrap();
    assert_eq!(outbox_count(&t).await, 2);

    // Who sees what: police, the township of 万盛街道 and the doctors' centre, not another township.
    let mut tx = t.db.begin().await.unwrap();
    let seen = alerts::for_user(&mut tx, police, "police", &county, 50)
        .await
        .unwrap();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[0].title.contains("李四") && seen[0].title.contains("4 级"),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .all(|n| !n.body.contains("500110") && !n.title.contains("1381")),
        "no ID or phone"
    );
    let wansheng = Scope::of(t.tree.get("500110004").unwrap());
    assert_eq!(
        alerts::for_user(&mut tx, town, "township", &wansheng, 50)
            .await
            .unwrap()
            .len(),
        2
    );
    let guxiang = Scope::of(t.tree.get("500110001").unwrap());
    assert_eq!(
        alerts::for_user(&mut tx, other_town, "township", &guxiang, 50)
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        alerts::for_user(&mut tx, police, "doctor", &county, 50)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        alerts::unread(&mut tx, police, "police", &county)
            .await
            .unwrap(),
        2
    );
    assert!(
        alerts::mark_read(
            &mut tx,
            &Actor::user("police1"),
            police,
            "police",
            &county,
            seen[0].id
        )
        .await
        .unwrap()
    );
    assert!(
        alerts::mark_read(
            &mut tx,
            &Actor::user("police1"),
            police,
            "police",
            &county,
            seen[0].id
        )
        .await
        .unwrap(),
        "twice is fine"
    );
    assert!(
        !alerts::mark_read(
            &mut tx,
            &Actor::user("town2"),
            other_town,
            "township",
            &guxiang,
            seen[0].id
        )
        .await
        .unwrap(),
        "not theirs"
    );
    assert_eq!(
        alerts::unread(&mut tx, police, "police", &county)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        alerts::unread(&mut tx, town, "township", &wansheng)
            .await
            .unwrap(),
        2,
        "read per user"
    );
    // Reading is audited with the person, once per read (the second read of the same is too).
    let reads: i64 = on_tx!(&mut tx, c => sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'notification.read' AND target_id = $1")
        .bind(seen[0].person_id.unwrap().to_string()).fetch_one(&mut **c).await)
    .unwrap();
    assert_eq!(reads, 2);
    // Who was told of the emergency, and of nothing else.
    let told = alerts::sent_for(
        &mut tx,
        &county,
        pids[1],
        (alerts::AlertKind::Emergency, r_eid),
    )
    .await
    .unwrap();
    assert_eq!(
        told.iter().map(|s| s.audience.as_str()).collect::<Vec<_>>(),
        ["police", "township", "doctor"]
    );
    assert!(
        alerts::sent_for(
            &mut tx,
            &elsewhere,
            pids[1],
            (alerts::AlertKind::Emergency, r_eid)
        )
        .await
        .unwrap()
        .is_empty(),
        "out of scope: nothing"
    );

    // The outbox: due now, names no one; a failure backs off; retry makes it due; delivery ends it.
    let due = alerts::due(&mut tx, Utc::now(), 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert!(
        !due[1].payload.contains("李四") && due[1].payload.contains("\"risk_grade\":4"),
        "{}",
        due[1].payload
    );
    alerts::failed(&mut tx, &due[0], "connection refused")
        .await
        .unwrap();
    assert_eq!(
        alerts::due(&mut tx, Utc::now(), 10).await.unwrap().len(),
        1,
        "backing off"
    );
    assert_eq!(
        alerts::retry_now(&mut tx, Some(due[0].id)).await.unwrap(),
        1
    );
    assert_eq!(
        alerts::due(&mut tx, Utc::now() + chrono::Duration::seconds(1), 10)
            .await
            .unwrap()
            .len(),
        2
    );
    alerts::delivered(&mut tx, due[0].id).await.unwrap();
    alerts::delivered(&mut tx, due[1].id).await.unwrap();
    assert!(
        alerts::due(&mut tx, Utc::now() + chrono::Duration::days(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let recent = alerts::recent(&mut tx, 10).await.unwrap();
    assert_eq!(recent.iter().map(|o| o.attempts).sum::<i64>(), 3);
    tx.commit().await.unwrap();
    assert_eq!(alerts::backoff(0), chrono::Duration::minutes(1));
    assert_eq!(alerts::backoff(3), chrono::Duration::minutes(8));
    assert_eq!(alerts::backoff(30), chrono::Duration::hours(6));
}

backend_tests!(high_risk_alerts_the_police_and_the_township);
