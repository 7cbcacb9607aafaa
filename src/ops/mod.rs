//! Our own tract operators for what tract runs slowly in the LiteMedSAM encoder (TinyViT), and
//! the rewrite pass that puts them into the decluttered model before tract optimises it.
//!
//! The per-operator profile (`daftseg bench --profile`, docs/BENCHMARKS.md) chose them: tract
//! runs window attention as a batch loop of small products, one window and head at a time on
//! one thread, with a separate pass for the attention bias over 40 million scores; and the
//! depthwise convolutions of the first stage, with their batch norm and GELU, as four passes
//! over 64 MiB tensors. Each operator here does one such subgraph in one pass, parallel over
//! windows or channels on tract's executor.
//!
//! **Same results, bit for bit.** Each operator repeats tract's arithmetic in tract's order:
//! the products accumulate over the same axis in the same order, with a fused multiply-add
//! exactly where tract's kernels use one (x86 with FMA) and a multiply then an add where they
//! do not (WebAssembly), and softmax and erf are tract-linalg's own routines. The tests compare
//! each rewritten subgraph with tract's, bit for bit, and tests/golden.rs keeps every golden
//! case unchanged.
//!
//! Every pattern is matched exactly (operator kinds, axes, shapes, constants); a model whose
//! graph differs (another encoder) is left as it is.

mod attention;
mod depthwise;
mod gelu;
mod kernels;
mod layer_norm;
#[cfg(test)]
mod testing;

use std::sync::atomic::{AtomicBool, Ordering};

use tract_onnx::prelude::*;

pub use attention::WindowAttention;
pub use depthwise::FusedDepthwise;
pub use layer_norm::LayerNorm;

/// How many subgraphs the rewrite replaced, per operator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rewrites {
    /// Window attention subgraphs ([`WindowAttention`]).
    pub attention: usize,
    /// Depthwise convolutions with their batch norm and GELUs ([`FusedDepthwise`]).
    pub depthwise: usize,
    /// Layer norms over the last axis ([`LayerNorm`]).
    pub layer_norm: usize,
}

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Whether models loaded from now on get our operators (on unless turned off): off, they run
/// tract's own operators only, for benchmarks that compare the two (`daftseg --plain-tract`).
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// See [`set_enabled`].
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Replaces every subgraph of a decluttered model that one of our operators does.
pub fn rewrite(model: &mut TypedModel) -> TractResult<Rewrites> {
    let rewrites = Rewrites {
        attention: apply_all(model, attention::patch)?,
        depthwise: apply_all(model, depthwise::patch)?,
        layer_norm: apply_all(model, layer_norm::patch)?,
    };
    model.compact()?;
    Ok(rewrites)
}

/// Applies `find`'s patch at every node where it matches, one at a time (a patch leaves the
/// nodes it replaced without successors, so they no longer match).
fn apply_all(
    model: &mut TypedModel,
    find: fn(&TypedModel, &TypedNode) -> TractResult<Option<TypedModelPatch>>,
) -> TractResult<usize> {
    let mut count = 0;
    loop {
        let mut found = None;
        for id in model.eval_order()? {
            let node = model.node(id);
            if let Some(patch) = find(model, node)? {
                found = Some(patch);
                break;
            }
        }
        match found {
            Some(patch) => {
                patch.apply(model)?;
                count += 1;
            }
            None => return Ok(count),
        }
    }
}

/// The node feeding input `slot` of `node`.
fn input_node<'m>(model: &'m TypedModel, node: &TypedNode, slot: usize) -> Option<&'m TypedNode> {
    node.inputs.get(slot).map(|outlet| model.node(outlet.node))
}

/// The constant value of an outlet, if it has one.
fn konst(model: &TypedModel, outlet: OutletId) -> Option<Arc<Tensor>> {
    model.outlet_fact(outlet).ok()?.konst.clone()
}

/// Whether `node` has exactly one output, used by exactly one input of one node, and is not a
/// model output: a node the pattern may swallow.
fn only_feeds_one(model: &TypedModel, node: &TypedNode) -> bool {
    node.outputs.len() == 1
        && node.outputs[0].successors.len() == 1
        && !model
            .output_outlets()
            .map(|outputs| outputs.contains(&OutletId::new(node.id, 0)))
            .unwrap_or(true)
}

/// The concrete shape of an outlet (None when symbolic).
fn shape_of(model: &TypedModel, outlet: OutletId) -> Option<TVec<usize>> {
    model
        .outlet_fact(outlet)
        .ok()?
        .shape
        .as_concrete()
        .map(|s| s.into())
}

/// Whether the outlet holds f32.
fn is_f32(model: &TypedModel, outlet: OutletId) -> bool {
    model
        .outlet_fact(outlet)
        .map(|f| f.datum_type == f32::datum_type())
        .unwrap_or(false)
}
