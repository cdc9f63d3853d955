//! Multi-school zones (多校划片): an opt-in post-process that groups adjacent hot zones into
//! one zone served by lottery.
//!
//! A school is *hot* when the demand of its zone is at least `min_utilisation` × its capacity.
//! Two zones are adjacent when an adjacency edge joins blocks of the two zones. Hot schools are
//! taken hottest first (ties by school index); each one not yet in a group grows a group by
//! merging the adjacent group that best relieves it: one whose merge keeps the combined demand
//! within the combined capacity first, then the most spare seats, then the lowest school index.
//! A group keeps growing while its demand exceeds its capacity, up to `max_group` schools.
//! Every group is therefore connected in the zone adjacency and holds at least one hot school.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::adjacency::Adjacency;
use super::{UNASSIGNED, ZoningProblem};

/// Controls of the multi-school grouping (`[multi_school]` in `zoning.toml`, `--multi-school`).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultiSchoolParams {
    /// A school is hot when its zone's demand / capacity is at least this (default 0.95).
    pub min_utilisation: f64,
    /// Most schools in one group (default 3, at least 2).
    pub max_group: usize,
}

impl Default for MultiSchoolParams {
    fn default() -> Self {
        MultiSchoolParams {
            min_utilisation: 0.95,
            max_group: 3,
        }
    }
}

/// One multi-school zone: two or more schools whose zones are served together by lottery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchoolGroup {
    /// Group id, `G1`, `G2`, … in the order of each group's lowest school index.
    pub group_id: String,
    /// Member schools (indices into the problem's schools), ascending.
    #[serde(skip)]
    pub schools: Vec<u32>,
    /// Member school ids, in the same order.
    pub school_ids: Vec<String>,
    /// Children zoned to the member schools.
    pub demand: u64,
    /// Seats of the member schools.
    pub capacity: u64,
    /// demand / capacity (0 without seats).
    pub utilisation: f64,
}

/// Schools of each zone adjacent to it (two zones are adjacent when an adjacency edge joins
/// blocks of the two).
pub(crate) fn zone_adjacency(n_schools: usize, adj: &Adjacency, assignment: &[u32]) -> Vec<BTreeSet<u32>> {
    let mut nbrs = vec![BTreeSet::new(); n_schools];
    for b in 0..adj.len().min(assignment.len()) {
        let sa = assignment[b];
        if sa == UNASSIGNED {
            continue;
        }
        for &c in adj.neighbours(b as u32) {
            if let Some(&sb) = assignment.get(c as usize)
                && sb != UNASSIGNED
                && sb != sa
            {
                nbrs[sa as usize].insert(sb);
                nbrs[sb as usize].insert(sa);
            }
        }
    }
    nbrs
}

/// Per school: children zoned to it.
pub(crate) fn zone_demand(problem: &ZoningProblem, assignment: &[u32]) -> Vec<u64> {
    let mut demand = vec![0u64; problem.schools.len()];
    for (b, &s) in assignment.iter().enumerate() {
        if s != UNASSIGNED {
            demand[s as usize] += problem.blocks[b].demand as u64;
        }
    }
    demand
}

/// True when a zone with `demand` children and `capacity` seats is hot.
pub(crate) fn is_hot(demand: u64, capacity: u64, min_utilisation: f64) -> bool {
    demand > 0 && demand as f64 >= min_utilisation * capacity as f64
}

/// Groups adjacent hot zones of an assignment (see the module documentation). Returns only
/// groups of two or more schools, in the order of their lowest school index.
pub fn group_schools(
    problem: &ZoningProblem,
    assignment: &[u32],
    adj: &Adjacency,
    params: &MultiSchoolParams,
) -> Vec<SchoolGroup> {
    let n = problem.schools.len();
    let demand = zone_demand(problem, assignment);
    let capacity: Vec<u64> = problem.schools.iter().map(|s| s.capacity as u64).collect();
    let nbrs = zone_adjacency(n, adj, assignment);
    let util = |s: usize| {
        if capacity[s] == 0 {
            f64::INFINITY
        } else {
            demand[s] as f64 / capacity[s] as f64
        }
    };
    let mut hot: Vec<usize> = (0..n)
        .filter(|&s| is_hot(demand[s], capacity[s], params.min_utilisation))
        .collect();
    hot.sort_by(|&a, &b| util(b).total_cmp(&util(a)).then(a.cmp(&b)));

    let mut members: Vec<Vec<u32>> = (0..n as u32).map(|s| vec![s]).collect();
    let mut group_of: Vec<usize> = (0..n).collect();
    let sums = |m: &[u32]| -> (u64, u64) {
        m.iter()
            .fold((0, 0), |(d, c), &s| (d + demand[s as usize], c + capacity[s as usize]))
    };
    for h in hot {
        let g = group_of[h];
        if members[g].len() > 1 {
            continue;
        }
        while members[g].len() < params.max_group {
            let (gd, gc) = sums(&members[g]);
            if members[g].len() > 1 && gd <= gc {
                break;
            }
            let candidates: BTreeSet<usize> = members[g]
                .iter()
                .flat_map(|&s| nbrs[s as usize].iter().map(|&t| group_of[t as usize]))
                .filter(|&o| o != g && members[g].len() + members[o].len() <= params.max_group)
                .collect();
            // Best: the merge fits, then most spare seats, then the lowest school index.
            let best = candidates.into_iter().max_by(|&a, &b| {
                let key = |o: usize| {
                    let (d, c) = sums(&members[o]);
                    (gd + d <= gc + c, c as i128 - d as i128)
                };
                key(a).cmp(&key(b)).then(members[b][0].cmp(&members[a][0]))
            });
            let Some(o) = best else { break };
            let moved = std::mem::take(&mut members[o]);
            for &s in &moved {
                group_of[s as usize] = g;
            }
            members[g].extend(moved);
            members[g].sort_unstable();
        }
    }
    let mut groups: Vec<Vec<u32>> = members.into_iter().filter(|m| m.len() > 1).collect();
    groups.sort_unstable_by_key(|m| m[0]);
    groups
        .into_iter()
        .enumerate()
        .map(|(i, schools)| {
            let (d, c) = sums(&schools);
            let utilisation = if c == 0 {
                0.0
            } else {
                (d as f64 / c as f64 * 10_000.0).round() / 10_000.0
            };
            SchoolGroup {
                group_id: format!("G{}", i + 1),
                school_ids: schools
                    .iter()
                    .map(|&s| problem.schools[s as usize].id.clone())
                    .collect(),
                schools,
                demand: d,
                capacity: c,
                utilisation,
            }
        })
        .collect()
}

/// For each school, the index of its group in `groups`, if any.
pub fn group_index(n_schools: usize, groups: &[SchoolGroup]) -> Vec<Option<usize>> {
    let mut of = vec![None; n_schools];
    for (i, g) in groups.iter().enumerate() {
        for &s in &g.schools {
            if let Some(x) = of.get_mut(s as usize) {
                *x = Some(i);
            }
        }
    }
    of
}
