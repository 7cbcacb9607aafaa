//! The DAFT router: which model segments this input, and why. In order: the user's explicit
//! choice, the modality from metadata (DICOM's Modality tag), the modality in the file name (the
//! CVPR24 challenge's naming: `2DBox_CT_...`, `3DBox_MR_...`, names with XRay, US, Fundus, ...),
//! the image content ([`crate::content`], once the general model's encoder ran, when it is
//! confident enough), else the general model.

use std::fmt;

use crate::content::ContentGuess;
use crate::error::{Error, Result};
use crate::manifest::{Manifest, ModelEntry};

/// The challenge's modalities, the router's vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modality {
    /// Computed tomography.
    Ct,
    /// Magnetic resonance.
    Mr,
    /// Radiography (X-ray).
    XRay,
    /// Ultrasound.
    Ultrasound,
    /// Fundus photography.
    Fundus,
    /// Endoscopy.
    Endoscopy,
    /// Dermoscopy.
    Dermoscopy,
    /// Microscopy.
    Microscopy,
    /// Mammography.
    Mammography,
    /// Optical coherence tomography.
    Oct,
    /// Positron emission tomography.
    Pet,
}

impl Modality {
    /// Every modality, in the challenge's order.
    pub const ALL: [Modality; 11] = [
        Modality::Ct,
        Modality::Mr,
        Modality::XRay,
        Modality::Ultrasound,
        Modality::Fundus,
        Modality::Endoscopy,
        Modality::Dermoscopy,
        Modality::Microscopy,
        Modality::Mammography,
        Modality::Oct,
        Modality::Pet,
    ];

    /// The name used in the manifest and in the challenge's file names.
    pub fn name(self) -> &'static str {
        match self {
            Modality::Ct => "CT",
            Modality::Mr => "MR",
            Modality::XRay => "XRay",
            Modality::Ultrasound => "US",
            Modality::Fundus => "Fundus",
            Modality::Endoscopy => "Endoscopy",
            Modality::Dermoscopy => "Dermoscopy",
            Modality::Microscopy => "Microscopy",
            Modality::Mammography => "Mammography",
            Modality::Oct => "OCT",
            Modality::Pet => "PET",
        }
    }

    /// A manifest name or a DICOM Modality (0008,0060) code.
    pub fn parse(code: &str) -> Option<Modality> {
        let code = code.trim();
        if let Some(m) = Modality::ALL
            .iter()
            .find(|m| m.name().eq_ignore_ascii_case(code))
        {
            return Some(*m);
        }
        Some(match code.to_ascii_uppercase().as_str() {
            "MRI" => Modality::Mr,
            "PT" => Modality::Pet,
            "CR" | "DX" | "RG" | "DR" | "XA" | "RF" | "CXR" | "X-RAY" => Modality::XRay,
            "MG" | "MAMMO" => Modality::Mammography,
            "OP" => Modality::Fundus,
            "ES" => Modality::Endoscopy,
            "XC" => Modality::Dermoscopy,
            "SM" | "GM" => Modality::Microscopy,
            "OPT" => Modality::Oct,
            _ => return None,
        })
    }

    /// The modality a file name announces. Short codes (CT, MR, US, OCT, PET) must be a whole
    /// word of the name (split at `_`, `-`, `.`, spaces), so "thus" is not ultrasound; long ones
    /// (Fundus, Endoscopy, Dermoscopy, Microscopy, Mamm..., XRay, CXR) may appear anywhere.
    pub fn from_file_name(name: &str) -> Option<Modality> {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let lower = base.to_ascii_lowercase();
        let contained = [
            ("xray", Modality::XRay),
            ("x-ray", Modality::XRay),
            ("cxr", Modality::XRay),
            ("fundus", Modality::Fundus),
            ("endoscop", Modality::Endoscopy),
            ("dermoscop", Modality::Dermoscopy),
            ("microscop", Modality::Microscopy),
            ("mamm", Modality::Mammography),
        ];
        if let Some((_, m)) = contained.iter().find(|(word, _)| lower.contains(word)) {
            return Some(*m);
        }
        lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .find_map(|word| match word {
                "ct" => Some(Modality::Ct),
                "mr" | "mri" => Some(Modality::Mr),
                "us" | "ultrasound" => Some(Modality::Ultrasound),
                "oct" => Some(Modality::Oct),
                "pet" => Some(Modality::Pet),
                _ => None,
            })
    }
}

impl fmt::Display for Modality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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

/// The router's answer.
#[derive(Clone, Debug, PartialEq)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_the_challenge_convention() {
        let cases = [
            ("2DBox_CT_demo.npz", Some(Modality::Ct)),
            ("3DBox_MR_0001.npz", Some(Modality::Mr)),
            ("2DBox_XRay_0003.npz", Some(Modality::XRay)),
            ("CXR_chest.png", Some(Modality::XRay)),
            ("2DBox_US_heart.npz", Some(Modality::Ultrasound)),
            ("2DBox_Fundus_0001.npz", Some(Modality::Fundus)),
            ("2DBox_Endoscopy_0001.npz", Some(Modality::Endoscopy)),
            ("2DBox_Dermoscopy_0001.npz", Some(Modality::Dermoscopy)),
            ("2DBox_Microscopy_0001.npz", Some(Modality::Microscopy)),
            ("2DBox_Mammo_0001.npz", Some(Modality::Mammography)),
            ("2DBox_OCT_0001.npz", Some(Modality::Oct)),
            ("3DBox_PET_0001.npz", Some(Modality::Pet)),
            ("/data/cases/thus_carpet.png", None),
            ("scan.png", None),
        ];
        for (name, expected) in cases {
            assert_eq!(Modality::from_file_name(name), expected, "{name}");
        }
    }

    #[test]
    fn dicom_codes_map_to_modalities() {
        assert_eq!(Modality::parse("PT"), Some(Modality::Pet));
        assert_eq!(Modality::parse("DX"), Some(Modality::XRay));
        assert_eq!(Modality::parse("MG"), Some(Modality::Mammography));
        assert_eq!(Modality::parse("OP"), Some(Modality::Fundus));
        assert_eq!(Modality::parse("SM"), Some(Modality::Microscopy));
        assert_eq!(Modality::parse("ct"), Some(Modality::Ct));
        assert_eq!(Modality::parse("NM"), None);
    }
}
