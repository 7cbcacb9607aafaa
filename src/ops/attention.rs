//! TinyViT's window attention as one operator: from the `qkv` projection of every window to
//! the heads' outputs, with the scale, the learned position bias and the softmax in between.
//!
//! The subgraph it replaces, as tract declutters it (`B` windows of `N` tokens, `H` heads of
//! `D` channels):
//!
//! ```text
//! qkv [B,N,H,3D] -> Slice 0..D (q), Slice D..2D (k), Slice 2D..3D (v)
//! q, k -> EinSum ambk,anbk->abmn [B,H,N,N] -> Mul scale -> Add bias [1,H,N,N] -> Softmax axis 3
//! scores, v -> EinSum abmk,akbn->ambn [B,N,H,D]
//! ```
//!
//! tract runs the two products as a serial loop of `B x H` small matrix products and the bias
//! as one more pass over all the scores. Here each window is one task (windows in parallel);
//! its heads' scores stay in cache between the products, the bias add and the softmax.

use tract_onnx::prelude::tract_linalg::element_wise::ElementWise;
use tract_onnx::prelude::tract_linalg::reduce::{MapReduce, Reduce};
use tract_onnx::prelude::tract_linalg::routines::{softmax_rows_f32, Func, SoftmaxRowsF32};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::array::Slice;
use tract_onnx::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::ops::math::{Add, Mul};
use tract_onnx::tract_core::ops::nn::{Softmax, SoftmaxKind};

use super::kernels::{f32s, f32s_mut, fma_dispatch, madd, AlignedScratch};
use super::{input_node, is_f32, konst, only_feeds_one, shape_of};

/// Scores and outputs are computed in blocks of this many rows...
const ROWS: usize = 4;
/// ...by this many columns: 4 x 16 accumulators fill AVX2's 16 registers as 8 vectors; in
/// WebAssembly (4-lane vectors) 4 x 8, so that they too stay in 8 registers.
const COLS: usize = if cfg!(target_arch = "wasm32") { 8 } else { 16 };

/// Window attention over `qkv` `[windows, tokens, heads, 3 x head_dim]` and the position bias
/// `[1, heads, tokens, tokens]`; the output is `[windows, tokens, heads, head_dim]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WindowAttention {
    heads: usize,
    tokens: usize,
    head_dim: usize,
    /// The scores' scale, as f32 bits (an op must be `Eq`).
    scale_bits: u32,
}

impl WindowAttention {
    fn scale(&self) -> f32 {
        f32::from_bits(self.scale_bits)
    }
}

impl Op for WindowAttention {
    fn name(&self) -> StaticName {
        "WindowAttention".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "heads: {}, tokens: {}, head_dim: {}, scale: {}",
            self.heads,
            self.tokens,
            self.head_dim,
            self.scale()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for WindowAttention {
    op_out_of_plan!();

    fn eval(&self, _context: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (qkv, bias) = args_2!(inputs);
        let (n, h, d) = (self.tokens, self.heads, self.head_dim);
        let windows = qkv.shape()[0];
        ensure!(qkv.shape() == [windows, n, h, 3 * d]);
        ensure!(bias.len() == h * n * n);
        let qkv = f32s(&qkv)?;
        let bias = f32s(&bias)?;
        let mut output = unsafe { Tensor::uninitialized::<f32>(&[windows, n, h, d])? };
        let softmax = RowSoftmax::new(n)?;
        let window_len = n * h * d;
        // The threshold counts work: the scores of every head.
        let work = windows * h * n * n;
        tract_linalg::multithread::par_chunks_mut(
            f32s_mut(&mut output)?,
            window_len,
            work,
            |first, chunk| {
                let mut scratch = Scratch::new(n, d)?;
                for (i, out) in chunk.chunks_mut(window_len).enumerate() {
                    self.window(first + i, qkv, bias, out, &mut scratch, &softmax)?;
                }
                Ok(())
            },
        )?;
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for WindowAttention {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let qkv = inputs[0];
        ensure!(qkv.rank() == 4);
        let windows = qkv.shape[0].clone();
        Ok(tvec!(f32::fact(&[
            windows,
            self.tokens.to_dim(),
            self.heads.to_dim(),
            self.head_dim.to_dim()
        ])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let windows = inputs[0].shape[0].clone();
        let (n, h, d) = (self.tokens, self.heads, self.head_dim);
        Ok(tvec!((
            Cost::FMA(f32::datum_type()),
            windows * (2 * h * n * n * d)
        )))
    }

    as_op!();
}

/// One window's working memory, reused across the windows of a task.
struct Scratch {
    /// The queries by blocks of ROWS tokens, each block `[head_dim, ROWS]` (channel-major, so
    /// that one channel of the block's rows is one small array); padding rows zero.
    q: Vec<f32>,
    /// The keys transposed, `[head_dim, tokens rounded up to COLS]`, padding columns zero.
    k_t: Vec<f32>,
    /// The values, `[tokens, head_dim rounded up to COLS]`, padding columns zero.
    v: Vec<f32>,
    /// One head's scores, placed at the alignment tract's score tensor would give them.
    scores: AlignedScratch,
}

impl Scratch {
    fn new(n: usize, d: usize) -> TractResult<Scratch> {
        Ok(Scratch {
            q: vec![0.0; n.next_multiple_of(ROWS) * d],
            k_t: vec![0.0; d * n.next_multiple_of(COLS)],
            v: vec![0.0; n * d.next_multiple_of(COLS)],
            scores: AlignedScratch::new(n * n)?,
        })
    }
}

impl WindowAttention {
    /// Every head of window `w`, into `out` (`[tokens, heads, head_dim]`).
    fn window(
        &self,
        w: usize,
        qkv: &[f32],
        bias: &[f32],
        out: &mut [f32],
        scratch: &mut Scratch,
        softmax: &RowSoftmax,
    ) -> TractResult<()> {
        let (n, h, d) = (self.tokens, self.heads, self.head_dim);
        let (n_cols, d_cols) = (n.next_multiple_of(COLS), d.next_multiple_of(COLS));
        let token_stride = h * 3 * d;
        let window = &qkv[w * n * token_stride..][..n * token_stride];
        for head in 0..h {
            for t in 0..n {
                let row = &window[t * token_stride + head * 3 * d..][..3 * d];
                let block = &mut scratch.q[(t / ROWS) * d * ROWS..][..d * ROWS];
                for (c, q) in row[..d].iter().enumerate() {
                    block[c * ROWS + t % ROWS] = *q;
                }
                for c in 0..d {
                    scratch.k_t[c * n_cols + t] = row[d + c];
                }
                scratch.v[t * d_cols..][..d].copy_from_slice(&row[2 * d..]);
            }
            // Where tract's [windows, heads, tokens, tokens] tensor holds this head's scores.
            let tract_offset = (w * h + head) * n * n;
            let scores = scratch.scores.slice_like(tract_offset, n * n)?;
            let head_bias = &bias[head * n * n..][..n * n];
            scores_into(
                &scratch.q,
                &scratch.k_t,
                head_bias,
                scores,
                n,
                d,
                self.scale(),
            );
            softmax.rows(scores)?;
            weighted_sum(scores, &scratch.v, out, n, d, h, head);
        }
        Ok(())
    }
}

fma_dispatch! {
    /// `scores[i][j] = (sum_c q[i][c] k[j][c]) * scale + bias[i][j]`, each sum in `c` order.
    fn scores_into => scores_into_generic(
        q: &[f32], k_t: &[f32], bias: &[f32], scores: &mut [f32], n: usize, d: usize, scale: f32,
    )
}

#[inline(always)]
fn scores_into_generic<const FMA: bool>(
    q: &[f32],
    k_t: &[f32],
    bias: &[f32],
    scores: &mut [f32],
    n: usize,
    d: usize,
    scale: f32,
) {
    let n_cols = n.next_multiple_of(COLS);
    assert!(q.len() >= n.div_ceil(ROWS) * ROWS * d && k_t.len() >= d * n_cols);
    assert!(bias.len() >= n * n && scores.len() >= n * n);
    for i0 in (0..n).step_by(ROWS) {
        let q_block = &q[(i0 / ROWS) * d * ROWS..][..d * ROWS];
        for j0 in (0..n).step_by(COLS) {
            let mut acc = [[0f32; COLS]; ROWS];
            for (q, k_row) in q_block.chunks_exact(ROWS).zip(k_t.chunks_exact(n_cols)) {
                let q: &[f32; ROWS] = q.try_into().unwrap();
                let k: &[f32; COLS] = k_row[j0..j0 + COLS].try_into().unwrap();
                for (acc, q) in acc.iter_mut().zip(q) {
                    for (a, k) in acc.iter_mut().zip(k) {
                        *a = madd::<FMA>(*q, *k, *a);
                    }
                }
            }
            let width = COLS.min(n - j0);
            for (r, acc) in acc.iter().enumerate().take(n - i0) {
                let i = i0 + r;
                let row = &mut scores[i * n + j0..][..width];
                let row_bias = &bias[i * n + j0..][..width];
                for ((s, a), b) in row.iter_mut().zip(acc).zip(row_bias) {
                    // Two roundings, as tract: the scale in the product's epilogue, then the
                    // bias as its own op.
                    *s = *a * scale + *b;
                }
            }
        }
    }
}

fma_dispatch! {
    /// `out[i][head][c] = sum_j p[i][j] v[j][c]`, each sum in `j` order.
    fn weighted_sum => weighted_sum_generic(
        p: &[f32], v: &[f32], out: &mut [f32], n: usize, d: usize, heads: usize, head: usize,
    )
}

#[inline(always)]
fn weighted_sum_generic<const FMA: bool>(
    p: &[f32],
    v: &[f32],
    out: &mut [f32],
    n: usize,
    d: usize,
    heads: usize,
    head: usize,
) {
    let d_cols = d.next_multiple_of(COLS);
    assert!(p.len() >= n * n && v.len() >= n * d_cols);
    for i0 in (0..n).step_by(ROWS) {
        // Rows past the end repeat the last one; they are computed and not stored.
        let rows: [&[f32]; ROWS] = std::array::from_fn(|r| &p[(i0 + r).min(n - 1) * n..][..n]);
        for c0 in (0..d).step_by(COLS) {
            let mut acc = [[0f32; COLS]; ROWS];
            for (j, v_row) in v.chunks_exact(d_cols).take(n).enumerate() {
                let v: &[f32; COLS] = v_row[c0..c0 + COLS].try_into().unwrap();
                // SAFETY: j < n and every row holds n values.
                let p: [f32; ROWS] = std::array::from_fn(|r| unsafe { *rows[r].get_unchecked(j) });
                for (acc, p) in acc.iter_mut().zip(&p) {
                    for (a, v) in acc.iter_mut().zip(v) {
                        *a = madd::<FMA>(*p, *v, *a);
                    }
                }
            }
            let width = COLS.min(d - c0);
            for (r, acc) in acc.iter().enumerate().take(n - i0) {
                let i = i0 + r;
                out[(i * heads + head) * d + c0..][..width].copy_from_slice(&acc[..width]);
            }
        }
    }
}

/// tract's f32 softmax over rows of `len`, with the routine tract's `Softmax` picks for them.
enum RowSoftmax {
    /// Whole rows at once (tract's choice when `len` is a multiple of 4 and the machine has it).
    Rows(SoftmaxRowsF32, usize),
    /// Max, then exp and sum, then scale, per row.
    PerRow {
        len: usize,
        max: Box<dyn Reduce<f32>>,
        exp_sum: Box<dyn MapReduce<f32, f32>>,
        scale: Box<dyn ElementWise<f32, f32>>,
    },
}

impl RowSoftmax {
    fn new(len: usize) -> TractResult<RowSoftmax> {
        if len.is_multiple_of(4) {
            if let Some(kernel) = softmax_rows_f32() {
                return Ok(RowSoftmax::Rows(kernel, len));
            }
        }
        Ok(RowSoftmax::PerRow {
            len,
            max: Func::ReduceMax.reduce_f32()?,
            exp_sum: Func::Softmax2.map_reduce_f32()?,
            scale: Func::MulByScalar.ew_f32_param()?,
        })
    }

    fn rows(&self, rows: &mut [f32]) -> TractResult<()> {
        match self {
            RowSoftmax::Rows(kernel, len) => kernel(rows, *len),
            RowSoftmax::PerRow {
                len,
                max,
                exp_sum,
                scale,
            } => {
                for row in rows.chunks_mut(*len) {
                    let max = max.run(row)?;
                    let sum = exp_sum.run_with_params(row, max)?;
                    scale.run_with_params(row, sum.recip())?;
                }
            }
        }
        Ok(())
    }
}

/// Whether `node` is a binary op of kind `B`.
fn is_bin<B: tract_onnx::tract_core::ops::binary::BinMiniOp>(node: &TypedNode) -> bool {
    node.op_as::<TypedBinOp>().is_some_and(|op| op.0.is::<B>())
}

/// An f32 `EinSum` with this expression.
fn is_einsum(node: &TypedNode, expression: &str) -> bool {
    node.op_as::<EinSum>().is_some_and(|op| {
        op.q_params.is_none()
            && op.operating_dt == f32::datum_type()
            && op.axes.to_string() == expression
    })
}

/// `(axis, start, end)` of a Slice node.
fn slice_range(node: &TypedNode) -> Option<(usize, usize, usize)> {
    let op = node.op_as::<Slice>()?;
    Some((op.axis, op.start.to_usize().ok()?, op.end.to_usize().ok()?))
}

/// The patch that replaces the attention subgraph ending at `softmax`, if it is one.
pub(super) fn patch(
    model: &TypedModel,
    softmax: &TypedNode,
) -> TractResult<Option<TypedModelPatch>> {
    let Some(op) = softmax.op_as::<Softmax>() else {
        return Ok(None);
    };
    if op.kind != SoftmaxKind::Softmax || op.quant_output_dt.is_some() || op.axes.as_slice() != [3]
    {
        return Ok(None);
    }
    if !only_feeds_one(model, softmax) {
        return Ok(None);
    }
    let next = softmax.outputs[0].successors[0];
    let weighted = model.node(next.node);
    if next.slot != 0 || !is_einsum(weighted, "abmk,akbn->ambn") {
        return Ok(None);
    }
    // scores + bias
    let Some(add) = input_node(model, softmax, 0) else {
        return Ok(None);
    };
    if !is_bin::<Add>(add) || !only_feeds_one(model, add) || add.inputs.len() != 2 {
        return Ok(None);
    }
    let Some(bias_slot) = (0..2).find(|&i| konst(model, add.inputs[i]).is_some()) else {
        return Ok(None);
    };
    let bias_outlet = add.inputs[bias_slot];
    let scaled = model.node(add.inputs[1 - bias_slot].node);
    // products * scale
    if !is_bin::<Mul>(scaled) || !only_feeds_one(model, scaled) || scaled.inputs.len() != 2 {
        return Ok(None);
    }
    let Some(scale_slot) = (0..2).find(|&i| konst(model, scaled.inputs[i]).is_some()) else {
        return Ok(None);
    };
    let Some(scale) = konst(model, scaled.inputs[scale_slot]) else {
        return Ok(None);
    };
    if scale.len() != 1 || scale.datum_type() != f32::datum_type() {
        return Ok(None);
    }
    let scale = f32s(&scale)?[0];
    let products = model.node(scaled.inputs[1 - scale_slot].node);
    if !is_einsum(products, "ambk,anbk->abmn") || !only_feeds_one(model, products) {
        return Ok(None);
    }
    // q, k and v: three slices of one qkv tensor along its last axis.
    let slices = [
        input_node(model, products, 0),
        input_node(model, products, 1),
        input_node(model, weighted, 1),
    ];
    let [Some(q), Some(k), Some(v)] = slices else {
        return Ok(None);
    };
    let qkv = q.inputs[0];
    let Some(shape) = shape_of(model, qkv) else {
        return Ok(None);
    };
    let &[_windows, tokens, heads, three_d] = shape.as_slice() else {
        return Ok(None);
    };
    if !three_d.is_multiple_of(3) || !is_f32(model, qkv) || tokens == 0 || three_d == 0 {
        return Ok(None);
    }
    let d = three_d / 3;
    for (slice, start) in [(q, 0), (k, d), (v, 2 * d)] {
        if slice.inputs.first() != Some(&qkv)
            || slice_range(slice) != Some((3, start, start + d))
            || !only_feeds_one(model, slice)
        {
            return Ok(None);
        }
    }
    let Some(bias_shape) = shape_of(model, bias_outlet) else {
        return Ok(None);
    };
    let bias_ok = matches!(bias_shape.as_slice(), [1, bh, bn, bm] | [bh, bn, bm]
        if *bh == heads && *bn == tokens && *bm == tokens);
    if !bias_ok || !is_f32(model, bias_outlet) {
        return Ok(None);
    }
    let op = WindowAttention {
        heads,
        tokens,
        head_dim: d,
        scale_bits: scale.to_bits(),
    };
    let mut patch = TypedModelPatch::new(format!("window attention at {}", softmax.name));
    let taps = patch.taps(model, &[qkv, bias_outlet])?;
    let name = format!("{}.window_attention", weighted.name);
    let out = patch.wire_node(name, op, &taps)?;
    patch.shunt_outside(model, OutletId::new(weighted.id, 0), out[0])?;
    Ok(Some(patch))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::rewrite;
    use crate::ops::testing::{differing_bits, run_optimized};
    use tract_onnx::tract_core::ops::nn::Softmax;

    /// tract's attention subgraph, as the decluttered encoder has it, over random values.
    fn attention_model(windows: usize, n: usize, h: usize, d: usize) -> TypedModel {
        let mut model = TypedModel::default();
        let qkv = model
            .add_source("qkv", f32::fact([windows, n, h, 3 * d]))
            .unwrap();
        let slice = |model: &mut TypedModel, name: &str, start: usize| {
            model
                .wire_node(name, Slice::new(3, start, start + d), &[qkv])
                .unwrap()[0]
        };
        let q = slice(&mut model, "q", 0);
        let k = slice(&mut model, "k", d);
        let v = slice(&mut model, "v", 2 * d);
        let products = model
            .wire_node(
                "qk",
                EinSum::new("ambk,anbk->abmn".parse().unwrap(), f32::datum_type()),
                &[q, k],
            )
            .unwrap();
        let scale = model
            .add_const("scale", tensor4(&[[[[1.0f32 / (d as f32).sqrt()]]]]))
            .unwrap();
        let scaled = model
            .wire_node(
                "scaled",
                tract_onnx::tract_core::ops::math::mul(),
                &[products[0], scale],
            )
            .unwrap();
        let bias: Vec<f32> = (0..h * n * n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0)
            .collect();
        let bias = model
            .add_const("bias", Tensor::from_shape(&[1, h, n, n], &bias).unwrap())
            .unwrap();
        let biased = model
            .wire_node(
                "biased",
                tract_onnx::tract_core::ops::math::add(),
                &[scaled[0], bias],
            )
            .unwrap();
        let softmax = model
            .wire_node(
                "softmax",
                Softmax::new(tvec!(3), None, SoftmaxKind::Softmax),
                &biased,
            )
            .unwrap();
        let out = model
            .wire_node(
                "weighted",
                EinSum::new("abmk,akbn->ambn".parse().unwrap(), f32::datum_type()),
                &[softmax[0], v],
            )
            .unwrap();
        model.select_output_outlets(&out).unwrap();
        model.into_decluttered().unwrap()
    }

    fn random(len: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
            })
            .collect()
    }

    /// The rewrite replaces the subgraph, and the result is tract's, bit for bit, at the three
    /// shapes of the LiteMedSAM encoder's stages (49 and 196 tokens, 4, 5 and 10 heads).
    #[test]
    fn the_operator_gives_tracts_bits() {
        for (windows, n, h, d) in [
            (7, 49, 4, 32),
            (3, 196, 5, 32),
            (5, 49, 10, 32),
            (2, 9, 3, 5),
        ] {
            let original = attention_model(windows, n, h, d);
            let mut rewritten = original.clone();
            let rewrites = rewrite(&mut rewritten).unwrap();
            assert_eq!(rewrites.attention, 1, "{n} tokens, {h} heads");
            assert!(rewritten
                .nodes()
                .iter()
                .all(|node| node.op_as::<Softmax>().is_none()));
            let input = Tensor::from_shape(
                &[windows, n, h, 3 * d],
                &random(windows * n * h * 3 * d, n as u64),
            )
            .unwrap();
            let expected = run_optimized(original, &input);
            let got = run_optimized(rewritten, &input);
            assert_eq!(
                differing_bits(&expected, &got),
                0,
                "{n} tokens, {h} heads: values differ from tract's"
            );
        }
    }

    /// A softmax over another axis is not window attention: left alone.
    #[test]
    fn other_graphs_are_left_alone() {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([2, 3, 4, 5])).unwrap();
        let s = model
            .wire_node(
                "softmax",
                Softmax::new(tvec!(2), None, SoftmaxKind::Softmax),
                &[x],
            )
            .unwrap();
        model.select_output_outlets(&s).unwrap();
        assert_eq!(rewrite(&mut model).unwrap().attention, 0);
    }
}
