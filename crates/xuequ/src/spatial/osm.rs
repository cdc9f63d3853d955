//! OpenStreetMap input: `.osm.pbf` (through `osmpbf`) and `.osm` XML (through `quick-xml`),
//! filtered to the ways a pedestrian (or a car) can use.
//!
//! Which ways count (`highway=*` ways only; everything else is ignored):
//!
//! | mode | kept | dropped |
//! |---|---|---|
//! | walk | every `highway=*` value not dropped; `cycleway` only with `foot=yes\|designated\|permissive` | `motorway`, `motorway_link`, `cycleway` (see kept), `bus_guideway`, `raceway`, `construction`, `proposed`, `planned`, `abandoned`, `razed`, `platform`, `no`; `area=yes`; `foot=no`; `access=no\|private` unless `foot=yes\|designated\|permissive`; `service=private` |
//! | drive | `motorway`, `trunk`, `primary`, `secondary`, `tertiary` and their `_link`s, `unclassified`, `residential`, `living_street`, `road` | every other value (footways, paths, steps, service roads, tracks, ...); `area=yes`; `access=no\|private`, `motor_vehicle=no`, `motorcar=no` |
//!
//! This is the walking and driving filter of OSMnx (a widely used OpenStreetMap network
//! tool), with cycleways a pedestrian may use added back. Walking ignores one-way rules;
//! driving follows `oneway=yes\|true\|1` (forward), `oneway=-1\|reverse` (backward),
//! `junction=roundabout` and `highway=motorway` (forward unless `oneway=no`).

use std::io::Read;

use rayon::prelude::*;

use crate::model::Location;

use super::network::{Segment, mm};
use super::{RoadMode, SpatialError};

/// Ways and nodes read from a file, before the graph is built.
#[derive(Debug, Default)]
pub(crate) struct RawRoads {
    /// Node locations (only nodes used by kept ways).
    pub nodes: Vec<Location>,
    /// Segments between consecutive way nodes.
    pub segments: Vec<Segment>,
    /// Ways kept.
    pub ways_kept: usize,
    /// Ways that name a node the file does not hold (cut at the extract's edge); their
    /// segments touching the missing node are dropped.
    pub missing_node_refs: usize,
}

/// Travel directions a way allows in a mode, `None` if the way is not kept.
pub(crate) fn keep_way<'a>(mode: RoadMode, tag: impl Fn(&str) -> Option<&'a str>) -> Option<(bool, bool)> {
    let highway = tag("highway")?;
    if tag("area") == Some("yes") {
        return None;
    }
    let access = tag("access");
    match mode {
        RoadMode::Walk => {
            let foot = tag("foot");
            let foot_ok = matches!(foot, Some("yes" | "designated" | "permissive"));
            let dropped = matches!(
                highway,
                "motorway"
                    | "motorway_link"
                    | "bus_guideway"
                    | "raceway"
                    | "construction"
                    | "proposed"
                    | "planned"
                    | "abandoned"
                    | "razed"
                    | "platform"
                    | "no"
            );
            if dropped || (highway == "cycleway" && !foot_ok) || foot == Some("no") {
                return None;
            }
            if matches!(access, Some("no" | "private")) && !foot_ok {
                return None;
            }
            if tag("service") == Some("private") {
                return None;
            }
            Some((true, true))
        }
        RoadMode::Drive => {
            let kept = matches!(
                highway,
                "motorway"
                    | "motorway_link"
                    | "trunk"
                    | "trunk_link"
                    | "primary"
                    | "primary_link"
                    | "secondary"
                    | "secondary_link"
                    | "tertiary"
                    | "tertiary_link"
                    | "unclassified"
                    | "residential"
                    | "living_street"
                    | "road"
            );
            if !kept
                || matches!(access, Some("no" | "private"))
                || tag("motor_vehicle") == Some("no")
                || tag("motorcar") == Some("no")
            {
                return None;
            }
            Some(match tag("oneway") {
                Some("yes" | "true" | "1") => (true, false),
                Some("-1" | "reverse") => (false, true),
                Some("no" | "false" | "0") => (true, true),
                _ if tag("junction") == Some("roundabout") || highway == "motorway" => (true, false),
                _ => (true, true),
            })
        }
    }
}

/// A kept way: its node ids and directions.
struct Way {
    id: i64,
    refs: Vec<i64>,
    forward: bool,
    backward: bool,
}

/// A node: id, longitude and latitude in 1e-7 degrees (OpenStreetMap's own precision).
type RawNode = (i64, i32, i32);

/// 1e-9 degrees to 1e-7 degrees, rounded half away from zero (as [`e7`] rounds degrees), read
/// from the file's integers without a detour through floating point.
fn e7_from_nano(nano: i64) -> i32 {
    let half = if nano >= 0 { 50 } else { -50 };
    ((nano + half) / 100).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Degrees to 1e-7 degrees.
fn e7(deg: f64) -> i32 {
    (deg * 1e7).round() as i32
}

/// Joins ways to node coordinates and builds segments. `runs` are the nodes of each blob in
/// file order; a `.osm.pbf` holds them sorted by id in non-overlapping runs, so a node is found
/// by two binary searches without copying them into one array (other files are merged and
/// sorted first). Nodes are numbered in id order, counting only those a kept way uses.
fn assemble(mut runs: Vec<Vec<RawNode>>, mut ways: Vec<Way>) -> RawRoads {
    runs.retain(|r| !r.is_empty());
    let ordered = runs.iter().all(|r| r.is_sorted_by_key(|n| n.0))
        && runs
            .windows(2)
            .all(|w| w[0].last().map(|n| n.0) < w[1].first().map(|n| n.0));
    if !ordered {
        let mut all: Vec<RawNode> = runs.concat();
        all.par_sort_unstable_by_key(|n| n.0);
        runs = vec![all];
    }
    for run in &mut runs {
        run.dedup_by_key(|n| n.0);
    }
    // Position of a node among all nodes in id order: its run's offset plus its index there.
    let firsts: Vec<i64> = runs.iter().map(|r| r[0].0).collect();
    let mut offsets = Vec::with_capacity(runs.len() + 1);
    offsets.push(0usize);
    for r in &runs {
        offsets.push(offsets[offsets.len() - 1] + r.len());
    }
    let position = |id: i64| -> i64 {
        let Some(r) = firsts.partition_point(|&f| f <= id).checked_sub(1) else {
            return -1;
        };
        runs[r]
            .binary_search_by_key(&id, |n| n.0)
            .map_or(-1, |i| (offsets[r] + i) as i64)
    };
    if !ways.is_sorted_by_key(|w| w.id) {
        ways.par_sort_unstable_by_key(|w| w.id);
    }
    // Way refs become positions in place (-1: the file lacks the node).
    ways.par_iter_mut().for_each(|w| {
        for r in &mut w.refs {
            *r = position(*r);
        }
    });
    let mut number = vec![u32::MAX; offsets[runs.len()]];
    for w in &ways {
        for &p in &w.refs {
            if p >= 0 {
                number[p as usize] = 0;
            }
        }
    }
    let mut kept: Vec<RawNode> = Vec::new();
    for (node, n) in runs.iter().flatten().zip(number.iter_mut()) {
        if *n != u32::MAX {
            *n = kept.len() as u32;
            kept.push(*node);
        }
    }
    drop(runs);
    let locations: Vec<Location> = kept
        .par_iter()
        .map(|n| Location::from_wgs84(f64::from(n.1) * 1e-7, f64::from(n.2) * 1e-7))
        .collect();
    let index = |p: i64| (p >= 0).then(|| number[p as usize]);
    // Each way's segments in way order (ways are sorted by id), built in parallel; a way is
    // cut where it names a node the file lacks.
    let per_way: Vec<(Vec<Segment>, bool)> = ways
        .par_iter()
        .map(|w| {
            let mut segments = Vec::with_capacity(w.refs.len().saturating_sub(1));
            let mut cut = false;
            for pair in w.refs.windows(2) {
                match (index(pair[0]), index(pair[1])) {
                    (Some(a), Some(b)) if a != b => segments.push(Segment {
                        a,
                        b,
                        len_mm: mm(crate::crs::arc_metres(
                            locations[a as usize].ecef,
                            locations[b as usize].ecef,
                        )),
                        forward: w.forward,
                        backward: w.backward,
                    }),
                    (Some(_), Some(_)) => {}
                    _ => cut = true,
                }
            }
            (segments, cut)
        })
        .collect();
    let missing = per_way.iter().filter(|w| w.1).count();
    let segments = per_way.into_iter().flat_map(|w| w.0).collect();
    RawRoads {
        nodes: locations,
        segments,
        ways_kept: ways.len(),
        missing_node_refs: missing,
    }
}

/// Reads a varint at `pos`.
fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The `type` and `datasize` of a PBF `BlobHeader` message.
fn blob_header(b: &[u8]) -> Option<(String, u64)> {
    let (mut pos, mut kind, mut size) = (0usize, None, None);
    while pos < b.len() {
        let key = varint(b, &mut pos)?;
        match (key >> 3, key & 7) {
            (1, 2) => {
                let len = varint(b, &mut pos)? as usize;
                kind = Some(String::from_utf8_lossy(b.get(pos..pos.checked_add(len)?)?).into_owned());
                pos += len;
            }
            (3, 0) => size = Some(varint(b, &mut pos)?),
            (_, 0) => {
                varint(b, &mut pos)?;
            }
            (_, 2) => {
                let len = varint(b, &mut pos)? as usize;
                pos = pos.checked_add(len)?;
            }
            _ => return None,
        }
    }
    Some((kind?, size?))
}

/// Splits a PBF file into its blobs, checking the framing: every blob whole, nothing left.
fn pbf_frames(bytes: &[u8], file: &str) -> Result<Vec<(usize, usize)>, SpatialError> {
    let bad = |at: usize, what: &str| SpatialError::Format {
        file: file.to_string(),
        message: format!("not a valid .osm.pbf file: {what} at byte {at}"),
        hint: "download or export the extract again (a cut-off download gives this)".into(),
    };
    let mut frames = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        let begin = pos;
        let Some(head) = bytes.get(pos..pos + 4) else {
            return Err(bad(pos, "the file ends inside a blob header length (truncated)"));
        };
        let hlen = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        pos += 4;
        if hlen > 64 * 1024 {
            return Err(bad(begin, "a blob header is too long"));
        }
        let Some(hb) = bytes.get(pos..pos + hlen) else {
            return Err(bad(pos, "the file ends inside a blob header (truncated)"));
        };
        let Some((kind, size)) = blob_header(hb) else {
            return Err(bad(pos, "a blob header cannot be read"));
        };
        if frames.is_empty() && kind != "OSMHeader" {
            return Err(bad(pos, "the first blob is not an OSMHeader"));
        }
        pos += hlen;
        let size = size as usize;
        if size > 64 * 1024 * 1024 || pos + size > bytes.len() {
            return Err(bad(pos, "the file ends inside a blob (truncated)"));
        }
        pos += size;
        frames.push((begin, pos));
    }
    if frames.is_empty() {
        return Err(bad(0, "the file is empty"));
    }
    Ok(frames)
}

/// Nodes and kept ways of one PBF blob.
type BlobContent = (Vec<RawNode>, Vec<Way>);

/// Reads a `.osm.pbf` file held in memory. Blobs decode in parallel, collected in file order.
pub(crate) fn read_pbf(bytes: &[u8], file: &str, mode: RoadMode) -> Result<RawRoads, SpatialError> {
    let frames = pbf_frames(bytes, file)?;
    let parts: Vec<Result<BlobContent, SpatialError>> = frames
        .par_iter()
        .map(|&(lo, hi)| {
            let err = |e: osmpbf::Error| SpatialError::Format {
                file: file.to_string(),
                message: format!("not a valid .osm.pbf file: a blob at byte {lo} cannot be decoded: {e}"),
                hint: "download or export the extract again".into(),
            };
            let mut reader = osmpbf::BlobReader::new(&bytes[lo..hi]);
            let Some(blob) = reader.next() else {
                return Ok((Vec::new(), Vec::new()));
            };
            let blob = blob.map_err(err)?;
            // A blob holds up to 8,000 entities by the format's convention.
            let mut nodes = Vec::with_capacity(8000);
            let mut ways = Vec::new();
            if let osmpbf::BlobDecode::OsmData(block) = blob.decode().map_err(err)? {
                for group in block.groups() {
                    for n in group.dense_nodes() {
                        nodes.push((n.id(), e7_from_nano(n.nano_lon()), e7_from_nano(n.nano_lat())));
                    }
                    for n in group.nodes() {
                        nodes.push((n.id(), e7_from_nano(n.nano_lon()), e7_from_nano(n.nano_lat())));
                    }
                    for w in group.ways() {
                        // Tags are looked up in place (a way has a handful): no allocation
                        // for the many ways that are not roads.
                        let tag = |k: &str| w.tags().find(|t| t.0 == k).map(|t| t.1);
                        if let Some((forward, backward)) = keep_way(mode, tag) {
                            ways.push(Way {
                                id: w.id(),
                                refs: w.refs().collect(),
                                forward,
                                backward,
                            });
                        }
                    }
                }
            }
            Ok((nodes, ways))
        })
        .collect();
    let ways_total = parts.iter().flatten().map(|(_, w)| w.len()).sum();
    let mut runs = Vec::with_capacity(parts.len());
    let mut ways = Vec::with_capacity(ways_total);
    for p in parts {
        let (n, w) = p?;
        runs.push(n);
        ways.extend(w);
    }
    Ok(assemble(runs, ways))
}

/// A way being read from XML: id, node refs, tags.
type PartialWay = (i64, Vec<i64>, Vec<(String, String)>);

/// Reads OSM XML (`<osm>` with `<node>` and `<way>` elements).
pub(crate) fn read_xml<R: Read>(reader: R, file: &str, mode: RoadMode) -> Result<RawRoads, SpatialError> {
    use quick_xml::events::Event;
    let mut xml = quick_xml::Reader::from_reader(std::io::BufReader::new(reader));
    let mut buf = Vec::new();
    let fail = |pos: u64, message: String| SpatialError::Format {
        file: file.to_string(),
        message: format!("not a valid OSM XML file: {message} (near byte {pos})"),
        hint: "export the area from OpenStreetMap as .osm (XML) or .osm.pbf".into(),
    };
    let mut seen_root = false;
    let mut nodes: Vec<RawNode> = Vec::new();
    let mut ways: Vec<Way> = Vec::new();
    // The way being read: id, refs, tags.
    let mut way: Option<PartialWay> = None;
    loop {
        let pos = xml.buffer_position();
        let ev = xml.read_event_into(&mut buf).map_err(|e| fail(pos, e.to_string()))?;
        let (start, empty) = match &ev {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            Event::End(e) => {
                if e.name().0 == "way"
                    && let Some((id, refs, tags)) = way.take()
                {
                    let tag = |k: &str| tags.iter().find(|t| t.0 == k).map(|t| t.1.as_str());
                    if let Some((forward, backward)) = keep_way(mode, tag) {
                        ways.push(Way {
                            id,
                            refs,
                            forward,
                            backward,
                        });
                    }
                }
                (None, false)
            }
            Event::Eof => break,
            _ => (None, false),
        };
        let Some(e) = start else {
            buf.clear();
            continue;
        };
        let name = e.name().0.as_bytes().to_vec();
        let attr = |key: &[u8]| -> Result<Option<String>, SpatialError> {
            for a in e.attributes() {
                let a = a.map_err(|err| fail(pos, err.to_string()))?;
                if a.key.0.as_bytes() == key {
                    let v = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|err| fail(pos, err.to_string()))?;
                    return Ok(Some(v.into_owned()));
                }
            }
            Ok(None)
        };
        if !seen_root {
            if name != b"osm" {
                return Err(fail(
                    pos,
                    format!("the root element is <{}>, not <osm>", String::from_utf8_lossy(&name)),
                ));
            }
            seen_root = true;
            buf.clear();
            continue;
        }
        let num = |v: Option<String>, what: &str| -> Result<f64, SpatialError> {
            v.as_deref()
                .and_then(|t| t.trim().parse::<f64>().ok())
                .filter(|x| x.is_finite())
                .ok_or_else(|| {
                    fail(
                        pos,
                        format!("a <{}> has no valid {what}", String::from_utf8_lossy(&name)),
                    )
                })
        };
        match name.as_slice() {
            b"node" => {
                let id = num(attr(b"id")?, "id")? as i64;
                let lat = num(attr(b"lat")?, "lat")?;
                let lon = num(attr(b"lon")?, "lon")?;
                if lat.abs() > 90.0 || lon.abs() > 180.0 {
                    return Err(fail(pos, format!("node {id} has coordinates out of range")));
                }
                nodes.push((id, e7(lon), e7(lat)));
            }
            b"way" => {
                let id = num(attr(b"id")?, "id")? as i64;
                if empty {
                    // A way without nodes: nothing to keep.
                } else {
                    way = Some((id, Vec::new(), Vec::new()));
                }
            }
            b"nd" => {
                if let Some(w) = way.as_mut() {
                    w.1.push(num(attr(b"ref")?, "ref")? as i64);
                }
            }
            b"tag" => {
                if let Some(w) = way.as_mut() {
                    let k = attr(b"k")?.unwrap_or_default();
                    let v = attr(b"v")?.unwrap_or_default();
                    w.2.push((k, v));
                }
            }
            _ => {}
        }
        buf.clear();
    }
    if !seen_root {
        return Err(fail(0, "no <osm> element".into()));
    }
    Ok(assemble(vec![nodes], ways))
}
