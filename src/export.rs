//! Exporting results: the label map as PNG, the same size as the image (8-bit grey, or 16-bit
//! when a label exceeds 255), so any tool reads label i as pixel value i.

use std::io::Cursor;

use image::{ImageBuffer, ImageFormat, Luma};

use crate::error::{Error, Result};
use crate::label_value::LabelValue;
use crate::postprocess::LabelMap;

/// The label map as a PNG: 8-bit grey, or 16-bit when a label exceeds 255.
pub fn label_png(labels: &LabelMap) -> Result<Vec<u8>> {
    let (w, h) = (labels.width as u32, labels.height as u32);
    let mut out = Cursor::new(Vec::new());
    let written = if labels.max_label() <= u8::MAX as u16 {
        let data = labels.labels.iter().map(|&v| v as u8).collect();
        ImageBuffer::<Luma<u8>, Vec<u8>>::from_raw(w, h, data)
            .map(|img| img.write_to(&mut out, ImageFormat::Png))
    } else {
        ImageBuffer::<Luma<u16>, Vec<u16>>::from_raw(w, h, labels.labels.clone())
            .map(|img| img.write_to(&mut out, ImageFormat::Png))
    };
    match written {
        Some(Ok(())) => Ok(out.into_inner()),
        Some(Err(e)) => Err(Error::invalid(format!("cannot encode PNG: {e}"))),
        None => Err(Error::invalid("label map size does not match its data")),
    }
}

/// How a label volume leaves the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolumeExport {
    /// NIfTI-1 in the source's voxel order with the source's affine (`.nii`, or `.nii.gz`).
    Nifti {
        /// `.nii.gz` rather than `.nii`.
        gzip: bool,
    },
    /// The challenge's NPZ: `segs` in the displayed (z, y, x) order, plus `spacing` (x, y, z).
    Npz,
    /// One displayed slice as a label PNG.
    PngSlice {
        /// The slice.
        z: usize,
    },
}

impl VolumeExport {
    /// From an output file name: `.nii.gz`, `.nii`, `.npz`, or `.png` (with the slice).
    pub fn from_file_name(name: &str, slice: Option<usize>) -> Result<VolumeExport> {
        let lower = name.to_ascii_lowercase();
        Ok(if lower.ends_with(".nii.gz") {
            VolumeExport::Nifti { gzip: true }
        } else if lower.ends_with(".nii") {
            VolumeExport::Nifti { gzip: false }
        } else if lower.ends_with(".npz") {
            VolumeExport::Npz
        } else if lower.ends_with(".png") {
            VolumeExport::PngSlice {
                z: slice.unwrap_or(0),
            }
        } else {
            return Err(Error::invalid(format!(
                "{name}: a volume's labels are written as .nii.gz, .nii, .npz or .png (one slice)"
            )));
        })
    }
}

/// The bytes of a label volume (`depth * height * width`, displayed order) of `volume`.
pub fn export_volume_labels<L: LabelValue>(
    volume: &crate::medical::MedicalVolume,
    labels: &[L],
    format: VolumeExport,
) -> Result<Vec<u8>> {
    let plane = volume.width * volume.height;
    if labels.len() != plane * volume.depth {
        return Err(Error::invalid(format!(
            "{} labels for a {}x{}x{} volume",
            labels.len(),
            volume.width,
            volume.height,
            volume.depth
        )));
    }
    match format {
        VolumeExport::Nifti { gzip } => crate::medical::nifti::write_labels(
            &volume.labels_in_source_order(labels)?,
            volume.orientation.source_size,
            &volume.orientation.source_affine,
            gzip,
        ),
        VolumeExport::Npz => crate::challenge::write_segs_with_spacing(
            &[volume.depth, volume.height, volume.width],
            &labels.iter().map(|&l| l.into()).collect::<Vec<u16>>(),
            Some(volume.spacing),
        ),
        VolumeExport::PngSlice { z } => {
            if z >= volume.depth {
                return Err(Error::invalid(format!(
                    "slice {z} is outside the volume's {} slices",
                    volume.depth
                )));
            }
            label_png(&LabelMap {
                width: volume.width,
                height: volume.height,
                labels: labels[z * plane..(z + 1) * plane]
                    .iter()
                    .map(|&l| l.into())
                    .collect(),
            })
        }
    }
}
