"""tests/fixtures/medical/measurements_reference.json: object measurements computed by numpy
(float64 sums, population SD) on test fixtures, for daftseg's `measure` to agree with.

- The CT series fixture, read by pydicom (sorted by position, rescaled to HU). Objects: label 1 is
  PyTorch's 3D propagation of the tumour box (`ct_lung1_series_reference.npz` segs), label 2 the
  ground-truth tumour voxels outside it (`gts`).
- The ct_lung PNG with PyTorch's two masks (`golden/ct_lung_segs.png`), in pixels.

Run from the repository root: `models/.venv/bin/python -m models measure-reference`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

FIXTURES = Path("tests/fixtures")
OUT = FIXTURES / "medical/measurements_reference.json"


def rows(values: np.ndarray, labels: np.ndarray, spacing: tuple[float, float, float], per_slice: bool) -> list[dict]:
    """Per label: the 3D row, then one row per slice it touches (volumes)."""
    sx, sy, sz = spacing
    out = []

    def row(label: int, slice_: int | None, mask: np.ndarray, vals: np.ndarray, z_offset: int) -> dict:
        zz, yy, xx = np.nonzero(mask)
        v = vals[mask].astype(np.float64)
        n = int(mask.sum())
        return {
            "label": label, "slice": slice_, "voxels": n,
            "area_mm2": n * sx * sy if (slice_ is not None or not per_slice) else None,
            "volume_ml": n * sx * sy * sz / 1000.0 if slice_ is None else None,
            "mean": float(v.mean()), "sd": float(v.std()), "min": float(v.min()), "max": float(v.max()),
            "bbox": [int(xx.min()), int(yy.min()), int(zz.min()) + z_offset, int(xx.max()), int(yy.max()), int(zz.max()) + z_offset],
        }

    for label in sorted(int(l) for l in np.unique(labels) if l != 0):
        out.append(row(label, None, labels == label, values, 0))
        if per_slice:
            for z in range(labels.shape[0]):
                mask = labels[z : z + 1] == label
                if mask.any():
                    out.append(row(label, z, mask, values[z : z + 1], z))
    return out


def ct_series() -> dict:
    import pydicom

    folder = FIXTURES / "medical/ct_lung1_series"
    slices = [pydicom.dcmread(p) for p in sorted(folder.iterdir())]
    slices.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    hu = np.stack([ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in slices])
    reference = np.load(FIXTURES / "medical/ct_lung1_series_reference.npz")
    labels = reference["segs"].astype(np.uint16)
    labels[(reference["gts"] > 0) & (labels == 0)] = 2
    ds = slices[0]
    dz = abs(float(slices[1].ImagePositionPatient[2]) - float(slices[0].ImagePositionPatient[2]))
    # PixelSpacing is (row spacing = y, column spacing = x).
    spacing = (float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0]), dz)
    return {"name": "ct_lung1_series", "unit": "HU", "spacing": spacing, "rows": rows(hu, labels, spacing, per_slice=True)}


def ct_png() -> dict:
    from PIL import Image

    case = next(c for c in json.loads((FIXTURES / "cases.json").read_text()) if c["name"] == "ct_lung")
    grey = np.asarray(Image.open(FIXTURES / case["image"]).convert("L"), np.float64)[None]
    labels = np.asarray(Image.open(FIXTURES / "golden/ct_lung_segs.png"), np.uint16)[None]
    return {"name": "ct_lung", "image": case["image"], "labels": "golden/ct_lung_segs.png", "unit": "",
            "rows": rows(grey, labels, (1.0, 1.0, 1.0), per_slice=False)}


def main() -> None:
    OUT.write_text(json.dumps({"made_by": "models/measure_reference.py (numpy float64, population SD)",
                               "studies": [ct_series(), ct_png()]}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
