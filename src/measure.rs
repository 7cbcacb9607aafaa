//! Measurements of labelled objects, as a clinician reads them: per object in 3D and on each
//! slice it touches, the voxel count, the area in mm² (a slice) or the volume in mL, the mean,
//! standard deviation, minimum and maximum of the source intensities (HU for CT) under it, and
//! its bounding box. Sums are in f64, the standard deviation is the population one (numpy's
//! default), so the numbers agree with numpy on the same voxels.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::label_value::LabelValue;

/// One object's numbers, in 3D (`slice: None`) or on one slice.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    /// The object's label.
    pub label: u16,
    /// The slice, or `None` for the whole volume.
    pub slice: Option<usize>,
    /// Voxels (pixels, for an image) with this label.
    pub voxels: u64,
    /// On a slice: voxels x the in-plane voxel area, in mm². `None` in 3D.
    pub area_mm2: Option<f64>,
    /// voxels x the voxel volume, in mL (cm³). `None` on a slice.
    pub volume_ml: Option<f64>,
    /// Mean source intensity under the object.
    pub mean: f64,
    /// Population standard deviation of the source intensities.
    pub sd: f64,
    /// Lowest source intensity.
    pub min: f64,
    /// Highest source intensity.
    pub max: f64,
    /// `[x_min, y_min, z_min, x_max, y_max, z_max]`, inclusive, in voxels.
    pub bbox: [usize; 6],
}

/// What is measured: one intensity per voxel (grey; colour images and volumes give their luma),
/// slice-major, `depth x height x width`, with the voxel size in mm (x, y, z).
pub struct Grid<'a> {
    /// The intensities.
    pub values: Intensities<'a>,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Slices (1 for an image).
    pub depth: usize,
    /// Voxel size in mm along x, y, z.
    pub spacing: [f64; 3],
}

/// Where a grid's intensities come from.
pub enum Intensities<'a> {
    /// All of them, slice-major.
    Values(&'a [f32]),
    /// A volume's grey values (an RGB volume's luma), read a slice at a time: a clinical-size
    /// volume is never copied whole as f32 to be measured.
    Volume(&'a crate::medical::MedicalVolume),
}

impl Intensities<'_> {
    fn len(&self) -> usize {
        match self {
            Intensities::Values(v) => v.len(),
            Intensities::Volume(v) => v.width * v.height * v.depth,
        }
    }

    /// Slice `z` of `plane` values.
    fn slice(&self, z: usize, plane: usize) -> std::borrow::Cow<'_, [f32]> {
        match self {
            Intensities::Values(v) => std::borrow::Cow::Borrowed(&v[z * plane..(z + 1) * plane]),
            Intensities::Volume(v) => {
                std::borrow::Cow::Owned(crate::medical::window::grey_slice_values(v, z))
            }
        }
    }
}

#[derive(Clone)]
struct Sums {
    voxels: u64,
    sum: f64,
    min: f64,
    max: f64,
    bbox: [usize; 6],
}

impl Sums {
    fn new() -> Self {
        Sums {
            voxels: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            bbox: [usize::MAX, usize::MAX, usize::MAX, 0, 0, 0],
        }
    }

    fn add(&mut self, value: f64, x: usize, y: usize, z: usize) {
        self.voxels += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        let b = &mut self.bbox;
        (b[0], b[1], b[2]) = (b[0].min(x), b[1].min(y), b[2].min(z));
        (b[3], b[4], b[5]) = (b[3].max(x), b[4].max(y), b[5].max(z));
    }
}

/// The most rows (objects x slices they touch) one measurement gives: 4,096 objects over 64
/// slices each, or one object over 262,144 slices. Labels come from outside (a file, the page),
/// so the row count is checked, not trusted.
pub const MAX_ROWS: usize = 1 << 18;

/// Every labelled object's measurements: for each label in increasing order, its 3D row, then
/// one row per slice it touches (images: the 3D row only, with the area filled in).
pub fn measure<L: LabelValue>(grid: &Grid, labels: &[L]) -> Result<Vec<Measurement>> {
    let plane = grid.width * grid.height;
    let voxels = plane.checked_mul(grid.depth);
    if voxels != Some(labels.len()) || labels.len() != grid.values.len() {
        return Err(Error::invalid(format!(
            "{} labels and {} intensities for a {}x{}x{} grid",
            labels.len(),
            grid.values.len(),
            grid.width,
            grid.height,
            grid.depth
        )));
    }
    let [sx, sy, sz] = grid.spacing;
    let row = |label: u16, slice: Option<usize>, s: &Sums, deviation: f64| Measurement {
        label,
        slice,
        voxels: s.voxels,
        area_mm2: (slice.is_some() || grid.depth == 1).then_some(s.voxels as f64 * sx * sy),
        volume_ml: slice
            .is_none()
            .then(|| s.voxels as f64 * sx * sy * sz / 1000.0),
        mean: s.sum / s.voxels as f64,
        sd: (deviation / s.voxels as f64).sqrt(),
        min: s.min,
        max: s.max,
        bbox: s.bbox,
    };
    // Two passes each (sums, then squared deviations from the mean: exact where one pass loses
    // digits on HU values in the thousands): over every slice on its own, then the whole. The
    // whole's sums run over the slices in order, the same additions as over the whole at once.
    let mut per_slice: BTreeMap<u16, Vec<Measurement>> = BTreeMap::new();
    let mut rows = 0;
    let mut whole: BTreeMap<u16, Sums> = BTreeMap::new();
    let in_slice = |z: usize| &labels[z * plane..(z + 1) * plane];
    for z in 0..grid.depth {
        let labels = in_slice(z);
        if labels.iter().all(|&l| l.into() == 0) {
            continue;
        }
        let values = grid.values.slice(z, plane);
        add_by_label(&mut whole, labels, &values, (grid.width, grid.height), z);
        if grid.depth > 1 {
            let mut sums = BTreeMap::new();
            add_by_label(&mut sums, labels, &values, (grid.width, grid.height), z);
            let deviations = deviations_by_label(labels, &values, &sums);
            for (label, s) in sums {
                rows += 1;
                if rows > MAX_ROWS {
                    return Err(too_many_rows());
                }
                per_slice.entry(label).or_default().push(row(
                    label,
                    Some(z),
                    &s,
                    deviations[&label],
                ));
            }
        }
    }
    if rows + whole.len() > MAX_ROWS {
        return Err(too_many_rows());
    }
    let mut deviations: BTreeMap<u16, f64> = whole.keys().map(|&l| (l, 0.0)).collect();
    for z in 0..grid.depth {
        let labels = in_slice(z);
        if labels.iter().all(|&l| l.into() == 0) {
            continue;
        }
        let values = grid.values.slice(z, plane);
        add_deviations(&mut deviations, labels, &values, &whole);
    }
    let mut out = Vec::with_capacity(rows + whole.len());
    for (label, s) in &whole {
        out.push(row(*label, None, s, deviations[label]));
        out.extend(per_slice.remove(label).unwrap_or_default());
    }
    Ok(out)
}

fn too_many_rows() -> Error {
    Error::invalid(format!(
        "more than {MAX_ROWS} object-slice pairs to measure: too many objects"
    ))
}

/// Adds each labelled voxel of slice `z` (`labels`, `values`: `width x height`) to its label's
/// sums.
fn add_by_label<L: LabelValue>(
    sums: &mut BTreeMap<u16, Sums>,
    labels: &[L],
    values: &[f32],
    (width, _height): (usize, usize),
    z: usize,
) {
    for (i, (&label, &value)) in labels.iter().zip(values).enumerate() {
        let label: u16 = label.into();
        if label != 0 {
            let (x, y) = (i % width, i / width);
            sums.entry(label)
                .or_insert_with(Sums::new)
                .add(value as f64, x, y, z);
        }
    }
}

fn deviations_by_label<L: LabelValue>(
    labels: &[L],
    values: &[f32],
    sums: &BTreeMap<u16, Sums>,
) -> BTreeMap<u16, f64> {
    let mut deviations: BTreeMap<u16, f64> = sums.keys().map(|&l| (l, 0.0)).collect();
    add_deviations(&mut deviations, labels, values, sums);
    deviations
}

/// Adds each labelled voxel's squared deviation from its label's mean to `deviations` (which
/// holds every label of `sums`), in voxel order.
fn add_deviations<L: LabelValue>(
    deviations: &mut BTreeMap<u16, f64>,
    labels: &[L],
    values: &[f32],
    sums: &BTreeMap<u16, Sums>,
) {
    let means: BTreeMap<u16, f64> = sums
        .iter()
        .map(|(&l, s)| (l, s.sum / s.voxels as f64))
        .collect();
    for (&label, &value) in labels.iter().zip(values) {
        let label: u16 = label.into();
        if label != 0 {
            *deviations.get_mut(&label).expect("every label was summed") +=
                (value as f64 - means[&label]).powi(2);
        }
    }
}

/// The measurements as CSV, one row each; `unit` names the intensities' unit (`HU`), or is
/// empty. Numbers are written with all their digits (Rust's shortest round-trip form).
pub fn measurements_csv(rows: &[Measurement], unit: &str) -> String {
    let mut out = String::from(
        "label,slice,voxels,area_mm2,volume_ml,mean,sd,min,max,unit,x_min,y_min,z_min,x_max,y_max,z_max\n",
    );
    let optional = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for m in rows {
        let b = m.bbox;
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{unit},{},{},{},{},{},{}\n",
            m.label,
            m.slice
                .map(|z| z.to_string())
                .unwrap_or_else(|| "all".into()),
            m.voxels,
            optional(m.area_mm2),
            optional(m.volume_ml),
            m.mean,
            m.sd,
            m.min,
            m.max,
            b[0],
            b[1],
            b[2],
            b[3],
            b[4],
            b[5],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sizes_and_statistics_of_a_small_volume() {
        // 2 slices of 2x3; label 1 on three voxels over both slices, label 3 on one.
        let values = [
            1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0,
        ];
        let labels = [1, 1, 0, 0, 3, 0, 0, 0, 0, 1, 0, 0];
        let grid = Grid {
            values: Intensities::Values(&values),
            width: 3,
            height: 2,
            depth: 2,
            spacing: [0.5, 2.0, 4.0],
        };
        let rows = measure::<u16>(&grid, &labels).unwrap();
        assert_eq!(
            rows.iter().map(|r| (r.label, r.slice)).collect::<Vec<_>>(),
            [
                (1, None),
                (1, Some(0)),
                (1, Some(1)),
                (3, None),
                (3, Some(0))
            ]
        );
        let one = &rows[0];
        assert_eq!(one.voxels, 3);
        assert_eq!(one.volume_ml, Some(3.0 * 4.0 / 1000.0));
        assert_eq!(one.area_mm2, None);
        assert!((one.mean - 43.0 / 3.0).abs() < 1e-12);
        let sd = ((1.0f64 - 43.0 / 3.0).powi(2)
            + (2.0f64 - 43.0 / 3.0).powi(2)
            + (40.0f64 - 43.0 / 3.0).powi(2))
            / 3.0;
        assert!((one.sd - sd.sqrt()).abs() < 1e-12);
        assert_eq!((one.min, one.max), (1.0, 40.0));
        assert_eq!(one.bbox, [0, 0, 0, 1, 1, 1]);
        assert_eq!(rows[1].area_mm2, Some(2.0));
        assert_eq!(rows[2].bbox, [0, 1, 1, 0, 1, 1]);
        let csv = measurements_csv(&rows, "HU");
        assert_eq!(csv.lines().count(), 6);
        assert!(csv.lines().nth(1).unwrap().starts_with("1,all,3,,0.012,"));
        assert!(measure::<u16>(&grid, &labels[..11]).is_err());
    }

    #[test]
    fn an_image_has_one_row_per_object_with_its_area() {
        let grid = Grid {
            values: Intensities::Values(&[9.0, 9.0, 9.0, 9.0]),
            width: 2,
            height: 2,
            depth: 1,
            spacing: [1.0, 1.0, 1.0],
        };
        let rows = measure::<u16>(&grid, &[0, 2, 2, 0]).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].area_mm2, rows[0].sd), (Some(2.0), 0.0));
        assert!(measure::<u16>(&grid, &[0, 0, 0, 0]).unwrap().is_empty());
    }
}
