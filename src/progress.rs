//! How far a long step (reading a clinical-size volume, 3D propagation) has got, and the
//! caller's way to stop it: `progress(done, total)` returns `false` to cancel.

use crate::error::{Error, Result};

/// `progress(done, total)`; `false` cancels.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize) -> bool;

/// Tells `progress` that `done` of `total` are done: [`Error::Cancelled`] when it says stop.
pub fn report(
    progress: &mut dyn FnMut(usize, usize) -> bool,
    done: usize,
    total: usize,
) -> Result<()> {
    if progress(done, total) {
        Ok(())
    } else {
        Err(Error::Cancelled)
    }
}

/// A progress that is never shown and never cancels.
pub fn unobserved(_: usize, _: usize) -> bool {
    true
}
