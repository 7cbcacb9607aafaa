//! 3D segmentation with LiteMedSAM's official algorithm (CVPR24_LiteMedSAM_infer.py,
//! `MedSAM_infer_npz_3D`). For a box `[x_min, y_min, z_min, x_max, y_max, z_max]`:
//! segment the middle slice `z_mid = (z_min + z_max) / 2` with the 2D box, then go up slice by slice
//! to `z_max` and down from `z_mid - 1` to `z_min` (both ends included, as the reference does).
//! Each next slice's box is the previous slice's mask brought to the 256 frame (resized like the
//! image with INTER_AREA, padded), its bounding box widened by 3 px per side and clipped to
//! [0, 256]; when that mask is empty, the original 2D box. No early stop. Later boxes overwrite
//! earlier ones. All boxes advance together (see [`Segmenter::segment_3d`]), so a slice is
//! encoded at most twice however many boxes cross it, and once while the embedding cache holds
//! the volume's slices.

use std::borrow::Cow;

use crate::cache::image_key;
use crate::contract::MODEL_SIZE;
use crate::error::{Error, Result};
pub use crate::label_value::LabelValue;
use crate::model::SamModel;
use crate::preprocess::{box_to_model_frame, resized_size};
use crate::prompt::{validate_box_3d, Box3d};
use crate::resize::resize_area_u8;
use crate::rgb::RgbImage;
use crate::segment::{decode_in_frame, Segmenter};

/// 8-bit grey volume, `depth x height x width`, slice-major.
#[derive(Clone, Debug)]
pub struct GreyVolume {
    /// Slices.
    pub depth: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// `depth * height * width` bytes, slice-major.
    pub data: Vec<u8>,
}

/// What 3D propagation reads: 8-bit grey slices, one at a time (a windowed medical volume
/// windows each slice as it is asked for; a [`GreyVolume`] holds them all).
pub trait GreySlices {
    /// `[width, height, depth]`.
    fn grey_size(&self) -> [usize; 3];
    /// Slice `z`, `height * width` values.
    fn grey_slice(&self, z: usize) -> Result<Cow<'_, [u8]>>;
}

impl GreySlices for GreyVolume {
    fn grey_size(&self) -> [usize; 3] {
        [self.width, self.height, self.depth]
    }

    fn grey_slice(&self, z: usize) -> Result<Cow<'_, [u8]>> {
        Ok(Cow::Borrowed(self.slice(z)))
    }
}

/// How far a 3D segmentation has got; return `false` to cancel.
pub use crate::progress::Progress;

impl GreyVolume {
    /// A volume from its voxels; sizes whose product overflows, or that do not match the data, are refused.
    pub fn new(depth: usize, height: usize, width: usize, data: Vec<u8>) -> Result<Self> {
        if depth == 0 || height == 0 || width == 0 {
            return Err(Error::invalid(format!(
                "the volume is empty ({width}x{height}x{depth})"
            )));
        }
        crate::rgb::check_size(width as u64, height as u64)?;
        // Checked: on wasm32 a large enough size wraps to a small product and would pass.
        let voxels = depth.checked_mul(height).and_then(|v| v.checked_mul(width));
        if voxels != Some(data.len()) {
            return Err(Error::invalid(format!(
                "volume data ({} bytes) does not match its size {width}x{height}x{depth}",
                data.len()
            )));
        }
        Ok(GreyVolume {
            depth,
            height,
            width,
            data,
        })
    }

    /// Slice `z`.
    pub fn slice(&self, z: usize) -> &[u8] {
        &self.data[z * self.height * self.width..(z + 1) * self.height * self.width]
    }
}

/// The next slice's box from the previous slice's mask (painted with `value`, as the reference's
/// uint8 temporary volume holds the label there), or None when the mask vanishes at 256.
pub fn box_from_previous_mask(
    mask: &[bool],
    value: u8,
    height: usize,
    width: usize,
) -> Option<[f32; 4]> {
    let (nh, nw) = resized_size(height, width, MODEL_SIZE).ok()?;
    let painted: Vec<u8> = mask.iter().map(|&m| if m { value } else { 0 }).collect();
    let small = resize_area_u8(&painted, height, width, 1, nh, nw);
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..nh {
        for x in 0..nw {
            if small[y * nw + x] > 0 {
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
    }
    if x0 == usize::MAX {
        return None;
    }
    const SHIFT: usize = 3;
    let size = MODEL_SIZE as f32;
    Some([
        x0.saturating_sub(SHIFT) as f32,
        y0.saturating_sub(SHIFT) as f32,
        ((x1 + SHIFT) as f32).min(size),
        ((y1 + SHIFT) as f32).min(size),
    ])
}

impl Segmenter {
    /// Label volume (`depth * height * width`): box i paints label i, later boxes overwrite.
    ///
    /// All boxes advance together, slice by slice: first every box's upward run (z_mid..=z_max)
    /// in increasing z, then every downward run (z_mid-1 down to z_min) in decreasing z. Each box
    /// still sees exactly the prompts the reference's box-by-box loop gives it (its own previous
    /// slice's mask), but a slice is encoded once per sweep however many boxes cross it: at most
    /// twice in all, and once when the volume's slices fit in the embedding cache.
    pub fn segment_3d(
        &mut self,
        model: &SamModel,
        volume: &dyn GreySlices,
        boxes: &[Box3d],
        progress: Progress,
    ) -> Result<Vec<u16>> {
        self.segment_3d_labels(model, volume, boxes, progress)
    }

    /// [`Segmenter::segment_3d`] into labels of type `L`: u8 (a byte a voxel) for up to 255
    /// boxes.
    pub fn segment_3d_labels<L: LabelValue>(
        &mut self,
        model: &SamModel,
        volume: &dyn GreySlices,
        boxes: &[Box3d],
        progress: Progress,
    ) -> Result<Vec<L>> {
        let [w, h, depth] = volume.grey_size();
        let boxes = boxes
            .iter()
            .enumerate()
            .map(|(i, &b)| validate_box_3d(i, b, [w, h, depth]))
            .collect::<Result<Vec<_>>>()?;
        if boxes.len() > L::MAX {
            return Err(Error::invalid(format!(
                "at most {} boxes per volume are supported",
                L::MAX
            )));
        }
        let plane = h * w;
        let total: usize = boxes.iter().map(|b| (b[5] - b[2] + 1) as usize).sum();
        let mut done = 0;
        let voxels = crate::limits::checked_voxels(&[w, h, depth])?;
        let mut labels = vec![L::default(); voxels];
        if boxes.is_empty() {
            return Ok(labels);
        }
        let mut runs: Vec<Run> = boxes
            .iter()
            .map(|b| {
                let (z_min, z_max) = (b[2] as usize, b[5] as usize);
                Run {
                    box_2d: box_to_model_frame([b[0], b[1], b[3], b[4]], h, w),
                    z_min,
                    z_mid: (z_min + z_max) / 2,
                    z_max,
                    previous: None,
                    middle: None,
                }
            })
            .collect();
        let up_start = runs.iter().map(|r| r.z_mid).min().unwrap_or(0);
        let up_end = runs.iter().map(|r| r.z_max).max().unwrap_or(0);
        let down_start = runs.iter().map(|r| r.z_mid).max().unwrap_or(0);
        let down_end = runs.iter().map(|r| r.z_min).min().unwrap_or(0);
        let upward = (up_start..=up_end).map(|z| (z, true));
        let downward = (down_end..down_start).rev().map(|z| (z, false));
        let active = |runs: &[Run], z: usize, up: bool| -> Vec<usize> {
            (0..runs.len())
                .filter(|&i| {
                    let r = &runs[i];
                    if up {
                        r.z_mid <= z && z <= r.z_max
                    } else {
                        r.z_min <= z && z < r.z_mid
                    }
                })
                .collect()
        };
        // The slices the sweeps visit, in order: which ones does not depend on the masks, so
        // with several workers the next ones are encoded together, one per worker.
        let order: Vec<(usize, bool)> = upward
            .chain(downward)
            .filter(|&(z, up)| !active(&runs, z, up).is_empty())
            .collect();
        let ahead = crate::threads::workers();
        for (step, &(z, up)) in order.iter().enumerate() {
            let active = active(&runs, z, up);
            let slice = RgbImage::from_grey(w, h, &volume.grey_slice(z)?)?;
            if ahead > 1 && !self.is_cached(model, image_key(w, h, &slice.data)) {
                // This slice and the next ones not cached, up to one per worker.
                let mut next = Vec::with_capacity(ahead);
                for &(z, _) in order[step..].iter().take(4 * ahead) {
                    let image = RgbImage::from_grey(w, h, &volume.grey_slice(z)?)?;
                    if !self.is_cached(model, image_key(w, h, &image.data)) {
                        next.push(image);
                        if next.len() == ahead {
                            break;
                        }
                    }
                }
                self.encode_ahead(model, &next)?;
            }
            let (encoded, _) = self.encode(model, &slice)?;
            for i in active {
                let label = i + 1;
                // The reference keeps masks in a uint8 volume holding the label.
                let value = label.min(255) as u8;
                let run = &mut runs[i];
                let neighbour = if z == run.z_mid {
                    None
                } else if up {
                    run.previous.as_ref()
                } else if z + 1 == run.z_mid {
                    run.middle.as_ref()
                } else {
                    run.previous.as_ref()
                };
                let prompt = neighbour
                    .and_then(|m| box_from_previous_mask(m, value, h, w))
                    .unwrap_or(run.box_2d);
                let mask = decode_in_frame(model, &encoded, prompt)?.0;
                // Later boxes overwrite earlier ones: the highest label wins, whatever the order
                // in which the sweeps reach a voxel.
                let label = L::from_label(label);
                for (l, &m) in labels[z * plane..(z + 1) * plane].iter_mut().zip(&mask) {
                    if m && *l < label {
                        *l = label;
                    }
                }
                if z == run.z_mid {
                    run.middle = Some(mask.clone());
                }
                run.previous = Some(mask);
                done += 1;
                if !progress(done, total) {
                    return Err(Error::Cancelled);
                }
            }
            if up && runs.iter().all(|r| z >= r.z_max) {
                // Every upward run has ended; the downward sweep starts from each middle mask.
                for r in &mut runs {
                    r.previous = None;
                }
            }
        }
        Ok(labels)
    }
}

/// One box's propagation state.
struct Run {
    box_2d: [f32; 4],
    z_min: usize,
    z_mid: usize,
    z_max: usize,
    /// The mask of the slice this box segmented last in the current sweep.
    previous: Option<Vec<bool>>,
    /// Its mask on z_mid, where its downward run starts from.
    middle: Option<Vec<bool>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_mask_box_is_widened_and_clipped() {
        // 256x256 slice: the 256 frame is the slice itself.
        let mut mask = vec![false; 256 * 256];
        mask[10 * 256 + 1] = true;
        mask[254 * 256 + 255] = true;
        assert_eq!(
            box_from_previous_mask(&mask, 1, 256, 256),
            Some([0.0, 7.0, 256.0, 256.0])
        );
        assert_eq!(
            box_from_previous_mask(&vec![false; 256 * 256], 1, 256, 256),
            None
        );
    }

    #[test]
    fn tiny_masks_vanish_at_256_depending_on_the_label_value() {
        // 512x512 -> 256x256 averages 2x2 blocks with (sum + 2) >> 2: one pixel of value 1 is
        // lost, one of value 2 survives. The reference behaves the same.
        let mut mask = vec![false; 512 * 512];
        mask[100 * 512 + 100] = true;
        assert_eq!(box_from_previous_mask(&mask, 1, 512, 512), None);
        assert!(box_from_previous_mask(&mask, 2, 512, 512).is_some());
    }

    #[test]
    fn sizes_whose_product_overflows_are_refused() {
        // 64 x 8192 x 8192 wraps to 0 on wasm32; any size whose product overflows usize must be
        // refused on every target, not pass as an empty volume.
        for depth in [usize::MAX, usize::MAX / 2 + 1] {
            assert!(GreyVolume::new(depth, 8192, 8192, Vec::new()).is_err());
        }
        assert!(GreyVolume::new(64, 8192, 8192, Vec::new())
            .unwrap_err()
            .to_string()
            .contains("does not match"));
    }
}
