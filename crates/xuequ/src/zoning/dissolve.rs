//! Exact dissolve of grid cells into valid polygons: an edge shared by two cells of one zone
//! appears once in each direction and cancels; the edges left are the zone's boundary, traced
//! into rings that turn as tightly as possible at a vertex where the boundary meets itself and
//! are split at any vertex they still pass twice, so no ring crosses or touches itself. Counter-clockwise rings are shells, clockwise rings holes,
//! each hole in the smallest shell that holds it. Integer coordinates make every test exact.

use rustc_hash::FxHashMap;

use super::cells::GridPt;

/// One polygon: a counter-clockwise shell and clockwise holes (rings not closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GridPolygon {
    pub shell: Vec<GridPt>,
    pub holes: Vec<Vec<GridPt>>,
}

/// Twice the signed area of a ring (positive counter-clockwise), exact.
pub(crate) fn area2(ring: &[GridPt]) -> i128 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            a.0 as i128 * b.1 as i128 - b.0 as i128 * a.1 as i128
        })
        .sum()
}

/// Whether the point (x/2, y/2) lies inside the ring (even–odd; the point is never on it).
fn contains_half(ring: &[GridPt], x: i128, y: i128) -> bool {
    let n = ring.len();
    let mut inside = false;
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + 1) % n]);
        let (ax, ay, bx, by) = (2 * a.0 as i128, 2 * a.1 as i128, 2 * b.0 as i128, 2 * b.1 as i128);
        if (ay > y) != (by > y) {
            // x < ax + (y − ay)(bx − ax)/(by − ay), without division.
            let lhs = (x - ax) * (by - ay);
            let rhs = (y - ay) * (bx - ax);
            if (by > ay && lhs < rhs) || (by < ay && lhs > rhs) {
                inside = !inside;
            }
        }
    }
    inside
}

/// Clockwise angle from direction `b` to direction `o`, in (0, 2π].
fn cw_angle(b: (f64, f64), o: (f64, f64)) -> f64 {
    let d = (b.1.atan2(b.0) - o.1.atan2(o.0)).rem_euclid(std::f64::consts::TAU);
    if d <= 0.0 { std::f64::consts::TAU } else { d }
}

/// Splits a ring at every vertex it passes twice (two holes touching at a point, or a hole
/// touching its shell), so every ring left is simple; two-vertex spikes are dropped.
fn split_simple(ring: Vec<GridPt>, out: &mut Vec<Vec<GridPt>>) {
    let mut stack: Vec<GridPt> = Vec::with_capacity(ring.len());
    let mut pos: FxHashMap<GridPt, usize> = FxHashMap::default();
    for p in ring {
        if let Some(&i) = pos.get(&p) {
            let sub: Vec<GridPt> = stack.drain(i..).collect();
            for q in &sub {
                pos.remove(q);
            }
            if sub.len() >= 3 {
                out.push(sub);
            }
        }
        pos.insert(p, stack.len());
        stack.push(p);
    }
    if stack.len() >= 3 {
        out.push(stack);
    }
}

/// Dissolves counter-clockwise cells (rings not closed) into polygons, largest first.
pub(crate) fn dissolve<'a>(cells: impl Iterator<Item = &'a [GridPt]>) -> Vec<GridPolygon> {
    let mut count: FxHashMap<(GridPt, GridPt), u32> = FxHashMap::default();
    for ring in cells {
        let n = ring.len();
        for i in 0..n {
            let (p, q) = (ring[i], ring[(i + 1) % n]);
            if p == q {
                continue;
            }
            match count.get_mut(&(q, p)) {
                Some(c) => {
                    *c -= 1;
                    if *c == 0 {
                        count.remove(&(q, p));
                    }
                }
                None => *count.entry((p, q)).or_insert(0) += 1,
            }
        }
    }
    let mut edges: Vec<(GridPt, GridPt)> = Vec::with_capacity(count.len());
    for (&e, &c) in &count {
        for _ in 0..c {
            edges.push(e);
        }
    }
    edges.sort_unstable();
    let mut used = vec![false; edges.len()];
    let outgoing = |v: GridPt| {
        let lo = edges.partition_point(|e| e.0 < v);
        let hi = edges.partition_point(|e| e.0 <= v);
        lo..hi
    };
    let mut rings: Vec<Vec<GridPt>> = Vec::new();
    for start in 0..edges.len() {
        if used[start] {
            continue;
        }
        used[start] = true;
        let mut ring = vec![edges[start].0];
        let (mut prev, mut cur) = edges[start];
        loop {
            let back = ((prev.0 - cur.0) as f64, (prev.1 - cur.1) as f64);
            let mut best: Option<(f64, usize)> = None;
            for i in outgoing(cur) {
                if used[i] && i != start {
                    continue;
                }
                let w = edges[i].1;
                let a = cw_angle(back, ((w.0 - cur.0) as f64, (w.1 - cur.1) as f64));
                if best.is_none_or(|(ba, _)| a < ba) {
                    best = Some((a, i));
                }
            }
            match best {
                Some((_, i)) if i == start => break,
                Some((_, i)) => {
                    used[i] = true;
                    ring.push(cur);
                    prev = cur;
                    cur = edges[i].1;
                }
                // An open chain cannot happen with cancelled cell edges; stop the ring here.
                None => break,
            }
        }
        split_simple(ring, &mut rings);
    }
    let mut shells: Vec<(i128, GridPolygon)> = Vec::new();
    let mut holes: Vec<Vec<GridPt>> = Vec::new();
    for r in rings {
        let a = area2(&r);
        if a > 0 {
            shells.push((
                a,
                GridPolygon {
                    shell: r,
                    holes: Vec::new(),
                },
            ));
        } else if a < 0 {
            holes.push(r);
        }
    }
    shells.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.shell.cmp(&b.1.shell)));
    for h in holes {
        let (x, y) = (h[0].0 as i128 + h[1].0 as i128, h[0].1 as i128 + h[1].1 as i128);
        // The smallest shell holding the hole's first edge midpoint.
        if let Some((_, p)) = shells.iter_mut().rev().find(|(_, p)| contains_half(&p.shell, x, y)) {
            p.holes.push(h);
        }
    }
    for (_, p) in &mut shells {
        p.holes.sort();
    }
    shells.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x: i64, y: i64) -> Vec<GridPt> {
        vec![(x, y), (x + 1, y), (x + 1, y + 1), (x, y + 1)]
    }

    #[test]
    fn a_grid_of_cells_dissolves_into_one_shell_with_a_hole() {
        let mut cells = Vec::new();
        for x in 0..3 {
            for y in 0..3 {
                if (x, y) != (1, 1) {
                    cells.push(square(x, y));
                }
            }
        }
        let p = dissolve(cells.iter().map(Vec::as_slice));
        assert_eq!(p.len(), 1);
        assert_eq!(area2(&p[0].shell), 18);
        assert_eq!(p[0].holes.len(), 1);
        assert_eq!(area2(&p[0].holes[0]), -2);
    }

    #[test]
    fn cells_touching_at_a_corner_stay_two_simple_shells() {
        let cells = [square(0, 0), square(1, 1)];
        let p = dissolve(cells.iter().map(Vec::as_slice));
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|p| p.shell.len() == 4 && p.holes.is_empty()));
    }

    #[test]
    fn a_hole_touching_its_shell_at_a_corner_is_split_off_as_a_hole() {
        // A 3×3 block minus the centre and one corner-adjacent cell that meets the centre only
        // at a vertex is still one shell; the ring never passes a vertex twice.
        let mut cells = Vec::new();
        for x in 0..4 {
            for y in 0..4 {
                if (x, y) != (1, 1) && (x, y) != (2, 2) {
                    cells.push(square(x, y));
                }
            }
        }
        let p = dissolve(cells.iter().map(Vec::as_slice));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].holes.len(), 2);
        for ring in std::iter::once(&p[0].shell).chain(&p[0].holes) {
            let mut v = ring.clone();
            v.sort();
            v.dedup();
            assert_eq!(v.len(), ring.len(), "a ring passes a vertex twice");
        }
    }
}
