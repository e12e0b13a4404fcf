//! Synthetic data: realistic, messy 附件3 rosters for tests, benchmarks and the demo.
//!
//! [`RosterGenerator`] produces rows the way township clerks fill them in: a merged title, a
//! 填报单位 line, header variants, IDs with spaces, full-width digits, lowercase `x` and 15-digit legacy
//! numbers, grades written `三级`/`3级`/`Ⅲ级`/`精神三级`, phones with separators, blank rows, a 合计 and a
//! 填表人 line — and, at the requested rate, rows with exactly one error of a known kind plus exact
//! duplicate rows. [`Truth`] records what an importer must find, so tests can check it.

pub mod history;
pub mod linkage;
pub mod services;
pub mod sites;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::{Context, bail};
use chrono::{Datelike, NaiveDate};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_xlsxwriter::{Format, FormatAlign, Workbook};

use crate::domain::check_char;
use crate::regions::{Region, RegionTree, TownshipMatch};

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁",
    "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏",
    "韦", "付", "方", "白", "邹", "孟", "熊", "秦", "邱", "江", "尹", "薛", "闫", "段", "雷", "侯",
    "龙", "史", "陶", "黎", "贺", "顾", "毛", "郝", "龚", "邵", "万", "钱", "严", "覃", "武", "戴",
    "莫", "孔", "向", "汤", "欧阳", "司马", "诸葛",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "桂", "英", "华", "建", "国", "文", "辉", "红", "玉", "兰", "志",
    "林", "春", "海", "云", "小", "德", "成", "福", "生", "荣", "富", "贵", "琴", "梅", "燕", "凤",
    "莲", "晓", "永", "清", "龙", "飞", "鹏", "斌", "宇", "浩", "凯", "婷", "雪", "倩", "佳", "欣",
    "萍", "慧", "俊", "波", "宁", "亮", "学", "光", "维", "群", "良",
];
const ROADS: &[&str] = &[
    "人民", "建设", "解放", "新华", "和平", "胜利", "朝阳", "文化", "中山", "滨江", "万东", "东林",
];
const NOTES: &[&str] = &[
    "独居",
    "低保户",
    "长期住院",
    "外出务工",
    "特困供养",
    "家属不配合",
    "已服药",
    "新发现",
];
const RELATIONS_NOTE: &[&str] = &["父", "母", "配偶", "子", "女", "兄", "姐"];

/// The kinds of error the generator plants, with the importer's error code for each.
pub const ERROR_KINDS: &[&str] = &[
    "id-checksum",
    "id-invalid-date",
    "id-not-text-precision-lost",
    "certificate-id-mismatch",
    "certificate-not-mental",
    "sex-id-mismatch",
    "name-missing",
    "township-unknown",
    "phone-invalid",
];

/// What the importer must report for a generated file.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Truth {
    /// Data rows (excluding title, header, blank, 合计 and 填表人 rows).
    pub rows: u64,
    /// Distinct valid persons.
    pub valid: u64,
    /// (row, same_as_row) of planted duplicates.
    pub duplicates: Vec<(u32, u32)>,
    /// Error code → rows.
    pub errors: BTreeMap<String, Vec<u32>>,
}

/// Options for [`RosterGenerator`].
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub rows: u64,
    pub seed: u64,
    /// Share of rows with exactly one planted error (0.0–1.0). Duplicates are planted at a fifth of it.
    pub error_rate: f64,
    /// Also apply the harmless habits (spaces, full-width digits, 15-digit IDs, grade spellings…).
    pub messy: bool,
    /// Date ages and birth dates are relative to.
    pub today: NaiveDate,
}

/// One generated row, as text cells (column order of the roster), plus whether the ID cell is numeric.
#[derive(Debug, Clone)]
pub struct GenRow {
    pub cells: [String; 12],
    pub id_as_number: Option<f64>,
}

pub struct RosterGenerator<'a> {
    rng: ChaCha8Rng,
    opts: GenOptions,
    county: &'a Region,
    townships: Vec<(&'a Region, Vec<String>)>,
    used_ids: HashSet<String>,
    valid_rows: Vec<(u32, GenRow)>,
    pub truth: Truth,
}

fn id18(prefix6: &str, birth: NaiveDate, seq3: u32) -> String {
    let first17 = format!("{prefix6}{}{seq3:03}", birth.format("%Y%m%d"));
    let c = check_char(&first17);
    format!("{first17}{c}")
}

fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from_u32(c as u32 + 0xFEE0).unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

const GRADE_ZH: [&str; 4] = ["一级", "二级", "三级", "四级"];
const GRADE_ROMAN: [&str; 4] = ["Ⅰ级", "Ⅱ级", "Ⅲ级", "Ⅳ级"];

impl<'a> RosterGenerator<'a> {
    pub fn new(tree: &'a RegionTree, county: &'a Region, opts: GenOptions) -> anyhow::Result<Self> {
        let mut townships = Vec::new();
        for t in tree.townships_under(&county.code) {
            // Ways a clerk writes this township that still resolve to it (short names may be ambiguous).
            let mut spellings = vec![t.name.clone()];
            for suffix in ["街道办事处", "街道", "镇", "乡"] {
                if let Some(base) = t.name.strip_suffix(suffix)
                    && !base.is_empty()
                {
                    spellings.push(base.to_string());
                    spellings.push(format!("{base} {suffix}"));
                }
            }
            spellings.retain(|s| matches!(tree.resolve_township(&county.code, s), TownshipMatch::Found(r) if r.code == t.code));
            townships.push((t, spellings));
        }
        if townships.is_empty() {
            bail!("region {} has no townships", county.code);
        }
        Ok(RosterGenerator {
            rng: ChaCha8Rng::seed_from_u64(opts.seed),
            opts,
            county,
            townships,
            used_ids: HashSet::new(),
            valid_rows: Vec::new(),
            truth: Truth::default(),
        })
    }

    fn name(&mut self, surname: Option<&str>) -> String {
        let s = surname
            .map(str::to_string)
            .unwrap_or_else(|| SURNAMES.choose(&mut self.rng).unwrap_or(&"王").to_string());
        let n = if self.rng.random_bool(0.7) { 2 } else { 1 };
        let mut out = s;
        for _ in 0..n {
            out.push_str(GIVEN.choose(&mut self.rng).unwrap_or(&"明"));
        }
        out
    }

    fn mobile(&mut self) -> String {
        let prefixes = [
            "130", "131", "133", "135", "136", "137", "138", "139", "150", "151", "152", "158",
            "159", "177", "180", "181", "186", "187", "189", "199",
        ];
        format!(
            "{}{:08}",
            prefixes.choose(&mut self.rng).unwrap_or(&"138"),
            self.rng.random_range(0..100_000_000u32)
        )
    }

    fn fresh_id(&mut self, sex_male: bool) -> (String, NaiveDate) {
        loop {
            let year = self.rng.random_range(1962..=2006);
            let day = self.rng.random_range(1..=365);
            let birth = NaiveDate::from_yo_opt(year, day).unwrap_or(NaiveDate::MIN);
            let mut seq = self.rng.random_range(0..1000u32);
            if (seq % 2 == 1) != sex_male {
                seq = (seq + 1) % 1000;
            }
            let id = id18(&self.county.code[..6], birth, seq);
            if self.used_ids.insert(id.clone()) {
                return (id, birth);
            }
        }
    }

    /// Generate the next data row (row number `row` in the sheet).
    pub fn next_row(&mut self, row: u32) -> GenRow {
        self.truth.rows += 1;
        // A planted duplicate: an exact copy of an earlier valid row.
        if !self.valid_rows.is_empty()
            && self
                .rng
                .random_bool((self.opts.error_rate / 5.0).clamp(0.0, 1.0))
        {
            let i = self.rng.random_range(0..self.valid_rows.len());
            let (first, copy) = self.valid_rows[i].clone();
            self.truth.duplicates.push((row, first));
            return copy;
        }
        let error = if self.rng.random_bool(self.opts.error_rate.clamp(0.0, 1.0)) {
            Some(*ERROR_KINDS.choose(&mut self.rng).unwrap_or(&"name-missing"))
        } else {
            None
        };
        let messy = self.opts.messy;
        let male = self.rng.random_bool(0.52);
        let (mut id, birth) = self.fresh_id(male);
        let surname = SURNAMES.choose(&mut self.rng).unwrap_or(&"王").to_string();
        let mut name = self.name(Some(&surname));
        let (town, spellings) = self
            .townships
            .choose(&mut self.rng)
            .map(|(t, s)| (*t, s.clone()))
            .unwrap_or((self.county, vec![]));
        let mut town_text = if messy && spellings.len() > 1 && self.rng.random_bool(0.3) {
            spellings.choose(&mut self.rng).cloned().unwrap_or_default()
        } else {
            town.name.clone()
        };
        let has_cert = self.rng.random_bool(0.7);
        let category = if self.rng.random_bool(0.9) { 6 } else { 7 };
        let grade = *[1u32, 2, 2, 3, 3, 3, 4, 4, 4, 4]
            .choose(&mut self.rng)
            .unwrap_or(&3);
        let mut cert = if has_cert {
            format!("{id}{category}{grade}")
        } else {
            String::new()
        };
        let cat_zh = if category == 6 { "精神" } else { "多重" };
        let gi = (grade - 1) as usize;
        let mut grade_text = if !has_cert && !self.rng.random_bool(0.2) {
            String::new()
        } else if messy {
            match self.rng.random_range(0..5) {
                0 => format!("{cat_zh}{}", GRADE_ZH[gi]),
                1 => GRADE_ZH[gi].to_string(),
                2 => format!("{grade}级"),
                3 => GRADE_ROMAN[gi].to_string(),
                _ => grade.to_string(),
            }
        } else {
            format!("{cat_zh}{}", GRADE_ZH[gi])
        };
        let mut sex_text = if male { "男" } else { "女" }.to_string();
        if messy && self.rng.random_bool(0.05) {
            sex_text.push('性');
        }
        let address = if self.rng.random_bool(0.5) {
            format!(
                "{}{}村{}组{}号",
                town.name,
                self.name(Some("")).chars().take(2).collect::<String>(),
                self.rng.random_range(1..12),
                self.rng.random_range(1..200)
            )
        } else {
            format!(
                "{}{}路{}号{}栋{}单元",
                town.name,
                ROADS.choose(&mut self.rng).unwrap_or(&"人民"),
                self.rng.random_range(1..300),
                self.rng.random_range(1..20),
                self.rng.random_range(1..6)
            )
        };
        let guardian_same_surname = self.rng.random_bool(0.6);
        let guardian = self.name(if guardian_same_surname {
            Some(&surname)
        } else {
            None
        });
        let mut phone = self.mobile();
        if messy {
            match self.rng.random_range(0..20) {
                0 => phone = format!("{} {} {}", &phone[..3], &phone[3..7], &phone[7..]),
                1 => phone = format!("{}-{}-{}", &phone[..3], &phone[3..7], &phone[7..]),
                2 => phone = format!("{}/{}", phone, self.mobile()),
                3 => phone = format!("(023){}", self.rng.random_range(40_000_000..49_999_999u32)),
                4 => phone = format!("023-{}", self.rng.random_range(40_000_000..49_999_999u32)),
                _ => {}
            }
        }
        let notes = if self.rng.random_bool(0.1) {
            let n = NOTES.choose(&mut self.rng).unwrap_or(&"");
            let r = RELATIONS_NOTE.choose(&mut self.rng).unwrap_or(&"");
            format!("{n}；监护人为{r}")
        } else {
            String::new()
        };

        // How the ID cell is written.
        let mut id_text = id.clone();
        let mut id_as_number = None;
        if messy && error.is_none() {
            match self.rng.random_range(0..40) {
                0 if birth.year() < 2000 => id_text = format!("{}{}", &id[..6], &id[8..17]), // 15-digit legacy
                1 => id_text = full_width(&id),
                2 => id_text = format!("{} {} {}", &id[..6], &id[6..14], &id[14..]),
                3 => id_text = format!(" {id} "),
                _ => {}
            }
            if id.ends_with('X') && self.rng.random_bool(0.5) {
                id_text = id_text.replace('X', "x");
            }
        }

        match error {
            Some("id-checksum") => {
                let c = id.chars().last().unwrap_or('0');
                let wrong = "123456789X".chars().find(|&x| x != c).unwrap_or('1');
                id = format!("{}{wrong}", &id[..17]);
                id_text = id.clone();
                if has_cert {
                    cert = format!("{id}{category}{grade}");
                }
            }
            Some("id-invalid-date") => {
                let first17 = format!("{}{}13{}", &id[..6], &id[6..10], &id[12..17]);
                id = format!("{first17}{}", check_char(&first17));
                id_text = id.clone();
                if has_cert {
                    cert = format!("{id}{category}{grade}");
                }
            }
            Some("id-not-text-precision-lost") => {
                id_as_number = Some(id[..17].parse::<f64>().unwrap_or(0.0) * 10.0);
                id_text = format!("{:.5E}", id_as_number.unwrap_or(0.0));
            }
            Some("certificate-id-mismatch") => {
                let (other, _) = self.fresh_id(male);
                cert = format!("{other}{category}{grade}");
                grade_text = String::new();
            }
            Some("certificate-not-mental") => {
                cert = format!("{id}4{grade}");
                grade_text = String::new();
            }
            Some("sex-id-mismatch") => sex_text = if male { "女" } else { "男" }.to_string(),
            Some("name-missing") => name = String::new(),
            Some("township-unknown") => town_text = "不存在镇".to_string(),
            Some("phone-invalid") => phone = "12345".to_string(),
            _ => {}
        }
        let age = {
            let t = self.opts.today;
            let mut a = t.year() - birth.year();
            if (t.month(), t.day()) < (birth.month(), birth.day()) {
                a -= 1;
            }
            a.to_string()
        };
        let out = GenRow {
            cells: [
                String::new(), // 序号 is filled by the writer
                town_text,
                name,
                sex_text,
                age,
                id_text,
                cert,
                grade_text,
                address,
                guardian,
                phone,
                notes,
            ],
            id_as_number,
        };
        match error {
            Some(code) => self
                .truth
                .errors
                .entry(code.to_string())
                .or_default()
                .push(row),
            None => {
                self.truth.valid += 1;
                if self.valid_rows.len() < 10_000 {
                    self.valid_rows.push((row, out.clone()));
                }
            }
        }
        out
    }
}

const HEADERS: [&str; 12] = [
    "序号",
    "镇街",
    "姓名",
    "性别",
    "年龄",
    "身份证号码",
    "残疾证号",
    "残疾等级",
    "家庭住址",
    "监护人",
    "监护人电话",
    "备注",
];
const HEADERS_ALT: [&str; 12] = [
    "序号",
    "乡镇（街道）",
    "姓 名",
    "性别",
    "年龄",
    "公民身份号码",
    "残疾证号码",
    "残疾等级",
    "现住址",
    "监护人姓名",
    "联系电话",
    "备注",
];

/// Write a generated roster to `out` (.xlsx or .csv by extension). Returns the truth.
pub fn write_roster(
    tree: &RegionTree,
    county: &Region,
    opts: GenOptions,
    out: &Path,
    progress: Option<&dyn Fn(u64)>,
) -> anyhow::Result<Truth> {
    let mut generator = RosterGenerator::new(tree, county, opts.clone())?;
    let alt_header = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x5eed).random_bool(0.5) && opts.messy;
    let headers = if alt_header { HEADERS_ALT } else { HEADERS };
    let title = format!("{}精神障碍患者花名册", county.name);
    let unit = format!("填报单位：{}民政局", county.name);
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let blank_every = if opts.messy { 997 } else { u64::MAX };
    match ext.as_str() {
        "xlsx" => {
            let mut wb = Workbook::new();
            let ws = wb.add_worksheet_with_constant_memory()?;
            let tf = Format::new()
                .set_bold()
                .set_font_size(16)
                .set_align(FormatAlign::Center);
            ws.merge_range(0, 0, 0, 11, &title, &tf)?;
            ws.write_string(1, 0, &unit)?;
            for (c, h) in headers.iter().enumerate() {
                ws.write_string(2, c as u16, *h)?;
            }
            let mut r = 3u32;
            for i in 0..opts.rows {
                if i > 0 && i % blank_every == 0 {
                    r += 1; // a blank row
                }
                let row = generator.next_row(r + 1);
                ws.write_number(r, 0, (i + 1) as f64)?;
                for (c, v) in row.cells.iter().enumerate().skip(1) {
                    if c == 5
                        && let Some(n) = row.id_as_number
                    {
                        ws.write_number(r, 5, n)?;
                        continue;
                    }
                    if c == 4
                        && let Ok(n) = v.parse::<f64>()
                    {
                        ws.write_number(r, 4, n)?;
                        continue;
                    }
                    if !v.is_empty() {
                        ws.write_string(r, c as u16, v)?;
                    }
                }
                r += 1;
                if let Some(p) = progress
                    && i % 10_000 == 0
                {
                    p(i);
                }
            }
            ws.write_string(r, 0, "合计")?;
            ws.write_string(r, 1, format!("{} 人", opts.rows))?;
            ws.write_string(r + 2, 0, "填表人：")?;
            ws.write_string(r + 2, 4, "联系电话：")?;
            wb.save(out)
                .with_context(|| format!("cannot write {}", out.display()))?;
        }
        "csv" => {
            let f = std::fs::File::create(out)
                .with_context(|| format!("cannot write {}", out.display()))?;
            let mut w = csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(std::io::BufWriter::new(f));
            w.write_record([title.as_str()])?;
            w.write_record([unit.as_str()])?;
            w.write_record(headers)?;
            let mut line = 4u32;
            for i in 0..opts.rows {
                if i > 0 && i % blank_every == 0 {
                    w.write_record([""])?;
                    line += 1;
                }
                let mut row = generator.next_row(line);
                row.cells[0] = (i + 1).to_string();
                w.write_record(&row.cells)?;
                line += 1;
                if let Some(p) = progress
                    && i % 10_000 == 0
                {
                    p(i);
                }
            }
            w.write_record(["合计", &format!("{} 人", opts.rows)])?;
            w.write_record(["填表人：", "", "", "", "联系电话："])?;
            w.flush()?;
        }
        other => bail!("unsupported output type .{other} (use .xlsx or .csv)"),
    }
    if let Some(p) = progress {
        p(opts.rows);
    }
    Ok(generator.truth)
}
