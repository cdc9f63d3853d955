//! Opening a tabular input: a CSV file in any accepted encoding, or one sheet of a workbook.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::sheet::{SheetText, is_spreadsheet, read_sheet};
use super::text::{TextEncoding, decode};
use crate::error::Diagnostic;

/// How to read one input: its path and, optionally, a forced encoding or a sheet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputSpec {
    /// The file.
    pub path: PathBuf,
    /// The text encoding, when the scenario forces one (otherwise detected).
    pub encoding: Option<TextEncoding>,
    /// The sheet of a workbook (otherwise the first).
    pub sheet: Option<String>,
}

impl InputSpec {
    /// A file read with detection and the first sheet.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        InputSpec {
            path: path.into(),
            ..InputSpec::default()
        }
    }
}

/// What an input was read as (reported by `validate` and recorded in the manifest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceInfo {
    /// The file as the user named it.
    pub file: String,
    /// `csv`, `workbook` or `memory` (given by the caller, not read from a file).
    pub format: &'static str,
    /// The detected or forced encoding (CSV files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<TextEncoding>,
    /// The sheet read (workbooks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
}

impl std::fmt::Display for SourceInfo {
    /// `schools.csv (csv, gbk)` or `students.xlsx (workbook, sheet 报名)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = Path::new(&self.file)
            .file_name()
            .map_or_else(|| self.file.clone(), |n| n.to_string_lossy().into_owned());
        match (&self.encoding, &self.sheet) {
            (_, Some(sheet)) => write!(f, "{name} ({}, sheet {sheet})", self.format),
            (Some(enc), None) => write!(f, "{name} ({}, {enc})", self.format),
            (None, None) => write!(f, "{name} ({})", self.format),
        }
    }
}

/// A tabular input as UTF-8 CSV text, with what it was read as.
#[derive(Debug, Clone)]
pub struct TableText {
    /// UTF-8 CSV text.
    pub bytes: Vec<u8>,
    /// What the file was read as.
    pub info: SourceInfo,
    sheet: Option<SheetText>,
}

impl TableText {
    /// A table given in memory as UTF-8 CSV text (a byte-order mark allowed), named `file`
    /// in messages; text that is not UTF-8 is an error naming its line.
    pub fn in_memory(bytes: Vec<u8>, file: &str) -> Result<TableText, OpenError> {
        let (bytes, encoding) = decode(bytes, file, Some(TextEncoding::Utf8)).map_err(OpenError::Invalid)?;
        Ok(TableText {
            bytes,
            info: SourceInfo {
                file: file.to_string(),
                format: "memory",
                encoding: Some(encoding),
                sheet: None,
            },
            sheet: None,
        })
    }

    /// Rewrites diagnostics about this file to the workbook's sheet, row and column (nothing
    /// to do for CSV files, whose positions are already the file's).
    pub fn locate(&self, d: &mut Diagnostic) {
        if let Some(sheet) = &self.sheet
            && d.file == self.info.file
            && d.sheet.is_none()
        {
            sheet.locate(d);
        }
    }
}

/// Why an input could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The file could not be read at all.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file was read but is not text in an accepted encoding, or not a workbook.
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}

/// Reads a tabular input named `file` in messages.
pub fn read_table(spec: &InputSpec, file: &str) -> Result<TableText, OpenError> {
    if is_spreadsheet(&spec.path) {
        if !spec.path.is_file() {
            let e = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
            return Err(OpenError::Io {
                path: spec.path.clone(),
                source: e,
            });
        }
        let sheet = read_sheet(&spec.path, file, spec.sheet.as_deref()).map_err(OpenError::Invalid)?;
        return Ok(TableText {
            bytes: sheet.csv.clone(),
            info: SourceInfo {
                file: file.to_string(),
                format: "workbook",
                encoding: None,
                sheet: Some(sheet.sheet.clone()),
            },
            sheet: Some(sheet),
        });
    }
    let raw = std::fs::read(&spec.path).map_err(|e| OpenError::Io {
        path: spec.path.clone(),
        source: e,
    })?;
    let (bytes, encoding) = decode(raw, file, spec.encoding).map_err(OpenError::Invalid)?;
    Ok(TableText {
        bytes,
        info: SourceInfo {
            file: file.to_string(),
            format: "csv",
            encoding: Some(encoding),
            sheet: None,
        },
        sheet: None,
    })
}
