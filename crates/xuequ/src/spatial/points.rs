//! The one index of points on the sphere (schools, program sites, blocks): an `rstar` R-tree
//! over Earth-centred metres, so "within a radius" and "nearest first" are exact by chord and
//! therefore by great-circle distance, the order every straight distance in the library uses.

use rstar::RTree;
use rstar::primitives::GeomWithData;

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
