//! `roads.csv`: `from_lon, from_lat, to_lon, to_lat` (in the scenario's coordinate system),
//! optional `length_m` (default: the great-circle length of the edge) and `oneway` (default
//! false). Edge ends with the same coordinates (to 1e-7 degrees) are one node.

use std::collections::HashMap;
use std::io::Read;

use crate::crs::Crs;
use crate::error::Diagnostics;
use crate::model::Location;

use super::SpatialError;
use super::network::{Segment, mm};
use super::osm::RawRoads;

/// Reads roads from CSV text through the one CSV reader (any accepted encoding, editor line
/// numbers); every bad row is reported with line, column and fix.
pub(crate) fn read_csv<R: Read>(reader: R, file: &str, crs: Crs) -> Result<RawRoads, SpatialError> {
    const NEED: [&str; 4] = ["from_lon", "from_lat", "to_lon", "to_lat"];
    let mut diags = Diagnostics::default();
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
    crate::io::csv::read_csv(reader, file, &NEED, &mut diags, |row, diags| {
        let mut vals = [0f64; 4];
        let mut ok = true;
        for (k, name) in NEED.iter().enumerate() {
            let limit = if k % 2 == 0 { 180.0 } else { 90.0 };
            match row.parse::<f64>(name, "a coordinate in degrees", diags) {
                Some(Some(v)) if v.is_finite() && v.abs() <= limit => vals[k] = v,
                Some(_) => {
                    ok = false;
                    diags.push(row.diag(
                        name,
                        row.text(name),
                        format!("{name} is not a coordinate in degrees"),
                        "write a number such as 120.3012",
                    ));
                }
                None => ok = false,
            }
        }
        let length = match row.non_negative("length_m", diags) {
            None => return,
            Some(Some(v)) if v >= 1e6 => {
                diags.push(row.diag(
                    "length_m",
                    row.text("length_m"),
                    "length_m is longer than 1,000 km",
                    "write the edge's length in metres, or leave it empty",
                ));
                return;
            }
            Some(v) => v,
        };
        let Some(oneway) = row.boolean("oneway", diags) else {
            return;
        };
        if !ok {
            return;
        }
        let a = node(vals[0], vals[1], &mut nodes);
        let b = node(vals[2], vals[3], &mut nodes);
        let len_mm = match length {
            Some(v) => mm(v),
            None => mm(crate::crs::arc_metres(nodes[a as usize].ecef, nodes[b as usize].ecef)),
        };
        if a != b {
            segments.push(Segment {
                a,
                b,
                len_mm,
                forward: true,
                backward: !oneway,
            });
        }
    });
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
