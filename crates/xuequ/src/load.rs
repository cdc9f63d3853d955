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
use crate::model::{Block, BlockStatus, City, Cohort, School, Sector, Stage, StageZones, StringTable, Student};
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

        // The applicants' file is by far the largest: it is read (and decoded) on another
        // thread while the small tables are parsed, which need the city only.
        let students_file = name(&scenario.inputs.students);
        let students_spec = tables
            .get("students")
            .is_none()
            .then(|| scenario.input_spec("students", &scenario.inputs.students));
        std::thread::scope(|scope| {
            let students_text = students_spec.map(|spec| {
                let file = students_file.clone();
                scope.spawn(move || crate::io::source::read_table(&spec, &file))
            });
            Dataset::load_tables(scenario, tables, diags, policy, students_text)
        })
    }

    /// The part of [`Dataset::load_with_tables`] after the policy: every table in order.
    fn load_tables(
        scenario: Scenario,
        tables: &MemoryTables,
        mut diags: Diagnostics,
        policy: Policy,
        students_text: Option<std::thread::ScopedJoinHandle<'_, Result<crate::io::source::TableText, OpenError>>>,
    ) -> Result<Dataset, LoadError> {
        let name = |p: &Path| p.display().to_string();
        let mut sources: Vec<SourceInfo> = Vec::new();
        let mut students_text = students_text;
        // Each tabular input: read (CSV in any accepted encoding, or a workbook's sheet),
        // parsed by its reader, and its diagnostics placed on the workbook's cells.
        let mut table = |key: &str,
                         path: &Path,
                         diags: &mut Diagnostics,
                         read: &mut dyn FnMut(OwnedBytes, &str, &mut Diagnostics)| {
            let file = name(path);
            let prefetched = if key == "students" { students_text.take() } else { None };
            let opened = match (tables.get(key), prefetched) {
                (Some(bytes), _) => crate::io::source::TableText::in_memory(bytes.to_vec(), &file),
                (None, Some(reading)) => reading
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                (None, None) => crate::io::source::read_table(&scenario.input_spec(key, path), &file),
            };
            match opened {
                Ok(mut text) => {
                    let mut local = Diagnostics::with_cap(Diagnostics::DEFAULT_CAP);
                    // The text moves into the reader (no copy of a large file).
                    read(OwnedBytes(std::mem::take(&mut text.bytes)), &file, &mut local);
                    for mut d in local.items().iter().cloned() {
                        text.locate(&mut d);
                        diags.push(d);
                    }
                    diags.omitted += local.omitted;
                    sources.push(text.info);
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
        table("schools", &inputs.schools, &mut diags, &mut |b, f, d| {
            read_schools(b, f, crs, &mut city, d)
        })?;
        city.rejected.all_schools = city.schools.is_empty() && !diags.is_empty();
        let before = diags.total();
        if tables.get("blocks").is_none() && crate::shapes::is_polygon_file(&inputs.blocks) {
            crate::shapes::read_blocks(&inputs.blocks, crs, &mut city, &mut diags);
        } else {
            table("blocks", &inputs.blocks, &mut diags, &mut |b, f, d| {
                read_blocks(b, f, crs, &mut city, d)
            })?;
        }
        city.rejected.all_blocks = city.blocks.is_empty() && diags.total() > before;
        let mut zone_polygons = Vec::new();
        if let Some(z) = &inputs.zones {
            if tables.get("zones").is_none() && crate::shapes::is_polygon_file(z) {
                zone_polygons = crate::shapes::read_zones(z, crs, &mut city, &mut diags);
            } else {
                table("zones", z, &mut diags, &mut |b, f, d| read_zones(b, f, &mut city, d))?;
            }
        }
        if let Some(d) = &inputs.districts {
            crate::shapes::read_districts(d, crs, &mut city, &mut diags);
        }
        crate::edit::apply_city_edits(&mut city, &scenario.edits, scenario.crs, &mut diags);
        let mut cohort = Cohort::default();
        let extra = policy.extra_attributes();
        table("students", &inputs.students, &mut diags, &mut |b, f, d| {
            read_students_checked(b, f, &city, &extra, &policy.attribute_sites, &mut cohort, d)
        })?;
        if let Some(p) = &inputs.seat_locks {
            let year = scenario.year;
            table("seat_locks", p, &mut diags, &mut |b, f, d| {
                read_seat_locks(b, f, year, &mut cohort, d)
            })?;
        }
        let mut distances = None;
        if let Some(p) = &inputs.distances {
            table("distances", p, &mut diags, &mut |b, f, d| {
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
                sources,
            })
        } else {
            Err(LoadError::Invalid(diags))
        }
    }

    /// Every input file this dataset was read from (for a run's manifest).
    pub fn input_files(&self) -> Vec<&Path> {
        let i = &self.scenario.inputs;
        let mut files: Vec<&Path> = vec![self.scenario.path.as_path()];
        files.extend([i.schools.as_path(), i.blocks.as_path(), i.students.as_path()]);
        files.extend(
            [&i.zones, &i.seat_locks, &i.distances, &i.policy]
                .into_iter()
                .flatten()
                .map(PathBuf::as_path),
        );
        files
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

pub use crate::io::csv::{CsvInput, OwnedBytes};
pub(crate) use crate::io::csv::{Row, read_csv};
use crate::io::csv::{parse_rows, read_header, split_records};

fn district_index(city: &mut City, name: &str) -> u32 {
    if let Some(i) = city.districts.iter().position(|d| d == name) {
        return i as u32;
    }
    city.districts.push(name.to_string());
    (city.districts.len() - 1) as u32
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
pub fn read_blocks<R: CsvInput>(reader: R, file: &str, crs: Crs, city: &mut City, diags: &mut Diagnostics) {
    const REQUIRED: &[&str] = &["block_id", "name", "district", "lon", "lat", "households"];
    city.lines.blocks.resize(city.blocks.len(), 0);
    // Ids of rows that were not accepted: a later reference to them is not reported again.
    let mut failed: Vec<String> = Vec::new();
    let mut on_row = |row: &Row<'_>, diags: &mut Diagnostics| -> bool {
        let id = row.required("block_id", diags);
        let district = row.required("district", diags);
        let location = row.location(crs, diags);
        let households = row.count("households", diags);
        let status = match row.text("status").to_ascii_lowercase().as_str() {
            "" | "existing" => Some(BlockStatus::Existing),
            "new" => Some(BlockStatus::New),
            other => {
                diags.push(row.diag("status", other, "unknown block status", "use existing or new"));
                None
            }
        };
        let move_in_year = row.parse::<i32>("move_in_year", "a year", diags);
        let planned = row.count("planned_households", diags);
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
            return false;
        };
        let index = city.blocks.len() as u32;
        match city.block_index.entry(id.to_string()) {
            std::collections::hash_map::Entry::Occupied(first) => {
                diags.push(row.diag(
                    "block_id",
                    id,
                    format!(
                        "duplicate block_id (first on line {})",
                        city.lines.blocks[*first.get() as usize]
                    ),
                    "every block needs its own id",
                ));
                return false;
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(index);
            }
        }
        city.lines.blocks.push(row.line);
        let district = district_index(city, district);
        let name = row.text("name");
        city.blocks.push(Block {
            id: id.to_string(),
            name: if name.is_empty() {
                id.to_string()
            } else {
                name.to_string()
            },
            district,
            location,
            households: households.unwrap_or(0),
            status,
            move_in_year,
            planned_households: planned,
        });
        true
    };
    read_csv(reader, file, REQUIRED, diags, |row, diags| {
        if !on_row(row, diags) {
            failed.push(row.text("block_id").to_string());
        }
    });
    let rejected: Vec<String> = failed
        .into_iter()
        .filter(|id| !id.is_empty() && city.block(id).is_none())
        .collect();
    city.rejected.blocks.extend(rejected);
}

/// Reads `zones.csv` into `city.zones`.
pub fn read_zones<R: CsvInput>(reader: R, file: &str, city: &mut City, diags: &mut Diagnostics) {
    // (block, school, line) per stage.
    let mut lines: [Vec<(u32, u32, u64)>; 3] = Default::default();
    let mut last_block = 0;
    read_csv(
        reader,
        file,
        &["block_id", "stage", "school_id"],
        diags,
        |row, diags| {
            let block = row.required("block_id", diags).and_then(|b| {
                let found = city.block_near(b, &mut last_block);
                if found.is_none() && !city.rejected.block(b) {
                    diags.push(row.diag("block_id", b, "no block has this id", "use a block_id from blocks.csv"));
                }
                found
            });
            let stage = row.stage(diags);
            let school = row.required("school_id", diags).and_then(|s| {
                let found = city.school(s);
                if found.is_none() && !city.rejected.school(s) {
                    diags.push(row.diag(
                        "school_id",
                        s,
                        "no school has this id",
                        "use a school_id from schools.csv",
                    ));
                }
                found
            });
            let (Some(block), Some(stage), Some(school)) = (block, stage, school) else {
                return;
            };
            let s = &city.schools[school as usize];
            if s.stage != stage {
                diags.push(row.diag(
                    "school_id",
                    &s.id,
                    format!("this school admits {} pupils, not {stage}", s.stage),
                    "pair each block with a school of the row's stage",
                ));
                return;
            }
            if s.sector == Sector::Private {
                diags.push(row.diag(
                    "school_id",
                    &s.id,
                    "a private school has no catchment zone",
                    "private schools admit by lottery among families who choose them; remove this row",
                ));
                return;
            }
            lines[stage.index()].push((block, school, row.line));
        },
    );
    for (stage, lines) in lines.into_iter().enumerate() {
        let pairs: Vec<(u32, u32)> = lines.iter().map(|&(b, s, _)| (b, s)).collect();
        city.zones[stage] = StageZones::from_pairs(city.blocks.len(), &pairs);
        city.lines.zones[stage] = lines;
    }
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
    diags: Diagnostics,
    /// The block of the previous row (rows of one block usually come together).
    last_block: u32,
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
    read_students_checked(reader, file, city, extra, &BTreeMap::new(), cohort, diags);
}

/// [`read_students`], reporting a missing policy column at the policy line naming it.
fn read_students_checked<R: CsvInput>(
    reader: R,
    file: &str,
    city: &City,
    extra: &[String],
    sites: &BTreeMap<String, Diagnostic>,
    cohort: &mut Cohort,
    diags: &mut Diagnostics,
) {
    use rayon::prelude::*;
    let Some((bytes, header)) = read_header(reader, file, &["student_id", "stage", "block_id"], diags) else {
        return;
    };
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
    if missing {
        return;
    }
    let body = &bytes[header.body_start..];
    const PIECE: usize = 1 << 20;
    let pieces: Vec<StudentPiece> = split_records(body, PIECE)
        .into_par_iter()
        .map(|(from, to, lines)| {
            let mut piece = StudentPiece::default();
            piece.rows.reserve((to - from) / 80);
            let mut local = std::mem::take(&mut piece.diags);
            parse_rows(
                &body[from..to],
                header.lines_before + lines,
                file,
                &header,
                &mut local,
                |row, diags| {
                    if let Some(r) = parse_student(row, city, extra, &mut piece, diags) {
                        piece.rows.push(r);
                    }
                },
            );
            piece.diags = local;
            piece
        })
        .collect();
    // The text is no longer needed: free it before the merge grows the cohort.
    drop(bytes);
    let total: usize = pieces.iter().map(|p| p.rows.len()).sum();
    let total_text: usize = pieces.iter().map(|p| p.text.len()).sum();
    if cohort.id_text.len() + total_text > u32::MAX as usize {
        diags.push(Diagnostic::file(
            file,
            "the student ids take more than 4 GB of text",
            "shorten the ids or split the file",
        ));
        return;
    }
    cohort.students.reserve(total);
    cohort.id_start.reserve(total);
    cohort.id_text.reserve(total_text);
    let first_index = cohort.students.len();
    // The id table and the property table are two serial passes over the rows: they run
    // side by side. Properties are interned assuming no row is a duplicate (a duplicate's
    // property must not be interned); if the id pass finds one, they are interned again.
    let (duplicates, interned) = {
        let ids = IdTable {
            text: &mut cohort.id_text,
            starts: &mut cohort.id_start,
            index: &mut cohort.student_index,
        };
        let (properties, property_index) = (&cohort.properties, &cohort.property_index);
        rayon::join(
            || ids.insert_rows(&pieces, first_index),
            || intern_properties(&pieces, properties, property_index, &[]),
        )
    };
    let (properties, property_index, row_properties) = if duplicates.iter().all(Vec::is_empty) {
        interned
    } else {
        drop(interned);
        intern_properties(&pieces, &cohort.properties, &cohort.property_index, &duplicates)
    };
    cohort.properties = properties;
    cohort.property_index = property_index;
    let accepted = total - duplicates.iter().map(Vec::len).sum::<usize>();
    let mut extra_columns: Vec<Vec<f64>> = vec![Vec::with_capacity(accepted); extra.len()];
    let mut accepted_lines: Vec<u64> = Vec::with_capacity(accepted);
    let mut row_properties = row_properties.into_iter();
    let student_id_column = header.columns.get("student_id").map(|c| c + 1);
    // Pieces are consumed (and freed) one by one as the cohort grows. Diagnostics come in
    // file order: each piece's own, then its duplicate ids.
    for (piece, dups) in pieces.into_iter().zip(&duplicates) {
        for d in piece.diags.items() {
            diags.push(d.clone());
        }
        diags.omitted += piece.diags.omitted;
        let base = cohort.choices.len() as u32;
        cohort.choices.extend_from_slice(&piece.choices);
        let mut dups = dups.iter().peekable();
        for (row_index, r) in piece.rows.iter().enumerate() {
            if let Some(&(_, first)) = dups.next_if(|d| d.0 == row_index) {
                diags.push(
                    Diagnostic::file(
                        file,
                        match (first as usize)
                            .checked_sub(first_index)
                            .and_then(|i| accepted_lines.get(i))
                        {
                            Some(line) => format!("duplicate student_id (first on line {line})"),
                            None => "duplicate student_id".to_string(),
                        },
                        "every applicant needs one row and its own id",
                    )
                    .at_line(r.line)
                    .at_field(student_id_column, "student_id")
                    .with_value(piece.text(r.id)),
                );
                continue;
            }
            let mut student = r.student.clone();
            student.property = row_properties.next().flatten();
            student.choices.0 += base;
            for (k, col) in extra_columns.iter_mut().enumerate() {
                col.push(piece.extras[row_index * extra.len() + k]);
            }
            cohort.students.push(student);
            accepted_lines.push(r.line);
        }
    }
    for (name, col) in extra.iter().zip(extra_columns) {
        cohort.extra.insert(name.clone(), col);
    }
}

/// The id columns of a cohort, filled by one serial pass over the parsed pieces.
struct IdTable<'a> {
    text: &'a mut String,
    starts: &'a mut Vec<u32>,
    index: &'a mut StringTable,
}

impl IdTable<'_> {
    /// Appends every row's id in file order; returns per piece the rows whose id was taken
    /// (row index in the piece, index of the applicant who has it).
    fn insert_rows(self, pieces: &[StudentPiece], first_index: usize) -> Vec<Vec<(usize, u32)>> {
        let IdTable { text, starts, index } = self;
        let total: usize = pieces.iter().map(|p| p.rows.len()).sum();
        {
            let (text, starts) = (&*text, &*starts);
            index.reserve(total, |i| {
                &text[starts[i as usize] as usize..starts[i as usize + 1] as usize]
            });
        }
        let mut next = first_index as u32;
        pieces
            .iter()
            .map(|piece| {
                let mut duplicates = Vec::new();
                for (row_index, r) in piece.rows.iter().enumerate() {
                    let id = piece.text(r.id);
                    // Append the id first so the table can read it back; undo on a duplicate.
                    text.push_str(id);
                    starts.push(text.len() as u32);
                    let (t, s) = (&*text, &*starts);
                    let text_of = |i: u32| &t[s[i as usize] as usize..s[i as usize + 1] as usize];
                    if let Some(first) = index.insert(r.id_hash, id, next, text_of) {
                        starts.pop();
                        text.truncate(starts[starts.len() - 1] as usize);
                        duplicates.push((row_index, first));
                    } else {
                        next += 1;
                    }
                }
                duplicates
            })
            .collect()
    }
}

/// Interns the property ids of every row not listed in `skip` (per piece, ascending row
/// indexes), in file order, starting from `properties` and `index`. Returns the new table
/// and each kept row's property.
fn intern_properties(
    pieces: &[StudentPiece],
    properties: &[String],
    index: &StringTable,
    skip: &[Vec<(usize, u32)>],
) -> (Vec<String>, StringTable, Vec<Option<u32>>) {
    let mut properties = properties.to_vec();
    let mut index = index.clone();
    let with_property: usize = pieces
        .iter()
        .map(|p| p.rows.iter().filter(|r| r.property.is_some()).count())
        .sum();
    index.reserve(with_property, |i| properties[i as usize].as_str());
    let total: usize = pieces.iter().map(|p| p.rows.len()).sum();
    let mut of_row = Vec::with_capacity(total);
    for (k, piece) in pieces.iter().enumerate() {
        let mut skip = skip.get(k).map_or(&[][..], Vec::as_slice).iter().peekable();
        for (row_index, r) in piece.rows.iter().enumerate() {
            if skip.next_if(|d| d.0 == row_index).is_some() {
                continue;
            }
            of_row.push(r.property.map(|range| {
                let p = piece.text(range);
                let next = properties.len() as u32;
                let list = &properties;
                let text_of = |i: u32| if i == next { p } else { list[i as usize].as_str() };
                match index.insert(r.property_hash, p, next, text_of) {
                    Some(existing) => existing,
                    None => {
                        properties.push(p.to_string());
                        next
                    }
                }
            }));
        }
    }
    (properties, index, of_row)
}

fn parse_student(
    row: &Row<'_>,
    city: &City,
    extra: &[String],
    piece: &mut StudentPiece,
    diags: &mut Diagnostics,
) -> Option<StudentRow> {
    let choices_out = &mut piece.choices;
    let id = row.required("student_id", diags);
    let stage = row.stage(diags);
    let block = row.required("block_id", diags).and_then(|b| {
        let found = city.block_near(b, &mut piece.last_block);
        if found.is_none() && !city.rejected.block(b) {
            diags.push(row.diag("block_id", b, "no block has this id", "use a block_id from blocks.csv"));
        }
        found
    });
    let hukou = row.boolean("hukou_in_zone", diags);
    let owns = row.boolean("owns_home", diags);
    let migrant = row.boolean("migrant", diags);
    // An empty cell is "missing" (NaN): it never satisfies a comparison and ranks last.
    let missing = |v: Option<Option<f64>>| v.map(|x| x.unwrap_or(f64::NAN));
    let years = missing(row.non_negative("years_at_address", diags));
    let permit = missing(row.non_negative("residence_permit_months", diags));
    let insurance = missing(row.non_negative("social_insurance_months", diags));
    let primary = row.text("primary_school_id");
    let primary_school = if primary.is_empty() {
        Some(None)
    } else {
        match city.school(primary) {
            Some(p) if city.schools[p as usize].stage == Stage::Primary => Some(Some(p)),
            Some(_) => {
                diags.push(row.diag(
                    "primary_school_id",
                    primary,
                    "this school is not a primary school",
                    "name the primary school the applicant attends, or leave it empty",
                ));
                None
            }
            None if city.rejected.school(primary) => None,
            None => {
                diags.push(row.diag(
                    "primary_school_id",
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
    for c in row.text("choices").split(';').map(str::trim).filter(|c| !c.is_empty()) {
        match city.school(c) {
            None if city.rejected.school(c) => choices_ok = false,
            None => {
                diags.push(row.diag(
                    "choices",
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
                        "choices",
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
    for name in extra {
        match row.parse::<f64>(name, "a number", diags) {
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
    let property = row.text("property_id");
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
pub fn read_seat_locks<R: CsvInput>(reader: R, file: &str, year: i32, cohort: &mut Cohort, diags: &mut Diagnostics) {
    let mut locks: HashMap<u32, Vec<(Stage, i32)>> = HashMap::new();
    read_csv(reader, file, &["property_id", "stage", "year"], diags, |row, diags| {
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
            return;
        };
        if y > year {
            diags.push(row.diag(
                "year",
                row.text("year"),
                format!("the year is after the admission year {year}"),
                "seat locks record seats already given",
            ));
            return;
        }
        // Properties no applicant lives in cannot affect this year's allocation.
        if let Some(p) = cohort.property(property) {
            locks.entry(p).or_default().push((stage, y));
        }
    });
    cohort.seat_locks = locks;
}

/// Reads `distances.csv` (school_id, block_id, distance_m).
pub fn read_distances<R: CsvInput>(reader: R, file: &str, city: &City, diags: &mut Diagnostics) -> DistanceMatrix {
    use rayon::prelude::*;
    let mut matrix = DistanceMatrix::default();
    let Some((bytes, header)) = read_header(reader, file, &["school_id", "block_id", "distance_m"], diags) else {
        return matrix;
    };
    let body = &bytes[header.body_start..];
    // Pieces are parsed in parallel and taken in file order, so a pair given twice keeps
    // its last distance, as a sequential read would.
    type Piece = (Vec<(u32, u32, u32)>, Diagnostics);
    let pieces: Vec<Piece> = split_records(body, 1 << 20)
        .into_par_iter()
        .map(|(from, to, lines)| {
            let mut pairs = Vec::with_capacity((to - from) / 24);
            let mut local = Diagnostics::default();
            let mut last_block = 0;
            parse_rows(
                &body[from..to],
                header.lines_before + lines,
                file,
                &header,
                &mut local,
                |row, diags| {
                    if let Some(pair) = distance_row(row, city, &mut last_block, diags) {
                        pairs.push(pair);
                    }
                },
            );
            (pairs, local)
        })
        .collect();
    matrix.map.reserve(pieces.iter().map(|p| p.0.len()).sum());
    for (pairs, local) in pieces {
        for d in local.items() {
            diags.push(d.clone());
        }
        diags.omitted += local.omitted;
        for (s, b, mm) in pairs {
            matrix.insert_mm(s, b, mm);
        }
    }
    matrix
}

/// One `distances.csv` row as (school, block, millimetres).
fn distance_row(row: &Row<'_>, city: &City, last_block: &mut u32, diags: &mut Diagnostics) -> Option<(u32, u32, u32)> {
    let school = row.required("school_id", diags).and_then(|s| {
        let f = city.school(s);
        if f.is_none() && !city.rejected.school(s) {
            diags.push(row.diag(
                "school_id",
                s,
                "no school has this id",
                "use a school_id from schools.csv",
            ));
        }
        f
    });
    let block = row.required("block_id", diags).and_then(|b| {
        let f = city.block_near(b, last_block);
        if f.is_none() && !city.rejected.block(b) {
            diags.push(row.diag("block_id", b, "no block has this id", "use a block_id from blocks.csv"));
        }
        f
    });
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
