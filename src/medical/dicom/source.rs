//! What the reader keeps next to a volume read from DICOM, so that a DICOM SEG over it can repeat
//! the patient, study and frame of reference and reference each source slice. The reader fills
//! it, the SEG code reads it and `MedicalVolume` carries it; it imports only `attributes`,
//! so none of them imports another for it.

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::attributes::text;

/// Patient and study attributes a derived object repeats, with their VRs (all type 2 in the
/// modules a SEG includes, so written empty when the source lacks them).
pub(super) const COPIED: [(Tag, VR); 10] = [
    (tags::PATIENT_NAME, VR::PN),
    (tags::PATIENT_ID, VR::LO),
    (tags::PATIENT_BIRTH_DATE, VR::DA),
    (tags::PATIENT_SEX, VR::CS),
    (tags::STUDY_INSTANCE_UID, VR::UI),
    (tags::STUDY_DATE, VR::DA),
    (tags::STUDY_TIME, VR::TM),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
    (tags::STUDY_ID, VR::SH),
    (tags::ACCESSION_NUMBER, VR::SH),
];

/// One source slice (in the source's voxel order): the image a SEG frame over it references.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceImage {
    /// SOP Class UID.
    pub sop_class: Option<String>,
    /// SOP Instance UID.
    pub sop_instance: Option<String>,
    /// The frame (from 1) of a multi-frame image; `None` for a single-frame one.
    pub frame: Option<u32>,
    /// Image Position (Patient), LPS mm: the slice's first voxel.
    pub position: [f64; 3],
}

/// What a DICOM SEG over this volume repeats and references.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DicomSource {
    /// The [`COPIED`] attributes the source has.
    pub copied: Vec<(Tag, String)>,
    /// The source's Series Instance UID.
    pub series_uid: Option<String>,
    /// The source's Frame of Reference UID.
    pub frame_of_reference: Option<String>,
    /// One per source slice, in the source's slice order.
    pub images: Vec<SourceImage>,
    /// Image Orientation (Patient): row then column direction cosines (LPS).
    pub orientation: [f64; 6],
    /// Pixel Spacing: between rows, between columns (mm).
    pub pixel_spacing: [f64; 2],
    /// Slice Thickness, if the source says.
    pub slice_thickness: Option<f64>,
}

impl DicomSource {
    /// The [`COPIED`] attributes of `obj` (the first image of a series).
    pub(crate) fn copy_attributes(obj: &InMemDicomObject) -> Vec<(Tag, String)> {
        COPIED
            .iter()
            .filter_map(|&(tag, _)| Some((tag, text(obj, tag)?)))
            .collect()
    }

    pub(super) fn copied(&self, tag: Tag) -> Option<&str> {
        self.copied
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_str())
    }
}
