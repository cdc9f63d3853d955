//! `blocks.csv` read with its columns looked up once and its ids in the city's
//! [`crate::model::StringTable`], against the reading it replaced: every cell looked up by
//! name, one row after another, ids in a `HashMap`.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;
use crate::edit::{Edit, NewBlock, apply_city_edits};
use crate::model::Location;

const REQUIRED: &[&str] = &["block_id", "name", "district", "lon", "lat", "households"];
const OPTIONAL: &[&str] = &["status", "move_in_year", "planned_households"];

/// One block row as the former reader parsed it (every column by name), its district
/// still a name.
fn block_by_name(row: &Row<'_>, crs: Crs, diags: &mut Diagnostics) -> Result<(Block, String), String> {
    let id = row.required("block_id", diags);
    let district = row.required("district", diags);
    let location = row.location(crs, diags);
    let households = row.count("households", diags);
    let status = match row.text("status").to_ascii_lowercase().as_str() {
        "" | "existing" => Some(BlockStatus::Existing),
        "new" => Some(BlockStatus::New),
        other => {
            diags.push(row.diag("status", other, "unknown block status", "use existing or new"));
            None
        }
    };
    let move_in_year = row.parse::<i32>("move_in_year", "a year", diags);
    let planned = row.count("planned_households", diags);
    let (Some(id), Some(district), Some(location), Some(households), Some(status), Some(move_in_year), Some(planned)) =
        (id, district, location, households, status, move_in_year, planned)
    else {
        return Err(row.text("block_id").to_string());
    };
    let name = row.text("name");
    let block = Block {
        id: id.to_string(),
        name: if name.is_empty() { id } else { name }.to_string(),
        district: 0,
        location,
        households: households.unwrap_or(0),
        status,
        move_in_year,
        planned_households: planned,
    };
    Ok((block, district.to_string()))
}

/// What the former reader made of a file: blocks, districts, the id map, problems and the
/// ids of rejected rows.
struct Oracle {
    blocks: Vec<Block>,
    districts: Vec<String>,
    index: HashMap<String, u32>,
    diags: Diagnostics,
    rejected: std::collections::HashSet<String>,
}

fn oracle(text: &str, crs: Crs) -> Oracle {
    let mut o = Oracle {
        blocks: Vec::new(),
        districts: Vec::new(),
        index: HashMap::new(),
        diags: Diagnostics::with_cap(usize::MAX),
        rejected: Default::default(),
    };
    let mut failed = Vec::new();
    let mut lines: Vec<u64> = Vec::new();
    let (blocks, districts, index) = (&mut o.blocks, &mut o.districts, &mut o.index);
    read_csv(text.as_bytes(), "blocks.csv", REQUIRED, &mut o.diags, |row, diags| {
        let (mut block, district) = match block_by_name(row, crs, diags) {
            Ok(b) => b,
            Err(id) => {
                failed.push(id);
                return;
            }
        };
        if let Some(&first) = index.get(&block.id) {
            diags.push(
                Diagnostic::file(
                    "blocks.csv",
                    format!("duplicate block_id (first on line {})", lines[first as usize]),
                    "every block needs its own id",
                )
                .at_line(row.line)
                .at_field(row.columns.get("block_id").map(|c| c + 1), "block_id")
                .with_value(&block.id),
            );
            return;
        }
        index.insert(block.id.clone(), blocks.len() as u32);
        block.district = match districts.iter().position(|d| *d == district) {
            Some(d) => d as u32,
            None => {
                districts.push(district);
                (districts.len() - 1) as u32
            }
        };
        lines.push(row.line);
        blocks.push(block);
    });
    o.rejected = failed
        .into_iter()
        .filter(|id| !id.is_empty() && !o.index.contains_key(id))
        .collect();
    o
}

/// Cells a column may hold: good values (the first, most often), empty ones and every kind
/// of bad one.
fn cell(column: &str, pick: usize) -> String {
    if column == "block_id" {
        // Ids repeat often; one is empty.
        return match pick % 14 {
            13 => String::new(),
            12 => "long-id-B12".to_string(),
            k => format!("B{k}"),
        };
    }
    let pool: &[&str] = match column {
        "name" => &["", "小区", "Block one", "名"],
        "district" => &["A", "B", "", "新区", "A"],
        "lon" => &["120.3", "120.31", "", "east", "200", "-181", "NaN", "inf", "121"],
        "lat" => &["31.5", "31.51", "", "north", "95", "-91", "30"],
        "households" => &["10", "0", "", "-1", "many", "4294967296", "7"],
        "status" => &["", "existing", "NEW", "New", "Existing", "Old", "new"],
        "move_in_year" => &["", "2027", "soon", "2027.5", "2030"],
        "planned_households" => &["", "100", "-5", "lots"],
        _ => &["x", "", "y"],
    };
    pool.get(pick).unwrap_or(&pool[0]).to_string()
}

fn comparable(blocks: &[Block]) -> Vec<String> {
    blocks
        .iter()
        .map(|b| {
            format!(
                "{}|{}|{}|{:?}|{:?}|{}|{:?}|{:?}|{:?}",
                b.id,
                b.name,
                b.district,
                (b.location.lon.to_bits(), b.location.lat.to_bits()),
                b.location.ecef.map(f64::to_bits),
                b.households,
                b.status,
                b.move_in_year,
                b.planned_households
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Any `blocks.csv` (columns in any order, optional ones missing, an unknown one, bad
    /// cells, repeated ids) gives the same blocks, districts, problems (in order, with their
    /// columns) and rejected ids as the former reader; afterwards, and after blocks added
    /// by edits (some with ids taken), the city finds exactly the blocks a `HashMap` finds.
    #[test]
    fn blocks_read_with_found_columns_match_the_former_reading(
        optional in proptest::collection::vec(any::<bool>(), 4),
        order in Just((0..10usize).collect::<Vec<_>>()).prop_shuffle(),
        rows in proptest::collection::vec(proptest::collection::vec(0usize..40, 10), 0..60),
        gcj in any::<bool>(),
        added in proptest::collection::vec((0usize..18, any::<bool>()), 0..12),
        piece_bytes in 1usize..400,
    ) {
        let mut columns: Vec<&str> = REQUIRED.to_vec();
        for (name, &on) in OPTIONAL.iter().zip(&optional) {
            if on {
                columns.push(name);
            }
        }
        if optional[3] {
            columns.push("note");
        }
        let columns: Vec<&str> = order.iter().filter_map(|&i| columns.get(i).copied()).collect();
        let mut text = columns.join(",");
        text.push('\n');
        for picks in &rows {
            let cells: Vec<String> = columns.iter().zip(picks).map(|(c, &p)| cell(c, p)).collect();
            text.push_str(&cells.join(","));
            text.push('\n');
        }
        let crs = if gcj { Crs::Gcj02 } else { Crs::Wgs84 };
        let mut want = oracle(&text, crs);
        let mut city = City::default();
        // Each piece stops at the default cap of problems; a file with more is read alike
        // only up to it.
        prop_assume!(want.diags.total() < Diagnostics::DEFAULT_CAP);
        let mut diags = Diagnostics::with_cap(usize::MAX);
        read_blocks(text.as_bytes(), "blocks.csv", crs, &mut city, &mut diags);
        let first_difference = diags.items().iter().zip(want.diags.items()).position(|(a, b)| a != b);
        prop_assert_eq!(
            (diags.items().len(), diags.omitted, first_difference),
            (want.diags.items().len(), want.diags.omitted, None),
            "{:?}\n{}",
            first_difference.map(|i| (&diags.items()[i], &want.diags.items()[i])),
            text
        );
        prop_assert_eq!(comparable(&city.blocks), comparable(&want.blocks));
        prop_assert_eq!(&city.districts, &want.districts);
        let rejected: std::collections::HashSet<String> = city.rejected.blocks.iter().cloned().collect();
        prop_assert_eq!(&rejected, &want.rejected);

        // The same in pieces of a few rows (repeats across pieces, their firsts in earlier
        // pieces), and into a city holding a block already (ids inserted one at a time).
        for holding in [false, true] {
            let mut other = City::default();
            if holding {
                prop_assert_eq!(other.add_block(city_block("Z0")), Ok(0));
            }
            let mut other_diags = Diagnostics::with_cap(usize::MAX);
            read_blocks_in_pieces(text.as_bytes(), "blocks.csv", crs, &mut other, &mut other_diags, piece_bytes);
            prop_assert_eq!(other_diags.items(), want.diags.items(), "pieces of {} bytes, holding {}", piece_bytes, holding);
            let skip = usize::from(holding);
            prop_assert_eq!(comparable(&other.blocks[skip..]), comparable(&want.blocks));
            prop_assert_eq!(&other.districts, &want.districts);
            prop_assert_eq!(&other.lines.blocks[skip..], &city.lines.blocks[..]);
            let rejected: std::collections::HashSet<String> = other.rejected.blocks.iter().cloned().collect();
            prop_assert_eq!(&rejected, &want.rejected);
            for (id, &i) in &want.index {
                prop_assert_eq!(other.block(id), Some(i + skip as u32), "{}", id);
            }
            for k in 0..16 {
                let id = cell("block_id", k);
                prop_assert_eq!(other.block(&id).is_some(), want.index.contains_key(&id) || (holding && id == "Z0"));
            }
        }

        // Blocks added by edits: a taken id is refused, a new one is found from then on.
        let edits: Vec<Edit> = added
            .iter()
            .map(|&(k, in_range)| {
                let id = if k < 14 { cell("block_id", k) } else { format!("N{k}") };
                let lon = if in_range { 120.4 } else { 190.0 };
                Edit::add_block(NewBlock::new(id, "新楼盘", "A", (lon, 31.6)))
            })
            .collect();
        let mut edit_diags = Diagnostics::with_cap(usize::MAX);
        apply_city_edits(&mut city, &edits, crs, &mut edit_diags);
        let mut next = want.blocks.len() as u32;
        for &(k, in_range) in &added {
            let id = if k < 14 { cell("block_id", k) } else { format!("N{k}") };
            if in_range && !want.index.contains_key(&id) {
                want.index.insert(id, next);
                next += 1;
            }
        }
        prop_assert_eq!(city.blocks.len(), next as usize);
        let mut probes: Vec<String> = (0..14).map(|k| cell("block_id", k)).collect();
        probes.extend((0..18).map(|k| format!("N{k}")));
        probes.extend(["B", "B100", "b1", " B1"].map(String::from));
        for id in &probes {
            prop_assert_eq!(city.block(id), want.index.get(id).copied(), "{}", id);
            prop_assert_eq!(city.find_block(id).map(|b| b.id.as_str()), want.index.get(id).map(|_| id.as_str()));
        }
        for (i, b) in city.blocks.iter().enumerate() {
            prop_assert_eq!(city.block(&b.id), Some(i as u32));
        }
    }
}

/// A block to hold in a city before reading.
fn city_block(id: &str) -> Block {
    Block {
        id: id.to_string(),
        name: id.to_string(),
        district: 0,
        location: Location::from_wgs84(120.3, 31.5),
        households: 1,
        status: BlockStatus::Existing,
        move_in_year: None,
        planned_households: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// Repeats found among sorted keys are those a `HashMap` of first rows finds, with
    /// real hashes and with every string given one tag (one long run of different texts).
    #[test]
    fn repeats_among_sorted_keys_match_a_map_of_first_rows(
        texts in proptest::collection::vec("[a-c]{0,2}", 0..200),
        one_tag in any::<bool>(),
    ) {
        let hash = |t: &str| if one_tag { 7 << 32 } else { StringTable::hash(t) };
        let mut keys: Vec<u64> = texts.iter().zip(0..).map(|(t, row)| StringTable::key(hash(t), row)).collect();
        keys.sort_unstable();
        let got = repeats_among_sorted_keys(&keys, |row| texts[row as usize].as_str());
        let mut first: HashMap<&str, u32> = HashMap::new();
        let mut want = Vec::new();
        for (t, row) in texts.iter().zip(0u32..) {
            match first.get(t.as_str()) {
                Some(&f) => want.push((row, f)),
                None => {
                    first.insert(t, row);
                }
            }
        }
        prop_assert_eq!(got, want);
    }
}

/// The city's own insert: a repeated id leaves the city as it was and names the first
/// block; the index grows past its first size without losing a block.
#[test]
fn add_block_refuses_a_taken_id_and_finds_every_block_after_growth() {
    let block = city_block;
    let mut city = City::default();
    for i in 0..1_000u32 {
        assert_eq!(city.add_block(block(&format!("B{i}"))), Ok(i));
    }
    assert_eq!(city.add_block(block("B17")), Err(17));
    assert_eq!(city.blocks.len(), 1_000);
    city.reserve_blocks(5_000);
    assert_eq!(city.add_block(block("")), Ok(1_000));
    for i in 0..1_000u32 {
        assert_eq!(city.block(&format!("B{i}")), Some(i));
    }
    assert_eq!(city.block(""), Some(1_000));
    assert_eq!(city.block("B1000"), None);
}
