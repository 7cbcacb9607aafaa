//! Label files opened over a study (a previous export, or another tool's segmentation), to see,
//! measure and correct them: a label PNG over an image; a NIfTI, NRRD or DICOM label volume, or
//! a challenge NPZ's `segs` / `gts`, over a volume. The labels must have been made for this
//! study: another size, or another geometry (the affine, for files that carry one), is refused
//! with what differs, never drawn misaligned. Labels are renumbered 1..n in increasing order of
//! their values (the page's object k is label k), and each becomes an object with its bounding
//! box (the box a user can segment again from). A DICOM SEG (ours, or another tool's) opens
//! over the DICOM series it was made for, its segments named and coloured as it says.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::medical::volume::Affine;

/// One object found in a label file.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelObject {
    /// Its label after renumbering (1..n).
    pub label: u16,
    /// Its value in the file.
    pub source_label: u32,
    /// Voxels with this label.
    pub voxels: u64,
    /// `[x_min, y_min, z_min, x_max, y_max, z_max]`, inclusive, in displayed voxels.
    pub bbox: [usize; 6],
    /// Its name, from a file that names its objects (a DICOM SEG's Segment Label).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its display colour (sRGB), from a file that gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub colour: Option<[u8; 3]>,
    /// How it was made, from a file that says (a DICOM SEG's Segment Algorithm Type).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<crate::medical::dicom_seg::SegmentAlgorithm>,
}

/// Labels ready for the open study: `labels` in its displayed grid, one object per label.
#[derive(Clone, Debug, Serialize)]
pub struct OpenedLabels {
    /// `depth * height * width`, slice-major, 0 for background.
    pub labels: Vec<u16>,
    /// The objects, by label.
    pub objects: Vec<LabelObject>,
}

/// Labels in a `width x height x depth` grid, renumbered: `values` must be whole numbers from 0
/// to 2^32 - 1 (a float NIfTI of labels is fine, 0.5 is not), at most 65,535 distinct non-zero.
pub fn renumber(
    name: &str,
    values: impl ExactSizeIterator<Item = f64>,
    [width, height, _depth]: [usize; 3],
) -> Result<OpenedLabels> {
    let values: Vec<u32> = values
        .map(|v| {
            if v.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&v) {
                Ok(v as u32)
            } else {
                Err(Error::invalid(format!(
                    "{name}: holds the value {v}, not a label (labels are whole numbers from 0)"
                )))
            }
        })
        .collect::<Result<_>>()?;
    let mut distinct: Vec<u32> = values.iter().copied().filter(|&v| v != 0).collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() > u16::MAX as usize {
        return Err(Error::invalid(format!(
            "{name}: {} different labels; at most {} objects are supported",
            distinct.len(),
            u16::MAX
        )));
    }
    let mut objects: Vec<LabelObject> = distinct
        .iter()
        .enumerate()
        .map(|(i, &source_label)| LabelObject {
            label: (i + 1) as u16,
            source_label,
            voxels: 0,
            bbox: [usize::MAX, usize::MAX, usize::MAX, 0, 0, 0],
            name: None,
            colour: None,
            algorithm: None,
        })
        .collect();
    let plane = width * height;
    let mut labels = vec![0u16; values.len()];
    for (i, &v) in values.iter().enumerate() {
        if v == 0 {
            continue;
        }
        let k = distinct
            .binary_search(&v)
            .expect("every value was collected");
        labels[i] = (k + 1) as u16;
        let (x, y, z) = (i % width, (i % plane) / width, i / plane);
        let o = &mut objects[k];
        o.voxels += 1;
        let b = &mut o.bbox;
        (b[0], b[1], b[2]) = (b[0].min(x), b[1].min(y), b[2].min(z));
        (b[3], b[4], b[5]) = (b[3].max(x), b[4].max(y), b[5].max(z));
    }
    Ok(OpenedLabels { labels, objects })
}

/// The labels' grid must be the study's: the same size, and (when both carry one) the same
/// affine within 1e-3 mm (plus 1e-6 relative: a NIfTI stores it as f32).
pub fn check_geometry(
    name: &str,
    size: [usize; 3],
    affine: Option<&Affine>,
    study_size: [usize; 3],
    study_affine: Option<&Affine>,
) -> Result<()> {
    let show = |s: [usize; 3]| format!("{}x{}x{}", s[0], s[1], s[2]);
    if size != study_size {
        return Err(Error::invalid(format!(
            "{name} is {} (x, y, z), the open study {}: open the labels made for this study",
            show(size),
            show(study_size)
        )));
    }
    if let (Some(a), Some(b)) = (affine, study_affine) {
        let worst = (0..3)
            .flat_map(|r| (0..4).map(move |c| (r, c)))
            .map(|(r, c)| (a[r][c] - b[r][c]).abs() - 1e-6 * b[r][c].abs())
            .fold(0.0f64, f64::max);
        if worst > 1e-3 {
            return Err(Error::invalid(format!(
                "{name} has the open study's size but another position or orientation in space \
                 (its affine differs by up to {worst:.3} mm): it was made for another scan"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_renumbered_in_order_with_their_boxes() {
        // 3x2x2: values 7 and 2 become labels 2 and 1.
        let values = [0.0, 7.0, 7.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 7.0];
        let opened = renumber("l.nii", values.into_iter(), [3, 2, 2]).unwrap();
        assert_eq!(opened.labels, [0, 2, 2, 0, 0, 0, 1, 0, 0, 0, 0, 2]);
        assert_eq!(opened.objects.len(), 2);
        assert_eq!(
            (opened.objects[0].source_label, opened.objects[0].voxels),
            (2, 1)
        );
        assert_eq!(opened.objects[0].bbox, [0, 0, 1, 0, 0, 1]);
        assert_eq!(opened.objects[1].bbox, [1, 0, 0, 2, 1, 1]);
        let half = renumber("l.nii", [0.0, 0.5].into_iter(), [2, 1, 1]).unwrap_err();
        assert!(half.to_string().contains("0.5"), "{half}");
        assert!(renumber("l.nii", [-1.0].into_iter(), [1, 1, 1]).is_err());
    }

    #[test]
    fn another_size_or_place_is_refused_with_what_differs() {
        let a = crate::medical::volume::diagonal_affine([1.0, 1.0, 2.0]);
        let mut moved = a;
        moved[2][3] += 2.0;
        assert!(check_geometry("l", [4, 4, 3], Some(&a), [4, 4, 3], Some(&a)).is_ok());
        let size = check_geometry("l", [4, 4, 2], Some(&a), [4, 4, 3], Some(&a)).unwrap_err();
        assert!(size.to_string().contains("4x4x2") && size.to_string().contains("4x4x3"));
        let place = check_geometry("l", [4, 4, 3], Some(&moved), [4, 4, 3], Some(&a)).unwrap_err();
        assert!(place.to_string().contains("2.000 mm"), "{place}");
        assert!(check_geometry("l", [4, 4, 3], None, [4, 4, 3], Some(&a)).is_ok());
    }
}
