//! RLE Lossless (PS3.5 Annex G): every segment checked before dicom-rs's decoder reads it, and
//! the 32-bit frames (dose grids) its decoder stops short of, decoded here.

use dicom_core::Tag;
use dicom_dictionary_std::tags;

use super::encoding::{encapsulated_fragments, Pixels};
use super::samples_32bit::scale_32bit;
use crate::error::Result;
use crate::medical::dicom::attributes::{floats, int};
use crate::medical::dicom::object::{error, Object};

/// dicom-rs's RLE decoder indexes past the end of a short segment (a panic, which in wasm would
/// kill the engine), so every frame's segments are checked to decode to a whole plane first.
pub(super) fn check_rle(name: &str, obj: &Object) -> Result<()> {
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

/// Single-channel 32-bit RLE (RT dose grids): each frame is one fragment of four PackBits
/// segments, the samples' bytes from most to least significant (PS3.5 G.2). `pixels` has checked
/// the budget, and check_rle that every segment decodes to a whole plane.
pub(super) fn rle_32bit(name: &str, obj: &Object) -> Result<Pixels> {
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
