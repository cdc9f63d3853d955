//! Minimum-cost flow: the project's own primal network simplex.
//!
//! No maintained, permissively licensed min-cost-flow crate exists (see `docs/zoning.md`), so
//! the library owns one. It follows the classic primal network simplex with a strongly
//! feasible spanning tree kept as parent / thread / subtree-size arrays (the layout of LEMON's
//! `NetworkSimplex`) and block-search pricing, with 64-bit integer costs, flows and node
//! potentials.
//!
//! - [`Network`] — a directed graph with node supplies and arcs `(from, to, capacity, cost)`.
//! - [`NetworkSimplex`] — the solver. It keeps its basis between solves, so a caller can
//!   [change costs](NetworkSimplex::set_cost) or [add arcs](NetworkSimplex::add_arc) and
//!   [solve](NetworkSimplex::solve) again from the previous optimum (a warm start), and it can
//!   start from a caller's forest of arcs ([`NetworkSimplex::with_start`]) instead of the
//!   all-artificial basis.
//! - [`successive_shortest_paths`] — the textbook algorithm (Dijkstra with potentials),
//!   kept as the plain reference the simplex is timed against and as a second exact solver.
//! - [`FlowError`] — what is wrong with a network, or why it has no optimum.
//!
//! Optimality is checked in this module's tests against a plain successive-shortest-path
//! solver (Bellman–Ford, written for clarity) and against brute force on many small random
//! networks.
//!
//! ```
//! use xuequ::flow::{Network, NetworkSimplex, INFINITE};
//! // Two suppliers, two consumers: 3 units from node 0, 2 from node 1, 4 to node 2, 1 to node 3.
//! let mut net = Network::new(4);
//! net.set_supply(0, 3);
//! net.set_supply(1, 2);
//! net.set_supply(2, -4);
//! net.set_supply(3, -1);
//! net.add_arc(0, 2, INFINITE, 5);
//! net.add_arc(0, 3, INFINITE, 1);
//! net.add_arc(1, 2, 2, 2);
//! net.add_arc(1, 3, INFINITE, 9);
//! let mut solver = NetworkSimplex::new(&net)?;
//! solver.solve()?;
//! assert_eq!(solver.total_cost(), 2 * 2 + 2 * 5 + 1);
//! # Ok::<(), xuequ::flow::FlowError>(())
//! ```

mod simplex;
mod ssp;
#[cfg(test)]
pub(crate) mod tests;

pub use simplex::NetworkSimplex;
pub use ssp::{SspSolution, successive_shortest_paths};

/// Capacity of an uncapacitated arc.
pub const INFINITE: i64 = i64::MAX;

/// A directed network: node supplies (positive = source, negative = sink) and arcs with a
/// capacity and a per-unit cost. Supplies must sum to zero.
#[derive(Debug, Clone, Default)]
pub struct Network {
    pub(crate) supply: Vec<i64>,
    pub(crate) from: Vec<u32>,
    pub(crate) to: Vec<u32>,
    pub(crate) cap: Vec<i64>,
    pub(crate) cost: Vec<i64>,
    pub(crate) cost_bound: i64,
}

impl Network {
    /// A network of `nodes` nodes with zero supplies and no arcs.
    pub fn new(nodes: usize) -> Self {
        Network {
            supply: vec![0; nodes],
            ..Network::default()
        }
    }

    /// A network of `nodes` nodes with room for `arcs` arcs before its lists grow (a solver
    /// built from it by value takes the lists over, and uses one more slot per node).
    pub fn with_capacity(nodes: usize, arcs: usize) -> Self {
        Network {
            supply: vec![0; nodes],
            from: Vec::with_capacity(arcs),
            to: Vec::with_capacity(arcs),
            cap: Vec::with_capacity(arcs),
            cost: Vec::with_capacity(arcs),
            cost_bound: 0,
        }
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.supply.len()
    }

    /// Number of arcs.
    pub fn arc_count(&self) -> usize {
        self.from.len()
    }

    /// Sets a node's supply (negative for demand).
    pub fn set_supply(&mut self, node: u32, supply: i64) {
        self.supply[node as usize] = supply;
    }

    /// The supply of a node.
    pub fn supply(&self, node: u32) -> i64 {
        self.supply[node as usize]
    }

    /// Adds an arc and returns its index (arcs are numbered in the order added).
    /// `capacity` is [`INFINITE`] for an uncapacitated arc.
    pub fn add_arc(&mut self, from: u32, to: u32, capacity: i64, cost: i64) -> usize {
        self.from.push(from);
        self.to.push(to);
        self.cap.push(capacity);
        self.cost.push(cost);
        self.from.len() - 1
    }

    /// Declares the largest absolute cost any arc will have, including arcs added or costs
    /// changed later on a warm-started solver (default: the largest cost in the network when
    /// the solver is built). The artificial big-M cost is derived from it.
    pub fn set_cost_bound(&mut self, bound: i64) {
        self.cost_bound = bound.max(0);
    }

    /// The endpoints of an arc.
    pub fn arc(&self, arc: usize) -> (u32, u32) {
        (self.from[arc], self.to[arc])
    }
}

/// Why a network has no optimal flow, or cannot be solved as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// Supplies do not sum to zero.
    #[error("node supplies sum to {total}, not 0 (fix: add a sink node whose supply is minus the total)")]
    Unbalanced {
        /// The sum of all supplies.
        total: i128,
    },
    /// An arc names a node that does not exist.
    #[error("arc {arc} names node {node}, but the network has {nodes} nodes (fix: add the node first)")]
    BadNode {
        /// The arc index.
        arc: usize,
        /// The missing node.
        node: u32,
        /// Number of nodes.
        nodes: usize,
    },
    /// An arc has a negative capacity.
    #[error("arc {arc} has negative capacity {capacity} (fix: use 0 to disable the arc)")]
    NegativeCapacity {
        /// The arc index.
        arc: usize,
        /// Its capacity.
        capacity: i64,
    },
    /// Costs or supplies are too large for 64-bit arithmetic.
    #[error("{what} is too large for 64-bit arithmetic (fix: use coarser units, e.g. metres not millimetres)")]
    TooLarge {
        /// What overflowed.
        what: &'static str,
    },
    /// No flow satisfies every supply and demand.
    #[error(
        "no feasible flow: {unrouted} units of supply cannot reach a demand (fix: add capacity or an overflow arc)"
    )]
    Infeasible {
        /// Units left on artificial arcs at the optimum of the big-M problem.
        unrouted: i64,
    },
    /// A negative-cost cycle has unlimited capacity.
    #[error("the cost is unbounded below: a negative-cost cycle has unlimited capacity (fix: cap an arc on the cycle)")]
    Unbounded,
    /// A warm-start change names an arc that does not exist or breaks the declared cost bound.
    #[error("{0}")]
    BadChange(String),
}

/// Checks what every solver here needs of a network: supplies that balance, arcs between
/// existing nodes, no negative capacity, and costs, total supply and cost range × node count
/// small enough for 64-bit sums. Returns the largest absolute cost, at least `cost_floor`.
pub(crate) fn check_network(net: &Network, cost_floor: i64) -> Result<i64, FlowError> {
    let n = net.node_count();
    let total: i128 = net.supply.iter().map(|&s| s as i128).sum();
    if total != 0 {
        return Err(FlowError::Unbalanced { total });
    }
    let mut max_cost = cost_floor;
    for a in 0..net.arc_count() {
        for node in [net.from[a], net.to[a]] {
            if node as usize >= n {
                return Err(FlowError::BadNode { arc: a, node, nodes: n });
            }
        }
        if net.cap[a] < 0 {
            return Err(FlowError::NegativeCapacity {
                arc: a,
                capacity: net.cap[a],
            });
        }
        max_cost = max_cost.max(
            net.cost[a]
                .checked_abs()
                .ok_or(FlowError::TooLarge { what: "a cost" })?,
        );
    }
    let supply_abs: i128 = net.supply.iter().map(|&s| (s as i128).abs()).sum();
    if supply_abs > (i64::MAX / 4) as i128 {
        return Err(FlowError::TooLarge {
            what: "the total supply",
        });
    }
    // Potentials, path lengths and the simplex's big-M cost stay below (max cost + 1) × nodes.
    if (max_cost as i128 + 1) * (n as i128 + 1) > (i64::MAX / 8) as i128 {
        return Err(FlowError::TooLarge {
            what: "the cost range times the node count",
        });
    }
    Ok(max_cost)
}
