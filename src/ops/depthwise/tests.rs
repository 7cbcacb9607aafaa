//! The fused operator against tract's own subgraph, bit for bit, in both layouts.

use super::*;
use crate::ops::rewrite;
use crate::ops::testing::{differing_bits, run_optimized};
use tract_onnx::tract_core::ops::cnn::PoolSpec;
use tract_onnx::tract_core::ops::math;
use tract_onnx::tract_core::ops::nn::gelu_exact::gelu_exact;

fn values(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let x = (i as u32).wrapping_mul(2654435761).wrapping_add(seed * 97) % 2001;
            x as f32 / 500.0 - 2.0
        })
        .collect()
}

/// The data's shape in a layout.
fn shape(layout: Layout, c: usize, h: usize, w: usize) -> [usize; 3] {
    match layout {
        Layout::Planar => [c, h, w],
        Layout::ChannelsLast => [h, w, c],
    }
}

/// `[gelu] -> conv dw 3x3 -> * slope -> + shift -> [gelu]`, as tract declutters TinyViT's
/// (channels first natively, channels last in WebAssembly).
fn block(
    layout: Layout,
    c: usize,
    h: usize,
    w: usize,
    stride: usize,
    gelus: (bool, bool),
) -> TypedModel {
    let mut model = TypedModel::default();
    let mut x = model
        .add_source("x", f32::fact(shape(layout, c, h, w)))
        .unwrap();
    if gelus.0 {
        x = model.wire_node("gelu_in", gelu_exact(), &[x]).unwrap()[0];
    }
    let kernel = model
        .add_const(
            "k",
            Tensor::from_shape(&[c, 1, 3, 3], &values(c * 9, 1)).unwrap(),
        )
        .unwrap();
    let bias = model.add_const("b", tensor0(0f32)).unwrap();
    let spec = PoolSpec {
        data_format: match layout {
            Layout::Planar => DataFormat::CHW,
            Layout::ChannelsLast => DataFormat::HWC,
        },
        kernel_shape: tvec!(3, 3),
        padding: PaddingSpec::Explicit(tvec!(1, 1), tvec!(1, 1)),
        dilations: Some(tvec!(1, 1)),
        strides: Some(tvec!(stride, stride)),
        input_channels: c,
        output_channels: c,
    };
    let conv = Conv {
        pool_spec: spec,
        kernel_fmt: KernelFormat::OIHW,
        group: c,
        q_params: None,
    };
    let y = model.wire_node("conv", conv, &[x, kernel, bias]).unwrap();
    let per_channel: &[usize] = match layout {
        Layout::Planar => &[c, 1, 1],
        Layout::ChannelsLast => &[1, 1, c],
    };
    let slope = model
        .add_const(
            "slope",
            Tensor::from_shape(per_channel, &values(c, 2)).unwrap(),
        )
        .unwrap();
    let y = model
        .wire_node("bn.mul", math::mul(), &[y[0], slope])
        .unwrap();
    let shift = model
        .add_const(
            "shift",
            Tensor::from_shape(per_channel, &values(c, 3)).unwrap(),
        )
        .unwrap();
    let mut y = model
        .wire_node("bn.add", math::add(), &[y[0], shift])
        .unwrap();
    if gelus.1 {
        y = model.wire_node("gelu_out", gelu_exact(), &y).unwrap();
    }
    model.select_output_outlets(&y).unwrap();
    model
}

#[test]
fn the_operator_gives_tracts_bits() {
    for (c, h, w, stride, gelus) in [
        (8, 20, 24, 1, (true, true)),
        (6, 17, 19, 2, (true, true)),
        (5, 16, 16, 2, (false, false)),
        (4, 9, 7, 1, (false, true)),
        (3, 2, 2, 1, (true, false)),
        (2, 6, 75, 1, (true, true)),
        (2, 7, 81, 2, (false, true)),
        (2, 5, 80, 2, (true, false)),
        (48, 9, 11, 1, (true, true)),
        (40, 10, 9, 2, (true, true)),
    ] {
        for layout in [Layout::Planar, Layout::ChannelsLast] {
            one_case(layout, c, h, w, stride, gelus);
        }
    }
}

fn one_case(layout: Layout, c: usize, h: usize, w: usize, stride: usize, gelus: (bool, bool)) {
    let original = block(layout, c, h, w, stride, gelus);
    let mut rewritten = original.clone();
    assert_eq!(rewrite(&mut rewritten).unwrap().depthwise, 1);
    assert!(rewritten
        .nodes()
        .iter()
        .all(|n| n.op_as::<Conv>().is_none() && !is_gelu(n)));
    let input = Tensor::from_shape(&shape(layout, c, h, w), &values(c * h * w, 4)).unwrap();
    let expected = run_optimized(original, &input);
    let got = run_optimized(rewritten, &input);
    assert_eq!(expected.len(), got.len());
    assert_eq!(
        differing_bits(&expected, &got),
        0,
        "{layout:?} {c}x{h}x{w} stride {stride} {gelus:?}"
    );
}

#[test]
fn a_gelu_read_elsewhere_stays() {
    let mut model = block(Layout::Planar, 4, 8, 8, 1, (true, false));
    // A second reader of the first GELU's output.
    let gelu = model.node_id_by_name("gelu_in").unwrap();
    let extra = model
        .wire_node(
            "extra",
            math::add(),
            &[OutletId::new(gelu, 0), OutletId::new(gelu, 0)],
        )
        .unwrap();
    let mut outputs = model.output_outlets().unwrap().to_vec();
    outputs.push(extra[0]);
    model.select_output_outlets(&outputs).unwrap();
    assert_eq!(rewrite(&mut model).unwrap().depthwise, 1);
    assert!(model.nodes().iter().any(is_gelu));
}
