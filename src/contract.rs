//! The model contract every supported architecture keeps (LiteMedSAM's): a `1x3x256x256` image
//! in, a `1x256x64x64` embedding out, prompts in the 256 frame. Preprocessing, the model, the
//! content router and the embedding store all speak it, so it lives here, below all of them.

use std::sync::Arc;

use tract_onnx::prelude::Tensor;

use crate::error::{Error, Result};

/// The model's square input side.
pub const MODEL_SIZE: usize = 256;

/// Side of the embedding grid and its channel count.
pub const EMBEDDING_SIZE: usize = 64;
/// Channels of an embedding.
pub const EMBEDDING_CHANNELS: usize = 256;

/// An image embedding: `1x256x64x64` f32, shared (not copied) between decoder runs.
pub type Embedding = Arc<Tensor>;

/// A click in the 256 frame: `[x, y]` (pixel centres at whole numbers, as boxes) and whether it
/// is on the object.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Click256 {
    /// `[x, y]`.
    pub point: [f32; 2],
    /// On the object (foreground) or off it (background).
    pub positive: bool,
}

/// A tensor's f32 values, copied out of tract (an embedding to store or classify, logits);
/// errors name `id`, the model (or part) it came from.
pub fn f32_values(id: &str, tensor: &Tensor) -> Result<Vec<f32>> {
    let view = tensor.try_as_plain_ram().map_err(|e| Error::tract(id, e))?;
    Ok(view
        .as_slice::<f32>()
        .map_err(|e| Error::tract(id, e))?
        .to_vec())
}
