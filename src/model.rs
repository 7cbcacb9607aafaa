//! A LiteMedSAM-style model pair run by tract: the encoder (image -> embedding, once per image)
//! and the decoder with the prompt encoder folded in (embedding + box -> low-res logits).

use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::error::{Error, Result};
use crate::manifest::ModelEntry;
use crate::patch;
use crate::preprocess::MODEL_SIZE;

/// Side of the embedding grid and its channel count.
pub const EMBEDDING_SIZE: usize = 64;
/// Channels of an embedding.
pub const EMBEDDING_CHANNELS: usize = 256;

/// An image embedding: `1x256x64x64` f32, shared (not copied) between decoder runs.
pub type Embedding = Arc<Tensor>;

/// A LiteMedSAM-contract model loaded in tract: encoder and decoder.
pub struct SamModel {
    /// Its manifest id.
    pub id: String,
    /// sha256 of the encoder file: two models with the same encoder share embeddings.
    pub encoder_sha256: String,
    encoder: Arc<TypedRunnableModel>,
    decoder: Arc<TypedRunnableModel>,
}

/// The bytes of a model's files, as its manifest entry lists them.
#[derive(Clone, Copy)]
pub struct ModelBytes<'a> {
    /// The encoder ONNX file.
    pub encoder: &'a [u8],
    /// The decoder ONNX file (a modality model's base decoder).
    pub decoder: &'a [u8],
    /// The decoder patch, for an entry that lists one.
    pub decoder_patch: Option<&'a [u8]>,
}

fn load_graph(
    id: &str,
    what: &str,
    mut model: InferenceModel,
    inputs: &[&[usize]],
) -> Result<Arc<TypedRunnableModel>> {
    let context = |e: TractError| Error::model(id, format!("{what}: {e:#}"));
    for (i, shape) in inputs.iter().enumerate() {
        model = model
            .with_input_fact(i, f32::fact(*shape).into())
            .map_err(context)?;
    }
    model
        .into_optimized()
        .map_err(context)?
        .into_runnable()
        .map_err(context)
}

/// A tensor's f32 values, copied out of tract (an embedding to store or classify, logits);
/// errors name `id`, the model (or part) it came from.
pub fn f32_values(id: &str, tensor: &Tensor) -> Result<Vec<f32>> {
    let view = tensor.try_as_plain_ram().map_err(|e| Error::tract(id, e))?;
    Ok(view
        .as_slice::<f32>()
        .map_err(|e| Error::tract(id, e))?
        .to_vec())
}

impl SamModel {
    /// Build from the ONNX files' bytes, after checking each against the manifest; a decoder
    /// patch is applied over the decoder.
    pub fn from_bytes(entry: &ModelEntry, files: ModelBytes) -> Result<Self> {
        let id = &entry.id;
        entry.encoder.verify(id, files.encoder)?;
        entry.decoder.verify(id, files.decoder)?;
        let decoder = match (&entry.decoder_patch, files.decoder_patch) {
            (Some(listed), Some(bytes)) => {
                listed.verify(id, bytes)?;
                patch::apply(id, files.decoder, bytes)?
            }
            (None, None) => patch::parse(id, "decoder", files.decoder)?,
            (Some(listed), None) => {
                return Err(Error::model(
                    id,
                    format!("its decoder patch {} was not given", listed.file),
                ))
            }
            (None, Some(_)) => {
                return Err(Error::model(
                    id,
                    "a decoder patch was given, but the manifest lists none",
                ))
            }
        };
        let encoder = patch::parse(id, "encoder", files.encoder)?;
        let s = MODEL_SIZE;
        let e = EMBEDDING_SIZE;
        Ok(SamModel {
            id: id.clone(),
            encoder_sha256: entry.encoder.sha256.clone(),
            encoder: load_graph(
                id,
                "encoder",
                patch::graph(id, "encoder", &encoder)?,
                &[&[1, 3, s, s]],
            )?,
            decoder: load_graph(
                id,
                "decoder",
                patch::graph(id, "decoder", &decoder)?,
                &[&[1, EMBEDDING_CHANNELS, e, e], &[1, 4]],
            )?,
        })
    }

    /// `input`: the `1x3x256x256` normalised image from [`crate::preprocess::prepare`].
    pub fn encode(&self, input: &[f32]) -> Result<Embedding> {
        let s = MODEL_SIZE;
        let image =
            Tensor::from_shape(&[1, 3, s, s], input).map_err(|e| Error::tract(&self.id, e))?;
        let mut outputs = self
            .encoder
            .run(tvec!(image.into_tvalue()))
            .map_err(|e| Error::tract(&self.id, e))?;
        let embedding = outputs.remove(0).into_tensor();
        let expected = [1, EMBEDDING_CHANNELS, EMBEDDING_SIZE, EMBEDDING_SIZE];
        if embedding.shape() != expected {
            return Err(Error::model(
                &self.id,
                format!(
                    "encoder gave shape {:?}, expected {expected:?}",
                    embedding.shape()
                ),
            ));
        }
        Ok(Arc::new(embedding))
    }

    /// An embedding from its `1x256x64x64` values (a stored one).
    pub fn embedding_from(&self, values: Vec<f32>) -> Result<Embedding> {
        let shape = [1, EMBEDDING_CHANNELS, EMBEDDING_SIZE, EMBEDDING_SIZE];
        let tensor = Tensor::from_shape(&shape, &values).map_err(|e| Error::tract(&self.id, e))?;
        Ok(Arc::new(tensor))
    }

    /// Low-resolution logits (`256x256`, row-major) and the predicted IoU for one box given in
    /// the 256 frame.
    pub fn decode(&self, embedding: &Embedding, box_256: [f32; 4]) -> Result<(Vec<f32>, f32)> {
        let prompt =
            Tensor::from_shape(&[1, 4], &box_256).map_err(|e| Error::tract(&self.id, e))?;
        let outputs = self
            .decoder
            .run(tvec!(
                TValue::from_const(embedding.clone()),
                prompt.into_tvalue()
            ))
            .map_err(|e| Error::tract(&self.id, e))?;
        let logits = f32_values(&self.id, &outputs[0])?;
        if logits.len() != MODEL_SIZE * MODEL_SIZE {
            return Err(Error::model(
                &self.id,
                format!("decoder gave {} logits, expected 256x256", logits.len()),
            ));
        }
        let iou = f32_values(&self.id, &outputs[1])?
            .first()
            .copied()
            .unwrap_or(0.0);
        Ok((logits, iou))
    }
}
