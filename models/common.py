"""What every step of the models pipeline shares: where things are, file hashes, the daftseg
binary, and the one writer of `models/manifest.json` (it merges entries by id and never drops a
model or a field it was not given)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MODELS = Path(__file__).resolve().parent
ROOT = MODELS.parent
MANIFEST = MODELS / "manifest.json"
CACHE = MODELS / ".cache"


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_ref(path: Path) -> dict:
    """A manifest file reference: path relative to models/, sha256, size."""
    return {"file": path.relative_to(MODELS).as_posix(), "sha256": sha256_file(path), "bytes": path.stat().st_size}


def daftseg_binary() -> str:
    """The release CLI (`bash build.sh cli`): $DAFTSEG, else $CARGO_TARGET_DIR/release/daftseg."""
    return os.environ.get("DAFTSEG", str(Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "daftseg"))


def read_manifest() -> dict:
    return json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {"version": 1, "models": []}


def general_entry(manifest: dict | None = None) -> dict:
    return next(m for m in (manifest or read_manifest())["models"] if m["role"] == "general")


def general_encoder_session():
    """onnxruntime on the general model's shipped encoder.onnx: embeddings exactly as the app
    computes them, for the steps that cache or classify them."""
    import onnxruntime as ort

    return ort.InferenceSession(str(MODELS / general_entry()["encoder"]["file"]), providers=["CPUExecutionProvider"])


def update_manifest(*entries: dict) -> None:
    """Merge entries into the manifest by id: an entry already there keeps its place and any field
    the new one does not set; a new one goes at the end. Nothing else changes."""
    manifest = read_manifest()
    for entry in entries:
        at = next((i for i, m in enumerate(manifest["models"]) if m["id"] == entry["id"]), None)
        if at is None:
            manifest["models"].append(entry)
        else:
            manifest["models"][at] = {**manifest["models"][at], **entry}
        print(f"{MANIFEST.relative_to(ROOT)}: {entry['id']} ({entry['role']}, {', '.join(entry['modalities'])})")
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
