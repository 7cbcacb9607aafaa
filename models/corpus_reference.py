"""What pydicom and nibabel read in every corpus file daftseg opens: tests/corpus/reference.json.

    bash scripts/fetch-corpus.sh && models/.venv/bin/python -m models corpus-reference

The corpus (pydicom's, pydicom-data's and nibabel's test files) is fetched by
scripts/fetch-corpus.sh; tests/corpus/expected.tsv says which files daftseg opens. For each of
those, the reference library's size, channels, modality and sampled values (as
medical_fixtures.py computes them for the reader fixtures), so tests/corpus.rs checks that daftseg
reads the same pixels, not only the same size. A file the reference library cannot decode is
listed with its error.
"""
from __future__ import annotations

import gzip
import json
import math
import tempfile
from pathlib import Path

from .medical_fixtures import dicom_reference, nifti_reference

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
SAMPLES = 40
# Files pydicom reads differently from their own little-endian twin: compared with the twin.
# pydicom 3.0.2 applies the big-endian palettes of these as little-endian (every colour near
# black); the twin, the same image in little endian, shows what the palette means.
TWINS = {
    "pydicom-data/OBXXXX1A_expb.dcm": "pydicom-data/OBXXXX1A.dcm",
    "pydicom-data/OBXXXX1A_expb_2frame.dcm": "pydicom-data/OBXXXX1A_2frame.dcm",
}


def reference(path: Path) -> dict:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b" and not path.name.endswith(".nii.gz"):
        with tempfile.NamedTemporaryFile(suffix=".dcm") as handle:
            handle.write(gzip.decompress(data))
            handle.flush()
            return dicom_reference(Path(handle.name), SAMPLES)
    if path.name.endswith((".nii", ".nii.gz")):
        return nifti_reference(path, SAMPLES)
    return dicom_reference(path, SAMPLES)


def main() -> None:
    files = CORPUS / "files"
    if not (files / "pydicom").is_dir():
        raise SystemExit("run scripts/fetch-corpus.sh first")
    entries = []
    for line in (CORPUS / "expected.tsv").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, native, _ = line.split("\t")
        if not native.startswith("open "):
            continue
        try:
            entry = {"name": name, **reference(files / TWINS.get(name, name))}
            if name in TWINS:
                entry["reference_file"] = TWINS[name]
            # JSON has no NaN: a NaN voxel (float NIfTI files hold them) is written as null.
            entry["values"] = [v if math.isfinite(v) else None for v in entry["values"]]
            for key in ("sum", "min", "max"):
                entry[key] = entry[key] if math.isfinite(entry[key]) else None
        except Exception as error:  # the reference library refuses it: recorded, not compared
            entry = {"name": name, "reference_error": f"{type(error).__name__}: {error}"[:300]}
        entries.append(entry)
        print(name, entry.get("size", entry.get("reference_error")))
    (CORPUS / "reference.json").write_text(json.dumps({"files": entries}, separators=(",", ":")) + "\n")
    print(f"wrote {CORPUS / 'reference.json'} ({len(entries)} files)")


if __name__ == "__main__":
    main()
