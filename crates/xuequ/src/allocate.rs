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
use rstar::{RTree, primitives::GeomWithData};

use crate::load::Dataset;
use crate::mechanism::{self, Market, PriorityKey, UNPLACED};
use crate::model::{Sector, Stage};
use crate::policy::{Attribute, CandidateMode, Guarantee, Mechanism, TieBreak};
use crate::priority::{self, ApplicantFacts, Context};

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

/// One entry of a candidate list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Program index within the stage.
    pub program: u32,
    /// Why it is listed.
    pub via: Via,
    /// Home-to-school distance in metres.
    pub distance_m: u32,
    /// The applicant's priority there.
    pub key: PriorityKey,
}

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

type Point = GeomWithData<[f64; 3], u32>;

struct StageContext<'a> {
    data: &'a Dataset,
    stage: Stage,
    programs: Vec<Program>,
    program_of_school: ProgramsOfSchool,
    public_tree: RTree<Point>,
    tiers: Vec<&'a crate::policy::Tier>,
}

impl StageContext<'_> {
    fn distance(&self, school: u32, block: u32) -> u32 {
        let city = &self.data.city;
        if let Some(m) = &self.data.distances
            && let Some(d) = m.get(school, block)
        {
            return d;
        }
        city.blocks[block as usize]
            .location
            .distance_m(&city.schools[school as usize].location)
    }

    /// Public-track programs of the block's district within the overflow radius, nearest first.
    fn overflow_candidates(&self, block: u32) -> Vec<(u32, u32)> {
        let city = &self.data.city;
        let b = &city.blocks[block as usize];
        let radius = self.data.policy.overflow_radius_m;
        // Road distances are never shorter than the straight line, so the chord query is a
        // superset; the exact distance filters it.
        let chord = crate::crs::chord_for_arc(f64::from(radius) + 1.0);
        let mut out: Vec<(u32, u32)> = self
            .public_tree
            .locate_within_distance(b.location.ecef, chord * chord)
            .map(|p| p.data)
            .filter(|&prog| self.programs[prog as usize].district == b.district)
            .map(|prog| (self.distance(self.programs[prog as usize].school, block), prog))
            .filter(|&(d, _)| d <= radius)
            .collect();
        out.sort_unstable();
        out.into_iter().map(|(d, p)| (p, d)).collect()
    }
}

/// Per school: its main program and, for a private school with purchased seats, that pool.
type ProgramsOfSchool = HashMap<u32, (u32, Option<u32>)>;

fn build_programs(data: &Dataset, stage: Stage) -> (Vec<Program>, ProgramsOfSchool) {
    let mut programs = Vec::new();
    let mut of_school = HashMap::new();
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
        of_school.insert(i as u32, (main, purchased));
    }
    (programs, of_school)
}

/// Builds the candidate list (program, via, distance) of one applicant.
fn candidate_list(ctx: &StageContext<'_>, student_index: usize, overflow: &[(u32, u32)]) -> Vec<(u32, Via, u32)> {
    let data = ctx.data;
    let city = &data.city;
    let s = &data.cohort.students[student_index];
    let mut list: Vec<(u32, Via, u32)> = Vec::new();
    let push = |list: &mut Vec<(u32, Via, u32)>, program: u32, via: Via| {
        if !list.iter().any(|e| e.0 == program) {
            let d = ctx.distance(ctx.programs[program as usize].school, s.block);
            list.push((program, via, d));
        }
    };
    let max = match data.policy.max_choices {
        0 => usize::MAX,
        m => m as usize,
    };
    let zones = city.zones(ctx.stage);
    let home: Vec<u32> = {
        let mut h: Vec<u32> = zones
            .schools_of(s.block)
            .iter()
            .copied()
            .filter(|sc| ctx.program_of_school.contains_key(sc))
            .collect();
        if let Some(f) = s.primary_school.and_then(|p| city.schools[p as usize].feeder_junior)
            && ctx.program_of_school.contains_key(&f)
            && city.schools[f as usize].sector == Sector::Public
            && !h.contains(&f)
        {
            h.push(f);
        }
        h
    };
    let choices = data.cohort.choices_of(s).iter().take(max);
    match data.policy.candidates {
        CandidateMode::Choices => {
            for &c in choices {
                if let Some(&(main, _)) = ctx.program_of_school.get(&c) {
                    let via = if home.contains(&c) { Via::Zone } else { Via::Choice };
                    push(&mut list, main, via);
                }
            }
        }
        CandidateMode::ZoneThenOverflow => {
            for &c in choices {
                let Some(&(main, _)) = ctx.program_of_school.get(&c) else {
                    continue;
                };
                match ctx.programs[main as usize].kind {
                    ProgramKind::PrivateChoice => push(&mut list, main, Via::Choice),
                    _ if home.contains(&c) => push(&mut list, main, Via::Zone),
                    // A public school outside the zone cannot be chosen under catchment rules.
                    _ => {}
                }
            }
            let mut rest: Vec<(u32, u32)> = home
                .iter()
                .map(|sc| (ctx.distance(*sc, s.block), ctx.program_of_school[sc].0))
                .collect();
            rest.sort_unstable();
            for (_, p) in rest {
                push(&mut list, p, Via::Zone);
            }
            for &(p, _) in overflow {
                push(&mut list, p, Via::Overflow);
            }
        }
    }
    list
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

fn allocate_stage(data: &Dataset, stage: Stage, progress: &(dyn Fn(Progress) + Sync)) -> StageAllocation {
    let city = &data.city;
    let cohort = &data.cohort;
    let policy = &data.policy;
    let members: Vec<u32> = cohort
        .students
        .iter()
        .enumerate()
        .filter(|(_, s)| s.stage == stage)
        .map(|(i, _)| i as u32)
        .collect();
    progress(Progress::StageStarted(stage, members.len()));
    let (programs, program_of_school) = build_programs(data, stage);
    let public_tree = RTree::bulk_load(
        programs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kind.is_public_track())
            .map(|(i, p)| Point::new(city.schools[p.school as usize].location.ecef, i as u32))
            .collect(),
    );
    let tiers = policy.tiers_for(stage);
    let ctx = StageContext {
        data,
        stage,
        programs,
        program_of_school,
        public_tree,
        tiers,
    };

    // Applicant facts, lottery, in-tier orders.
    let facts: Vec<ApplicantFacts> = members
        .par_iter()
        .map(|&i| priority::facts(policy, cohort, data.scenario.year, i as usize))
        .collect();
    let ids: Vec<&str> = members
        .iter()
        .map(|&i| cohort.students[i as usize].id.as_str())
        .collect();
    let lottery = crate::lottery::single_lottery(policy.seed, stage, &ids);
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

    // Overflow candidates per block, computed once per block.
    let mut blocks: Vec<u32> = members.iter().map(|&i| cohort.students[i as usize].block).collect();
    blocks.sort_unstable();
    blocks.dedup();
    let overflow: HashMap<u32, Vec<(u32, u32)>> = if policy.candidates == CandidateMode::ZoneThenOverflow {
        blocks.par_iter().map(|&b| (b, ctx.overflow_candidates(b))).collect()
    } else {
        HashMap::new()
    };
    let empty = Vec::new();

    // Candidate lists with keys (tier, distance, order rank, lottery placeholder).
    let lists: Vec<Vec<Entry>> = (0..members.len())
        .into_par_iter()
        .map(|m| {
            let i = members[m] as usize;
            let s = &cohort.students[i];
            let raw = candidate_list(&ctx, i, overflow.get(&s.block).unwrap_or(&empty));
            raw.into_iter()
                .map(|(program, via, distance_m)| {
                    let p = &ctx.programs[program as usize];
                    let key = if p.kind == ProgramKind::PrivateChoice {
                        priority::pack(0, 0, 0, lottery[m])
                    } else {
                        let c = Context {
                            city,
                            cohort,
                            index: i,
                            student: s,
                            facts: &facts[m],
                            school: p.school,
                            distance_m,
                        };
                        let tier = c.tier(&ctx.tiers);
                        let (dist_part, rank) = match ctx.tiers.get(tier) {
                            Some(t) => {
                                let dist = match t.order_by.first() {
                                    Some(k) if k.attribute == Attribute::DistanceM => {
                                        if k.descending {
                                            u32::MAX - distance_m
                                        } else {
                                            distance_m
                                        }
                                    }
                                    _ => 0,
                                };
                                (dist, tier_ranks[tier].get(m).copied().unwrap_or(0))
                            }
                            None => (0, 0),
                        };
                        priority::pack(tier, dist_part, rank, lottery[m])
                    };
                    Entry {
                        program,
                        via,
                        distance_m,
                        key,
                    }
                })
                .collect()
        })
        .collect();
    let mut list_start = Vec::with_capacity(members.len() + 1);
    list_start.push(0u32);
    let mut entries = Vec::with_capacity(lists.iter().map(Vec::len).sum());
    for l in lists {
        entries.extend_from_slice(&l);
        list_start.push(entries.len() as u32);
    }
    drop(overflow);
    progress(Progress::ListsBuilt(stage));

    if policy.tie_break == TieBreak::Multiple {
        multiple_lottery(data, stage, &ctx.programs, &members, &list_start, &mut entries);
    }

    let serial_rank = if policy.mechanism == Mechanism::SerialDictatorship {
        let ranks = priority::dense_ranks(members.len(), &policy.serial_order, |m, k| value(m, &k.attribute));
        let mut order: Vec<u32> = (0..members.len() as u32).collect();
        order.sort_unstable_by_key(|&m| (ranks[m as usize], lottery[m as usize]));
        let mut r = vec![0u32; members.len()];
        for (pos, &m) in order.iter().enumerate() {
            r[m as usize] = pos as u32;
        }
        r
    } else {
        Vec::new()
    };

    // Independent markets: union districts, programs and applicants' lists.
    let n_d = city.districts.len() as u32;
    let mut uf = UnionFind((0..n_d + ctx.programs.len() as u32).collect());
    for (p, prog) in ctx.programs.iter().enumerate() {
        uf.union(prog.district, n_d + p as u32);
    }
    for m in 0..members.len() {
        let home = city.blocks[cohort.students[members[m] as usize].block as usize].district;
        for e in &entries[list_start[m] as usize..list_start[m + 1] as usize] {
            uf.union(home, n_d + e.program);
        }
    }
    let mut market_of_root: HashMap<u32, usize> = HashMap::new();
    let mut market_members: Vec<Vec<u32>> = Vec::new();
    let mut market_programs: Vec<Vec<u32>> = Vec::new();
    for (m, &i) in members.iter().enumerate() {
        let root = uf.find(city.blocks[cohort.students[i as usize].block as usize].district);
        let id = *market_of_root.entry(root).or_insert_with(|| {
            market_members.push(Vec::new());
            market_programs.push(Vec::new());
            market_members.len() - 1
        });
        market_members[id].push(m as u32);
    }
    for p in 0..ctx.programs.len() as u32 {
        let root = uf.find(n_d + p);
        if let Some(&id) = market_of_root.get(&root) {
            market_programs[id].push(p);
        }
    }
    let total = market_members.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Vec<(u32, Placement)>> = market_members
        .par_iter()
        .zip(market_programs.par_iter())
        .map(|(mm, mp)| {
            let r = run_market(
                data,
                &ctx,
                &members,
                &list_start,
                &entries,
                &serial_rank,
                &lottery,
                mm,
                mp,
            );
            let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(Progress::Markets { stage, done: d, total });
            r
        })
        .collect();
    let mut placements = vec![
        Placement {
            program: UNPLACED,
            position: UNPLACED,
            distance_m: 0,
            tier: 0
        };
        members.len()
    ];
    for r in results {
        for (m, p) in r {
            placements[m as usize] = p;
        }
    }
    let mut tier_names: Vec<String> = ctx.tiers.iter().map(|t| t.name.clone()).collect();
    tier_names.push(NO_TIER.to_string());
    let mut tier_by_points: Vec<bool> = ctx
        .tiers
        .iter()
        .map(|t| t.order_by.iter().any(|k| k.attribute == Attribute::Points))
        .collect();
    tier_by_points.push(false);
    StageAllocation {
        stage,
        programs: ctx.programs,
        tier_names,
        tier_by_points,
        members,
        lottery,
        facts,
        serial_rank,
        list_start,
        entries,
        placements,
        markets: total,
    }
}

/// Replaces the lottery part of every key with a per-school draw.
fn multiple_lottery(
    data: &Dataset,
    stage: Stage,
    programs: &[Program],
    members: &[u32],
    list_start: &[u32],
    entries: &mut [Entry],
) {
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
    // Applicants per school (a private school's two programs draw once, together).
    let mut by_school: HashMap<u32, Vec<(u32, usize)>> = HashMap::new();
    for m in 0..members.len() {
        for e in list_start[m] as usize..list_start[m + 1] as usize {
            let school = programs[entries[e].program as usize].school;
            by_school.entry(school).or_default().push((m as u32, e));
        }
    }
    let mut schools: Vec<(u32, Vec<(u32, usize)>)> = by_school.into_iter().collect();
    schools.sort_unstable_by_key(|(s, _)| *s);
    let updates: Vec<Vec<(usize, u32)>> = schools
        .par_iter()
        .map(|(school, apps)| {
            let mut apps = apps.clone();
            apps.sort_by(|a, b| {
                cohort.students[members[a.0 as usize] as usize]
                    .id
                    .as_bytes()
                    .cmp(cohort.students[members[b.0 as usize] as usize].id.as_bytes())
            });
            let ids: Vec<&str> = apps
                .iter()
                .map(|a| cohort.students[members[a.0 as usize] as usize].id.as_str())
                .collect();
            let ranks = crate::lottery::ranks_of_sorted(
                data.policy.seed,
                crate::lottery::school_stream(stage, ordinal[*school as usize]),
                &ids,
            );
            apps.iter().zip(ranks).map(|(a, r)| (a.1, r)).collect()
        })
        .collect();
    for u in updates {
        for (e, r) in u {
            let k = entries[e].key.0;
            entries[e].key = PriorityKey((k & !0xffff_ffffu128) | u128::from(r));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_market(
    data: &Dataset,
    ctx: &StageContext<'_>,
    members: &[u32],
    list_start: &[u32],
    entries: &[Entry],
    serial_rank: &[u32],
    lottery: &[u32],
    market_members: &[u32],
    market_programs: &[u32],
) -> Vec<(u32, Placement)> {
    let local_of: HashMap<u32, u32> = market_programs
        .iter()
        .enumerate()
        .map(|(l, &p)| (p, l as u32))
        .collect();
    let mut market = Market {
        capacity: market_programs
            .iter()
            .map(|&p| ctx.programs[p as usize].capacity)
            .collect(),
        list_start: Vec::with_capacity(market_members.len() + 1),
        list_program: Vec::new(),
        list_key: Vec::new(),
    };
    market.list_start.push(0);
    for &m in market_members {
        for e in &entries[list_start[m as usize] as usize..list_start[m as usize + 1] as usize] {
            market.list_program.push(local_of[&e.program]);
            market.list_key.push(e.key);
        }
        market.list_start.push(market.list_program.len() as u32);
    }
    let matching = match data.policy.mechanism {
        Mechanism::DeferredAcceptance => mechanism::deferred_acceptance(&market),
        Mechanism::ImmediateAcceptance => mechanism::immediate_acceptance(&market),
        Mechanism::SerialDictatorship => {
            let mut order: Vec<u32> = (0..market_members.len() as u32).collect();
            order.sort_unstable_by_key(|&l| serial_rank[market_members[l as usize] as usize]);
            mechanism::serial_dictatorship(&market, &order)
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
            let e = entries[list_start[m as usize] as usize + pos as usize];
            used[local_of[&e.program] as usize] += 1;
            Placement {
                program: e.program,
                position: pos,
                distance_m: e.distance_m,
                tier: priority::unpack(e.key).0 as u32,
            }
        };
        out.push((m, placement));
    }
    guarantee_pass(
        data,
        ctx,
        members,
        list_start,
        entries,
        lottery,
        market_programs,
        &local_of,
        &mut used,
        &mut out,
    );
    out
}

/// Places applicants left without a seat at the nearest public-track program of their home
/// district that still has seats, at any distance, in priority order.
#[allow(clippy::too_many_arguments)]
fn guarantee_pass(
    data: &Dataset,
    ctx: &StageContext<'_>,
    members: &[u32],
    list_start: &[u32],
    entries: &[Entry],
    lottery: &[u32],
    market_programs: &[u32],
    local_of: &HashMap<u32, u32>,
    used: &mut [u32],
    out: &mut [(u32, Placement)],
) {
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
        let s = &cohort.students[members[*m as usize] as usize];
        let facts = priority::facts(policy, cohort, data.scenario.year, members[*m as usize] as usize);
        if policy.guarantee == Guarantee::Eligible && s.migrant && !facts.migrant_eligible {
            continue;
        }
        // Order: the applicant's priority at their first public-track choice, then lottery.
        let first = entries[list_start[*m as usize] as usize..list_start[*m as usize + 1] as usize]
            .iter()
            .find(|e| ctx.programs[e.program as usize].kind.is_public_track())
            .map_or(PriorityKey(u128::MAX), |e| e.key);
        waiting.push((first, lottery[*m as usize], slot));
    }
    if waiting.is_empty() {
        return;
    }
    waiting.sort_unstable();
    let mut nearest_cache: HashMap<u32, Vec<(u32, u32)>> = HashMap::new();
    for (_, _, slot) in waiting {
        let m = out[slot].0 as usize;
        let i = members[m] as usize;
        let s = &cohort.students[i];
        let district = city.blocks[s.block as usize].district;
        let options = nearest_cache.entry(s.block).or_insert_with(|| {
            let mut v: Vec<(u32, u32)> = market_programs
                .iter()
                .copied()
                .filter(|&p| {
                    let prog = &ctx.programs[p as usize];
                    prog.kind.is_public_track() && prog.district == district
                })
                .map(|p| (ctx.distance(ctx.programs[p as usize].school, s.block), p))
                .collect();
            v.sort_unstable();
            v
        });
        let Some(&(d, p)) = options.iter().find(|&&(_, p)| {
            let l = local_of[&p] as usize;
            used[l] < ctx.programs[p as usize].capacity
        }) else {
            continue;
        };
        used[local_of[&p] as usize] += 1;
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
