//! Years of realistic care history for the persons already in a database, for demos, tests and
//! benchmarks (`jingkang gen history`): registration paths and follow-ups whose risk follows a
//! plausible trajectory (mostly calm, occasional relapses that settle), scheduled by the official
//! rules (`care::schedule`) with realistic lateness, missed visits and rare deaths; and referrals
//! (discharges, the relapse green channel, employment) through their state machine
//! ([`person_referrals`]). Generated steps share one change set (the generation's time).
//!
//! The generation of one person is a pure function of a seed ([`person_history`]); [`write`] runs
//! it over the registry in one transaction.

use std::collections::BTreeMap;

use chrono::{Duration, Months, NaiveDate};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::care::followup::{LOST_RETRY_DAYS, SOCIAL_PREFIX};
use crate::care::referral::{self, Book, ReferralEvent, ReferralState};
use crate::care::registration::{self, CloseReason, Event};
use crate::care::schedule::{self, ConditionClass, Findings};
use crate::domain::RegistrationState;
use crate::on_tx;
use crate::store::bulk::{self, Col, Rows};
use crate::store::{Actor, Backend, Db, audit, open_change_set, sealing};

/// One generated follow-up.
#[derive(Debug, Clone, PartialEq)]
pub struct GenFollowup {
    pub visit_date: NaiveDate,
    pub mode: &'static str,
    pub lost: bool,
    pub died: bool,
    pub risk_grade: Option<u8>,
    pub class: Option<ConditionClass>,
    pub adherence: Option<&'static str>,
    pub next_date: Option<NaiveDate>,
    pub doctor: &'static str,
    pub answers: BTreeMap<String, Value>,
}

/// One generated registration event.
#[derive(Debug, Clone, PartialEq)]
pub struct GenEvent {
    pub event: Event,
    pub from: RegistrationState,
    pub to: RegistrationState,
    /// The day it took effect.
    pub on: NaiveDate,
}

/// The history of one person and the state it leaves.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PersonHistory {
    pub followups: Vec<GenFollowup>,
    pub events: Vec<GenEvent>,
    /// For persons registered at the end: the end of their current consent and service
    /// agreements (signed a year before it).
    pub agreement_until: Option<NaiveDate>,
}

impl PersonHistory {
    /// The follow-up that sets the current schedule (the last one).
    pub fn latest(&self) -> Option<&GenFollowup> {
        self.followups.last()
    }
    pub fn state(&self) -> RegistrationState {
        self.events
            .last()
            .map_or(RegistrationState::Pending, |e| e.to)
    }
}

const DOCTORS: &[&str] = &[
    "王医生",
    "李医生",
    "张医生",
    "刘医生",
    "陈医生",
    "杨医生",
    "赵医生",
    "黄医生",
];
const SYMPTOMS: &[&str] = &[
    "hallucination",
    "communication",
    "suspicion",
    "moody",
    "odd_behaviour",
    "excited",
    "pessimism",
    "self_talk",
    "withdrawn",
];
const DRUGS: &[(&str, f64)] = &[
    ("利培酮", 2.0),
    ("奥氮平", 10.0),
    ("阿立哌唑", 10.0),
    ("喹硫平", 200.0),
    ("氯氮平", 100.0),
    ("丙戊酸钠", 500.0),
];

/// The next risk grade: mostly where it was or calmer; sometimes a relapse.
fn next_risk(rng: &mut ChaCha8Rng, risk: u8, relapse_prone: bool) -> u8 {
    let relapse = if relapse_prone { 0.08 } else { 0.02 };
    let x: f64 = rng.random();
    if x < relapse {
        let top = if rng.random_bool(0.1) { 5 } else { 3 };
        rng.random_range(2..=top)
    } else if risk > 0 && x < relapse + 0.55 {
        risk - 1
    } else if risk == 0 && x > 0.93 {
        1
    } else {
        risk
    }
}

fn level(rng: &mut ChaCha8Rng, bad: bool) -> &'static str {
    if bad {
        ["fair", "poor", "poor"]
            .choose(rng)
            .copied()
            .unwrap_or("poor")
    } else {
        ["good", "good", "good", "fair"]
            .choose(rng)
            .copied()
            .unwrap_or("good")
    }
}

/// The answers of a reached follow-up consistent with `risk`, and its findings.
fn answers(
    rng: &mut ChaCha8Rng,
    visit: NaiveDate,
    mode: &'static str,
    risk: u8,
    drug: (&str, f64),
    doctor: &str,
) -> (BTreeMap<String, Value>, Findings, &'static str) {
    let unwell = risk >= 3 || rng.random_bool(0.04);
    let mut a = BTreeMap::new();
    a.insert("visit_date".into(), json!(visit.to_string()));
    a.insert("mode".into(), json!(mode));
    a.insert("risk_grade".into(), json!(risk.to_string()));
    let symptom_level = if unwell {
        "marked"
    } else if risk >= 1 || rng.random_bool(0.2) {
        "mild"
    } else {
        "none"
    };
    a.insert("symptom_level".into(), json!(symptom_level));
    if symptom_level != "none" {
        let n = if unwell { 3 } else { 1 };
        let picked: Vec<&str> = SYMPTOMS.choose_multiple(rng, n).copied().collect();
        a.insert("symptoms".into(), json!(picked));
    }
    let insight = if unwell && rng.random_bool(0.5) {
        "none"
    } else if symptom_level == "none" {
        "complete"
    } else {
        "partial"
    };
    a.insert("insight".into(), json!(insight));
    a.insert("sleep".into(), json!(level(rng, unwell)));
    a.insert("diet".into(), json!(level(rng, false)));
    let mut social_poor = false;
    for item in [
        "self_care",
        "housework",
        "work",
        "learning",
        "interpersonal",
    ] {
        let v = if item == "work" && rng.random_bool(0.3) {
            "na"
        } else {
            level(rng, unwell)
        };
        social_poor |= v == "poor";
        a.insert(format!("{SOCIAL_PREFIX}{item}"), json!(v));
    }
    if risk >= 2 {
        a.insert("danger.minor_trouble".into(), json!(1));
    }
    if risk >= 3 {
        a.insert("danger.trouble".into(), json!(1));
    }
    let adherence = if unwell {
        "intermittent"
    } else if rng.random_bool(0.85) {
        "regular"
    } else {
        ["intermittent", "none"]
            .choose(rng)
            .copied()
            .unwrap_or("none")
    };
    a.insert("adherence".into(), json!(adherence));
    let adverse = if rng.random_bool(0.1) { "mild" } else { "none" };
    a.insert("adverse_reaction".into(), json!(adverse));
    a.insert(
        "effect".into(),
        json!(if unwell { "worse" } else { "improved" }),
    );
    a.insert("drug1.name".into(), json!(drug.0));
    a.insert("drug1.night_mg".into(), json!(drug.1));
    a.insert("doctor".into(), json!(doctor));
    if risk >= 3 {
        a.insert("referral".into(), json!("yes"));
        a.insert("referral_reason".into(), json!("病情不稳定"));
    }
    let findings = Findings {
        risk_grade: risk,
        marked_psychotic_symptoms: symptom_level == "marked",
        no_insight: insight == "none",
        serious_adverse_reaction: false,
        serious_physical_illness: false,
        areas_poor: u8::from(symptom_level == "mild")
            + u8::from(insight == "partial")
            + u8::from(social_poor),
    };
    (a, findings, adherence)
}

/// The history of one person from `start` to `until`, from `seed`.
pub fn person_history(seed: u64, start: NaiveDate, until: NaiveDate) -> PersonHistory {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut h = PersonHistory::default();
    // Registration: most are assessed and registered within months; some decline.
    let mut state = RegistrationState::Pending;
    let span = (until - start).num_days().max(1);
    // The days events take effect come from a stream of their own, so the rest of the history
    // does not depend on them: the first within four months of the start, each next one 1–9
    // weeks later, none after `until`.
    let mut days = ChaCha8Rng::seed_from_u64(seed ^ 0x0DA7_E5ED);
    let mut on = start + Duration::days(days.random_range(0..span.min(120)));
    let mut push = |h: &mut PersonHistory, state: &mut RegistrationState, event: Event| {
        if let Ok(to) = registration::next(*state, &event) {
            h.events.push(GenEvent {
                event,
                from: *state,
                to,
                on: on.min(until),
            });
            *state = to;
            on += Duration::days(days.random_range(7..63));
        }
    };
    let x: f64 = rng.random();
    if x < 0.70 {
        push(&mut h, &mut state, Event::Register { exception: None });
        if rng.random_bool(0.85) {
            push(&mut h, &mut state, Event::StartService);
            let y: f64 = rng.random();
            if y < 0.06 {
                push(
                    &mut h,
                    &mut state,
                    Event::Suspend {
                        reason: "住院治疗".into(),
                    },
                );
            } else if y < 0.09 {
                push(
                    &mut h,
                    &mut state,
                    Event::Close {
                        reason: CloseReason::Recovered,
                        note: String::new(),
                    },
                );
            }
        }
    } else if x < 0.80 {
        push(
            &mut h,
            &mut state,
            Event::Decline {
                reason: "本人不愿参加".into(),
            },
        );
    }
    if matches!(
        state,
        RegistrationState::Registered | RegistrationState::InService | RegistrationState::Suspended
    ) {
        h.agreement_until = Some(until + Duration::days(rng.random_range(-20..=340)));
    }
    // Follow-ups.
    let relapse_prone = rng.random_bool(0.15);
    let mut risk: u8 = if rng.random_bool(0.8) {
        0
    } else {
        rng.random_range(1..=2)
    };
    let doctor = DOCTORS.choose(&mut rng).copied().unwrap_or("王医生");
    let drug = DRUGS.choose(&mut rng).copied().unwrap_or(("利培酮", 2.0));
    let mut day = start + Duration::days(rng.random_range(0..span.min(90)));
    let mut previous: Option<ConditionClass> = None;
    let mut misses = 0;
    while day <= until {
        let mode = *["home", "home", "clinic", "phone"]
            .choose(&mut rng)
            .unwrap_or(&"home");
        // Death: rare.
        if rng.random_bool(0.0015) {
            let mut a = BTreeMap::new();
            a.insert("visit_date".into(), json!(day.to_string()));
            a.insert("mode".into(), json!(mode));
            a.insert(
                "death_date".into(),
                json!((day - Duration::days(rng.random_range(1..20))).to_string()),
            );
            a.insert(
                "death_cause".into(),
                json!(
                    ["physical_heart", "physical_tumour", "accident", "suicide"]
                        .choose(&mut rng)
                        .copied()
                        .unwrap_or("accident")
                ),
            );
            a.insert("doctor".into(), json!(doctor));
            h.followups.push(GenFollowup {
                visit_date: day,
                mode,
                lost: false,
                died: true,
                risk_grade: None,
                class: None,
                adherence: None,
                next_date: None,
                doctor,
                answers: a,
            });
            break;
        }
        if rng.random_bool(0.03) {
            misses += 1;
            let next = day + Duration::days(LOST_RETRY_DAYS);
            let mut a = BTreeMap::new();
            a.insert("visit_date".into(), json!(day.to_string()));
            a.insert("mode".into(), json!(mode));
            a.insert(
                "lost_reason".into(),
                json!(if misses >= 3 {
                    "three_misses"
                } else {
                    "migrant_work"
                }),
            );
            a.insert("doctor".into(), json!(doctor));
            h.followups.push(GenFollowup {
                visit_date: day,
                mode,
                lost: true,
                died: false,
                risk_grade: None,
                class: None,
                adherence: None,
                next_date: Some(next),
                doctor,
                answers: a,
            });
            day = next + Duration::days(rng.random_range(0..5));
            continue;
        }
        misses = 0;
        risk = next_risk(&mut rng, risk, relapse_prone);
        let (a, findings, adherence) = answers(&mut rng, day, mode, risk, drug, doctor);
        let class = schedule::classify(&findings);
        let next = schedule::next_followup(day, class, previous);
        previous = Some(class);
        h.followups.push(GenFollowup {
            visit_date: day,
            mode,
            lost: false,
            died: false,
            risk_grade: Some(risk),
            class: Some(class),
            adherence: Some(adherence),
            next_date: Some(next),
            doctor,
            answers: a,
        });
        // Most visits on time or a few days late; some weeks late.
        let late = if rng.random_bool(0.08) {
            rng.random_range(15..60)
        } else {
            rng.random_range(0..8)
        };
        day = next + Duration::days(late);
    }
    h
}

/// One generated referral with its steps (event, from state, to state, reason).
#[derive(Debug, Clone, PartialEq)]
pub struct GenReferral {
    pub kind: &'static str,
    pub urgent: bool,
    pub from_region: String,
    pub to_region: String,
    pub sent_on: NaiveDate,
    pub accepted_on: Option<NaiveDate>,
    pub deadline: Option<NaiveDate>,
    pub state: ReferralState,
    pub steps: Vec<(
        &'static str,
        Option<ReferralState>,
        ReferralState,
        Option<&'static str>,
    )>,
}

/// The referrals of one person living in `township` (of `county`) with history `h`: a discharge
/// from the county hospital for some (the newest still waiting), the relapse green channel after a
/// follow-up at risk 3 or more, an employment referral to 残联 for a few stable ones. Each runs
/// through the state machine; deadlines are in working days.
pub fn person_referrals(
    seed: u64,
    h: &PersonHistory,
    township: &str,
    county: &str,
    until: NaiveDate,
    book: &Book,
) -> Vec<GenReferral> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0005_EED0_F2EF);
    let mut out = Vec::new();
    let mut run =
        |rng: &mut ChaCha8Rng, kind: &'static str, from: &str, to: &str, sent: NaiveDate| {
            let Some(rule) = book.rules.kind(kind) else {
                return;
            };
            let mut state = ReferralState::Initiated;
            let mut steps = vec![("send", None, state, None)];
            let mut accepted_on = None;
            let mut deadline = referral::deadline(rule, &book.cal, state, sent, None);
            let accept_day = book
                .cal
                .add_working_days(sent, rng.random_range(1..=rule.accept_working_days + 1));
            let step = |state: &mut ReferralState,
                        steps: &mut Vec<_>,
                        e: ReferralEvent,
                        reason: Option<&'static str>| {
                if let Ok(to) = referral::next(*state, &e) {
                    steps.push((e.code(), Some(*state), to, reason));
                    *state = to;
                }
            };
            if accept_day <= until {
                if rng.random_bool(0.05) {
                    step(
                        &mut state,
                        &mut steps,
                        ReferralEvent::Return {
                            reason: "材料不全".into(),
                        },
                        Some("材料不全"),
                    );
                    deadline = None;
                } else {
                    if deadline.is_some_and(|d| accept_day > d) {
                        step(&mut state, &mut steps, ReferralEvent::Expire, None);
                    }
                    step(&mut state, &mut steps, ReferralEvent::Accept, None);
                    accepted_on = Some(accept_day);
                    deadline = referral::deadline(
                        rule,
                        &book.cal,
                        ReferralState::Accepted,
                        sent,
                        Some(accept_day),
                    );
                    let done = book.cal.add_working_days(
                        accept_day,
                        rng.random_range(1..=rule.complete_working_days),
                    );
                    if done <= until {
                        step(&mut state, &mut steps, ReferralEvent::Complete, None);
                        deadline = None;
                    }
                }
            } else if deadline.is_some_and(|d| d < until) {
                // Not accepted and past its deadline: already marked, as the daily sweep would.
                step(&mut state, &mut steps, ReferralEvent::Expire, None);
                deadline = None;
            }
            out.push(GenReferral {
                kind,
                urgent: rule.urgent,
                from_region: from.into(),
                to_region: to.into(),
                sent_on: sent,
                accepted_on,
                deadline,
                state,
                steps,
            });
        };
    if let Some(first) = h.followups.first()
        && rng.random_bool(0.08)
    {
        // Discharged shortly before the first follow-up.
        let sent = first.visit_date - Duration::days(rng.random_range(3..20));
        run(&mut rng, "hospital_to_community", county, township, sent);
    }
    if let Some(f) = h
        .followups
        .iter()
        .find(|f| f.risk_grade.is_some_and(|r| r >= 3))
    {
        run(&mut rng, "relapse", township, county, f.visit_date);
    }
    if h.state() == RegistrationState::InService && rng.random_bool(0.02) {
        let day = until - Duration::days(rng.random_range(0..300));
        run(&mut rng, "employment", township, county, day);
    }
    // A few discharges in the last fortnight, still waiting for the township.
    if rng.random_bool(0.003) {
        let sent = until - Duration::days(rng.random_range(0..14));
        run(&mut rng, "hospital_to_community", county, township, sent);
    }
    out
}

/// What [`write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HistorySummary {
    pub persons: u64,
    pub followups: u64,
    pub events: u64,
    pub referrals: u64,
}

/// The database already holds follow-ups: history is generated once, onto a roster without any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the database already holds {0} follow-ups")]
pub struct HistoryExists(pub i64);

/// Persons per batch.
const BATCH: usize = 5_000;

/// Generate `years` of history up to `until` for every person in the database, in one transaction.
/// Refuses when follow-ups exist already (history is generated once, onto a fresh roster).
pub async fn write(
    db: &Db,
    seed: u64,
    years: u32,
    until: NaiveDate,
    progress: Option<&(dyn Fn(u64) + Sync)>,
) -> anyhow::Result<HistorySummary> {
    let start = until
        .checked_sub_months(Months::new(12 * years))
        .unwrap_or(until);
    let mut tx = db.begin().await?;
    let keys = tx.keys.clone();
    let existing: i64 = on_tx!(&mut tx, c => sqlx::query_scalar("SELECT count(*) FROM followups").fetch_one(&mut **c).await)?;
    if existing > 0 {
        return Err(HistoryExists(existing).into());
    }
    let ids: Vec<(i64, String)> = on_tx!(&mut tx, c => sqlx::query_as("SELECT id, residence_region FROM persons WHERE registration_state = 'pending' ORDER BY id").fetch_all(&mut **c).await)?;
    let book = Book::shipped()?;
    let mut next_referral: i64 = on_tx!(&mut tx, c => sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM referrals").fetch_one(&mut **c).await)?;
    let actor = Actor::system();
    let change = open_change_set(&mut tx, &actor, "gen-history", "generate").await?;
    let backend = tx.backend();
    let (int, text, date, boolean) = backend.column_types();
    let ddl = format!(
        "CREATE TEMP TABLE gen_schedule (person_id {int} PRIMARY KEY, state {text} NOT NULL, risk_grade {int}, condition_class {text}, \
         last_followup_date {date}, next_followup_date {date}, followup_lost {boolean} NOT NULL, agreement_valid_until {date})"
    );
    on_tx!(&mut tx, c => sqlx::query(&ddl).execute(&mut **c).await.map(drop))?;
    let fu_cols = [
        ("person_id", Col::Int),
        ("change_id", Col::Int),
        ("visit_date", Col::Date),
        ("mode", Col::Text),
        ("lost", Col::Bool),
        ("died", Col::Bool),
        ("risk_grade", Col::Int),
        ("condition_class", Col::Text),
        ("adherence", Col::Text),
        ("next_date", Col::Date),
        ("doctor", Col::Text),
        ("form_version", Col::Text),
        ("answers", Col::Text),
    ];
    let ev_cols = [
        ("person_id", Col::Int),
        ("change_id", Col::Int),
        ("event", Col::Text),
        ("from_state", Col::Text),
        ("to_state", Col::Text),
        ("close_reason", Col::Text),
        ("reason", Col::Text),
        ("effective_on", Col::Date),
    ];
    let sched_cols = [
        ("person_id", Col::Int),
        ("state", Col::Text),
        ("risk_grade", Col::Int),
        ("condition_class", Col::Text),
        ("last_followup_date", Col::Date),
        ("next_followup_date", Col::Date),
        ("followup_lost", Col::Bool),
        ("agreement_valid_until", Col::Date),
    ];
    let ag_cols = [
        ("person_id", Col::Int),
        ("change_id", Col::Int),
        ("kind", Col::Text),
        ("signed_on", Col::Date),
        ("person_signed", Col::Bool),
        ("valid_until", Col::Date),
    ];
    let rf_cols = [
        ("id", Col::Int),
        ("person_id", Col::Int),
        ("kind", Col::Text),
        ("state", Col::Text),
        ("urgent", Col::Bool),
        ("from_region", Col::Text),
        ("to_region", Col::Text),
        ("reason", Col::Text),
        ("documents", Col::Text),
        ("sent_on", Col::Date),
        ("accepted_on", Col::Date),
        ("deadline", Col::Date),
        ("change_id", Col::Int),
        ("sender_unit", Col::Text),
        ("contact_name", Col::Text),
        ("contact_phone", Col::Text),
    ];
    // Each document a form typed in (sealed), as a sender fills it.
    let rfd_cols = [
        ("referral_id", Col::Int),
        ("slot", Col::Text),
        ("size", Col::Int),
        ("body", Col::Text),
    ];
    let rfe_cols = [
        ("referral_id", Col::Int),
        ("change_id", Col::Int),
        ("event", Col::Text),
        ("from_state", Col::Text),
        ("to_state", Col::Text),
        ("reason", Col::Text),
    ];
    let mut summary = HistorySummary::default();
    for chunk in ids.chunks(BATCH) {
        let (mut fu, mut ev, mut sc, mut ag) = (Rows::new(), Rows::new(), Rows::new(), Rows::new());
        let (mut rf, mut rfe, mut rfd) = (Rows::new(), Rows::new(), Rows::new());
        for (pid, residence) in chunk {
            let pid = *pid;
            let person_seed = seed ^ (pid as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let h = person_history(person_seed, start, until);
            let county = residence.get(..6).unwrap_or(residence);
            for r in person_referrals(person_seed, &h, residence, county, until, &book) {
                next_referral += 1;
                let slots = book
                    .rules
                    .kind(r.kind)
                    .map(|k| k.documents.clone())
                    .unwrap_or_default();
                let documents = serde_json::to_string(&slots)?;
                for slot in &slots {
                    let body = format!(
                        "{slot}：按原件填写（演示数据）。病情稳定，规律服药，门诊复查每月一次。"
                    );
                    rfd.row()
                        .int(Some(next_referral))
                        .text(Some(slot))
                        .int(Some(body.len() as i64))
                        .text(Some(&keys.seal(sealing::REFERRAL_DOCUMENT_BODY, &body)?));
                    rfd.end_row();
                }
                let (unit, contact) = if r.kind == "hospital_to_community" {
                    ("区精神卫生中心", "李医生")
                } else {
                    ("街道社区卫生服务中心", "张社工")
                };
                rf.row()
                    .int(Some(next_referral))
                    .int(Some(pid))
                    .text(Some(r.kind))
                    .text(Some(r.state.code()))
                    .bool(r.urgent)
                    .text(Some(&r.from_region))
                    .text(Some(&r.to_region))
                    .text(None)
                    .text(Some(&documents))
                    .date(r.sent_on);
                for d in [r.accepted_on, r.deadline] {
                    match d {
                        Some(d) => rf.date(d),
                        None => rf.text(None),
                    };
                }
                rf.int(Some(change))
                    .text(Some(unit))
                    .text(Some(contact))
                    .text(Some("023-48281234"));
                rf.end_row();
                for (event, from, to, reason) in &r.steps {
                    rfe.row()
                        .int(Some(next_referral))
                        .int(Some(change))
                        .text(Some(event))
                        .text(from.map(ReferralState::code))
                        .text(Some(to.code()))
                        .text(
                            keys.seal_opt(sealing::REFERRAL_EVENT_REASON, *reason)?
                                .as_deref(),
                        );
                    rfe.end_row();
                }
                summary.referrals += 1;
            }
            for f in &h.followups {
                fu.row()
                    .int(Some(pid))
                    .int(Some(change))
                    .date(f.visit_date)
                    .text(Some(f.mode))
                    .bool(f.lost)
                    .bool(f.died)
                    .int(f.risk_grade.map(i64::from))
                    .text(f.class.map(ConditionClass::code))
                    .text(f.adherence);
                match f.next_date {
                    Some(d) => fu.date(d),
                    None => fu.text(None),
                };
                fu.text(Some(f.doctor))
                    .text(Some("2018"))
                    .text(Some(&keys.seal(
                        sealing::FOLLOWUP_ANSWERS,
                        &serde_json::to_string(&f.answers)?,
                    )?));
                fu.end_row();
            }
            for e in &h.events {
                let close = match &e.event {
                    Event::Close { reason, .. } => Some(reason.code()),
                    _ => None,
                };
                ev.row()
                    .int(Some(pid))
                    .int(Some(change))
                    .text(Some(e.event.code()))
                    .text(Some(e.from.code()))
                    .text(Some(e.to.code()))
                    .text(close)
                    .text(
                        keys.seal_opt(
                            sealing::REGISTRATION_REASON,
                            e.event.reason_text().filter(|r| !r.is_empty()),
                        )?
                        .as_deref(),
                    )
                    .date(e.on);
                ev.end_row();
            }
            // The schedule: the last follow-up's; a lost one keeps the last known risk and class.
            let last = h.latest();
            let known = h.followups.iter().rev().find(|f| f.risk_grade.is_some());
            sc.row()
                .int(Some(pid))
                .text(Some(h.state().code()))
                .int(known.and_then(|f| f.risk_grade).map(i64::from))
                .text(known.and_then(|f| f.class).map(ConditionClass::code));
            match last {
                Some(f) => sc.date(f.visit_date),
                None => sc.text(None),
            };
            match last.and_then(|f| f.next_date) {
                Some(d) => sc.date(d),
                None => sc.text(None),
            };
            sc.bool(last.is_some_and(|f| f.lost));
            match h.agreement_until {
                Some(d) => sc.date(d),
                None => sc.text(None),
            };
            sc.end_row();
            if let Some(until) = h.agreement_until {
                let signed =
                    until.checked_sub_months(Months::new(12)).unwrap_or(until) + Duration::days(1);
                for kind in ["consent", "service"] {
                    ag.row()
                        .int(Some(pid))
                        .int(Some(change))
                        .text(Some(kind))
                        .date(signed)
                        .bool(true)
                        .date(until);
                    ag.end_row();
                }
            }
            summary.followups += h.followups.len() as u64;
            summary.events += h.events.len() as u64;
        }
        bulk::insert(&mut tx, "followups", &fu_cols, fu).await?;
        bulk::insert(&mut tx, "registration_events", &ev_cols, ev).await?;
        bulk::insert(&mut tx, "gen_schedule", &sched_cols, sc).await?;
        bulk::insert(&mut tx, "agreements", &ag_cols, ag).await?;
        bulk::insert(&mut tx, "referrals", &rf_cols, rf).await?;
        bulk::insert(&mut tx, "referral_events", &rfe_cols, rfe).await?;
        bulk::insert(&mut tx, "referral_documents", &rfd_cols, rfd).await?;
        summary.persons += chunk.len() as u64;
        if let Some(p) = progress {
            p(summary.persons);
        }
    }
    on_tx!(&mut tx, c => sqlx::query(
        "UPDATE persons SET registration_state = g.state, close_reason = NULL, risk_grade = COALESCE(g.risk_grade, persons.risk_grade), \
         condition_class = g.condition_class, last_followup_date = g.last_followup_date, next_followup_date = g.next_followup_date, \
         followup_lost = g.followup_lost, last_followup_by = 'system', agreement_valid_until = g.agreement_valid_until, updated_change = $1 \
         FROM gen_schedule g WHERE g.person_id = persons.id")
        .bind(change).execute(&mut **c).await.map(drop))?;
    // A closed person's reason, from their closing event.
    on_tx!(&mut tx, c => sqlx::query(
        "UPDATE persons SET close_reason = (SELECT e.close_reason FROM registration_events e WHERE e.person_id = persons.id AND e.to_state = 'closed' \
         ORDER BY e.effective_on DESC, e.id DESC LIMIT 1) WHERE registration_state = 'closed' AND id IN (SELECT person_id FROM gen_schedule)")
        .execute(&mut **c).await.map(drop))?;
    // Their history begins at `start`: they were in the registry by then.
    on_tx!(&mut tx, c => sqlx::query(
        "UPDATE persons SET known_since = $1 WHERE (known_since IS NULL OR known_since > $1) AND id IN (SELECT person_id FROM gen_schedule)")
        .bind(start).execute(&mut **c).await.map(drop))?;
    // A diagnosis for those without one (a roster has none): mostly the six severe disorders,
    // about one in seven another disorder, fixed by the person's id.
    // Sealed, with the category's blind index, as any diagnosis is stored.
    let undiagnosed: Vec<i64> = on_tx!(&mut tx, c => sqlx::query_scalar(
        "SELECT id FROM persons WHERE diagnosis_code IS NULL AND id IN (SELECT person_id FROM gen_schedule) ORDER BY id")
        .fetch_all(&mut **c).await)?;
    for chunk in undiagnosed.chunks(crate::store::sealing::BATCH) {
        let mut rows = crate::store::bulk::Rows::new();
        for &id in chunk {
            let code = match id % 20 {
                0..=10 => "F20.0",
                11 | 12 => "F31.2",
                13 => "F25.0",
                14 => "F22.0",
                15 => "F06.2",
                16 => "F71.1",
                17 => "F32.1",
                _ => "F41.1",
            };
            let sealed = tx.keys.seal("persons.diagnosis_code", code)?;
            let index = crate::store::sealing::diagnosis_index(&tx.keys, Some(code))?;
            rows.row()
                .int(Some(id))
                .text(Some(&sealed))
                .text(index.as_deref())
                .end_row();
        }
        use crate::store::bulk::Col;
        crate::store::bulk::update(
            &mut tx,
            "persons",
            &[
                ("id", Col::Int),
                ("diagnosis_code", Col::Text),
                ("dx_bi3", Col::Text),
            ],
            rows,
        )
        .await?;
    }
    on_tx!(&mut tx, c => sqlx::query("DROP TABLE gen_schedule").execute(&mut **c).await.map(drop))?;
    crate::store::followups::rebuild_quarters(&mut tx).await?;
    // The referral ids were given here: move PostgreSQL's identity past them.
    if backend == Backend::Postgres {
        on_tx!(&mut tx, c => sqlx::query("SELECT setval(pg_get_serial_sequence('referrals', 'id'), GREATEST((SELECT MAX(id) FROM referrals), 1))")
            .execute(&mut **c).await.map(drop))?;
    }
    audit::record(&mut tx, &actor, "gen.history", None, json!({"persons": summary.persons, "followups": summary.followups, "events": summary.events, "referrals": summary.referrals, "years": years})).await?;
    tx.commit().await?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Every generated history obeys the rules it claims to follow.
    #[test]
    fn histories_follow_the_rules() {
        let (start, until) = (d("2025-11-23"), d("2026-11-23"));
        let mut total = 0;
        let mut unstable = 0;
        for seed in 0..2000 {
            let h = person_history(seed, start, until);
            assert_eq!(h, person_history(seed, start, until), "deterministic");
            let mut state = RegistrationState::Pending;
            for (i, e) in h.events.iter().enumerate() {
                assert_eq!(registration::next(state, &e.event), Ok(e.to));
                state = e.to;
                assert!(
                    e.on >= start && e.on <= until,
                    "takes effect inside the history"
                );
                if i > 0 {
                    assert!(e.on >= h.events[i - 1].on, "in order");
                }
            }
            let mut previous = None;
            for (i, f) in h.followups.iter().enumerate() {
                assert!(f.visit_date >= start && f.visit_date <= until);
                if i > 0 {
                    assert!(f.visit_date > h.followups[i - 1].visit_date);
                }
                if f.died {
                    assert_eq!(i, h.followups.len() - 1, "nothing after a death");
                    assert!(f.next_date.is_none());
                } else if let Some(class) = f.class {
                    assert_eq!(
                        f.next_date,
                        Some(schedule::next_followup(f.visit_date, class, previous))
                    );
                    previous = Some(class);
                    unstable += usize::from(class == ConditionClass::Unstable);
                    assert_eq!(
                        class == ConditionClass::Unstable,
                        f.risk_grade.unwrap_or(0) >= 3
                            || f.answers["symptom_level"] == "marked"
                            || f.answers["insight"] == "none"
                    );
                } else {
                    assert!(f.lost);
                }
            }
            total += h.followups.len();
        }
        // About four follow-ups a person a year, and some unstable visits among them.
        let per_person = total as f64 / 2000.0;
        assert!((3.0..6.0).contains(&per_person), "{per_person}");
        assert!(unstable > 0);
    }

    #[test]
    fn referrals_follow_their_state_machine() {
        let (start, until) = (d("2025-11-23"), d("2026-11-23"));
        let book = Book::shipped().unwrap();
        let mut kinds = std::collections::BTreeMap::new();
        for seed in 0..3000 {
            let h = person_history(seed, start, until);
            let rs = person_referrals(seed, &h, "500110004", "500110", until, &book);
            assert_eq!(
                rs,
                person_referrals(seed, &h, "500110004", "500110", until, &book),
                "deterministic"
            );
            for r in rs {
                *kinds.entry(r.kind).or_insert(0) += 1;
                let mut state = None;
                for (event, from, to, _) in &r.steps {
                    assert_eq!(*from, state, "{event}");
                    state = Some(*to);
                }
                assert_eq!(state, Some(r.state));
                assert_eq!(
                    r.accepted_on.is_some(),
                    r.steps.iter().any(|s| s.0 == "accept")
                );
                assert!(
                    r.sent_on <= until && r.accepted_on.is_none_or(|a| a <= until && a > r.sent_on)
                );
                let community = r.kind == "hospital_to_community";
                assert_eq!(r.to_region, if community { "500110004" } else { "500110" });
            }
        }
        assert!(
            kinds.get("hospital_to_community").copied().unwrap_or(0) > 100,
            "{kinds:?}"
        );
        assert!(kinds.get("relapse").copied().unwrap_or(0) > 10, "{kinds:?}");
    }
}
