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
    let volume = medical::dicom::read_series(common::series_files("ct_lung1_series")).unwrap();
    // Air outside the body is about -1000 HU after the -1024 intercept.
    assert!(
        volume.data.get(0) < -900.0,
        "corner is {} HU",
        volume.data.get(0)
    );
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
    let labels: Vec<u16> = shown
        .data
        .to_f32()
        .iter()
        .map(|&v| (v > 100.0) as u16)
        .collect();
    let back = shown.labels_in_source_order(&labels).unwrap();
    let expected: Vec<u16> = source
        .data
        .to_f32()
        .iter()
        .map(|&v| (v > 100.0) as u16)
        .collect();
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
        reread.data.to_f32(),
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
            std::panic::catch_unwind(|| {
                medical::open_files(vec![(name.to_string(), bytes.to_vec())])
            })
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
        // Windowed a slice at a time, as the model reads it: the whole equals the reference.
        let view = windowed(&volume, &window).unwrap();
        let grey: Vec<u8> = (0..volume.depth)
            .flat_map(|z| view.grey_slice(&volume, z).unwrap())
            .collect();
        assert_eq!(sha256_hex(&grey), expected.as_str().unwrap(), "{name}");
    }
}

/// One study's measurements against numpy's (models/measure_reference.py): counts and boxes
/// equal, every number within 1e-6 relative.
fn assert_measurements_match(session: &daftseg::Session, labels: &[u16], reference: &Value) {
    let (rows, unit) = session.measure(labels).unwrap();
    assert_eq!(unit, reference["unit"].as_str().unwrap());
    let expected = reference["rows"].as_array().unwrap();
    assert_eq!(rows.len(), expected.len(), "{}: rows", reference["name"]);
    let close = |ours: f64, theirs: &Value, what: &str| {
        let theirs = theirs.as_f64().unwrap();
        assert!(
            (ours - theirs).abs() <= 1e-6 * theirs.abs().max(1.0),
            "{} {what}: {ours} vs numpy {theirs}",
            reference["name"]
        );
    };
    for (ours, theirs) in rows.iter().zip(expected) {
        assert_eq!(ours.label as u64, theirs["label"].as_u64().unwrap());
        assert_eq!(ours.slice.map(|z| z as u64), theirs["slice"].as_u64());
        assert_eq!(ours.voxels, theirs["voxels"].as_u64().unwrap());
        let bbox: Vec<usize> = serde_json::from_value(theirs["bbox"].clone()).unwrap();
        assert_eq!(ours.bbox.to_vec(), bbox);
        for (value, key) in [(ours.area_mm2, "area_mm2"), (ours.volume_ml, "volume_ml")] {
            match value {
                Some(v) => close(v, &theirs[key], key),
                None => assert!(theirs[key].is_null(), "{key} should be empty"),
            }
        }
        for (value, key) in [
            (ours.mean, "mean"),
            (ours.sd, "sd"),
            (ours.min, "min"),
            (ours.max, "max"),
        ] {
            close(value, &theirs[key], key);
        }
    }
}

#[test]
fn measurements_of_a_ct_series_and_an_image_agree_with_numpy() {
    let text = std::fs::read_to_string(fixtures().join("measurements_reference.json")).unwrap();
    let reference: Value = serde_json::from_str(&text).unwrap();
    // The CT series in HU: PyTorch's tumour segmentation as label 1, the ground truth outside it
    // as label 2 (as models/measure_reference.py labels them).
    let (mut session, labels) = common::ct_series_with_two_objects(1, 2);
    let studies = reference["studies"].as_array().unwrap();
    assert_measurements_match(&session, &labels, &studies[0]);
    let csv = session.measurements_csv(&labels).unwrap();
    assert!(csv.starts_with("label,slice,voxels,area_mm2,volume_ml,mean,sd,min,max,unit,"));
    assert!(csv.lines().nth(1).unwrap().starts_with("1,all,1365,,"));
    assert!(csv.contains(",HU,"));
    assert!(
        session.measure(&labels[1..]).is_err(),
        "a wrong label count"
    );

    // A PNG's two objects, in pixels.
    let png = &studies[1];
    let image = std::fs::read(common::fixture(png["image"].as_str().unwrap())).unwrap();
    session.open(vec![("ct_lung.png".into(), image)]).unwrap();
    let mask: Vec<u16> = image::open(common::fixture(png["labels"].as_str().unwrap()))
        .unwrap()
        .to_luma8()
        .iter()
        .map(|&v| v as u16)
        .collect();
    assert_measurements_match(&session, &mask, png);
}

#[test]
fn exported_labels_open_again_over_their_study_and_other_labels_are_refused() {
    // Labels 3 (PyTorch's) and 9 (the ground truth outside it): renumbered 1 and 2.
    let (mut session, labels) = common::ct_series_with_two_objects(3, 9);
    let renumbered: Vec<u16> = labels
        .iter()
        .map(|&l| match l {
            3 => 1,
            9 => 2,
            _ => 0,
        })
        .collect();
    for name in ["seg.nii.gz", "seg.nii", "seg.npz"] {
        let bytes = session.export(labels.clone(), name, None).unwrap();
        let opened = session.open_labels(name, &bytes).unwrap();
        assert!(opened.labels == renumbered, "{name}: labels differ");
        let sources: Vec<u32> = opened.objects.iter().map(|o| o.source_label).collect();
        assert_eq!(sources, [3, 9], "{name}");
        assert_eq!(
            opened.objects[0].voxels,
            labels.iter().filter(|&&l| l == 3).count() as u64
        );
    }
    // The same labels one millimetre up (srow_z's offset): another place in space.
    let mut moved = session.export(labels.clone(), "seg.nii", None).unwrap();
    let offset = f32::from_le_bytes(moved[324..328].try_into().unwrap()) + 1.0;
    moved[324..328].copy_from_slice(&offset.to_le_bytes());
    let error = session.open_labels("moved.nii", &moved).unwrap_err();
    assert!(error.to_string().contains("another scan"), "{error}");
    // Another study's labels: another size.
    let other = std::fs::read(fixtures().join("example4d.nii.gz")).unwrap();
    let error = session.open_labels("other.nii.gz", &other).unwrap_err();
    assert!(error.to_string().contains("512x512x6"), "{error}");
    let error = session
        .open_labels("bad.nii", b"not a label file")
        .unwrap_err();
    assert!(error.to_string().contains("bad.nii"), "{error}");

    // A label PNG over its image; a colour picture is not a label image.
    let image = std::fs::read(common::fixture("images/ct_lung.png")).unwrap();
    session
        .open(vec![("ct_lung.png".into(), image.clone())])
        .unwrap();
    let png = std::fs::read(common::fixture("golden/ct_lung_segs.png")).unwrap();
    let opened = session.open_labels("ct_lung_segs.png", &png).unwrap();
    assert_eq!(opened.objects.len(), 2);
    assert!(opened.labels.contains(&2));
    let colour = std::fs::read(common::fixture("images/fundus_retina.png")).unwrap();
    assert!(session.open_labels("fundus.png", &colour).is_err());
}
