//! `roads.csv`: `from_lon, from_lat, to_lon, to_lat` (in the scenario's coordinate system),
//! optional `length_m` (default: the great-circle length of the edge) and `oneway` (default
//! false). Edge ends with the same coordinates (to 1e-7 degrees) are one node.

use std::collections::HashMap;
use std::io::Read;

use crate::crs::Crs;
use crate::error::{Diagnostic, Diagnostics};
use crate::model::Location;

use super::SpatialError;
use super::network::{Segment, mm};
use super::osm::RawRoads;

/// Reads roads from CSV text; every bad row is reported with line, column and fix.
pub(crate) fn read_csv<R: Read>(reader: R, file: &str, crs: Crs) -> Result<RawRoads, SpatialError> {
    let mut diags = Diagnostics::default();
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let headers = match rdr.headers() {
        Ok(h) => h
            .iter()
            .map(|x| x.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect::<Vec<_>>(),
        Err(e) => {
            diags.push(Diagnostic::file(
                file,
                e.to_string(),
                "save the file as UTF-8 CSV with a header row",
            ));
            return Err(SpatialError::Invalid(diags));
        }
    };
    let col = |name: &str| headers.iter().position(|h| h == name);
    let need = ["from_lon", "from_lat", "to_lon", "to_lat"];
    let mut idx = [0usize; 4];
    for (i, n) in need.iter().enumerate() {
        match col(n) {
            Some(c) => idx[i] = c,
            None => diags.push(
                Diagnostic::file(file, format!("the column {n} is missing"), format!("add a {n} column"))
                    .at_field(None, *n),
            ),
        }
    }
    if !diags.is_empty() {
        return Err(SpatialError::Invalid(diags));
    }
    let len_col = col("length_m");
    let oneway_col = col("oneway");
    let mut key_to_node: HashMap<(i64, i64), u32> = HashMap::new();
    let mut nodes: Vec<Location> = Vec::new();
    let mut segments: Vec<Segment> = Vec::new();
    let mut node = |lon: f64, lat: f64, nodes: &mut Vec<Location>| -> u32 {
        let key = ((lon * 1e7).round() as i64, (lat * 1e7).round() as i64);
        *key_to_node.entry(key).or_insert_with(|| {
            let (wlon, wlat) = crs.to_wgs84(lon, lat);
            nodes.push(Location::from_wgs84(wlon, wlat));
            (nodes.len() - 1) as u32
        })
    };
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                diags.push(Diagnostic::file(file, e.to_string(), "save the file as UTF-8 CSV").at_line(line));
                continue;
            }
        };
        let mut vals = [0f64; 4];
        let mut ok = true;
        for (k, &c) in idx.iter().enumerate() {
            let text = rec.get(c).unwrap_or("").trim();
            let limit = if k % 2 == 0 { 180.0 } else { 90.0 };
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() && v.abs() <= limit => vals[k] = v,
                _ => {
                    ok = false;
                    diags.push(
                        Diagnostic::file(
                            file,
                            format!("{} is not a coordinate in degrees", need[k]),
                            "write a number such as 120.3012",
                        )
                        .at_line(line)
                        .at_field(Some(c + 1), need[k])
                        .with_value(text),
                    );
                }
            }
        }
        if !ok {
            continue;
        }
        let a = node(vals[0], vals[1], &mut nodes);
        let b = node(vals[2], vals[3], &mut nodes);
        let length = match len_col.map(|c| rec.get(c).unwrap_or("").trim()) {
            Some(t) if !t.is_empty() => match t.parse::<f64>() {
                Ok(v) if (0.0..1e6).contains(&v) => mm(v),
                _ => {
                    diags.push(
                        Diagnostic::file(
                            file,
                            "length_m is not a length in metres",
                            "write a number ≥ 0 or leave it empty",
                        )
                        .at_line(line)
                        .at_field(len_col.map(|c| c + 1), "length_m")
                        .with_value(t),
                    );
                    continue;
                }
            },
            _ => mm(crate::crs::arc_metres(nodes[a as usize].ecef, nodes[b as usize].ecef)),
        };
        let oneway = oneway_col
            .map(|c| rec.get(c).unwrap_or("").trim().to_ascii_lowercase())
            .is_some_and(|t| matches!(t.as_str(), "true" | "1" | "yes" | "y" | "t" | "是"));
        if a != b {
            segments.push(Segment {
                a,
                b,
                len_mm: length,
                forward: true,
                backward: !oneway,
            });
        }
    }
    if !diags.is_empty() {
        return Err(SpatialError::Invalid(diags));
    }
    let ways_kept = segments.len();
    Ok(RawRoads {
        nodes,
        segments,
        ways_kept,
        missing_node_refs: 0,
    })
}
