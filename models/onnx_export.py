"""ONNX export and its parity check, shared by every step that writes a daftseg ONNX file
(export.py: the general pair; import_model.py: your own checkpoint; finetune.py export: a modality
decoder; distill.py: the student encoder): the TorchScript exporter's settings, fp16 weight
storage, short node names, onnxruntime against PyTorch, and `write_pair`, which exports a
LiteMedSAM network as an encoder and decoder (or a decoder patch) after that check.
"""
from __future__ import annotations

import hashlib
import io

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

from . import litemedsam as ref
from . import patch as patch_tool
from .common import CACHE, MODELS, general_entry, read_manifest

OPSET = 17


# The decoder's inputs and their symbolic point count.
DECODER_INPUTS = ["embedding", "points", "labels"]
DECODER_AXES = {"points": {1: "N"}, "labels": {1: "N"}}


def export_graph(module, args, input_names, output_names, dynamic_axes=None) -> onnx.ModelProto:
    buffer = io.BytesIO()
    torch.onnx.export(
        module,
        args,
        buffer,
        opset_version=OPSET,
        dynamo=False,
        input_names=input_names,
        output_names=output_names,
        dynamic_axes=dynamic_axes,
        do_constant_folding=True,
        # PRESERVE keeps BatchNormalization as its own node: folding it into the convolutions
        # would create weights that are no longer the fp16-rounded ones of the reference.
        training=torch.onnx.TrainingMode.PRESERVE,
    )
    return onnx.load_from_string(buffer.getvalue())


def shorten_names(model: onnx.ModelProto) -> onnx.ModelProto:
    """Nodes named n0, n1, ... and intermediate values v0, v1, ... (graph inputs, outputs and
    initializers keep theirs: patches match initializers by name). The decoder's symbolic point
    count brings 400 shape-bookkeeping nodes whose long exporter names (/mask_decoder/...) took
    190 KB of the file; nothing reads them."""
    graph = model.graph
    keep = {i.name for i in graph.input} | {o.name for o in graph.output} | {i.name for i in graph.initializer}
    renamed: dict[str, str] = {}
    for i, node in enumerate(graph.node):
        node.name = f"n{i}"
        for j, name in enumerate(node.output):
            if name and name not in keep:
                renamed[name] = f"v{len(renamed)}"
                node.output[j] = renamed[name]
    for node in graph.node:
        for j, name in enumerate(node.input):
            if name in renamed:
                node.input[j] = renamed[name]
    return model


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


FULL_DECODERS = CACHE / "decoders"


def write_pair(net: torch.nn.Module, model_id: str, decoder_only: bool) -> dict:
    """Exports and checks the ONNX files; returns the manifest's encoder and decoder references."""
    manifest = read_manifest()
    general = general_entry(manifest)
    out = MODELS / model_id
    out.mkdir(exist_ok=True)
    torch.manual_seed(0)
    image = torch.rand(1, 3, 256, 256)
    # The decoder takes points (models/export.py): a box is its two corners; one click with it.
    points = torch.tensor([[[100.0, 120.0], [40.0, 60.0], [180.0, 200.0]]])
    labels = torch.tensor([[1.0, 2.0, 3.0]])
    encoder, decoder = ref.Encoder(net).eval(), ref.PointDecoder(net, fp16_constants=True).eval()
    with torch.no_grad():
        embedding = encoder(image)
        logits, _ = decoder(embedding, points, labels)
    files = {}
    if decoder_only:
        files["encoder"] = general["encoder"]
    else:
        data = store_weights_as_fp16(export_graph(encoder, (image,), ["image"], ["embedding"])).SerializeToString(deterministic=True)
        digest = hashlib.sha256(data).hexdigest()
        shared = next((m["encoder"] for m in manifest["models"] if m["encoder"]["sha256"] == digest), None)
        if shared:
            files["encoder"] = shared
        else:
            (out / "encoder.onnx").write_bytes(data)
            files["encoder"] = {"file": f"{model_id}/encoder.onnx", "sha256": digest, "bytes": len(data)}
        (ort_embedding,) = run_onnx((MODELS / files["encoder"]["file"]).read_bytes(), {"image": image.numpy()})
        check_parity("encoder", ort_embedding, embedding.numpy())
    data = shorten_names(store_weights_as_fp16(export_graph(decoder, (embedding, points, labels), DECODER_INPUTS, ["low_res_logits", "iou"], DECODER_AXES))).SerializeToString(deterministic=True)
    ort_logits = run_onnx(data, {"embedding": embedding.numpy(), "points": points.numpy(), "labels": labels.numpy()})[0]
    check_parity("decoder", ort_logits, logits.numpy(), masks=True)
    base = MODELS / general["decoder"]["file"]
    if files["encoder"] == general["encoder"] and hashlib.sha256(data).hexdigest() == general["decoder"]["sha256"]:
        files["decoder"] = general["decoder"]  # LiteMedSAM itself: nothing to ship
    elif files["encoder"] == general["encoder"]:
        # Only the tensors that differ from the general decoder ship (models/patch.py); the full
        # file is kept out of the tree, for fixtures and inspection.
        patch, changed = patch_tool.make(base.read_bytes(), data)
        if patch_tool.apply(base.read_bytes(), patch) != data:
            raise SystemExit("the patch does not rebuild the exported decoder byte for byte")
        FULL_DECODERS.mkdir(parents=True, exist_ok=True)
        (FULL_DECODERS / f"{model_id}.onnx").write_bytes(data)
        (out / "decoder.onnx").unlink(missing_ok=True)
        (out / "decoder.patch.onnx").write_bytes(patch)
        files["decoder"] = general["decoder"]
        files["decoder_patch"] = {"file": f"{model_id}/decoder.patch.onnx", "sha256": hashlib.sha256(patch).hexdigest(), "bytes": len(patch)}
        print(f"{model_id}: patch of {len(changed)} tensors, {len(patch)} bytes (the full decoder: {len(data)})")
    else:
        (out / "decoder.onnx").write_bytes(data)
        files["decoder"] = {"file": f"{model_id}/decoder.onnx", "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    return files
