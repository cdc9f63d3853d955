//! The SVG map of one stage: blocks as dots coloured by the school most of their applicants
//! got, schools sized by utilisation, overflow flows as arrows, shortfalls in red.
//!
//! Longitude and latitude are projected equirectangularly at the middle latitude of the
//! drawn points (north up), which is accurate to well under a percent across a city.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use rstar::{RTree, primitives::GeomWithData};

use geo::MultiPolygon;

use super::layers::Districts;
use super::stats::{RunView, StageView};
use super::{MAP_BLOCKS, MAP_FLOWS, MAP_SCHOOLS, esc};
use crate::model::Sector;

/// Width of every map's view box.
const WIDTH: f64 = 1000.0;
/// Margin inside the view box.
const PAD: f64 = 24.0;
/// Side of the grid cells that hold the blocks beyond the cap.
const CELL: f64 = 16.0;
/// Kilometres per degree of latitude on the mean sphere.
const KM_PER_DEGREE: f64 = 111.195;

/// Fill colours of schools (and of the blocks they take), chosen so that no colour is red,
/// which marks shortfalls and unplaced applicants.
pub(crate) const PALETTE: [&str; 12] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#2f4b7c", "#8cd17d",
    "#a0cbe8", "#d4a6c8",
];

/// Longitude/latitude to view-box coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Projection {
    lon0: f64,
    lat1: f64,
    kx: f64,
    scale: f64,
    ox: f64,
    /// View-box height.
    pub height: f64,
}

impl Projection {
    /// Fits the points (lon, lat) into a view box [`WIDTH`] wide; the height follows the
    /// shape of the area, between 360 and 1100.
    pub fn fit(points: impl Iterator<Item = (f64, f64)>) -> Projection {
        let (mut lon_min, mut lon_max, mut lat_min, mut lat_max) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (lon, lat) in points {
            if !(lon.is_finite() && lat.is_finite()) {
                continue;
            }
            lon_min = lon_min.min(lon);
            lon_max = lon_max.max(lon);
            lat_min = lat_min.min(lat);
            lat_max = lat_max.max(lat);
        }
        if lon_min > lon_max {
            (lon_min, lon_max, lat_min, lat_max) = (0.0, 0.0, 0.0, 0.0);
        }
        let kx = ((lat_min + lat_max) / 2.0).to_radians().cos().max(0.05);
        let span_x = ((lon_max - lon_min) * kx).max(0.005);
        let span_y = (lat_max - lat_min).max(0.005);
        let inner = WIDTH - 2.0 * PAD;
        let scale = (inner / span_x).min(1100.0 / span_y);
        let height = (span_y * scale + 2.0 * PAD).max(360.0);
        let ox = PAD + (inner - span_x * scale) / 2.0;
        let oy = (height - span_y * scale) / 2.0;
        Projection {
            lon0: lon_min,
            lat1: lat_max + oy / scale,
            kx,
            scale,
            ox,
            height,
        }
    }

    /// View-box coordinates of a point.
    pub fn xy(&self, lon: f64, lat: f64) -> (f64, f64) {
        (
            self.ox + (lon - self.lon0) * self.kx * self.scale,
            (self.lat1 - lat) * self.scale,
        )
    }

    /// Kilometres per view-box unit.
    fn km_per_unit(&self) -> f64 {
        KM_PER_DEGREE / self.scale
    }
}

/// Colours schools so that near neighbours differ: schools in id order take the first
/// palette colour not used by an already coloured one among their eight nearest.
pub(crate) fn colour_schools(points: &[(&str, f64, f64)]) -> HashMap<String, u8> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| points[a].0.cmp(points[b].0).then(a.cmp(&b)));
    let tree = RTree::bulk_load(
        points
            .iter()
            .enumerate()
            .map(|(i, p)| GeomWithData::new([p.1, p.2], i))
            .collect(),
    );
    let mut colour: Vec<Option<u8>> = vec![None; points.len()];
    for &i in &order {
        let mut used = [false; PALETTE.len()];
        let p = points[i];
        for n in tree.nearest_neighbor_iter(&[p.1, p.2]).take(9) {
            if let Some(c) = colour[n.data] {
                used[c as usize] = true;
            }
        }
        let c = used.iter().position(|u| !u).unwrap_or(i % PALETTE.len());
        colour[i] = Some(c as u8);
    }
    points
        .iter()
        .zip(colour)
        .map(|(p, c)| (p.0.to_string(), c.unwrap_or(0)))
        .collect()
}

/// What a map left out, for the caption.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MapNotes {
    pub blocks: usize,
    pub blocks_drawn: usize,
    pub schools: usize,
    pub schools_drawn: usize,
    pub flows: usize,
    pub flows_drawn: usize,
}

fn f1(x: f64) -> String {
    let s = format!("{x:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_string)
}

/// How much one map may draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Caps {
    pub blocks: usize,
    pub schools: usize,
    pub flows: usize,
}

impl Caps {
    /// The caps of a run page.
    pub const FULL: Caps = Caps {
        blocks: MAP_BLOCKS,
        schools: MAP_SCHOOLS,
        flows: MAP_FLOWS,
    };
}

/// What a map draws besides blocks, schools and flows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MapLayers<'a> {
    /// Zone polygons: (school id, zone), drawn under everything in the school's colour.
    pub zones: &'a [(String, MultiPolygon<f64>)],
    /// District outlines.
    pub districts: &'a Districts,
    /// Blocks to highlight (a comparison's blocks whose applicants changed school), with a note.
    pub changed: &'a BTreeMap<u32, String>,
    /// Schools to mark: (lon, lat, new?, tooltip); new schools get a star, closed ones a cross.
    pub marks: &'a [(f64, f64, bool, String)],
}

/// An SVG path of a ring in view-box units (0.1 precision, repeated points dropped).
fn ring_path<'a>(d: &mut String, proj: &Projection, ring: impl Iterator<Item = &'a (f64, f64)>) {
    let mut pts: Vec<(i64, i64)> = Vec::new();
    for &(lon, lat) in ring {
        let (x, y) = proj.xy(lon, lat);
        let p = ((x * 10.0).round() as i64, (y * 10.0).round() as i64);
        if pts.last() != Some(&p) {
            pts.push(p);
        }
    }
    if pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    if pts.len() < 3 {
        return;
    }
    let t = |v: i64| {
        let s = format!("{}.{}", v.div_euclid(10), v.rem_euclid(10));
        s.strip_suffix(".0").map_or(s.clone(), str::to_string)
    };
    for (i, &(x, y)) in pts.iter().enumerate() {
        let _ = write!(d, "{}{},{}", if i == 0 { "M" } else { "L" }, t(x), t(y));
    }
    d.push('Z');
}

/// Rings of a geo polygon as (lon, lat) lists.
fn geo_rings(p: &geo::Polygon<f64>) -> Vec<Vec<(f64, f64)>> {
    std::iter::once(p.exterior())
        .chain(p.interiors())
        .map(|r| r.0.iter().map(|c| (c.x, c.y)).collect())
        .collect()
}

/// Renders the map of one stage of a run.
pub(crate) fn stage_map(
    run: &RunView<'_>,
    view: &StageView,
    proj: &Projection,
    colours: &HashMap<String, u8>,
    id: &str,
    caps: Caps,
    layers: MapLayers<'_>,
) -> (String, MapNotes) {
    let city = &run.data.city;
    let colour_of = |school: u32| -> u8 {
        city.schools
            .get(school as usize)
            .and_then(|s| colours.get(&s.id))
            .copied()
            .unwrap_or(0)
    };
    let mut notes = MapNotes {
        blocks: view.blocks.len(),
        schools: view.schools.len(),
        flows: view.flows.len(),
        ..MapNotes::default()
    };
    let mut svg = String::with_capacity(64 * 1024);
    let h = proj.height;
    let _ = write!(
        svg,
        "<svg class=\"map\" viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}地图\">",
        WIDTH,
        f1(h),
        view.stage.chinese()
    );
    let _ = write!(
        svg,
        "<defs><marker id=\"{id}-ar\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" \
         markerHeight=\"7\" markerUnits=\"userSpaceOnUse\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" \
         class=\"ah\"/></marker></defs><rect class=\"bg\" width=\"{WIDTH}\" height=\"{}\"/>",
        f1(h)
    );

    // Zone polygons (学区), then district outlines on top of them.
    if !layers.zones.is_empty() {
        svg.push_str("<g class=\"zones\">");
        for (school_id, zone) in layers.zones {
            let mut d = String::new();
            for p in &zone.0 {
                for ring in geo_rings(p) {
                    ring_path(&mut d, proj, ring.iter());
                }
            }
            if d.is_empty() {
                continue;
            }
            let c = colours.get(school_id).copied().unwrap_or(0);
            let title = city
                .school(school_id)
                .and_then(|i| run.row(i))
                .map_or_else(|| esc(school_id), school_title);
            let _ = write!(
                svg,
                "<path class=\"k{c}\" d=\"{d}\"><title>学区 · {title}</title></path>"
            );
        }
        svg.push_str("</g>");
    }
    if !layers.districts.outlines.is_empty() {
        svg.push_str("<g class=\"dist\">");
        for (name, polys) in &layers.districts.outlines {
            let mut d = String::new();
            for p in polys {
                for ring in p {
                    ring_path(&mut d, proj, ring.iter());
                }
            }
            if !d.is_empty() {
                let _ = write!(svg, "<path d=\"{d}\"><title>{}</title></path>", esc(name));
            }
        }
        svg.push_str("</g>");
    }

    // Blocks: the largest by applicants as dots, the rest binned to a grid.
    let mut by_size: Vec<usize> = (0..view.blocks.len()).collect();
    by_size.sort_by(|&a, &b| {
        view.blocks[b]
            .applicants
            .cmp(&view.blocks[a].applicants)
            .then(view.blocks[a].block.cmp(&view.blocks[b].block))
    });
    let drawn = &by_size[..by_size.len().min(caps.blocks)];
    notes.blocks_drawn = drawn.len();
    let mut grid: BTreeMap<(i64, i64), (u32, u64, u64)> = BTreeMap::new();
    for &k in &by_size[drawn.len()..] {
        let b = &view.blocks[k];
        let Some(block) = city.blocks.get(b.block as usize) else {
            continue;
        };
        let (x, y) = proj.xy(block.location.lon, block.location.lat);
        let cell = grid
            .entry(((x / CELL).floor() as i64, (y / CELL).floor() as i64))
            .or_default();
        cell.0 += 1;
        cell.1 += u64::from(b.applicants);
        cell.2 += u64::from(b.unplaced);
    }
    if !grid.is_empty() {
        let max = grid.values().map(|c| c.1).max().unwrap_or(1).max(1) as f64;
        svg.push_str("<g class=\"grid\">");
        for (&(cx, cy), &(n, a, u)) in &grid {
            let _ = write!(
                svg,
                "<rect class=\"g{}\" x=\"{}\" y=\"{}\" width=\"{CELL}\" height=\"{CELL}\" fill-opacity=\"{:.2}\">\
                 <title>{n} 个小区（未单独绘制）· 申请 {a} 人{}</title></rect>",
                if u > 0 { " u" } else { "" },
                f1(cx as f64 * CELL),
                f1(cy as f64 * CELL),
                0.08 + 0.4 * (a as f64 / max).sqrt(),
                if u > 0 {
                    format!(" · 未录取 {u} 人")
                } else {
                    String::new()
                },
            );
        }
        svg.push_str("</g>");
    }
    let max_applicants = drawn.first().map_or(1, |&k| view.blocks[k].applicants).max(1) as f64;
    // Symbols shrink as maps get denser, so a city's core stays legible.
    let block_scale = (400.0 / drawn.len().max(1) as f64).sqrt().clamp(0.45, 1.0);
    let school_scale = (80.0 / view.schools.len().clamp(1, caps.schools.max(1)) as f64)
        .sqrt()
        .clamp(0.4, 1.0);
    svg.push_str("<g class=\"blocks\">");
    for &k in drawn {
        let b = &view.blocks[k];
        let Some(block) = city.blocks.get(b.block as usize) else {
            continue;
        };
        let (x, y) = proj.xy(block.location.lon, block.location.lat);
        let r = block_scale * (2.0 + 5.0 * (f64::from(b.applicants) / max_applicants).sqrt());
        let class = match b.school {
            Some(s) => format!("k{}", colour_of(s)),
            None => "bx".to_string(),
        };
        let unplaced = if b.unplaced > 0 { " u" } else { "" };
        let district = city.districts.get(block.district as usize).map_or("", String::as_str);
        let _ = write!(
            svg,
            "<circle class=\"{class}{unplaced}\" cx=\"{}\" cy=\"{}\" r=\"{}\"><title>{}（{}）· {}\n申请 {} 人",
            f1(x),
            f1(y),
            f1(r),
            esc(&block.name),
            esc(&block.id),
            esc(district),
            b.applicants
        );
        if b.unplaced > 0 {
            let _ = write!(svg, "，未录取 {} 人", b.unplaced);
        }
        if let Some(school) = b.school.and_then(|s| city.schools.get(s as usize)) {
            let _ = write!(svg, "\n主要录取：{}（{} 人）", esc(&school.name), b.school_count);
        }
        svg.push_str("</title></circle>");
    }
    svg.push_str("</g>");
    if !layers.changed.is_empty() {
        svg.push_str("<g class=\"chg\">");
        for (&b, note) in layers.changed {
            let Some(block) = city.blocks.get(b as usize) else {
                continue;
            };
            let (x, y) = proj.xy(block.location.lon, block.location.lat);
            let _ = write!(
                svg,
                "<circle cx=\"{}\" cy=\"{}\" r=\"{}\"><title>{}（{}）\n{}</title></circle>",
                f1(x),
                f1(y),
                f1(block_scale * 7.0),
                esc(&block.name),
                esc(&block.id),
                esc(note)
            );
        }
        svg.push_str("</g>");
    }

    // School radius by utilisation.
    let radius = |row: &super::stats::SchoolRow| school_scale * (4.0 + 7.0 * row.utilisation().min(1.0).sqrt());

    // Overflow flows, the largest first.
    let mut flows: Vec<usize> = (0..view.flows.len()).collect();
    flows.sort_by(|&a, &b| {
        let (fa, fb) = (&view.flows[a], &view.flows[b]);
        fb.count
            .cmp(&fa.count)
            .then((fa.block, fa.school).cmp(&(fb.block, fb.school)))
    });
    flows.truncate(caps.flows);
    notes.flows_drawn = flows.len();
    if !flows.is_empty() {
        let max = f64::from(view.flows[flows[0]].count.max(1));
        let _ = write!(svg, "<g class=\"flows\" marker-end=\"url(#{id}-ar)\">");
        // Thin ones first, so the thick ones stay on top.
        for &k in flows.iter().rev() {
            let f = &view.flows[k];
            let (Some(block), Some(school)) = (city.blocks.get(f.block as usize), city.schools.get(f.school as usize))
            else {
                continue;
            };
            let (x1, y1) = proj.xy(block.location.lon, block.location.lat);
            let (x2, y2) = proj.xy(school.location.lon, school.location.lat);
            let r = run.row(f.school).map_or(3.0, radius) + 1.0;
            let len = ((x2 - x1).powi(2) + (y2 - y1).powi(2)).sqrt();
            if len <= r + 2.0 {
                continue;
            }
            let (ex, ey) = (x2 - (x2 - x1) / len * r, y2 - (y2 - y1) / len * r);
            let _ = write!(
                svg,
                "<line class=\"fl\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke-width=\"{}\"><title>{} → {}：统筹 {} 人</title></line>",
                f1(x1),
                f1(y1),
                f1(ex),
                f1(ey),
                f1(0.8 + 4.7 * (f64::from(f.count) / max).sqrt()),
                esc(&block.name),
                esc(&school.name),
                f.count
            );
        }
        svg.push_str("</g>");
    }

    // Schools: shortfalls, then full ones, then the largest, up to the cap; drawn in
    // reverse so the important ones are on top.
    let mut schools: Vec<usize> = view.schools.clone();
    schools.sort_by(|&a, &b| {
        let (ra, rb) = (&run.schools[a], &run.schools[b]);
        rb.is_short()
            .cmp(&ra.is_short())
            .then(rb.is_full().cmp(&ra.is_full()))
            .then(rb.capacity.cmp(&ra.capacity))
            .then(a.cmp(&b))
    });
    schools.truncate(caps.schools);
    notes.schools_drawn = schools.len();
    svg.push_str("<g class=\"schools\">");
    for &k in schools.iter().rev() {
        let row = &run.schools[k];
        let Some(school) = city.schools.get(row.school as usize) else {
            continue;
        };
        let (x, y) = proj.xy(school.location.lon, school.location.lat);
        let r = radius(row);
        let class = format!("s k{}{}", colour_of(row.school), if row.is_full() { " f" } else { "" });
        let title = school_title(row);
        if row.is_short() {
            let _ = write!(
                svg,
                "<circle class=\"r\" cx=\"{}\" cy=\"{}\" r=\"{}\"/>",
                f1(x),
                f1(y),
                f1(r + 1.0 + 2.0 * school_scale)
            );
        }
        match row.sector {
            Sector::Public => {
                let _ = write!(
                    svg,
                    "<circle class=\"{class}\" cx=\"{}\" cy=\"{}\" r=\"{}\"><title>{title}</title></circle>",
                    f1(x),
                    f1(y),
                    f1(r)
                );
            }
            Sector::Private => {
                let _ = write!(
                    svg,
                    "<rect class=\"{class}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"><title>{title}</title></rect>",
                    f1(x - r),
                    f1(y - r),
                    f1(2.0 * r),
                    f1(2.0 * r)
                );
            }
        }
    }
    svg.push_str("</g>");

    // New schools (stars) and closed schools (crosses) of a comparison.
    if !layers.marks.is_empty() {
        svg.push_str("<g class=\"mk\">");
        for (lon, lat, new, title) in layers.marks {
            let (x, y) = proj.xy(*lon, *lat);
            let r = 11.0 * school_scale.max(0.7);
            let d = if *new {
                (0..10)
                    .map(|i| {
                        let a = std::f64::consts::PI * (i as f64 / 5.0 - 0.5);
                        let rr = if i % 2 == 0 { r } else { r * 0.45 };
                        format!(
                            "{}{},{}",
                            if i == 0 { "M" } else { "L" },
                            f1(x + rr * a.cos()),
                            f1(y + rr * a.sin())
                        )
                    })
                    .collect::<String>()
                    + "Z"
            } else {
                let k = r * 0.7;
                format!(
                    "M{},{}L{},{}M{},{}L{},{}",
                    f1(x - k),
                    f1(y - k),
                    f1(x + k),
                    f1(y + k),
                    f1(x - k),
                    f1(y + k),
                    f1(x + k),
                    f1(y - k)
                )
            };
            let _ = write!(
                svg,
                "<path class=\"{}\" d=\"{d}\"><title>{}</title></path>",
                if *new { "new" } else { "closed" },
                esc(title)
            );
        }
        svg.push_str("</g>");
    }

    // District names at the centre of their drawn blocks, when there are few districts.
    let mut centres: BTreeMap<u32, (f64, f64, u32)> = BTreeMap::new();
    for &k in drawn {
        if let Some(block) = city.blocks.get(view.blocks[k].block as usize) {
            let (x, y) = proj.xy(block.location.lon, block.location.lat);
            let c = centres.entry(block.district).or_default();
            c.0 += x;
            c.1 += y;
            c.2 += 1;
        }
    }
    if centres.len() <= 40 {
        svg.push_str("<g class=\"dl\">");
        for (d, (x, y, n)) in centres {
            if let Some(name) = city.districts.get(d as usize) {
                let n = f64::from(n.max(1));
                let _ = write!(
                    svg,
                    "<text x=\"{}\" y=\"{}\">{}</text>",
                    f1(x / n),
                    f1(y / n),
                    esc(name)
                );
            }
        }
        svg.push_str("</g>");
    }

    // Scale bar, bottom left.
    let km_per_unit = proj.km_per_unit();
    let target = WIDTH / 6.0 * km_per_unit;
    let km = [0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
        .into_iter()
        .rfind(|&k| k <= target)
        .unwrap_or(0.2);
    let len = km / km_per_unit;
    let (x0, y0) = (PAD, h - 12.0);
    let _ = write!(
        svg,
        "<g class=\"sb\"><path d=\"M{},{}v-5h{}v5\"/><text x=\"{}\" y=\"{}\">{} km</text></g>",
        f1(x0),
        f1(y0),
        f1(len),
        f1(x0 + len + 6.0),
        f1(y0),
        f1(km)
    );
    svg.push_str("</svg>");
    (svg, notes)
}

/// The tooltip of a school.
pub(crate) fn school_title(row: &super::stats::SchoolRow) -> String {
    let mut t = format!(
        "{}（{}）· {} · {}\n学位 {}，录取 {}，空余 {}，利用率 {:.0}%\n第一志愿 {} 人",
        esc(&row.name),
        esc(&row.id),
        esc(&row.district),
        if row.sector == Sector::Public {
            "公办"
        } else {
            "民办"
        },
        row.capacity,
        row.assigned,
        row.vacancies,
        row.utilisation() * 100.0,
        row.first_choice
    );
    if row.is_short() {
        t.push_str("（超过学位：学位紧张）");
    }
    if !row.cutoff_tier.is_empty() {
        let _ = write!(t, "\n录取线：{}", esc(&row.cutoff_text()));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_keeps_points_inside_the_box() {
        let pts = [(120.0, 31.0), (120.5, 31.8), (120.2, 31.3)];
        let p = Projection::fit(pts.iter().copied());
        for (lon, lat) in pts {
            let (x, y) = p.xy(lon, lat);
            assert!((0.0..=WIDTH).contains(&x) && (0.0..=p.height).contains(&y), "{x},{y}");
        }
        // North is up, east is right.
        assert!(p.xy(120.0, 31.8).1 < p.xy(120.0, 31.0).1);
        assert!(p.xy(120.5, 31.0).0 > p.xy(120.0, 31.0).0);
    }

    #[test]
    fn projection_of_nothing_or_one_point_is_finite() {
        let p = Projection::fit(std::iter::empty());
        assert!(p.height.is_finite() && p.xy(0.0, 0.0).0.is_finite());
        let p = Projection::fit([(120.0, 31.0), (f64::NAN, 1.0)].into_iter());
        let (x, y) = p.xy(120.0, 31.0);
        assert!(x.is_finite() && y.is_finite());
    }

    #[test]
    fn neighbours_get_different_colours() {
        let pts: Vec<(String, f64, f64)> = (0..30)
            .map(|i| (format!("S{i:02}"), f64::from(i % 6), f64::from(i / 6)))
            .collect();
        let refs: Vec<(&str, f64, f64)> = pts.iter().map(|p| (p.0.as_str(), p.1, p.2)).collect();
        let c = colour_schools(&refs);
        assert_eq!(c.len(), 30);
        // Grid neighbours (distance 1) never share a colour.
        for a in &pts {
            for b in &pts {
                if a.0 != b.0 && ((a.1 - b.1).abs() + (a.2 - b.2).abs() - 1.0).abs() < 1e-9 {
                    assert_ne!(c[&a.0], c[&b.0], "{} {}", a.0, b.0);
                }
            }
        }
        assert_eq!(c, colour_schools(&refs));
    }
}
