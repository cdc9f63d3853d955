//! Zoning and lookup requests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::allocation::scenario_set;
use super::{Observer, RequestError, ScenarioInput, Silent, beside, load, with_threads};
use crate::zoning::{
    self, Demand, DemandSource, DistanceSource, SweepPoint, ZoningConfig, ZoningParams, ZoningProblem,
};
use crate::{Dataset, Stage, Zoning};

/// Where the demand of a zoning comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemandChoice {
    /// This year's applicants per home block.
    Students,
    /// Households × the per-stage rate (zoning.toml's rates, else the defaults).
    Households,
}

impl std::str::FromStr for DemandChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "students" => Ok(DemandChoice::Students),
            "households" => Ok(DemandChoice::Households),
            other => Err(format!("demand {other}: use students or households")),
        }
    }
}

/// Parses a capacity edit `ID=SEATS` (e.g. `P0001=360`).
pub fn parse_capacity(item: &str) -> Result<(String, u32), RequestError> {
    let (id, seats) = item
        .split_once('=')
        .ok_or_else(|| RequestError::BadRequest(format!("--capacity {item}: write ID=SEATS, e.g. P0001=360")))?;
    let seats: u32 = seats
        .trim()
        .parse()
        .map_err(|_| RequestError::BadRequest(format!("--capacity {item}: seats must be a whole number")))?;
    Ok((id.trim().to_string(), seats))
}

/// Where the zoning controls come from.
#[derive(Debug, Clone)]
enum ConfigSource {
    /// `zoning.toml` beside the scenario, if present.
    Beside,
    /// This file.
    File(PathBuf),
    /// This text, read as if from this path.
    Text(String, PathBuf),
    /// None: every default.
    Defaults,
}

/// Proposes catchment zones for one stage (`xuequ zone`). Every override is merged over
/// `zoning.toml`, whose keys are merged over [`ZoningParams::default`].
///
/// Defaults:
///
/// | setting | default |
/// |---|---|
/// | controls | `zoning.toml` beside the scenario, if present |
/// | stage | the config's `stage`, else primary |
/// | distance | the config's `distance`, else the scenario's source |
/// | roads (for `distance` roads) | the config's `roads`, else the scenario's `[inputs] roads` |
/// | road radius | the config's `road_radius_m`, else `max_distance_m`, else the scenario's `[roads] radius_m` |
/// | demand | the config's `[demand]`, else students |
/// | school edits, locks, sweep | the config's, plus those given here |
/// | barriers | the config's `barriers`, else none |
/// | contiguity repair, polygons | on |
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use xuequ::request::ZoningRequest;
/// let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/demo/scenario.toml");
/// let dir = tempfile::tempdir()?;
/// let outcome = ZoningRequest::new(&scenario)
///     .stage(xuequ::Stage::Primary)
///     .distance(xuequ::zoning::DistanceSource::Straight)
///     .stability(500)
///     .write(dir.path())?;
/// assert!(outcome.result.report.overall.objective >= outcome.result.report.overall.lower_bound);
/// assert!(dir.path().join("zones.csv").is_file());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ZoningRequest {
    input: ScenarioInput,
    threads: Option<usize>,
    strict: bool,
    config: ConfigSource,
    stage: Option<Stage>,
    distance: Option<DistanceSource>,
    roads: Option<PathBuf>,
    road_radius: Option<u32>,
    barriers: Option<PathBuf>,
    demand: Option<DemandChoice>,
    candidates: Option<usize>,
    max_distance: Option<u32>,
    within_district: Option<bool>,
    stability: Option<u32>,
    max_moved: Option<f64>,
    utilisation: Option<(f64, f64)>,
    lock: Vec<String>,
    close: Vec<String>,
    capacity: Vec<(String, u32)>,
    sweep: Vec<u32>,
    contiguity: bool,
    polygons: bool,
    multi_school: Option<Option<f64>>,
    bom: bool,
}

/// What a zoning request did.
#[derive(Debug)]
pub struct ZoningOutcome {
    /// The scenario's inputs.
    pub data: Arc<Dataset>,
    /// The stage zoned.
    pub stage: Stage,
    /// The instance solved.
    pub problem: ZoningProblem,
    /// The parameters used.
    pub params: ZoningParams,
    /// The proposal and its report.
    pub result: Zoning,
    /// The stability sweep, when asked for.
    pub sweep: Option<Vec<SweepPoint>>,
    /// The files written (empty for [`ZoningRequest::run`]).
    pub files: Vec<PathBuf>,
}

impl ZoningRequest {
    /// A zoning of `scenario` with the defaults above.
    pub fn new(scenario: impl Into<ScenarioInput>) -> Self {
        ZoningRequest {
            input: scenario.into(),
            threads: None,
            strict: false,
            config: ConfigSource::Beside,
            stage: None,
            distance: None,
            roads: None,
            road_radius: None,
            barriers: None,
            demand: None,
            candidates: None,
            max_distance: None,
            within_district: None,
            stability: None,
            max_moved: None,
            utilisation: None,
            lock: Vec::new(),
            close: Vec::new(),
            capacity: Vec::new(),
            sweep: Vec::new(),
            contiguity: true,
            polygons: true,
            multi_school: None,
            bom: false,
        }
    }

    /// Runs on this many worker threads.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Plausibility warnings of the inputs are errors.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The zoning controls from this file instead of `zoning.toml` beside the scenario.
    pub fn config(mut self, path: impl Into<PathBuf>) -> Self {
        self.config = ConfigSource::File(path.into());
        self
    }

    /// The zoning controls from this text, read as if from `path` (relative paths in it are
    /// resolved against `path`'s folder).
    pub fn config_text(mut self, text: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.config = ConfigSource::Text(text.into(), path.into());
        self
    }

    /// No zoning.toml: every control at its default.
    pub fn no_config(mut self) -> Self {
        self.config = ConfigSource::Defaults;
        self
    }

    /// The stage to zone.
    pub fn stage(mut self, stage: Stage) -> Self {
        self.stage = Some(stage);
        self
    }

    /// The distance source.
    pub fn distance(mut self, distance: DistanceSource) -> Self {
        self.distance = Some(distance);
        self
    }

    /// The road network for road distances (`.osm.pbf`, `.osm` or `roads.csv`).
    pub fn roads(mut self, path: impl Into<PathBuf>) -> Self {
        self.roads = Some(path.into());
        self
    }

    /// The road search radius, metres.
    pub fn road_radius(mut self, metres: u32) -> Self {
        self.road_radius = Some(metres);
        self
    }

    /// Barrier lines (GeoJSON, WGS84): adjacency edges crossing them are removed.
    pub fn barriers(mut self, path: impl Into<PathBuf>) -> Self {
        self.barriers = Some(path.into());
        self
    }

    /// Where the demand comes from.
    pub fn demand(mut self, demand: DemandChoice) -> Self {
        self.demand = Some(demand);
        self
    }

    /// Nearest schools per block in the first flow solve.
    pub fn candidates(mut self, k: usize) -> Self {
        self.candidates = Some(k);
        self
    }

    /// The longest allowed home-to-school distance, metres.
    pub fn max_distance(mut self, metres: u32) -> Self {
        self.max_distance = Some(metres);
        self
    }

    /// Whether zones stay within district boundaries.
    pub fn within_district(mut self, within: bool) -> Self {
        self.within_district = Some(within);
        self
    }

    /// The stability weight λ: metres per child charged for moving a block.
    pub fn stability(mut self, metres: u32) -> Self {
        self.stability = Some(metres);
        self
    }

    /// A hard cap on the share of children moved (λ found by bisection).
    pub fn max_moved(mut self, share: f64) -> Self {
        self.max_moved = Some(share);
        self
    }

    /// The target utilisation band (shares of capacity).
    pub fn utilisation(mut self, low: f64, high: f64) -> Self {
        self.utilisation = Some((low, high));
        self
    }

    /// Blocks that keep their current zone (added to the config's).
    pub fn lock(mut self, blocks: impl IntoIterator<Item = String>) -> Self {
        self.lock.extend(blocks);
        self
    }

    /// Schools to close (added to the config's).
    pub fn close(mut self, schools: impl IntoIterator<Item = String>) -> Self {
        self.close.extend(schools);
        self
    }

    /// A new capacity for a school (over the config's).
    pub fn capacity(mut self, school: impl Into<String>, seats: u32) -> Self {
        self.capacity.push((school.into(), seats));
        self
    }

    /// λ values of a "children moved vs extra travel" sweep (instead of the config's).
    pub fn sweep(mut self, lambdas: Vec<u32>) -> Self {
        self.sweep = lambdas;
        self
    }

    /// Whether to repair contiguity (the config may switch it off too).
    pub fn contiguity(mut self, on: bool) -> Self {
        self.contiguity = on;
        self
    }

    /// Whether to draw the zone polygons (the config may switch them off too).
    pub fn polygons(mut self, on: bool) -> Self {
        self.polygons = on;
        self
    }

    /// Multi-school zones, hot from this utilisation (`None`: the config's, else 0.95).
    pub fn multi_school(mut self, threshold: Option<f64>) -> Self {
        self.multi_school = Some(threshold);
        self
    }

    /// CSV files start with a UTF-8 BOM.
    pub fn bom(mut self, bom: bool) -> Self {
        self.bom = bom;
        self
    }

    /// Zones without writing.
    pub fn run(&self) -> Result<ZoningOutcome, RequestError> {
        self.run_with(&Silent)
    }

    /// [`run`](Self::run), telling `observer` what happens.
    pub fn run_with(&self, observer: &dyn Observer) -> Result<ZoningOutcome, RequestError> {
        with_threads(self.threads, observer, || {
            self.solve(observer).map(|(outcome, _)| outcome)
        })?
    }

    /// Zones and writes the proposal's files into `out`.
    pub fn write(&self, out: &Path) -> Result<ZoningOutcome, RequestError> {
        self.write_with(out, &Silent)
    }

    /// [`write`](Self::write), telling `observer` what happens.
    pub fn write_with(&self, out: &Path, observer: &dyn Observer) -> Result<ZoningOutcome, RequestError> {
        with_threads(self.threads, observer, || {
            let (mut outcome, files_read) = self.solve(observer)?;
            let t = Instant::now();
            let bom = self.bom || outcome.data.scenario.output.bom;
            let mut set = scenario_set(out, "zone", &outcome.data)?;
            set.inputs(files_read);
            zoning::write_zoning(
                &mut set,
                &outcome.problem,
                &outcome.result,
                Some(&outcome.data.city),
                outcome.sweep.as_deref(),
                bom,
            )?;
            outcome.files = set.commit()?;
            observer.done(
                "write",
                t.elapsed(),
                &format!("{} files in {}", outcome.files.len(), out.display()),
            );
            Ok(outcome)
        })?
    }

    /// The configuration, and the file it was read from (none for text or the defaults).
    fn load_config(&self) -> Result<(ZoningConfig, Option<PathBuf>), RequestError> {
        Ok(match &self.config {
            ConfigSource::Beside => match beside(&self.input.dir(), None, "zoning.toml") {
                Some(p) => (ZoningConfig::load(&p)?, Some(p)),
                None => (ZoningConfig::default(), None),
            },
            ConfigSource::File(p) => (ZoningConfig::load(p)?, Some(p.clone())),
            ConfigSource::Text(text, path) => (ZoningConfig::from_toml(text, path)?, None),
            ConfigSource::Defaults => (ZoningConfig::default(), None),
        })
    }

    /// The parameters: the config's, with this request's overrides.
    fn params(&self, config: &ZoningConfig) -> Result<ZoningParams, RequestError> {
        let mut params = config.params();
        if let Some(k) = self.candidates {
            params.candidates = k;
        }
        if self.max_distance.is_some() {
            params.max_distance_m = self.max_distance;
        }
        if let Some(w) = self.within_district {
            params.within_district = w;
        }
        if let Some(l) = self.stability {
            params.stability_m = l;
        }
        if self.max_moved.is_some() {
            params.max_moved_share = self.max_moved;
        }
        if let Some(u) = self.utilisation {
            params.utilisation = u;
        }
        params.contiguity &= self.contiguity;
        params.polygons &= self.polygons;
        if let Some(threshold) = self.multi_school {
            let mut multi = params.multi_school.unwrap_or_default();
            if let Some(t) = threshold {
                multi.min_utilisation = t;
            }
            params.multi_school = Some(multi);
        }
        params.validate()?;
        Ok(params)
    }

    /// Zones, and names the files read besides the scenario's inputs (the configuration, a
    /// road network and barriers of the request's or the configuration's own).
    fn solve(&self, observer: &dyn Observer) -> Result<(ZoningOutcome, Vec<PathBuf>), RequestError> {
        let (config, config_file) = self.load_config()?;
        let mut files_read: Vec<PathBuf> = config_file.into_iter().collect();
        let data = load(&self.input, None, self.strict, observer)?;
        let stage = self.stage.or(config.stage).unwrap_or(Stage::Primary);
        let params = self.params(&config)?;
        let demand_source = match self.demand {
            None => config.demand_source()?,
            Some(DemandChoice::Students) => DemandSource::Students,
            Some(DemandChoice::Households) => match config.demand_source()? {
                DemandSource::Households(r) => DemandSource::Households(r),
                DemandSource::Students => DemandSource::Households(Default::default()),
            },
        };
        let mut edits = config.schools.clone();
        edits.close.extend(self.close.iter().cloned());
        for (id, seats) in &self.capacity {
            edits.capacity.insert(id.clone(), *seats);
        }
        let mut locked = config.locked.clone();
        locked.extend(self.lock.iter().cloned());

        let t = Instant::now();
        let demand = Demand::from_source(&data, stage, demand_source);
        let mut problem = ZoningProblem::from_dataset(&data, stage, &demand, &edits, &locked)?;
        // The scenario's distance source unless the request or zoning.toml says otherwise;
        // from_dataset already took the scenario's.
        let source = match self.distance {
            Some(d) => d,
            None if config.distance.is_some() => config.distance_source()?,
            None => data.spatial.kind(),
        };
        let roads_path = self
            .roads
            .clone()
            .or_else(|| config.roads.as_ref().map(|p| config.resolve(p)));
        let radius = self.road_radius.or(config.road_radius_m);
        match source {
            DistanceSource::Straight => problem.use_spatial(&crate::spatial::Spatial::straight(&data.city)),
            // from_dataset already counted the scenario's matrix into the problem.
            DistanceSource::Matrix if data.spatial.kind() == DistanceSource::Matrix && data.distances.is_some() => {}
            DistanceSource::Matrix => problem.use_matrix(&data)?,
            _ if data.spatial.kind() == DistanceSource::Roads && roads_path.is_none() && radius.is_none() => {}
            _ => {
                let mut options = data.scenario.roads;
                options.radius_m = radius.or(params.max_distance_m).unwrap_or(options.radius_m);
                let path = roads_path.or_else(|| data.scenario.inputs.roads.clone()).ok_or_else(|| {
                    RequestError::BadRequest(
                        "--distance roads needs a road network: [inputs] roads in the scenario, --roads FILE, or roads = \"...\" in zoning.toml"
                            .to_string(),
                    )
                })?;
                let network = crate::spatial::load_network(&path, data.scenario.crs, options.mode, options.cache)
                    .map_err(RequestError::RoadNetwork)?;
                // Listed by the dataset when its own distances come from the same network.
                if data.spatial.kind() != DistanceSource::Roads || data.scenario.inputs.roads.as_ref() != Some(&path) {
                    files_read.push(path);
                }
                let spatial = crate::spatial::Spatial::roads(&data.city, network, options);
                observer.distance_warnings(spatial.warnings());
                problem.use_spatial(&spatial);
            }
        }
        if let Some(b) = self
            .barriers
            .clone()
            .or_else(|| config.barriers.as_ref().map(|p| config.resolve(p)))
        {
            problem.barriers = zoning::read_barriers(&b)?;
            files_read.push(b);
        }
        observer.done(
            "problem",
            t.elapsed(),
            &format!(
                "{stage}: {} schools, {} blocks, {} children, {} seats",
                problem.schools.len(),
                problem.blocks.len(),
                problem.total_demand(),
                problem.schools.iter().map(|s| s.capacity as u64).sum::<u64>()
            ),
        );

        let lambdas = if self.sweep.is_empty() {
            config.sweep.clone()
        } else {
            self.sweep.clone()
        };
        let sweep = if lambdas.is_empty() {
            None
        } else {
            let t = Instant::now();
            let points = zoning::sweep(&problem, &params, &lambdas, &|p| observer.zoning(p))?;
            observer.done("sweep", t.elapsed(), &format!("{} values of λ", points.len()));
            Some(points)
        };
        let result = zoning::zone(&problem, &params, &|p| observer.zoning(p))?;
        let outcome = ZoningOutcome {
            data,
            stage,
            problem,
            params,
            result,
            sweep,
            files: Vec::new(),
        };
        Ok((outcome, files_read))
    }
}

/// Which school(s) serve an address, from the zone polygons (`xuequ lookup`).
///
/// Defaults: the scenario's zones, every stage of the scenario, cells bounded at 2000 m.
#[derive(Debug, Clone)]
pub struct LookupRequest {
    input: ScenarioInput,
    threads: Option<usize>,
    strict: bool,
    zones: Option<PathBuf>,
    stage: Option<Stage>,
    cell_radius: u32,
    points: Points,
}

#[derive(Debug, Clone)]
enum Points {
    None,
    Given(Vec<(f64, f64)>),
    File(PathBuf),
}

/// One school serving a point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupHit {
    /// The school id.
    pub school_id: String,
    /// Its name.
    pub name: String,
    /// Metres from the point by the scenario's distance source (`None`: unreachable).
    pub distance_m: Option<u32>,
}

/// The answers of one stage, one list per point.
#[derive(Debug, Clone)]
pub struct LookupAnswer {
    /// The stage.
    pub stage: Stage,
    /// The schools serving each point (empty: outside every zone).
    pub hits: Vec<Vec<LookupHit>>,
}

/// What a lookup found.
#[derive(Debug, Clone)]
pub struct LookupOutcome {
    /// The points file's header (empty for points given in code).
    pub header: Vec<String>,
    /// The points file's rows, every cell kept.
    pub rows: Vec<Vec<String>>,
    /// The points (the scenario's coordinate system).
    pub points: Vec<(f64, f64)>,
    /// Per stage, the answer for every point.
    pub answers: Vec<LookupAnswer>,
    /// The distance source of the metres.
    pub distance: DistanceSource,
}

impl LookupOutcome {
    /// Every input column, then stage, school_ids, school_names and distances_m, one row per
    /// point and stage (as `xuequ lookup --points` writes).
    pub fn csv(&self) -> Vec<u8> {
        let mut csv = crate::io::CsvWriter::new(false);
        for h in &self.header {
            csv.text(h);
        }
        csv.row(&["stage", "school_ids", "school_names", "distances_m"]);
        let empty: Vec<String> = Vec::new();
        for i in 0..self.points.len() {
            let row = self.rows.get(i).unwrap_or(&empty);
            for answer in &self.answers {
                let found = &answer.hits[i];
                let join = |f: &dyn Fn(&LookupHit) -> String| found.iter().map(f).collect::<Vec<_>>().join(";");
                for c in row {
                    csv.text(c);
                }
                csv.text(answer.stage.as_str())
                    .text(&join(&|h| h.school_id.clone()))
                    .text(&join(&|h| h.name.clone()))
                    .text(&join(&|h| h.distance_m.map_or(String::new(), |m| m.to_string())));
                csv.end();
            }
        }
        csv.into_bytes()
    }

    /// Writes [`csv`](Self::csv) to `path` (beside its final name, then renamed into place).
    pub fn write_csv(&self, path: &Path) -> Result<(), RequestError> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("lookup.csv");
        let temp = path.with_file_name(format!(".{name}.tmp"));
        std::fs::write(&temp, self.csv())
            .and_then(|_| std::fs::rename(&temp, path))
            .map_err(|source| {
                let _ = std::fs::remove_file(&temp);
                RequestError::Output(crate::OutputError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            })
    }
}

impl LookupRequest {
    /// The default radius in metres bounding each block's cell.
    pub const DEFAULT_CELL_RADIUS_M: u32 = 2000;

    /// A lookup in `scenario`; give the points with [`point`](Self::point),
    /// [`points`](Self::points) or [`points_file`](Self::points_file).
    pub fn new(scenario: impl Into<ScenarioInput>) -> Self {
        LookupRequest {
            input: scenario.into(),
            threads: None,
            strict: false,
            zones: None,
            stage: None,
            cell_radius: Self::DEFAULT_CELL_RADIUS_M,
            points: Points::None,
        }
    }

    /// Runs on this many worker threads.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Plausibility warnings of the inputs are errors.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Zones to use instead of the scenario's (e.g. a proposal's zones.csv).
    pub fn zones(mut self, path: impl Into<PathBuf>) -> Self {
        self.zones = Some(path.into());
        self
    }

    /// One stage only.
    pub fn stage(mut self, stage: Stage) -> Self {
        self.stage = Some(stage);
        self
    }

    /// The radius in metres bounding each block's cell.
    pub fn cell_radius(mut self, metres: u32) -> Self {
        self.cell_radius = metres;
        self
    }

    /// One point (the scenario's coordinate system).
    pub fn point(self, lon: f64, lat: f64) -> Self {
        self.points(vec![(lon, lat)])
    }

    /// Many points (the scenario's coordinate system).
    pub fn points(mut self, points: Vec<(f64, f64)>) -> Self {
        self.points = Points::Given(points);
        self
    }

    /// A CSV with lon and lat columns (any others are kept).
    pub fn points_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.points = Points::File(path.into());
        self
    }

    /// Looks the points up.
    pub fn run(&self) -> Result<LookupOutcome, RequestError> {
        self.run_with(&Silent)
    }

    /// [`run`](Self::run), telling `observer` what happens.
    pub fn run_with(&self, observer: &dyn Observer) -> Result<LookupOutcome, RequestError> {
        with_threads(self.threads, observer, || self.lookup(observer))?
    }

    fn lookup(&self, observer: &dyn Observer) -> Result<LookupOutcome, RequestError> {
        let mut data = load(&self.input, None, self.strict, observer)?;
        if let Some(z) = &self.zones {
            let f = std::fs::File::open(z).map_err(|source| crate::LoadError::Io {
                path: z.clone(),
                source,
            })?;
            let mut diags = crate::Diagnostics::default();
            let d = Arc::make_mut(&mut data);
            d.city.zones = Default::default();
            crate::load::read_zones(f, &z.display().to_string(), &mut d.city, &mut diags);
            if !diags.is_empty() {
                return Err(crate::LoadError::Invalid(diags).into());
            }
        }
        let (header, rows, points) = match &self.points {
            Points::File(p) => {
                let t = crate::io::points::read_points(p)?;
                (t.header, t.rows, t.points)
            }
            Points::Given(points) => {
                for &(lon, lat) in points {
                    crate::crs::check_lon_lat(lon, lat).map_err(RequestError::BadRequest)?;
                }
                (Vec::new(), Vec::new(), points.clone())
            }
            Points::None => {
                return Err(RequestError::BadRequest(
                    "give --lon and --lat, or --points FILE".to_string(),
                ));
            }
        };
        let wgs: Vec<(f64, f64)> = points
            .iter()
            .map(|&(lon, lat)| data.scenario.crs.to_wgs84(lon, lat))
            .collect();
        let stages: Vec<Stage> = match self.stage {
            Some(s) => vec![s],
            None => data.scenario.stages.clone(),
        };
        let t = Instant::now();
        let mut answers = Vec::new();
        for &stage in &stages {
            // The same polygons the service answers from. Each hit with its distance from
            // the point by the scenario's source (a point at a block's location gets the
            // block's distance).
            let hits = match crate::service::zone_index(&data, stage, self.cell_radius)? {
                Some((problem, index)) => index
                    .lookup_batch(&wgs)
                    .iter()
                    .zip(&wgs)
                    .map(|(found, at)| {
                        let here = crate::model::Location::from_wgs84(at.0, at.1);
                        found
                            .iter()
                            .map(|&s| {
                                let school = &problem.schools[s as usize];
                                LookupHit {
                                    school_id: school.id.clone(),
                                    name: school.name.clone(),
                                    distance_m: school
                                        .city_index
                                        .and_then(|c| data.spatial.school_to_point_mm(c, &here))
                                        .map(crate::spatial::metres_of_mm),
                                }
                            })
                            .collect()
                    })
                    .collect(),
                None => vec![Vec::new(); wgs.len()],
            };
            answers.push(LookupAnswer { stage, hits });
        }
        observer.done(
            "lookup",
            t.elapsed(),
            &format!("{} point(s), {} stage(s)", points.len(), stages.len()),
        );
        Ok(LookupOutcome {
            header,
            rows,
            points,
            answers,
            distance: data.spatial.kind(),
        })
    }
}
