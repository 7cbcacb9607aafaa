//! Intensity windows: original intensities (HU for CT) to the uint8 the model was trained on. CT
//! uses the radiology windows LiteMedSAM's CT data was prepared with; MR and everything else the
//! 0.5-99.5 percentile clip of the volume; the user can set any window/level. The choice is part of
//! every segmentation request (it changes the pixels the model sees) and the UI shows it.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::MedicalVolume;
use crate::error::{Error, Result};
use crate::rgb::RgbImage;
use crate::segment::GreySlices;

/// How intensities become the 0..255 the model sees.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Window {
    /// A named CT window (see [`CT_PRESETS`]).
    Preset {
        /// Which.
        name: CtPreset,
    },
    /// Clip to the volume's `low`..`high` percentiles (0.5 and 99.5 by default).
    Percentile {
        /// Lower percentile (0-100), mapped to 0.
        low: f64,
        /// Upper percentile, mapped to 255.
        high: f64,
    },
    /// The user's window: `level` is the centre, `width` the range.
    Manual {
        /// Centre.
        level: f64,
        /// Range.
        width: f64,
    },
}

/// The CT windows every viewer offers, in HU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CtPreset {
    /// W400/L40.
    SoftTissue,
    /// W1500/L-600.
    Lung,
    /// W1800/L400.
    Bone,
    /// W80/L40.
    Brain,
}

/// (preset, width, level) in HU.
pub const CT_PRESETS: [(CtPreset, f64, f64); 4] = [
    (CtPreset::SoftTissue, 400.0, 40.0),
    (CtPreset::Lung, 1500.0, -600.0),
    (CtPreset::Bone, 1800.0, 400.0),
    (CtPreset::Brain, 80.0, 40.0),
];

impl Window {
    /// The 0.5th to 99.5th percentile, LiteMedSAM's clip for MR and everything not CT.
    pub const PERCENTILE: Window = Window::Percentile {
        low: 0.5,
        high: 99.5,
    };

    /// The identity on 0..255: for data that already are 8-bit display values (the challenge's
    /// NPZ, colour images).
    pub const IDENTITY: Window = Window::Manual {
        level: 127.5,
        width: 255.0,
    };

    /// The default for a volume: CT soft tissue; the identity for 8-bit display data (NPZ cases,
    /// colour); the percentile clip for everything else.
    pub fn default_for(volume: &MedicalVolume) -> Window {
        if volume
            .modality
            .as_deref()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("CT"))
        {
            return Window::Preset {
                name: CtPreset::SoftTissue,
            };
        }
        if volume.format == "NPZ" || volume.channels == 3 {
            return Window::IDENTITY;
        }
        Window::PERCENTILE
    }

    /// From the command line: a CT preset (`soft_tissue`, `lung`, `bone`, `brain`), `percentile`
    /// (0.5-99.5), `percentile:LOW-HIGH`, or `WIDTH/LEVEL` (e.g. `400/40`).
    pub fn parse(text: &str) -> Result<Window> {
        let text = text.trim().to_ascii_lowercase().replace('-', "_");
        for (preset, _, _) in CT_PRESETS {
            if preset_name(preset).replace(' ', "_") == text {
                return Ok(Window::Preset { name: preset });
            }
        }
        if text == "percentile" {
            return Ok(Window::PERCENTILE);
        }
        let bad = || {
            Error::invalid(format!(
                "window '{text}': use soft_tissue, lung, bone, brain, percentile, percentile:LOW_HIGH or WIDTH/LEVEL"
            ))
        };
        if let Some(range) = text.strip_prefix("percentile:") {
            let (low, high) = range.split_once('_').ok_or_else(bad)?;
            return Ok(Window::Percentile {
                low: low.parse().map_err(|_| bad())?,
                high: high.parse().map_err(|_| bad())?,
            });
        }
        let (width, level) = text.split_once('/').ok_or_else(bad)?;
        // "-600" became "_600" above.
        let number = |v: &str| v.replace('_', "-").parse::<f64>().map_err(|_| bad());
        Ok(Window::Manual {
            width: number(width)?,
            level: number(level)?,
        })
    }

    /// Rejects windows that cannot be applied (non-positive width, bad percentiles).
    fn check(&self) -> Result<()> {
        match *self {
            Window::Preset { .. } => Ok(()),
            Window::Manual { level, width } => {
                if width > 0.0 && width.is_finite() && level.is_finite() {
                    Ok(())
                } else {
                    Err(Error::invalid(format!(
                        "window width must be a positive number (got {width}, level {level})"
                    )))
                }
            }
            Window::Percentile { low, high } => {
                if (0.0..=100.0).contains(&low) && (0.0..=100.0).contains(&high) && low < high {
                    Ok(())
                } else {
                    Err(Error::invalid(format!(
                        "percentiles must satisfy 0 <= low < high <= 100 (got {low}, {high})"
                    )))
                }
            }
        }
    }

    /// (level, width) over `volume`'s grey values: the percentiles are computed here, once per
    /// window.
    fn resolve(&self, volume: &MedicalVolume) -> Result<(f64, f64)> {
        self.check()?;
        Ok(match *self {
            Window::Preset { name } => {
                let (_, width, level) = CT_PRESETS
                    .iter()
                    .find(|(p, _, _)| *p == name)
                    .expect("every preset is listed");
                (*level, *width)
            }
            Window::Manual { level, width } => (level, width),
            Window::Percentile { low, high } => {
                let (lo, hi) = if volume.channels == 3 {
                    let plane = volume.width * volume.height;
                    let mut luma = Vec::with_capacity(plane * volume.depth);
                    for z in 0..volume.depth {
                        luma.extend(grey_slice_values(volume, z));
                    }
                    percentiles(&luma, low, high)
                } else {
                    volume.data.percentiles(low, high)
                };
                ((lo + hi) / 2.0, (hi - lo).max(1e-6))
            }
        })
    }

    /// What the UI and the CLI show, given the resolved level and width.
    pub fn describe(&self, level: f64, width: f64) -> String {
        match self {
            Window::Preset { name } => format!("CT {} W{width}/L{level}", preset_name(*name)),
            Window::Percentile { low, high } => {
                format!("percentiles {low}-{high} (W{width:.1}/L{level:.1})")
            }
            Window::Manual { .. } => format!("W{width}/L{level}"),
        }
    }
}

/// The preset's name, as the CLI and the page write it.
pub fn preset_name(p: CtPreset) -> &'static str {
    match p {
        CtPreset::SoftTissue => "soft tissue",
        CtPreset::Lung => "lung",
        CtPreset::Bone => "bone",
        CtPreset::Brain => "brain",
    }
}

pub use super::voxels::percentiles;

/// `round((v - (level - width/2)) / width * 255)` clipped to 0..255.
pub fn apply(values: &[f32], level: f64, width: f64) -> Vec<u8> {
    let low = level - width / 2.0;
    values
        .iter()
        .map(|&v| {
            let scaled = (v as f64 - low) / width * 255.0;
            (scaled + 0.5).floor().clamp(0.0, 255.0) as u8
        })
        .collect()
}

/// A window resolved for one volume: the level and width it was made with (so slices and labels
/// never recompute the percentiles). Slices are windowed when they are shown or encoded, one at
/// a time: a volume is never held a second time as what the model sees.
#[derive(Clone, Debug)]
pub struct Windowed {
    /// The window as asked.
    pub window: Window,
    /// Its centre, resolved for this volume.
    pub level: f64,
    /// Its width, resolved for this volume.
    pub width: f64,
}

impl Windowed {
    /// How the window reads to a user (`lung W1500/L-600`).
    pub fn label(&self) -> String {
        self.window.describe(self.level, self.width)
    }

    /// Slice `z` as 3D propagation sees it: the grey values (an RGB volume's luma) through
    /// the window, inverted for MONOCHROME1.
    pub fn grey_slice(&self, volume: &MedicalVolume, z: usize) -> Result<Vec<u8>> {
        check_slice(volume, z)?;
        let mut grey = apply(&grey_slice_values(volume, z), self.level, self.width);
        if volume.inverted {
            grey.iter_mut().for_each(|v| *v = 255 - *v);
        }
        Ok(grey)
    }

    /// Slice `z` as the model sees it in 2D: colour volumes stay in colour (each channel through
    /// the same window), grey ones are the windowed grey slice.
    pub fn slice_image(&self, volume: &MedicalVolume, z: usize) -> Result<RgbImage> {
        check_slice(volume, z)?;
        if volume.channels == 3 {
            RgbImage::new(
                volume.width,
                volume.height,
                apply(&volume.slice_values(z), self.level, self.width),
            )
        } else {
            RgbImage::from_grey(volume.width, volume.height, &self.grey_slice(volume, z)?)
        }
    }
}

fn check_slice(volume: &MedicalVolume, z: usize) -> Result<()> {
    if z >= volume.depth {
        return Err(Error::invalid(format!(
            "slice {z} is outside the volume's {} slices",
            volume.depth
        )));
    }
    Ok(())
}

/// A volume seen through its window, slice by slice, as 3D propagation reads it.
pub struct WindowedVolume<'a> {
    /// The voxels.
    pub volume: &'a MedicalVolume,
    /// The window.
    pub view: &'a Windowed,
}

impl GreySlices for WindowedVolume<'_> {
    fn grey_size(&self) -> [usize; 3] {
        self.volume.size()
    }

    fn grey_slice(&self, z: usize) -> Result<Cow<'_, [u8]>> {
        self.view.grey_slice(self.volume, z).map(Cow::Owned)
    }
}

/// ITU-R BT.601 luma of one RGB pixel.
pub fn luma([r, g, b]: [f32; 3]) -> f32 {
    0.299 * r + 0.587 * g + 0.114 * b
}

/// One grey value per voxel of slice `z`: the volume's own, or an RGB volume's [`luma`].
pub fn grey_slice_values(volume: &MedicalVolume, z: usize) -> Vec<f32> {
    let values = volume.slice_values(z);
    if volume.channels == 3 {
        values
            .chunks_exact(3)
            .map(|p| luma([p[0], p[1], p[2]]))
            .collect()
    } else {
        values
    }
}

/// The volume through `window`. RGB volumes (colour ultrasound) are windowed on their ITU-R
/// BT.601 luma, because 3D propagation works on one channel.
pub fn windowed(volume: &MedicalVolume, window: &Window) -> Result<Windowed> {
    let (level, width) = window.resolve(volume)?;
    Ok(Windowed {
        window: *window,
        level,
        width,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_numpy_linear() {
        let v: Vec<f32> = (0..=10).map(|x| x as f32).collect();
        // np.percentile(range(11), [0.5, 99.5]) == [0.05, 9.95]
        let (lo, hi) = percentiles(&v, 0.5, 99.5);
        assert!((lo - 0.05).abs() < 1e-9 && (hi - 9.95).abs() < 1e-9);
        // Order and repeats do not matter: np.percentile([3, 9, 1, 3, 7, 3], [25, 90]) == [3, 8].
        assert_eq!(
            percentiles(&[3.0, 9.0, 1.0, 3.0, 7.0, 3.0], 25.0, 90.0),
            (3.0, 8.0)
        );
    }

    #[test]
    fn ct_soft_tissue_window_maps_hu() {
        // W400/L40: -160 HU -> 0, 240 HU -> 255, 40 HU -> 128 (127.5 rounded up).
        assert_eq!(
            apply(&[-1000.0, -160.0, 40.0, 240.0, 3000.0], 40.0, 400.0),
            [0, 0, 128, 255, 255]
        );
    }

    #[test]
    fn monochrome1_is_inverted_after_windowing() {
        let mut v = MedicalVolume::new(
            [2, 1, 1],
            1,
            vec![0.0, 255.0],
            super::super::diagonal_affine([1.0; 3]),
            None,
            "t",
        )
        .unwrap();
        v.inverted = true;
        let view = windowed(&v, &Window::IDENTITY).unwrap();
        assert_eq!(view.grey_slice(&v, 0).unwrap(), [255, 0]);
    }

    #[test]
    fn bad_windows_are_refused() {
        let v = MedicalVolume::new(
            [1, 1, 1],
            1,
            vec![0.0],
            super::super::diagonal_affine([1.0; 3]),
            None,
            "t",
        )
        .unwrap();
        assert!(windowed(
            &v,
            &Window::Manual {
                level: 0.0,
                width: 0.0
            }
        )
        .is_err());
        assert!(windowed(
            &v,
            &Window::Percentile {
                low: 50.0,
                high: 10.0
            }
        )
        .is_err());
    }
}
