//! Prompts: what a user gives to say which object to segment. One place owns their types, their
//! parsing (command-line text, numbers from JavaScript) and their checks against an image or a
//! volume, so a new prompt kind (points) is added here once and every frontend gets it.

use crate::error::{Error, Result};

/// A 2D box in image pixels: `[x_min, y_min, x_max, y_max]`, maxima included.
pub type BoxPrompt = [i64; 4];

/// A click on an image: `x`, `y` in image pixels (pixel centres at whole numbers) and whether
/// it is on the object (a foreground click) or off it (background).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Click {
    /// Column.
    pub x: f64,
    /// Row.
    pub y: f64,
    /// On the object.
    pub positive: bool,
}

/// The most clicks one object may have (the CVPR 2025 protocol gives 5).
pub const MAX_CLICKS: usize = 64;

/// One object's prompt in 2D: its box and the clicks that refine it, in the order given.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectPrompt {
    /// The box.
    pub bbox: BoxPrompt,
    /// Its clicks.
    pub clicks: Vec<Click>,
}

/// A 3D box in voxels of the displayed volume: `[x_min, y_min, z_min, x_max, y_max, z_max]`,
/// maxima included (the challenge's order).
pub type Box3d = [i64; 6];

/// `N` comma-separated integers (`x_min,y_min,...`); `layout` names them in the error.
fn parse_ints<const N: usize>(text: &str, layout: &str) -> Result<[i64; N]> {
    let values: Vec<i64> = text
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| Error::invalid(format!("'{v}' is not an integer")))
        })
        .collect::<Result<_>>()?;
    <[i64; N]>::try_from(values).map_err(|v| Error::invalid(format!("{layout}, got {}", v.len())))
}

/// A box from text: `x_min,y_min,x_max,y_max`.
pub fn parse_box(text: &str) -> Result<BoxPrompt> {
    parse_ints(text, "a box has 4 values x_min,y_min,x_max,y_max")
}

/// A 3D box from text: `x_min,y_min,z_min,x_max,y_max,z_max`.
pub fn parse_box3d(text: &str) -> Result<Box3d> {
    parse_ints(
        text,
        "a 3D box has 6 values x_min,y_min,z_min,x_max,y_max,z_max",
    )
}

/// Boxes from a flat list of numbers (JavaScript's `Float64Array`), `N` per box, rounded to the
/// nearest pixel. Not-a-number, infinities and values beyond any image are refused here, so no
/// cast below can saturate into a surprising box.
pub fn boxes_from_numbers<const N: usize>(values: &[f64]) -> Result<Vec<[i64; N]>> {
    const LIMIT: f64 = (1u64 << 40) as f64;
    if !values.len().is_multiple_of(N) || values.iter().any(|v| !v.is_finite() || v.abs() > LIMIT) {
        return Err(Error::invalid(format!(
            "boxes are {N} finite numbers each (got {} numbers)",
            values.len()
        )));
    }
    Ok(values
        .chunks_exact(N)
        .map(|b| std::array::from_fn(|i| b[i].round() as i64))
        .collect())
}

/// A click from text: `x,y` (on the object), `x,y,fg` or `x,y,bg`, optionally preceded by the
/// 1-based number of the box it refines (`2:x,y,bg`); the box number, if given, and the click.
pub fn parse_click(text: &str) -> Result<(Option<usize>, Click)> {
    let (object, rest) = match text.split_once(':') {
        Some((k, rest)) => {
            let k = k
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|&k| k >= 1)
                .ok_or_else(|| {
                    Error::invalid(format!("'{k}' is not a box number (1, 2, ...) in '{text}'"))
                })?;
            (Some(k), rest)
        }
        None => (None, text),
    };
    let parts: Vec<&str> = rest.split(',').map(str::trim).collect();
    let positive = match parts.get(2).copied() {
        None | Some("fg") => true,
        Some("bg") => false,
        Some(other) => {
            return Err(Error::invalid(format!(
                "'{other}' in '{text}': a click is x,y, x,y,fg (on the object) or x,y,bg (off it)"
            )))
        }
    };
    if parts.len() < 2 || parts.len() > 3 {
        return Err(Error::invalid(format!(
            "'{text}': a click is [BOX:]x,y[,fg|bg]"
        )));
    }
    let coordinate = |v: &str| {
        v.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| Error::invalid(format!("'{v}' in '{text}' is not a number")))
    };
    Ok((
        object,
        Click {
            x: coordinate(parts[0])?,
            y: coordinate(parts[1])?,
            positive,
        },
    ))
}

/// Clicks from a flat list of numbers (JavaScript's `Float64Array`): `[object, x, y, positive]`
/// each, `object` the 0-based index of the box it refines (of `objects`), `positive` 1 or 0.
/// One list per object.
pub fn clicks_from_numbers(values: &[f64], objects: usize) -> Result<Vec<Vec<Click>>> {
    if !values.len().is_multiple_of(4) || values.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid(format!(
            "clicks are 4 finite numbers each [object, x, y, positive] (got {} numbers)",
            values.len()
        )));
    }
    let mut clicks = vec![Vec::new(); objects];
    for c in values.chunks_exact(4) {
        let object = c[0];
        if object < 0.0 || object.fract() != 0.0 || object as usize >= objects {
            return Err(Error::invalid(format!(
                "a click refines object {object}, and there are {objects}"
            )));
        }
        clicks[object as usize].push(Click {
            x: c[1],
            y: c[2],
            positive: c[3] != 0.0,
        });
    }
    Ok(clicks)
}

/// Object prompts from flat lists of numbers (JavaScript's `Float64Array`s): boxes
/// `[x_min, y_min, x_max, y_max]` as [`boxes_from_numbers`] reads them, each refined by its
/// clicks from `clicks` as [`clicks_from_numbers`] reads them.
pub fn prompts_from_numbers(boxes: &[f64], clicks: &[f64]) -> Result<Vec<ObjectPrompt>> {
    let boxes = boxes_from_numbers::<4>(boxes)?;
    let clicks = clicks_from_numbers(clicks, boxes.len())?;
    Ok(boxes
        .into_iter()
        .zip(clicks)
        .map(|(bbox, clicks)| ObjectPrompt { bbox, clicks })
        .collect())
}

/// Check object `index`'s clicks against a `width x height` image: each inside it, at most
/// [`MAX_CLICKS`].
pub fn validate_clicks(index: usize, clicks: &[Click], height: usize, width: usize) -> Result<()> {
    if clicks.len() > MAX_CLICKS {
        return Err(Error::invalid(format!(
            "object {} has {} clicks; at most {MAX_CLICKS}",
            index + 1,
            clicks.len()
        )));
    }
    for c in clicks {
        let inside = c.x.is_finite()
            && c.y.is_finite()
            && (-0.5..width as f64 - 0.5).contains(&c.x)
            && (-0.5..height as f64 - 0.5).contains(&c.y);
        if !inside {
            return Err(Error::invalid(format!(
                "a click of object {} at ({}, {}) lies outside the {width}x{height} image",
                index + 1,
                c.x,
                c.y
            )));
        }
    }
    Ok(())
}

/// Check box `index` against a `width x height` image: inverted boxes and boxes wholly outside
/// are errors; a box that sticks out is clipped to the image (users drag past the border).
pub fn validate_box(index: usize, b: BoxPrompt, height: usize, width: usize) -> Result<BoxPrompt> {
    let [x0, y0, x1, y1] = b;
    if x0 > x1 || y0 > y1 {
        return Err(Error::invalid(format!(
            "box {} ({x0},{y0},{x1},{y1}) is inverted: expected x_min <= x_max and y_min <= y_max",
            index + 1
        )));
    }
    let (w, h) = (width as i64, height as i64);
    if x1 < 0 || y1 < 0 || x0 >= w || y0 >= h {
        return Err(Error::invalid(format!(
            "box {} ({x0},{y0},{x1},{y1}) lies outside the {width}x{height} image",
            index + 1
        )));
    }
    Ok([x0.max(0), y0.max(0), x1.min(w - 1), y1.min(h - 1)])
}

/// Check 3D box `index` against a volume of `size = [width, height, depth]`, as
/// [`validate_box`] does in 2D.
pub fn validate_box_3d(index: usize, b: Box3d, size: [usize; 3]) -> Result<Box3d> {
    let [x0, y0, z0, x1, y1, z1] = b;
    if x0 > x1 || y0 > y1 || z0 > z1 {
        return Err(Error::invalid(format!(
            "3D box {} ({x0},{y0},{z0},{x1},{y1},{z1}) is inverted: expected min <= max on every axis",
            index + 1
        )));
    }
    let [w, h, d] = size.map(|s| s as i64);
    if x1 < 0 || y1 < 0 || z1 < 0 || x0 >= w || y0 >= h || z0 >= d {
        return Err(Error::invalid(format!(
            "3D box {} ({x0},{y0},{z0},{x1},{y1},{z1}) lies outside the {w}x{h}x{d} volume",
            index + 1
        )));
    }
    Ok([
        x0.max(0),
        y0.max(0),
        z0.max(0),
        x1.min(w - 1),
        y1.min(h - 1),
        z1.min(d - 1),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_are_validated_and_clipped() {
        assert_eq!(
            validate_box(0, [-5, -5, 10, 10], 20, 20).unwrap(),
            [0, 0, 10, 10]
        );
        assert_eq!(
            validate_box(0, [5, 5, 50, 50], 20, 30).unwrap(),
            [5, 5, 29, 19]
        );
        let inverted = validate_box(1, [10, 0, 5, 5], 20, 20)
            .unwrap_err()
            .to_string();
        assert!(
            inverted.contains("box 2") && inverted.contains("inverted"),
            "{inverted}"
        );
        let outside = validate_box(0, [30, 30, 40, 40], 20, 20)
            .unwrap_err()
            .to_string();
        assert!(outside.contains("outside"), "{outside}");
    }

    #[test]
    fn boxes_3d_are_checked() {
        let size = [8, 8, 4];
        assert!(validate_box_3d(0, [0, 0, 3, 5, 5, 1], size)
            .unwrap_err()
            .to_string()
            .contains("inverted"));
        assert!(validate_box_3d(0, [0, 0, 9, 5, 5, 12], size)
            .unwrap_err()
            .to_string()
            .contains("outside"));
        assert_eq!(
            validate_box_3d(0, [-2, 0, 0, 5, 5, 9], size).unwrap(),
            [0, 0, 0, 5, 5, 3]
        );
    }

    #[test]
    fn text_and_numbers_parse_or_say_why_not() {
        assert_eq!(parse_box(" 1, 2,3,4").unwrap(), [1, 2, 3, 4]);
        assert!(parse_box("1,2,3")
            .unwrap_err()
            .to_string()
            .contains("4 values"));
        assert!(parse_box("1,2,x,4")
            .unwrap_err()
            .to_string()
            .contains("'x'"));
        assert!(parse_box3d("1,2,3,4")
            .unwrap_err()
            .to_string()
            .contains("6 values"));
        assert_eq!(
            boxes_from_numbers::<4>(&[1.4, 2.6, 3.0, 4.0]).unwrap(),
            vec![[1, 3, 3, 4]]
        );
        for bad in [
            &[1.0, 2.0, 3.0][..],
            &[f64::NAN, 0.0, 1.0, 1.0],
            &[1e300, 0.0, 1.0, 1.0],
        ] {
            assert!(boxes_from_numbers::<4>(bad).is_err(), "{bad:?}");
        }
    }
}
