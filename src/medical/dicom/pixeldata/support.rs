//! Refusals before decoding: what dicom-rs cannot decode, said by name, and images whose pixels
//! would not fit the budget or the file.

use dicom_core::Tag;
use dicom_dictionary_std::tags;

use super::encoding::{
    JPEG_2000_PREFIX, JPEG_EXTENDED, JPEG_LS_LOSSLESS, JPEG_LS_NEAR_LOSSLESS, RLE_LOSSLESS,
};
use crate::error::Result;
use crate::limits::MAX_VOXELS;
use crate::medical::dicom::attributes::{int, text};
use crate::medical::dicom::object::{error, Object};

/// What the pixels will take once decoded (dicom-rs's samples, then our f32 copy), from the
/// header, checked against the budget before the decoder allocates them.
pub(super) fn check_pixel_budget(name: &str, obj: &Object) -> Result<()> {
    let field = |tag: Tag, default: i64| int(obj, tag).unwrap_or(default).max(0) as u64;
    let (rows, columns) = (field(tags::ROWS, 0), field(tags::COLUMNS, 0));
    let frames = field(tags::NUMBER_OF_FRAMES, 1).max(1);
    let samples = field(tags::SAMPLES_PER_PIXEL, 1).max(1);
    let bits_allocated = field(tags::BITS_ALLOCATED, 16).max(1);
    let bits = bits_allocated.max(8);
    let what = format!("{name}: the DICOM image");
    crate::limits::checked_array_bytes(&what, &[frames, rows, columns, samples], bits.div_ceil(8))?;
    crate::limits::checked_array_bytes(&what, &[frames, rows, columns, samples], 4)?;
    // Native (not encapsulated) pixel data must hold what the header describes; dicom-rs would
    // only fail later, as "Frame #0 is out of range". Its declared length (which the length
    // walk has checked against the file) says so without copying the pixels.
    let native = obj
        .element_opt(tags::PIXEL_DATA)
        .ok()
        .flatten()
        .filter(|e| e.value().fragments().is_none())
        .and_then(|e| e.header().len.get().map(u64::from));
    // Uncompressed YBR_FULL_422 stores two luma samples and one chroma pair per two pixels.
    let stored_samples = if text(obj, tags::PHOTOMETRIC_INTERPRETATION).as_deref()
        == Some("YBR_FULL_422")
        && native.is_some()
    {
        samples.min(2)
    } else {
        samples
    };
    let needed = [frames, rows, columns, stored_samples, bits_allocated]
        .iter()
        .try_fold(1u64, |acc, &v| acc.checked_mul(v))
        .map(|bits| bits.div_ceil(8));
    if let (Some(present), Some(needed)) = (native, needed) {
        if present < needed {
            return Err(error(
                name,
                format!(
                    "the pixel data holds {present} bytes; {columns}x{rows}, {frames} frame(s) of {bits_allocated} bits need {needed}: the file is truncated or its header is wrong"
                ),
            ));
        }
    }
    if rows.saturating_mul(columns).saturating_mul(frames) > MAX_VOXELS as u64 {
        return Err(error(
            name,
            format!(
                "{columns}x{rows}x{frames} is too large (at most {MAX_VOXELS} voxels{})",
                crate::limits::browser_hint()
            ),
        ));
    }
    Ok(())
}

/// What dicom-rs cannot decode, said by name before it tries (its own messages, "Could not
/// decode pixel data" or "Invalid BitsAllocated", say neither what nor what to do).
pub(super) fn check_supported(name: &str, obj: &Object, syntax: &str) -> Result<()> {
    let bits = int(obj, tags::BITS_ALLOCATED).unwrap_or(16);
    if bits == 1 {
        return Err(error(
            name,
            "1-bit pixels (a DICOM SEG or another bitmap) are not supported yet; open the image series itself",
        ));
    }
    if !matches!(bits, 8 | 16 | 32) {
        return Err(error(
            name,
            format!("BitsAllocated {bits} is not a DICOM image sample size; 8-, 16- and 32-bit images are read"),
        ));
    }
    if bits == 32 {
        let samples = int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
        let encapsulated = obj
            .element_opt(tags::PIXEL_DATA)
            .ok()
            .flatten()
            .is_some_and(|e| e.value().fragments().is_some());
        if samples != 1 || (encapsulated && syntax != RLE_LOSSLESS) {
            return Err(error(
                name,
                format!(
                    "32-bit {} are not supported; single-channel 32-bit images (dose grids), uncompressed or RLE, are. Convert it with a DICOM toolkit (dcmtk's dcmdjpeg or GDCM's gdcmconv --raw) first",
                    if samples != 1 { "colour samples" } else { "compressed samples" }
                ),
            ));
        }
    }
    let native = obj
        .element_opt(tags::PIXEL_DATA)
        .ok()
        .flatten()
        .is_some_and(|e| e.value().fragments().is_none());
    if native
        && text(obj, tags::PHOTOMETRIC_INTERPRETATION).as_deref() == Some("YBR_FULL_422")
        && (bits != 8 || int(obj, tags::SAMPLES_PER_PIXEL) != Some(3))
    {
        return Err(error(
            name,
            "uncompressed YBR_FULL_422 colour is read with 8-bit samples only; convert it to RGB with a DICOM toolkit (dcmtk, GDCM) first",
        ));
    }
    // openjp2 does not run in wasm (see Cargo.toml): said before dicom-rs answers "unsupported".
    if cfg!(target_arch = "wasm32") && syntax.starts_with(JPEG_2000_PREFIX) {
        return Err(error(
            name,
            "JPEG 2000 pixels are decoded by the daftseg command line, not yet in the browser; open the file with the command line, or convert the series to an uncompressed syntax first (GDCM's gdcmconv --raw, dcmtk)",
        ));
    }
    // What pydicom accepts: the standard's values, retired ones included.
    if let Some(p) = text(obj, tags::PHOTOMETRIC_INTERPRETATION) {
        const KNOWN: [&str; 13] = [
            "MONOCHROME1",
            "MONOCHROME2",
            "PALETTE COLOR",
            "RGB",
            "YBR_FULL",
            "YBR_FULL_422",
            "YBR_PARTIAL_420",
            "YBR_PARTIAL_422",
            "YBR_ICT",
            "YBR_RCT",
            "HSV",
            "ARGB",
            "CMYK",
        ];
        if !KNOWN.contains(&p.as_str()) {
            return Err(error(
                name,
                format!("its Photometric Interpretation '{p}' is not a DICOM value (MONOCHROME1/2, PALETTE COLOR, RGB, YBR_...): the file is damaged"),
            ));
        }
    }
    if syntax == JPEG_LS_LOSSLESS || syntax == JPEG_LS_NEAR_LOSSLESS {
        return Err(error(
            name,
            "JPEG-LS compressed pixels are not supported (their decoder, CharLS, is a C library); convert the series to an uncompressed syntax first, with dcmtk's dcmdjpls or GDCM's gdcmconv --raw",
        ));
    }
    if obj
        .element_opt(tags::NUMBER_OF_FRAMES)
        .ok()
        .flatten()
        .is_some_and(|e| e.to_int::<i64>().is_err())
    {
        return Err(error(
            name,
            "its Number of Frames (0028,0008) is not a number: the file is damaged",
        ));
    }
    let stored = int(obj, tags::BITS_STORED).unwrap_or(bits);
    // dicom-rs asserts on these (a panic, which in wasm kills the engine).
    if stored < 1 || stored > bits {
        return Err(error(
            name,
            format!("its Bits Stored ({stored}) is not between 1 and its Bits Allocated ({bits}): the file is damaged"),
        ));
    }
    if syntax == JPEG_EXTENDED && stored > 8 {
        return Err(error(
            name,
            format!("{stored}-bit JPEG (JPEG Extended, process 4) is not supported; convert the series to an uncompressed or lossless syntax with a DICOM toolkit (dcmtk, GDCM) first"),
        ));
    }
    Ok(())
}
