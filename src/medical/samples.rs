//! Sample types shared by the NIfTI and NRRD readers.

use std::io::Read;

use crate::error::{Error, Result};
use crate::medical::voxels::{Samples, Voxels};
use crate::progress::{report, Progress};

/// Sample types shared by the NIfTI and NRRD readers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SampleType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
}

impl SampleType {
    pub(crate) fn bytes(self) -> usize {
        match self {
            SampleType::U8 | SampleType::I8 => 1,
            SampleType::U16 | SampleType::I16 => 2,
            SampleType::U32 | SampleType::I32 | SampleType::F32 => 4,
            SampleType::U64 | SampleType::I64 | SampleType::F64 => 8,
        }
    }

    /// `count` samples read from `reader` (a file's bytes, or a decompressor: the data are
    /// inflated chunk by chunk straight into the volume's storage) as [`Voxels`] of the narrowest
    /// type that holds them exactly: u8, u16 and i16 (and i8) as they are, the rest as f32.
    /// `rescale` (slope, intercept) is applied as the value is read. The caller has checked
    /// `count` against the budget. `progress(bytes read, bytes needed)` after each chunk.
    pub(crate) fn read_voxels(
        self,
        mut reader: impl Read,
        count: usize,
        big_endian: bool,
        rescale: Option<(f64, f64)>,
        progress: Progress,
    ) -> Result<Voxels> {
        let size = self.bytes();
        let needed = count
            .checked_mul(size)
            .ok_or_else(|| Error::invalid("the volume is too large"))?;
        // A stream's first samples go into a small buffer; the whole volume is allocated (once,
        // exactly) when they have arrived, so a small file that claims a large volume it does not
        // hold never makes memory grow to that size.
        let first = count.min(FIRST_SAMPLES);
        let mut samples = match self {
            SampleType::U8 => Samples::U8(Vec::with_capacity(first)),
            SampleType::U16 => Samples::U16(Vec::with_capacity(first)),
            SampleType::I16 | SampleType::I8 => Samples::I16(Vec::with_capacity(first)),
            _ => Samples::F32(Vec::with_capacity(first)),
        };
        let mut chunk = vec![0u8; (1 << 16) * size];
        let mut read = 0usize;
        while read < needed {
            let want = chunk.len().min(needed - read);
            let got = fill(&mut reader, &mut chunk[..want])?;
            let bytes = &chunk[..got - got % size];
            macro_rules! words {
                ($t:ty) => {
                    bytes.chunks_exact(size).map(|c| {
                        let raw = c.try_into().expect("chunk size");
                        if big_endian {
                            <$t>::from_be_bytes(raw)
                        } else {
                            <$t>::from_le_bytes(raw)
                        }
                    })
                };
            }
            let arriving = bytes.len() / size;
            match &mut samples {
                Samples::U8(out) => reserve_all(out, arriving, count),
                Samples::I16(out) => reserve_all(out, arriving, count),
                Samples::U16(out) => reserve_all(out, arriving, count),
                Samples::F32(out) => reserve_all(out, arriving, count),
            }
            match (&mut samples, self) {
                (Samples::U8(out), _) => out.extend_from_slice(bytes),
                (Samples::I16(out), SampleType::I8) => {
                    out.extend(bytes.iter().map(|&b| b as i8 as i16))
                }
                (Samples::I16(out), _) => out.extend(words!(i16)),
                (Samples::U16(out), _) => out.extend(words!(u16)),
                (Samples::F32(out), SampleType::U32) => out.extend(words!(u32).map(|v| v as f32)),
                (Samples::F32(out), SampleType::I32) => out.extend(words!(i32).map(|v| v as f32)),
                (Samples::F32(out), SampleType::U64) => out.extend(words!(u64).map(|v| v as f32)),
                (Samples::F32(out), SampleType::I64) => out.extend(words!(i64).map(|v| v as f32)),
                (Samples::F32(out), SampleType::F64) => out.extend(words!(f64).map(|v| v as f32)),
                (Samples::F32(out), _) => out.extend(words!(f32)),
            }
            read += got;
            report(progress, read, needed)?;
            if got < want {
                return Err(Error::Decode(format!(
                    "the file is truncated: {needed} bytes of voxel data expected, {read} present"
                )));
            }
        }
        Ok(match rescale {
            Some((slope, intercept)) => Voxels::rescaled(samples, slope, intercept),
            None => Voxels::new(samples),
        })
    }
}

/// Samples a stream's reading starts with before it allocates the whole volume.
const FIRST_SAMPLES: usize = 1 << 24;

/// Room for the whole `count` once `arriving` more samples would not fit.
fn reserve_all<T>(out: &mut Vec<T>, arriving: usize, count: usize) {
    if out.len() + arriving > out.capacity() {
        out.reserve_exact(count.saturating_sub(out.len()));
    }
}

/// Reads until `buffer` is full or the stream ends; how many bytes it read.
fn fill(reader: &mut impl Read, buffer: &mut [u8]) -> Result<usize> {
    let mut at = 0;
    while at < buffer.len() {
        match reader.read(&mut buffer[at..]) {
            Ok(0) => break,
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Decode(format!("corrupt gzip data: {e}"))),
        }
    }
    Ok(at)
}
