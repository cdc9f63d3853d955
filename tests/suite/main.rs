//! End-to-end tests of the library over real input files: one test binary, named modules.
#![allow(clippy::unwrap_used, missing_docs)]

mod api;
mod baseline;
mod fuzz;
mod layers;
mod lottery_recheck;
mod manifest;
mod memory;
mod ogc;
mod planner;
mod properties;
mod regression;
mod report;
mod risk;
mod roads;
mod scenarios;
mod service;
mod supply;
mod zoning;
