//! CSV for the supply inputs and outputs. Inputs (`population.csv`, `sites.csv`, distance
//! and development files) go through the main loader's reader, so they share its
//! conventions and diagnostics: UTF-8 (a BOM is accepted), header names matched
//! case-insensitively, trimmed cells, every problem reported with file, line, column, value
//! and a fix.

use crate::io::CsvWriter;
pub(crate) use crate::load::read_csv as read_table;

/// Renders rows as CSV through the one writer ([`CsvWriter`]): every cell as text, so names
/// that look like formulas are neutralised and numbers are left as they are.
pub(crate) struct CsvOut {
    w: CsvWriter,
    cell: String,
}

impl CsvOut {
    pub(crate) fn new(header: &[&str], bom: bool) -> Self {
        CsvOut {
            w: CsvWriter::with_header(header, bom),
            cell: String::new(),
        }
    }

    /// Appends one field to the current row.
    pub(crate) fn field(&mut self, v: impl std::fmt::Display) -> &mut Self {
        use std::fmt::Write as _;
        self.cell.clear();
        let _ = write!(self.cell, "{v}");
        self.w.text(&self.cell);
        self
    }

    /// Ends the current row.
    pub(crate) fn end(&mut self) {
        self.w.end();
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.w.into_bytes()
    }
}

/// A number with at most `decimals` decimals and no trailing zeros (`12.5`, `3`, `0.25`).
pub(crate) fn num(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return String::new();
    }
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" { "0".to_string() } else { s }
}
