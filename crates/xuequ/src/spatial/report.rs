//! What was measured: `roads_report.json` and `distances.csv` of `xuequ roads`.

use crate::error::OutputError;
use crate::io::{CsvWriter, OutputSet};
use std::io::Write;

use serde::Serialize;

use crate::model::City;

use super::{CacheStatus, Spatial};

/// Nearest-rank percentiles of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Percentiles {
    /// Sample size.
    pub count: usize,
    /// 10th percentile.
    pub p10: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    /// Percentiles of `values` (sorted here).
    pub fn of(mut values: Vec<f64>) -> Percentiles {
        if values.is_empty() {
            return Percentiles::default();
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let at = |q: f64| values[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        Percentiles {
            count: n,
            p10: at(0.10),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: values[n - 1],
        }
    }
}

/// `roads_report.json`: the network and what it measured.
#[derive(Debug, Clone, Serialize)]
pub struct RoadsReport {
    /// Always `roads`.
    pub distance: &'static str,
    /// The roads file.
    pub source: String,
    /// walk or drive.
    pub mode: &'static str,
    /// Search radius, metres.
    pub radius_m: u32,
    /// Snap limit, metres.
    pub max_snap_m: u32,
    /// Ways kept by the tag filter.
    pub ways_kept: usize,
    /// Kept ways cut at the extract's edge.
    pub ways_with_missing_nodes: usize,
    /// Nodes of the graph.
    pub nodes: usize,
    /// Segments (a two-way street once).
    pub segments: usize,
    /// Directed arcs.
    pub arcs: usize,
    /// Total segment length, km.
    pub kilometres: f64,
    /// Connected pieces, ignoring direction.
    pub components: usize,
    /// Share of nodes in the largest piece.
    pub largest_component_share: f64,
    /// Blocks joined to the network.
    pub blocks_snapped: usize,
    /// Blocks farther than `max_snap_m` from every road.
    pub blocks_off_network: usize,
    /// Schools joined to the network.
    pub schools_snapped: usize,
    /// Schools farther than `max_snap_m` from every road.
    pub schools_off_network: usize,
    /// Snap lengths of blocks, metres.
    pub block_snap_m: Percentiles,
    /// Snap lengths of schools, metres.
    pub school_snap_m: Percentiles,
    /// School–block pairs within the radius by road.
    pub pairs_by_road: usize,
    /// Pairs within the radius in a straight line but unreachable by road within it.
    pub pairs_unreachable: usize,
    /// Blocks that reach no school.
    pub blocks_reaching_no_school: usize,
    /// Road ÷ straight distance over the pairs found (straight > 0).
    pub road_to_straight: Percentiles,
    /// Blocks whose nearest school by road differs from the nearest in a straight line
    /// (same stage; both within the radius).
    pub nearest_school_differs: usize,
    /// What the cache did.
    pub cache: CacheStatus,
}

impl RoadsReport {
    /// The report of a road [`Spatial`] over its city; `None` for another source.
    pub fn new(spatial: &Spatial, city: &City) -> Option<RoadsReport> {
        let net = spatial.network()?;
        let o = spatial.road_options()?;
        let g = &net.graph;
        let (piece, components) = g.components();
        let mut sizes = vec![0usize; components];
        for &p in &piece {
            sizes[p as usize] += 1;
        }
        let largest = sizes.iter().copied().max().unwrap_or(0);
        let snaps_m = |s: &[Option<super::Snap>]| {
            Percentiles::of(s.iter().flatten().map(|x| f64::from(x.access_mm) / 1000.0).collect())
        };
        let radius_mm = o.radius_m.saturating_mul(1000);
        let mut pairs = 0usize;
        let mut unreachable = 0usize;
        let mut ratios = Vec::new();
        let mut reached = vec![false; city.blocks.len()];
        // Per block and stage: nearest by road and by straight line, as (mm, school id).
        let mut near_road: Vec<[Option<(u32, &str)>; 3]> = vec![[None; 3]; city.blocks.len()];
        let mut near_line: Vec<[Option<(u32, &str)>; 3]> = vec![[None; 3]; city.blocks.len()];
        for (s, school) in city.schools.iter().enumerate() {
            let row = spatial.school_row(s as u32);
            let st = school.stage as usize;
            let mut k = 0usize;
            for b in 0..city.blocks.len() as u32 {
                let line = spatial.straight_mm(s as u32, b);
                let road = if k < row.len() && row[k].0 == b {
                    k += 1;
                    Some(row[k - 1].1)
                } else {
                    None
                };
                let bi = b as usize;
                if line <= radius_mm {
                    let cand = (line, school.id.as_str());
                    if near_line[bi][st].is_none_or(|c| cand < c) {
                        near_line[bi][st] = Some(cand);
                    }
                }
                match road {
                    Some(r) => {
                        pairs += 1;
                        reached[bi] = true;
                        if line > 0 {
                            ratios.push(f64::from(r) / f64::from(line));
                        }
                        let cand = (r, school.id.as_str());
                        if near_road[bi][st].is_none_or(|c| cand < c) {
                            near_road[bi][st] = Some(cand);
                        }
                    }
                    None if line <= radius_mm => unreachable += 1,
                    None => {}
                }
            }
        }
        let differs = near_road
            .iter()
            .zip(&near_line)
            .filter(|(r, l)| (0..3).any(|st| matches!((r[st], l[st]), (Some(a), Some(b)) if a.1 != b.1)))
            .count();
        let bs = spatial.block_snaps();
        let ss = spatial.school_snaps();
        Some(RoadsReport {
            distance: "roads",
            source: net.source.display().to_string(),
            mode: net.mode.as_str(),
            radius_m: o.radius_m,
            max_snap_m: o.max_snap_m,
            ways_kept: net.ways_kept,
            ways_with_missing_nodes: net.missing_node_refs,
            nodes: g.node_count(),
            segments: g.segment_count(),
            arcs: g.arc_count(),
            kilometres: (g.kilometres() * 1000.0).round() / 1000.0,
            components,
            largest_component_share: if piece.is_empty() {
                0.0
            } else {
                ((largest as f64 / piece.len() as f64) * 1e4).round() / 1e4
            },
            blocks_snapped: bs.iter().flatten().count(),
            blocks_off_network: bs.iter().filter(|s| s.is_none()).count(),
            schools_snapped: ss.iter().flatten().count(),
            schools_off_network: ss.iter().filter(|s| s.is_none()).count(),
            block_snap_m: snaps_m(bs),
            school_snap_m: snaps_m(ss),
            pairs_by_road: pairs,
            pairs_unreachable: unreachable,
            blocks_reaching_no_school: reached.iter().filter(|r| !**r).count(),
            road_to_straight: Percentiles::of(ratios),
            nearest_school_differs: differs,
            cache: net.cache.clone(),
        })
    }
}

/// Streams `distances.csv` (`school_id, block_id, distance_m`, metres to the millimetre),
/// every pair the source measures, by school then block, through the one CSV writer:
/// readable back as a `matrix` source with the same distances.
pub fn write_distances(w: &mut dyn Write, spatial: &Spatial, city: &City) -> std::io::Result<()> {
    w.write_all(&CsvWriter::with_header(&["school_id", "block_id", "distance_m"], false).into_bytes())?;
    for (s, school) in city.schools.iter().enumerate() {
        let mut rows = CsvWriter::piece(1 << 12);
        for (b, mm) in spatial.school_row(s as u32) {
            rows.text(&school.id)
                .text(&city.blocks[b as usize].id)
                .value(format_args!("{}.{:03}", mm / 1000, mm % 1000));
            rows.end();
        }
        w.write_all(&rows.into_bytes())?;
    }
    Ok(())
}

/// Adds `distances.csv` and `roads_report.json` to an output set; returns the report.
/// `None` when `spatial` is not a road source.
pub fn write_roads_outputs(
    set: &mut OutputSet,
    spatial: &Spatial,
    city: &City,
) -> Result<Option<RoadsReport>, OutputError> {
    let Some(report) = RoadsReport::new(spatial, city) else {
        return Ok(None);
    };
    set.write("distances.csv", &|w: &mut dyn Write| write_distances(w, spatial, city))?;
    let mut text = serde_json::to_vec_pretty(&report).unwrap_or_default();
    text.push(b'\n');
    set.write_bytes("roads_report.json", &text)?;
    Ok(Some(report))
}
