//! The totals stage's input: arbitrary bytes read as a stream of length-delimited
//! `govstream.v1.Partial` messages (what the partials topic carries, one per Kafka record),
//! each decoded and folded into a `Totals` (a `PartialError` is fine), then what the stage does
//! at a flush: the updates to publish, the figures for /metrics. Never a panic.
#![no_main]

use govstream_engine::Totals;
use govstream_proto::v1 as pb;
use libfuzzer_sys::fuzz_target;
use prost::Message;

const OFFSET_S: i32 = 8 * 3600;

/// Rendering makes a DAY record for every day from an overdue step to the watermark, by design.
/// `Totals::apply` bounds that span (to about 84,000 days; unit test
/// `totals::tests::out_of_range_partials_are_refused`); here longer spans than this skip the
/// rendering, so that one input takes milliseconds, not seconds.
const MAX_RENDERED_SPAN_DAYS: i64 = 4_000;

fuzz_target!(|data: &[u8]| {
    let mut t = Totals::new(govstream_calendar::Zone::Fixed(OFFSET_S));
    let mut buf = data;
    let mut first_step: Option<i32> = None;
    while !buf.is_empty() {
        let Ok(p) = pb::Partial::decode_length_delimited(&mut buf) else {
            break;
        };
        if t.apply(&p).is_ok() {
            if let Some(pb::partial::Value::Overdue(o)) = &p.value {
                first_step = o.days.iter().copied().chain(first_step).min();
            }
        }
    }
    let _ = t.family_totals();
    let _ = t.overdue_now();
    if let (Some(wm_day), Some(first)) = (t.watermark_day(), first_step) {
        if wm_day as i64 - first as i64 > MAX_RENDERED_SPAN_DAYS {
            return;
        }
    }
    let _ = t.take_updates();
});
