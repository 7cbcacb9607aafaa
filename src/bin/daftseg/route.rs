//! `daftseg route FILE`: the router's choice and its reason, without opening the file.

use std::path::PathBuf;

use daftseg::error::Result;
use daftseg::router::RouteRequest;

use crate::{file_name, Context};

#[derive(clap::Args)]
pub(crate) struct RouteArgs {
    file: PathBuf,
    /// The user's explicit choice (checked against the manifest).
    #[arg(long)]
    model: Option<String>,
    /// Modality from metadata (e.g. a DICOM Modality code such as CT, MR, PT, MG).
    #[arg(long)]
    modality: Option<String>,
}

pub(crate) fn run(args: RouteArgs, context: &Context) -> Result<()> {
    let (session, _) = context.session()?;
    let name = file_name(&args.file);
    let chosen = session.models().route(&RouteRequest {
        model: args.model.as_deref(),
        metadata_modality: args.modality.as_deref(),
        file_name: Some(&name),
    })?;
    println!("model: {}", chosen.model_id);
    println!(
        "modality: {}",
        chosen.modality.map(|m| m.name()).unwrap_or("unknown")
    );
    println!("reason: {}", chosen.reason);
    Ok(())
}
