//! DSC and NSD exactly as the CVPR24 "MedSAM on Laptop" challenge computes them
//! (`compute_metrics.py`, which uses DeepMind's surface-distance):
//!
//! - per label present in the ground truth: DSC = 2|G∩P| / (|G|+|P|);
//! - NSD: surface elements of both masks from the 2x2x2 neighbourhood codes (marching-cubes
//!   areas from DeepMind's table, `surfel_normals.txt`), distances by an exact Euclidean distance
//!   transform with the voxel spacing, NSD = (area of G's surface within `tolerance` of P's
//!   surface + the same for P) / (G's area + P's area);
//! - per case: the mean over labels; NSD is 0 when the case's mean DSC is <= 0.2;
//! - 2D cases are volumes of depth 1 with spacing 1 (as the challenge does), so the tolerance
//!   is in pixels there and in millimetres in 3D.

use std::sync::OnceLock;

/// A label volume in array order (`dims[0]` slowest), e.g. `[z, y, x]`, or `[h, w, 1]` for 2D.
#[derive(Clone, Copy, Debug)]
pub struct LabelVolume<'a> {
    /// `[z, y, x]` (or `[h, w, 1]`).
    pub dims: [usize; 3],
    /// The labels, `dims` order.
    pub labels: &'a [u32],
}

/// One case's scores.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseScore {
    /// Mean over the ground truth's labels; NaN when the ground truth has no label.
    pub dsc: f64,
    /// Mean NSD over the ground truth's labels (0 where the case DSC is at most 0.2).
    pub nsd: f64,
    /// `(label, dsc, nsd)`; nsd is NaN for labels whose NSD was not computed (case DSC <= 0.2).
    pub per_label: Vec<(u32, f64, f64)>,
}

fn normals_table() -> &'static Vec<Vec<[f64; 3]>> {
    static TABLE: OnceLock<Vec<Vec<[f64; 3]>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let table: Vec<Vec<[f64; 3]>> = include_str!("surfel_normals.txt")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|line| {
                line.split_whitespace()
                    .map(|n| {
                        let v: Vec<f64> = n
                            .split(',')
                            .map(|x| x.parse().expect("surfel table"))
                            .collect();
                        [v[0], v[1], v[2]]
                    })
                    .collect()
            })
            .collect();
        assert_eq!(table.len(), 256, "surfel_normals.txt must have 256 codes");
        table
    })
}

/// Surface area of each neighbourhood code for this spacing.
fn code_areas(spacing: [f64; 3]) -> [f64; 256] {
    let mut areas = [0.0; 256];
    for (code, normals) in normals_table().iter().enumerate() {
        let mut sum = 0.0;
        for n in normals {
            let v = [
                n[0] * spacing[1] * spacing[2],
                n[1] * spacing[0] * spacing[2],
                n[2] * spacing[0] * spacing[1],
            ];
            sum += (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        }
        areas[code] = sum;
    }
    areas
}

/// The Dice coefficient of two masks (1 when both are empty).
pub fn dice(gt: &[bool], pred: &[bool]) -> f64 {
    let (mut inter, mut total) = (0usize, 0usize);
    for (&g, &p) in gt.iter().zip(pred) {
        inter += (g && p) as usize;
        total += g as usize + p as usize;
    }
    if total == 0 {
        f64::NAN
    } else {
        2.0 * inter as f64 / total as f64
    }
}

/// 1D squared distance transform (Felzenszwalb & Huttenlocher) with `weight` = spacing².
fn edt_1d(f: &[f64], weight: f64, out: &mut [f64], v: &mut [usize], z: &mut [f64]) {
    let n = f.len();
    let mut k = 0usize;
    let mut first = None;
    for q in 0..n {
        if f[q].is_finite() {
            if first.is_none() {
                first = Some(q);
                v[0] = q;
                z[0] = f64::NEG_INFINITY;
                z[1] = f64::INFINITY;
                continue;
            }
            loop {
                let p = v[k];
                let s = ((f[q] + weight * (q * q) as f64) - (f[p] + weight * (p * p) as f64))
                    / (2.0 * weight * (q as f64 - p as f64));
                if s <= z[k] && k > 0 {
                    k -= 1;
                } else if s <= z[k] {
                    // k == 0 and z[0] = -inf: cannot happen, kept for clarity.
                    break;
                } else {
                    k += 1;
                    v[k] = q;
                    z[k] = s;
                    z[k + 1] = f64::INFINITY;
                    break;
                }
            }
        }
    }
    if first.is_none() {
        out.iter_mut().for_each(|o| *o = f64::INFINITY);
        return;
    }
    k = 0;
    for (q, o) in out.iter_mut().enumerate() {
        while z[k + 1] < q as f64 {
            k += 1;
        }
        let d = q as f64 - v[k] as f64;
        *o = weight * d * d + f[v[k]];
    }
}

/// Euclidean distance (with spacing) from every voxel to the nearest `true` voxel.
fn distance_transform(sites: &[bool], dims: [usize; 3], spacing: [f64; 3]) -> Vec<f64> {
    let mut d: Vec<f64> = sites
        .iter()
        .map(|&s| if s { 0.0 } else { f64::INFINITY })
        .collect();
    let longest = dims.iter().copied().max().unwrap_or(0);
    let (mut f, mut out) = (vec![0.0; longest], vec![0.0; longest]);
    let (mut v, mut z) = (vec![0usize; longest], vec![0.0; longest + 1]);
    let strides = [dims[1] * dims[2], dims[2], 1];
    for axis in 0..3 {
        let n = dims[axis];
        let weight = spacing[axis] * spacing[axis];
        let others: Vec<usize> = (0..3).filter(|&a| a != axis).collect();
        for i in 0..dims[others[0]] {
            for j in 0..dims[others[1]] {
                let base = i * strides[others[0]] + j * strides[others[1]];
                for q in 0..n {
                    f[q] = d[base + q * strides[axis]];
                }
                edt_1d(&f[..n], weight, &mut out[..n], &mut v, &mut z);
                for q in 0..n {
                    d[base + q * strides[axis]] = out[q];
                }
            }
        }
    }
    d.iter().map(|x| x.sqrt()).collect()
}

/// NSD (surface Dice at `tolerance`) of two binary masks; NaN when both are empty.
pub fn surface_dice(
    gt: &[bool],
    pred: &[bool],
    dims: [usize; 3],
    spacing: [f64; 3],
    tolerance: f64,
) -> f64 {
    // Bounding box of both masks, then a crop padded by one voxel at the high end of each axis
    // (the "full" correlation with the 2x2x2 kernel).
    let mut low = dims;
    let mut high = [0usize; 3];
    let mut any = false;
    for (index, (&g, &p)) in gt.iter().zip(pred).enumerate() {
        if g || p {
            any = true;
            let at = [
                index / (dims[1] * dims[2]),
                (index / dims[2]) % dims[1],
                index % dims[2],
            ];
            for a in 0..3 {
                low[a] = low[a].min(at[a]);
                high[a] = high[a].max(at[a]);
            }
        }
    }
    if !any {
        return f64::NAN;
    }
    let crop = [
        high[0] - low[0] + 2,
        high[1] - low[1] + 2,
        high[2] - low[2] + 2,
    ];
    let cropped = |mask: &[bool]| {
        let mut out = vec![0u8; crop[0] * crop[1] * crop[2]];
        for i in 0..crop[0] - 1 {
            for j in 0..crop[1] - 1 {
                for k in 0..crop[2] - 1 {
                    let src = ((low[0] + i) * dims[1] + low[1] + j) * dims[2] + low[2] + k;
                    out[(i * crop[1] + j) * crop[2] + k] = mask[src] as u8;
                }
            }
        }
        out
    };
    // scipy.ndimage.correlate with the 2x2x2 kernel [[[128,64],[32,16]],[[8,4],[2,1]]]: the kernel's
    // centre is its index 1, so voxel (i,j,k) sees (i-1..=i, j-1..=j, k-1..=k).
    let codes = |mask: &[u8]| {
        let at = |i: isize, j: isize, k: isize| -> u8 {
            if i < 0 || j < 0 || k < 0 {
                0
            } else {
                mask[(i as usize * crop[1] + j as usize) * crop[2] + k as usize]
            }
        };
        let mut out = vec![0u8; mask.len()];
        for i in 0..crop[0] as isize {
            for j in 0..crop[1] as isize {
                for k in 0..crop[2] as isize {
                    out[(i as usize * crop[1] + j as usize) * crop[2] + k as usize] = 128
                        * at(i - 1, j - 1, k - 1)
                        + 64 * at(i - 1, j - 1, k)
                        + 32 * at(i - 1, j, k - 1)
                        + 16 * at(i - 1, j, k)
                        + 8 * at(i, j - 1, k - 1)
                        + 4 * at(i, j - 1, k)
                        + 2 * at(i, j, k - 1)
                        + at(i, j, k);
                }
            }
        }
        out
    };
    let code_gt = codes(&cropped(gt));
    let code_pred = codes(&cropped(pred));
    let border = |codes: &[u8]| {
        codes
            .iter()
            .map(|&c| c != 0 && c != 255)
            .collect::<Vec<bool>>()
    };
    let (border_gt, border_pred) = (border(&code_gt), border(&code_pred));
    let dist_to_gt = distance_transform(&border_gt, crop, spacing);
    let dist_to_pred = distance_transform(&border_pred, crop, spacing);
    let areas = code_areas(spacing);
    let (mut overlap, mut total) = (0.0, 0.0);
    for i in 0..code_gt.len() {
        if border_gt[i] {
            let area = areas[code_gt[i] as usize];
            total += area;
            if dist_to_pred[i] <= tolerance {
                overlap += area;
            }
        }
        if border_pred[i] {
            let area = areas[code_pred[i] as usize];
            total += area;
            if dist_to_gt[i] <= tolerance {
                overlap += area;
            }
        }
    }
    overlap / total
}

/// The challenge's per-case score.
pub fn score_case(
    gt: LabelVolume,
    pred: LabelVolume,
    spacing: [f64; 3],
    tolerance: f64,
) -> CaseScore {
    let mut labels: Vec<u32> = gt.labels.iter().copied().filter(|&l| l != 0).collect();
    labels.sort_unstable();
    labels.dedup();
    let masks: Vec<(u32, Vec<bool>, Vec<bool>)> = labels
        .iter()
        .map(|&l| {
            (
                l,
                gt.labels.iter().map(|&v| v == l).collect(),
                pred.labels.iter().map(|&v| v == l).collect(),
            )
        })
        .collect();
    let dscs: Vec<f64> = masks.iter().map(|(_, g, p)| dice(g, p)).collect();
    let dsc = mean(&dscs);
    let nsds: Vec<f64> = if dsc > 0.2 {
        masks
            .iter()
            .map(|(_, g, p)| surface_dice(g, p, gt.dims, spacing, tolerance))
            .collect()
    } else {
        vec![f64::NAN; labels.len()]
    };
    let nsd = if dsc > 0.2 { mean(&nsds) } else { 0.0 };
    CaseScore {
        dsc,
        nsd,
        per_label: labels
            .iter()
            .zip(dscs.iter().zip(&nsds))
            .map(|(&l, (&d, &n))| (l, d, n))
            .collect(),
    }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        f64::NAN
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_transform_is_euclidean_with_spacing() {
        let mut sites = vec![false; 5 * 5];
        sites[12] = true; // centre of a 1x5x5 volume
        let d = distance_transform(&sites, [1, 5, 5], [1.0, 2.0, 1.0]);
        assert_eq!(d[12], 0.0);
        assert_eq!(d[13], 1.0); // one step along x (spacing 1)
        assert_eq!(d[7], 2.0); // one step along y (spacing 2)
        assert!((d[0] - (16.0f64 + 4.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn identical_masks_score_one_and_disjoint_zero() {
        let mut a = vec![0u32; 10 * 10];
        for y in 2..6 {
            for x in 3..7 {
                a[y * 10 + x] = 1;
            }
        }
        let gt = LabelVolume {
            dims: [10, 10, 1],
            labels: &a,
        };
        let same = score_case(gt, gt, [1.0; 3], 2.0);
        assert_eq!((same.dsc, same.nsd), (1.0, 1.0));
        let shifted: Vec<u32> = (0..100)
            .map(|i| if i % 10 >= 8 && i / 10 >= 8 { 1 } else { 0 })
            .collect();
        let far = score_case(
            gt,
            LabelVolume {
                dims: [10, 10, 1],
                labels: &shifted,
            },
            [1.0; 3],
            2.0,
        );
        assert_eq!((far.dsc, far.nsd), (0.0, 0.0));
    }

    #[test]
    fn surfel_table_has_the_single_corner_triangle() {
        let areas = code_areas([1.0; 3]);
        assert_eq!(areas[0], 0.0);
        assert!((areas[1] - (3.0f64 * 0.125 * 0.125).sqrt()).abs() < 1e-15);
    }
}
