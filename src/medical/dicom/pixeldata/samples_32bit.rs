//! Single-channel 32-bit samples (RT dose grids, some parametric maps), which dicom-rs decodes
//! but will not convert: read here, rescaled, and a dose grid's values in Gy.

use dicom_dictionary_std::tags;

use super::encoding::{Pixels, EXPLICIT_VR_BIG_ENDIAN};
use crate::error::Result;
use crate::medical::dicom::attributes::floats;
use crate::medical::dicom::object::{error, Object};

/// Uncompressed single-channel 32-bit samples (RT dose grids, some parametric maps), which
/// dicom-rs decodes but will not convert ("Invalid BitsAllocated"): read here, rescaled, and for
/// a dose grid multiplied by its Dose Grid Scaling, so values are in Gy as pydicom users expect.
pub(super) fn samples_32bit(
    name: &str,
    obj: &Object,
    decoded: &dicom_pixeldata::DecodedPixelData<'_>,
    syntax: &str,
) -> Result<Pixels> {
    let (rows, columns) = (decoded.rows() as usize, decoded.columns() as usize);
    let frames = decoded.number_of_frames() as usize;
    let plane = rows * columns;
    let bytes = decoded.data();
    // check_pixel_budget has checked that the pixel data holds every frame.
    if bytes.len() / 4 < plane * frames {
        return Err(error(
            name,
            "the 32-bit pixel data is shorter than its frames",
        ));
    }
    // dicom-rs keeps an OW value as 16-bit words in host order: in a big-endian file each
    // sample's high word comes first.
    let word_swapped = syntax == EXPLICIT_VR_BIG_ENDIAN
        && obj
            .element_opt(tags::PIXEL_DATA)
            .ok()
            .flatten()
            .is_some_and(|e| e.vr() == dicom_core::VR::OW);
    let big_endian_bytes = syntax == EXPLICIT_VR_BIG_ENDIAN && !word_swapped;
    let signed = decoded.pixel_representation() == dicom_pixeldata::PixelRepresentation::Signed;
    let rescale: Vec<(f64, f64)> = decoded
        .rescale()
        .map_err(|e| error(name, format!("its rescale values are unusable: {e}")))?
        .iter()
        .map(|r| (r.slope, r.intercept))
        .collect();
    let raw = bytes.chunks_exact(4).take(plane * frames).map(|s| {
        u32::from_be_bytes(if word_swapped {
            [s[1], s[0], s[3], s[2]]
        } else if big_endian_bytes {
            [s[0], s[1], s[2], s[3]]
        } else {
            [s[3], s[2], s[1], s[0]]
        })
    });
    let data = scale_32bit(obj, raw, plane, signed, &rescale);
    Ok((columns, rows, frames, 1, data))
}

/// Raw 32-bit samples (frame after frame of `plane`) as values: signed or not, the frame's
/// rescale (or the first one), and an RT dose grid's Dose Grid Scaling, so doses are in Gy.
pub(super) fn scale_32bit(
    obj: &Object,
    raw: impl Iterator<Item = u32>,
    plane: usize,
    signed: bool,
    rescale: &[(f64, f64)],
) -> Vec<f32> {
    let dose_scaling = floats(obj, tags::DOSE_GRID_SCALING)
        .and_then(|v| v.first().copied())
        .filter(|v| v.is_finite() && *v != 0.0)
        .unwrap_or(1.0);
    raw.enumerate()
        .map(|(i, raw)| {
            let (slope, intercept) = rescale
                .get(i / plane.max(1))
                .or(rescale.first())
                .copied()
                .unwrap_or((1.0, 0.0));
            let value = if signed {
                raw as i32 as f64
            } else {
                raw as f64
            };
            ((value * slope + intercept) * dose_scaling) as f32
        })
        .collect()
}
