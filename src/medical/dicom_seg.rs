//! DICOM SEG, the segmentation object PACS, OHIF, 3D Slicer and Cornerstone3D exchange: written
//! for a study opened from DICOM (binary, one segment per object, only the frames that hold a
//! segment, in the source's frame of reference and geometry, each frame referencing its source
//! image), and read back over the series it was made for.
//!
//! What a SEG must repeat (patient, study, frame of reference) and reference (each slice's SOP
//! instance) is kept by the DICOM reader as a [`DicomSource`] next to the volume.

use dicom_core::value::DataSetSequence;
use dicom_core::{dicom_value, DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::dicom::{floats, int, text};
use super::volume::Affine;
use super::MedicalVolume;
use crate::error::{Error, Result};

/// Patient and study attributes a derived object repeats, with their VRs (all type 2 in the
/// modules a SEG includes, so written empty when the source lacks them).
const COPIED: [(Tag, VR); 10] = [
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

    fn copied(&self, tag: Tag) -> Option<&str> {
        self.copied
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| v.as_str())
    }
}

/// Image Position (Patient) of source slice `z` from a RAS+ source affine (for slices whose file
/// gives none).
pub(crate) fn position_from_affine(affine: &Affine, z: usize) -> [f64; 3] {
    let ras = [0, 1, 2].map(|r| affine[r][2] * z as f64 + affine[r][3]);
    [-ras[0], -ras[1], ras[2]]
}

/// How a segment was made (DICOM's Segment Algorithm Type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentAlgorithm {
    /// Model output, untouched.
    Automatic,
    /// Model output a person changed, or labels opened from a file.
    Semiautomatic,
    /// Drawn by a person.
    Manual,
}

impl SegmentAlgorithm {
    fn code(self) -> &'static str {
        match self {
            SegmentAlgorithm::Automatic => "AUTOMATIC",
            SegmentAlgorithm::Semiautomatic => "SEMIAUTOMATIC",
            SegmentAlgorithm::Manual => "MANUAL",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        match code {
            "AUTOMATIC" => Some(SegmentAlgorithm::Automatic),
            "SEMIAUTOMATIC" => Some(SegmentAlgorithm::Semiautomatic),
            "MANUAL" => Some(SegmentAlgorithm::Manual),
            _ => None,
        }
    }
}

/// One object as a SEG segment: its label in the label volume, name, display colour and how it
/// was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentInfo {
    /// Its value in the label volume.
    pub label: u16,
    /// Segment Label (a user's name for it).
    pub name: String,
    /// sRGB, written as the Recommended Display CIELab Value.
    pub colour: [u8; 3],
    /// Segment Algorithm Type.
    pub algorithm: SegmentAlgorithm,
}

/// The label a segment gets when the caller describes none: "structure N" after the modality.
pub fn default_segment(volume: &MedicalVolume, label: u16) -> SegmentInfo {
    // The page's default object colours (www/state.js COLORS), in order.
    const COLOURS: [[u8; 3]; 10] = [
        [255, 77, 77],
        [77, 210, 255],
        [255, 210, 77],
        [125, 255, 77],
        [210, 77, 255],
        [255, 159, 77],
        [77, 255, 184],
        [255, 77, 166],
        [77, 125, 255],
        [200, 255, 77],
    ];
    let name = match volume.modality.as_deref() {
        Some(m) if !m.trim().is_empty() => format!("{} structure {label}", m.trim()),
        _ => format!("structure {label}"),
    };
    SegmentInfo {
        label,
        name,
        colour: COLOURS[(label as usize + COLOURS.len() - 1) % COLOURS.len()],
        algorithm: SegmentAlgorithm::Automatic,
    }
}

/// A DICOM SEG of `labels` (the displayed grid, `depth * height * width`) over `volume`, which
/// must have been opened from DICOM. Each label present becomes a segment, numbered 1.. in the
/// order of `segments` (labels it does not describe follow, with [`default_segment`]); empty
/// segments are left out. `algorithm_name` names the model for segments it made;
/// `created_unix_s` (UTC) dates the object. The UIDs are derived from the content, the source
/// and the time, so the same export made twice is the same object.
pub fn write_seg(
    volume: &MedicalVolume,
    labels: &[u16],
    segments: &[SegmentInfo],
    algorithm_name: &str,
    created_unix_s: i64,
) -> Result<Vec<u8>> {
    let source = volume.dicom.as_deref().ok_or_else(|| {
        Error::invalid(format!(
            "a DICOM SEG is made over a study opened from DICOM, this one is {}: export NIfTI (.nii.gz) instead",
            volume.format
        ))
    })?;
    let [width, height, depth] = volume.orientation.source_size;
    if source.images.len() != depth {
        return Err(Error::invalid(format!(
            "the study has {depth} slices but {} source images are known",
            source.images.len()
        )));
    }
    let mut references = Vec::with_capacity(depth);
    for (z, image) in source.images.iter().enumerate() {
        match (&image.sop_class, &image.sop_instance) {
            (Some(class), Some(instance)) => references.push((class.as_str(), instance.as_str())),
            _ => {
                return Err(Error::invalid(format!(
                    "slice {} of the source has no SOP Class or Instance UID, so a DICOM SEG cannot reference it: export NIfTI (.nii.gz) instead",
                    z + 1
                )))
            }
        }
    }
    let labels = volume.labels_in_source_order(labels)?;
    let plane = width * height;

    // The slices each label holds, in order: one pass, constant work per voxel.
    let mut slices_of: Vec<Vec<usize>> = vec![Vec::new(); u16::MAX as usize + 1];
    for (z, slice) in labels.chunks_exact(plane).enumerate() {
        for &l in slice {
            let slices = &mut slices_of[l as usize];
            if l != 0 && slices.last() != Some(&z) {
                slices.push(z);
            }
        }
    }
    // The segments, in order (labels `segments` leave out follow), each with its slices.
    let mut described = vec![false; u16::MAX as usize + 1];
    let mut written: Vec<(SegmentInfo, Vec<usize>)> = Vec::new();
    for s in segments {
        if std::mem::replace(&mut described[s.label as usize], true) {
            return Err(Error::invalid(format!(
                "label {} is described twice",
                s.label
            )));
        }
        written.push((s.clone(), std::mem::take(&mut slices_of[s.label as usize])));
    }
    for (l, slices) in slices_of.into_iter().enumerate().skip(1) {
        if !described[l] && !slices.is_empty() {
            written.push((default_segment(volume, l as u16), slices));
        }
    }
    written.retain(|(_, slices)| !slices.is_empty());
    if written.is_empty() {
        return Err(Error::invalid(
            "nothing is segmented yet: a DICOM SEG needs at least one object",
        ));
    }
    let frames: usize = written.iter().map(|(_, s)| s.len()).sum();
    // One bit per pixel, frames packed back to back; bounded like any decoded image.
    let bits = frames as u64 * plane as u64;
    let bytes = bits.div_ceil(8).next_multiple_of(2);
    if bytes > crate::limits::MAX_DECODED_BYTES {
        return Err(Error::invalid(format!(
            "the DICOM SEG would hold {} of frames, more than the {} allowed",
            crate::limits::size_text(bytes),
            crate::limits::size_text(crate::limits::MAX_DECODED_BYTES)
        )));
    }

    // UIDs from the content: the source, the labels, the descriptions and the time.
    let mut seed = Sha256::new();
    seed.update(b"daftseg DICOM SEG\0");
    for (_, instance) in &references {
        seed.update(instance.as_bytes());
        seed.update([0]);
    }
    for l in &labels {
        seed.update(l.to_le_bytes());
    }
    seed.update(serde_json::to_vec(&segments).unwrap_or_default());
    seed.update(algorithm_name.as_bytes());
    seed.update(created_unix_s.to_le_bytes());
    let seed = seed.finalize();
    let uid = |purpose: &str| derived_uid(&seed, purpose);
    let (date, time) = dicom_date_time(created_unix_s);

    let mut obj = InMemDicomObject::new_empty();
    // SOP Common
    put_str(&mut obj, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
    put_str(
        &mut obj,
        tags::SOP_CLASS_UID,
        VR::UI,
        uids::SEGMENTATION_STORAGE,
    );
    put_str(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, &uid("instance"));
    put_str(&mut obj, tags::INSTANCE_CREATION_DATE, VR::DA, &date);
    put_str(&mut obj, tags::INSTANCE_CREATION_TIME, VR::TM, &time);
    put_str(&mut obj, tags::TIMEZONE_OFFSET_FROM_UTC, VR::SH, "+0000");
    // Patient and General Study, as the source has them.
    for (tag, vr) in COPIED {
        let value = match source.copied(tag) {
            Some(v) => v.to_string(),
            // A study without its UID: the SEG starts one (it cannot join an unknown study).
            None if tag == tags::STUDY_INSTANCE_UID => uid("study"),
            None => String::new(),
        };
        put_str(&mut obj, tag, vr, &value);
    }
    // General Series and Segmentation Series
    put_str(&mut obj, tags::MODALITY, VR::CS, "SEG");
    put_str(&mut obj, tags::SERIES_INSTANCE_UID, VR::UI, &uid("series"));
    put_str(&mut obj, tags::SERIES_NUMBER, VR::IS, "300");
    put_str(&mut obj, tags::SERIES_DATE, VR::DA, &date);
    put_str(&mut obj, tags::SERIES_TIME, VR::TM, &time);
    put_str(
        &mut obj,
        tags::SERIES_DESCRIPTION,
        VR::LO,
        "daftseg segmentation",
    );
    // Frame of Reference: the source's (a source without one gets a new one).
    let frame_of_reference = source
        .frame_of_reference
        .clone()
        .unwrap_or_else(|| uid("frame-of-reference"));
    put_str(
        &mut obj,
        tags::FRAME_OF_REFERENCE_UID,
        VR::UI,
        &frame_of_reference,
    );
    put_str(&mut obj, tags::POSITION_REFERENCE_INDICATOR, VR::LO, "");
    // General and Enhanced General Equipment
    put_str(&mut obj, tags::MANUFACTURER, VR::LO, "daftseg");
    put_str(&mut obj, tags::MANUFACTURER_MODEL_NAME, VR::LO, "daftseg");
    put_str(&mut obj, tags::DEVICE_SERIAL_NUMBER, VR::LO, "1");
    put_str(
        &mut obj,
        tags::SOFTWARE_VERSIONS,
        VR::LO,
        env!("CARGO_PKG_VERSION"),
    );
    // General Image, Segmentation Image, Multi-frame Functional Groups
    put_str(&mut obj, tags::INSTANCE_NUMBER, VR::IS, "1");
    put_str(&mut obj, tags::CONTENT_DATE, VR::DA, &date);
    put_str(&mut obj, tags::CONTENT_TIME, VR::TM, &time);
    put_strs(&mut obj, tags::IMAGE_TYPE, VR::CS, &["DERIVED", "PRIMARY"]);
    put_str(&mut obj, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00");
    put_str(&mut obj, tags::CONTENT_LABEL, VR::CS, "DAFTSEG");
    put_str(
        &mut obj,
        tags::CONTENT_DESCRIPTION,
        VR::LO,
        "Segmentation made with daftseg",
    );
    put_str(&mut obj, tags::CONTENT_CREATOR_NAME, VR::PN, "");
    put_str(&mut obj, tags::SEGMENTATION_TYPE, VR::CS, "BINARY");
    let segment_items = written
        .iter()
        .enumerate()
        .map(|(i, (s, _))| segment_item(i + 1, s, algorithm_name))
        .collect();
    put_seq(&mut obj, tags::SEGMENT_SEQUENCE, segment_items);
    // Image Pixel
    put_u16(&mut obj, tags::SAMPLES_PER_PIXEL, 1);
    put_str(
        &mut obj,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2",
    );
    put_u16(&mut obj, tags::ROWS, height as u16);
    put_u16(&mut obj, tags::COLUMNS, width as u16);
    put_u16(&mut obj, tags::BITS_ALLOCATED, 1);
    put_u16(&mut obj, tags::BITS_STORED, 1);
    put_u16(&mut obj, tags::HIGH_BIT, 0);
    put_u16(&mut obj, tags::PIXEL_REPRESENTATION, 0);
    put_str(
        &mut obj,
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        &frames.to_string(),
    );

    // Geometry shared by every frame: the source's plane orientation and pixel measures.
    let step = source_slice_step(source, &volume.orientation.source_affine);
    let mut orientation = InMemDicomObject::new_empty();
    put_strs(
        &mut orientation,
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        &source.orientation.map(ds),
    );
    let mut measures = InMemDicomObject::new_empty();
    put_strs(
        &mut measures,
        tags::PIXEL_SPACING,
        VR::DS,
        &source.pixel_spacing.map(ds),
    );
    put_str(
        &mut measures,
        tags::SLICE_THICKNESS,
        VR::DS,
        &ds(source.slice_thickness.unwrap_or(step)),
    );
    put_str(
        &mut measures,
        tags::SPACING_BETWEEN_SLICES,
        VR::DS,
        &ds(step),
    );
    let mut shared = InMemDicomObject::new_empty();
    put_seq(
        &mut shared,
        tags::PLANE_ORIENTATION_SEQUENCE,
        vec![orientation],
    );
    put_seq(&mut shared, tags::PIXEL_MEASURES_SEQUENCE, vec![measures]);
    put_seq(
        &mut obj,
        tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
        vec![shared],
    );

    // Dimensions: segment, then position along the slices.
    let dimension_uid = uid("dimensions");
    let mut organization = InMemDicomObject::new_empty();
    put_str(
        &mut organization,
        tags::DIMENSION_ORGANIZATION_UID,
        VR::UI,
        &dimension_uid,
    );
    put_seq(
        &mut obj,
        tags::DIMENSION_ORGANIZATION_SEQUENCE,
        vec![organization],
    );
    put_str(&mut obj, tags::DIMENSION_ORGANIZATION_TYPE, VR::CS, "3D");
    let dimension = |pointer: Tag, group: Tag, label: &str| {
        let mut item = InMemDicomObject::new_empty();
        put_str(
            &mut item,
            tags::DIMENSION_ORGANIZATION_UID,
            VR::UI,
            &dimension_uid,
        );
        item.put(DataElement::new(
            tags::DIMENSION_INDEX_POINTER,
            VR::AT,
            PrimitiveValue::Tags([pointer].into_iter().collect()),
        ));
        item.put(DataElement::new(
            tags::FUNCTIONAL_GROUP_POINTER,
            VR::AT,
            PrimitiveValue::Tags([group].into_iter().collect()),
        ));
        put_str(&mut item, tags::DIMENSION_DESCRIPTION_LABEL, VR::LO, label);
        item
    };
    put_seq(
        &mut obj,
        tags::DIMENSION_INDEX_SEQUENCE,
        vec![
            dimension(
                tags::REFERENCED_SEGMENT_NUMBER,
                tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                "ReferencedSegmentNumber",
            ),
            dimension(
                tags::IMAGE_POSITION_PATIENT,
                tags::PLANE_POSITION_SEQUENCE,
                "ImagePositionPatient",
            ),
        ],
    );

    // Per frame: its source image, its position, its segment; and its pixels.
    let mut per_frame = Vec::with_capacity(frames);
    let mut pixels = vec![0u8; bytes as usize];
    let mut bit = 0usize;
    for (number, (segment, slices)) in written.iter().enumerate() {
        let number = number + 1;
        for &z in slices {
            per_frame.push(frame_item(source, &references, number, z));
            for &l in &labels[z * plane..(z + 1) * plane] {
                if l == segment.label {
                    pixels[bit / 8] |= 1 << (bit % 8);
                }
                bit += 1;
            }
        }
    }
    put_seq(
        &mut obj,
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        per_frame,
    );

    // Common Instance Reference: every source image the frames reference.
    let mut referenced: Vec<(&str, &str)> = Vec::new();
    for (_, slices) in &written {
        for &z in slices {
            if !referenced.contains(&references[z]) {
                referenced.push(references[z]);
            }
        }
    }
    let instances = referenced
        .iter()
        .map(|(class, instance)| {
            let mut item = InMemDicomObject::new_empty();
            put_str(&mut item, tags::REFERENCED_SOP_CLASS_UID, VR::UI, class);
            put_str(
                &mut item,
                tags::REFERENCED_SOP_INSTANCE_UID,
                VR::UI,
                instance,
            );
            item
        })
        .collect();
    let mut series = InMemDicomObject::new_empty();
    let source_series = source
        .series_uid
        .clone()
        .unwrap_or_else(|| uid("source-series"));
    put_str(
        &mut series,
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        &source_series,
    );
    put_seq(&mut series, tags::REFERENCED_INSTANCE_SEQUENCE, instances);
    put_seq(&mut obj, tags::REFERENCED_SERIES_SEQUENCE, vec![series]);

    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::U8(pixels.into()),
    ));

    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .implementation_class_uid(derived_uid(b"daftseg", "implementation"))
                .implementation_version_name(concat!("DAFTSEG_", env!("CARGO_PKG_VERSION"))),
        )
        .map_err(|e| Error::invalid(format!("cannot make the DICOM SEG's file header: {e}")))?;
    let mut out = Vec::new();
    file.write_all(&mut out)
        .map_err(|e| Error::invalid(format!("cannot write the DICOM SEG: {e}")))?;
    Ok(out)
}

/// The distance between source slices along their normal (mm).
fn source_slice_step(source: &DicomSource, affine: &Affine) -> f64 {
    match source.images.as_slice() {
        [a, .., b] => {
            let d = [0, 1, 2].map(|i| b.position[i] - a.position[i]);
            (d.iter().map(|v| v * v).sum::<f64>()).sqrt() / (source.images.len() - 1) as f64
        }
        _ => source
            .slice_thickness
            .unwrap_or_else(|| (0..3).map(|r| affine[r][2].powi(2)).sum::<f64>().sqrt()),
    }
}

fn segment_item(number: usize, s: &SegmentInfo, algorithm_name: &str) -> InMemDicomObject {
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

fn frame_item(
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

fn items(obj: &InMemDicomObject, tag: Tag) -> &[InMemDicomObject] {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.items())
        .unwrap_or(&[])
}

fn first_item(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    items(obj, tag).first()
}

fn put_str(obj: &mut InMemDicomObject, tag: Tag, vr: VR, value: &str) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

fn put_strs<S: AsRef<str>>(obj: &mut InMemDicomObject, tag: Tag, vr: VR, values: &[S]) {
    let values = values.iter().map(|v| v.as_ref().to_string()).collect();
    obj.put(DataElement::new(tag, vr, PrimitiveValue::Strs(values)));
}

fn put_u16(obj: &mut InMemDicomObject, tag: Tag, value: u16) {
    obj.put(DataElement::new(tag, VR::US, dicom_value!(U16, [value])));
}

fn put_seq(obj: &mut InMemDicomObject, tag: Tag, items: Vec<InMemDicomObject>) {
    obj.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

fn code(value: &str, scheme: &str, meaning: &str) -> InMemDicomObject {
    let mut item = InMemDicomObject::new_empty();
    put_str(&mut item, tags::CODE_VALUE, VR::SH, value);
    put_str(&mut item, tags::CODING_SCHEME_DESIGNATOR, VR::SH, scheme);
    put_str(&mut item, tags::CODE_MEANING, VR::LO, meaning);
    item
}

/// A UID under the 2.25 root (a 128-bit number, as UUIDs are written) from `seed` and
/// `purpose`.
fn derived_uid(seed: &[u8], purpose: &str) -> String {
    let hash = Sha256::new()
        .chain_update(seed)
        .chain_update(purpose.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    format!("2.25.{}", u128::from_be_bytes(bytes))
}

/// A decimal string (DS) of at most 16 characters, as precise as that allows.
pub(crate) fn ds(value: f64) -> String {
    if !value.is_finite() {
        return "0".to_string();
    }
    for decimals in (0..=10).rev() {
        let mut s = format!("{value:.decimals$}");
        if s.contains('.') {
            s = s.trim_end_matches('0').trim_end_matches('.').to_string();
        }
        if s == "-0" {
            s = "0".to_string();
        }
        if s.len() <= 16 {
            return s;
        }
    }
    format!("{value:.6e}")
}

/// DICOM date (YYYYMMDD) and time (HHMMSS) of a UTC time in seconds since 1970.
pub fn dicom_date_time(unix_s: i64) -> (String, String) {
    let days = unix_s.div_euclid(86_400);
    let seconds = unix_s.rem_euclid(86_400);
    // Days to the civil calendar (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}{month:02}{day:02}"),
        format!(
            "{:02}{:02}{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        ),
    )
}

// CIELab (D65 white, as highdicom and dcmqi convert) scaled to DICOM's 16-bit values.
const WHITE: [f64; 3] = [0.950_47, 1.0, 1.088_83];

fn srgb_to_linear(c: u8) -> f64 {
    let c = c as f64 / 255.0;
    if c <= 0.040_45 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb(c: f64) -> u8 {
    let c = if c <= 0.003_130_8 {
        12.92 * c
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    };
    (c * 255.0).round().clamp(0.0, 255.0) as u8
}

/// sRGB to DICOM's Recommended Display CIELab Value.
pub fn srgb_to_dicom_lab(rgb: [u8; 3]) -> [u16; 3] {
    let [r, g, b] = rgb.map(srgb_to_linear);
    let xyz = [
        0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b,
        0.212_672_9 * r + 0.715_152_2 * g + 0.072_175_0 * b,
        0.019_333_9 * r + 0.119_192_0 * g + 0.950_304_1 * b,
    ];
    let f = |t: f64| {
        const D: f64 = 6.0 / 29.0;
        if t > D * D * D {
            t.cbrt()
        } else {
            t / (3.0 * D * D) + 4.0 / 29.0
        }
    };
    let [fx, fy, fz] = [0, 1, 2].map(|i| f(xyz[i] / WHITE[i]));
    let lab = [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)];
    [
        (lab[0] * 65535.0 / 100.0).round().clamp(0.0, 65535.0) as u16,
        ((lab[1] + 128.0) * 65535.0 / 255.0)
            .round()
            .clamp(0.0, 65535.0) as u16,
        ((lab[2] + 128.0) * 65535.0 / 255.0)
            .round()
            .clamp(0.0, 65535.0) as u16,
    ]
}

/// DICOM's Recommended Display CIELab Value to sRGB.
pub fn dicom_lab_to_srgb(lab: [u16; 3]) -> [u8; 3] {
    let l = lab[0] as f64 * 100.0 / 65535.0;
    let a = lab[1] as f64 * 255.0 / 65535.0 - 128.0;
    let b = lab[2] as f64 * 255.0 / 65535.0 - 128.0;
    let fy = (l + 16.0) / 116.0;
    let f = [fy + a / 500.0, fy, fy - b / 200.0];
    let inverse = |t: f64| {
        const D: f64 = 6.0 / 29.0;
        if t > D {
            t * t * t
        } else {
            3.0 * D * D * (t - 4.0 / 29.0)
        }
    };
    let [x, y, z] = [0, 1, 2].map(|i| inverse(f[i]) * WHITE[i]);
    let rgb = [
        3.240_454_2 * x - 1.537_138_5 * y - 0.498_531_4 * z,
        -0.969_266_0 * x + 1.876_010_8 * y + 0.041_556_0 * z,
        0.055_643_4 * x - 0.204_025_9 * y + 1.057_225_2 * z,
    ];
    rgb.map(linear_to_srgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_survive_the_round_trip_through_cielab() {
        for r in (0..=255).step_by(15) {
            for g in (0..=255).step_by(17) {
                for b in (0..=255).step_by(51) {
                    let rgb = [r as u8, g as u8, b as u8];
                    assert_eq!(dicom_lab_to_srgb(srgb_to_dicom_lab(rgb)), rgb);
                }
            }
        }
        // White is L* 100, a* b* 0 (128 in the scaled range).
        assert_eq!(srgb_to_dicom_lab([255, 255, 255]), [65535, 32896, 32896]);
    }

    #[test]
    fn decimal_strings_fit_sixteen_characters() {
        assert_eq!(ds(0.703125), "0.703125");
        assert_eq!(ds(-0.0), "0");
        assert_eq!(ds(2.5), "2.5");
        assert_eq!(ds(-166.0), "-166");
        let long = ds(-123.456_789_012_345_67);
        assert!(
            long.len() <= 16 && long.starts_with("-123.4567890"),
            "{long}"
        );
        assert_eq!(ds(1.0e-20), "0");
    }

    #[test]
    fn dates_follow_the_calendar() {
        assert_eq!(dicom_date_time(0), ("19700101".into(), "000000".into()));
        // 2024-02-29 12:34:56 UTC.
        assert_eq!(
            dicom_date_time(1_709_210_096),
            ("20240229".into(), "123456".into())
        );
        assert_eq!(dicom_date_time(-1), ("19691231".into(), "235959".into()));
    }

    #[test]
    fn uids_are_valid_and_differ_by_purpose() {
        let a = derived_uid(b"seed", "series");
        let b = derived_uid(b"seed", "instance");
        assert_ne!(a, b);
        for uid in [a, b] {
            assert!(uid.len() <= 64 && uid.starts_with("2.25."));
            assert!(uid.split('.').all(|c| !c.is_empty()
                && c.bytes().all(|d| d.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))));
        }
    }
}
