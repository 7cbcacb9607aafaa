//! The open study's labels as files and numbers: export (PNG, NIfTI, NPZ, DICOM SEG), label files
//! opened over the study, measurements.

use image::DynamicImage;
use serde::Serialize;

use crate::challenge::read_labels;
use crate::error::{Error, Result};
use crate::export::{export_volume_labels, label_png, VolumeExport};
use crate::label_value::LabelValue;
use crate::labels::{check_geometry, renumber, OpenedLabels};
use crate::measure::{measure, measurements_csv, Grid, Intensities, Measurement};
use crate::medical::dicom_seg::{write_seg, SegmentInfo};
use crate::medical::read_volume;
use crate::medical::window::luma;
use crate::postprocess::LabelMap;
use crate::rgb::decode_image;
use crate::session::state::Session;

/// [`Session::measure`]'s rows and unit with their CSV: what a frontend's measurement panel
/// shows.
#[derive(Serialize)]
pub struct MeasureReport {
    /// Per object in 3D and per slice.
    pub rows: Vec<Measurement>,
    /// "HU" for CT from DICOM, else empty.
    pub unit: &'static str,
    /// The rows as [`measurements_csv`] writes them.
    pub csv: String,
}

impl Session {
    /// Labels of the open study as a file, chosen by `file_name`'s ending. An image's labels
    /// (`width * height`) become a `.png`; a volume's (`depth * height * width`) a `.nii.gz` /
    /// `.nii` in the source's geometry, a challenge `.npz`, or one slice as `.png`.
    pub fn export<L: LabelValue>(
        &self,
        labels: Vec<L>,
        file_name: &str,
        slice: Option<usize>,
    ) -> Result<Vec<u8>> {
        let study = self.study()?;
        match &study.volume {
            Some((volume, _)) => {
                let format = VolumeExport::from_file_name(file_name, slice)?;
                export_volume_labels(volume, &labels, format)
            }
            None => {
                if !file_name.to_ascii_lowercase().ends_with(".png") {
                    return Err(Error::invalid(format!(
                        "{file_name}: an image's labels are written as .png"
                    )));
                }
                let (width, height) = (study.image.width, study.image.height);
                if width.checked_mul(height) != Some(labels.len()) {
                    return Err(Error::invalid(format!(
                        "{} labels for a {width}x{height} image",
                        labels.len()
                    )));
                }
                label_png(&LabelMap {
                    width,
                    height,
                    labels: labels.into_iter().map(Into::into).collect(),
                })
            }
        }
    }

    /// The labels of the open study (a volume opened from DICOM: `depth * height * width`) as a
    /// DICOM SEG (see [`crate::medical::dicom_seg::write_seg`]): one segment per object, named,
    /// coloured and typed as `segments` say (labels they leave out get defaults),
    /// `algorithm_name` the model that made them, dated `created_unix_s` (UTC).
    pub fn export_seg(
        &self,
        labels: &[u16],
        segments: &[SegmentInfo],
        algorithm_name: &str,
        created_unix_s: i64,
    ) -> Result<Vec<u8>> {
        let study = self.study()?;
        let (volume, _) = study.volume.as_ref().ok_or_else(|| {
            Error::invalid(
                "a DICOM SEG is made over a study opened from DICOM, and this one is an image: export PNG instead",
            )
        })?;
        write_seg(volume, labels, segments, algorithm_name, created_unix_s)
    }

    /// Measurements of every object in `labels` (the open study's label map or label volume, as
    /// segmenting gives it) over the source's intensities: per object in 3D and per slice,
    /// voxels, area (mm²) or volume (mL) from the source spacing, mean / SD / min / max, the
    /// bounding box. Images measure their grey value (colour ones their luma), in pixels
    /// (spacing 1). The unit is "HU" for CT from DICOM (whose values are rescaled to HU), else
    /// empty.
    pub fn measure<L: LabelValue>(&self, labels: &[L]) -> Result<(Vec<Measurement>, &'static str)> {
        let study = self.study()?;
        match &study.volume {
            Some((volume, _)) => {
                let grid = Grid {
                    values: Intensities::Volume(volume),
                    width: volume.width,
                    height: volume.height,
                    depth: volume.depth,
                    spacing: volume.spacing,
                };
                let ct = volume.format == "DICOM"
                    && volume
                        .modality
                        .as_deref()
                        .is_some_and(|m| m.trim().eq_ignore_ascii_case("CT"));
                Ok((measure(&grid, labels)?, if ct { "HU" } else { "" }))
            }
            None => {
                // A grey picture's own values; a colour one's luma.
                let values: Vec<f32> = study
                    .image
                    .data
                    .chunks_exact(3)
                    .map(|p| match p {
                        [r, g, b] if r == g && g == b => *r as f32,
                        _ => luma([p[0] as f32, p[1] as f32, p[2] as f32]),
                    })
                    .collect();
                let grid = Grid {
                    values: Intensities::Values(&values),
                    width: study.image.width,
                    height: study.image.height,
                    depth: 1,
                    spacing: [1.0; 3],
                };
                Ok((measure(&grid, labels)?, ""))
            }
        }
    }

    /// A label file over the open study (see [`crate::labels`]): a grey PNG (8- or 16-bit)
    /// over an image; a NIfTI, NRRD or DICOM label volume, or a challenge NPZ's `segs` (else
    /// `gts`), over a volume. Another size or another geometry is refused with what differs.
    pub fn open_labels(&self, name: &str, bytes: &[u8]) -> Result<OpenedLabels> {
        let study = self.study()?;
        let in_file = |e: Error| e.context(name);
        match &study.volume {
            None => {
                let (width, height) = (study.image.width, study.image.height);
                let image = decode_image(bytes).map_err(in_file)?;
                let size = [image.width() as usize, image.height() as usize, 1];
                let values: Vec<f64> = match image {
                    DynamicImage::ImageLuma8(img) => img.iter().map(|&v| v as f64).collect(),
                    DynamicImage::ImageLuma16(img) => img.iter().map(|&v| v as f64).collect(),
                    _ => {
                        return Err(Error::invalid(format!(
                        "{name}: a label image is a grey PNG (8- or 16-bit), one label per pixel"
                    )))
                    }
                };
                check_geometry(name, size, None, [width, height, 1], None)?;
                renumber(name, values.into_iter(), size)
            }
            Some((volume, _)) => {
                let study_size = [volume.width, volume.height, volume.depth];
                if name.to_ascii_lowercase().ends_with(".npz") {
                    // Challenge NPZ labels are in the displayed (z, y, x) order, as we write them.
                    let (shape, values) = read_labels(bytes, "segs")
                        .or_else(|_| read_labels(bytes, "gts"))
                        .map_err(in_file)?;
                    let size = match shape[..] {
                        [d, h, w] => [w, h, d],
                        [h, w] => [w, h, 1],
                        _ => [0, 0, 0],
                    };
                    check_geometry(name, size, None, study_size, None)?;
                    return renumber(name, values.iter().map(|&v| v as f64), size);
                }
                if let Some((labels, segments)) =
                    crate::medical::dicom::read_segmentation(name, bytes, volume)?
                {
                    let labels = volume.labels_from_source_order(&labels)?;
                    let mut opened = renumber(name, labels.iter().map(|&v| v as f64), study_size)?;
                    for object in &mut opened.objects {
                        let segment = segments
                            .iter()
                            .find(|s| s.number as u32 == object.source_label);
                        if let Some(s) = segment {
                            object.name = Some(s.name.clone()).filter(|n| !n.is_empty());
                            object.colour = s.colour;
                            object.algorithm = s.algorithm;
                        }
                    }
                    return Ok(opened);
                }
                let labels = read_volume(name, bytes).map_err(in_file)?;
                if labels.channels != 1 {
                    return Err(Error::invalid(format!(
                        "{name}: a label volume has one value per voxel, this one {}",
                        labels.channels
                    )));
                }
                let size = [labels.width, labels.height, labels.depth];
                check_geometry(
                    name,
                    size,
                    Some(&labels.affine),
                    study_size,
                    Some(&volume.affine),
                )?;
                let values = &labels.data;
                renumber(name, (0..values.len()).map(|i| values.get(i) as f64), size)
            }
        }
    }

    /// [`Session::measure`] with its CSV, as one [`MeasureReport`].
    pub fn measure_report<L: LabelValue>(&self, labels: &[L]) -> Result<MeasureReport> {
        let (rows, unit) = self.measure(labels)?;
        Ok(MeasureReport {
            csv: measurements_csv(&rows, unit),
            rows,
            unit,
        })
    }

    /// [`Session::measure`] as CSV ([`measurements_csv`]).
    pub fn measurements_csv<L: LabelValue>(&self, labels: &[L]) -> Result<String> {
        let (rows, unit) = self.measure(labels)?;
        Ok(measurements_csv(&rows, unit))
    }
}
