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
