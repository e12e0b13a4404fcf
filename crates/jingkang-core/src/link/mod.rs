//! Record linkage, independent of where the records come from: a configuration names the id
//! column, the fields with their comparators (`compare`) and the blocking rules; [`run`] pairs
//! the records of two tables (or of one table with itself, to find duplicates), scores each
//! candidate pair with a Fellegi–Sunter model estimated on the data (`model`) and answers the
//! pairs it judges matches, each with the levels and weights that made its score.
//!
//! Blocking: a rule names columns (each maybe transformed: `surname:sound`, `dob:first4`,
//! `phone:last8`); records with the same values on all of them are compared. A pair several
//! rules find is compared once (by the first rule that finds it), so rules can be added freely.

pub mod compare;
pub mod model;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::messages::render;
pub use compare::Comparator;
use model::{Model, Pattern};

/// A field compared: a column and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub column: String,
    #[serde(flatten)]
    pub comparator: Comparator,
}

/// A blocking rule: the keys (`column` or `column:transform`) that must all be equal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub on: Vec<String>,
}

/// The most blocking rules a configuration may have (a pair's rules are the bits of a `u32`).
pub const MAX_BLOCKS: usize = 32;

/// A linkage configuration (TOML, see `docs/linkage.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The column holding each record's id.
    pub id: String,
    /// The match probability at or above which a pair is judged a match.
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    #[serde(rename = "field")]
    pub fields: Vec<Field>,
    #[serde(rename = "block")]
    pub blocks: Vec<Block>,
    /// Random pairs drawn to estimate how often non-matches agree (`u`).
    #[serde(default = "default_sample")]
    pub u_sample: usize,
    /// The most rounds of EM.
    #[serde(default = "default_rounds")]
    pub max_rounds: usize,
}

fn default_threshold() -> f64 {
    0.9
}
fn default_sample() -> usize {
    1_000_000
}
fn default_rounds() -> usize {
    200
}

/// Something wrong with what the user gave (configuration, files), as a message code and its
/// arguments (`messages.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub code: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Problem {
    fn new(code: &'static str, args: &[(&'static str, &str)]) -> Problem {
        Problem {
            code,
            args: args.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        }
    }
    /// The message in Chinese.
    pub fn message(&self) -> String {
        let args: Vec<(&str, &str)> = self.args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        render(self.code, &args)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Problem {}

/// How a blocking key reads its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transform {
    Whole,
    Sound,
    First(usize),
    Last(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    column: String,
    transform: Transform,
}

fn parse_key(spec: &str) -> Result<Key, Problem> {
    let bad = || Problem::new("link-config-key", &[("key", spec)]);
    let (column, t) = spec.split_once(':').unwrap_or((spec, ""));
    let number = |s: &str| s.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(bad);
    let transform = match t {
        "" => Transform::Whole,
        "sound" => Transform::Sound,
        t if t.starts_with("first") => Transform::First(number(&t[5..])?),
        t if t.starts_with("last") => Transform::Last(number(&t[4..])?),
        _ => return Err(bad()),
    };
    if column.trim().is_empty() {
        return Err(bad());
    }
    Ok(Key {
        column: column.trim().to_string(),
        transform,
    })
}

impl Config {
    /// Read a configuration from TOML text; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> Result<Config, Problem> {
        let config: Config = toml::from_str(text).map_err(|e| {
            Problem::new(
                "link-config-invalid",
                &[("file", file), ("message", e.message())],
            )
        })?;
        let invalid =
            |m: &str| Problem::new("link-config-invalid", &[("file", file), ("message", m)]);
        if config.fields.len() > 16
            || config
                .fields
                .iter()
                .any(|f| f.comparator.levels().len() > 15)
        {
            return Err(invalid("最多 16 个字段，每个字段最多 15 个等级"));
        }
        if config.fields.is_empty() {
            return Err(invalid("至少要有一个 [[field]]"));
        }
        if config.blocks.is_empty() || config.blocks.iter().any(|b| b.on.is_empty()) {
            return Err(invalid("至少要有一条 [[block]]，且每条的 on 不能为空"));
        }
        // A candidate pair records the rules that find it as the bits of a `u32` (`candidates`).
        if config.blocks.len() > MAX_BLOCKS {
            return Err(invalid(&format!("最多 {MAX_BLOCKS} 条 [[block]]")));
        }
        if !(config.threshold > 0.0 && config.threshold < 1.0) {
            return Err(invalid("threshold 应在 0 与 1 之间"));
        }
        for f in &config.fields {
            if let Comparator::JaroWinkler { thresholds } = &f.comparator
                && (thresholds.is_empty()
                    || thresholds.windows(2).any(|w| w[0] <= w[1])
                    || thresholds.iter().any(|t| !(0.0..=1.0).contains(t)))
            {
                return Err(invalid(&format!(
                    "字段 {} 的 thresholds 应从高到低、在 0 与 1 之间",
                    f.column
                )));
            }
        }
        for b in &config.blocks {
            for k in &b.on {
                parse_key(k)?;
            }
        }
        Ok(config)
    }

    /// Every column the configuration reads.
    pub fn columns(&self) -> Vec<String> {
        let mut out = vec![self.id.clone()];
        out.extend(self.fields.iter().map(|f| f.column.clone()));
        out.extend(
            self.blocks
                .iter()
                .flat_map(|b| b.on.iter())
                .filter_map(|k| parse_key(k).ok())
                .map(|k| k.column),
        );
        let mut seen = std::collections::HashSet::new();
        out.retain(|c| seen.insert(c.clone()));
        out
    }
}

/// Records to link: ids and, by column name, their values (`None`: empty).
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub name: String,
    pub ids: Vec<String>,
    pub columns: HashMap<String, Vec<Option<String>>>,
}

impl Table {
    /// Read the columns `config` needs from a CSV file with a header row (UTF-8, with or
    /// without a byte-order mark, or GB18030 as Excel in China saves it).
    pub fn read_csv(path: &Path, config: &Config) -> Result<Table, Problem> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| {
            Problem::new(
                "link-file-unreadable",
                &[("file", &name), ("message", &e.to_string())],
            )
        })?;
        let text = match std::str::from_utf8(&bytes) {
            Ok(t) => std::borrow::Cow::Borrowed(t.trim_start_matches('\u{FEFF}')),
            Err(_) => encoding_rs::GB18030.decode(&bytes).0,
        };
        Table::from_csv_text(&text, &name, config)
    }

    pub fn from_csv_text(text: &str, name: &str, config: &Config) -> Result<Table, Problem> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| {
                Problem::new(
                    "link-file-unreadable",
                    &[("file", name), ("message", &e.to_string())],
                )
            })?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let wanted = config.columns();
        let mut at: Vec<(String, usize)> = Vec::new();
        for c in &wanted {
            match headers.iter().position(|h| h == c) {
                Some(i) => at.push((c.clone(), i)),
                None => {
                    return Err(Problem::new(
                        "link-column-missing",
                        &[
                            ("file", name),
                            ("column", c),
                            ("found", &headers.join("、")),
                        ],
                    ));
                }
            }
        }
        let mut table = Table {
            name: name.to_string(),
            ids: Vec::new(),
            columns: wanted
                .iter()
                .skip(1)
                .map(|c| (c.clone(), Vec::new()))
                .collect(),
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, record) in reader.records().enumerate() {
            let row = (i + 2).to_string();
            let record = record.map_err(|e| {
                Problem::new(
                    "link-row-invalid",
                    &[("file", name), ("row", &row), ("message", &e.to_string())],
                )
            })?;
            let id = record.get(at[0].1).unwrap_or("").trim().to_string();
            if id.is_empty() {
                return Err(Problem::new(
                    "link-id-missing",
                    &[("file", name), ("row", &row), ("column", &config.id)],
                ));
            }
            if let Some(first) = seen.insert(id.clone(), i + 2) {
                return Err(Problem::new(
                    "link-id-repeated",
                    &[
                        ("file", name),
                        ("row", &row),
                        ("column", &config.id),
                        ("id", &id),
                        ("first", &first.to_string()),
                    ],
                ));
            }
            table.ids.push(id);
            for (c, j) in &at[1..] {
                let v = record
                    .get(*j)
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string);
                if let Some(col) = table.columns.get_mut(c) {
                    col.push(v);
                }
            }
        }
        Ok(table)
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A pair judged a match (or a candidate, in [`Outcome::candidates`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    pub left: String,
    pub right: String,
    /// The match probability.
    pub score: f64,
    /// Its log2 odds.
    pub weight: f64,
    /// Per field: (column, level name, weight) — `None` weight when a value was missing.
    pub fields: Vec<(String, &'static str, Option<f64>)>,
}

/// What a run found.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub threshold: f64,
    /// The pairs judged matches, best first.
    pub pairs: Vec<Scored>,
    /// Candidate pairs compared.
    pub compared: u64,
    /// The share of the candidates EM took for matches.
    pub candidate_share: f64,
    /// The model pairs were scored with (its λ the prior of a random pair).
    pub model: Model,
}

/// A field's values of a table, prepared by its comparator.
fn prepared(table: &Table, field: &Field) -> Vec<Option<String>> {
    table
        .columns
        .get(&field.column)
        .map(|col| {
            col.iter()
                .map(|v| v.as_deref().and_then(|v| field.comparator.prepare(v)))
                .collect()
        })
        .unwrap_or_default()
}

/// Each record's key under a blocking rule, hashed (`None`: a key part empty, not blocked).
fn block_keys(
    table: &Table,
    config: &Config,
    rule: &Block,
    hasher: &impl BuildHasher,
) -> Vec<Option<u64>> {
    let keys: Vec<Key> = rule.on.iter().filter_map(|k| parse_key(k).ok()).collect();
    // A key column that is a field is read as its comparator prepares it (dates as digits).
    let comparator = |column: &str| {
        config
            .fields
            .iter()
            .find(|f| f.column == column)
            .map_or(Comparator::Exact, |f| f.comparator.clone())
    };
    let parts: Vec<(Transform, Comparator, &Vec<Option<String>>)> = keys
        .iter()
        .filter_map(|k| {
            table
                .columns
                .get(&k.column)
                .map(|col| (k.transform, comparator(&k.column), col))
        })
        .collect();
    (0..table.len())
        .map(|row| {
            let mut h = hasher.build_hasher();
            for (transform, comparator, col) in &parts {
                let v = comparator.prepare(col[row].as_deref()?)?;
                let v: String = match transform {
                    Transform::Whole => v,
                    Transform::Sound => match v.split_once('\u{1F}') {
                        Some((_, sound)) => sound.to_string(),
                        None => compare::sound(&v),
                    },
                    Transform::First(n) => v.chars().take(*n).collect(),
                    Transform::Last(n) => {
                        let c: Vec<char> = v.chars().collect();
                        c[c.len().saturating_sub(*n)..].iter().collect()
                    }
                };
                if v.is_empty() {
                    return None;
                }
                v.hash(&mut h);
            }
            Some(h.finish())
        })
        .collect()
}

/// The candidate pairs (left row, right row) of the blocking rules, each once, and for each the
/// rules that find it (bit `r` for rule `r`). With no right table, the pairs within `left`
/// (row < row).
fn candidates(left: &Table, right: Option<&Table>, config: &Config) -> (Vec<(u32, u32)>, Vec<u32>) {
    let hasher = std::hash::RandomState::new();
    let lkeys: Vec<Vec<Option<u64>>> = config
        .blocks
        .iter()
        .map(|b| block_keys(left, config, b, &hasher))
        .collect();
    let rkeys: Vec<Vec<Option<u64>>> = match right {
        Some(r) => config
            .blocks
            .iter()
            .map(|b| block_keys(r, config, b, &hasher))
            .collect(),
        None => lkeys.clone(),
    };
    let mut out = Vec::new();
    let mut found_by = Vec::new();
    let agree = |e: usize, a: usize, b: usize| lkeys[e][a].is_some() && lkeys[e][a] == rkeys[e][b];
    for (r, (lk, rk)) in lkeys.iter().zip(&rkeys).enumerate() {
        let mut groups: HashMap<u64, Vec<u32>> = HashMap::new();
        for (row, k) in rk.iter().enumerate() {
            if let Some(k) = k {
                groups.entry(*k).or_default().push(row as u32);
            }
        }
        for (a, k) in lk.iter().enumerate() {
            let Some(group) = k.and_then(|k| groups.get(&k)) else {
                continue;
            };
            for &b in group {
                if right.is_none() && b as usize <= a {
                    continue;
                }
                // Found by an earlier rule already: compared there.
                if !(0..r).any(|e| agree(e, a, b as usize)) {
                    out.push((a as u32, b));
                    found_by.push(
                        (r..lkeys.len())
                            .filter(|e| agree(*e, a, b as usize))
                            .fold(0u32, |m, e| m | (1 << e)),
                    );
                }
            }
        }
    }
    (out, found_by)
}

/// A missing value's level in a packed pattern.
const MISSING: u64 = 0xF;

/// `f` of each pair, the pairs shared out among the machine's cores.
fn in_parallel(pairs: &[(u32, u32)], f: &(impl Fn(usize, usize) -> u64 + Sync)) -> Vec<u64> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .max(1);
    let chunk = pairs.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> = pairs
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|&(a, b)| f(a as usize, b as usize))
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// How many times each packed pattern occurs.
fn tally(codes: &[u64]) -> std::collections::BTreeMap<u64, u64> {
    let mut out = std::collections::BTreeMap::new();
    for c in codes {
        *out.entry(*c).or_default() += 1;
    }
    out
}

/// Link `left` with `right` (or find the duplicates within `left`).
pub fn run(config: &Config, left: &Table, right: Option<&Table>) -> Outcome {
    let other = right.unwrap_or(left);
    let lvals: Vec<Vec<Option<String>>> = config.fields.iter().map(|f| prepared(left, f)).collect();
    let rvals: Vec<Vec<Option<String>>> = match right {
        Some(r) => config.fields.iter().map(|f| prepared(r, f)).collect(),
        None => lvals.clone(),
    };
    // A pair's levels packed in one integer, four bits a field (15: missing): millions of
    // pairs without an allocation each.
    let code = |a: usize, b: usize| -> u64 {
        config
            .fields
            .iter()
            .enumerate()
            .fold(0u64, |acc, (f, field)| {
                let l = field
                    .comparator
                    .level(lvals[f][a].as_deref(), rvals[f][b].as_deref())
                    .map_or(MISSING, u64::from);
                acc | (l << (4 * f))
            })
    };
    let unpack = |c: u64| -> Pattern {
        (0..config.fields.len())
            .map(|f| Some(((c >> (4 * f)) & MISSING) as u8).filter(|l| u64::from(*l) != MISSING))
            .collect()
    };
    let levels: Vec<usize> = config
        .fields
        .iter()
        .map(|f| f.comparator.levels().len())
        .collect();

    // u: how often random pairs (almost all non-matches) reach each level.
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
    let possible = (left.len() as u128) * (other.len() as u128);
    let mut sample: Vec<(u32, u32)> = Vec::new();
    if possible > 1 {
        for _ in 0..(config.u_sample as u128).min(possible) {
            let a = rand::Rng::random_range(&mut rng, 0..left.len());
            let b = rand::Rng::random_range(&mut rng, 0..other.len());
            if right.is_none() && a == b {
                continue;
            }
            sample.push((a as u32, b as u32));
        }
    }
    let random: HashMap<Pattern, u64> = tally(&in_parallel(&sample, &code))
        .into_iter()
        .map(|(c, n)| (unpack(c), n))
        .collect();
    let u = (!random.is_empty()).then(|| model::level_shares(&levels, &random));

    // m and λ by EM over the candidates' patterns.
    let (pairs, found_by) = candidates(left, right, config);
    let codes = in_parallel(&pairs, &code);
    let tallied = tally(&codes);
    let ids: HashMap<u64, u32> = tallied
        .keys()
        .enumerate()
        .map(|(i, c)| (*c, i as u32))
        .collect();
    let patterns: Vec<Pattern> = tallied.keys().map(|c| unpack(*c)).collect();
    let counts: HashMap<Pattern, u64> = tallied.iter().map(|(c, n)| (unpack(*c), *n)).collect();
    let of_pair: Vec<u32> = codes.iter().map(|c| ids[c]).collect();
    let fix_u = u.is_some();
    let start = Model::start(&levels, u);
    // m by EM rule by rule, as Splink trains: a rule's pairs all agree on the fields it blocks
    // on, so there those fields are left out (taken as missing) and their m not learnt; a
    // field's m is the mean of the rules that learnt it (or, learnt by none, of EM over all).
    let whole = model::estimate(&counts, start.clone(), fix_u, config.max_rounds);
    let mut learnt: Vec<Vec<Vec<f64>>> = vec![Vec::new(); config.fields.len()];
    for (r, rule) in config.blocks.iter().enumerate() {
        let blocked: Vec<bool> = config
            .fields
            .iter()
            .map(|f| {
                rule.on
                    .iter()
                    .filter_map(|k| parse_key(k).ok())
                    .any(|k| k.column == f.column)
            })
            .collect();
        let mask = blocked
            .iter()
            .enumerate()
            .filter(|(_, b)| **b)
            .fold(0u64, |m, (f, _)| m | (MISSING << (4 * f)));
        // Every pair the rule finds, also those an earlier rule found first.
        let of_rule: Vec<u64> = codes
            .iter()
            .zip(&found_by)
            .filter(|(_, f)| *f & (1 << r) != 0)
            .map(|(c, _)| c | mask)
            .collect();
        let session: HashMap<Pattern, u64> = tally(&of_rule)
            .into_iter()
            .map(|(c, n)| (unpack(c), n))
            .collect();
        if session.values().sum::<u64>() < 100 {
            continue;
        }
        let fitted = model::estimate(&session, start.clone(), fix_u, config.max_rounds);
        for (f, b) in blocked.iter().enumerate() {
            if !b {
                learnt[f].push(fitted.m[f].clone());
            }
        }
    }
    let m: Vec<Vec<f64>> = learnt
        .iter()
        .enumerate()
        .map(|(f, ms)| {
            if ms.is_empty() {
                whole.m[f].clone()
            } else {
                (0..levels[f])
                    .map(|l| ms.iter().map(|v| v[l]).sum::<f64>() / ms.len() as f64)
                    .collect()
            }
        })
        .collect();
    // λ among the candidates with m and u as learnt.
    let trained = model::estimate_lambda(&counts, Model { m, ..whole }, config.max_rounds);
    let candidate_share = trained.lambda;
    let all_pairs = if right.is_some() {
        possible as f64
    } else {
        possible as f64 / 2.0
    };
    let prior = if fix_u && all_pairs > 0.0 {
        (candidate_share * pairs.len() as f64 / all_pairs).clamp(1e-12, 0.5)
    } else {
        candidate_share
    };
    let fitted = Model {
        lambda: prior,
        ..trained
    };
    let probability: Vec<f64> = patterns.iter().map(|p| fitted.probability(p)).collect();
    let names: Vec<Vec<&'static str>> = config
        .fields
        .iter()
        .map(|f| f.comparator.levels())
        .collect();
    let mut matched: Vec<Scored> = pairs
        .iter()
        .zip(&of_pair)
        .filter(|(_, id)| probability[**id as usize] >= config.threshold)
        .map(|(&(a, b), id)| {
            let p = &patterns[*id as usize];
            let (weight, parts) = fitted.weight(p);
            Scored {
                left: left.ids[a as usize].clone(),
                right: other.ids[b as usize].clone(),
                score: probability[*id as usize],
                weight,
                fields: config
                    .fields
                    .iter()
                    .enumerate()
                    .map(|(f, field)| {
                        (
                            field.column.clone(),
                            p[f].map_or("missing", |l| names[f][l as usize]),
                            parts[f],
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    matched.sort_by(|x, y| {
        y.score
            .total_cmp(&x.score)
            .then_with(|| x.left.cmp(&y.left))
            .then_with(|| x.right.cmp(&y.right))
    });
    Outcome {
        threshold: config.threshold,
        pairs: matched,
        compared: pairs.len() as u64,
        candidate_share,
        model: fitted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
id = "id"
threshold = 0.5
u_sample = 10000
[[field]]
column = "name"
compare = "name"
[[field]]
column = "dob"
compare = "date"
[[field]]
column = "address"
compare = "tokens"
[[block]]
on = ["name:sound"]
[[block]]
on = ["dob"]
"#;

    fn table(rows: &[(&str, &str, &str, &str)], config: &Config) -> Table {
        let mut text = String::from("id,name,dob,address\n");
        for (id, n, d, a) in rows {
            text.push_str(&format!("{id},{n},{d},{a}\n"));
        }
        Table::from_csv_text(&text, "t.csv", config).unwrap()
    }

    #[test]
    fn a_configuration_is_checked() {
        assert!(Config::parse(CONFIG, "c.toml").is_ok());
        let e = Config::parse(
            &CONFIG.replace("compare = \"tokens\"", "compare = \"fuzzy\""),
            "c.toml",
        )
        .unwrap_err();
        assert_eq!(e.code, "link-config-invalid");
        assert!(e.message().contains("c.toml"), "{}", e.message());
        assert_eq!(
            Config::parse(&CONFIG.replace("name:sound", "name:loud"), "c.toml")
                .unwrap_err()
                .code,
            "link-config-key"
        );
        assert_eq!(
            Config::parse(
                &CONFIG.replace("threshold = 0.5", "threshold = 5"),
                "c.toml"
            )
            .unwrap_err()
            .code,
            "link-config-invalid"
        );
        // More rules than the bits a pair records them in are refused (they overflowed a shift).
        let rule = "[[block]]\non = [\"dob\"]\n";
        let most = format!("{CONFIG}{}", rule.repeat(MAX_BLOCKS - 2));
        assert!(Config::parse(&most, "c.toml").is_ok());
        let e = Config::parse(&format!("{most}{rule}"), "c.toml").unwrap_err();
        assert!(e.message().contains("32"), "{}", e.message());
    }

    #[test]
    fn bad_files_say_what_and_where() {
        let c = Config::parse(CONFIG, "c.toml").unwrap();
        let e = Table::from_csv_text("id,name,dob\n1,张三,1980-01-01\n", "l.csv", &c).unwrap_err();
        assert_eq!(e.code, "link-column-missing");
        assert!(
            e.message().contains("address") && e.message().contains("l.csv"),
            "{}",
            e.message()
        );
        let e = Table::from_csv_text(
            "id,name,dob,address\n1,张三,1980-01-01,甲\n,李四,1980-01-01,乙\n",
            "l.csv",
            &c,
        )
        .unwrap_err();
        assert_eq!((e.code, e.args[1].1.as_str()), ("link-id-missing", "3"));
        let e = Table::from_csv_text(
            "id,name,dob,address\n1,张三,1980-01-01,甲\n1,李四,1980-01-01,乙\n",
            "l.csv",
            &c,
        )
        .unwrap_err();
        assert_eq!(e.code, "link-id-repeated");
        let e = Table::from_csv_text("id,name,dob,address\n1,张三,1980-01-01\n", "l.csv", &c)
            .unwrap_err();
        assert_eq!((e.code, e.args[1].1.as_str()), ("link-row-invalid", "2"));
    }

    #[test]
    fn blocking_finds_each_pair_once() {
        let c = Config::parse(CONFIG, "c.toml").unwrap();
        let l = table(
            &[
                ("1", "张晓明", "1980-01-01", "甲"),
                ("2", "李四", "1990-02-02", "乙"),
            ],
            &c,
        );
        let r = table(
            &[
                ("a", "张小明", "1980-01-01", "甲"),
                ("b", "王五", "1990-02-02", "丙"),
                ("c", "李四", "1970-01-01", "乙"),
            ],
            &c,
        );
        let (pairs, found_by) = candidates(&l, Some(&r), &c);
        let mut found: Vec<((u32, u32), u32)> = pairs.into_iter().zip(found_by).collect();
        found.sort();
        // 张晓明–张小明 by sound and by birth day, once (both rules find it); 李四–王五 by day;
        // 李四–李四 by sound.
        assert_eq!(found, [((0, 0), 0b11), ((1, 1), 0b10), ((1, 2), 0b01)]);
        let (within, _) = candidates(&r, None, &c);
        assert!(within.is_empty(), "{within:?}");
    }

    /// id, name, birth date, address.
    type Row = (String, String, String, String);

    #[test]
    fn duplicates_with_typos_are_found_and_explained() {
        // Blocking also on the surname, so that the model sees non-matches too.
        let c = Config::parse(
            &format!("{CONFIG}[[block]]\non = [\"name:first1\"]\n"),
            "c.toml",
        )
        .unwrap();
        // Forty persons, and four of them again with a homophone, a digit wrong, a swapped
        // day and month or a longer address.
        let surnames = ["张", "王", "李", "赵", "刘", "陈", "杨", "黄"];
        let given = ["伟", "芳", "娜", "敏", "静"];
        let mut rows: Vec<Row> = Vec::new();
        for i in 0..40 {
            let name = format!("{}{}{}", surnames[i % 8], given[i / 8], given[(i + 1) % 5]);
            rows.push((
                format!("p{i}"),
                name,
                format!("19{:02}-{:02}-{:02}", 50 + i, 1 + i % 12, 1 + i % 28),
                format!("万盛街道{}号", i * 7),
            ));
        }
        let copy = |i: usize, f: &dyn Fn(&mut Row)| {
            let mut r = rows[i].clone();
            r.0 = format!("d{i}");
            f(&mut r);
            r
        };
        let extra = vec![
            copy(0, &|r| r.1 = r.1.replace('芳', "方")),
            copy(9, &|r| r.2 = r.2.replacen("19", "18", 1)),
            copy(17, &|r| r.3.push_str("2单元")),
            copy(26, &|r| r.1 = r.1.replace('娜', "那")),
        ];
        rows.extend(extra);
        let refs: Vec<(&str, &str, &str, &str)> = rows
            .iter()
            .map(|(a, b, d, e)| (a.as_str(), b.as_str(), d.as_str(), e.as_str()))
            .collect();
        let t = table(&refs, &c);
        let out = run(&c, &t, None);
        let mut found: Vec<(String, String)> = out
            .pairs
            .iter()
            .map(|p| (p.left.clone(), p.right.clone()))
            .collect();
        found.sort();
        assert_eq!(
            found,
            [("p0", "d0"), ("p17", "d17"), ("p26", "d26"), ("p9", "d9")]
                .map(|(a, b)| (a.to_string(), b.to_string())),
            "{:#?}",
            out.pairs
        );
        assert!(
            out.compared > 40,
            "the surname block adds non-matches: {}",
            out.compared
        );
        let homophone = out.pairs.iter().find(|p| p.left == "p0").unwrap();
        assert_eq!(homophone.fields[0].1, "same_sound");
        assert!(
            homophone.fields[1].2.unwrap() > 0.0,
            "the same birth day speaks for a match"
        );
    }

    /// The shipped configuration for department lists on generated lists with known truth
    /// (homophones, date typos, missing and 15-digit IDs, moved addresses): F1 at least 0.98.
    #[test]
    fn generated_department_lists_link_with_high_f1() {
        let dir = tempfile::tempdir().unwrap();
        let opts = crate::generate::linkage::LinkageOptions {
            rows: 3000,
            listed: 0.8,
            others: 0.2,
            seed: 11,
        };
        let s = crate::generate::linkage::write_linkage(dir.path(), opts).unwrap();
        let c = Config::parse(
            include_str!("../../data/linkage_zh.toml"),
            "linkage_zh.toml",
        )
        .unwrap();
        let l = Table::read_csv(&dir.path().join("registry.csv"), &c).unwrap();
        let r = Table::read_csv(&dir.path().join("list.csv"), &c).unwrap();
        let out = run(&c, &l, Some(&r));
        let truth: std::collections::HashSet<(String, String)> =
            std::fs::read_to_string(dir.path().join("truth.csv"))
                .unwrap()
                .lines()
                .skip(1)
                .map(|l| {
                    let (a, b) = l.split_once(',').unwrap();
                    (a.to_string(), b.to_string())
                })
                .collect();
        assert_eq!(truth.len(), s.true_pairs);
        let tp = out
            .pairs
            .iter()
            .filter(|p| truth.contains(&(p.left.clone(), p.right.clone())))
            .count() as f64;
        let (precision, recall) = (tp / out.pairs.len() as f64, tp / truth.len() as f64);
        let f1 = 2.0 * precision * recall / (precision + recall);
        assert!(f1 >= 0.98, "precision {precision} recall {recall} f1 {f1}");
        // A homophone pair is found, and explained as one.
        assert!(
            out.pairs.iter().any(|p| p.fields[1].1 == "same_sound"),
            "no homophone among the matches"
        );
        assert!(
            out.pairs.iter().any(|p| p.fields[0].1 == "missing"),
            "no match without an ID number"
        );
    }
}
