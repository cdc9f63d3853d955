//! Road-network distances: `roads.csv` edges, bounded Dijkstra from every school in parallel.
//!
//! `roads.csv` columns: `from_lon, from_lat, to_lon, to_lat` (in the scenario's coordinate
//! system), optional `length_m` (default: the straight length of the edge) and `oneway`
//! (default false). Edge ends with the same coordinates (to 1e-7 degrees) are one node. Each
//! block and school joins the network at its nearest node, the straight access distance
//! added. A search stops at the radius, so pairs farther apart by road are not allowed.
//!
//! The search is a plain binary-heap Dijkstra over a CSR graph (rather than petgraph's, which
//! has no distance bound); results are collected in school order, so they are the same at any
//! thread count.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::Read;
use std::path::Path;

use rayon::prelude::*;
use rstar::RTree;
use rstar::primitives::GeomWithData;

use crate::crs::Crs;
use crate::error::{Diagnostic, Diagnostics};
use crate::model::Location;

use super::distance::{DistanceTable, Distances};
use super::{ZoningError, ZoningProblem};

/// A road network as a directed CSR graph.
#[derive(Debug, Clone, Default)]
pub struct RoadNetwork {
    nodes: Vec<Location>,
    start: Vec<u32>,
    to: Vec<u32>,
    len: Vec<u32>,
}

impl RoadNetwork {
    /// Reads `roads.csv`.
    pub fn read(path: &Path, crs: Crs) -> Result<RoadNetwork, ZoningError> {
        let f = std::fs::File::open(path).map_err(|source| ZoningError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        RoadNetwork::from_csv(f, &path.display().to_string(), crs)
    }

    /// Reads roads from CSV text; every bad row is reported with line, column and fix.
    pub fn from_csv<R: Read>(reader: R, file: &str, crs: Crs) -> Result<RoadNetwork, ZoningError> {
        let mut diags = Diagnostics::default();
        let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
        let headers = match rdr.headers() {
            Ok(h) => h
                .iter()
                .map(|x| x.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
                .collect::<Vec<_>>(),
            Err(e) => {
                diags.push(Diagnostic::file(
                    file,
                    e.to_string(),
                    "save the file as UTF-8 CSV with a header row",
                ));
                return Err(ZoningError::Invalid(diags));
            }
        };
        let col = |name: &str| headers.iter().position(|h| h == name);
        let need = ["from_lon", "from_lat", "to_lon", "to_lat"];
        let mut idx = [0usize; 4];
        for (i, n) in need.iter().enumerate() {
            match col(n) {
                Some(c) => idx[i] = c,
                None => diags.push(
                    Diagnostic::file(file, format!("the column {n} is missing"), format!("add a {n} column"))
                        .at_field(None, *n),
                ),
            }
        }
        if !diags.is_empty() {
            return Err(ZoningError::Invalid(diags));
        }
        let len_col = col("length_m");
        let oneway_col = col("oneway");
        let mut key_to_node: HashMap<(i64, i64), u32> = HashMap::new();
        let mut nodes: Vec<Location> = Vec::new();
        let mut edges: Vec<(u32, u32, u32)> = Vec::new();
        let mut node = |lon: f64, lat: f64, nodes: &mut Vec<Location>| -> u32 {
            let key = ((lon * 1e7).round() as i64, (lat * 1e7).round() as i64);
            *key_to_node.entry(key).or_insert_with(|| {
                let (wlon, wlat) = crs.to_wgs84(lon, lat);
                nodes.push(Location::from_wgs84(wlon, wlat));
                (nodes.len() - 1) as u32
            })
        };
        for (i, rec) in rdr.records().enumerate() {
            let line = i as u64 + 2;
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    diags.push(Diagnostic::file(file, e.to_string(), "save the file as UTF-8 CSV").at_line(line));
                    continue;
                }
            };
            let mut vals = [0f64; 4];
            let mut ok = true;
            for (k, &c) in idx.iter().enumerate() {
                let text = rec.get(c).unwrap_or("").trim();
                let limit = if k % 2 == 0 { 180.0 } else { 90.0 };
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() && v.abs() <= limit => vals[k] = v,
                    _ => {
                        ok = false;
                        diags.push(
                            Diagnostic::file(
                                file,
                                format!("{} is not a coordinate in degrees", need[k]),
                                "write a number such as 120.3012",
                            )
                            .at_line(line)
                            .at_field(Some(c + 1), need[k])
                            .with_value(text),
                        );
                    }
                }
            }
            if !ok {
                continue;
            }
            let a = node(vals[0], vals[1], &mut nodes);
            let b = node(vals[2], vals[3], &mut nodes);
            let length = match len_col.map(|c| rec.get(c).unwrap_or("").trim()) {
                Some(t) if !t.is_empty() => match t.parse::<f64>() {
                    Ok(v) if (0.0..1e8).contains(&v) => v.round() as u32,
                    _ => {
                        diags.push(
                            Diagnostic::file(
                                file,
                                "length_m is not a length in metres",
                                "write a number ≥ 0 or leave it empty",
                            )
                            .at_line(line)
                            .at_field(len_col.map(|c| c + 1), "length_m")
                            .with_value(t),
                        );
                        continue;
                    }
                },
                _ => nodes[a as usize].distance_m(&nodes[b as usize]),
            };
            let oneway = oneway_col
                .map(|c| rec.get(c).unwrap_or("").trim().to_ascii_lowercase())
                .is_some_and(|t| matches!(t.as_str(), "true" | "1" | "yes" | "y" | "t" | "是"));
            if a != b {
                edges.push((a, b, length));
                if !oneway {
                    edges.push((b, a, length));
                }
            }
        }
        if !diags.is_empty() {
            return Err(ZoningError::Invalid(diags));
        }
        edges.sort_unstable();
        let n = nodes.len();
        let mut start = vec![0u32; n + 1];
        for &(a, _, _) in &edges {
            start[a as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        Ok(RoadNetwork {
            nodes,
            start,
            to: edges.iter().map(|e| e.1).collect(),
            len: edges.iter().map(|e| e.2).collect(),
        })
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Road distances from every school to every block within `radius_m` metres.
    pub fn distances(&self, problem: &ZoningProblem, radius_m: u32) -> Distances {
        let nb = problem.blocks.len();
        if self.nodes.is_empty() {
            return Distances::Table(DistanceTable::from_lists(vec![Vec::new(); nb]));
        }
        let tree = RTree::bulk_load(
            self.nodes
                .iter()
                .enumerate()
                .map(|(i, l)| GeomWithData::new(l.ecef, i as u32))
                .collect(),
        );
        let snap = |l: &Location| -> (u32, u32) {
            let p = tree.nearest_neighbor(&l.ecef).map(|p| p.data).unwrap_or(0);
            (p, l.distance_m(&self.nodes[p as usize]))
        };
        let block_snap: Vec<(u32, u32)> = problem.blocks.par_iter().map(|b| snap(&b.location)).collect();
        // Blocks attached to each node (CSR).
        let n = self.nodes.len();
        let mut at_start = vec![0u32; n + 1];
        for &(node, _) in &block_snap {
            at_start[node as usize + 1] += 1;
        }
        for i in 0..n {
            at_start[i + 1] += at_start[i];
        }
        let mut fill = at_start.clone();
        let mut at = vec![0u32; nb];
        for (b, &(node, _)) in block_snap.iter().enumerate() {
            at[fill[node as usize] as usize] = b as u32;
            fill[node as usize] += 1;
        }
        let per_school: Vec<Vec<(u32, u32)>> = problem
            .schools
            .par_iter()
            .map_init(
                || (vec![u32::MAX; n], Vec::new()),
                |(dist, touched): &mut (Vec<u32>, Vec<u32>), s| {
                    let (origin, access) = snap(&s.location);
                    let mut found = Vec::new();
                    if access > radius_m {
                        return found;
                    }
                    let mut heap = BinaryHeap::new();
                    dist[origin as usize] = access;
                    touched.push(origin);
                    heap.push(Reverse((access, origin)));
                    while let Some(Reverse((d, u))) = heap.pop() {
                        if d > dist[u as usize] {
                            continue;
                        }
                        for b in &at[at_start[u as usize] as usize..at_start[u as usize + 1] as usize] {
                            let total = d.saturating_add(block_snap[*b as usize].1);
                            if total <= radius_m {
                                found.push((*b, total));
                            }
                        }
                        for e in self.start[u as usize] as usize..self.start[u as usize + 1] as usize {
                            let v = self.to[e];
                            let nd = d.saturating_add(self.len[e]);
                            if nd <= radius_m && nd < dist[v as usize] {
                                if dist[v as usize] == u32::MAX {
                                    touched.push(v);
                                }
                                dist[v as usize] = nd;
                                heap.push(Reverse((nd, v)));
                            }
                        }
                    }
                    for &t in touched.iter() {
                        dist[t as usize] = u32::MAX;
                    }
                    touched.clear();
                    found
                },
            )
            .collect();
        let mut lists: Vec<Vec<(u32, u32)>> = vec![Vec::new(); nb];
        for (s, found) in per_school.into_iter().enumerate() {
            for (b, m) in found {
                lists[b as usize].push((s as u32, m));
            }
        }
        Distances::Table(DistanceTable::from_lists(lists))
    }
}
