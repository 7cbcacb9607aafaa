//! One DICOM file, as the CLI and the page open it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if daftseg_fuzz::names_jpeg2000(data) {
        return;
    }
    let _ = daftseg::medical::read_volume("x.dcm", data);
});
