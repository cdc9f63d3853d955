//! The city and the applicants, with dense integer ids.
//!
//! String ids from the files live only in these tables; everything downstream indexes by
//! position (`u32`). Positions are WGS84 degrees plus earth-centred metres
//! ([`crate::crs::to_ecef`]) computed once on load.

use std::collections::HashMap;

/// A map from string ids to dense indices (FxHash: fast on short ids, and the ids come from
/// the bureau's own files, not from an adversary).
pub type IdIndex = HashMap<String, u32, rustc_hash::FxBuildHasher>;

use serde::{Deserialize, Serialize};

/// A school stage with an entry grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Kindergarten (幼儿园), small class.
    Kindergarten,
    /// Primary school (小学), grade 1.
    Primary,
    /// Junior high school (初中), grade 7.
    Junior,
}

impl Stage {
    /// All stages, youngest first.
    pub const ALL: [Stage; 3] = [Stage::Kindergarten, Stage::Primary, Stage::Junior];

    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Kindergarten => "kindergarten",
            Stage::Primary => "primary",
            Stage::Junior => "junior",
        }
    }

    /// The Chinese name used in reports.
    pub fn chinese(self) -> &'static str {
        match self {
            Stage::Kindergarten => "幼儿园",
            Stage::Primary => "小学",
            Stage::Junior => "初中",
        }
    }

    /// Dense index 0..3.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Compared without case instead of lower-casing into a new string: every row of
        // `students.csv` names a stage.
        let s = s.trim();
        let is = |words: &[&str]| words.iter().any(|w| s.eq_ignore_ascii_case(w));
        if is(&["kindergarten", "幼儿园"]) {
            Ok(Stage::Kindergarten)
        } else if is(&["primary", "小学"]) {
            Ok(Stage::Primary)
        } else if is(&["junior", "初中"]) {
            Ok(Stage::Junior)
        } else {
            Err("use kindergarten, primary or junior".to_string())
        }
    }
}

/// Public (公办) or private (民办).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sector {
    /// Public school: admits by catchment and priority tiers.
    Public,
    /// Private school: admits its own applicants by lottery (公民同招).
    Private,
}

impl Sector {
    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Sector::Public => "public",
            Sector::Private => "private",
        }
    }
}

impl std::str::FromStr for Sector {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let is = |words: &[&str]| words.iter().any(|w| s.eq_ignore_ascii_case(w));
        if is(&["public", "公办"]) {
            Ok(Sector::Public)
        } else if is(&["private", "民办"]) {
            Ok(Sector::Private)
        } else {
            Err("use public or private".to_string())
        }
    }
}

/// A point: WGS84 degrees and earth-centred metres.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Location {
    /// WGS84 longitude, degrees.
    pub lon: f64,
    /// WGS84 latitude, degrees.
    pub lat: f64,
    /// Earth-centred Cartesian metres on the mean sphere.
    pub ecef: [f64; 3],
}

impl Location {
    /// A location from WGS84 degrees.
    pub fn from_wgs84(lon: f64, lat: f64) -> Self {
        Location {
            lon,
            lat,
            ecef: crate::crs::to_ecef(lon, lat),
        }
    }

    /// Great-circle distance in whole metres (the exact millimetres rounded half up, as
    /// [`crate::spatial`] shows every distance).
    pub fn distance_m(&self, other: &Location) -> u32 {
        crate::spatial::metres_of_mm(crate::spatial::straight_mm(self, other))
    }
}

/// A school.
#[derive(Debug, Clone)]
pub struct School {
    /// The id used in files.
    pub id: String,
    /// Display name (Chinese).
    pub name: String,
    /// District index into [`City::districts`].
    pub district: u32,
    /// The stage it admits.
    pub stage: Stage,
    /// Public or private.
    pub sector: Sector,
    /// Where it is.
    pub location: Location,
    /// Entry-grade seats.
    pub capacity: u32,
    /// Entry-grade classes, if given.
    pub classes: Option<u32>,
    /// Class size, if given.
    pub class_size: Option<u32>,
    /// First year it admits, if it is new.
    pub opens_year: Option<i32>,
    /// For a public primary school: its paired junior school (对口直升).
    pub feeder_junior: Option<u32>,
    /// For a private school: seats bought by the government for public-track applicants
    /// (政府购买学位), part of `capacity`.
    pub purchased_seats: u32,
    /// Closed by a scenario edit: admits nobody.
    pub closed: bool,
}

impl School {
    /// True when the school admits this year.
    pub fn is_open(&self, year: i32) -> bool {
        !self.closed && self.opens_year.is_none_or(|y| y <= year)
    }
}

/// Existing or newly built housing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockStatus {
    /// Occupied housing.
    Existing,
    /// New residential block (新建住宅小区) with a move-in schedule.
    New,
}

/// A residential block (小区), the unit of zoning.
#[derive(Debug, Clone)]
pub struct Block {
    /// The id used in files.
    pub id: String,
    /// Display name (Chinese).
    pub name: String,
    /// District index into [`City::districts`].
    pub district: u32,
    /// Where it is.
    pub location: Location,
    /// Occupied households.
    pub households: u32,
    /// Existing or new.
    pub status: BlockStatus,
    /// For new blocks: first move-in year.
    pub move_in_year: Option<i32>,
    /// For new blocks: households when full.
    pub planned_households: Option<u32>,
}

/// Catchment zones of one stage: for every block, its zone schools (several for a
/// multi-school zone, none where the block has no zone).
#[derive(Debug, Clone, Default)]
pub struct StageZones {
    start: Vec<u32>,
    schools: Vec<u32>,
}

impl StageZones {
    /// Builds zones from `(block, school)` pairs; `blocks` is the number of blocks.
    /// Duplicate pairs are kept once; each block's schools keep file order.
    pub fn from_pairs(blocks: usize, pairs: &[(u32, u32)]) -> Self {
        Self::build(blocks, pairs.len(), || pairs.iter().copied())
    }

    /// [`StageZones::from_pairs`] from a loader's `(block, school, line)` rows.
    pub(crate) fn from_rows(blocks: usize, rows: &[(u32, u32, u64)]) -> Self {
        Self::build(blocks, rows.len(), || rows.iter().map(|&(b, s, _)| (b, s)))
    }

    fn build<I: Iterator<Item = (u32, u32)>>(blocks: usize, len: usize, pairs: impl Fn() -> I) -> Self {
        let mut previous = 0u32;
        let by_block = pairs().all(|(b, _)| {
            let sorted = previous <= b && (b as usize) < blocks;
            previous = b;
            sorted
        });
        if by_block {
            return Self::build_sorted(blocks, len, pairs());
        }
        let mut count = vec![0u32; blocks + 1];
        for (b, _) in pairs() {
            count[b as usize + 1] += 1;
        }
        for i in 0..blocks {
            count[i + 1] += count[i];
        }
        let mut fill = count.clone();
        let mut schools = vec![0u32; len];
        for (b, s) in pairs() {
            schools[fill[b as usize] as usize] = s;
            fill[b as usize] += 1;
        }
        // Drop duplicates inside each block, keeping first occurrences.
        let mut start = Vec::with_capacity(blocks + 1);
        let mut dedup = Vec::with_capacity(schools.len());
        start.push(0u32);
        for b in 0..blocks {
            let seg = &schools[count[b] as usize..count[b + 1] as usize];
            let begin = dedup.len();
            for &s in seg {
                if !dedup[begin..].contains(&s) {
                    dedup.push(s);
                }
            }
            start.push(dedup.len() as u32);
        }
        StageZones { start, schools: dedup }
    }

    /// [`StageZones::build`] from pairs in block order (a file sorted by block, the usual
    /// case): one pass, where counting places every pair in a second.
    fn build_sorted(blocks: usize, len: usize, pairs: impl Iterator<Item = (u32, u32)>) -> Self {
        let mut start = Vec::with_capacity(blocks + 1);
        let mut schools = Vec::with_capacity(len);
        start.push(0u32);
        // The block whose schools are being taken, and where they begin.
        let (mut block, mut begin) = (0u32, 0usize);
        for (b, s) in pairs {
            while block < b {
                start.push(schools.len() as u32);
                block += 1;
                begin = schools.len();
            }
            if !schools[begin..].contains(&s) {
                schools.push(s);
            }
        }
        start.resize(blocks + 1, schools.len() as u32);
        StageZones { start, schools }
    }

    /// The zone schools of a block.
    pub fn schools_of(&self, block: u32) -> &[u32] {
        let b = block as usize;
        if b + 1 >= self.start.len() {
            return &[];
        }
        &self.schools[self.start[b] as usize..self.start[b + 1] as usize]
    }

    /// True when no block has a zone school.
    pub(crate) fn is_empty(&self) -> bool {
        self.schools.is_empty()
    }

    /// True when `school` serves `block`.
    pub fn contains(&self, block: u32, school: u32) -> bool {
        self.schools_of(block).contains(&school)
    }
}

/// Schools, blocks and zones.
#[derive(Debug, Clone, Default)]
pub struct City {
    /// District names; blocks and schools refer to them by index.
    pub districts: Vec<String>,
    /// All schools.
    pub schools: Vec<School>,
    /// All blocks.
    pub blocks: Vec<Block>,
    /// Zones per stage, indexed by [`Stage::index`].
    pub zones: [StageZones; 3],
    /// School id to index.
    pub school_index: IdIndex,
    /// Block id to index, over the blocks' own ids (no second copy of each id): found with
    /// [`City::block`], filled by [`City::add_block`].
    block_index: StringTable,
    /// Outlines of the blocks that were given as polygons (GeoJSON or shapefile), in WGS84
    /// degrees, by block index; empty when blocks came as points. A block's
    /// [`Block::location`] is then its polygon's interior point
    /// ([`crate::shapes::interior_point`]).
    pub block_polygons: std::collections::BTreeMap<u32, geo::MultiPolygon<f64>>,
    /// District outlines from `[inputs] districts` (WGS84 degrees), by name; empty without.
    pub district_outlines: Vec<(String, geo::MultiPolygon<f64>)>,
    /// Ids of school and block rows that were rejected while loading (their own problem is
    /// reported once; rows of other files naming them are not reported again).
    pub(crate) rejected: RejectedIds,
    /// Where the loader read each school, block and zone row, so that a later warning can
    /// point at the row without reading the file again.
    pub(crate) lines: InputLines,
}

/// The line of each row the loader accepted from a CSV or workbook table (0: not from a
/// table, e.g. made by an edit or read from a polygon file).
#[derive(Debug, Clone, Default)]
pub(crate) struct InputLines {
    /// By school index.
    pub(crate) schools: Vec<u64>,
    /// By block index.
    pub(crate) blocks: Vec<u64>,
    /// Per stage ([`Stage::index`]): (block, school, line) of every zone row, in file order.
    pub(crate) zones: [Vec<(u32, u32, u64)>; 3],
}

/// School and block ids whose rows were rejected while loading.
#[derive(Debug, Clone, Default)]
pub(crate) struct RejectedIds {
    pub(crate) schools: rustc_hash::FxHashSet<String>,
    pub(crate) blocks: rustc_hash::FxHashSet<String>,
    /// The whole schools file could not be read (every school reference is then moot).
    pub(crate) all_schools: bool,
    /// The whole blocks file could not be read.
    pub(crate) all_blocks: bool,
}

impl RejectedIds {
    /// True when a reference to school `id` is not worth reporting again.
    pub(crate) fn school(&self, id: &str) -> bool {
        self.all_schools || self.schools.contains(id)
    }

    /// True when a reference to block `id` is not worth reporting again.
    pub(crate) fn block(&self, id: &str) -> bool {
        self.all_blocks || self.blocks.contains(id)
    }
}

impl City {
    /// The index of a school id.
    pub fn school(&self, id: &str) -> Option<u32> {
        self.school_index.get(id).copied()
    }

    /// The index of a block id.
    pub fn block(&self, id: &str) -> Option<u32> {
        self.block_index
            .find_hashed(StringTable::hash(id), id, |i| self.block_id(i))
    }

    /// The id of block `i` as the index reads it (none past the end: blocks are added only
    /// by [`City::add_block`], but the vector is public).
    fn block_id(&self, i: u32) -> &str {
        self.blocks.get(i as usize).map_or("", |b| b.id.as_str())
    }

    /// Adds `block` at the end of [`City::blocks`] and finds it by its id from then on, or,
    /// when a block already has that id, changes nothing and returns that block's index as
    /// the error.
    pub fn add_block(&mut self, block: Block) -> Result<u32, u32> {
        self.add_block_hashed(StringTable::hash(&block.id), block)
    }

    /// [`City::add_block`] with the id's [`StringTable::hash`] computed already (by a
    /// loader, in parallel).
    pub(crate) fn add_block_hashed(&mut self, hash: u64, block: Block) -> Result<u32, u32> {
        let index = self.blocks.len() as u32;
        let blocks = &self.blocks;
        let id = block.id.as_str();
        // The table reads only the blocks it already holds.
        let text_of = |i: u32| blocks.get(i as usize).map_or("", |b| b.id.as_str());
        match self.block_index.insert(hash, id, index, text_of) {
            Some(first) => Err(first),
            None => {
                self.blocks.push(block);
                Ok(index)
            }
        }
    }

    /// Sets the id index of every block in [`City::blocks`], built elsewhere (the loader
    /// builds it in one pass, [`StringTable::from_sorted_keys`]).
    pub(crate) fn set_block_index(&mut self, index: StringTable) {
        debug_assert_eq!(index.len(), self.blocks.len());
        self.block_index = index;
    }

    /// Reads the id index where a block id of this hash would go, so that adding it a few
    /// blocks later finds the slot in the cache (see [`StringTable::touch`]).
    pub(crate) fn touch_block(&self, hash: u64) -> u64 {
        self.block_index.touch(hash)
    }

    /// Room for `n` more blocks in [`City::blocks`] and the id index.
    pub fn reserve_blocks(&mut self, n: usize) {
        self.blocks.reserve(n);
        self.block_index.reserve(n);
    }

    /// [`City::block`] for ids that mostly come in the blocks' own order or in runs of one
    /// block (a file sorted by block): tries the block found last and the one after it
    /// before hashing. Ids are unique, so a match is the answer.
    pub(crate) fn block_near(&self, id: &str, last: &mut u32) -> Option<u32> {
        for guess in [*last, last.wrapping_add(1)] {
            if self.blocks.get(guess as usize).is_some_and(|b| b.id == id) {
                *last = guess;
                return Some(guess);
            }
        }
        let found = self.block(id)?;
        *last = found;
        Some(found)
    }

    /// The zones of a stage.
    pub fn zones(&self, stage: Stage) -> &StageZones {
        &self.zones[stage.index()]
    }

    /// The school with id `id` ([`City::school`] gives its index).
    pub fn find_school(&self, id: &str) -> Option<&School> {
        self.schools.get(self.school(id)? as usize)
    }

    /// The block with id `id` ([`City::block`] gives its index).
    pub fn find_block(&self, id: &str) -> Option<&Block> {
        self.blocks.get(self.block(id)? as usize)
    }

    /// The name of district index `district` (as stored in schools and blocks).
    pub fn district_name(&self, district: u32) -> Option<&str> {
        self.districts.get(district as usize).map(String::as_str)
    }
}

/// One applicant for an entry grade. Its id lives in [`Cohort::id`].
#[derive(Debug, Clone)]
pub struct Student {
    /// The stage applied for.
    pub stage: Stage,
    /// Home block index.
    pub block: u32,
    /// Hukou registered in the home block's zone (户籍在学区).
    pub hukou_in_zone: bool,
    /// The family owns the home (有房).
    pub owns_home: bool,
    /// Years living at the address.
    pub years_at_address: f64,
    /// Property index (its id: [`Cohort::property_id`]), for seat locks.
    pub property: Option<u32>,
    /// Migrant worker's child (随迁子女).
    pub migrant: bool,
    /// Months of residence permit (居住证).
    pub residence_permit_months: f64,
    /// Months of social insurance paid locally.
    pub social_insurance_months: f64,
    /// For junior applicants: the primary school attended.
    pub primary_school: Option<u32>,
    /// Range into [`Cohort::choices`]: schools the family chose, most preferred first.
    pub choices: (u32, u32),
}

/// All applicants of a year, plus their seat-lock history.
#[derive(Debug, Clone)]
pub struct Cohort {
    /// Applicants in file order.
    pub students: Vec<Student>,
    /// Every applicant's id, end to end in one buffer (no allocation per applicant).
    pub id_text: String,
    /// Where each id starts in `id_text`; one more entry than applicants.
    pub id_start: Vec<u32>,
    /// Flat storage of every student's chosen school indices.
    pub choices: Vec<u32>,
    /// Every distinct property id, end to end in one buffer (interned: no allocation per
    /// property); [`Cohort::property_id`] reads one.
    pub property_text: String,
    /// Where each property id starts in `property_text`; one more entry than properties.
    pub property_start: Vec<u32>,
    /// Property id to index.
    pub property_index: StringTable,
    /// Seat-lock history: for each property, the (stage, year) seats it already gave.
    pub seat_locks: HashMap<u32, Vec<(Stage, i32)>>,
    /// Extra numeric columns the policy reads, by name: one value per student (NaN = empty).
    pub extra: HashMap<String, Vec<f64>>,
    /// Student id to index.
    pub student_index: StringTable,
}

impl Default for Cohort {
    fn default() -> Self {
        Cohort {
            students: Vec::new(),
            id_text: String::new(),
            id_start: vec![0],
            choices: Vec::new(),
            property_text: String::new(),
            property_start: vec![0],
            property_index: StringTable::default(),
            seat_locks: HashMap::new(),
            extra: HashMap::new(),
            student_index: StringTable::default(),
        }
    }
}

impl Cohort {
    /// The chosen schools of a student, most preferred first.
    pub fn choices_of(&self, student: &Student) -> &[u32] {
        &self.choices[student.choices.0 as usize..(student.choices.0 + student.choices.1) as usize]
    }

    /// The id of applicant `i`.
    pub fn id(&self, i: usize) -> &str {
        &self.id_text[self.id_start[i] as usize..self.id_start[i + 1] as usize]
    }

    /// The index of a property id.
    pub fn property(&self, id: &str) -> Option<u32> {
        self.property_index
            .find_hashed(StringTable::hash(id), id, |i| self.property_id(i as usize))
    }

    /// The id of property `i`.
    pub fn property_id(&self, i: usize) -> &str {
        &self.property_text[self.property_start[i] as usize..self.property_start[i + 1] as usize]
    }

    /// Number of distinct property ids.
    pub fn property_count(&self) -> usize {
        self.property_start.len() - 1
    }

    /// The index of a student id.
    pub fn student(&self, id: &str) -> Option<u32> {
        self.student_index
            .find_hashed(StringTable::hash(id), id, |i| self.id(i as usize))
    }

    /// The applicant with id `id` ([`Cohort::student`] gives its index).
    pub fn find_student(&self, id: &str) -> Option<&Student> {
        self.students.get(self.student(id)? as usize)
    }
}

/// A hash index from strings stored elsewhere (e.g. each student's own id) to their
/// positions: unlike a map with `String` keys it keeps no second copy of the text.
///
/// Open addressing with linear probing over 8-byte slots, each holding 32 bits of the
/// string's hash and its position: a lookup usually reads one cache line, compares the
/// text only when those 32 bits match, and the table grows without re-reading any text.
/// Building a table of ten million ids is bound by cache misses, so a loader can
/// [`StringTable::touch`] the slot of a row it will insert a few rows later.
#[derive(Debug, Clone, Default)]
pub struct StringTable {
    /// `EMPTY`, or the high 32 bits of the hash above the position.
    slots: Vec<u64>,
    len: usize,
}

impl StringTable {
    const EMPTY: u64 = u64::MAX;

    /// The hash used by the table (FxHash).
    pub fn hash(text: &str) -> u64 {
        use std::hash::BuildHasher;
        rustc_hash::FxBuildHasher.hash_one(text)
    }

    /// The 32 hash bits a slot keeps (the table's position comes from their top bits).
    fn tag(hash: u64) -> u64 {
        hash >> 32
    }

    fn start(&self, tag: u64) -> usize {
        // The top bits of the tag: `slots.len()` is a power of two of at most 2^32.
        let bits = self.slots.len().trailing_zeros();
        ((tag << 32) >> (64 - bits.max(1))) as usize & (self.slots.len() - 1)
    }

    /// Room for `n` more entries (growing re-reads no text: slots keep their hash bits).
    pub fn reserve(&mut self, n: usize) {
        self.grow_for(self.len + n);
    }

    /// At most three quarters full with `entries`.
    fn grow_for(&mut self, entries: usize) {
        let wanted = (entries.saturating_mul(4) / 3 + 1).next_power_of_two().max(16);
        if wanted <= self.slots.len() {
            return;
        }
        let old = std::mem::replace(&mut self.slots, vec![Self::EMPTY; wanted]);
        let mask = wanted - 1;
        for slot in old.into_iter().filter(|&s| s != Self::EMPTY) {
            let mut at = self.start(slot >> 32);
            while self.slots[at] != Self::EMPTY {
                at = (at + 1) & mask;
            }
            self.slots[at] = slot;
        }
    }

    /// What a slot holds for a string of this hash at `position`. Sorted, such keys are in
    /// the order of the slots they start their search at.
    pub(crate) fn key(hash: u64, position: u32) -> u64 {
        (Self::tag(hash) << 32) | u64::from(position)
    }

    /// The table of distinct strings given by their sorted [`StringTable::key`]s; it finds
    /// each as a table filled by [`StringTable::insert`] one string at a time does. Filled
    /// front to back in the order of the slots (a run of keys takes the slots after its
    /// first one's start), where inserting in file order touched the slots at random.
    pub(crate) fn from_sorted_keys(keys: &[u64]) -> Self {
        let mut table = StringTable::default();
        table.grow_for(keys.len());
        let mask = table.slots.len() - 1;
        // The first slot after those taken so far.
        let mut free = 0usize;
        // Keys pushed past the last slot wrap to the front, as probing does.
        let mut wrapped = Vec::new();
        for &key in keys {
            let at = table.start(key >> 32).max(free);
            if at > mask {
                wrapped.push(key);
                continue;
            }
            table.slots[at] = key;
            free = at + 1;
        }
        for key in wrapped {
            let mut at = table.start(key >> 32);
            while table.slots[at] != Self::EMPTY {
                at = (at + 1) & mask;
            }
            table.slots[at] = key;
        }
        table.len = keys.len();
        table
    }

    /// The slot `hash` starts its search at, read now so that a later [`StringTable::insert`]
    /// of the same string finds it in the cache (returns the slot; fold it into anything).
    pub fn touch(&self, hash: u64) -> u64 {
        match self.slots.is_empty() {
            true => 0,
            false => self.slots[self.start(Self::tag(hash))],
        }
    }

    /// The position of `text`, where `text_of` gives the text at a position.
    pub fn find<'a>(&self, text: &str, text_of: impl Fn(u32) -> &'a String) -> Option<u32> {
        self.find_hashed(Self::hash(text), text, |i| text_of(i).as_str())
    }

    /// [`StringTable::find`] with a precomputed hash.
    pub fn find_hashed<'a>(&self, hash: u64, text: &str, text_of: impl Fn(u32) -> &'a str) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        self.probe(hash, text, text_of).ok()
    }

    /// Where `text` is (`Ok(position)`), or the empty slot its insertion takes (`Err`).
    /// The table must have a slot.
    fn probe<'a>(&self, hash: u64, text: &str, text_of: impl Fn(u32) -> &'a str) -> Result<u32, usize> {
        let tag = Self::tag(hash);
        let mask = self.slots.len() - 1;
        let mut at = self.start(tag);
        loop {
            let slot = self.slots[at];
            if slot == Self::EMPTY {
                return Err(at);
            }
            if slot >> 32 == tag && text_of(slot as u32) == text {
                return Ok(slot as u32);
            }
            at = (at + 1) & mask;
        }
    }

    /// Inserts position `index` for `text` unless the text is present; returns the position
    /// already holding it, if any.
    pub fn insert<'a>(&mut self, hash: u64, text: &str, index: u32, text_of: impl Fn(u32) -> &'a str) -> Option<u32> {
        self.grow_for(self.len + 1);
        match self.probe(hash, text, text_of) {
            Ok(found) => Some(found),
            Err(at) => {
                self.slots[at] = (Self::tag(hash) << 32) | u64::from(index);
                self.len += 1;
                None
            }
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod string_table_tests {
    use super::StringTable;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Inserts and finds agree with a `HashMap` (first position of each string wins),
        /// through growth from empty and after a reserve, with touches in between.
        #[test]
        fn string_table_agrees_with_a_hash_map(
            words in proptest::collection::vec("[a-c]{0,3}|S[0-9]{1,7}", 0..600),
            reserve in 0usize..2_000,
            probes in proptest::collection::vec("[a-c]{0,3}|S[0-9]{1,7}", 0..50),
        ) {
            let mut table = StringTable::default();
            let mut stored: Vec<String> = Vec::new();
            let mut expected: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
            if reserve % 2 == 0 {
                table.reserve(reserve);
            }
            for w in &words {
                let _ = table.touch(StringTable::hash(w));
                let next = stored.len() as u32;
                let got = {
                    let view = &stored;
                    table.insert(StringTable::hash(w), w, next, |i| if i == next { w.as_str() } else { view[i as usize].as_str() })
                };
                let want = expected.get(w).copied();
                proptest::prop_assert_eq!(got, want);
                if want.is_none() {
                    expected.insert(w.clone(), next);
                    stored.push(w.clone());
                }
            }
            proptest::prop_assert_eq!(table.len(), expected.len());
            for w in words.iter().chain(&probes) {
                proptest::prop_assert_eq!(table.find(w, |i| &stored[i as usize]), expected.get(w).copied());
            }
        }

        /// A table filled from sorted keys finds every string where a table filled one
        /// insertion at a time does, and nothing else: hashes from a few tags (long runs,
        /// equal tags of different strings) and from the last slots (runs that wrap to the
        /// front).
        #[test]
        fn table_from_sorted_keys_finds_what_inserting_finds(
            tags in proptest::collection::vec(
                proptest::prop_oneof![0u64..8, (u64::from(u32::MAX) - 8)..=u64::from(u32::MAX), 0u64..=u64::from(u32::MAX)],
                0..400,
            ),
            absent in proptest::collection::vec(0u64..=u64::from(u32::MAX), 0..20),
        ) {
            // String `i` has a hash of tag `tags[i]`; the low bits are not read.
            let texts: Vec<String> = (0..tags.len()).map(|i| format!("t{i}")).collect();
            let hash = |tag: u64, i: usize| (tag << 32) | i as u64;
            let mut keys: Vec<u64> = tags
                .iter()
                .enumerate()
                .map(|(i, &tag)| StringTable::key(hash(tag, i), i as u32))
                .collect();
            keys.sort_unstable();
            let bulk = StringTable::from_sorted_keys(&keys);
            let mut one_by_one = StringTable::default();
            for (i, &tag) in tags.iter().enumerate() {
                let inserted = one_by_one.insert(hash(tag, i), &texts[i], i as u32, |p| texts[p as usize].as_str());
                proptest::prop_assert_eq!(inserted, None);
            }
            proptest::prop_assert_eq!(bulk.len(), tags.len());
            for (i, &tag) in tags.iter().enumerate() {
                let text_of = |p: u32| texts[p as usize].as_str();
                proptest::prop_assert_eq!(bulk.find_hashed(hash(tag, i), &texts[i], text_of), Some(i as u32));
                proptest::prop_assert_eq!(one_by_one.find_hashed(hash(tag, i), &texts[i], text_of), Some(i as u32));
                // The same tag with a text no string has.
                proptest::prop_assert_eq!(bulk.find_hashed(hash(tag, i), "none", text_of), None);
            }
            for &tag in &absent {
                let text_of = |p: u32| texts[p as usize].as_str();
                proptest::prop_assert_eq!(bulk.find_hashed(tag << 32, "t", text_of), None);
            }
            // Inserting after a bulk fill works as before: a taken text is refused.
            let mut grown = bulk.clone();
            if let Some(&tag) = tags.first() {
                let text_of = |p: u32| texts[p as usize].as_str();
                proptest::prop_assert_eq!(grown.insert(hash(tag, 0), &texts[0], tags.len() as u32, text_of), Some(0));
            }
        }

        /// Zones built from pairs in block order (one pass) equal those of the counting
        /// build, and both equal each block's schools in file order without repeats.
        #[test]
        fn stage_zones_from_sorted_pairs_match_the_obvious_grouping(
            blocks in 0usize..30,
            pairs in proptest::collection::vec((0u32..30, 0u32..6), 0..120),
            sort in proptest::bool::ANY,
        ) {
            let mut pairs: Vec<(u32, u32)> = pairs.into_iter().filter(|p| (p.0 as usize) < blocks).collect();
            if sort {
                pairs.sort_by_key(|p| p.0);
            }
            let zones = super::StageZones::from_pairs(blocks, &pairs);
            let rows: Vec<(u32, u32, u64)> = pairs.iter().map(|&(b, s)| (b, s, 0)).collect();
            let from_rows = super::StageZones::from_rows(blocks, &rows);
            for b in 0..blocks as u32 + 2 {
                let mut want: Vec<u32> = Vec::new();
                for &(pb, s) in &pairs {
                    if pb == b && !want.contains(&s) {
                        want.push(s);
                    }
                }
                proptest::prop_assert_eq!(zones.schools_of(b), want.as_slice());
                proptest::prop_assert_eq!(from_rows.schools_of(b), want.as_slice());
            }
            proptest::prop_assert_eq!(zones.is_empty(), pairs.is_empty());
        }
    }
}

#[cfg(test)]
mod name_parsing_tests {
    #![allow(clippy::unwrap_used)]
    use super::{Sector, Stage};

    /// The plain definition: trim, lower-case the ASCII letters, compare with each name.
    fn stage_by_lowercase(s: &str) -> Option<Stage> {
        match s.trim().to_ascii_lowercase().as_str() {
            "kindergarten" | "幼儿园" => Some(Stage::Kindergarten),
            "primary" | "小学" => Some(Stage::Primary),
            "junior" | "初中" => Some(Stage::Junior),
            _ => None,
        }
    }

    fn sector_by_lowercase(s: &str) -> Option<Sector> {
        match s.trim().to_ascii_lowercase().as_str() {
            "public" | "公办" => Some(Sector::Public),
            "private" | "民办" => Some(Sector::Private),
            _ => None,
        }
    }

    /// A name, maybe changed: letters' case flipped, a character dropped or added, spaces
    /// (ASCII and ideographic) around it.
    fn name_like() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let names = prop::sample::select(vec![
            "kindergarten",
            "primary",
            "junior",
            "幼儿园",
            "小学",
            "初中",
            "public",
            "private",
            "公办",
            "民办",
            "",
            "primar",
            "juniors",
            "İ",
        ]);
        (
            names,
            prop::collection::vec(any::<bool>(), 16),
            0..4usize,
            "[ \u{3000}\t]{0,2}",
            "[ \u{3000}]{0,2}",
            any::<char>(),
            0..20usize,
        )
            .prop_map(|(name, flips, edit, before, after, extra, at)| {
                let mut chars: Vec<char> = name
                    .chars()
                    .zip(flips.iter().cycle())
                    .map(|(c, &flip)| if flip { c.to_ascii_uppercase() } else { c })
                    .collect();
                match edit {
                    1 if !chars.is_empty() => {
                        chars.remove(at % chars.len());
                    }
                    2 => chars.insert(at % (chars.len() + 1), extra),
                    _ => {}
                }
                format!("{before}{}{after}", chars.into_iter().collect::<String>())
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn stage_and_sector_names_parse_as_lower_casing_does(s in name_like()) {
            proptest::prop_assert_eq!(s.parse::<Stage>().ok(), stage_by_lowercase(&s));
            proptest::prop_assert_eq!(s.parse::<Sector>().ok(), sector_by_lowercase(&s));
        }
    }

    #[test]
    fn the_names_themselves_parse() {
        assert_eq!(" Primary ".parse::<Stage>().unwrap(), Stage::Primary);
        assert_eq!("初中".parse::<Stage>().unwrap(), Stage::Junior);
        assert_eq!("KINDERGARTEN".parse::<Stage>().unwrap(), Stage::Kindergarten);
        assert_eq!("民办".parse::<Sector>().unwrap(), Sector::Private);
        assert!("primaryx".parse::<Stage>().is_err());
    }
}
