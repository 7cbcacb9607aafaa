"""PyTorch LiteMedSAM on the evaluation set: the baseline daftseg must match.

    models/.venv/bin/python -m models eval-baseline [--data models/.cache/eval] [--weights fp32|fp16]

Runs the official 2D algorithm (litemedsam.segment_2d: one embedding per image, one mask per box,
later boxes overwrite earlier ones) and, for 3D cases, the official 3D propagation (segment_3d) on every `imgs/*.npz`, writes `pred_pytorch_<weights>/<case>.npz`
(`segs`) and prints `case,encode+decode ms` per case (model loading excluded; one thread, like
tract). `fp32` is the original checkpoint (the baseline); `fp16` the shipped rounded weights.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import litemedsam as ref


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(Path(__file__).resolve().parent / ".cache" / "eval"))
    parser.add_argument("--weights", choices=["fp32", "fp16"], default="fp32")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = Path(args.data)
    out = data / f"pred_pytorch_{args.weights}"
    out.mkdir(parents=True, exist_ok=True)
    net = ref.load_litemedsam(fp16_weights=args.weights == "fp16")
    encoder, decoder = ref.Encoder(net), ref.Decoder(net, fp16_constants=args.weights == "fp16")
    print("case,total_ms")
    for path in sorted((data / "imgs").glob("*.npz")):
        with np.load(path) as npz:
            imgs, boxes = npz["imgs"], npz["boxes"]
        start = time.perf_counter()
        if boxes.shape[1] == 6:
            segs = ref.segment_3d(encoder, decoder, imgs, boxes)
        else:
            segs, _ = ref.segment_2d(encoder, decoder, imgs, boxes)
        elapsed = (time.perf_counter() - start) * 1000
        segs = segs.astype(np.uint8) if segs.max() <= 255 else segs
        np.savez_compressed(out / path.name, segs=segs)
        print(f"{path.stem},{elapsed:.1f}", flush=True)


if __name__ == "__main__":
    main()
