//! A small seeded PRNG: xoshiro256** seeded through splitmix64. Deterministic on every platform.

/// One step of splitmix64 (used for seeding and for hashing counters).
#[inline]
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    mix64(*state)
}

/// The splitmix64 finalizer: a bijection on `u64` (distinct inputs give distinct outputs).
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** (Blackman and Vigna).
#[derive(Clone, Debug)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Rng { s }
    }

    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `0..n` (`n > 0`; the multiply-shift bias is below 2^-40 for our ranges).
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform index into a slice of length `n`.
    #[inline]
    pub(crate) fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    #[inline]
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(lo <= hi);
        lo + self.below((hi - lo) as u64 + 1) as i64
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub(crate) fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    #[inline]
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    #[inline]
    pub(crate) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.index(xs.len())]
    }

    /// Index drawn with the given relative weights (small tables; linear scan).
    #[inline]
    pub(crate) fn weighted(&mut self, w: &[u32]) -> usize {
        let total: u32 = w.iter().sum();
        let mut r = self.below(total as u64) as u32;
        for (i, &x) in w.iter().enumerate() {
            if r < x {
                return i;
            }
            r -= x;
        }
        w.len() - 1
    }

    /// Roughly log-uniform in `[lo, lo · 2^(doublings+1))`: many short values, a long tail.
    /// Only exact operations (no `powf`/`exp`), so results are the same on every platform.
    #[inline]
    pub(crate) fn log_uniform(&mut self, lo: f64, doublings: u32) -> f64 {
        let k = self.below(doublings as u64 + 1) as i32;
        lo * 2f64.powi(k) * (1.0 + self.f64())
    }

    /// `u^1.5` for a uniform `u`: skewed towards 0 (exact operations only).
    #[inline]
    pub(crate) fn skewed(&mut self) -> f64 {
        let u = self.f64();
        u * u.sqrt()
    }
}

/// A cumulative weight table for larger sets (binary search).
#[derive(Clone, Debug)]
pub(crate) struct Cum {
    cum: Vec<u64>,
}

impl Cum {
    pub(crate) fn new(weights: impl IntoIterator<Item = u64>) -> Cum {
        let mut total = 0u64;
        let cum: Vec<u64> = weights
            .into_iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        assert!(total > 0, "a weight table needs a positive total");
        Cum { cum }
    }

    #[inline]
    pub(crate) fn pick(&self, rng: &mut Rng) -> usize {
        let r = rng.below(*self.cum.last().unwrap_or(&1));
        self.cum.partition_point(|&c| c <= r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_spread() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let mut c = Rng::new(8);
        let xa: Vec<u64> = (0..16).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..16).map(|_| b.next_u64()).collect();
        let xc: Vec<u64> = (0..16).map(|_| c.next_u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
        let mut counts = [0u32; 10];
        for _ in 0..100_000 {
            counts[a.index(10)] += 1;
        }
        assert!(
            counts.iter().all(|&n| (9_000..11_000).contains(&n)),
            "{counts:?}"
        );
        let cum = Cum::new([1, 0, 3]);
        let mut seen = [0u32; 3];
        for _ in 0..40_000 {
            seen[cum.pick(&mut a)] += 1;
        }
        assert_eq!(seen[1], 0);
        assert!((8_000..12_000).contains(&seen[0]), "{seen:?}");
    }
}
