//! The one error type of the core. Every fallible function returns [`Result`]; the CLI prints it
//! and the wasm bindings turn it into a JS `Error` whose `name` is [`Error::kind`], so the page
//! can tell a cancel from bad input without reading messages. tract's errors are converted with
//! their whole cause chain, because "Failed analyse" alone tells a user nothing.

use std::fmt;

/// What went wrong, by class of problem (see [`Error::kind`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not an image or volume (or not one we can read).
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
    Model {
        /// The model's id in the manifest.
        model: String,
        /// What went wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's reason.
        message: String,
    },
    /// The user stopped a long run (3D propagation) through its progress callback.
    #[error("cancelled")]
    Cancelled,
}

/// The core's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Readable but unusable input.
    pub fn invalid(message: impl fmt::Display) -> Self {
        Error::InvalidInput(message.to_string())
    }

    /// A problem with one model (its files, or running it).
    pub fn model(model: &str, message: impl fmt::Display) -> Self {
        Error::Model {
            model: model.to_string(),
            message: message.to_string(),
        }
    }

    /// A tract error with its cause chain on one line.
    pub(crate) fn tract(model: &str, error: tract_onnx::prelude::TractError) -> Self {
        Error::model(model, format!("{error:#}"))
    }

    /// A failed read or write of `path`.
    pub fn io(path: impl fmt::Display, error: std::io::Error) -> Self {
        Error::Io {
            path: path.to_string(),
            message: error.to_string(),
        }
    }

    /// The same error, its message prefixed with where it happened (a file or case name):
    /// `x.npz: ...`. The variant is kept, so a model failure in a case stays a model failure.
    pub fn context(self, place: impl fmt::Display) -> Self {
        // A reader that already named the file (`x.dcm: DICOM: ...`) is not named twice.
        let prefix = format!("{place}: ");
        let add = |m: String| {
            if m.starts_with(&prefix) {
                m
            } else {
                format!("{prefix}{m}")
            }
        };
        match self {
            Error::Decode(m) => Error::Decode(add(m)),
            Error::InvalidInput(m) => Error::InvalidInput(add(m)),
            Error::Manifest(m) => Error::Manifest(add(m)),
            Error::Model { model, message } => Error::Model {
                model,
                message: add(message),
            },
            Error::Io { path, message } => Error::Io {
                path: format!("{place}: {path}"),
                message,
            },
            Error::Cancelled => Error::Cancelled,
        }
    }

    /// A stable name for the class of problem: `DecodeError`, `InvalidInputError`,
    /// `ManifestError`, `ModelError`, `IoError` or `Cancelled` (the JS error's `name`).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Decode(_) => "DecodeError",
            Error::InvalidInput(_) => "InvalidInputError",
            Error::Manifest(_) => "ManifestError",
            Error::Model { .. } => "ModelError",
            Error::Io { .. } => "IoError",
            Error::Cancelled => "Cancelled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_variant_and_adds_the_place_once() {
        let e = Error::Decode("NPZ: no `imgs`".into()).context("x.npz");
        assert_eq!(e.to_string(), "cannot read image: x.npz: NPZ: no `imgs`");
        assert_eq!(e.kind(), "DecodeError");
        let e = Error::model("litemedsam", "encoder.onnx: missing").context("case.npz");
        assert_eq!(e.kind(), "ModelError");
        assert!(e.to_string().starts_with("model 'litemedsam': case.npz: "));
        assert_eq!(Error::Cancelled.context("case.npz").kind(), "Cancelled");
        // A reader's message that already starts with the file's name keeps one.
        let e = Error::Decode("x.dcm: DICOM: damaged".into()).context("x.dcm");
        assert_eq!(e.to_string(), "cannot read image: x.dcm: DICOM: damaged");
    }
}
