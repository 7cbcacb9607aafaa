"""Synthetic clinical-size CTs for the memory benchmarks (docs/BENCHMARKS.md, "Clinical-size
volumes"): the phantom tests/large_volumes.rs generates (air, a textured soft-tissue body, a
bright round lesion), 512 x 512 x DEPTH int16 HU, written as a gzipped NIfTI-1 and as a DICOM
series (one uncompressed CT file per slice, rescale intercept -1024).

    models/.venv/bin/python scripts/make_large_volumes.py OUT_DIR 300 1200
"""

import gzip
import os
import sys

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

SIZE = 512
LESION = (300.0, 240.0, 600.0, 30.0)  # x, y, z, radius in voxels


def slice_hu(z: int) -> np.ndarray:
    """Slice z as (y, x) int16, the same values as tests/large_volumes.rs's `hu`."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    body = ((x - 256.0) / 220.0) ** 2 + ((y - 256.0) / 160.0) ** 2 <= 1.0
    out = np.full((SIZE, SIZE), -1000, dtype=np.int16)
    out[body] = (40 + (x + 2 * y + 3 * z) % 17 - 8)[body]
    lx, ly, lz, r = LESION
    out[(x - lx) ** 2 + (y - ly) ** 2 + (z - lz) ** 2 <= r * r] = 250
    return out


def write_nifti(path: str, depth: int) -> None:
    header = bytearray(352)
    header[0:4] = np.int32(348).tobytes()
    header[40:56] = np.array([3, SIZE, SIZE, depth, 1, 1, 1, 1], dtype="<i2").tobytes()
    header[70:74] = np.array([4, 16], dtype="<i2").tobytes()
    header[76:92] = np.array([1.0, 0.7, 0.7, 0.8], dtype="<f4").tobytes()
    header[108:112] = np.float32(352).tobytes()
    header[344:348] = b"n+1\0"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(bytes(header))
        for z in range(depth):
            f.write(slice_hu(z).astype("<i2").tobytes())


def write_dicom_series(folder: str, depth: int) -> None:
    os.makedirs(folder, exist_ok=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    for z in range(depth):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.Modality = "CT"
        ds.PatientName = "Phantom^Large"
        ds.PatientID = "LARGE"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.InstanceNumber = z + 1
        ds.ImagePositionPatient = [-179.2, -179.2, 0.8 * z]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.7, 0.7]
        ds.SliceThickness = 0.8
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = SIZE
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.PixelData = (slice_hu(z).astype(np.int32) + 1024).astype("<i2").tobytes()
        pydicom.dcmwrite(os.path.join(folder, f"{z + 1:04d}.dcm"), ds, enforce_file_format=True)


def main() -> None:
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for depth in map(int, sys.argv[2:]):
        write_nifti(os.path.join(out, f"ct_{SIZE}x{SIZE}x{depth}.nii.gz"), depth)
        write_dicom_series(os.path.join(out, f"ct_{SIZE}x{SIZE}x{depth}_dicom"), depth)
        print(f"wrote {depth} slices", flush=True)


if __name__ == "__main__":
    main()
