//! Pixel data to f32 values: checks first, then the layouts and codecs dicom-rs does not handle
//! (decoded in the sibling modules), else dicom-rs's decoder; then the rescale or Modality LUT,
//! and colour (palettes, YBR) to RGB.

use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};

use super::colour::{palette_to_rgb, planar_rgb, ybr_full_422, ybr_to_rgb};
use super::encoding::{is_big_endian, words_u16, Pixels, JPEG_SYNTAXES, RLE_LOSSLESS};
use super::jpeg::check_jpeg_frames;
use super::rle::{check_rle, rle_32bit};
use super::samples_32bit::samples_32bit;
use super::support::{check_pixel_budget, check_supported};
use crate::error::Result;
use crate::medical::dicom::attributes::int;
use crate::medical::dicom::object::{causes, error, Object};
use crate::medical::voxels::{Voxels, VoxelsBuilder};

/// Pixels of every frame (rescaled), interleaved RGB for colour images: columns, rows, frames,
/// channels and the voxels, in the narrowest type that holds their values exactly (a CT's HU
/// as i16). Grey frames are decoded one at a time into that storage.
pub(crate) fn pixels(name: &str, obj: &Object) -> Result<(usize, usize, usize, usize, Voxels)> {
    let (columns, rows, frames, channels, data) = match pixels_f32(name, obj)? {
        Decoded::Voxels(pixels) => return Ok(pixels),
        Decoded::Values(pixels) => pixels,
    };
    let mut builder = VoxelsBuilder::new(data.len());
    builder.push(&data);
    Ok((columns, rows, frames, channels, builder.finish()))
}

/// What a decoder gives: narrowed voxels, or f32 values (the rarer layouts).
enum Decoded {
    Voxels((usize, usize, usize, usize, Voxels)),
    Values(Pixels),
}

fn pixels_f32(name: &str, obj: &Object) -> Result<Decoded> {
    let syntax = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    check_supported(name, obj, &syntax)?;
    check_pixel_budget(name, obj)?;
    if syntax == RLE_LOSSLESS {
        check_rle(name, obj)?;
    }
    if JPEG_SYNTAXES.contains(&syntax.as_str()) {
        check_jpeg_frames(name, obj)?;
    }
    if syntax == RLE_LOSSLESS && int(obj, tags::BITS_ALLOCATED) == Some(32) {
        // dicom-rs's RLE decoder stops at 16 bits.
        return rle_32bit(name, obj).map(Decoded::Values);
    }
    if let Some(planar) = planar_rgb(name, obj) {
        return planar.map(Decoded::Values);
    }
    if let Some(ybr) = ybr_full_422(name, obj) {
        return ybr.map(Decoded::Values);
    }
    if int(obj, tags::ROWS).is_none() || int(obj, tags::COLUMNS).is_none() {
        return Err(error(
            name,
            "the file has Pixel Data but no Rows or Columns: it is incomplete or damaged",
        ));
    }
    let decoded = obj.decode_pixel_data().map_err(|e| {
        let syntax_name = dicom_transfer_syntax_registry::TransferSyntaxRegistry
            .get(&syntax)
            .map(|ts| ts.name().to_string())
            .unwrap_or_else(|| "unknown transfer syntax".to_string());
        let hint = "; the compressed pixel data may be damaged (converting it with dcmtk or GDCM's gdcmconv --raw tells)";
        error(
            name,
            format!(
                "cannot decode the pixels ({syntax_name}, {syntax}): {}{hint}",
                causes(&e)
            ),
        )
    })?;
    let (rows, columns) = (decoded.rows() as usize, decoded.columns() as usize);
    let frames = decoded.number_of_frames() as usize;
    let samples = decoded.samples_per_pixel() as usize;
    if rows == 0 || columns == 0 || frames == 0 {
        return Err(error(name, "the image is empty"));
    }
    let photometric = decoded.photometric_interpretation().as_str().to_string();
    if decoded.bits_allocated() == 32 {
        return samples_32bit(name, obj, &decoded, &syntax).map(Decoded::Values);
    }
    let modality_lut = if samples == 1 {
        modality_lut(name, obj)?
    } else {
        None
    };
    let options =
        ConvertOptions::new().with_modality_lut(if samples == 1 && modality_lut.is_none() {
            ModalityLutOption::Default
        } else {
            ModalityLutOption::None
        });
    if samples == 1 && modality_lut.is_none() && photometric != "PALETTE COLOR" {
        // The common case (CT, MR, PET, X-ray): frame by frame into the narrow storage.
        let mut builder = VoxelsBuilder::new(rows * columns * frames);
        for frame in 0..frames {
            let values: Vec<f32> = decoded
                .to_vec_frame_with_options(frame as u32, &options)
                .map_err(|e| error(name, format!("frame {}: {e}", frame + 1)))?;
            builder.push(&values);
        }
        return Ok(Decoded::Voxels((
            columns,
            rows,
            frames,
            1,
            builder.finish(),
        )));
    }
    let mut data = Vec::with_capacity(rows * columns * frames * samples);
    for frame in 0..frames {
        let values: Vec<f32> = decoded
            .to_vec_frame_with_options(frame as u32, &options)
            .map_err(|e| error(name, format!("frame {}: {e}", frame + 1)))?;
        data.extend(values);
    }
    if let Some((first, table)) = &modality_lut {
        let last = table.len() as i64 - 1;
        // The stored value, sign-extended from Bits Stored when the pixels are signed (the
        // decoder may give the unsigned bits).
        let stored = int(obj, tags::BITS_STORED).unwrap_or(16).clamp(1, 32);
        let signed = int(obj, tags::PIXEL_REPRESENTATION) == Some(1);
        for v in data.iter_mut() {
            let mut raw = *v as i64;
            if signed {
                raw &= (1i64 << stored) - 1;
                if raw >= 1i64 << (stored - 1) {
                    raw -= 1i64 << stored;
                }
            }
            *v = table[(raw - first).clamp(0, last) as usize];
        }
    }
    let channels = match (samples, photometric.as_str()) {
        (1, "PALETTE COLOR") => {
            data = palette_to_rgb(name, obj, is_big_endian(obj), &data)?;
            3
        }
        (1, _) => 1,
        (3, p) if p.starts_with("YBR_FULL") => {
            // dicom-rs leaves native YBR as it is (its JPEG decoder gives RGB already).
            data.chunks_exact_mut(3).for_each(ybr_to_rgb);
            3
        }
        (3, _) => 3,
        (n, p) => {
            return Err(error(
                name,
                format!("{n} samples per pixel ({p}) are not supported"),
            ))
        }
    };
    Ok(Decoded::Values((columns, rows, frames, channels, data)))
}

/// A Modality LUT Sequence (a table instead of rescale slope and intercept, as in some X-ray
/// and mammography files), which dicom-rs does not apply: the first stored value it maps and the
/// table. `None` without one.
fn modality_lut(name: &str, obj: &Object) -> Result<Option<(i64, Vec<f32>)>> {
    let Some(item) = obj
        .element_opt(tags::MODALITY_LUT_SEQUENCE)
        .ok()
        .flatten()
        .and_then(|e| e.items().and_then(|items| items.first()))
    else {
        return Ok(None);
    };
    let broken = |what: &str| error(name, format!("its Modality LUT is unusable ({what})"));
    let descriptor = item
        .element_opt(tags::LUT_DESCRIPTOR)
        .ok()
        .flatten()
        .and_then(|e| e.to_multi_int::<i64>().ok())
        .filter(|d| d.len() == 3)
        .ok_or_else(|| broken("no LUT Descriptor"))?;
    let entries = if descriptor[0] == 0 {
        65536
    } else {
        descriptor[0] as usize
    };
    // The first mapped value is signed when the pixels are, whatever VR stored it.
    let signed = int(obj, tags::PIXEL_REPRESENTATION) == Some(1);
    let first = if signed && descriptor[1] > 32767 {
        descriptor[1] - 65536
    } else {
        descriptor[1]
    };
    let data = item
        .element_opt(tags::LUT_DATA)
        .ok()
        .flatten()
        .ok_or_else(|| broken("no LUT Data"))?;
    let table: Vec<f32> = match data.to_multi_int::<i64>() {
        Ok(values) if data.vr() != dicom_core::VR::OW => values.iter().map(|&v| v as f32).collect(),
        _ => words_u16(is_big_endian(obj), data)
            .ok_or_else(|| broken("unreadable LUT Data"))?
            .into_iter()
            .map(f32::from)
            .collect(),
    };
    if table.is_empty() {
        return Err(broken("empty LUT Data"));
    }
    Ok(Some((first, table.into_iter().take(entries).collect())))
}
