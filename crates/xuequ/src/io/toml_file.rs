//! TOML files (`scenario.toml`, `policy.toml`, `zoning.toml`, `planning.toml`): read as
//! UTF-8 (a byte-order mark is dropped), with one clear message for a file saved in another
//! encoding, and byte offsets turned into the editor's line and column.

use std::path::Path;

use super::text::{LineCounter, TextEncoding, decode};
use crate::error::Diagnostic;

/// Why a TOML file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TomlReadError {
    /// The file could not be read at all.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not UTF-8 text.
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}

/// Reads a TOML file as UTF-8 text. GBK or UTF-16 files get one message that says so (TOML
/// is UTF-8 by definition), positioned at the first byte that is not UTF-8.
pub fn read_toml_text(path: &Path, file: &str) -> Result<String, TomlReadError> {
    let bytes = std::fs::read(path).map_err(|source| TomlReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    toml_text(bytes, file).map_err(TomlReadError::Invalid)
}

/// Checks that TOML bytes are UTF-8 and drops a byte-order mark.
pub fn toml_text(bytes: Vec<u8>, file: &str) -> Result<String, Box<Diagnostic>> {
    let detected = match decode(bytes.clone(), file, None) {
        Ok((_, enc)) => Some(enc),
        Err(_) => None,
    };
    match decode(bytes, file, Some(TextEncoding::Utf8)) {
        Ok((text, _)) => Ok(String::from_utf8(text).unwrap_or_default()),
        Err(mut d) => {
            let what = match detected {
                Some(enc) => format!("the file is saved as {enc}, not UTF-8"),
                None => "the file is not UTF-8 text".to_string(),
            };
            d.message = what;
            d.hint = "TOML files are UTF-8: re-save it as UTF-8 (记事本/VS Code: 另存为 → UTF-8)".to_string();
            Err(d)
        }
    }
}

/// The 1-based line and column of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (u64, usize) {
    LineCounter::new(text.as_bytes()).position(offset)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn gbk_toml_says_so() {
        let (bytes, _, _) = encoding_rs::GBK.encode("name = \"方案\"\n");
        let d = toml_text(bytes.into_owned(), "scenario.toml").unwrap_err();
        assert!(d.message.contains("gbk"), "{}", d.message);
        assert_eq!(d.line, Some(1));
    }

    #[test]
    fn utf16_toml_says_so() {
        let mut bytes = vec![0xff, 0xfe];
        for u in "name = \"x\"\n".encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        let d = toml_text(bytes, "scenario.toml").unwrap_err();
        assert!(d.message.contains("utf-16"), "{}", d.message);
    }

    #[test]
    fn crlf_positions_are_the_editors() {
        assert_eq!(line_col("a = 1\r\nb = 2\r\n", 7), (2, 1));
    }
}
