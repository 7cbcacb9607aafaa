//! PNG, JPEG, BMP and TIFF decoding.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = daftseg::rgb::read_image(data);
});
