//! GIS layers: every zone of `zones.geojson` is OGC-valid under the independent check in
//! `ogc.rs`, on the demo and on a Wuxi-size city, for every stage, both for the proposed zones
//! (`xuequ zone`) and for the scenario's current zones (the layer `xuequ run` draws); one
//! feature per zone, and a zone drawn in parts is reported as not contiguous.

use std::path::Path;

use xuequ::zoning::{self, Adjacency, Demand, SchoolEdits, ZoningParams, ZoningProblem};

use crate::ogc;

fn city(dir: &Path, preset: xuequ_synth::Preset) -> xuequ::Dataset {
    let config = xuequ_synth::SynthConfig::new(preset);
    xuequ_synth::write_city(&config, dir, &mut |_| {}).unwrap();
    xuequ::Dataset::load(&dir.join("scenario.toml")).unwrap()
}

/// Reads a GeoPackage layer's school ids and (Multi)Polygon geometries, checking the
/// GeoPackage tables on the way.
pub fn read_gpkg(bytes: &[u8], layer: &str) -> Vec<(String, Vec<ogc::Poly>)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.gpkg");
    std::fs::write(&path, bytes).unwrap();
    let db = rusqlite::Connection::open(&path).unwrap();
    let app: i64 = db.query_row("PRAGMA application_id", [], |r| r.get(0)).unwrap();
    assert_eq!(app, 0x4750_4B47, "application_id GPKG");
    let (kind, srs): (String, i64) = db
        .query_row(
            "SELECT c.data_type, g.srs_id FROM gpkg_contents c JOIN gpkg_geometry_columns g USING (table_name) WHERE table_name = ?1",
            [layer],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((kind.as_str(), srs), ("features", 4326));
    let org: String = db
        .query_row(
            "SELECT organization FROM gpkg_spatial_ref_sys WHERE srs_id = 4326",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(org, "EPSG");
    let mut stmt = db
        .prepare(&format!("SELECT school_id, geom FROM {layer} ORDER BY fid"))
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))
        .unwrap();
    rows.map(|r| {
        let (id, g) = r.unwrap();
        assert_eq!(&g[..2], b"GP");
        assert_eq!(i32::from_le_bytes(g[4..8].try_into().unwrap()), 4326);
        let env = match (g[3] >> 1) & 7 {
            0 => 0,
            1 => 32,
            2 | 3 => 48,
            _ => 64,
        };
        (id, wkb_multipolygon(&g[8 + env..]))
    })
    .collect()
}

fn wkb_multipolygon(w: &[u8]) -> Vec<ogc::Poly> {
    let mut at = 0;
    let u32_ = |w: &[u8], at: &mut usize| {
        let v = u32::from_le_bytes(w[*at..*at + 4].try_into().unwrap());
        *at += 4;
        v
    };
    assert_eq!(w[0], 1, "little endian");
    at += 1;
    assert_eq!(u32_(w, &mut at), 6, "MultiPolygon");
    let n = u32_(w, &mut at);
    let mut polys = Vec::new();
    for _ in 0..n {
        at += 1;
        assert_eq!(u32_(w, &mut at), 3, "Polygon");
        let rings = u32_(w, &mut at);
        let mut poly = Vec::new();
        for _ in 0..rings {
            let pts = u32_(w, &mut at);
            let mut ring = Vec::new();
            for _ in 0..pts {
                let x = f64::from_le_bytes(w[at..at + 8].try_into().unwrap());
                let y = f64::from_le_bytes(w[at + 8..at + 16].try_into().unwrap());
                at += 16;
                ring.push((x, y));
            }
            poly.push(ring);
        }
        polys.push(poly);
    }
    ogc::from_coords(&polys)
}

fn check_city(data: &xuequ::Dataset) {
    for &stage in &data.scenario.stages {
        let demand = Demand::from_students(data, stage);
        let problem = ZoningProblem::from_dataset(data, stage, &demand, &SchoolEdits::default(), &[]).unwrap();
        let z = zoning::zone(&problem, &ZoningParams::default(), &|_| {}).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&zoning::zones_geojson(&problem, &z)).unwrap();
        let features = doc["features"].as_array().unwrap();
        let with_blocks = z.report.schools.iter().filter(|r| r.blocks > 0).count();
        assert_eq!(features.len(), with_blocks, "{stage:?}: one feature per zone");
        let mut ids = std::collections::HashSet::new();
        for f in features {
            let id = f["properties"]["school_id"].as_str().unwrap().to_string();
            assert!(ids.insert(id.clone()), "{stage:?}: {id} twice");
            let polys = ogc::from_geojson(&f["geometry"]);
            if let Err(e) = ogc::check(&polys) {
                panic!("{stage:?} proposed zone {id}: {e}");
            }
            let contiguous = f["properties"]["contiguous"].as_bool().unwrap();
            if polys.len() > 1 {
                assert!(
                    !contiguous,
                    "{stage:?} {id}: drawn in {} parts but reported contiguous",
                    polys.len()
                );
            }
        }
        // Ties: a point exactly on a boundary (every polygon vertex is one) belongs to at most
        // one zone (the one east of it, or north of it on an east–west boundary).
        let index = zoning::ZoneIndex::new(z.polygons.as_ref().unwrap());
        for zp in &z.polygons.as_ref().unwrap().zones {
            for p in &zp.polygon.0 {
                for c in p
                    .exterior()
                    .0
                    .iter()
                    .chain(p.interiors().iter().flat_map(|r| r.0.iter()))
                {
                    let hits = index.lookup(c.x, c.y);
                    assert!(hits.len() <= 1, "{stage:?}: ({}, {}) in {} zones", c.x, c.y, hits.len());
                }
            }
        }
        // The GeoPackage holds the same features, valid, in EPSG:4326.
        let gpkg = zoning::zones_gpkg(&problem, &z).unwrap();
        let read = read_gpkg(&gpkg, "zones");
        assert_eq!(read.len(), features.len());
        for (i, (id, polys)) in read.iter().enumerate() {
            assert_eq!(Some(id.as_str()), features[i]["properties"]["school_id"].as_str());
            if let Err(e) = ogc::check(polys) {
                panic!("{stage:?} zones.gpkg feature {id}: {e}");
            }
            assert_eq!(polys, &ogc::from_geojson(&features[i]["geometry"]));
        }
        // The current zones (what `run` draws).
        let adj = Adjacency::delaunay(&problem, None);
        let current = zoning::current_zone_polygons(&problem, &adj, ZoningParams::default().cell_radius_m);
        for zp in &current.zones {
            let polys: Vec<Vec<Vec<(f64, f64)>>> = zp
                .polygon
                .0
                .iter()
                .map(|p| {
                    std::iter::once(p.exterior())
                        .chain(p.interiors())
                        .map(|r| r.0.iter().map(|c| (c.x, c.y)).collect())
                        .collect()
                })
                .collect();
            if let Err(e) = ogc::check(&ogc::from_coords(&polys)) {
                panic!(
                    "{stage:?} current zone of {}: {e}",
                    problem.schools[zp.school as usize].id
                );
            }
        }
    }
}

#[test]
fn demo_zone_layers_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    check_city(&city(dir.path(), xuequ_synth::Preset::Demo));
}

#[test]
fn wuxi_zone_layers_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    check_city(&city(dir.path(), xuequ_synth::Preset::Wuxi));
}

/// `xuequ run`'s layers: the current zones of every stage valid in GeoJSON and GeoPackage,
/// and a blocks layer with each block's applicants and school.
#[test]
fn run_layers_are_valid_and_agree() {
    let dir = tempfile::tempdir().unwrap();
    let data = city(dir.path(), xuequ_synth::Preset::Demo);
    let allocation = xuequ::allocate(&data);
    let audit = xuequ::audit(&data, &allocation);
    let files = xuequ::report::run_layers(&data, &allocation, &audit).unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.0).collect();
    assert_eq!(names, ["zones.geojson", "blocks.geojson", "layers.gpkg"]);
    let zones: serde_json::Value = serde_json::from_slice(&files[0].1).unwrap();
    let features = zones["features"].as_array().unwrap();
    assert!(features.len() > 20);
    for f in features {
        ogc::check(&ogc::from_geojson(&f["geometry"])).unwrap();
    }
    let read = read_gpkg(&files[2].1, "zones");
    assert_eq!(read.len(), features.len());
    for (i, (id, polys)) in read.iter().enumerate() {
        assert_eq!(Some(id.as_str()), features[i]["properties"]["school_id"].as_str());
        assert_eq!(polys, &ogc::from_geojson(&features[i]["geometry"]));
    }
    let blocks: serde_json::Value = serde_json::from_slice(&files[1].1).unwrap();
    let total: u64 = blocks["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["applicants"].as_u64().unwrap())
        .sum();
    assert_eq!(total as usize, data.cohort.students.len());
}
