//! 登记状态: where a person stands in community rehabilitation (SPEC §3).
//!
//! 待评估 → 已登记 → 服务中 ⇄ 暂停 → 结案; a person who declines is 不参与. The transitions and their
//! required reasons belong to the care workflow; this is the state itself, stored on the person
//! and used to filter lists.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationState {
    /// 待评估: on the roster, eligibility not yet assessed.
    Pending,
    /// 已登记: assessed eligible and registered.
    Registered,
    /// 服务中: receiving rehabilitation services.
    InService,
    /// 暂停: services paused.
    Suspended,
    /// 结案: closed.
    Closed,
    /// 不参与: declined community rehabilitation.
    Declined,
}

impl RegistrationState {
    pub const ALL: [RegistrationState; 6] = [
        RegistrationState::Pending,
        RegistrationState::Registered,
        RegistrationState::InService,
        RegistrationState::Suspended,
        RegistrationState::Closed,
        RegistrationState::Declined,
    ];

    /// The stored code (`pending`, `in_service`, …).
    pub fn code(self) -> &'static str {
        match self {
            RegistrationState::Pending => "pending",
            RegistrationState::Registered => "registered",
            RegistrationState::InService => "in_service",
            RegistrationState::Suspended => "suspended",
            RegistrationState::Closed => "closed",
            RegistrationState::Declined => "declined",
        }
    }

    pub fn from_code(code: &str) -> Option<RegistrationState> {
        RegistrationState::ALL
            .into_iter()
            .find(|s| s.code() == code)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            RegistrationState::Pending => "待评估",
            RegistrationState::Registered => "已登记",
            RegistrationState::InService => "服务中",
            RegistrationState::Suspended => "暂停",
            RegistrationState::Closed => "结案",
            RegistrationState::Declined => "不参与",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for s in RegistrationState::ALL {
            assert_eq!(RegistrationState::from_code(s.code()), Some(s));
            assert!(seen.insert(s.code()));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.code())
            );
        }
        assert_eq!(RegistrationState::from_code("服务中"), None);
        assert_eq!(RegistrationState::InService.label_zh(), "服务中");
    }
}
