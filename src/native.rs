//! Native-only helpers: reading the manifest and model files from disk.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::model::SamModel;

pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path.display(), e))
}

/// The manifest and the folder its file paths are relative to.
pub fn load_manifest(path: &Path) -> Result<(Manifest, PathBuf)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Manifest(format!("{}: {e}", path.display())))?;
    let manifest =
        Manifest::parse(&text).map_err(|e| Error::Manifest(format!("{}: {e}", path.display())))?;
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    Ok((manifest, base))
}

/// Read, verify (size and sha256) and load one model of the manifest.
pub fn load_model(manifest: &Manifest, base: &Path, id: &str) -> Result<SamModel> {
    let entry = manifest.model(id)?;
    let read_file = |file: &str| {
        let path = base.join(file);
        std::fs::read(&path).map_err(|e| Error::model(id, format!("{}: {e}", path.display())))
    };
    let encoder = read_file(&entry.encoder.file)?;
    let decoder = read_file(&entry.decoder.file)?;
    SamModel::from_bytes(entry, &encoder, &decoder)
}
