//! The per-district table of each stage (`districts_summary.csv`, the workbook's 区县 sheet and
//! the page's district tables): applicants living in the district, how they fared, the seats
//! of its schools, and the 学位预警 level of applicants / seats.

use super::stats::{DistrictAgg, RunView};
use crate::model::Stage;
use crate::warning::Level;

/// One district of one stage.
pub(crate) struct DistrictRow<'a> {
    pub stage: Stage,
    pub district: &'a str,
    pub agg: &'a DistrictAgg,
    pub level: Level,
}

/// Every district row, stage by stage, districts in the city's order.
pub(crate) fn district_rows<'a>(run: &'a RunView<'_>) -> Vec<DistrictRow<'a>> {
    let w = run.data.policy.seat_warning;
    let mut rows = Vec::new();
    for view in &run.stages {
        for (d, agg) in &view.districts {
            rows.push(DistrictRow {
                stage: view.stage,
                district: run.data.city.districts.get(*d as usize).map_or("", String::as_str),
                agg,
                level: w.level(agg.applicants, agg.seats),
            });
        }
    }
    rows
}

/// The columns of `districts_summary.csv` with their Chinese names (the workbook's headers).
pub(crate) const COLUMNS: [(&str, &str); 12] = [
    ("学段", "stage"),
    ("区县", "district"),
    ("申请人数", "applicants"),
    ("未录取", "unplaced"),
    ("跨区录取", "placed_other_district"),
    ("学校", "schools"),
    ("学位", "seats"),
    ("录取", "assigned"),
    ("空余", "vacancies"),
    ("学位紧张学校", "short_schools"),
    ("需求/学位", "demand_ratio"),
    ("学位预警", "warning"),
];

/// `districts_summary.csv`.
pub(crate) fn csv(run: &RunView<'_>, bom: bool) -> Vec<u8> {
    let mut w = crate::io::CsvWriter::with_header(&COLUMNS.map(|c| c.1), bom);
    for r in district_rows(run) {
        let a = r.agg;
        w.row(&[
            r.stage.as_str(),
            r.district,
            &a.applicants.to_string(),
            &a.unplaced.to_string(),
            &a.placed_elsewhere.to_string(),
            &a.schools.to_string(),
            &a.seats.to_string(),
            &a.assigned.to_string(),
            &a.seats.saturating_sub(a.assigned).to_string(),
            &a.short.to_string(),
            &crate::output::demand_ratio(a.applicants, a.seats),
            r.level.as_str(),
        ]);
    }
    w.into_bytes()
}
