//! A test-only check of OGC simple-features validity for (Multi)Polygons, written from the
//! rules and independent of the library's dissolve: rings closed with at least four points and
//! non-zero area; no ring crosses or touches itself; the rings of a polygon cross nowhere, share
//! no stretch of boundary and touch at single points only, in a pattern that keeps the interior
//! connected (the ring-touch graph has no cycle, no two rings touch twice); holes lie inside
//! their shell and not inside each other; the parts of a multipolygon do not overlap and share
//! no stretch of boundary. Coordinates are compared exactly on a 1e-9° grid.

use std::collections::HashMap;

pub type P = (i64, i64);

fn grid(x: f64) -> i64 {
    (x * 1e9).round() as i64
}

fn orient(a: P, b: P, c: P) -> i128 {
    (b.0 - a.0) as i128 * (c.1 - a.1) as i128 - (b.1 - a.1) as i128 * (c.0 - a.0) as i128
}

fn on_segment(a: P, b: P, p: P) -> bool {
    orient(a, b, p) == 0 && p.0 >= a.0.min(b.0) && p.0 <= a.0.max(b.0) && p.1 >= a.1.min(b.1) && p.1 <= a.1.max(b.1)
}

#[derive(Debug, PartialEq)]
enum Meet {
    None,
    /// The segments meet at exactly this point.
    Point(P),
    /// They cross at a point inside both.
    Cross,
    /// They share a stretch of positive length.
    Overlap,
}

fn meet(a: P, b: P, c: P, d: P) -> Meet {
    let (o1, o2, o3, o4) = (orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b));
    if o1 == 0 && o2 == 0 {
        // Collinear: project on the longer axis.
        let key = |p: P| {
            if (b.0 - a.0).abs() >= (b.1 - a.1).abs() {
                p.0
            } else {
                p.1
            }
        };
        let (s0, s1) = (key(a).min(key(b)), key(a).max(key(b)));
        let (t0, t1) = (key(c).min(key(d)), key(c).max(key(d)));
        let (lo, hi) = (s0.max(t0), s1.min(t1));
        return if lo > hi {
            Meet::None
        } else if lo < hi {
            Meet::Overlap
        } else {
            [a, b, c, d]
                .into_iter()
                .find(|&p| key(p) == lo)
                .map_or(Meet::None, Meet::Point)
        };
    }
    if (o1 > 0 && o2 < 0 || o1 < 0 && o2 > 0) && (o3 > 0 && o4 < 0 || o3 < 0 && o4 > 0) {
        return Meet::Cross;
    }
    for (s, t, p) in [(a, b, c), (a, b, d), (c, d, a), (c, d, b)] {
        if on_segment(s, t, p) {
            return Meet::Point(p);
        }
    }
    Meet::None
}

/// Even–odd test for a point not on the ring.
fn inside(ring: &[P], p: P) -> bool {
    let mut c = false;
    for w in ring.windows(2) {
        let (a, b) = (w[0], w[1]);
        if (a.1 > p.1) != (b.1 > p.1) {
            let o = orient(a, b, p);
            if (b.1 > a.1 && o > 0) || (b.1 < a.1 && o < 0) {
                c = !c;
            }
        }
    }
    c
}

fn on_ring(ring: &[P], p: P) -> bool {
    ring.windows(2).any(|w| on_segment(w[0], w[1], p))
}

/// A vertex of `ring` that is not on `other` (or None when every vertex is).
fn vertex_off(ring: &[P], other: &[P]) -> Option<P> {
    ring.iter().copied().find(|&p| !on_ring(other, p))
}

fn ring_area2(ring: &[P]) -> i128 {
    ring.windows(2)
        .map(|w| w[0].0 as i128 * w[1].1 as i128 - w[1].0 as i128 * w[0].1 as i128)
        .sum()
}

/// Rings of one polygon: `[shell, holes...]`, each closed.
pub type Poly = Vec<Vec<P>>;

/// Reads a GeoJSON Polygon or MultiPolygon geometry.
pub fn from_geojson(geometry: &serde_json::Value) -> Vec<Poly> {
    let ring = |r: &serde_json::Value| -> Vec<P> {
        r.as_array()
            .unwrap()
            .iter()
            .map(|c| (grid(c[0].as_f64().unwrap()), grid(c[1].as_f64().unwrap())))
            .collect()
    };
    let poly = |p: &serde_json::Value| -> Poly { p.as_array().unwrap().iter().map(ring).collect() };
    match geometry["type"].as_str().unwrap() {
        "Polygon" => vec![poly(&geometry["coordinates"])],
        "MultiPolygon" => geometry["coordinates"].as_array().unwrap().iter().map(poly).collect(),
        t => panic!("not a polygon geometry: {t}"),
    }
}

/// Reads the rings of a (Multi)Polygon given as f64 coordinates.
pub fn from_coords(polys: &[Vec<Vec<(f64, f64)>>]) -> Vec<Poly> {
    polys
        .iter()
        .map(|p| {
            p.iter()
                .map(|r| r.iter().map(|&(x, y)| (grid(x), grid(y))).collect())
                .collect()
        })
        .collect()
}

struct Seg {
    a: P,
    b: P,
    poly: usize,
    ring: usize,
    idx: usize,
}

/// Checks OGC validity; the error names the first broken rule.
pub fn check(polys: &[Poly]) -> Result<(), String> {
    if polys.is_empty() {
        return Err("empty geometry".into());
    }
    let mut segs = Vec::new();
    for (pi, poly) in polys.iter().enumerate() {
        if poly.is_empty() {
            return Err(format!("polygon {pi} has no shell"));
        }
        for (ri, ring) in poly.iter().enumerate() {
            if ring.len() < 4 || ring.first() != ring.last() {
                return Err(format!("polygon {pi} ring {ri}: not closed or fewer than 4 points"));
            }
            if ring.windows(2).any(|w| w[0] == w[1]) {
                return Err(format!("polygon {pi} ring {ri}: repeated consecutive point"));
            }
            if ring_area2(ring) == 0 {
                return Err(format!("polygon {pi} ring {ri}: zero area"));
            }
            for (i, w) in ring.windows(2).enumerate() {
                segs.push(Seg {
                    a: w[0],
                    b: w[1],
                    poly: pi,
                    ring: ri,
                    idx: i,
                });
            }
        }
    }
    // Sweep over x for candidate pairs.
    segs.sort_by_key(|s| s.a.0.min(s.b.0));
    let mut active: Vec<usize> = Vec::new();
    // Touch points between rings: (poly, ring_i, ring_j) -> points.
    let mut touches: HashMap<(usize, usize, usize), Vec<P>> = HashMap::new();
    for i in 0..segs.len() {
        let s = &segs[i];
        let x0 = s.a.0.min(s.b.0);
        active.retain(|&j| segs[j].a.0.max(segs[j].b.0) >= x0);
        for &j in &active {
            let t = &segs[j];
            if s.a.1.max(s.b.1) < t.a.1.min(t.b.1) || t.a.1.max(t.b.1) < s.a.1.min(s.b.1) {
                continue;
            }
            let m = meet(s.a, s.b, t.a, t.b);
            if m == Meet::None {
                continue;
            }
            let where_ = format!(
                "polygon {} ring {} segment {} / polygon {} ring {} segment {}",
                s.poly, s.ring, s.idx, t.poly, t.ring, t.idx
            );
            match m {
                Meet::Cross => return Err(format!("crossing: {where_}")),
                Meet::Overlap => return Err(format!("shared or overlapping boundary: {where_}")),
                Meet::Point(p) => {
                    if s.poly == t.poly && s.ring == t.ring {
                        let n = polys[s.poly][s.ring].len() - 1;
                        let adjacent = s.idx.abs_diff(t.idx) == 1 || s.idx.abs_diff(t.idx) == n - 1;
                        let shared = [s.a, s.b].contains(&p) && [t.a, t.b].contains(&p);
                        if !(adjacent && shared) {
                            return Err(format!("ring touches itself at {p:?}: {where_}"));
                        }
                    } else if s.poly == t.poly {
                        let key = (s.poly, s.ring.min(t.ring), s.ring.max(t.ring));
                        let list = touches.entry(key).or_default();
                        if !list.contains(&p) {
                            list.push(p);
                        }
                    }
                    // Parts of a multipolygon may touch at points.
                }
                Meet::None => {}
            }
        }
        active.push(i);
    }
    for (pi, poly) in polys.iter().enumerate() {
        // Interior connected: rings touch at most once per pair, and the touch graph is a forest.
        let mut parent: Vec<usize> = (0..poly.len()).collect();
        fn find(p: &mut [usize], x: usize) -> usize {
            let mut x = x;
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        let mut keys: Vec<_> = touches.iter().filter(|(k, _)| k.0 == pi).collect();
        keys.sort_by_key(|(k, _)| **k);
        for ((_, a, b), pts) in keys {
            if pts.len() > 1 {
                return Err(format!("polygon {pi}: rings {a} and {b} touch at {} points", pts.len()));
            }
            let (ra, rb) = (find(&mut parent, *a), find(&mut parent, *b));
            if ra == rb {
                return Err(format!(
                    "polygon {pi}: ring touches form a cycle (interior disconnected)"
                ));
            }
            parent[ra] = rb;
        }
        let shell = &poly[0];
        for (hi, hole) in poly.iter().enumerate().skip(1) {
            match vertex_off(hole, shell) {
                Some(v) if inside(shell, v) => {}
                _ => return Err(format!("polygon {pi}: hole {hi} is not inside the shell")),
            }
            for (hj, other) in poly.iter().enumerate().skip(1) {
                if hj != hi
                    && let Some(v) = vertex_off(hole, other)
                    && inside(other, v)
                {
                    return Err(format!("polygon {pi}: hole {hi} lies inside hole {hj}"));
                }
            }
        }
    }
    // Parts do not overlap: no part's shell has a vertex in another part's interior, and no
    // part lies inside another (unless inside one of its holes).
    for (pi, p) in polys.iter().enumerate() {
        for (qi, q) in polys.iter().enumerate() {
            if pi == qi {
                continue;
            }
            if let Some(v) = vertex_off(&p[0], &q[0])
                && inside(&q[0], v)
                && !q[1..].iter().any(|h| inside(h, v) || on_ring(h, v))
            {
                return Err(format!("polygon {pi} overlaps polygon {qi}"));
            }
        }
    }
    Ok(())
}

#[test]
fn the_checker_catches_what_it_should() {
    let sq = |x: f64, y: f64, s: f64| vec![(x, y), (x + s, y), (x + s, y + s), (x, y + s), (x, y)];
    assert!(check(&from_coords(&[vec![sq(0.0, 0.0, 1.0)]])).is_ok());
    // Bow tie.
    let bow = vec![(0.0, 0.0), (2.0, 2.0), (2.0, 0.0), (0.0, 1.0), (0.0, 0.0)];
    assert!(check(&from_coords(&[vec![bow]])).unwrap_err().contains("crossing"));
    // A zero-width crack: the ring runs in and out along one line.
    let crack = vec![
        (0.0, 0.0),
        (2.0, 0.0),
        (2.0, 2.0),
        (1.0, 2.0),
        (1.0, 1.0),
        (1.0, 2.0),
        (0.0, 2.0),
        (0.0, 0.0),
    ];
    assert!(check(&from_coords(&[vec![crack]])).is_err());
    // A ring touching itself at a vertex.
    let pinch = vec![
        (0.0, 0.0),
        (2.0, 0.0),
        (1.0, 1.0),
        (2.0, 2.0),
        (0.0, 2.0),
        (1.0, 1.0),
        (0.0, 0.0),
    ];
    assert!(
        check(&from_coords(&[vec![pinch]]))
            .unwrap_err()
            .contains("touches itself")
    );
    // Hole outside, and hole fine.
    let shell = sq(0.0, 0.0, 4.0);
    let mut hole = sq(1.0, 1.0, 1.0);
    hole.reverse();
    assert!(check(&from_coords(&[vec![shell.clone(), hole.clone()]])).is_ok());
    assert!(check(&from_coords(&[vec![shell.clone(), sq(5.0, 5.0, 1.0)]])).is_err());
    // Two parts sharing an edge, overlapping, or touching at a corner (valid).
    assert!(check(&from_coords(&[vec![sq(0.0, 0.0, 1.0)], vec![sq(1.0, 0.0, 1.0)]])).is_err());
    assert!(check(&from_coords(&[vec![sq(0.0, 0.0, 2.0)], vec![sq(1.0, 1.0, 2.0)]])).is_err());
    assert!(check(&from_coords(&[vec![sq(0.0, 0.0, 1.0)], vec![sq(1.0, 1.0, 1.0)]])).is_ok());
    // Two holes cutting the interior in two (touching the shell and each other).
    let mut h1 = vec![(0.0, 2.0), (2.0, 1.0), (2.0, 3.0), (0.0, 2.0)];
    h1.reverse();
    let mut h2 = vec![(2.0, 1.0), (4.0, 2.0), (2.0, 3.0), (2.0, 1.0)];
    h2.reverse();
    assert!(check(&from_coords(&[vec![shell, h1, h2]])).is_err());
}
