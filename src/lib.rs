//! daftseg: DAFT-style medical image segmentation (LiteMedSAM-family models, a modality router)
//! that runs the same core natively (the `daftseg` CLI) and in the browser (WebAssembly).
//!
//! One module per step, each with pure functions: [`decode`] (files to pixels), [`preprocess`]
//! (exactly LiteMedSAM's resize/normalise/pad and box mapping), [`router`] (which model),
//! [`model`] (tract encoder/decoder), [`cache`] (embeddings reused across boxes), [`segment`]
//! (one image, many boxes), [`postprocess`] (logits to masks to labels), [`export`] and
//! [`challenge`] (PNG and the challenge's NPZ).

pub mod cache;
pub mod challenge;
pub mod decode;
pub mod error;
pub mod export;
pub mod manifest;
pub mod medical;
pub mod metrics;
pub mod model;
pub mod postprocess;
pub mod preprocess;
pub mod router;
pub mod segment;
pub mod threads;
pub mod volume;

#[cfg(not(target_arch = "wasm32"))]
pub mod native;
#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{Error, Result};
