//! The embedding cache: an image is encoded once per encoder, then every further box (and every
//! re-run after a box moves) only runs the decoder. Keyed by the encoder's sha256 and a sha256 of
//! the image's pixels and size (not its file name), bounded in bytes, least recently used first out.

use sha2::{Digest, Sha256};

/// sha256 of the decoded pixels and their size: the same picture in another file hits the cache,
/// a changed pixel misses it.
pub(crate) fn image_key(width: usize, height: usize, rgb: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update((width as u64).to_le_bytes());
    hasher.update((height as u64).to_le_bytes());
    hasher.update(rgb);
    hasher.finalize().into()
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub(crate) encoder_sha256: String,
    pub(crate) image: [u8; 32],
}

pub(crate) struct EmbeddingCache<V> {
    max_bytes: usize,
    used_bytes: usize,
    /// Most recently used last.
    entries: Vec<(CacheKey, V, usize)>,
    pub(crate) hits: u64,
    pub(crate) misses: u64,
}

impl<V: Clone> EmbeddingCache<V> {
    pub(crate) fn new(max_bytes: usize) -> Self {
        EmbeddingCache {
            max_bytes,
            used_bytes: 0,
            entries: Vec::new(),
            hits: 0,
            misses: 0,
        }
    }

    pub(crate) fn get(&mut self, key: &CacheKey) -> Option<V> {
        match self.entries.iter().position(|(k, _, _)| k == key) {
            Some(i) => {
                let entry = self.entries.remove(i);
                let value = entry.1.clone();
                self.entries.push(entry);
                self.hits += 1;
                Some(value)
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Insert, evicting the least recently used entries until the new one fits. A value larger
    /// than the whole budget is not kept.
    pub(crate) fn insert(&mut self, key: CacheKey, value: V, bytes: usize) {
        if let Some(i) = self.entries.iter().position(|(k, _, _)| *k == key) {
            let (_, _, old) = self.entries.remove(i);
            self.used_bytes -= old;
        }
        if bytes > self.max_bytes {
            return;
        }
        while self.used_bytes + bytes > self.max_bytes {
            let (_, _, evicted) = self.entries.remove(0);
            self.used_bytes -= evicted;
        }
        self.used_bytes += bytes;
        self.entries.push((key, value, bytes));
    }

    /// Whether `key` is cached, without counting a hit or a miss or refreshing it.
    pub(crate) fn contains(&self, key: &CacheKey) -> bool {
        self.entries.iter().any(|(k, _, _)| k == key)
    }

    /// How many bytes more fit without evicting anything.
    pub(crate) fn free_bytes(&self) -> usize {
        self.max_bytes.saturating_sub(self.used_bytes)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub(crate) fn used_bytes(&self) -> usize {
        self.used_bytes
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.used_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(encoder: &str, pixels: &[u8]) -> CacheKey {
        CacheKey {
            encoder_sha256: encoder.into(),
            image: image_key(1, 1, pixels),
        }
    }

    #[test]
    fn hits_misses_and_encoder_separation() {
        let mut cache = EmbeddingCache::new(100);
        assert_eq!(cache.get(&key("a", &[1, 2, 3])), None);
        cache.insert(key("a", &[1, 2, 3]), 7, 10);
        assert_eq!(cache.get(&key("a", &[1, 2, 3])), Some(7));
        assert!(cache.contains(&key("a", &[1, 2, 3])) && !cache.contains(&key("b", &[1, 2, 3])));
        assert_eq!(cache.free_bytes(), 90); // room for 90 bytes more, not 91
                                            // Another encoder never sees this embedding, another image neither.
        assert_eq!(cache.get(&key("b", &[1, 2, 3])), None);
        assert_eq!(cache.get(&key("a", &[1, 2, 4])), None);
        assert_eq!((cache.hits, cache.misses), (1, 3));
    }

    #[test]
    fn evicts_least_recently_used_within_budget() {
        let mut cache = EmbeddingCache::new(25);
        cache.insert(key("a", &[1]), 1, 10);
        cache.insert(key("a", &[2]), 2, 10);
        assert_eq!(cache.get(&key("a", &[1])), Some(1)); // [1] is now the most recent
        cache.insert(key("a", &[3]), 3, 10); // evicts [2]
        assert_eq!(cache.len(), 2);
        assert!(cache.used_bytes() <= 25);
        assert_eq!(cache.get(&key("a", &[2])), None);
        assert_eq!(cache.get(&key("a", &[1])), Some(1));
        cache.insert(key("a", &[4]), 4, 1000); // larger than the budget: not kept
        assert_eq!(cache.get(&key("a", &[4])), None);
    }
}
