//! Shared by the integration tests: fixture paths and golden arrays.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{NpzReader, ReadableElement};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(path: &str) -> PathBuf {
    root().join("tests/fixtures").join(path)
}

pub fn manifest() -> PathBuf {
    root().join("models/manifest.json")
}

pub fn cases() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(fixture("cases.json")).expect("tests/fixtures/cases.json");
    serde_json::from_str(&text).expect("cases.json")
}

pub fn golden<T: ReadableElement>(path: &Path, name: &str) -> ArrayD<T> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut npz = NpzReader::new(file).expect("npz");
    npz.by_name::<ndarray::OwnedRepr<T>, IxDyn>(name)
        .unwrap_or_else(|e| panic!("{}: {name}: {e}", path.display()))
}

pub fn has_golden(path: &Path, name: &str) -> bool {
    let file = std::fs::File::open(path).expect("npz");
    NpzReader::new(file)
        .expect("npz")
        .names()
        .expect("names")
        .iter()
        .any(|n| n == name)
}

pub fn boxes(case: &serde_json::Value) -> Vec<[i64; 4]> {
    case["boxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let v: Vec<i64> = b
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect();
            [v[0], v[1], v[2], v[3]]
        })
        .collect()
}

/// IoU of two label maps for one label (1.0 when both are empty).
pub fn iou(a: &[u16], b: &[u16], label: u16) -> f64 {
    let (mut inter, mut union) = (0usize, 0usize);
    for (&x, &y) in a.iter().zip(b) {
        let (p, q) = (x == label, y == label);
        inter += (p && q) as usize;
        union += (p || q) as usize;
    }
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

/// What one run of the CLI did: its exit code (`None` when a signal ended it, as an abort
/// does), what it printed, and its own peak resident memory.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub peak_rss_kib: i64,
    pub timed_out: bool,
}

/// Runs the CLI with `args` under GNU time, which reports this one process's peak resident
/// memory (the CLI's own: a count taken in this test process would start from the test's size,
/// as Linux carries a process's peak across fork and exec). Killed, with its process group,
/// after `timeout`. Output goes to files, so a talkative child cannot block on a full pipe.
pub fn run_cli_measured(args: &[&str], timeout: std::time::Duration) -> Run {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let time = Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "GNU time is needed to measure peak memory: apt-get install time (build.sh test does)"
    );
    let dir = std::env::temp_dir().join(format!(
        "daftseg-run-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (out_path, err_path, time_path) =
        (dir.join("stdout"), dir.join("stderr"), dir.join("time"));
    let mut child = Command::new(time)
        .arg("-o")
        .arg(&time_path)
        .args(["-f", "peak_rss_kib=%M exit=%x"])
        .arg(env!("CARGO_BIN_EXE_daftseg"))
        .args(args)
        .current_dir(root())
        .process_group(0)
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let mut timed_out = false;
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > timeout && !timed_out {
            timed_out = true;
            // SAFETY: kill(2) on the process group this child leads.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let report = std::fs::read_to_string(&time_path).unwrap_or_default();
    // "Command terminated by signal N" precedes the format line when a signal ended the CLI.
    let signalled = report.contains("terminated by signal");
    let field = |key: &str| {
        report
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.parse::<i64>().ok())
    };
    let run = Run {
        code: if signalled || timed_out {
            None
        } else {
            field("exit=").map(|c| c as i32)
        },
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        peak_rss_kib: field("peak_rss_kib=").unwrap_or(-1),
        timed_out,
    };
    std::fs::remove_dir_all(&dir).ok();
    run
}

/// Reads a file (or a folder of DICOM files) in the source's voxel order (no display
/// reorientation), as pydicom, nibabel and pynrrd give it. A gzipped DICOM is inflated first.
pub fn read_source_order(path: &Path) -> daftseg::Result<daftseg::medical::MedicalVolume> {
    use daftseg::medical::{self, dicom, nifti, nrrd, VolumeFormat};
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    if path.is_dir() {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect();
        files.sort();
        return dicom::read_series(files);
    }
    let bytes = std::fs::read(path).unwrap();
    match medical::sniff(&name, &bytes) {
        Some(VolumeFormat::Dicom) => dicom::read_series(vec![(name, bytes)]),
        Some(VolumeFormat::GzipDicom) => {
            let mut inflated = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(&bytes[..]),
                &mut inflated,
            )
            .unwrap();
            dicom::read_series(vec![(name, inflated)])
        }
        Some(VolumeFormat::Nifti) => nifti::read(&bytes),
        Some(VolumeFormat::Nrrd) => nrrd::read(&bytes),
        other => panic!("{name}: unexpected format {other:?}"),
    }
}

/// How `volume` differs from a reference library's reading (`entry`: size, channels, modality,
/// sampled values, optionally the affine and the DICOM origin), within `(max, mean)` errors
/// relative to the values. Empty when they agree.
pub fn compare_with_reference(
    volume: &daftseg::medical::MedicalVolume,
    entry: &serde_json::Value,
    (max_error, mean_error): (f64, f64),
) -> Vec<String> {
    let mut problems = Vec::new();
    let size: Vec<usize> = entry["size"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    if volume.size().to_vec() != size {
        return vec![format!("size {:?}, reference {size:?}", volume.size())];
    }
    if volume.channels as u64 != entry["channels"].as_u64().unwrap() {
        problems.push(format!("{} channels", volume.channels));
    }
    if volume.modality.as_deref() != entry["modality"].as_str() {
        problems.push(format!("modality {:?}", volume.modality));
    }
    if volume.data.len() as u64 != entry["count"].as_u64().unwrap() {
        return [problems, vec![format!("{} values", volume.data.len())]].concat();
    }
    let positions = entry["at"].as_array().unwrap();
    let values = entry["values"].as_array().unwrap();
    let mut total = 0.0;
    for (at, expected) in positions.iter().zip(values) {
        let at = at.as_u64().unwrap() as usize;
        let got = volume.data.get(at) as f64;
        // null: the reference holds NaN there (JSON has no NaN).
        let Some(expected) = expected.as_f64() else {
            if !got.is_nan() {
                problems.push(format!("value {at} is {got}, reference NaN"));
            }
            continue;
        };
        let error = (got - expected).abs();
        total += error;
        if error > max_error * expected.abs().max(1.0) {
            problems.push(format!("value {at} is {got}, reference {expected}"));
            break;
        }
    }
    let mean = total / positions.len() as f64;
    if mean > mean_error * 255.0 {
        problems.push(format!("mean error {mean}"));
    }
    if let Some(affine) = entry.get("affine") {
        for r in 0..4 {
            for c in 0..4 {
                let expected = affine[r][c].as_f64().unwrap();
                if (volume.affine[r][c] - expected).abs() >= 1e-4 {
                    problems.push(format!(
                        "affine[{r}][{c}] {} vs {expected}",
                        volume.affine[r][c]
                    ));
                }
            }
        }
    }
    if let Some(origin) = entry.get("origin_lps") {
        // DICOM's LPS origin is RAS+ with x and y negated.
        for (r, sign) in [-1.0, -1.0, 1.0].iter().enumerate() {
            let expected = sign * origin[r].as_f64().unwrap();
            if (volume.affine[r][3] - expected).abs() >= 1e-3 {
                problems.push(format!("origin {r}"));
            }
        }
    }
    problems
}

/// The files of a DICOM series among the medical fixtures, (path, bytes) each.
pub fn series_files(series: &str) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(fixture(&format!("medical/{series}")))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

/// Pixels labelled in one mask and not in the other (any label counts as foreground).
pub fn foreground_differences<A, B>(
    a: impl IntoIterator<Item = A>,
    b: impl IntoIterator<Item = B>,
) -> usize
where
    A: Into<u32>,
    B: Into<u32>,
{
    a.into_iter()
        .zip(b)
        .map(|(a, b)| (a.into(), b.into()))
        .filter(|&(a, b): &(u32, u32)| (a > 0) != (b > 0))
        .count()
}

/// A session with the CT series open, and two objects on it: PyTorch's tumour segmentation
/// (`ct_lung1_series_reference.npz` segs) painted `tumour`, the ground truth outside it `outside`.
pub fn ct_series_with_two_objects(tumour: u16, outside: u16) -> (daftseg::Session, Vec<u16>) {
    let (manifest, _) = daftseg::native::load_manifest(&manifest()).unwrap();
    let mut session = daftseg::Session::new(manifest);
    session.open(series_files("ct_lung1_series")).unwrap();
    let npz = fixture("medical/ct_lung1_series_reference.npz");
    let segs = golden::<u8>(&npz, "segs");
    let gts = golden::<u8>(&npz, "gts");
    let labels = segs
        .iter()
        .zip(gts.iter())
        .map(|(&s, &g)| match (s > 0, g > 0) {
            (true, _) => tumour,
            (false, true) => outside,
            _ => 0,
        })
        .collect();
    (session, labels)
}
