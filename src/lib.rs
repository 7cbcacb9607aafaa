//! daftseg: DAFT-style medical image segmentation (LiteMedSAM-family models, a modality router)
//! that runs the same core natively (the `daftseg` CLI) and in the browser (WebAssembly).
//!
//! Frontends use [`Session`]: it holds the manifest and the loaded models, the open study and the
//! embedding cache, and does every step for them. Below it, one module per pipeline step, each of
//! pure functions: [`rgb`] (the image type; image files to pixels) and [`medical`] (volumes,
//! windows), [`prompt`] (boxes: parsing and checks), [`preprocess`] (exactly LiteMedSAM's
//! resize/normalise/pad, with [`resize`], OpenCV's area resize), [`router`] (which model, by
//! [`modality`]), [`contract`] (the shapes every model takes and gives), [`model`] (tract
//! encoder/decoder; "decode" always means its decoder), [`cache`] (embeddings reused across
//! prompts), [`segment`] (one image, many boxes; and [`segment::volume`], 3D propagation),
//! [`postprocess`] (logits to masks to labels), [`export`] and [`challenge`] (PNG, NIfTI, the
//! challenge's NPZ), [`metrics`] (the challenge's DSC and NSD), [`edit`] (brush, eraser, fill
//! holes, largest component: manual edits over the model's labels). Every reader checks sizes
//! against [`limits`] before it allocates.
//! docs/ARCHITECTURE.md draws the layers.

#![warn(missing_docs, unreachable_pub)]

pub mod background;
pub(crate) mod cache;
pub mod challenge;
pub mod content;
pub mod contract;
pub mod digest;
pub mod edit;
pub mod error;
pub mod export;
pub mod identify;
pub mod label_value;
pub mod labels;
pub mod limits;
pub mod manifest;
pub mod measure;
pub mod medical;
pub mod metrics;
pub mod modality;
pub mod model;
pub mod ops;
pub mod patch;
pub mod postprocess;
pub mod preprocess;
pub mod profile;
pub mod progress;
pub mod prompt;
pub mod resize;
pub mod rgb;
pub mod router;
pub mod segment;
pub mod session;
pub mod store;
pub mod threads;

#[cfg(not(target_arch = "wasm32"))]
pub mod native;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{Error, Result};
pub use session::{Models, Session, StudyInfo, WindowInfo};
