//! The generator's error type.

use std::io;
use std::path::{Path, PathBuf};

/// Why a synthetic city could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SynthError {
    /// The configuration asks for something impossible (e.g. zero applicants).
    #[error("invalid synth configuration: {0}")]
    InvalidConfig(String),
    /// Creating, writing or renaming an output file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The district outlines compiled into the crate are unreadable (a build problem).
    #[error("embedded district data is broken: {0}")]
    EmbeddedData(String),
}

impl SynthError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        SynthError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
