//! Candidate arcs: each block's nearest allowed schools plus its current school(s).

use crate::spatial::NearestPoints;
use rayon::prelude::*;

use super::distance::Distances;
use super::{ZoningParams, ZoningProblem};

/// Nearest-school search over the problem's schools, valid for queries at its blocks.
pub(crate) fn nearest_schools(problem: &ZoningProblem) -> NearestPoints {
    let schools: Vec<_> = problem.schools.iter().map(|s| s.location).collect();
    let lat_abs = problem.blocks.iter().map(|b| b.location.lat.abs()).fold(0.0, f64::max);
    NearestPoints::new(&schools, lat_abs)
}

/// For each block, up to `k` nearest allowed schools plus its allowed current schools, as
/// `(school, metres)` sorted by metres then school.
pub(crate) fn candidates(problem: &ZoningProblem, params: &ZoningParams, k: usize) -> Vec<Vec<(u32, u32)>> {
    candidates_covered(problem, params, k).0
}

/// [`candidates`], plus for each block a distance below which every allowed school is among
/// its candidates (`u32::MAX` when all are), so the certificate can skip such blocks.
pub(crate) fn candidates_covered(
    problem: &ZoningProblem,
    params: &ZoningParams,
    k: usize,
) -> (Vec<Vec<(u32, u32)>>, Vec<u32>) {
    let tree = match problem.distances {
        Distances::StraightLine => Some(nearest_schools(problem)),
        Distances::Table(_) => None,
    };
    // Scan at most this many nearest schools looking for allowed ones (district or distance
    // limits can make most of them disallowed); the certificate adds any arc missed here.
    let scan = (8 * k).max(64);
    (0..problem.blocks.len() as u32)
        .into_par_iter()
        .map(|b| {
            let mut list: Vec<(u32, u32)> = Vec::with_capacity(k + 1);
            let block = &problem.blocks[b as usize];
            let mut covered = u32::MAX;
            if !block.locked {
                match (&tree, &problem.distances) {
                    (Some(tree), _) => {
                        for (scanned, (s, lower)) in tree.around(&block.location).enumerate() {
                            if let Some(max) = params.max_distance_m
                                && lower > max as f64
                            {
                                break;
                            }
                            if scanned == scan {
                                // Unscanned schools are at least this far.
                                covered = lower.max(0.0).floor() as u32;
                                break;
                            }
                            if let Some(m) = problem.allowed_metres(params, b, s) {
                                list.push((s, m));
                                if list.len() == k {
                                    covered = m;
                                    break;
                                }
                            }
                        }
                    }
                    (None, Distances::Table(t)) => {
                        // The row holds each school's metres: no second look-up per pair.
                        let (ss, ms) = t.row(b);
                        let mut all: Vec<(u32, u32)> = ss
                            .iter()
                            .zip(ms)
                            .filter_map(|(&s, &m)| problem.allowed_move_at(params, b, s, m).map(|(m, _)| (m, s)))
                            .collect();
                        all.sort_unstable();
                        if all.len() > k {
                            covered = all[k - 1].0;
                        }
                        list.extend(all.into_iter().take(k).map(|(m, s)| (s, m)));
                    }
                    (None, Distances::StraightLine) => covered = 0,
                }
            }
            for &s in problem.current.schools_of(b) {
                if !list.iter().any(|x| x.0 == s)
                    && let Some(m) = problem.allowed_metres(params, b, s)
                {
                    list.push((s, m));
                }
            }
            list.sort_unstable_by_key(|&(s, m)| (m, s));
            (list, covered)
        })
        .unzip()
}
