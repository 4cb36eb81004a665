//! The per-command latency histogram behind LATENCY HISTOGRAM, INFO latencystats and the
//! Prometheus `_bucket` series: one set of counts, so the three always agree.
//!
//! Values are nanoseconds clamped to 1 ns .. 1 s, kept with two significant decimal digits
//! (the HDR layout Redis uses for the same figures): 256 linear slots below 256 ns, then 128
//! slots per power of two, each `2^k` ns wide. Recording is a shift, a count of leading zeros
//! and two adds; there is nothing to allocate or lock.

/// Largest value kept; slower calls count as this (as Redis clamps them).
pub const MAX_NS: u64 = 1_000_000_000;
/// log2 of the slots per power of two past the first 256.
const HALF_BITS: u32 = 7;
const HALF: usize = 1 << HALF_BITS;
/// Powers of two past the first 256 slots needed to reach `MAX_NS`.
const OCTAVES: usize = 23;
/// Slots of a histogram.
pub const LEN: usize = (OCTAVES + 1) * HALF;

/// The slot of a call that took `ns`.
#[inline]
pub fn index(ns: u64) -> usize {
    let v = ns.clamp(1, MAX_NS);
    // The octave: 0 below 256 ns, else how many bits past 8 the value needs.
    let octave = (64 - (v | (2 * HALF as u64 - 1)).leading_zeros() - (HALF_BITS + 1)) as usize;
    let sub = (v >> octave) as usize;
    ((octave + 1) << HALF_BITS) + sub - HALF
}

/// The smallest value slot `i` holds.
pub fn lowest(i: usize) -> u64 {
    let (octave, sub) = if i < 2 * HALF {
        (0, i)
    } else {
        ((i >> HALF_BITS) - 1, (i & (HALF - 1)) + HALF)
    };
    (sub as u64) << octave
}

/// The largest value slot `i` holds.
pub fn highest(i: usize) -> u64 {
    let octave = if i < 2 * HALF {
        0
    } else {
        (i >> HALF_BITS) - 1
    };
    lowest(i) + (1u64 << octave) - 1
}

/// Counts per slot, with the total and the sum of the recorded (unclamped) values.
#[derive(Clone)]
pub struct Histogram {
    pub total: u64,
    pub sum_ns: u64,
    /// On the heap: 24 KiB, allocated once per command and proactor when it first runs.
    counts: Box<[u64]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            total: 0,
            sum_ns: 0,
            counts: vec![0; LEN].into_boxed_slice(),
        }
    }
}

impl Histogram {
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.counts[index(ns)] += 1;
        self.total += 1;
        self.sum_ns = self.sum_ns.wrapping_add(ns);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.total += other.total;
        self.sum_ns = self.sum_ns.wrapping_add(other.sum_ns);
    }

    /// The value at percentile `p` (0..=100), as Redis reports it: the highest value of the
    /// slot where the count reaches `p`% (the lowest one for p0); 0 when empty.
    pub fn percentile(&self, p: f64) -> u64 {
        let p = p.clamp(0.0, 100.0);
        let want = (((p / 100.0) * self.total as f64) + 0.5) as u64;
        let want = want.max(1);
        let mut acc = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            acc += c;
            if acc >= want {
                return if p == 0.0 { lowest(i) } else { highest(i) };
            }
        }
        0
    }

    /// Cumulative counts at the doubling levels 1024 ns, 2048 ns, ... up to `MAX_NS`: each
    /// step as (largest value it includes in ns, calls at most that slow). Every level is
    /// listed (Prometheus wants the same buckets in every scrape).
    pub fn doubling_levels(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::with_capacity(OCTAVES);
        let mut level = 1024u64;
        let mut acc = 0;
        let mut next = 0;
        loop {
            let end = index(level);
            acc += self.counts[next..=end].iter().sum::<u64>();
            next = end + 1;
            out.push((highest(end), acc));
            if level >= MAX_NS {
                return out;
            }
            level *= 2;
        }
    }

    /// LATENCY HISTOGRAM's steps: the doubling levels where the count grows, in µs, up to
    /// the slowest call.
    pub fn steps_usec(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut prev = 0;
        for (ns, acc) in self.doubling_levels() {
            if acc > prev {
                out.push((ns / 1000, acc));
                prev = acc;
            }
            if acc >= self.total {
                break;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cover_the_range_contiguously() {
        assert_eq!(index(0), 1);
        assert_eq!(index(255), 255);
        assert_eq!(index(256), 256);
        assert_eq!(index(u64::MAX), index(MAX_NS));
        assert!(index(MAX_NS) < LEN);
        for i in 1..index(MAX_NS) {
            assert_eq!(highest(i) + 1, lowest(i + 1), "slot {i}");
            assert_eq!(index(lowest(i)), i);
            assert_eq!(index(highest(i)), i);
        }
        // Two significant digits: a slot is under 1% of its values wide.
        for i in 256..index(MAX_NS) {
            assert!((highest(i) - lowest(i) + 1) * 100 <= lowest(i));
        }
    }

    #[test]
    fn percentiles_as_redis_reports_them() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(50.0), 0);
        for ns in [8960, 11007, 18000] {
            h.record(ns);
        }
        // 8960 sits in a 64 ns slot starting at 8960; 11007 in [10944, 11007]; 18000 in a
        // 128 ns slot [17920, 18047].
        assert_eq!(h.percentile(0.0), 8960);
        assert_eq!(h.percentile(50.0), 11007);
        assert_eq!(h.percentile(99.0), 18047);
        assert_eq!(h.percentile(100.0), 18047);
        assert_eq!(h.total, 3);
        assert_eq!(h.sum_ns, 8960 + 11007 + 18000);
    }

    #[test]
    fn doubling_levels_and_latency_histogram_steps() {
        let mut h = Histogram::default();
        h.record(500);
        h.record(12_000);
        h.record(17_900);
        h.record(5 * MAX_NS);
        let levels = h.doubling_levels();
        assert_eq!(levels.len(), 21);
        assert_eq!(levels[0], (1031, 1));
        assert_eq!(levels[4], (16511, 2));
        assert_eq!(levels[5], (33023, 3));
        assert_eq!(levels.last().unwrap().1, 4);
        let steps = h.steps_usec();
        assert_eq!(steps[..3], [(1, 1), (16, 2), (33, 3)]);
        assert_eq!(steps.len(), 4);
        let mut m = Histogram::default();
        m.merge(&h);
        m.merge(&h);
        assert_eq!(m.total, 8);
        assert_eq!(m.steps_usec()[0], (1, 2));
    }
}
