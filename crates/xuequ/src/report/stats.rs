//! The figures a report shows, derived once from a run: per-school rows (the library's own
//! [`output::school_rows`], so the report, the workbook and the CSV agree to the digit),
//! per-block aggregates, overflow flows, distance histograms and
//! per-district totals. Everything here is sequential or sorts integer keys, so the figures
//! do not depend on the thread count.

use std::collections::{BTreeMap, HashMap};

use rayon::slice::ParallelSliceMut;

use crate::allocate::{Allocation, GUARANTEE_POSITION, StageAllocation};
use crate::audit::AuditReport;
use crate::load::Dataset;
use crate::model::{Sector, Stage};
use crate::output::{self, StageSummary, Summary};

/// One row of `schools_summary.csv`, with the school's names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SchoolRow {
    /// School index in the dataset's city.
    pub school: u32,
    pub id: String,
    pub name: String,
    pub district: String,
    pub stage: Stage,
    pub sector: Sector,
    pub capacity: u32,
    pub assigned: u32,
    pub vacancies: u32,
    pub cutoff_tier: String,
    pub cutoff_lottery: Option<u32>,
    pub cutoff_points: String,
    pub purchased_seats: u32,
    pub purchased_assigned: u32,
    pub applicants: u32,
    pub first_choice: u32,
}

impl SchoolRow {
    /// Assigned over capacity (0 for a school without seats).
    pub fn utilisation(&self) -> f64 {
        if self.capacity == 0 {
            0.0
        } else {
            f64::from(self.assigned) / f64::from(self.capacity)
        }
    }

    /// True when every seat is taken.
    pub fn is_full(&self) -> bool {
        self.capacity > 0 && self.vacancies == 0
    }

    /// True when more applicants ranked the school first than it has seats (a shortfall).
    pub fn is_short(&self) -> bool {
        self.first_choice > self.capacity
    }

    /// First-choice applicants over seats.
    pub fn pressure(&self) -> f64 {
        f64::from(self.first_choice) / f64::from(self.capacity.max(1))
    }

    /// The cutoff as one text: tier, lottery number and points.
    pub fn cutoff_text(&self) -> String {
        if self.cutoff_tier == crate::output::NOT_FULL {
            return "未满额，无录取线 (not full)".to_string();
        }
        let mut s = self.cutoff_tier.clone();
        if let Some(l) = self.cutoff_lottery {
            s.push_str(&format!(" · 摇号 {l}"));
        }
        if !self.cutoff_points.is_empty() {
            s.push_str(&format!(" · 积分 {}", self.cutoff_points));
        }
        s
    }
}

/// The library's school rows ([`output::school_rows`], the rows of `schools_summary.csv`)
/// with the names and codes a report shows.
#[cfg(test)]
pub(crate) fn school_rows(data: &Dataset, allocation: &Allocation) -> Vec<SchoolRow> {
    school_rows_of(data, &output::school_rows(data, allocation))
}

/// The library's school rows, already computed ([`output::school_rows`]), with the names and
/// codes a report shows.
fn school_rows_of(data: &Dataset, rows: &[output::SchoolRow]) -> Vec<SchoolRow> {
    let city = &data.city;
    rows.iter()
        .filter_map(|r| {
            let s = city.schools.get(r.school as usize)?;
            Some(SchoolRow {
                school: r.school,
                id: s.id.clone(),
                name: s.name.clone(),
                district: city.districts.get(s.district as usize).cloned().unwrap_or_default(),
                stage: s.stage,
                sector: s.sector,
                capacity: r.capacity,
                assigned: r.assigned,
                vacancies: r.vacancies,
                cutoff_tier: r.cutoff_tier.clone().unwrap_or_default(),
                cutoff_lottery: r.cutoff_lottery,
                // As schools_summary.csv writes it.
                cutoff_points: r.cutoff_points.map_or(String::new(), |p| format!("{p}")),
                purchased_seats: s.purchased_seats,
                purchased_assigned: r.purchased_assigned,
                applicants: r.applicants,
                first_choice: r.first_choice_applicants,
            })
        })
        .collect()
}

/// One block's applicants of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockAgg {
    /// Block index.
    pub block: u32,
    /// Applicants living there.
    pub applicants: u32,
    /// Of whom unplaced.
    pub unplaced: u32,
    /// The school most of its placed applicants got (ties: the lower school index).
    pub school: Option<u32>,
    /// How many got that school.
    pub school_count: u32,
}

/// Placements of one block's applicants at one school by overflow (统筹).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flow {
    pub block: u32,
    pub school: u32,
    pub count: u32,
}

/// Resolution of the stored distances (every histogram width is a multiple of it).
const FINE_M: u32 = 50;
/// Stored distance bins: 50 m each up to 500 km.
const FINE_BINS: usize = 10_000;

/// Via categories of the histogram, in stacking order.
pub(crate) const VIAS: [&str; 3] = ["zone", "choice", "overflow"];

/// A distance histogram of placed applicants, stacked by how they got their seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Histogram {
    /// Bin width in metres; the last bin holds everything from `width × (bins − 1)` on.
    pub width: u32,
    /// Counts per bin and via (zone, choice, overflow).
    pub counts: Vec<[u64; 3]>,
}

impl Histogram {
    /// Bins for distances up to about `upto` metres: about 20 bins of a round width.
    pub fn with_range(upto: u32) -> Histogram {
        let width = nice_step(f64::from(upto.max(100)) / 20.0);
        let bins = (upto.max(100)).div_ceil(width) as usize + 1;
        Histogram {
            width,
            counts: vec![[0; 3]; bins.clamp(2, 40)],
        }
    }

    /// Adds `n` applicants at one distance.
    pub fn add_n(&mut self, distance_m: u32, via: usize, n: u64) {
        let last = self.counts.len() - 1;
        let bin = ((distance_m / self.width) as usize).min(last);
        self.counts[bin][via.min(2)] += n;
    }

    /// The largest bin total.
    pub fn max_total(&self) -> u64 {
        self.counts.iter().map(|c| c.iter().sum::<u64>()).max().unwrap_or(0)
    }
}

/// A round step (1, 2, 2.5 or 5 × 10^k metres, at least 50) close to `raw`.
pub(crate) fn nice_step(raw: f64) -> u32 {
    let mut step = 50u32;
    for &s in &[
        50u32, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 20_000, 25_000, 50_000, 100_000, 200_000, 500_000,
    ] {
        step = s;
        if f64::from(s) >= raw {
            break;
        }
    }
    step
}

/// Per-district figures of one stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DistrictAgg {
    /// Applicants living in the district.
    pub applicants: u64,
    /// Of whom unplaced.
    pub unplaced: u64,
    /// Of whom placed at a school of another district.
    pub placed_elsewhere: u64,
    /// Seats of the district's schools.
    pub seats: u64,
    /// Seats taken.
    pub assigned: u64,
    /// Schools.
    pub schools: u64,
    /// Schools with more first choices than seats.
    pub short: u64,
}

/// Everything a report shows about one stage.
#[derive(Debug, Clone)]
pub(crate) struct StageView {
    pub stage: Stage,
    /// Index into `RunView::summary.stages`.
    pub summary: usize,
    /// Indices into `RunView::schools` of this stage's schools, in schools.csv order.
    pub schools: Vec<usize>,
    /// Blocks with applicants of this stage, by block index.
    pub blocks: Vec<BlockAgg>,
    /// Overflow placements per (block, school), by block then school.
    pub flows: Vec<Flow>,
    /// Placed applicants per 50 m of distance (the last bin: 500 km and more) and via.
    pub fine: Vec<[u64; 3]>,
    /// Per district index.
    pub districts: BTreeMap<u32, DistrictAgg>,
}

/// The figures of a whole run.
#[derive(Debug, Clone)]
pub(crate) struct RunView<'a> {
    pub data: &'a Dataset,
    pub allocation: &'a Allocation,
    pub audit: &'a AuditReport,
    pub summary: Summary,
    pub schools: Vec<SchoolRow>,
    /// School index to row.
    pub row_of_school: HashMap<u32, usize>,
    pub stages: Vec<StageView>,
}

impl<'a> RunView<'a> {
    pub fn new(data: &'a Dataset, allocation: &'a Allocation, audit: &'a AuditReport) -> RunView<'a> {
        let tables = output::RunTables::new(data, allocation, audit);
        Self::of_tables(data, allocation, audit, &tables.schools, tables.summary, Detail::Full)
    }

    /// The view from the school rows and summary already computed; `detail` says whether
    /// the per-block figures (maps, flows, histograms) are wanted or only the tables.
    pub fn of_tables(
        data: &'a Dataset,
        allocation: &'a Allocation,
        audit: &'a AuditReport,
        rows: &[output::SchoolRow],
        summary: Summary,
        detail: Detail,
    ) -> RunView<'a> {
        use rayon::prelude::*;
        let schools = school_rows_of(data, rows);
        let row_of_school: HashMap<u32, usize> = schools.iter().enumerate().map(|(i, r)| (r.school, i)).collect();
        let stages = allocation
            .stages
            .par_iter()
            .enumerate()
            .map(|(si, st)| stage_view(data, st, si, &schools, detail))
            .collect();
        RunView {
            data,
            allocation,
            audit,
            summary,
            schools,
            row_of_school,
            stages,
        }
    }

    /// The run as [`crate::compare`] takes it.
    pub fn as_run(&self) -> crate::compare::Run<'a> {
        crate::compare::Run {
            data: self.data,
            allocation: self.allocation,
            audit: self.audit,
        }
    }

    /// The view and summary of a stage.
    pub fn stage(&self, stage: Stage) -> Option<(&StageView, &StageSummary)> {
        let v = self.stages.iter().find(|v| v.stage == stage)?;
        Some((v, self.summary.stages.get(v.summary)?))
    }

    /// The row of a school index.
    pub fn row(&self, school: u32) -> Option<&SchoolRow> {
        self.row_of_school.get(&school).map(|&i| &self.schools[i])
    }
}

fn via_index(v: &str) -> usize {
    match v {
        "zone" => 0,
        "choice" => 1,
        _ => 2,
    }
}

/// How much of a run a [`RunView`] derives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    /// Everything: the page, the workbook and the layers.
    Full,
    /// Only the per-district totals (`districts_summary.csv`): no per-block figures.
    Tables,
}

fn stage_view(data: &Dataset, st: &StageAllocation, summary: usize, rows: &[SchoolRow], detail: Detail) -> StageView {
    let city = &data.city;
    let cohort = &data.cohort;
    let full = detail == Detail::Full;
    let n_blocks = if full { city.blocks.len() } else { 0 };
    let mut applicants = vec![0u32; n_blocks];
    let mut unplaced = vec![0u32; n_blocks];
    let mut placed_pairs: Vec<u64> = Vec::with_capacity(if full { st.members.len() } else { 0 });
    let mut flow_pairs: Vec<u64> = Vec::new();
    let mut fine = vec![[0u64; 3]; if full { FINE_BINS } else { 0 }];
    // Per district, indexed by district (a handful to a few hundred): a map lookup per
    // applicant cost more than the rest of the pass.
    let mut by_district: Vec<Option<DistrictAgg>> = vec![None; city.districts.len()];
    let mut other_districts: BTreeMap<u32, DistrictAgg> = BTreeMap::new();
    for (m, &i) in st.members.iter().enumerate() {
        let Some(s) = cohort.students.get(i as usize) else {
            continue;
        };
        let b = s.block as usize;
        let Some(block) = city.blocks.get(b) else {
            continue;
        };
        let d = district_agg(&mut by_district, &mut other_districts, block.district);
        d.applicants += 1;
        if !full {
            let p = st.placements[m];
            if !p.is_placed() {
                d.unplaced += 1;
            } else if let Some(prog) = st.programs.get(p.program as usize)
                && prog.district != block.district
            {
                d.placed_elsewhere += 1;
            }
            continue;
        }
        applicants[b] += 1;
        let p = st.placements[m];
        if !p.is_placed() {
            unplaced[b] += 1;
            d.unplaced += 1;
            continue;
        }
        let Some(prog) = st.programs.get(p.program as usize) else {
            continue;
        };
        if prog.district != block.district {
            d.placed_elsewhere += 1;
        }
        let key = (u64::from(s.block) << 32) | u64::from(prog.school);
        placed_pairs.push(key);
        let via = if p.position == GUARANTEE_POSITION {
            "overflow"
        } else {
            st.via(m)
        };
        if via == "overflow" {
            flow_pairs.push(key);
        }
        if p.distance_m != crate::allocate::UNKNOWN_DISTANCE {
            fine[((p.distance_m / FINE_M) as usize).min(FINE_BINS - 1)][via_index(via)] += 1;
        }
    }
    placed_pairs.par_sort_unstable();
    flow_pairs.par_sort_unstable();

    // Dominant school per block: run-lengths over sorted (block, school) pairs.
    let mut dominant: Vec<(u32, u32)> = vec![(u32::MAX, 0); n_blocks];
    for (key, count) in runs(&placed_pairs) {
        let (b, school) = ((key >> 32) as usize, key as u32);
        if count > dominant[b].1 {
            dominant[b] = (school, count);
        }
    }
    let blocks = (0..n_blocks)
        .filter(|&b| applicants[b] > 0)
        .map(|b| BlockAgg {
            block: b as u32,
            applicants: applicants[b],
            unplaced: unplaced[b],
            school: (dominant[b].0 != u32::MAX).then_some(dominant[b].0),
            school_count: dominant[b].1,
        })
        .collect();
    let flows = runs(&flow_pairs)
        .map(|(key, count)| Flow {
            block: (key >> 32) as u32,
            school: key as u32,
            count,
        })
        .collect();
    let schools: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.stage == st.stage)
        .map(|(i, _)| i)
        .collect();
    for &r in &schools {
        let row = &rows[r];
        let Some(school) = city.schools.get(row.school as usize) else {
            continue;
        };
        let d = district_agg(&mut by_district, &mut other_districts, school.district);
        d.seats += u64::from(row.capacity);
        d.assigned += u64::from(row.assigned);
        d.schools += 1;
        d.short += u64::from(row.is_short());
    }
    let mut districts = other_districts;
    districts.extend(
        by_district
            .into_iter()
            .enumerate()
            .filter_map(|(d, agg)| Some((d as u32, agg?))),
    );
    StageView {
        stage: st.stage,
        summary,
        schools,
        blocks,
        flows,
        fine,
        districts,
    }
}

/// A district's totals: by index, or (a district the city does not list) in a map.
fn district_agg<'m>(
    by_district: &'m mut [Option<DistrictAgg>],
    other: &'m mut BTreeMap<u32, DistrictAgg>,
    d: u32,
) -> &'m mut DistrictAgg {
    match by_district.get_mut(d as usize) {
        Some(slot) => slot.get_or_insert_with(DistrictAgg::default),
        None => other.entry(d).or_default(),
    }
}

/// Runs of equal keys in a sorted slice, as (key, length).
fn runs(sorted: &[u64]) -> impl Iterator<Item = (u64, u32)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let key = *sorted.get(i)?;
        let start = i;
        while i < sorted.len() && sorted[i] == key {
            i += 1;
        }
        Some((key, (i - start) as u32))
    })
}

/// A histogram of a stage's distances with the given bins.
pub(crate) fn histogram(view: &StageView, bins: &Histogram) -> Histogram {
    let mut h = bins.clone();
    for c in &mut h.counts {
        *c = [0; 3];
    }
    for (i, c) in view.fine.iter().enumerate() {
        for (via, &n) in c.iter().enumerate() {
            if n > 0 {
                h.add_n(i as u32 * FINE_M, via, n);
            }
        }
    }
    h
}

/// Empty bins covering the bulk of the distances of the given stage summaries: up to 1.5 ×
/// their p90 or 3 × their median, whichever is more; farther distances share the last bin.
pub(crate) fn bins_for(summaries: &[&StageSummary]) -> Histogram {
    let upto = summaries
        .iter()
        .filter_map(|s| s.distance_m.as_ref())
        .map(|d| (d.p90.saturating_mul(3) / 2).max(d.p50.saturating_mul(3)).min(d.max))
        .max()
        .unwrap_or(1000);
    Histogram::with_range(upto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_count_equal_keys() {
        let v = [1u64, 1, 2, 5, 5, 5];
        assert_eq!(runs(&v).collect::<Vec<_>>(), vec![(1, 2), (2, 1), (5, 3)]);
        assert_eq!(runs(&[]).count(), 0);
    }

    #[test]
    fn nice_steps_are_round() {
        assert_eq!(nice_step(1.0), 50);
        assert_eq!(nice_step(120.0), 200);
        assert_eq!(nice_step(240.0), 250);
        assert_eq!(nice_step(4000.0), 5000);
        assert_eq!(nice_step(1e9), 500_000);
    }

    #[test]
    fn histogram_puts_far_distances_in_the_last_bin() {
        let mut h = Histogram::with_range(2000);
        assert_eq!(h.width, 100);
        h.add_n(0, 0, 1);
        h.add_n(99, 2, 1);
        h.add_n(1_000_000, 1, 1);
        assert_eq!(h.counts[0], [1, 0, 1]);
        assert_eq!(h.counts.last(), Some(&[0, 1, 0]));
        assert_eq!(h.max_total(), 2);
    }
}
