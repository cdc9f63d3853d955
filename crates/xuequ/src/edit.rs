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
//! edit's line; an edit built in code (see [`Edit::close_school`] and its siblings, and
//! [`Scenario::with_edit`](crate::Scenario::with_edit)) is named by its number instead:
//! `edit #3 (built in code)`.
//!
//! ```
//! use xuequ::edit::{Edit, NewSchool};
//! use xuequ::Stage;
//! let edits = vec![
//!     Edit::close_school("P0003"),
//!     Edit::capacity("P0001", 270),
//!     Edit::open_school(
//!         NewSchool::new("P9001", "新城实验小学", "新吴区", Stage::Primary, (120.40, 31.50), 180)
//!             .zone_blocks(["B000077", "B000086"]),
//!     ),
//!     Edit::move_blocks(Stage::Primary, ["B000007"], ["P0002"]),
//!     Edit::policy("overflow_radius_m", 2000),
//! ];
//! assert_eq!(edits[0].origin, xuequ::edit::Origin::Code);
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::crs::Crs;
use crate::error::{Diagnostic, Diagnostics};
use crate::model::{Block, BlockStatus, City, Location, School, Sector, Stage, StageZones};

/// One edit, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    /// What changes.
    pub change: Change,
    /// Where the edit comes from, for messages.
    pub origin: Origin,
}

/// Where an edit comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// An `[[edit]]` table of a scenario file.
    File {
        /// The scenario file that holds the edit.
        file: String,
        /// The edit's line there.
        line: u64,
    },
    /// Built in code: messages name the edit by its number in the scenario's edits.
    Code,
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

/// A school opened by the planner: by an `open_school` edit of a scenario, or by
/// `[[schools.open]]` of `zoning.toml` (there `id` may stand for `school_id`, and `stage`, left
/// out, is the stage being zoned). Build one with [`NewSchool::new`] and the setters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct NewSchool {
    /// Id, unused by any school.
    #[serde(alias = "id")]
    pub school_id: String,
    /// Name (default: the id).
    #[serde(default)]
    pub name: String,
    /// District name.
    pub district: String,
    /// Stage (required in an edit; in `zoning.toml` the stage being zoned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Stage>,
    /// Sector (default public).
    #[serde(default = "public")]
    pub sector: Sector,
    /// Longitude in the scenario's coordinate system.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
    /// Entry-grade seats (or give classes and class_size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// Entry-grade classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<u32>,
    /// Class size (default by stage: 25 kindergarten, 45 primary, 50 junior).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_size: Option<u32>,
    /// For a primary school: its paired junior school.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feeder_junior_id: Option<String>,
    /// Blocks whose zone for this stage becomes this school (edits only: zoning draws the
    /// zones itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zone_blocks: Vec<String>,
}

fn public() -> Sector {
    Sector::Public
}

impl NewSchool {
    /// A public school with its required fields; `location` is `(lon, lat)` in the
    /// scenario's coordinate system. The setters below fill in the rest.
    pub fn new(
        school_id: impl Into<String>,
        name: impl Into<String>,
        district: impl Into<String>,
        stage: Stage,
        location: (f64, f64),
        capacity: u32,
    ) -> NewSchool {
        NewSchool {
            school_id: school_id.into(),
            name: name.into(),
            district: district.into(),
            stage: Some(stage),
            sector: Sector::Public,
            lon: location.0,
            lat: location.1,
            capacity: Some(capacity),
            classes: None,
            class_size: None,
            feeder_junior_id: None,
            zone_blocks: Vec::new(),
        }
    }

    /// Sets the sector.
    pub fn sector(mut self, sector: Sector) -> NewSchool {
        self.sector = sector;
        self
    }

    /// Gives the seats as entry-grade classes × class size (the stage's default size when
    /// `class_size` is `None`) in place of the capacity; later `add_classes` edits count in
    /// these classes.
    pub fn classes(mut self, classes: u32, class_size: Option<u32>) -> NewSchool {
        self.capacity = None;
        self.classes = Some(classes);
        self.class_size = class_size;
        self
    }

    /// Pairs a primary school with its junior school.
    pub fn feeder_junior(mut self, junior_id: impl Into<String>) -> NewSchool {
        self.feeder_junior_id = Some(junior_id.into());
        self
    }

    /// Blocks whose zone for the school's stage becomes this school.
    pub fn zone_blocks<I: IntoIterator<Item = S>, S: Into<String>>(mut self, blocks: I) -> NewSchool {
        self.zone_blocks = blocks.into_iter().map(Into::into).collect();
        self
    }

    /// The display name: the name, or the id when the name is empty.
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.school_id
        } else {
            &self.name
        }
    }

    /// Entry-grade seats: the capacity, else classes × class size (the stage's default class
    /// size when none is given); `None` when neither is set.
    pub fn seats(&self, stage: Stage) -> Option<u32> {
        match (self.capacity, self.classes) {
            (Some(c), _) => Some(c),
            (None, Some(k)) => Some(k.saturating_mul(self.class_size.unwrap_or_else(|| default_class_size(stage)))),
            (None, None) => None,
        }
    }
}

/// A block added by an edit. Build one with [`NewBlock::new`] and the setters.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
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

impl NewBlock {
    /// A block with no households and no zones yet; `location` is `(lon, lat)` in the
    /// scenario's coordinate system.
    pub fn new(
        block_id: impl Into<String>,
        name: impl Into<String>,
        district: impl Into<String>,
        location: (f64, f64),
    ) -> NewBlock {
        NewBlock {
            block_id: block_id.into(),
            name: name.into(),
            district: district.into(),
            lon: location.0,
            lat: location.1,
            households: 0,
            zones: BTreeMap::new(),
        }
    }

    /// Sets the households.
    pub fn households(mut self, households: u32) -> NewBlock {
        self.households = households;
        self
    }

    /// Sets the block's zone school(s) for a stage.
    pub fn zone<I: IntoIterator<Item = S>, S: Into<String>>(mut self, stage: Stage, schools: I) -> NewBlock {
        self.zones.insert(stage, schools.into_iter().map(Into::into).collect());
        self
    }
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
            "open_school" => {
                let school: NewSchool = value.try_into().map_err(bad)?;
                if school.stage.is_none() {
                    return Err(fail(
                        format!("{kind}: missing field `stage`"),
                        "see the edit reference in docs/files.md",
                    ));
                }
                Change::OpenSchool(school)
            }
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
                if let Some((message, hint)) = policy_problem(&p.set, file) {
                    return Err(fail(message, &hint));
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
            origin: Origin::File {
                file: file.to_string(),
                line,
            },
        })
    }

    /// An edit built in code.
    pub fn new(change: Change) -> Edit {
        Edit {
            change,
            origin: Origin::Code,
        }
    }

    /// Opens a new school.
    pub fn open_school(school: NewSchool) -> Edit {
        Edit::new(Change::OpenSchool(school))
    }

    /// Closes a school: it admits nobody; its zones and feeder links lapse.
    pub fn close_school(school_id: impl Into<String>) -> Edit {
        Edit::new(Change::CloseSchool {
            school_id: school_id.into(),
        })
    }

    /// Sets a school's entry-grade capacity.
    pub fn capacity(school_id: impl Into<String>, capacity: u32) -> Edit {
        Edit::new(Change::SetCapacity {
            school_id: school_id.into(),
            capacity: Some(capacity),
            add_classes: None,
        })
    }

    /// Adds (or, when negative, removes) entry-grade classes of a school.
    pub fn add_classes(school_id: impl Into<String>, classes: i32) -> Edit {
        Edit::new(Change::SetCapacity {
            school_id: school_id.into(),
            capacity: None,
            add_classes: Some(classes),
        })
    }

    /// Adds a residential block.
    pub fn add_block(block: NewBlock) -> Edit {
        Edit::new(Change::AddBlock(block))
    }

    /// Gives blocks new zone school(s) for a stage.
    pub fn move_blocks<B, T>(stage: Stage, blocks: B, to: T) -> Edit
    where
        B: IntoIterator,
        B::Item: Into<String>,
        T: IntoIterator,
        T::Item: Into<String>,
    {
        Edit::new(Change::MoveBlocks {
            stage,
            blocks: blocks.into_iter().map(Into::into).collect(),
            to: to.into_iter().map(Into::into).collect(),
        })
    }

    /// Sets one policy key, merged over `policy.toml`; a dotted key reaches into a table
    /// (`"migrant.min_social_insurance_months"`). The key is checked when the scenario loads.
    pub fn policy(key: &str, value: impl Into<toml::Value>) -> Edit {
        let mut parts = key.rsplit('.');
        let mut set = toml::Table::new();
        set.insert(parts.next().unwrap_or_default().to_string(), value.into());
        for part in parts {
            let mut outer = toml::Table::new();
            outer.insert(part.to_string(), toml::Value::Table(set));
            set = outer;
        }
        Edit::new(Change::Policy(set))
    }

    /// Where messages about the edit point: the scenario file and line, or
    /// `edit #number (built in code)` for an edit built in code (`number` is 1-based, in the
    /// scenario's edits).
    pub fn position(&self, number: usize) -> (String, Option<u64>) {
        match &self.origin {
            Origin::File { file, line } => (file.clone(), Some(*line)),
            Origin::Code => (format!("edit #{number} (built in code)"), None),
        }
    }

    fn diag(&self, number: usize, message: impl Into<String>, hint: impl Into<String>) -> Diagnostic {
        let (file, line) = self.position(number);
        let d = Diagnostic::file(file, message, hint);
        match line {
            Some(line) => d.at_line(line),
            None => d,
        }
        .at_field(None, "edit")
    }
}

/// What is wrong with a policy edit's keys, checked on their own so that a typo is reported at
/// the edit (not in the merged policy text): the message and the fix.
fn policy_problem(set: &toml::Table, file: &str) -> Option<(String, String)> {
    let text = toml::to_string(set).unwrap_or_default();
    let problems = crate::policy::Policy::from_toml(&text, file).err()?;
    let first = problems.items().first()?;
    Some((format!("policy edit: {}", first.message), first.hint.clone()))
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
    let mut sets: Vec<&toml::Table> = Vec::new();
    for (k, e) in edits.iter().enumerate() {
        let Change::Policy(set) = &e.change else { continue };
        // Edits read from a file were checked when read; one built in code is checked here.
        if e.origin == Origin::Code
            && let Some((message, hint)) = policy_problem(set, "policy edit")
        {
            return Err(Box::new(e.diag(k + 1, message, hint)));
        }
        sets.push(set);
    }
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

fn location(edit: &Edit, number: usize, crs: Crs, lon: f64, lat: f64, diags: &mut Diagnostics) -> Option<Location> {
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        diags.push(edit.diag(
            number,
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
    let school = |city: &City, e: &Edit, number: usize, id: &str, diags: &mut Diagnostics| {
        let s = city.school(id);
        if s.is_none() {
            diags.push(e.diag(
                number,
                format!("no school has id \"{id}\""),
                "name a school from schools.csv or one opened by an earlier edit",
            ));
        }
        s
    };
    let block = |city: &City, e: &Edit, number: usize, id: &str, diags: &mut Diagnostics| {
        let b = city.block(id);
        if b.is_none() {
            diags.push(e.diag(
                number,
                format!("no block has id \"{id}\""),
                "name a block from blocks.csv or one added by an earlier edit",
            ));
        }
        b
    };
    for (k, e) in edits.iter().enumerate() {
        let number = k + 1;
        match &e.change {
            Change::Policy(_) => {}
            Change::CloseSchool { school_id } => {
                if let Some(s) = school(city, e, number, school_id, diags) {
                    city.schools[s as usize].closed = true;
                }
            }
            Change::SetCapacity {
                school_id,
                capacity,
                add_classes,
            } => {
                let Some(s) = school(city, e, number, school_id, diags) else {
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
                        number,
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
                        number,
                        format!("school id \"{}\" already exists", n.school_id),
                        "give the new school its own id",
                    ));
                    continue;
                }
                let Some(loc) = location(e, number, crs, n.lon, n.lat, diags) else {
                    continue;
                };
                let Some(stage) = n.stage else {
                    diags.push(e.diag(number, "the new school has no stage", "set stage"));
                    continue;
                };
                let capacity = match n.seats(stage) {
                    Some(c) => c,
                    None => {
                        diags.push(e.diag(
                            number,
                            "the new school has no capacity",
                            "set capacity, or classes (and class_size)",
                        ));
                        continue;
                    }
                };
                let feeder = match &n.feeder_junior_id {
                    None => None,
                    Some(f) => match school(city, e, number, f, diags) {
                        Some(j) if city.schools[j as usize].stage == Stage::Junior => Some(j),
                        Some(_) => {
                            diags.push(e.diag(
                                number,
                                format!("feeder \"{f}\" is not a junior school"),
                                "name a junior school",
                            ));
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
                    stage,
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
                    if let Some(b) = block(city, e, number, b, diags) {
                        blocks.push(b);
                    }
                }
                let pairs = &mut zone_pairs[stage.index()];
                pairs.retain(|(b, _)| !blocks.contains(b));
                pairs.extend(blocks.iter().map(|&b| (b, index)));
            }
            Change::AddBlock(n) => {
                if city.block(&n.block_id).is_some() {
                    diags.push(e.diag(
                        number,
                        format!("block id \"{}\" already exists", n.block_id),
                        "give the new block its own id",
                    ));
                    continue;
                }
                let Some(loc) = location(e, number, crs, n.lon, n.lat, diags) else {
                    continue;
                };
                let d = district(city, &n.district);
                let added = city.add_block(Block {
                    id: n.block_id.clone(),
                    name: n.name.clone(),
                    district: d,
                    location: loc,
                    households: n.households,
                    status: BlockStatus::New,
                    move_in_year: None,
                    planned_households: None,
                });
                // The id was checked above, so the block is added.
                let (Ok(index) | Err(index)) = added;
                for (stage, schools) in &n.zones {
                    for sid in schools {
                        if let Some(s) = school(city, e, number, sid, diags) {
                            zone_pairs[stage.index()].push((index, s));
                        }
                    }
                }
            }
            Change::MoveBlocks { stage, blocks, to } => {
                let targets: Vec<u32> = to.iter().filter_map(|s| school(city, e, number, s, diags)).collect();
                if targets.len() != to.len() {
                    continue;
                }
                if let Some(&bad) = targets.iter().find(|&&s| city.schools[s as usize].stage != *stage) {
                    diags.push(e.diag(
                        number,
                        format!("{} does not admit {stage} pupils", city.schools[bad as usize].id),
                        "move blocks to schools of the edit's stage",
                    ));
                    continue;
                }
                let ids: Vec<u32> = blocks.iter().filter_map(|b| block(city, e, number, b, diags)).collect();
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
