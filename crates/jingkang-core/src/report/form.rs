//! Printable forms whose layout is data (`data/forms/*.json`): 附件4 精神障碍患者登记表, one page
//! per person filled from the record and the latest follow-up. [`FormDef::fill`] turns a person
//! into the rows to print — values, the options of a coded field with the current one ticked,
//! boxes ticked from what is known, the rest left to tick by hand.
//!
//! What the latest follow-up holds is more recent than the record's registration fields, so it
//! comes first for 服药依从性 (`adherence`), 治疗效果 (`effect`), 药物不良反应
//! (`adverse_reaction`, `adverse_detail`) and fills 治疗药物及剂量 (`drugs`: the drugs and the
//! long-acting injection) and the 目前行为/危险 ticks (`followup.harmed_others`,
//! `followup.self_harm`, `followup.at_risk`, `followup.no_risk`).

use std::collections::BTreeMap;

use anyhow::{Context, ensure};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::regions::RegionTree;
use crate::registry::{PersonWithGuardian, codes};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CellDef {
    pub label: String,
    /// A person column, or `guardian_name`, `guardian_phone`, `household`, `residence`, or
    /// `drugs` (from the latest follow-up).
    #[serde(default)]
    pub field: Option<String>,
    /// The field is coded: print its options with the record's one ticked.
    #[serde(default)]
    pub choices: bool,
    /// Boxes to tick by hand …
    #[serde(default)]
    pub options: Vec<String>,
    /// … some ticked from the record's yes/no fields or the latest follow-up's `followup.*`
    /// facts (option → field).
    #[serde(default)]
    pub ticks: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FormDef {
    pub code: String,
    pub title: String,
    pub rows: Vec<Vec<CellDef>>,
    pub note: String,
}

/// One printed cell: its label, a value, or boxes (label, ticked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilledCell {
    pub label: String,
    pub value: String,
    pub boxes: Vec<(String, bool)>,
}

static SHIPPED: &str = include_str!("../../data/forms/fujian4.json");

impl FormDef {
    pub fn parse(json: &str) -> anyhow::Result<FormDef> {
        let f: FormDef = serde_json::from_str(json).context("form definition")?;
        for c in f.rows.iter().flatten() {
            if c.choices {
                let field = c.field.as_deref().unwrap_or_default();
                ensure!(
                    codes::options(field).is_some(),
                    "form {}: {} has no code list",
                    f.code,
                    field
                );
            }
        }
        Ok(f)
    }

    /// 附件4 as shipped.
    pub fn registration() -> anyhow::Result<FormDef> {
        FormDef::parse(SHIPPED)
    }

    /// The rows of this form for `p`, with `latest` the answers of their latest follow-up.
    pub fn fill(
        &self,
        tree: &RegionTree,
        p: &PersonWithGuardian,
        latest: Option<&Map<String, Value>>,
    ) -> Vec<Vec<FilledCell>> {
        let d = &p.data;
        let recent = |field: &str| latest.and_then(|a| from_followup(a, field));
        let value = |field: &str| -> String {
            if let Some(v) = recent(field) {
                return v;
            }
            let place = |region: Option<&str>, address: Option<&str>| {
                let mut s = region.map(|r| tree.path_name(r)).unwrap_or_default();
                if let Some(a) = address.filter(|a| !a.is_empty()) {
                    s.push(' ');
                    s.push_str(a);
                }
                s.trim().to_string()
            };
            match field {
                "sex" => match d.sex.as_str() {
                    "male" => "男".into(),
                    "female" => "女".into(),
                    other => other.into(),
                },
                "guardian_name" => p
                    .guardian
                    .as_ref()
                    .map(|g| g.name.clone())
                    .unwrap_or_default(),
                "guardian_phone" => p
                    .guardian
                    .as_ref()
                    .and_then(|g| g.phone.clone())
                    .unwrap_or_default(),
                "household" => place(
                    d.household_region.as_deref(),
                    d.household_address.as_deref(),
                ),
                "residence" => place(Some(&d.residence_region), d.residence_address.as_deref()),
                other => p.get(other).unwrap_or_default(),
            }
        };
        self.rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|c| {
                        let field = c.field.as_deref().unwrap_or_default();
                        let boxes = if c.choices {
                            let current =
                                recent(field).or_else(|| p.get(field)).unwrap_or_default();
                            codes::options(field)
                                .unwrap_or_default()
                                .iter()
                                .map(|(code, label)| (label.to_string(), *code == current))
                                .collect()
                        } else {
                            c.options
                                .iter()
                                .map(|o| {
                                    (
                                        o.clone(),
                                        c.ticks.get(o).is_some_and(|f| {
                                            let known = match f.strip_prefix("followup.") {
                                                Some(_) => recent(f),
                                                None => p.get(f),
                                            };
                                            known.as_deref() == Some("1")
                                        }),
                                    )
                                })
                                .collect()
                        };
                        let value = if c.choices || field.is_empty() {
                            String::new()
                        } else {
                            value(field)
                        };
                        FilledCell {
                            label: c.label.clone(),
                            value,
                            boxes,
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

/// A count of the follow-up's answers (stored as a number or as its text).
fn count(a: &Map<String, Value>, key: &str) -> i64 {
    match a.get(key) {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

/// An answer as text (doses and counts may be stored as numbers).
fn text(a: &Map<String, Value>, key: &str) -> Option<String> {
    match a.get(key)? {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        // A whole number as people write it (`2`, not `2.0`).
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        }),
        _ => None,
    }
}

/// What the latest follow-up says for a form field, if anything.
fn from_followup(a: &Map<String, Value>, field: &str) -> Option<String> {
    let flag = |b: bool| Some(if b { "1" } else { "0" }.to_string());
    let harmed = [
        "danger.minor_trouble",
        "danger.trouble",
        "danger.disaster",
        "danger.other",
    ]
    .iter()
    .any(|k| count(a, k) > 0);
    let self_harm = ["danger.self_harm", "danger.suicide_attempt"]
        .iter()
        .any(|k| count(a, k) > 0);
    let risk = text(a, "risk_grade").and_then(|g| g.parse::<u8>().ok());
    match field {
        "medication_adherence" => text(a, "adherence"),
        "treatment_effect" => text(a, "effect").filter(|e| e != "na"),
        "side_effects" => {
            let level = match text(a, "adverse_reaction")?.as_str() {
                "none" => "无",
                "mild" => "轻度",
                "serious" => "严重",
                _ => return None,
            };
            Some(match text(a, "adverse_detail") {
                Some(detail) if level != "无" => format!("{level}：{detail}"),
                _ => level.to_string(),
            })
        }
        "drugs" => {
            let mut out = Vec::new();
            for n in 1.. {
                let Some(name) = text(a, &format!("drug{n}.name")) else {
                    if a.keys().any(|k| k.starts_with(&format!("drug{n}."))) {
                        continue;
                    }
                    break;
                };
                let dose = |when: &str, label: &str| {
                    text(a, &format!("drug{n}.{when}_mg")).map(|mg| format!("{label} {mg} mg"))
                };
                let doses: Vec<String> = [("morning", "早"), ("noon", "中"), ("night", "晚")]
                    .iter()
                    .filter_map(|(w, l)| dose(w, l))
                    .collect();
                out.push(format!("{name}（{}）", doses.join("，")).replace("（）", ""));
            }
            if let Some(name) = text(a, "injection.name") {
                let mut s = format!("{name}（长效针剂");
                if let Some(mg) = text(a, "injection.dose_mg") {
                    s.push_str(&format!("，每次 {mg} mg"));
                }
                if let Some(days) = text(a, "injection.interval_days") {
                    s.push_str(&format!("，每 {days} 天"));
                }
                s.push('）');
                out.push(s);
            }
            (!out.is_empty()).then(|| out.join("；"))
        }
        "followup.harmed_others" => flag(harmed),
        "followup.self_harm" => flag(self_harm),
        "followup.at_risk" => flag(!harmed && !self_harm && risk.is_some_and(|g| g > 0)),
        "followup.no_risk" => flag(!harmed && !self_harm && risk == Some(0)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Guardian, PersonData};

    /// A complete record and its latest follow-up: no field that has data prints empty, every
    /// coded field has its one tick, and the follow-up comes before the older record values.
    #[test]
    fn a_complete_person_prints_no_empty_field() {
        let tree = RegionTree::new(crate::regions::embedded_regions().unwrap());
        let f = FormDef::registration().unwrap();
        let data = PersonData {
            id_number: "11010519491231002X".into(),
            name: "张三".into(),
            sex: "male".into(),
            ethnicity: Some("汉族".into()),
            phone: Some("13812345678".into()),
            household_region: Some("500110001".into()),
            household_address: Some("古南街道老街5号".into()),
            residence_region: "500110004".into(),
            residence_address: Some("新华路12号".into()),
            disability_certificate: Some("11010519491231002X62".into()),
            marital_status: Some("married".into()),
            living_situation: Some("alone".into()),
            economic_status: Some("good".into()),
            subsistence_allowance: true,
            dangerous_history: Some("2019 年毁物一次".into()),
            medication_adherence: Some("regular".into()),
            medication_method: Some(codes::options("medication_method").unwrap()[0].0.into()),
            side_effects: Some("无".into()),
            treatment_effect: Some("cured".into()),
            ..Default::default()
        };
        let p = PersonWithGuardian {
            data,
            guardian: Some(Guardian {
                name: "张大山".into(),
                phone: Some("13900001111".into()),
                ..Default::default()
            }),
        };
        let latest: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "risk_grade": "3", "danger.trouble": 1, "adherence": "intermittent",
            "adverse_reaction": "mild", "adverse_detail": "嗜睡", "effect": "improved",
            "drug1.name": "利培酮", "drug1.night_mg": 2.0, "drug2.name": "丙戊酸钠",
            "drug2.morning_mg": "500", "injection.name": "棕榈酸帕利哌酮", "injection.dose_mg": "150",
            "injection.interval_days": "28"
        }))
        .unwrap();
        let rows = f.fill(&tree, &p, Some(&latest));
        for c in rows.iter().flatten() {
            if c.boxes.is_empty() {
                assert!(!c.value.is_empty(), "{} prints empty", c.label);
            }
        }
        let cell = |label: &str| rows.iter().flatten().find(|c| c.label == label).unwrap();
        let ticked = |label: &str| -> Vec<&str> {
            cell(label)
                .boxes
                .iter()
                .filter(|(_, t)| *t)
                .map(|(l, _)| l.as_str())
                .collect()
        };
        for label in [
            "婚姻状况",
            "居住情况",
            "经济状况",
            "服药方式",
            "服药依从性",
            "治疗效果",
        ] {
            assert_eq!(ticked(label).len(), 1, "{label}");
        }
        assert_eq!(
            ticked("服药依从性"),
            ["间断"],
            "the follow-up, not the record"
        );
        assert_eq!(ticked("治疗效果"), ["好转"]);
        assert_eq!(ticked("目前行为/危险"), ["已发生危害他人安全的行为"]);
        assert_eq!(cell("药物不良反应").value, "轻度：嗜睡");
        assert_eq!(
            cell("治疗药物及剂量").value,
            "利培酮（晚 2 mg）；丙戊酸钠（早 500 mg）；棕榈酸帕利哌酮（长效针剂，每次 150 mg，每 28 天）"
        );
        assert_eq!(cell("联系电话").value, "13812345678");
        assert!(
            cell("户籍所在地")
                .value
                .ends_with("古南街道 古南街道老街5号"),
            "{}",
            cell("户籍所在地").value
        );
        assert_eq!(ticked("经济来源"), ["政府救助（低保）"]);
        // A follow-up at risk 0 without events: 无上述行为或危险; risk 2: 存在上述行为的危险.
        for (grade, expected) in [("0", "无上述行为或危险"), ("2", "存在上述行为的危险")]
        {
            let calm: Map<String, Value> =
                serde_json::from_value(serde_json::json!({ "risk_grade": grade })).unwrap();
            let rows = f.fill(&tree, &p, Some(&calm));
            let c = rows
                .iter()
                .flatten()
                .find(|c| c.label == "目前行为/危险")
                .unwrap();
            let t: Vec<&str> = c
                .boxes
                .iter()
                .filter(|(_, t)| *t)
                .map(|(l, _)| l.as_str())
                .collect();
            assert_eq!(t, [expected]);
        }
    }

    #[test]
    fn the_registration_form_is_filled_from_the_record() {
        let tree = RegionTree::new(crate::regions::embedded_regions().unwrap());
        let f = FormDef::registration().unwrap();
        let data = PersonData {
            name: "张三".into(),
            sex: "male".into(),
            residence_region: "500110004".into(),
            residence_address: Some("新华路12号".into()),
            marital_status: Some("divorced".into()),
            medication_adherence: Some("intermittent".into()),
            subsistence_allowance: true,
            ..Default::default()
        };
        let p = PersonWithGuardian {
            data,
            guardian: Some(Guardian {
                name: "张大山".into(),
                phone: Some("13812345678".into()),
                ..Default::default()
            }),
        };
        let rows = f.fill(&tree, &p, None);
        let cell = |label: &str| {
            rows.iter()
                .flatten()
                .find(|c| c.label == label)
                .unwrap()
                .clone()
        };
        assert_eq!(cell("姓名").value, "张三");
        assert_eq!(cell("性别").value, "男");
        assert!(
            cell("现居住地").value.ends_with("万盛街道 新华路12号"),
            "{}",
            cell("现居住地").value
        );
        assert_eq!(
            (cell("家庭监护人姓名").value, cell("监护人电话").value),
            ("张大山".to_string(), "13812345678".to_string())
        );
        let ticked = |label: &str| {
            cell(label)
                .boxes
                .into_iter()
                .filter(|(_, t)| *t)
                .map(|(l, _)| l)
                .collect::<Vec<_>>()
        };
        assert_eq!(ticked("婚姻状况"), ["离婚"]);
        assert_eq!(ticked("服药依从性"), ["间断"]);
        assert_eq!(
            ticked("经济来源"),
            ["政府救助（低保）"],
            "ticked from the yes/no field"
        );
        assert_eq!(
            ticked("居住环境"),
            Vec::<String>::new(),
            "left to tick by hand"
        );
        assert_eq!(
            cell("治疗药物及剂量").value,
            "",
            "without a follow-up: a line to fill by hand"
        );
        assert!(
            FormDef::parse(&SHIPPED.replace(
                "\"living_situation\", \"choices\"",
                "\"nonsense\", \"choices\""
            ))
            .is_err()
        );
    }
}
