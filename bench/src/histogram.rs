//! Per-command statistics: counts, bytes and an HDR latency histogram in microseconds.

use hdrhistogram::Histogram;

use crate::wire::Outcome;
use crate::workload::Op;

/// Highest latency recorded exactly (60 s, in µs); slower replies saturate to it.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Counters and latencies of one command type (or of all of them).
#[derive(Clone, Debug)]
pub struct CmdStats {
    pub ops: u64,
    pub hits: u64,
    pub misses: u64,
    pub errors: u64,
    pub bytes_tx: u64,
    pub bytes_rx: u64,
    pub latency_us: Histogram<u64>,
}

impl Default for CmdStats {
    fn default() -> Self {
        CmdStats {
            ops: 0,
            hits: 0,
            misses: 0,
            errors: 0,
            bytes_tx: 0,
            bytes_rx: 0,
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
        }
    }
}

impl CmdStats {
    pub fn record(&mut self, outcome: Outcome, latency_us: u64, tx: u64, rx: u64) {
        self.ops += 1;
        match outcome {
            Outcome::Hit => self.hits += 1,
            Outcome::Miss => self.misses += 1,
            Outcome::Error => self.errors += 1,
            Outcome::Done => {}
        }
        self.bytes_tx += tx;
        self.bytes_rx += rx;
        self.latency_us
            .saturating_record(latency_us.clamp(1, MAX_LATENCY_US));
    }

    pub fn merge(&mut self, other: &CmdStats) {
        self.ops += other.ops;
        self.hits += other.hits;
        self.misses += other.misses;
        self.errors += other.errors;
        self.bytes_tx += other.bytes_tx;
        self.bytes_rx += other.bytes_rx;
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms share bounds");
    }

    /// Latency at `q` percent, in milliseconds.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        if self.ops == 0 {
            return 0.0;
        }
        self.latency_us.value_at_percentile(q) as f64 / 1000.0
    }

    pub fn avg_ms(&self) -> f64 {
        if self.ops == 0 {
            return 0.0;
        }
        self.latency_us.mean() / 1000.0
    }
}

/// Statistics of one run (one thread's, or merged over threads).
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    pub sets: CmdStats,
    pub gets: CmdStats,
}

impl RunStats {
    pub fn cmd_mut(&mut self, op: Op) -> &mut CmdStats {
        match op {
            Op::Set => &mut self.sets,
            Op::Get => &mut self.gets,
        }
    }

    pub fn merge(&mut self, other: &RunStats) {
        self.sets.merge(&other.sets);
        self.gets.merge(&other.gets);
    }

    pub fn totals(&self) -> CmdStats {
        let mut t = self.sets.clone();
        t.merge(&self.gets);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_merges() {
        let mut a = RunStats::default();
        for i in 1..=100u64 {
            a.cmd_mut(Op::Get).record(
                if i % 4 == 0 {
                    Outcome::Hit
                } else {
                    Outcome::Miss
                },
                i * 10,
                20,
                5,
            );
        }
        a.cmd_mut(Op::Set).record(Outcome::Done, 2_000, 50, 5);
        let mut b = RunStats::default();
        b.cmd_mut(Op::Set).record(Outcome::Error, 0, 50, 10);
        a.merge(&b);
        assert_eq!((a.gets.ops, a.gets.hits, a.gets.misses), (100, 25, 75));
        assert_eq!((a.sets.ops, a.sets.errors), (2, 1));
        let t = a.totals();
        assert_eq!(t.ops, 102);
        assert_eq!(t.bytes_tx, 100 * 20 + 100);
        assert_eq!(t.bytes_rx, 100 * 5 + 15);
        let p50 = a.gets.percentile_ms(50.0);
        assert!((0.49..=0.51).contains(&p50), "{p50}");
        assert!((a.gets.avg_ms() - 0.505).abs() < 0.005);
        assert!((t.percentile_ms(100.0) - 2.0).abs() < 0.01);
    }
}
