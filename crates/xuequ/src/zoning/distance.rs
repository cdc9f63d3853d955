//! Block-to-school distances in metres: straight line, a precomputed matrix, or roads.

use rayon::prelude::*;

use crate::load::DistanceMatrix;

use super::problem::{ZoneBlock, ZoneSchool};

/// Which distance a zoning uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DistanceSource {
    /// Great-circle metres between the points (default).
    #[default]
    StraightLine,
    /// The scenario's `distances.csv` (school_id, block_id, distance_m); pairs it lacks are
    /// not allowed.
    Matrix,
    /// Shortest paths over a road network ([`super::roads`]); pairs beyond the search radius
    /// are not allowed.
    Roads,
}

impl std::str::FromStr for DistanceSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "straight" | "straight_line" | "line" => Ok(DistanceSource::StraightLine),
            "matrix" | "distances" => Ok(DistanceSource::Matrix),
            "roads" | "road" => Ok(DistanceSource::Roads),
            other => Err(format!(
                "unknown distance source \"{other}\"; use straight, matrix or roads"
            )),
        }
    }
}

/// Distances of a [`super::ZoningProblem`].
#[derive(Debug, Clone, Default)]
pub enum Distances {
    /// Great-circle metres, computed on demand.
    #[default]
    StraightLine,
    /// A sparse table: for each block, the schools it can reach and the metres.
    Table(DistanceTable),
}

/// Per block, reachable schools sorted by school index, with metres.
#[derive(Debug, Clone, Default)]
pub struct DistanceTable {
    start: Vec<u32>,
    school: Vec<u32>,
    metres: Vec<u32>,
}

impl DistanceTable {
    /// Builds a table from per-block lists of `(school, metres)` (any order; duplicates keep
    /// the shortest).
    pub fn from_lists(lists: Vec<Vec<(u32, u32)>>) -> Self {
        let mut t = DistanceTable {
            start: Vec::with_capacity(lists.len() + 1),
            ..Default::default()
        };
        t.start.push(0);
        for mut l in lists {
            l.sort_unstable();
            l.dedup_by_key(|x| x.0);
            for (s, m) in l {
                t.school.push(s);
                t.metres.push(m);
            }
            t.start.push(t.school.len() as u32);
        }
        t
    }

    /// The reachable schools of a block and their metres.
    pub fn row(&self, block: u32) -> (&[u32], &[u32]) {
        let b = block as usize;
        if b + 1 >= self.start.len() {
            return (&[], &[]);
        }
        let (lo, hi) = (self.start[b] as usize, self.start[b + 1] as usize);
        (&self.school[lo..hi], &self.metres[lo..hi])
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.school.len()
    }

    /// True when no pair is stored.
    pub fn is_empty(&self) -> bool {
        self.school.is_empty()
    }
}

impl Distances {
    /// The distance from a block to a school, `None` when unknown (unreachable).
    pub fn metres(&self, blocks: &[ZoneBlock], schools: &[ZoneSchool], block: u32, school: u32) -> Option<u32> {
        match self {
            Distances::StraightLine => {
                let b = blocks.get(block as usize)?;
                let s = schools.get(school as usize)?;
                Some(b.location.distance_m(&s.location))
            }
            Distances::Table(t) => {
                let (ss, ms) = t.row(block);
                ss.binary_search(&school).ok().map(|i| ms[i])
            }
        }
    }

    /// A table from the scenario's distance matrix: every (block, school) pair the matrix has.
    /// `city_school[s]` is the city index of problem school `s` (new schools have none and
    /// are unreachable); `city_block[b]` likewise for blocks.
    pub fn from_matrix(matrix: &DistanceMatrix, city_block: &[u32], city_school: &[Option<u32>]) -> Distances {
        let lists: Vec<Vec<(u32, u32)>> = city_block
            .par_iter()
            .map(|&cb| {
                city_school
                    .iter()
                    .enumerate()
                    .filter_map(|(s, cs)| cs.and_then(|cs| matrix.get(cs, cb)).map(|m| (s as u32, m)))
                    .collect()
            })
            .collect();
        Distances::Table(DistanceTable::from_lists(lists))
    }
}
