//! The library's one error type. Every message says what was expected and what was found,
//! and names the file or the layer involved, so the binary can print it as one line.

use std::path::PathBuf;

/// Everything that can go wrong inside the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Two shapes that must agree do not.
    #[error("shape mismatch in {context}: expected {expected:?}, found {found:?}")]
    Shape { context: String, expected: Vec<usize>, found: Vec<usize> },

    /// A buffer's length does not match the shape it is said to have.
    #[error("{context}: a tensor of shape {shape:?} needs {expected} values, found {found}")]
    Length { context: String, shape: Vec<usize>, expected: usize, found: usize },

    /// A configuration value (layer, optimizer, architecture, flag) is out of range.
    #[error("{0}")]
    Config(String),

    /// A model file, architecture file or data file is malformed.
    #[error("{path}: {problem}")]
    Format { path: PathBuf, problem: String },

    /// An operating-system error while reading or writing a file.
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },

    /// A data set problem that is not tied to a single file (e.g. label out of range).
    #[error("{0}")]
    Data(String),
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for a configuration error.
    pub fn config(msg: impl Into<String>) -> Self {
        Error::Config(msg.into())
    }

    /// Shorthand for an I/O error on a path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), cause: source }
    }

    /// Shorthand for a malformed file.
    pub fn format(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::Format { path: path.into(), problem: problem.into() }
    }
}
