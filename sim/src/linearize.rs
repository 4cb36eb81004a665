//! A linearizability checker for registers (Wing & Gong's search with Lowe's memo, as in
//! Porcupine), one key at a time.
//!
//! Each operation has the virtual time its request was sent and, when a reply came, the time
//! it arrived. An operation whose outcome is unknown (its connection failed) may take effect
//! at any moment after it was sent, or never. The history is linearizable when some order of
//! the operations respects real time (an operation that returned before another was sent
//! comes first) and a sequential register gives every read the value it saw.

use std::collections::HashSet;

/// A register operation. Values are unique per write, so a read names the write it saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegOp {
    /// `SET key v`.
    Write(u64),
    /// `GET key` returned this value (None: nil).
    Read(Option<u64>),
    /// `DEL key`.
    Delete,
}

#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub op: RegOp,
    pub sent_ns: u64,
    /// None: the outcome is unknown.
    pub recv_ns: Option<u64>,
}

/// What the search concluded.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order fits; the text names the operations where the search got stuck.
    Violation(String),
    /// The search gave up after its step budget (not counted as a failure).
    Undecided,
}

/// Steps one search may take before it gives up.
const STEP_BUDGET: u64 = 2_000_000;

/// Checks one register's history; the register starts empty.
pub fn check(events: &[Event]) -> Verdict {
    let mut ops: Vec<Event> = events.to_vec();
    ops.sort_by_key(|e| (e.sent_ns, e.recv_ns.unwrap_or(u64::MAX)));
    let n = ops.len();
    let words = n.div_ceil(64).max(1);
    let required = ops.iter().filter(|e| e.recv_ns.is_some()).count();
    let mut done = vec![0u64; words];
    let mut memo: HashSet<(Vec<u64>, Option<u64>)> = HashSet::new();
    let mut steps = 0u64;
    // Depth-first search: the stack holds (operation taken, register value before it).
    let mut stack: Vec<(usize, Option<u64>)> = Vec::new();
    let mut state: Option<u64> = None;
    let mut taken_required = 0usize;
    let mut next_try = 0usize;
    let mut deepest = 0usize;
    loop {
        if taken_required == required {
            return Verdict::Linearizable;
        }
        steps += 1;
        if steps > STEP_BUDGET {
            return Verdict::Undecided;
        }
        // An operation may go next if it was sent before every pending reply arrived.
        let horizon = (0..n)
            .filter(|&i| !is_set(&done, i))
            .filter_map(|i| ops[i].recv_ns)
            .min()
            .unwrap_or(u64::MAX);
        let mut advanced = false;
        let mut i = next_try;
        while i < n {
            if ops[i].sent_ns > horizon {
                break;
            }
            if !is_set(&done, i) {
                if let Some(after) = apply(state, ops[i].op) {
                    set(&mut done, i);
                    if memo.insert((done.clone(), after)) {
                        stack.push((i, state));
                        state = after;
                        if ops[i].recv_ns.is_some() {
                            taken_required += 1;
                        }
                        deepest = deepest.max(stack.len());
                        advanced = true;
                        break;
                    }
                    clear(&mut done, i);
                }
            }
            i += 1;
        }
        if advanced {
            next_try = 0;
            continue;
        }
        // Backtrack: undo the last choice and try the operations after it.
        let Some((last, before)) = stack.pop() else {
            return Verdict::Violation(describe(&ops, deepest));
        };
        clear(&mut done, last);
        if ops[last].recv_ns.is_some() {
            taken_required -= 1;
        }
        state = before;
        next_try = last + 1;
    }
}

/// The register after `op`, or None when `op` could not have seen `state`.
fn apply(state: Option<u64>, op: RegOp) -> Option<Option<u64>> {
    match op {
        RegOp::Write(v) => Some(Some(v)),
        RegOp::Delete => Some(None),
        RegOp::Read(seen) => (seen == state).then_some(state),
    }
}

fn is_set(bits: &[u64], i: usize) -> bool {
    bits[i / 64] & (1 << (i % 64)) != 0
}

fn set(bits: &mut [u64], i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

fn clear(bits: &mut [u64], i: usize) {
    bits[i / 64] &= !(1 << (i % 64));
}

fn describe(ops: &[Event], deepest: usize) -> String {
    let shown: Vec<String> = ops
        .iter()
        .take(deepest + 3)
        .skip(deepest.saturating_sub(3))
        .map(|e| {
            let end = e
                .recv_ns
                .map_or("unknown".to_string(), |r| format!("{r} ns"));
            format!("{:?} sent {} ns, answered {end}", e.op, e.sent_ns)
        })
        .collect();
    format!(
        "no linearization of {} operations (at most {deepest} fit); around there: {}",
        ops.len(),
        shown.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(op: RegOp, sent: u64, recv: Option<u64>) -> Event {
        Event {
            op,
            sent_ns: sent,
            recv_ns: recv,
        }
    }

    #[test]
    fn sequential_and_overlapping_histories_that_fit() {
        use RegOp::*;
        let h = [
            ev(Write(1), 0, Some(10)),
            ev(Read(Some(1)), 20, Some(30)),
            ev(Delete, 40, Some(50)),
            ev(Read(None), 60, Some(70)),
        ];
        assert_eq!(check(&h), Verdict::Linearizable);
        // A read overlapping a write may see the old or the new value.
        let h = [
            ev(Write(1), 0, Some(10)),
            ev(Write(2), 20, Some(40)),
            ev(Read(Some(1)), 25, Some(30)),
            ev(Read(Some(2)), 26, Some(50)),
        ];
        assert_eq!(check(&h), Verdict::Linearizable);
    }

    #[test]
    fn stale_reads_and_values_from_nowhere_are_violations() {
        use RegOp::*;
        // Read the old value after the new write returned.
        let h = [
            ev(Write(1), 0, Some(10)),
            ev(Write(2), 20, Some(30)),
            ev(Read(Some(1)), 40, Some(50)),
        ];
        assert!(matches!(check(&h), Verdict::Violation(_)));
        // A value nobody wrote.
        let h = [ev(Read(Some(9)), 0, Some(10))];
        assert!(matches!(check(&h), Verdict::Violation(_)));
        // Two reads that disagree on the order of two concurrent writes.
        let h = [
            ev(Write(1), 0, Some(100)),
            ev(Write(2), 0, Some(100)),
            ev(Read(Some(1)), 110, Some(120)),
            ev(Read(Some(2)), 130, Some(140)),
            ev(Read(Some(1)), 150, Some(160)),
        ];
        assert!(matches!(check(&h), Verdict::Violation(_)));
    }

    #[test]
    fn a_write_with_an_unknown_outcome_may_apply_late_or_never() {
        use RegOp::*;
        let late = [
            ev(Write(1), 0, None),
            ev(Read(None), 10, Some(20)),
            ev(Read(Some(1)), 30, Some(40)),
        ];
        assert_eq!(check(&late), Verdict::Linearizable);
        let never = [ev(Write(1), 0, None), ev(Read(None), 10, Some(20))];
        assert_eq!(check(&never), Verdict::Linearizable);
        // But it cannot apply before it was sent.
        let early = [ev(Read(Some(1)), 0, Some(5)), ev(Write(1), 10, None)];
        assert!(matches!(check(&early), Verdict::Violation(_)));
    }
}
