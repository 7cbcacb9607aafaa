//! The volume type every reader fills: original intensities, voxel geometry, modality.

use crate::error::{Error, Result};

pub use super::voxels::{Samples, Voxels};

/// A 4x4 voxel-to-world matrix (RAS+ millimetres), row-major.
pub type Affine = [[f64; 4]; 4];

/// The affine of an axis-aligned grid with this voxel size and origin 0.
pub fn diagonal_affine(spacing: [f64; 3]) -> Affine {
    [
        [spacing[0], 0.0, 0.0, 0.0],
        [0.0, spacing[1], 0.0, 0.0],
        [0.0, 0.0, spacing[2], 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
}

/// A volume as read: `depth x height x width x channels`, slice-major, original intensities.
#[derive(Clone, Debug)]
pub struct MedicalVolume {
    /// Voxels along x (columns).
    pub width: usize,
    /// Voxels along y (rows).
    pub height: usize,
    /// Slices.
    pub depth: usize,
    /// 1 (grey) or 3 (RGB, e.g. colour ultrasound).
    pub channels: usize,
    /// `depth * height * width * channels` samples, slice-major, in the file's own type.
    pub data: Voxels,
    /// Voxel size in mm along x (columns), y (rows), z (slices).
    pub spacing: [f64; 3],
    /// Voxel (x, y, z) -> RAS+ mm, in the displayed grid.
    pub affine: Affine,
    /// The modality as the file says it (DICOM Modality code such as CT, MR, US), if it does.
    pub modality: Option<String>,
    /// "DICOM", "NIfTI-1", "NIfTI-2", "NRRD", "NPZ".
    pub format: String,
    /// Anything the user should know about how the file was read (4D volume cut to its first
    /// frame, several series in a folder, ...).
    pub notes: Vec<String>,
    /// DICOM MONOCHROME1: low values are bright. Windows invert it, so the model and the user
    /// see bright bone and dense tissue as in every other image.
    pub inverted: bool,
    /// Boxes that came with the file (a challenge NPZ case), `[x0, y0, z0, x1, y1, z1]`.
    pub boxes: Vec<crate::prompt::Box3d>,
    /// Clicks that came with a 2D challenge case: (0-based box index, click).
    pub clicks: Vec<(usize, crate::prompt::Click)>,
    /// How to put labels back into the source's voxel order.
    pub orientation: Reorientation,
    /// For a volume read from DICOM: what a DICOM SEG over it repeats and references.
    pub dicom: Option<Box<super::dicom::source::DicomSource>>,
}

/// How the displayed grid relates to the source file's voxel order: output axis `a` (0 = x,
/// 1 = y, 2 = z) is source axis `axes[a]`, reversed when `flips[a]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Reorientation {
    /// Which source axis each displayed axis is.
    pub axes: [usize; 3],
    /// Whether each displayed axis runs against its source axis.
    pub flips: [bool; 3],
    /// The source's voxel counts (x, y, z) and affine, for export.
    pub source_size: [usize; 3],
    /// The source's voxel-to-RAS affine.
    pub source_affine: Affine,
}

/// The most voxels a volume may have (the budget is in [`crate::limits`]).
pub use crate::limits::MAX_VOXELS;

impl MedicalVolume {
    /// A volume in the source's own voxel order; [`MedicalVolume::reoriented`] brings it to the
    /// display orientation.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        size: [usize; 3],
        channels: usize,
        data: impl Into<Voxels>,
        affine: Affine,
        modality: Option<String>,
        format: &str,
    ) -> Result<Self> {
        let data = data.into();
        let [width, height, depth] = size;
        if width == 0 || height == 0 || depth == 0 {
            return Err(Error::invalid(format!(
                "the volume is empty ({width}x{height}x{depth})"
            )));
        }
        let voxels = width
            .checked_mul(height)
            .and_then(|v| v.checked_mul(depth))
            .filter(|&v| v <= MAX_VOXELS)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "the volume is too large ({width}x{height}x{depth}; at most {MAX_VOXELS} voxels{})",
                    crate::limits::browser_hint()
                ))
            })?;
        crate::rgb::check_size(width as u64, height as u64)?;
        if channels != 1 && channels != 3 {
            return Err(Error::invalid(format!(
                "{channels} channels per voxel: only grey and RGB volumes are supported"
            )));
        }
        if data.len() != voxels * channels {
            return Err(Error::invalid(format!(
                "the volume's data ({} values) does not match its size {width}x{height}x{depth}x{channels}",
                data.len()
            )));
        }
        // NaN, infinite or zero voxel sizes would reach the exported NIfTI and every measure:
        // 1 mm voxels instead, and a note the user sees.
        let mut notes = Vec::new();
        let mut spacing = spacing_of(&affine);
        let usable = affine.iter().flatten().all(|v| v.is_finite())
            && spacing.iter().all(|s| s.is_finite() && *s > 0.0);
        let affine = if usable {
            affine
        } else {
            notes.push(format!(
                "the file's voxel geometry is unusable (voxel size {:?} mm): 1 mm voxels at the origin are assumed, here and in exports",
                spacing
            ));
            spacing = [1.0; 3];
            diagonal_affine(spacing)
        };
        Ok(MedicalVolume {
            width,
            height,
            depth,
            channels,
            data,
            spacing,
            affine,
            modality,
            format: format.to_string(),
            notes,
            inverted: false,
            boxes: Vec::new(),
            clicks: Vec::new(),
            orientation: Reorientation {
                axes: [0, 1, 2],
                flips: [false; 3],
                source_size: size,
                source_affine: affine,
            },
            dicom: None,
        })
    }

    /// `[width, height, depth]`.
    pub fn size(&self) -> [usize; 3] {
        [self.width, self.height, self.depth]
    }

    /// The values of slice `z` (`height * width * channels`).
    pub fn slice_values(&self, z: usize) -> Vec<f32> {
        let plane = self.height * self.width * self.channels;
        self.data.values(z * plane..(z + 1) * plane)
    }
}

/// The voxel size along each voxel axis: the affine's column norms.
pub fn spacing_of(affine: &Affine) -> [f64; 3] {
    let mut spacing = [0.0; 3];
    for (a, s) in spacing.iter_mut().enumerate() {
        *s = (0..3).map(|r| affine[r][a].powi(2)).sum::<f64>().sqrt();
    }
    spacing
}
