//! What each client sends next: the SET:GET cycle and the key index, per memtier's rules.
//!
//! * `--ratio A:B`: a client sends A SETs then B GETs, over and over.
//! * Key patterns (separately for SETs and GETs): `R` uniform, `G` gaussian (median and
//!   stddev default to the middle of the range and a sixth of its width), `S` each client
//!   walks the full range in order, `P` the range is split over all clients and each walks
//!   its own slice (the last client takes the leftover), as memtier does.
//! * Seeds: fixed unless `--randomize`; all clients share it unless `--distinct-client-seed`.

use crate::args::{Config, KeyPattern};

/// The command a client sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Set,
    Get,
}

/// A small, fast, seedable generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [min, max] (inclusive).
    pub fn range(&mut self, min: u64, max: u64) -> u64 {
        let span = max - min;
        if span == u64::MAX {
            return self.next_u64();
        }
        // Multiply-shift: bias is below 2^-64 * span, irrelevant here.
        min + ((self.next_u64() as u128 * (span as u128 + 1)) >> 64) as u64
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Picks key indexes for one command type of one client.
#[derive(Clone, Debug)]
pub struct KeyGen {
    pattern: KeyPattern,
    min: u64,
    max: u64,
    next: u64,
    median: f64,
    stddev: f64,
}

impl KeyGen {
    pub fn new(pattern: KeyPattern, cfg: &Config, client_index: usize) -> Self {
        let (mut min, mut max) = (cfg.key_minimum, cfg.key_maximum);
        if pattern == KeyPattern::Parallel {
            (min, max) = parallel_slice(min, max, client_index, cfg.total_clients());
        }
        let width = (cfg.key_maximum - cfg.key_minimum) as f64;
        KeyGen {
            pattern,
            min,
            max,
            next: min,
            median: cfg
                .key_median
                .unwrap_or(cfg.key_minimum as f64 + width / 2.0),
            stddev: cfg.key_stddev.unwrap_or(width / 6.0).max(f64::MIN_POSITIVE),
        }
    }

    pub fn next(&mut self, rng: &mut Rng) -> u64 {
        match self.pattern {
            KeyPattern::Random => rng.range(self.min, self.max),
            KeyPattern::Gaussian => {
                // Redraw until inside the range, as memtier does; give up after a while
                // (a median far outside the range) and clamp.
                for _ in 0..64 {
                    let v = (self.median + rng.normal() * self.stddev).round();
                    if v >= self.min as f64 && v <= self.max as f64 {
                        return v as u64;
                    }
                }
                (self.median.round().max(self.min as f64) as u64).min(self.max)
            }
            KeyPattern::Sequential | KeyPattern::Parallel => {
                let k = self.next;
                self.next = if k >= self.max { self.min } else { k + 1 };
                k
            }
        }
    }
}

/// The slice of [min, max] that client `index` of `total` walks with the `P` pattern
/// (memtier's arithmetic: equal slices, the last client takes the leftover).
pub fn parallel_slice(min: u64, max: u64, index: usize, total: usize) -> (u64, u64) {
    let total = total.max(1) as u64;
    let index = index as u64 % total;
    let range = (max - min) / total + 1;
    let lo = min + range * index;
    let hi = if index == total - 1 {
        max
    } else {
        lo + range - 1
    };
    (lo.min(max), hi.min(max))
}

/// The request stream of one client.
#[derive(Clone, Debug)]
pub struct ClientWorkload {
    rng: Rng,
    set_keys: KeyGen,
    get_keys: KeyGen,
    ratio_set: u32,
    cycle: u32,
    pos: u32,
    /// Requests left to send; `None` means unbounded (time-limited run).
    remaining: Option<u64>,
}

impl ClientWorkload {
    /// `client_index` runs over all clients of all threads (0..threads*clients).
    pub fn new(cfg: &Config, client_index: usize, base_seed: u64) -> Self {
        let seed = if cfg.distinct_client_seed {
            base_seed.wrapping_add(client_index as u64 + 1)
        } else {
            base_seed
        };
        ClientWorkload {
            rng: Rng::new(seed),
            set_keys: KeyGen::new(cfg.key_pattern_set, cfg, client_index),
            get_keys: KeyGen::new(cfg.key_pattern_get, cfg, client_index),
            ratio_set: cfg.ratio_set,
            cycle: cfg.ratio_set + cfg.ratio_get,
            pos: 0,
            remaining: match cfg.test_time {
                Some(_) => None,
                None => Some(cfg.requests),
            },
        }
    }

    pub fn has_more(&self) -> bool {
        self.remaining != Some(0)
    }

    /// The next command and key index, or `None` when the client's requests are used up.
    pub fn next_op(&mut self) -> Option<(Op, u64)> {
        if let Some(r) = self.remaining.as_mut() {
            if *r == 0 {
                return None;
            }
            *r -= 1;
        }
        let op = if self.pos < self.ratio_set {
            Op::Set
        } else {
            Op::Get
        };
        self.pos = (self.pos + 1) % self.cycle;
        let key = match op {
            Op::Set => self.set_keys.next(&mut self.rng),
            Op::Get => self.get_keys.next(&mut self.rng),
        };
        Some((op, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(f: impl FnOnce(&mut Config)) -> Config {
        let mut c = Config::default();
        f(&mut c);
        c
    }

    #[test]
    fn ratio_cycle_and_request_budget() {
        let c = cfg(|c| {
            c.ratio_set = 2;
            c.ratio_get = 3;
            c.requests = 12;
        });
        let mut w = ClientWorkload::new(&c, 0, 1);
        let ops: Vec<Op> = std::iter::from_fn(|| w.next_op().map(|(o, _)| o)).collect();
        use Op::*;
        assert_eq!(
            ops,
            vec![Set, Set, Get, Get, Get, Set, Set, Get, Get, Get, Set, Set]
        );
        assert!(!w.has_more());
    }

    #[test]
    fn only_gets_or_only_sets() {
        let c = cfg(|c| {
            c.ratio_set = 0;
            c.ratio_get = 1;
            c.requests = 5;
        });
        let mut w = ClientWorkload::new(&c, 0, 1);
        assert!(std::iter::from_fn(|| w.next_op()).all(|(o, _)| o == Op::Get));
    }

    #[test]
    fn sequential_walks_and_wraps_per_command_type() {
        let c = cfg(|c| {
            c.key_pattern_set = KeyPattern::Sequential;
            c.key_pattern_get = KeyPattern::Sequential;
            c.key_minimum = 3;
            c.key_maximum = 5;
            c.ratio_set = 1;
            c.ratio_get = 1;
            c.requests = 8;
        });
        let mut w = ClientWorkload::new(&c, 7, 1);
        let keys: Vec<(Op, u64)> = std::iter::from_fn(|| w.next_op()).collect();
        use Op::*;
        assert_eq!(
            keys,
            vec![
                (Set, 3),
                (Get, 3),
                (Set, 4),
                (Get, 4),
                (Set, 5),
                (Get, 5),
                (Set, 3),
                (Get, 3)
            ]
        );
    }

    #[test]
    fn parallel_slices_cover_the_range_without_overlap() {
        let (min, max, n) = (10, 109, 7);
        let mut seen = vec![0u32; 110];
        for i in 0..n {
            let (lo, hi) = parallel_slice(min, max, i, n);
            for k in lo..=hi {
                seen[k as usize] += 1;
            }
        }
        assert!(seen[..10].iter().all(|&s| s == 0));
        assert!(seen[10..].iter().all(|&s| s == 1), "{seen:?}");
        // memtier: range = 99/7 + 1 = 15; client 1 gets 25..=39.
        assert_eq!(parallel_slice(min, max, 1, n), (25, 39));
        assert_eq!(parallel_slice(min, max, 6, n), (100, 109));
    }

    #[test]
    fn random_and_gaussian_stay_in_range_and_gaussian_centres() {
        for p in [KeyPattern::Random, KeyPattern::Gaussian] {
            let c = cfg(|c| {
                c.key_minimum = 1000;
                c.key_maximum = 2000;
            });
            let mut g = KeyGen::new(p, &c, 0);
            let mut rng = Rng::new(42);
            let mut central = 0;
            for _ in 0..10_000 {
                let k = g.next(&mut rng);
                assert!((1000..=2000).contains(&k));
                if (1333..=1667).contains(&k) {
                    central += 1;
                }
            }
            // Middle third: ~33% for uniform, ~68% for a normal with sd = width/6.
            match p {
                KeyPattern::Random => assert!((3000..3700).contains(&central), "{central}"),
                _ => assert!((6400..7200).contains(&central), "{central}"),
            }
        }
    }

    #[test]
    fn seeds_shared_unless_distinct() {
        let mut c = Config::default();
        let a: Vec<_> = {
            let mut w = ClientWorkload::new(&c, 0, 9);
            (0..5).map(|_| w.next_op()).collect()
        };
        let b: Vec<_> = {
            let mut w = ClientWorkload::new(&c, 1, 9);
            (0..5).map(|_| w.next_op()).collect()
        };
        assert_eq!(a, b);
        c.distinct_client_seed = true;
        let d: Vec<_> = {
            let mut w = ClientWorkload::new(&c, 1, 9);
            (0..5).map(|_| w.next_op()).collect()
        };
        assert_ne!(a, d);
    }
}
