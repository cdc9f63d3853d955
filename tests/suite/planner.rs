//! A planner's own files: blocks as GeoJSON or shapefile polygons, zones as polygons, a
//! published 划片 list, and the plausibility warnings, on copies of `data/demo`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use xuequ::Stage;
use xuequ::names::MatchKind;
use xuequ::names::from_list::{self, ListRow};
use xuequ::plausibility::WarningKind;

pub(crate) fn demo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo")
}

/// A copy of data/demo in a temporary folder.
pub(crate) fn demo_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in fs::read_dir(demo_dir()).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    dir
}

fn assignments(scenario: &Path, out: &Path) -> Vec<u8> {
    let data = xuequ::Dataset::load(scenario).unwrap();
    let allocation = xuequ::allocate(&data);
    let report = xuequ::audit(&data, &allocation);
    assert!(report.passed());
    xuequ::write_outputs(out, &data, &allocation, &report, Default::default()).unwrap();
    fs::read(out.join("assignments.csv")).unwrap()
}

fn blocks_csv(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(dir.join("blocks.csv")).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|x| {
            let x = x.unwrap();
            headers
                .iter()
                .zip(x.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// Bounds `(a, b)` around `c` with `(a + b) / 2 == c` exactly in floating point: the
/// interior point of a square drawn on them is the original point (proved below per block).
fn around(c: f64, h: f64) -> (f64, f64) {
    for k in 0..64 {
        let h = h * (1.0 + f64::from(k) * 1e-3);
        let (a, b) = (c - h, c + h);
        if (a + b) / 2.0 == c {
            return (a, b);
        }
    }
    panic!("no exact square around {c}");
}

fn square(lon: f64, lat: f64, h: f64) -> Vec<[f64; 2]> {
    let (x0, x1) = around(lon, h);
    let (y0, y1) = around(lat, h);
    vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
}

fn coord(row: &BTreeMap<String, String>) -> (f64, f64) {
    (row["lon"].parse().unwrap(), row["lat"].parse().unwrap())
}

#[test]
fn blocks_as_geojson_polygons_give_identical_assignments() {
    let original = assignments(
        &demo_dir().join("scenario.toml"),
        &tempfile::tempdir().unwrap().path().join("o"),
    );
    let dir = demo_copy();
    let rows = blocks_csv(dir.path());
    let mut features = Vec::new();
    for row in &rows {
        let (lon, lat) = coord(row);
        let ring = square(lon, lat, 0.0004);
        // The proof: the interior point of the square is the CSV point, exactly.
        let poly = geo::MultiPolygon(vec![geo::Polygon::new(
            geo::LineString::from(ring.iter().map(|p| (p[0], p[1])).collect::<Vec<_>>()),
            vec![],
        )]);
        assert_eq!(
            xuequ::shapes::interior_point(&poly),
            Some((lon, lat)),
            "{}",
            row["block_id"]
        );
        let props: serde_json::Map<String, serde_json::Value> = row
            .iter()
            .filter(|(k, _)| *k != "lon" && *k != "lat")
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        features.push(serde_json::json!({
            "type": "Feature",
            "properties": props,
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }));
    }
    let fc = serde_json::json!({"type": "FeatureCollection", "features": features});
    fs::write(dir.path().join("blocks.geojson"), serde_json::to_vec(&fc).unwrap()).unwrap();
    fs::remove_file(dir.path().join("blocks.csv")).unwrap();
    let toml = fs::read_to_string(dir.path().join("scenario.toml")).unwrap();
    fs::write(
        dir.path().join("scenario.toml"),
        toml.replace("blocks = \"blocks.csv\"", "blocks = \"blocks.geojson\""),
    )
    .unwrap();
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    assert_eq!(data.city.block_polygons.len(), rows.len());
    let got = assignments(&dir.path().join("scenario.toml"), &dir.path().join("out"));
    assert!(got == original, "assignments.csv differs with polygon blocks");
}

/// A dBASE III table with character fields, text in `encode`'s encoding.
fn dbf(fields: &[(&str, u8)], rows: &[Vec<String>], encode: impl Fn(&str) -> Vec<u8>) -> Vec<u8> {
    let record_len: usize = 1 + fields.iter().map(|f| f.1 as usize).sum::<usize>();
    let header_len = 32 + 32 * fields.len() + 1;
    let mut b = vec![0x03u8, 126, 1, 1];
    b.extend((rows.len() as u32).to_le_bytes());
    b.extend((header_len as u16).to_le_bytes());
    b.extend((record_len as u16).to_le_bytes());
    b.resize(32, 0);
    for (name, len) in fields {
        let mut f = [0u8; 32];
        f[..name.len()].copy_from_slice(name.as_bytes());
        f[11] = b'C';
        f[16] = *len;
        b.extend(f);
    }
    b.push(0x0D);
    for row in rows {
        b.push(b' ');
        for (v, (_, len)) in row.iter().zip(fields) {
            let mut cell = encode(v);
            assert!(cell.len() <= *len as usize);
            cell.resize(*len as usize, b' ');
            b.extend(cell);
        }
    }
    b.push(0x1A);
    b
}

#[test]
fn blocks_as_a_gbk_shapefile_give_identical_assignments() {
    let original = assignments(
        &demo_dir().join("scenario.toml"),
        &tempfile::tempdir().unwrap().path().join("o"),
    );
    let dir = demo_copy();
    let rows = blocks_csv(dir.path());
    let shp = dir.path().join("blocks.shp");
    let mut w = shapefile::ShapeWriter::with_shx(
        fs::File::create(&shp).unwrap(),
        fs::File::create(dir.path().join("blocks.shx")).unwrap(),
    );
    for row in &rows {
        let (lon, lat) = coord(row);
        let ring: Vec<shapefile::Point> = square(lon, lat, 0.0004)
            .iter()
            .rev()
            .map(|p| shapefile::Point::new(p[0], p[1]))
            .collect();
        w.write_shape(&shapefile::Polygon::new(shapefile::PolygonRing::Outer(ring)))
            .unwrap();
    }
    w.finalize().unwrap();
    drop(w);
    // dBASE field names have at most 10 characters: move_in_year and planned_households
    // arrive cut to move_in_ye and planned_ho, and are still recognised.
    let fields = [
        ("block_id", 16u8),
        ("name", 40),
        ("district", 20),
        ("households", 10),
        ("status", 10),
        ("move_in_ye", 6),
        ("planned_ho", 10),
    ];
    let cols = [
        "block_id",
        "name",
        "district",
        "households",
        "status",
        "move_in_year",
        "planned_households",
    ];
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| cols.iter().map(|c| r[*c].clone()).collect())
        .collect();
    fs::write(
        dir.path().join("blocks.dbf"),
        dbf(&fields, &table, |s| encoding_rs::GBK.encode(s).0.into_owned()),
    )
    .unwrap();
    fs::write(dir.path().join("blocks.cpg"), "GBK").unwrap();
    fs::write(
        dir.path().join("blocks.prj"),
        r#"GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]"#,
    )
    .unwrap();
    fs::remove_file(dir.path().join("blocks.csv")).unwrap();
    let toml = fs::read_to_string(dir.path().join("scenario.toml")).unwrap();
    fs::write(
        dir.path().join("scenario.toml"),
        toml.replace("blocks = \"blocks.csv\"", "blocks = \"blocks.shp\""),
    )
    .unwrap();
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    assert_eq!(
        data.city.blocks[1].name, "羊尖悦府五期",
        "GBK text read through the .cpg"
    );
    let got = assignments(&dir.path().join("scenario.toml"), &dir.path().join("out"));
    assert!(got == original, "assignments.csv differs with shapefile blocks");
    // The manifest lists the shapefile with every companion read.
    let listed = crate::manifest::listed_inputs(&dir.path().join("out"));
    assert_eq!(
        listed[..7],
        [
            "scenario.toml",
            "schools.csv",
            "blocks.shp",
            "blocks.shx",
            "blocks.dbf",
            "blocks.prj",
            "blocks.cpg"
        ]
    );

    // Without the .dbf: one clear error naming the missing file.
    fs::remove_file(dir.path().join("blocks.dbf")).unwrap();
    let e = xuequ::Dataset::load(&dir.path().join("scenario.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("blocks.dbf is missing"), "{e}");
    // A .shp cut short: one error naming the file, no panic.
    let whole = fs::read(&shp).unwrap();
    fs::write(&shp, &whole[..whole.len() / 2]).unwrap();
    fs::write(
        dir.path().join("blocks.dbf"),
        dbf(&fields, &table, |s| encoding_rs::GBK.encode(s).0.into_owned()),
    )
    .unwrap();
    let e = xuequ::Dataset::load(&dir.path().join("scenario.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("blocks.shp"), "{e}");
    fs::write(&shp, &whole).unwrap();
    // A projected .prj is refused, never guessed.
    fs::write(
        dir.path().join("blocks.dbf"),
        dbf(&fields, &table, |s| encoding_rs::GBK.encode(s).0.into_owned()),
    )
    .unwrap();
    fs::write(
        dir.path().join("blocks.prj"),
        r#"PROJCS["CGCS2000_3_Degree_GK_CM_120E",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000"],PROJECTION["Gauss_Kruger"]]"#,
    )
    .unwrap();
    let e = xuequ::Dataset::load(&dir.path().join("scenario.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("projected coordinate system (CGCS2000_3_Degree_GK_CM_120E)"),
        "{e}"
    );
}

#[test]
fn zones_as_polygons_give_the_zones_of_zones_csv() {
    let original = assignments(
        &demo_dir().join("scenario.toml"),
        &tempfile::tempdir().unwrap().path().join("o"),
    );
    let dir = demo_copy();
    let rows = blocks_csv(dir.path());
    let at: BTreeMap<String, (f64, f64)> = rows.iter().map(|r| (r["block_id"].clone(), coord(r))).collect();
    // One MultiPolygon per (stage, school): small squares around its blocks, in the order
    // the pairs first appear in zones.csv.
    let mut order: Vec<(String, String)> = Vec::new();
    let mut parts: BTreeMap<(String, String), Vec<serde_json::Value>> = BTreeMap::new();
    let mut r = csv::Reader::from_path(dir.path().join("zones.csv")).unwrap();
    for x in r.records() {
        let x = x.unwrap();
        let k = (x[1].to_string(), x[2].to_string());
        if !parts.contains_key(&k) {
            order.push(k.clone());
        }
        let (lon, lat) = at[&x[0]];
        parts
            .entry(k)
            .or_default()
            .push(serde_json::json!([square(lon, lat, 0.0001)]));
    }
    let features: Vec<serde_json::Value> = order
        .iter()
        .map(|k| {
            serde_json::json!({
                "type": "Feature",
                "properties": {"stage": k.0, "school_id": k.1},
                "geometry": {"type": "MultiPolygon", "coordinates": parts[k]},
            })
        })
        .collect();
    fs::write(
        dir.path().join("zones.geojson"),
        serde_json::to_vec(&serde_json::json!({"type": "FeatureCollection", "features": features})).unwrap(),
    )
    .unwrap();
    let toml = fs::read_to_string(dir.path().join("scenario.toml")).unwrap();
    fs::write(
        dir.path().join("scenario.toml"),
        toml.replace("zones = \"zones.csv\"", "zones = \"zones.geojson\""),
    )
    .unwrap();
    let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
    let csv_data = xuequ::Dataset::load(&demo_dir().join("scenario.toml")).unwrap();
    for stage in Stage::ALL {
        for b in 0..data.city.blocks.len() as u32 {
            let mut a = data.city.zones(stage).schools_of(b).to_vec();
            let mut c = csv_data.city.zones(stage).schools_of(b).to_vec();
            a.sort_unstable();
            c.sort_unstable();
            assert_eq!(a, c, "{stage} block {b}");
        }
    }
    // Blocks without a zone of a stage in zones.csv are listed, one warning each.
    let none = data
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::ZonePolygonNone)
        .count();
    assert_eq!(none, 150 * 3 - 435);
    // The demo's multi-school zones (21 block-stage pairs) lie in two polygons: listed too.
    let many = data
        .warnings
        .iter()
        .filter(|w| w.kind == WarningKind::ZonePolygonMany)
        .count();
    assert_eq!(many, 21);
    let got = assignments(&dir.path().join("scenario.toml"), &dir.path().join("out"));
    assert!(got == original, "assignments.csv differs with zone polygons");
}

/// Writes a name the way announcements do, cycling through realistic variants.
fn variant(name: &str, i: usize) -> String {
    let phases = ["一期", "二期", "三期", "四期", "五期"];
    match i % 6 {
        // 碧桂园名邸二期 → 碧桂园名邸（二期）
        0 => match phases.iter().find(|p| name.ends_with(*p)) {
            Some(p) => format!("{}（{p}）", &name[..name.len() - p.len()]),
            None => name.to_string(),
        },
        // 二期 → 2期 (full-width digit)
        1 => {
            let mut s = name.to_string();
            for (k, p) in phases.iter().enumerate() {
                s = s.replace(p, &format!("{}期", char::from_u32(0xFF11 + k as u32).unwrap()));
            }
            s
        }
        // spaces
        2 => {
            let c: Vec<char> = name.chars().collect();
            let mid = c.len() / 2;
            format!(
                " {} {} ",
                c[..mid].iter().collect::<String>(),
                c[mid..].iter().collect::<String>()
            )
        }
        // 苑 → 小区, 小区 → 花园 (generic ending swapped) when the name has no phase
        3 if !phases.iter().any(|p| name.ends_with(p)) => {
            if let Some(b) = name.strip_suffix('苑') {
                format!("{b}小区")
            } else if let Some(b) = name.strip_suffix("小区") {
                format!("{b}花园")
            } else {
                name.to_string()
            }
        }
        // 第二期
        4 => {
            let mut s = name.to_string();
            for p in phases {
                s = s.replace(p, &format!("第{p}"));
            }
            s
        }
        _ => name.to_string(),
    }
}

#[test]
fn zones_from_a_generated_announcement_recover_the_demo_zones() {
    let data = xuequ::Dataset::load(&demo_dir().join("scenario.toml")).unwrap();
    let city = &data.city;
    let stage = Stage::Primary;
    // The announcement: per school, its blocks' names with variants, 、 and ， mixed, phases
    // of one estate written 安镇湾一期、二期, and a street range that matches no block.
    let mut by_school: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for b in 0..city.blocks.len() as u32 {
        for &s in city.zones(stage).schools_of(b) {
            by_school.entry(s).or_default().push(b);
        }
    }
    let mut rows = Vec::new();
    let mut k = 0usize;
    for (line, (&s, blocks)) in by_school.iter().enumerate() {
        let mut parts: Vec<String> = Vec::new();
        let mut prev_base: Option<String> = None;
        for &b in blocks {
            let name = &city.blocks[b as usize].name;
            // Elide the estate when it repeats the previous phrase's (…一期、二期).
            let phase = ["一期", "二期", "三期", "四期", "五期"]
                .iter()
                .find(|p| name.ends_with(*p));
            if let (Some(p), Some(prev)) = (phase, &prev_base)
                && name[..name.len() - p.len()] == *prev
            {
                parts.push(p.to_string());
                continue;
            }
            prev_base = phase.map(|p| name[..name.len() - p.len()].to_string());
            parts.push(variant(name, k));
            k += 1;
        }
        parts.push("人民路1-99号单号".to_string());
        let sep = if line % 2 == 0 { "、" } else { "，" };
        let school = &city.schools[s as usize];
        rows.push(ListRow {
            line: line as u64 + 2,
            // Half the rows name the school, half give its id.
            school: if line % 2 == 0 {
                school.name.clone()
            } else {
                school.id.clone()
            },
            blocks: parts.join(sep),
        });
    }
    let result = from_list::zones_from_list(city, stage, &rows, "list.csv").unwrap();
    let want: BTreeSet<(u32, u32)> = by_school
        .iter()
        .flat_map(|(&s, bs)| bs.iter().map(move |&b| (b, s)))
        .collect();
    let got: BTreeSet<(u32, u32)> = result.pairs.iter().copied().collect();
    let missed: Vec<String> = want
        .difference(&got)
        .map(|(b, s)| {
            format!(
                "{} {} -> {}",
                city.blocks[*b as usize].id, city.blocks[*b as usize].name, city.schools[*s as usize].id
            )
        })
        .collect();
    let wrong: Vec<&(u32, u32)> = got.difference(&want).collect();
    let recovered = want.len() - missed.len();
    assert!(
        recovered * 100 >= want.len() * 98,
        "recovered {recovered} of {} pairs; missed: {missed:?}",
        want.len()
    );
    assert!(wrong.is_empty(), "pairs not in the demo zones: {wrong:?}");
    // Every miss is in the report as ambiguous or unmatched; so is every street range.
    let listed: Vec<&str> = result
        .matches
        .iter()
        .filter(|m| matches!(m.resolution.kind, MatchKind::Ambiguous | MatchKind::Unmatched))
        .map(|m| m.phrase.as_str())
        .collect();
    assert_eq!(listed.iter().filter(|p| p.contains("人民路")).count(), by_school.len());
    assert!(listed.len() >= by_school.len() + missed.len().min(1));
    // The report is written with every phrase.
    let out = tempfile::tempdir().unwrap();
    let list = xuequ::io::InputRecord::File(PathBuf::from("list.csv"));
    from_list::write(&out.path().join("z"), city, &result, [list]).unwrap();
    let report = fs::read_to_string(out.path().join("z/match_report.csv")).unwrap();
    assert_eq!(report.lines().count(), result.matches.len() + 1);
    assert!(report.contains("人民路1-99号单号,unmatched"));
    eprintln!(
        "zones-from-list: {recovered}/{} pairs; {} exact, {} normalised, {} fuzzy, {} ambiguous, {} unmatched",
        want.len(),
        result.count(MatchKind::Exact),
        result.count(MatchKind::Normalised),
        result.count(MatchKind::Fuzzy),
        result.count(MatchKind::Ambiguous),
        result.count(MatchKind::Unmatched)
    );
}

#[test]
fn the_demo_and_the_readme_edit_have_no_warnings() {
    let data = xuequ::Dataset::load(&demo_dir().join("scenario.toml")).unwrap();
    assert!(data.warnings.is_empty(), "{:?}", data.warnings);
    let allocation = xuequ::allocate(&data);
    assert!(xuequ::plausibility::check_allocation(&data, &allocation).is_empty());
    // The README's scenario edit, verbatim.
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("name = \"方案A").unwrap();
    let end = start + readme[start..].find("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = readme[start..end].replace(
        "../demo/scenario.toml",
        &demo_dir().join("scenario.toml").display().to_string(),
    );
    fs::write(dir.path().join("a.toml"), text).unwrap();
    let data = xuequ::Dataset::load(&dir.path().join("a.toml")).unwrap();
    assert!(data.warnings.is_empty(), "{:?}", data.warnings);
    // The old example (two 江阴市 blocks 25-41 km away) is reported at the edit's line.
    let old = fs::read_to_string(dir.path().join("a.toml"))
        .unwrap()
        .replace("[\"B000077\", \"B000086\"]", "[\"B000120\", \"B000121\"]");
    fs::write(dir.path().join("b.toml"), old).unwrap();
    let data = xuequ::Dataset::load(&dir.path().join("b.toml")).unwrap();
    let kinds: BTreeSet<WarningKind> = data.warnings.iter().map(|w| w.kind).collect();
    assert!(kinds.contains(&WarningKind::ZoneOtherDistrict) && kinds.contains(&WarningKind::ZoneFar));
    assert!(
        data.warnings.iter().all(|w| w.diagnostic.line == Some(3)),
        "{:?}",
        data.warnings
    );
}

#[test]
fn a_list_saved_as_an_excel_workbook_or_gbk_csv_reads_like_csv() {
    let data = xuequ::Dataset::load(&demo_dir().join("scenario.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A workbook with the Chinese headers a bureau uses.
    let xlsx = dir.path().join("划片.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.write_string(0, 0, "学校").unwrap();
    sheet.write_string(0, 1, "划片范围").unwrap();
    sheet.write_string(1, 0, "锡山区实验小学").unwrap();
    sheet
        .write_string(1, 1, "安镇北苑、羊尖悦府（五期）\n人民路1-99号单号")
        .unwrap();
    book.save(&xlsx).unwrap();
    let rows = from_list::read_list(&xlsx).unwrap();
    let result = from_list::zones_from_list(&data.city, Stage::Primary, &rows, "划片.xlsx").unwrap();
    let kinds: Vec<MatchKind> = result.matches.iter().map(|m| m.resolution.kind).collect();
    assert_eq!(kinds, [MatchKind::Exact, MatchKind::Normalised, MatchKind::Unmatched]);
    // The same list as GBK CSV.
    let gbk = dir.path().join("list.csv");
    let text = "学校,划片范围\n锡山区实验小学,\"安镇北苑、羊尖悦府（五期）\n人民路1-99号单号\"\n";
    fs::write(&gbk, encoding_rs::GBK.encode(text).0).unwrap();
    let rows = from_list::read_list(&gbk).unwrap();
    let again = from_list::zones_from_list(&data.city, Stage::Primary, &rows, "list.csv").unwrap();
    assert_eq!(again.pairs, result.pairs);
}

/// Rural counties (宜兴市) have longer zones than the city centre: the far-zone rule measures
/// a zone against its own district's median too, so the generated Wuxi city is clean.
#[test]
fn generated_wuxi_cities_have_no_warnings() {
    for preset in [xuequ_synth::Preset::Wuxi, xuequ_synth::Preset::Choice { k: 5 }] {
        let dir = tempfile::tempdir().unwrap();
        let config = xuequ_synth::SynthConfig {
            applicants: Some(20_000),
            ..xuequ_synth::SynthConfig::new(preset)
        };
        xuequ_synth::write_city(&config, dir.path(), &mut |_| {}).unwrap();
        let data = xuequ::Dataset::load(&dir.path().join("scenario.toml")).unwrap();
        assert!(data.warnings.is_empty(), "{preset:?}: {:?}", data.warnings);
    }
}
