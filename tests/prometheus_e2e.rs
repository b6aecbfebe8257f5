//! End to end with a real Prometheus server (Debian's `prometheus`, installed by
//! scripts/test-deploy.sh): it scrapes a running pipeline (the embedded demo), and a PromQL query
//! over its HTTP API returns the at-most-one-trip rate that `govstream replay` computes for the
//! same generated records. The same live scrape checks the metrics table in docs/metrics.md and
//! every metric name the Grafana dashboard uses, so neither can drift from the code.

use govstream_e2e::{free_port, http_get, repo, run, scratch, Killed};
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RECORDS: &str = "6000";
const SEED: &str = "31";

/// at_most_one_trip / completed over all application MONTH records of a replay.
fn expected_rate() -> f64 {
    let dir = scratch("prom-replay");
    let gen = dir.join("gen");
    let o = run(&[
        "generate",
        "--records",
        RECORDS,
        "--seed",
        SEED,
        "--out",
        gen.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let out = dir.join("out");
    let o = run(&[
        "replay",
        "--source",
        &format!("hotline={}", gen.join("hotline.ndjson").display()),
        "--source",
        &format!("onenet={}", gen.join("onenet.ndjson").display()),
        "--source",
        &format!("bdc={}", gen.join("bdc.txt").display()),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (mut one, mut completed) = (0u64, 0u64);
    for l in std::fs::read_to_string(out.join("aggregates.ndjson"))
        .unwrap()
        .lines()
    {
        let r: serde_json::Value = serde_json::from_str(l).unwrap();
        if r["family"] == "application" && r["granularity"] == "MONTH" {
            one += r["counters"]["at_most_one_trip"].as_u64().unwrap();
            completed += r["counters"]["completed"].as_u64().unwrap();
        }
    }
    assert!(completed > 100);
    one as f64 / completed as f64
}

fn query(prom: &str, q: &str) -> Option<f64> {
    let enc: String = q
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let (code, body) = http_get(prom, &format!("/api/v1/query?query={enc}"))?;
    if code != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

/// Metric family names in a Prometheus text exposition (histograms by their base name).
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn prometheus_scrapes_the_pipeline_and_promql_gives_the_replay_rate() {
    let want = expected_rate();
    let dir = scratch("prom");
    let metrics = format!("127.0.0.1:{}", free_port());
    let demo = Killed(
        Command::new(govstream_e2e::govstream_bin())
            .args([
                "demo",
                "--records",
                RECORDS,
                "--seed",
                SEED,
                "--status-every",
                "0",
            ])
            .args(["--metrics-listen", &metrics, "--linger", "120"])
            .env("GOVSTREAM_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("demo starts"),
    );
    let prom_addr = format!("127.0.0.1:{}", free_port());
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: govstream\n    static_configs:\n      - targets: ['{metrics}']\n"
        ),
    )
    .unwrap();
    let prometheus = std::path::Path::new("/usr/bin/prometheus");
    assert!(
        prometheus.exists(),
        "prometheus is missing: scripts/test-deploy.sh installs it (make test does)"
    );
    let _prom = Killed(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={prom_addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus starts"),
    );
    let q = "sum(govstream_application_at_most_one_trip_total) / sum(govstream_application_completed_total)";
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut last = None;
    loop {
        last = query(&prom_addr, q).or(last);
        if let Some(v) = last {
            if (v - want).abs() < 1e-9 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "PromQL gave {last:?}, replay says {want}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Prometheus saw the target up, and the pipeline said it was ready.
    assert_eq!(query(&prom_addr, "up{job=\"govstream\"}"), Some(1.0));
    assert_eq!(query(&prom_addr, "max(govstream_ready)"), Some(1.0));

    // The live exposition against the docs table and the dashboard.
    let (code, text) = http_get(&metrics, "/metrics").expect("scrape");
    assert_eq!(code, 200);
    let live = exported(&text);
    let docs = std::fs::read_to_string(repo().join("docs/metrics.md")).unwrap();
    let documented: BTreeSet<String> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|n| n.starts_with("govstream_"))
        .map(str::to_owned)
        .collect();
    let undocumented: Vec<_> = live.iter().filter(|n| !documented.contains(*n)).collect();
    let missing: Vec<_> = documented.iter().filter(|n| !live.contains(*n)).collect();
    assert!(
        undocumented.is_empty(),
        "exported but not in docs/metrics.md: {undocumented:?}"
    );
    assert!(
        missing.is_empty(),
        "in docs/metrics.md but not exported: {missing:?}"
    );
    let dashboard =
        std::fs::read_to_string(repo().join("deploy/grafana/govstream-dashboard.json")).unwrap();
    let mut used = BTreeSet::new();
    for (i, _) in dashboard.match_indices("govstream_") {
        let name: String = dashboard[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|b| live.contains(*b)))
            .unwrap_or(&name)
            .to_owned();
        used.insert(base);
    }
    let unknown: Vec<_> = used.iter().filter(|n| !live.contains(*n)).collect();
    assert!(used.len() > 20, "{used:?}");
    assert!(
        unknown.is_empty(),
        "dashboard queries metrics the pipeline does not export: {unknown:?}"
    );
    // Health endpoints.
    assert_eq!(http_get(&metrics, "/healthz").map(|r| r.0), Some(200));
    assert_eq!(http_get(&metrics, "/readyz").map(|r| r.0), Some(200));
    drop(demo);
}
