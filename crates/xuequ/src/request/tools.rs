//! The road network, zones from a published list, and generated output sets.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::allocation::scenario_set;
use super::{Observer, RequestError, ScenarioInput, Silent, load, with_threads};
use crate::Stage;
use crate::io::InputRecord;
use crate::names::from_list::{self, FromList};
use crate::spatial::{DistanceKind, RoadsReport, Spatial};

/// Builds the scenario's road network (`[inputs] roads`) and writes `distances.csv`
/// (reusable as `distance = "matrix"`) and `roads_report.json` (`xuequ roads`). When the
/// scenario already measures by road its network is reused.
#[derive(Debug, Clone)]
pub struct RoadsRequest {
    input: ScenarioInput,
    threads: Option<usize>,
    strict: bool,
}

impl RoadsRequest {
    /// The road distances of `scenario`.
    pub fn new(scenario: impl Into<ScenarioInput>) -> Self {
        RoadsRequest {
            input: scenario.into(),
            threads: None,
            strict: false,
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

    /// Builds the network and writes its files into `out`.
    pub fn write(&self, out: &Path) -> Result<RoadsReport, RequestError> {
        self.write_with(out, &Silent)
    }

    /// [`write`](Self::write), telling `observer` what happens.
    pub fn write_with(&self, out: &Path, observer: &dyn Observer) -> Result<RoadsReport, RequestError> {
        with_threads(self.threads, observer, || {
            let data = load(&self.input, None, self.strict, observer)?;
            let t = Instant::now();
            let built_here = data.spatial.kind() != DistanceKind::Roads;
            let spatial = if built_here {
                let s = Spatial::roads_for_scenario(&data.scenario, &data.city)?;
                observer.distance_warnings(s.warnings());
                s
            } else {
                data.spatial.clone()
            };
            let mut set = scenario_set(out, "roads", &data)?;
            if built_here {
                set.inputs(data.scenario.inputs.roads.iter());
            }
            let report = crate::spatial::write_roads_outputs(&mut set, &spatial, &data.city)?
                .ok_or_else(|| RequestError::BadRequest("no road network".to_string()))?;
            let files = set.commit()?;
            observer.done(
                "roads",
                t.elapsed(),
                &format!("{} files in {}", files.len(), out.display()),
            );
            Ok(report)
        })?
    }
}

/// Zones from a published 划片 list (one row per school: school, blocks text) matched to
/// the scenario's schools and blocks (`xuequ zones-from-list`): writes `zones.csv` and
/// `match_report.csv`.
#[derive(Debug, Clone)]
pub struct ZonesFromListRequest {
    input: ScenarioInput,
    threads: Option<usize>,
    strict: bool,
    list: PathBuf,
    stage: Stage,
}

impl ZonesFromListRequest {
    /// The zones of `stage` from `list` (CSV in UTF-8 or GBK, or a workbook, with columns
    /// school (or 学校) and blocks (or 划片范围)).
    pub fn new(scenario: impl Into<ScenarioInput>, list: impl Into<PathBuf>, stage: Stage) -> Self {
        ZonesFromListRequest {
            input: scenario.into(),
            threads: None,
            strict: false,
            list: list.into(),
            stage,
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

    /// Matches the list without writing.
    pub fn run(&self) -> Result<FromList, RequestError> {
        self.run_with(&Silent)
    }

    /// [`run`](Self::run), telling `observer` what happens.
    pub fn run_with(&self, observer: &dyn Observer) -> Result<FromList, RequestError> {
        with_threads(self.threads, observer, || {
            let data = load(&self.input, None, self.strict, observer)?;
            let rows = from_list::read_list(&self.list)?;
            Ok(from_list::zones_from_list(
                &data.city,
                self.stage,
                &rows,
                &self.list.display().to_string(),
            )?)
        })?
    }

    /// Matches the list and writes `zones.csv` and `match_report.csv` into `out`.
    pub fn write(&self, out: &Path) -> Result<FromList, RequestError> {
        self.write_with(out, &Silent)
    }

    /// [`write`](Self::write), telling `observer` what happens.
    pub fn write_with(&self, out: &Path, observer: &dyn Observer) -> Result<FromList, RequestError> {
        with_threads(self.threads, observer, || {
            let data = load(&self.input, None, self.strict, observer)?;
            let t = Instant::now();
            let rows = from_list::read_list(&self.list)?;
            let result = from_list::zones_from_list(&data.city, self.stage, &rows, &self.list.display().to_string())?;
            let inputs = std::iter::once(InputRecord::File(self.list.clone())).chain(data.input_records());
            from_list::write(out, &data.city, &result, inputs)?;
            observer.done(
                "zones-from-list",
                t.elapsed(),
                &format!("zones.csv and match_report.csv in {}", out.display()),
            );
            Ok(result)
        })?
    }
}

/// Writes a generated output set (e.g. a synthetic city from `xuequ_synth::write_city`):
/// `generate` writes its files into the staging folder it is given, and they are moved into
/// `out` whole, with a manifest naming `command` and `seed`, like every command's outputs.
pub fn write_staged<T, E>(
    out: &Path,
    command: &str,
    seed: u64,
    generate: impl FnOnce(&Path) -> Result<T, E>,
) -> Result<(T, Vec<PathBuf>), RequestError>
where
    E: std::fmt::Display,
{
    let mut set = crate::io::OutputSet::begin(out, command)?;
    set.seed(seed);
    let value = generate(set.staging_dir()).map_err(|e| RequestError::Generate(e.to_string()))?;
    set.adopt_staged_files()?;
    let files = set.commit()?;
    Ok((value, files))
}
