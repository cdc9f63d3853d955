//! Zone polygons: each distinct block point's Voronoi cell (its disc of `cell_radius_m` cut
//! by the bisectors with its Delaunay neighbours), dissolved per school with a polygon union.
//! A point where blocks of several schools sit (or a multi-school zone) belongs to each.

use geo::{Coord, LineString, MultiPolygon, Polygon, unary_union};
use rayon::prelude::*;

use super::adjacency::{Adjacency, LocalFrame};
use super::multischool::SchoolGroup;
use super::{UNASSIGNED, ZoningProblem};

/// Vertices of the disc that bounds a cell.
const DISC_VERTICES: usize = 24;

/// One school's zone.
#[derive(Debug, Clone)]
pub struct ZonePolygon {
    /// The school (index into the problem's schools).
    pub school: u32,
    /// The zone in WGS84 `(lon, lat)`.
    pub polygon: MultiPolygon<f64>,
    /// Area in square metres.
    pub area_m2: f64,
    /// Perimeter in metres (outer rings and holes).
    pub perimeter_m: f64,
}

impl ZonePolygon {
    /// Polsby–Popper compactness 4πA/P² (1 for a disc, near 0 for a thin or ragged shape).
    pub fn compactness(&self) -> f64 {
        if self.perimeter_m <= 0.0 {
            0.0
        } else {
            (4.0 * std::f64::consts::PI * self.area_m2 / (self.perimeter_m * self.perimeter_m)).min(1.0)
        }
    }
}

/// Zone polygons of one stage, one per school that has blocks, in school order.
#[derive(Debug, Clone, Default)]
pub struct ZonePolygons {
    /// The zones.
    pub zones: Vec<ZonePolygon>,
}

impl ZonePolygons {
    /// The zone of a school, if it has one.
    pub fn of_school(&self, school: u32) -> Option<&ZonePolygon> {
        self.zones
            .binary_search_by_key(&school, |z| z.school)
            .ok()
            .map(|i| &self.zones[i])
    }
}

/// The Voronoi cell of representative block `r`, in local metres.
fn cell(adj: &Adjacency, r: u32, radius: f64) -> Vec<(f64, f64)> {
    let c = adj.xy[r as usize];
    let mut poly: Vec<(f64, f64)> = (0..DISC_VERTICES)
        .map(|i| {
            let a = i as f64 * std::f64::consts::TAU / DISC_VERTICES as f64;
            (c.0 + radius * a.cos(), c.1 + radius * a.sin())
        })
        .collect();
    for &n in adj.delaunay_neighbours(r) {
        let q = adj.xy[n as usize];
        let dir = (q.0 - c.0, q.1 - c.1);
        let mid = ((q.0 + c.0) / 2.0, (q.1 + c.1) / 2.0);
        // Keep points p with (p − mid)·dir ≤ 0 (the side of c).
        let side = |p: (f64, f64)| (p.0 - mid.0) * dir.0 + (p.1 - mid.1) * dir.1;
        let mut out = Vec::with_capacity(poly.len() + 1);
        for i in 0..poly.len() {
            let p = poly[i];
            let q2 = poly[(i + 1) % poly.len()];
            let (sp, sq) = (side(p), side(q2));
            if sp <= 0.0 {
                out.push(p);
            }
            if (sp < 0.0 && sq > 0.0) || (sp > 0.0 && sq < 0.0) {
                let t = sp / (sp - sq);
                out.push((p.0 + t * (q2.0 - p.0), p.1 + t * (q2.1 - p.1)));
            }
        }
        poly = out;
        if poly.len() < 3 {
            return Vec::new();
        }
    }
    poly
}

fn ring_metrics(ring: &LineString<f64>) -> (f64, f64) {
    let pts = &ring.0;
    let mut area2 = 0.0;
    let mut perim = 0.0;
    for w in pts.windows(2) {
        area2 += w[0].x * w[1].y - w[1].x * w[0].y;
        perim += ((w[1].x - w[0].x).powi(2) + (w[1].y - w[0].y).powi(2)).sqrt();
    }
    (area2.abs() / 2.0, perim)
}

/// Dissolves cells into one multipolygon per school. `schools_of(b)` gives the schools a
/// block belongs to; `n_schools` is the number of schools.
pub(crate) fn polygons_from(
    adj: &Adjacency,
    n_schools: usize,
    schools_of: &(dyn Fn(u32) -> Vec<u32> + Sync),
    radius: f64,
) -> ZonePolygons {
    let n = adj.len();
    // Schools of each distinct point.
    let mut point_schools: Vec<Vec<u32>> = vec![Vec::new(); n];
    for b in 0..n as u32 {
        let r = adj.rep[b as usize];
        point_schools[r as usize].extend(schools_of(b));
    }
    let mut cells_of: Vec<Vec<u32>> = vec![Vec::new(); n_schools];
    for (r, list) in point_schools.iter_mut().enumerate() {
        list.sort_unstable();
        list.dedup();
        for &s in list.iter() {
            if (s as usize) < n_schools {
                cells_of[s as usize].push(r as u32);
            }
        }
    }
    let frame: LocalFrame = adj.frame;
    let zones: Vec<Option<ZonePolygon>> = (0..n_schools)
        .into_par_iter()
        .map(|s| {
            let reps = &cells_of[s];
            if reps.is_empty() {
                return None;
            }
            let polys: Vec<Polygon<f64>> = reps
                .iter()
                .map(|&r| cell(adj, r, radius))
                .filter(|c| c.len() >= 3)
                .map(|c| {
                    let coords: Vec<Coord<f64>> = c.into_iter().map(|(x, y)| Coord { x, y }).collect();
                    Polygon::new(LineString::new(coords), Vec::new())
                })
                .collect();
            let merged = unary_union(&polys);
            let (mut area, mut perim) = (0.0, 0.0);
            for p in &merged.0 {
                let (a, l) = ring_metrics(p.exterior());
                area += a;
                perim += l;
                for h in p.interiors() {
                    let (a, l) = ring_metrics(h);
                    area -= a;
                    perim += l;
                }
            }
            let to_ll = |ring: &LineString<f64>| {
                LineString::new(
                    ring.0
                        .iter()
                        .map(|c| {
                            let (x, y) = frame.to_lonlat(c.x, c.y);
                            Coord { x, y }
                        })
                        .collect(),
                )
            };
            let polygon = MultiPolygon::new(
                merged
                    .0
                    .iter()
                    .map(|p| Polygon::new(to_ll(p.exterior()), p.interiors().iter().map(to_ll).collect()))
                    .collect(),
            );
            Some(ZonePolygon {
                school: s as u32,
                polygon,
                area_m2: area,
                perimeter_m: perim,
            })
        })
        .collect();
    ZonePolygons {
        zones: zones.into_iter().flatten().collect(),
    }
}

/// Zone polygons of an assignment (block → school).
pub fn zone_polygons(problem: &ZoningProblem, assignment: &[u32], adj: &Adjacency, cell_radius_m: u32) -> ZonePolygons {
    let of = |b: u32| match assignment.get(b as usize) {
        Some(&s) if s != UNASSIGNED => vec![s],
        _ => Vec::new(),
    };
    polygons_from(adj, problem.schools.len(), &of, cell_radius_m as f64)
}

/// Zone polygons of the problem's current zones (a multi-school zone's blocks belong to each
/// of its schools).
pub fn current_zone_polygons(problem: &ZoningProblem, adj: &Adjacency, cell_radius_m: u32) -> ZonePolygons {
    let of = |b: u32| problem.current.schools_of(b).to_vec();
    polygons_from(adj, problem.schools.len(), &of, cell_radius_m as f64)
}

/// Zone polygons of an assignment with multi-school groups: a block of a grouped school
/// belongs to every school of the group, so each member's polygon is the group's dissolved
/// union. `group_of` is [`group_index`](super::group_index) of `groups`.
pub(crate) fn group_polygons(
    problem: &ZoningProblem,
    assignment: &[u32],
    adj: &Adjacency,
    cell_radius_m: u32,
    groups: &[SchoolGroup],
    group_of: &[Option<usize>],
) -> ZonePolygons {
    let of = |b: u32| match assignment.get(b as usize) {
        Some(&s) if s != UNASSIGNED => match group_of.get(s as usize).copied().flatten() {
            Some(g) => groups[g].schools.clone(),
            None => vec![s],
        },
        _ => Vec::new(),
    };
    polygons_from(adj, problem.schools.len(), &of, cell_radius_m as f64)
}
