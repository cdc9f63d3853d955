//! Stability against the current zones: the λ sweep ("children moved vs extra travel") and
//! the hard cap on children moved, found by bisection on λ.
//!
//! Each λ is one warm-started flow solve: only the costs of arcs leaving a block's current
//! zone change, so the previous optimal basis stays feasible.

use super::bound::{BoundSolver, FlowBound, MAX_LAMBDA_M};
use super::{ZoningError, ZoningParams, ZoningProblem, ZoningProgress};

/// One point of the stability curve.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPoint {
    /// λ in metres per child.
    pub lambda_m: u32,
    /// Children moved away from their current zone (flow bound).
    pub moved: u64,
    /// Moved as a share of children who have a current zone.
    pub moved_share: f64,
    /// Travel, children × metres.
    pub travel: i128,
    /// Travel above the λ = 0 travel, as a share of it.
    pub extra_travel_share: f64,
    /// The bound's objective at this λ.
    pub objective: i128,
}

/// Solves the flow bound at each λ (in the order given, each from the previous basis) and
/// returns the curve. The first solve is always at λ = 0, the base of `extra_travel_share`.
pub fn sweep(
    problem: &ZoningProblem,
    params: &ZoningParams,
    lambdas: &[u32],
    progress: &dyn Fn(ZoningProgress),
) -> Result<Vec<SweepPoint>, ZoningError> {
    let mut solver = BoundSolver::new(problem, params, 0)?;
    solver.solve(progress)?;
    let base = solver.bound().travel;
    let movable = problem.movable_children();
    let mut out = Vec::with_capacity(lambdas.len());
    for &l in lambdas {
        solver.set_lambda(l)?;
        solver.solve(progress)?;
        let b = solver.bound();
        out.push(point(l, &b, base, movable));
    }
    Ok(out)
}

fn point(lambda_m: u32, b: &FlowBound, base: i128, movable: u64) -> SweepPoint {
    SweepPoint {
        lambda_m,
        moved: b.moved,
        moved_share: if movable == 0 {
            0.0
        } else {
            b.moved as f64 / movable as f64
        },
        travel: b.travel,
        extra_travel_share: if base == 0 {
            0.0
        } else {
            (b.travel - base) as f64 / base as f64
        },
        objective: b.objective,
    }
}

/// The smallest λ (to within 1 %, and at least `params.stability_m`) whose flow bound moves
/// at most `max_moved` children, and that bound. When no λ up to the maximum meets the cap
/// (closed schools or capacity force the moves), the maximum λ and its bound are returned;
/// the report then shows the cap was missed.
pub fn lambda_for_cap(
    problem: &ZoningProblem,
    params: &ZoningParams,
    max_moved: u64,
    progress: &dyn Fn(ZoningProgress),
) -> Result<(u32, FlowBound), ZoningError> {
    let lo_start = params.stability_m.min(MAX_LAMBDA_M);
    let mut solver = BoundSolver::new(problem, params, lo_start)?;
    let at = |solver: &mut BoundSolver, l: u32| -> Result<u64, ZoningError> {
        solver.set_lambda(l)?;
        solver.solve(progress)?;
        let moved = solver.bound().moved;
        progress(ZoningProgress::Lambda { lambda_m: l, moved });
        Ok(moved)
    };
    if at(&mut solver, lo_start)? <= max_moved {
        return Ok((lo_start, solver.bound()));
    }
    let mut lo = lo_start;
    let mut hi = lo_start.max(64);
    loop {
        hi = hi.saturating_mul(2).min(MAX_LAMBDA_M);
        if at(&mut solver, hi)? <= max_moved {
            break;
        }
        lo = hi;
        if hi == MAX_LAMBDA_M {
            return Ok((hi, solver.bound()));
        }
    }
    while hi - lo > (hi / 100).max(1) {
        let mid = lo + (hi - lo) / 2;
        if at(&mut solver, mid)? <= max_moved {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    at(&mut solver, hi)?;
    Ok((hi, solver.bound()))
}
