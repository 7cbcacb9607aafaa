//! NRRD files with attached data (raw or gzip), 2D or 3D, scalar or RGB: read into a
//! [`MedicalVolume`] with the geometry of `space`, `space directions` and `space origin`
//! (converted to RAS+ like NIfTI), as 3D Slicer and pyradiomics write them.

use super::{Affine, MedicalVolume, SampleType};
use crate::error::{Error, Result};
use crate::progress::{unobserved, Progress};

fn decode_error(message: impl std::fmt::Display) -> Error {
    Error::Decode(format!("NRRD: {message}"))
}

fn sample_type(name: &str) -> Result<SampleType> {
    Ok(match name.trim() {
        "signed char" | "int8" | "int8_t" => SampleType::I8,
        "uchar" | "unsigned char" | "uint8" | "uint8_t" => SampleType::U8,
        "short" | "short int" | "signed short" | "signed short int" | "int16" | "int16_t" => {
            SampleType::I16
        }
        "ushort" | "unsigned short" | "unsigned short int" | "uint16" | "uint16_t" => {
            SampleType::U16
        }
        "int" | "signed int" | "int32" | "int32_t" => SampleType::I32,
        "uint" | "unsigned int" | "uint32" | "uint32_t" => SampleType::U32,
        "longlong"
        | "long long"
        | "long long int"
        | "signed long long"
        | "signed long long int"
        | "int64"
        | "int64_t" => SampleType::I64,
        "ulonglong" | "unsigned long long" | "unsigned long long int" | "uint64" | "uint64_t" => {
            SampleType::U64
        }
        "float" => SampleType::F32,
        "double" => SampleType::F64,
        other => {
            return Err(decode_error(format!(
                "sample type '{other}' is not supported"
            )))
        }
    })
}

/// `(1,0,0) (0,1,0) none` -> vectors, `None` for "none".
fn vectors(text: &str) -> Result<Vec<Option<Vec<f64>>>> {
    text.split_whitespace()
        .map(|v| {
            if v == "none" {
                return Ok(None);
            }
            let inner = v
                .strip_prefix('(')
                .and_then(|v| v.strip_suffix(')'))
                .ok_or_else(|| decode_error(format!("bad vector '{v}'")))?;
            inner
                .split(',')
                .map(|x| {
                    x.trim()
                        .parse::<f64>()
                        .map_err(|_| decode_error(format!("bad vector '{v}'")))
                })
                .collect::<Result<Vec<_>>>()
                .map(Some)
        })
        .collect()
}

/// An NRRD file (raw or gzip encoding) as a volume in its own voxel order.
pub fn read(file: &[u8]) -> Result<MedicalVolume> {
    read_with(file, &mut unobserved)
}

/// [`read`], telling `progress` (bytes of voxels read, of all) as it goes; `false` cancels.
pub fn read_with(file: &[u8], progress: Progress) -> Result<MedicalVolume> {
    if !file.starts_with(b"NRRD000") {
        return Err(decode_error("not a NRRD file (magic 'NRRD000x' missing)"));
    }
    // The header ends at the first empty line.
    let end = file
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|p| (p, p + 2))
        .or_else(|| {
            file.windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|p| (p, p + 4))
        })
        .ok_or_else(|| {
            decode_error("no end of header (detached headers, .nhdr, are not supported)")
        })?;
    let header =
        std::str::from_utf8(&file[..end.0]).map_err(|_| decode_error("the header is not text"))?;
    let mut fields = std::collections::HashMap::new();
    for line in header.lines().skip(1) {
        if line.starts_with('#') || line.contains(":=") {
            continue;
        }
        if let Some((key, value)) = line.split_once(": ") {
            fields.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let field = |k: &str| fields.get(k).map(String::as_str);
    if field("data file").or(field("datafile")).is_some() {
        return Err(decode_error(
            "detached data files are not supported: save as a single .nrrd",
        ));
    }
    let sample = sample_type(field("type").ok_or_else(|| decode_error("no 'type' field"))?)?;
    let sizes: Vec<usize> = field("sizes")
        .ok_or_else(|| decode_error("no 'sizes' field"))?
        .split_whitespace()
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| decode_error(format!("bad size '{s}'")))
        })
        .collect::<Result<_>>()?;
    let kinds: Vec<String> = field("kinds")
        .map(|k| {
            k.split_whitespace()
                .map(|s| s.to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    // A leading axis of 3 colour samples (kinds RGB-color / vector / 3-color) is the channel axis.
    let colour = sizes.len() >= 3
        && sizes[0] == 3
        && kinds
            .first()
            .is_some_and(|k| ["rgb-color", "3-color", "vector", "3-vector"].contains(&k.as_str()));
    let (channels, spatial) = if colour {
        (3, &sizes[1..])
    } else {
        (1, &sizes[..])
    };
    if !(2..=3).contains(&spatial.len()) {
        return Err(decode_error(format!(
            "{} spatial dimensions: only 2D and 3D are supported",
            spatial.len()
        )));
    }
    let size = [spatial[0], spatial[1], spatial.get(2).copied().unwrap_or(1)];
    let voxels = crate::limits::checked_voxels(&size).map_err(|e| match e {
        Error::InvalidInput(m) => decode_error(m),
        e => e,
    })?;
    let encoding = field("encoding").unwrap_or("raw").to_ascii_lowercase();
    let body = &file[end.1..];
    let big_endian = field("endian").is_some_and(|e| e.eq_ignore_ascii_case("big"));
    let count = voxels * channels;
    crate::limits::checked_array_bytes(
        "the NRRD data",
        &[voxels as u64, channels as u64],
        sample.bytes() as u64,
    )?;
    let data = match encoding.as_str() {
        "raw" => {
            let needed = count * sample.bytes();
            if body.len() < needed {
                return Err(Error::Decode(format!(
                    "the file is truncated: {needed} bytes of voxel data expected, {} present",
                    body.len()
                )));
            }
            sample.read_voxels(body, count, big_endian, None, progress)?
        }
        "gzip" | "gz" => {
            if !body.starts_with(&[0x1f, 0x8b]) {
                return Err(decode_error("the gzip data is corrupt"));
            }
            // Inflated in a stream straight into the volume's storage.
            let stream = flate2::read::MultiGzDecoder::new(body);
            sample.read_voxels(stream, count, big_endian, None, progress)?
        }
        other => {
            return Err(decode_error(format!(
                "encoding '{other}' is not supported (raw and gzip are)"
            )))
        }
    };

    let affine = geometry(
        field("space"),
        field("space directions"),
        field("space origin"),
        field("spacings"),
    )?;
    MedicalVolume::new(size, channels, data, affine, None, "NRRD")
}

fn geometry(
    space: Option<&str>,
    directions: Option<&str>,
    origin: Option<&str>,
    spacings: Option<&str>,
) -> Result<Affine> {
    let mut affine = super::diagonal_affine([1.0; 3]);
    if let Some(directions) = directions {
        // A colour axis has the direction "none" and drops out here.
        let dirs: Vec<Vec<f64>> = vectors(directions)?.into_iter().flatten().collect();
        for (axis, d) in dirs.iter().take(3).enumerate() {
            for (row, values) in affine.iter_mut().take(3).enumerate() {
                values[axis] = d.get(row).copied().unwrap_or(0.0);
            }
        }
        if dirs.len() == 2 {
            affine[2][2] = 1.0;
        }
    } else if let Some(spacings) = spacings {
        for (axis, s) in spacings
            .split_whitespace()
            .filter(|s| *s != "nan")
            .take(3)
            .enumerate()
        {
            affine[axis][axis] = s.parse().unwrap_or(1.0);
        }
    }
    if let Some(origin) = origin {
        if let Some(Some(o)) = vectors(origin)?.into_iter().next() {
            for (row, v) in o.iter().take(3).enumerate() {
                affine[row][3] = *v;
            }
        }
    }
    // NIfTI's world is RAS+; NRRD says which space it uses.
    let space = space.unwrap_or("").to_ascii_lowercase();
    let flip = match space.as_str() {
        "left-posterior-superior" | "lps" | "scanner-xyz" => [true, true, false],
        "left-anterior-superior" | "las" => [true, false, false],
        _ => [false, false, false], // right-anterior-superior, or unknown (kept as is)
    };
    for (values, f) in affine.iter_mut().zip(flip) {
        if f {
            for v in values.iter_mut() {
                *v = -*v;
            }
        }
    }
    Ok(affine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lps_header_gives_ras_affine() {
        let mut file = b"NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\nsizes: 2 2 1\n\
space directions: (0.5,0,0) (0,0.5,0) (0,0,2)\nspace origin: (10,20,30)\nendian: little\nencoding: raw\n\n"
            .to_vec();
        for v in [1i16, -2, 3, -4] {
            file.extend(v.to_le_bytes());
        }
        let v = read(&file).unwrap();
        assert_eq!(v.data.to_f32(), [1.0, -2.0, 3.0, -4.0]);
        assert_eq!(v.affine[0], [-0.5, 0.0, 0.0, -10.0]);
        assert_eq!(v.affine[1], [0.0, -0.5, 0.0, -20.0]);
        assert_eq!(v.affine[2], [0.0, 0.0, 2.0, 30.0]);
        assert!(read(&file[..file.len() - 1])
            .unwrap_err()
            .to_string()
            .contains("truncated"));
    }
}
