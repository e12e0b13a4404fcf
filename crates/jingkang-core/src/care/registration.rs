//! The registration state machine (SPEC §3): 待评估 → 已登记 → 服务中 ⇄ 暂停 → 结案; 不参与.
//!
//! A change of state is an [`Event`]; [`next`] is the only place that decides which event is legal
//! from which state, and it is an exhaustive match, so a new state or event does not compile until
//! every pair is decided. Events that need a reason carry it in their type; an empty reason is
//! refused here, before anything is written.

use serde::{Deserialize, Serialize};

use crate::domain::RegistrationState as S;

/// 结案原因 (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// 康复良好/已就业
    Recovered,
    /// 迁出
    MovedAway,
    /// 死亡
    Died,
    /// 长期住院
    LongTermHospital,
    /// 本人/监护人退出
    Withdrew,
    /// 其他 (needs a note)
    Other,
    /// A duplicate record merged into another (信息比对): set by a merge only, never chosen in
    /// the close form, not in [`CloseReason::ALL`]; the reports count such a record nowhere.
    Merged,
}

impl CloseReason {
    pub const ALL: [CloseReason; 6] = [
        CloseReason::Recovered,
        CloseReason::MovedAway,
        CloseReason::Died,
        CloseReason::LongTermHospital,
        CloseReason::Withdrew,
        CloseReason::Other,
    ];

    pub fn code(self) -> &'static str {
        match self {
            CloseReason::Recovered => "recovered",
            CloseReason::MovedAway => "moved_away",
            CloseReason::Died => "died",
            CloseReason::LongTermHospital => "long_term_hospital",
            CloseReason::Withdrew => "withdrew",
            CloseReason::Other => "other",
            CloseReason::Merged => "merged",
        }
    }

    pub fn from_code(code: &str) -> Option<CloseReason> {
        CloseReason::ALL
            .into_iter()
            .chain([CloseReason::Merged])
            .find(|r| r.code() == code)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            CloseReason::Recovered => "康复良好/已就业",
            CloseReason::MovedAway => "迁出",
            CloseReason::Died => "死亡",
            CloseReason::LongTermHospital => "长期住院",
            CloseReason::Withdrew => "本人/监护人退出",
            CloseReason::Other => "其他",
            CloseReason::Merged => "重复档案已合并",
        }
    }
}

/// A request to change a person's registration state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// 待评估 → 已登记. `exception` is the written reason when the eligibility rule is not met.
    Register { exception: Option<String> },
    /// 已登记 → 服务中.
    StartService,
    /// 服务中 → 暂停, with a reason.
    Suspend { reason: String },
    /// 暂停 → 服务中.
    Resume,
    /// 已登记, 服务中 or 暂停 → 结案, with a reason (and a note when the reason is 其他).
    Close { reason: CloseReason, note: String },
    /// 待评估 or 已登记 → 不参与, with a reason.
    Decline { reason: String },
    /// 结案 or 不参与 → 待评估: a new application, with a reason.
    Reopen { reason: String },
}

impl Event {
    /// The stored code, also the audit action suffix (`registration.<code>`).
    pub fn code(&self) -> &'static str {
        match self {
            Event::Register { .. } => "register",
            Event::StartService => "start_service",
            Event::Suspend { .. } => "suspend",
            Event::Resume => "resume",
            Event::Close { .. } => "close",
            Event::Decline { .. } => "decline",
            Event::Reopen { .. } => "reopen",
        }
    }

    pub fn label_zh(&self) -> &'static str {
        match self {
            Event::Register { .. } => "登记",
            Event::StartService => "开始服务",
            Event::Suspend { .. } => "暂停服务",
            Event::Resume => "恢复服务",
            Event::Close { .. } => "结案",
            Event::Decline { .. } => "记为不参与",
            Event::Reopen { .. } => "重新申请",
        }
    }

    /// The free-text reason the event carries, if any (trimmed).
    pub fn reason_text(&self) -> Option<&str> {
        match self {
            Event::Register { exception } => exception.as_deref().map(str::trim),
            Event::Suspend { reason } | Event::Decline { reason } | Event::Reopen { reason } => {
                Some(reason.trim())
            }
            Event::Close { note, .. } => Some(note.trim()).filter(|n| !n.is_empty()),
            Event::StartService | Event::Resume => None,
        }
    }
}

/// Why an event cannot be applied; nothing is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("event {event} is not allowed from state {from:?}")]
    Illegal { from: S, event: &'static str },
    #[error("the event needs a reason")]
    ReasonMissing,
    #[error("closing with reason 'other' needs a note")]
    NoteMissing,
    #[error("a reason is limited to 500 characters")]
    ReasonTooLong,
    #[error("the record was merged into another")]
    Merged,
}

/// Longest reason or note kept, in characters.
pub const MAX_REASON_CHARS: usize = 500;

impl TransitionError {
    /// Key into `crate::messages::MESSAGES`.
    pub fn code(&self) -> &'static str {
        match self {
            TransitionError::Illegal { .. } => "registration-illegal",
            TransitionError::ReasonMissing => "registration-reason-missing",
            TransitionError::NoteMissing => "registration-note-missing",
            TransitionError::ReasonTooLong => "registration-reason-too-long",
            TransitionError::Merged => "registration-merged",
        }
    }

    /// The message a user reads.
    pub fn message(&self) -> String {
        match self {
            TransitionError::Illegal { from, event } => crate::messages::render(
                self.code(),
                &[
                    ("state", from.label_zh()),
                    ("event", event_label(event)),
                    ("allowed", &allowed_labels(*from)),
                ],
            ),
            _ => crate::messages::template(self.code()).to_string(),
        }
    }
}

/// The Chinese label of an event code (as stored in `registration_events`).
pub fn event_label(code: &str) -> &'static str {
    match code {
        "merge" => return "并入其他档案",
        "unmerge" => return "撤销合并",
        _ => {}
    }
    sample_events()
        .into_iter()
        .find(|e| e.code() == code)
        .map(|e| e.label_zh())
        .unwrap_or("未知操作")
}

/// One event of each kind (with placeholder reasons), for listing what a state allows.
pub fn sample_events() -> Vec<Event> {
    vec![
        Event::Register { exception: None },
        Event::StartService,
        Event::Suspend { reason: "-".into() },
        Event::Resume,
        Event::Close {
            reason: CloseReason::Recovered,
            note: String::new(),
        },
        Event::Decline { reason: "-".into() },
        Event::Reopen { reason: "-".into() },
    ]
}

/// The events legal from `from`, by code.
pub fn allowed(from: S) -> Vec<&'static str> {
    sample_events()
        .into_iter()
        .filter(|e| target(from, e).is_some())
        .map(|e| e.code())
        .collect()
}

fn allowed_labels(from: S) -> String {
    let labels: Vec<&str> = allowed(from).into_iter().map(event_label).collect();
    if labels.is_empty() {
        "无".into()
    } else {
        labels.join("、")
    }
}

/// The state `event` leads to from `from`, if the pair is legal (reasons not checked).
fn target(from: S, event: &Event) -> Option<S> {
    match (from, event) {
        (S::Pending, Event::Register { .. }) => Some(S::Registered),
        (S::Registered, Event::StartService) => Some(S::InService),
        (S::InService, Event::Suspend { .. }) => Some(S::Suspended),
        (S::Suspended, Event::Resume) => Some(S::InService),
        (S::Registered | S::InService | S::Suspended, Event::Close { .. }) => Some(S::Closed),
        (S::Pending | S::Registered, Event::Decline { .. }) => Some(S::Declined),
        (S::Closed | S::Declined, Event::Reopen { .. }) => Some(S::Pending),
        (
            S::Pending | S::Registered | S::InService | S::Suspended | S::Closed | S::Declined,
            Event::Register { .. }
            | Event::StartService
            | Event::Suspend { .. }
            | Event::Resume
            | Event::Close { .. }
            | Event::Decline { .. }
            | Event::Reopen { .. },
        ) => None,
    }
}

/// The state after `event`, or why it cannot happen.
pub fn next(from: S, event: &Event) -> Result<S, TransitionError> {
    let to = target(from, event).ok_or(TransitionError::Illegal {
        from,
        event: event.code(),
    })?;
    let needs_reason = matches!(
        event,
        Event::Suspend { .. } | Event::Decline { .. } | Event::Reopen { .. }
    );
    let reason = event.reason_text();
    if needs_reason && reason.is_none_or(str::is_empty) {
        return Err(TransitionError::ReasonMissing);
    }
    if let Event::Register { exception: Some(e) } = event
        && e.trim().is_empty()
    {
        return Err(TransitionError::ReasonMissing);
    }
    if matches!(
        event,
        Event::Close {
            reason: CloseReason::Other,
            ..
        }
    ) && reason.is_none()
    {
        return Err(TransitionError::NoteMissing);
    }
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(TransitionError::ReasonTooLong);
    }
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: &str) -> Event {
        sample_events()
            .into_iter()
            .find(|e| e.code() == code)
            .unwrap()
    }

    /// Every (state, event) pair against the table of SPEC §3.
    #[test]
    fn every_pair_is_decided_as_the_spec_says() {
        let legal: &[(S, &str, S)] = &[
            (S::Pending, "register", S::Registered),
            (S::Registered, "start_service", S::InService),
            (S::InService, "suspend", S::Suspended),
            (S::Suspended, "resume", S::InService),
            (S::Registered, "close", S::Closed),
            (S::InService, "close", S::Closed),
            (S::Suspended, "close", S::Closed),
            (S::Pending, "decline", S::Declined),
            (S::Registered, "decline", S::Declined),
            (S::Closed, "reopen", S::Pending),
            (S::Declined, "reopen", S::Pending),
        ];
        let mut checked = 0;
        for from in S::ALL {
            for e in sample_events() {
                let expected = legal
                    .iter()
                    .find(|(f, c, _)| *f == from && *c == e.code())
                    .map(|(_, _, t)| *t);
                match (next(from, &e), expected) {
                    (Ok(to), Some(t)) => assert_eq!(to, t),
                    (Err(TransitionError::Illegal { from: f, event }), None) => {
                        assert_eq!((f, event), (from, e.code()));
                    }
                    (got, want) => panic!("{from:?} + {}: got {got:?}, want {want:?}", e.code()),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 6 * 7);
    }

    #[test]
    fn reasons_are_required_where_the_spec_asks() {
        assert_eq!(
            next(
                S::InService,
                &Event::Suspend {
                    reason: "  ".into()
                }
            ),
            Err(TransitionError::ReasonMissing)
        );
        assert_eq!(
            next(
                S::Pending,
                &Event::Decline {
                    reason: String::new()
                }
            ),
            Err(TransitionError::ReasonMissing)
        );
        assert_eq!(
            next(
                S::Closed,
                &Event::Reopen {
                    reason: "\n".into()
                }
            ),
            Err(TransitionError::ReasonMissing)
        );
        assert_eq!(
            next(
                S::Pending,
                &Event::Register {
                    exception: Some(" ".into())
                }
            ),
            Err(TransitionError::ReasonMissing)
        );
        assert_eq!(
            next(
                S::Pending,
                &Event::Register {
                    exception: Some("家属强烈要求，经评估可控".into())
                }
            ),
            Ok(S::Registered)
        );
        assert_eq!(
            next(
                S::InService,
                &Event::Close {
                    reason: CloseReason::Other,
                    note: " ".into()
                }
            ),
            Err(TransitionError::NoteMissing)
        );
        assert_eq!(
            next(
                S::InService,
                &Event::Close {
                    reason: CloseReason::Died,
                    note: String::new()
                }
            ),
            Ok(S::Closed)
        );
        let long = "很".repeat(MAX_REASON_CHARS + 1);
        assert_eq!(
            next(S::InService, &Event::Suspend { reason: long }),
            Err(TransitionError::ReasonTooLong)
        );
        // The legality check comes first: an illegal event is illegal whatever its reason.
        assert!(matches!(
            next(
                S::Closed,
                &Event::Suspend {
                    reason: String::new()
                }
            ),
            Err(TransitionError::Illegal { .. })
        ));
    }

    #[test]
    fn illegal_events_say_what_is_allowed_in_chinese() {
        let err = next(S::Pending, &ev("start_service")).unwrap_err();
        let m = err.message();
        assert!(
            m.contains("待评估")
                && m.contains("开始服务")
                && m.contains("登记")
                && m.contains("记为不参与"),
            "{m}"
        );
        assert_eq!(allowed(S::Suspended), vec!["resume", "close"]);
        for r in CloseReason::ALL {
            assert_eq!(CloseReason::from_code(r.code()), Some(r));
        }
    }
}
