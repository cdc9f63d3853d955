//! The native module `xuequ._xuequ` of the Python package `xuequ`.
//!
//! Thin bindings: every function loads, calls one library request and hands back what the
//! library wrote (CSV, JSON or GeoJSON bytes, or plain values). The Python side
//! (`python/xuequ/__init__.py`) only turns those bytes into pandas DataFrames and dicts and
//! fans a sweep out to processes or Ray. Long work runs with the GIL released.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use xuequ::load::MemoryTables;
use xuequ::{Dataset, Diagnostics, Stage};

create_exception!(xuequ, XuequError, PyException, "Base class of every xuequ error.");
create_exception!(
    xuequ,
    InputError,
    XuequError,
    "An input has problems: `problems` lists each (file, sheet, line, column, field, value, message, fix); the first one's fields are also attributes."
);
create_exception!(
    xuequ,
    FileError,
    XuequError,
    "A file could not be read or written (`file` names it)."
);
create_exception!(
    xuequ,
    RequestError,
    XuequError,
    "A request cannot be answered as asked (an unknown id, a bad parameter); the message says what to change."
);
create_exception!(
    xuequ,
    AuditError,
    XuequError,
    "The audit found violations of the rules (`count`, `first`)."
);

/// An `InputError` carrying every problem, the first one's position as attributes.
fn input_error(py: Python<'_>, message: String, diags: &Diagnostics) -> PyErr {
    let err = InputError::new_err(message);
    let build = || -> PyResult<()> {
        let value = err.value(py);
        let problems = PyList::empty(py);
        for d in diags.items() {
            let item = PyDict::new(py);
            item.set_item("file", &d.file)?;
            item.set_item("sheet", &d.sheet)?;
            item.set_item("line", d.line)?;
            item.set_item("column", d.column)?;
            item.set_item("field", &d.field)?;
            item.set_item("value", &d.value)?;
            item.set_item("message", &d.message)?;
            item.set_item("fix", &d.hint)?;
            problems.append(item)?;
        }
        let first = diags.items().first();
        value.setattr("file", first.map(|d| d.file.clone()))?;
        value.setattr("line", first.and_then(|d| d.line))?;
        value.setattr("column", first.and_then(|d| d.column))?;
        value.setattr("field", first.and_then(|d| d.field.clone()))?;
        value.setattr("value", first.and_then(|d| d.value.clone()))?;
        value.setattr("fix", first.map(|d| d.hint.clone()))?;
        value.setattr("problems", problems)?;
        Ok(())
    };
    match build() {
        Ok(()) => err,
        Err(e) => e,
    }
}

fn file_error(py: Python<'_>, message: String, path: &Path) -> PyErr {
    let err = FileError::new_err(message);
    match err.value(py).setattr("file", path.display().to_string()) {
        Ok(()) => err,
        Err(e) => e,
    }
}

fn load_error(py: Python<'_>, e: xuequ::LoadError) -> PyErr {
    match &e {
        xuequ::LoadError::Io { path, .. } => file_error(py, e.to_string(), path),
        xuequ::LoadError::Invalid(d) => input_error(py, e.to_string(), d),
        _ => XuequError::new_err(e.to_string()),
    }
}

fn output_error(py: Python<'_>, e: xuequ::OutputError) -> PyErr {
    match &e {
        xuequ::OutputError::Io { path, .. } => file_error(py, e.to_string(), path),
        #[allow(unreachable_patterns)]
        _ => XuequError::new_err(e.to_string()),
    }
}

fn supply_error(py: Python<'_>, e: xuequ::SupplyError) -> PyErr {
    match e {
        xuequ::SupplyError::Io { ref path, .. } => file_error(py, e.to_string(), path),
        xuequ::SupplyError::Invalid(ref d) => input_error(py, e.to_string(), d),
        xuequ::SupplyError::Request(_) => RequestError::new_err(e.to_string()),
        xuequ::SupplyError::Output(o) => output_error(py, o),
        _ => XuequError::new_err(e.to_string()),
    }
}

fn zoning_error(py: Python<'_>, e: xuequ::ZoningError) -> PyErr {
    use xuequ::ZoningError as Z;
    match &e {
        Z::Io { path, .. } => file_error(py, e.to_string(), path),
        Z::Invalid(d) => input_error(py, e.to_string(), d),
        Z::Flow(_) => XuequError::new_err(e.to_string()),
        _ => RequestError::new_err(e.to_string()),
    }
}

fn request<E: std::fmt::Display>(e: E) -> PyErr {
    RequestError::new_err(e.to_string())
}

/// Runs a request's `write` into a temporary folder and returns its files by name (the
/// manifest left out): the same bytes the command line writes.
fn files_of<T>(
    command: &str,
    write: impl FnOnce(&Path) -> Result<T, xuequ::RequestError>,
) -> Result<(T, BTreeMap<String, Vec<u8>>), xuequ::RequestError> {
    let io = |path: PathBuf, source: std::io::Error| xuequ::RequestError::from(xuequ::OutputError::Io { path, source });
    let dir = tempfile::tempdir().map_err(|e| io(std::env::temp_dir(), e))?;
    let target = dir.path().join(command);
    let value = write(&target)?;
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&target).map_err(|e| io(target.clone(), e))? {
        let path = entry.map_err(|e| io(target.clone(), e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_file() && name != xuequ::io::output_set::MANIFEST {
            let bytes = std::fs::read(&path).map_err(|e| io(path.clone(), e))?;
            files.insert(name, bytes);
        }
    }
    Ok((value, files))
}

/// A request's error as the Python exception of its kind, carrying what the library knows
/// (file, line, column, fix).
fn request_error(py: Python<'_>, e: xuequ::RequestError) -> PyErr {
    use xuequ::RequestError as R;
    match e {
        R::Load(e) => load_error(py, e),
        R::Zoning(e) => zoning_error(py, e),
        R::Supply(e) => supply_error(py, e),
        R::Output(e) => output_error(py, e),
        R::Spatial(xuequ::spatial::SpatialError::Io { ref path, .. }) => file_error(py, e.to_string(), path),
        R::Spatial(xuequ::spatial::SpatialError::Invalid(ref d))
        | R::RoadNetwork(xuequ::spatial::SpatialError::Invalid(ref d)) => input_error(py, e.to_string(), d),
        other => match other.kind() {
            xuequ::request::ErrorKind::BadRequest => RequestError::new_err(other.to_string()),
            xuequ::request::ErrorKind::InvalidInput => InputError::new_err(other.to_string()),
            xuequ::request::ErrorKind::Operational => XuequError::new_err(other.to_string()),
        },
    }
}

/// Files as a Python dict of `name -> bytes`.
fn files_dict<'py>(py: Python<'py>, files: &BTreeMap<String, Vec<u8>>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, bytes) in files {
        d.set_item(name, PyBytes::new(py, bytes))?;
    }
    Ok(d)
}

fn parse_stage(text: &str) -> PyResult<Stage> {
    text.parse::<Stage>().map_err(request)
}

/// An optional list of stage names (none: every stage the command covers).
fn parse_stages(stages: Option<Vec<String>>) -> PyResult<Vec<Stage>> {
    stages.unwrap_or_default().iter().map(|s| parse_stage(s)).collect()
}

/// `years`, `planning` and `population` over a supply request.
macro_rules! planning_options {
    ($r:expr, $years:expr, $planning:expr, $population:expr) => {{
        let mut r = $r;
        if let Some(y) = $years {
            r = r.years(y);
        }
        if let Some(p) = $planning {
            r = r.planning(p);
        }
        if let Some(p) = $population {
            r = r.population(p);
        }
        r
    }};
}

/// Where a scenario came from, to rebuild it in another process: the scenario text and
/// path, and its tables and policy in memory.
#[derive(Clone)]
struct Source {
    text: String,
    path: PathBuf,
    tables: Option<MemoryTables>,
}

/// A loaded, validated scenario (`Scenario` in Python).
#[pyclass(module = "xuequ._xuequ", frozen)]
struct Scenario {
    data: Arc<Dataset>,
    source: Source,
}

fn read_text(py: Python<'_>, path: &Path) -> PyResult<String> {
    std::fs::read_to_string(path).map_err(|e| file_error(py, format!("cannot read {}: {e}", path.display()), path))
}

fn memory_tables(tables: BTreeMap<String, Vec<u8>>, policy: Option<String>) -> PyResult<MemoryTables> {
    let mut memory = MemoryTables::default();
    for (key, bytes) in tables {
        memory.insert(&key, bytes).map_err(request)?;
    }
    if let Some(p) = policy {
        memory.set_policy(p);
    }
    Ok(memory)
}

impl Scenario {
    fn build(py: Python<'_>, source: Source, seed: Option<u64>, strict: bool) -> PyResult<Scenario> {
        let s = source.clone();
        let data = py
            .detach(move || {
                let empty = MemoryTables::default();
                let tables = s.tables.as_ref().unwrap_or(&empty);
                let mut scenario = xuequ::Scenario::from_toml_with_tables(&s.text, &s.path, tables)?;
                scenario.strict |= strict;
                let mut data = Dataset::load_with_tables(scenario, tables)?;
                if let Some(seed) = seed {
                    data.policy.seed = seed;
                }
                Ok::<_, xuequ::LoadError>(data)
            })
            .map_err(|e| load_error(py, e))?;
        Ok(Scenario {
            data: Arc::new(data),
            source,
        })
    }
}

#[pymethods]
impl Scenario {
    /// Loads and validates `scenario.toml` and every input it names.
    #[staticmethod]
    #[pyo3(signature = (path, seed=None, strict=false))]
    fn load(py: Python<'_>, path: PathBuf, seed: Option<u64>, strict: bool) -> PyResult<Scenario> {
        let text = read_text(py, &path)?;
        Scenario::build(
            py,
            Source {
                text,
                path,
                tables: None,
            },
            seed,
            strict,
        )
    }

    /// A scenario from its text (read as if from `path`) and tables given as UTF-8 CSV
    /// bytes under their `[inputs]` keys, with an optional policy text.
    #[staticmethod]
    #[pyo3(signature = (text, path, tables, policy=None, seed=None, strict=false))]
    fn from_tables(
        py: Python<'_>,
        text: String,
        path: PathBuf,
        tables: BTreeMap<String, Vec<u8>>,
        policy: Option<String>,
        seed: Option<u64>,
        strict: bool,
    ) -> PyResult<Scenario> {
        let tables = memory_tables(tables, policy)?;
        Scenario::build(
            py,
            Source {
                text,
                path,
                tables: Some(tables),
            },
            seed,
            strict,
        )
    }

    /// What rebuilds this scenario elsewhere: `(text, path, tables, policy, seed, strict)`,
    /// its tables read into memory (for pickling and shipping to workers).
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
        let tables = match &self.source.tables {
            Some(t) => t.clone(),
            None => MemoryTables::snapshot(&self.data.scenario).map_err(|e| load_error(py, e))?,
        };
        let dict = PyDict::new(py);
        for key in MemoryTables::KEYS {
            if let Some(bytes) = tables.get(key) {
                dict.set_item(key, PyBytes::new(py, bytes))?;
            }
        }
        (
            self.source.text.clone(),
            self.source.path.display().to_string(),
            dict,
            tables.policy().map(str::to_string),
            self.data.policy.seed,
            self.data.scenario.strict,
        )
            .into_pyobject(py)
    }

    /// The same scenario with another lottery seed.
    fn with_seed(&self, seed: u64) -> Scenario {
        let mut data = (*self.data).clone();
        data.policy.seed = seed;
        Scenario {
            data: Arc::new(data),
            source: self.source.clone(),
        }
    }

    /// Name, year, stages, seed, counts, distance source, inputs read and plausibility warnings.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = &self.data;
        let info = PyDict::new(py);
        info.set_item("name", &d.scenario.name)?;
        info.set_item("year", d.scenario.year)?;
        info.set_item("path", d.scenario.path.display().to_string())?;
        let stages: Vec<&str> = d.scenario.stages.iter().map(|s| s.as_str()).collect();
        info.set_item("stages", stages)?;
        info.set_item("seed", d.policy.seed)?;
        info.set_item("mechanism", d.policy.mechanism.as_str())?;
        info.set_item("districts", d.city.districts.len())?;
        info.set_item("schools", d.city.schools.len())?;
        info.set_item("blocks", d.city.blocks.len())?;
        info.set_item("applicants", d.cohort.students.len())?;
        info.set_item("distance", d.spatial.kind().to_string())?;
        let sources: Vec<String> = d.sources.iter().map(ToString::to_string).collect();
        info.set_item("inputs", sources)?;
        let warnings: Vec<String> = d.warnings.iter().map(ToString::to_string).collect();
        info.set_item("warnings", warnings)?;
        Ok(info)
    }

    /// Allocates every stage (the GIL released meanwhile).
    fn allocate(&self, py: Python<'_>) -> Allocation {
        let data = Arc::clone(&self.data);
        let allocation = py.detach(|| xuequ::allocate(&data));
        Allocation {
            data: Arc::clone(&self.data),
            allocation: Arc::new(allocation),
        }
    }

    /// Counts lottery draws `start..end` as a JSON tally ([`xuequ::risk::tally_draws`]).
    fn risk_tally<'py>(&self, py: Python<'py>, start: u32, end: u32) -> PyResult<Bound<'py, PyBytes>> {
        let data = Arc::clone(&self.data);
        let json = py.detach(move || serde_json::to_vec(&xuequ::risk::tally_draws(&data, start..end)));
        Ok(PyBytes::new(py, &json.map_err(request)?))
    }

    /// The risk tables (`risk_applicants.csv`, `risk_blocks.csv`, `risk_schools.csv`) of a
    /// tally of this scenario's draws.
    fn risk_tables<'py>(&self, py: Python<'py>, tally: Vec<u8>) -> PyResult<Bound<'py, PyDict>> {
        let tally: xuequ::risk::RiskTally = serde_json::from_slice(&tally).map_err(request)?;
        let options = xuequ::WriteOptions {
            bom: self.data.scenario.output.bom,
        };
        let tables = xuequ::risk::risk_csvs(&self.data, &tally.finish(), options);
        let d = PyDict::new(py);
        for (name, bytes) in tables {
            d.set_item(name, PyBytes::new(py, &bytes))?;
        }
        Ok(d)
    }

    /// Proposes catchment zones for one stage: the files of `xuequ zone`
    /// ([`xuequ::ZoningRequest`]). `config` is the text of a zoning.toml (`config_path`
    /// names where it would be, for relative paths and messages); without it, zoning.toml
    /// beside the scenario is read if present, as the command line does.
    #[pyo3(signature = (stage=None, config=None, config_path=None))]
    fn zone<'py>(
        &self,
        py: Python<'py>,
        stage: Option<&str>,
        config: Option<String>,
        config_path: Option<PathBuf>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut r = xuequ::ZoningRequest::new(Arc::clone(&self.data));
        if let Some(text) = config {
            let path = config_path.unwrap_or_else(|| self.data.scenario.path.with_file_name("zoning.toml"));
            r = r.config_text(text, path);
        }
        if let Some(s) = stage {
            r = r.stage(parse_stage(s)?);
        }
        let (_, files) = py
            .detach(move || files_of("zone", |out| r.write(out)))
            .map_err(|e| request_error(py, e))?;
        files_dict(py, &files)
    }

    /// Which schools serve each point `(lon, lat)` (the scenario's coordinate system), from
    /// the current zones ([`xuequ::LookupRequest`]): one dict per point and stage.
    #[pyo3(signature = (points, stage=None, cell_radius=2000))]
    fn lookup<'py>(
        &self,
        py: Python<'py>,
        points: Vec<(f64, f64)>,
        stage: Option<&str>,
        cell_radius: u32,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut r = xuequ::LookupRequest::new(Arc::clone(&self.data))
            .cell_radius(cell_radius)
            .points(points.clone());
        if let Some(s) = stage {
            r = r.stage(parse_stage(s)?);
        }
        let outcome = py.detach(move || r.run()).map_err(|e| request_error(py, e))?;
        let out = PyList::empty(py);
        for (i, &(lon, lat)) in points.iter().enumerate() {
            for answer in &outcome.answers {
                let hits = &answer.hits[i];
                let row = PyDict::new(py);
                row.set_item("lon", lon)?;
                row.set_item("lat", lat)?;
                row.set_item("stage", answer.stage.as_str())?;
                row.set_item(
                    "school_ids",
                    hits.iter().map(|h| h.school_id.clone()).collect::<Vec<_>>(),
                )?;
                row.set_item("school_names", hits.iter().map(|h| h.name.clone()).collect::<Vec<_>>())?;
                row.set_item("distances_m", hits.iter().map(|h| h.distance_m).collect::<Vec<_>>())?;
                out.append(row)?;
            }
        }
        Ok(out)
    }

    /// Forecasts demand, seats and shortfalls: the files of `xuequ forecast`
    /// ([`xuequ::ForecastRequest`]; planning.toml and population.csv beside the scenario
    /// unless named).
    #[pyo3(signature = (years=None, stages=None, planning=None, population=None))]
    fn forecast<'py>(
        &self,
        py: Python<'py>,
        years: Option<u32>,
        stages: Option<Vec<String>>,
        planning: Option<PathBuf>,
        population: Option<PathBuf>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut r = xuequ::ForecastRequest::new(Arc::clone(&self.data)).stages(parse_stages(stages)?);
        r = planning_options!(r, years, planning, population);
        let (_, files) = py
            .detach(move || files_of("forecast", |out| r.write(out)))
            .map_err(|e| request_error(py, e))?;
        files_dict(py, &files)
    }

    /// Whether new or named blocks are covered by their zone schools: the files of
    /// `xuequ check-development --out` ([`xuequ::DevelopmentRequest`]).
    #[pyo3(signature = (blocks=Vec::new(), development=None, years=None, stages=None, planning=None, population=None))]
    #[allow(clippy::too_many_arguments)]
    fn check_development<'py>(
        &self,
        py: Python<'py>,
        blocks: Vec<String>,
        development: Option<PathBuf>,
        years: Option<u32>,
        stages: Option<Vec<String>>,
        planning: Option<PathBuf>,
        population: Option<PathBuf>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut r = xuequ::DevelopmentRequest::new(Arc::clone(&self.data)).stages(parse_stages(stages)?);
        for b in blocks {
            r = r.block(b);
        }
        if let Some(p) = development {
            r = r.development(p);
        }
        r = planning_options!(r, years, planning, population);
        let (_, files) = py
            .detach(move || files_of("check-development", |out| r.write(out)))
            .map_err(|e| request_error(py, e))?;
        files_dict(py, &files)
    }

    /// Chooses sites for new schools: the files of `xuequ site` ([`xuequ::SitingRequest`]).
    #[pyo3(signature = (stage, new_schools, sites, site_distances=None, objective=None, year=None, years=None, planning=None, population=None, exact=false))]
    #[allow(clippy::too_many_arguments)]
    fn site<'py>(
        &self,
        py: Python<'py>,
        stage: &str,
        new_schools: usize,
        sites: PathBuf,
        site_distances: Option<PathBuf>,
        objective: Option<String>,
        year: Option<i32>,
        years: Option<u32>,
        planning: Option<PathBuf>,
        population: Option<PathBuf>,
        exact: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut r =
            xuequ::SitingRequest::new(Arc::clone(&self.data), parse_stage(stage)?, new_schools, sites).exact(exact);
        if let Some(p) = site_distances {
            r = r.site_distances(p);
        }
        if let Some(o) = objective {
            r = r.objective(o.parse::<xuequ::supply::Objective>().map_err(request)?);
        }
        if let Some(y) = year {
            r = r.year(y);
        }
        r = planning_options!(r, years, planning, population);
        let (_, files) = py
            .detach(move || files_of("site", |out| r.write(out)))
            .map_err(|e| request_error(py, e))?;
        files_dict(py, &files)
    }

    /// The scenario's road network measured: `distances.csv` and `roads_report.json`, the
    /// files of `xuequ roads` ([`xuequ::RoadsRequest`]).
    fn roads<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let r = xuequ::RoadsRequest::new(Arc::clone(&self.data));
        let (_, files) = py
            .detach(move || files_of("roads", |out| r.write(out)))
            .map_err(|e| request_error(py, e))?;
        files_dict(py, &files)
    }

    /// Zones from a published 划片 list matched to this scenario's schools and blocks:
    /// `zones.csv` and `match_report.csv`, the files of `xuequ zones-from-list`
    /// ([`xuequ::ZonesFromListRequest`]).
    fn zones_from_list<'py>(&self, py: Python<'py>, list: PathBuf, stage: &str) -> PyResult<Bound<'py, PyDict>> {
        let r = xuequ::ZonesFromListRequest::new(Arc::clone(&self.data), list, parse_stage(stage)?);
        let (_, files) = py
            .detach(move || files_of("zones_from_list", |out| r.write(out)))
            .map_err(|e| request_error(py, e))?;
        files_dict(py, &files)
    }
}

/// The allocation of every stage of a scenario (`Allocation` in Python).
#[pyclass(module = "xuequ._xuequ", frozen)]
struct Allocation {
    data: Arc<Dataset>,
    allocation: Arc<xuequ::Allocation>,
}

impl Allocation {
    fn options(&self) -> xuequ::WriteOptions {
        xuequ::WriteOptions {
            bom: self.data.scenario.output.bom,
        }
    }
}

#[pymethods]
impl Allocation {
    /// `assignments.csv`, byte for byte as `xuequ run` writes it.
    fn assignments_csv<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(
            py,
            &xuequ::output::assignments_csv(&self.data, &self.allocation, self.options()),
        )
    }

    /// `schools_summary.csv`, byte for byte as `xuequ run` writes it.
    fn schools_csv<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(
            py,
            &xuequ::output::schools_summary_csv(&self.data, &self.allocation, self.options()),
        )
    }

    /// `summary.json` (with the audit), as `xuequ run` writes it.
    fn summary_json<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let data = Arc::clone(&self.data);
        let allocation = Arc::clone(&self.allocation);
        let json = py.detach(move || {
            let audit = xuequ::audit(&data, &allocation);
            xuequ::output::summary_json(&xuequ::output::summary(&data, &allocation, &audit))
        });
        PyBytes::new(py, &json)
    }

    /// The audit report as JSON: every check with its violations.
    fn audit_json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let data = Arc::clone(&self.data);
        let allocation = Arc::clone(&self.allocation);
        let json = py.detach(move || serde_json::to_vec(&xuequ::audit(&data, &allocation)));
        Ok(PyBytes::new(py, &json.map_err(request)?))
    }

    /// Raises `AuditError` when the audit finds violations.
    fn check(&self, py: Python<'_>) -> PyResult<()> {
        let data = Arc::clone(&self.data);
        let allocation = Arc::clone(&self.allocation);
        let report = py.detach(move || xuequ::audit(&data, &allocation));
        if report.passed() {
            return Ok(());
        }
        let failed = xuequ::AuditFailed {
            count: report.violation_count(),
            first: report.first_violation().unwrap_or_default(),
        };
        let err = AuditError::new_err(failed.to_string());
        let value = err.value(py);
        value.setattr("count", failed.count)?;
        value.setattr("first", failed.first)?;
        Err(err)
    }

    /// One applicant's result explained: `(text, fields)`.
    fn explain<'py>(&self, py: Python<'py>, student_id: &str) -> PyResult<(String, Bound<'py, PyDict>)> {
        let e = xuequ::explain(&self.data, &self.allocation, student_id).map_err(request)?;
        let d = PyDict::new(py);
        d.set_item("student_id", &e.student_id)?;
        d.set_item("stage", &e.stage)?;
        d.set_item("block", &e.block)?;
        d.set_item("migrant", e.migrant.map(|m| m.0))?;
        d.set_item("points", e.migrant.map(|m| m.1))?;
        d.set_item("seat_locked", e.seat_locked)?;
        d.set_item("lottery", e.lottery)?;
        d.set_item("mechanism", e.mechanism)?;
        d.set_item("distance", e.distance)?;
        d.set_item("result", &e.result)?;
        let choices = PyList::empty(py);
        for c in &e.choices {
            let item = PyDict::new(py);
            item.set_item("rank", c.rank)?;
            item.set_item("school_id", &c.school_id)?;
            item.set_item("school_name", &c.school_name)?;
            item.set_item("via", c.via)?;
            item.set_item(
                "distance_m",
                (c.distance_m != xuequ::allocate::UNKNOWN_DISTANCE).then_some(c.distance_m),
            )?;
            item.set_item("straight_m", c.straight_m)?;
            item.set_item("tier", &c.tier)?;
            item.set_item("lottery", c.lottery)?;
            item.set_item("capacity", c.capacity)?;
            item.set_item("cutoff_tier", c.cutoff.as_ref().map(|x| x.0.clone()))?;
            item.set_item("cutoff_lottery", c.cutoff.as_ref().map(|x| x.1))?;
            item.set_item("outcome", &c.outcome)?;
            choices.append(item)?;
        }
        d.set_item("choices", choices)?;
        Ok((e.to_string(), d))
    }

    /// The school id where the applicant has a seat, `None` when unplaced.
    fn school_of(&self, student_id: &str) -> PyResult<Option<String>> {
        xuequ::explain::school_of(&self.data, &self.allocation, student_id)
            .map(|s| s.map(str::to_string))
            .map_err(request)
    }

    /// Writes the run's files into `out_dir` as `xuequ run` does (one atomic output set,
    /// [`xuequ::request::Allocated::write`]); `html`, `xlsx` and `layers` add the report
    /// files. Returns the paths written.
    #[pyo3(signature = (out_dir, html=false, xlsx=false, layers=false))]
    fn write(&self, py: Python<'_>, out_dir: PathBuf, html: bool, xlsx: bool, layers: bool) -> PyResult<Vec<String>> {
        let data = Arc::clone(&self.data);
        let allocation = Arc::clone(&self.allocation);
        let options = xuequ::request::RunOptions {
            html,
            xlsx,
            layers: Some(layers),
            ..Default::default()
        };
        let paths = py
            .detach(move || xuequ::request::Allocated::new(data, allocation).write(&out_dir, &options))
            .map_err(|e| request_error(py, e))?;
        Ok(paths.iter().map(|p| p.display().to_string()).collect())
    }
}

/// Merges JSON tallies of disjoint draw ranges of one scenario into one
/// ([`xuequ::risk::RiskTally::merge`]).
#[pyfunction]
fn merge_tallies<'py>(py: Python<'py>, tallies: Vec<Vec<u8>>) -> PyResult<Bound<'py, PyBytes>> {
    let mut merged: Option<xuequ::risk::RiskTally> = None;
    for t in &tallies {
        let t: xuequ::risk::RiskTally = serde_json::from_slice(t).map_err(request)?;
        match &mut merged {
            None => merged = Some(t),
            Some(m) => m.merge(&t).map_err(request)?,
        }
    }
    let merged = merged.ok_or_else(|| RequestError::new_err("no tallies to merge"))?;
    Ok(PyBytes::new(py, &serde_json::to_vec(&merged).map_err(request)?))
}

/// The draw ranges of a sweep's tasks: `0..draws` in chunks of at most `size`.
#[pyfunction]
fn draw_chunks(draws: u32, size: u32) -> Vec<(u32, u32)> {
    xuequ::risk::draw_chunks(draws, size)
        .into_iter()
        .map(|r| (r.start, r.end))
        .collect()
}

/// Compares the scenarios of two allocations: the files of `xuequ compare`
/// (changes.csv, schools_delta.csv, comparison.json, compare.html; [`xuequ::CompareRequest`]).
#[pyfunction]
fn compare<'py>(py: Python<'py>, base: &Allocation, alt: &Allocation) -> PyResult<Bound<'py, PyDict>> {
    let bom = base.data.scenario.output.bom;
    let r = xuequ::CompareRequest::new(Arc::clone(&base.data), Arc::clone(&alt.data)).bom(bom);
    let (_, files) = py
        .detach(move || files_of("compare", |out| r.write(out)))
        .map_err(|e| request_error(py, e))?;
    files_dict(py, &files)
}

/// Generates a synthetic city (`xuequ synth`) into `out_dir` as one output set; returns the
/// generator's counts.
#[pyfunction]
#[pyo3(signature = (out_dir, preset="demo", applicants=None, seed=xuequ_synth::DEFAULT_SEED, year=xuequ_synth::DEFAULT_YEAR))]
fn synth<'py>(
    py: Python<'py>,
    out_dir: PathBuf,
    preset: &str,
    applicants: Option<u64>,
    seed: u64,
    year: i32,
) -> PyResult<Bound<'py, PyDict>> {
    let config = xuequ_synth::SynthConfig {
        preset: preset.parse().map_err(request)?,
        applicants,
        seed,
        year,
    };
    let (summary, _) = py
        .detach(move || {
            xuequ::request::write_staged(&out_dir, "synth", seed, |dir| {
                xuequ_synth::write_city(&config, dir, &mut |_| {})
            })
        })
        .map_err(|e| request_error(py, e))?;
    let d = PyDict::new(py);
    let stages = |c: &xuequ_synth::StageCounts| -> PyResult<Bound<'py, PyDict>> {
        let s = PyDict::new(py);
        s.set_item("kindergarten", c.kindergarten)?;
        s.set_item("primary", c.primary)?;
        s.set_item("junior", c.junior)?;
        Ok(s)
    };
    d.set_item("preset", preset)?;
    d.set_item("seed", summary.seed)?;
    d.set_item("year", summary.year)?;
    d.set_item("districts", summary.districts)?;
    d.set_item("blocks", summary.blocks)?;
    d.set_item("new_blocks", summary.new_blocks)?;
    d.set_item("households", summary.households)?;
    d.set_item("zone_rows", summary.zone_rows)?;
    d.set_item("public_schools", stages(&summary.public_schools)?)?;
    d.set_item("private_schools", stages(&summary.private_schools)?)?;
    d.set_item("applicants", stages(&summary.applicants)?)?;
    d.set_item("migrants", summary.migrants)?;
    d.set_item("seat_locks", summary.seat_locks)?;
    Ok(d)
}

/// The native module.
#[pymodule]
#[pyo3(name = "_xuequ")]
fn xuequ_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Scenario>()?;
    m.add_class::<Allocation>()?;
    m.add_function(wrap_pyfunction!(merge_tallies, m)?)?;
    m.add_function(wrap_pyfunction!(draw_chunks, m)?)?;
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    m.add_function(wrap_pyfunction!(synth, m)?)?;
    m.add("XuequError", py.get_type::<XuequError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("FileError", py.get_type::<FileError>())?;
    m.add("RequestError", py.get_type::<RequestError>())?;
    m.add("AuditError", py.get_type::<AuditError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
