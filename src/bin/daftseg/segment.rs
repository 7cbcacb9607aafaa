//! `daftseg segment INPUT`: an image with `--box`es, a challenge NPZ case (its own boxes), a
//! folder of such cases, or a volume (DICOM file or series folder, NIfTI, NRRD) with `--box3d`es.
//! The session opens, routes and segments; this file reads paths, checks what the user combined
//! and prints.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use daftseg::error::{Error, Result};
use daftseg::label_value::LabelValue;
use daftseg::medical::dicom::SeriesFiles;
use daftseg::medical::window::Window;
use daftseg::native::{ensure_loaded, read};
use daftseg::prompt::{parse_box, parse_box3d, parse_click, Box3d, BoxPrompt, Click, ObjectPrompt};
use daftseg::router::Route;
use daftseg::{Session, StudyInfo};

use crate::{file_name, npz_files, parse_shard, write, Context, Shard};

#[derive(clap::Args)]
pub(crate) struct SegmentArgs {
    /// Image file, a CVPR24 challenge case (.npz with `imgs` and `boxes`), a folder of such
    /// cases (then --out is a folder, and a CSV of timings goes to stdout), a DICOM / NIfTI /
    /// NRRD volume, or a folder of DICOM files (one series).
    input: PathBuf,
    /// A box prompt `x_min,y_min,x_max,y_max` in pixels (maxima included); repeat for more
    /// objects: box i becomes label i, later boxes overwrite earlier ones.
    #[arg(long = "box", value_parser = parse_box)]
    boxes: Vec<BoxPrompt>,
    /// A click refining a box's mask: `x,y` or `x,y,fg` (on the object), `x,y,bg` (off it), in
    /// pixels; with several boxes, `K:x,y[,fg|bg]` refines box K (1-based). Repeat for more
    /// clicks, in the order they were made. Only the decoder runs again for them.
    #[arg(long = "point", value_parser = parse_click)]
    points: Vec<(Option<usize>, Click)>,
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
    /// .nii.gz / .nii (the source's geometry), .npz (`segs` and `spacing`), .png (one slice),
    /// or for a DICOM study .dcm (a DICOM SEG referencing the source images).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write measurements of every object (per object in 3D and per slice: voxels, area
    /// in mm² or volume in mL, mean / SD / min / max of the source intensities, HU for CT,
    /// bounding box) to this CSV file.
    #[arg(long)]
    stats: Option<PathBuf>,
    /// Use this model instead of the router's choice.
    #[arg(long)]
    model: Option<String>,
    /// For a folder of cases: segment only shard K of N (`K/N`, 1 <= K <= N). The sorted
    /// cases are dealt out in turn, so N runs (a job array, hosts) share a folder.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<Shard>,
}

pub(crate) fn run(args: SegmentArgs, context: &Context) -> Result<()> {
    let (mut session, base) = context.session()?;
    let input = &args.input;
    if input.is_dir() && npz_files(input, "cases").is_ok() {
        let out = case_output(&args)?;
        return segment_folder(&mut session, &base, &args, out, context);
    }
    if args.shard.is_some() {
        return Err(Error::invalid(
            "--shard splits a folder of NPZ cases; give such a folder",
        ));
    }
    let info = open_input(&mut session, input).map_err(|e| {
        if input.is_dir() {
            e.context(input.display())
        } else {
            e
        }
    })?;
    if info.kind == "image" {
        segment_image(&mut session, &base, &args, context)
    } else if info.format == "NPZ" {
        let out = case_output(&args)?;
        let case = segment_case(
            &mut session,
            &base,
            &info,
            args.model.as_deref(),
            context,
            true,
        )
        .map_err(|e| e.context(input.display()))?;
        write(out, &case.npz)?;
        if context.timings {
            eprintln!(
                "timings: load {:.0} ms, segmentation {:.0} ms",
                case.load_ms, case.total_ms
            );
        }
        eprintln!("wrote {} ({})", out.display(), case.summary);
        Ok(())
    } else {
        segment_volume(&mut session, &base, &args, info, context)
    }
}

/// Where challenge cases go; they carry their own boxes, so `--box` is a mistake.
fn case_output(args: &SegmentArgs) -> Result<&Path> {
    if !args.boxes.is_empty() || !args.points.is_empty() {
        return Err(Error::invalid(
            "NPZ cases carry their own boxes; drop --box and --point",
        ));
    }
    if args.stats.is_some() {
        return Err(Error::invalid(
            "--stats measures an image or a volume; NPZ cases are scored with `daftseg eval`",
        ));
    }
    args.out
        .as_deref()
        .ok_or_else(|| Error::invalid("give --out"))
}

/// Opens a file, or a folder's files as one DICOM series, read from disk one at a time (the
/// series is never in memory twice).
pub(crate) fn open_input(session: &mut Session, input: &Path) -> Result<StudyInfo> {
    if !input.is_dir() {
        return session.open(vec![(file_name(input), read(input)?)]);
    }
    let paths = folder_files(input)?;
    if let [path] = &paths[..] {
        // One file in a folder is opened as that file (a NIfTI, an image).
        return session.open(vec![(file_name(path), read(path)?)]);
    }
    session.open_series(
        file_name(&paths[0]),
        &mut FolderFiles(paths),
        &mut daftseg::progress::unobserved,
    )
}

/// A folder's files, read when the series reader asks for them.
struct FolderFiles(Vec<PathBuf>);

impl SeriesFiles for FolderFiles {
    fn count(&self) -> usize {
        self.0.len()
    }

    fn name(&self, i: usize) -> String {
        file_name(&self.0[i])
    }

    fn bytes(&mut self, i: usize, _last: bool) -> Result<Cow<'_, [u8]>> {
        read(&self.0[i]).map(Cow::Owned)
    }
}

/// The files of a folder, in name order.
fn folder_files(input: &Path) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(input)
        .map_err(|e| Error::io(input.display(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Error::invalid(format!(
            "{}: the folder is empty",
            input.display()
        )));
    }
    Ok(paths)
}

/// The open study's route; when it waits for the image content, the general model is loaded
/// and the content classified (its embedding stays cached for segmenting).
pub(crate) fn route_study(
    session: &mut Session,
    base: &Path,
    model: Option<&str>,
) -> Result<Route> {
    let chosen = session.route(model)?;
    if !chosen.needs_content {
        return Ok(chosen);
    }
    ensure_loaded(session.models_mut(), base, &chosen.model_id)?;
    session.route_by_content(model)
}

/// Route the open study, load its model (timed, with the content's encoder run if the route
/// needed one), and say which it is.
fn load_routed(
    session: &mut Session,
    base: &Path,
    model: Option<&str>,
    context: &Context,
    verbose: bool,
) -> Result<(String, f64)> {
    let start = context.now_ms();
    let chosen = route_study(session, base, model)?;
    if verbose {
        eprintln!("model: {} ({})", chosen.model_id, chosen.reason);
    }
    ensure_loaded(session.models_mut(), base, &chosen.model_id)?;
    Ok((chosen.model_id, context.now_ms() - start))
}

fn segment_image(
    session: &mut Session,
    base: &Path,
    args: &SegmentArgs,
    context: &Context,
) -> Result<()> {
    if !args.boxes3d.is_empty() {
        return Err(Error::invalid(
            "an image takes 2D boxes: --box x_min,y_min,x_max,y_max",
        ));
    }
    let out = args
        .out
        .as_deref()
        .ok_or_else(|| Error::invalid("give --out"))?;
    if args.boxes.is_empty() {
        return Err(Error::invalid(
            "give at least one --box x_min,y_min,x_max,y_max",
        ));
    }
    let prompts = object_prompts(args)?;
    let (model_id, load_ms) = load_routed(session, base, args.model.as_deref(), context, true)?;
    let result = session.segment_prompts(&model_id, &prompts, &|| context.now_ms())?;
    let labels = &result.labels;
    let (width, height) = (labels.width, labels.height);
    write(
        out,
        &session.export(labels.labels.clone(), &file_name(out), None)?,
    )?;
    write_stats(session, args, &labels.labels)?;
    if context.timings {
        let t = &result.timings;
        eprintln!(
            "timings: load {load_ms:.0} ms, encode {:.0} ms, decode {:.0} ms ({} boxes, {:.0} ms each)",
            t.encode_ms,
            t.decode_ms,
            args.boxes.len(),
            t.decode_ms / args.boxes.len().max(1) as f64
        );
    }
    eprintln!(
        "wrote {} ({width}x{height}, {} labels)",
        out.display(),
        args.boxes.len()
    );
    Ok(())
}

/// The --box and --point arguments as one prompt per object.
fn object_prompts(args: &SegmentArgs) -> Result<Vec<ObjectPrompt>> {
    let mut prompts: Vec<ObjectPrompt> = args
        .boxes
        .iter()
        .map(|&bbox| ObjectPrompt {
            bbox,
            clicks: Vec::new(),
        })
        .collect();
    for &(object, click) in &args.points {
        let k = match object {
            Some(k) => k,
            None if prompts.len() == 1 => 1,
            None => {
                return Err(Error::invalid(format!(
                    "{} boxes: say which one a click refines, --point K:{},{}",
                    prompts.len(),
                    click.x,
                    click.y
                )))
            }
        };
        let count = prompts.len();
        prompts
            .get_mut(k - 1)
            .ok_or_else(|| Error::invalid(format!("--point {k}:...: there are {count} boxes")))?
            .clicks
            .push(click);
    }
    Ok(prompts)
}

fn segment_volume(
    session: &mut Session,
    base: &Path,
    args: &SegmentArgs,
    mut info: StudyInfo,
    context: &Context,
) -> Result<()> {
    if !args.boxes.is_empty() {
        return Err(Error::invalid(
            "a volume takes 3D boxes: --box3d x_min,y_min,z_min,x_max,y_max,z_max",
        ));
    }
    if !args.points.is_empty() {
        return Err(Error::invalid(
            "clicks (--point) refine 2D boxes on images; 3D propagation takes boxes only",
        ));
    }
    if let Some(text) = &args.window {
        info.window = Some(session.set_window(&Window::parse(text)?)?);
    }
    let window = info.window.as_ref().map_or("", |w| w.label.as_str());
    let s = info.spacing;
    eprintln!(
        "{} volume {}x{}x{} (x, y, z), spacing {:.3}x{:.3}x{:.3} mm, modality {}, window {window}",
        info.format,
        info.width,
        info.height,
        info.depth,
        s[0],
        s[1],
        s[2],
        info.modality.as_deref().unwrap_or("not given"),
    );
    for note in &info.notes {
        eprintln!("note: {note}");
    }
    if args.info {
        return Ok(());
    }
    if args.boxes3d.is_empty() {
        return Err(Error::invalid(
            "give at least one --box3d x_min,y_min,z_min,x_max,y_max,z_max",
        ));
    }
    let out = args.out.as_deref().ok_or_else(|| {
        Error::invalid("give --out (.nii.gz, .nii, .npz, .png, or .dcm for a DICOM SEG)")
    })?;
    // Refuse an unknown output format before the long run, not after it.
    let seg = file_name(out).to_ascii_lowercase().ends_with(".dcm");
    if seg && info.format != "DICOM" {
        return Err(Error::invalid(format!(
            "{}: a DICOM SEG is written over a DICOM study, this one is {}: write .nii.gz instead",
            out.display(),
            info.format
        )));
    }
    if !seg {
        daftseg::export::VolumeExport::from_file_name(&file_name(out), args.slice)?;
    }
    let (model_id, _) = load_routed(session, base, args.model.as_deref(), context, true)?;
    // Up to 255 boxes the label volume takes a byte a voxel.
    if args.boxes3d.len() <= u8::MAX as usize {
        let labels: Vec<u8> =
            session.segment_3d_labels(&model_id, &args.boxes3d, &mut print_progress(true))?;
        write_3d(session, args, out, seg, &model_id, labels)
    } else {
        let labels: Vec<u16> =
            session.segment_3d_labels(&model_id, &args.boxes3d, &mut print_progress(true))?;
        write_3d(session, args, out, seg, &model_id, labels)
    }
}

/// A 3D result to `out` (a DICOM SEG when `seg`), with `--stats`.
fn write_3d<L: LabelValue>(
    session: &Session,
    args: &SegmentArgs,
    out: &Path,
    seg: bool,
    model_id: &str,
    labels: Vec<L>,
) -> Result<()> {
    let voxels = labels.iter().filter(|&&l| l.into() > 0).count();
    write_stats(session, args, &labels)?;
    let bytes = if seg {
        // Segments named after the modality, model output (AUTOMATIC), dated now (UTC).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let labels: Vec<u16> = labels.into_iter().map(Into::into).collect();
        session.export_seg(&labels, &[], &format!("daftseg {model_id}"), now)?
    } else {
        session.export(labels, &file_name(out), args.slice)?
    };
    write(out, &bytes)?;
    eprintln!("wrote {} ({voxels} labelled voxels)", out.display());
    Ok(())
}

/// `--stats FILE.csv`: the measurements of `labels` over the open study.
fn write_stats<L: LabelValue>(session: &Session, args: &SegmentArgs, labels: &[L]) -> Result<()> {
    if let Some(path) = &args.stats {
        write(path, session.measurements_csv(labels)?.as_bytes())?;
        eprintln!("wrote {} (measurements)", path.display());
    }
    Ok(())
}

/// `3D: done/total slices` on one line of stderr, when `show`.
fn print_progress(show: bool) -> impl FnMut(usize, usize) -> bool {
    move |done, total| {
        if show {
            eprint!("\r3D: {done}/{total} slices");
            if done == total {
                eprintln!();
            }
        }
        true
    }
}

/// One segmented challenge case.
struct CaseRun {
    npz: Vec<u8>,
    model_id: String,
    load_ms: f64,
    encode_ms: Option<f64>,
    decode_ms: Option<f64>,
    total_ms: f64,
    summary: String,
}

/// The open challenge case (2D or 3D) with its own boxes, routed by its name; models load on
/// first use and stay loaded.
fn segment_case(
    session: &mut Session,
    base: &Path,
    info: &StudyInfo,
    model: Option<&str>,
    context: &Context,
    verbose: bool,
) -> Result<CaseRun> {
    let (model_id, load_ms) = load_routed(session, base, model, context, verbose)?;
    let start = context.now_ms();
    let (h, w, d) = (info.height, info.width, info.depth);
    let boxes = info.boxes.len();
    if info.two_d_case {
        // Each box with the case's clicks on it, in the order given.
        let mut prompts: Vec<ObjectPrompt> = info
            .boxes
            .iter()
            .map(|b| ObjectPrompt {
                bbox: [b[0], b[1], b[3], b[4]],
                clicks: Vec::new(),
            })
            .collect();
        for &(k, click) in &info.clicks {
            prompts[k].clicks.push(click);
        }
        let result = session.segment_prompts(&model_id, &prompts, &|| context.now_ms())?;
        let t = &result.timings;
        return Ok(CaseRun {
            npz: daftseg::challenge::write_segs(&[h, w], &result.labels.labels)?,
            model_id,
            load_ms,
            encode_ms: Some(t.encode_ms),
            decode_ms: Some(t.decode_ms),
            total_ms: t.encode_ms + t.decode_ms,
            summary: format!("2D {w}x{h}, {boxes} boxes"),
        });
    }
    let labels = session.segment_3d(&model_id, &info.boxes, &mut print_progress(verbose))?;
    Ok(CaseRun {
        npz: daftseg::challenge::write_segs(&[d, h, w], &labels)?,
        model_id,
        load_ms,
        encode_ms: None,
        decode_ms: None,
        total_ms: context.now_ms() - start,
        summary: format!("3D {w}x{h}x{d}, {boxes} boxes"),
    })
}

/// Every challenge NPZ case of a folder (or of its shard), one model load per model, one line
/// per case: `case,model,encode_ms,decode_ms,total_ms` on stdout (model loading excluded; 3D
/// cases give the total only).
fn segment_folder(
    session: &mut Session,
    base: &Path,
    args: &SegmentArgs,
    out: &Path,
    context: &Context,
) -> Result<()> {
    let mut names = npz_files(&args.input, "cases")?;
    if let Some(shard) = args.shard {
        names = shard.select(names);
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out.display(), e))?;
    println!("case,model,encode_ms,decode_ms,total_ms");
    for name in &names {
        // Each case on its own, as the challenge times them: no embedding from an earlier case
        // (the 3D cases here contain the 2D cases' slices).
        session.clear_cache();
        let bytes = read(&args.input.join(name))?;
        let done = session
            .open(vec![(name.clone(), bytes)])
            .and_then(|info| {
                segment_case(session, base, &info, args.model.as_deref(), context, false)
            })
            .map_err(|e| e.context(name))?;
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
