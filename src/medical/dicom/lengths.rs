//! A walk over a DICOM file's elements, before dicom-rs parses it: every declared value length
//! must fit in the bytes that contain it. dicom-rs allocates a value's declared length before it
//! reads it, so one lying length (a 39 KB file whose Pixel Data claims 4 GiB) would otherwise
//! allocate gigabytes; after this walk no value is longer than the file. A deflated data set is
//! inflated here with a cap first, for the same reason.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;

use crate::error::{Error, Result};
use crate::limits::{read_to_end_capped, MAX_DECODED_BYTES};

const UNDEFINED: u32 = 0xFFFF_FFFF;
const ITEM: Tag = Tag(0xFFFE, 0xE000);
const ITEM_END: Tag = Tag(0xFFFE, 0xE00D);
const SEQUENCE_END: Tag = Tag(0xFFFE, 0xE0DD);
const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);
const TRANSFER_SYNTAX: Tag = Tag(0x0002, 0x0010);
/// A deflated data set is inflated twice (here, then by dicom-rs), so it gets a quarter of the
/// budget: deflate is used for small objects (reports, structured data), rarely for pixels.
const MAX_DEFLATED_DATA_SET: u64 = MAX_DECODED_BYTES / 4;
/// Real files nest a few sequences deep; a hostile one could nest until the stack overflows.
const MAX_DEPTH: usize = 32;

const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";

#[derive(Clone, Copy)]
struct Encoding {
    explicit: bool,
    big_endian: bool,
}

struct Walk<'a> {
    name: &'a str,
    bytes: &'a [u8],
}

/// Checks `body` (a DICOM file from its "DICM" magic on) and returns the length of its file meta
/// group (the bytes after "DICM" that belong to group 0002). Errors name the element and say
/// what is wrong, as the user's file is truncated or damaged.
pub(crate) fn check(name: &str, body: &[u8]) -> Result<usize> {
    let bytes = body.get(4..).unwrap_or_default();
    let meta = Walk { name, bytes };
    let meta_encoding = Encoding {
        explicit: true,
        big_endian: false,
    };
    // The file meta group: explicit VR little endian. dicom-rs reads elements (of any group)
    // until it has read as many bytes as the group length says, so the walk does the same; a
    // file without a group length is read to the last group 0002 element (and given a group
    // length by `with_meta_group_length`).
    let mut pos = 0;
    let mut syntax = String::new();
    let group_length = (bytes.get(..8)
        == Some(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 0x04, 0x00][..]))
    .then(|| meta.u32_at(8, false))
    .flatten();
    let meta_end = match group_length {
        Some(length) => {
            pos = 12;
            12usize.saturating_add(length as usize)
        }
        None => usize::MAX,
    };
    while pos < meta_end
        && pos + 4 <= bytes.len()
        && (group_length.is_some() || u16::from_le_bytes([bytes[pos], bytes[pos + 1]]) == 0x0002)
    {
        let (tag, header, length) = meta.header(pos, meta_encoding)?;
        if length == UNDEFINED {
            return Err(meta.damaged(format!("meta element {tag} has an undefined length")));
        }
        let value = meta.value(tag, pos + header, length, bytes.len())?;
        if tag == TRANSFER_SYNTAX {
            syntax = String::from_utf8_lossy(value)
                .trim_end_matches(['\0', ' '])
                .to_string();
        }
        pos += header + value.len();
    }
    let rest = &bytes[pos..];
    let encoding = Encoding {
        explicit: syntax != IMPLICIT_LE,
        big_endian: syntax == EXPLICIT_BE,
    };
    if syntax == DEFLATED {
        let inflated = read_to_end_capped(
            flate2::read::DeflateDecoder::new(rest),
            MAX_DEFLATED_DATA_SET,
            &format!("{name}: the deflated DICOM data set"),
        )?;
        let walk = Walk {
            name,
            bytes: &inflated,
        };
        return walk.data_set(0, inflated.len(), encoding, 0).map(|_| pos);
    }
    let walk = Walk { name, bytes: rest };
    walk.data_set(0, rest.len(), encoding, 0).map(|_| pos)
}

/// `body` with a File Meta Information Group Length (0002,0000) element, which the standard
/// requires first in the meta group and dicom-rs insists on, added if it is missing (pydicom
/// reads such files). `meta_length` is what [`check`] returned. `None` when it is present.
pub(crate) fn with_meta_group_length(body: &[u8], meta_length: usize) -> Option<Vec<u8>> {
    if body.get(4..8)? == [0x02, 0x00, 0x00, 0x00] || meta_length == 0 {
        return None;
    }
    let length = u32::try_from(meta_length).ok()?;
    let mut fixed = Vec::with_capacity(body.len() + 12);
    fixed.extend_from_slice(b"DICM");
    fixed.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 0x04, 0x00]);
    fixed.extend_from_slice(&length.to_le_bytes());
    fixed.extend_from_slice(&body[4..]);
    Some(fixed)
}

impl Walk<'_> {
    fn damaged(&self, message: String) -> Error {
        Error::Decode(format!(
            "{}: DICOM: {message}: the file is truncated or damaged",
            self.name
        ))
    }

    fn u16_at(&self, pos: usize, big_endian: bool) -> Option<u16> {
        let b: [u8; 2] = self.bytes.get(pos..pos + 2)?.try_into().ok()?;
        Some(if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32_at(&self, pos: usize, big_endian: bool) -> Option<u32> {
        let b: [u8; 4] = self.bytes.get(pos..pos + 4)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    /// The element header at `pos`: its tag, header size and declared length (dicom-rs's
    /// reading: explicit VRs with a 16-bit length are those of PS3.5 7.1.2, any other VR code,
    /// unknown ones included, has a 32-bit length; items and delimiters have no VR).
    fn header(&self, pos: usize, encoding: Encoding) -> Result<(Tag, usize, u32)> {
        let be = encoding.big_endian;
        let truncated = || self.damaged(format!("an element header at byte {pos} is cut off"));
        let group = self.u16_at(pos, be).ok_or_else(truncated)?;
        let element = self.u16_at(pos + 2, be).ok_or_else(truncated)?;
        let tag = Tag(group, element);
        if group == 0xFFFE || !encoding.explicit {
            let length = self.u32_at(pos + 4, be).ok_or_else(truncated)?;
            return Ok((tag, 8, length));
        }
        let code = self.bytes.get(pos + 4..pos + 6).ok_or_else(truncated)?;
        let vr = VR::from_binary([code[0], code[1]]).unwrap_or(VR::UN);
        if short_length(vr) {
            let length = self.u16_at(pos + 6, be).ok_or_else(truncated)?;
            Ok((tag, 8, length as u32))
        } else {
            let length = self.u32_at(pos + 8, be).ok_or_else(truncated)?;
            Ok((tag, 12, length))
        }
    }

    /// The value of a defined length at `start`, which must end by `end`.
    fn value(&self, tag: Tag, start: usize, length: u32, end: usize) -> Result<&[u8]> {
        let stop = start
            .checked_add(length as usize)
            .filter(|&stop| stop <= end)
            .ok_or_else(|| {
                self.damaged(format!(
                    "element {tag} declares {length} bytes but only {} remain",
                    end.saturating_sub(start)
                ))
            })?;
        Ok(&self.bytes[start..stop])
    }

    /// Whether the element at `pos` holds a sequence of data sets (so its items are walked).
    fn is_sequence(&self, pos: usize, tag: Tag, encoding: Encoding) -> bool {
        if encoding.explicit {
            self.bytes.get(pos + 4..pos + 6) == Some(&b"SQ"[..])
        } else {
            StandardDataDictionary
                .by_tag(tag)
                .is_some_and(|entry| entry.vr().relaxed() == VR::SQ)
        }
    }

    /// Elements from `pos` up to `end`, or to an item delimiter when `end` is the whole rest;
    /// returns where it stopped (after the delimiter).
    fn data_set(
        &self,
        mut pos: usize,
        end: usize,
        encoding: Encoding,
        depth: usize,
    ) -> Result<usize> {
        if depth > MAX_DEPTH {
            return Err(self.damaged(format!("more than {MAX_DEPTH} nested sequences")));
        }
        while pos < end {
            let (tag, header, length) = self.header(pos, encoding)?;
            if tag == ITEM_END {
                if depth > 0 {
                    return Ok(pos + header);
                }
                // A stray delimiter in the top-level data set ends nothing: dicom-rs reads on,
                // so the walk must check what follows too.
                pos += header;
                continue;
            }
            let start = pos + header;
            pos = if length == UNDEFINED {
                // A sequence of undefined length, or encapsulated pixel data (fragments).
                let fragments = tag == PIXEL_DATA;
                // Other undefined-length elements (a UN holding a sequence, say) are read as
                // sequences in the same encoding, as dicom-rs reads them: this walk must see
                // the lengths dicom-rs will allocate, not those the standard intends.
                self.items(start, end, encoding, depth, fragments, None)?
            } else if self.is_sequence(pos, tag, encoding) {
                let stop = start + self.value(tag, start, length, end)?.len();
                self.items(start, stop, encoding, depth, false, Some(stop))?;
                stop
            } else {
                start + self.value(tag, start, length, end)?.len()
            };
        }
        Ok(pos)
    }

    /// The items of a sequence (or the fragments of pixel data) from `pos`: up to `defined_end`
    /// when the sequence has a length, else to its delimiter. Returns where it stopped.
    fn items(
        &self,
        mut pos: usize,
        end: usize,
        encoding: Encoding,
        depth: usize,
        fragments: bool,
        defined_end: Option<usize>,
    ) -> Result<usize> {
        loop {
            if defined_end.is_some_and(|stop| pos >= stop) {
                return Ok(pos);
            }
            if pos >= end {
                // A missing delimiter at the end of the data: nothing left to allocate.
                return Ok(end);
            }
            let (tag, header, length) = self.header(
                pos,
                Encoding {
                    explicit: false,
                    ..encoding
                },
            )?;
            let start = pos + header;
            if tag == SEQUENCE_END {
                return Ok(start);
            }
            if tag != ITEM {
                return Err(self.damaged(format!("{tag} where a sequence item was expected")));
            }
            pos = if length == UNDEFINED && !fragments {
                self.data_set(start, end, encoding, depth + 1)?
            } else {
                let value = self.value(tag, start, length, end)?;
                if !fragments {
                    self.data_set(start, start + value.len(), encoding, depth + 1)?;
                }
                start + value.len()
            };
        }
    }
}

/// PS3.5 Table 7.1-2: the VRs with a 16-bit value length in explicit VR.
fn short_length(vr: VR) -> bool {
    use VR::*;
    matches!(
        vr,
        AE | AS
            | AT
            | CS
            | DA
            | DS
            | DT
            | FL
            | FD
            | IS
            | LO
            | LT
            | PN
            | SH
            | SL
            | SS
            | ST
            | TM
            | UI
            | UL
            | US
    )
}
