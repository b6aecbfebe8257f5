//! The live status page of `run` and `demo`: `/` serves one self-contained HTML page (no
//! external assets) that polls `/status.json` every few seconds — the headline figures of the
//! current day and month, counties worst first, and the pipeline's health (lag, records/s,
//! rejections, the last checkpoint). When the pipeline restarts the page says so and keeps
//! polling.

use crate::metrics::Timeliness;
use crate::progress::Progress;
use govstream_engine::schema::{self, Family, RATES};
use govstream_engine::COUNTERS;
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering::Relaxed;

fn family_json(family: Family, c: &[i64; COUNTERS]) -> Value {
    let counters: Map<String, Value> = family
        .counter_names()
        .iter()
        .enumerate()
        .map(|(i, n)| ((*n).to_owned(), json!(c[i])))
        .collect();
    let rates: Map<String, Value> = RATES
        .iter()
        .filter(|r| r.family == family)
        .map(|r| {
            let (n, d) = (r.parts)(c);
            (
                r.name.to_owned(),
                json!({"numerator": n, "denominator": d, "value": r.value(c)}),
            )
        })
        .collect();
    json!({"counters": counters, "rates": rates})
}

/// What `/status.json` returns.
pub fn status_json(p: &Progress, t: &Timeliness) -> Value {
    let accounts = p.accounts().total();
    let lag: i64 = p
        .lag
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .map(|l| (*l).max(0))
        .sum();
    let snap = t.snapshot.lock().unwrap_or_else(|e| e.into_inner()).clone();
    // Per county, the current day and month (the `window` of the ratio gauges).
    let mut windows = Map::new();
    for window in ["day", "month"] {
        let mut counties: Vec<Value> = Vec::new();
        let mut total = [[0i64; COUNTERS]; 2];
        let mut regions: Vec<&String> = snap
            .current
            .iter()
            .flat_map(|m| m.keys())
            .filter(|(_, w)| *w == window)
            .map(|(r, _)| r)
            .collect();
        regions.sort();
        regions.dedup();
        for region in regions {
            let key = (region.clone(), window);
            let zero = [0i64; COUNTERS];
            let app = snap.current[0].get(&key).unwrap_or(&zero);
            let hot = snap.current[1].get(&key).unwrap_or(&zero);
            for (t, c) in total.iter_mut().zip([app, hot]) {
                for (a, b) in t.iter_mut().zip(c) {
                    *a += b;
                }
            }
            counties.push(json!({
                "region": region,
                "application": family_json(Family::Application, app),
                "hotline": family_json(Family::Hotline, hot),
            }));
        }
        // Worst on-time completion first; counties without completions last.
        let key = |v: &Value| {
            v.pointer("/application/rates/on_time/value")
                .and_then(Value::as_f64)
                .unwrap_or(f64::INFINITY)
        };
        counties.sort_by(|a, b| key(a).total_cmp(&key(b)));
        windows.insert(
            window.to_owned(),
            json!({
                "application": family_json(Family::Application, &total[0]),
                "hotline": family_json(Family::Hotline, &total[1]),
                "counties": counties,
            }),
        );
    }
    let items = *p.items.lock().unwrap_or_else(|e| e.into_inner());
    let overdue: Vec<i64> = (0..2)
        .map(|f| snap.overdue[f].values().map(|v| (*v).max(0)).sum())
        .collect();
    json!({
        "ready": p.ready(),
        "problem": p.readiness().err(),
        "watermark": p.watermark().map(|w| govstream_calendar::civil::format_rfc3339(w, 8 * 3600)),
        "windows": windows,
        "overdue_now": {"application": overdue[0], "hotline": overdue[1]},
        "items": family_json(Family::Item, &items),
        "pipeline": {
            "read": accounts.read,
            "normalized": accounts.normalized,
            "rejected": accounts.rejected_total(),
            "duplicates": accounts.duplicates,
            "events_applied": p.events_applied.load(Relaxed),
            "aggregates_published": p.aggregates_published.load(Relaxed),
            "lag": lag,
            "cases": p.engine_cases.load(Relaxed),
            "checkpoint_last_ms": p.checkpoint_last_ms.load(Relaxed),
            "checkpoints_written": p.checkpoints_written.load(Relaxed),
        },
        "overdue_counter": schema::OVERDUE_OPEN,
    })
}

/// The page at `/`: Chinese by default, `/?lang=en` in English.
pub const PAGE: &str = r##"<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>govstream</title>
<style>
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","WenQuanYi Micro Hei",sans-serif;margin:20px;color:#222}
h1{font-size:20px} h2{font-size:16px;margin-top:22px}
.figs{display:flex;flex-wrap:wrap;gap:10px} .fig{border:1px solid #ccc;border-radius:6px;padding:6px 10px;min-width:130px}
.fig .l{font-size:12px;color:#555} .fig .v{font-size:20px;font-weight:bold} .fig .c{font-size:11px;color:#777}
table{border-collapse:collapse;font-size:12px} td,th{border:1px solid #ccc;padding:3px 6px;text-align:right} td:first-child,th:first-child{text-align:left}
#state{font-size:12px;color:#555} #state.down{color:#b00}
</style></head><body>
<h1 id="title"></h1><div id="state"></div>
<h2 id="h-app"></h2><div class="figs" id="app"></div>
<h2 id="h-hot"></h2><div class="figs" id="hot"></div>
<h2 id="h-items"></h2><div class="figs" id="items"></div>
<h2 id="h-counties"></h2><table><thead><tr id="counties-head"></tr></thead><tbody id="counties"></tbody></table>
<h2 id="h-pipe"></h2><div class="figs" id="pipe"></div>
<script>
const EN = new URLSearchParams(location.search).get("lang") === "en";
const T = EN ? {
  title:"govstream: timeliness now", app:"Applications this month", hot:"12345 hotline this month", items:"Service items listed",
  counties:"Counties this month, worst on-time completion first", pipe:"Pipeline",
  completed:"Completed", one:"At most one trip", online:"Fully online", ontime:"On time", overdue:"Overdue now",
  kept:"One-trip promise kept", received:"Received", closed:"Closed on time", satisfied:"Satisfaction",
  listed:"Items listed", itemone:"Items at most one trip", itemonline:"Items wholly online",
  county:"County", read:"Records read", rate:"Records/s", rejected:"Rejected", lag:"Lag", wm:"Watermark",
  ckpt:"Last checkpoint", ready:"ready", notready:"not ready", down:"no answer from the pipeline: retrying", none:"—"
} : {
  title:"govstream 政务服务时效实况", app:"本月办件", hot:"本月 12345 热线", items:"在用事项",
  counties:"本月各县市（按时办结率由低到高）", pipe:"流水线状态",
  completed:"办结件数", one:"最多跑一次率", online:"全程网办率", ontime:"按时办结率", overdue:"当前超期",
  kept:"最多跑一次承诺兑现率", received:"受理工单", closed:"按时办结率", satisfied:"满意率",
  listed:"在用事项数", itemone:"最多跑一次事项占比", itemonline:"全程网办事项占比",
  county:"县市", read:"已读记录", rate:"每秒记录", rejected:"拒收", lag:"积压", wm:"水位线",
  ckpt:"最近检查点", ready:"就绪", notready:"未就绪", down:"流水线无响应，正在重试", none:"—"
};
document.documentElement.lang = EN ? "en" : "zh-CN";
const $ = id => document.getElementById(id);
$("title").textContent = T.title; $("h-app").textContent = T.app; $("h-hot").textContent = T.hot;
$("h-items").textContent = T.items; $("h-counties").textContent = T.counties; $("h-pipe").textContent = T.pipe;
const pct = r => (r && r.value !== null && r.value !== undefined) ? (100 * r.value).toFixed(1) + "%" : T.none;
const cnt = r => r ? r.numerator + "/" + r.denominator : "";
function fig(label, value, counts, id) {
  return '<div class="fig"' + (id ? ' id="' + id + '"' : '') + '><div class="l">' + label + '</div><div class="v">' + value + '</div><div class="c">' + (counts || "") + '</div></div>';
}
let last = null;
async function poll() {
  try {
    const r = await fetch("/status.json", {cache: "no-store"});
    const s = await r.json();
    const m = s.windows.month, a = m.application, h = m.hotline;
    $("state").className = "";
    $("state").textContent = (s.ready ? T.ready : T.notready + (s.problem ? ": " + s.problem : "")) + " · " + T.wm + " " + (s.watermark || T.none);
    $("app").innerHTML = fig(T.completed, a.counters.completed, "", "app-completed") + fig(T.one, pct(a.rates.at_most_one_trip), cnt(a.rates.at_most_one_trip), "app-one-trip")
      + fig(T.online, pct(a.rates.zero_trip), cnt(a.rates.zero_trip)) + fig(T.ontime, pct(a.rates.on_time), cnt(a.rates.on_time), "app-on-time")
      + fig(T.overdue, s.overdue_now.application) + fig(T.kept, pct(a.rates.declared_one_trip_kept), cnt(a.rates.declared_one_trip_kept));
    $("hot").innerHTML = fig(T.received, h.counters.received) + fig(T.closed, pct(h.rates.closed_on_time), cnt(h.rates.closed_on_time))
      + fig(T.satisfied, pct(h.rates.satisfaction), cnt(h.rates.satisfaction)) + fig(T.overdue, s.overdue_now.hotline);
    const it = s.items;
    $("items").innerHTML = fig(T.listed, it.counters.items) + fig(T.itemone, pct(it.rates.one_trip), cnt(it.rates.one_trip))
      + fig(T.itemonline, pct(it.rates.fully_online), cnt(it.rates.fully_online));
    $("counties-head").innerHTML = "<th>" + [T.county, T.completed, T.ontime, T.one, T.received, T.closed].join("</th><th>") + "</th>";
    $("counties").innerHTML = m.counties.map(c => "<tr><td>" + c.region + "</td><td>" + c.application.counters.completed + "</td><td>"
      + pct(c.application.rates.on_time) + " <small>" + cnt(c.application.rates.on_time) + "</small></td><td>" + pct(c.application.rates.at_most_one_trip)
      + "</td><td>" + c.hotline.counters.received + "</td><td>" + pct(c.hotline.rates.closed_on_time) + "</td></tr>").join("");
    const p = s.pipeline, now = Date.now();
    const rate = last ? ((p.read - last.read) * 1000 / Math.max(1, now - last.at)).toFixed(0) : T.none;
    last = {read: p.read, at: now};
    const ck = p.checkpoint_last_ms ? new Date(p.checkpoint_last_ms).toLocaleTimeString() : T.none;
    $("pipe").innerHTML = fig(T.read, p.read, "", "pipe-read") + fig(T.rate, rate) + fig(T.rejected, p.rejected) + fig(T.lag, p.lag) + fig(T.ckpt, ck);
  } catch (e) {
    $("state").className = "down";
    $("state").textContent = T.down;
    last = null;
  }
}
poll(); setInterval(poll, 2000);
</script></body></html>
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_has_the_figures_the_page_reads() {
        let p = Progress::default();
        let t = Timeliness::default();
        let s = status_json(&p, &t);
        for path in [
            "/windows/month/application/rates/on_time",
            "/windows/month/hotline/rates/closed_on_time",
            "/windows/day/counties",
            "/items/rates/one_trip",
            "/pipeline/lag",
            "/overdue_now/application",
        ] {
            assert!(s.pointer(path).is_some(), "{path} in {s}");
        }
        // No cases: no value, never 0 %.
        assert!(s
            .pointer("/windows/month/application/rates/on_time/value")
            .unwrap()
            .is_null());
        assert!(PAGE.contains("/status.json") && !PAGE.contains("http"));
    }
}
