//! Where a series' files come from: all in memory, or fetched one at a time (a folder on disk,
//! the files a page holds). A series is read in two passes, headers then pixels, asking for each
//! file's bytes when it needs them, so a clinical-size series is never in memory twice.

use std::borrow::Cow;

use crate::error::Result;

/// A series' files, by index.
pub trait SeriesFiles {
    /// How many.
    fn count(&self) -> usize;
    /// File `i`'s name.
    fn name(&self, i: usize) -> String;
    /// File `i`'s bytes; `last` when nothing asks for them again (memory can let them go).
    fn bytes(&mut self, i: usize, last: bool) -> Result<Cow<'_, [u8]>>;
}

impl SeriesFiles for Vec<(String, Vec<u8>)> {
    fn count(&self) -> usize {
        self.len()
    }

    fn name(&self, i: usize) -> String {
        self[i].0.clone()
    }

    fn bytes(&mut self, i: usize, last: bool) -> Result<Cow<'_, [u8]>> {
        Ok(if last {
            Cow::Owned(std::mem::take(&mut self[i].1))
        } else {
            Cow::Borrowed(&self[i].1)
        })
    }
}
