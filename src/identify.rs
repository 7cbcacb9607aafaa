//! What a file is when none of daftseg's readers takes it. A user who drops a FreeSurfer `.mgz`
//! or a tractography file should learn what they gave and what to do with it, not "unrecognised
//! format". Named from the first bytes (magic numbers), and from the name only where a format
//! has no magic (PAR/REC, AFNI BRIK).

use crate::error::Error;

/// Every format daftseg opens, for messages.
pub const READABLE: &str =
    "DICOM, NIfTI (.nii, .nii.gz), NRRD, challenge NPZ cases, PNG, JPEG, BMP and TIFF";

/// How to convert a file nibabel reads (MINC, MGH, Analyze, two-file NIfTI, ...) to NIfTI.
pub(crate) fn nibabel_command(input: &str) -> String {
    format!("python -c \"import nibabel as nib; nib.save(nib.load('{input}'), 'image.nii.gz')\"")
}

const AFNI: &str = "part of an AFNI BRIK/HEAD pair, which daftseg does not read; convert it to NIfTI first, with AFNI's 3dAFNItoNIFTI or nibabel";

/// The refusal for a file no reader takes: what it is (when its bytes or name tell) and what to
/// do with it.
pub fn unreadable(name: &str, bytes: &[u8]) -> Error {
    let what = identify(name, bytes);
    Error::Decode(format!("{name}: {what}"))
}

/// A sentence saying what the file is and, where there is one, how to get an image from it.
fn identify(name: &str, bytes: &[u8]) -> String {
    let lower = name.to_ascii_lowercase();
    let to_nifti = |format: &str| {
        format!(
            "{format} file, which daftseg does not read; convert it to NIfTI first, for example with nibabel: {}",
            nibabel_command(name)
        )
    };
    let not_an_image = |format: &str| {
        format!("{format} file: it holds no image to segment (daftseg reads {READABLE})")
    };
    if bytes.is_empty() {
        return "the file is empty".to_string();
    }
    if bytes.starts_with(b"CDF\x01") || bytes.starts_with(b"CDF\x02") {
        return to_nifti("a MINC-1 (NetCDF)");
    }
    if bytes.starts_with(b"\x89HDF\r\n\x1a\n") {
        return to_nifti("a MINC-2 (HDF5)");
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return identify_gzip(name, &lower, bytes);
    }
    if bytes.starts_with(b"BZh") {
        return format!(
            "bzip2-compressed data: decompress it first (bunzip2 {name}), then open what it holds"
        );
    }
    if bytes.starts_with(&[0, 0, 0, 1]) && lower.ends_with(".mgh") {
        return to_nifti("a FreeSurfer MGH");
    }
    if bytes.starts_with(b"MATRIX7") {
        return to_nifti("an ECAT 7 (PET)");
    }
    if bytes.starts_with(b"SV10") {
        return not_an_image("a Siemens CSA header (private DICOM data)");
    }
    if bytes.starts_with(b"TRACK") {
        return not_an_image("a TrackVis tractography (.trk)");
    }
    if bytes.starts_with(b"mrtrix tracks") {
        return not_an_image("an MRtrix tractography (.tck)");
    }
    if lower.ends_with(".par") || bytes.starts_with(b"# === DATA DESCRIPTION FILE") {
        return format!(
            "a Philips PAR/REC header, which daftseg does not read; convert the PAR/REC pair to NIfTI first, with dcm2niix or nibabel's parrec2nii ({name})"
        );
    }
    if lower.ends_with(".rec") {
        return "the image data of a Philips PAR/REC pair, which daftseg does not read; convert the pair to NIfTI first, with dcm2niix or nibabel's parrec2nii".to_string();
    }
    if lower.ends_with(".head") || lower.ends_with(".brik") {
        return AFNI.to_string();
    }
    if let Ok(format) = image::guess_format(bytes) {
        // PNG, JPEG, BMP and TIFF are decoded before this is asked.
        return format!(
            "a {format:?} image, which daftseg does not read; save it as PNG first (daftseg reads {READABLE})"
        );
    }
    if bytes.len() >= 40 && &bytes[36..40] == b"acsp" {
        return not_an_image("an ICC colour profile");
    }
    let head = &bytes[..bytes.len().min(4096)];
    let text = match std::str::from_utf8(head) {
        Ok(text) => Some(text),
        // A multi-byte character cut by the end of the prefix is still text.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    if let Some(text) = text.filter(|t| !t.contains('\0')) {
        let start = text.trim_start();
        if (start.starts_with("<?xml") && text.contains("<GIFTI")) || lower.ends_with(".gii") {
            return not_an_image("a GIFTI surface or surface-data");
        }
        if start.starts_with('{') || start.starts_with('[') {
            return not_an_image("a JSON text");
        }
        return not_an_image("a text");
    }
    let first: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!(
        "not a format daftseg reads (its first bytes are {}); daftseg reads {READABLE}",
        first.join(" ")
    )
}

/// A gzip file whose content is not one we read (a `.nii.gz` or a gzipped DICOM is opened
/// before this is asked).
fn identify_gzip(name: &str, lower: &str, bytes: &[u8]) -> String {
    let inner = crate::limits::gunzip_prefix(bytes, 64).unwrap_or_default();
    if lower.ends_with(".mgz") || inner.starts_with(&[0, 0, 0, 1]) && lower.ends_with(".gz") {
        return format!(
            "a FreeSurfer MGZ file, which daftseg does not read; convert it to NIfTI first, with FreeSurfer's mri_convert {name} image.nii.gz, or nibabel"
        );
    }
    if lower.ends_with(".brik.gz") {
        return AFNI.to_string();
    }
    let stem = name.strip_suffix(".gz").unwrap_or(name);
    format!(
        "gzip-compressed data that is neither DICOM nor NIfTI; decompress it first (gunzip {name}) and open {stem} if it is an image daftseg reads ({READABLE})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(name: &str, bytes: &[u8]) -> String {
        unreadable(name, bytes).to_string()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn formats_we_do_not_read_are_named_with_what_to_do() {
        let minc = said("brain.mnc", b"CDF\x01\0\0\0\0");
        assert!(
            minc.contains("MINC-1") && minc.contains("nibabel"),
            "{minc}"
        );
        assert!(said("x.mnc", b"\x89HDF\r\n\x1a\n\0").contains("MINC-2"));
        let mgz = said("T1.mgz", &gzip(&[0, 0, 0, 1, 0, 0, 1, 0]));
        assert!(
            mgz.contains("FreeSurfer MGZ") && mgz.contains("mri_convert T1.mgz"),
            "{mgz}"
        );
        assert!(said("a.trk", b"TRACK\0\0\0").contains("TrackVis"));
        assert!(said("a.tck", b"mrtrix tracks\n").contains("no image"));
        assert!(said("scan.PAR", b"# === DATA DESCRIPTION FILE ===").contains("dcm2niix"));
        assert!(said("x+orig.HEAD", b"\ntype = string-attribute").contains("AFNI"));
        assert!(said("surf.gii", b"<?xml version=\"1.0\"?><GIFTI>").contains("GIFTI"));
        assert!(said("x.json", b"  {\"a\": 1}").contains("JSON"));
        assert!(said("x.bz2", b"BZh91AY").contains("bunzip2 x.bz2"));
        assert!(said("a.gif", b"GIF89a\x01\0").contains("Gif image"));
        let gz = said("notes.txt.gz", &gzip(b"hello"));
        assert!(
            gz.contains("gunzip notes.txt.gz") && gz.contains("open notes.txt"),
            "{gz}"
        );
        assert_eq!(said("e", b""), "cannot read image: e: the file is empty");
        let unknown = said("x.bin", &[0xde, 0xad, 0xbe, 0xef, 0, 1]);
        assert!(unknown.contains("de ad be ef 00 01") && unknown.contains("DICOM, NIfTI"));
    }
}
