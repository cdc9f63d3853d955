//! Reports for people: a self-contained HTML page and an `.xlsx` workbook.
//!
//! | function | gives |
//! |---|---|
//! | [`run_html`] | one run on one page: headline figures per stage, an SVG map per stage, distance histograms, school and district tables, the audit |
//! | [`compare_html`] | two runs side by side: figures with deltas, applicants whose school changed, both maps on one projection, per-school deltas |
//! | [`workbook`] | the result tables as an Excel/WPS workbook (概况, 学校, 录取, 顺位与原因, 审计, 说明) |
//! | [`write_report_files`] | `report.html` and `results.xlsx` written atomically into a folder |
//!
//! Every figure is computed from the run itself: the per-stage figures are
//! [`output::summary`](crate::output::summary), the per-school rows
//! [`output::school_rows`](crate::output::school_rows) and, in a comparison, who moved is
//! [`compare::compare`](crate::compare::compare); so the page, the workbook and the CSV
//! files agree to the digit.
//!
//! **Self-contained.** The page has no external scripts, fonts, styles or map tiles: inline
//! CSS, inline SVG and a few lines of inline script (to sort tables by a click on a header;
//! the page reads fine without it). It opens from a file, offline. Text is UTF-8 and names
//! are shown as given (Chinese names render with the system's CJK fonts).
//!
//! **Deterministic.** The same inputs give the same bytes, at any thread count: no time
//! stamps, ordered maps only, integer counts. The workbook's creation date is fixed to
//! 1 January of the admission year for the same reason.
//!
//! **Bounded at national scale.** What is drawn or listed is capped; everything is still
//! counted:
//!
//! | cap | per stage | what happens to the rest |
//! |---|---|---|
//! | [`MAP_BLOCKS`] | blocks drawn as dots (the largest by applicants) | binned into grey grid cells on the map |
//! | [`MAP_SCHOOLS`] | schools drawn (shortfalls, then full schools, then the largest) | counted in the caption |
//! | [`MAP_FLOWS`] | overflow flows drawn (the largest) | counted in the caption |
//! | [`TABLE_SCHOOLS`] | school rows (most first choices per seat first) | in the workbook's 学校 sheet |
//! | [`TABLE_DISTRICTS`] | district rows (most applicants first) | noted above the table |
//! | [`COMPARE_SCHOOLS`] | changed schools in a comparison (largest change first) | counted above the table |
//!
//! The two maps of each stage in a comparison draw half of the map caps each, so a
//! comparison page is about as large as a run page. A page stays in the low megabytes at
//! national scale (measured figures in `docs/report.md`). The workbook holds every applicant:
//! beyond Excel's limit of 1,048,576 rows per sheet the 录取 table is split into sheets
//! 录取1, 录取2, … of [`XLSX_ROWS_PER_SHEET`] rows each, in `students.csv` order.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let d = dir.path();
//! # std::fs::write(d.join("scenario.toml"), "name = \"示例\"\nyear = 2026\nstages = [\"primary\"]\n")?;
//! # std::fs::write(d.join("schools.csv"), "school_id,name,district,stage,sector,lon,lat,capacity\n\
//! #     P1,实验小学,梁溪区,primary,public,120.30,31.57,1\nP2,第二小学,梁溪区,primary,public,120.31,31.57,1\n")?;
//! # std::fs::write(d.join("blocks.csv"), "block_id,name,district,lon,lat,households\nB1,清扬新村,梁溪区,120.301,31.571,800\n")?;
//! # std::fs::write(d.join("zones.csv"), "block_id,stage,school_id\nB1,primary,P1\n")?;
//! # std::fs::write(d.join("students.csv"), "student_id,stage,block_id,hukou_in_zone,owns_home\n\
//! #     S1,primary,B1,true,true\nS2,primary,B1,false,false\n")?;
//! let data = xuequ::Dataset::load(&d.join("scenario.toml"))?;
//! let allocation = xuequ::allocate(&data);
//! let audit = xuequ::audit(&data, &allocation);
//!
//! let page = xuequ::report::run_html(&data, &allocation, &audit);
//! assert!(page.contains("实验小学") && page.contains("<svg"));
//! let xlsx = xuequ::report::workbook(&data, &allocation, &audit)?;
//! assert!(xlsx.starts_with(b"PK"));
//! // The page, the workbook and the GIS layers join a run's output set (moved into place whole, with its
//! // manifest.json).
//! let files = xuequ::io::write_set(&d.join("out"), "run", |set| {
//!     xuequ::report::write_report_files(set, &data, &allocation, &audit, Default::default())
//! })?;
//! assert_eq!(files.len(), 6); // page, workbook, three GIS layers, manifest
//! # Ok(()) }
//! ```

mod districts;
mod html;
mod layers;
mod map;
mod stats;
mod xlsx;

#[cfg(test)]
mod tests;

use crate::allocate::Allocation;
use crate::audit::AuditReport;
use crate::error::OutputError;
use crate::io::OutputSet;
use crate::load::Dataset;

/// Blocks drawn as dots on one stage's map; the rest are binned to a grid.
pub const MAP_BLOCKS: usize = 6_000;
/// Schools drawn on one stage's map.
pub const MAP_SCHOOLS: usize = 2_500;
/// Overflow flows (block → school) drawn on one stage's map.
pub const MAP_FLOWS: usize = 1_500;
/// School rows in one stage's table.
pub const TABLE_SCHOOLS: usize = 2_500;
/// District rows in one stage's table.
pub const TABLE_DISTRICTS: usize = 100;
/// Changed schools listed in a comparison.
pub const COMPARE_SCHOOLS: usize = 300;
/// Data rows per assignments sheet: Excel's 1,048,576 rows less the header.
pub const XLSX_ROWS_PER_SHEET: usize = 1_048_575;

/// File name of the page written by [`write_report_files`].
pub const HTML_FILE: &str = "report.html";
/// File name of the workbook written by [`write_report_files`].
pub const XLSX_FILE: &str = "results.xlsx";

/// Which report files [`write_report_files`] writes. The default writes both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportOptions {
    /// Write `report.html`.
    pub html: bool,
    /// Write `results.xlsx`.
    pub xlsx: bool,
    /// Write the GIS layers (`zones.geojson`, `blocks.geojson`, `layers.gpkg`; see
    /// [`run_layers`]). They draw the same zone polygons as the page's maps, which at a
    /// million applicants cost seconds and hundreds of megabytes, so a run without the page
    /// skips them unless asked.
    pub layers: bool,
}

impl Default for ReportOptions {
    /// Every file.
    fn default() -> Self {
        ReportOptions {
            html: true,
            xlsx: true,
            layers: true,
        }
    }
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The workbook writer failed (for a large workbook, usually the temporary directory:
    /// the 录取 sheets are buffered in temporary files).
    #[error(
        "cannot build the workbook sheet {sheet}: {source} (fix: check that the temporary directory is writable and has space)"
    )]
    Workbook {
        /// The sheet being written.
        sheet: String,
        /// The writer's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ReportError {
    fn xlsx(sheet: &str, e: rust_xlsxwriter::XlsxError) -> ReportError {
        ReportError::Workbook {
            sheet: sheet.to_string(),
            source: Box::new(e),
        }
    }
}

/// The HTML page of one run: scenario, year, mechanism and seed; per stage the headline
/// figures (applicants, placed, zone share against the national target, unplaced with their
/// reasons, seats left, eligible migrant applicants in public-track seats against the 85 %
/// target, distances), an SVG map, a distance histogram, tiers, the most pressed schools and
/// the districts; then the audit. See the [module docs](self) for the caps.
pub fn run_html(data: &Dataset, allocation: &Allocation, audit: &AuditReport) -> String {
    html::run_page(&stats::RunView::new(data, allocation, audit))
}

/// The HTML page comparing two runs (`base`, then `alt`): per stage the headline figures
/// of both with their deltas, how many applicants (matched by `student_id`) changed school,
/// got or lost a seat, both maps on one projection with one colour per school, both
/// histograms on one scale; then the schools whose capacity, assigned seats, vacancies or
/// cutoff changed (matched by `school_id`), and both audits.
pub fn compare_html(base: (&Dataset, &Allocation, &AuditReport), alt: (&Dataset, &Allocation, &AuditReport)) -> String {
    let b = stats::RunView::new(base.0, base.1, base.2);
    let a = stats::RunView::new(alt.0, alt.1, alt.2);
    html::compare_page(&b, &a)
}

/// The result tables as an `.xlsx` workbook, one sheet per table:
///
/// - **概况** per-stage figures (the stage part of `summary.json`);
/// - **学校** the `schools_summary.csv` columns, with the name next to the id;
/// - **录取** the `assignments.csv` columns, one row per applicant in `students.csv` order,
///   split into 录取1, 录取2, … when there are more than [`XLSX_ROWS_PER_SHEET`] rows;
/// - **顺位与原因** placements per tier and unplaced applicants per reason;
/// - **区县** per stage and district (the `districts_summary.csv` columns) with 学位预警;
/// - **审计** the audit checks;
/// - **说明** the scenario, the rules and what the codes mean.
///
/// Each header cell holds the Chinese name over the file's column key; the header row is
/// bold, frozen and filtered, and columns are sized for Chinese text. The 录取 sheets are
/// buffered in temporary files (constant memory), so the workbook's size, not the
/// applicant count, bounds the memory used.
pub fn workbook(data: &Dataset, allocation: &Allocation, audit: &AuditReport) -> Result<Vec<u8>, ReportError> {
    xlsx::build(&stats::RunView::new(data, allocation, audit))
}

/// The run's GIS layers: `zones.geojson` (each stage's current zones, OGC-valid polygons, with
/// seats, assigned, first choices and 学位预警), `blocks.geojson` (each block with applicants
/// of a stage: applicants, placed, unplaced and the school most of them got) and `layers.gpkg`
/// holding both as GeoPackage layers `zones` and `blocks` (EPSG:4326).
pub fn run_layers(
    data: &Dataset,
    allocation: &Allocation,
    audit: &AuditReport,
) -> Result<[(&'static str, Vec<u8>); 3], crate::gpkg::GpkgError> {
    layer_files(&stats::RunView::new(data, allocation, audit))
}

/// [`run_layers`] from a view of the run already built.
fn layer_files(run: &stats::RunView<'_>) -> Result<[(&'static str, Vec<u8>); 3], crate::gpkg::GpkgError> {
    let (zones, blocks) = layers::run_layers(run);
    let gpkg = crate::gpkg::geopackage(&[("zones", &zones), ("blocks", &blocks)], crate::gpkg::FIXED_TIME)?;
    let json = |v: &serde_json::Value| {
        let mut b = serde_json::to_vec(v).expect("GeoJSON serialises");
        b.push(b'\n');
        b
    };
    Ok([
        ("zones.geojson", json(&zones)),
        ("blocks.geojson", json(&blocks)),
        ("layers.gpkg", gpkg),
    ])
}

/// `districts_summary.csv`: per stage and district (`stage, district, applicants, unplaced,
/// placed_other_district, schools, seats, assigned, vacancies, short_schools, demand_ratio,
/// warning`), where `demand_ratio` is applicants living in the district / seats of its schools
/// and `warning` the 学位预警 level (`none|yellow|orange|red`, thresholds in the policy's
/// `[seat_warning]`, see [`crate::warning`]).
pub fn districts_summary_csv(data: &Dataset, allocation: &Allocation, audit: &AuditReport, bom: bool) -> Vec<u8> {
    districts::csv(&stats::RunView::new(data, allocation, audit), bom)
}

/// [`districts_summary_csv`] from the school rows and summary a run's outputs computed
/// anyway (only the per-district totals are derived again).
pub(crate) fn districts_summary_csv_of(
    data: &Dataset,
    allocation: &Allocation,
    audit: &AuditReport,
    rows: &[crate::output::SchoolRow],
    summary: &crate::output::Summary,
    bom: bool,
) -> Vec<u8> {
    let view = stats::RunView::of_tables(data, allocation, audit, rows, summary.clone(), stats::Detail::Tables);
    districts::csv(&view, bom)
}

/// Adds [`HTML_FILE`], [`XLSX_FILE`] and the GIS layers, as `opts` asks, to a run's output set. A workbook that cannot
/// be built is reported as an error on `results.xlsx` (and the set is then not committed).
pub fn write_report_files(
    set: &mut OutputSet,
    data: &Dataset,
    allocation: &Allocation,
    audit: &AuditReport,
    opts: ReportOptions,
) -> Result<(), OutputError> {
    let tables = crate::output::RunTables::new(data, allocation, audit);
    write_report_files_of(set, data, allocation, audit, tables, opts)
}

/// [`write_report_files`] from the school rows and summary the run's tables were written
/// from (one view of the run for the page, the workbook and the layers).
pub(crate) fn write_report_files_of(
    set: &mut OutputSet,
    data: &Dataset,
    allocation: &Allocation,
    audit: &AuditReport,
    tables: crate::output::RunTables,
    opts: ReportOptions,
) -> Result<(), OutputError> {
    let run = stats::RunView::of_tables(
        data,
        allocation,
        audit,
        &tables.schools,
        tables.summary,
        stats::Detail::Full,
    );
    let page = opts.html.then(|| html::run_page(&run));
    let book = match opts.xlsx {
        true => Some(xlsx::build(&run).map_err(|e| OutputError::Io {
            path: set.target().join(XLSX_FILE),
            source: std::io::Error::other(e),
        })?),
        false => None,
    };
    let mut files: Vec<(&str, &[u8])> = Vec::new();
    if let Some(p) = &page {
        files.push((HTML_FILE, p.as_bytes()));
    }
    if let Some(b) = &book {
        files.push((XLSX_FILE, b.as_slice()));
    }
    crate::output::write_files(set, &files)?;
    if opts.layers {
        let layers = layer_files(&run).map_err(|e| OutputError::Io {
            path: set.target().join("layers.gpkg"),
            source: std::io::Error::other(e),
        })?;
        for (name, bytes) in &layers {
            set.write_bytes(name, bytes)?;
        }
    }
    Ok(())
}

/// Escapes text for HTML and SVG content and attributes.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}
