//! One year's allocation: candidate lists, priorities, independent markets, the mechanism,
//! and the final placement pass (统筹).
//!
//! Each stage is allocated separately. Schools become *programs* (seat pools): a public
//! school is one program; a private school is a lottery program for families who chose it
//! (公民同招) plus, when the government buys seats there (政府购买学位), a public-track
//! program that overflow lists treat like a public school. Students and programs that can
//! never meet form independent markets (districts, in practice), which run in parallel.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::load::Dataset;
use crate::mechanism::{self, KeyPacking, Market, MarketKey, Matching, PriorityKey, UNPLACED};
use crate::model::{Sector, Stage};
use crate::policy::{Attribute, CandidateMode, Guarantee, Mechanism, TieBreak};
use crate::priority::{self, ApplicantFacts, Context};
use crate::spatial::PointIndex;

/// What kind of seat pool a program is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgramKind {
    /// A public school's seats.
    Public,
    /// A private school's own seats, filled by lottery among families who chose it.
    PrivateChoice,
    /// Seats the government bought at a private school for public-track applicants.
    Purchased,
}

impl ProgramKind {
    /// True for seats of the public track (public schools and purchased seats).
    pub fn is_public_track(self) -> bool {
        matches!(self, ProgramKind::Public | ProgramKind::Purchased)
    }
}

/// A seat pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Program {
    /// School index.
    pub school: u32,
    /// Kind of seats.
    pub kind: ProgramKind,
    /// Seats.
    pub capacity: u32,
    /// District of the school.
    pub district: u32,
}

/// Why a program is on an applicant's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// A zone school of the home block (or the feeder junior school).
    Zone,
    /// Chosen by the family.
    Choice,
    /// A nearby public school (统筹安排).
    Overflow,
}

impl Via {
    /// The name used in `assignments.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Zone => "zone",
            Via::Choice => "choice",
            Via::Overflow => "overflow",
        }
    }
}

/// One entry of a candidate list (8 bytes: lists of millions of applicants stay small). The
/// home-to-school distance is not stored: [`StageAllocation::distance_m`] measures it, and
/// [`Priorities::entry_distance`] keeps it per entry only when a tier's key reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Program index within the stage.
    pub program: u32,
    /// The applicant's tier there (index into [`StageAllocation::tier_names`]; 0 at a
    /// private school's lottery seats).
    pub tier: u16,
    /// Why it is listed.
    pub via: Via,
}

/// What a priority key is made of, besides the entry itself: per-applicant ranks and
/// lottery numbers. Keys are computed on demand instead of being stored per entry.
#[derive(Debug, Clone, Default)]
pub struct Priorities {
    /// Single-lottery number per member (1 = best).
    pub lottery: Vec<u32>,
    /// Per tier: each member's rank by the tier's `order_by` keys (empty: no such keys);
    /// shared between lottery draws.
    pub tier_ranks: std::sync::Arc<Vec<Vec<u32>>>,
    /// Per tier: `Some(descending)` when the tier orders by distance first.
    pub tier_distance: Vec<Option<bool>>,
    /// Multiple lottery: each entry's draw at its school (empty under a single lottery).
    pub entry_lottery: Vec<u32>,
    /// Each entry's home-to-school distance in metres, kept only when some tier orders by
    /// distance (empty otherwise: no key reads it).
    pub entry_distance: std::sync::Arc<Vec<u32>>,
}

impl Priorities {
    /// The key of member `m` at entry `e` (a global index into the entries).
    pub fn key(&self, m: usize, e: usize, entry: &Entry, private_lottery: bool) -> PriorityKey {
        let lottery = if self.entry_lottery.is_empty() {
            self.lottery[m]
        } else {
            self.entry_lottery[e]
        };
        if private_lottery {
            return priority::pack(0, 0, 0, lottery);
        }
        let t = entry.tier as usize;
        let dist = match self.tier_distance.get(t).copied().flatten() {
            Some(true) => u32::MAX - self.entry_distance[e],
            Some(false) => self.entry_distance[e],
            None => 0,
        };
        let rank = self.tier_ranks.get(t).and_then(|r| r.get(m)).copied().unwrap_or(0);
        priority::pack(t, dist, rank, lottery)
    }
}

/// The `distance_m` of a pair the distance source cannot measure (unreachable, see
/// [`crate::spatial`]); written as an empty field.
pub const UNKNOWN_DISTANCE: u32 = u32::MAX;

/// Marks a placement made by the final pass, outside the applicant's list.
pub const GUARANTEE_POSITION: u32 = u32::MAX - 1;

/// Where one applicant ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Program index, or [`UNPLACED`].
    pub program: u32,
    /// Position in the applicant's list, [`GUARANTEE_POSITION`], or [`UNPLACED`].
    pub position: u32,
    /// Distance to the assigned school (0 when unplaced).
    pub distance_m: u32,
    /// Tier index at the assigned program (see [`StageAllocation::tier_name`]).
    pub tier: u32,
}

impl Placement {
    /// True when the applicant has a seat.
    pub fn is_placed(&self) -> bool {
        self.program != UNPLACED
    }
}

/// The allocation of one stage.
#[derive(Debug, Clone)]
pub struct StageAllocation {
    /// The stage.
    pub stage: Stage,
    /// Seat pools.
    pub programs: Vec<Program>,
    /// Tier names of this stage, best first (public track).
    pub tier_names: Vec<String>,
    /// Per tier: whether it orders applicants by migrant points.
    pub tier_by_points: Vec<bool>,
    /// Cohort indices of the stage's applicants, in file order.
    pub members: Vec<u32>,
    /// Single-lottery number of each member (1 = best).
    pub lottery: Vec<u32>,
    /// What keys are made of.
    pub priorities: Priorities,
    /// Facts per member.
    pub facts: Vec<ApplicantFacts>,
    /// Serial-dictatorship rank per member (0 = first), when that mechanism runs.
    pub serial_rank: Vec<u32>,
    /// Candidate lists in CSR form: member `m` owns `entries[list_start[m]..list_start[m+1]]`.
    pub list_start: Vec<u32>,
    /// Candidate entries.
    pub entries: Vec<Entry>,
    /// Result per member.
    pub placements: Vec<Placement>,
    /// Independent markets: number of them.
    pub markets: usize,
}

impl StageAllocation {
    /// The candidate list of member `m`.
    pub fn list(&self, m: usize) -> &[Entry] {
        &self.entries[self.list_start[m] as usize..self.list_start[m + 1] as usize]
    }

    /// The home-to-school distance in metres of member `m` at position `pos` of their list
    /// ([`UNKNOWN_DISTANCE`] when the distance source cannot measure it).
    pub fn distance_m(&self, data: &Dataset, m: usize, pos: usize) -> u32 {
        let e = self.list_start[m] as usize + pos;
        if let Some(&d) = self.priorities.entry_distance.get(e) {
            return d;
        }
        let school = self.programs[self.entries[e].program as usize].school;
        let block = data.cohort.students[self.members[m] as usize].block;
        shown(data.spatial.mm(school, block))
    }

    /// Member `m`'s priority key at position `pos` of their list.
    pub fn key(&self, m: usize, pos: usize) -> PriorityKey {
        let e = self.list_start[m] as usize + pos;
        let entry = &self.entries[e];
        let private = self.programs[entry.program as usize].kind == ProgramKind::PrivateChoice;
        self.priorities.key(m, e, entry, private)
    }

    /// The display name of tier `tier` at a program of kind `kind`.
    pub fn tier_name(&self, kind: ProgramKind, tier: u32) -> &str {
        if kind == ProgramKind::PrivateChoice {
            return PRIVATE_TIER;
        }
        self.tier_names.get(tier as usize).map_or(NO_TIER, String::as_str)
    }

    /// How the member got their seat.
    pub fn via(&self, m: usize) -> &'static str {
        let p = self.placements[m];
        match p.position {
            UNPLACED => "unplaced",
            GUARANTEE_POSITION => Via::Overflow.as_str(),
            pos => self.list(m)[pos as usize].via.as_str(),
        }
    }
}

/// The name of the single tier of a private school's lottery.
pub const PRIVATE_TIER: &str = "民办摇号";
/// The name shown when no tier's conditions hold.
pub const NO_TIER: &str = "无顺位";

/// The allocation of every stage of a scenario.
#[derive(Debug, Clone)]
pub struct Allocation {
    /// Per stage, in scenario order.
    pub stages: Vec<StageAllocation>,
}

impl Allocation {
    /// The stage allocation and member index of a cohort student, if allocated.
    pub fn find(&self, student: u32) -> Option<(&StageAllocation, usize)> {
        self.stages
            .iter()
            .find_map(|st| st.members.binary_search(&student).ok().map(|m| (st, m)))
    }

    /// The school where applicant `student_id` has a seat; `None` when the applicant is
    /// unplaced, unknown, or of a stage this allocation does not cover
    /// ([`explain::school_of`](crate::explain::school_of) tells these apart).
    pub fn school_of<'a>(&self, data: &'a Dataset, student_id: &str) -> Option<&'a crate::model::School> {
        let (st, m) = self.find(data.cohort.student(student_id)?)?;
        let p = st.placements.get(m)?;
        if !p.is_placed() {
            return None;
        }
        let program = st.programs.get(p.program as usize)?;
        data.city.schools.get(program.school as usize)
    }

    /// Applicant `student_id`'s row of `assignments.csv`, as values; `None` when the id is
    /// unknown or its stage is not allocated.
    pub fn assignment<'a>(&'a self, data: &'a Dataset, student_id: &str) -> Option<crate::output::Assignment<'a>> {
        let i = data.cohort.student(student_id)?;
        let (st, m) = self.find(i)?;
        Some(crate::output::assignment_row(data, st, m, i as usize))
    }

    /// Every allocated applicant's row of `assignments.csv`, as values, in `students.csv`
    /// order.
    pub fn assignments<'a>(&'a self, data: &'a Dataset) -> impl Iterator<Item = crate::output::Assignment<'a>> + 'a {
        (0..data.cohort.students.len()).filter_map(move |i| {
            let (st, m) = self.find(i as u32)?;
            Some(crate::output::assignment_row(data, st, m, i))
        })
    }
}

/// Progress of a run, reported through a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// A stage has started, with its number of applicants.
    StageStarted(Stage, usize),
    /// Candidate lists of a stage are built.
    ListsBuilt(Stage),
    /// `done` of `total` markets of a stage are matched.
    Markets {
        /// The stage.
        stage: Stage,
        /// Markets finished.
        done: usize,
        /// Markets in all.
        total: usize,
    },
}

/// Allocates every stage of the scenario.
pub fn allocate(data: &Dataset) -> Allocation {
    allocate_with_progress(data, &|_| {})
}

/// Allocates every stage, reporting progress.
pub fn allocate_with_progress(data: &Dataset, progress: &(dyn Fn(Progress) + Sync)) -> Allocation {
    let stages = data
        .scenario
        .stages
        .iter()
        .map(|&stage| allocate_stage(data, stage, progress))
        .collect();
    Allocation { stages }
}

/// Per school: its main program and, for a private school with purchased seats, that pool.
type ProgramsOfSchool = Vec<Option<(u32, Option<u32>)>>;

struct StageContext<'a> {
    data: &'a Dataset,
    stage: Stage,
    programs: Vec<Program>,
    program_of_school: ProgramsOfSchool,
    public_sites: PointIndex,
    tiers: Vec<&'a crate::policy::Tier>,
    /// Some tier reads the home-to-school distance (a condition or its order).
    tiers_use_distance: bool,
}

impl StageContext<'_> {
    /// Exact millimetres from the scenario's distance source; `None`: unreachable.
    fn distance_mm(&self, school: u32, block: u32) -> Option<u32> {
        self.data.spatial.mm(school, block)
    }

    /// Whole metres as shown, [`UNKNOWN_DISTANCE`] when unreachable.
    fn distance(&self, school: u32, block: u32) -> u32 {
        shown(self.distance_mm(school, block))
    }

    /// The "nearest first" order of a school from a block: exact millimetres (unreachable
    /// last), then the school id, never the row order of `schools.csv`.
    fn nearness(&self, school: u32, block: u32) -> (u32, &str) {
        (
            self.distance_mm(school, block).unwrap_or(u32::MAX),
            self.data.city.schools[school as usize].id.as_str(),
        )
    }

    fn main_program(&self, school: u32) -> Option<u32> {
        self.program_of_school
            .get(school as usize)
            .copied()
            .flatten()
            .map(|(m, _)| m)
    }

    /// The programs of a block's zone schools, nearest first, as its applicants' lists take
    /// them after their choices (the same for every applicant of the block).
    fn zone_candidates(&self, block: u32) -> Vec<ZoneCandidate<'_>> {
        let mut out: Vec<ZoneCandidate<'_>> = Vec::new();
        for &sc in self.data.city.zones(self.stage).schools_of(block) {
            if let Some(p) = self.main_program(sc)
                && !out.iter().any(|e| e.1 == p)
            {
                out.push((self.nearness(sc, block), p, self.distance(sc, block)));
            }
        }
        out.sort_unstable();
        out
    }

    /// Public-track programs of the block's district within the overflow radius (exact
    /// millimetres, inclusive), nearest first (ties by school id).
    fn overflow_candidates(&self, block: u32) -> Vec<(u32, u32)> {
        let city = &self.data.city;
        let b = &city.blocks[block as usize];
        let radius_mm = u64::from(self.data.policy.overflow_radius_m) * 1000;
        // Matrix and road distances are taken to be never shorter than the straight line, so
        // the chord query (with a metre to spare) is a superset; the exact distance filters it.
        let chord = crate::crs::chord_for_arc(f64::from(self.data.policy.overflow_radius_m) + 1.0);
        let mut out: Vec<((u32, &str), u32)> = self
            .public_sites
            .within_chord(b.location.ecef, chord)
            .filter(|&prog| self.programs[prog as usize].district == b.district)
            .filter_map(|prog| {
                let school = self.programs[prog as usize].school;
                let mm = self.distance_mm(school, block)?;
                (u64::from(mm) <= radius_mm).then(|| (self.nearness(school, block), prog))
            })
            .collect();
        out.sort_unstable();
        out.into_iter()
            .map(|((mm, _), p)| (p, crate::spatial::metres_of_mm(mm)))
            .collect()
    }
}

/// Whole metres as shown, [`UNKNOWN_DISTANCE`] for an unreachable pair.
fn shown(mm: Option<u32>) -> u32 {
    mm.map_or(UNKNOWN_DISTANCE, crate::spatial::metres_of_mm)
}

fn build_programs(data: &Dataset, stage: Stage) -> (Vec<Program>, ProgramsOfSchool) {
    let mut programs = Vec::new();
    let mut of_school = vec![None; data.city.schools.len()];
    for (i, s) in data.city.schools.iter().enumerate() {
        if s.stage != stage || !s.is_open(data.scenario.year) {
            continue;
        }
        let main = programs.len() as u32;
        let (kind, capacity) = match s.sector {
            Sector::Public => (ProgramKind::Public, s.capacity),
            Sector::Private => (ProgramKind::PrivateChoice, s.capacity - s.purchased_seats),
        };
        programs.push(Program {
            school: i as u32,
            kind,
            capacity,
            district: s.district,
        });
        let purchased = (s.sector == Sector::Private && s.purchased_seats > 0).then(|| {
            programs.push(Program {
                school: i as u32,
                kind: ProgramKind::Purchased,
                capacity: s.purchased_seats,
                district: s.district,
            });
            main + 1
        });
        of_school[i] = Some((main, purchased));
    }
    (programs, of_school)
}

/// Appends the candidate list of one applicant to `out` as (program, via, distance).
/// A zone school's program as a list takes it: "nearest first" key, program, metres.
type ZoneCandidate<'a> = ((u32, &'a str), u32, u32);

/// The candidates of one applicant. `zone` and `overflow` are the block's own
/// ([`StageContext::zone_candidates`], [`StageContext::overflow_candidates`]; empty when
/// lists come from choices).
fn candidate_list(
    ctx: &StageContext<'_>,
    student_index: usize,
    zone: &[ZoneCandidate<'_>],
    overflow: &[(u32, u32)],
    out: &mut Vec<(u32, Via, u32)>,
) {
    let data = ctx.data;
    let city = &data.city;
    let s = &data.cohort.students[student_index];
    let begin = out.len();
    // Distances are measured only when a tier reads them; a placement measures its own.
    let push = |out: &mut Vec<(u32, Via, u32)>, program: u32, via: Via, known: Option<u32>| {
        if !out[begin..].iter().any(|e| e.0 == program) {
            let d = match known {
                Some(d) => d,
                None if ctx.tiers_use_distance => ctx.distance(ctx.programs[program as usize].school, s.block),
                None => UNKNOWN_DISTANCE,
            };
            out.push((program, via, d));
        }
    };
    let max = match data.policy.max_choices {
        0 => usize::MAX,
        m => m as usize,
    };
    let zones = city.zones(ctx.stage);
    let mut home: [u32; 8] = [0; 8];
    let mut home_extra: Vec<u32> = Vec::new();
    let mut n_home = 0usize;
    {
        let mut add = |sc: u32| {
            if n_home < home.len() {
                if !home[..n_home].contains(&sc) {
                    home[n_home] = sc;
                    n_home += 1;
                }
            } else if !home_extra.contains(&sc) && !home.contains(&sc) {
                home_extra.push(sc);
            }
        };
        for &sc in zones.schools_of(s.block) {
            if ctx.main_program(sc).is_some() {
                add(sc);
            }
        }
        if let Some(f) = s.primary_school.and_then(|p| city.schools[p as usize].feeder_junior)
            && ctx.main_program(f).is_some()
            && city.schools[f as usize].sector == Sector::Public
        {
            add(f);
        }
    }
    let is_home = |sc: u32| home[..n_home].contains(&sc) || home_extra.contains(&sc);
    let choices = data.cohort.choices_of(s).iter().take(max);
    match data.policy.candidates {
        CandidateMode::Choices => {
            for &c in choices {
                let Some((main, purchased)) = ctx.program_of_school.get(c as usize).copied().flatten() else {
                    continue;
                };
                let via = if is_home(c) { Via::Zone } else { Via::Choice };
                push(out, main, via, None);
                // A chosen private school offers its purchased seats too, after its lottery seats.
                if let Some(p) = purchased {
                    push(out, p, via, None);
                }
            }
        }
        CandidateMode::ZoneThenOverflow => {
            for &c in choices {
                let Some(main) = ctx.main_program(c) else { continue };
                match ctx.programs[main as usize].kind {
                    ProgramKind::PrivateChoice => push(out, main, Via::Choice, None),
                    _ if is_home(c) => push(out, main, Via::Zone, None),
                    // A public school outside the zone cannot be chosen under catchment rules.
                    _ => {}
                }
            }
            // The home schools nearest first: the block's zone schools, and the feeder
            // school of the applicant's primary school where it is not one of them.
            let feeder = home[..n_home]
                .iter()
                .chain(home_extra.iter())
                .filter_map(|&sc| ctx.main_program(sc).map(|p| (sc, p)))
                .find(|&(_, p)| !zone.iter().any(|e| e.1 == p))
                .map(|(sc, p)| (ctx.nearness(sc, s.block), p, ctx.distance(sc, s.block)));
            let at = feeder.map_or(zone.len(), |f| zone.partition_point(|e| *e < f));
            for &(_, p, d) in zone[..at].iter().chain(feeder.as_ref()).chain(&zone[at..]) {
                push(out, p, Via::Zone, Some(d));
            }
            for &(p, d) in overflow {
                push(out, p, Via::Overflow, Some(d));
            }
        }
    }
}

struct UnionFind(Vec<u32>);

impl UnionFind {
    fn find(&mut self, mut x: u32) -> u32 {
        while self.0[x as usize] != x {
            let parent = self.0[self.0[x as usize] as usize];
            self.0[x as usize] = parent;
            x = parent;
        }
        x
    }
    fn union(&mut self, a: u32, b: u32) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            self.0[hi as usize] = lo;
        }
    }
}

/// Applicants per parallel work item when building lists.
const LIST_CHUNK: usize = 4096;

/// Chunks of lists built in parallel before they are appended to the stage's arrays.
const LIST_BATCH: usize = 16;

/// Everything about a stage that does not depend on the lottery: seat pools, applicant
/// facts, in-tier ranks, candidate lists and markets. Lottery draws reuse it.
pub(crate) struct Prepared<'a> {
    data: &'a Dataset,
    stage: Stage,
    ctx: StageContext<'a>,
    members: Vec<u32>,
    facts: Vec<ApplicantFacts>,
    /// Members in the order of their ids (the lottery's draw order).
    id_order: Vec<u32>,
    tier_ranks: std::sync::Arc<Vec<Vec<u32>>>,
    tier_distance: Vec<Option<bool>>,
    entry_distance: std::sync::Arc<Vec<u32>>,
    /// Serial dictatorship: rank by `serial_order` keys before the lottery.
    serial_keys: Vec<u32>,
    list_start: Vec<u32>,
    entries: Vec<Entry>,
    market_members: Vec<Vec<u32>>,
    market_programs: Vec<Vec<u32>>,
    local_index: Vec<u32>,
}

/// The outcome of one lottery draw.
pub(crate) struct Drawn {
    lottery: Vec<u32>,
    priorities: Priorities,
    serial_rank: Vec<u32>,
    placements: Vec<Placement>,
}

fn allocate_stage(data: &Dataset, stage: Stage, progress: &(dyn Fn(Progress) + Sync)) -> StageAllocation {
    let p = prepare(data, stage, progress);
    let d = draw(&p, data.policy.seed, progress);
    p.into_allocation(d)
}

pub(crate) fn prepare<'a>(data: &'a Dataset, stage: Stage, progress: &(dyn Fn(Progress) + Sync)) -> Prepared<'a> {
    let city = &data.city;
    let cohort = &data.cohort;
    let policy = &data.policy;
    let members: Vec<u32> = cohort
        .students
        .par_iter()
        .enumerate()
        .filter(|(_, s)| s.stage == stage)
        .map(|(i, _)| i as u32)
        .collect();
    progress(Progress::StageStarted(stage, members.len()));
    let (programs, program_of_school) = build_programs(data, stage);
    let public_sites = PointIndex::new(
        programs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kind.is_public_track())
            .map(|(i, p)| (city.schools[p.school as usize].location.ecef, i as u32)),
    );
    let tiers = policy.tiers_for(stage);
    let tiers_use_distance = tiers.iter().any(|t| t.uses_distance());
    let ctx = StageContext {
        data,
        stage,
        programs,
        program_of_school,
        public_sites,
        tiers,
        tiers_use_distance,
    };

    // Applicant facts, lottery, in-tier orders.
    let facts: Vec<ApplicantFacts> = members
        .par_iter()
        .map(|&i| priority::facts(policy, cohort, data.scenario.year, i as usize))
        .collect();
    let id_order = crate::lottery::id_order_of(members.len(), |m| cohort.id(members[m] as usize));
    let value = |m: usize, a: &Attribute| match a {
        Attribute::Points => facts[m].points,
        other => priority::attribute(cohort, members[m] as usize, other, 0),
    };
    let tier_ranks: Vec<Vec<u32>> = ctx
        .tiers
        .iter()
        .map(|t| {
            let keys: Vec<_> = t
                .order_by
                .iter()
                .filter(|k| k.attribute != Attribute::DistanceM)
                .cloned()
                .collect();
            if keys.is_empty() {
                Vec::new()
            } else {
                priority::dense_ranks(members.len(), &keys, |m, k| value(m, &k.attribute))
            }
        })
        .collect();
    let tier_distance: Vec<Option<bool>> = ctx
        .tiers
        .iter()
        .map(|t| match t.order_by.first() {
            Some(k) if k.attribute == Attribute::DistanceM => Some(k.descending),
            _ => None,
        })
        .collect();

    // Zone and overflow candidates per block, computed once per block.
    type BlockCandidates<'z> = (Vec<ZoneCandidate<'z>>, Vec<(u32, u32)>);
    type PerBlock<T> = Vec<Vec<T>>;
    let (zone_first, overflow): (PerBlock<ZoneCandidate<'_>>, PerBlock<(u32, u32)>) =
        if policy.candidates == CandidateMode::ZoneThenOverflow {
            use std::sync::atomic::{AtomicBool, Ordering};
            let used: Vec<AtomicBool> = (0..city.blocks.len()).map(|_| AtomicBool::new(false)).collect();
            members.par_iter().for_each(|&i| {
                if let Some(u) = used.get(cohort.students[i as usize].block as usize) {
                    u.store(true, Ordering::Relaxed);
                }
            });
            (0..city.blocks.len() as u32)
                .into_par_iter()
                .map(|b| -> BlockCandidates<'_> {
                    if used[b as usize].load(Ordering::Relaxed) {
                        (ctx.zone_candidates(b), ctx.overflow_candidates(b))
                    } else {
                        (Vec::new(), Vec::new())
                    }
                })
                .unzip()
        } else {
            (Vec::new(), Vec::new())
        };

    // Candidate lists with tiers, built in parallel chunks and appended in order, a batch of
    // chunks at a time: only one batch's buffers exist beside the growing arrays (building
    // every chunk first kept them all alive at once, more than the entries themselves).
    // Per chunk: entries, list lengths, and the entries' distances when a key reads them.
    type Chunk = (Vec<Entry>, Vec<u32>, Vec<u32>);
    let keep_distance = tier_distance.iter().any(Option::is_some);
    // When no tier sees the school except through the zone test, an applicant's tier takes
    // two values, one inside their zone and one outside: evaluated once each, not once per
    // list entry.
    let tier_by_zone = ctx.tiers.iter().all(|t| t.school_only_through_zone());
    let build_chunk = |c: usize, chunk: &[u32]| -> Chunk {
        let mut raw: Vec<(u32, Via, u32)> = Vec::new();
        let mut entries = Vec::with_capacity(chunk.len() * 4);
        let mut lens = Vec::with_capacity(chunk.len());
        let mut distances = Vec::new();
        for (k, &i) in chunk.iter().enumerate() {
            let m = c * LIST_CHUNK + k;
            let s = &cohort.students[i as usize];
            raw.clear();
            let ov = overflow.get(s.block as usize).map_or(&[][..], Vec::as_slice);
            let zone = zone_first.get(s.block as usize).map_or(&[][..], Vec::as_slice);
            candidate_list(&ctx, i as usize, zone, ov, &mut raw);
            // The applicant's tier outside and inside their zone, when it depends on
            // nothing else about the school.
            let mut by_zone: [Option<usize>; 2] = [None; 2];
            for &(program, via, distance_m) in &raw {
                let p = &ctx.programs[program as usize];
                let tier = if p.kind == ProgramKind::PrivateChoice {
                    0
                } else {
                    let c = Context {
                        city,
                        cohort,
                        index: i as usize,
                        student: s,
                        facts: &facts[m],
                        school: p.school,
                        distance_m,
                    };
                    if tier_by_zone {
                        let in_zone = c.home_is_in_zone();
                        *by_zone[usize::from(in_zone)].get_or_insert_with(|| c.tier_with_zone(&ctx.tiers, in_zone))
                    } else {
                        c.tier(&ctx.tiers)
                    }
                };
                entries.push(Entry {
                    program,
                    tier: tier.min(u16::MAX as usize) as u16,
                    via,
                });
                if keep_distance {
                    distances.push(distance_m);
                }
            }
            lens.push(raw.len() as u32);
        }
        (entries, lens, distances)
    };
    let mut list_start = Vec::with_capacity(members.len() + 1);
    list_start.push(0u32);
    let mut entries: Vec<Entry> = Vec::new();
    let mut entry_distance: Vec<u32> = Vec::new();
    let mut append = |chunks: Vec<Chunk>, first: bool| {
        if first {
            // Room for every list at the first batch's average length, give or take.
            let built: usize = chunks.iter().map(|c| c.0.len()).sum();
            let listed: usize = chunks.iter().map(|c| c.1.len()).sum();
            let expected = (built as f64 * members.len() as f64 / listed.max(1) as f64 * 1.02) as usize;
            entries.reserve(expected);
            entry_distance.reserve(if keep_distance { expected } else { 0 });
        }
        for (e, lens, distances) in chunks {
            entries.extend_from_slice(&e);
            entry_distance.extend_from_slice(&distances);
            for l in lens {
                list_start.push(list_start[list_start.len() - 1] + l);
            }
        }
    };
    // Each batch is appended while the next one is built.
    let mut built: Option<Vec<Chunk>> = None;
    for (b, batch) in members.chunks(LIST_CHUNK * LIST_BATCH).enumerate() {
        let previous = built.take();
        let (next, ()) = rayon::join(
            || {
                batch
                    .par_chunks(LIST_CHUNK)
                    .enumerate()
                    .map(|(c, chunk)| build_chunk(b * LIST_BATCH + c, chunk))
                    .collect::<Vec<Chunk>>()
            },
            || {
                if let Some(chunks) = previous {
                    append(chunks, b == 1);
                }
            },
        );
        built = Some(next);
    }
    if let Some(chunks) = built {
        append(chunks, members.len() <= LIST_CHUNK * LIST_BATCH);
    }
    drop(overflow);
    drop(zone_first);
    progress(Progress::ListsBuilt(stage));
    let serial_keys = if policy.mechanism == Mechanism::SerialDictatorship {
        priority::dense_ranks(members.len(), &policy.serial_order, |m, k| value(m, &k.attribute))
    } else {
        Vec::new()
    };

    // Independent markets: union districts, programs and applicants' lists.
    let n_d = city.districts.len() as u32;
    let mut uf = UnionFind((0..n_d + ctx.programs.len() as u32).collect());
    for (p, prog) in ctx.programs.iter().enumerate() {
        uf.union(prog.district, n_d + p as u32);
    }
    let home_district = |m: usize| city.blocks[cohort.students[members[m] as usize].block as usize].district;
    // The partition depends only on which (home district, program) pairs occur, not on
    // how often or in which order: mark them in parallel (a few tables, one per thread),
    // then join each pair once. A city too large for such a table joins entry by entry.
    let n_p = ctx.programs.len();
    let table_len = n_d as usize * n_p;
    if table_len <= 1 << 24 {
        let min_len = members.len().div_ceil(2 * rayon::current_num_threads().max(1)).max(1);
        let pairs = (0..members.len())
            .into_par_iter()
            .with_min_len(min_len)
            .fold(
                || vec![false; table_len],
                |mut seen, m| {
                    let home = home_district(m) as usize;
                    for e in &entries[list_start[m] as usize..list_start[m + 1] as usize] {
                        seen[home * n_p + e.program as usize] = true;
                    }
                    seen
                },
            )
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x |= y);
                a
            })
            .unwrap_or_default();
        for (pair, _) in pairs.iter().enumerate().filter(|(_, seen)| **seen) {
            uf.union((pair / n_p) as u32, n_d + (pair % n_p) as u32);
        }
    } else {
        for m in 0..members.len() {
            let home = home_district(m);
            for e in &entries[list_start[m] as usize..list_start[m + 1] as usize] {
                uf.union(home, n_d + e.program);
            }
        }
    }
    let mut market_of_root: Vec<u32> = vec![u32::MAX; (n_d as usize) + ctx.programs.len()];
    let mut market_members: Vec<Vec<u32>> = Vec::new();
    let mut market_programs: Vec<Vec<u32>> = Vec::new();
    for m in 0..members.len() {
        let root = uf.find(home_district(m)) as usize;
        if market_of_root[root] == u32::MAX {
            market_of_root[root] = market_members.len() as u32;
            market_members.push(Vec::new());
            market_programs.push(Vec::new());
        }
        market_members[market_of_root[root] as usize].push(m as u32);
    }
    // Markets partition the programs, so one table holds every program's local index.
    let mut local_index = vec![u32::MAX; ctx.programs.len()];
    for p in 0..ctx.programs.len() as u32 {
        let root = uf.find(n_d + p) as usize;
        let id = market_of_root[root];
        if id != u32::MAX {
            local_index[p as usize] = market_programs[id as usize].len() as u32;
            market_programs[id as usize].push(p);
        }
    }
    Prepared {
        data,
        stage,
        ctx,
        members,
        facts,
        id_order,
        tier_ranks: std::sync::Arc::new(tier_ranks),
        tier_distance,
        entry_distance: std::sync::Arc::new(entry_distance),
        serial_keys,
        list_start,
        entries,
        market_members,
        market_programs,
        local_index,
    }
}

/// Runs the lottery of `seed` and the mechanism on a prepared stage.
pub(crate) fn draw(p: &Prepared<'_>, seed: u64, progress: &(dyn Fn(Progress) + Sync)) -> Drawn {
    let data = p.data;
    let policy = &data.policy;
    let stage = p.stage;
    let members = &p.members;
    let lottery = crate::lottery::lottery_in_id_order(seed, stage, &p.id_order);
    let entry_lottery = if policy.tie_break == TieBreak::Multiple {
        multiple_lottery(data, seed, stage, &p.ctx.programs, members, &p.list_start, &p.entries)
    } else {
        Vec::new()
    };
    let priorities = Priorities {
        lottery: lottery.clone(),
        tier_ranks: p.tier_ranks.clone(),
        tier_distance: p.tier_distance.clone(),
        entry_lottery,
        entry_distance: p.entry_distance.clone(),
    };
    let serial_rank = if policy.mechanism == Mechanism::SerialDictatorship {
        let mut order: Vec<u32> = (0..members.len() as u32).collect();
        order.par_sort_unstable_by_key(|&m| (p.serial_keys[m as usize], lottery[m as usize]));
        let mut r = vec![0u32; members.len()];
        for (pos, &m) in order.iter().enumerate() {
            r[m as usize] = pos as u32;
        }
        r
    } else {
        Vec::new()
    };
    let total = p.market_members.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let packing = draw_key_packing(&priorities, p.ctx.tiers.len());
    let shared = MarketInputs {
        data,
        ctx: &p.ctx,
        members,
        list_start: &p.list_start,
        entries: &p.entries,
        priorities: &priorities,
        serial_rank: &serial_rank,
        local_index: &p.local_index,
        packing: packing.as_ref(),
    };
    let results: Vec<Vec<(u32, Placement)>> = p
        .market_members
        .par_iter()
        .zip(p.market_programs.par_iter())
        .map(|(mm, mp)| {
            let r = run_market(&shared, mm, mp);
            let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(Progress::Markets { stage, done: d, total });
            r
        })
        .collect();
    let unplaced = Placement {
        program: UNPLACED,
        position: UNPLACED,
        distance_m: 0,
        tier: 0,
    };
    // Filled in parallel: at ten million applicants this is over a hundred megabytes of
    // fresh memory.
    let mut placements: Vec<Placement> = (0..members.len()).into_par_iter().map(|_| unplaced).collect();
    for r in results {
        for (m, pl) in r {
            placements[m as usize] = pl;
        }
    }
    Drawn {
        lottery,
        priorities,
        serial_rank,
        placements,
    }
}

impl<'a> Prepared<'a> {
    /// Tier names of the stage (public track), best first.
    pub(crate) fn tier_names(&self) -> Vec<String> {
        self.ctx.tiers.iter().map(|t| t.name.clone()).collect()
    }

    /// Cohort indices of the stage's applicants.
    pub(crate) fn members(&self) -> &[u32] {
        &self.members
    }

    /// Seat pools.
    pub(crate) fn programs(&self) -> &[Program] {
        &self.ctx.programs
    }

    /// Candidate list of member `m`.
    pub(crate) fn list(&self, m: usize) -> &[Entry] {
        &self.entries[self.list_start[m] as usize..self.list_start[m + 1] as usize]
    }

    fn into_allocation(self, d: Drawn) -> StageAllocation {
        let mut tier_names: Vec<String> = self.ctx.tiers.iter().map(|t| t.name.clone()).collect();
        tier_names.push(NO_TIER.to_string());
        let mut tier_by_points: Vec<bool> = self
            .ctx
            .tiers
            .iter()
            .map(|t| t.order_by.iter().any(|k| k.attribute == Attribute::Points))
            .collect();
        tier_by_points.push(false);
        StageAllocation {
            stage: self.stage,
            programs: self.ctx.programs,
            tier_names,
            tier_by_points,
            members: self.members,
            lottery: d.lottery,
            priorities: d.priorities,
            facts: self.facts,
            serial_rank: d.serial_rank,
            list_start: self.list_start,
            entries: self.entries,
            placements: d.placements,
            markets: self.market_members.len(),
        }
    }
}

impl Drawn {
    /// The placements of the draw.
    pub(crate) fn placements(&self) -> &[Placement] {
        &self.placements
    }

    /// Member `m`'s key at list position `pos` in this draw.
    pub(crate) fn key(&self, p: &Prepared<'_>, m: usize, pos: usize) -> u128 {
        let e = p.list_start[m] as usize + pos;
        let entry = &p.entries[e];
        let private = p.ctx.programs[entry.program as usize].kind == ProgramKind::PrivateChoice;
        self.priorities.key(m, e, entry, private).0
    }
}

/// Draws every school's own lottery among its applicants; returns one number per entry.
fn multiple_lottery(
    data: &Dataset,
    seed: u64,
    stage: Stage,
    programs: &[Program],
    members: &[u32],
    list_start: &[u32],
    entries: &[Entry],
) -> Vec<u32> {
    let city = &data.city;
    let cohort = &data.cohort;
    let mut school_order: Vec<u32> = (0..city.schools.len() as u32).collect();
    school_order.sort_unstable_by(|&a, &b| {
        city.schools[a as usize]
            .id
            .as_bytes()
            .cmp(city.schools[b as usize].id.as_bytes())
    });
    let mut ordinal = vec![0u32; city.schools.len()];
    for (o, &s) in school_order.iter().enumerate() {
        ordinal[s as usize] = o as u32;
    }
    // Applicants per school (a private school's two pools draw once, together).
    let mut by_school: Vec<Vec<(u32, usize)>> = vec![Vec::new(); city.schools.len()];
    for m in 0..members.len() {
        for (e, entry) in entries
            .iter()
            .enumerate()
            .take(list_start[m + 1] as usize)
            .skip(list_start[m] as usize)
        {
            by_school[programs[entry.program as usize].school as usize].push((m as u32, e));
        }
    }
    let id = |m: u32| cohort.id(members[m as usize] as usize);
    let updates: Vec<Vec<(usize, u32)>> = by_school
        .into_par_iter()
        .enumerate()
        .filter(|(_, apps)| !apps.is_empty())
        .map(|(school, mut apps)| {
            // One draw per applicant per school: an applicant listing both seat pools of a
            // private school (lottery and purchased seats) draws once and uses the number
            // in both.
            apps.sort_by(|a, b| id(a.0).as_bytes().cmp(id(b.0).as_bytes()).then(a.1.cmp(&b.1)));
            let mut applicant_of_entry = Vec::with_capacity(apps.len());
            let mut applicants = 0usize;
            for (i, a) in apps.iter().enumerate() {
                if i > 0 && apps[i - 1].0 != a.0 {
                    applicants += 1;
                }
                applicant_of_entry.push(applicants);
            }
            let stream = crate::lottery::school_stream(stage, ordinal[school]);
            let ranks = crate::lottery::ranks_of_sorted(seed, stream, applicants + 1);
            apps.iter()
                .zip(applicant_of_entry)
                .map(|(a, k)| (a.1, ranks[k]))
                .collect()
        })
        .collect();
    let mut out = vec![0u32; entries.len()];
    for u in updates {
        for (e, r) in u {
            out[e] = r;
        }
    }
    out
}

/// What every market reads.
struct MarketInputs<'a> {
    data: &'a Dataset,
    ctx: &'a StageContext<'a>,
    members: &'a [u32],
    list_start: &'a [u32],
    entries: &'a [Entry],
    priorities: &'a Priorities,
    serial_rank: &'a [u32],
    local_index: &'a [u32],
    /// Packs every key of the draw into 64 bits, when that is known without computing keys.
    packing: Option<&'a KeyPacking>,
}

/// A packing of every key of a draw into 64 bits, from the bits each field of a key can
/// take (the field's values ORed together: a bit that no key sets cannot tell two keys
/// apart), found without computing a key. `None` when the fields need more than 64 bits, or
/// when a tier orders by distance: distances (some unknown, `u32::MAX`) and their
/// complements set nearly every bit of their field, so each market looks at its own keys.
fn draw_key_packing(priorities: &Priorities, tiers: usize) -> Option<KeyPacking> {
    if priorities.tier_distance.iter().any(Option::is_some) {
        return None;
    }
    // Entries carry tier indices up to `tiers` (no tier's conditions hold).
    let tier_bits = (0..=tiers.min(usize::from(u16::MAX))).fold(0, |bits, t| bits | t);
    let rank_bits = priorities.tier_ranks.iter().flatten().fold(0, |bits, &r| bits | r);
    let lotteries = if priorities.entry_lottery.is_empty() {
        &priorities.lottery
    } else {
        &priorities.entry_lottery
    };
    let lottery_bits = lotteries.iter().fold(0, |bits, &l| bits | l);
    KeyPacking::new(priority::pack(tier_bits, 0, rank_bits, lottery_bits).0)
}

impl MarketInputs<'_> {
    fn key(&self, m: usize, e: usize) -> PriorityKey {
        let entry = &self.entries[e];
        let private = self.ctx.programs[entry.program as usize].kind == ProgramKind::PrivateChoice;
        self.priorities.key(m, e, entry, private)
    }

    fn list(&self, m: usize) -> std::ops::Range<usize> {
        self.list_start[m] as usize..self.list_start[m + 1] as usize
    }
}

fn run_market(inp: &MarketInputs<'_>, market_members: &[u32], market_programs: &[u32]) -> Vec<(u32, Placement)> {
    let ctx = inp.ctx;
    let capacity: Vec<u32> = market_programs
        .iter()
        .map(|&p| ctx.programs[p as usize].capacity)
        .collect();
    let matching = if inp.data.policy.mechanism == Mechanism::SerialDictatorship {
        // The global order is the only priority: no keys to compute.
        let market = build_market(inp, market_members, capacity, |_, _| 0u64);
        let mut order: Vec<u32> = (0..market_members.len() as u32).collect();
        order.sort_unstable_by_key(|&l| inp.serial_rank[market_members[l as usize] as usize]);
        mechanism::serial_dictatorship(&market, &order)
    } else {
        // Keys that vary in at most 64 bits (the usual case: every field is far narrower than
        // its slot) run as `u64`s, with the same order and so the same matching. Without a
        // packing for the whole draw, keys are computed twice rather than stored twice: once
        // to find the bits that vary in this market, once for the market.
        let own;
        let packing = match inp.packing {
            Some(packing) => Some(packing),
            None => {
                let keys = market_members
                    .iter()
                    .flat_map(|&m| inp.list(m as usize).map(move |e| inp.key(m as usize, e)));
                own = KeyPacking::of_keys(keys);
                own.as_ref()
            }
        };
        let immediate = inp.data.policy.mechanism == Mechanism::ImmediateAcceptance;
        match packing {
            Some(packing) => match_market(
                immediate,
                &build_market(inp, market_members, capacity, |m, e| packing.pack(inp.key(m, e))),
            ),
            None => match_market(
                immediate,
                &build_market(inp, market_members, capacity, |m, e| inp.key(m, e)),
            ),
        }
    };
    let mut used: Vec<u32> = vec![0; market_programs.len()];
    let mut out: Vec<(u32, Placement)> = Vec::with_capacity(market_members.len());
    for (l, &m) in market_members.iter().enumerate() {
        let pos = matching.position[l];
        let placement = if pos == UNPLACED {
            Placement {
                program: UNPLACED,
                position: UNPLACED,
                distance_m: 0,
                tier: 0,
            }
        } else {
            let at = inp.list_start[m as usize] as usize + pos as usize;
            let e = inp.entries[at];
            used[inp.local_index[e.program as usize] as usize] += 1;
            let distance_m = match inp.priorities.entry_distance.get(at) {
                Some(&d) => d,
                None => {
                    let block = inp.data.cohort.students[inp.members[m as usize] as usize].block;
                    inp.ctx.distance(inp.ctx.programs[e.program as usize].school, block)
                }
            };
            Placement {
                program: e.program,
                position: pos,
                distance_m,
                tier: u32::from(e.tier),
            }
        };
        out.push((m, placement));
    }
    guarantee_pass(inp, market_programs, &mut used, &mut out);
    out
}

/// The market of `market_members` with `key(member, entry)` at each list entry, sized
/// exactly up front.
fn build_market<K>(
    inp: &MarketInputs<'_>,
    market_members: &[u32],
    capacity: Vec<u32>,
    key: impl Fn(usize, usize) -> K,
) -> Market<K> {
    let entries: usize = market_members.iter().map(|&m| inp.list(m as usize).len()).sum();
    let mut market = Market {
        capacity,
        list_start: Vec::with_capacity(market_members.len() + 1),
        list_program: Vec::with_capacity(entries),
        list_key: Vec::with_capacity(entries),
    };
    market.list_start.push(0);
    for &m in market_members {
        for e in inp.list(m as usize) {
            market
                .list_program
                .push(inp.local_index[inp.entries[e].program as usize]);
            market.list_key.push(key(m as usize, e));
        }
        market.list_start.push(market.list_program.len() as u32);
    }
    market
}

/// Runs a mechanism that reads the keys: immediate acceptance when `immediate`, deferred
/// acceptance otherwise.
fn match_market<K: MarketKey>(immediate: bool, market: &Market<K>) -> Matching {
    if immediate {
        mechanism::immediate_acceptance(market)
    } else {
        mechanism::deferred_acceptance(market)
    }
}

/// Places applicants left without a seat at the nearest public-track program of their home
/// district that still has seats, at any distance, in priority order.
fn guarantee_pass(inp: &MarketInputs<'_>, market_programs: &[u32], used: &mut [u32], out: &mut [(u32, Placement)]) {
    let data = inp.data;
    let ctx = inp.ctx;
    let policy = &data.policy;
    if policy.guarantee == Guarantee::None {
        return;
    }
    let cohort = &data.cohort;
    let city = &data.city;
    let mut waiting: Vec<(PriorityKey, u32, usize)> = Vec::new();
    for (slot, (m, p)) in out.iter().enumerate() {
        if p.is_placed() {
            continue;
        }
        let m = *m as usize;
        let i = inp.members[m] as usize;
        let s = &cohort.students[i];
        if policy.guarantee == Guarantee::Eligible
            && s.migrant
            && !priority::facts(policy, cohort, data.scenario.year, i).migrant_eligible
        {
            continue;
        }
        // Order: the applicant's priority at their first public-track choice, then lottery.
        let first = inp
            .list(m)
            .find(|&e| ctx.programs[inp.entries[e].program as usize].kind.is_public_track())
            .map_or(PriorityKey(u128::MAX), |e| inp.key(m, e));
        waiting.push((first, inp.priorities.lottery[m], slot));
    }
    if waiting.is_empty() {
        return;
    }
    waiting.sort_unstable();
    let mut nearest_cache: HashMap<u32, Vec<(u32, u32)>> = HashMap::new();
    // Nearest first by exact millimetres, then school id; unreachable schools last (the
    // final pass places at any distance).
    for (_, _, slot) in waiting {
        let m = out[slot].0 as usize;
        let i = inp.members[m] as usize;
        let s = &cohort.students[i];
        let district = city.blocks[s.block as usize].district;
        let options = nearest_cache.entry(s.block).or_insert_with(|| {
            let mut v: Vec<((u32, &str), u32)> = market_programs
                .iter()
                .copied()
                .filter(|&p| {
                    let prog = &ctx.programs[p as usize];
                    prog.kind.is_public_track() && prog.district == district
                })
                .map(|p| (ctx.nearness(ctx.programs[p as usize].school, s.block), p))
                .collect();
            v.sort_unstable();
            v.into_iter().map(|((mm, _), p)| (p, mm)).collect()
        });
        let Some(&(p, mm)) = options.iter().find(|&&(p, _)| {
            let l = inp.local_index[p as usize] as usize;
            used[l] < ctx.programs[p as usize].capacity
        }) else {
            continue;
        };
        used[inp.local_index[p as usize] as usize] += 1;
        let d = if mm == u32::MAX {
            UNKNOWN_DISTANCE
        } else {
            crate::spatial::metres_of_mm(mm)
        };
        let prog = &ctx.programs[p as usize];
        let facts = priority::facts(policy, cohort, data.scenario.year, i);
        let c = Context {
            city,
            cohort,
            index: i,
            student: s,
            facts: &facts,
            school: prog.school,
            distance_m: d,
        };
        let tier = c.tier(&ctx.tiers) as u32;
        out[slot].1 = Placement {
            program: p,
            position: GUARANTEE_POSITION,
            distance_m: d,
            tier,
        };
    }
}

/// Each list entry's tier, as the allocator finds it (once per applicant inside and once
/// outside their zone when no tier sees the school otherwise), equals the tier the
/// conditions give when evaluated for that entry alone, for random tier lists mixing zone
/// tests, negations, comparisons, and the school-specific `feeder`, `chose` and distances.
#[cfg(test)]
mod tier_tests {
    #![allow(clippy::unwrap_used)]
    use std::fs;
    use std::path::Path;

    use crate::load::Dataset;

    #[test]
    fn list_tiers_equal_the_conditions_evaluated_entry_by_entry() {
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/demo/scenario.toml");
        let policy = fs::read_to_string(demo.with_file_name("policy.toml")).unwrap();
        let head = &policy[..policy.find("[[tier]]").unwrap()];
        const ZONE_ONLY: [&str; 12] = [
            "home_in_zone",
            "hukou_in_zone",
            "owns_home",
            "no_seat_lock",
            "seat_locked",
            "migrant",
            "local",
            "migrant_eligible",
            "not home_in_zone",
            "not hukou_in_zone",
            "years_at_address >= 3",
            "residence_permit_months > 12",
        ];
        const SCHOOL: [&str; 4] = ["feeder", "chose", "distance_m <= 2500", "not chose"];
        // splitmix64: a fixed sequence of random choices.
        let mut state = 20261203u64;
        let mut pick = |n: usize| -> usize {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) % n as u64) as usize
        };
        let mut by_zone_runs = 0;
        for case in 0..24 {
            let mut text = head.to_string();
            for t in 0..1 + pick(5) {
                let mut conditions: Vec<&str> = (0..pick(4)).map(|_| ZONE_ONLY[pick(ZONE_ONLY.len())]).collect();
                // Every third case keeps every tier school-free except through the zone.
                if case % 3 != 0 && pick(10) < 3 {
                    conditions.push(SCHOOL[pick(SCHOOL.len())]);
                }
                let all: Vec<String> = conditions.iter().map(|c| format!("\"{c}\"")).collect();
                text.push_str(&format!("\n[[tier]]\nname = \"t{t}\"\nall = [{}]\n", all.join(", ")));
            }
            let mut tables = crate::load::MemoryTables::default();
            tables.set_policy(text.clone());
            let scenario =
                crate::scenario::Scenario::from_toml_with_tables(&fs::read_to_string(&demo).unwrap(), &demo, &tables)
                    .unwrap();
            let data = Dataset::load_with_tables(scenario, &tables).unwrap();
            let alloc = super::allocate(&data);
            for st in &alloc.stages {
                let tiers = data.policy.tiers_for(st.stage);
                by_zone_runs += usize::from(tiers.iter().all(|t| t.school_only_through_zone()));
                for m in 0..st.members.len() {
                    let index = st.members[m] as usize;
                    for (pos, e) in st.list(m).iter().enumerate() {
                        let program = &st.programs[e.program as usize];
                        if program.kind == super::ProgramKind::PrivateChoice {
                            continue;
                        }
                        let c = crate::priority::Context {
                            city: &data.city,
                            cohort: &data.cohort,
                            index,
                            student: &data.cohort.students[index],
                            facts: &st.facts[m],
                            school: program.school,
                            distance_m: st.distance_m(&data, m, pos),
                        };
                        assert_eq!(usize::from(e.tier), c.tier(&tiers), "{text}");
                    }
                }
            }
        }
        assert!(by_zone_runs > 0);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_draws_packing_orders_every_key_as_the_key(
            tiers in 0..6usize,
            members in 1..40usize,
            seed in any::<u64>(),
            multiple in any::<bool>(),
            wide in any::<bool>(),
        ) {
            // Lottery numbers and ranks from small ranges (as drawn) or any u32 (wide).
            let mut state = seed | 1;
            let mut next = move |bound: u32| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let r = (state >> 16) as u32;
                if wide { r } else { r % bound.max(1) }
            };
            let n = members as u32;
            let entries: Vec<(usize, Entry, bool)> = (0..members * 3)
                .map(|i| {
                    let entry = Entry {
                        program: next(5),
                        tier: next(tiers as u32 + 1) as u16 % (tiers as u16 + 1),
                        via: Via::Choice,
                    };
                    (i % members, entry, next(4) == 0)
                })
                .collect();
            let priorities = Priorities {
                lottery: (0..members).map(|_| 1 + next(n)).collect(),
                tier_ranks: std::sync::Arc::new(
                    (0..tiers)
                        .map(|t| if t % 2 == 0 { (0..members).map(|_| next(n)).collect() } else { Vec::new() })
                        .collect(),
                ),
                tier_distance: vec![None; tiers],
                entry_lottery: if multiple { entries.iter().map(|_| 1 + next(n)).collect() } else { Vec::new() },
                entry_distance: std::sync::Arc::new(Vec::new()),
            };
            let packing = draw_key_packing(&priorities, tiers);
            let keys: Vec<PriorityKey> = entries
                .iter()
                .enumerate()
                .map(|(e, (m, entry, private))| priorities.key(*m, e, entry, *private))
                .collect();
            match packing {
                Some(packing) => {
                    for a in &keys {
                        for b in &keys {
                            prop_assert_eq!(packing.pack(*a).cmp(&packing.pack(*b)), a.cmp(b));
                        }
                    }
                }
                // Only wide numbers need more than 64 bits here.
                None => prop_assert!(wide),
            }
            // A tier ordered by distance leaves packing to each market.
            let mut by_distance = priorities.clone();
            by_distance.tier_distance = vec![Some(false); tiers.max(1)];
            prop_assert_eq!(draw_key_packing(&by_distance, tiers), None);
        }
    }
}
