//! Segmenting the open study: 2D prompts on the shown image, 3D propagation over the volume.

use crate::error::Result;
use crate::medical::window::WindowedVolume;
use crate::prompt::{Box3d, BoxPrompt, ObjectPrompt};
use crate::segment::{Clock, GreyVolume, LabelValue, Progress, Segmentation};
use crate::session::state::{no_study, no_volume, Session};

impl Session {
    /// Every box on the shown image: box i paints label i + 1, later boxes over earlier ones.
    /// The image is encoded once (the cache keeps it), then the decoder runs once per box.
    pub fn segment_boxes(
        &mut self,
        model_id: &str,
        boxes: &[BoxPrompt],
        clock: Clock,
    ) -> Result<Segmentation> {
        let model = self.models.get(model_id)?;
        let image = &self.study.as_ref().ok_or_else(no_study)?.image;
        self.segmenter.segment(model, image, boxes, clock)
    }

    /// As [`Session::segment_boxes`], each box refined by its clicks: a click on the object
    /// (foreground) or off it (background) re-runs only the decoder.
    pub fn segment_prompts(
        &mut self,
        model_id: &str,
        prompts: &[ObjectPrompt],
        clock: Clock,
    ) -> Result<Segmentation> {
        let model = self.models.get(model_id)?;
        let image = &self.study.as_ref().ok_or_else(no_study)?.image;
        self.segmenter.segment_prompts(model, image, prompts, clock)
    }

    /// 3D propagation of every box over the open volume through its window (see
    /// [`crate::segment::volume`]); `progress(done, total)` after each slice, `false` cancels with
    /// [`Error::Cancelled`](crate::error::Error::Cancelled). The label volume,
    /// `depth * height * width`.
    pub fn segment_3d(
        &mut self,
        model_id: &str,
        boxes: &[Box3d],
        progress: Progress,
    ) -> Result<Vec<u16>> {
        self.segment_3d_labels(model_id, boxes, progress)
    }

    /// [`Session::segment_3d`] into labels of type `L`: u8 (a byte a voxel) for up to 255
    /// boxes. Each slice is windowed as propagation reaches it.
    pub fn segment_3d_labels<L: LabelValue>(
        &mut self,
        model_id: &str,
        boxes: &[Box3d],
        progress: Progress,
    ) -> Result<Vec<L>> {
        let model = self.models.get(model_id)?;
        let study = self.study.as_ref().ok_or_else(no_study)?;
        let (volume, view) = study.volume.as_ref().ok_or_else(no_volume)?;
        let slices = WindowedVolume { volume, view };
        self.segmenter
            .segment_3d_labels(model, &slices, boxes, progress)
    }

    /// 3D propagation over a grey volume that is not the open study (voxels from elsewhere: a
    /// challenge case's array, a benchmark).
    pub fn segment_grey_volume(
        &mut self,
        model_id: &str,
        volume: &GreyVolume,
        boxes: &[Box3d],
        progress: Progress,
    ) -> Result<Vec<u16>> {
        let model = self.models.get(model_id)?;
        self.segmenter.segment_3d(model, volume, boxes, progress)
    }
}
