//! `daftseg bench`: encoder and decoder times on one image, without the cache (the browser's
//! bench page times the same two calls).

use std::path::{Path, PathBuf};

use daftseg::error::Result;
use daftseg::model::SamModel;
use daftseg::native::{ensure_loaded, read};
use daftseg::preprocess::box_to_model_frame;
use daftseg::profile::{markdown_table, median_per_node, NodeTime};
use daftseg::prompt::{parse_box, validate_box, BoxPrompt};
use daftseg::threads::with_threads;

use crate::{file_name, write, Context};

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
    /// Time every operator of the encoder's plan instead: `--iterations` profiled runs on one
    /// thread, then on `--threads` threads, and a Markdown table per operator kind (share of
    /// the encode, and the ratio of the threaded time to one thread's).
    #[arg(long)]
    profile: bool,
    /// With --profile: also write every node's median milliseconds to this TSV file.
    #[arg(long, value_name = "FILE", requires = "profile")]
    profile_nodes: Option<PathBuf>,
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
    let path = args.image.clone().unwrap_or_else(|| {
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
    if args.profile {
        return profile(&args, context, sam, &input);
    }
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

/// `bench --profile`: the encoder's plan timed node by node, on one thread and on the context's
/// thread count, one warm-up run each, medians per node over `iterations` runs.
fn profile(args: &BenchArgs, context: &Context, sam: &SamModel, input: &[f32]) -> Result<()> {
    let now = || context.now_ms();
    let mut thread_counts = vec![1];
    if context.threads > 1 {
        thread_counts.push(context.threads);
    }
    let mut columns: Vec<(String, Vec<NodeTime>)> = Vec::new();
    for &threads in &thread_counts {
        let runs = with_threads(threads, || {
            (0..=args.iterations.max(1))
                .map(|_| sam.profile_encode(input, &now))
                .collect::<Result<Vec<_>>>()
        })??;
        let name = format!("{threads} thread{}", if threads > 1 { "s" } else { "" });
        columns.push((name, median_per_node(&runs[1..])));
    }
    println!(
        "encoder of {}, {} profiled runs per configuration (medians per node):\n",
        args.model,
        args.iterations.max(1)
    );
    print!("{}", markdown_table(&columns));
    if let Some(path) = &args.profile_nodes {
        let mut tsv = String::from("node\tkind\tname\tinfo");
        for (name, _) in &columns {
            tsv += &format!("\t{name} ms");
        }
        tsv += "\n";
        for (i, node) in columns[0].1.iter().enumerate() {
            tsv += &format!("{}\t{}\t{}\t{}", node.node, node.kind, node.name, node.info);
            for (_, nodes) in &columns {
                tsv += &format!("\t{:.3}", nodes[i].ms);
            }
            tsv += "\n";
        }
        write(path, tsv.as_bytes())?;
    }
    Ok(())
}
