//! What our operators share: whether this machine's tract kernels use fused multiply-adds
//! (ours must do the same to give the same bits), the one multiply-add they all call, and
//! buffers aligned as tract aligns its tensors.

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;

/// Whether tract's f32 matrix kernels on this machine use fused multiply-adds: on x86-64 with
/// FMA (its AVX2 and AVX-512 kernels), not without it. (In WebAssembly they multiply, then add:
/// its SIMD128 has no FMA.)
#[cfg(target_arch = "x86_64")]
pub(crate) fn tract_uses_fma() -> bool {
    use std::sync::OnceLock;
    static FMA: OnceLock<bool> = OnceLock::new();
    *FMA.get_or_init(|| {
        std::arch::is_x86_feature_detected!("fma") && std::arch::is_x86_feature_detected!("avx2")
    })
}

/// `acc + a * b`, rounded once (`FMA`) or twice, as tract's kernels do.
#[inline(always)]
pub(crate) fn madd<const FMA: bool>(a: f32, b: f32, acc: f32) -> f32 {
    if FMA {
        a.mul_add(b, acc)
    } else {
        acc + a * b
    }
}

/// Defines `fn $name(args)` that runs `$generic::<true>(args)` compiled for AVX2 and FMA where
/// tract uses FMA, else `$generic::<false>(args)` compiled for the target's baseline (SIMD128 in
/// the browser build). `$generic` must be `#[inline(always)]`, and everything it calls too, so
/// that it is compiled with the features of the function it is inlined into. `$name` itself is
/// never inlined: a kernel inlined into a large caller made V8 spill its SIMD accumulators
/// (window attention ran 5x slower in the browser than the same kernel as its own function).
macro_rules! fma_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident => $generic:ident ( $($arg:ident : $ty:ty),* $(,)? )) => {
        $(#[$meta])*
        #[inline(never)]
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn fast($($arg: $ty),*) {
                    $generic::<true>($($arg),*)
                }
                if $crate::ops::kernels::tract_uses_fma() {
                    // SAFETY: the CPU has AVX2 and FMA (tract_uses_fma checks both).
                    return unsafe { fast($($arg),*) };
                }
            }
            $generic::<false>($($arg),*)
        }
    };
}
pub(crate) use fma_dispatch;

/// A zeroed f32 scratch buffer whose element `offset` sits where element `offset` of a tract
/// tensor would, relative to tract's alignment (`vector_size()` bytes): tract-linalg's
/// reductions treat an aligned body and unaligned ends differently, so the same values at the
/// same alignment give the same bits.
pub(crate) struct AlignedScratch {
    tensor: Tensor,
}

impl AlignedScratch {
    /// Room for `len` floats after any alignment offset.
    pub(crate) fn new(len: usize) -> TractResult<AlignedScratch> {
        let lanes = vector_floats();
        Ok(AlignedScratch {
            tensor: Tensor::zero_aligned::<f32>(&[len + lanes], lanes * 4)?,
        })
    }

    /// `len` floats starting at the alignment that element `tract_offset` of a tract tensor has.
    pub(crate) fn slice_like(
        &mut self,
        tract_offset: usize,
        len: usize,
    ) -> TractResult<&mut [f32]> {
        let shift = tract_offset % vector_floats();
        let all = f32s_mut(&mut self.tensor)?;
        all.get_mut(shift..shift + len)
            .context("aligned scratch: asked for more than it holds")
    }
}

/// tract's tensor alignment, in floats.
fn vector_floats() -> usize {
    tract_onnx::prelude::tract_data::internal::vector_size() / 4
}

/// A tensor's f32 values.
pub(crate) fn f32s(tensor: &Tensor) -> TractResult<&[f32]> {
    tensor.try_as_plain_ram()?.as_slice::<f32>()
}

/// A tensor's f32 values, to write.
pub(crate) fn f32s_mut(tensor: &mut Tensor) -> TractResult<&mut [f32]> {
    ensure!(
        tensor.datum_type() == f32::datum_type(),
        "expected an f32 tensor, got {:?}",
        tensor.datum_type()
    );
    // The plain view checks the storage is plain memory; the type is checked above.
    tensor.try_as_plain_ram_mut()?;
    Ok(unsafe { tensor.as_slice_mut_unchecked::<f32>() })
}
