#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::Value;

use super::params::{self, Route, parse_request, percent_decode};
use super::*;

fn demo() -> &'static ServiceData {
    static DATA: OnceLock<ServiceData> = OnceLock::new();
    DATA.get_or_init(|| {
        let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/demo/scenario.toml");
        ServiceData::load(&file, ServiceOptions::default()).unwrap()
    })
}

fn get(path_and_query: &str) -> Result<Value, QueryError> {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    match parse_request(path, query)? {
        Route::Data(r) => Ok(serde_json::from_slice(&demo().answer(&r)?).unwrap()),
        other => panic!("not a data route: {other:?}"),
    }
}

fn ids(v: &Value) -> Vec<String> {
    v["schools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["school_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn parses_every_endpoint() {
    assert_eq!(
        parse_request(
            "/v1/lookup",
            Some("lon=120.3&lat=31.5&crs=GCJ02&stage=%E5%B0%8F%E5%AD%A6")
        )
        .unwrap(),
        Route::Data(Request::Lookup(LookupRequest::Point {
            lon: 120.3,
            lat: 31.5,
            crs: Some(Crs::Gcj02),
            stage: Some(Stage::Primary)
        }))
    );
    assert_eq!(
        parse_request("/v1/lookup", Some("block=B%200001")).unwrap(),
        Route::Data(Request::Lookup(LookupRequest::Block {
            id: "B 0001".into(),
            stage: None
        }))
    );
    assert_eq!(
        parse_request("/v1/search", Some("q=%E4%B8%87%E7%A7%91+%E5%9F%8E")).unwrap(),
        Route::Data(Request::Search {
            q: "万科 城".into(),
            limit: params::DEFAULT_SEARCH_LIMIT
        })
    );
    assert_eq!(
        parse_request("/v1/applicants/S%2B1/explain", None).unwrap(),
        Route::Data(Request::Explain { id: "S+1".into() })
    );
    assert_eq!(
        parse_request("/v1/odds", Some("block=B1&stage=junior&tier=")).unwrap(),
        Route::Data(Request::Odds {
            block: "B1".into(),
            stage: Stage::Junior,
            tier: None
        })
    );
    assert_eq!(
        parse_request("/v1/schools/P1", None).unwrap(),
        Route::Data(Request::School { id: "P1".into() })
    );
    assert_eq!(parse_request("/healthz", None).unwrap(), Route::Health);
    assert_eq!(parse_request("/metrics", Some("")).unwrap(), Route::Metrics);
}

#[test]
fn bad_requests_are_400_and_unknown_paths_404() {
    for (path, query, code) in [
        ("/v1/lookup", "lon=200&lat=31", "bad_coordinates"),
        ("/v1/lookup", "lon=NaN&lat=31", "bad_coordinates"),
        ("/v1/lookup", "lon=abc&lat=31", "bad_coordinates"),
        ("/v1/lookup", "lon=120", "missing_parameter"),
        ("/v1/lookup", "lon=120&lat=31&lon=121", "bad_parameter"),
        ("/v1/lookup", "lon=120&lat=31&crs=utm", "bad_parameter"),
        ("/v1/lookup", "block=B1&lat=31", "bad_parameter"),
        ("/v1/lookup", "lon=120&lat=31&x=1", "unknown_parameter"),
        ("/v1/lookup", "lon=120&lat=31&stage=college", "bad_parameter"),
        ("/v1/search", "q=%zz", "bad_query"),
        ("/v1/search", "q=%FF", "bad_query"),
        ("/v1/search", "q=a&limit=0", "bad_parameter"),
        ("/v1/search", "q=a&limit=51", "bad_parameter"),
        ("/v1/search", "", "missing_parameter"),
        ("/v1/odds", "block=B1", "missing_parameter"),
        ("/healthz", "a=1", "unknown_parameter"),
    ] {
        let e = parse_request(path, Some(query)).unwrap_err();
        assert_eq!((e.status, e.code), (400, code), "{path}?{query}: {e}");
    }
    let long = format!("q={}", "a".repeat(params::MAX_QUERY_BYTES));
    assert_eq!(parse_request("/v1/search", Some(&long)).unwrap_err().status, 414);
    for path in [
        "/",
        "/v1",
        "/v1/schools",
        "/v2/lookup",
        "/v1/applicants/S1",
        "/etc/passwd",
    ] {
        let e = parse_request(path, None).unwrap_err();
        assert_eq!((e.status, e.code), (404, "unknown_path"), "{path}");
    }
    assert_eq!(parse_request("/v1/schools/a%2Fb", None).unwrap_err().status, 400);
    let body: Value = serde_json::from_slice(&QueryError::bad("x", "y \"z\"").to_json()).unwrap();
    assert_eq!(body["error"]["message"], "y \"z\"");
}

#[test]
fn unknown_ids_are_404() {
    assert_eq!(get("/v1/lookup?block=NOPE").unwrap_err().code, "unknown_block");
    assert_eq!(
        get("/v1/applicants/NOPE/explain").unwrap_err().code,
        "unknown_applicant"
    );
    assert_eq!(get("/v1/schools/NOPE").unwrap_err().code, "unknown_school");
    // No results folder: no odds, said as such.
    let b = &demo().dataset().city.blocks[0].id;
    assert_eq!(
        get(&format!("/v1/odds?block={b}&stage=primary")).unwrap_err().code,
        "no_odds"
    );
}

#[test]
fn block_lookup_gives_the_scenario_zones() {
    let d = demo().dataset();
    for (b, block) in d.city.blocks.iter().enumerate() {
        let v = get(&format!("/v1/lookup?block={}", block.id)).unwrap();
        assert_eq!(v["block"]["block_id"], block.id.as_str());
        for (stage, answer) in d.scenario.stages.iter().zip(v["stages"].as_array().unwrap()) {
            let want: Vec<String> = d.city.zones[stage.index()]
                .schools_of(b as u32)
                .iter()
                .map(|&s| d.city.schools[s as usize].id.clone())
                .collect();
            assert_eq!(ids(answer), want, "block {} {stage}", block.id);
        }
    }
}

#[test]
fn a_point_at_a_block_finds_that_block_and_its_zone_schools() {
    // The zone polygons are unions of block cells, so a block's own location lies in the
    // polygons of exactly its zone schools: the point lookup and the zones table agree.
    let d = demo().dataset();
    let mut checked = 0;
    for (b, block) in d.city.blocks.iter().enumerate() {
        let v = demo()
            .lookup_point(block.location.lon, block.location.lat, Some(Crs::Wgs84), None)
            .unwrap();
        assert_eq!(v["block"]["distance_m"], 0, "block {}", block.id);
        let found = v["block"]["block_id"].as_str().unwrap();
        let f = d.city.block(found).unwrap() as usize;
        assert_eq!(d.city.blocks[f].location.ecef, block.location.ecef);
        for (stage, answer) in d.scenario.stages.iter().zip(v["stages"].as_array().unwrap()) {
            let mut want: Vec<String> = d.city.zones[stage.index()]
                .schools_of(b as u32)
                .iter()
                .map(|&s| d.city.schools[s as usize].id.clone())
                .collect();
            want.sort();
            let mut got = ids(answer);
            got.sort();
            assert_eq!(got, want, "block {} {stage}", block.id);
            checked += 1;
        }
    }
    assert!(checked > 100);
}

#[test]
fn gcj02_points_are_converted() {
    let block = &demo().dataset().city.blocks[3];
    let (glon, glat) = Crs::Gcj02.from_wgs84(block.location.lon, block.location.lat);
    let v = demo().lookup_point(glon, glat, Some(Crs::Gcj02), None).unwrap();
    assert_eq!(v["block"]["block_id"], block.id.as_str());
    let plain = demo()
        .lookup_point(block.location.lon, block.location.lat, None, None)
        .unwrap();
    assert_eq!(v["stages"], plain["stages"]);
    // Far from every block: no block, no district, no school.
    let v = demo().lookup_point(0.0, 0.0, None, Some(Stage::Primary)).unwrap();
    assert!(v["block"].is_null() && v["district"].is_null());
    assert!(v["stages"][0]["schools"].as_array().unwrap().is_empty());
}

#[test]
fn explanations_with_precomputed_cutoffs_equal_the_plain_ones() {
    let s = demo();
    let d = s.dataset();
    for i in 0..d.cohort.students.len() {
        let id = d.cohort.id(i);
        let plain = crate::explain(d, s.allocation(), id).unwrap();
        let v = get(&format!("/v1/applicants/{id}/explain")).unwrap();
        assert_eq!(v["text"], plain.to_string(), "{id}");
        assert_eq!(v["choices"].as_array().unwrap().len(), plain.choices.len());
        assert_eq!(v["result"], plain.result.as_str());
    }
}

#[test]
fn schools_answer_their_summary_rows() {
    let s = demo();
    let d = s.dataset();
    let rows = crate::output::school_rows(d, s.allocation());
    assert!(!rows.is_empty());
    for (i, sc) in d.city.schools.iter().enumerate() {
        let admitting = rows.iter().any(|r| r.school as usize == i);
        assert_eq!(get(&format!("/v1/schools/{}", sc.id)).unwrap()["admitting"], admitting);
    }
    for r in rows {
        let sc = &d.city.schools[r.school as usize];
        let v = get(&format!("/v1/schools/{}", sc.id)).unwrap();
        assert_eq!(v["capacity"], r.capacity);
        assert_eq!(v["assigned"], r.assigned);
        assert_eq!(v["cutoff"]["tier"].as_str(), r.cutoff_tier.as_deref());
        let level = d
            .policy
            .seat_warning
            .level(u64::from(r.first_choice_applicants), u64::from(r.capacity));
        assert_eq!(v["warning"]["level"], level.as_str());
        if r.capacity > 0 {
            let u = v["utilisation"].as_f64().unwrap();
            assert!((u - f64::from(r.assigned) / f64::from(r.capacity)).abs() <= 5e-5);
        }
    }
}

#[test]
fn search_finds_a_block_by_its_name() {
    let d = demo().dataset();
    for block in d.city.blocks.iter().take(40) {
        let v = get(&format!("/v1/search?q={}&limit=50", block.name)).unwrap();
        let results = v["results"].as_array().unwrap();
        assert_eq!(results[0]["match"], "exact", "{}", block.name);
        assert!(results.iter().any(|r| r["block_id"] == block.id.as_str()));
    }
}

/// Every byte percent-encoded.
fn encode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

proptest! {
    #[test]
    fn percent_decoding_inverts_encoding(text in ".{0,40}") {
        prop_assert_eq!(percent_decode(&encode(&text), true).unwrap(), text);
    }

    #[test]
    fn no_query_string_gives_a_server_error(
        path in prop::sample::select(vec![
            "/v1/lookup", "/v1/search", "/v1/odds", "/v1/schools/P0001", "/v1/applicants/S00001/explain",
            "/v1/info", "/healthz", "/metrics", "/v1/schools/%FF", "/v1/applicants/%/explain",
        ]),
        parts in prop::collection::vec(
            (
                prop::sample::select(vec!["lon", "lat", "crs", "stage", "block", "q", "limit", "tier", "x", "", "%", "l%6Fn"]),
                prop_oneof![
                    "[-+0-9.eE]{0,12}",
                    ".{0,12}",
                    "(%[0-9A-Fa-f]{0,2}){0,4}",
                    prop::sample::select(vec!["120.3", "31.5", "primary", "gcj02", "bd09", "NaN", "inf", "-0", "1e308"]).prop_map(String::from),
                ],
            ),
            0..6,
        ),
    ) {
        let query: Vec<String> = parts.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let query = query.join("&");
        match parse_request(path, Some(&query)) {
            Ok(Route::Data(r)) => {
                if let Err(e) = demo().answer(&r) {
                    prop_assert!(e.status < 500, "{path}?{query}: {e}");
                }
            }
            Ok(_) => {}
            Err(e) => prop_assert!(e.status < 500, "{path}?{query}: {e}"),
        }
    }
}
