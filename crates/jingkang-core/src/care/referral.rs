//! Two-way referral (双向转介, SPEC §5): the kinds as data (`data/referrals.json`: receiver's
//! deadlines in working days, urgency, the documents a referral must carry — the hospital's
//! 一历六单), the working-day calendar (`data/holidays.json`), and the state machine
//! 发起 → 已接收 | 已退回(reason) → 已完成 | 超时, exhaustive over every (state, event) pair.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// One kind of referral and its rules.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct KindRule {
    pub code: String,
    pub label: String,
    pub urgent: bool,
    /// The roles that send it (role codes, `accounts::Role`).
    pub senders: Vec<String>,
    /// The roles that receive it: its inbox and its accept/return/complete.
    pub receivers: Vec<String>,
    /// It may carry a person not yet in the registry (a discharge from hospital): the receiving
    /// township's acceptance creates the record from the identity it carries.
    #[serde(default)]
    pub new_person: bool,
    /// The assessment it needs: the latest of `domain` within `within_days` stands for `document`.
    #[serde(default)]
    pub assessment: Option<NeedsAssessment>,
    /// Working days the receiver has to accept (or return) it.
    pub accept_working_days: u32,
    /// Working days after acceptance to complete it.
    pub complete_working_days: u32,
    /// The documents (slots) it must carry; all present = complete.
    pub documents: Vec<String>,
}

/// An assessment a kind needs (the employment referral: a functional assessment, SPEC §5/§6).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct NeedsAssessment {
    pub domain: String,
    pub within_days: i64,
    pub document: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ReferralRules {
    pub kinds: Vec<KindRule>,
}

static SHIPPED_RULES: &str = include_str!("../../data/referrals.json");
static SHIPPED_HOLIDAYS: &str = include_str!("../../data/holidays.json");

impl ReferralRules {
    pub fn parse(json: &str) -> anyhow::Result<ReferralRules> {
        let r: ReferralRules = serde_json::from_str(json)?;
        let mut seen = BTreeSet::new();
        for k in &r.kinds {
            anyhow::ensure!(
                seen.insert(k.code.as_str()),
                "referral kind {} appears twice",
                k.code
            );
            anyhow::ensure!(
                k.accept_working_days > 0,
                "referral kind {}: accept_working_days must be at least 1",
                k.code
            );
            for r in k.senders.iter().chain(&k.receivers) {
                anyhow::ensure!(
                    crate::accounts::Role::parse(r).is_some(),
                    "referral kind {}: unknown role {r}",
                    k.code
                );
            }
            anyhow::ensure!(
                !k.senders.is_empty() && !k.receivers.is_empty(),
                "referral kind {}: senders and receivers must not be empty",
                k.code
            );
        }
        Ok(r)
    }

    pub fn shipped() -> anyhow::Result<ReferralRules> {
        ReferralRules::parse(SHIPPED_RULES)
    }

    pub fn kind(&self, code: &str) -> Option<&KindRule> {
        self.kinds.iter().find(|k| k.code == code)
    }

    /// The kinds `role` sends.
    pub fn sent_by(&self, role: &str) -> Vec<String> {
        self.kinds
            .iter()
            .filter(|k| k.senders.iter().any(|r| r == role))
            .map(|k| k.code.clone())
            .collect()
    }

    /// The kinds `role` receives.
    pub fn received_by(&self, role: &str) -> Vec<String> {
        self.kinds
            .iter()
            .filter(|k| k.receivers.iter().any(|r| r == role))
            .map(|k| k.code.clone())
            .collect()
    }
}

/// The referral rules and the working-day calendar, loaded once.
#[derive(Debug, Clone)]
pub struct Book {
    pub rules: ReferralRules,
    pub cal: WorkCalendar,
}

impl Book {
    pub fn shipped() -> anyhow::Result<Book> {
        Ok(Book {
            rules: ReferralRules::shipped()?,
            cal: WorkCalendar::shipped()?,
        })
    }
}

/// Which days are working days: Monday to Friday, except public holidays, plus the weekend days
/// worked in exchange (调休).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct WorkCalendar {
    /// Weekdays off.
    pub off: BTreeSet<NaiveDate>,
    /// Weekend days on.
    pub on: BTreeSet<NaiveDate>,
}

impl WorkCalendar {
    pub fn parse(json: &str) -> anyhow::Result<WorkCalendar> {
        let c: WorkCalendar = serde_json::from_str(json)?;
        if let Some(d) = c.off.intersection(&c.on).next() {
            anyhow::bail!("{d} is both a holiday and a working day");
        }
        Ok(c)
    }

    pub fn shipped() -> anyhow::Result<WorkCalendar> {
        WorkCalendar::parse(SHIPPED_HOLIDAYS)
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        let weekend = matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
        if weekend {
            self.on.contains(&d)
        } else {
            !self.off.contains(&d)
        }
    }

    /// The `n`-th working day after `from` (the day itself does not count).
    pub fn add_working_days(&self, from: NaiveDate, n: u32) -> NaiveDate {
        let mut d = from;
        let mut left = n;
        while left > 0 {
            d += Duration::days(1);
            if self.is_working_day(d) {
                left -= 1;
            }
        }
        d
    }

    /// Working days from `from` (exclusive) to `to` (inclusive); 0 when `to` is not after `from`.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        let mut n = 0;
        let mut d = from;
        while d < to {
            d += Duration::days(1);
            n += u32::from(self.is_working_day(d));
        }
        n
    }
}

/// 转介状态.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferralState {
    /// 发起
    Initiated,
    /// 已接收
    Accepted,
    /// 已退回
    Returned,
    /// 已完成
    Completed,
    /// 超时
    TimedOut,
}

impl ReferralState {
    pub const ALL: [ReferralState; 5] = [
        ReferralState::Initiated,
        ReferralState::Accepted,
        ReferralState::Returned,
        ReferralState::Completed,
        ReferralState::TimedOut,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ReferralState::Initiated => "initiated",
            ReferralState::Accepted => "accepted",
            ReferralState::Returned => "returned",
            ReferralState::Completed => "completed",
            ReferralState::TimedOut => "timed_out",
        }
    }

    pub fn from_code(code: &str) -> Option<ReferralState> {
        ReferralState::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            ReferralState::Initiated => "发起",
            ReferralState::Accepted => "已接收",
            ReferralState::Returned => "已退回",
            ReferralState::Completed => "已完成",
            ReferralState::TimedOut => "超时",
        }
    }
}

/// What can happen to a referral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferralEvent {
    /// The receiver accepts it.
    Accept,
    /// The receiver sends it back, saying why.
    Return { reason: String },
    /// The receiver has done what it asked (visited, admitted, placed …).
    Complete,
    /// Its deadline passed (a system step).
    Expire,
    /// The sender sends a returned referral again, corrected.
    Resend,
}

impl ReferralEvent {
    pub fn code(&self) -> &'static str {
        match self {
            ReferralEvent::Accept => "accept",
            ReferralEvent::Return { .. } => "return",
            ReferralEvent::Complete => "complete",
            ReferralEvent::Expire => "expire",
            ReferralEvent::Resend => "resend",
        }
    }

    pub fn label_zh(&self) -> &'static str {
        match self {
            ReferralEvent::Accept => "接收",
            ReferralEvent::Return { .. } => "退回",
            ReferralEvent::Complete => "完成",
            ReferralEvent::Expire => "超时",
            ReferralEvent::Resend => "重新发起",
        }
    }

    /// Every event, with placeholder reasons (for exhaustive tests and the choices offered).
    pub fn samples() -> Vec<ReferralEvent> {
        vec![
            ReferralEvent::Accept,
            ReferralEvent::Return { reason: "x".into() },
            ReferralEvent::Complete,
            ReferralEvent::Expire,
            ReferralEvent::Resend,
        ]
    }
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferralError {
    Illegal {
        from: ReferralState,
        event: &'static str,
    },
    ReasonMissing,
}

impl ReferralError {
    pub fn code(&self) -> &'static str {
        match self {
            ReferralError::Illegal { .. } => "referral-illegal",
            ReferralError::ReasonMissing => "referral-reason-missing",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ReferralError::Illegal { from, event } => {
                let allowed: Vec<&str> = ReferralEvent::samples()
                    .iter()
                    .filter(|e| target(*from, e).is_some())
                    .map(ReferralEvent::label_zh)
                    .collect();
                let allowed = if allowed.is_empty() {
                    "无（已结束）".to_string()
                } else {
                    allowed.join("、")
                };
                crate::messages::render(
                    "referral-illegal",
                    &[
                        ("state", from.label_zh()),
                        ("event", event),
                        ("allowed", &allowed),
                    ],
                )
            }
            ReferralError::ReasonMissing => {
                crate::messages::template("referral-reason-missing").to_string()
            }
        }
    }
}

fn target(from: ReferralState, event: &ReferralEvent) -> Option<ReferralState> {
    use ReferralEvent as E;
    use ReferralState as S;
    match (from, event) {
        (S::Initiated, E::Accept) => Some(S::Accepted),
        (S::Initiated, E::Return { .. }) => Some(S::Returned),
        (S::Initiated, E::Expire) => Some(S::TimedOut),
        (S::Accepted, E::Complete) => Some(S::Completed),
        (S::Accepted, E::Expire) => Some(S::TimedOut),
        // A late referral is still handled: accepted or completed after its deadline.
        (S::TimedOut, E::Accept) => Some(S::Accepted),
        (S::TimedOut, E::Complete) => Some(S::Completed),
        (S::Returned, E::Resend) => Some(S::Initiated),
        (S::Initiated, E::Complete | E::Resend)
        | (S::Accepted, E::Accept | E::Return { .. } | E::Resend)
        | (S::Returned, E::Accept | E::Return { .. } | E::Complete | E::Expire)
        | (S::Completed, _)
        | (S::TimedOut, E::Return { .. } | E::Expire | E::Resend) => None,
    }
}

/// The state after `event`, or why not.
pub fn next(from: ReferralState, event: &ReferralEvent) -> Result<ReferralState, ReferralError> {
    let to = target(from, event).ok_or(ReferralError::Illegal {
        from,
        event: event.label_zh(),
    })?;
    if let ReferralEvent::Return { reason } = event
        && reason.trim().is_empty()
    {
        return Err(ReferralError::ReasonMissing);
    }
    Ok(to)
}

/// The deadline of a referral in `state`, sent on `sent` and accepted on `accepted`.
pub fn deadline(
    rule: &KindRule,
    cal: &WorkCalendar,
    state: ReferralState,
    sent: NaiveDate,
    accepted: Option<NaiveDate>,
) -> Option<NaiveDate> {
    match (state, accepted) {
        (ReferralState::Initiated, _) => Some(cal.add_working_days(sent, rule.accept_working_days)),
        (ReferralState::Accepted, Some(a)) => {
            Some(cal.add_working_days(a, rule.complete_working_days))
        }
        _ => None,
    }
}

/// The documents of `rule` missing from `attached`.
pub fn missing_documents<'a>(rule: &'a KindRule, attached: &[String]) -> Vec<&'a str> {
    rule.documents
        .iter()
        .filter(|d| !attached.iter().any(|a| a == *d))
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn every_pair_is_decided() {
        use ReferralState as S;
        let legal = [
            (S::Initiated, "accept", S::Accepted),
            (S::Initiated, "return", S::Returned),
            (S::Initiated, "expire", S::TimedOut),
            (S::Accepted, "complete", S::Completed),
            (S::Accepted, "expire", S::TimedOut),
            (S::TimedOut, "accept", S::Accepted),
            (S::TimedOut, "complete", S::Completed),
            (S::Returned, "resend", S::Initiated),
        ];
        for from in S::ALL {
            for e in ReferralEvent::samples() {
                let want = legal
                    .iter()
                    .find(|(f, c, _)| *f == from && *c == e.code())
                    .map(|(_, _, t)| *t);
                match (next(from, &e), want) {
                    (Ok(to), Some(t)) => assert_eq!(to, t, "{from:?} {e:?}"),
                    (Err(ReferralError::Illegal { .. }), None) => {}
                    (got, want) => panic!("{from:?} {e:?}: got {got:?}, want {want:?}"),
                }
            }
        }
        assert_eq!(
            next(S::Initiated, &ReferralEvent::Return { reason: " ".into() }),
            Err(ReferralError::ReasonMissing)
        );
        let m = next(S::Completed, &ReferralEvent::Accept)
            .unwrap_err()
            .message();
        assert!(
            m.contains("已完成") && m.contains("接收") && m.contains("无（已结束）"),
            "{m}"
        );
    }

    #[test]
    fn working_days_skip_weekends_and_holidays_and_count_makeup_days() {
        let cal = WorkCalendar::parse(r#"{"off": ["2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06", "2026-10-07"], "on": ["2026-10-10"]}"#).unwrap();
        // Friday + 1 working day = Monday.
        assert_eq!(cal.add_working_days(d("2026-11-20"), 1), d("2026-11-23"));
        assert_eq!(cal.add_working_days(d("2026-11-20"), 5), d("2026-11-27"));
        // Across 国庆: Sep 30 + 1 = Oct 8; the makeup Saturday Oct 10 counts.
        assert_eq!(cal.add_working_days(d("2026-09-30"), 1), d("2026-10-08"));
        assert_eq!(cal.add_working_days(d("2026-09-30"), 3), d("2026-10-10"));
        assert_eq!(
            cal.working_days_between(d("2026-09-30"), d("2026-10-10")),
            3
        );
        assert_eq!(
            cal.working_days_between(d("2026-10-10"), d("2026-09-30")),
            0
        );
        assert!(WorkCalendar::parse(r#"{"off": ["2026-10-10"], "on": ["2026-10-10"]}"#).is_err());
    }

    #[test]
    fn the_shipped_data_is_sound() {
        let rules = ReferralRules::shipped().unwrap();
        for code in [
            "hospital_to_community",
            "relapse",
            "employment",
            "transfer",
            "between_sites",
        ] {
            assert!(rules.kind(code).is_some(), "{code}");
        }
        assert!(rules.kind("relapse").unwrap().urgent);
        assert_eq!(rules.received_by("hospital"), vec!["relapse"]);
        assert!(
            rules
                .sent_by("hospital")
                .contains(&"hospital_to_community".to_string())
        );
        assert!(rules.received_by("police").is_empty());
        assert!(
            rules
                .kinds
                .iter()
                .filter(|k| k.new_person)
                .all(|k| k.receivers.iter().all(|r| r == "township" || r == "worker"))
        );
        let bad = SHIPPED_RULES.replacen("\"hospital\", \"doctor\"", "\"surgeon\"", 1);
        assert!(
            ReferralRules::parse(&bad)
                .unwrap_err()
                .to_string()
                .contains("surgeon")
        );
        assert_eq!(
            rules.kind("hospital_to_community").unwrap().documents.len(),
            7,
            "一历六单"
        );
        let cal = WorkCalendar::shipped().unwrap();
        assert!(
            cal.off
                .iter()
                .all(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)),
            "holidays listed are weekdays"
        );
        assert!(
            cal.on
                .iter()
                .all(|d| matches!(d.weekday(), Weekday::Sat | Weekday::Sun)),
            "makeup days are weekend days"
        );
    }

    #[test]
    fn deadlines_and_documents() {
        let rules = ReferralRules::shipped().unwrap();
        let cal = WorkCalendar::default();
        let h = rules.kind("hospital_to_community").unwrap();
        assert_eq!(
            deadline(h, &cal, ReferralState::Initiated, d("2026-11-23"), None),
            Some(d("2026-11-30"))
        );
        assert_eq!(
            deadline(
                h,
                &cal,
                ReferralState::Accepted,
                d("2026-11-23"),
                Some(d("2026-11-24"))
            ),
            Some(d("2026-12-08"))
        );
        assert_eq!(
            deadline(
                h,
                &cal,
                ReferralState::Completed,
                d("2026-11-23"),
                Some(d("2026-11-24"))
            ),
            None
        );
        let all: Vec<String> = h.documents.clone();
        assert!(missing_documents(h, &all).is_empty());
        assert_eq!(missing_documents(h, &all[1..]), vec!["病历摘要（一历）"]);
    }
}
