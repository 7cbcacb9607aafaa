//! Layer normalisation over the last axis as one pass per row.
//!
//! tract declutters ONNX's `LayerNormalization` into six operators, each a pass over the whole
//! tensor (and the two broadcasting ones split into one job per row when threaded, which made
//! them slower on two threads than on one):
//!
//! ```text
//! sum = Reduce<Sum>(x, last axis); mean = sum * (1 / C); d = x - mean
//! r = RmsNorm(d, last axis, eps); y = r * gamma + beta   (a Mul, then an Add)
//! ```
//!
//! Here each row goes through all six while it is in cache, with tract-linalg's own sum and
//! RMS-norm routines on rows at the alignment tract's tensors give them, so the values are
//! tract's bit for bit.

use tract_onnx::prelude::tract_linalg::routines::Func;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::math::{Add, Mul, Sub};
use tract_onnx::tract_core::ops::nn::{Reduce, Reducer, RmsNorm};

use super::kernels::{f32s, f32s_mut};
use super::{is_f32, konst, only_feeds_one, shape_of};

/// Layer norm over the last axis: inputs `x`, `gamma [C]`, `beta [C]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LayerNorm {
    /// `1 / C` as the model has it (f32 bits).
    inverse_len_bits: u32,
    /// Epsilon (f32 bits).
    eps_bits: u32,
}

impl Op for LayerNorm {
    fn name(&self) -> StaticName {
        "LayerNorm".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "last axis, eps {}",
            f32::from_bits(self.eps_bits)
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for LayerNorm {
    op_out_of_plan!();

    fn eval(&self, _context: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, gamma, beta) = args_3!(inputs);
        let c = *x.shape().last().context("LayerNorm of a scalar")?;
        ensure!(c > 0 && gamma.len() == c && beta.len() == c);
        let mut output = unsafe { Tensor::uninitialized::<f32>(x.shape())? };
        let (x, gamma, beta) = (f32s(&x)?, f32s(&gamma)?, f32s(&beta)?);
        let sum = Func::ReduceSum.reduce_f32()?;
        let rms_norm = tract_linalg::routines::rms_norm_f32()?;
        let inverse_len = f32::from_bits(self.inverse_len_bits);
        let eps = f32::from_bits(self.eps_bits);
        let total = x.len();
        tract_linalg::multithread::par_chunks_mut(
            f32s_mut(&mut output)?,
            c,
            total,
            |first, chunk| {
                let rows = x[first * c..][..chunk.len()].chunks_exact(c);
                for (out, x) in chunk.chunks_exact_mut(c).zip(rows) {
                    // tract sums rows of fewer than 4 values plainly.
                    let total = if c >= 4 { sum.run(x)? } else { x.iter().sum() };
                    let mean = total * inverse_len;
                    for (o, x) in out.iter_mut().zip(x) {
                        *o = *x - mean;
                    }
                    rms_norm(out, eps);
                    for ((o, g), b) in out.iter_mut().zip(gamma).zip(beta) {
                        *o = *o * *g + *b;
                    }
                }
                Ok(())
            },
        )?;
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for LayerNorm {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(inputs[0].shape.clone())))
    }

    as_op!();
}

/// The binary op node `node` is a `B` with one input from `from` and the other a constant:
/// that constant.
fn with_const<B: tract_onnx::tract_core::ops::binary::BinMiniOp>(
    model: &TypedModel,
    node: &TypedNode,
) -> Option<(Arc<Tensor>, OutletId)> {
    let op = node.op_as::<TypedBinOp>()?;
    if !op.0.is::<B>() || node.inputs.len() != 2 {
        return None;
    }
    let slot = (0..2).find(|&i| konst(model, node.inputs[i]).is_some())?;
    Some((konst(model, node.inputs[slot])?, node.inputs[1 - slot]))
}

/// The patch that replaces the layer norm whose RmsNorm is `node`, if it is one.
pub(super) fn patch(model: &TypedModel, node: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
    let Some(rms) = node.op_as::<RmsNorm>() else {
        return Ok(None);
    };
    let Some(shape) = shape_of(model, OutletId::new(node.id, 0)) else {
        return Ok(None);
    };
    let rank = shape.len();
    if rank == 0 || rms.axis != rank - 1 || !only_feeds_one(model, node) {
        return Ok(None);
    }
    let c = shape[rank - 1];
    if rms.eps.len() != 1 || !rms.eps.datum_type().is_float() {
        return Ok(None);
    }
    let eps = *f32s(&*rms.eps.cast_to::<f32>()?)?.first().context("eps")?;
    // d = x - mean
    let centred = model.node(node.inputs[0].node);
    let is_sub = centred
        .op_as::<TypedBinOp>()
        .is_some_and(|op| op.0.is::<Sub>());
    if !is_sub || centred.inputs.len() != 2 || !only_feeds_one(model, centred) {
        return Ok(None);
    }
    let (x, mean) = (centred.inputs[0], model.node(centred.inputs[1].node));
    if !is_f32(model, x) || shape_of(model, x).as_deref() != Some(&shape[..]) {
        return Ok(None);
    }
    // mean = sum * (1 / C)
    let Some((inverse_len, summed)) = with_const::<Mul>(model, mean) else {
        return Ok(None);
    };
    if !only_feeds_one(model, mean) || inverse_len.len() != 1 {
        return Ok(None);
    }
    let inverse_len = f32s(&*inverse_len.cast_to::<f32>()?)?[0];
    let sum = model.node(summed.node);
    let is_sum = sum
        .op_as::<Reduce>()
        .is_some_and(|op| op.reducer == Reducer::Sum && op.axes.as_slice() == [rank - 1]);
    if !is_sum || sum.inputs.first() != Some(&x) || !only_feeds_one(model, sum) {
        return Ok(None);
    }
    // y = r * gamma + beta
    let scaled = model.node(node.outputs[0].successors[0].node);
    let Some((gamma, _)) = with_const::<Mul>(model, scaled) else {
        return Ok(None);
    };
    if !only_feeds_one(model, scaled) {
        return Ok(None);
    }
    let shifted = model.node(scaled.outputs[0].successors[0].node);
    let Some((beta, _)) = with_const::<Add>(model, shifted) else {
        return Ok(None);
    };
    let per_channel = |t: &Tensor| {
        t.len() == c && t.datum_type() == f32::datum_type() && t.shape().last() == Some(&c)
    };
    if !per_channel(&gamma) || !per_channel(&beta) {
        return Ok(None);
    }
    let op = LayerNorm {
        inverse_len_bits: inverse_len.to_bits(),
        eps_bits: eps.to_bits(),
    };
    let mut patch = TypedModelPatch::new(format!("layer norm at {}", node.name));
    let input = patch.tap_model(model, x)?;
    let gamma = patch.add_const(
        format!("{}.gamma", node.name),
        (*gamma).clone().into_shape(&[c])?,
    )?;
    let beta = patch.add_const(
        format!("{}.beta", node.name),
        (*beta).clone().into_shape(&[c])?,
    )?;
    let out = patch.wire_node(
        format!("{}.layer_norm", node.name),
        op,
        &[input, gamma, beta],
    )?;
    patch.shunt_outside(model, OutletId::new(shifted.id, 0), out[0])?;
    Ok(Some(patch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::rewrite;
    use crate::ops::testing::{differing_bits, run_optimized};
    use tract_onnx::tract_core::ops::math;

    /// ONNX LayerNormalization over the last axis, as tract declutters it.
    fn layer_norm_model(rows: usize, c: usize) -> TypedModel {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([2, rows, c])).unwrap();
        let sum = model
            .wire_node("sum", Reduce::new(tvec!(2), Reducer::Sum), &[x])
            .unwrap();
        let inverse = model
            .add_const("inverse", tensor3(&[[[1.0f32 / c as f32]]]))
            .unwrap();
        let mean = model
            .wire_node("mean", math::mul(), &[sum[0], inverse])
            .unwrap();
        let d = model.wire_node("d", math::sub(), &[x, mean[0]]).unwrap();
        let rms = RmsNorm {
            axis: 2,
            eps: Arc::new(tensor0(1e-5f32)),
        };
        let r = model.wire_node("rms", rms, &d).unwrap();
        let gamma: Vec<f32> = (0..c).map(|i| 0.5 + (i % 7) as f32 * 0.13).collect();
        let beta: Vec<f32> = (0..c).map(|i| (i % 5) as f32 * 0.07 - 0.1).collect();
        let gamma = model
            .add_const("gamma", Tensor::from_shape(&[1, 1, c], &gamma).unwrap())
            .unwrap();
        let beta = model
            .add_const("beta", Tensor::from_shape(&[1, 1, c], &beta).unwrap())
            .unwrap();
        let y = model
            .wire_node("scaled", math::mul(), &[r[0], gamma])
            .unwrap();
        let y = model
            .wire_node("shifted", math::add(), &[y[0], beta])
            .unwrap();
        model.select_output_outlets(&y).unwrap();
        model
    }

    #[test]
    fn the_operator_gives_tracts_bits() {
        for (rows, c) in [(49, 128), (196, 160), (30, 320), (5, 3), (7, 6)] {
            let original = layer_norm_model(rows, c);
            let mut rewritten = original.clone();
            assert_eq!(rewrite(&mut rewritten).unwrap().layer_norm, 1, "C {c}");
            let values: Vec<f32> = (0..2 * rows * c)
                .map(|i| ((i * 7919 % 1013) as f32 - 500.0) / 97.0)
                .collect();
            let input = Tensor::from_shape(&[2, rows, c], &values).unwrap();
            let expected = run_optimized(original, &input);
            let got = run_optimized(rewritten, &input);
            assert_eq!(differing_bits(&expected, &got), 0, "{rows} rows of {c}");
        }
    }
}
