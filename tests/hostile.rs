//! Hostile files (headers that lie about sizes, decompression bombs, lengths past the end) through
//! the CLI: each is refused with an error that says what is wrong, or read within its stated
//! size, never an abort or a panic, and the CLI's peak resident memory stays far below what the
//! file claims. The files are generated here; what they claim is in each case.

mod common;

use std::io::Write;
use std::path::Path;

/// Peak resident memory each of these runs may reach (the CLI's own, measured by GNU time): the
/// files claim gigabytes; a refusal before allocation needs a few MiB (the binary and the file),
/// and the one file read whole (bomb.nii.gz) inflates only what its header needs.
const PEAK_RSS_BOUND_MIB: i64 = 64;

/// A numpy `.npy` array: `descr` and `shape` as numpy writes them, then `data`.
fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

/// An NPZ (zip) of `entries`; `zeros` more zero bytes (deflated, streamed) after the first
/// entry's bytes, for a decompression bomb.
fn npz(entries: &[(&str, Vec<u8>)], zeros: usize) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(zeros > u32::MAX as usize / 2);
    for (index, (name, bytes)) in entries.iter().enumerate() {
        zip.start_file(format!("{name}.npy"), options).unwrap();
        zip.write_all(bytes).unwrap();
        if index == 0 {
            let chunk = vec![0u8; 1 << 20];
            for _ in 0..zeros / chunk.len() {
                zip.write_all(&chunk).unwrap();
            }
        }
    }
    zip.finish().unwrap().into_inner()
}

fn gzip(parts: &[&[u8]], zeros: usize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for part in parts {
        encoder.write_all(part).unwrap();
    }
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..zeros / chunk.len() {
        encoder.write_all(&chunk).unwrap();
    }
    encoder.finish().unwrap()
}

/// A NIfTI-1 header: `dims` (x, y, z), `datatype`, `vox_offset`.
fn nifti_header(dims: [i16; 3], datatype: i16, bits: i16, vox_offset: f32) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    let mut dim = [1i16; 8];
    dim[0] = 3;
    dim[1..4].copy_from_slice(&dims);
    for (i, d) in dim.iter().enumerate() {
        h[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
    }
    h[70..72].copy_from_slice(&datatype.to_le_bytes());
    h[72..74].copy_from_slice(&bits.to_le_bytes());
    for i in 0..8 {
        h[76 + 4 * i..80 + 4 * i].copy_from_slice(&1f32.to_le_bytes());
    }
    h[108..112].copy_from_slice(&vox_offset.to_le_bytes());
    h[344..348].copy_from_slice(b"n+1\0");
    h
}

/// A PNG whose header says `width x height` (valid chunks and CRCs) with a few bytes of image
/// data: a decoder that trusted the header would allocate it all.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut body = kind.to_vec();
        body.extend(data);
        let mut crc = flate2::Crc::new();
        crc.update(&body);
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend(&body);
        out.extend(crc.sum().to_be_bytes());
        out
    };
    let mut header = width.to_be_bytes().to_vec();
    header.extend(height.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]);
    let mut pixels = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    pixels.write_all(&[0; 64]).unwrap();
    [
        b"\x89PNG\r\n\x1a\n".to_vec(),
        chunk(b"IHDR", &header),
        chunk(b"IDAT", &pixels.finish().unwrap()),
        chunk(b"IEND", &[]),
    ]
    .concat()
}

/// CT_small.dcm (explicit VR little endian) with the 4 bytes at the first `pattern` + `skip`
/// replaced by `value`.
fn patched_dicom(pattern: &[u8], skip: usize, value: &[u8]) -> Vec<u8> {
    let mut bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/medical/CT_small.dcm"),
    )
    .unwrap();
    let at = bytes
        .windows(pattern.len())
        .position(|w| w == pattern)
        .expect("the element is in CT_small.dcm")
        + skip;
    bytes[at..at + value.len()].copy_from_slice(value);
    bytes
}

struct Case {
    file: &'static str,
    bytes: Vec<u8>,
    /// `Err(pattern)`: refused with this in the message; `Ok(pattern)`: read, printing this.
    expect: Result<&'static str, &'static str>,
}

#[test]
fn hostile_files_are_refused_before_memory_is_allocated() {
    let boxes = npy("<i8", "(1, 4)", &[0u8; 32]);
    let boxes3d = npy("<i8", "(1, 6)", &[0u8; 48]);
    let cases = vec![
        Case {
            file: "lying_shape.npz",
            // 30 GB claimed, 16 bytes present (the CLI used to abort allocating it).
            bytes: npz(&[("imgs", npy("|u1", "(100000, 100000, 3)", &[0; 16])), ("boxes", boxes.clone())], 0),
            expect: Err("NPZ array `imgs` is too large (100000x100000x3)"),
        },
        Case {
            file: "bomb.npz",
            // 2.2 G voxels claimed (more than the 2^31 budget), 1 GiB of zeros in a file of about 1 MB.
            bytes: npz(&[("imgs", npy("|u1", "(2100, 1024, 1024)", &[])), ("boxes", boxes3d)], 1 << 30),
            expect: Err("NPZ array `imgs` is too large (2100x1024x1024)"),
        },
        Case {
            file: "huge_header.npz",
            bytes: npz(
                &[("imgs", [&b"\x93NUMPY\x02\x00"[..], &0xFFFF_FFF0u32.to_le_bytes()].concat()), ("boxes", boxes.clone())],
                0,
            ),
            expect: Err("its header claims 4294967280 bytes"),
        },
        Case {
            file: "object_dtype.npz",
            bytes: npz(&[("imgs", npy("|O", "(4, 4)", &[0; 128])), ("boxes", boxes)], 0),
            expect: Err("`imgs` is not a numeric numpy array"),
        },
        Case {
            file: "pixel_length.dcm",
            // Pixel Data (7FE0,0010) OW claims 4 GiB in a 9 KB file.
            bytes: patched_dicom(b"\xe0\x7f\x10\x00OW\x00\x00", 8, &0xFFFF_FFF0u32.to_le_bytes()),
            expect: Err("element (7FE0,0010) declares 4294967280 bytes but only"),
        },
        Case {
            file: "huge_rows.dcm",
            // Rows 65535 (Columns stay 128): the pixels claimed are not in the file.
            bytes: patched_dicom(b"\x28\x00\x10\x00US\x02\x00", 8, &[0xFF, 0xFF]),
            expect: Err("the pixel data holds 32768 bytes; 128x65535, 1 frame(s) of 16 bits need 16776960"),
        },
        Case {
            file: "banana.dcm",
            // A Photometric Interpretation that is no DICOM value: pydicom refuses it, so do we.
            bytes: patched_dicom(b"MONOCHROME2", 0, b"BANANA     "),
            expect: Err("Photometric Interpretation 'BANANA' is not a DICOM value"),
        },
        Case {
            file: "huge.png",
            bytes: png_claiming(100_000, 100_000),
            expect: Err("megapixels"),
        },
        Case {
            file: "lying.nii.gz",
            // 512 x 512 x 1024 float64 (2 GiB) claimed, no voxel data.
            bytes: gzip(&[&nifti_header([512, 512, 1024], 64, 64, 352.0)], 0),
            expect: Err("truncated"),
        },
        Case {
            file: "bomb.nii.gz",
            // A real 64^3 volume followed by 1 GiB of zeros: only what the header needs is read.
            bytes: gzip(&[&nifti_header([64, 64, 64], 2, 8, 352.0)], 1 << 30),
            expect: Ok("64x64x64"),
        },
        Case {
            file: "nan_offset.nii",
            bytes: [nifti_header([4, 4, 4], 2, 8, f32::NAN), vec![0; 64]].concat(),
            expect: Err("vox_offset NaN"),
        },
        Case {
            file: "nan_geometry.nii",
            // sform with NaN voxel sizes: read, with 1 mm voxels and a note, never NaN exported.
            bytes: {
                let mut header = nifti_header([4, 4, 4], 2, 8, 352.0);
                header[254..256].copy_from_slice(&1i16.to_le_bytes()); // sform_code
                for row in 0..3 {
                    let at = 280 + 16 * row;
                    header[at..at + 16].copy_from_slice(&[f32::NAN.to_le_bytes(); 4].concat());
                }
                [header, vec![0; 64]].concat()
            },
            expect: Ok("1 mm voxels at the origin are assumed"),
        },
        Case {
            file: "huge.nrrd",
            bytes: b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 100000 100000 100000\nencoding: raw\n\n\0".to_vec(),
            expect: Err("voxels, more than the"),
        },
    ];
    // Kept where the browser's corpus test (tests/browser/corpus.test.mjs) runs them through
    // the wasm engine too (their rows in tests/corpus/expected.tsv).
    let dir = common::root().join("tests/corpus/files/hostile");
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for case in cases {
        let path = dir.join(case.file);
        std::fs::write(&path, &case.bytes).unwrap();
        let run = common::run_cli_measured(
            &["segment", path.to_str().unwrap(), "--info"],
            std::time::Duration::from_secs(120),
        );
        let (stdout, stderr) = (&run.stdout, &run.stderr);
        let peak = run.peak_rss_kib / 1024;
        let verdict = match (case.expect, run.code) {
            _ if run.timed_out => Some("hung (killed after 120 s)".to_string()),
            (_, None) => Some(format!("killed by a signal (abort?): {stderr}")),
            (_, Some(101)) => Some(format!("panicked: {stderr}")),
            (Err(pattern), Some(1)) if stderr.contains(pattern) => None,
            (Ok(pattern), Some(0)) if stdout.contains(pattern) || stderr.contains(pattern) => None,
            (_, Some(code)) => Some(format!("exit {code}, stdout {stdout:?}, stderr {stderr:?}")),
        };
        if let Some(problem) = verdict {
            failures.push(format!(
                "{} ({} bytes): {problem}",
                case.file,
                case.bytes.len()
            ));
        }
        if peak > PEAK_RSS_BOUND_MIB {
            failures.push(format!(
                "{}: peak RSS {peak} MiB > {PEAK_RSS_BOUND_MIB} MiB",
                case.file
            ));
        }
        eprintln!(
            "{:18} {:>10} bytes  peak {peak:>4} MiB  {}",
            case.file,
            case.bytes.len(),
            stderr.trim()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The fuzzers' findings (tests/fixtures/fuzz/, see tests/robustness.rs) through the CLI: two
/// were out-of-memory (gigabytes from 2 KB files), so each run's own peak memory is checked too.
#[test]
fn fuzz_findings_are_refused_within_the_memory_bound() {
    let dir = common::root().join("tests/fixtures/fuzz");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let run = common::run_cli_measured(
            &["segment", path.to_str().unwrap(), "--info"],
            std::time::Duration::from_secs(120),
        );
        let name = path.display();
        assert_eq!(run.code, Some(1), "{name}: {:?} {}", run.code, run.stderr);
        assert!(run.stderr.contains("error: "), "{name}: {}", run.stderr);
        assert!(
            run.peak_rss_kib / 1024 <= PEAK_RSS_BOUND_MIB,
            "{name}: peak RSS {} KiB",
            run.peak_rss_kib
        );
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} findings");
}
