//! NIfTI-1 and NIfTI-2, plain and gzip-compressed.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = daftseg::medical::read_volume("x.nii", data);
});
