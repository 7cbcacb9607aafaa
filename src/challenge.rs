//! The CVPR24 "MedSAM on Laptop" challenge's NPZ format. 2D cases: `imgs` HxWx3 (or HxW) uint8
//! and `boxes` Nx4 `[x_min, y_min, x_max, y_max]`; 3D cases: `imgs` DxHxW uint8, `boxes` Nx6
//! `[x_min, y_min, z_min, x_max, y_max, z_max]` and `spacing`. The answer is `segs` of the image's
//! shape (uint8, or uint16 when there are more than 255 boxes).

use std::io::Cursor;

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{NpzReader, NpzWriter};

use crate::error::{Error, Result};
use crate::prompt::{Box3d, BoxPrompt};
use crate::rgb::RgbImage;
use crate::segment::GreyVolume;

/// A 2D case: an `HxWx3` image and its boxes.
pub struct Case2d {
    /// `imgs`.
    pub image: RgbImage,
    /// `boxes`, one per object (label i + 1).
    pub boxes: Vec<BoxPrompt>,
}

/// A 3D case: a grey `DxHxW` volume and its 3D boxes.
pub struct Case3d {
    /// `imgs`.
    pub volume: GreyVolume,
    /// `boxes`, `[x0, y0, z0, x1, y1, z1]` each.
    pub boxes: Vec<Box3d>,
    /// As stored (the challenge stores x, y, z).
    pub spacing: Option<Vec<f64>>,
}

/// A challenge NPZ case, by the shape of its `imgs`.
pub enum Case {
    /// `imgs` is `HxWx3`.
    TwoD(Case2d),
    /// `imgs` is `DxHxW`.
    ThreeD(Case3d),
}

/// A 2D or 3D challenge case: 3D when `imgs` is DxHxW and `boxes` has 6 columns.
pub fn read_case(bytes: &[u8]) -> Result<Case> {
    let mut npz = NpzReader::new(Cursor::new(bytes)).map_err(npz_error)?;
    let names = npz.names().map_err(npz_error)?;
    for required in ["imgs", "boxes"] {
        if !names.iter().any(|n| n == required) {
            return Err(npz_error(format!(
                "no `{required}` array (found: {})",
                names.join(", ")
            )));
        }
    }
    let imgs: ArrayD<u8> = npz
        .by_name::<ndarray::OwnedRepr<u8>, IxDyn>("imgs")
        .map_err(|e| npz_error(format!("`imgs` must be a uint8 array ({e})")))?;
    let boxes = read_boxes(&mut npz)?;
    let pixels = || {
        imgs.as_standard_layout()
            .iter()
            .copied()
            .collect::<Vec<u8>>()
    };
    if let ([d, h, w], [_, 6]) = (imgs.shape(), boxes.shape()) {
        let volume = GreyVolume::new(*d, *h, *w, pixels())?;
        let boxes = boxes
            .rows()
            .into_iter()
            .map(|r| [r[0], r[1], r[2], r[3], r[4], r[5]].map(|v| v.trunc() as i64))
            .collect();
        let spacing = read_spacing(bytes)?;
        return Ok(Case::ThreeD(Case3d {
            volume,
            boxes,
            spacing,
        }));
    }
    let image = match imgs.shape() {
        [h, w, 3] => RgbImage::new(*w, *h, pixels())?,
        [h, w] => RgbImage::from_grey(*w, *h, &pixels())?,
        shape => {
            return Err(npz_error(format!(
                "`imgs` has shape {shape:?}; expected HxWx3 or HxW (2D), DxHxW with Nx6 boxes (3D)"
            )))
        }
    };
    let boxes = match boxes.shape() {
        [_, 4] => boxes
            .rows()
            .into_iter()
            .map(|r| [r[0], r[1], r[2], r[3]].map(|v| v.trunc() as i64))
            .collect(),
        [4] => vec![[boxes[[0]], boxes[[1]], boxes[[2]], boxes[[3]]].map(|v| v.trunc() as i64)],
        shape => {
            return Err(npz_error(format!(
                "`boxes` has shape {shape:?}; expected Nx4"
            )))
        }
    };
    Ok(Case::TwoD(Case2d { image, boxes }))
}

/// `segs` (row-major labels of the given shape) as compressed NPZ bytes: uint8, or uint16 when
/// a label exceeds 255.
pub fn write_segs(shape: &[usize], labels: &[u16]) -> Result<Vec<u8>> {
    write_segs_with_spacing(shape, labels, None)
}

/// `segs`, and `spacing` (x, y, z, as the challenge stores it) when known.
pub fn write_segs_with_spacing(
    shape: &[usize],
    labels: &[u16],
    spacing: Option<[f64; 3]>,
) -> Result<Vec<u8>> {
    let mut npz = NpzWriter::new_compressed(Cursor::new(Vec::new()));
    if labels.iter().all(|&v| v <= u8::MAX as u16) {
        let segs = ArrayD::from_shape_vec(shape, labels.iter().map(|&v| v as u8).collect())
            .map_err(npz_error)?;
        npz.add_array("segs", &segs).map_err(npz_error)?;
    } else {
        let segs = ArrayD::from_shape_vec(shape, labels.to_vec()).map_err(npz_error)?;
        npz.add_array("segs", &segs).map_err(npz_error)?;
    }
    if let Some(spacing) = spacing {
        npz.add_array("spacing", &ndarray::arr1(&spacing))
            .map_err(npz_error)?;
    }
    Ok(npz.finish().map_err(npz_error)?.into_inner())
}

fn npz_error(e: impl std::fmt::Display) -> Error {
    Error::invalid(format!("NPZ: {e}"))
}

fn read_boxes(npz: &mut NpzReader<Cursor<&[u8]>>) -> Result<ArrayD<f64>> {
    // numpy writes boxes as int64 in the challenge data; accept the other usual dtypes too.
    if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<i64>, IxDyn>("boxes") {
        return Ok(a.mapv(|v| v as f64));
    }
    if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<i32>, IxDyn>("boxes") {
        return Ok(a.mapv(|v| v as f64));
    }
    if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<f32>, IxDyn>("boxes") {
        return Ok(a.mapv(|v| v as f64));
    }
    npz.by_name::<ndarray::OwnedRepr<f64>, IxDyn>("boxes")
        .map_err(|e| {
            npz_error(format!(
                "`boxes` must be an Nx4 integer or float array ({e})"
            ))
        })
}

/// An integer label array (`gts` or `segs`) of any usual dtype, with its shape.
pub fn read_labels(bytes: &[u8], name: &str) -> Result<(Vec<usize>, Vec<u32>)> {
    let mut npz = NpzReader::new(Cursor::new(bytes)).map_err(npz_error)?;
    let names = npz.names().map_err(npz_error)?;
    if !names.iter().any(|n| n == name) {
        return Err(npz_error(format!(
            "no `{name}` array (found: {})",
            names.join(", ")
        )));
    }
    macro_rules! try_dtype {
        ($($t:ty),*) => {$(
            if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<$t>, IxDyn>(name) {
                let shape = a.shape().to_vec();
                let mut labels = Vec::with_capacity(a.len());
                for &v in a.as_standard_layout().iter() {
                    labels.push(u32::try_from(v).map_err(|_| npz_error(format!("`{name}` holds a negative or huge label")))?);
                }
                return Ok((shape, labels));
            }
        )*};
    }
    try_dtype!(u8, u16, u32, i8, i16, i32, i64, u64);
    if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<bool>, IxDyn>(name) {
        return Ok((
            a.shape().to_vec(),
            a.as_standard_layout().iter().map(|&v| v as u32).collect(),
        ));
    }
    Err(npz_error(format!("`{name}` must be an integer array")))
}

/// The `spacing` array of a 3D case, as stored.
pub fn read_spacing(bytes: &[u8]) -> Result<Option<Vec<f64>>> {
    let mut npz = NpzReader::new(Cursor::new(bytes)).map_err(npz_error)?;
    if !npz
        .names()
        .map_err(npz_error)?
        .iter()
        .any(|n| n == "spacing")
    {
        return Ok(None);
    }
    if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<f64>, IxDyn>("spacing") {
        return Ok(Some(a.iter().copied().collect()));
    }
    npz.by_name::<ndarray::OwnedRepr<f32>, IxDyn>("spacing")
        .map(|a| Some(a.iter().map(|&v| v as f64).collect()))
        .map_err(|e| npz_error(format!("`spacing` must be a float array ({e})")))
}
