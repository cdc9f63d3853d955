//! GeoPackage output (OGC 12-128r18, version 1.4): the GIS layers a planner opens in QGIS or
//! ArcGIS as they are. A GeoPackage is an SQLite file (bundled SQLite through `rusqlite`); each
//! layer is a feature table with a `geom` column in GeoPackage binary (a small header with the
//! envelope, then little-endian WKB), registered in `gpkg_contents` and
//! `gpkg_geometry_columns` with its CRS, EPSG:4326 (WGS84 longitude/latitude), from
//! `gpkg_spatial_ref_sys`.
//!
//! Layers are given as GeoJSON feature collections (the same documents the `.geojson` files
//! hold), so both formats always agree: each property becomes a column, its type taken from the
//! first feature where it is not null (text, integer, real, boolean; arrays and objects are
//! stored as JSON text). Point, Polygon and MultiPolygon geometries are supported. Inside the
//! crate a layer's features may also come one by one with a `geo` multipolygon in place of the
//! GeoJSON geometry (zoning's `zones.gpkg`: the same numbers as its `zones.geojson`, without
//! building that file's JSON tree).
//!
//! The bytes are reproducible: the database is built in memory in a fixed order and serialised,
//! and `last_change` is the caller's fixed time stamp.

use rusqlite::{Connection, params_from_iter, types::Value as Sql};
use serde_json::Value;

/// The `last_change` stamp the project's own files carry, so the same run gives the same bytes.
pub const FIXED_TIME: &str = "2000-01-01T00:00:00.000Z";

/// The CRS of every layer.
pub const SRS_ID: i32 = 4326;

const WGS84_WKT: &str = "GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563,\
AUTHORITY[\"EPSG\",\"7030\"]],AUTHORITY[\"EPSG\",\"6326\"]],PRIMEM[\"Greenwich\",0,AUTHORITY[\"EPSG\",\"8901\"]],\
UNIT[\"degree\",0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]],AXIS[\"Latitude\",NORTH],AXIS[\"Longitude\",EAST],\
AUTHORITY[\"EPSG\",\"4326\"]]";

/// Why a GeoPackage could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GpkgError {
    /// SQLite refused a statement (a bug: the schema is fixed).
    #[error("GeoPackage layer {layer}: SQLite error: {source}")]
    Sqlite {
        /// The layer being written.
        layer: String,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// A feature's geometry is not one this writer supports.
    #[error(
        "GeoPackage layer {layer}, feature {feature}: unsupported geometry {kind} (fix: Point, Polygon or MultiPolygon)"
    )]
    Geometry {
        /// The layer.
        layer: String,
        /// Feature number (0-based).
        feature: usize,
        /// The geometry type found.
        kind: String,
    },
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Integer,
    Real,
    Boolean,
}

impl Kind {
    fn sql(self) -> &'static str {
        match self {
            Kind::Text => "TEXT",
            Kind::Integer => "INTEGER",
            Kind::Real => "REAL",
            Kind::Boolean => "BOOLEAN",
        }
    }
    fn of(v: &Value) -> Option<Kind> {
        match v {
            Value::Null => None,
            Value::Bool(_) => Some(Kind::Boolean),
            Value::Number(n) if n.is_i64() || n.is_u64() => Some(Kind::Integer),
            Value::Number(_) => Some(Kind::Real),
            _ => Some(Kind::Text),
        }
    }
}

fn to_sql(v: &Value, kind: Kind) -> Sql {
    match (v, kind) {
        (Value::Null, _) => Sql::Null,
        (Value::Bool(b), _) => Sql::Integer(*b as i64),
        (Value::Number(n), Kind::Integer) => n
            .as_i64()
            .map(Sql::Integer)
            .unwrap_or_else(|| Sql::Real(n.as_f64().unwrap_or(0.0))),
        (Value::Number(n), _) => Sql::Real(n.as_f64().unwrap_or(0.0)),
        (Value::String(s), _) => Sql::Text(s.clone()),
        (other, _) => Sql::Text(other.to_string()),
    }
}

fn coord(v: &Value) -> (f64, f64) {
    (v[0].as_f64().unwrap_or(0.0), v[1].as_f64().unwrap_or(0.0))
}

/// WKB of a polygon's rings, appended to `out`, and the envelope grown.
fn wkb_polygon(rings: &Value, out: &mut Vec<u8>, env: &mut [f64; 4]) {
    let rings = rings.as_array().map(Vec::as_slice).unwrap_or_default();
    out.push(1);
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(rings.len() as u32).to_le_bytes());
    for ring in rings {
        let pts = ring.as_array().map(Vec::as_slice).unwrap_or_default();
        out.extend_from_slice(&(pts.len() as u32).to_le_bytes());
        for p in pts {
            let (x, y) = coord(p);
            wkb_point(x, y, out, env);
        }
    }
}

/// A feature of a layer given by the caller: its GeoJSON properties and its geometry.
pub(crate) struct Feature<'a> {
    /// The properties object (none: every column null).
    pub properties: Option<&'a serde_json::Map<String, Value>>,
    /// The geometry.
    pub geometry: Geometry<'a>,
}

/// A feature's geometry: a GeoJSON geometry object, or a multipolygon written as its GeoJSON
/// would be, each coordinate passed through `round` first (the same numbers as the `.geojson`
/// file, without building its JSON tree).
pub(crate) enum Geometry<'a> {
    /// A GeoJSON geometry object.
    GeoJson(&'a Value),
    /// A multipolygon and the rounding its GeoJSON coordinates get.
    MultiPolygon(&'a geo::MultiPolygon<f64>, fn(f64) -> f64),
}

/// A coordinate as the GeoJSON path reads it back: a non-finite number is JSON null, read as 0.
fn finite_or_zero(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

/// One WKB point (x, y little-endian), widening the envelope [minx, maxx, miny, maxy].
fn wkb_point(x: f64, y: f64, out: &mut Vec<u8>, env: &mut [f64; 4]) {
    env[0] = env[0].min(x);
    env[1] = env[1].max(x);
    env[2] = env[2].min(y);
    env[3] = env[3].max(y);
    out.extend_from_slice(&x.to_le_bytes());
    out.extend_from_slice(&y.to_le_bytes());
}

/// WKB of a geo polygon's rings (exterior, then interiors), as [`wkb_polygon`] writes the
/// same polygon's GeoJSON.
fn wkb_geo_polygon(p: &geo::Polygon<f64>, round: fn(f64) -> f64, out: &mut Vec<u8>, env: &mut [f64; 4]) {
    out.push(1);
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(1 + p.interiors().len() as u32).to_le_bytes());
    for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
        out.extend_from_slice(&(ring.0.len() as u32).to_le_bytes());
        for c in &ring.0 {
            wkb_point(finite_or_zero(round(c.x)), finite_or_zero(round(c.y)), out, env);
        }
    }
}

/// GeoPackage binary of a feature's geometry: (bytes, envelope [minx, maxx, miny, maxy],
/// type name), or the GeoJSON type name that is not supported.
fn feature_geometry(g: &Geometry) -> Result<(Vec<u8>, [f64; 4], &'static str), String> {
    match g {
        Geometry::GeoJson(v) => gpkg_geometry(v).ok_or_else(|| v["type"].as_str().unwrap_or("null").to_string()),
        Geometry::MultiPolygon(mp, round) => {
            let mut env = [f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY];
            let mut wkb = Vec::new();
            wkb.push(1);
            wkb.extend_from_slice(&6u32.to_le_bytes());
            wkb.extend_from_slice(&(mp.0.len() as u32).to_le_bytes());
            for p in &mp.0 {
                wkb_geo_polygon(p, *round, &mut wkb, &mut env);
            }
            Ok((with_header(env, &wkb), env, "MULTIPOLYGON"))
        }
    }
}

/// The GeoPackage binary header (magic, version 0, flags: little endian with an xy envelope,
/// srs id, envelope) followed by the WKB.
fn with_header(env: [f64; 4], wkb: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 32 + wkb.len());
    out.extend_from_slice(b"GP");
    out.push(0);
    out.push(0b0000_0011);
    out.extend_from_slice(&SRS_ID.to_le_bytes());
    for v in env {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(wkb);
    out
}

/// GeoPackage binary of a GeoJSON geometry: (bytes, envelope [minx, maxx, miny, maxy], type name).
fn gpkg_geometry(g: &Value) -> Option<(Vec<u8>, [f64; 4], &'static str)> {
    let mut env = [f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY];
    let mut wkb = Vec::new();
    let kind = match g["type"].as_str()? {
        "Point" => {
            let (x, y) = coord(&g["coordinates"]);
            env = [x, x, y, y];
            wkb.push(1);
            wkb.extend_from_slice(&1u32.to_le_bytes());
            wkb.extend_from_slice(&x.to_le_bytes());
            wkb.extend_from_slice(&y.to_le_bytes());
            "POINT"
        }
        "Polygon" => {
            wkb_polygon(&g["coordinates"], &mut wkb, &mut env);
            "POLYGON"
        }
        "MultiPolygon" => {
            let polys = g["coordinates"].as_array()?;
            wkb.push(1);
            wkb.extend_from_slice(&6u32.to_le_bytes());
            wkb.extend_from_slice(&(polys.len() as u32).to_le_bytes());
            for p in polys {
                wkb_polygon(p, &mut wkb, &mut env);
            }
            "MULTIPOLYGON"
        }
        _ => return None,
    };
    Some((with_header(env, &wkb), env, kind))
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A GeoPackage holding one layer per `(table name, GeoJSON FeatureCollection)`, in order.
/// `last_change` is the ISO 8601 time stamp written to `gpkg_contents`
/// (`YYYY-MM-DDTHH:MM:SS.SSSZ`).
pub fn geopackage(layers: &[(&str, &Value)], last_change: &str) -> Result<Vec<u8>, GpkgError> {
    let layers: Vec<(&str, Vec<Feature>)> = layers
        .iter()
        .map(|&(name, doc)| {
            let features = doc["features"].as_array().map(Vec::as_slice).unwrap_or_default();
            let features = features
                .iter()
                .map(|f| Feature {
                    properties: f["properties"].as_object(),
                    geometry: Geometry::GeoJson(&f["geometry"]),
                })
                .collect();
            (name, features)
        })
        .collect();
    geopackage_features(&layers, last_change)
}

/// [`geopackage`] with each layer's features given one by one (geometries need not be
/// GeoJSON trees).
pub(crate) fn geopackage_features(layers: &[(&str, Vec<Feature>)], last_change: &str) -> Result<Vec<u8>, GpkgError> {
    let err = |layer: &str| {
        let layer = layer.to_string();
        move |source| GpkgError::Sqlite {
            layer: layer.clone(),
            source,
        }
    };
    let db = Connection::open_in_memory().map_err(err(""))?;
    db.execute_batch(
        "PRAGMA application_id = 1196444487; PRAGMA user_version = 10400;
         CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,
           organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL,
           definition TEXT NOT NULL, description TEXT);
         CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
           identifier TEXT UNIQUE, description TEXT DEFAULT '',
           last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
           min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
           CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
         CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
           geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL,
           m TINYINT NOT NULL, CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
           CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
           CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));",
    )
    .map_err(err(""))?;
    db.execute(
        "INSERT INTO gpkg_spatial_ref_sys VALUES
         ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
         ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system'),
         ('WGS 84 geodetic', 4326, 'EPSG', 4326, ?1, 'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid')",
        [WGS84_WKT],
    )
    .map_err(err(""))?;
    for (name, features) in layers {
        let name: &str = name;
        // Columns in first-seen order, typed by their first non-null value.
        let mut columns: Vec<(String, Option<Kind>)> = Vec::new();
        for f in features {
            if let Some(props) = f.properties {
                for (k, v) in props {
                    match columns.iter_mut().find(|(c, _)| c == k) {
                        Some((_, kind @ None)) => *kind = Kind::of(v),
                        Some(_) => {}
                        None => columns.push((k.clone(), Kind::of(v))),
                    }
                }
            }
        }
        let mut geoms = Vec::with_capacity(features.len());
        let mut env = [f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY];
        let mut type_name = "GEOMETRY";
        let mut first = true;
        for (i, f) in features.iter().enumerate() {
            let (bytes, e, kind) = feature_geometry(&f.geometry).map_err(|kind| GpkgError::Geometry {
                layer: name.to_string(),
                feature: i,
                kind,
            })?;
            type_name = if first || type_name == kind { kind } else { "GEOMETRY" };
            first = false;
            env = [env[0].min(e[0]), env[1].max(e[1]), env[2].min(e[2]), env[3].max(e[3])];
            geoms.push(bytes);
        }
        let cols_sql: String = columns
            .iter()
            .map(|(c, k)| format!(", {} {}", quote(c), k.unwrap_or(Kind::Text).sql()))
            .collect();
        db.execute_batch(&format!(
            "CREATE TABLE {} (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom {type_name}{cols_sql});",
            quote(name)
        ))
        .map_err(err(name))?;
        let (min_x, max_x, min_y, max_y) = if features.is_empty() {
            (None, None, None, None)
        } else {
            (Some(env[0]), Some(env[1]), Some(env[2]), Some(env[3]))
        };
        db.execute(
            "INSERT INTO gpkg_contents VALUES (?1, 'features', ?1, '', ?2, ?3, ?4, ?5, ?6, 4326)",
            rusqlite::params![name, last_change, min_x, min_y, max_x, max_y],
        )
        .map_err(err(name))?;
        db.execute(
            "INSERT INTO gpkg_geometry_columns VALUES (?1, 'geom', ?2, 4326, 0, 0)",
            rusqlite::params![name, type_name],
        )
        .map_err(err(name))?;
        let placeholders: String = (0..columns.len()).map(|i| format!(", ?{}", i + 2)).collect();
        let names: String = columns.iter().map(|(c, _)| format!(", {}", quote(c))).collect();
        let tx = db.unchecked_transaction().map_err(err(name))?;
        {
            let mut stmt = tx
                .prepare(&format!(
                    "INSERT INTO {} (geom{names}) VALUES (?1{placeholders})",
                    quote(name)
                ))
                .map_err(err(name))?;
            for (f, g) in features.iter().zip(geoms) {
                let mut values = vec![Sql::Blob(g)];
                for (c, k) in &columns {
                    let v = f.properties.and_then(|p| p.get(c.as_str())).unwrap_or(&Value::Null);
                    values.push(to_sql(v, k.unwrap_or(Kind::Text)));
                }
                stmt.execute(params_from_iter(values)).map_err(err(name))?;
            }
        }
        tx.commit().map_err(err(name))?;
    }
    let data = db.serialize(rusqlite::MAIN_DB).map_err(err(""))?;
    Ok(data.to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn one_point_layer_is_an_sqlite_file_and_reproducible() {
        let doc = serde_json::json!({"type": "FeatureCollection", "features": [{
            "type": "Feature", "properties": {"school_id": "P1", "capacity": 45},
            "geometry": {"type": "Point", "coordinates": [120.3, 31.5]}}]});
        let bytes = super::geopackage(&[("schools", &doc)], "2026-01-01T00:00:00.000Z").unwrap();
        assert_eq!(&bytes[..16], b"SQLite format 3\0");
        let again = super::geopackage(&[("schools", &doc)], "2026-01-01T00:00:00.000Z").unwrap();
        assert_eq!(bytes, again);
    }
}
