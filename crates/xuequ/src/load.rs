//! Reading and validating the input files into a [`Dataset`].
//!
//! Every loader keeps going after a bad row so that one run reports every problem (up to
//! [`Diagnostics::DEFAULT_CAP`]), each with file, line, column, value and a fix. Cross-file
//! references (a student's block, a zone's school) are checked once all files are read.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::crs::Crs;
use crate::error::{Diagnostic, Diagnostics, LoadError};
use crate::io::source::{OpenError, SourceInfo};
use crate::io::toml_file::TomlReadError;
use crate::model::{
    Block, BlockStatus, City, Cohort, Location, School, Sector, Stage, StageZones, StringTable, Student,
};
use crate::policy::Policy;
use crate::scenario::Scenario;

/// Precomputed travel distances from `distances.csv`, kept to the millimetre. Commands ask
/// [`crate::spatial::Spatial`] for distances, not this table.
#[derive(Debug, Clone, Default)]
pub struct DistanceMatrix {
    map: HashMap<(u32, u32), u32, rustc_hash::FxBuildHasher>,
}

impl DistanceMatrix {
    /// The distance from a block to a school in whole metres, if the matrix has it.
    pub fn get(&self, school: u32, block: u32) -> Option<u32> {
        self.map
            .get(&(school, block))
            .map(|&mm| crate::spatial::metres_of_mm(mm))
    }

    /// Sets a distance in whole metres.
    pub fn insert(&mut self, school: u32, block: u32, metres: u32) {
        self.map.insert((school, block), metres.saturating_mul(1000));
    }

    /// Sets a distance in millimetres.
    pub fn insert_mm(&mut self, school: u32, block: u32, mm: u32) {
        self.map.insert((school, block), mm);
    }

    /// Every pair as `(school, block, millimetres)`, in no particular order.
    pub fn iter_mm(&self) -> impl Iterator<Item = (u32, u32, u32)> + '_ {
        self.map.iter().map(|(&(s, b), &mm)| (s, b, mm))
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Everything one run reads: the scenario, the city, the applicants and the rules.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The scenario.
    pub scenario: Scenario,
    /// Schools, blocks, zones.
    pub city: City,
    /// Applicants and seat-lock history.
    pub cohort: Cohort,
    /// The rules.
    pub policy: Policy,
    /// Precomputed distances, if given.
    pub distances: Option<DistanceMatrix>,
    /// The distance source every command asks ([`crate::spatial`]).
    pub spatial: crate::spatial::Spatial,
    /// Plausibility warnings about the inputs ([`crate::plausibility`]); with
    /// `strict = true` they fail the load instead.
    pub warnings: Vec<crate::plausibility::Warning>,
    /// What each tabular input was read as (format, encoding, sheet).
    pub sources: Vec<SourceInfo>,
    /// The size and SHA-256 of each input whose bytes the loader read itself, as it read
    /// them ([`Dataset::input_records`]).
    read_hashes: Vec<crate::io::ManifestInput>,
}

/// What the loader records of the inputs it reads: what each was read as, and the size and
/// SHA-256 of the bytes it read itself.
#[derive(Default)]
struct InputsRead {
    sources: Vec<SourceInfo>,
    hashes: Vec<crate::io::ManifestInput>,
}

impl Dataset {
    /// The applicant with id `id`.
    pub fn student(&self, id: &str) -> Option<&crate::model::Student> {
        self.cohort.find_student(id)
    }

    /// The school with id `id` (schools opened by edits included).
    pub fn school(&self, id: &str) -> Option<&crate::model::School> {
        self.city.find_school(id)
    }

    /// The block with id `id` (blocks added by edits included).
    pub fn block(&self, id: &str) -> Option<&crate::model::Block> {
        self.city.find_block(id)
    }

    /// Loads and validates every input a scenario names. On failure the error lists every
    /// problem found (up to the cap).
    pub fn load(scenario_path: &Path) -> Result<Dataset, LoadError> {
        let scenario = Scenario::load(scenario_path)?;
        Dataset::load_scenario(scenario)
    }

    /// Loads the inputs of an already parsed scenario.
    pub fn load_scenario(scenario: Scenario) -> Result<Dataset, LoadError> {
        Dataset::load_with_tables(scenario, &MemoryTables::default())
    }

    /// Loads a scenario whose inputs are partly or wholly given in memory (a caller's data
    /// frames, a shipped copy of files read elsewhere): each input `tables` holds is read
    /// from there, checked exactly as the file would be, and its problems name the file the
    /// scenario gives for it (line 1 being the header); the other inputs are read from their
    /// files. Parse the scenario with [`Scenario::from_toml_with_tables`] so that inputs
    /// given only in memory need no file.
    pub fn load_with_tables(scenario: Scenario, tables: &MemoryTables) -> Result<Dataset, LoadError> {
        let mut diags = Diagnostics::default();
        let name = |p: &Path| p.display().to_string();

        let (policy_text, policy_name) = match (&scenario.inputs.policy, &tables.policy) {
            (p, Some(text)) => (
                text.clone(),
                p.as_deref().map_or_else(|| "policy.toml (in memory)".to_string(), name),
            ),
            (Some(p), None) => match crate::io::toml_file::read_toml_text(p, &name(p)) {
                Ok(text) => (text, name(p)),
                Err(TomlReadError::Io { path, source }) => return Err(LoadError::Io { path, source }),
                Err(TomlReadError::Invalid(d)) => {
                    diags.push(*d);
                    (String::new(), name(p))
                }
            },
            (None, None) => (String::new(), "policy.toml (defaults)".to_string()),
        };
        let policy_text = policy_text.trim_start_matches('\u{feff}').to_string();
        // Policy edits of the scenario are merged over the file before it is read.
        let (policy_text, policy_name) = match crate::edit::edited_policy(&policy_text, &scenario.edits) {
            Ok(Some(text)) => (text, format!("{policy_name} + the scenario's policy edits")),
            Ok(None) => (policy_text, policy_name),
            Err(d) => {
                diags.push(*d);
                (policy_text, policy_name)
            }
        };
        let policy = match Policy::from_toml(&policy_text, &policy_name) {
            Ok(policy) => policy,
            Err(d) => {
                for item in d.items() {
                    diags.push(item.clone());
                }
                Policy::default()
            }
        };

        // The applicants' file is by far the largest. UTF-8 CSV text is read a window at a
        // time as it is parsed; any other is read (and decoded) whole on another thread while
        // the small tables are parsed, which need the city only.
        let students_file = name(&scenario.inputs.students);
        let students_spec = tables
            .get("students")
            .is_none()
            .then(|| scenario.input_spec("students", &scenario.inputs.students));
        let (students_stream, students_spec) = match students_spec {
            Some(spec)
                if !crate::io::sheet::is_spreadsheet(&spec.path)
                    && matches!(spec.encoding, None | Some(crate::io::text::TextEncoding::Utf8)) =>
            {
                (Some(spec), None)
            }
            spec => (None, spec),
        };
        std::thread::scope(|scope| {
            let students_text = students_spec.map(|spec| {
                let file = students_file.clone();
                scope.spawn(move || crate::io::source::read_table(&spec, &file))
            });
            Dataset::load_tables(scenario, tables, diags, policy, students_text, students_stream)
        })
        .map(|mut data| {
            // A policy given in memory was not read from the scenario's file.
            if let Some(text) = &tables.policy
                && let Some(p) = &data.scenario.inputs.policy
            {
                data.sources.push(SourceInfo {
                    file: name(p),
                    format: "memory",
                    encoding: Some(crate::io::text::TextEncoding::Utf8),
                    sheet: None,
                });
                data.read_hashes.push(crate::io::ManifestInput {
                    path: crate::io::source::in_memory_label(&name(p)),
                    bytes: text.len() as u64,
                    sha256: crate::io::output_set::sha256_hex(text.as_bytes()),
                });
            }
            data
        })
    }

    /// The part of [`Dataset::load_with_tables`] after the policy: every table in order.
    fn load_tables(
        scenario: Scenario,
        tables: &MemoryTables,
        mut diags: Diagnostics,
        policy: Policy,
        students_text: Option<std::thread::ScopedJoinHandle<'_, Result<crate::io::source::TableText, OpenError>>>,
        students_stream: Option<crate::io::source::InputSpec>,
    ) -> Result<Dataset, LoadError> {
        let name = |p: &Path| p.display().to_string();
        let mut inputs_read = InputsRead::default();
        let mut students_text = students_text;
        // Each tabular input: read (CSV in any accepted encoding, or a workbook's sheet),
        // parsed by its reader, and its diagnostics placed on the workbook's cells.
        let mut table = |key: &str,
                         path: &Path,
                         diags: &mut Diagnostics,
                         inputs_read: &mut InputsRead,
                         read: &mut dyn FnMut(DecodedText, &str, &mut Diagnostics)| {
            let file = name(path);
            let prefetched = if key == "students" { students_text.take() } else { None };
            let opened = match (tables.get(key), prefetched) {
                (Some(bytes), _) => crate::io::source::TableText::in_memory(bytes.to_vec(), &file),
                (None, Some(reading)) => reading.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                (None, None) => crate::io::source::read_table(&scenario.input_spec(key, path), &file),
            };
            match opened {
                Ok(mut text) => {
                    let mut local = Diagnostics::with_cap(Diagnostics::DEFAULT_CAP);
                    // The text moves into the reader (no copy of a large file).
                    read(DecodedText(std::mem::take(&mut text.bytes)), &file, &mut local);
                    for mut d in local.items().iter().cloned() {
                        text.locate(&mut d);
                        diags.push(d);
                    }
                    diags.omitted += local.omitted;
                    inputs_read.hashes.extend(text.read_hash().cloned());
                    inputs_read.sources.push(text.info);
                    Ok(())
                }
                Err(OpenError::Io { path, source }) => Err(LoadError::Io { path, source }),
                Err(OpenError::Invalid(d)) => {
                    diags.push(*d);
                    Ok(())
                }
            }
        };
        let inputs = &scenario.inputs;
        let crs = scenario.crs;
        let mut city = City::default();
        table(
            "schools",
            &inputs.schools,
            &mut diags,
            &mut inputs_read,
            &mut |b, f, d| read_schools(b, f, crs, &mut city, d),
        )?;
        city.rejected.all_schools = city.schools.is_empty() && !diags.is_empty();
        let before = diags.total();
        if tables.get("blocks").is_none() && crate::shapes::is_polygon_file(&inputs.blocks) {
            crate::shapes::read_blocks(&inputs.blocks, crs, &mut city, &mut diags);
        } else {
            table(
                "blocks",
                &inputs.blocks,
                &mut diags,
                &mut inputs_read,
                &mut |b, f, d| read_blocks(b, f, crs, &mut city, d),
            )?;
        }
        city.rejected.all_blocks = city.blocks.is_empty() && diags.total() > before;
        let mut zone_polygons = Vec::new();
        if let Some(z) = &inputs.zones {
            if tables.get("zones").is_none() && crate::shapes::is_polygon_file(z) {
                zone_polygons = crate::shapes::read_zones(z, crs, &mut city, &mut diags);
            } else {
                table("zones", z, &mut diags, &mut inputs_read, &mut |b, f, d| {
                    read_zones(b, f, &mut city, d)
                })?;
            }
        }
        if let Some(d) = &inputs.districts {
            crate::shapes::read_districts(d, crs, &mut city, &mut diags);
        }
        crate::edit::apply_city_edits(&mut city, &scenario.edits, scenario.crs, &mut diags);
        let mut cohort = Cohort::default();
        let extra = policy.extra_attributes();
        let streamed = match students_stream {
            Some(spec) => {
                let file = name(&spec.path);
                let mut local = Diagnostics::with_cap(Diagnostics::DEFAULT_CAP);
                let students = StudentsRead {
                    file: &file,
                    city: &city,
                    extra: &extra,
                    sites: &policy.attribute_sites,
                };
                match students.streamed(&spec.path, student_window(), &mut cohort, &mut local) {
                    Ok(Streamed::Read(hash)) => {
                        take_problems(&mut diags, &local);
                        inputs_read.hashes.push(hash);
                        inputs_read.sources.push(SourceInfo {
                            file,
                            format: "csv",
                            encoding: Some(crate::io::text::TextEncoding::Utf8),
                            sheet: None,
                        });
                        true
                    }
                    // Read again whole, which reports what stopped the windows.
                    Ok(Streamed::ReadWhole) => false,
                    Err(source) => {
                        return Err(LoadError::Io {
                            path: spec.path,
                            source,
                        });
                    }
                }
            }
            None => false,
        };
        if !streamed {
            table(
                "students",
                &inputs.students,
                &mut diags,
                &mut inputs_read,
                &mut |b, file, d| {
                    let sites = &policy.attribute_sites;
                    StudentsRead {
                        file,
                        city: &city,
                        extra: &extra,
                        sites,
                    }
                    .whole(b, &mut cohort, d)
                },
            )?;
        }
        if let Some(p) = &inputs.seat_locks {
            let year = scenario.year;
            table("seat_locks", p, &mut diags, &mut inputs_read, &mut |b, f, d| {
                read_seat_locks(b, f, year, &mut cohort, d)
            })?;
        }
        let mut distances = None;
        if let Some(p) = &inputs.distances {
            table("distances", p, &mut diags, &mut inputs_read, &mut |b, f, d| {
                distances = Some(read_distances(b, f, &city, d));
            })?;
        }
        let spatial = if diags.is_empty() {
            match crate::spatial::Spatial::for_scenario(&scenario, &city, distances.as_ref()) {
                Ok(s) => s,
                Err(e) => {
                    for d in e.into_diagnostics(&name(&scenario.path)) {
                        diags.push(d);
                    }
                    crate::spatial::Spatial::default()
                }
            }
        } else {
            crate::spatial::Spatial::default()
        };
        let mut warnings = Vec::new();
        if diags.is_empty() {
            warnings = crate::plausibility::check_inputs(&scenario, &city, &zone_polygons);
            if scenario.strict {
                for w in &warnings {
                    diags.push(w.as_error());
                }
            }
        }
        if diags.is_empty() {
            Ok(Dataset {
                scenario,
                city,
                cohort,
                policy,
                distances,
                spatial,
                warnings,
                sources: inputs_read.sources,
                read_hashes: inputs_read.hashes,
            })
        } else {
            Err(LoadError::Invalid(diags))
        }
    }

    /// Every input file this dataset was read from, for a run's manifest: the scenario, each
    /// table and the policy (unless given in memory, [`Dataset::load_with_tables`]), the road
    /// network when distances come from it, and polygon files with a shapefile's companions
    /// (`.shx`, `.dbf`, `.prj`, `.cpg`).
    pub fn input_files(&self) -> Vec<PathBuf> {
        self.inputs()
            .into_iter()
            .filter(|(_, in_memory, _)| !in_memory)
            .map(|(path, _, _)| path)
            .collect()
    }

    /// The inputs for a run's manifest ([`crate::io::OutputSet::input_records`]), in the
    /// order of [`Dataset::input_files`]: a table (CSV or workbook) as the size and SHA-256
    /// of the bytes the loader read and parsed, a table or policy given in memory likewise
    /// (named `… (in memory)`), and every other file (the scenario and policy files,
    /// polygons, a road network) to be hashed from the disk as the outputs are written.
    pub fn input_records(&self) -> Vec<crate::io::InputRecord> {
        use crate::io::InputRecord;
        self.inputs()
            .into_iter()
            .filter_map(|(path, in_memory, read)| match (read, in_memory) {
                (Some(read), _) => Some(InputRecord::Read(read.clone())),
                (None, true) => None,
                (None, false) => Some(InputRecord::File(path)),
            })
            .collect()
    }

    /// Every input in the manifest's order: its file, whether it was given in memory instead,
    /// and the size and SHA-256 of the bytes the loader read, if it read them itself.
    fn inputs(&self) -> Vec<(PathBuf, bool, Option<&crate::io::ManifestInput>)> {
        let i = &self.scenario.inputs;
        let tables = [&i.schools, &i.blocks, &i.students].map(Some);
        let roads = i
            .roads
            .as_ref()
            .filter(|_| self.spatial.kind() == crate::spatial::DistanceKind::Roads);
        let others = [&i.zones, &i.seat_locks, &i.distances, &i.policy]
            .map(Option::as_ref)
            .into_iter()
            .chain([roads, i.districts.as_ref()]);
        let mut inputs = vec![(self.scenario.path.clone(), false, None)];
        for path in tables.into_iter().chain(others).flatten() {
            let file = path.display().to_string();
            let in_memory = self.sources.iter().any(|s| s.format == "memory" && s.file == file);
            let label = if in_memory {
                crate::io::source::in_memory_label(&file)
            } else {
                file
            };
            let read = self.read_hashes.iter().find(|h| h.path == label);
            if crate::shapes::is_polygon_file(path) {
                inputs.extend(crate::shapes::files_read(path).into_iter().map(|p| (p, false, None)));
            } else {
                inputs.push((path.clone(), in_memory, read));
            }
        }
        inputs
    }
}

/// Inputs given in memory instead of files ([`Dataset::load_with_tables`]): tabular inputs
/// as UTF-8 CSV text under their `[inputs]` key, and the policy as TOML text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTables {
    tables: BTreeMap<&'static str, Vec<u8>>,
    policy: Option<String>,
}

/// A key [`MemoryTables::insert`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown input table {0:?} (fix: use one of {keys})", keys = MemoryTables::KEYS.join(", "))]
pub struct UnknownTable(pub String);

impl MemoryTables {
    /// The `[inputs]` keys that may be given as tables.
    pub const KEYS: [&'static str; 6] = ["schools", "blocks", "zones", "students", "seat_locks", "distances"];

    /// Sets the table for `key` (one of [`MemoryTables::KEYS`]) to UTF-8 CSV text with a
    /// header row, in the columns of the file it stands for (`docs/inputs.md`).
    pub fn insert(&mut self, key: &str, csv: Vec<u8>) -> Result<(), UnknownTable> {
        let key = MemoryTables::KEYS
            .into_iter()
            .find(|k| *k == key)
            .ok_or_else(|| UnknownTable(key.to_string()))?;
        self.tables.insert(key, csv);
        Ok(())
    }

    /// Sets the policy (the text of a `policy.toml`); the scenario's policy edits still apply.
    pub fn set_policy(&mut self, toml: String) {
        self.policy = Some(toml);
    }

    /// The table given for `key`.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.tables.get(key).map(Vec::as_slice)
    }

    /// The policy text, if given.
    pub fn policy(&self) -> Option<&str> {
        self.policy.as_deref()
    }

    /// Every `[inputs]` key given (tables, then `policy`).
    pub fn keys(&self) -> Vec<&'static str> {
        let mut keys: Vec<&'static str> = self.tables.keys().copied().collect();
        if self.policy.is_some() {
            keys.push("policy");
        }
        keys
    }

    /// Every tabular input and the policy of a loaded scenario, read again from its files as
    /// UTF-8 CSV (a workbook's sheet as CSV), so that the scenario can be rebuilt elsewhere
    /// without the files ([`Scenario::from_toml_with_tables`] + [`Dataset::load_with_tables`]).
    /// Inputs that are not tables (polygon files, roads, district outlines) stay files.
    pub fn snapshot(scenario: &Scenario) -> Result<MemoryTables, LoadError> {
        let i = &scenario.inputs;
        let mut tables = MemoryTables::default();
        for (key, path) in [
            ("schools", Some(&i.schools)),
            ("blocks", Some(&i.blocks)),
            ("zones", i.zones.as_ref()),
            ("students", Some(&i.students)),
            ("seat_locks", i.seat_locks.as_ref()),
            ("distances", i.distances.as_ref()),
        ] {
            let Some(path) = path else { continue };
            if crate::shapes::is_polygon_file(path) {
                continue;
            }
            let file = path.display().to_string();
            let text = crate::io::source::read_table(&scenario.input_spec(key, path), &file)?;
            let _ = tables.insert(key, text.bytes);
        }
        if let Some(p) = &i.policy {
            tables.set_policy(crate::io::toml_file::read_toml_text(p, &p.display().to_string())?);
        }
        Ok(tables)
    }
}

use crate::io::csv::{ColumnName, DecodedText, Found, parse_rows, read_header, split_records};
pub use crate::io::csv::{CsvInput, OwnedBytes};
pub(crate) use crate::io::csv::{Row, read_csv};

fn district_index(city: &mut City, name: &str) -> u32 {
    if let Some(i) = city.districts.iter().position(|d| d == name) {
        return i as u32;
    }
    city.districts.push(name.to_string());
    (city.districts.len() - 1) as u32
}

/// Parses the records of `body` (after `header`) within `ranges` (from
/// [`split_records`]) in parallel: `start` makes a piece's state and `on_row` takes each row
/// into it. Returns each piece's state and problems, in file order.
fn parse_pieces<T: Send>(
    ranges: &[(usize, usize, u64)],
    body: &[u8],
    header: &crate::io::csv::Header,
    file: &str,
    start: impl Fn(usize) -> T + Sync,
    on_row: impl Fn(&mut T, &Row<'_>, &mut Diagnostics) + Sync,
) -> Vec<(T, Diagnostics)> {
    use rayon::prelude::*;
    ranges
        .par_iter()
        .map(|&(from, to, lines)| {
            let mut state = start(to - from);
            let mut diags = Diagnostics::default();
            parse_rows(
                &body[from..to],
                header.lines_before + lines,
                file,
                header,
                &mut diags,
                |row, diags| on_row(&mut state, row, diags),
            );
            (state, diags)
        })
        .collect()
}

/// Reads a whole table (header checked for `required`) and parses it with
/// [`parse_pieces`] in pieces of about 1 MB; `None` when the file or its header is unusable
/// (reported in `diags`).
fn read_in_pieces<T: Send>(
    reader: impl CsvInput,
    file: &str,
    required: &[&str],
    diags: &mut Diagnostics,
    start: impl Fn(usize) -> T + Sync,
    on_row: impl Fn(&mut T, &Row<'_>, &mut Diagnostics) + Sync,
) -> Option<Vec<(T, Diagnostics)>> {
    let (bytes, header) = read_header(reader, file, required, diags)?;
    let body = &bytes[header.body_start..];
    Some(parse_pieces(
        &split_records(body, 1 << 20),
        body,
        &header,
        file,
        start,
        on_row,
    ))
}

/// Appends a piece's problems to the file's.
fn take_problems(diags: &mut Diagnostics, piece: &Diagnostics) {
    for d in piece.items() {
        diags.push(d.clone());
    }
    diags.omitted += piece.omitted;
}

/// Reads `schools.csv` into `city.schools`.
pub fn read_schools<R: CsvInput>(reader: R, file: &str, crs: Crs, city: &mut City, diags: &mut Diagnostics) {
    const REQUIRED: &[&str] = &[
        "school_id",
        "name",
        "district",
        "stage",
        "sector",
        "lon",
        "lat",
        "capacity",
    ];
    let mut feeders: Vec<(u32, String, u64, Option<usize>)> = Vec::new();
    let mut feeder_col = None;
    // The line of each school read so far (index = school), for duplicate-id messages and
    // plausibility warnings.
    city.lines.schools.resize(city.schools.len(), 0);
    let mut seen: Vec<String> = Vec::new();
    let mut on_row = |row: &Row<'_>, diags: &mut Diagnostics| {
        feeder_col = row.columns.get("feeder_junior_id").map(|c| c + 1);
        let id = row.required("school_id", diags);
        let district = row.required("district", diags);
        let stage = row.stage(diags);
        let sector = row.required("sector", diags).and_then(|v| match v.parse::<Sector>() {
            Ok(s) => Some(s),
            Err(hint) => {
                diags.push(row.diag("sector", v, "unknown sector", hint));
                None
            }
        });
        let location = row.location(crs, diags);
        let capacity = row.count("capacity", diags);
        let classes = row.count("classes", diags);
        let class_size = row.count("class_size", diags);
        let opens_year = row.parse::<i32>("opens_year", "a year", diags);
        let purchased = row.count("purchased_seats", diags);
        let (
            Some(id),
            Some(district),
            Some(stage),
            Some(sector),
            Some(location),
            Some(capacity),
            Some(classes),
            Some(class_size),
            Some(opens_year),
            Some(purchased),
        ) = (
            id, district, stage, sector, location, capacity, classes, class_size, opens_year, purchased,
        )
        else {
            return;
        };
        // Capacity may be left empty when classes and class size give it.
        let capacity = match (capacity, classes, class_size) {
            (Some(c), _, _) => c,
            (None, Some(k), Some(n)) => k.saturating_mul(n),
            _ => {
                diags.push(row.diag(
                    "capacity",
                    "",
                    "capacity is empty",
                    "write the entry-grade seats, or fill classes and class_size",
                ));
                return;
            }
        };
        let purchased = purchased.unwrap_or(0);
        if purchased > 0 && sector == Sector::Public {
            diags.push(row.diag(
                "purchased_seats",
                row.text("purchased_seats"),
                "a public school cannot have purchased seats",
                "purchased_seats is for private schools; leave it empty",
            ));
            return;
        }
        if purchased > capacity {
            diags.push(row.diag(
                "purchased_seats",
                row.text("purchased_seats"),
                format!("purchased seats exceed the capacity {capacity}"),
                "purchased seats are part of the capacity",
            ));
            return;
        }
        let index = city.schools.len() as u32;
        if let Some(&first) = city.school_index.get(id) {
            diags.push(row.diag(
                "school_id",
                id,
                format!(
                    "duplicate school_id (first on line {})",
                    city.lines.schools[first as usize]
                ),
                "every school needs its own id",
            ));
            return;
        }
        city.school_index.insert(id.to_string(), index);
        city.lines.schools.push(row.line);
        let feeder = row.text("feeder_junior_id");
        if !feeder.is_empty() {
            if stage != Stage::Primary {
                diags.push(row.diag(
                    "feeder_junior_id",
                    feeder,
                    "only primary schools have a feeder junior school",
                    "leave feeder_junior_id empty for this school",
                ));
            } else {
                feeders.push((index, feeder.to_string(), row.line, feeder_col));
            }
        }
        let district = district_index(city, district);
        let name = row.text("name");
        city.schools.push(School {
            id: id.to_string(),
            name: if name.is_empty() {
                id.to_string()
            } else {
                name.to_string()
            },
            district,
            stage,
            sector,
            location,
            capacity,
            classes,
            class_size,
            opens_year,
            feeder_junior: None,
            purchased_seats: purchased,
            closed: false,
        });
    };
    read_csv(reader, file, REQUIRED, diags, |row, diags| {
        seen.push(row.text("school_id").to_string());
        on_row(row, diags);
    });
    let rejected: Vec<String> = seen
        .into_iter()
        .filter(|id| !id.is_empty() && city.school(id).is_none())
        .collect();
    city.rejected.schools.extend(rejected);
    for (school, feeder, line, col) in feeders {
        let d = |msg: &str, hint: &str| {
            Diagnostic::file(file, msg, hint)
                .at_line(line)
                .at_field(col, "feeder_junior_id")
                .with_value(feeder.clone())
        };
        match city.school(&feeder) {
            None if city.rejected.school(&feeder) => {}
            None => diags.push(d("no school has this id", "name a junior school from schools.csv")),
            Some(j) if city.schools[j as usize].stage != Stage::Junior => {
                diags.push(d("the feeder school is not a junior school", "name a junior school"))
            }
            Some(j) => city.schools[school as usize].feeder_junior = Some(j),
        }
    }
}

/// Reads `blocks.csv` into `city.blocks`.
///
/// Rows are parsed in parallel pieces and taken in file order (ids checked for repeats, the
/// district names interned), so the outcome and the order of the problems are those of a
/// sequential read.
pub fn read_blocks<R: CsvInput>(reader: R, file: &str, crs: Crs, city: &mut City, diags: &mut Diagnostics) {
    read_blocks_in_pieces(reader, file, crs, city, diags, 1 << 20);
}

/// [`read_blocks`] with pieces of about `piece_bytes` (tests cut small files into many).
fn read_blocks_in_pieces<R: CsvInput>(
    reader: R,
    file: &str,
    crs: Crs,
    city: &mut City,
    diags: &mut Diagnostics,
    piece_bytes: usize,
) {
    const REQUIRED: &[&str] = &["block_id", "name", "district", "lon", "lat", "households"];
    city.lines.blocks.resize(city.blocks.len(), 0);
    let Some((bytes, header)) = read_header(reader, file, REQUIRED, diags) else {
        return;
    };
    let body = &bytes[header.body_start..];
    let columns = BlockColumns::of(&header.columns);
    let pieces = parse_pieces(
        &split_records(body, piece_bytes),
        body,
        &header,
        file,
        // Room for the rows a piece of this size can hold (a row takes 30 bytes or more; room
        // a piece leaves unused is never touched), so they are not copied as they grow.
        |bytes| BlockPiece {
            rows: Vec::with_capacity(bytes / 30),
            id_hashes: Vec::with_capacity(bytes / 30),
            ..BlockPiece::default()
        },
        |piece, row, diags| piece.row(row, &columns, crs, diags),
    );
    drop(bytes);
    let id_column = columns.block_id.index.map(|c| c + 1);
    let rows: usize = pieces.iter().map(|p| p.0.rows.len()).sum();
    city.reserve_blocks(rows);
    city.lines.blocks.reserve(rows);
    // The first blocks of a city (the usual case) get their id index built in one pass
    // over all rows instead of one insertion per row: a million insertions at random
    // places of a table far larger than the cache each waited for memory.
    let bulk = city.blocks.is_empty() && u32::try_from(rows).is_ok_and(|n| n < u32::MAX);
    let (repeats, keys) = if bulk {
        repeated_block_ids(&pieces)
    } else {
        (Vec::new(), Vec::new())
    };
    // Ids of rows that were not accepted: a later reference to them is not reported again.
    let mut failed: Vec<String> = Vec::new();
    // Row number across the pieces (with `bulk`: the position in `keys`).
    let mut row_number = 0u32;
    let mut next_repeat = repeats.iter().peekable();
    for (piece, problems) in pieces {
        // A district is numbered when its first accepted row is taken, as a sequential read does.
        let mut districts: Vec<Option<u32>> = vec![None; piece.districts.len()];
        failed.extend(piece.failed);
        // The piece's own problems and its repeated ids, merged by line.
        let omitted = problems.omitted;
        let mut problems = problems.items().iter().peekable();
        // At a million blocks the id index is far larger than the cache: reading the slot of
        // the block a few rows ahead lets its cache miss overlap this row's work.
        let mut touched = 0u64;
        for (row_index, (line, block)) in piece.rows.into_iter().enumerate() {
            let row = row_number;
            row_number += 1;
            if !bulk && let Some(&ahead) = piece.id_hashes.get(row_index + TOUCH_AHEAD) {
                touched ^= city.touch_block(ahead);
            }
            let added = if bulk {
                match next_repeat.next_if(|r| r.0 == row) {
                    // The first row of an id is accepted, so it sits at its row number less
                    // the repeats before it.
                    Some(&(_, first)) => Err(first - repeats.partition_point(|r| r.0 < first) as u32),
                    None => {
                        city.blocks.push(block);
                        Ok(city.blocks.len() - 1)
                    }
                }
            } else {
                city.add_block_hashed(piece.id_hashes[row_index], block)
                    .map(|index| index as usize)
            };
            let index = match added {
                Ok(index) => index,
                Err(first) => {
                    while let Some(d) = problems.next_if(|d| d.line.is_none_or(|l| l < line)) {
                        diags.push(d.clone());
                    }
                    let first = first as usize;
                    diags.push(
                        Diagnostic::file(
                            file,
                            format!("duplicate block_id (first on line {})", city.lines.blocks[first]),
                            "every block needs its own id",
                        )
                        .at_line(line)
                        .at_field(id_column, "block_id")
                        .with_value(&city.blocks[first].id),
                    );
                    continue;
                }
            };
            let local = city.blocks[index].district as usize;
            let district = *districts[local].get_or_insert_with(|| district_index(city, &piece.districts[local]));
            city.blocks[index].district = district;
            city.lines.blocks.push(line);
        }
        std::hint::black_box(touched);
        for d in problems {
            diags.push(d.clone());
        }
        diags.omitted += omitted;
    }
    if bulk {
        // Each accepted row's key, its row number replaced by its block index (the row
        // number less the repeats before it; the keys stay sorted).
        let mut keys = keys;
        if !repeats.is_empty() {
            keys.retain_mut(|key| {
                let row = *key as u32;
                let before = repeats.partition_point(|r| r.0 < row);
                if repeats.get(before).is_some_and(|r| r.0 == row) {
                    return false;
                }
                *key -= before as u64;
                true
            });
        }
        city.set_block_index(StringTable::from_sorted_keys(&keys));
    }
    let rejected: Vec<String> = failed
        .into_iter()
        .filter(|id| !id.is_empty() && city.block(id).is_none())
        .collect();
    city.rejected.blocks.extend(rejected);
}

/// The rows of the pieces whose block id repeats an earlier row's, each with that earlier
/// row (row numbers count every piece's rows in order), in row order; and every row's
/// [`StringTable::key`], sorted. Equal ids have equal keys but for the row, so a repeat is
/// found among the few rows of its key's tag instead of by a lookup per row.
fn repeated_block_ids(pieces: &[(BlockPiece, Diagnostics)]) -> (Vec<(u32, u32)>, Vec<u64>) {
    use rayon::prelude::*;
    let starts: Vec<u32> = pieces
        .iter()
        .scan(0u32, |next, p| {
            let start = *next;
            *next += p.0.rows.len() as u32;
            Some(start)
        })
        .collect();
    let mut keys: Vec<u64> = Vec::with_capacity(pieces.iter().map(|p| p.0.rows.len()).sum());
    keys.par_extend(pieces.par_iter().zip(&starts).flat_map_iter(|(p, &start)| {
        p.0.id_hashes
            .iter()
            .zip(start..)
            .map(|(&hash, row)| StringTable::key(hash, row))
    }));
    keys.par_sort_unstable();
    let id_of = |row: u32| {
        let piece = starts.partition_point(|&s| s <= row) - 1;
        pieces[piece].0.rows[(row - starts[piece]) as usize].1.id.as_str()
    };
    (repeats_among_sorted_keys(&keys, id_of), keys)
}

/// The repeats of [`repeated_block_ids`]: among sorted keys, within each run of one tag,
/// every row whose text equals an earlier row's, with the first row of that text.
fn repeats_among_sorted_keys<'a>(keys: &[u64], text_of: impl Fn(u32) -> &'a str) -> Vec<(u32, u32)> {
    let mut repeats = Vec::new();
    // The distinct texts of the current run: (first row, text).
    let mut firsts: Vec<(u32, &str)> = Vec::new();
    for run in keys.chunk_by(|a, b| a >> 32 == b >> 32) {
        if run.len() == 1 {
            continue;
        }
        firsts.clear();
        // A run is sorted by row, so each text's first row comes first.
        for &key in run {
            let row = key as u32;
            let text = text_of(row);
            match firsts.iter().find(|f| f.1 == text) {
                Some(&(first, _)) => repeats.push((row, first)),
                None => firsts.push((row, text)),
            }
        }
    }
    repeats.sort_unstable();
    repeats
}

/// The rows of one piece of `blocks.csv`: each accepted row's line and block (its district
/// an index into the piece's own district names).
#[derive(Default)]
struct BlockPiece {
    rows: Vec<(u64, Block)>,
    /// Each row's id hashed for the city's id index ([`StringTable::hash`]).
    id_hashes: Vec<u64>,
    districts: Vec<String>,
    /// Ids of the rows with a problem.
    failed: Vec<String>,
    /// The last point read, as its `lon` and `lat` cells: blocks of one compound often share
    /// a point, and the same cells give the same point without parsing them again.
    last_point: Option<(String, String, Location)>,
}

/// The columns of `blocks.csv`, looked up once per file instead of once per cell.
struct BlockColumns {
    block_id: Found<'static>,
    name: Found<'static>,
    district: Found<'static>,
    lon: Found<'static>,
    lat: Found<'static>,
    households: Found<'static>,
    status: Found<'static>,
    move_in_year: Found<'static>,
    planned_households: Found<'static>,
}

impl BlockColumns {
    fn of(columns: &crate::io::csv::Columns) -> Self {
        BlockColumns {
            block_id: columns.found("block_id"),
            name: columns.found("name"),
            district: columns.found("district"),
            lon: columns.found("lon"),
            lat: columns.found("lat"),
            households: columns.found("households"),
            status: columns.found("status"),
            move_in_year: columns.found("move_in_year"),
            planned_households: columns.found("planned_households"),
        }
    }
}

impl BlockPiece {
    /// [`Row::location_in`], the last point again when the cells repeat the last good ones.
    fn location(
        &mut self,
        row: &Row<'_>,
        columns: &BlockColumns,
        crs: Crs,
        diags: &mut Diagnostics,
    ) -> Option<Location> {
        let (lon, lat) = (row.text(columns.lon), row.text(columns.lat));
        if let Some((last_lon, last_lat, point)) = &self.last_point
            && last_lon == lon
            && last_lat == lat
        {
            return Some(*point);
        }
        let point = row.location_in(columns.lon, columns.lat, crs, diags)?;
        let (last_lon, last_lat, last) = self.last_point.get_or_insert_with(Default::default);
        last_lon.clear();
        last_lon.push_str(lon);
        last_lat.clear();
        last_lat.push_str(lat);
        *last = point;
        Some(point)
    }

    fn row(&mut self, row: &Row<'_>, columns: &BlockColumns, crs: Crs, diags: &mut Diagnostics) {
        let id = row.required(columns.block_id, diags);
        let district = row.required(columns.district, diags);
        let location = self.location(row, columns, crs, diags);
        let households = row.count(columns.households, diags);
        let status_text = row.text(columns.status);
        let status = if status_text.is_empty() || status_text.eq_ignore_ascii_case("existing") {
            Some(BlockStatus::Existing)
        } else if status_text.eq_ignore_ascii_case("new") {
            Some(BlockStatus::New)
        } else {
            diags.push(row.diag(
                columns.status,
                &status_text.to_ascii_lowercase(),
                "unknown block status",
                "use existing or new",
            ));
            None
        };
        let move_in_year = row.parse::<i32>(columns.move_in_year, "a year", diags);
        let planned = row.count(columns.planned_households, diags);
        let (
            Some(id),
            Some(district),
            Some(location),
            Some(households),
            Some(status),
            Some(move_in_year),
            Some(planned),
        ) = (id, district, location, households, status, move_in_year, planned)
        else {
            self.failed.push(row.text(columns.block_id).to_string());
            return;
        };
        let district = match self.districts.iter().rposition(|d| d == district) {
            Some(i) => i,
            None => {
                self.districts.push(district.to_string());
                self.districts.len() - 1
            }
        };
        let name = row.text(columns.name);
        self.id_hashes.push(StringTable::hash(id));
        self.rows.push((
            row.line,
            Block {
                id: id.to_string(),
                name: if name.is_empty() {
                    id.to_string()
                } else {
                    name.to_string()
                },
                district: district as u32,
                location,
                households: households.unwrap_or(0),
                status,
                move_in_year,
                planned_households: planned,
            },
        ));
    }
}

/// Reads `zones.csv` into `city.zones`.
pub fn read_zones<R: CsvInput>(reader: R, file: &str, city: &mut City, diags: &mut Diagnostics) {
    read_zones_in_pieces(reader, file, city, diags, 1 << 20);
}

/// [`read_zones`] with pieces of about `piece_bytes` (tests cut small files into many).
fn read_zones_in_pieces<R: CsvInput>(
    reader: R,
    file: &str,
    city: &mut City,
    diags: &mut Diagnostics,
    piece_bytes: usize,
) {
    let town = &*city;
    let Some((bytes, header)) = read_header(reader, file, &["block_id", "stage", "school_id"], diags) else {
        return;
    };
    let body = &bytes[header.body_start..];
    let columns = ZoneColumns {
        block_id: header.columns.found("block_id"),
        stage: header.columns.found("stage"),
        school_id: header.columns.found("school_id"),
    };
    let pieces = parse_pieces(
        &split_records(body, piece_bytes),
        body,
        &header,
        file,
        // A row takes 16 bytes or more.
        |bytes| ZonePiece {
            rows: Default::default(),
            last_block: 0,
            schools: SchoolMemo::default(),
            capacity: bytes / 16,
        },
        |piece, row, diags| {
            if let Some((stage, pair)) = zone_row(row, &columns, town, piece, diags) {
                let rows = &mut piece.rows[stage.index()];
                if rows.capacity() == 0 {
                    rows.reserve(piece.capacity);
                }
                rows.push(pair);
            }
        },
    );
    drop(bytes);
    let mut lines: [Vec<(u32, u32, u64)>; 3] = Default::default();
    for (all, stage) in lines.iter_mut().zip(0..) {
        all.reserve_exact(pieces.iter().map(|p| p.0.rows[stage].len()).sum());
    }
    for (piece, problems) in pieces {
        take_problems(diags, &problems);
        for (all, rows) in lines.iter_mut().zip(piece.rows) {
            all.extend_from_slice(&rows);
        }
    }
    for (stage, lines) in lines.into_iter().enumerate() {
        city.zones[stage] = StageZones::from_rows(city.blocks.len(), &lines);
        city.lines.zones[stage] = lines;
    }
}

/// The columns of `zones.csv`, looked up once per file.
struct ZoneColumns {
    block_id: Found<'static>,
    stage: Found<'static>,
    school_id: Found<'static>,
}

/// One piece of `zones.csv`: (block, school, line) per stage, the last block found, and
/// the piece's school ids.
struct ZonePiece {
    rows: [Vec<(u32, u32, u64)>; 3],
    last_block: u32,
    schools: SchoolMemo,
    /// Room a stage's rows get when its first row comes.
    capacity: usize,
}

/// The block a row's `column` names (looked up near the previous row's), reported when
/// unknown (unless its own row was rejected).
fn block_cell(
    row: &Row<'_>,
    column: impl ColumnName,
    city: &City,
    last_block: &mut u32,
    diags: &mut Diagnostics,
) -> Option<u32> {
    row.required(column, diags).and_then(|b| {
        let found = city.block_near(b, last_block);
        if found.is_none() && !city.rejected.block(b) {
            diags.push(row.diag(column, b, "no block has this id", "use a block_id from blocks.csv"));
        }
        found
    })
}

/// The school a row's `column` names (`find` looks it up), reported when unknown (unless
/// its own row was rejected).
fn school_cell(
    row: &Row<'_>,
    column: impl ColumnName,
    city: &City,
    find: impl FnOnce(&str) -> Option<u32>,
    diags: &mut Diagnostics,
) -> Option<u32> {
    row.required(column, diags).and_then(|s| {
        let found = find(s);
        if found.is_none() && !city.rejected.school(s) {
            diags.push(row.diag(column, s, "no school has this id", "use a school_id from schools.csv"));
        }
        found
    })
}

/// One `zones.csv` row as its stage and (block, school, line).
fn zone_row(
    row: &Row<'_>,
    columns: &ZoneColumns,
    city: &City,
    piece: &mut ZonePiece,
    diags: &mut Diagnostics,
) -> Option<(Stage, (u32, u32, u64))> {
    let block = block_cell(row, columns.block_id, city, &mut piece.last_block, diags);
    let stage = row.stage_in(columns.stage, diags);
    let memo = &mut piece.schools;
    let school = school_cell(row, columns.school_id, city, |id| memo.school(city, id), diags);
    let (block, stage, school) = (block?, stage?, school?);
    let s = &city.schools[school as usize];
    if s.stage != stage {
        diags.push(row.diag(
            columns.school_id,
            &s.id,
            format!("this school admits {} pupils, not {stage}", s.stage),
            "pair each block with a school of the row's stage",
        ));
        return None;
    }
    if s.sector == Sector::Private {
        diags.push(row.diag(
            columns.school_id,
            &s.id,
            "a private school has no catchment zone",
            "private schools admit by lottery among families who choose them; remove this row",
        ));
        return None;
    }
    Some((stage, (block, school, row.line)))
}

/// One parsed `students.csv` row, before ids are checked for uniqueness across the file.
struct StudentRow {
    line: u64,
    /// [`StringTable::hash`] of the id and of the property id, computed in parallel.
    id_hash: u64,
    property_hash: u64,
    /// The id and the property id as ranges of the piece's `text`.
    id: (u32, u32),
    property: Option<(u32, u32)>,
    student: Student,
}

/// The rows of one piece of `students.csv`, in flat buffers (no allocation per row).
#[derive(Default)]
struct StudentPiece {
    rows: Vec<StudentRow>,
    /// Chosen schools; each row's `choices` range points here.
    choices: Vec<u32>,
    /// Ids and property ids, end to end.
    text: String,
    /// Extra numeric columns, `extra.len()` values per row.
    extras: Vec<f64>,
    /// The block of the previous row (rows of one block usually come together).
    last_block: u32,
    schools: SchoolMemo,
}

/// School ids of up to 8 bytes seen in a piece, packed into an integer, with their school: a
/// piece's ten choices per row repeat a few thousand ids, and comparing one integer costs
/// less than hashing and comparing the text each time. A direct-mapped cache in front of
/// [`City::school`]; ids it does not hold always go to the city.
#[derive(Default)]
struct SchoolMemo {
    slots: Vec<(u64, u32)>,
}

impl SchoolMemo {
    const SLOT_BITS: u32 = 10;

    fn school(&mut self, city: &City, id: &str) -> Option<u32> {
        let bytes = id.as_bytes();
        if bytes.is_empty() || bytes.len() > 8 {
            return city.school(id);
        }
        // Ids hold no NUL (control characters are rejected), so zero padding is unambiguous.
        // Packed byte by byte: copying into an array and reading it back as a u64 costs a
        // call and a failed store-to-load forwarding per lookup.
        let key = bytes.iter().rev().fold(0u64, |key, &b| (key << 8) | u64::from(b));
        if self.slots.is_empty() {
            self.slots = vec![(0, u32::MAX); 1 << Self::SLOT_BITS];
        }
        let at = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - Self::SLOT_BITS)) as usize;
        match self.slots[at] {
            (k, school) if k == key => Some(school),
            _ => {
                let found = city.school(id);
                if let Some(school) = found {
                    self.slots[at] = (key, school);
                }
                found
            }
        }
    }
}

impl StudentPiece {
    fn text(&self, range: (u32, u32)) -> &str {
        &self.text[range.0 as usize..range.1 as usize]
    }
}

/// Reads `students.csv`; `extra` names non-standard numeric columns the policy reads.
///
/// The file is cut into pieces at record boundaries and the pieces are parsed in parallel;
/// results and diagnostics are merged in file order, so the outcome is the same as a
/// sequential read.
pub fn read_students<R: CsvInput>(
    reader: R,
    file: &str,
    city: &City,
    extra: &[String],
    cohort: &mut Cohort,
    diags: &mut Diagnostics,
) {
    let sites = BTreeMap::new();
    StudentsRead {
        file,
        city,
        extra,
        sites: &sites,
    }
    .whole(reader, cohort, diags);
}

/// The columns `students.csv` must have.
const STUDENT_COLUMNS: &[&str] = &["student_id", "stage", "block_id"];

/// What reading `students.csv` takes besides its text: the file's name for problems, the
/// city its rows name, the numeric columns the policy reads (`extra`) and where the policy
/// names each (`sites`: a missing column is reported at that policy line).
#[derive(Clone, Copy)]
pub(crate) struct StudentsRead<'a> {
    pub(crate) file: &'a str,
    pub(crate) city: &'a City,
    pub(crate) extra: &'a [String],
    pub(crate) sites: &'a BTreeMap<String, Diagnostic>,
}

impl StudentsRead<'_> {
    /// Reads the whole text of `reader` ([`read_students`], with the policy's sites).
    fn whole<R: CsvInput>(self, reader: R, cohort: &mut Cohort, diags: &mut Diagnostics) {
        let StudentsRead {
            file,
            city,
            extra,
            sites,
        } = self;
        let Some((bytes, header)) = read_header(reader, file, STUDENT_COLUMNS, diags) else {
            return;
        };
        if !has_policy_columns(&header, file, extra, sites, diags) {
            return;
        }
        let body = &bytes[header.body_start..];
        let ranges = split_records(body, STUDENT_PIECE);
        // At most one applicant per line: room for all of them up front.
        let most = ranges.last().map_or(0, |&(from, to, before)| {
            before + crate::io::text::count_line_breaks(&body[from..to])
        }) as usize
            + 1;
        let students = StudentParse::new(file, city, extra, &header);
        let mut merge = StudentMerge::new(file, extra, &header, most, cohort, diags);
        let mut batches = ranges.chunks(student_batch_len());
        let batch_bytes = |batch: &[(usize, usize, u64)]| batch.iter().map(|&(from, to, _)| to - from).sum::<usize>();
        let first = batches
            .next()
            .map(|batch| (students.parse(batch, body), batch_bytes(batch)));
        merge_batches(&mut merge, body.len(), first, || {
            batches
                .next()
                .map(|batch| (students.parse(batch, body), batch_bytes(batch)))
        });
        merge.finish();
    }

    /// Reads `students.csv` at `path` a window of about `window` bytes at a time
    /// ([`LineWindows`]; the loader takes [`student_window`]): each window is parsed in
    /// parallel pieces and merged while the next one is read and parsed, so the text is never
    /// resident whole. Whenever it returns [`Streamed::Read`], the outcome is that of
    /// [`StudentsRead::whole`] on the same file. The cohort is expected to be empty before (it
    /// is reset on [`Streamed::ReadWhole`]).
    ///
    /// [`LineWindows`]: crate::io::source::LineWindows
    pub(crate) fn streamed(
        self,
        path: &Path,
        window: usize,
        cohort: &mut Cohort,
        diags: &mut Diagnostics,
    ) -> std::io::Result<Streamed> {
        let StudentsRead {
            file,
            city,
            extra,
            sites,
        } = self;
        let mut windows = crate::io::source::LineWindows::open(path, window)?;
        let total = windows.file_len() as usize;
        let Some(text) = windows.next_window()? else {
            return Ok(Streamed::ReadWhole);
        };
        // A UTF-16 text fails this too: its byte-order mark is never UTF-8.
        if !is_plain_utf8(text) {
            return Ok(Streamed::ReadWhole);
        }
        let Some(header) = crate::io::csv::header_of(text, file, STUDENT_COLUMNS, diags) else {
            return Ok(Streamed::ReadWhole);
        };
        if !has_policy_columns(&header, file, extra, sites, diags) {
            return Ok(Streamed::ReadWhole);
        }
        let students = StudentParse::new(file, city, extra, &header);
        // Lines of the file before the window being parsed, less the header's.
        let mut lines = 0u64;
        let mut parse_window = |body: &[u8]| {
            let ranges: Vec<(usize, usize, u64)> = split_records(body, STUDENT_PIECE)
                .into_iter()
                .map(|(from, to, before)| (from, to, lines + before))
                .collect();
            lines += crate::io::text::count_line_breaks(body);
            (students.parse(&ranges, body), body.len())
        };
        let body = &text[header.body_start..];
        // Room for the applicants the first window promises, at most one per line; more is
        // made as the file's share read so far tells.
        let first_lines = crate::io::text::count_line_breaks(body) as f64;
        let most = (first_lines * total as f64 / text.len().max(1) as f64 * 1.05) as usize + 1;
        let first = parse_window(body);
        let header_bytes = text.len() - body.len();
        let mut merge = StudentMerge::new(file, extra, &header, most, cohort, diags);
        // Why the windows stopped before the end, if they did.
        let mut stopped = None;
        merge_batches(
            &mut merge,
            total.saturating_sub(header_bytes),
            Some(first),
            || match windows.next_window() {
                Ok(Some(body)) if is_plain_utf8(body) => Some(parse_window(body)),
                Ok(Some(_)) => {
                    stopped = Some(Ok(Streamed::ReadWhole));
                    None
                }
                Ok(None) => None,
                Err(e) => {
                    stopped = Some(Err(e));
                    None
                }
            },
        );
        match stopped {
            None => {
                merge.finish();
                Ok(Streamed::Read(windows.into_read_hash(file)))
            }
            Some(other) => {
                *merge.cohort = Cohort::default();
                other
            }
        }
    }
}

/// Whether the header has every column the policy reads (each one missing is reported).
fn has_policy_columns(
    header: &crate::io::csv::Header,
    file: &str,
    extra: &[String],
    sites: &BTreeMap<String, Diagnostic>,
    diags: &mut Diagnostics,
) -> bool {
    let mut missing = false;
    for name in extra {
        if header.columns.get(name).is_none() {
            missing = true;
            diags.push(sites.get(name).cloned().unwrap_or_else(|| {
                Diagnostic::file(
                    file,
                    format!("the policy reads a column \"{name}\" that this file does not have"),
                    "add the column, or fix the name in the policy",
                )
                .at_line(1)
            }));
        }
    }
    !missing
}

/// How reading `students.csv` a window at a time ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Streamed {
    /// The file was read and merged, its problems reported; with the size and SHA-256 of
    /// the bytes read.
    Read(crate::io::ManifestInput),
    /// The file is not UTF-8 text without quotes, or its header has a problem: what was
    /// taken must be dropped, and the file read whole (which decodes it, splits quoted
    /// records and reports the problem).
    ReadWhole,
}

/// Text every window of a streamed read must be: UTF-8 without any quote (so that a line
/// break always ends a record and a window never cuts one).
fn is_plain_utf8(text: &[u8]) -> bool {
    memchr::memchr(b'"', text).is_none() && crate::io::text::utf8_check(text).is_ok()
}

/// A batch of parsed pieces of `students.csv` and the bytes they cover.
type StudentBatch = (Vec<(StudentPiece, Diagnostics)>, usize);

/// Merges batches into the cohort in file order, each while the next one (from `next`) is
/// parsed: only two batches of parsed rows exist at once, and their buffers are reused
/// instead of staying resident.
fn merge_batches(
    merge: &mut StudentMerge<'_>,
    total_bytes: usize,
    first: Option<StudentBatch>,
    mut next: impl FnMut() -> Option<StudentBatch> + Send,
) {
    let mut current = first;
    let mut merged_bytes = 0;
    while let Some((parsed, bytes)) = current {
        let (following, ()) = rayon::join(&mut next, || merge.pieces(parsed));
        merged_bytes += bytes;
        merge.reserve_for_file(merged_bytes, total_bytes);
        current = following;
    }
}

/// Pieces per batch of the parse-and-merge pipeline.
fn student_batch_len() -> usize {
    rayon::current_num_threads().max(1) * STUDENT_BATCH_PER_THREAD
}

/// Bytes per window of [`StudentsRead::streamed`]: one batch of pieces.
pub(crate) fn student_window() -> usize {
    student_batch_len() * STUDENT_PIECE
}

/// What parsing a piece of `students.csv` needs: the city, the columns, the header.
struct StudentParse<'a> {
    file: &'a str,
    city: &'a City,
    header: &'a crate::io::csv::Header,
    columns: StudentColumns,
    extra_columns: Vec<Found<'a>>,
}

impl<'a> StudentParse<'a> {
    fn new(file: &'a str, city: &'a City, extra: &'a [String], header: &'a crate::io::csv::Header) -> Self {
        StudentParse {
            file,
            city,
            header,
            columns: StudentColumns::of(&header.columns),
            extra_columns: extra.iter().map(|name| header.columns.found(name)).collect(),
        }
    }

    /// Parses the pieces `ranges` of `body` in parallel.
    fn parse(&self, ranges: &[(usize, usize, u64)], body: &[u8]) -> Vec<(StudentPiece, Diagnostics)> {
        parse_pieces(
            ranges,
            body,
            self.header,
            self.file,
            |bytes| StudentPiece {
                rows: Vec::with_capacity(bytes / 80),
                ..StudentPiece::default()
            },
            |piece, row, diags| {
                if let Some(r) = parse_student(row, self.city, &self.columns, &self.extra_columns, piece, diags) {
                    piece.rows.push(r);
                }
            },
        )
    }
}

/// Bytes of `students.csv` per parallel work item.
const STUDENT_PIECE: usize = 1 << 20;
/// Pieces per thread in one batch of the parse-and-merge pipeline.
const STUDENT_BATCH_PER_THREAD: usize = 4;

/// Appends parsed pieces of `students.csv` to a cohort in file order: ids (a repeated id is
/// reported at its row and the row dropped), interned property ids, applicants, choices and
/// extra columns.
struct StudentMerge<'a> {
    file: &'a str,
    extra: &'a [String],
    /// Cohort index of the file's first applicant.
    first_index: usize,
    /// Line of each applicant accepted so far (for "first on line N").
    accepted_lines: Vec<u64>,
    extra_columns: Vec<Vec<f64>>,
    student_id_column: Option<usize>,
    /// The ids outgrew the 4 GB an id table addresses: reported once, the rest dropped.
    id_text_full: bool,
    cohort: &'a mut Cohort,
    diags: &'a mut Diagnostics,
}

impl<'a> StudentMerge<'a> {
    /// A merge into `cohort` with room for `most` applicants (a count of lines, or an
    /// estimate that [`StudentMerge::reserve_for_file`] makes good as the file is read).
    fn new(
        file: &'a str,
        extra: &'a [String],
        header: &crate::io::csv::Header,
        most: usize,
        cohort: &'a mut Cohort,
        diags: &'a mut Diagnostics,
    ) -> Self {
        cohort.students.reserve(most);
        cohort.id_start.reserve(most);
        cohort.student_index.reserve(most);
        StudentMerge {
            file,
            extra,
            first_index: cohort.students.len(),
            accepted_lines: Vec::with_capacity(most),
            extra_columns: vec![Vec::with_capacity(most); extra.len()],
            student_id_column: header.columns.get("student_id").map(|c| c + 1),
            id_text_full: false,
            cohort,
            diags,
        }
    }

    /// Hands the policy's extra columns to the cohort.
    fn finish(self) {
        for (name, col) in self.extra.iter().zip(self.extra_columns) {
            self.cohort.extra.insert(name.clone(), col);
        }
    }

    /// Sizes the cohort's tables for the whole file from the share read so far, so that
    /// they are not rebuilt again and again as they grow (every rebuild re-hashes every id
    /// and copies every row).
    fn reserve_for_file(&mut self, merged_bytes: usize, total_bytes: usize) {
        if merged_bytes == 0 || merged_bytes >= total_bytes {
            return;
        }
        let whole = |seen: usize| (seen as f64 * total_bytes as f64 / merged_bytes as f64 * 1.05) as usize;
        let cohort = &mut *self.cohort;
        let seen = cohort.property_index.len();
        if seen > 0 {
            cohort.property_index.reserve(whole(seen).saturating_sub(seen));
        }
        // Applicants: only where the room made up front may fall short (room from a count
        // of lines is never short).
        let accepted = self.accepted_lines.len();
        let more = whole(accepted).saturating_sub(accepted);
        if accepted + more > self.accepted_lines.capacity() {
            cohort.students.reserve(more);
            cohort.id_start.reserve(more);
            cohort.student_index.reserve(more);
            self.accepted_lines.reserve(more);
            for col in &mut self.extra_columns {
                col.reserve(more);
            }
        }
    }

    fn pieces(&mut self, pieces: Vec<(StudentPiece, Diagnostics)>) {
        for (piece, problems) in pieces {
            let mut own = problems.items().iter().peekable();
            self.piece(&piece, &mut own);
            for d in own {
                self.diags.push(d.clone());
            }
            self.diags.omitted += problems.omitted;
        }
    }

    /// Diagnostics come in file order, wherever the pieces were cut: the piece's `own`
    /// problems are taken up to each repeated id's line (a row's own problems first).
    fn piece(&mut self, piece: &StudentPiece, own: &mut std::iter::Peekable<std::slice::Iter<'_, Diagnostic>>) {
        let cohort = &mut *self.cohort;
        let base = cohort.choices.len() as u32;
        cohort.choices.extend_from_slice(&piece.choices);
        // The id (and property) tables are far larger than the cache at millions of rows:
        // reading the slot of a row a few rows ahead lets its cache miss overlap this row's
        // work.
        let mut touched = 0u64;
        for (row_index, r) in piece.rows.iter().enumerate() {
            if let Some(ahead) = piece.rows.get(row_index + TOUCH_AHEAD) {
                touched ^= cohort.student_index.touch(ahead.id_hash);
                if ahead.property.is_some() {
                    touched ^= cohort.property_index.touch(ahead.property_hash);
                }
            }
            let id = piece.text(r.id);
            let property_len = r.property.map_or(0, |(from, to)| (to - from) as usize);
            if cohort.id_text.len() + id.len() > u32::MAX as usize
                || cohort.property_text.len() + property_len > u32::MAX as usize
            {
                if !self.id_text_full {
                    self.id_text_full = true;
                    self.diags.push(Diagnostic::file(
                        self.file,
                        "the student ids or property ids take more than 4 GB of text",
                        "shorten the ids or split the file",
                    ));
                }
                return;
            }
            // Append the id first so the table can read it back; undo on a repeat.
            let next = cohort.students.len() as u32;
            cohort.id_text.push_str(id);
            cohort.id_start.push(cohort.id_text.len() as u32);
            let (text, starts) = (&cohort.id_text, &cohort.id_start);
            let text_of = |i: u32| &text[starts[i as usize] as usize..starts[i as usize + 1] as usize];
            if let Some(first) = cohort.student_index.insert(r.id_hash, id, next, text_of) {
                while let Some(d) = own.next_if(|d| d.line.is_none_or(|l| l <= r.line)) {
                    self.diags.push(d.clone());
                }
                cohort.id_start.pop();
                let keep = cohort.id_start[cohort.id_start.len() - 1] as usize;
                cohort.id_text.truncate(keep);
                let first_line = (first as usize)
                    .checked_sub(self.first_index)
                    .and_then(|i| self.accepted_lines.get(i));
                self.diags.push(
                    Diagnostic::file(
                        self.file,
                        match first_line {
                            Some(line) => format!("duplicate student_id (first on line {line})"),
                            None => "duplicate student_id".to_string(),
                        },
                        "every applicant needs one row and its own id",
                    )
                    .at_line(r.line)
                    .at_field(self.student_id_column, "student_id")
                    .with_value(id),
                );
                continue;
            }
            let mut student = r.student.clone();
            student.property = r.property.map(|range| {
                let p = piece.text(range);
                let next = cohort.property_count() as u32;
                let (text, starts) = (&cohort.property_text, &cohort.property_start);
                let text_of = |i: u32| {
                    if i == next {
                        p
                    } else {
                        &text[starts[i as usize] as usize..starts[i as usize + 1] as usize]
                    }
                };
                match cohort.property_index.insert(r.property_hash, p, next, text_of) {
                    Some(existing) => existing,
                    None => {
                        cohort.property_text.push_str(p);
                        cohort.property_start.push(cohort.property_text.len() as u32);
                        next
                    }
                }
            });
            student.choices.0 += base;
            for (k, col) in self.extra_columns.iter_mut().enumerate() {
                col.push(piece.extras[row_index * self.extra.len() + k]);
            }
            cohort.students.push(student);
            self.accepted_lines.push(r.line);
        }
        std::hint::black_box(touched);
    }
}

/// The parts of `list` between semicolons, as `list.split(';')` gives them. A list names a
/// few short ids: a byte loop finds each semicolon sooner than a search set up per part.
fn split_at_semicolons(list: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(list);
    std::iter::from_fn(move || {
        let text = rest?;
        match text.bytes().position(|b| b == b';') {
            Some(at) => {
                rest = text.get(at + 1..);
                text.get(..at)
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// How many rows ahead the merge reads the id table (see [`StudentMerge::piece`]).
const TOUCH_AHEAD: usize = 12;

/// The columns of `students.csv`, looked up once per file instead of once per cell.
#[derive(Clone, Copy)]
struct StudentColumns {
    student_id: Found<'static>,
    stage: Found<'static>,
    block_id: Found<'static>,
    hukou_in_zone: Found<'static>,
    owns_home: Found<'static>,
    migrant: Found<'static>,
    years_at_address: Found<'static>,
    residence_permit_months: Found<'static>,
    social_insurance_months: Found<'static>,
    primary_school_id: Found<'static>,
    choices: Found<'static>,
    property_id: Found<'static>,
}

impl StudentColumns {
    fn of(columns: &crate::io::csv::Columns) -> Self {
        StudentColumns {
            student_id: columns.found("student_id"),
            stage: columns.found("stage"),
            block_id: columns.found("block_id"),
            hukou_in_zone: columns.found("hukou_in_zone"),
            owns_home: columns.found("owns_home"),
            migrant: columns.found("migrant"),
            years_at_address: columns.found("years_at_address"),
            residence_permit_months: columns.found("residence_permit_months"),
            social_insurance_months: columns.found("social_insurance_months"),
            primary_school_id: columns.found("primary_school_id"),
            choices: columns.found("choices"),
            property_id: columns.found("property_id"),
        }
    }
}

fn parse_student(
    row: &Row<'_>,
    city: &City,
    columns: &StudentColumns,
    extra: &[Found<'_>],
    piece: &mut StudentPiece,
    diags: &mut Diagnostics,
) -> Option<StudentRow> {
    let choices_out = &mut piece.choices;
    let id = row.required(columns.student_id, diags);
    let stage = row.stage_in(columns.stage, diags);
    let block = row.required(columns.block_id, diags).and_then(|b| {
        let found = city.block_near(b, &mut piece.last_block);
        if found.is_none() && !city.rejected.block(b) {
            diags.push(row.diag(
                columns.block_id,
                b,
                "no block has this id",
                "use a block_id from blocks.csv",
            ));
        }
        found
    });
    let hukou = row.boolean(columns.hukou_in_zone, diags);
    let owns = row.boolean(columns.owns_home, diags);
    let migrant = row.boolean(columns.migrant, diags);
    // An empty cell is "missing" (NaN): it never satisfies a comparison and ranks last.
    let missing = |v: Option<Option<f64>>| v.map(|x| x.unwrap_or(f64::NAN));
    let years = missing(row.non_negative(columns.years_at_address, diags));
    let permit = missing(row.non_negative(columns.residence_permit_months, diags));
    let insurance = missing(row.non_negative(columns.social_insurance_months, diags));
    let primary = row.text(columns.primary_school_id);
    let primary_school = if primary.is_empty() {
        Some(None)
    } else {
        match piece.schools.school(city, primary) {
            Some(p) if city.schools[p as usize].stage == Stage::Primary => Some(Some(p)),
            Some(_) => {
                diags.push(row.diag(
                    columns.primary_school_id,
                    primary,
                    "this school is not a primary school",
                    "name the primary school the applicant attends, or leave it empty",
                ));
                None
            }
            None if city.rejected.school(primary) => None,
            None => {
                diags.push(row.diag(
                    columns.primary_school_id,
                    primary,
                    "no school has this id",
                    "use a school_id from schools.csv, or leave it empty if the school is outside the city",
                ));
                None
            }
        }
    };
    // Chosen schools go straight into the piece's shared buffer (no allocation per row).
    let choices_start = choices_out.len();
    let mut choices_ok = true;
    for c in split_at_semicolons(row.text(columns.choices))
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        match piece.schools.school(city, c) {
            None if city.rejected.school(c) => choices_ok = false,
            None => {
                diags.push(row.diag(
                    columns.choices,
                    c,
                    "a chosen school does not exist",
                    "list school_ids from schools.csv separated by ;",
                ));
                choices_ok = false;
            }
            Some(s) => {
                if let Some(stage) = stage
                    && city.schools[s as usize].stage != stage
                {
                    diags.push(row.diag(
                        columns.choices,
                        c,
                        format!(
                            "a chosen school admits {} pupils, not {stage}",
                            city.schools[s as usize].stage
                        ),
                        "choose schools of the applicant's stage",
                    ));
                    choices_ok = false;
                }
                if !choices_out[choices_start..].contains(&s) {
                    choices_out.push(s);
                }
            }
        }
    }
    let extras_start = piece.extras.len();
    let mut extras_ok = true;
    for &column in extra {
        match row.parse::<f64>(column, "a number", diags) {
            Some(v) => piece.extras.push(v.unwrap_or(f64::NAN)),
            None => extras_ok = false,
        }
    }
    let (
        Some(id),
        Some(stage),
        Some(block),
        Some(hukou),
        Some(owns),
        Some(migrant),
        Some(years),
        Some(permit),
        Some(insurance),
        Some(primary_school),
        true,
        true,
    ) = (
        id,
        stage,
        block,
        hukou,
        owns,
        migrant,
        years,
        permit,
        insurance,
        primary_school,
        choices_ok,
        extras_ok,
    )
    else {
        piece.choices.truncate(choices_start);
        piece.extras.truncate(extras_start);
        return None;
    };
    let property = row.text(columns.property_id);
    let start = choices_start as u32;
    let n_choices = (piece.choices.len() - choices_start) as u32;
    let mut keep = |text: &str| {
        let begin = piece.text.len() as u32;
        piece.text.push_str(text);
        (begin, piece.text.len() as u32)
    };
    let id_range = keep(id);
    let property_range = (!property.is_empty()).then(|| keep(property));
    Some(StudentRow {
        id: id_range,
        id_hash: StringTable::hash(id),
        property_hash: if property.is_empty() {
            0
        } else {
            StringTable::hash(property)
        },
        line: row.line,
        property: property_range,
        student: Student {
            stage,
            block,
            hukou_in_zone: hukou,
            owns_home: owns,
            years_at_address: years,
            property: None,
            migrant,
            residence_permit_months: permit,
            social_insurance_months: insurance,
            primary_school: if stage == Stage::Junior { primary_school } else { None },
            choices: (start, n_choices),
        },
    })
}

/// Reads `seat_locks.csv`: the years a property already gave a seat.
///
/// It can be read only once the applicants are (locks are kept for their properties), so
/// it is parsed in parallel pieces rather than beside another file; locks and problems are
/// taken in file order, as a sequential read takes them.
pub fn read_seat_locks<R: CsvInput>(reader: R, file: &str, year: i32, cohort: &mut Cohort, diags: &mut Diagnostics) {
    let applicants = &*cohort;
    let pieces = read_in_pieces(
        reader,
        file,
        &["property_id", "stage", "year"],
        diags,
        |bytes| Vec::with_capacity(bytes / 24),
        |locks: &mut Vec<(u32, Stage, i32)>, row, diags| {
            if let Some(lock) = seat_lock_row(row, year, applicants, diags) {
                locks.push(lock);
            }
        },
    );
    let mut locks: HashMap<u32, Vec<(Stage, i32)>> = HashMap::new();
    for (piece, problems) in pieces.into_iter().flatten() {
        take_problems(diags, &problems);
        for (property, stage, y) in piece {
            locks.entry(property).or_default().push((stage, y));
        }
    }
    cohort.seat_locks = locks;
}

/// One row of `seat_locks.csv`: the lock, if the row is sound and an applicant lives in
/// the property (no other property can affect this year's allocation).
fn seat_lock_row(row: &Row<'_>, year: i32, cohort: &Cohort, diags: &mut Diagnostics) -> Option<(u32, Stage, i32)> {
    let property = row.required("property_id", diags);
    let stage = row.stage(diags);
    let y = match row.parse::<i32>("year", "a year", diags) {
        Some(Some(y)) => Some(y),
        Some(None) => {
            diags.push(row.diag("year", "", "year is empty", "write the year the property gave a seat"));
            None
        }
        None => None,
    };
    let (Some(property), Some(stage), Some(y)) = (property, stage, y) else {
        return None;
    };
    if y > year {
        diags.push(row.diag(
            "year",
            row.text("year"),
            format!("the year is after the admission year {year}"),
            "seat locks record seats already given",
        ));
        return None;
    }
    Some((cohort.property(property)?, stage, y))
}

/// Reads `distances.csv` (school_id, block_id, distance_m).
pub fn read_distances<R: CsvInput>(reader: R, file: &str, city: &City, diags: &mut Diagnostics) -> DistanceMatrix {
    let mut matrix = DistanceMatrix::default();
    // Pieces are taken in file order, so a pair given twice keeps its last distance, as a
    // sequential read would.
    let Some(pieces) = read_in_pieces(
        reader,
        file,
        &["school_id", "block_id", "distance_m"],
        diags,
        |bytes| (Vec::with_capacity(bytes / 24), 0u32),
        |(pairs, last_block), row, diags| {
            if let Some(pair) = distance_row(row, city, last_block, diags) {
                pairs.push(pair);
            }
        },
    ) else {
        return matrix;
    };
    matrix.map.reserve(pieces.iter().map(|p| p.0.0.len()).sum());
    for ((pairs, _), problems) in pieces {
        take_problems(diags, &problems);
        for (s, b, mm) in pairs {
            matrix.insert_mm(s, b, mm);
        }
    }
    matrix
}

/// One `distances.csv` row as (school, block, millimetres).
fn distance_row(row: &Row<'_>, city: &City, last_block: &mut u32, diags: &mut Diagnostics) -> Option<(u32, u32, u32)> {
    let school = school_cell(row, "school_id", city, |id| city.school(id), diags);
    let block = block_cell(row, "block_id", city, last_block, diags);
    let d = match row.parse::<f64>("distance_m", "a distance in metres", diags) {
        Some(Some(d)) if (0.0..4.0e6).contains(&d) => Some((d * 1000.0).round() as u32),
        Some(_) => {
            diags.push(row.diag(
                "distance_m",
                row.text("distance_m"),
                "distance_m must be a number of metres from 0 to 4,000,000",
                "write the travel distance in metres",
            ));
            None
        }
        None => None,
    };
    Some((school?, block?, d?))
}

#[cfg(test)]
mod block_tests;

#[cfg(test)]
mod zone_tests;

#[cfg(test)]
mod stream_tests;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashMap;

    use super::*;

    fn city(schools: usize, blocks: usize) -> City {
        let mut text = String::from("school_id,name,district,stage,sector,lon,lat,capacity\n");
        for s in 0..schools {
            text.push_str(&format!("S{s},School {s},A,primary,public,120.{s:03},31.5,100\n"));
        }
        let mut city = City::default();
        let mut diags = Diagnostics::default();
        read_schools(text.as_bytes(), "schools.csv", Crs::Wgs84, &mut city, &mut diags);
        let mut text = String::from("block_id,name,district,lon,lat,households\n");
        for b in 0..blocks {
            text.push_str(&format!("B{b},Block {b},A,120.{:04},31.6,10\n", b % 10_000));
        }
        read_blocks(text.as_bytes(), "blocks.csv", Crs::Wgs84, &mut city, &mut diags);
        assert!(diags.is_empty(), "{diags}");
        city
    }

    proptest::proptest! {
        /// Lists are cut at semicolons exactly as `str::split` cuts them: empty parts,
        /// leading and trailing semicolons, multi-byte characters.
        #[test]
        fn semicolon_lists_split_as_str_split_does(list in "[a;；学 ]{0,12}") {
            let got: Vec<&str> = split_at_semicolons(&list).collect();
            let want: Vec<&str> = list.split(';').collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    proptest::proptest! {
        /// The per-piece memo of school ids answers as the city's index does: known and
        /// unknown ids, ids longer than it packs, and more ids than it has slots.
        #[test]
        fn school_memo_agrees_with_the_index(
            lookups in proptest::collection::vec((0u32..4_000, 0u8..3), 1..3_000),
        ) {
            let city = city(3_000, 1);
            let mut memo = SchoolMemo::default();
            for (k, kind) in lookups {
                let id = match kind {
                    0 => format!("S{k}"),
                    1 => format!("S{k}-long-id"),
                    _ => format!("S{}", k % 40),
                };
                proptest::prop_assert_eq!(memo.school(&city, &id), city.school(&id), "{}", id);
            }
        }

        /// Looking up near the last answer finds what the index finds, in any order of ids.
        #[test]
        fn block_near_agrees_with_the_index(
            lookups in proptest::collection::vec((0u32..60, 0u8..4), 1..200),
        ) {
            let city = city(1, 50);
            let mut last = 0;
            for (k, kind) in lookups {
                // Runs of one block, the next block, a random block, an unknown id.
                let id = match kind {
                    0 => city.blocks[last as usize % 50].id.clone(),
                    1 => format!("B{}", (last + 1) % 60),
                    2 => format!("B{k}"),
                    _ => format!("X{k}"),
                };
                let before = last;
                let found = city.block_near(&id, &mut last);
                proptest::prop_assert_eq!(found, city.block(&id), "id {} after {}", id, before);
            }
        }
    }

    /// The former reader, row by row into the map: the oracle for the reader in pieces.
    fn seat_locks_read_sequentially(
        text: &str,
        year: i32,
        cohort: &Cohort,
        diags: &mut Diagnostics,
    ) -> HashMap<u32, Vec<(Stage, i32)>> {
        let mut locks: HashMap<u32, Vec<(Stage, i32)>> = HashMap::new();
        read_csv(
            text.as_bytes(),
            "seat_locks.csv",
            &["property_id", "stage", "year"],
            diags,
            |row, diags| {
                if let Some((p, stage, y)) = seat_lock_row(row, year, cohort, diags) {
                    locks.entry(p).or_default().push((stage, y));
                }
            },
        );
        locks
    }

    #[test]
    fn seat_locks_read_in_pieces_match_a_sequential_reading() {
        let city = city(1, 5);
        let mut students = String::from("student_id,stage,block_id,property_id\n");
        for n in 0..3_000 {
            students.push_str(&format!("S{n},primary,B{},H{}\n", n % 5, n % 1_500));
        }
        let mut cohort = Cohort::default();
        let mut diags = Diagnostics::default();
        read_students(students.as_bytes(), "students.csv", &city, &[], &mut cohort, &mut diags);
        assert!(diags.is_empty(), "{diags}");
        // Some 4 MB of locks, so several pieces: known and unknown properties, and rows
        // with a bad stage, an empty or unreadable year, or a year after the admission;
        // problems every `every` rows: fewer than the cap, or many more.
        let locks_text = |every: u64| {
            let mut text = String::from("property_id,stage,year\n");
            let mut n = 0u64;
            while text.len() < 4 << 20 {
                n += 1;
                let (stage, year) = match (n % every, n / every % 4) {
                    (3, 0) => ("nursery", "2020".to_string()),
                    (3, 1) => ("junior", String::new()),
                    (3, 2) => ("junior", "20x1".to_string()),
                    (3, _) => ("primary", "2031".to_string()),
                    _ => (["primary", "junior"][(n % 2) as usize], (2010 + n % 15).to_string()),
                };
                text.push_str(&format!("H{},{stage},{year}\n", n * 7 % 2_300));
            }
            text
        };
        let read_both = |text: &str, cap: usize| {
            let mut want_diags = Diagnostics::with_cap(cap);
            let want = seat_locks_read_sequentially(text, 2025, &cohort, &mut want_diags);
            let mut got_diags = Diagnostics::with_cap(cap);
            let mut read = cohort.clone();
            read_seat_locks(text.as_bytes(), "seat_locks.csv", 2025, &mut read, &mut got_diags);
            assert!(
                got_diags.items() == want_diags.items(),
                "the problems differ (cap {cap})"
            );
            (read.seat_locks, want, got_diags)
        };
        // Problems below the cap: the same locks and the same problems.
        let (got, want, problems) = read_both(&locks_text(5_003), Diagnostics::DEFAULT_CAP);
        assert!(
            problems.items().len() > 20 && !problems.is_full(),
            "{} problems",
            problems.items().len()
        );
        assert!(want.len() > 1_000, "{} properties locked", want.len());
        assert!(got == want, "the locks differ");
        // Problems past the cap: the first ones kept are the same (the load fails then).
        for cap in [Diagnostics::DEFAULT_CAP, 7] {
            let (_, _, problems) = read_both(&locks_text(97), cap);
            assert!(problems.is_full());
        }
        // An unusable header leaves no locks.
        let mut read = cohort.clone();
        read_seat_locks(
            "property,stage\n".as_bytes(),
            "seat_locks.csv",
            2025,
            &mut read,
            &mut diags,
        );
        assert!(read.seat_locks.is_empty() && !diags.is_empty());
    }

    #[test]
    fn students_merged_batch_by_batch_match_a_sequential_reading() {
        let city = city(1, 50);
        // Some 14 MB: many pieces and several parse-and-merge batches. Ids repeat within and
        // across batches, property ids repeat, and rows naming an unknown block are spread out.
        let mut text = String::from("student_id,stage,block_id,property_id\n");
        let mut ids: Vec<String> = Vec::new();
        let mut first_line: HashMap<String, u64> = HashMap::new();
        let mut properties: Vec<String> = Vec::new();
        let mut property_of: Vec<Option<u32>> = Vec::new();
        let mut expected_lines: Vec<(u64, String)> = Vec::new();
        let pad = "x".repeat(60);
        for n in 0..200_000u64 {
            let line = n + 2;
            let id = if n % 5_003 == 17 {
                format!("S{pad}{}", n / 3)
            } else {
                format!("S{pad}{n}")
            };
            if n % 7_919 == 5 {
                text.push_str(&format!("{id},primary,NOPE,\n"));
                expected_lines.push((line, "no block has this id".into()));
                continue;
            }
            let property = if n % 3 == 0 {
                String::new()
            } else {
                format!("H{}", n % 4_001)
            };
            text.push_str(&format!("{id},primary,B{},{property}\n", n % 50));
            if let Some(first) = first_line.get(&id) {
                expected_lines.push((line, format!("duplicate student_id (first on line {first})")));
                continue;
            }
            first_line.insert(id.clone(), line);
            ids.push(id);
            property_of.push(
                (!property.is_empty()).then(|| match properties.iter().position(|p| *p == property) {
                    Some(i) => i as u32,
                    None => {
                        properties.push(property.clone());
                        (properties.len() - 1) as u32
                    }
                }),
            );
        }
        assert!(text.len() > 12 << 20, "{} bytes", text.len());
        let mut cohort = Cohort::default();
        let mut diags = Diagnostics::with_cap(usize::MAX);
        read_students(text.as_bytes(), "students.csv", &city, &[], &mut cohort, &mut diags);
        let got: Vec<&str> = (0..cohort.students.len()).map(|i| cohort.id(i)).collect();
        assert_eq!(got, ids);
        let interned: Vec<&str> = (0..cohort.property_count()).map(|i| cohort.property_id(i)).collect();
        assert_eq!(interned, properties);
        let got: Vec<Option<u32>> = cohort.students.iter().map(|s| s.property).collect();
        assert_eq!(got, property_of);
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(cohort.student(id), Some(i as u32));
        }
        let mut lines: Vec<(u64, String)> = diags
            .items()
            .iter()
            .map(|d| (d.line.unwrap(), d.message.clone()))
            .collect();
        lines.sort();
        assert_eq!(lines, expected_lines);
    }

    #[test]
    fn blocks_read_in_pieces_match_a_sequential_reading() {
        // Some 4 MB: several pieces. Ids repeat within and across pieces, some rows are bad,
        // and a district's first row is a repeat (it is numbered at its first accepted row).
        let mut text = String::from("block_id,name,district,lon,lat,households\n");
        let mut ids: Vec<String> = Vec::new();
        let mut districts: Vec<String> = Vec::new();
        let mut district_of: Vec<u32> = Vec::new();
        let mut first_line: HashMap<String, u64> = HashMap::new();
        let mut expected: Vec<(u64, String)> = Vec::new();
        for n in 0..60_000u64 {
            let line = n + 2;
            let repeat = n % 4_999 == 7 && n > 7;
            let id = if repeat { format!("B{}", n / 2) } else { format!("B{n}") };
            let district = if repeat && n == 4_999 * 3 + 7 {
                "新区".to_string()
            } else {
                format!("D{}", (n / 1_000) % 13)
            };
            if n % 6_007 == 3 {
                text.push_str(&format!("{id},小区{n},{district},120.3,31.5,many\n"));
                expected.push((line, "households".into()));
                continue;
            }
            text.push_str(&format!("{id},小区{n}{},{district},120.3,31.5,10\n", "名".repeat(20)));
            if let Some(first) = first_line.get(&id) {
                expected.push((line, format!("duplicate block_id (first on line {first})")));
                continue;
            }
            first_line.insert(id.clone(), line);
            ids.push(id);
            let d = match districts.iter().position(|x| *x == district) {
                Some(i) => i,
                None => {
                    districts.push(district);
                    districts.len() - 1
                }
            };
            district_of.push(d as u32);
        }
        assert!(text.len() > 3 << 20, "{} bytes", text.len());
        let mut city = City::default();
        let mut diags = Diagnostics::with_cap(usize::MAX);
        read_blocks(text.as_bytes(), "blocks.csv", Crs::Wgs84, &mut city, &mut diags);
        let got: Vec<&str> = city.blocks.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(got, ids);
        assert_eq!(city.districts, districts);
        assert!(!city.districts.iter().any(|d| d == "新区"));
        let got: Vec<u32> = city.blocks.iter().map(|b| b.district).collect();
        assert_eq!(got, district_of);
        for (i, b) in city.blocks.iter().enumerate() {
            assert_eq!(city.block(&b.id), Some(i as u32));
            assert_eq!(city.lines.blocks[i], first_line[&b.id]);
        }
        // Problems come in file order, each at its row.
        let got: Vec<(u64, String)> = diags
            .items()
            .iter()
            .map(|d| {
                let what = if d.message.starts_with("duplicate") {
                    d.message.clone()
                } else {
                    d.field.clone().unwrap_or_default()
                };
                (d.line.unwrap(), what)
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn distances_read_in_pieces_match_a_sequential_reading() {
        let city = city(10, 3_000);
        // Some 2 MB of rows, so the file is parsed in pieces of 1 MB; pairs repeat across
        // pieces with new distances, and bad rows are spread through the file.
        let mut text = String::from("school_id,block_id,distance_m\n");
        let mut expected: HashMap<(u32, u32), u32> = HashMap::new();
        let mut bad_lines = Vec::new();
        let mut line = 1u64;
        for round in 0..4u32 {
            for b in 0..3_000u32 {
                for s in 0..10u32 {
                    line += 1;
                    if (b * 10 + s + round) % 9_973 == 0 {
                        text.push_str(&format!("S{s},NOPE{b},1\n"));
                        bad_lines.push(line);
                        continue;
                    }
                    let metres = f64::from(round * 7 + b + s) + 0.25;
                    text.push_str(&format!("S{s},B{b},{metres}\n"));
                    expected.insert((s, b), (metres * 1000.0).round() as u32);
                }
            }
        }
        assert!(text.len() > 3 << 19, "{} bytes", text.len());
        let mut diags = Diagnostics::with_cap(usize::MAX);
        let matrix = read_distances(text.as_bytes(), "distances.csv", &city, &mut diags);
        let got: HashMap<(u32, u32), u32> = matrix.iter_mm().map(|(s, b, mm)| ((s, b), mm)).collect();
        assert_eq!(got, expected);
        let lines: Vec<u64> = diags.items().iter().map(|d| d.line.unwrap()).collect();
        assert_eq!(lines, bad_lines);
        assert_eq!(matrix.get(0, 0), Some(crate::spatial::metres_of_mm(expected[&(0, 0)])));
    }
}
