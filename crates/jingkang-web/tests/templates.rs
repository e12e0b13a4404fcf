//! Every template keeps to the pages' Content-Security-Policy (`script-src 'self'; style-src
//! 'self'`): no inline event handler, inline script, `javascript:` URL or inline style. The
//! policy blocks those silently in the browser (the 复发绿色通道 switch was an `onchange` that did
//! nothing), so they are refused here, in every template, before they reach a page. Behaviour
//! goes in `static/app.js` behind a data attribute.
#![allow(clippy::unwrap_used)]

use std::path::Path;

/// Problems in one template's text: (line, what).
fn problems(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let lower = text.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let line_of = |i: usize| lower[..i].matches('\n').count() + 1;
    for (i, w) in bytes.iter().enumerate() {
        // An attribute `on…=` (an event handler) after whitespace or a closing quote.
        if (w.is_ascii_whitespace() || *w == b'"' || *w == b'\'')
            && lower[i + 1..].starts_with("on")
        {
            let rest = &lower[i + 3..];
            let name_len = rest.bytes().take_while(u8::is_ascii_lowercase).count();
            let after = rest[name_len..].trim_start();
            if name_len > 0 && after.starts_with('=') && !after.starts_with("==") {
                out.push((
                    line_of(i),
                    format!("inline handler on{}", &rest[..name_len]),
                ));
            }
        }
    }
    for (i, _) in lower.match_indices("<script") {
        let tag_end = lower[i..].find('>').map_or(lower.len(), |e| i + e);
        let tag = &lower[i..tag_end];
        let body_empty = lower[tag_end + 1..].trim_start().starts_with("</script>");
        if !tag.contains(" src=\"/static/") || !body_empty {
            out.push((
                line_of(i),
                "inline script (only <script src=\"/static/…\"></script>)".into(),
            ));
        }
    }
    for needle in ["javascript:", " style=", "<style"] {
        for (i, _) in lower.match_indices(needle) {
            out.push((
                line_of(i),
                format!("{} (blocked by the policy)", needle.trim()),
            ));
        }
    }
    out
}

#[test]
fn no_template_has_inline_script_handler_or_style() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut found = Vec::new();
    let mut read = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "html") {
            read += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            for (line, what) in problems(&text) {
                found.push(format!(
                    "{}:{line}: {what}",
                    path.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(read >= 40, "templates read: {read}");
    assert!(
        found.is_empty(),
        "templates the policy would break:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_finds_what_it_refuses() {
    let bad = "<select name=\"kind\" onchange=\"this.form.submit()\">\n<button onClick = 'x()'>\n\
               <script>alert(1)</script>\n<a href=\"javascript:void(0)\">\n<p style=\"color:red\">\n\
               <script src=\"https://cdn.example/x.js\"></script>";
    let p = problems(bad);
    let lines: Vec<usize> = p.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, vec![1, 2, 3, 6, 4, 5], "{p:?}");
    let good = "<select name=\"kind\" data-autosubmit>{% if x.one == 1 %}<script src=\"/static/app.js\" defer></script>\
                <p>button onward</p>";
    assert!(problems(good).is_empty(), "{:?}", problems(good));
}

/// Every form that posts carries the CSRF token as its first field: the form extractor checks it
/// before the handler runs, and for an upload it must come before the file (the extractor reads
/// the first part only).
#[test]
fn every_posting_form_carries_the_token_first() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    let mut found = Vec::new();
    let mut forms = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "html") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices("<form method=\"post\"") {
            forms += 1;
            let rest = &text[at..];
            let end = rest.find("</form>").unwrap_or(rest.len());
            let form = &rest[..end];
            let first_field = ["<input", "<select", "<textarea", "<button"]
                .iter()
                .filter_map(|tag| form.find(tag))
                .min()
                .map(|i| &form[i..form[i..].find('>').map_or(form.len(), |e| i + e)]);
            if first_field.is_none_or(|f| !f.contains("name=\"csrf\"")) {
                found.push(format!(
                    "{}: {}",
                    path.file_name().unwrap().to_string_lossy(),
                    &form[..form.find('>').unwrap_or(form.len())]
                ));
            }
        }
    }
    assert!(forms >= 40, "posting forms read: {forms}");
    assert!(
        found.is_empty(),
        "forms whose first field is not the token:\n{}",
        found.join("\n")
    );
}
