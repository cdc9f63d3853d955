//! CSV for the supply inputs and outputs. Inputs (`population.csv`, `sites.csv`, distance
//! and development files) go through the main loader's reader, so they share its
//! conventions and diagnostics: UTF-8 (a BOM is accepted), header names matched
//! case-insensitively, trimmed cells, every problem reported with file, line, column, value
//! and a fix.

pub(crate) use crate::load::read_csv as read_table;

/// Renders rows as CSV (RFC 4180 quoting), optionally after a UTF-8 byte-order mark.
pub(crate) struct CsvOut {
    buf: Vec<u8>,
    cell: String,
    first: bool,
}

impl CsvOut {
    pub(crate) fn new(header: &[&str], bom: bool) -> Self {
        let mut out = CsvOut {
            buf: Vec::with_capacity(1 << 16),
            cell: String::new(),
            first: true,
        };
        if bom {
            out.buf.extend_from_slice("\u{feff}".as_bytes());
        }
        for h in header {
            out.field(h);
        }
        out.end();
        out
    }

    /// Appends one field to the current row.
    pub(crate) fn field(&mut self, v: impl std::fmt::Display) -> &mut Self {
        use std::fmt::Write as _;
        self.cell.clear();
        let _ = write!(self.cell, "{v}");
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        if self.cell.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
            self.buf.push(b'"');
            for b in self.cell.bytes() {
                if b == b'"' {
                    self.buf.push(b'"');
                }
                self.buf.push(b);
            }
            self.buf.push(b'"');
        } else {
            self.buf.extend_from_slice(self.cell.as_bytes());
        }
        self
    }

    /// Ends the current row.
    pub(crate) fn end(&mut self) {
        self.buf.push(b'\n');
        self.first = true;
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.buf
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
