//! A volume's samples in the type the file stores them (u8, i16, u16, f32), with the file's
//! rescale (slope, intercept) applied when a value is read rather than stored: a 512x512x2000 CT
//! is 1 GiB of i16 instead of 2 GiB of f32. Every value reads back exactly as the f32 the readers
//! computed before (the same arithmetic, at read time), so windows, measurements and exports do
//! not change. Percentiles of integer samples come from a histogram, without a sorted copy.

use std::ops::Range;

/// The stored samples.
#[derive(Clone, Debug, PartialEq)]
pub enum Samples {
    /// 8-bit unsigned (NPZ cases, 8-bit DICOM and NIfTI, RGB).
    U8(Vec<u8>),
    /// 16-bit signed (CT).
    I16(Vec<i16>),
    /// 16-bit unsigned (MR, X-ray).
    U16(Vec<u16>),
    /// Anything else, as the f32 the reader computed.
    F32(Vec<f32>),
}

/// A volume's samples and how they become intensities: `value = sample * slope + intercept`,
/// computed in f64 and rounded to f32, when `rescale` is set.
#[derive(Clone, Debug, PartialEq)]
pub struct Voxels {
    samples: Samples,
    rescale: Option<(f64, f64)>,
}

impl From<Vec<f32>> for Voxels {
    fn from(values: Vec<f32>) -> Self {
        Voxels::new(Samples::F32(values))
    }
}

impl From<Vec<u8>> for Voxels {
    fn from(values: Vec<u8>) -> Self {
        Voxels::new(Samples::U8(values))
    }
}

impl From<Vec<i16>> for Voxels {
    fn from(values: Vec<i16>) -> Self {
        Voxels::new(Samples::I16(values))
    }
}

impl From<Vec<u16>> for Voxels {
    fn from(values: Vec<u16>) -> Self {
        Voxels::new(Samples::U16(values))
    }
}

/// Runs `$body` with `$v` bound to the samples' vector, whatever its type.
macro_rules! each {
    ($samples:expr, $v:ident => $body:expr) => {
        match $samples {
            Samples::U8($v) => $body,
            Samples::I16($v) => $body,
            Samples::U16($v) => $body,
            Samples::F32($v) => $body,
        }
    };
}

impl Voxels {
    /// Samples that are their own values.
    pub fn new(samples: Samples) -> Self {
        Voxels {
            samples,
            rescale: None,
        }
    }

    /// Integer samples whose values are `sample * slope + intercept`. f32 samples are rescaled
    /// now (they are already 4 bytes a voxel), with the same arithmetic.
    pub fn rescaled(samples: Samples, slope: f64, intercept: f64) -> Self {
        match samples {
            Samples::F32(mut values) => {
                for v in &mut values {
                    *v = (*v as f64 * slope + intercept) as f32;
                }
                Voxels::new(Samples::F32(values))
            }
            samples => Voxels {
                samples,
                rescale: Some((slope, intercept)),
            },
        }
    }

    /// The stored samples.
    pub fn samples(&self) -> &Samples {
        &self.samples
    }

    /// How many samples (voxels times channels).
    pub fn len(&self) -> usize {
        each!(&self.samples, v => v.len())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stored type as numpy names it ("int16").
    pub fn type_name(&self) -> &'static str {
        match self.samples {
            Samples::U8(_) => "uint8",
            Samples::I16(_) => "int16",
            Samples::U16(_) => "uint16",
            Samples::F32(_) => "float32",
        }
    }

    /// Bytes per stored sample.
    pub fn sample_bytes(&self) -> usize {
        match self.samples {
            Samples::U8(_) => 1,
            Samples::I16(_) | Samples::U16(_) => 2,
            Samples::F32(_) => 4,
        }
    }

    /// The value of sample `i`.
    pub fn get(&self, i: usize) -> f32 {
        let rescale = self.rescale;
        each!(&self.samples, v => value(v[i] as f64, rescale))
    }

    /// The values of samples `range`, appended to `out`.
    pub fn extend_values(&self, range: Range<usize>, out: &mut Vec<f32>) {
        let rescale = self.rescale;
        each!(&self.samples, v => out.extend(v[range].iter().map(|&s| value(s as f64, rescale))))
    }

    /// The values of samples `range`.
    pub fn values(&self, range: Range<usize>) -> Vec<f32> {
        let mut out = Vec::with_capacity(range.len());
        self.extend_values(range, &mut out);
        out
    }

    /// Every value (a whole-volume f32 copy: for small volumes and tests).
    pub fn to_f32(&self) -> Vec<f32> {
        self.values(0..self.len())
    }

    /// numpy's linear percentiles `low` and `high` (0-100) of the finite values: from a
    /// histogram for integer samples, by selection over a copy for f32 ones.
    pub fn percentiles(&self, low: f64, high: f64) -> (f64, f64) {
        let counts: Vec<(f32, u64)> = match &self.samples {
            Samples::F32(values) => return percentiles(values, low, high),
            Samples::U8(v) => self.histogram(v.iter().map(|&s| s as usize), 256, 0),
            Samples::I16(v) => self.histogram(
                v.iter().map(|&s| (s as i32 + 32768) as usize),
                65536,
                -32768,
            ),
            Samples::U16(v) => self.histogram(v.iter().map(|&s| s as usize), 65536, 0),
        };
        let total: u64 = counts.iter().map(|c| c.1).sum();
        if total == 0 {
            return (0.0, 0.0);
        }
        // The value at rank `k` of the sorted finite values.
        let at_rank = |k: u64| {
            let mut seen = 0;
            for &(v, n) in &counts {
                seen += n;
                if k < seen {
                    return v as f64;
                }
            }
            counts.last().map_or(0.0, |c| c.0 as f64)
        };
        let last = total - 1;
        let at = |q: f64| {
            let position = q / 100.0 * last as f64;
            let below = position.floor() as u64;
            let a = at_rank(below);
            let b = if below < last { at_rank(below + 1) } else { a };
            a + (b - a) * (position - below as f64)
        };
        (at(low), at(high))
    }

    /// (value, count) of every stored sample value present, in increasing order of value,
    /// non-finite values left out. `bins` counts from `offset` (the lowest sample).
    fn histogram(
        &self,
        bins_of: impl Iterator<Item = usize>,
        bins: usize,
        offset: i32,
    ) -> Vec<(f32, u64)> {
        let mut counts = vec![0u64; bins];
        for b in bins_of {
            counts[b] += 1;
        }
        let mut present: Vec<(f32, u64)> = counts
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(b, &n)| (value((b as i32 + offset) as f64, self.rescale), n))
            .filter(|(v, _)| v.is_finite())
            .collect();
        // A negative slope reverses the order; equal values sort together.
        present.sort_by(|a, b| a.0.total_cmp(&b.0));
        present
    }

    /// Moves every voxel (`channels` samples) to where `source_of` says it comes from: voxel
    /// `d` takes the voxel that was at `source_of(d)`, which must be a permutation. In place,
    /// following its cycles, with one bit per voxel: reorienting a volume needs no second copy.
    pub fn permute(&mut self, channels: usize, source_of: impl Fn(usize) -> usize) {
        each!(&mut self.samples, v => permute_in_place(v, channels, &source_of))
    }
}

/// Voxels built from f32 values as a reader decodes them (a DICOM slice or frame at a time):
/// kept in the narrowest type that holds every value so far exactly (u8, i16, u16, else f32),
/// widened (once, rarely: when a later slice leaves the range) as values arrive.
pub struct VoxelsBuilder {
    samples: Samples,
    expected: usize,
    range: Option<(f32, f32)>,
    integral: bool,
}

impl VoxelsBuilder {
    /// A builder for about `expected` samples (reserved when the first ones arrive).
    pub fn new(expected: usize) -> Self {
        VoxelsBuilder {
            samples: Samples::U8(Vec::new()),
            expected,
            range: None,
            integral: true,
        }
    }

    /// Appends `values`.
    pub fn push(&mut self, values: &[f32]) {
        let (mut low, mut high) = self.range.unwrap_or((f32::INFINITY, f32::NEG_INFINITY));
        let mut integral = self.integral;
        for &v in values {
            integral &= v.is_finite() && v.fract() == 0.0;
            low = low.min(v);
            high = high.max(v);
        }
        if !values.is_empty() {
            self.range = Some((low, high));
        }
        self.integral = integral;
        let kind = if !integral {
            3
        } else if low >= 0.0 && high <= 255.0 {
            0
        } else if low >= -32768.0 && high <= 32767.0 {
            1
        } else if low >= 0.0 && high <= 65535.0 {
            2
        } else {
            3
        };
        if kind != kind_of(&self.samples) || self.samples_len() == 0 {
            self.widen(kind);
        }
        match &mut self.samples {
            Samples::U8(out) => out.extend(values.iter().map(|&v| v as u8)),
            Samples::I16(out) => out.extend(values.iter().map(|&v| v as i16)),
            Samples::U16(out) => out.extend(values.iter().map(|&v| v as u16)),
            Samples::F32(out) => out.extend_from_slice(values),
        }
    }

    fn samples_len(&self) -> usize {
        each!(&self.samples, v => v.len())
    }

    /// The samples so far in type `kind` (0 u8, 1 i16, 2 u16, 3 f32), room for `expected`.
    fn widen(&mut self, kind: usize) {
        let old = std::mem::replace(&mut self.samples, Samples::U8(Vec::new()));
        let values: Vec<f32> = Voxels::new(old).to_f32();
        let capacity = self.expected.max(values.len());
        self.samples = match kind {
            0 => Samples::U8(with(capacity, values.iter().map(|&v| v as u8))),
            1 => Samples::I16(with(capacity, values.iter().map(|&v| v as i16))),
            2 => Samples::U16(with(capacity, values.iter().map(|&v| v as u16))),
            _ => Samples::F32(with(capacity, values.iter().copied())),
        };
    }

    /// The voxels.
    pub fn finish(self) -> Voxels {
        Voxels::new(self.samples)
    }
}

fn kind_of(samples: &Samples) -> usize {
    match samples {
        Samples::U8(_) => 0,
        Samples::I16(_) => 1,
        Samples::U16(_) => 2,
        Samples::F32(_) => 3,
    }
}

fn with<T>(capacity: usize, values: impl Iterator<Item = T>) -> Vec<T> {
    let mut out = Vec::with_capacity(capacity);
    out.extend(values);
    out
}

/// numpy's default (linear) percentiles of all values. Selection, not a sort: a volume can have
/// hundreds of millions of voxels.
pub fn percentiles(values: &[f32], low: f64, high: f64) -> (f64, f64) {
    let mut finite: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return (0.0, 0.0);
    }
    let last = finite.len() - 1;
    let mut at = |q: f64| {
        let position = q / 100.0 * last as f64;
        let below = position.floor() as usize;
        let a = *finite.select_nth_unstable_by(below, f32::total_cmp).1 as f64;
        // The next value up is the smallest of the part above `below`.
        let b = finite[below + 1..]
            .iter()
            .copied()
            .min_by(f32::total_cmp)
            .map_or(a, |v| v as f64);
        a + (b - a) * (position - below as f64)
    };
    (at(low), at(high))
}

fn value(sample: f64, rescale: Option<(f64, f64)>) -> f32 {
    match rescale {
        None => sample as f32,
        Some((slope, intercept)) => (sample * slope + intercept) as f32,
    }
}

fn permute_in_place<T: Copy>(data: &mut [T], channels: usize, source_of: &impl Fn(usize) -> usize) {
    let voxels = data.len() / channels.max(1);
    let mut done = vec![0u64; voxels.div_ceil(64)];
    let mark = |done: &mut Vec<u64>, i: usize| done[i / 64] |= 1 << (i % 64);
    let is_done = |done: &Vec<u64>, i: usize| done[i / 64] & (1 << (i % 64)) != 0;
    let mut held = Vec::with_capacity(channels);
    for start in 0..voxels {
        if is_done(&done, start) {
            continue;
        }
        mark(&mut done, start);
        let first = source_of(start);
        if first == start {
            continue;
        }
        held.clear();
        held.extend_from_slice(&data[start * channels..(start + 1) * channels]);
        let mut to = start;
        let mut from = first;
        while from != start {
            data.copy_within(from * channels..(from + 1) * channels, to * channels);
            mark(&mut done, from);
            to = from;
            from = source_of(from);
        }
        data[to * channels..(to + 1) * channels].copy_from_slice(&held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescaled_samples_read_as_the_f32_the_readers_computed() {
        let raw: Vec<i16> = vec![-2000, -1, 0, 7, 3071];
        let v = Voxels::rescaled(Samples::I16(raw.clone()), 0.37, -1024.5);
        for (i, &s) in raw.iter().enumerate() {
            assert_eq!(v.get(i), (s as f32 as f64 * 0.37 + -1024.5) as f32);
        }
        assert_eq!(v.values(1..3), [v.get(1), v.get(2)]);
    }

    #[test]
    fn histogram_percentiles_equal_the_selection_ones() {
        let raw: Vec<i16> = (0..1001)
            .map(|i| ((i * 7919) % 3001 - 1500) as i16)
            .collect();
        for rescale in [None, Some((1.0, -1024.0)), Some((-0.5, 3.0))] {
            let voxels = match rescale {
                None => Voxels::new(Samples::I16(raw.clone())),
                Some((s, i)) => Voxels::rescaled(Samples::I16(raw.clone()), s, i),
            };
            let values = voxels.to_f32();
            for (low, high) in [(0.5, 99.5), (0.0, 100.0), (25.0, 75.0), (33.3, 66.6)] {
                assert_eq!(
                    voxels.percentiles(low, high),
                    percentiles(&values, low, high),
                    "{rescale:?} {low} {high}"
                );
            }
        }
        let bytes = Voxels::from(vec![3u8, 9, 1, 3, 7, 3]);
        assert_eq!(bytes.percentiles(25.0, 90.0), (3.0, 8.0));
    }

    #[test]
    fn builders_keep_the_narrowest_exact_type_and_every_value() {
        let cases: [(&[&[f32]], &str); 5] = [
            (&[&[0.0, 255.0], &[7.0]], "uint8"),
            (&[&[0.0, 12.0], &[-1024.0, 3071.0]], "int16"),
            (&[&[3.0], &[40000.0]], "uint16"),
            (&[&[-1.0], &[40000.0]], "float32"),
            (&[&[1.0], &[0.5]], "float32"),
        ];
        for (chunks, kind) in cases {
            let mut builder = VoxelsBuilder::new(4);
            for chunk in chunks {
                builder.push(chunk);
            }
            let voxels = builder.finish();
            assert_eq!(voxels.type_name(), kind, "{chunks:?}");
            assert_eq!(voxels.to_f32(), chunks.concat());
        }
    }

    #[test]
    fn permutation_in_place_moves_every_voxel_with_its_channels() {
        // Reverse 5 RGB voxels, then a 3-cycle on a plain vector.
        let mut v = Voxels::from((0..15).map(|i| i as u8).collect::<Vec<_>>());
        v.permute(3, |d| 4 - d);
        assert_eq!(
            v.to_f32(),
            [12., 13., 14., 9., 10., 11., 6., 7., 8., 3., 4., 5., 0., 1., 2.]
        );
        let mut w = Voxels::from(vec![10i16, 11, 12, 13]);
        w.permute(1, |d| [1, 2, 0, 3][d]);
        assert_eq!(w.to_f32(), [11., 12., 10., 13.]);
    }
}
