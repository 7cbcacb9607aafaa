//! tract's exact GELU (`GeluExact`, tract-core `ops/nn/gelu_exact.rs`), for the operators that
//! apply it on values they already hold: `(x * 0.5) * (erf(x / sqrt 2) + 1)` with tract-linalg's
//! own erf routine, so each value is tract's bit for bit.

use tract_onnx::prelude::tract_linalg::element_wise::ElementWise;
use tract_onnx::prelude::tract_linalg::routines::Func;
use tract_onnx::prelude::*;

/// How many values tract's GELU passes to erf at once. Erf maps each value on its own, so this
/// only sizes the scratch.
const CHUNK: usize = 1024;

/// The erf routine and its scratch; one per task.
pub(crate) struct Gelu {
    erf: Box<dyn ElementWise<f32>>,
    scratch: Vec<f32>,
}

impl Gelu {
    pub(crate) fn new() -> TractResult<Gelu> {
        Ok(Gelu {
            erf: Func::Erf.ew_f32()?,
            scratch: vec![0.0; CHUNK],
        })
    }

    /// GELU of `input` into `output` (the same length).
    pub(crate) fn apply(&mut self, input: &[f32], output: &mut [f32]) -> TractResult<()> {
        let c = (2.0f32).sqrt().recip();
        for (x, y) in input.chunks(CHUNK).zip(output.chunks_mut(CHUNK)) {
            let scaled = &mut self.scratch[..x.len()];
            for (s, x) in scaled.iter_mut().zip(x) {
                *s = *x * c;
            }
            self.erf.run(scaled)?;
            for ((y, x), e) in y.iter_mut().zip(x).zip(scaled.iter()) {
                *y = (*x * 0.5) * (*e + 1.0);
            }
        }
        Ok(())
    }

    /// GELU of `values`, in place.
    pub(crate) fn in_place(&mut self, values: &mut [f32]) -> TractResult<()> {
        let c = (2.0f32).sqrt().recip();
        for chunk in values.chunks_mut(CHUNK) {
            let scaled = &mut self.scratch[..chunk.len()];
            for (s, x) in scaled.iter_mut().zip(chunk.iter()) {
                *s = *x * c;
            }
            self.erf.run(scaled)?;
            for (x, e) in chunk.iter_mut().zip(scaled.iter()) {
                *x = (*x * 0.5) * (*e + 1.0);
            }
        }
        Ok(())
    }
}
