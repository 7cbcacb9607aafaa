//! NRRD (raw and gzip encodings, any axis order).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = daftseg::medical::read_volume("x.nrrd", data);
});
