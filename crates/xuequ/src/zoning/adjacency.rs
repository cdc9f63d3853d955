//! The block adjacency graph: a Delaunay triangulation of block points (spade) in a local
//! metric frame, minus edges that cross a barrier or exceed a length limit. Blocks at the same
//! point form one group: adjacent to each other and sharing their neighbours.

use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use spade::{DelaunayTriangulation, HasPosition, Point2, Triangulation};

use super::ZoningProblem;

/// A local equirectangular frame in metres around a centre point; accurate to well under
/// 0.1 % across a city, and exactly invertible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalFrame {
    lon0: f64,
    lat0: f64,
    kx: f64,
    ky: f64,
}

impl LocalFrame {
    /// A frame centred on the mean of the points (degrees).
    pub fn around(points: impl Iterator<Item = (f64, f64)>) -> Self {
        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0usize);
        for (x, y) in points {
            sx += x;
            sy += y;
            n += 1;
        }
        let (lon0, lat0) = if n == 0 {
            (0.0, 0.0)
        } else {
            (sx / n as f64, sy / n as f64)
        };
        let r = crate::crs::EARTH_RADIUS_M;
        LocalFrame {
            lon0,
            lat0,
            kx: r * lat0.to_radians().cos() * std::f64::consts::PI / 180.0,
            ky: r * std::f64::consts::PI / 180.0,
        }
    }

    /// WGS84 degrees to local metres.
    pub fn to_xy(&self, lon: f64, lat: f64) -> (f64, f64) {
        ((lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky)
    }

    /// Local metres to WGS84 degrees.
    pub fn to_lonlat(&self, x: f64, y: f64) -> (f64, f64) {
        (self.lon0 + x / self.kx, self.lat0 + y / self.ky)
    }
}

/// A vertex of the triangulation: a point and the first block at it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Site {
    pub(crate) pos: Point2<f64>,
    pub(crate) block: u32,
}

impl HasPosition for Site {
    type Scalar = f64;
    fn position(&self) -> Point2<f64> {
        self.pos
    }
}

/// Block adjacency (CSR, sorted neighbour lists) with the local frame and block points
/// that the zone polygons use.
#[derive(Debug, Clone)]
pub struct Adjacency {
    start: Vec<u32>,
    nbr: Vec<u32>,
    /// The local frame of the block points.
    pub frame: LocalFrame,
    /// Block points in the local frame.
    pub(crate) xy: Vec<(f64, f64)>,
    /// For each block, the first block at the same point (itself when alone).
    pub(crate) rep: Vec<u32>,
    /// Delaunay edges removed for crossing a barrier.
    pub removed_by_barriers: usize,
    /// Delaunay edges removed for length.
    pub removed_by_length: usize,
    /// The Delaunay triangulation of the representatives (ascending block order), kept for
    /// the zone polygons' Voronoi cells so the same points are not triangulated twice; `None`
    /// when there are fewer than two points (or spade refused them).
    pub(crate) triangulation: Option<std::sync::Arc<DelaunayTriangulation<Site>>>,
}

fn segments_cross(a: (f64, f64), b: (f64, f64), c: (f64, f64), d: (f64, f64)) -> bool {
    let orient = |p: (f64, f64), q: (f64, f64), r: (f64, f64)| (q.0 - p.0) * (r.1 - p.1) - (q.1 - p.1) * (r.0 - p.0);
    let d1 = orient(c, d, a);
    let d2 = orient(c, d, b);
    let d3 = orient(a, b, c);
    let d4 = orient(a, b, d);
    ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0)) && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
}

impl Adjacency {
    /// The Delaunay adjacency of a problem's blocks, minus barrier crossings and, when
    /// `max_edge_m` is set, longer edges.
    pub fn delaunay(problem: &ZoningProblem, max_edge_m: Option<u32>) -> Adjacency {
        let n = problem.blocks.len();
        let frame = LocalFrame::around(problem.blocks.iter().map(|b| (b.location.lon, b.location.lat)));
        let xy: Vec<(f64, f64)> = problem
            .blocks
            .iter()
            .map(|b| frame.to_xy(b.location.lon, b.location.lat))
            .collect();
        // Group blocks at identical points.
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by(|&a, &b| {
            let (pa, pb) = (xy[a as usize], xy[b as usize]);
            pa.0.total_cmp(&pb.0).then(pa.1.total_cmp(&pb.1)).then(a.cmp(&b))
        });
        let mut rep: Vec<u32> = (0..n as u32).collect();
        for w in order.windows(2) {
            let (a, b) = (w[0] as usize, w[1] as usize);
            if xy[a] == xy[b] {
                rep[b] = rep[a];
            }
        }
        // Make the representative the lowest index of its group.
        let mut group_min: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
        for b in 0..n as u32 {
            let r = rep[b as usize];
            let e = group_min.entry(r).or_insert(b);
            *e = (*e).min(b);
        }
        for b in 0..n {
            rep[b] = group_min[&rep[b]];
        }
        let sites: Vec<Site> = (0..n as u32)
            .filter(|&b| rep[b as usize] == b)
            .map(|b| Site {
                pos: Point2::new(xy[b as usize].0, xy[b as usize].1),
                block: b,
            })
            .collect();
        // Delaunay edges between representatives (spade rejects NaN or huge coordinates; the
        // loader guarantees valid WGS84, so the fallback of no edges is never taken in practice).
        let mut dedges: Vec<(u32, u32)> = Vec::new();
        let triangulation = if sites.len() >= 2 {
            DelaunayTriangulation::<Site>::bulk_load_stable(sites).ok()
        } else {
            None
        };
        if let Some(t) = &triangulation {
            for e in t.undirected_edges() {
                let [a, b] = e.vertices();
                let (a, b) = (a.data().block, b.data().block);
                dedges.push((a.min(b), a.max(b)));
            }
        }
        dedges.sort_unstable();
        dedges.dedup();

        // Barriers in the local frame, indexed by segment envelopes.
        let mut segs = Vec::new();
        for line in &problem.barriers {
            for w in line.windows(2) {
                let p = frame.to_xy(w[0].0, w[0].1);
                let q = frame.to_xy(w[1].0, w[1].1);
                if p.0.is_finite() && p.1.is_finite() && q.0.is_finite() && q.1.is_finite() {
                    segs.push(GeomWithData::new(
                        Rectangle::from_corners([p.0, p.1], [q.0, q.1]),
                        (p, q),
                    ));
                }
            }
        }
        let barrier_tree = RTree::bulk_load(segs);
        let mut removed_by_barriers = 0;
        let mut removed_by_length = 0;
        let mut kept: Vec<(u32, u32)> = Vec::with_capacity(dedges.len());
        for &(a, b) in &dedges {
            let (p, q) = (xy[a as usize], xy[b as usize]);
            if let Some(max) = max_edge_m {
                let len = ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt();
                if len > max as f64 {
                    removed_by_length += 1;
                    continue;
                }
            }
            let env = AABB::from_corners([p.0.min(q.0), p.1.min(q.1)], [p.0.max(q.0), p.1.max(q.1)]);
            if barrier_tree
                .locate_in_envelope_intersecting(&env)
                .any(|s| segments_cross(p, q, s.data.0, s.data.1))
            {
                removed_by_barriers += 1;
                continue;
            }
            kept.push((a, b));
        }
        // Expand groups: members of adjacent groups are adjacent; members of a group too.
        let mut members: std::collections::BTreeMap<u32, Vec<u32>> = std::collections::BTreeMap::new();
        for b in 0..n as u32 {
            if rep[b as usize] != b {
                members.entry(rep[b as usize]).or_default().push(b);
            }
        }
        let group = |r: u32| -> Vec<u32> {
            let mut g = vec![r];
            if let Some(m) = members.get(&r) {
                g.extend_from_slice(m);
            }
            g
        };
        let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(kept.len() * 2);
        for &(a, b) in &kept {
            if members.contains_key(&a) || members.contains_key(&b) {
                for x in group(a) {
                    for y in group(b) {
                        pairs.push((x, y));
                        pairs.push((y, x));
                    }
                }
            } else {
                pairs.push((a, b));
                pairs.push((b, a));
            }
        }
        for (&r, m) in &members {
            let g: Vec<u32> = std::iter::once(r).chain(m.iter().copied()).collect();
            for &x in &g {
                for &y in &g {
                    if x != y {
                        pairs.push((x, y));
                    }
                }
            }
        }
        let (start, nbr) = csr(n, pairs.into_iter());
        Adjacency {
            start,
            nbr,
            frame,
            xy,
            rep,
            removed_by_barriers,
            removed_by_length,
            triangulation: triangulation.map(std::sync::Arc::new),
        }
    }

    /// An adjacency from explicit undirected edges (e.g. shared block boundaries or road
    /// links); polygons still come from the Delaunay cells of the block points.
    pub fn with_edges(problem: &ZoningProblem, edges: &[(u32, u32)]) -> Adjacency {
        let mut a = Adjacency::delaunay(problem, None);
        let n = problem.blocks.len();
        let (start, nbr) = csr(
            n,
            edges
                .iter()
                .filter(|&&(x, y)| x != y && (x as usize) < n && (y as usize) < n)
                .flat_map(|&(x, y)| [(x, y), (y, x)]),
        );
        a.start = start;
        a.nbr = nbr;
        a
    }

    /// The neighbours of a block, sorted.
    pub fn neighbours(&self, block: u32) -> &[u32] {
        let b = block as usize;
        &self.nbr[self.start[b] as usize..self.start[b + 1] as usize]
    }

    /// Number of blocks.
    pub fn len(&self) -> usize {
        self.start.len() - 1
    }

    /// True when there are no blocks.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Undirected edges.
    pub fn edge_count(&self) -> usize {
        self.nbr.len() / 2
    }
}

/// Sorted, de-duplicated CSR from directed pairs.
fn csr(n: usize, pairs: impl Iterator<Item = (u32, u32)>) -> (Vec<u32>, Vec<u32>) {
    let mut v: Vec<(u32, u32)> = pairs.collect();
    v.sort_unstable();
    v.dedup();
    let mut start = vec![0u32; n + 1];
    for &(a, _) in &v {
        start[a as usize + 1] += 1;
    }
    for i in 0..n {
        start[i + 1] += start[i];
    }
    (start, v.into_iter().map(|x| x.1).collect())
}
