//! The challenge's modalities: the router's vocabulary, what the content router's classes and
//! the manifest's `modalities` name, and how DICOM codes and file names say them.

use std::fmt;

use serde::{Serialize, Serializer};

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

/// Serialised as its [`Modality::name`].
impl Serialize for Modality {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl fmt::Display for Modality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
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
