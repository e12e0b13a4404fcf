//! Rebuild when a migration or a data file is added: `sqlx::migrate!` and `include_str!` embed
//! them at compile time, and cargo does not otherwise notice a new file in these folders. Lists
//! the shipped assessment instruments (`data/instruments/*.json`) for `care::instrument`, so an
//! instrument is added by adding its file.
use std::fmt::Write as _;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=data");
    println!("cargo:rerun-if-changed=data/instruments");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/instruments");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut out = String::from(
        "/// The shipped instrument files: (file name, content).\npub static SHIPPED: &[(&str, &str)] = &[\n",
    );
    for n in &names {
        let path = dir.join(n);
        let _ = writeln!(
            out,
            "    ({n:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    out.push_str("];\n");
    let target = std::path::Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()))
        .join("instruments.rs");
    if let Err(e) = std::fs::write(&target, out) {
        panic!("cannot write {}: {e}", target.display());
    }
}
