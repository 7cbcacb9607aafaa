//! Pixel data, as dicom-rs's `dicom-pixeldata`: [`decode`] turns an object's pixels into f32
//! values, after the refusals in [`support`]; the codecs and layouts dicom-rs does not handle, or
//! handles unsafely, have their own module ([`rle`], [`jpeg`], [`samples_32bit`], [`colour`]);
//! [`encoding`] holds what they share.

mod colour;
mod decode;
mod encoding;
mod jpeg;
mod rle;
mod samples_32bit;
mod support;

pub(super) use decode::pixels;
