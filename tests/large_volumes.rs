//! Clinical-size volumes through the CLI: a thin-slice CT of 512 x 512 x 1,200 (and 2,000)
//! int16 voxels opens, and a box over 3 slices segments, within a bound on peak resident memory
//! (GNU time): the voxels are held once in their stored type (2 bytes each), labels take a byte
//! a voxel, and slices are windowed one at a time. The volumes are generated here: an air
//! background, a soft-tissue body with a fine texture, and a bright round lesion.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

const SIZE: usize = 512;
/// The lesion: centre (x, y, z) and radius, in voxels.
const LESION: (f64, f64, f64, f64) = (300.0, 240.0, 600.0, 30.0);

fn hu(x: usize, y: usize, z: usize) -> i16 {
    let (dx, dy) = (x as f64 - 256.0, y as f64 - 256.0);
    let (lx, ly, lz, r) = LESION;
    let lesion = (x as f64 - lx).powi(2) + (y as f64 - ly).powi(2) + (z as f64 - lz).powi(2);
    if lesion <= r * r {
        250
    } else if (dx / 220.0).powi(2) + (dy / 160.0).powi(2) <= 1.0 {
        40 + ((x + 2 * y + 3 * z) % 17) as i16 - 8
    } else {
        -1000
    }
}

/// A NIfTI-1 int16 volume of `depth` slices (0.7 x 0.7 x 0.8 mm), gzipped, written once per run.
fn phantom(depth: usize) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "daftseg-phantom-{}-{depth}.nii.gz",
        std::process::id()
    ));
    let mut header = vec![0u8; 352];
    header[0..4].copy_from_slice(&348i32.to_le_bytes());
    let dims: [i16; 8] = [3, SIZE as i16, SIZE as i16, depth as i16, 1, 1, 1, 1];
    for (i, d) in dims.iter().enumerate() {
        header[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
    }
    header[70..72].copy_from_slice(&4i16.to_le_bytes()); // int16
    header[72..74].copy_from_slice(&16i16.to_le_bytes());
    for (i, p) in [1.0f32, 0.7, 0.7, 0.8].iter().enumerate() {
        header[76 + 4 * i..80 + 4 * i].copy_from_slice(&p.to_le_bytes());
    }
    header[108..112].copy_from_slice(&352f32.to_le_bytes());
    header[344..348].copy_from_slice(b"n+1\0");
    let file = std::fs::File::create(&path).unwrap();
    let mut gz =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::fast());
    gz.write_all(&header).unwrap();
    let mut slice = Vec::with_capacity(SIZE * SIZE * 2);
    for z in 0..depth {
        slice.clear();
        for y in 0..SIZE {
            for x in 0..SIZE {
                slice.extend(hu(x, y, z).to_le_bytes());
            }
        }
        gz.write_all(&slice).unwrap();
    }
    gz.finish().unwrap().flush().unwrap();
    path
}

fn mib(bytes: u64) -> i64 {
    (bytes >> 20) as i64
}

/// Runs the CLI, checks it succeeded, and returns its peak RSS in MiB.
fn peak_mib(args: &[&str]) -> (i64, String) {
    let run = common::run_cli_measured(args, std::time::Duration::from_secs(900));
    assert!(
        run.code == Some(0) && !run.timed_out,
        "{args:?}: {:?} {}",
        run.code,
        run.stderr
    );
    (
        run.peak_rss_kib / 1024,
        format!("{}{}", run.stdout, run.stderr),
    )
}

/// Opening costs the voxels in their stored type (2 bytes each), the compressed file and a fixed
/// part for the program; never a second copy of the volume.
fn assert_opens_in_two_bytes_a_voxel(path: &Path, depth: usize) {
    let (peak, log) = peak_mib(&["segment", path.to_str().unwrap(), "--info"]);
    assert!(log.contains(&format!("{SIZE}x{SIZE}x{depth}")), "{log}");
    let voxels = (SIZE * SIZE * depth) as u64;
    let file = std::fs::metadata(path).unwrap().len();
    let bound = mib(2 * voxels) + mib(file) + 128;
    eprintln!(
        "open {SIZE}x{SIZE}x{depth}: peak RSS {peak} MiB (bound {bound} MiB, file {} MiB)",
        mib(file)
    );
    assert!(peak <= bound, "peak RSS {peak} MiB > {bound} MiB\n{log}");
}

#[test]
fn a_1200_slice_ct_opens_and_segments_within_the_memory_budget() {
    let depth = 1200;
    let path = phantom(depth);
    assert_opens_in_two_bytes_a_voxel(&path, depth);

    // A box around the lesion over 3 slices, through a CT window. The file's affine is RAS, so
    // the displayed grid (columns to the left, rows to posterior) runs against its x and y.
    let out = std::env::temp_dir().join(format!("daftseg-large-{}.nii.gz", std::process::id()));
    let (lx, ly, lz, r) = LESION;
    let (z0, z1) = (lz as usize - 1, lz as usize + 1);
    let last = (SIZE - 1) as f64;
    let b = [
        last - (lx + r + 5.0),
        last - (ly + r + 5.0),
        z0 as f64,
        last - (lx - r - 5.0),
        last - (ly - r - 5.0),
        z1 as f64,
    ]
    .map(|v| (v as i64).to_string())
    .join(",");
    let (peak, log) = peak_mib(&[
        "segment",
        path.to_str().unwrap(),
        "--model",
        "litemedsam",
        "--window",
        "400/40",
        "--box3d",
        &b,
        "--out",
        out.to_str().unwrap(),
    ]);
    // The goal: 1.6 GiB for this volume (2 bytes a voxel of CT, 1 of labels, the model).
    let bound = 1638;
    eprintln!("segment 3 slices of {SIZE}x{SIZE}x{depth}: peak RSS {peak} MiB (bound {bound} MiB)");
    assert!(peak <= bound, "peak RSS {peak} MiB > {bound} MiB\n{log}");

    let labels = daftseg::medical::nifti::read(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(labels.size(), [SIZE, SIZE, depth]);
    let (mut labelled, mut in_lesion, mut lesion) = (0, 0, 0);
    let plane = SIZE * SIZE;
    for z in 0..depth {
        let values = labels.data.values(z * plane..(z + 1) * plane);
        for (i, &v) in values.iter().enumerate() {
            let (x, y) = (i % SIZE, i / SIZE);
            let inside = hu(x, y, z) == 250;
            if v != 0.0 {
                assert!(
                    (z0..=z1).contains(&z),
                    "a label on slice {z}, outside the box"
                );
                labelled += 1;
                in_lesion += inside as usize;
            }
            lesion += (inside && (z0..=z1).contains(&z)) as usize;
        }
    }
    assert!(
        labelled > 0 && in_lesion * 10 >= labelled * 8 && in_lesion * 10 >= lesion * 8,
        "{labelled} labelled, {in_lesion} of them in the lesion's {lesion} voxels"
    );
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_2000_slice_ct_opens_within_the_memory_budget() {
    let depth = 2000;
    let path = phantom(depth);
    assert_opens_in_two_bytes_a_voxel(&path, depth);
    let _ = std::fs::remove_file(&path);
}
