//! Imports in bounded memory whatever the file (SPEC §10): hostile files are refused, or lose
//! only the rows of their over-long cells, and the process never holds them whole. The files are
//! written here as streams (a 64 MB cell in a file of a few hundred kilobytes, a zip bomb, a
//! million columns) and read through the real importer. The process's peak memory is checked at
//! the end (this binary runs nothing else).
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::*;
use jingkang_core::import::limits;
use jingkang_core::import::roster::{ImportError, ImportOptions, ImportReport, import_roster};
use jingkang_core::store::Actor;

const COUNTY: &str = "500110";

async fn import(t: &TestDb, path: &Path) -> Result<ImportReport, ImportError> {
    let actor = Actor::user("tester");
    let opts = ImportOptions {
        county: COUNTY,
        dry_run: true,
        actor: &actor,
        source: "test",
        today: chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        progress: None,
    };
    import_roster(&t.db, &t.tree, path, &opts).await
}

/// A valid ID number of 綦江区 born on 1990-01-01 with sequence `seq`.
fn id(seq: u32) -> String {
    let body = format!("50011019900101{seq:03}");
    let w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(w)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{body}{check}")
}

/// `bytes` of Chinese text that does not compress much (a compressible one is refused as a zip
/// bomb before its length matters).
fn noise(w: &mut dyn Write, bytes: usize) {
    let mut x: u32 = 7;
    let mut chunk = String::with_capacity(3 * 4096);
    let mut written = 0;
    while written < bytes {
        chunk.clear();
        for _ in 0..4096 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            chunk.push(char::from_u32(0x4E00 + (x >> 16) % 0x5000).unwrap());
        }
        w.write_all(chunk.as_bytes()).unwrap();
        written += chunk.len();
    }
}

/// The sex [`id`] gives `seq`.
fn sex(seq: u32) -> &'static str {
    if seq % 2 == 1 { "男" } else { "女" }
}

/// A minimal .xlsx whose sheet XML is written by `sheet` (a stream), the other parts fixed.
/// Writes one part of a file as a stream.
type Part<'a> = &'a dyn Fn(&mut dyn Write);

fn xlsx(path: &Path, shared: Option<Part<'_>>, sheet: Part<'_>) {
    let f = std::fs::File::create(path).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let opt = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    let mut part = |name: &str, body: &dyn Fn(&mut dyn Write)| {
        z.start_file(name, opt).unwrap();
        body(&mut z);
    };
    part("[Content_Types].xml", &|w| {
        w.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#).unwrap();
    });
    part("_rels/.rels", &|w| {
        w.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#).unwrap();
    });
    part("xl/workbook.xml", &|w| {
        w.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#).unwrap();
    });
    part("xl/_rels/workbook.xml.rels", &|w| {
        w.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#).unwrap();
    });
    if let Some(shared) = shared {
        part("xl/sharedStrings.xml", shared);
    }
    part("xl/worksheets/sheet1.xml", sheet);
    z.finish().unwrap();
}

fn inline(w: &mut dyn Write, r: u32, c: usize, text: &str) {
    let col = (b'A' + c as u8) as char;
    write!(
        w,
        "<c r=\"{col}{r}\" t=\"inlineStr\"><is><t>{text}</t></is></c>"
    )
    .unwrap();
}

const HEADER: [&str; 5] = ["序号", "乡镇（街道）", "姓名", "性别", "公民身份号码"];

/// A roster sheet: the header, three good rows, and row 5 whose name cell is `big` bytes of 字.
fn roster_sheet(w: &mut dyn Write, big: usize) {
    w.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#).unwrap();
    w.write_all(b"<row r=\"1\">").unwrap();
    for (c, h) in HEADER.iter().enumerate() {
        inline(w, 1, c, h);
    }
    w.write_all(b"</row>").unwrap();
    for r in 2..=5u32 {
        write!(w, "<row r=\"{r}\">").unwrap();
        inline(w, r, 0, &(r - 1).to_string());
        inline(w, r, 1, "万盛街道");
        if r == 5 {
            w.write_all(b"<c r=\"C5\" t=\"inlineStr\"><is><t>").unwrap();
            noise(w, big);
            w.write_all(b"</t></is></c>").unwrap();
        } else {
            inline(w, r, 2, ["张三", "李四", "王五"][(r - 2) as usize]);
        }
        inline(w, r, 3, sex(r));
        inline(w, r, 4, &id(r));
        w.write_all(b"</row>").unwrap();
    }
    w.write_all(b"</sheetData></worksheet>").unwrap();
}

fn peak_rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

async fn hostile_files_are_read_in_bounded_memory(t: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| -> PathBuf { dir.path().join(name) };

    // A 48 MB cell: its row is rejected, naming the column and the limit; the other rows are
    // read.
    let big = p("big-cell.xlsx");
    xlsx(&big, None, &|w| roster_sheet(w, 48 * 1024 * 1024));
    let r = import(&t, &big).await.unwrap();
    assert_eq!(r.accepted, 3, "{:?}", r.errors);
    let e = r
        .errors
        .iter()
        .find(|e| e.row == 5)
        .expect("row 5 rejected");
    assert_eq!(e.code, "cell-too-long");
    assert!(
        e.message.contains("姓名") && e.message.contains("32 KB"),
        "{}",
        e.message
    );

    // The same long cell as a shared string.
    let shared = p("big-shared.xlsx");
    xlsx(
        &shared,
        Some(&|w| {
            w.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>"#).unwrap();
            noise(w, 40 * 1024 * 1024);
            w.write_all(b"</t></si></sst>").unwrap();
        }),
        &|w| {
            w.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">"#).unwrap();
            for (c, h) in HEADER.iter().enumerate() {
                inline(w, 1, c, h);
            }
            w.write_all(b"</row><row r=\"2\">").unwrap();
            inline(w, 2, 0, "1");
            inline(w, 2, 1, "万盛街道");
            w.write_all(b"<c r=\"C2\" t=\"s\"><v>0</v></c>").unwrap();
            inline(w, 2, 3, sex(9));
            inline(w, 2, 4, &id(9));
            w.write_all(b"</row></sheetData></worksheet>").unwrap();
        },
    );
    let r = import(&t, &shared).await.unwrap();
    assert_eq!(r.accepted, 0);
    assert_eq!(r.errors[0].code, "cell-too-long");

    // A formula without a saved result (a file written by a program that does not compute): read
    // as empty and named in a warning, not silently lost.
    let formula = p("formula.xlsx");
    xlsx(&formula, None, &|w| {
        w.write_all(br#"<worksheet><sheetData><row r="1">"#)
            .unwrap();
        for (c, h) in HEADER.iter().enumerate() {
            inline(w, 1, c, h);
        }
        w.write_all(b"</row><row r=\"2\">").unwrap();
        inline(w, 2, 0, "1");
        w.write_all("<c r=\"B2\" t=\"str\"><f>\"万盛\"&amp;\"街道\"</f></c>".as_bytes())
            .unwrap();
        inline(w, 2, 2, "张三");
        inline(w, 2, 3, sex(31));
        inline(w, 2, 4, &id(31));
        w.write_all(b"</row></sheetData></worksheet>").unwrap();
    });
    let r = import(&t, &formula).await.unwrap();
    assert_eq!(r.warnings_total, 1);
    assert_eq!(
        (
            r.warnings[0].row,
            r.warnings[0].column.as_str(),
            r.warnings[0].code.as_str()
        ),
        (2, "B", "formula-no-value")
    );
    assert!(
        r.warnings[0].message.contains("B2"),
        "{}",
        r.warnings[0].message
    );

    // A zip bomb: a part that grows more than the allowed ratio is refused, naming the part.
    let bomb = p("bomb.xlsx");
    xlsx(&bomb, None, &|w| {
        w.write_all(b"<worksheet><sheetData>").unwrap();
        let empty = b"<row/>".repeat(16 * 1024);
        for _ in 0..(64 * 1024 * 1024) / empty.len() {
            w.write_all(&empty).unwrap();
        }
        w.write_all(b"</sheetData></worksheet>").unwrap();
    });
    let e = import(&t, &bomb).await.unwrap_err();
    assert!(
        matches!(e.code(), "xlsx-ratio" | "file-too-many-rows"),
        "{}",
        e.code()
    );
    assert!(
        e.message_zh().contains("文件无法导入"),
        "{}",
        e.message_zh()
    );

    // Shared strings past their count.
    let strings = p("strings.xlsx");
    xlsx(
        &strings,
        Some(&|w| {
            w.write_all(b"<sst>").unwrap();
            let many = b"<si><t>a</t></si>".repeat(4096);
            for _ in 0..=limits::SHARED_STRINGS / 4096 {
                w.write_all(&many).unwrap();
            }
            w.write_all(b"</sst>").unwrap();
        }),
        &|w| roster_sheet(w, 0),
    );
    let e = import(&t, &strings).await.unwrap_err();
    assert!(
        matches!(e.code(), "xlsx-too-many-strings" | "xlsx-ratio"),
        "{}",
        e.code()
    );

    // A CSV of a million columns: refused with the row.
    let wide = p("wide.csv");
    let mut f = std::fs::File::create(&wide).unwrap();
    f.write_all("序号,乡镇（街道）,姓名,性别,公民身份号码\n".as_bytes())
        .unwrap();
    f.write_all(&b",".repeat(1_000_000)).unwrap();
    drop(f);
    let e = import(&t, &wide).await.unwrap_err();
    assert_eq!(e.code(), "file-too-many-columns");
    assert!(e.message_zh().contains("第 2 行"), "{}", e.message_zh());

    // A CSV field of 40 MB: its row is rejected; rows are numbered as the file shows them.
    let long = p("long.csv");
    let mut f = std::fs::File::create(&long).unwrap();
    writeln!(f, "序号,乡镇（街道）,姓名,性别,公民身份号码").unwrap();
    writeln!(f, "1,万盛街道,测试甲,{},{}", sex(21), id(21)).unwrap();
    write!(f, "2,万盛街道,\"").unwrap();
    let chunk = "x".repeat(1 << 20);
    for _ in 0..40 {
        f.write_all(chunk.as_bytes()).unwrap();
    }
    writeln!(f, "\",{},{}", sex(22), id(22)).unwrap();
    drop(f);
    let r = import(&t, &long).await.unwrap();
    assert_eq!(r.accepted, 1, "{:?}", r.errors);
    assert_eq!(
        (r.errors[0].row, r.errors[0].code.as_str()),
        (3, "cell-too-long")
    );

    // More rows than the limit.
    let tall = p("tall.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tall).unwrap());
    f.write_all("序号,乡镇（街道）,姓名,性别,公民身份号码\n".as_bytes())
        .unwrap();
    for _ in 0..=limits::ROWS {
        f.write_all(b"a\n").unwrap();
    }
    drop(f);
    let e = import(&t, &tall).await.unwrap_err();
    assert_eq!(e.code(), "file-too-many-rows");
    // The guard counts records before any row is read, as the reader counts them: exactly the
    // limit passes even with blank lines between records and a quoted field spanning lines; one
    // more is refused.
    let exact = p("exact.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&exact).unwrap());
    f.write_all(b"a,\"two\nlines\"\r\n\n\n").unwrap();
    for _ in 1..limits::ROWS {
        f.write_all(b"a\n\n").unwrap();
    }
    drop(f);
    jingkang_core::import::guard::check_csv(&exact).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&exact)
        .unwrap()
        .write_all(b"b")
        .unwrap();
    let e = jingkang_core::import::guard::check_csv(&exact).unwrap_err();
    assert_eq!(e.code(), "file-too-many-rows");

    // One import at a time per database: while another holds the lease, an import is refused
    // with the file and the time it started; once it is given back, imports run again.
    let lease = jingkang_core::store::leases::ImportLease::take(&t.db, "县花名册.xlsx")
        .await
        .unwrap()
        .unwrap();
    let e = import(&t, &long).await.unwrap_err();
    assert_eq!(e.code(), "import-busy");
    assert!(
        e.message_zh().contains("县花名册.xlsx"),
        "{}",
        e.message_zh()
    );
    drop(lease);
    let mut again = import(&t, &long).await;
    for _ in 0..50 {
        if !matches!(&again, Err(e) if e.code() == "import-busy") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        again = import(&t, &long).await;
    }
    assert_eq!(again.unwrap().accepted, 1);

    let peak = peak_rss_mb();
    eprintln!("peak RSS of the hostile imports: {peak} MB");
    assert!(peak < 300, "peak RSS {peak} MB");
}

backend_tests!(hostile_files_are_read_in_bounded_memory);
