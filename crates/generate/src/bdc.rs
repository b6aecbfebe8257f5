//! The real-estate registration system: one acceptance number per case, one GB18030 line per
//! status change (`SLBH|DJLX|ZT|CZSJ|QXDM|BLJG|QLR|ZJHM|LXDH`, sources.md §3).

use crate::data::COUNTIES;
use crate::gen::Gen;
use crate::json::push_padded;
use crate::time::{civil, day_of, push_bdc, DAY, HOUR, MIN};
use crate::world::{push_company_code, push_id_number, push_landline, push_mobile};
use crate::SourceKind;
use std::sync::Arc;

const DJLX: [&str; 5] = ["100", "200", "300", "400", "500"];
const DJLX_W: [u32; 5] = [15, 35, 10, 10, 30];
/// The county whose export runs once a night instead of hourly.
const NIGHTLY_COUNTY: usize = 7;

impl Gen {
    fn bdc_line(&mut self, djlx: &str, zt: &str, t: i64, county: usize) {
        self.buf.extend_from_slice(&self.case_id);
        self.buf.push(b'|');
        self.buf.extend_from_slice(djlx.as_bytes());
        self.buf.push(b'|');
        self.buf.extend_from_slice(zt.as_bytes());
        self.buf.push(b'|');
        push_bdc(&mut self.buf, t);
        self.buf.extend_from_slice(&self.tail);
        // The legacy system exports hourly (one county nightly).
        let arrival = if county == NIGHTLY_COUNTY {
            (day_of(t) + 1) * DAY + 2 * HOUR + self.rng.range(0, HOUR)
        } else {
            (t / HOUR + 1) * HOUR + self.rng.range(MIN, 10 * MIN)
        };
        self.emit(SourceKind::Bdc, arrival, 0);
    }

    /// Columns 5–9 (`|QXDM|BLJG|QLR|ZJHM|LXDH`), in GB18030, for the whole case.
    fn bdc_tail(&mut self, county: usize, djlx: usize) {
        let env = Arc::clone(&self.env);
        let w = &env.world;
        let t = &mut self.tail;
        t.clear();
        t.push(b'|');
        t.extend_from_slice(COUNTIES[county].code.as_bytes());
        t.push(b'|');
        let offices = &w.offices[county];
        t.extend_from_slice(&offices[self.rng.index(offices.len())]);
        t.push(b'|');
        // Right holders: a developer for some first registrations, one or two people otherwise.
        let company = djlx == 0 && self.rng.chance(0.3);
        let holders = if !company && self.rng.chance(0.08) {
            2
        } else {
            1
        };
        let mut females = [false; 2];
        for (i, female) in females.iter_mut().enumerate().take(holders) {
            if i > 0 {
                t.push(b',');
            }
            let name = if company {
                w.names.company(county, &mut self.rng)
            } else if self.rng.chance(0.03) {
                w.names.han(&mut self.rng, true)
            } else {
                w.names.person(&mut self.rng)
            };
            *female = w.names.is_female(name, &mut self.rng);
            w.names.write(name, true, t);
        }
        t.push(b'|');
        for (i, &female) in females.iter().enumerate().take(holders) {
            if i > 0 {
                t.push(b',');
            }
            if company {
                push_company_code(t, county, &mut self.rng);
            } else {
                push_id_number(t, county, female, &mut self.rng);
            }
        }
        t.push(b'|');
        match self.rng.below(100) {
            0..=79 => push_mobile(t, &mut self.rng),
            80..=91 => push_landline(t, &mut self.rng),
            _ => {}
        }
    }

    /// One registration application made at a window at about `t0`.
    pub(crate) fn bdc_case(&mut self, t0: i64) {
        let env = Arc::clone(&self.env);
        let cal = &env.cal;
        let county = env.world.county_cum.pick(&mut self.rng);
        let dj = self.rng.weighted(&DJLX_W);
        let djlx = DJLX[dj];
        let mut t_apply = cal.office(t0, &mut self.rng);

        // SLBH: year + county + serial.
        self.bdc_seq += 1;
        self.case_id.clear();
        push_padded(&mut self.case_id, civil(t_apply).y as u64, 4);
        self.case_id
            .extend_from_slice(COUNTIES[county].code.as_bytes());
        push_padded(&mut self.case_id, self.bdc_seq, 7);
        self.bdc_tail(county, dj);

        // 01: applied at a window; sometimes twice (materials incomplete the first time), rarely
        // not exported at all.
        let r = self.rng.below(100);
        if r >= 2 {
            if r < 5 {
                self.bdc_line(djlx, "01", t_apply, county);
                let n = self.rng.range(1, 3) as u32;
                t_apply = cal.workdays_later(t_apply, n, &mut self.rng);
            }
            self.bdc_line(djlx, "01", t_apply, county);
        }
        // 02 accepted.
        let t02 = if self.rng.chance(0.05) {
            cal.workdays_later(t_apply, 1, &mut self.rng)
        } else {
            cal.after(t_apply, 5 * MIN, HOUR, 0.95, &mut self.rng)
        }
        .max(t_apply + MIN);
        self.bdc_line(djlx, "02", t02, county);
        // 03 under review.
        let n = self.rng.range(0, 1) as u32;
        let t03 = cal.workdays_later(t02, n, &mut self.rng).max(t02 + MIN);
        // 99 withdrawn.
        if self.rng.chance(0.03) {
            let n = self.rng.range(1, 4) as u32;
            let t99 = cal.workdays_later(t02, n, &mut self.rng).max(t02 + MIN);
            if t03 < t99 {
                self.bdc_line(djlx, "03", t03, county);
            }
            self.bdc_line(djlx, "99", t99, county);
            return;
        }
        self.bdc_line(djlx, "03", t03, county);
        if self.rng.chance(0.008) {
            return; // stuck in review
        }
        // 04 registered in the book: "不动产登记实现5日办结", mortgages faster; some overdue.
        let d = if self.rng.chance(0.12) {
            self.rng.range(6, 15) as u32
        } else if dj == 4 {
            self.rng.weighted(&[25, 30, 20, 12, 8, 5]) as u32
        } else {
            self.rng.weighted(&[8, 18, 20, 20, 17, 17]) as u32
        };
        let t04 = cal.workdays_later(t02, d, &mut self.rng).max(t03 + MIN);
        self.bdc_line(djlx, "04", t04, county);
        // 05 certificate printed (not for cancellations), 06 collected at a window.
        if dj == 3 || !self.rng.chance(0.92) {
            return;
        }
        let t05 = cal.after(t04, 10 * MIN, DAY, 0.95, &mut self.rng);
        self.bdc_line(djlx, "05", t05, county);
        if self.rng.chance(0.8) {
            let n = self.rng.weighted(&[20, 25, 15, 10, 8, 6, 5, 4, 3, 2, 2]) as u32;
            let t06 = cal.workdays_later(t05, n, &mut self.rng).max(t05 + MIN);
            self.bdc_line(djlx, "06", t06, county);
        }
    }
}
