//! Seat supply planning (学位供给): demand forecasts, development checks and siting new schools.
//!
//! Planners ask three questions of the same data: *where will seats run short, block by block
//! and year by year?*, *is this new housing development covered (教育设施配套)?* and *where
//! should new schools go?* This module answers them over a loaded [`Dataset`](crate::Dataset).
//!
//! | question | function | result |
//! |---|---|---|
//! | demand and shortfall per block, zone, school, district, year and stage | [`forecast()`] | [`Forecast`] |
//! | does a new block fit in its zone school(s)? | [`check_development`] | [`DevelopmentReport`] |
//! | where should `p` new schools go? | [`SitingProblem::build`] + [`site`] (or [`site_exact`] on small cases) | [`SitingResult`] |
//! | all parameters, with documented defaults (`planning.toml`) | [`PlanningParams`] | |
//! | optional inputs | [`Population`] (`population.csv`), [`CandidateSites`] (`sites.csv`), [`SiteDistances`] | |
//! | files | [`report`] (CSV + JSON, written atomically) | |
//!
//! Every default coefficient comes from `shared/POLICY.md` section A3 (ids P1–P6) and is
//! documented on its field; `docs/supply.md` lists them all with their sources.
//!
//! ## Determinism
//! Forecasts are computed block by block in a fixed order and summed sequentially. Siting
//! works in integer metres; parallel candidate evaluations are collected in input order and
//! ties are broken by index, so results are identical at any thread count.
//!
//! ## Example
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::fs;
//! use xuequ::supply::{self, PlanningParams};
//! let dir = tempfile::tempdir()?;
//! let d = dir.path();
//! fs::write(d.join("scenario.toml"), "name = \"tiny\"\nyear = 2026\nstages = [\"primary\"]\n")?;
//! fs::write(d.join("schools.csv"), "school_id,name,district,stage,sector,lon,lat,capacity,classes,class_size\n\
//!     P1,实验小学,梁溪区,primary,public,120.300,31.570,45,1,45\n")?;
//! fs::write(d.join("blocks.csv"), "block_id,name,district,lon,lat,households,status,move_in_year,planned_households\n\
//!     B1,清扬新村,梁溪区,120.301,31.571,1000,existing,,\n\
//!     B2,万科城,梁溪区,120.310,31.571,0,new,2027,2000\n")?;
//! fs::write(d.join("zones.csv"), "block_id,stage,school_id\nB1,primary,P1\n")?;
//! fs::write(d.join("students.csv"), "student_id,stage,block_id\nS1,primary,B1\n")?;
//! let data = xuequ::Dataset::load(&d.join("scenario.toml"))?;
//!
//! let params = PlanningParams::default();
//! let fc = supply::forecast(&data, None, &params.forecast, &[]);
//! let primary = fc.stage(xuequ::Stage::Primary).unwrap();
//! // 2026: 1,000 households x 0.0378 = 37.8 children for 45 seats; from 2027 the new block
//! // (zone inferred from its nearest zoned neighbour) fills up and the school runs short.
//! assert!(primary.years[0].schools[0].shortfall == 0.0);
//! assert!(primary.years[3].schools[0].shortfall > 0.0);
//!
//! // Where would one new 45-seat school go, among two candidate sites?
//! let sites = supply::CandidateSites::from_csv(
//!     "site_id,name,district,lon,lat,capacity\nX1,东地块,梁溪区,120.311,31.571,45\nX2,西地块,梁溪区,120.290,31.571,45\n"
//!         .as_bytes(), "sites.csv", &data)?;
//! let problem = supply::SitingProblem::build(&data, &fc, xuequ::Stage::Primary, &sites, None, &params.siting)?;
//! let result = supply::site(&problem, 1, &params.siting)?;
//! assert_eq!(problem.site_id(result.chosen[0]), "X1");
//! assert!(result.after.total_distance_m < result.before.total_distance_m + result.before.unmet * 50_000);
//! # Ok(()) }
//! ```

mod csvio;
pub mod development;
pub mod forecast;
pub mod interchange;
pub mod params;
pub mod population;
pub mod report;
pub mod sites;
pub mod siting;
pub mod transport;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use development::{DevelopmentReport, check_development, read_developments};
pub use forecast::{Forecast, forecast};
pub use params::{DevelopmentParams, ForecastParams, Objective, PerStage, PlanningParams, SitingParams};
pub use population::Population;
pub use sites::{CandidateSites, Site, SiteDistances};
pub use siting::{Metrics, SitingProblem, SitingProgress, SitingResult, site, site_exact, site_with_progress};

use crate::error::{Diagnostics, OutputError};

/// Why a supply-planning request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupplyError {
    /// A file could not be read.
    #[error("cannot read {path}: {source} (fix: check the path and that the file exists)")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An input file (planning.toml, population.csv, sites.csv, a development file) has
    /// problems; every one found (up to the cap) is listed.
    #[error("{} problem(s) in the inputs:\n{}", .0.count_text(), .0)]
    Invalid(Diagnostics),
    /// The request cannot be answered as asked (an unknown block, more new schools than
    /// candidate sites, …); the message says what to change.
    #[error("{0}")]
    Request(String),
    /// Writing results failed.
    #[error(transparent)]
    Output(#[from] OutputError),
}

impl SupplyError {
    fn request(message: impl Into<String>) -> Self {
        SupplyError::Request(message.into())
    }
}

/// Reads a whole file, mapping failure to [`SupplyError::Io`].
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, SupplyError> {
    std::fs::read(path).map_err(|source| SupplyError::Io {
        path: path.to_path_buf(),
        source,
    })
}
