//! # xuequ (学区)
//!
//! Entry-grade seat allocation and catchment zoning for Chinese cities.
//!
//! ## Map of the main types
//!
//! | step | type / function | module |
//! |---|---|---|
//! | **one command, assembled** | a request per command with documented defaults and builder overrides: [`AllocationRequest`], [`ZoningRequest`], [`LookupRequest`], [`ForecastRequest`], [`SitingRequest`], … (`docs/api.md`) | [`request`] |
//! | what to run | [`Scenario`] (`scenario.toml`) | the crate root |
//! | the rules | [`Policy`] (`policy.toml`): tiers, seat locks, migrant points, lottery | [`policy`] |
//! | the inputs | [`Dataset`] = [`City`] + [`Cohort`] + policy, validated; from files or tables in memory ([`load::MemoryTables`]) | [`load`], [`model`] |
//! | distances | [`spatial::Spatial`]: straight, `distances.csv` or roads (OpenStreetMap), for every command | [`spatial`] |
//! | allocation | [`allocate()`] → [`Allocation`] | [`allocate`](mod@allocate) |
//! | the audit | [`audit()`] → [`AuditReport`] | [`audit`](mod@audit) |
//! | results | [`write_outputs`], [`explain()`] | [`output`], [`explain`](mod@explain) |
//! | admission odds | [`risk::lottery_risk`]; split over processes: [`risk::tally_draws`] + [`risk::RiskTally::merge`] | [`risk`] |
//! | for people | [`report::run_html`], [`report::compare_html`], [`report::workbook`] | [`report`] |
//! | a planner's files | polygons in ([`shapes`]), a 划片 list to zones ([`names::from_list`]), [`plausibility`] warnings | `docs/inputs.md` |
//! | the enrollment-season service | [`service::ServiceData`]: lookups, search, explanations, odds, schools as JSON (`xuequ serve`) | [`service`] |
//! | seat supply planning | [`supply::forecast()`], [`supply::check_development`], [`supply::site`] (`planning.toml`: [`PlanningParams`]) | [`supply`] |
//!
//! ## A whole run
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::fs;
//! let dir = tempfile::tempdir()?;
//! let d = dir.path();
//! fs::write(d.join("scenario.toml"), "name = \"tiny\"\nyear = 2026\nstages = [\"primary\"]\n")?;
//! fs::write(d.join("schools.csv"), "school_id,name,district,stage,sector,lon,lat,capacity\n\
//!     P1,实验小学,梁溪区,primary,public,120.30,31.57,1\n\
//!     P2,第二小学,梁溪区,primary,public,120.31,31.57,1\n")?;
//! fs::write(d.join("blocks.csv"), "block_id,name,district,lon,lat,households\n\
//!     B1,清扬新村,梁溪区,120.301,31.571,800\n")?;
//! fs::write(d.join("zones.csv"), "block_id,stage,school_id\nB1,primary,P1\n")?;
//! fs::write(d.join("students.csv"), "student_id,stage,block_id,hukou_in_zone,owns_home\n\
//!     S1,primary,B1,true,true\nS2,primary,B1,false,false\n")?;
//!
//! let data = xuequ::Dataset::load(&d.join("scenario.toml"))?;
//! let allocation = xuequ::allocate(&data);
//! let report = xuequ::audit(&data, &allocation);
//! assert!(report.passed());
//! // S1 (房户一致) takes the single seat of the zone school; S2 overflows to P2.
//! let why = xuequ::explain(&data, &allocation, "S2")?;
//! assert!(why.result.contains("P2"));
//! xuequ::write_outputs(&d.join("out"), &data, &allocation, &report, Default::default())?;
//! assert!(fs::read_to_string(d.join("out/assignments.csv"))?.contains("S1,primary,P1,房户一致"));
//! # Ok(()) }
//! ```

pub mod allocate;
pub mod audit;
pub mod compare;
pub mod crs;
pub mod edit;
mod error;
pub mod explain;
// Internal: exposed only for the project's benches and end-to-end tests, not part of the
// supported API (absent from the docs and from `public-api.txt`; may change at any time).
#[doc(hidden)]
pub mod flow;
pub(crate) mod gpkg;
pub mod io;
pub mod load;
// Internal: exposed only for the project's benches and end-to-end tests, not part of the
// supported API (absent from the docs and from `public-api.txt`; may change at any time).
#[doc(hidden)]
pub mod lottery;
// Internal: exposed only for the project's benches and end-to-end tests, not part of the
// supported API (absent from the docs and from `public-api.txt`; may change at any time).
#[doc(hidden)]
pub mod mechanism;
pub mod model;
pub mod names;
pub mod output;
pub mod plausibility;
pub mod policy;
pub(crate) mod priority;
pub mod report;
pub mod request;
pub mod risk;
mod scenario;
pub mod service;
pub mod shapes;
pub mod spatial;
pub mod supply;
pub mod warning;
pub mod zoning;

/// The most worker threads a run uses: 4 × the cores the machine reports. More threads give
/// the same results (every parallel step collects in order) but only add scheduling cost,
/// and tens of thousands can stall a machine; callers asking for more get this many.
pub fn max_threads() -> usize {
    4 * std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

pub use allocate::{Allocation, Progress, allocate, allocate_with_progress};
pub use audit::{AuditReport, audit};
pub use error::{AuditFailed, Diagnostic, Diagnostics, Error, LoadError, OutputError};
pub use explain::{ExplainError, Explanation, explain, explain_with};
pub use gpkg::GpkgError;
pub use load::Dataset;
pub use model::{City, Cohort, Stage};
pub use output::{Assignment, WriteOptions, write_outputs};
pub use policy::Policy;
pub use report::{ReportError, ReportOptions};
pub use request::{
    AllocationBatch, AllocationRequest, AuditRequest, CompareRequest, DevelopmentRequest, ExplainRequest,
    ForecastRequest, LookupRequest, Observer, RequestError, RoadsRequest, ScenarioInput, SitingRequest,
    ValidateRequest, ZonesFromListRequest, ZoningRequest,
};
pub use scenario::{InputOptions, InputPaths, OutputOptions, Scenario};
pub use supply::{PlanningParams, SupplyError};
pub use zoning::{Zoning, ZoningError, ZoningParams, ZoningProblem, zone};

/// What several modules' tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::OnceLock;

    use crate::allocate::Allocation;
    use crate::load::Dataset;

    /// The bundled demo, loaded and allocated once for every test that reads it.
    pub(crate) fn demo() -> &'static (Dataset, Allocation) {
        static DEMO: OnceLock<(Dataset, Allocation)> = OnceLock::new();
        DEMO.get_or_init(|| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/demo/scenario.toml");
            #[allow(clippy::unwrap_used)]
            let data = Dataset::load(&path).unwrap();
            let allocation = crate::allocate(&data);
            (data, allocation)
        })
    }
}
