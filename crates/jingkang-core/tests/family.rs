//! Family support in the database: trainings with their attendees, respite episodes, mutual-aid
//! groups with members and meetings, peer supporters — read back in scope, audited, and every
//! refusal (a person or a group out of scope, a member not in the group that day) writes nothing —
//! on both backends.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::TestDb;
use jingkang_core::care::family::{
    self, FamilyMemberInput, GroupInput, LeaveInput, MeetingInput, MembersInput, PeerInput,
    PeerUpdateInput, RespiteInput, TrainingInput,
};
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::store::family::{self as store, Refusal};
use jingkang_core::store::{Actor, audit};

const TABLES: [&str; 9] = [
    "caregiver_trainings",
    "caregiver_training_attendees",
    "respite_episodes",
    "mutual_aid_groups",
    "mutual_aid_members",
    "mutual_aid_meetings",
    "mutual_aid_attendance",
    "peer_supporters",
    "audit_log",
];

/// Rows in every family table and the audit log.
async fn counts(t: &TestDb) -> Vec<i64> {
    let mut out = Vec::new();
    for table in TABLES {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        out.push(
            on_pool!(&t.db, p => sqlx::query_scalar::<_, i64>(&sql).fetch_one(p).await).unwrap(),
        );
    }
    out
}

/// The township of the test persons (万盛街道), and another township of the same county.
async fn townships(t: &TestDb) -> (String, String) {
    let town: String = on_pool!(&t.db, p => sqlx::query_scalar("SELECT residence_region FROM persons LIMIT 1").fetch_one(p).await).unwrap();
    let other = t
        .tree
        .children("500110")
        .find(|r| r.code != town)
        .unwrap()
        .code
        .clone();
    (town, other)
}

fn member(person_id: i64, name: &str, relation: &str) -> FamilyMemberInput {
    FamilyMemberInput {
        person_id,
        name: name.into(),
        relation: relation.into(),
        joined_on: String::new(),
    }
}

fn problems<T: std::fmt::Debug>(r: Result<T, Refusal>) -> Vec<String> {
    match r {
        Err(Refusal::Problems(p)) => p.into_iter().map(|p| p.code).collect(),
        other => panic!("expected problems, got {other:?}"),
    }
}

async fn trainings_and_respite(t: TestDb) {
    let ids = common::some_persons(&t, 4).await;
    let (town, other) = townships(&t).await;
    let county = Scope::of(t.tree.get("500110").unwrap());
    let other_town = Scope::of(t.tree.get(&other).unwrap());
    let actor = Actor::user("w");
    let today = common::today();
    let input = TrainingInput {
        held_on: "2026-11-20".into(),
        region: other.clone(),
        topic: "药物管理与复发先兆".into(),
        hours: 2.5,
        trainer: "王医生".into(),
        attendees: vec![
            member(ids[0], "张母", "父母"),
            member(ids[0], "张父", "parent"),
            member(ids[1], "李妻", "spouse"),
        ],
    };
    // A recorder of the other township: the training is theirs, the persons are not.
    let training = family::check_training(&t.tree, &other_town, &input, today).unwrap();
    let before = counts(&t).await;
    let mut tx = t.db.begin().await.unwrap();
    assert_eq!(
        problems(
            store::record_training(&mut tx, &other_town, &actor, &training)
                .await
                .unwrap()
        ),
        ["family-persons-unknown"]
    );
    tx.commit().await.unwrap();
    assert_eq!(counts(&t).await, before, "refused: nothing written");

    let training = family::check_training(
        &t.tree,
        &county,
        &TrainingInput {
            region: town.clone(),
            ..input
        },
        today,
    )
    .unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let id = store::record_training(&mut tx, &county, &actor, &training)
        .await
        .unwrap()
        .unwrap();
    let list = store::trainings(&mut tx, &county, 50).await.unwrap();
    assert_eq!(
        (
            list.len(),
            list[0].id,
            list[0].hours,
            list[0].attendees,
            list[0].region.as_str()
        ),
        (1, id, 2.5, 3, town.as_str())
    );
    assert!(
        store::trainings(&mut tx, &other_town, 50)
            .await
            .unwrap()
            .is_empty(),
        "another township's list"
    );
    let att = store::training_attendees(&mut tx, &county, &[id])
        .await
        .unwrap();
    assert_eq!(
        att.iter()
            .map(|a| (a.person_id, a.name.as_str(), a.relation.as_str()))
            .collect::<Vec<_>>(),
        [
            (ids[0], "张母", "parent"),
            (ids[0], "张父", "parent"),
            (ids[1], "李妻", "spouse")
        ]
    );
    assert!(
        store::training_attendees(&mut tx, &other_town, &[id])
            .await
            .unwrap()
            .is_empty(),
        "persons out of scope are not shown"
    );
    let mine = store::trainings_of_person(&mut tx, &county, ids[0], 50)
        .await
        .unwrap();
    assert_eq!(
        mine.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["张母", "张父"]
    );
    assert!(
        store::trainings_of_person(&mut tx, &other_town, ids[0], 50)
            .await
            .unwrap()
            .is_empty()
    );
    tx.commit().await.unwrap();

    // Respite: the person must be in scope.
    let respite = family::check_respite(
        &RespiteInput {
            person_id: ids[2],
            from_date: "2026-11-02".into(),
            to_date: "2026-11-04".into(),
            provider: "万盛敬老院".into(),
            hours: 60.0,
            notes: "家属住院".into(),
        },
        today,
    )
    .unwrap();
    let before = counts(&t).await;
    let mut tx = t.db.begin().await.unwrap();
    assert_eq!(
        problems(
            store::record_respite(&mut tx, &other_town, &actor, &respite)
                .await
                .unwrap()
        ),
        ["family-persons-unknown"]
    );
    tx.commit().await.unwrap();
    assert_eq!(counts(&t).await, before);
    let mut tx = t.db.begin().await.unwrap();
    let rid = store::record_respite(&mut tx, &county, &actor, &respite)
        .await
        .unwrap()
        .unwrap();
    let all = store::respite(&mut tx, &county, 50).await.unwrap();
    assert_eq!(
        (
            all.len(),
            all[0].id,
            all[0].person_id,
            all[0].hours,
            all[0].notes.as_deref()
        ),
        (1, rid, ids[2], 60.0, Some("家属住院"))
    );
    assert!(all[0].person_name.starts_with("参加者"));
    assert_eq!(
        all[0].to_date,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 4).unwrap()
    );
    assert_eq!(
        store::respite_of_person(&mut tx, &county, ids[2], 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store::respite_of_person(&mut tx, &county, ids[0], 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store::respite(&mut tx, &other_town, 50)
            .await
            .unwrap()
            .is_empty()
    );
    let log = audit::entries(&mut tx).await.unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.action == "family.training.record")
            .count(),
        1
    );
    let r = log
        .iter()
        .find(|e| e.action == "family.respite.record")
        .unwrap();
    assert_eq!(
        (r.target_kind.as_deref(), r.target_id.clone()),
        (Some("person"), Some(ids[2].to_string()))
    );
    tx.commit().await.unwrap();
    let after = counts(&t).await;
    assert_eq!(
        (
            after[0] - before[0],
            after[1] - before[1],
            after[2] - before[2],
            after[8] - before[8]
        ),
        (0, 0, 1, 1)
    );
}

async fn groups_members_and_meetings(t: TestDb) {
    let ids = common::some_persons(&t, 5).await;
    let (town, _) = townships(&t).await;
    let county = Scope::of(t.tree.get("500110").unwrap());
    let elsewhere = Scope::of(t.tree.get("500111").unwrap());
    let mine = Scope::of(t.tree.get(&town).unwrap());
    let actor = Actor::user("w");
    let today = common::today();
    let input = GroupInput {
        name: "阳光家属互助小组".into(),
        region: String::new(),
        facilitator: "李社工".into(),
        started_on: "2026-09-01".into(),
        members: vec![
            member(ids[0], "张母", "parent"),
            member(ids[1], "李妻", "spouse"),
            member(ids[2], "王姐", "sibling"),
        ],
    };
    let group = family::check_group(&t.tree, &mine, &input, today).unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let gid = store::record_group(&mut tx, &mine, &actor, &group)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = t.db.begin().await.unwrap();
    let g = store::group(&mut tx, &county, gid).await.unwrap().unwrap();
    assert_eq!(
        (
            g.group.region.as_str(),
            g.group.members,
            g.group.meetings,
            g.members.len()
        ),
        (town.as_str(), 3, 0, 3)
    );
    assert!(
        store::group(&mut tx, &elsewhere, gid)
            .await
            .unwrap()
            .is_none(),
        "out of scope: as absent"
    );
    let member_of = |person: i64| g.members.iter().find(|m| m.person_id == person).unwrap().id;
    let (zhang, li, wang) = (member_of(ids[0]), member_of(ids[1]), member_of(ids[2]));
    tx.commit().await.unwrap();

    // Members join and leave: all or nothing.
    let before = counts(&t).await;
    let bad = family::check_members(
        &MembersInput {
            add: vec![
                member(ids[0], "张母", "parent"),
                member(ids[3], "赵父", "parent"),
            ],
            leave: vec![
                LeaveInput {
                    member_id: li,
                    left_on: "2026-08-01".into(),
                },
                LeaveInput {
                    member_id: 999_999,
                    left_on: String::new(),
                },
            ],
        },
        today,
    )
    .unwrap();
    let mut tx = t.db.begin().await.unwrap();
    assert_eq!(
        problems(
            store::change_members(&mut tx, &county, &actor, gid, &bad)
                .await
                .unwrap()
        ),
        [
            "family-member-duplicate",
            "family-member-left-before-joined",
            "family-member-unknown"
        ]
    );
    assert_eq!(
        store::change_members(&mut tx, &elsewhere, &actor, gid, &bad)
            .await
            .unwrap(),
        Err(Refusal::NotFound)
    );
    tx.commit().await.unwrap();
    assert_eq!(counts(&t).await, before, "refused: nothing written");
    let ok = family::check_members(
        &MembersInput {
            add: vec![FamilyMemberInput {
                joined_on: "2026-10-01".into(),
                ..member(ids[3], "赵父", "parent")
            }],
            leave: vec![LeaveInput {
                member_id: li,
                left_on: "2026-10-15".into(),
            }],
        },
        today,
    )
    .unwrap();
    let mut tx = t.db.begin().await.unwrap();
    store::change_members(&mut tx, &county, &actor, gid, &ok)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();

    // A meeting: attendance once for all; a member who had left, or not yet joined, refuses it.
    let meeting = |held_on: &str, attendees: Vec<i64>| {
        family::check_meeting(
            &MeetingInput {
                held_on: held_on.into(),
                topic: "照护压力与自我调适".into(),
                attendees,
                notes: String::new(),
            },
            today,
        )
        .unwrap()
    };
    let before = counts(&t).await;
    let mut tx = t.db.begin().await.unwrap();
    assert_eq!(
        problems(
            store::record_meeting(
                &mut tx,
                &county,
                &actor,
                gid,
                &meeting("2026-11-10", vec![zhang, li])
            )
            .await
            .unwrap()
        ),
        ["family-meeting-attendee-unknown"]
    );
    assert_eq!(
        problems(
            store::record_meeting(
                &mut tx,
                &county,
                &actor,
                gid,
                &meeting("2026-08-10", vec![zhang])
            )
            .await
            .unwrap()
        ),
        ["family-meeting-before-start"]
    );
    assert_eq!(
        store::record_meeting(
            &mut tx,
            &elsewhere,
            &actor,
            gid,
            &meeting("2026-11-10", vec![zhang])
        )
        .await
        .unwrap(),
        Err(Refusal::NotFound)
    );
    tx.commit().await.unwrap();
    assert_eq!(counts(&t).await, before, "refused: nothing written");
    let zhao = {
        let mut tx = t.db.begin().await.unwrap();
        let g = store::group(&mut tx, &county, gid).await.unwrap().unwrap();
        tx.commit().await.unwrap();
        g.members.iter().find(|m| m.person_id == ids[3]).unwrap().id
    };
    let mut tx = t.db.begin().await.unwrap();
    let m1 = store::record_meeting(
        &mut tx,
        &county,
        &actor,
        gid,
        &meeting("2026-10-10", vec![zhang, li, wang]),
    )
    .await
    .unwrap()
    .unwrap();
    let m2 = store::record_meeting(
        &mut tx,
        &county,
        &actor,
        gid,
        &meeting("2026-11-10", vec![zhang, zhao]),
    )
    .await
    .unwrap()
    .unwrap();
    let g = store::group(&mut tx, &county, gid).await.unwrap().unwrap();
    assert_eq!(
        (g.group.members, g.group.meetings, g.group.last_meeting),
        (
            3,
            2,
            Some(chrono::NaiveDate::from_ymd_opt(2026, 11, 10).unwrap())
        )
    );
    assert_eq!(
        g.meetings
            .iter()
            .map(|m| (m.id, m.attendees))
            .collect::<Vec<_>>(),
        [(m2, 2), (m1, 3)]
    );
    let mut expected = vec![zhang, zhao];
    expected.sort_unstable();
    assert_eq!(g.meetings[0].members, expected);
    let li_row = g.members.iter().find(|m| m.id == li).unwrap();
    assert_eq!(
        (
            li_row.left_on.map(|d| d.to_string()),
            li_row.meetings_attended
        ),
        (Some("2026-10-15".to_string()), 1)
    );
    assert_eq!(
        store::groups(&mut tx, &county, 10)
            .await
            .unwrap()
            .iter()
            .map(|g| (g.id, g.members, g.meetings))
            .collect::<Vec<_>>(),
        [(gid, 3, 2)]
    );
    assert!(
        store::groups(&mut tx, &elsewhere, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let of_zhang = store::groups_of_person(&mut tx, &county, ids[0])
        .await
        .unwrap();
    assert_eq!(
        of_zhang
            .iter()
            .map(|m| (m.group_id, m.name.as_str(), m.meetings_attended))
            .collect::<Vec<_>>(),
        [(gid, "张母", 2)]
    );
    assert!(
        store::groups_of_person(&mut tx, &elsewhere, ids[0])
            .await
            .unwrap()
            .is_empty()
    );
    let actions: Vec<String> = audit::entries(&mut tx)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for (action, n) in [
        ("family.group.record", 1),
        ("family.group.members", 1),
        ("family.meeting.record", 2),
    ] {
        assert_eq!(
            actions.iter().filter(|a| *a == action).count(),
            n,
            "{action}"
        );
    }
    tx.commit().await.unwrap();
}

async fn peer_supporters(t: TestDb) {
    let ids = common::some_persons(&t, 2).await;
    let (town, other) = townships(&t).await;
    let county = Scope::of(t.tree.get("500110").unwrap());
    let other_town = Scope::of(t.tree.get(&other).unwrap());
    let actor = Actor::user("w");
    let today = common::today();
    let input = PeerInput {
        name: "周康复".into(),
        region: town.clone(),
        person_id: Some(ids[0]),
        trained_on: "2026-05-20".into(),
        status: String::new(),
        hours: 12.0,
    };
    let before = counts(&t).await;
    let peer = family::check_peer(
        &t.tree,
        &other_town,
        &PeerInput {
            region: other.clone(),
            ..input.clone()
        },
        today,
    )
    .unwrap();
    let mut tx = t.db.begin().await.unwrap();
    assert_eq!(
        problems(
            store::record_peer(&mut tx, &other_town, &actor, &peer)
                .await
                .unwrap()
        ),
        ["family-persons-unknown"]
    );
    tx.commit().await.unwrap();
    assert_eq!(counts(&t).await, before);
    let peer = family::check_peer(&t.tree, &county, &input, today).unwrap();
    let mut tx = t.db.begin().await.unwrap();
    let pid = store::record_peer(&mut tx, &county, &actor, &peer)
        .await
        .unwrap()
        .unwrap();
    let update = family::check_peer_update(&PeerUpdateInput {
        add_hours: 3.5,
        status: "inactive".into(),
    })
    .unwrap();
    assert_eq!(
        store::update_peer(&mut tx, &other_town, &actor, pid, &update)
            .await
            .unwrap(),
        Err(Refusal::NotFound)
    );
    store::update_peer(&mut tx, &county, &actor, pid, &update)
        .await
        .unwrap()
        .unwrap();
    let list = store::peers(&mut tx, &county, 50).await.unwrap();
    assert_eq!(
        (
            list.len(),
            list[0].person_id,
            list[0].hours,
            list[0].status.as_str()
        ),
        (1, Some(ids[0]), 15.5, "inactive")
    );
    assert!(
        store::peers(&mut tx, &other_town, 50)
            .await
            .unwrap()
            .is_empty()
    );
    let too_much = family::check_peer_update(&PeerUpdateInput {
        add_hours: family::MAX_PEER_HOURS,
        status: String::new(),
    })
    .unwrap();
    assert_eq!(
        problems(
            store::update_peer(&mut tx, &county, &actor, pid, &too_much)
                .await
                .unwrap()
        ),
        ["family-peer-hours"]
    );
    let actions: Vec<String> = audit::entries(&mut tx)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        (
            actions
                .iter()
                .filter(|a| *a == "family.peer.record")
                .count(),
            actions
                .iter()
                .filter(|a| *a == "family.peer.update")
                .count()
        ),
        (1, 1)
    );
    tx.commit().await.unwrap();
}

backend_tests!(
    trainings_and_respite,
    groups_members_and_meetings,
    peer_supporters
);
