"""Bring your own model: a PyTorch checkpoint of a supported architecture -> daftseg's ONNX pair
(fp16 weight storage, f32 compute) and a manifest entry, after a parity check.

    models/.venv/bin/python -m models import-model CHECKPOINT --id my-ct --modalities CT \\
        [--name "My CT model"] [--role modality|candidate] [--license "CC-BY-4.0"] [--source "..."]

Supported checkpoints:
- LiteMedSAM / TinyViT (`litemedsam-tinyvit`): a full state dict as MedSAM's training writes it
  (`image_encoder.*`, `prompt_encoder.*`, `mask_decoder.*`, optionally under "model"), e.g. your own
  fine-tuning of lite_medsam.pth;
- a decoder-only checkpoint (`{"mask_decoder": state_dict}`, as models/finetune.py writes): the
  encoder stays LiteMedSAM's.
EfficientViT-SAM students (the DAFT repository's) are refused with a message: their neck code and
weights are not available here, so no parity check could be made.

An encoder whose exported bytes equal a model's already in the manifest is not written again: the
entry points at the same file, so both models share it and its cached embeddings. A model that
shares the general model's encoder ships its decoder as a patch over the general decoder
(models/patch.py: only the tensors that differ), the full file going to models/.cache/decoders/. The parity check
runs onnxruntime on the written files against PyTorch on the same (fp16-rounded) weights; the
import stops when they differ by more than 1e-3 + 1e-3 * |value|. Copy models/ with the app (`npm start` serves it)
and the model appears in the page's menu; the router sends its modalities to it when its role is
"modality".
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

from . import litemedsam as ref
from . import patch as patch_tool
from .common import CACHE, MANIFEST, MODELS, general_entry, read_manifest, update_manifest
from .export import check_parity, export_graph, run_onnx, store_weights_as_fp16



FULL_DECODERS = CACHE / "decoders"


def load_network(checkpoint: Path) -> tuple[torch.nn.Module, bool]:
    """LiteMedSAM with the checkpoint's weights (fp16-rounded, as shipped), and whether only its
    decoder came from the checkpoint."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise SystemExit(f"{checkpoint}: not a state dict")
    net = ref.load_litemedsam(fp16_weights=False)
    if "mask_decoder" in state and isinstance(state["mask_decoder"], dict):
        net.mask_decoder.load_state_dict(state["mask_decoder"])
        decoder_only = True
    elif any(k.startswith("image_encoder.") for k in state):
        if any("efficientvit" in k.lower() or k.startswith("image_encoder.backbone.") for k in state):
            raise SystemExit("EfficientViT-SAM checkpoints are not supported yet (no neck code or weights to check parity against)")
        missing, unexpected = net.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise SystemExit(f"{checkpoint}: not a LiteMedSAM checkpoint (missing {missing[:3]}, unexpected {unexpected[:3]})")
        decoder_only = False
    else:
        raise SystemExit(f"{checkpoint}: neither a LiteMedSAM state dict nor a decoder-only checkpoint")
    net.load_state_dict(ref.round_to_fp16(net.state_dict()))
    return net.eval(), decoder_only


def write_pair(net: torch.nn.Module, model_id: str, decoder_only: bool) -> dict:
    """Exports and checks the ONNX files; returns the manifest's encoder and decoder references."""
    manifest = read_manifest()
    general = general_entry(manifest)
    out = MODELS / model_id
    out.mkdir(exist_ok=True)
    from .clicks import PointDecoder
    from .export import DECODER_AXES, DECODER_INPUTS, shorten_names

    torch.manual_seed(0)
    image = torch.rand(1, 3, 256, 256)
    # The decoder takes points (models/export.py): a box is its two corners; one click with it.
    points = torch.tensor([[[100.0, 120.0], [40.0, 60.0], [180.0, 200.0]]])
    labels = torch.tensor([[1.0, 2.0, 3.0]])
    encoder, decoder = ref.Encoder(net).eval(), PointDecoder(net, fp16_constants=True).eval()
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


def manifest_entry(model_id: str, name: str, role: str, modalities: list[str], files: dict, license_: str,
                   source: str, extra: dict | None = None) -> dict:
    general = general_entry()
    entry = {key: general[key] for key in ("architecture", "input_size", "embedding_shape", "weights", "preprocess", "postprocess")}
    entry.update(id=model_id, name=name, role=role, modalities=modalities, encoder=files["encoder"],
                 decoder=files["decoder"], license=license_, source=source, **(extra or {}))
    if "decoder_patch" in files:
        entry["decoder_patch"] = files["decoder_patch"]
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--id", required=True, help="lowercase letters, digits and '-'")
    parser.add_argument("--modalities", required=True, nargs="+", help="CT, MR, US, XRay, Fundus, Microscopy, ...")
    parser.add_argument("--name")
    parser.add_argument("--role", choices=["modality", "candidate"], default="candidate",
                        help="modality: the router sends its modalities to it; candidate: only an explicit choice")
    parser.add_argument("--license", default="unknown (set --license)")
    parser.add_argument("--source", default="")
    args = parser.parse_args()
    if not args.id.replace("-", "").isalnum() or args.id != args.id.lower() or args.id == "litemedsam":
        raise SystemExit("--id: lowercase letters, digits and '-', not 'litemedsam'")
    net, decoder_only = load_network(args.checkpoint)
    files = write_pair(net, args.id, decoder_only)
    source = args.source or f"imported from {args.checkpoint.name} by models/import_model.py"
    update_manifest(manifest_entry(args.id, args.name or args.id, args.role, args.modalities, files, args.license, source))


if __name__ == "__main__":
    main()
