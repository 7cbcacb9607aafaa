//! `daftseg`: the command line, a thin adapter over the core's [`daftseg::Session`]. One file
//! per subcommand, each with its own `clap::Args`; what they share (the manifest, file helpers,
//! shards) is here.

mod bench;
mod cache_dir;
mod eval;
mod route;
mod segment;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use daftseg::error::{Error, Result};
use daftseg::native::load_manifest;
use daftseg::Session;

/// Keeps freed memory for the next model run instead of handing large blocks back to the
/// system after each one (docs/BENCHMARKS.md: page faults before and after).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "daftseg",
    version,
    about = "Medical image segmentation with box prompts (LiteMedSAM / DAFT)"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand takes.
#[derive(clap::Args)]
struct Global {
    /// Model manifest. Default: $DAFTSEG_MANIFEST, else ./models/manifest.json, else the one
    /// in the source tree this binary was built from.
    #[arg(long, global = true)]
    manifest: Option<PathBuf>,
    /// Print load / encode / decode milliseconds.
    #[arg(long, global = true)]
    timings: bool,
    /// Threads for the model runs (tract's matrix products). Default: every core of this
    /// machine; 1 runs everything on one thread. Masks are the same whatever the count.
    #[arg(long, global = true,
          value_parser = clap::value_parser!(u64).range(1..=daftseg::threads::MAX_THREADS as u64))]
    threads: Option<u64>,
    /// Keep image embeddings in this folder across runs (keyed by the encoder's sha256 and the
    /// exact encoder input's), so that another box, another decoder or a rerun encodes nothing
    /// twice. A damaged entry is recomputed, never trusted.
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// For benchmarks: turn speed levers off (same results, slower): `fused-ops` (daftseg's
    /// own operators: window attention, depthwise convolution, layer norm; tract's alone
    /// then), `pool` (model runs moved into the thread pool), `spin` (the pool's other
    /// workers spinning during a run). Comma-separated.
    #[arg(long, global = true, value_delimiter = ',', value_name = "LEVERS")]
    without: Vec<Lever>,
}

/// A speed lever `--without` turns off.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Lever {
    FusedOps,
    Pool,
    Spin,
}

#[derive(Subcommand)]
enum Command {
    /// Segment an image (PNG/JPEG/BMP/TIFF) with boxes, a challenge NPZ case, or a medical
    /// volume (DICOM file or series folder, NIfTI, NRRD) with 3D boxes.
    Segment(segment::SegmentArgs),
    /// Time the encoder and the decoder on one image: one warm-up, then N timed runs each.
    Bench(bench::BenchArgs),
    /// DSC and NSD per case, as the CVPR24 challenge computes them, grouped by modality.
    Eval(eval::EvalArgs),
    /// Say which model the router picks for a file, and why.
    Route(route::RouteArgs),
}

/// What every subcommand may need: where the manifest is, the clock, the thread count.
struct Context {
    manifest_file: PathBuf,
    cache_dir: Option<PathBuf>,
    timings: bool,
    threads: usize,
    started: Instant,
}

impl Context {
    /// Milliseconds since the command started.
    fn now_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// A session over the manifest, and the folder its model files are in. Only the
    /// subcommands that run or route models read the manifest (`eval` needs none).
    fn session(&self) -> Result<(Session, PathBuf)> {
        let (manifest, base) = load_manifest(&self.manifest_file)?;
        let mut session = Session::new(manifest);
        if let Some(dir) = &self.cache_dir {
            session.set_embedding_store(Box::new(cache_dir::CacheDir::new(dir)));
        }
        Ok((session, base))
    }
}

fn manifest_path(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(path) = explicit.or_else(|| std::env::var_os("DAFTSEG_MANIFEST").map(PathBuf::from))
    {
        return path;
    }
    let local = PathBuf::from("models/manifest.json");
    if local.exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/manifest.json")
}

/// The last component of `path`, as text.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path.display(), e))
}

/// The `.npz` file names of a folder, sorted; an error naming `what` when there are none.
fn npz_files(dir: &Path, what: &str) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir.display(), e))?
        .filter_map(|entry| {
            entry
                .ok()
                .map(|e| e.file_name().to_string_lossy().into_owned())
        })
        .filter(|name| name.ends_with(".npz"))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Error::invalid(format!("{}: no .npz {what}", dir.display())));
    }
    Ok(names)
}

/// Shard `index` (1-based) of `count`: the sorted cases `i` with `i % count == index - 1`.
#[derive(Clone, Copy, Debug)]
struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    fn select(self, names: Vec<String>) -> Vec<String> {
        names
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index - 1)
            .map(|(_, name)| name)
            .collect()
    }
}

fn parse_shard(text: &str) -> std::result::Result<Shard, String> {
    let usage = || format!("'{text}': a shard is K/N with 1 <= K <= N, e.g. 2/8");
    let (k, n) = text.split_once('/').ok_or_else(usage)?;
    let (index, count) = (
        k.trim().parse::<usize>().map_err(|_| usage())?,
        n.trim().parse::<usize>().map_err(|_| usage())?,
    );
    if index == 0 || index > count {
        return Err(usage());
    }
    Ok(Shard { index, count })
}

fn run(cli: Cli) -> Result<()> {
    // clap bounds it by MAX_THREADS, so the conversion cannot fail.
    let threads = cli
        .global
        .threads
        .map_or_else(daftseg::threads::available, |n| n as usize);
    daftseg::threads::use_threads(threads)?;
    let without = |lever| cli.global.without.contains(&lever);
    daftseg::ops::set_enabled(!without(Lever::FusedOps));
    daftseg::threads::set_pool_levers(!without(Lever::Pool), !without(Lever::Spin));
    let context = Context {
        manifest_file: manifest_path(cli.global.manifest),
        cache_dir: cli.global.cache_dir,
        timings: cli.global.timings,
        threads,
        started: Instant::now(),
    };
    match cli.command {
        Command::Segment(args) => segment::run(args, &context),
        Command::Bench(args) => bench::run(args, &context),
        Command::Eval(args) => eval::run(args),
        Command::Route(args) => route::run(args, &context),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
