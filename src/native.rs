//! Native-only helpers: the manifest and model files from disk, for the CLI and the tests.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::model::SamModel;
use crate::session::Models;

/// A file's bytes; the error names the file.
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

/// The two files of model `id`, read from `base` (the manifest's folder).
fn model_files(manifest: &Manifest, base: &Path, id: &str) -> Result<(Vec<u8>, Vec<u8>)> {
    let entry = manifest.model(id)?;
    let read_file = |file: &str| {
        let path = base.join(file);
        std::fs::read(&path).map_err(|e| Error::model(id, format!("{}: {e}", path.display())))
    };
    Ok((
        read_file(&entry.encoder.file)?,
        read_file(&entry.decoder.file)?,
    ))
}

/// Read, verify (size and sha256) and load one model of the manifest.
pub fn load_model(manifest: &Manifest, base: &Path, id: &str) -> Result<SamModel> {
    let entry = manifest.model(id)?;
    let (encoder, decoder) = model_files(manifest, base, id)?;
    SamModel::from_bytes(entry, &encoder, &decoder)
}

/// Load model `id` into `models` from `base` unless it is loaded already.
pub fn ensure_loaded(models: &mut Models, base: &Path, id: &str) -> Result<()> {
    if !models.is_loaded(id) {
        let (encoder, decoder) = model_files(models.manifest(), base, id)?;
        models.load(id, &encoder, &decoder)?;
    }
    Ok(())
}
