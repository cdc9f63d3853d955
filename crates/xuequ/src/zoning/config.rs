//! `zoning.toml`: the planner's controls in a file (every key optional; the CLI's flags
//! override it). See `docs/zoning.md` for the full list with defaults.
//!
//! ```toml
//! stage = "primary"
//! distance = "straight"          # straight | matrix | roads
//! roads = "roads.csv"            # with distance = "roads"; road_radius_m = 10000
//! barriers = "barriers.geojson"  # LineString / Polygon features, WGS84
//! max_distance_m = 3000
//! within_district = true
//! stability_m = 250              # or max_moved_share = 0.05
//! utilisation = [0.8, 1.0]
//! sweep = [0, 100, 250, 500, 1000]
//! locked = ["B000012", "B000013"]
//! [multi_school]                 # opt-in: group adjacent hot zones (多校划片)
//! min_utilisation = 0.95
//! max_group = 3
//! [demand]
//! source = "students"            # or "households" with primary = 0.0378 ...
//! [schools]
//! close = ["P0007"]
//! capacity = { P0001 = 360 }
//! [[schools.open]]
//! id = "PN01"
//! name = "新城小学"
//! district = "新吴区"
//! lon = 120.42
//! lat = 31.49
//! capacity = 270
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Diagnostic, Diagnostics};
use crate::model::Stage;
use crate::policy::line_col;

use super::demand::{DemandSource, HouseholdRates};
use super::distance::DistanceSource;
use super::multischool::MultiSchoolParams;
use super::problem::SchoolEdits;
use super::{ZoningError, ZoningParams};

/// `[demand]` of `zoning.toml`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemandConfig {
    /// `students` (default) or `households`.
    pub source: Option<String>,
    /// Kindergarten children per household (default 0.034).
    pub kindergarten: Option<f64>,
    /// Primary children per household (default 0.0378).
    pub primary: Option<f64>,
    /// Junior children per household (default 0.0363).
    pub junior: Option<f64>,
    /// Count planned households of new blocks from their move-in year (default true).
    pub planned: Option<bool>,
}

/// The contents of a `zoning.toml`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZoningConfig {
    /// Stage to zone.
    pub stage: Option<Stage>,
    /// `straight` (default), `matrix` or `roads`.
    pub distance: Option<String>,
    /// `roads.csv`, relative to the config file.
    pub roads: Option<PathBuf>,
    /// Road search radius in metres (default: `max_distance_m`, else 10,000).
    pub road_radius_m: Option<u32>,
    /// Barrier lines (GeoJSON), relative to the config file.
    pub barriers: Option<PathBuf>,
    /// See [`ZoningParams::candidates`].
    pub candidates: Option<usize>,
    /// See [`ZoningParams::max_distance_m`].
    pub max_distance_m: Option<u32>,
    /// See [`ZoningParams::within_district`].
    pub within_district: Option<bool>,
    /// See [`ZoningParams::stability_m`].
    pub stability_m: Option<u32>,
    /// See [`ZoningParams::max_moved_share`].
    pub max_moved_share: Option<f64>,
    /// See [`ZoningParams::utilisation`].
    pub utilisation: Option<[f64; 2]>,
    /// See [`ZoningParams::fill_penalty_m`].
    pub fill_penalty_m: Option<u32>,
    /// See [`ZoningParams::unserved_penalty_m`].
    pub unserved_penalty_m: Option<u32>,
    /// See [`ZoningParams::certify`].
    pub certify: Option<bool>,
    /// See [`ZoningParams::contiguity`].
    pub contiguity: Option<bool>,
    /// See [`ZoningParams::max_edge_m`].
    pub max_edge_m: Option<u32>,
    /// See [`ZoningParams::cell_radius_m`].
    pub cell_radius_m: Option<u32>,
    /// See [`ZoningParams::improve_passes`].
    pub improve_passes: Option<usize>,
    /// `[multi_school]`: see [`ZoningParams::multi_school`]; the table (even empty) turns the
    /// grouping on, its keys `min_utilisation` and `max_group` override the defaults.
    pub multi_school: Option<MultiSchoolParams>,
    /// λ values for the stability sweep (metres per child).
    pub sweep: Vec<u32>,
    /// Block ids that keep their current zone.
    pub locked: Vec<String>,
    /// Demand source.
    pub demand: DemandConfig,
    /// School edits.
    pub schools: SchoolEdits,
    /// The folder relative paths are resolved against.
    #[serde(skip)]
    pub dir: PathBuf,
}

impl ZoningConfig {
    /// Reads a `zoning.toml`.
    pub fn load(path: &Path) -> Result<ZoningConfig, ZoningError> {
        let text = crate::io::toml_file::read_toml_text(path, &path.display().to_string())?;
        ZoningConfig::from_toml(&text, path)
    }

    /// Parses `zoning.toml` text as if read from `path`.
    pub fn from_toml(text: &str, path: &Path) -> Result<ZoningConfig, ZoningError> {
        let text = text.trim_start_matches('\u{feff}');
        let mut c: ZoningConfig = toml::from_str(text).map_err(|e| {
            let mut d = Diagnostic::file(
                path.display().to_string(),
                e.message().to_string(),
                "see docs/zoning.md for the keys of zoning.toml",
            );
            if let Some(span) = e.span() {
                let (line, col) = line_col(text, span.start);
                d.line = Some(line);
                d.column = Some(col);
            }
            let mut ds = Diagnostics::default();
            ds.push(d);
            ZoningError::Invalid(ds)
        })?;
        c.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        // A value out of range is reported in the file, at the key's line.
        let located = |e: ZoningError| match e {
            ZoningError::BadParameter { name, value, fix } => {
                let key = name.rsplit('.').next().unwrap_or(&name).replace(' ', "_");
                let mut d = Diagnostic::file(path.display().to_string(), format!("{name} is out of range"), fix)
                    .at_field(None, name.clone())
                    .with_value(value);
                if let Some(offset) = key_offset(text, &key) {
                    let (line, col) = line_col(text, offset);
                    d.line = Some(line);
                    d.column = Some(col);
                }
                let mut ds = Diagnostics::default();
                ds.push(d);
                ZoningError::Invalid(ds)
            }
            other => other,
        };
        c.params().validate().map_err(located)?;
        c.demand_source().map_err(located)?;
        c.distance_source().map_err(located)?;
        Ok(c)
    }

    /// A path from the file, resolved against its folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    /// The parameters: defaults overridden by the file.
    pub fn params(&self) -> ZoningParams {
        let mut p = ZoningParams::default();
        if let Some(x) = self.candidates {
            p.candidates = x;
        }
        if self.max_distance_m.is_some() {
            p.max_distance_m = self.max_distance_m;
        }
        if let Some(x) = self.within_district {
            p.within_district = x;
        }
        if let Some(x) = self.stability_m {
            p.stability_m = x;
        }
        if self.max_moved_share.is_some() {
            p.max_moved_share = self.max_moved_share;
        }
        if let Some([lo, hi]) = self.utilisation {
            p.utilisation = (lo, hi);
        }
        if let Some(x) = self.fill_penalty_m {
            p.fill_penalty_m = x;
        }
        if let Some(x) = self.unserved_penalty_m {
            p.unserved_penalty_m = x;
        }
        if let Some(x) = self.certify {
            p.certify = x;
        }
        if let Some(x) = self.contiguity {
            p.contiguity = x;
        }
        if self.max_edge_m.is_some() {
            p.max_edge_m = self.max_edge_m;
        }
        if let Some(x) = self.cell_radius_m {
            p.cell_radius_m = x;
        }
        if let Some(x) = self.improve_passes {
            p.improve_passes = x;
        }
        if self.multi_school.is_some() {
            p.multi_school = self.multi_school;
        }
        p
    }

    /// The demand source.
    pub fn demand_source(&self) -> Result<DemandSource, ZoningError> {
        match self.demand.source.as_deref().map(str::trim) {
            None | Some("students") => Ok(DemandSource::Students),
            Some("households") => {
                let mut r = HouseholdRates::default();
                for (v, slot) in [
                    (self.demand.kindergarten, &mut r.kindergarten),
                    (self.demand.primary, &mut r.primary),
                    (self.demand.junior, &mut r.junior),
                ] {
                    if let Some(v) = v {
                        if !(v.is_finite() && (0.0..=10.0).contains(&v)) {
                            return Err(ZoningError::BadParameter {
                                name: "demand rate".into(),
                                value: v.to_string(),
                                fix: "give children per household between 0 and 10, e.g. 0.0378".into(),
                            });
                        }
                        *slot = v;
                    }
                }
                if let Some(p) = self.demand.planned {
                    r.planned = p;
                }
                Ok(DemandSource::Households(r))
            }
            Some(other) => Err(ZoningError::BadParameter {
                name: "demand.source".into(),
                value: other.to_string(),
                fix: "use students or households".into(),
            }),
        }
    }

    /// The distance source.
    pub fn distance_source(&self) -> Result<DistanceSource, ZoningError> {
        match &self.distance {
            None => Ok(DistanceSource::Straight),
            Some(s) => s.parse().map_err(|e: String| ZoningError::BadParameter {
                name: "distance".into(),
                value: s.clone(),
                fix: e,
            }),
        }
    }
}

/// Reads barrier lines from a GeoJSON file: every LineString, MultiLineString, Polygon and
/// MultiPolygon ring becomes a polyline (WGS84 `[lon, lat]`).
pub fn read_barriers(path: &Path) -> Result<Vec<Vec<(f64, f64)>>, ZoningError> {
    let text = std::fs::read_to_string(path).map_err(|source| ZoningError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_barriers(&text, &path.display().to_string())
}

/// Parses barrier lines from GeoJSON text.
pub fn parse_barriers(text: &str, file: &str) -> Result<Vec<Vec<(f64, f64)>>, ZoningError> {
    let bad = |msg: String| {
        let mut d = Diagnostics::default();
        d.push(Diagnostic::file(
            file,
            msg,
            "give a GeoJSON FeatureCollection of LineString or Polygon features in WGS84",
        ));
        ZoningError::Invalid(d)
    };
    let v: serde_json::Value =
        serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    fn line(v: &serde_json::Value) -> Option<Vec<(f64, f64)>> {
        v.as_array()?
            .iter()
            .map(|p| {
                let a = p.as_array()?;
                Some((a.first()?.as_f64()?, a.get(1)?.as_f64()?))
            })
            .collect()
    }
    fn geometry(g: &serde_json::Value, out: &mut Vec<Vec<(f64, f64)>>) -> Result<(), String> {
        let kind = g.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let coords = g.get("coordinates");
        let fail = || format!("a {kind} has malformed coordinates");
        match kind {
            "LineString" => out.push(coords.and_then(line).ok_or_else(fail)?),
            "MultiLineString" | "Polygon" => {
                for l in coords.and_then(|c| c.as_array()).ok_or_else(fail)? {
                    out.push(line(l).ok_or_else(fail)?);
                }
            }
            "MultiPolygon" => {
                for p in coords.and_then(|c| c.as_array()).ok_or_else(fail)? {
                    for l in p.as_array().ok_or_else(fail)? {
                        out.push(line(l).ok_or_else(fail)?);
                    }
                }
            }
            "GeometryCollection" => {
                for g in g.get("geometries").and_then(|x| x.as_array()).ok_or_else(fail)? {
                    geometry(g, out)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
    let features: Vec<&serde_json::Value> = match v.get("type").and_then(|t| t.as_str()) {
        Some("FeatureCollection") => v
            .get("features")
            .and_then(|f| f.as_array())
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        Some("Feature") => vec![&v],
        _ => return Err(bad("the file is not a GeoJSON FeatureCollection or Feature".into())),
    };
    for f in features {
        if let Some(g) = f.get("geometry") {
            geometry(g, &mut out).map_err(bad)?;
        }
    }
    Ok(out)
}

/// The byte offset of the first line that sets `key` (`key = …`), if any.
fn key_offset(text: &str, key: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return Some(offset + (line.len() - trimmed.len()));
        }
        offset += line.len();
    }
    None
}
