//! Admission risk by Monte Carlo over lottery seeds: each applicant's and each block's
//! probability of a zone-school seat, each school's probability of filling, and the spread
//! of its cutoff.
//!
//! Draw `k` uses seed [`crate::lottery::monte_carlo_seed`]`(seed, k)`. Candidate lists and
//! priorities other than the lottery are built once per stage and reused by every draw;
//! draws run in parallel and their counts are summed as integers, so the result is the same
//! at any thread count.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::allocate::{self, GUARANTEE_POSITION, Progress, Via};
use crate::error::OutputError;
use crate::io::{CsvWriter, OutputSet};
use crate::load::Dataset;
use crate::mechanism::UNPLACED;
use crate::output::{self, WriteOptions};

/// One seat pool in one draw: pupils placed, and the worst admitted key with its member.
type PoolOutcome = (u32, Option<(u128, u32)>);
/// One draw: per-member flags (1 zone school, 2 first choice, 4 unplaced) and pool outcomes.
type DrawOutcome = (Vec<u8>, Vec<PoolOutcome>);

/// Monte Carlo settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskParams {
    /// Number of lottery draws (default 1000).
    pub draws: u32,
}

impl Default for RiskParams {
    fn default() -> Self {
        RiskParams { draws: 1000 }
    }
}

/// One applicant's odds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicantRisk {
    /// Cohort index.
    pub student: u32,
    /// Draws with a seat at a zone school (or the feeder school).
    pub zone_school: u32,
    /// Draws with a seat at the first school of their list.
    pub first_choice: u32,
    /// Draws without a seat.
    pub unplaced: u32,
}

/// One school's spread over the draws.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchoolRisk {
    /// School index.
    pub school: u32,
    /// Draws in which every seat was taken.
    pub full: u32,
    /// Mean pupils placed.
    pub mean_assigned: f64,
    /// Cutoff lottery numbers over the draws in which the school filled: 10th, 50th and
    /// 90th percentiles (nearest rank), when it filled at least once.
    pub cutoff_lottery: Option<[u32; 3]>,
    /// How often each tier was the cutoff tier, over draws in which it filled.
    pub cutoff_tiers: BTreeMap<String, u32>,
}

/// The risk of one stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageRisk {
    /// Stage.
    pub stage: String,
    /// Per applicant, in cohort order.
    pub applicants: Vec<ApplicantRisk>,
    /// Per school.
    pub schools: Vec<SchoolRisk>,
}

/// The whole result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Risk {
    /// Draws made.
    pub draws: u32,
    /// The published seed the draws derive from.
    pub seed: u64,
    /// Per stage.
    pub stages: Vec<StageRisk>,
}

/// Runs `params.draws` lotteries on every stage of the scenario: the tally of draws
/// `0..params.draws` ([`tally_draws`]), finished.
pub fn lottery_risk(data: &Dataset, params: RiskParams, progress: &(dyn Fn(u32, u32) + Sync)) -> Risk {
    tally_draws_with_progress(data, 0..params.draws, progress).finish()
}

/// Integer counts over a range of lottery draws of one scenario. Tallies of disjoint ranges
/// merge ([`RiskTally::merge`]) in any order, and the merged tally of draws `0..n`
/// finishes ([`RiskTally::finish`]) into exactly the [`Risk`] of [`lottery_risk`] with `n`
/// draws: a sweep split across processes or machines gives the single run's figures. It
/// serialises (serde) so that tallies can travel between processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskTally {
    seed: u64,
    /// The draw ranges counted, sorted and disjoint.
    ranges: Vec<(u32, u32)>,
    stages: Vec<StageTally>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StageTally {
    stage: String,
    applicants: Vec<ApplicantRisk>,
    schools: Vec<SchoolTally>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SchoolTally {
    school: u32,
    full: u32,
    assigned: u64,
    /// The cutoff lottery number of every draw in which the school filled (any order).
    cutoffs: Vec<u32>,
    cutoff_tiers: BTreeMap<String, u32>,
}

/// Why two tallies cannot merge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// The tallies come from different scenarios, seeds or stages.
    #[error(
        "the tallies are of different scenarios (seed, stages, applicants or schools differ) (fix: merge only tallies of one scenario and seed)"
    )]
    DifferentScenario,
    /// A draw was counted in both tallies.
    #[error("draws {start}..{end} are counted in both tallies (fix: give each task its own range of draws)")]
    Overlap {
        /// First draw counted twice.
        start: u32,
        /// One past the last.
        end: u32,
    },
}

impl RiskTally {
    /// The published seed the draws derive from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Draws counted.
    pub fn draws(&self) -> u32 {
        self.ranges.iter().map(|(a, b)| b - a).sum()
    }

    /// The draw ranges counted, sorted, adjacent ranges joined.
    pub fn ranges(&self) -> Vec<std::ops::Range<u32>> {
        self.ranges.iter().map(|&(a, b)| a..b).collect()
    }

    /// Adds the counts of `other`, a tally of the same scenario over other draws.
    pub fn merge(&mut self, other: &RiskTally) -> Result<(), MergeError> {
        let same_shape = self.seed == other.seed
            && self.stages.len() == other.stages.len()
            && self.stages.iter().zip(&other.stages).all(|(a, b)| {
                a.stage == b.stage
                    && a.applicants.len() == b.applicants.len()
                    && a.applicants
                        .iter()
                        .zip(&b.applicants)
                        .all(|(x, y)| x.student == y.student)
                    && a.schools.len() == b.schools.len()
                    && a.schools.iter().zip(&b.schools).all(|(x, y)| x.school == y.school)
            });
        if !same_shape {
            return Err(MergeError::DifferentScenario);
        }
        for &(a, b) in &self.ranges {
            for &(c, d) in &other.ranges {
                if a.max(c) < b.min(d) {
                    return Err(MergeError::Overlap {
                        start: a.max(c),
                        end: b.min(d),
                    });
                }
            }
        }
        let mut ranges: Vec<(u32, u32)> = self.ranges.iter().chain(&other.ranges).copied().collect();
        ranges.sort_unstable();
        self.ranges = ranges
            .into_iter()
            .fold(Vec::new(), |mut joined: Vec<(u32, u32)>, (a, b)| {
                match joined.last_mut() {
                    Some(last) if last.1 == a => last.1 = b,
                    _ => joined.push((a, b)),
                }
                joined
            });
        for (mine, theirs) in self.stages.iter_mut().zip(&other.stages) {
            for (a, b) in mine.applicants.iter_mut().zip(&theirs.applicants) {
                a.zone_school += b.zone_school;
                a.first_choice += b.first_choice;
                a.unplaced += b.unplaced;
            }
            for (a, b) in mine.schools.iter_mut().zip(&theirs.schools) {
                a.full += b.full;
                a.assigned += b.assigned;
                a.cutoffs.extend_from_slice(&b.cutoffs);
                for (tier, count) in &b.cutoff_tiers {
                    *a.cutoff_tiers.entry(tier.clone()).or_default() += count;
                }
            }
        }
        Ok(())
    }

    /// The risk figures of the draws counted.
    pub fn finish(self) -> Risk {
        let draws = self.draws();
        let stages = self
            .stages
            .into_iter()
            .map(|st| StageRisk {
                stage: st.stage,
                applicants: st.applicants,
                schools: st
                    .schools
                    .into_iter()
                    .map(|mut s| {
                        s.cutoffs.sort_unstable();
                        let cutoffs = &s.cutoffs;
                        let pct =
                            |q: f64| cutoffs[((q * cutoffs.len() as f64).ceil() as usize).clamp(1, cutoffs.len()) - 1];
                        SchoolRisk {
                            school: s.school,
                            full: s.full,
                            mean_assigned: if draws == 0 {
                                0.0
                            } else {
                                (s.assigned as f64 / f64::from(draws) * 100.0).round() / 100.0
                            },
                            cutoff_lottery: (!cutoffs.is_empty()).then(|| [pct(0.1), pct(0.5), pct(0.9)]),
                            cutoff_tiers: s.cutoff_tiers,
                        }
                    })
                    .collect(),
            })
            .collect();
        Risk {
            draws,
            seed: self.seed,
            stages,
        }
    }
}

/// Splits draws `0..draws` into consecutive ranges of at most `size` draws (the tasks of a
/// sweep; `size` 0 means one range). Their tallies merge into the tally of `0..draws`.
pub fn draw_chunks(draws: u32, size: u32) -> Vec<std::ops::Range<u32>> {
    let size = if size == 0 { draws.max(1) } else { size };
    (0..draws.div_ceil(size))
        .map(|i| i * size..((i + 1) * size).min(draws))
        .collect()
}

/// Counts the lottery draws `draws` (draw `k` uses seed
/// [`crate::lottery::monte_carlo_seed`]`(policy seed, k)`) on every stage of the scenario.
pub fn tally_draws(data: &Dataset, draws: std::ops::Range<u32>) -> RiskTally {
    tally_draws_with_progress(data, draws, &|_, _| {})
}

/// [`tally_draws`], calling `progress(done, total)` after each draw.
pub fn tally_draws_with_progress(
    data: &Dataset,
    draws: std::ops::Range<u32>,
    progress: &(dyn Fn(u32, u32) + Sync),
) -> RiskTally {
    let quiet = |_: Progress| {};
    let done = std::sync::atomic::AtomicU32::new(0);
    let count = draws.end.saturating_sub(draws.start);
    let total = count * data.scenario.stages.len() as u32;
    let stages = data
        .scenario
        .stages
        .iter()
        .map(|&stage| {
            let prepared = allocate::prepare(data, stage, &quiet);
            let members = prepared.members();
            let programs = prepared.programs();
            let n = members.len();
            // Draws run in parallel batches; each yields per-member outcome flags and per-pool
            // (assigned, worst admitted key), folded into integer counts in draw order.
            let mut applicants: Vec<ApplicantRisk> = members
                .iter()
                .map(|&i| ApplicantRisk {
                    student: i,
                    zone_school: 0,
                    first_choice: 0,
                    unplaced: 0,
                })
                .collect();
            let mut pools_per_draw: Vec<PoolOutcome> = Vec::with_capacity(count as usize * programs.len());
            const BATCH: u32 = 16;
            let mut start = draws.start;
            while start < draws.end {
                let end = start.saturating_add(BATCH).min(draws.end);
                let batch: Vec<DrawOutcome> = (start..end)
                    .into_par_iter()
                    .map(|k| {
                        let seed = crate::lottery::monte_carlo_seed(data.policy.seed, u64::from(k));
                        let d = allocate::draw(&prepared, seed, &quiet);
                        let mut flags = vec![0u8; n];
                        let mut pools: Vec<PoolOutcome> = vec![(0, None); programs.len()];
                        for (m, p) in d.placements().iter().enumerate() {
                            if p.program == UNPLACED {
                                flags[m] = 4;
                                continue;
                            }
                            let slot = &mut pools[p.program as usize];
                            slot.0 += 1;
                            if p.position == GUARANTEE_POSITION {
                                continue;
                            }
                            let e = prepared.list(m)[p.position as usize];
                            flags[m] = u8::from(e.via == Via::Zone) | (u8::from(p.position == 0) << 1);
                            let key = d.key(&prepared, m, p.position as usize);
                            if slot.1.is_none_or(|(w, _)| key > w) {
                                slot.1 = Some((key, m as u32));
                            }
                        }
                        let c = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        progress(c, total);
                        (flags, pools)
                    })
                    .collect();
                for (flags, pools) in batch {
                    for (a, &f) in applicants.iter_mut().zip(&flags) {
                        a.zone_school += u32::from(f & 1);
                        a.first_choice += u32::from((f >> 1) & 1);
                        a.unplaced += u32::from(f >> 2);
                    }
                    pools_per_draw.extend(pools);
                }
                start = end;
            }
            let per_draw: Vec<&[PoolOutcome]> = pools_per_draw.chunks(programs.len().max(1)).collect();
            // Schools: a private school's two pools report under the school.
            let mut by_school: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
            for (i, prog) in programs.iter().enumerate() {
                by_school.entry(prog.school).or_default().push(i);
            }
            let tiers = prepared.tier_names();
            let schools = by_school
                .into_iter()
                .map(|(school, pools)| {
                    let capacity: u32 = pools.iter().map(|&p| programs[p].capacity).sum();
                    let mut tally = SchoolTally {
                        school,
                        full: 0,
                        assigned: 0,
                        cutoffs: Vec::new(),
                        cutoff_tiers: BTreeMap::new(),
                    };
                    let main = pools[0];
                    for s in &per_draw {
                        let assigned: u32 = pools.iter().map(|&p| s[p].0).sum();
                        tally.assigned += u64::from(assigned);
                        if assigned >= capacity && capacity > 0 {
                            tally.full += 1;
                            if let Some((key, _)) = s[main].1 {
                                let (t, _, _, lottery) = crate::priority::unpack(crate::mechanism::PriorityKey(key));
                                tally.cutoffs.push(lottery);
                                let name = if programs[main].kind == allocate::ProgramKind::PrivateChoice {
                                    allocate::PRIVATE_TIER.to_string()
                                } else {
                                    tiers.get(t).cloned().unwrap_or_else(|| allocate::NO_TIER.to_string())
                                };
                                *tally.cutoff_tiers.entry(name).or_default() += 1;
                            }
                        }
                    }
                    tally
                })
                .collect();
            StageTally {
                stage: stage.to_string(),
                applicants,
                schools,
            }
        })
        .collect();
    RiskTally {
        seed: data.policy.seed,
        ranges: if count == 0 {
            Vec::new()
        } else {
            vec![(draws.start, draws.end)]
        },
        stages,
    }
}

fn share(count: u32, draws: u32) -> String {
    if draws == 0 {
        return String::new();
    }
    format!("{:.4}", f64::from(count) / f64::from(draws))
}

/// Adds `risk_applicants.csv`, `risk_blocks.csv`, `risk_schools.csv` to an output set.
pub fn write_risk(set: &mut OutputSet, data: &Dataset, risk: &Risk, options: WriteOptions) -> Result<(), OutputError> {
    let [(an, a), (bn, b), (sn, s)] = risk_csvs(data, risk, options);
    output::write_files(set, &[(an, &a), (bn, &b), (sn, &s)])
}

/// The three risk tables of [`write_risk`] as `(file name, CSV bytes)`, in that order.
pub fn risk_csvs(data: &Dataset, risk: &Risk, options: WriteOptions) -> [(&'static str, Vec<u8>); 3] {
    let city = &data.city;
    let cohort = &data.cohort;
    let mut a = CsvWriter::new(options.bom);
    let mut b = CsvWriter::new(options.bom);
    let mut s = CsvWriter::new(options.bom);
    a.row(&[
        "student_id",
        "stage",
        "block_id",
        "p_zone_school",
        "p_first_choice",
        "p_unplaced",
    ]);
    b.row(&[
        "block_id",
        "name",
        "district",
        "stage",
        "applicants",
        "p_zone_school_mean",
        "p_zone_school_min",
    ]);
    s.row(&[
        "school_id",
        "name",
        "stage",
        "capacity",
        "p_full",
        "mean_assigned",
        "cutoff_lottery_p10",
        "cutoff_lottery_p50",
        "cutoff_lottery_p90",
        "cutoff_tiers",
    ]);
    for st in &risk.stages {
        let mut blocks: BTreeMap<u32, (u32, f64, f64)> = BTreeMap::new();
        for r in &st.applicants {
            let student = &cohort.students[r.student as usize];
            a.row(&[
                cohort.id(r.student as usize),
                &st.stage,
                &city.blocks[student.block as usize].id,
                &share(r.zone_school, risk.draws),
                &share(r.first_choice, risk.draws),
                &share(r.unplaced, risk.draws),
            ]);
            let p = if risk.draws == 0 {
                0.0
            } else {
                f64::from(r.zone_school) / f64::from(risk.draws)
            };
            let e = blocks.entry(student.block).or_insert((0, 0.0, f64::INFINITY));
            e.0 += 1;
            e.1 += p;
            e.2 = e.2.min(p);
        }
        for (block, (n, sum, min)) in blocks {
            let bl = &city.blocks[block as usize];
            b.row(&[
                bl.id.as_str(),
                &bl.name,
                &city.districts[bl.district as usize],
                &st.stage,
                &n.to_string(),
                &format!("{:.4}", sum / f64::from(n)),
                &format!("{min:.4}"),
            ]);
        }
        for r in &st.schools {
            let sc = &city.schools[r.school as usize];
            let pct = |i: usize| r.cutoff_lottery.map_or(String::new(), |c| c[i].to_string());
            let tiers: Vec<String> = r.cutoff_tiers.iter().map(|(t, c)| format!("{t}:{c}")).collect();
            s.row(&[
                sc.id.as_str(),
                &sc.name,
                &st.stage,
                &sc.capacity.to_string(),
                &share(r.full, risk.draws),
                &format!("{}", r.mean_assigned),
                &pct(0),
                &pct(1),
                &pct(2),
                &tiers.join(";"),
            ]);
        }
    }
    [
        ("risk_applicants.csv", a.into_bytes()),
        ("risk_blocks.csv", b.into_bytes()),
        ("risk_schools.csv", s.into_bytes()),
    ]
}
