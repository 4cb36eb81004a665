//! Checks over what all clients saw: linearizability of the shared counters, and the
//! quiet-phase invariants of groups, pairs and counters.

use crate::client::Client;
use crate::resp::Reply;
use crate::Plan;

/// Folds `v` into a running hash (order matters).
pub fn fold(h: u64, v: u64) -> u64 {
    let mut z = (h ^ v).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a of `b`.
pub fn hash_bytes(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &c| {
        (h ^ c as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// An array reply of `n` elements, all nil or all the same bulk string.
pub fn all_equal(r: &Reply, n: usize) -> bool {
    match r {
        Reply::Array(Some(items)) => {
            items.len() == n
                && items.iter().all(|i| matches!(i, Reply::Bulk(_)))
                && items.windows(2).all(|w| w[0] == w[1])
        }
        _ => false,
    }
}

/// Every acknowledged INCR of the shared counters (value, sent, answered in virtual ns) and
/// how many INCRs had an unknown outcome.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    pub ops: Vec<Vec<(i64, u64, u64)>>,
    pub unknown: Vec<u64>,
}

impl Counters {
    pub fn new(n: usize) -> Counters {
        Counters {
            ops: vec![Vec::new(); n],
            unknown: vec![0; n],
        }
    }

    pub fn record(&mut self, k: usize, value: i64, sent_ns: u64, recv_ns: u64) {
        self.ops[k].push((value, sent_ns, recv_ns));
    }

    pub fn merge(&mut self, other: &Counters) {
        for (k, ops) in other.ops.iter().enumerate() {
            self.ops[k].extend_from_slice(ops);
            self.unknown[k] += other.unknown[k];
        }
    }

    /// Linearizability of one counter's INCRs plus its final value: the values are distinct,
    /// none exceeds the final value, the final value counts every acknowledged INCR and at
    /// most the unknown ones besides, and an INCR that ended before another began returned a
    /// smaller value (real-time order).
    pub fn check(&self, k: usize, final_value: i64) -> Vec<String> {
        let mut errs = Vec::new();
        let mut ops = self.ops[k].clone();
        ops.sort();
        let acked = ops.len() as i64;
        let unknown = self.unknown[k] as i64;
        if final_value < acked || final_value > acked + unknown {
            errs.push(format!(
                "ctr{k}: final value {final_value}, but {acked} INCRs were acknowledged and \
                 {unknown} had unknown outcomes"
            ));
        }
        for w in ops.windows(2) {
            if w[0].0 == w[1].0 {
                errs.push(format!("ctr{k}: two INCRs both returned {}", w[0].0));
            }
        }
        if let Some(&(v, _, _)) = ops.last() {
            if v > final_value {
                errs.push(format!(
                    "ctr{k}: an INCR returned {v} > final {final_value}"
                ));
            }
        }
        // In value order, the latest start among smaller values must not come after the end
        // of a larger one.
        let mut latest_start: Option<(i64, u64)> = None;
        for &(v, sent, recv) in &ops {
            if let Some((pv, ps)) = latest_start {
                if recv < ps {
                    errs.push(format!(
                        "ctr{k}: INCR returning {v} ended at {recv} ns, before the INCR returning \
                         {pv} began at {ps} ns (not linearizable)"
                    ));
                    break;
                }
            }
            if latest_start.is_none_or(|(_, ps)| sent > ps) {
                latest_start = Some((v, sent));
            }
        }
        errs
    }
}

/// After the workload, with faults off: every shared invariant holds on a fresh connection.
pub fn quiet_phase(c: &mut Client, plan: &Plan, counters: &Counters) -> Vec<String> {
    let mut errs = Vec::new();
    for k in 0..plan.counters {
        let key = format!("ctr{k}").into_bytes();
        let Some(r) = c.must(&[b"GET", &key]) else {
            break;
        };
        let v = match &r {
            Reply::Bulk(None) => 0,
            Reply::Bulk(Some(b)) => {
                match std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()) {
                    Some(v) => v,
                    None => {
                        errs.push(format!("ctr{k}: not a number: {r}"));
                        continue;
                    }
                }
            }
            other => {
                errs.push(format!("GET ctr{k}: {other}"));
                continue;
            }
        };
        errs.extend(counters.check(k, v));
    }
    for g in 0..plan.groups {
        let keys: Vec<Vec<u8>> = (0..crate::GROUP_KEYS)
            .map(|i| format!("g{g}:{i}").into_bytes())
            .collect();
        let mut args: Vec<&[u8]> = vec![b"MGET"];
        args.extend(keys.iter().map(|k| k.as_slice()));
        if let Some(r) = c.must(&args) {
            if !all_equal(&r, keys.len()) {
                errs.push(format!("group {g} torn after the run: {r}"));
            }
        }
    }
    for p in 0..plan.pairs {
        let (a, b) = (format!("pa{p}").into_bytes(), format!("pb{p}").into_bytes());
        if let Some(r) = c.must(&[b"MGET", &a, &b]) {
            if !all_equal(&r, 2) {
                errs.push(format!("pair {p} differs after the run: {r}"));
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_check_catches_each_kind_of_anomaly() {
        let mut c = Counters::new(1);
        c.record(0, 1, 0, 10);
        c.record(0, 2, 5, 20);
        c.record(0, 3, 30, 40);
        assert!(c.check(0, 3).is_empty());
        assert!(
            !c.check(0, 2).is_empty(),
            "final below the acknowledged count"
        );
        assert!(
            !c.check(0, 4).is_empty(),
            "final above acknowledged + unknown"
        );
        c.unknown[0] = 1;
        assert!(c.check(0, 4).is_empty());
        let mut d = Counters::new(1);
        d.record(0, 2, 0, 10);
        d.record(0, 1, 20, 30);
        assert!(!d.check(0, 2).is_empty(), "real-time order reversed");
        let mut e = Counters::new(1);
        e.record(0, 1, 0, 10);
        e.record(0, 1, 20, 30);
        assert!(!e.check(0, 2).is_empty(), "duplicate value");
    }

    #[test]
    fn all_equal_needs_every_element_the_same() {
        let b = |s: &str| Reply::Bulk(Some(s.as_bytes().to_vec()));
        assert!(all_equal(&Reply::Array(Some(vec![b("x"), b("x")])), 2));
        assert!(all_equal(
            &Reply::Array(Some(vec![Reply::Bulk(None), Reply::Bulk(None)])),
            2
        ));
        assert!(!all_equal(
            &Reply::Array(Some(vec![b("x"), Reply::Bulk(None)])),
            2
        ));
        assert!(!all_equal(&Reply::Array(Some(vec![b("x")])), 2));
    }
}
