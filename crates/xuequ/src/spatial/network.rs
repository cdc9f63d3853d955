//! The road network: nodes, directed CSR arcs, undirected segments for snapping, and bounded
//! Dijkstra from many origins in parallel.
//!
//! Lengths are whole millimetres (`u32`, so up to 4,294 km), which keeps every sum exact and
//! every tie deterministic. A point joins the network at the nearest point of the nearest
//! segment (nearest by straight distance); the length of that snap counts in the distance, and
//! so does the part of the segment walked from the snap point to either end.
//!
//! Why a CSR of our own rather than petgraph: the search is bounded by a radius, runs once per
//! school over the same graph with reused distance arrays (no allocation per search), and must
//! start and end part-way along a segment. petgraph's `dijkstra` has no bound, returns a
//! `HashMap` per call and starts only at a node: on the Wuxi-size network, 100 searches take
//! 4 ms here against 8.6 s with petgraph (`cargo bench --bench roads`, docs/performance.md).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rayon::prelude::*;

use crate::crs;
use crate::model::Location;

use super::segment_grid::SegmentGrid;

/// One road segment between two consecutive nodes of a way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// First node.
    pub a: u32,
    /// Second node.
    pub b: u32,
    /// Length in millimetres.
    pub len_mm: u32,
    /// Travel from `a` to `b` is allowed.
    pub forward: bool,
    /// Travel from `b` to `a` is allowed.
    pub backward: bool,
}

/// Where a point joins the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snap {
    /// The segment.
    pub segment: u32,
    /// Millimetres along the segment from its node `a` to the snap point.
    pub from_a_mm: u32,
    /// Millimetres from the snap point to node `b` (`len_mm - from_a_mm`).
    pub to_b_mm: u32,
    /// Straight millimetres from the point to the snap point (counted in every distance).
    pub access_mm: u32,
}

/// A road network ready for searches.
#[derive(Debug, Clone)]
pub struct RoadNetwork {
    nodes: Vec<Location>,
    segments: Vec<Segment>,
    start: Vec<u32>,
    to: Vec<u32>,
    len: Vec<u32>,
    grid: SegmentGrid,
}

impl RoadNetwork {
    /// Builds a network from node locations and segments (segments with equal ends, or ends
    /// out of range, are dropped).
    pub fn new(nodes: Vec<Location>, segments: Vec<Segment>) -> RoadNetwork {
        let n = nodes.len();
        let segments: Vec<Segment> = segments
            .into_iter()
            .filter(|s| s.a != s.b && (s.a as usize) < n && (s.b as usize) < n && (s.forward || s.backward))
            .collect();
        // Arcs grouped by tail with a counting sort (linear in the arcs), each node's few arcs
        // then ordered by head and length so the layout does not depend on segment order.
        let mut start = vec![0u32; n + 1];
        for s in &segments {
            if s.forward {
                start[s.a as usize + 1] += 1;
            }
            if s.backward {
                start[s.b as usize + 1] += 1;
            }
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut arcs = vec![(0u32, 0u32); start[n] as usize];
        for s in &segments {
            if s.forward {
                arcs[fill[s.a as usize] as usize] = (s.b, s.len_mm);
                fill[s.a as usize] += 1;
            }
            if s.backward {
                arcs[fill[s.b as usize] as usize] = (s.a, s.len_mm);
                fill[s.b as usize] += 1;
            }
        }
        drop(fill);
        for v in 0..n {
            arcs[start[v] as usize..start[v + 1] as usize].sort_unstable();
        }
        let grid = SegmentGrid::new(&nodes, &segments);
        RoadNetwork {
            nodes,
            segments,
            start,
            to: arcs.iter().map(|a| a.0).collect(),
            len: arcs.iter().map(|a| a.1).collect(),
            grid,
        }
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of segments (a two-way street counts once).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Number of directed arcs.
    pub fn arc_count(&self) -> usize {
        self.to.len()
    }

    /// The nodes.
    pub fn nodes(&self) -> &[Location] {
        &self.nodes
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The outgoing arcs of a node as `(to, millimetres)`.
    pub fn arcs(&self, node: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        let (lo, hi) = (
            self.start[node as usize] as usize,
            self.start[node as usize + 1] as usize,
        );
        self.to[lo..hi].iter().copied().zip(self.len[lo..hi].iter().copied())
    }

    /// Total length of all segments, kilometres.
    pub fn kilometres(&self) -> f64 {
        self.segments.iter().map(|s| u64::from(s.len_mm)).sum::<u64>() as f64 / 1e6
    }

    /// Connected pieces of the network, ignoring direction: the piece of each node and the
    /// number of pieces. Pieces are numbered by their lowest node.
    pub fn components(&self) -> (Vec<u32>, usize) {
        let n = self.nodes.len();
        let mut parent: Vec<u32> = (0..n as u32).collect();
        fn find(p: &mut [u32], mut x: u32) -> u32 {
            while p[x as usize] != x {
                let g = p[p[x as usize] as usize];
                p[x as usize] = g;
                x = g;
            }
            x
        }
        for s in &self.segments {
            let (a, b) = (find(&mut parent, s.a), find(&mut parent, s.b));
            if a != b {
                let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                parent[hi as usize] = lo;
            }
        }
        let mut id = vec![u32::MAX; n];
        let mut count = 0usize;
        let mut piece = vec![0u32; n];
        for v in 0..n as u32 {
            let r = find(&mut parent, v) as usize;
            if id[r] == u32::MAX {
                id[r] = count as u32;
                count += 1;
            }
            piece[v as usize] = id[r];
        }
        (piece, count)
    }

    /// The nearest point of the nearest segment to `at` (ties to the lowest segment index),
    /// `None` for an empty network.
    pub fn snap(&self, at: &Location) -> Option<Snap> {
        let i = self.grid.nearest(at, |i| self.project(at, i).1)?;
        let seg = self.segments[i as usize];
        let (t, _, q) = self.project(at, i);
        let from_a_mm = ((t * f64::from(seg.len_mm)).round() as u32).min(seg.len_mm);
        Some(Snap {
            segment: i,
            from_a_mm,
            to_b_mm: seg.len_mm - from_a_mm,
            access_mm: mm(crs::chord_metres(at.ecef, q)),
        })
    }

    /// The nearest point of segment `i` to `at`: its parameter along the segment from `a`, the
    /// squared straight metres to it, and the point itself.
    pub(crate) fn project(&self, at: &Location, i: u32) -> (f64, f64, [f64; 3]) {
        let seg = self.segments[i as usize];
        let (a, b) = (self.nodes[seg.a as usize].ecef, self.nodes[seg.b as usize].ecef);
        let ab = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
        let ap = [at.ecef[0] - a[0], at.ecef[1] - a[1], at.ecef[2] - a[2]];
        let ll = ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2];
        let t = if ll > 0.0 {
            ((ap[0] * ab[0] + ap[1] * ab[1] + ap[2] * ab[2]) / ll).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let q = [a[0] + t * ab[0], a[1] + t * ab[1], a[2] + t * ab[2]];
        let d = [at.ecef[0] - q[0], at.ecef[1] - q[1], at.ecef[2] - q[2]];
        (t, d[0] * d[0] + d[1] * d[1] + d[2] * d[2], q)
    }

    /// The snap point's location (for maps and checks).
    pub fn snap_point(&self, snap: &Snap) -> Location {
        let seg = self.segments[snap.segment as usize];
        let (a, b) = (self.nodes[seg.a as usize], self.nodes[seg.b as usize]);
        let t = if seg.len_mm == 0 {
            0.0
        } else {
            f64::from(snap.from_a_mm) / f64::from(seg.len_mm)
        };
        Location::from_wgs84(a.lon + t * (b.lon - a.lon), a.lat + t * (b.lat - a.lat))
    }

    /// Shortest road millimetres from each origin to every target within `radius_mm`, both
    /// given as snaps (`None`: not on the network, reaches nothing). Per origin, the targets
    /// reached as `(target index, millimetres)` ascending by target. Origins run in parallel,
    /// results are collected in origin order.
    pub fn distances(
        &self,
        origins: &[Option<Snap>],
        targets: &[Option<Snap>],
        radius_mm: u32,
    ) -> Vec<Vec<(u32, u32)>> {
        let n = self.nodes.len();
        // Targets reachable through each node: (target, millimetres from the node to the snap
        // point, the access included).
        let mut at_start = vec![0u32; n + 1];
        let mut pairs: Vec<(u32, u32, u32)> = Vec::new();
        let mut seg_targets: Vec<(u32, u32)> = Vec::new();
        for (t, snap) in targets.iter().enumerate() {
            let Some(s) = snap else { continue };
            let seg = self.segments[s.segment as usize];
            if seg.forward {
                pairs.push((seg.a, t as u32, s.from_a_mm.saturating_add(s.access_mm)));
            }
            if seg.backward {
                pairs.push((seg.b, t as u32, s.to_b_mm.saturating_add(s.access_mm)));
            }
            seg_targets.push((s.segment, t as u32));
        }
        pairs.sort_unstable();
        seg_targets.sort_unstable();
        for &(node, _, _) in &pairs {
            at_start[node as usize + 1] += 1;
        }
        for i in 0..n {
            at_start[i + 1] += at_start[i];
        }
        let at: Vec<(u32, u32)> = pairs.iter().map(|&(_, t, d)| (t, d)).collect();
        origins
            .par_iter()
            .map_init(
                || Search::new(n, targets.len()),
                |search, origin| {
                    let Some(o) = origin else { return Vec::new() };
                    search.run(self, o, targets, &seg_targets, &at_start, &at, radius_mm)
                },
            )
            .collect()
    }
}

/// Whole millimetres of a length in metres (saturating).
pub(crate) fn mm(metres: f64) -> u32 {
    let v = (metres * 1000.0).round();
    if v.is_nan() || v < 0.0 {
        0
    } else if v >= f64::from(u32::MAX - 1) {
        u32::MAX - 1
    } else {
        v as u32
    }
}

/// Reusable per-thread search state.
struct Search {
    dist: Vec<u32>,
    touched: Vec<u32>,
    best: Vec<u32>,
    found: Vec<u32>,
    heap: BinaryHeap<Reverse<(u32, u32)>>,
}

impl Search {
    fn new(nodes: usize, targets: usize) -> Search {
        Search {
            dist: vec![u32::MAX; nodes],
            touched: Vec::new(),
            best: vec![u32::MAX; targets],
            found: Vec::new(),
            heap: BinaryHeap::new(),
        }
    }

    fn offer(&mut self, target: u32, d: u32, radius: u32) {
        if d > radius {
            return;
        }
        let b = &mut self.best[target as usize];
        if *b == u32::MAX {
            self.found.push(target);
        }
        if d < *b {
            *b = d;
        }
    }

    fn relax(&mut self, node: u32, d: u32, radius: u32) {
        if d <= radius && d < self.dist[node as usize] {
            if self.dist[node as usize] == u32::MAX {
                self.touched.push(node);
            }
            self.dist[node as usize] = d;
            self.heap.push(Reverse((d, node)));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        net: &RoadNetwork,
        o: &Snap,
        targets: &[Option<Snap>],
        seg_targets: &[(u32, u32)],
        at_start: &[u32],
        at: &[(u32, u32)],
        radius: u32,
    ) -> Vec<(u32, u32)> {
        let seg = net.segments[o.segment as usize];
        // Targets on the origin's own segment, reached along it.
        let lo = seg_targets.partition_point(|&(s, _)| s < o.segment);
        for &(s, t) in &seg_targets[lo..] {
            if s != o.segment {
                break;
            }
            let Some(ts) = targets[t as usize] else { continue };
            let along = if ts.from_a_mm >= o.from_a_mm && seg.forward {
                Some(ts.from_a_mm - o.from_a_mm)
            } else if ts.from_a_mm <= o.from_a_mm && seg.backward {
                Some(o.from_a_mm - ts.from_a_mm)
            } else {
                None
            };
            if let Some(along) = along {
                let d = o.access_mm.saturating_add(along).saturating_add(ts.access_mm);
                self.offer(t, d, radius);
            }
        }
        if seg.forward {
            self.relax(seg.b, o.access_mm.saturating_add(o.to_b_mm), radius);
        }
        if seg.backward {
            self.relax(seg.a, o.access_mm.saturating_add(o.from_a_mm), radius);
        }
        while let Some(Reverse((d, u))) = self.heap.pop() {
            if d > self.dist[u as usize] {
                continue;
            }
            for &(t, extra) in &at[at_start[u as usize] as usize..at_start[u as usize + 1] as usize] {
                self.offer(t, d.saturating_add(extra), radius);
            }
            for e in net.start[u as usize] as usize..net.start[u as usize + 1] as usize {
                self.relax(net.to[e], d.saturating_add(net.len[e]), radius);
            }
        }
        for &t in &self.touched {
            self.dist[t as usize] = u32::MAX;
        }
        self.touched.clear();
        self.found.sort_unstable();
        let out: Vec<(u32, u32)> = self.found.iter().map(|&t| (t, self.best[t as usize])).collect();
        for &t in &self.found {
            self.best[t as usize] = u32::MAX;
        }
        self.found.clear();
        out
    }
}
