//! FHIR R4 export (docs/fhir.md): a person or a region as a `collection` Bundle — Patient,
//! Condition (ICD-10), Observation (risk grade, instrument totals), Encounter (follow-ups,
//! services), CarePlan (个案康复计划 versions), ServiceRequest (referrals).
//!
//! Masking follows the registry's rules unless the export is revealed (with a reason, audited):
//! the ID number and phones are masked as the pages mask them, health content (diagnosis, risk
//! grade, scores) is withheld with the `masked` data-absent reason, a referral's free-text reason
//! is left out; the Bundle carries the v3 `MASKED` security label. A revealed Bundle carries the
//! `R` (restricted) confidentiality label instead. The systems written are data
//! (`data/fhir.toml`). The Bundle is written to a file as it is built: memory stays flat however
//! large the region.

use std::io::Write;
use std::path::Path;
use std::sync::LazyLock;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::on_tx;
use crate::regions::{Region, RegionTree, Scope};
use crate::registry::{self, Sensitivity};
use crate::store::audit::{self, Target};
use crate::store::persons::{self, StoredPerson};
use crate::store::{Actor, Db, Tx, assessments, followups, plans, services};

static SYSTEMS: &str = include_str!("../../data/fhir.toml");

/// The systems a Bundle names (data/fhir.toml).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Systems {
    pub id_number_system: String,
    pub record_system: String,
    pub icd10_system: String,
    pub code_system: String,
}

/// The shipped systems.
pub fn systems() -> &'static Systems {
    static S: LazyLock<Systems> =
        LazyLock::new(|| toml::from_str(SYSTEMS).expect("data/fhir.toml is checked by a test"));
    &S
}

const DATA_ABSENT: &str = "http://hl7.org/fhir/StructureDefinition/data-absent-reason";
const DATA_ABSENT_CS: &str = "http://terminology.hl7.org/CodeSystem/data-absent-reason";

/// What to export.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Person(i64),
    Region(&'a Region),
}

/// An export to make.
pub struct FhirExport<'a> {
    pub scope: &'a Scope,
    pub subject: Subject<'a>,
    pub out: &'a Path,
    /// Identifiers, phones and health content in clear.
    pub reveal: bool,
    pub actor: &'a Actor,
    /// Why (recorded in the audit log).
    pub reason: &'a str,
    pub today: NaiveDate,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FhirSummary {
    pub persons: u64,
    pub resources: u64,
}

/// Persons read a page at a time.
const PAGE: i64 = 2_000;

/// Write the Bundle of `req.subject` to `req.out`. `None` when the person is absent or out of
/// scope (or the region outside it). Audited as `export.fhir` in the transaction that reads.
pub async fn export(
    db: &Db,
    tree: &RegionTree,
    req: &FhirExport<'_>,
) -> anyhow::Result<Option<FhirSummary>> {
    let mut tx = db.begin().await?;
    let file = std::fs::File::create(req.out)?;
    let mut w = std::io::BufWriter::new(file);
    let security = if req.reveal {
        json!({"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R", "display": "restricted"})
    } else {
        json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "MASKED", "display": "masked"})
    };
    let head = json!({
        "resourceType": "Bundle",
        "meta": {"security": [security]},
        "type": "collection",
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
    .to_string();
    // The head without its closing brace, then the entries.
    write!(w, "{},\"entry\":[", &head[..head.len() - 1])?;
    let mut summary = FhirSummary::default();
    let mut first = true;
    let mut write_person = |w: &mut std::io::BufWriter<std::fs::File>,
                            resources: Vec<Value>,
                            summary: &mut FhirSummary|
     -> anyhow::Result<()> {
        summary.persons += 1;
        for r in resources {
            if !first {
                w.write_all(b",")?;
            }
            first = false;
            write!(w, "{}", json!({ "resource": r }))?;
            summary.resources += 1;
        }
        Ok(())
    };
    let target = match req.subject {
        Subject::Person(id) => {
            let Some(p) = persons::get_unaudited(&mut tx, req.scope, id).await? else {
                return Ok(None);
            };
            let resources = person_resources(&mut tx, req.scope, tree, &p, req.reveal).await?;
            write_person(&mut w, resources, &mut summary)?;
            Target::person(id)
        }
        Subject::Region(region) => {
            let within = Scope::of(region);
            if !within.is_within(req.scope) {
                return Ok(None);
            }
            let mut pages = persons::RegionPages::new(within, PAGE);
            loop {
                let page = pages.next(&mut tx, req.scope).await?;
                if page.is_empty() {
                    break;
                }
                for p in &page {
                    let resources =
                        person_resources(&mut tx, req.scope, tree, p, req.reveal).await?;
                    write_person(&mut w, resources, &mut summary)?;
                }
            }
            Target::region(&region.code)
        }
    };
    w.write_all(b"]}")?;
    w.flush()?;
    audit::record(
        &mut tx,
        req.actor,
        "export.fhir",
        Some(target),
        json!({
            "reason": req.reason,
            "revealed": req.reveal,
            "persons": summary.persons,
            "resources": summary.resources,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(summary))
}

fn reference(kind: &str, id: &str) -> Value {
    json!({ "reference": format!("{kind}/{id}") })
}

fn local_code(code: &str, display: &str) -> Value {
    json!({"coding": [{"system": systems().code_system, "code": code, "display": display}], "text": display})
}

/// A CodeableConcept withheld from a masked export.
fn withheld() -> Value {
    json!({"extension": [{"url": DATA_ABSENT, "valueCode": "masked"}]})
}

fn masked_reason() -> Value {
    json!({"coding": [{"system": DATA_ABSENT_CS, "code": "masked"}]})
}

/// `value` as the export shows it: in clear when revealed, else masked by its sensitivity.
fn shown(reveal: bool, sensitivity: Sensitivity, value: &str) -> String {
    if reveal {
        value.to_string()
    } else {
        registry::mask(sensitivity, value)
    }
}

/// The region names of an address: (province, city, county, township).
fn address_parts(tree: &RegionTree, code: &str) -> [Option<String>; 4] {
    let name = |len: usize, pad: usize| {
        code.get(..len)
            .map(|p| format!("{p}{}", "0".repeat(pad)))
            .and_then(|c| tree.get(&c))
            .map(|r| r.name.clone())
    };
    [name(2, 4), name(4, 2), name(6, 0), name(9, 0)]
}

/// The resources of one person.
async fn person_resources(
    tx: &mut Tx,
    scope: &Scope,
    tree: &RegionTree,
    p: &StoredPerson,
    reveal: bool,
) -> anyhow::Result<Vec<Value>> {
    let s = systems();
    let d = &p.record.data;
    let pid = format!("p{}", p.id);
    let subject = reference("Patient", &pid);
    let mut out = Vec::new();

    // Patient.
    let [province, city, county, township] = address_parts(tree, &d.residence_region);
    let mut address = json!({"use": "home", "country": "CN"});
    let text: Vec<String> = [&province, &city, &county, &township]
        .into_iter()
        .flatten()
        .cloned()
        .chain(d.residence_address.clone())
        .collect();
    if !text.is_empty() {
        address["text"] = text.concat().into();
    }
    for (key, v) in [("state", &province), ("city", &city), ("district", &county)] {
        if let Some(v) = v {
            address[key] = v.clone().into();
        }
    }
    if let Some(line) = township.iter().chain(&d.residence_address).next() {
        address["line"] = json!([line]);
        if let (Some(t), Some(a)) = (&township, &d.residence_address) {
            address["line"] = json!([t, a]);
        }
    }
    let mut patient = json!({
        "resourceType": "Patient",
        "id": pid,
        "identifier": [
            {"use": "official", "system": s.id_number_system, "value": shown(reveal, Sensitivity::Identifier, &d.id_number)},
            {"use": "secondary", "system": s.record_system, "value": p.id.to_string()},
        ],
        "active": p.state != crate::domain::RegistrationState::Closed,
        "name": [{"use": "official", "text": d.name}],
        "gender": if d.sex == "male" { "male" } else { "female" },
        "birthDate": d.birth_date.to_string(),
        "address": [address],
    });
    let phones: Vec<Value> = [&d.phone, &d.phone_alt]
        .into_iter()
        .flatten()
        .map(|ph| json!({"system": "phone", "value": shown(reveal, Sensitivity::Phone, ph)}))
        .collect();
    if !phones.is_empty() {
        patient["telecom"] = phones.into();
    }
    if let Some(g) = &p.record.guardian {
        let mut contact = json!({
            "relationship": [{"text": g.relation.as_deref().map_or_else(|| "监护人".to_string(), |r| format!("监护人（{}）", registry::codes::label("guardian1.relation", r)))}],
            "name": {"text": g.name},
        });
        if let Some(ph) = &g.phone {
            contact["telecom"] =
                json!([{"system": "phone", "value": shown(reveal, Sensitivity::Phone, ph)}]);
        }
        patient["contact"] = json!([contact]);
    }
    let died: Option<String> = on_tx!(tx, c => sqlx::query_scalar(
        "SELECT close_reason FROM persons WHERE id = $1").bind(p.id).fetch_one(&mut **c).await)?;
    if died.as_deref() == Some("died") {
        patient["deceasedBoolean"] = true.into();
    }
    out.push(patient);

    // Condition: the diagnosis.
    if d.diagnosis_code.is_some() || d.diagnosis_name.is_some() {
        let code = if reveal {
            let mut c = json!({});
            if let Some(code) = &d.diagnosis_code {
                let mut coding = json!({"system": s.icd10_system, "code": code});
                if let Some(n) = &d.diagnosis_name {
                    coding["display"] = n.clone().into();
                }
                c["coding"] = json!([coding]);
            }
            if let Some(n) = &d.diagnosis_name {
                c["text"] = n.clone().into();
            }
            c
        } else {
            withheld()
        };
        out.push(json!({
            "resourceType": "Condition",
            "id": format!("{pid}-dx"),
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}]}],
            "code": code,
            "subject": subject,
        }));
    }

    // Follow-ups: an Encounter each, and the risk grade found as an Observation.
    let risk_code = local_code("risk-grade", "危险性评估");
    for f in followups::list(tx, scope, p.id, 10_000).await? {
        let eid = format!("fu{}", f.id);
        let class = match f.mode.as_str() {
            "home" => "HH",
            "phone" | "video" => "VR",
            _ => "AMB",
        };
        out.push(json!({
            "resourceType": "Encounter",
            "id": eid,
            "status": if f.lost { "cancelled" } else { "finished" },
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": class},
            "type": [local_code("followup", "随访")],
            "subject": subject,
            "period": {"start": f.visit_date.to_string(), "end": f.visit_date.to_string()},
        }));
        if let Some(g) = f.risk_grade {
            out.push(observation(
                &format!("{eid}-risk"),
                &risk_code,
                (&subject, Some(&eid)),
                f.visit_date,
                (reveal, g),
            ));
        }
    }
    // The record's current risk grade when no follow-up carries one.
    if let Some(g) = d.risk_grade
        && !out.iter().any(|r| r["resourceType"] == "Observation")
    {
        out.push(observation(
            &format!("{pid}-risk"),
            &risk_code,
            (&subject, None),
            chrono::Utc::now().date_naive(),
            (reveal, g),
        ));
    }

    // Assessments: the instrument's total.
    for a in assessments::of_person(tx, scope, p.id).await? {
        let mut o = observation(
            &format!("as{}", a.id),
            &local_code(&a.instrument, &a.instrument),
            (&subject, None),
            a.assessed_on,
            (reveal, a.total),
        );
        o["category"] = json!([{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "survey"}]}]);
        out.push(o);
    }

    // Services attended: an Encounter each.
    let catalogue = crate::care::service::ServiceCatalogue::shipped()?;
    for sv in services::of_person(tx, scope, p.id, 10_000).await? {
        let label = catalogue
            .item(&sv.item)
            .map_or(sv.item.clone(), |i| i.label.clone());
        out.push(json!({
            "resourceType": "Encounter",
            "id": format!("sv{}-{pid}", sv.id),
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": if sv.mode == "home" { "HH" } else { "AMB" }},
            "type": [local_code(&sv.item, &label)],
            "subject": subject,
            "period": {"start": sv.service_date.to_string(), "end": sv.service_date.to_string()},
        }));
    }

    // Plans: every version, the latest active.
    let plans = plans::of_person(tx, scope, p.id).await?;
    let latest = plans.iter().map(|v| v.version).max();
    for plan in &plans {
        let activity: Vec<Value> = plan
            .items
            .iter()
            .map(|i| {
                let label = catalogue
                    .item(&i.item)
                    .map_or(i.item.clone(), |c| c.label.clone());
                json!({"detail": {
                    "status": "scheduled",
                    "code": local_code(&i.item, &label),
                    "description": format!("每月 {} 次", i.per_month),
                }})
            })
            .collect();
        let mut cp = json!({
            "resourceType": "CarePlan",
            "id": format!("cp{}-v{}", p.id, plan.version),
            "status": if Some(plan.version) == latest { "active" } else { "revoked" },
            "intent": "plan",
            "title": format!("个案康复计划（第 {} 版）", plan.version),
            "subject": subject,
            "period": {"start": plan.starts_on.to_string(), "end": plan.review_on.to_string()},
        });
        if reveal && !plan.goals.trim().is_empty() {
            cp["description"] = plan.goals.clone().into();
        }
        if !activity.is_empty() {
            cp["activity"] = activity.into();
        }
        out.push(cp);
    }

    // Referrals.
    let rules = crate::care::referral::ReferralRules::shipped()?;
    let refs: Vec<ReferralRow> = on_tx!(tx, c => sqlx::query_as(
        "SELECT id, kind, state, from_region, to_region, reason, sent_on FROM referrals WHERE person_id = $1 ORDER BY id")
        .bind(p.id).fetch_all(&mut **c).await)?;
    for ReferralRow {
        id,
        kind,
        state,
        from_region: from,
        to_region: to,
        reason,
        sent_on,
    } in refs
    {
        let label = rules.kind(&kind).map_or(kind.clone(), |k| k.label.clone());
        let status = match state.as_str() {
            "completed" => "completed",
            "returned" | "timed_out" => "revoked",
            _ => "active",
        };
        let mut sr = json!({
            "resourceType": "ServiceRequest",
            "id": format!("rf{id}"),
            "status": status,
            "intent": "order",
            "code": local_code(&kind, &label),
            "subject": subject,
            "authoredOn": sent_on.to_string(),
            "requester": {"display": tree.path_name(&from)},
            "performer": [{"display": tree.path_name(&to)}],
        });
        let reason = tx
            .keys
            .open_opt(crate::store::sealing::REFERRAL_REASON, reason.as_deref())?;
        if let Some(r) = reason.filter(|r| reveal && !r.trim().is_empty()) {
            sr["reasonCode"] = json!([{"text": r}]);
        }
        out.push(sr);
    }
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct ReferralRow {
    id: i64,
    kind: String,
    state: String,
    from_region: String,
    to_region: String,
    reason: Option<String>,
    sent_on: NaiveDate,
}

/// An Observation of an integer (a risk grade, an instrument total), withheld when masked.
fn observation(
    id: &str,
    code: &Value,
    (subject, encounter): (&Value, Option<&str>),
    on: NaiveDate,
    (reveal, value): (bool, i64),
) -> Value {
    let mut o = json!({
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "code": code,
        "subject": subject,
        "effectiveDateTime": on.to_string(),
    });
    if let Some(e) = encounter {
        o["encounter"] = reference("Encounter", e);
    }
    if reveal {
        o["valueInteger"] = value.into();
    } else {
        o["dataAbsentReason"] = masked_reason();
    }
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn shipped_systems_parse() {
        let s = super::systems();
        assert!(s.id_number_system.starts_with("urn:oid:"));
        assert!(s.icd10_system.starts_with("http://"));
    }
}
