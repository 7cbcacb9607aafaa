//! Routing by image content: the modality read from the embedding the encoder computes anyway
//! (`models/route_content.py` trains it, `models/manifest.json` ships it as `content_router`).
//!
//! Every modality model shares the general model's encoder, so the decoder can be chosen after
//! the encoder ran, for free. The classifier pools the `1x256x64x64` embedding to 512 numbers
//! (each channel's mean, then each channel's standard deviation over the 64x64 grid),
//! standardises them and applies a softmax regression. Below the manifest's threshold the
//! router says so and uses the general model.

use serde::{Deserialize, Serialize};

use crate::contract::{f32_values, Embedding, EMBEDDING_CHANNELS, EMBEDDING_SIZE};
use crate::error::{Error, Result};
use crate::modality::Modality;

/// The pooled features' kind this code computes.
pub const FEATURES: &str = "channel_mean_std";

/// The classifier as the manifest holds it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ContentRouter {
    /// The encoder whose embeddings it reads (a model with another encoder is never classified).
    pub encoder_sha256: String,
    /// [`FEATURES`].
    pub features: String,
    /// Modality names (see [`Modality::parse`]), in the order of `weights`' rows.
    pub classes: Vec<String>,
    /// The probability the best class needs before the content decides.
    pub threshold: f64,
    /// Subtracted from each feature...
    pub feature_mean: Vec<f64>,
    /// ...then divided by this.
    pub feature_scale: Vec<f64>,
    /// One row of `2 * 256` weights per class.
    pub weights: Vec<Vec<f64>>,
    /// One per class.
    pub bias: Vec<f64>,
    /// Fields this version does not read (provenance), kept.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// What the content says: the most likely modality and how sure the classifier is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ContentGuess {
    /// The most likely modality.
    pub modality: Modality,
    /// Its probability.
    pub confidence: f64,
    /// The manifest's threshold: at or above it, the content decides.
    pub threshold: f64,
}

impl ContentGuess {
    /// Whether the content is clear enough to decide.
    pub fn decides(&self) -> bool {
        self.confidence >= self.threshold
    }
}

impl ContentRouter {
    /// Every dimension agrees, every class is a modality the router knows.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(Error::Manifest(format!("content_router: {why}")));
        let n = 2 * EMBEDDING_CHANNELS;
        if self.features != FEATURES {
            return bad(format!(
                "features '{}' (this version computes '{FEATURES}')",
                self.features
            ));
        }
        if let Some(class) = self.classes.iter().find(|c| Modality::parse(c).is_none()) {
            return bad(format!("class '{class}' is not a modality"));
        }
        if self.classes.is_empty()
            || self.weights.len() != self.classes.len()
            || self.bias.len() != self.classes.len()
        {
            return bad(format!(
                "{} classes, {} weight rows and {} biases",
                self.classes.len(),
                self.weights.len(),
                self.bias.len()
            ));
        }
        if self.feature_mean.len() != n
            || self.feature_scale.len() != n
            || self.weights.iter().any(|row| row.len() != n)
        {
            return bad(format!("every feature vector must have {n} values"));
        }
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return bad(format!("threshold {} is not in (0, 1]", self.threshold));
        }
        let numbers = self
            .feature_mean
            .iter()
            .chain(&self.feature_scale)
            .chain(self.weights.iter().flatten())
            .chain(&self.bias);
        if numbers.clone().any(|v| !v.is_finite()) || self.feature_scale.iter().any(|&s| s <= 0.0) {
            return bad("a weight is not finite, or a scale not positive".into());
        }
        Ok(())
    }

    /// Each class's probability for one embedding.
    pub fn probabilities(&self, embedding: &Embedding) -> Result<Vec<(Modality, f64)>> {
        let features = pooled(&f32_values("content router", embedding)?)?;
        let logits: Vec<f64> = self
            .weights
            .iter()
            .zip(&self.bias)
            .map(|(row, bias)| {
                row.iter()
                    .zip(&features)
                    .zip(self.feature_mean.iter().zip(&self.feature_scale))
                    .map(|((w, x), (mean, scale))| w * (x - mean) / scale)
                    .sum::<f64>()
                    + bias
            })
            .collect();
        let top = logits.iter().cloned().fold(f64::MIN, f64::max);
        let exp: Vec<f64> = logits.iter().map(|l| (l - top).exp()).collect();
        let total: f64 = exp.iter().sum();
        Ok(self
            .classes
            .iter()
            .zip(exp)
            .map(|(class, e)| (Modality::parse(class).expect("validated"), e / total))
            .collect())
    }

    /// The most likely modality, with its confidence.
    pub fn guess(&self, embedding: &Embedding) -> Result<ContentGuess> {
        let (modality, confidence) =
            self.probabilities(embedding)?
                .into_iter()
                .fold((Modality::Ct, f64::MIN), |best, p| {
                    if p.1 > best.1 {
                        p
                    } else {
                        best
                    }
                });
        Ok(ContentGuess {
            modality,
            confidence,
            threshold: self.threshold,
        })
    }
}

/// `256x64x64` values -> each channel's mean, then each channel's standard deviation (ddof 0).
fn pooled(values: &[f32]) -> Result<Vec<f64>> {
    let cells = EMBEDDING_SIZE * EMBEDDING_SIZE;
    if values.len() != EMBEDDING_CHANNELS * cells {
        return Err(Error::model(
            "content router",
            format!("an embedding of {} values", values.len()),
        ));
    }
    let mut means = Vec::with_capacity(EMBEDDING_CHANNELS);
    let mut stds = Vec::with_capacity(EMBEDDING_CHANNELS);
    for channel in values.chunks_exact(cells) {
        let mean = channel.iter().map(|&v| v as f64).sum::<f64>() / cells as f64;
        let var = channel
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / cells as f64;
        means.push(mean);
        stds.push(var.sqrt());
    }
    means.extend(stds);
    Ok(means)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tract_onnx::prelude::Tensor;

    fn router(classes: &[&str]) -> ContentRouter {
        let n = 2 * EMBEDDING_CHANNELS;
        // Class 0 likes channel 0's mean, class 1 channel 0's standard deviation.
        let mut weights = vec![vec![0.0; n]; classes.len()];
        weights[0][0] = 4.0;
        weights[1][EMBEDDING_CHANNELS] = 4.0;
        ContentRouter {
            encoder_sha256: "e".into(),
            features: FEATURES.into(),
            classes: classes.iter().map(|c| c.to_string()).collect(),
            threshold: 0.8,
            feature_mean: vec![0.0; n],
            feature_scale: vec![1.0; n],
            weights,
            bias: vec![0.0; classes.len()],
            extra: Default::default(),
        }
    }

    fn embedding(channel0: impl Fn(usize) -> f32) -> Embedding {
        let cells = EMBEDDING_SIZE * EMBEDDING_SIZE;
        let mut values = vec![0f32; EMBEDDING_CHANNELS * cells];
        for (i, v) in values[..cells].iter_mut().enumerate() {
            *v = channel0(i);
        }
        let shape = [1, EMBEDDING_CHANNELS, EMBEDDING_SIZE, EMBEDDING_SIZE];
        Arc::new(Tensor::from_shape(&shape, &values).unwrap())
    }

    #[test]
    fn pools_means_and_standard_deviations() {
        let r = router(&["CT", "XRay"]);
        r.validate().unwrap();
        // Channel 0 all 1: mean 1, std 0 -> CT, with e^4/(e^4+1) = 0.982.
        let g = r.guess(&embedding(|_| 1.0)).unwrap();
        assert_eq!(g.modality, Modality::Ct);
        assert!(
            (g.confidence - 0.98201).abs() < 1e-4 && g.decides(),
            "{g:?}"
        );
        // Channel 0 alternating +-1: mean 0, std 1 -> XRay.
        let g = r
            .guess(&embedding(|i| if i % 2 == 0 { 1.0 } else { -1.0 }))
            .unwrap();
        assert_eq!(g.modality, Modality::XRay);
        // All zero: 50/50, below the threshold.
        assert!(!r.guess(&embedding(|_| 0.0)).unwrap().decides());
    }

    #[test]
    fn refuses_inconsistent_classifiers() {
        let mut r = router(&["CT", "Banana"]);
        assert!(r.validate().unwrap_err().to_string().contains("'Banana'"));
        r = router(&["CT", "MR"]);
        r.bias.pop();
        assert!(r.validate().unwrap_err().to_string().contains("2 classes"));
        r = router(&["CT", "MR"]);
        r.weights[1].pop();
        assert!(r.validate().unwrap_err().to_string().contains("512 values"));
        r = router(&["CT", "MR"]);
        r.threshold = 1.5;
        assert!(r.validate().is_err());
        r = router(&["CT", "MR"]);
        r.feature_scale[3] = 0.0;
        assert!(r.validate().is_err());
    }
}
