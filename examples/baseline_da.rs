//! The obvious baseline: single-threaded student-proposing deferred acceptance over the same
//! CSV files `xuequ run` reads, written the plain way (read each file line by line, split on
//! commas, one heap per seat pool), to measure xuequ against on identical instances.
//!
//! It implements exactly the rules of the synthetic choice markets (`xuequ synth --preset
//! choice5|choice10`): `candidates = "choices"`, `guarantee = "none"`, the single lottery,
//! and the synthetic `policy.toml`'s tiers, seat-lock years and migrant points, which are
//! written into the code; the seed and the year are read from the files. Its assignments
//! equal xuequ's (`tests/suite/baseline.rs`), so timing both compares identical work:
//!
//! ```sh
//! cargo run --release --example baseline_da -- /tmp/c1m /tmp/c1m-baseline.csv
//! ```

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::Path;

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// Tier names of the synthetic policy's primary and kindergarten stages, best first; a
/// private school's own seats are filled by lottery alone.
const TIERS: [&str; 6] = ["房户一致", "有房无户", "户籍租房", "随迁子女", "学区内其他", "其他"];
const PRIVATE_TIER: &str = "民办摇号";

/// One seat pool: a public school, a private school's lottery seats, or purchased seats.
struct Pool {
    school: usize,
    private_lottery: bool,
    capacity: usize,
}

/// A priority key at one pool: (tier, migrant-points rank, lottery number); smaller is better.
type Key = (u32, u32, u32);

/// (student id, school id or "", tier name or "") per applicant, in `students.csv` order.
pub type Assignment = (String, String, String);

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A CSV file split into fields (no quoting: the synthetic files need none).
struct Table<'a> {
    header: Vec<&'a str>,
    rows: Vec<Vec<&'a str>>,
}

impl<'a> Table<'a> {
    fn new(text: &'a str) -> Self {
        let mut lines = text.lines();
        let header = lines.next().unwrap_or("").split(',').collect();
        let rows = lines
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').collect())
            .collect();
        Table { header, rows }
    }

    /// The position of a column, looked up once per file.
    fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }
}

/// The number after `key =` on a line of a TOML file.
fn toml_number(text: &str, key: &str) -> i64 {
    text.lines()
        .filter_map(|l| l.split('#').next()?.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} ="))
}

fn number(field: &str) -> f64 {
    if field.is_empty() {
        f64::NAN
    } else {
        field.parse().unwrap_or(f64::NAN)
    }
}

/// Runs the allocation of a synthetic choice-market folder.
pub fn run(dir: &Path) -> Vec<Assignment> {
    let seed = toml_number(&read(dir, "policy.toml"), "seed") as u64;
    let year = toml_number(&read(dir, "scenario.toml"), "year");
    let schools_text = read(dir, "schools.csv");
    let schools = Table::new(&schools_text);
    let (sc_id, sc_stage, sc_sector) = (schools.col("school_id"), schools.col("stage"), schools.col("sector"));
    let (sc_capacity, sc_bought, sc_opens) = (
        schools.col("capacity"),
        schools.col("purchased_seats"),
        schools.col("opens_year"),
    );
    let zones_text = read(dir, "zones.csv");
    let zones = Table::new(&zones_text);
    let (z_block, z_stage, z_school) = (zones.col("block_id"), zones.col("stage"), zones.col("school_id"));
    let zoned: HashSet<(&str, &str, &str)> = zones
        .rows
        .iter()
        .map(|r| (r[z_block], r[z_stage], r[z_school]))
        .collect();
    let locks_text = read(dir, "seat_locks.csv");
    let locks = Table::new(&locks_text);
    let (l_property, l_stage, l_year) = (locks.col("property_id"), locks.col("stage"), locks.col("year"));
    let lock_years = |stage: &str| match stage {
        "primary" => 6,
        "junior" => 3,
        _ => 0,
    };
    let locked: HashSet<(&str, &str)> = locks
        .rows
        .iter()
        .filter(|r| {
            let y: i64 = r[l_year].parse().unwrap_or(i64::MIN);
            year - y < lock_years(r[l_stage]) && y <= year
        })
        .map(|r| (r[l_property], r[l_stage]))
        .collect();
    let students_text = read(dir, "students.csv");
    let students = Table::new(&students_text);
    let c = |name| students.col(name);
    let (s_id, s_stage, s_block, s_hukou, s_owns) = (
        c("student_id"),
        c("stage"),
        c("block_id"),
        c("hukou_in_zone"),
        c("owns_home"),
    );
    let (s_property, s_migrant, s_permit, s_insurance, s_choices) = (
        c("property_id"),
        c("migrant"),
        c("residence_permit_months"),
        c("social_insurance_months"),
        c("choices"),
    );
    let mut out: Vec<Assignment> = students
        .rows
        .iter()
        .map(|s| (s[s_id].to_string(), String::new(), String::new()))
        .collect();

    for stage in ["kindergarten", "primary", "junior"] {
        let members: Vec<usize> = (0..students.rows.len())
            .filter(|&i| students.rows[i][s_stage] == stage)
            .collect();
        if members.is_empty() {
            continue;
        }
        // The junior stage's feeder tier shifts the tiers; the choice markets have none.
        assert!(
            stage != "junior",
            "the baseline implements the kindergarten and primary tiers only"
        );
        // Seat pools of the stage's open schools: (lottery or public pool, purchased pool).
        let mut pools: Vec<Pool> = Vec::new();
        let mut pools_of: HashMap<&str, (usize, Option<usize>)> = HashMap::new();
        for (i, s) in schools.rows.iter().enumerate() {
            let opens: i64 = s[sc_opens].parse().unwrap_or(i64::MIN);
            if s[sc_stage] != stage || opens > year {
                continue;
            }
            let capacity: usize = s[sc_capacity].parse().expect("capacity");
            let purchased: usize = s[sc_bought].parse().unwrap_or(0);
            let private = s[sc_sector] == "private";
            let main = pools.len();
            pools.push(Pool {
                school: i,
                private_lottery: private,
                capacity: capacity - purchased,
            });
            let bought = (private && purchased > 0).then(|| {
                pools.push(Pool {
                    school: i,
                    private_lottery: false,
                    capacity: purchased,
                });
                main + 1
            });
            pools_of.insert(s[sc_id], (main, bought));
        }

        // Single lottery: ids sorted bytewise draw in order; number = rank by (draw, position).
        let row = |m: usize| &students.rows[members[m]];
        let mut by_id: Vec<usize> = (0..members.len()).collect();
        by_id.sort_by(|&a, &b| row(a)[s_id].cmp(row(b)[s_id]));
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        let mut rng = ChaCha20Rng::from_seed(key);
        rng.set_stream(if stage == "kindergarten" { 1 } else { 2 });
        let mut draws: Vec<(u64, usize)> = (0..members.len()).map(|pos| (rng.next_u64(), pos)).collect();
        draws.sort();
        let mut lottery = vec![0u32; members.len()];
        for (r, &(_, pos)) in draws.iter().enumerate() {
            lottery[by_id[pos]] = r as u32 + 1;
        }

        // Migrant points (5 per month of social insurance, 2.5 per month of residence
        // permit), dense-ranked best first, applicants without either value last.
        let points: Vec<f64> = (0..members.len())
            .map(|m| {
                let (si, rp) = (number(row(m)[s_insurance]), number(row(m)[s_permit]));
                if si.is_nan() && rp.is_nan() {
                    return f64::NAN;
                }
                5.0 * if si.is_nan() { 0.0 } else { si } + 2.5 * if rp.is_nan() { 0.0 } else { rp }
            })
            .collect();
        let mut distinct: Vec<f64> = points.iter().copied().filter(|p| !p.is_nan()).collect();
        distinct.sort_by(|a, b| b.total_cmp(a));
        distinct.dedup();
        let points_rank: Vec<u32> = points
            .iter()
            .map(|&p| if p.is_nan() { distinct.len() } else { distinct.partition_point(|&d| d > p) } as u32)
            .collect();

        // Candidate lists with each entry's priority key (tier, points rank, lottery).
        let mut lists: Vec<Vec<(usize, Key)>> = Vec::with_capacity(members.len());
        for m in 0..members.len() {
            let s = row(m);
            let locked = locked.contains(&(s[s_property], stage));
            let eligible = s[s_migrant] == "true" && number(s[s_permit]) >= 12.0;
            let (hukou, owns) = (s[s_hukou] == "true", s[s_owns] == "true");
            let mut list = Vec::new();
            for choice in s[s_choices].split(';').filter(|c| !c.is_empty()) {
                let Some(&(main, bought)) = pools_of.get(choice) else {
                    continue;
                };
                let zone = zoned.contains(&(s[s_block], stage, choice));
                for pool in std::iter::once(main).chain(bought) {
                    if list.iter().any(|&(p, _)| p == pool) {
                        continue;
                    }
                    let tier = if pools[pool].private_lottery || (zone && hukou && owns && !locked) {
                        0
                    } else if zone && owns && !locked {
                        1
                    } else if zone && hukou {
                        2
                    } else if zone && eligible {
                        3
                    } else if zone {
                        4
                    } else {
                        5
                    };
                    let rank = if tier == 3 && !pools[pool].private_lottery {
                        points_rank[m]
                    } else {
                        0
                    };
                    list.push((pool, (tier, rank, lottery[m])));
                }
            }
            lists.push(list);
        }

        // Deferred acceptance: each pool holds its best applicants in a max-heap by key.
        let mut held: Vec<BinaryHeap<(Key, usize)>> = pools.iter().map(|_| BinaryHeap::new()).collect();
        let mut next = vec![0usize; members.len()];
        let mut free: Vec<usize> = (0..members.len()).rev().collect();
        while let Some(m) = free.pop() {
            let Some(&(pool, key)) = lists[m].get(next[m]) else {
                continue;
            };
            next[m] += 1;
            let heap = &mut held[pool];
            if heap.len() < pools[pool].capacity {
                heap.push((key, m));
            } else if heap.peek().is_some_and(|&(worst, _)| key < worst) {
                let (_, rejected) = heap.pop().expect("a full pool holds someone");
                heap.push((key, m));
                free.push(rejected);
            } else {
                free.push(m);
            }
        }
        for (pool, heap) in held.iter().enumerate() {
            for &((tier, _, _), m) in heap {
                let a = &mut out[members[m]];
                a.1 = schools.rows[pools[pool].school][sc_id].to_string();
                a.2 = if pools[pool].private_lottery {
                    PRIVATE_TIER
                } else {
                    TIERS[tier as usize]
                }
                .to_string();
            }
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(file)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: baseline_da SYNTH_DIR OUT.csv");
        std::process::exit(2);
    };
    let mut text = String::from("student_id,school_id,tier\n");
    for (id, school, tier) in run(Path::new(dir)) {
        text.push_str(&format!("{id},{school},{tier}\n"));
    }
    std::fs::write(file, text).expect("write the assignments");
}
