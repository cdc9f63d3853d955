//! Output files of a zoning: `zones.csv` (the allocator's own zone contract), `zones.geojson`,
//! `zoning_report.csv`, `zoning_report.json` and, after a sweep, `stability_sweep.csv`.

use geo::{LineString, MultiPolygon, Polygon};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value, json};

use crate::error::OutputError;
use crate::io::OutputSet;
use crate::io::writer::{CsvWriter, serialize_rows};
use crate::model::{City, Stage};
use crate::output::write_files;

use super::stability::SweepPoint;
use super::{UNASSIGNED, Zoning, ZoningProblem, group_index};

/// `zones.csv`: block_id, stage, school_id, in block order. Locked blocks keep every current
/// zone school. A block of a multi-school group has one row per school of the group, in school
/// order. With `city`, the other stages' current zones are kept, so the file can replace the
/// scenario's `zones.csv` as it is.
pub fn zones_csv(problem: &ZoningProblem, zoning: &Zoning, city: Option<&City>, bom: bool) -> Vec<u8> {
    let groups = zoning.report.groups.as_deref().unwrap_or_default();
    let group_of = group_index(problem.schools.len(), groups);
    let mut w = CsvWriter::with_header(&["block_id", "stage", "school_id"], bom);
    let mut row = |r: [&str; 3]| w.row(&r);
    // The problem's blocks are usually the city's in the same order: try the block found
    // last and the next one before hashing the id (ids are unique, so a match is the answer).
    let mut last = 0u32;
    for (b, block) in problem.blocks.iter().enumerate() {
        let b32 = b as u32;
        let city_block = city.and_then(|c| c.block_near(&block.id, &mut last));
        for stage in Stage::ALL {
            if stage == problem.stage {
                if block.locked {
                    for &s in problem.current.schools_of(b32) {
                        row([&block.id, stage.as_str(), &problem.schools[s as usize].id]);
                    }
                } else if let Some(&s) = zoning.assignment.get(b)
                    && s != UNASSIGNED
                {
                    match group_of[s as usize] {
                        Some(g) => {
                            for &m in &groups[g].schools {
                                row([&block.id, stage.as_str(), &problem.schools[m as usize].id]);
                            }
                        }
                        None => row([&block.id, stage.as_str(), &problem.schools[s as usize].id]),
                    }
                }
            } else if let Some(city) = city
                && let Some(cb) = city_block
            {
                for &s in city.zones(stage).schools_of(cb) {
                    row([&block.id, stage.as_str(), &city.schools[s as usize].id]);
                }
            }
        }
    }
    w.into_bytes()
}

fn round7(x: f64) -> f64 {
    (x * 1e7).round() / 1e7
}

/// `zones.gpkg`: the features of [`zones_geojson`] as the GeoPackage layer `zones`
/// (EPSG:4326), so QGIS or ArcGIS opens it as it is.
pub fn zones_gpkg(problem: &ZoningProblem, zoning: &Zoning) -> Result<Vec<u8>, crate::gpkg::GpkgError> {
    gpkg_of(&zone_features(problem, zoning))
}

fn gpkg_of(features: &[ZoneFeature]) -> Result<Vec<u8>, crate::gpkg::GpkgError> {
    let layer: Vec<crate::gpkg::Feature> = features
        .iter()
        .map(|f| crate::gpkg::Feature {
            properties: Some(&f.properties),
            geometry: crate::gpkg::Geometry::MultiPolygon(f.polygon, round7),
        })
        .collect();
    crate::gpkg::geopackage_features(&[("zones", layer)], crate::gpkg::FIXED_TIME)
}

/// `zones.geojson`: one MultiPolygon feature per school zone, WGS84. With multi-school groups,
/// one feature per group (the union of its schools' zones, with `group_id`, `school_ids` and
/// the group's combined figures) and one per ungrouped school (with `school_ids` added).
pub fn zones_geojson(problem: &ZoningProblem, zoning: &Zoning) -> Vec<u8> {
    geojson_bytes(&zone_features(problem, zoning))
}

/// One feature of `zones.geojson` / `zones.gpkg`: its properties and its polygon.
struct ZoneFeature<'a> {
    properties: Map<String, Value>,
    polygon: &'a MultiPolygon<f64>,
}

/// The features behind `zones.geojson` and `zones.gpkg`, built once for both files.
fn zone_features<'a>(problem: &ZoningProblem, zoning: &'a Zoning) -> Vec<ZoneFeature<'a>> {
    let groups = zoning.report.groups.as_ref();
    let group_of = group_index(problem.schools.len(), groups.map(Vec::as_slice).unwrap_or_default());
    let mut features = Vec::new();
    let object = |v: Value| match v {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if let Some(polys) = &zoning.polygons {
        for z in &polys.zones {
            let s = &problem.schools[z.school as usize];
            let r = &zoning.report.schools[z.school as usize];
            let group = match (groups, group_of[z.school as usize]) {
                (Some(gs), Some(g)) => Some(&gs[g]),
                _ => None,
            };
            if group.is_some_and(|g| g.schools[0] != z.school) {
                // The group's feature is written at its first school.
                continue;
            }
            if let Some(g) = group {
                let blocks: u32 = g
                    .schools
                    .iter()
                    .map(|&m| zoning.report.schools[m as usize].blocks)
                    .sum();
                features.push(ZoneFeature {
                    properties: object(json!({
                        "group_id": g.group_id,
                        "school_ids": g.school_ids,
                        "stage": problem.stage.as_str(),
                        "capacity": g.capacity,
                        "children": g.demand,
                        "blocks": blocks,
                        "utilisation": g.utilisation,
                    })),
                    polygon: &z.polygon,
                });
                continue;
            }
            let mut properties = object(json!({
                "school_id": s.id,
                "name": s.name,
                "stage": problem.stage.as_str(),
                "district": problem.districts.get(s.district as usize).cloned().unwrap_or_default(),
                "capacity": s.capacity,
                "children": r.demand,
                "blocks": r.blocks,
                "utilisation": r.utilisation,
                "contiguous": r.contiguous,
                "compactness": r.compactness,
            }));
            if groups.is_some() {
                properties.insert("school_ids".into(), json!([s.id]));
            }
            features.push(ZoneFeature {
                properties,
                polygon: &z.polygon,
            });
        }
    }
    features
}

/// The GeoJSON document of the features, written straight from the polygons: the bytes
/// `serde_json` gives for the same document built as a `Value` tree (keys in sorted order,
/// coordinates rounded to 7 decimals), without the tree of one small array per coordinate.
fn geojson_bytes(features: &[ZoneFeature]) -> Vec<u8> {
    /// Serialises as `{"coordinates": [...], "type": "MultiPolygon"}`.
    struct Geometry<'a>(&'a MultiPolygon<f64>);
    struct Coordinates<'a>(&'a MultiPolygon<f64>);
    struct Rings<'a>(&'a Polygon<f64>);
    struct Ring<'a>(&'a LineString<f64>);
    impl Serialize for Geometry<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(2))?;
            m.serialize_entry("coordinates", &Coordinates(self.0))?;
            m.serialize_entry("type", "MultiPolygon")?;
            m.end()
        }
    }
    impl Serialize for Coordinates<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.0.iter().map(Rings))
        }
    }
    impl Serialize for Rings<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(std::iter::once(self.0.exterior()).chain(self.0.interiors()).map(Ring))
        }
    }
    impl Serialize for Ring<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.0.iter().map(|c| [round7(c.x), round7(c.y)]))
        }
    }
    #[derive(Serialize)]
    struct Feature<'a> {
        geometry: Geometry<'a>,
        properties: &'a Map<String, Value>,
        #[serde(rename = "type")]
        kind: &'static str,
    }
    #[derive(Serialize)]
    struct Collection<'a> {
        features: Vec<Feature<'a>>,
        #[serde(rename = "type")]
        kind: &'static str,
    }
    let doc = Collection {
        features: features
            .iter()
            .map(|f| Feature {
                geometry: Geometry(f.polygon),
                properties: &f.properties,
                kind: "Feature",
            })
            .collect(),
        kind: "FeatureCollection",
    };
    let mut v = serde_json::to_vec(&doc).expect("GeoJSON serialises");
    v.push(b'\n');
    v
}

/// `zoning_report.csv`: one row per school.
pub fn report_csv(zoning: &Zoning, bom: bool) -> Vec<u8> {
    serialize_rows(&zoning.report.schools, bom, &["school_id"])
}

/// `zoning_report.json`: overall figures and the per-school rows.
pub fn report_json(zoning: &Zoning) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(&zoning.report).expect("the report serialises");
    v.push(b'\n');
    v
}

/// `stability_sweep.csv`: the "children moved vs extra travel" curve.
pub fn sweep_csv(points: &[SweepPoint], bom: bool) -> Vec<u8> {
    let mut w = CsvWriter::with_header(
        &[
            "lambda_m",
            "children_moved",
            "moved_share",
            "travel",
            "extra_travel_share",
            "objective",
        ],
        bom,
    );
    for p in points {
        w.value(p.lambda_m)
            .value(p.moved)
            .value(format_args!("{:.4}", p.moved_share))
            .value(p.travel)
            .value(format_args!("{:.4}", p.extra_travel_share))
            .value(p.objective);
        w.end();
    }
    w.into_bytes()
}

/// Adds the zoning's files to an output set; `city` keeps other stages in `zones.csv`.
pub fn write_zoning(
    set: &mut OutputSet,
    problem: &ZoningProblem,
    zoning: &Zoning,
    city: Option<&City>,
    sweep: Option<&[SweepPoint]>,
    bom: bool,
) -> Result<(), OutputError> {
    let zones = zones_csv(problem, zoning, city, bom);
    let features = zone_features(problem, zoning);
    let geo = geojson_bytes(&features);
    let gpkg = gpkg_of(&features).map_err(|e| OutputError::Io {
        path: set.target().join("zones.gpkg"),
        source: std::io::Error::other(e),
    })?;
    let csv = report_csv(zoning, bom);
    let json = report_json(zoning);
    let sweep_bytes = sweep.map(|s| sweep_csv(s, bom));
    let mut files: Vec<(&str, &[u8])> = vec![
        ("zones.csv", &zones),
        ("zones.geojson", &geo),
        ("zones.gpkg", &gpkg),
        ("zoning_report.csv", &csv),
        ("zoning_report.json", &json),
    ];
    if let Some(s) = &sweep_bytes {
        files.push(("stability_sweep.csv", s));
    }
    write_files(set, &files)
}
