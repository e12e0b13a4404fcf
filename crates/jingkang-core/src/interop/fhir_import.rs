//! FHIR R4 import (docs/fhir.md): the Patients of a Bundle linked to a county's registry through
//! the linkage engine, and the persons it does not know created through the form entry's rules.
//!
//! The Bundle is read strictly first (fhirkit, R4 4.0.1): any error-level problem refuses the file
//! with where it is. Each Patient becomes a row as a department's list would have it (ID number of
//! the configured system, name, sex, birth date, address, phone, guardian) and is linked as a list
//! row is — exact on the ID number, then probabilistically — to a registry person of the county.
//! A Patient no one is found for is registered (待评估) in the township its address names. Any
//! Patient that can be neither linked nor registered refuses the whole import: nothing is written
//! unless everything can be.

use std::path::Path;

use chrono::NaiveDate;
use serde_json::Value;

use super::fhir::systems;
use crate::domain::{IdNumber, Sex};
use crate::exchange::records as exchange;
use crate::exchange::{ListRow, MatchedBy, link_rows};
use crate::import::roster;
use crate::messages::render;
use crate::regions::{Region, RegionTree, Scope};
use crate::store::audit::{self, Target};
use crate::store::{Actor, Db, open_change_set, persons};

/// An import to run.
pub struct FhirImport<'a> {
    pub county: &'a Region,
    pub path: &'a Path,
    /// Check and report, write nothing.
    pub dry_run: bool,
    pub actor: &'a Actor,
    pub today: NaiveDate,
}

/// What became of one Patient.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PatientOutcome {
    /// Its place in the Bundle (entry index, from 0).
    pub entry: usize,
    /// The registry person it is (or was made).
    pub person: Option<i64>,
    /// `id_number` / `linkage` when linked, `created` when registered.
    pub how: &'static str,
    pub score: Option<f64>,
}

/// What an import did (or would do, dry).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct FhirImportReport {
    pub patients: usize,
    pub linked: usize,
    pub created: usize,
    pub outcomes: Vec<PatientOutcome>,
}

/// Why nothing was imported: each problem with where it is (in Chinese).
#[derive(Debug)]
pub enum FhirImportError {
    /// Not readable as a FHIR R4 Bundle, or Patients that can be neither linked nor registered.
    Invalid(Vec<String>),
    Db(anyhow::Error),
}

impl From<anyhow::Error> for FhirImportError {
    fn from(e: anyhow::Error) -> Self {
        FhirImportError::Db(e)
    }
}

impl FhirImportError {
    pub fn message_zh(&self) -> String {
        match self {
            FhirImportError::Invalid(problems) => render(
                "fhir-import-invalid",
                &[
                    ("n", &problems.len().to_string()),
                    (
                        "problems",
                        &problems
                            .iter()
                            .take(20)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join("\n"),
                    ),
                ],
            ),
            FhirImportError::Db(_) => render("internal-error", &[]),
        }
    }
}

/// A validation problem of the library in Chinese, with its path.
fn problem_zh(issue: &fhirkit::Issue) -> String {
    let m = issue.message.as_str();
    let what = if m.starts_with("required element missing") {
        "缺少必填项".to_string()
    } else if m.starts_with("unknown element") {
        "不是 R4 定义的元素".to_string()
    } else if m.contains("only one type") {
        "同一项给了多种类型".to_string()
    } else {
        format!("不符合 R4 规范（{m}）")
    };
    render(
        "fhir-import-problem",
        &[("path", &issue.path), ("what", &what)],
    )
}

fn text_of(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A Patient's name: its text, or family and given names joined as Chinese names are written.
fn name_of(p: &Value) -> Option<String> {
    let names = p["name"].as_array()?;
    let n = names
        .iter()
        .find(|n| n["use"] == "official")
        .or(names.first())?;
    text_of(&n["text"]).or_else(|| {
        let family = text_of(&n["family"]).unwrap_or_default();
        let given: String = n["given"]
            .as_array()
            .map(|g| g.iter().filter_map(text_of).collect())
            .unwrap_or_default();
        Some(format!("{family}{given}")).filter(|s| !s.is_empty())
    })
}

/// The township an address names among the county's: its first line, or a township name in it.
fn township_of(tree: &RegionTree, county: &Region, address: &Value) -> Option<String> {
    let townships = tree.townships_under(&county.code);
    let line = address["line"]
        .as_array()
        .and_then(|l| l.first())
        .and_then(text_of);
    if let Some(l) = &line
        && townships.iter().any(|t| t.name == *l)
    {
        return line;
    }
    let text = text_of(&address["text"]).unwrap_or_default();
    townships
        .iter()
        .find(|t| text.contains(&t.name))
        .map(|t| t.name.clone())
        .or(line)
}

/// A Patient as a list row (`row`: its entry index + 1), and the township its address names.
fn row_of(
    tree: &RegionTree,
    county: &Region,
    entry: usize,
    p: &Value,
    today: NaiveDate,
) -> ListRow {
    let s = systems();
    let id_text = p["identifier"].as_array().and_then(|ids| {
        ids.iter()
            .find(|i| i["system"] == s.id_number_system.as_str())
            .and_then(|i| text_of(&i["value"]))
    });
    let id = id_text
        .as_deref()
        .and_then(|t| IdNumber::parse_as_of(t, today).ok());
    let address = p["address"].as_array().and_then(|a| a.first());
    let phone = p["telecom"].as_array().and_then(|t| {
        t.iter()
            .find(|c| c["system"] == "phone")
            .and_then(|c| text_of(&c["value"]))
    });
    ListRow {
        row: entry as u32 + 1,
        name: name_of(p).unwrap_or_default(),
        id_valid: id.is_some(),
        id_number: id.map(|i| i.as_str().to_string()).or(id_text),
        sex: match p["gender"].as_str() {
            Some("male") => Some(Sex::Male),
            Some("female") => Some(Sex::Female),
            _ => None,
        },
        birth_date: p["birthDate"].as_str().and_then(|d| d.parse().ok()),
        address: address.and_then(|a| {
            text_of(&a["text"]).or_else(|| {
                a["line"]
                    .as_array()
                    .map(|l| l.iter().filter_map(text_of).collect::<String>())
            })
        }),
        phone,
        guardian: p["contact"]
            .as_array()
            .and_then(|c| c.first())
            .and_then(|c| text_of(&c["name"]["text"])),
        township: address.and_then(|a| township_of(tree, county, a)),
        died: p["deceasedBoolean"] == true,
        ..Default::default()
    }
}

/// The Bundle's entries, one at a time, as the file is read: the Bundle never stands whole in
/// memory (a county's Bundle is half a gigabyte).
struct Entries<'f>(&'f mut dyn FnMut(Value));

impl<'de> serde::de::DeserializeSeed<'de> for Entries<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Entries<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of Bundle entries")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(entry) = seq.next_element::<Value>()? {
            (self.0)(entry);
        }
        Ok(())
    }
}

/// The Bundle's members but its entries, which go to the callback.
struct Top<'f>(&'f mut dyn FnMut(Value));

impl<'de> serde::de::Visitor<'de> for Top<'_> {
    type Value = serde_json::Map<String, Value>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a FHIR Bundle")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut head = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "entry" {
                map.next_value_seed(Entries(&mut *self.0))?;
            } else {
                head.insert(key, map.next_value()?);
            }
        }
        Ok(head)
    }
}

fn read_patients(
    path: &Path,
    tree: &RegionTree,
    county: &Region,
    today: NaiveDate,
) -> Result<Vec<ListRow>, FhirImportError> {
    let file = std::fs::File::open(path).map_err(|e| {
        FhirImportError::Invalid(vec![render(
            "fhir-import-unreadable",
            &[("message", &e.to_string())],
        )])
    })?;
    read_bundle(std::io::BufReader::new(file), tree, county, today)
}

/// Read a Bundle as it streams: its own members and each entry checked by the R4 library (each
/// entry as a Bundle of one, so that problems carry the entry's place), the Patients kept as
/// rows. Every problem comes back, with where it is. No database: the fuzz target
/// `fhir_bundle` runs this as the import does.
pub fn read_bundle(
    reader: impl std::io::Read,
    tree: &RegionTree,
    county: &Region,
    today: NaiveDate,
) -> Result<Vec<ListRow>, FhirImportError> {
    let mut problems: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    let mut n = 0usize;
    let mut on_entry = |entry: Value| {
        let one =
            serde_json::json!({"resourceType": "Bundle", "type": "collection", "entry": [entry]});
        if let Ok((_, issues)) = fhirkit::from_json::<fhirkit::r4::Bundle>(&one.to_string()) {
            let at = format!("Bundle.entry[{n}]");
            problems.extend(
                issues
                    .iter()
                    .filter(|i| i.severity == fhirkit::Severity::Error)
                    .map(|i| {
                        problem_zh(&fhirkit::Issue {
                            path: i.path.replacen("Bundle.entry[0]", &at, 1),
                            ..i.clone()
                        })
                    }),
            );
        }
        let resource = &one["entry"][0]["resource"];
        if resource["resourceType"] == "Patient" {
            rows.push(row_of(tree, county, n, resource, today));
        }
        n += 1;
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let head = match serde::Deserializer::deserialize_map(&mut de, Top(&mut on_entry)) {
        Ok(head) => head,
        Err(_) => {
            return Err(FhirImportError::Invalid(vec![render(
                "fhir-import-not-bundle",
                &[],
            )]));
        }
    };
    if head.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(FhirImportError::Invalid(vec![render(
            "fhir-import-not-bundle",
            &[],
        )]));
    }
    if let Ok((_, issues)) =
        fhirkit::from_json::<fhirkit::r4::Bundle>(&Value::Object(head).to_string())
    {
        problems.extend(
            issues
                .iter()
                .filter(|i| i.severity == fhirkit::Severity::Error)
                .map(problem_zh),
        );
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(FhirImportError::Invalid(problems))
    }
}

/// Read, link, register, report. Nothing is written when anything is wrong or `dry_run`.
pub async fn import(
    db: &Db,
    tree: &RegionTree,
    req: &FhirImport<'_>,
) -> Result<FhirImportReport, FhirImportError> {
    // Read on this thread (the command line's; no page imports a Bundle).
    let rows = read_patients(req.path, tree, req.county, req.today)?;

    let scope = Scope::of(req.county);
    let mut tx = db.begin().await?;
    let ours = exchange::registry(&mut tx, &scope).await?;
    let Plan {
        mut report,
        new,
        mut problems,
    } = plan(tree, req.county, req.today, &ours, &rows);
    // The same new person twice in one Bundle, or registered outside the county: refused.
    let ids: Vec<&str> = new.iter().map(|(_, r)| r.data.id_number.as_str()).collect();
    let elsewhere = exchange::registered_elsewhere(&mut tx, &scope, &ids).await?;
    let mut seen = std::collections::HashSet::new();
    for (at, r) in &new {
        let entry = report.outcomes[*at].entry.to_string();
        if elsewhere.contains(&r.data.id_number) {
            problems.push(render("fhir-import-elsewhere", &[("entry", &entry)]));
        } else if !seen.insert(r.data.id_number.clone()) {
            problems.push(render("fhir-import-twice", &[("entry", &entry)]));
        }
    }
    if !problems.is_empty() {
        return Err(FhirImportError::Invalid(problems));
    }
    if req.dry_run || new.is_empty() {
        if !req.dry_run {
            audit_import(&mut tx, req, &report).await?;
            tx.commit().await?;
        }
        return Ok(report);
    }
    let change = open_change_set(&mut tx, req.actor, "FHIR导入", "fhir-import").await?;
    let records: Vec<_> = new.iter().map(|(_, r)| r.clone()).collect();
    let created = persons::insert_many(&mut tx, &scope, (change, req.today), &records).await?;
    for ((at, _), pid) in new.iter().zip(&created) {
        report.outcomes[*at].person = Some(*pid);
        audit::record(
            &mut tx,
            req.actor,
            "person.create",
            Some(Target::person(*pid)),
            serde_json::json!({"change_set": change, "fhir_entry": report.outcomes[*at].entry}),
        )
        .await?;
    }
    audit_import(&mut tx, req, &report).await?;
    tx.commit().await?;
    Ok(report)
}

/// What the Patients of a Bundle come to against a registry, before anything is written: each
/// linked (by ID number or linkage) or to be registered through the entry rules, and the
/// problems of those that can be neither.
pub struct Plan {
    pub report: FhirImportReport,
    /// The persons to register: their outcome's index in `report.outcomes`, and the record.
    pub new: Vec<(usize, crate::registry::PersonWithGuardian)>,
    pub problems: Vec<String>,
}

/// Link `rows` to `ours` and check the unlinked ones with the entry rules. No database: the fuzz
/// target `fhir_bundle` runs this as the import does.
pub fn plan(
    tree: &RegionTree,
    county: &Region,
    today: NaiveDate,
    ours: &[crate::exchange::Ours],
    rows: &[ListRow],
) -> Plan {
    let links = link_rows(ours, rows);
    let mut report = FhirImportReport {
        patients: rows.len(),
        ..Default::default()
    };
    let mut problems = Vec::new();
    let mut new = Vec::new();
    for (row, link) in rows.iter().zip(&links) {
        let entry = row.row as usize - 1;
        match link {
            Some((person, by, score)) => {
                report.linked += 1;
                report.outcomes.push(PatientOutcome {
                    entry,
                    person: Some(*person),
                    how: match by {
                        MatchedBy::IdNumber => "id_number",
                        MatchedBy::Linkage => "linkage",
                    },
                    score: *score,
                });
            }
            None => {
                let value = |key: &str| -> Option<String> {
                    match key {
                        "name" => Some(row.name.clone()).filter(|n| !n.is_empty()),
                        "id_number" => row.id_number.clone(),
                        "township" => row.township.clone(),
                        "address" => row.address.clone(),
                        "guardian" => row.guardian.clone(),
                        _ => None,
                    }
                };
                match roster::validate_entry(tree, county, today, &value) {
                    Ok(mut record) => {
                        record.data.phone = row
                            .phone
                            .as_deref()
                            .and_then(|p| crate::domain::Phone::parse(p).ok())
                            .map(|p| p.to_string());
                        report.created += 1;
                        report.outcomes.push(PatientOutcome {
                            entry,
                            person: None,
                            how: "created",
                            score: None,
                        });
                        new.push((report.outcomes.len() - 1, record));
                    }
                    Err(errors) => problems.extend(errors.into_iter().map(|e| {
                        render(
                            "fhir-import-patient",
                            &[
                                ("entry", &entry.to_string()),
                                ("column", &e.column),
                                ("message", &e.message),
                            ],
                        )
                    })),
                }
            }
        }
    }
    Plan {
        report,
        new,
        problems,
    }
}

async fn audit_import(
    tx: &mut crate::store::Tx,
    req: &FhirImport<'_>,
    report: &FhirImportReport,
) -> anyhow::Result<()> {
    audit::record(
        tx,
        req.actor,
        "import.fhir",
        Some(Target::region(&req.county.code)),
        serde_json::json!({
            "file": req.path.file_name().map(|f| f.to_string_lossy().to_string()),
            "patients": report.patients,
            "linked": report.linked,
            "created": report.created,
        }),
    )
    .await
}
