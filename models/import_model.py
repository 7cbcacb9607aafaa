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
import json
import sys
from pathlib import Path

import numpy as np

from .common import MANIFEST, general_entry, update_manifest
from .litemedsam import load_network
from .onnx_export import write_pair


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
