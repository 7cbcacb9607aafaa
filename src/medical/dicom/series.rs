//! Files to one volume: single files, multi-frame files and series given as several files (the
//! largest series among them, sorted along the slice normal by Image Position, else by Instance
//! Number), with the geometry, the modality and the [`DicomSource`] a DICOM SEG needs.

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::attributes::{floats, floats_in, int, text, PER_FRAME, SHARED};
pub use super::files::SeriesFiles;
use super::geometry::{affine_lps_to_ras, cross, dot, plane, position_from_affine};
use super::object::{error, normalise, parse, Object};
use super::pixeldata::pixels;
use super::source::{DicomSource, SourceImage};
use crate::error::{Error, Result};
use crate::medical::volume::{Affine, MedicalVolume};
use crate::medical::voxels::VoxelsBuilder;
use crate::progress::{report, unobserved, Progress};

/// One parsed file and the values a series needs. Its pixels are read again (the second
/// pass) when it is decoded into the volume.
struct Slice {
    name: String,
    /// Which file.
    index: usize,
    /// The header, without the pixels (a single file's keeps them).
    object: Object,
    series: String,
    position: Option<[f64; 3]>,
    instance: i64,
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

/// Reads one file or a series of files (name, bytes) into one volume in the source's voxel order.
/// A folder holding several series gives its largest one (and says so in `notes`).
/// Each file's bytes are let go once decoded, so a series is not held twice while it opens.
pub fn read_series(mut files: Vec<(String, Vec<u8>)>) -> Result<MedicalVolume> {
    read_series_with(&mut files, &mut unobserved)
}

/// [`read_series`], telling `progress` (files parsed plus slices decoded, of twice the files) as
/// it goes; `false` cancels.
///
/// Two passes: every file's header (its pixels dropped at once), then, in the series' order, each
/// file again, decoded straight into the volume's storage.
pub fn read_series_with(files: &mut dyn SeriesFiles, progress: Progress) -> Result<MedicalVolume> {
    let file_count = files.count();
    if file_count == 0 {
        return Err(Error::invalid("no DICOM files were given"));
    }
    let mut slices = Vec::new();
    let mut skipped = Vec::new();
    for index in 0..file_count {
        report(progress, index, 2 * file_count)?;
        let name = files.name(index);
        let single = file_count == 1;
        let parsed = parse(&name, &files.bytes(index, single)?);
        let object = match parsed {
            Ok(mut o) => {
                normalise(&mut o);
                o
            }
            // In a folder, other files (DICOMDIR, notes) are skipped; a single file must parse.
            Err(e) if file_count > 1 => {
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
            if file_count == 1 {
                return Err(error(&name, without_pixels(&object)));
            }
            skipped.push(format!("{name} (no image)"));
            continue;
        }
        let position = floats(&object, tags::IMAGE_POSITION_PATIENT)
            .filter(|p| p.len() == 3)
            .map(|p| [p[0], p[1], p[2]]);
        let mut object = object;
        if !single {
            // Read again when its turn comes.
            let _ = object.take_element(tags::PIXEL_DATA);
        }
        slices.push(Slice {
            name,
            index,
            series: text(&object, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
            instance: int(&object, tags::INSTANCE_NUMBER).unwrap_or(0),
            position,
            object,
        });
    }
    if slices.is_empty() {
        return Err(Error::Decode(format!(
            "none of the {} files is a DICOM image: {}",
            file_count,
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
        if file_count == 1 {
            single_object(&s.name, &s.object)?
        } else {
            single_object(&s.name, &full_object(files, &s)?)?
        }
    } else {
        let mut step = |done, _| progress(file_count + done, 2 * file_count);
        series(slices, files, &mut step)?
    };
    volume.notes.extend(notes);
    Ok(volume)
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

/// Slice `s`'s file parsed again with its pixels (the last time it is asked for).
fn full_object(files: &mut dyn SeriesFiles, s: &Slice) -> Result<Object> {
    let mut object = parse(&s.name, &files.bytes(s.index, true)?)?;
    normalise(&mut object);
    Ok(object)
}

fn series(
    mut slices: Vec<Slice>,
    files: &mut dyn SeriesFiles,
    progress: Progress,
) -> Result<MedicalVolume> {
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
    let mut data = None;
    let mut shape = None;
    let mut frames_total = 0;
    let mut images = Vec::new();
    let count = slices.len();
    for (done, s) in slices.iter_mut().enumerate() {
        report(progress, done, count)?;
        let (columns, rows, frames, channels, pixels) = pixels(&s.name, &full_object(files, s)?)?;
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
        data.get_or_insert_with(|| VoxelsBuilder::new(pixels.len() * count))
            .push(&pixels.to_f32());
    }
    let data = data.expect("at least one slice").finish();
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
