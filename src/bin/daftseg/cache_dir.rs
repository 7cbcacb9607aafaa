//! `--cache-dir DIR`: embeddings kept across runs in a folder, one file per entry
//! (`DIR/<encoder sha256>/<input sha256>.emb`, the format of `daftseg::store`). A damaged or
//! truncated file is reported, recomputed and replaced; a folder that cannot be written is
//! reported once and the run goes on from memory. On exit it says what it did.

use std::path::{Path, PathBuf};

use daftseg::store::{EmbeddingStore, StoreKey};

pub(crate) struct CacheDir {
    dir: PathBuf,
    read: usize,
    written: usize,
    damaged: usize,
    write_failed: bool,
}

impl CacheDir {
    pub(crate) fn new(dir: &Path) -> Self {
        CacheDir {
            dir: dir.to_path_buf(),
            read: 0,
            written: 0,
            damaged: 0,
            write_failed: false,
        }
    }

    fn path(&self, key: &StoreKey) -> PathBuf {
        self.dir.join(format!("{}.emb", key.name()))
    }
}

impl EmbeddingStore for CacheDir {
    fn load(&mut self, key: &StoreKey) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.path(key)).ok()?;
        self.read += 1;
        Some(bytes)
    }

    fn save(&mut self, key: &StoreKey, bytes: &[u8]) {
        let path = self.path(key);
        // Write next to it, then rename: a run stopped half-way never leaves a short entry
        // under the real name (and one that did would fail its checksum anyway).
        let partial = path.with_extension("emb.partial");
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|_| std::fs::write(&partial, bytes))
            .and_then(|_| std::fs::rename(&partial, &path));
        match written {
            Ok(()) => self.written += 1,
            Err(e) if !self.write_failed => {
                self.write_failed = true;
                eprintln!(
                    "note: cannot write to the cache folder {} ({e}); embeddings are kept in memory only",
                    self.dir.display()
                );
            }
            Err(_) => {}
        }
    }

    fn damaged(&mut self, key: &StoreKey, why: &str) {
        self.read -= 1;
        self.damaged += 1;
        eprintln!(
            "note: {} is damaged ({why}); computing it again",
            self.path(key).display()
        );
    }
}

impl Drop for CacheDir {
    fn drop(&mut self) {
        eprintln!(
            "cache folder {}: {} embeddings read, {} written, {} damaged and recomputed",
            self.dir.display(),
            self.read,
            self.written,
            self.damaged
        );
    }
}
