//! The session: what a frontend has open. The manifest and the models loaded from it
//! ([`Models`]), the open study (an image, or a volume seen through a window, one slice of it
//! shown) and the embedding cache. Every frontend (the CLI, the browser bindings) is a thin
//! adapter over this one type, so a feature is written here once: open, route, window, show a
//! slice, segment 2D and 3D, export.
//!
//! Where bytes come from is the frontend's business (files on disk, `fetch` in a worker): the
//! session takes bytes and names, never paths.
//!
//! [`Session`] and what it holds are in `state`; its methods are grouped by what the user works
//! on: `models` (loading, routing among the manifest's models), `study` (opening, routing the
//! open study, its window and shown slice), `encoding` (the shown image, idle time, the caches),
//! `segmenting` (2D prompts, 3D propagation), `labels` (export, label files, measurements) and
//! `bench` (the models timed on the shown image).

mod bench;
mod encoding;
mod labels;
mod models;
mod segmenting;
mod state;
mod study;

pub use bench::EncoderBench;
pub use labels::MeasureReport;
pub use models::Models;
pub use state::Session;
pub use study::{StudyInfo, WindowInfo};
