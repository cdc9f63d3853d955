//! The input rules, one function each (see the table in the module docs).

use std::collections::HashMap;

use geo::{Contains, MultiPolygon};

use super::positions::Positions;
use super::{Params, Warning, WarningKind};
use crate::model::{City, Location, Stage};
use crate::scenario::Scenario;
use crate::shapes::ZoneMembership;

fn km(m: f64) -> String {
    format!("{:.1} km", m / 1000.0)
}

/// Distance in metres from a point to a (multi)polygon's boundary, on a local flat
/// approximation (good to a fraction of a percent over a city).
fn distance_to_outline(g: &MultiPolygon<f64>, lon: f64, lat: f64) -> f64 {
    let kx = 111_195.0 * lat.to_radians().cos();
    let ky = 111_195.0;
    let mut best = f64::INFINITY;
    for p in &g.0 {
        for r in std::iter::once(p.exterior()).chain(p.interiors()) {
            for w in r.0.windows(2) {
                let (ax, ay) = ((w[0].x - lon) * kx, (w[0].y - lat) * ky);
                let (bx, by) = ((w[1].x - lon) * kx, (w[1].y - lat) * ky);
                let (dx, dy) = (bx - ax, by - ay);
                let len2 = dx * dx + dy * dy;
                let t = if len2 > 0.0 {
                    (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (x, y) = (ax + t * dx, ay + t * dy);
                best = best.min((x * x + y * y).sqrt());
            }
        }
    }
    best
}

fn inside(g: &MultiPolygon<f64>, loc: &Location, tolerance: f64) -> bool {
    g.contains(&geo::Point::new(loc.lon, loc.lat)) || distance_to_outline(g, loc.lon, loc.lat) <= tolerance
}

/// The median of a non-empty slice (reordered in place): the middle value, or the mean of
/// the two middle values, of the slice sorted by [`f64::total_cmp`], found by selection
/// instead of sorting.
pub(super) fn median(v: &mut [f64]) -> f64 {
    let n = v.len();
    let (below, &mut middle, _) = v.select_nth_unstable_by(n / 2, f64::total_cmp);
    if n % 2 == 1 {
        return middle;
    }
    // The value sorted just before the middle one is the largest of those below it.
    let before = below.iter().copied().max_by(f64::total_cmp).unwrap_or(middle);
    (before + middle) / 2.0
}

/// Schools and blocks outside the city: outside every district outline when there are
/// outlines, else far from the median point. With outlines, also outside their own district.
pub(super) fn extent(city: &City, pos: &Positions, params: &Params, out: &mut Vec<Warning>) {
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
    // Schools first, then blocks: point `i` is a school when `i < schools`.
    let schools = city.schools.len();
    if schools + city.blocks.len() < 8 {
        return; // too few points for a robust extent
    }
    let locations = || {
        city.schools
            .iter()
            .map(|s| &s.location)
            .chain(city.blocks.iter().map(|b| &b.location))
    };
    // One buffer for the median longitude, then latitude.
    let mut values: Vec<f64> = locations().map(|l| l.lon).collect();
    let lon = median(&mut values);
    values.clear();
    values.extend(locations().map(|l| l.lat));
    let lat = median(&mut values);
    drop(values);
    let centre = Location::from_wgs84(lon, lat);
    // Neighbouring blocks often share a point (blocks of one compound): its distance is
    // the last one again.
    let mut last: Option<(&Location, u32)> = None;
    let dist: Vec<u32> = locations()
        .map(|l| match last {
            Some((point, d)) if point == l => d,
            _ => {
                let d = l.distance_m(&centre);
                last = Some((l, d));
                d
            }
        })
        .collect();
    // The 90th-percentile distance: the value a sort would put at 9/10 of the list.
    let mut order = dist.clone();
    let rank = (order.len() * 9) / 10;
    let p90 = f64::from(*order.select_nth_unstable(rank).1).max(1_000.0);
    drop(order);
    let limit = params.extent_factor * p90;
    for (i, &d) in dist.iter().enumerate() {
        let d = f64::from(d);
        if d <= limit {
            continue;
        }
        let (school, id, loc) = match i.checked_sub(schools) {
            None => (true, city.schools[i].id.as_str(), &city.schools[i].location),
            Some(b) => (false, city.blocks[b].id.as_str(), &city.blocks[b].location),
        };
        out.push(Warning {
            kind: WarningKind::OutsideCity,
            diagnostic: at(
                school,
                id,
                format!(
                    "{} {id} at ({:.6}, {:.6}) lies {} from the median point of all schools and blocks, beyond {} ({} × the 90th-percentile distance {})",
                    what(school),
                    loc.lon,
                    loc.lat,
                    km(d),
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

/// Levenshtein distance over characters (one implementation for the crate).
pub(super) fn edits(a: &str, b: &str) -> usize {
    crate::policy::edit_distance(a, b)
}

/// District names used once, close to a much more common name, or without an outline.
pub(super) fn districts(city: &City, pos: &Positions, params: &Params, out: &mut Vec<Warning>) {
    let mut count = vec![0usize; city.districts.len()];
    // The first row using each name, to point at.
    let mut first: Vec<Option<(bool, &str)>> = vec![None; city.districts.len()];
    for s in &city.schools {
        count[s.district as usize] += 1;
        first[s.district as usize].get_or_insert((true, &s.id));
    }
    for b in &city.blocks {
        count[b.district as usize] += 1;
        first[b.district as usize].get_or_insert((false, &b.id));
    }
    let at = |d: usize, msg: String, hint: &str| match first[d] {
        Some((true, id)) => pos.school(id, msg, hint).at_field(None, "district"),
        Some((false, id)) => pos.block(id, msg, hint).at_field(None, "district"),
        None => crate::error::Diagnostic::file("", msg, hint),
    };
    for (d, name) in city.districts.iter().enumerate() {
        if count[d] == 0 {
            continue;
        }
        let similar = city.districts.iter().enumerate().find(|(o, other)| {
            *o != d && count[*o] >= params.similar_ratio * count[d] && edits(name, other) <= params.similar_edits
        });
        if let Some((o, other)) = similar {
            out.push(Warning {
                kind: WarningKind::DistrictSimilar,
                diagnostic: at(
                    d,
                    format!(
                        "district \"{name}\" ({} row(s)) is {} edit(s) from \"{other}\" ({} rows): a typo?",
                        count[d],
                        edits(name, other),
                        count[o]
                    ),
                    "spell district names the same way in every file",
                )
                .with_value(name.clone()),
            });
        } else if count[d] == 1 {
            out.push(Warning {
                kind: WarningKind::DistrictRare,
                diagnostic: at(
                    d,
                    format!("district \"{name}\" is used by a single school or block"),
                    "check the spelling; every other district has several rows",
                )
                .with_value(name.clone()),
            });
        }
        if !city.district_outlines.is_empty() && !city.district_outlines.iter().any(|(n, _)| n == name) {
            let names: Vec<&str> = city.district_outlines.iter().map(|(n, _)| n.as_str()).collect();
            out.push(Warning {
                kind: WarningKind::UnknownDistrict,
                diagnostic: at(
                    d,
                    format!(
                        "district \"{name}\" has no outline in the districts file ({})",
                        names.join("、")
                    ),
                    "spell the district as in the districts file, or add its outline",
                )
                .with_value(name.clone()),
            });
        }
    }
}

/// Zones whose school is far from its blocks, or in another district.
pub(super) fn zones(city: &City, pos: &Positions, params: &Params, out: &mut Vec<Warning>) {
    let school_count = city.schools.len();
    let district_count = city.schools.iter().map(|s| s.district as usize + 1).max().unwrap_or(0);
    for stage in Stage::ALL {
        let z = city.zones(stage);
        if z.is_empty() {
            continue;
        }
        // Per school, its (block, distance) pairs in block order, as ranges of one vector:
        // counted, then placed.
        let mut start = vec![0usize; school_count + 1];
        for b in 0..city.blocks.len() as u32 {
            for &s in z.schools_of(b) {
                start[s as usize + 1] += 1;
            }
        }
        for s in 0..school_count {
            start[s + 1] += start[s];
        }
        let total = start[school_count];
        if total == 0 {
            continue;
        }
        let mut placed = start.clone();
        let mut pairs = vec![(0u32, 0.0f64); total];
        let mut all: Vec<f64> = Vec::with_capacity(total);
        // The previous block's point and its (school, distance) pairs: neighbouring blocks
        // often share a point and their zone schools.
        let mut previous: (Option<&Location>, Vec<(u32, f64)>) = (None, Vec::new());
        let mut current: Vec<(u32, f64)> = Vec::new();
        for (b, block) in city.blocks.iter().enumerate() {
            let same_point = previous.0 == Some(&block.location);
            current.clear();
            for &s in z.schools_of(b as u32) {
                let known = same_point.then(|| previous.1.iter().find(|p| p.0 == s)).flatten();
                let d = match known {
                    Some(&(_, d)) => d,
                    None => f64::from(block.location.distance_m(&city.schools[s as usize].location)),
                };
                current.push((s, d));
                pairs[placed[s as usize]] = (b as u32, d);
                placed[s as usize] += 1;
                all.push(d);
            }
            previous.0 = Some(&block.location);
            std::mem::swap(&mut previous.1, &mut current);
        }
        let city_median = median(&mut all);
        // Per district of the school: rural counties have longer zones than the city centre.
        // The same buffer holds the distances again, grouped by the school's district.
        let mut district_start = vec![0usize; district_count + 1];
        for (s, school) in city.schools.iter().enumerate() {
            district_start[school.district as usize + 1] += start[s + 1] - start[s];
        }
        for d in 0..district_count {
            district_start[d + 1] += district_start[d];
        }
        let mut district_placed = district_start.clone();
        for (s, school) in city.schools.iter().enumerate() {
            let d = school.district as usize;
            for &(_, distance) in &pairs[start[s]..start[s + 1]] {
                all[district_placed[d]] = distance;
                district_placed[d] += 1;
            }
        }
        let district_median: Vec<f64> = (0..district_count)
            .map(|d| match district_start[d] < district_start[d + 1] {
                true => median(&mut all[district_start[d]..district_start[d + 1]]),
                false => 0.0,
            })
            .collect();
        for s in (0..school_count).filter(|&s| start[s] < start[s + 1]) {
            let pairs = &pairs[start[s]..start[s + 1]];
            let school = &city.schools[s];
            let own = district_median[school.district as usize];
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
pub(super) fn capacity(city: &City, pos: &Positions, params: &Params, out: &mut Vec<Warning>) {
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
        let med = median(&mut caps);
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

/// Two schools of one stage at the same point.
pub(super) fn duplicates(city: &City, pos: &Positions, params: &Params, out: &mut Vec<Warning>) {
    let mut order: Vec<u32> = (0..city.schools.len() as u32).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&city.schools[a as usize], &city.schools[b as usize]);
        a.stage.cmp(&b.stage).then(a.location.lon.total_cmp(&b.location.lon))
    });
    // 1 m is about 1e-5 degrees of longitude at the equator; compare within a window.
    let window = params.duplicate_m / 80_000.0 + 1e-9;
    for (i, &a) in order.iter().enumerate() {
        let sa = &city.schools[a as usize];
        for &b in &order[i + 1..] {
            let sb = &city.schools[b as usize];
            if sb.stage != sa.stage || sb.location.lon - sa.location.lon > window {
                break;
            }
            let d = sa.location.distance_m(&sb.location);
            if f64::from(d) <= params.duplicate_m {
                let (first, second) = if a < b { (sa, sb) } else { (sb, sa) };
                out.push(Warning {
                    kind: WarningKind::DuplicateLocation,
                    diagnostic: pos
                        .school(
                            &second.id,
                            format!(
                                "schools {} {} and {} {} ({}) are at the same point ({:.6}, {:.6}; {d} m apart)",
                                first.id,
                                first.name,
                                second.id,
                                second.name,
                                sa.stage,
                                second.location.lon,
                                second.location.lat
                            ),
                            "one of them probably has copied coordinates; check both rows",
                        )
                        .at_field(None, "lon"),
                });
            }
        }
    }
}

/// Blocks in no zone polygon of a stage, or in two or more.
pub(super) fn zone_polygons(
    scenario: &Scenario,
    city: &City,
    pos: &Positions,
    listed: &[ZoneMembership],
    out: &mut Vec<Warning>,
) {
    let zones_file = scenario
        .inputs
        .zones
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    for m in listed {
        let block = &city.blocks[m.block as usize];
        let (kind, message, hint) = if m.features.is_empty() {
            (
                WarningKind::ZonePolygonNone,
                format!(
                    "block {} {} lies in no {} zone polygon of {zones_file}: it has no {} zone school",
                    block.id, block.name, m.stage, m.stage
                ),
                "extend a zone outline over the block, or leave it without a zone on purpose",
            )
        } else {
            let schools: Vec<String> = m
                .schools
                .iter()
                .zip(&m.features)
                .map(|(s, f)| format!("{} (feature {f})", city.schools[*s as usize].id))
                .collect();
            (
                WarningKind::ZonePolygonMany,
                format!(
                    "block {} {} lies in {} {} zone polygons of {zones_file}: {}; it is zoned to all of them (a multi-school zone)",
                    block.id,
                    block.name,
                    m.features.len(),
                    m.stage,
                    schools.join(", ")
                ),
                "if the outlines overlap by mistake, fix them so that each block is in one",
            )
        };
        out.push(Warning {
            kind,
            diagnostic: pos.block(&block.id, message, hint),
        });
    }
}

#[cfg(test)]
mod oracle_tests;
