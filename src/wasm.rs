//! The browser bindings: the only file that knows wasm-bindgen. Every export returns
//! `Result<_, JsError>`; our [`crate::Error`] converts through wasm-bindgen's blanket
//! `From<std::error::Error>`, so messages reach the page as written. Inputs from JavaScript are
//! checked here or in the core, so none of them can make the module panic; a panic hook still
//! logs any bug to the console instead of an opaque `unreachable`.

use std::collections::HashMap;

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::decode::{decode_image, RgbImage};
use crate::error::Error;
use crate::export::label_png;
use crate::export::{export_volume_labels, VolumeExport};
use crate::manifest::Manifest;
use crate::medical::window::{windowed, Window, Windowed};
use crate::medical::{dicom, read_volume, sniff, MedicalVolume, VolumeFormat};
use crate::model::SamModel;
use crate::postprocess::LabelMap;
use crate::preprocess::{prepare, validate_box};
use crate::router::{route, RouteRequest};
use crate::segment::{decode_box, EncodedImage, Segmenter};
use crate::volume::{Box3d, GreyVolume};

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

// The threaded module (cargo feature `threads`) exports wasm-bindgen-rayon's
// `initThreadPool(n)`, which starts n web workers on this module's shared memory.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Run models on the pool `initThreadPool` started (call it once that promise resolved). An
/// error in the single-thread module, which has no pool.
#[wasm_bindgen(js_name = useThreadPool)]
pub fn use_thread_pool() -> Result<(), JsError> {
    #[cfg(feature = "threads")]
    {
        crate::threads::use_global_pool();
        Ok(())
    }
    #[cfg(not(feature = "threads"))]
    Err(Error::invalid("this is the single-thread module: it has no thread pool").into())
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    serde_wasm_bindgen::to_value(value).map_err(|e| JsError::new(&e.to_string()))
}

#[derive(Serialize)]
struct RouteJs {
    model_id: String,
    modality: Option<String>,
    reason: String,
}

#[derive(Serialize)]
struct ImageInfo {
    width: usize,
    height: usize,
}

#[derive(Serialize)]
struct EncodeInfo {
    cache_hit: bool,
    cached_embeddings: usize,
}

#[derive(Serialize)]
struct VolumeInfo {
    width: usize,
    height: usize,
    depth: usize,
    channels: usize,
    spacing: [f64; 3],
    modality: Option<String>,
    format: String,
    notes: Vec<String>,
    window: Window,
    window_label: String,
    /// Boxes that came with the file (challenge NPZ), `[x0, y0, z0, x1, y1, z1]` each.
    boxes: Vec<Box3d>,
}

#[derive(Serialize)]
struct WindowInfo {
    window: Window,
    label: String,
    level: f64,
    width: f64,
}

/// One engine per worker: the manifest, the loaded models, the current image (a file, or the
/// shown slice of the current volume) and the cache.
#[wasm_bindgen]
pub struct Engine {
    manifest: Manifest,
    models: HashMap<String, SamModel>,
    segmenter: Segmenter,
    image: Option<RgbImage>,
    encoded: Option<(String, EncodedImage)>,
    bench_embedding: Option<crate::model::Embedding>,
    /// The open volume and the window it is seen through (with the uint8 volume the model sees).
    volume: Option<(MedicalVolume, Windowed)>,
}

#[wasm_bindgen]
impl Engine {
    #[wasm_bindgen(constructor)]
    pub fn new(manifest_json: &str) -> Result<Engine, JsError> {
        Ok(Engine {
            manifest: Manifest::parse(manifest_json)?,
            models: HashMap::new(),
            segmenter: Segmenter::default(),
            image: None,
            encoded: None,
            bench_embedding: None,
            volume: None,
        })
    }

    /// The manifest as a JS object (for the model menu).
    pub fn manifest(&self) -> Result<JsValue, JsError> {
        to_js(&self.manifest)
    }

    /// Verify (size, sha256) and load a model from its two files' bytes.
    pub fn load_model(&mut self, id: &str, encoder: &[u8], decoder: &[u8]) -> Result<(), JsError> {
        let entry = self.manifest.model(id)?;
        let model = SamModel::from_bytes(entry, encoder, decoder)?;
        self.models.insert(id.to_string(), model);
        Ok(())
    }

    pub fn has_model(&self, id: &str) -> bool {
        self.models.contains_key(id)
    }

    /// The router's choice for a file: `{ model_id, modality, reason }`.
    pub fn route(
        &self,
        file_name: &str,
        modality: Option<String>,
        model: Option<String>,
    ) -> Result<JsValue, JsError> {
        let request = RouteRequest {
            model: model.as_deref().filter(|m| !m.is_empty()),
            metadata_modality: modality.as_deref(),
            file_name: Some(file_name),
        };
        let chosen = route(&self.manifest, &request)?;
        to_js(&RouteJs {
            model_id: chosen.model_id,
            modality: chosen.modality.map(|m| m.name().to_string()),
            reason: chosen.reason,
        })
    }

    /// Decode an image file; it becomes the current image. Returns `{ width, height }`.
    pub fn open_image(&mut self, bytes: &[u8]) -> Result<JsValue, JsError> {
        let image = decode_image(bytes)?;
        let info = ImageInfo {
            width: image.width,
            height: image.height,
        };
        self.image = Some(image);
        self.encoded = None;
        to_js(&info)
    }

    /// Raw 8-bit RGB pixels (`width * height * 3`, row-major) become the current image: for
    /// arrays that are not image files (the challenge's NPZ cases).
    pub fn open_rgb(&mut self, width: usize, height: usize, rgb: Vec<u8>) -> Result<(), JsError> {
        self.image = Some(RgbImage::new(width, height, rgb)?);
        self.encoded = None;
        Ok(())
    }

    /// The current image as RGBA bytes, for an `ImageData`.
    pub fn image_rgba(&self) -> Result<Vec<u8>, JsError> {
        let image = self.current_image()?;
        Ok(image
            .data
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect())
    }

    /// Encode the current image with a model's encoder (or take it from the cache).
    pub fn encode(&mut self, model_id: &str) -> Result<JsValue, JsError> {
        let model = self
            .models
            .get(model_id)
            .ok_or_else(|| Error::model(model_id, "not loaded"))?;
        let image = self
            .image
            .as_ref()
            .ok_or_else(|| Error::invalid("no image is open"))?;
        let (encoded, cache_hit) = self.segmenter.encode(model, image)?;
        self.encoded = Some((model_id.to_string(), encoded));
        to_js(&EncodeInfo {
            cache_hit,
            cached_embeddings: self.segmenter.cache.len(),
        })
    }

    /// The mask of one box on the current, encoded image: `width * height` bytes, 1 = object.
    pub fn segment_box(
        &mut self,
        model_id: &str,
        x_min: f64,
        y_min: f64,
        x_max: f64,
        y_max: f64,
    ) -> Result<Vec<u8>, JsError> {
        let (height, width) = {
            let image = self.current_image()?;
            (image.height, image.width)
        };
        let coords = [x_min, y_min, x_max, y_max];
        if coords.iter().any(|v| !v.is_finite()) {
            return Err(Error::invalid("box coordinates must be finite numbers").into());
        }
        let prompt = validate_box(0, coords.map(|v| v.round() as i64), height, width)?;
        if self.encoded.as_ref().map(|(id, _)| id.as_str()) != Some(model_id) {
            self.encode(model_id)?;
        }
        let model = self.model(model_id)?;
        let (_, encoded) = self
            .encoded
            .as_ref()
            .ok_or_else(|| Error::invalid("the image is not encoded"))?;
        let (mask, _) = decode_box(model, encoded, prompt)?;
        Ok(mask.into_iter().map(u8::from).collect())
    }

    /// 3D segmentation of a grey volume (`depth * height * width` bytes) with boxes
    /// `[x_min, y_min, z_min, x_max, y_max, z_max]` (6 numbers each). `progress(done, total)` is
    /// called after every slice; returning `false` cancels. Returns the label volume.
    #[allow(clippy::too_many_arguments)]
    pub fn segment_volume(
        &mut self,
        model_id: &str,
        depth: usize,
        height: usize,
        width: usize,
        voxels: Vec<u8>,
        boxes: Vec<f64>,
        progress: Option<js_sys::Function>,
    ) -> Result<Vec<u16>, JsError> {
        let boxes = boxes_3d(&boxes)?;
        let volume = GreyVolume::new(depth, height, width, voxels)?;
        let model = self
            .models
            .get(model_id)
            .ok_or_else(|| Error::model(model_id, "not loaded"))?;
        let mut report = js_progress(progress);
        Ok(self
            .segmenter
            .segment_3d(model, &volume, &boxes, &mut report)?)
    }

    /// Open a volume: one DICOM, NIfTI, NRRD or challenge NPZ file, or several DICOM files of a
    /// series (`names[i]` names `files[i]`, a `Uint8Array`). The default window follows the
    /// modality. Returns its size, spacing, modality, window and notes.
    pub fn open_volume(
        &mut self,
        names: Vec<String>,
        files: js_sys::Array,
    ) -> Result<JsValue, JsError> {
        if names.is_empty() || names.len() != files.length() as usize {
            return Err(Error::invalid("give one name per file").into());
        }
        let mut inputs = Vec::with_capacity(names.len());
        for (i, name) in names.into_iter().enumerate() {
            let value = files.get(i as u32);
            if !value.is_instance_of::<js_sys::Uint8Array>() {
                return Err(Error::invalid(format!("file {} is not a Uint8Array", i + 1)).into());
            }
            inputs.push((name, js_sys::Uint8Array::from(value).to_vec()));
        }
        let volume = if inputs.len() == 1 {
            let (name, bytes) = &inputs[0];
            read_volume(name, bytes)?
        } else {
            if let Some((name, _)) = inputs.iter().find(|(n, b)| {
                matches!(
                    sniff(n, b),
                    Some(VolumeFormat::Nifti | VolumeFormat::Nrrd | VolumeFormat::Npz)
                )
            }) {
                return Err(Error::invalid(format!(
                    "{name}: several files open as one DICOM series; open NIfTI, NRRD and NPZ files one at a time"
                ))
                .into());
            }
            dicom::read_series(&inputs)?.reoriented()
        };
        let view = windowed(&volume, &Window::default_for(&volume))?;
        let info = VolumeInfo {
            width: volume.width,
            height: volume.height,
            depth: volume.depth,
            channels: volume.channels,
            spacing: volume.spacing,
            modality: volume.modality.clone(),
            format: volume.format.clone(),
            notes: volume.notes.clone(),
            window: view.window,
            window_label: view.label(),
            boxes: volume.boxes.clone(),
        };
        self.volume = Some((volume, view));
        self.image = None;
        self.encoded = None;
        to_js(&info)
    }

    /// Change the open volume's window (`{kind: "preset", name: "lung"}`, `{kind: "percentile",
    /// low, high}`, `{kind: "manual", level, width}`): what is shown and what the model sees.
    pub fn set_window(&mut self, window: JsValue) -> Result<JsValue, JsError> {
        let window: Window = serde_wasm_bindgen::from_value(window)
            .map_err(|e| Error::invalid(format!("window: {e}")))?;
        let (volume, view) = self
            .volume
            .as_mut()
            .ok_or_else(|| Error::invalid("no volume is open"))?;
        *view = windowed(volume, &window)?;
        self.encoded = None;
        to_js(&WindowInfo {
            window,
            label: view.label(),
            level: view.level,
            width: view.width,
        })
    }

    /// Show slice `z` of the open volume: it becomes the current image (boxes drawn on it are
    /// segmented in 2D). Returns its RGBA pixels.
    pub fn select_slice(&mut self, z: usize) -> Result<Vec<u8>, JsError> {
        let (volume, view) = self
            .volume
            .as_ref()
            .ok_or_else(|| Error::invalid("no volume is open"))?;
        self.image = Some(view.slice_image(volume, z)?);
        self.encoded = None;
        self.image_rgba()
    }

    /// 3D segmentation of the open volume (through its current window) with boxes
    /// `[x_min, y_min, z_min, x_max, y_max, z_max]`; `progress(done, total)` after every slice,
    /// returning `false` cancels. Returns the label volume (`depth * height * width`).
    pub fn segment_open_volume(
        &mut self,
        model_id: &str,
        boxes: Vec<f64>,
        progress: Option<js_sys::Function>,
    ) -> Result<Vec<u16>, JsError> {
        let boxes = boxes_3d(&boxes)?;
        let (_, view) = self
            .volume
            .as_ref()
            .ok_or_else(|| Error::invalid("no volume is open"))?;
        let model = self
            .models
            .get(model_id)
            .ok_or_else(|| Error::model(model_id, "not loaded"))?;
        let mut report = js_progress(progress);
        Ok(self
            .segmenter
            .segment_3d(model, &view.grey, &boxes, &mut report)?)
    }

    /// The open volume's labels as a file: `.nii.gz` / `.nii` (the source's geometry), `.npz`
    /// (`segs`, `spacing`) or `.png` (slice `slice`), chosen by `file_name`'s ending.
    pub fn export_volume(
        &self,
        labels: Vec<u16>,
        file_name: &str,
        slice: Option<usize>,
    ) -> Result<Vec<u8>, JsError> {
        let (volume, _) = self
            .volume
            .as_ref()
            .ok_or_else(|| Error::invalid("no volume is open"))?;
        let format = VolumeExport::from_file_name(file_name, slice)?;
        Ok(export_volume_labels(volume, &labels, format)?)
    }

    /// Forget every cached embedding (benchmarks time each case on its own).
    pub fn clear_cache(&mut self) {
        self.segmenter.cache.clear();
        self.encoded = None;
    }

    /// Benchmarks: the encoder input of the current image (`1x3x256x256`), for other engines.
    pub fn prepared_input(&self) -> Result<Vec<f32>, JsError> {
        Ok(prepare(self.current_image()?)?.input)
    }

    /// Benchmarks: run the encoder on the current image, bypassing the cache.
    pub fn bench_encode(&mut self, model_id: &str) -> Result<(), JsError> {
        let input = prepare(self.current_image()?)?.input;
        let embedding = self.model(model_id)?.encode(&input)?;
        self.bench_embedding = Some(embedding);
        Ok(())
    }

    /// Benchmarks: run the decoder once on the last `bench_encode` embedding.
    pub fn bench_decode(&self, model_id: &str, box_256: Vec<f32>) -> Result<(), JsError> {
        let embedding = self
            .bench_embedding
            .as_ref()
            .ok_or_else(|| Error::invalid("run bench_encode first"))?;
        let prompt: [f32; 4] = box_256
            .try_into()
            .map_err(|_| Error::invalid("a box has 4 values"))?;
        self.model(model_id)?.decode(embedding, prompt)?;
        Ok(())
    }

    /// A label map (`width * height` labels) as a PNG file.
    pub fn label_png(width: usize, height: usize, labels: Vec<u16>) -> Result<Vec<u8>, JsError> {
        if width.checked_mul(height) != Some(labels.len()) {
            return Err(Error::invalid("label map size does not match width x height").into());
        }
        Ok(label_png(&LabelMap {
            width,
            height,
            labels,
        })?)
    }
}

fn boxes_3d(values: &[f64]) -> Result<Vec<Box3d>, Error> {
    if !values.len().is_multiple_of(6) || values.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid("3D boxes are 6 finite numbers each"));
    }
    Ok(values
        .chunks_exact(6)
        .map(|b| [0, 1, 2, 3, 4, 5].map(|i| b[i].round() as i64))
        .collect())
}

/// A JS progress callback as the core's: `false` from JS (or a throw) cancels.
fn js_progress(progress: Option<js_sys::Function>) -> impl FnMut(usize, usize) -> bool {
    move |done: usize, total: usize| match &progress {
        Some(f) => f
            .call2(
                &JsValue::NULL,
                &JsValue::from(done as u32),
                &JsValue::from(total as u32),
            )
            .map(|r| r.as_bool() != Some(false))
            .unwrap_or(false),
        None => true,
    }
}

impl Engine {
    fn current_image(&self) -> Result<&RgbImage, Error> {
        self.image
            .as_ref()
            .ok_or_else(|| Error::invalid("no image is open"))
    }

    fn model(&self, id: &str) -> Result<&SamModel, Error> {
        self.models
            .get(id)
            .ok_or_else(|| Error::model(id, "not loaded"))
    }
}
