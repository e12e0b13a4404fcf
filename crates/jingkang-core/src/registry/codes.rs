//! Code lists for the structured fields of 附件4 (登记表): stored as stable codes, shown in Chinese.
//! Data, not logic: adding an option is adding a line.

pub struct CodeList {
    pub field: &'static str,
    pub options: &'static [(&'static str, &'static str)],
}

pub static CODE_LISTS: &[CodeList] = &[
    CodeList {
        field: "marital_status",
        options: &[
            ("married", "已婚"),
            ("unmarried", "未婚"),
            ("divorced", "离婚"),
            ("widowed", "丧偶"),
            ("separated", "分居"),
            ("other", "其他"),
        ],
    },
    CodeList {
        field: "education",
        options: &[
            ("illiterate", "文盲及半文盲"),
            ("primary", "小学"),
            ("junior", "初中"),
            ("senior", "高中/中专"),
            ("college", "大专及以上"),
            ("unknown", "不详"),
        ],
    },
    CodeList {
        field: "employment",
        options: &[
            ("employed", "在岗"),
            ("farmer", "农民"),
            ("unemployed", "无业"),
            ("student", "在校学生"),
            ("retired", "退休"),
            ("sheltered", "辅助性就业"),
            ("other", "其他"),
        ],
    },
    CodeList {
        field: "living_situation",
        options: &[
            ("with_family", "与亲属共同生活"),
            ("with_friends", "与朋友共同生活"),
            ("alone", "独自生活"),
            ("alone_visited", "独自生活但家人定时探望"),
            ("institution", "机构供养"),
        ],
    },
    CodeList {
        field: "economic_status",
        options: &[
            ("good", "好"),
            ("average", "一般"),
            ("poor", "较差"),
            ("impoverished", "贫困"),
        ],
    },
    CodeList {
        field: "medical_insurance",
        options: &[
            ("employee", "城镇职工基本医疗保险"),
            ("resident", "城乡居民基本医疗保险"),
            ("medical_aid", "医疗救助"),
            ("commercial", "商业保险"),
            ("none", "无"),
        ],
    },
    CodeList {
        field: "medication_adherence",
        options: &[
            ("regular", "规律"),
            ("intermittent", "间断"),
            ("none", "不服药"),
            ("not_needed", "医嘱勿需服药"),
        ],
    },
    CodeList {
        field: "medication_method",
        options: &[
            ("self", "自行服药"),
            ("family", "家属监护服药"),
            ("long_acting", "长效针剂"),
        ],
    },
    CodeList {
        field: "treatment_effect",
        options: &[
            ("cured", "痊愈"),
            ("improved", "好转"),
            ("unchanged", "无变化"),
            ("worse", "加重"),
        ],
    },
];

pub fn options(field: &str) -> Option<&'static [(&'static str, &'static str)]> {
    CODE_LISTS
        .iter()
        .find(|c| c.field == field)
        .map(|c| c.options)
}

/// The Chinese label of a code, or the code itself when unknown.
pub fn label(field: &str, code: &str) -> String {
    options(field)
        .and_then(|o| o.iter().find(|(c, _)| *c == code))
        .map(|(_, l)| l.to_string())
        .unwrap_or_else(|| code.to_string())
}

/// Parse a Chinese label or a code into the code.
pub fn parse(field: &str, text: &str) -> Option<&'static str> {
    let t = text.trim();
    options(field)?
        .iter()
        .find(|(c, l)| *c == t || *l == t)
        .map(|(c, _)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn codes_are_unique_and_parse_both_ways() {
        for list in CODE_LISTS {
            let mut seen = std::collections::HashSet::new();
            for (code, label_zh) in list.options {
                assert!(seen.insert(*code), "{} duplicate {code}", list.field);
                assert_eq!(parse(list.field, label_zh), Some(*code));
                assert_eq!(parse(list.field, code), Some(*code));
                assert_eq!(label(list.field, code), *label_zh);
            }
        }
    }
}
