"""The models pipeline, in order: `models/.venv/bin/python -m models <step> [args]`.

    python -m models list          # the steps, in order, and the tools
    python -m models all           # every step in order: reproduces every shipped file
    python -m models export        # one step (arguments after it go to the step)

Steps make what the repository ships (model files, manifest, test fixtures); tools measure or
import and are run by hand. Run from the repository root with the venv of `models/setup.sh`.
"""
from __future__ import annotations

import importlib
import sys

MODALITIES = ["CT", "MR", "Microscopy"]

# (name, module, arguments, what it makes): `all` runs them top to bottom.
STEPS = [
    ("export", "export", [], "models/litemedsam/{encoder,decoder}.onnx and the general model's manifest entry"),
    ("fixtures", "fixtures", [], "tests/fixtures/: golden references from PyTorch on real images"),
    ("medical-fixtures", "medical_fixtures", [], "tests/fixtures/medical/: real DICOM/NIfTI/NRRD files and what pydicom, nibabel, pynrrd read"),
    ("corpus-reference", "corpus_reference", [], "tests/corpus/reference.json: what pydicom and nibabel read in the reader corpus (after scripts/fetch-corpus.sh)"),
    ("metrics-reference", "metrics_reference", [], "tests/fixtures/metrics/: DSC/NSD as the challenge's code computes them"),
    ("measure-reference", "measure_reference", [], "tests/fixtures/medical/measurements_reference.json: object measurements as numpy computes them"),
    ("surfel-table", "surfel_table", [], "src/surfel_normals.txt: the surface-distance lookup table"),
    ("eval-set", "data.build_eval_set", [], "models/.cache/eval/: the evaluation set and its patient split"),
    ("finetune-cache", "finetune", ["cache"], "models/.cache/finetune/: teacher embeddings of the training patients"),
    ("clicks-train", "clicks", ["train"], "models/.cache/clicks/click_embeddings.pt: the click embeddings (runs/clicks.jsonl)"),
    ("clicks-export", "export", ["--click-embeddings", "models/.cache/clicks/click_embeddings.pt"], "models/litemedsam/decoder.onnx with the trained click embeddings"),
    ("clicks-golden", "clicks", ["golden", "--embeddings", "models/.cache/clicks/click_embeddings.pt"], "tests/fixtures/golden/clicks_ct_lung.npz: PyTorch's masks for a box and two clicks"),
    *[(f"finetune-train-{m.lower()}", "finetune", ["train", "--modality", m], f"the {m} decoder's training run (runs/finetune.jsonl)") for m in MODALITIES],
    *[(f"finetune-export-{m.lower()}", "finetune", ["export", "--modality", m], f"models/daft-{m.lower()}/decoder.patch.onnx and tests/fixtures/golden/daft-{m.lower()}.npz") for m in MODALITIES],
    ("zoo", "zoo_eval", ["--write-manifest"], "held-out scores and each zoo model's role in the manifest (needs `bash build.sh cli`)"),
    ("route-set", "route_content", ["set"], "models/.cache/route/set.npz: pooled embeddings of every modality's images, by source (needs scripts/fetch-corpus.sh)"),
    ("route-train", "route_content", ["train", "--write-manifest"], "the content router's held-out table and its classifier in the manifest"),
    ("route-fixtures", "route_content", ["fixtures"], "tests/fixtures: an X-ray and a ramp image, and the router's probabilities for the reference images"),
]
TOOLS = [
    ("evaluate", "evaluate", "docs/EVALUATION.md: daftseg native and in the browser against the Python pipeline"),
    ("clicks", "clicks", "docs/EVALUATION.md's click-refinement table: the CVPR 2025 click protocol in PyTorch"),
    ("eval-baseline", "eval_baseline", "the PyTorch baseline's scores on the evaluation set"),
    ("bench-native", "bench_native", "docs/BENCHMARKS.md: tract vs onnxruntime, 1 and N threads"),
    ("profile-ort", "profile_ort", "docs/BENCHMARKS.md: onnxruntime's per-operator profile of the encoder"),
    ("peak-rate", "peak_rate", "this CPU's peak matrix-product rate"),
    ("fast-encoders", "fast_encoders", "the faster-encoder quality gate"),
    ("route-content", "route_content", "the content router by hand: route-content set | train | fixtures"),
    ("finetune", "finetune", "one modality decoder by hand: finetune cache | train --modality M | export --modality M"),
    ("distill", "distill", "the EfficientViT-B0 student (cache, train, export, evaluate)"),
    ("patch", "patch", "a decoder patch by hand: patch make BASE TUNED OUT | patch apply BASE PATCH OUT"),
    ("import-model", "import_model", "bring your own LiteMedSAM checkpoint into the manifest"),
]


def run(module: str, args: list[str]) -> None:
    sys.argv = [f"python -m models.{module}", *args]
    importlib.import_module(f"models.{module}").main()


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help", "list"):
        print(__doc__)
        print("steps, in order:")
        for number, (name, _, _, what) in enumerate(STEPS, 1):
            print(f"  {number:2}. {name:26} {what}")
        print("tools:")
        for name, _, what in TOOLS:
            print(f"      {name:26} {what}")
        return
    name, extra = sys.argv[1], sys.argv[2:]
    if name == "all":
        for step, module, args, _ in STEPS:
            print(f"==> {step}", flush=True)
            run(module, args)
        return
    found = [(m, a) for n, m, a, _ in STEPS if n == name] + [(m, []) for n, m, _ in TOOLS if n == name]
    if not found:
        raise SystemExit(f"no step or tool '{name}': see `python -m models list`")
    module, args = found[0]
    run(module, [*args, *extra])


if __name__ == "__main__":
    main()
