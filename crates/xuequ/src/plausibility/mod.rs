//! Plausibility checks: inputs that are valid but probably wrong (a school typed at longitude
//! 20.4, a district name with a typo, a zone 40 km from its school). Each finding is a
//! [`Warning`]: a [`Diagnostic`] (file, line, column, value, message, hint) plus a
//! [`WarningKind`] code. [`crate::Dataset::load`] runs [`check_inputs`] and keeps the result
//! in [`crate::Dataset::warnings`]; [`check_allocation`] looks at a run's placements.
//! With `strict = true` in `scenario.toml` (the CLI's `--strict`) the input warnings fail
//! the load as errors.
//!
//! | code | rule | threshold ([`Params`]) |
//! |---|---|---|
//! | `outside_city` | a school or block outside every district outline (`[inputs] districts`), or, without outlines, farther from the median point of all schools and blocks than `extent_factor` × the 90th-percentile of those distances | 1 km tolerance; 4 × |
//! | `outside_district` | a school or block outside the outline of its own district | 1 km tolerance |
//! | `unknown_district` | a district name with no outline in the districts file | |
//! | `zone_far` | a zone whose school is farther from some of its blocks than `zone_far_factor` × the stage's median block-to-zone-school distance, of the city or of the school's district, whichever is larger (and at least `zone_far_min_m`) | 7 ×, 3 km |
//! | `zone_other_district` | a zone whose school lies in another district than some of its blocks | |
//! | `district_rare` | a district name used by a single school or block | 1 row |
//! | `district_similar` | a district name within `similar_edits` edits of another that is used at least `similar_ratio` times as often | 1 edit, 10 × |
//! | `capacity_outlier` | a capacity above `capacity_factor` × the median capacity of the stage, or below the median divided by it | 10 × |
//! | `duplicate_location` | two schools of the same stage within `duplicate_m` of each other (schools of different stages may share a campus, 九年一贯制) | 1 m |
//! | `zone_polygon_none` / `zone_polygon_many` | a block whose point lies in no zone polygon of a stage, or in two or more | |
//! | `overflow_far` | applicants placed by the final overflow pass (统筹) farther than `overflow_far_m` | 40 km |

mod positions;
mod rules;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::Serialize;

use crate::allocate::{Allocation, GUARANTEE_POSITION};
use crate::error::Diagnostic;
use crate::load::Dataset;
use crate::model::City;
use crate::scenario::Scenario;
use crate::shapes::ZoneMembership;

/// What a warning is about; [`WarningKind::code`] is its name in `summary.json`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WarningKind {
    /// A school or block outside the city's extent.
    OutsideCity,
    /// A school or block outside its own district's outline.
    OutsideDistrict,
    /// A district name with no outline.
    UnknownDistrict,
    /// A zone school far from its blocks.
    ZoneFar,
    /// A zone school in another district than its blocks.
    ZoneOtherDistrict,
    /// A district name used once.
    DistrictRare,
    /// A district name close to a more common one.
    DistrictSimilar,
    /// A capacity far from the stage's median.
    CapacityOutlier,
    /// Two schools of one stage at the same point.
    DuplicateLocation,
    /// A block in no zone polygon.
    ZonePolygonNone,
    /// A block in two or more zone polygons.
    ZonePolygonMany,
    /// Overflow placements farther than the threshold.
    OverflowFar,
}

impl WarningKind {
    /// The code written in `summary.json` and shown in brackets.
    pub fn code(self) -> &'static str {
        match self {
            WarningKind::OutsideCity => "outside_city",
            WarningKind::OutsideDistrict => "outside_district",
            WarningKind::UnknownDistrict => "unknown_district",
            WarningKind::ZoneFar => "zone_far",
            WarningKind::ZoneOtherDistrict => "zone_other_district",
            WarningKind::DistrictRare => "district_rare",
            WarningKind::DistrictSimilar => "district_similar",
            WarningKind::CapacityOutlier => "capacity_outlier",
            WarningKind::DuplicateLocation => "duplicate_location",
            WarningKind::ZonePolygonNone => "zone_polygon_none",
            WarningKind::ZonePolygonMany => "zone_polygon_many",
            WarningKind::OverflowFar => "overflow_far",
        }
    }
}

/// One plausibility finding: where, the numbers, and what to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The rule that tripped.
    pub kind: WarningKind,
    /// File, line, column, value, message (with the numbers) and hint.
    pub diagnostic: Diagnostic,
}

impl Warning {
    /// The warning as an error, for `strict` runs.
    pub fn as_error(&self) -> Diagnostic {
        let mut d = self.diagnostic.clone();
        d.message = format!("{} [{}; an error because strict is on]", d.message, self.kind.code());
        d
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warning[{}]: {}", self.kind.code(), self.diagnostic)
    }
}

impl Serialize for Warning {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let d = &self.diagnostic;
        let mut st = s.serialize_struct("Warning", 8)?;
        st.serialize_field("kind", self.kind.code())?;
        st.serialize_field("file", &d.file)?;
        st.serialize_field("line", &d.line)?;
        st.serialize_field("column", &d.column)?;
        st.serialize_field("field", &d.field)?;
        st.serialize_field("value", &d.value)?;
        st.serialize_field("message", &d.message)?;
        st.serialize_field("hint", &d.hint)?;
        st.end()
    }
}

/// The thresholds of the rules (see the table in the [module docs](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Without district outlines: a point is outside the city when its distance from the
    /// median point exceeds this multiple of the 90th-percentile distance (default 4).
    pub extent_factor: f64,
    /// A point within this distance of an outline counts as inside it: outlines are coarse
    /// (default 1,000 m).
    pub outline_tolerance_m: f64,
    /// A zone is far when a block is farther than this multiple of the stage's median
    /// block-to-zone-school distance (default 7: the sparse demo city has zones of 6 × its median).
    pub zone_far_factor: f64,
    /// … and farther than this (default 3,000 m), so a compact city is not flagged for
    /// ordinary walks.
    pub zone_far_min_m: f64,
    /// District names this many edits apart or fewer are close (default 1: most district names are three characters, and 梁溪区 and 滨湖区 are two edits apart).
    pub similar_edits: usize,
    /// A close name is flagged when the other is used at least this many times as often
    /// (default 10): 锡山区 and 惠山区 are one edit apart but both common.
    pub similar_ratio: usize,
    /// Capacity outlier factor against the stage's median (default 10).
    pub capacity_factor: f64,
    /// Schools of one stage closer than this are at the same point (default 1 m).
    pub duplicate_m: f64,
    /// Overflow placements farther than this are flagged (default 40,000 m: beyond any daily
    /// trip a 统筹 placement should ask of a family).
    pub overflow_far_m: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            extent_factor: 4.0,
            outline_tolerance_m: 1_000.0,
            zone_far_factor: 7.0,
            zone_far_min_m: 3_000.0,
            similar_edits: 1,
            similar_ratio: 10,
            capacity_factor: 10.0,
            duplicate_m: 1.0,
            overflow_far_m: 40_000,
        }
    }
}

/// The input rules with the default [`Params`]. `zone_polygons` lists the blocks in no or
/// several zone polygons ([`crate::shapes::read_zones`]).
pub fn check_inputs(scenario: &Scenario, city: &City, zone_polygons: &[ZoneMembership]) -> Vec<Warning> {
    check_inputs_with(scenario, city, zone_polygons, &Params::default())
}

/// The input rules with explicit thresholds. Warnings come in rule order, then file order.
pub fn check_inputs_with(
    scenario: &Scenario,
    city: &City,
    zone_polygons: &[ZoneMembership],
    params: &Params,
) -> Vec<Warning> {
    let pos = positions::Positions::new(scenario, city);
    let mut out = Vec::new();
    rules::extent(city, &pos, params, &mut out);
    rules::districts(city, &pos, params, &mut out);
    rules::zones(city, &pos, params, &mut out);
    rules::capacity(city, &pos, params, &mut out);
    rules::duplicates(city, &pos, params, &mut out);
    rules::zone_polygons(scenario, city, &pos, zone_polygons, &mut out);
    out
}

/// Rules on a run's placements (default [`Params`]): overflow placements beyond
/// [`Params::overflow_far_m`], one warning per stage.
pub fn check_allocation(data: &Dataset, allocation: &Allocation) -> Vec<Warning> {
    check_allocation_with(data, allocation, &Params::default())
}

/// [`check_allocation`] with explicit thresholds.
pub fn check_allocation_with(data: &Dataset, allocation: &Allocation, params: &Params) -> Vec<Warning> {
    let mut out = Vec::new();
    for st in &allocation.stages {
        let mut far: Vec<(u32, usize)> = Vec::new();
        for (m, p) in st.placements.iter().enumerate() {
            if p.is_placed() && p.position == GUARANTEE_POSITION && p.distance_m > params.overflow_far_m {
                far.push((p.distance_m, m));
            }
        }
        let Some(&(d, m)) = far.iter().max() else {
            continue;
        };
        let student = st.members[m] as usize;
        let school = st.programs[st.placements[m].program as usize].school;
        let s = &data.city.schools[school as usize];
        out.push(Warning {
            kind: WarningKind::OverflowFar,
            diagnostic: Diagnostic::file(
                data.scenario.inputs.students.display().to_string(),
                format!(
                    "{} {} applicant(s) placed by overflow (统筹) farther than {:.0} km; the farthest, {}, goes {:.1} km to {} {}",
                    far.len(),
                    st.stage,
                    f64::from(params.overflow_far_m) / 1000.0,
                    data.cohort.id(student),
                    f64::from(d) / 1000.0,
                    s.id,
                    s.name
                ),
                "check that the stage has enough seats near these applicants (capacity, a missing school) and that school coordinates are right",
            )
            .at_field(None, "block_id")
            .with_value(data.cohort.id(student)),
        });
    }
    out
}

/// Every warning of a run: the inputs' (kept on load), then the placements'.
pub fn all_warnings(data: &Dataset, allocation: &Allocation) -> Vec<Warning> {
    let mut w = data.warnings.clone();
    w.extend(check_allocation(data, allocation));
    w
}
