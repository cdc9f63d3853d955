#![allow(clippy::unwrap_used)]

use std::fs;

use geo::{LineString, MultiPolygon, Polygon};

use super::{check_prj, interior_point, read_features};

fn poly(points: &[(f64, f64)], holes: &[&[(f64, f64)]]) -> MultiPolygon<f64> {
    MultiPolygon(vec![Polygon::new(
        LineString::from(points.to_vec()),
        holes.iter().map(|h| LineString::from(h.to_vec())).collect(),
    )])
}

#[test]
fn the_interior_point_of_a_square_is_its_centre() {
    let sq = poly(&[(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0), (0.0, 0.0)], &[]);
    assert_eq!(interior_point(&sq), Some((1.0, 1.0)));
}

#[test]
fn the_interior_point_lies_inside_where_the_centroid_does_not() {
    use geo::{Centroid, Contains};
    // A U shape: its centroid falls in the notch.
    let u = poly(
        &[
            (0.0, 0.0),
            (3.0, 0.0),
            (3.0, 3.0),
            (2.0, 3.0),
            (2.0, 1.0),
            (1.0, 1.0),
            (1.0, 3.0),
            (0.0, 3.0),
            (0.0, 0.0),
        ],
        &[],
    );
    let c = u.centroid().unwrap();
    assert!(!u.contains(&c));
    let (x, y) = interior_point(&u).unwrap();
    assert!(u.contains(&geo::Point::new(x, y)), "({x}, {y})");
    // A courtyard (hole) in the middle: the point avoids it.
    let ring = poly(
        &[(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0), (0.0, 0.0)],
        &[&[(1.0, 1.0), (3.0, 1.0), (3.0, 3.0), (1.0, 3.0), (1.0, 1.0)]],
    );
    let (x, y) = interior_point(&ring).unwrap();
    assert!(ring.contains(&geo::Point::new(x, y)), "({x}, {y})");
    // No area: no point.
    let flat = poly(&[(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (0.0, 0.0)], &[]);
    assert_eq!(interior_point(&flat), None);
}

#[test]
fn a_self_intersecting_polygon_is_an_error_naming_the_feature() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("blocks.geojson");
    fs::write(
        &p,
        r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","properties":{"block_id":"B1"},"geometry":{"type":"Polygon","coordinates":[[[120,31],[120.01,31],[120.01,31.01],[120,31.01],[120,31]]]}},
        {"type":"Feature","properties":{"block_id":"B2"},"geometry":{"type":"Polygon","coordinates":[[[120,31],[120.01,31.01],[120.01,31],[120,31.01],[120,31]]]}}]}"#,
    )
    .unwrap();
    let e = read_features(&p).unwrap_err();
    assert_eq!(e.total(), 1);
    let d = &e.items()[0];
    assert_eq!(d.line, Some(2));
    assert!(
        d.message.contains("feature 2 has an invalid polygon") && d.value.as_deref() == Some("block_id=B2"),
        "{d}"
    );
}

#[test]
fn broken_geojson_is_one_clear_error_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("z.geojson");
    for (text, expect) in [
        ("{\"type\":\"FeatureCollection\",\"features\":[", "not valid JSON"),
        ("{\"type\":\"Feature\"}", "not a GeoJSON FeatureCollection"),
        (
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[120,31]}}]}"#,
            "not a Polygon or MultiPolygon",
        ),
        (
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[120,31],[121,31],[121,32]]]}}]}"#,
            "at least 4",
        ),
        (
            r#"{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::3857"}},"features":[]}"#,
            "not geographic",
        ),
        (
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[13358338,3503549],[13359338,3503549],[13359338,3504549],[13358338,3503549]]]}}]}"#,
            "not degrees",
        ),
    ] {
        fs::write(&p, text).unwrap();
        let e = read_features(&p).unwrap_err();
        assert!(
            e.items().iter().any(|d| d.to_string().contains(expect)),
            "{expect}: {e}"
        );
    }
}

#[test]
fn prj_files_are_checked_not_guessed() {
    let wgs = r#"GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]]]"#;
    let cgcs = r#"GEOGCS["China Geodetic Coordinate System 2000",DATUM["China_2000",SPHEROID["CGCS2000",6378137,298.257222101]]]"#;
    assert!(check_prj(wgs, "a.prj").is_ok());
    assert!(check_prj(cgcs, "a.prj").is_ok());
    let xian = r#"GEOGCS["GCS_Xian_1980",DATUM["D_Xian_1980",SPHEROID["Xian_1980",6378140.0,298.257]]]"#;
    let e = check_prj(xian, "a.prj").unwrap_err();
    assert!(
        e.message.contains("GCS_Xian_1980") && e.hint.contains("EPSG:4490"),
        "{e}"
    );
    let merc = r#"PROJCS["WGS_1984_Web_Mercator_Auxiliary_Sphere",GEOGCS["GCS_WGS_1984"]]"#;
    let e = check_prj(merc, "a.prj").unwrap_err();
    assert!(e.message.contains("projected"), "{e}");
}
