"""onnxruntime's per-operator profile of the LiteMedSAM encoder, to set beside `daftseg bench
--profile` (docs/BENCHMARKS.md explains the gap operator by operator).

    models/.venv/bin/python -m models profile-ort [--threads 1] [--runs 5]

onnxruntime's own profiler (`enable_profiling`) times every node of its optimised graph; one
warm-up run, then `--runs` profiled runs; each node's median, summed per operator kind. Prints a
Markdown table.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from . import litemedsam as ref
from .bench_native import cpu_name

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--image", default=str(ROOT / "tests/fixtures/images/ct_lung.png"))
    args = parser.parse_args()

    image = np.asarray(Image.open(args.image).convert("RGB"))
    _, tensor = ref.preprocess(image)
    feed = {"image": tensor.numpy()}
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tmp, "ort")
        session = ort.InferenceSession(str(ROOT / "models/litemedsam/encoder.onnx"), options,
                                       providers=["CPUExecutionProvider"])
        for _ in range(args.runs + 1):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())

    # Node events in order; a run is one pass over the graph's nodes (the first, the warm-up).
    nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    per_run = len(nodes) // (args.runs + 1)
    kinds: dict[str, list[float]] = collections.defaultdict(list)
    counts: dict[str, int] = collections.Counter()
    for i in range(per_run):
        durations = [nodes[(run + 1) * per_run + i]["dur"] / 1000 for run in range(args.runs)]
        kind = nodes[per_run + i]["args"]["op_name"]
        kinds[kind].append(statistics.median(durations))
        counts[kind] += 1
    total = sum(sum(v) for v in kinds.values())
    print(f"onnxruntime {ort.__version__}, {cpu_name()}, {args.threads} thread(s), encoder, {args.runs} "
          f"profiled runs (medians per node):\n")
    print(f"| operator | nodes | {args.threads} thread{'s' if args.threads > 1 else ''} ms | share |")
    print("|---|---|---|---|")
    for kind, values in sorted(kinds.items(), key=lambda kv: -sum(kv[1])):
        print(f"| {kind} | {counts[kind]} | {sum(values):.1f} | {100 * sum(values) / total:.1f}% |")
    print(f"| **all** | {per_run} | **{total:.1f}** | 100% |")


if __name__ == "__main__":
    main()
