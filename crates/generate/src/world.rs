//! The modelled region, built once per generator from [`crate::data`]: departments with their
//! unified social credit codes, service items with their implementation codes and limits, and
//! the fake personal data writers (names, ID numbers, phone numbers) in UTF-8 and GB18030.
//!
//! The region is the same for every seed (it is derived from a fixed constant): different seeds
//! are different workloads on the same prefecture.

use crate::data::{self, COUNTIES, DEPTS};
use crate::rng::{mix64, Cum, Rng};

const WORLD_SEED: u64 = 0x0652_8002_0201_2345;

/// A string in both encodings the sources use.
#[derive(Clone, Debug)]
pub(crate) struct Lex {
    pub utf8: &'static str,
    pub gb: Box<[u8]>,
}

pub(crate) fn gb18030(s: &str) -> Vec<u8> {
    let (b, _, unmappable) = encoding_rs::GB18030.encode(s);
    debug_assert!(!unmappable, "every Unicode scalar is encodable in GB18030");
    b.into_owned()
}

fn lex(list: &'static [&'static str]) -> Vec<Lex> {
    list.iter()
        .map(|&s| Lex {
            utf8: s,
            gb: gb18030(s).into_boxed_slice(),
        })
        .collect()
}

#[derive(Clone, Debug)]
pub(crate) struct Dept {
    pub dtype: usize,
    /// 18-character unified social credit code (统一社会信用代码).
    pub code: String,
    pub name: String,
    /// The hotline platform's department code, `<county>-<abbr>`.
    pub hot_code: String,
    /// Records of this department reach the platform in a nightly batch.
    pub batch: bool,
    /// This department's system writes code fields as JSON integers (`"APPLYTYPE":1`).
    pub int_codes: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct ItemType {
    pub dtype: usize,
    pub name: &'static str,
    /// 即办件 (JB), else 承诺件 (CN).
    pub immediate: bool,
    pub company: bool,
    pub promise_days: u32,
    pub legal_days: u32,
    /// `PROMISETYPE` 2: the promise is in natural days.
    pub natural_days: bool,
    /// Writes `"PROMISETYPE":"1"` explicitly.
    pub explicit_type: bool,
    /// 13-digit catalogue code (province-wide), appended to the department code.
    pub catalogue: String,
}

#[derive(Clone, Debug)]
pub(crate) struct World {
    pub county_cum: Cum,
    pub depts: Vec<Dept>,
    pub item_types: Vec<ItemType>,
    /// Demand over item types (department demand × a Zipf law within the department).
    pub item_cum: Cum,
    /// TASKCODE per (county, item type): `county * item_types.len() + j`.
    pub taskcodes: Vec<String>,
    /// bdc offices per county, GB18030.
    pub offices: Vec<Vec<Box<[u8]>>>,
    /// The department type of each hotline template (`None`: drawn from the service items).
    pub template_dept: Vec<Option<usize>>,
    pub template_cum: Cum,
    /// Endings of hotline text: for any category, and for complaints and requests.
    pub tails_polite: Cum,
    pub tails_all: Cum,
    pub names: Names,
}

const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// A unified social credit code: `1` (organ) `1` (government body), the region, a 9-character
/// organization code with its GB 11714 check character, and the GB 32100 check character.
fn uscc(region: &str, serial: u64) -> String {
    let mut s = String::with_capacity(18);
    s.push_str("11");
    s.push_str(region);
    let digits: Vec<u32> = (0..8)
        .map(|i| ((serial / 10u64.pow(7 - i)) % 10) as u32)
        .collect();
    let w = [3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = digits.iter().zip(w).map(|(d, w)| d * w).sum();
    let c9 = match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        n => char::from(b'0' + n as u8),
    };
    for d in digits {
        s.push(char::from(b'0' + d as u8));
    }
    s.push(c9);
    let mut sum = 0u32;
    let mut weight = 1u32;
    for ch in s.bytes() {
        let v = USCC_ALPHABET.iter().position(|&a| a == ch).unwrap_or(0) as u32;
        sum += v * weight;
        weight = weight * 3 % 31;
    }
    let c18 = (31 - sum % 31) % 31;
    s.push(char::from(USCC_ALPHABET[c18 as usize]));
    s
}

fn catalogue_type(name: &str) -> &'static str {
    if ["许可", "审批", "核准", "核发", "审查", "审核"]
        .iter()
        .any(|k| name.contains(k))
    {
        "0100"
    } else if ["登记", "认定", "备案", "注册"]
        .iter()
        .any(|k| name.contains(k))
    {
        "0700"
    } else {
        "2000"
    }
}

impl World {
    pub(crate) fn new() -> World {
        let mut h = WORLD_SEED;
        let mut rng = Rng::new(WORLD_SEED);
        let county_cum = Cum::new(COUNTIES.iter().map(|c| c.weight as u64));

        let mut item_types = Vec::new();
        let mut item_weights = Vec::new();
        for (t, d) in DEPTS.iter().enumerate() {
            for (k, raw) in d.items.iter().enumerate() {
                let name = raw.trim_start_matches(['!', '*']);
                let marks = &raw[..raw.len() - name.len()];
                let immediate = marks.contains('!');
                let promise_days = if immediate {
                    u32::from(rng.chance(0.3))
                } else {
                    *rng.pick(&[1, 2, 3, 3, 5, 5, 5, 7, 7, 10, 10, 15, 20])
                };
                let legal_days = *rng
                    .pick(&[5, 10, 15, 20, 20, 30, 60])
                    .max(&promise_days.max(1));
                item_types.push(ItemType {
                    dtype: t,
                    name,
                    immediate,
                    company: marks.contains('*'),
                    promise_days,
                    legal_days,
                    natural_days: !immediate && rng.chance(0.08),
                    explicit_type: rng.chance(0.3),
                    catalogue: format!("{}{:03}{:03}000", catalogue_type(name), 101 + t, 101 + k),
                });
                // Zipf within the department: the first items are the busy ones.
                item_weights.push((d.weight as u64 * 1000) / (k as u64 + 2));
            }
        }
        let item_cum = Cum::new(item_weights);

        let mut depts = Vec::new();
        for county in COUNTIES {
            for (t, d) in DEPTS.iter().enumerate() {
                let serial = mix64(splitmix(&mut h)) % 100_000_000;
                depts.push(Dept {
                    dtype: t,
                    code: uscc(county.code, serial),
                    name: d.pattern.replace("{c}", county.name),
                    hot_code: format!("{}-{}", county.code, d.abbr),
                    batch: rng.chance(0.15),
                    int_codes: rng.chance(0.12),
                });
            }
        }
        let mut taskcodes = Vec::with_capacity(COUNTIES.len() * item_types.len());
        for c in 0..COUNTIES.len() {
            for it in &item_types {
                let dept = &depts[c * DEPTS.len() + it.dtype];
                taskcodes.push(format!("{}{}", dept.code, it.catalogue));
            }
        }
        let offices = COUNTIES
            .iter()
            .map(|county| {
                let mut v: Vec<Box<[u8]>> = data::BDC_OFFICES
                    .iter()
                    .map(|p| gb18030(&p.replace("{c}", county.name)).into_boxed_slice())
                    .collect();
                if county.code == "652801" {
                    v.extend(
                        data::KORLA_EXTRA_OFFICES
                            .iter()
                            .map(|s| gb18030(s).into_boxed_slice()),
                    );
                }
                v
            })
            .collect();
        let template_dept = data::HOTLINE_TEMPLATES
            .iter()
            .map(|&(_, abbr, _)| {
                (abbr != "*").then(|| {
                    DEPTS
                        .iter()
                        .position(|d| d.abbr == abbr)
                        .expect("template department")
                })
            })
            .collect();
        // Category mix of the 12345 hotline: consultations and complaints dominate.
        let cat_weight = [40u64, 20, 25, 5, 7, 3];
        let per_cat = |cat: usize| {
            data::HOTLINE_TEMPLATES
                .iter()
                .filter(|t| t.0 == cat)
                .count() as u64
        };
        let template_cum = Cum::new(
            data::HOTLINE_TEMPLATES
                .iter()
                .map(|t| cat_weight[t.0] * 1000 / per_cat(t.0)),
        );
        World {
            county_cum,
            depts,
            item_types,
            item_cum,
            taskcodes,
            offices,
            template_dept,
            template_cum,
            tails_polite: Cum::new(data::HOTLINE_TAILS[..3].iter().map(|t| t.0 as u64)),
            tails_all: Cum::new(data::HOTLINE_TAILS.iter().map(|t| t.0 as u64)),
            names: Names::new(),
        }
    }

    #[inline]
    pub(crate) fn dept(&self, county: usize, dtype: usize) -> &Dept {
        &self.depts[county * DEPTS.len() + dtype]
    }

    #[inline]
    pub(crate) fn taskcode(&self, county: usize, item: usize) -> &str {
        &self.taskcodes[county * self.item_types.len() + item]
    }
}

fn splitmix(h: &mut u64) -> u64 {
    crate::rng::splitmix64(h)
}

/// A person's or a company's name, as indices into the lexicons (so that it can be written in
/// either encoding without allocating).
#[derive(Copy, Clone, Debug)]
pub(crate) enum Name {
    Han {
        sur: u16,
        g1: u16,
        g2: Option<u16>,
    },
    Uyghur {
        given: u16,
        female: bool,
        father: u16,
    },
    Mongol {
        name: u16,
    },
    Company {
        county: u16,
        word: u16,
        trade: u16,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct Names {
    surnames: Vec<Lex>,
    surname_cum: Cum,
    given: Vec<Lex>,
    shen: u16,
    uy_male: Vec<Lex>,
    uy_female: Vec<Lex>,
    mongol: Vec<Lex>,
    words: Vec<Lex>,
    trades: Vec<Lex>,
    county_short: Vec<Lex>,
    dot_gb: Box<[u8]>,
}

impl Names {
    fn new() -> Names {
        let surnames = lex(data::SURNAMES);
        let surname_cum = Cum::new((0..surnames.len() as u64).map(|i| 10_000 / (i + 6)));
        let given = lex(data::GIVEN);
        let shen = data::GIVEN.iter().position(|&g| g == "珅").expect("珅") as u16;
        Names {
            surnames,
            surname_cum,
            given,
            shen,
            uy_male: lex(data::UYGHUR_MALE),
            uy_female: lex(data::UYGHUR_FEMALE),
            mongol: lex(data::MONGOL),
            words: lex(data::COMPANY_WORDS),
            trades: lex(data::COMPANY_TRADES),
            county_short: data::COUNTIES
                .iter()
                .map(|c| Lex {
                    utf8: c.short,
                    gb: gb18030(c.short).into_boxed_slice(),
                })
                .collect(),
            dot_gb: gb18030("·").into_boxed_slice(),
        }
    }

    /// A person of the prefecture: Han, Uyghur or Mongol names in about the local proportions.
    pub(crate) fn person(&self, rng: &mut Rng) -> Name {
        let r = rng.below(100);
        if r < 62 {
            self.han(rng, false)
        } else if r < 94 {
            let female = rng.chance(0.5);
            let n = if female {
                self.uy_female.len()
            } else {
                self.uy_male.len()
            };
            Name::Uyghur {
                given: rng.index(n) as u16,
                female,
                father: rng.index(self.uy_male.len()) as u16,
            }
        } else {
            Name::Mongol {
                name: rng.index(self.mongol.len()) as u16,
            }
        }
    }

    /// A Han name; with `shen`, one whose given name has 珅.
    pub(crate) fn han(&self, rng: &mut Rng, shen: bool) -> Name {
        let sur = self.surname_cum.pick(rng) as u16;
        let g = |rng: &mut Rng| rng.index(self.given.len()) as u16;
        let mut g1 = g(rng);
        let mut g2 = rng.chance(0.7).then(|| g(rng));
        if shen {
            match &mut g2 {
                Some(x) if rng.chance(0.5) => *x = self.shen,
                _ => {
                    g1 = self.shen;
                    g2 = None;
                }
            }
        }
        Name::Han { sur, g1, g2 }
    }

    pub(crate) fn company(&self, county: usize, rng: &mut Rng) -> Name {
        Name::Company {
            county: county as u16,
            word: rng.index(self.words.len()) as u16,
            trade: rng.index(self.trades.len()) as u16,
        }
    }

    /// Writes the name in UTF-8 (`gb = false`) or GB18030.
    pub(crate) fn write(&self, name: Name, gb: bool, out: &mut Vec<u8>) {
        let mut put = |l: &Lex| {
            if gb {
                out.extend_from_slice(&l.gb)
            } else {
                out.extend_from_slice(l.utf8.as_bytes())
            }
        };
        match name {
            Name::Han { sur, g1, g2 } => {
                put(&self.surnames[sur as usize]);
                put(&self.given[g1 as usize]);
                if let Some(g2) = g2 {
                    put(&self.given[g2 as usize]);
                }
            }
            Name::Uyghur {
                given,
                female,
                father,
            } => {
                let list = if female {
                    &self.uy_female
                } else {
                    &self.uy_male
                };
                put(&list[given as usize]);
                if gb {
                    out.extend_from_slice(&self.dot_gb);
                } else {
                    out.extend_from_slice("·".as_bytes());
                }
                let mut put = |l: &Lex| {
                    if gb {
                        out.extend_from_slice(&l.gb)
                    } else {
                        out.extend_from_slice(l.utf8.as_bytes())
                    }
                };
                put(&self.uy_male[father as usize]);
            }
            Name::Mongol { name } => put(&self.mongol[name as usize]),
            Name::Company {
                county,
                word,
                trade,
            } => {
                put(&self.county_short[county as usize]);
                put(&self.words[word as usize]);
                put(&self.trades[trade as usize]);
            }
        }
    }

    pub(crate) fn is_female(&self, name: Name, rng: &mut Rng) -> bool {
        match name {
            Name::Uyghur { female, .. } => female,
            _ => rng.chance(0.5),
        }
    }
}

/// An 11-digit mobile number.
#[inline]
pub(crate) fn push_mobile(out: &mut Vec<u8>, rng: &mut Rng) {
    out.extend_from_slice(rng.pick(data::MOBILE_PREFIXES).as_bytes());
    push_digits(out, rng.next_u64(), 8);
}

/// A mobile number that is a function of `key` (for repeat callers).
#[inline]
pub(crate) fn push_mobile_of(out: &mut Vec<u8>, key: u64) {
    let h = mix64(key);
    let p = data::MOBILE_PREFIXES[(h % data::MOBILE_PREFIXES.len() as u64) as usize];
    out.extend_from_slice(p.as_bytes());
    push_digits(out, h >> 8, 8);
}

/// A Korla-area landline, `0996-2xxxxxx`.
#[inline]
pub(crate) fn push_landline(out: &mut Vec<u8>, rng: &mut Rng) {
    out.extend_from_slice(b"0996-2");
    push_digits(out, rng.next_u64(), 6);
}

/// `n` decimal digits taken from `x`.
#[inline]
pub(crate) fn push_digits(out: &mut Vec<u8>, mut x: u64, n: usize) {
    let start = out.len();
    out.resize(start + n, b'0');
    for i in (0..n).rev() {
        out[start + i] = b'0' + (x % 10) as u8;
        x /= 10;
    }
}

/// An 18-character resident ID number with its ISO 7064 MOD 11-2 check character.
#[inline]
pub(crate) fn push_id_number(out: &mut Vec<u8>, county: usize, female: bool, rng: &mut Rng) {
    let start = out.len();
    if rng.chance(0.7) {
        out.extend_from_slice(COUNTIES[county].code.as_bytes());
    } else {
        out.extend_from_slice(rng.pick(data::ORIGIN_CODES).as_bytes());
    }
    let y = rng.range(1945, 2002) as i32;
    let m = rng.range(1, 12) as u32;
    let d = rng.range(1, crate::time::days_in_month(y, m) as i64) as u32;
    push_digits(out, y as u64, 4);
    push_digits(out, m as u64, 2);
    push_digits(out, d as u64, 2);
    push_digits(out, rng.below(50) * 2 + u64::from(!female), 3);
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = out[start..start + 17]
        .iter()
        .zip(W)
        .map(|(&c, w)| (c - b'0') as u32 * w)
        .sum();
    out.push(b"10X98765432"[(sum % 11) as usize]);
}

/// A company's unified social credit code (`91` + region + serial + checks).
pub(crate) fn push_company_code(out: &mut Vec<u8>, county: usize, rng: &mut Rng) {
    let code = uscc(COUNTIES[county].code, rng.below(100_000_000));
    out.extend_from_slice(b"91");
    out.extend_from_slice(&code.as_bytes()[2..]);
    // The check character covers the first two characters too: recompute it.
    let n = out.len();
    let mut sum = 0u32;
    let mut weight = 1u32;
    for &ch in &out[n - 18..n - 1] {
        let v = USCC_ALPHABET.iter().position(|&a| a == ch).unwrap_or(0) as u32;
        sum += v * weight;
        weight = weight * 3 % 31;
    }
    out[n - 1] = USCC_ALPHABET[((31 - sum % 31) % 31) as usize];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_their_shapes() {
        let w = World::new();
        assert!(w.item_types.len() > 120, "{}", w.item_types.len());
        assert_eq!(w.depts.len(), COUNTIES.len() * DEPTS.len());
        for d in &w.depts {
            assert_eq!(d.code.len(), 18, "{}", d.code);
            assert!(d.code.starts_with("11652"));
        }
        for t in &w.taskcodes {
            assert_eq!(t.len(), 31, "{t}");
        }
        let mut uniq: Vec<&String> = w.taskcodes.iter().collect();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), w.taskcodes.len());
        let mut rng = Rng::new(3);
        let mut b = Vec::new();
        push_id_number(&mut b, 0, true, &mut rng);
        assert_eq!(b.len(), 18);
        let s = String::from_utf8(b).unwrap();
        assert!(s[..17].bytes().all(|c| c.is_ascii_digit()), "{s}");
        let mut b = Vec::new();
        push_company_code(&mut b, 0, &mut rng);
        assert_eq!(b.len(), 18);
        assert!(b.starts_with(b"91652801"));
        let mut b = Vec::new();
        push_mobile(&mut b, &mut rng);
        assert_eq!(b.len(), 11);
        assert_eq!(b[0], b'1');
        let mut b = Vec::new();
        let n = w.names.han(&mut rng, true);
        w.names.write(n, true, &mut b);
        assert!(b.windows(2).any(|x| x == [0xAB, 0x7C]), "{b:?}");
    }
}
