//! DICOM SEG, the segmentation object PACS, OHIF, 3D Slicer and Cornerstone3D exchange: written
//! for a study opened from DICOM (binary, one segment per object, only the frames that hold a
//! segment, in the source's frame of reference and geometry, each frame referencing its source
//! image), and read back over the series it was made for.
//!
//! What a SEG must repeat (patient, study, frame of reference) and reference (each slice's SOP
//! instance) is kept by the DICOM reader as a [`DicomSource`] next to the volume. The SEG code
//! uses the reader's modules; the reader never uses it.
//!
//! `write` writes, with `items` (per segment and per frame) and `elements` (building data
//! elements); `read` reads; `segment` and `cielab` describe a segment.

mod cielab;
mod elements;
mod items;
mod read;
mod segment;
mod write;

pub use super::source::{DicomSource, SourceImage};
pub use cielab::{dicom_lab_to_srgb, srgb_to_dicom_lab};
pub use elements::dicom_date_time;
pub use read::{read_segmentation, ReadSegment};
pub use segment::{default_segment, SegmentAlgorithm, SegmentInfo};
pub use write::write_seg;
