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

pub mod dicom;
pub mod nifti;
pub mod nrrd;
pub mod window;

use crate::error::{Error, Result};

/// A 4x4 voxel-to-world matrix (RAS+ millimetres), row-major.
pub type Affine = [[f64; 4]; 4];

pub fn diagonal_affine(spacing: [f64; 3]) -> Affine {
    [
        [spacing[0], 0.0, 0.0, 0.0],
        [0.0, spacing[1], 0.0, 0.0],
        [0.0, 0.0, spacing[2], 0.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
}

/// How the displayed grid relates to the source file's voxel order: output axis `a` (0 = x,
/// 1 = y, 2 = z) is source axis `axes[a]`, reversed when `flips[a]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Reorientation {
    pub axes: [usize; 3],
    pub flips: [bool; 3],
    /// The source's voxel counts (x, y, z) and affine, for export.
    pub source_size: [usize; 3],
    pub source_affine: Affine,
}

/// A volume as read: `depth x height x width x channels`, slice-major, original intensities.
#[derive(Clone, Debug)]
pub struct MedicalVolume {
    pub width: usize,
    pub height: usize,
    pub depth: usize,
    /// 1 (grey) or 3 (RGB, e.g. colour ultrasound).
    pub channels: usize,
    pub data: Vec<f32>,
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
    pub boxes: Vec<crate::volume::Box3d>,
    pub orientation: Reorientation,
}

/// The most voxels a volume may have (512 x 512 x 1024, 1 GiB of f32).
pub const MAX_VOXELS: usize = 1 << 28;

impl MedicalVolume {
    /// A volume in the source's own voxel order; [`MedicalVolume::reoriented`] brings it to the
    /// display orientation.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        size: [usize; 3],
        channels: usize,
        data: Vec<f32>,
        affine: Affine,
        modality: Option<String>,
        format: &str,
    ) -> Result<Self> {
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
                    "the volume is too large ({width}x{height}x{depth}; at most {MAX_VOXELS} voxels)"
                ))
            })?;
        crate::decode::check_size(width as u64, height as u64)?;
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
        let spacing = spacing_of(&affine);
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
            notes: Vec::new(),
            inverted: false,
            boxes: Vec::new(),
            orientation: Reorientation {
                axes: [0, 1, 2],
                flips: [false; 3],
                source_size: size,
                source_affine: affine,
            },
        })
    }

    pub fn size(&self) -> [usize; 3] {
        [self.width, self.height, self.depth]
    }

    /// The same volume in the display orientation (see the module's documentation). Axes whose
    /// direction the affine does not make clear keep their order.
    pub fn reoriented(self) -> MedicalVolume {
        let (axes, flips) = display_axes(&self.affine);
        if axes == [0, 1, 2] && flips == [false; 3] {
            return self;
        }
        let source = self.size();
        let size = [source[axes[0]], source[axes[1]], source[axes[2]]];
        let c = self.channels;
        let mut data = Vec::with_capacity(self.data.len());
        for at in source_indices(axes, flips, size, source) {
            data.extend_from_slice(&self.data[at * c..(at + 1) * c]);
        }
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
        if labels.len() != self.width * self.height * self.depth {
            return Err(Error::invalid(format!(
                "the label volume has {} voxels, the image {}",
                labels.len(),
                self.width * self.height * self.depth
            )));
        }
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

    /// Slice `z` (`height * width * channels` values).
    pub fn slice(&self, z: usize) -> &[f32] {
        let plane = self.height * self.width * self.channels;
        &self.data[z * plane..(z + 1) * plane]
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
    (0..size[2]).flat_map(move |z| {
        (0..size[1]).flat_map(move |y| {
            (0..size[0]).map(move |x| {
                let mut index = [0usize; 3];
                for (a, v) in [x, y, z].into_iter().enumerate() {
                    index[axes[a]] = if flips[a] { size[a] - 1 - v } else { v };
                }
                (index[2] * source[1] + index[1]) * source[0] + index[0]
            })
        })
    })
}

/// The voxel size along each voxel axis: the affine's column norms.
pub fn spacing_of(affine: &Affine) -> [f64; 3] {
    let mut spacing = [0.0; 3];
    for (a, s) in spacing.iter_mut().enumerate() {
        *s = (0..3).map(|r| affine[r][a].powi(2)).sum::<f64>().sqrt();
    }
    spacing
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

/// Which reader a file needs, from its name and first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolumeFormat {
    Dicom,
    Nifti,
    Nrrd,
    Npz,
}

pub fn sniff(name: &str, bytes: &[u8]) -> Option<VolumeFormat> {
    let lower = name.to_ascii_lowercase();
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        return Some(VolumeFormat::Dicom);
    }
    if bytes.starts_with(b"NRRD") {
        return Some(VolumeFormat::Nrrd);
    }
    if bytes.starts_with(b"PK") && lower.ends_with(".npz") {
        return Some(VolumeFormat::Npz);
    }
    if lower.ends_with(".nii") || lower.ends_with(".nii.gz") {
        return Some(VolumeFormat::Nifti);
    }
    if lower.ends_with(".nrrd") {
        return Some(VolumeFormat::Nrrd);
    }
    if lower.ends_with(".dcm") || lower.ends_with(".dicom") || lower.ends_with(".ima") {
        return Some(VolumeFormat::Dicom);
    }
    // A NIfTI header without the usual name (348 or 540 in either byte order).
    if bytes.len() >= 4 {
        let n = [bytes[0], bytes[1], bytes[2], bytes[3]];
        if [348, 540].contains(&i32::from_le_bytes(n))
            || [348, 540].contains(&i32::from_be_bytes(n))
        {
            return Some(VolumeFormat::Nifti);
        }
    }
    None
}

/// Reads one file (a DICOM series is several: see [`dicom::read_series`]) into a displayed
/// volume.
pub fn read_volume(name: &str, bytes: &[u8]) -> Result<MedicalVolume> {
    let volume = match sniff(name, bytes) {
        Some(VolumeFormat::Dicom) => dicom::read_series(&[(name.to_string(), bytes.to_vec())])?,
        Some(VolumeFormat::Nifti) => nifti::read(bytes)?,
        Some(VolumeFormat::Nrrd) => nrrd::read(bytes)?,
        Some(VolumeFormat::Npz) => return npz_volume(bytes),
        None => {
            return Err(Error::Decode(format!(
                "{name}: not a DICOM, NIfTI, NRRD or NPZ file"
            )))
        }
    };
    Ok(volume.reoriented())
}

/// A challenge NPZ case as a volume (2D cases are one slice); its voxel order is kept.
fn npz_volume(bytes: &[u8]) -> Result<MedicalVolume> {
    use crate::challenge::{read_case, Case};
    match read_case(bytes)? {
        Case::TwoD(case) => {
            let image = case.image;
            let data = image.data.iter().map(|&v| v as f32).collect();
            let mut volume = MedicalVolume::new(
                [image.width, image.height, 1],
                3,
                data,
                diagonal_affine([1.0; 3]),
                None,
                "NPZ",
            )?;
            volume.boxes = case
                .boxes
                .iter()
                .map(|b| [b[0], b[1], 0, b[2], b[3], 0])
                .collect();
            Ok(volume)
        }
        Case::ThreeD(case) => {
            let v = case.volume;
            let spacing = match case.spacing.as_deref() {
                Some([x, y, z]) => [*x, *y, *z],
                _ => [1.0; 3],
            };
            let mut volume = MedicalVolume::new(
                [v.width, v.height, v.depth],
                1,
                v.data.iter().map(|&x| x as f32).collect(),
                diagonal_affine(spacing),
                None,
                "NPZ",
            )?;
            volume.boxes = case.boxes;
            Ok(volume)
        }
    }
}

pub(crate) fn gunzip_if_needed(bytes: &[u8], limit: usize) -> Result<std::borrow::Cow<'_, [u8]>> {
    use std::io::Read;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::Decode(format!("corrupt gzip data: {e}")))?;
        if out.len() > limit {
            return Err(Error::invalid("the decompressed file is too large"));
        }
        Ok(std::borrow::Cow::Owned(out))
    } else {
        Ok(std::borrow::Cow::Borrowed(bytes))
    }
}

/// Sample types shared by the NIfTI and NRRD readers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SampleType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
}

impl SampleType {
    pub fn bytes(self) -> usize {
        match self {
            SampleType::U8 | SampleType::I8 => 1,
            SampleType::U16 | SampleType::I16 => 2,
            SampleType::U32 | SampleType::I32 | SampleType::F32 => 4,
            SampleType::U64 | SampleType::I64 | SampleType::F64 => 8,
        }
    }

    /// `count` samples from `bytes` as f32 (the volume's intensity type).
    pub fn decode(self, bytes: &[u8], count: usize, big_endian: bool) -> Result<Vec<f32>> {
        let size = self.bytes();
        let needed = count
            .checked_mul(size)
            .ok_or_else(|| Error::invalid("the volume is too large"))?;
        if bytes.len() < needed {
            return Err(Error::Decode(format!(
                "the file is truncated: {needed} bytes of voxel data expected, {} present",
                bytes.len()
            )));
        }
        macro_rules! convert {
            ($t:ty) => {
                bytes[..needed]
                    .chunks_exact(size)
                    .map(|c| {
                        let raw = c.try_into().expect("chunk size");
                        (if big_endian {
                            <$t>::from_be_bytes(raw)
                        } else {
                            <$t>::from_le_bytes(raw)
                        }) as f32
                    })
                    .collect()
            };
        }
        Ok(match self {
            SampleType::U8 => bytes[..needed].iter().map(|&v| v as f32).collect(),
            SampleType::I8 => bytes[..needed].iter().map(|&v| v as i8 as f32).collect(),
            SampleType::U16 => convert!(u16),
            SampleType::I16 => convert!(i16),
            SampleType::U32 => convert!(u32),
            SampleType::I32 => convert!(i32),
            SampleType::U64 => convert!(u64),
            SampleType::I64 => convert!(i64),
            SampleType::F32 => convert!(f32),
            SampleType::F64 => convert!(f64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(v.data[0], (2 * 4 + 3) as f32);
        // The new affine sends display voxel (0,0,0) where the source sends (3,2,0).
        assert_eq!(v.affine[0][3], 6.0);
        assert_eq!(v.affine[1][3], 6.0);
        assert_eq!(v.affine[0][0], -2.0);
        assert_eq!(v.spacing, [2.0, 3.0, 4.0]);
        let labels: Vec<u8> = v.data.iter().map(|&x| x as u8).collect();
        let back = v.labels_in_source_order(&labels).unwrap();
        assert_eq!(
            back,
            numbered(size).iter().map(|&x| x as u8).collect::<Vec<_>>()
        );
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
        let labels: Vec<u32> = v.data.iter().map(|&x| x as u32).collect();
        let back = v.labels_in_source_order(&labels).unwrap();
        assert_eq!(
            back,
            numbered(size).iter().map(|&x| x as u32).collect::<Vec<_>>()
        );
    }
}
