//! Corrupted real files never make the core panic: truncated and bit-flipped copies of every
//! fixture format go through the decoders, which must return `Ok` or a clear `Err`.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::*;

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutations(original: &[u8], rng: &mut Rng, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let mut bytes = original.to_vec();
            if i % 2 == 0 {
                bytes.truncate(rng.below(original.len()));
            } else {
                for _ in 0..1 + rng.below(8) {
                    let at = rng.below(bytes.len());
                    bytes[at] ^= 1 << rng.below(8);
                }
            }
            bytes
        })
        .collect()
}

/// Which reader a fixture is for: each mutation goes through the reader that accepts the
/// original, so a refusal means that reader noticed the damage.
#[derive(Clone, Copy)]
enum Reader {
    Image,
    Case,
    GroundTruth,
}

fn read(reader: Reader, bytes: &[u8]) -> daftseg::Result<()> {
    match reader {
        Reader::Image => daftseg::rgb::read_image(bytes).map(drop),
        Reader::Case => daftseg::challenge::read_case(bytes).map(drop),
        Reader::GroundTruth => daftseg::challenge::read_labels(bytes, "gts").map(drop),
    }
}

#[test]
fn corrupted_files_give_errors_not_panics() {
    let files = [
        ("images/mr_small.png", Reader::Image),
        ("images/ct_small.png", Reader::Image),
        ("images/mr_small.bmp", Reader::Image),
        ("images/microscopy_nuclei.tif", Reader::Image),
        ("images/fundus_retina.jpg", Reader::Image),
        ("golden/3d_mr_brain.npz", Reader::Case),
        ("metrics/gt/2DBox_CT_lung_tumour.npz", Reader::GroundTruth),
    ];
    let mut rng = Rng(0x9e3779b97f4a7c15);
    for (file, reader) in files {
        let original = std::fs::read(fixture(file)).unwrap();
        read(reader, &original).unwrap_or_else(|e| panic!("{file}: the original fails: {e}"));
        let mut refused = 0;
        for (i, bytes) in mutations(&original, &mut rng, 60).into_iter().enumerate() {
            match catch_unwind(AssertUnwindSafe(|| read(reader, &bytes))) {
                Ok(Err(error)) => {
                    assert!(!error.to_string().is_empty());
                    refused += 1;
                }
                Ok(Ok(())) => {}
                Err(_) => panic!("{file}: mutation {i} made the reader panic"),
            }
        }
        // Half the mutations cut the file short; most of those lose data a reader must miss.
        assert!(
            refused >= 20,
            "{file}: only {refused} of 60 corrupted copies were refused: the mutations are too weak"
        );
    }
}

/// Inputs the fuzz targets (fuzz/, scripts/fuzz.sh) found to crash a reader, kept as they were
/// found: each must now be refused with an error that says what is wrong.
#[test]
fn fuzz_findings_are_refused_not_panics() {
    let findings = [
        // RLE segment offsets past the end of their fragment: dicom-rs's RLE decoder indexed
        // past it (a panic; in wasm, a dead engine). Found by the `dicom` and `open` targets.
        (
            "rle_offset_past_fragment.dcm",
            "corrupt RLE pixel data (segment offsets)",
        ),
        (
            "rle_offset_past_fragment_2.dcm",
            "corrupt RLE pixel data (segment offsets)",
        ),
        // Bits Stored 0 (or above 32): dicom-rs's rescale table asserts it is 1..=32, a panic.
        // Found by the `dicom` target after the first fix.
        ("bits_stored_out_of_range.dcm", "its Bits Stored"),
        // A JPEG frame whose own header describes a larger image than the DICOM header: dicom-rs
        // copied it past the buffer it sized from the DICOM header. Found by the `dicom` target.
        ("jpeg_frame_larger_than_header.dcm", "JPEG data is"),
        // Out of memory (3.5 GB from 2 KB): an item delimiter in the top-level data set ended the
        // length walk, while dicom-rs read on and allocated the next element's length. Found by
        // the `dicom` target.
        ("top_level_item_delimiter.dcm", "declares 3609872740 bytes"),
        // Out of memory (2.9 GB from 2 KB): the meta group's length covered more than its group
        // 0002 elements; dicom-rs reads meta elements by that length, the walk stopped at the
        // group's end, so they disagreed on where the (deflated) data set starts. Found by `open`.
        (
            "meta_group_length_past_group.dcm",
            "declares 2981212593 bytes",
        ),
    ];
    for (file, expected) in findings {
        let bytes = std::fs::read(fixture(&format!("fuzz/{file}"))).unwrap();
        let result = catch_unwind(AssertUnwindSafe(|| {
            daftseg::medical::open_files(vec![(file.to_string(), bytes)])
        }));
        match result {
            Ok(Err(error)) => assert!(
                error.to_string().contains(expected),
                "{file}: {error}, expected {expected:?}"
            ),
            Ok(Ok(_)) => panic!("{file}: opened"),
            Err(_) => panic!("{file}: panicked"),
        }
    }
}
