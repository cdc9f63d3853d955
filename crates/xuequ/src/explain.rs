//! Why an applicant got what they got: their list, their priority at each school, each
//! school's cutoff, and where they were admitted or turned away.

use std::fmt;

use crate::allocate::{Allocation, GUARANTEE_POSITION, ProgramKind, StageAllocation};
use crate::load::Dataset;
use crate::mechanism::UNPLACED;
use crate::policy::Mechanism;
use crate::priority;

/// One school on the applicant's list.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainedChoice {
    /// 1-based position in the list.
    pub rank: usize,
    /// School id.
    pub school_id: String,
    /// School name.
    pub school_name: String,
    /// zone, choice or overflow.
    pub via: &'static str,
    /// Home-to-school distance by the scenario's source
    /// ([`crate::allocate::UNKNOWN_DISTANCE`] when unreachable).
    pub distance_m: u32,
    /// Great-circle distance, for comparison.
    pub straight_m: u32,
    /// The applicant's tier there.
    pub tier: String,
    /// The lottery number used there.
    pub lottery: u32,
    /// Seats of the pool.
    pub capacity: u32,
    /// The last admitted applicant's tier and lottery number, if anyone was admitted.
    pub cutoff: Option<(String, u32)>,
    /// What happened here.
    pub outcome: String,
}

/// The explanation of one applicant's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// Student id.
    pub student_id: String,
    /// Stage.
    pub stage: String,
    /// Home block id and name.
    pub block: String,
    /// Migrant, eligibility and points.
    pub migrant: Option<(bool, f64)>,
    /// Seat lock in force.
    pub seat_locked: bool,
    /// Single-lottery number.
    pub lottery: u32,
    /// Mechanism.
    pub mechanism: &'static str,
    /// What `distance_m` measures: `straight`, `matrix` or `roads`.
    pub distance: &'static str,
    /// The list.
    pub choices: Vec<ExplainedChoice>,
    /// The result, in words.
    pub result: String,
}

/// Explaining failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExplainError {
    /// No applicant has this id.
    #[error("no applicant has student_id \"{0}\" (fix: use an id from students.csv)")]
    UnknownStudent(String),
    /// The applicant's stage was not allocated.
    #[error(
        "applicant \"{0}\" applies for {1}, which this scenario does not allocate (fix: add the stage to the scenario's stages)"
    )]
    StageNotAllocated(String, String),
}

/// The id of the school where `student_id` has a seat, `None` when they are unplaced; an
/// error names an unknown id or a stage the scenario does not allocate.
pub fn school_of<'a>(
    data: &'a Dataset,
    allocation: &Allocation,
    student_id: &str,
) -> Result<Option<&'a str>, ExplainError> {
    let i = data
        .cohort
        .student(student_id)
        .ok_or_else(|| ExplainError::UnknownStudent(student_id.to_string()))?;
    let (st, m) = allocation.find(i).ok_or_else(|| {
        ExplainError::StageNotAllocated(
            student_id.to_string(),
            data.cohort.students[i as usize].stage.to_string(),
        )
    })?;
    let p = st.placements[m];
    Ok(p.is_placed().then(|| {
        data.city.schools[st.programs[p.program as usize].school as usize]
            .id
            .as_str()
    }))
}

/// Every stage's cutoffs (the worst admitted key per seat pool), computed once for
/// explaining many applicants of one allocation (as a service does): [`explain`] otherwise
/// recomputes its stage's cutoffs on every call, a pass over every placement.
#[derive(Debug, Clone)]
pub struct Cutoffs {
    stages: Vec<Vec<Option<(u128, usize)>>>,
}

impl Cutoffs {
    /// The cutoffs of every stage of `allocation`.
    pub fn new(allocation: &Allocation) -> Cutoffs {
        Cutoffs {
            stages: allocation.stages.iter().map(cutoffs).collect(),
        }
    }
}

/// Explains the result of `student_id`.
pub fn explain(data: &Dataset, allocation: &Allocation, student_id: &str) -> Result<Explanation, ExplainError> {
    explain_in(data, allocation, None, student_id)
}

/// [`explain`] with the cutoffs computed beforehand by [`Cutoffs::new`] on the same
/// allocation (the same answer, without the pass over every placement).
pub fn explain_with(
    data: &Dataset,
    allocation: &Allocation,
    cutoffs: &Cutoffs,
    student_id: &str,
) -> Result<Explanation, ExplainError> {
    explain_in(data, allocation, Some(cutoffs), student_id)
}

fn explain_in(
    data: &Dataset,
    allocation: &Allocation,
    known: Option<&Cutoffs>,
    student_id: &str,
) -> Result<Explanation, ExplainError> {
    let i = data
        .cohort
        .student(student_id)
        .ok_or_else(|| ExplainError::UnknownStudent(student_id.to_string()))?;
    let s = &data.cohort.students[i as usize];
    let (st, m) = allocation
        .find(i)
        .ok_or_else(|| ExplainError::StageNotAllocated(student_id.to_string(), s.stage.to_string()))?;
    let city = &data.city;
    let stage_index = allocation.stages.iter().position(|x| std::ptr::eq(x, st));
    let computed;
    let cutoffs: &[Option<(u128, usize)>] = match (known, stage_index) {
        (Some(c), Some(k)) if c.stages.len() == allocation.stages.len() => &c.stages[k],
        _ => {
            computed = cutoffs(st);
            &computed
        }
    };
    let p = st.placements[m];
    let list = st.list(m);
    let mut choices = Vec::new();
    for (pos, e) in list.iter().enumerate() {
        let prog = st.programs[e.program as usize];
        let school = &city.schools[prog.school as usize];
        let key = st.key(m, pos);
        let (tier, _, _, lottery) = priority::unpack(key);
        let cutoff = cutoffs[e.program as usize].map(|(k, _)| {
            let (t, _, _, l) = priority::unpack(crate::mechanism::PriorityKey(k));
            (st.tier_name(prog.kind, t as u32).to_string(), l)
        });
        let mine = key.0;
        let outcome = if p.program != UNPLACED && p.position as usize == pos {
            "admitted 录取".to_string()
        } else if p.program != UNPLACED && p.position != GUARANTEE_POSITION && pos > p.position as usize {
            "not needed: admitted to a school ranked higher 已被前序志愿录取".to_string()
        } else if prog.capacity == 0 {
            "no seats in this pool 无学位".to_string()
        } else {
            match (data.policy.mechanism, cutoffs[e.program as usize]) {
                (Mechanism::ImmediateAcceptance, _) => format!(
                    "rejected in round {}: the seats went to applicants who listed it earlier or rank higher 名额已满",
                    pos + 1
                ),
                (Mechanism::SerialDictatorship, _) => {
                    "full when your turn in the global order came 轮到时已满".to_string()
                }
                (_, Some((k, _))) if k < mine => {
                    "rejected: every seat went to applicants of higher priority 名额已满，顺位在录取线之后".to_string()
                }
                _ => "rejected: full 名额已满".to_string(),
            }
        };
        choices.push(ExplainedChoice {
            rank: pos + 1,
            school_id: school.id.clone(),
            school_name: school.name.clone(),
            via: e.via.as_str(),
            distance_m: st.distance_m(data, m, pos),
            straight_m: crate::spatial::metres_of_mm(data.spatial.straight_mm(prog.school, s.block)),
            tier: st.tier_name(prog.kind, tier as u32).to_string(),
            lottery,
            capacity: prog.capacity,
            cutoff,
            outcome,
        });
    }
    let result = match p.position {
        UNPLACED => format!("unplaced 未录取 ({})", crate::output::unplaced_reason(data, st, m)),
        GUARANTEE_POSITION => {
            let prog = st.programs[p.program as usize];
            let school = &city.schools[prog.school as usize];
            format!(
                "every listed school was full; placed by overflow (统筹) at the nearest {} with a free seat: {} {} ({})",
                if prog.kind == ProgramKind::Purchased {
                    "purchased seat"
                } else {
                    "public school"
                },
                school.id,
                school.name,
                shown(p.distance_m)
            )
        }
        pos => {
            let prog = st.programs[p.program as usize];
            let school = &city.schools[prog.school as usize];
            format!(
                "admitted at choice {} 第{}志愿录取: {} {} ({}, via {})",
                pos + 1,
                pos + 1,
                school.id,
                school.name,
                shown(p.distance_m),
                st.via(m)
            )
        }
    };
    let block = &city.blocks[s.block as usize];
    Ok(Explanation {
        student_id: data.cohort.id(i as usize).to_string(),
        stage: s.stage.to_string(),
        block: format!("{} {}", block.id, block.name),
        migrant: s.migrant.then_some((st.facts[m].migrant_eligible, st.facts[m].points)),
        seat_locked: st.facts[m].seat_locked,
        lottery: st.lottery[m],
        mechanism: data.policy.mechanism.as_str(),
        distance: data.spatial.kind().as_str(),
        choices,
        result,
    })
}

/// A distance as shown: `1234 m`, or `unreachable` for a pair the source cannot measure.
fn shown(d: u32) -> String {
    if d == crate::allocate::UNKNOWN_DISTANCE {
        "unreachable 不可达".to_string()
    } else {
        format!("{d} m")
    }
}

/// Worst admitted list key per program.
fn cutoffs(st: &StageAllocation) -> Vec<Option<(u128, usize)>> {
    let mut c: Vec<Option<(u128, usize)>> = vec![None; st.programs.len()];
    for (m, p) in st.placements.iter().enumerate() {
        if p.program == UNPLACED || p.position == GUARANTEE_POSITION {
            continue;
        }
        let k = st.key(m, p.position as usize).0;
        let slot = &mut c[p.program as usize];
        if slot.is_none_or(|(w, _)| k > w) {
            *slot = Some((k, m));
        }
    }
    c
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "applicant 学生 {} ({}), home 住址 {}",
            self.student_id, self.stage, self.block
        )?;
        writeln!(
            f,
            "single lottery number 摇号号码: {}   mechanism 录取方式: {}",
            self.lottery, self.mechanism
        )?;
        if let Some((eligible, points)) = self.migrant {
            writeln!(
                f,
                "migrant applicant 随迁子女: {}, points 积分 {points}",
                if eligible {
                    "eligible 符合条件"
                } else {
                    "not eligible 不符合条件"
                }
            )?;
        }
        if self.seat_locked {
            writeln!(
                f,
                "seat lock 学位锁定: the home already gave a seat within the lock years"
            )?;
        }
        writeln!(
            f,
            "distances 距离: {}",
            match self.distance {
                "roads" => "by road 道路距离 (straight line 直线 in brackets)",
                "matrix" => "from distances.csv 距离表 (straight line 直线 in brackets)",
                _ => "straight line 直线距离",
            }
        )?;
        if self.choices.is_empty() {
            writeln!(f, "candidate schools 候选学校: none")?;
        } else {
            writeln!(f, "candidate schools 候选学校, in order:")?;
        }
        for c in &self.choices {
            let cutoff = match &c.cutoff {
                Some((t, l)) => format!("last admitted 录取线: {t} / lottery {l}"),
                None => "nobody admitted".to_string(),
            };
            let distance = if self.distance == "straight" {
                shown(c.distance_m)
            } else {
                format!("{} (straight {} m)", shown(c.distance_m), c.straight_m)
            };
            writeln!(
                f,
                "  {}. {} {} [{}; {}; {} seats] your tier 顺位: {}, lottery {}; {}\n     -> {}",
                c.rank, c.school_id, c.school_name, c.via, distance, c.capacity, c.tier, c.lottery, cutoff, c.outcome
            )?;
        }
        writeln!(f, "result 结果: {}", self.result)
    }
}
