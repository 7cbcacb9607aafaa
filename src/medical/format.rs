//! Which reader a file needs, and opening files as one volume: the one-file / series rules.

use crate::error::{Error, Result};
use crate::limits::gunzip_prefix;
use crate::progress::{unobserved, Progress};

use super::{diagonal_affine, dicom, nifti, nrrd, MedicalVolume};

/// Which reader a file needs, from its name and first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolumeFormat {
    /// DICOM (Part 10 file, or a file with a `.dcm` name).
    Dicom,
    /// NIfTI-1 or NIfTI-2 (`.nii`, `.nii.gz`).
    Nifti,
    /// NRRD (`.nrrd`).
    Nrrd,
    /// The challenge's NPZ case.
    Npz,
    /// A gzip-compressed DICOM file (`.dcm.gz`), inflated within the budget and read as DICOM.
    GzipDicom,
}

/// Which reader a file needs, from its first bytes (and its name where they do not tell).
pub fn sniff(name: &str, bytes: &[u8]) -> Option<VolumeFormat> {
    let lower = name.to_ascii_lowercase();
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        return Some(VolumeFormat::Dicom);
    }
    if bytes.starts_with(b"NRRD") {
        return Some(VolumeFormat::Nrrd);
    }
    if bytes.starts_with(b"PK") && lower.ends_with(".npz") {
        return Some(VolumeFormat::Npz);
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        // What the gzip holds decides, whatever the name says.
        let inner = gunzip_prefix(bytes, 544).unwrap_or_default();
        if inner.len() >= 132 && &inner[128..132] == b"DICM" {
            return Some(VolumeFormat::GzipDicom);
        }
        // A damaged .nii.gz still gets the NIfTI reader's error.
        let named = lower.ends_with(".nii.gz");
        return (named || nifti_header_size(&inner)).then_some(VolumeFormat::Nifti);
    }
    if lower.ends_with(".nii") || lower.ends_with(".nii.gz") {
        return Some(VolumeFormat::Nifti);
    }
    if lower.ends_with(".nrrd") {
        return Some(VolumeFormat::Nrrd);
    }
    if lower.ends_with(".dcm") || lower.ends_with(".dicom") || lower.ends_with(".ima") {
        return Some(VolumeFormat::Dicom);
    }
    // A NIfTI header without the usual name.
    nifti_header_size(bytes).then_some(VolumeFormat::Nifti)
}

/// Whether the bytes start with a NIfTI-1 or -2 header size (348 or 540, either byte order).
fn nifti_header_size(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && {
        let n = [bytes[0], bytes[1], bytes[2], bytes[3]];
        [348, 540].contains(&i32::from_le_bytes(n)) || [348, 540].contains(&i32::from_be_bytes(n))
    }
}

/// Opens what a user gave as one volume, in the display orientation: one DICOM, NIfTI, NRRD or
/// challenge NPZ file, or the DICOM files of one series (`(name, bytes)` each). Every frontend
/// opens volumes here, so the one-file / series rules live in one place.
pub fn open_files(files: Vec<(String, Vec<u8>)>) -> Result<MedicalVolume> {
    open_files_with(files, &mut unobserved)
}

/// [`open_files`], telling `progress(done, total)` how far the reading has got (bytes of
/// voxels, or files and slices of a DICOM series); `false` cancels with [`Error::Cancelled`].
pub fn open_files_with(
    mut files: Vec<(String, Vec<u8>)>,
    progress: Progress,
) -> Result<MedicalVolume> {
    match &files[..] {
        [] => Err(Error::invalid("no file to open")),
        // A DICOM file given away is dropped once parsed, not copied.
        [(name, bytes)] if sniff(name, bytes) == Some(VolumeFormat::Dicom) => {
            Ok(dicom::read_series_with(&mut files, progress)?.reoriented())
        }
        [(name, bytes)] => read_volume_with(name, bytes, progress),
        _ => {
            if let Some((name, _)) = files.iter().find(|(n, b)| {
                matches!(
                    sniff(n, b),
                    Some(VolumeFormat::Nifti | VolumeFormat::Nrrd | VolumeFormat::Npz)
                )
            }) {
                return Err(Error::invalid(format!(
                    "{name}: several files open as one DICOM series; open NIfTI, NRRD and NPZ files one at a time"
                )));
            }
            Ok(dicom::read_series_with(&mut files, progress)?.reoriented())
        }
    }
}

/// The DICOM files of one series from a source that gives them one at a time (a folder on
/// disk, the files a page holds), in the display orientation: never the whole series in memory.
pub fn open_series_with(
    files: &mut dyn dicom::SeriesFiles,
    progress: Progress,
) -> Result<MedicalVolume> {
    Ok(dicom::read_series_with(files, progress)?.reoriented())
}

/// Reads one file (a DICOM series is several: see [`open_files`]) into a displayed volume.
pub fn read_volume(name: &str, bytes: &[u8]) -> Result<MedicalVolume> {
    read_volume_with(name, bytes, &mut unobserved)
}

/// [`read_volume`] with `progress` (see [`open_files_with`]).
pub fn read_volume_with(name: &str, bytes: &[u8], progress: Progress) -> Result<MedicalVolume> {
    let volume = match sniff(name, bytes) {
        Some(VolumeFormat::Dicom) => {
            dicom::read_series_with(&mut vec![(name.to_string(), bytes.to_vec())], progress)?
        }
        Some(VolumeFormat::Nifti) => nifti::read_with(bytes, progress)?,
        Some(VolumeFormat::Nrrd) => nrrd::read_with(bytes, progress)?,
        Some(VolumeFormat::Npz) => return npz_volume(bytes),
        Some(VolumeFormat::GzipDicom) => {
            let inflated = crate::limits::read_to_end_capped(
                flate2::read::MultiGzDecoder::new(bytes),
                crate::limits::MAX_DECODED_BYTES,
                name,
            )?;
            dicom::read_series_with(&mut vec![(name.to_string(), inflated)], progress)?
        }
        None => return Err(crate::identify::unreadable(name, bytes)),
    };
    Ok(volume.reoriented())
}

/// A challenge NPZ case as a volume (2D cases are one slice); its voxel order is kept.
fn npz_volume(bytes: &[u8]) -> Result<MedicalVolume> {
    use crate::challenge::{read_case, Case};
    match read_case(bytes)? {
        Case::TwoD(case) => {
            let image = case.image;
            let mut volume = MedicalVolume::new(
                [image.width, image.height, 1],
                3,
                image.data,
                diagonal_affine([1.0; 3]),
                None,
                "NPZ",
            )?;
            volume.boxes = case
                .boxes
                .iter()
                .map(|b| [b[0], b[1], 0, b[2], b[3], 0])
                .collect();
            volume.clicks = case.clicks;
            Ok(volume)
        }
        Case::ThreeD(case) => {
            let v = case.volume;
            let spacing = match case.spacing.as_deref() {
                Some([x, y, z]) => [*x, *y, *z],
                _ => [1.0; 3],
            };
            let mut volume = MedicalVolume::new(
                [v.width, v.height, v.depth],
                1,
                v.data,
                diagonal_affine(spacing),
                None,
                "NPZ",
            )?;
            volume.boxes = case.boxes;
            Ok(volume)
        }
    }
}
