//! Finding blocks (小区) by name, as written by people: in a published 划片 announcement, in
//! a search box. [`NameIndex`] resolves one phrase to blocks ([`NameIndex::resolve`]) and
//! ranks blocks for a query ([`NameIndex::search`], e.g. for `GET /v1/search?q=小区名`);
//! [`from_list`] turns a whole announcement into zones.
//!
//! ## Normalisation
//!
//! [`normalise`] (the `normalised` level) makes two spellings of one name equal:
//! 1. full-width letters, digits and punctuation become half-width (`Ａ１（` → `A1(`), the
//!    ideographic space a space; Latin letters are lower-cased;
//! 2. brackets are dropped but their text kept (`万科城（东区）` → `万科城东区`), and so are
//!    spaces, `·`, `-`, `—`, `_`, `"`, `“”`, `《》`;
//! 3. phases are written one way: `第二期`, `2期`, `二期` → `二期` (1-10).
//!
//! [`key`] (the `fuzzy` level) further drops one generic ending (`小区`, `花园`, `家园`,
//! `公寓`, `新村`, `苑`, `园`) and splits off the phase and a 东区/西区/南区/北区 part, so
//! `风雅小区` and `风雅苑` share the key `风雅`. At that level a phrase with a phase or part
//! only matches blocks with the same phase or part; a phrase without one matches the block
//! without one, or, when there is none, every phase (an announcement's `万科城` covers
//! 万科城一期 and 万科城二期). Matches are narrowed to the school's district when that
//! leaves any. Last, names one edit apart (three characters or more) are `fuzzy` when only
//! one block is that close.

pub mod from_list;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use crate::model::City;

/// How a phrase was matched (`match_report.csv`'s `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum MatchKind {
    /// The phrase is a block's name, character for character.
    Exact,
    /// Equal after [`normalise`].
    Normalised,
    /// Equal after [`key`] (generic endings, phases, parts), or one edit apart.
    Fuzzy,
    /// Several blocks fit equally well; none was chosen.
    Ambiguous,
    /// No block fits.
    Unmatched,
}

impl MatchKind {
    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::Normalised => "normalised",
            MatchKind::Fuzzy => "fuzzy",
            MatchKind::Ambiguous => "ambiguous",
            MatchKind::Unmatched => "unmatched",
        }
    }
}

/// What one phrase resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// How it matched.
    pub kind: MatchKind,
    /// The matched blocks (empty when ambiguous or unmatched).
    pub blocks: Vec<u32>,
    /// Near candidates for a planner to choose from (ambiguous, unmatched and fuzzy
    /// matches), best first.
    pub candidates: Vec<u32>,
}

const PHASES: [&str; 10] = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];

/// A name in the normal form described in the [module docs](self).
pub fn normalise(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    for c in name.chars() {
        let c = match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        if c.is_whitespace()
            || matches!(
                c,
                '(' | ')'
                    | '['
                    | ']'
                    | '{'
                    | '}'
                    | '【'
                    | '】'
                    | '〔'
                    | '〕'
                    | '《'
                    | '》'
                    | '<'
                    | '>'
                    | '·'
                    | '-'
                    | '—'
                    | '_'
                    | '"'
                    | '“'
                    | '”'
                    | '\''
                    | '‘'
                    | '’'
            )
        {
            continue;
        }
        s.push(c.to_ascii_lowercase());
    }
    // Phases: 第二期 / 2期 → 二期.
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '第' && i + 2 < chars.len() && chars[i + 2] == '期' {
            i += 1;
            continue;
        }
        if chars[i].is_ascii_digit() {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if j < chars.len() && chars[j] == '期' {
                let n: usize = chars[i..j].iter().collect::<String>().parse().unwrap_or(0);
                if (1..=10).contains(&n) {
                    out.push_str(PHASES[n - 1]);
                    i = j;
                    continue;
                }
            }
            out.extend(&chars[i..j]);
            i = j;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The fuzzy key of a name: (base without generic ending, phase, part), each normalised.
pub fn key(name: &str) -> (String, String, String) {
    let mut s = normalise(name);
    let mut phase = String::new();
    let mut part = String::new();
    // Part and phase may come in either order at the end.
    for _ in 0..2 {
        for p in ["东区", "西区", "南区", "北区"] {
            if part.is_empty() && s.ends_with(p) && s.chars().count() > 2 {
                part = p.to_string();
                s.truncate(s.len() - p.len());
            }
        }
        if phase.is_empty() && s.ends_with('期') {
            let c: Vec<char> = s.chars().collect();
            if c.len() >= 3 && PHASES.iter().any(|p| p.starts_with(c[c.len() - 2])) {
                phase = c[c.len() - 2..].iter().collect();
                s = c[..c.len() - 2].iter().collect();
            }
        }
    }
    for end in ["小区", "花园", "家园", "公寓", "新村", "苑", "园"] {
        if s.ends_with(end) && s.chars().count() > end.chars().count() + 1 {
            s.truncate(s.len() - end.len());
            break;
        }
    }
    (s, phase, part)
}

/// Levenshtein distance over characters (one implementation for the crate).
fn edits(a: &str, b: &str) -> usize {
    crate::policy::edit_distance(a, b)
}

/// The blocks of a city indexed by name, normal form and key.
#[derive(Debug, Clone)]
pub struct NameIndex {
    names: Vec<String>,
    districts: Vec<u32>,
    normal: Vec<String>,
    keys: Vec<(String, String, String)>,
    by_name: HashMap<String, Vec<u32>>,
    by_normal: HashMap<String, Vec<u32>>,
    by_base: HashMap<String, Vec<u32>>,
}

impl NameIndex {
    /// Indexes every block of the city.
    pub fn new(city: &City) -> NameIndex {
        let mut idx = NameIndex {
            names: Vec::with_capacity(city.blocks.len()),
            districts: Vec::with_capacity(city.blocks.len()),
            normal: Vec::with_capacity(city.blocks.len()),
            keys: Vec::with_capacity(city.blocks.len()),
            by_name: HashMap::new(),
            by_normal: HashMap::new(),
            by_base: HashMap::new(),
        };
        for (i, b) in city.blocks.iter().enumerate() {
            let i = i as u32;
            let n = normalise(&b.name);
            let k = key(&b.name);
            idx.by_name.entry(b.name.trim().to_string()).or_default().push(i);
            idx.by_normal.entry(n.clone()).or_default().push(i);
            idx.by_base.entry(k.0.clone()).or_default().push(i);
            idx.names.push(b.name.clone());
            idx.districts.push(b.district);
            idx.normal.push(n);
            idx.keys.push(k);
        }
        idx
    }

    /// Narrows `found` to the blocks of `district` when that leaves any.
    fn prefer(&self, found: &[u32], district: Option<u32>) -> Vec<u32> {
        if let Some(d) = district {
            let inside: Vec<u32> = found
                .iter()
                .copied()
                .filter(|&b| self.districts[b as usize] == d)
                .collect();
            if !inside.is_empty() {
                return inside;
            }
        }
        found.to_vec()
    }

    /// Resolves one phrase. `district` (the school's) breaks ties between blocks of one name
    /// in several districts.
    pub fn resolve(&self, phrase: &str, district: Option<u32>) -> Resolution {
        let phrase = phrase.trim();
        let done = |kind, blocks: Vec<u32>, candidates: Vec<u32>| Resolution {
            kind,
            blocks,
            candidates,
        };
        if phrase.is_empty() {
            return done(MatchKind::Unmatched, vec![], vec![]);
        }
        for (kind, found) in [
            (MatchKind::Exact, self.by_name.get(phrase)),
            (MatchKind::Normalised, self.by_normal.get(&normalise(phrase))),
        ] {
            if let Some(found) = found {
                let found = self.prefer(found, district);
                if found.len() == 1 {
                    return done(kind, found, vec![]);
                }
                return done(MatchKind::Ambiguous, vec![], found);
            }
        }
        let (base, phase, part) = key(phrase);
        if let Some(found) = self.by_base.get(&base) {
            let same: Vec<u32> = found
                .iter()
                .copied()
                .filter(|&b| {
                    let k = &self.keys[b as usize];
                    k.2 == part
                        && (k.1 == phase
                            || (phase.is_empty()
                                && !found
                                    .iter()
                                    .any(|&o| self.keys[o as usize].1.is_empty() && self.keys[o as usize].2 == part)))
                })
                .collect();
            let same = self.prefer(&same, district);
            if !same.is_empty() {
                // Without a phase, several phases of one base are one estate: all match.
                let one_estate = same.iter().all(|&b| self.normal_base(b) == self.normal_base(same[0]));
                if same.len() == 1 || (phase.is_empty() && one_estate && self.same_district(&same)) {
                    return done(MatchKind::Fuzzy, same.clone(), same);
                }
                return done(MatchKind::Ambiguous, vec![], same);
            }
        }
        // One edit away (names of three characters or more).
        let n = normalise(phrase);
        if n.chars().count() >= 3 {
            let close: Vec<u32> = (0..self.normal.len() as u32)
                .filter(|&b| edits(&n, &self.normal[b as usize]) <= 1)
                .collect();
            let close = self.prefer(&close, district);
            if close.len() == 1 {
                return done(MatchKind::Fuzzy, close.clone(), close);
            }
            if close.len() > 1 {
                return done(MatchKind::Ambiguous, vec![], close);
            }
        }
        let candidates = self.search(phrase, 3).into_iter().map(|(b, _)| b).collect();
        done(MatchKind::Unmatched, vec![], candidates)
    }

    fn normal_base(&self, b: u32) -> &str {
        &self.keys[b as usize].0
    }

    fn same_district(&self, blocks: &[u32]) -> bool {
        blocks
            .iter()
            .all(|&b| self.districts[b as usize] == self.districts[blocks[0] as usize])
    }

    /// Blocks whose name fits `query`, best first, at most `limit`: exact, normalised and
    /// key matches, then names containing the query (or contained in it), then names by
    /// edit distance (at most half the query's length). Ties go to the lower block index.
    pub fn search(&self, query: &str, limit: usize) -> Vec<(u32, MatchKind)> {
        let q = normalise(query);
        if q.is_empty() || limit == 0 {
            return Vec::new();
        }
        let qk = key(query);
        let qlen = q.chars().count();
        let mut scored: Vec<(usize, u32, MatchKind)> = Vec::new();
        for b in 0..self.normal.len() {
            let (name, normal, k) = (&self.names[b], &self.normal[b], &self.keys[b]);
            let score = if name.trim() == query.trim() {
                Some((0, MatchKind::Exact))
            } else if *normal == q {
                Some((1, MatchKind::Normalised))
            } else if k.0 == qk.0 && (qk.1.is_empty() || k.1 == qk.1) {
                Some((2, MatchKind::Fuzzy))
            } else if normal.contains(&q) || (q.contains(normal.as_str()) && normal.chars().count() >= 2) {
                Some((3 + normal.chars().count().abs_diff(qlen), MatchKind::Fuzzy))
            } else {
                let e = edits(&q, normal);
                (e * 2 <= qlen.max(2)).then_some((100 + e, MatchKind::Fuzzy))
            };
            if let Some((s, kind)) = score {
                scored.push((s, b as u32, kind));
            }
        }
        scored.sort();
        scored.into_iter().take(limit).map(|(_, b, k)| (b, k)).collect()
    }

    /// A block's display name.
    pub fn name(&self, block: u32) -> &str {
        &self.names[block as usize]
    }
}
