//! Rehabilitation service records (SPEC §6): the catalogue and the modes as data
//! (`data/services.json`), and the check of one session — item, mode, date, times, staff, the
//! participants — with every problem named in Chinese. A group session is one record with many
//! participants; a week of the same group's sessions is one entry with several dates.

use std::collections::BTreeSet;

use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

use crate::messages;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogueItem {
    pub code: String,
    pub label: String,
    /// Usually delivered to a group.
    #[serde(default)]
    pub group: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Mode {
    pub code: String,
    pub label: String,
}

/// The service catalogue and the modes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceCatalogue {
    pub items: Vec<CatalogueItem>,
    pub modes: Vec<Mode>,
}

static SHIPPED: &str = include_str!("../../data/services.json");

impl ServiceCatalogue {
    pub fn parse(json: &str) -> anyhow::Result<ServiceCatalogue> {
        let c: ServiceCatalogue = serde_json::from_str(json)?;
        let mut seen = BTreeSet::new();
        for code in c
            .items
            .iter()
            .map(|i| &i.code)
            .chain(c.modes.iter().map(|m| &m.code))
        {
            anyhow::ensure!(
                seen.insert(code.as_str()),
                "service code {code} appears twice"
            );
        }
        anyhow::ensure!(
            !c.items.is_empty() && !c.modes.is_empty(),
            "the service catalogue needs items and modes"
        );
        Ok(c)
    }

    pub fn shipped() -> anyhow::Result<ServiceCatalogue> {
        ServiceCatalogue::parse(SHIPPED)
    }

    pub fn item(&self, code: &str) -> Option<&CatalogueItem> {
        self.items.iter().find(|i| i.code == code)
    }

    pub fn mode(&self, code: &str) -> Option<&Mode> {
        self.modes.iter().find(|m| m.code == code)
    }
}

/// A service session as entered: one or several dates (a week of the same group), the same
/// times, item, mode, staff and participants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInput {
    pub item: String,
    pub mode: String,
    /// `YYYY-MM-DD`, one or more.
    pub dates: Vec<String>,
    /// `HH:MM`.
    pub start: String,
    pub end: String,
    pub staff: String,
    pub participants: Vec<i64>,
    #[serde(default)]
    pub notes: String,
}

/// A checked session entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub item: String,
    pub mode: String,
    pub dates: Vec<NaiveDate>,
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub staff: String,
    pub participants: Vec<i64>,
    pub notes: Option<String>,
}

/// A problem with one field of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

fn err(field: &str, code: &str, args: &[(&str, &str)]) -> FieldError {
    FieldError {
        field: field.to_string(),
        code: code.to_string(),
        message: messages::render(code, args),
    }
}

/// Most dates one entry may carry (a month of daily sessions).
pub const MAX_DATES: usize = 31;
/// Most participants of one session.
pub const MAX_PARTICIPANTS: usize = 200;

/// Check an entry against the catalogue on `today`: every problem, by field.
pub fn validate(
    c: &ServiceCatalogue,
    input: &SessionInput,
    today: NaiveDate,
) -> Result<Session, Vec<FieldError>> {
    let mut errors = Vec::new();
    if c.item(input.item.trim()).is_none() {
        errors.push(err("item", "service-item-invalid", &[]));
    }
    if c.mode(input.mode.trim()).is_none() {
        errors.push(err("mode", "service-mode-invalid", &[]));
    }
    let mut dates = BTreeSet::new();
    for d in input
        .dates
        .iter()
        .map(|d| d.trim())
        .filter(|d| !d.is_empty())
    {
        match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            Ok(date) if date > today => {
                errors.push(err("dates", "service-date-future", &[("date", d)]))
            }
            Ok(date) => {
                dates.insert(date);
            }
            Err(_) => errors.push(err("dates", "service-date-invalid", &[("date", d)])),
        }
    }
    if dates.is_empty() && !errors.iter().any(|e| e.field == "dates") {
        errors.push(err("dates", "service-date-missing", &[]));
    }
    if dates.len() > MAX_DATES {
        errors.push(err(
            "dates",
            "service-too-many-dates",
            &[("max", &MAX_DATES.to_string())],
        ));
    }
    let time = |field: &str, v: &str, errors: &mut Vec<FieldError>| match NaiveTime::parse_from_str(
        v.trim(),
        "%H:%M",
    ) {
        Ok(t) => Some(t),
        Err(_) => {
            errors.push(err(field, "service-time-invalid", &[]));
            None
        }
    };
    let start = time("start", &input.start, &mut errors);
    let end = time("end", &input.end, &mut errors);
    if let (Some(s), Some(e)) = (start, end)
        && e <= s
    {
        errors.push(err("end", "service-end-before-start", &[]));
    }
    if input.staff.trim().is_empty() {
        errors.push(err("staff", "service-staff-missing", &[]));
    }
    let participants: BTreeSet<i64> = input.participants.iter().copied().collect();
    if participants.is_empty() {
        errors.push(err("participants", "service-participants-missing", &[]));
    } else if participants.len() > MAX_PARTICIPANTS {
        errors.push(err(
            "participants",
            "service-too-many-participants",
            &[("max", &MAX_PARTICIPANTS.to_string())],
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let (Some(start), Some(end)) = (start, end) else {
        return Err(errors);
    };
    Ok(Session {
        item: input.item.trim().to_string(),
        mode: input.mode.trim().to_string(),
        dates: dates.into_iter().collect(),
        start,
        end,
        staff: input.staff.trim().to_string(),
        participants: participants.into_iter().collect(),
        notes: Some(input.notes.trim().to_string()).filter(|n| !n.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_input() -> SessionInput {
        SessionInput {
            item: "social_skills".into(),
            mode: "institution".into(),
            dates: vec![
                "2026-11-16".into(),
                "2026-11-18".into(),
                "2026-11-16".into(),
            ],
            start: "09:00".into(),
            end: "10:30".into(),
            staff: "李社工".into(),
            participants: vec![3, 1, 2, 3],
            notes: " ".into(),
        }
    }

    #[test]
    fn the_shipped_catalogue_has_the_spec_items() {
        let c = ServiceCatalogue::shipped().unwrap();
        assert_eq!(c.items.len(), 15);
        for label in ["服药训练", "同伴支持", "喘息服务", "就业支持"] {
            assert!(c.items.iter().any(|i| i.label == label), "{label}");
        }
        assert_eq!(
            c.modes.iter().map(|m| m.label.as_str()).collect::<Vec<_>>(),
            ["机构", "居家", "社区", "线上"]
        );
        assert!(ServiceCatalogue::parse(r#"{"items": [{"code": "a", "label": "A"}, {"code": "a", "label": "B"}], "modes": [{"code": "m", "label": "M"}]}"#).is_err());
    }

    #[test]
    fn an_entry_is_checked_field_by_field() {
        let c = ServiceCatalogue::shipped().unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let s = validate(&c, &ok_input(), today).unwrap();
        assert_eq!(s.dates.len(), 2, "a date given twice is one session");
        assert_eq!(
            s.participants,
            vec![1, 2, 3],
            "a participant ticked twice attends once"
        );
        assert_eq!(s.notes, None);
        let bad = SessionInput {
            item: "yoga".into(),
            mode: "boat".into(),
            dates: vec!["2026-11-31".into(), "2026-12-01".into()],
            start: "9点".into(),
            end: "08:00".into(),
            staff: "".into(),
            participants: vec![],
            notes: String::new(),
        };
        let e = validate(&c, &bad, today).unwrap_err();
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "item",
                "mode",
                "dates",
                "dates",
                "start",
                "staff",
                "participants"
            ]
        );
        assert!(
            e[2].message.contains("2026-11-31") && e[3].message.contains("2026-12-01"),
            "{e:?}"
        );
        let backwards = SessionInput {
            start: "10:00".into(),
            end: "09:00".into(),
            ..ok_input()
        };
        assert_eq!(validate(&c, &backwards, today).unwrap_err()[0].field, "end");
        let none = SessionInput {
            dates: vec![],
            ..ok_input()
        };
        assert_eq!(
            validate(&c, &none, today).unwrap_err()[0].code,
            "service-date-missing"
        );
    }
}
