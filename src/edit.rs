//! Manual editing of a label map or label volume: brush and eraser strokes, filling holes,
//! keeping the largest component, clearing an object on a slice. Edits are kept as a list (the
//! page keeps it with its objects, each stroke one undo step) and applied in order on top of
//! whatever the model last gave, so they survive segmenting again and switching models, and the
//! same list gives the same labels everywhere.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The most points one stroke may have (a long drag samples a few hundred).
pub const MAX_STROKE_POINTS: usize = 100_000;
/// The largest brush radius, in pixels.
pub const MAX_RADIUS: f64 = 512.0;
/// The most edits one request may apply.
pub const MAX_EDITS: usize = 100_000;

/// One edit of one object (its label `label`, on slice `z`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Edit {
    /// A brush stroke: every pixel within `radius` of the polyline through `points` becomes
    /// `label`, over any other.
    #[serde(rename_all = "camelCase")]
    Paint {
        /// The object's label.
        label: u16,
        /// The slice.
        z: usize,
        /// `[x, y]` in pixels, pixel centres at whole numbers.
        points: Vec<[f64; 2]>,
        /// In pixels (0: the pixels the line passes through).
        radius: f64,
    },
    /// An eraser stroke: the pixels of `label` within `radius` of the polyline become 0.
    #[serde(rename_all = "camelCase")]
    Erase {
        /// The object's label.
        label: u16,
        /// The slice.
        z: usize,
        /// `[x, y]` in pixels, pixel centres at whole numbers.
        points: Vec<[f64; 2]>,
        /// In pixels.
        radius: f64,
    },
    /// The background regions `label` encloses on the slice (not reaching its edge through
    /// 4-connected non-`label` pixels) become `label`; other objects inside stay.
    #[serde(rename_all = "camelCase")]
    FillHoles {
        /// The object's label.
        label: u16,
        /// The slice.
        z: usize,
    },
    /// Only the largest connected part of `label` stays.
    #[serde(rename_all = "camelCase")]
    KeepLargest {
        /// The object's label.
        label: u16,
        /// On this slice (4-connected); absent: over the whole volume (6-connected).
        z: Option<usize>,
    },
    /// `label` is removed from the slice.
    #[serde(rename_all = "camelCase")]
    ClearSlice {
        /// The object's label.
        label: u16,
        /// The slice.
        z: usize,
    },
}

impl Edit {
    fn label(&self) -> u16 {
        match self {
            Edit::Paint { label, .. }
            | Edit::Erase { label, .. }
            | Edit::FillHoles { label, .. }
            | Edit::KeepLargest { label, .. }
            | Edit::ClearSlice { label, .. } => *label,
        }
    }

    fn slice(&self) -> Option<usize> {
        match self {
            Edit::Paint { z, .. }
            | Edit::Erase { z, .. }
            | Edit::FillHoles { z, .. }
            | Edit::ClearSlice { z, .. } => Some(*z),
            Edit::KeepLargest { z, .. } => *z,
        }
    }
}

/// Applies `edits` in order to `labels` (`depth * height * width`, slice-major). Every edit is
/// checked first (label not 0, slice inside, stroke sizes bounded), so a bad list changes
/// nothing.
pub fn apply_edits(labels: &mut [u16], width: usize, height: usize, edits: &[Edit]) -> Result<()> {
    let plane = width
        .checked_mul(height)
        .filter(|&p| p > 0 && labels.len().is_multiple_of(p))
        .ok_or_else(|| {
            Error::invalid(format!(
                "{} labels are not whole {width}x{height} slices",
                labels.len()
            ))
        })?;
    let depth = labels.len() / plane;
    if edits.len() > MAX_EDITS {
        return Err(Error::invalid(format!(
            "{} edits in one request; at most {MAX_EDITS}",
            edits.len()
        )));
    }
    for (i, edit) in edits.iter().enumerate() {
        let fail = |what: String| Error::invalid(format!("edit {}: {what}", i + 1));
        if edit.label() == 0 {
            return Err(fail("edits an object, not the background (label 0)".into()));
        }
        if let Some(z) = edit.slice().filter(|&z| z >= depth) {
            return Err(fail(format!("slice {z} is outside the {depth} slices")));
        }
        if let Edit::Paint { points, radius, .. } | Edit::Erase { points, radius, .. } = edit {
            if points.is_empty() || points.len() > MAX_STROKE_POINTS {
                return Err(fail(format!(
                    "a stroke has 1 to {MAX_STROKE_POINTS} points, this one {}",
                    points.len()
                )));
            }
            if points.iter().flatten().any(|v| !v.is_finite()) {
                return Err(fail("a stroke point is not a number".into()));
            }
            if !(radius.is_finite() && (0.0..=MAX_RADIUS).contains(radius)) {
                return Err(fail(format!(
                    "the brush radius is {radius}; it is 0 to {MAX_RADIUS} pixels"
                )));
            }
        }
    }
    for edit in edits {
        let slice = |z: usize| z * plane..(z + 1) * plane;
        match edit {
            Edit::Paint {
                label,
                z,
                points,
                radius,
            } => stroke(&mut labels[slice(*z)], width, points, *radius, |v| {
                *v = *label
            }),
            Edit::Erase {
                label,
                z,
                points,
                radius,
            } => stroke(&mut labels[slice(*z)], width, points, *radius, |v| {
                if *v == *label {
                    *v = 0
                }
            }),
            Edit::FillHoles { label, z } => fill_holes(&mut labels[slice(*z)], width, *label),
            Edit::KeepLargest { label, z: Some(z) } => {
                keep_largest(&mut labels[slice(*z)], [width, height, 1], *label)
            }
            Edit::KeepLargest { label, z: None } => {
                keep_largest(labels, [width, height, depth], *label)
            }
            Edit::ClearSlice { label, z } => {
                for v in &mut labels[slice(*z)] {
                    if *v == *label {
                        *v = 0;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Calls `mark` on every pixel of the slice whose centre is within `radius` of the polyline
/// (a single point: a disc). Radius 0 marks the pixels the line passes through.
fn stroke(
    slice: &mut [u16],
    width: usize,
    points: &[[f64; 2]],
    radius: f64,
    mut mark: impl FnMut(&mut u16),
) {
    let height = slice.len() / width;
    // Each segment's bounding box, grown by the radius, clipped to the slice.
    let segments = points.windows(2).map(|w| (w[0], w[1]));
    let single = (points.len() == 1).then(|| (points[0], points[0]));
    // Half a pixel more: radius 0 still marks the pixel under the point.
    let reach = radius.max(0.5);
    for (a, b) in segments.chain(single) {
        let x0 = (a[0].min(b[0]) - reach).floor().max(0.0);
        let x1 = (a[0].max(b[0]) + reach).ceil().min(width as f64 - 1.0);
        let y0 = (a[1].min(b[1]) - reach).floor().max(0.0);
        let y1 = (a[1].max(b[1]) + reach).ceil().min(height as f64 - 1.0);
        if x0 > x1 || y0 > y1 {
            continue;
        }
        for y in y0 as usize..=y1 as usize {
            for x in x0 as usize..=x1 as usize {
                if distance_to_segment([x as f64, y as f64], a, b) <= reach {
                    mark(&mut slice[y * width + x]);
                }
            }
        }
    }
}

fn distance_to_segment(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let d = [b[0] - a[0], b[1] - a[1]];
    let length2 = d[0] * d[0] + d[1] * d[1];
    let t = if length2 > 0.0 {
        (((p[0] - a[0]) * d[0] + (p[1] - a[1]) * d[1]) / length2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let q = [a[0] + t * d[0], a[1] + t * d[1]];
    ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt()
}

/// Background pixels (0) not reachable from the slice's edge without crossing `label` become
/// `label`.
fn fill_holes(slice: &mut [u16], width: usize, label: u16) {
    let height = slice.len() / width;
    let mut outside = vec![false; slice.len()];
    let mut stack: Vec<usize> = (0..slice.len())
        .filter(|&p| {
            let (x, y) = (p % width, p / width);
            x == 0 || y == 0 || x == width - 1 || y == height - 1
        })
        .filter(|&p| slice[p] != label)
        .collect();
    for &p in &stack {
        outside[p] = true;
    }
    while let Some(p) = stack.pop() {
        let (x, y) = (p % width, p / width);
        let neighbours = [
            (x > 0).then(|| p - 1),
            (x + 1 < width).then(|| p + 1),
            (y > 0).then(|| p - width),
            (y + 1 < height).then(|| p + width),
        ];
        for q in neighbours.into_iter().flatten() {
            if !outside[q] && slice[q] != label {
                outside[q] = true;
                stack.push(q);
            }
        }
    }
    for (v, out) in slice.iter_mut().zip(outside) {
        if !out && *v == 0 {
            *v = label;
        }
    }
}

/// Only the largest face-connected part of `label` in the `[width, height, depth]` grid stays
/// (the first found, on a tie); the rest becomes 0.
fn keep_largest(labels: &mut [u16], [width, height, depth]: [usize; 3], label: u16) {
    let plane = width * height;
    // Component number of each voxel of `label` (0: not labelled or not yet visited).
    let mut component = vec![0u32; labels.len()];
    let mut sizes: Vec<usize> = vec![0];
    let mut stack = Vec::new();
    for start in 0..labels.len() {
        if labels[start] != label || component[start] != 0 {
            continue;
        }
        let id = sizes.len() as u32;
        sizes.push(0);
        component[start] = id;
        stack.push(start);
        while let Some(p) = stack.pop() {
            sizes[id as usize] += 1;
            let (x, y, z) = (p % width, (p % plane) / width, p / plane);
            let neighbours = [
                (x > 0).then(|| p - 1),
                (x + 1 < width).then(|| p + 1),
                (y > 0).then(|| p - width),
                (y + 1 < height).then(|| p + width),
                (z > 0).then(|| p - plane),
                (z + 1 < depth).then(|| p + plane),
            ];
            for q in neighbours.into_iter().flatten() {
                if labels[q] == label && component[q] == 0 {
                    component[q] = id;
                    stack.push(q);
                }
            }
        }
    }
    let Some(largest) = (1..sizes.len()).max_by_key(|&i| (sizes[i], std::cmp::Reverse(i))) else {
        return;
    };
    for (v, c) in labels.iter_mut().zip(component) {
        if *v == label && c as usize != largest {
            *v = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(labels: &[u16], width: usize) -> Vec<String> {
        labels
            .chunks(width)
            .map(|row| row.iter().map(|v| char::from(b'0' + *v as u8)).collect())
            .collect()
    }

    fn parse(rows: &[&str]) -> Vec<u16> {
        rows.iter()
            .flat_map(|r| r.bytes().map(|b| (b - b'0') as u16))
            .collect()
    }

    #[test]
    fn a_brush_stroke_paints_a_capsule_over_other_objects_and_the_eraser_only_its_object() {
        let mut labels = parse(&["0000000", "0022200", "0000000", "0000000", "0000000"]);
        let paint = Edit::Paint {
            label: 1,
            z: 0,
            points: vec![[1.0, 1.0], [5.0, 1.0]],
            radius: 1.0,
        };
        apply_edits(&mut labels, 7, 5, &[paint]).unwrap();
        assert_eq!(
            show(&labels, 7),
            ["0111110", "1111111", "0111110", "0000000", "0000000"]
        );
        let mut labels = parse(&["0000000", "1112200", "1112200", "0000000", "0000000"]);
        let erase = Edit::Erase {
            label: 1,
            z: 0,
            points: vec![[2.0, 1.0], [3.0, 2.0]],
            radius: 0.0,
        };
        apply_edits(&mut labels, 7, 5, &[erase]).unwrap();
        assert_eq!(
            show(&labels, 7),
            ["0000000", "1102200", "1112200", "0000000", "0000000"]
        );
    }

    #[test]
    fn fill_holes_fills_enclosed_background_only() {
        let mut labels = parse(&["111110", "100010", "102010", "111110", "000000"]);
        apply_edits(&mut labels, 6, 5, &[Edit::FillHoles { label: 1, z: 0 }]).unwrap();
        assert_eq!(
            show(&labels, 6),
            ["111110", "111110", "112110", "111110", "000000"]
        );
        // Open to the edge: not a hole.
        let mut open = parse(&["1111", "1001", "1000"]);
        apply_edits(&mut open, 4, 3, &[Edit::FillHoles { label: 1, z: 0 }]).unwrap();
        assert_eq!(show(&open, 4), ["1111", "1001", "1000"]);
    }

    #[test]
    fn keep_largest_works_on_a_slice_and_through_the_volume() {
        // Two slices of 4x2: on slice 0, parts of 3 and 1 voxels; slice 1 joins the small one
        // to a larger part through z.
        let mut labels = parse(&["1101", "1000", "0001", "0011"]);
        let mut on_slice = labels.clone();
        apply_edits(
            &mut on_slice,
            4,
            2,
            &[Edit::KeepLargest {
                label: 1,
                z: Some(0),
            }],
        )
        .unwrap();
        assert_eq!(show(&on_slice, 4), ["1100", "1000", "0001", "0011"]);
        apply_edits(
            &mut labels,
            4,
            2,
            &[Edit::KeepLargest { label: 1, z: None }],
        )
        .unwrap();
        assert_eq!(show(&labels, 4), ["0001", "0000", "0001", "0011"]);
    }

    #[test]
    fn edits_apply_in_order_and_a_bad_list_changes_nothing() {
        let base = parse(&["0000", "0110", "0110", "0000"]);
        let mut labels = base.clone();
        let edits = [
            Edit::Paint {
                label: 2,
                z: 0,
                points: vec![[0.0, 0.0]],
                radius: 0.0,
            },
            Edit::ClearSlice { label: 1, z: 0 },
        ];
        apply_edits(&mut labels, 4, 4, &edits).unwrap();
        assert_eq!(show(&labels, 4), ["2000", "0000", "0000", "0000"]);
        for (bad, why) in [
            (Edit::ClearSlice { label: 1, z: 1 }, "slice 1"),
            (Edit::ClearSlice { label: 0, z: 0 }, "background"),
            (
                Edit::Paint {
                    label: 1,
                    z: 0,
                    points: vec![],
                    radius: 1.0,
                },
                "points",
            ),
            (
                Edit::Erase {
                    label: 1,
                    z: 0,
                    points: vec![[0.0, f64::NAN]],
                    radius: 1.0,
                },
                "not a number",
            ),
            (
                Edit::Paint {
                    label: 1,
                    z: 0,
                    points: vec![[0.0, 0.0]],
                    radius: 1e9,
                },
                "radius",
            ),
        ] {
            let mut labels = base.clone();
            let error = apply_edits(&mut labels, 4, 4, &[edits[1].clone(), bad]).unwrap_err();
            assert!(error.to_string().contains(why), "{error}");
            assert_eq!(labels, base, "nothing applied");
        }
        assert!(
            apply_edits(&mut labels, 3, 4, &[]).is_err(),
            "not whole slices"
        );
        // A stroke far outside the image changes nothing.
        let mut labels = base.clone();
        let outside = Edit::Paint {
            label: 1,
            z: 0,
            points: vec![[-50.0, -50.0], [-40.0, -60.0]],
            radius: 3.0,
        };
        apply_edits(&mut labels, 4, 4, &[outside]).unwrap();
        assert_eq!(labels, base);
    }

    #[test]
    fn edits_cross_the_boundary_as_json() {
        let json = r#"[{"kind":"paint","label":1,"z":0,"points":[[1,2],[3,4]],"radius":2.5},
            {"kind":"keepLargest","label":1},{"kind":"fillHoles","label":2,"z":3}]"#;
        let edits: Vec<Edit> = serde_json::from_str(json).unwrap();
        assert_eq!(edits[1], Edit::KeepLargest { label: 1, z: None });
        assert_eq!(edits[2], Edit::FillHoles { label: 2, z: 3 });
    }
}
