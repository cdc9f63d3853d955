//! A zoning problem's view of [`crate::spatial`]: block-to-school whole metres over the
//! problem's own school list (which may add schools the city lacks).

use crate::spatial::{DistanceKind, Spatial};

use super::problem::{ZoneBlock, ZoneSchool};

/// Which distance a zoning uses: the scenario's source ([`crate::spatial::DistanceKind`]).
pub type DistanceSource = crate::spatial::DistanceKind;

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

    /// Builds a table straight from a scenario's `distances.csv` pairs `(city school, block,
    /// millimetres)` (any order, each pair at most once), with `problem_school[cs]` the problem
    /// index of city school `cs` (`u32::MAX` when it takes no part); pairs of other schools or
    /// of blocks past `blocks` are dropped. The same table as [`DistanceTable::from_lists`]
    /// over those pairs, built by counting: one pass to size each block's row, one to fill it,
    /// then each short row sorted, with no per-school or per-block lists in between.
    /// `pairs` is called twice and must give the same pairs in the same order both times.
    pub fn from_pairs_mm<I: Iterator<Item = (u32, u32, u32)>>(
        pairs: impl Fn() -> I,
        problem_school: &[u32],
        blocks: usize,
    ) -> Self {
        let keep = |(cs, b, _): &(u32, u32, u32)| {
            (*b as usize) < blocks && problem_school.get(*cs as usize).is_some_and(|&s| s != u32::MAX)
        };
        let mut start = vec![0u32; blocks + 1];
        for (_, b, _) in pairs().filter(keep) {
            start[b as usize + 1] += 1;
        }
        for b in 0..blocks {
            start[b + 1] += start[b];
        }
        let total = start[blocks] as usize;
        let mut next: Vec<u32> = start[..blocks].to_vec();
        let mut row: Vec<(u32, u32)> = vec![(0, 0); total];
        for (cs, b, mm) in pairs().filter(keep) {
            let at = &mut next[b as usize];
            row[*at as usize] = (problem_school[cs as usize], crate::spatial::metres_of_mm(mm));
            *at += 1;
        }
        let mut t = DistanceTable {
            start: Vec::with_capacity(blocks + 1),
            school: Vec::with_capacity(total),
            metres: Vec::with_capacity(total),
        };
        t.start.push(0);
        for b in 0..blocks {
            let l = &mut row[start[b] as usize..start[b + 1] as usize];
            l.sort_unstable();
            let mut last = None;
            for &(s, m) in l.iter() {
                // Sorted by school then metres: the first of a school is its shortest.
                if last != Some(s) {
                    t.school.push(s);
                    t.metres.push(m);
                    last = Some(s);
                }
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

    /// Where the pair (block, school) sits in the table's pair order (block by block, schools
    /// ascending), if it is stored.
    pub(crate) fn pair(&self, block: u32, school: u32) -> Option<usize> {
        let b = block as usize;
        if b + 1 >= self.start.len() {
            return None;
        }
        let (lo, hi) = (self.start[b] as usize, self.start[b + 1] as usize);
        self.school[lo..hi].binary_search(&school).ok().map(|i| lo + i)
    }

    /// Every stored pair as (block, school, metres), in pair order.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (u32, u32, u32)> + '_ {
        (0..self.start.len().saturating_sub(1)).flat_map(move |b| {
            let (lo, hi) = (self.start[b] as usize, self.start[b + 1] as usize);
            (lo..hi).map(move |i| (b as u32, self.school[i], self.metres[i]))
        })
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

    /// The problem's distances from the scenario's source. `city_school[s]` is the city index
    /// of problem school `s` (a school the zoning adds has none: its distances come from
    /// [`Spatial::from_places`] at `new_school_locations[s]`); problem blocks are the city's.
    pub fn from_spatial(
        spatial: &Spatial,
        blocks: usize,
        city_school: &[Option<u32>],
        school_locations: &[crate::model::Location],
    ) -> Distances {
        if spatial.kind() == DistanceKind::Straight {
            return Distances::StraightLine;
        }
        let new: Vec<usize> = (0..city_school.len()).filter(|&s| city_school[s].is_none()).collect();
        let places: Vec<crate::model::Location> = new.iter().map(|&s| school_locations[s]).collect();
        let mut new_rows = spatial.from_places(&places).into_iter();
        let mut lists: Vec<Vec<(u32, u32)>> = vec![Vec::new(); blocks];
        for (s, cs) in city_school.iter().enumerate() {
            let row = match cs {
                Some(cs) => spatial.school_row(*cs),
                None => new_rows.next().unwrap_or_default(),
            };
            for (b, mm) in row {
                if let Some(l) = lists.get_mut(b as usize) {
                    l.push((s as u32, crate::spatial::metres_of_mm(mm)));
                }
            }
        }
        Distances::Table(DistanceTable::from_lists(lists))
    }
}
