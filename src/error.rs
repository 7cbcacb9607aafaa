//! The one error type of the core. Every fallible function returns [`Result`]; the CLI prints it
//! and the wasm bindings turn it into a `JsError`. tract's `anyhow` errors are converted with
//! their whole cause chain, because "Failed analyse" alone tells a user nothing.

use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not an image (or not one we can read).
    #[error("cannot read image: {0}")]
    Decode(String),
    /// The input is readable but unusable: zero size, too large, bad boxes, wrong array shape.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The manifest is missing, unreadable or inconsistent.
    #[error("model manifest: {0}")]
    Manifest(String),
    /// A model file is missing, corrupt or fails to run.
    #[error("model '{model}': {message}")]
    Model { model: String, message: String },
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn invalid(message: impl fmt::Display) -> Self {
        Error::InvalidInput(message.to_string())
    }

    pub fn model(model: &str, message: impl fmt::Display) -> Self {
        Error::Model {
            model: model.to_string(),
            message: message.to_string(),
        }
    }

    /// A tract error with its cause chain on one line.
    pub fn tract(model: &str, error: tract_onnx::prelude::TractError) -> Self {
        Error::model(model, format!("{error:#}"))
    }

    pub fn io(path: impl fmt::Display, error: std::io::Error) -> Self {
        Error::Io {
            path: path.to_string(),
            message: error.to_string(),
        }
    }
}
