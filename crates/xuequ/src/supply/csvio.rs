//! A small CSV reader for the supply inputs (`population.csv`, `sites.csv`, distance and
//! development files), with the same conventions and diagnostics as the main loader: UTF-8
//! (a BOM is accepted), header names matched case-insensitively, trimmed cells, every problem
//! reported with file, line, column, value and a fix.

use std::collections::HashMap;

use crate::crs::Crs;
use crate::error::{Diagnostic, Diagnostics};
use crate::model::{Location, Stage};

/// One data row.
pub(crate) struct Row<'a> {
    pub(crate) file: &'a str,
    pub(crate) line: u64,
    record: &'a csv::StringRecord,
    columns: &'a HashMap<String, usize>,
}

impl<'a> Row<'a> {
    pub(crate) fn diag(
        &self,
        column: &str,
        value: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::file(self.file, message, hint)
            .at_line(self.line)
            .at_field(self.columns.get(column).map(|c| c + 1), column)
            .with_value(value)
    }

    /// True when the header has this column.
    pub(crate) fn has(&self, column: &str) -> bool {
        self.columns.contains_key(column)
    }

    /// The trimmed cell, empty when the column is absent.
    pub(crate) fn text(&self, column: &str) -> &'a str {
        self.columns
            .get(column)
            .and_then(|&c| self.record.get(c))
            .map_or("", str::trim)
    }

    pub(crate) fn required(&self, column: &str, diags: &mut Diagnostics) -> Option<&'a str> {
        let v = self.text(column);
        if v.is_empty() {
            diags.push(self.diag(column, v, format!("{column} is empty"), format!("fill in {column}")));
            None
        } else {
            Some(v)
        }
    }

    /// `Some(None)` for an empty cell, `None` after reporting a bad one.
    pub(crate) fn parse<T: std::str::FromStr>(
        &self,
        column: &str,
        what: &str,
        diags: &mut Diagnostics,
    ) -> Option<Option<T>> {
        let v = self.text(column);
        if v.is_empty() {
            return Some(None);
        }
        match v.parse::<T>() {
            Ok(x) => Some(Some(x)),
            Err(_) => {
                diags.push(self.diag(column, v, format!("{column} is not {what}"), format!("write {what}")));
                None
            }
        }
    }

    /// A finite number ≥ 0 (`Some(None)` when empty).
    pub(crate) fn non_negative(&self, column: &str, diags: &mut Diagnostics) -> Option<Option<f64>> {
        match self.parse::<f64>(column, "a number", diags)? {
            None => Some(None),
            Some(x) if x.is_finite() && x >= 0.0 => Some(Some(x)),
            Some(_) => {
                diags.push(self.diag(
                    column,
                    self.text(column),
                    format!("{column} must be a finite number ≥ 0"),
                    "write a number ≥ 0",
                ));
                None
            }
        }
    }

    pub(crate) fn location(&self, crs: Crs, diags: &mut Diagnostics) -> Option<Location> {
        let lon = self.parse::<f64>("lon", "a longitude in degrees", diags)?;
        let lat = self.parse::<f64>("lat", "a latitude in degrees", diags)?;
        let (Some(lon), Some(lat)) = (lon, lat) else {
            let col = if lon.is_none() { "lon" } else { "lat" };
            diags.push(self.diag(col, "", format!("{col} is empty"), "every row needs lon and lat"));
            return None;
        };
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            diags.push(self.diag(
                "lon",
                self.text("lon"),
                "longitude is outside -180..180",
                "check that lon and lat are not swapped",
            ));
            return None;
        }
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            diags.push(self.diag(
                "lat",
                self.text("lat"),
                "latitude is outside -90..90",
                "check that lon and lat are not swapped",
            ));
            return None;
        }
        let (lon, lat) = crs.to_wgs84(lon, lat);
        Some(Location::from_wgs84(lon, lat))
    }

    pub(crate) fn stage(&self, column: &str, diags: &mut Diagnostics) -> Option<Option<Stage>> {
        let v = self.text(column);
        if v.is_empty() {
            return Some(None);
        }
        match v.parse() {
            Ok(s) => Some(Some(s)),
            Err(hint) => {
                diags.push(self.diag(column, v, "unknown stage", hint));
                None
            }
        }
    }
}

/// Reads a CSV file from memory, checking the header for `required` columns, and calls
/// `on_row` for every well-formed data row. Returns false when the header is unusable.
pub(crate) fn read_table(
    bytes: &[u8],
    file: &str,
    required: &[&str],
    diags: &mut Diagnostics,
    mut on_row: impl FnMut(&Row<'_>, &mut Diagnostics),
) -> bool {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        diags.push(Diagnostic::file(
            file,
            "the file is empty",
            format!("write a header row: {}", required.join(",")),
        ));
        return false;
    }
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(false)
        .from_reader(bytes);
    let mut record = csv::StringRecord::new();
    let not_utf8 = |line: u64| {
        Diagnostic::file(
            file,
            "the text is not valid UTF-8",
            "save the file as UTF-8 (files saved by Excel as GBK/ANSI must be re-saved as \"CSV UTF-8\")",
        )
        .at_line(line)
    };
    match rdr.read_record(&mut record) {
        Ok(true) => {}
        Ok(false) => {
            diags.push(Diagnostic::file(
                file,
                "the file is empty",
                format!("write a header row: {}", required.join(",")),
            ));
            return false;
        }
        Err(e) => {
            let d = match e.kind() {
                csv::ErrorKind::Utf8 { .. } => not_utf8(1),
                _ => Diagnostic::file(file, format!("unreadable header: {e}"), "check the header row").at_line(1),
            };
            diags.push(d);
            return false;
        }
    }
    let mut columns: HashMap<String, usize> = HashMap::new();
    for (i, h) in record.iter().enumerate() {
        let h = h.trim().to_ascii_lowercase();
        if columns.insert(h.clone(), i).is_some() {
            diags.push(
                Diagnostic::file(
                    file,
                    format!("column {h} appears twice in the header"),
                    "remove the duplicate column",
                )
                .at_line(1)
                .at_field(Some(i + 1), h),
            );
            return false;
        }
    }
    let missing: Vec<&str> = required.iter().copied().filter(|c| !columns.contains_key(*c)).collect();
    if !missing.is_empty() {
        let found: Vec<&str> = record.iter().map(str::trim).collect();
        diags.push(
            Diagnostic::file(
                file,
                format!("missing required column(s): {}", missing.join(", ")),
                format!(
                    "the header must contain {}; found: {}",
                    required.join(","),
                    found.join(",")
                ),
            )
            .at_line(1),
        );
        return false;
    }
    let width = record.len();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => diags.push(not_utf8(line)),
                    _ => diags.push(
                        Diagnostic::file(file, format!("unreadable row: {e}"), "check quoting on this line")
                            .at_line(line),
                    ),
                }
                if diags.is_full() {
                    return true;
                }
                continue;
            }
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() == 1 && record.get(0).is_some_and(|f| f.trim().is_empty()) {
            continue;
        }
        if record.len() != width {
            diags.push(
                Diagnostic::file(
                    file,
                    format!("this row has {} fields but the header has {width}", record.len()),
                    "check for a missing or extra comma; quote fields that contain commas",
                )
                .at_line(line),
            );
            if diags.is_full() {
                return true;
            }
            continue;
        }
        let row = Row {
            file,
            line,
            record: &record,
            columns: &columns,
        };
        on_row(&row, diags);
        if diags.is_full() {
            return true;
        }
    }
    true
}

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
