//! The index of points on the sphere (schools, program sites): an `rstar` R-tree over
//! Earth-centred metres, so "within a radius" and "nearest first" are exact by chord and
//! therefore by great-circle distance, the order every straight distance in the library uses;
//! and, for the many nearest-first queries of zoning, a ring-search grid over the same points
//! with the R-tree as its fallback ([`NearestPoints`]).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rstar::RTree;
use rstar::primitives::GeomWithData;

use crate::model::Location;

/// Points with a `u32` payload (usually an index into the caller's table).
#[derive(Debug, Clone)]
pub(crate) struct PointIndex {
    tree: RTree<GeomWithData<[f64; 3], u32>>,
}

impl PointIndex {
    /// Indexes `(Earth-centred position, payload)` pairs.
    pub(crate) fn new(points: impl IntoIterator<Item = ([f64; 3], u32)>) -> PointIndex {
        PointIndex {
            tree: RTree::bulk_load(points.into_iter().map(|(p, d)| GeomWithData::new(p, d)).collect()),
        }
    }

    /// Payloads of the points within `chord_m` straight metres of `at` (inclusive), in no
    /// particular order.
    pub(crate) fn within_chord(&self, at: [f64; 3], chord_m: f64) -> impl Iterator<Item = u32> + '_ {
        self.tree.locate_within_distance(at, chord_m * chord_m).map(|p| p.data)
    }

    /// Payloads nearest first from `at`, each with its straight (chord) metres.
    pub(crate) fn nearest(&self, at: [f64; 3]) -> impl Iterator<Item = (u32, f64)> + '_ {
        self.tree
            .nearest_neighbor_iter(&at)
            .map(move |p| (p.data, crate::crs::chord_metres(*p.geom(), at)))
    }
}

/// A uniform longitude/latitude grid of points: nearest-first queries by expanding rings of
/// cells, ordered exactly by chord (so by great-circle distance), several times faster than an
/// R-tree for the many queries of zoning. Built when every point and query lies within 70° of
/// the equator and the points span less than 90° of longitude; otherwise the R-tree serves.
pub(crate) struct PointGrid {
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

impl PointGrid {
    /// The grid over `points`, for queries no farther than `query_lat_abs` degrees from the
    /// equator; `None` where the grid's bound would not hold.
    fn new(points: &[Location], query_lat_abs: f64) -> Option<PointGrid> {
        let (mut lo, mut hi) = ((f64::INFINITY, f64::INFINITY), (f64::NEG_INFINITY, f64::NEG_INFINITY));
        for p in points {
            lo = (lo.0.min(p.lon), lo.1.min(p.lat));
            hi = (hi.0.max(p.lon), hi.1.max(p.lat));
        }
        if query_lat_abs.is_nan() || query_lat_abs > 70.0 {
            return None;
        }
        if points.is_empty() || hi.0 - lo.0 >= 90.0 || (hi.0 - lo.0).is_nan() || lo.1.abs().max(hi.1.abs()) > 70.0 {
            return None;
        }
        let r = crate::crs::EARTH_RADIUS_M;
        let deg = std::f64::consts::PI / 180.0;
        let mid = (lo.1 + hi.1) / 2.0;
        let w = ((hi.0 - lo.0) * deg * r * mid.to_radians().cos()).max(1.0);
        let h = ((hi.1 - lo.1) * deg * r).max(1.0);
        // Cells about three times the median spacing of the points hold a few points each where
        // points are, whatever empty land lies between towns (measured best for schools on the
        // Wuxi preset at 50,000 blocks).
        let tree = PointIndex::new(points.iter().enumerate().map(|(i, p)| (p.ecef, i as u32)));
        let mut spacing: Vec<f64> = points
            .iter()
            .filter_map(|p| tree.nearest(p.ecef).nth(1).map(|(_, chord)| chord))
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
        let mut g = PointGrid {
            lon0: lo.0,
            lat0: lo.1,
            dlon,
            dlat,
            nx,
            ny,
            cell_m,
            start: vec![0; (nx * ny) as usize + 1],
            items: vec![0; points.len()],
            ecef: points.iter().map(|p| p.ecef).collect(),
        };
        let cells: Vec<usize> = points
            .iter()
            .map(|p| {
                let (cx, cy) = g.cell(p.lon, p.lat);
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

    /// Points in increasing chord distance from a location, with that chord (metres).
    fn nearest(&self, loc: &Location) -> GridIter<'_> {
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

/// Ring-by-ring nearest-first iterator over a [`PointGrid`].
pub(crate) struct GridIter<'g> {
    grid: &'g PointGrid,
    p: [f64; 3],
    cx: i64,
    cy: i64,
    ring: i64,
    /// Collected points not yet returned, a min-heap on (chord bits, point); the bits of a
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
            // Every point closer than (ring − 1) cells has been collected.
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

/// Nearest-first search over points for many queries: the grid where its bound holds, else
/// the R-tree.
pub(crate) enum NearestPoints {
    /// The ring-search grid.
    Grid(PointGrid),
    /// The R-tree.
    Tree(PointIndex),
}

impl NearestPoints {
    /// The search over `points` (payload: their index), for queries no farther than
    /// `query_lat_abs` degrees from the equator.
    pub(crate) fn new(points: &[Location], query_lat_abs: f64) -> NearestPoints {
        match PointGrid::new(points, query_lat_abs) {
            Some(g) => NearestPoints::Grid(g),
            None => NearestPoints::Tree(PointIndex::new(
                points.iter().enumerate().map(|(i, p)| (p.ecef, i as u32)),
            )),
        }
    }

    /// Points around a location, nearest first (exactly by chord, so by great-circle
    /// distance), each with a lower bound on its great-circle metres.
    pub(crate) fn around<'a>(&'a self, loc: &Location) -> Around<'a> {
        match self {
            NearestPoints::Grid(g) => Around::Grid(g.nearest(loc)),
            NearestPoints::Tree(t) => Around::Tree(Box::new(t.nearest(loc.ecef).map(|(s, chord)| (s, chord - 1.0)))),
        }
    }
}

/// The iterator of [`NearestPoints::around`].
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
