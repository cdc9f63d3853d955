//! The answers of the enrollment-season service (`xuequ serve`): which school serves an
//! address, a block's zone, 小区 search, one applicant's explanation, admission odds and a
//! school's figures, as JSON.
//!
//! [`ServiceData`] is built once from a scenario (and optionally a finished run's folder with
//! its risk tables) and is then read-only: every answer is a lookup in memory. The HTTP layer
//! only routes: [`params::parse_request`] turns a path and query string into a typed
//! [`Request`], [`ServiceData::answer`] turns that into a JSON body or a [`QueryError`]
//! (400 for a bad parameter, 404 for an unknown id; never a server error for bad input).
//!
//! The allocation is recomputed from the scenario at load (the engine is deterministic:
//! with the run's seed, it is the run's). Given a run's folder, its `manifest.json` seed is
//! used and its `assignments.csv` must equal the recomputed one, so the explanations served
//! are those of the published results; its `risk_*.csv` (from `xuequ run --lotteries N`)
//! give the odds.

pub mod params;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rstar::RTree;
use rstar::primitives::GeomWithData;
use serde_json::{Value, json};

use crate::allocate::{Allocation, Via};
use crate::crs::Crs;
use crate::explain::{Cutoffs, ExplainError, Explanation};
use crate::load::Dataset;
use crate::model::{Location, Stage};
use crate::names::NameIndex;
use crate::output::SchoolRow;
use crate::zoning::{Adjacency, Demand, SchoolEdits, ZoneIndex, ZoningError, ZoningProblem};

pub use params::{LookupRequest, Request};

/// An answer that is not a result: the HTTP status, a stable code and a message saying
/// what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// HTTP status: 400 bad request, 404 unknown id or path, 405 method, 413/414 too large.
    pub status: u16,
    /// A stable machine-readable code, e.g. `bad_parameter`, `unknown_block`.
    pub code: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl QueryError {
    /// A 400 answer.
    pub fn bad(code: &'static str, message: impl Into<String>) -> QueryError {
        QueryError {
            status: 400,
            code,
            message: message.into(),
        }
    }

    /// A 404 answer.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> QueryError {
        QueryError {
            status: 404,
            code,
            message: message.into(),
        }
    }

    /// The JSON body: `{"error": {"status", "code", "message"}}`.
    pub fn to_json(&self) -> Vec<u8> {
        let v = json!({"error": {"status": self.status, "code": self.code, "message": self.message}});
        serde_json::to_vec(&v).unwrap_or_default()
    }
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for QueryError {}

/// How to build the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOptions {
    /// A finished run's output folder (`xuequ run --out`), for its seed, its assignments
    /// check and its risk tables.
    pub results: Option<PathBuf>,
    /// Radius in metres bounding each block's cell in address lookups (as `xuequ lookup`).
    pub cell_radius_m: u32,
    /// Plausibility warnings are errors (`--strict`).
    pub strict: bool,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            results: None,
            cell_radius_m: 2000,
            strict: false,
        }
    }
}

/// Building the data failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The scenario could not be loaded.
    #[error(transparent)]
    Load(#[from] crate::LoadError),
    /// The zone polygons for address lookup could not be built.
    #[error(transparent)]
    Zoning(#[from] ZoningError),
    /// A file of the results folder could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file of the results folder is missing columns or does not fit the scenario.
    #[error("{file}: {message}")]
    Results {
        /// The file.
        file: String,
        /// What is wrong, with the fix.
        message: String,
    },
}

fn results_error(file: &Path, message: impl Into<String>) -> ServiceError {
    ServiceError::Results {
        file: file.display().to_string(),
        message: message.into(),
    }
}

/// One stage's address lookup: the zone polygons' index and its schools' city indices.
struct StageLookup {
    stage: Stage,
    index: Option<ZoneIndex>,
    schools: Vec<Option<u32>>,
}

/// Shares from `risk_applicants.csv`: zone school, first choice, unplaced.
type Shares = [f64; 3];

/// One row of `risk_blocks.csv`.
#[derive(Debug, Clone, PartialEq)]
struct BlockOdds {
    applicants: u32,
    mean: f64,
    min: f64,
}

/// The Monte Carlo tables of a run (`risk_*.csv`).
#[derive(Debug, Clone, Default)]
struct RiskTables {
    /// Per cohort index.
    applicants: HashMap<u32, Shares>,
    /// Per (block, stage).
    blocks: HashMap<(u32, Stage), BlockOdds>,
    /// Per school index: the row's cells by header name.
    schools: HashMap<u32, Value>,
}

/// Everything the service answers from, built once and then only read.
pub struct ServiceData {
    data: Dataset,
    allocation: Allocation,
    cutoffs: Cutoffs,
    lookups: Vec<StageLookup>,
    blocks: RTree<GeomWithData<[f64; 3], u32>>,
    names: NameIndex,
    schools: HashMap<u32, SchoolRow>,
    /// Per (block, stage): (stage allocation index, member) of its applicants.
    members: HashMap<(u32, Stage), Vec<(usize, usize)>>,
    risk: Option<RiskTables>,
    options: ServiceOptions,
    scenario_file: PathBuf,
}

impl std::fmt::Debug for ServiceData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceData")
            .field("scenario", &self.scenario_file)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The zone polygons of the scenario's zones for one stage and their index (what
/// `xuequ lookup` answers from); `None` when the stage has no schools.
pub fn zone_index(
    data: &Dataset,
    stage: Stage,
    cell_radius_m: u32,
) -> Result<Option<(ZoningProblem, ZoneIndex)>, ZoningError> {
    let demand = Demand::from_counts(vec![0; data.city.blocks.len()]);
    let problem = match ZoningProblem::from_dataset(data, stage, &demand, &SchoolEdits::default(), &[]) {
        Ok(p) => p,
        Err(ZoningError::NoSchools { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let adjacency = Adjacency::delaunay(&problem, None);
    let polygons = crate::zoning::current_zone_polygons(&problem, &adjacency, cell_radius_m);
    let index = ZoneIndex::new(&polygons);
    Ok(Some((problem, index)))
}

/// A share written with 4 decimals, as the risk tables write it, as a JSON number.
fn share4(x: f64) -> f64 {
    format!("{x:.4}").parse().unwrap_or(x)
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, ServiceError> {
    let mut bytes = std::fs::read(path).map_err(|source| ServiceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    Ok(bytes)
}

/// A CSV row: its line and its cells by header name.
type Row = (u64, HashMap<String, String>);

/// The rows of a CSV file.
fn read_table(path: &Path) -> Result<Vec<Row>, ServiceError> {
    let bytes = read_bytes(path)?;
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes.as_slice());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| results_error(path, format!("line 1: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let record = record.map_err(|e| results_error(path, format!("line {line}: {e}")))?;
        let cells = header.iter().cloned().zip(record.iter().map(str::to_string)).collect();
        rows.push((line, cells));
    }
    Ok(rows)
}

fn cell<'a>(path: &Path, line: u64, row: &'a HashMap<String, String>, column: &str) -> Result<&'a str, ServiceError> {
    row.get(column).map(String::as_str).ok_or_else(|| {
        results_error(
            path,
            format!("line {line}: no column {column} (fix: use the file as `xuequ run --lotteries N` wrote it)"),
        )
    })
}

fn number<T: std::str::FromStr>(
    path: &Path,
    line: u64,
    row: &HashMap<String, String>,
    column: &str,
) -> Result<T, ServiceError> {
    let text = cell(path, line, row, column)?;
    text.trim().parse().map_err(|_| {
        results_error(
            path,
            format!("line {line}, column {column}: \"{text}\" is not a number (fix: rerun `xuequ run --lotteries N`)"),
        )
    })
}

impl ServiceData {
    /// Loads the scenario, allocates it, builds the lookup indices and reads the results
    /// folder, if any.
    pub fn load(scenario_file: &Path, options: ServiceOptions) -> Result<ServiceData, ServiceError> {
        let mut scenario = crate::Scenario::load(scenario_file)?;
        scenario.strict |= options.strict;
        let mut data = Dataset::load_scenario(scenario)?;
        if let Some(dir) = &options.results {
            let path = dir.join(crate::io::output_set::MANIFEST);
            let manifest: crate::io::output_set::Manifest =
                serde_json::from_slice(&read_bytes(&path)?).map_err(|e| {
                    results_error(
                        &path,
                        format!("not a run's manifest ({e}) (fix: give the folder `xuequ run --out` wrote)"),
                    )
                })?;
            if manifest.command != "run" {
                return Err(results_error(
                    &path,
                    format!(
                        "written by `xuequ {}`, not `xuequ run` (fix: give the folder of a run)",
                        manifest.command
                    ),
                ));
            }
            if let Some(seed) = manifest.seed {
                data.policy.seed = seed;
            }
        }
        let allocation = crate::allocate(&data);
        let risk = match &options.results {
            Some(dir) => {
                check_assignments(dir, &data, &allocation)?;
                read_risk(dir, &data)?
            }
            None => None,
        };
        let mut lookups = Vec::new();
        for &stage in &data.scenario.stages {
            let (index, schools) = match zone_index(&data, stage, options.cell_radius_m)? {
                Some((problem, index)) => (Some(index), problem.schools.iter().map(|s| s.city_index).collect()),
                None => (None, Vec::new()),
            };
            lookups.push(StageLookup { stage, index, schools });
        }
        let blocks = RTree::bulk_load(
            data.city
                .blocks
                .iter()
                .enumerate()
                .map(|(i, b)| GeomWithData::new(b.location.ecef, i as u32))
                .collect(),
        );
        let names = NameIndex::new(&data.city);
        let schools = crate::output::school_rows(&data, &allocation)
            .into_iter()
            .map(|r| (r.school, r))
            .collect();
        let mut members: HashMap<(u32, Stage), Vec<(usize, usize)>> = HashMap::new();
        for (si, st) in allocation.stages.iter().enumerate() {
            for (m, &i) in st.members.iter().enumerate() {
                let block = data.cohort.students[i as usize].block;
                members.entry((block, st.stage)).or_default().push((si, m));
            }
        }
        let cutoffs = Cutoffs::new(&allocation);
        Ok(ServiceData {
            data,
            allocation,
            cutoffs,
            lookups,
            blocks,
            names,
            schools,
            members,
            risk,
            options,
            scenario_file: scenario_file.to_path_buf(),
        })
    }

    /// The loaded dataset.
    pub fn dataset(&self) -> &Dataset {
        &self.data
    }

    /// The allocation answers are made from.
    pub fn allocation(&self) -> &Allocation {
        &self.allocation
    }

    /// True when odds can be answered (the results folder had risk tables).
    pub fn has_odds(&self) -> bool {
        self.risk.is_some()
    }

    /// Answers a request as a JSON body.
    pub fn answer(&self, request: &Request) -> Result<Vec<u8>, QueryError> {
        let value = match request {
            Request::Lookup(LookupRequest::Point { lon, lat, crs, stage }) => {
                self.lookup_point(*lon, *lat, *crs, *stage)?
            }
            Request::Lookup(LookupRequest::Block { id, stage }) => self.lookup_block(id, *stage)?,
            Request::Search { q, limit } => self.search(q, *limit),
            Request::Explain { id } => self.explain(id)?,
            Request::Odds { block, stage, tier } => self.odds(block, *stage, tier.as_deref())?,
            Request::School { id } => self.school(id)?,
            Request::Info => self.info(),
        };
        serde_json::to_vec(&value).map_err(|e| QueryError {
            status: 500,
            code: "internal",
            message: format!("cannot write the answer: {e}"),
        })
    }

    fn stages_asked(&self, stage: Option<Stage>) -> Result<Vec<Stage>, QueryError> {
        match stage {
            None => Ok(self.data.scenario.stages.clone()),
            Some(s) if self.data.scenario.stages.contains(&s) => Ok(vec![s]),
            Some(s) => Err(QueryError::bad(
                "bad_parameter",
                format!(
                    "stage {s} is not allocated by this scenario (fix: use one of {})",
                    self.stage_list()
                ),
            )),
        }
    }

    fn stage_list(&self) -> String {
        let names: Vec<&str> = self.data.scenario.stages.iter().map(|s| s.as_str()).collect();
        names.join(", ")
    }

    fn school_json(&self, school: u32, metres: Option<u32>) -> Value {
        let s = &self.data.city.schools[school as usize];
        json!({
            "school_id": s.id,
            "name": s.name,
            "district": self.data.city.districts[s.district as usize],
            "sector": s.sector.as_str(),
            "distance_m": metres,
        })
    }

    fn block_json(&self, block: u32) -> Value {
        let b = &self.data.city.blocks[block as usize];
        json!({
            "block_id": b.id,
            "name": b.name,
            "district": self.data.city.districts[b.district as usize],
            "lon": b.location.lon,
            "lat": b.location.lat,
        })
    }

    /// Which school(s) serve a point, by the zone polygons (`xuequ lookup --lon --lat`),
    /// with the block whose cell holds it and each school's distance by the scenario's
    /// source. `crs` defaults to the scenario's.
    pub fn lookup_point(
        &self,
        lon: f64,
        lat: f64,
        crs: Option<Crs>,
        stage: Option<Stage>,
    ) -> Result<Value, QueryError> {
        crate::crs::check_lon_lat(lon, lat).map_err(|m| QueryError::bad("bad_coordinates", m))?;
        let crs = crs.unwrap_or(self.data.scenario.crs);
        let (wlon, wlat) = crs.to_wgs84(lon, lat);
        let here = Location::from_wgs84(wlon, wlat);
        let stages = self.stages_asked(stage)?;
        // The block whose cell holds the point: cells are the blocks' nearest-site regions
        // bounded by the cell radius.
        let block = self.blocks.nearest_neighbor(&here.ecef).and_then(|b| {
            let metres = crate::crs::arc_metres(b.geom().to_owned(), here.ecef);
            (metres <= f64::from(self.options.cell_radius_m)).then_some((b.data, metres.round() as u32))
        });
        let mut answers = Vec::new();
        for stage in stages {
            let mut schools = Vec::new();
            if let Some(l) = self.lookups.iter().find(|l| l.stage == stage)
                && let Some(index) = &l.index
            {
                for hit in index.lookup(wlon, wlat) {
                    let Some(city) = l.schools.get(hit as usize).copied().flatten() else {
                        continue;
                    };
                    let metres = self
                        .data
                        .spatial
                        .school_to_point_mm(city, &here)
                        .map(crate::spatial::metres_of_mm);
                    schools.push(self.school_json(city, metres));
                }
            }
            answers.push(json!({"stage": stage.as_str(), "stage_zh": stage.chinese(), "schools": schools}));
        }
        let (block_value, district) = match block {
            Some((b, metres)) => {
                let mut v = self.block_json(b);
                v["distance_m"] = json!(metres);
                let d = &self.data.city.districts[self.data.city.blocks[b as usize].district as usize];
                (v, Value::from(d.as_str()))
            }
            None => (Value::Null, Value::Null),
        };
        Ok(json!({
            "lon": lon,
            "lat": lat,
            "crs": crs_name(crs),
            "wgs84": [wlon, wlat],
            "block": block_value,
            "district": district,
            "distance": self.data.spatial.kind().as_str(),
            "stages": answers,
        }))
    }

    fn block_index(&self, id: &str) -> Result<u32, QueryError> {
        self.data.city.block(id).ok_or_else(|| {
            QueryError::not_found(
                "unknown_block",
                format!("no block has block_id \"{id}\" (fix: use an id from blocks.csv, or /v1/search?q=小区名)"),
            )
        })
    }

    /// A block's zone schools per stage, from the scenario's zones, with distances.
    pub fn lookup_block(&self, id: &str, stage: Option<Stage>) -> Result<Value, QueryError> {
        let b = self.block_index(id)?;
        let stages = self.stages_asked(stage)?;
        let answers: Vec<Value> = stages
            .iter()
            .map(|&stage| json!({"stage": stage.as_str(), "stage_zh": stage.chinese(), "schools": self.zone_schools(b, stage)}))
            .collect();
        let block = &self.data.city.blocks[b as usize];
        Ok(json!({
            "block": self.block_json(b),
            "district": self.data.city.districts[block.district as usize],
            "distance": self.data.spatial.kind().as_str(),
            "stages": answers,
        }))
    }

    fn zone_schools(&self, block: u32, stage: Stage) -> Vec<Value> {
        self.data.city.zones[stage.index()]
            .schools_of(block)
            .iter()
            .map(|&s| self.school_json(s, self.data.spatial.metres(s, block)))
            .collect()
    }

    /// Blocks whose name fits `q` (the 小区 name matching of [`crate::names`]), best first,
    /// each with its zone schools.
    pub fn search(&self, q: &str, limit: usize) -> Value {
        let results: Vec<Value> = self
            .names
            .search(q, limit)
            .into_iter()
            .map(|(b, kind)| {
                let mut v = self.block_json(b);
                v["match"] = json!(kind.as_str());
                let zones: Vec<Value> = self
                    .data
                    .scenario
                    .stages
                    .iter()
                    .map(|&stage| json!({"stage": stage.as_str(), "schools": self.zone_schools(b, stage)}))
                    .collect();
                v["zones"] = json!(zones);
                v
            })
            .collect();
        json!({"query": q, "results": results})
    }

    /// One applicant's explanation (the content of `xuequ explain`; `text` is its output).
    pub fn explain(&self, id: &str) -> Result<Value, QueryError> {
        let e = crate::explain::explain_with(&self.data, &self.allocation, &self.cutoffs, id).map_err(|e| match e {
            ExplainError::UnknownStudent(_) => QueryError::not_found("unknown_applicant", e.to_string()),
            ExplainError::StageNotAllocated(..) => QueryError::not_found("stage_not_allocated", e.to_string()),
        })?;
        Ok(explanation_json(&e))
    }

    /// Admission odds of a block's applicants of one stage from the run's Monte Carlo tables:
    /// the block's row of `risk_blocks.csv`, and per tier (each applicant's tier at their
    /// zone school) the mean and least of their `risk_applicants.csv` shares. With `tier`,
    /// the figures of that tier's applicants only.
    pub fn odds(&self, block_id: &str, stage: Stage, tier: Option<&str>) -> Result<Value, QueryError> {
        let b = self.block_index(block_id)?;
        self.stages_asked(Some(stage))?;
        let risk = self.risk.as_ref().ok_or_else(|| {
            QueryError::not_found(
                "no_odds",
                "this service has no risk tables (fix: start it with --results DIR of `xuequ run --lotteries N`)",
            )
        })?;
        let members = self.members.get(&(b, stage)).map(Vec::as_slice).unwrap_or(&[]);
        // Per tier: applicants, sum and least of each share.
        let mut tiers: Vec<(String, u32, Shares, Shares)> = Vec::new();
        for &(si, m) in members {
            let st = &self.allocation.stages[si];
            let Some(shares) = risk.applicants.get(&st.members[m]) else {
                continue;
            };
            let name = zone_tier(st, m);
            let at = match tiers.iter().position(|t| t.0 == name) {
                Some(k) => k,
                None => {
                    tiers.push((name, 0, [0.0; 3], [f64::INFINITY; 3]));
                    tiers.len() - 1
                }
            };
            let t = &mut tiers[at];
            t.1 += 1;
            for (k, &share) in shares.iter().enumerate() {
                t.2[k] += share;
                t.3[k] = t.3[k].min(share);
            }
        }
        let figures = |n: u32, sum: &Shares, min: &Shares| {
            json!({
                "applicants": n,
                "p_zone_school_mean": share4(sum[0] / f64::from(n)),
                "p_zone_school_min": share4(min[0]),
                "p_first_choice_mean": share4(sum[1] / f64::from(n)),
                "p_unplaced_mean": share4(sum[2] / f64::from(n)),
            })
        };
        let by_tier: Vec<Value> = tiers
            .iter()
            .map(|(name, n, sum, min)| {
                let mut v = figures(*n, sum, min);
                v["tier"] = json!(name);
                v
            })
            .collect();
        let overall = match risk.blocks.get(&(b, stage)) {
            Some(o) => json!({"applicants": o.applicants, "p_zone_school_mean": o.mean, "p_zone_school_min": o.min}),
            None => json!({"applicants": 0, "p_zone_school_mean": null, "p_zone_school_min": null}),
        };
        let mut answer = json!({
            "block": self.block_json(b),
            "stage": stage.as_str(),
            "zone_schools": self.zone_schools(b, stage),
            "overall": overall,
            "tiers": by_tier,
        });
        if let Some(want) = tier {
            let want = want.trim();
            let known = self
                .allocation
                .stages
                .iter()
                .find(|st| st.stage == stage)
                .is_some_and(|st| st.tier_names.iter().any(|t| t == want))
                || tiers.iter().any(|t| t.0 == want)
                || want == NO_ZONE_SCHOOL;
            if !known {
                let names: Vec<String> = self
                    .allocation
                    .stages
                    .iter()
                    .filter(|st| st.stage == stage)
                    .flat_map(|st| st.tier_names.iter().cloned())
                    .collect();
                return Err(QueryError::bad(
                    "bad_parameter",
                    format!(
                        "tier \"{want}\" is not a tier of {stage} (fix: use one of {}, {NO_ZONE_SCHOOL})",
                        names.join(", ")
                    ),
                ));
            }
            answer["tier"] = json!(want);
            answer["selected"] = match tiers.iter().find(|t| t.0 == want) {
                Some((_, n, sum, min)) => figures(*n, sum, min),
                None => json!({"applicants": 0}),
            };
        }
        Ok(answer)
    }

    /// A school's seats, placements, cutoff, utilisation and 学位预警 level (its row of
    /// `schools_summary.csv`), with its `risk_schools.csv` row when there are risk tables;
    /// a school admitting nobody this year (closed, opening later, or of a stage not
    /// allocated) answers `admitting: false` with its facts only.
    pub fn school(&self, id: &str) -> Result<Value, QueryError> {
        let s = self.data.city.school_index.get(id).copied().ok_or_else(|| {
            QueryError::not_found(
                "unknown_school",
                format!("no school has school_id \"{id}\" (fix: use an id from schools.csv)"),
            )
        })?;
        let school = &self.data.city.schools[s as usize];
        let Some(r) = self.schools.get(&s) else {
            // Known but admitting nobody this year: closed, opening later, or of a stage the
            // scenario does not allocate. Its facts, and no figures.
            return Ok(json!({
                "school_id": school.id,
                "name": school.name,
                "district": self.data.city.districts[school.district as usize],
                "stage": school.stage.as_str(),
                "sector": school.sector.as_str(),
                "capacity": school.capacity,
                "admitting": false,
                "closed": school.closed,
                "opens_year": school.opens_year,
            }));
        };
        let thresholds = self.data.policy.seat_warning;
        let level = thresholds.level(u64::from(r.first_choice_applicants), u64::from(r.capacity));
        let ratio = |a: u32| (r.capacity > 0).then(|| share4(f64::from(a) / f64::from(r.capacity)));
        let odds = self
            .risk
            .as_ref()
            .and_then(|risk| risk.schools.get(&s).cloned())
            .unwrap_or(Value::Null);
        Ok(json!({
            "school_id": school.id,
            "name": school.name,
            "district": self.data.city.districts[school.district as usize],
            "stage": school.stage.as_str(),
            "sector": school.sector.as_str(),
            "admitting": true,
            "capacity": r.capacity,
            "assigned": r.assigned,
            "vacancies": r.vacancies,
            "utilisation": ratio(r.assigned),
            "applicants": r.applicants,
            "first_choice_applicants": r.first_choice_applicants,
            "demand_ratio": ratio(r.first_choice_applicants),
            "cutoff": {
                "tier": r.cutoff_tier,
                "lottery": r.cutoff_lottery,
                "points": r.cutoff_points.filter(|p| p.is_finite()),
            },
            "warning": {"level": level.as_str(), "zh": level.chinese()},
            "odds": odds,
        }))
    }

    /// What is loaded.
    pub fn info(&self) -> Value {
        let d = &self.data;
        json!({
            "scenario": d.scenario.name,
            "year": d.scenario.year,
            "crs": crs_name(d.scenario.crs),
            "stages": d.scenario.stages.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "districts": d.city.districts.len(),
            "schools": d.city.schools.len(),
            "blocks": d.city.blocks.len(),
            "applicants": d.cohort.students.len(),
            "distance": d.spatial.kind().as_str(),
            "mechanism": d.policy.mechanism.as_str(),
            "seed": d.policy.seed,
            "results": self.options.results.as_ref().map(|p| p.display().to_string()),
            "odds": self.risk.is_some(),
            "cell_radius_m": self.options.cell_radius_m,
        })
    }
}

/// The tier label of applicants without a zone school on their list.
pub const NO_ZONE_SCHOOL: &str = "无对口学校";

/// A member's tier at their first zone school (the tier that decides a zone seat).
fn zone_tier(st: &crate::allocate::StageAllocation, m: usize) -> String {
    st.list(m)
        .iter()
        .find(|e| e.via == Via::Zone)
        .map_or(NO_ZONE_SCHOOL.to_string(), |e| {
            st.tier_name(st.programs[e.program as usize].kind, u32::from(e.tier))
                .to_string()
        })
}

fn crs_name(crs: Crs) -> &'static str {
    match crs {
        Crs::Wgs84 => "wgs84",
        Crs::Gcj02 => "gcj02",
        Crs::Bd09 => "bd09",
    }
}

/// An explanation as JSON, with `text` the output of `xuequ explain`.
pub fn explanation_json(e: &Explanation) -> Value {
    let choices: Vec<Value> = e
        .choices
        .iter()
        .map(|c| {
            json!({
                "rank": c.rank,
                "school_id": c.school_id,
                "school_name": c.school_name,
                "via": c.via,
                "distance_m": (c.distance_m != crate::allocate::UNKNOWN_DISTANCE).then_some(c.distance_m),
                "straight_m": c.straight_m,
                "tier": c.tier,
                "lottery": c.lottery,
                "capacity": c.capacity,
                "cutoff": c.cutoff.as_ref().map(|(t, l)| json!({"tier": t, "lottery": l})),
                "outcome": c.outcome,
            })
        })
        .collect();
    json!({
        "student_id": e.student_id,
        "stage": e.stage,
        "block": e.block,
        "migrant": e.migrant.map(|(eligible, points)| json!({"eligible": eligible, "points": points})),
        "seat_locked": e.seat_locked,
        "lottery": e.lottery,
        "mechanism": e.mechanism,
        "distance": e.distance,
        "choices": choices,
        "result": e.result,
        "text": e.to_string(),
    })
}

/// Checks that the folder's `assignments.csv` is this allocation's (same inputs and seed).
fn check_assignments(dir: &Path, data: &Dataset, allocation: &Allocation) -> Result<(), ServiceError> {
    let path = dir.join("assignments.csv");
    let on_disk = read_bytes(&path)?;
    let mine = crate::output::assignments_csv(data, allocation, crate::WriteOptions { bom: false });
    if on_disk != mine {
        let line = on_disk
            .split(|&c| c == b'\n')
            .zip(mine.split(|&c| c == b'\n'))
            .position(|(a, b)| a != b)
            .map_or(String::new(), |k| format!(" (first difference at line {})", k + 1));
        return Err(results_error(
            &path,
            format!(
                "differs from this scenario's allocation with seed {}{line}: the run was made from other inputs or settings \
                 (fix: give the folder of a run of this scenario, or rerun `xuequ run`)",
                data.policy.seed
            ),
        ));
    }
    Ok(())
}

/// Reads `risk_applicants.csv`, `risk_blocks.csv` and `risk_schools.csv` when the run wrote
/// them (`--lotteries N`); none of them: no odds.
fn read_risk(dir: &Path, data: &Dataset) -> Result<Option<RiskTables>, ServiceError> {
    let files = ["risk_applicants.csv", "risk_blocks.csv", "risk_schools.csv"].map(|f| dir.join(f));
    let present = files.iter().filter(|p| p.is_file()).count();
    if present == 0 {
        return Ok(None);
    }
    if let Some(missing) = files.iter().find(|p| !p.is_file()) {
        return Err(results_error(
            missing,
            "missing while other risk tables are present (fix: rerun `xuequ run --lotteries N` into the folder)",
        ));
    }
    let stage_of = |path: &Path, line: u64, text: &str| -> Result<Stage, ServiceError> {
        text.parse()
            .map_err(|e| results_error(path, format!("line {line}, column stage: \"{text}\": {e}")))
    };
    let mut risk = RiskTables::default();
    let path = &files[0];
    for (line, row) in read_table(path)? {
        let id = cell(path, line, &row, "student_id")?;
        if cell(path, line, &row, "p_zone_school")?.is_empty() {
            // A run with --lotteries 0 writes empty shares: no odds for anyone.
            continue;
        }
        let student = data.cohort.student(id).ok_or_else(|| {
            results_error(
                path,
                format!("line {line}: student_id \"{id}\" is not in this scenario (fix: give a run of this scenario)"),
            )
        })?;
        let shares = [
            number(path, line, &row, "p_zone_school")?,
            number(path, line, &row, "p_first_choice")?,
            number(path, line, &row, "p_unplaced")?,
        ];
        risk.applicants.insert(student, shares);
    }
    let path = &files[1];
    for (line, row) in read_table(path)? {
        let id = cell(path, line, &row, "block_id")?;
        let block = data.city.block(id).ok_or_else(|| {
            results_error(
                path,
                format!("line {line}: block_id \"{id}\" is not in this scenario (fix: give a run of this scenario)"),
            )
        })?;
        let stage = stage_of(path, line, cell(path, line, &row, "stage")?)?;
        let odds = BlockOdds {
            applicants: number(path, line, &row, "applicants")?,
            mean: number(path, line, &row, "p_zone_school_mean")?,
            min: number(path, line, &row, "p_zone_school_min")?,
        };
        risk.blocks.insert((block, stage), odds);
    }
    let path = &files[2];
    for (line, row) in read_table(path)? {
        let id = cell(path, line, &row, "school_id")?;
        let school = data.city.school_index.get(id).copied().ok_or_else(|| {
            results_error(
                path,
                format!("line {line}: school_id \"{id}\" is not in this scenario (fix: give a run of this scenario)"),
            )
        })?;
        let optional = |column: &str| -> Result<Option<u32>, ServiceError> {
            let text = cell(path, line, &row, column)?;
            if text.trim().is_empty() {
                Ok(None)
            } else {
                number(path, line, &row, column).map(Some)
            }
        };
        let value = json!({
            "p_full": number::<f64>(path, line, &row, "p_full")?,
            "mean_assigned": number::<f64>(path, line, &row, "mean_assigned")?,
            "cutoff_lottery_p10": optional("cutoff_lottery_p10")?,
            "cutoff_lottery_p50": optional("cutoff_lottery_p50")?,
            "cutoff_lottery_p90": optional("cutoff_lottery_p90")?,
            "cutoff_tiers": cell(path, line, &row, "cutoff_tiers")?,
        });
        risk.schools.insert(school, value);
    }
    Ok(Some(risk))
}
