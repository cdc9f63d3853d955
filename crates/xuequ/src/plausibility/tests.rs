//! Each rule on a small hand-made city: a change that trips it, and the clean city that does
//! not.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use super::WarningKind;
use crate::Dataset;

/// A city of two districts (梁溪区 west of 120.1, 滨湖区 east of it): 8 primary schools of 45
/// seats, one junior school sharing a primary school's campus, 16 blocks zoned to the
/// nearest primary school of their district, one applicant per block.
struct Tiny {
    schools: Vec<String>,
    blocks: Vec<String>,
    zones: Vec<String>,
    extra_toml: String,
    districts: Option<String>,
}

impl Tiny {
    fn new() -> Tiny {
        let mut schools = Vec::new();
        let mut blocks = Vec::new();
        let mut zones = Vec::new();
        for i in 0..8 {
            let district = if i < 4 { "梁溪区" } else { "滨湖区" };
            let lon = 120.01 + 0.025 * f64::from(i);
            schools.push(format!("P{i},小学{i},{district},primary,public,{lon:.3},31.050,45"));
            for k in 0..2 {
                let b = i * 2 + k;
                let blon = lon + if k == 0 { -0.004 } else { 0.004 };
                blocks.push(format!("B{b},小区{b},{district},{blon:.3},31.052,300"));
                zones.push(format!("B{b},primary,P{i}"));
            }
        }
        schools.push("J0,初中0,梁溪区,junior,public,120.010,31.050,200".to_string());
        Tiny {
            schools,
            blocks,
            zones,
            extra_toml: String::new(),
            districts: None,
        }
    }

    fn with_outlines(mut self) -> Tiny {
        let square = |x0: f64, x1: f64| format!("[[[{x0},31.0],[{x1},31.0],[{x1},31.1],[{x0},31.1],[{x0},31.0]]]");
        self.districts = Some(format!(
            r#"{{"type":"FeatureCollection","features":[
            {{"type":"Feature","properties":{{"name":"梁溪区"}},"geometry":{{"type":"Polygon","coordinates":{}}}}},
            {{"type":"Feature","properties":{{"name":"滨湖区"}},"geometry":{{"type":"Polygon","coordinates":{}}}}}]}}"#,
            square(120.0, 120.1),
            square(120.1, 120.2)
        ));
        self.extra_toml
            .push_str("[inputs]\ndistricts = \"districts.geojson\"\n");
        self
    }

    fn load(&self) -> Result<Dataset, crate::LoadError> {
        let dir = tempfile::tempdir().unwrap();
        self.load_in(dir.path())
    }

    fn load_in(&self, d: &Path) -> Result<Dataset, crate::LoadError> {
        fs::write(
            d.join("scenario.toml"),
            format!("name = \"t\"\nyear = 2026\nstages = [\"primary\"]\n{}", self.extra_toml),
        )
        .unwrap();
        fs::write(
            d.join("schools.csv"),
            format!(
                "school_id,name,district,stage,sector,lon,lat,capacity\n{}\n",
                self.schools.join("\n")
            ),
        )
        .unwrap();
        fs::write(
            d.join("blocks.csv"),
            format!(
                "block_id,name,district,lon,lat,households\n{}\n",
                self.blocks.join("\n")
            ),
        )
        .unwrap();
        fs::write(
            d.join("zones.csv"),
            format!("block_id,stage,school_id\n{}\n", self.zones.join("\n")),
        )
        .unwrap();
        let students: Vec<String> = (0..self.blocks.len())
            .map(|b| format!("S{b},primary,B{b},true,true"))
            .collect();
        fs::write(
            d.join("students.csv"),
            format!(
                "student_id,stage,block_id,hukou_in_zone,owns_home\n{}\n",
                students.join("\n")
            ),
        )
        .unwrap();
        if let Some(g) = &self.districts {
            fs::write(d.join("districts.geojson"), g).unwrap();
        }
        Dataset::load(&d.join("scenario.toml"))
    }

    fn kinds(&self) -> Vec<WarningKind> {
        self.load().unwrap().warnings.iter().map(|w| w.kind).collect()
    }
}

#[test]
fn the_clean_city_has_no_warning() {
    assert_eq!(Tiny::new().kinds(), vec![]);
    assert_eq!(Tiny::new().with_outlines().kinds(), vec![]);
}

#[test]
fn a_school_typed_at_longitude_20_is_outside_the_city() {
    let mut t = Tiny::new();
    t.schools[2] = t.schools[2].replace("120.060", "20.060");
    let data = t.load().unwrap();
    let w: Vec<_> = data
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::OutsideCity)
        .collect();
    assert_eq!(w.len(), 1, "{:?}", data.warnings);
    let d = &w[0].diagnostic;
    assert!(d.file.ends_with("schools.csv") && d.line == Some(4), "{d}");
    assert!(
        d.message.contains("school P2") && d.message.contains("km from the median point"),
        "{d}"
    );
    // Its zone is thousands of kilometres long too.
    assert!(data.warnings.iter().any(|w| w.kind == WarningKind::ZoneFar));
}

#[test]
fn outlines_catch_points_outside_the_city_and_outside_their_district() {
    let mut t = Tiny::new().with_outlines();
    // A block east of every outline, and a 梁溪区 school placed in 滨湖区.
    t.blocks[0] = "B0,小区0,梁溪区,120.400,31.052,300".to_string();
    t.schools[1] = t.schools[1].replace("120.035", "120.150");
    let data = t.load().unwrap();
    let kinds: Vec<WarningKind> = data.warnings.iter().map(|w| w.kind).collect();
    assert!(kinds.contains(&WarningKind::OutsideCity), "{kinds:?}");
    assert!(kinds.contains(&WarningKind::OutsideDistrict), "{kinds:?}");
    let out = data
        .warnings
        .iter()
        .find(|w| w.kind == WarningKind::OutsideDistrict)
        .unwrap();
    assert!(out.diagnostic.message.contains("lies in 滨湖区"), "{}", out.diagnostic);
    assert_eq!(out.diagnostic.line, Some(3));
    // Within the 1 km tolerance of its outline, a point is inside.
    let mut t = Tiny::new().with_outlines();
    t.schools[0] = t.schools[0].replace("120.010", "119.996");
    t.blocks[0] = "B0,小区0,梁溪区,119.997,31.052,300".to_string();
    assert_eq!(t.kinds(), vec![]);
}

#[test]
fn a_district_without_outline_is_reported_once() {
    let mut t = Tiny::new().with_outlines();
    for i in 0..8 {
        t.blocks[i] = t.blocks[i].replace("梁溪区", "新吴区");
        t.schools[i / 2] = t.schools[i / 2].replace("梁溪区", "新吴区");
    }
    let data = t.load().unwrap();
    let unknown: Vec<_> = data
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::UnknownDistrict)
        .collect();
    assert_eq!(unknown.len(), 1, "{:?}", data.warnings);
    assert_eq!(unknown[0].diagnostic.value.as_deref(), Some("新吴区"));
}

#[test]
fn a_zone_far_from_its_school_is_reported_at_its_zones_row() {
    let mut t = Tiny::new();
    // B15 (滨湖区, east end) zoned to P4, 7.5 km away, while zones are 0.4 km.
    t.zones[15] = "B15,primary,P4".to_string();
    let data = t.load().unwrap();
    let far: Vec<_> = data
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::ZoneFar)
        .collect();
    assert_eq!(far.len(), 1, "{:?}", data.warnings);
    let d = &far[0].diagnostic;
    assert!(d.file.ends_with("zones.csv") && d.line == Some(17), "{d}");
    assert!(d.message.contains("P4") && d.message.contains("B15"), "{d}");
    // A block 2.8 km away is under the 3 km floor, though over 7 × the median.
    let mut t = Tiny::new();
    t.zones[15] = "B15,primary,P6".to_string();
    assert!(!t.kinds().contains(&WarningKind::ZoneFar));
}

#[test]
fn a_zone_across_a_district_line_is_reported() {
    let mut t = Tiny::new();
    t.zones[8] = "B8,primary,P3".to_string(); // B8 is in 滨湖区, P3 in 梁溪区, 2 km apart
    let data = t.load().unwrap();
    let kinds: Vec<WarningKind> = data.warnings.iter().map(|w| w.kind).collect();
    assert_eq!(kinds, vec![WarningKind::ZoneOtherDistrict]);
    assert!(data.warnings[0].diagnostic.message.contains("B8 (滨湖区)"));
}

#[test]
fn district_names_used_once_or_close_to_another_are_reported() {
    // 滨湖 (one block) is one edit from 滨湖区 (11 rows): similar.
    let mut t = Tiny::new();
    t.blocks[9] = t.blocks[9].replace("滨湖区", "滨湖");
    let data = t.load().unwrap();
    let w: Vec<_> = data
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::DistrictSimilar)
        .collect();
    assert_eq!(w.len(), 1, "{:?}", data.warnings);
    assert_eq!(w[0].diagnostic.line, Some(11));
    // 江阴市 (one block) is close to nothing: used once.
    let mut t = Tiny::new();
    t.blocks[9] = t.blocks[9].replace("滨湖区", "江阴市");
    assert!(t.kinds().contains(&WarningKind::DistrictRare));
    // 锡山区 and 惠山区 are one edit apart but both common: not reported.
    let mut t = Tiny::new();
    for r in t.schools.iter_mut().chain(t.blocks.iter_mut()) {
        *r = r.replace("梁溪区", "锡山区").replace("滨湖区", "惠山区");
    }
    assert_eq!(t.kinds(), vec![]);
}

#[test]
fn a_capacity_far_from_the_median_is_reported() {
    let mut t = Tiny::new();
    t.schools[3] = t.schools[3].replace(",45", ",4500");
    let data = t.load().unwrap();
    let w: Vec<_> = data
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::CapacityOutlier)
        .collect();
    assert_eq!(w.len(), 1, "{:?}", data.warnings);
    assert!(w[0].diagnostic.message.contains("4500") && w[0].diagnostic.message.contains("median primary capacity 45"));
    // Ten times the median is still plausible (a large school).
    let mut t = Tiny::new();
    t.schools[3] = t.schools[3].replace(",45", ",450");
    assert_eq!(t.kinds(), vec![]);
}

#[test]
fn two_schools_of_one_stage_at_one_point_are_reported() {
    let mut t = Tiny::new();
    t.schools[5] = "P5,小学5,滨湖区,primary,public,120.110,31.050,45".to_string(); // P4's point
    let data = t.load().unwrap();
    let w: Vec<_> = data
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::DuplicateLocation)
        .collect();
    assert_eq!(w.len(), 1, "{:?}", data.warnings);
    assert!(w[0].diagnostic.message.contains("P4") && w[0].diagnostic.message.contains("P5"));
    // J0 shares P0's campus (a nine-year school): no warning (the clean city has it).
    assert!(
        Tiny::new()
            .schools
            .iter()
            .any(|s| s.starts_with("J0") && s.contains("120.010,31.050"))
    );
}

#[test]
fn strict_turns_warnings_into_errors() {
    let mut t = Tiny::new();
    t.schools[3] = t.schools[3].replace(",45", ",4500");
    t.extra_toml = "strict = true\n".to_string();
    let e = t.load().unwrap_err().to_string();
    assert!(e.contains("capacity_outlier; an error because strict is on"), "{e}");
    let mut t = Tiny::new();
    t.extra_toml = "strict = true\n".to_string();
    assert!(t.load().is_ok());
}

#[test]
fn far_overflow_placements_are_reported_per_stage() {
    // One block 58 km east of every school with room: its applicant overflows far.
    let mut t = Tiny::new();
    t.blocks.push("B16,远郊小区,滨湖区,120.800,31.052,300".to_string());
    let dir = tempfile::tempdir().unwrap();
    let data = t.load_in(dir.path()).unwrap();
    let allocation = crate::allocate(&data);
    let w = super::check_allocation(&data, &allocation);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].kind, WarningKind::OverflowFar);
    assert!(w[0].diagnostic.message.contains("S16"), "{}", w[0].diagnostic);
    // summary.json carries it.
    let report = crate::audit(&data, &allocation);
    let s = crate::output::summary(&data, &allocation, &report);
    assert_eq!(s.warnings.len(), data.warnings.len() + 1);
    // Without the far block: nothing.
    let data = Tiny::new().load().unwrap();
    assert!(super::check_allocation(&data, &crate::allocate(&data)).is_empty());
}
