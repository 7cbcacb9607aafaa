//! `daftseg route FILE`: the router's choice and its reason. A file that exists is opened and,
//! when neither its metadata nor its name says the modality, its content decides (one encoder
//! run of the general model); a name alone (or `--modality`) is routed without opening anything.

use std::path::PathBuf;

use daftseg::error::Result;
use daftseg::router::RouteRequest;

use crate::segment::{open_input, route_study};
use crate::{file_name, Context};

#[derive(clap::Args)]
pub(crate) struct RouteArgs {
    file: PathBuf,
    /// The user's explicit choice (checked against the manifest).
    #[arg(long)]
    model: Option<String>,
    /// Modality from metadata (e.g. a DICOM Modality code such as CT, MR, PT, MG): routes the
    /// name with this metadata, without opening the file.
    #[arg(long)]
    modality: Option<String>,
}

pub(crate) fn run(args: RouteArgs, context: &Context) -> Result<()> {
    let (mut session, base) = context.session()?;
    let chosen = if args.file.exists() && args.modality.is_none() {
        open_input(&mut session, &args.file)?;
        route_study(&mut session, &base, args.model.as_deref())?
    } else {
        session.models().route(&RouteRequest {
            model: args.model.as_deref(),
            metadata_modality: args.modality.as_deref(),
            file_name: Some(&file_name(&args.file)),
            ..Default::default()
        })?
    };
    println!("model: {}", chosen.model_id);
    println!(
        "modality: {}",
        chosen.modality.map(|m| m.name()).unwrap_or("unknown")
    );
    println!("reason: {}", chosen.reason);
    Ok(())
}
