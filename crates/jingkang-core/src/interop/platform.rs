//! The referral-platform exchange file (docs/platform-exchange.md): a region's registrations (each
//! person's identity, state and every state change) and its referrals, as one JSON document in a
//! documented, versioned format, so that a province exchanges with the national referral platform
//! (SPEC §3) without screen-scraping. The codes the file carries are data
//! (`data/platform_exchange.json`), one mapping per format version.
//!
//! The file holds identities in clear (it is an exchange between the systems that hold them): an
//! export needs a reason and is audited, in the transaction that reads.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::LazyLock;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::on_tx;
use crate::regions::{Region, RegionTree, Scope};
use crate::store::audit::{self, Target};
use crate::store::{Actor, Db, registration};
use crate::store::{persons, sealing};

static SHIPPED: &str = include_str!("../../data/platform_exchange.json");

/// jingkang's codes and the file's, per field, for one format version.
#[derive(Debug, Clone, Deserialize)]
pub struct Mapping {
    #[serde(rename = "_comment", default)]
    _comment: String,
    pub format: String,
    pub version: String,
    pub sex: BTreeMap<String, String>,
    pub registration_state: BTreeMap<String, String>,
    pub registration_event: BTreeMap<String, String>,
    pub close_reason: BTreeMap<String, String>,
    pub referral_kind: BTreeMap<String, String>,
    pub referral_state: BTreeMap<String, String>,
}

impl Mapping {
    /// The shipped mapping (the current format version).
    pub fn shipped() -> &'static Mapping {
        static M: LazyLock<Mapping> = LazyLock::new(|| {
            serde_json::from_str(SHIPPED).expect("data/platform_exchange.json is checked by a test")
        });
        &M
    }

    fn table(&self, field: &str) -> anyhow::Result<&BTreeMap<String, String>> {
        Ok(match field {
            "sex" => &self.sex,
            "registration_state" => &self.registration_state,
            "registration_event" => &self.registration_event,
            "close_reason" => &self.close_reason,
            "referral_kind" => &self.referral_kind,
            "referral_state" => &self.referral_state,
            other => anyhow::bail!("no mapping field {other}"),
        })
    }

    /// The file's code of jingkang's `code` in `field`.
    fn to_file(&self, field: &str, code: &str) -> anyhow::Result<String> {
        self.table(field)?
            .get(code)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no {field} mapping for {code}"))
    }

    /// jingkang's code of the file's `code` in `field`.
    fn ours_of(&self, field: &str, code: &str) -> Option<String> {
        self.table(field)
            .ok()?
            .iter()
            .find(|(_, v)| *v == code)
            .map(|(k, _)| k.clone())
    }
}

/// An export to make.
pub struct PlatformExport<'a> {
    pub scope: &'a Scope,
    pub region: &'a Region,
    /// Only what changed on or after this day (registrations by their events, referrals by the
    /// day sent); everything when `None`.
    pub since: Option<NaiveDate>,
    pub out: &'a Path,
    pub actor: &'a Actor,
    pub reason: &'a str,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PlatformSummary {
    pub registrations: u64,
    pub referrals: u64,
}

const PAGE: i64 = 2_000;

/// Write the exchange file of `req.region`. `None` when the region lies outside the scope.
pub async fn export(
    db: &Db,
    tree: &RegionTree,
    req: &PlatformExport<'_>,
) -> anyhow::Result<Option<PlatformSummary>> {
    let within = Scope::of(req.region);
    if !within.is_within(req.scope) {
        return Ok(None);
    }
    let m = Mapping::shipped();
    let mut tx = db.begin().await?;
    let mut w = std::io::BufWriter::new(std::fs::File::create(req.out)?);
    let head = json!({
        "format": m.format,
        "version": m.version,
        "region": req.region.code,
        "region_name": tree.path_name(&req.region.code),
        "since": req.since,
        "exported_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
    .to_string();
    write!(w, "{},\"registrations\":[", &head[..head.len() - 1])?;
    let mut summary = PlatformSummary::default();
    let mut pages = persons::RegionPages::new(within.clone(), PAGE);
    loop {
        let page = pages.next(&mut tx, req.scope).await?;
        if page.is_empty() {
            break;
        }
        for p in &page {
            let events = registration::events(&mut tx, req.scope, p.id).await?;
            let on_days: Vec<Option<NaiveDate>> = on_tx!(&mut tx, c => sqlx::query_scalar(
                "SELECT effective_on FROM registration_events WHERE person_id = $1 ORDER BY id")
                .bind(p.id).fetch_all(&mut **c).await)?;
            if events.is_empty()
                || req
                    .since
                    .is_some_and(|s| !on_days.iter().flatten().any(|d| *d >= s))
            {
                continue;
            }
            let d = &p.record.data;
            let mut file_events = Vec::new();
            for (e, on) in events.iter().zip(&on_days) {
                file_events.push(json!({
                    "event": m.to_file("registration_event", &e.event)?,
                    "from": m.to_file("registration_state", &e.from_state)?,
                    "to": m.to_file("registration_state", &e.to_state)?,
                    "on": on,
                    "close_reason": e.close_reason.as_deref().map(|r| m.to_file("close_reason", r)).transpose()?,
                }));
            }
            let record = json!({
                "id_number": d.id_number,
                "name": d.name,
                "sex": m.to_file("sex", &d.sex)?,
                "birth_date": d.birth_date,
                "region": d.residence_region,
                "address": d.residence_address,
                "state": m.to_file("registration_state", p.state.code())?,
                "events": file_events,
            });
            if summary.registrations > 0 {
                w.write_all(b",")?;
            }
            write!(w, "{record}")?;
            summary.registrations += 1;
        }
    }
    w.write_all(b"],\"referrals\":[")?;
    let (lo, hi) = within.bounds();
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        kind: String,
        state: String,
        urgent: bool,
        from_region: String,
        to_region: String,
        sent_on: NaiveDate,
        accepted_on: Option<NaiveDate>,
        deadline: Option<NaiveDate>,
        documents: String,
        reason: Option<String>,
        id_number: Option<String>,
        name: Option<String>,
    }
    let rows: Vec<Row> = on_tx!(&mut tx, c => sqlx::query_as(
        "SELECT r.id, r.kind, r.state, r.urgent, r.from_region, r.to_region, r.sent_on, r.accepted_on, r.deadline, \
                r.documents, r.reason, p.id_number, COALESCE(p.name, r.subject_name) AS name \
         FROM referrals r LEFT JOIN persons p ON p.id = r.person_id \
         WHERE ((r.from_region >= $1 AND r.from_region < $2) OR (r.to_region >= $1 AND r.to_region < $2)) \
           AND ($3 IS NULL OR r.sent_on >= $3) ORDER BY r.id")
        .bind(&lo).bind(&hi).bind(req.since).fetch_all(&mut **c).await)?;
    for mut r in rows {
        r.id_number = tx
            .keys
            .open_opt("persons.id_number", r.id_number.as_deref())?;
        r.reason = tx
            .keys
            .open_opt(sealing::REFERRAL_REASON, r.reason.as_deref())?;
        let documents: Value = serde_json::from_str(&r.documents).unwrap_or(Value::Null);
        let record = json!({
            "ref": format!("jingkang:{}:{}", req.region.code, r.id),
            "kind": m.to_file("referral_kind", &r.kind)?,
            "state": m.to_file("referral_state", &r.state)?,
            "urgent": r.urgent,
            "from_region": r.from_region,
            "to_region": r.to_region,
            "sent_on": r.sent_on,
            "accepted_on": r.accepted_on,
            "deadline": r.deadline,
            "id_number": r.id_number,
            "name": r.name,
            "documents": documents,
            "reason": r.reason,
        });
        if summary.referrals > 0 {
            w.write_all(b",")?;
        }
        write!(w, "{record}")?;
        summary.referrals += 1;
    }
    w.write_all(b"]}")?;
    w.flush()?;
    audit::record(
        &mut tx,
        req.actor,
        "export.platform",
        Some(Target::region(&req.region.code)),
        json!({
            "reason": req.reason,
            "since": req.since,
            "registrations": summary.registrations,
            "referrals": summary.referrals,
            "version": m.version,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(summary))
}

/// A file to read into a county.
pub struct PlatformImport<'a> {
    pub county: &'a Region,
    pub path: &'a Path,
    /// Check and report, write nothing.
    pub dry_run: bool,
    pub actor: &'a Actor,
    pub today: NaiveDate,
}

/// A person whose state in the file is not the registry's: for the township to act on (states
/// change through the registration rules here, not by a file).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StateDiff {
    pub person: i64,
    pub ours: String,
    pub theirs: String,
}

/// What reading a file did (or would do, dry).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PlatformImportReport {
    /// Registrations of the county in the file (others are not this county's).
    pub registrations: usize,
    pub outside: usize,
    /// In the registry in the same state.
    pub agreeing: usize,
    pub differing: Vec<StateDiff>,
    /// Registered here (待评估) from the file.
    pub created: usize,
    /// Registered in another region: a transfer, not read.
    pub elsewhere: usize,
    /// Referrals to the county waiting to be accepted, put in its inbox.
    pub referrals_new: usize,
    /// Already read from an earlier file.
    pub referrals_known: usize,
    /// Not for the county, or not waiting (accepted, completed … elsewhere).
    pub referrals_skipped: usize,
}

/// Why nothing was read: each problem with where it is, in Chinese.
#[derive(Debug)]
pub enum PlatformImportError {
    Invalid(Vec<String>),
    Db(anyhow::Error),
}

impl From<anyhow::Error> for PlatformImportError {
    fn from(e: anyhow::Error) -> Self {
        PlatformImportError::Db(e)
    }
}

impl From<crate::secrets::SealError> for PlatformImportError {
    fn from(e: crate::secrets::SealError) -> Self {
        PlatformImportError::Db(e.into())
    }
}

impl From<sqlx::Error> for PlatformImportError {
    fn from(e: sqlx::Error) -> Self {
        PlatformImportError::Db(e.into())
    }
}

impl From<serde_json::Error> for PlatformImportError {
    fn from(e: serde_json::Error) -> Self {
        PlatformImportError::Db(e.into())
    }
}

impl PlatformImportError {
    pub fn message_zh(&self) -> String {
        match self {
            PlatformImportError::Invalid(p) => crate::messages::render(
                "platform-import-invalid",
                &[
                    ("n", &p.len().to_string()),
                    (
                        "problems",
                        &p.iter().take(20).cloned().collect::<Vec<_>>().join("\n"),
                    ),
                ],
            ),
            PlatformImportError::Db(_) => crate::messages::render("internal-error", &[]),
        }
    }
}

/// A string member, or a problem saying where it is missing.
fn text_member<'v>(
    v: &'v Value,
    key: &str,
    at: &str,
    problems: &mut Vec<String>,
) -> Option<&'v str> {
    let found = v[key].as_str().map(str::trim).filter(|s| !s.is_empty());
    if found.is_none() {
        problems.push(crate::messages::render(
            "platform-import-missing",
            &[("at", &format!("{at}.{key}"))],
        ));
    }
    found
}

/// jingkang's code of a member's file code, or a problem saying where it is unknown.
fn code(
    m: &Mapping,
    field: &str,
    v: &Value,
    key: &str,
    at: &str,
    problems: &mut Vec<String>,
) -> Option<String> {
    let c = text_member(v, key, at, problems)?;
    let ours = m.ours_of(field, c);
    if ours.is_none() {
        problems.push(crate::messages::render(
            "platform-import-code",
            &[("at", &format!("{at}.{key}")), ("code", c)],
        ));
    }
    ours
}

/// Read an exchange file into a county: registrations linked by ID number (states compared, the
/// unknown registered 待评估 through the entry rules), referrals waiting for the county put in its
/// inbox once (by `ref`). All or nothing; nothing is written when anything is wrong or dry.
pub async fn import(
    db: &Db,
    tree: &RegionTree,
    req: &PlatformImport<'_>,
) -> Result<PlatformImportReport, PlatformImportError> {
    let text_of_file = std::fs::read_to_string(req.path).map_err(|e| {
        PlatformImportError::Invalid(vec![crate::messages::render(
            "fhir-import-unreadable",
            &[("message", &e.to_string())],
        )])
    })?;
    let read = read_file(&text_of_file, tree, req.county, req.today)?;
    let county = Scope::of(req.county);
    let mut problems = read.problems;
    let mut report = PlatformImportReport {
        outside: read.outside,
        registrations: read.registrations.len() + read.unusable,
        referrals_skipped: read.referrals_skipped,
        ..Default::default()
    };
    let mut tx = db.begin().await?;
    let change = if req.dry_run {
        None
    } else {
        Some(
            crate::store::open_change_set(&mut tx, req.actor, "转介平台交换", "platform-import")
                .await?,
        )
    };

    // Registrations: compared with the registry, or registered through the entry rules.
    let mut new_records = Vec::new();
    for r in read.registrations {
        let found = persons::lookup_id_numbers(&mut tx, &county, &[r.id.as_str()]).await?;
        if let Some(p) = found.inside.values().next() {
            if p.state.code() == r.state {
                report.agreeing += 1;
            } else {
                report.differing.push(StateDiff {
                    person: p.id,
                    ours: p.state.code().to_string(),
                    theirs: r.state,
                });
            }
            continue;
        }
        if !found.elsewhere.is_empty() {
            report.elsewhere += 1;
            continue;
        }
        match r.entry {
            Ok(record) => new_records.push(record),
            Err(errors) => problems.extend(errors),
        }
    }

    // Referrals waiting for the county.
    let rules = crate::care::referral::ReferralRules::shipped()?;
    for f in read.referrals {
        let at = &f.at;
        let known: Option<i64> = on_tx!(&mut tx, c => sqlx::query_scalar(
            "SELECT id FROM referrals WHERE external_ref = $1").bind(&f.external).fetch_optional(&mut **c).await)?;
        if known.is_some() {
            report.referrals_known += 1;
            continue;
        }
        let Some(sent_on) = f.sent_on else {
            problems.push(crate::messages::render(
                "platform-import-missing",
                &[("at", &format!("{at}.sent_on"))],
            ));
            continue;
        };
        let person = match &f.id {
            Some(id) => persons::lookup_id_numbers(&mut tx, &county, &[id.as_str()])
                .await?
                .inside
                .values()
                .next()
                .map(|p| p.id),
            None => None,
        };
        let rule = rules.kind(&f.kind);
        let subject = match (person, rule) {
            (Some(_), _) => None,
            (None, Some(r)) if r.new_person && f.name.is_some() => Some(serde_json::to_string(
                &json!({"name": f.name, "id_number": f.id.as_ref().map(|i| i.as_str())}),
            )?),
            _ => {
                problems.push(crate::messages::render(
                    "platform-import-referral-person",
                    &[("at", at)],
                ));
                continue;
            }
        };
        report.referrals_new += 1;
        let Some(change) = change else { continue };
        let reason = tx
            .keys
            .seal_opt(sealing::REFERRAL_REASON, f.reason.as_deref())?;
        let subject = tx
            .keys
            .seal_opt(sealing::REFERRAL_SUBJECT, subject.as_deref())?;
        let rid: i64 = on_tx!(&mut tx, c => sqlx::query_scalar(
            "INSERT INTO referrals (person_id, kind, state, urgent, from_region, to_region, reason, documents, sent_on, deadline, change_id, subject, subject_name, external_ref) \
             VALUES ($1, $2, 'initiated', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id")
            .bind(person).bind(&f.kind).bind(f.urgent).bind(&f.from).bind(&f.to).bind(&reason)
            .bind(&f.documents).bind(sent_on).bind(f.deadline).bind(change).bind(&subject).bind(if person.is_none() { f.name.clone() } else { None }).bind(&f.external)
            .fetch_one(&mut **c).await)?;
        on_tx!(&mut tx, c => sqlx::query("INSERT INTO referral_events (referral_id, change_id, event, from_state, to_state) VALUES ($1, $2, 'send', NULL, 'initiated')")
            .bind(rid).bind(change).execute(&mut **c).await.map(drop))?;
        audit::record(
            &mut tx,
            req.actor,
            "referral.import",
            person.map(Target::person),
            json!({"referral": rid, "ref": f.external, "kind": f.kind, "to": f.to}),
        )
        .await?;
    }
    if !problems.is_empty() {
        return Err(PlatformImportError::Invalid(problems));
    }
    report.created = new_records.len();
    if let Some(change) = change {
        let ids = persons::insert_many(&mut tx, &county, (change, req.today), &new_records).await?;
        for pid in ids {
            audit::record(
                &mut tx,
                req.actor,
                "person.create",
                Some(Target::person(pid)),
                json!({"change_set": change, "source": "platform"}),
            )
            .await?;
        }
        audit::record(
            &mut tx,
            req.actor,
            "import.platform",
            Some(Target::region(&req.county.code)),
            json!({
                "file": req.path.file_name().map(|f| f.to_string_lossy().to_string()),
                "version": read.version,
                "registrations": report.registrations,
                "created": report.created,
                "differing": report.differing.len(),
                "referrals": report.referrals_new,
            }),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(report)
}

/// A registration of the county as the file has it.
#[derive(Debug)]
pub struct FileRegistration {
    pub id: crate::domain::IdNumber,
    /// jingkang's state code.
    pub state: String,
    /// The person to register should the registry not know them (entry rules applied), or the
    /// problems that stop it, with where they are.
    pub entry: Result<crate::registry::PersonWithGuardian, Vec<String>>,
}

/// A referral waiting for the county as the file has it.
#[derive(Debug)]
pub struct FileReferral {
    /// Where it is in the file (`referrals[3]`).
    pub at: String,
    pub external: String,
    pub to: String,
    pub from: String,
    /// jingkang's kind code.
    pub kind: String,
    pub sent_on: Option<NaiveDate>,
    pub id: Option<crate::domain::IdNumber>,
    pub name: Option<String>,
    /// The documents, as JSON.
    pub documents: String,
    pub deadline: Option<NaiveDate>,
    pub urgent: bool,
    pub reason: Option<String>,
}

/// An exchange file read for a county, before the registry is asked.
#[derive(Debug, Default)]
pub struct FileRead {
    pub version: String,
    pub registrations: Vec<FileRegistration>,
    /// Registrations of the county that cannot be read (their problems are in `problems`).
    pub unusable: usize,
    /// Registrations of other regions.
    pub outside: usize,
    pub referrals: Vec<FileReferral>,
    /// Referrals not for the county, or not waiting.
    pub referrals_skipped: usize,
    pub problems: Vec<String>,
}

/// Read an exchange file for `county`: the format and version, each registration's region, ID
/// number and codes (read back through the shipped mapping) and the entry rules for a person to
/// register, each referral's members. No database: the fuzz target `platform_file` runs this as
/// the import does. A file of another format or major version is refused.
pub fn read_file(
    text: &str,
    tree: &RegionTree,
    county_region: &Region,
    today: NaiveDate,
) -> Result<FileRead, PlatformImportError> {
    let m = Mapping::shipped();
    let invalid = |code: &str, args: &[(&str, &str)]| {
        PlatformImportError::Invalid(vec![crate::messages::render(code, args)])
    };
    let file: Value = serde_json::from_str(text)
        .map_err(|e| invalid("platform-import-not-json", &[("message", &e.to_string())]))?;
    let major = |v: &str| v.split('.').next().unwrap_or_default().to_string();
    if file["format"] != m.format.as_str()
        || file["version"].as_str().map(major) != Some(major(&m.version))
    {
        return Err(invalid(
            "platform-import-version",
            &[
                ("format", file["format"].as_str().unwrap_or("")),
                ("version", file["version"].as_str().unwrap_or("")),
                ("ours", &m.version),
            ],
        ));
    }
    let county = Scope::of(county_region);
    let mut read = FileRead {
        version: file["version"].as_str().unwrap_or_default().to_string(),
        ..Default::default()
    };
    let problems = &mut read.problems;
    let empty = Vec::new();
    for (i, r) in file["registrations"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .enumerate()
    {
        let at = format!("registrations[{i}]");
        let Some(region) = text_member(r, "region", &at, problems) else {
            continue;
        };
        if !county.contains(region) {
            read.outside += 1;
            continue;
        }
        let (Some(id_text), Some(state)) = (
            text_member(r, "id_number", &at, problems),
            code(m, "registration_state", r, "state", &at, problems),
        ) else {
            read.unusable += 1;
            continue;
        };
        for (k, e) in r["events"].as_array().unwrap_or(&empty).iter().enumerate() {
            let at = format!("{at}.events[{k}]");
            code(m, "registration_event", e, "event", &at, problems);
        }
        let Ok(id) = crate::domain::IdNumber::parse_as_of(id_text, today) else {
            problems.push(crate::messages::render(
                "platform-import-id",
                &[("at", &format!("{at}.id_number"))],
            ));
            read.unusable += 1;
            continue;
        };
        let township = tree
            .get(region.get(..9).unwrap_or(region))
            .map(|t| t.name.clone());
        let value = |key: &str| -> Option<String> {
            match key {
                "name" => r["name"].as_str().map(str::to_string),
                "id_number" => Some(id.as_str().to_string()),
                "township" => township.clone(),
                "address" => r["address"].as_str().map(str::to_string),
                _ => None,
            }
        };
        let entry = crate::import::roster::validate_entry(tree, county_region, today, &value)
            .map_err(|errors| {
                errors
                    .into_iter()
                    .map(|e| {
                        crate::messages::render(
                            "platform-import-entry",
                            &[("at", &at), ("column", &e.column), ("message", &e.message)],
                        )
                    })
                    .collect()
            });
        read.registrations
            .push(FileRegistration { id, state, entry });
    }
    for (i, f) in file["referrals"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .enumerate()
    {
        let at = format!("referrals[{i}]");
        let (Some(external), Some(to), Some(from), Some(kind), Some(state)) = (
            text_member(f, "ref", &at, problems),
            text_member(f, "to_region", &at, problems),
            text_member(f, "from_region", &at, problems),
            code(m, "referral_kind", f, "kind", &at, problems),
            code(m, "referral_state", f, "state", &at, problems),
        ) else {
            continue;
        };
        if !county.contains(to) || county.contains(from) || state != "initiated" {
            read.referrals_skipped += 1;
            continue;
        }
        read.referrals.push(FileReferral {
            external: external.to_string(),
            to: to.to_string(),
            from: from.to_string(),
            kind,
            sent_on: f["sent_on"]
                .as_str()
                .and_then(|d| d.parse::<NaiveDate>().ok()),
            id: f["id_number"]
                .as_str()
                .and_then(|t| crate::domain::IdNumber::parse_as_of(t, today).ok()),
            name: f["name"].as_str().map(str::to_string),
            documents: serde_json::to_string(
                &f["documents"].as_array().cloned().unwrap_or_default(),
            )?,
            deadline: f["deadline"]
                .as_str()
                .and_then(|d| d.parse::<NaiveDate>().ok()),
            urgent: f["urgent"].as_bool().unwrap_or(false),
            reason: f["reason"].as_str().map(str::to_string),
            at,
        });
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::care::referral::{ReferralRules, ReferralState};
    use crate::care::registration::{CloseReason, sample_events};
    use crate::domain::RegistrationState;

    #[test]
    fn every_code_has_a_mapping() {
        let m = Mapping::shipped();
        assert_eq!(m.format, "jingkang.platform-exchange");
        for s in RegistrationState::ALL {
            m.to_file("registration_state", s.code()).unwrap();
        }
        for e in sample_events() {
            m.to_file("registration_event", e.code()).unwrap();
        }
        for e in ["merge", "unmerge"] {
            m.to_file("registration_event", e).unwrap();
        }
        for r in CloseReason::ALL.into_iter().chain([CloseReason::Merged]) {
            m.to_file("close_reason", r.code()).unwrap();
        }
        for k in &ReferralRules::shipped().unwrap().kinds {
            m.to_file("referral_kind", &k.code).unwrap();
        }
        for s in ReferralState::ALL {
            m.to_file("referral_state", s.code()).unwrap();
        }
        for s in ["male", "female"] {
            m.to_file("sex", s).unwrap();
        }
        assert!(m.to_file("sex", "x").is_err());
    }
}
