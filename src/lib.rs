//! Fixtures shared by the end-to-end tests and the benchmarks: small random cities written
//! as real input files, so that every test goes through the same loader a user does.

use std::fmt::Write as _;
use std::path::Path;

/// A tiny, dependency-free PRNG (SplitMix64) for fixtures; not used by the engine.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
}

/// Shape of a random city.
#[derive(Debug, Clone)]
pub struct RandomCity {
    /// Seed of the fixture generator.
    pub seed: u64,
    /// Districts.
    pub districts: usize,
    /// Blocks.
    pub blocks: usize,
    /// Public primary schools.
    pub primary: usize,
    /// Public junior schools.
    pub junior: usize,
    /// Private schools per stage.
    pub private: usize,
    /// Applicants.
    pub students: usize,
    /// Lines of `policy.toml` placed before the tiers (mechanism, tie_break, ...).
    pub policy_head: String,
}

impl RandomCity {
    /// A small city for oracle and property tests.
    pub fn small(seed: u64) -> Self {
        let mut r = SplitMix(seed);
        RandomCity {
            seed,
            districts: 1 + r.below(2) as usize,
            blocks: 3 + r.below(10) as usize,
            primary: 1 + r.below(4) as usize,
            junior: 1 + r.below(3) as usize,
            private: r.below(2) as usize,
            students: 5 + r.below(40) as usize,
            policy_head: String::new(),
        }
    }

    /// Writes the city's input files and `scenario.toml` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let mut r = SplitMix(self.seed ^ 0x5eed);
        let district = |i: usize| format!("区{}", i % self.districts);
        let mut schools =
            String::from("school_id,name,district,stage,sector,lon,lat,capacity,feeder_junior_id,purchased_seats\n");
        let coords = |r: &mut SplitMix| (120.2 + r.uniform(0.0, 0.08), 31.5 + r.uniform(0.0, 0.08));
        let mut primary_ids = Vec::new();
        let mut junior_ids = Vec::new();
        for j in 0..self.junior {
            let (lon, lat) = coords(&mut r);
            let id = format!("J{j}");
            let cap = r.below(12);
            writeln!(
                schools,
                "{id},初中{j},{},junior,public,{lon:.5},{lat:.5},{cap},,",
                district(j)
            )
            .ok();
            junior_ids.push((id, j % self.districts));
        }
        for p in 0..self.primary {
            let (lon, lat) = coords(&mut r);
            let id = format!("P{p}");
            let cap = r.below(12);
            let feeder = junior_ids
                .iter()
                .filter(|(_, d)| *d == p % self.districts)
                .map(|(id, _)| id.clone())
                .next()
                .unwrap_or_default();
            writeln!(
                schools,
                "{id},小学{p},{},primary,public,{lon:.5},{lat:.5},{cap},{feeder},",
                district(p)
            )
            .ok();
            primary_ids.push((id, p % self.districts));
        }
        let mut private_ids = Vec::new();
        for (stage, prefix) in [("primary", "MP"), ("junior", "MJ")] {
            for k in 0..self.private {
                let (lon, lat) = coords(&mut r);
                let id = format!("{prefix}{k}");
                let cap = 1 + r.below(6);
                let purchased = if r.chance(0.5) { r.below(cap + 1) } else { 0 };
                writeln!(
                    schools,
                    "{id},民办{k},{},{stage},private,{lon:.5},{lat:.5},{cap},,{purchased}",
                    district(k)
                )
                .ok();
                private_ids.push((id, stage));
            }
        }
        let mut blocks = String::from("block_id,name,district,lon,lat,households\n");
        let mut zones = String::from("block_id,stage,school_id\n");
        let mut block_district = Vec::new();
        for b in 0..self.blocks {
            let (lon, lat) = coords(&mut r);
            let d = b % self.districts;
            writeln!(
                blocks,
                "B{b},小区{b},{},{lon:.5},{lat:.5},{}",
                district(d),
                100 + r.below(900)
            )
            .ok();
            block_district.push(d);
            for (stage, ids) in [("primary", &primary_ids), ("junior", &junior_ids)] {
                let local: Vec<&String> = ids.iter().filter(|(_, dd)| *dd == d).map(|(id, _)| id).collect();
                if local.is_empty() || r.chance(0.1) {
                    continue;
                }
                let n = if r.chance(0.2) { 2 } else { 1 };
                for k in 0..n.min(local.len()) {
                    let pick = local[(r.below(local.len() as u64) as usize + k) % local.len()];
                    writeln!(zones, "B{b},{stage},{pick}").ok();
                }
            }
        }
        let mut students = String::from(
            "student_id,stage,block_id,hukou_in_zone,owns_home,years_at_address,property_id,migrant,residence_permit_months,social_insurance_months,primary_school_id,choices\n",
        );
        let mut locks = String::from("property_id,stage,year\n");
        for s in 0..self.students {
            let junior = r.chance(0.4);
            let stage = if junior { "junior" } else { "primary" };
            let b = r.below(self.blocks as u64) as usize;
            let migrant = r.chance(0.3);
            let owns = !migrant && r.chance(0.6);
            let hukou = !migrant && r.chance(0.7);
            let property = if owns {
                format!("H{b}-{}", r.below(4))
            } else {
                String::new()
            };
            if owns && r.chance(0.2) {
                writeln!(locks, "{property},{stage},{}", 2018 + r.below(8)).ok();
            }
            let (permit, insurance) = if migrant { (r.below(30), r.below(30)) } else { (0, 0) };
            let primary_school = if junior && !primary_ids.is_empty() && r.chance(0.8) {
                primary_ids[r.below(primary_ids.len() as u64) as usize].0.clone()
            } else {
                String::new()
            };
            let mut choices = Vec::new();
            if r.chance(0.3) {
                let same: Vec<&String> = private_ids
                    .iter()
                    .filter(|(_, st)| *st == stage)
                    .map(|(id, _)| id)
                    .collect();
                if !same.is_empty() {
                    choices.push(same[r.below(same.len() as u64) as usize].clone());
                }
            }
            if r.chance(0.3) {
                let ids = if junior { &junior_ids } else { &primary_ids };
                if !ids.is_empty() {
                    let pick = ids[r.below(ids.len() as u64) as usize].0.clone();
                    if !choices.contains(&pick) {
                        choices.push(pick);
                    }
                }
            }
            writeln!(
                students,
                "S{s:03},{stage},B{b},{hukou},{owns},{},{property},{migrant},{permit},{insurance},{primary_school},{}",
                r.below(10),
                choices.join(";")
            )
            .ok();
        }
        let policy = format!(
            "seed = {}\noverflow_radius_m = {}\n{}\n",
            r.below(1000),
            2000 + r.below(8000),
            self.policy_head
        );
        std::fs::write(dir.join("schools.csv"), schools)?;
        std::fs::write(dir.join("blocks.csv"), blocks)?;
        std::fs::write(dir.join("zones.csv"), zones)?;
        std::fs::write(dir.join("students.csv"), students)?;
        std::fs::write(dir.join("seat_locks.csv"), locks)?;
        std::fs::write(dir.join("policy.toml"), policy)?;
        std::fs::write(
            dir.join("scenario.toml"),
            "name = \"random\"\nyear = 2026\nstages = [\"primary\", \"junior\"]\n",
        )?;
        Ok(())
    }
}
