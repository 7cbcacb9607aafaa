//! The channels-first kernel: one channel plane per task, convolved row by row with the
//! inner columns in blocks of 32 and 8 (all three taps of a kernel row inside the image), the
//! first and last columns tap by tap.

use tract_onnx::prelude::*;

use super::Job;
use crate::ops::gelu::Gelu;
use crate::ops::kernels::fma_dispatch;

/// Every channel of `job` into `out` (`[C, ho, wo]`).
pub(super) fn run(job: &Job, out: &mut [f32]) -> TractResult<()> {
    let (h, w, wo) = (job.h, job.w, job.wo);
    let plane = job.ho * wo;
    tract_linalg::multithread::par_chunks_mut(out, plane, job.c * plane * 9, |first, chunk| {
        let mut gelu = Gelu::new()?;
        let mut gelu_plane = if job.gelu_in {
            vec![0f32; h * w]
        } else {
            Vec::new()
        };
        let mut lines = vec![0f32; 3 * 2 * w.div_ceil(2)];
        for (i, out) in chunk.chunks_mut(plane).enumerate() {
            let channel = first + i;
            let input = &job.data[channel * h * w..][..h * w];
            let input = if job.gelu_in {
                gelu.apply(input, &mut gelu_plane)?;
                &gelu_plane[..]
            } else {
                input
            };
            let taps: &[f32; 9] = job.kernel[channel * 9..][..9].try_into()?;
            let affine = (job.bias[channel], job.slope[channel], job.shift[channel]);
            convolve_plane(input, (h, w), job.stride, taps, affine, out, wo, &mut lines);
            if job.gelu_out {
                gelu.in_place(out)?;
            }
        }
        Ok(())
    })
}

/// One channel: `out = conv3x3(input) * slope + shift`, padding 1, `out` being `ho x wo`.
/// `lines` is scratch for two input rows split into even and odd columns (stride 2).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn convolve_plane_generic<const FMA: bool>(
    input: &[f32],
    (h, w): (usize, usize),
    stride: usize,
    taps: &[f32; 9],
    (bias, slope, shift): (f32, f32, f32),
    out: &mut [f32],
    wo: usize,
    lines: &mut [f32],
) {
    let ho = out.len() / wo;
    // Output columns whose three taps all fall inside the image: `1 <= ox` and
    // `ox * stride + 1 <= w - 1`.
    let inner_end = ((w - 2) / stride + 1).min(wo);
    let half = w.div_ceil(2);
    for oy in 0..ho {
        // The input rows of the three kernel rows, None outside the image.
        let rows: [Option<&[f32]>; 3] = std::array::from_fn(|ky| {
            (oy * stride + ky)
                .checked_sub(1)
                .filter(|&iy| iy < h)
                .map(|iy| &input[iy * w..][..w])
        });
        // For stride 2: each row split into even and odd columns, so that every tap reads
        // consecutive values: column 2 ox - 1 + kx is odd[ox - 1], even[ox], odd[ox].
        let mut split: [(&[f32], &[f32]); 3] = [(&[], &[]); 3];
        if stride == 2 {
            for (ky, (row, slot)) in rows.iter().zip(lines.chunks_mut(2 * half)).enumerate() {
                if let Some(row) = row {
                    let (even, odd) = slot.split_at_mut(half);
                    for (i, x) in row.iter().enumerate() {
                        if i % 2 == 0 {
                            even[i / 2] = *x;
                        } else {
                            odd[i / 2] = *x;
                        }
                    }
                    split[ky] = (even, odd);
                }
            }
        }
        // bases[ky][kx][ox - 1] is what tap (ky, kx) reads for output ox (an inner column).
        let mut bases: [[&[f32]; 3]; 3] = [[&[]; 3]; 3];
        for (ky, row) in rows.iter().enumerate() {
            if let Some(row) = row {
                bases[ky] = if stride == 1 {
                    [row, &row[1..], &row[2..]]
                } else {
                    let (even, odd) = split[ky];
                    [odd, &even[1..], &odd[1..]]
                };
            }
        }
        let valid = rows.map(|row| row.is_some());
        let out_row = &mut out[oy * wo..][..wo];
        let mut ox = 1;
        while ox + 32 <= inner_end {
            block::<32>(&bases, valid, taps, bias, ox, &mut out_row[ox..ox + 32]);
            ox += 32;
        }
        while ox + 8 <= inner_end {
            block::<8>(&bases, valid, taps, bias, ox, &mut out_row[ox..ox + 8]);
            ox += 8;
        }
        // The first column and those the blocks left, tap by tap.
        for ox in std::iter::once(0).chain(ox..wo) {
            let mut acc = bias;
            for (ky, row) in rows.iter().enumerate() {
                let Some(row) = row else { continue };
                for kx in 0..3 {
                    if let Some(ix) = (ox * stride + kx).checked_sub(1).filter(|&ix| ix < w) {
                        acc += taps[ky * 3 + kx] * row[ix];
                    }
                }
            }
            out_row[ox] = acc;
        }
        for o in out_row.iter_mut() {
            *o = *o * slope + shift;
        }
    }
}

/// `N` inner output columns from `ox`: the bias, then each tap's product added in kernel order.
#[inline(always)]
fn block<const N: usize>(
    bases: &[[&[f32]; 3]; 3],
    valid: [bool; 3],
    taps: &[f32; 9],
    bias: f32,
    ox: usize,
    out: &mut [f32],
) {
    let mut acc = [bias; N];
    for ky in 0..3 {
        if !valid[ky] {
            continue;
        }
        for kx in 0..3 {
            let tap = taps[ky * 3 + kx];
            let values: &[f32; N] = bases[ky][kx][ox - 1..][..N].try_into().unwrap();
            for (a, x) in acc.iter_mut().zip(values) {
                *a += tap * *x;
            }
        }
    }
    out.copy_from_slice(&acc);
}

fma_dispatch! {
    /// [`convolve_plane_generic`], compiled for AVX2 where the machine has it (it multiplies
    /// and adds separately either way, as tract's depthwise kernels do).
    fn convolve_plane => convolve_plane_generic(
        input: &[f32], size: (usize, usize), stride: usize, taps: &[f32; 9],
        affine: (f32, f32, f32), out: &mut [f32], wo: usize, lines: &mut [f32],
    )
}
