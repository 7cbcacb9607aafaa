//! File digests: the one place that turns bytes into the sha256 hex the manifest and the decoder
//! patches name.

use sha2::{Digest, Sha256};

/// A sha256 as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
