//! A persistent embedding store: the second level behind the in-memory cache, so that the same
//! image under the same encoder is never encoded twice, across runs.
//!
//! An entry is keyed by the encoder file's sha256 and the sha256 of the exact encoder input (the
//! `1x3x256x256` f32 tensor: another window or another crop is another key), and holds the f32
//! embedding. Its bytes carry both keys, the shape and a sha256 of everything before it, so a
//! damaged or truncated entry, or one filed under the wrong name, is detected and recomputed,
//! never trusted. Where entries live is the frontend's business ([`EmbeddingStore`]): a folder
//! for the CLI (`--cache-dir`); for the browser, whose storage (the origin-private file system,
//! IndexedDB) only answers asynchronously, a [`StagedStore`] the worker fills before a request
//! and empties after it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use sha2::{Digest, Sha256};

use crate::contract::{EMBEDDING_CHANNELS, EMBEDDING_SIZE};
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"DAFTEMB1";
const VALUES: usize = EMBEDDING_CHANNELS * EMBEDDING_SIZE * EMBEDDING_SIZE;
/// Magic, two sha256 keys, four u32 dimensions, the f32 values, the trailing sha256.
pub const ENTRY_BYTES: usize = 8 + 32 + 32 + 16 + VALUES * 4 + 32;

/// Which embedding an entry holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StoreKey {
    /// sha256 of the encoder file.
    pub encoder_sha256: [u8; 32],
    /// sha256 of the encoder input's f32 values (little-endian).
    pub input_sha256: [u8; 32],
}

impl StoreKey {
    /// The key of `input` (the prepared `1x3x256x256` tensor) under the encoder `encoder_sha256`
    /// (hex, as the manifest gives it).
    pub fn new(encoder_sha256: &str, input: &[f32]) -> Result<Self> {
        let mut encoder = [0u8; 32];
        if encoder_sha256.len() != 64 {
            return Err(Error::invalid(format!("encoder sha256 '{encoder_sha256}'")));
        }
        for (i, byte) in encoder.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&encoder_sha256[2 * i..2 * i + 2], 16)
                .map_err(|_| Error::invalid(format!("encoder sha256 '{encoder_sha256}'")))?;
        }
        let mut hasher = Sha256::new();
        for v in input {
            hasher.update(v.to_le_bytes());
        }
        Ok(StoreKey {
            encoder_sha256: encoder,
            input_sha256: hasher.finalize().into(),
        })
    }

    /// `<encoder sha256 hex>/<input sha256 hex>`: a name for files and object stores.
    pub fn name(&self) -> String {
        let hex = |bytes: &[u8; 32]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        format!("{}/{}", hex(&self.encoder_sha256), hex(&self.input_sha256))
    }
}

/// Where entries live. `load` gives the bytes stored under the key, if any; `save` stores them
/// (a failure to save is the store's to report: the embedding is still used from memory).
pub trait EmbeddingStore {
    /// The entry's bytes, if the store has them.
    fn load(&mut self, key: &StoreKey) -> Option<Vec<u8>>;
    /// Store an entry's bytes.
    fn save(&mut self, key: &StoreKey, bytes: &[u8]);
    /// An entry under `key` was damaged and will be replaced.
    fn damaged(&mut self, key: &StoreKey, why: &str);
}

/// One store shared by the session (which reads and writes it while it encodes) and the frontend
/// (which fills and empties it around each request).
impl<T: EmbeddingStore> EmbeddingStore for Rc<RefCell<T>> {
    fn load(&mut self, key: &StoreKey) -> Option<Vec<u8>> {
        self.borrow_mut().load(key)
    }
    fn save(&mut self, key: &StoreKey, bytes: &[u8]) {
        self.borrow_mut().save(key, bytes)
    }
    fn damaged(&mut self, key: &StoreKey, why: &str) {
        self.borrow_mut().damaged(key, why)
    }
}

/// A store for frontends whose storage answers only asynchronously: before a request, the
/// frontend stages the entries it found for the request's images ([`StagedStore::stage`],
/// by [`StoreKey::name`]); the session reads them synchronously while it runs; afterwards the
/// frontend takes what was encoded (to write) and what was damaged (to delete). Entries waiting
/// to be written are bounded in bytes: past the bound an embedding is still used, only not kept.
pub struct StagedStore {
    staged: HashMap<String, Vec<u8>>,
    saved: Vec<(String, Vec<u8>)>,
    saved_bytes: usize,
    max_saved_bytes: usize,
    damaged: Vec<(String, String)>,
    /// Embeddings not kept because the bound was reached.
    pub not_kept: u64,
}

impl StagedStore {
    /// At most `max_saved_bytes` of entries waiting to be written.
    pub fn new(max_saved_bytes: usize) -> Self {
        StagedStore {
            staged: HashMap::new(),
            saved: Vec::new(),
            saved_bytes: 0,
            max_saved_bytes,
            damaged: Vec::new(),
            not_kept: 0,
        }
    }

    /// An entry found in the frontend's storage under `name`, for the next request.
    pub fn stage(&mut self, name: String, bytes: Vec<u8>) {
        self.staged.insert(name, bytes);
    }

    /// After a request: what the frontend has to write and delete. Entries staged and not read
    /// are dropped.
    pub fn take(&mut self) -> StoreWork {
        self.staged.clear();
        self.saved_bytes = 0;
        StoreWork {
            saved: std::mem::take(&mut self.saved),
            damaged: std::mem::take(&mut self.damaged),
        }
    }
}

/// What a request left for the frontend's storage.
#[derive(Debug, Default)]
pub struct StoreWork {
    /// Entries to write: (name, bytes).
    pub saved: Vec<(String, Vec<u8>)>,
    /// Entries found damaged, to delete: (name, why).
    pub damaged: Vec<(String, String)>,
}

impl EmbeddingStore for StagedStore {
    fn load(&mut self, key: &StoreKey) -> Option<Vec<u8>> {
        self.staged.remove(&key.name())
    }

    fn save(&mut self, key: &StoreKey, bytes: &[u8]) {
        if self.saved_bytes + bytes.len() > self.max_saved_bytes {
            self.not_kept += 1;
            return;
        }
        self.saved_bytes += bytes.len();
        self.saved.push((key.name(), bytes.to_vec()));
    }

    fn damaged(&mut self, key: &StoreKey, why: &str) {
        self.damaged.push((key.name(), why.to_string()));
    }
}

/// An entry's bytes.
pub fn encode_entry(key: &StoreKey, values: &[f32]) -> Result<Vec<u8>> {
    if values.len() != VALUES {
        return Err(Error::invalid(format!(
            "an embedding of {} values",
            values.len()
        )));
    }
    let mut out = Vec::with_capacity(ENTRY_BYTES);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&key.encoder_sha256);
    out.extend_from_slice(&key.input_sha256);
    for dim in [1, EMBEDDING_CHANNELS, EMBEDDING_SIZE, EMBEDDING_SIZE] {
        out.extend_from_slice(&(dim as u32).to_le_bytes());
    }
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let digest: [u8; 32] = Sha256::digest(&out).into();
    out.extend_from_slice(&digest);
    Ok(out)
}

/// The embedding's values from an entry's bytes, checked: length, magic, both keys, shape and
/// the trailing sha256. The error says what was wrong.
pub fn decode_entry(key: &StoreKey, bytes: &[u8]) -> std::result::Result<Vec<f32>, String> {
    if bytes.len() != ENTRY_BYTES {
        return Err(format!("{} bytes, expected {ENTRY_BYTES}", bytes.len()));
    }
    let (body, digest) = bytes.split_at(ENTRY_BYTES - 32);
    if Sha256::digest(body).as_slice() != digest {
        return Err("its checksum does not match".into());
    }
    if &body[..8] != MAGIC {
        return Err("not an embedding entry".into());
    }
    if body[8..40] != key.encoder_sha256 || body[40..72] != key.input_sha256 {
        return Err("it holds another image's or another encoder's embedding".into());
    }
    let dims: Vec<u32> = body[72..88]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    let expected = [1, EMBEDDING_CHANNELS, EMBEDDING_SIZE, EMBEDDING_SIZE].map(|d| d as u32);
    if dims != expected {
        return Err(format!("shape {dims:?}"));
    }
    Ok(body[88..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(input: f32) -> StoreKey {
        StoreKey::new(&"ab".repeat(32), &[input; 12]).unwrap()
    }

    #[test]
    fn round_trips_and_detects_every_kind_of_damage() {
        let values: Vec<f32> = (0..VALUES).map(|i| i as f32 * 0.5 - 3.0).collect();
        let k = key(1.0);
        let bytes = encode_entry(&k, &values).unwrap();
        assert_eq!(bytes.len(), ENTRY_BYTES);
        assert_eq!(decode_entry(&k, &bytes).unwrap(), values);
        let mut flipped = bytes.clone();
        flipped[1000] ^= 1;
        assert!(decode_entry(&k, &flipped).unwrap_err().contains("checksum"));
        assert!(decode_entry(&k, &bytes[..bytes.len() - 1])
            .unwrap_err()
            .contains("bytes"));
        assert!(decode_entry(&key(2.0), &bytes)
            .unwrap_err()
            .contains("another image"));
        assert_ne!(key(1.0).name(), key(2.0).name());
        assert!(key(1.0).name().starts_with(&"ab".repeat(32)));
        assert!(StoreKey::new("zz", &[]).is_err());
    }

    #[test]
    fn a_staged_store_gives_what_was_staged_once_and_bounds_what_waits() {
        let shared = Rc::new(RefCell::new(StagedStore::new(10)));
        let mut store = shared.clone();
        shared.borrow_mut().stage(key(1.0).name(), vec![1, 2]);
        assert_eq!(store.load(&key(1.0)), Some(vec![1, 2]));
        assert_eq!(store.load(&key(1.0)), None);
        store.save(&key(2.0), &[0; 6]);
        store.save(&key(3.0), &[0; 6]); // past the 10-byte bound: used, not kept
        store.damaged(&key(4.0), "short");
        shared.borrow_mut().stage(key(5.0).name(), vec![9]);
        let work = shared.borrow_mut().take();
        assert_eq!(work.saved, [(key(2.0).name(), vec![0; 6])]);
        assert_eq!(work.damaged, [(key(4.0).name(), "short".to_string())]);
        assert_eq!(shared.borrow().not_kept, 1);
        assert_eq!(
            store.load(&key(5.0)),
            None,
            "staged entries last one request"
        );
        store.save(&key(3.0), &[0; 6]);
        assert_eq!(
            shared.borrow_mut().take().saved.len(),
            1,
            "the bound is per request"
        );
    }
}
