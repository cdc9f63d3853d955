//! Coordinate systems used by Chinese map data, and the metric frame the engine works in.
//!
//! Chinese data mixes three systems: WGS84 (GPS), GCJ-02 (the national "Mars" offset used
//! by most domestic web maps, shifts points by a few hundred metres) and BD-09 (Baidu's
//! further offset of GCJ-02). Everything is converted to WGS84 on load. GCJ-02 has no
//! closed-form inverse, so the conversion back iterates the forward transform until the
//! residual is below a millimetre.
//!
//! Positions are then placed on the sphere as earth-centred Cartesian metres
//! ([`to_ecef`]): straight chords there are monotone in great-circle distance, so one
//! R-tree answers "schools within r metres" correctly at city and national scale alike,
//! with no map projection to distort distances far from its centre.

use serde::{Deserialize, Serialize};

/// Mean earth radius in metres (IUGG).
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The coordinate system of longitude/latitude values in the input files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Crs {
    /// WGS84 (GPS, EPSG:4326; CGCS2000 agrees to within a metre).
    #[default]
    Wgs84,
    /// GCJ-02, the offset system of Amap (高德), Tencent and most Chinese web maps.
    Gcj02,
    /// BD-09, Baidu's offset of GCJ-02.
    Bd09,
}

impl Crs {
    /// Converts a point in this system to WGS84 `(lon, lat)` degrees.
    pub fn to_wgs84(self, lon: f64, lat: f64) -> (f64, f64) {
        match self {
            Crs::Wgs84 => (lon, lat),
            Crs::Gcj02 => gcj02_to_wgs84(lon, lat),
            Crs::Bd09 => {
                let (glon, glat) = bd09_to_gcj02(lon, lat);
                gcj02_to_wgs84(glon, glat)
            }
        }
    }

    /// Converts a WGS84 point into this system.
    pub fn from_wgs84(self, lon: f64, lat: f64) -> (f64, f64) {
        match self {
            Crs::Wgs84 => (lon, lat),
            Crs::Gcj02 => wgs84_to_gcj02(lon, lat),
            Crs::Bd09 => {
                let (glon, glat) = wgs84_to_gcj02(lon, lat);
                gcj02_to_bd09(glon, glat)
            }
        }
    }
}

impl std::str::FromStr for Crs {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "wgs84" | "epsg:4326" | "cgcs2000" | "epsg:4490" => Ok(Crs::Wgs84),
            "gcj02" | "gcj-02" => Ok(Crs::Gcj02),
            "bd09" | "bd-09" => Ok(Crs::Bd09),
            other => Err(format!(
                "unknown coordinate system \"{other}\"; use wgs84, gcj02 or bd09"
            )),
        }
    }
}

// Krasovsky 1940 ellipsoid, as used by the GCJ-02 obfuscation.
const GCJ_A: f64 = 6_378_245.0;
const GCJ_EE: f64 = 0.006_693_421_622_965_943;

/// GCJ-02 applies no offset outside mainland China's rough bounding box.
fn outside_china(lon: f64, lat: f64) -> bool {
    !(72.004..=137.8347).contains(&lon) || !(0.8293..=55.8271).contains(&lat)
}

fn gcj_delta(lon: f64, lat: f64) -> (f64, f64) {
    use std::f64::consts::PI;
    let x = lon - 105.0;
    let y = lat - 35.0;
    let mut dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    dlat += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    dlat += (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0;
    dlat += (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    let mut dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    dlon += (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    dlon += (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0;
    dlon += (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    let rad_lat = lat / 180.0 * PI;
    let magic = 1.0 - GCJ_EE * rad_lat.sin() * rad_lat.sin();
    let sqrt_magic = magic.sqrt();
    let dlat = (dlat * 180.0) / ((GCJ_A * (1.0 - GCJ_EE)) / (magic * sqrt_magic) * PI);
    let dlon = (dlon * 180.0) / (GCJ_A / sqrt_magic * rad_lat.cos() * PI);
    (dlon, dlat)
}

/// WGS84 to GCJ-02 (the published forward transform).
pub fn wgs84_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    if outside_china(lon, lat) {
        return (lon, lat);
    }
    let (dlon, dlat) = gcj_delta(lon, lat);
    (lon + dlon, lat + dlat)
}

/// GCJ-02 to WGS84 by fixed-point iteration of the forward transform (error < 1 mm).
pub fn gcj02_to_wgs84(lon: f64, lat: f64) -> (f64, f64) {
    if outside_china(lon, lat) {
        return (lon, lat);
    }
    let (mut wlon, mut wlat) = (lon, lat);
    for _ in 0..30 {
        let (glon, glat) = wgs84_to_gcj02(wlon, wlat);
        let (elon, elat) = (glon - lon, glat - lat);
        wlon -= elon;
        wlat -= elat;
        if elon.abs() < 1e-11 && elat.abs() < 1e-11 {
            break;
        }
    }
    (wlon, wlat)
}

const BD_X_PI: f64 = std::f64::consts::PI * 3000.0 / 180.0;

/// BD-09 to GCJ-02: Baidu's published approximate inverse, refined by fixed-point
/// iteration of the forward transform to below a millimetre.
pub fn bd09_to_gcj02(lon: f64, lat: f64) -> (f64, f64) {
    let (mut glon, mut glat) = bd09_to_gcj02_approx(lon, lat);
    for _ in 0..10 {
        let (blon, blat) = gcj02_to_bd09(glon, glat);
        let (elon, elat) = (blon - lon, blat - lat);
        glon -= elon;
        glat -= elat;
        if elon.abs() < 1e-11 && elat.abs() < 1e-11 {
            break;
        }
    }
    (glon, glat)
}

fn bd09_to_gcj02_approx(lon: f64, lat: f64) -> (f64, f64) {
    let x = lon - 0.0065;
    let y = lat - 0.006;
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * BD_X_PI).sin();
    let theta = y.atan2(x) - 0.000003 * (x * BD_X_PI).cos();
    (z * theta.cos(), z * theta.sin())
}

/// GCJ-02 to BD-09.
pub fn gcj02_to_bd09(lon: f64, lat: f64) -> (f64, f64) {
    let z = (lon * lon + lat * lat).sqrt() + 0.00002 * (lat * BD_X_PI).sin();
    let theta = lat.atan2(lon) + 0.000003 * (lon * BD_X_PI).cos();
    (z * theta.cos() + 0.0065, z * theta.sin() + 0.006)
}

/// Earth-centred Cartesian coordinates in metres of a WGS84 point on the mean sphere.
pub fn to_ecef(lon: f64, lat: f64) -> [f64; 3] {
    let (lon, lat) = (lon.to_radians(), lat.to_radians());
    [
        EARTH_RADIUS_M * lat.cos() * lon.cos(),
        EARTH_RADIUS_M * lat.cos() * lon.sin(),
        EARTH_RADIUS_M * lat.sin(),
    ]
}

/// Great-circle distance in metres between two [`to_ecef`] points.
pub fn arc_metres(a: [f64; 3], b: [f64; 3]) -> f64 {
    let chord = chord_metres(a, b);
    2.0 * EARTH_RADIUS_M * (chord / (2.0 * EARTH_RADIUS_M)).min(1.0).asin()
}

/// Straight-line (chord) distance between two [`to_ecef`] points.
pub fn chord_metres(a: [f64; 3], b: [f64; 3]) -> f64 {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
}

/// The chord length that corresponds to a great-circle distance of `arc` metres.
pub fn chord_for_arc(arc: f64) -> f64 {
    let half = (arc / (2.0 * EARTH_RADIUS_M)).min(std::f64::consts::FRAC_PI_2);
    2.0 * EARTH_RADIUS_M * half.sin()
}

/// Checks a longitude/latitude pair given by a user (a command-line point, a lookup file):
/// both finite, longitude within -180..180 and latitude within -90..90.
pub fn check_lon_lat(lon: f64, lat: f64) -> Result<(), String> {
    if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
        return Err(format!(
            "longitude {lon} is outside -180..180 (fix: give degrees east, e.g. 120.30; check that lon and lat are not swapped)"
        ));
    }
    if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
        return Err(format!(
            "latitude {lat} is outside -90..90 (fix: give degrees north, e.g. 31.57; check that lon and lat are not swapped)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcj_round_trip_is_sub_millimetre_in_wuxi() {
        for &(lon, lat) in &[(120.3119, 31.4912), (120.2, 31.65), (119.8, 31.3), (120.6, 31.9)] {
            let (glon, glat) = wgs84_to_gcj02(lon, lat);
            // The offset in Wuxi is several hundred metres.
            let shift = arc_metres(to_ecef(lon, lat), to_ecef(glon, glat));
            assert!((300.0..800.0).contains(&shift), "offset {shift} m");
            let (wlon, wlat) = gcj02_to_wgs84(glon, glat);
            let err = arc_metres(to_ecef(lon, lat), to_ecef(wlon, wlat));
            assert!(err < 1e-3, "round-trip error {err} m");
        }
    }

    #[test]
    fn bd09_round_trip() {
        let (lon, lat) = (120.30, 31.57);
        let (blon, blat) = Crs::Bd09.from_wgs84(lon, lat);
        let (wlon, wlat) = Crs::Bd09.to_wgs84(blon, blat);
        let err = arc_metres(to_ecef(lon, lat), to_ecef(wlon, wlat));
        assert!(err < 1e-3, "round-trip error {err} m");
    }

    #[test]
    fn known_gcj_offset() {
        // Reference value of the published transform at Tiananmen.
        let (glon, glat) = wgs84_to_gcj02(116.391_349, 39.907_375);
        assert!((glon - 116.397_590).abs() < 2e-5, "{glon}");
        assert!((glat - 39.908_776).abs() < 2e-5, "{glat}");
    }

    #[test]
    fn outside_china_is_unchanged() {
        assert_eq!(wgs84_to_gcj02(2.35, 48.85), (2.35, 48.85));
    }

    #[test]
    fn arc_matches_haversine_and_chord_inverse() {
        let a = to_ecef(120.0, 31.0);
        let b = to_ecef(120.01, 31.0);
        let d = arc_metres(a, b);
        let expected = EARTH_RADIUS_M * 0.01f64.to_radians() * 31f64.to_radians().cos();
        assert!((d - expected).abs() < 0.5, "{d} vs {expected}");
        assert!((chord_for_arc(d) - chord_metres(a, b)).abs() < 1e-6);
    }
}
