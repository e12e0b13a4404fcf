//! Assessment instruments defined by data (SPEC §6): items, their options and scores, reverse
//! items, "not applicable", the total (a sum of the items, or a total the rater gives within a
//! range), bands and the interpretation. The shipped instruments are the files of
//! `data/instruments/` (SDSS, PSP, the follow-up form's five social-function items), embedded at
//! build time; [`Catalogue::shipped_and`] adds those of a folder (the binary does not take one
//! yet). A new instrument is a file, not code.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::messages;

/// What a domain of instruments is called, for messages (`social_function` → 社会功能).
pub fn domain_label_zh(domain: &str) -> &str {
    match domain {
        "social_function" => "社会功能",
        "mood" => "情绪",
        "cognition" => "认知功能",
        other => other,
    }
}

/// One option of an item.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Choice {
    /// What is stored.
    pub value: String,
    pub label: String,
    /// Its score; absent for "not applicable".
    #[serde(default)]
    pub score: Option<i64>,
    /// The item does not apply: it is excluded from the total.
    #[serde(default)]
    pub not_applicable: bool,
}

/// One item.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Item {
    pub key: String,
    pub label: String,
    /// Its own options; absent: the instrument's.
    #[serde(default)]
    pub options: Option<Vec<Choice>>,
    /// Scored the other way round: lowest ↔ highest of its scores.
    #[serde(default)]
    pub reverse: bool,
    /// May be left unanswered (then excluded, like "not applicable").
    #[serde(default)]
    pub optional: bool,
}

/// How the total is made.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Total {
    /// The sum of the applicable items' scores.
    Sum,
    /// A total the rater gives (as PSP's 1–100), in the answer `key`.
    Rated {
        key: String,
        label: String,
        min: i64,
        max: i64,
    },
}

/// A range of totals with its meaning; `flag` marks the ranges that call for attention.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Band {
    pub min: i64,
    pub max: i64,
    pub label: String,
    #[serde(default)]
    pub flag: bool,
}

/// An instrument as its file defines it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Instrument {
    pub code: String,
    pub name: String,
    pub short: String,
    pub version: String,
    /// Where it stands in the lists and forms (the first is the form's default).
    #[serde(default)]
    pub order: i64,
    /// What it measures (e.g. `social_function`): the employment referral reads the latest
    /// assessment of this domain.
    pub domain: String,
    /// The options of every item that has none of its own.
    #[serde(default)]
    pub options: Vec<Choice>,
    pub items: Vec<Item>,
    pub total: Total,
    pub bands: Vec<Band>,
    pub interpretation: String,
}

impl Instrument {
    /// Parse and check a definition: unique item keys and option values, every item with options,
    /// scores on every applicable option, bands that do not overlap.
    pub fn parse(json: &str) -> anyhow::Result<Instrument> {
        let i: Instrument = serde_json::from_str(json)?;
        anyhow::ensure!(
            !i.code.trim().is_empty() && !i.items.is_empty(),
            "instrument without a code or items"
        );
        let mut keys = BTreeSet::new();
        for item in &i.items {
            anyhow::ensure!(
                keys.insert(item.key.as_str()),
                "{}: item {} appears twice",
                i.code,
                item.key
            );
            let options = i.options_of(item);
            anyhow::ensure!(
                !options.is_empty(),
                "{}: item {} has no options",
                i.code,
                item.key
            );
            let mut values = BTreeSet::new();
            for o in options {
                anyhow::ensure!(
                    values.insert(o.value.as_str()),
                    "{}: item {}: option {} appears twice",
                    i.code,
                    item.key,
                    o.value
                );
                anyhow::ensure!(
                    o.not_applicable || o.score.is_some(),
                    "{}: item {}: option {} has no score",
                    i.code,
                    item.key,
                    o.value
                );
            }
        }
        if let Total::Rated { key, min, max, .. } = &i.total {
            anyhow::ensure!(
                !keys.contains(key.as_str()),
                "{}: the rated total's key {key} is also an item",
                i.code
            );
            anyhow::ensure!(min < max, "{}: the rated total's range is empty", i.code);
        }
        let mut bands: Vec<&Band> = i.bands.iter().collect();
        bands.sort_by_key(|b| b.min);
        for w in bands.windows(2) {
            anyhow::ensure!(
                w[0].max < w[1].min,
                "{}: bands {} and {} overlap",
                i.code,
                w[0].label,
                w[1].label
            );
        }
        anyhow::ensure!(
            bands.iter().all(|b| b.min <= b.max),
            "{}: a band is empty",
            i.code
        );
        Ok(i)
    }

    pub fn options_of<'a>(&'a self, item: &'a Item) -> &'a [Choice] {
        item.options.as_deref().unwrap_or(&self.options)
    }

    /// `answers` as a filled form reads: each item's label with the label of the option chosen
    /// (blank when unanswered), then a rated total with its label.
    pub fn describe(&self, answers: &BTreeMap<String, String>) -> Vec<(String, String)> {
        let mut lines: Vec<(String, String)> = self
            .items
            .iter()
            .map(|item| {
                let chosen = answers.get(&item.key).map_or_else(String::new, |v| {
                    self.options_of(item)
                        .iter()
                        .find(|c| &c.value == v)
                        .map_or_else(|| v.clone(), |c| c.label.clone())
                });
                (item.label.clone(), chosen)
            })
            .collect();
        if let Total::Rated { key, label, .. } = &self.total {
            lines.push((label.clone(), answers.get(key).cloned().unwrap_or_default()));
        }
        lines
    }

    /// The band a total falls in.
    pub fn band(&self, total: i64) -> Option<&Band> {
        self.bands.iter().find(|b| b.min <= total && total <= b.max)
    }

    /// Score `answers` (item key → option value; a rated total under its key). Every problem is
    /// reported, by item, in Chinese; nothing is scored unless all is well.
    pub fn score(&self, answers: &BTreeMap<String, String>) -> Result<Scored, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut items = Vec::with_capacity(self.items.len());
        let mut sum = 0;
        for item in &self.items {
            let options = self.options_of(item);
            let given = answers
                .get(&item.key)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty());
            let Some(given) = given else {
                if item.optional {
                    items.push(ItemScore {
                        key: item.key.clone(),
                        value: None,
                        score: None,
                    });
                } else {
                    problems.push(Problem::new(
                        &item.key,
                        "instrument-item-missing",
                        &[("item", &item.label)],
                    ));
                }
                continue;
            };
            let Some(choice) = options.iter().find(|o| o.value == given) else {
                let allowed: Vec<String> = options
                    .iter()
                    .map(|o| format!("{}（{}）", o.value, o.label))
                    .collect();
                problems.push(Problem::new(
                    &item.key,
                    "instrument-item-invalid",
                    &[("item", &item.label), ("allowed", &allowed.join("、"))],
                ));
                continue;
            };
            let score = match choice.score {
                Some(s) if !choice.not_applicable => {
                    let s = if item.reverse {
                        let scores: Vec<i64> = options.iter().filter_map(|o| o.score).collect();
                        let (lo, hi) = (
                            scores.iter().min().copied().unwrap_or(0),
                            scores.iter().max().copied().unwrap_or(0),
                        );
                        lo + hi - s
                    } else {
                        s
                    };
                    sum += s;
                    Some(s)
                }
                _ => None,
            };
            items.push(ItemScore {
                key: item.key.clone(),
                value: Some(choice.value.clone()),
                score,
            });
        }
        let total = match &self.total {
            Total::Sum => Some(sum),
            Total::Rated {
                key,
                label,
                min,
                max,
            } => match answers.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                None => {
                    problems.push(Problem::new(
                        key,
                        "instrument-item-missing",
                        &[("item", label)],
                    ));
                    None
                }
                Some(v) => match v.parse::<i64>() {
                    Ok(n) if (*min..=*max).contains(&n) => Some(n),
                    _ => {
                        let (lo, hi) = (min.to_string(), max.to_string());
                        problems.push(Problem::new(
                            key,
                            "instrument-total-range",
                            &[("item", label), ("min", &lo), ("max", &hi)],
                        ));
                        None
                    }
                },
            },
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let total = total.unwrap_or(sum);
        let band = self.band(total);
        let applicable = items.iter().filter(|i| i.score.is_some()).count();
        Ok(Scored {
            total,
            band: band.map(|b| b.label.clone()),
            flag: band.is_some_and(|b| b.flag),
            applicable,
            excluded: items.len() - applicable,
            items,
        })
    }
}

/// One item's answer and score (`None`: not applicable or left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ItemScore {
    pub key: String,
    pub value: Option<String>,
    pub score: Option<i64>,
}

/// A scored assessment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Scored {
    pub total: i64,
    /// The band's meaning.
    pub band: Option<String>,
    /// The band calls for attention.
    pub flag: bool,
    /// Items that count; items excluded (not applicable or left out).
    pub applicable: usize,
    pub excluded: usize,
    pub items: Vec<ItemScore>,
}

/// A problem with one answer, in Chinese.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// The item's key (or the rated total's).
    pub key: String,
    pub code: String,
    pub message: String,
}

impl Problem {
    /// A problem of field `key` with message `code` (no arguments).
    pub fn at(key: &str, code: &str) -> Problem {
        Problem::new(key, code, &[])
    }

    fn new(key: &str, code: &str, args: &[(&str, &str)]) -> Problem {
        Problem {
            key: key.to_string(),
            code: code.to_string(),
            message: messages::render(code, args),
        }
    }
}

// The shipped files, listed by the build script (`build.rs`): adding a file adds an instrument.
include!(concat!(env!("OUT_DIR"), "/instruments.rs"));

/// The instruments: the shipped ones, then those of `extra` (the JSON files of a folder given at
/// start-up), a later one replacing an earlier one of the same code. A file that does not parse
/// is an error naming it.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub instruments: Vec<Instrument>,
}

impl Catalogue {
    pub fn shipped() -> anyhow::Result<Catalogue> {
        Catalogue::with(
            SHIPPED
                .iter()
                .map(|(name, json)| (name.to_string(), json.to_string())),
        )
    }

    /// The shipped instruments and those of the `*.json` files in `dir`.
    pub fn shipped_and(dir: &std::path::Path) -> anyhow::Result<Catalogue> {
        let mut files: Vec<(String, String)> = SHIPPED
            .iter()
            .map(|(n, j)| (n.to_string(), j.to_string()))
            .collect();
        let mut local = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                local.push((path.display().to_string(), std::fs::read_to_string(&path)?));
            }
        }
        local.sort();
        files.extend(local);
        Catalogue::with(files)
    }

    fn with(files: impl IntoIterator<Item = (String, String)>) -> anyhow::Result<Catalogue> {
        let mut out: Vec<Instrument> = Vec::new();
        for (name, json) in files {
            let i = Instrument::parse(&json)
                .map_err(|e| anyhow::anyhow!("instrument file {name}: {e}"))?;
            out.retain(|o| o.code != i.code);
            out.push(i);
        }
        out.sort_by(|a, b| (a.order, &a.code).cmp(&(b.order, &b.code)));
        Ok(Catalogue { instruments: out })
    }

    pub fn get(&self, code: &str) -> Option<&Instrument> {
        self.instruments.iter().find(|i| i.code == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn shipped(code: &str) -> Instrument {
        Catalogue::shipped().unwrap().get(code).unwrap().clone()
    }

    const SDSS_KEYS: [&str; 10] = [
        "work",
        "marriage",
        "parenting",
        "withdrawal",
        "outside_activity",
        "home_activity",
        "family_role",
        "self_care",
        "interest",
        "responsibility",
    ];

    #[test]
    fn the_shipped_instruments_parse() {
        let c = Catalogue::shipped().unwrap();
        let codes: Vec<&str> = c.instruments.iter().map(|i| i.code.as_str()).collect();
        for code in ["sdss", "psp", "social_function"] {
            assert!(codes.contains(&code), "{codes:?}");
        }
        assert_eq!(
            codes,
            ["sdss", "social_function", "psp"],
            "in their order: SDSS is the form's default"
        );
        assert_eq!(shipped("sdss").items.len(), 10);
        assert_eq!(shipped("psp").items.len(), 4);
        assert_eq!(shipped("psp").bands.len(), 10, "ten 10-point bands");
    }

    /// Hand-worked SDSS cases: all zero; a deficit at exactly 2; "not applicable" (9) excluded from
    /// the total and the count; a missing answer and a value off the scale refused, by item.
    #[test]
    fn sdss_scores_by_hand() {
        let sdss = shipped("sdss");
        let all = |v: &str| answers(&SDSS_KEYS.map(|k| (k, v)));
        let s = sdss.score(&all("0")).unwrap();
        assert_eq!(
            (s.total, s.flag, s.applicable, s.band.as_deref()),
            (0, false, 10, Some("无明显社会功能缺陷"))
        );
        // 1 + 1 = 2: a deficit.
        let mut a = all("0");
        a.insert("work".into(), "1".into());
        a.insert("interest".into(), "1".into());
        let s = sdss.score(&a).unwrap();
        assert_eq!((s.total, s.flag), (2, true));
        // Unmarried, no children: 婚姻职能 and 父母职能 are 9, excluded; 2 + 1 + 2 = 5 over 8 items.
        let mut a = all("0");
        a.insert("marriage".into(), "9".into());
        a.insert("parenting".into(), "9".into());
        a.insert("work".into(), "2".into());
        a.insert("withdrawal".into(), "1".into());
        a.insert("self_care".into(), "2".into());
        let s = sdss.score(&a).unwrap();
        assert_eq!((s.total, s.applicable, s.excluded, s.flag), (5, 8, 2, true));
        assert_eq!(
            s.items[1],
            ItemScore {
                key: "marriage".into(),
                value: Some("9".into()),
                score: None
            }
        );
        // Everything not applicable: 0, no deficit.
        assert_eq!(sdss.score(&all("9")).unwrap().total, 0);
        // A missing answer and a 3: both reported, nothing scored.
        let mut a = all("0");
        a.remove("family_role");
        a.insert("interest".into(), "3".into());
        let p = sdss.score(&a).unwrap_err();
        assert_eq!(
            p.iter()
                .map(|p| (p.key.as_str(), p.code.as_str()))
                .collect::<Vec<_>>(),
            vec![
                ("family_role", "instrument-item-missing"),
                ("interest", "instrument-item-invalid")
            ]
        );
        assert!(
            p[0].message.contains("家庭职能") && p[1].message.contains("不适用"),
            "{p:?}"
        );
    }

    /// PSP: the domains are rated on six levels and the rater's total (1–100) gives the band.
    #[test]
    fn psp_scores_by_hand() {
        let psp = shipped("psp");
        let mut a = answers(&[
            ("useful_activities", "manifest"),
            ("relationships", "mild"),
            ("self_care", "absent"),
            ("disturbing", "absent"),
            ("score", "65"),
        ]);
        let s = psp.score(&a).unwrap();
        assert_eq!(s.total, 65);
        assert!(s.band.as_deref().unwrap().starts_with("61–70") && s.flag);
        assert_eq!(s.items[0].score, Some(2));
        a.insert("score".into(), "100".into());
        assert!(psp.score(&a).unwrap().band.unwrap().starts_with("91–100"));
        a.insert("score".into(), "1".into());
        assert!(psp.score(&a).unwrap().band.unwrap().starts_with("1–10"));
        for bad in ["0", "101", "七十"] {
            a.insert("score".into(), bad.into());
            let p = psp.score(&a).unwrap_err();
            assert_eq!(
                (p.len(), p[0].key.as_str(), p[0].code.as_str()),
                (1, "score", "instrument-total-range"),
                "{bad}"
            );
        }
        a.remove("score");
        a.remove("disturbing");
        let p = psp.score(&a).unwrap_err();
        assert_eq!(
            p.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(),
            vec!["disturbing", "score"]
        );
    }

    /// The follow-up form's five items score a follow-up's answers as they are stored.
    #[test]
    fn social_function_scores_follow_up_answers() {
        let sf = shipped("social_function");
        let a = answers(&[
            ("social.self_care", "good"),
            ("social.housework", "fair"),
            ("social.work", "na"),
            ("social.learning", "poor"),
            ("social.interpersonal", "fair"),
        ]);
        let s = sf.score(&a).unwrap();
        assert_eq!((s.total, s.applicable, s.excluded, s.flag), (4, 4, 1, true));
        assert_eq!(s.band.as_deref(), Some("社会功能部分受损"));
        // The keys match the follow-up form's.
        let form = crate::care::followup::FormDef::shipped().unwrap();
        for item in &sf.items {
            assert!(form.fields().any(|f| f.key == item.key), "{}", item.key);
        }
    }

    /// A definition by file, with a reverse item and an optional one; and the checks on a file.
    #[test]
    fn a_new_instrument_is_a_file() {
        let json = r#"{"code": "mood", "name": "情绪自评", "short": "情绪", "version": "1", "domain": "mood",
            "options": [{"value": "a", "label": "从不", "score": 1}, {"value": "b", "label": "有时", "score": 2}, {"value": "c", "label": "经常", "score": 3}],
            "items": [{"key": "sad", "label": "感到难过"}, {"key": "hopeful", "label": "对未来有希望", "reverse": true}, {"key": "note", "label": "其他", "optional": true}],
            "total": {"kind": "sum"}, "bands": [{"min": 0, "max": 3, "label": "正常"}, {"min": 4, "max": 9, "label": "需关注", "flag": true}],
            "interpretation": "示例"}"#;
        let i = Instrument::parse(json).unwrap();
        // 经常难过 (3) + 经常有希望 reversed (1 + 3 − 3 = 1) = 4; the optional item left out.
        let s = i
            .score(&answers(&[("sad", "c"), ("hopeful", "c")]))
            .unwrap();
        assert_eq!((s.total, s.flag, s.excluded), (4, true, 1));
        assert_eq!(
            i.score(&answers(&[("sad", "a"), ("hopeful", "a")]))
                .unwrap()
                .total,
            4,
            "从不有希望 counts 3"
        );
        let dup = json.replace(r#""key": "hopeful""#, r#""key": "sad""#);
        assert!(
            Instrument::parse(&dup)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        let overlap = json.replace(r#""min": 4"#, r#""min": 3"#);
        assert!(
            Instrument::parse(&overlap)
                .unwrap_err()
                .to_string()
                .contains("overlap")
        );
        let unscored = json.replace(r#""label": "有时", "score": 2"#, r#""label": "有时""#);
        assert!(
            Instrument::parse(&unscored)
                .unwrap_err()
                .to_string()
                .contains("no score")
        );
        // A local folder adds it, and replaces a shipped one of the same code.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mood.json"), json).unwrap();
        let c = Catalogue::shipped_and(dir.path()).unwrap();
        assert!(c.get("mood").is_some() && c.get("sdss").is_some());
        std::fs::write(dir.path().join("broken.json"), "{").unwrap();
        assert!(
            Catalogue::shipped_and(dir.path())
                .unwrap_err()
                .to_string()
                .contains("broken.json")
        );
    }
}
