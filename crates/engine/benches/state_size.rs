//! Bytes of engine state per case, measured with a counting allocator (not estimated).
//!
//! `cargo bench -p govstream-engine --bench state_size`

use govstream_calendar::Calendar;
use govstream_engine::Engine;
use govstream_normalize::{preset, PseudonymKey};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: forwarded to the system allocator with the caller's layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: `p` was allocated by `alloc` above with this layout.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn main() {
    let key = Arc::new(PseudonymKey::new("k"));
    let onenet = preset("onenet", key.clone()).unwrap().unwrap();
    let hotline = preset("hotline", key).unwrap().unwrap();
    let cal = Arc::new(Calendar::bundled());
    // STATE_CASES=1000000 for the checkpoint cost at 1 M open cases of each kind.
    let n: u64 = std::env::var("STATE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    // Pre-normalize so that only engine state is measured.
    let mut events = Vec::new();
    for i in 0..n {
        let d = 1 + i % 28;
        let rec = format!(
            r#"{{"RECORDID":"SB-652800-2020-{i:010}","PROJID":"652800202007{i:08}","INFOTYPE":"SB","TASKCODE":"11652800010145678X4000111009{:03}","AREACODE":"652801000000","DEPTCODE":"11652800010145678X","APPLYTYPE":"1","APPLYTIME":"2020-07-{d:02} 09:00:00"}}"#,
            i % 300
        );
        events.push(onenet.normalize(rec.as_bytes()).unwrap());
        let rec = format!(
            r#"{{"RECORDID":"SL-652800-2020-{i:010}","PROJID":"652800202007{i:08}","INFOTYPE":"SL","TASKCODE":"11652800010145678X4000111009{:03}","AREACODE":"652801000000","DEPTCODE":"11652800010145678X","ITEMTYPE":"CN","ACCEPTTIME":"2020-07-{d:02} 10:00:00","PROMISEDAYS":"5"}}"#,
            i % 300
        );
        events.push(onenet.normalize(rec.as_bytes()).unwrap());
    }
    let mut orders = Vec::new();
    for i in 0..n {
        let d = 1 + i % 28;
        let rec = format!(
            r#"{{"eventId":"9f1c2e7a-0c55-4d0e-9b59-{i:012}","orderNo":"BZ2020{i:09}","action":"REGISTER","time":"2020-07-{d:02}T09:00:00+08:00","areaCode":"652801","category":"HELP","channel":"PHONE","caller":{{"phone":"13912345678"}}}}"#
        );
        orders.push(hotline.normalize(rec.as_bytes()).unwrap());
        let rec = format!(
            r#"{{"eventId":"8f1c2e7a-0c55-4d0e-9b59-{i:012}","orderNo":"BZ2020{i:09}","action":"DISPATCH","time":"2020-07-{d:02}T09:30:00+08:00","dept":{{"code":"652801-ZJJ"}},"limitDays":5}}"#
        );
        orders.push(hotline.normalize(rec.as_bytes()).unwrap());
    }
    for (what, evs) in [
        ("open application (SB + SL)", &events),
        ("open work order (REGISTER + DISPATCH)", &orders),
    ] {
        let before = LIVE.load(Ordering::Relaxed);
        let mut e = Engine::new(cal.clone());
        for ev in evs.iter() {
            e.apply(ev);
        }
        let after = LIVE.load(Ordering::Relaxed);
        let mut chunks = Vec::new();
        let t = std::time::Instant::now();
        e.checkpoint(512 * 1024, |c| chunks.push(c));
        let written = t.elapsed();
        let bytes: usize = chunks.iter().map(Vec::len).sum();
        let t = std::time::Instant::now();
        let mut r = govstream_engine::EngineRestore::new(cal.clone(), None);
        for c in &chunks {
            r.chunk(c).unwrap();
        }
        let restored = r.finish().unwrap();
        let read = t.elapsed();
        assert_eq!(restored.cases(), e.cases());
        println!(
            "{what}: {} cases, {:.0} bytes of heap per case (incl. aggregates); checkpoint {:.1} MB in {} chunks ({:.0} bytes per case), encoded in {:.2}s, restored in {:.2}s",
            e.cases(),
            (after - before) as f64 / e.cases() as f64,
            bytes as f64 / 1e6,
            chunks.len(),
            bytes as f64 / e.cases() as f64,
            written.as_secs_f64(),
            read.as_secs_f64(),
        );
        drop(restored);
        drop(e);
    }
}
