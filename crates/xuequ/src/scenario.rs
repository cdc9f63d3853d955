//! `scenario.toml`: what to run (name, year, coordinate system, stages), where the input
//! files are, and the edits a planner applies to a base (open or close a school, change a
//! capacity, add a block, move blocks between zones, change a rule).
//!
//! A scenario may name a `base` scenario: it then inherits the base's year, coordinate system,
//! stages, inputs and edits, overrides what it sets itself, and appends its own edits.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::crs::Crs;
use crate::error::{Diagnostic, Diagnostics, LoadError};
use crate::model::Stage;
use crate::policy::line_col;

/// Paths of the input files, resolved against the scenario's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputPaths {
    /// `schools.csv` (required).
    pub schools: PathBuf,
    /// `blocks.csv` (required).
    pub blocks: PathBuf,
    /// `zones.csv` (optional: without it no block has a zone school).
    pub zones: Option<PathBuf>,
    /// `students.csv` (required).
    pub students: PathBuf,
    /// `seat_locks.csv` (optional).
    pub seat_locks: Option<PathBuf>,
    /// `distances.csv` (optional precomputed travel distances).
    pub distances: Option<PathBuf>,
    /// `policy.toml` (optional: every key has a default).
    pub policy: Option<PathBuf>,
    /// `districts.geojson` (optional district outlines, (Multi)Polygons with a `name` or
    /// `district` property, in the scenario's crs): drawn on the report's maps.
    pub districts: Option<PathBuf>,
}

/// Output switches a scenario may set (the CLI can override them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputOptions {
    /// Start CSV outputs with a UTF-8 byte-order mark so that Excel and WPS show Chinese
    /// text correctly when the file is double-clicked (default false).
    pub bom: bool,
}

/// A scenario: one year's run over one set of inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Display name.
    pub name: String,
    /// The admission year (seat locks count back from it; schools open from their year).
    pub year: i32,
    /// Coordinate system of the inputs.
    pub crs: Crs,
    /// Stages to allocate (default: all three).
    pub stages: Vec<Stage>,
    /// Input files.
    pub inputs: InputPaths,
    /// Output switches.
    pub output: OutputOptions,
    /// The scenario file itself.
    pub path: PathBuf,
    /// Edits applied on load, base edits first.
    pub edits: Vec<crate::edit::Edit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: String,
    year: Option<i32>,
    crs: Option<Crs>,
    stages: Option<Vec<Stage>>,
    base: Option<PathBuf>,
    #[serde(default)]
    inputs: InputsFile,
    output: Option<OutputOptions>,
    #[serde(default, rename = "edit")]
    edits: Vec<toml::Spanned<toml::Table>>,
}

/// How deep `base` chains may go (guards against cycles).
const MAX_BASE_DEPTH: usize = 8;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct InputsFile {
    schools: Option<PathBuf>,
    blocks: Option<PathBuf>,
    zones: Option<PathBuf>,
    students: Option<PathBuf>,
    seat_locks: Option<PathBuf>,
    distances: Option<PathBuf>,
    policy: Option<PathBuf>,
    districts: Option<PathBuf>,
}

impl Scenario {
    /// Reads and checks a scenario file. Input paths are resolved against its folder; an
    /// optional file named explicitly in `[inputs]` must exist, one left at its default name
    /// may be absent.
    pub fn load(path: &Path) -> Result<Scenario, LoadError> {
        Scenario::load_depth(path, 0)
    }

    fn load_depth(path: &Path, depth: usize) -> Result<Scenario, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::parse(&text, path, depth)
    }

    /// Parses scenario text as if read from `path`.
    pub fn from_toml(text: &str, path: &Path) -> Result<Scenario, LoadError> {
        Scenario::parse(text, path, 0)
    }

    fn parse(text: &str, path: &Path, depth: usize) -> Result<Scenario, LoadError> {
        let file = path.display().to_string();
        let mut diags = Diagnostics::default();
        let parsed: ScenarioFile = match toml::from_str(text.trim_start_matches('\u{feff}')) {
            Ok(p) => p,
            Err(e) => {
                let mut d = Diagnostic::file(
                    &file,
                    e.message().to_string(),
                    "a scenario needs name and year (or a base); optional: crs, stages, base, [inputs], [output], [[edit]] (see docs/files.md)",
                );
                if let Some(span) = e.span() {
                    let (line, col) = line_col(text, span.start);
                    d.line = Some(line);
                    d.column = Some(col);
                }
                diags.push(d);
                return Err(LoadError::Invalid(diags));
            }
        };
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = match &parsed.base {
            None => None,
            Some(_) if depth >= MAX_BASE_DEPTH => {
                diags.push(
                    Diagnostic::file(
                        &file,
                        "base scenarios nest too deep (a cycle?)",
                        "point base at a scenario without a base chain back to this one",
                    )
                    .at_field(None, "base"),
                );
                return Err(LoadError::Invalid(diags));
            }
            Some(b) => {
                let b = if b.is_absolute() { b.clone() } else { dir.join(b) };
                Some(Scenario::load_depth(&b, depth + 1)?)
            }
        };
        let mut edits: Vec<crate::edit::Edit> = base.as_ref().map(|b| b.edits.clone()).unwrap_or_default();
        for spanned in &parsed.edits {
            let (line, _) = line_col(text, spanned.span().start);
            match crate::edit::Edit::from_table(spanned.get_ref(), &file, line) {
                Ok(e) => edits.push(e),
                Err(d) => diags.push(*d),
            }
        }
        let parsed = ScenarioFile {
            year: parsed.year.or(base.as_ref().map(|b| b.year)),
            crs: parsed.crs.or(base.as_ref().map(|b| b.crs)),
            stages: parsed.stages.or(base.as_ref().map(|b| b.stages.clone())),
            output: parsed.output.or(base.as_ref().map(|b| b.output.clone())),
            ..parsed
        };
        let Some(year) = parsed.year else {
            diags.push(
                Diagnostic::file(&file, "year is missing", "write the admission year, e.g. year = 2026")
                    .at_field(None, "year"),
            );
            return Err(LoadError::Invalid(diags));
        };
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };
        let inherited = base.as_ref().map(|b| b.inputs.clone());
        let mut optional = |explicit: Option<PathBuf>,
                            default: &str,
                            key: &str,
                            from_base: Option<Option<PathBuf>>|
         -> Option<PathBuf> {
            match explicit {
                Some(p) => {
                    let p = resolve(p);
                    if !p.is_file() {
                        diags.push(
                            Diagnostic::file(
                                &file,
                                format!("[inputs] {key} names a file that does not exist: {}", p.display()),
                                "fix the path or remove the key",
                            )
                            .at_field(None, format!("inputs.{key}")),
                        );
                    }
                    Some(p)
                }
                None => match from_base {
                    Some(p) => p,
                    None => {
                        let p = dir.join(default);
                        p.is_file().then_some(p)
                    }
                },
            }
        };
        let zones = optional(
            parsed.inputs.zones,
            "zones.csv",
            "zones",
            inherited.as_ref().map(|i| i.zones.clone()),
        );
        let seat_locks = optional(
            parsed.inputs.seat_locks,
            "seat_locks.csv",
            "seat_locks",
            inherited.as_ref().map(|i| i.seat_locks.clone()),
        );
        let distances = optional(
            parsed.inputs.distances,
            "distances.csv",
            "distances",
            inherited.as_ref().map(|i| i.distances.clone()),
        );
        let policy = optional(
            parsed.inputs.policy,
            "policy.toml",
            "policy",
            inherited.as_ref().map(|i| i.policy.clone()),
        );
        let districts = optional(
            parsed.inputs.districts,
            "districts.geojson",
            "districts",
            inherited.as_ref().map(|i| i.districts.clone()),
        );
        let required =
            |explicit: Option<PathBuf>, default: &str, from_base: Option<&PathBuf>| match (explicit, from_base) {
                (Some(p), _) => resolve(p),
                (None, Some(b)) => b.clone(),
                (None, None) => dir.join(default),
            };
        let inputs = InputPaths {
            schools: required(
                parsed.inputs.schools,
                "schools.csv",
                inherited.as_ref().map(|i| &i.schools),
            ),
            blocks: required(
                parsed.inputs.blocks,
                "blocks.csv",
                inherited.as_ref().map(|i| &i.blocks),
            ),
            students: required(
                parsed.inputs.students,
                "students.csv",
                inherited.as_ref().map(|i| &i.students),
            ),
            zones,
            seat_locks,
            distances,
            policy,
            districts,
        };
        for (key, p) in [
            ("schools", &inputs.schools),
            ("blocks", &inputs.blocks),
            ("students", &inputs.students),
        ] {
            if !p.is_file() {
                diags.push(
                    Diagnostic::file(
                        &file,
                        format!("the required input {key} is missing: {}", p.display()),
                        format!("put {key}.csv beside the scenario or set [inputs] {key} = \"path\""),
                    )
                    .at_field(None, format!("inputs.{key}")),
                );
            }
        }
        if !(1900..=2200).contains(&year) {
            diags.push(
                Diagnostic::file(
                    &file,
                    "year is out of range",
                    "write the admission year, e.g. year = 2026",
                )
                .at_field(None, "year")
                .with_value(year.to_string()),
            );
        }
        let mut stages = parsed.stages.clone().unwrap_or_else(|| Stage::ALL.to_vec());
        stages.sort();
        stages.dedup();
        if stages.is_empty() {
            diags.push(
                Diagnostic::file(
                    &file,
                    "stages is empty",
                    "list at least one of kindergarten, primary, junior",
                )
                .at_field(None, "stages"),
            );
        }
        if !diags.is_empty() {
            return Err(LoadError::Invalid(diags));
        }
        Ok(Scenario {
            name: parsed.name,
            year,
            crs: parsed.crs.unwrap_or_default(),
            stages,
            inputs,
            output: parsed.output.unwrap_or_default(),
            path: path.to_path_buf(),
            edits,
        })
    }
}
