#!/usr/bin/env bash
# The GPU distillation command of models/gpu_distill.py, end to end on CPU with a tiny
# configuration, so that it is known to work before any GPU time is spent: the bundle (made if
# missing), 4 training steps (2 of them with the mask loss), the gate on 4 held-out boxes, the ONNX
# export; then daftseg's tract engine runs the exported student, and the tree plus the bundle must
# fit in the 64 MiB a lent machine carries. Needs models/.venv (models/setup.sh) and the CLI
# (bash build.sh cli, or $DAFTSEG).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=models/.venv/bin/python
BUNDLE=models/.cache/gpu-bundle
[ -f "$BUNDLE/data.npz" ] || "$PY" -m models distill bundle
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
"$PY" models/gpu_distill.py --bundle "$BUNDLE" --out "$OUT" --device cpu --steps 4 --batch 2 \
  --mask-batch 2 --mask-from 0.5 --gate-boxes 4 --minutes 10
DAFTSEG=${DAFTSEG:-${CARGO_TARGET_DIR:-target}/release/daftseg}
"$PY" - "$OUT" "$BUNDLE" <<'PYTHON'
import hashlib, json, subprocess, sys
from pathlib import Path
out, bundle = Path(sys.argv[1]), Path(sys.argv[2])
report = json.loads((out / "report.json").read_text())
assert report["steps"] == 4, report
assert report["gate"]["boxes"] == 4 and 0 <= report["gate"]["mean_iou"] <= 1, report
assert report["onnx_max_abs_diff"] < 1e-3, report
# What travels: tracked files and untracked ones git does not ignore, as they are now.
listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], capture_output=True, text=True, check=True)
tree = sum(Path(f).stat().st_size for f in listed.stdout.splitlines() if Path(f).is_file())
carried = sum(f.stat().st_size for f in bundle.iterdir())
print(f"tree {tree / 2**20:.1f} MiB + bundle {carried / 2**20:.1f} MiB = {(tree + carried) / 2**20:.1f} MiB (limit 64)")
assert tree + carried < 64 * 2**20, "the tree and the bundle do not fit in what a lent machine carries"
general = next(m for m in json.loads(Path("models/manifest.json").read_text())["models"] if m["role"] == "general")
student = out / "student.onnx"
data = student.read_bytes()
entry = {**general, "id": "student", "role": "candidate", "architecture": "efficientvit-b1-sam-neck",
         "encoder": {"file": str(student), "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)},
         "decoder": {**general["decoder"], "file": str(Path("models").resolve() / general["decoder"]["file"])}}
entry.pop("decoder_patch", None)
(out / "manifest.json").write_text(json.dumps({"version": 1, "models": [{**entry, "id": "general", "role": "general"}, entry]}))
PYTHON
"$DAFTSEG" --manifest "$OUT/manifest.json" bench --model student --iterations 1
echo "distillation smoke test passed"
