//! From the decoder's low-resolution logits to masks of the image's size, and from masks to one
//! label map. As LiteMedSAM: crop the 256x256 logits to the resized extent, resize bilinearly
//! (PyTorch `interpolate`, `align_corners=False`, no antialias) to HxW, foreground = logit > 0.

use crate::contract::MODEL_SIZE;
use crate::error::{Error, Result};

/// For each output index along one axis: the two source indices and their weights, computed in
/// f32 as PyTorch's CPU kernel does.
fn bilinear_axis(input_size: usize, output_size: usize) -> Vec<(usize, usize, f32, f32)> {
    let scale = input_size as f32 / output_size as f32;
    (0..output_size)
        .map(|o| {
            if input_size == output_size {
                return (o, o, 1.0, 0.0);
            }
            let real = (scale * (o as f32 + 0.5) - 0.5).max(0.0);
            let i0 = (real.floor() as usize).min(input_size - 1);
            let lambda1 = (real - i0 as f32).clamp(0.0, 1.0);
            let i1 = if i0 < input_size - 1 { i0 + 1 } else { i0 };
            (i0, i1, 1.0 - lambda1, lambda1)
        })
        .collect()
}

/// Foreground mask (`height x width`, row-major) from `256x256` low-resolution logits.
pub fn mask_from_logits(
    low_res: &[f32],
    resized_height: usize,
    resized_width: usize,
    height: usize,
    width: usize,
) -> Vec<bool> {
    assert_eq!(
        low_res.len(),
        MODEL_SIZE * MODEL_SIZE,
        "low-res logits must be 256x256"
    );
    let rows = bilinear_axis(resized_height, height);
    let cols = bilinear_axis(resized_width, width);
    let mut mask = vec![false; height * width];
    for (y, &(y0, y1, wy0, wy1)) in rows.iter().enumerate() {
        let r0 = &low_res[y0 * MODEL_SIZE..];
        let r1 = &low_res[y1 * MODEL_SIZE..];
        for (x, &(x0, x1, wx0, wx1)) in cols.iter().enumerate() {
            let top = r0[x0] * wx0 + r0[x1] * wx1;
            let bottom = r1[x0] * wx0 + r1[x1] * wx1;
            mask[y * width + x] = top * wy0 + bottom * wy1 > 0.0;
        }
    }
    mask
}

/// One label per pixel: 0 is background, box i (from 1) paints label i; later boxes overwrite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelMap {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `height * width` labels, row-major; 0 is background.
    pub labels: Vec<u16>,
}

impl LabelMap {
    /// All background.
    pub fn new(width: usize, height: usize) -> Self {
        LabelMap {
            width,
            height,
            labels: vec![0; width * height],
        }
    }

    /// Set `label` where `mask` is true (a later object over an earlier one).
    pub fn paint(&mut self, mask: &[bool], label: usize) -> Result<()> {
        let label = u16::try_from(label).map_err(|_| {
            Error::invalid(format!(
                "at most {} boxes per image are supported",
                u16::MAX
            ))
        })?;
        if mask.len() != self.labels.len() {
            return Err(Error::invalid("mask and label map differ in size"));
        }
        for (l, &m) in self.labels.iter_mut().zip(mask) {
            if m {
                *l = label;
            }
        }
        Ok(())
    }

    /// The largest label (0 when empty).
    pub fn max_label(&self) -> u16 {
        self.labels.iter().copied().max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_labels_overwrite_earlier_ones_and_exceed_255() {
        let mut map = LabelMap::new(3, 1);
        map.paint(&[true, true, false], 1).unwrap();
        map.paint(&[false, true, true], 300).unwrap();
        assert_eq!(map.labels, vec![1, 300, 300]);
        assert_eq!(map.max_label(), 300);
        assert!(map.paint(&[true, true, true], 70_000).is_err());
    }

    #[test]
    fn bilinear_weights_match_align_corners_false() {
        // Upscaling 2 -> 4: sources -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped index).
        let axis = bilinear_axis(2, 4);
        assert_eq!(axis[0], (0, 1, 1.0, 0.0));
        assert_eq!(axis[1], (0, 1, 0.75, 0.25));
        assert_eq!(axis[2], (0, 1, 0.25, 0.75));
        assert_eq!(axis[3], (1, 1, 0.75, 0.25));
    }

    #[test]
    fn mask_thresholds_logits_at_zero() {
        let mut low_res = vec![-1.0f32; MODEL_SIZE * MODEL_SIZE];
        low_res[0] = 5.0;
        let mask = mask_from_logits(&low_res, 256, 256, 256, 256);
        assert!(mask[0]);
        assert_eq!(mask.iter().filter(|&&m| m).count(), 1);
    }
}
