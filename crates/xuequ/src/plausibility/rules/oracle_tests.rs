//! The block-wide rules (median by selection, per-school ranges instead of maps, the zone
//! rows grouped by block) against the computations they replaced, kept here verbatim as
//! oracles: same warnings, in the same order, on random cities.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use geo::MultiPolygon;
use proptest::prelude::*;

use super::super::positions::{Positions, ZoneRows};
use super::*;
use crate::model::{Block, BlockStatus, School, Sector, StageZones};

// The former computations, as they were.

/// The median of a non-empty slice (sorted in place).
fn median_by_sorting(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Schools and blocks outside the city: outside every district outline when there are
/// outlines, else far from the median point. With outlines, also outside their own district.
fn extent_by_sorting(city: &City, pos: &Positions, params: &Params, out: &mut Vec<Warning>) {
    let points = city
        .schools
        .iter()
        .map(|s| (true, s.id.as_str(), s.district, s.location))
        .chain(
            city.blocks
                .iter()
                .map(|b| (false, b.id.as_str(), b.district, b.location)),
        );
    let what = |school: bool| if school { "school" } else { "block" };
    let at = |school: bool, id: &str, msg: String, hint: &str| {
        if school {
            pos.school(id, msg, hint)
        } else {
            pos.block(id, msg, hint)
        }
    };
    if !city.district_outlines.is_empty() {
        let outline: HashMap<&str, &MultiPolygon<f64>> =
            city.district_outlines.iter().map(|(n, g)| (n.as_str(), g)).collect();
        for (school, id, district, loc) in points {
            let own = city.districts[district as usize].as_str();
            if let Some(g) = outline.get(own)
                && inside(g, &loc, params.outline_tolerance_m)
            {
                continue;
            }
            let holder = city
                .district_outlines
                .iter()
                .find(|(_, g)| inside(g, &loc, params.outline_tolerance_m));
            match holder {
                None => {
                    let (near, d) = city
                        .district_outlines
                        .iter()
                        .map(|(n, g)| (n.as_str(), distance_to_outline(g, loc.lon, loc.lat)))
                        .min_by(|a, b| a.1.total_cmp(&b.1))
                        .unwrap_or(("", 0.0));
                    out.push(Warning {
                        kind: WarningKind::OutsideCity,
                        diagnostic: at(
                            school,
                            id,
                            format!(
                                "{} {id} at ({:.6}, {:.6}) lies outside every district outline ({} away from {near})",
                                what(school),
                                loc.lon,
                                loc.lat,
                                km(d)
                            ),
                            "check lon and lat (swapped? a digit lost? the scenario's crs?)",
                        )
                        .at_field(None, "lon"),
                    });
                }
                Some((other, _)) if outline.contains_key(own) => out.push(Warning {
                    kind: WarningKind::OutsideDistrict,
                    diagnostic: at(
                        school,
                        id,
                        format!(
                            "{} {id} of district {own} lies in {other} ({} outside {own}'s outline)",
                            what(school),
                            km(distance_to_outline(outline[own], loc.lon, loc.lat))
                        ),
                        "check the district name and the coordinates",
                    )
                    .at_field(None, "district"),
                }),
                Some(_) => {} // its district has no outline: reported once per name below
            }
        }
        return;
    }
    let all: Vec<(bool, &str, Location)> = points.map(|(s, id, _, l)| (s, id, l)).collect();
    if all.len() < 8 {
        return; // too few points for a robust extent
    }
    let mut lons: Vec<f64> = all.iter().map(|p| p.2.lon).collect();
    let mut lats: Vec<f64> = all.iter().map(|p| p.2.lat).collect();
    let centre = Location::from_wgs84(median_by_sorting(&mut lons), median_by_sorting(&mut lats));
    let dist: Vec<f64> = all.iter().map(|p| f64::from(p.2.distance_m(&centre))).collect();
    let mut sorted = dist.clone();
    sorted.sort_by(f64::total_cmp);
    let p90 = sorted[(sorted.len() * 9) / 10].max(1_000.0);
    let limit = params.extent_factor * p90;
    for ((school, id, loc), d) in all.iter().zip(&dist) {
        if *d > limit {
            out.push(Warning {
                kind: WarningKind::OutsideCity,
                diagnostic: at(
                    *school,
                    id,
                    format!(
                        "{} {id} at ({:.6}, {:.6}) lies {} from the median point of all schools and blocks, beyond {} ({} × the 90th-percentile distance {})",
                        what(*school),
                        loc.lon,
                        loc.lat,
                        km(*d),
                        km(limit),
                        params.extent_factor,
                        km(p90)
                    ),
                    "check lon and lat (swapped? a digit lost? the scenario's crs?)",
                )
                .at_field(None, "lon"),
            });
        }
    }
}

/// Zones whose school is far from its blocks, or in another district.
fn zones_by_maps(city: &City, pos: &Positions, params: &Params, out: &mut Vec<Warning>) {
    for stage in Stage::ALL {
        let z = city.zones(stage);
        // Per school: its (block, distance) pairs.
        let mut by_school: BTreeMap<u32, Vec<(u32, f64)>> = BTreeMap::new();
        let mut all: Vec<f64> = Vec::new();
        for (b, block) in city.blocks.iter().enumerate() {
            for &s in z.schools_of(b as u32) {
                let d = f64::from(block.location.distance_m(&city.schools[s as usize].location));
                by_school.entry(s).or_default().push((b as u32, d));
                all.push(d);
            }
        }
        if all.is_empty() {
            continue;
        }
        let city_median = median_by_sorting(&mut all);
        // Per district of the school: rural counties have longer zones than the city centre.
        let mut by_district: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
        for (&s, pairs) in &by_school {
            by_district
                .entry(city.schools[s as usize].district)
                .or_default()
                .extend(pairs.iter().map(|p| p.1));
        }
        let district_median: BTreeMap<u32, f64> = by_district
            .into_iter()
            .map(|(d, mut v)| (d, median_by_sorting(&mut v)))
            .collect();
        for (&s, pairs) in &by_school {
            let school = &city.schools[s as usize];
            let own = district_median.get(&school.district).copied().unwrap_or(0.0);
            let (med, of) = if own > city_median {
                (own, format!("of {}", city.districts[school.district as usize]))
            } else {
                (city_median, "of the city".to_string())
            };
            let limit = (params.zone_far_factor * med).max(params.zone_far_min_m);
            let far: Vec<&(u32, f64)> = pairs.iter().filter(|(_, d)| *d > limit).collect();
            if let Some(&&(b, _)) = far.first() {
                let list: Vec<String> = far
                    .iter()
                    .take(5)
                    .map(|(b, d)| format!("{} {}", city.blocks[*b as usize].id, km(*d)))
                    .collect();
                out.push(Warning {
                    kind: WarningKind::ZoneFar,
                    diagnostic: pos
                        .zone(
                            stage,
                            &city.blocks[b as usize].id,
                            &school.id,
                            format!(
                                "the {stage} zone of {} {} has {} of {} block(s) farther than {} ({} × the median zone distance {of}, {}): {}{}",
                                school.id,
                                school.name,
                                far.len(),
                                pairs.len(),
                                km(limit),
                                params.zone_far_factor,
                                km(med),
                                list.join(", "),
                                if far.len() > 5 { ", …" } else { "" }
                            ),
                            "check the school's coordinates and the zone rows of these blocks",
                        )
                        .at_field(None, "school_id"),
                });
            }
            let other: Vec<&(u32, f64)> = pairs
                .iter()
                .filter(|(b, _)| city.blocks[*b as usize].district != school.district)
                .collect();
            if let Some(&&(b, _)) = other.first() {
                let list: Vec<String> = other
                    .iter()
                    .take(5)
                    .map(|(b, _)| {
                        let blk = &city.blocks[*b as usize];
                        format!("{} ({})", blk.id, city.districts[blk.district as usize])
                    })
                    .collect();
                out.push(Warning {
                    kind: WarningKind::ZoneOtherDistrict,
                    diagnostic: pos
                        .zone(
                            stage,
                            &city.blocks[b as usize].id,
                            &school.id,
                            format!(
                                "the {stage} zone of {} {} ({}) has {} block(s) in another district: {}{}",
                                school.id,
                                school.name,
                                city.districts[school.district as usize],
                                other.len(),
                                list.join(", "),
                                if other.len() > 5 { ", …" } else { "" }
                            ),
                            "zones normally stay inside one district (区县); check the zone rows or the district names",
                        )
                        .at_field(None, "school_id"),
                });
            }
        }
    }
}

/// Capacities far above or below the stage's median.
fn capacity_by_sorting(city: &City, pos: &Positions, params: &Params, out: &mut Vec<Warning>) {
    for stage in Stage::ALL {
        let mut caps: Vec<f64> = city
            .schools
            .iter()
            .filter(|s| s.stage == stage && !s.closed)
            .map(|s| f64::from(s.capacity))
            .collect();
        if caps.len() < 3 {
            continue;
        }
        let med = median_by_sorting(&mut caps);
        if med <= 0.0 {
            continue;
        }
        for s in city.schools.iter().filter(|s| s.stage == stage && !s.closed) {
            let c = f64::from(s.capacity);
            let high = c > params.capacity_factor * med;
            let low = c > 0.0 && c < med / params.capacity_factor;
            if high || low {
                out.push(Warning {
                    kind: WarningKind::CapacityOutlier,
                    diagnostic: pos
                        .school(
                            &s.id,
                            format!(
                                "school {} {} has capacity {}, {} {} the median {stage} capacity {med}",
                                s.id,
                                s.name,
                                s.capacity,
                                if high { "more than" } else { "less than 1 /" },
                                if high {
                                    format!("{} ×", params.capacity_factor)
                                } else {
                                    format!("{} of", params.capacity_factor)
                                },
                            ),
                            "capacity is the entry-grade seats (classes × class size), not the whole school",
                        )
                        .at_field(None, "capacity"),
                });
            }
        }
    }
}

// Random cities.

/// A school as drawn: junior, district, grid cell, capacity, closed.
type SchoolDraw = (bool, usize, (u32, u32), u32, bool);

/// A city of `schools` (stage, district, grid cell, capacity, closed), `blocks` (district,
/// grid cell) and zone rows (stage, block, school), on a coarse grid so that distances tie;
/// a cell past the grid is a far outlier.
fn city(
    districts: usize,
    schools: &[SchoolDraw],
    blocks: &[(usize, (u32, u32))],
    zone_rows: &[(bool, usize, usize)],
) -> City {
    let at = |(x, y): (u32, u32)| match x {
        40.. => Location::from_wgs84(20.4 + f64::from(y) * 0.01, 31.5),
        _ => Location::from_wgs84(120.0 + f64::from(x) * 0.01, 31.5 + f64::from(y) * 0.01),
    };
    let mut city = City::default();
    city.districts = (0..districts).map(|d| format!("D{d}")).collect();
    for (i, &(junior, district, cell, capacity, closed)) in schools.iter().enumerate() {
        let id = format!("S{i}");
        city.school_index.insert(id.clone(), i as u32);
        city.schools.push(School {
            id,
            name: format!("学校{i}"),
            district: (district % districts) as u32,
            stage: if junior { Stage::Junior } else { Stage::Primary },
            sector: Sector::Public,
            location: at(cell),
            capacity,
            classes: None,
            class_size: None,
            opens_year: None,
            feeder_junior: None,
            purchased_seats: 0,
            closed,
        });
        city.lines.schools.push(i as u64 + 2);
    }
    for (i, &(district, cell)) in blocks.iter().enumerate() {
        let added = city.add_block(Block {
            id: format!("B{i}"),
            name: format!("小区{i}"),
            district: (district % districts) as u32,
            location: at(cell),
            households: 10,
            status: BlockStatus::Existing,
            move_in_year: None,
            planned_households: None,
        });
        assert_eq!(added, Ok(i as u32));
        city.lines.blocks.push(i as u64 + 2);
    }
    let mut pairs: [Vec<(u32, u32)>; 3] = Default::default();
    if !blocks.is_empty() && !schools.is_empty() {
        for (line, &(junior, b, s)) in zone_rows.iter().enumerate() {
            let stage = if junior { Stage::Junior } else { Stage::Primary };
            let (b, s) = ((b % blocks.len()) as u32, (s % schools.len()) as u32);
            pairs[stage.index()].push((b, s));
            city.lines.zones[stage.index()].push((b, s, line as u64 + 2));
        }
    }
    for stage in Stage::ALL {
        city.zones[stage.index()] = StageZones::from_pairs(city.blocks.len(), &pairs[stage.index()]);
    }
    city
}

/// A scenario whose inputs are CSV files (given in memory: none is read).
fn scenario() -> crate::scenario::Scenario {
    let mut tables = crate::load::MemoryTables::default();
    for key in ["schools", "blocks", "students"] {
        tables.insert(key, Vec::new()).unwrap();
    }
    let text = "name = \"t\"\nyear = 2026\n";
    crate::scenario::Scenario::from_toml_with_tables(text, Path::new("/nowhere/scenario.toml"), &tables).unwrap()
}

fn params(pick: (u8, u8, u8, u8)) -> Params {
    Params {
        extent_factor: [1.0, 1.5, 4.0][pick.0 as usize % 3],
        zone_far_factor: [0.5, 1.0, 2.0, 7.0][pick.1 as usize % 4],
        zone_far_min_m: [0.0, 500.0, 3_000.0][pick.2 as usize % 3],
        capacity_factor: [1.5, 2.0, 10.0][pick.3 as usize % 3],
        ..Params::default()
    }
}

/// A value a median may meet: ties, both zeros, infinities, NaN.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u32..20).prop_map(f64::from),
        Just(-0.0),
        Just(0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::NAN),
        -1.0e6..1.0e6f64,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Selection gives the very value (bit for bit) sorting gave.
    #[test]
    fn median_by_selection_is_the_median_by_sorting(values in proptest::collection::vec(value(), 1..60)) {
        let (mut a, mut b) = (values.clone(), values);
        prop_assert_eq!(median(&mut a).to_bits(), median_by_sorting(&mut b).to_bits());
    }

    /// `extent`, `zones` and `capacity` warn as the former computations did: same warnings,
    /// same order, same numbers, same rows pointed at.
    #[test]
    fn block_rules_warn_as_the_former_computations(
        districts in 1usize..4,
        schools in proptest::collection::vec(
            (any::<bool>(), 0usize..4, (0u32..42, 0u32..30), prop_oneof![Just(45u32), 0u32..1_000], proptest::bool::weighted(0.1)),
            0..25,
        ),
        blocks in proptest::collection::vec((0usize..4, (0u32..41, 0u32..30)), 0..120),
        zone_rows in proptest::collection::vec((any::<bool>(), 0usize..200, 0usize..30), 0..300),
        pick in (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()),
        repeat in 1usize..4,
    ) {
        // Runs of blocks at one point (a compound's blocks), some zoned alike.
        let blocks: Vec<_> = blocks.iter().flat_map(|&b| std::iter::repeat_n(b, repeat)).collect();
        let zone_rows: Vec<_> = zone_rows
            .iter()
            .flat_map(|&(junior, b, s)| (0..repeat).map(move |k| (junior, b * repeat + k * (s % 2), s)))
            .collect();
        let city = city(districts, &schools, &blocks, &zone_rows);
        let scenario = scenario();
        let pos = Positions::new(&scenario, &city);
        let params = params(pick);
        type Rule = fn(&City, &Positions, &Params, &mut Vec<Warning>);
        let rules: [(&str, Rule, Rule); 3] = [
            ("extent", extent, extent_by_sorting),
            ("zones", zones, zones_by_maps),
            ("capacity", capacity, capacity_by_sorting),
        ];
        for (name, new, former) in rules {
            let (mut got, mut want) = (Vec::new(), Vec::new());
            new(&city, &pos, &params, &mut got);
            former(&city, &pos, &params, &mut want);
            prop_assert_eq!(got, want, "{}", name);
        }
    }

    /// The zone rows grouped by block find the first line a `HashMap` of first lines finds,
    /// for pairs present and absent, and blocks past the last one.
    #[test]
    fn zone_rows_find_the_first_line_of_a_pair(
        rows in proptest::collection::vec((0u32..40, 0u32..6), 0..200),
        probes in proptest::collection::vec((0u32..45, 0u32..7), 1..50),
        sorted in any::<bool>(),
    ) {
        // Rows in block order (a file sorted by block) are looked up where they stand.
        let mut rows = rows;
        if sorted {
            rows.sort_by_key(|r| r.0);
        }
        let lines: Vec<(u32, u32, u64)> = rows.iter().enumerate().map(|(i, &(b, s))| (b, s, i as u64 * 3 + 2)).collect();
        let mut first: HashMap<(u32, u32), u64> = HashMap::new();
        for &(b, s, line) in &lines {
            first.entry((b, s)).or_insert(line);
        }
        let grouped = ZoneRows::new(&lines);
        for (b, s) in probes.into_iter().chain(rows.iter().copied()) {
            prop_assert_eq!(grouped.first_line(&lines, b, s), first.get(&(b, s)).copied());
        }
    }
}

/// A city where every rule above has something to say, so the comparison is not vacuous.
#[test]
fn the_random_cities_do_raise_these_warnings() {
    let schools: Vec<_> = (0..12u32)
        .map(|i| {
            (
                i % 3 == 0,
                i as usize,
                (i * 3 % 40, i),
                if i == 5 { 900 } else { 45 },
                false,
            )
        })
        .chain([(false, 0, (41, 0), 45, false)])
        .collect();
    let blocks: Vec<_> = (0..60u32)
        .map(|i| (i as usize, (i % 40, i % 30)))
        .chain([(1, (45, 3))])
        .collect();
    let zone_rows: Vec<_> = (0..150usize).map(|i| (i % 3 == 0, i * 7, i)).collect();
    let city = city(3, &schools, &blocks, &zone_rows);
    let scenario = scenario();
    let pos = Positions::new(&scenario, &city);
    let mut out = Vec::new();
    let params = params((1, 0, 0, 1));
    extent(&city, &pos, &params, &mut out);
    zones(&city, &pos, &params, &mut out);
    capacity(&city, &pos, &params, &mut out);
    let kinds: std::collections::BTreeSet<WarningKind> = out.iter().map(|w| w.kind).collect();
    for kind in [
        WarningKind::OutsideCity,
        WarningKind::ZoneFar,
        WarningKind::ZoneOtherDistrict,
        WarningKind::CapacityOutlier,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} missing from {out:#?}");
    }
    // Zone warnings point at their zones.csv row.
    assert!(
        out.iter()
            .filter(|w| w.kind == WarningKind::ZoneFar)
            .all(|w| w.diagnostic.line.is_some())
    );
}
