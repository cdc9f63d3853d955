//! The self-contained HTML pages: one run, or two runs side by side.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::layers;
use super::map::{self, MapNotes, PALETTE, Projection};
use super::stats::{self, Histogram, RunView, SchoolRow, StageView, VIAS};
use super::{COMPARE_SCHOOLS, MAP_BLOCKS, MAP_FLOWS, MAP_SCHOOLS, TABLE_DISTRICTS, TABLE_SCHOOLS, esc};
use crate::audit::Check;
use crate::compare::StageDelta;
use crate::model::{Sector, Stage};
use crate::output::{StageSummary, Summary};

/// National target for the share of eligible migrant applicants in public-track seats.
const MIGRANT_TARGET: f64 = 0.85;

/// The national target of the zone share of a stage, if it has one.
fn zone_target(stage: Stage) -> Option<f64> {
    match stage {
        Stage::Primary => Some(1.0),
        Stage::Junior => Some(0.95),
        Stage::Kindergarten => None,
    }
}

fn mechanism_zh(m: &str) -> &'static str {
    match m {
        "deferred_acceptance" => "延迟接受（平行志愿）",
        "immediate_acceptance" => "即时接受（顺序志愿）",
        "serial_dictatorship" => "序列择校",
        _ => "",
    }
}

fn tie_break_zh(t: &str) -> &'static str {
    match t {
        "single" => "统一摇号",
        "multiple" => "分校摇号",
        _ => "",
    }
}

fn candidates_zh(c: &str) -> &'static str {
    match c {
        "zone_then_overflow" => "学区优先，就近统筹",
        "choices" => "按志愿",
        _ => "",
    }
}

fn guarantee_zh(g: &str) -> &'static str {
    match g {
        "all" => "全部兜底",
        "eligible" => "应收尽收",
        "none" => "不兜底",
        _ => "",
    }
}

fn reason_zh(r: &str) -> &'static str {
    match r {
        "listed_schools_full" => "志愿学校均已满",
        "no_candidate_school" => "无可报学校",
        "not_eligible_migrant" => "随迁子女资格不符",
        "listed_schools_full_not_eligible_migrant" => "志愿学校已满且随迁资格不符",
        "no_seat_in_district" => "本区已无空余学位",
        _ => "",
    }
}

fn check_zh(c: &str) -> &'static str {
    match c {
        "accounted" => "人数核对",
        "capacity" => "学位容量",
        "from_list" => "录取来源",
        "stability" => "稳定性（无合理嫉妒）",
        "boston_stability" => "顺序志愿规则",
        "serial_order" => "排序规则",
        "migrant_guarantee" => "随迁子女应收尽收",
        _ => "",
    }
}

const VIA_ZH: [&str; 3] = ["学区对口", "志愿（民办等）", "统筹"];
const VIA_COLOUR: [&str; 3] = ["#4e79a7", "#b07aa1", "#f28e2b"];

/// 1234567 → "1,234,567".
pub(crate) fn n(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A signed count with its sign.
fn signed(v: i64) -> String {
    match v.cmp(&0) {
        std::cmp::Ordering::Greater => format!("+{}", n(v.unsigned_abs())),
        std::cmp::Ordering::Less => format!("−{}", n(v.unsigned_abs())),
        std::cmp::Ordering::Equal => "0".to_string(),
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Metres as "850 m" or "2.4 km".
fn metres(m: u32) -> String {
    if m < 1000 {
        format!("{m} m")
    } else {
        format!("{:.1} km", f64::from(m) / 1000.0)
    }
}

const CSS: &str = r#"
.en{color:#6b7280;font-weight:400;font-size:.78em;margin:0 .35em}
th .en{display:block;margin:0}
:root{--ink:#1f2933;--mute:#5f6b7a;--line:#dde3ea;--bg:#f3f5f8;--card:#fff;--ok:#2e7d32;--bad:#c62828;--warn:#b26a00;--head:#17324d}
*{box-sizing:border-box}
body{margin:0;font:14px/1.55 "PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei",system-ui,sans-serif;color:var(--ink);background:var(--bg)}
header{background:var(--head);color:#fff;padding:22px 32px 18px}
header h1{margin:0 0 6px;font-size:24px;font-weight:600;letter-spacing:.5px}
header .meta{color:#c9d6e3;font-size:13px}
header .meta span{margin-right:18px;white-space:nowrap}
nav{position:sticky;top:0;z-index:5;background:#fff;border-bottom:1px solid var(--line);padding:8px 32px;font-size:13px}
nav a{color:var(--head);margin-right:18px;text-decoration:none;font-weight:600}
main{max-width:1480px;margin:0 auto;padding:8px 24px 40px}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;margin:18px 0;padding:18px 22px}
h2{margin:0 0 12px;font-size:20px}
h2 small{color:var(--mute);font-weight:400;font-size:13px;margin-left:8px}
h3{font-size:15px;margin:18px 0 8px}
.badge{display:inline-block;white-space:nowrap;padding:1px 10px;border-radius:10px;font-size:12px;font-weight:600;vertical-align:middle}
.badge.ok{background:#e3f2e5;color:var(--ok)}.badge.bad{background:#fde8e8;color:var(--bad)}.badge.info{background:#eef2f7;color:var(--mute)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(165px,1fr));gap:10px;margin-bottom:14px}
.card{border:1px solid var(--line);border-radius:6px;padding:10px 12px;background:#fbfcfd}
.card .k{color:var(--mute);font-size:12px}
.card .v{font-size:22px;font-weight:600;line-height:1.3;font-variant-numeric:tabular-nums}
.card .s{font-size:12px;color:var(--mute)}
.card.ok{border-left:4px solid var(--ok)}.card.bad{border-left:4px solid var(--bad)}.card.warn{border-left:4px solid var(--warn)}
.ok-t{color:var(--ok)}.bad-t{color:var(--bad)}.warn-t{color:var(--warn)}
.grid2{display:grid;grid-template-columns:minmax(0,3fr) minmax(300px,2fr);gap:18px;align-items:start}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:14px}
@media (max-width:1000px){.grid2,.pair{grid-template-columns:1fr}}
figure{margin:0}
figcaption{color:var(--mute);font-size:12px;margin-top:4px}
svg.map{width:100%;height:auto;display:block;border:1px solid var(--line);border-radius:6px;background:#fafbfc}
.map .bg{fill:#fafbfc}
.map .u{stroke:#d62728;stroke-width:1.6}
.map .bx{fill:#d62728}
.map .grid rect{fill:#7b8794}.map .grid rect.u{stroke-width:.8}
.map .s{stroke:#fff;stroke-width:1.2;fill-opacity:.95}
.map .s.f{stroke:#111;stroke-width:2.2}
.map .r{fill:none;stroke:#d62728;stroke-width:2;stroke-dasharray:3 2}
.map .fl{stroke:#6a3d9a;stroke-opacity:.5;stroke-linecap:round}
.map .ah{fill:#6a3d9a;fill-opacity:.7}
.map .dl text{font-size:15px;fill:#3e4c59;font-weight:600;text-anchor:middle;paint-order:stroke;stroke:#fff;stroke-width:3.5px;stroke-linejoin:round;pointer-events:none;opacity:.85}
.map .sb path{fill:none;stroke:#3e4c59;stroke-width:1.5}.map .sb text{font-size:12px;fill:#3e4c59;dominant-baseline:middle}
.map circle:hover,.map rect.s:hover{stroke:#000;stroke-width:2.5}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px;color:var(--mute);margin:6px 0 2px}
.legend svg{vertical-align:middle;margin-right:4px}
svg.hist{width:100%;height:auto;display:block}
.hist text{font-size:11px;fill:#5f6b7a}.hist .ax{stroke:#9aa5b1;fill:none}.hist .pl{stroke:#1f2933;stroke-dasharray:4 3;fill:none}
table{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f7;font-weight:600;position:sticky;top:37px;white-space:nowrap}
td.n,th.n{text-align:right}
table.sort th{cursor:pointer}table.sort th:hover{background:#e2e8f0}
tr.short td{background:#fff4f4}tr.full td:first-child{font-weight:600}
td .id{color:var(--mute);font-size:11px;margin-left:4px}
.wrap{max-height:560px;overflow:auto;border:1px solid var(--line);border-radius:6px}
.wrap th{top:0}
.note{color:var(--mute);font-size:12px;margin:6px 0}
details summary{cursor:pointer;color:var(--head)}
details ul{margin:4px 0 0 18px;padding:0;font-size:12px;color:var(--mute)}
.up{color:var(--ok)}.down{color:var(--bad)}
footer{color:var(--mute);font-size:12px;max-width:1480px;margin:0 auto;padding:0 24px 30px}
.warn{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;white-space:nowrap}
.warn.wr{background:#c62828;color:#fff}.warn.wo{background:#ef6c00;color:#fff}.warn.wy{background:#fdd835;color:#333}.warn.wn{color:var(--mute)}
.map .zones path{fill-opacity:.32;stroke:#fff;stroke-width:1.2;fill-rule:evenodd;vector-effect:non-scaling-stroke}
.map .zones path:hover{fill-opacity:.6}
.map .dist path{fill:none;stroke:#243b53;stroke-width:2;stroke-dasharray:8 4;fill-rule:evenodd;vector-effect:non-scaling-stroke;pointer-events:none}
.map .chg circle{fill:none;stroke:#ff7f00;stroke-width:2.4;vector-effect:non-scaling-stroke}
.map .mk .new{fill:#ffd400;stroke:#111;stroke-width:1.2}.map .mk .closed{fill:none;stroke:#d62728;stroke-width:3.5;stroke-linecap:round}
.mapfig.no-zones .zones,.mapfig.no-dist .dist,.mapfig.no-blocks .blocks,.mapfig.no-blocks .grid,.mapfig.no-flows .flows,.mapfig.no-chg .chg{display:none}
svg.map{touch-action:none;cursor:grab;max-height:88vh}
.mapctl{display:flex;flex-wrap:wrap;align-items:center;gap:4px 14px;font-size:12px;color:var(--ink);margin:0 0 6px}
.mapctl label{white-space:nowrap;cursor:pointer}
.mapctl button{font:inherit;padding:0 8px;margin-right:3px;border:1px solid var(--line);border-radius:4px;background:#fff;cursor:pointer}
.mapctl .hint{color:var(--mute)}
@media print{
@page{size:A4;margin:12mm}
body{background:#fff;font-size:11px}
nav,.mapctl{display:none}
header{background:#fff;color:var(--ink);padding:0 0 8px;border-bottom:2px solid var(--head)}
header .meta{color:var(--mute)}
main,footer{max-width:none;padding:0}
section{break-before:page;border:none;border-radius:0;margin:0;padding:0}
.grid2,.pair{display:block}
figure{break-inside:avoid;margin-bottom:8px}
svg.map{width:100%;max-height:150mm;border:none}
.wrap{max-height:none;overflow:visible;border:none}
th{position:static}
thead{display:table-header-group}
tr{break-inside:avoid}
h2,h3{break-after:avoid}
.cards{grid-template-columns:repeat(6,1fr);gap:6px}.card{padding:6px 8px}.card .v{font-size:16px}
}
"#;

const SORT_JS: &str = "document.querySelectorAll('table.sort th').forEach(function(th){th.addEventListener('click',\
function(){var t=th.closest('table'),b=t.tBodies[0],i=Array.prototype.indexOf.call(th.parentNode.children,th),\
asc=th.getAttribute('data-dir')!=='asc';t.querySelectorAll('th').forEach(function(h){h.removeAttribute('data-dir')});\
th.setAttribute('data-dir',asc?'asc':'desc');var v=function(r){var c=r.cells[i];return c?(c.getAttribute('data-v')||c.textContent):''};\
Array.from(b.rows).sort(function(x,y){var a=v(x),c=v(y),na=parseFloat(a),nc=parseFloat(c),\
r=(!isNaN(na)&&!isNaN(nc))?na-nc:a.localeCompare(c,'zh');return asc?r:-r}).forEach(function(r){b.appendChild(r)})})});";

/// Zoom (wheel, buttons), pan (drag), reset (double click) and layer switches of each map.
const MAP_JS: &str = "document.querySelectorAll('figure.mapfig').forEach(function(f){var s=f.querySelector('svg.map');if(!s)return;\
var v=s.viewBox.baseVal,W=v.width,H=v.height;function set(x,y,w){w=Math.min(Math.max(w,W/50),W);var h=w*H/W;\
x=Math.min(Math.max(x,0),W-w);y=Math.min(Math.max(y,0),H-h);s.setAttribute('viewBox',x+' '+y+' '+w+' '+h)}\
function zoom(k,cx,cy){var b=s.viewBox.baseVal;if(cx===undefined){cx=b.x+b.width/2;cy=b.y+b.height/2}set(cx-(cx-b.x)/k,cy-(cy-b.y)/k,b.width/k)}\
s.addEventListener('wheel',function(e){e.preventDefault();var r=s.getBoundingClientRect(),b=s.viewBox.baseVal;\
zoom(e.deltaY<0?1.25:0.8,b.x+(e.clientX-r.left)/r.width*b.width,b.y+(e.clientY-r.top)/r.height*b.height)},{passive:false});\
var d=null;s.addEventListener('pointerdown',function(e){d=[e.clientX,e.clientY]});\
s.addEventListener('pointermove',function(e){if(!d||!e.buttons)return;var r=s.getBoundingClientRect(),b=s.viewBox.baseVal,k=b.width/r.width;\
set(b.x-(e.clientX-d[0])*k,b.y-(e.clientY-d[1])*k,b.width);d=[e.clientX,e.clientY]});\
s.addEventListener('pointerup',function(){d=null});s.addEventListener('dblclick',function(){set(0,0,W)});\
f.querySelectorAll('[data-zoom]').forEach(function(b){b.addEventListener('click',function(){var z=parseFloat(b.getAttribute('data-zoom'));\
if(z===0)set(0,0,W);else zoom(z)})});\
f.querySelectorAll('input[data-layer]').forEach(function(c){var a=function(){f.classList.toggle('no-'+c.getAttribute('data-layer'),!c.checked)};\
c.addEventListener('change',a);a()})});";

fn page_start(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"xuequ {}\">\n<title>{}</title>\n<style>{CSS}",
        env!("CARGO_PKG_VERSION"),
        esc(title)
    );
    for (i, c) in PALETTE.iter().enumerate() {
        let _ = write!(out, ".k{i}{{fill:{c}}}");
    }
    out.push_str("</style>\n</head>\n<body>\n");
}

fn page_end(out: &mut String) {
    let _ = write!(
        out,
        "<footer>由 xuequ {} 生成。页面自包含，可离线打开（无外部脚本、字体或地图瓦片）。\
         地图为经纬度等距投影（上北下南），底图不含道路。大规模数据按上限汇总绘制：\
         每学段地图最多单独绘制 {} 个小区（其余按网格汇总为灰色方块）、{} 所学校、{} 条统筹流向（对比页每张地图各取一半）；\
         学校表最多 {} 行（按第一志愿/学位比排序）、区县表最多 {} 行；完整数据见 results.xlsx 与 CSV 文件。</footer>\n\
         <script>{SORT_JS}{MAP_JS}</script>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        n(MAP_BLOCKS as u64),
        n(MAP_SCHOOLS as u64),
        n(MAP_FLOWS as u64),
        TABLE_SCHOOLS,
        TABLE_DISTRICTS
    );
}

fn meta_line(out: &mut String, s: &Summary) {
    let _ = write!(
        out,
        "<div class=\"meta\"><span>年份 {}</span><span>机制 {} <small>{}</small></span><span>摇号 {}</span>\
         <span>种子 {}</span><span>候选 {}，统筹半径 {}</span><span>距离 {}</span><span>兜底 {}</span></div>",
        s.year,
        mechanism_zh(&s.mechanism),
        esc(&s.mechanism),
        tie_break_zh(&s.tie_break),
        s.seed,
        candidates_zh(&s.candidates),
        metres(s.overflow_radius_m),
        match s.distance.as_str() {
            "roads" => "道路 roads",
            "matrix" => "距离表 matrix",
            _ => "直线 straight",
        },
        guarantee_zh(&s.guarantee),
    );
}

fn audit_badge(passed: bool) -> &'static str {
    if passed {
        "<span class=\"badge ok\">审计通过</span>"
    } else {
        "<span class=\"badge bad\">审计未通过</span>"
    }
}

fn card(out: &mut String, class: &str, key: &str, value: &str, sub: &str) {
    let english = CARD_ENGLISH
        .iter()
        .find(|(zh, _)| *zh == key)
        .map_or(String::new(), |(_, en)| format!("<span class=\"en\">{en}</span>"));
    let _ = write!(
        out,
        "<div class=\"card {class}\"><div class=\"k\">{key}{english}</div><div class=\"v\">{value}</div><div class=\"s\">{sub}</div></div>"
    );
}

/// English beside the Chinese of each figure card.
const CARD_ENGLISH: &[(&str, &str)] = &[
    ("申请人数", "applicants"),
    ("已录取", "placed"),
    ("学区对口录取占比", "at a zone school"),
    ("未录取", "unplaced"),
    ("空余学位", "seats left"),
    ("随迁子女入公办学位", "migrant children in public seats"),
    ("通勤距离 中位数", "median distance"),
    ("学位紧张学校", "schools short of seats"),
    ("统筹录取", "placed by overflow"),
];

fn share(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The headline figures of one stage as cards.
fn cards(out: &mut String, stage: Stage, s: &StageSummary) {
    out.push_str("<div class=\"cards\">");
    card(
        out,
        "",
        "申请人数",
        &n(s.applicants as u64),
        &format!("{} 所学校", n(s.schools as u64)),
    );
    card(
        out,
        "",
        "已录取",
        &n(s.placed as u64),
        &format!("占申请人数 {}", pct(share(s.placed, s.applicants))),
    );
    let (class, sub) = match zone_target(stage) {
        Some(t) if s.zone_share + 1e-9 >= t => ("ok", format!("目标 ≥ {:.0}%，已达标", t * 100.0)),
        Some(t) => ("bad", format!("目标 ≥ {:.0}%，未达标", t * 100.0)),
        None => ("", "无全国目标".to_string()),
    };
    card(out, class, "学区对口录取占比", &pct(s.zone_share), &sub);
    let reasons: Vec<String> = s
        .unplaced_reasons
        .iter()
        .map(|(r, c)| format!("{} {}", reason_zh(r), n(*c as u64)))
        .collect();
    card(
        out,
        if s.unplaced > 0 { "bad" } else { "ok" },
        "未录取",
        &n(s.unplaced as u64),
        &if reasons.is_empty() {
            "全部录取".to_string()
        } else {
            reasons.join("；")
        },
    );
    card(
        out,
        "",
        "空余学位",
        &n(s.vacancies),
        &format!("共 {} 个学位", n(s.seats)),
    );
    let m = &s.migrant;
    if m.eligible > 0 {
        let ok = m.eligible_public_track_share + 1e-9 >= MIGRANT_TARGET;
        card(
            out,
            if ok { "ok" } else { "bad" },
            "随迁子女入公办学位",
            &pct(m.eligible_public_track_share),
            &format!(
                "符合条件 {} 人；目标 ≥ 85%{}",
                n(m.eligible as u64),
                if m.eligible_unplaced > 0 {
                    format!("；未录取 {}", n(m.eligible_unplaced as u64))
                } else {
                    String::new()
                }
            ),
        );
    } else {
        card(
            out,
            "",
            "随迁子女入公办学位",
            "—",
            &format!("随迁申请 {} 人，无符合条件者", n(m.applicants as u64)),
        );
    }
    if let Some(d) = &s.distance_m {
        card(
            out,
            "",
            "通勤距离 中位数",
            &metres(d.p50),
            &format!("P90 {} · P99 {} · 最远 {}", metres(d.p90), metres(d.p99), metres(d.max)),
        );
    }
    card(
        out,
        if s.oversubscribed_schools > 0 { "warn" } else { "" },
        "学位紧张学校",
        &n(s.oversubscribed_schools as u64),
        "第一志愿人数超过学位",
    );
    card(
        out,
        "",
        "统筹录取",
        &n(s.via_overflow as u64),
        &format!(
            "其中兜底 {}；志愿录取 {}",
            n(s.via_final_pass as u64),
            n(s.via_choice as u64)
        ),
    );
    out.push_str("</div>");
}

/// How applicants got their seats: tiers and reasons.
fn breakdown(out: &mut String, s: &StageSummary, tier_order: &[String]) {
    out.push_str("<h3>录取顺位</h3><table><thead><tr><th>顺位</th><th class=\"n\">人数</th><th class=\"n\">占已录取</th></tr></thead><tbody>");
    // Tiers in priority order (the private lottery and unknown names after).
    let mut tiers: Vec<(&String, &usize)> = s.tiers.iter().collect();
    tiers.sort_by_key(|(t, _)| tier_order.iter().position(|o| o == *t).unwrap_or(usize::MAX));
    for (t, c) in tiers {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(t),
            n(*c as u64),
            pct(share(*c, s.placed))
        );
    }
    out.push_str("</tbody></table>");
    out.push_str("<h3>录取方式</h3><table><tbody>");
    for (label, c) in [
        (VIA_ZH[0], s.via_zone),
        (VIA_ZH[1], s.via_choice),
        (VIA_ZH[2], s.via_overflow),
    ] {
        let _ = write!(
            out,
            "<tr><td>{label}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            n(c as u64),
            pct(share(c, s.applicants))
        );
    }
    let _ = write!(
        out,
        "<tr><td>未录取</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr></tbody></table>",
        n(s.unplaced as u64),
        pct(share(s.unplaced, s.applicants))
    );
}

fn legend(out: &mut String) {
    out.push_str("<div class=\"legend\">");
    let sw = |shape: &str| format!("<svg width=\"18\" height=\"14\" viewBox=\"0 0 18 14\">{shape}</svg>");
    let items = [
        (
            sw("<circle cx=\"9\" cy=\"7\" r=\"3.5\" fill=\"#4e79a7\"/>"),
            "小区（颜色 = 多数学生录取的学校，大小 = 申请人数）",
        ),
        (
            sw("<circle cx=\"9\" cy=\"7\" r=\"3.5\" fill=\"#4e79a7\" stroke=\"#d62728\" stroke-width=\"1.6\"/>"),
            "有未录取学生的小区",
        ),
        (
            sw("<circle cx=\"9\" cy=\"7\" r=\"6\" fill=\"#59a14f\" stroke=\"#fff\"/>"),
            "公办学校（大小 = 利用率）",
        ),
        (
            sw("<rect x=\"3\" y=\"1\" width=\"12\" height=\"12\" fill=\"#59a14f\"/>"),
            "民办学校",
        ),
        (
            sw("<circle cx=\"9\" cy=\"7\" r=\"5\" fill=\"#59a14f\" stroke=\"#111\" stroke-width=\"2.2\"/>"),
            "学位已满",
        ),
        (
            sw(
                "<circle cx=\"9\" cy=\"7\" r=\"6\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" stroke-dasharray=\"3 2\"/>",
            ),
            "学位紧张（第一志愿 > 学位）",
        ),
        (
            sw(
                "<path d=\"M1 7H13\" stroke=\"#6a3d9a\" stroke-opacity=\".6\" stroke-width=\"3\"/><path d=\"M12 3L17 7L12 11z\" fill=\"#6a3d9a\"/>",
            ),
            "统筹流向（粗细 = 人数）",
        ),
        (
            sw("<rect x=\"3\" y=\"1\" width=\"12\" height=\"12\" fill=\"#7b8794\" fill-opacity=\".5\"/>"),
            "未单独绘制的小区（网格汇总）",
        ),
    ];
    for (s, label) in items {
        let _ = write!(out, "<span>{s}{label}</span>");
    }
    out.push_str("</div>");
}

fn map_caption(notes: &MapNotes) -> String {
    let mut parts = vec![format!(
        "小区 {} 个（单独绘制 {}）",
        n(notes.blocks as u64),
        n(notes.blocks_drawn as u64)
    )];
    parts.push(format!(
        "学校 {} 所（绘制 {}）",
        n(notes.schools as u64),
        n(notes.schools_drawn as u64)
    ));
    parts.push(format!(
        "统筹流向 {} 条（绘制最大的 {}）",
        n(notes.flows as u64),
        n(notes.flows_drawn as u64)
    ));
    format!("{}。鼠标悬停查看名称与人数。", parts.join("，"))
}

/// A stacked bar chart of distances; `ymax` fixes the scale (for side-by-side charts).
fn histogram_svg(h: &Histogram, ymax: u64, s: &StageSummary) -> String {
    let (w, hh, left, bottom, top) = (640.0, 230.0, 54.0, 34.0, 12.0);
    let plot_w = w - left - 26.0;
    let plot_h = hh - bottom - top;
    let bins = h.counts.len().max(1);
    let bw = plot_w / bins as f64;
    let ymax = ymax.max(1) as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"hist\" viewBox=\"0 0 {w} {hh}\" role=\"img\" aria-label=\"通勤距离分布\">"
    );
    // Y axis: 0 and max.
    let _ = write!(
        svg,
        "<path class=\"ax\" d=\"M{left},{top}V{}H{}\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>",
        top + plot_h,
        left + plot_w,
        left - 4.0,
        top + 8.0,
        n(ymax as u64),
        left - 4.0,
        top + plot_h
    );
    for (i, c) in h.counts.iter().enumerate() {
        let x = left + i as f64 * bw;
        let mut y = top + plot_h;
        let lo = h.width as u64 * i as u64;
        let range = if i + 1 == bins {
            format!("≥ {}", metres(lo as u32))
        } else {
            format!("{}–{}", metres(lo as u32), metres((lo + u64::from(h.width)) as u32))
        };
        for (v, &count) in c.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let bh = count as f64 / ymax * plot_h;
            y -= bh;
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{range}：{} {} 人</title></rect>",
                x + 0.5,
                y,
                (bw - 1.0).max(0.5),
                bh,
                VIA_COLOUR[v],
                VIA_ZH[v],
                n(count)
            );
        }
    }
    // X labels: about six.
    let every = bins.div_ceil(6).max(1);
    for i in (0..=bins).step_by(every) {
        let x = left + i as f64 * bw;
        let _ = write!(
            svg,
            "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            top + plot_h + 14.0,
            metres(h.width * i as u32)
        );
    }
    // Percentile markers.
    if let Some(d) = &s.distance_m {
        for (label, v) in [("中位数", d.p50), ("P90", d.p90)] {
            let x = left + (f64::from(v) / f64::from(h.width)).min(bins as f64) * bw;
            let _ = write!(
                svg,
                "<path class=\"pl\" d=\"M{x:.1},{top}V{}\"/><text x=\"{:.1}\" y=\"{}\">{label} {}</text>",
                top + plot_h,
                x + 3.0,
                top + 10.0 + if label == "P90" { 14.0 } else { 0.0 },
                metres(v)
            );
        }
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">家到学校距离</text></svg>",
        left + plot_w / 2.0,
        hh - 3.0
    );
    svg
}

fn histogram_legend() -> String {
    let mut s = String::from("<div class=\"legend\">");
    for v in 0..VIAS.len() {
        let _ = write!(
            s,
            "<span><svg width=\"12\" height=\"12\" viewBox=\"0 0 12 12\"><rect width=\"12\" height=\"12\" fill=\"{}\"/></svg>{}</span>",
            VIA_COLOUR[v], VIA_ZH[v]
        );
    }
    s.push_str("</div>");
    s
}

/// Schools of a stage, most pressed first: first choices per seat, then utilisation.
fn pressed_schools(run: &RunView<'_>, view: &StageView) -> Vec<usize> {
    let mut v = view.schools.clone();
    v.sort_by(|&a, &b| {
        let (ra, rb) = (&run.schools[a], &run.schools[b]);
        rb.pressure()
            .total_cmp(&ra.pressure())
            .then(rb.utilisation().total_cmp(&ra.utilisation()))
            .then(a.cmp(&b))
    });
    v
}

fn td_n(out: &mut String, v: u64) {
    let _ = write!(out, "<td class=\"n\" data-v=\"{v}\">{}</td>", n(v));
}

fn school_table(out: &mut String, run: &RunView<'_>, view: &StageView) {
    let rows = pressed_schools(run, view);
    let shown = rows.len().min(TABLE_SCHOOLS);
    let _ = write!(
        out,
        "<h3>学校（{} 所{}）</h3>",
        n(rows.len() as u64),
        if shown < rows.len() {
            format!("，显示学位最紧张的 {shown} 所；完整表见 results.xlsx「学校」表")
        } else {
            String::new()
        }
    );
    out.push_str(
        "<div class=\"wrap\"><table class=\"sort\"><thead><tr><th>学校</th><th>区县</th><th>类型</th>\
         <th class=\"n\">学位</th><th class=\"n\">录取</th><th class=\"n\">空余</th><th class=\"n\">利用率</th>\
         <th class=\"n\">第一志愿</th><th class=\"n\">志愿人数</th><th>学位预警</th><th>录取线（顺位 · 摇号号 · 积分）</th></tr></thead><tbody>",
    );
    let w = run.data.policy.seat_warning;
    for &k in &rows[..shown] {
        let r: &SchoolRow = &run.schools[k];
        let class = match (r.is_short(), r.is_full()) {
            (true, _) => " class=\"short\"",
            (false, true) => " class=\"full\"",
            _ => "",
        };
        let _ = write!(
            out,
            "<tr{class}><td>{}<span class=\"id\">{}</span></td><td>{}</td><td>{}</td>",
            esc(&r.name),
            esc(&r.id),
            esc(&r.district),
            if r.sector == Sector::Public { "公办" } else { "民办" }
        );
        td_n(out, u64::from(r.capacity));
        td_n(out, u64::from(r.assigned));
        td_n(out, u64::from(r.vacancies));
        let _ = write!(
            out,
            "<td class=\"n\" data-v=\"{:.4}\">{}</td>",
            r.utilisation(),
            pct(r.utilisation())
        );
        td_n(out, u64::from(r.first_choice));
        td_n(out, u64::from(r.applicants));
        warning_td(out, w.level(u64::from(r.first_choice), u64::from(r.capacity)));
        let _ = write!(out, "<td>{}</td></tr>", esc(&r.cutoff_text()));
    }
    out.push_str("</tbody></table></div>");
}

/// A 学位预警 cell: the level's name on its colour (sorts by level).
fn warning_td(out: &mut String, level: crate::warning::Level) {
    use crate::warning::Level;
    let (v, class) = match level {
        Level::Red => (3, "wr"),
        Level::Orange => (2, "wo"),
        Level::Yellow => (1, "wy"),
        _ => (0, "wn"),
    };
    let _ = write!(
        out,
        "<td data-v=\"{v}\"><span class=\"warn {class}\">{}</span></td>",
        level.chinese()
    );
}

fn district_table(out: &mut String, run: &RunView<'_>, view: &StageView) {
    let mut rows: Vec<(&u32, &stats::DistrictAgg)> = view.districts.iter().collect();
    rows.sort_by(|a, b| b.1.applicants.cmp(&a.1.applicants).then(a.0.cmp(b.0)));
    let shown = rows.len().min(TABLE_DISTRICTS);
    let _ = write!(
        out,
        "<h3>区县（{} 个{}）</h3>",
        rows.len(),
        if shown < rows.len() {
            format!("，显示申请人数最多的 {shown} 个")
        } else {
            String::new()
        }
    );
    out.push_str(
        "<div class=\"wrap\"><table class=\"sort\"><thead><tr><th>区县</th><th class=\"n\">申请人数</th>\
         <th class=\"n\">未录取</th><th class=\"n\">跨区录取</th><th class=\"n\">学校</th><th class=\"n\">学位</th>\
         <th class=\"n\">录取</th><th class=\"n\">空余</th><th class=\"n\">学位紧张学校</th>\
         <th class=\"n\">需求/学位</th><th>学位预警</th></tr></thead><tbody>",
    );
    let w = run.data.policy.seat_warning;
    for (d, a) in &rows[..shown] {
        let name = run.data.city.districts.get(**d as usize).map_or("", String::as_str);
        let _ = write!(out, "<tr><td>{}</td>", esc(name));
        for v in [
            a.applicants,
            a.unplaced,
            a.placed_elsewhere,
            a.schools,
            a.seats,
            a.assigned,
            a.seats.saturating_sub(a.assigned),
            a.short,
        ] {
            td_n(out, v);
        }
        let ratio = if a.seats == 0 {
            0.0
        } else {
            a.applicants as f64 / a.seats as f64
        };
        let _ = write!(out, "<td class=\"n\" data-v=\"{ratio:.4}\">{}</td>", pct(ratio));
        warning_td(out, w.level(a.applicants, a.seats));
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
}

fn audit_table(out: &mut String, checks: &[Check]) {
    out.push_str(
        "<table><thead><tr><th>检查</th><th>内容</th><th>结果</th><th class=\"n\">违规数</th></tr></thead><tbody>",
    );
    for c in checks {
        let status = match (c.passed, c.enforced) {
            (true, _) => "<span class=\"badge ok\">通过</span>",
            (false, true) => "<span class=\"badge bad\">未通过</span>",
            (false, false) => "<span class=\"badge info\">提示（不强制）</span>",
        };
        let _ = write!(
            out,
            "<tr><td>{}<span class=\"id\">{}</span></td><td>{}",
            check_zh(&c.name),
            esc(&c.name),
            esc(&c.description)
        );
        if !c.examples.is_empty() {
            out.push_str("<details><summary>示例</summary><ul>");
            for e in &c.examples {
                let _ = write!(out, "<li>{}</li>", esc(e));
            }
            out.push_str("</ul></details>");
        }
        let _ = write!(
            out,
            "</td><td>{status}</td><td class=\"n\">{}</td></tr>",
            n(c.violations as u64)
        );
    }
    out.push_str("</tbody></table>");
}

/// Colours of the schools of one stage across one or two runs, keyed by school id.
fn stage_colours(runs: &[(&RunView<'_>, Option<&StageView>)]) -> HashMap<String, u8> {
    let mut seen: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for (run, view) in runs {
        let Some(view) = view else { continue };
        for &k in &view.schools {
            let row = &run.schools[k];
            if let Some(s) = run.data.city.schools.get(row.school as usize) {
                let kx = s.location.lat.to_radians().cos();
                seen.entry(row.id.as_str())
                    .or_insert((s.location.lon * kx, s.location.lat));
            }
        }
    }
    let points: Vec<(&str, f64, f64)> = seen.into_iter().map(|(id, (x, y))| (id, x, y)).collect();
    map::colour_schools(&points)
}

/// The projection fitting one stage of one or two runs.
fn stage_projection(runs: &[(&RunView<'_>, Option<&StageView>)]) -> Projection {
    let mut pts: Vec<(f64, f64)> = Vec::new();
    for (run, view) in runs {
        let Some(view) = view else { continue };
        let city = &run.data.city;
        for b in &view.blocks {
            if let Some(block) = city.blocks.get(b.block as usize) {
                pts.push((block.location.lon, block.location.lat));
            }
        }
        for &k in &view.schools {
            if let Some(s) = city.schools.get(run.schools[k].school as usize) {
                pts.push((s.location.lon, s.location.lat));
            }
        }
    }
    Projection::fit(pts.into_iter())
}

fn stage_title(stage: Stage) -> String {
    format!("{}<small>{}</small>", stage.chinese(), stage.as_str())
}

/// Opens a map's figure with its layer switches and zoom buttons (the page's script makes them work; without it
/// the map shows its default layers).
fn map_controls(out: &mut String, zones: bool, districts: bool, flows: bool, changed: bool) {
    // Layers off by default are off in the markup too, so the page reads the same without script.
    let _ = write!(
        out,
        "<figure class=\"mapfig{}{}\">",
        if zones { " no-blocks" } else { "" },
        if flows { " no-flows" } else { "" }
    );
    out.push_str("<div class=\"mapctl\">");
    let mut cb = |layer: &str, label: &str, on: bool| {
        let _ = write!(
            out,
            "<label><input type=\"checkbox\" data-layer=\"{layer}\"{}> {label}</label>",
            if on { " checked" } else { "" }
        );
    };
    if zones {
        cb("zones", "学区 zones", true);
    }
    if districts {
        cb("dist", "区县 districts", true);
    }
    cb("blocks", "小区 blocks", !zones);
    if flows {
        cb("flows", "统筹流向 flows", false);
    }
    if changed {
        cb("chg", "换校小区 changed", true);
    }
    out.push_str(
        "<span class=\"zb\"><button type=\"button\" data-zoom=\"1.5\" title=\"放大 zoom in\">＋</button>\
         <button type=\"button\" data-zoom=\"0.667\" title=\"缩小 zoom out\">－</button>\
         <button type=\"button\" data-zoom=\"0\" title=\"复位 reset\">复位</button></span>\
         <span class=\"hint\">滚轮缩放、拖动平移、双击复位；悬停查看学校数据</span></div>",
    );
}

/// What the zone and district layers are, for a map's caption.
fn layer_caption(zones: usize, districts: &layers::Districts) -> String {
    let mut t = String::new();
    if zones > 0 {
        let _ = write!(
            t,
            " 学区：{} 个现行学区（zones.csv），按小区的泰森多边形（约 2 km 内；稀疏处延伸至相邻小区）合并绘制。",
            n(zones as u64)
        );
    }
    if !districts.source.is_empty() {
        let _ = write!(t, " {}。", esc(&districts.source));
    }
    t
}

/// Blocks whose applicants' main school differs between the runs (matched by block id), on the
/// alternative's block indices.
fn changed_blocks(
    base: &RunView<'_>,
    bview: Option<&StageView>,
    alt: &RunView<'_>,
    aview: &StageView,
) -> BTreeMap<u32, String> {
    let name = |run: &RunView<'_>, s: Option<u32>| {
        s.and_then(|s| run.data.city.schools.get(s as usize))
            .map_or("未录取".to_string(), |s| s.name.clone())
    };
    let mut before: HashMap<&str, Option<u32>> = HashMap::new();
    if let Some(v) = bview {
        for b in &v.blocks {
            if let Some(block) = base.data.city.blocks.get(b.block as usize) {
                before.insert(block.id.as_str(), b.school);
            }
        }
    }
    let id_of = |run: &RunView<'_>, s: Option<u32>| {
        s.and_then(|s| run.data.city.schools.get(s as usize))
            .map(|s| s.id.clone())
    };
    let mut out = BTreeMap::new();
    for b in &aview.blocks {
        let Some(block) = alt.data.city.blocks.get(b.block as usize) else {
            continue;
        };
        let Some(&was) = before.get(block.id.as_str()) else {
            continue;
        };
        if id_of(base, was) != id_of(alt, b.school) {
            out.insert(
                b.block,
                format!("主要录取：{} → {}", name(base, was), name(alt, b.school)),
            );
        }
    }
    out
}

/// New schools (in the alternative with seats, not in the base or without seats there) and
/// closed ones (the reverse) of a stage: (lon, lat, new?, tooltip).
fn school_marks(base: &RunView<'_>, alt: &RunView<'_>, stage: Stage) -> Vec<(f64, f64, bool, String)> {
    let seats = |run: &RunView<'_>| -> BTreeMap<String, (u32, f64, f64, String)> {
        run.data
            .city
            .schools
            .iter()
            .filter(|s| s.stage == stage)
            .map(|s| {
                (
                    s.id.clone(),
                    (s.capacity, s.location.lon, s.location.lat, s.name.clone()),
                )
            })
            .collect()
    };
    let (b, a) = (seats(base), seats(alt));
    let mut out = Vec::new();
    for (id, &(cap, lon, lat, ref name)) in &a {
        if cap > 0 && b.get(id).is_none_or(|x| x.0 == 0) {
            out.push((lon, lat, true, format!("新校：{name}（{id}）· 学位 {cap}")));
        }
    }
    for (id, &(cap, lon, lat, ref name)) in &b {
        if cap > 0 && a.get(id).is_none_or(|x| x.0 == 0) {
            out.push((lon, lat, false, format!("停办：{name}（{id}）· 原学位 {cap}")));
        }
    }
    out
}

/// The page of one run.
/// English beside the Chinese of every table header (Chinese first, as the page is read by
/// planners; English for the other readers of a report).
const HEADER_ENGLISH: &[(&str, &str)] = &[
    ("人数", "count"),
    ("内容", "what it checks"),
    ("利用率", "utilisation"),
    ("区县", "district"),
    ("占已录取", "share of placed"),
    ("变化", "change"),
    ("基准", "base"),
    ("学位", "seats"),
    ("学位 基准", "seats, base"),
    ("学位 方案", "seats, scenario"),
    ("学位紧张学校", "schools short of seats"),
    ("学位预警", "seat warning"),
    ("学校", "school"),
    ("学段", "stage"),
    ("录取", "placed"),
    ("录取 变化", "placed, change"),
    ("录取 基准", "placed, base"),
    ("录取 方案", "placed, scenario"),
    ("录取线 基准", "cutoff, base"),
    ("录取线 方案", "cutoff, scenario"),
    ("录取线（顺位 · 摇号号 · 积分）", "cutoff (tier · lottery · points)"),
    ("志愿人数", "applicants"),
    ("指标", "measure"),
    ("方案", "scenario"),
    ("未录取", "unplaced"),
    ("检查", "check"),
    ("申请人数", "applicants"),
    ("空余", "vacancies"),
    ("空余 变化", "vacancies, change"),
    ("空余 基准", "vacancies, base"),
    ("空余 方案", "vacancies, scenario"),
    ("第一志愿", "first choices"),
    ("类型", "type"),
    ("结果", "result"),
    ("跨区录取", "placed in another district"),
    ("违规数", "violations"),
    ("需求/学位", "demand / seats"),
    ("顺位", "tier"),
];

/// English beside the Chinese of section headings and navigation.
const HEADING_ENGLISH: &[(&str, &str)] = &[
    ("<h2>学校变化", "<h2>学校变化<span class=\"en\">schools</span>"),
    ("<h2>审计", "<h2>审计<span class=\"en\">audit</span>"),
    (
        "<h2>数据合理性提示",
        "<h2>数据合理性提示<span class=\"en\">plausibility</span>",
    ),
    (
        "学生去向变化</h3>",
        "学生去向变化<span class=\"en\">who moves</span></h3>",
    ),
    (
        "通勤距离分布</h3>",
        "通勤距离分布<span class=\"en\">distance to school</span></h3>",
    ),
    (
        "<h3>录取方式</h3>",
        "<h3>录取方式<span class=\"en\">placed via</span></h3>",
    ),
    (
        "<h3>录取顺位</h3>",
        "<h3>录取顺位<span class=\"en\">placed by tier</span></h3>",
    ),
    ("<h3>基准</h3>", "<h3>基准<span class=\"en\">base</span></h3>"),
    ("<h3>方案</h3>", "<h3>方案<span class=\"en\">scenario</span></h3>"),
    (
        "<h1>招生分配报告",
        "<h1>招生分配报告<span class=\"en\">allocation report</span>",
    ),
    (
        "<h1>情景对比",
        "<h1>情景对比<span class=\"en\">scenario comparison</span>",
    ),
    ("\">审计</a>", "\">审计 audit</a>"),
];

/// Adds the English labels to a finished page.
fn with_english(mut page: String) -> String {
    for (zh, en) in HEADER_ENGLISH {
        page = page.replace(
            &format!(">{zh}</th>"),
            &format!(">{zh}<span class=\"en\">{en}</span></th>"),
        );
    }
    for (from, to) in HEADING_ENGLISH {
        page = page.replace(from, to);
    }
    page
}

pub(crate) fn run_page(run: &RunView<'_>) -> String {
    let s = &run.summary;
    let mut out = String::with_capacity(256 * 1024);
    page_start(&mut out, &format!("招生分配报告 · {}", s.scenario));
    let _ = write!(
        out,
        "<header><h1>招生分配报告 · {} {}</h1>",
        esc(&s.scenario),
        audit_badge(s.audit.passed)
    );
    meta_line(&mut out, s);
    out.push_str("</header><nav>");
    for v in &run.stages {
        let _ = write!(
            out,
            "<a href=\"#{}\">{} {}</a>",
            v.stage.as_str(),
            v.stage.chinese(),
            v.stage.as_str()
        );
    }
    out.push_str("<a href=\"#audit\">审计</a></nav><main>");
    let districts = layers::district_layer(run.data);
    for view in &run.stages {
        let Some(summary) = s.stages.get(view.summary) else {
            continue;
        };
        let _ = write!(
            out,
            "<section id=\"{}\"><h2>{}</h2>",
            view.stage.as_str(),
            stage_title(view.stage)
        );
        cards(&mut out, view.stage, summary);
        let both = [(run, Some(view))];
        let proj = stage_projection(&both);
        let colours = stage_colours(&both);
        let zones = layers::zone_layer(run.data, view.stage);
        let (svg, notes) = map::stage_map(
            run,
            view,
            &proj,
            &colours,
            &format!("m-{}", view.stage.as_str()),
            map::Caps::FULL,
            map::MapLayers {
                zones: &zones,
                districts: &districts,
                changed: &BTreeMap::new(),
                marks: &[],
            },
        );
        out.push_str("<div class=\"grid2\">");
        map_controls(
            &mut out,
            !zones.is_empty(),
            !districts.outlines.is_empty(),
            !view.flows.is_empty(),
            false,
        );
        out.push_str(&svg);
        legend(&mut out);
        let _ = write!(
            out,
            "<figcaption>{}{}</figcaption></figure><div>",
            map_caption(&notes),
            layer_caption(zones.len(), &districts)
        );
        let bins = stats::bins_for(&[summary]);
        let h = stats::histogram(view, &bins);
        out.push_str("<h3 style=\"margin-top:0\">通勤距离分布</h3>");
        out.push_str(&histogram_svg(&h, h.max_total(), summary));
        out.push_str(&histogram_legend());
        let tier_order = run
            .allocation
            .stages
            .get(view.summary)
            .map_or(&[][..], |st| st.tier_names.as_slice());
        breakdown(&mut out, summary, tier_order);
        out.push_str("</div></div>");
        school_table(&mut out, run, view);
        district_table(&mut out, run, view);
        out.push_str("</section>");
    }
    warnings_section(&mut out, &s.warnings);
    out.push_str("<section id=\"audit\"><h2>审计<small>独立复核</small></h2>");
    audit_table(&mut out, &run.audit.checks);
    out.push_str("</section></main>");
    page_end(&mut out);
    with_english(out)
}

/// The plausibility warnings of a run (nothing when there are none).
fn warnings_section(out: &mut String, warnings: &[crate::plausibility::Warning]) {
    if warnings.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<section id=\"warnings\"><h2>数据合理性提示<small>{} warning(s)</small></h2><table><thead><tr><th>rule</th><th>where</th><th>what</th><th>check</th></tr></thead><tbody>",
        warnings.len()
    );
    for w in warnings {
        let d = &w.diagnostic;
        let place = match d.line {
            Some(l) => format!("{}:{l}", d.file),
            None => d.file.clone(),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(w.kind.code()),
            esc(&place),
            esc(&d.message),
            esc(&d.hint)
        );
    }
    out.push_str("</tbody></table></section>");
}

/// Who moved between the runs (applicants matched by `student_id`).
fn moves_table(out: &mut String, d: Option<&StageDelta>) {
    out.push_str("<h3 style=\"margin-top:0\">学生去向变化<small>（按学生编号匹配）</small></h3>");
    let Some(d) = d else {
        out.push_str("<p class=\"note\">两次运行都不含该学段。</p>");
        return;
    };
    let in_both = d.alt.as_ref().map_or(0, |s| s.applicants).saturating_sub(d.only_in_alt);
    let same = in_both.saturating_sub(d.moved + d.newly_placed + d.newly_unplaced);
    let class = |v: usize, c: &'static str| if v > 0 { c } else { "" };
    let rows: [(&str, usize, &str); 8] = [
        ("学校不变", same, ""),
        ("换到另一所学校", d.moved, ""),
        ("　其中离家更近", d.moved_nearer, class(d.moved_nearer, " up")),
        ("　其中离家更远", d.moved_farther, class(d.moved_farther, " down")),
        ("转入学区对口学校", d.to_zone_school, class(d.to_zone_school, " up")),
        (
            "转出学区对口学校",
            d.from_zone_school,
            class(d.from_zone_school, " down"),
        ),
        ("由未录取变为录取", d.newly_placed, class(d.newly_placed, " up")),
        ("由录取变为未录取", d.newly_unplaced, class(d.newly_unplaced, " down")),
    ];
    out.push_str("<table><tbody>");
    for (label, v, c) in rows {
        let _ = write!(out, "<tr><td>{label}</td><td class=\"n{c}\">{}</td></tr>", n(v as u64));
    }
    let _ = write!(
        out,
        "<tr><td>仅在一次运行中（基准 / 方案）</td><td class=\"n\">{} / {}</td></tr></tbody></table>",
        n(d.only_in_base as u64),
        n(d.only_in_alt as u64)
    );
}

fn delta_cell(out: &mut String, d: f64, percent: bool, higher_is_better: Option<bool>) {
    let text = if d.abs() < 1e-12 {
        "0".to_string()
    } else if percent {
        format!("{:+.1} 个百分点", d * 100.0)
    } else {
        signed(d.round() as i64)
    };
    let class = match higher_is_better {
        _ if d.abs() < 1e-12 => "",
        Some(true) if d > 0.0 => " up",
        Some(true) => " down",
        Some(false) if d < 0.0 => " up",
        Some(false) => " down",
        None => "",
    };
    let _ = write!(out, "<td class=\"n{class}\">{}</td>", text.replace('-', "−"));
}

/// The headline comparison table of one stage.
fn compare_figures(out: &mut String, base: Option<&StageSummary>, alt: Option<&StageSummary>) {
    type Get = fn(&StageSummary) -> f64;
    let dist = |s: &StageSummary, f: fn(&crate::output::DistanceStats) -> u32| -> f64 {
        s.distance_m.as_ref().map_or(0.0, |d| f64::from(f(d)))
    };
    let rows: [(&str, Get, bool, Option<bool>); 16] = [
        ("申请人数", |s| s.applicants as f64, false, None),
        ("已录取", |s| s.placed as f64, false, Some(true)),
        ("未录取", |s| s.unplaced as f64, false, Some(false)),
        ("学区对口录取占比", |s| s.zone_share, true, Some(true)),
        ("学区对口录取", |s| s.via_zone as f64, false, Some(true)),
        ("志愿录取", |s| s.via_choice as f64, false, None),
        ("统筹录取", |s| s.via_overflow as f64, false, Some(false)),
        ("其中兜底", |s| s.via_final_pass as f64, false, Some(false)),
        ("学位", |s| s.seats as f64, false, None),
        ("空余学位", |s| s.vacancies as f64, false, None),
        ("学位紧张学校", |s| s.oversubscribed_schools as f64, false, Some(false)),
        ("随迁子女符合条件", |s| s.migrant.eligible as f64, false, None),
        (
            "随迁子女入公办占比",
            |s| s.migrant.eligible_public_track_share,
            true,
            Some(true),
        ),
        (
            "随迁子女未录取",
            |s| s.migrant.eligible_unplaced as f64,
            false,
            Some(false),
        ),
        ("距离中位数（米）", |_| 0.0, false, Some(false)),
        ("距离 P90（米）", |_| 0.0, false, Some(false)),
    ];
    out.push_str(
        "<table><thead><tr><th>指标</th><th class=\"n\">基准</th><th class=\"n\">方案</th><th class=\"n\">变化</th></tr></thead><tbody>",
    );
    for (i, (label, get, percent, better)) in rows.iter().enumerate() {
        let value = |s: &StageSummary| match i {
            14 => dist(s, |d| d.p50),
            15 => dist(s, |d| d.p90),
            _ => get(s),
        };
        let show = |v: Option<f64>| match v {
            None => "—".to_string(),
            Some(v) if *percent => pct(v),
            Some(v) => n(v.max(0.0).round() as u64),
        };
        let (b, a) = (base.map(value), alt.map(value));
        let _ = write!(
            out,
            "<tr><td>{label}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
            show(b),
            show(a)
        );
        match (b, a) {
            (Some(b), Some(a)) => delta_cell(out, a - b, *percent, *better),
            _ => out.push_str("<td class=\"n\">—</td>"),
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

/// One school's figures in both runs.
struct SchoolPair<'r> {
    base: Option<&'r SchoolRow>,
    alt: Option<&'r SchoolRow>,
}

impl SchoolPair<'_> {
    fn get(r: Option<&SchoolRow>, f: fn(&SchoolRow) -> u32) -> i64 {
        r.map_or(0, |r| i64::from(f(r)))
    }

    fn change(&self) -> i64 {
        let d = |f: fn(&SchoolRow) -> u32| (Self::get(self.alt, f) - Self::get(self.base, f)).abs();
        let one_sided = i64::from(self.base.is_none() || self.alt.is_none()) * 1_000_000;
        let cutoff = i64::from(self.base.map(SchoolRow::cutoff_text) != self.alt.map(SchoolRow::cutoff_text));
        one_sided + d(|r| r.assigned) + d(|r| r.vacancies) + d(|r| r.capacity) + cutoff
    }
}

fn compare_school_table(out: &mut String, base: &RunView<'_>, alt: &RunView<'_>) {
    let mut pairs: BTreeMap<&str, SchoolPair<'_>> = BTreeMap::new();
    for r in &base.schools {
        pairs
            .entry(r.id.as_str())
            .or_insert(SchoolPair { base: None, alt: None })
            .base = Some(r);
    }
    for r in &alt.schools {
        pairs
            .entry(r.id.as_str())
            .or_insert(SchoolPair { base: None, alt: None })
            .alt = Some(r);
    }
    let total = pairs.len();
    let mut changed: Vec<(&str, SchoolPair<'_>)> = pairs.into_iter().filter(|(_, p)| p.change() > 0).collect();
    changed.sort_by(|a, b| b.1.change().cmp(&a.1.change()).then(a.0.cmp(b.0)));
    let shown = changed.len().min(COMPARE_SCHOOLS);
    let _ = write!(
        out,
        "<p class=\"note\">两次运行共 {} 所学校（按学校编号匹配），其中 {} 所的学位、录取、空余或录取线有变化{}。</p>",
        n(total as u64),
        n(changed.len() as u64),
        if shown < changed.len() {
            format!("；下表显示变化最大的 {shown} 所")
        } else {
            String::new()
        }
    );
    if shown == 0 {
        return;
    }
    out.push_str(
        "<div class=\"wrap\"><table class=\"sort\"><thead><tr><th>学校</th><th>学段</th><th>区县</th>\
         <th class=\"n\">学位 基准</th><th class=\"n\">学位 方案</th><th class=\"n\">录取 基准</th><th class=\"n\">录取 方案</th>\
         <th class=\"n\">录取 变化</th><th class=\"n\">空余 基准</th><th class=\"n\">空余 方案</th><th class=\"n\">空余 变化</th>\
         <th>录取线 基准</th><th>录取线 方案</th></tr></thead><tbody>",
    );
    for (id, p) in &changed[..shown] {
        let any = p.alt.or(p.base);
        let _ = write!(
            out,
            "<tr><td>{}<span class=\"id\">{}</span></td><td>{}</td><td>{}</td>",
            esc(any.map_or("", |r| r.name.as_str())),
            esc(id),
            any.map_or("", |r| r.stage.chinese()),
            esc(any.map_or("", |r| r.district.as_str()))
        );
        let cell = |out: &mut String, r: Option<&SchoolRow>, f: fn(&SchoolRow) -> u32| match r {
            Some(r) => td_n(out, u64::from(f(r))),
            None => out.push_str("<td class=\"n\" data-v=\"-1\">—</td>"),
        };
        cell(out, p.base, |r| r.capacity);
        cell(out, p.alt, |r| r.capacity);
        for f in [|r: &SchoolRow| r.assigned, |r: &SchoolRow| r.vacancies] {
            cell(out, p.base, f);
            cell(out, p.alt, f);
            let d = SchoolPair::get(p.alt, f) - SchoolPair::get(p.base, f);
            let _ = write!(out, "<td class=\"n\" data-v=\"{d}\">{}</td>", signed(d));
        }
        let cut = |r: Option<&SchoolRow>| r.map_or("（无此校）".to_string(), |r| esc(&r.cutoff_text()));
        let _ = write!(out, "<td>{}</td><td>{}</td></tr>", cut(p.base), cut(p.alt));
    }
    out.push_str("</tbody></table></div>");
}

/// The page comparing two runs.
pub(crate) fn compare_page(base: &RunView<'_>, alt: &RunView<'_>) -> String {
    let (sb, sa) = (&base.summary, &alt.summary);
    let mut out = String::with_capacity(512 * 1024);
    page_start(&mut out, &format!("情景对比 · {} ↔ {}", sb.scenario, sa.scenario));
    let _ = write!(
        out,
        "<header><h1>情景对比 · {} ↔ {}</h1><div class=\"meta\"><span>基准：{} {}</span></div>",
        esc(&sb.scenario),
        esc(&sa.scenario),
        esc(&sb.scenario),
        audit_badge(sb.audit.passed)
    );
    meta_line(&mut out, sb);
    let _ = write!(
        out,
        "<div class=\"meta\" style=\"margin-top:6px\"><span>方案：{} {}</span></div>",
        esc(&sa.scenario),
        audit_badge(sa.audit.passed)
    );
    meta_line(&mut out, sa);
    out.push_str("</header><nav>");
    let mut stages: Vec<Stage> = base.stages.iter().chain(&alt.stages).map(|v| v.stage).collect();
    stages.sort();
    stages.dedup();
    for st in &stages {
        let _ = write!(out, "<a href=\"#{}\">{}</a>", st.as_str(), st.chinese());
    }
    out.push_str("<a href=\"#schools\">学校变化</a><a href=\"#audit\">审计</a></nav><main>");
    let comparison = crate::compare::compare(base.as_run(), alt.as_run());
    let districts = layers::district_layer(alt.data);
    for &stage in &stages {
        let b = base.stage(stage);
        let a = alt.stage(stage);
        let _ = write!(
            out,
            "<section id=\"{}\"><h2>{}</h2>",
            stage.as_str(),
            stage_title(stage)
        );
        out.push_str("<div class=\"grid2\"><div>");
        compare_figures(&mut out, b.map(|x| x.1), a.map(|x| x.1));
        out.push_str("</div><div>");
        moves_table(&mut out, comparison.stages.iter().find(|d| d.stage == stage.as_str()));
        out.push_str("</div></div>");
        // Maps on a common projection and colours; histograms on common bins and scale.
        let pair = [(base, b.map(|x| x.0)), (alt, a.map(|x| x.0))];
        let proj = stage_projection(&pair);
        let colours = stage_colours(&pair);
        let summaries: Vec<&StageSummary> = [b, a].iter().flatten().map(|x| x.1).collect();
        let bins = stats::bins_for(&summaries);
        let hists: Vec<Option<Histogram>> = [b, a]
            .iter()
            .map(|x| x.map(|(v, _)| stats::histogram(v, &bins)))
            .collect();
        let ymax = hists.iter().flatten().map(Histogram::max_total).max().unwrap_or(1);
        // One map: the alternative's zones and seats, the blocks whose applicants changed
        // school highlighted, new schools starred and closed ones crossed.
        if let Some(view) = a.map(|x| x.0) {
            let changed = changed_blocks(base, b.map(|x| x.0), alt, view);
            let marks = school_marks(base, alt, stage);
            let zones = layers::zone_layer(alt.data, stage);
            let (svg, notes) = map::stage_map(
                alt,
                view,
                &proj,
                &colours,
                &format!("c-{}", stage.as_str()),
                map::Caps::FULL,
                map::MapLayers {
                    zones: &zones,
                    districts: &districts,
                    changed: &changed,
                    marks: &marks,
                },
            );
            let _ = write!(
                out,
                "<h3>方案地图：{}<small>（{} 个小区换校；新校 {} 所，停办 {} 所）</small></h3>",
                esc(&alt.summary.scenario),
                n(changed.len() as u64),
                marks.iter().filter(|m| m.2).count(),
                marks.iter().filter(|m| !m.2).count()
            );
            map_controls(
                &mut out,
                !zones.is_empty(),
                !districts.outlines.is_empty(),
                !view.flows.is_empty(),
                true,
            );
            out.push_str(&svg);
            let _ = write!(
                out,
                "<figcaption>{}{}</figcaption></figure>",
                map_caption(&notes),
                layer_caption(zones.len(), &districts)
            );
        } else {
            out.push_str("<p class=\"note\">方案不含该学段。</p>");
        }
        out.push_str("<div class=\"pair\">");
        for (k, ((run, _), label)) in pair.iter().zip(["基准", "方案"]).enumerate() {
            let _ = write!(out, "<figure><h3>{label}：{}</h3>", esc(&run.summary.scenario));
            match ([b, a][k], &hists[k]) {
                (Some((_, summary)), Some(h)) => out.push_str(&histogram_svg(h, ymax, summary)),
                _ => out.push_str("<p class=\"note\">此次运行不含该学段。</p>"),
            }
            out.push_str("</figure>");
        }
        out.push_str("</div>");
        legend(&mut out);
        out.push_str(&histogram_legend());
        out.push_str("</section>");
    }
    out.push_str("<section id=\"schools\"><h2>学校变化</h2>");
    compare_school_table(&mut out, base, alt);
    out.push_str("</section><section id=\"audit\"><h2>审计</h2><div class=\"pair\"><div><h3>基准</h3>");
    audit_table(&mut out, &base.audit.checks);
    out.push_str("</div><div><h3>方案</h3>");
    audit_table(&mut out, &alt.audit.checks);
    out.push_str("</div></div></section></main>");
    page_end(&mut out);
    with_english(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(n(0), "0");
        assert_eq!(n(999), "999");
        assert_eq!(n(1000), "1,000");
        assert_eq!(n(1_234_567), "1,234,567");
        assert_eq!(signed(-1234), "−1,234");
        assert_eq!(signed(5), "+5");
    }

    #[test]
    fn metres_switch_to_kilometres() {
        assert_eq!(metres(850), "850 m");
        assert_eq!(metres(2400), "2.4 km");
    }
}
