//! The model manifest (`models/manifest.json`): which models exist, which modalities each
//! serves, their files with sha256 and size, and their pre/post-processing. The same parser
//! serves the CLI (files on disk) and the browser (bytes fetched by the worker).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub version: u32,
    pub models: Vec<ModelEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelEntry {
    pub id: String,
    pub name: String,
    pub architecture: String,
    /// `general` serves anything; `modality` serves the modalities listed.
    pub role: String,
    pub modalities: Vec<String>,
    pub encoder: ModelFile,
    pub decoder: ModelFile,
    pub input_size: usize,
    #[serde(default)]
    pub license: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub preprocess: serde_json::Value,
    #[serde(default)]
    pub postprocess: serde_json::Value,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelFile {
    /// Path relative to the manifest's folder.
    pub file: String,
    pub sha256: String,
    pub bytes: u64,
}

/// Architectures with LiteMedSAM's contract (image `[1,3,256,256]` -> embedding `[1,256,64,64]`,
/// the same decoder and pre/post-processing): the teacher, and EfficientViT students with a SAM
/// neck (models/distill.py).
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["litemedsam-tinyvit", "efficientvit-b0-sam-neck"];

impl Manifest {
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
            if model.input_size != crate::preprocess::MODEL_SIZE {
                return Err(Error::Manifest(format!(
                    "model '{}' takes {} px input; only {} is supported",
                    model.id,
                    model.input_size,
                    crate::preprocess::MODEL_SIZE
                )));
            }
        }
        Ok(())
    }

    pub fn model(&self, id: &str) -> Result<&ModelEntry> {
        self.models.iter().find(|m| m.id == id).ok_or_else(|| {
            Error::Manifest(format!(
                "no model '{id}'; available: {}",
                self.ids().join(", ")
            ))
        })
    }

    pub fn ids(&self) -> Vec<&str> {
        self.models.iter().map(|m| m.id.as_str()).collect()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
