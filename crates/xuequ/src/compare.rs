//! Comparing two runs (a base and an alternative scenario): who moved, how schools and
//! stages changed.
//!
//! Applicants are matched by `student_id` and stage, schools by `school_id`, so the two runs
//! may differ in schools, blocks, applicants and rules.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use serde::Serialize;

use crate::allocate::Allocation;
use crate::audit::AuditReport;
use crate::error::OutputError;
use crate::io::{CsvWriter, OutputSet};
use crate::load::Dataset;
use crate::output::{self, SchoolRow, StageSummary, WriteOptions};

/// One run: inputs, allocation and audit.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// The inputs.
    pub data: &'a Dataset,
    /// The allocation.
    pub allocation: &'a Allocation,
    /// The audit.
    pub audit: &'a AuditReport,
}

/// An applicant whose result differs between the runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplicantChange {
    /// Student id.
    pub student_id: String,
    /// Stage.
    pub stage: String,
    /// School in the base run (empty: unplaced).
    pub base_school_id: String,
    /// School in the alternative.
    pub alt_school_id: String,
    /// Distance in the base run.
    pub base_distance_m: Option<u32>,
    /// Distance in the alternative.
    pub alt_distance_m: Option<u32>,
    /// How the seat was obtained in the base run.
    pub base_via: String,
    /// How in the alternative.
    pub alt_via: String,
    /// `moved`, `newly_placed`, `newly_unplaced`.
    pub change: String,
}

/// A school's figures in both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchoolDelta {
    /// School id.
    pub school_id: String,
    /// Name (from the alternative when it has the school).
    pub name: String,
    /// Stage.
    pub stage: String,
    /// Base row, if the school is open in the base run.
    pub base: Option<SchoolRow>,
    /// Alternative row.
    pub alt: Option<SchoolRow>,
}

/// A stage's figures in both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageDelta {
    /// Stage.
    pub stage: String,
    /// Base figures.
    pub base: Option<StageSummary>,
    /// Alternative figures.
    pub alt: Option<StageSummary>,
    /// Applicants in both runs whose school changed.
    pub moved: usize,
    /// Unplaced in the base, placed in the alternative.
    pub newly_placed: usize,
    /// Placed in the base, unplaced in the alternative.
    pub newly_unplaced: usize,
    /// Moved to a nearer school.
    pub moved_nearer: usize,
    /// Moved to a farther school.
    pub moved_farther: usize,
    /// Now at a zone school, were not.
    pub to_zone_school: usize,
    /// Were at a zone school, are not.
    pub from_zone_school: usize,
    /// Applicants only in the base run.
    pub only_in_base: usize,
    /// Applicants only in the alternative.
    pub only_in_alt: usize,
}

/// The comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Base scenario name.
    pub base: String,
    /// Alternative scenario name.
    pub alt: String,
    /// Per stage.
    pub stages: Vec<StageDelta>,
    /// Applicants whose result changed, in the alternative's file order (then base-only).
    #[serde(skip)]
    pub changes: Vec<ApplicantChange>,
    /// Schools of either run, base order first.
    #[serde(skip)]
    pub schools: Vec<SchoolDelta>,
}

struct Outcome {
    stage: crate::model::Stage,
    school: Option<u32>,
    distance: u32,
    via: &'static str,
}

fn outcomes(run: &Run<'_>) -> Vec<Option<Outcome>> {
    let mut out: Vec<Option<Outcome>> = (0..run.data.cohort.students.len()).map(|_| None).collect();
    for st in &run.allocation.stages {
        for (m, &i) in st.members.iter().enumerate() {
            let p = st.placements[m];
            out[i as usize] = Some(Outcome {
                stage: st.stage,
                school: p.is_placed().then(|| st.programs[p.program as usize].school),
                distance: p.distance_m,
                via: st.via(m),
            });
        }
    }
    out
}

/// Compares two runs.
pub fn compare(base: Run<'_>, alt: Run<'_>) -> Comparison {
    let (bd, ad) = (base.data, alt.data);
    let base_out = outcomes(&base);
    let alt_out = outcomes(&alt);
    let mut stages: BTreeMap<crate::model::Stage, StageDelta> = BTreeMap::new();
    let base_summary = output::summary(bd, base.allocation, base.audit);
    let alt_summary = output::summary(ad, alt.allocation, alt.audit);
    for st in base.allocation.stages.iter().chain(&alt.allocation.stages) {
        stages.entry(st.stage).or_insert_with(|| StageDelta {
            stage: st.stage.to_string(),
            base: base_summary
                .stages
                .iter()
                .find(|s| s.stage == st.stage.as_str())
                .cloned(),
            alt: alt_summary
                .stages
                .iter()
                .find(|s| s.stage == st.stage.as_str())
                .cloned(),
            moved: 0,
            newly_placed: 0,
            newly_unplaced: 0,
            moved_nearer: 0,
            moved_farther: 0,
            to_zone_school: 0,
            from_zone_school: 0,
            only_in_base: 0,
            only_in_alt: 0,
        });
    }
    let school_id = |d: &Dataset, s: Option<u32>| s.map_or(String::new(), |s| d.city.schools[s as usize].id.clone());
    let mut changes = Vec::new();
    for (ai, ao) in alt_out.iter().enumerate() {
        let Some(ao) = ao else { continue };
        let id = ad.cohort.id(ai);
        let bo = bd
            .cohort
            .student(id)
            .and_then(|bi| base_out[bi as usize].as_ref())
            .filter(|b| b.stage == ao.stage);
        let Some(delta) = stages.get_mut(&ao.stage) else {
            continue;
        };
        let Some(bo) = bo else {
            delta.only_in_alt += 1;
            continue;
        };
        let (bs, as_) = (school_id(bd, bo.school), school_id(ad, ao.school));
        if bs == as_ {
            continue;
        }
        let change = match (bo.school, ao.school) {
            (None, Some(_)) => {
                delta.newly_placed += 1;
                "newly_placed"
            }
            (Some(_), None) => {
                delta.newly_unplaced += 1;
                "newly_unplaced"
            }
            _ => {
                delta.moved += 1;
                if ao.distance < bo.distance {
                    delta.moved_nearer += 1;
                } else if ao.distance > bo.distance {
                    delta.moved_farther += 1;
                }
                "moved"
            }
        };
        if ao.via == "zone" && bo.via != "zone" {
            delta.to_zone_school += 1;
        }
        if bo.via == "zone" && ao.via != "zone" {
            delta.from_zone_school += 1;
        }
        changes.push(ApplicantChange {
            student_id: id.to_string(),
            stage: ao.stage.to_string(),
            base_school_id: bs,
            alt_school_id: as_,
            base_distance_m: bo.school.map(|_| bo.distance),
            alt_distance_m: ao.school.map(|_| ao.distance),
            base_via: bo.via.to_string(),
            alt_via: ao.via.to_string(),
            change: change.to_string(),
        });
    }
    for (bi, bo) in base_out.iter().enumerate() {
        let Some(bo) = bo else { continue };
        let in_alt = ad
            .cohort
            .student(bd.cohort.id(bi))
            .and_then(|ai| alt_out[ai as usize].as_ref())
            .is_some_and(|a| a.stage == bo.stage);
        if !in_alt && let Some(delta) = stages.get_mut(&bo.stage) {
            delta.only_in_base += 1;
        }
    }
    // Schools of both runs, matched by id.
    let base_rows = output::school_rows(bd, base.allocation);
    let alt_rows = output::school_rows(ad, alt.allocation);
    let mut alt_by_id: HashMap<&str, &SchoolRow> = alt_rows
        .iter()
        .map(|r| (ad.city.schools[r.school as usize].id.as_str(), r))
        .collect();
    let mut schools = Vec::new();
    for r in &base_rows {
        let s = &bd.city.schools[r.school as usize];
        let a = alt_by_id.remove(s.id.as_str());
        schools.push(SchoolDelta {
            school_id: s.id.clone(),
            name: a.map_or(&s.name, |a| &ad.city.schools[a.school as usize].name).clone(),
            stage: s.stage.to_string(),
            base: Some(r.clone()),
            alt: a.cloned(),
        });
    }
    for r in &alt_rows {
        let s = &ad.city.schools[r.school as usize];
        if alt_by_id.contains_key(s.id.as_str()) {
            schools.push(SchoolDelta {
                school_id: s.id.clone(),
                name: s.name.clone(),
                stage: s.stage.to_string(),
                base: None,
                alt: Some(r.clone()),
            });
        }
    }
    Comparison {
        base: bd.scenario.name.clone(),
        alt: ad.scenario.name.clone(),
        stages: stages.into_values().collect(),
        changes,
        schools,
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or(String::new(), |x| x.to_string())
}

/// Renders `changes.csv`.
pub fn changes_csv(c: &Comparison, options: WriteOptions) -> Vec<u8> {
    let mut w = CsvWriter::new(options.bom);
    w.row(&[
        "student_id",
        "stage",
        "base_school_id",
        "alt_school_id",
        "base_distance_m",
        "alt_distance_m",
        "base_via",
        "alt_via",
        "change",
    ]);
    for ch in &c.changes {
        w.row(&[
            ch.student_id.as_str(),
            &ch.stage,
            &ch.base_school_id,
            &ch.alt_school_id,
            &opt(ch.base_distance_m),
            &opt(ch.alt_distance_m),
            &ch.base_via,
            &ch.alt_via,
            &ch.change,
        ]);
    }
    w.into_bytes()
}

/// Renders `schools_delta.csv`.
pub fn schools_delta_csv(c: &Comparison, options: WriteOptions) -> Vec<u8> {
    let mut w = CsvWriter::new(options.bom);
    w.row(&[
        "school_id",
        "name",
        "stage",
        "base_capacity",
        "alt_capacity",
        "base_assigned",
        "alt_assigned",
        "delta_assigned",
        "base_vacancies",
        "alt_vacancies",
        "base_cutoff_tier",
        "alt_cutoff_tier",
        "base_cutoff_lottery",
        "alt_cutoff_lottery",
    ]);
    for s in &c.schools {
        let (b, a) = (s.base.as_ref(), s.alt.as_ref());
        let delta = i64::from(a.map_or(0, |r| r.assigned)) - i64::from(b.map_or(0, |r| r.assigned));
        w.row(&[
            s.school_id.as_str(),
            &s.name,
            &s.stage,
            &opt(b.map(|r| r.capacity)),
            &opt(a.map(|r| r.capacity)),
            &opt(b.map(|r| r.assigned)),
            &opt(a.map(|r| r.assigned)),
            &delta.to_string(),
            &opt(b.map(|r| r.vacancies)),
            &opt(a.map(|r| r.vacancies)),
            b.and_then(|r| r.cutoff_tier.as_deref()).unwrap_or(""),
            a.and_then(|r| r.cutoff_tier.as_deref()).unwrap_or(""),
            &opt(b.and_then(|r| r.cutoff_lottery)),
            &opt(a.and_then(|r| r.cutoff_lottery)),
        ]);
    }
    w.into_bytes()
}

/// Adds `changes.csv`, `schools_delta.csv` and `compare.json` to an output set.
pub fn write_comparison(set: &mut OutputSet, c: &Comparison, options: WriteOptions) -> Result<(), OutputError> {
    let changes = changes_csv(c, options);
    let schools = schools_delta_csv(c, options);
    let mut json = serde_json::to_vec_pretty(c).expect("the comparison serialises");
    let _ = json.write_all(b"\n");
    output::write_files(
        set,
        &[
            ("changes.csv", &changes),
            ("schools_delta.csv", &schools),
            ("compare.json", &json),
        ],
    )
}
