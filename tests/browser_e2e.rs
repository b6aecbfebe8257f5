//! End to end in a real browser: Debian's Chromium, headless (installed with a Chinese font by
//! `scripts/install-browser.sh`), loads the report and the live status page of a running
//! `demo`, checks the rendered text of headline figures, and keeps screenshots in
//! `target/e2e-scratch/browser*/` (test artifacts).

use govstream_e2e::workload::generated_aggregates;
use govstream_e2e::{free_port, run, scratch, Killed};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Chromium, headless, in a fresh profile, without background networking (the machine's
/// network is closed).
fn chromium(dir: &Path, args: &[&str]) -> String {
    let profile = dir.join(format!("profile-{}", free_port()));
    let o = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,1800",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stderr(Stdio::null())
        .output()
        .expect("chromium runs (scripts/install-browser.sh installs it)");
    assert!(o.status.success(), "chromium {args:?} failed");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The text of the element with `id` in a DOM dump (the first text node inside it).
fn text_of(dom: &str, marker: &str) -> Option<String> {
    let at = dom.find(marker)?;
    let rest = &dom[at..];
    let v = rest.find("class=\"v\">").map(|i| &rest[i + 10..])?;
    Some(v[..v.find('<')?].to_owned())
}

#[test]
fn the_report_renders_its_figures_in_chinese_and_english() {
    let dir = scratch("browser-report");
    let aggs = generated_aggregates(&dir, "20000", "8");
    let o = run(&[
        "report",
        "--aggregates",
        aggs.to_str().unwrap(),
        "--period",
        "2020-Q3",
        "--format",
        "json",
    ]);
    let f: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let on_time = f["headline"]["application"]["rates"]["on_time"]["value"]
        .as_f64()
        .unwrap();
    for lang in ["zh", "en"] {
        let page = dir.join(format!("report-{lang}.html"));
        let o = run(&[
            "report",
            "--aggregates",
            aggs.to_str().unwrap(),
            "--period",
            "2020-Q3",
            "--lang",
            lang,
            "--out",
            page.to_str().unwrap(),
        ]);
        assert!(o.status.success());
        let url = format!("file://{}", page.display());
        let dom = chromium(&dir, &["--dump-dom", &url]);
        let shown = format!("data-rate=\"on_time\">{:.1}%", 100.0 * on_time);
        assert!(dom.contains(&shown), "{lang}: {shown} not rendered");
        assert!(dom.contains(if lang == "zh" {
            "政务服务时效报告"
        } else {
            "Timeliness"
        }));
        let shot = dir.join(format!("report-{lang}.png"));
        chromium(&dir, &[&format!("--screenshot={}", shot.display()), &url]);
        assert!(std::fs::metadata(&shot)
            .map(|m| m.len() > 10_000)
            .unwrap_or(false));
        // It prints to PDF (the print styles keep tables and charts whole).
        let pdf = dir.join(format!("report-{lang}.pdf"));
        chromium(
            &dir,
            &[
                "--no-pdf-header-footer",
                &format!("--print-to-pdf={}", pdf.display()),
                &url,
            ],
        );
        let bytes = std::fs::read(&pdf).unwrap_or_default();
        assert!(
            bytes.starts_with(b"%PDF") && bytes.len() > 10_000,
            "{lang}: no PDF"
        );
    }
}

#[test]
fn the_live_page_of_a_running_demo_updates_while_records_flow() {
    let dir = scratch("browser-live");
    let addr = format!("127.0.0.1:{}", free_port());
    let _demo = Killed(
        Command::new(govstream_e2e::govstream_bin())
            .args(["demo", "--records", "150000", "--status-every", "0"])
            .args(["--metrics-listen", &addr, "--linger", "60"])
            .env("GOVSTREAM_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("demo starts"),
    );
    let url = format!("http://{addr}/");
    // The page polls /status.json; give its script virtual time to fetch and render.
    let dump = || chromium(&dir, &["--virtual-time-budget=4000", "--dump-dom", &url]);
    let read =
        |dom: &str| text_of(dom, "id=\"pipe-read\"").and_then(|t| t.trim().parse::<u64>().ok());
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen: Vec<u64> = Vec::new();
    let mut last_dom = String::new();
    // Records read, as the page shows them, grow from one load to a later one.
    while Instant::now() < deadline {
        let dom = dump();
        if let Some(n) = read(&dom) {
            if seen.last().is_none_or(|l| n > *l) {
                seen.push(n);
            }
        }
        last_dom = dom;
        if seen.len() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        seen.len() >= 2,
        "the page did not update: {seen:?}\n{last_dom}"
    );
    // Once the figures are in, the headline shows rates in Chinese.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let dom = dump();
        let on_time = text_of(&dom, "id=\"app-on-time\"").unwrap_or_default();
        if on_time.ends_with('%') {
            assert!(dom.contains("按时办结率"), "{dom}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no on-time rate on the page: {dom}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let shot = dir.join("live.png");
    chromium(
        &dir,
        &[
            "--virtual-time-budget=4000",
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
    );
    assert!(std::fs::metadata(&shot)
        .map(|m| m.len() > 10_000)
        .unwrap_or(false));
}
