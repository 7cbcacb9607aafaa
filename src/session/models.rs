//! The models a session has: the manifest, the models loaded from it, and the router's choice
//! among them.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::manifest::{Manifest, ModelEntry};
use crate::model::{ModelBytes, SamModel};
use crate::router::{route, Route, RouteRequest};

/// The manifest and the models loaded so far, by id.
pub struct Models {
    manifest: Manifest,
    loaded: HashMap<String, SamModel>,
}

impl Models {
    /// No model loaded yet.
    pub fn new(manifest: Manifest) -> Self {
        Models {
            manifest,
            loaded: HashMap::new(),
        }
    }

    /// The manifest, with every field it was written with.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest's entry for `id` (its files, to fetch or read), or an error listing the ids.
    pub fn entry(&self, id: &str) -> Result<&ModelEntry> {
        self.manifest.model(id)
    }

    /// The router's choice among this manifest's models.
    pub fn route(&self, request: &RouteRequest) -> Result<Route> {
        route(&self.manifest, request)
    }

    /// The router's choice for a file name and metadata modality, without opening anything;
    /// `model` is the user's explicit choice (none when empty).
    pub fn route_name(
        &self,
        file_name: &str,
        modality: Option<&str>,
        model: Option<&str>,
    ) -> Result<Route> {
        self.route(&RouteRequest {
            model: model.filter(|m| !m.is_empty()),
            metadata_modality: modality,
            file_name: Some(file_name),
            ..Default::default()
        })
    }

    /// Whether `id` is loaded.
    pub fn is_loaded(&self, id: &str) -> bool {
        self.loaded.contains_key(id)
    }

    /// Verify the files (size and sha256 from the manifest) and load model `id` from them.
    pub fn load(&mut self, id: &str, files: ModelBytes) -> Result<()> {
        let model = SamModel::from_bytes(self.entry(id)?, files)?;
        self.loaded.insert(id.to_string(), model);
        Ok(())
    }

    /// A loaded model.
    pub fn get(&self, id: &str) -> Result<&SamModel> {
        self.loaded
            .get(id)
            .ok_or_else(|| Error::model(id, "not loaded"))
    }
}
