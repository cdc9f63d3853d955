//! A table of addresses for `lookup --points`: any tabular input (CSV in any accepted
//! encoding, or a workbook) with `lon` and `lat` columns (or 经度/纬度); every other column is
//! kept as it is, so an answer can be joined back to the caller's own rows.

use std::path::Path;

use super::csv::{DecodedText, read_csv};
use super::source::{InputSpec, read_table};
use crate::error::{Diagnostic, Diagnostics, LoadError};

/// The rows of a points file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointsTable {
    /// The header as written in the file.
    pub header: Vec<String>,
    /// Every data row's cells, as written.
    pub rows: Vec<Vec<String>>,
    /// Each row's (lon, lat), in the scenario's coordinate system.
    pub points: Vec<(f64, f64)>,
}

/// Reads a points file; every problem is reported with its line and column.
pub fn read_points(path: &Path) -> Result<PointsTable, LoadError> {
    let file = path.display().to_string();
    let mut text = read_table(&InputSpec::new(path), &file)?;
    let header: Vec<String> = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.bytes.as_slice())
        .records()
        .next()
        .and_then(Result::ok)
        .map(|r| r.iter().map(str::to_string).collect())
        .unwrap_or_default();
    let mut table = PointsTable {
        header,
        ..PointsTable::default()
    };
    let mut diags = Diagnostics::default();
    read_csv(
        DecodedText(std::mem::take(&mut text.bytes)),
        &file,
        &["lon", "lat"],
        &mut diags,
        |row, diags| {
            let lon = row.parse::<f64>("lon", "a longitude in degrees", diags);
            let lat = row.parse::<f64>("lat", "a latitude in degrees", diags);
            let (Some(Some(lon)), Some(Some(lat))) = (lon, lat) else {
                if !diags.is_full() {
                    diags.push(row.diag(
                        "lon",
                        row.text("lon"),
                        "lon and lat must both be numbers",
                        "write degrees, e.g. 120.30,31.57",
                    ));
                }
                return;
            };
            if let Err(e) = crate::crs::check_lon_lat(lon, lat) {
                diags.push(row.diag("lon", row.text("lon"), e, "check that lon and lat are not swapped"));
                return;
            }
            table.points.push((lon, lat));
            table.rows.push(row.record.iter().map(str::to_string).collect());
        },
    );
    if diags.is_empty() {
        Ok(table)
    } else {
        let mut located = Diagnostics::default();
        for d in diags.items() {
            let mut d: Diagnostic = d.clone();
            text.locate(&mut d);
            located.push(d);
        }
        located.omitted = diags.omitted;
        Err(LoadError::Invalid(located))
    }
}
