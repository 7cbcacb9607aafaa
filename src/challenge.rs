//! The CVPR24 "MedSAM on Laptop" challenge's NPZ format. 2D cases: `imgs` HxWx3 (or HxW) uint8
//! and `boxes` Nx4 `[x_min, y_min, x_max, y_max]`; 3D cases: `imgs` DxHxW uint8, `boxes` Nx6
//! `[x_min, y_min, z_min, x_max, y_max, z_max]` and `spacing`. The answer is `segs` of the image's
//! shape (uint8, or uint16 when there are more than 255 boxes). A 2D case may carry `clicks`
//! refining its boxes: a Kx4 number array, `[box (1-based), x, y, 1 on / 0 off the object]` per
//! click, in the order made (the CVPR 2025 challenge stores clicks as pickled Python objects,
//! which daftseg does not unpickle; this is the same information as numbers).

use std::io::Cursor;

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::{NpzReader, NpzWriter};

use crate::error::{Error, Result};
use crate::prompt::{Box3d, BoxPrompt, Click};
use crate::rgb::RgbImage;
use crate::segment::GreyVolume;

/// A 2D case: an `HxWx3` image and its boxes.
pub struct Case2d {
    /// `imgs`.
    pub image: RgbImage,
    /// `boxes`, one per object (label i + 1).
    pub boxes: Vec<BoxPrompt>,
    /// `clicks`: (0-based box index, click), in the order made.
    pub clicks: Vec<(usize, Click)>,
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
    let mut npz = open_npz(bytes)?;
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
        let spacing = spacing_in(&mut npz)?;
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
    let clicks = clicks_in(&mut npz, boxes.len())?;
    Ok(Case::TwoD(Case2d {
        image,
        boxes,
        clicks,
    }))
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

/// The NPZ reader over `bytes`, once every array in it has been checked against the memory
/// budget: numpy's header (shape and dtype) decides what a reader allocates, so a header that
/// claims 100000x100000x3 is refused here, before anything of that size exists.
fn open_npz(bytes: &[u8]) -> Result<NpzReader<Cursor<&[u8]>>> {
    check_array_sizes(bytes)?;
    NpzReader::new(Cursor::new(bytes)).map_err(npz_error)
}

/// numpy's NPY header of every entry: its shape times its item size within [`crate::limits`].
fn check_array_sizes(bytes: &[u8]) -> Result<()> {
    use std::io::Read;
    // The header is a short Python dict; numpy writes a few hundred bytes.
    const MAX_HEADER: usize = 64 * 1024;
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| npz_error(format!("not a readable zip archive ({e})")))?;
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index).map_err(npz_error)?;
        let name = entry.name().trim_end_matches(".npy").to_string();
        let mut start = [0u8; 12];
        let read =
            read_prefix(&mut entry, &mut start).map_err(|e| npz_error(format!("`{name}`: {e}")))?;
        if read < 10 || &start[..6] != b"\x93NUMPY" {
            return Err(npz_error(format!("`{name}` is not a numpy array (.npy)")));
        }
        let (header_len, offset) = match start[6] {
            1 => (u16::from_le_bytes([start[8], start[9]]) as usize, 10),
            2 | 3 if read == 12 => (
                u32::from_le_bytes([start[8], start[9], start[10], start[11]]) as usize,
                12,
            ),
            version => {
                return Err(npz_error(format!(
                    "`{name}`: NPY format version {version} is not supported"
                )))
            }
        };
        if header_len > MAX_HEADER {
            return Err(npz_error(format!(
                "`{name}`: its header claims {header_len} bytes; numpy writes a few hundred"
            )));
        }
        let mut header = start[offset..read].to_vec();
        (&mut entry)
            .take((header_len - header.len().min(header_len)) as u64)
            .read_to_end(&mut header)
            .map_err(|e| npz_error(format!("`{name}`: {e}")))?;
        header.truncate(header_len);
        let header = String::from_utf8_lossy(&header);
        let (shape, item_bytes) = npy_shape_and_item(&header).ok_or_else(|| {
            npz_error(format!(
                "`{name}` is not a numeric numpy array (its header: {})",
                header.trim()
            ))
        })?;
        crate::limits::checked_array_bytes(&format!("NPZ array `{name}`"), &shape, item_bytes)?;
    }
    Ok(())
}

/// As many bytes as `buf` holds, fewer only at the end of `reader`.
fn read_prefix(reader: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// The shape and the item size in bytes from an NPY header such as
/// `{'descr': '<u1', 'fortran_order': False, 'shape': (3, 512, 512), }`. `None` for what numpy
/// would not write for a plain numeric array (object or structured dtypes, no shape).
fn npy_shape_and_item(header: &str) -> Option<(Vec<u64>, u64)> {
    let after = |key: &str| header.find(key).map(|i| &header[i + key.len()..]);
    let descr = after("'descr':")?.trim_start();
    let quote = descr.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let descr = &descr[1..descr[1..].find(quote)? + 1];
    let code = descr.trim_start_matches(['<', '>', '|', '=']);
    let kind = code.chars().next()?;
    let count: u64 = code[kind.len_utf8()..].parse().ok()?;
    let item_bytes = match kind {
        'U' => count.checked_mul(4)?,
        'b' | 'i' | 'u' | 'f' | 'c' | 'S' | 'V' | 'm' | 'M' => count,
        _ => return None,
    };
    let shape = after("'shape':")?.trim_start().strip_prefix('(')?;
    let shape = &shape[..shape.find(')')?];
    let dims = shape
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.trim_end_matches('L').parse::<u64>().ok())
        .collect::<Option<Vec<_>>>()?;
    Some((dims, item_bytes))
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
    let mut npz = open_npz(bytes)?;
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
    spacing_in(&mut open_npz(bytes)?)
}

/// The optional `clicks` of a 2D case (see the module's documentation).
fn clicks_in(npz: &mut NpzReader<Cursor<&[u8]>>, boxes: usize) -> Result<Vec<(usize, Click)>> {
    if !npz
        .names()
        .map_err(npz_error)?
        .iter()
        .any(|n| n == "clicks")
    {
        return Ok(Vec::new());
    }
    let values: ArrayD<f64> = if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<i64>, IxDyn>("clicks")
    {
        a.mapv(|v| v as f64)
    } else if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<f32>, IxDyn>("clicks") {
        a.mapv(|v| v as f64)
    } else {
        npz.by_name::<ndarray::OwnedRepr<f64>, IxDyn>("clicks").map_err(|_| {
            npz_error(
                "`clicks` must be a Kx4 number array [box (from 1), x, y, 1 on / 0 off the object]; \
                 clicks stored as Python objects (the CVPR 2025 format) are not read",
            )
        })?
    };
    let [count, 4] = values.shape() else {
        return Err(npz_error(format!(
            "`clicks` has shape {:?}; expected Kx4 [box, x, y, 1 on / 0 off]",
            values.shape()
        )));
    };
    if *count > boxes.saturating_mul(crate::prompt::MAX_CLICKS) {
        return Err(npz_error(format!(
            "{count} clicks for {boxes} boxes; at most {} per box",
            crate::prompt::MAX_CLICKS
        )));
    }
    values
        .as_standard_layout()
        .as_slice()
        .unwrap_or(&[])
        .chunks_exact(4)
        .map(|c| {
            let k = c[0];
            if k.fract() != 0.0 || k < 1.0 || k > boxes as f64 {
                return Err(npz_error(format!(
                    "a click refines box {k}, and the case has {boxes} (numbered from 1)"
                )));
            }
            Ok((
                k as usize - 1,
                Click {
                    x: c[1],
                    y: c[2],
                    positive: c[3] != 0.0,
                },
            ))
        })
        .collect()
}

fn spacing_in(npz: &mut NpzReader<Cursor<&[u8]>>) -> Result<Option<Vec<f64>>> {
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
