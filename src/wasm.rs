//! The browser bindings: the only file that knows wasm-bindgen, a few lines per method over
//! [`Session`]. Names are camelCase for JavaScript (`js_name`). Every error crosses as a JS
//! `Error` made by [`js_error`]: its message is ours as written, its `name` our
//! [`Error::kind`] (`Cancelled`, `InvalidInputError`, ...), so the page can tell a cancel from bad
//! input. Inputs from JavaScript are checked here or in the core, so none can make the module
//! panic; a panic hook still logs any bug to the console instead of an opaque `unreachable`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::rc::Rc;

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::background::slice_ranges;
use crate::error::Error;
use crate::manifest::Manifest;
use crate::medical::dicom::SeriesFiles;
use crate::medical::window::Window;
use crate::model::ModelBytes;
use crate::prompt::{boxes_from_numbers, prompts_from_numbers};
use crate::rgb::RgbImage;
use crate::segment::GreyVolume;
use crate::session::{EncoderBench, Session};
use crate::store::{StagedStore, ENTRY_BYTES};

type JsResult<T> = Result<T, JsValue>;

/// Our error as a JS `Error`: message as written, `name` = [`Error::kind`].
fn js_error(error: Error) -> JsValue {
    let value: JsValue = JsError::new(&error.to_string()).into();
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&value, &"name".into(), &error.kind().into());
    value
}

impl From<Error> for JsValue {
    fn from(error: Error) -> JsValue {
        js_error(error)
    }
}

fn to_js<T: Serialize>(value: &T) -> JsResult<JsValue> {
    // Maps as plain objects: the manifest's free-form fields (`heldout`) read as `a.b.c`.
    let serializer = serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true);
    value
        .serialize(&serializer)
        .map_err(|e| js_error(Error::invalid(e)))
}

/// The files the page gave `open`, in JS memory until the series reader asks for one.
struct PageFiles {
    names: Vec<String>,
    files: js_sys::Array,
}

impl SeriesFiles for PageFiles {
    fn count(&self) -> usize {
        self.names.len()
    }

    fn name(&self, i: usize) -> String {
        self.names[i].clone()
    }

    fn bytes(&mut self, i: usize, _last: bool) -> crate::Result<Cow<'_, [u8]>> {
        Ok(Cow::Owned(
            js_sys::Uint8Array::from(self.files.get(i as u32)).to_vec(),
        ))
    }
}

/// A label volume from the page, as small as its values allow.
enum Labels {
    Bytes(Vec<u8>),
    Wide(Vec<u16>),
}

/// Values copied out of (or into) JS memory a chunk at a time, so a volume's labels are never
/// held here twice.
const LABEL_CHUNK: u32 = 1 << 20;

/// The page's 16-bit labels, copied in as bytes where every label is at most 255.
fn labels_from_js(array: &js_sys::Uint16Array) -> Labels {
    let length = array.length();
    let mut chunk = Vec::new();
    let mut bytes: Vec<u8> = Vec::with_capacity(length as usize);
    let mut start = 0;
    while start < length {
        let end = (start + LABEL_CHUNK).min(length);
        chunk.resize((end - start) as usize, 0u16);
        array.subarray(start, end).copy_to(&mut chunk);
        if chunk.iter().any(|&l| l > u8::MAX as u16) {
            return Labels::Wide(array.to_vec());
        }
        bytes.extend(chunk.iter().map(|&l| l as u8));
        start = end;
    }
    Labels::Bytes(bytes)
}

/// Labels as the page's Uint16Array, written a chunk at a time.
fn labels_to_js<L: crate::label_value::LabelValue>(labels: &[L]) -> js_sys::Uint16Array {
    let out = js_sys::Uint16Array::new_with_length(labels.len() as u32);
    let mut chunk: Vec<u16> = Vec::new();
    for (i, part) in labels.chunks(LABEL_CHUNK as usize).enumerate() {
        chunk.clear();
        chunk.extend(part.iter().map(|&l| l.into()));
        let start = i as u32 * LABEL_CHUNK;
        out.subarray(start, start + part.len() as u32)
            .copy_from(&chunk);
    }
    out
}

/// Runs when the module is instantiated: panics (bugs) are logged with their message.
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
pub fn use_thread_pool() -> JsResult<()> {
    #[cfg(feature = "threads")]
    {
        crate::threads::use_global_pool();
        Ok(())
    }
    #[cfg(not(feature = "threads"))]
    Err(Error::invalid("this is the single-thread module: it has no thread pool").into())
}

/// Benchmarks: the Markdown table of `daftseg bench --profile` for `benchProfile` results,
/// `columns` being `[[name, nodes], ...]` (the first one the reference).
#[wasm_bindgen(js_name = profileTable)]
pub fn profile_table(columns: JsValue) -> JsResult<String> {
    let columns: Vec<(String, Vec<crate::profile::NodeTime>)> =
        serde_wasm_bindgen::from_value(columns).map_err(|e| js_error(Error::invalid(e)))?;
    Ok(crate::profile::markdown_table(&columns))
}

/// `performance.now()` of the worker this runs on (looked up on each call: a model run may be
/// on a pool worker, which has its own global scope). 0 where there is none.
fn performance_now() -> f64 {
    let global = js_sys::global();
    js_sys::Reflect::get(&global, &"performance".into())
        .ok()
        .and_then(|performance| {
            let now = js_sys::Reflect::get(&performance, &"now".into()).ok()?;
            let now: js_sys::Function = now.dyn_into().ok()?;
            now.call0(&performance).ok()?.as_f64()
        })
        .unwrap_or(0.0)
}

/// Entries waiting to be written to the browser's storage after one request, at most: 16
/// embeddings (64 MiB). Idle time encodes one slice per request, so only a large Segment 3D over
/// slices not encoded before reaches it; past it, embeddings are used and not kept.
const MAX_WAITING_ENTRIES: usize = 16;

/// One engine per worker: a [`Session`] (models, open study, cache), and the staging area of
/// the worker's persistent embedding store.
#[wasm_bindgen]
pub struct Engine {
    session: Session,
    store: Rc<RefCell<StagedStore>>,
    /// The last `benchEncode` result, for `benchDecode`.
    bench: EncoderBench,
}

#[wasm_bindgen]
impl Engine {
    /// An engine over a manifest's JSON text (checked), nothing open, no model loaded.
    #[wasm_bindgen(constructor)]
    pub fn new(manifest_json: &str) -> JsResult<Engine> {
        let mut session = Session::new(Manifest::parse(manifest_json)?);
        let store = Rc::new(RefCell::new(StagedStore::new(
            MAX_WAITING_ENTRIES * ENTRY_BYTES,
        )));
        session.set_embedding_store(Box::new(store.clone()));
        Ok(Engine {
            session,
            store,
            bench: EncoderBench::default(),
        })
    }

    /// The manifest as a JS object, every field included (the model menu shows `heldout`).
    pub fn manifest(&self) -> JsResult<JsValue> {
        to_js(self.session.models().manifest())
    }

    /// Verify (size, sha256) and load a model from its files' bytes: the encoder, the decoder
    /// and, for an entry that lists one, its decoder patch.
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(
        &mut self,
        id: &str,
        encoder: &[u8],
        decoder: &[u8],
        decoder_patch: Option<Vec<u8>>,
    ) -> JsResult<()> {
        let files = ModelBytes {
            encoder,
            decoder,
            decoder_patch: decoder_patch.as_deref(),
        };
        Ok(self.session.models_mut().load(id, files)?)
    }

    /// Whether model `id` is loaded.
    #[wasm_bindgen(js_name = hasModel)]
    pub fn has_model(&self, id: &str) -> bool {
        self.session.models().is_loaded(id)
    }

    /// Open files as the study (`names[i]` names `files[i]`, a `Uint8Array`): one image, one
    /// DICOM / NIfTI / NRRD / NPZ file, or the DICOM files of a series. Returns its `StudyInfo`.
    /// `progress(done, total)` as a volume is read; returning `false` cancels (an Error named
    /// `Cancelled`; the study open before stays open).
    pub fn open(
        &mut self,
        names: Vec<String>,
        files: js_sys::Array,
        progress: Option<js_sys::Function>,
    ) -> JsResult<JsValue> {
        if names.len() != files.length() as usize {
            return Err(Error::invalid("give one name per file").into());
        }
        for i in 0..files.length() {
            if !files.get(i).is_instance_of::<js_sys::Uint8Array>() {
                return Err(Error::invalid(format!("file {} is not a Uint8Array", i + 1)).into());
            }
        }
        let mut progress = js_progress(progress);
        if names.len() > 1 {
            // A series: each file is copied in when the reader asks for it, never all at once.
            let first = names[0].clone();
            let mut series = PageFiles { names, files };
            return to_js(
                &self
                    .session
                    .open_series(first, &mut series, &mut progress)?,
            );
        }
        let inputs = names
            .into_iter()
            .zip(files.iter())
            .map(|(name, file)| (name, js_sys::Uint8Array::from(file).to_vec()))
            .collect();
        to_js(&self.session.open_with_progress(inputs, &mut progress)?)
    }

    /// Raw 8-bit RGB pixels (`width * height * 3`, row-major) as the study: for arrays that are
    /// not files (a challenge case's `imgs`).
    #[wasm_bindgen(js_name = openRgb)]
    pub fn open_rgb(
        &mut self,
        name: &str,
        width: usize,
        height: usize,
        rgb: Vec<u8>,
    ) -> JsResult<JsValue> {
        to_js(
            &self
                .session
                .open_rgb(name, RgbImage::new(width, height, rgb)?)?,
        )
    }

    /// The router's choice for the open study: `{ modelId, modality, reason }`. `model` is the
    /// user's explicit choice, if any.
    pub fn route(&self, model: Option<String>) -> JsResult<JsValue> {
        to_js(&self.session.route(model.as_deref())?)
    }

    /// The route once the image content is classified (when `route` said `needsContent`: its
    /// model, the general one, must be loaded; the shown image is encoded, and stays cached).
    #[wasm_bindgen(js_name = routeByContent)]
    pub fn route_by_content(&mut self, model: Option<String>) -> JsResult<JsValue> {
        to_js(&self.session.route_by_content(model.as_deref())?)
    }

    /// The next slices idle time encodes together, one per worker of the thread pool (one in
    /// the single-thread module), given the drawn boxes' slice ranges (`[z_min, z_max]` flat,
    /// 2 numbers each); empty when there is nothing more to do.
    #[wasm_bindgen(js_name = nextSlicesToEncode)]
    pub fn next_slices_to_encode(&mut self, model_id: &str, ranges: &[u32]) -> JsResult<Vec<u32>> {
        let ranges = slice_ranges(ranges)?;
        let count = crate::threads::workers();
        Ok(self
            .session
            .next_slices_to_encode(model_id, &ranges, count)?
            .into_iter()
            .map(|z| z as u32)
            .collect())
    }

    /// Encode slices `zs` of the open volume (those not cached), one per worker at once.
    #[wasm_bindgen(js_name = encodeSlices)]
    pub fn encode_slices(&mut self, model_id: &str, zs: &[u32]) -> JsResult<()> {
        let zs: Vec<usize> = zs.iter().map(|&z| z as usize).collect();
        Ok(self.session.encode_slices(model_id, &zs)?)
    }

    /// One byte per slice of the open volume: 1 where it is encoded (the slider's bar).
    #[wasm_bindgen(js_name = encodedSlices)]
    pub fn encoded_slices(&self, model_id: &str) -> JsResult<Vec<u8>> {
        let flags = self.session.encoded_slices(model_id)?;
        Ok(flags.into_iter().map(u8::from).collect())
    }

    /// The store names of the images a request will encode that memory does not hold: slices
    /// `slices` of the volume, or the shown image when `slices` is undefined. The worker looks
    /// them up in its storage and stages what it finds (`stageEntry`) before the request.
    #[wasm_bindgen(js_name = storeNames)]
    pub fn store_names(
        &mut self,
        model_id: &str,
        slices: Option<Vec<u32>>,
    ) -> JsResult<Vec<String>> {
        let slices: Option<Vec<usize>> =
            slices.map(|s| s.into_iter().map(|z| z as usize).collect());
        Ok(self.session.store_names(model_id, slices.as_deref())?)
    }

    /// An entry the worker's storage holds under `name`, for the next request (checked when
    /// read: a damaged one is reported by `takeStoreWork` and recomputed).
    #[wasm_bindgen(js_name = stageEntry)]
    pub fn stage_entry(&self, name: String, bytes: Vec<u8>) {
        self.store.borrow_mut().stage(name, bytes);
    }

    /// After a request: `{ saved: [{name, bytes}], damaged: [{name, why}], notKept }`: entries
    /// to write, entries to delete, and how many embeddings were not kept (past the bound).
    #[wasm_bindgen(js_name = takeStoreWork)]
    pub fn take_store_work(&self) -> JsResult<JsValue> {
        let mut store = self.store.borrow_mut();
        let work = store.take();
        let entry = |name: &str, key: &str, value: JsValue| -> JsResult<JsValue> {
            let object = js_sys::Object::new();
            js_sys::Reflect::set(&object, &"name".into(), &name.into())?;
            js_sys::Reflect::set(&object, &key.into(), &value)?;
            Ok(object.into())
        };
        let saved_js = js_sys::Array::new();
        for (name, bytes) in &work.saved {
            // A typed array, not a list of numbers: 4 MiB per entry.
            saved_js.push(&entry(
                name,
                "bytes",
                js_sys::Uint8Array::from(&bytes[..]).into(),
            )?);
        }
        let damaged_js = js_sys::Array::new();
        for (name, why) in &work.damaged {
            damaged_js.push(&entry(name, "why", why.into())?);
        }
        let result = js_sys::Object::new();
        js_sys::Reflect::set(&result, &"saved".into(), &saved_js)?;
        js_sys::Reflect::set(&result, &"damaged".into(), &damaged_js)?;
        js_sys::Reflect::set(&result, &"notKept".into(), &(store.not_kept as f64).into())?;
        Ok(result.into())
    }

    /// How many embeddings the in-memory cache holds.
    #[wasm_bindgen(js_name = cachedEmbeddings)]
    pub fn cached_embeddings(&self) -> usize {
        self.session.cached_embeddings()
    }

    /// How many times an encoder ran in this engine.
    #[wasm_bindgen(js_name = encoderRuns)]
    pub fn encoder_runs(&self) -> f64 {
        self.session.encoder_runs() as f64
    }

    /// The router's choice for a file name and metadata modality, without opening anything.
    #[wasm_bindgen(js_name = routeFile)]
    pub fn route_file(
        &self,
        file_name: &str,
        modality: Option<String>,
        model: Option<String>,
    ) -> JsResult<JsValue> {
        let models = self.session.models();
        to_js(&models.route_name(file_name, modality.as_deref(), model.as_deref())?)
    }

    /// The shown image (the image, or the shown slice) as RGBA bytes, for an `ImageData`.
    #[wasm_bindgen(js_name = imageRgba)]
    pub fn image_rgba(&self) -> JsResult<Vec<u8>> {
        Ok(self.session.image()?.to_rgba())
    }

    /// Show slice `z` of the open volume; returns its RGBA pixels.
    #[wasm_bindgen(js_name = showSlice)]
    pub fn show_slice(&mut self, z: usize) -> JsResult<Vec<u8>> {
        Ok(self.session.show_slice(z)?.to_rgba())
    }

    /// Change the open volume's window (`{kind: "preset", name: "lung"}`, `{kind: "percentile",
    /// low, high}`, `{kind: "manual", level, width}`). Returns `{ window, label, level, width }`.
    #[wasm_bindgen(js_name = setWindow)]
    pub fn set_window(&mut self, window: JsValue) -> JsResult<JsValue> {
        let window: Window = serde_wasm_bindgen::from_value(window)
            .map_err(|e| Error::invalid(format!("window: {e}")))?;
        to_js(&self.session.set_window(&window)?)
    }

    /// Encode the shown image (or find it in the cache): `{ cacheHit, cachedEmbeddings }`.
    pub fn encode(&mut self, model_id: &str) -> JsResult<JsValue> {
        let cache_hit = self.session.encode(model_id)?;
        to_js(&EncodeJs {
            cache_hit,
            cached_embeddings: self.session.cached_embeddings(),
        })
    }

    /// Every box (`[x_min, y_min, x_max, y_max]` flat, 4 numbers each) on the shown image,
    /// refined by `clicks` (`[box index, x, y, 1 on / 0 off the object]` flat, optional): the
    /// label map (`width * height`), box i painted as label i + 1, later boxes on top.
    #[wasm_bindgen(js_name = segmentBoxes)]
    pub fn segment_boxes(
        &mut self,
        model_id: &str,
        boxes: &[f64],
        clicks: Option<Vec<f64>>,
    ) -> JsResult<Vec<u16>> {
        let prompts = prompts_from_numbers(boxes, clicks.as_deref().unwrap_or(&[]))?;
        // Timings are the page's to measure (performance.now()), not the core's.
        let result = self.session.segment_prompts(model_id, &prompts, &|| 0.0)?;
        Ok(result.labels.labels)
    }

    /// 3D propagation over the open volume through its window, boxes
    /// `[x_min, y_min, z_min, x_max, y_max, z_max]` flat; `progress(done, total)` after every
    /// slice, returning `false` cancels (an Error named `Cancelled`). The label volume.
    #[wasm_bindgen(js_name = segment3d)]
    pub fn segment_3d(
        &mut self,
        model_id: &str,
        boxes: &[f64],
        progress: Option<js_sys::Function>,
    ) -> JsResult<js_sys::Uint16Array> {
        let boxes = boxes_from_numbers::<6>(boxes)?;
        let mut progress = js_progress(progress);
        // Up to 255 boxes the labels take a byte a voxel here; the page gets 16-bit labels.
        Ok(if boxes.len() <= u8::MAX as usize {
            let labels: Vec<u8> =
                self.session
                    .segment_3d_labels(model_id, &boxes, &mut progress)?;
            labels_to_js(&labels)
        } else {
            let labels: Vec<u16> =
                self.session
                    .segment_3d_labels(model_id, &boxes, &mut progress)?;
            labels_to_js(&labels)
        })
    }

    /// 3D propagation over grey voxels given here, not the open study (a challenge case's
    /// array): `shape` is `[depth, height, width]`, `voxels` that many bytes.
    #[wasm_bindgen(js_name = segmentGreyVolume)]
    pub fn segment_grey_volume(
        &mut self,
        model_id: &str,
        shape: Vec<u32>,
        voxels: Vec<u8>,
        boxes: &[f64],
        progress: Option<js_sys::Function>,
    ) -> JsResult<Vec<u16>> {
        let boxes = boxes_from_numbers::<6>(boxes)?;
        let [depth, height, width] = <[u32; 3]>::try_from(shape)
            .map_err(|_| Error::invalid("a volume's shape is [depth, height, width]"))?
            .map(|n| n as usize);
        let volume = GreyVolume::new(depth, height, width, voxels)?;
        Ok(self.session.segment_grey_volume(
            model_id,
            &volume,
            &boxes,
            &mut js_progress(progress),
        )?)
    }

    /// Labels of the open study as a file, by `fileName`'s ending: `.png` (an image, or slice
    /// `slice` of a volume), `.nii.gz` / `.nii` (the source's geometry) or `.npz`.
    #[wasm_bindgen(js_name = exportLabels)]
    pub fn export_labels(
        &self,
        labels: js_sys::Uint16Array,
        file_name: &str,
        slice: Option<usize>,
    ) -> JsResult<Vec<u8>> {
        Ok(match labels_from_js(&labels) {
            Labels::Bytes(labels) => self.session.export(labels, file_name, slice)?,
            Labels::Wide(labels) => self.session.export(labels, file_name, slice)?,
        })
    }

    /// The labels of a study opened from DICOM as a DICOM SEG: `segments` `[{ label, name,
    /// colour: [r, g, b], algorithm: "automatic" | "semiautomatic" | "manual" }]`,
    /// `algorithmName` the model, `createdUnixS` the time (UTC seconds).
    #[wasm_bindgen(js_name = exportSeg)]
    pub fn export_seg(
        &self,
        labels: &[u16],
        segments: JsValue,
        #[wasm_bindgen(js_name = algorithmName)] algorithm_name: &str,
        #[wasm_bindgen(js_name = createdUnixS)] created_unix_s: f64,
    ) -> JsResult<Vec<u8>> {
        let segments: Vec<crate::medical::dicom_seg::SegmentInfo> =
            serde_wasm_bindgen::from_value(segments)
                .map_err(|e| Error::invalid(format!("segments: {e}")))?;
        Ok(self
            .session
            .export_seg(labels, &segments, algorithm_name, created_unix_s as i64)?)
    }

    /// Manual edits (see [`crate::edit::Edit`]: `[{ kind: "paint" | "erase", label, z, points:
    /// [[x, y], ...], radius } | { kind: "fillHoles" | "clearSlice", label, z } | { kind:
    /// "keepLargest", label, z? }]`) applied in order to `labels` (whole `width x height`
    /// slices): the edited labels.
    #[wasm_bindgen(js_name = applyEdits)]
    pub fn apply_edits(
        &self,
        mut labels: Vec<u16>,
        width: usize,
        height: usize,
        edits: JsValue,
    ) -> JsResult<Vec<u16>> {
        let edits: Vec<crate::edit::Edit> = serde_wasm_bindgen::from_value(edits)
            .map_err(|e| Error::invalid(format!("edits: {e}")))?;
        crate::edit::apply_edits(&mut labels, width, height, &edits)?;
        Ok(labels)
    }

    /// Measurements of every object in `labels` (the open study's label map or volume) over the
    /// source intensities: `{ rows: [{ label, slice, voxels, areaMm2, volumeMl, mean, sd, min,
    /// max, bbox }], unit, csv }` (`slice` undefined: the whole volume; `unit` "HU" for DICOM CT).
    pub fn measure(&self, labels: js_sys::Uint16Array) -> JsResult<JsValue> {
        match labels_from_js(&labels) {
            Labels::Bytes(labels) => to_js(&self.session.measure_report(&labels)?),
            Labels::Wide(labels) => to_js(&self.session.measure_report(&labels)?),
        }
    }

    /// A label file over the open study: `{ labels: Uint16Array (the study's grid, renumbered
    /// 1..n), objects: [{ label, sourceLabel, voxels, bbox, name?, colour?, algorithm? }] }`
    /// (the last three from a DICOM SEG); another size or geometry is an Error saying what
    /// differs.
    #[wasm_bindgen(js_name = openLabels)]
    pub fn open_labels(&self, name: &str, bytes: &[u8]) -> JsResult<JsValue> {
        let opened = self.session.open_labels(name, bytes)?;
        let result = js_sys::Object::new();
        // A typed array, not a list of numbers: a volume's labels are millions.
        let labels = js_sys::Uint16Array::from(&opened.labels[..]);
        js_sys::Reflect::set(&result, &"labels".into(), &labels)?;
        js_sys::Reflect::set(&result, &"objects".into(), &to_js(&opened.objects)?)?;
        Ok(result.into())
    }

    /// Forget every cached embedding (benchmarks time each case on its own).
    #[wasm_bindgen(js_name = clearCache)]
    pub fn clear_cache(&mut self) {
        self.session.clear_cache();
    }

    /// Benchmarks: the encoder input of the shown image (`1x3x256x256`), for other engines.
    #[wasm_bindgen(js_name = preparedInput)]
    pub fn prepared_input(&self) -> JsResult<Vec<f32>> {
        Ok(self.session.prepared_input()?)
    }

    /// Benchmarks: run the encoder on the shown image, bypassing the cache.
    #[wasm_bindgen(js_name = benchEncode)]
    pub fn bench_encode(&mut self, model_id: &str) -> JsResult<()> {
        Ok(self.bench.encode(&self.session, model_id)?)
    }

    /// Benchmarks: the encoder on the shown image `runs` times (after one warm-up run), every
    /// node of its plan timed with `performance.now()`: each node's median,
    /// `[{ node, name, kind, ms, info }]` in plan order (`profileTable` makes the table).
    #[wasm_bindgen(js_name = benchProfile)]
    pub fn bench_profile(&mut self, model_id: &str, runs: usize) -> JsResult<JsValue> {
        let nodes = EncoderBench::profile(&self.session, model_id, runs, &performance_now)?;
        to_js(&nodes)
    }

    /// Benchmarks: the speed levers (results do not change). `fusedOps`: whether models loaded
    /// from now on get daftseg's fused operators (tract's own only when false). `oneThread`
    /// (threaded module): run models on this worker alone, as the single-thread module does.
    /// `pool`, `spin` (threaded module): model runs moved into the pool, its other workers
    /// spinning during a run.
    #[wasm_bindgen(js_name = benchSettings)]
    pub fn bench_settings(
        &mut self,
        fused_ops: bool,
        one_thread: bool,
        pool: bool,
        spin: bool,
    ) -> JsResult<()> {
        crate::ops::set_enabled(fused_ops);
        crate::threads::set_pool_levers(pool, spin);
        if one_thread {
            crate::threads::use_one_thread();
        }
        Ok(())
    }

    /// Benchmarks and tests: the last `benchEncode` embedding's values (`1x256x64x64`), and how
    /// many subgraphs of model `id`'s encoder daftseg's fused operators replaced.
    #[wasm_bindgen(js_name = benchEmbedding)]
    pub fn bench_embedding(&self, model_id: &str) -> JsResult<JsValue> {
        let (values, fused) = self.bench.embedding(&self.session, model_id)?;
        let result = js_sys::Object::new();
        let set = |key: &str, value: JsValue| js_sys::Reflect::set(&result, &key.into(), &value);
        set("values", js_sys::Float32Array::from(&values[..]).into())?;
        set("attention", fused.attention.into())?;
        set("depthwise", fused.depthwise.into())?;
        set("layerNorm", fused.layer_norm.into())?;
        Ok(result.into())
    }

    /// Benchmarks: run the decoder once on the last `benchEncode` embedding (a box in the 256
    /// frame).
    #[wasm_bindgen(js_name = benchDecode)]
    pub fn bench_decode(&self, model_id: &str, box_256: Vec<f32>) -> JsResult<()> {
        Ok(self.bench.decode(&self.session, model_id, box_256)?)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EncodeJs {
    cache_hit: bool,
    cached_embeddings: usize,
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
