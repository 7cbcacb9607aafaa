//! Building the data elements a written object holds: strings, numbers, sequences and codes, and
//! the values they need (decimal strings, dates and times, UIDs derived from content).

use dicom_core::value::DataSetSequence;
use dicom_core::{dicom_value, DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use sha2::{Digest, Sha256};

pub(super) fn put_str(obj: &mut InMemDicomObject, tag: Tag, vr: VR, value: &str) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

pub(super) fn put_strs<S: AsRef<str>>(obj: &mut InMemDicomObject, tag: Tag, vr: VR, values: &[S]) {
    let values = values.iter().map(|v| v.as_ref().to_string()).collect();
    obj.put(DataElement::new(tag, vr, PrimitiveValue::Strs(values)));
}

pub(super) fn put_u16(obj: &mut InMemDicomObject, tag: Tag, value: u16) {
    obj.put(DataElement::new(tag, VR::US, dicom_value!(U16, [value])));
}

pub(super) fn put_seq(obj: &mut InMemDicomObject, tag: Tag, items: Vec<InMemDicomObject>) {
    obj.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

pub(super) fn code(value: &str, scheme: &str, meaning: &str) -> InMemDicomObject {
    let mut item = InMemDicomObject::new_empty();
    put_str(&mut item, tags::CODE_VALUE, VR::SH, value);
    put_str(&mut item, tags::CODING_SCHEME_DESIGNATOR, VR::SH, scheme);
    put_str(&mut item, tags::CODE_MEANING, VR::LO, meaning);
    item
}

/// A UID under the 2.25 root (a 128-bit number, as UUIDs are written) from `seed` and
/// `purpose`.
pub(super) fn derived_uid(seed: &[u8], purpose: &str) -> String {
    let hash = Sha256::new()
        .chain_update(seed)
        .chain_update(purpose.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    format!("2.25.{}", u128::from_be_bytes(bytes))
}

/// A decimal string (DS) of at most 16 characters, as precise as that allows.
pub(crate) fn ds(value: f64) -> String {
    if !value.is_finite() {
        return "0".to_string();
    }
    for decimals in (0..=10).rev() {
        let mut s = format!("{value:.decimals$}");
        if s.contains('.') {
            s = s.trim_end_matches('0').trim_end_matches('.').to_string();
        }
        if s == "-0" {
            s = "0".to_string();
        }
        if s.len() <= 16 {
            return s;
        }
    }
    format!("{value:.6e}")
}

/// DICOM date (YYYYMMDD) and time (HHMMSS) of a UTC time in seconds since 1970.
pub fn dicom_date_time(unix_s: i64) -> (String, String) {
    let days = unix_s.div_euclid(86_400);
    let seconds = unix_s.rem_euclid(86_400);
    // Days to the civil calendar (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}{month:02}{day:02}"),
        format!(
            "{:02}{:02}{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_fit_sixteen_characters() {
        assert_eq!(ds(0.703125), "0.703125");
        assert_eq!(ds(-0.0), "0");
        assert_eq!(ds(2.5), "2.5");
        assert_eq!(ds(-166.0), "-166");
        let long = ds(-123.456_789_012_345_67);
        assert!(
            long.len() <= 16 && long.starts_with("-123.4567890"),
            "{long}"
        );
        assert_eq!(ds(1.0e-20), "0");
    }

    #[test]
    fn dates_follow_the_calendar() {
        assert_eq!(dicom_date_time(0), ("19700101".into(), "000000".into()));
        // 2024-02-29 12:34:56 UTC.
        assert_eq!(
            dicom_date_time(1_709_210_096),
            ("20240229".into(), "123456".into())
        );
        assert_eq!(dicom_date_time(-1), ("19691231".into(), "235959".into()));
    }

    #[test]
    fn uids_are_valid_and_differ_by_purpose() {
        let a = derived_uid(b"seed", "series");
        let b = derived_uid(b"seed", "instance");
        assert_ne!(a, b);
        for uid in [a, b] {
            assert!(uid.len() <= 64 && uid.starts_with("2.25."));
            assert!(uid.split('.').all(|c| !c.is_empty()
                && c.bytes().all(|d| d.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))));
        }
    }
}
