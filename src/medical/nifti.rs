//! NIfTI-1 and NIfTI-2 single files (`.nii`, `.nii.gz`), either byte order: read into a
//! [`MedicalVolume`] (scl_slope/scl_inter applied; affine from the sform, else the qform, else
//! the voxel sizes, as nibabel chooses), and label volumes written back with a source affine.

use super::{Affine, MedicalVolume, SampleType};
use crate::error::{Error, Result};
use crate::label_value::LabelValue;
use crate::limits::gunzip_prefix;
use crate::progress::{unobserved, Progress};

fn decode_error(message: impl std::fmt::Display) -> Error {
    Error::Decode(format!("NIfTI: {message}"))
}

struct Reader<'a> {
    bytes: &'a [u8],
    big_endian: bool,
}

/// One header field of type `$t` at a byte offset, in the file's byte order.
macro_rules! field {
    ($name:ident, $t:ty) => {
        fn $name(&self, at: usize) -> $t {
            let raw = self.bytes[at..at + std::mem::size_of::<$t>()]
                .try_into()
                .expect("header length checked");
            if self.big_endian {
                <$t>::from_be_bytes(raw)
            } else {
                <$t>::from_le_bytes(raw)
            }
        }
    };
}

impl Reader<'_> {
    field!(i16, i16);
    field!(i32, i32);
    field!(i64, i64);
    field!(f32_raw, f32);
    field!(f64, f64);

    fn f32(&self, at: usize) -> f64 {
        self.f32_raw(at) as f64
    }
}

/// The header fields daftseg uses, from either version.
struct Header {
    version: u8,
    dims: Vec<i64>,
    datatype: i16,
    pixdim: [f64; 8],
    vox_offset: f64,
    scl_slope: f64,
    scl_inter: f64,
    qform_code: i32,
    sform_code: i32,
    quatern: [f64; 6],
    srow: [[f64; 4]; 3],
}

fn header(r: &Reader) -> Result<Header> {
    let nifti2 = r.i32(0) == 540;
    if nifti2 {
        if &r.bytes[4..8] != b"n+2\0" {
            return Err(decode_error(if &r.bytes[4..8] == b"ni2\0" {
                "this is the header of a two-file NIfTI-2 (.hdr/.img pair), which daftseg does not read; convert the pair to one .nii.gz first, for example with nibabel"
            } else {
                "a 540-byte header without NIfTI-2's magic ('n+2'): the file is damaged or not NIfTI"
            }));
        }
        let dims = (0..8).map(|i| r.i64(16 + 8 * i)).collect();
        let mut pixdim = [0.0; 8];
        for (i, p) in pixdim.iter_mut().enumerate() {
            *p = r.f64(104 + 8 * i);
        }
        let mut srow = [[0.0; 4]; 3];
        for (row, values) in srow.iter_mut().enumerate() {
            for (c, v) in values.iter_mut().enumerate() {
                *v = r.f64(400 + 32 * row + 8 * c);
            }
        }
        Ok(Header {
            version: 2,
            dims,
            datatype: r.i16(12),
            pixdim,
            vox_offset: r.i64(168) as f64,
            scl_slope: r.f64(176),
            scl_inter: r.f64(184),
            qform_code: r.i32(344),
            sform_code: r.i32(348),
            quatern: [352, 360, 368, 376, 384, 392].map(|at| r.f64(at)),
            srow,
        })
    } else {
        match &r.bytes[344..348] {
            b"n+1\0" => {}
            b"ni1\0" => {
                return Err(decode_error(format!(
                    "this is the header of a two-file NIfTI (.hdr/.img pair), which daftseg does not read; convert the pair to one .nii.gz first, for example with nibabel: {}",
                    crate::identify::nibabel_command("FILE.hdr")
                )))
            }
            _ => {
                return Err(decode_error(format!(
                    "a 348-byte header without NIfTI's magic: an Analyze 7.5 .hdr/.img pair, which daftseg does not read; convert it to NIfTI first, for example with nibabel: {}",
                    crate::identify::nibabel_command("FILE.hdr")
                )))
            }
        }
        let dims = (0..8).map(|i| r.i16(40 + 2 * i) as i64).collect();
        let mut pixdim = [0.0; 8];
        for (i, p) in pixdim.iter_mut().enumerate() {
            *p = r.f32(76 + 4 * i);
        }
        let mut srow = [[0.0; 4]; 3];
        for (row, values) in srow.iter_mut().enumerate() {
            for (c, v) in values.iter_mut().enumerate() {
                *v = r.f32(280 + 16 * row + 4 * c);
            }
        }
        Ok(Header {
            version: 1,
            dims,
            datatype: r.i16(70),
            pixdim,
            vox_offset: r.f32(108),
            scl_slope: r.f32(112),
            scl_inter: r.f32(116),
            qform_code: r.i16(252) as i32,
            sform_code: r.i16(254) as i32,
            quatern: [256, 260, 264, 268, 272, 276].map(|at| r.f32(at)),
            srow,
        })
    }
}

/// NIfTI's quatern_to_mat44 (nifti1_io.c), as nibabel's `get_qform`.
fn qform_affine(h: &Header) -> Affine {
    let [b, c, d, qx, qy, qz] = h.quatern;
    let a = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
    let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
    let (dx, dy, dz) = (h.pixdim[1], h.pixdim[2], h.pixdim[3] * qfac);
    [
        [
            (a * a + b * b - c * c - d * d) * dx,
            2.0 * (b * c - a * d) * dy,
            2.0 * (b * d + a * c) * dz,
            qx,
        ],
        [
            2.0 * (b * c + a * d) * dx,
            (a * a + c * c - b * b - d * d) * dy,
            2.0 * (c * d - a * b) * dz,
            qy,
        ],
        [
            2.0 * (b * d - a * c) * dx,
            2.0 * (c * d + a * b) * dy,
            (a * a + d * d - c * c - b * b) * dz,
            qz,
        ],
        [0.0, 0.0, 0.0, 1.0],
    ]
}

fn affine_of(h: &Header) -> Affine {
    if h.sform_code > 0 {
        let s = h.srow;
        [s[0], s[1], s[2], [0.0, 0.0, 0.0, 1.0]]
    } else if h.qform_code > 0 {
        qform_affine(h)
    } else {
        let p = |i: usize| if h.pixdim[i] > 0.0 { h.pixdim[i] } else { 1.0 };
        super::diagonal_affine([p(1), p(2), p(3)])
    }
}

/// A NIfTI-1 or NIfTI-2 file (optionally gzipped) as a volume in its own voxel order.
pub fn read(file: &[u8]) -> Result<MedicalVolume> {
    read_with(file, &mut unobserved)
}

/// [`read`], telling `progress` (bytes of voxels read, of all) as it goes; `false` cancels.
pub fn read_with(file: &[u8], progress: Progress) -> Result<MedicalVolume> {
    if !file.starts_with(&[0x1f, 0x8b]) {
        let layout = Layout::of(file)?;
        if layout.offset > file.len() {
            return Err(decode_error(format!(
                "voxel data offset {} lies outside the file",
                layout.offset
            )));
        }
        let needed = layout.data_end()? - layout.offset;
        let present = file.len() - layout.offset;
        if present < needed {
            return Err(Error::Decode(format!(
                "the file is truncated: {needed} bytes of voxel data expected, {present} present"
            )));
        }
        let offset = layout.offset;
        return layout.volume(&file[offset..], progress);
    }
    // Gzipped: the header first, then the voxels inflated in a stream straight into the
    // volume's storage, only as many as the header says the first volume has (which the budget
    // bounds): a small .nii.gz cannot inflate past that, and no inflated copy is held.
    let head = gunzip_prefix(file, 540)?;
    let layout = Layout::of(&head)?;
    layout.data_end()?;
    let mut stream = flate2::read::MultiGzDecoder::new(file);
    let skipped = std::io::copy(
        &mut std::io::Read::take(&mut stream, layout.offset as u64),
        &mut std::io::sink(),
    )
    .map_err(|e| Error::Decode(format!("corrupt gzip data: {e}")))?;
    if skipped < layout.offset as u64 {
        return Err(decode_error(format!(
            "voxel data offset {} lies outside the file",
            layout.offset
        )));
    }
    layout.volume(stream, progress)
}

/// What the header says about the voxel data: where it is, its type and size.
struct Layout {
    header: Header,
    big_endian: bool,
    size: [usize; 3],
    frames: usize,
    sample: SampleType,
    channels: usize,
    offset: usize,
    /// Values of the first volume (voxels x channels).
    count: usize,
}

impl Layout {
    /// Where the first volume's voxel data ends, checked against the budget.
    fn data_end(&self) -> Result<usize> {
        let bytes = crate::limits::checked_array_bytes(
            "the NIfTI volume",
            &[self.count as u64],
            self.sample.bytes() as u64,
        )?;
        self.offset
            .checked_add(bytes)
            .ok_or_else(|| decode_error("the volume is too large"))
    }

    /// From the header (the file's first 348 or 540 bytes).
    fn of(bytes: &[u8]) -> Result<Layout> {
        if bytes.len() < 348 {
            return Err(decode_error("the file is shorter than a NIfTI header"));
        }
        let size_le = i32::from_le_bytes(bytes[0..4].try_into().unwrap());
        let size_be = i32::from_be_bytes(bytes[0..4].try_into().unwrap());
        let big_endian = match (size_le, size_be) {
            (348 | 540, _) => false,
            (_, 348 | 540) => true,
            _ => {
                return Err(decode_error(
                    "not a NIfTI file (header size is neither 348 nor 540)",
                ))
            }
        };
        if (size_le == 540 || size_be == 540) && bytes.len() < 540 {
            return Err(decode_error("the file is shorter than a NIfTI-2 header"));
        }
        let r = Reader { bytes, big_endian };
        let h = header(&r)?;
        let ndim = h.dims[0];
        if !(1..=7).contains(&ndim) {
            return Err(decode_error(format!("dim[0] = {ndim} is not 1..7")));
        }
        let dim = |i: usize| {
            if (i as i64) <= ndim {
                h.dims[i].max(0) as usize
            } else {
                1
            }
        };
        let (nx, ny, nz) = (dim(1), dim(2), dim(3));
        // Only for the note on 4D files: an absurd count must not overflow.
        let frames = (4..=ndim as usize)
            .map(dim)
            .try_fold(1usize, |acc, d| acc.checked_mul(d))
            .unwrap_or(usize::MAX);
        let (sample, channels) = match h.datatype {
            2 => (SampleType::U8, 1),
            4 => (SampleType::I16, 1),
            8 => (SampleType::I32, 1),
            16 => (SampleType::F32, 1),
            64 => (SampleType::F64, 1),
            128 => (SampleType::U8, 3),
            256 => (SampleType::I8, 1),
            512 => (SampleType::U16, 1),
            768 => (SampleType::U32, 1),
            1024 => (SampleType::I64, 1),
            1280 => (SampleType::U64, 1),
            other => {
                return Err(decode_error(format!(
                    "datatype {other} (complex, RGBA or float128) is not supported"
                )))
            }
        };
        let voxels = crate::limits::checked_voxels(&[nx, ny, nz]).map_err(|e| match e {
            Error::InvalidInput(m) => decode_error(m),
            e => e,
        })?;
        if !(h.vox_offset.is_finite() && h.vox_offset >= 0.0) {
            return Err(decode_error(format!(
                "the header's voxel data offset (vox_offset {}) is not a byte position",
                h.vox_offset
            )));
        }
        let offset = h.vox_offset as usize;
        let min_offset = if h.version == 2 { 540 } else { 348 };
        if offset < min_offset {
            return Err(decode_error(format!(
                "voxel data offset {offset} lies inside the header"
            )));
        }
        // 4D and more: the first volume (t = 0), as a viewer shows it first.
        let count = voxels
            .checked_mul(channels)
            .ok_or_else(|| decode_error("the volume is too large"))?;
        Ok(Layout {
            header: h,
            big_endian,
            size: [nx, ny, nz],
            frames,
            sample,
            channels,
            offset,
            count,
        })
    }
}

impl Layout {
    /// The volume, its voxels read from `data` (positioned at the voxel offset).
    fn volume(self, data: impl std::io::Read, progress: Progress) -> Result<MedicalVolume> {
        let Layout {
            header: h,
            big_endian,
            size,
            frames,
            sample,
            channels,
            count,
            ..
        } = self;
        let scaled = h.scl_slope.is_finite()
            && h.scl_slope != 0.0
            && (h.scl_slope != 1.0 || h.scl_inter != 0.0);
        let inter = if h.scl_inter.is_finite() {
            h.scl_inter
        } else {
            0.0
        };
        let rescale = scaled.then_some((h.scl_slope, inter));
        let data = sample.read_voxels(data, count, big_endian, rescale, progress)?;
        let mut volume = MedicalVolume::new(
            size,
            channels,
            data,
            affine_of(&h),
            None,
            if h.version == 2 { "NIfTI-2" } else { "NIfTI-1" },
        )?;
        if frames > 1 {
            volume.notes.push(format!(
                "{frames} volumes in the file (4D): the first one is shown"
            ));
        }
        Ok(volume)
    }
}

/// A NIfTI-1 label volume (`.nii`, gzip-compressed when `gzip`): uint8, or uint16 beyond 255
/// labels; `labels` in x-fastest order of size `size`; the affine stored as sform and qform
/// code 0, so readers (nibabel) take it as written.
pub fn write_labels<L: LabelValue>(
    labels: &[L],
    size: [usize; 3],
    affine: &Affine,
    gzip: bool,
) -> Result<Vec<u8>> {
    if labels.len() != size.iter().product::<usize>() {
        return Err(Error::invalid("label volume does not match its size"));
    }
    if size.iter().any(|&n| n > i16::MAX as usize) {
        return Err(Error::invalid("NIfTI-1 dimensions are limited to 32767"));
    }
    let wide = labels.iter().any(|&l| l.into() > 255);
    let mut h = vec![0u8; 352];
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    let put_i16 =
        |h: &mut Vec<u8>, at: usize, v: i16| h[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put_f32 = |h: &mut Vec<u8>, at: usize, v: f64| {
        h[at..at + 4].copy_from_slice(&(v as f32).to_le_bytes())
    };
    put_i16(&mut h, 40, 3);
    for (i, &n) in size.iter().enumerate() {
        put_i16(&mut h, 42 + 2 * i, n as i16);
    }
    for i in 3..7 {
        put_i16(&mut h, 42 + 2 * i, 1);
    }
    put_i16(&mut h, 70, if wide { 512 } else { 2 });
    put_i16(&mut h, 72, if wide { 16 } else { 8 });
    let spacing = super::spacing_of(affine);
    put_f32(&mut h, 76, 1.0); // qfac
    for (i, s) in spacing.iter().enumerate() {
        put_f32(&mut h, 80 + 4 * i, *s);
    }
    put_f32(&mut h, 108, 352.0);
    put_f32(&mut h, 112, 1.0); // scl_slope: labels are stored as they are
    h[123] = 2; // xyzt_units: mm
    put_i16(&mut h, 252, 0);
    put_i16(&mut h, 254, 2); // sform_code: aligned to the source's space
    for (row, values) in affine.iter().take(3).enumerate() {
        for (c, &v) in values.iter().enumerate() {
            put_f32(&mut h, 280 + 16 * row + 4 * c, v);
        }
    }
    h[148..148 + 21].copy_from_slice(b"daftseg segmentation\0");
    h[344..348].copy_from_slice(b"n+1\0");
    if wide {
        h.extend(labels.iter().flat_map(|&l| l.into().to_le_bytes()));
    } else {
        h.extend(labels.iter().map(|&l| l.into() as u8));
    }
    if !gzip {
        return Ok(h);
    }
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(&h)
        .and_then(|_| encoder.finish())
        .map_err(|e| Error::invalid(format!("cannot compress: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_labels_read_back_with_their_affine() {
        let affine = [
            [-0.5, 0.0, 0.0, 10.0],
            [0.0, 0.75, 0.0, -20.0],
            [0.0, 0.0, 2.0, 30.0],
            [0.0, 0.0, 0.0, 1.0],
        ];
        let labels: Vec<u16> = (0..24).map(|v| (v % 3) as u16).collect();
        for gzip in [false, true] {
            let bytes = write_labels(&labels, [4, 3, 2], &affine, gzip).unwrap();
            let v = read(&bytes).unwrap();
            assert_eq!((v.width, v.height, v.depth), (4, 3, 2));
            assert_eq!(v.affine, affine);
            assert_eq!(
                v.data.to_f32(),
                labels.iter().map(|&l| l as f32).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn truncated_and_foreign_files_are_errors() {
        let bytes = write_labels(
            &[1u16; 8],
            [2, 2, 2],
            &super::super::diagonal_affine([1.0; 3]),
            false,
        )
        .unwrap();
        assert!(read(&bytes[..bytes.len() - 1])
            .unwrap_err()
            .to_string()
            .contains("truncated"));
        assert!(read(&bytes[..200]).is_err());
        assert!(read(b"not a nifti file at all").is_err());
    }
}
