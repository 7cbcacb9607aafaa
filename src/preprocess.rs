//! LiteMedSAM's preprocessing, bit for bit: resize the longest side to 256 with OpenCV's
//! `INTER_AREA` (as `cv2.resize` computes it on uint8), min-max normalise the resized image to
//! [0, 1], zero-pad bottom/right to 256x256, NCHW. Boxes are scaled by 256/max(H, W) and
//! truncated. Plain bilinear resizing is not good enough: it moved a small CT slice's mask to
//! IoU 0.80, so the three code paths of OpenCV's uint8 area resize are reproduced (in
//! [`crate::resize`]).

use crate::contract::{Click256, MODEL_SIZE};
use crate::error::{Error, Result};
use crate::prompt::{BoxPrompt, Click};
use crate::resize::resize_area_u8;
use crate::rgb::RgbImage;

/// Where an image sits in the model's 256 frame: what the decoder side needs to map back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Size of the image inside the 256 frame (before padding).
    pub resized_height: usize,
    /// Width of the image inside the 256 frame.
    pub resized_width: usize,
    /// The image's own size.
    pub height: usize,
    /// The image's own width.
    pub width: usize,
}

/// The encoder input of one image, and its frame.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// `1x3x256x256`, min-max normalised, zero padded.
    pub input: Vec<f32>,
    /// Where the image sits in it.
    pub frame: Frame,
}

/// `(new_height, new_width)` of the longest-side resize, rounded as the reference does.
pub fn resized_size(height: usize, width: usize, target: usize) -> Result<(usize, usize)> {
    let scale = target as f64 / height.max(width) as f64;
    let new_height = (height as f64 * scale + 0.5) as usize;
    let new_width = (width as f64 * scale + 0.5) as usize;
    if new_height == 0 || new_width == 0 {
        return Err(Error::invalid(format!(
            "a {width}x{height} image is too thin: its short side vanishes at {target} px"
        )));
    }
    Ok((new_height, new_width))
}

/// The encoder input of an image, exactly as LiteMedSAM makes it.
pub fn prepare(image: &RgbImage) -> Result<Prepared> {
    let (new_height, new_width) = resized_size(image.height, image.width, MODEL_SIZE)?;
    let resized = resize_area_u8(
        &image.data,
        image.height,
        image.width,
        3,
        new_height,
        new_width,
    );
    Ok(Prepared {
        input: normalize_and_pad(&resized, new_height, new_width),
        frame: Frame {
            resized_height: new_height,
            resized_width: new_width,
            height: image.height,
            width: image.width,
        },
    })
}

/// `(v - min) / max(max - min, 1e-8)` over the whole resized image (computed in f64 like numpy,
/// then rounded to f32), zero padded to 256x256 and laid out as NCHW.
pub fn normalize_and_pad(resized: &[u8], height: usize, width: usize) -> Vec<f32> {
    let low = resized.iter().copied().min().unwrap_or(0);
    let high = resized.iter().copied().max().unwrap_or(0);
    let range = ((high - low) as f64).max(1e-8);
    let mut input = vec![0f32; 3 * MODEL_SIZE * MODEL_SIZE];
    for y in 0..height {
        for x in 0..width {
            for c in 0..3 {
                let v = resized[(y * width + x) * 3 + c];
                input[c * MODEL_SIZE * MODEL_SIZE + y * MODEL_SIZE + x] =
                    ((v - low) as f64 / range) as f32;
            }
        }
    }
    input
}

/// The box in the 256 frame: each coordinate times 256/max(H, W), truncated (`int(v * ratio)`).
pub fn box_to_model_frame(b: BoxPrompt, height: usize, width: usize) -> [f32; 4] {
    let ratio = MODEL_SIZE as f64 / height.max(width) as f64;
    b.map(|v| (v as f64 * ratio).trunc() as f32)
}

/// A click in the model's 256 frame: scaled like the image, not truncated (SAM scales point
/// coordinates as floats; models/clicks.py does the same).
pub fn click_to_model_frame(c: Click, height: usize, width: usize) -> Click256 {
    let ratio = MODEL_SIZE as f64 / height.max(width) as f64;
    Click256 {
        point: [(c.x * ratio) as f32, (c.y * ratio) as f32],
        positive: c.positive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resized_size_rounds_half_up() {
        assert_eq!(resized_size(512, 512, 256).unwrap(), (256, 256));
        assert_eq!(resized_size(41, 512, 256).unwrap(), (21, 256));
        assert_eq!(resized_size(120, 45, 256).unwrap(), (256, 96));
        assert!(resized_size(1, 1000, 256).is_err());
    }

    #[test]
    fn box_scaling_truncates() {
        // 256/1411 * 520 = 94.35 -> 94; 256/1411 * 760 = 137.9 -> 137
        assert_eq!(
            box_to_model_frame([520, 560, 760, 820], 1411, 1411),
            [94.0, 101.0, 137.0, 148.0]
        );
        assert_eq!(
            box_to_model_frame([1, 2, 3, 4], 64, 64),
            [4.0, 8.0, 12.0, 16.0]
        );
    }

    #[test]
    fn normalisation_spans_zero_to_one_and_pads_with_zero() {
        let resized = [10u8, 10, 10, 20, 20, 20];
        let input = normalize_and_pad(&resized, 1, 2);
        assert_eq!(input[0], 0.0);
        assert_eq!(input[1], 1.0);
        assert_eq!(input[2], 0.0); // padding
        assert_eq!(input[MODEL_SIZE * MODEL_SIZE + 1], 1.0); // channel 1
    }
}
