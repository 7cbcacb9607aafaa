"""Checks a DICOM SEG written by daftseg with tools daftseg shares no code with.

    python validate.py SEG.dcm LABELS.nii.gz SERIES_DIR NAMES_JSON

LABELS.nii.gz is daftseg's NIfTI export of the same labels (the source's voxel order and
affine); SERIES_DIR the DICOM series the SEG was made over; NAMES_JSON the segment labels in
order. Exits non-zero, saying why, when:
- dicom3tools' dciodvfy reports an error in the SEG (warnings are printed, not failures);
- highdicom, reading the SEG, finds other segments, or masks that differ from the NIfTI's labels
  on any source image, or frames not placed on the source image they reference;
- dcmqi's segimage2itkimage, converting the SEG back to NIfTI, gives a volume that differs from
  ours voxel for voxel where they overlap, or misses a labelled voxel of ours.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def dciodvfy(seg_path, images):
    """Errors fail, except an invalid UID the SEG must repeat because the source has it (an
    anonymiser's "0.0.0.0..." root): those are the source's, and dciodvfy reports them there."""
    source_uids = set()
    for d in images:
        for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
            if keyword in d:
                source_uids.add(str(d.get(keyword)))
    run = subprocess.run(["dciodvfy", str(seg_path)], capture_output=True, text=True)
    lines = (run.stdout + run.stderr).splitlines()
    errors, inherited = [], 0
    for line in lines:
        print(f"dciodvfy: {line}")
        if line.startswith("Error"):
            quoted = line.split('"')[1] if line.count('"') >= 2 else None
            if line.startswith("Error - Illegal root for UID") and quoted in source_uids:
                inherited += 1
            else:
                errors.append(line)
    if errors:
        fail(f"dciodvfy reports {len(errors)} error(s): {errors}")
    print(f"dciodvfy: no error ({len(lines)} lines; {inherited} about the source's own UIDs)")


def source_series(series_dir):
    """The series' images sorted along the slice normal, as daftseg sorts them."""
    images = [pydicom.dcmread(p) for p in sorted(Path(series_dir).iterdir())]
    row, col = np.array(images[0].ImageOrientationPatient, float).reshape(2, 3)
    normal = np.cross(row, col)
    images.sort(key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, float), normal)))
    return images


def highdicom_check(seg_path, ours, affine, images, names):
    seg = hd.seg.segread(seg_path)
    described = [seg.get_segment_description(n).segment_label for n in seg.segment_numbers]
    if described != names:
        fail(f"highdicom reads the segments {described}, expected {names}")
    uids = [d.SOPInstanceUID for d in images]
    referenced = {uid for _, _, uid in seg.get_source_image_uids()}
    referenced = {uid for uid in referenced if uid in uids}
    # Every source image, in the series' order: the SEG's mask (0 where it has no frame).
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[u for u in uids if u in referenced],
        combine_segments=True,
        skip_overlap_checks=True,
    )
    masks = dict(zip([u for u in uids if u in referenced], pixels))
    compared = 0
    for k, image in enumerate(images):
        theirs = masks.get(image.SOPInstanceUID, np.zeros((image.Rows, image.Columns)))
        # NIfTI data is (x = column, y = row, z = slice).
        mine = ours[:, :, k].T
        if not np.array_equal(theirs.astype(np.int64), mine.astype(np.int64)):
            diff = int((theirs != mine).sum())
            fail(f"highdicom's mask on source image {k} differs from the NIfTI in {diff} pixels")
        compared += int((mine > 0).sum())
    # Geometry: each frame lies where its source image lies, and the NIfTI's affine puts slice k
    # there too (RAS <-> LPS).
    dataset = pydicom.dcmread(seg_path)
    by_uid = {d.SOPInstanceUID: k for k, d in enumerate(images)}
    for f, frame in enumerate(dataset.PerFrameFunctionalGroupsSequence):
        source = frame.DerivationImageSequence[0].SourceImageSequence[0]
        k = by_uid[source.ReferencedSOPInstanceUID]
        position = np.array(frame.PlanePositionSequence[0].ImagePositionPatient, float)
        if not np.allclose(position, np.array(images[k].ImagePositionPatient, float), atol=1e-4):
            fail(f"frame {f + 1} is at {position}, its source image at {images[k].ImagePositionPatient}")
        # A NIfTI has one slice step; a real series' positions may stray from it by a little
        # (0.04 mm in the MR series), which the SEG keeps exactly.
        ras = affine @ np.array([0, 0, k, 1.0])
        lps = np.array([-ras[0], -ras[1], ras[2]])
        if not np.allclose(position, lps, atol=0.1):
            fail(f"frame {f + 1} is at {position}, the NIfTI puts slice {k} at LPS {lps}")
    shared = dataset.SharedFunctionalGroupsSequence[0]
    orientation = np.array(shared.PlaneOrientationSequence[0].ImageOrientationPatient, float)
    if not np.allclose(orientation, np.array(images[0].ImageOrientationPatient, float), atol=1e-6):
        fail(f"the SEG's orientation {orientation} is not the series'")
    spacing = np.array(shared.PixelMeasuresSequence[0].PixelSpacing, float)
    if not np.allclose(spacing, np.array(images[0].PixelSpacing, float), atol=1e-6):
        fail(f"the SEG's pixel spacing {spacing} is not the series'")
    # A series without a frame of reference (this anonymised one) gets a new one.
    source_frame = images[0].get("FrameOfReferenceUID")
    if source_frame is not None and dataset.FrameOfReferenceUID != source_frame:
        fail("the SEG's frame of reference is not the series'")
    if dataset.StudyInstanceUID != images[0].StudyInstanceUID:
        fail("the SEG is not in the series' study")
    print(f"highdicom: {len(names)} segments, {compared} labelled pixels equal on {len(images)} source images")


def dcmqi_check(seg_path, ours, affine):
    with tempfile.TemporaryDirectory() as out:
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "segimage2itkimage"),
                "--inputDICOM", str(seg_path),
                "--outputDirectory", out,
                "--outputType", "nifti",
            ],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            fail(f"segimage2itkimage failed: {run.stdout}{run.stderr}")
        meta = json.loads((Path(out) / "meta.json").read_text())
        files = sorted(Path(out).glob("*.nii*"), key=lambda p: p.name)
        if not files:
            fail(f"segimage2itkimage wrote no image: {run.stdout}")
        # Each file: one segment (or several without overlap), labelled by segment number.
        theirs_in_ours = np.zeros(ours.shape, np.int64)
        for path in files:
            image = nib.load(path)
            data = np.asarray(image.dataobj).astype(np.int64)
            if data.ndim == 4:
                data = data[..., 0]
            # Their voxel (i, j, k) in our grid: the same voxels, up to how each tool takes the
            # slice step (dcmqi: the plane normal times the spacing; the NIfTI: the first to the
            # last slice's positions, which in the MR series stray 0.004 voxels a slice from the
            # normal). Every voxel must land within a tenth of a voxel of one of ours.
            to_ours = np.linalg.inv(affine) @ image.affine
            if not np.allclose(to_ours[:3, :3], np.eye(3), atol=0.01):
                fail(f"{path.name}: dcmqi's grid is not ours ({to_ours[:3, :3]})")
            ijk = np.array(np.nonzero(data))
            xyz = to_ours[:3, :3] @ ijk + to_ours[:3, 3:4]
            if ijk.size and np.abs(xyz - np.round(xyz)).max() > 0.1:
                fail(f"{path.name}: dcmqi's voxels fall between ours ({np.abs(xyz - np.round(xyz)).max()})")
            xyz = np.round(xyz).astype(int)
            inside = np.all((xyz >= 0) & (xyz < np.array(ours.shape)[:, None]), axis=0)
            if not inside.all():
                fail(f"{path.name}: {int((~inside).sum())} labelled voxels outside our volume")
            theirs_in_ours[tuple(xyz)] = data[tuple(ijk)]
        labels = [int(s["labelID"]) for group in meta["segmentAttributes"] for s in group]
        if sorted(np.unique(theirs_in_ours[theirs_in_ours > 0]).tolist()) != sorted(labels):
            fail(f"dcmqi's labels {np.unique(theirs_in_ours)} are not its segments {labels}")
        if not np.array_equal(theirs_in_ours, ours.astype(np.int64)):
            fail(f"dcmqi's volume differs from ours in {int((theirs_in_ours != ours).sum())} voxels")
        print(f"dcmqi: {len(files)} file(s), every voxel equal to ours ({int((ours > 0).sum())} labelled)")


def main():
    seg_path, nifti_path, series_dir, names_path = sys.argv[1:5]
    names = json.loads(Path(names_path).read_text())
    nifti = nib.load(nifti_path)
    ours = np.asarray(nifti.dataobj)
    images = source_series(series_dir)
    dciodvfy(seg_path, images)
    highdicom_check(seg_path, ours, nifti.affine, images, names)
    dcmqi_check(seg_path, ours, nifti.affine)
    print("OK")


if __name__ == "__main__":
    main()
