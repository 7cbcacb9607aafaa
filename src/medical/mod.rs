//! Medical volumes: DICOM (single files, multi-frame, series), NIfTI-1/2, NRRD and the challenge's
//! NPZ read into one type that keeps the original intensities (CT in HU), the voxel geometry and
//! the modality, plus the intensity windows that turn it into the uint8 slices the model sees.
//!
//! Geometry follows NIfTI: `affine` maps a voxel index `(x = column, y = row, z = slice)` to RAS+
//! millimetres. Volumes are shown and segmented in one display orientation (columns towards the
//! patient's left, rows towards posterior, slices towards superior: how an axial DICOM series
//! reads), so a NIfTI stored in any axis order opens the right way up; [`Reorientation`] remembers
//! how to put a result back into the source's voxel order, so an exported label volume carries
//! the source's own affine.
//!
//! One job per file (per folder for DICOM): [`volume`] (the types), [`orientation`] (display
//! orientation and back), [`format`] (which reader, opening files), `samples` (raw sample
//! decoding), and the readers [`dicom`], [`nifti`], [`nrrd`]; [`window`] turns intensities into
//! what the model sees; [`dicom::seg`] writes and reads DICOM SEG over a study opened from DICOM.

pub mod dicom;
pub mod format;
pub mod nifti;
pub mod nrrd;
pub mod orientation;
mod samples;
pub mod volume;
pub mod voxels;
pub mod window;

pub use format::{
    open_files, open_files_with, open_series_with, read_volume, read_volume_with, sniff,
    VolumeFormat,
};
pub(crate) use samples::SampleType;
pub use volume::{
    diagonal_affine, spacing_of, Affine, MedicalVolume, Reorientation, Samples, Voxels, MAX_VOXELS,
};

/// The SEG code's path before it moved into [`dicom::seg`], for callers that still name it.
pub use dicom::seg as dicom_seg;
