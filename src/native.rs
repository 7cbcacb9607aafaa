//! Native-only helpers: the manifest and model files from disk, for the CLI and the tests.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::model::{ModelBytes, SamModel};
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

/// The files of model `id` (encoder, decoder, decoder patch if listed), read from `base` (the
/// manifest's folder).
struct ModelFiles {
    encoder: Vec<u8>,
    decoder: Vec<u8>,
    decoder_patch: Option<Vec<u8>>,
}

impl ModelFiles {
    fn read(manifest: &Manifest, base: &Path, id: &str) -> Result<Self> {
        let entry = manifest.model(id)?;
        let read_file = |file: &str| {
            let path = base.join(file);
            std::fs::read(&path).map_err(|e| Error::model(id, format!("{}: {e}", path.display())))
        };
        Ok(ModelFiles {
            encoder: read_file(&entry.encoder.file)?,
            decoder: read_file(&entry.decoder.file)?,
            decoder_patch: match &entry.decoder_patch {
                Some(patch) => Some(read_file(&patch.file)?),
                None => None,
            },
        })
    }

    fn bytes(&self) -> ModelBytes<'_> {
        ModelBytes {
            encoder: &self.encoder,
            decoder: &self.decoder,
            decoder_patch: self.decoder_patch.as_deref(),
        }
    }
}

/// Read, verify (size and sha256) and load one model of the manifest.
pub fn load_model(manifest: &Manifest, base: &Path, id: &str) -> Result<SamModel> {
    let files = ModelFiles::read(manifest, base, id)?;
    SamModel::from_bytes(manifest.model(id)?, files.bytes())
}

/// Load model `id` into `models` from `base` unless it is loaded already.
pub fn ensure_loaded(models: &mut Models, base: &Path, id: &str) -> Result<()> {
    if !models.is_loaded(id) {
        let files = ModelFiles::read(models.manifest(), base, id)?;
        models.load(id, files.bytes())?;
    }
    Ok(())
}
