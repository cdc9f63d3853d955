//! GeoJSON FeatureCollections of Polygons and MultiPolygons (RFC 7946), read with
//! `serde_json` so that every problem names the feature.

use geo::{LineString, MultiPolygon, Polygon};
use serde_json::Value;

use super::Feature;
use crate::error::{Diagnostic, Diagnostics};

/// Coordinate reference systems a GeoJSON `crs` member may name (older GeoJSON, as written
/// by QGIS and GDAL): geographic WGS84 or CGCS2000. Without a `crs` member the coordinates
/// are degrees (RFC 7946).
const GEOGRAPHIC: &[&str] = &[
    "urn:ogc:def:crs:ogc:1.3:crs84",
    "urn:ogc:def:crs:epsg::4326",
    "epsg:4326",
    "urn:ogc:def:crs:epsg::4490",
    "epsg:4490",
    "urn:ogc:def:crs:epsg::4610",
];

pub(super) fn parse(bytes: &[u8], file: &str) -> Result<Vec<Feature>, Diagnostics> {
    let mut diags = Diagnostics::default();
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let root: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            diags.push(
                Diagnostic::file(
                    file,
                    format!("not valid JSON: {e}"),
                    "export the layer again as GeoJSON (UTF-8)",
                )
                .at_line(e.line() as u64)
                .at_field(Some(e.column()), "json"),
            );
            return Err(diags);
        }
    };
    if let Some(name) = root.pointer("/crs/properties/name").and_then(Value::as_str) {
        let lower = name.to_ascii_lowercase();
        if !GEOGRAPHIC.contains(&lower.as_str()) {
            diags.push(
                Diagnostic::file(
                    file,
                    format!("the GeoJSON names the coordinate system {name}, which is not geographic WGS84 or CGCS2000 degrees"),
                    "export the layer in EPSG:4326 (WGS84) or EPSG:4490 (CGCS2000); GCJ-02 or BD-09 degrees are read with crs = \"gcj02\" / \"bd09\" in scenario.toml",
                )
                .at_field(None, "crs")
                .with_value(name),
            );
            return Err(diags);
        }
    }
    let Some(features) = root.get("features").and_then(Value::as_array) else {
        diags.push(Diagnostic::file(
            file,
            "not a GeoJSON FeatureCollection (no \"features\" array)",
            "export the layer as a GeoJSON FeatureCollection of Polygons or MultiPolygons",
        ));
        return Err(diags);
    };
    let mut out = Vec::with_capacity(features.len());
    for (i, f) in features.iter().enumerate() {
        let number = i as u64 + 1;
        let properties = match f.get("properties") {
            Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
            None | Some(Value::Null) => Vec::new(),
            Some(_) => {
                diags.push(
                    Diagnostic::file(
                        file,
                        format!("feature {number}: properties is not an object"),
                        "write properties as {\"name\": value, …}",
                    )
                    .at_line(number),
                );
                continue;
            }
        };
        match geometry(f.get("geometry")) {
            Ok(geometry) => out.push(Feature {
                number,
                properties,
                geometry,
            }),
            Err(message) => diags.push(
                Diagnostic::file(
                    file,
                    format!("feature {number}: {message}"),
                    "every feature needs a Polygon or MultiPolygon geometry of [lon, lat] positions with closed rings",
                )
                .at_line(number),
            ),
        }
        if diags.is_full() {
            break;
        }
    }
    if diags.is_empty() { Ok(out) } else { Err(diags) }
}

/// A property value as text: strings as they are, numbers the shortest exact way, null empty.
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn geometry(g: Option<&Value>) -> Result<MultiPolygon<f64>, String> {
    let Some(g) = g.filter(|g| !g.is_null()) else {
        return Err("the geometry is missing".into());
    };
    let kind = g.get("type").and_then(Value::as_str).unwrap_or("");
    let coords = g.get("coordinates").ok_or("the geometry has no coordinates")?;
    match kind {
        "Polygon" => Ok(MultiPolygon(vec![polygon(coords)?])),
        "MultiPolygon" => {
            let parts = coords.as_array().ok_or("MultiPolygon coordinates are not an array")?;
            let polys = parts.iter().map(polygon).collect::<Result<Vec<_>, _>>()?;
            if polys.is_empty() {
                return Err("the MultiPolygon is empty".into());
            }
            Ok(MultiPolygon(polys))
        }
        other => Err(format!("the geometry is a {other:?}, not a Polygon or MultiPolygon")),
    }
}

fn polygon(v: &Value) -> Result<Polygon<f64>, String> {
    let rings = v.as_array().ok_or("polygon coordinates are not an array of rings")?;
    let mut rings = rings.iter().map(ring);
    let exterior = rings.next().ok_or("a polygon has no ring")??;
    let interiors = rings.collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(exterior, interiors))
}

fn ring(v: &Value) -> Result<LineString<f64>, String> {
    let points = v.as_array().ok_or("a ring is not an array of positions")?;
    let mut coords = Vec::with_capacity(points.len());
    for p in points {
        let xy = p
            .as_array()
            .filter(|a| a.len() >= 2)
            .ok_or("a position is not [lon, lat]")?;
        let (Some(x), Some(y)) = (xy[0].as_f64(), xy[1].as_f64()) else {
            return Err("a position is not two numbers".into());
        };
        if !x.is_finite() || !y.is_finite() {
            return Err("a position is not finite".into());
        }
        coords.push(geo::Coord { x, y });
    }
    if coords.len() < 4 {
        return Err(format!(
            "a ring has {} positions; a closed ring needs at least 4",
            coords.len()
        ));
    }
    if coords.first() != coords.last() {
        return Err("a ring is not closed (its last position differs from its first)".into());
    }
    Ok(LineString(coords))
}
