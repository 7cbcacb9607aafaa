//! The reader corpus: every test file pydicom 3.0.2, pydicom-data 1.0.0 and nibabel 5.4.2 ship
//! (fetched by scripts/fetch-corpus.sh, which `npm test` runs first) through
//! `daftseg segment FILE --info`, each against its row in tests/corpus/expected.tsv: it opens
//! with the stated size, or is refused with the stated message. None may abort, panic or hang,
//! and each run's own peak resident memory stays within the bound below. The browser engine runs
//! the same rows in tests/browser/corpus.test.mjs.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A refusal may use the binary and a few copies of the file, never what the file claims.
fn refusal_bound_kib(file_bytes: u64) -> i64 {
    64 * 1024 + 3 * (file_bytes as i64 / 1024)
}

/// Opening is bounded by the native budget (2^28 f32 voxels) plus the binary.
const OPEN_BOUND_KIB: i64 = (1024 + 128) * 1024;

struct Row {
    class: String,
    native: String,
}

fn corpus_dir() -> PathBuf {
    common::root().join("tests/corpus/files")
}

fn rows() -> BTreeMap<String, Row> {
    let path = common::root().join("tests/corpus/expected.tsv");
    let text = std::fs::read_to_string(&path).expect("tests/corpus/expected.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 4, "expected.tsv: 4 columns in {line:?}");
            let row = Row {
                class: fields[1].to_string(),
                native: fields[2].to_string(),
            };
            (fields[0].to_string(), row)
        })
        .collect()
}

fn files_under(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            let relative = path.strip_prefix(corpus_dir()).unwrap();
            out.push(relative.to_string_lossy().into_owned());
        }
    }
}

#[test]
fn every_corpus_file_opens_or_is_refused_as_expected_within_the_memory_bound() {
    let dir = corpus_dir();
    assert!(
        dir.join("pydicom").is_dir(),
        "{} is missing: run scripts/fetch-corpus.sh (npm test does)",
        dir.display()
    );
    let rows = rows();
    let mut present = Vec::new();
    files_under(&dir, &mut present);
    present.retain(|f| !f.starts_with(".fetched") && !f.starts_with("hostile/"));
    let unlisted: Vec<_> = present.iter().filter(|f| !rows.contains_key(*f)).collect();
    assert!(
        unlisted.is_empty(),
        "files without a row in expected.tsv: {unlisted:?}"
    );
    let mut failures = Vec::new();
    let (mut opened, mut refused) = (0, 0);
    // The largest peak memory of a refusal and of an open, with the file, for docs/RELIABILITY.md.
    let (mut worst_refusal, mut worst_open) = ((0, String::new()), (0, String::new()));
    for (file, row) in &rows {
        // The generated hostile files are tests/hostile.rs's; their rows are for the browser.
        if row.native == "-" {
            continue;
        }
        let path = dir.join(file);
        let Ok(meta) = std::fs::metadata(&path) else {
            failures.push(format!("{file}: listed but missing"));
            continue;
        };
        let run = common::run_cli_measured(
            &["segment", path.to_str().unwrap(), "--info"],
            Duration::from_secs(120),
        );
        let message = run.stderr.lines().next().unwrap_or_default();
        let problem = if run.timed_out {
            Some("hung (killed after 120 s)".to_string())
        } else if run.code.is_none() {
            Some(format!("killed by a signal (abort?): {}", run.stderr))
        } else if run.code == Some(101) {
            Some(format!("panicked: {}", run.stderr))
        } else if let Some(size) = row.native.strip_prefix("open ") {
            opened += 1;
            if run.peak_rss_kib > worst_open.0 {
                worst_open = (run.peak_rss_kib, file.clone());
            }
            let said = format!("{}{}", run.stdout, run.stderr);
            let ok = run.code == Some(0) && said.contains(&format!("volume {size} "));
            (!ok)
                .then(|| format!("should open as {size}: {:?} {message}", run.code))
                .or_else(|| {
                    (run.peak_rss_kib > OPEN_BOUND_KIB)
                        .then(|| format!("peak RSS {} KiB opening it", run.peak_rss_kib))
                })
        } else if let Some(fragment) = row.native.strip_prefix("refuse ") {
            refused += 1;
            if run.peak_rss_kib > worst_refusal.0 {
                worst_refusal = (run.peak_rss_kib, file.clone());
            }
            let bound = refusal_bound_kib(meta.len());
            if run.code != Some(1) || !message.contains(fragment) {
                Some(format!(
                    "should be refused with {fragment:?} ({}): exit {:?}, {message}{}",
                    row.class, run.code, run.stdout
                ))
            } else if run.peak_rss_kib > bound {
                Some(format!(
                    "peak RSS {} KiB refusing it (bound {bound} KiB)",
                    run.peak_rss_kib
                ))
            } else {
                None
            }
        } else {
            Some(format!("expected.tsv: cannot read {:?}", row.native))
        };
        if let Some(problem) = problem {
            failures.push(format!("{file}: {problem}"));
        }
    }
    eprintln!(
        "corpus: {opened} opened, {refused} refused, {} failures; highest peak RSS: refusing {} KiB ({}), opening {} KiB ({})",
        failures.len(),
        worst_refusal.0,
        worst_refusal.1,
        worst_open.0,
        worst_open.1
    );
    assert!(opened >= 150 && refused >= 190, "too few rows ran");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Lossy codecs (JPEG baseline/extended, JPEG 2000 irreversible) may round differently from
/// the reference library's decoder by a few levels; everything else must match exactly.
fn tolerance(bytes: &[u8]) -> (f64, f64) {
    let head = &bytes[..bytes.len().min(4096)];
    let lossy = [
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.91",
    ];
    if lossy
        .iter()
        .any(|uid| head.windows(uid.len()).any(|w| w == uid.as_bytes()))
    {
        (3.0, 0.75)
    } else {
        (1e-3, 1e-6)
    }
}

#[test]
fn every_corpus_file_daftseg_opens_holds_what_pydicom_or_nibabel_reads() {
    let text = std::fs::read_to_string(common::root().join("tests/corpus/reference.json"))
        .expect("tests/corpus/reference.json (python -m models corpus-reference)");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (mut compared, mut failures) = (0, Vec::new());
    for entry in json["files"].as_array().unwrap() {
        let name = entry["name"].as_str().unwrap();
        if entry.get("reference_error").is_some() {
            continue;
        }
        let path = corpus_dir().join(name);
        let volume = match common::read_source_order(&path) {
            Ok(volume) => volume,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let problems = common::compare_with_reference(
            &volume,
            entry,
            tolerance(&std::fs::read(&path).unwrap()),
        );
        if !problems.is_empty() {
            failures.push(format!("{name}: {}", problems.join("; ")));
        }
        compared += 1;
    }
    eprintln!("corpus: {compared} files compared with pydicom / nibabel");
    assert!(compared >= 140, "only {compared} files compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
