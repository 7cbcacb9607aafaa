//! Image decoding: PNG, JPEG, BMP and TIFF (8/16-bit and float; grey, grey+alpha, RGB, RGBA) into
//! the 8-bit RGB image the models take. Images deeper than 8 bits are mapped to 0..255 by min-max
//! over all colour samples (alpha is dropped): the same rule as `models/fixtures.py`.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};

use crate::error::{Error, Result};

/// Images larger than this are refused before any pixel is decoded (the budget is in
/// [`crate::limits`]).
pub use crate::limits::MAX_PIXELS;

/// An 8-bit RGB image, row-major, `height * width * 3` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// `height * width * 3` bytes.
    pub data: Vec<u8>,
}

impl RgbImage {
    /// An image from its pixels; the size is checked against [`MAX_PIXELS`] and the data's length.
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Result<Self> {
        check_size(width as u64, height as u64)?;
        if data.len() != width * height * 3 {
            return Err(Error::invalid(format!(
                "{width}x{height} RGB image needs {} bytes, got {}",
                width * height * 3,
                data.len()
            )));
        }
        Ok(RgbImage {
            width,
            height,
            data,
        })
    }

    /// RGBA bytes (opaque), for a browser's `ImageData`.
    pub fn to_rgba(&self) -> Vec<u8> {
        self.data
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect()
    }

    /// A grey image replicated into three channels.
    pub fn from_grey(width: usize, height: usize, grey: &[u8]) -> Result<Self> {
        if grey.len() != width * height {
            return Err(Error::invalid(format!(
                "{width}x{height} grey image needs {} bytes, got {}",
                width * height,
                grey.len()
            )));
        }
        RgbImage::new(
            width,
            height,
            grey.iter().flat_map(|&v| [v, v, v]).collect(),
        )
    }
}

/// Refuse empty images and more than [`MAX_PIXELS`] pixels, before anything is allocated.
pub fn check_size(width: u64, height: u64) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::invalid(format!(
            "the image is empty ({width}x{height} pixels)"
        )));
    }
    if width * height > MAX_PIXELS {
        return Err(Error::invalid(format!(
            "the image is {width}x{height} = {:.0} megapixels; at most {} are supported",
            (width * height) as f64 / 1e6,
            MAX_PIXELS / (1024 * 1024)
        )));
    }
    Ok(())
}

/// Whether the bytes start like a PNG, JPEG, BMP or TIFF file (which [`read_image`] decodes).
pub fn is_image_file(bytes: &[u8]) -> bool {
    image::guess_format(bytes).is_ok_and(|f| {
        matches!(
            f,
            ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Bmp | ImageFormat::Tiff
        )
    })
}

/// Decode PNG, JPEG, BMP or TIFF bytes.
pub fn read_image(bytes: &[u8]) -> Result<RgbImage> {
    to_rgb8(decode_image(bytes)?)
}

/// An image file's pixels as decoded (8- or 16-bit, grey or colour), its size checked against
/// [`MAX_PIXELS`] before decoding.
pub fn decode_image(bytes: &[u8]) -> Result<DynamicImage> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Decode(e.to_string()))?;
    match reader.format() {
        None => {
            return Err(Error::Decode(format!(
                "not an image file daftseg reads ({})",
                crate::identify::READABLE
            )))
        }
        // The JPEG decoder fills a scan that ends early with grey and calls it success.
        Some(ImageFormat::Jpeg) if !jpeg_has_end(bytes) => {
            return Err(Error::Decode(
                "the JPEG file is truncated (it has no end-of-image marker after its image data)"
                    .to_string(),
            ))
        }
        Some(_) => {}
    }
    let mut decoder = reader.into_decoder().map_err(|e| match e {
        // In wasm32 the decoder's own size arithmetic overflows before our check can run.
        image::ImageError::Limits(_) => Error::Decode(format!(
            "the image is too large: its header describes more than {} megapixels",
            MAX_PIXELS / (1024 * 1024)
        )),
        e => Error::Decode(e.to_string()),
    })?;
    let (width, height) = image::ImageDecoder::dimensions(&decoder);
    check_size(width as u64, height as u64)?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 16);
    image::ImageDecoder::set_limits(&mut decoder, limits)
        .map_err(|e| Error::Decode(e.to_string()))?;
    DynamicImage::from_decoder(decoder).map_err(|e| Error::Decode(e.to_string()))
}

/// Whether an end-of-image marker (FF D9) follows the last start-of-scan (FF DA). Inside the
/// entropy-coded data a 0xFF byte is always followed by 0x00 or a restart marker, so an FF D9
/// there is the real end; a file cut anywhere in its scan has none.
fn jpeg_has_end(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    last_scan.is_some_and(|at| bytes[at..].windows(2).any(|w| w == [0xFF, 0xD9]))
}

fn to_rgb8(image: DynamicImage) -> Result<RgbImage> {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let data = match image {
        DynamicImage::ImageLuma8(img) => img.as_raw().iter().flat_map(|&v| [v, v, v]).collect(),
        DynamicImage::ImageLumaA8(img) => img
            .as_raw()
            .chunks_exact(2)
            .flat_map(|p| [p[0]; 3])
            .collect(),
        DynamicImage::ImageRgb8(img) => img.into_raw(),
        DynamicImage::ImageRgba8(img) => img
            .as_raw()
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        DynamicImage::ImageLuma16(img) => {
            let grey = min_max_to_u8(img.as_raw().iter().map(|&v| v as f64));
            grey.into_iter().flat_map(|v| [v, v, v]).collect()
        }
        DynamicImage::ImageLumaA16(img) => {
            let grey = min_max_to_u8(img.as_raw().chunks_exact(2).map(|p| p[0] as f64));
            grey.into_iter().flat_map(|v| [v, v, v]).collect()
        }
        DynamicImage::ImageRgb16(img) => min_max_to_u8(img.as_raw().iter().map(|&v| v as f64)),
        DynamicImage::ImageRgba16(img) => min_max_to_u8(
            img.as_raw()
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .map(|v| v as f64),
        ),
        DynamicImage::ImageRgb32F(img) => min_max_to_u8(img.as_raw().iter().map(|&v| v as f64)),
        DynamicImage::ImageRgba32F(img) => min_max_to_u8(
            img.as_raw()
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .map(|v| v as f64),
        ),
        other => other.to_rgb8().into_raw(),
    };
    RgbImage::new(width, height, data)
}

/// Map samples to 0..255 linearly from their minimum to their maximum (rounded half up).
/// A constant image becomes all zeros. Non-finite samples count as the minimum.
pub fn min_max_to_u8(samples: impl Iterator<Item = f64> + Clone) -> Vec<u8> {
    let finite = samples.clone().filter(|v| v.is_finite());
    let (low, high) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if high <= low {
        return samples.map(|_| 0).collect();
    }
    let scale = 255.0 / (high - low);
    samples
        .map(|v| {
            if v.is_finite() {
                ((v - low) * scale + 0.5).floor().clamp(0.0, 255.0) as u8
            } else {
                0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_max_rounds_like_the_reference() {
        assert_eq!(
            min_max_to_u8([0.0, 1.0, 2.0].into_iter()),
            vec![0, 128, 255]
        );
        assert_eq!(min_max_to_u8([7.0, 7.0].into_iter()), vec![0, 0]);
    }

    #[test]
    fn empty_and_garbage_bytes_are_errors() {
        assert!(matches!(read_image(&[]), Err(Error::Decode(_))));
        assert!(matches!(
            read_image(b"definitely not an image"),
            Err(Error::Decode(_))
        ));
    }

    #[test]
    fn rejects_zero_and_huge_sizes() {
        assert!(check_size(0, 10).is_err());
        assert!(check_size(100_000, 100_000).is_err());
        assert!(check_size(4000, 3000).is_ok());
    }
}
