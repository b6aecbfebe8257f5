//! Secured and compressed connections on a real Apache Kafka: a SASL_SSL listener with a
//! throw-away CA and broker certificate made by the test (openssl), SCRAM credentials created at
//! format time, raw topics produced with every compression codec by the independent client.
//!
//! - the shipped production config, with its paths and secrets swapped in, runs the pipeline
//!   over SASL_SSL (SCRAM-SHA-512) and equals `replay`;
//! - SCRAM-SHA-256 and PLAIN connect too (`run --check --connect`);
//! - a wrong password and an untrusted certificate give a clear error, a non-zero exit and no
//!   secret in the output;
//! - brokers that cannot be reached are reported within seconds by the log and `/readyz`.

use govstream_e2e::kafka::{
    assert_accounted, assert_same, final_aggregates, pyclient_with, Broker, BrokerOptions,
};
use govstream_e2e::workload::{replay_lines_with, workload, SOURCES};
use govstream_e2e::{free_port, govstream_bin, http_get, repo, scratch};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "Sc-ram-Pa55word-7f3e";
const WRONG: &str = "Wr0ng-Pa55word-91ac";
const STORE_PASS: &str = "store-pass-4d2b";

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA (`NAME-ca.pem`) and, signed by it, a certificate for 127.0.0.1 in a PKCS12 keystore.
fn pki(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let ca_key = format!("{name}-ca.key");
    let ca = format!("{name}-ca.pem");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=govstream test CA {name}"),
            "-keyout",
            &ca_key,
            "-out",
            &ca,
        ],
    );
    let key = format!("{name}-broker.key");
    let csr = format!("{name}-broker.csr");
    let crt = format!("{name}-broker.pem");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            &crt,
        ],
    );
    let p12 = format!("{name}-broker.p12");
    openssl(
        dir,
        &[
            "pkcs12",
            "-export",
            "-in",
            &crt,
            "-inkey",
            &key,
            "-name",
            "broker",
            "-out",
            &p12,
            "-passout",
            &format!("pass:{STORE_PASS}"),
        ],
    );
    (dir.join(ca), dir.join(p12))
}

/// A broker with a SASL_SSL listener (SCRAM-SHA-512/256 and PLAIN) beside the plain one.
fn secured_broker(dir: &Path) -> (Broker, PathBuf) {
    let (ca, keystore) = pki(dir, "trusted");
    let props = format!(
        "listeners=PLAINTEXT://127.0.0.1:{{PORT}},CONTROLLER://127.0.0.1:{{CONTROLLER_PORT}},SASL_SSL://127.0.0.1:{{SECURE_PORT}}
advertised.listeners=PLAINTEXT://127.0.0.1:{{PORT}},SASL_SSL://127.0.0.1:{{SECURE_PORT}}
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_govstream=\"{PASSWORD}\";
ssl.keystore.type=PKCS12
ssl.keystore.location={}
ssl.keystore.password={STORE_PASS}
ssl.key.password={STORE_PASS}
",
        keystore.display()
    );
    let broker = Broker::start_with(BrokerOptions {
        extra_properties: props,
        format_args: vec![
            "--add-scram".into(),
            format!("SCRAM-SHA-512=[name=govstream,password={PASSWORD}]"),
            "--add-scram".into(),
            format!("SCRAM-SHA-256=[name=govstream,password={PASSWORD}]"),
        ],
    });
    (broker, ca)
}

/// The shipped production example with this test's addresses, paths and topic names swapped in.
fn production_config(dir: &Path, broker: &Broker, ca: &Path, mechanism: &str) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("deploy/config/production.toml")).unwrap();
    let key = dir.join("pseudonym.key");
    std::fs::write(&key, "a test pseudonym key of enough length").unwrap();
    let swaps = [
        (
            "kafka-0.kafka:9093,kafka-1.kafka:9093,kafka-2.kafka:9093".to_owned(),
            broker.secure_addr(),
        ),
        ("/etc/govstream/ca.pem".into(), ca.display().to_string()),
        (
            "/etc/govstream/pseudonym.key".into(),
            key.display().to_string(),
        ),
        // The operator's calendar file for a new year: the bundled national data stands in.
        (
            "/etc/govstream/calendar/cn-2027.json".into(),
            repo().join("data/calendar/cn.json").display().to_string(),
        ),
        (
            "replication_factor = 3".into(),
            "replication_factor = 1".into(),
        ),
        ("create = false".into(), "create = true".into()),
        ("partitions = 12".into(), "partitions = 3".into()),
        ("prefecture.12345.events".into(), "raw.hotline".into()),
        ("province.ywtb.banjian".into(), "raw.onenet".into()),
        ("county.bdc.status".into(), "raw.bdc".into()),
        (
            "province.zwfw.shixiang-qingdan".into(),
            "raw.catalogue".into(),
        ),
        ("0.0.0.0:9464".into(), String::new()),
        ("SCRAM-SHA-512".into(), mechanism.into()),
    ];
    let mut text = text;
    for (from, to) in swaps {
        assert!(
            text.contains(&from),
            "production.toml no longer has `{from}`"
        );
        text = text.replace(&from, &to);
    }
    let p = dir.join(format!("production-{mechanism}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

fn govstream(args: &[&str], password: &str) -> Output {
    Command::new(govstream_bin())
        .args(args)
        .env("GOVSTREAM_KAFKA_PASSWORD", password)
        .env("GOVSTREAM_LOG", "info")
        .output()
        .expect("govstream runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn security_json(ca: &Path) -> String {
    serde_json::json!({
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "govstream",
        "sasl_plain_password": PASSWORD,
        "ssl_cafile": ca.display().to_string(),
        "ssl_check_hostname": false,
    })
    .to_string()
}

#[test]
fn production_config_over_sasl_ssl_with_every_codec_equals_replay() {
    let dir = scratch("kafka-secure");
    workload(&dir, "3000", "11");
    // The production example has a catalogue source: the generated catalogue goes there.
    let catalogue = dir.join("gen/catalogue.ndjson");
    let want = replay_lines_with(&dir, &[("catalogue", catalogue.as_path())]);
    let (broker, ca) = secured_broker(&dir);
    let sec = security_json(&ca);
    // The independent client produces over SASL_SSL, each source with another codec, and the
    // hotline records once more with snappy (copies change no aggregate).
    let mut sent = 0u64;
    let codecs = ["gzip", "zstd", "lz4"];
    for ((name, file), codec) in SOURCES.iter().zip(codecs) {
        let path = dir.join(file);
        let n = pyclient_with(
            &[
                "produce",
                &broker.secure_addr(),
                &format!("raw.{name}"),
                path.to_str().unwrap(),
                codec,
            ],
            Some(&sec),
        );
        sent += n.trim().parse::<u64>().unwrap();
    }
    let hotline = dir.join(SOURCES[0].1);
    let copies: u64 = pyclient_with(
        &[
            "produce",
            &broker.secure_addr(),
            "raw.hotline",
            hotline.to_str().unwrap(),
            "snappy",
        ],
        Some(&sec),
    )
    .trim()
    .parse()
    .unwrap();
    sent += copies;
    let listings: u64 = pyclient_with(
        &[
            "produce",
            &broker.secure_addr(),
            "raw.catalogue",
            catalogue.to_str().unwrap(),
            "zstd",
        ],
        Some(&sec),
    )
    .trim()
    .parse()
    .unwrap();
    sent += listings;

    let config = production_config(&dir, &broker, &ca, "SCRAM-SHA-512");
    let cfg = config.to_str().unwrap();
    // --check builds the clients, prints the effective settings with the secret masked, and
    // --connect reaches the SASL_SSL listener.
    let o = govstream(&["run", "--check", "--connect", "--config", cfg], PASSWORD);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("connected: 1 broker"), "{out}");
    assert!(out.contains("\"sasl.password\" = \"****\""), "{out}");
    assert!(
        out.contains("aggregates_json = \"govstream.aggregates.json.v1\""),
        "{out}"
    );
    assert!(!out.contains(PASSWORD), "the password was printed: {out}");

    let child = Command::new(govstream_bin())
        .args([
            "run",
            "--config",
            cfg,
            "--idle-exit",
            "8",
            "--status-every",
            "0",
        ])
        .env("GOVSTREAM_KAFKA_PASSWORD", PASSWORD)
        .env("GOVSTREAM_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("govstream run starts");
    let o = child.wait_with_output().unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(!out.contains(PASSWORD), "the password was logged: {out}");
    // The plain listener of the same broker serves the independent reader.
    assert_same(&final_aggregates(&broker), &want);
    assert_accounted(&broker, sent);
}

#[test]
fn other_mechanisms_wrong_password_and_untrusted_certificate() {
    let dir = scratch("kafka-secure-errors");
    let (broker, ca) = secured_broker(&dir);
    for mechanism in ["SCRAM-SHA-256", "PLAIN"] {
        let config = production_config(&dir, &broker, &ca, mechanism);
        let o = govstream(
            &[
                "run",
                "--check",
                "--connect",
                "--config",
                config.to_str().unwrap(),
            ],
            PASSWORD,
        );
        assert!(o.status.success(), "{mechanism}: {}", text(&o));
    }

    // A wrong password: a clear error, a non-zero exit, no secret in the output — from the
    // check and from `run` itself, which must not wait forever.
    let config = production_config(&dir, &broker, &ca, "SCRAM-SHA-512");
    let cfg = config.to_str().unwrap();
    let o = govstream(&["run", "--check", "--connect", "--config", cfg], WRONG);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("refused the connection"), "{out}");
    assert!(out.to_lowercase().contains("authentication"), "{out}");
    assert!(!out.contains(WRONG) && !out.contains(PASSWORD), "{out}");
    let started = Instant::now();
    let o = govstream(&["run", "--config", cfg, "--status-every", "0"], WRONG);
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.to_lowercase().contains("authentication"), "{out}");
    assert!(!out.contains(WRONG), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "run waited too long"
    );

    // A CA that did not sign the broker's certificate.
    let (other_ca, _) = pki(&dir, "untrusted");
    let config = production_config(&dir, &broker, &other_ca, "SCRAM-SHA-512");
    let o = govstream(
        &[
            "run",
            "--check",
            "--connect",
            "--config",
            config.to_str().unwrap(),
        ],
        PASSWORD,
    );
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("certificate"), "{out}");
    assert!(!out.contains(PASSWORD), "{out}");
}

#[test]
fn unreachable_brokers_are_reported_within_seconds() {
    let dir = scratch("kafka-unreachable");
    // A port nobody listens on.
    let dead = format!("127.0.0.1:{}", free_port());
    let listen = format!("127.0.0.1:{}", free_port());
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbrokers = \"{dead}\"\n[[sources]]\nname = \"hotline\"\ntopic = \"raw.hotline\"\n[metrics]\nlisten = \"{listen}\"\n"
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let o = govstream(
        &[
            "run",
            "--check",
            "--connect",
            "--timeout",
            "2",
            "--config",
            cfg,
        ],
        "",
    );
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains(&format!("no broker of `{dead}` answered")),
        "{out}"
    );

    let log = dir.join("run.log");
    let mut child = Command::new(govstream_bin())
        .args(["run", "--config", cfg, "--status-every", "0"])
        .env("GOVSTREAM_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut reason = None;
    while started.elapsed() < Duration::from_secs(20) {
        if let Some((503, body)) = http_get(&listen, "/readyz") {
            if body.contains("kafka:") {
                reason = Some(body);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    let reason =
        reason.unwrap_or_else(|| panic!("/readyz never named the broker problem; log:\n{logged}"));
    assert!(reason.contains(&dead), "{reason}");
    assert!(logged.contains("waiting for the brokers"), "{logged}");
    assert!(status.success(), "SIGTERM while waiting is a clean stop");
}
