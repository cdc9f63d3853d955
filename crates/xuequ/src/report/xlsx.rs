//! The `.xlsx` workbook (rust_xlsxwriter, pure Rust): one sheet per table.

use rust_xlsxwriter::{Color, DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet};

use super::stats::{RunView, SchoolRow};
use super::{ReportError, XLSX_ROWS_PER_SHEET};
use crate::mechanism::UNPLACED;
use crate::output;

/// Rows read to size a column.
const WIDTH_SAMPLE: u32 = 2000;

/// A cell value.
enum Cell<'a> {
    Text(&'a str),
    Owned(String),
    Num(f64),
    Count(u64),
    Share(f64),
    Empty,
}

/// Formats shared by every sheet.
struct Formats {
    header: Format,
    count: Format,
    share: Format,
    wrap: Format,
}

impl Formats {
    fn new() -> Formats {
        Formats {
            header: Format::new()
                .set_bold()
                .set_text_wrap()
                .set_align(FormatAlign::VerticalCenter)
                .set_background_color(Color::RGB(0x00E8_EEF5))
                .set_border_bottom(FormatBorder::Thin),
            count: Format::new().set_num_format("#,##0"),
            share: Format::new().set_num_format("0.0%"),
            wrap: Format::new().set_text_wrap().set_align(FormatAlign::Top),
        }
    }
}

/// Display width of text in Excel's character units: CJK and full-width characters count
/// two.
pub(crate) fn display_width(text: &str) -> usize {
    text.lines()
        .map(|l| {
            l.chars()
                .map(|c| match c as u32 {
                    0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F => 2,
                    0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 => 2,
                    _ => 1,
                })
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0)
}

/// One worksheet being written row by row.
struct Sheet<'w> {
    ws: &'w mut Worksheet,
    name: String,
    widths: Vec<usize>,
    row: u32,
}

impl<'w> Sheet<'w> {
    /// Names the sheet and writes the header row: Chinese name over the file's column key.
    fn start(
        ws: &'w mut Worksheet,
        name: &str,
        columns: &[(&str, &str)],
        f: &Formats,
    ) -> Result<Sheet<'w>, ReportError> {
        let err = |e| ReportError::xlsx(name, e);
        ws.set_name(name).map_err(err)?;
        let mut widths = Vec::with_capacity(columns.len());
        for (c, (zh, key)) in columns.iter().enumerate() {
            let text = if key.is_empty() {
                (*zh).to_string()
            } else {
                format!("{zh}\n{key}")
            };
            widths.push(display_width(&text));
            ws.write_string_with_format(0, c as u16, text, &f.header).map_err(err)?;
        }
        ws.set_row_height(0, 32).map_err(err)?;
        ws.set_freeze_panes(1, 0).map_err(err)?;
        Ok(Sheet {
            ws,
            name: name.to_string(),
            widths,
            row: 1,
        })
    }

    fn row(&mut self, cells: &[Cell<'_>], f: &Formats) -> Result<(), ReportError> {
        let r = self.row;
        let measure = r <= WIDTH_SAMPLE;
        for (c, cell) in cells.iter().enumerate() {
            let col = c as u16;
            let result = match cell {
                Cell::Text(t) => self.ws.write_string(r, col, *t).map(|_| display_width(t)),
                Cell::Owned(t) => {
                    let w = display_width(t);
                    let wrap = t.contains('\n');
                    if wrap {
                        self.ws.write_string_with_format(r, col, t, &f.wrap).map(|_| w.min(60))
                    } else {
                        self.ws.write_string(r, col, t).map(|_| w)
                    }
                }
                Cell::Num(v) => self.ws.write_number(r, col, *v).map(|_| format!("{v}").len()),
                Cell::Count(v) => self
                    .ws
                    .write_number_with_format(r, col, *v as f64, &f.count)
                    .map(|_| v.to_string().len() * 4 / 3),
                Cell::Share(v) => self.ws.write_number_with_format(r, col, *v, &f.share).map(|_| 6),
                Cell::Empty => Ok(0),
            };
            let w = result.map_err(|e| ReportError::xlsx(&self.name, e))?;
            if measure && let Some(slot) = self.widths.get_mut(c) {
                *slot = (*slot).max(w);
            }
        }
        self.row += 1;
        Ok(())
    }

    /// Sets column widths from what was measured and turns on the filter.
    fn finish(self) -> Result<(), ReportError> {
        let err = |e| ReportError::xlsx(&self.name, e);
        for (c, &w) in self.widths.iter().enumerate() {
            self.ws
                .set_column_width(c as u16, (w as f64 * 1.1 + 2.0).clamp(6.0, 60.0))
                .map_err(err)?;
        }
        if !self.widths.is_empty() {
            self.ws
                .autofilter(0, 0, self.row.saturating_sub(1).max(1), self.widths.len() as u16 - 1)
                .map_err(err)?;
        }
        Ok(())
    }
}

fn summary_sheet(wb: &mut Workbook, run: &RunView<'_>, f: &Formats) -> Result<(), ReportError> {
    let columns = [
        ("学段", "stage"),
        ("申请人数", "applicants"),
        ("已录取", "placed"),
        ("未录取", "unplaced"),
        ("学区对口录取", "via_zone"),
        ("志愿录取", "via_choice"),
        ("统筹录取", "via_overflow"),
        ("其中兜底", "via_final_pass"),
        ("学区对口占比", "zone_share"),
        ("学校", "schools"),
        ("学位", "seats"),
        ("空余学位", "vacancies"),
        ("学位紧张学校", "oversubscribed_schools"),
        ("独立市场", "markets"),
        ("距离中位数(米)", "distance_p50"),
        ("距离P90(米)", "distance_p90"),
        ("距离P99(米)", "distance_p99"),
        ("最远(米)", "distance_max"),
        ("平均距离(米)", "distance_mean"),
        ("随迁申请", "migrant_applicants"),
        ("随迁符合条件", "migrant_eligible"),
        ("随迁入公办学位", "migrant_eligible_public_track"),
        ("随迁入公办占比", "migrant_eligible_public_track_share"),
        ("随迁符合条件未录取", "migrant_eligible_unplaced"),
    ];
    let mut sheet = Sheet::start(wb.add_worksheet(), "概况", &columns, f)?;
    for s in &run.summary.stages {
        let stage_name = s
            .stage
            .parse::<crate::model::Stage>()
            .map_or(s.stage.clone(), |st| format!("{} {}", st.chinese(), st.as_str()));
        let d = s.distance_m.as_ref();
        let dist = |g: fn(&output::DistanceStats) -> u32| d.map_or(Cell::Empty, |d| Cell::Count(u64::from(g(d))));
        let m = &s.migrant;
        sheet.row(
            &[
                Cell::Owned(stage_name),
                Cell::Count(s.applicants as u64),
                Cell::Count(s.placed as u64),
                Cell::Count(s.unplaced as u64),
                Cell::Count(s.via_zone as u64),
                Cell::Count(s.via_choice as u64),
                Cell::Count(s.via_overflow as u64),
                Cell::Count(s.via_final_pass as u64),
                Cell::Share(s.zone_share),
                Cell::Count(s.schools as u64),
                Cell::Count(s.seats),
                Cell::Count(s.vacancies),
                Cell::Count(s.oversubscribed_schools as u64),
                Cell::Count(s.markets as u64),
                dist(|d| d.p50),
                dist(|d| d.p90),
                dist(|d| d.p99),
                dist(|d| d.max),
                dist(|d| d.mean),
                Cell::Count(m.applicants as u64),
                Cell::Count(m.eligible as u64),
                Cell::Count(m.eligible_public_track as u64),
                Cell::Share(m.eligible_public_track_share),
                Cell::Count(m.eligible_unplaced as u64),
            ],
            f,
        )?;
    }
    sheet.finish()
}

fn tiers_sheet(wb: &mut Workbook, run: &RunView<'_>, f: &Formats) -> Result<(), ReportError> {
    let columns = [("学段", "stage"), ("类别", "kind"), ("名称", "name"), ("人数", "count")];
    let mut sheet = Sheet::start(wb.add_worksheet(), "顺位与原因", &columns, f)?;
    for (si, s) in run.summary.stages.iter().enumerate() {
        // Tiers in priority order, as the page lists them.
        let order = run
            .allocation
            .stages
            .get(si)
            .map_or(&[][..], |st| st.tier_names.as_slice());
        let mut tiers: Vec<(&String, &usize)> = s.tiers.iter().collect();
        tiers.sort_by_key(|(t, _)| order.iter().position(|o| o == *t).unwrap_or(usize::MAX));
        for (t, c) in tiers {
            sheet.row(
                &[
                    Cell::Text(&s.stage),
                    Cell::Text("录取顺位 tier"),
                    Cell::Text(t),
                    Cell::Count(*c as u64),
                ],
                f,
            )?;
        }
        for (r, c) in &s.unplaced_reasons {
            sheet.row(
                &[
                    Cell::Text(&s.stage),
                    Cell::Text("未录取原因 reason"),
                    Cell::Text(r),
                    Cell::Count(*c as u64),
                ],
                f,
            )?;
        }
    }
    sheet.finish()
}

fn schools_sheet(wb: &mut Workbook, run: &RunView<'_>, f: &Formats) -> Result<(), ReportError> {
    let columns = [
        ("学校编号", "school_id"),
        ("学校名称", "name"),
        ("区县", "district"),
        ("学段", "stage"),
        ("公办/民办", "sector"),
        ("学位", "capacity"),
        ("录取", "assigned"),
        ("空余", "vacancies"),
        ("录取线顺位", "cutoff_tier"),
        ("录取线摇号号", "cutoff_lottery"),
        ("录取线积分", "cutoff_points"),
        ("购买学位", "purchased_seats"),
        ("购买学位录取", "purchased_assigned"),
        ("志愿人数", "applicants"),
        ("第一志愿人数", "first_choice_applicants"),
        ("需求/学位", "demand_ratio"),
        ("学位预警", "warning"),
    ];
    let mut sheet = Sheet::start(wb.add_worksheet(), "学校", &columns, f)?;
    let w = run.data.policy.seat_warning;
    for r in &run.schools {
        let r: &SchoolRow = r;
        let level = w.level(u64::from(r.first_choice), u64::from(r.capacity));
        let ratio = (r.capacity > 0).then(|| f64::from(r.first_choice) / f64::from(r.capacity));
        sheet.row(
            &[
                Cell::Text(&r.id),
                Cell::Text(&r.name),
                Cell::Text(&r.district),
                Cell::Text(r.stage.as_str()),
                Cell::Text(r.sector.as_str()),
                Cell::Count(u64::from(r.capacity)),
                Cell::Count(u64::from(r.assigned)),
                Cell::Count(u64::from(r.vacancies)),
                Cell::Text(&r.cutoff_tier),
                r.cutoff_lottery.map_or(Cell::Empty, |l| Cell::Num(f64::from(l))),
                match r.cutoff_points.parse::<f64>() {
                    Ok(p) if p.is_finite() => Cell::Num(p),
                    _ => Cell::Text(&r.cutoff_points),
                },
                Cell::Count(u64::from(r.purchased_seats)),
                Cell::Count(u64::from(r.purchased_assigned)),
                Cell::Count(u64::from(r.applicants)),
                Cell::Count(u64::from(r.first_choice)),
                ratio.map_or(Cell::Empty, Cell::Share),
                Cell::Owned(format!("{} {}", level.chinese(), level.as_str())),
            ],
            f,
        )?;
    }
    sheet.finish()
}

fn districts_sheet(wb: &mut Workbook, run: &RunView<'_>, f: &Formats) -> Result<(), ReportError> {
    let mut sheet = Sheet::start(wb.add_worksheet(), "区县", &super::districts::COLUMNS, f)?;
    for r in super::districts::district_rows(run) {
        let a = r.agg;
        sheet.row(
            &[
                Cell::Owned(format!("{} {}", r.stage.chinese(), r.stage.as_str())),
                Cell::Text(r.district),
                Cell::Count(a.applicants),
                Cell::Count(a.unplaced),
                Cell::Count(a.placed_elsewhere),
                Cell::Count(a.schools),
                Cell::Count(a.seats),
                Cell::Count(a.assigned),
                Cell::Count(a.seats.saturating_sub(a.assigned)),
                Cell::Count(a.short),
                if a.seats == 0 {
                    Cell::Empty
                } else {
                    Cell::Share(a.applicants as f64 / a.seats as f64)
                },
                Cell::Owned(format!("{} {}", r.level.chinese(), r.level.as_str())),
            ],
            f,
        )?;
    }
    sheet.finish()
}

const ASSIGNMENT_COLUMNS: [(&str, &str); 10] = [
    ("学生编号", "student_id"),
    ("学段", "stage"),
    ("学校编号", "school_id"),
    ("录取顺位", "tier"),
    ("摇号号", "lottery"),
    ("距离(米)", "distance_m"),
    ("录取方式", "via"),
    ("学校名称", "school_name"),
    ("区县", "district"),
    ("未录取原因", "reason"),
];

/// Names of the assignment sheets for `rows` applicants.
pub(crate) fn assignment_sheet_names(rows: usize) -> Vec<String> {
    let sheets = rows.div_ceil(XLSX_ROWS_PER_SHEET).max(1);
    if sheets == 1 {
        vec!["录取".to_string()]
    } else {
        (1..=sheets).map(|i| format!("录取{i}")).collect()
    }
}

fn assignment_sheets(wb: &mut Workbook, run: &RunView<'_>, f: &Formats) -> Result<Vec<String>, ReportError> {
    let data = run.data;
    let allocation = run.allocation;
    let city = &data.city;
    // Cohort index -> (stage allocation, member), as assignments.csv orders its rows.
    let mut slot: Vec<(u16, u32)> = vec![(u16::MAX, 0); data.cohort.students.len()];
    for (si, st) in allocation.stages.iter().enumerate() {
        for (m, &i) in st.members.iter().enumerate() {
            if let Some(s) = slot.get_mut(i as usize) {
                *s = (si as u16, m as u32);
            }
        }
    }
    let total = slot.iter().filter(|s| s.0 != u16::MAX).count();
    let names = assignment_sheet_names(total);
    let mut rows = slot
        .iter()
        .enumerate()
        .filter(|(_, s)| s.0 != u16::MAX)
        .map(|(i, &(si, m))| (i, si as usize, m as usize));
    for name in &names {
        let ws = wb
            .add_worksheet_with_constant_memory()
            .map_err(|e| ReportError::xlsx(name, e))?;
        let mut sheet = Sheet::start(ws, name, &ASSIGNMENT_COLUMNS, f)?;
        for (i, si, m) in rows.by_ref().take(XLSX_ROWS_PER_SHEET) {
            let st = &allocation.stages[si];
            let p = st.placements[m];
            let id = data.cohort.id(i);
            let stage = st.stage.as_str();
            let lottery = Cell::Num(f64::from(st.lottery[m]));
            if p.program == UNPLACED {
                sheet.row(
                    &[
                        Cell::Text(id),
                        Cell::Text(stage),
                        Cell::Empty,
                        Cell::Empty,
                        lottery,
                        Cell::Empty,
                        Cell::Text("unplaced"),
                        Cell::Empty,
                        Cell::Empty,
                        Cell::Text(output::unplaced_reason(data, st, m)),
                    ],
                    f,
                )?;
                continue;
            }
            let prog = st.programs[p.program as usize];
            let school = &city.schools[prog.school as usize];
            let district = city.districts.get(school.district as usize).map_or("", String::as_str);
            sheet.row(
                &[
                    Cell::Text(id),
                    Cell::Text(stage),
                    Cell::Text(&school.id),
                    Cell::Text(st.tier_name(prog.kind, p.tier)),
                    lottery,
                    Cell::Num(f64::from(p.distance_m)),
                    Cell::Text(st.via(m)),
                    Cell::Text(&school.name),
                    Cell::Text(district),
                    Cell::Empty,
                ],
                f,
            )?;
        }
        sheet.finish()?;
    }
    Ok(names)
}

fn audit_sheet(wb: &mut Workbook, run: &RunView<'_>, f: &Formats) -> Result<(), ReportError> {
    let columns = [
        ("检查", "check"),
        ("内容", "description"),
        ("通过", "passed"),
        ("强制", "enforced"),
        ("违规数", "violations"),
        ("示例(最多十条)", "examples"),
    ];
    let mut sheet = Sheet::start(wb.add_worksheet(), "审计", &columns, f)?;
    for c in &run.audit.checks {
        sheet.row(
            &[
                Cell::Text(&c.name),
                Cell::Text(&c.description),
                Cell::Text(if c.passed { "是 yes" } else { "否 no" }),
                Cell::Text(if c.enforced { "是 yes" } else { "否 no" }),
                Cell::Count(c.violations as u64),
                Cell::Owned(c.examples.join("\n")),
            ],
            f,
        )?;
    }
    // Descriptions are long sentences: cap the column and wrap.
    sheet.widths[1] = sheet.widths[1].min(70);
    sheet.finish()
}

fn about_sheet(wb: &mut Workbook, run: &RunView<'_>, sheets: &[String], f: &Formats) -> Result<(), ReportError> {
    let s = &run.summary;
    let columns = [("项目", "item"), ("内容", "value")];
    let mut sheet = Sheet::start(wb.add_worksheet(), "说明", &columns, f)?;
    let split = if sheets.len() > 1 {
        format!(
            "录取表超过 Excel 单表上限，按 students.csv 顺序拆为 {} 张表（{}），每表最多 {} 行",
            sheets.len(),
            sheets.join("、"),
            XLSX_ROWS_PER_SHEET
        )
    } else {
        "录取表为一张表，按 students.csv 顺序".to_string()
    };
    let rows: Vec<(&str, String)> = vec![
        ("情景 scenario", s.scenario.clone()),
        ("年份 year", s.year.to_string()),
        ("机制 mechanism", s.mechanism.clone()),
        ("摇号 tie_break", s.tie_break.clone()),
        ("摇号种子 seed", s.seed.to_string()),
        ("候选 candidates", s.candidates.clone()),
        ("统筹半径(米) overflow_radius_m", s.overflow_radius_m.to_string()),
        ("兜底 guarantee", s.guarantee.clone()),
        (
            "审计 audit",
            if s.audit.passed { "通过 passed" } else { "未通过 failed" }.to_string(),
        ),
        ("录取表 assignments", split),
        (
            "录取方式 via",
            "zone = 学区对口（含对口直升）a zone or feeder school；choice = 志愿（民办或跨学区选择）a chosen school；\
             overflow = 统筹（含兜底）overflow or the final pass；unplaced = 未录取 no seat"
                .to_string(),
        ),
        (
            "未录取原因 reason",
            "listed_schools_full = 志愿学校均已满 every listed school full；no_candidate_school = 无可报学校 no school to list；\
             not_eligible_migrant = 随迁子女资格不符 a migrant not eligible for the final pass；\
             listed_schools_full_not_eligible_migrant = 志愿学校已满且随迁资格不符 listed schools full and not eligible；\
             no_seat_in_district = 本区已无空余学位 no seat left in the home district"
                .to_string(),
        ),
        (
            "录取线 cutoff",
            "最后一名按志愿录取者的顺位、摇号号（1 = 最优）与积分（随迁子女按积分排序时）；\
             仅学位已满的学校有录取线，未满额学校标为 not_full（未满额，无录取线）。\
             The last applicant admitted from their list: tier, lottery number (1 = best) and points; \
             only a full school has a cutoff, others show not_full"
                .to_string(),
        ),
        (
            "学位预警 warning",
            format!(
                "需求/学位（学校：第一志愿人数/学位；区县：本区申请人数/本区学校学位）超过 {:.0}% 为 yellow 黄色预警，\
                 超过 {:.0}% 为 orange 橙色预警，超过 {:.0}% 为 red 红色预警，否则 none 无（阈值见政策 [seat_warning]）。\
                 Demand over seats above the yellow, orange and red thresholds of policy [seat_warning]",
                run.data.policy.seat_warning.yellow * 100.0,
                run.data.policy.seat_warning.orange * 100.0,
                run.data.policy.seat_warning.red * 100.0
            ),
        ),
        ("生成 generator", format!("xuequ {}", env!("CARGO_PKG_VERSION"))),
    ];
    for (k, v) in &rows {
        sheet.row(&[Cell::Text(k), Cell::Text(v)], f)?;
    }
    sheet.widths[1] = sheet.widths[1].min(90);
    sheet.finish()?;
    Ok(())
}

/// Builds the workbook.
pub(crate) fn build(run: &RunView<'_>) -> Result<Vec<u8>, ReportError> {
    let mut wb = Workbook::new();
    let f = Formats::new();
    // A fixed creation date (1 January of the admission year) keeps the bytes reproducible.
    let year = u16::try_from(run.summary.year.clamp(1900, 9999)).unwrap_or(2000);
    let created = ExcelDateTime::from_ymd(year, 1, 1).map_err(|e| ReportError::xlsx("properties", e))?;
    wb.set_properties(
        &DocProperties::new()
            .set_title(format!("招生分配结果 · {}", run.summary.scenario))
            .set_author("xuequ")
            .set_creation_datetime(&created),
    );
    summary_sheet(&mut wb, run, &f)?;
    schools_sheet(&mut wb, run, &f)?;
    let sheets = assignment_sheets(&mut wb, run, &f)?;
    tiers_sheet(&mut wb, run, &f)?;
    districts_sheet(&mut wb, run, &f)?;
    audit_sheet(&mut wb, run, &f)?;
    about_sheet(&mut wb, run, &sheets, &f)?;
    wb.save_to_buffer().map_err(|e| ReportError::xlsx("workbook", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_counts_double() {
        assert_eq!(display_width("abc"), 3);
        assert_eq!(display_width("实验小学"), 8);
        assert_eq!(display_width("学校（民办）"), 12);
        assert_eq!(display_width("学校编号\nschool_id"), 9);
    }

    #[test]
    fn assignment_sheets_split_at_the_row_limit() {
        assert_eq!(assignment_sheet_names(0), vec!["录取"]);
        assert_eq!(assignment_sheet_names(XLSX_ROWS_PER_SHEET), vec!["录取"]);
        assert_eq!(
            assignment_sheet_names(XLSX_ROWS_PER_SHEET + 1),
            vec!["录取1".to_string(), "录取2".to_string()]
        );
    }
}
