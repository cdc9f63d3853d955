//! Writes scenario folders for timing the planning commands (`xuequ site`, `xuequ zone`) on
//! instances of a chosen size, reproducibly from a seed.
//!
//! ```sh
//! cargo run --release --example planning_instances -- siting 5000 500 20260701 /tmp/s5k
//! target/release/xuequ site /tmp/s5k/scenario.toml --stage primary --new-schools 30 --sites /tmp/s5k/sites.csv --out /tmp/s5k-out
//! cargo run --release --example planning_instances -- zoning 50000 2000 10 20260701 /tmp/z50k
//! target/release/xuequ zone /tmp/z50k/scenario.toml --stage primary --out /tmp/z50k-out
//! target/release/xuequ zone /tmp/z50k/scenario.toml --stage primary --distance straight --out /tmp/z50k-straight
//! ```
//!
//! - `siting BLOCKS SITES SEED DIR`: one district of `BLOCKS` blocks in a 30 km square (in
//!   towns), no existing primary school, `SITES` candidate sites of 1,000,000 seats (so no
//!   capacity can bind) and a `planning.toml` letting every block use every site: the
//!   uncapacitated p-median "all pairs" case.
//! - `zoning BLOCKS SCHOOLS K SEED DIR`: one district of `BLOCKS` blocks in towns over a
//!   60 km square, `SCHOOLS` primary schools with seats 5 % above demand (half of each
//!   school's seats follow the demand nearest to it, half are spread at random), current zones
//!   to the nearest school, and
//!   `distances.csv` with the `K` nearest schools of every block (straight metres × a road
//!   factor of 1.15–1.45); `zoning.toml` selects the matrix and households demand.

use std::fmt::Write as _;
use std::path::Path;

/// SplitMix64: small, fast and reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const LON0: f64 = 120.0;
const LAT0: f64 = 31.2;
/// Metres per degree at this latitude (equirectangular: good to well under 1 % over 60 km).
const M_PER_DEG_LAT: f64 = 111_320.0;

fn m_per_deg_lon() -> f64 {
    M_PER_DEG_LAT * LAT0.to_radians().cos()
}

/// Points in `towns` clusters over a `side_m` square, as (x, y) metres.
fn clustered(rng: &mut Rng, count: usize, towns: usize, side_m: f64) -> Vec<(f64, f64)> {
    let centres: Vec<(f64, f64, f64)> = (0..towns.max(1))
        .map(|_| (rng.unit() * side_m, rng.unit() * side_m, 800.0 + rng.unit() * 2500.0))
        .collect();
    (0..count)
        .map(|_| {
            let (cx, cy, r) = centres[rng.below(centres.len() as u64) as usize];
            // Roughly Gaussian: the sum of three uniforms.
            let g = |rng: &mut Rng| (rng.unit() + rng.unit() + rng.unit() - 1.5) * r;
            ((cx + g(rng)).clamp(0.0, side_m), (cy + g(rng)).clamp(0.0, side_m))
        })
        .collect()
}

fn lon_lat((x, y): (f64, f64)) -> (f64, f64) {
    (LON0 + x / m_per_deg_lon(), LAT0 + y / M_PER_DEG_LAT)
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    std::fs::write(dir.join(name), text).map_err(|e| format!("{}: {e}", dir.join(name).display()))
}

fn blocks_csv(rng: &mut Rng, points: &[(f64, f64)]) -> (String, Vec<u32>) {
    let mut s = String::from("block_id,name,district,lon,lat,households\n");
    let mut households = Vec::with_capacity(points.len());
    for (i, &p) in points.iter().enumerate() {
        let (lon, lat) = lon_lat(p);
        let h = 80 + rng.below(700) as u32;
        households.push(h);
        let _ = writeln!(s, "B{i:06},小区{i},新区,{lon:.6},{lat:.6},{h}");
    }
    (s, households)
}

fn siting(blocks: usize, sites: usize, seed: u64, dir: &Path) -> Result<(), String> {
    let mut rng = Rng(seed);
    let side = 30_000.0;
    let points = clustered(&mut rng, blocks, 12, side);
    let (blocks_csv, _) = blocks_csv(&mut rng, &points);
    let site_points = clustered(&mut rng, sites, 12, side);
    let mut s = String::from("site_id,name,district,lon,lat,capacity\n");
    for (k, &p) in site_points.iter().enumerate() {
        let (lon, lat) = lon_lat(p);
        let _ = writeln!(s, "X{k:05},地块{k},新区,{lon:.6},{lat:.6},1000000");
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    write(
        dir,
        "scenario.toml",
        "name = \"siting instance\"\nyear = 2026\nstages = [\"primary\"]\n",
    )?;
    write(
        dir,
        "schools.csv",
        "school_id,name,district,stage,sector,lon,lat,capacity,classes,class_size\n",
    )?;
    write(dir, "blocks.csv", &blocks_csv)?;
    write(dir, "students.csv", "student_id,stage,block_id\n")?;
    write(dir, "sites.csv", &s)?;
    write(
        dir,
        "planning.toml",
        &format!("[siting]\nwithin_district = false\nnearest_schools = 1\nnearest_sites = {sites}\n"),
    )?;
    Ok(())
}

fn zoning(blocks: usize, schools: usize, k: usize, seed: u64, dir: &Path) -> Result<(), String> {
    let mut rng = Rng(seed);
    let side = 60_000.0;
    let towns = (blocks / 800).max(1);
    let points = clustered(&mut rng, blocks, towns, side);
    let (blocks_csv, households) = blocks_csv(&mut rng, &points);
    // Schools among the blocks' towns: at a random block, nudged by up to 300 m.
    let school_points: Vec<(f64, f64)> = (0..schools)
        .map(|_| {
            let (x, y) = points[rng.below(points.len() as u64) as usize];
            (x + (rng.unit() - 0.5) * 600.0, y + (rng.unit() - 0.5) * 600.0)
        })
        .collect();
    // The k nearest schools of each block by a uniform grid over the schools.
    let cell = (side / (schools as f64).sqrt()).max(200.0);
    let cells = (side / cell).ceil() as usize + 1;
    let mut grid: Vec<Vec<u32>> = vec![Vec::new(); cells * cells];
    let at = |v: f64| ((v / cell).floor().max(0.0) as usize).min(cells - 1);
    for (j, &(x, y)) in school_points.iter().enumerate() {
        grid[at(y) * cells + at(x)].push(j as u32);
    }
    let k = k.clamp(1, schools);
    let mut nearest: Vec<Vec<(f64, u32)>> = Vec::with_capacity(blocks);
    for &(x, y) in &points {
        let (cx, cy) = (at(x) as i64, at(y) as i64);
        let mut found: Vec<(f64, u32)> = Vec::new();
        let mut ring = 0i64;
        loop {
            for gy in (cy - ring)..=(cy + ring) {
                for gx in (cx - ring)..=(cx + ring) {
                    let on_ring = (gy - cy).abs() == ring || (gx - cx).abs() == ring;
                    if !on_ring || gx < 0 || gy < 0 || gx >= cells as i64 || gy >= cells as i64 {
                        continue;
                    }
                    for &j in &grid[gy as usize * cells + gx as usize] {
                        let (sx, sy) = school_points[j as usize];
                        found.push((((sx - x).powi(2) + (sy - y).powi(2)).sqrt(), j));
                    }
                }
            }
            // Every school within `ring × cell` has been seen once k are closer than that.
            found.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let covered = ring as f64 * cell;
            if (found.len() >= k && found[k - 1].0 <= covered) || ring as usize > cells {
                break;
            }
            ring += 1;
        }
        found.truncate(k);
        nearest.push(found);
    }
    // Seats: each school's share of the demand nearest to it, perturbed, scaled to 5 % spare,
    // in classes of 45.
    let mut load = vec![0f64; schools];
    for (i, near) in nearest.iter().enumerate() {
        load[near[0].1 as usize] += f64::from(households[i]);
    }
    // Half of each school's seats follow the demand nearest to it, half are spread at random
    // (as in the zoning bench's stress city), so many zones must change.
    let mean_load = load.iter().sum::<f64>() / schools as f64;
    let weights: Vec<f64> = load
        .iter()
        .map(|&l| 0.5 * l + 0.5 * mean_load * (0.6 + 0.8 * rng.unit()))
        .collect();
    let total_households: f64 = households.iter().map(|&h| f64::from(h)).sum();
    // The default primary rate: 0.0378 entrants per household (zoning's HouseholdRates).
    let children = total_households * 0.0378;
    let weight_sum: f64 = weights.iter().sum();
    let mut s = String::from("school_id,name,district,stage,sector,lon,lat,capacity,classes,class_size\n");
    for (j, &p) in school_points.iter().enumerate() {
        let (lon, lat) = lon_lat(p);
        let seats = (children * 1.05 * weights[j] / weight_sum / 45.0).ceil().max(1.0) as u32;
        let _ = writeln!(
            s,
            "P{j:05},小学{j},新区,primary,public,{lon:.6},{lat:.6},{},{seats},45",
            seats * 45
        );
    }
    let mut zones = String::from("block_id,stage,school_id\n");
    let mut dist = String::from("school_id,block_id,distance_m\n");
    for (i, near) in nearest.iter().enumerate() {
        let _ = writeln!(zones, "B{i:06},primary,P{:05}", near[0].1);
        for &(d, j) in near {
            let factor = 1.15 + 0.3 * rng.unit();
            let _ = writeln!(dist, "P{j:05},B{i:06},{:.1}", (d * factor).max(1.0));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    write(
        dir,
        "scenario.toml",
        "name = \"zoning instance\"\nyear = 2026\nstages = [\"primary\"]\n",
    )?;
    write(dir, "schools.csv", &s)?;
    write(dir, "blocks.csv", &blocks_csv)?;
    write(dir, "zones.csv", &zones)?;
    write(dir, "distances.csv", &dist)?;
    write(dir, "students.csv", "student_id,stage,block_id\n")?;
    write(
        dir,
        "zoning.toml",
        "stage = \"primary\"\ndistance = \"matrix\"\n\n[demand]\nsource = \"households\"\n",
    )?;
    Ok(())
}

fn usage() -> String {
    "usage: planning_instances siting BLOCKS SITES SEED DIR\n       planning_instances zoning BLOCKS SCHOOLS K SEED DIR"
        .to_string()
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, what: &str| -> Result<u64, String> {
        let v = args.get(i).ok_or_else(usage)?;
        v.parse::<u64>()
            .map_err(|_| format!("{what} must be a whole number, not {v:?}\n{}", usage()))
    };
    match args.first().map(String::as_str) {
        Some("siting") if args.len() == 5 => siting(
            num(1, "BLOCKS")? as usize,
            num(2, "SITES")? as usize,
            num(3, "SEED")?,
            Path::new(&args[4]),
        ),
        Some("zoning") if args.len() == 6 => zoning(
            num(1, "BLOCKS")? as usize,
            num(2, "SCHOOLS")?.max(1) as usize,
            num(3, "K")? as usize,
            num(4, "SEED")?,
            Path::new(&args[5]),
        ),
        _ => Err(usage()),
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("{e}");
        std::process::exit(2);
    }
}
