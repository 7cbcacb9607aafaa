//! Threads for model runs. One core, three setups: one thread (the plain browser module, and
//! `daftseg --threads 1`), a native pool of N threads (the CLI's default is every core), and the
//! pool that wasm-bindgen-rayon starts in web workers (the threaded browser module,
//! `Engine.useThreadPool`). A run goes into the pool with its other workers spinning
//! ([`in_pool`]); a volume's slices are encoded one per worker ([`map_on_workers`]).
//!
//! Results do not depend on the count: tract and our operators cut their work on row, panel,
//! channel or window boundaries and one thread computes each part whole, so every output is
//! summed in the same order (tests/golden.rs checks it on every golden case). Which operators
//! run threaded, and what stays on one thread, is measured in docs/BENCHMARKS.md
//! (`daftseg bench --profile`).

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

/// From now on, model runs stay on the calling worker (benchmarks: the threaded module's cost
/// without parallelism).
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
pub fn use_one_thread() {
    set_default_executor(Executor::SingleThread);
}

/// The single-thread module always runs on one thread.
#[cfg(all(target_arch = "wasm32", not(feature = "threads")))]
pub fn use_one_thread() {}

/// Whether [`in_pool`] moves model runs into the pool, and whether the other workers spin.
#[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
static RUN_IN_POOL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);
#[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
static SPIN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// For benchmarks (`daftseg --without pool,spin`, the bench page): turn off moving model runs
/// into the pool, or the other workers' spinning, to measure what each gains. Results do not
/// change.
pub fn set_pool_levers(run_in_pool: bool, spin: bool) {
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    {
        use std::sync::atomic::Ordering;
        RUN_IN_POOL.store(run_in_pool, Ordering::Relaxed);
        SPIN.store(spin, Ordering::Relaxed);
    }
    #[cfg(all(target_arch = "wasm32", not(feature = "threads")))]
    let _ = (run_in_pool, spin);
}

/// Runs `f` (one model run) inside the thread pool the current executor uses, with the pool's
/// other workers spinning, taking work, until `f` returns.
///
/// Called from outside the pool, every parallel operator of a run is a cold hand-off: the
/// calling thread injects jobs and sleeps, a sleeping worker is woken to take them, and after
/// each operator the workers go back to sleep. Inside the pool the operators are joins between
/// workers, and a spinning worker takes its share at once instead of waking from sleep (in the
/// browser a pool worker sleeps in `Atomics.wait` and rayon barely spins first: docs/BENCHMARKS.md
/// measures both). Results are unchanged: the operators split their work the same way.
#[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
pub fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    use tract_linalg::multithread::{current_tract_executor, multithread_tract_scope};
    if rayon::current_thread_index().is_some()
        || !RUN_IN_POOL.load(std::sync::atomic::Ordering::Relaxed)
    {
        // Already on a pool worker (a run inside a parallel task): run here.
        return f();
    }
    match current_tract_executor() {
        Executor::MultiThread(pool) if pool.current_num_threads() > 1 => {
            let executor = Executor::MultiThread(pool.clone());
            // The executor of this thread (maybe a scoped one) must hold on the worker too.
            pool.install(|| multithread_tract_scope(executor, || with_spinning_workers(f)))
        }
        Executor::RayonGlobal if rayon::current_num_threads() > 1 => {
            let mut result = None;
            rayon::scope(|_| result = Some(with_spinning_workers(f)));
            result.expect("the scope ran its closure")
        }
        _ => f(),
    }
}

/// The single-thread browser module has no pool: `f` runs here.
#[cfg(all(target_arch = "wasm32", not(feature = "threads")))]
pub fn in_pool<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// On a pool worker: runs `f` here while every other worker of the pool spins, running any job
/// the pool has, until `f` returns.
#[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
fn with_spinning_workers<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = AtomicBool::new(false);
    let here = rayon::current_thread_index();
    let spinners = if SPIN.load(Ordering::Relaxed) {
        rayon::current_num_threads() - 1
    } else {
        0
    };
    let mut result = None;
    rayon::scope(|scope| {
        for _ in 0..spinners {
            scope.spawn(|_| {
                // This worker waiting inside `f` may pop a spinner it pushed: it must not spin
                // there, or `f` could never finish.
                if rayon::current_thread_index() == here {
                    return;
                }
                while !done.load(Ordering::Acquire) {
                    if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        std::hint::spin_loop();
                    }
                }
            });
        }
        result = Some(f());
        done.store(true, Ordering::Release);
    });
    result.expect("the scope ran its closure")
}

/// How many model runs can go on at once, one per thread: the pool's size (1 on one thread).
pub fn workers() -> usize {
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    {
        match tract_linalg::multithread::current_tract_executor() {
            Executor::MultiThread(pool) => pool.current_num_threads(),
            Executor::RayonGlobal => rayon::current_num_threads(),
            Executor::SingleThread => 1,
        }
    }
    #[cfg(all(target_arch = "wasm32", not(feature = "threads")))]
    {
        1
    }
}

/// `f` on every item, the items spread over the pool's workers and each `f` on one thread (the
/// slices of a volume: one encode per core scales better than one encode on every core, whose
/// serial operators leave cores idle). Results in the items' order; the same values as
/// `items.iter().map(f)`, since a model run gives the same bits on any number of threads.
pub fn map_on_workers<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    #[cfg(any(not(target_arch = "wasm32"), feature = "threads"))]
    {
        use rayon::prelude::*;
        use tract_linalg::multithread::{current_tract_executor, multithread_tract_scope};
        if items.len() > 1 && workers() > 1 && rayon::current_thread_index().is_none() {
            let run = || {
                items
                    .par_iter()
                    .with_max_len(1)
                    .map(|item| multithread_tract_scope(Executor::SingleThread, || f(item)))
                    .collect()
            };
            return match current_tract_executor() {
                Executor::MultiThread(pool) => pool.install(run),
                _ => run(),
            };
        }
    }
    items.iter().map(f).collect()
}
