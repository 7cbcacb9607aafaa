//! The memory budget every reader checks *before* it allocates or inflates: sizes come from
//! headers (image, NPY, NIfTI, NRRD, DICOM), are multiplied with checked arithmetic and refused
//! against these limits, so no input can make memory grow beyond them. A volume is held once,
//! in its stored type (an int16 CT is 2 bytes a voxel: see `medical::voxels`), and windowed a
//! slice at a time; the browser's limits are smaller, because a wasm32 module has at most 4 GiB
//! of memory in all and the page holds the file and the labels too.

use std::io::Read;

use crate::error::{Error, Result};

/// The most pixels an image may have: 64 megapixels of RGB is 192 MiB.
pub const MAX_PIXELS: u64 = 64 * 1024 * 1024;

/// The most voxels a volume may have. Natively 2^31 (4 GiB of int16: a 512 x 512 x 8192
/// whole-body study); in the browser 512 x 512 x 2048 (1 GiB of int16), which opens a 2,000-slice
/// thin-slice CT.
pub const MAX_VOXELS: usize = if cfg!(target_arch = "wasm32") {
    512 * 512 * 2048
} else {
    1 << 31
};

/// The most bytes one decoded stream may hold: an array in an NPZ file, a decompressed .nii.gz
/// or NRRD, a DICOM data set after deflate, one element's value. Natively 4 GiB (2^31 int16
/// voxels), in the browser 1.5 GiB (512 x 512 x 2048 int16, or 1,500 slices of float32).
pub const MAX_DECODED_BYTES: u64 = if cfg!(target_arch = "wasm32") {
    3 << 29
} else {
    1 << 32
};

/// The most elements one array in a file may have: a volume's voxels or an RGB image's samples.
pub const MAX_ARRAY_ELEMENTS: u64 = {
    let voxels = MAX_VOXELS as u64;
    let samples = 3 * MAX_PIXELS;
    if voxels > samples {
        voxels
    } else {
        samples
    }
};

/// `dims` multiplied together and by `item_bytes`, refused (naming `what`) when the product
/// overflows or exceeds the budget: the elements' count against [`MAX_ARRAY_ELEMENTS`], the
/// bytes against [`MAX_DECODED_BYTES`]. Returns the byte count.
pub fn checked_array_bytes(what: &str, dims: &[u64], item_bytes: u64) -> Result<usize> {
    let shape = shape_text(dims);
    let too_large = |why: String| Error::invalid(format!("{what} is too large ({shape}): {why}"));
    let elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| too_large("its size overflows".into()))?;
    if elements > MAX_ARRAY_ELEMENTS {
        return Err(too_large(format!(
            "{elements} values, at most {MAX_ARRAY_ELEMENTS} are supported{}",
            browser_hint()
        )));
    }
    let bytes = elements
        .checked_mul(item_bytes)
        .filter(|&b| b <= MAX_DECODED_BYTES)
        .ok_or_else(|| {
            too_large(format!(
                "more than {} once decoded{}",
                size_text(MAX_DECODED_BYTES),
                browser_hint()
            ))
        })?;
    usize::try_from(bytes).map_err(|_| too_large("more than this machine can address".into()))
}

/// The voxel count of a volume of `dims` voxels, or why it cannot be opened: empty, or more
/// than [`MAX_VOXELS`] (said with what to do). Checked arithmetic: a header's sizes are untrusted.
pub fn checked_voxels(dims: &[usize]) -> Result<usize> {
    let shown = shape_text(dims);
    let count = dims.iter().try_fold(1usize, |acc, &n| acc.checked_mul(n));
    match count {
        Some(0) => Err(Error::invalid(format!("the volume is empty ({shown})"))),
        Some(n) if n <= MAX_VOXELS => Ok(n),
        _ => Err(Error::invalid(format!(
            "the volume is {shown} voxels, more than the {MAX_VOXELS} this build opens; crop or resample it first (3D Slicer, SimpleITK){}",
            browser_hint()
        ))),
    }
}

/// Dimensions for a message: "512x512x1024".
fn shape_text(dims: &[impl std::fmt::Display]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

/// What to do about a size the browser cannot hold.
pub fn browser_hint() -> &'static str {
    if cfg!(target_arch = "wasm32") {
        "; the daftseg command line opens larger files"
    } else {
        ""
    }
}

/// `bytes` for a message: "4096 MiB", or "1000 bytes" below a MiB.
pub fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// All of `reader` (a decompressor), refused as soon as it yields more than `limit` bytes: a
/// small compressed file cannot expand past the budget.
pub fn read_to_end_capped(reader: impl Read, limit: u64, what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Error::Decode(format!("{what}: corrupt compressed data: {e}")))?;
    if out.len() as u64 > limit {
        return Err(Error::invalid(format!(
            "{what} decompresses to more than {}{}",
            size_text(limit),
            browser_hint()
        )));
    }
    Ok(out)
}

/// The first `limit` bytes of gzip data (fewer if it is shorter): a reader asks for what its
/// header says it needs (a size checked against the budget), so a small file cannot inflate
/// past that, and data after it is never inflated.
pub(crate) fn gunzip_prefix(bytes: &[u8], limit: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit as u64)
        .read_to_end(&mut out)
        .map_err(|e| Error::Decode(format!("corrupt gzip data: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked_without_overflow() {
        assert_eq!(checked_array_bytes("x", &[2, 3], 4).unwrap(), 24);
        let error = checked_array_bytes("imgs", &[100_000, 100_000, 3], 1).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("imgs is too large (100000x100000x3)"),
            "{error}"
        );
        assert!(checked_array_bytes("x", &[u64::MAX, u64::MAX], 1).is_err());
        assert!(checked_array_bytes("x", &[1 << 20, 1 << 20], 8).is_err());
        // The budget holds for bytes too: few elements of a huge item type.
        assert!(checked_array_bytes("x", &[1 << 20], 1 << 20).is_err());
    }

    #[test]
    fn a_compressed_stream_stops_at_the_limit() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&vec![0u8; 1 << 20]).unwrap();
        let small = encoder.finish().unwrap();
        let decoder = || flate2::read::MultiGzDecoder::new(&small[..]);
        assert_eq!(
            read_to_end_capped(decoder(), 1 << 20, "x").unwrap().len(),
            1 << 20
        );
        let error = read_to_end_capped(decoder(), 1000, "x.nii.gz").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("x.nii.gz decompresses to more than"),
            "{error}"
        );
    }
}
