//! How many threads tract's matrix products use. One core, three setups: one thread (the plain
//! browser module, and `daftseg --threads 1`), a native pool of N threads (the CLI's default is
//! every core), and the pool that wasm-bindgen-rayon starts in web workers (the threaded browser
//! module, `Engine.useThreadPool`).
//!
//! Results do not depend on the count: tract cuts a product into panels and one thread computes
//! each panel whole, so every output is summed in the same order (tests/golden.rs checks it on
//! every golden case). Only matrix products are split; what else runs on one thread is measured
//! in docs/BENCHMARKS.md.

#[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
use tract_linalg::multithread::{set_default_executor, Executor};

#[cfg(not(target_arch = "wasm32"))]
use crate::error::{Error, Result};

/// More threads than this is a typing error, not a machine (and rayon might fail to start them).
#[cfg(not(target_arch = "wasm32"))]
pub const MAX_THREADS: usize = 1024;

/// The cores this process may use (1 where that cannot be known).
#[cfg(not(target_arch = "wasm32"))]
pub fn available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(not(target_arch = "wasm32"))]
fn executor(threads: usize) -> Result<Executor> {
    match threads {
        0 => Err(Error::invalid("the thread count must be at least 1")),
        1 => Ok(Executor::SingleThread),
        n if n > MAX_THREADS => Err(Error::invalid(format!(
            "{n} threads is more than the {MAX_THREADS} supported"
        ))),
        n => Ok(Executor::multithread(n)),
    }
}

/// From now on, every model run in this process uses `threads` threads.
#[cfg(not(target_arch = "wasm32"))]
pub fn use_threads(threads: usize) -> Result<()> {
    set_default_executor(executor(threads)?);
    Ok(())
}

/// Runs `f` with `threads` threads on the calling thread only, leaving the process default alone
/// (tests compare thread counts side by side).
#[cfg(not(target_arch = "wasm32"))]
pub fn with_threads<R>(threads: usize, f: impl FnOnce() -> R) -> Result<R> {
    Ok(tract_linalg::multithread::multithread_tract_scope(
        executor(threads)?,
        f,
    ))
}

/// From now on, model runs use rayon's global pool: the one wasm-bindgen-rayon's
/// `initThreadPool` started. Call it after that promise resolved.
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
pub fn use_global_pool() {
    set_default_executor(Executor::RayonGlobal);
}
