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

#[test]
fn corrupted_files_give_errors_not_panics() {
    let files = [
        "images/mr_small.png",
        "images/ct_small.png",
        "images/mr_small.bmp",
        "images/microscopy_nuclei.tif",
        "images/fundus_retina.jpg",
        "golden/3d_mr_brain.npz",
        "metrics/gt/2DBox_CT_lung_tumour.npz",
    ];
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut errors = 0;
    for file in files {
        let original = std::fs::read(fixture(file)).unwrap();
        for (i, bytes) in mutations(&original, &mut rng, 60).into_iter().enumerate() {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                if file.ends_with(".npz") {
                    let case = daftseg::challenge::read_case(&bytes)
                        .err()
                        .map(|e| e.to_string());
                    let labels = daftseg::challenge::read_labels(&bytes, "gts")
                        .err()
                        .map(|e| e.to_string());
                    case.or(labels)
                } else {
                    daftseg::decode::decode_image(&bytes)
                        .err()
                        .map(|e| e.to_string())
                }
            }));
            match outcome {
                Ok(Some(message)) => {
                    assert!(!message.is_empty());
                    errors += 1;
                }
                Ok(None) => {}
                Err(_) => panic!("{file}: mutation {i} made the decoder panic"),
            }
        }
    }
    assert!(
        errors > 100,
        "only {errors} of the corrupted files were refused: the mutations are too weak"
    );
}
