//! A uniform longitude/latitude grid over road segments, for the nearest segment to a point.
//!
//! Why not an R-tree: a city or province network has millions of segments and only thousands
//! of points to snap (blocks and schools). Bulk-loading an R-tree over every segment cost three
//! quarters of the instructions of reading a 50 MB `.osm.pbf`; a grid is built in two linear
//! passes (count, then fill) and answers a query by looking at a few cells around the point.
//! Points (schools, blocks, zone cells) stay in `rstar` R-trees, where the counts are small.
//!
//! The answer is exact, not approximate: cells are searched in rings of growing Chebyshev
//! distance, and the search stops only when a proven lower bound on the distance to anything in
//! the next ring exceeds the best distance found. Distances are the straight (chord) distances
//! between Earth-centred points on the mean sphere, the same measure the snap reports; ties go
//! to the lowest segment index.

use rayon::prelude::*;

use crate::crs::EARTH_RADIUS_M;
use crate::model::Location;

use super::network::Segment;

/// A segment whose bounding box spans more cells than this is kept in a list checked by every
/// query, so one long ferry-free bridge or motorway does not fill thousands of cells.
const LONG_SPAN_CELLS: u64 = 64;

/// The grid: cells in row-major order, each holding the segments whose bounding box meets it.
#[derive(Debug, Clone)]
pub(crate) struct SegmentGrid {
    lon0: f64,
    lat0: f64,
    cell_lon: f64,
    cell_lat: f64,
    nx: i64,
    ny: i64,
    lat_min: f64,
    lat_max: f64,
    cell_start: Vec<u32>,
    items: Vec<u32>,
    long: Vec<u32>,
    /// Metres subtracted from every lower bound: how far a segment's straight chord can stray
    /// from the longitude/latitude box of its ends (the arc's bulge and the chord's depth below
    /// the sphere), plus a millimetre for rounding.
    slack_m: f64,
}

/// Cell ranges of one segment's bounding box.
#[derive(Clone, Copy)]
struct Span {
    x0: i64,
    x1: i64,
    y0: i64,
    y1: i64,
}

impl Span {
    fn cells(self) -> u64 {
        (self.x1 - self.x0 + 1) as u64 * (self.y1 - self.y0 + 1) as u64
    }
}

/// The grid's geometry, separate from its contents so spans can be computed while filling.
#[derive(Clone, Copy)]
struct Frame {
    lon0: f64,
    lat0: f64,
    cell_lon: f64,
    cell_lat: f64,
    nx: i64,
    ny: i64,
}

impl Frame {
    fn cell_x(&self, lon: f64) -> i64 {
        ((lon - self.lon0) / self.cell_lon).floor() as i64
    }

    fn cell_y(&self, lat: f64) -> i64 {
        ((lat - self.lat0) / self.cell_lat).floor() as i64
    }

    /// Cells met by a segment's bounding box, widened by `pad` degrees, clamped to the grid.
    fn span(&self, a: &Location, b: &Location, pad: f64) -> Span {
        let clamp_x = |x: i64| x.clamp(0, self.nx - 1);
        let clamp_y = |y: i64| y.clamp(0, self.ny - 1);
        Span {
            x0: clamp_x(self.cell_x(a.lon.min(b.lon) - pad)),
            x1: clamp_x(self.cell_x(a.lon.max(b.lon) + pad)),
            y0: clamp_y(self.cell_y(a.lat.min(b.lat) - pad)),
            y1: clamp_y(self.cell_y(a.lat.max(b.lat) + pad)),
        }
    }
}

/// Half the central angle of a segment, radians.
fn half_angle(a: &Location, b: &Location) -> f64 {
    let chord = crate::crs::chord_metres(a.ecef, b.ecef);
    (chord / (2.0 * EARTH_RADIUS_M)).clamp(0.0, 1.0).asin()
}

/// How far (radians, as an angle on the sphere) the great-circle arc between the ends of a
/// segment can leave the longitude/latitude box of the ends, at latitudes up to `lat_abs`.
fn bulge_angle(a: &Location, b: &Location, lat_abs_deg: f64) -> f64 {
    let h = half_angle(a, b);
    // The sagitta of the arc (1 - cos h) bounds its departure from the chord's ends' box in
    // latitude; in longitude the same angle is stretched by 1 / cos(latitude).
    let sag = 1.0 - h.cos();
    let stretch = 1.0 / lat_abs_deg.min(89.0).to_radians().cos();
    sag * (1.0 + stretch) + 1e-12
}

impl SegmentGrid {
    /// Indexes `segments` over `nodes` (ends already checked to be in range).
    pub(crate) fn new(nodes: &[Location], segments: &[Segment]) -> SegmentGrid {
        let (mut lon_min, mut lon_max, mut lat_min, mut lat_max) =
            (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
        for s in segments {
            for n in [&nodes[s.a as usize], &nodes[s.b as usize]] {
                lon_min = lon_min.min(n.lon);
                lon_max = lon_max.max(n.lon);
                lat_min = lat_min.min(n.lat);
                lat_max = lat_max.max(n.lat);
            }
        }
        if segments.is_empty() {
            return SegmentGrid {
                lon0: 0.0,
                lat0: 0.0,
                cell_lon: 1.0,
                cell_lat: 1.0,
                nx: 1,
                ny: 1,
                lat_min: 0.0,
                lat_max: 0.0,
                cell_start: vec![0, 0],
                items: Vec::new(),
                long: Vec::new(),
                slack_m: 0.0,
            };
        }
        // About one cell per segment, square on the ground at the middle latitude.
        let metres_per_degree = EARTH_RADIUS_M.to_radians();
        let mid_cos = ((lat_min + lat_max) / 2.0).to_radians().cos().max(1e-6);
        let width_m = ((lon_max - lon_min) * metres_per_degree * mid_cos).max(1.0);
        let height_m = ((lat_max - lat_min) * metres_per_degree).max(1.0);
        let side_m = (width_m * height_m / segments.len() as f64).sqrt().max(1.0);
        let nx = ((width_m / side_m).ceil() as i64).clamp(1, 1 << 15);
        let ny = ((height_m / side_m).ceil() as i64).clamp(1, 1 << 15);
        // Cells a hair wider than the box so the largest longitude and latitude fall inside.
        let frame = Frame {
            lon0: lon_min,
            lat0: lat_min,
            cell_lon: ((lon_max - lon_min) / nx as f64 * (1.0 + 1e-9)).max(1e-9),
            cell_lat: ((lat_max - lat_min) / ny as f64 * (1.0 + 1e-9)).max(1e-9),
            nx,
            ny,
        };
        let lat_abs = lat_min.abs().max(lat_max.abs());

        // Two passes: count the entries of every cell, then fill them.
        let cells = (nx * ny) as usize;
        let mut cell_start = vec![0u32; cells + 1];
        // Each segment's cells and how far its chord strays from them, in parallel; then
        // the counts, sequentially (cheap).
        let measured: Vec<(Span, f64, f64)> = segments
            .par_iter()
            .map(|s| {
                let (a, b) = (&nodes[s.a as usize], &nodes[s.b as usize]);
                let bulge = bulge_angle(a, b, lat_abs);
                let depth = 1.0 - half_angle(a, b).cos();
                (frame.span(a, b, bulge.to_degrees()), bulge, depth)
            })
            .collect();
        let mut long = Vec::new();
        let mut max_bulge = 0.0f64;
        let mut max_depth = 0.0f64;
        let spans: Vec<Option<Span>> = measured
            .into_iter()
            .enumerate()
            .map(|(i, (span, bulge, depth))| {
                if span.cells() > LONG_SPAN_CELLS {
                    long.push(i as u32);
                    return None;
                }
                max_bulge = max_bulge.max(bulge);
                max_depth = max_depth.max(depth);
                for y in span.y0..=span.y1 {
                    for x in span.x0..=span.x1 {
                        cell_start[(y * nx + x) as usize + 1] += 1;
                    }
                }
                Some(span)
            })
            .collect();
        for c in 0..cells {
            cell_start[c + 1] += cell_start[c];
        }
        let mut fill = cell_start.clone();
        let mut items = vec![0u32; cell_start[cells] as usize];
        for (i, span) in spans.iter().enumerate() {
            let Some(span) = span else { continue };
            for y in span.y0..=span.y1 {
                for x in span.x0..=span.x1 {
                    let c = (y * nx + x) as usize;
                    items[fill[c] as usize] = i as u32;
                    fill[c] += 1;
                }
            }
        }
        SegmentGrid {
            lon0: frame.lon0,
            lat0: frame.lat0,
            cell_lon: frame.cell_lon,
            cell_lat: frame.cell_lat,
            nx,
            ny,
            lat_min,
            lat_max,
            cell_start,
            items,
            long,
            slack_m: (max_bulge + max_depth) * EARTH_RADIUS_M * 2.0 + 1e-3,
        }
    }

    /// The segment nearest to `at` by `distance2` (squared metres from the point to a segment),
    /// ties to the lowest index; `None` without segments.
    pub(crate) fn nearest(&self, at: &Location, distance2: impl Fn(u32) -> f64) -> Option<u32> {
        let mut best: Option<(f64, u32)> = None;
        let offer = |best: &mut Option<(f64, u32)>, i: u32| {
            let d2 = distance2(i);
            if best.is_none_or(|(bd, bi)| d2 < bd || (d2 == bd && i < bi)) {
                *best = Some((d2, i));
            }
        };
        for &i in &self.long {
            offer(&mut best, i);
        }
        let px = ((at.lon - self.lon0) / self.cell_lon).floor();
        let py = ((at.lat - self.lat0) / self.cell_lat).floor();
        if self.items.is_empty() || !px.is_finite() || !py.is_finite() {
            return best.map(|(_, i)| i);
        }
        // Checked coordinates keep the cell numbers small; the clamp only guards the cast.
        let (px, py) = (px.clamp(-1e12, 1e12) as i64, py.clamp(-1e12, 1e12) as i64);
        // Lower bounds on the chord to any point whose longitude (latitude) differs from the
        // query's by at least k cells: 2R·cos(φ)·sin(Δλ/2) with the smallest cos(φ) of the
        // latitudes involved (the chord's projection on the equatorial plane), and 2R·sin(Δφ/2).
        let cos_min = {
            let lo = self.lat_min.min(at.lat).to_radians();
            let hi = self.lat_max.max(at.lat).to_radians();
            lo.cos().min(hi.cos()).max(0.0)
        };
        let ring_bound = |r: i64| -> f64 {
            if r <= 1 {
                return 0.0;
            }
            let k = (r - 1) as f64;
            let dlon = (k * self.cell_lon).to_radians().min(std::f64::consts::PI);
            let dlat = (k * self.cell_lat).to_radians().min(std::f64::consts::PI);
            let by_lon = 2.0 * EARTH_RADIUS_M * cos_min * (dlon / 2.0).sin();
            let by_lat = 2.0 * EARTH_RADIUS_M * (dlat / 2.0).sin();
            (by_lon.min(by_lat) * (1.0 - 1e-9) - self.slack_m).max(0.0)
        };
        // From the first ring that touches the grid to the last one that does.
        let gap = |p: i64, n: i64| {
            if p < 0 {
                -p
            } else if p >= n {
                p - n + 1
            } else {
                0
            }
        };
        let first = gap(px, self.nx).max(gap(py, self.ny));
        let last = (px.abs().max((self.nx - 1 - px).abs())).max(py.abs().max((self.ny - 1 - py).abs()));
        let mut ring: Vec<usize> = Vec::new();
        for r in first..=last {
            if let Some((d2, _)) = best
                && ring_bound(r).powi(2) > d2
            {
                break;
            }
            self.ring_cells(px, py, r, &mut ring);
            for &c in &ring {
                for &i in &self.items[self.cell_start[c] as usize..self.cell_start[c + 1] as usize] {
                    offer(&mut best, i);
                }
            }
        }
        best.map(|(_, i)| i)
    }

    /// The grid cells at Chebyshev distance exactly `r` from cell `(px, py)`.
    fn ring_cells(&self, px: i64, py: i64, r: i64, out: &mut Vec<usize>) {
        out.clear();
        let inside = |x: i64, y: i64| (0..self.nx).contains(&x) && (0..self.ny).contains(&y);
        if r == 0 {
            if inside(px, py) {
                out.push((py * self.nx + px) as usize);
            }
            return;
        }
        // Top and bottom rows of the ring, then the side columns without the corners, each
        // clipped to the grid.
        let (x_lo, x_hi) = ((px - r).max(0), (px + r).min(self.nx - 1));
        for y in [py - r, py + r] {
            if (0..self.ny).contains(&y) {
                out.extend((x_lo..=x_hi).map(|x| (y * self.nx + x) as usize));
            }
        }
        let (y_lo, y_hi) = ((py - r + 1).max(0), (py + r - 1).min(self.ny - 1));
        for x in [px - r, px + r] {
            if (0..self.nx).contains(&x) {
                out.extend((y_lo..=y_hi).map(|y| (y * self.nx + x) as usize));
            }
        }
    }
}
