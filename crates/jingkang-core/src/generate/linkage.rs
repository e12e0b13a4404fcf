//! Department lists with known truth, for the linkage engine (`crate::link`): a registry of
//! persons and a department's list holding most of them written otherwise — homophones in the
//! given name (张晓明 → 张小明), a digit of the birth date wrong or day and month swapped, the ID
//! number missing, in its legacy 15-digit form or with a digit wrong, a new address, another
//! phone — and persons the registry does not have. `truth.csv` pairs the ids of the same person.

use std::io::Write;
use std::path::Path;

use chrono::{Duration, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{GIVEN, ROADS, SURNAMES, id18};

/// Characters of the given names and others that sound the same (the pinyin crate's reading).
const HOMOPHONES: &[(&str, &str)] = &[
    ("明", "鸣铭"),
    ("晓", "小"),
    ("华", "化"),
    ("伟", "玮炜"),
    ("芳", "方"),
    ("丽", "莉俪"),
    ("军", "君均"),
    ("静", "晶菁"),
    ("强", "蔷"),
    ("洋", "阳扬"),
    ("勇", "永涌"),
    ("艳", "燕雁"),
    ("杰", "洁婕"),
    ("娟", "鹃"),
    ("涛", "韬"),
    ("超", "潮"),
    ("秀", "绣"),
    ("霞", "侠"),
    ("平", "萍苹"),
    ("刚", "钢"),
    ("英", "莹瑛"),
    ("建", "健剑"),
    ("文", "雯"),
    ("辉", "晖"),
    ("红", "虹宏"),
    ("玉", "钰"),
    ("兰", "岚"),
    ("志", "智"),
    ("林", "琳霖"),
    ("云", "芸"),
    ("成", "城诚"),
    ("福", "富"),
    ("荣", "容蓉"),
    ("贵", "桂"),
    ("琴", "勤"),
    ("梅", "玫"),
    ("凤", "峰锋"),
    ("清", "青晴"),
    ("龙", "隆"),
    ("飞", "菲"),
    ("鹏", "朋"),
    ("斌", "彬"),
    ("宇", "雨羽"),
    ("浩", "豪昊"),
    ("凯", "楷"),
    ("婷", "庭亭"),
    ("倩", "茜"),
    ("佳", "家嘉"),
    ("欣", "新馨"),
    ("慧", "惠"),
    ("俊", "骏"),
    ("光", "广"),
    ("维", "薇"),
    ("良", "梁"),
];

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct LinkageOptions {
    /// Persons in the registry.
    pub rows: usize,
    /// The share of them on the department's list.
    pub listed: f64,
    /// Persons on the list the registry does not have, as a share of the registry.
    pub others: f64,
    pub seed: u64,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LinkageSummary {
    pub registry: usize,
    pub list: usize,
    pub true_pairs: usize,
}

#[derive(Clone)]
struct Person {
    name: String,
    id: String,
    sex: &'static str,
    birth: NaiveDate,
    address: String,
    phone: String,
}

const HEADER: &str = "编号,姓名,身份证号,性别,出生日期,地址,电话\n";

/// A new person, their ID number unlike any given before (`used`).
fn person(rng: &mut ChaCha8Rng, used: &mut std::collections::HashSet<String>) -> Person {
    let surname = SURNAMES[rng.random_range(0..SURNAMES.len())];
    let mut given = GIVEN[rng.random_range(0..GIVEN.len())].to_string();
    if rng.random_bool(0.7) {
        given.push_str(GIVEN[rng.random_range(0..GIVEN.len())]);
    }
    let birth = NaiveDate::from_ymd_opt(1940, 1, 1).unwrap_or_default()
        + Duration::days(rng.random_range(0..365 * 65));
    let county = ["500110", "500111", "500112", "500113", "500114"][rng.random_range(0..5)];
    let sex = if rng.random_bool(0.5) { "男" } else { "女" };
    // The sequence's last digit is odd for men; one not taken on that day in that county.
    let id = loop {
        let seq3 = rng.random_range(0..500u32) * 2 + u32::from(sex == "男");
        let id = id18(county, birth, seq3);
        if used.insert(id.clone()) {
            break id;
        }
    };
    Person {
        name: format!("{surname}{given}"),
        id,
        sex,
        birth,
        address: format!(
            "{}路{}号{}栋{}单元",
            ROADS[rng.random_range(0..ROADS.len())],
            rng.random_range(1..300),
            rng.random_range(1..30),
            rng.random_range(1..6)
        ),
        phone: format!(
            "1{}{:09}",
            [3, 5, 8][rng.random_range(0..3)],
            rng.random_range(0..1_000_000_000u32)
        ),
    }
}

/// The same person as another office writes them down.
fn garble(rng: &mut ChaCha8Rng, p: &Person) -> Person {
    let mut q = p.clone();
    if rng.random_bool(0.15) {
        // A homophone for one character of the given name.
        let chars: Vec<char> = q.name.chars().collect();
        let at: Vec<(usize, &str)> = chars
            .iter()
            .enumerate()
            .skip(1)
            .filter_map(|(i, c)| {
                HOMOPHONES
                    .iter()
                    .find(|(h, _)| h.starts_with(*c))
                    .map(|(_, s)| (i, *s))
            })
            .collect();
        if !at.is_empty() {
            let (i, subs) = at[rng.random_range(0..at.len())];
            let subs: Vec<char> = subs.chars().collect();
            let mut chars = chars;
            chars[i] = subs[rng.random_range(0..subs.len())];
            q.name = chars.into_iter().collect();
        }
    }
    let r: f64 = rng.random();
    if r < 0.05 {
        // One digit of the birth date wrong (the day's last).
        let d = q.birth.format("%Y%m%d").to_string();
        let last = (d.as_bytes()[7] - b'0' + 1 + rng.random_range(0..8)) % 10;
        let typo = format!("{}{last}", &d[..7]);
        q.birth = NaiveDate::parse_from_str(&typo, "%Y%m%d").unwrap_or(q.birth);
    } else if r < 0.08
        && let Some(swapped) = NaiveDate::from_ymd_opt(
            chrono::Datelike::year(&q.birth),
            chrono::Datelike::day(&q.birth),
            chrono::Datelike::month(&q.birth),
        )
    {
        q.birth = swapped;
    }
    let r: f64 = rng.random();
    if r < 0.15 {
        q.id = String::new();
    } else if r < 0.22 {
        // The legacy 15-digit form: no century, no check character.
        q.id = format!("{}{}", &q.id[..6], &q.id[8..17]);
    } else if r < 0.26 {
        let mut b = q.id.clone().into_bytes();
        let i = rng.random_range(6..17);
        b[i] = b'0' + (b[i] - b'0' + 1 + rng.random_range(0..8)) % 10;
        q.id = String::from_utf8(b).unwrap_or_default();
    }
    if rng.random_bool(0.2) {
        q.address = format!(
            "{}路{}号",
            ROADS[rng.random_range(0..ROADS.len())],
            rng.random_range(1..300)
        );
    }
    let r: f64 = rng.random();
    if r < 0.2 {
        q.phone = String::new();
    } else if r < 0.4 {
        q.phone = format!(
            "1{}{:09}",
            [3, 5, 8][rng.random_range(0..3)],
            rng.random_range(0..1_000_000_000u32)
        );
    }
    q
}

fn line(out: &mut impl Write, id: &str, p: &Person) -> std::io::Result<()> {
    writeln!(
        out,
        "{id},{},{},{},{},{},{}",
        p.name,
        p.id,
        p.sex,
        p.birth.format("%Y-%m-%d"),
        p.address,
        p.phone
    )
}

/// Write `registry.csv`, `list.csv` and `truth.csv` (registry id, list id) into `dir`.
pub fn write_linkage(dir: &Path, opts: LinkageOptions) -> std::io::Result<LinkageSummary> {
    std::fs::create_dir_all(dir)?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let file = |name: &str| -> std::io::Result<std::io::BufWriter<std::fs::File>> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join(name))?);
        f.write_all(HEADER.as_bytes())?;
        Ok(f)
    };
    let (mut registry, mut list) = (file("registry.csv")?, file("list.csv")?);
    let mut truth = std::io::BufWriter::new(std::fs::File::create(dir.join("truth.csv"))?);
    truth.write_all(b"registry,list\n")?;
    let mut listed: Vec<(u32, Person)> = Vec::new();
    let mut used = std::collections::HashSet::new();
    for i in 0..opts.rows {
        let p = person(&mut rng, &mut used);
        line(&mut registry, &format!("R{i}"), &p)?;
        if rng.random_bool(opts.listed.clamp(0.0, 1.0)) {
            listed.push((i as u32, garble(&mut rng, &p)));
        }
    }
    let others = (opts.rows as f64 * opts.others.max(0.0)) as usize;
    for _ in 0..others {
        listed.push((u32::MAX, person(&mut rng, &mut used)));
    }
    // The list in an order of its own.
    for i in (1..listed.len()).rev() {
        listed.swap(i, rng.random_range(0..=i));
    }
    let mut pairs = 0;
    for (k, (of, q)) in listed.iter().enumerate() {
        line(&mut list, &format!("L{k}"), q)?;
        if *of != u32::MAX {
            writeln!(truth, "R{of},L{k}")?;
            pairs += 1;
        }
    }
    registry.flush()?;
    list.flush()?;
    truth.flush()?;
    Ok(LinkageSummary {
        registry: opts.rows,
        list: listed.len(),
        true_pairs: pairs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homophones_sound_the_same() {
        for (c, subs) in HOMOPHONES {
            for s in subs.chars() {
                assert_eq!(
                    crate::link::compare::sound(c),
                    crate::link::compare::sound(&s.to_string()),
                    "{c} {s}"
                );
            }
        }
    }

    #[test]
    fn lists_hold_their_truth() {
        let dir = tempfile::tempdir().unwrap();
        let s = write_linkage(
            dir.path(),
            LinkageOptions {
                rows: 2000,
                listed: 0.8,
                others: 0.2,
                seed: 3,
            },
        )
        .unwrap();
        assert!((1500..1700).contains(&s.true_pairs), "{s:?}");
        assert_eq!(s.list, s.true_pairs + 400);
        let text = std::fs::read_to_string(dir.path().join("list.csv")).unwrap();
        assert!(
            text.lines()
                .any(|l| l.split(',').nth(2).is_some_and(|id| id.len() == 15)),
            "legacy numbers planted"
        );
        assert!(
            text.lines().any(|l| l.split(',').nth(2) == Some("")),
            "missing numbers planted"
        );
        let truth = std::fs::read_to_string(dir.path().join("truth.csv")).unwrap();
        assert_eq!(truth.lines().count(), s.true_pairs + 1);
    }
}
