//! Writing a DICOM SEG over a volume read from DICOM: binary, one segment per object, only the
//! frames that hold a segment, in the source's frame of reference and geometry, each frame
//! referencing its source image.

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use sha2::{Digest, Sha256};

use super::elements::{derived_uid, dicom_date_time, ds, put_seq, put_str, put_strs, put_u16};
use super::items::{frame_item, segment_item};
use super::segment::{default_segment, SegmentInfo};
use crate::error::{Error, Result};
use crate::medical::dicom::source::{DicomSource, COPIED};
use crate::medical::volume::{Affine, MedicalVolume};

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
