"""One command for docs/EVALUATION.md: build the evaluation set, run PyTorch LiteMedSAM, daftseg
native and daftseg in Chromium on it, score both with `daftseg eval`, check the metric against the Python reference on
the same predictions, and print per-modality DSC / NSD / seconds per case as Markdown.

    bash build.sh cli && bash build.sh wasm && models/.venv/bin/python -m models evaluate

`DAFTSEG` (default: target/release/daftseg, or $CARGO_TARGET_DIR/release/daftseg) is the CLI.
"""
from __future__ import annotations

import csv
import datetime
import io
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

from . import metrics_reference
from .common import daftseg_binary

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "models" / ".cache" / "eval"
PY = sys.executable
DAFTSEG = daftseg_binary()


def run(args) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, cwd=ROOT).stdout


def rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def main() -> None:
    print(run([PY, "models/data/build_eval_set.py", "--out", str(DATA)]).strip(), file=sys.stderr)
    times = {
        "PyTorch LiteMedSAM (fp32 checkpoint)": {r["case"]: float(r["total_ms"]) for r in rows(run([PY, "models/eval_baseline.py", "--data", str(DATA), "--weights", "fp32"]))},
        "daftseg native (tract, fp16 weights)": {r["case"]: float(r["total_ms"]) for r in rows(run([DAFTSEG, "segment", str(DATA / "imgs"), "--out", str(DATA / "pred_daftseg")]))},
    }
    # The browser: the same wasm Engine the app's worker uses, in Debian's Chromium (needs
    # `bash build.sh wasm`, npm packages and chromium: `npm test` installs them).
    browser = "daftseg in Chromium (tract-wasm, fp16 weights)"
    times[browser] = {r["case"]: float(r["total_ms"]) for r in rows(run(["node", "scripts/eval-browser.mjs", "--cases", str(DATA / "imgs"), "--out", str(DATA / "pred_browser")]))}
    preds = {"PyTorch LiteMedSAM (fp32 checkpoint)": DATA / "pred_pytorch_fp32", "daftseg native (tract, fp16 weights)": DATA / "pred_daftseg", browser: DATA / "pred_browser"}
    scores = {}
    worst = 0.0
    for method, pred in preds.items():
        out = DATA / f"scores_{pred.name}.csv"
        run([DAFTSEG, "eval", "--pred", str(pred), "--gt", str(DATA / "gts"), "--csv", str(out)])
        scores[method] = {r["case"]: r for r in rows(out.read_text())}
        # The Rust metric against the Python reference on these real predictions.
        for case, r in scores[method].items():
            with np.load(DATA / "gts" / f"{case}.npz") as gt:
                gts = gt["gts"]
                spacing = list(gt["spacing"][::-1]) if "spacing" in gt else None  # physical order
            segs = np.load(pred / f"{case}.npz")["segs"]
            dsc, nsd = metrics_reference.score_case(gts, segs, spacing)
            worst = max(worst, abs(dsc - float(r["dsc"])), abs(nsd - float(r["nsd"])))
    cases = sorted(scores[next(iter(scores))])
    first = scores[next(iter(scores))]
    group_of = {c: f"{first[c]['modality']} {'3D' if c.startswith('3D') else '2D'}" for c in cases}
    modalities = sorted(set(group_of.values()))
    print(f"Date {datetime.date.today()}; {len(cases)} cases; one CPU thread for each; model loading excluded. "
          f"`daftseg eval` vs the Python reference metric on these predictions: max |difference| {worst:.1e}.\n")
    print("| modality, 2D/3D | cases | method | DSC % | NSD % | s per case |")
    print("|---|---|---|---|---|---|")
    for modality in modalities + ["all"]:
        group = [c for c in cases if modality == "all" or group_of[c] == modality]
        for method in preds:
            dsc = 100 * statistics.mean(float(scores[method][c]["dsc"]) for c in group)
            nsd = 100 * statistics.mean(float(scores[method][c]["nsd"]) for c in group)
            seconds = statistics.mean(times[method][c] for c in group) / 1000
            print(f"| {modality} | {len(group)} | {method} | {dsc:.2f} | {nsd:.2f} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
