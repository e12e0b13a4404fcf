//! The person record (一人一档): stored fields, guardians, code lists and field-level diffs.
//!
//! [`PersonData`] is what a `persons` row holds, in canonical text/number form. It is only built from
//! validated domain values (see `import::roster` and the constructors here), so the repository trusts
//! it. Every field has a code name (the column), a Chinese label and a sensitivity; [`diff`] compares two
//! records field by field, producing the history rows (`person_history`) written on every change.

pub mod codes;

use chrono::NaiveDate;

/// How a field is shown to people who have not revealed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensitivity {
    Plain,
    /// ID number, certificate (which contains the ID): first 4 and last 4 characters kept.
    Identifier,
    Phone,
    /// Diagnosis and other health data: replaced entirely.
    Health,
}

pub struct FieldDef {
    pub name: &'static str,
    pub label_zh: &'static str,
    pub sensitivity: Sensitivity,
}

const fn f(name: &'static str, label_zh: &'static str, sensitivity: Sensitivity) -> FieldDef {
    FieldDef {
        name,
        label_zh,
        sensitivity,
    }
}

use Sensitivity::*;

/// Every field with history, in form order. Guardian fields are `guardian1.*`.
pub static FIELDS: &[FieldDef] = &[
    f("id_number", "身份证号", Identifier),
    f("name", "姓名", Plain),
    f("sex", "性别", Plain),
    f("birth_date", "出生日期", Plain),
    f("ethnicity", "民族", Plain),
    f("phone", "联系电话", Phone),
    f("phone_alt", "备用电话", Phone),
    f("household_region", "户籍地", Plain),
    f("household_address", "户籍地址", Plain),
    f("residence_region", "现居住地", Plain),
    f("residence_address", "家庭住址", Plain),
    f("disability_certificate", "残疾证号", Identifier),
    f("disability_category", "残疾类别", Plain),
    f("disability_grade", "残疾等级", Plain),
    f("diagnosis_code", "诊断编码", Health),
    f("diagnosis_name", "诊断", Health),
    f("marital_status", "婚姻状况", Plain),
    f("education", "文化程度", Plain),
    f("employment", "就业情况", Plain),
    f("living_situation", "居住情况", Plain),
    f("economic_status", "经济状况", Plain),
    f("subsistence_allowance", "低保", Plain),
    f("extreme_poverty", "特困", Plain),
    f("low_income", "低收入", Plain),
    f("medical_insurance", "医疗保险", Plain),
    f("dangerous_history", "既往危险行为", Health),
    f("risk_grade", "危险性评估", Health),
    f("medication_adherence", "服药依从性", Health),
    f("medication_method", "服药方式", Health),
    f("side_effects", "药物不良反应", Health),
    f("treatment_effect", "治疗效果", Health),
    f("notes", "备注", Plain),
    f("guardian1.name", "监护人", Plain),
    f("guardian1.relation", "监护人关系", Plain),
    f("guardian1.phone", "监护人电话", Phone),
    f("guardian1.phone_alt", "监护人备用电话", Phone),
    f("guardian1.id_number", "监护人身份证号", Identifier),
];

pub fn field(name: &str) -> Option<&'static FieldDef> {
    FIELDS.iter().find(|d| d.name == name)
}

/// Mask a value for display according to the field's sensitivity.
pub fn mask(sensitivity: Sensitivity, value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let keep = |head: usize, tail: usize| -> String {
        if chars.len() <= head + tail {
            return "*".repeat(chars.len());
        }
        let mut s: String = chars[..head].iter().collect();
        s.push_str(&"*".repeat(chars.len() - head - tail));
        s.extend(&chars[chars.len() - tail..]);
        s
    };
    match sensitivity {
        Plain => value.to_string(),
        Identifier => keep(4, 4),
        Phone => match value.split_once('-') {
            Some((area, num)) => format!("{area}-{}", mask_tail(num, 4)),
            None => keep(3, 4),
        },
        Health => "***".to_string(),
    }
}

fn mask_tail(s: &str, tail: usize) -> String {
    let n = s.chars().count();
    if n <= tail {
        return s.to_string();
    }
    let mut out = "*".repeat(n - tail);
    out.extend(s.chars().skip(n - tail));
    out
}

/// The stored person fields (one `persons` row without its bookkeeping columns).
#[derive(Debug, Clone, PartialEq, Default, sqlx::FromRow, serde::Serialize, serde::Deserialize)]
pub struct PersonData {
    pub id_number: String,
    pub name: String,
    pub sex: String,
    pub birth_date: NaiveDate,
    pub ethnicity: Option<String>,
    pub phone: Option<String>,
    pub phone_alt: Option<String>,
    pub household_region: Option<String>,
    pub household_address: Option<String>,
    pub residence_region: String,
    pub residence_address: Option<String>,
    pub disability_certificate: Option<String>,
    pub disability_category: Option<i64>,
    pub disability_grade: Option<i64>,
    pub diagnosis_code: Option<String>,
    pub diagnosis_name: Option<String>,
    pub marital_status: Option<String>,
    pub education: Option<String>,
    pub employment: Option<String>,
    pub living_situation: Option<String>,
    pub economic_status: Option<String>,
    pub subsistence_allowance: bool,
    pub extreme_poverty: bool,
    pub low_income: bool,
    pub medical_insurance: Option<String>,
    pub dangerous_history: Option<String>,
    pub risk_grade: Option<i64>,
    pub medication_adherence: Option<String>,
    pub medication_method: Option<String>,
    pub side_effects: Option<String>,
    pub treatment_effect: Option<String>,
    pub notes: Option<String>,
}

/// The column list of [`PersonData`], in struct order (for SELECT and INSERT).
pub const PERSON_COLUMNS: &[&str] = &[
    "id_number",
    "name",
    "sex",
    "birth_date",
    "ethnicity",
    "phone",
    "phone_alt",
    "household_region",
    "household_address",
    "residence_region",
    "residence_address",
    "disability_certificate",
    "disability_category",
    "disability_grade",
    "diagnosis_code",
    "diagnosis_name",
    "marital_status",
    "education",
    "employment",
    "living_situation",
    "economic_status",
    "subsistence_allowance",
    "extreme_poverty",
    "low_income",
    "medical_insurance",
    "dangerous_history",
    "risk_grade",
    "medication_adherence",
    "medication_method",
    "side_effects",
    "treatment_effect",
    "notes",
];

#[derive(
    Debug, Clone, PartialEq, Eq, Default, sqlx::FromRow, serde::Serialize, serde::Deserialize,
)]
pub struct Guardian {
    pub name: String,
    pub relation: Option<String>,
    pub phone: Option<String>,
    pub phone_alt: Option<String>,
    pub id_number: Option<String>,
}

/// A value of any stored field as text, as history stores it.
fn opt(s: &Option<String>) -> Option<String> {
    s.clone()
}
fn num(n: &Option<i64>) -> Option<String> {
    n.map(|v| v.to_string())
}
fn flag(b: bool) -> Option<String> {
    Some(if b { "1" } else { "0" }.to_string())
}

impl PersonData {
    /// The value of `field` as text (`None` when empty); `None` also for unknown names.
    pub fn get(&self, field: &str) -> Option<String> {
        match field {
            "id_number" => Some(self.id_number.clone()),
            "name" => Some(self.name.clone()),
            "sex" => Some(self.sex.clone()),
            "birth_date" => Some(self.birth_date.to_string()),
            "ethnicity" => opt(&self.ethnicity),
            "phone" => opt(&self.phone),
            "phone_alt" => opt(&self.phone_alt),
            "household_region" => opt(&self.household_region),
            "household_address" => opt(&self.household_address),
            "residence_region" => Some(self.residence_region.clone()),
            "residence_address" => opt(&self.residence_address),
            "disability_certificate" => opt(&self.disability_certificate),
            "disability_category" => num(&self.disability_category),
            "disability_grade" => num(&self.disability_grade),
            "diagnosis_code" => opt(&self.diagnosis_code),
            "diagnosis_name" => opt(&self.diagnosis_name),
            "marital_status" => opt(&self.marital_status),
            "education" => opt(&self.education),
            "employment" => opt(&self.employment),
            "living_situation" => opt(&self.living_situation),
            "economic_status" => opt(&self.economic_status),
            "subsistence_allowance" => flag(self.subsistence_allowance),
            "extreme_poverty" => flag(self.extreme_poverty),
            "low_income" => flag(self.low_income),
            "medical_insurance" => opt(&self.medical_insurance),
            "dangerous_history" => opt(&self.dangerous_history),
            "risk_grade" => num(&self.risk_grade),
            "medication_adherence" => opt(&self.medication_adherence),
            "medication_method" => opt(&self.medication_method),
            "side_effects" => opt(&self.side_effects),
            "treatment_effect" => opt(&self.treatment_effect),
            "notes" => opt(&self.notes),
            _ => None,
        }
    }
}

impl Guardian {
    pub fn get(&self, field: &str) -> Option<String> {
        match field {
            "name" => Some(self.name.clone()),
            "relation" => opt(&self.relation),
            "phone" => opt(&self.phone),
            "phone_alt" => opt(&self.phone_alt),
            "id_number" => opt(&self.id_number),
            _ => None,
        }
    }
}

/// A person with the first guardian, as the roster sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PersonWithGuardian {
    pub data: PersonData,
    pub guardian: Option<Guardian>,
}

impl PersonWithGuardian {
    pub fn get(&self, field: &str) -> Option<String> {
        match field.strip_prefix("guardian1.") {
            Some(g) => self.guardian.as_ref().and_then(|x| x.get(g)),
            None => self.data.get(field),
        }
    }
}

/// One field that changes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl FieldChange {
    pub fn label_zh(&self) -> &'static str {
        field(self.field).map(|d| d.label_zh).unwrap_or(self.field)
    }
    /// Old and new values masked for display.
    pub fn masked(&self) -> (Option<String>, Option<String>) {
        let s = field(self.field).map(|d| d.sensitivity).unwrap_or(Plain);
        (
            self.old.as_deref().map(|v| mask(s, v)),
            self.new.as_deref().map(|v| mask(s, v)),
        )
    }
}

/// Compare `fields` of `old` and `new`. With `blank_keeps`, a field empty in `new` keeps the old value
/// (a roster with an empty cell does not erase what the registry knows).
pub fn diff(
    old: &PersonWithGuardian,
    new: &PersonWithGuardian,
    fields: &[&'static str],
    blank_keeps: bool,
) -> Vec<FieldChange> {
    let mut out = Vec::new();
    for &name in fields {
        let (o, n) = (old.get(name), new.get(name));
        if n.is_none() && blank_keeps {
            continue;
        }
        if o != n {
            out.push(FieldChange {
                field: name,
                old: o,
                new: n,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_is_a_field_with_a_getter() {
        let p = PersonData {
            id_number: "x".into(),
            name: "n".into(),
            sex: "male".into(),
            residence_region: "r".into(),
            ..Default::default()
        };
        for c in PERSON_COLUMNS {
            assert!(field(c).is_some(), "{c} has no FieldDef");
            // getters exist for every column (booleans and mandatory fields always have a value)
            let _ = p.get(c);
        }
        for d in FIELDS {
            assert!(
                d.name.starts_with("guardian1.") || PERSON_COLUMNS.contains(&d.name),
                "{}",
                d.name
            );
        }
    }

    #[test]
    fn masks_by_sensitivity() {
        assert_eq!(mask(Identifier, "500110199001011234"), "5001**********1234");
        assert_eq!(mask(Phone, "13812346789"), "138****6789");
        assert_eq!(mask(Phone, "023-48281234"), "023-****1234");
        assert_eq!(mask(Health, "F20.0"), "***");
        assert_eq!(mask(Plain, "张三"), "张三");
    }

    #[test]
    fn diff_respects_blank_keeps() {
        let old = PersonWithGuardian {
            data: PersonData {
                name: "张三".into(),
                notes: Some("旧".into()),
                ..Default::default()
            },
            guardian: Some(Guardian {
                name: "李四".into(),
                ..Default::default()
            }),
        };
        let mut new = old.clone();
        new.data.notes = None;
        new.guardian = Some(Guardian {
            name: "王五".into(),
            ..Default::default()
        });
        let ch = diff(&old, &new, &["name", "notes", "guardian1.name"], true);
        assert_eq!(
            ch,
            vec![FieldChange {
                field: "guardian1.name",
                old: Some("李四".into()),
                new: Some("王五".into())
            }]
        );
        let ch = diff(&old, &new, &["notes"], false);
        assert_eq!(ch.len(), 1);
    }
}
