//! The report as one self-contained HTML page: no script, no external font or stylesheet,
//! charts drawn as inline SVG, print styles that keep tables and charts whole.

use crate::figures::{FamilyFigures, Figures, RateFigure};
use std::fmt::Write as _;

/// The language of the page.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// Every text of the page, in both languages.
struct Texts {
    title: &'static str,
    period: &'static str,
    previous: &'static str,
    applications: &'static str,
    hotline: &'static str,
    items: &'static str,
    completed: &'static str,
    one_trip: &'static str,
    online: &'static str,
    on_time: &'static str,
    overdue_end: &'static str,
    received: &'static str,
    closed_on_time: &'static str,
    hotline_closed: &'static str,
    satisfaction: &'static str,
    signed_on_time: &'static str,
    items_listed: &'static str,
    item_one_trip: &'static str,
    item_online: &'static str,
    promise_one_trip: &'static str,
    promise_zero_trip: &'static str,
    unlisted: &'static str,
    counties: &'static str,
    departments: &'static str,
    county: &'static str,
    dept: &'static str,
    trends: &'static str,
    overdue_trend: &'static str,
    durations: &'static str,
    definitions: &'static str,
    no_data: &'static str,
    definitions_text: &'static [&'static str],
    calendar_years: &'static str,
    calendar_overlays: &'static str,
    working_days: &'static str,
}

const ZH: Texts = Texts {
    title: "政务服务时效报告",
    period: "统计期",
    previous: "上期",
    applications: "政务服务办件",
    hotline: "12345 热线工单",
    items: "政务服务事项",
    completed: "办结件数",
    one_trip: "最多跑一次率",
    online: "全程网办率",
    on_time: "按时办结率",
    overdue_end: "期末超期未办结",
    received: "受理工单",
    closed_on_time: "按时办结率",
    hotline_closed: "热线按时办结率",
    satisfaction: "满意率",
    signed_on_time: "按时签收率",
    items_listed: "在用事项数",
    item_one_trip: "最多跑一次事项占比",
    item_online: "全程网办事项占比",
    promise_one_trip: "最多跑一次承诺兑现率",
    promise_zero_trip: "零跑动承诺兑现率",
    unlisted: "未纳入清单的办件",
    counties: "各县市排名（按时办结率由低到高；办结不足10件的排在最后）",
    departments: "各部门排名（按时办结率由低到高；办结不足10件的排在最后）",
    county: "县市",
    dept: "部门",
    trends: "逐月趋势",
    overdue_trend: "月末超期未办结",
    durations: "办件时长分布（工作日）",
    definitions: "指标口径",
    no_data: "本期无数据",
    definitions_text: &[
        "办件以受理时间计算承诺时限，时限按工作日（国家法定节假日及调休、新疆地方节日）计算；暂停（补正、特别程序）期间不计时。",
        "按时办结率 = 在承诺时限内办结的件数 ÷ 办结件数；最多跑一次率 = 现场跑动不超过一次的办结件数 ÷ 办结件数；全程网办率 = 零跑动的办结件数 ÷ 办结件数。",
        "承诺兑现率以受理时生效的事项实施清单为准：承诺最多跑一次的办件中实际跑动不超过一次的比例。",
        "热线按时办结率 = 在派单时限（含延期）内办结的工单 ÷ 办结工单；满意率 = 满意回访 ÷（回访 − 无法联系）。",
        "比率旁括号内为分子/分母；分母为零时显示“—”。期末超期与事项数为期末快照，其余为期内合计。",
    ],
    working_days: "工作日",
    calendar_years: "本报告所用工作日历：国家法定节假日数据年份",
    calendar_overlays: "地方节假日",
};

const EN: Texts = Texts {
    title: "Timeliness of public services",
    period: "Period",
    previous: "previous period",
    applications: "Applications (one-network platform)",
    hotline: "12345 hotline work orders",
    items: "Service items (catalogue)",
    completed: "Applications completed",
    one_trip: "At most one trip",
    online: "Fully online",
    on_time: "On time",
    overdue_end: "Overdue at the end",
    received: "Work orders received",
    closed_on_time: "Closed on time",
    hotline_closed: "Hotline closed on time",
    satisfaction: "Satisfaction",
    signed_on_time: "Signed for on time",
    items_listed: "Items listed in force",
    item_one_trip: "Items at most one trip",
    item_online: "Items wholly online",
    promise_one_trip: "One-trip promise kept",
    promise_zero_trip: "No-trip promise kept",
    unlisted: "Applications for unlisted items",
    counties: "Counties, worst on-time completion first (fewer than 10 cases last)",
    departments: "Departments, worst on-time completion first (fewer than 10 cases last)",
    county: "County",
    dept: "Department",
    trends: "Month by month",
    overdue_trend: "Overdue at month end",
    durations: "Durations of completed applications (working days)",
    definitions: "Definitions",
    no_data: "No data in this period",
    definitions_text: &[
        "An application's promised limit runs from its acceptance, in working days (the national calendar with its make-up working days, and the Xinjiang regional holidays); suspensions do not count.",
        "On-time rate = completed within the promised limit / completed; at-most-one-trip rate = completed with at most one in-person visit / completed; fully-online rate = completed with no visit / completed.",
        "Promise kept: against the catalogue listing in force at acceptance, the share of applications promised at most one trip that needed at most one.",
        "Hotline on-time closure = closed by the deadline (with extensions) / closed; satisfaction = satisfied callbacks / (callbacks - unreachable).",
        "Next to each rate: numerator/denominator; a rate with no cases shows as —. Overdue cases and item counts are snapshots at the period's end; the rest are sums over the period.",
    ],
    working_days: "working days",
    calendar_years: "Working-day calendar used: national holiday data for",
    calendar_overlays: "regional holidays",
};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct(r: Option<&RateFigure>) -> String {
    match r.and_then(|r| r.value) {
        Some(v) => format!("{:.1}%", 100.0 * v),
        None => "—".to_owned(),
    }
}

fn counts(r: Option<&RateFigure>) -> String {
    r.map_or_else(String::new, |r| {
        format!("{}/{}", r.numerator, r.denominator)
    })
}

/// One headline figure: the rate (with its counts), and the previous period's.
fn rate_cell(
    out: &mut String,
    label: &str,
    now: &FamilyFigures,
    before: &FamilyFigures,
    name: &str,
) {
    let (n, b) = (now.rates.get(name), before.rates.get(name));
    let _ = write!(
        out,
        r#"<div class="fig"><div class="label">{}</div><div class="value" data-rate="{name}">{}</div><div class="counts">{}</div><div class="prev">{}</div></div>"#,
        esc(label),
        pct(n),
        counts(n),
        pct(b),
    );
}

fn count_cell(
    out: &mut String,
    label: &str,
    now: &FamilyFigures,
    before: &FamilyFigures,
    name: &str,
) {
    let g = |f: &FamilyFigures| f.counters.get(name).copied().unwrap_or(0);
    let _ = write!(
        out,
        r#"<div class="fig"><div class="label">{}</div><div class="value" data-count="{name}">{}</div><div class="counts"></div><div class="prev">{}</div></div>"#,
        esc(label),
        g(now),
        g(before),
    );
}

/// A line chart of rates (0..1) over months, one line per series.
fn line_chart(out: &mut String, months: &[String], series: &[(&str, Vec<Option<f64>>)]) {
    const W: f64 = 640.0;
    const H: f64 = 200.0;
    const PAD: f64 = 36.0;
    let colors = ["#1f6fb2", "#d9822b", "#2e8540", "#8e44ad"];
    let n = months.len().max(2) as f64;
    let x = |i: usize| PAD + (W - 2.0 * PAD) * i as f64 / (n - 1.0);
    let y = |v: f64| H - PAD + (2.0 * PAD - H) * v;
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img">"#
    );
    for t in [0.0, 0.5, 1.0] {
        let _ = write!(
            out,
            r##"<line x1="{PAD}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="4" y="{}" font-size="10">{:.0}%</text>"##,
            W - PAD,
            y(t) + 3.0,
            100.0 * t,
            y = y(t)
        );
    }
    for (i, m) in months.iter().enumerate() {
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" font-size="9" text-anchor="middle">{}</text>"#,
            x(i),
            H - 8.0,
            esc(&m[2..])
        );
    }
    for (k, (name, values)) in series.iter().enumerate() {
        let color = colors[k % colors.len()];
        let mut path = String::new();
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v {
                let _ = write!(
                    path,
                    "{}{:.1},{:.1} ",
                    if path.is_empty() { "M" } else { "L" },
                    x(i),
                    y(*v)
                );
                let _ = write!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{color}"/>"#,
                    x(i),
                    y(*v)
                );
            }
        }
        let _ = write!(
            out,
            r#"<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/><text x="{}" y="{}" font-size="11" fill="{color}">{}</text>"#,
            PAD + 150.0 * k as f64,
            14.0,
            esc(name)
        );
    }
    out.push_str("</svg>");
}

/// A bar chart of counts, one bar per label.
fn bar_chart(out: &mut String, labels: &[String], values: &[i64]) {
    const W: f64 = 640.0;
    const H: f64 = 180.0;
    const PAD: f64 = 30.0;
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = labels.len().max(1) as f64;
    let bw = (W - 2.0 * PAD) / n;
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img">"#
    );
    for (i, (l, v)) in labels.iter().zip(values).enumerate() {
        let h = (H - 2.0 * PAD) * (*v).max(0) as f64 / max;
        let x = PAD + bw * i as f64;
        let _ = write!(
            out,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#1f6fb2"/><text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle">{v}</text><text x="{:.1}" y="{}" font-size="9" text-anchor="middle">{}</text>"##,
            x + 2.0,
            H - PAD - h,
            bw - 4.0,
            x + bw / 2.0,
            H - PAD - h - 3.0,
            x + bw / 2.0,
            H - 10.0,
            esc(l)
        );
    }
    out.push_str("</svg>");
}

fn ranking(
    out: &mut String,
    t: &Texts,
    title: &str,
    rows: &[crate::figures::RankRow],
    with_dept: bool,
) {
    let _ = write!(
        out,
        "<section class=\"keep\"><h2>{}</h2><table><thead><tr><th>{}</th>",
        esc(title),
        t.county
    );
    if with_dept {
        let _ = write!(out, "<th>{}</th>", t.dept);
    }
    let _ = write!(
        out,
        "<th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        t.completed, t.on_time, t.one_trip, t.overdue_end, t.received, t.closed_on_time
    );
    for r in rows.iter().take(50) {
        let _ = write!(out, "<tr><td>{}</td>", esc(&r.region));
        if with_dept {
            let _ = write!(out, "<td>{}</td>", esc(&r.dept));
        }
        let a = &r.application;
        let h = &r.hotline;
        let c = |f: &FamilyFigures, n: &str| f.counters.get(n).copied().unwrap_or(0);
        let _ = write!(
            out,
            "<td>{}</td><td>{} <small>{}</small></td><td>{} <small>{}</small></td><td>{}</td><td>{}</td><td>{} <small>{}</small></td></tr>",
            c(a, "completed"),
            pct(a.rates.get("on_time")),
            counts(a.rates.get("on_time")),
            pct(a.rates.get("at_most_one_trip")),
            counts(a.rates.get("at_most_one_trip")),
            c(a, "overdue_open"),
            c(h, "received"),
            pct(h.rates.get("closed_on_time")),
            counts(h.rates.get("closed_on_time")),
        );
    }
    out.push_str("</tbody></table></section>");
}

/// The whole page.
pub fn html(f: &Figures, lang: Lang) -> String {
    let t = match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    };
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        r#"<!DOCTYPE html><html lang="{}"><head><meta charset="utf-8"><title>{} {}</title><style>
body{{font-family:"Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei",sans-serif;margin:24px;color:#222}}
h1{{font-size:22px}} h2{{font-size:17px;margin-top:28px}} small{{color:#777}}
.figs{{display:flex;flex-wrap:wrap;gap:12px}} .fig{{border:1px solid #ccc;border-radius:6px;padding:8px 12px;min-width:140px}}
.fig .label{{font-size:12px;color:#555}} .fig .value{{font-size:22px;font-weight:bold}} .fig .counts,.fig .prev{{font-size:11px;color:#777}}
.fig .prev::before{{content:"{}: "}}
table{{border-collapse:collapse;font-size:12px}} td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}} td:first-child,th:first-child{{text-align:left}}
.keep{{break-inside:avoid;page-break-inside:avoid}} tr{{break-inside:avoid}}
@media print{{body{{margin:0}} section{{break-inside:avoid}} .pagebreak{{break-before:page}}}}
</style></head><body>"#,
        if lang == Lang::Zh { "zh-CN" } else { "en" },
        esc(t.title),
        esc(&f.period),
        esc(t.previous),
    );
    let _ = write!(
        out,
        "<h1>{} <span id=\"period\">{}</span></h1><p>{}: {} · {}: {}</p>",
        esc(t.title),
        esc(&f.period),
        t.period,
        esc(&f.period),
        t.previous,
        esc(&f.previous_period)
    );
    let (h, p) = (&f.headline, &f.previous);
    out.push_str("<section class=\"keep\" id=\"applications\">");
    let _ = write!(out, "<h2>{}</h2>", t.applications);
    if h.has_application {
        out.push_str("<div class=\"figs\">");
        count_cell(
            &mut out,
            t.completed,
            &h.application,
            &p.application,
            "completed",
        );
        rate_cell(
            &mut out,
            t.one_trip,
            &h.application,
            &p.application,
            "at_most_one_trip",
        );
        rate_cell(
            &mut out,
            t.online,
            &h.application,
            &p.application,
            "zero_trip",
        );
        rate_cell(
            &mut out,
            t.on_time,
            &h.application,
            &p.application,
            "on_time",
        );
        count_cell(
            &mut out,
            t.overdue_end,
            &h.application,
            &p.application,
            "overdue_open",
        );
        rate_cell(
            &mut out,
            t.promise_one_trip,
            &h.application,
            &p.application,
            "declared_one_trip_kept",
        );
        rate_cell(
            &mut out,
            t.promise_zero_trip,
            &h.application,
            &p.application,
            "declared_zero_trip_kept",
        );
        count_cell(
            &mut out,
            t.unlisted,
            &h.application,
            &p.application,
            "unlisted",
        );
        out.push_str("</div>");
    } else {
        let _ = write!(out, "<p class=\"none\">{}</p>", t.no_data);
    }
    out.push_str("</section><section class=\"keep\" id=\"hotline\">");
    let _ = write!(out, "<h2>{}</h2>", t.hotline);
    if h.has_hotline {
        out.push_str("<div class=\"figs\">");
        count_cell(&mut out, t.received, &h.hotline, &p.hotline, "received");
        rate_cell(
            &mut out,
            t.closed_on_time,
            &h.hotline,
            &p.hotline,
            "closed_on_time",
        );
        rate_cell(
            &mut out,
            t.satisfaction,
            &h.hotline,
            &p.hotline,
            "satisfaction",
        );
        rate_cell(
            &mut out,
            t.signed_on_time,
            &h.hotline,
            &p.hotline,
            "signed_on_time",
        );
        count_cell(
            &mut out,
            t.overdue_end,
            &h.hotline,
            &p.hotline,
            "overdue_open",
        );
        out.push_str("</div>");
    } else {
        let _ = write!(out, "<p class=\"none\">{}</p>", t.no_data);
    }
    out.push_str("</section>");
    if h.has_item {
        let _ = write!(
            out,
            "<section class=\"keep\" id=\"items\"><h2>{}</h2><div class=\"figs\">",
            t.items
        );
        count_cell(&mut out, t.items_listed, &h.item, &p.item, "items");
        rate_cell(&mut out, t.item_one_trip, &h.item, &p.item, "one_trip");
        rate_cell(&mut out, t.item_online, &h.item, &p.item, "fully_online");
        out.push_str("</div></section>");
    }
    ranking(&mut out, t, t.counties, &f.counties, false);
    out.push_str("<div class=\"pagebreak\"></div>");
    ranking(&mut out, t, t.departments, &f.departments, true);
    // Trends.
    let months: Vec<String> = f.trend.iter().map(|m| m.month.clone()).collect();
    let series = |fam: fn(&crate::figures::MonthPoint) -> &FamilyFigures, name: &str| {
        f.trend
            .iter()
            .map(|m| fam(m).rates.get(name).and_then(|r| r.value))
            .collect::<Vec<_>>()
    };
    let _ = write!(
        out,
        "<section class=\"keep pagebreak\" id=\"trends\"><h2>{}</h2>",
        t.trends
    );
    line_chart(
        &mut out,
        &months,
        &[
            (t.on_time, series(|m| &m.application, "on_time")),
            (t.one_trip, series(|m| &m.application, "at_most_one_trip")),
            (t.online, series(|m| &m.application, "zero_trip")),
            (t.hotline_closed, series(|m| &m.hotline, "closed_on_time")),
        ],
    );
    let _ = write!(out, "<h2>{}</h2>", t.overdue_trend);
    let overdue: Vec<i64> = f
        .trend
        .iter()
        .map(|m| {
            m.application
                .counters
                .get("overdue_open")
                .copied()
                .unwrap_or(0)
                + m.hotline.counters.get("overdue_open").copied().unwrap_or(0)
        })
        .collect();
    let short: Vec<String> = months.iter().map(|m| m[2..].to_owned()).collect();
    bar_chart(&mut out, &short, &overdue);
    let _ = write!(out, "<h2>{}</h2>", t.durations);
    let bounds = [
        "≤0.5", "≤1", "≤2", "≤3", "≤5", "≤10", "≤20", "≤60", "≤120", ">120",
    ];
    let labels: Vec<String> = bounds.iter().map(|b| (*b).to_owned()).collect();
    let values: Vec<i64> = f.application_durations.iter().map(|v| *v as i64).collect();
    bar_chart(&mut out, &labels, &values);
    let _ = write!(out, "<p><small>{}</small></p></section>", t.working_days);
    let _ = write!(
        out,
        "<section class=\"keep\" id=\"definitions\"><h2>{}</h2><ul>",
        t.definitions
    );
    for d in t.definitions_text {
        let _ = write!(out, "<li>{}</li>", esc(d));
    }
    let c = &f.calendar;
    if !c.national_years.is_empty() {
        let years = match (c.national_years.first(), c.national_years.last()) {
            (Some(a), Some(b)) if a != b => format!("{a}–{b}"),
            (Some(a), _) => a.to_string(),
            _ => String::new(),
        };
        let overlays: Vec<String> = c
            .overlays
            .iter()
            .map(|(p, n)| format!("{n} ({p}…)"))
            .collect();
        let _ = write!(
            out,
            "<li id=\"calendar\">{} {years}; {} {}; {}</li>",
            t.calendar_years,
            t.calendar_overlays,
            esc(&if overlays.is_empty() {
                "—".to_owned()
            } else {
                overlays.join(", ")
            }),
            // An offset reads `UTC+08:00`; a zone name (`America/New_York`) as it is.
            esc(&if c.utc_offset.starts_with(['+', '-']) {
                format!("UTC{}", c.utc_offset)
            } else {
                c.utc_offset.clone()
            })
        );
    }
    out.push_str("</ul></section></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::{figures, Period};

    #[test]
    fn an_empty_period_renders_with_dashes_and_no_data() {
        let f = figures(&[], Period::parse("2020-07").unwrap());
        for lang in [Lang::Zh, Lang::En] {
            let page = html(&f, lang);
            assert!(page.starts_with("<!DOCTYPE html>"));
            assert!(
                !page.contains("<script") && !page.contains("http"),
                "self-contained"
            );
            assert!(page.contains(if lang == Lang::Zh {
                "本期无数据"
            } else {
                "No data"
            }));
        }
        assert!(html(&f, Lang::Zh).contains("政务服务时效报告"));
    }
}
