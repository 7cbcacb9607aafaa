//! A 3x3 depthwise convolution with its batch norm, and the GELUs on either side of it, as one
//! pass.
//!
//! TinyViT's MBConv blocks and patch merging run `GELU -> depthwise 3x3 -> BatchNorm -> GELU`
//! on 64 MiB tensors in the first stage; its transformer blocks run `depthwise 3x3 ->
//! BatchNorm`. tract makes four passes over memory for the first (each GELU, the convolution,
//! the batch norm); here the input is read once, convolved while it is in cache and written
//! once. tract lays the first stage out channels first natively and channels last in
//! WebAssembly (its declutter picks the layout its kernels prefer), so there are two kernels:
//! [`planar`] (`[C, H, W]`, one channel plane per task) and [`channels_last`] (`[H, W, C]`, one
//! band of rows per task). The arithmetic is tract's, in tract's order: each output starts from
//! the convolution's bias and adds `tap * input` (a multiply, then an add) for the taps inside
//! the image in kernel order; then `* slope`, then `+ shift`; each GELU is tract's
//! ([`super::gelu`]).

mod channels_last;
mod planar;
#[cfg(test)]
mod tests;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::binary::{BinMiniOp, TypedBinOp};
use tract_onnx::tract_core::ops::cnn::conv::{Conv, KernelFormat};
use tract_onnx::tract_core::ops::cnn::PaddingSpec;
use tract_onnx::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_core::ops::math::{Add, Mul};
use tract_onnx::tract_core::ops::nn::{DataFormat, GeluExact};

use super::kernels::{f32s, f32s_mut};
use super::{input_node, is_f32, konst, only_feeds_one, shape_of};

/// How the data is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Layout {
    /// `[C, H, W]` or `[1, C, H, W]`.
    Planar,
    /// `[H, W, C]` or `[1, H, W, C]`.
    ChannelsLast,
}

/// `gelu_out?((conv3x3(gelu_in?(x)) + bias) * slope + shift)` per channel, padding 1, stride 1
/// or 2. Inputs: the data, the kernel `[C, 9]`, the bias, slope and shift `[C]` each.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FusedDepthwise {
    layout: Layout,
    stride: usize,
    gelu_in: bool,
    gelu_out: bool,
}

/// What both kernels need of one evaluation.
struct Job<'a> {
    data: &'a [f32],
    /// Channels, input rows, input columns.
    c: usize,
    h: usize,
    w: usize,
    /// Output rows and columns.
    ho: usize,
    wo: usize,
    stride: usize,
    kernel: &'a [f32],
    bias: &'a [f32],
    slope: &'a [f32],
    shift: &'a [f32],
    gelu_in: bool,
    gelu_out: bool,
}

impl Op for FusedDepthwise {
    fn name(&self) -> StaticName {
        "FusedDepthwise".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "3x3, {:?}, stride {}, GELU before: {}, after: {}",
            self.layout, self.stride, self.gelu_in, self.gelu_out
        )])
    }

    op_as_typed_op!();
}

/// The output side for an input side, padding 1 on both ends.
fn output_side(input: usize, stride: usize) -> usize {
    (input + 2 - 3) / stride + 1
}

/// The axes of rows and columns, and of channels, in a rank-3 or rank-4 shape.
fn axes(layout: Layout, rank: usize) -> ([usize; 2], usize) {
    match layout {
        Layout::Planar => ([rank - 2, rank - 1], rank - 3),
        Layout::ChannelsLast => ([rank - 3, rank - 2], rank - 1),
    }
}

impl EvalOp for FusedDepthwise {
    op_out_of_plan!();

    fn eval(&self, _context: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (data, kernel, bias, slope, shift) = args_5!(inputs);
        let rank = data.rank();
        ensure!(rank == 3 || (rank == 4 && data.shape()[0] == 1));
        let ([row_axis, column_axis], channel_axis) = axes(self.layout, rank);
        let (c, h, w) = (
            data.shape()[channel_axis],
            data.shape()[row_axis],
            data.shape()[column_axis],
        );
        ensure!(
            h >= 2 && w >= 2,
            "FusedDepthwise wants a plane of at least 2x2"
        );
        ensure!(kernel.len() == 9 * c && bias.len() == c && slope.len() == c && shift.len() == c);
        let (ho, wo) = (output_side(h, self.stride), output_side(w, self.stride));
        let mut shape: TVec<usize> = data.shape().into();
        shape[row_axis] = ho;
        shape[column_axis] = wo;
        let mut output = unsafe { Tensor::uninitialized::<f32>(&shape)? };
        let job = Job {
            data: f32s(&data)?,
            c,
            h,
            w,
            ho,
            wo,
            stride: self.stride,
            kernel: f32s(&kernel)?,
            bias: f32s(&bias)?,
            slope: f32s(&slope)?,
            shift: f32s(&shift)?,
            gelu_in: self.gelu_in,
            gelu_out: self.gelu_out,
        };
        let out = f32s_mut(&mut output)?;
        match self.layout {
            Layout::Planar => planar::run(&job, out)?,
            Layout::ChannelsLast => channels_last::run(&job, out)?,
        }
        Ok(tvec!(output.into_tvalue()))
    }
}

impl TypedOp for FusedDepthwise {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let data = inputs[0];
        let rank = data.rank();
        ensure!(rank == 3 || rank == 4);
        let mut shape = data.shape.to_tvec();
        for axis in axes(self.layout, rank).0 {
            let side = shape[axis].to_usize()?;
            shape[axis] = output_side(side, self.stride).to_dim();
        }
        Ok(tvec!(f32::fact(&shape)))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let facts = self.output_facts(inputs)?;
        Ok(tvec!((
            Cost::FMA(f32::datum_type()),
            facts[0].shape.volume() * 9
        )))
    }

    as_op!();
}

/// The node, when it is tract's exact GELU.
fn is_gelu(node: &TypedNode) -> bool {
    node.op_as::<ElementWiseOp>()
        .is_some_and(|op| op.0.is::<GeluExact>() && op.1.is_none())
}

/// The per-channel constant of a binary op node `B` (one value per channel, broadcast along
/// every other axis of the data, whatever its rank), when it has one.
fn channel_const<B: BinMiniOp>(
    model: &TypedModel,
    node: &TypedNode,
    channels: usize,
    data_rank: usize,
    channel_axis: usize,
) -> Option<Arc<Tensor>> {
    let op = node.op_as::<TypedBinOp>()?;
    if !op.0.is::<B>() || node.inputs.len() != 2 {
        return None;
    }
    let slot = (0..2).find(|&i| konst(model, node.inputs[i]).is_some())?;
    let value = konst(model, node.inputs[slot])?;
    let shape = value.shape();
    if value.len() != channels || value.datum_type() != f32::datum_type() || shape.len() > data_rank
    {
        return None;
    }
    // Right-aligned against the data's shape, only the channel axis may be more than 1.
    let offset = data_rank - shape.len();
    let per_channel = shape.iter().enumerate().all(|(i, &d)| {
        if i + offset == channel_axis {
            d == channels
        } else {
            d == 1
        }
    });
    per_channel.then_some(value)
}

/// The patch that replaces a depthwise 3x3 convolution (with its batch norm, and the GELUs
/// around it when they are there) by [`FusedDepthwise`].
pub(super) fn patch(model: &TypedModel, conv: &TypedNode) -> TractResult<Option<TypedModelPatch>> {
    let Some(op) = conv.op_as::<Conv>() else {
        return Ok(None);
    };
    let spec = &op.pool_spec;
    let channels = spec.input_channels;
    let stride = match spec.strides.as_deref() {
        None => 1,
        Some([s, t]) if s == t && (*s == 1 || *s == 2) => *s,
        _ => return Ok(None),
    };
    let layout = match spec.data_format {
        DataFormat::CHW | DataFormat::NCHW => Layout::Planar,
        DataFormat::HWC | DataFormat::NHWC => Layout::ChannelsLast,
    };
    let plain = op.q_params.is_none()
        && op.kernel_fmt == KernelFormat::OIHW
        && op.group == channels
        && spec.output_channels == channels
        && spec.kernel_shape.as_slice() == [3, 3]
        && spec.padding == PaddingSpec::Explicit(tvec!(1, 1), tvec!(1, 1))
        && spec
            .dilations
            .as_deref()
            .is_none_or(|d| d.iter().all(|&x| x == 1))
        && conv.inputs.len() == 3;
    if !plain || !only_feeds_one(model, conv) {
        return Ok(None);
    }
    let data = conv.inputs[0];
    let Some(shape) = shape_of(model, data) else {
        return Ok(None);
    };
    let rank = shape.len();
    let batched = matches!(spec.data_format, DataFormat::NCHW | DataFormat::NHWC);
    if rank != if batched { 4 } else { 3 } || (batched && shape[0] != 1) {
        return Ok(None);
    }
    let ([row_axis, column_axis], channel_axis) = axes(layout, rank);
    if shape[channel_axis] != channels || shape[row_axis] < 2 || shape[column_axis] < 2 {
        return Ok(None);
    }
    if !is_f32(model, data) {
        return Ok(None);
    }
    let (Some(kernel), Some(bias)) = (konst(model, conv.inputs[1]), konst(model, conv.inputs[2]))
    else {
        return Ok(None);
    };
    if kernel.shape() != [channels, 1, 3, 3] || kernel.datum_type() != f32::datum_type() {
        return Ok(None);
    }
    let bias = bias.cast_to::<f32>()?.into_owned();
    let bias = match bias.len() {
        1 => tensor1(&vec![f32s(&bias)?[0]; channels]),
        n if n == channels => bias.into_shape(&[channels])?,
        _ => return Ok(None),
    };
    // The batch norm: * slope, + shift.
    let times = model.node(conv.outputs[0].successors[0].node);
    let Some(slope) = channel_const::<Mul>(model, times, channels, rank, channel_axis) else {
        return Ok(None);
    };
    if !only_feeds_one(model, times) {
        return Ok(None);
    }
    let plus = model.node(times.outputs[0].successors[0].node);
    let Some(shift) = channel_const::<Add>(model, plus, channels, rank, channel_axis) else {
        return Ok(None);
    };
    // GELUs on either side, when nothing else reads the values between.
    let gelu_before = input_node(model, conv, 0)
        .filter(|node| is_gelu(node) && only_feeds_one(model, node) && node.inputs.len() == 1);
    let gelu_after = only_feeds_one(model, plus)
        .then(|| model.node(plus.outputs[0].successors[0].node))
        .filter(|node| is_gelu(node));
    let last = gelu_after.unwrap_or(plus);
    let source = gelu_before.map_or(data, |gelu| gelu.inputs[0]);

    let mut patch = TypedModelPatch::new(format!("fused depthwise at {}", conv.name));
    let input = patch.tap_model(model, source)?;
    let flat = |t: &Arc<Tensor>| -> TractResult<Tensor> { (**t).clone().into_shape(&[t.len()]) };
    let kernel = patch.add_const(
        format!("{}.taps", conv.name),
        (*kernel).clone().into_shape(&[channels, 9])?,
    )?;
    let bias = patch.add_const(format!("{}.bias", conv.name), bias)?;
    let slope = patch.add_const(format!("{}.slope", conv.name), flat(&slope)?)?;
    let shift = patch.add_const(format!("{}.shift", conv.name), flat(&shift)?)?;
    let op = FusedDepthwise {
        layout,
        stride,
        gelu_in: gelu_before.is_some(),
        gelu_out: gelu_after.is_some(),
    };
    let out = patch.wire_node(
        format!("{}.fused", conv.name),
        op,
        &[input, kernel, bias, slope, shift],
    )?;
    patch.shunt_outside(model, OutletId::new(last.id, 0), out[0])?;
    Ok(Some(patch))
}
