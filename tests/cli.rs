//! The `daftseg` command line on real files, and every kind of bad input: a clear message on
//! stderr, a non-zero exit, never a panic.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ndarray::{Array2, Array3, IxDyn};
use ndarray_npy::{NpzReader, NpzWriter};

use common::*;

fn daftseg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_daftseg"))
        .args(args)
        .env_remove("DAFTSEG_MANIFEST")
        .output()
        .expect("run daftseg")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("daftseg-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Fails with a message containing `expected`, without panicking.
fn assert_clean_failure(output: &Output, expected: &str) {
    let err = stderr(output);
    assert!(
        !output.status.success(),
        "expected failure, got success; stderr: {err}"
    );
    assert!(
        err.contains("error:") && err.contains(expected),
        "stderr lacks '{expected}': {err}"
    );
    assert!(!err.contains("panicked"), "panic: {err}");
}

fn segment_png(case_name: &str) -> (Vec<u16>, serde_json::Value) {
    let case = cases()
        .into_iter()
        .find(|c| c["name"] == case_name)
        .unwrap();
    let image = fixture(case["image"].as_str().unwrap());
    let out = tmp(&format!("{case_name}.png"));
    let mut args: Vec<String> = vec![
        "segment".into(),
        image.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    for b in boxes(&case) {
        args.push("--box".into());
        args.push(format!("{},{},{},{}", b[0], b[1], b[2], b[3]));
    }
    args.push("--timings".into());
    let output = daftseg(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("timings: load"),
        "{}",
        stderr(&output)
    );
    let mask = image::open(&out).unwrap();
    assert_eq!(
        (mask.width() as u64, mask.height() as u64),
        (
            case["width"].as_u64().unwrap(),
            case["height"].as_u64().unwrap()
        )
    );
    let labels = match mask {
        image::DynamicImage::ImageLuma8(m) => m.into_raw().into_iter().map(u16::from).collect(),
        image::DynamicImage::ImageLuma16(m) => m.into_raw(),
        other => panic!("label mask must be grey, got {:?}", other.color()),
    };
    (labels, case)
}

#[test]
fn segment_png_gives_the_reference_label_mask() {
    for name in ["mr_small", "ct_strip", "mr_breast_tiny"] {
        let (ours, case) = segment_png(name);
        let expected = golden::<u16>(&fixture(&format!("golden/{name}.npz")), "segs");
        let expected = expected.as_slice().unwrap();
        for label in 1..=boxes(&case).len() as u16 {
            let iou = iou(&ours, expected, label);
            assert!(iou >= 0.99, "{name} label {label}: IoU {iou}");
        }
        assert_eq!(
            ours,
            expected.to_vec(),
            "{name}: label values must survive the PNG exactly"
        );
    }
}

fn write_case(path: &Path, imgs: Array3<u8>, boxes: Array2<i64>) {
    let mut npz = NpzWriter::new(std::fs::File::create(path).unwrap());
    npz.add_array("imgs", &imgs).unwrap();
    npz.add_array("boxes", &boxes).unwrap();
    npz.finish().unwrap();
}

/// `daftseg segment CASE.npz --out OUT.npz` must succeed; returns `segs` and stderr.
fn segment_npz(input: &Path, out_name: &str) -> (ndarray::ArrayD<u8>, String) {
    let out = tmp(out_name);
    let output = daftseg(&[
        "segment",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let mut npz = NpzReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    let segs = npz
        .by_name::<ndarray::OwnedRepr<u8>, IxDyn>("segs")
        .unwrap();
    (segs, stderr(&output))
}

#[test]
fn segment_challenge_npz_gives_segs() {
    let case = cases()
        .into_iter()
        .find(|c| c["name"] == "ct_small")
        .unwrap();
    let image = image::open(fixture(case["image"].as_str().unwrap()))
        .unwrap()
        .into_luma8();
    let (w, h) = (image.width() as usize, image.height() as usize);
    let imgs = Array3::from_shape_fn((h, w, 3), |(y, x, _)| {
        image.get_pixel(x as u32, y as u32)[0]
    });
    let flat: Vec<i64> = boxes(&case).into_iter().flatten().collect();
    let input = tmp("2DBox_CT_small.npz");
    write_case(
        &input,
        imgs,
        Array2::from_shape_vec((flat.len() / 4, 4), flat).unwrap(),
    );
    let (segs, _) = segment_npz(&input, "2DBox_CT_small_seg.npz");
    assert_eq!(segs.shape(), &[h, w]);
    let expected = golden::<u16>(&fixture("golden/ct_small.npz"), "segs");
    let ours: Vec<u16> = segs.iter().map(|&v| v as u16).collect();
    assert_eq!(ours, expected.as_slice().unwrap().to_vec());
}

#[test]
fn route_reports_model_and_reason() {
    let output = daftseg(&["route", "2DBox_MR_0001.npz"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        text.contains("model: litemedsam")
            && text.contains("modality: MR")
            && text.contains("general model"),
        "{text}"
    );

    let multi = fixture("manifest_multi.json");
    let multi = multi.to_str().unwrap();
    let routed = |args: &[&str]| {
        let mut all = vec!["--manifest", multi, "route"];
        all.extend_from_slice(args);
        let output = daftseg(&all);
        assert!(output.status.success(), "{}", stderr(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(routed(&["3DBox_CT_0042.npz"]).contains("model: ct-model"));
    assert!(routed(&["chest_CXR.png"]).contains("model: xray-model"));
    assert!(routed(&["2DBox_Mammo_7.png"]).contains("model: xray-model"));
    assert!(routed(&["2DBox_US_7.png"]).contains("model: general"));
    assert!(routed(&["scan.png"]).contains("model: general"));
    // Metadata beats the file name; the user's choice beats both.
    let by_metadata = routed(&["2DBox_CT_1.png", "--modality", "MR"]);
    assert!(
        by_metadata.contains("model: mr-model") && by_metadata.contains("metadata"),
        "{by_metadata}"
    );
    let by_user = routed(&["2DBox_CT_1.png", "--modality", "MR", "--model", "general"]);
    assert!(
        by_user.contains("model: general") && by_user.contains("chosen by the user"),
        "{by_user}"
    );
    assert_clean_failure(
        &daftseg(&["--manifest", multi, "route", "x.png", "--model", "nope"]),
        "no model 'nope'",
    );
}

#[test]
fn bad_images_give_clear_errors() {
    let out = tmp("never.png");
    let out = out.to_str().unwrap();
    assert_clean_failure(
        &daftseg(&[
            "segment",
            "/no/such/file.png",
            "--box",
            "1,1,5,5",
            "--out",
            out,
        ]),
        "/no/such/file.png",
    );

    let garbage = tmp("garbage.png");
    std::fs::write(&garbage, b"this is not an image at all").unwrap();
    assert_clean_failure(
        &daftseg(&[
            "segment",
            garbage.to_str().unwrap(),
            "--box",
            "1,1,5,5",
            "--out",
            out,
        ]),
        "cannot read image",
    );

    let png = std::fs::read(fixture("images/ct_lung.png")).unwrap();
    let truncated = tmp("truncated.png");
    std::fs::write(&truncated, &png[..png.len() / 2]).unwrap();
    assert_clean_failure(
        &daftseg(&[
            "segment",
            truncated.to_str().unwrap(),
            "--box",
            "1,1,5,5",
            "--out",
            out,
        ]),
        "cannot read image",
    );

    let empty = tmp("2DBox_CT_empty.npz");
    write_case(
        &empty,
        Array3::zeros((0, 0, 3)),
        Array2::from_shape_vec((1, 4), vec![0, 0, 1, 1]).unwrap(),
    );
    assert_clean_failure(
        &daftseg(&["segment", empty.to_str().unwrap(), "--out", out]),
        "empty",
    );

    let wrong = tmp("2DBox_CT_wrong.npz");
    write_case(
        &wrong,
        Array3::zeros((4, 5, 2)),
        Array2::from_shape_vec((1, 4), vec![0, 0, 1, 1]).unwrap(),
    );
    assert_clean_failure(
        &daftseg(&["segment", wrong.to_str().unwrap(), "--out", out]),
        "expected HxWx3",
    );
}

#[test]
fn bad_boxes_give_clear_errors() {
    let image = fixture("images/mr_small.png");
    let image = image.to_str().unwrap();
    let out = tmp("never.png");
    let out = out.to_str().unwrap();
    assert_clean_failure(
        &daftseg(&["segment", image, "--box", "100,100,120,120", "--out", out]),
        "outside",
    );
    assert_clean_failure(
        &daftseg(&["segment", image, "--box", "40,10,20,30", "--out", out]),
        "inverted",
    );
    assert_clean_failure(
        &daftseg(&["segment", image, "--box", "1,2,3", "--out", out]),
        "4 values",
    );
    assert_clean_failure(
        &daftseg(&["segment", image, "--out", out]),
        "at least one --box",
    );
    assert!(
        !Path::new(out).exists(),
        "no output may be written on error"
    );
}

#[test]
fn missing_or_corrupt_models_give_clear_errors() {
    let dir = tmp("models");
    std::fs::create_dir_all(dir.join("litemedsam")).unwrap();
    let manifest_text = std::fs::read_to_string(manifest()).unwrap();
    std::fs::write(dir.join("manifest.json"), &manifest_text).unwrap();
    let manifest = dir.join("manifest.json");
    let args = |m: &Path| {
        vec![
            "--manifest".to_string(),
            m.display().to_string(),
            "segment".into(),
            fixture("images/mr_small.png").display().to_string(),
            "--box".into(),
            "14,10,50,54".into(),
            "--out".into(),
            tmp("never2.png").display().to_string(),
        ]
    };
    let run = |m: &Path| daftseg(&args(m).iter().map(String::as_str).collect::<Vec<_>>());
    // No model files next to the manifest.
    assert_clean_failure(&run(&manifest), "encoder.onnx");
    // A corrupt encoder: right size, wrong bytes.
    let real = root().join("models/litemedsam");
    let mut encoder = std::fs::read(real.join("encoder.onnx")).unwrap();
    let middle = encoder.len() / 2;
    encoder[middle] ^= 0xff;
    std::fs::write(dir.join("litemedsam/encoder.onnx"), &encoder).unwrap();
    std::fs::copy(
        real.join("decoder.onnx"),
        dir.join("litemedsam/decoder.onnx"),
    )
    .unwrap();
    assert_clean_failure(&run(&manifest), "sha256");
    // A truncated decoder.
    std::fs::copy(
        real.join("encoder.onnx"),
        dir.join("litemedsam/encoder.onnx"),
    )
    .unwrap();
    let decoder = std::fs::read(real.join("decoder.onnx")).unwrap();
    std::fs::write(dir.join("litemedsam/decoder.onnx"), &decoder[..1000]).unwrap();
    assert_clean_failure(&run(&manifest), "truncated");
    // A manifest that is not JSON.
    std::fs::write(&manifest, "{ not json").unwrap();
    assert_clean_failure(&run(&manifest), "manifest");
    assert_clean_failure(&run(&dir.join("absent.json")), "manifest");
}

#[test]
fn segment_3d_challenge_npz_gives_segs() {
    let input = fixture("golden/3d_mr_brain.npz");
    let (segs, log) = segment_npz(&input, "3DBox_MR_brain_seg.npz");
    assert!(log.contains("3D 256x256x11, 2 boxes"), "{log}");
    assert_eq!(segs.shape(), &[11, 256, 256]);
    let expected = golden::<u16>(&input, "segs");
    assert_eq!(
        segs.iter().map(|&v| v as u16).collect::<Vec<_>>(),
        expected.as_slice().unwrap().to_vec()
    );
}

fn medical(name: &str) -> PathBuf {
    fixture(&format!("medical/{name}"))
}

#[test]
fn dicom_ct_series_segments_in_3d_like_pytorch_and_exports_nifti_with_its_geometry() {
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(medical("reference.json")).unwrap()).unwrap();
    let entry = reference["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "ct_lung1_series")
        .unwrap()
        .clone();
    let b: Vec<String> = entry["tumour_box3d"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.to_string())
        .collect();
    let out = tmp("ct_series_seg.nii.gz");
    let stats = tmp("ct_series_stats.csv");
    let output = daftseg(&[
        "segment",
        medical("ct_lung1_series").to_str().unwrap(),
        "--box3d",
        &b.join(","),
        "--window",
        "lung",
        "--out",
        out.to_str().unwrap(),
        "--stats",
        stats.to_str().unwrap(),
    ]);
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("modality CT") && log.contains("W1500/L-600"),
        "{log}"
    );
    let seg = daftseg::medical::nifti::read(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(seg.size(), [512, 512, 6]);
    // The DICOM origin (LPS) as RAS+.
    let origin = entry["origin_lps"].as_array().unwrap();
    for (r, sign) in [-1.0, -1.0, 1.0].iter().enumerate() {
        assert!((seg.affine[r][3] - sign * origin[r].as_f64().unwrap()).abs() < 1e-2);
    }
    let mut npz =
        NpzReader::new(std::fs::File::open(medical("ct_lung1_series_reference.npz")).unwrap())
            .unwrap();
    let expected: Array3<u8> = npz.by_name("segs").unwrap();
    let (mut both, mut ours, mut theirs) = (0usize, 0usize, 0usize);
    for (&a, &b) in seg.data.to_f32().iter().zip(expected.iter()) {
        let (a, b) = (a > 0.0, b > 0);
        both += (a && b) as usize;
        ours += a as usize;
        theirs += b as usize;
    }
    let dsc = 2.0 * both as f64 / (ours + theirs) as f64;
    assert!(
        theirs > 500 && dsc >= 0.98,
        "DSC {dsc} against PyTorch ({ours} vs {theirs} voxels)"
    );
    // --stats: the object's 3D row counts the exported voxels, its volume is theirs in mL
    // (tests/medical.rs checks every number against numpy), then one row per slice it touches.
    let csv = std::fs::read_to_string(&stats).unwrap();
    let lines: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        lines[0][..5],
        ["label", "slice", "voxels", "area_mm2", "volume_ml"]
    );
    assert_eq!(lines[1][..3], ["1", "all", ours.to_string().as_str()]);
    let spacing = seg.spacing;
    let ml: f64 = lines[1][4].parse().unwrap();
    let expected_ml = ours as f64 * spacing.iter().product::<f64>() / 1000.0;
    assert!(
        (ml - expected_ml).abs() < 1e-6 * expected_ml,
        "{ml} mL vs {expected_ml}"
    );
    assert!(lines[1].contains(&"HU"));
    let slices: usize = lines[2..].iter().filter(|l| l[0] == "1").count();
    assert!((1..=6).contains(&slices), "{csv}");

    // The same request as a DICOM SEG (--out .dcm): reopened over the series, the same voxels
    // (tests/seg.rs has the independent validators read it).
    let dcm = tmp("ct_series_seg.dcm");
    let output = daftseg(&[
        "segment",
        medical("ct_lung1_series").to_str().unwrap(),
        "--box3d",
        &b.join(","),
        "--window",
        "lung",
        "--out",
        dcm.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let (manifest, _) = daftseg::native::load_manifest(&common::manifest()).unwrap();
    let mut session = daftseg::Session::new(manifest);
    session.open(series_files("ct_lung1_series")).unwrap();
    let opened = session
        .open_labels("seg.dcm", &std::fs::read(&dcm).unwrap())
        .unwrap();
    let nifti = session
        .open_labels("seg.nii.gz", &std::fs::read(&out).unwrap())
        .unwrap();
    assert_eq!(opened.labels, nifti.labels);
    assert_eq!(opened.objects[0].name.as_deref(), Some("CT structure 1"));
}

#[test]
fn volume_inputs_refuse_bad_requests_clearly() {
    let series = medical("ct_lung1_series");
    let series = series.to_str().unwrap();
    let out = tmp("bad.nii.gz");
    let out = out.to_str().unwrap();
    assert_clean_failure(&daftseg(&["segment", series, "--out", out]), "--box3d");
    assert_clean_failure(
        &daftseg(&["segment", series, "--box3d", "1,2,3", "--out", out]),
        "6 values",
    );
    assert_clean_failure(
        &daftseg(&[
            "segment",
            series,
            "--box3d",
            "10,10,0,20,20,2",
            "--window",
            "sunny",
            "--out",
            out,
        ]),
        "window",
    );
    assert_clean_failure(
        &daftseg(&[
            "segment",
            series,
            "--box3d",
            "10,10,0,20,20,2",
            "--out",
            "seg.txt",
        ]),
        ".nii.gz",
    );
    assert_clean_failure(
        &daftseg(&[
            "segment",
            medical("anatomical.nii").to_str().unwrap(),
            "--box3d",
            "10,10,0,20,20,2",
            "--out",
            "seg.dcm",
        ]),
        "a DICOM SEG is written over a DICOM study",
    );
    assert_clean_failure(
        &daftseg(&[
            "segment",
            series,
            "--box3d",
            "10,10,7,20,20,9",
            "--out",
            out,
        ]),
        "outside",
    );
    assert_clean_failure(
        &daftseg(&[
            "segment",
            medical("MR_small_jpeg_ls_lossless.dcm").to_str().unwrap(),
            "--box3d",
            "1,1,0,9,9,0",
            "--out",
            out,
        ]),
        "JPEG-LS",
    );
}

#[test]
fn the_shipped_zoo_routes_by_held_out_result_and_segments_with_the_modality_model() {
    // The shipped manifest: microscopy's fine-tuned decoder beat the general model on held-out
    // patients and is routed to; CT's did not and is only an explicit choice.
    let routed = |args: &[&str]| {
        let mut all = vec!["route"];
        all.extend_from_slice(args);
        let output = daftseg(&all);
        assert!(output.status.success(), "{}", stderr(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let microscopy = routed(&["2DBox_Microscopy_0001.npz"]);
    assert!(
        microscopy.contains("model: daft-microscopy"),
        "{microscopy}"
    );
    let ct = routed(&["scan.dcm", "--modality", "CT"]);
    assert!(
        ct.contains("model: litemedsam") && ct.contains("'daft-ct'") && ct.contains("did not beat"),
        "{ct}"
    );
    assert!(routed(&["scan.dcm", "--model", "daft-ct"]).contains("model: daft-ct"));

    // The routed model really segments: the nuclei image through daft-microscopy.
    let log = segment_one_nucleus(&fixture("images/microscopy_nuclei.png"), "nuclei_zoo.png");
    assert!(log.contains("model: daft-microscopy"), "{log}");
}

/// Segments one nucleus of the stardist image (given as `image`) into `out`, checks that the
/// mask is a nucleus, and returns what the CLI said.
fn segment_one_nucleus(image: &Path, out: &str) -> String {
    let out = tmp(out);
    let output = daftseg(&[
        "segment",
        image.to_str().unwrap(),
        "--box",
        "410,443,441,466",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let mask = image::open(&out).unwrap().to_luma8();
    let area = mask.pixels().filter(|p| p.0[0] == 1).count();
    assert!(area > 100 && area < 32 * 24, "nucleus mask of {area} px");
    stderr(&output)
}

#[test]
fn thread_counts_give_identical_files_and_bad_counts_clear_errors() {
    // The CT series in 3D (three slices encoded) and a 2D image: one thread and two threads
    // write byte-identical label files.
    let series = medical("ct_lung1_series");
    for (input, prompt, out) in [
        (series.clone(), ["--box3d", "206,347,1,229,372,3"], "npz"),
        (
            fixture("images/ct_lung.png"),
            ["--box", "281,294,432,438"],
            "png",
        ),
    ] {
        let files: Vec<Vec<u8>> = ["1", "2"]
            .iter()
            .map(|threads| {
                let path = tmp(&format!("threads_{threads}.{out}"));
                let output = daftseg(&[
                    "--threads",
                    threads,
                    "segment",
                    input.to_str().unwrap(),
                    prompt[0],
                    prompt[1],
                    "--out",
                    path.to_str().unwrap(),
                ]);
                assert!(output.status.success(), "{}", stderr(&output));
                std::fs::read(&path).unwrap()
            })
            .collect();
        assert!(files[0].len() > 100);
        assert_eq!(
            files[0],
            files[1],
            "{}: 2 threads differ from 1",
            input.display()
        );
    }

    let bench = daftseg(&["bench", "--threads", "2", "--iterations", "1", "--json"]);
    assert!(bench.status.success(), "{}", stderr(&bench));
    let report: serde_json::Value = serde_json::from_slice(&bench.stdout).unwrap();
    assert_eq!(report["threads"], 2);

    for bad in ["0", "-1", "two", "5000"] {
        let output = daftseg(&[&format!("--threads={bad}"), "route", "x.png"]);
        let err = stderr(&output);
        assert!(
            !output.status.success() && err.contains("--threads"),
            "{bad}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn shards_split_a_folder_and_their_scores_merge_into_the_whole() {
    // Three small 2D cases; shards 1/2 and 2/2 segment each case exactly once between them.
    let input = tmp("shard_cases");
    let out = tmp("shard_out");
    std::fs::create_dir_all(&input).unwrap();
    let _ = std::fs::remove_dir_all(&out);
    for i in 0..3u8 {
        let imgs = Array3::from_shape_fn((24, 32, 3), |(y, x, _)| {
            if (6..18).contains(&y) && (8..24).contains(&x) {
                200 + i
            } else {
                20
            }
        });
        let boxes = Array2::from_shape_vec((1, 4), vec![7, 5, 24, 18]).unwrap();
        write_case(&input.join(format!("2DBox_CT_{i}.npz")), imgs, boxes);
    }
    let mut segmented = Vec::new();
    for shard in ["1/2", "2/2"] {
        let output = daftseg(&[
            "segment",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--shard",
            shard,
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        let table = String::from_utf8_lossy(&output.stdout).into_owned();
        segmented.extend(
            table
                .lines()
                .skip(1)
                .map(|l| l.split(',').next().unwrap().to_string()),
        );
    }
    segmented.sort();
    assert_eq!(segmented, ["2DBox_CT_0", "2DBox_CT_1", "2DBox_CT_2"]);
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3);

    // eval: three shards, merged, equal the whole folder's scores.
    let (pred, gt) = (fixture("metrics/pred"), fixture("metrics/gt"));
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--pred",
            pred.to_str().unwrap(),
            "--gt",
            gt.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let output = daftseg(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let whole_csv = tmp("whole.csv");
    let whole = eval(&["--csv", whole_csv.to_str().unwrap()]);
    let parts: Vec<PathBuf> = (1..=3).map(|k| tmp(&format!("part{k}.csv"))).collect();
    for (k, part) in parts.iter().enumerate() {
        eval(&[
            "--shard",
            &format!("{}/3", k + 1),
            "--csv",
            part.to_str().unwrap(),
        ]);
    }
    let merged_csv = tmp("merged.csv");
    let mut args = vec!["eval", "--csv", merged_csv.to_str().unwrap(), "--merge"];
    args.extend(parts.iter().map(|p| p.to_str().unwrap()));
    let merged = daftseg(&args);
    assert!(merged.status.success(), "{}", stderr(&merged));
    assert_eq!(String::from_utf8_lossy(&merged.stdout), whole);
    assert_eq!(
        std::fs::read_to_string(&merged_csv).unwrap(),
        std::fs::read_to_string(&whole_csv).unwrap()
    );

    // A case in two files, a foreign file, a bad shard: clear errors.
    let twice = parts[0].to_str().unwrap();
    assert_clean_failure(
        &daftseg(&["eval", "--merge", twice, twice]),
        "in more than one file",
    );
    assert_clean_failure(
        &daftseg(&["eval", "--merge", fixture("cases.json").to_str().unwrap()]),
        "not a CSV written by",
    );
    for bad in ["0/2", "3/2", "1", "a/b"] {
        let output = daftseg(&["eval", "--pred", "p", "--gt", "g", "--shard", bad]);
        assert!(
            !output.status.success() && stderr(&output).contains("K/N"),
            "{bad}"
        );
    }
}

#[test]
fn a_file_that_names_no_modality_is_routed_by_its_content() {
    // Each image renamed scan.png: no metadata, no modality in the name. The general model's
    // embedding decides, with its confidence in the reason.
    let route = |image: &str| {
        let dir = tmp(&format!("content_{image}"));
        std::fs::create_dir_all(&dir).unwrap();
        let scan = dir.join("scan.png");
        std::fs::copy(fixture(&format!("images/{image}")), &scan).unwrap();
        let output = daftseg(&["route", scan.to_str().unwrap()]);
        assert!(output.status.success(), "{}", stderr(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let xray = route("xray_chest.png");
    assert!(
        xray.contains("model: litemedsam")
            && xray.contains("modality: XRay")
            && xray.contains("modality XRay from the image content (confidence 0.")
            && xray.contains("no model is fine-tuned for XRay"),
        "{xray}"
    );
    let nuclei = route("microscopy_nuclei.png");
    assert!(
        nuclei.contains("model: daft-microscopy")
            && nuclei.contains("modality Microscopy from the image content (confidence 0."),
        "{nuclei}"
    );
    // A synthetic ramp is no modality: below the threshold, the general model, and the reason
    // says so.
    let ramp = route("gradient.png");
    assert!(
        ramp.contains("model: litemedsam")
            && ramp.contains("modality: unknown")
            && ramp.contains("not clear enough"),
        "{ramp}"
    );
    // The name still wins when it says the modality, and the user's choice over everything.
    let named = daftseg(&[
        "route",
        fixture("images/microscopy_nuclei.png").to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&named.stdout).contains("from the file name"));

    // Segmenting routes the same way: the nuclei as scan.png go to the microscopy model.
    let scan = tmp("content_microscopy_nuclei.png").join("scan.png");
    let log = segment_one_nucleus(&scan, "content_nuclei_mask.png");
    assert!(
        log.contains("model: daft-microscopy (modality Microscopy from the image content"),
        "{log}"
    );
}

#[test]
fn a_cache_folder_keeps_embeddings_across_runs_and_recomputes_damaged_ones() {
    let dir = tmp("embedding_cache");
    let _ = std::fs::remove_dir_all(&dir);
    let series = medical("ct_lung1_series");
    let run = |out: &str| {
        let out = tmp(out);
        let output = daftseg(&[
            "segment",
            series.to_str().unwrap(),
            "--box3d",
            "206,347,1,229,372,3",
            "--out",
            out.to_str().unwrap(),
            "--cache-dir",
            dir.to_str().unwrap(),
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        (std::fs::read(out).unwrap(), stderr(&output))
    };
    // First run: every slice the propagation needs is encoded and written.
    let (first, log) = run("cached_1.npz");
    let written: usize = log
        .split(" written")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{log}"));
    assert!(written >= 3, "{log}");
    assert!(log.contains("0 embeddings read"), "{log}");
    // Second run: nothing encoded, the same labels byte for byte.
    let (second, log) = run("cached_2.npz");
    assert!(
        log.contains(&format!("{written} embeddings read, 0 written, 0 damaged")),
        "{log}"
    );
    assert_eq!(first, second);
    // A damaged entry (one byte flipped) is reported, recomputed and replaced; labels unchanged.
    let entry = walk(&dir)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "emb"))
        .expect("an entry");
    let mut bytes = std::fs::read(&entry).unwrap();
    bytes[5000] ^= 0x40;
    std::fs::write(&entry, bytes).unwrap();
    let (third, log) = run("cached_3.npz");
    assert!(
        log.contains("is damaged (its checksum does not match); computing it again")
            && log.contains(", 1 written, 1 damaged"),
        "{log}"
    );
    assert_eq!(first, third);
    let (_, log) = run("cached_4.npz");
    assert!(log.contains("0 written, 0 damaged"), "{log}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn clicks_refine_a_box_from_the_command_line_as_pytorch_does() {
    // tests/fixtures/golden/clicks_ct_lung.npz: ct_lung's first box and three clicks (on, off,
    // on the object), with PyTorch's masks after each.
    let golden_path = fixture("golden/clicks_ct_lung.npz");
    let b = golden::<i64>(&golden_path, "box");
    let clicks = golden::<f64>(&golden_path, "clicks");
    let segs = golden::<u8>(&golden_path, "segs");
    let image = fixture("images/ct_lung.png");
    let bbox = format!("{},{},{},{}", b[0], b[1], b[2], b[3]);
    let points: Vec<String> = clicks
        .outer_iter()
        .map(|c| {
            format!(
                "{},{},{}",
                c[0],
                c[1],
                if c[2] != 0.0 { "fg" } else { "bg" }
            )
        })
        .collect();
    let out = tmp("clicks.png");
    let mut args = vec!["segment", image.to_str().unwrap(), "--box", &bbox];
    for p in &points {
        args.extend(["--point", p.as_str()]);
    }
    args.extend(["--out", out.to_str().unwrap()]);
    let output = daftseg(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let mask = image::open(&out).unwrap().to_luma8();
    let expected = segs.index_axis(ndarray::Axis(0), points.len());
    let differ = foreground_differences(mask.iter().copied(), expected.iter().copied());
    assert_eq!(
        differ, 0,
        "{differ} pixels differ from PyTorch after the clicks"
    );

    // Clicks name their box when there are several; bad clicks are refused clearly.
    let two = [
        "segment",
        image.to_str().unwrap(),
        "--box",
        &bbox,
        "--box",
        "10,10,60,60",
    ];
    let with = |extra: &[&str]| {
        let mut a = two.to_vec();
        a.extend_from_slice(extra);
        a.extend(["--out", out.to_str().unwrap()]);
        daftseg(&a)
    };
    assert_clean_failure(
        &with(&["--point", "300,300"]),
        "say which one a click refines",
    );
    assert_clean_failure(&with(&["--point", "3:300,300"]), "there are 2 boxes");
    assert_clean_failure(&with(&["--point", "2:300,300,maybe"]), "x,y,bg");
    assert_clean_failure(
        &with(&["--point", "2:900,300"]),
        "outside the 512x512 image",
    );
    assert!(with(&["--point", "2:30,30,bg"]).status.success());

    // The same box and clicks as a challenge NPZ case: `clicks` Kx4 [box, x, y, fg 1 / bg 0].
    let ct = image::open(&image).unwrap().into_luma8();
    let imgs = Array3::from_shape_fn((512, 512, 3), |(y, x, _)| {
        ct.get_pixel(x as u32, y as u32)[0]
    });
    let case = tmp("2DBox_CT_clicks.npz");
    let case_clicks: Vec<f64> = clicks
        .outer_iter()
        .flat_map(|c| [1.0, c[0], c[1], c[2]])
        .collect();
    let write_with_clicks = |clicks: Array2<f64>| {
        let mut npz = NpzWriter::new(std::fs::File::create(&case).unwrap());
        npz.add_array("imgs", &imgs).unwrap();
        npz.add_array(
            "boxes",
            &Array2::from_shape_vec((1, 4), b.iter().copied().collect()).unwrap(),
        )
        .unwrap();
        npz.add_array("clicks", &clicks).unwrap();
        npz.finish().unwrap();
    };
    write_with_clicks(Array2::from_shape_vec((points.len(), 4), case_clicks).unwrap());
    let (case_segs, _) = segment_npz(&case, "2DBox_CT_clicks_seg.npz");
    let differ = foreground_differences(case_segs.iter().copied(), expected.iter().copied());
    assert_eq!(
        differ, 0,
        "the NPZ case's clicks: {differ} pixels differ from PyTorch"
    );
    write_with_clicks(Array2::from_shape_vec((1, 4), vec![2.0, 30.0, 30.0, 0.0]).unwrap());
    let out_npz = tmp("2DBox_CT_clicks_bad.npz");
    assert_clean_failure(
        &daftseg(&[
            "segment",
            case.to_str().unwrap(),
            "--out",
            out_npz.to_str().unwrap(),
        ]),
        "refines box 2, and the case has 1",
    );
    assert_clean_failure(
        &daftseg(&[
            "segment",
            medical("ct_lung1_series").to_str().unwrap(),
            "--box3d",
            "10,10,0,20,20,2",
            "--point",
            "12,12",
            "--out",
            "seg.nii.gz",
        ]),
        "3D propagation takes boxes only",
    );
}
