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
use crate::io::TextEncoding;
use crate::io::source::InputSpec;
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
    /// The road network (`.osm.pbf`, `.osm` or `roads.csv`; optional).
    pub roads: Option<PathBuf>,
    /// District outlines, a GeoJSON FeatureCollection of (Multi)Polygons with a `name`
    /// property (optional: plausibility checks and maps; see `docs/inputs.md`).
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
    /// Per input (by its `[inputs]` key), a forced encoding or a sheet.
    pub input_options: std::collections::BTreeMap<String, InputOptions>,
    /// Output switches.
    pub output: OutputOptions,
    /// The scenario file itself.
    pub path: PathBuf,
    /// Edits applied on load, base edits first.
    pub edits: Vec<crate::edit::Edit>,
    /// The distance every command uses (`distance = ...`; default `matrix` when the scenario
    /// has `distances.csv`, else `straight`).
    pub distance: crate::spatial::DistanceKind,
    /// `[roads]`: mode, radius, snap limit, cache.
    pub roads: crate::spatial::RoadsOptions,
    /// Plausibility warnings are errors (`strict = true`, or the CLI's `--strict`).
    pub strict: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: String,
    year: Option<i32>,
    crs: Option<Crs>,
    stages: Option<Vec<Stage>>,
    base: Option<toml::Spanned<PathBuf>>,
    #[serde(default)]
    inputs: InputsFile,
    output: Option<OutputOptions>,
    strict: Option<bool>,
    #[serde(default, rename = "edit")]
    edits: Vec<toml::Spanned<toml::Table>>,
    distance: Option<crate::spatial::DistanceKind>,
    roads: Option<crate::spatial::RoadsOptions>,
}

/// How deep `base` chains may go (guards against cycles).
const MAX_BASE_DEPTH: usize = 8;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct InputsFile {
    schools: Option<toml::Spanned<InputEntry>>,
    blocks: Option<toml::Spanned<InputEntry>>,
    zones: Option<toml::Spanned<InputEntry>>,
    students: Option<toml::Spanned<InputEntry>>,
    seat_locks: Option<toml::Spanned<InputEntry>>,
    distances: Option<toml::Spanned<InputEntry>>,
    policy: Option<toml::Spanned<InputEntry>>,
    roads: Option<toml::Spanned<InputEntry>>,
    districts: Option<toml::Spanned<InputEntry>>,
}

/// An `[inputs]` value: a path, or `{ path = "…", encoding = "gbk", sheet = "学校" }`.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum InputEntry {
    Path(PathBuf),
    Spec {
        path: PathBuf,
        encoding: Option<String>,
        sheet: Option<String>,
    },
}

impl InputEntry {
    fn path(&self) -> PathBuf {
        match self {
            InputEntry::Path(p) | InputEntry::Spec { path: p, .. } => p.clone(),
        }
    }
}

/// How one input is read, beyond its path: a forced text encoding, a workbook's sheet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputOptions {
    /// Forced text encoding (otherwise detected per file).
    pub encoding: Option<TextEncoding>,
    /// The workbook sheet to read (otherwise the first).
    pub sheet: Option<String>,
}

impl Scenario {
    /// Reads and checks a scenario file. Input paths are resolved against its folder; an
    /// optional file named explicitly in `[inputs]` must exist, one left at its default name
    /// may be absent.
    pub fn load(path: &Path) -> Result<Scenario, LoadError> {
        Scenario::load_depth(path, 0)
    }

    fn load_depth(path: &Path, depth: usize) -> Result<Scenario, LoadError> {
        let file = path.display().to_string();
        let text = crate::io::toml_file::read_toml_text(path, &file)?;
        Scenario::parse(&text, path, depth, &[])
    }

    /// Parses scenario text as if read from `path`.
    pub fn from_toml(text: &str, path: &Path) -> Result<Scenario, LoadError> {
        Scenario::parse(text, path, 0, &[])
    }

    /// Parses scenario text as if read from `path`, with the inputs `tables` holds given in
    /// memory: those need no file (an optional one counts as present at its default name
    /// beside `path`, so diagnostics still name a file). Load it with
    /// [`crate::Dataset::load_with_tables`] and the same tables.
    pub fn from_toml_with_tables(
        text: &str,
        path: &Path,
        tables: &crate::load::MemoryTables,
    ) -> Result<Scenario, LoadError> {
        let provided = tables.keys();
        Scenario::parse(text, path, 0, &provided)
    }

    /// `provided`: the `[inputs]` keys given in memory rather than as files.
    fn parse(text: &str, path: &Path, depth: usize, provided: &[&str]) -> Result<Scenario, LoadError> {
        let file = path.display().to_string();
        let mut diags = Diagnostics::default();
        let text = text.trim_start_matches('\u{feff}');
        let parsed: ScenarioFile = match toml::from_str(text) {
            Ok(p) => p,
            Err(e) => {
                let mut d = Diagnostic::file(
                    &file,
                    e.message().to_string(),
                    "a scenario needs name and year (or a base); optional: crs, stages, base, strict, distance, [inputs], [output], [roads], [[edit]] (see docs/files.md)",
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
            Some(spanned) if depth >= MAX_BASE_DEPTH => {
                let (line, col) = line_col(text, spanned.span().start);
                diags.push(
                    Diagnostic::file(
                        &file,
                        "base scenarios nest too deep (a cycle?)",
                        "point base at a scenario without a base chain back to this one",
                    )
                    .at_line(line)
                    .at_field(Some(col), "base"),
                );
                return Err(LoadError::Invalid(diags));
            }
            Some(spanned) => {
                let b = spanned.get_ref();
                let b = if b.is_absolute() { b.clone() } else { dir.join(b) };
                if !b.is_file() {
                    let (line, col) = line_col(text, spanned.span().start);
                    diags.push(
                        Diagnostic::file(
                            &file,
                            format!("the base scenario does not exist: {}", b.display()),
                            "point base at a scenario.toml, relative to this file's folder",
                        )
                        .at_line(line)
                        .at_field(Some(col), "base")
                        .with_value(spanned.get_ref().display().to_string()),
                    );
                    return Err(LoadError::Invalid(diags));
                }
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
            distance: parsed.distance.or(base.as_ref().map(|b| b.distance)),
            roads: parsed.roads.or(base.as_ref().map(|b| b.roads)),
            strict: parsed.strict.or(base.as_ref().map(|b| b.strict)),
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
        let mut input_options = base.as_ref().map(|b| b.input_options.clone()).unwrap_or_default();
        // Encodings and sheets of the inputs this file names (checked here, with their line).
        for (key, entry) in [
            ("schools", &parsed.inputs.schools),
            ("blocks", &parsed.inputs.blocks),
            ("zones", &parsed.inputs.zones),
            ("students", &parsed.inputs.students),
            ("seat_locks", &parsed.inputs.seat_locks),
            ("distances", &parsed.inputs.distances),
            ("policy", &parsed.inputs.policy),
        ] {
            let Some(entry) = entry else { continue };
            let mut options = InputOptions::default();
            if let InputEntry::Spec { encoding, sheet, .. } = entry.get_ref() {
                if let Some(enc) = encoding {
                    match enc.parse::<TextEncoding>() {
                        Ok(e) => options.encoding = Some(e),
                        Err(hint) => {
                            let (line, col) = line_col(text, entry.span().start);
                            diags.push(
                                Diagnostic::file(&file, "unknown encoding", hint)
                                    .at_line(line)
                                    .at_field(Some(col), format!("inputs.{key}.encoding"))
                                    .with_value(enc.clone()),
                            );
                        }
                    }
                }
                options.sheet = sheet.clone();
            }
            input_options.insert(key.to_string(), options);
        }
        let mut optional = |explicit: Option<toml::Spanned<InputEntry>>,
                            default: &str,
                            key: &str,
                            from_base: Option<Option<PathBuf>>|
         -> Option<PathBuf> {
            match explicit {
                Some(entry) => {
                    let p = resolve(entry.get_ref().path());
                    if !p.is_file() && !provided.contains(&key) {
                        let (line, col) = line_col(text, entry.span().start);
                        diags.push(
                            Diagnostic::file(
                                &file,
                                format!("[inputs] {key} names a file that does not exist: {}", p.display()),
                                "fix the path or remove the key",
                            )
                            .at_line(line)
                            .at_field(Some(col), format!("inputs.{key}")),
                        );
                    }
                    Some(p)
                }
                None => match from_base {
                    Some(p) => p.or_else(|| provided.contains(&key).then(|| dir.join(default))),
                    None => {
                        let p = dir.join(default);
                        (p.is_file() || provided.contains(&key)).then_some(p)
                    }
                },
            }
        };
        let zones = optional(
            parsed.inputs.zones.clone(),
            "zones.csv",
            "zones",
            inherited.as_ref().map(|i| i.zones.clone()),
        );
        let seat_locks = optional(
            parsed.inputs.seat_locks.clone(),
            "seat_locks.csv",
            "seat_locks",
            inherited.as_ref().map(|i| i.seat_locks.clone()),
        );
        let distances = optional(
            parsed.inputs.distances.clone(),
            "distances.csv",
            "distances",
            inherited.as_ref().map(|i| i.distances.clone()),
        );
        let policy = optional(
            parsed.inputs.policy.clone(),
            "policy.toml",
            "policy",
            inherited.as_ref().map(|i| i.policy.clone()),
        );
        let roads = optional(
            parsed.inputs.roads.clone(),
            "roads.osm.pbf",
            "roads",
            inherited.as_ref().map(|i| i.roads.clone()),
        );
        let districts = match parsed.inputs.districts.clone() {
            Some(entry) => optional(Some(entry), "", "districts", None),
            None => inherited.as_ref().and_then(|i| i.districts.clone()),
        };
        let mut key_lines: Vec<(&str, Option<(u64, usize)>)> = Vec::new();
        let mut required = |explicit: &Option<toml::Spanned<InputEntry>>,
                            key: &'static str,
                            default: &str,
                            from_base: Option<&PathBuf>| {
            key_lines.push((key, explicit.as_ref().map(|e| line_col(text, e.span().start))));
            match (explicit, from_base) {
                (Some(p), _) => resolve(p.get_ref().path()),
                (None, Some(b)) => b.clone(),
                (None, None) => dir.join(default),
            }
        };
        let inputs = InputPaths {
            schools: required(
                &parsed.inputs.schools,
                "schools",
                "schools.csv",
                inherited.as_ref().map(|i| &i.schools),
            ),
            blocks: required(
                &parsed.inputs.blocks,
                "blocks",
                "blocks.csv",
                inherited.as_ref().map(|i| &i.blocks),
            ),
            students: required(
                &parsed.inputs.students,
                "students",
                "students.csv",
                inherited.as_ref().map(|i| &i.students),
            ),
            zones,
            seat_locks,
            distances,
            policy,
            roads,
            districts,
        };
        for ((key, at), p) in key_lines
            .iter()
            .zip([&inputs.schools, &inputs.blocks, &inputs.students])
        {
            if !p.is_file() && !provided.contains(key) {
                let mut d = Diagnostic::file(
                    &file,
                    format!("the required input {key} is missing: {}", p.display()),
                    format!("put {key}.csv beside the scenario or set [inputs] {key} = \"path\""),
                )
                .at_field(at.map(|a| a.1), format!("inputs.{key}"));
                d.line = at.map(|a| a.0);
                diags.push(d);
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
        if parsed.distance == Some(crate::spatial::DistanceKind::Roads) && inputs.roads.is_none() {
            diags.push(
                Diagnostic::file(
                    &file,
                    "distance = \"roads\" but no road network is named",
                    "set [inputs] roads = \"city.osm.pbf\" (or .osm, or roads.csv)",
                )
                .at_field(None, "inputs.roads"),
            );
        }
        let inputs_have_matrix = inputs.distances.is_some();
        if !diags.is_empty() {
            return Err(LoadError::Invalid(diags));
        }
        Ok(Scenario {
            name: parsed.name,
            year,
            crs: parsed.crs.unwrap_or_default(),
            stages,
            inputs,
            input_options,
            output: parsed.output.unwrap_or_default(),
            path: path.to_path_buf(),
            edits,
            distance: parsed.distance.unwrap_or(if inputs_have_matrix {
                crate::spatial::DistanceKind::Matrix
            } else {
                crate::spatial::DistanceKind::Straight
            }),
            roads: parsed.roads.unwrap_or_default(),
            strict: parsed.strict.unwrap_or(false),
        })
    }
}

impl Scenario {
    /// The scenario with `edit` applied after its own edits (an edit built in code, e.g.
    /// [`Edit::close_school`](crate::edit::Edit::close_school)); load it with
    /// [`Dataset::load_scenario`](crate::Dataset::load_scenario).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), xuequ::Error> {
    /// use xuequ::edit::Edit;
    /// let scenario = xuequ::Scenario::load("data/demo/scenario.toml".as_ref())?
    ///     .with_edit(Edit::close_school("P0003"))
    ///     .with_edit(Edit::capacity("P0001", 270));
    /// let data = xuequ::Dataset::load_scenario(scenario)?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_edit(mut self, edit: crate::edit::Edit) -> Scenario {
        self.edits.push(edit);
        self
    }

    /// The scenario with `edits` applied, in order, after its own edits.
    #[must_use]
    pub fn with_edits(mut self, edits: impl IntoIterator<Item = crate::edit::Edit>) -> Scenario {
        self.edits.extend(edits);
        self
    }

    /// How to read the input under `[inputs]` key `key` at `path`.
    pub fn input_spec(&self, key: &str, path: &Path) -> InputSpec {
        let options = self.input_options.get(key).cloned().unwrap_or_default();
        InputSpec {
            path: path.to_path_buf(),
            encoding: options.encoding,
            sheet: options.sheet,
        }
    }
}
