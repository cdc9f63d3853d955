//! The independent audit run after every allocation.
//!
//! It reads only the problem (applicants' candidate lists with their priorities, program
//! capacities, the school table) and the final placements, and recounts everything itself:
//! it shares no bookkeeping with the mechanisms (no heaps, counters or round state). It checks
//!
//! - **accounted**: every applicant of every allocated stage appears exactly once;
//! - **capacity**: no school, and no seat pool within a school, is over capacity;
//! - **from_list**: every seat comes from the applicant's own list, or from the final
//!   placement pass at a public-track school of the home district that had a seat left;
//! - **stability**, the property that defines the mechanism: no justified envy and no
//!   wasted seat under deferred acceptance; the same with priorities "choice rank first"
//!   under immediate acceptance (the Boston outcome is stable for those priorities); the
//!   global order respected under serial dictatorship;
//! - **migrant_guarantee** (应收尽收): no eligible migrant applicant left unplaced while the
//!   home district still has a public-track seat.

use rayon::prelude::*;
use serde::Serialize;

use crate::allocate::{Allocation, GUARANTEE_POSITION, ProgramKind, StageAllocation};
use crate::load::Dataset;
use crate::mechanism::UNPLACED;
use crate::policy::{Guarantee, Mechanism};

/// The result of one check.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    /// Short name.
    pub name: String,
    /// What was checked.
    pub description: String,
    /// True when no violation was found.
    pub passed: bool,
    /// False for checks that only inform (a failure does not fail the run).
    pub enforced: bool,
    /// Number of violations.
    pub violations: usize,
    /// Up to ten violations, as text.
    pub examples: Vec<String>,
}

/// All checks of one allocation.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditReport {
    /// The checks, in a fixed order.
    pub checks: Vec<Check>,
}

impl AuditReport {
    /// True when every enforced check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed || !c.enforced)
    }

    /// The first violation of an enforced check, as text.
    pub fn first_violation(&self) -> Option<String> {
        self.checks
            .iter()
            .find(|c| c.enforced && !c.passed)
            .map(|c| format!("{}: {}", c.name, c.examples.first().cloned().unwrap_or_default()))
    }

    /// Total violations of enforced checks.
    pub fn violation_count(&self) -> usize {
        self.checks.iter().filter(|c| c.enforced).map(|c| c.violations).sum()
    }
}

struct Collector {
    name: &'static str,
    description: String,
    enforced: bool,
    violations: usize,
    examples: Vec<String>,
}

impl Collector {
    fn new(name: &'static str, description: impl Into<String>) -> Self {
        Collector {
            name,
            description: description.into(),
            enforced: true,
            violations: 0,
            examples: Vec::new(),
        }
    }
    fn add(&mut self, msg: String) {
        self.violations += 1;
        if self.examples.len() < 10 {
            self.examples.push(msg);
        }
    }
    fn extend(&mut self, msgs: Vec<String>) {
        for m in msgs {
            self.add(m);
        }
    }
    fn finish(self) -> Check {
        Check {
            name: self.name.to_string(),
            description: self.description,
            passed: self.violations == 0,
            enforced: self.enforced,
            violations: self.violations,
            examples: self.examples,
        }
    }
}

/// Audits an allocation of `data`.
pub fn audit(data: &Dataset, allocation: &Allocation) -> AuditReport {
    let cohort = &data.cohort;
    let city = &data.city;
    let mut accounted = Collector::new(
        "accounted",
        "每个分配学段的每名申请人恰好出现一次 / every applicant of every allocated stage appears exactly once",
    );
    let mut seen = vec![0u8; cohort.students.len()];
    for st in &allocation.stages {
        if st.placements.len() != st.members.len() || st.lottery.len() != st.members.len() {
            accounted.add(format!(
                "stage {}: {} applicants but {} results",
                st.stage,
                st.members.len(),
                st.placements.len()
            ));
        }
        for &i in &st.members {
            match seen.get_mut(i as usize) {
                Some(c) => *c = c.saturating_add(1),
                None => accounted.add(format!("result for unknown applicant index {i}")),
            }
            if cohort.students.get(i as usize).is_some_and(|s| s.stage != st.stage) {
                accounted.add(format!(
                    "{} is a {} applicant but was allocated with {}",
                    cohort.id(i as usize),
                    cohort.students[i as usize].stage,
                    st.stage
                ));
            }
        }
    }
    for (i, s) in cohort.students.iter().enumerate() {
        let expected = u8::from(data.scenario.stages.contains(&s.stage));
        if seen[i] != expected {
            accounted.add(format!(
                "{} appears {} times (expected {expected})",
                cohort.id(i),
                seen[i]
            ));
        }
    }

    let mut capacity = Collector::new(
        "capacity",
        "没有学校或学位池超过学位数 / no school and no seat pool is over capacity",
    );
    let mut from_list = Collector::new(
        "from_list",
        "每个学位都来自申请人的志愿，或来自本区公办学校的兜底安置 / every seat comes from the applicant's list, or from the final placement pass at a public-track school of the home district",
    );
    let stability_name = match data.policy.mechanism {
        Mechanism::DeferredAcceptance => "stability",
        Mechanism::ImmediateAcceptance => "boston_stability",
        Mechanism::SerialDictatorship => "serial_order",
    };
    let stability_desc = match data.policy.mechanism {
        Mechanism::DeferredAcceptance => {
            "没有申请人更想去一所仍有空位或录取了更低顺位者的学校（无合理嫉妒、无浪费） / no applicant prefers a school that had a free seat or admitted someone of lower priority there (no justified envy, no waste)"
        }
        Mechanism::ImmediateAcceptance => {
            "志愿优先（即时录取）性质：没有申请人更想去一所仍有空位、或录取了把它排得更后或同位次但顺位更低者的学校 / the immediate-acceptance property: no applicant prefers a school that had a free seat or admitted someone who listed it lower, or at the same rank with lower priority"
        }
        Mechanism::SerialDictatorship => {
            "没有申请人更想去一所仍有空位或录取了全局次序更靠后者的学校 / no applicant prefers a school that had a free seat or admitted someone later in the global order"
        }
    };
    let mut stability = Collector::new(stability_name, stability_desc);
    let mut migrant = Collector::new(
        "migrant_guarantee",
        "本区仍有公办学位时，没有符合条件的随迁子女未被录取（应收尽收） / no eligible migrant applicant is unplaced while the home district still has a public-track seat",
    );
    migrant.enforced = data.policy.audit.require_migrant_guarantee && data.policy.guarantee != Guarantee::None;

    for st in &allocation.stages {
        audit_stage(data, st, &mut capacity, &mut from_list, &mut stability, &mut migrant);
    }
    // School-level capacity, summing every pool of the school across the stage results.
    let mut per_school = vec![0u64; city.schools.len()];
    for st in &allocation.stages {
        for p in &st.placements {
            if p.program != UNPLACED
                && let Some(prog) = st.programs.get(p.program as usize)
            {
                per_school[prog.school as usize] += 1;
            }
        }
    }
    for (s, &n) in per_school.iter().enumerate() {
        if n > u64::from(city.schools[s].capacity) {
            capacity.add(format!(
                "school {} has {n} pupils for {} seats",
                city.schools[s].id, city.schools[s].capacity
            ));
        }
    }
    AuditReport {
        checks: vec![
            accounted.finish(),
            capacity.finish(),
            from_list.finish(),
            stability.finish(),
            migrant.finish(),
        ],
    }
}

/// Members per parallel run of the seat recount.
const RECOUNT_RUN: usize = 1 << 16;

/// Seats counted over a run of members ([`audit_stage`]).
#[derive(Debug, PartialEq)]
struct Recount {
    /// Seats taken per program.
    used: Vec<u32>,
    /// Seats taken from the list per program.
    used_by_list: Vec<u32>,
    /// Worst admitted effective key per program among list placements, and its member.
    worst: Vec<Option<(u128, usize)>>,
    /// Placements that are not from the list nor a valid final pass, in member order.
    problems: Vec<String>,
}

impl Recount {
    fn new(programs: usize) -> Self {
        Recount {
            used: vec![0; programs],
            used_by_list: vec![0; programs],
            worst: vec![None; programs],
            problems: Vec::new(),
        }
    }

    /// These counts followed by those of the members after them.
    fn then(mut self, next: Recount) -> Recount {
        for (a, b) in self.used.iter_mut().zip(&next.used) {
            *a += b;
        }
        for (a, b) in self.used_by_list.iter_mut().zip(&next.used_by_list) {
            *a += b;
        }
        for (a, b) in self.worst.iter_mut().zip(next.worst) {
            if let Some((k, m)) = b
                && a.is_none_or(|(wk, _)| k > wk)
            {
                *a = Some((k, m));
            }
        }
        self.problems.extend(next.problems);
        self
    }
}

/// The effective priority the mechanism must respect: member `m`'s key at list position
/// `pos`.
fn effective_key(mechanism: Mechanism, st: &StageAllocation, m: usize, pos: usize) -> u128 {
    match mechanism {
        Mechanism::DeferredAcceptance => st.key(m, pos).0,
        Mechanism::ImmediateAcceptance => ((pos.min(0xffff) as u128) << 112) | st.key(m, pos).0,
        Mechanism::SerialDictatorship => u128::from(st.serial_rank[m]),
    }
}

/// Recounts seats (all placements, and list placements only: the mechanism's outcome) and
/// finds the worst admitted (largest) effective key per program among list placements, in
/// parallel runs of `run` members merged in member order: the problems keep their order and
/// a tie keeps the first member, as one pass in order would.
fn recount_seats(data: &Dataset, st: &StageAllocation, run: usize) -> Recount {
    let cohort = &data.cohort;
    let city = &data.city;
    let n_prog = st.programs.len();
    let id = |m: usize| cohort.id(st.members[m] as usize);
    let school_id = |p: u32| city.schools[st.programs[p as usize].school as usize].id.as_str();
    let recount = |members: std::ops::Range<usize>| -> Recount {
        let mut r = Recount::new(n_prog);
        for m in members {
            let p = st.placements[m];
            if p.program == UNPLACED {
                if p.position != UNPLACED {
                    r.problems.push(format!("{} has a list position but no school", id(m)));
                }
                continue;
            }
            let Some(prog) = st.programs.get(p.program as usize) else {
                r.problems
                    .push(format!("{} was given an unknown seat pool {}", id(m), p.program));
                continue;
            };
            r.used[p.program as usize] += 1;
            if p.position == GUARANTEE_POSITION {
                let home = city.blocks[cohort.students[st.members[m] as usize].block as usize].district;
                if !prog.kind.is_public_track() || prog.district != home {
                    r.problems.push(format!(
                    "{} was placed by the final pass at {}, which is not a public-track school of the home district",
                    id(m),
                    school_id(p.program)
                ));
                }
                if data.policy.guarantee == Guarantee::None {
                    r.problems
                        .push(format!("{} was placed by a final pass the policy turned off", id(m)));
                }
                continue;
            }
            let list = st.list(m);
            match list.get(p.position as usize) {
                Some(e) if e.program == p.program => r.used_by_list[p.program as usize] += 1,
                _ => r.problems.push(format!(
                    "{} holds a seat at {} that is not at list position {}",
                    id(m),
                    school_id(p.program),
                    p.position + 1
                )),
            }
            if (p.position as usize) < list.len() {
                let k = effective_key(data.policy.mechanism, st, m, p.position as usize);
                let w = &mut r.worst[p.program as usize];
                if w.is_none_or(|(wk, _)| k > wk) {
                    *w = Some((k, m));
                }
            }
        }
        r
    };
    let run = run.max(1);
    (0..st.members.len())
        .step_by(run)
        .map(|from| from..(from + run).min(st.members.len()))
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(recount)
        .reduce(|| Recount::new(n_prog), Recount::then)
}

fn audit_stage(
    data: &Dataset,
    st: &StageAllocation,
    capacity: &mut Collector,
    from_list: &mut Collector,
    stability: &mut Collector,
    migrant: &mut Collector,
) {
    let cohort = &data.cohort;
    let city = &data.city;
    let n_prog = st.programs.len();
    let id = |m: usize| cohort.id(st.members[m] as usize);
    let school_id = |p: u32| city.schools[st.programs[p as usize].school as usize].id.as_str();

    let Recount {
        used,
        used_by_list,
        worst,
        problems,
    } = recount_seats(data, st, RECOUNT_RUN);
    from_list.extend(problems);
    let mechanism = data.policy.mechanism;
    let effective = |m: usize, pos: usize| effective_key(mechanism, st, m, pos);
    for (p, prog) in st.programs.iter().enumerate() {
        if used[p] > prog.capacity {
            let kind = match prog.kind {
                ProgramKind::Public => "seats",
                ProgramKind::PrivateChoice => "private lottery seats",
                ProgramKind::Purchased => "purchased seats",
            };
            capacity.add(format!(
                "{} has {} pupils for {} {kind}",
                school_id(p as u32),
                used[p],
                prog.capacity
            ));
        }
    }

    // Only the violations are collected (usually none): a list per member would take 24
    // bytes of fresh memory for each, a quarter of a gigabyte at ten million.
    let violations: Vec<String> = (0..st.members.len())
        .into_par_iter()
        .flat_map_iter(|m| {
            let p = st.placements[m];
            let list = st.list(m);
            let upto = if p.program == UNPLACED || p.position == GUARANTEE_POSITION {
                list.len()
            } else {
                (p.position as usize).min(list.len())
            };
            let mut out = Vec::new();
            for (pos, e) in list.iter().enumerate().take(upto) {
                let prog = e.program as usize;
                if prog >= n_prog {
                    continue;
                }
                if used_by_list[prog] < st.programs[prog].capacity {
                    out.push(format!(
                        "{} ranked {} (choice {}) above the result, and it had a free seat",
                        id(m),
                        school_id(e.program),
                        pos + 1
                    ));
                } else if let Some((wk, wm)) = worst[prog]
                    && wk > effective(m, pos)
                {
                    out.push(format!(
                        "{} ranked {} (choice {}) above the result and has higher priority there than admitted {}",
                        id(m),
                        school_id(e.program),
                        pos + 1,
                        id(wm)
                    ));
                }
            }
            out
        })
        .collect();
    stability.extend(violations);

    // 应收尽收: eligible migrants unplaced while the district has public-track seats.
    let mut free_by_district = std::collections::HashMap::<u32, u64>::new();
    for (p, prog) in st.programs.iter().enumerate() {
        if prog.kind.is_public_track() {
            *free_by_district.entry(prog.district).or_default() += u64::from(prog.capacity.saturating_sub(used[p]));
        }
    }
    for (m, p) in st.placements.iter().enumerate() {
        if p.program != UNPLACED
            || !crate::priority::facts(&data.policy, cohort, data.scenario.year, st.members[m] as usize)
                .migrant_eligible
        {
            continue;
        }
        let district = city.blocks[cohort.students[st.members[m] as usize].block as usize].district;
        let free = free_by_district.get(&district).copied().unwrap_or(0);
        if free > 0 {
            migrant.add(format!(
                "eligible migrant applicant {} is unplaced while {} has {free} public-track {} seats left",
                id(m),
                city.districts[district as usize],
                st.stage
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::allocate::{Allocation, Placement};
    use crate::test_support::demo;

    /// The demo's allocation with some placements changed: moved to another program and
    /// position, unplaced (with or without a position), placed by the final pass, or given an
    /// unknown program.
    fn tampered(changes: &[(usize, u8, u32, u32)]) -> Allocation {
        let (_, allocation) = demo();
        let mut allocation = allocation.clone();
        for &(which, how, program, position) in changes {
            let stages = allocation.stages.len();
            let st = &mut allocation.stages[which % stages];
            if st.placements.is_empty() {
                continue;
            }
            let m = (program as usize * 7919 + position as usize) % st.placements.len();
            let n_prog = st.programs.len() as u32;
            st.placements[m] = match how % 5 {
                0 => Placement {
                    program: program % n_prog,
                    position: position % 4,
                    ..st.placements[m]
                },
                1 => Placement {
                    program: UNPLACED,
                    position: UNPLACED,
                    ..st.placements[m]
                },
                2 => Placement {
                    program: UNPLACED,
                    position: position % 3,
                    ..st.placements[m]
                },
                3 => Placement {
                    program: program % n_prog,
                    position: GUARANTEE_POSITION,
                    ..st.placements[m]
                },
                _ => Placement {
                    program: n_prog + program % 3,
                    position: 0,
                    ..st.placements[m]
                },
            };
        }
        allocation
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Recounting in parallel runs of any length gives what one run over the members in
        /// order gives: counts, worst admitted keys (first member on a tie) and problems in
        /// member order.
        #[test]
        fn recounting_in_runs_equals_one_pass_in_order(
            changes in proptest::collection::vec((0usize..3, 0u8..5, 0u32..5000, 0u32..50), 0..40),
            run in 1usize..700,
        ) {
            let (data, _) = demo();
            let allocation = tampered(&changes);
            for st in &allocation.stages {
                let one_pass = recount_seats(data, st, st.members.len().max(1));
                proptest::prop_assert_eq!(recount_seats(data, st, run), one_pass);
            }
        }
    }

    /// The audit passes the demo's allocation and fails a tampered one, naming the check.
    #[test]
    fn a_tampered_allocation_fails_the_audit() {
        let (data, allocation) = demo();
        assert!(audit(data, allocation).passed());
        // Everyone of the first stage at one program, at list position 0.
        let mut crowded = allocation.clone();
        for p in &mut crowded.stages[0].placements {
            *p = Placement {
                program: 0,
                position: 0,
                ..*p
            };
        }
        let report = audit(data, &crowded);
        assert!(!report.passed());
        let failed: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| c.violations > 0)
            .map(|c| c.name.as_str())
            .collect();
        assert!(failed.contains(&"capacity"), "{failed:?}");
        assert!(failed.contains(&"from_list"), "{failed:?}");
        // An unknown program is reported, not a panic.
        let unknown = tampered(&[(0, 4, 1, 0)]);
        let report = audit(data, &unknown);
        assert!(report.checks.iter().any(|c| c.name == "from_list" && c.violations > 0));
    }
}
