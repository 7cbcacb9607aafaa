//! The model manifest (the page fetches it; a user can point the CLI at another).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = daftseg::manifest::Manifest::parse(text);
    }
});
