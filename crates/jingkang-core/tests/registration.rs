//! Registration state changes in the database: a legal path writes state, history, event and
//! audit together; a refused event, or a person out of scope, writes nothing — on both backends.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use common::{TestDb, one_person};
use jingkang_core::care::agreement::AgreementKind;
use jingkang_core::care::registration::{CloseReason, Event, TransitionError};
use jingkang_core::domain::RegistrationState as S;
use jingkang_core::on_pool;
use jingkang_core::regions::Scope;
use jingkang_core::store::registration::{self, Refusal, Transitioned};
use jingkang_core::store::{Actor, audit, persons};

async fn counts(t: &TestDb) -> (i64, i64, i64, i64) {
    let q = |sql: &'static str| async move {
        on_pool!(&t.db, p => sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await).unwrap()
    };
    (
        q("SELECT COUNT(*) FROM registration_events").await,
        q("SELECT COUNT(*) FROM person_history").await,
        q("SELECT COUNT(*) FROM audit_log").await,
        q("SELECT COUNT(*) FROM change_sets").await,
    )
}

async fn apply(t: &TestDb, scope: &Scope, pid: i64, event: Event) -> Result<Transitioned, Refusal> {
    let rule = jingkang_core::care::eligibility::Rule::default_rule().unwrap();
    let gate = registration::Gate {
        rule: &rule,
        today: common::today(),
        no_serious_disease: true,
    };
    let mut tx = t.db.begin().await.unwrap();
    let r = registration::transition(&mut tx, scope, &Actor::user("clerk"), pid, &event, &gate)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    r
}

/// Service starts, and starts again after a pause, only under a consent and a service agreement
/// both valid that day (SPEC §3); each refusal names what is missing and writes nothing.
async fn service_starts_only_under_a_valid_agreement(t: TestDb) {
    let pid = one_person(&t).await;
    let county = Scope::of(t.tree.get("500110").unwrap());
    let today = common::today();
    apply(&t, &county, pid, common::register_by_exception())
        .await
        .unwrap();
    let refused = |missing: Vec<&'static str>| Err(Refusal::NoAgreement(missing));
    let before = counts(&t).await;
    assert_eq!(
        apply(&t, &county, pid, Event::StartService).await,
        refused(vec!["知情同意书", "服务协议"])
    );
    assert_eq!(counts(&t).await, before, "a refusal writes nothing");
    let day = |d: i64| (today + chrono::Duration::days(d)).to_string();
    common::sign_agreement(
        &t,
        &county,
        pid,
        AgreementKind::Consent,
        (&day(-10), &day(300)),
    )
    .await;
    // A service agreement that ended yesterday, and one signed only tomorrow, do not count.
    common::sign_agreement(
        &t,
        &county,
        pid,
        AgreementKind::Service,
        (&day(-400), &day(-1)),
    )
    .await;
    common::sign_agreement(
        &t,
        &county,
        pid,
        AgreementKind::Service,
        (&day(1), &day(300)),
    )
    .await;
    let r = apply(&t, &county, pid, Event::StartService).await;
    assert_eq!(r, refused(vec!["服务协议"]));
    let message = r.unwrap_err().message();
    assert!(message.contains("尚无有效的服务协议"), "{message}");
    common::sign_agreement(&t, &county, pid, AgreementKind::Service, (&day(0), &day(0))).await;
    assert_eq!(
        apply(&t, &county, pid, Event::StartService).await,
        Ok(Transitioned {
            from: S::Registered,
            to: S::InService
        })
    );
    apply(
        &t,
        &county,
        pid,
        Event::Suspend {
            reason: "住院治疗".into(),
        },
    )
    .await
    .unwrap();
    // Resuming is judged the same way, on its own day: here still valid.
    assert_eq!(
        apply(&t, &county, pid, Event::Resume).await,
        Ok(Transitioned {
            from: S::Suspended,
            to: S::InService
        })
    );
}

async fn a_whole_life_then_refusals_write_nothing(t: TestDb) {
    let pid = one_person(&t).await;
    let county = Scope::of(t.tree.get("500110").unwrap());
    let path = [
        (
            Event::Register {
                exception: Some("年龄 61 岁，家属申请，经评估同意".into()),
            },
            S::Pending,
            S::Registered,
        ),
        (Event::StartService, S::Registered, S::InService),
        (
            Event::Suspend {
                reason: "住院治疗".into(),
            },
            S::InService,
            S::Suspended,
        ),
        (Event::Resume, S::Suspended, S::InService),
        (
            Event::Close {
                reason: CloseReason::MovedAway,
                note: String::new(),
            },
            S::InService,
            S::Closed,
        ),
        (
            Event::Reopen {
                reason: "迁回本区".into(),
            },
            S::Closed,
            S::Pending,
        ),
        (
            Event::Decline {
                reason: "监护人拒绝".into(),
            },
            S::Pending,
            S::Declined,
        ),
    ];
    for kind in AgreementKind::ALL {
        common::sign_agreement(&t, &county, pid, kind, ("2026-01-01", "2099-12-31")).await;
    }
    let start = counts(&t).await;
    for (event, from, to) in path.clone() {
        assert_eq!(
            apply(&t, &county, pid, event).await,
            Ok(Transitioned { from, to })
        );
    }
    let n = path.len() as i64;
    let after = counts(&t).await;
    assert_eq!(
        after,
        (start.0 + n, start.1 + n, start.2 + n, start.3 + n),
        "one event, history row, audit entry and change set each"
    );

    // The record shows the state; the events read back with reasons, actor and the exception flag.
    let mut tx = t.db.begin().await.unwrap();
    let p = persons::get_unaudited(&mut tx, &county, pid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.state, S::Declined);
    let events = registration::events(&mut tx, &county, pid).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        [
            "register",
            "start_service",
            "suspend",
            "resume",
            "close",
            "reopen",
            "decline"
        ]
    );
    assert!(events[0].exception && !events[1].exception);
    assert_eq!(events[4].close_reason(), Some(CloseReason::MovedAway));
    assert_eq!(events[2].reason.as_deref(), Some("住院治疗"));
    assert_eq!(events[0].actor, "user:clerk");
    let history = persons::history(&mut tx, &county, pid).await.unwrap();
    assert_eq!(
        history
            .iter()
            .filter(|h| h.field == "registration_state")
            .count(),
        path.len()
    );
    // The audit entries name the event, never the reason's text.
    let log = audit::entries(&mut tx).await.unwrap();
    let reg: Vec<_> = log
        .iter()
        .filter(|e| e.action.starts_with("registration."))
        .collect();
    assert_eq!(reg.len(), path.len());
    assert!(
        reg.iter()
            .all(|e| !e.detail.contains("住院") && !e.detail.contains("监护人"))
    );
    assert_eq!(audit::verify(&mut tx).await.unwrap().first_broken, None);
    tx.commit().await.unwrap();

    // Refusals: an illegal event, a missing reason, another county's scope, registering without an
    // exception someone the rule does not admit (no certificate, no risk assessment). Nothing
    // is written.
    assert_eq!(
        apply(
            &t,
            &county,
            pid,
            Event::Reopen {
                reason: "复核".into()
            }
        )
        .await,
        Ok(Transitioned {
            from: S::Declined,
            to: S::Pending
        })
    );
    let before_gate = counts(&t).await;
    match apply(&t, &county, pid, Event::Register { exception: None }).await {
        Err(r @ Refusal::Ineligible(_)) => {
            let Refusal::Ineligible(open) = &r else {
                unreachable!()
            };
            assert!(
                open.iter().any(|c| c.key == "diagnosis")
                    && open.iter().all(|c| c.key != "agreement"),
                "the agreements signed above count: {open:?}"
            );
            assert!(
                open.iter().all(|c| c.key != "age"),
                "36 is within 18–60: {open:?}"
            );
            assert!(
                r.message().starts_with("登记条件未全部符合") && r.message().contains("残疾证"),
                "{}",
                r.message()
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(counts(&t).await, before_gate);
    assert_eq!(
        apply(
            &t,
            &county,
            pid,
            Event::Decline {
                reason: "监护人拒绝".into()
            }
        )
        .await,
        Ok(Transitioned {
            from: S::Pending,
            to: S::Declined
        })
    );
    let before = counts(&t).await;
    let illegal = apply(&t, &county, pid, Event::StartService).await;
    assert!(
        matches!(
            &illegal,
            Err(Refusal::Rule(TransitionError::Illegal {
                from: S::Declined,
                ..
            }))
        ),
        "{illegal:?}"
    );
    assert_eq!(
        apply(&t, &county, pid, Event::Reopen { reason: " ".into() }).await,
        Err(Refusal::Rule(TransitionError::ReasonMissing))
    );
    let elsewhere = Scope::of(t.tree.get("500111").unwrap());
    assert_eq!(
        apply(&t, &elsewhere, pid, Event::Reopen { reason: "x".into() }).await,
        Err(Refusal::NotFound)
    );
    assert_eq!(
        apply(&t, &county, 999_999, Event::Reopen { reason: "x".into() }).await,
        Err(Refusal::NotFound)
    );
    assert_eq!(counts(&t).await, before);
    let mut tx = t.db.begin().await.unwrap();
    assert!(
        registration::events(&mut tx, &elsewhere, pid)
            .await
            .unwrap()
            .is_empty(),
        "events are scoped too"
    );
    assert_eq!(
        persons::get_unaudited(&mut tx, &county, pid)
            .await
            .unwrap()
            .unwrap()
            .state,
        S::Declined
    );
    tx.commit().await.unwrap();
}

backend_tests!(
    a_whole_life_then_refusals_write_nothing,
    service_starts_only_under_a_valid_agreement
);
