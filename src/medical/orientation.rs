//! The display orientation: how a source's voxel axes map to the displayed grid (columns towards
//! the patient's left, rows towards posterior, slices towards superior), and back for export.

use crate::error::{Error, Result};

use super::{spacing_of, Affine, MedicalVolume, Reorientation};

impl MedicalVolume {
    /// The same volume in the display orientation (see the module's documentation). Axes whose
    /// direction the affine does not make clear keep their order.
    pub fn reoriented(self) -> MedicalVolume {
        let (axes, flips) = display_axes(&self.affine);
        // A single slice (a sagittal or oblique scout, one MR image) is shown as it was
        // acquired, as every viewer shows it: turned to axial it would be one voxel wide, and a
        // box could not be drawn on it.
        let single_slice_moved = self.depth == 1 && axes[2] != 2;
        if (axes == [0, 1, 2] && flips == [false; 3]) || single_slice_moved {
            return self;
        }
        let source = self.size();
        let size = [source[axes[0]], source[axes[1]], source[axes[2]]];
        // In place: a clinical CT is not held twice to turn it.
        let mut data = self.data;
        data.permute(self.channels, |d| {
            source_index(axes, flips, size, source, d)
        });
        // New voxel v maps to source voxel s with s[axes[a]] = flip ? n-1-v[a] : v[a].
        let mut voxel_to_source = [[0.0; 4]; 4];
        voxel_to_source[3][3] = 1.0;
        for a in 0..3 {
            if flips[a] {
                voxel_to_source[axes[a]][a] = -1.0;
                voxel_to_source[axes[a]][3] = (size[a] - 1) as f64;
            } else {
                voxel_to_source[axes[a]][a] = 1.0;
            }
        }
        let affine = multiply(&self.affine, &voxel_to_source);
        MedicalVolume {
            width: size[0],
            height: size[1],
            depth: size[2],
            spacing: spacing_of(&affine),
            affine,
            data,
            orientation: Reorientation {
                axes,
                flips,
                source_size: source,
                source_affine: self.orientation.source_affine,
            },
            ..self
        }
    }

    /// A label volume in the displayed grid (`depth * height * width`) back in the source's
    /// voxel order (x fastest), for export with the source's affine.
    pub fn labels_in_source_order<T: Copy + Default>(&self, labels: &[T]) -> Result<Vec<T>> {
        self.check_label_count(labels.len())?;
        let o = &self.orientation;
        let mut out = vec![T::default(); labels.len()];
        for (&label, at) in
            labels
                .iter()
                .zip(source_indices(o.axes, o.flips, self.size(), o.source_size))
        {
            out[at] = label;
        }
        Ok(out)
    }

    fn check_label_count(&self, count: usize) -> Result<()> {
        let voxels = self.width * self.height * self.depth;
        if count != voxels {
            return Err(Error::invalid(format!(
                "the label volume has {count} voxels, the image {voxels}"
            )));
        }
        Ok(())
    }

    /// A label volume in the source's voxel order (x fastest) in the displayed grid: the inverse
    /// of [`MedicalVolume::labels_in_source_order`], for labels read from a file made in the
    /// source's grid (a DICOM SEG).
    pub fn labels_from_source_order<T: Copy>(&self, labels: &[T]) -> Result<Vec<T>> {
        self.check_label_count(labels.len())?;
        let o = &self.orientation;
        Ok(source_indices(o.axes, o.flips, self.size(), o.source_size)
            .map(|at| labels[at])
            .collect())
    }
}

/// For each voxel of the displayed grid (`size`, x fastest), its index in the source's grid:
/// display axis `a` is source axis `axes[a]`, reversed when `flips[a]`. Both directions of the
/// reorientation (reading and exporting) walk this one mapping.
fn source_indices(
    axes: [usize; 3],
    flips: [bool; 3],
    size: [usize; 3],
    source: [usize; 3],
) -> impl Iterator<Item = usize> {
    (0..size[0] * size[1] * size[2]).map(move |d| source_index(axes, flips, size, source, d))
}

/// Displayed voxel `d`'s index in the source's grid (see [`source_indices`]).
fn source_index(
    axes: [usize; 3],
    flips: [bool; 3],
    size: [usize; 3],
    source: [usize; 3],
    d: usize,
) -> usize {
    let (x, y, z) = (
        d % size[0],
        (d / size[0]) % size[1],
        d / (size[0] * size[1]),
    );
    let mut index = [0usize; 3];
    for (a, v) in [x, y, z].into_iter().enumerate() {
        index[axes[a]] = if flips[a] { size[a] - 1 - v } else { v };
    }
    (index[2] * source[1] + index[1]) * source[0] + index[0]
}

fn multiply(a: &Affine, b: &Affine) -> Affine {
    let mut out = [[0.0; 4]; 4];
    for r in 0..4 {
        for c in 0..4 {
            out[r][c] = (0..4).map(|k| a[r][k] * b[k][c]).sum();
        }
    }
    out
}

/// For each display axis (column -> left, row -> posterior, slice -> superior), the source
/// voxel axis closest to it and whether it runs the other way. The RAS+ targets are -x, -y, +z.
fn display_axes(affine: &Affine) -> ([usize; 3], [bool; 3]) {
    let target_sign = [-1.0, -1.0, 1.0];
    let mut axes = [usize::MAX; 3];
    let mut flips = [false; 3];
    let mut used = [false; 3];
    // Greedy by the strongest alignment first, so oblique scans still get a permutation.
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    let spacing = spacing_of(affine);
    for (voxel_axis, &norm) in spacing.iter().enumerate() {
        if norm == 0.0 {
            return ([0, 1, 2], [false; 3]);
        }
        for (world_axis, _) in target_sign.iter().enumerate() {
            pairs.push((
                affine[world_axis][voxel_axis].abs() / norm,
                world_axis,
                voxel_axis,
            ));
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, world_axis, voxel_axis) in pairs {
        if axes[world_axis] != usize::MAX || used[voxel_axis] {
            continue;
        }
        axes[world_axis] = voxel_axis;
        used[voxel_axis] = true;
        flips[world_axis] = affine[world_axis][voxel_axis] * target_sign[world_axis] < 0.0;
    }
    (axes, flips)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::medical::diagonal_affine;

    fn numbered(size: [usize; 3]) -> Vec<f32> {
        (0..size[0] * size[1] * size[2]).map(|v| v as f32).collect()
    }

    #[test]
    fn ras_volume_is_flipped_to_display_and_labels_go_back() {
        // i -> +x (right), j -> +y (anterior), k -> +z: the display flips columns and rows.
        let size = [4, 3, 2];
        let v = MedicalVolume::new(
            size,
            1,
            numbered(size),
            diagonal_affine([2.0, 3.0, 4.0]),
            None,
            "test",
        )
        .unwrap()
        .reoriented();
        assert_eq!(v.size(), [4, 3, 2]);
        // Display voxel (0,0,0) is source voxel (3,2,0).
        assert_eq!(v.data.get(0), (2 * 4 + 3) as f32);
        // The new affine sends display voxel (0,0,0) where the source sends (3,2,0).
        assert_eq!(v.affine[0][3], 6.0);
        assert_eq!(v.affine[1][3], 6.0);
        assert_eq!(v.affine[0][0], -2.0);
        assert_eq!(v.spacing, [2.0, 3.0, 4.0]);
        let labels: Vec<u8> = v.data.to_f32().iter().map(|&x| x as u8).collect();
        let back = v.labels_in_source_order(&labels).unwrap();
        assert_eq!(
            back,
            numbered(size).iter().map(|&x| x as u8).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_single_sagittal_slice_is_shown_as_acquired() {
        // One slice whose rows and columns run along world y and z (a sagittal image): turned
        // to the axial display it would be 1 voxel wide.
        let mut affine = [[0.0; 4]; 4];
        affine[1][0] = 1.0;
        affine[2][1] = -1.0;
        affine[0][2] = 1.0;
        affine[3][3] = 1.0;
        let size = [5, 6, 1];
        let v = MedicalVolume::new(size, 1, numbered(size), affine, None, "test")
            .unwrap()
            .reoriented();
        assert_eq!(v.size(), [5, 6, 1]);
        assert_eq!(v.data.to_f32(), numbered(size));
    }

    #[test]
    fn sagittal_axes_are_permuted() {
        // Voxel x runs along world y (anterior), voxel y along z, voxel z along x.
        let mut affine = [[0.0; 4]; 4];
        affine[1][0] = 1.0;
        affine[2][1] = 1.0;
        affine[0][2] = 1.0;
        affine[3][3] = 1.0;
        let size = [5, 6, 7];
        let v = MedicalVolume::new(size, 1, numbered(size), affine, None, "test")
            .unwrap()
            .reoriented();
        assert_eq!(v.size(), [7, 5, 6]);
        let labels: Vec<u32> = v.data.to_f32().iter().map(|&x| x as u32).collect();
        let back = v.labels_in_source_order(&labels).unwrap();
        assert_eq!(
            back,
            numbered(size).iter().map(|&x| x as u32).collect::<Vec<_>>()
        );
    }
}
