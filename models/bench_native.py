"""Native speed, tract (daftseg) next to onnxruntime, on the same ONNX files, in one run, with 1
and N threads each; then 3D propagation through the CLI with 1 and N threads.

    cargo build --release && models/.venv/bin/python -m models bench-native [--rounds 5] [--threads 2]

Each round runs, for each thread count, onnxruntime (in this process, sessions kept warm) and
then `daftseg --threads T bench` (tract; one warm-up, then timed runs), so every configuration
sees the same machine state; medians over all rounds, and the ratios. Then `daftseg --threads T
segment` on the DICOM CT series fixture and on a synthetic 40-slice volume (the voxels
scripts/bench-browser.mjs builds), alternating thread counts. Prints Markdown tables.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from . import litemedsam as ref

ROOT = Path(__file__).resolve().parent.parent


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def synthetic_volume(depth: int = 40, size: int = 256) -> np.ndarray:
    """The synthetic volume of scripts/bench-browser.mjs: an ellipsoid over a fixed texture."""
    z, y, x = np.meshgrid(np.arange(depth), np.arange(size), np.arange(size), indexing="ij")
    inside = ((x - 128) / 60) ** 2 + ((y - 128) / 45) ** 2 + ((z - 20) / 18) ** 2 < 1
    return (40 + 160 * inside + (x * 7 + y * 13 + z * 29) % 23).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=3, help="timed runs per round and configuration")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="the N of 1 vs N threads")
    parser.add_argument("--volume-rounds", type=int, default=2)
    parser.add_argument("--daftseg", default=str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "daftseg"))
    parser.add_argument("--image", default=str(ROOT / "tests/fixtures/images/ct_lung.png"))
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL=[BINARY] FLAGS",
                        help="another tract configuration timed in the same rounds: a daftseg binary (default: "
                             "--daftseg) and global flags, e.g. 'tract ops only=--without fused-ops' or "
                             "'glibc=/tmp/daftseg-glibc' (repeatable)")
    args = parser.parse_args()
    variants = []
    for spec in args.variant:
        label, _, rest = spec.partition("=")
        words = rest.split()
        binary = words.pop(0) if words and not words[0].startswith("-") else args.daftseg
        variants.append((label, binary, words))

    image = np.asarray(Image.open(args.image).convert("RGB"))
    h, w = image.shape[:2]
    box = [w // 4, h // 4, w * 3 // 4, h * 3 // 4]
    _, tensor = ref.preprocess(image)
    box256 = ref.resize_box_to_256(np.array(box), (h, w))[None, :].astype(np.float32)
    # The decoder takes prompt points: a box is its two corners (labels 2 and 3).
    box_points = {"points": box256.reshape(1, 2, 2), "labels": np.array([[2.0, 3.0]], dtype=np.float32)}
    feed = {"image": tensor.numpy()}
    models = ROOT / "models" / "litemedsam"
    counts = [1, args.threads]

    sessions = {}
    for n in counts:
        options = ort.SessionOptions()
        options.intra_op_num_threads = n
        options.inter_op_num_threads = 1
        encoder = ort.InferenceSession(str(models / "encoder.onnx"), options, providers=["CPUExecutionProvider"])
        decoder = ort.InferenceSession(str(models / "decoder.onnx"), options, providers=["CPUExecutionProvider"])
        embedding = encoder.run(None, feed)[0]  # warm-up
        decoder.run(None, {"embedding": embedding, **box_points})
        sessions[n] = (encoder, decoder)

    engines = ["tract", "ort"] + [label for label, _, _ in variants]
    times = {(engine, n, stage): [] for engine in engines for n in counts for stage in ("enc", "dec")}

    def tract_bench(binary, flags, n):
        out = subprocess.run(
            [binary, *flags, "--threads", str(n), "bench", "--json", "--iterations", str(args.iterations),
             "--image", args.image, "--box", ",".join(map(str, box))], check=True, capture_output=True, text=True, cwd=ROOT).stdout
        return json.loads(out)
    for round_index in range(args.rounds):
        for n in counts:
            encoder, decoder = sessions[n]
            for _ in range(args.iterations):
                t0 = time.perf_counter()
                embedding = encoder.run(None, feed)[0]
                t1 = time.perf_counter()
                decoder.run(None, {"embedding": embedding, **box_points})
                t2 = time.perf_counter()
                times[("ort", n, "enc")].append((t1 - t0) * 1000)
                times[("ort", n, "dec")].append((t2 - t1) * 1000)
            result = tract_bench(args.daftseg, [], n)
            times[("tract", n, "enc")] += result["encode_ms"]
            times[("tract", n, "dec")] += result["decode_ms"]
            recent = [round(v, 1) for v in times[("ort", n, "enc")][-args.iterations:]]
            print(f"round {round_index + 1}, {n} threads: onnxruntime enc {recent}, tract enc {result['encode_ms']}", file=sys.stderr)
            for label, binary, flags in variants:
                other = tract_bench(binary, flags, n)
                times[(label, n, "enc")] += other["encode_ms"]
                times[(label, n, "dec")] += other["decode_ms"]
                print(f"round {round_index + 1}, {n} threads: {label} enc {other['encode_ms']}", file=sys.stderr)

    def fmt(values):
        return f"{statistics.median(values):.0f} (min {min(values):.0f}, max {max(values):.0f})"

    def med(engine, n, stage):
        return statistics.median(times[(engine, n, stage)])

    n = args.threads
    print(f"Machine: {cpu_name()}, {os.cpu_count()} cores; {datetime.date.today()}; onnxruntime {ort.__version__}; "
          f"{args.rounds} rounds x {args.iterations} runs per configuration, interleaved; image {Path(args.image).name} ({w}x{h}).\n")
    print("| configuration | encoder ms | decoder ms |")
    print("|---|---|---|")
    labels = [("tract", "tract (daftseg)"), ("ort", "onnxruntime")] + [(v, f"tract: {v}") for v, _, _ in variants]
    for engine, label in labels:
        for k in counts:
            print(f"| {label}, {k} thread{'s' if k > 1 else ''} | {fmt(times[(engine, k, 'enc')])} | {fmt(times[(engine, k, 'dec')])} |")
    print("\n| ratio | encoder | decoder |")
    print("|---|---|---|")
    for engine, label in (("tract", "tract"), ("ort", "onnxruntime")):
        print(f"| {label} {n} threads / 1 thread | {med(engine, n, 'enc') / med(engine, 1, 'enc'):.2f} | {med(engine, n, 'dec') / med(engine, 1, 'dec'):.2f} |")
    for k in counts:
        print(f"| tract / onnxruntime, {k} thread{'s' if k > 1 else ''} | {med('tract', k, 'enc') / med('ort', k, 'enc'):.2f} | {med('tract', k, 'dec') / med('ort', k, 'dec'):.2f} |")
    for label, _, _ in variants:
        for k in counts:
            print(f"| tract / tract: {label}, {k} thread{'s' if k > 1 else ''} | {med('tract', k, 'enc') / med(label, k, 'enc'):.2f} | {med('tract', k, 'dec') / med(label, k, 'dec'):.2f} |")
    if args.volume_rounds == 0:
        return

    # 3D propagation through the CLI, model loading included (as a user runs it).
    with tempfile.TemporaryDirectory() as tmp:
        synthetic = Path(tmp) / "3DBox_synthetic40.npz"
        volume = synthetic_volume()
        np.savez(synthetic, imgs=volume, boxes=np.array([[60, 75, 0, 196, 181, volume.shape[0] - 1]], dtype=np.int64))
        cases = [
            ("DICOM CT series (6 slices 512x512, box over 3)",
             [str(ROOT / "tests/fixtures/medical/ct_lung1_series"), "--box3d", "206,347,1,229,372,3", "--window", "lung"], ".nii.gz"),
            (f"synthetic {volume.shape[0]} slices 256x256, box over all", [str(synthetic)], ".npz"),
        ]
        print(f"\n| 3D propagation (`daftseg --threads T segment`, model load included) | 1 thread s | {n} threads s | ratio |")
        print("|---|---|---|---|")
        for name, inputs, suffix in cases:
            seconds = {k: [] for k in counts}
            for _ in range(args.volume_rounds):
                for k in counts:
                    t0 = time.perf_counter()
                    subprocess.run([args.daftseg, "--threads", str(k), "segment", *inputs, "--out", str(Path(tmp) / f"out{suffix}")],
                                   check=True, capture_output=True, cwd=ROOT)
                    seconds[k].append(time.perf_counter() - t0)
            one, many = statistics.median(seconds[1]), statistics.median(seconds[n])
            print(f"| {name} | {one:.1f} | {many:.1f} | {many / one:.2f} |")


if __name__ == "__main__":
    main()
