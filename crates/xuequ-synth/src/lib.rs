//! # xuequ-synth — seeded synthetic cities for xuequ
//!
//! Writes a complete, Wuxi-shaped input dataset for the `xuequ` engine (schools, blocks,
//! zones, applicants, seat locks, policy and scenario), reproducibly from a seed, streaming
//! applicants to disk block by block. Used for the bundled demo (`data/demo`), tests and
//! benchmarks; nothing in it describes real people or schools.
//!
//! ## Map
//! - [`write_city`] — the one entry point: generate and write a dataset into a directory.
//! - [`SynthConfig`] — what to generate: a [`Preset`], an optional applicant count
//!   (scales the preset; beyond Wuxi size the city is replicated), the seed, the year.
//! - [`Preset`] — `demo`, `wuxi`, `choice<k>` (parse with [`str::parse`]).
//! - [`SynthProgress`] — reported to a callback while writing (for a progress bar).
//! - [`SynthSummary`] — counts of what was written, and the files.
//! - [`SynthError`] — what went wrong (configuration or I/O).
//!
//! The generative model, its parameters and measured timings are described in
//! `docs/synth.md`.
//!
//! ## Files written
//! `schools.csv`, `blocks.csv`, `zones.csv`, `students.csv`, `seat_locks.csv`,
//! `policy.toml`, `scenario.toml`, a walking network `roads.osm.pbf` with its scenario
//! `scenario_roads.toml` (`distance = "roads"`) and a bilingual `README.md`, in the formats of the
//! workspace's input contract v1. Every file is first written under a temporary name in the
//! output directory and renamed into place once all are complete.
//!
//! ## Reproducibility
//! All randomness comes from ChaCha20 (`rand_chacha`) seeded with [`SynthConfig::seed`], one
//! stream per copy of the city and purpose; no transcendental floating-point functions are
//! used, so the same configuration gives byte-identical files on every platform.
//!
//! ## Example
//! ```
//! use xuequ_synth::{Preset, SynthConfig, write_city};
//!
//! let dir = std::env::temp_dir().join(format!("xuequ-synth-doc-{}", std::process::id()));
//! let config = SynthConfig {
//!     preset: Preset::Demo,
//!     applicants: Some(600), // a smaller demo city
//!     seed: 7,
//!     year: 2026,
//! };
//! let mut written = 0;
//! let summary = write_city(&config, &dir, &mut |p| written = p.done)?;
//! assert_eq!(summary.applicants.total(), 600);
//! assert_eq!(summary.districts, 7);
//! assert!(dir.join("students.csv").exists() && dir.join("scenario.toml").exists());
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod geography;
mod layout;
mod names;
mod preset;
mod rng;
mod roads;
mod students;
mod texts;
mod writer;

#[cfg(test)]
mod tests;

use std::fs;
use std::path::{Path, PathBuf};

pub use error::SynthError;
pub use preset::{MAX_CHOICE_K, ParsePresetError, Preset};
pub use roads::{RoadsSummary, write_synthetic_network};

use layout::{City, Ctx, Ids, build_city};
use preset::{Shape, plan};
use rng::{Purpose, Rand};
use students::{BLOCK_WIDTH, SCHOOL_WIDTH, StudentGen};
use writer::{TempFile, push_id, push_micro, push_text, push_u64};

/// The default seed (also the demo dataset's seed and published lottery seed).
pub const DEFAULT_SEED: u64 = 20_260_701;
/// The default admission year.
pub const DEFAULT_YEAR: i32 = 2026;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthConfig {
    /// The shape of the city.
    pub preset: Preset,
    /// Total entry-grade applicants over all stages; `None` = the preset's default size.
    /// Schools and blocks scale linearly; above about 250,000 (100,000 for the choice
    /// market) the seven districts are replicated as several cities.
    pub applicants: Option<u64>,
    /// Seed of every random draw.
    pub seed: u64,
    /// The admission year (default 2026); move-in years, opening years and seat locks are
    /// relative to it.
    pub year: i32,
}

impl SynthConfig {
    /// `preset` at its default size, with [`DEFAULT_SEED`] and [`DEFAULT_YEAR`].
    pub fn new(preset: Preset) -> Self {
        SynthConfig {
            preset,
            applicants: None,
            seed: DEFAULT_SEED,
            year: DEFAULT_YEAR,
        }
    }
}

impl Default for SynthConfig {
    /// The demo city: `SynthConfig::new(Preset::Demo)`.
    fn default() -> Self {
        SynthConfig::new(Preset::Demo)
    }
}

/// A school stage; each has one entry grade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// Kindergarten (幼儿园), entry class 小班, 25 per class.
    Kindergarten,
    /// Primary school (小学), grade 1, 45 per class.
    Primary,
    /// Junior middle school (初中), grade 7, 50 per class.
    Junior,
}

impl Stage {
    /// All stages, youngest first.
    pub const ALL: [Stage; 3] = [Stage::Kindergarten, Stage::Primary, Stage::Junior];

    /// The name used in files: `kindergarten`, `primary`, `junior`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Kindergarten => "kindergarten",
            Stage::Primary => "primary",
            Stage::Junior => "junior",
        }
    }

    /// Standard entry-grade class size: 25, 45, 50.
    pub fn class_size(self) -> u32 {
        match self {
            Stage::Kindergarten => 25,
            Stage::Primary => 45,
            Stage::Junior => 50,
        }
    }

    /// Position in [`Stage::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// First letter of the stage's school ids: `K0001`, `P0001`, `J0001`.
    pub(crate) fn prefix(self) -> u8 {
        match self {
            Stage::Kindergarten => b'K',
            Stage::Primary => b'P',
            Stage::Junior => b'J',
        }
    }
}

/// Who runs a school.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sector {
    /// 公办.
    Public,
    /// 民办.
    Private,
}

impl Sector {
    /// The name used in files: `public`, `private`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sector::Public => "public",
            Sector::Private => "private",
        }
    }
}

/// A count per stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageCounts {
    /// Kindergarten.
    pub kindergarten: u64,
    /// Primary.
    pub primary: u64,
    /// Junior.
    pub junior: u64,
}

impl StageCounts {
    /// The count for `stage`.
    pub fn get(&self, stage: Stage) -> u64 {
        match stage {
            Stage::Kindergarten => self.kindergarten,
            Stage::Primary => self.primary,
            Stage::Junior => self.junior,
        }
    }

    /// Adds `n` to `stage`.
    pub fn add(&mut self, stage: Stage, n: u64) {
        match stage {
            Stage::Kindergarten => self.kindergarten += n,
            Stage::Primary => self.primary += n,
            Stage::Junior => self.junior += n,
        }
    }

    /// Sum over stages.
    pub fn total(&self) -> u64 {
        self.kindergarten + self.primary + self.junior
    }

    fn merge(&mut self, other: &StageCounts) {
        for s in Stage::ALL {
            self.add(s, other.get(s));
        }
    }
}

/// What the generator is doing, for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynthPhase {
    /// Laying out a copy of the city (blocks, schools, zones): `done` of `total` copies.
    Layout,
    /// Writing applicants: `done` of `total` rows of students.csv.
    Students,
    /// Closing and renaming the files: `done` of `total` files.
    Finishing,
}

/// A progress report: `done` of `total` units of the current [`SynthPhase`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynthProgress {
    /// The phase.
    pub phase: SynthPhase,
    /// Units done.
    pub done: u64,
    /// Units in the phase.
    pub total: u64,
}

/// What was written.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthSummary {
    /// The preset.
    pub preset: Preset,
    /// The seed.
    pub seed: u64,
    /// The year.
    pub year: i32,
    /// Copies of the seven districts (1 up to Wuxi size).
    pub copies: u32,
    /// Districts (7 per copy).
    pub districts: u64,
    /// Blocks (rows of blocks.csv).
    pub blocks: u64,
    /// Of which new developments (status `new`).
    pub new_blocks: u64,
    /// Households living in the blocks now.
    pub households: u64,
    /// Blocks with a multi-school zone for at least one stage.
    pub multi_zone_blocks: u64,
    /// Rows of zones.csv.
    pub zone_rows: u64,
    /// Public schools per stage (including planned ones).
    pub public_schools: StageCounts,
    /// Of which planned (opening after the admission year; no zone yet).
    pub planned_schools: StageCounts,
    /// Private schools per stage.
    pub private_schools: StageCounts,
    /// Entry-grade seats for public-track applicants: open public schools' capacity plus
    /// seats the government buys at private schools.
    pub public_seats: StageCounts,
    /// Private schools' seats for their own applicants (capacity − purchased seats).
    pub private_seats: StageCounts,
    /// Applicants per stage (rows of students.csv).
    pub applicants: StageCounts,
    /// Migrant applicants (随迁子女).
    pub migrants: u64,
    /// Rows of seat_locks.csv.
    pub seat_locks: u64,
    /// The road network written to `roads.osm.pbf`.
    pub roads: Option<RoadsSummary>,
    /// The files written, in the output directory.
    pub files: Vec<PathBuf>,
}

/// How often (in applicants) progress is reported while writing students.
const PROGRESS_EVERY: u64 = 1 << 16;
/// Flush row buffers to their files beyond this size.
const FLUSH_AT: usize = 1 << 20;

/// Generates the city described by `config` and writes it into `out_dir` (created if
/// missing; existing files of the same names are replaced atomically).
///
/// `progress` is called at each phase and every few tens of thousands of applicants.
///
/// # Errors
/// [`SynthError::InvalidConfig`] for zero applicants or a year outside 1900..=2200;
/// [`SynthError::Io`] if a file cannot be created, written or renamed (no partial dataset
/// is left behind: temporary files are removed).
pub fn write_city(
    config: &SynthConfig,
    out_dir: &Path,
    progress: &mut dyn FnMut(SynthProgress),
) -> Result<SynthSummary, SynthError> {
    if config.applicants == Some(0) {
        return Err(SynthError::InvalidConfig("applicants must be at least 1".to_string()));
    }
    if !(1900..=2200).contains(&config.year) {
        return Err(SynthError::InvalidConfig(format!(
            "year {} is outside 1900..=2200",
            config.year
        )));
    }
    write_with_shape(config, &Shape::of(config.preset), out_dir, progress)
}

/// [`write_city`] with an explicit shape (tests use a small replication threshold).
fn write_with_shape(
    config: &SynthConfig,
    shape: &Shape,
    out_dir: &Path,
    progress: &mut dyn FnMut(SynthProgress),
) -> Result<SynthSummary, SynthError> {
    let plans = plan(shape, config.applicants);
    let geo = geography::wuxi_districts()?;
    fs::create_dir_all(out_dir).map_err(|e| SynthError::io(out_dir, e))?;
    let stages: Vec<Stage> = shape.stages().collect();
    let copies = plans.len() as u32;
    let total: u64 = plans.iter().flat_map(|p| p.applicants).sum();
    let ctx = Ctx {
        shape,
        geo: &geo,
        seed: config.seed,
        year: config.year,
        copies,
    };

    let mut schools = TempFile::create(out_dir, "schools.csv")?;
    let mut blocks = TempFile::create(out_dir, "blocks.csv")?;
    let mut zones = TempFile::create(out_dir, "zones.csv")?;
    let mut students = TempFile::create(out_dir, "students.csv")?;
    let mut locks = TempFile::create(out_dir, "seat_locks.csv")?;
    schools.write(
        b"school_id,name,district,stage,sector,lon,lat,capacity,classes,class_size,opens_year,feeder_junior_id,purchased_seats\n",
    )?;
    blocks.write(b"block_id,name,district,lon,lat,households,status,move_in_year,planned_households\n")?;
    zones.write(b"block_id,stage,school_id\n")?;
    students.write(
        b"student_id,stage,block_id,hukou_in_zone,owns_home,years_at_address,property_id,migrant,residence_permit_months,social_insurance_months,primary_school_id,choices\n",
    )?;
    locks.write(b"property_id,stage,year\n")?;

    let mut summary = SynthSummary {
        preset: config.preset,
        seed: config.seed,
        year: config.year,
        copies,
        districts: 0,
        blocks: 0,
        new_blocks: 0,
        households: 0,
        multi_zone_blocks: 0,
        zone_rows: 0,
        public_schools: StageCounts::default(),
        planned_schools: StageCounts::default(),
        private_schools: StageCounts::default(),
        public_seats: StageCounts::default(),
        private_seats: StageCounts::default(),
        applicants: StageCounts::default(),
        migrants: 0,
        seat_locks: 0,
        roads: None,
        files: Vec::new(),
    };
    let mut ids = Ids::default();
    let mut road_file: Option<PathBuf> = None;
    let mut next_student = 0u64;
    let (mut buf, mut lock_buf) = (Vec::with_capacity(FLUSH_AT * 2), Vec::new());
    let mut reported = 0u64;
    let mut extent: Option<(geography::MicroPt, geography::MicroPt)> = None;
    for p in &plans {
        progress(SynthProgress {
            phase: SynthPhase::Layout,
            done: u64::from(p.index),
            total: u64::from(copies),
        });
        let city = build_city(&ctx, p, &mut ids);
        for pt in city
            .blocks
            .iter()
            .map(|b| b.pt)
            .chain(city.schools.iter().map(|s| s.pt))
        {
            let pt = pt.shifted(city.offset);
            let (lo, hi) = extent.get_or_insert((pt, pt));
            *lo = geography::MicroPt {
                lon: lo.lon.min(pt.lon),
                lat: lo.lat.min(pt.lat),
            };
            *hi = geography::MicroPt {
                lon: hi.lon.max(pt.lon),
                lat: hi.lat.max(pt.lat),
            };
        }
        write_layout(&city, &mut buf, &mut summary, &mut schools, &mut blocks, &mut zones)?;

        let mut cohort = StudentGen::new(
            &city,
            config.year,
            stages.clone(),
            shape.seat_lock_share,
            shape.choice_k,
            next_student,
        );
        let mut rng = Rand::new(config.seed, p.index, Purpose::Students);
        for bi in 0..city.blocks.len() {
            cohort.block(bi, &mut rng, &mut buf, &mut lock_buf);
            if buf.len() >= FLUSH_AT {
                students.drain(&mut buf)?;
                locks.drain(&mut lock_buf)?;
            }
            let done = cohort.next_student;
            if done - reported >= PROGRESS_EVERY {
                reported = done;
                progress(SynthProgress {
                    phase: SynthPhase::Students,
                    done,
                    total,
                });
            }
        }
        students.drain(&mut buf)?;
        locks.drain(&mut lock_buf)?;
        next_student = cohort.next_student;
        summary.applicants.merge(&cohort.tally.applicants);
        summary.migrants += cohort.tally.migrants;
        summary.seat_locks += cohort.tally.seat_locks;
    }
    progress(SynthProgress {
        phase: SynthPhase::Students,
        done: next_student,
        total,
    });

    // The walking network: a street grid over the city's extent with about 50 nodes per
    // block, from 20,000 nodes (the demo) to 300,000 (a Wuxi-size walking network), never
    // denser than 150 m between streets.
    if let Some((lo, hi)) = extent {
        let area = f64::from(hi.lon - lo.lon)
            * geography::M_PER_UDEG_LON
            * f64::from(hi.lat - lo.lat)
            * geography::M_PER_UDEG_LAT;
        let target = (summary.blocks as f64 * 50.0).clamp(20_000.0, 300_000.0);
        let spacing = (area / target).sqrt().max(150.0);
        let tmp = out_dir.join(".roads.osm.pbf");
        summary.roads = Some(roads::write_grid(&tmp, lo, hi, spacing, config.seed)?);
        road_file = Some(tmp);
    }
    let mut texts = Vec::new();
    for (name, text) in [
        ("scenario.toml", texts::scenario(config, &stages)),
        ("scenario_roads.toml", texts::scenario_roads(config)),
        ("policy.toml", texts::policy(config)),
        ("README.md", texts::readme(config, out_dir, &summary)),
    ] {
        let mut f = TempFile::create(out_dir, name)?;
        f.write(text.as_bytes())?;
        texts.push(f);
    }
    if let Some(tmp) = road_file {
        let path = out_dir.join("roads.osm.pbf");
        fs::rename(&tmp, &path).map_err(|e| SynthError::io(&path, e))?;
        summary.files.push(path);
    }
    let mut all = vec![schools, blocks, zones, students, locks];
    all.extend(texts);
    let n = all.len() as u64;
    for f in &mut all {
        f.close()?;
    }
    for (i, f) in all.iter_mut().enumerate() {
        summary.files.push(f.commit()?);
        progress(SynthProgress {
            phase: SynthPhase::Finishing,
            done: i as u64 + 1,
            total: n,
        });
    }
    Ok(summary)
}

/// Writes one copy's schools, blocks and zones, and counts them.
fn write_layout(
    city: &City,
    buf: &mut Vec<u8>,
    summary: &mut SynthSummary,
    schools: &mut TempFile,
    blocks: &mut TempFile,
    zones: &mut TempFile,
) -> Result<(), SynthError> {
    let off = city.offset;
    summary.districts += city.districts.len() as u64;
    for s in &city.schools {
        let pt = s.pt.shifted(off);
        push_id(buf, s.stage.prefix(), s.id, SCHOOL_WIDTH);
        buf.push(b',');
        push_text(buf, &s.name);
        buf.push(b',');
        push_text(buf, &city.districts[s.district].name);
        buf.push(b',');
        buf.extend_from_slice(s.stage.as_str().as_bytes());
        buf.push(b',');
        buf.extend_from_slice(s.sector.as_str().as_bytes());
        buf.push(b',');
        push_micro(buf, pt.lon);
        buf.push(b',');
        push_micro(buf, pt.lat);
        buf.push(b',');
        push_u64(buf, u64::from(s.capacity()));
        buf.push(b',');
        push_u64(buf, u64::from(s.classes));
        buf.push(b',');
        push_u64(buf, u64::from(s.stage.class_size()));
        buf.push(b',');
        if let Some(y) = s.opens_year {
            writer::push_i64(buf, i64::from(y));
        }
        buf.push(b',');
        if let Some(f) = s.feeder {
            let j = &city.schools[f as usize];
            push_id(buf, j.stage.prefix(), j.id, SCHOOL_WIDTH);
        }
        buf.push(b',');
        if let Some(p) = s.purchased {
            push_u64(buf, u64::from(p));
        }
        buf.push(b'\n');

        let cap = u64::from(s.capacity());
        match s.sector {
            Sector::Public => {
                summary.public_schools.add(s.stage, 1);
                if s.is_open() {
                    summary.public_seats.add(s.stage, cap);
                } else {
                    summary.planned_schools.add(s.stage, 1);
                }
            }
            Sector::Private => {
                let bought = u64::from(s.purchased.unwrap_or(0));
                summary.private_schools.add(s.stage, 1);
                summary.public_seats.add(s.stage, bought);
                summary.private_seats.add(s.stage, cap - bought);
            }
        }
    }
    schools.drain(buf)?;

    for b in &city.blocks {
        let pt = b.pt.shifted(off);
        push_id(buf, b'B', b.id, BLOCK_WIDTH);
        buf.push(b',');
        push_text(buf, &b.name);
        buf.push(b',');
        push_text(buf, &city.districts[b.district].name);
        buf.push(b',');
        push_micro(buf, pt.lon);
        buf.push(b',');
        push_micro(buf, pt.lat);
        buf.push(b',');
        push_u64(buf, u64::from(b.households));
        buf.push(b',');
        buf.extend_from_slice(if b.new_block { b"new" } else { b"existing" });
        buf.push(b',');
        if let Some(y) = b.move_in_year {
            writer::push_i64(buf, i64::from(y));
        }
        buf.push(b',');
        if let Some(p) = b.planned_households {
            push_u64(buf, u64::from(p));
        }
        buf.push(b'\n');
        summary.blocks += 1;
        summary.new_blocks += u64::from(b.new_block);
        summary.households += u64::from(b.households);
        summary.multi_zone_blocks += u64::from(b.zones.iter().any(|z| z.len() > 1));
        if buf.len() >= FLUSH_AT {
            blocks.drain(buf)?;
        }
    }
    blocks.drain(buf)?;

    for b in &city.blocks {
        for stage in Stage::ALL {
            for &k in &b.zones[stage.index()] {
                let s = &city.schools[k as usize];
                push_id(buf, b'B', b.id, BLOCK_WIDTH);
                buf.push(b',');
                buf.extend_from_slice(stage.as_str().as_bytes());
                buf.push(b',');
                push_id(buf, s.stage.prefix(), s.id, SCHOOL_WIDTH);
                buf.push(b'\n');
                summary.zone_rows += 1;
            }
        }
        if buf.len() >= FLUSH_AT {
            zones.drain(buf)?;
        }
    }
    zones.drain(buf)
}
