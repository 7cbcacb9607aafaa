//! The challenge's NPZ cases: images and boxes, the labels (`segs`, `gts`) and the spacing.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = daftseg::challenge::read_case(data);
    let _ = daftseg::challenge::read_labels(data, "segs");
    let _ = daftseg::challenge::read_spacing(data);
});
