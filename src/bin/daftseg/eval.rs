//! `daftseg eval`: DSC and NSD per case as the CVPR24 challenge computes them, a table by
//! modality, and the merge of the CSVs that shards wrote.

use std::path::{Path, PathBuf};

use daftseg::challenge::{read_labels, read_spacing};
use daftseg::error::{Error, Result};
use daftseg::metrics::{score_case, LabelVolume};
use daftseg::modality::Modality;
use daftseg::native::read;

use crate::{npz_files, parse_shard, write, Shard};

#[derive(clap::Args)]
pub(crate) struct EvalArgs {
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
}

pub(crate) fn run(args: EvalArgs) -> Result<()> {
    let rows = match (&args.pred, &args.gt) {
        (Some(pred), Some(gt)) => {
            evaluate(pred, gt, args.shard, args.challenge_spacing, args.tolerance)?
        }
        _ => merge_score_csvs(&args.merge)?,
    };
    report_scores(&rows, args.csv.as_deref())
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
        let context = |e: Error| e.context(name);
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
