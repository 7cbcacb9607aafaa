//! JPEG (baseline, extended, lossless): each frame's own header checked against the DICOM header
//! before dicom-rs's decoder copies it.

use dicom_dictionary_std::tags;

use super::encoding::encapsulated_fragments;
use crate::error::Result;
use crate::medical::dicom::attributes::int;
use crate::medical::dicom::object::{error, Object};

/// dicom-rs copies each decoded JPEG frame into a buffer sized from the DICOM header, and panics
/// (in wasm: a dead engine) when a frame's own header (its SOF segment) describes a larger image.
/// So every frame's size and component count must be the DICOM header's before it decodes.
pub(super) fn check_jpeg_frames(name: &str, obj: &Object) -> Result<()> {
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

#[cfg(test)]
mod tests {

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
}
