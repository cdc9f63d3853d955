//! The interior point of a polygon ("point on surface"): a point guaranteed to lie inside
//! the polygon, unlike the centroid (which can fall outside an L- or U-shaped 小区 or in a
//! courtyard hole).
//!
//! The method is the scan-line rule of JTS/GEOS `InteriorPointArea` (PostGIS
//! `ST_PointOnSurface`):
//! 1. per polygon, take the horizontal line `y` halfway between the two vertex ordinates
//!    nearest to the middle of the polygon's bounding box, one at or below it and one above
//!    (so the line passes through no vertex);
//! 2. intersect it with every ring (outer and holes), sort the crossings, and pair them into
//!    the intervals that lie inside the polygon;
//! 3. the point is the midpoint `(x₁ + x₂) / 2` of the widest interval, over all polygons of
//!    a MultiPolygon (the first one on ties).
//!
//! For an axis-aligned rectangle the result is its centre `((x_min + x_max)/2,
//! (y_min + y_max)/2)` computed in floating point, which is how the tests rebuild the demo's
//! points exactly from squares drawn around them.

use geo::{MultiPolygon, Polygon};

/// The interior point (lon, lat) of a (multi)polygon, in its own coordinates; `None` when
/// it has no area.
pub fn interior_point(g: &MultiPolygon<f64>) -> Option<(f64, f64)> {
    let mut best: Option<(f64, (f64, f64))> = None;
    for p in &g.0 {
        if let Some((width, point)) = widest_interval(p)
            && best.is_none_or(|(w, _)| width > w)
        {
            best = Some((width, point));
        }
    }
    best.map(|(_, p)| p)
}

fn rings(p: &Polygon<f64>) -> impl Iterator<Item = &geo::LineString<f64>> {
    std::iter::once(p.exterior()).chain(p.interiors())
}

fn widest_interval(p: &Polygon<f64>) -> Option<(f64, (f64, f64))> {
    let mut min_y = f64::INFINITY;
    let mut max_y = f64::NEG_INFINITY;
    for r in rings(p) {
        for c in &r.0 {
            min_y = min_y.min(c.y);
            max_y = max_y.max(c.y);
        }
    }
    if min_y.partial_cmp(&max_y) != Some(std::cmp::Ordering::Less) {
        return None;
    }
    let centre = (min_y + max_y) / 2.0;
    let (mut lo, mut hi) = (min_y, max_y);
    for r in rings(p) {
        for c in &r.0 {
            if c.y <= centre {
                if c.y > lo {
                    lo = c.y;
                }
            } else if c.y < hi {
                hi = c.y;
            }
        }
    }
    let y = (lo + hi) / 2.0;
    let mut xs: Vec<f64> = Vec::new();
    for r in rings(p) {
        for w in r.0.windows(2) {
            let (a, b) = (w[0], w[1]);
            if a.y == b.y {
                continue; // horizontal edges never cross the scan line
            }
            if (a.y < y && b.y < y) || (a.y > y && b.y > y) {
                continue;
            }
            // An edge ending on the line from below is counted by its neighbour.
            if (a.y == y && b.y < y) || (b.y == y && a.y < y) {
                continue;
            }
            let x = if a.x == b.x {
                a.x
            } else {
                a.x + (y - a.y) * (b.x - a.x) / (b.y - a.y)
            };
            xs.push(x);
        }
    }
    xs.sort_by(f64::total_cmp);
    let mut best: Option<(f64, (f64, f64))> = None;
    for pair in xs.chunks_exact(2) {
        let width = pair[1] - pair[0];
        if width > 0.0 && best.is_none_or(|(w, _)| width > w) {
            best = Some((width, ((pair[0] + pair[1]) / 2.0, y)));
        }
    }
    best
}
