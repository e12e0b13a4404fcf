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
use crate::store::persons::{self, ListFilter};
use crate::store::{Actor, Db, registration};

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

    /// The file's code of jingkang's `code` in `field`.
    fn to_file(&self, field: &str, code: &str) -> anyhow::Result<String> {
        let table = match field {
            "sex" => &self.sex,
            "registration_state" => &self.registration_state,
            "registration_event" => &self.registration_event,
            "close_reason" => &self.close_reason,
            "referral_kind" => &self.referral_kind,
            "referral_state" => &self.referral_state,
            other => anyhow::bail!("no mapping field {other}"),
        };
        table
            .get(code)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no {field} mapping for {code}"))
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
    let mut filter = ListFilter {
        within: Some(within.clone()),
        limit: Some(PAGE),
        ..Default::default()
    };
    loop {
        let page = persons::list(&mut tx, req.scope, &filter).await?;
        let Some(last) = page.last() else { break };
        filter.after = Some((last.record.data.residence_region.clone(), last.id));
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
    for r in rows {
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
