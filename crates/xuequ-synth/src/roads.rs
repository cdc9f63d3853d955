//! A synthetic walking network written as OpenStreetMap `.osm.pbf`: a street grid over the
//! city's extent with every sixth street an arterial, nodes jittered a little, some local
//! links missing, and canals and a railway as barriers that only a few bridges and level
//! crossings cross. The barriers themselves are written as `waterway=canal` and
//! `railway=rail` ways (not walkable: the reader drops them).
//!
//! The PBF encoder is minimal and self-contained: an `OSMHeader` blob, then `OSMData` blobs
//! of 8,000 dense nodes or ways each, zlib-compressed.

use std::io::Write;
use std::path::Path;

use flate2::Compression;
use flate2::write::ZlibEncoder;

use crate::SynthError;
use crate::geography::{M_PER_UDEG_LAT, M_PER_UDEG_LON, MicroPt};
use crate::rng::{Purpose, Rand};

/// What a road network holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoadsSummary {
    /// Nodes written.
    pub nodes: u64,
    /// Ways written (streets, canals, railway).
    pub ways: u64,
    /// Grid spacing in metres.
    pub spacing_m: u32,
}

/// Grid lines (columns, rows) a barrier cuts between: barrier after column `at`.
struct Barrier {
    vertical: bool,
    at: usize,
    crossing_every: usize,
    tag: (&'static str, &'static str),
}

/// Writes a street grid covering `lo..hi` (micro-degrees, a margin added) with `spacing_m`
/// metres between streets to `path`.
pub(crate) fn write_grid(
    path: &Path,
    lo: MicroPt,
    hi: MicroPt,
    spacing_m: f64,
    seed: u64,
) -> Result<RoadsSummary, SynthError> {
    write_grid_with(path, lo, hi, spacing_m, seed, 0)
}

/// [`write_grid`] with `buildings` square `building=yes` ways in every grid cell (not
/// walkable: a file closer to a real city extract, where most nodes are not roads).
fn write_grid_with(
    path: &Path,
    lo: MicroPt,
    hi: MicroPt,
    spacing_m: f64,
    seed: u64,
    buildings: usize,
) -> Result<RoadsSummary, SynthError> {
    let margin = 300.0;
    let lo = lo.moved(-margin, -margin);
    let hi = hi.moved(margin, margin);
    let width = f64::from(hi.lon - lo.lon) * M_PER_UDEG_LON;
    let height = f64::from(hi.lat - lo.lat) * M_PER_UDEG_LAT;
    let cols = ((width / spacing_m).ceil() as usize).max(1) + 1;
    let rows = ((height / spacing_m).ceil() as usize).max(1) + 1;
    let mut rng = Rand::new(seed, 0, Purpose::Roads);
    let jitter = spacing_m * 0.12;
    let mut nodes: Vec<MicroPt> = Vec::with_capacity(cols * rows);
    for r in 0..rows {
        for c in 0..cols {
            let p = lo.moved(
                c as f64 * spacing_m + rng.range(-jitter, jitter),
                r as f64 * spacing_m + rng.range(-jitter, jitter),
            );
            nodes.push(p);
        }
    }
    let id = |c: usize, r: usize| (r * cols + c) as i64 + 1;
    // Two canals (north–south), one canal and one railway (east–west).
    let mut barriers = Vec::new();
    for (k, (vertical, tag, every)) in [
        (true, ("waterway", "canal"), 10),
        (true, ("waterway", "canal"), 12),
        (false, ("railway", "rail"), 14),
        (false, ("waterway", "canal"), 9),
    ]
    .into_iter()
    .enumerate()
    {
        let n = if vertical { cols } else { rows };
        if n < 6 {
            continue;
        }
        let at = (n * (k + 1) / 5).clamp(1, n - 2);
        barriers.push(Barrier {
            vertical,
            at,
            crossing_every: every,
            tag,
        });
    }
    let blocked = |horizontal_edge: bool, c: usize, r: usize| {
        // A horizontal edge (c,r)-(c+1,r) crosses a vertical barrier after column c.
        barriers.iter().any(|b| {
            if b.vertical == horizontal_edge {
                let (at, along) = if horizontal_edge { (c, r) } else { (r, c) };
                b.at == at && along % b.crossing_every != 0
            } else {
                false
            }
        })
    };
    let mut ways: Vec<(Vec<i64>, &'static str, &'static str)> = Vec::new();
    // Streets: each grid line is split into ways at missing links.
    for horizontal in [true, false] {
        let (lines, len) = if horizontal { (rows, cols) } else { (cols, rows) };
        for line in 0..lines {
            let highway = if line % 6 == 0 { "primary" } else { "residential" };
            let mut run: Vec<i64> = Vec::new();
            for k in 0..len {
                let (c, r) = if horizontal { (k, line) } else { (line, k) };
                run.push(id(c, r));
                let last = k + 1 == len;
                let missing = !last && (blocked(horizontal, c, r) || (highway == "residential" && rng.chance(0.06)));
                if last || missing {
                    if run.len() >= 2 {
                        ways.push((std::mem::take(&mut run), "highway", highway));
                    }
                    run.clear();
                }
            }
        }
    }
    // The barriers themselves, along the gap between two grid lines.
    let mut extra_nodes: Vec<MicroPt> = Vec::new();
    for b in &barriers {
        let mut refs = Vec::new();
        let n = if b.vertical { rows } else { cols };
        for k in 0..n {
            let (a, bb) = if b.vertical {
                (nodes[k * cols + b.at], nodes[k * cols + b.at + 1])
            } else {
                (nodes[b.at * cols + k], nodes[(b.at + 1) * cols + k])
            };
            extra_nodes.push(MicroPt {
                lon: (a.lon + bb.lon) / 2,
                lat: (a.lat + bb.lat) / 2,
            });
            refs.push((nodes.len() + extra_nodes.len()) as i64);
        }
        ways.push((refs, b.tag.0, b.tag.1));
    }
    nodes.extend(extra_nodes);
    // Buildings: small squares inside each cell.
    let side = spacing_m / (2.0 * (buildings.max(1) as f64).sqrt() + 1.0);
    for r in 0..rows.saturating_sub(1) {
        for c in 0..cols.saturating_sub(1) {
            let corner = lo.moved(c as f64 * spacing_m, r as f64 * spacing_m);
            for _ in 0..buildings {
                let x = rng.range(spacing_m * 0.15, spacing_m * 0.85 - side);
                let y = rng.range(spacing_m * 0.15, spacing_m * 0.85 - side);
                let first = nodes.len() as i64 + 1;
                for (dx, dy) in [(0.0, 0.0), (side, 0.0), (side, side), (0.0, side)] {
                    nodes.push(corner.moved(x + dx, y + dy));
                }
                ways.push((vec![first, first + 1, first + 2, first + 3, first], "building", "yes"));
            }
        }
    }
    let summary = RoadsSummary {
        nodes: nodes.len() as u64,
        ways: ways.len() as u64,
        spacing_m: spacing_m.round() as u32,
    };
    write_pbf(path, &nodes, &ways)?;
    Ok(summary)
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u32) {
    varint(out, u64::from((field << 3) | wire));
}

fn bytes_field(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    key(out, field, 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn packed_sint_delta(out: &mut Vec<u8>, field: u32, values: impl Iterator<Item = i64>) {
    let mut body = Vec::new();
    let mut prev = 0i64;
    for v in values {
        varint(&mut body, zigzag(v - prev));
        prev = v;
    }
    bytes_field(out, field, &body);
}

/// Writes one blob (header length, `BlobHeader`, zlib `Blob`).
fn blob(file: &mut impl Write, kind: &str, data: &[u8]) -> std::io::Result<()> {
    let mut z = ZlibEncoder::new(Vec::new(), Compression::fast());
    z.write_all(data)?;
    let compressed = z.finish()?;
    let mut b = Vec::new();
    key(&mut b, 2, 0);
    varint(&mut b, data.len() as u64);
    bytes_field(&mut b, 3, &compressed);
    let mut h = Vec::new();
    bytes_field(&mut h, 1, kind.as_bytes());
    key(&mut h, 3, 0);
    varint(&mut h, b.len() as u64);
    file.write_all(&(h.len() as u32).to_be_bytes())?;
    file.write_all(&h)?;
    file.write_all(&b)
}

/// Writes nodes (ids 1..) and ways (ids 1..) as `.osm.pbf`.
pub(crate) fn write_pbf(
    path: &Path,
    nodes: &[MicroPt],
    ways: &[(Vec<i64>, &'static str, &'static str)],
) -> Result<(), SynthError> {
    let err = |e| SynthError::io(path, e);
    let tmp = path.with_extension("pbf.tmp");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(err)?);
    let mut header = Vec::new();
    bytes_field(&mut header, 4, b"OsmSchema-V0.6");
    bytes_field(&mut header, 4, b"DenseNodes");
    bytes_field(&mut header, 16, b"xuequ-synth");
    blob(&mut f, "OSMHeader", &header).map_err(err)?;
    const PER_BLOCK: usize = 8000;
    for (k, chunk) in nodes.chunks(PER_BLOCK).enumerate() {
        let first = (k * PER_BLOCK) as i64 + 1;
        let mut dense = Vec::new();
        packed_sint_delta(&mut dense, 1, (0..chunk.len() as i64).map(|i| first + i));
        // Granularity 100 nanodegrees: micro-degrees × 10.
        packed_sint_delta(&mut dense, 8, chunk.iter().map(|p| i64::from(p.lat) * 10));
        packed_sint_delta(&mut dense, 9, chunk.iter().map(|p| i64::from(p.lon) * 10));
        let mut group = Vec::new();
        bytes_field(&mut group, 2, &dense);
        let mut block = Vec::new();
        let mut table = Vec::new();
        bytes_field(&mut table, 1, b"");
        bytes_field(&mut block, 1, &table);
        bytes_field(&mut block, 2, &group);
        blob(&mut f, "OSMData", &block).map_err(err)?;
    }
    for (k, chunk) in ways.chunks(PER_BLOCK).enumerate() {
        // String table: "", then every key and value used in this block.
        let mut strings: Vec<&str> = vec![""];
        for w in chunk {
            for s in [w.1, w.2] {
                if !strings.contains(&s) {
                    strings.push(s);
                }
            }
        }
        let index = |s: &str| strings.iter().position(|x| *x == s).unwrap_or(0) as u64;
        let mut table = Vec::new();
        for s in &strings {
            bytes_field(&mut table, 1, s.as_bytes());
        }
        let mut group = Vec::new();
        for (i, w) in chunk.iter().enumerate() {
            let mut way = Vec::new();
            key(&mut way, 1, 0);
            varint(&mut way, (k * PER_BLOCK + i) as u64 + 1);
            let mut keys = Vec::new();
            varint(&mut keys, index(w.1));
            bytes_field(&mut way, 2, &keys);
            let mut vals = Vec::new();
            varint(&mut vals, index(w.2));
            bytes_field(&mut way, 3, &vals);
            packed_sint_delta(&mut way, 8, w.0.iter().copied());
            bytes_field(&mut group, 3, &way);
        }
        let mut block = Vec::new();
        bytes_field(&mut block, 1, &table);
        bytes_field(&mut block, 2, &group);
        blob(&mut f, "OSMData", &block).map_err(err)?;
    }
    f.flush().map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)?;
    Ok(())
}

/// Writes a synthetic walking network of about `road_nodes` street nodes (a jittered street
/// grid around central Wuxi with barriers) to `path`, with `buildings` square
/// `building=yes` ways per grid cell (dropped by the reader, as most of a real extract is):
/// for benchmarks of reading and searching.
pub fn write_synthetic_network(
    path: &Path,
    road_nodes: u64,
    spacing_m: f64,
    buildings: usize,
    seed: u64,
) -> Result<RoadsSummary, SynthError> {
    let side = (road_nodes as f64).sqrt() * spacing_m;
    let lo = MicroPt::from_deg(120.0, 31.3);
    let hi = lo.moved(side, side);
    write_grid_with(path, lo, hi, spacing_m, seed, buildings)
}
