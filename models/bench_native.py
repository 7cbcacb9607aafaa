"""Native speed, tract (daftseg) next to onnxruntime, on the same ONNX files, in one run.

    cargo build --release && models/.venv/bin/python models/bench_native.py [--rounds 5]

Each round runs onnxruntime (1 thread, in this process, session kept warm) and then
`daftseg bench` (tract, 1 thread; one warm-up, then timed runs), so both see the same machine
state; medians over all rounds, and the ratio tract / onnxruntime. Prints a Markdown table.
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
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import litemedsam as ref  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=3, help="timed runs per round and engine")
    parser.add_argument("--daftseg", default=str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "daftseg"))
    parser.add_argument("--image", default=str(ROOT / "tests/fixtures/images/ct_lung.png"))
    args = parser.parse_args()

    image = np.asarray(Image.open(args.image).convert("RGB"))
    h, w = image.shape[:2]
    box = [w // 4, h // 4, w * 3 // 4, h * 3 // 4]
    _, tensor = ref.preprocess(image)
    box256 = ref.resize_box_to_256(np.array(box), (h, w))[None, :].astype(np.float32)

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    models = ROOT / "models" / "litemedsam"
    encoder = ort.InferenceSession(str(models / "encoder.onnx"), options, providers=["CPUExecutionProvider"])
    decoder = ort.InferenceSession(str(models / "decoder.onnx"), options, providers=["CPUExecutionProvider"])
    feed = {"image": tensor.numpy()}
    embedding = encoder.run(None, feed)[0]  # warm-up
    decoder.run(None, {"embedding": embedding, "box": box256})

    ort_enc, ort_dec, tract_enc, tract_dec = [], [], [], []
    for round_index in range(args.rounds):
        for _ in range(args.iterations):
            t0 = time.perf_counter()
            embedding = encoder.run(None, feed)[0]
            t1 = time.perf_counter()
            decoder.run(None, {"embedding": embedding, "box": box256})
            t2 = time.perf_counter()
            ort_enc.append((t1 - t0) * 1000)
            ort_dec.append((t2 - t1) * 1000)
        out = subprocess.run(
            [args.daftseg, "bench", "--json", "--iterations", str(args.iterations), "--image", args.image,
             "--box", ",".join(map(str, box))], check=True, capture_output=True, text=True, cwd=ROOT).stdout
        result = json.loads(out)
        tract_enc += result["encode_ms"]
        tract_dec += result["decode_ms"]
        recent = [round(v, 1) for v in ort_enc[-args.iterations:]]
        print(f"round {round_index + 1}: onnxruntime enc {recent}, tract enc {result['encode_ms']}", file=sys.stderr)

    def fmt(values):
        return f"{statistics.median(values):.0f} (min {min(values):.0f}, max {max(values):.0f})"

    enc_ratio = statistics.median(tract_enc) / statistics.median(ort_enc)
    dec_ratio = statistics.median(tract_dec) / statistics.median(ort_dec)
    print(f"Machine: {cpu_name()}, {os.cpu_count()} cores; {datetime.date.today()}; onnxruntime {ort.__version__}; "
          f"{args.rounds} rounds x {args.iterations} runs, interleaved; image {Path(args.image).name} ({w}x{h}).\n")
    print("| stage | tract (daftseg) ms | onnxruntime ms | ratio tract/onnxruntime |")
    print("|---|---|---|---|")
    print(f"| encoder | {fmt(tract_enc)} | {fmt(ort_enc)} | {enc_ratio:.2f} |")
    print(f"| decoder | {fmt(tract_dec)} | {fmt(ort_dec)} | {dec_ratio:.2f} |")


if __name__ == "__main__":
    main()
