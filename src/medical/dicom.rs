//! DICOM through dicom-rs: single files, multi-frame files and series given as several files
//! (sorted along the slice normal by Image Position, else by Instance Number). Rescale
//! slope/intercept is applied (CT in HU), YBR is converted to RGB and palettes are looked up.
//! Transfer syntaxes: those dicom-rs decodes in pure Rust (so also in wasm): uncompressed,
//! deflated, RLE, JPEG baseline/extended (8-bit)/lossless, and natively JPEG 2000. Others
//! (JPEG-LS, 12-bit JPEG, JPEG XL, video) are refused with the syntax's name.

use std::io::Cursor;

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
use dicom_object::{InMemDicomObject, OpenFileOptions};
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};

use super::dicom_seg::{position_from_affine, DicomSource, SourceImage};
use super::{Affine, MedicalVolume, MAX_VOXELS};
use crate::error::{Error, Result};

type Object = dicom_object::FileDicomObject<InMemDicomObject>;

fn error(name: &str, message: impl std::fmt::Display) -> Error {
    Error::Decode(format!("{name}: DICOM: {message}"))
}

pub(super) fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let value = obj.element_opt(tag).ok()??.to_str().ok()?;
    let value = value.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!value.is_empty()).then(|| value.to_string())
}

pub(super) fn floats(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    obj.element_opt(tag).ok()??.to_multi_float64().ok()
}

pub(super) fn int(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    obj.element_opt(tag).ok()??.to_int::<i64>().ok()
}

/// A value directly in the data set, else in the first item of a functional group
/// (`group` -> `sequence` -> `tag`), as enhanced multi-frame objects keep geometry.
fn floats_in(obj: &InMemDicomObject, groups: &[(Tag, Tag)], tag: Tag) -> Option<Vec<f64>> {
    floats(obj, tag).or_else(|| {
        groups.iter().find_map(|&(group, sequence)| {
            let item = obj.element_opt(group).ok()??.items()?.first()?;
            let inner = item.element_opt(sequence).ok()??.items()?.first()?;
            floats(inner, tag)
        })
    })
}

const SHARED: Tag = tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE;
const PER_FRAME: Tag = tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE;

/// One parsed file and the values a series needs.
struct Slice {
    name: String,
    object: Object,
    series: String,
    position: Option<[f64; 3]>,
    instance: i64,
}

fn parse(name: &str, bytes: &[u8]) -> Result<Object> {
    // Files start with a 128-byte preamble; dicom-rs reads from the "DICM" magic on.
    let body = if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        &bytes[128..]
    } else if bytes.starts_with(b"DICM") {
        bytes
    } else {
        return Err(error(
            name,
            format!("no DICOM file header ('DICM' at byte 128): a raw data set without a file meta group, which daftseg does not read; dcmtk's dcmconv {name} fixed.dcm writes one, then open fixed.dcm"),
        ));
    };
    let meta_length = super::dicom_lengths::check(name, body)?;
    let fixed = super::dicom_lengths::with_meta_group_length(body, meta_length);
    OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Never)
        .from_reader(Cursor::new(fixed.as_deref().unwrap_or(body)))
        .map_err(|e| error(name, format!("cannot parse its header: {}", causes(&e))))
}

/// Elements an explicit-VR file stored as UN (unknown) re-read with the dictionary's VR, as
/// pydicom does: a Modality or Rescale Intercept stored as UN is otherwise bytes, not text or
/// numbers, and the pixels come out unscaled.
fn normalise(obj: &mut Object) {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    use dicom_core::header::Header;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    let unknown: Vec<(Tag, VR)> = obj
        .iter()
        .filter(|e| e.vr() == VR::UN)
        .filter_map(|e| {
            let entry = dicom_dictionary_std::StandardDataDictionary.by_tag(e.tag())?;
            Some((e.tag(), entry.vr().relaxed()))
        })
        .collect();
    for (tag, vr) in unknown {
        let Some(bytes) = obj
            .element(tag)
            .ok()
            .and_then(|e| e.value().to_bytes().ok())
            .map(|b| b.into_owned())
        else {
            continue;
        };
        // UN values are always little endian (PS3.5 6.2.2).
        let words = |n: usize| bytes.chunks_exact(n);
        let value = match vr {
            VR::US => {
                PrimitiveValue::U16(words(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())
            }
            VR::SS => {
                PrimitiveValue::I16(words(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect())
            }
            VR::UL => PrimitiveValue::U32(
                words(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            VR::SL => PrimitiveValue::I32(
                words(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            VR::FL => PrimitiveValue::F32(
                words(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            VR::FD => PrimitiveValue::F64(
                words(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect(),
            ),
            VR::AE
            | VR::AS
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::ST
            | VR::TM
            | VR::UC
            | VR::UI
            | VR::UR
            | VR::UT => {
                let text = String::from_utf8_lossy(&bytes);
                let text = text.trim_end_matches(['\0', ' ']);
                PrimitiveValue::Strs(text.split('\\').map(str::to_string).collect())
            }
            _ => continue,
        };
        obj.put(DataElement::new(tag, vr, value));
    }
}

/// An error and its causes on one line: dicom-rs's top-level messages ("Could not decode pixel
/// data") say little without what caused them.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = cause.source();
    }
    text
}

/// What a file without Pixel Data is, from its SOP class or modality, for the refusal.
fn without_pixels(obj: &Object) -> String {
    let sop_class = obj
        .meta()
        .media_storage_sop_class_uid()
        .trim_end_matches('\0');
    if sop_class == "1.2.840.10008.1.3.10" {
        return "a DICOMDIR (the index of a DICOM disc or folder), not an image: open the image files it lists, or their folder".to_string();
    }
    let kind = match text(obj, tags::MODALITY).as_deref() {
        Some("SR") => "a structured report (SR)",
        Some("RTPLAN") => "an RT plan",
        Some("RTSTRUCT") => "an RT structure set (contours; its image series is separate)",
        Some("RTRECORD") => "an RT treatment record",
        Some("ECG" | "HD" | "EPS") => "a waveform (ECG or similar)",
        Some("KO") => "a key object selection",
        Some("PR") => "a presentation state",
        Some("SEG") => "a segmentation without pixel data",
        _ => "another kind of DICOM object (a report, a structure set or a plan)",
    };
    format!("the file holds no image (no Pixel Data): it is {kind}")
}

/// A DICOM SEG's labels over `volume`, in the source's voxel order, and its segments (see
/// [`super::dicom_seg::read_seg`]); `None` when `bytes` are not a DICOM SEG.
pub fn read_segmentation(
    name: &str,
    bytes: &[u8],
    volume: &MedicalVolume,
) -> Result<Option<(Vec<u32>, Vec<super::dicom_seg::ReadSegment>)>> {
    let dicom = (bytes.len() >= 132 && &bytes[128..132] == b"DICM") || bytes.starts_with(b"DICM");
    if !dicom {
        return Ok(None);
    }
    let object = parse(name, bytes)?;
    if !super::dicom_seg::is_segmentation(&object) {
        return Ok(None);
    }
    super::dicom_seg::read_seg(name, &object, volume).map(Some)
}

/// Reads one file or a series of files (name, bytes) into one volume in the source's voxel order.
/// A folder holding several series gives its largest one (and says so in `notes`).
pub fn read_series(files: &[(String, Vec<u8>)]) -> Result<MedicalVolume> {
    if files.is_empty() {
        return Err(Error::invalid("no DICOM files were given"));
    }
    let mut slices = Vec::new();
    let mut skipped = Vec::new();
    for (name, bytes) in files {
        let object = match parse(name, bytes) {
            Ok(mut o) => {
                normalise(&mut o);
                o
            }
            // In a folder, other files (DICOMDIR, notes) are skipped; a single file must parse.
            Err(e) if files.len() > 1 => {
                skipped.push(format!("{name} ({e})"));
                continue;
            }
            Err(e) => return Err(e),
        };
        if object
            .element_opt(tags::PIXEL_DATA)
            .ok()
            .flatten()
            .is_none()
        {
            if files.len() == 1 {
                return Err(error(name, without_pixels(&object)));
            }
            skipped.push(format!("{name} (no image)"));
            continue;
        }
        let position = floats(&object, tags::IMAGE_POSITION_PATIENT)
            .filter(|p| p.len() == 3)
            .map(|p| [p[0], p[1], p[2]]);
        slices.push(Slice {
            name: name.clone(),
            series: text(&object, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
            instance: int(&object, tags::INSTANCE_NUMBER).unwrap_or(0),
            position,
            object,
        });
    }
    if slices.is_empty() {
        return Err(Error::Decode(format!(
            "none of the {} files is a DICOM image: {}",
            files.len(),
            skipped.join("; ")
        )));
    }
    let mut notes = Vec::new();
    // The largest series.
    let mut counts: Vec<(String, usize)> = Vec::new();
    for s in &slices {
        match counts.iter_mut().find(|(uid, _)| *uid == s.series) {
            Some((_, n)) => *n += 1,
            None => counts.push((s.series.clone(), 1)),
        }
    }
    if counts.len() > 1 {
        let (uid, n) = counts.iter().max_by_key(|(_, n)| *n).cloned().unwrap();
        notes.push(format!(
            "{} series among the files: the largest ({n} images) is shown",
            counts.len()
        ));
        slices.retain(|s| s.series == uid);
    }
    if !skipped.is_empty() {
        notes.push(format!(
            "skipped {} file(s): {}",
            skipped.len(),
            skipped.join("; ")
        ));
    }
    let mut volume = if slices.len() == 1 {
        let s = slices.pop().unwrap();
        single_object(&s.name, &s.object)?
    } else {
        series(slices)?
    };
    volume.notes.extend(notes);
    Ok(volume)
}

/// Columns, rows, frames, channels and the values (interleaved RGB for colour images).
type Pixels = (usize, usize, usize, usize, Vec<f32>);

/// Pixels of every frame as f32 (rescaled), interleaved RGB for colour images.
fn pixels(name: &str, obj: &Object) -> Result<Pixels> {
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
        return rle_32bit(name, obj);
    }
    if let Some(planar) = planar_rgb(name, obj) {
        return planar;
    }
    if let Some(ybr) = ybr_full_422(name, obj) {
        return ybr;
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
        return samples_32bit(name, obj, &decoded, &syntax);
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
    Ok((columns, rows, frames, channels, data))
}

/// What the pixels will take once decoded (dicom-rs's samples, then our f32 copy), from the
/// header, checked against the budget before the decoder allocates them.
fn check_pixel_budget(name: &str, obj: &Object) -> Result<()> {
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

/// A 16-bit table (palette or LUT data) as numbers. dicom-rs keeps an OW value either as
/// 16-bit words or as the file's bytes; bytes are read in the file's byte order.
fn words_u16(big_endian: bool, element: &dicom_object::mem::InMemElement) -> Option<Vec<u16>> {
    use dicom_core::value::{PrimitiveValue, Value};
    if let Value::Primitive(PrimitiveValue::U16(words)) = element.value() {
        return Some(words.to_vec());
    }
    let bytes = element.value().to_bytes().ok()?;
    Some(
        bytes
            .chunks_exact(2)
            .map(|c| {
                if big_endian {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from_le_bytes([c[0], c[1]])
                }
            })
            .collect(),
    )
}

fn is_big_endian(obj: &Object) -> bool {
    obj.meta().transfer_syntax().trim_end_matches('\0') == EXPLICIT_VR_BIG_ENDIAN
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

/// One YBR_FULL pixel (Y, Cb, Cr; 8-bit) to RGB in place, as PS3.3 C.7.6.3.1.2 defines it.
fn ybr_to_rgb(px: &mut [f32]) {
    let (y, cb, cr) = (px[0], px[1] - 128.0, px[2] - 128.0);
    px[0] = (y + 1.402 * cr).round().clamp(0.0, 255.0);
    px[1] = (y - 0.344136 * cb - 0.714136 * cr)
        .round()
        .clamp(0.0, 255.0);
    px[2] = (y + 1.772 * cb).round().clamp(0.0, 255.0);
}

/// Uncompressed 8-bit YBR_FULL_422 (two pixels stored as Y0 Y1 Cb Cr, sharing their chroma),
/// which dicom-rs does not unpack: expanded and converted to RGB here. `None` for anything else.
fn ybr_full_422(name: &str, obj: &Object) -> Option<Result<Pixels>> {
    let field = |tag: Tag| int(obj, tag);
    let element = obj.element_opt(tags::PIXEL_DATA).ok()??;
    if text(obj, tags::PHOTOMETRIC_INTERPRETATION).as_deref() != Some("YBR_FULL_422")
        || field(tags::BITS_ALLOCATED) != Some(8)
        || element.value().fragments().is_some()
    {
        return None;
    }
    let rows = field(tags::ROWS)?.max(0) as usize;
    let columns = field(tags::COLUMNS)?.max(0) as usize;
    let frames = field(tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as usize;
    if rows * columns == 0 || columns % 2 == 1 {
        return Some(Err(error(
            name,
            format!("YBR_FULL_422 pixels need an even, non-zero number of columns ({columns})"),
        )));
    }
    let bytes = element.value().to_bytes().ok()?;
    // check_pixel_budget has checked these sizes and that the bytes hold them.
    let mut data = Vec::with_capacity(rows * columns * 3 * frames);
    for pair in bytes.chunks_exact(4).take(rows * columns / 2 * frames) {
        let [y0, y1, cb, cr] = [pair[0], pair[1], pair[2], pair[3]].map(f32::from);
        for y in [y0, y1] {
            let mut px = [y, cb, cr];
            ybr_to_rgb(&mut px);
            data.extend(px);
        }
    }
    Some(Ok((columns, rows, frames, 3, data)))
}

/// Uncompressed 8-bit RGB stored plane by plane (Planar Configuration 1: all red, then all green,
/// then all blue, per frame), which dicom-rs refuses: interleaved here. `None` for anything else.
fn planar_rgb(name: &str, obj: &Object) -> Option<Result<Pixels>> {
    let field = |tag: Tag| int(obj, tag);
    let planar = field(tags::PLANAR_CONFIGURATION) == Some(1)
        && field(tags::SAMPLES_PER_PIXEL) == Some(3)
        && field(tags::BITS_ALLOCATED) == Some(8)
        && text(obj, tags::PHOTOMETRIC_INTERPRETATION).as_deref() == Some("RGB");
    let element = obj.element_opt(tags::PIXEL_DATA).ok()??;
    if !planar || element.value().fragments().is_some() {
        return None;
    }
    let rows = field(tags::ROWS)?.max(0) as usize;
    let columns = field(tags::COLUMNS)?.max(0) as usize;
    let frames = field(tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as usize;
    let bytes = element.value().to_bytes().ok()?;
    // check_pixel_budget has checked these sizes and that the bytes hold them.
    let plane = rows * columns;
    if plane == 0 {
        return Some(Err(error(name, "the image is empty")));
    }
    let mut data = Vec::with_capacity(plane * 3 * frames);
    for frame in bytes.chunks_exact(plane * 3).take(frames) {
        let (red, rest) = frame.split_at(plane);
        let (green, blue) = rest.split_at(plane);
        for i in 0..plane {
            data.extend([red[i] as f32, green[i] as f32, blue[i] as f32]);
        }
    }
    Some(Ok((columns, rows, frames, 3, data)))
}

/// What dicom-rs cannot decode, said by name before it tries (its own messages, "Could not
/// decode pixel data" or "Invalid BitsAllocated", say neither what nor what to do).
fn check_supported(name: &str, obj: &Object, syntax: &str) -> Result<()> {
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

/// Uncompressed single-channel 32-bit samples (RT dose grids, some parametric maps), which
/// dicom-rs decodes but will not convert ("Invalid BitsAllocated"): read here, rescaled, and for
/// a dose grid multiplied by its Dose Grid Scaling, so values are in Gy as pydicom users expect.
fn samples_32bit(
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
fn scale_32bit(
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

/// Single-channel 32-bit RLE (RT dose grids): each frame is one fragment of four PackBits
/// segments, the samples' bytes from most to least significant (PS3.5 G.2). `pixels` has checked
/// the budget, and check_rle that every segment decodes to a whole plane.
fn rle_32bit(name: &str, obj: &Object) -> Result<Pixels> {
    let rows = int(obj, tags::ROWS).unwrap_or(0).max(0) as usize;
    let columns = int(obj, tags::COLUMNS).unwrap_or(0).max(0) as usize;
    let frames = int(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as usize;
    let plane = rows * columns;
    let fragments = encapsulated_fragments(name, obj, "RLE")?;
    if plane == 0 || fragments.len() < frames {
        return Err(error(
            name,
            format!(
                "{} RLE fragment(s) for {frames} frame(s) of {columns}x{rows}",
                fragments.len()
            ),
        ));
    }
    let mut raw = Vec::with_capacity(plane * frames);
    for fragment in fragments.iter().take(frames) {
        let segments = rle_segments(name, fragment)?;
        if segments.len() != 4 {
            return Err(error(
                name,
                format!("a 32-bit RLE frame has {} segments, not 4", segments.len()),
            ));
        }
        let planes: Vec<Vec<u8>> = segments
            .iter()
            .map(|segment| packbits_decode(segment, plane))
            .collect();
        raw.extend(
            (0..plane).map(|i| {
                u32::from_be_bytes([planes[0][i], planes[1][i], planes[2][i], planes[3][i]])
            }),
        );
    }
    let signed = int(obj, tags::PIXEL_REPRESENTATION) == Some(1);
    let rescale = [(
        floats(obj, tags::RESCALE_SLOPE)
            .and_then(|v| v.first().copied())
            .unwrap_or(1.0),
        floats(obj, tags::RESCALE_INTERCEPT)
            .and_then(|v| v.first().copied())
            .unwrap_or(0.0),
    )];
    let data = scale_32bit(obj, raw.into_iter(), plane, signed, &rescale);
    Ok((columns, rows, frames, 1, data))
}

/// A PackBits segment decoded to `length` bytes (check_rle has checked it holds that many).
fn packbits_decode(segment: &[u8], length: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(length);
    let mut at = 0;
    while at < segment.len() && out.len() < length {
        let n = segment[at] as i8;
        at += 1;
        if n >= 0 {
            let end = (at + n as usize + 1).min(segment.len());
            out.extend_from_slice(&segment[at..end]);
            at = end;
        } else if n != -128 {
            if let Some(&byte) = segment.get(at) {
                out.extend(std::iter::repeat_n(byte, (1 - n as isize) as usize));
            }
            at += 1;
        }
    }
    out.resize(length, 0);
    out
}

const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";
/// 1.2.840.10008.1.2.4.90 to .93.
const JPEG_2000_PREFIX: &str = "1.2.840.10008.1.2.4.9";
const JPEG_LS_LOSSLESS: &str = "1.2.840.10008.1.2.4.80";
const JPEG_LS_NEAR_LOSSLESS: &str = "1.2.840.10008.1.2.4.81";
const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";
/// The JPEG syntaxes dicom-rs's JPEG adapter decodes: baseline, extended, lossless (14, 14 SV1).
const JPEG_SYNTAXES: [&str; 4] = [
    "1.2.840.10008.1.2.4.50",
    JPEG_EXTENDED,
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
];
const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// dicom-rs's RLE decoder indexes past the end of a short segment (a panic, which in wasm would
/// kill the engine), so every frame's segments are checked to decode to a whole plane first.
fn check_rle(name: &str, obj: &Object) -> Result<()> {
    let plane = plane_size(obj);
    for fragment in encapsulated_fragments(name, obj, "RLE")? {
        for segment in rle_segments(name, fragment)? {
            if packbits_length(segment) < plane {
                return Err(error(
                    name,
                    "corrupt RLE pixel data (a segment is truncated)",
                ));
            }
        }
    }
    Ok(())
}

/// Rows x Columns from the header (0 when either is missing).
fn plane_size(obj: &Object) -> usize {
    let field = |tag: Tag| int(obj, tag).unwrap_or(0).max(0) as usize;
    field(tags::ROWS) * field(tags::COLUMNS)
}

/// The fragments of encapsulated (compressed) pixel data, one or more per frame.
fn encapsulated_fragments<'a>(name: &str, obj: &'a Object, codec: &str) -> Result<&'a [Vec<u8>]> {
    obj.element_opt(tags::PIXEL_DATA)
        .ok()
        .flatten()
        .and_then(|e| e.value().fragments())
        .ok_or_else(|| error(name, format!("{codec} pixel data is not encapsulated")))
}

/// The segments of one RLE fragment (PS3.5 G.3.1): a 64-byte header of a count (1 to 15) and
/// offsets, which come from the file and must lie inside the fragment, in order.
fn rle_segments<'a>(name: &str, fragment: &'a [u8]) -> Result<Vec<&'a [u8]>> {
    let corrupt = |what: &str| error(name, format!("corrupt RLE pixel data ({what})"));
    if fragment.len() < 64 {
        return Err(corrupt("short header"));
    }
    let word =
        |i: usize| u32::from_le_bytes(fragment[4 * i..4 * i + 4].try_into().unwrap()) as usize;
    let segments = word(0);
    if !(1..=15).contains(&segments) {
        return Err(corrupt("segment count"));
    }
    let mut bounds: Vec<usize> = (1..=segments).map(word).collect();
    bounds.push(fragment.len());
    bounds
        .windows(2)
        .map(|pair| {
            if pair[0] < 64 || pair[0] > pair[1] || pair[1] > fragment.len() {
                return Err(corrupt("segment offsets"));
            }
            Ok(&fragment[pair[0]..pair[1]])
        })
        .collect()
}

/// dicom-rs copies each decoded JPEG frame into a buffer sized from the DICOM header, and panics
/// (in wasm: a dead engine) when a frame's own header (its SOF segment) describes a larger image.
/// So every frame's size and component count must be the DICOM header's before it decodes.
fn check_jpeg_frames(name: &str, obj: &Object) -> Result<()> {
    let rows = int(obj, tags::ROWS).unwrap_or(0);
    let columns = int(obj, tags::COLUMNS).unwrap_or(0);
    let samples = int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    let fragments = encapsulated_fragments(name, obj, "JPEG")?;
    let data: Vec<u8> = fragments.iter().flatten().copied().collect();
    for (frame, (height, width, components)) in jpeg_frame_sizes(&data).into_iter().enumerate() {
        if (height, width, components) != (rows, columns, samples) {
            return Err(error(
                name,
                format!(
                    "frame {}'s JPEG data is {width}x{height} with {components} component(s), but the DICOM header says {columns}x{rows} with {samples}: the file is damaged",
                    frame + 1
                ),
            ));
        }
    }
    Ok(())
}

/// The (height, width, components) of each JPEG image in `data` (frames one after another), from
/// their SOF segments, walking marker segments by their lengths. Entropy-coded data never holds
/// an FF byte followed by a marker other than RSTn or EOI, so the next frame starts after EOI.
fn jpeg_frame_sizes(data: &[u8]) -> Vec<(i64, i64, i64)> {
    let mut sizes = Vec::new();
    let mut at = 0;
    while let Some(start) = data[at..].windows(2).position(|w| w == [0xFF, 0xD8]) {
        at += start + 2;
        // Marker segments until the frame header.
        while at + 4 <= data.len() && data[at] == 0xFF {
            let marker = data[at + 1];
            let length = u16::from_be_bytes([data[at + 2], data[at + 3]]) as usize;
            let is_sof = (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker);
            if is_sof && at + 10 <= data.len() {
                let height = u16::from_be_bytes([data[at + 5], data[at + 6]]) as i64;
                let width = u16::from_be_bytes([data[at + 7], data[at + 8]]) as i64;
                sizes.push((height, width, data[at + 9] as i64));
                break;
            }
            at += 2 + length;
        }
        // Past this image's end.
        match data[at.min(data.len())..]
            .windows(2)
            .position(|w| w == [0xFF, 0xD9])
        {
            Some(end) => at += end + 2,
            None => break,
        }
    }
    sizes
}

/// How many bytes a PackBits segment decodes to (stopping at its end).
fn packbits_length(segment: &[u8]) -> usize {
    let (mut at, mut length) = (0, 0);
    while at < segment.len() {
        let n = segment[at] as i8;
        at += 1;
        if n >= 0 {
            let literal = n as usize + 1;
            length += literal.min(segment.len().saturating_sub(at));
            at += literal;
        } else if n != -128 {
            if at < segment.len() {
                length += (1 - n as isize) as usize;
            }
            at += 1;
        }
    }
    length
}

/// PALETTE COLOR through its red, green and blue lookup tables, scaled to 0..255.
/// Palette entries from 16-bit segmented palette data (PS3.3 C.7.9.2): discrete segments
/// (opcode 0, values), linear ones (1, a ramp from the last value to the next, rounded half to
/// even as pydicom's numpy does) and indirect ones (2, segments reused from a word offset). At
/// most 65536 entries, the most a palette descriptor can state.
fn expand_segmented_palette(words: &[u16]) -> std::result::Result<Vec<u16>, &'static str> {
    const MAX_ENTRIES: usize = 65536;
    // Offsets of indirect segments count from the start of all the data.
    fn expand(
        words: &[u16],
        start: usize,
        segments: Option<usize>,
        out: &mut Vec<u16>,
        depth: usize,
    ) -> std::result::Result<(), &'static str> {
        if depth > 4 {
            return Err("indirect segments nest too deep");
        }
        let (mut at, mut read) = (start, 0);
        // `at + 1`: the data may end with one padding word.
        while at + 1 < words.len() && segments.is_none_or(|n| read < n) {
            let (opcode, length) = (words[at], words[at + 1] as usize);
            at += 2;
            match opcode {
                0 => {
                    let values = words
                        .get(at..at + length)
                        .ok_or("a discrete segment is cut")?;
                    out.extend_from_slice(values);
                    at += length;
                }
                1 => {
                    let y0 = *out.last().ok_or("it starts with a linear segment")? as f64;
                    let y1 = *words.get(at).ok_or("a linear segment is cut")? as f64;
                    at += 1;
                    out.extend((1..=length).map(|k| {
                        (y0 + (y1 - y0) * k as f64 / length as f64).round_ties_even() as u16
                    }));
                }
                2 => {
                    if out.is_empty() {
                        return Err("it starts with an indirect segment");
                    }
                    let low = *words.get(at).ok_or("an indirect segment is cut")? as usize;
                    let high = *words.get(at + 1).ok_or("an indirect segment is cut")? as usize;
                    at += 2;
                    let from = high << 16 | low;
                    if from >= words.len() {
                        return Err("an indirect offset is past the end");
                    }
                    expand(words, from, Some(length), out, depth + 1)?;
                }
                _ => return Err("an unknown segment type"),
            }
            if out.len() > MAX_ENTRIES {
                return Err("more than 65536 entries");
            }
            read += 1;
        }
        Ok(())
    }
    let mut out = Vec::new();
    expand(words, 0, None, &mut out, 0)?;
    if out.is_empty() {
        return Err("no entries");
    }
    Ok(out)
}

fn palette_to_rgb(
    name: &str,
    obj: &InMemDicomObject,
    big_endian: bool,
    indices: &[f32],
) -> Result<Vec<f32>> {
    let lut = |descriptor: Tag, data: Tag, segmented: Tag| -> Result<(Vec<f32>, i64)> {
        let d = obj
            .element_opt(descriptor)
            .ok()
            .flatten()
            .and_then(|e| e.to_multi_int::<i64>().ok())
            .filter(|d| d.len() == 3)
            .ok_or_else(|| error(name, "palette colour image without a palette descriptor"))?;
        let bits = d[2];
        let element = |tag: Tag| obj.element_opt(tag).ok().flatten();
        let unreadable = || error(name, "its palette data is unreadable");
        let table: Vec<f32> = match (element(data), element(segmented)) {
            // 16-bit entries: the high byte is the 8-bit colour, as pydicom users scale it.
            (Some(e), _) if bits > 8 => words_u16(big_endian, e)
                .ok_or_else(unreadable)?
                .into_iter()
                .map(|w| (w >> 8) as f32)
                .collect(),
            (Some(e), _) => e
                .to_bytes()
                .map_err(|_| unreadable())?
                .iter()
                .map(|&v| v as f32)
                .collect(),
            (None, Some(e)) if bits > 8 => {
                let words = words_u16(big_endian, e).ok_or_else(unreadable)?;
                expand_segmented_palette(&words)
                    .map_err(|why| error(name, format!("its segmented palette is damaged: {why}")))?
                    .into_iter()
                    .map(|w| (w >> 8) as f32)
                    .collect()
            }
            _ => {
                return Err(error(
                    name,
                    "palette colour image without palette data: the file is incomplete or damaged",
                ))
            }
        };
        if table.is_empty() {
            return Err(error(name, "empty palette"));
        }
        Ok((table, d[1]))
    };
    let red = lut(
        tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        tags::SEGMENTED_RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    )?;
    let green = lut(
        tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        tags::SEGMENTED_GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    )?;
    let blue = lut(
        tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
        tags::SEGMENTED_BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    )?;
    let look = |(table, first): &(Vec<f32>, i64), v: f32| {
        let i = (v as i64 - first).clamp(0, table.len() as i64 - 1) as usize;
        table[i]
    };
    Ok(indices
        .iter()
        .flat_map(|&v| [look(&red, v), look(&green, v), look(&blue, v)])
        .collect())
}

fn modality(obj: &InMemDicomObject) -> Option<String> {
    text(obj, tags::MODALITY)
}

/// MONOCHROME1 (X-ray, mammography): the windows invert it for display and for the model.
fn mark_monochrome1(volume: &mut MedicalVolume, obj: &InMemDicomObject) {
    if text(obj, tags::PHOTOMETRIC_INTERPRETATION).as_deref() == Some("MONOCHROME1") {
        volume.inverted = true;
        volume
            .notes
            .push("MONOCHROME1: shown inverted (bright = dense), as viewers do".to_string());
    }
}

/// Row and column directions (LPS) and (row, column) spacing.
fn plane(obj: &InMemDicomObject) -> ([f64; 3], [f64; 3], [f64; 2]) {
    let groups = [
        (SHARED, tags::PLANE_ORIENTATION_SEQUENCE),
        (PER_FRAME, tags::PLANE_ORIENTATION_SEQUENCE),
    ];
    let orientation = floats_in(obj, &groups, tags::IMAGE_ORIENTATION_PATIENT)
        .filter(|o| o.len() == 6)
        .unwrap_or_else(|| vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let measures = [
        (SHARED, tags::PIXEL_MEASURES_SEQUENCE),
        (PER_FRAME, tags::PIXEL_MEASURES_SEQUENCE),
    ];
    let spacing = floats_in(obj, &measures, tags::PIXEL_SPACING)
        .or_else(|| floats(obj, tags::IMAGER_PIXEL_SPACING))
        .filter(|s| s.len() == 2 && s.iter().all(|v| *v > 0.0))
        .unwrap_or_else(|| vec![1.0, 1.0]);
    (
        [orientation[0], orientation[1], orientation[2]],
        [orientation[3], orientation[4], orientation[5]],
        [spacing[0], spacing[1]],
    )
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// DICOM's LPS geometry as a RAS+ affine (x and y negated), as nibabel and dcm2niix give it.
fn affine_lps_to_ras(
    row_dir: [f64; 3],
    col_dir: [f64; 3],
    spacing: [f64; 2],
    slice_step: [f64; 3],
    origin: [f64; 3],
) -> Affine {
    let mut a = [[0.0; 4]; 4];
    for r in 0..3 {
        let sign = if r < 2 { -1.0 } else { 1.0 };
        a[r][0] = sign * row_dir[r] * spacing[1];
        a[r][1] = sign * col_dir[r] * spacing[0];
        a[r][2] = sign * slice_step[r];
        a[r][3] = sign * origin[r];
    }
    a[3][3] = 1.0;
    a
}

/// The source image `obj` is, for references to it (frame `frame` of a multi-frame image).
fn source_image(obj: &Object, frame: Option<u32>) -> SourceImage {
    SourceImage {
        sop_class: text(obj, tags::SOP_CLASS_UID).or_else(|| {
            Some(
                obj.meta()
                    .media_storage_sop_class_uid()
                    .trim_end_matches('\0')
                    .to_string(),
            )
            .filter(|u| !u.is_empty())
        }),
        sop_instance: text(obj, tags::SOP_INSTANCE_UID).or_else(|| {
            Some(
                obj.meta()
                    .media_storage_sop_instance_uid()
                    .trim_end_matches('\0')
                    .to_string(),
            )
            .filter(|u| !u.is_empty())
        }),
        frame,
        position: [0.0; 3],
    }
}

/// What a DICOM SEG over the volume needs from its source: `first` (the first image) gives the
/// patient, study and plane; `images` one per source slice, with its position where the file
/// gives one (else it follows from `affine`).
fn dicom_source(
    first: &Object,
    images: Vec<(SourceImage, Option<[f64; 3]>)>,
    affine: &Affine,
) -> Box<DicomSource> {
    let (row_dir, col_dir, spacing) = plane(first);
    let measures = [(SHARED, tags::PIXEL_MEASURES_SEQUENCE)];
    Box::new(DicomSource {
        copied: DicomSource::copy_attributes(first),
        series_uid: text(first, tags::SERIES_INSTANCE_UID),
        frame_of_reference: text(first, tags::FRAME_OF_REFERENCE_UID),
        images: images
            .into_iter()
            .enumerate()
            .map(|(z, (image, position))| SourceImage {
                position: position.unwrap_or_else(|| position_from_affine(affine, z)),
                ..image
            })
            .collect(),
        orientation: [
            row_dir[0], row_dir[1], row_dir[2], col_dir[0], col_dir[1], col_dir[2],
        ],
        pixel_spacing: spacing,
        slice_thickness: floats_in(first, &measures, tags::SLICE_THICKNESS)
            .and_then(|v| v.first().copied())
            .filter(|v| v.is_finite() && *v > 0.0),
    })
}

fn single_object(name: &str, obj: &Object) -> Result<MedicalVolume> {
    let (columns, rows, frames, channels, data) = pixels(name, obj)?;
    let (row_dir, col_dir, spacing) = plane(obj);
    let normal = cross(row_dir, col_dir);
    // Multi-frame: the step between the first two frames' positions, else the slice spacing.
    let frame_positions: Vec<[f64; 3]> = obj
        .element_opt(PER_FRAME)
        .ok()
        .flatten()
        .and_then(|e| e.items())
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    let inner = item
                        .element_opt(tags::PLANE_POSITION_SEQUENCE)
                        .ok()??
                        .items()?
                        .first()?;
                    floats(inner, tags::IMAGE_POSITION_PATIENT)
                        .filter(|p| p.len() == 3)
                        .map(|p| [p[0], p[1], p[2]])
                })
                .collect()
        })
        .unwrap_or_default();
    let origin = frame_positions
        .first()
        .copied()
        .or_else(|| {
            floats(obj, tags::IMAGE_POSITION_PATIENT)
                .filter(|p| p.len() == 3)
                .map(|p| [p[0], p[1], p[2]])
        })
        .unwrap_or([0.0; 3]);
    let measures = [(SHARED, tags::PIXEL_MEASURES_SEQUENCE)];
    let thickness = floats_in(obj, &measures, tags::SPACING_BETWEEN_SLICES)
        .or_else(|| floats_in(obj, &measures, tags::SLICE_THICKNESS))
        .and_then(|v| v.first().copied())
        .filter(|v| *v > 0.0)
        .unwrap_or(1.0);
    // An RT dose grid gives its frames' distances along the normal instead (Grid Frame Offset
    // Vector, relative to the first frame's position).
    let grid_step = floats(obj, tags::GRID_FRAME_OFFSET_VECTOR)
        .filter(|o| frames >= 2 && o.len() == frames)
        .map(|o| o[1] - o[0])
        .filter(|d| d.is_finite() && *d != 0.0);
    let step = if frame_positions.len() >= 2 && frame_positions.len() == frames {
        let d = [0, 1, 2].map(|i| frame_positions[1][i] - frame_positions[0][i]);
        if dot(d, d) > 0.0 {
            d
        } else {
            normal.map(|n| n * thickness)
        }
    } else if let Some(d) = grid_step {
        normal.map(|n| n * d)
    } else {
        normal.map(|n| n * thickness)
    };
    let affine = affine_lps_to_ras(row_dir, col_dir, spacing, step, origin);
    let mut volume = MedicalVolume::new(
        [columns, rows, frames],
        channels,
        data,
        affine,
        modality(obj),
        "DICOM",
    )?;
    if frames > 1 && frame_positions.len() != frames && grid_step.is_none() {
        volume.notes.push(format!("{frames} frames without per-frame positions: frames are taken as equally spaced slices"));
    }
    let images = (0..frames)
        .map(|k| {
            let frame = (frames > 1).then_some(k as u32 + 1);
            let position = if frame_positions.len() == frames {
                Some(frame_positions[k])
            } else {
                None
            };
            (source_image(obj, frame), position)
        })
        .collect();
    volume.dicom = Some(dicom_source(obj, images, &volume.affine));
    mark_monochrome1(&mut volume, obj);
    Ok(volume)
}

fn series(mut slices: Vec<Slice>) -> Result<MedicalVolume> {
    let (row_dir, col_dir, spacing) = plane(&slices[0].object);
    let normal = cross(row_dir, col_dir);
    let sortable = slices.iter().all(|s| s.position.is_some());
    if sortable {
        slices.sort_by(|a, b| {
            dot(a.position.unwrap(), normal).total_cmp(&dot(b.position.unwrap(), normal))
        });
    } else {
        slices.sort_by_key(|s| s.instance);
    }
    let mut data = Vec::new();
    let mut shape = None;
    let mut frames_total = 0;
    let mut images = Vec::new();
    for s in &slices {
        let (columns, rows, frames, channels, pixels) = pixels(&s.name, &s.object)?;
        for k in 0..frames {
            let frame = (frames > 1).then_some(k as u32 + 1);
            let position = if frames == 1 { s.position } else { None };
            images.push((source_image(&s.object, frame), position));
        }
        match shape {
            None => shape = Some((columns, rows, channels)),
            Some(expected) if expected != (columns, rows, channels) => {
                return Err(error(
                    &s.name,
                    format!(
                        "its images are {columns}x{rows}x{channels}, the series' first are {}x{}x{}: not one volume",
                        expected.0, expected.1, expected.2
                    ),
                ))
            }
            Some(_) => {}
        }
        frames_total += frames;
        data.extend(pixels);
    }
    let (columns, rows, channels) = shape.expect("at least one slice");
    let step = match (
        slices.first().and_then(|s| s.position),
        slices.last().and_then(|s| s.position),
    ) {
        (Some(a), Some(b)) if sortable && frames_total > 1 && a != b => {
            [0, 1, 2].map(|i| (b[i] - a[i]) / (frames_total - 1) as f64)
        }
        _ => {
            let thickness = floats(&slices[0].object, tags::SLICE_THICKNESS)
                .and_then(|v| v.first().copied())
                .filter(|v| *v > 0.0)
                .unwrap_or(1.0);
            normal.map(|n| n * thickness)
        }
    };
    let origin = slices[0].position.unwrap_or([0.0; 3]);
    let affine = affine_lps_to_ras(row_dir, col_dir, spacing, step, origin);
    let mut volume = MedicalVolume::new(
        [columns, rows, frames_total],
        channels,
        data,
        affine,
        modality(&slices[0].object),
        "DICOM",
    )?;
    if !sortable {
        volume
            .notes
            .push("slices without Image Position: ordered by Instance Number".to_string());
    }
    volume.dicom = Some(dicom_source(&slices[0].object, images, &volume.affine));
    mark_monochrome1(&mut volume, &slices[0].object);
    Ok(volume)
}

#[cfg(test)]
mod tests {
    use super::expand_segmented_palette;

    #[test]
    fn jpeg_frame_sizes_come_from_each_frame_header() {
        // Two frames: SOI, an APP0 segment, SOF0 (height 2, width 3, 1 component), scan, EOI.
        let frame = |h: u8| {
            let mut f = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0xAA, 0xBB];
            f.extend([0xFF, 0xC0, 0x00, 0x0B, 8, 0, h, 0, 3, 1, 1, 0x11, 0]);
            f.extend([0xFF, 0xDA, 0x00, 0x02, 0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD9]);
            f
        };
        let data = [frame(2), frame(5)].concat();
        assert_eq!(super::jpeg_frame_sizes(&data), [(2, 3, 1), (5, 3, 1)]);
        assert!(super::jpeg_frame_sizes(&[0xFF, 0xD8, 0xFF]).is_empty());
    }

    #[test]
    fn segmented_palettes_expand_as_the_standard_says() {
        // Discrete 0, 100; a linear ramp to 104 over 4 entries; an indirect copy of the first
        // segment (word offset 0); discrete 7; one padding word.
        let words = [0, 2, 0, 100, 1, 4, 104, 2, 1, 0, 0, 0, 1, 7, 0];
        assert_eq!(
            expand_segmented_palette(&words).unwrap(),
            [0, 100, 101, 102, 103, 104, 0, 100, 7]
        );
        // numpy rounds halves to even: 0 -> 3 over 2 entries is 1.5 -> 2, then 3.
        assert_eq!(
            expand_segmented_palette(&[0, 1, 0, 1, 2, 3]).unwrap(),
            [0, 2, 3]
        );
        for (broken, why) in [
            (&[1u16, 2, 5][..], "it starts with a linear segment"),
            (&[0, 9, 1, 2][..], "a discrete segment is cut"),
            (
                &[0, 1, 5, 2, 1, 0xFFFF, 0xFFFF][..],
                "an indirect offset is past the end",
            ),
            (
                &[0, 1, 5, 2, 1, 3, 0][..],
                "indirect segments nest too deep",
            ),
            (&[7, 1, 5][..], "an unknown segment type"),
        ] {
            assert_eq!(expand_segmented_palette(broken), Err(why), "{broken:?}");
        }
    }
}
