//! The SEG's items per segment (Segment Sequence) and per frame (its source image, position and
//! segment in the Per-frame Functional Groups).

use dicom_core::{dicom_value, DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::cielab::srgb_to_dicom_lab;
use super::elements::{code, ds, put_seq, put_str, put_strs, put_u16};
use super::segment::{SegmentAlgorithm, SegmentInfo};
use crate::medical::dicom::source::DicomSource;

pub(super) fn segment_item(
    number: usize,
    s: &SegmentInfo,
    algorithm_name: &str,
) -> InMemDicomObject {
    let mut item = InMemDicomObject::new_empty();
    put_u16(&mut item, tags::SEGMENT_NUMBER, number as u16);
    let name = if s.name.trim().is_empty() {
        format!("segment {number}")
    } else {
        // LO holds 64 characters.
        s.name.trim().chars().take(64).collect()
    };
    put_str(&mut item, tags::SEGMENT_LABEL, VR::LO, &name);
    put_str(
        &mut item,
        tags::SEGMENT_ALGORITHM_TYPE,
        VR::CS,
        s.algorithm.code(),
    );
    if s.algorithm != SegmentAlgorithm::Manual {
        let algorithm: String = algorithm_name.chars().take(64).collect();
        put_str(&mut item, tags::SEGMENT_ALGORITHM_NAME, VR::LO, &algorithm);
    }
    // What the segment is, is not known: DICOM's generic "Tissue" (as 3D Slicer's default).
    put_seq(
        &mut item,
        tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE,
        vec![code("85756007", "SCT", "Tissue")],
    );
    put_seq(
        &mut item,
        tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE,
        vec![code("85756007", "SCT", "Tissue")],
    );
    item.put(DataElement::new(
        tags::RECOMMENDED_DISPLAY_CIE_LAB_VALUE,
        VR::US,
        PrimitiveValue::U16(srgb_to_dicom_lab(s.colour).into_iter().collect()),
    ));
    item
}

pub(super) fn frame_item(
    source: &DicomSource,
    references: &[(&str, &str)],
    segment: usize,
    z: usize,
) -> InMemDicomObject {
    let (class, instance) = references[z];
    let mut image = InMemDicomObject::new_empty();
    put_str(&mut image, tags::REFERENCED_SOP_CLASS_UID, VR::UI, class);
    put_str(
        &mut image,
        tags::REFERENCED_SOP_INSTANCE_UID,
        VR::UI,
        instance,
    );
    if let Some(frame) = source.images[z].frame {
        put_str(
            &mut image,
            tags::REFERENCED_FRAME_NUMBER,
            VR::IS,
            &frame.to_string(),
        );
    }
    // The frame is the source image's own pixel grid (viewers may index frames by source).
    put_str(&mut image, tags::SPATIAL_LOCATIONS_PRESERVED, VR::CS, "YES");
    put_seq(
        &mut image,
        tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
        vec![code(
            "121322",
            "DCM",
            "Source image for image processing operation",
        )],
    );
    let mut derivation = InMemDicomObject::new_empty();
    put_seq(&mut derivation, tags::SOURCE_IMAGE_SEQUENCE, vec![image]);
    put_seq(
        &mut derivation,
        tags::DERIVATION_CODE_SEQUENCE,
        vec![code("113076", "DCM", "Segmentation")],
    );
    let mut content = InMemDicomObject::new_empty();
    content.put(DataElement::new(
        tags::DIMENSION_INDEX_VALUES,
        VR::UL,
        dicom_value!(U32, [segment as u32, z as u32 + 1]),
    ));
    let mut position = InMemDicomObject::new_empty();
    put_strs(
        &mut position,
        tags::IMAGE_POSITION_PATIENT,
        VR::DS,
        &source.images[z].position.map(ds),
    );
    let mut identification = InMemDicomObject::new_empty();
    put_u16(
        &mut identification,
        tags::REFERENCED_SEGMENT_NUMBER,
        segment as u16,
    );
    let mut item = InMemDicomObject::new_empty();
    put_seq(&mut item, tags::DERIVATION_IMAGE_SEQUENCE, vec![derivation]);
    put_seq(&mut item, tags::FRAME_CONTENT_SEQUENCE, vec![content]);
    put_seq(&mut item, tags::PLANE_POSITION_SEQUENCE, vec![position]);
    put_seq(
        &mut item,
        tags::SEGMENT_IDENTIFICATION_SEQUENCE,
        vec![identification],
    );
    item
}
