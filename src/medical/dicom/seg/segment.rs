//! A segment as the SEG writer takes it ([`SegmentInfo`]): its label, name, display colour and
//! how it was made, and the description a label gets when the caller gives none.

use serde::{Deserialize, Serialize};

use crate::medical::volume::MedicalVolume;

/// How a segment was made (DICOM's Segment Algorithm Type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentAlgorithm {
    /// Model output, untouched.
    Automatic,
    /// Model output a person changed, or labels opened from a file.
    Semiautomatic,
    /// Drawn by a person.
    Manual,
}

impl SegmentAlgorithm {
    pub(super) fn code(self) -> &'static str {
        match self {
            SegmentAlgorithm::Automatic => "AUTOMATIC",
            SegmentAlgorithm::Semiautomatic => "SEMIAUTOMATIC",
            SegmentAlgorithm::Manual => "MANUAL",
        }
    }

    pub(super) fn from_code(code: &str) -> Option<Self> {
        match code {
            "AUTOMATIC" => Some(SegmentAlgorithm::Automatic),
            "SEMIAUTOMATIC" => Some(SegmentAlgorithm::Semiautomatic),
            "MANUAL" => Some(SegmentAlgorithm::Manual),
            _ => None,
        }
    }
}

/// One object as a SEG segment: its label in the label volume, name, display colour and how it
/// was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SegmentInfo {
    /// Its value in the label volume.
    pub label: u16,
    /// Segment Label (a user's name for it).
    pub name: String,
    /// sRGB, written as the Recommended Display CIELab Value.
    pub colour: [u8; 3],
    /// Segment Algorithm Type.
    pub algorithm: SegmentAlgorithm,
}

/// The label a segment gets when the caller describes none: "structure N" after the modality.
pub fn default_segment(volume: &MedicalVolume, label: u16) -> SegmentInfo {
    // The page's default object colours (www/state.js COLORS), in order.
    const COLOURS: [[u8; 3]; 10] = [
        [255, 77, 77],
        [77, 210, 255],
        [255, 210, 77],
        [125, 255, 77],
        [210, 77, 255],
        [255, 159, 77],
        [77, 255, 184],
        [255, 77, 166],
        [77, 125, 255],
        [200, 255, 77],
    ];
    let name = match volume.modality.as_deref() {
        Some(m) if !m.trim().is_empty() => format!("{} structure {label}", m.trim()),
        _ => format!("structure {label}"),
    };
    SegmentInfo {
        label,
        name,
        colour: COLOURS[(label as usize + COLOURS.len() - 1) % COLOURS.len()],
        algorithm: SegmentAlgorithm::Automatic,
    }
}
