//! `daftseg`: the command line on the same core as the browser app.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

use daftseg::challenge::{read_case_2d, write_segs};
use daftseg::decode::decode_image;
use daftseg::error::{Error, Result};
use daftseg::export::label_png;
use daftseg::native::{load_manifest, load_model, read};
use daftseg::preprocess::{box_to_model_frame, prepare, validate_box, BoxPrompt};
use daftseg::router::{route, RouteRequest};
use daftseg::segment::Segmenter;

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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Segment an image (PNG/JPEG/BMP/TIFF) with boxes, or a challenge NPZ case.
    Segment {
        /// Image file, or a CVPR24 challenge 2D case (.npz with `imgs` and `boxes`).
        input: PathBuf,
        /// A box prompt `x_min,y_min,x_max,y_max` in pixels (maxima included); repeat for more
        /// objects: box i becomes label i, later boxes overwrite earlier ones.
        #[arg(long = "box", value_parser = parse_box)]
        boxes: Vec<BoxPrompt>,
        /// Output: a PNG label mask for images, an NPZ with `segs` for NPZ cases.
        #[arg(long)]
        out: PathBuf,
        /// Use this model instead of the router's choice.
        #[arg(long)]
        model: Option<String>,
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

fn parse_box(text: &str) -> std::result::Result<BoxPrompt, String> {
    let values: Vec<i64> = text
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| format!("'{v}' is not an integer"))
        })
        .collect::<std::result::Result<_, _>>()?;
    <[i64; 4]>::try_from(values).map_err(|v| {
        format!(
            "a box has 4 values x_min,y_min,x_max,y_max, got {}",
            v.len()
        )
    })
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

fn run(cli: Cli) -> Result<()> {
    let started = Instant::now();
    let clock = move || started.elapsed().as_secs_f64() * 1000.0;
    let (manifest, base) = load_manifest(&manifest_path(cli.manifest))?;
    match cli.command {
        Command::Route {
            file,
            model,
            modality,
        } => {
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
            if json {
                println!(
                    "{{\"model\": \"{model}\", \"image\": \"{}\", \"load_ms\": {load_ms:.1}, \"encode_ms\": [{}], \"decode_ms\": [{}]}}",
                    file_name(&path),
                    list(&encode_ms),
                    list(&decode_ms)
                );
            } else {
                println!(
                    "model {model}, image {} ({}x{}), load {load_ms:.0} ms",
                    path.display(),
                    image.width,
                    image.height
                );
                println!("encode ms: {}", list(&encode_ms));
                println!("decode ms: {}", list(&decode_ms));
            }
        }
        Command::Segment {
            input,
            boxes,
            out,
            model,
        } => {
            let name = file_name(&input);
            let bytes = read(&input)?;
            let is_npz = input
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("npz"));
            let (image, boxes) = if is_npz {
                let case = read_case_2d(&bytes)
                    .map_err(|e| Error::invalid(format!("{}: {e}", input.display())))?;
                if !boxes.is_empty() {
                    return Err(Error::invalid(
                        "an NPZ case carries its own boxes; drop --box",
                    ));
                }
                (case.image, case.boxes)
            } else {
                if boxes.is_empty() {
                    return Err(Error::invalid(
                        "give at least one --box x_min,y_min,x_max,y_max",
                    ));
                }
                let image = decode_image(&bytes).map_err(|e| match e {
                    Error::Decode(m) => Error::Decode(format!("{}: {m}", input.display())),
                    other => other,
                })?;
                (image, boxes)
            };
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
            let encoded = if is_npz {
                write_segs(&result.labels)?
            } else {
                label_png(&result.labels)?
            };
            write(&out, &encoded)?;
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
