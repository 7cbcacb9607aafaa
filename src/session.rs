//! The session: what a frontend has open. The manifest and the models loaded from it
//! ([`Models`]), the open study (an image, or a volume seen through a window, one slice of it
//! shown) and the embedding cache. Every frontend (the CLI, the browser bindings) is a thin
//! adapter over this one type, so a feature is written here once: open, route, window, show a
//! slice, segment 2D and 3D, export.
//!
//! Where bytes come from is the frontend's business (files on disk, `fetch` in a worker): the
//! session takes bytes and names, never paths.

use std::collections::HashMap;

use serde::Serialize;

use crate::background::{encoding_order, SliceRange};
use crate::cache::image_key;
use crate::challenge::read_labels;
use crate::content::ContentGuess;
use crate::error::{Error, Result};
use crate::export::{export_volume_labels, label_png, VolumeExport};
use crate::identify::unreadable;
use crate::labels::{check_geometry, renumber, OpenedLabels};
use crate::manifest::{Manifest, ModelEntry};
use crate::measure::{measure, measurements_csv, Grid, Measurement};
use crate::medical::dicom_seg::{write_seg, SegmentInfo};
use crate::medical::window::{grey_values, luma, windowed, Window, Windowed};
use crate::medical::{open_files, read_volume, sniff, MedicalVolume};
use crate::model::{ModelBytes, SamModel};
use crate::postprocess::LabelMap;
use crate::preprocess::prepare;
use crate::prompt::{Box3d, BoxPrompt, ObjectPrompt};
use crate::rgb::{decode_image, is_image_file, read_image, RgbImage};
use crate::router::{route, Route, RouteRequest};
use crate::segment::{Clock, GreyVolume, Progress, Segmentation, Segmenter, DEFAULT_CACHE_BYTES};
use crate::store::{EmbeddingStore, StoreKey};
use image::DynamicImage;

/// The manifest and the models loaded so far, by id.
pub struct Models {
    manifest: Manifest,
    loaded: HashMap<String, SamModel>,
}

impl Models {
    /// No model loaded yet.
    pub fn new(manifest: Manifest) -> Self {
        Models {
            manifest,
            loaded: HashMap::new(),
        }
    }

    /// The manifest, with every field it was written with.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest's entry for `id` (its files, to fetch or read), or an error listing the ids.
    pub fn entry(&self, id: &str) -> Result<&ModelEntry> {
        self.manifest.model(id)
    }

    /// The router's choice among this manifest's models.
    pub fn route(&self, request: &RouteRequest) -> Result<Route> {
        route(&self.manifest, request)
    }

    /// Whether `id` is loaded.
    pub fn is_loaded(&self, id: &str) -> bool {
        self.loaded.contains_key(id)
    }

    /// Verify the files (size and sha256 from the manifest) and load model `id` from them.
    pub fn load(&mut self, id: &str, files: ModelBytes) -> Result<()> {
        let model = SamModel::from_bytes(self.entry(id)?, files)?;
        self.loaded.insert(id.to_string(), model);
        Ok(())
    }

    /// A loaded model.
    pub fn get(&self, id: &str) -> Result<&SamModel> {
        self.loaded
            .get(id)
            .ok_or_else(|| Error::model(id, "not loaded"))
    }
}

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

/// The open study: an image, or a volume and the window it is seen through.
struct Study {
    name: String,
    volume: Option<(MedicalVolume, Windowed)>,
    /// What 2D prompts work on: the image, or the shown slice of the volume through its window.
    image: RgbImage,
    slice: usize,
    /// What the image content said, once classified: once per study, so every slice of a
    /// volume goes to the same model.
    content: Option<ContentGuess>,
    /// Each slice's pixel key ([`image_key`]) through the current window, once computed: to
    /// know which slices are encoded without rendering them again.
    slice_keys: Vec<Option<[u8; 32]>>,
}

impl Study {
    fn new(name: String, volume: Option<(MedicalVolume, Windowed)>, image: RgbImage) -> Self {
        let depth = volume.as_ref().map_or(1, |(v, _)| v.depth);
        Study {
            name,
            slice: depth / 2,
            volume,
            image,
            content: None,
            slice_keys: vec![None; depth],
        }
    }

    /// Slice `z` of the volume through its window, as the encoder sees it.
    fn slice_image(&self, z: usize) -> Result<RgbImage> {
        let (volume, view) = self.volume.as_ref().ok_or_else(no_volume)?;
        view.slice_image(volume, z)
    }

    /// Slice `z`'s pixel key, computed once per window.
    fn slice_key(&mut self, z: usize) -> Result<[u8; 32]> {
        if let Some(Some(key)) = self.slice_keys.get(z) {
            return Ok(*key);
        }
        let image = self.slice_image(z)?;
        let key = image_key(image.width, image.height, &image.data);
        self.slice_keys[z] = Some(key);
        Ok(key)
    }
}

/// One user's work: models, the open study, the embedding cache.
pub struct Session {
    models: Models,
    segmenter: Segmenter,
    study: Option<Study>,
}

impl Session {
    /// A session over `manifest`, nothing open.
    pub fn new(manifest: Manifest) -> Self {
        Session::with_cache_bytes(manifest, DEFAULT_CACHE_BYTES)
    }

    /// A session whose embedding cache holds at most `max_cache_bytes` (4 MiB per embedding):
    /// the memory budget of encoding in idle time too.
    pub fn with_cache_bytes(manifest: Manifest, max_cache_bytes: usize) -> Self {
        Session {
            models: Models::new(manifest),
            segmenter: Segmenter::new(max_cache_bytes),
            study: None,
        }
    }

    /// The models (to route, and to see which are loaded).
    pub fn models(&self) -> &Models {
        &self.models
    }

    /// The models, to load one.
    pub fn models_mut(&mut self) -> &mut Models {
        &mut self.models
    }

    /// Open `(name, bytes)` files as the study: one image (PNG, JPEG, BMP, TIFF), one volume file
    /// (DICOM, NIfTI, NRRD, challenge NPZ) or the DICOM files of one series. Volumes open
    /// through their modality's default window, on their middle slice.
    pub fn open(&mut self, files: Vec<(String, Vec<u8>)>) -> Result<StudyInfo> {
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
            let volume =
                open_files(&files).map_err(|e| if single { e.context(&name) } else { e })?;
            drop(files);
            let view = windowed(&volume, &Window::default_for(&volume))?;
            // Volumes open on their middle slice (Study::new's choice).
            let image = view.slice_image(&volume, volume.depth / 2)?;
            Study::new(name, Some((volume, view)), image)
        };
        self.study = Some(study);
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
        let Some(router) = self.models.manifest.content_router.as_ref() else {
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

    /// Encode the shown image with `model_id`'s encoder (or find it in the cache: `true`).
    pub fn encode(&mut self, model_id: &str) -> Result<bool> {
        let model = self.models.get(model_id)?;
        let image = &self.study.as_ref().ok_or_else(no_study)?.image;
        Ok(self.segmenter.encode(model, image)?.1)
    }

    /// Encode slice `z` of the open volume (or find it in the cache: `true`) without showing it:
    /// what idle time does, one slice per call (see [`Session::next_to_encode`]).
    pub fn encode_slice(&mut self, model_id: &str, z: usize) -> Result<bool> {
        let model = self.models.get(model_id)?;
        let image = self.study()?.slice_image(z)?;
        Ok(self.segmenter.encode(model, &image)?.1)
    }

    /// The slice idle time should encode next with `model_id`'s encoder, given the slice
    /// ranges of the drawn boxes ([`encoding_order`]); `None` when every slice is encoded, when
    /// the open study is not a volume, or when the embedding cache is full (encoding more would
    /// evict slices already encoded: the memory budget is reached).
    pub fn next_to_encode(
        &mut self,
        model_id: &str,
        ranges: &[SliceRange],
    ) -> Result<Option<usize>> {
        Ok(self
            .next_slices_to_encode(model_id, ranges, 1)?
            .first()
            .copied())
    }

    /// The next `count` slices idle time should encode, in [`Session::next_to_encode`]'s order
    /// and as many as the embedding cache has room for: one per worker, for
    /// [`Session::encode_slices`].
    pub fn next_slices_to_encode(
        &mut self,
        model_id: &str,
        ranges: &[SliceRange],
        count: usize,
    ) -> Result<Vec<usize>> {
        let model = self.models.get(model_id)?;
        let count = count.min(self.segmenter.room());
        let Some(study) = self.study.as_mut() else {
            return Ok(Vec::new());
        };
        let Some((volume, _)) = &study.volume else {
            return Ok(Vec::new());
        };
        let mut next = Vec::with_capacity(count);
        for z in encoding_order(volume.depth, study.slice, ranges) {
            if next.len() == count {
                break;
            }
            if !self.segmenter.is_cached(model, study.slice_key(z)?) {
                next.push(z);
            }
        }
        Ok(next)
    }

    /// Encode slices `zs` of the open volume (those not cached), several at once: one per
    /// worker of the thread pool ([`crate::threads::map_on_workers`]).
    pub fn encode_slices(&mut self, model_id: &str, zs: &[usize]) -> Result<()> {
        let model = self.models.get(model_id)?;
        let study = self.study()?;
        let images = zs
            .iter()
            .map(|&z| study.slice_image(z))
            .collect::<Result<Vec<_>>>()?;
        self.segmenter.encode_ahead(model, &images)
    }

    /// Which slices of the open volume are in the embedding cache under `model_id`'s encoder
    /// (through the current window): one flag per slice, for the slider's bar. A slice not yet
    /// rendered under this window counts as not encoded.
    pub fn encoded_slices(&self, model_id: &str) -> Result<Vec<bool>> {
        let model = self.models.get(model_id)?;
        let study = self.study()?;
        Ok(study
            .slice_keys
            .iter()
            .map(|key| key.is_some_and(|k| self.segmenter.is_cached(model, k)))
            .collect())
    }

    /// The persistent-store names ([`StoreKey::name`]) of the images a request will encode that
    /// the embedding cache does not hold: slices `slices` of the open volume, or the shown image
    /// when `slices` is `None`. A frontend whose storage is asynchronous looks these up and
    /// stages them before the request ([`crate::store::StagedStore`]).
    pub fn store_names(&mut self, model_id: &str, slices: Option<&[usize]>) -> Result<Vec<String>> {
        let model = self.models.get(model_id)?;
        let study = self.study.as_mut().ok_or_else(no_study)?;
        let mut names = Vec::new();
        let mut add = |image: &RgbImage| -> Result<()> {
            if !self
                .segmenter
                .is_cached(model, image_key(image.width, image.height, &image.data))
            {
                let input = prepare(image)?.input;
                names.push(StoreKey::new(&model.encoder_sha256, &input)?.name());
            }
            Ok(())
        };
        match slices {
            None => add(&study.image)?,
            Some(slices) => {
                for &z in slices {
                    add(&study.slice_image(z)?)?;
                }
            }
        }
        Ok(names)
    }

    /// How many times an encoder ran in this session.
    pub fn encoder_runs(&self) -> u64 {
        self.segmenter.encoder_runs()
    }

    /// Keep embeddings in `store` as well as in memory: read before encoding, written after.
    pub fn set_embedding_store(&mut self, store: Box<dyn EmbeddingStore>) {
        self.segmenter.set_store(store);
    }

    /// Every box on the shown image: box i paints label i + 1, later boxes over earlier ones.
    /// The image is encoded once (the cache keeps it), then the decoder runs once per box.
    pub fn segment_boxes(
        &mut self,
        model_id: &str,
        boxes: &[BoxPrompt],
        clock: Clock,
    ) -> Result<Segmentation> {
        let model = self.models.get(model_id)?;
        let image = &self.study.as_ref().ok_or_else(no_study)?.image;
        self.segmenter.segment(model, image, boxes, clock)
    }

    /// As [`Session::segment_boxes`], each box refined by its clicks: a click on the object
    /// (foreground) or off it (background) re-runs only the decoder.
    pub fn segment_prompts(
        &mut self,
        model_id: &str,
        prompts: &[ObjectPrompt],
        clock: Clock,
    ) -> Result<Segmentation> {
        let model = self.models.get(model_id)?;
        let image = &self.study.as_ref().ok_or_else(no_study)?.image;
        self.segmenter.segment_prompts(model, image, prompts, clock)
    }

    /// 3D propagation of every box over the open volume through its window (see
    /// [`crate::segment::volume`]); `progress(done, total)` after each slice, `false` cancels with
    /// [`Error::Cancelled`]. The label volume, `depth * height * width`.
    pub fn segment_3d(
        &mut self,
        model_id: &str,
        boxes: &[Box3d],
        progress: Progress,
    ) -> Result<Vec<u16>> {
        let model = self.models.get(model_id)?;
        let study = self.study.as_ref().ok_or_else(no_study)?;
        let (_, view) = study.volume.as_ref().ok_or_else(no_volume)?;
        self.segmenter
            .segment_3d(model, &view.grey, boxes, progress)
    }

    /// 3D propagation over a grey volume that is not the open study (voxels from elsewhere: a
    /// challenge case's array, a benchmark).
    pub fn segment_grey_volume(
        &mut self,
        model_id: &str,
        volume: &GreyVolume,
        boxes: &[Box3d],
        progress: Progress,
    ) -> Result<Vec<u16>> {
        let model = self.models.get(model_id)?;
        self.segmenter.segment_3d(model, volume, boxes, progress)
    }

    /// Labels of the open study as a file, chosen by `file_name`'s ending. An image's labels
    /// (`width * height`) become a `.png`; a volume's (`depth * height * width`) a `.nii.gz` /
    /// `.nii` in the source's geometry, a challenge `.npz`, or one slice as `.png`.
    pub fn export(
        &self,
        labels: Vec<u16>,
        file_name: &str,
        slice: Option<usize>,
    ) -> Result<Vec<u8>> {
        let study = self.study()?;
        match &study.volume {
            Some((volume, _)) => {
                let format = VolumeExport::from_file_name(file_name, slice)?;
                export_volume_labels(volume, &labels, format)
            }
            None => {
                if !file_name.to_ascii_lowercase().ends_with(".png") {
                    return Err(Error::invalid(format!(
                        "{file_name}: an image's labels are written as .png"
                    )));
                }
                let (width, height) = (study.image.width, study.image.height);
                if width.checked_mul(height) != Some(labels.len()) {
                    return Err(Error::invalid(format!(
                        "{} labels for a {width}x{height} image",
                        labels.len()
                    )));
                }
                label_png(&LabelMap {
                    width,
                    height,
                    labels,
                })
            }
        }
    }

    /// The labels of the open study (a volume opened from DICOM: `depth * height * width`) as a
    /// DICOM SEG (see [`crate::medical::dicom_seg::write_seg`]): one segment per object, named,
    /// coloured and typed as `segments` say (labels they leave out get defaults),
    /// `algorithm_name` the model that made them, dated `created_unix_s` (UTC).
    pub fn export_seg(
        &self,
        labels: &[u16],
        segments: &[SegmentInfo],
        algorithm_name: &str,
        created_unix_s: i64,
    ) -> Result<Vec<u8>> {
        let study = self.study()?;
        let (volume, _) = study.volume.as_ref().ok_or_else(|| {
            Error::invalid(
                "a DICOM SEG is made over a study opened from DICOM, and this one is an image: export PNG instead",
            )
        })?;
        write_seg(volume, labels, segments, algorithm_name, created_unix_s)
    }

    /// Measurements of every object in `labels` (the open study's label map or label volume, as
    /// segmenting gives it) over the source's intensities: per object in 3D and per slice,
    /// voxels, area (mm²) or volume (mL) from the source spacing, mean / SD / min / max, the
    /// bounding box. Images measure their grey value (colour ones their luma), in pixels
    /// (spacing 1). The unit is "HU" for CT from DICOM (whose values are rescaled to HU), else
    /// empty.
    pub fn measure(&self, labels: &[u16]) -> Result<(Vec<Measurement>, &'static str)> {
        let study = self.study()?;
        match &study.volume {
            Some((volume, _)) => {
                let values = grey_values(volume);
                let grid = Grid {
                    values: &values,
                    width: volume.width,
                    height: volume.height,
                    depth: volume.depth,
                    spacing: volume.spacing,
                };
                let ct = volume.format == "DICOM"
                    && volume
                        .modality
                        .as_deref()
                        .is_some_and(|m| m.trim().eq_ignore_ascii_case("CT"));
                Ok((measure(&grid, labels)?, if ct { "HU" } else { "" }))
            }
            None => {
                // A grey picture's own values; a colour one's luma.
                let values: Vec<f32> = study
                    .image
                    .data
                    .chunks_exact(3)
                    .map(|p| match p {
                        [r, g, b] if r == g && g == b => *r as f32,
                        _ => luma([p[0] as f32, p[1] as f32, p[2] as f32]),
                    })
                    .collect();
                let grid = Grid {
                    values: &values,
                    width: study.image.width,
                    height: study.image.height,
                    depth: 1,
                    spacing: [1.0; 3],
                };
                Ok((measure(&grid, labels)?, ""))
            }
        }
    }

    /// A label file over the open study (see [`crate::labels`]): a grey PNG (8- or 16-bit)
    /// over an image; a NIfTI, NRRD or DICOM label volume, or a challenge NPZ's `segs` (else
    /// `gts`), over a volume. Another size or another geometry is refused with what differs.
    pub fn open_labels(&self, name: &str, bytes: &[u8]) -> Result<OpenedLabels> {
        let study = self.study()?;
        let in_file = |e: Error| e.context(name);
        match &study.volume {
            None => {
                let (width, height) = (study.image.width, study.image.height);
                let image = decode_image(bytes).map_err(in_file)?;
                let size = [image.width() as usize, image.height() as usize, 1];
                let values: Vec<f64> = match image {
                    DynamicImage::ImageLuma8(img) => img.iter().map(|&v| v as f64).collect(),
                    DynamicImage::ImageLuma16(img) => img.iter().map(|&v| v as f64).collect(),
                    _ => {
                        return Err(Error::invalid(format!(
                        "{name}: a label image is a grey PNG (8- or 16-bit), one label per pixel"
                    )))
                    }
                };
                check_geometry(name, size, None, [width, height, 1], None)?;
                renumber(name, values.into_iter(), size)
            }
            Some((volume, _)) => {
                let study_size = [volume.width, volume.height, volume.depth];
                if name.to_ascii_lowercase().ends_with(".npz") {
                    // Challenge NPZ labels are in the displayed (z, y, x) order, as we write them.
                    let (shape, values) = read_labels(bytes, "segs")
                        .or_else(|_| read_labels(bytes, "gts"))
                        .map_err(in_file)?;
                    let size = match shape[..] {
                        [d, h, w] => [w, h, d],
                        [h, w] => [w, h, 1],
                        _ => [0, 0, 0],
                    };
                    check_geometry(name, size, None, study_size, None)?;
                    return renumber(name, values.iter().map(|&v| v as f64), size);
                }
                if let Some((labels, segments)) =
                    crate::medical::dicom::read_segmentation(name, bytes, volume)?
                {
                    let labels = volume.labels_from_source_order(&labels)?;
                    let mut opened = renumber(name, labels.iter().map(|&v| v as f64), study_size)?;
                    for object in &mut opened.objects {
                        let segment = segments
                            .iter()
                            .find(|s| s.number as u32 == object.source_label);
                        if let Some(s) = segment {
                            object.name = Some(s.name.clone()).filter(|n| !n.is_empty());
                            object.colour = s.colour;
                            object.algorithm = s.algorithm;
                        }
                    }
                    return Ok(opened);
                }
                let labels = read_volume(name, bytes).map_err(in_file)?;
                if labels.channels != 1 {
                    return Err(Error::invalid(format!(
                        "{name}: a label volume has one value per voxel, this one {}",
                        labels.channels
                    )));
                }
                let size = [labels.width, labels.height, labels.depth];
                check_geometry(
                    name,
                    size,
                    Some(&labels.affine),
                    study_size,
                    Some(&volume.affine),
                )?;
                renumber(name, labels.data.iter().map(|&v| v as f64), size)
            }
        }
    }

    /// [`Session::measure`] as CSV ([`measurements_csv`]).
    pub fn measurements_csv(&self, labels: &[u16]) -> Result<String> {
        let (rows, unit) = self.measure(labels)?;
        Ok(measurements_csv(&rows, unit))
    }

    /// How many embeddings the cache holds.
    pub fn cached_embeddings(&self) -> usize {
        self.segmenter.cached_embeddings()
    }

    /// Forget every cached embedding (each benchmark case, and each challenge case, is timed on
    /// its own).
    pub fn clear_cache(&mut self) {
        self.segmenter.clear_cache();
    }

    /// The encoder input of the shown image (`1x3x256x256`): for benchmarks of other engines.
    pub fn prepared_input(&self) -> Result<Vec<f32>> {
        Ok(prepare(self.image()?)?.input)
    }

    fn study(&self) -> Result<&Study> {
        self.study.as_ref().ok_or_else(no_study)
    }

    fn study_mut(&mut self) -> Result<&mut Study> {
        self.study.as_mut().ok_or_else(no_study)
    }
}

fn no_study() -> Error {
    Error::invalid("nothing is open: open an image or a volume first")
}

fn no_volume() -> Error {
    Error::invalid("no volume is open: slices and 3D boxes need a volume")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/manifest.json"))
                .unwrap();
        Manifest::parse(&text).unwrap()
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image =
            image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = std::io::Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn an_image_opens_and_exports_and_volume_calls_say_what_is_missing() {
        let mut session = Session::new(manifest());
        let nothing = session.route(None).unwrap_err().to_string();
        assert!(nothing.contains("open an image"), "{nothing}");
        let info = session
            .open(vec![("2DBox_CT_x.png".into(), png(5, 3))])
            .unwrap();
        assert_eq!((info.kind, info.width, info.height), ("image", 5, 3));
        assert!(session.route(None).unwrap().reason.contains("CT"));
        assert!(session.set_window(&Window::PERCENTILE).is_err());
        assert!(session.show_slice(0).is_err());
        let unloaded = session.encode("litemedsam").unwrap_err();
        assert_eq!(unloaded.kind(), "ModelError");
        let png = session.export(vec![1; 15], "m.png", None).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        assert!(session.export(vec![1; 14], "m.png", None).is_err());
        assert!(session.export(vec![1; 15], "m.nii.gz", None).is_err());
    }

    #[test]
    fn unreadable_files_name_themselves() {
        let mut session = Session::new(manifest());
        let error = session
            .open(vec![("scan.png".into(), b"not an image".to_vec())])
            .unwrap_err();
        assert_eq!(error.kind(), "DecodeError");
        assert!(error.to_string().contains("scan.png"), "{error}");
        assert!(session.open(Vec::new()).is_err());
    }
}
