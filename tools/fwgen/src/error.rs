//! Error type shared by the loader, the layout engine and the emitters.
//!
//! Every error names where it came from (file, struct, field, variant) so a
//! failing build points straight at the line of data to fix.

use std::path::PathBuf;

/// Everything that can go wrong while reading or processing the definitions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A definitions file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A definitions file is not valid TOML or does not match the schema.
    #[error("{path}: {source}")]
    Toml {
        /// The file.
        path: PathBuf,
        /// The deserializer's message (with line and column).
        source: toml::de::Error,
    },
    /// A type or condition expression failed to parse.
    #[error("{context}: cannot parse `{text}`: {message}")]
    Parse {
        /// Where the expression was written.
        context: String,
        /// The expression.
        text: String,
        /// What was wrong.
        message: String,
    },
    /// The definitions are inconsistent (unknown name, duplicate, cycle, ...).
    #[error("{0}")]
    Invalid(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
