//! Field comparators: each compares two values of a field and answers an agreement level, from 0
//! (disagree) up to the best (the same value), or nothing when either value is missing. The
//! Fellegi–Sunter model (`link::model`) learns how often matches and non-matches reach each
//! level; a comparator only decides which level a pair is at.

use serde::{Deserialize, Serialize};

/// How a field is compared, as a linkage configuration names it (`compare = "…"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "compare", rename_all = "snake_case")]
pub enum Comparator {
    /// The same value (after trimming and case folding), or not.
    Exact,
    /// Jaro–Winkler similarity, at or above each threshold (highest first), or exact.
    JaroWinkler {
        #[serde(default = "default_thresholds")]
        thresholds: Vec<f64>,
    },
    /// A person's name, Chinese or Latin: exact; the same sound (pinyin: 张晓明 = 张小明); the
    /// same parts swapped (surname and given name); close (Jaro–Winkler of the sound ≥ 0.9).
    Name,
    /// A date (any of `2026-03-01`, `2026/3/1`, `20260301`): exact; one digit wrong; day and
    /// month swapped; the same year and month.
    Date,
    /// An address or other text of parts: the share of parts (Chinese: character pairs; other
    /// text: words) in common, at 0.6 and 0.3, or exact.
    Tokens,
    /// A telephone number: the same digits; the same last eight (a changed area code).
    Phone,
    /// A resident ID number: a legacy 15-digit number is read as its 18-character form; exact,
    /// or one character wrong (a typo), or the same region and birth date (the first 14).
    IdNumber,
}

fn default_thresholds() -> Vec<f64> {
    vec![0.92, 0.8]
}

/// The levels of a comparator, lowest first (for explanations and for the model's size).
impl Comparator {
    pub fn levels(&self) -> Vec<&'static str> {
        match self {
            Comparator::Exact => vec!["disagree", "exact"],
            Comparator::JaroWinkler { thresholds } => {
                let mut v = vec!["disagree"];
                // Highest threshold last among the similar levels.
                v.extend(thresholds.iter().rev().map(|_| "similar"));
                v.push("exact");
                v
            }
            Comparator::Name => vec!["disagree", "similar", "swapped", "same_sound", "exact"],
            Comparator::Date => vec![
                "disagree",
                "same_month",
                "day_month_swapped",
                "one_digit",
                "exact",
            ],
            Comparator::Tokens => vec!["disagree", "some", "most", "exact"],
            Comparator::Phone => vec!["disagree", "last_eight", "exact"],
            Comparator::IdNumber => vec!["disagree", "same_birth", "one_char", "exact"],
        }
    }

    /// A value as this comparator reads it (trimmed, case and width folded; a date's or a
    /// phone's digits); `None` when empty.
    pub fn prepare(&self, raw: &str) -> Option<String> {
        let folded: String = raw
            .trim()
            .chars()
            .map(crate::domain::fold_width)
            .collect::<String>()
            .to_lowercase();
        let folded = folded.trim().to_string();
        if folded.is_empty() {
            return None;
        }
        match self {
            Comparator::Date => date_digits(&folded),
            Comparator::Phone => Some(
                folded
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect::<String>(),
            )
            .filter(|d| d.len() >= 5),
            Comparator::IdNumber => Some(id_canonical(&folded)),
            // The name and its sound, computed once per record (see `name_level`).
            Comparator::Name => {
                let sound = sound(&folded);
                Some(format!("{folded}\u{1F}{sound}"))
            }
            _ => Some(folded),
        }
    }

    /// The agreement level of two prepared values (`None`: one is missing).
    pub fn level(&self, a: Option<&str>, b: Option<&str>) -> Option<u8> {
        let (a, b) = (a?, b?);
        let top = (self.levels().len() - 1) as u8;
        if a == b {
            return Some(top);
        }
        Some(match self {
            Comparator::Exact => 0,
            Comparator::JaroWinkler { thresholds } => {
                let s = strsim::jaro_winkler(a, b);
                // thresholds are highest first; level top-1 is the highest.
                thresholds
                    .iter()
                    .position(|t| s >= *t)
                    .map_or(0, |i| top - 1 - i as u8)
            }
            Comparator::Name => name_level(a, b),
            Comparator::Date => date_level(a, b),
            Comparator::Tokens => {
                let share = jaccard(&tokens(a), &tokens(b));
                if share >= 0.6 {
                    2
                } else if share >= 0.3 {
                    1
                } else {
                    0
                }
            }
            Comparator::Phone => {
                u8::from(a.len() >= 8 && b.len() >= 8 && a[a.len() - 8..] == b[b.len() - 8..])
            }
            Comparator::IdNumber => {
                if a.len() == 18
                    && b.len() == 18
                    && a.bytes().zip(b.bytes()).filter(|(x, y)| x != y).count() == 1
                {
                    2
                } else {
                    u8::from(a.len() == 18 && b.len() == 18 && a[..14] == b[..14])
                }
            }
        })
    }
}

/// An ID number as 18 characters, upper case: a legacy 15-digit one (`RRRRRR YYMMDD SSS`,
/// born 19YY) with its century and check character; other text as it is.
pub fn id_canonical(v: &str) -> String {
    let v: String = v
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '\'')
        .collect::<String>()
        .to_ascii_uppercase();
    if v.len() == 15 && v.bytes().all(|b| b.is_ascii_digit()) {
        let first17 = format!("{}19{}", &v[..6], &v[6..]);
        let c = crate::domain::check_char(&first17);
        return format!("{first17}{c}");
    }
    v
}

/// A name's sound: the pinyin of its Chinese characters (without tones), other letters kept,
/// spaces and dots dropped.
pub fn sound(name: &str) -> String {
    use pinyin::ToPinyin;
    let mut out = String::with_capacity(name.len() * 3);
    for (c, p) in name.chars().zip(name.to_pinyin()) {
        match p {
            Some(p) => out.push_str(p.plain()),
            None if c.is_alphanumeric() => out.push(c),
            None => {}
        }
    }
    out
}

/// The parts of a name: Latin names split at spaces; a Chinese name of two to four characters
/// as surname (one character, two for the common compound surnames) and given name.
fn name_parts(name: &str) -> Vec<String> {
    if name.contains(' ') {
        return name.split_whitespace().map(str::to_string).collect();
    }
    let chars: Vec<char> = name.chars().collect();
    if chars.len() < 2 || !chars.iter().all(|c| ('\u{4E00}'..='\u{9FFF}').contains(c)) {
        return vec![name.to_string()];
    }
    const COMPOUND: [&str; 10] = [
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐",
    ];
    let two: String = chars[..2].iter().collect();
    let cut = if chars.len() > 2 && COMPOUND.contains(&two.as_str()) {
        2
    } else {
        1
    };
    vec![chars[..cut].iter().collect(), chars[cut..].iter().collect()]
}

/// A prepared name's text and sound (`Comparator::prepare`).
pub fn name_and_sound(v: &str) -> (&str, &str) {
    v.split_once('\u{1F}').unwrap_or((v, ""))
}

fn name_level(a: &str, b: &str) -> u8 {
    let ((a, sa), (b, sb)) = (name_and_sound(a), name_and_sound(b));
    if !sa.is_empty() && sa == sb {
        return 3;
    }
    // Swapped: the same characters, and the parts of one in the other order sound as the other.
    let letters = |x: &str| {
        let mut c: Vec<char> = x.chars().filter(|c| !c.is_whitespace()).collect();
        c.sort_unstable();
        c
    };
    let swapped = |x: &str, other: &str| {
        let mut parts = name_parts(x);
        parts.len() >= 2 && {
            parts.reverse();
            sound(&parts.concat()) == other
        }
    };
    if a.len() == b.len() && letters(a) == letters(b) && (swapped(a, sb) || swapped(b, sa)) {
        return 2;
    }
    u8::from(strsim::jaro_winkler(sa, sb) >= 0.9)
}

/// A date's eight digits `YYYYMMDD` from the common ways of writing it, or the value as it is
/// when it cannot be read (compared then as text).
fn date_digits(v: &str) -> Option<String> {
    let parts: Vec<&str> = v
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .collect();
    let digits = match parts.as_slice() {
        [one] if one.len() == 8 => one.to_string(),
        [y, m, d] if y.len() == 4 && m.len() <= 2 && d.len() <= 2 => format!("{y}{m:0>2}{d:0>2}"),
        _ => v.to_string(),
    };
    Some(digits)
}

fn date_level(a: &str, b: &str) -> u8 {
    if a.len() != 8 || b.len() != 8 || !a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()) {
        return 0;
    }
    let differing = a.bytes().zip(b.bytes()).filter(|(x, y)| x != y).count();
    if differing == 1 {
        return 3;
    }
    if a[..4] == b[..4] && a[4..6] == b[6..8] && a[6..8] == b[4..6] {
        return 2;
    }
    u8::from(a[..6] == b[..6])
}

/// The parts of a text: words of Latin text; pairs of neighbouring characters of Chinese text
/// (it has no spaces), and its digit runs (house numbers) whole.
pub fn tokens(v: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut latin = String::new();
    let mut han: Vec<char> = Vec::new();
    let flush_han = |han: &mut Vec<char>, out: &mut Vec<String>| {
        if han.len() == 1 {
            out.push(han[0].to_string());
        }
        out.extend(han.windows(2).map(|w| w.iter().collect()));
        han.clear();
    };
    for c in v.chars() {
        if ('\u{4E00}'..='\u{9FFF}').contains(&c) {
            if !latin.is_empty() {
                out.push(std::mem::take(&mut latin));
            }
            han.push(c);
        } else if c.is_alphanumeric() {
            flush_han(&mut han, &mut out);
            latin.push(c);
        } else {
            flush_han(&mut han, &mut out);
            if !latin.is_empty() {
                out.push(std::mem::take(&mut latin));
            }
        }
    }
    flush_han(&mut han, &mut out);
    if !latin.is_empty() {
        out.push(latin);
    }
    out.sort();
    out.dedup();
    out
}

fn jaccard(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let common = a.iter().filter(|t| b.binary_search(t).is_ok()).count();
    common as f64 / (a.len() + b.len() - common) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv(c: &Comparator, a: &str, b: &str) -> Option<u8> {
        c.level(c.prepare(a).as_deref(), c.prepare(b).as_deref())
    }

    #[test]
    fn exact_folds_case_width_and_space() {
        let c = Comparator::Exact;
        assert_eq!(lv(&c, " Smith ", "SMITH"), Some(1));
        assert_eq!(lv(&c, "ＡＢＣ１", "abc1"), Some(1));
        assert_eq!(lv(&c, "smith", "smyth"), Some(0));
        assert_eq!(lv(&c, "", "smith"), None, "missing is no evidence");
    }

    #[test]
    fn jaro_winkler_levels_by_threshold() {
        let c = Comparator::JaroWinkler {
            thresholds: vec![0.92, 0.8],
        };
        assert_eq!(c.levels().len(), 4);
        assert_eq!(lv(&c, "martha", "martha"), Some(3));
        assert_eq!(lv(&c, "martha", "marhta"), Some(2), "jw 0.961");
        assert_eq!(lv(&c, "dixon", "dicksonx"), Some(1), "jw 0.813");
        assert_eq!(lv(&c, "smith", "jones"), Some(0));
    }

    #[test]
    fn names_by_sound_swap_and_closeness() {
        let c = Comparator::Name;
        assert_eq!(lv(&c, "张晓明", "张晓明"), Some(4));
        assert_eq!(lv(&c, "张晓明", "张小明"), Some(3), "homophones");
        assert_eq!(lv(&c, "王芳", "王方"), Some(3));
        assert_eq!(lv(&c, "john smith", "smith john"), Some(2), "parts swapped");
        assert_eq!(
            lv(&c, "欧阳明华", "明华欧阳"),
            Some(2),
            "a compound surname moved"
        );
        assert_eq!(lv(&c, "明华欧阳", "欧阳明华"), Some(2), "either way round");
        assert_eq!(lv(&c, "张晓明", "张晓鸣"), Some(3), "鸣 sounds ming too");
        assert_eq!(
            lv(&c, "张晓明", "张晓敏"),
            Some(1),
            "zhangxiaomin ~ zhangxiaoming"
        );
        assert_eq!(lv(&c, "张晓明", "李国强"), Some(0));
        assert_eq!(sound("李 娜"), "lina");
    }

    #[test]
    fn dates_with_typos_and_swaps() {
        let c = Comparator::Date;
        assert_eq!(
            lv(&c, "1985-03-07", "1985/3/7"),
            Some(4),
            "written differently"
        );
        assert_eq!(lv(&c, "1985-03-07", "19850307"), Some(4));
        assert_eq!(lv(&c, "1985-03-07", "1985-03-01"), Some(3), "one digit");
        assert_eq!(
            lv(&c, "1985-03-07", "1986-03-07"),
            Some(3),
            "one digit of the year"
        );
        assert_eq!(
            lv(&c, "1985-03-07", "1985-07-03"),
            Some(2),
            "day and month swapped"
        );
        assert_eq!(lv(&c, "1985-03-07", "1985-03-28"), Some(1), "same month");
        assert_eq!(lv(&c, "1985-03-07", "1990-11-22"), Some(0));
        assert_eq!(
            lv(&c, "1985-03-07", "不详"),
            Some(0),
            "unreadable: compared as text"
        );
    }

    #[test]
    fn addresses_by_shared_parts() {
        let c = Comparator::Tokens;
        assert_eq!(lv(&c, "万盛街道子如路12号", "万盛街道子如路12号"), Some(3));
        assert_eq!(
            lv(&c, "万盛街道子如路12号", "万盛街道子如路12号3单元"),
            Some(2)
        );
        assert_eq!(lv(&c, "万盛街道子如路12号", "万盛街道新华路7号"), Some(1));
        assert_eq!(lv(&c, "万盛街道子如路12号", "黑山镇石坝村"), Some(0));
        assert_eq!(lv(&c, "12 miller street", "12 miller st"), Some(1));
        assert_eq!(tokens("子如路12号"), ["12", "号", "如路", "子如"]);
    }

    #[test]
    fn id_numbers_legacy_and_typos() {
        let c = Comparator::IdNumber;
        let id = "50011019850615123X";
        assert_eq!(lv(&c, id, "50011019850615123x"), Some(3));
        assert_eq!(
            id_canonical("500110850615123"),
            id,
            "the legacy number upgraded"
        );
        assert_eq!(
            lv(&c, "500110850615123", id),
            Some(3),
            "15 and 18 digits, one person"
        );
        assert_eq!(lv(&c, id, "50011019850615128X"), Some(2), "one digit wrong");
        assert_eq!(
            lv(&c, id, "500110198506155214"),
            Some(1),
            "same region and birth"
        );
        assert_eq!(lv(&c, id, "110101199001011234"), Some(0));
        assert_eq!(lv(&c, id, " "), None);
    }

    #[test]
    fn phones_by_digits() {
        let c = Comparator::Phone;
        assert_eq!(lv(&c, "138-0013-8000", "13800138000"), Some(2));
        assert_eq!(
            lv(&c, "023-48251234", "0851-48251234"),
            Some(1),
            "another area code"
        );
        assert_eq!(lv(&c, "13800138000", "13900139000"), Some(0));
        assert_eq!(lv(&c, "无", "13800138000"), None, "no digits: missing");
    }
}
