//! `daftseg`: the command line on the same core as the browser app.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use daftseg::challenge::{read_case, read_labels, read_spacing, write_segs, Case};
use daftseg::decode::decode_image;
use daftseg::error::{Error, Result};
use daftseg::export::{export_volume_labels, label_png, VolumeExport};
use daftseg::manifest::Manifest;
use daftseg::medical::window::{windowed, Window};
use daftseg::medical::{dicom, read_volume, sniff, MedicalVolume, VolumeFormat};
use daftseg::metrics::{score_case, LabelVolume};
use daftseg::model::SamModel;
use daftseg::native::{load_manifest, load_model, read};
use daftseg::preprocess::{box_to_model_frame, prepare, validate_box, BoxPrompt};
use daftseg::router::{route, Modality, RouteRequest};
use daftseg::segment::{Clock, Segmenter};
use daftseg::volume::Box3d;

#[derive(Parser)]
#[command(
    name = "daftseg",
    version,
    about = "Medical image segmentation with box prompts (LiteMedSAM / DAFT)"
)]
struct Cli {
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Segment an image (PNG/JPEG/BMP/TIFF) with boxes, a challenge NPZ case, or a medical
    /// volume (DICOM file or series folder, NIfTI, NRRD) with 3D boxes.
    Segment {
        /// Image file, a CVPR24 challenge case (.npz with `imgs` and `boxes`), a folder of such
        /// cases (then --out is a folder, and a CSV of timings goes to stdout), a DICOM / NIfTI /
        /// NRRD volume, or a folder of DICOM files (one series).
        input: PathBuf,
        /// A box prompt `x_min,y_min,x_max,y_max` in pixels (maxima included); repeat for more
        /// objects: box i becomes label i, later boxes overwrite earlier ones.
        #[arg(long = "box", value_parser = parse_box)]
        boxes: Vec<BoxPrompt>,
        /// For volumes: a 3D box `x_min,y_min,z_min,x_max,y_max,z_max` in voxels of the volume as
        /// daftseg shows it (`daftseg segment VOLUME --info` prints its size); repeat for more.
        #[arg(long = "box3d", value_parser = parse_box3d)]
        boxes3d: Vec<Box3d>,
        /// For volumes: the intensity window, `soft_tissue`, `lung`, `bone`, `brain` (CT, in HU),
        /// `percentile` (0.5-99.5), `percentile:LOW-HIGH` or `WIDTH/LEVEL`. Default: soft tissue
        /// for CT, the percentiles otherwise.
        #[arg(long, allow_hyphen_values = true)]
        window: Option<String>,
        /// For volumes given a .png output: which slice to write.
        #[arg(long)]
        slice: Option<usize>,
        /// Print the volume's size, spacing, modality and default window, and stop.
        #[arg(long)]
        info: bool,
        /// Output: a PNG label mask for images, an NPZ with `segs` for NPZ cases; for volumes
        /// .nii.gz / .nii (the source's geometry), .npz (`segs` and `spacing`) or .png (one slice).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Use this model instead of the router's choice.
        #[arg(long)]
        model: Option<String>,
        /// For a folder of cases: segment only shard K of N (`K/N`, 1 <= K <= N). The sorted
        /// cases are dealt out in turn, so N runs (a job array, hosts) share a folder.
        #[arg(long, value_parser = parse_shard)]
        shard: Option<Shard>,
    },
    /// Time the encoder and the decoder on one image: one warm-up, then N timed runs each.
    Bench {
        /// Image to encode (default: the CT slice among the test fixtures).
        #[arg(long)]
        image: Option<PathBuf>,
        /// Box for the decoder runs (default: the middle half of the image).
        #[arg(long = "box", value_parser = parse_box)]
        prompt: Option<BoxPrompt>,
        #[arg(long, default_value_t = 5)]
        iterations: usize,
        #[arg(long, default_value = "litemedsam")]
        model: String,
        /// One JSON object on stdout instead of text.
        #[arg(long)]
        json: bool,
    },
    /// DSC and NSD per case, as the CVPR24 challenge computes them, grouped by modality.
    Eval {
        /// Folder of `<case>.npz` predictions with `segs`.
        #[arg(long, required_unless_present = "merge")]
        pred: Option<PathBuf>,
        /// Folder of `<case>.npz` ground truths with `gts` (and `spacing` for 3D).
        #[arg(long, required_unless_present = "merge")]
        gt: Option<PathBuf>,
        /// Write one row per case: case,modality,dsc,nsd.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Score only shard K of N of the ground-truth cases (as `segment --shard`).
        #[arg(long, value_parser = parse_shard, conflicts_with = "merge")]
        shard: Option<Shard>,
        /// Instead of scoring: merge the CSVs that shards wrote (`--csv`) and print the table
        /// of all their cases (and write them to --csv). A case in two files is an error.
        #[arg(long, num_args = 1.., conflicts_with_all = ["pred", "gt"])]
        merge: Vec<PathBuf>,
        /// Pass `spacing` to the surface distances as stored (x,y,z) although the arrays are
        /// (z,y,x), as the challenge's compute_metrics.py does. Default: reorder it to the axes.
        #[arg(long)]
        challenge_spacing: bool,
        /// NSD tolerance: millimetres in 3D, pixels in 2D.
        #[arg(long, default_value_t = 2.0)]
        tolerance: f64,
    },
    /// Say which model the router picks for a file, and why.
    Route {
        file: PathBuf,
        /// The user's explicit choice (checked against the manifest).
        #[arg(long)]
        model: Option<String>,
        /// Modality from metadata (e.g. a DICOM Modality code such as CT, MR, PT, MG).
        #[arg(long)]
        modality: Option<String>,
    },
}

/// `N` comma-separated integers; `layout` names them in the error.
fn parse_ints<const N: usize>(text: &str, layout: &str) -> std::result::Result<[i64; N], String> {
    let values: Vec<i64> = text
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| format!("'{v}' is not an integer"))
        })
        .collect::<std::result::Result<_, _>>()?;
    <[i64; N]>::try_from(values).map_err(|v| format!("{layout}, got {}", v.len()))
}

fn parse_box(text: &str) -> std::result::Result<BoxPrompt, String> {
    parse_ints(text, "a box has 4 values x_min,y_min,x_max,y_max")
}

fn parse_box3d(text: &str) -> std::result::Result<Box3d, String> {
    parse_ints(
        text,
        "a 3D box has 6 values x_min,y_min,z_min,x_max,y_max,z_max",
    )
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

/// A volume file, or a folder of DICOM files (no NPZ cases in it).
fn is_volume_input(input: &Path) -> bool {
    if input.is_dir() {
        return npz_files(input, "cases").is_err();
    }
    let name = file_name(input);
    // The first bytes are enough to tell; the file is read in full once, later.
    let mut head = Vec::new();
    if let Ok(file) = std::fs::File::open(input) {
        use std::io::Read;
        let _ = file.take(1024).read_to_end(&mut head);
    }
    matches!(
        sniff(&name, &head),
        Some(VolumeFormat::Dicom | VolumeFormat::Nifti | VolumeFormat::Nrrd)
    )
}

/// Reads a volume file or a DICOM folder in the display orientation.
fn read_volume_input(input: &Path) -> Result<MedicalVolume> {
    if input.is_dir() {
        let mut files = Vec::new();
        let mut paths: Vec<PathBuf> = std::fs::read_dir(input)
            .map_err(|e| Error::io(input.display(), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        for path in paths {
            files.push((file_name(&path), read(&path)?));
        }
        return Ok(dicom::read_series(&files)?.reoriented());
    }
    read_volume(&file_name(input), &read(input)?)
}

#[allow(clippy::too_many_arguments)]
fn segment_volume_input(
    manifest: &Manifest,
    base: &Path,
    input: &Path,
    boxes: &[Box3d],
    window: Option<&str>,
    out: Option<&Path>,
    slice: Option<usize>,
    model: Option<&str>,
    info: bool,
) -> Result<()> {
    let volume = read_volume_input(input)?;
    let window = match window {
        Some(text) => Window::parse(text)?,
        None => Window::default_for(&volume),
    };
    let view = windowed(&volume, &window)?;
    eprintln!(
        "{} volume {}x{}x{} (x, y, z), spacing {:.3}x{:.3}x{:.3} mm, modality {}, window {}",
        volume.format,
        volume.width,
        volume.height,
        volume.depth,
        volume.spacing[0],
        volume.spacing[1],
        volume.spacing[2],
        volume.modality.as_deref().unwrap_or("not given"),
        view.label()
    );
    for note in &volume.notes {
        eprintln!("note: {note}");
    }
    if info {
        return Ok(());
    }
    if boxes.is_empty() {
        return Err(Error::invalid(
            "give at least one --box3d x_min,y_min,z_min,x_max,y_max,z_max",
        ));
    }
    let out = out.ok_or_else(|| Error::invalid("give --out (.nii.gz, .nii, .npz or .png)"))?;
    let format = VolumeExport::from_file_name(&file_name(out), slice)?;
    let chosen = route(
        manifest,
        &RouteRequest {
            model,
            metadata_modality: volume.modality.as_deref(),
            file_name: Some(&file_name(input)),
        },
    )?;
    eprintln!("model: {} ({})", chosen.model_id, chosen.reason);
    let sam = load_model(manifest, base, &chosen.model_id)?;
    let mut segmenter = Segmenter::default();
    let mut report = |done: usize, total: usize| {
        eprint!("\r3D: {done}/{total} slices");
        if done == total {
            eprintln!();
        }
        true
    };
    let labels = segmenter.segment_3d(&sam, &view.grey, boxes, &mut report)?;
    write(out, &export_volume_labels(&volume, &labels, format)?)?;
    let voxels = labels.iter().filter(|&&l| l > 0).count();
    eprintln!("wrote {} ({voxels} labelled voxels)", out.display());
    Ok(())
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

/// One scored case: name, modality group, DSC, NSD.
type ScoreRow = (String, String, f64, f64);

fn evaluate(
    pred: &Path,
    gt: &Path,
    shard: Option<Shard>,
    challenge_spacing: bool,
    tolerance: f64,
) -> Result<Vec<ScoreRow>> {
    let mut names = npz_files(gt, "ground truth files")?;
    if let Some(shard) = shard {
        names = shard.select(names);
    }
    let missing: Vec<&str> = names
        .iter()
        .filter(|n| !pred.join(n).exists())
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Error::invalid(format!(
            "{}: no prediction for {}",
            pred.display(),
            missing.join(", ")
        )));
    }
    let mut rows = Vec::new();
    for name in &names {
        let context = |e: Error| Error::invalid(format!("{name}: {e}"));
        let gt_bytes = read(&gt.join(name))?;
        let (gt_shape, gts) = read_labels(&gt_bytes, "gts").map_err(context)?;
        let (pred_shape, segs) = read_labels(&read(&pred.join(name))?, "segs").map_err(context)?;
        if gt_shape != pred_shape {
            return Err(context(Error::invalid(format!(
                "segs has shape {pred_shape:?}, gts {gt_shape:?}"
            ))));
        }
        let (dims, spacing) = match gt_shape.as_slice() {
            [h, w] => ([*h, *w, 1], [1.0; 3]),
            [d, h, w] => {
                let stored = read_spacing(&gt_bytes)
                    .map_err(context)?
                    .ok_or_else(|| context(Error::invalid("a 3D ground truth needs `spacing`")))?;
                let s: [f64; 3] = stored
                    .try_into()
                    .map_err(|_| context(Error::invalid("`spacing` must have 3 values")))?;
                (
                    [*d, *h, *w],
                    if challenge_spacing {
                        s
                    } else {
                        [s[2], s[1], s[0]]
                    },
                )
            }
            shape => {
                return Err(context(Error::invalid(format!(
                    "gts has shape {shape:?}; expected 2D or 3D"
                ))))
            }
        };
        let score = score_case(
            LabelVolume { dims, labels: &gts },
            LabelVolume {
                dims,
                labels: &segs,
            },
            spacing,
            tolerance,
        );
        let case = name.trim_end_matches(".npz").to_string();
        let modality = Modality::from_file_name(&case)
            .map(|m| m.name())
            .unwrap_or("other");
        rows.push((case, modality.to_string(), score.dsc, score.nsd));
    }
    Ok(rows)
}

/// The rows of CSVs that `eval --csv` wrote (one per shard), in case order.
fn merge_score_csvs(files: &[PathBuf]) -> Result<Vec<ScoreRow>> {
    let mut rows: Vec<ScoreRow> = Vec::new();
    for file in files {
        let text = String::from_utf8(read(file)?)
            .map_err(|_| Error::invalid(format!("{}: not a text file", file.display())))?;
        let mut lines = text.lines();
        if lines.next() != Some(SCORE_CSV_HEADER) {
            return Err(Error::invalid(format!(
                "{}: not a CSV written by `daftseg eval --csv` (its first line must be {SCORE_CSV_HEADER})",
                file.display()
            )));
        }
        for (number, line) in lines.enumerate().filter(|(_, l)| !l.is_empty()) {
            let bad =
                || Error::invalid(format!("{} line {}: '{line}'", file.display(), number + 2));
            let fields: Vec<&str> = line.split(',').collect();
            let [case, modality, dsc, nsd] = fields[..] else {
                return Err(bad());
            };
            let score = |v: &str| {
                v.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(bad)
            };
            rows.push((
                case.to_string(),
                modality.to_string(),
                score(dsc)?,
                score(nsd)?,
            ));
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(pair) = rows.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(Error::invalid(format!(
            "case {} is in more than one file: were the shards overlapping?",
            pair[0].0
        )));
    }
    Ok(rows)
}

const SCORE_CSV_HEADER: &str = "case,modality,dsc,nsd";

/// The per-modality table on stdout, and every row to `csv`.
fn report_scores(rows: &[ScoreRow], csv: Option<&Path>) -> Result<()> {
    let mut modalities: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    modalities.sort_unstable();
    modalities.dedup();
    let mean = |values: Vec<f64>| values.iter().sum::<f64>() / values.len().max(1) as f64;
    println!("| modality | cases | DSC % | NSD % |");
    println!("|---|---|---|---|");
    for m in modalities.iter().copied().chain(std::iter::once("all")) {
        let group: Vec<_> = rows.iter().filter(|r| m == "all" || r.1 == m).collect();
        println!(
            "| {m} | {} | {:.2} | {:.2} |",
            group.len(),
            100.0 * mean(group.iter().map(|r| r.2).collect()),
            100.0 * mean(group.iter().map(|r| r.3).collect())
        );
    }
    if let Some(csv) = csv {
        let mut text = format!("{SCORE_CSV_HEADER}\n");
        for (case, modality, dsc, nsd) in rows {
            text.push_str(&format!("{case},{modality},{dsc:.6},{nsd:.6}\n"));
        }
        write(csv, text.as_bytes())?;
    }
    Ok(())
}

struct CaseRun {
    npz: Vec<u8>,
    model_id: String,
    load_ms: f64,
    encode_ms: Option<f64>,
    decode_ms: Option<f64>,
    total_ms: f64,
    summary: String,
}

/// One challenge case (2D or 3D), routed by its name; models load on first use.
#[allow(clippy::too_many_arguments)]
fn run_case(
    manifest: &Manifest,
    base: &Path,
    models: &mut HashMap<String, SamModel>,
    segmenter: &mut Segmenter,
    name: &str,
    bytes: &[u8],
    model: Option<&str>,
    clock: Clock,
    show_progress: bool,
) -> Result<CaseRun> {
    let case = read_case(bytes)?;
    let chosen = route(
        manifest,
        &RouteRequest {
            model,
            metadata_modality: None,
            file_name: Some(name),
        },
    )?;
    if show_progress {
        eprintln!("model: {} ({})", chosen.model_id, chosen.reason);
    }
    let load_start = clock();
    if !models.contains_key(&chosen.model_id) {
        models.insert(
            chosen.model_id.clone(),
            load_model(manifest, base, &chosen.model_id)?,
        );
    }
    let load_ms = clock() - load_start;
    let sam = &models[&chosen.model_id];
    let start = clock();
    Ok(match case {
        Case::TwoD(case) => {
            let result = segmenter.segment(sam, &case.image, &case.boxes, clock)?;
            let t = &result.timings;
            CaseRun {
                npz: write_segs(
                    &[result.labels.height, result.labels.width],
                    &result.labels.labels,
                )?,
                model_id: chosen.model_id,
                load_ms,
                encode_ms: Some(t.encode_ms),
                decode_ms: Some(t.decode_ms),
                total_ms: t.encode_ms + t.decode_ms,
                summary: format!(
                    "2D {}x{}, {} boxes",
                    case.image.width,
                    case.image.height,
                    case.boxes.len()
                ),
            }
        }
        Case::ThreeD(case) => {
            let v = &case.volume;
            let mut report = |done: usize, total: usize| {
                if show_progress {
                    eprint!("\r3D: {done}/{total} slices");
                    if done == total {
                        eprintln!();
                    }
                }
                true
            };
            let labels = segmenter.segment_3d(sam, v, &case.boxes, &mut report)?;
            CaseRun {
                npz: write_segs(&[v.depth, v.height, v.width], &labels)?,
                model_id: chosen.model_id,
                load_ms,
                encode_ms: None,
                decode_ms: None,
                total_ms: clock() - start,
                summary: format!(
                    "3D {}x{}x{}, {} boxes",
                    v.width,
                    v.height,
                    v.depth,
                    case.boxes.len()
                ),
            }
        }
    })
}

/// Every challenge NPZ case of a folder, one model load per model, one line per case:
/// `case,model,encode_ms,decode_ms,total_ms` on stdout (model loading excluded; 3D cases give
/// the total only).
fn segment_folder(
    manifest: &Manifest,
    base: &Path,
    input: &Path,
    out: &Path,
    model: Option<&str>,
    shard: Option<Shard>,
    clock: Clock,
) -> Result<()> {
    let mut names = npz_files(input, "cases")?;
    if let Some(shard) = shard {
        names = shard.select(names);
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out.display(), e))?;
    let mut models: HashMap<String, SamModel> = HashMap::new();
    let mut segmenter = Segmenter::default();
    println!("case,model,encode_ms,decode_ms,total_ms");
    for name in &names {
        // Each case on its own, as the challenge times them: no embedding from an earlier case
        // (the 3D cases here contain the 2D cases' slices).
        segmenter.cache.clear();
        let done = run_case(
            manifest,
            base,
            &mut models,
            &mut segmenter,
            name,
            &read(&input.join(name))?,
            model,
            clock,
            false,
        )
        .map_err(|e| Error::invalid(format!("{name}: {e}")))?;
        write(&out.join(name), &done.npz)?;
        let ms = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_default();
        println!(
            "{},{},{},{},{:.1}",
            name.trim_end_matches(".npz"),
            done.model_id,
            ms(done.encode_ms),
            ms(done.decode_ms),
            done.total_ms
        );
    }
    Ok(())
}

/// Peak resident memory of this process (Linux: VmHWM), in MiB.
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn run(cli: Cli) -> Result<()> {
    // clap bounds it by MAX_THREADS, so the conversion cannot fail.
    let threads = cli
        .threads
        .map_or_else(daftseg::threads::available, |n| n as usize);
    daftseg::threads::use_threads(threads)?;
    let started = Instant::now();
    let clock = move || started.elapsed().as_secs_f64() * 1000.0;
    // `eval` needs no model, so the manifest is read only by the commands that do.
    let manifest_file = manifest_path(cli.manifest);
    let load = || load_manifest(&manifest_file);
    match cli.command {
        Command::Eval {
            pred,
            gt,
            csv,
            challenge_spacing,
            tolerance,
            shard,
            merge,
        } => {
            let rows = match (pred, gt) {
                (Some(pred), Some(gt)) => {
                    evaluate(&pred, &gt, shard, challenge_spacing, tolerance)?
                }
                _ => merge_score_csvs(&merge)?,
            };
            report_scores(&rows, csv.as_deref())?;
        }
        Command::Route {
            file,
            model,
            modality,
        } => {
            let (manifest, _) = load()?;
            let name = file_name(&file);
            let request = RouteRequest {
                model: model.as_deref(),
                metadata_modality: modality.as_deref(),
                file_name: Some(&name),
            };
            let chosen = route(&manifest, &request)?;
            println!("model: {}", chosen.model_id);
            println!(
                "modality: {}",
                chosen.modality.map(|m| m.name()).unwrap_or("unknown")
            );
            println!("reason: {}", chosen.reason);
        }
        Command::Bench {
            image,
            prompt,
            iterations,
            model,
            json,
        } => {
            let (manifest, base) = load()?;
            let path = image.unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images/ct_lung.png")
            });
            let image = decode_image(&read(&path)?)?;
            let prompt = prompt.unwrap_or([
                image.width as i64 / 4,
                image.height as i64 / 4,
                image.width as i64 * 3 / 4,
                image.height as i64 * 3 / 4,
            ]);
            let prompt = validate_box(0, prompt, image.height, image.width)?;
            let load_start = clock();
            let sam = load_model(&manifest, &base, &model)?;
            let load_ms = clock() - load_start;
            let prepared = prepare(&image)?;
            let box_256 = box_to_model_frame(prompt, image.height, image.width);
            let mut encode_ms = Vec::new();
            let mut decode_ms = Vec::new();
            for i in 0..=iterations {
                let t0 = clock();
                let embedding = sam.encode(&prepared.input)?;
                let t1 = clock();
                sam.decode(&embedding, box_256)?;
                let t2 = clock();
                if i > 0 {
                    encode_ms.push(t1 - t0);
                    decode_ms.push(t2 - t1);
                }
            }
            let list = |v: &[f64]| {
                v.iter()
                    .map(|x| format!("{x:.1}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let peak = peak_memory_mib()
                .map(|m| format!("{m:.0}"))
                .unwrap_or_else(|| "null".into());
            if json {
                println!(
                    "{{\"model\": \"{model}\", \"image\": \"{}\", \"threads\": {threads}, \"load_ms\": {load_ms:.1}, \"encode_ms\": [{}], \"decode_ms\": [{}], \"peak_memory_mib\": {peak}}}",
                    file_name(&path),
                    list(&encode_ms),
                    list(&decode_ms)
                );
            } else {
                println!(
                    "model {model}, image {} ({}x{}), {threads} threads, load {load_ms:.0} ms",
                    path.display(),
                    image.width,
                    image.height
                );
                println!("encode ms: {}", list(&encode_ms));
                println!("decode ms: {}", list(&decode_ms));
                println!("peak memory (resident): {peak} MiB");
            }
        }
        Command::Segment {
            input,
            boxes,
            boxes3d,
            window,
            slice,
            info,
            out,
            model,
            shard,
        } => {
            let (manifest, base) = load()?;
            let shard_needs_folder =
                || Error::invalid("--shard splits a folder of NPZ cases; give such a folder");
            if is_volume_input(&input) {
                if shard.is_some() {
                    return Err(shard_needs_folder());
                }
                if !boxes.is_empty() {
                    return Err(Error::invalid(
                        "a volume takes 3D boxes: --box3d x_min,y_min,z_min,x_max,y_max,z_max",
                    ));
                }
                return segment_volume_input(
                    &manifest,
                    &base,
                    &input,
                    &boxes3d,
                    window.as_deref(),
                    out.as_deref(),
                    slice,
                    model.as_deref(),
                    info,
                );
            }
            let out = out.ok_or_else(|| Error::invalid("give --out"))?;
            if input.is_dir() {
                if !boxes.is_empty() {
                    return Err(Error::invalid(
                        "NPZ cases carry their own boxes; drop --box",
                    ));
                }
                return segment_folder(
                    &manifest,
                    &base,
                    &input,
                    &out,
                    model.as_deref(),
                    shard,
                    &clock,
                );
            }
            if shard.is_some() {
                return Err(shard_needs_folder());
            }
            let name = file_name(&input);
            let bytes = read(&input)?;
            let is_npz = input
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("npz"));
            if is_npz {
                if !boxes.is_empty() {
                    return Err(Error::invalid(
                        "an NPZ case carries its own boxes; drop --box",
                    ));
                }
                let mut models = HashMap::new();
                let mut segmenter = Segmenter::default();
                let done = run_case(
                    &manifest,
                    &base,
                    &mut models,
                    &mut segmenter,
                    &name,
                    &bytes,
                    model.as_deref(),
                    &clock,
                    true,
                )
                .map_err(|e| Error::invalid(format!("{}: {e}", input.display())))?;
                write(&out, &done.npz)?;
                if cli.timings {
                    eprintln!(
                        "timings: load {:.0} ms, segmentation {:.0} ms",
                        done.load_ms, done.total_ms
                    );
                }
                eprintln!("wrote {} ({})", out.display(), done.summary);
                return Ok(());
            }
            if boxes.is_empty() {
                return Err(Error::invalid(
                    "give at least one --box x_min,y_min,x_max,y_max",
                ));
            }
            let image = decode_image(&bytes).map_err(|e| match e {
                Error::Decode(m) => Error::Decode(format!("{}: {m}", input.display())),
                other => other,
            })?;
            let chosen = route(
                &manifest,
                &RouteRequest {
                    model: model.as_deref(),
                    metadata_modality: None,
                    file_name: Some(&name),
                },
            )?;
            eprintln!("model: {} ({})", chosen.model_id, chosen.reason);
            let load_start = clock();
            let sam = load_model(&manifest, &base, &chosen.model_id)?;
            let load_ms = clock() - load_start;
            let mut segmenter = Segmenter::default();
            let result = segmenter.segment(&sam, &image, &boxes, &clock)?;
            write(&out, &label_png(&result.labels)?)?;
            if cli.timings {
                eprintln!(
                    "timings: load {load_ms:.0} ms, encode {:.0} ms, decode {:.0} ms ({} boxes, {:.0} ms each)",
                    result.timings.encode_ms,
                    result.timings.decode_ms,
                    boxes.len(),
                    result.timings.decode_ms / boxes.len().max(1) as f64
                );
            }
            eprintln!(
                "wrote {} ({}x{}, {} labels)",
                out.display(),
                image.width,
                image.height,
                boxes.len()
            );
        }
    }
    Ok(())
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
