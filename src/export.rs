//! Exporting results: the label map as PNG, the same size as the image (8-bit grey, or 16-bit
//! when a label exceeds 255), so any tool reads label i as pixel value i.

use std::io::Cursor;

use image::{ImageBuffer, ImageFormat, Luma};

use crate::error::{Error, Result};
use crate::postprocess::LabelMap;

pub fn label_png(labels: &LabelMap) -> Result<Vec<u8>> {
    let (w, h) = (labels.width as u32, labels.height as u32);
    let mut out = Cursor::new(Vec::new());
    let written = if labels.max_label() <= u8::MAX as u16 {
        let data = labels.labels.iter().map(|&v| v as u8).collect();
        ImageBuffer::<Luma<u8>, Vec<u8>>::from_raw(w, h, data)
            .map(|img| img.write_to(&mut out, ImageFormat::Png))
    } else {
        ImageBuffer::<Luma<u16>, Vec<u16>>::from_raw(w, h, labels.labels.clone())
            .map(|img| img.write_to(&mut out, ImageFormat::Png))
    };
    match written {
        Some(Ok(())) => Ok(out.into_inner()),
        Some(Err(e)) => Err(Error::invalid(format!("cannot encode PNG: {e}"))),
        None => Err(Error::invalid("label map size does not match its data")),
    }
}
