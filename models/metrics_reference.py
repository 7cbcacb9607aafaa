"""The Python reference of daftseg's DSC/NSD, and the committed metric test cases.

    models/.venv/bin/python -m models metrics-reference

`score_case` follows the CVPR24 challenge's compute_metrics.py line by line (DeepMind's
surface-distance for the surfaces; 2D cases as volumes of depth 1 with spacing 1; NSD 0 when the
case DSC <= 0.2; means over the ground truth's labels). Writes tests/fixtures/metrics/{gt,pred}/*.npz
(real masks from registry packages and daftseg's golden predictions, plus synthetic 3D cases with
anisotropic spacing) and expected.json with both spacing conventions:
  "physical":  spacing reordered to the array axes (stored x,y,z -> arrays z,y,x), daftseg's default;
  "challenge": spacing passed as stored, what compute_metrics.py literally does.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from surface_distance import compute_surface_distances, compute_surface_dice_at_tolerance

from . import fixtures

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "metrics"


def dice(gt: np.ndarray, seg: np.ndarray) -> float:
    volume_sum = gt.sum() + seg.sum()
    if volume_sum == 0:
        return float("nan")
    return float(2 * (gt & seg).sum() / volume_sum)


def score_case(gts: np.ndarray, segs: np.ndarray, spacing, tolerance: float = 2.0):
    """compute_metrics.py: 2D -> expand to (H, W, 1) with spacing [1, 1, 1]."""
    if gts.ndim == 2:
        gts, segs, spacing = gts[..., None], segs[..., None], [1.0, 1.0, 1.0]
    labels = np.unique(gts)[1:]
    dsc = float(np.mean([dice(gts == i, segs == i) for i in labels])) if len(labels) else float("nan")
    if dsc > 0.2:
        nsd = float(np.mean([
            compute_surface_dice_at_tolerance(compute_surface_distances(gts == i, segs == i, spacing), tolerance)
            for i in labels
        ]))
    else:
        nsd = 0.0
    return dsc, nsd


def ellipsoid(shape, centre, radii) -> np.ndarray:
    grid = np.indices(shape).astype(np.float64)
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) <= 1.0


def build() -> dict:
    import nrrd
    import tifffile

    cases = {}
    golden = ROOT / "tests" / "fixtures" / "golden"
    pyrad, data = "pyradiomics==3.1.0", "pyradiomics-3.1.0/data"

    _, tumour = fixtures.nrrd_slice((pyrad, f"{data}/lung2_image.nrrd"), (pyrad, f"{data}/lung2_label.nrrd"))
    segs = np.load(golden / "ct_lung.npz")["segs"]
    cases["2DBox_CT_lung_tumour"] = (tumour.astype(np.uint8), (segs == 2).astype(np.uint8), None)

    _, lesion = fixtures.nrrd_slice((pyrad, f"{data}/breast1_image.nrrd"), (pyrad, f"{data}/breast1_label.nrrd"))
    segs = np.load(golden / "mr_breast_tiny.npz")["segs"]
    cases["2DBox_MR_breast_lesion"] = (lesion.astype(np.uint8), segs.astype(np.uint8), None)

    labels = tifffile.imread(fixtures.sources.get("stardist==0.9.2", "stardist/data/images/mask2d.tif"))
    ids = [i for i in np.unique(labels) if i and (labels == i).sum() > 80][:3]
    gts = np.zeros(labels.shape, np.uint8)
    for n, i in enumerate(ids, start=1):
        gts[labels == i] = n
    segs = np.load(golden / "microscopy_nuclei.npz")["segs"].astype(np.uint8)
    cases["2DBox_Microscopy_nuclei"] = (gts, segs, None)
    cases["2DBox_US_missed"] = (gts, np.zeros_like(gts), None)

    # 3D: the pyradiomics brain tumour label (z, y, x) against an eroded and shifted copy, with
    # the volume's own spacing (x, y, z as the challenge stores it).
    label, header = nrrd.read(str(fixtures.sources.get(pyrad, f"{data}/brain1_label.nrrd")))
    gts = (label > 0).transpose(2, 1, 0).astype(np.uint8)
    spacing_xyz = [float(np.linalg.norm(v)) for v in header["space directions"]]
    from scipy import ndimage

    pred = ndimage.binary_erosion(gts, iterations=1)
    pred = np.roll(pred, 2, axis=2).astype(np.uint8)
    cases["3DBox_MR_brain_tumour"] = (gts, pred, spacing_xyz)

    # Synthetic multi-label 3D with strongly anisotropic spacing.
    shape = (12, 40, 48)
    gts = np.zeros(shape, np.uint8)
    gts[ellipsoid(shape, (6, 14, 16), (4, 8, 10))] = 1
    gts[ellipsoid(shape, (5, 28, 32), (3, 6, 9))] = 2
    pred = np.zeros(shape, np.uint8)
    pred[ellipsoid(shape, (6, 15, 17), (4, 7, 11))] = 1
    pred[ellipsoid(shape, (6, 27, 30), (3, 6, 8))] = 2
    cases["3DBox_CT_synthetic"] = (gts, pred, [0.7, 0.9, 2.5])
    low = np.zeros(shape, np.uint8)
    low[ellipsoid(shape, (6, 30, 10), (2, 4, 4))] = 1
    cases["3DBox_PET_poor"] = (gts, low, [2.0, 2.0, 3.0])
    return cases


def main() -> None:
    (OUT / "gt").mkdir(parents=True, exist_ok=True)
    (OUT / "pred").mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (gts, segs, spacing) in build().items():
        gt_arrays = {"gts": gts}
        if spacing is not None:
            gt_arrays["spacing"] = np.asarray(spacing, np.float64)
        np.savez_compressed(OUT / "gt" / f"{name}.npz", **gt_arrays)
        np.savez_compressed(OUT / "pred" / f"{name}.npz", segs=segs)
        physical = spacing[::-1] if spacing is not None else None
        dsc, nsd = score_case(gts, segs, physical)
        dsc_c, nsd_c = score_case(gts, segs, spacing)
        expected[name] = {"physical": {"dsc": dsc, "nsd": nsd}, "challenge": {"dsc": dsc_c, "nsd": nsd_c}}
        print(f"{name}: DSC {dsc:.4f} NSD {nsd:.4f} (challenge spacing: NSD {nsd_c:.4f})")
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
