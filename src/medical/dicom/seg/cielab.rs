//! A segment's display colour: sRGB to and from DICOM's Recommended Display CIELab Value.

// CIELab (D65 white, as highdicom and dcmqi convert) scaled to DICOM's 16-bit values.
const WHITE: [f64; 3] = [0.950_47, 1.0, 1.088_83];

fn srgb_to_linear(c: u8) -> f64 {
    let c = c as f64 / 255.0;
    if c <= 0.040_45 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb(c: f64) -> u8 {
    let c = if c <= 0.003_130_8 {
        12.92 * c
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    };
    (c * 255.0).round().clamp(0.0, 255.0) as u8
}

/// sRGB to DICOM's Recommended Display CIELab Value.
pub fn srgb_to_dicom_lab(rgb: [u8; 3]) -> [u16; 3] {
    let [r, g, b] = rgb.map(srgb_to_linear);
    let xyz = [
        0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b,
        0.212_672_9 * r + 0.715_152_2 * g + 0.072_175_0 * b,
        0.019_333_9 * r + 0.119_192_0 * g + 0.950_304_1 * b,
    ];
    let f = |t: f64| {
        const D: f64 = 6.0 / 29.0;
        if t > D * D * D {
            t.cbrt()
        } else {
            t / (3.0 * D * D) + 4.0 / 29.0
        }
    };
    let [fx, fy, fz] = [0, 1, 2].map(|i| f(xyz[i] / WHITE[i]));
    let lab = [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)];
    [
        (lab[0] * 65535.0 / 100.0).round().clamp(0.0, 65535.0) as u16,
        ((lab[1] + 128.0) * 65535.0 / 255.0)
            .round()
            .clamp(0.0, 65535.0) as u16,
        ((lab[2] + 128.0) * 65535.0 / 255.0)
            .round()
            .clamp(0.0, 65535.0) as u16,
    ]
}

/// DICOM's Recommended Display CIELab Value to sRGB.
pub fn dicom_lab_to_srgb(lab: [u16; 3]) -> [u8; 3] {
    let l = lab[0] as f64 * 100.0 / 65535.0;
    let a = lab[1] as f64 * 255.0 / 65535.0 - 128.0;
    let b = lab[2] as f64 * 255.0 / 65535.0 - 128.0;
    let fy = (l + 16.0) / 116.0;
    let f = [fy + a / 500.0, fy, fy - b / 200.0];
    let inverse = |t: f64| {
        const D: f64 = 6.0 / 29.0;
        if t > D {
            t * t * t
        } else {
            3.0 * D * D * (t - 4.0 / 29.0)
        }
    };
    let [x, y, z] = [0, 1, 2].map(|i| inverse(f[i]) * WHITE[i]);
    let rgb = [
        3.240_454_2 * x - 1.537_138_5 * y - 0.498_531_4 * z,
        -0.969_266_0 * x + 1.876_010_8 * y + 0.041_556_0 * z,
        0.055_643_4 * x - 0.204_025_9 * y + 1.057_225_2 * z,
    ];
    rgb.map(linear_to_srgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_survive_the_round_trip_through_cielab() {
        for r in (0..=255).step_by(15) {
            for g in (0..=255).step_by(17) {
                for b in (0..=255).step_by(51) {
                    let rgb = [r as u8, g as u8, b as u8];
                    assert_eq!(dicom_lab_to_srgb(srgb_to_dicom_lab(rgb)), rgb);
                }
            }
        }
        // White is L* 100, a* b* 0 (128 in the scaled range).
        assert_eq!(srgb_to_dicom_lab([255, 255, 255]), [65535, 32896, 32896]);
    }
}
