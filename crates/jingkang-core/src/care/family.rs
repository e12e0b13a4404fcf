//! Family support (SPEC §6): caregiver training sessions (家属护理培训), respite episodes (喘息服务),
//! mutual-aid groups (家属互助小组) with their members and meetings, and peer supporters (同伴支持者).
//! Rules only — the check of each entry, with every problem named in Chinese by field; what needs
//! the database (persons in scope, the members of a group) is checked by `store::family`.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::care::service::FieldError;
use crate::messages;
use crate::regions::{Level, RegionTree, Scope};

/// How the family member who attends or joins is related to the person (家属关系).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    Parent,
    Spouse,
    Child,
    Sibling,
    Other,
}

impl Relation {
    pub const ALL: [Relation; 5] = [
        Relation::Parent,
        Relation::Spouse,
        Relation::Child,
        Relation::Sibling,
        Relation::Other,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Relation::Parent => "parent",
            Relation::Spouse => "spouse",
            Relation::Child => "child",
            Relation::Sibling => "sibling",
            Relation::Other => "other",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Relation::Parent => "父母",
            Relation::Spouse => "配偶",
            Relation::Child => "子女",
            Relation::Sibling => "兄弟姐妹",
            Relation::Other => "其他",
        }
    }

    /// A code (`parent`) or the Chinese label (`父母`).
    pub fn parse(s: &str) -> Option<Relation> {
        let s = s.trim();
        Relation::ALL
            .into_iter()
            .find(|r| r.code() == s || r.label_zh() == s)
    }

    /// The label of a stored code (the code itself if unknown).
    pub fn label_of(code: &str) -> String {
        Relation::parse(code).map_or_else(|| code.to_string(), |r| r.label_zh().to_string())
    }

    /// The relation a guardian's free-text relation (父亲, 妻子, 儿子, 姐姐 …) most likely means,
    /// to fill the forms in advance; `None` when nothing is written.
    pub fn guess(text: &str) -> Option<Relation> {
        let t = text.trim();
        if t.is_empty() {
            return None;
        }
        if let Some(r) = Relation::parse(t) {
            return Some(r);
        }
        let has = |chars: &str| chars.chars().any(|c| t.contains(c));
        Some(if has("夫妻配") {
            Relation::Spouse
        } else if has("父母爸妈") {
            Relation::Parent
        } else if has("兄弟姐妹哥") {
            Relation::Sibling
        } else if has("子女儿") {
            Relation::Child
        } else {
            Relation::Other
        })
    }
}

/// Whether a peer supporter is active (在岗) or not (停止).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerStatus {
    Active,
    Inactive,
}

impl PeerStatus {
    pub const ALL: [PeerStatus; 2] = [PeerStatus::Active, PeerStatus::Inactive];

    pub fn code(self) -> &'static str {
        match self {
            PeerStatus::Active => "active",
            PeerStatus::Inactive => "inactive",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            PeerStatus::Active => "在岗",
            PeerStatus::Inactive => "停止",
        }
    }

    pub fn parse(s: &str) -> Option<PeerStatus> {
        let s = s.trim();
        PeerStatus::ALL
            .into_iter()
            .find(|p| p.code() == s || p.label_zh() == s)
    }
}

/// Most family members one training or one group takes in one entry.
pub const MAX_PEOPLE: usize = 200;
/// Longest names (persons, groups) and short texts (topic, trainer, provider), in characters.
pub const MAX_NAME: usize = 50;
pub const MAX_TEXT: usize = 100;
pub const MAX_NOTES: usize = 500;
/// Most hours a peer supporter's total may reach.
pub const MAX_PEER_HOURS: f64 = 100_000.0;

/// A problem with one field, its message rendered from the table.
pub fn problem(field: &str, code: &str, args: &[(&str, &str)]) -> FieldError {
    FieldError {
        field: field.to_string(),
        code: code.to_string(),
        message: messages::render(code, args),
    }
}

/// The Chinese name of a field, from the message table (`family-label-…`).
fn label(key: &str) -> &'static str {
    messages::template(&format!("family-label-{key}"))
}

/// A required short text: trimmed, not empty, not longer than `max` characters.
fn text(field: &str, key: &str, v: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let v = v.trim();
    if v.is_empty() {
        errors.push(problem(field, "family-missing", &[("label", label(key))]));
    } else if v.chars().count() > max {
        errors.push(problem(
            field,
            "family-too-long",
            &[("label", label(key)), ("max", &max.to_string())],
        ));
    }
    v.to_string()
}

/// Optional notes: `None` when empty.
fn notes(field: &str, v: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let v = v.trim();
    if v.chars().count() > MAX_NOTES {
        errors.push(problem(
            field,
            "family-too-long",
            &[("label", label("notes")), ("max", &MAX_NOTES.to_string())],
        ));
    }
    Some(v.to_string()).filter(|n| !n.is_empty())
}

/// A required date `YYYY-MM-DD`, not after `today`.
fn date(
    field: &str,
    key: &str,
    v: &str,
    today: NaiveDate,
    errors: &mut Vec<FieldError>,
) -> Option<NaiveDate> {
    let v = v.trim();
    if v.is_empty() {
        errors.push(problem(field, "family-missing", &[("label", label(key))]));
        return None;
    }
    match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) if d > today => {
            errors.push(problem(
                field,
                "family-date-future",
                &[("label", label(key)), ("date", v)],
            ));
            None
        }
        Ok(d) => Some(d),
        Err(_) => {
            errors.push(problem(
                field,
                "family-date-invalid",
                &[("label", label(key)), ("date", v)],
            ));
            None
        }
    }
}

/// Whether `h` is a whole number of half hours.
fn half_hours(h: f64) -> bool {
    h.is_finite() && (h * 2.0).fract() == 0.0
}

/// The township (or village) a training, group or peer supporter belongs to: the one given, or
/// the recorder's own region when none is; it must be in the recorder's scope.
fn region(tree: &RegionTree, scope: &Scope, given: &str, errors: &mut Vec<FieldError>) -> String {
    let code = match given.trim() {
        "" => scope.root().unwrap_or_default().to_string(),
        c => c.to_string(),
    };
    match tree.get(&code) {
        _ if code.is_empty() => errors.push(problem("region", "family-region-missing", &[])),
        Some(r) if r.level >= Level::Township => {
            if !scope.contains(&code) {
                errors.push(problem(
                    "region",
                    "family-region-outside",
                    &[("code", &code)],
                ));
            }
        }
        // The recorder's own region above a township: they must choose one.
        Some(_) if given.trim().is_empty() => {
            errors.push(problem("region", "family-region-missing", &[]))
        }
        _ => errors.push(problem(
            "region",
            "family-region-invalid",
            &[("code", &code)],
        )),
    }
    code
}

/// A family member as entered: the person of the registry they care for, their name, how related.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FamilyMemberInput {
    /// The person (服务对象) whose family member this is.
    pub person_id: i64,
    /// The family member's name.
    pub name: String,
    /// `parent` (父母), `spouse` (配偶), `child` (子女), `sibling` (兄弟姐妹) or `other` (其他).
    pub relation: String,
    /// Groups only: `YYYY-MM-DD`, default the group's start (a new group) or today (joining later).
    #[serde(default)]
    pub joined_on: String,
}

/// A checked family member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyMember {
    pub person_id: i64,
    pub name: String,
    pub relation: Relation,
    pub joined_on: NaiveDate,
}

/// Check a list of family members (`field`: `attendees` or `members`); the same person and name
/// given twice is one.
fn family(
    field: &str,
    list: &[FamilyMemberInput],
    joined_default: Option<NaiveDate>,
    today: NaiveDate,
    errors: &mut Vec<FieldError>,
) -> Vec<FamilyMember> {
    if list.len() > MAX_PEOPLE {
        errors.push(problem(
            field,
            "family-too-many",
            &[("max", &MAX_PEOPLE.to_string())],
        ));
        return Vec::new();
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, m) in list.iter().enumerate() {
        let n = (i + 1).to_string();
        let name = m.name.trim();
        if name.is_empty() {
            errors.push(problem(field, "family-member-name-missing", &[("n", &n)]));
        } else if name.chars().count() > MAX_NAME {
            errors.push(problem(
                field,
                "family-member-name-too-long",
                &[("n", &n), ("max", &MAX_NAME.to_string())],
            ));
        }
        let relation = Relation::parse(&m.relation);
        if relation.is_none() {
            errors.push(problem(field, "family-relation-invalid", &[("n", &n)]));
        }
        let joined = match (m.joined_on.trim(), joined_default) {
            ("", Some(d)) => Some(d),
            (v, _) => match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
                Ok(d) if d > today => {
                    errors.push(problem(
                        field,
                        "family-member-joined-future",
                        &[("n", &n), ("date", v)],
                    ));
                    None
                }
                Ok(d) => Some(d),
                Err(_) => {
                    errors.push(problem(field, "family-member-joined-invalid", &[("n", &n)]));
                    None
                }
            },
        };
        if let (Some(relation), Some(joined_on)) = (relation, joined)
            && !name.is_empty()
            && seen.insert((m.person_id, name.to_string()))
        {
            out.push(FamilyMember {
                person_id: m.person_id,
                name: name.to_string(),
                relation,
                joined_on,
            });
        }
    }
    out
}

// ---------- caregiver training (家属护理培训) ----------

/// A training session as entered: the family members who attended are recorded all at once.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrainingInput {
    /// `YYYY-MM-DD`, not in the future.
    pub held_on: String,
    /// The township (9 digits) or village; default the recorder's own region.
    #[serde(default)]
    pub region: String,
    pub topic: String,
    /// 0.5–24, in half hours.
    pub hours: f64,
    pub trainer: String,
    /// The family members who attended, each for a person of the registry (`joined_on` unused).
    pub attendees: Vec<FamilyMemberInput>,
}

/// A checked training session.
#[derive(Debug, Clone, PartialEq)]
pub struct Training {
    pub held_on: NaiveDate,
    pub region: String,
    pub topic: String,
    pub hours: f64,
    pub trainer: String,
    pub attendees: Vec<FamilyMember>,
}

/// Check a training entry of a recorder with `scope`, on `today`: every problem, by field.
pub fn check_training(
    tree: &RegionTree,
    scope: &Scope,
    input: &TrainingInput,
    today: NaiveDate,
) -> Result<Training, Vec<FieldError>> {
    let mut errors = Vec::new();
    let held_on = date(
        "held_on",
        "training-date",
        &input.held_on,
        today,
        &mut errors,
    );
    let region = region(tree, scope, &input.region, &mut errors);
    let topic = text(
        "topic",
        "training-topic",
        &input.topic,
        MAX_TEXT,
        &mut errors,
    );
    if !(half_hours(input.hours) && (0.5..=24.0).contains(&input.hours)) {
        errors.push(problem("hours", "family-training-hours", &[]));
    }
    let trainer = text("trainer", "trainer", &input.trainer, MAX_NAME, &mut errors);
    let attendees = family(
        "attendees",
        &input.attendees,
        Some(today),
        today,
        &mut errors,
    );
    if input.attendees.is_empty() {
        errors.push(problem("attendees", "family-attendees-missing", &[]));
    }
    match held_on {
        Some(held_on) if errors.is_empty() => Ok(Training {
            held_on,
            region,
            topic,
            hours: input.hours,
            trainer,
            attendees,
        }),
        _ => Err(errors),
    }
}

// ---------- respite (喘息服务) ----------

/// A respite episode as entered.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RespiteInput {
    /// The person cared for while the family rested.
    pub person_id: i64,
    /// `YYYY-MM-DD`, not in the future.
    pub from_date: String,
    /// `YYYY-MM-DD`, not before `from_date`, not in the future.
    pub to_date: String,
    /// Who provided the care (an institution, a site, a home-care service).
    pub provider: String,
    /// Hours of care, more than 0, in half hours, at most 24 a day.
    pub hours: f64,
    #[serde(default)]
    pub notes: String,
}

/// A checked respite episode.
#[derive(Debug, Clone, PartialEq)]
pub struct Respite {
    pub person_id: i64,
    pub from_date: NaiveDate,
    pub to_date: NaiveDate,
    pub provider: String,
    pub hours: f64,
    pub notes: Option<String>,
}

pub fn check_respite(input: &RespiteInput, today: NaiveDate) -> Result<Respite, Vec<FieldError>> {
    let mut errors = Vec::new();
    if input.person_id <= 0 {
        errors.push(problem("person_id", "family-person-missing", &[]));
    }
    let from = date(
        "from_date",
        "respite-from",
        &input.from_date,
        today,
        &mut errors,
    );
    let to = date("to_date", "respite-to", &input.to_date, today, &mut errors);
    if let (Some(f), Some(t)) = (from, to)
        && t < f
    {
        errors.push(problem(
            "to_date",
            "family-respite-order",
            &[("from", &f.to_string()), ("to", &t.to_string())],
        ));
    }
    let provider = text(
        "provider",
        "provider",
        &input.provider,
        MAX_TEXT,
        &mut errors,
    );
    // At most 24 hours a day of the span; when the dates are wrong, only the hours themselves.
    let days = match (from, to) {
        (Some(f), Some(t)) if t >= f => Some((t - f).num_days() + 1),
        _ => None,
    };
    let max = days.map_or(f64::INFINITY, |d| d as f64 * 24.0);
    if !(half_hours(input.hours) && input.hours > 0.0 && input.hours <= max) {
        let days = days.unwrap_or(1);
        errors.push(problem(
            "hours",
            "family-respite-hours",
            &[
                ("days", &days.to_string()),
                ("max", &format!("{}", days * 24)),
            ],
        ));
    }
    let notes = notes("notes", &input.notes, &mut errors);
    match (from, to) {
        (Some(from_date), Some(to_date)) if errors.is_empty() => Ok(Respite {
            person_id: input.person_id,
            from_date,
            to_date,
            provider,
            hours: input.hours,
            notes,
        }),
        _ => Err(errors),
    }
}

// ---------- mutual-aid groups (家属互助小组) ----------

/// A mutual-aid group as entered, with its first members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupInput {
    pub name: String,
    /// The township (9 digits) or village; default the recorder's own region.
    #[serde(default)]
    pub region: String,
    /// Who leads the group (a social worker, a family member).
    pub facilitator: String,
    /// `YYYY-MM-DD`, not in the future.
    pub started_on: String,
    /// The first members (each joins on the start unless `joined_on` says otherwise).
    #[serde(default)]
    pub members: Vec<FamilyMemberInput>,
}

/// A checked group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub region: String,
    pub facilitator: String,
    pub started_on: NaiveDate,
    pub members: Vec<FamilyMember>,
}

pub fn check_group(
    tree: &RegionTree,
    scope: &Scope,
    input: &GroupInput,
    today: NaiveDate,
) -> Result<Group, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = text("name", "group-name", &input.name, MAX_NAME, &mut errors);
    let region = region(tree, scope, &input.region, &mut errors);
    let facilitator = text(
        "facilitator",
        "facilitator",
        &input.facilitator,
        MAX_NAME,
        &mut errors,
    );
    let started_on = date(
        "started_on",
        "group-started",
        &input.started_on,
        today,
        &mut errors,
    );
    let members = family(
        "members",
        &input.members,
        started_on.or(Some(today)),
        today,
        &mut errors,
    );
    if let Some(s) = started_on {
        for (i, m) in members.iter().enumerate().filter(|(_, m)| m.joined_on < s) {
            errors.push(problem(
                "members",
                "family-member-before-start",
                &[
                    ("n", &(i + 1).to_string()),
                    ("date", &s.to_string()),
                    ("joined", &m.joined_on.to_string()),
                ],
            ));
        }
    }
    match started_on {
        Some(started_on) if errors.is_empty() => Ok(Group {
            name,
            region,
            facilitator,
            started_on,
            members,
        }),
        _ => Err(errors),
    }
}

/// A member leaving a group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeaveInput {
    pub member_id: i64,
    /// `YYYY-MM-DD`, default today.
    #[serde(default)]
    pub left_on: String,
}

/// Members joining and leaving a group, all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MembersInput {
    /// New members (`joined_on` default today).
    #[serde(default)]
    pub add: Vec<FamilyMemberInput>,
    #[serde(default)]
    pub leave: Vec<LeaveInput>,
}

/// A checked change of members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembersChange {
    pub add: Vec<FamilyMember>,
    /// (member id, left on).
    pub leave: Vec<(i64, NaiveDate)>,
}

pub fn check_members(
    input: &MembersInput,
    today: NaiveDate,
) -> Result<MembersChange, Vec<FieldError>> {
    let mut errors = Vec::new();
    if input.add.is_empty() && input.leave.is_empty() {
        errors.push(problem("add", "family-members-nothing", &[]));
    }
    let add = family("add", &input.add, Some(today), today, &mut errors);
    let mut leave = Vec::new();
    let mut seen = BTreeSet::new();
    if input.leave.len() > MAX_PEOPLE {
        errors.push(problem(
            "leave",
            "family-too-many",
            &[("max", &MAX_PEOPLE.to_string())],
        ));
    }
    for l in input.leave.iter().take(MAX_PEOPLE) {
        let on = match l.left_on.trim() {
            "" => Some(today),
            v => date("leave", "group-left", v, today, &mut errors),
        };
        if let Some(on) = on
            && seen.insert(l.member_id)
        {
            leave.push((l.member_id, on));
        }
    }
    if errors.is_empty() {
        Ok(MembersChange { add, leave })
    } else {
        Err(errors)
    }
}

/// A group meeting as entered: attendance once for all attending members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingInput {
    /// `YYYY-MM-DD`, not in the future, not before the group started.
    pub held_on: String,
    pub topic: String,
    /// The ids of the members who attended (see the group's `members`).
    pub attendees: Vec<i64>,
    #[serde(default)]
    pub notes: String,
}

/// A checked meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meeting {
    pub held_on: NaiveDate,
    pub topic: String,
    pub attendees: Vec<i64>,
    pub notes: Option<String>,
}

pub fn check_meeting(input: &MeetingInput, today: NaiveDate) -> Result<Meeting, Vec<FieldError>> {
    let mut errors = Vec::new();
    let held_on = date(
        "held_on",
        "meeting-date",
        &input.held_on,
        today,
        &mut errors,
    );
    let topic = text(
        "topic",
        "meeting-topic",
        &input.topic,
        MAX_TEXT,
        &mut errors,
    );
    let attendees: BTreeSet<i64> = input.attendees.iter().copied().collect();
    if attendees.is_empty() {
        errors.push(problem(
            "attendees",
            "family-meeting-attendees-missing",
            &[],
        ));
    } else if attendees.len() > MAX_PEOPLE {
        errors.push(problem(
            "attendees",
            "family-too-many",
            &[("max", &MAX_PEOPLE.to_string())],
        ));
    }
    let notes = notes("notes", &input.notes, &mut errors);
    match held_on {
        Some(held_on) if errors.is_empty() => Ok(Meeting {
            held_on,
            topic,
            attendees: attendees.into_iter().collect(),
            notes,
        }),
        _ => Err(errors),
    }
}

// ---------- peer supporters (同伴支持者) ----------

/// A peer supporter as entered.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerInput {
    pub name: String,
    /// The township (9 digits) or village; default the recorder's own region.
    #[serde(default)]
    pub region: String,
    /// The supporter's own record, when they are a recovered person of the registry.
    #[serde(default)]
    pub person_id: Option<i64>,
    /// `YYYY-MM-DD`: trained as a peer supporter on this day; not in the future.
    pub trained_on: String,
    /// `active` (在岗, the default) or `inactive` (停止).
    #[serde(default)]
    pub status: String,
    /// Hours of support given so far (default 0), in half hours.
    #[serde(default)]
    pub hours: f64,
}

/// A checked peer supporter.
#[derive(Debug, Clone, PartialEq)]
pub struct Peer {
    pub name: String,
    pub region: String,
    pub person_id: Option<i64>,
    pub trained_on: NaiveDate,
    pub status: PeerStatus,
    pub hours: f64,
}

fn peer_hours(field: &str, h: f64, errors: &mut Vec<FieldError>) {
    if !(half_hours(h) && (0.0..=MAX_PEER_HOURS).contains(&h)) {
        errors.push(problem(
            field,
            "family-peer-hours",
            &[("max", &format!("{MAX_PEER_HOURS}"))],
        ));
    }
}

fn status(
    v: &str,
    default: Option<PeerStatus>,
    errors: &mut Vec<FieldError>,
) -> Option<PeerStatus> {
    match (v.trim(), default) {
        ("", d) => d,
        (v, _) => {
            let s = PeerStatus::parse(v);
            if s.is_none() {
                errors.push(problem("status", "family-peer-status-invalid", &[]));
            }
            s
        }
    }
}

pub fn check_peer(
    tree: &RegionTree,
    scope: &Scope,
    input: &PeerInput,
    today: NaiveDate,
) -> Result<Peer, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = text("name", "peer-name", &input.name, MAX_NAME, &mut errors);
    let region = region(tree, scope, &input.region, &mut errors);
    let trained_on = date(
        "trained_on",
        "peer-trained",
        &input.trained_on,
        today,
        &mut errors,
    );
    let status = status(&input.status, Some(PeerStatus::Active), &mut errors);
    peer_hours("hours", input.hours, &mut errors);
    if input.person_id.is_some_and(|p| p <= 0) {
        errors.push(problem(
            "person_id",
            "family-persons-unknown",
            &[("n", "1")],
        ));
    }
    match (trained_on, status) {
        (Some(trained_on), Some(status)) if errors.is_empty() => Ok(Peer {
            name,
            region,
            person_id: input.person_id,
            trained_on,
            status,
            hours: input.hours,
        }),
        _ => Err(errors),
    }
}

/// A change to a peer supporter: hours of support to add, and/or a new status.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerUpdateInput {
    /// Hours of support given since the last entry (0 or more, in half hours).
    #[serde(default)]
    pub add_hours: f64,
    /// `active` or `inactive`; empty: unchanged.
    #[serde(default)]
    pub status: String,
}

/// A checked change to a peer supporter.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerUpdate {
    pub add_hours: f64,
    pub status: Option<PeerStatus>,
}

pub fn check_peer_update(input: &PeerUpdateInput) -> Result<PeerUpdate, Vec<FieldError>> {
    let mut errors = Vec::new();
    peer_hours("add_hours", input.add_hours, &mut errors);
    let status = status(&input.status, None, &mut errors);
    if errors.is_empty() && input.add_hours == 0.0 && status.is_none() {
        errors.push(problem("add_hours", "family-peer-nothing", &[]));
    }
    if errors.is_empty() {
        Ok(PeerUpdate {
            add_hours: input.add_hours,
            status,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> RegionTree {
        let all = crate::regions::embedded_regions().unwrap();
        RegionTree::new(
            all.into_iter()
                .filter(|r| r.code.starts_with("500110"))
                .collect(),
        )
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    fn member(person_id: i64, name: &str, relation: &str) -> FamilyMemberInput {
        FamilyMemberInput {
            person_id,
            name: name.into(),
            relation: relation.into(),
            joined_on: String::new(),
        }
    }

    #[test]
    fn relations_and_statuses_by_code_or_label() {
        assert_eq!(Relation::parse("父母"), Some(Relation::Parent));
        assert_eq!(Relation::parse("sibling"), Some(Relation::Sibling));
        assert_eq!(Relation::parse("表哥"), None);
        assert_eq!(Relation::guess("母亲"), Some(Relation::Parent));
        assert_eq!(Relation::guess("妻子"), Some(Relation::Spouse));
        assert_eq!(Relation::guess("儿子"), Some(Relation::Child));
        assert_eq!(Relation::guess("姐姐"), Some(Relation::Sibling));
        assert_eq!(Relation::guess("邻居"), Some(Relation::Other));
        assert_eq!(Relation::guess(" "), None);
        assert_eq!(PeerStatus::parse("停止"), Some(PeerStatus::Inactive));
    }

    #[test]
    fn a_training_is_checked_field_by_field() {
        let tree = tree();
        let county = crate::regions::Scope::of(tree.get("500110").unwrap());
        let town = tree.children("500110").next().unwrap().code.clone();
        let ok = TrainingInput {
            held_on: "2026-11-20".into(),
            region: town.clone(),
            topic: "照护技能".into(),
            hours: 1.5,
            trainer: "王医生".into(),
            attendees: vec![
                member(1, "张母", "父母"),
                member(2, "李妻", "spouse"),
                member(1, "张母", "parent"),
            ],
        };
        let t = check_training(&tree, &county, &ok, today()).unwrap();
        assert_eq!(
            t.attendees.len(),
            2,
            "the same family member given twice attends once"
        );
        assert_eq!(
            (t.region.as_str(), t.attendees[0].relation),
            (town.as_str(), Relation::Parent)
        );
        let bad = TrainingInput {
            held_on: "2026-11-24".into(),
            region: "500111001".into(),
            topic: " ".into(),
            hours: 1.25,
            trainer: String::new(),
            attendees: vec![member(1, "", "表哥")],
        };
        let e = check_training(&tree, &county, &bad, today()).unwrap_err();
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "held_on",
                "region",
                "topic",
                "hours",
                "trainer",
                "attendees",
                "attendees"
            ]
        );
        assert!(
            e[0].message.contains("培训日期") && e[0].message.contains("2026-11-24"),
            "{e:?}"
        );
        assert!(e[2].message.contains("培训主题"), "{e:?}");
        assert!(e[5].message.contains("第 1 位"), "{e:?}");
        let none = TrainingInput {
            attendees: vec![],
            hours: 25.0,
            ..ok.clone()
        };
        let e = check_training(&tree, &county, &none, today()).unwrap_err();
        assert_eq!(
            e.iter().map(|e| e.code.as_str()).collect::<Vec<_>>(),
            ["family-training-hours", "family-attendees-missing"]
        );
        // The county user must choose a township; a township user's own is the default.
        let e = check_training(
            &tree,
            &county,
            &TrainingInput {
                region: String::new(),
                ..ok.clone()
            },
            today(),
        )
        .unwrap_err();
        assert_eq!(e[0].code, "family-region-missing");
        let mine = crate::regions::Scope::of(tree.get(&town).unwrap());
        assert_eq!(
            check_training(
                &tree,
                &mine,
                &TrainingInput {
                    region: String::new(),
                    ..ok
                },
                today()
            )
            .unwrap()
            .region,
            town
        );
    }

    #[test]
    fn respite_dates_and_hours() {
        let ok = RespiteInput {
            person_id: 7,
            from_date: "2026-11-01".into(),
            to_date: "2026-11-03".into(),
            provider: "万盛敬老院".into(),
            hours: 72.0,
            notes: " ".into(),
        };
        let r = check_respite(&ok, today()).unwrap();
        assert_eq!((r.hours, r.notes), (72.0, None));
        let e = check_respite(
            &RespiteInput {
                hours: 72.5,
                ..ok.clone()
            },
            today(),
        )
        .unwrap_err();
        assert!(
            e[0].field == "hours" && e[0].message.contains("3 天"),
            "{e:?}"
        );
        let e = check_respite(
            &RespiteInput {
                to_date: "2026-10-31".into(),
                hours: 0.0,
                provider: String::new(),
                ..ok.clone()
            },
            today(),
        )
        .unwrap_err();
        assert_eq!(
            e.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            ["to_date", "provider", "hours"]
        );
        let e = check_respite(
            &RespiteInput {
                person_id: 0,
                from_date: "11/01/2026".into(),
                to_date: "2026-12-01".into(),
                ..ok
            },
            today(),
        )
        .unwrap_err();
        assert_eq!(
            e.iter().map(|e| e.code.as_str()).collect::<Vec<_>>(),
            [
                "family-person-missing",
                "family-date-invalid",
                "family-date-future"
            ]
        );
    }

    #[test]
    fn groups_members_meetings_and_peers() {
        let tree = tree();
        let town = tree.children("500110").next().unwrap().code.clone();
        let scope = crate::regions::Scope::of(tree.get(&town).unwrap());
        let g = GroupInput {
            name: "阳光家属小组".into(),
            region: String::new(),
            facilitator: "李社工".into(),
            started_on: "2026-03-01".into(),
            members: vec![
                member(1, "张母", "parent"),
                FamilyMemberInput {
                    joined_on: "2026-02-01".into(),
                    ..member(2, "李妻", "spouse")
                },
            ],
        };
        let e = check_group(&tree, &scope, &g, today()).unwrap_err();
        assert_eq!(e[0].code, "family-member-before-start");
        let g = GroupInput {
            members: vec![member(1, "张母", "parent")],
            ..g
        };
        let ok = check_group(&tree, &scope, &g, today()).unwrap();
        assert_eq!(
            (ok.region.as_str(), ok.members[0].joined_on),
            (town.as_str(), NaiveDate::from_ymd_opt(2026, 3, 1).unwrap())
        );
        assert_eq!(
            check_members(&MembersInput::default(), today()).unwrap_err()[0].code,
            "family-members-nothing"
        );
        let m = check_members(
            &MembersInput {
                add: vec![member(3, "王父", "父母")],
                leave: vec![LeaveInput {
                    member_id: 9,
                    left_on: String::new(),
                }],
            },
            today(),
        )
        .unwrap();
        assert_eq!((m.add[0].joined_on, m.leave[0]), (today(), (9, today())));
        let e = check_meeting(
            &MeetingInput {
                held_on: "2026-11-23".into(),
                topic: String::new(),
                attendees: vec![],
                notes: String::new(),
            },
            today(),
        )
        .unwrap_err();
        assert_eq!(
            e.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            ["topic", "attendees"]
        );
        let p = PeerInput {
            name: "周康复".into(),
            region: String::new(),
            person_id: Some(4),
            trained_on: "2026-01-10".into(),
            status: String::new(),
            hours: 0.0,
        };
        assert_eq!(
            check_peer(&tree, &scope, &p, today()).unwrap().status,
            PeerStatus::Active
        );
        let e = check_peer(
            &tree,
            &scope,
            &PeerInput {
                status: "busy".into(),
                hours: -1.0,
                ..p
            },
            today(),
        )
        .unwrap_err();
        assert_eq!(
            e.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            ["status", "hours"]
        );
        assert_eq!(
            check_peer_update(&PeerUpdateInput::default()).unwrap_err()[0].code,
            "family-peer-nothing"
        );
        assert_eq!(
            check_peer_update(&PeerUpdateInput {
                add_hours: 2.5,
                status: "inactive".into()
            })
            .unwrap()
            .status,
            Some(PeerStatus::Inactive)
        );
    }
}
