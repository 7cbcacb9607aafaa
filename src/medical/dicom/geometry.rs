//! A DICOM image plane's geometry (LPS directions, spacing, positions) as the RAS+ affine the
//! volumes carry, and back to a slice position.

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::attributes::{floats, floats_in, PER_FRAME, SHARED};
use crate::medical::volume::Affine;

/// Row and column directions (LPS) and (row, column) spacing.
pub(super) fn plane(obj: &InMemDicomObject) -> ([f64; 3], [f64; 3], [f64; 2]) {
    let groups = [
        (SHARED, tags::PLANE_ORIENTATION_SEQUENCE),
        (PER_FRAME, tags::PLANE_ORIENTATION_SEQUENCE),
    ];
    let orientation = floats_in(obj, &groups, tags::IMAGE_ORIENTATION_PATIENT)
        .filter(|o| o.len() == 6)
        .unwrap_or_else(|| vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let measures = [
        (SHARED, tags::PIXEL_MEASURES_SEQUENCE),
        (PER_FRAME, tags::PIXEL_MEASURES_SEQUENCE),
    ];
    let spacing = floats_in(obj, &measures, tags::PIXEL_SPACING)
        .or_else(|| floats(obj, tags::IMAGER_PIXEL_SPACING))
        .filter(|s| s.len() == 2 && s.iter().all(|v| *v > 0.0))
        .unwrap_or_else(|| vec![1.0, 1.0]);
    (
        [orientation[0], orientation[1], orientation[2]],
        [orientation[3], orientation[4], orientation[5]],
        [spacing[0], spacing[1]],
    )
}

pub(super) fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

pub(super) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// DICOM's LPS geometry as a RAS+ affine (x and y negated), as nibabel and dcm2niix give it.
pub(super) fn affine_lps_to_ras(
    row_dir: [f64; 3],
    col_dir: [f64; 3],
    spacing: [f64; 2],
    slice_step: [f64; 3],
    origin: [f64; 3],
) -> Affine {
    let mut a = [[0.0; 4]; 4];
    for r in 0..3 {
        let sign = if r < 2 { -1.0 } else { 1.0 };
        a[r][0] = sign * row_dir[r] * spacing[1];
        a[r][1] = sign * col_dir[r] * spacing[0];
        a[r][2] = sign * slice_step[r];
        a[r][3] = sign * origin[r];
    }
    a[3][3] = 1.0;
    a
}

/// Image Position (Patient) of source slice `z` from a RAS+ source affine (for slices whose file
/// gives none).
pub(super) fn position_from_affine(affine: &Affine, z: usize) -> [f64; 3] {
    let ras = [0, 1, 2].map(|r| affine[r][2] * z as f64 + affine[r][3]);
    [-ras[0], -ras[1], ras[2]]
}
