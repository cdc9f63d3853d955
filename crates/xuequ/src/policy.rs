//! The admission rules of `policy.toml`: mechanism, lottery, candidate lists, seat locks,
//! migrant eligibility and points, and the ordered priority tiers.
//!
//! Every key has a documented default (see `docs/policy.md`); unknown keys are errors so a
//! misspelt rule never silently falls back to a default.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Diagnostic, Diagnostics};
use crate::model::Stage;

/// The matching mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// Student-proposing deferred acceptance: stable and strategy-proof (default).
    #[default]
    DeferredAcceptance,
    /// Immediate acceptance, the Boston mechanism (顺序志愿).
    ImmediateAcceptance,
    /// Serial dictatorship by one global order (平行志愿 by score).
    SerialDictatorship,
}

impl Mechanism {
    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::DeferredAcceptance => "deferred_acceptance",
            Mechanism::ImmediateAcceptance => "immediate_acceptance",
            Mechanism::SerialDictatorship => "serial_dictatorship",
        }
    }
}

/// How lottery numbers break ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TieBreak {
    /// One lottery number per applicant, used at every school (default).
    #[default]
    Single,
    /// An independent draw at every school.
    Multiple,
}

/// How candidate lists are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateMode {
    /// Chosen private schools and zone schools, then public schools of the district by
    /// distance within the overflow radius (统筹安排). Default.
    #[default]
    ZoneThenOverflow,
    /// Only the applicant's `choices`, in order: a pure choice market.
    Choices,
}

/// Who the final placement pass (统筹 beyond the radius) serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guarantee {
    /// Every applicant still unplaced gets the nearest public seat left in the district.
    All,
    /// Local applicants and eligible migrant applicants only (应收尽收). The default with
    /// `candidates = "zone_then_overflow"`.
    #[default]
    Eligible,
    /// No final pass: applicants may remain unplaced. The default with
    /// `candidates = "choices"` (a pure choice market places nobody outside their list).
    None,
}

/// A numeric applicant attribute read by conditions, orders and points.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attribute {
    /// `years_at_address`.
    YearsAtAddress,
    /// `residence_permit_months`.
    ResidencePermitMonths,
    /// `social_insurance_months`.
    SocialInsuranceMonths,
    /// The migrant points total.
    Points,
    /// Distance in metres from home to the school in question.
    DistanceM,
    /// Any other numeric column of `students.csv`.
    Extra(String),
}

impl Attribute {
    fn parse(name: &str) -> Attribute {
        match name {
            "years_at_address" => Attribute::YearsAtAddress,
            "residence_permit_months" => Attribute::ResidencePermitMonths,
            "social_insurance_months" => Attribute::SocialInsuranceMonths,
            "points" => Attribute::Points,
            "distance" | "distance_m" => Attribute::DistanceM,
            other => Attribute::Extra(other.to_string()),
        }
    }

    /// The name as written in files.
    pub fn name(&self) -> &str {
        match self {
            Attribute::YearsAtAddress => "years_at_address",
            Attribute::ResidencePermitMonths => "residence_permit_months",
            Attribute::SocialInsuranceMonths => "social_insurance_months",
            Attribute::Points => "points",
            Attribute::DistanceM => "distance_m",
            Attribute::Extra(name) => name,
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `<`
    Lt,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl CmpOp {
    /// Applies the comparison; a missing value (NaN) never satisfies it.
    pub fn holds(self, a: f64, b: f64) -> bool {
        if a.is_nan() {
            return false;
        }
        match self {
            CmpOp::Ge => a >= b,
            CmpOp::Gt => a > b,
            CmpOp::Le => a <= b,
            CmpOp::Lt => a < b,
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
        }
    }
}

/// One condition of a tier, evaluated for an applicant at a given school.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The home block is in this school's zone.
    HomeInZone,
    /// Home in this school's zone and the hukou registered there.
    HukouInZone,
    /// The family owns the home.
    OwnsHome,
    /// The home's property has not given a seat of this stage within the lock years.
    NoSeatLock,
    /// The home's property is seat-locked.
    SeatLocked,
    /// A migrant worker's child.
    Migrant,
    /// Not a migrant.
    Local,
    /// A migrant applicant meeting the eligibility thresholds.
    MigrantEligible,
    /// This junior school is the feeder of the applicant's primary school (对口直升).
    Feeder,
    /// The family listed this school in `choices`.
    Chose,
    /// A comparison of a numeric attribute with a constant.
    Compare(Attribute, CmpOp, f64),
    /// Negation.
    Not(Box<Condition>),
}

const CONDITION_NAMES: &str = "home_in_zone, hukou_in_zone, owns_home, no_seat_lock, seat_locked, migrant, local, migrant_eligible, feeder, chose, comparisons like \"years_at_address >= 3\", and \"not <condition>\"";

impl Condition {
    /// Parses a condition as written in `policy.toml`.
    pub fn parse(text: &str) -> Result<Condition, String> {
        let t = text.trim();
        if let Some(rest) = t.strip_prefix("not ").or_else(|| t.strip_prefix('!')) {
            return Ok(Condition::Not(Box::new(Condition::parse(rest)?)));
        }
        for (sym, op) in [
            (">=", CmpOp::Ge),
            ("<=", CmpOp::Le),
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            (">", CmpOp::Gt),
            ("<", CmpOp::Lt),
        ] {
            if let Some((lhs, rhs)) = t.split_once(sym) {
                let lhs = lhs.trim();
                if lhs.is_empty() || !lhs.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!("\"{lhs}\" is not an attribute name"));
                }
                let value: f64 = rhs
                    .trim()
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| format!("\"{}\" is not a finite number", rhs.trim()))?;
                return Ok(Condition::Compare(Attribute::parse(lhs), op, value));
            }
        }
        Ok(match t {
            "home_in_zone" => Condition::HomeInZone,
            "hukou_in_zone" => Condition::HukouInZone,
            "owns_home" => Condition::OwnsHome,
            "no_seat_lock" => Condition::NoSeatLock,
            "seat_locked" | "seat_lock" => Condition::SeatLocked,
            "migrant" => Condition::Migrant,
            "local" => Condition::Local,
            "migrant_eligible" => Condition::MigrantEligible,
            "feeder" => Condition::Feeder,
            "chose" => Condition::Chose,
            other => return Err(format!("unknown condition \"{other}\"; known: {CONDITION_NAMES}")),
        })
    }

    fn attributes<'a>(&'a self, out: &mut Vec<&'a Attribute>) {
        match self {
            Condition::Compare(a, _, _) => out.push(a),
            Condition::Not(c) => c.attributes(out),
            _ => {}
        }
    }
}

/// The attributes every applicant has without a students.csv column of that name.
pub const BUILTIN_ATTRIBUTES: &[&str] = &[
    "points",
    "distance_m",
    "years_at_address",
    "residence_permit_months",
    "social_insurance_months",
];

/// The built-in attribute within two edits of `name`, if any (a typo's likely intent).
fn closest_builtin(name: &str) -> Option<&'static str> {
    BUILTIN_ATTRIBUTES
        .iter()
        .map(|b| (edit_distance(name, b), *b))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, b)| b)
}

/// Levenshtein distance in characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != b[j])).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// One key of an in-tier order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    /// The attribute compared.
    pub attribute: Attribute,
    /// Larger values first.
    pub descending: bool,
}

impl OrderKey {
    fn parse(text: &str) -> Result<OrderKey, String> {
        let mut words = text.split_whitespace();
        let name = words.next().ok_or("empty order key")?;
        let attribute = Attribute::parse(name);
        let descending = match words.next() {
            None => attribute != Attribute::DistanceM,
            Some("desc") => true,
            Some("asc") => false,
            Some(other) => return Err(format!("\"{other}\" is not a direction; use asc or desc")),
        };
        if words.next().is_some() {
            return Err("write one attribute and an optional direction, e.g. \"points desc\"".into());
        }
        Ok(OrderKey { attribute, descending })
    }
}

/// A priority tier: the first tier whose conditions all hold ranks the applicant.
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    /// Display name, e.g. 房户一致.
    pub name: String,
    /// The stages the tier applies to (all when the file does not say).
    pub stages: Vec<Stage>,
    /// Conditions, all of which must hold.
    pub all: Vec<Condition>,
    /// In-tier order before the lottery. `distance` may only come first.
    pub order_by: Vec<OrderKey>,
}

impl Tier {
    /// True when the tier reads the home-to-school distance (a condition or its order).
    pub fn uses_distance(&self) -> bool {
        fn reads(c: &Condition) -> bool {
            match c {
                Condition::Compare(a, _, _) => *a == Attribute::DistanceM,
                Condition::Not(inner) => reads(inner),
                _ => false,
            }
        }
        self.all.iter().any(reads) || self.order_by.iter().any(|k| k.attribute == Attribute::DistanceM)
    }

    /// True when the tier's conditions see the school only through the zone test
    /// (`home_in_zone`, `hukou_in_zone`): no `feeder`, `chose` or distance condition. An
    /// applicant then falls in the same tier at every school inside their zone, and in the
    /// same tier at every school outside it.
    pub fn school_only_through_zone(&self) -> bool {
        fn zone_only(c: &Condition) -> bool {
            match c {
                Condition::Feeder | Condition::Chose => false,
                Condition::Compare(a, _, _) => *a != Attribute::DistanceM,
                Condition::Not(inner) => zone_only(inner),
                _ => true,
            }
        }
        self.all.iter().all(zone_only)
    }
}

/// Seat-lock years per stage (学位锁定).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeatLock {
    /// Years a property stays locked after giving a kindergarten place (default 0: none).
    pub kindergarten_years: u32,
    /// Years after a primary seat (default 6).
    pub primary_years: u32,
    /// Years after a junior seat (default 3).
    pub junior_years: u32,
}

impl Default for SeatLock {
    fn default() -> Self {
        SeatLock {
            kindergarten_years: 0,
            primary_years: 6,
            junior_years: 3,
        }
    }
}

impl SeatLock {
    /// Lock years of a stage.
    pub fn years(&self, stage: Stage) -> u32 {
        match stage {
            Stage::Kindergarten => self.kindergarten_years,
            Stage::Primary => self.primary_years,
            Stage::Junior => self.junior_years,
        }
    }
}

/// Migrant eligibility and points (随迁子女, 积分入学).
#[derive(Debug, Clone, PartialEq)]
pub struct MigrantRules {
    /// Minimum residence-permit months (default 12).
    pub min_residence_permit_months: f64,
    /// Minimum social-insurance months (default 0: Wuxi dropped the requirement).
    pub min_social_insurance_months: f64,
    /// Points per unit of each attribute.
    pub points: Vec<(Attribute, f64)>,
}

impl Default for MigrantRules {
    fn default() -> Self {
        MigrantRules {
            min_residence_permit_months: 12.0,
            min_social_insurance_months: 0.0,
            points: vec![
                (Attribute::SocialInsuranceMonths, 5.0),
                (Attribute::ResidencePermitMonths, 2.5),
            ],
        }
    }
}

/// Audit switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditRules {
    /// Fail the run when an eligible migrant applicant is left unplaced while their
    /// district still has public seats (应收尽收). Default true.
    pub require_migrant_guarantee: bool,
}

impl Default for AuditRules {
    fn default() -> Self {
        AuditRules {
            require_migrant_guarantee: true,
        }
    }
}

/// The whole rule set.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Matching mechanism.
    pub mechanism: Mechanism,
    /// Single or multiple lottery.
    pub tie_break: TieBreak,
    /// The published lottery seed.
    pub seed: u64,
    /// How candidate lists are built.
    pub candidates: CandidateMode,
    /// Radius of overflow candidates in metres (default 3000).
    pub overflow_radius_m: u32,
    /// The final placement pass.
    pub guarantee: Guarantee,
    /// At most this many `choices` are read (0 = all; default 0).
    pub max_choices: u32,
    /// The global order of serial dictatorship before the lottery (default: lottery only).
    pub serial_order: Vec<OrderKey>,
    /// Seat locks.
    pub seat_lock: SeatLock,
    /// Migrant rules.
    pub migrant: MigrantRules,
    /// Priority tiers, best first.
    pub tiers: Vec<Tier>,
    /// Audit switches.
    pub audit: AuditRules,
    /// 学位预警 thresholds (`[seat_warning]`).
    pub seat_warning: crate::warning::SeatWarning,
    /// Where the policy first names each non-standard attribute (a students.csv column), so
    /// a missing column is reported at the policy's line rather than as a students.csv one.
    pub(crate) attribute_sites: BTreeMap<String, Diagnostic>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            mechanism: Mechanism::default(),
            tie_break: TieBreak::default(),
            seed: DEFAULT_SEED,
            candidates: CandidateMode::default(),
            overflow_radius_m: 3000,
            guarantee: Guarantee::default(),
            max_choices: 0,
            serial_order: Vec::new(),
            seat_lock: SeatLock::default(),
            migrant: MigrantRules::default(),
            tiers: default_tiers(),
            audit: AuditRules::default(),
            seat_warning: crate::warning::SeatWarning::default(),
            attribute_sites: BTreeMap::new(),
        }
    }
}

/// The lottery seed when the policy names none.
pub const DEFAULT_SEED: u64 = 20260701;

fn default_tiers() -> Vec<Tier> {
    let t = |name: &str, stages: &[Stage], all: &[Condition], order_by: Vec<OrderKey>| Tier {
        name: name.to_string(),
        stages: stages.to_vec(),
        all: all.to_vec(),
        order_by,
    };
    use Condition::*;
    vec![
        t("对口直升", &[Stage::Junior], &[Feeder], vec![]),
        t(
            "房户一致",
            &Stage::ALL,
            &[HomeInZone, HukouInZone, OwnsHome, NoSeatLock],
            vec![],
        ),
        t(
            "随迁子女",
            &Stage::ALL,
            &[HomeInZone, MigrantEligible],
            vec![OrderKey {
                attribute: Attribute::Points,
                descending: true,
            }],
        ),
        t("学区内其他", &Stage::ALL, &[HomeInZone], vec![]),
        t("其他", &Stage::ALL, &[], vec![]),
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    mechanism: Mechanism,
    #[serde(default)]
    tie_break: TieBreak,
    seed: Option<u64>,
    #[serde(default)]
    candidates: CandidateMode,
    overflow_radius_m: Option<u32>,
    guarantee: Option<Guarantee>,
    #[serde(default)]
    max_choices: u32,
    #[serde(default)]
    serial_order: Vec<Spanned<String>>,
    #[serde(default)]
    seat_lock: SeatLock,
    migrant: Option<MigrantFile>,
    #[serde(default, rename = "tier")]
    tiers: Vec<TierFile>,
    #[serde(default)]
    audit: AuditRules,
    #[serde(default)]
    seat_warning: crate::warning::SeatWarning,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MigrantFile {
    min_residence_permit_months: Option<Spanned<f64>>,
    min_social_insurance_months: Option<Spanned<f64>>,
    points: Option<BTreeMap<String, Spanned<f64>>>,
}

/// Largest accepted eligibility threshold, in months (100 years).
const MAX_THRESHOLD_MONTHS: f64 = 1200.0;
/// Largest accepted points weight, in absolute value.
const MAX_POINTS_WEIGHT: f64 = 1.0e6;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TierFile {
    name: String,
    stages: Option<Vec<Stage>>,
    #[serde(default)]
    all: Vec<Spanned<String>>,
    /// A string or an array of strings.
    order_by: Option<Spanned<toml::Value>>,
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (u64, usize) {
    crate::io::toml_file::line_col(text, offset)
}

impl Policy {
    /// Parses `policy.toml` text. `file` names the file in diagnostics.
    pub fn from_toml(text: &str, file: &str) -> Result<Policy, Diagnostics> {
        let mut diags = Diagnostics::default();
        let parsed: PolicyFile = match toml::from_str(text) {
            Ok(p) => p,
            Err(e) => {
                let mut d = Diagnostic::file(
                    file,
                    e.message().to_string(),
                    "see docs/policy.md for every key and its default",
                );
                if let Some(span) = e.span() {
                    let (line, col) = line_col(text, span.start);
                    d.line = Some(line);
                    d.column = Some(col);
                    d.value = Some(text[span.clone()].chars().take(60).collect());
                }
                diags.push(d);
                return Err(diags);
            }
        };
        let at = |span: std::ops::Range<usize>, field: &str, value: &str, msg: String, hint: &str| {
            let (line, col) = line_col(text, span.start);
            Diagnostic::file(file, msg, hint)
                .at_line(line)
                .at_field(Some(col), field)
                .with_value(value)
        };

        let mut sites: BTreeMap<String, Diagnostic> = BTreeMap::new();
        let mut policy = Policy {
            mechanism: parsed.mechanism,
            tie_break: parsed.tie_break,
            seed: parsed.seed.unwrap_or(DEFAULT_SEED),
            candidates: parsed.candidates,
            overflow_radius_m: parsed.overflow_radius_m.unwrap_or(3000),
            guarantee: parsed.guarantee.unwrap_or(match parsed.candidates {
                CandidateMode::ZoneThenOverflow => Guarantee::Eligible,
                CandidateMode::Choices => Guarantee::None,
            }),
            max_choices: parsed.max_choices,
            serial_order: Vec::new(),
            seat_lock: parsed.seat_lock,
            migrant: MigrantRules::default(),
            tiers: Vec::new(),
            audit: parsed.audit,
            seat_warning: parsed.seat_warning,
            attribute_sites: BTreeMap::new(),
        };
        let mut site = |name: &Attribute, span: std::ops::Range<usize>, field: &str, value: &str| {
            if let Attribute::Extra(n) = name {
                let (line, col) = line_col(text, span.start);
                let near = closest_builtin(n);
                sites.entry(n.clone()).or_insert_with(|| {
                    Diagnostic::file(
                        file,
                        format!("the policy reads a students.csv column \"{n}\" that the file does not have"),
                        match near {
                            Some(b) => format!(
                                "did you mean the built-in attribute {b}? Otherwise add the column to students.csv"
                            ),
                            None => format!(
                                "add the column to students.csv, or use a built-in attribute: {}",
                                BUILTIN_ATTRIBUTES.join(", ")
                            ),
                        },
                    )
                    .at_line(line)
                    .at_field(Some(col), field)
                    .with_value(value)
                });
            }
        };
        for key in &parsed.serial_order {
            match OrderKey::parse(key.get_ref()) {
                Ok(k) if k.attribute == Attribute::DistanceM => diags.push(at(
                    key.span(),
                    "serial_order",
                    key.get_ref(),
                    "distance differs per school and cannot order students globally".into(),
                    "use a per-student attribute such as a score column",
                )),
                Ok(k) => {
                    site(&k.attribute, key.span(), "serial_order", key.get_ref());
                    policy.serial_order.push(k)
                }
                Err(msg) => diags.push(at(
                    key.span(),
                    "serial_order",
                    key.get_ref(),
                    msg,
                    "e.g. \"score desc\"",
                )),
            }
        }
        if let Some(m) = parsed.migrant {
            let mut threshold = |v: Option<Spanned<f64>>, key: &str, target: &mut f64| {
                if let Some(v) = v {
                    let x = *v.get_ref();
                    if x.is_finite() && (0.0..=MAX_THRESHOLD_MONTHS).contains(&x) {
                        *target = x;
                    } else {
                        diags.push(at(
                            v.span(),
                            key,
                            &x.to_string(),
                            format!("{key} must be a number of months from 0 to {MAX_THRESHOLD_MONTHS}"),
                            "write the months required, e.g. 12",
                        ));
                    }
                }
            };
            threshold(
                m.min_residence_permit_months,
                "migrant.min_residence_permit_months",
                &mut policy.migrant.min_residence_permit_months,
            );
            threshold(
                m.min_social_insurance_months,
                "migrant.min_social_insurance_months",
                &mut policy.migrant.min_social_insurance_months,
            );
            if let Some(points) = m.points {
                let mut weights = Vec::new();
                for (name, w) in points {
                    let x = *w.get_ref();
                    if !x.is_finite() || x.abs() > MAX_POINTS_WEIGHT {
                        diags.push(at(
                            w.span(),
                            &format!("migrant.points.{name}"),
                            &x.to_string(),
                            format!("a points weight must be a finite number within ±{MAX_POINTS_WEIGHT}"),
                            "write the points per unit, e.g. 5",
                        ));
                        continue;
                    }
                    let attribute = Attribute::parse(&name);
                    site(&attribute, w.span(), "migrant.points", &name);
                    weights.push(match name.as_str() {
                        // The spellings of DESIGN.md: per month of insurance, per year of permit.
                        "social_insurance_month" => (Attribute::SocialInsuranceMonths, x),
                        "residence_permit_year" => (Attribute::ResidencePermitMonths, x / 12.0),
                        other => (Attribute::parse(other), x),
                    });
                }
                policy.migrant.points = weights;
                if let Some((a, _)) = policy
                    .migrant
                    .points
                    .iter()
                    .find(|(a, _)| matches!(a, Attribute::Points | Attribute::DistanceM))
                {
                    diags.push(Diagnostic::file(
                        file,
                        format!("[migrant.points] cannot weigh \"{}\"", a.name()),
                        "weigh per-student attributes such as social_insurance_months",
                    ));
                }
            }
        }
        if parsed.tiers.is_empty() {
            policy.tiers = default_tiers();
        }
        for tier in parsed.tiers {
            let mut all = Vec::new();
            for cond in &tier.all {
                match Condition::parse(cond.get_ref()) {
                    Ok(c) => {
                        let mut attrs = Vec::new();
                        c.attributes(&mut attrs);
                        for a in attrs {
                            site(a, cond.span(), "tier.all", cond.get_ref());
                        }
                        all.push(c)
                    }
                    Err(msg) => diags.push(at(
                        cond.span(),
                        "tier.all",
                        cond.get_ref(),
                        msg,
                        "fix the condition (see docs/policy.md)",
                    )),
                }
            }
            let mut keys: Vec<String> = Vec::new();
            let span = tier.order_by.as_ref().map(|v| v.span()).unwrap_or(0..0);
            match tier.order_by.as_ref().map(|v| v.get_ref()) {
                None => {}
                Some(toml::Value::String(k)) => keys.push(k.clone()),
                Some(toml::Value::Array(items)) if items.iter().all(|v| v.is_str()) => {
                    keys.extend(items.iter().filter_map(|v| v.as_str().map(String::from)));
                }
                Some(other) => diags.push(at(
                    span.clone(),
                    "tier.order_by",
                    &format!("{other:?}"),
                    "order_by must be a string or an array of strings".into(),
                    "e.g. order_by = [\"points\"]",
                )),
            }
            let mut order_by = Vec::new();
            for (i, key) in keys.iter().enumerate() {
                match OrderKey::parse(key) {
                    Ok(k) if k.attribute == Attribute::DistanceM && i > 0 => diags.push(at(
                        span.clone(),
                        "tier.order_by",
                        key,
                        "distance may only be the first order key".into(),
                        "move \"distance\" to the front of order_by",
                    )),
                    Ok(k) => {
                        site(&k.attribute, span.clone(), "tier.order_by", key);
                        order_by.push(k)
                    }
                    Err(msg) => diags.push(at(span.clone(), "tier.order_by", key, msg, "e.g. \"points\"")),
                }
            }
            policy.tiers.push(Tier {
                name: tier.name,
                stages: tier.stages.unwrap_or_else(|| Stage::ALL.to_vec()),
                all,
                order_by,
            });
        }
        policy.attribute_sites = sites;
        if policy.tiers.len() > 1000 {
            diags.push(Diagnostic::file(file, "more than 1000 tiers", "merge tiers"));
        }
        if diags.is_empty() { Ok(policy) } else { Err(diags) }
    }

    /// The tiers that apply to a stage, in priority order.
    pub fn tiers_for(&self, stage: Stage) -> Vec<&Tier> {
        self.tiers.iter().filter(|t| t.stages.contains(&stage)).collect()
    }

    /// Names of non-standard `students.csv` columns the policy reads.
    pub fn extra_attributes(&self) -> Vec<String> {
        let mut attrs: Vec<&Attribute> = Vec::new();
        for tier in &self.tiers {
            for c in &tier.all {
                c.attributes(&mut attrs);
            }
            attrs.extend(tier.order_by.iter().map(|k| &k.attribute));
        }
        attrs.extend(self.serial_order.iter().map(|k| &k.attribute));
        attrs.extend(self.migrant.points.iter().map(|(a, _)| a));
        let mut names: Vec<String> = attrs
            .into_iter()
            .filter_map(|a| match a {
                Attribute::Extra(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_when_empty() {
        let p = Policy::from_toml("", "policy.toml").unwrap();
        assert_eq!(p, Policy::default());
        assert_eq!(p.tiers_for(Stage::Primary).len(), 4);
        assert_eq!(p.tiers_for(Stage::Junior)[0].name, "对口直升");
    }

    #[test]
    fn parses_tiers_and_points() {
        let text = r#"
seed = 7
mechanism = "immediate_acceptance"
[migrant.points]
residence_permit_year = 30
social_insurance_month = 5
[[tier]]
name = "A"
all = ["home_in_zone", "years_at_address >= 3", "not seat_locked"]
order_by = "points"
[[tier]]
name = "B"
stages = ["junior"]
all = ["score > 1"]
order_by = ["distance", "score asc"]
"#;
        let p = Policy::from_toml(text, "policy.toml").unwrap();
        assert_eq!(p.seed, 7);
        assert_eq!(p.mechanism, Mechanism::ImmediateAcceptance);
        assert_eq!(
            p.tiers[0].all[1],
            Condition::Compare(Attribute::YearsAtAddress, CmpOp::Ge, 3.0)
        );
        assert_eq!(p.tiers[0].all[2], Condition::Not(Box::new(Condition::SeatLocked)));
        assert!(p.tiers[0].order_by[0].descending);
        assert!(!p.tiers[1].order_by[0].descending);
        assert_eq!(p.extra_attributes(), vec!["score".to_string()]);
        assert!(p.migrant.points.contains(&(Attribute::ResidencePermitMonths, 2.5)));
        assert_eq!(p.tiers_for(Stage::Primary).len(), 1);
    }

    #[test]
    fn errors_name_line_and_value() {
        let text = "seed = 1\n[[tier]]\nname = \"A\"\nall = [\"home_in_zone\", \"owns_hmoe\"]\n";
        let e = Policy::from_toml(text, "policy.toml").unwrap_err();
        let d = &e.items()[0];
        assert_eq!(d.line, Some(4));
        assert_eq!(d.value.as_deref(), Some("owns_hmoe"));
        assert!(d.message.contains("unknown condition"));

        let e = Policy::from_toml("mechanizm = \"x\"\n", "policy.toml").unwrap_err();
        assert_eq!(e.items()[0].line, Some(1));
        assert!(e.items()[0].message.contains("mechanizm"), "{}", e.items()[0].message);

        let e = Policy::from_toml("mechanism = \"lottery\"\n", "policy.toml").unwrap_err();
        assert!(
            e.items()[0].message.contains("deferred_acceptance"),
            "{}",
            e.items()[0].message
        );
    }
}
