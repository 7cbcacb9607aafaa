//! Benchmarks of a model on the open study's shown image, bypassing the embedding cache: the
//! encoder, the encoder node by node, the decoder on the last embedding. The browser's bench
//! page times these calls.

use crate::contract::{f32_values, Embedding};
use crate::error::{Error, Result};
use crate::ops::Rewrites;
use crate::profile::{median_per_node, NodeTime};
use crate::session::state::Session;

/// The last benchmark encoding, for the decoder's benchmark and to compare embeddings.
#[derive(Default)]
pub struct EncoderBench {
    embedding: Option<Embedding>,
}

impl EncoderBench {
    /// Run `model_id`'s encoder on the shown image, bypassing the cache; the embedding is kept.
    pub fn encode(&mut self, session: &Session, model_id: &str) -> Result<()> {
        let input = session.prepared_input()?;
        self.embedding = Some(session.models().get(model_id)?.encode(&input)?);
        Ok(())
    }

    /// The encoder on the shown image `runs` times (1 to 100, after one warm-up run), every node
    /// of its plan timed with `now` (milliseconds): each node's median, in plan order.
    pub fn profile(
        session: &Session,
        model_id: &str,
        runs: usize,
        now: &(dyn Fn() -> f64 + Sync),
    ) -> Result<Vec<NodeTime>> {
        let input = session.prepared_input()?;
        let sam = session.models().get(model_id)?;
        let runs = (0..=runs.clamp(1, 100))
            .map(|_| sam.profile_encode(&input, now))
            .collect::<Result<Vec<_>>>()?;
        Ok(median_per_node(&runs[1..]))
    }

    /// The last embedding's values (`1x256x64x64`), and how many subgraphs of model
    /// `model_id`'s encoder daftseg's fused operators replaced.
    pub fn embedding(&self, session: &Session, model_id: &str) -> Result<(Vec<f32>, Rewrites)> {
        let embedding = self.last()?;
        let fused = session.models().get(model_id)?.fused_ops;
        Ok((f32_values(model_id, embedding)?, fused))
    }

    /// Run the decoder once on the last embedding (a box in the 256 frame).
    pub fn decode(&self, session: &Session, model_id: &str, box_256: Vec<f32>) -> Result<()> {
        let embedding = self.last()?;
        let prompt: [f32; 4] = box_256
            .try_into()
            .map_err(|_| Error::invalid("a box has 4 values"))?;
        session
            .models()
            .get(model_id)?
            .decode(embedding, prompt, &[])?;
        Ok(())
    }

    fn last(&self) -> Result<&Embedding> {
        self.embedding
            .as_ref()
            .ok_or_else(|| Error::invalid("run benchEncode first"))
    }
}
