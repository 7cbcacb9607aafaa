//! The other file formats decode to the pixels the reference saw (BMP, 16-bit TIFF exactly;
//! JPEG within the rounding of two different IDCTs, and the mask stays the reference's).

mod common;

use daftseg::export::label_png;
use daftseg::postprocess::LabelMap;
use daftseg::rgb::read_image;

use common::*;

fn decoded(path: &str) -> daftseg::rgb::RgbImage {
    read_image(&std::fs::read(fixture(path)).unwrap()).unwrap()
}

#[test]
fn bmp_and_16_bit_tiff_equal_their_png() {
    assert_eq!(
        decoded("images/mr_small.bmp"),
        decoded("images/mr_small.png")
    );
    // The TIFF is stardist's original uint16 file; the PNG holds the same 16-bit samples.
    let tiff = decoded("images/microscopy_nuclei.tif");
    assert_eq!(tiff, decoded("images/microscopy_nuclei.png"));
    assert!(
        tiff.data.contains(&0) && tiff.data.contains(&255),
        "16-bit data must span 0..255 after min-max"
    );
}

#[test]
fn jpeg_decodes_close_to_pillow() {
    let ours = decoded("images/fundus_retina.jpg");
    let pillow = decoded("images/fundus_retina.png");
    assert_eq!((ours.width, ours.height), (pillow.width, pillow.height));
    let total: u64 = ours
        .data
        .iter()
        .zip(&pillow.data)
        .map(|(a, b)| a.abs_diff(*b) as u64)
        .sum();
    let worst = ours
        .data
        .iter()
        .zip(&pillow.data)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap();
    let mean = total as f64 / ours.data.len() as f64;
    assert!(
        mean < 0.5 && worst <= 8,
        "JPEG decode differs from Pillow: mean {mean:.3}, worst {worst}"
    );
}

#[test]
fn label_png_is_8_bit_up_to_255_labels_and_16_bit_beyond() {
    let mut labels = LabelMap::new(3, 2);
    labels
        .paint(&[true, false, false, false, false, true], 7)
        .unwrap();
    let small = image::load_from_memory(&label_png(&labels).unwrap()).unwrap();
    assert!(matches!(small, image::DynamicImage::ImageLuma8(_)));
    assert_eq!(small.into_luma8().into_raw(), vec![7, 0, 0, 0, 0, 7]);
    labels
        .paint(&[false, true, false, false, false, false], 300)
        .unwrap();
    let large = image::load_from_memory(&label_png(&labels).unwrap()).unwrap();
    assert!(matches!(large, image::DynamicImage::ImageLuma16(_)));
    assert_eq!(large.into_luma16().into_raw(), vec![7, 300, 0, 0, 0, 7]);
}
