//! OpenCV's INTER_AREA for uint8 (modules/imgproc/src/resize.cpp). `scale = 1 / (dst / src)` in
//! double, as cv::resize computes it; the path is chosen as OpenCV chooses it:
//!   * same size: copy;
//!   * both scales >= 1 and integral: block average ("area fast"), 2x2 rounds half up, other
//!     factors multiply the integer sum by the float 1/area and round half to even;
//!   * both scales >= 1 otherwise: fractional-area weights accumulated in f32, round half even;
//!   * else (enlarging): bilinear with area-style coefficients, 11-bit fixed point; the vertical
//!     pass uses OpenCV's SIMD rounding.

/// Resize an interleaved `height x width x channels` uint8 image.
pub fn resize_area_u8(
    src: &[u8],
    height: usize,
    width: usize,
    channels: usize,
    dst_height: usize,
    dst_width: usize,
) -> Vec<u8> {
    assert_eq!(
        src.len(),
        height * width * channels,
        "resize_area_u8: buffer size"
    );
    if height == dst_height && width == dst_width {
        return src.to_vec();
    }
    let inv_scale_x = dst_width as f64 / width as f64;
    let inv_scale_y = dst_height as f64 / height as f64;
    let scale_x = 1.0 / inv_scale_x;
    let scale_y = 1.0 / inv_scale_y;
    if scale_x >= 1.0 && scale_y >= 1.0 {
        let iscale_x = scale_x.round() as usize;
        let iscale_y = scale_y.round() as usize;
        let integral = (scale_x - iscale_x as f64).abs() < f64::EPSILON
            && (scale_y - iscale_y as f64).abs() < f64::EPSILON;
        if integral && dst_width * iscale_x <= width && dst_height * iscale_y <= height {
            return area_fast(
                src, width, channels, dst_height, dst_width, iscale_x, iscale_y,
            );
        }
        return area_fractional(
            src, height, width, channels, dst_height, dst_width, scale_x, scale_y,
        );
    }
    linear_area_mode(
        src,
        height,
        width,
        channels,
        dst_height,
        dst_width,
        scale_x,
        scale_y,
        inv_scale_x,
        inv_scale_y,
    )
}

/// `saturate_cast<uchar>(float)`: round half to even, clamp.
fn saturate_u8(v: f32) -> u8 {
    v.round_ties_even().clamp(0.0, 255.0) as u8
}

fn area_fast(
    src: &[u8],
    width: usize,
    cn: usize,
    dst_height: usize,
    dst_width: usize,
    sx: usize,
    sy: usize,
) -> Vec<u8> {
    let mut dst = vec![0u8; dst_height * dst_width * cn];
    let row = width * cn;
    let scale = 1.0f32 / (sx * sy) as f32;
    let two_by_two = sx == 2 && sy == 2 && matches!(cn, 1 | 3 | 4);
    for dy in 0..dst_height {
        for dx in 0..dst_width {
            for c in 0..cn {
                let mut sum = 0u32;
                for ky in 0..sy {
                    let base = (dy * sy + ky) * row;
                    for kx in 0..sx {
                        sum += src[base + (dx * sx + kx) * cn + c] as u32;
                    }
                }
                dst[(dy * dst_width + dx) * cn + c] = if two_by_two {
                    ((sum + 2) >> 2) as u8
                } else {
                    saturate_u8(sum as f32 * scale)
                };
            }
        }
    }
    dst
}

struct AreaWeight {
    dst: usize,
    src: usize,
    alpha: f32,
}

/// `computeResizeAreaTab`: which source pixels cover each destination pixel, and how much.
fn area_table(src_size: usize, dst_size: usize, scale: f64) -> Vec<AreaWeight> {
    let mut table = Vec::with_capacity(src_size * 2);
    for dx in 0..dst_size {
        let fsx1 = dx as f64 * scale;
        let fsx2 = fsx1 + scale;
        let cell_width = scale.min(src_size as f64 - fsx1);
        let mut sx2 = fsx2.floor() as i64;
        sx2 = sx2.min(src_size as i64 - 1);
        let sx1 = (fsx1.ceil() as i64).min(sx2);
        if sx1 as f64 - fsx1 > 1e-3 {
            table.push(AreaWeight {
                dst: dx,
                src: (sx1 - 1) as usize,
                alpha: ((sx1 as f64 - fsx1) / cell_width) as f32,
            });
        }
        for sx in sx1..sx2 {
            table.push(AreaWeight {
                dst: dx,
                src: sx as usize,
                alpha: (1.0 / cell_width) as f32,
            });
        }
        if fsx2 - sx2 as f64 > 1e-3 {
            table.push(AreaWeight {
                dst: dx,
                src: sx2 as usize,
                alpha: ((fsx2 - sx2 as f64).min(1.0).min(cell_width) / cell_width) as f32,
            });
        }
    }
    table
}

#[allow(clippy::too_many_arguments)]
fn area_fractional(
    src: &[u8],
    height: usize,
    width: usize,
    cn: usize,
    dst_height: usize,
    dst_width: usize,
    scale_x: f64,
    scale_y: f64,
) -> Vec<u8> {
    let xtab = area_table(width, dst_width, scale_x);
    let ytab = area_table(height, dst_height, scale_y);
    let row_len = dst_width * cn;
    let mut dst = vec![0u8; dst_height * row_len];
    let mut buf = vec![0f32; row_len];
    let mut sum = vec![0f32; row_len];
    let mut prev_dy = ytab[0].dst;
    for y in &ytab {
        let source_row = &src[y.src * width * cn..(y.src + 1) * width * cn];
        buf.fill(0.0);
        for x in &xtab {
            for c in 0..cn {
                buf[x.dst * cn + c] += source_row[x.src * cn + c] as f32 * x.alpha;
            }
        }
        if y.dst != prev_dy {
            for (d, (s, b)) in dst[prev_dy * row_len..(prev_dy + 1) * row_len]
                .iter_mut()
                .zip(sum.iter_mut().zip(&buf))
            {
                *d = saturate_u8(*s);
                *s = y.alpha * b;
            }
            prev_dy = y.dst;
        } else {
            for (s, b) in sum.iter_mut().zip(&buf) {
                *s += y.alpha * b;
            }
        }
    }
    for (d, s) in dst[prev_dy * row_len..(prev_dy + 1) * row_len]
        .iter_mut()
        .zip(&sum)
    {
        *d = saturate_u8(*s);
    }
    dst
}

const COEF_BITS: u32 = 11;
const COEF_SCALE: f32 = (1 << COEF_BITS) as f32;

fn saturate_i16(v: f32) -> i32 {
    v.round_ties_even().clamp(i16::MIN as f32, i16::MAX as f32) as i32
}

/// OpenCV's area-mode source index and fraction for destination index `d`.
fn area_mode_coefficient(d: usize, scale: f64, inv_scale: f64) -> (i64, f32) {
    let s = (d as f64 * scale).floor() as i64;
    let f = ((d + 1) as f64 - (s + 1) as f64 * inv_scale) as f32;
    let f = if f <= 0.0 { 0.0 } else { f - f.floor() };
    (s, f)
}

#[allow(clippy::too_many_arguments)]
fn linear_area_mode(
    src: &[u8],
    height: usize,
    width: usize,
    cn: usize,
    dst_height: usize,
    dst_width: usize,
    scale_x: f64,
    scale_y: f64,
    inv_scale_x: f64,
    inv_scale_y: f64,
) -> Vec<u8> {
    // Horizontal coefficients.
    let mut xofs = vec![0usize; dst_width];
    let mut alpha = vec![[0i32; 2]; dst_width];
    let mut xmax = dst_width;
    for dx in 0..dst_width {
        let (mut sx, mut fx) = area_mode_coefficient(dx, scale_x, inv_scale_x);
        if sx + 1 >= width as i64 {
            xmax = xmax.min(dx);
            if sx >= width as i64 - 1 {
                fx = 0.0;
                sx = width as i64 - 1;
            }
        }
        xofs[dx] = sx as usize;
        alpha[dx] = [
            saturate_i16((1.0 - fx) * COEF_SCALE),
            saturate_i16(fx * COEF_SCALE),
        ];
    }
    // Horizontal pass of one source row, into fixed point (x 2^11).
    let hresize = |sy: usize| -> Vec<i32> {
        let row = &src[sy * width * cn..(sy + 1) * width * cn];
        let mut out = vec![0i32; dst_width * cn];
        for dx in 0..dst_width {
            for c in 0..cn {
                let s = xofs[dx] * cn + c;
                out[dx * cn + c] = if dx < xmax {
                    row[s] as i32 * alpha[dx][0] + row[s + cn] as i32 * alpha[dx][1]
                } else {
                    row[s] as i32 * (1 << COEF_BITS)
                };
            }
        }
        out
    };
    let row_len = dst_width * cn;
    let mut dst = vec![0u8; dst_height * row_len];
    for dy in 0..dst_height {
        let (sy, fy) = area_mode_coefficient(dy, scale_y, inv_scale_y);
        let b0 = saturate_i16((1.0 - fy) * COEF_SCALE);
        let b1 = saturate_i16(fy * COEF_SCALE);
        let clip = |v: i64| v.clamp(0, height as i64 - 1) as usize;
        let s0 = hresize(clip(sy));
        let s1 = hresize(clip(sy + 1));
        vresize_linear_u8(&s0, &s1, b0, b1, &mut dst[dy * row_len..(dy + 1) * row_len]);
    }
    dst
}

/// `VResizeLinear<uchar, int, short>` as OpenCV's SIMD kernel computes it, over the whole row
/// (checked against cv2 4.14 on rows of every width; its exact scalar formula
/// `(s0*b0 + s1*b1 + 2^21) >> 22` differs by one grey level in ~5% of samples and is never used):
/// `((s0 >> 4) * b0 >> 16) + ((s1 >> 4) * b1 >> 16)` in 16 bits, then `(v + 2) >> 2`, saturated.
fn vresize_linear_u8(s0: &[i32], s1: &[i32], b0: i32, b1: i32, out: &mut [u8]) {
    let mul_hi = |a: i32, b: i32| -> i32 {
        let a = (a >> 4).clamp(i16::MIN as i32, i16::MAX as i32);
        (a * b) >> 16
    };
    for ((o, &a), &b) in out.iter_mut().zip(s0).zip(s1) {
        let v = (mul_hi(a, b0) + mul_hi(b, b1)) as i16 as i32;
        *o = ((v + 2) >> 2).clamp(0, 255) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_by_two_area_rounds_half_up_and_others_half_even() {
        // 2x2 blocks summing to 2 -> (2+2)>>2 = 1.
        assert_eq!(resize_area_u8(&[0, 1, 1, 0], 2, 2, 1, 1, 1), vec![1]);
        // 4x1 block summing to 2 -> 2 * 0.25 = 0.5 -> 0 (half to even).
        assert_eq!(resize_area_u8(&[0, 1, 1, 0], 1, 4, 1, 1, 1), vec![0]);
    }
}
