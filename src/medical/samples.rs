//! Sample types shared by the NIfTI and NRRD readers.

use crate::error::{Error, Result};

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

    /// `count` samples from `bytes` as f32 (the volume's intensity type).
    pub(crate) fn decode(self, bytes: &[u8], count: usize, big_endian: bool) -> Result<Vec<f32>> {
        let size = self.bytes();
        let needed = count
            .checked_mul(size)
            .ok_or_else(|| Error::invalid("the volume is too large"))?;
        if bytes.len() < needed {
            return Err(Error::Decode(format!(
                "the file is truncated: {needed} bytes of voxel data expected, {} present",
                bytes.len()
            )));
        }
        macro_rules! convert {
            ($t:ty) => {
                bytes[..needed]
                    .chunks_exact(size)
                    .map(|c| {
                        let raw = c.try_into().expect("chunk size");
                        (if big_endian {
                            <$t>::from_be_bytes(raw)
                        } else {
                            <$t>::from_le_bytes(raw)
                        }) as f32
                    })
                    .collect()
            };
        }
        Ok(match self {
            SampleType::U8 => bytes[..needed].iter().map(|&v| v as f32).collect(),
            SampleType::I8 => bytes[..needed].iter().map(|&v| v as i8 as f32).collect(),
            SampleType::U16 => convert!(u16),
            SampleType::I16 => convert!(i16),
            SampleType::U32 => convert!(u32),
            SampleType::I32 => convert!(i32),
            SampleType::U64 => convert!(u64),
            SampleType::I64 => convert!(i64),
            SampleType::F32 => convert!(f32),
            SampleType::F64 => convert!(f64),
        })
    }
}
