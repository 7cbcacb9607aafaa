//! Reading a DICOM SEG back over the series it was made for: its segments and a label volume in
//! the source's voxel order.

use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use serde::Serialize;

use super::cielab::dicom_lab_to_srgb;
use super::segment::SegmentAlgorithm;
use crate::error::{Error, Result};
use crate::medical::dicom::attributes::{first_item, floats, int, items, text};
use crate::medical::dicom::object::parse;
use crate::medical::dicom::source::DicomSource;
use crate::medical::volume::MedicalVolume;

/// A DICOM SEG's labels over `volume`, in the source's voxel order, and its segments (see
/// [`read_seg`]); `None` when `bytes` are not a DICOM SEG.
pub fn read_segmentation(
    name: &str,
    bytes: &[u8],
    volume: &MedicalVolume,
) -> Result<Option<(Vec<u32>, Vec<ReadSegment>)>> {
    let dicom = (bytes.len() >= 132 && &bytes[128..132] == b"DICM") || bytes.starts_with(b"DICM");
    if !dicom {
        return Ok(None);
    }
    let object = parse(name, bytes)?;
    if !is_segmentation(&object) {
        return Ok(None);
    }
    read_seg(name, &object, volume).map(Some)
}

/// One segment read from a SEG.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadSegment {
    /// Segment Number in the file.
    pub number: u16,
    /// Segment Label.
    pub name: String,
    /// sRGB from the Recommended Display CIELab Value, if there is one.
    pub colour: Option<[u8; 3]>,
    /// Segment Algorithm Type.
    pub algorithm: Option<SegmentAlgorithm>,
}

/// Whether `obj` is a Segmentation (by its SOP Class UID).
pub(crate) fn is_segmentation(obj: &InMemDicomObject) -> bool {
    text(obj, tags::SOP_CLASS_UID).as_deref() == Some(uids::SEGMENTATION_STORAGE)
}

/// A SEG's segments over `volume` (which it must have been made for): the label volume in the
/// source's voxel order, each voxel the Segment Number of the last segment covering it, and the
/// segments. Frames find their slice by the source image they reference, else by their
/// position; a frame that lies on no slice, another frame size or another frame of reference is
/// refused as made for another scan.
pub(crate) fn read_seg(
    name: &str,
    obj: &InMemDicomObject,
    volume: &MedicalVolume,
) -> Result<(Vec<u32>, Vec<ReadSegment>)> {
    let fail = |message: String| Error::invalid(format!("{name}: DICOM SEG: {message}"));
    let source = volume.dicom.as_deref().ok_or_else(|| {
        fail(format!(
            "it is drawn over a DICOM series, and the open study is {}",
            volume.format
        ))
    })?;
    let [width, height, depth] = volume.orientation.source_size;
    let rows = int(obj, tags::ROWS).unwrap_or(0) as usize;
    let columns = int(obj, tags::COLUMNS).unwrap_or(0) as usize;
    if (columns, rows) != (width, height) {
        return Err(fail(format!(
            "its frames are {columns}x{rows}, the study's slices {width}x{height}: it was made for another scan"
        )));
    }
    if let (Some(theirs), Some(ours)) = (
        text(obj, tags::FRAME_OF_REFERENCE_UID),
        &source.frame_of_reference,
    ) {
        if theirs != *ours {
            return Err(fail(format!(
                "its frame of reference ({theirs}) is not the study's ({ours}): it was made for another scan"
            )));
        }
    }
    let kind = text(obj, tags::SEGMENTATION_TYPE).unwrap_or_default();
    let bits = int(obj, tags::BITS_ALLOCATED).unwrap_or(0);
    let fractional_max = match (kind.as_str(), bits) {
        ("BINARY", 1) => None,
        ("FRACTIONAL", 8) => Some(int(obj, tags::MAXIMUM_FRACTIONAL_VALUE).unwrap_or(255).max(1)),
        _ => {
            return Err(fail(format!(
                "a {kind} segmentation with {bits}-bit pixels; binary (1-bit) and fractional (8-bit) ones are read"
            )))
        }
    };
    let segments: Vec<ReadSegment> = items(obj, tags::SEGMENT_SEQUENCE)
        .iter()
        .map(|item| ReadSegment {
            number: int(item, tags::SEGMENT_NUMBER).unwrap_or(0) as u16,
            name: text(item, tags::SEGMENT_LABEL).unwrap_or_default(),
            colour: item
                .element_opt(tags::RECOMMENDED_DISPLAY_CIE_LAB_VALUE)
                .ok()
                .flatten()
                .and_then(|e| e.uint16_slice().ok().map(|v| v.to_vec()))
                .filter(|v| v.len() == 3)
                .map(|v| dicom_lab_to_srgb([v[0], v[1], v[2]])),
            algorithm: text(item, tags::SEGMENT_ALGORITHM_TYPE)
                .and_then(|c| SegmentAlgorithm::from_code(&c)),
        })
        .collect();
    if segments.is_empty() {
        return Err(fail("it describes no segment".to_string()));
    }
    let frames = int(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(0) as usize;
    let per_frame = items(obj, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE);
    if per_frame.len() != frames {
        return Err(fail(format!(
            "{frames} frames but {} per-frame descriptions",
            per_frame.len()
        )));
    }
    let pixels = obj
        .element_opt(tags::PIXEL_DATA)
        .ok()
        .flatten()
        .and_then(|e| e.to_bytes().ok())
        .ok_or_else(|| {
            fail("no uncompressed Pixel Data (compressed SEGs are not read)".to_string())
        })?;
    let plane = width * height;
    let needed = if fractional_max.is_some() {
        frames as u64 * plane as u64
    } else {
        (frames as u64 * plane as u64).div_ceil(8)
    };
    if (pixels.len() as u64) < needed {
        return Err(fail(format!(
            "its Pixel Data holds {} bytes, {frames} frames of {width}x{height} need {needed}",
            pixels.len()
        )));
    }
    let mut labels = vec![0u32; plane * depth];
    for (f, item) in per_frame.iter().enumerate() {
        let segment = first_item(item, tags::SEGMENT_IDENTIFICATION_SEQUENCE)
            .and_then(|i| int(i, tags::REFERENCED_SEGMENT_NUMBER))
            .or_else(|| {
                // A SEG of one segment may leave the frames' segment to the shared groups.
                let shared = first_item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)?;
                let i = first_item(shared, tags::SEGMENT_IDENTIFICATION_SEQUENCE)?;
                int(i, tags::REFERENCED_SEGMENT_NUMBER)
            })
            .filter(|n| segments.iter().any(|s| s.number as i64 == *n))
            .ok_or_else(|| fail(format!("frame {} names no described segment", f + 1)))?;
        let z = frame_slice(item, source).ok_or_else(|| {
            fail(format!(
                "frame {} lies on no slice of the open series: it was made for another scan",
                f + 1
            ))
        })?;
        let slice = &mut labels[z * plane..(z + 1) * plane];
        for (p, voxel) in slice.iter_mut().enumerate() {
            let at = f * plane + p;
            let on = match fractional_max {
                None => pixels[at / 8] & (1 << (at % 8)) != 0,
                Some(max) => pixels[at] as i64 * 2 >= max,
            };
            if on {
                *voxel = segment as u32;
            }
        }
    }
    Ok((labels, segments))
}

/// The source slice a SEG frame lies on: by its referenced image (and frame), else by position.
fn frame_slice(item: &InMemDicomObject, source: &DicomSource) -> Option<usize> {
    let referenced = first_item(item, tags::DERIVATION_IMAGE_SEQUENCE)
        .and_then(|d| first_item(d, tags::SOURCE_IMAGE_SEQUENCE))
        .and_then(|i| {
            let instance = text(i, tags::REFERENCED_SOP_INSTANCE_UID)?;
            let frame = int(i, tags::REFERENCED_FRAME_NUMBER).map(|f| f as u32);
            source.images.iter().position(|image| {
                image.sop_instance.as_deref() == Some(instance.as_str())
                    && (frame.is_none() || image.frame == frame)
            })
        });
    referenced.or_else(|| {
        let position = first_item(item, tags::PLANE_POSITION_SEQUENCE)
            .and_then(|p| floats(p, tags::IMAGE_POSITION_PATIENT))
            .filter(|p| p.len() == 3)?;
        // Within a hundredth of a millimetre: the same point written with DS's 16 characters.
        source
            .images
            .iter()
            .position(|image| (0..3).all(|i| (image.position[i] - position[i]).abs() < 0.01))
    })
}
