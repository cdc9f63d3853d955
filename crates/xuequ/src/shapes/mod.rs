//! Polygon inputs: blocks (小区 outlines), current zones (a 学区 map) and district outlines
//! given as GeoJSON or as an ESRI shapefile (`.shp` + `.dbf`, optional `.prj`, `.cpg`,
//! `.shx`).
//!
//! | input | what it gives | reader |
//! |---|---|---|
//! | `[inputs] blocks = "blocks.geojson"` / `"blocks.shp"` | the blocks.csv columns as properties; each block's point is its polygon's [`interior_point`], the polygon is kept in [`crate::City::block_polygons`] | [`read_blocks`] |
//! | `[inputs] zones = "zones.geojson"` / `"zones.shp"` | `school_id` and `stage` properties; a block belongs to the zones whose polygon holds its point | [`read_zones`] |
//! | `[inputs] districts = "districts.geojson"` / `.shp` | a `name` property; used by the plausibility checks and maps | [`read_districts`] |
//!
//! Positions in diagnostics: the *line* of a diagnostic is the 1-based feature number (GeoJSON)
//! or record number (shapefile), the *column* the property's position among the feature's
//! properties. Coordinates are degrees in the scenario's `crs` (WGS84 / CGCS2000, GCJ-02 or
//! BD-09); a projected coordinate system is refused, never guessed (see [`check_prj`]).

mod geojson;
mod interior;
mod shp;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;

use geo::{Contains, MultiPolygon, Validation};

use crate::crs::Crs;
use crate::error::{Diagnostic, Diagnostics};
use crate::model::{City, Stage, StageZones};

pub use interior::interior_point;
pub use shp::check_prj;

/// One polygon feature: its number in the file, its properties as text, its geometry in the
/// file's own coordinates.
#[derive(Debug, Clone)]
pub struct Feature {
    /// 1-based feature (GeoJSON) or record (shapefile) number.
    pub number: u64,
    /// Property names and values as text, in file order (numbers written the shortest way
    /// that reads back exactly; null as empty).
    pub properties: Vec<(String, String)>,
    /// The outline: one or more polygons with holes.
    pub geometry: MultiPolygon<f64>,
}

impl Feature {
    /// The value of a property, matched case-insensitively after trimming; empty if absent.
    pub fn property(&self, names: &[&str]) -> &str {
        for want in names {
            if let Some((_, v)) = self
                .properties
                .iter()
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(want))
            {
                return v.trim();
            }
        }
        ""
    }
}

/// True when `path` names a polygon file this module reads (`.geojson`, `.json`, `.shp`).
pub fn is_polygon_file(path: &Path) -> bool {
    matches!(
        path.extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .as_deref(),
        Some("geojson" | "json" | "shp")
    )
}

/// The files a polygon input is read from: the file itself and, for a shapefile, the
/// companions beside it that exist (index, attributes, projection, code page).
pub fn files_read(path: &Path) -> Vec<std::path::PathBuf> {
    let mut files = vec![path.to_path_buf()];
    let is_shapefile = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("shp"));
    if is_shapefile {
        files.extend(
            ["shx", "dbf", "prj", "cpg"]
                .into_iter()
                .filter_map(|ext| shp::sibling(path, ext)),
        );
    }
    files
}

/// Reads every feature of a GeoJSON FeatureCollection or a shapefile. Each polygon is
/// checked for validity (closed rings, no self-intersection); every problem is reported with
/// the file and the feature or record number.
pub fn read_features(path: &Path) -> Result<Vec<Feature>, Diagnostics> {
    let file = path.display().to_string();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let features = if ext == "shp" {
        shp::read(path, &file)?
    } else {
        let bytes = std::fs::read(path)
            .map_err(|e| one(Diagnostic::file(&file, format!("cannot read: {e}"), "check the path")))?;
        geojson::parse(&bytes, &file)?
    };
    let mut diags = Diagnostics::default();
    for f in &features {
        if let Err(e) = f.geometry.check_validation() {
            let what = e.to_string();
            diags.push(
                Diagnostic::file(
                    &file,
                    format!("feature {} has an invalid polygon: {what}", f.number),
                    "repair the outline in your GIS (QGIS: Vector ▸ Geometry Tools ▸ Fix Geometries; PostGIS: ST_MakeValid) and export again",
                )
                .at_line(f.number)
                .with_value(describe(f)),
            );
        }
        let (min, max) = bounds(&f.geometry);
        if !(-180.0..=180.0).contains(&min.0)
            || !(-180.0..=180.0).contains(&max.0)
            || !(-90.0..=90.0).contains(&min.1)
            || !(-90.0..=90.0).contains(&max.1)
        {
            diags.push(
                Diagnostic::file(
                    &file,
                    format!(
                        "feature {} has coordinates that are not degrees (x {:.1}..{:.1}, y {:.1}..{:.1}): a projected coordinate system?",
                        f.number, min.0, max.0, min.1, max.1
                    ),
                    "export the layer in geographic degrees (EPSG:4326 WGS84 or EPSG:4490 CGCS2000); xuequ does not guess projections",
                )
                .at_line(f.number)
                .with_value(describe(f)),
            );
        }
        if diags.is_full() {
            break;
        }
    }
    if diags.is_empty() { Ok(features) } else { Err(diags) }
}

fn one(d: Diagnostic) -> Diagnostics {
    let mut diags = Diagnostics::default();
    diags.push(d);
    diags
}

/// A short label of a feature for diagnostics: its first id-like property.
fn describe(f: &Feature) -> String {
    for key in ["block_id", "school_id", "name", "id"] {
        let v = f.property(&[key]);
        if !v.is_empty() {
            return format!("{key}={v}");
        }
    }
    format!("feature {}", f.number)
}

fn bounds(g: &MultiPolygon<f64>) -> ((f64, f64), (f64, f64)) {
    let mut min = (f64::INFINITY, f64::INFINITY);
    let mut max = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    for p in &g.0 {
        for c in p
            .exterior()
            .0
            .iter()
            .chain(p.interiors().iter().flat_map(|r| r.0.iter()))
        {
            min = (min.0.min(c.x), min.1.min(c.y));
            max = (max.0.max(c.x), max.1.max(c.y));
        }
    }
    (min, max)
}

/// The geometry converted from the scenario's coordinate system to WGS84 degrees.
pub fn to_wgs84(g: &MultiPolygon<f64>, crs: Crs) -> MultiPolygon<f64> {
    use geo::MapCoords;
    if crs == Crs::Wgs84 {
        return g.clone();
    }
    g.map_coords(|c| {
        let (x, y) = crs.to_wgs84(c.x, c.y);
        geo::Coord { x, y }
    })
}

/// Shortest text that reads back as exactly `x`.
fn number_text(x: f64) -> String {
    format!("{x}")
}

/// Reads blocks given as polygons into `city`: every feature's properties are read as a
/// `blocks.csv` row (same columns, same checks); `lon`/`lat` are set to the polygon's
/// [`interior_point`] (a `lon`/`lat` property, if any, is ignored), and the polygon is kept
/// in [`City::block_polygons`].
pub fn read_blocks(path: &Path, crs: Crs, city: &mut City, diags: &mut Diagnostics) {
    let file = path.display().to_string();
    let features = match read_features(path) {
        Ok(f) => f,
        Err(d) => {
            merge(diags, d);
            return;
        }
    };
    // The properties become one CSV table (one row per feature) read by the CSV reader, so
    // a polygon file is checked exactly like blocks.csv.
    let mut header: Vec<String> = Vec::new();
    for f in &features {
        for (k, _) in &f.properties {
            let k = full_column(k);
            if k != "lon" && k != "lat" && !header.contains(&k) {
                header.push(k);
            }
        }
    }
    let mut points = Vec::with_capacity(features.len());
    for f in &features {
        match interior_point(&f.geometry) {
            Some(p) => points.push(p),
            None => {
                diags.push(
                    Diagnostic::file(
                        &file,
                        format!("feature {} has an empty polygon (no area)", f.number),
                        "give every block an outline with an area, or list it in blocks.csv as a point",
                    )
                    .at_line(f.number)
                    .with_value(describe(f)),
                );
                return;
            }
        }
    }
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let mut cols = header.clone();
    cols.push("lon".into());
    cols.push("lat".into());
    let mut ok = w.write_record(&cols).is_ok();
    for (f, p) in features.iter().zip(&points) {
        let mut row: Vec<String> = header
            .iter()
            .map(|h| {
                f.properties
                    .iter()
                    .find(|(k, _)| full_column(k) == *h)
                    .map(|(_, v)| v.replace(['\r', '\n'], " "))
                    .unwrap_or_default()
            })
            .collect();
        row.push(number_text(p.0));
        row.push(number_text(p.1));
        ok &= w.write_record(&row).is_ok();
    }
    let Ok(bytes) = w.into_inner() else {
        return;
    };
    if !ok {
        return;
    }
    let mut local = Diagnostics::default();
    let first = city.blocks.len();
    crate::load::read_blocks(bytes.as_slice(), &file, crs, city, &mut local);
    // Line k + 1 of the table is feature k; columns are property positions.
    for mut d in local.items().iter().cloned() {
        if let Some(line) = d.line {
            d.line = Some(line.saturating_sub(1).max(1));
        }
        if d.field.as_deref() == Some("lon") || d.field.as_deref() == Some("lat") {
            d.column = None;
            d.field = Some("geometry".into());
        } else if let Some(field) = &d.field {
            d.column = d
                .line
                .and_then(|l| features.get(l as usize - 1))
                .and_then(|f| f.properties.iter().position(|(k, _)| full_column(k) == *field))
                .map(|c| c + 1);
        }
        diags.push(d);
    }
    diags.omitted += local.omitted;
    if !local.is_empty() {
        return;
    }
    for (i, f) in features.iter().enumerate() {
        city.block_polygons
            .insert((first + i) as u32, to_wgs84(&f.geometry, crs));
    }
}

/// The blocks.csv columns, for names a `.dbf` cut to 10 characters (`move_in_ye`).
const BLOCK_COLUMNS: &[&str] = &[
    "block_id",
    "name",
    "district",
    "households",
    "status",
    "move_in_year",
    "planned_households",
];

/// A property name as a blocks.csv column: trimmed, lower-case, and completed when a `.dbf`
/// cut it to its 10-character limit.
fn full_column(k: &str) -> String {
    let k = k.trim().to_ascii_lowercase();
    if k.len() == 10
        && let Some(full) = BLOCK_COLUMNS.iter().find(|c| c.len() > 10 && c.starts_with(&k))
    {
        return (*full).to_string();
    }
    k
}

fn merge(into: &mut Diagnostics, from: Diagnostics) {
    for d in from.items() {
        into.push(d.clone());
    }
    into.omitted += from.omitted;
}

/// A block whose point lies in no zone polygon of a stage, or in more than one.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneMembership {
    /// The stage.
    pub stage: Stage,
    /// Block index.
    pub block: u32,
    /// The zone features (feature numbers) whose polygon holds the block's point.
    pub features: Vec<u64>,
    /// Their schools (indices), in feature order.
    pub schools: Vec<u32>,
}

/// Reads current zones given as polygons (a 学区 map): each feature has `school_id` and
/// `stage` properties (`学校代码`, `学段` also accepted); a block belongs to the zone of every
/// polygon of that stage that holds its point (boundary included). Returns the blocks in no
/// polygon of a stage that has polygons, and the blocks in two or more (they are zoned to
/// all of them, like a multi-school zone in zones.csv).
pub fn read_zones(path: &Path, crs: Crs, city: &mut City, diags: &mut Diagnostics) -> Vec<ZoneMembership> {
    let file = path.display().to_string();
    let features = match read_features(path) {
        Ok(f) => f,
        Err(d) => {
            merge(diags, d);
            return Vec::new();
        }
    };
    let mut polygons: [Vec<(u64, u32, MultiPolygon<f64>)>; 3] = Default::default();
    for f in &features {
        let stage_text = f.property(&["stage", "学段"]);
        let school_text = f.property(&["school_id", "学校代码"]);
        let d = |msg: String, hint: &str, field: &str, value: &str| {
            let col = f
                .properties
                .iter()
                .position(|(k, _)| k.trim().eq_ignore_ascii_case(field))
                .map(|c| c + 1);
            Diagnostic::file(&file, msg, hint)
                .at_line(f.number)
                .at_field(col, field)
                .with_value(value)
        };
        let stage = match stage_text.parse::<Stage>() {
            Ok(s) => Some(s),
            Err(hint) => {
                diags.push(d(
                    format!("feature {}: unknown stage", f.number),
                    &hint,
                    "stage",
                    stage_text,
                ));
                None
            }
        };
        let school = match city.school(school_text) {
            Some(s) => Some(s),
            None => {
                diags.push(d(
                    format!("feature {}: no school has this id", f.number),
                    "give every zone polygon a school_id property from schools.csv",
                    "school_id",
                    school_text,
                ));
                None
            }
        };
        if let (Some(stage), Some(school)) = (stage, school) {
            let s = &city.schools[school as usize];
            if s.stage != stage {
                diags.push(d(
                    format!(
                        "feature {}: this school admits {} pupils, not {stage}",
                        f.number, s.stage
                    ),
                    "pair each polygon with a school of its stage",
                    "school_id",
                    school_text,
                ));
                continue;
            }
            polygons[stage.index()].push((f.number, school, to_wgs84(&f.geometry, crs)));
        }
    }
    if !diags.is_empty() {
        return Vec::new();
    }
    let mut listed = Vec::new();
    for stage in Stage::ALL {
        let polys = &polygons[stage.index()];
        if polys.is_empty() {
            continue;
        }
        let boxes: Vec<((f64, f64), (f64, f64))> = polys.iter().map(|(_, _, g)| bounds(g)).collect();
        let mut pairs = Vec::new();
        for (b, block) in city.blocks.iter().enumerate() {
            let (x, y) = (block.location.lon, block.location.lat);
            let p = geo::Point::new(x, y);
            let hits: Vec<&(u64, u32, MultiPolygon<f64>)> = polys
                .iter()
                .zip(&boxes)
                .filter(|(_, (lo, hi))| lo.0 <= x && x <= hi.0 && lo.1 <= y && y <= hi.1)
                .map(|(z, _)| z)
                .filter(|(_, _, g)| g.contains(&p) || touches(g, &p))
                .collect();
            for h in &hits {
                pairs.push((b as u32, h.1));
            }
            if hits.len() != 1 {
                listed.push(ZoneMembership {
                    stage,
                    block: b as u32,
                    features: hits.iter().map(|h| h.0).collect(),
                    schools: hits.iter().map(|h| h.1).collect(),
                });
            }
        }
        city.zones[stage.index()] = StageZones::from_pairs(city.blocks.len(), &pairs);
    }
    listed
}

/// True when the point lies on the polygon's boundary.
fn touches(g: &MultiPolygon<f64>, p: &geo::Point<f64>) -> bool {
    use geo::Intersects;
    g.intersects(p)
}

/// Reads district outlines (a `name` property; `district`, `区县`, `NAME` also accepted) into
/// [`City::district_outlines`], converted to WGS84.
pub fn read_districts(path: &Path, crs: Crs, city: &mut City, diags: &mut Diagnostics) {
    let file = path.display().to_string();
    let features = match read_features(path) {
        Ok(f) => f,
        Err(d) => {
            merge(diags, d);
            return;
        }
    };
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for f in &features {
        let name = f.property(&["name", "district", "区县", "名称"]);
        if name.is_empty() {
            diags.push(
                Diagnostic::file(
                    &file,
                    format!("feature {} has no district name", f.number),
                    "give every district outline a name property spelled as in schools.csv and blocks.csv",
                )
                .at_line(f.number),
            );
            continue;
        }
        match by_name.get(name) {
            Some(&i) => {
                // Parts of one district may come as several features.
                city.district_outlines[i].1.0.extend(to_wgs84(&f.geometry, crs).0);
            }
            None => {
                by_name.insert(name.to_string(), city.district_outlines.len());
                city.district_outlines
                    .push((name.to_string(), to_wgs84(&f.geometry, crs)));
            }
        }
    }
}
