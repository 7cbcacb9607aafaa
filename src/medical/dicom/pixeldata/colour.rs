//! Colour: YBR to RGB, the uncompressed colour layouts dicom-rs does not unpack (YBR_FULL_422,
//! planar RGB), and PALETTE COLOR through its lookup tables, segmented ones included.

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::encoding::{words_u16, Pixels};
use crate::error::Result;
use crate::medical::dicom::attributes::{int, text};
use crate::medical::dicom::object::{error, Object};

/// One YBR_FULL pixel (Y, Cb, Cr; 8-bit) to RGB in place, as PS3.3 C.7.6.3.1.2 defines it.
pub(super) fn ybr_to_rgb(px: &mut [f32]) {
    let (y, cb, cr) = (px[0], px[1] - 128.0, px[2] - 128.0);
    px[0] = (y + 1.402 * cr).round().clamp(0.0, 255.0);
    px[1] = (y - 0.344136 * cb - 0.714136 * cr)
        .round()
        .clamp(0.0, 255.0);
    px[2] = (y + 1.772 * cb).round().clamp(0.0, 255.0);
}

/// Uncompressed 8-bit YBR_FULL_422 (two pixels stored as Y0 Y1 Cb Cr, sharing their chroma),
/// which dicom-rs does not unpack: expanded and converted to RGB here. `None` for anything else.
pub(super) fn ybr_full_422(name: &str, obj: &Object) -> Option<Result<Pixels>> {
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
pub(super) fn planar_rgb(name: &str, obj: &Object) -> Option<Result<Pixels>> {
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

/// PALETTE COLOR through its red, green and blue lookup tables, scaled to 0..255.
pub(super) fn palette_to_rgb(
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

#[cfg(test)]
mod tests {
    use super::expand_segmented_palette;

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
