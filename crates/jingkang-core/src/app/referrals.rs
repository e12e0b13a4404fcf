//! Referrals in the database: sending one (its documents complete, its deadline in working days),
//! each step by the receiver (or the sender's resend) through the state machine of
//! `care::referral`, with an event row and an audit entry in the same transaction. A transfer
//! (迁移) moves the person's residence into the receiver's region on acceptance; the sender keeps
//! the referral itself as a read-only trace.
//!
//! Scope: the sender sees what it sent (`from_region` in its scope), the receiver what was sent to
//! it (`to_region` in its scope); nothing else.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::care::referral::{self, Book, ReferralError, ReferralEvent, ReferralState};
use crate::import::roster::{self, RowError};
use crate::on_tx;
use crate::regions::{Level, RegionTree, Scope};
use crate::store::audit::{self, Target};
use crate::store::sealing::{
    REFERRAL_DOCUMENT_BODY, REFERRAL_EVENT_REASON, REFERRAL_REASON, REFERRAL_SUBJECT, open_each,
    open_in_place,
};
use crate::store::{Actor, Tx, open_change_set, persons};

/// Who works on referrals: the region scope, the actor, and the kinds the actor's role sends
/// (its sent list, its resends) and receives (its inbox, its accept/return/complete).
#[derive(Debug, Clone)]
pub struct Desk {
    pub scope: Scope,
    pub actor: Actor,
    pub sends: Vec<String>,
    pub receives: Vec<String>,
}

impl Desk {
    /// The desk of a user with `role` (a role code) in `scope`.
    pub fn of_role(book: &Book, scope: Scope, actor: Actor, role: &str) -> Desk {
        Desk {
            sends: book.rules.sent_by(role),
            receives: book.rules.received_by(role),
            scope,
            actor,
        }
    }

    /// The system: every kind, the whole country (expiry).
    pub fn system(book: &Book) -> Desk {
        let all: Vec<String> = book.rules.kinds.iter().map(|k| k.code.clone()).collect();
        Desk {
            scope: Scope::national(),
            actor: Actor::system(),
            sends: all.clone(),
            receives: all,
        }
    }
}

/// Whom a referral is about.
#[derive(Debug, Clone)]
pub enum Subject {
    /// A person of the registry, in the sender's scope.
    Existing(i64),
    /// A person not yet in the registry (a discharge): the person form's values by roster column
    /// key (name, id_number, sex, grade, address, guardian, guardian_phone, notes). The township is
    /// the receiving region.
    New(BTreeMap<String, String>),
}

/// A file a referral carries, checked by its content (PDF, JPEG or PNG, at most 10 MB: the rule of
/// an agreement's scan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedFile {
    media_type: &'static str,
    file_name: String,
    bytes: Vec<u8>,
}

impl CheckedFile {
    /// Check `bytes` by content; the error is a message code (`referral-file-empty`,
    /// `referral-file-too-large`, `referral-file-type`).
    pub fn check(file_name: &str, bytes: Vec<u8>) -> Result<CheckedFile, &'static str> {
        let media_type = crate::care::agreement::check_scan(&bytes).map_err(|code| match code {
            "agreement-file-empty" => "referral-file-empty",
            "agreement-file-too-large" => "referral-file-too-large",
            _ => "referral-file-type",
        })?;
        let file_name: String = file_name.trim().chars().take(200).collect();
        Ok(CheckedFile {
            media_type,
            file_name: if file_name.is_empty() {
                "file".into()
            } else {
                file_name
            },
            bytes,
        })
    }

    pub fn media_type(&self) -> &'static str {
        self.media_type
    }

    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// What a document of a referral is: a scanned file, or the form filled in as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    File(CheckedFile),
    Text(String),
}

/// One document a referral carries, in one of its kind's slots (`data/referrals.json`). A slot
/// may hold several (a summary scanned page by page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    pub slot: String,
    pub content: Content,
}

impl Carried {
    /// The form of `slot` filled in as text.
    pub fn text(slot: &str, text: &str) -> Carried {
        Carried {
            slot: slot.to_string(),
            content: Content::Text(text.to_string()),
        }
    }
}

/// Most characters of a document filled in as text.
pub const TEXT_MAX_CHARS: usize = 20_000;

/// Most bytes of all the files one referral carries.
pub const FILES_MAX_BYTES: usize = 40 * 1024 * 1024;

/// Whom the receiver calls about a referral: the sending unit and a person there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub unit: String,
    pub name: String,
    pub phone: String,
}

/// A referral to send.
#[derive(Debug, Clone)]
pub struct NewReferral {
    pub kind: String,
    pub subject: Subject,
    /// The receiving region: a township or village for the community's kinds, a county or below
    /// for the others.
    pub to_region: String,
    pub reason: String,
    /// The documents it carries: every slot of its kind needs at least one (the assessment of a
    /// kind that needs one stands for its slot).
    pub documents: Vec<Carried>,
    pub contact: Contact,
    pub sent_on: NaiveDate,
}

/// Why a referral was not sent; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendRefusal {
    NotFound,
    KindUnknown,
    /// The caller's role does not send this kind.
    NotSender,
    /// The receiving region does not exist or is not of a level that receives this kind.
    RegionInvalid,
    /// A transfer to the region the person already lives in.
    SameRegion,
    /// This kind cannot carry a person who is not in the registry.
    NewPersonNotAllowed,
    /// The identity of a new person has these problems (by field).
    Invalid(Vec<RowError>),
    /// These documents are missing.
    Incomplete(Vec<String>),
    /// A document is not one of the kind's slots, or its text is too long, or the files are too
    /// large together: the message code and its arguments.
    DocumentInvalid {
        code: &'static str,
        slot: String,
    },
    /// The sending unit, the contact's name or phone is missing or wrong (by field:
    /// `contact_unit`, `contact_name`, `contact_phone`).
    ContactInvalid(Vec<RowError>),
    /// The kind needs an assessment of this domain within so many days, and there is none.
    AssessmentMissing {
        domain: String,
        within_days: i64,
    },
}

/// The level of region a kind goes to: the community's kinds (and a transfer) to a township or a
/// village, the others (hospital, 残联, civil affairs) to a county or below.
fn receiving_level_ok(rule: &referral::KindRule, level: Level) -> bool {
    // A transfer moves the record's residence there: a township or a village.
    let community = rule.code == "transfer"
        || rule
            .receivers
            .iter()
            .all(|r| r == "township" || r == "worker");
    if community {
        level >= Level::Township
    } else {
        level >= Level::County
    }
}

/// The county a township belongs to, for validating a new person's identity as its entry form does.
fn county_of<'t>(
    tree: &'t RegionTree,
    township: &str,
) -> Option<(&'t crate::regions::Region, &'t crate::regions::Region)> {
    let t = tree.get(township).filter(|t| t.level == Level::Township)?;
    let county = tree.get(t.parent_code.as_deref()?)?;
    Some((t, county))
}

/// Validate the identity a discharge carries, as the township's entry form would.
fn validate_subject(
    tree: &RegionTree,
    township: &str,
    values: &BTreeMap<String, String>,
    today: NaiveDate,
) -> Result<crate::registry::PersonWithGuardian, Vec<RowError>> {
    let Some((town, county)) = county_of(tree, township) else {
        return Err(vec![RowError {
            row: 0,
            field: "township",
            column: "乡镇（街道）".into(),
            code: "referral-new-person-township".into(),
            message: crate::messages::template("referral-new-person-township").to_string(),
        }]);
    };
    let get = |k: &str| {
        if k == "township" {
            return Some(town.name.clone());
        }
        values
            .get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    roster::validate_entry(tree, county, today, &get)
}

fn contact_error(field: &'static str, column: &str, code: &str) -> RowError {
    RowError {
        row: 0,
        field,
        column: column.into(),
        code: code.into(),
        message: crate::messages::template(code).to_string(),
    }
}

/// The contact, checked: every part present, the phone a mainland number (canonical form).
fn check_contact(c: &Contact) -> Result<Contact, Vec<RowError>> {
    let mut errors = Vec::new();
    let (unit, name) = (c.unit.trim(), c.name.trim());
    if unit.is_empty() {
        errors.push(contact_error(
            "contact_unit",
            "发出单位",
            "referral-unit-missing",
        ));
    } else if unit.chars().count() > 100 {
        errors.push(contact_error(
            "contact_unit",
            "发出单位",
            "referral-unit-long",
        ));
    }
    if name.is_empty() {
        errors.push(contact_error(
            "contact_name",
            "联系人",
            "referral-contact-missing",
        ));
    } else if name.chars().count() > 50 {
        errors.push(contact_error(
            "contact_name",
            "联系人",
            "referral-contact-long",
        ));
    }
    let phone = match crate::domain::phone::Phone::parse(&c.phone) {
        Ok(p) => p.to_string(),
        Err(e) => {
            errors.push(contact_error("contact_phone", "联系电话", e.code()));
            String::new()
        }
    };
    if errors.is_empty() {
        Ok(Contact {
            unit: unit.to_string(),
            name: name.to_string(),
            phone,
        })
    } else {
        Err(errors)
    }
}

/// The documents, checked against the kind's slots: each in a slot of the kind, a text neither
/// blank nor longer than [`TEXT_MAX_CHARS`], the files together at most [`FILES_MAX_BYTES`].
/// Blank texts are dropped (an empty box is not a document).
fn check_documents<'a>(
    rule: &referral::KindRule,
    documents: &'a [Carried],
) -> Result<Vec<Kept<'a>>, SendRefusal> {
    let mut kept = Vec::new();
    let mut bytes = 0usize;
    for d in documents {
        let slot = d.slot.trim();
        if !rule.documents.iter().any(|s| s == slot) {
            return Err(SendRefusal::DocumentInvalid {
                code: "referral-document-unknown",
                slot: slot.to_string(),
            });
        }
        let content = match &d.content {
            Content::Text(t) if t.trim().is_empty() => continue,
            Content::Text(t) if t.trim().chars().count() > TEXT_MAX_CHARS => {
                return Err(SendRefusal::DocumentInvalid {
                    code: "referral-document-long",
                    slot: slot.to_string(),
                });
            }
            Content::Text(t) => KeptContent::Text(t.trim()),
            Content::File(f) => {
                bytes += f.len();
                if bytes > FILES_MAX_BYTES {
                    return Err(SendRefusal::DocumentInvalid {
                        code: "referral-files-too-large",
                        slot: slot.to_string(),
                    });
                }
                KeptContent::File(f)
            }
        };
        kept.push(Kept { slot, content });
    }
    Ok(kept)
}

/// A document that passed [`check_documents`], borrowed from the request (a scan is never
/// copied on its way to the database).
struct Kept<'a> {
    slot: &'a str,
    content: KeptContent<'a>,
}

enum KeptContent<'a> {
    File(&'a CheckedFile),
    Text(&'a str),
}

/// Send `new` from the desk's scope.
pub async fn send(
    tx: &mut Tx,
    desk: &Desk,
    book: &Book,
    tree: &RegionTree,
    new: &NewReferral,
) -> anyhow::Result<Result<i64, SendRefusal>> {
    let Some(rule) = book.rules.kind(&new.kind) else {
        return Ok(Err(SendRefusal::KindUnknown));
    };
    if !desk.sends.contains(&rule.code) {
        return Ok(Err(SendRefusal::NotSender));
    }
    let carried = match check_documents(rule, &new.documents) {
        Ok(c) => c,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let contact = match check_contact(&new.contact) {
        Ok(c) => c,
        Err(errors) => return Ok(Err(SendRefusal::ContactInvalid(errors))),
    };
    let to_region = new.to_region.trim();
    if tree
        .get(to_region)
        .is_none_or(|r| !receiving_level_ok(rule, r.level))
    {
        return Ok(Err(SendRefusal::RegionInvalid));
    }
    let (person_id, residence, subject, subject_name) = match &new.subject {
        Subject::Existing(id) => {
            let (lo, hi) = desk.scope.bounds();
            let sql = format!(
                "SELECT residence_region FROM persons WHERE id = $1 AND residence_region >= $2 AND residence_region < $3{}",
                desk.scope.rows_sql("")
            );
            let residence: Option<String> = on_tx!(tx, c => sqlx::query_scalar(&sql)
                .bind(id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
            let Some(residence) = residence else {
                return Ok(Err(SendRefusal::NotFound));
            };
            (Some(*id), Some(residence), None, None)
        }
        Subject::New(values) => {
            if !rule.new_person {
                return Ok(Err(SendRefusal::NewPersonNotAllowed));
            }
            let record = match validate_subject(tree, to_region, values, new.sent_on) {
                Ok(r) => r,
                Err(errors) => return Ok(Err(SendRefusal::Invalid(errors))),
            };
            let kept: BTreeMap<&String, &String> = values
                .iter()
                .filter(|(k, v)| k.as_str() != "township" && !v.trim().is_empty())
                .collect();
            (
                None,
                None,
                Some(serde_json::to_string(&kept)?),
                Some(record.data.name),
            )
        }
    };
    if rule.code == "transfer" && residence.as_deref() == Some(to_region) {
        return Ok(Err(SendRefusal::SameRegion));
    }
    // The latest assessment of the domain the kind needs stands for its document.
    let mut documents: Vec<String> = Vec::new();
    for c in &carried {
        if !documents.iter().any(|d| d == c.slot) {
            documents.push(c.slot.to_string());
        }
    }
    let mut assessment_id = None;
    if let Some(needs) = &rule.assessment {
        let found = match person_id {
            Some(pid) => {
                crate::store::assessments::latest_in_domain(
                    tx,
                    &desk.scope,
                    pid,
                    &needs.domain,
                    new.sent_on - chrono::Duration::days(needs.within_days),
                )
                .await?
            }
            None => None,
        };
        let Some(found) = found else {
            return Ok(Err(SendRefusal::AssessmentMissing {
                domain: needs.domain.clone(),
                within_days: needs.within_days,
            }));
        };
        assessment_id = Some(found.id);
        if !documents.contains(&needs.document) {
            documents.push(needs.document.clone());
        }
    }
    let missing = referral::missing_documents(rule, &documents);
    if !missing.is_empty() {
        return Ok(Err(SendRefusal::Incomplete(
            missing.into_iter().map(str::to_string).collect(),
        )));
    }
    // The sender's own region (a hospital's county, a township): its sent list and resends.
    let from = desk
        .scope
        .root()
        .map(str::to_string)
        .or(residence)
        .unwrap_or_default();
    let deadline = referral::deadline(rule, &book.cal, ReferralState::Initiated, new.sent_on, None);
    let change = open_change_set(tx, &desk.actor, "referral", "send").await?;
    let reason = tx.keys.seal(REFERRAL_REASON, new.reason.trim())?;
    let subject = tx.keys.seal_opt(REFERRAL_SUBJECT, subject.as_deref())?;
    let id: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO referrals (person_id, kind, state, urgent, from_region, to_region, reason, documents, sent_on, deadline, change_id, subject, subject_name, \
         assessment_id, sender_unit, contact_name, contact_phone) \
         VALUES ($1, $2, 'initiated', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING id")
        .bind(person_id).bind(&rule.code).bind(rule.urgent).bind(&from).bind(to_region).bind(&reason)
        .bind(serde_json::to_string(&documents)?).bind(new.sent_on).bind(deadline).bind(change).bind(&subject).bind(&subject_name)
        .bind(assessment_id).bind(&contact.unit).bind(&contact.name).bind(&contact.phone)
        .fetch_one(&mut **c).await)?;
    for c in &carried {
        match c.content {
            KeptContent::File(f) => {
                let sha = hex::encode(Sha256::digest(&f.bytes));
                on_tx!(tx, conn => sqlx::query(
                    "INSERT INTO referral_documents (referral_id, slot, media_type, file_name, size, sha256, content) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                    .bind(id).bind(c.slot).bind(f.media_type).bind(&f.file_name).bind(f.bytes.len() as i64).bind(&sha).bind(&f.bytes)
                    .execute(&mut **conn).await.map(drop))?;
            }
            KeptContent::Text(t) => {
                let body = tx.keys.seal(REFERRAL_DOCUMENT_BODY, t)?;
                on_tx!(tx, conn => sqlx::query(
                    "INSERT INTO referral_documents (referral_id, slot, size, body) VALUES ($1, $2, $3, $4)")
                    .bind(id).bind(c.slot).bind(t.len() as i64).bind(&body)
                    .execute(&mut **conn).await.map(drop))?;
            }
        }
    }
    on_tx!(tx, c => sqlx::query("INSERT INTO referral_events (referral_id, change_id, event, from_state, to_state) VALUES ($1, $2, 'send', NULL, 'initiated')")
        .bind(id).bind(change).execute(&mut **c).await.map(drop))?;
    audit::record(tx, &desk.actor, "referral.send", person_id.map(Target::person),
        serde_json::json!({"referral": id, "kind": rule.code, "to": to_region, "new_person": subject.is_some(), "assessment": assessment_id, "documents": carried.len()})).await?;
    Ok(Ok(id))
}

/// Why a step was not taken; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActRefusal {
    /// No such referral on the caller's side (the same answer as absent).
    NotFound,
    Rule(ReferralError),
    /// Accepting a discharge of a new person: the identity it carries no longer passes the entry
    /// rules (by field).
    SubjectInvalid(Vec<RowError>),
    /// Accepting a discharge of a new person: the ID number is registered outside the receiver's
    /// scope; that region must send a transfer. Who and where is not revealed.
    RegisteredElsewhere,
}

#[derive(sqlx::FromRow)]
struct Row {
    person_id: Option<i64>,
    kind: String,
    state: String,
    from_region: String,
    to_region: String,
    sent_on: NaiveDate,
    subject: Option<String>,
}

/// `AND kind IN ($n, …)` for the kinds of a desk, numbered from `first`.
fn kinds_clause(column: &str, kinds: &[String], first: usize) -> String {
    if kinds.is_empty() {
        return " AND 1 = 0".into();
    }
    let list: Vec<String> = (0..kinds.len())
        .map(|i| format!("${}", first + i))
        .collect();
    format!(" AND {column} IN ({})", list.join(", "))
}

/// Take `event` on referral `id`: accept, return, complete by the receiver (its `to_region` in the
/// desk's scope, its kind one the desk receives), resend by the sender, expire by the system.
/// Accepting a discharge of a person not yet in the registry creates the record in the receiving
/// township (or links the one already there).
pub async fn act(
    tx: &mut Tx,
    desk: &Desk,
    book: &Book,
    tree: &RegionTree,
    id: i64,
    event: &ReferralEvent,
    today: NaiveDate,
) -> anyhow::Result<Result<ReferralState, ActRefusal>> {
    let (lo, hi) = desk.scope.bounds();
    let (side, kinds) = if matches!(event, ReferralEvent::Resend) {
        ("from_region", &desk.sends)
    } else {
        ("to_region", &desk.receives)
    };
    let lock = tx.backend().for_update();
    let sql = format!(
        "SELECT person_id, kind, state, from_region, to_region, sent_on, subject FROM referrals WHERE id = $1 AND {side} >= $2 AND {side} < $3{}{}{lock}",
        kinds_clause("kind", kinds, 4),
        desk.scope.about_sql("referrals.person_id", false)
    );
    let row: Option<Row> = on_tx!(tx, c => {
        let mut q = sqlx::query_as(&sql).bind(id).bind(&lo).bind(&hi);
        for k in kinds {
            q = q.bind(k);
        }
        q.fetch_optional(&mut **c).await
    })?;
    let Some(mut row) = row else {
        return Ok(Err(ActRefusal::NotFound));
    };
    open_in_place(&tx.keys, REFERRAL_SUBJECT, &mut row.subject)?;
    let Some(from) = ReferralState::from_code(&row.state) else {
        return Ok(Err(ActRefusal::NotFound));
    };
    let to = match referral::next(from, event) {
        Ok(to) => to,
        Err(e) => return Ok(Err(ActRefusal::Rule(e))),
    };
    // A new person's record is made (or found) before anything is written, so a refusal writes nothing.
    let mut person_id = row.person_id;
    let mut new_record = None;
    if to == ReferralState::Accepted
        && person_id.is_none()
        && let Some(subject) = &row.subject
    {
        let values: BTreeMap<String, String> = serde_json::from_str(subject)?;
        let record = match validate_subject(tree, &row.to_region, &values, today) {
            Ok(r) => r,
            Err(errors) => return Ok(Err(ActRefusal::SubjectInvalid(errors))),
        };
        let found =
            persons::lookup_id_numbers(tx, &desk.scope, &[record.data.id_number.as_str()]).await?;
        if let Some(existing) = found.inside.values().next() {
            person_id = Some(existing.id);
        } else if !found.elsewhere.is_empty() {
            return Ok(Err(ActRefusal::RegisteredElsewhere));
        } else {
            new_record = Some(record);
        }
    }
    let rule = book.rules.kind(&row.kind);
    let accepted_on = matches!(to, ReferralState::Accepted).then_some(today);
    let deadline = match (rule, to) {
        (Some(r), ReferralState::Initiated) => referral::deadline(r, &book.cal, to, today, None),
        (Some(r), ReferralState::Accepted) => {
            referral::deadline(r, &book.cal, to, row.sent_on, Some(today))
        }
        _ => None,
    };
    let change = open_change_set(tx, &desk.actor, "referral", event.code()).await?;
    if let Some(record) = new_record {
        let ids = persons::insert_many(
            tx,
            &desk.scope,
            (change, today),
            std::slice::from_ref(&record),
        )
        .await?;
        let created = *ids
            .first()
            .ok_or_else(|| anyhow::anyhow!("insert returned no id"))?;
        audit::record(
            tx,
            &desk.actor,
            "person.create",
            Some(Target::person(created)),
            serde_json::json!({"change_set": change, "referral": id}),
        )
        .await?;
        person_id = Some(created);
    }
    on_tx!(tx, c => sqlx::query(
        "UPDATE referrals SET state = $1, accepted_on = COALESCE($2, accepted_on), deadline = $3, \
         sent_on = CASE WHEN $1 = 'initiated' THEN $4 ELSE sent_on END, person_id = $5 WHERE id = $6")
        .bind(to.code()).bind(accepted_on).bind(deadline).bind(today).bind(person_id).bind(id).execute(&mut **c).await.map(drop))?;
    let reason = match event {
        ReferralEvent::Return { reason } => Some(reason.trim().to_string()),
        _ => None,
    };
    let reason = tx.keys.seal_opt(REFERRAL_EVENT_REASON, reason.as_deref())?;
    on_tx!(tx, c => sqlx::query("INSERT INTO referral_events (referral_id, change_id, event, from_state, to_state, reason) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id).bind(change).bind(event.code()).bind(from.code()).bind(to.code()).bind(&reason).execute(&mut **c).await.map(drop))?;
    // A transfer, once accepted, moves the person into the receiver's region (and scope).
    if row.kind == "transfer"
        && to == ReferralState::Accepted
        && let Some(pid) = person_id
    {
        let old: Option<String> = on_tx!(tx, c => sqlx::query_scalar("SELECT residence_region FROM persons WHERE id = $1")
            .bind(pid).fetch_optional(&mut **c).await)?;
        on_tx!(tx, c => sqlx::query("UPDATE persons SET residence_region = $1, version = version + 1, updated_change = $2 WHERE id = $3")
            .bind(&row.to_region).bind(change).bind(pid).execute(&mut **c).await.map(drop))?;
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO person_history (person_id, change_id, field, old_value, new_value) VALUES ($1, $2, 'residence_region', $3, $4)")
            .bind(pid).bind(change).bind(old.unwrap_or(row.from_region)).bind(&row.to_region).execute(&mut **c).await.map(drop))?;
    }
    audit::record(tx, &desk.actor, &format!("referral.{}", event.code()), person_id.map(Target::person),
        serde_json::json!({"referral": id, "from": from.code(), "to": to.code(), "reason_given": reason.is_some()})).await?;
    Ok(Ok(to))
}

/// A referral as its lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralItem {
    pub id: i64,
    pub person_id: Option<i64>,
    pub person_name: Option<String>,
    pub kind: String,
    pub state: String,
    pub urgent: bool,
    pub from_region: String,
    pub to_region: String,
    pub reason: Option<String>,
    pub sent_on: NaiveDate,
    pub accepted_on: Option<NaiveDate>,
    pub deadline: Option<NaiveDate>,
}

const ITEM: &str = "r.id, r.person_id, COALESCE(p.name, r.subject_name) AS person_name, r.kind, r.state, r.urgent, r.from_region, r.to_region, r.reason, r.sent_on, r.accepted_on, r.deadline";

/// Which of a desk's referrals a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tray {
    /// Received and not finished (发起, 已接收, 超时): urgent first, then by deadline.
    Inbox,
    /// Received and waiting for acceptance (发起).
    Waiting,
    /// Received and late: 超时, or past its deadline and not yet marked.
    Late,
}

/// Referrals received by the desk.
pub async fn received(
    tx: &mut Tx,
    desk: &Desk,
    tray: Tray,
    today: NaiveDate,
) -> anyhow::Result<Vec<ReferralItem>> {
    let (lo, hi) = desk.scope.bounds();
    let which = match tray {
        Tray::Inbox => "r.state IN ('initiated', 'accepted', 'timed_out')",
        Tray::Waiting => "r.state = 'initiated'",
        Tray::Late => {
            "(r.state = 'timed_out' OR (r.state IN ('initiated', 'accepted') AND r.deadline < $3))"
        }
    };
    let dated = tray == Tray::Late;
    let sql = format!(
        "SELECT {ITEM} FROM referrals r LEFT JOIN persons p ON p.id = r.person_id \
         WHERE r.to_region >= $1 AND r.to_region < $2 AND {which}{}{} ORDER BY r.urgent DESC, r.deadline, r.id",
        kinds_clause("r.kind", &desk.receives, if dated { 4 } else { 3 }),
        desk.scope.about_sql("r.person_id", false)
    );
    let rows = on_tx!(tx, c => {
        let mut q = sqlx::query_as(&sql).bind(&lo).bind(&hi);
        if dated {
            q = q.bind(today);
        }
        for k in &desk.receives {
            q = q.bind(k);
        }
        q.fetch_all(&mut **c).await
    })?;
    open_each(&tx.keys, REFERRAL_REASON, rows, |r: &mut ReferralItem| {
        &mut r.reason
    })
}

/// What was sent to the desk and is not finished: urgent first, then by deadline.
pub async fn inbox(tx: &mut Tx, desk: &Desk) -> anyhow::Result<Vec<ReferralItem>> {
    received(tx, desk, Tray::Inbox, NaiveDate::MIN).await
}

/// What the desk's region sent, newest first — the sender's read-only trace, also after a transfer
/// took the person out of its scope.
pub async fn sent(tx: &mut Tx, desk: &Desk, limit: i64) -> anyhow::Result<Vec<ReferralItem>> {
    let (lo, hi) = desk.scope.bounds();
    // The newest ids first, from the (kind, from_region, id) index alone; only those rows are
    // read and joined (a county hospital sends tens of thousands a year).
    let sql = format!(
        "SELECT {ITEM} FROM referrals r LEFT JOIN persons p ON p.id = r.person_id WHERE r.id IN \
         (SELECT id FROM referrals WHERE from_region >= $1 AND from_region < $2{}{} ORDER BY id DESC LIMIT $3) ORDER BY r.id DESC",
        kinds_clause("kind", &desk.sends, 4),
        desk.scope.about_sql("referrals.person_id", false)
    );
    let rows = on_tx!(tx, c => {
        let mut q = sqlx::query_as(&sql).bind(&lo).bind(&hi).bind(limit);
        for k in &desk.sends {
            q = q.bind(k);
        }
        q.fetch_all(&mut **c).await
    })?;
    open_each(&tx.keys, REFERRAL_REASON, rows, |r: &mut ReferralItem| {
        &mut r.reason
    })
}

/// One step of a referral: when, by whom, what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralStepRow {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub event: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub reason: Option<String>,
}

/// A document a referral carries, as listed: a file (its content read through [`document`]) or a
/// form filled in as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CarriedDocument {
    pub id: i64,
    pub slot: String,
    /// A file's type (`application/pdf`, `image/jpeg`, `image/png`); absent for a filled form.
    pub media_type: Option<String>,
    pub file_name: Option<String>,
    /// Bytes of a file, or of the text.
    pub size: i64,
    /// The form as filled in; absent for a file.
    pub text: Option<String>,
}

/// The sending unit and whom to call there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SenderContact {
    pub unit: String,
    pub name: String,
    pub phone: String,
}

/// A referral with its documents, the identity it carries (a new person) and its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferralDetail {
    pub item: ReferralItem,
    /// The slots present (names of `data/referrals.json`).
    pub documents: Vec<String>,
    /// The documents themselves: files and filled forms, in the order sent.
    pub carried: Vec<CarriedDocument>,
    /// The assessment that stands for the kind's assessed document, as recorded.
    pub assessment: Option<crate::store::assessments::StoredAssessment>,
    /// Who sent it and whom to call (absent on referrals sent before this was asked).
    pub contact: Option<SenderContact>,
    /// The person form's values of a person not yet in the registry (unmasked: the caller masks).
    pub subject: Option<BTreeMap<String, String>>,
    pub steps: Vec<ReferralStepRow>,
    /// The desk is on the receiving side (may accept, return, complete).
    pub receiving: bool,
    /// The desk is on the sending side (may resend).
    pub sending: bool,
}

#[derive(sqlx::FromRow)]
struct DetailRow {
    #[sqlx(flatten)]
    item: ReferralItem,
    documents: String,
    subject: Option<String>,
    assessment_id: Option<i64>,
    sender_unit: Option<String>,
    contact_name: Option<String>,
    contact_phone: Option<String>,
}

/// Referral `id` with the desk on either side of it: (receiving, sending, its row).
async fn on_either_side(
    tx: &mut Tx,
    desk: &Desk,
    id: i64,
) -> anyhow::Result<Option<(bool, bool, DetailRow)>> {
    let sql = format!(
        "SELECT {ITEM}, r.documents, r.subject, r.assessment_id, r.sender_unit, r.contact_name, r.contact_phone \
         FROM referrals r LEFT JOIN persons p ON p.id = r.person_id WHERE r.id = $1{}",
        desk.scope.about_sql("r.person_id", false)
    );
    let row: Option<DetailRow> =
        on_tx!(tx, c => sqlx::query_as(&sql).bind(id).fetch_optional(&mut **c).await)?;
    let Some(row) = row else { return Ok(None) };
    let receiving =
        desk.scope.contains(&row.item.to_region) && desk.receives.contains(&row.item.kind);
    let sending = desk.scope.contains(&row.item.from_region) && desk.sends.contains(&row.item.kind);
    Ok((receiving || sending).then_some((receiving, sending, row)))
}

/// A file referral `id` carries, if the desk is on either side of it: (media type, file name,
/// content). The read is audited.
pub async fn document(
    tx: &mut Tx,
    desk: &Desk,
    id: i64,
    document_id: i64,
) -> anyhow::Result<Option<(String, String, Vec<u8>)>> {
    let Some((_, _, row)) = on_either_side(tx, desk, id).await? else {
        return Ok(None);
    };
    let found: Option<(String, String, Vec<u8>)> = on_tx!(tx, c => sqlx::query_as(
        "SELECT media_type, file_name, content FROM referral_documents WHERE id = $1 AND referral_id = $2 AND content IS NOT NULL")
        .bind(document_id).bind(id).fetch_optional(&mut **c).await)?;
    if found.is_some() {
        audit::record(
            tx,
            &desk.actor,
            "referral.document.read",
            row.item.person_id.map(Target::person),
            serde_json::json!({"referral": id, "document": document_id}),
        )
        .await?;
    }
    Ok(found)
}

/// Referral `id` if the desk is on either side of it; the read is audited.
pub async fn get(tx: &mut Tx, desk: &Desk, id: i64) -> anyhow::Result<Option<ReferralDetail>> {
    let Some((receiving, sending, mut row)) = on_either_side(tx, desk, id).await? else {
        return Ok(None);
    };
    open_in_place(&tx.keys, REFERRAL_REASON, &mut row.item.reason)?;
    open_in_place(&tx.keys, REFERRAL_SUBJECT, &mut row.subject)?;
    let carried: Vec<CarriedDocument> = on_tx!(tx, c => sqlx::query_as(
        "SELECT id, slot, media_type, file_name, size, body AS text FROM referral_documents WHERE referral_id = $1 ORDER BY id")
        .bind(id).fetch_all(&mut **c).await)?;
    let carried = open_each(
        &tx.keys,
        REFERRAL_DOCUMENT_BODY,
        carried,
        |d: &mut CarriedDocument| &mut d.text,
    )?;
    // The assessment the sender's scope found; the receiver reads it through the referral.
    let assessment = match row.assessment_id {
        Some(aid) => crate::store::assessments::by_id(tx, aid).await?,
        None => None,
    };
    let contact = match (
        row.sender_unit.take(),
        row.contact_name.take(),
        row.contact_phone.take(),
    ) {
        (Some(unit), Some(name), Some(phone)) => Some(SenderContact { unit, name, phone }),
        _ => None,
    };
    let steps: Vec<ReferralStepRow> = on_tx!(tx, c => sqlx::query_as(
        "SELECT cs.at, cs.actor, e.event, e.from_state, e.to_state, e.reason FROM referral_events e \
         JOIN change_sets cs ON cs.id = e.change_id WHERE e.referral_id = $1 ORDER BY e.id")
        .bind(id).fetch_all(&mut **c).await)?;
    let steps = open_each(
        &tx.keys,
        REFERRAL_EVENT_REASON,
        steps,
        |s: &mut ReferralStepRow| &mut s.reason,
    )?;
    audit::record(
        tx,
        &desk.actor,
        "referral.read",
        row.item.person_id.map(Target::person),
        serde_json::json!({"referral": id}),
    )
    .await?;
    Ok(Some(ReferralDetail {
        documents: serde_json::from_str(&row.documents)?,
        carried,
        assessment,
        contact,
        subject: row
            .subject
            .as_deref()
            .map(serde_json::from_str)
            .transpose()?,
        item: row.item,
        steps,
        receiving,
        sending,
    }))
}

/// Mark every referral whose deadline passed before `today` as 超时 (a system step, audited).
/// Returns how many.
pub async fn expire_due(
    tx: &mut Tx,
    book: &Book,
    tree: &RegionTree,
    today: NaiveDate,
) -> anyhow::Result<u64> {
    let due: Vec<i64> = on_tx!(tx, c => sqlx::query_scalar(
        "SELECT id FROM referrals WHERE state IN ('initiated', 'accepted') AND deadline < $1 ORDER BY id")
        .bind(today).fetch_all(&mut **c).await)?;
    let desk = Desk::system(book);
    let mut n = 0;
    for id in due {
        if act(tx, &desk, book, tree, id, &ReferralEvent::Expire, today)
            .await?
            .is_ok()
        {
            n += 1;
        }
    }
    Ok(n)
}
