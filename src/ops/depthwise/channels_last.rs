//! The channels-last kernel: bands of output rows per task; each output pixel's channels are
//! one contiguous run, so every tap is a multiply-add over a run of channels. With a GELU
//! before, the three input rows a kernel row reads are kept GELU'd in a ring, each computed
//! once per band.

use tract_onnx::prelude::*;

use super::Job;
use crate::ops::gelu::Gelu;
use crate::ops::kernels::fma_dispatch;

/// Every output row of `job` into `out` (`[ho, wo, C]`).
pub(super) fn run(job: &Job, out: &mut [f32]) -> TractResult<()> {
    let (c, w, wo) = (job.c, job.w, job.wo);
    // The taps by position, each a run of channels: taps[t * C + ch].
    let mut taps = vec![0f32; 9 * c];
    for ch in 0..c {
        for t in 0..9 {
            taps[t * c + ch] = job.kernel[ch * 9 + t];
        }
    }
    let row_len = wo * c;
    tract_linalg::multithread::par_chunks_mut(out, row_len, job.ho * row_len * 9, |first, chunk| {
        let mut gelu = Gelu::new()?;
        // GELU'd input rows: slot iy % 3 holds row tags[slot].
        let mut ring: [Vec<f32>; 3] = if job.gelu_in {
            std::array::from_fn(|_| vec![0f32; w * c])
        } else {
            Default::default()
        };
        let mut tags = [usize::MAX; 3];
        for (i, out_row) in chunk.chunks_mut(row_len).enumerate() {
            let oy = first + i;
            let input_row = |ky: usize| {
                (oy * job.stride + ky)
                    .checked_sub(1)
                    .filter(|&iy| iy < job.h)
            };
            if job.gelu_in {
                for iy in (0..3).filter_map(input_row) {
                    if tags[iy % 3] != iy {
                        gelu.apply(&job.data[iy * w * c..][..w * c], &mut ring[iy % 3])?;
                        tags[iy % 3] = iy;
                    }
                }
            }
            let rows: [Option<&[f32]>; 3] = std::array::from_fn(|ky| {
                input_row(ky).map(|iy| {
                    if job.gelu_in {
                        &ring[iy % 3][..]
                    } else {
                        &job.data[iy * w * c..][..w * c]
                    }
                })
            });
            convolve_row(rows, &taps, job, out_row);
            if job.gelu_out {
                gelu.in_place(out_row)?;
            }
        }
        Ok(())
    })
}

fma_dispatch! {
    /// [`convolve_row_generic`], compiled for AVX2 where the machine has it (it multiplies
    /// and adds separately either way, as tract's depthwise kernels do).
    fn convolve_row => convolve_row_generic(
        rows: [Option<&[f32]>; 3], taps: &[f32], job: &Job, out: &mut [f32],
    )
}

/// One output row: for each pixel, the bias, then `tap * input` added for the taps inside the
/// image in kernel order, then `* slope + shift`, channel by channel.
#[inline(always)]
fn convolve_row_generic<const FMA: bool>(
    rows: [Option<&[f32]>; 3],
    taps: &[f32],
    job: &Job,
    out: &mut [f32],
) {
    let c = job.c;
    for (ox, pixel) in out.chunks_exact_mut(c).enumerate() {
        pixel.copy_from_slice(job.bias);
        for (ky, row) in rows.iter().enumerate() {
            let Some(row) = row else { continue };
            for kx in 0..3 {
                let Some(ix) = (ox * job.stride + kx)
                    .checked_sub(1)
                    .filter(|&ix| ix < job.w)
                else {
                    continue;
                };
                let tap = &taps[(ky * 3 + kx) * c..][..c];
                let x = &row[ix * c..][..c];
                for ((o, t), x) in pixel.iter_mut().zip(tap).zip(x) {
                    *o += *t * *x;
                }
            }
        }
        for ((o, s), t) in pixel.iter_mut().zip(job.slope).zip(job.shift) {
            *o = *o * *s + *t;
        }
    }
}
