"""Build daftseg's real evaluation set in the CVPR24 challenge's NPZ format.

    models/.venv/bin/python -m models eval-set [--out models/.cache/eval]

From labelled images that ship inside registry packages (sha256 of every input in
models/sources.lock): pyradiomics 3.1.0's CT lung tumours (lung1, lung2) and MR brain tumours
(brain1, brain2) and breast lesion (breast1), NRRD volumes with labels; stardist 0.9.2's 2D
fluorescence nuclei (125 labelled nuclei).

2D cases (`2DBox_<Modality>_<source>_z<slice>.npz`): every axial slice whose label has at least 20
pixels; `imgs` HxWx3 uint8 (CT: lung window W1500/L-600 for the lung tumours; MR: 0.5-99.5
percentile window over the volume, as the challenge preprocessed its data), `boxes` the label's
bounding box `[x_min, y_min, x_max, y_max]` (1x4), `gts` the label. The microscopy image is one case
with one box per nucleus (labels 1..N). 3D cases (propagation) come with the 3D segmentation.

Also writes `split.json`: train / held-out by patient (volume), for fine-tuning: lung1, brain1 and
the top half of the microscopy image train; lung2, brain2, breast1 and the bottom half are held out.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .. import fixtures
from .. import sources

PYRAD, DATA = "pyradiomics==3.1.0", "pyradiomics-3.1.0/data"
VOLUMES = [
    ("lung1", "CT"), ("lung2", "CT"), ("brain1", "MR"), ("brain2", "MR"), ("breast1", "MR"),
]
SPLIT = {
    "train": ["lung1", "brain1", "stardist_top"],
    "heldout": ["lung2", "brain2", "breast1", "stardist_bottom", "stardist3d"],
}
MIN_PIXELS = 20


def to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[:, :, None], 3, axis=-1)


def load_volume(name: str, modality: str):
    """A pyradiomics volume windowed to uint8 (CT: lung window; MR: 0.5-99.5 percentiles of the
    volume), its label and its NRRD header; arrays in pynrrd's (x, y, z) order."""
    import nrrd

    image, header = nrrd.read(str(sources.get(PYRAD, f"{DATA}/{name}_image.nrrd")))
    label, _ = nrrd.read(str(sources.get(PYRAD, f"{DATA}/{name}_label.nrrd")))
    windowed = fixtures.window(image, -600, 1500) if modality == "CT" else fixtures.percentile_window(image)
    return windowed, label, header


def volume_cases(name: str, modality: str):
    windowed, label, _ = load_volume(name, modality)
    for z in range(windowed.shape[2]):
        mask = (label[:, :, z] > 0).T
        if mask.sum() < MIN_PIXELS:
            continue
        yield f"2DBox_{modality}_{name}_z{z:03d}", {
            "imgs": to_rgb(windowed[:, :, z].T),
            "boxes": np.asarray([fixtures.bbox(mask)], np.int64),
            "gts": mask.astype(np.uint8),
        }


def volume_case_3d(name: str, modality: str):
    """The whole volume as one 3D case: one 3D box (the label's bounding box), spacing x,y,z."""
    windowed, label, header = load_volume(name, modality)
    volume = np.ascontiguousarray(windowed.transpose(2, 1, 0))  # (z, y, x)
    gts = (label > 0).transpose(2, 1, 0).astype(np.uint8)
    z, y, x = np.nonzero(gts)
    box = [x.min(), y.min(), z.min(), x.max(), y.max(), z.max()]
    spacing = [float(np.linalg.norm(v)) for v in header["space directions"]]
    return f"3DBox_{modality}_{name}", {
        "imgs": volume, "boxes": np.asarray([box], np.int64), "gts": gts, "spacing": np.asarray(spacing),
    }


def microscopy_case_3d():
    """stardist's 3D nuclei: one 3D box per nucleus (labels 1..N); spacing unknown, so 1,1,1."""
    import tifffile

    image = tifffile.imread(sources.get("stardist==0.9.2", "stardist/data/images/img3d.tif"))
    labels = tifffile.imread(sources.get("stardist==0.9.2", "stardist/data/images/mask3d.tif"))
    volume = fixtures.to_uint8(image.astype(np.uint16))
    ids = [i for i in np.unique(labels) if i and (labels == i).sum() >= MIN_PIXELS]
    gts = np.zeros(labels.shape, np.uint16)
    boxes = []
    for n, i in enumerate(ids, start=1):
        gts[labels == i] = n
        z, y, x = np.nonzero(labels == i)
        boxes.append([x.min(), y.min(), z.min(), x.max(), y.max(), z.max()])
    return "3DBox_Microscopy_stardist3d", {
        "imgs": volume, "boxes": np.asarray(boxes, np.int64), "gts": gts, "spacing": np.asarray([1.0, 1.0, 1.0]),
    }


def microscopy_cases():
    import tifffile

    image = tifffile.imread(sources.get("stardist==0.9.2", "stardist/data/images/img2d.tif"))
    labels = tifffile.imread(sources.get("stardist==0.9.2", "stardist/data/images/mask2d.tif"))
    grey = fixtures.to_uint8(image.astype(np.uint16))
    half = image.shape[0] // 2
    for part, rows in (("top", slice(0, half)), ("bottom", slice(half, None))):
        part_labels = labels[rows]
        ids = [i for i in np.unique(part_labels) if i and (part_labels == i).sum() >= MIN_PIXELS]
        gts = np.zeros(part_labels.shape, np.uint16)
        boxes = []
        for n, i in enumerate(ids, start=1):
            gts[part_labels == i] = n
            boxes.append(fixtures.bbox(part_labels == i))
        yield f"2DBox_Microscopy_stardist_{part}", {
            "imgs": to_rgb(grey[rows]),
            "boxes": np.asarray(boxes, np.int64),
            "gts": gts,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / ".cache" / "eval"))
    args = parser.parse_args()
    out = Path(args.out)
    (out / "imgs").mkdir(parents=True, exist_ok=True)
    (out / "gts").mkdir(parents=True, exist_ok=True)
    count = 0
    cases = [c for name, modality in VOLUMES for c in volume_cases(name, modality)] + list(microscopy_cases())
    cases += [volume_case_3d(name, modality) for name, modality in VOLUMES] + [microscopy_case_3d()]
    for case, arrays in cases:
        # The input file carries imgs and boxes (what a method sees); the ground truth gts (and the
        # spacing, for 3D) goes to gts/.
        extra = {"spacing": arrays["spacing"]} if "spacing" in arrays else {}
        np.savez_compressed(out / "imgs" / f"{case}.npz", imgs=arrays["imgs"], boxes=arrays["boxes"], **extra)
        np.savez_compressed(out / "gts" / f"{case}.npz", gts=arrays["gts"], **extra)
        count += 1
    split = {part: sorted(c for c, _ in cases if any(f"_{s}" in c for s in sources_of)) for part, sources_of in SPLIT.items()}
    (out / "split.json").write_text(json.dumps(split, indent=1) + "\n")
    print(f"wrote {count} cases to {out} (train {len(split['train'])}, held-out {len(split['heldout'])})")


if __name__ == "__main__":
    main()
