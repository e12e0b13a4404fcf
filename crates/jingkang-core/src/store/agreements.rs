//! Agreements and their scans: the record, the scanned file, the person's latest service
//! agreement end (for the worklist) and the audit entry in one transaction; the file is read back
//! only through [`scan`], which audits the read.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::audit::{self, Target};
use super::{Actor, Tx, open_change_set};
use crate::care::agreement::{Agreement, AgreementKind};
use crate::on_tx;
use crate::regions::Scope;

/// A scanned file already checked by `care::agreement::check_scan`.
pub struct Scan<'a> {
    pub media_type: &'static str,
    pub file_name: &'a str,
    pub bytes: &'a [u8],
}

async fn in_scope(tx: &mut Tx, scope: &Scope, id: i64) -> anyhow::Result<bool> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT id FROM persons WHERE id = $1 AND residence_region >= $2 AND residence_region < $3{}",
        scope.rows_sql("")
    );
    let found: Option<i64> = on_tx!(tx, c => sqlx::query_scalar(&sql)
        .bind(id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    Ok(found.is_some())
}

/// Record `a` (with its scan) for person `id` in `scope`; `None` when there is no such person.
pub async fn record(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    id: i64,
    a: &Agreement,
    scan: Option<Scan<'_>>,
) -> anyhow::Result<Option<i64>> {
    if !in_scope(tx, scope, id).await? {
        return Ok(None);
    }
    let change = open_change_set(tx, actor, "agreement", a.kind.code()).await?;
    let document: Option<i64> = match &scan {
        Some(s) => {
            let name: String = s.file_name.chars().take(200).collect();
            let sha = hex::encode(Sha256::digest(s.bytes));
            Some(on_tx!(tx, c => sqlx::query_scalar(
                "INSERT INTO documents (person_id, media_type, file_name, size, sha256, content) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                .bind(id).bind(s.media_type).bind(&name).bind(s.bytes.len() as i64).bind(&sha).bind(s.bytes)
                .fetch_one(&mut **c).await)?)
        }
        None => None,
    };
    let aid: i64 = on_tx!(tx, c => sqlx::query_scalar(
        "INSERT INTO agreements (person_id, change_id, kind, signed_on, person_signed, guardian_name, valid_until, document_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
        .bind(id).bind(change).bind(a.kind.code()).bind(a.signed_on).bind(a.person_signed).bind(&a.guardian_name)
        .bind(a.valid_until).bind(document).fetch_one(&mut **c).await)?;
    if a.kind == AgreementKind::Service {
        on_tx!(tx, c => sqlx::query(
            "UPDATE persons SET agreement_valid_until = (SELECT max(valid_until) FROM agreements WHERE person_id = $1 AND kind = 'service') WHERE id = $1")
            .bind(id).execute(&mut **c).await.map(drop))?;
    }
    audit::record(
        tx,
        actor,
        &format!("agreement.{}", a.kind.code()),
        Some(Target::person(id)),
        serde_json::json!({"agreement": aid, "scan": document.is_some()}),
    )
    .await?;
    Ok(Some(aid))
}

/// An agreement as listed (without the file's content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StoredAgreement {
    pub id: i64,
    pub kind: String,
    pub signed_on: NaiveDate,
    pub person_signed: bool,
    pub guardian_name: Option<String>,
    pub valid_until: NaiveDate,
    pub media_type: Option<String>,
    pub file_name: Option<String>,
    pub size: Option<i64>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

impl StoredAgreement {
    pub fn kind(&self) -> Option<AgreementKind> {
        AgreementKind::from_code(&self.kind)
    }
}

/// The agreements of person `id` in `scope`, latest end first.
pub async fn of_person(
    tx: &mut Tx,
    scope: &Scope,
    id: i64,
) -> anyhow::Result<Vec<StoredAgreement>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT a.id, a.kind, a.signed_on, a.person_signed, a.guardian_name, a.valid_until, d.media_type, d.file_name, d.size, cs.actor AS recorded_by, cs.at AS recorded_at \
         FROM agreements a JOIN persons p ON p.id = a.person_id JOIN change_sets cs ON cs.id = a.change_id LEFT JOIN documents d ON d.id = a.document_id \
         WHERE a.person_id = $1 AND p.residence_region >= $2 AND p.residence_region < $3{} ORDER BY a.valid_until DESC, a.id DESC",
        scope.rows_sql("p")
    );
    Ok(on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(id).bind(&lo).bind(&hi).fetch_all(&mut **c).await)?)
}

/// The scan of agreement `aid` of person `id` in `scope`: (media type, file name, content). The
/// read is audited in `tx`.
pub async fn scan(
    tx: &mut Tx,
    scope: &Scope,
    actor: &Actor,
    id: i64,
    aid: i64,
) -> anyhow::Result<Option<(String, String, Vec<u8>)>> {
    let (lo, hi) = scope.bounds();
    let sql = format!(
        "SELECT d.media_type, d.file_name, d.content FROM agreements a JOIN documents d ON d.id = a.document_id JOIN persons p ON p.id = a.person_id \
         WHERE a.id = $1 AND a.person_id = $2 AND p.residence_region >= $3 AND p.residence_region < $4{}",
        scope.rows_sql("p")
    );
    let found: Option<(String, String, Vec<u8>)> = on_tx!(tx, c => sqlx::query_as(&sql)
        .bind(aid).bind(id).bind(&lo).bind(&hi).fetch_optional(&mut **c).await)?;
    if found.is_some() {
        audit::record(
            tx,
            actor,
            "agreement.scan.read",
            Some(Target::person(id)),
            serde_json::json!({"agreement": aid}),
        )
        .await?;
    }
    Ok(found)
}
