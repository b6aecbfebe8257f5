//! The 12345 hotline: one work order per case, one JSON event per action (sources.md §1).

use crate::data::{self, COUNTIES, DEPTS};
use crate::gen::Gen;
use crate::json::{key, key_open, kv, push_escaped, push_padded, push_u64};
use crate::time::{push_rfc3339, push_ymd, Rfc, DAY, HOUR, MIN};
use crate::world::{push_mobile, push_mobile_of, Dept};
use crate::SourceKind;
use std::sync::Arc;

pub(crate) const CATEGORIES: [&str; 6] = [
    "CONSULT",
    "HELP",
    "COMPLAINT",
    "REPORT",
    "SUGGESTION",
    "PRAISE",
];
const CHANNELS: [&str; 5] = ["PHONE", "WECHAT", "APP", "WEB", "SMS"];
const CHANNEL_W: [u32; 5] = [60, 14, 10, 10, 6];
const SATISFACTION: [&str; 5] = [
    "VERY_SATISFIED",
    "SATISFIED",
    "BASICALLY_SATISFIED",
    "DISSATISFIED",
    "UNREACHABLE",
];
const DISSATISFIED: usize = 3;
/// Share of each category answered at first contact (overall about 30%).
const DIRECT: [f64; 6] = [0.62, 0.12, 0.08, 0.10, 0.30, 0.55];
/// Repeat callers: a pool of numbers that call again and again.
const REPEAT_POOL: u64 = 4000;

impl Gen {
    fn hot_time_style(&mut self) -> Rfc {
        match self.rng.below(100) {
            0..=2 => Rfc::Utc,
            3..=4 => Rfc::Millis(self.rng.below(1000) as u32),
            _ => Rfc::Beijing,
        }
    }

    /// `{"eventId":..,"orderNo":..,"action":..,"time":..`
    fn hot_head(&mut self, action: &str, t: i64) {
        self.buf.extend_from_slice(b"{\"eventId\":\"");
        self.push_event_id();
        self.buf.extend_from_slice(b"\",\"orderNo\":\"");
        self.buf.extend_from_slice(&self.case_id);
        self.buf.extend_from_slice(b"\",\"action\":\"");
        self.buf.extend_from_slice(action.as_bytes());
        self.buf.extend_from_slice(b"\",\"time\":\"");
        let style = self.hot_time_style();
        push_rfc3339(&mut self.buf, t, style);
        self.buf.push(b'"');
    }

    fn hot_dept(&mut self, d: &Dept) {
        self.buf.extend_from_slice(b",\"dept\":{\"code\":\"");
        self.buf.extend_from_slice(d.hot_code.as_bytes());
        self.buf.extend_from_slice(b"\",\"name\":\"");
        self.buf.extend_from_slice(d.name.as_bytes());
        self.buf.extend_from_slice(b"\"}");
    }

    fn hot_end(&mut self, t: i64) {
        self.buf.push(b'}');
        let arrival = self.arrival(t, false);
        self.emit(SourceKind::Hotline, arrival, 0);
    }

    /// A simple event: head, optional department, optional reason text.
    fn hot_simple(&mut self, action: &str, t: i64, dept: Option<&Dept>, reason: Option<&str>) {
        self.hot_head(action, t);
        if let Some(d) = dept {
            self.hot_dept(d);
        }
        if let Some(r) = reason {
            kv(&mut self.buf, "reason", r.as_bytes());
        }
        self.hot_end(t);
    }

    fn hot_reply(&mut self, t: i64, d: &Dept) {
        self.hot_head("REPLY", t);
        self.hot_dept(d);
        let text = *self.rng.pick(data::REPLY_TEXTS);
        kv(&mut self.buf, "content", text.as_bytes());
        self.hot_end(t);
    }

    fn hot_callback(&mut self, t: i64, weights: &[u32; 5]) -> usize {
        let s = self.rng.weighted(weights);
        self.hot_head("CALLBACK", t);
        kv(&mut self.buf, "satisfaction", SATISFACTION[s].as_bytes());
        self.hot_end(t);
        s
    }

    /// One work order registered at `t0`.
    pub(crate) fn hotline_case(&mut self, t0: i64) {
        let env = Arc::clone(&self.env);
        let (w, cal) = (&env.world, &env.cal);
        let county = w.county_cum.pick(&mut self.rng);
        let ct = &COUNTIES[county];
        let tpl = w.template_cum.pick(&mut self.rng);
        let (cat, _, text) = data::HOTLINE_TEMPLATES[tpl];
        let item = w.item_cum.pick(&mut self.rng);
        let dtype = w.template_dept[tpl].unwrap_or(w.item_types[item].dtype);

        // orderNo: BZ + date + daily serial.
        self.case_id.clear();
        self.case_id.extend_from_slice(b"BZ");
        push_ymd(&mut self.case_id, t0);
        let seq = self.day_seq(true, t0);
        push_padded(&mut self.case_id, seq as u64, 5);

        // REGISTER
        self.hot_head("REGISTER", t0);
        key_open(&mut self.buf, "areaCode");
        self.buf.extend_from_slice(ct.code.as_bytes());
        if self.rng.chance(0.12) {
            let suffix = *self.rng.pick(data::TOWNSHIP_SUFFIXES);
            self.buf.extend_from_slice(suffix.as_bytes());
        }
        self.buf.push(b'"');
        kv(&mut self.buf, "category", CATEGORIES[cat].as_bytes());
        let ch = self.rng.weighted(&CHANNEL_W);
        kv(&mut self.buf, "channel", CHANNELS[ch].as_bytes());
        key(&mut self.buf, "caller");
        self.buf.push(b'{');
        if self.rng.chance(0.93) {
            self.buf.extend_from_slice(b"\"name\":\"");
            let name = w.names.person(&mut self.rng);
            w.names.write(name, false, &mut self.buf);
            self.buf.extend_from_slice(b"\",");
        }
        self.buf.extend_from_slice(b"\"phone\":\"");
        if self.rng.chance(0.12) {
            let k = self.rng.below(REPEAT_POOL);
            push_mobile_of(&mut self.buf, k ^ 0x5EED_CA11);
        } else {
            push_mobile(&mut self.buf, &mut self.rng);
        }
        self.buf.extend_from_slice(b"\"}");
        key_open(&mut self.buf, "content");
        self.hot_content(text, county, item, dtype);
        let tails = if matches!(cat, 1..=3) {
            &w.tails_all
        } else {
            &w.tails_polite
        };
        let tail = data::HOTLINE_TAILS[tails.pick(&mut self.rng)].1;
        push_escaped(&mut self.buf, tail);
        self.buf.push(b'"');
        self.hot_end(t0);

        let good = [45, 32, 13, 4, 6];
        if self.rng.chance(DIRECT[cat]) {
            // Answered during the call.
            let t = t0 + self.rng.range(MIN, 20 * MIN);
            self.hot_simple("ANSWER", t, None, None);
            if self.rng.chance(0.15) {
                let tc = cal.after(t, 2 * HOUR, 2 * DAY, 0.9, &mut self.rng);
                self.hot_callback(tc, &good);
            }
            return;
        }

        let limit: u32 = if self.rng.chance(0.03) {
            0
        } else {
            match cat {
                0 => *self.rng.pick(&[1, 2, 3]),
                1 => *self.rng.pick(&[2, 3, 5]),
                2 => *self.rng.pick(&[5, 5, 10]),
                3 => *self.rng.pick(&[10, 15]),
                4 => *self.rng.pick(&[10, 15, 20]),
                _ => *self.rng.pick(&[3, 5]),
            }
        };
        let sign_limit = self
            .rng
            .chance(0.3)
            .then(|| *self.rng.pick(&[2u32, 4, 8, 12, 24, 48]));
        let mut dept = w.dept(county, dtype);
        let td = cal.after(t0, 5 * MIN, 3 * HOUR, 0.85, &mut self.rng);
        self.hot_dispatch(td, dept, limit, sign_limit);
        let mut cur = td;

        // Sent back by the wrong department, and dispatched again.
        let mut returns = 0;
        while returns < 2 && self.rng.chance(if returns == 0 { 0.08 } else { 0.25 }) {
            if self.rng.chance(0.5) {
                cur = cal.after(cur, 10 * MIN, 3 * HOUR, 0.8, &mut self.rng);
                self.hot_simple("SIGN", cur, Some(dept), None);
            }
            cur = cal.after(cur, 30 * MIN, DAY, 0.9, &mut self.rng);
            let reason = *self.rng.pick(data::RETURN_REASONS);
            self.hot_simple("RETURN", cur, Some(dept), Some(reason));
            let mut other = self.rng.index(DEPTS.len());
            if other == dept.dtype {
                other = (other + 1) % DEPTS.len();
            }
            dept = w.dept(county, other);
            cur = cal.after(cur, 10 * MIN, 4 * HOUR, 0.9, &mut self.rng);
            self.hot_dispatch(cur, dept, limit, sign_limit);
            returns += 1;
        }

        // Sign-for, sometimes late, rarely never.
        let sl = sign_limit.unwrap_or(24) as i64 * HOUR;
        let r = self.rng.below(100);
        if r >= 3 {
            let ts = if r < 86 {
                cal.after(cur, 5 * MIN, (sl * 3 / 5).max(10 * MIN), 0.5, &mut self.rng)
            } else {
                cal.after(cur, sl, sl + 72 * HOUR, 0.9, &mut self.rng)
            };
            cur = ts;
            self.hot_simple("SIGN", ts, Some(dept), None);
        }

        let late = self.rng.chance(0.09);
        let mut total = limit;
        if self.rng.chance(0.06) {
            let te =
                cal.workdays_later(cur, self.rng.below(limit as u64 + 1) as u32, &mut self.rng);
            let extra: u32 = *self.rng.pick(&[3, 5, 10, 15]);
            self.hot_head("EXTEND", te);
            key(&mut self.buf, "extraDays");
            push_u64(&mut self.buf, extra as u64);
            let reason = *self.rng.pick(data::EXTEND_REASONS);
            kv(&mut self.buf, "reason", reason.as_bytes());
            self.hot_end(te);
            cur = cur.max(te);
            total += extra;
        }
        let d = if late {
            total + 1 + self.rng.below(total.max(2) as u64) as u32
        } else {
            (total as f64 * self.rng.skewed()) as u32
        };
        let mut reply = cal.workdays_later(td, d, &mut self.rng);
        if reply <= cur {
            reply = cal.after(cur, 20 * MIN, 4 * HOUR, 0.9, &mut self.rng);
        }
        if (late && self.rng.chance(0.5)) || self.rng.chance(0.04) {
            let tu =
                cal.workdays_later(td, d.min(total).saturating_sub(1).max(d / 2), &mut self.rng);
            if tu > cur && tu < reply {
                let reason = *self.rng.pick(data::URGE_REASONS);
                self.hot_simple("URGE", tu, None, Some(reason));
            }
        }
        if self.rng.chance(0.015) {
            return; // still being handled
        }
        self.hot_reply(reply, dept);
        if self.rng.chance(0.02) {
            return; // replied, never closed
        }
        let close = cal.after(reply, 10 * MIN, DAY, 0.9, &mut self.rng);
        self.hot_simple("CLOSE", close, None, None);
        if !self.rng.chance(0.75) {
            return;
        }
        let tc = cal.after(close, HOUR, 2 * DAY, 0.9, &mut self.rng);
        let weights = if late {
            [25, 30, 17, 20, 8]
        } else {
            [45, 30, 12, 6, 7]
        };
        if self.hot_callback(tc, &weights) == DISSATISFIED && self.rng.chance(0.5) {
            let tr = cal.after(tc, 10 * MIN, DAY, 0.9, &mut self.rng);
            self.hot_simple("REOPEN", tr, None, None);
            let n = self.rng.range(1, 5) as u32;
            let reply2 = cal.workdays_later(tr, n, &mut self.rng);
            self.hot_reply(reply2, dept);
            let close2 = cal.after(reply2, 10 * MIN, DAY, 0.9, &mut self.rng);
            self.hot_simple("CLOSE", close2, None, None);
            if self.rng.chance(0.6) {
                let tc2 = cal.after(close2, HOUR, 2 * DAY, 0.9, &mut self.rng);
                self.hot_callback(tc2, &[20, 35, 25, 15, 5]);
            }
        }
    }

    fn hot_dispatch(&mut self, t: i64, d: &Dept, limit: u32, sign_limit: Option<u32>) {
        self.hot_head("DISPATCH", t);
        self.hot_dept(d);
        key(&mut self.buf, "limitDays");
        push_u64(&mut self.buf, limit as u64);
        if let Some(h) = sign_limit {
            key(&mut self.buf, "signLimitHours");
            push_u64(&mut self.buf, h as u64);
        }
        self.hot_end(t);
    }

    /// Expands a free-text template (escaped: the placeholders are reference data, the text
    /// itself has no characters that need escaping).
    fn hot_content(&mut self, text: &str, county: usize, item: usize, dtype: usize) {
        let env = Arc::clone(&self.env);
        let w = &env.world;
        let mut rest = text;
        while let Some(i) = rest.find('{') {
            self.buf.extend_from_slice(&rest.as_bytes()[..i]);
            let ph = rest.as_bytes()[i + 1];
            rest = &rest[i + 3..];
            match ph {
                b'p' => {
                    let p = *self.rng.pick(COUNTIES[county].places);
                    self.buf.extend_from_slice(p.as_bytes());
                }
                b'c' => {
                    let c = *self.rng.pick(data::COMMUNITIES);
                    self.buf.extend_from_slice(c.as_bytes());
                }
                b'i' => self
                    .buf
                    .extend_from_slice(w.item_types[item].name.as_bytes()),
                _ => self
                    .buf
                    .extend_from_slice(w.dept(county, dtype).name.as_bytes()),
            }
        }
        self.buf.extend_from_slice(rest.as_bytes());
    }
}
