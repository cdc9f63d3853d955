//! Candidate arcs: each block's nearest allowed schools plus its current school(s).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::spatial::PointIndex;
use rayon::prelude::*;

use super::distance::Distances;
use super::{ZoningParams, ZoningProblem};

/// The library's point index over school positions, for nearest-school queries.
pub(crate) struct SchoolTree {
    tree: PointIndex,
}

impl SchoolTree {
    pub(crate) fn new(problem: &ZoningProblem) -> Self {
        SchoolTree {
            tree: PointIndex::new(
                problem
                    .schools
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (s.location.ecef, i as u32)),
            ),
        }
    }
}

/// A uniform longitude/latitude grid of schools: nearest-school queries by expanding rings of
/// cells, ordered exactly by chord (so by great-circle distance), several times faster than an
/// R-tree. Built when every point lies within 70° of the equator and the city spans less than
/// 90° of longitude; otherwise the R-tree serves.
pub(crate) struct SchoolGrid {
    lon0: f64,
    lat0: f64,
    dlon: f64,
    dlat: f64,
    nx: i64,
    ny: i64,
    /// Lower bound on the chord across one cell, metres.
    cell_m: f64,
    start: Vec<u32>,
    items: Vec<u32>,
    ecef: Vec<[f64; 3]>,
}

impl SchoolGrid {
    pub(crate) fn new(problem: &ZoningProblem) -> Option<SchoolGrid> {
        let (mut lo, mut hi) = ((f64::INFINITY, f64::INFINITY), (f64::NEG_INFINITY, f64::NEG_INFINITY));
        for s in &problem.schools {
            lo = (lo.0.min(s.location.lon), lo.1.min(s.location.lat));
            hi = (hi.0.max(s.location.lon), hi.1.max(s.location.lat));
        }
        for b in &problem.blocks {
            if b.location.lat.abs() > 70.0 {
                return None;
            }
        }
        if problem.schools.is_empty()
            || hi.0 - lo.0 >= 90.0
            || (hi.0 - lo.0).is_nan()
            || lo.1.abs().max(hi.1.abs()) > 70.0
        {
            return None;
        }
        let r = crate::crs::EARTH_RADIUS_M;
        let deg = std::f64::consts::PI / 180.0;
        let mid = (lo.1 + hi.1) / 2.0;
        let w = ((hi.0 - lo.0) * deg * r * mid.to_radians().cos()).max(1.0);
        let h = ((hi.1 - lo.1) * deg * r).max(1.0);
        // Cells about three times the median spacing of schools hold a few schools each where
        // schools are, whatever empty land lies between towns (measured best on the Wuxi
        // preset at 50,000 blocks).
        let tree = SchoolTree::new(problem);
        let mut spacing: Vec<f64> = problem
            .schools
            .iter()
            .filter_map(|s| tree.tree.nearest(s.location.ecef).nth(1).map(|(_, chord)| chord))
            .collect();
        spacing.sort_unstable_by(f64::total_cmp);
        let median = spacing.get(spacing.len() / 2).copied().unwrap_or(1000.0);
        let side = (3.0 * median).max(50.0).max((w * h / 16.0e6).sqrt());
        let dlat = side / (deg * r);
        let dlon = side / (deg * r * mid.to_radians().cos().max(0.2));
        let nx = (((hi.0 - lo.0) / dlon).floor() as i64 + 1).clamp(1, 4096);
        let ny = (((hi.1 - lo.1) / dlat).floor() as i64 + 1).clamp(1, 4096);
        // Outside the schools' box a query only starts farther out, so the bound stays valid
        // for any latitude up to 70°.
        let cell_m = 0.99 * (dlat * deg * r).min(dlon * deg * r * 70f64.to_radians().cos());
        let mut g = SchoolGrid {
            lon0: lo.0,
            lat0: lo.1,
            dlon,
            dlat,
            nx,
            ny,
            cell_m,
            start: vec![0; (nx * ny) as usize + 1],
            items: vec![0; problem.schools.len()],
            ecef: problem.schools.iter().map(|s| s.location.ecef).collect(),
        };
        let cells: Vec<usize> = problem
            .schools
            .iter()
            .map(|s| {
                let (cx, cy) = g.cell(s.location.lon, s.location.lat);
                (cy.clamp(0, ny - 1) * nx + cx.clamp(0, nx - 1)) as usize
            })
            .collect();
        for &c in &cells {
            g.start[c + 1] += 1;
        }
        for i in 0..(nx * ny) as usize {
            g.start[i + 1] += g.start[i];
        }
        let mut fill = g.start.clone();
        for (i, &c) in cells.iter().enumerate() {
            g.items[fill[c] as usize] = i as u32;
            fill[c] += 1;
        }
        Some(g)
    }

    fn cell(&self, lon: f64, lat: f64) -> (i64, i64) {
        (
            ((lon - self.lon0) / self.dlon).floor() as i64,
            ((lat - self.lat0) / self.dlat).floor() as i64,
        )
    }

    /// Schools in increasing chord distance from a location, with that chord (metres).
    pub(crate) fn nearest(&self, loc: &crate::model::Location) -> GridIter<'_> {
        let (cx, cy) = self.cell(loc.lon, loc.lat);
        let dx = cx.clamp(0, self.nx - 1);
        let dy = cy.clamp(0, self.ny - 1);
        GridIter {
            grid: self,
            p: loc.ecef,
            cx,
            cy,
            ring: 0,
            buffer: BinaryHeap::with_capacity(64),
            max_ring: dx.max(self.nx - 1 - dx).max(dy).max(self.ny - 1 - dy) + (cx - dx).abs() + (cy - dy).abs() + 1,
        }
    }
}

/// Ring-by-ring nearest-school iterator over a [`SchoolGrid`].
pub(crate) struct GridIter<'g> {
    grid: &'g SchoolGrid,
    p: [f64; 3],
    cx: i64,
    cy: i64,
    ring: i64,
    /// Collected schools not yet returned, a min-heap on (chord bits, school); the bits of a
    /// non-negative float order like the float.
    buffer: BinaryHeap<Reverse<(u64, u32)>>,
    max_ring: i64,
}

impl GridIter<'_> {
    fn push_cell(&mut self, cx: i64, cy: i64) {
        let g = self.grid;
        if cx < 0 || cy < 0 || cx >= g.nx || cy >= g.ny {
            return;
        }
        let c = (cy * g.nx + cx) as usize;
        for &s in &g.items[g.start[c] as usize..g.start[c + 1] as usize] {
            let d = crate::crs::chord_metres(g.ecef[s as usize], self.p);
            self.buffer.push(Reverse((d.to_bits(), s)));
        }
    }
}

impl Iterator for GridIter<'_> {
    type Item = (u32, f64);
    fn next(&mut self) -> Option<(u32, f64)> {
        loop {
            // Every school closer than (ring − 1) cells has been collected.
            let safe = (self.ring - 1) as f64 * self.grid.cell_m;
            if let Some(&Reverse((bits, s))) = self.buffer.peek() {
                let d = f64::from_bits(bits);
                if d <= safe || self.ring > self.max_ring {
                    self.buffer.pop();
                    return Some((s, d));
                }
            }
            if self.ring > self.max_ring {
                return None;
            }
            let r = self.ring;
            if r == 0 {
                self.push_cell(self.cx, self.cy);
            } else {
                for dx in -r..=r {
                    self.push_cell(self.cx + dx, self.cy - r);
                    self.push_cell(self.cx + dx, self.cy + r);
                }
                for dy in -r + 1..r {
                    self.push_cell(self.cx - r, self.cy + dy);
                    self.push_cell(self.cx + r, self.cy + dy);
                }
            }
            self.ring += 1;
        }
    }
}

/// Nearest-school search: the grid where it applies, else the R-tree.
pub(crate) enum Nearest {
    Grid(SchoolGrid),
    Tree(SchoolTree),
}

impl Nearest {
    pub(crate) fn new(problem: &ZoningProblem) -> Nearest {
        match SchoolGrid::new(problem) {
            Some(g) => Nearest::Grid(g),
            None => Nearest::Tree(SchoolTree::new(problem)),
        }
    }

    /// Schools around a location, nearest first (exactly by chord, so by great-circle
    /// distance), each with a lower bound on its great-circle metres.
    pub(crate) fn around<'a>(&'a self, loc: &crate::model::Location) -> Around<'a> {
        match self {
            Nearest::Grid(g) => Around::Grid(g.nearest(loc)),
            Nearest::Tree(t) => {
                let p = loc.ecef;
                Around::Tree(Box::new(t.tree.nearest(p).map(|(s, chord)| (s, chord - 1.0))))
            }
        }
    }
}

/// The iterator of [`Nearest::around`].
pub(crate) enum Around<'a> {
    Grid(GridIter<'a>),
    Tree(Box<dyn Iterator<Item = (u32, f64)> + 'a>),
}

impl Iterator for Around<'_> {
    type Item = (u32, f64);
    fn next(&mut self) -> Option<(u32, f64)> {
        match self {
            Around::Grid(g) => g.next().map(|(s, chord)| (s, chord - 1.0)),
            Around::Tree(t) => t.next(),
        }
    }
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
        Distances::StraightLine => Some(Nearest::new(problem)),
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
                        let (ss, _) = t.row(b);
                        let mut all: Vec<(u32, u32)> = ss
                            .iter()
                            .filter_map(|&s| problem.allowed_metres(params, b, s).map(|m| (m, s)))
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
