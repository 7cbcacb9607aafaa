//! Several DICOM files opened as one series (sorting, spacing, geometry checks between files).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|files: Vec<Vec<u8>>| {
    if files.len() < 2 || files.iter().any(|f| daftseg_fuzz::names_jpeg2000(f)) {
        return;
    }
    let files = files
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| (format!("{i}.dcm"), bytes))
        .collect::<Vec<_>>();
    let _ = daftseg::medical::open_files(&files);
});
