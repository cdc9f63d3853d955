//! Result tables and their atomic writing.
//!
//! - `assignments.csv`: one row per applicant, in `students.csv` order.
//! - `schools_summary.csv`: one row per school of an allocated stage, in `schools.csv` order.
//! - `summary.json`: counts, distance percentiles, migrant figures and the audit.
//!
//! Every command writes its files as one output set ([`crate::io::OutputSet`]): staged beside
//! the target folder and moved into place whole, with a `manifest.json`, so a folder always
//! holds one complete run. CSV goes through the one writer ([`crate::io::CsvWriter`]).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::allocate::{Allocation, GUARANTEE_POSITION, ProgramKind, StageAllocation};
use crate::audit::AuditReport;
use crate::error::OutputError;
use crate::io::writer::RenderedCells;
use crate::io::{CsvWriter, OutputSet};
use crate::load::Dataset;
use crate::mechanism::UNPLACED;
use crate::policy::Guarantee;
use crate::priority;

/// Output switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Start CSV files with a UTF-8 byte-order mark (for Excel and WPS).
    pub bom: bool,
}

/// Why an applicant has no seat.
pub fn unplaced_reason(data: &Dataset, st: &StageAllocation, m: usize) -> &'static str {
    let s = &data.cohort.students[st.members[m] as usize];
    if st.list(m).is_empty() {
        if data.policy.guarantee == Guarantee::None {
            return "no_candidate_school";
        }
        if data.policy.guarantee == Guarantee::Eligible && s.migrant && !st.facts[m].migrant_eligible {
            return "not_eligible_migrant";
        }
        return "no_seat_in_district";
    }
    if data.policy.guarantee == Guarantee::Eligible && s.migrant && !st.facts[m].migrant_eligible {
        return "listed_schools_full_not_eligible_migrant";
    }
    if data.policy.guarantee == Guarantee::None {
        return "listed_schools_full";
    }
    "no_seat_in_district"
}

/// One applicant's row of `assignments.csv`, as values: see
/// [`Allocation::assignment`](crate::Allocation::assignment).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Assignment<'a> {
    /// The applicant's id.
    pub student_id: &'a str,
    /// The stage applied for.
    pub stage: crate::model::Stage,
    /// The school where the applicant has a seat (`None`: unplaced).
    pub school: Option<&'a crate::model::School>,
    /// The tier (顺位) the seat was won in; empty when unplaced.
    pub tier: &'a str,
    /// The applicant's lottery number in the stage.
    pub lottery: u32,
    /// Distance home to school in metres (`None`: unplaced, or the distance source cannot
    /// measure the pair).
    pub distance_m: Option<u32>,
    /// How the seat was won (`zone`, `choice`, `overflow`, …), `unplaced` when unplaced.
    pub via: &'static str,
    /// The school's district (empty when unplaced).
    pub district: &'a str,
    /// Why the applicant is unplaced (empty when placed).
    pub reason: &'static str,
    /// The applicant's home block id (empty when the block is unknown).
    pub block_id: &'a str,
    /// The home block's district (empty when unknown).
    pub home_district: &'a str,
}

impl Assignment<'_> {
    /// The school's id, empty when unplaced (the `school_id` column).
    pub fn school_id(&self) -> &str {
        self.school.map_or("", |s| s.id.as_str())
    }
}

/// The row of cohort student `i`, member `m` of stage allocation `st`.
pub(crate) fn assignment_row<'a>(data: &'a Dataset, st: &'a StageAllocation, m: usize, i: usize) -> Assignment<'a> {
    let city = &data.city;
    let s = &data.cohort.students[i];
    let p = st.placements[m];
    let (block_id, home_district) = match city.blocks.get(s.block as usize) {
        Some(block) => (
            block.id.as_str(),
            city.districts.get(block.district as usize).map_or("", String::as_str),
        ),
        None => ("", ""),
    };
    let mut row = Assignment {
        student_id: data.cohort.id(i),
        stage: s.stage,
        school: None,
        tier: "",
        lottery: st.lottery[m],
        distance_m: None,
        via: "unplaced",
        district: "",
        reason: "",
        block_id,
        home_district,
    };
    if p.program == UNPLACED {
        row.reason = unplaced_reason(data, st, m);
    } else {
        let prog = st.programs[p.program as usize];
        let school = &city.schools[prog.school as usize];
        row.school = Some(school);
        row.tier = st.tier_name(prog.kind, p.tier);
        // A pair the distance source cannot measure has no distance.
        row.distance_m = (p.distance_m != crate::allocate::UNKNOWN_DISTANCE).then_some(p.distance_m);
        row.via = st.via(m);
        row.district = &city.districts[school.district as usize];
    }
    row
}

/// Renders `assignments.csv` into memory.
pub fn assignments_csv(data: &Dataset, allocation: &Allocation, options: WriteOptions) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.cohort.students.len() * 64);
    write_assignments(&mut out, data, allocation, options).expect("writing to memory cannot fail");
    out
}

/// Streams `assignments.csv`: rows are formatted in parallel in blocks and written in
/// students.csv order, so memory stays bounded however many applicants there are.
pub fn write_assignments(
    w: &mut dyn Write,
    data: &Dataset,
    allocation: &Allocation,
    options: WriteOptions,
) -> std::io::Result<()> {
    use rayon::prelude::*;
    let header = CsvWriter::with_header(
        &[
            "student_id",
            "stage",
            "school_id",
            "tier",
            "lottery",
            "distance_m",
            "via",
            "school_name",
            "district",
            "reason",
            "block_id",
            "home_district",
        ],
        options.bom,
    );
    w.write_all(&header.into_bytes())?;
    // Map cohort index -> (stage allocation, member).
    let mut slot: Vec<(u16, u32)> = vec![(u16::MAX, 0); data.cohort.students.len()];
    for (si, st) in allocation.stages.iter().enumerate() {
        for (m, &i) in st.members.iter().enumerate() {
            slot[i as usize] = (si as u16, m as u32);
        }
    }
    // Cells that repeat on many rows are rendered once: a school's id, its name and
    // district, and a home block's id and district.
    let city = &data.city;
    let (school_ids, (school_names, block_cells)) = rayon::join(
        || RenderedCells::new(city.schools.iter().map(|s| [s.id.as_str()])),
        || {
            rayon::join(
                || {
                    RenderedCells::new(city.schools.iter().map(|s| {
                        [
                            s.name.as_str(),
                            city.districts.get(s.district as usize).map_or("", String::as_str),
                        ]
                    }))
                },
                || {
                    RenderedCells::new(city.blocks.iter().map(|b| {
                        [
                            b.id.as_str(),
                            city.districts.get(b.district as usize).map_or("", String::as_str),
                        ]
                    }))
                },
            )
        },
    );
    let format_rows = |range: std::ops::Range<usize>| -> Vec<u8> {
        // Room for rows of 128 bytes (most take about 110), so a piece is not copied as it
        // grows.
        let mut out = CsvWriter::piece(range.len() * 128);
        for i in range {
            let (si, m) = slot[i];
            if si == u16::MAX {
                continue;
            }
            let st = &allocation.stages[si as usize];
            let row = assignment_row(data, st, m as usize, i);
            let school = st
                .placements
                .get(m as usize)
                .filter(|p| p.program != UNPLACED)
                .map(|p| st.programs[p.program as usize].school as usize);
            out.text(row.student_id).text(row.stage.as_str());
            match school {
                Some(s) => out.rendered(school_ids.get(s)),
                None => out.text(""),
            };
            out.text(row.tier).unsigned(u64::from(row.lottery));
            match row.distance_m {
                Some(d) => out.unsigned(u64::from(d)),
                None => out.text(""),
            };
            out.text(row.via);
            match school {
                Some(s) => out.rendered(school_names.get(s)),
                None => out.text("").text(""),
            };
            out.text(row.reason);
            match data.cohort.students[i].block as usize {
                b if b < city.blocks.len() => out.rendered(block_cells.get(b)),
                _ => out.text("").text(""),
            };
            out.end();
        }
        out.into_bytes()
    };
    const ROWS: usize = 1 << 15;
    const BATCH: usize = 8;
    let n = data.cohort.students.len();
    let format_batch = |start: usize| -> Vec<Vec<u8>> {
        let end = (start + ROWS * BATCH).min(n);
        (start..end)
            .step_by(ROWS)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|b| format_rows(b..(b + ROWS).min(end)))
            .collect()
    };
    // The next batch is formatted while this thread writes (and hashes) the current one.
    std::thread::scope(|scope| {
        let mut current = format_batch(0);
        let mut start = 0;
        loop {
            start += ROWS * BATCH;
            let next = (start < n).then(|| scope.spawn(move || format_batch(start)));
            for b in &current {
                w.write_all(b)?;
            }
            match next {
                Some(next) => {
                    current = next
                        .join()
                        .map_err(|_| std::io::Error::other("formatting rows failed"))?
                }
                None => return Ok(()),
            }
        }
    })
}

/// Per-program figures recomputed from placements.
pub(crate) struct ProgramStats {
    assigned: u32,
    applicants: u32,
    first_choice: u32,
    /// Worst admitted list key and the member holding it.
    cutoff: Option<(u128, usize)>,
}

fn program_stats(st: &StageAllocation) -> Vec<ProgramStats> {
    program_stats_in_runs(st, count_run(st.members.len()))
}

/// Members per run when a stage's members are counted in parallel runs: a few runs per
/// thread (each run holds a count per program, and a city has tens of thousands of them).
fn count_run(members: usize) -> usize {
    members.div_ceil(4 * rayon::current_num_threads().max(1)).max(1 << 14)
}

/// [`program_stats`] counted in parallel runs of `run` members, merged in member order: the
/// cutoff is the first member holding the worst admitted key, as one pass finds it.
fn program_stats_in_runs(st: &StageAllocation, run: usize) -> Vec<ProgramStats> {
    use rayon::prelude::*;
    let empty = || -> Vec<ProgramStats> {
        st.programs
            .iter()
            .map(|_| ProgramStats {
                assigned: 0,
                applicants: 0,
                first_choice: 0,
                cutoff: None,
            })
            .collect()
    };
    let count = |members: std::ops::Range<usize>| {
        let mut stats = empty();
        for m in members {
            for (pos, e) in st.list(m).iter().enumerate() {
                stats[e.program as usize].applicants += 1;
                if pos == 0 {
                    stats[e.program as usize].first_choice += 1;
                }
            }
            let p = st.placements[m];
            if p.program != UNPLACED {
                let s = &mut stats[p.program as usize];
                s.assigned += 1;
                if p.position != GUARANTEE_POSITION {
                    let k = st.key(m, p.position as usize).0;
                    if s.cutoff.is_none_or(|(c, _)| k > c) {
                        s.cutoff = Some((k, m));
                    }
                }
            }
        }
        stats
    };
    let n = st.members.len();
    let run = run.max(1);
    let runs: Vec<Vec<ProgramStats>> = (0..n.div_ceil(run))
        .into_par_iter()
        .map(|r| count(r * run..((r + 1) * run).min(n)))
        .collect();
    let mut runs = runs.into_iter();
    let mut total = runs.next().unwrap_or_else(empty);
    for later in runs {
        for (t, x) in total.iter_mut().zip(later) {
            t.assigned += x.assigned;
            t.applicants += x.applicants;
            t.first_choice += x.first_choice;
            // A later run's worst key replaces only a strictly better one, as in one pass.
            if let Some((k, m)) = x.cutoff
                && t.cutoff.is_none_or(|(c, _)| k > c)
            {
                t.cutoff = Some((k, m));
            }
        }
    }
    total
}

/// One school's result (a row of `schools_summary.csv`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchoolRow {
    /// School index in the city.
    pub school: u32,
    /// Entry-grade seats.
    pub capacity: u32,
    /// Pupils placed there (every seat pool).
    pub assigned: u32,
    /// Seats left.
    pub vacancies: u32,
    /// The last admitted applicant's tier (from their lists), if anyone was admitted.
    pub cutoff_tier: Option<String>,
    /// The last admitted applicant's lottery number.
    pub cutoff_lottery: Option<u32>,
    /// The last admitted applicant's points, where the tier orders by points.
    pub cutoff_points: Option<f64>,
    /// Pupils on purchased seats.
    pub purchased_assigned: u32,
    /// Applicants whose list names the school.
    pub applicants: u32,
    /// Applicants who list it first.
    pub first_choice_applicants: u32,
}

/// Per stage, per program: the figures both the school rows and the stage summaries read,
/// counted once (stages side by side).
pub(crate) fn all_program_stats(allocation: &Allocation) -> Vec<Vec<ProgramStats>> {
    use rayon::prelude::*;
    allocation.stages.par_iter().map(program_stats).collect()
}

/// The school rows, the summary and the per-program figures behind both, computed once for
/// a run's tables.
pub(crate) struct RunTables {
    pub(crate) schools: Vec<SchoolRow>,
    pub(crate) summary: Summary,
}

impl RunTables {
    pub(crate) fn new(data: &Dataset, allocation: &Allocation, audit: &AuditReport) -> RunTables {
        let stats = all_program_stats(allocation);
        let (schools, summary) = rayon::join(
            || school_rows_with(data, allocation, &stats),
            || summary_with(data, allocation, audit, &stats),
        );
        RunTables { schools, summary }
    }
}

/// Every open school of an allocated stage, in `schools.csv` order.
pub fn school_rows(data: &Dataset, allocation: &Allocation) -> Vec<SchoolRow> {
    school_rows_with(data, allocation, &all_program_stats(allocation))
}

fn school_rows_with(data: &Dataset, allocation: &Allocation, stats: &[Vec<ProgramStats>]) -> Vec<SchoolRow> {
    let city = &data.city;
    // school -> (stage index, main program, purchased program)
    let mut rows: BTreeMap<u32, (usize, Option<u32>, Option<u32>)> = BTreeMap::new();
    for (si, st) in allocation.stages.iter().enumerate() {
        for (p, prog) in st.programs.iter().enumerate() {
            let e = rows.entry(prog.school).or_insert((si, None, None));
            if prog.kind == ProgramKind::Purchased {
                e.2 = Some(p as u32);
            } else {
                e.1 = Some(p as u32);
            }
        }
    }
    rows.into_iter()
        .map(|(school, (si, main, purchased))| {
            let st = &allocation.stages[si];
            let s = &city.schools[school as usize];
            let get = |p: Option<u32>| p.map(|p| &stats[si][p as usize]);
            let (m, pu) = (get(main), get(purchased));
            let assigned = m.map_or(0, |x| x.assigned) + pu.map_or(0, |x| x.assigned);
            let mut row = SchoolRow {
                school,
                capacity: s.capacity,
                assigned,
                vacancies: s.capacity.saturating_sub(assigned),
                cutoff_tier: None,
                cutoff_lottery: None,
                cutoff_points: None,
                purchased_assigned: pu.map_or(0, |x| x.assigned),
                applicants: m.map_or(0, |x| x.applicants) + pu.map_or(0, |x| x.applicants),
                first_choice_applicants: m.map_or(0, |x| x.first_choice) + pu.map_or(0, |x| x.first_choice),
            };
            // A cutoff only means something where seats ran out: a school with seats left
            // admitted everyone who asked, and gets the marker instead.
            if row.vacancies > 0 {
                row.cutoff_tier = Some(NOT_FULL.to_string());
            } else if let Some((k, member)) = m.and_then(|x| x.cutoff) {
                let (t, _, _, lot) = priority::unpack(crate::mechanism::PriorityKey(k));
                let kind = st.programs[main.unwrap_or(0) as usize].kind;
                let by_points =
                    kind != ProgramKind::PrivateChoice && st.tier_by_points.get(t).copied().unwrap_or(false);
                row.cutoff_tier = Some(st.tier_name(kind, t as u32).to_string());
                row.cutoff_lottery = Some(lot);
                row.cutoff_points = by_points.then_some(st.facts[member].points);
            }
            row
        })
        .collect()
}

/// The `cutoff_tier` of a school with seats left (`schools_summary.csv`, the report and the
/// workbook): it admitted every applicant who reached it, so it has no cutoff.
pub const NOT_FULL: &str = "not_full";

/// Demand / seats rounded to 4 decimals, empty without seats.
pub(crate) fn demand_ratio(demand: u64, seats: u64) -> String {
    if seats == 0 {
        String::new()
    } else {
        format!("{}", (demand as f64 / seats as f64 * 1e4).round() / 1e4)
    }
}

/// Renders `schools_summary.csv`.
pub fn schools_summary_csv(data: &Dataset, allocation: &Allocation, options: WriteOptions) -> Vec<u8> {
    schools_summary_csv_of(data, &school_rows(data, allocation), options)
}

/// `schools_summary.csv` from rows already computed.
fn schools_summary_csv_of(data: &Dataset, rows: &[SchoolRow], options: WriteOptions) -> Vec<u8> {
    let mut w = CsvWriter::with_header(
        &[
            "school_id",
            "capacity",
            "assigned",
            "vacancies",
            "cutoff_tier",
            "cutoff_lottery",
            "cutoff_points",
            "name",
            "district",
            "stage",
            "sector",
            "purchased_seats",
            "purchased_assigned",
            "applicants",
            "first_choice_applicants",
            "demand_ratio",
            "warning",
        ],
        options.bom,
    );
    let city = &data.city;
    let thresholds = data.policy.seat_warning;
    for r in rows {
        let s = &city.schools[r.school as usize];
        w.text(&s.id)
            .value(r.capacity)
            .value(r.assigned)
            .value(r.vacancies)
            .text(r.cutoff_tier.as_deref().unwrap_or(""))
            .opt(r.cutoff_lottery)
            .opt(r.cutoff_points.filter(|p| p.is_finite()))
            .text(&s.name)
            .text(&city.districts[s.district as usize])
            .text(s.stage.as_str())
            .text(s.sector.as_str())
            .value(s.purchased_seats)
            .value(r.purchased_assigned)
            .value(r.applicants)
            .value(r.first_choice_applicants)
            .text(&demand_ratio(
                u64::from(r.first_choice_applicants),
                u64::from(r.capacity),
            ))
            .text(
                thresholds
                    .level(u64::from(r.first_choice_applicants), u64::from(r.capacity))
                    .as_str(),
            );
        w.end();
    }
    w.into_bytes()
}

/// Distance percentiles of placed applicants, in metres (nearest rank).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DistanceStats {
    /// Median.
    pub p50: u32,
    /// 90th percentile.
    pub p90: u32,
    /// 99th percentile.
    pub p99: u32,
    /// Largest.
    pub max: u32,
    /// Mean, rounded to whole metres.
    pub mean: u32,
}

/// Migrant figures (随迁子女, 应收尽收).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MigrantStats {
    /// Migrant applicants.
    pub applicants: usize,
    /// Of whom eligible.
    pub eligible: usize,
    /// Eligible applicants with a public-track seat (public school or purchased seat).
    pub eligible_public_track: usize,
    /// Eligible applicants left unplaced.
    pub eligible_unplaced: usize,
    /// Share of eligible migrant applicants in public-track seats (national target ≥ 0.85).
    pub eligible_public_track_share: f64,
}

/// Figures of one stage.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StageSummary {
    /// Stage name.
    pub stage: String,
    /// Applicants.
    pub applicants: usize,
    /// Placed applicants.
    pub placed: usize,
    /// Unplaced applicants.
    pub unplaced: usize,
    /// Placed at a zone school (or the feeder school).
    pub via_zone: usize,
    /// Placed at a chosen school outside the zone (private, or in a choice market).
    pub via_choice: usize,
    /// Placed by overflow (统筹), within the radius or by the final pass.
    pub via_overflow: usize,
    /// Placed by the final pass beyond the candidate list.
    pub via_final_pass: usize,
    /// Share of applicants placed at a zone school (national target: primary 1.00, junior 0.95).
    pub zone_share: f64,
    /// Placed applicants per tier name.
    pub tiers: BTreeMap<String, usize>,
    /// Unplaced applicants per reason.
    pub unplaced_reasons: BTreeMap<String, usize>,
    /// Schools (seat pools) open this year.
    pub schools: usize,
    /// Entry-grade seats.
    pub seats: u64,
    /// Seats left.
    pub vacancies: u64,
    /// Schools that had more applicants ranking them first than seats.
    pub oversubscribed_schools: usize,
    /// Independent markets matched in parallel.
    pub markets: usize,
    /// Distances of placed applicants.
    pub distance_m: Option<DistanceStats>,
    /// Migrant figures.
    pub migrant: MigrantStats,
}

/// `summary.json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Admission year.
    pub year: i32,
    /// Mechanism.
    pub mechanism: String,
    /// Tie-break.
    pub tie_break: String,
    /// Lottery seed.
    pub seed: u64,
    /// Candidate-list mode.
    pub candidates: String,
    /// Overflow radius.
    pub overflow_radius_m: u32,
    /// What `distance_m` measures: `straight`, `matrix` or `roads` (see [`crate::spatial`]).
    pub distance: String,
    /// Final placement pass.
    pub guarantee: String,
    /// Per stage.
    pub stages: Vec<StageSummary>,
    /// The audit.
    pub audit: AuditSummary,
    /// Plausibility warnings: the inputs' and the placements'
    /// ([`crate::plausibility::all_warnings`]).
    pub warnings: Vec<crate::plausibility::Warning>,
}

/// The audit as written in `summary.json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AuditSummary {
    /// True when every enforced check passed.
    pub passed: bool,
    /// The checks.
    pub checks: Vec<crate::audit::Check>,
}

/// Computes the summary.
pub fn summary(data: &Dataset, allocation: &Allocation, audit: &AuditReport) -> Summary {
    summary_with(data, allocation, audit, &all_program_stats(allocation))
}

fn summary_with(data: &Dataset, allocation: &Allocation, audit: &AuditReport, stats: &[Vec<ProgramStats>]) -> Summary {
    use rayon::prelude::*;
    let policy = &data.policy;
    let stages = allocation
        .stages
        .par_iter()
        .zip(stats)
        .map(|(st, stats)| stage_summary(data, st, stats))
        .collect();
    Summary {
        scenario: data.scenario.name.clone(),
        year: data.scenario.year,
        mechanism: policy.mechanism.as_str().to_string(),
        tie_break: format!("{:?}", policy.tie_break).to_lowercase(),
        seed: policy.seed,
        candidates: match policy.candidates {
            crate::policy::CandidateMode::ZoneThenOverflow => "zone_then_overflow",
            crate::policy::CandidateMode::Choices => "choices",
        }
        .to_string(),
        overflow_radius_m: policy.overflow_radius_m,
        distance: data.spatial.kind().as_str().to_string(),
        guarantee: format!("{:?}", policy.guarantee).to_lowercase(),
        stages,
        audit: AuditSummary {
            passed: audit.passed(),
            checks: audit.checks.clone(),
        },
        warnings: crate::plausibility::all_warnings(data, allocation),
    }
}

fn stage_summary(data: &Dataset, st: &StageAllocation, stats: &[ProgramStats]) -> StageSummary {
    let mut s = StageSummary {
        stage: st.stage.as_str().to_string(),
        applicants: st.members.len(),
        placed: 0,
        unplaced: 0,
        via_zone: 0,
        via_choice: 0,
        via_overflow: 0,
        via_final_pass: 0,
        zone_share: 0.0,
        tiers: BTreeMap::new(),
        unplaced_reasons: BTreeMap::new(),
        schools: st.programs.iter().filter(|p| p.kind != ProgramKind::Purchased).count(),
        seats: st.programs.iter().map(|p| u64::from(p.capacity)).sum(),
        vacancies: 0,
        oversubscribed_schools: 0,
        markets: st.markets,
        distance_m: None,
        migrant: MigrantStats {
            applicants: 0,
            eligible: 0,
            eligible_public_track: 0,
            eligible_unplaced: 0,
            eligible_public_track_share: 0.0,
        },
    };
    let counts = member_counts_in_runs(data, st, count_run(st.members.len()));
    s.migrant.applicants = counts.migrant_applicants;
    s.migrant.eligible = counts.migrant_eligible;
    s.migrant.eligible_unplaced = counts.migrant_eligible_unplaced;
    s.migrant.eligible_public_track = counts.migrant_eligible_public_track;
    s.unplaced = counts.unplaced;
    s.placed = counts.placed;
    s.via_zone = counts.via_zone;
    s.via_choice = counts.via_choice;
    s.via_overflow = counts.via_overflow;
    s.via_final_pass = counts.via_final_pass;
    for (reason, count) in counts.unplaced_reasons {
        *s.unplaced_reasons.entry(reason.to_string()).or_default() += count;
    }
    for (name, count) in counts.tiers {
        *s.tiers.entry(name.to_string()).or_default() += count;
    }
    let mut distances = counts.distances;
    s.vacancies = st
        .programs
        .iter()
        .zip(stats)
        .map(|(p, x)| u64::from(p.capacity.saturating_sub(x.assigned)))
        .sum();
    s.oversubscribed_schools = st
        .programs
        .iter()
        .zip(stats)
        .filter(|(p, x)| x.first_choice > p.capacity)
        .count();
    s.zone_share = ratio(s.via_zone, s.applicants);
    s.migrant.eligible_public_track_share = ratio(s.migrant.eligible_public_track, s.migrant.eligible);
    s.distance_m = distance_stats(&mut distances);
    s
}

/// What a stage summary counts over the members; every figure is a sum (or a multiset, for
/// the distances), so runs of members counted apart add up to one pass.
#[derive(Default)]
struct MemberCounts<'a> {
    migrant_applicants: usize,
    migrant_eligible: usize,
    migrant_eligible_unplaced: usize,
    migrant_eligible_public_track: usize,
    unplaced: usize,
    placed: usize,
    via_zone: usize,
    via_choice: usize,
    via_overflow: usize,
    via_final_pass: usize,
    /// Counts per reason and per tier name, under the borrowed names (a handful of each).
    unplaced_reasons: Vec<(&'static str, usize)>,
    tiers: Vec<(&'a str, usize)>,
    /// Placed members' distances, where known.
    distances: Vec<u32>,
}

/// Adds `count` under `name` in a short list of named counts.
fn add_named<'a>(counts: &mut Vec<(&'a str, usize)>, name: &'a str, count: usize) {
    match counts.iter_mut().find(|(n, _)| *n == name) {
        Some((_, c)) => *c += count,
        None => counts.push((name, count)),
    }
}

impl<'a> MemberCounts<'a> {
    fn merge(mut self, other: MemberCounts<'a>) -> Self {
        self.migrant_applicants += other.migrant_applicants;
        self.migrant_eligible += other.migrant_eligible;
        self.migrant_eligible_unplaced += other.migrant_eligible_unplaced;
        self.migrant_eligible_public_track += other.migrant_eligible_public_track;
        self.unplaced += other.unplaced;
        self.placed += other.placed;
        self.via_zone += other.via_zone;
        self.via_choice += other.via_choice;
        self.via_overflow += other.via_overflow;
        self.via_final_pass += other.via_final_pass;
        for (reason, count) in other.unplaced_reasons {
            add_named(&mut self.unplaced_reasons, reason, count);
        }
        for (name, count) in other.tiers {
            add_named(&mut self.tiers, name, count);
        }
        self.distances.extend_from_slice(&other.distances);
        self
    }
}

/// A stage summary's counts over its members, in parallel runs of `run` members.
fn member_counts_in_runs<'a>(data: &Dataset, st: &'a StageAllocation, run: usize) -> MemberCounts<'a> {
    use rayon::prelude::*;
    let count = |members: std::ops::Range<usize>| {
        let mut c = MemberCounts::default();
        for m in members {
            let p = st.placements[m];
            let student = &data.cohort.students[st.members[m] as usize];
            if student.migrant {
                c.migrant_applicants += 1;
                if st.facts[m].migrant_eligible {
                    c.migrant_eligible += 1;
                    if p.program == UNPLACED {
                        c.migrant_eligible_unplaced += 1;
                    } else if st.programs[p.program as usize].kind.is_public_track() {
                        c.migrant_eligible_public_track += 1;
                    }
                }
            }
            if p.program == UNPLACED {
                c.unplaced += 1;
                add_named(&mut c.unplaced_reasons, unplaced_reason(data, st, m), 1);
                continue;
            }
            c.placed += 1;
            if p.distance_m != crate::allocate::UNKNOWN_DISTANCE {
                c.distances.push(p.distance_m);
            }
            match st.via(m) {
                "zone" => c.via_zone += 1,
                "choice" => c.via_choice += 1,
                _ => c.via_overflow += 1,
            }
            if p.position == GUARANTEE_POSITION {
                c.via_final_pass += 1;
            }
            add_named(
                &mut c.tiers,
                st.tier_name(st.programs[p.program as usize].kind, p.tier),
                1,
            );
        }
        c
    };
    let n = st.members.len();
    let run = run.max(1);
    let runs: Vec<MemberCounts<'a>> = (0..n.div_ceil(run))
        .into_par_iter()
        .map(|r| count(r * run..((r + 1) * run).min(n)))
        .collect();
    runs.into_iter().fold(MemberCounts::default(), MemberCounts::merge)
}

/// Percentiles (nearest rank), maximum and mean of placed distances; `None` when empty.
/// The order of `distances` is changed.
fn distance_stats(distances: &mut [u32]) -> Option<DistanceStats> {
    let n = distances.len();
    if n == 0 {
        return None;
    }
    let rank = |q: f64| ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
    // The values a full sort would put at these ranks, found by selection (linear time):
    // each selection leaves the smaller values before it, where the next one looks.
    let (r99, r90, r50) = (rank(0.99), rank(0.9), rank(0.5));
    let max = distances.iter().copied().max().unwrap_or(0);
    let sum: u64 = distances.iter().map(|&d| u64::from(d)).sum();
    let p99 = *distances.select_nth_unstable(r99).1;
    let p90 = *distances[..=r99].select_nth_unstable(r90).1;
    let p50 = *distances[..=r90].select_nth_unstable(r50).1;
    Some(DistanceStats {
        p50,
        p90,
        p99,
        max,
        mean: (sum as f64 / n as f64).round() as u32,
    })
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        (a as f64 / b as f64 * 10_000.0).round() / 10_000.0
    }
}

/// Renders `summary.json`.
pub fn summary_json(summary: &Summary) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(summary).expect("the summary serialises");
    v.push(b'\n');
    v
}

/// Writes one output file's content.
pub type Render<'a> = &'a (dyn Fn(&mut dyn Write) -> std::io::Result<()> + Sync);

/// Adds files held in memory to an output set.
pub fn write_files(set: &mut OutputSet, files: &[(&str, &[u8])]) -> Result<(), OutputError> {
    for (name, bytes) in files {
        set.write_bytes(name, bytes)?;
    }
    Ok(())
}

/// Adds files produced by writer functions to an output set (streamed, never held whole in
/// memory).
pub fn write_rendered(set: &mut OutputSet, files: &[(&str, Render<'_>)]) -> Result<(), OutputError> {
    for (name, render) in files {
        set.write(name, render)?;
    }
    Ok(())
}

/// Adds `assignments.csv`, `schools_summary.csv`, `districts_summary.csv` and `summary.json`
/// to an output set (the page, workbook and GIS layers: [`crate::report::write_report_files`]),
/// and returns the run's summary it computed for them.
pub fn write_outputs_into(
    set: &mut OutputSet,
    data: &Dataset,
    allocation: &Allocation,
    audit: &AuditReport,
    options: WriteOptions,
) -> Result<Summary, OutputError> {
    write_tables_into(set, data, allocation, audit, options).map(|tables| tables.summary)
}

/// [`write_outputs_into`], handing back the school rows and summary it wrote (the report
/// files of the same run are made from them).
pub(crate) fn write_tables_into(
    set: &mut OutputSet,
    data: &Dataset,
    allocation: &Allocation,
    audit: &AuditReport,
    options: WriteOptions,
) -> Result<RunTables, OutputError> {
    let tables = RunTables::new(data, allocation, audit);
    let RunTables { schools, summary } = &tables;
    let districts = crate::report::districts_summary_csv_of(data, allocation, audit, schools, summary, options.bom);
    let schools = schools_summary_csv_of(data, schools, options);
    let summary_bytes = summary_json(summary);
    let assignments = |w: &mut dyn Write| write_assignments(w, data, allocation, options);
    let schools = |w: &mut dyn Write| w.write_all(&schools);
    let districts = |w: &mut dyn Write| w.write_all(&districts);
    let summary_file = |w: &mut dyn Write| w.write_all(&summary_bytes);
    write_rendered(
        set,
        &[
            ("assignments.csv", &assignments),
            ("schools_summary.csv", &schools),
            ("districts_summary.csv", &districts),
            ("summary.json", &summary_file),
        ],
    )?;
    Ok(tables)
}

/// Writes `assignments.csv`, `schools_summary.csv` and `summary.json` into `dir` as one
/// output set (with `manifest.json`; see [`OutputSet`]). Returns the paths written.
pub fn write_outputs(
    dir: &Path,
    data: &Dataset,
    allocation: &Allocation,
    audit: &AuditReport,
    options: WriteOptions,
) -> Result<Vec<PathBuf>, OutputError> {
    let mut set = OutputSet::begin(dir, "run")?;
    set.scenarios([data.scenario.path.display().to_string()]);
    set.seed(data.policy.seed);
    set.input_records(data.input_records());
    let _summary = write_outputs_into(&mut set, data, allocation, audit, options)?;
    set.commit()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::allocate::{GUARANTEE_POSITION, Placement};
    use crate::load::Dataset;
    use crate::mechanism::UNPLACED;
    use crate::test_support::demo;

    /// Every figure of a stage's program counts and member counts, names sorted.
    type Counted = (
        Vec<(u32, u32, u32, Option<(u128, usize)>)>,
        Vec<usize>,
        Vec<(String, usize)>,
        Vec<u32>,
    );

    fn counted(data: &Dataset, st: &crate::allocate::StageAllocation, run: usize) -> Counted {
        let programs = super::program_stats_in_runs(st, run)
            .iter()
            .map(|p| (p.assigned, p.applicants, p.first_choice, p.cutoff))
            .collect();
        let c = super::member_counts_in_runs(data, st, run);
        let figures = vec![
            c.migrant_applicants,
            c.migrant_eligible,
            c.migrant_eligible_unplaced,
            c.migrant_eligible_public_track,
            c.unplaced,
            c.placed,
            c.via_zone,
            c.via_choice,
            c.via_overflow,
            c.via_final_pass,
        ];
        let mut named: Vec<(String, usize)> = c
            .unplaced_reasons
            .iter()
            .map(|(n, k)| (format!("reason {n}"), *k))
            .chain(c.tiers.iter().map(|(n, k)| (format!("tier {n}"), *k)))
            .collect();
        named.sort();
        let mut distances = c.distances;
        distances.sort_unstable();
        (programs, figures, named, distances)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Counting a stage's members in parallel runs of any length gives what one pass
        /// gives, on the demo's allocation with some members unplaced or moved to the final
        /// pass.
        #[test]
        fn counts_in_runs_of_any_length_match_one_pass(
            run in 1usize..500,
            changes in proptest::collection::vec((0usize..100_000, proptest::bool::ANY), 0..40),
        ) {
            let (data, allocation) = demo();
            let mut allocation = allocation.clone();
            for st in &mut allocation.stages {
                for &(at, unplace) in &changes {
                    if st.placements.is_empty() {
                        continue;
                    }
                    let m = at % st.placements.len();
                    let p = st.placements[m];
                    st.placements[m] = match (unplace, p.program == UNPLACED) {
                        (true, _) => Placement { program: UNPLACED, position: UNPLACED, ..p },
                        (false, false) => Placement { position: GUARANTEE_POSITION, ..p },
                        (false, true) => p,
                    };
                }
            }
            for st in &allocation.stages {
                let one_pass = counted(data, st, usize::MAX);
                proptest::prop_assert!(one_pass.1[5] > 0, "nobody placed");
                proptest::prop_assert_eq!(counted(data, st, run), one_pass);
            }
        }
    }

    proptest::proptest! {
        /// Percentiles by selection equal the nearest-rank values of a full sort.
        #[test]
        fn distance_stats_match_a_sorted_reading(mut distances in proptest::collection::vec(0u32..5_000, 0..400)) {
            let mut sorted = distances.clone();
            sorted.sort_unstable();
            let got = super::distance_stats(&mut distances);
            match got {
                None => proptest::prop_assert!(sorted.is_empty()),
                Some(got) => {
                    let n = sorted.len();
                    let pct = |q: f64| sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
                    let mean = (sorted.iter().map(|&d| u64::from(d)).sum::<u64>() as f64 / n as f64).round() as u32;
                    proptest::prop_assert_eq!(
                        (got.p50, got.p90, got.p99, got.max, got.mean),
                        (pct(0.5), pct(0.9), pct(0.99), sorted[n - 1], mean)
                    );
                }
            }
        }
    }
}
