//! A LiteMedSAM-style model pair run by tract: the encoder (image -> embedding, once per image)
//! and the decoder with the prompt encoder folded in (embedding + prompt points -> low-res
//! logits). The decoder takes SAM's points: clicks (label 1 on the object, 0 off it) then the
//! box as its two corners (labels 2 and 3), any number of them; a box alone is two points and
//! gives what a box decoder gives.

use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::contract::{
    f32_values, Click256, Embedding, EMBEDDING_CHANNELS, EMBEDDING_SIZE, MODEL_SIZE,
};
use crate::error::{Error, Result};
use crate::manifest::ModelEntry;
use crate::ops;
use crate::patch;
use crate::profile::{run_timed, NodeTime};
use crate::threads::in_pool;

/// The decoder's point labels (SAM's prompt encoder).
const LABEL_NEGATIVE: f32 = 0.0;
const LABEL_POSITIVE: f32 = 1.0;
const LABEL_BOX_TOP_LEFT: f32 = 2.0;
const LABEL_BOX_BOTTOM_RIGHT: f32 = 3.0;

/// A LiteMedSAM-contract model loaded in tract: encoder and decoder.
pub struct SamModel {
    /// Its manifest id.
    pub id: String,
    /// sha256 of the encoder file: two models with the same encoder share embeddings.
    pub encoder_sha256: String,
    /// How many subgraphs of the encoder daftseg's fused operators replaced.
    pub fused_ops: ops::Rewrites,
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
    fused_ops: bool,
) -> Result<(Arc<TypedRunnableModel>, ops::Rewrites)> {
    let context = |e: TractError| Error::model(id, format!("{what}: {e:#}"));
    for (i, shape) in inputs.iter().enumerate() {
        model = model
            .with_input_fact(i, f32::fact(*shape).into())
            .map_err(context)?;
    }
    let mut typed = model
        .into_typed()
        .and_then(|m| m.into_decluttered())
        .map_err(context)?;
    let rewrites = if fused_ops {
        ops::rewrite(&mut typed).map_err(context)?
    } else {
        ops::Rewrites::default()
    };
    let plan = typed
        .into_optimized()
        .map_err(context)?
        .into_runnable()
        .map_err(context)?;
    Ok((plan, rewrites))
}

/// The decoder with a symbolic number of points `N`: one plan for a box alone and for a box
/// with any number of clicks.
fn load_decoder(id: &str, mut model: InferenceModel) -> Result<Arc<TypedRunnableModel>> {
    let context = |e: TractError| Error::model(id, format!("decoder: {e:#}"));
    let points = model.symbols.sym("N");
    let e = EMBEDDING_SIZE;
    model = model
        .with_input_fact(0, f32::fact([1, EMBEDDING_CHANNELS, e, e]).into())
        .and_then(|m| {
            m.with_input_fact(
                1,
                f32::fact(&[1.to_dim(), points.to_dim(), 2.to_dim()]).into(),
            )
        })
        .and_then(|m| m.with_input_fact(2, f32::fact(&[1.to_dim(), points.to_dim()]).into()))
        .map_err(|e| {
            Error::model(
                id,
                format!("decoder: not a decoder with points (embedding, points, labels): {e:#}"),
            )
        })?;
    model
        .into_optimized()
        .map_err(context)?
        .into_runnable()
        .map_err(context)
}

impl SamModel {
    /// Build from the ONNX files' bytes, after checking each against the manifest; a decoder
    /// patch is applied over the decoder. The encoder gets daftseg's fused operators unless
    /// [`ops::set_enabled`] turned them off.
    pub fn from_bytes(entry: &ModelEntry, files: ModelBytes) -> Result<Self> {
        Self::from_bytes_with_ops(entry, files, ops::enabled())
    }

    /// [`SamModel::from_bytes`], saying whether the encoder gets daftseg's fused operators
    /// (tests compare the two).
    pub fn from_bytes_with_ops(
        entry: &ModelEntry,
        files: ModelBytes,
        fused_ops: bool,
    ) -> Result<Self> {
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
        let (encoder, fused) = load_graph(
            id,
            "encoder",
            patch::graph(id, "encoder", &encoder)?,
            &[&[1, 3, s, s]],
            fused_ops,
        )?;
        Ok(SamModel {
            id: id.clone(),
            encoder_sha256: entry.encoder.sha256.clone(),
            fused_ops: fused,
            encoder,
            decoder: load_decoder(id, patch::graph(id, "decoder", &decoder)?)?,
        })
    }

    fn encoder_input(&self, input: &[f32]) -> Result<Tensor> {
        let s = MODEL_SIZE;
        Tensor::from_shape(&[1, 3, s, s], input).map_err(|e| Error::tract(&self.id, e))
    }

    /// The encoder run once on `input` with each node of its plan timed by `now`
    /// (milliseconds): `daftseg bench --profile` and the bench page.
    pub fn profile_encode(
        &self,
        input: &[f32],
        now: &(dyn Fn() -> f64 + Sync),
    ) -> Result<Vec<NodeTime>> {
        let image = self.encoder_input(input)?;
        let (_, times) = in_pool(|| run_timed(&self.encoder, tvec!(image.into_tvalue()), now))
            .map_err(|e| Error::tract(&self.id, e))?;
        Ok(times)
    }

    /// `input`: the `1x3x256x256` normalised image from [`crate::preprocess::prepare`].
    pub fn encode(&self, input: &[f32]) -> Result<Embedding> {
        let image = self.encoder_input(input)?;
        let mut outputs = in_pool(|| self.encoder.run(tvec!(image.into_tvalue())))
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
    /// the 256 frame, refined by `clicks` (in the 256 frame, in the order given).
    pub fn decode(
        &self,
        embedding: &Embedding,
        box_256: [f32; 4],
        clicks: &[Click256],
    ) -> Result<(Vec<f32>, f32)> {
        // SAM's order: the clicks, then the box's corners.
        let mut points = Vec::with_capacity(2 * clicks.len() + 4);
        let mut labels = Vec::with_capacity(clicks.len() + 2);
        for click in clicks {
            points.extend(click.point);
            labels.push(if click.positive {
                LABEL_POSITIVE
            } else {
                LABEL_NEGATIVE
            });
        }
        points.extend(box_256);
        labels.extend([LABEL_BOX_TOP_LEFT, LABEL_BOX_BOTTOM_RIGHT]);
        let n = labels.len();
        let points =
            Tensor::from_shape(&[1, n, 2], &points).map_err(|e| Error::tract(&self.id, e))?;
        let labels = Tensor::from_shape(&[1, n], &labels).map_err(|e| Error::tract(&self.id, e))?;
        let inputs = tvec!(
            TValue::from_const(embedding.clone()),
            points.into_tvalue(),
            labels.into_tvalue()
        );
        let outputs =
            in_pool(|| self.decoder.run(inputs)).map_err(|e| Error::tract(&self.id, e))?;
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
