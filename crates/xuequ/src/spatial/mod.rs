//! The one place distances come from: the distance source of a scenario (straight
//! great-circle, a `distances.csv` matrix, or a road network), the road network itself
//! (OpenStreetMap or `roads.csv`, snapping, bounded Dijkstra, a cache), and the report on it.
//!
//! | part | type | file |
//! |---|---|---|
//! | which source | [`DistanceKind`], [`RoadsOptions`], [`RoadMode`] | `mod.rs` |
//! | a city's distances | [`Spatial`]: school × block, exact millimetres | `mod.rs` |
//! | the network | [`RoadNetwork`], [`Snap`], [`Segment`] | `network.rs` |
//! | reading roads | [`load_network`]: `.osm.pbf`, `.osm`, `roads.csv`; the tag filter | `osm.rs`, `roads_csv.rs` |
//! | the cache | [`CacheStatus`] | `cache.rs` |
//! | what was measured | [`RoadsReport`], [`write_distances`] | `report.rs` |
//!
//! ## Units and ties
//! Every distance is exact to the millimetre (`u32`) inside the library; whole metres (rounded
//! half up from the millimetres) are what files show. "Nearest" always compares millimetres,
//! then the school id.
//!
//! ## A pair the source cannot measure
//! One meaning everywhere: **the pair is unreachable**. A matrix pair that `distances.csv`
//! lacks, a road pair farther than the search radius or in another piece of the network, a
//! block or school farther than `max_snap_m` from every road: none is ever replaced by the
//! straight line. Unreachable pairs are never a candidate by distance (overflow radius,
//! nearest school of the final pass, zoning, siting); a school a rule names anyway (the zone
//! school) stays on the list with its distance unknown (empty `distance_m`). Blocks that reach
//! no school at all are listed in [`Spatial::warnings`].

mod cache;
pub mod network;
mod osm;
mod points;
mod report;
mod roads_csv;
mod segment_grid;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::crs::Crs;
use crate::error::{Diagnostic, Diagnostics};
use crate::load::DistanceMatrix;
use crate::model::{City, Location};
use crate::scenario::Scenario;

pub use cache::CacheStatus;
pub use network::{RoadNetwork, Segment, Snap};
pub(crate) use points::{NearestPoints, PointIndex};
pub use report::{Percentiles, RoadsReport, write_distances, write_roads_outputs};

/// The distance a scenario uses (`distance = "..."` in `scenario.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DistanceKind {
    /// Great-circle distance between the points (the default without `distances.csv`).
    #[default]
    Straight,
    /// The scenario's `distances.csv` (the default when it has one).
    Matrix,
    /// Shortest paths over the road network of `[inputs] roads`.
    Roads,
}

impl DistanceKind {
    /// The name used in files: `straight`, `matrix` or `roads`.
    pub fn as_str(self) -> &'static str {
        match self {
            DistanceKind::Straight => "straight",
            DistanceKind::Matrix => "matrix",
            DistanceKind::Roads => "roads",
        }
    }
}

impl std::fmt::Display for DistanceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DistanceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "straight" | "straight_line" | "line" => Ok(DistanceKind::Straight),
            "matrix" | "distances" => Ok(DistanceKind::Matrix),
            "roads" | "road" => Ok(DistanceKind::Roads),
            other => Err(format!(
                "unknown distance source \"{other}\"; use straight, matrix or roads"
            )),
        }
    }
}

/// Which ways count and which direction rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RoadMode {
    /// Ways a pedestrian may use, both directions (default).
    #[default]
    Walk,
    /// Ways a car may use, one-way rules followed.
    Drive,
}

impl RoadMode {
    /// `walk` or `drive`.
    pub fn as_str(self) -> &'static str {
        match self {
            RoadMode::Walk => "walk",
            RoadMode::Drive => "drive",
        }
    }
}

/// `[roads]` in `scenario.toml`; every key optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoadsOptions {
    /// `walk` (default) or `drive`.
    pub mode: RoadMode,
    /// Search radius in metres: road pairs longer than this are unreachable (default 10,000).
    pub radius_m: u32,
    /// A block or school farther than this from every road is off the network (default 500).
    pub max_snap_m: u32,
    /// Keep the built network in a cache file beside the roads file (default true).
    pub cache: bool,
}

impl Default for RoadsOptions {
    fn default() -> Self {
        RoadsOptions {
            mode: RoadMode::Walk,
            radius_m: 10_000,
            max_snap_m: 500,
            cache: true,
        }
    }
}

/// What went wrong reading or building a road network.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpatialError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not in the format its name says.
    #[error("{file}: {message} (fix: {hint})")]
    Format {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
        /// What to do.
        hint: String,
    },
    /// Rows of `roads.csv` are wrong.
    #[error("{0}")]
    Invalid(Diagnostics),
    /// The file holds no usable way.
    #[error(
        "{file}: no {mode} road in the file (fix: check the extract covers the city and holds highway=* ways; see docs/roads.md for the tags kept)"
    )]
    Empty {
        /// The file.
        file: String,
        /// walk or drive.
        mode: &'static str,
    },
    /// `distance = "roads"` without a roads file.
    #[error("distance = \"roads\" but the scenario names no road network (fix: set [inputs] roads = \"city.osm.pbf\")")]
    NoRoads,
    /// `distance = "matrix"` without `distances.csv`.
    #[error(
        "distance = \"matrix\" but the scenario has no distances.csv (fix: add distances.csv beside the scenario or set [inputs] distances)"
    )]
    NoMatrix,
}

impl SpatialError {
    /// The error as diagnostics (for a loader that reports every problem at once).
    pub fn into_diagnostics(self, scenario_file: &str) -> Vec<Diagnostic> {
        match self {
            SpatialError::Invalid(d) => d.items().to_vec(),
            SpatialError::Format { file, message, hint } => vec![Diagnostic::file(file, message, hint)],
            SpatialError::Io { path, source } => vec![Diagnostic::file(
                path.display().to_string(),
                format!("cannot read the file: {source}"),
                "check the path in [inputs] roads",
            )],
            SpatialError::Empty { file, mode } => vec![Diagnostic::file(
                file,
                format!("no {mode} road in the file"),
                "check the extract covers the city and holds highway=* ways (docs/roads.md lists the tags kept)",
            )],
            SpatialError::NoRoads => vec![
                Diagnostic::file(
                    scenario_file,
                    "distance = \"roads\" but the scenario names no road network",
                    "set [inputs] roads = \"city.osm.pbf\" (or .osm, or roads.csv)",
                )
                .at_field(None, "distance"),
            ],
            SpatialError::NoMatrix => vec![
                Diagnostic::file(
                    scenario_file,
                    "distance = \"matrix\" but the scenario has no distances.csv",
                    "add distances.csv beside the scenario, set [inputs] distances, or use distance = \"straight\"",
                )
                .at_field(None, "distance"),
            ],
        }
    }
}

/// A road network read from a file, with what was kept.
#[derive(Debug, Clone)]
pub struct Network {
    /// The graph.
    pub graph: RoadNetwork,
    /// The file it was read from.
    pub source: PathBuf,
    /// walk or drive.
    pub mode: RoadMode,
    /// Ways (or `roads.csv` rows) kept.
    pub ways_kept: usize,
    /// Kept ways that name a node the file lacks (cut at the extract's edge).
    pub missing_node_refs: usize,
    /// Whether the cache was used.
    pub cache: CacheStatus,
}

/// Reads a road network: `.osm.pbf`, `.osm` (XML) or `.csv` (`roads.csv`, coordinates in
/// `crs`), from the cache when the file has not changed.
pub fn load_network(path: &Path, crs: Crs, mode: RoadMode, use_cache: bool) -> Result<Network, SpatialError> {
    let bytes = std::fs::read(path).map_err(|source| SpatialError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file = path.display().to_string();
    let key = cache::key(&bytes, mode, crs);
    if use_cache && let Some((raw, status)) = cache::read(path, mode, key) {
        return finish(raw, path, mode, status);
    }
    let lower = file.to_ascii_lowercase();
    let raw = if lower.ends_with(".pbf") {
        osm::read_pbf(&bytes, &file, mode)?
    } else if lower.ends_with(".osm") || lower.ends_with(".xml") {
        osm::read_xml(bytes.as_slice(), &file, mode)?
    } else if lower.ends_with(".csv") {
        roads_csv::read_csv(bytes.as_slice(), &file, crs)?
    } else {
        return Err(SpatialError::Format {
            file,
            message: "unknown road network format".into(),
            hint: "name a .osm.pbf, .osm (XML) or roads.csv file".into(),
        });
    };
    if raw.segments.is_empty() {
        return Err(SpatialError::Empty {
            file,
            mode: mode.as_str(),
        });
    }
    let status = if use_cache {
        cache::write(path, mode, key, &raw)
    } else {
        CacheStatus::Disabled
    };
    finish(raw, path, mode, status)
}

/// Reads `roads.csv` text into a network (coordinates in `crs`).
pub fn network_from_csv<R: std::io::Read>(reader: R, file: &str, crs: Crs) -> Result<RoadNetwork, SpatialError> {
    let raw = roads_csv::read_csv(reader, file, crs)?;
    if raw.segments.is_empty() {
        return Err(SpatialError::Empty {
            file: file.to_string(),
            mode: "csv",
        });
    }
    Ok(RoadNetwork::new(raw.nodes, raw.segments))
}

/// Reads OSM XML or `.osm.pbf` bytes into a network (for tests and callers holding the bytes;
/// `pbf` picks the format).
pub fn network_from_osm(bytes: &[u8], file: &str, mode: RoadMode, pbf: bool) -> Result<RoadNetwork, SpatialError> {
    let raw = if pbf {
        osm::read_pbf(bytes, file, mode)?
    } else {
        osm::read_xml(bytes, file, mode)?
    };
    if raw.segments.is_empty() {
        return Err(SpatialError::Empty {
            file: file.to_string(),
            mode: mode.as_str(),
        });
    }
    Ok(RoadNetwork::new(raw.nodes, raw.segments))
}

fn finish(raw: osm::RawRoads, path: &Path, mode: RoadMode, cache: CacheStatus) -> Result<Network, SpatialError> {
    Ok(Network {
        graph: RoadNetwork::new(raw.nodes, raw.segments),
        source: path.to_path_buf(),
        mode,
        ways_kept: raw.ways_kept,
        missing_node_refs: raw.missing_node_refs,
        cache,
    })
}

/// Whole metres of exact millimetres, rounded half up: what files show.
pub fn metres_of_mm(mm: u32) -> u32 {
    ((u64::from(mm) + 500) / 1000) as u32
}

/// Exact great-circle millimetres between two points.
pub fn straight_mm(a: &Location, b: &Location) -> u32 {
    network::mm(crate::crs::arc_metres(a.ecef, b.ecef))
}

/// Per school, the blocks it reaches with millimetres, ascending by block (CSR).
#[derive(Debug, Clone, Default)]
struct PairTable {
    start: Vec<u32>,
    block: Vec<u32>,
    mm: Vec<u32>,
}

impl PairTable {
    fn from_rows(rows: Vec<Vec<(u32, u32)>>) -> PairTable {
        let mut t = PairTable {
            start: vec![0],
            ..Default::default()
        };
        for mut r in rows {
            r.sort_unstable();
            r.dedup_by_key(|x| x.0);
            for (b, m) in r {
                t.block.push(b);
                t.mm.push(m);
            }
            t.start.push(t.block.len() as u32);
        }
        t
    }

    fn row(&self, school: u32) -> (&[u32], &[u32]) {
        let s = school as usize;
        if s + 1 >= self.start.len() {
            return (&[], &[]);
        }
        let (lo, hi) = (self.start[s] as usize, self.start[s + 1] as usize);
        (&self.block[lo..hi], &self.mm[lo..hi])
    }

    fn get(&self, school: u32, block: u32) -> Option<u32> {
        let (bs, ms) = self.row(school);
        bs.binary_search(&block).ok().map(|i| ms[i])
    }
}

/// The road part of a [`Spatial`].
#[derive(Debug)]
struct Roads {
    network: Network,
    options: RoadsOptions,
    block_snaps: Vec<Option<Snap>>,
    school_snaps: Vec<Option<Snap>>,
}

#[derive(Debug)]
struct Inner {
    kind: DistanceKind,
    schools: Vec<Location>,
    blocks: Vec<Location>,
    table: Option<PairTable>,
    roads: Option<Roads>,
    warnings: Vec<Diagnostic>,
}

/// A city's distances from one source: every command asks this, never computes in place.
/// Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Spatial {
    inner: Arc<Inner>,
}

impl Default for Spatial {
    fn default() -> Self {
        Spatial {
            inner: Arc::new(Inner {
                kind: DistanceKind::Straight,
                schools: Vec::new(),
                blocks: Vec::new(),
                table: None,
                roads: None,
                warnings: Vec::new(),
            }),
        }
    }
}

impl Spatial {
    /// Great-circle distances over a city.
    pub fn straight(city: &City) -> Spatial {
        Spatial {
            inner: Arc::new(Inner {
                kind: DistanceKind::Straight,
                schools: city.schools.iter().map(|s| s.location).collect(),
                blocks: city.blocks.iter().map(|b| b.location).collect(),
                table: None,
                roads: None,
                warnings: Vec::new(),
            }),
        }
    }

    /// Distances from a matrix: pairs it lacks are unreachable.
    pub fn matrix(city: &City, matrix: &DistanceMatrix) -> Spatial {
        let mut rows: Vec<Vec<(u32, u32)>> = vec![Vec::new(); city.schools.len()];
        for (s, b, mm) in matrix.iter_mm() {
            if let Some(r) = rows.get_mut(s as usize) {
                r.push((b, mm));
            }
        }
        Spatial {
            inner: Arc::new(Inner {
                kind: DistanceKind::Matrix,
                schools: city.schools.iter().map(|s| s.location).collect(),
                blocks: city.blocks.iter().map(|b| b.location).collect(),
                table: Some(PairTable::from_rows(rows)),
                roads: None,
                warnings: Vec::new(),
            }),
        }
    }

    /// Road distances over a city: snaps every block and school, then a bounded Dijkstra from
    /// every school in parallel. Blocks off the network or reaching no school are warned about.
    pub fn roads(city: &City, network: Network, options: RoadsOptions) -> Spatial {
        let graph = &network.graph;
        let max_snap = u64::from(options.max_snap_m) * 1000;
        let snap = |l: &Location| graph.snap(l).filter(|s| u64::from(s.access_mm) <= max_snap);
        let block_snaps: Vec<Option<Snap>> = city.blocks.par_iter().map(|b| snap(&b.location)).collect();
        let school_snaps: Vec<Option<Snap>> = city.schools.par_iter().map(|s| snap(&s.location)).collect();
        let radius_mm = options.radius_m.saturating_mul(1000);
        let rows = graph.distances(&school_snaps, &block_snaps, radius_mm);
        let source = network.source.display().to_string();
        let mut warnings = Vec::new();
        let mut reached = vec![false; city.blocks.len()];
        for r in &rows {
            for &(b, _) in r {
                reached[b as usize] = true;
            }
        }
        for (i, s) in city.schools.iter().enumerate() {
            if school_snaps[i].is_none() {
                warnings.push(
                    Diagnostic::file(
                        &source,
                        format!(
                            "school {} is more than {} m from every road: it is unreachable by road",
                            s.id, options.max_snap_m
                        ),
                        "check its coordinates, or that the extract covers it",
                    )
                    .with_value(&s.id),
                );
            }
        }
        for (i, b) in city.blocks.iter().enumerate() {
            if block_snaps[i].is_none() {
                let far = graph.snap(&b.location).map_or("no road at all".to_string(), |s| {
                    format!("{} m", metres_of_mm(s.access_mm))
                });
                warnings.push(
                    Diagnostic::file(
                        &source,
                        format!(
                            "block {} is {far} from the nearest road (more than max_snap_m = {}): it is unreachable by road",
                            b.id, options.max_snap_m
                        ),
                        "check the block's coordinates, or that the extract covers it",
                    )
                    .with_value(&b.id),
                );
            } else if !reached[i] {
                warnings.push(
                    Diagnostic::file(
                        &source,
                        format!(
                            "block {} reaches no school within {} m by road (its piece of the network holds none)",
                            b.id, options.radius_m
                        ),
                        "check for a missing road link, or raise [roads] radius_m",
                    )
                    .with_value(&b.id),
                );
            }
        }
        Spatial {
            inner: Arc::new(Inner {
                kind: DistanceKind::Roads,
                schools: city.schools.iter().map(|s| s.location).collect(),
                blocks: city.blocks.iter().map(|b| b.location).collect(),
                table: Some(PairTable::from_rows(rows)),
                roads: Some(Roads {
                    network,
                    options,
                    block_snaps,
                    school_snaps,
                }),
                warnings,
            }),
        }
    }

    /// The source a scenario declares, built over its city (`matrix` is the matrix read with
    /// the scenario, if any).
    pub fn for_scenario(
        scenario: &Scenario,
        city: &City,
        matrix: Option<&DistanceMatrix>,
    ) -> Result<Spatial, SpatialError> {
        match scenario.distance {
            DistanceKind::Straight => Ok(Spatial::straight(city)),
            DistanceKind::Matrix => match matrix {
                Some(m) => Ok(Spatial::matrix(city, m)),
                None => Err(SpatialError::NoMatrix),
            },
            DistanceKind::Roads => Spatial::roads_for_scenario(scenario, city),
        }
    }

    /// The scenario's road network over its city, whatever its `distance` says.
    pub fn roads_for_scenario(scenario: &Scenario, city: &City) -> Result<Spatial, SpatialError> {
        let path = scenario.inputs.roads.as_ref().ok_or(SpatialError::NoRoads)?;
        let o = scenario.roads;
        let network = load_network(path, scenario.crs, o.mode, o.cache)?;
        Ok(Spatial::roads(city, network, o))
    }

    /// The kind of distance.
    pub fn kind(&self) -> DistanceKind {
        self.inner.kind
    }

    /// Exact millimetres from a school to a block (city indices); `None`: unreachable.
    pub fn mm(&self, school: u32, block: u32) -> Option<u32> {
        match &self.inner.table {
            Some(t) => t.get(school, block),
            None => Some(self.straight_mm(school, block)),
        }
    }

    /// Whole metres from a school to a block; `None`: unreachable.
    pub fn metres(&self, school: u32, block: u32) -> Option<u32> {
        self.mm(school, block).map(metres_of_mm)
    }

    /// Great-circle millimetres from a school to a block, whatever the source.
    pub fn straight_mm(&self, school: u32, block: u32) -> u32 {
        match (
            self.inner.schools.get(school as usize),
            self.inner.blocks.get(block as usize),
        ) {
            (Some(s), Some(b)) => straight_mm(s, b),
            _ => u32::MAX,
        }
    }

    /// The blocks a school reaches, ascending, with millimetres (every block for straight).
    pub fn school_row(&self, school: u32) -> Vec<(u32, u32)> {
        match &self.inner.table {
            Some(t) => {
                let (bs, ms) = t.row(school);
                bs.iter().copied().zip(ms.iter().copied()).collect()
            }
            None => (0..self.inner.blocks.len() as u32)
                .map(|b| (b, self.straight_mm(school, b)))
                .collect(),
        }
    }

    /// Millimetres from new places (candidate sites, schools a zoning adds) to the city's
    /// blocks, per place ascending by block: every block for straight, none for a matrix
    /// (which does not know the place), the road search for roads.
    pub fn from_places(&self, places: &[Location]) -> Vec<Vec<(u32, u32)>> {
        match (&self.inner.kind, &self.inner.roads) {
            (DistanceKind::Roads, Some(r)) => {
                let snaps = self.snaps(places);
                r.network
                    .graph
                    .distances(&snaps, &r.block_snaps, r.options.radius_m.saturating_mul(1000))
            }
            (DistanceKind::Matrix, _) => vec![Vec::new(); places.len()],
            _ => places
                .par_iter()
                .map(|p| {
                    self.inner
                        .blocks
                        .iter()
                        .enumerate()
                        .map(|(b, l)| (b as u32, straight_mm(p, l)))
                        .collect()
                })
                .collect(),
        }
    }

    /// Millimetres from a school (city index) to any point (a looked-up address), the same
    /// rule as for blocks: a point at a block's location gets the block's distance.
    pub fn school_to_point_mm(&self, school: u32, at: &Location) -> Option<u32> {
        match (&self.inner.kind, &self.inner.roads) {
            (DistanceKind::Roads, Some(r)) => {
                let target = self.snaps(std::slice::from_ref(at));
                let origin = [*r.school_snaps.get(school as usize)?];
                r.network
                    .graph
                    .distances(&origin, &target, r.options.radius_m.saturating_mul(1000))
                    .first()
                    .and_then(|row| row.first())
                    .map(|&(_, mm)| mm)
            }
            (DistanceKind::Matrix, _) => {
                // A matrix knows blocks only: a point exactly at a block gets that block's pair.
                let b = self
                    .inner
                    .blocks
                    .iter()
                    .position(|l| l.lon == at.lon && l.lat == at.lat)?;
                self.mm(school, b as u32)
            }
            _ => self.inner.schools.get(school as usize).map(|s| straight_mm(s, at)),
        }
    }

    fn snaps(&self, places: &[Location]) -> Vec<Option<Snap>> {
        let Some(r) = &self.inner.roads else {
            return vec![None; places.len()];
        };
        let max = u64::from(r.options.max_snap_m) * 1000;
        places
            .par_iter()
            .map(|p| r.network.graph.snap(p).filter(|s| u64::from(s.access_mm) <= max))
            .collect()
    }

    /// Per-block and per-school warnings (off the network, reaching no school).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.inner.warnings
    }

    /// The road network, when the source is roads.
    pub fn network(&self) -> Option<&Network> {
        self.inner.roads.as_ref().map(|r| &r.network)
    }

    /// The road options, when the source is roads.
    pub fn road_options(&self) -> Option<RoadsOptions> {
        self.inner.roads.as_ref().map(|r| r.options)
    }

    /// Where each block joins the network (roads only).
    pub fn block_snaps(&self) -> &[Option<Snap>] {
        self.inner.roads.as_ref().map_or(&[], |r| &r.block_snaps)
    }

    /// Where each school joins the network (roads only).
    pub fn school_snaps(&self) -> &[Option<Snap>] {
        self.inner.roads.as_ref().map_or(&[], |r| &r.school_snaps)
    }

    /// Number of blocks and schools it covers.
    pub fn size(&self) -> (usize, usize) {
        (self.inner.schools.len(), self.inner.blocks.len())
    }
}
