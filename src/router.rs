//! The DAFT router: which model segments this input, and why. In order: the user's explicit
//! choice, the modality from metadata (DICOM's Modality tag), the modality in the file name (the
//! CVPR24 challenge's naming: `2DBox_CT_...`, `3DBox_MR_...`, names with XRay, US, Fundus, ...),
//! the image content ([`crate::content`], once the general model's encoder ran, when it is
//! confident enough), else the general model.

use serde::Serialize;

use crate::content::ContentGuess;
use crate::error::{Error, Result};
use crate::manifest::{Manifest, ModelEntry};
use crate::modality::Modality;

/// What is known about the input when a model is chosen.
#[derive(Clone, Debug, Default)]
pub struct RouteRequest<'a> {
    /// The user's explicit choice of model id.
    pub model: Option<&'a str>,
    /// Modality from the file's metadata (a DICOM Modality code or a manifest name).
    pub metadata_modality: Option<&'a str>,
    /// The file's name (the challenge's names carry the modality).
    pub file_name: Option<&'a str>,
    /// Whether there is an image whose content can be classified (an open study, not a name).
    pub content_available: bool,
    /// What the content said, once classified.
    pub content: Option<ContentGuess>,
}

/// The router's answer (serialised as frontends show it: `{ modelId, modality, reason,
/// needsContent }`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// The chosen model.
    pub model_id: String,
    /// The modality it was chosen for, if one was found.
    pub modality: Option<Modality>,
    /// Why, in words for the user.
    pub reason: String,
    /// The decision waits for the image content: load `model_id` (the general model, whose
    /// encoder the classifier reads), then route again through the session's
    /// `route_by_content`.
    pub needs_content: bool,
}

/// Only role "modality" is routed to; a "candidate" (a fine-tuned model that did not beat the
/// general one on held-out data) is there for the user to choose explicitly.
fn serves(entry: &ModelEntry, modality: Modality) -> bool {
    entry.role == "modality"
        && entry
            .modalities
            .iter()
            .any(|m| Modality::parse(m) == Some(modality))
}

fn general(manifest: &Manifest) -> Result<&ModelEntry> {
    manifest
        .models
        .iter()
        .find(|m| m.role == "general")
        .ok_or_else(|| Error::Manifest("no model has role \"general\"".into()))
}

/// Choose a model: the user's choice, else a modality model that serves the metadata's or the file name's modality, else the general model.
pub fn route(manifest: &Manifest, request: &RouteRequest) -> Result<Route> {
    let metadata = request.metadata_modality.and_then(Modality::parse);
    let from_name = request.file_name.and_then(Modality::from_file_name);
    if let Some(id) = request.model {
        let entry = manifest.model(id)?;
        return Ok(Route {
            model_id: entry.id.clone(),
            modality: metadata.or(from_name),
            reason: "chosen by the user".into(),
            needs_content: false,
        });
    }
    let content = request.content.filter(|c| c.decides());
    let (modality, source) = match (metadata, from_name, content) {
        (Some(m), _, _) => (Some(m), "the file's metadata".to_string()),
        (None, Some(m), _) => (Some(m), "the file name".to_string()),
        (None, None, Some(c)) => (
            Some(c.modality),
            format!("the image content (confidence {:.2})", c.confidence),
        ),
        (None, None, None) => (None, String::new()),
    };
    let general = general(manifest)?;
    Ok(match modality {
        Some(m) => match manifest.models.iter().find(|e| serves(e, m)) {
            Some(entry) => Route {
                model_id: entry.id.clone(),
                modality: Some(m),
                reason: format!(
                    "modality {m} from {source}; '{}' is fine-tuned for {m}",
                    entry.id
                ),
                needs_content: false,
            },
            None => {
                let candidate = manifest.models.iter().find(|e| {
                    e.role == "candidate"
                        && e.modalities.iter().any(|x| Modality::parse(x) == Some(m))
                });
                let reason = match candidate {
                    Some(c) => format!(
                        "modality {m} from {source}; '{}' (fine-tuned for {m}) did not beat the general model on held-out data, so the general model is used (choose '{}' to try it)",
                        c.id, c.id
                    ),
                    None => format!("modality {m} from {source}; no model is fine-tuned for {m}, using the general model"),
                };
                Route {
                    model_id: general.id.clone(),
                    modality: Some(m),
                    reason,
                    needs_content: false,
                }
            }
        },
        None => {
            let classifier = manifest.content_router.is_some() && request.content_available;
            let reason = match request.content {
                Some(c) => format!(
                    "modality unknown: no metadata, none in the file name, and the image content is not clear enough (most like {}, confidence {:.2}, below {:.2}); using the general model",
                    c.modality, c.confidence, c.threshold
                ),
                None if classifier => "modality unknown from the metadata and the file name; the image content decides once it is encoded".into(),
                None => "modality unknown (no metadata, no modality in the file name); using the general model".into(),
            };
            Route {
                model_id: general.id.clone(),
                modality: None,
                reason,
                needs_content: classifier && request.content.is_none(),
            }
        }
    })
}
