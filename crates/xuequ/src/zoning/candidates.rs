//! Candidate arcs: each block's nearest allowed schools plus its current school(s).

use rayon::prelude::*;
use rstar::RTree;
use rstar::primitives::GeomWithData;

use super::distance::Distances;
use super::{ZoningParams, ZoningProblem};

/// An R-tree of school positions (earth-centred metres) for nearest-school queries.
pub(crate) struct SchoolTree {
    tree: RTree<GeomWithData<[f64; 3], u32>>,
}

impl SchoolTree {
    pub(crate) fn new(problem: &ZoningProblem) -> Self {
        let points = problem
            .schools
            .iter()
            .enumerate()
            .map(|(i, s)| GeomWithData::new(s.location.ecef, i as u32))
            .collect();
        SchoolTree {
            tree: RTree::bulk_load(points),
        }
    }

    /// Schools in increasing straight-line distance from `ecef`.
    pub(crate) fn nearest(&self, ecef: [f64; 3]) -> impl Iterator<Item = u32> + '_ {
        self.tree.nearest_neighbor_iter(&ecef).map(|p| p.data)
    }
}

/// For each block, up to `k` nearest allowed schools plus its allowed current schools, as
/// `(school, metres)` sorted by metres then school.
pub(crate) fn candidates(problem: &ZoningProblem, params: &ZoningParams, k: usize) -> Vec<Vec<(u32, u32)>> {
    let tree = match problem.distances {
        Distances::StraightLine => Some(SchoolTree::new(problem)),
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
            if !block.locked {
                match (&tree, &problem.distances) {
                    (Some(tree), _) => {
                        for s in tree.nearest(block.location.ecef).take(scan) {
                            let m = problem.metres(b, s).unwrap_or(u32::MAX);
                            if let Some(max) = params.max_distance_m
                                && m > max
                            {
                                break;
                            }
                            if let Some(m) = problem.allowed_metres(params, b, s) {
                                list.push((s, m));
                                if list.len() == k {
                                    break;
                                }
                            }
                        }
                    }
                    (None, Distances::Table(t)) => {
                        let (ss, _) = t.row(b);
                        let mut all: Vec<(u32, u32)> = ss
                            .iter()
                            .filter_map(|&s| problem.allowed_metres(params, b, s).map(|m| (m, s)))
                            .collect();
                        all.sort_unstable();
                        list.extend(all.into_iter().take(k).map(|(m, s)| (s, m)));
                    }
                    (None, Distances::StraightLine) => {}
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
            list
        })
        .collect()
}
