//! Candidate school sites (`sites.csv`) and optional travel distances to them.
//!
//! `sites.csv`: `site_id, name, district, lon, lat, capacity`, plus an optional `stage` column.
//! - `site_id`: unique, and different from every `school_id` (results list both together);
//! - `district`: a district named in `schools.csv` or `blocks.csv`;
//! - `lon`, `lat`: in the scenario's coordinate system, like every other input;
//! - `capacity`: entry-grade seats of a school built there (a whole number ≥ 1); empty means
//!   the stage default ([`super::SitingParams::default_capacity`]);
//! - `stage` (optional): the stage the site is reserved for; empty or absent means any stage.
//!
//! `site_distances.csv` (optional): `site_id, block_id, distance_m`, travel metres from a
//! routing engine; pairs it lacks are unreachable, as for `distances.csv` and schools (see
//! [`crate::spatial`]).

use std::collections::HashMap;
use std::path::Path;

use super::SupplyError;
use super::csvio::read_table;
use crate::error::{Diagnostic, Diagnostics};
use crate::load::Dataset;
use crate::model::{Location, Stage};

/// A place where a school could be built.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    /// The id used in files.
    pub id: String,
    /// Display name.
    pub name: String,
    /// District index into [`crate::City::districts`].
    pub district: u32,
    /// Where it is (WGS84).
    pub location: Location,
    /// Entry-grade seats; `None` for the stage default.
    pub capacity: Option<u32>,
    /// The stage it is reserved for, if any.
    pub stage: Option<Stage>,
}

/// The candidate sites.
#[derive(Debug, Clone, Default)]
pub struct CandidateSites {
    /// Sites in file order.
    pub sites: Vec<Site>,
    index: HashMap<String, u32>,
}

impl CandidateSites {
    /// Reads `sites.csv`.
    pub fn load(path: &Path, data: &Dataset) -> Result<CandidateSites, SupplyError> {
        let bytes = super::read_file(path)?;
        CandidateSites::from_csv(&bytes, &path.display().to_string(), data)
    }

    /// Sites built in code (ids must be unique).
    pub fn from_sites(sites: Vec<Site>) -> Result<CandidateSites, SupplyError> {
        let mut index = HashMap::new();
        for (i, s) in sites.iter().enumerate() {
            if index.insert(s.id.clone(), i as u32).is_some() {
                return Err(SupplyError::request(format!("site id {} appears twice", s.id)));
            }
        }
        Ok(CandidateSites { sites, index })
    }

    /// Parses `sites.csv` text; `file` names it in diagnostics. Every problem is reported.
    pub fn from_csv(bytes: &[u8], file: &str, data: &Dataset) -> Result<CandidateSites, SupplyError> {
        let city = &data.city;
        let crs = data.scenario.crs;
        let mut out = CandidateSites::default();
        let mut lines: Vec<u64> = Vec::new();
        let mut diags = Diagnostics::default();
        let district_list = || {
            let mut names: Vec<&str> = city.districts.iter().map(String::as_str).take(12).collect();
            if city.districts.len() > 12 {
                names.push("…");
            }
            names.join(", ")
        };
        read_table(
            bytes,
            file,
            &["site_id", "name", "district", "lon", "lat", "capacity"],
            &mut diags,
            |row, diags| {
                // Every field is checked even when the id is bad, so one run lists every problem.
                let id = row.required("site_id", diags).filter(|id| {
                    if let Some(&first) = out.index.get(*id) {
                        diags.push(row.diag(
                            "site_id",
                            id,
                            format!("duplicate site_id (first on line {})", lines[first as usize]),
                            "give every site its own id",
                        ));
                        return false;
                    }
                    if city.school(id).is_some() {
                        diags.push(row.diag(
                            "site_id",
                            id,
                            "a school in schools.csv has this id",
                            "site ids must differ from school ids; e.g. prefix them with X",
                        ));
                        return false;
                    }
                    true
                });
                let district = row.required("district", diags).and_then(|d| {
                    let found = city.districts.iter().position(|x| x == d);
                    if found.is_none() {
                        diags.push(row.diag(
                            "district",
                            d,
                            "no school or block is in this district",
                            format!("use one of: {}", district_list()),
                        ));
                    }
                    found
                });
                let location = row.location(crs, diags);
                let capacity = match row.parse::<u32>("capacity", "a whole number of seats", diags) {
                    Some(Some(0)) => {
                        diags.push(row.diag(
                            "capacity",
                            "0",
                            "a site needs at least one seat",
                            "write the entry-grade seats of the planned school, or leave it empty for the default",
                        ));
                        None
                    }
                    Some(c) => Some(c),
                    None => None,
                };
                let stage = if row.has("stage") {
                    row.optional_stage("stage", diags)
                } else {
                    Some(None)
                };
                let (Some(id), Some(district), Some(location), Some(capacity), Some(stage)) =
                    (id, district, location, capacity, stage)
                else {
                    return;
                };
                let i = out.sites.len() as u32;
                out.index.insert(id.to_string(), i);
                lines.push(row.line);
                out.sites.push(Site {
                    id: id.to_string(),
                    name: row.text("name").to_string(),
                    district: district as u32,
                    location,
                    capacity,
                    stage,
                });
            },
        );
        if out.sites.is_empty() && diags.is_empty() {
            diags.push(Diagnostic::file(
                file,
                "the file has no sites",
                "add rows site_id,name,district,lon,lat,capacity",
            ));
        }
        if diags.is_empty() {
            Ok(out)
        } else {
            Err(SupplyError::Invalid(diags))
        }
    }

    /// The index of a site id.
    pub fn site(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// Number of sites.
    pub fn len(&self) -> usize {
        self.sites.len()
    }

    /// True when there are no sites.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }
}

/// Travel distances from blocks to candidate sites (`site_distances.csv`).
#[derive(Debug, Clone, Default)]
pub struct SiteDistances {
    map: HashMap<(u32, u32), u32>,
}

impl SiteDistances {
    /// Reads `site_distances.csv` (site_id, block_id, distance_m).
    pub fn load(path: &Path, data: &Dataset, sites: &CandidateSites) -> Result<SiteDistances, SupplyError> {
        let bytes = super::read_file(path)?;
        SiteDistances::from_csv(&bytes, &path.display().to_string(), data, sites)
    }

    /// Parses `site_distances.csv` text.
    pub fn from_csv(
        bytes: &[u8],
        file: &str,
        data: &Dataset,
        sites: &CandidateSites,
    ) -> Result<SiteDistances, SupplyError> {
        let mut out = SiteDistances::default();
        let mut diags = Diagnostics::default();
        read_table(
            bytes,
            file,
            &["site_id", "block_id", "distance_m"],
            &mut diags,
            |row, diags| {
                let site = row.required("site_id", diags).and_then(|s| {
                    let f = sites.site(s);
                    if f.is_none() {
                        diags.push(row.diag("site_id", s, "no site has this id", "use a site_id from sites.csv"));
                    }
                    f
                });
                let block = row.required("block_id", diags).and_then(|b| {
                    let f = data.city.block(b);
                    if f.is_none() {
                        diags.push(row.diag("block_id", b, "no block has this id", "use a block_id from blocks.csv"));
                    }
                    f
                });
                let d = match row.non_negative("distance_m", diags) {
                    Some(Some(d)) if d < 4.0e9 => Some(d.round() as u32),
                    Some(_) => {
                        diags.push(row.diag(
                            "distance_m",
                            row.text("distance_m"),
                            "distance_m must be a number of metres ≥ 0",
                            "write the travel distance in metres",
                        ));
                        None
                    }
                    None => None,
                };
                if let (Some(s), Some(b), Some(d)) = (site, block, d) {
                    out.map.insert((s, b), d);
                }
            },
        );
        if diags.is_empty() {
            Ok(out)
        } else {
            Err(SupplyError::Invalid(diags))
        }
    }

    /// Sets a distance.
    pub fn insert(&mut self, site: u32, block: u32, metres: u32) {
        self.map.insert((site, block), metres);
    }

    /// The distance from a block to a site, if given.
    pub fn get(&self, site: u32, block: u32) -> Option<u32> {
        self.map.get(&(site, block)).copied()
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
