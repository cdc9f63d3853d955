//! `zones.csv` read in parallel pieces with its columns looked up once and its school ids
//! through a [`SchoolMemo`], against the reading it replaced: every cell looked up by name,
//! one row after another, schools found in the city's index.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;

/// A city of primary schools S0–S3, junior school J0, private school P0 and blocks B0–B9;
/// the rows of school RS and block RB were rejected.
fn city() -> City {
    let mut city = City::default();
    let mut diags = Diagnostics::default();
    let mut text = String::from("school_id,name,district,stage,sector,lon,lat,capacity\n");
    for s in 0..4 {
        text.push_str(&format!("S{s},School {s},A,primary,public,120.{s:03},31.5,100\n"));
    }
    text.push_str("J0,Junior,A,junior,public,120.1,31.5,100\n");
    text.push_str("P0,Private,A,primary,private,120.2,31.5,100\n");
    text.push_str("RS,Rejected,A,primary,public,120.2,31.5,many\n");
    read_schools(text.as_bytes(), "schools.csv", Crs::Wgs84, &mut city, &mut diags);
    let mut text = String::from("block_id,name,district,lon,lat,households\n");
    for b in 0..10 {
        text.push_str(&format!("B{b},Block {b},A,120.{b:03},31.6,10\n"));
    }
    text.push_str("RB,Rejected,A,120.3,31.6,many\n");
    read_blocks(text.as_bytes(), "blocks.csv", Crs::Wgs84, &mut city, &mut diags);
    assert_eq!(diags.items().len(), 2, "{diags}");
    assert!(city.rejected.school("RS") && city.rejected.block("RB"));
    city
}

/// (block, school, line) of a stage's accepted rows, per stage.
type StageRows = [Vec<(u32, u32, u64)>; 3];

/// What the former reader made of a file: problems and the rows per stage.
fn oracle(text: &str, city: &City) -> (Diagnostics, StageRows) {
    let mut diags = Diagnostics::with_cap(usize::MAX);
    let mut rows = StageRows::default();
    read_csv(
        text.as_bytes(),
        "zones.csv",
        &["block_id", "stage", "school_id"],
        &mut diags,
        |row, diags| {
            let block = row.required("block_id", diags).and_then(|b| {
                let found = city.block(b);
                if found.is_none() && !city.rejected.block(b) {
                    diags.push(row.diag("block_id", b, "no block has this id", "use a block_id from blocks.csv"));
                }
                found
            });
            let stage = row.stage(diags);
            let school = row.required("school_id", diags).and_then(|s| {
                let found = city.school(s);
                if found.is_none() && !city.rejected.school(s) {
                    diags.push(row.diag(
                        "school_id",
                        s,
                        "no school has this id",
                        "use a school_id from schools.csv",
                    ));
                }
                found
            });
            let (Some(block), Some(stage), Some(school)) = (block, stage, school) else {
                return;
            };
            let s = &city.schools[school as usize];
            if s.stage != stage {
                diags.push(row.diag(
                    "school_id",
                    &s.id,
                    format!("this school admits {} pupils, not {stage}", s.stage),
                    "pair each block with a school of the row's stage",
                ));
                return;
            }
            if s.sector == Sector::Private {
                diags.push(row.diag(
                    "school_id",
                    &s.id,
                    "a private school has no catchment zone",
                    "private schools admit by lottery among families who choose them; remove this row",
                ));
                return;
            }
            rows[stage.index()].push((block, school, row.line));
        },
    );
    (diags, rows)
}

/// Cells a column may hold: good ones most often, then empty, unknown and rejected ones.
fn cell(column: &str, pick: usize) -> String {
    let pool: &[&str] = match column {
        "block_id" => &["B0", "B1", "B2", "B3", "B9", "B4", " B5 ", "", "NOPE", "RB", "B10"],
        "stage" => &["primary", "primary", "junior", "Primary", "", "college", "senior"],
        "school_id" => &[
            "S0",
            "S1",
            "S2",
            "S3",
            "J0",
            "S1",
            "P0",
            "",
            "NOPE",
            "RS",
            "S0-but-longer",
        ],
        _ => &["x", ""],
    };
    pool[pick % pool.len()].to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Any `zones.csv` (columns in any order, an extra one, bad and repeated rows, in
    /// pieces of a few rows or one) gives the problems (in order, with their columns), the
    /// rows and the zones of the former reader.
    #[test]
    fn zones_read_with_found_columns_match_the_former_reading(
        order in Just((0..4usize).collect::<Vec<_>>()).prop_shuffle(),
        extra in any::<bool>(),
        rows in proptest::collection::vec(proptest::collection::vec(0usize..40, 4), 0..60),
        sorted in any::<bool>(),
        piece_bytes in prop_oneof![Just(1usize << 20), 1usize..200],
    ) {
        let city = city();
        let mut columns = vec!["block_id", "stage", "school_id"];
        if extra {
            columns.push("note");
        }
        let columns: Vec<&str> = order.iter().filter_map(|&i| columns.get(i).copied()).collect();
        let mut rows = rows;
        if sorted {
            // Files sorted by block are the usual case (and take the one-pass zones).
            rows.sort_by_key(|r| cell("block_id", r[0]).trim().to_string());
        }
        let mut text = columns.join(",");
        text.push('\n');
        for picks in &rows {
            let cells: Vec<String> = columns
                .iter()
                .zip(picks)
                .map(|(c, &p)| cell(c, if *c == "block_id" { rows.len() % 3 + p } else { p }))
                .collect();
            text.push_str(&cells.join(","));
            text.push('\n');
        }
        let (want_diags, want_rows) = oracle(&text, &city);
        prop_assume!(want_diags.total() < Diagnostics::DEFAULT_CAP);
        let mut got = city.clone();
        let mut diags = Diagnostics::with_cap(usize::MAX);
        read_zones_in_pieces(text.as_bytes(), "zones.csv", &mut got, &mut diags, piece_bytes);
        prop_assert_eq!(diags.items(), want_diags.items(), "{}", text);
        prop_assert_eq!(&got.lines.zones, &want_rows);
        for stage in Stage::ALL {
            let pairs: Vec<(u32, u32)> = want_rows[stage.index()].iter().map(|&(b, s, _)| (b, s)).collect();
            let want = StageZones::from_pairs(city.blocks.len(), &pairs);
            for b in 0..city.blocks.len() as u32 + 1 {
                prop_assert_eq!(got.zones(stage).schools_of(b), want.schools_of(b));
            }
        }
    }
}

/// The random files above do meet every problem the reader reports.
#[test]
fn the_random_cells_raise_every_zone_problem() {
    let city = city();
    let mut text = String::from("school_id,stage,block_id\n");
    for (s, stage, b) in [
        ("S0", "primary", "B0"),
        ("J0", "primary", "B1"),
        ("P0", "primary", "B2"),
        ("NOPE", "primary", "B3"),
        ("RS", "primary", "RB"),
        ("S1", "college", "NOPE"),
        ("", "", ""),
    ] {
        text.push_str(&format!("{s},{stage},{b}\n"));
    }
    let (want, _) = oracle(&text, &city);
    let mut got = city.clone();
    let mut diags = Diagnostics::with_cap(usize::MAX);
    read_zones_in_pieces(text.as_bytes(), "zones.csv", &mut got, &mut diags, 8);
    assert_eq!(diags.items(), want.items());
    let messages: Vec<&str> = diags.items().iter().map(|d| d.message.as_str()).collect();
    for expected in [
        "this school admits junior pupils, not primary",
        "a private school has no catchment zone",
        "no school has this id",
        "no block has this id",
        "unknown stage",
        "block_id is empty",
        "stage is empty",
        "school_id is empty",
    ] {
        assert!(messages.contains(&expected), "{expected} missing from {messages:?}");
    }
    assert_eq!(got.zones(Stage::Primary).schools_of(0), &[0]);
}
