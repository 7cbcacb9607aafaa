//! What a session holds: its models, the embedding cache (in the segmenter) and the open study.
//! The behaviour is in the sibling modules, one `impl Session` each, by what the user works on.

use crate::cache::image_key;
use crate::content::ContentGuess;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::medical::window::Windowed;
use crate::medical::MedicalVolume;
use crate::rgb::RgbImage;
use crate::segment::{Segmenter, DEFAULT_CACHE_BYTES};
use crate::session::models::Models;

/// The open study: an image, or a volume and the window it is seen through.
pub(super) struct Study {
    pub(super) name: String,
    pub(super) volume: Option<(MedicalVolume, Windowed)>,
    /// What 2D prompts work on: the image, or the shown slice of the volume through its window.
    pub(super) image: RgbImage,
    pub(super) slice: usize,
    /// What the image content said, once classified: once per study, so every slice of a
    /// volume goes to the same model.
    pub(super) content: Option<ContentGuess>,
    /// Each slice's pixel key ([`image_key`]) through the current window, once computed: to
    /// know which slices are encoded without rendering them again.
    pub(super) slice_keys: Vec<Option<[u8; 32]>>,
}

impl Study {
    pub(super) fn new(
        name: String,
        volume: Option<(MedicalVolume, Windowed)>,
        image: RgbImage,
    ) -> Self {
        let depth = volume.as_ref().map_or(1, |(v, _)| v.depth);
        Study {
            name,
            slice: depth / 2,
            volume,
            image,
            content: None,
            slice_keys: vec![None; depth],
        }
    }

    /// Slice `z` of the volume through its window, as the encoder sees it.
    pub(super) fn slice_image(&self, z: usize) -> Result<RgbImage> {
        let (volume, view) = self.volume.as_ref().ok_or_else(no_volume)?;
        view.slice_image(volume, z)
    }

    /// Slice `z`'s pixel key, computed once per window.
    pub(super) fn slice_key(&mut self, z: usize) -> Result<[u8; 32]> {
        if let Some(Some(key)) = self.slice_keys.get(z) {
            return Ok(*key);
        }
        let image = self.slice_image(z)?;
        let key = image_key(image.width, image.height, &image.data);
        self.slice_keys[z] = Some(key);
        Ok(key)
    }
}

/// One user's work: models, the open study, the embedding cache.
pub struct Session {
    pub(super) models: Models,
    pub(super) segmenter: Segmenter,
    pub(super) study: Option<Study>,
}

impl Session {
    /// A session over `manifest`, nothing open.
    pub fn new(manifest: Manifest) -> Self {
        Session::with_cache_bytes(manifest, DEFAULT_CACHE_BYTES)
    }

    /// A session whose embedding cache holds at most `max_cache_bytes` (4 MiB per embedding):
    /// the memory budget of encoding in idle time too.
    pub fn with_cache_bytes(manifest: Manifest, max_cache_bytes: usize) -> Self {
        Session {
            models: Models::new(manifest),
            segmenter: Segmenter::new(max_cache_bytes),
            study: None,
        }
    }

    /// The models (to route, and to see which are loaded).
    pub fn models(&self) -> &Models {
        &self.models
    }

    /// The models, to load one.
    pub fn models_mut(&mut self) -> &mut Models {
        &mut self.models
    }

    pub(super) fn study(&self) -> Result<&Study> {
        self.study.as_ref().ok_or_else(no_study)
    }

    pub(super) fn study_mut(&mut self) -> Result<&mut Study> {
        self.study.as_mut().ok_or_else(no_study)
    }
}

pub(super) fn no_study() -> Error {
    Error::invalid("nothing is open: open an image or a volume first")
}

pub(super) fn no_volume() -> Error {
    Error::invalid("no volume is open: slices and 3D boxes need a volume")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::medical::window::Window;

    fn manifest() -> Manifest {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/manifest.json"))
                .unwrap();
        Manifest::parse(&text).unwrap()
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image =
            image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = std::io::Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn an_image_opens_and_exports_and_volume_calls_say_what_is_missing() {
        let mut session = Session::new(manifest());
        let nothing = session.route(None).unwrap_err().to_string();
        assert!(nothing.contains("open an image"), "{nothing}");
        let info = session
            .open(vec![("2DBox_CT_x.png".into(), png(5, 3))])
            .unwrap();
        assert_eq!((info.kind, info.width, info.height), ("image", 5, 3));
        assert!(session.route(None).unwrap().reason.contains("CT"));
        assert!(session.set_window(&Window::PERCENTILE).is_err());
        assert!(session.show_slice(0).is_err());
        let unloaded = session.encode("litemedsam").unwrap_err();
        assert_eq!(unloaded.kind(), "ModelError");
        let png = session.export(vec![1u16; 15], "m.png", None).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        assert!(session.export(vec![1u16; 14], "m.png", None).is_err());
        assert!(session.export(vec![1u16; 15], "m.nii.gz", None).is_err());
    }

    #[test]
    fn unreadable_files_name_themselves() {
        let mut session = Session::new(manifest());
        let error = session
            .open(vec![("scan.png".into(), b"not an image".to_vec())])
            .unwrap_err();
        assert_eq!(error.kind(), "DecodeError");
        assert!(error.to_string().contains("scan.png"), "{error}");
        assert!(session.open(Vec::new()).is_err());
    }
}
