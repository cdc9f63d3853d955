//! Rounding the flow to whole blocks: each block goes to the school that carries most of its
//! children (ties: the nearer school, then the lower index). A block the flow could not serve
//! (no seat anywhere it may go) and a block without children go to their nearest allowed
//! school; a block with no allowed school stays unassigned.

use super::bound::FlowBound;
use super::candidates::candidates;
use super::{UNASSIGNED, ZoningParams, ZoningProblem};

pub(crate) fn round(problem: &ZoningProblem, params: &ZoningParams, bound: &FlowBound) -> Vec<u32> {
    let mut assignment = vec![UNASSIGNED; problem.blocks.len()];
    let mut need_nearest = false;
    for (b, flows) in bound.flows.iter().enumerate() {
        let best = flows.iter().max_by(|x, y| {
            x.1.cmp(&y.1).then_with(|| {
                let mx = problem.metres(b as u32, x.0).unwrap_or(u32::MAX);
                let my = problem.metres(b as u32, y.0).unwrap_or(u32::MAX);
                my.cmp(&mx).then(y.0.cmp(&x.0))
            })
        });
        match best {
            Some(&(s, _)) => assignment[b] = s,
            None => need_nearest = true,
        }
    }
    if need_nearest {
        let nearest = candidates(problem, params, 1);
        for (b, a) in assignment.iter_mut().enumerate() {
            if *a == UNASSIGNED {
                // The candidate list holds the nearest allowed school and any current ones;
                // prefer a current school, else the nearest.
                let list = &nearest[b];
                let current = list.iter().find(|x| problem.is_current(b as u32, x.0));
                if let Some(&(s, _)) = current.or(list.first()) {
                    *a = s;
                }
            }
        }
    }
    assignment
}
