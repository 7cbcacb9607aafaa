//! What every codec shares: the transfer syntaxes read by UID, the decoded pixels' shape, byte
//! order, 16-bit tables and the fragments of encapsulated pixel data.

use dicom_dictionary_std::tags;

use crate::error::Result;
use crate::medical::dicom::object::{error, Object};

pub(super) const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";
/// 1.2.840.10008.1.2.4.90 to .93.
pub(super) const JPEG_2000_PREFIX: &str = "1.2.840.10008.1.2.4.9";
pub(super) const JPEG_LS_LOSSLESS: &str = "1.2.840.10008.1.2.4.80";
pub(super) const JPEG_LS_NEAR_LOSSLESS: &str = "1.2.840.10008.1.2.4.81";
pub(super) const JPEG_EXTENDED: &str = "1.2.840.10008.1.2.4.51";
/// The JPEG syntaxes dicom-rs's JPEG adapter decodes: baseline, extended, lossless (14, 14 SV1).
pub(super) const JPEG_SYNTAXES: [&str; 4] = [
    "1.2.840.10008.1.2.4.50",
    JPEG_EXTENDED,
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
];
pub(super) const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// Columns, rows, frames, channels and the values (interleaved RGB for colour images).
pub(crate) type Pixels = (usize, usize, usize, usize, Vec<f32>);

/// A 16-bit table (palette or LUT data) as numbers. dicom-rs keeps an OW value either as
/// 16-bit words or as the file's bytes; bytes are read in the file's byte order.
pub(super) fn words_u16(
    big_endian: bool,
    element: &dicom_object::mem::InMemElement,
) -> Option<Vec<u16>> {
    use dicom_core::value::{PrimitiveValue, Value};
    if let Value::Primitive(PrimitiveValue::U16(words)) = element.value() {
        return Some(words.to_vec());
    }
    let bytes = element.value().to_bytes().ok()?;
    Some(
        bytes
            .chunks_exact(2)
            .map(|c| {
                if big_endian {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from_le_bytes([c[0], c[1]])
                }
            })
            .collect(),
    )
}

pub(super) fn is_big_endian(obj: &Object) -> bool {
    obj.meta().transfer_syntax().trim_end_matches('\0') == EXPLICIT_VR_BIG_ENDIAN
}

/// The fragments of encapsulated (compressed) pixel data, one or more per frame.
pub(super) fn encapsulated_fragments<'a>(
    name: &str,
    obj: &'a Object,
    codec: &str,
) -> Result<&'a [Vec<u8>]> {
    obj.element_opt(tags::PIXEL_DATA)
        .ok()
        .flatten()
        .and_then(|e| e.value().fragments())
        .ok_or_else(|| error(name, format!("{codec} pixel data is not encapsulated")))
}
