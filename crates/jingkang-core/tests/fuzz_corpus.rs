//! Replays the fuzz corpora (`fuzz/corpus/<target>/`, kept small in the repository) through the
//! fuzz targets (`jingkang_core::fuzzing`) on the stable toolchain, so that CI runs every input
//! the fuzzer found interesting — and every crash it found, once fixed — without nightly or
//! libFuzzer. See `fuzz/README.md`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use jingkang_core::fuzzing;

/// Panics seen on any thread (the sheet reader reads on a thread of its own, whose panic would
/// otherwise look like the end of the file).
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

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
        PANICS
            .lock()
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
