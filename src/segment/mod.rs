//! Segmentation of one image with box prompts: preprocess, encode once (through the embedding
//! cache), decode one mask per box, paint the label map. Time is measured through a clock the
//! caller passes in, because `std::time::Instant` does not exist in the browser.

pub mod volume;

pub use volume::{GreySlices, GreyVolume, LabelValue, Progress};

use crate::cache::{image_key, CacheKey, EmbeddingCache};
use crate::contract::{f32_values, Click256, Embedding};
use crate::error::Result;
use crate::model::SamModel;
use crate::postprocess::{mask_from_logits, LabelMap};
use crate::preprocess::{box_to_model_frame, click_to_model_frame, prepare, Frame, Prepared};
use crate::prompt::{validate_box, validate_clicks, BoxPrompt, Click, ObjectPrompt};
use crate::rgb::RgbImage;
use crate::store::{decode_entry, encode_entry, EmbeddingStore, StoreKey};
use crate::threads::map_on_workers;

/// Milliseconds since some fixed point.
pub type Clock<'a> = &'a dyn Fn() -> f64;

/// 1x256x64x64 f32.
pub const EMBEDDING_BYTES: usize = 256 * 64 * 64 * 4;

/// Default cache budget: 64 embeddings (4 MiB each), e.g. 64 slices of a volume.
pub const DEFAULT_CACHE_BYTES: usize = 64 * EMBEDDING_BYTES;

/// Where one segmentation spent its time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timings {
    /// Encoding (0 on a cache hit).
    pub encode_ms: f64,
    /// Every box's decoder run.
    pub decode_ms: f64,
    /// Whether the embedding came from the cache.
    pub cache_hit: bool,
}

/// One image's result.
#[derive(Clone, Debug)]
pub struct Segmentation {
    /// Box i as label i + 1.
    pub labels: LabelMap,
    /// The decoder's predicted IoU, one per box.
    pub predicted_iou: Vec<f32>,
    /// Where the time went.
    pub timings: Timings,
}

/// An encoded image, ready for any number of boxes. The encoder input is not kept: the cache
/// would spend 0.75 MiB per image on it for nothing.
#[derive(Clone)]
pub struct EncodedImage {
    /// Where the image sits in the 256 frame.
    pub frame: Frame,
    /// The encoder's output.
    pub embedding: Embedding,
}

/// Where an image's embedding was found.
enum Found {
    Cached(EncodedImage),
    Stored(EncodedImage),
    Missing(EncodeJob),
}

/// An image to encode: its cache key, its encoder input, its store key when there is a store.
struct EncodeJob {
    key: CacheKey,
    prepared: Prepared,
    store_key: Option<StoreKey>,
}

/// Segments images through an embedding cache and, when one is set, a persistent store behind it.
pub struct Segmenter {
    cache: EmbeddingCache<EncodedImage>,
    store: Option<Box<dyn EmbeddingStore>>,
    encoder_runs: u64,
}

impl Default for Segmenter {
    fn default() -> Self {
        Segmenter::new(DEFAULT_CACHE_BYTES)
    }
}

impl Segmenter {
    /// A segmenter whose cache holds at most `max_cache_bytes` of embeddings.
    pub fn new(max_cache_bytes: usize) -> Self {
        Segmenter {
            cache: EmbeddingCache::new(max_cache_bytes),
            store: None,
            encoder_runs: 0,
        }
    }

    /// Keep embeddings in `store` too (read before encoding, written after).
    pub fn set_store(&mut self, store: Box<dyn EmbeddingStore>) {
        self.store = Some(store);
    }

    /// How many embeddings the cache holds.
    pub fn cached_embeddings(&self) -> usize {
        self.cache.len()
    }

    /// How many times the encoder ran since this segmenter was made.
    pub fn encoder_runs(&self) -> u64 {
        self.encoder_runs
    }

    /// Whether the image with pixels key `image` ([`crate::cache::image_key`]) is cached under
    /// `model`'s encoder (without refreshing it).
    pub(crate) fn is_cached(&self, model: &SamModel, image: [u8; 32]) -> bool {
        self.cache.contains(&CacheKey {
            encoder_sha256: model.encoder_sha256.clone(),
            image,
        })
    }

    /// Whether one more embedding fits in the cache without evicting one.
    pub fn has_room(&self) -> bool {
        self.room() > 0
    }

    /// How many more embeddings fit in the cache without evicting one.
    pub fn room(&self) -> usize {
        self.cache.free_bytes() / EMBEDDING_BYTES
    }

    /// Forget every cached embedding.
    pub fn clear_cache(&mut self) {
        self.cache.clear();
    }

    /// The image's embedding under this model's encoder, from the cache when it is there.
    /// Returns it and whether it came from the cache.
    pub fn encode(&mut self, model: &SamModel, image: &RgbImage) -> Result<(EncodedImage, bool)> {
        match self.look_up(model, image)? {
            Found::Cached(encoded) => Ok((encoded, true)),
            Found::Stored(encoded) => Ok((encoded, false)),
            Found::Missing(job) => {
                let embedding = model.encode(&job.prepared.input)?;
                Ok((self.keep(model, job, embedding)?, false))
            }
        }
    }

    /// Brings the embeddings of `images` into the cache, encoding those neither cached nor
    /// stored several at once, one per pool worker ([`map_on_workers`]): a volume's next
    /// slices, before they are needed. The same embeddings as [`Segmenter::encode`] one by one.
    pub fn encode_ahead(&mut self, model: &SamModel, images: &[RgbImage]) -> Result<()> {
        let mut jobs: Vec<EncodeJob> = Vec::new();
        for image in images {
            if let Found::Missing(job) = self.look_up(model, image)? {
                if !jobs.iter().any(|other| other.key == job.key) {
                    jobs.push(job);
                }
            }
        }
        let embeddings = map_on_workers(&jobs, |job| model.encode(&job.prepared.input));
        for (job, embedding) in jobs.into_iter().zip(embeddings) {
            self.keep(model, job, embedding?)?;
        }
        Ok(())
    }

    /// The image's embedding from the cache or the store (then cached), or what encoding it
    /// takes.
    fn look_up(&mut self, model: &SamModel, image: &RgbImage) -> Result<Found> {
        let key = CacheKey {
            encoder_sha256: model.encoder_sha256.clone(),
            image: image_key(image.width, image.height, &image.data),
        };
        if let Some(encoded) = self.cache.get(&key) {
            return Ok(Found::Cached(encoded));
        }
        let prepared = prepare(image)?;
        let store_key = match self.store.as_mut() {
            None => None,
            Some(store) => {
                let store_key = StoreKey::new(&model.encoder_sha256, &prepared.input)?;
                match store
                    .load(&store_key)
                    .map(|bytes| decode_entry(&store_key, &bytes))
                {
                    Some(Ok(values)) => {
                        let encoded = EncodedImage {
                            embedding: model.embedding_from(values)?,
                            frame: prepared.frame,
                        };
                        self.cache.insert(key, encoded.clone(), EMBEDDING_BYTES);
                        return Ok(Found::Stored(encoded));
                    }
                    Some(Err(why)) => {
                        store.damaged(&store_key, &why);
                        Some(store_key)
                    }
                    None => Some(store_key),
                }
            }
        };
        Ok(Found::Missing(EncodeJob {
            key,
            prepared,
            store_key,
        }))
    }

    /// A new embedding into the store (when there is one) and the cache.
    fn keep(
        &mut self,
        model: &SamModel,
        job: EncodeJob,
        embedding: Embedding,
    ) -> Result<EncodedImage> {
        self.encoder_runs += 1;
        if let (Some(store), Some(store_key)) = (self.store.as_mut(), &job.store_key) {
            let values = f32_values(&model.id, &embedding)?;
            store.save(store_key, &encode_entry(store_key, &values)?);
        }
        let encoded = EncodedImage {
            embedding,
            frame: job.prepared.frame,
        };
        self.cache.insert(job.key, encoded.clone(), EMBEDDING_BYTES);
        Ok(encoded)
    }

    /// All boxes on one image: label i for box i (from 1), later boxes overwrite earlier ones.
    pub fn segment(
        &mut self,
        model: &SamModel,
        image: &RgbImage,
        boxes: &[BoxPrompt],
        clock: Clock,
    ) -> Result<Segmentation> {
        let prompts: Vec<ObjectPrompt> = boxes
            .iter()
            .map(|&bbox| ObjectPrompt {
                bbox,
                clicks: Vec::new(),
            })
            .collect();
        self.segment_prompts(model, image, &prompts, clock)
    }

    /// As [`Segmenter::segment`], each box refined by its clicks (the decoder takes them with
    /// the box; the image is still encoded once).
    pub fn segment_prompts(
        &mut self,
        model: &SamModel,
        image: &RgbImage,
        prompts: &[ObjectPrompt],
        clock: Clock,
    ) -> Result<Segmentation> {
        let mut checked = Vec::with_capacity(prompts.len());
        for (i, p) in prompts.iter().enumerate() {
            validate_clicks(i, &p.clicks, image.height, image.width)?;
            checked.push(validate_box(i, p.bbox, image.height, image.width)?);
        }
        let start = clock();
        let (encoded, cache_hit) = self.encode(model, image)?;
        let encoded_at = clock();
        let mut labels = LabelMap::new(image.width, image.height);
        let mut predicted_iou = Vec::with_capacity(prompts.len());
        for (i, (&b, p)) in checked.iter().zip(prompts).enumerate() {
            let (mask, iou) = decode_prompt(model, &encoded, b, &p.clicks)?;
            labels.paint(&mask, i + 1)?;
            predicted_iou.push(iou);
        }
        let timings = Timings {
            encode_ms: encoded_at - start,
            decode_ms: clock() - encoded_at,
            cache_hit,
        };
        Ok(Segmentation {
            labels,
            predicted_iou,
            timings,
        })
    }
}

/// The mask (image size, row-major) of one already validated box, and the predicted IoU.
pub fn decode_box(
    model: &SamModel,
    encoded: &EncodedImage,
    b: BoxPrompt,
) -> Result<(Vec<bool>, f32)> {
    decode_prompt(model, encoded, b, &[])
}

/// The mask of one already validated box refined by its (validated) clicks.
pub fn decode_prompt(
    model: &SamModel,
    encoded: &EncodedImage,
    b: BoxPrompt,
    clicks: &[Click],
) -> Result<(Vec<bool>, f32)> {
    let f = &encoded.frame;
    let clicks: Vec<_> = clicks
        .iter()
        .map(|&c| click_to_model_frame(c, f.height, f.width))
        .collect();
    decode_in_frame_with(
        model,
        encoded,
        box_to_model_frame(b, f.height, f.width),
        &clicks,
    )
}

/// The mask (image size) of a box already given in the 256 frame, and the predicted IoU.
pub fn decode_in_frame(
    model: &SamModel,
    encoded: &EncodedImage,
    box_256: [f32; 4],
) -> Result<(Vec<bool>, f32)> {
    decode_in_frame_with(model, encoded, box_256, &[])
}

fn decode_in_frame_with(
    model: &SamModel,
    encoded: &EncodedImage,
    box_256: [f32; 4],
    clicks: &[Click256],
) -> Result<(Vec<bool>, f32)> {
    let f = &encoded.frame;
    let (logits, iou) = model.decode(&encoded.embedding, box_256, clicks)?;
    let mask = mask_from_logits(
        &logits,
        f.resized_height,
        f.resized_width,
        f.height,
        f.width,
    );
    Ok((mask, iou))
}
