//! What the operators' tests share: running a graph as tract optimises it, and comparing two
//! outputs bit for bit.

use tract_onnx::prelude::*;

use super::kernels::f32s;

/// `model` optimised by tract and run on `input`: its first output's values.
pub(crate) fn run_optimized(model: TypedModel, input: &Tensor) -> Vec<f32> {
    let plan = model.into_optimized().unwrap().into_runnable().unwrap();
    let out = plan.run(tvec!(input.clone().into_tvalue())).unwrap();
    f32s(&out[0]).unwrap().to_vec()
}

/// How many values differ in their bits (a length difference counts as a difference).
pub(crate) fn differing_bits(expected: &[f32], got: &[f32]) -> usize {
    let length_difference = expected.len().abs_diff(got.len());
    let differing = expected
        .iter()
        .zip(got)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    differing + length_difference
}
