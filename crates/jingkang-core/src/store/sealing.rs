//! Encryption at rest of the person record (SPEC §10): which columns are sealed, how a record is
//! sealed for writing and opened after reading, and the batched step that seals the values of a
//! database written before encryption (or rotates them to a new key).
//!
//! Sealed: the person's ID number, phones, diagnosis (code and name), notes and disability certificate number (it embeds the ID number); the guardian's
//! phones and ID number; the old and new values of those fields in the history. Searched through
//! blind indexes on `persons`: `id_hash` (the whole ID number; unique), `id_bi6`, `id_bi14`,
//! `id_bi4` (first 6, first 14, last 4 characters) and `dx_bi3` (the diagnosis's ICD-10
//! category, for the reports). The cipher and indexes are [`crate::secrets::Keys`], carried by
//! every [`Tx`].

use anyhow::Context;

use super::Db;
use super::bulk::{self, Col, Rows};
use crate::on_tx;
use crate::registry::{Guardian, PersonData};
use crate::secrets::{Index, Keys};

/// The sealed columns of `persons`, with the name each is sealed under (its associated data).
pub const PERSON_SEALED: &[(&str, &str)] = &[
    ("id_number", "persons.id_number"),
    ("phone", "persons.phone"),
    ("phone_alt", "persons.phone_alt"),
    ("diagnosis_code", "persons.diagnosis_code"),
    ("diagnosis_name", "persons.diagnosis_name"),
    ("notes", "persons.notes"),
    ("disability_certificate", "persons.disability_certificate"),
];

/// The sealed columns of `guardians`.
pub const GUARDIAN_SEALED: &[(&str, &str)] = &[
    ("phone", "guardians.phone"),
    ("phone_alt", "guardians.phone_alt"),
    ("id_number", "guardians.id_number"),
];

/// Sealed columns outside `persons`, with the name each is sealed under.
pub struct SealedColumns {
    pub table: &'static str,
    pub columns: &'static [(&'static str, &'static str)],
}

pub const FOLLOWUP_ANSWERS: &str = "followups.answers";
pub const ASSESSMENT_ANSWERS: &str = "assessments.answers";
pub const EMERGENCY_DESCRIPTION: &str = "emergencies.description";
pub const EMERGENCY_OUTCOME: &str = "emergencies.outcome";
pub const EMERGENCY_LATE_REASON: &str = "emergencies.late_reason";
pub const SESSION_NOTES: &str = "service_sessions.notes";
pub const RESPITE_NOTES: &str = "respite_episodes.notes";
pub const MEETING_NOTES: &str = "mutual_aid_meetings.notes";
pub const REFERRAL_REASON: &str = "referrals.reason";
pub const REFERRAL_SUBJECT: &str = "referrals.subject";
pub const REFERRAL_EVENT_REASON: &str = "referral_events.reason";
pub const REFERRAL_DOCUMENT_BODY: &str = "referral_documents.body";
pub const REGISTRATION_REASON: &str = "registration_events.reason";
pub const LIST_ID_NUMBER: &str = "exchange_rows.id_number";
pub const LIST_PHONE: &str = "exchange_rows.phone";
pub const LIST_CERTIFICATE: &str = "exchange_rows.certificate";

/// Every sealed column outside `persons` (a rotation re-seals them all; `person_history` only
/// for the fields of [`HISTORY_SEALED`]).
pub const SEALED_ELSEWHERE: &[SealedColumns] = &[
    SealedColumns {
        table: "guardians",
        columns: &[
            ("phone", "guardians.phone"),
            ("phone_alt", "guardians.phone_alt"),
            ("id_number", "guardians.id_number"),
        ],
    },
    SealedColumns {
        table: "person_history",
        columns: &[("old_value", HISTORY_VALUE), ("new_value", HISTORY_VALUE)],
    },
    SealedColumns {
        table: "exchange_rows",
        columns: &[
            ("id_number", LIST_ID_NUMBER),
            ("phone", LIST_PHONE),
            ("certificate", LIST_CERTIFICATE),
        ],
    },
    SealedColumns {
        table: "followups",
        columns: &[("answers", FOLLOWUP_ANSWERS)],
    },
    SealedColumns {
        table: "assessments",
        columns: &[("answers", ASSESSMENT_ANSWERS)],
    },
    SealedColumns {
        table: "emergencies",
        columns: &[
            ("description", EMERGENCY_DESCRIPTION),
            ("outcome", EMERGENCY_OUTCOME),
            ("late_reason", EMERGENCY_LATE_REASON),
        ],
    },
    SealedColumns {
        table: "service_sessions",
        columns: &[("notes", SESSION_NOTES)],
    },
    SealedColumns {
        table: "respite_episodes",
        columns: &[("notes", RESPITE_NOTES)],
    },
    SealedColumns {
        table: "mutual_aid_meetings",
        columns: &[("notes", MEETING_NOTES)],
    },
    SealedColumns {
        table: "referrals",
        columns: &[("reason", REFERRAL_REASON), ("subject", REFERRAL_SUBJECT)],
    },
    SealedColumns {
        table: "referral_events",
        columns: &[("reason", REFERRAL_EVENT_REASON)],
    },
    SealedColumns {
        table: "referral_documents",
        columns: &[("body", REFERRAL_DOCUMENT_BODY)],
    },
    SealedColumns {
        table: "registration_events",
        columns: &[("reason", REGISTRATION_REASON)],
    },
];

/// History fields whose old and new values are sealed (under `person_history.value`).
pub const HISTORY_SEALED: &[&str] = &[
    "id_number",
    "phone",
    "phone_alt",
    "diagnosis_code",
    "diagnosis_name",
    "notes",
    "disability_certificate",
    "guardian1.phone",
    "guardian1.phone_alt",
    "guardian1.id_number",
];

const HISTORY_VALUE: &str = "person_history.value";

/// Whether the history of `field` is sealed.
pub fn history_sealed(field: &str) -> bool {
    HISTORY_SEALED.contains(&field)
}

/// The blind indexes of a person row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonIndexes {
    pub id_hash: String,
    pub id_bi6: String,
    pub id_bi14: String,
    pub id_bi4: String,
    pub dx_bi3: Option<String>,
}

/// The blind index of a diagnosis's ICD-10 category (`F20.0` → that of `F20`).
pub fn diagnosis_index(keys: &Keys, code: Option<&str>) -> anyhow::Result<Option<String>> {
    code.map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            let category: String = c.chars().take(3).collect::<String>().to_ascii_uppercase();
            keys.index(Index::Diagnosis3, &category)
        })
        .transpose()
        .map_err(anyhow::Error::new)
}

/// The indexes of a person's (plain) record.
pub fn person_indexes(keys: &Keys, d: &PersonData) -> anyhow::Result<PersonIndexes> {
    let id = keys.id_indexes(&d.id_number)?;
    Ok(PersonIndexes {
        id_hash: id.whole,
        id_bi6: id.first6,
        id_bi14: id.first14,
        id_bi4: id.last4,
        dx_bi3: diagnosis_index(keys, d.diagnosis_code.as_deref())?,
    })
}

/// A copy of `d` with its sealed columns sealed, for writing.
pub fn sealed_person(keys: &Keys, d: &PersonData) -> anyhow::Result<PersonData> {
    let mut s = d.clone();
    s.id_number = keys.seal("persons.id_number", &d.id_number)?;
    s.phone = keys.seal_opt("persons.phone", d.phone.as_deref())?;
    s.phone_alt = keys.seal_opt("persons.phone_alt", d.phone_alt.as_deref())?;
    s.diagnosis_code = keys.seal_opt("persons.diagnosis_code", d.diagnosis_code.as_deref())?;
    s.diagnosis_name = keys.seal_opt("persons.diagnosis_name", d.diagnosis_name.as_deref())?;
    s.notes = keys.seal_opt("persons.notes", d.notes.as_deref())?;
    s.disability_certificate = keys.seal_opt(
        "persons.disability_certificate",
        d.disability_certificate.as_deref(),
    )?;
    Ok(s)
}

/// Open the sealed columns of a record read from the database, in place.
pub fn open_person(keys: &Keys, d: &mut PersonData) -> anyhow::Result<()> {
    d.id_number = keys.open("persons.id_number", &d.id_number)?;
    open_in_place(keys, "persons.phone", &mut d.phone)?;
    open_in_place(keys, "persons.phone_alt", &mut d.phone_alt)?;
    open_in_place(keys, "persons.diagnosis_code", &mut d.diagnosis_code)?;
    open_in_place(keys, "persons.diagnosis_name", &mut d.diagnosis_name)?;
    open_in_place(keys, "persons.notes", &mut d.notes)?;
    open_in_place(
        keys,
        "persons.disability_certificate",
        &mut d.disability_certificate,
    )?;
    Ok(())
}

/// Seal one value of a sealed person column for an UPDATE (`None` when `column` is not sealed).
pub fn seal_person_column(
    keys: &Keys,
    column: &str,
    value: Option<&str>,
) -> anyhow::Result<Option<Option<String>>> {
    let Some((_, label)) = PERSON_SEALED.iter().find(|(c, _)| *c == column) else {
        return Ok(None);
    };
    Ok(Some(keys.seal_opt(label, value)?))
}

/// A copy of `g` with its sealed columns sealed.
pub fn sealed_guardian(keys: &Keys, g: &Guardian) -> anyhow::Result<Guardian> {
    Ok(Guardian {
        name: g.name.clone(),
        relation: g.relation.clone(),
        phone: keys.seal_opt("guardians.phone", g.phone.as_deref())?,
        phone_alt: keys.seal_opt("guardians.phone_alt", g.phone_alt.as_deref())?,
        id_number: keys.seal_opt("guardians.id_number", g.id_number.as_deref())?,
    })
}

/// Open a guardian read from the database, in place.
pub fn open_guardian(keys: &Keys, g: &mut Guardian) -> anyhow::Result<()> {
    open_in_place(keys, "guardians.phone", &mut g.phone)?;
    open_in_place(keys, "guardians.phone_alt", &mut g.phone_alt)?;
    open_in_place(keys, "guardians.id_number", &mut g.id_number)?;
    Ok(())
}

/// A history value of `field` as stored (sealed when the field is).
pub fn seal_history(
    keys: &Keys,
    field: &str,
    value: Option<&str>,
) -> anyhow::Result<Option<String>> {
    if history_sealed(field) {
        Ok(keys.seal_opt(HISTORY_VALUE, value)?)
    } else {
        Ok(value.map(str::to_string))
    }
}

/// A history value of `field` as read.
pub fn open_history(keys: &Keys, value: &mut Option<String>) -> anyhow::Result<()> {
    open_in_place(keys, HISTORY_VALUE, value)
}

/// Open a sealed text value read from the database, in place (a value written before encryption
/// passes as it is).
pub fn open_text(keys: &Keys, column: &'static str, v: &mut String) -> anyhow::Result<()> {
    if Keys::is_sealed(v) {
        *v = keys.open(column, v)?;
    }
    Ok(())
}

/// Rows as read, one nullable sealed field of each opened.
pub fn open_each<T>(
    keys: &Keys,
    column: &'static str,
    mut rows: Vec<T>,
    field: impl Fn(&mut T) -> &mut Option<String>,
) -> anyhow::Result<Vec<T>> {
    for r in &mut rows {
        open_in_place(keys, column, field(r))?;
    }
    Ok(rows)
}

/// [`open_text`] for a nullable column.
pub fn open_in_place(
    keys: &Keys,
    column: &'static str,
    v: &mut Option<String>,
) -> anyhow::Result<()> {
    if let Some(s) = v.as_deref().filter(|s| Keys::is_sealed(s)) {
        *v = Some(keys.open(column, s)?);
    }
    Ok(())
}

/// Rows sealed per transaction by [`seal_pending`].
pub const BATCH: usize = 2_000;

/// How far sealing (or a rotation) got.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    pub persons: u64,
    pub guardians: u64,
    pub history: u64,
    /// Values of the other tables ([`SEALED_ELSEWHERE`]).
    pub other: u64,
    /// Every row was looked at (not stopped by a limit).
    pub complete: bool,
}

/// Seal (or re-seal under the current key) every value not yet sealed under it, and (re)compute
/// the blind indexes, in batches of [`BATCH`] rows, each its own transaction: an interrupted run
/// leaves whole batches done and is resumed by running again. `limit` stops after that many
/// batches of `batch` rows (tests of resuming use small ones). Returns the rows written.
pub async fn seal_pending(db: &Db, batch: usize, limit: Option<usize>) -> anyhow::Result<Sealed> {
    let batch = batch.max(1) as i64;
    let mut ends = 0;
    let keys = db.keys().clone();
    anyhow::ensure!(keys.is_set(), "no key to seal with");
    let mut done = Sealed::default();
    let mut batches = 0usize;
    let more = |b: usize| limit.is_none_or(|l| b < l);
    // Persons: those without an index yet (written before encryption), or sealed under another
    // key (a rotation). Walked by id, so each batch starts where the previous ended.
    let mut after = 0i64;
    while more(batches) {
        let mut tx = db.begin().await?;
        let rows: Vec<PendingPerson> = on_tx!(&mut tx, c => sqlx::query_as(
            "SELECT id, id_number, phone, phone_alt, diagnosis_code, diagnosis_name, notes, disability_certificate, id_hash IS NULL AS unindexed \
             FROM persons WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after).bind(batch).fetch_all(&mut **c).await)?;
        let Some(last) = rows.last().map(|r| r.id) else {
            ends += 1;
            break;
        };
        after = last;
        let mut out = Rows::new();
        let mut n = 0u64;
        for r in rows {
            let PendingPerson {
                id,
                id_number: idn,
                phone,
                phone_alt,
                diagnosis_code: dx,
                diagnosis_name: dx_name,
                notes,
                disability_certificate: cert,
                unindexed,
            } = r;
            let values = [
                Some(&idn),
                phone.as_ref(),
                phone_alt.as_ref(),
                dx.as_ref(),
                dx_name.as_ref(),
                notes.as_ref(),
                cert.as_ref(),
            ];
            if values.iter().flatten().all(|v| keys.is_current(v)) && !unindexed {
                continue;
            }
            let open = |col, v: Option<&String>| -> anyhow::Result<Option<String>> {
                Ok(keys.open_opt(col, v.map(String::as_str))?)
            };
            let plain = PersonData {
                id_number: keys.open("persons.id_number", &idn)?,
                phone: open("persons.phone", phone.as_ref())?,
                phone_alt: open("persons.phone_alt", phone_alt.as_ref())?,
                diagnosis_code: open("persons.diagnosis_code", dx.as_ref())?,
                diagnosis_name: open("persons.diagnosis_name", dx_name.as_ref())?,
                notes: open("persons.notes", notes.as_ref())?,
                disability_certificate: open("persons.disability_certificate", cert.as_ref())?,
                ..Default::default()
            };
            let s = sealed_person(&keys, &plain)?;
            let ix = person_indexes(&keys, &plain)?;
            out.row()
                .int(Some(id))
                .text(Some(&s.id_number))
                .text(s.phone.as_deref())
                .text(s.phone_alt.as_deref())
                .text(s.diagnosis_code.as_deref())
                .text(s.diagnosis_name.as_deref())
                .text(s.notes.as_deref())
                .text(s.disability_certificate.as_deref())
                .text(Some(&ix.id_hash))
                .text(Some(&ix.id_bi6))
                .text(Some(&ix.id_bi14))
                .text(Some(&ix.id_bi4))
                .text(ix.dx_bi3.as_deref())
                .end_row();
            n += 1;
        }
        if n > 0 {
            bulk::update(
                &mut tx,
                "persons",
                &[
                    ("id", Col::Int),
                    ("id_number", Col::Text),
                    ("phone", Col::Text),
                    ("phone_alt", Col::Text),
                    ("diagnosis_code", Col::Text),
                    ("diagnosis_name", Col::Text),
                    ("notes", Col::Text),
                    ("disability_certificate", Col::Text),
                    ("id_hash", Col::Text),
                    ("id_bi6", Col::Text),
                    ("id_bi14", Col::Text),
                    ("id_bi4", Col::Text),
                    ("dx_bi3", Col::Text),
                ],
                out,
            )
            .await
            .context("sealing persons")?;
        }
        tx.commit().await?;
        done.persons += n;
        batches += 1;
    }
    // Everything else: the values not sealed under the current key.
    for t in SEALED_ELSEWHERE {
        let (n, ended) = reseal_table(db, &keys, t, batch, &mut batches, &more).await?;
        match t.table {
            "guardians" => done.guardians += n,
            "person_history" => done.history += n,
            _ => done.other += n,
        }
        ends += usize::from(ended);
    }
    done.complete = ends == 1 + SEALED_ELSEWHERE.len();
    Ok(done)
}

/// Re-seal the values of one table not sealed under the current key, in batches; returns the rows
/// written and whether the table was walked to its end.
async fn reseal_table(
    db: &Db,
    keys: &Keys,
    t: &SealedColumns,
    batch: i64,
    batches: &mut usize,
    more: &impl Fn(usize) -> bool,
) -> anyhow::Result<(u64, bool)> {
    let filter = if t.table == "person_history" {
        let fields = HISTORY_SEALED
            .iter()
            .map(|f| format!("'{f}'"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(" AND field IN ({fields})")
    } else {
        String::new()
    };
    let cols: Vec<&str> = t.columns.iter().map(|(c, _)| *c).collect();
    let sql = format!(
        "SELECT id, {} FROM {} WHERE id > $1{filter} ORDER BY id LIMIT $2",
        cols.iter()
            .map(|c| format!("CAST({c} AS TEXT)"))
            .collect::<Vec<_>>()
            .join(", "),
        t.table
    );
    let mut spec = vec![("id", Col::Int)];
    spec.extend(cols.iter().map(|c| (*c, Col::Text)));
    let mut after = 0i64;
    let mut written = 0u64;
    while more(*batches) {
        let mut tx = db.begin().await?;
        let rows: Vec<Vec<Option<String>>> = on_tx!(&mut tx, c => {
            use sqlx::Row;
            sqlx::query(&sql).bind(after).bind(batch).fetch_all(&mut **c).await.map(|rows| {
                rows.iter()
                    .map(|r| {
                        let mut v = vec![Some(r.get::<i64, _>(0).to_string())];
                        v.extend((1..=cols.len()).map(|i| r.get::<Option<String>, _>(i)));
                        v
                    })
                    .collect()
            })
        })?;
        let Some(last) = rows.last() else {
            tx.commit().await?;
            return Ok((written, true));
        };
        after = last[0].as_deref().unwrap_or("0").parse()?;
        let mut out = Rows::new();
        let mut n = 0u64;
        for r in rows {
            if r[1..].iter().flatten().all(|v| keys.is_current(v)) {
                continue;
            }
            out.row().int(r[0].as_deref().map(str::parse).transpose()?);
            for (v, (_, label)) in r[1..].iter().zip(t.columns) {
                let plain = keys.open_opt(label, v.as_deref())?;
                out.text(keys.seal_opt(label, plain.as_deref())?.as_deref());
            }
            out.end_row();
            n += 1;
        }
        if n > 0 {
            bulk::update(&mut tx, t.table, &spec, out)
                .await
                .with_context(|| format!("sealing {}", t.table))?;
        }
        tx.commit().await?;
        written += n;
        *batches += 1;
    }
    Ok((written, false))
}

/// One sealed column's values: how many are sealed and how many are not (written before
/// encryption and not yet sealed, or by a path that forgot to seal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnCensus {
    pub table: &'static str,
    pub column: &'static str,
    pub sealed: i64,
    pub plain: i64,
}

/// Count the sealed and plain values of every sealed column (an operator's and a test's check).
pub async fn census(db: &Db) -> anyhow::Result<Vec<ColumnCensus>> {
    let mut all: Vec<(&'static str, &'static str)> =
        PERSON_SEALED.iter().map(|(c, _)| ("persons", *c)).collect();
    for t in SEALED_ELSEWHERE {
        all.extend(t.columns.iter().map(|(c, _)| (t.table, *c)));
    }
    let history = HISTORY_SEALED
        .iter()
        .map(|f| format!("'{f}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = Vec::new();
    let mut tx = db.begin_read().await?;
    for (table, column) in all {
        let only = if table == "person_history" {
            format!(" AND field IN ({history})")
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT COALESCE(SUM(CASE WHEN {column} LIKE 'jk1:%' THEN 1 ELSE 0 END), 0),              COALESCE(SUM(CASE WHEN {column} LIKE 'jk1:%' THEN 0 ELSE 1 END), 0)              FROM {table} WHERE {column} IS NOT NULL{only}"
        );
        let (sealed, plain): (i64, i64) =
            on_tx!(&mut tx, c => sqlx::query_as(&sql).fetch_one(&mut **c).await)?;
        out.push(ColumnCensus {
            table,
            column,
            sealed,
            plain,
        });
    }
    tx.commit().await?;
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct PendingPerson {
    id: i64,
    id_number: String,
    phone: Option<String>,
    phone_alt: Option<String>,
    diagnosis_code: Option<String>,
    diagnosis_name: Option<String>,
    notes: Option<String>,
    disability_certificate: Option<String>,
    unindexed: bool,
}

/// Whether any value is still to seal: a quick look at the first person without indexes.
pub async fn pending(db: &Db) -> anyhow::Result<bool> {
    let mut tx = db.begin_read().await?;
    let found: Option<i64> = on_tx!(&mut tx, c => sqlx::query_scalar("SELECT id FROM persons WHERE id_hash IS NULL LIMIT 1")
        .fetch_optional(&mut **c).await)?;
    tx.commit().await?;
    Ok(found.is_some())
}

/// The state of the key of a database, as `key_check` holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    /// The fingerprint of the key the database is used with.
    pub fingerprint: String,
    /// The key every value was last sealed with (none: not yet all sealed).
    pub sealed_with: Option<String>,
    /// A rotation under way, to this key.
    pub rotating_to: Option<String>,
}

pub async fn key_state(db: &Db) -> anyhow::Result<Option<KeyState>> {
    let mut tx = db.begin_read().await?;
    let row: Option<(String, Option<String>, Option<String>)> = on_tx!(&mut tx, c => sqlx::query_as(
        "SELECT fingerprint, sealed_with, rotating_to FROM key_check WHERE id = 1")
        .fetch_optional(&mut **c).await)?;
    tx.commit().await?;
    Ok(row.map(|(fingerprint, sealed_with, rotating_to)| KeyState {
        fingerprint,
        sealed_with,
        rotating_to,
    }))
}

/// Make sure every value is sealed under the key of fingerprint `fingerprint` (the database's;
/// `db` carries its keys): a database written before encryption is sealed here, in batches, once.
/// Returns what was sealed, or `None` when there was nothing to do.
pub async fn ensure_sealed(db: &Db, fingerprint: &str) -> anyhow::Result<Option<Sealed>> {
    let state = key_state(db).await?;
    if state.as_ref().and_then(|s| s.sealed_with.as_deref()) == Some(fingerprint) {
        return Ok(None);
    }
    let done = seal_pending(db, BATCH, None).await?;
    anyhow::ensure!(done.complete, "sealing stopped before the end");
    mark_sealed(db, fingerprint).await?;
    Ok(Some(done))
}

async fn mark_sealed(db: &Db, fingerprint: &str) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, c => sqlx::query("UPDATE key_check SET sealed_with = $1 WHERE id = 1")
        .bind(fingerprint).execute(&mut **c).await.map(drop))?;
    tx.commit().await
}

/// Rotate the database from its key `old` to `new`: every value re-sealed and every blind index
/// recomputed under `new`, in batches (`limit`: stop after that many, as a test of resuming), then
/// `new` becomes the database's key. Marked while it runs, so that nothing starts with either key
/// until it is finished; running it again resumes. `db` is the database without keys. Returns
/// whether it finished.
pub async fn rotate(
    db: &Db,
    old: &crate::secrets::MasterKey,
    new: &crate::secrets::MasterKey,
    (batch, limit): (usize, Option<usize>),
) -> anyhow::Result<(Sealed, bool)> {
    let target = new.fingerprint();
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, c => sqlx::query("UPDATE key_check SET rotating_to = $1 WHERE id = 1")
        .bind(&target).execute(&mut **c).await.map(drop))?;
    tx.commit().await?;
    let rotating = db.clone().with_keys(Keys::rotating(old, new));
    let done = seal_pending(&rotating, batch, limit).await?;
    if !done.complete {
        return Ok((done, false));
    }
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, c => sqlx::query(
        "UPDATE key_check SET fingerprint = $1, sealed_with = $1, rotating_to = NULL WHERE id = 1")
        .bind(&target).execute(&mut **c).await.map(drop))?;
    tx.commit().await?;
    Ok((done, true))
}
