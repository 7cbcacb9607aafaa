"""DAFT's data-aware fine-tuning on a CPU budget: one mask decoder per modality, trained on cached
teacher embeddings of that modality's training patients only (models/.cache/eval/split.json).

    models/.venv/bin/python -m models finetune cache                 # teacher embeddings (about 1 min)
    models/.venv/bin/python -m models finetune train --modality CT   # resumable; logs to models/runs/
    models/.venv/bin/python -m models finetune export --modality CT  # models/daft-ct/decoder.patch.onnx + golden

The encoder is LiteMedSAM's, unchanged and shared (so are its cached embeddings); only the mask
decoder (and its IoU head) is trained, with the prompt encoder frozen. The embeddings come from the
shipped encoder.onnx (onnxruntime), so training sees exactly what the app computes. Augmentation:
flips of the image (each flip is encoded: an embedding cannot be flipped) and box jitter of up to
5 px per side, as the challenge's training did. Loss: Dice + BCE on the 256x256 low-resolution
logits (MedSAM's), against the label resized to the model frame.

Training patients (never the held-out ones): CT lung1, MR brain1, the top half of stardist's nuclei.
Every run appends command, data sha256, steps, loss and the checkpoint's sha256 to
models/runs/finetune.jsonl. Held-out DSC/NSD come from the evaluation harness (models/zoo_eval.py).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from .data import build_eval_set as evalset
from . import litemedsam as ref
from .common import MODELS as MODELS_DIR, general_encoder_session, sha256_file
from .decoder_training import CLICK_EMBEDDINGS, TEACHER_CACHE as CACHE, dice_bce, jittered_boxes
from .litemedsam import load_click_embeddings, load_network
from .onnx_export import write_pair

RUNS = MODELS_DIR / "runs" / "finetune.jsonl"
MODALITIES = {"CT": "lung1", "MR": "brain1", "Microscopy": "stardist_top"}
MIN_PIXELS = 5
# The tensors fine-tuning changes: what turns the prompt-conditioned mask token into the mask (the
# last block's image-to-token attention, the final token-to-image attention, the upscaling and the
# hypernetwork of mask 0, the only mask LiteMedSAM outputs) and the tokens themselves. Everything else stays LiteMedSAM's, so a modality
# model ships as a patch of these tensors over the shared decoder (models/patch.py), under 1 MB.
# The IoU head is not trained: no loss reaches it, weight decay alone would move it.
TRAINED = ("transformer.layers.1.cross_attn_image_to_token.", "transformer.layers.1.norm4.",
           "transformer.final_attn_token_to_image.", "transformer.norm_final_attn.", "output_upscaling.",
           "output_hypernetworks_mlps.0.", "mask_tokens.", "iou_token.")
FLIPS = {"none": lambda a: a, "h": lambda a: a[:, ::-1], "v": lambda a: a[::-1], "hv": lambda a: a[::-1, ::-1]}


def training_images(modality: str):
    """(grey uint8 HxW, instance labels HxW) of the modality's training patient, one per slice."""
    if modality == "Microscopy":
        import tifffile

        image = tifffile.imread(evalset.sources.get("stardist==0.9.2", "stardist/data/images/img2d.tif"))
        labels = tifffile.imread(evalset.sources.get("stardist==0.9.2", "stardist/data/images/mask2d.tif"))
        half = image.shape[0] // 2  # the top half trains, the bottom half is held out
        yield evalset.fixtures.to_uint8(image.astype(np.uint16))[:half], labels[:half].astype(np.int32)
        return
    windowed, label, _ = evalset.load_volume(MODALITIES[modality], modality)
    for z in range(windowed.shape[2]):
        mask = (label[:, :, z] > 0).T
        if mask.sum() >= MIN_PIXELS:
            yield np.ascontiguousarray(windowed[:, :, z].T), mask.astype(np.int32)


def cache(args) -> None:
    session = general_encoder_session()
    CACHE.mkdir(parents=True, exist_ok=True)
    for modality in args.modality or MODALITIES:
        embeddings, masks, boxes, owner = [], [], [], []
        for grey, labels in training_images(modality):
            for flip in FLIPS.values():
                img = np.ascontiguousarray(flip(grey))
                lab = np.ascontiguousarray(flip(labels))
                img_256, tensor = ref.preprocess(ref.to_rgb_uint8(img))
                (embedding,) = session.run(None, {"image": tensor.numpy()})
                newh, neww = img_256.shape[:2]
                for i in np.unique(lab):
                    if i == 0 or (lab == i).sum() < MIN_PIXELS:
                        continue
                    m = (lab == i).astype(np.uint8)
                    small = cv2.resize(m, (neww, newh), interpolation=cv2.INTER_NEAREST)
                    masks.append(np.pad(small, ((0, 256 - newh), (0, 256 - neww))))
                    ys, xs = np.nonzero(m)
                    # Box in the 256 frame, kept as float so jitter can be applied before truncation.
                    scale = 256 / max(img.shape)
                    boxes.append([xs.min() * scale, ys.min() * scale, xs.max() * scale, ys.max() * scale, scale])
                    owner.append(len(embeddings))
                embeddings.append(embedding[0].astype(np.float16))
        path = CACHE / f"{modality}.npz"
        np.savez(path, embeddings=np.stack(embeddings), masks=np.stack(masks), boxes=np.asarray(boxes, np.float32),
                 owner=np.asarray(owner, np.int32))
        print(f"{modality}: {len(embeddings)} embeddings, {len(masks)} objects -> {path}")


def train(args) -> None:
    torch.set_num_threads(args.threads)
    data_path = CACHE / f"{args.modality}.npz"
    data = np.load(data_path)
    embeddings = torch.from_numpy(data["embeddings"].astype(np.float32))
    masks = torch.from_numpy(data["masks"].astype(np.float32))[:, None]
    boxes, owner = data["boxes"], data["owner"]
    net = ref.load_litemedsam(fp16_weights=True)
    decoder = ref.Decoder(net, fp16_constants=True)
    for p in decoder.prompt_encoder.parameters():
        p.requires_grad_(False)
    params = [p for name, p in decoder.mask_decoder.named_parameters() if name.startswith(TRAINED)]
    for name, p in decoder.mask_decoder.named_parameters():
        p.requires_grad_(name.startswith(TRAINED))
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    out = CACHE / args.modality
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.pt"
    step, losses = 0, []
    rng = np.random.default_rng(args.seed)
    if ckpt.exists() and not args.restart:
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        decoder.mask_decoder.load_state_dict(state["mask_decoder"])
        optimizer.load_state_dict(state["optimizer"])
        step, losses = state["step"], state["losses"]
        rng.bit_generator.state = state["rng"]
        print(f"resumed at step {step}")
    decoder.train()
    started = time.time()
    while step < args.steps:
        pick = rng.choice(len(owner), size=args.batch, replace=len(owner) < args.batch)
        box = jittered_boxes(boxes[pick], rng, args.jitter)
        logits, _ = decoder(embeddings[owner[pick]], box)
        loss = dice_bce(logits, masks[pick])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        step += 1
        if step % 25 == 0 or step == args.steps:
            print(f"step {step}/{args.steps} loss {np.mean(losses[-25:]):.4f} ({time.time() - started:.0f} s)", flush=True)
            torch.save({"mask_decoder": decoder.mask_decoder.state_dict(), "optimizer": optimizer.state_dict(),
                        "step": step, "losses": losses, "rng": rng.bit_generator.state, "args": vars(args)}, ckpt)
    RUNS.parent.mkdir(parents=True, exist_ok=True)
    with RUNS.open("a") as log:
        log.write(json.dumps({
            "date": time.strftime("%Y-%m-%d"), "command": " ".join(sys.argv), "modality": args.modality,
            "data_sha256": sha256_file(data_path), "objects": int(len(owner)), "embeddings": int(len(embeddings)),
            "steps": step, "trained": list(TRAINED), "batch": args.batch, "lr": args.lr, "jitter_px": args.jitter,
            "loss_first25": float(np.mean(losses[:25])), "loss_last25": float(np.mean(losses[-25:])),
            "seconds_this_run": round(time.time() - started, 1), "checkpoint_sha256": sha256_file(ckpt),
        }) + "\n")


def model_id(modality: str) -> str:
    return f"daft-{modality.lower()}"


def export(args) -> None:
    """The fine-tuned decoder as ONNX next to LiteMedSAM's encoder, with the parity check of
    models/import_model.py (the same path users' own checkpoints take)."""
    net, _ = load_network(CACHE / args.modality / "checkpoint.pt")
    # The general decoder's click embeddings (`models clicks train`), which the box-trained
    # fine-tuning left as they were: the patch then holds only what fine-tuning changed.
    if CLICK_EMBEDDINGS.exists():
        load_click_embeddings(net, CLICK_EMBEDDINGS)
    write_pair(net, model_id(args.modality), decoder_only=True)
    write_golden(net, model_id(args.modality))


GOLDEN_CASE = "microscopy_nuclei"


def write_golden(net, name: str) -> None:
    """tests/fixtures/golden/<model id>.npz: PyTorch's logits and masks with this fine-tuned decoder
    on a golden image, so the Rust tests check the shipped patch, applied over the base decoder,
    against the checkpoint it came from."""
    from PIL import Image

    from .fixtures import FIXTURES, to_uint8

    reference = np.load(FIXTURES / "golden" / f"{GOLDEN_CASE}.npz")
    pixels = np.asarray(Image.open(FIXTURES / "images" / f"{GOLDEN_CASE}.png"))
    encoder, decoder = ref.Encoder(net).eval(), ref.Decoder(net, fp16_constants=True).eval()
    with torch.no_grad():
        segs, details = ref.segment_2d(encoder, decoder, ref.to_rgb_uint8(to_uint8(pixels)), reference["boxes"])
    if not np.array_equal(details["resized"], reference["resized"]):
        raise SystemExit(f"{GOLDEN_CASE}: the image is not the golden case's")
    changed = int((segs != reference["segs"]).sum())
    # Every 4th logit of the first box in each direction (a 64x64 grid) keeps the file small (the
    # tree carries one per zoo model) and still checks the logits everywhere on the image.
    np.savez_compressed(FIXTURES / "golden" / f"{name}.npz", boxes=reference["boxes"], segs=segs,
                        low_res_logits_every4=details["low_res_logits"][0, ::4, ::4].astype(np.float32))
    print(f"tests/fixtures/golden/{name}.npz: {changed} pixels differ from the general model's masks")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cache")
    c.add_argument("--modality", action="append", choices=list(MODALITIES))
    t = sub.add_parser("train")
    t.add_argument("--modality", required=True, choices=list(MODALITIES))
    t.add_argument("--steps", type=int, default=300)
    t.add_argument("--batch", type=int, default=4)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--jitter", type=float, default=5.0)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--restart", action="store_true")
    e = sub.add_parser("export")
    e.add_argument("--modality", required=True, choices=list(MODALITIES))
    args = parser.parse_args()
    {"cache": cache, "train": train, "export": export}[args.command](args)


if __name__ == "__main__":
    main()
