//! Normalization throughput per source: records/s and MB/s.
//!
//! `cargo bench -p govstream-normalize --bench normalize`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use govstream_normalize::{preset, PseudonymKey};
use std::hint::black_box;
use std::sync::Arc;

/// A realistic mix of records of one source (all valid), ids varied.
fn records(source: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let s = i % 60;
            match source {
                "hotline" => match i % 4 {
                    0 => format!(r#"{{"eventId":"9f1c2e7a-0c55-4d0e-9b59-{i:012}","orderNo":"BZ20200715{i:05}","action":"REGISTER","time":"2020-07-15T10:21:{s:02}+08:00","areaCode":"652801","category":"COMPLAINT","channel":"PHONE","caller":{{"name":"张伟","phone":"139{i:08}"}},"content":"小区楼下夜间施工噪音扰民，请尽快处理"}}"#),
                    1 => format!(r#"{{"eventId":"9f1c2e7a-0c55-4d0e-9b59-{i:012}","orderNo":"BZ20200715{i:05}","action":"DISPATCH","time":"2020-07-15T10:21:{s:02}+08:00","dept":{{"code":"652801-ZJJ","name":"库尔勒市住房和城乡建设局"}},"limitDays":5}}"#),
                    2 => format!(r#"{{"eventId":"9f1c2e7a-0c55-4d0e-9b59-{i:012}","orderNo":"BZ20200715{i:05}","action":"CLOSE","time":"2020-07-15T10:21:{s:02}+08:00"}}"#),
                    _ => format!(r#"{{"eventId":"9f1c2e7a-0c55-4d0e-9b59-{i:012}","orderNo":"BZ20200715{i:05}","action":"CALLBACK","time":"2020-07-15T10:21:{s:02}+08:00","satisfaction":"SATISFIED"}}"#),
                }
                .into_bytes(),
                "onenet" => match i % 3 {
                    0 => format!(r#"{{"RECORDID":"SB-652800-2020-{i:07}","PROJID":"652800202007{i:08}","INFOTYPE":"SB","TASKCODE":"11652800010145678X4000111009000","TASKNAME":"公共场所卫生许可","AREACODE":"652801000000","DEPTCODE":"11652800010145678X","DEPTNAME":"巴州卫生健康委员会","APPLYTYPE":"1","APPLYTIME":"2020-07-15 10:21:{s:02}","APPLICANT":"赵敏","CERTNO":"652801199001011234","PHONE":"13800001111"}}"#),
                    1 => format!(r#"{{"RECORDID":"SL-652800-2020-{i:07}","PROJID":"652800202007{i:08}","INFOTYPE":"SL","TASKCODE":"11652800010145678X4000111009000","TASKNAME":"公共场所卫生许可","AREACODE":"652801000000","DEPTCODE":"11652800010145678X","DEPTNAME":"巴州卫生健康委员会","ITEMTYPE":"CN","ACCEPTTIME":"2020-07-15 10:21:{s:02}","PROMISEDAYS":"5","LEGALDAYS":"20"}}"#),
                    _ => format!(r#"{{"RECORDID":"BJ-652800-2020-{i:07}","PROJID":"652800202007{i:08}","INFOTYPE":"BJ","RESULT":"1","FINISHTIME":"2020-07-17 16:00:{s:02}","DELIVERY":"1"}}"#),
                }
                .into_bytes(),
                _ => {
                    let zt = ["01", "02", "03", "04", "05", "06"][i % 6];
                    let line = format!("BDC2020{i:09}|200|{zt}|202007151021{s:02}|652801|库尔勒市不动产登记中心|孙珅|652801198003033456|13500003333");
                    encoding_rs::GB18030.encode(&line).0.into_owned()
                }
            }
        })
        .collect()
}

/// The NYC 311 mapping with its fixture's header declared, and `n` rows of an export in that
/// layout (a quoted comma, quoted quotes, 12-hour clocks in New York time; 3 events per row).
fn nyc311(key: Arc<PseudonymKey>, n: usize) -> (govstream_normalize::CompiledSource, Vec<Vec<u8>>) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mapping = std::fs::read_to_string(format!("{root}/deploy/mappings/nyc311.toml")).unwrap();
    let csv =
        std::fs::read_to_string(format!("{root}/tests/fixtures/nyc311/export-1.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    let cols: Vec<String> = header.split(',').map(|c| format!("{c:?}")).collect();
    let text = mapping.replace(
        "format = { kind = \"csv\" }",
        &format!(
            "format = {{ kind = \"csv\", columns = [{}] }}",
            cols.join(", ")
        ),
    );
    let src = govstream_normalize::from_mapping_file(&text, key).unwrap();
    let rows = (0..n)
        .map(|i| {
            let m = i % 60;
            format!("{},03/02/2020 09:{m:02}:00 AM,03/03/2020 04:30:00 PM,NYPD,New York City Police Department,Noise - Residential,Loud Music/Party,Residential Building/House,10001,\"123 MAIN STREET, APT 4\",Closed,03/02/2020 05:15:00 PM,\"Responded and \"\"took action\"\".\",03/03/2020 04:30:00 PM,05 MANHATTAN,MANHATTAN,PHONE,40.7506,-73.9972", 45_000_000 + i)
                .into_bytes()
        })
        .collect();
    (src, rows)
}

fn bench(c: &mut Criterion) {
    let key = Arc::new(PseudonymKey::new("bench-key"));
    for (what, by_bytes) in [("records", false), ("bytes", true)] {
        let mut g = c.benchmark_group(format!("normalize_{what}"));
        for name in ["hotline", "onenet", "bdc"] {
            let src = preset(name, key.clone()).unwrap().unwrap();
            let recs = records(name, 10_000);
            let bytes: u64 = recs.iter().map(|r| r.len() as u64).sum();
            g.throughput(if by_bytes {
                Throughput::Bytes(bytes)
            } else {
                Throughput::Elements(recs.len() as u64)
            });
            g.bench_with_input(BenchmarkId::from_parameter(name), &recs, |b, recs| {
                b.iter(|| {
                    for r in recs {
                        let _ = black_box(src.normalize(black_box(r)));
                    }
                })
            });
        }
        // CSV snapshot rows: every event of a row (three here).
        let (src, rows) = nyc311(key.clone(), 10_000);
        let bytes: u64 = rows.iter().map(|r| r.len() as u64).sum();
        g.throughput(if by_bytes {
            Throughput::Bytes(bytes)
        } else {
            Throughput::Elements(rows.len() as u64)
        });
        let mut out = Vec::with_capacity(4);
        g.bench_with_input(
            BenchmarkId::from_parameter("nyc311_csv"),
            &rows,
            |b, rows| {
                b.iter(|| {
                    for r in rows {
                        out.clear();
                        let _ = black_box(src.normalize_into(black_box(r), &mut out));
                    }
                })
            },
        );
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
