//! The integrated online government-services platform: one application per case, one JSON record
//! per stage (SB, SL, GC, BJ, PJ; sources.md §2).

use crate::data::{self, COUNTIES};
use crate::gen::Gen;
use crate::json::{kcode, key_open, kv, push_padded, push_u64};
use crate::time::{civil, day_of, push_onenet, push_ymd, DAY, HOUR, MIN, OPEN};
use crate::world::{push_company_code, push_id_number, push_landline, push_mobile, Dept};
use crate::SourceKind;
use std::sync::Arc;

/// APPLYTYPE 1 online, 2 window, 3 mobile, 4 kiosk.
const APPLYTYPE_W: [u32; 4] = [48, 17, 30, 5];

/// What the department's system of the current case writes.
struct Style<'a> {
    dept: &'a Dept,
    county: &'static str,
}

impl Gen {
    /// `{"RECORDID":"SL-652801-2020-0000123","PROJID":"..","INFOTYPE":"SL"`
    fn one_head(&mut self, infotype: &str, t: i64, s: &Style) {
        self.buf.extend_from_slice(b"{\"RECORDID\":\"");
        self.buf.extend_from_slice(infotype.as_bytes());
        self.buf.push(b'-');
        self.buf.extend_from_slice(s.county.as_bytes());
        self.buf.push(b'-');
        push_u64(&mut self.buf, civil(t).y as u64);
        self.buf.push(b'-');
        self.push_record_serial();
        self.buf.extend_from_slice(b"\",\"PROJID\":\"");
        self.buf.extend_from_slice(&self.case_id);
        self.buf.extend_from_slice(b"\",\"INFOTYPE\":\"");
        self.buf.extend_from_slice(infotype.as_bytes());
        self.buf.push(b'"');
    }

    fn one_time(&mut self, key: &str, t: i64) {
        key_open(&mut self.buf, key);
        push_onenet(&mut self.buf, t);
        self.buf.push(b'"');
    }

    fn one_end(&mut self, t: i64, s: &Style, hold: u64) {
        self.buf.push(b'}');
        let arrival = self.arrival(t, s.dept.batch);
        self.emit(SourceKind::Onenet, arrival, hold);
    }

    fn one_gc(&mut self, t: i64, s: &Style, step: &str, onsite: bool, name: &str) {
        self.one_head("GC", t, s);
        kv(&mut self.buf, "STEPTYPE", step.as_bytes());
        self.one_time("STEPTIME", t);
        if onsite || self.rng.chance(0.7) {
            kcode(&mut self.buf, "ONSITE", u64::from(onsite), s.dept.int_codes);
        }
        kv(&mut self.buf, "STEPNAME", name.as_bytes());
        self.one_end(t, s, 0);
    }

    /// One application whose submission (or first contact) is at about `t0`.
    pub(crate) fn onenet_case(&mut self, t0: i64) {
        let env = Arc::clone(&self.env);
        let (w, cal) = (&env.world, &env.cal);
        let county = w.county_cum.pick(&mut self.rng);
        let item_ix = w.item_cum.pick(&mut self.rng);
        let item = &w.item_types[item_ix];
        let dept = w.dept(county, item.dtype);
        let s = Style {
            dept,
            county: COUNTIES[county].code,
        };
        let applytype = self.rng.weighted(&APPLYTYPE_W) as u64 + 1;
        let in_person = applytype == 2 || applytype == 4;
        let t_sb = match applytype {
            2 => cal.office(t0, &mut self.rng),
            4 if self.rng.chance(0.8) => cal.office(t0, &mut self.rng),
            _ => t0,
        };

        // PROJID: 652800 + date + daily serial (20 digits).
        self.case_id.clear();
        self.case_id.extend_from_slice(b"652800");
        push_ymd(&mut self.case_id, t_sb);
        let seq = self.day_seq(false, t_sb);
        push_padded(&mut self.case_id, seq as u64, 6);

        // Common fields of SB and SL, rendered once per case.
        self.tail.clear();
        kv(
            &mut self.tail,
            "TASKCODE",
            w.taskcode(county, item_ix).as_bytes(),
        );
        kv(&mut self.tail, "TASKNAME", item.name.as_bytes());
        key_open(&mut self.tail, "AREACODE");
        self.tail.extend_from_slice(s.county.as_bytes());
        if self.rng.chance(0.5) {
            let suffix = *self.rng.pick(data::TOWNSHIP_SUFFIXES);
            self.tail.extend_from_slice(suffix.as_bytes());
        }
        self.tail.push(b'"');
        kv(&mut self.tail, "DEPTCODE", dept.code.as_bytes());
        kv(&mut self.tail, "DEPTNAME", dept.name.as_bytes());

        // SB, missing now and then (the application was keyed in at acceptance).
        if self.rng.chance(0.97) {
            self.one_head("SB", t_sb, &s);
            self.buf.extend_from_slice(&self.tail);
            kcode(&mut self.buf, "APPLYTYPE", applytype, dept.int_codes);
            self.one_time("APPLYTIME", t_sb);
            key_open(&mut self.buf, "APPLICANT");
            let company = item.company && self.rng.chance(0.8);
            if company {
                let name = w.names.company(county, &mut self.rng);
                w.names.write(name, false, &mut self.buf);
                self.buf.push(b'"');
                key_open(&mut self.buf, "CERTNO");
                push_company_code(&mut self.buf, county, &mut self.rng);
            } else {
                let name = w.names.person(&mut self.rng);
                w.names.write(name, false, &mut self.buf);
                self.buf.push(b'"');
                let female = w.names.is_female(name, &mut self.rng);
                key_open(&mut self.buf, "CERTNO");
                push_id_number(&mut self.buf, county, female, &mut self.rng);
            }
            self.buf.push(b'"');
            key_open(&mut self.buf, "PHONE");
            if company && self.rng.chance(0.3) {
                push_landline(&mut self.buf, &mut self.rng);
            } else {
                push_mobile(&mut self.buf, &mut self.rng);
            }
            self.buf.push(b'"');
            self.one_end(t_sb, &s, 0);
        }

        // SL: online applications are pre-reviewed first; at a window it is minutes.
        let t_sl = if in_person {
            t_sb + self.rng.range(3 * MIN, 30 * MIN)
        } else if self.rng.chance(0.15) {
            let n = self.rng.range(1, 2) as u32;
            cal.workdays_later(t_sb, n, &mut self.rng)
        } else {
            cal.after(t_sb, 10 * MIN, 4 * HOUR, 0.95, &mut self.rng)
        };

        // Plan the rest before rendering SL: its arrival may be held back past the result.
        let mut steps: [(i64, u8); 6] = [(0, 0); 6]; // (time, kind) kind: 0 normal 1 onsite 2 suspend 3 resume
        let mut nsteps = 0;
        let t_bj: Option<i64>;
        let late;
        if item.immediate {
            late = self.rng.chance(0.06);
            let t = if late {
                cal.workdays_later(t_sl, 1, &mut self.rng)
            } else {
                // The same day, within two hours.
                let left = day_of(t_sl) * DAY + DAY - 1 - t_sl;
                t_sl + self.rng.range(MIN.min(left), (2 * HOUR).min(left))
            };
            if self.rng.chance(0.2) {
                steps[0] = (t_sl + (t - t_sl) / 2, 0);
                nsteps = 1;
            }
            t_bj = Some(t);
        } else {
            let limit = item.promise_days;
            late = self.rng.chance(0.10);
            let d = if late {
                limit + 1 + self.rng.below((limit / 2).max(1) as u64 + 1) as u32
            } else {
                (limit as f64 * self.rng.skewed()) as u32
            };
            // Suspension (补正 / 特别程序): the clock stops for s working days.
            let susp = self.rng.below(1000);
            let s_days = if susp < 70 {
                self.rng.range(1, 10) as u32
            } else {
                0
            };
            let never_resumed = (70..78).contains(&susp);
            let mut t = if item.natural_days {
                let day = day_of(t_sl) + d as i64;
                let x = day * DAY + OPEN + self.rng.range(0, 9 * HOUR - 1);
                cal.office(x, &mut self.rng)
            } else {
                cal.workdays_later(t_sl, d, &mut self.rng)
            };
            let onsite_p = if in_person { 0.15 } else { 0.06 };
            let n = self.rng.range(0, 3) as usize;
            let span = (t - t_sl).max(2 * HOUR);
            let mut marks = [0i64; 3];
            for m in marks.iter_mut().take(n) {
                *m = t_sl + 1 + self.rng.below(span as u64 - 1) as i64;
            }
            marks[..n].sort_unstable();
            for &m in &marks[..n] {
                let onsite = self.rng.chance(onsite_p);
                steps[nsteps] = (
                    cal.office(m, &mut self.rng).min(t - MIN).max(t_sl + MIN),
                    u8::from(onsite),
                );
                nsteps += 1;
            }
            if s_days > 0 || never_resumed {
                let ts = cal.after(
                    t_sl,
                    HOUR,
                    ((t - t_sl) / 2).max(2 * HOUR),
                    0.95,
                    &mut self.rng,
                );
                steps[nsteps] = (ts, 2);
                nsteps += 1;
                if never_resumed {
                    t = if self.rng.chance(0.5) {
                        let n = self.rng.range(5, 40) as u32;
                        cal.workdays_later(ts, n, &mut self.rng)
                    } else {
                        i64::MIN // never completed
                    };
                } else {
                    let tr = cal.workdays_later(ts, s_days, &mut self.rng);
                    steps[nsteps] = (tr, 3);
                    nsteps += 1;
                    t = cal
                        .workdays_later(t.max(tr), s_days, &mut self.rng)
                        .max(tr + MIN);
                }
            }
            t_bj = (t != i64::MIN).then_some(t);
        }
        let result = match self.rng.below(100) {
            0..=89 => 1,
            90..=94 => 2,
            95..=97 => 3,
            _ => 0, // no result yet
        };
        let t_bj = if result == 0 { None } else { t_bj };
        // Withdrawn applications end somewhere before the planned completion.
        let t_bj = match (result, t_bj) {
            (3, Some(t)) => {
                Some(t_sl + MIN + self.rng.below((t - t_sl).max(2 * MIN) as u64) as i64)
            }
            (_, x) => x,
        };

        // SL
        let sl_hold = match t_bj {
            Some(t) if self.rng.chance(0.015) => {
                let extra = self.rng.range(HOUR, DAY);
                // Stream positions pass faster in office hours than on average: hold long.
                self.hold_for(3 * (t - t_sl) + extra)
            }
            _ => 0,
        };
        self.one_head("SL", t_sl, &s);
        self.buf.extend_from_slice(&self.tail);
        kv(
            &mut self.buf,
            "ITEMTYPE",
            if item.immediate { b"JB" } else { b"CN" },
        );
        self.one_time("ACCEPTTIME", t_sl);
        kcode(
            &mut self.buf,
            "PROMISEDAYS",
            item.promise_days as u64,
            dept.int_codes,
        );
        if self.rng.chance(0.95) {
            kcode(&mut self.buf, "LEGALDAYS", item.legal_days as u64, false);
        }
        if item.natural_days {
            kcode(&mut self.buf, "PROMISETYPE", 2, dept.int_codes);
        } else if item.explicit_type {
            kcode(&mut self.buf, "PROMISETYPE", 1, dept.int_codes);
        }
        self.one_end(t_sl, &s, sl_hold);

        // GC steps, only those before the result.
        for &(t, kind) in &steps[..nsteps] {
            if t_bj.is_some_and(|b| t >= b) {
                continue;
            }
            match kind {
                0 => {
                    let name = *self.rng.pick(data::STEP_NORMAL);
                    self.one_gc(t, &s, "NORMAL", false, name);
                }
                1 => {
                    let name = *self.rng.pick(data::STEP_ONSITE);
                    self.one_gc(t, &s, "NORMAL", true, name);
                }
                2 => {
                    let name = *self.rng.pick(data::STEP_SUSPEND);
                    self.one_gc(t, &s, "SUSPEND", false, name);
                }
                _ => {
                    let name = *self.rng.pick(data::STEP_RESUME);
                    let onsite = self.rng.chance(0.2);
                    self.one_gc(t, &s, "RESUME", onsite, name);
                }
            }
        }

        let Some(t_bj) = t_bj else { return };
        // BJ
        self.one_head("BJ", t_bj, &s);
        kcode(&mut self.buf, "RESULT", result, dept.int_codes);
        self.one_time("FINISHTIME", t_bj);
        if result != 3 && self.rng.chance(0.96) {
            let delivery = if in_person {
                self.rng.weighted(&[35, 15, 50])
            } else {
                self.rng.weighted(&[80, 14, 6])
            } as u64
                + 1;
            kcode(&mut self.buf, "DELIVERY", delivery, dept.int_codes);
        }
        self.one_end(t_bj, &s, 0);

        // PJ (好差评)
        if result == 3 || !self.rng.chance(0.45) {
            return;
        }
        let weights: [u32; 5] = if result == 2 {
            [15, 10, 20, 15, 40]
        } else if late {
            [10, 8, 12, 20, 50]
        } else {
            [2, 2, 4, 12, 80]
        };
        let reviews = if self.rng.chance(0.05) { 2 } else { 1 };
        let mut t = t_bj;
        for _ in 0..reviews {
            t = cal.after(t, 10 * MIN, 3 * DAY, 0.3, &mut self.rng);
            let level = self.rng.weighted(&weights) as u64 + 1;
            self.one_head("PJ", t, &s);
            kcode(&mut self.buf, "EVALLEVEL", level, dept.int_codes);
            self.one_time("EVALTIME", t);
            if self.rng.chance(0.3) {
                let text = if level <= 2 {
                    *self.rng.pick(data::EVAL_BAD)
                } else {
                    *self.rng.pick(data::EVAL_GOOD)
                };
                kv(&mut self.buf, "EVALCONTENT", text.as_bytes());
            }
            self.one_end(t, &s, 0);
        }
    }
}
