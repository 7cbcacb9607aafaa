//! `daftseg eval` against the Python reference metric (models/metrics_reference.py: the
//! challenge's compute_metrics.py with DeepMind's surface-distance) on real and synthetic masks.

mod common;

use std::process::Command;

use common::*;

fn eval_csv(extra: &[&str]) -> Vec<(String, f64, f64)> {
    let csv = std::env::temp_dir().join(format!(
        "daftseg-eval-{}-{}.csv",
        std::process::id(),
        extra.len()
    ));
    let output = Command::new(env!("CARGO_BIN_EXE_daftseg"))
        .args([
            "eval",
            "--pred",
            fixture("metrics/pred").to_str().unwrap(),
            "--gt",
            fixture("metrics/gt").to_str().unwrap(),
        ])
        .args(["--csv", csv.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("| modality | cases | DSC % | NSD % |") && table.contains("| all | 7 |"),
        "{table}"
    );
    std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            (
                f[0].to_string(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}

fn check(mode: &str, rows: Vec<(String, f64, f64)>) {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("metrics/expected.json")).unwrap())
            .unwrap();
    assert_eq!(rows.len(), expected.as_object().unwrap().len());
    for (case, dsc, nsd) in rows {
        let want = &expected[&case][mode];
        let (want_dsc, want_nsd) = (want["dsc"].as_f64().unwrap(), want["nsd"].as_f64().unwrap());
        assert!(
            (dsc - want_dsc).abs() <= 1e-4,
            "{case} ({mode}): DSC {dsc} vs reference {want_dsc}"
        );
        assert!(
            (nsd - want_nsd).abs() <= 1e-4,
            "{case} ({mode}): NSD {nsd} vs reference {want_nsd}"
        );
    }
}

#[test]
fn dsc_and_nsd_agree_with_the_python_reference() {
    check("physical", eval_csv(&[]));
    check("challenge", eval_csv(&["--challenge-spacing"]));
}

#[test]
fn missing_predictions_are_named() {
    let empty = std::env::temp_dir().join(format!("daftseg-eval-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_daftseg"))
        .args([
            "eval",
            "--pred",
            empty.to_str().unwrap(),
            "--gt",
            fixture("metrics/gt").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && err.contains("no prediction for 2DBox_CT_lung_tumour.npz"),
        "{err}"
    );
}
