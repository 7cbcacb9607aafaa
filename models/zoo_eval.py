"""Held-out evaluation of the model zoo, and the manifest entries that ship it.

    bash build.sh cli && models/.venv/bin/python -m models zoo [--write-manifest]

For each modality decoder fine-tuned by models/finetune.py (models/daft-<modality>/decoder.patch.onnx
over LiteMedSAM's decoder, LiteMedSAM's encoder shared), runs `daftseg segment` on the evaluation set's held-out cases of that
modality (models/.cache/eval, split.json: other patients than the training ones) twice, with the
router's modality model and with the general model (`--model litemedsam`), scores both with
`daftseg eval`, and prints the Markdown table of docs/MODELS.md. With --write-manifest, adds
(or refreshes) each modality model in models/manifest.json with its measured numbers; a model
that does not beat the general one on its held-out cases is kept as an explicit choice
(role "candidate": never routed to by default).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from . import finetune
from . import import_model
from .common import daftseg_binary, file_ref, general_entry, read_manifest, update_manifest

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
DATA = MODELS / ".cache" / "eval"
WORK = MODELS / ".cache" / "zoo"
DAFTSEG = daftseg_binary()


def run(args) -> str:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, cwd=ROOT).stdout


def entry(modality: str, role: str, scores: dict | None) -> dict:
    patch = MODELS / finetune.model_id(modality) / "decoder.patch.onnx"
    general = general_entry()
    runs = [json.loads(line) for line in finetune.RUNS.read_text().splitlines() if json.loads(line)["modality"] == modality]
    files = {"encoder": general["encoder"], "decoder": general["decoder"], "decoder_patch": file_ref(patch)}
    source = (f"LiteMedSAM's decoder fine-tuned on {finetune.MODALITIES[modality]} ({modality} training patient) by "
              f"`{runs[-1]['command']}` ({runs[-1]['steps']} steps, data sha256 {runs[-1]['data_sha256'][:12]}); "
              f"exported by `models/finetune.py export --modality {modality}` as a patch of the trained tensors "
              f"({', '.join(t.rstrip('.') for t in runs[-1].get('trained', []))}) over LiteMedSAM's decoder")
    return import_model.manifest_entry(finetune.model_id(modality), f"DAFT {modality} (LiteMedSAM encoder, {modality}-fine-tuned decoder)",
                                       role, [modality], files, general["license"], source, {"heldout": scores} if scores else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-manifest", action="store_true")
    parser.add_argument("--modality", action="append", choices=list(finetune.MODALITIES),
                        help="evaluate only these (default: every one; --write-manifest needs every one)")
    args = parser.parse_args()
    modalities = args.modality or list(finetune.MODALITIES)
    if args.write_manifest and args.modality:
        raise SystemExit("--write-manifest evaluates every modality: leave out --modality")
    split = json.loads((DATA / "split.json").read_text())
    manifest = read_manifest()
    manifest["models"] = [m for m in manifest["models"] if m["id"] == "litemedsam"]
    manifest["models"] += [entry(m, "modality", None) for m in modalities]
    WORK.mkdir(parents=True, exist_ok=True)
    trial = MODELS / "manifest.zoo-trial.json"  # next to the model files it names
    trial.write_text(json.dumps(manifest, indent=2))
    rows, results = [], {}
    try:
        for modality in modalities:
            cases = [c for c in split["heldout"] if f"_{modality}_" in c]
            folder = WORK / modality / "imgs"
            shutil.rmtree(folder.parent, ignore_errors=True)
            folder.mkdir(parents=True)
            gts = folder.parent / "gts"
            gts.mkdir()
            for c in cases:
                shutil.copyfile(DATA / "imgs" / f"{c}.npz", folder / f"{c}.npz")
                shutil.copyfile(DATA / "gts" / f"{c}.npz", gts / f"{c}.npz")
            scored = {}
            for label, extra in (("general", ["--model", "litemedsam"]), ("modality", [])):
                pred = folder.parent / f"pred_{label}"
                timing = run([DAFTSEG, "--manifest", trial, "segment", folder, "--out", pred, *extra])
                models_used = {r["model"] for r in csv.DictReader(io.StringIO(timing))}
                out = folder.parent / f"scores_{label}.csv"
                run([DAFTSEG, "eval", "--pred", pred, "--gt", gts, "--csv", out])
                scored[label] = (list(csv.DictReader(io.StringIO(out.read_text()))), models_used)
            for dims in ("2D", "3D", "all"):
                line = [modality, dims]
                for label in ("general", "modality"):
                    group = [r for r in scored[label][0] if dims == "all" or r["case"].startswith(dims)]
                    if not group:
                        break
                    dsc = 100 * statistics.mean(float(r["dsc"]) for r in group)
                    nsd = 100 * statistics.mean(float(r["nsd"]) for r in group)
                    line += [len(group), f"{dsc:.2f}", f"{nsd:.2f}", ", ".join(sorted(scored[label][1]))]
                    results.setdefault(modality, {}).setdefault(dims, {})[label] = {"cases": len(group), "dsc": round(dsc, 2), "nsd": round(nsd, 2)}
                if len(line) > 2:
                    rows.append(line)
    finally:
        trial.unlink(missing_ok=True)
    print("| modality | cases | held-out cases | general DSC % | general NSD % | fine-tuned DSC % | fine-tuned NSD % | model |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[7]} | {r[8]} | {r[9]} |")
    if args.write_manifest:
        entries = []
        for modality in finetune.MODALITIES:
            overall = results[modality]["all"]
            better = overall["modality"]["dsc"] > overall["general"]["dsc"]
            entries.append(entry(modality, "modality" if better else "candidate", results[modality]))
        update_manifest(*entries)


if __name__ == "__main__":
    main()
