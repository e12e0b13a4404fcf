//! Replays the fuzz corpora (`fuzz/corpus/<target>/`, kept small in the repository) through the
//! fuzz targets (`jingkang_core::fuzzing`) on the stable toolchain, so that CI runs every input
//! the fuzzer found interesting — and every crash it found, once fixed — without nightly or
//! libFuzzer. See `fuzz/README.md`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use jingkang_core::fuzzing;

/// Panics seen on any thread (the sheet reader reads on a thread of its own, whose panic would
/// otherwise look like the end of the file), except those raised inside calamine, which the
/// reader contains and reports as an unreadable file (counted apart).
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static CONTAINED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn reproducers_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/reproducers")
        .join(target)
}

#[test]
fn every_corpus_input_runs_without_a_panic() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current().name().unwrap_or("?").to_string();
        let list = if fuzzing::is_contained_upstream(info.location()) {
            &CONTAINED
        } else {
            &PANICS
        };
        list.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(format!("[{thread}] {info}"));
        default_hook(info);
    }));

    let mut failures = Vec::new();
    let mut total = 0usize;
    for &target in fuzzing::TARGETS {
        let dir = corpus_dir(target);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| {
                panic!(
                    "no corpus for fuzz target {target} at {}: {e}",
                    dir.display()
                )
            })
            .map(|entry| entry.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        // The crashes found so far, kept apart from the corpus so that minimising never drops them.
        if let Ok(found) = std::fs::read_dir(reproducers_dir(target)) {
            files.extend(
                found
                    .map(|entry| entry.unwrap().path())
                    .filter(|p| p.is_file()),
            );
        }
        files.sort();
        assert!(
            !files.is_empty(),
            "the corpus of fuzz target {target} ({}) is empty",
            dir.display()
        );
        for file in &files {
            let data = std::fs::read(file).unwrap();
            let before = PANICS.lock().unwrap().len();
            let outcome = std::panic::catch_unwind(|| fuzzing::run(target, &data));
            let panicked = PANICS.lock().unwrap().len() > before;
            if outcome.is_err() || panicked {
                failures.push(format!("{target}: {}", file.display()));
            }
            total += 1;
        }
    }
    let _ = std::panic::take_hook();
    eprintln!(
        "{total} inputs replayed; panics inside calamine contained by the reader: {}",
        CONTAINED.lock().unwrap().len()
    );
    // A name that is no target is refused, not ignored (a typo would replay nothing).
    assert!(std::panic::catch_unwind(|| fuzzing::run("no-such-target", b"")).is_err());
    assert!(
        failures.is_empty(),
        "{} of {total} corpus inputs panicked:\n{}\n\npanics:\n{}",
        failures.len(),
        failures.join("\n"),
        PANICS.lock().unwrap().join("\n")
    );
}

/// The .xls whose sheet position lies past the end of its stream (calamine sliced there and
/// panicked) is refused by the guard, with the sheet named.
#[test]
fn an_xls_sheet_past_the_end_is_refused_by_the_guard() {
    let path = reproducers_dir("xls_reader").join("calamine-boundsheet-past-end.xls");
    let e = jingkang_core::import::sheet::RowStream::open(&path)
        .err()
        .expect("refused before reading");
    assert_eq!(e.code(), "xls-bad-sheet", "{e:?}");
}

/// A compound file whose sector chain runs past the end of the file: calamine's own CFB reader
/// panics on it (upstream); the reader contains the panic and says the file cannot be read.
#[test]
fn a_calamine_panic_is_an_unreadable_file_not_a_crash() {
    let path = reproducers_dir("xls_reader").join("calamine-cfb-sector-past-eof.xls");
    // (The panic message is printed: the hook is left alone, as the replay test sets its own.)
    let opened = std::panic::catch_unwind(|| jingkang_core::import::sheet::RowStream::open(&path));
    let e = opened.expect("no panic escapes").err().expect("refused");
    assert_eq!(e.code(), "file-unreadable", "{e:?}");
}

/// An .xls whose DIMENSIONS record declares an enormous range (calamine reserved room for it
/// before reading a cell, and the allocation aborted the process) is refused by the guard.
#[test]
fn an_xls_declaring_a_huge_range_is_refused_by_the_guard() {
    let path = reproducers_dir("xls_reader").join("calamine-dimensions-huge.xls");
    let e = jingkang_core::import::sheet::RowStream::open(&path)
        .err()
        .expect("refused before reading");
    assert_eq!(e.code(), "xls-too-large", "{e:?}");
}
