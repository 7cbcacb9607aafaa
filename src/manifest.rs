//! The model manifest (`models/manifest.json`): which models exist, which modalities each
//! serves, their files with sha256 and size, and their pre/post-processing. The same parser
//! serves the CLI (files on disk) and the browser (bytes fetched by the worker).

use serde::{Deserialize, Serialize};

use crate::content::ContentRouter;
use crate::contract::MODEL_SIZE;
use crate::digest::sha256_hex;
use crate::error::{Error, Result};

/// The manifest: its format version and the models.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// The manifest format's version (1).
    pub version: u32,
    /// Every model, in menu order.
    pub models: Vec<ModelEntry>,
    /// The modality classifier that routes by image content ([`crate::content`]), if shipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_router: Option<ContentRouter>,
    /// Fields this version does not read, kept so that the manifest a frontend gets back (and
    /// any file written from it) says everything the original said.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One model: its files, what it serves, how it processes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelEntry {
    /// Unique id (the router's answer, the CLI's `--model`).
    pub id: String,
    /// A name for menus.
    pub name: String,
    /// One of [`SUPPORTED_ARCHITECTURES`].
    pub architecture: String,
    /// `general` serves anything; `modality` serves the modalities listed.
    pub role: String,
    /// The modalities it serves (`*` for the general model).
    pub modalities: Vec<String>,
    /// The image encoder ONNX file.
    pub encoder: ModelFile,
    /// The prompt encoder and mask decoder ONNX file.
    pub decoder: ModelFile,
    /// A modality model's fine-tuned tensors, applied over `decoder` at load time
    /// ([`crate::patch`]): the zoo's decoders share one base file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder_patch: Option<ModelFile>,
    /// The square input side (256).
    pub input_size: usize,
    /// The weights' licence.
    #[serde(default)]
    pub license: String,
    /// Where the weights come from.
    #[serde(default)]
    pub source: String,
    /// How its input is prepared (documentation: the core does LiteMedSAM's).
    #[serde(default)]
    pub preprocess: serde_json::Value,
    /// How its output is turned into masks (documentation, as `preprocess`).
    #[serde(default)]
    pub postprocess: serde_json::Value,
    /// Fields this version does not read (the zoo's `heldout` scores, provenance), kept.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One model file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelFile {
    /// Path relative to the manifest's folder.
    pub file: String,
    /// Its sha256, hex.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// Architectures with LiteMedSAM's contract (image `[1,3,256,256]` -> embedding `[1,256,64,64]`,
/// the same decoder and pre/post-processing): the teacher, and EfficientViT students with a SAM
/// neck (models/distill.py on CPU, models/gpu_distill.py on a GPU).
pub const SUPPORTED_ARCHITECTURES: &[&str] = &[
    "litemedsam-tinyvit",
    "efficientvit-b0-sam-neck",
    "efficientvit-b1-sam-neck",
    "efficientvit-b2-sam-neck",
];

impl Manifest {
    /// Parse and check a manifest (unique ids, supported architectures and input size).
    pub fn parse(json: &str) -> Result<Self> {
        let manifest: Manifest =
            serde_json::from_str(json).map_err(|e| Error::Manifest(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<()> {
        if self.models.is_empty() {
            return Err(Error::Manifest("it lists no models".into()));
        }
        for (i, model) in self.models.iter().enumerate() {
            if self.models[..i].iter().any(|m| m.id == model.id) {
                return Err(Error::Manifest(format!(
                    "model id '{}' appears twice",
                    model.id
                )));
            }
            if !SUPPORTED_ARCHITECTURES.contains(&model.architecture.as_str()) {
                return Err(Error::Manifest(format!(
                    "model '{}' has architecture '{}'; supported: {}",
                    model.id,
                    model.architecture,
                    SUPPORTED_ARCHITECTURES.join(", ")
                )));
            }
            if model.input_size != MODEL_SIZE {
                return Err(Error::Manifest(format!(
                    "model '{}' takes {} px input; only {} is supported",
                    model.id, model.input_size, MODEL_SIZE
                )));
            }
        }
        if let Some(router) = &self.content_router {
            router.validate()?;
            let general = self.models.iter().find(|m| m.role == "general");
            if general.map(|m| &m.encoder.sha256) != Some(&router.encoder_sha256) {
                return Err(Error::Manifest(
                    "content_router reads another encoder's embeddings than the general model's"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// The entry of model `id`, or an error listing the ids there are.
    pub fn model(&self, id: &str) -> Result<&ModelEntry> {
        self.models.iter().find(|m| m.id == id).ok_or_else(|| {
            Error::Manifest(format!(
                "no model '{id}'; available: {}",
                self.ids().join(", ")
            ))
        })
    }

    /// Every model id, in order.
    pub fn ids(&self) -> Vec<&str> {
        self.models.iter().map(|m| m.id.as_str()).collect()
    }
}

impl ModelFile {
    /// The bytes must be exactly the file the manifest names.
    pub fn verify(&self, model: &str, bytes: &[u8]) -> Result<()> {
        if bytes.len() as u64 != self.bytes {
            return Err(Error::model(
                model,
                format!(
                    "{} has {} bytes, the manifest says {} (truncated or replaced?)",
                    self.file,
                    bytes.len(),
                    self.bytes
                ),
            ));
        }
        let found = sha256_hex(bytes);
        if found != self.sha256 {
            return Err(Error::model(
                model,
                format!(
                    "{} has sha256 {found}, the manifest says {} (corrupt or replaced)",
                    self.file, self.sha256
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_the_round_trip() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/manifest.json"))
                .unwrap();
        let original: serde_json::Value = serde_json::from_str(&text).unwrap();
        let again = serde_json::to_value(Manifest::parse(&text).unwrap()).unwrap();
        assert_eq!(again, original);
        assert!(again["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m.get("heldout").is_some()));
    }
}
