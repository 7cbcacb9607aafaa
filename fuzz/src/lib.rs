//! What the fuzz targets share.

/// Whether the input names a JPEG 2000 transfer syntax (1.2.840.10008.1.2.4.90 to .93).
///
/// openjp2 0.6.1 (the JPEG 2000 decoder dicom-rs uses natively) frees code blocks that were
/// never allocated by calling `std::alloc::dealloc` with a null pointer, which is undefined
/// behaviour. With debug assertions (as cargo-fuzz builds) the Rust 1.97 nightly's check in
/// `dealloc` turns it into a panic on every JPEG 2000 file, real ones included, so such inputs
/// would only rediscover that one finding (docs/RELIABILITY.md). The targets skip them.
pub fn names_jpeg2000(data: &[u8]) -> bool {
    data.windows(21).any(|w| w == b"1.2.840.10008.1.2.4.9")
}
