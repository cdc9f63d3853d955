//! Zone polygons: each distinct block point's Voronoi cell (cut by a disc of `cell_radius_m`),
//! built with shared vertices on a 1e-7° grid ([`super::cells`]) and dissolved per school by
//! exact edge cancellation ([`super::dissolve`]): OGC-valid polygons, one part per piece of
//! the zone as drawn. A point where blocks of several schools sit (or a multi-school zone)
//! belongs to each.

use geo::{Coord, LineString, MultiPolygon, Polygon};
use rayon::prelude::*;

use super::adjacency::{Adjacency, LocalFrame};
use super::cells::{GRID, GridPt, bounded_cells};
use super::dissolve::dissolve;
use super::multischool::SchoolGroup;
use super::{UNASSIGNED, ZoningProblem};

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

fn ring_metrics(frame: &LocalFrame, ring: &[GridPt]) -> (f64, f64) {
    let xy: Vec<(f64, f64)> = ring
        .iter()
        .map(|p| frame.to_xy(p.0 as f64 / GRID, p.1 as f64 / GRID))
        .collect();
    let n = xy.len();
    let mut area2 = 0.0;
    let mut perim = 0.0;
    for i in 0..n {
        let (a, b) = (xy[i], xy[(i + 1) % n]);
        area2 += a.0 * b.1 - b.0 * a.1;
        perim += ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
    }
    (area2.abs() / 2.0, perim)
}

fn to_linestring(ring: &[GridPt]) -> LineString<f64> {
    LineString::new(
        ring.iter()
            .map(|p| Coord {
                x: p.0 as f64 / GRID,
                y: p.1 as f64 / GRID,
            })
            .collect(),
    )
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
    let cells = bounded_cells(adj, radius);
    let zones: Vec<Option<ZonePolygon>> = (0..n_schools)
        .into_par_iter()
        .map(|s| {
            let reps = &cells_of[s];
            if reps.is_empty() {
                return None;
            }
            let merged = dissolve(reps.iter().map(|&r| cells[r as usize].as_slice()));
            if merged.is_empty() {
                return None;
            }
            let (mut area, mut perim) = (0.0, 0.0);
            for p in &merged {
                let (a, l) = ring_metrics(&frame, &p.shell);
                area += a;
                perim += l;
                for h in &p.holes {
                    let (a, l) = ring_metrics(&frame, h);
                    area -= a;
                    perim += l;
                }
            }
            let polygon = MultiPolygon::new(
                merged
                    .iter()
                    .map(|p| {
                        Polygon::new(
                            to_linestring(&p.shell),
                            p.holes.iter().map(|h| to_linestring(h)).collect(),
                        )
                    })
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
