//! Bounded Voronoi cells of the block points, built so that neighbouring cells share their
//! boundary exactly: every Voronoi vertex (a triangle's circumcentre) is computed once, every
//! point where a bisector leaves the bounding disc is computed once per pair of sites, and all
//! vertices are snapped to the same 1e-7° grid. A dissolve by edge cancellation
//! ([`super::dissolve`]) then leaves no cracks and no slivers.
//!
//! A cell is the site's Voronoi cell cut by a disc around it: the parts of its Voronoi edges
//! inside the disc, joined along the circle (vertices every 15°) where the disc is the nearer
//! bound. The disc's radius is `radius`, or more where needed to reach 50 m into the Voronoi
//! edge shared with each neighbour in the adjacency graph, so that blocks adjacent in the
//! graph always have touching cells and a zone connected in the graph is drawn in one piece.

use spade::Triangulation;

use super::adjacency::{Adjacency, LocalFrame};

/// A vertex on the output grid: longitude and latitude × 10⁷, rounded.
pub(crate) type GridPt = (i64, i64);

/// Grid steps per degree.
pub(crate) const GRID: f64 = 1e7;

/// Vertices of the full disc (the arc step is 360° / this).
const DISC_VERTICES: usize = 24;

/// One end of a clipped Voronoi edge.
#[derive(Debug, Clone, Copy)]
enum End {
    /// A Voronoi vertex inside the disc (index of its face).
    Vertex(usize),
    /// Where the bisector meets the circle.
    Circle(f64, f64),
}

/// Snaps local metres to the output grid.
pub(crate) fn snap(frame: &LocalFrame, x: f64, y: f64) -> GridPt {
    let (lon, lat) = frame.to_lonlat(x, y);
    ((lon * GRID).round() as i64, (lat * GRID).round() as i64)
}

fn disc(frame: &LocalFrame, c: (f64, f64), radius: f64) -> Vec<GridPt> {
    let mut ring: Vec<GridPt> = (0..DISC_VERTICES)
        .map(|i| {
            let a = i as f64 * std::f64::consts::TAU / DISC_VERTICES as f64;
            snap(frame, c.0 + radius * a.cos(), c.1 + radius * a.sin())
        })
        .collect();
    ring.dedup();
    ring
}

/// Arc vertices strictly between angles `a0` and `a0 + span` (counter-clockwise) at the disc's
/// 15° steps. The steps are walked in order from the first one after `a0`, with no list to
/// sort: this runs once per gap between a cell's circle-cut edges, tens of thousands of times.
pub(crate) fn arc(c: (f64, f64), radius: f64, a0: f64, span: f64, out: &mut Vec<(f64, f64)>) {
    let step = std::f64::consts::TAU / DISC_VERTICES as f64;
    let eps = 1e-9;
    // The offsets (k·step − a0) mod 2π of the steps, in increasing order, start at the step
    // with the smallest offset; the rem_euclid below is the same expression the filter uses,
    // so a step lands inside or outside the arc exactly as it did when every step was tested.
    let offset = |k: usize| ((k as f64 * step) - a0).rem_euclid(std::f64::consts::TAU);
    let first = (0..DISC_VERTICES)
        .min_by(|&a, &b| offset(a).total_cmp(&offset(b)).then(a.cmp(&b)))
        .unwrap_or(0);
    for i in 0..DISC_VERTICES {
        let k = (first + i) % DISC_VERTICES;
        let d = offset(k);
        if d >= span - eps {
            // Offsets increase from `first` on (one wrap at most, caught by the 2π bound).
            if d > eps {
                break;
            }
            continue;
        }
        if d > eps {
            let a = k as f64 * step;
            out.push((c.0 + radius * a.cos(), c.1 + radius * a.sin()));
        }
    }
}

/// The reference for [`arc`]: every step tested and the survivors sorted by offset.
#[cfg(test)]
pub(crate) fn arc_by_sorting(c: (f64, f64), radius: f64, a0: f64, span: f64, out: &mut Vec<(f64, f64)>) {
    let step = std::f64::consts::TAU / DISC_VERTICES as f64;
    let eps = 1e-9;
    let mut ks: Vec<(f64, usize)> = (0..DISC_VERTICES)
        .map(|k| (((k as f64 * step) - a0).rem_euclid(std::f64::consts::TAU), k))
        .filter(|&(d, _)| d > eps && d < span - eps)
        .collect();
    ks.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (_, k) in ks {
        let a = k as f64 * step;
        out.push((c.0 + radius * a.cos(), c.1 + radius * a.sin()));
    }
}

/// Interleaves the bits of two 16-bit values (x in the even bits).
pub(crate) fn interleave(x: u32, y: u32) -> u32 {
    let spread = |mut v: u32| {
        v &= 0xffff;
        v = (v | (v << 8)) & 0x00ff_00ff;
        v = (v | (v << 4)) & 0x0f0f_0f0f;
        v = (v | (v << 2)) & 0x3333_3333;
        (v | (v << 1)) & 0x5555_5555
    };
    spread(x) | (spread(y) << 1)
}

/// The triangulation's vertices in Z-order (Morton order) of their positions on a 2¹⁶ grid
/// over the bounding box, ties by vertex index.
pub(crate) fn z_order<T: Triangulation>(t: &T) -> Vec<spade::handles::FixedVertexHandle>
where
    T::Vertex: spade::HasPosition<Scalar = f64>,
{
    let (mut lo, mut hi) = ((f64::INFINITY, f64::INFINITY), (f64::NEG_INFINITY, f64::NEG_INFINITY));
    for v in t.vertices() {
        let p = v.position();
        lo = (lo.0.min(p.x), lo.1.min(p.y));
        hi = (hi.0.max(p.x), hi.1.max(p.y));
    }
    let cell = |p: f64, lo: f64, hi: f64| {
        let span = hi - lo;
        if span > 0.0 && span.is_finite() {
            (((p - lo) / span) * 65535.0).clamp(0.0, 65535.0) as u32
        } else {
            0
        }
    };
    let mut keyed: Vec<(u32, spade::handles::FixedVertexHandle)> = t
        .vertices()
        .map(|v| {
            let p = v.position();
            (interleave(cell(p.x, lo.0, hi.0), cell(p.y, lo.1, hi.1)), v.fix())
        })
        .collect();
    keyed.sort_unstable_by_key(|&(key, h)| (key, h.index()));
    keyed.into_iter().map(|(_, h)| h).collect()
}

/// The bounded cell of every representative block (counter-clockwise rings on the grid, not
/// closed; empty for blocks that are not representatives or whose cell vanishes on the grid).
pub(crate) fn bounded_cells(adj: &Adjacency, radius: f64) -> Vec<Vec<GridPt>> {
    let n = adj.xy.len();
    let frame = adj.frame;
    let mut cells: Vec<Vec<GridPt>> = vec![Vec::new(); n];
    let reps: Vec<u32> = (0..n as u32).filter(|&b| adj.rep[b as usize] == b).collect();
    // The adjacency's own triangulation of the representatives.
    let t = adj.triangulation.as_deref();
    let Some(t) = t else {
        for &b in &reps {
            cells[b as usize] = disc(&frame, adj.xy[b as usize], radius);
        }
        return cells;
    };
    // Circumcentre of each inner face and its squared distance to the face's sites (taken
    // once, from the face's lowest block, so every cell agrees).
    let mut centre: Vec<Option<((f64, f64), f64)>> = vec![None; t.num_all_faces()];
    for f in t.inner_faces() {
        let c = f.circumcenter();
        let lowest = f
            .vertices()
            .into_iter()
            .min_by_key(|v| v.data().block)
            .map(|v| v.position())
            .unwrap_or(c);
        let d2 = (c.x - lowest.x).powi(2) + (c.y - lowest.y).powi(2);
        centre[f.fix().index()] = Some(((c.x, c.y), d2));
    }
    // Each Delaunay edge in canonical form: oriented counter-clockwise around its lower block,
    // the bisector as m + t·dir, its Voronoi edge from t1 (right face) to t2 (left face).
    struct Edge {
        m: (f64, f64),
        dir: (f64, f64),
        h2: f64,
        // Face indices as u32: the edge list is read at random, one entry per cell side, so
        // a smaller entry means fewer cache misses.
        f1: Option<u32>,
        f2: Option<u32>,
        t1: f64,
        t2: f64,
    }
    // Indexed by the triangulation's own edge index: a cell reaches its edges through its
    // vertex's out-edges, with no lookup by block pair (a hash lookup per edge and cell was a
    // fifth of the polygon time at 50,000 blocks).
    let mut edges: Vec<Option<Edge>> = Vec::with_capacity(t.num_undirected_edges());
    edges.resize_with(t.num_undirected_edges(), || None);
    // Per edge: (lower block, higher block).
    let mut ends: Vec<(u32, u32)> = vec![(u32::MAX, u32::MAX); t.num_undirected_edges()];
    for e in t.undirected_edges() {
        let index = e.fix().index();
        let mut d = e.as_directed();
        if d.from().data().block > d.to().data().block {
            d = d.rev();
        }
        let (a, b) = (d.from().position(), d.to().position());
        ends[index] = (d.from().data().block, d.to().data().block);
        let v = (b.x - a.x, b.y - a.y);
        let len = (v.0 * v.0 + v.1 * v.1).sqrt();
        if len == 0.0 {
            continue;
        }
        let m = ((a.x + b.x) / 2.0, (a.y + b.y) / 2.0);
        let dir = (-v.1 / len, v.0 / len);
        let param = |f: Option<usize>, inf: f64| {
            f.and_then(|f| centre[f])
                .map_or(inf, |(c, _)| (c.0 - m.0) * dir.0 + (c.1 - m.1) * dir.1)
        };
        let f1 = d.rev().face().as_inner().map(|f| f.fix().index() as u32);
        let f2 = d.face().as_inner().map(|f| f.fix().index() as u32);
        edges[index] = Some(Edge {
            m,
            dir,
            h2: len * len / 4.0,
            f1,
            f2,
            t1: param(f1.map(|f| f as usize), f64::NEG_INFINITY),
            t2: param(f2.map(|f| f as usize), f64::INFINITY),
        });
    }
    // Each site's radius: at least `radius`, and far enough to reach 50 m into the Voronoi
    // edge shared with every neighbour in the adjacency graph, so that blocks adjacent in the
    // graph have touching cells and a zone connected in the graph is drawn in one piece.
    // (An edge counts when either end lists the other, through any block it represents, as a
    // neighbour in the graph; the maximum does not depend on the order edges are taken in.)
    let mut reach = vec![radius; n];
    let lists = |x: u32, y: u32| adj.neighbours(x).iter().any(|&nb| adj.rep[nb as usize] == y);
    for (e, &(a, b)) in edges.iter().zip(&ends) {
        let Some(e) = e else { continue };
        if !(lists(a, b) || lists(b, a)) {
            continue;
        }
        let tc = 0f64.clamp(e.t1.min(e.t2), e.t1.max(e.t2));
        let need = (e.h2 + tc * tc).sqrt() + 50.0;
        reach[a as usize] = reach[a as usize].max(need);
        reach[b as usize] = reach[b as usize].max(need);
    }
    // The part of an edge inside a site's disc: (start, end) as (t, point), or None.
    let clip = |e: &Edge, rr: f64| -> Option<((f64, End), (f64, End))> {
        let r2 = rr * rr;
        let half = if e.h2 < r2 { (r2 - e.h2).sqrt() } else { return None };
        let inside = |f: Option<usize>| f.and_then(|f| centre[f]).is_some_and(|(_, d2)| d2 <= r2);
        let at = |t: f64| (t, End::Circle(e.m.0 + t * e.dir.0, e.m.1 + t * e.dir.1));
        let start = if inside(e.f1.map(|f| f as usize)) {
            (e.t1, End::Vertex(e.f1.unwrap_or(0) as usize))
        } else if e.t1 <= -half {
            at(-half)
        } else {
            return None;
        };
        let end = if inside(e.f2.map(|f| f as usize)) {
            (e.t2, End::Vertex(e.f2.unwrap_or(0) as usize))
        } else if e.t2 >= half {
            at(half)
        } else {
            return None;
        };
        Some((start, end))
    };
    // Edge pieces of a cell along a neighbour: its own clip, split where the neighbour's clip
    // ends inside it (so both cells carry the same vertices), oriented counter-clockwise
    // around the cell.
    // Appends them to `out` and returns how many.
    let pieces = |r: u32, q: u32, edge: usize, out: &mut Vec<End>| -> usize {
        let a = r.min(q);
        let Some(e) = &edges[edge] else {
            return 0;
        };
        let Some((s, t)) = clip(e, reach[r as usize]) else {
            return 0;
        };
        let mut pts: [(f64, End); 4] = [s; 4];
        let mut len = 1;
        if let Some((os, ot)) = clip(e, reach[q as usize]) {
            for p in [os, ot] {
                if p.0 > s.0 && p.0 < t.0 {
                    pts[len] = p;
                    len += 1;
                }
            }
        }
        pts[len] = t;
        len += 1;
        let pts = &mut pts[..len];
        // Stable, as the list sort was: equal parameters keep their order.
        pts.sort_by(|x, y| x.0.total_cmp(&y.0));
        let start = out.len();
        out.extend(pts.iter().map(|p| p.1));
        if r != a {
            out[start..].reverse();
        }
        len
    };
    let point = |e: End| match e {
        End::Vertex(f) => centre[f].map(|(c, _)| c).unwrap_or((0.0, 0.0)),
        End::Circle(x, y) => (x, y),
    };
    // Buffers reused from cell to cell: out-edges by angle, the pieces end to end with the
    // (start, end) of each, the ring.
    let mut outs: Vec<(f64, u32, usize)> = Vec::new();
    let mut ends_flat: Vec<End> = Vec::new();
    let mut segs: Vec<(usize, usize)> = Vec::new();
    let mut ring: Vec<(f64, f64)> = Vec::new();
    // Cells in Z-order of their sites rather than in block order: each cell reads its sides'
    // Voronoi edges and corners, which neighbouring cells share, so cells taken near one
    // another find them still in cache. Each cell depends only on its own site, so the order
    // changes nothing in the result.
    for h in z_order(t) {
        let v = t.vertex(h);
        let r = v.data().block;
        let c = adj.xy[r as usize];
        let rr = reach[r as usize];
        outs.clear();
        outs.extend(v.out_edges().map(|e| {
            let q = e.to().position();
            (
                (q.y - c.1).atan2(q.x - c.0),
                e.to().data().block,
                e.as_undirected().fix().index(),
            )
        }));
        outs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        ends_flat.clear();
        segs.clear();
        for &(_, q, edge) in &outs {
            let start = ends_flat.len();
            let len = pieces(r, q, edge, &mut ends_flat);
            if len >= 2 {
                segs.push((start, start + len));
            } else {
                ends_flat.truncate(start);
            }
        }
        if segs.is_empty() {
            cells[r as usize] = disc(&frame, c, rr);
            continue;
        }
        ring.clear();
        for (i, &(lo, hi)) in segs.iter().enumerate() {
            let seg = &ends_flat[lo..hi];
            ring.extend(seg.iter().map(|&e| point(e)));
            let e = seg[seg.len() - 1];
            let next = ends_flat[segs[(i + 1) % segs.len()].0];
            if let (End::Circle(ex, ey), End::Circle(nx, ny)) = (e, next) {
                let a0 = (ey - c.1).atan2(ex - c.0);
                let a1 = (ny - c.1).atan2(nx - c.0);
                let mut span = (a1 - a0).rem_euclid(std::f64::consts::TAU);
                if span == 0.0 && segs.len() == 1 {
                    span = std::f64::consts::TAU;
                }
                arc(c, rr, a0, span, &mut ring);
            }
        }
        let mut grid: Vec<GridPt> = ring.iter().map(|&(x, y)| snap(&frame, x, y)).collect();
        grid.dedup();
        while grid.len() > 1 && grid.first() == grid.last() {
            grid.pop();
        }
        if grid.len() >= 3 {
            cells[r as usize] = grid;
        }
    }
    cells
}
