//! Catchment zoning (学区划分): propose zones that fit capacity, stay contiguous and change
//! little, with a proven lower bound on travel, and look up which school serves an address.
//!
//! ## Map
//!
//! | step | type / function | file |
//! |---|---|---|
//! | demand per block | [`Demand`] (students, households × rate, or a forecast's counts) | `demand.rs` |
//! | the instance | [`ZoningProblem`] (schools, blocks, current zones, locks, edits) | `problem.rs` |
//! | planner edits | [`SchoolEdits`], [`NewSchool`] | `problem.rs` |
//! | distances | [`DistanceSource`], [`Distances`], taken from [`crate::spatial`] | `distance.rs` |
//! | candidate arcs | k nearest allowed schools + current school per block | `candidates.rs` |
//! | lower bound | [`lower_bound`] → [`FlowBound`]: min-cost flow, grown and certified | `bound.rs` |
//! | stability | [`sweep`], [`lambda_for_cap`] (λ metres per child, bisection) | `stability.rs` |
//! | rounding | whole blocks from the flow | `round.rs` |
//! | adjacency | [`Adjacency`]: Delaunay of block points minus barrier crossings | `adjacency.rs` |
//! | repair | contiguity, capacity and improvement moves priced by seat prices | `repair.rs` |
//! | polygons | [`ZonePolygons`]: Voronoi cells of blocks dissolved per school | `polygons.rs` |
//! | lookup | [`ZoneIndex`]: R-tree over zone polygons, batch point lookup | `lookup.rs` |
//! | report | [`ZoningReport`], per school and overall | `report.rs` |
//! | files | [`write_zoning`]: zones.csv, zones.geojson, report CSV + JSON | `write.rs` |
//! | configuration | [`ZoningConfig`] (`zoning.toml`) | `config.rs` |
//!
//! The whole pipeline is [`zone`]. Every step is deterministic: parallel steps collect in
//! input order and ties are broken by integer keys, so any thread count gives the same bytes.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::fs;
//! use xuequ::zoning::{self, Demand, SchoolEdits, ZoningParams, ZoningProblem};
//! let dir = tempfile::tempdir()?;
//! let d = dir.path();
//! fs::write(d.join("scenario.toml"), "name = \"tiny\"\nyear = 2026\nstages = [\"primary\"]\n")?;
//! fs::write(d.join("schools.csv"), "school_id,name,district,stage,sector,lon,lat,capacity\n\
//!     P1,一小,梁溪区,primary,public,120.300,31.570,3\n\
//!     P2,二小,梁溪区,primary,public,120.320,31.570,3\n")?;
//! fs::write(d.join("blocks.csv"), "block_id,name,district,lon,lat,households\n\
//!     B1,甲,梁溪区,120.301,31.571,10\nB2,乙,梁溪区,120.305,31.569,10\n\
//!     B3,丙,梁溪区,120.315,31.571,10\nB4,丁,梁溪区,120.319,31.569,10\n")?;
//! fs::write(d.join("students.csv"), "student_id,stage,block_id\n\
//!     S1,primary,B1\nS2,primary,B1\nS3,primary,B2\nS4,primary,B3\nS5,primary,B4\n")?;
//! let data = xuequ::Dataset::load(&d.join("scenario.toml"))?;
//! let stage = xuequ::Stage::Primary;
//! let demand = Demand::from_students(&data, stage);
//! let problem = ZoningProblem::from_dataset(&data, stage, &demand, &SchoolEdits::default(), &[])?;
//! let result = zoning::zone(&problem, &ZoningParams::default(), &|_| {})?;
//! // B1 and B2 go to P1, B3 and B4 to P2; the zoning meets the lower bound.
//! let school = |b: usize| &problem.schools[result.assignment[b] as usize].id;
//! assert_eq!([school(0), school(1), school(2), school(3)], ["P1", "P1", "P2", "P2"]);
//! assert_eq!(result.report.overall.gap, 0.0);
//! let index = zoning::ZoneIndex::new(result.polygons.as_ref().expect("polygons are on by default"));
//! assert_eq!(index.lookup(120.3012, 31.5709), vec![0]);
//! # Ok(()) }
//! ```

mod adjacency;
mod bound;
mod candidates;
mod cells;
mod config;
mod demand;
mod dissolve;
mod distance;
mod lookup;
mod multischool;
mod polygons;
mod problem;
mod repair;
mod report;
mod round;
mod stability;
mod write;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use adjacency::{Adjacency, LocalFrame};
pub use bound::{FlowBound, lower_bound};
pub use config::{DemandConfig, ZoningConfig, parse_barriers, read_barriers};
pub use demand::{Demand, DemandSource, HouseholdRates};
pub use distance::{DistanceSource, DistanceTable, Distances};
pub use lookup::ZoneIndex;
pub use multischool::{MultiSchoolParams, SchoolGroup, group_index, group_schools};
pub use polygons::{ZonePolygon, ZonePolygons, current_zone_polygons, zone_polygons};
pub use problem::{NewSchool, SchoolEdits, ZoneBlock, ZoneSchool, ZoningProblem};
pub use repair::RepairStats;
pub use report::{OverallReport, SchoolReport, ZoningReport};
pub use stability::{SweepPoint, lambda_for_cap, sweep};
pub use write::{report_csv, report_json, sweep_csv, write_zoning, zones_csv, zones_geojson, zones_gpkg};

use crate::error::Diagnostics;
use crate::flow::FlowError;
use polygons::group_polygons;

/// "No school" in an assignment.
pub const UNASSIGNED: u32 = u32::MAX;

/// Planner controls and algorithm settings. Every field has a documented default
/// ([`ZoningParams::default`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ZoningParams {
    /// Nearest allowed schools per block in the first flow solve (default 6). More arcs are
    /// added where the flow certificate asks for them, so this only trades speed.
    pub candidates: usize,
    /// Longest allowed home-to-school distance in metres (default none). A block's current
    /// school is always allowed.
    pub max_distance_m: Option<u32>,
    /// Zones never cross district boundaries: a block may only go to a school of its own
    /// district (default true: 划片 is set per 区县; a block's current school is still allowed,
    /// and a block whose district has no open school of the stage is reported unassigned). Set false
    /// (`--across-districts`, `within_district = false`) to let zones cross district lines.
    pub within_district: bool,
    /// Stability weight λ: extra metres per child charged for moving a block away from its
    /// current zone (default 0).
    pub stability_m: u32,
    /// Hard cap on the share of children moved away from their current zone, 0..1 (default
    /// none). When set, λ is found by bisection and `stability_m` is its lower limit.
    pub max_moved_share: Option<f64>,
    /// Target utilisation band (low, high) as shares of capacity (default (0.0, 1.0)).
    /// `high` caps the seats a zone may fill; below `low` every empty seat costs
    /// `fill_penalty_m` per seat.
    pub utilisation: (f64, f64),
    /// Metres per seat charged for seats left empty below the band's low edge (default 5,000).
    pub fill_penalty_m: u32,
    /// Metres per child charged for a child no school can take (default 1,000,000).
    pub unserved_penalty_m: u32,
    /// Add every arc with negative reduced cost until none is left, so the bound holds over
    /// all allowed block–school pairs, not just the candidates (default true).
    pub certify: bool,
    /// Repair contiguity (default true).
    pub contiguity: bool,
    /// Drop adjacency edges longer than this many metres (default none).
    pub max_edge_m: Option<u32>,
    /// Radius in metres that bounds each block's Voronoi cell in the zone polygons
    /// (default 2,000).
    pub cell_radius_m: u32,
    /// Build zone polygons (default true).
    pub polygons: bool,
    /// Passes of improving boundary moves after repair (default 30).
    pub improve_passes: usize,
    /// Multi-school zones (多校划片): group adjacent hot zones into one zone served by lottery
    /// after the repair (default none: every block has exactly one school). See
    /// [`MultiSchoolParams`] and [`group_schools`].
    pub multi_school: Option<MultiSchoolParams>,
}

impl Default for ZoningParams {
    fn default() -> Self {
        ZoningParams {
            candidates: 6,
            max_distance_m: None,
            within_district: true,
            stability_m: 0,
            max_moved_share: None,
            utilisation: (0.0, 1.0),
            fill_penalty_m: 5_000,
            unserved_penalty_m: 1_000_000,
            certify: true,
            contiguity: true,
            max_edge_m: None,
            cell_radius_m: 2_000,
            polygons: true,
            improve_passes: 30,
            multi_school: None,
        }
    }
}

impl ZoningParams {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), ZoningError> {
        let bad = |name: &str, value: String, fix: &str| {
            Err(ZoningError::BadParameter {
                name: name.to_string(),
                value,
                fix: fix.to_string(),
            })
        };
        if self.candidates == 0 {
            return bad("candidates", "0".into(), "use at least 1 (default 6)");
        }
        let (lo, hi) = self.utilisation;
        if !(lo.is_finite() && hi.is_finite() && (0.0..=1.0).contains(&lo) && hi > 0.0 && hi <= 10.0 && lo <= hi) {
            return bad(
                "utilisation",
                format!("[{lo}, {hi}]"),
                "give low ≤ high with 0 ≤ low ≤ 1 and 0 < high ≤ 10, e.g. [0.8, 1.0]",
            );
        }
        if let Some(s) = self.max_moved_share
            && !(s.is_finite() && (0.0..=1.0).contains(&s))
        {
            return bad(
                "max_moved_share",
                s.to_string(),
                "give a share between 0 and 1, e.g. 0.05",
            );
        }
        if self.unserved_penalty_m < 100_000 {
            return bad(
                "unserved_penalty_m",
                self.unserved_penalty_m.to_string(),
                "use at least 100000 so that serving a child always beats leaving it out",
            );
        }
        if self.cell_radius_m == 0 {
            return bad("cell_radius_m", "0".into(), "use a positive radius, e.g. 2000");
        }
        if let Some(m) = &self.multi_school {
            if !(m.min_utilisation.is_finite() && m.min_utilisation > 0.0 && m.min_utilisation <= 10.0) {
                return bad(
                    "multi_school.min_utilisation",
                    m.min_utilisation.to_string(),
                    "give a share of capacity above 0, e.g. 0.95",
                );
            }
            if m.max_group < 2 {
                return bad(
                    "multi_school.max_group",
                    m.max_group.to_string(),
                    "use at least 2 schools per group (default 3)",
                );
            }
        }
        Ok(())
    }
}

/// What went wrong while zoning, with what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZoningError {
    /// No school of the stage can take part.
    #[error(
        "no open public {stage} school to zone (fix: check the stage and sector columns of schools.csv, or open a school in zoning.toml)"
    )]
    NoSchools {
        /// The stage.
        stage: String,
    },
    /// An edit or a lock names a school that does not exist.
    #[error("{context} names school \"{id}\", which is not a {stage} school in schools.csv (fix: {fix})")]
    UnknownSchool {
        /// The id.
        id: String,
        /// Where it was named.
        context: String,
        /// The stage.
        stage: String,
        /// What to do.
        fix: String,
    },
    /// A lock names a block that does not exist.
    #[error("{context} names block \"{id}\", which is not in blocks.csv (fix: check the block_id)")]
    UnknownBlock {
        /// The id.
        id: String,
        /// Where it was named.
        context: String,
    },
    /// A new school names a district that does not exist.
    #[error(
        "new school \"{id}\" names district \"{district}\", which no school or block uses (fix: use one of: {known})"
    )]
    UnknownDistrict {
        /// The school.
        id: String,
        /// The district.
        district: String,
        /// Known districts.
        known: String,
    },
    /// A parameter is out of range.
    #[error("parameter {name} = {value} is not allowed (fix: {fix})")]
    BadParameter {
        /// The parameter.
        name: String,
        /// Its value.
        value: String,
        /// What to do.
        fix: String,
    },
    /// The demand does not match the blocks.
    #[error("the demand has {got} blocks but the city has {expected} (fix: build the demand from the same blocks.csv)")]
    DemandMismatch {
        /// Blocks in the demand.
        got: usize,
        /// Blocks in the city.
        expected: usize,
    },
    /// A distance source is not available.
    #[error("{0}")]
    NoDistances(String),
    /// A configuration or input file has problems (each with file, line, column and fix).
    #[error("{} problem(s) in the zoning inputs:\n{}", .0.count_text(), .0)]
    Invalid(Diagnostics),
    /// A file could not be read.
    #[error("cannot read {path}: {source} (fix: check the path)")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The flow solver failed (a bug or numbers out of range).
    #[error("the flow solver failed: {0}")]
    Flow(#[from] FlowError),
}

/// Progress reported by [`zone`] to its callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoningProgress {
    /// A phase started.
    Started(&'static str),
    /// A flow round finished: arcs in the network, children unserved so far.
    FlowRound {
        /// Round number (0-based).
        round: usize,
        /// Arcs in the network.
        arcs: usize,
        /// Arcs added by the certificate in this round.
        added: usize,
    },
    /// A λ tried by the bisection for the cap on children moved.
    Lambda {
        /// λ in metres per child.
        lambda_m: u32,
        /// Children moved at that λ (flow solution).
        moved: u64,
    },
}

/// A zoning: the assignment, the bound, the polygons and the report.
#[derive(Debug, Clone)]
pub struct Zoning {
    /// For each block, its school (an index into [`ZoningProblem::schools`]) or [`UNASSIGNED`].
    pub assignment: Vec<u32>,
    /// The λ used (metres per child).
    pub lambda_m: u32,
    /// The lower bound.
    pub bound: FlowBound,
    /// Zone polygons, when asked for. With multi-school groups, each member school's polygon
    /// is its whole group's, so a lookup returns every school of the group.
    pub polygons: Option<ZonePolygons>,
    /// The report.
    pub report: ZoningReport,
    /// What the repair did.
    pub repair: RepairStats,
    /// Wall time per phase (not written to any file, so outputs stay byte-identical).
    pub timings: Vec<(&'static str, Duration)>,
}

/// Rounds the flow and repairs it.
fn round_and_repair(
    problem: &ZoningProblem,
    params: &ZoningParams,
    adjacency: &Adjacency,
    lambda_m: u32,
    bound: &FlowBound,
) -> (Vec<u32>, RepairStats) {
    let mut assignment = round::round(problem, params, bound);
    let costs = repair::CostModel::for_repair(problem, params, lambda_m, bound);
    let stats = repair::repair(problem, params, adjacency, &costs, &mut assignment);
    (assignment, stats)
}

/// Children whose block leaves its current zone.
fn moved_children(problem: &ZoningProblem, assignment: &[u32]) -> u64 {
    assignment
        .iter()
        .enumerate()
        .filter(|&(b, &s)| problem.has_current(b as u32) && (s == UNASSIGNED || !problem.is_current(b as u32, s)))
        .map(|(b, _)| problem.blocks[b].demand as u64)
        .sum()
}

/// The whole pipeline: lower bound (with λ from the cap when one is set), rounding, adjacency,
/// repair, polygons and report.
pub fn zone(
    problem: &ZoningProblem,
    params: &ZoningParams,
    progress: &dyn Fn(ZoningProgress),
) -> Result<Zoning, ZoningError> {
    params.validate()?;
    let mut timings = Vec::new();
    let mut t = Instant::now();
    let mut lap = |name: &'static str, timings: &mut Vec<(&'static str, Duration)>| {
        timings.push((name, t.elapsed()));
        t = Instant::now();
    };
    progress(ZoningProgress::Started("lower bound"));
    let cap = params
        .max_moved_share
        .map(|share| (share * problem.movable_children() as f64).floor() as u64);
    let (mut lambda_m, mut bound) = match cap {
        Some(cap) => lambda_for_cap(problem, params, cap, progress)?,
        None => (
            params.stability_m,
            lower_bound(problem, params, params.stability_m, progress)?,
        ),
    };
    lap("lower bound", &mut timings);
    progress(ZoningProgress::Started("adjacency"));
    let adjacency = Adjacency::delaunay(problem, params.max_edge_m);
    lap("adjacency", &mut timings);
    progress(ZoningProgress::Started("repair"));
    let (mut assignment, mut repair) = round_and_repair(problem, params, &adjacency, lambda_m, &bound);
    // Whole blocks and repairs move more children than the flow: under a cap, double λ (at
    // most four times) while the zoning itself exceeds the cap and doubling still helps; keep
    // the zoning that moves fewest children. Moves forced by closures, capacity or contiguity
    // cannot be priced away; the report then shows the miss.
    if let Some(cap) = cap {
        let mut moved = moved_children(problem, &assignment);
        for _ in 0..4 {
            if moved <= cap || lambda_m >= bound::MAX_LAMBDA_M {
                break;
            }
            let next = lambda_m.saturating_mul(2).clamp(64, bound::MAX_LAMBDA_M);
            progress(ZoningProgress::Lambda { lambda_m: next, moved });
            let next_bound = lower_bound(problem, params, next, progress)?;
            let (next_assignment, next_repair) = round_and_repair(problem, params, &adjacency, next, &next_bound);
            let next_moved = moved_children(problem, &next_assignment);
            if next_moved >= moved {
                break;
            }
            let small_gain = (moved - next_moved) * 50 < moved;
            (lambda_m, bound, assignment, repair, moved) = (next, next_bound, next_assignment, next_repair, next_moved);
            if small_gain {
                break;
            }
        }
    }
    let costs = repair::CostModel::new(problem, params, lambda_m, &bound);
    lap("round + repair", &mut timings);
    let polygons = if params.polygons {
        progress(ZoningProgress::Started("polygons"));
        let p = zone_polygons(problem, &assignment, &adjacency, params.cell_radius_m);
        lap("polygons", &mut timings);
        Some(p)
    } else {
        None
    };
    progress(ZoningProgress::Started("report"));
    let mut report = ZoningReport::new(
        problem,
        params,
        &costs,
        &adjacency,
        &assignment,
        &bound,
        lambda_m,
        polygons.as_ref(),
        &repair,
    );
    lap("report", &mut timings);
    let mut polygons = polygons;
    if let Some(multi) = &params.multi_school {
        progress(ZoningProgress::Started("multi-school"));
        let groups = group_schools(problem, &assignment, &adjacency, multi);
        if params.polygons && !groups.is_empty() {
            let of = group_index(problem.schools.len(), &groups);
            polygons = Some(group_polygons(
                problem,
                &assignment,
                &adjacency,
                params.cell_radius_m,
                &groups,
                &of,
            ));
        }
        report.groups = Some(groups);
        lap("multi-school", &mut timings);
    }
    Ok(Zoning {
        assignment,
        lambda_m,
        bound,
        polygons,
        report,
        repair,
        timings,
    })
}
