//! Printable forms as PDF (附件4): A4 pages drawn from the rows `report::form` fills, as a ruled
//! table of labels and values, one person per page (a page continues on the next if a long
//! record needs it). The text uses STSong-Light, one of PDF's standard Chinese fonts (Adobe-GB1
//! collection, UniGB-UCS2-H encoding): every PDF reader supplies it, so no font file is shipped
//! or embedded and a page is a few kilobytes. Written with `pdf-writer`.

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo};
use pdf_writer::{Content, Name, Pdf, Rect, Ref, Str};

use crate::report::form::FilledCell;

/// One form to print: its title, the filled rows, the note under the table.
pub struct Sheet<'a> {
    pub title: &'a str,
    pub rows: &'a [Vec<FilledCell>],
    pub note: &'a str,
}

const PAGE: (f32, f32) = (595.0, 842.0);
const MARGIN: f32 = 50.0;
const SIZE: f32 = 10.5;
const LEADING: f32 = 15.0;
const PAD: f32 = 4.0;
const LABEL: f32 = 96.0;

/// Width of `s` in ems: CJK and other wide characters one, ASCII half.
fn ems(s: &str) -> f32 {
    s.chars()
        .map(|c| if c.is_ascii() { 0.5 } else { 1.0 })
        .sum()
}

/// `s` broken into lines of at most `width` points at `size`.
fn wrap(s: &str, width: f32, size: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for para in s.split('\n') {
        let mut line = String::new();
        for c in para.chars() {
            let mut next = line.clone();
            next.push(c);
            if ems(&next) * size > width && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                line.push(c);
            } else {
                line = next;
            }
        }
        lines.push(line);
    }
    lines
}

/// `s` as the font's UCS-2 (big-endian) codes; characters outside the BMP become `?`.
fn ucs2(s: &str) -> Vec<u8> {
    s.chars()
        .flat_map(|c| {
            u16::try_from(u32::from(c))
                .unwrap_or(u16::from(b'?'))
                .to_be_bytes()
        })
        .collect()
}

/// A cell's text: its value, or its boxes (■ ticked, □ not).
fn cell_text(c: &FilledCell) -> String {
    if c.boxes.is_empty() {
        return c.value.clone();
    }
    c.boxes
        .iter()
        .map(|(label, ticked)| format!("{}{label}", if *ticked { "■" } else { "□" }))
        .collect::<Vec<_>>()
        .join("  ")
}

struct Page {
    content: Content,
}

impl Page {
    fn new() -> Page {
        Page {
            content: Content::new(),
        }
    }

    fn text(&mut self, x: f32, y: f32, size: f32, s: &str) {
        self.content.begin_text();
        self.content.set_font(Name(b"F1"), size);
        self.content.next_line(x, y);
        self.content.show(Str(&ucs2(s)));
        self.content.end_text();
    }

    fn lines(&mut self, x: f32, top: f32, lines: &[String]) {
        for (i, l) in lines.iter().enumerate() {
            self.text(
                x + PAD,
                top - PAD - SIZE - i as f32 * LEADING + 2.0,
                SIZE,
                l,
            );
        }
    }

    fn boxed(&mut self, x: f32, top: f32, w: f32, h: f32) {
        self.content.rect(x, top - h, w, h);
        self.content.stroke();
    }
}

/// The sheets as one PDF document.
pub fn form_pdf(sheets: &[Sheet]) -> anyhow::Result<Vec<u8>> {
    let mut pages: Vec<Page> = Vec::new();
    let width = PAGE.0 - 2.0 * MARGIN;
    for sheet in sheets {
        let mut page = Page::new();
        page.content.set_line_width(0.6);
        let title = 16.0;
        page.text(
            (PAGE.0 - ems(sheet.title) * title) / 2.0,
            PAGE.1 - MARGIN - title,
            title,
            sheet.title,
        );
        let mut top = PAGE.1 - MARGIN - title - 18.0;
        for row in sheet.rows {
            // Two cells: label, value, label, value; one: its value across the row.
            let value_w = if row.len() > 1 {
                (width - 2.0 * LABEL) / 2.0
            } else {
                width - LABEL
            };
            let cells: Vec<(Vec<String>, Vec<String>)> = row
                .iter()
                .map(|c| {
                    (
                        wrap(&c.label, LABEL - 2.0 * PAD, SIZE),
                        wrap(&cell_text(c), value_w - 2.0 * PAD, SIZE),
                    )
                })
                .collect();
            let lines = cells
                .iter()
                .map(|(l, v)| l.len().max(v.len()))
                .max()
                .unwrap_or(1);
            let h = (lines as f32 * LEADING + 2.0 * PAD).max(22.0);
            if top - h < MARGIN {
                pages.push(std::mem::replace(&mut page, Page::new()));
                page.content.set_line_width(0.6);
                top = PAGE.1 - MARGIN;
            }
            let mut x = MARGIN;
            for (label, value) in &cells {
                page.boxed(x, top, LABEL, h);
                page.lines(x, top, label);
                page.boxed(x + LABEL, top, value_w, h);
                page.lines(x + LABEL, top, value);
                x += LABEL + value_w;
            }
            top -= h;
        }
        let note = wrap(sheet.note, width, 9.0);
        if top - 12.0 - note.len() as f32 * 13.0 < MARGIN {
            pages.push(std::mem::replace(&mut page, Page::new()));
            top = PAGE.1 - MARGIN;
        }
        for (i, l) in note.iter().enumerate() {
            page.text(MARGIN, top - 16.0 - i as f32 * 13.0, 9.0, l);
        }
        pages.push(page);
    }
    if pages.is_empty() {
        pages.push(Page::new());
    }

    let mut pdf = Pdf::new();
    let (catalog, tree, font, cid, descriptor) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
    );
    let ids: Vec<(Ref, Ref)> = (0..pages.len())
        .map(|i| (Ref::new(6 + 2 * i as i32), Ref::new(7 + 2 * i as i32)))
        .collect();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(ids.iter().map(|(p, _)| *p))
        .count(ids.len() as i32);
    pdf.type0_font(font)
        .base_font(Name(b"STSong-Light"))
        .encoding_predefined(Name(b"UniGB-UCS2-H"))
        .descendant_font(cid);
    let mut c = pdf.cid_font(cid);
    c.subtype(CidFontType::Type0)
        .base_font(Name(b"STSong-Light"))
        .system_info(SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"GB1"),
            supplement: 2,
        })
        .font_descriptor(descriptor)
        .default_width(1000.0);
    // The ASCII characters (CIDs 1–95) are half as wide as the Chinese ones.
    c.widths().same(1, 95, 500.0);
    drop(c);
    pdf.font_descriptor(descriptor)
        .name(Name(b"STSong-Light"))
        .flags(FontFlags::SYMBOLIC | FontFlags::SERIF)
        .bbox(Rect::new(-25.0, -254.0, 1000.0, 880.0))
        .italic_angle(0.0)
        .ascent(880.0)
        .descent(-120.0)
        .cap_height(880.0)
        .stem_v(93.0);
    for (page, (page_id, content_id)) in pages.into_iter().zip(&ids) {
        let mut p = pdf.page(*page_id);
        p.media_box(Rect::new(0.0, 0.0, PAGE.0, PAGE.1))
            .parent(tree)
            .contents(*content_id);
        p.resources().fonts().pair(Name(b"F1"), font);
        drop(p);
        pdf.stream(*content_id, &page.content.finish());
    }
    Ok(pdf.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(label: &str, value: &str) -> FilledCell {
        FilledCell {
            label: label.into(),
            value: value.into(),
            boxes: vec![],
        }
    }

    #[test]
    fn lines_wrap_by_width_with_ascii_half_wide() {
        assert_eq!(
            wrap("重庆市綦江区古南街道", 5.0 * 10.0, 10.0),
            ["重庆市綦江", "区古南街道"]
        );
        assert_eq!(wrap("ab重庆", 2.0 * 10.0, 10.0), ["ab重", "庆"]);
        assert_eq!(wrap("", 50.0, 10.0), [""]);
    }

    #[test]
    fn text_is_written_as_ucs2_of_the_standard_chinese_font() {
        assert_eq!(ucs2("张A"), vec![0x5f, 0x20, 0x00, 0x41]);
        let rows = vec![
            vec![cell("姓名", "张三"), cell("性别", "男")],
            vec![FilledCell {
                label: "居住情况".into(),
                value: String::new(),
                boxes: vec![("独居".into(), true), ("与家人同住".into(), false)],
            }],
        ];
        let pdf = form_pdf(&[
            Sheet {
                title: "精神障碍患者登记表",
                rows: &rows,
                note: "填表说明",
            },
            Sheet {
                title: "精神障碍患者登记表",
                rows: &rows,
                note: "",
            },
        ])
        .unwrap();
        let text = String::from_utf8_lossy(&pdf);
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(
            text.contains("/STSong-Light")
                && text.contains("/UniGB-UCS2-H")
                && text.contains("/Count 2"),
            "{text}"
        );
        // UCS-2 bytes are written literally (escaped) when printable, else in hex: 张三 is 5F20 4E09.
        assert!(
            text.contains("(_ N\\t) Tj") || text.to_ascii_uppercase().contains("<5F204E09>"),
            "张三 in UCS-2: {text}"
        );
        assert!(text.to_ascii_uppercase().contains("25A0"), "a ticked box");
    }

    #[test]
    fn a_tall_record_continues_on_a_second_page() {
        let long = "很长的地址".repeat(60);
        let rows: Vec<Vec<FilledCell>> = (0..12).map(|_| vec![cell("现居住地", &long)]).collect();
        let pdf = form_pdf(&[Sheet {
            title: "登记表",
            rows: &rows,
            note: "",
        }])
        .unwrap();
        let text = String::from_utf8_lossy(&pdf);
        assert!(
            !text.contains("/Count 1") && text.contains("/Count "),
            "{text}"
        );
    }
}
