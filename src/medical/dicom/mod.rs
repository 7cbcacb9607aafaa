//! DICOM through dicom-rs: single files, multi-frame files and series given as several files
//! (sorted along the slice normal by Image Position, else by Instance Number). Rescale
//! slope/intercept is applied (CT in HU), YBR is converted to RGB and palettes are looked up.
//! Transfer syntaxes: those dicom-rs decodes in pure Rust (so also in wasm): uncompressed,
//! deflated, RLE, JPEG baseline/extended (8-bit)/lossless, and natively JPEG 2000. Others
//! (JPEG-LS, 12-bit JPEG, JPEG XL, video) are refused with the syntax's name.
//!
//! Split as dicom-rs is (object, encoding, pixeldata, parser), each module importing only those
//! listed before it: `attributes` reads elements; `lengths` checks every declared length
//! before dicom-rs allocates it; `object` opens a file; [`source`] is what a SEG needs from the
//! source ([`DicomSource`]); `geometry` turns planes into affines; `pixeldata` decodes pixels;
//! `series` assembles files into a volume. [`seg`] writes and reads DICOM SEG over it.

mod attributes;
mod files;
mod geometry;
mod lengths;
mod object;
mod pixeldata;
pub mod seg;
mod series;
pub mod source;

pub use seg::read_segmentation;
pub use series::{read_series, read_series_with, SeriesFiles};
pub use source::{DicomSource, SourceImage};
