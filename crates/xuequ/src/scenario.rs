//! `scenario.toml`: what to run (name, year, coordinate system, stages) and where the
//! input files are.

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
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: String,
    year: i32,
    #[serde(default)]
    crs: Crs,
    stages: Option<Vec<Stage>>,
    #[serde(default)]
    inputs: InputsFile,
    #[serde(default)]
    output: OutputOptions,
}

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
}

impl Scenario {
    /// Reads and checks a scenario file. Input paths are resolved against its folder; an
    /// optional file named explicitly in `[inputs]` must exist, one left at its default name
    /// may be absent.
    pub fn load(path: &Path) -> Result<Scenario, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Scenario::from_toml(&text, path)
    }

    /// Parses scenario text as if read from `path`.
    pub fn from_toml(text: &str, path: &Path) -> Result<Scenario, LoadError> {
        let file = path.display().to_string();
        let mut diags = Diagnostics::default();
        let parsed: ScenarioFile = match toml::from_str(text.trim_start_matches('\u{feff}')) {
            Ok(p) => p,
            Err(e) => {
                let mut d = Diagnostic::file(
                    &file,
                    e.message().to_string(),
                    "a scenario needs name and year; optional: crs, stages, [inputs], [output] (see docs/scenario.md)",
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
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { dir.join(p) };
        let mut optional = |explicit: Option<PathBuf>, default: &str, key: &str| -> Option<PathBuf> {
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
                None => {
                    let p = dir.join(default);
                    p.is_file().then_some(p)
                }
            }
        };
        let zones = optional(parsed.inputs.zones, "zones.csv", "zones");
        let seat_locks = optional(parsed.inputs.seat_locks, "seat_locks.csv", "seat_locks");
        let distances = optional(parsed.inputs.distances, "distances.csv", "distances");
        let policy = optional(parsed.inputs.policy, "policy.toml", "policy");
        let inputs = InputPaths {
            schools: resolve(parsed.inputs.schools.unwrap_or_else(|| "schools.csv".into())),
            blocks: resolve(parsed.inputs.blocks.unwrap_or_else(|| "blocks.csv".into())),
            students: resolve(parsed.inputs.students.unwrap_or_else(|| "students.csv".into())),
            zones,
            seat_locks,
            distances,
            policy,
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
        if !(1900..=2200).contains(&parsed.year) {
            diags.push(
                Diagnostic::file(
                    &file,
                    "year is out of range",
                    "write the admission year, e.g. year = 2026",
                )
                .at_field(None, "year")
                .with_value(parsed.year.to_string()),
            );
        }
        let mut stages = parsed.stages.unwrap_or_else(|| Stage::ALL.to_vec());
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
            year: parsed.year,
            crs: parsed.crs,
            stages,
            inputs,
            output: parsed.output,
            path: path.to_path_buf(),
        })
    }
}
