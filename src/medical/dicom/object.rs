//! A file's bytes to a dicom-rs object: the preamble, the length walk ([`super::lengths`]) before
//! dicom-rs allocates anything, and elements stored as UN re-read with their dictionary VR.
//! Errors about a file name it and say "DICOM".

use std::io::Cursor;

use dicom_core::Tag;
use dicom_object::{InMemDicomObject, OpenFileOptions};

use crate::error::{Error, Result};

pub(super) type Object = dicom_object::FileDicomObject<InMemDicomObject>;

pub(super) fn error(name: &str, message: impl std::fmt::Display) -> Error {
    Error::Decode(format!("{name}: DICOM: {message}"))
}

pub(super) fn parse(name: &str, bytes: &[u8]) -> Result<Object> {
    // Files start with a 128-byte preamble; dicom-rs reads from the "DICM" magic on.
    let body = if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        &bytes[128..]
    } else if bytes.starts_with(b"DICM") {
        bytes
    } else {
        return Err(error(
            name,
            format!("no DICOM file header ('DICM' at byte 128): a raw data set without a file meta group, which daftseg does not read; dcmtk's dcmconv {name} fixed.dcm writes one, then open fixed.dcm"),
        ));
    };
    let meta_length = super::lengths::check(name, body)?;
    let fixed = super::lengths::with_meta_group_length(body, meta_length);
    OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Never)
        .from_reader(Cursor::new(fixed.as_deref().unwrap_or(body)))
        .map_err(|e| error(name, format!("cannot parse its header: {}", causes(&e))))
}

/// Elements an explicit-VR file stored as UN (unknown) re-read with the dictionary's VR, as
/// pydicom does: a Modality or Rescale Intercept stored as UN is otherwise bytes, not text or
/// numbers, and the pixels come out unscaled.
pub(super) fn normalise(obj: &mut Object) {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    use dicom_core::header::Header;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    let unknown: Vec<(Tag, VR)> = obj
        .iter()
        .filter(|e| e.vr() == VR::UN)
        .filter_map(|e| {
            let entry = dicom_dictionary_std::StandardDataDictionary.by_tag(e.tag())?;
            Some((e.tag(), entry.vr().relaxed()))
        })
        .collect();
    for (tag, vr) in unknown {
        let Some(bytes) = obj
            .element(tag)
            .ok()
            .and_then(|e| e.value().to_bytes().ok())
            .map(|b| b.into_owned())
        else {
            continue;
        };
        // UN values are always little endian (PS3.5 6.2.2).
        let words = |n: usize| bytes.chunks_exact(n);
        let value = match vr {
            VR::US => {
                PrimitiveValue::U16(words(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())
            }
            VR::SS => {
                PrimitiveValue::I16(words(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect())
            }
            VR::UL => PrimitiveValue::U32(
                words(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            VR::SL => PrimitiveValue::I32(
                words(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            VR::FL => PrimitiveValue::F32(
                words(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            ),
            VR::FD => PrimitiveValue::F64(
                words(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect(),
            ),
            VR::AE
            | VR::AS
            | VR::CS
            | VR::DA
            | VR::DS
            | VR::DT
            | VR::IS
            | VR::LO
            | VR::LT
            | VR::PN
            | VR::SH
            | VR::ST
            | VR::TM
            | VR::UC
            | VR::UI
            | VR::UR
            | VR::UT => {
                let text = String::from_utf8_lossy(&bytes);
                let text = text.trim_end_matches(['\0', ' ']);
                PrimitiveValue::Strs(text.split('\\').map(str::to_string).collect())
            }
            _ => continue,
        };
        obj.put(DataElement::new(tag, vr, value));
    }
}

/// An error and its causes on one line: dicom-rs's top-level messages ("Could not decode pixel
/// data") say little without what caused them.
pub(super) fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = cause.source();
    }
    text
}
