//! Which school serves an address: an R-tree over the bounding boxes of zone polygons, then a
//! point-in-polygon test on the few candidates.

use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use geo::LineString;

use super::polygons::ZonePolygons;

/// A zone part's bounding box with (zone, part) indices.
type Entry = GeomWithData<Rectangle<[f64; 2]>, (u32, u32)>;

/// A spatial index over zone polygons.
#[derive(Debug, Clone)]
pub struct ZoneIndex {
    tree: RTree<Entry>,
    polygons: ZonePolygons,
}

/// Even–odd ray crossing test of a point against a closed ring.
fn in_ring(ring: &LineString<f64>, x: f64, y: f64) -> bool {
    let pts = &ring.0;
    let mut inside = false;
    for w in pts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if (a.y > y) != (b.y > y) {
            let t = (y - a.y) / (b.y - a.y);
            if x < a.x + t * (b.x - a.x) {
                inside = !inside;
            }
        }
    }
    inside
}

impl ZoneIndex {
    /// Indexes the polygons (each part of each zone separately).
    pub fn new(polygons: &ZonePolygons) -> ZoneIndex {
        let mut items = Vec::new();
        for (zi, z) in polygons.zones.iter().enumerate() {
            for (pi, p) in z.polygon.0.iter().enumerate() {
                let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
                for c in &p.exterior().0 {
                    lo = [lo[0].min(c.x), lo[1].min(c.y)];
                    hi = [hi[0].max(c.x), hi[1].max(c.y)];
                }
                if lo[0].is_finite() && hi[0].is_finite() {
                    items.push(GeomWithData::new(
                        Rectangle::from_corners(lo, hi),
                        (zi as u32, pi as u32),
                    ));
                }
            }
        }
        ZoneIndex {
            tree: RTree::bulk_load(items),
            polygons: polygons.clone(),
        }
    }

    /// The schools whose zone contains the WGS84 point, ascending (several where zones
    /// overlap, as in a multi-school zone; none outside every zone).
    pub fn lookup(&self, lon: f64, lat: f64) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        let env = AABB::from_point([lon, lat]);
        for item in self.tree.locate_in_envelope_intersecting(&env) {
            let (zi, pi) = item.data;
            let z = &self.polygons.zones[zi as usize];
            let p = &z.polygon.0[pi as usize];
            if in_ring(p.exterior(), lon, lat) && !p.interiors().iter().any(|h| in_ring(h, lon, lat)) {
                out.push(z.school);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// [`lookup`](Self::lookup) for many points, in parallel, results in input order.
    pub fn lookup_batch(&self, points: &[(f64, f64)]) -> Vec<Vec<u32>> {
        points.par_iter().map(|&(lon, lat)| self.lookup(lon, lat)).collect()
    }

    /// The indexed polygons.
    pub fn polygons(&self) -> &ZonePolygons {
        &self.polygons
    }
}
