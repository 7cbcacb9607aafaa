//! Everything a user can drop on the page or give the CLI: `Session::open` on one file, its name
//! (which decides between readers where the bytes do not) chosen by the first byte.
#![no_main]
use daftseg::manifest::Manifest;
use daftseg::session::Session;
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 8] = [
    "x.dcm", "x.nii", "x.nii.gz", "x.nrrd", "x.npz", "x.png", "x", "x.mgz",
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    if daftseg_fuzz::names_jpeg2000(bytes) {
        return;
    }
    let manifest = Manifest::parse(include_str!("../../models/manifest.json")).unwrap();
    let mut session = Session::new(manifest);
    let name = NAMES[first as usize % NAMES.len()];
    if session.open(vec![(name.to_string(), bytes.to_vec())]).is_ok() {
        // What the page does next: describe it and show its image.
        session.info().unwrap();
        session.image().unwrap();
    }
});
