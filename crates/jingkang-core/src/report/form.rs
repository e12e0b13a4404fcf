//! Printable forms whose layout is data (`data/forms/*.json`): 附件4 精神障碍患者登记表, one page
//! per person filled from the record. [`FormDef::fill`] turns a person into the rows to print —
//! values, the options of a coded field with the record's one ticked, boxes left to tick by hand.

use std::collections::BTreeMap;

use anyhow::{Context, ensure};
use serde::Deserialize;

use crate::regions::RegionTree;
use crate::registry::{PersonWithGuardian, codes};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CellDef {
    pub label: String,
    /// A person column, or `guardian_name`, `guardian_phone`, `household`, `residence`.
    #[serde(default)]
    pub field: Option<String>,
    /// The field is coded: print its options with the record's one ticked.
    #[serde(default)]
    pub choices: bool,
    /// Boxes to tick by hand …
    #[serde(default)]
    pub options: Vec<String>,
    /// … some ticked from the record's yes/no fields (option → field).
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

    /// The rows of this form for `p`.
    pub fn fill(&self, tree: &RegionTree, p: &PersonWithGuardian) -> Vec<Vec<FilledCell>> {
        let d = &p.data;
        let value = |field: &str| -> String {
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
                            let current = p.get(field).unwrap_or_default();
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
                                        c.ticks
                                            .get(o)
                                            .is_some_and(|f| p.get(f).as_deref() == Some("1")),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Guardian, PersonData};

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
        let rows = f.fill(&tree, &p);
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
        assert_eq!(cell("治疗药物及剂量").value, "", "a line to fill by hand");
        assert!(
            FormDef::parse(&SHIPPED.replace(
                "\"living_situation\", \"choices\"",
                "\"nonsense\", \"choices\""
            ))
            .is_err()
        );
    }
}
