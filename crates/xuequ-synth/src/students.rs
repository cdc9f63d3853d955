//! Applicants, generated block by block and written straight into row buffers (never held
//! as a whole cohort), with the seat locks of their homes.

use crate::layout::{Block, City};
use crate::rng::Rand;
use crate::writer::{push_bool, push_id, push_padded, push_u64};
use crate::{Stage, StageCounts};

/// Width of student numbers (`S00000001`).
pub(crate) const STUDENT_WIDTH: usize = 8;
/// Width of block numbers (`B000123`, also in property ids `H000123-0402`).
pub(crate) const BLOCK_WIDTH: usize = 6;
/// Width of school numbers (`P0001`).
pub(crate) const SCHOOL_WIDTH: usize = 4;

/// Counters the generator reports in its summary.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    /// Applicants per stage.
    pub applicants: StageCounts,
    /// Migrant applicants.
    pub migrants: u64,
    /// seat_locks.csv rows.
    pub seat_locks: u64,
}

/// Generates applicants for one copy of the city.
pub(crate) struct StudentGen<'a> {
    /// The copy.
    pub city: &'a City,
    /// Admission year.
    pub year: i32,
    /// Stages present.
    pub stages: Vec<Stage>,
    /// Share of owner applicants whose home has a seat-lock record.
    pub seat_lock_share: f64,
    /// Choice market: schools each applicant ranks.
    pub choice_k: Option<u32>,
    /// Last student number used (global across copies).
    pub next_student: u64,
    /// Counters.
    pub tally: Tally,
    /// Scratch: the current applicant's choices.
    choices: Vec<u32>,
    /// Scratch: weights for sampling without replacement.
    scratch: Vec<f64>,
}

/// Writes a school id (`P0001`) for school index `i` of the city.
fn push_school(buf: &mut Vec<u8>, city: &City, i: u32) {
    let s = &city.schools[i as usize];
    push_id(buf, s.stage.prefix(), s.id, SCHOOL_WIDTH);
}

/// Draws a permutation prefix of `items` ∝ `weight` (Plackett–Luce), into `out`.
fn ranked(
    rng: &mut Rand,
    items: &[u32],
    weight: impl Fn(u32) -> f64,
    keep: usize,
    out: &mut Vec<u32>,
    scratch: &mut Vec<f64>,
) {
    scratch.clear();
    scratch.extend(items.iter().map(|&i| weight(i)));
    for _ in 0..keep.min(items.len()) {
        let total: f64 = scratch.iter().sum();
        if total <= 0.0 {
            break;
        }
        let mut x = rng.f64() * total;
        let mut pick = scratch.iter().rposition(|&w| w > 0.0).unwrap_or(0);
        for (j, &w) in scratch.iter().enumerate() {
            if w > 0.0 && x < w {
                pick = j;
                break;
            }
            x -= w;
        }
        scratch[pick] = 0.0;
        if !out.contains(&items[pick]) {
            out.push(items[pick]);
        }
    }
}

impl<'a> StudentGen<'a> {
    /// A generator for `city`, numbering students after `next_student`.
    pub(crate) fn new(
        city: &'a City,
        year: i32,
        stages: Vec<Stage>,
        seat_lock_share: f64,
        choice_k: Option<u32>,
        next_student: u64,
    ) -> Self {
        StudentGen {
            city,
            year,
            stages,
            seat_lock_share,
            choice_k,
            next_student,
            tally: Tally::default(),
            choices: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Appends the rows of block `bi`'s applicants to `out` and their seat locks to `locks`.
    pub(crate) fn block(&mut self, bi: usize, rng: &mut Rand, out: &mut Vec<u8>, locks: &mut Vec<u8>) {
        let city = self.city;
        let b: &Block = &city.blocks[bi];
        let h = u64::from(b.households);
        // Owners' homes: distinct flats, visited in a random coprime stride.
        let start = if h > 0 { rng.below(h) } else { 0 };
        let mut stride = if h > 1 { 1 + rng.below(h - 1) } else { 1 };
        while h > 1 && gcd(stride, h) != 1 {
            stride = stride % (h - 1) + 1;
        }
        let mut owners = 0u64;
        let max_years = match b.move_in_year {
            Some(y) => u64::try_from(self.year - y).unwrap_or(0).min(12),
            None => 12,
        };
        let d = &city.districts[b.district];
        for si in 0..self.stages.len() {
            let stage = self.stages[si];
            let s = stage.index();
            for _ in 0..b.demand[s] {
                self.next_student += 1;
                let migrant = rng.chance(b.migrant_share);
                let (hukou, mut owns, years, months) = if migrant {
                    let owns = rng.chance(0.15);
                    let years = if owns {
                        rng.int(0, 6)
                    } else {
                        rng.int(0, 5).min(rng.int(0, 5))
                    };
                    let permit = if rng.chance(0.75) {
                        rng.int(12, 96)
                    } else {
                        rng.int(0, 11)
                    };
                    let insurance = if rng.chance(0.78) {
                        rng.int(12, 120)
                    } else {
                        rng.int(0, 11)
                    };
                    (false, owns, years, Some((permit, insurance)))
                } else {
                    let u = rng.f64();
                    if u < 0.60 {
                        (true, true, rng.int(1, 12), None) // 房户一致
                    } else if u < 0.80 {
                        (false, true, rng.int(0, 5), None) // owner, hukou elsewhere
                    } else if u < 0.92 {
                        (true, false, rng.int(0, 8), None) // hukou renter
                    } else {
                        (false, false, rng.int(0, 4).min(rng.int(0, 4)), None)
                    }
                };
                let years = years.min(max_years);
                let mut unit = 0;
                if owns {
                    if owners < h {
                        unit = (start + owners * stride) % h + 1;
                        owners += 1;
                    } else {
                        owns = false;
                    }
                }

                out.push(b'S');
                push_padded(out, self.next_student, STUDENT_WIDTH);
                out.push(b',');
                out.extend_from_slice(stage.as_str().as_bytes());
                out.push(b',');
                push_id(out, b'B', b.id, BLOCK_WIDTH);
                out.push(b',');
                push_bool(out, hukou);
                out.push(b',');
                push_bool(out, owns);
                out.push(b',');
                push_u64(out, years);
                out.push(b',');
                if owns {
                    push_property(out, b.id, unit);
                }
                out.push(b',');
                push_bool(out, migrant);
                out.push(b',');
                if let Some((permit, insurance)) = months {
                    push_u64(out, permit);
                    out.push(b',');
                    push_u64(out, insurance);
                } else {
                    out.push(b',');
                }
                out.push(b',');
                if stage == Stage::Junior
                    && let Some(p) = self.primary_school(b, years, rng)
                {
                    push_school(out, city, p);
                }
                out.push(b',');
                self.choices.clear();
                match self.choice_k {
                    Some(k) => self.choice_list(b, k as usize, rng),
                    None => self.preferences(b, d.private_rate[s], &d.privates[s], &d.private_cum[s], s, rng),
                }
                for (n, &c) in self.choices.iter().enumerate() {
                    if n > 0 {
                        out.push(b';');
                    }
                    push_school(out, city, c);
                }
                out.push(b'\n');

                self.tally.applicants.add(stage, 1);
                self.tally.migrants += u64::from(migrant);
                if owns && stage != Stage::Kindergarten && rng.chance(self.seat_lock_share) {
                    let locked = if rng.chance(0.8) {
                        stage
                    } else if stage == Stage::Primary {
                        Stage::Junior
                    } else {
                        Stage::Primary
                    };
                    push_property(locks, b.id, unit);
                    locks.push(b',');
                    locks.extend_from_slice(locked.as_str().as_bytes());
                    locks.push(b',');
                    let y = i64::from(self.year) - rng.int(1, 8) as i64;
                    push_u64(locks, y.max(0) as u64);
                    locks.push(b'\n');
                    self.tally.seat_locks += 1;
                }
            }
        }
    }

    /// A junior applicant's primary school: usually the block's zone primary school; families
    /// who moved recently often came from elsewhere in the district.
    fn primary_school(&self, b: &Block, years: u64, rng: &mut Rand) -> Option<u32> {
        let zone = &b.zones[Stage::Primary.index()];
        let all = &self.city.districts[b.district].open_primaries;
        if years < 3 && !all.is_empty() && rng.chance(0.5) {
            return Some(all[rng.below(all.len() as u64) as usize]);
        }
        if !zone.is_empty() && rng.chance(0.88) {
            return Some(zone[rng.below(zone.len() as u64) as usize]);
        }
        let near = &b.near_primary;
        let other: Vec<u32> = near.iter().copied().filter(|i| !zone.contains(i)).collect();
        if !other.is_empty() {
            Some(other[rng.below(other.len() as u64) as usize])
        } else {
            near.first().copied().or_else(|| zone.first().copied())
        }
    }

    /// Ordinary market: private school(s) first for some families, then the zone schools in
    /// preference order for families in multi-school zones.
    fn preferences(
        &mut self,
        b: &Block,
        private_rate: f64,
        privates: &[u32],
        private_cum: &[f64],
        s: usize,
        rng: &mut Rand,
    ) {
        let city = self.city;
        if !privates.is_empty() && rng.chance(private_rate) {
            let first = privates[rng.pick_cum(private_cum)];
            self.choices.push(first);
            if privates.len() >= 2 && rng.chance(0.3) {
                for _ in 0..8 {
                    let second = privates[rng.pick_cum(private_cum)];
                    if second != first {
                        self.choices.push(second);
                        break;
                    }
                }
            }
        }
        let zone = &b.zones[s];
        if zone.len() >= 2 {
            let keep = if rng.chance(0.2) {
                rng.int(1, zone.len() as u64 - 1) as usize
            } else {
                zone.len()
            };
            ranked(
                rng,
                zone,
                |i| city.schools[i as usize].popularity,
                keep,
                &mut self.choices,
                &mut self.scratch,
            );
        }
    }

    /// Choice market: `k` distinct schools, usually the zone school first, then nearby schools
    /// drawn by popularity and distance.
    fn choice_list(&mut self, b: &Block, k: usize, rng: &mut Rand) {
        let city = self.city;
        let zone = &b.zones[Stage::Primary.index()];
        if !zone.is_empty() && rng.chance(0.85) {
            ranked(
                rng,
                zone,
                |i| city.schools[i as usize].popularity,
                1,
                &mut self.choices,
                &mut self.scratch,
            );
        }
        let (pool, cum) = (&b.choice_pool, &b.choice_cum);
        let mut misses = 0;
        while self.choices.len() < k.min(pool.len()) && misses < 32 {
            let c = pool[rng.pick_cum(cum)];
            if self.choices.contains(&c) {
                misses += 1;
            } else {
                self.choices.push(c);
            }
        }
        if self.choices.len() < k.min(pool.len()) {
            // Few schools left with any weight: draw the rest exactly.
            let mut prev = 0.0;
            let weights: Vec<f64> = cum
                .iter()
                .map(|&c| {
                    let w = c - prev;
                    prev = c;
                    w
                })
                .collect();
            let rest: Vec<u32> = pool.iter().copied().filter(|c| !self.choices.contains(c)).collect();
            let need = k.min(pool.len()) - self.choices.len();
            ranked(
                rng,
                &rest,
                |i| pool.iter().position(|&p| p == i).map_or(0.0, |j| weights[j].max(1e-12)),
                need,
                &mut self.choices,
                &mut self.scratch,
            );
        }
    }
}

/// Appends a property id `H000123-0402`: the block number and a flat number.
fn push_property(buf: &mut Vec<u8>, block: u64, unit: u64) {
    push_id(buf, b'H', block, BLOCK_WIDTH);
    buf.push(b'-');
    push_padded(buf, unit, 4);
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
