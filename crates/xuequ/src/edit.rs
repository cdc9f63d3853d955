//! Scenario edits: what a planner changes on a base before a run.
//!
//! ```toml
//! [[edit]]
//! kind = "open_school"          # a new school, optionally taking over the zones of some blocks
//! school_id = "P9001"
//! name = "新城实验小学"
//! district = "新吴区"
//! stage = "primary"
//! sector = "public"             # default public
//! lon = 120.40
//! lat = 31.50
//! capacity = 180                # or classes + class_size
//! zone_blocks = ["B000077", "B000086"]
//!
//! [[edit]]
//! kind = "close_school"
//! school_id = "P0003"
//!
//! [[edit]]
//! kind = "set_capacity"
//! school_id = "P0001"
//! add_classes = 2               # or capacity = 270
//!
//! [[edit]]
//! kind = "add_block"
//! block_id = "B900001"
//! name = "万科新城"
//! district = "新吴区"
//! lon = 120.41
//! lat = 31.51
//! households = 1200
//! zones = { primary = ["P9001"], junior = ["J0004"] }
//!
//! [[edit]]
//! kind = "move_blocks"
//! stage = "primary"
//! blocks = ["B000007", "B000008"]
//! to = ["P0002"]                # the blocks' new zone school(s)
//!
//! [[edit]]
//! kind = "policy"               # any policy.toml keys, merged over the policy file
//! set = { overflow_radius_m = 2000, migrant = { min_social_insurance_months = 6 } }
//! ```
//!
//! Edits apply in order, base scenario's first. Every problem names the scenario file and the
//! edit's line.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::crs::Crs;
use crate::error::{Diagnostic, Diagnostics};
use crate::model::{Block, BlockStatus, City, Location, School, Sector, Stage, StageZones};

/// One edit, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    /// What changes.
    pub change: Change,
    /// The scenario file that holds the edit.
    pub file: String,
    /// The edit's line there.
    pub line: u64,
}

/// A change to the city or the rules.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Open a new school.
    OpenSchool(NewSchool),
    /// Close a school: it admits nobody; its zones and feeder links lapse.
    CloseSchool {
        /// The school.
        school_id: String,
    },
    /// Set a school's entry-grade capacity, or add (or remove, when negative) classes.
    SetCapacity {
        /// The school.
        school_id: String,
        /// New capacity.
        capacity: Option<u32>,
        /// Classes to add.
        add_classes: Option<i32>,
    },
    /// Add a residential block.
    AddBlock(NewBlock),
    /// Give blocks new zone schools for a stage.
    MoveBlocks {
        /// The stage whose zones change.
        stage: Stage,
        /// The blocks.
        blocks: Vec<String>,
        /// Their new zone school(s).
        to: Vec<String>,
    },
    /// Policy keys merged over `policy.toml`.
    Policy(toml::Table),
}

/// A school opened by an edit.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSchool {
    /// Id.
    pub school_id: String,
    /// Name.
    pub name: String,
    /// District name.
    pub district: String,
    /// Stage.
    pub stage: Stage,
    /// Sector (default public).
    #[serde(default = "public")]
    pub sector: Sector,
    /// Longitude in the scenario's coordinate system.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
    /// Entry-grade seats (or give classes and class_size).
    pub capacity: Option<u32>,
    /// Entry-grade classes.
    pub classes: Option<u32>,
    /// Class size.
    pub class_size: Option<u32>,
    /// For a primary school: its paired junior school.
    pub feeder_junior_id: Option<String>,
    /// Blocks whose zone for this stage becomes this school.
    #[serde(default)]
    pub zone_blocks: Vec<String>,
}

fn public() -> Sector {
    Sector::Public
}

/// A block added by an edit.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewBlock {
    /// Id.
    pub block_id: String,
    /// Name.
    pub name: String,
    /// District name.
    pub district: String,
    /// Longitude in the scenario's coordinate system.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
    /// Households.
    #[serde(default)]
    pub households: u32,
    /// Zone school ids per stage.
    #[serde(default)]
    pub zones: BTreeMap<Stage, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CloseSchool {
    school_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetCapacity {
    school_id: String,
    capacity: Option<u32>,
    add_classes: Option<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveBlocks {
    stage: Stage,
    blocks: Vec<String>,
    to: OneOrMany,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyEdit {
    set: toml::Table,
}

const KINDS: &str = "open_school, close_school, set_capacity, add_block, move_blocks, policy";

impl Edit {
    /// Reads one `[[edit]]` table.
    pub fn from_table(table: &toml::Table, file: &str, line: u64) -> Result<Edit, Box<Diagnostic>> {
        let fail =
            |msg: String, hint: &str| Box::new(Diagnostic::file(file, msg, hint).at_line(line).at_field(None, "edit"));
        if let Some(bad) = control_character(&toml::Value::Table(table.clone())) {
            return Err(fail(
                format!("a text value holds a control character (U+{:04X})", bad as u32),
                "remove it: ids and names may not hold control characters",
            ));
        }
        let mut rest = table.clone();
        let kind = match rest.remove("kind") {
            Some(toml::Value::String(k)) => k,
            Some(other) => return Err(fail(format!("kind must be a string, not {other}"), KINDS)),
            None => {
                return Err(fail(
                    "the edit has no kind".into(),
                    &format!("add kind = one of {KINDS}"),
                ));
            }
        };
        let value = toml::Value::Table(rest);
        let bad = |e: toml::de::Error| {
            fail(
                format!("{kind}: {}", e.message()),
                "see the edit reference in docs/files.md",
            )
        };
        let change = match kind.as_str() {
            "open_school" => Change::OpenSchool(value.try_into().map_err(bad)?),
            "close_school" => {
                let c: CloseSchool = value.try_into().map_err(bad)?;
                Change::CloseSchool { school_id: c.school_id }
            }
            "set_capacity" => {
                let c: SetCapacity = value.try_into().map_err(bad)?;
                if c.capacity.is_some() == c.add_classes.is_some() {
                    return Err(fail(
                        "set_capacity needs exactly one of capacity and add_classes".into(),
                        "e.g. add_classes = 2",
                    ));
                }
                Change::SetCapacity {
                    school_id: c.school_id,
                    capacity: c.capacity,
                    add_classes: c.add_classes,
                }
            }
            "add_block" => Change::AddBlock(value.try_into().map_err(bad)?),
            "move_blocks" => {
                let m: MoveBlocks = value.try_into().map_err(bad)?;
                let to = match m.to {
                    OneOrMany::One(s) => vec![s],
                    OneOrMany::Many(v) => v,
                };
                Change::MoveBlocks {
                    stage: m.stage,
                    blocks: m.blocks,
                    to,
                }
            }
            "policy" => {
                let p: PolicyEdit = value.try_into().map_err(bad)?;
                // The keys are checked here, on their own, so that a typo is reported at
                // this edit's line of the scenario file (not in the merged policy text).
                let text = toml::to_string(&p.set).unwrap_or_default();
                if let Err(problems) = crate::policy::Policy::from_toml(&text, file) {
                    let first = problems.items().first().map(|d| (d.message.clone(), d.hint.clone()));
                    if let Some((message, hint)) = first {
                        return Err(fail(format!("policy edit: {message}"), &hint));
                    }
                }
                Change::Policy(p.set)
            }
            other => {
                return Err(fail(
                    format!("unknown edit kind \"{other}\""),
                    &format!("use one of {KINDS}"),
                ));
            }
        };
        Ok(Edit {
            change,
            file: file.to_string(),
            line,
        })
    }

    fn diag(&self, message: impl Into<String>, hint: impl Into<String>) -> Diagnostic {
        Diagnostic::file(&self.file, message, hint)
            .at_line(self.line)
            .at_field(None, "edit")
    }
}

/// Deep-merges `over` into `base` (tables merge, anything else replaces).
pub fn merge_tables(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The first control character in any string of a TOML value.
fn control_character(v: &toml::Value) -> Option<char> {
    match v {
        toml::Value::String(s) => s.chars().find(|c| c.is_control()),
        toml::Value::Array(a) => a.iter().find_map(control_character),
        toml::Value::Table(t) => t
            .iter()
            .find_map(|(k, v)| k.chars().find(|c| c.is_control()).or_else(|| control_character(v))),
        _ => None,
    }
}

/// The policy text with every policy edit merged over it (`None` when there is none).
pub fn edited_policy(policy_text: &str, edits: &[Edit]) -> Result<Option<String>, Box<Diagnostic>> {
    let sets: Vec<&toml::Table> = edits
        .iter()
        .filter_map(|e| match &e.change {
            Change::Policy(t) => Some(t),
            _ => None,
        })
        .collect();
    if sets.is_empty() {
        return Ok(None);
    }
    let mut table: toml::Table = toml::from_str(policy_text).map_err(|e| {
        Box::new(Diagnostic::file(
            "policy.toml",
            e.message().to_string(),
            "fix the policy file",
        ))
    })?;
    for s in sets {
        merge_tables(&mut table, s);
    }
    Ok(Some(toml::to_string(&table).unwrap_or_default()))
}

fn default_class_size(stage: Stage) -> u32 {
    match stage {
        Stage::Kindergarten => 25,
        Stage::Primary => 45,
        Stage::Junior => 50,
    }
}

fn district(city: &mut City, name: &str) -> u32 {
    if let Some(i) = city.districts.iter().position(|d| d == name) {
        return i as u32;
    }
    city.districts.push(name.to_string());
    (city.districts.len() - 1) as u32
}

fn location(edit: &Edit, crs: Crs, lon: f64, lat: f64, diags: &mut Diagnostics) -> Option<Location> {
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        diags.push(edit.diag(
            format!("coordinates ({lon}, {lat}) are out of range"),
            "check that lon and lat are not swapped",
        ));
        return None;
    }
    let (lon, lat) = crs.to_wgs84(lon, lat);
    Some(Location::from_wgs84(lon, lat))
}

/// Applies the city edits (schools, blocks, zones) in order; policy edits are applied by
/// [`edited_policy`].
pub fn apply_city_edits(city: &mut City, edits: &[Edit], crs: Crs, diags: &mut Diagnostics) {
    if edits.iter().all(|e| matches!(e.change, Change::Policy(_))) {
        return;
    }
    // Zones as editable pairs, rebuilt once at the end.
    let mut zone_pairs: [Vec<(u32, u32)>; 3] = Default::default();
    for stage in Stage::ALL {
        let z = city.zones(stage);
        for b in 0..city.blocks.len() as u32 {
            for &s in z.schools_of(b) {
                zone_pairs[stage.index()].push((b, s));
            }
        }
    }
    let school = |city: &City, e: &Edit, id: &str, diags: &mut Diagnostics| {
        let s = city.school(id);
        if s.is_none() {
            diags.push(e.diag(
                format!("no school has id \"{id}\""),
                "name a school from schools.csv or one opened by an earlier edit",
            ));
        }
        s
    };
    let block = |city: &City, e: &Edit, id: &str, diags: &mut Diagnostics| {
        let b = city.block(id);
        if b.is_none() {
            diags.push(e.diag(
                format!("no block has id \"{id}\""),
                "name a block from blocks.csv or one added by an earlier edit",
            ));
        }
        b
    };
    for e in edits {
        match &e.change {
            Change::Policy(_) => {}
            Change::CloseSchool { school_id } => {
                if let Some(s) = school(city, e, school_id, diags) {
                    city.schools[s as usize].closed = true;
                }
            }
            Change::SetCapacity {
                school_id,
                capacity,
                add_classes,
            } => {
                let Some(s) = school(city, e, school_id, diags) else {
                    continue;
                };
                let sc = &mut city.schools[s as usize];
                let new = match (capacity, add_classes) {
                    (Some(c), _) => i64::from(*c),
                    (None, Some(k)) => {
                        let size = sc.class_size.unwrap_or_else(|| default_class_size(sc.stage));
                        sc.classes = sc.classes.map(|c| (i64::from(c) + i64::from(*k)).max(0) as u32);
                        i64::from(sc.capacity) + i64::from(*k) * i64::from(size)
                    }
                    (None, None) => i64::from(sc.capacity),
                };
                if new < i64::from(sc.purchased_seats) || new > i64::from(u32::MAX) {
                    diags.push(e.diag(
                        format!("the new capacity {new} of {school_id} is below its purchased seats or out of range"),
                        "keep the capacity at least the purchased seats",
                    ));
                    continue;
                }
                sc.capacity = new as u32;
            }
            Change::OpenSchool(n) => {
                if city.school(&n.school_id).is_some() {
                    diags.push(e.diag(
                        format!("school id \"{}\" already exists", n.school_id),
                        "give the new school its own id",
                    ));
                    continue;
                }
                let Some(loc) = location(e, crs, n.lon, n.lat, diags) else {
                    continue;
                };
                let capacity = match (n.capacity, n.classes) {
                    (Some(c), _) => c,
                    (None, Some(k)) => k * n.class_size.unwrap_or_else(|| default_class_size(n.stage)),
                    (None, None) => {
                        diags.push(e.diag(
                            "the new school has no capacity",
                            "set capacity, or classes (and class_size)",
                        ));
                        continue;
                    }
                };
                let feeder = match &n.feeder_junior_id {
                    None => None,
                    Some(f) => match school(city, e, f, diags) {
                        Some(j) if city.schools[j as usize].stage == Stage::Junior => Some(j),
                        Some(_) => {
                            diags
                                .push(e.diag(format!("feeder \"{f}\" is not a junior school"), "name a junior school"));
                            continue;
                        }
                        None => continue,
                    },
                };
                let d = district(city, &n.district);
                let index = city.schools.len() as u32;
                city.schools.push(School {
                    id: n.school_id.clone(),
                    name: n.name.clone(),
                    district: d,
                    stage: n.stage,
                    sector: n.sector,
                    location: loc,
                    capacity,
                    classes: n.classes,
                    class_size: n.class_size,
                    opens_year: None,
                    feeder_junior: feeder,
                    purchased_seats: 0,
                    closed: false,
                });
                city.school_index.insert(n.school_id.clone(), index);
                let mut blocks = Vec::new();
                for b in &n.zone_blocks {
                    if let Some(b) = block(city, e, b, diags) {
                        blocks.push(b);
                    }
                }
                let pairs = &mut zone_pairs[n.stage.index()];
                pairs.retain(|(b, _)| !blocks.contains(b));
                pairs.extend(blocks.iter().map(|&b| (b, index)));
            }
            Change::AddBlock(n) => {
                if city.block(&n.block_id).is_some() {
                    diags.push(e.diag(
                        format!("block id \"{}\" already exists", n.block_id),
                        "give the new block its own id",
                    ));
                    continue;
                }
                let Some(loc) = location(e, crs, n.lon, n.lat, diags) else {
                    continue;
                };
                let d = district(city, &n.district);
                let index = city.blocks.len() as u32;
                city.blocks.push(Block {
                    id: n.block_id.clone(),
                    name: n.name.clone(),
                    district: d,
                    location: loc,
                    households: n.households,
                    status: BlockStatus::New,
                    move_in_year: None,
                    planned_households: None,
                });
                city.block_index.insert(n.block_id.clone(), index);
                for (stage, schools) in &n.zones {
                    for sid in schools {
                        if let Some(s) = school(city, e, sid, diags) {
                            zone_pairs[stage.index()].push((index, s));
                        }
                    }
                }
            }
            Change::MoveBlocks { stage, blocks, to } => {
                let targets: Vec<u32> = to.iter().filter_map(|s| school(city, e, s, diags)).collect();
                if targets.len() != to.len() {
                    continue;
                }
                if let Some(&bad) = targets.iter().find(|&&s| city.schools[s as usize].stage != *stage) {
                    diags.push(e.diag(
                        format!("{} does not admit {stage} pupils", city.schools[bad as usize].id),
                        "move blocks to schools of the edit's stage",
                    ));
                    continue;
                }
                let ids: Vec<u32> = blocks.iter().filter_map(|b| block(city, e, b, diags)).collect();
                let pairs = &mut zone_pairs[stage.index()];
                pairs.retain(|(b, _)| !ids.contains(b));
                for &b in &ids {
                    pairs.extend(targets.iter().map(|&s| (b, s)));
                }
            }
        }
    }
    for stage in Stage::ALL {
        city.zones[stage.index()] = StageZones::from_pairs(city.blocks.len(), &zone_pairs[stage.index()]);
    }
}
