//! The zoning instance: the schools of one stage (after the planner's edits), the blocks with
//! their demand, current zones and locks, distances and barriers.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::load::Dataset;
use crate::model::{Location, Sector, Stage, StageZones};

use super::demand::Demand;
use super::distance::{DistanceTable, Distances};
use super::{ZoningError, ZoningParams};

/// A school taking part in the zoning.
#[derive(Debug, Clone)]
pub struct ZoneSchool {
    /// The id used in files.
    pub id: String,
    /// Display name.
    pub name: String,
    /// District index into [`ZoningProblem::districts`].
    pub district: u32,
    /// Where it is.
    pub location: Location,
    /// Entry-grade seats (after edits).
    pub capacity: u32,
    /// Index in the city's schools, `None` for a school opened by an edit.
    pub city_index: Option<u32>,
}

/// A residential block.
#[derive(Debug, Clone)]
pub struct ZoneBlock {
    /// The id used in files.
    pub id: String,
    /// District index.
    pub district: u32,
    /// Where it is.
    pub location: Location,
    /// Children of the stage.
    pub demand: u32,
    /// Keep the block's current zone as it is.
    pub locked: bool,
}

/// A school opened by the planner: the same type as an `open_school` edit's (in `zoning.toml`,
/// `id` may stand for `school_id` and `stage` defaults to the stage being zoned).
pub use crate::edit::NewSchool;

/// Planner edits to the schools of the stage being zoned.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchoolEdits {
    /// School ids to close (they take no part; their blocks must move).
    pub close: Vec<String>,
    /// New capacities by school id (a school that opens after the admission year takes part
    /// when it is given a capacity here).
    pub capacity: BTreeMap<String, u32>,
    /// Schools to open.
    pub open: Vec<NewSchool>,
}

/// One stage's zoning instance.
#[derive(Debug, Clone)]
pub struct ZoningProblem {
    /// The stage.
    pub stage: Stage,
    /// District names.
    pub districts: Vec<String>,
    /// Schools taking part.
    pub schools: Vec<ZoneSchool>,
    /// All blocks, in `blocks.csv` order.
    pub blocks: Vec<ZoneBlock>,
    /// Current zones (indices into `schools`); a school that no longer takes part is dropped.
    pub current: StageZones,
    /// Distances.
    pub distances: Distances,
    /// Barriers (rivers, expressways) as WGS84 polylines `(lon, lat)`: adjacency edges that
    /// cross one are removed.
    pub barriers: Vec<Vec<(f64, f64)>>,
}

impl ZoningProblem {
    /// Builds the instance of `stage` from a dataset: open public schools of the stage, after
    /// `edits`; `locked` block ids keep their current zone.
    pub fn from_dataset(
        data: &Dataset,
        stage: Stage,
        demand: &Demand,
        edits: &SchoolEdits,
        locked: &[String],
    ) -> Result<ZoningProblem, ZoningError> {
        let city = &data.city;
        if demand.per_block().len() != city.blocks.len() {
            return Err(ZoningError::DemandMismatch {
                got: demand.per_block().len(),
                expected: city.blocks.len(),
            });
        }
        let stage_name = stage.as_str().to_string();
        let stage_school = |id: &str| {
            city.school(id).filter(|&i| {
                city.schools[i as usize].stage == stage && city.schools[i as usize].sector == Sector::Public
            })
        };
        let mut closed = BTreeSet::new();
        for id in &edits.close {
            let i = stage_school(id).ok_or_else(|| ZoningError::UnknownSchool {
                id: id.clone(),
                context: "close".into(),
                stage: stage_name.clone(),
                fix: "name a public school of the stage being zoned".into(),
            })?;
            closed.insert(i);
        }
        let mut capacity: HashMap<u32, u32> = HashMap::new();
        for (id, c) in &edits.capacity {
            let i = stage_school(id).ok_or_else(|| ZoningError::UnknownSchool {
                id: id.clone(),
                context: "capacity".into(),
                stage: stage_name.clone(),
                fix: "name a public school of the stage being zoned".into(),
            })?;
            capacity.insert(i, *c);
        }
        let mut districts = city.districts.clone();
        let mut schools = Vec::new();
        let mut city_to_problem = vec![u32::MAX; city.schools.len()];
        for (i, s) in city.schools.iter().enumerate() {
            let i = i as u32;
            if s.stage != stage || s.sector != Sector::Public || closed.contains(&i) {
                continue;
            }
            // A school opening later takes part only if the planner edits its capacity.
            if !s.is_open(data.scenario.year) && !capacity.contains_key(&i) {
                continue;
            }
            city_to_problem[i as usize] = schools.len() as u32;
            schools.push(ZoneSchool {
                id: s.id.clone(),
                name: s.name.clone(),
                district: s.district,
                location: s.location,
                capacity: capacity.get(&i).copied().unwrap_or(s.capacity),
                city_index: Some(i),
            });
        }
        for n in &edits.open {
            let bad = |what: &str, value: String, fix: &str| ZoningError::BadParameter {
                name: format!("open.{}{what}", n.school_id),
                value,
                fix: fix.into(),
            };
            if n.stage.is_some_and(|s| s != stage) {
                return Err(bad(
                    ".stage",
                    n.stage.map(|s| s.to_string()).unwrap_or_default(),
                    "open only schools of the stage being zoned (or leave stage out)",
                ));
            }
            if n.sector != Sector::Public {
                return Err(bad(
                    ".sector",
                    n.sector.as_str().to_string(),
                    "zoning draws the zones of public schools: leave sector out or set it to public",
                ));
            }
            if !n.zone_blocks.is_empty() {
                return Err(bad(
                    ".zone_blocks",
                    n.zone_blocks.join(", "),
                    "zoning draws the zones itself: leave zone_blocks out (keep a block's zone with locked)",
                ));
            }
            let Some(capacity) = n.seats(stage) else {
                return Err(bad(
                    ".capacity",
                    String::new(),
                    "give capacity (or classes and class_size)",
                ));
            };
            if city.school(&n.school_id).is_some() || schools.iter().any(|s| s.id == n.school_id) {
                return Err(ZoningError::BadParameter {
                    name: format!("open.{}", n.school_id),
                    value: n.school_id.clone(),
                    fix:
                        "give the new school an id not used in schools.csv (edit an existing school's capacity instead)"
                            .into(),
                });
            }
            if !(n.lon.is_finite()
                && n.lat.is_finite()
                && (-180.0..=180.0).contains(&n.lon)
                && (-90.0..=90.0).contains(&n.lat))
            {
                return Err(ZoningError::BadParameter {
                    name: format!("open.{}.lon/lat", n.school_id),
                    value: format!("{}, {}", n.lon, n.lat),
                    fix: "give longitude in -180..180 and latitude in -90..90".into(),
                });
            }
            let district = match districts.iter().position(|d| d == &n.district) {
                Some(d) => d as u32,
                None => {
                    return Err(ZoningError::UnknownDistrict {
                        id: n.school_id.clone(),
                        district: n.district.clone(),
                        known: districts.join(", "),
                    });
                }
            };
            let (lon, lat) = data.scenario.crs.to_wgs84(n.lon, n.lat);
            schools.push(ZoneSchool {
                id: n.school_id.clone(),
                name: n.display_name().to_string(),
                district,
                location: Location::from_wgs84(lon, lat),
                capacity,
                city_index: None,
            });
        }
        districts.shrink_to_fit();
        if schools.is_empty() {
            return Err(ZoningError::NoSchools { stage: stage_name });
        }
        let mut locked_set = vec![false; city.blocks.len()];
        for id in locked {
            let b = city.block(id).ok_or_else(|| ZoningError::UnknownBlock {
                id: id.clone(),
                context: "locked".into(),
            })?;
            locked_set[b as usize] = true;
        }
        let zones = city.zones(stage);
        let mut pairs = Vec::new();
        for b in 0..city.blocks.len() as u32 {
            for &s in zones.schools_of(b) {
                let p = city_to_problem.get(s as usize).copied().unwrap_or(u32::MAX);
                if p != u32::MAX {
                    pairs.push((b, p));
                }
            }
        }
        let current = StageZones::from_pairs(city.blocks.len(), &pairs);
        // A lock keeps the current zone; a block whose current schools all closed has none
        // to keep, so its lock lapses.
        let blocks = city
            .blocks
            .iter()
            .enumerate()
            .map(|(i, b)| ZoneBlock {
                id: b.id.clone(),
                district: b.district,
                location: b.location,
                demand: demand.per_block()[i],
                locked: locked_set[i] && !current.schools_of(i as u32).is_empty(),
            })
            .collect::<Vec<_>>();
        let mut problem = ZoningProblem {
            stage,
            districts,
            current,
            schools,
            blocks,
            distances: Distances::StraightLine,
            barriers: Vec::new(),
        };
        if data.spatial.kind() == crate::spatial::DistanceKind::Matrix && data.distances.is_some() {
            // The same table as from the dataset's matrix spatial layer, counted straight from
            // the pairs.
            problem.use_matrix(data)?;
        } else {
            problem.use_spatial(&data.spatial);
        }
        Ok(problem)
    }

    /// Checks the instance's own consistency (useful when a caller builds it by hand): zone
    /// schools and districts exist, the current zones cover the blocks, coordinates are finite.
    pub fn validate(&self) -> Result<(), ZoningError> {
        let bad = |name: &str, value: String, fix: &str| {
            Err(ZoningError::BadParameter {
                name: name.to_string(),
                value,
                fix: fix.to_string(),
            })
        };
        if self.schools.is_empty() {
            return Err(ZoningError::NoSchools {
                stage: self.stage.as_str().to_string(),
            });
        }
        for b in 0..self.blocks.len() as u32 {
            if let Some(&s) = self
                .current
                .schools_of(b)
                .iter()
                .find(|&&s| s as usize >= self.schools.len())
            {
                return bad(
                    "current",
                    format!("block {} → school {s}", self.blocks[b as usize].id),
                    "build current zones from indices into ZoningProblem::schools",
                );
            }
        }
        let finite = |l: &Location| l.lon.is_finite() && l.lat.is_finite() && l.ecef.iter().all(|x| x.is_finite());
        if let Some(b) = self.blocks.iter().find(|b| !finite(&b.location)) {
            return bad("block location", b.id.clone(), "give finite WGS84 coordinates");
        }
        if let Some(s) = self.schools.iter().find(|s| !finite(&s.location)) {
            return bad("school location", s.id.clone(), "give finite WGS84 coordinates");
        }
        if let Distances::Table(t) = &self.distances {
            let rows =
                (0..self.blocks.len() as u32).all(|b| t.row(b).0.iter().all(|&s| (s as usize) < self.schools.len()));
            if !rows {
                return bad(
                    "distances",
                    "table".into(),
                    "build the distance table over this problem's blocks and schools",
                );
            }
        }
        Ok(())
    }

    /// Switches to the scenario's `distances.csv` matrix (pairs it lacks are unreachable).
    pub fn use_matrix(&mut self, data: &Dataset) -> Result<(), ZoningError> {
        let Some(matrix) = &data.distances else {
            return Err(ZoningError::NoDistances(
                "the distance source is matrix but the scenario has no distances.csv (fix: add distances.csv beside the scenario or set [inputs] distances)".into(),
            ));
        };
        if self.schools.iter().all(|s| s.city_index.is_some()) {
            // Every school is the city's: the table comes straight from the pairs.
            let mut problem_school = vec![u32::MAX; data.city.schools.len()];
            for (p, s) in self.schools.iter().enumerate() {
                if let Some(slot) = s.city_index.and_then(|c| problem_school.get_mut(c as usize)) {
                    *slot = p as u32;
                }
            }
            self.distances = Distances::Table(DistanceTable::from_pairs_mm(
                || matrix.iter_mm(),
                &problem_school,
                self.blocks.len(),
            ));
        } else {
            self.use_spatial(&crate::spatial::Spatial::matrix(&data.city, matrix));
        }
        Ok(())
    }

    /// Takes distances from a [`crate::spatial::Spatial`] built over the scenario's city (the
    /// dataset's own is used by [`ZoningProblem::from_dataset`]).
    pub fn use_spatial(&mut self, spatial: &crate::spatial::Spatial) {
        let city_school: Vec<Option<u32>> = self.schools.iter().map(|s| s.city_index).collect();
        let locations: Vec<Location> = self.schools.iter().map(|s| s.location).collect();
        self.distances = Distances::from_spatial(spatial, self.blocks.len(), &city_school, &locations);
    }

    /// The distance from a block to a school in metres, `None` if unreachable.
    pub fn metres(&self, block: u32, school: u32) -> Option<u32> {
        self.distances.metres(&self.blocks, &self.schools, block, school)
    }

    /// True when `school` is in the block's current zone.
    pub fn is_current(&self, block: u32, school: u32) -> bool {
        self.current.contains(block, school)
    }

    /// True when the block has a current zone (so moving it counts as a move).
    pub fn has_current(&self, block: u32) -> bool {
        !self.current.schools_of(block).is_empty()
    }

    /// Children in blocks that have a current zone (the base of the moved share).
    pub fn movable_children(&self) -> u64 {
        (0..self.blocks.len() as u32)
            .filter(|&b| self.has_current(b))
            .map(|b| self.blocks[b as usize].demand as u64)
            .sum()
    }

    /// Total children.
    pub fn total_demand(&self) -> u64 {
        self.blocks.iter().map(|b| b.demand as u64).sum()
    }

    /// Metres from block to school if the planner allows the pair: a locked block only keeps
    /// its current schools; otherwise the pair must be reachable, within the maximum
    /// distance (the current school is exempt) and, if asked, in the same district.
    pub fn allowed_metres(&self, params: &ZoningParams, block: u32, school: u32) -> Option<u32> {
        self.allowed_move(params, block, school).map(|(m, _)| m)
    }

    /// [`allowed_metres`](Self::allowed_metres) and whether the pair moves the block out of
    /// its current zone (it has one and `school` is not in it), from one look at the block's
    /// current schools: the repair prices hundreds of thousands of pairs this way.
    pub(crate) fn allowed_move(&self, params: &ZoningParams, block: u32, school: u32) -> Option<(u32, bool)> {
        let m = self.metres(block, school)?;
        self.allowed_move_at(params, block, school, m)
    }

    /// [`allowed_move`](Self::allowed_move) for a pair whose metres `m` the caller already
    /// read (from the block's row of the distance table).
    pub(crate) fn allowed_move_at(
        &self,
        params: &ZoningParams,
        block: u32,
        school: u32,
        m: u32,
    ) -> Option<(u32, bool)> {
        let b = &self.blocks[block as usize];
        let current_schools = self.current.schools_of(block);
        let current = current_schools.contains(&school);
        if b.locked && !current {
            return None;
        }
        if current {
            return Some((m, false));
        }
        if params.within_district && self.schools[school as usize].district != b.district {
            return None;
        }
        if let Some(max) = params.max_distance_m
            && m > max
        {
            return None;
        }
        Some((m, !current_schools.is_empty()))
    }

    /// Seats a school may fill under the utilisation band's high edge.
    pub fn limit(&self, params: &ZoningParams, school: u32) -> i64 {
        (self.schools[school as usize].capacity as f64 * params.utilisation.1).floor() as i64
    }

    /// Seats below the band's low edge.
    pub fn floor(&self, params: &ZoningParams, school: u32) -> i64 {
        ((self.schools[school as usize].capacity as f64 * params.utilisation.0).ceil() as i64)
            .min(self.limit(params, school))
    }
}
