//! The DICOM, NIfTI and NRRD readers on real files from registry packages, against what pydicom,
//! nibabel and pynrrd read in them (tests/fixtures/medical/reference.json, written by
//! models/medical_fixtures.py), plus the errors for files daftseg cannot read.

use std::path::{Path, PathBuf};

mod common;

use daftseg::medical::{self, nifti, MedicalVolume};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/medical")
}

fn reference() -> Vec<Value> {
    let text = std::fs::read_to_string(fixtures().join("reference.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    json["files"].as_array().unwrap().clone()
}

/// Reads a fixture in the source's voxel order (no display reorientation), as the references are.
fn read_source_order(name: &str) -> daftseg::Result<MedicalVolume> {
    common::read_source_order(&fixtures().join(name))
}

/// Lossy JPEG decoders may differ by a few levels (IDCT and colour conversion rounding); every
/// other file must match exactly (up to f32 rounding).
fn tolerance(name: &str) -> (f64, f64) {
    match name {
        "SC_rgb_jpeg_dcmtk.dcm" | "examples_ybr_color.dcm" | "JPGExtended.dcm" => (3.0, 0.75),
        _ => (1e-3, 1e-6),
    }
}

#[test]
fn readers_match_the_reference_libraries() {
    let mut checked = 0;
    for entry in reference() {
        let name = entry["name"].as_str().unwrap();
        let expect = entry["expect"].as_str().unwrap();
        let result = read_source_order(name);
        if expect != "image" {
            let error = result
                .err()
                .unwrap_or_else(|| panic!("{name}: read, but should fail"))
                .to_string();
            assert!(
                error.contains(expect),
                "{name}: error '{error}' should mention '{expect}'"
            );
            continue;
        }
        let volume = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        let problems = common::compare_with_reference(&volume, &entry, tolerance(name));
        assert!(problems.is_empty(), "{name}: {}", problems.join("; "));
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} files compared");
}

#[test]
fn ct_series_is_sorted_by_position_in_hu_and_shown_axially() {
    let volume = medical::dicom::read_series(
        &std::fs::read_dir(fixtures().join("ct_lung1_series"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    // Air outside the body is about -1000 HU after the -1024 intercept.
    assert!(volume.data[0] < -900.0, "corner is {} HU", volume.data[0]);
    // The step between sorted slices is the source's slice spacing.
    let entry = reference()
        .into_iter()
        .find(|e| e["name"] == "ct_lung1_series")
        .unwrap();
    let spacing = entry["slice_spacing"].as_f64().unwrap();
    assert!(
        (volume.spacing[2] - spacing).abs() < 1e-3,
        "slice spacing {} vs {spacing}",
        volume.spacing[2]
    );
    let shown = volume.clone().reoriented();
    // An axial LPS series is already in the display orientation except, maybe, its slice order.
    assert_eq!(shown.orientation.axes, [0, 1, 2]);
    assert_eq!(&shown.orientation.flips[..2], &[false, false]);
}

#[test]
fn exported_labels_carry_the_source_affine() {
    // anatomical.nii: big-endian NIfTI-1 with a qform; shown reoriented, exported back.
    let bytes = std::fs::read(fixtures().join("anatomical.nii")).unwrap();
    let source = nifti::read(&bytes).unwrap();
    let shown = medical::read_volume("anatomical.nii", &bytes).unwrap();
    let labels: Vec<u16> = shown.data.iter().map(|&v| (v > 100.0) as u16).collect();
    let back = shown.labels_in_source_order(&labels).unwrap();
    let expected: Vec<u16> = source.data.iter().map(|&v| (v > 100.0) as u16).collect();
    assert_eq!(back, expected);
    let written = nifti::write_labels(
        &back,
        shown.orientation.source_size,
        &shown.orientation.source_affine,
        true,
    )
    .unwrap();
    let reread = nifti::read(&written).unwrap();
    for r in 0..4 {
        for c in 0..4 {
            assert!((reread.affine[r][c] - source.affine[r][c]).abs() < 1e-5);
        }
    }
    assert_eq!(
        reread.data,
        expected.iter().map(|&v| v as f32).collect::<Vec<_>>()
    );
}

#[test]
fn broken_copies_of_every_medical_fixture_give_errors_not_panics() {
    for entry in reference() {
        let name = entry["name"].as_str().unwrap();
        let path = fixtures().join(name);
        if path.is_dir() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let open = |bytes: &[u8]| {
            std::panic::catch_unwind(|| medical::open_files(&[(name.to_string(), bytes.to_vec())]))
        };
        // Files daftseg refuses whole (JPEG-LS, ...) only have to be refused without a panic.
        let whole = open(&bytes).unwrap().ok();
        // A file missing its end (or all of it) must be refused, not shown with zeros: unless
        // what was cut held no pixels (a compressed stream's last bytes), and it reads whole.
        for cut in [
            0,
            10,
            131,
            200,
            348,
            bytes.len() / 2,
            bytes.len().saturating_sub(7),
        ] {
            if cut >= bytes.len() {
                continue;
            }
            let outcome =
                open(&bytes[..cut]).unwrap_or_else(|_| panic!("{name} cut at {cut} panicked"));
            if let Ok(v) = outcome {
                let whole = whole.as_ref().expect("a cut copy of a refused file opened");
                assert!(
                    v.data == whole.data && v.size() == whole.size(),
                    "{name} cut at {cut} bytes of {} opened with other pixels",
                    bytes.len()
                );
            }
        }
        // Flipped bytes may land in pixel values, so the file may still open; then it must be a
        // whole volume.
        let mut flipped = bytes.clone();
        for i in (0..flipped.len()).step_by(97) {
            flipped[i] ^= 0x5a;
        }
        let outcome =
            open(&flipped).unwrap_or_else(|_| panic!("{name} with flipped bytes panicked"));
        if let Ok(v) = outcome {
            assert_eq!(
                v.data.len(),
                v.width * v.height * v.depth * v.channels,
                "{name}"
            );
        }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn windows_give_the_pixels_the_python_pipeline_feeds_the_model() {
    use daftseg::medical::window::{windowed, CtPreset, Window};
    for entry in reference() {
        let name = entry["name"].as_str().unwrap();
        let (window, expected) = if let Some(hash) = entry.get("percentile_window_sha256") {
            (Window::PERCENTILE, hash)
        } else if let Some(hash) = entry.get("lung_window_sha256") {
            (
                Window::Preset {
                    name: CtPreset::Lung,
                },
                hash,
            )
        } else {
            continue;
        };
        let path = fixtures().join(name);
        let volume = if path.is_dir() {
            read_source_order(name).unwrap().reoriented()
        } else {
            medical::read_volume(name, &std::fs::read(&path).unwrap()).unwrap()
        };
        let grey = windowed(&volume, &window).unwrap().grey;
        assert_eq!(sha256_hex(&grey.data), expected.as_str().unwrap(), "{name}");
    }
}
