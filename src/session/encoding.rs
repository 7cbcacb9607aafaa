//! Encoding: the shown image, and the slices of the open volume in idle time (in the order the
//! drawn boxes make likely, as far as the embedding cache has room), the cache and the
//! persistent embedding store.

use crate::background::{encoding_order, SliceRange};
use crate::cache::image_key;
use crate::error::Result;
use crate::preprocess::prepare;
use crate::rgb::RgbImage;
use crate::session::state::{no_study, Session};
use crate::store::{EmbeddingStore, StoreKey};

impl Session {
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
}
