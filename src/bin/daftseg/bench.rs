//! `daftseg bench`: encoder and decoder times on one image, without the cache (the browser's
//! bench page times the same two calls).

use std::path::{Path, PathBuf};

use daftseg::error::Result;
use daftseg::native::{ensure_loaded, read};
use daftseg::preprocess::box_to_model_frame;
use daftseg::prompt::{parse_box, validate_box, BoxPrompt};

use crate::{file_name, Context};

#[derive(clap::Args)]
pub(crate) struct BenchArgs {
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
}

/// Peak resident memory of this process (Linux: VmHWM), in MiB.
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub(crate) fn run(args: BenchArgs, context: &Context) -> Result<()> {
    let (mut session, base) = context.session()?;
    let path = args.image.unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images/ct_lung.png")
    });
    let info = session.open(vec![(file_name(&path), read(&path)?)])?;
    let (width, height) = (info.width as i64, info.height as i64);
    let prompt = args
        .prompt
        .unwrap_or([width / 4, height / 4, width * 3 / 4, height * 3 / 4]);
    let prompt = validate_box(0, prompt, info.height, info.width)?;
    let model_id = &args.model;
    let load_start = context.now_ms();
    ensure_loaded(session.models_mut(), &base, model_id)?;
    let load_ms = context.now_ms() - load_start;
    let input = session.prepared_input()?;
    let sam = session.models().get(model_id)?;
    let box_256 = box_to_model_frame(prompt, info.height, info.width);
    let mut encode_ms = Vec::new();
    let mut decode_ms = Vec::new();
    for i in 0..=args.iterations {
        let t0 = context.now_ms();
        let embedding = sam.encode(&input)?;
        let t1 = context.now_ms();
        sam.decode(&embedding, box_256, &[])?;
        let t2 = context.now_ms();
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
    let threads = context.threads;
    if args.json {
        println!(
            "{{\"model\": \"{model_id}\", \"image\": \"{}\", \"threads\": {threads}, \"load_ms\": {load_ms:.1}, \"encode_ms\": [{}], \"decode_ms\": [{}], \"peak_memory_mib\": {peak}}}",
            file_name(&path),
            list(&encode_ms),
            list(&decode_ms)
        );
    } else {
        println!(
            "model {model_id}, image {} ({width}x{height}), {threads} threads, load {load_ms:.0} ms",
            path.display(),
        );
        println!("encode ms: {}", list(&encode_ms));
        println!("decode ms: {}", list(&decode_ms));
        println!("peak memory (resident): {peak} MiB");
    }
    Ok(())
}
