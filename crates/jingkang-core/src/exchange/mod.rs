//! Information exchange (信息比对, SPEC §8): a department's list compared with the registry of a
//! county. Pure: the caller loads the registry in its scope ([`Ours`]) and the list ([`ListRow`]),
//! [`compare`] classifies, and `records` keeps the list as a dated snapshot and the items for
//! a user to resolve. Nothing here changes the registry.
//!
//! Matching: exact on the canonical ID number first; the rest through the linkage engine
//! ([`crate::link`], Fellegi–Sunter with EM) over ID, name, sex, birth date, address and phone, one to
//! one, best score first. The model is fitted on every person of both lists, so the pairs the ID
//! settles teach it what a match looks like even when few are left to link.

pub mod census;
pub mod list;
pub mod records;
pub mod run;

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::link::{self, Table};
pub use list::{ListRead, ListRow, Mapping, read_list};

static SOURCES: &str = include_str!("../../data/exchange.toml");
static LINKAGE: &str = include_str!("../../data/linkage_zh.toml");

/// Which registry persons a department should list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// Every person not closed.
    Active,
    /// Persons marked 低保 or 特困.
    Allowance,
    /// Persons with a disability certificate.
    Certificate,
}

/// A field compared for a person on both lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    IdNumber,
    Address,
    Guardian,
    Death,
    Grade,
    Certificate,
    Allowance,
}

impl Check {
    pub fn label_zh(self) -> &'static str {
        match self {
            Check::IdNumber => "身份证号",
            Check::Address => "地址",
            Check::Guardian => "监护人",
            Check::Death => "死亡",
            Check::Grade => "残疾等级",
            Check::Certificate => "残疾证号",
            Check::Allowance => "低保/特困",
        }
    }
    /// The record field the check compares, for the field table (`accounts::policy`).
    pub fn field(self) -> &'static str {
        match self {
            Check::IdNumber => "id_number",
            Check::Address => "residence_address",
            Check::Guardian => "guardian1.name",
            Check::Death => "died",
            Check::Grade => "disability_grade",
            Check::Certificate => "disability_certificate",
            Check::Allowance => "subsistence_allowance",
        }
    }
}

/// A department whose lists are compared (data/exchange.toml).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub code: String,
    pub label: String,
    pub names: Vec<String>,
    pub expect: Expect,
    pub report_theirs: bool,
    pub compare: Vec<Check>,
}

#[derive(Deserialize)]
struct SourceFile {
    source: Vec<Source>,
}

static SHIPPED: LazyLock<Vec<Source>> = LazyLock::new(|| {
    toml::from_str::<SourceFile>(SOURCES)
        .expect("data/exchange.toml is checked by a test")
        .source
});

/// The shipped departments.
pub fn sources() -> &'static [Source] {
    &SHIPPED
}

/// A department by code or by one of its names (`gongan`, `公安`, `police`).
pub fn source(name: &str) -> Option<&'static Source> {
    let name = name.trim();
    sources()
        .iter()
        .find(|s| s.code == name || s.names.iter().any(|n| n == name))
}

/// What a run compared, for people: the department's name, or 年度联合普查.
pub fn run_label(kind: &str) -> String {
    if kind == records::CENSUS {
        return "年度联合普查".to_string();
    }
    source(kind).map_or_else(|| kind.to_string(), |s| s.label.clone())
}

/// The linkage configuration department lists are matched with (data/linkage_zh.toml).
pub fn linkage_config() -> &'static link::Config {
    static CONFIG: LazyLock<link::Config> = LazyLock::new(|| {
        link::Config::parse(LINKAGE, "linkage_zh.toml")
            .expect("data/linkage_zh.toml is checked by a test")
    });
    &CONFIG
}

/// A registry person as the comparison sees them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ours {
    pub person: i64,
    pub id_number: String,
    pub name: String,
    /// `male` / `female`.
    pub sex: String,
    pub birth_date: Option<NaiveDate>,
    pub residence_address: Option<String>,
    pub household_address: Option<String>,
    pub phone: Option<String>,
    pub guardian: Option<String>,
    pub certificate: Option<String>,
    pub grade: Option<i64>,
    /// 低保 or 特困.
    pub allowance: bool,
    /// Not closed.
    pub active: bool,
    /// Closed because the person died.
    pub died: bool,
}

/// The discrepancy classes of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// On their list, not in the registry.
    TheirsOnly,
    /// In the registry, not on their list.
    OursOnly,
    /// On both, with fields that disagree.
    Conflict,
    /// Two registry persons who are probably one.
    Duplicate,
}

impl Class {
    pub const ALL: [Class; 4] = [
        Class::TheirsOnly,
        Class::OursOnly,
        Class::Conflict,
        Class::Duplicate,
    ];
    pub fn code(self) -> &'static str {
        match self {
            Class::TheirsOnly => "theirs_only",
            Class::OursOnly => "ours_only",
            Class::Conflict => "conflict",
            Class::Duplicate => "duplicate",
        }
    }
    pub fn from_code(code: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|c| c.code() == code)
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            Class::TheirsOnly => "对方有、本库无",
            Class::OursOnly => "本库有、对方无",
            Class::Conflict => "信息不一致",
            Class::Duplicate => "本库疑似重复",
        }
    }
}

/// A field that disagrees: our value and theirs, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub check: Check,
    pub ours: Option<String>,
    pub theirs: Option<String>,
    /// The department whose list says `theirs` (a census compares several).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// How two records were matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    IdNumber,
    Linkage,
}

/// A field the linkage compared: (column, level, weight; `None` when a value was missing).
pub type FieldLevel = (String, String, Option<f64>);

/// One discrepancy for a user to resolve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub class: Class,
    /// The registry person (for a duplicate, the first of the two).
    pub person: Option<i64>,
    /// The second registry person of a duplicate.
    pub other: Option<i64>,
    /// Index of their row in the list given to [`compare`].
    pub row: Option<usize>,
    pub matched_by: Option<MatchedBy>,
    /// The linkage's match probability.
    pub score: Option<f64>,
    /// Per field compared by the linkage: (column, level, weight).
    pub fields: Vec<FieldLevel>,
    pub conflicts: Vec<Conflict>,
    /// Their ID number is registered in a region outside the scope: a transfer, not a new person.
    pub elsewhere: bool,
    /// In a census: every row of every list that is this person.
    pub seen: Vec<Sighting>,
    /// In a census: the departments that should list this registry person and do not.
    pub missing_from: Vec<String>,
}

/// A row of a department's list found to be the item's person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sighting {
    /// The department's code.
    pub source: String,
    /// Index of the row among the rows of all lists, in order.
    pub row: usize,
    /// How the row was tied to the person (`None`: the first row of a person not in the registry).
    pub matched_by: Option<MatchedBy>,
    pub score: Option<f64>,
}

impl Item {
    fn new(class: Class) -> Item {
        Item {
            class,
            person: None,
            other: None,
            row: None,
            matched_by: None,
            score: None,
            fields: Vec::new(),
            conflicts: Vec::new(),
            elsewhere: false,
            seen: Vec::new(),
            missing_from: Vec::new(),
        }
    }
}

/// What a comparison found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Comparison {
    pub items: Vec<Item>,
    pub matched_by_id: u64,
    pub matched_by_linkage: u64,
    /// Persons on both lists whose compared fields all agree.
    pub agreeing: u64,
    /// Candidate pairs the linkage compared.
    pub compared: u64,
}

impl Comparison {
    pub fn count(&self, class: Class) -> u64 {
        self.items.iter().filter(|i| i.class == class).count() as u64
    }
}

const C_ID: &str = "身份证号";
const C_NAME: &str = "姓名";
const C_SEX: &str = "性别";
const C_BIRTH: &str = "出生日期";
const C_ADDRESS: &str = "地址";
const C_PHONE: &str = "电话";

fn sex_label(code: &str) -> Option<String> {
    match code {
        "male" => Some("男".into()),
        "female" => Some("女".into()),
        _ => None,
    }
}

fn table(name: &str, rows: Vec<(String, [Option<String>; 6])>) -> Table {
    let mut t = Table {
        name: name.to_string(),
        ..Default::default()
    };
    let cols = [C_ID, C_NAME, C_SEX, C_BIRTH, C_ADDRESS, C_PHONE];
    let mut columns: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(rows.len()); cols.len()];
    for (id, values) in rows {
        t.ids.push(id);
        for (c, v) in columns.iter_mut().zip(values) {
            c.push(v);
        }
    }
    t.columns = cols.iter().map(|c| c.to_string()).zip(columns).collect();
    t
}

fn our_table(ours: &[Ours]) -> Table {
    table(
        "registry",
        ours.iter()
            .enumerate()
            .map(|(i, o)| {
                (
                    i.to_string(),
                    [
                        Some(o.id_number.clone()),
                        Some(o.name.clone()),
                        sex_label(&o.sex),
                        o.birth_date.map(|d| d.to_string()),
                        o.residence_address
                            .clone()
                            .or_else(|| o.household_address.clone()),
                        o.phone.clone(),
                    ],
                )
            })
            .collect(),
    )
}

fn their_table(theirs: &[ListRow]) -> Table {
    rows_table(theirs.iter().enumerate())
}

/// A table of list rows, each with its index as id.
fn rows_table<'r>(rows: impl Iterator<Item = (usize, &'r ListRow)>) -> Table {
    table(
        "list",
        rows.map(|(i, r)| {
            (
                i.to_string(),
                [
                    r.id_number.clone(),
                    Some(r.name.clone()),
                    r.sex.map(|s| s.label_zh().to_string()),
                    r.birth_date.map(|d| d.to_string()),
                    r.address.clone(),
                    r.phone.clone(),
                ],
            )
        })
        .collect(),
    )
}

fn explain(s: &link::Scored) -> Vec<FieldLevel> {
    s.fields
        .iter()
        .map(|(c, l, w)| (c.clone(), (*l).to_string(), *w))
        .collect()
}

/// Share of their address's parts found in ours (one of the two may be the longer).
fn address_agrees(ours: &str, theirs: &str) -> bool {
    let (a, b) = (link::compare::tokens(ours), link::compare::tokens(theirs));
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    if short.is_empty() {
        return true;
    }
    let common = short
        .iter()
        .filter(|t| long.binary_search(t).is_ok())
        .count();
    common * 2 >= short.len()
}

fn same_text(a: &str, b: &str) -> bool {
    let fold = |s: &str| -> String {
        s.chars()
            .map(crate::domain::fold_width)
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect()
    };
    fold(a) == fold(b)
}

/// The fields of a matched pair that disagree, as the source compares them.
pub fn conflicts(source: &Source, o: &Ours, r: &ListRow, by: MatchedBy) -> Vec<Conflict> {
    let mut out = Vec::new();
    let mut add = |check, ours: Option<String>, theirs: Option<String>| {
        out.push(Conflict {
            check,
            ours,
            theirs,
            source: None,
        })
    };
    for check in &source.compare {
        match check {
            Check::IdNumber => {
                if by == MatchedBy::Linkage
                    && let Some(id) = &r.id_number
                    && *id != o.id_number
                {
                    add(*check, Some(o.id_number.clone()), Some(id.clone()));
                }
            }
            Check::Address => {
                if let Some(theirs) = &r.address {
                    let known: Vec<&String> = [&o.residence_address, &o.household_address]
                        .into_iter()
                        .flatten()
                        .collect();
                    if !known.is_empty() && !known.iter().any(|a| address_agrees(a, theirs)) {
                        add(
                            *check,
                            known.first().map(|a| a.to_string()),
                            Some(theirs.clone()),
                        );
                    }
                }
            }
            Check::Guardian => {
                if let (Some(a), Some(b)) = (&o.guardian, &r.guardian)
                    && !same_text(a, b)
                {
                    add(*check, Some(a.clone()), Some(b.clone()));
                }
            }
            Check::Death => {
                if o.died != r.died {
                    let say = |died: bool| Some(if died { "死亡" } else { "在世" }.to_string());
                    let theirs = match (r.died, r.died_on) {
                        (true, Some(d)) => Some(format!("死亡（{d}）")),
                        (died, _) => say(died),
                    };
                    add(*check, say(o.died), theirs);
                }
            }
            Check::Grade => {
                if let Some(g) = r.grade
                    && o.grade != Some(i64::from(g))
                {
                    let label = |n: i64| {
                        crate::domain::DisabilityGrade::from_number(n as u8)
                            .map(|g| g.label_zh().to_string())
                    };
                    add(*check, o.grade.and_then(label), label(i64::from(g)));
                }
            }
            Check::Certificate => {
                if let Some(c) = &r.certificate
                    && !o
                        .certificate
                        .as_deref()
                        .is_some_and(|ours| same_text(ours, c))
                {
                    add(*check, o.certificate.clone(), Some(c.clone()));
                }
            }
            Check::Allowance => {
                if !o.allowance {
                    add(
                        *check,
                        Some("未享受".to_string()),
                        Some(r.category.clone().unwrap_or_else(|| "享受".to_string())),
                    );
                }
            }
        }
    }
    out
}

fn expected(source: &Source, o: &Ours) -> bool {
    o.active
        && match source.expect {
            Expect::Active => true,
            Expect::Allowance => o.allowance,
            Expect::Certificate => o.certificate.is_some(),
        }
}

/// The one-to-one matches of a list's rows with registry persons.
struct Matched {
    /// Per registry person: their row, how matched, the linkage's score.
    our_match: Vec<Option<(usize, MatchedBy, Option<f64>)>>,
    /// Per row: the registry person.
    their_match: Vec<Option<usize>>,
    /// The linkage's explanation of the pairs it matched.
    explained: HashMap<(usize, usize), Vec<FieldLevel>>,
}

/// Match rows with registry persons: exact on the canonical ID number first, then the linkage,
/// one to one, best first; counted in `out`.
fn match_rows(ours: &[Ours], theirs: &[ListRow], out: &mut Comparison) -> Matched {
    let mut our_match: Vec<Option<(usize, MatchedBy, Option<f64>)>> = vec![None; ours.len()];
    let mut their_match: Vec<Option<usize>> = vec![None; theirs.len()];
    let mut explained: HashMap<(usize, usize), Vec<FieldLevel>> = HashMap::new();

    let by_id: HashMap<&str, usize> = ours
        .iter()
        .enumerate()
        .map(|(i, o)| (o.id_number.as_str(), i))
        .collect();
    for (j, r) in theirs.iter().enumerate() {
        if r.id_valid
            && let Some(&i) = r.id_number.as_deref().and_then(|id| by_id.get(id))
            && our_match[i].is_none()
        {
            our_match[i] = Some((j, MatchedBy::IdNumber, None));
            their_match[j] = Some(i);
            out.matched_by_id += 1;
        }
    }

    let open_ours = our_match.iter().any(Option::is_none);
    let open_theirs = their_match.iter().any(Option::is_none);
    if open_ours && open_theirs {
        // Fitted on everyone: the pairs the ID settled teach the model what a match looks like.
        let outcome = link::run(
            linkage_config(),
            &our_table(ours),
            Some(&their_table(theirs)),
        );
        out.compared += outcome.compared;
        // Best first: `outcome.pairs` is sorted by score.
        for s in &outcome.pairs {
            let (Ok(i), Ok(j)) = (s.left.parse::<usize>(), s.right.parse::<usize>()) else {
                continue;
            };
            if our_match[i].is_some() || their_match[j].is_some() {
                continue;
            }
            our_match[i] = Some((j, MatchedBy::Linkage, Some(s.score)));
            their_match[j] = Some(i);
            explained.insert((i, j), explain(s));
            out.matched_by_linkage += 1;
        }
    }
    Matched {
        our_match,
        their_match,
        explained,
    }
}

/// The registry person each row is (by ID number, then by the linkage engine; one to one), with
/// how it was matched and the linkage's score.
///
/// A handful of rows (one Patient sent from a hospital) is too few for EM to learn from; a row it
/// leaves unlinked is then still linked when exactly one free registry person has the same name,
/// birth date and sex and no other ID number is given — in a county, that is the same person.
pub fn link_rows(ours: &[Ours], rows: &[ListRow]) -> Vec<Option<(i64, MatchedBy, Option<f64>)>> {
    let m = match_rows(ours, rows, &mut Comparison::default());
    let mut out = vec![None; rows.len()];
    let mut taken = vec![false; ours.len()];
    for (i, found) in m.our_match.iter().enumerate() {
        if let Some((j, by, score)) = found {
            out[*j] = Some((ours[i].person, *by, *score));
            taken[i] = true;
        }
    }
    for (j, r) in rows.iter().enumerate() {
        if out[j].is_some() || r.id_valid || r.birth_date.is_none() || r.name.trim().is_empty() {
            continue;
        }
        let same: Vec<usize> = (0..ours.len())
            .filter(|&i| {
                let o = &ours[i];
                !taken[i]
                    && o.name == r.name.trim()
                    && o.birth_date == r.birth_date
                    && r.sex.is_none_or(|s| s.code() == o.sex)
            })
            .collect();
        if let [i] = same[..] {
            out[j] = Some((ours[i].person, MatchedBy::Linkage, None));
            taken[i] = true;
        }
    }
    out
}

/// Compare a department's list with the registry of a scope. `elsewhere` holds the canonical ID
/// numbers of their list registered outside the scope.
pub fn compare(
    source: &Source,
    ours: &[Ours],
    theirs: &[ListRow],
    elsewhere: &HashSet<String>,
) -> Comparison {
    let mut out = Comparison::default();
    let Matched {
        our_match,
        their_match,
        mut explained,
    } = match_rows(ours, theirs, &mut out);

    for (i, o) in ours.iter().enumerate() {
        match our_match[i] {
            Some((j, by, score)) => {
                let found = conflicts(source, o, &theirs[j], by);
                if found.is_empty() {
                    out.agreeing += 1;
                    continue;
                }
                out.items.push(Item {
                    person: Some(o.person),
                    row: Some(j),
                    matched_by: Some(by),
                    score,
                    fields: explained.remove(&(i, j)).unwrap_or_default(),
                    conflicts: found,
                    ..Item::new(Class::Conflict)
                });
            }
            None if expected(source, o) => out.items.push(Item {
                person: Some(o.person),
                ..Item::new(Class::OursOnly)
            }),
            None => {}
        }
    }
    for (j, r) in theirs.iter().enumerate() {
        if their_match[j].is_some() {
            continue;
        }
        let far = r.id_valid
            && r.id_number
                .as_ref()
                .is_some_and(|id| elsewhere.contains(id));
        if source.report_theirs || far {
            out.items.push(Item {
                row: Some(j),
                elsewhere: far,
                ..Item::new(Class::TheirsOnly)
            });
        }
    }
    out.items.extend(duplicates(ours));
    out
}

/// Whether a pair the model judges one person is one a user can act on. Inside one registry every
/// ID number differs, so the ID's birth-date part and the birth date agree together for any two
/// persons born the same day in the county, and EM (with hardly a true pair to learn from) takes
/// that for a match. The same person twice has the name agreeing (or sounding the same, or
/// swapped) and something personal beyond the birth date agreeing too — the ID number but for one
/// character, the address, or the phone. Between the rows of different lists (a census),
/// `birth_counts`: there an exact birth date beside the name is the same person too.
fn one_person(s: &link::Scored, birth_counts: bool) -> bool {
    let level = |column: &str| {
        s.fields
            .iter()
            .find(|(c, _, _)| c == column)
            .map_or("missing", |(_, l, _)| *l)
    };
    matches!(level(C_NAME), "exact" | "same_sound" | "swapped")
        && (matches!(level(C_ID), "one_char" | "exact")
            || (birth_counts && level(C_BIRTH) == "exact")
            || matches!(level(C_ADDRESS), "most" | "exact")
            || matches!(level(C_PHONE), "last_eight" | "exact"))
}

/// Pairs of registry persons the linkage judges one person (their ID numbers differ: the registry
/// holds each once), kept when [`one_person`].
pub fn duplicates(ours: &[Ours]) -> Vec<Item> {
    if ours.len() < 2 {
        return Vec::new();
    }
    let outcome = link::run(linkage_config(), &our_table(ours), None);
    outcome
        .pairs
        .iter()
        .filter(|s| one_person(s, false))
        .filter_map(|s| {
            let (i, j) = (
                s.left.parse::<usize>().ok()?,
                s.right.parse::<usize>().ok()?,
            );
            let (a, b) = if ours[i].person <= ours[j].person {
                (i, j)
            } else {
                (j, i)
            };
            Some(Item {
                person: Some(ours[a].person),
                other: Some(ours[b].person),
                matched_by: Some(MatchedBy::Linkage),
                score: Some(s.score),
                fields: explain(s),
                ..Item::new(Class::Duplicate)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_sources_and_linkage_parse() {
        assert_eq!(sources().len(), 4);
        for (name, code) in [
            ("gongan", "police"),
            ("公安", "police"),
            ("police", "police"),
            ("minzheng", "civil_affairs"),
            ("canlian", "disability_federation"),
            ("weijian", "health"),
        ] {
            assert_eq!(source(name).map(|s| s.code.as_str()), Some(code), "{name}");
        }
        assert!(source("tax").is_none());
        let c = linkage_config();
        for col in [C_ID, C_NAME, C_SEX, C_BIRTH, C_ADDRESS, C_PHONE] {
            assert!(c.fields.iter().any(|f| f.column == col), "{col}");
        }
    }

    #[test]
    fn addresses_agree_on_most_parts() {
        assert!(address_agrees(
            "重庆市万盛经开区万东镇新田村3组12号",
            "万东镇新田村3组12号"
        ));
        assert!(!address_agrees(
            "重庆市万盛经开区万东镇新田村3组12号",
            "南桐镇红岩社区8栋2单元"
        ));
    }
}
