//! The open study: opening files, what a frontend shows about it, which model routes it, its
//! window and the shown slice.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::identify::unreadable;
use crate::medical::dicom::SeriesFiles;
use crate::medical::window::{windowed, Window, Windowed};
use crate::medical::MedicalVolume;
use crate::medical::{open_files_with, open_series_with, sniff};
use crate::progress::{unobserved, Progress};
use crate::prompt::Box3d;
use crate::rgb::{is_image_file, read_image, RgbImage};
use crate::router::{Route, RouteRequest};
use crate::session::state::{no_study, no_volume, Session, Study};

/// What a frontend shows about the open study.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StudyInfo {
    /// The file's name (or the first file's, for a series).
    pub name: String,
    /// `"image"` (PNG, JPEG, ...: 2D boxes) or `"volume"` (DICOM, NIfTI, NRRD, NPZ: slices, 3D).
    pub kind: &'static str,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Slices (1 for images).
    pub depth: usize,
    /// 1 (grey) or 3 (colour).
    pub channels: usize,
    /// Voxel size in mm (x, y, z); 1 for images.
    pub spacing: [f64; 3],
    /// From the file's metadata (a DICOM Modality code), if it says.
    pub modality: Option<String>,
    /// "image", "DICOM", "NIfTI-1", "NIfTI-2", "NRRD" or "NPZ".
    pub format: String,
    /// What the user should know about how the file was read.
    pub notes: Vec<String>,
    /// The volume's window and how it reads (`W400/L40` ...); none for images.
    pub window: Option<WindowInfo>,
    /// Boxes that came with the file (a challenge NPZ case), `[x0, y0, z0, x1, y1, z1]` each.
    pub boxes: Vec<Box3d>,
    /// Whether the file is a challenge 2D case (its boxes are 2D boxes on slice 0).
    pub two_d_case: bool,
    /// Clicks that came with a 2D challenge case: `[box index (from 0), { x, y, positive }]`.
    pub clicks: Vec<(usize, crate::prompt::Click)>,
    /// The slice shown (and segmented in 2D).
    pub slice: usize,
}

/// A window as applied to the open volume.
#[derive(Clone, Debug, Serialize)]
pub struct WindowInfo {
    /// The window as asked.
    pub window: Window,
    /// How it reads (`lung W1500/L-600`).
    pub label: String,
    /// Its centre, resolved for this volume.
    pub level: f64,
    /// Its width, resolved for this volume.
    pub width: f64,
}

impl WindowInfo {
    fn of(view: &Windowed) -> Self {
        WindowInfo {
            window: view.window,
            label: view.label(),
            level: view.level,
            width: view.width,
        }
    }
}

/// A volume as the open study, through its modality's default window, on its middle slice
/// (Study::new's choice).
fn volume_study(name: String, volume: MedicalVolume) -> Result<Study> {
    let view = windowed(&volume, &Window::default_for(&volume))?;
    let image = view.slice_image(&volume, volume.depth / 2)?;
    Ok(Study::new(name, Some((volume, view)), image))
}

impl Session {
    /// Open `(name, bytes)` files as the study: one image (PNG, JPEG, BMP, TIFF), one volume file
    /// (DICOM, NIfTI, NRRD, challenge NPZ) or the DICOM files of one series. Volumes open
    /// through their modality's default window, on their middle slice.
    pub fn open(&mut self, files: Vec<(String, Vec<u8>)>) -> Result<StudyInfo> {
        self.open_with_progress(files, &mut unobserved)
    }

    /// [`Session::open`], telling `progress(done, total)` how far a volume's reading has got;
    /// `false` cancels (the study open before stays open).
    pub fn open_with_progress(
        &mut self,
        files: Vec<(String, Vec<u8>)>,
        progress: Progress,
    ) -> Result<StudyInfo> {
        let name = files
            .first()
            .map(|(name, _)| name.clone())
            .ok_or_else(|| Error::invalid("no file to open"))?;
        let is_image = matches!(&files[..], [(n, b)] if sniff(n, b).is_none());
        let study = if is_image {
            if !is_image_file(&files[0].1) {
                return Err(unreadable(&name, &files[0].1));
            }
            let image = read_image(&files[0].1).map_err(|e| e.context(&name))?;
            Study::new(name, None, image)
        } else {
            let single = files.len() == 1;
            let volume = open_files_with(files, progress).map_err(|e| {
                if single {
                    e.context(&name)
                } else {
                    e
                }
            })?;
            volume_study(name, volume)?
        };
        self.study = Some(study);
        self.info()
    }

    /// Open the DICOM files of one series from `files`, which gives them one at a time (a folder
    /// on disk, the files a page holds), so the series is never in memory twice; `progress` as
    /// in [`Session::open_with_progress`].
    pub fn open_series(
        &mut self,
        name: String,
        files: &mut dyn SeriesFiles,
        progress: Progress,
    ) -> Result<StudyInfo> {
        let volume = open_series_with(files, progress)?;
        self.study = Some(volume_study(name, volume)?);
        self.info()
    }

    /// Open raw 8-bit RGB pixels that are not an image file (a challenge case's array).
    pub fn open_rgb(&mut self, name: &str, image: RgbImage) -> Result<StudyInfo> {
        self.study = Some(Study::new(name.to_string(), None, image));
        self.info()
    }

    /// The open study's description.
    pub fn info(&self) -> Result<StudyInfo> {
        let study = self.study()?;
        Ok(match &study.volume {
            None => StudyInfo {
                name: study.name.clone(),
                kind: "image",
                width: study.image.width,
                height: study.image.height,
                depth: 1,
                channels: 3,
                spacing: [1.0; 3],
                modality: None,
                format: "image".into(),
                notes: Vec::new(),
                window: None,
                boxes: Vec::new(),
                two_d_case: false,
                clicks: Vec::new(),
                slice: 0,
            },
            Some((volume, view)) => StudyInfo {
                name: study.name.clone(),
                kind: "volume",
                width: volume.width,
                height: volume.height,
                depth: volume.depth,
                channels: volume.channels,
                spacing: volume.spacing,
                modality: volume.modality.clone(),
                format: volume.format.clone(),
                notes: volume.notes.clone(),
                window: Some(WindowInfo::of(view)),
                boxes: volume.boxes.clone(),
                // The challenge's 2D cases are HxWx3 colour; its 3D cases are grey.
                two_d_case: volume.format == "NPZ" && volume.channels == 3,
                clicks: volume.clicks.clone(),
                slice: study.slice,
            },
        })
    }

    /// The router's choice for the open study: the user's `model` if given, else by the
    /// metadata's modality, else by the file name, else by the content once classified. When
    /// the answer `needs_content`, load its model and call [`Session::route_by_content`].
    pub fn route(&self, model: Option<&str>) -> Result<Route> {
        let study = self.study()?;
        self.models.route(&RouteRequest {
            model: model.filter(|m| !m.is_empty()),
            metadata_modality: study
                .volume
                .as_ref()
                .and_then(|(v, _)| v.modality.as_deref()),
            file_name: Some(&study.name),
            content_available: true,
            content: study.content,
        })
    }

    /// [`Session::route`], classifying the shown image's content first when the route waits for
    /// it: the general model (loaded) encodes it (the embedding stays cached for segmenting),
    /// and the answer holds for the whole study.
    pub fn route_by_content(&mut self, model: Option<&str>) -> Result<Route> {
        let route = self.route(model)?;
        let Some(router) = self.models.manifest().content_router.as_ref() else {
            return Ok(route);
        };
        if !route.needs_content {
            return Ok(route);
        }
        let encoder = self.models.get(&route.model_id)?;
        let study = self.study.as_mut().ok_or_else(no_study)?;
        let (encoded, _) = self.segmenter.encode(encoder, &study.image)?;
        study.content = Some(router.guess(&encoded.embedding)?);
        self.route(model)
    }

    /// See the open volume through `window`: what is shown and what the model sees.
    pub fn set_window(&mut self, window: &Window) -> Result<WindowInfo> {
        let study = self.study_mut()?;
        let (volume, view) = study.volume.as_mut().ok_or_else(no_volume)?;
        *view = windowed(volume, window)?;
        study.image = view.slice_image(volume, study.slice)?;
        // Another window shows other pixels: every slice's key changes.
        study.slice_keys.fill(None);
        Ok(WindowInfo::of(view))
    }

    /// Show slice `z` of the open volume: 2D prompts now work on it.
    pub fn show_slice(&mut self, z: usize) -> Result<&RgbImage> {
        let study = self.study_mut()?;
        let (volume, view) = study.volume.as_ref().ok_or_else(no_volume)?;
        study.image = view.slice_image(volume, z)?;
        study.slice = z;
        Ok(&study.image)
    }

    /// The image 2D prompts work on (the image, or the shown slice).
    pub fn image(&self) -> Result<&RgbImage> {
        Ok(&self.study()?.image)
    }
}
