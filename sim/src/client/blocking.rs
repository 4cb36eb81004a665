//! The blocking pair: one client (the popper, client 1) BLPOPs a shared list `bq` with short
//! timeouts while the others LPUSH unique values to it. After the run, with what remains in the
//! list, every pushed element must have been popped exactly once or remain (a pop whose reply
//! was lost may take one away unseen), and a BLPOP may time out only when every element pushed
//! well before its deadline had already been popped: a blocked client is always woken. A third
//! of the others' steps here are the blocking move's (moves.rs) instead.

use super::{CallError, Client};
use crate::resp::Reply;
use crate::Plan;
use std::collections::{BTreeMap, BTreeSet};

/// The shared list of the blocking pair.
pub const QUEUE_KEY: &[u8] = b"bq";
/// The client that pops.
pub const POPPER: usize = 1;
/// A push acknowledged this long before a BLPOP's deadline must have woken it: far more than
/// a hop or a wake message takes, even with the bus's delays.
const WAKE_MARGIN_NS: u64 = 50_000_000;

#[derive(Clone, Debug)]
pub enum Outcome {
    Got(Vec<u8>),
    TimedOut,
    /// The connection failed: it may have popped an element nobody saw.
    Lost,
}

#[derive(Clone, Debug)]
pub struct Pop {
    sent_ns: u64,
    timeout_ns: u64,
    outcome: Outcome,
}

/// One client's part of the blocking pair.
#[derive(Clone, Debug, Default)]
pub struct QueueLog {
    /// Pushed values, with the virtual time of the acknowledgement (None: outcome unknown).
    pushes: Vec<(Vec<u8>, Option<u64>)>,
    /// The popper's BLPOPs, in order.
    pops: Vec<Pop>,
    /// The blocking move's pushes and moves (moves.rs).
    pub moves: super::moves::MoveLog,
}

impl Client {
    /// The popper BLPOPs, everyone else LPUSHes.
    pub(super) fn queue_step(&mut self, _plan: &Plan) -> Option<()> {
        if self.id == POPPER {
            let tenths = self.rng.between(1, 10);
            let timeout = format!("{}.{}", tenths / 10, tenths % 10);
            let sent_ns = damselfly_runtime::clock::now().as_nanos();
            let outcome = match self.call(&[b"BLPOP", QUEUE_KEY, timeout.as_bytes()]) {
                Ok((Reply::Array(None), _)) => Outcome::TimedOut,
                Ok((Reply::Array(Some(items)), _))
                    if items.len() == 2 && items[0] == Reply::Bulk(Some(QUEUE_KEY.to_vec())) =>
                {
                    match &items[1] {
                        Reply::Bulk(Some(v)) => Outcome::Got(v.clone()),
                        _ => return self.expect("BLPOP", &Reply::Array(Some(items)), false),
                    }
                }
                Ok((r, _)) => return self.expect("BLPOP", &r, false),
                Err(CallError::Lost) => Outcome::Lost,
                Err(CallError::Failed(m)) => {
                    self.fail(m);
                    return None;
                }
            };
            self.queue.pops.push(Pop {
                sent_ns,
                timeout_ns: tenths * 100_000_000,
                outcome,
            });
            return Some(());
        }
        if self.rng.chance(1, 3) {
            return self.move_step();
        }
        let v = self.value();
        let acked = match self.call(&[b"LPUSH", QUEUE_KEY, &v]) {
            Ok((Reply::Int(n), span)) if n >= 1 => Some(span.recv_ns),
            Ok((r, _)) => return self.expect("LPUSH of the shared list", &r, false),
            Err(CallError::Lost) => None,
            Err(CallError::Failed(m)) => {
                self.fail(m);
                return None;
            }
        };
        self.queue.pushes.push((v, acked));
        Some(())
    }
}

/// The checks of the blocking pair over every client's log and what remains in the list.
pub fn check(logs: &[&QueueLog], remaining: &[Vec<u8>]) -> Vec<String> {
    let mut failures = Vec::new();
    let pushes: BTreeMap<&[u8], Option<u64>> = logs
        .iter()
        .flat_map(|l| l.pushes.iter().map(|(v, a)| (v.as_slice(), *a)))
        .collect();
    let pops: Vec<&Pop> = logs.iter().flat_map(|l| l.pops.iter()).collect();
    let mut popped = BTreeSet::new();
    for p in &pops {
        if let Outcome::Got(v) = &p.outcome {
            if !popped.insert(v.as_slice()) {
                failures.push(format!("bq: {} was popped twice", show(v)));
            }
        }
    }
    let mut left = BTreeSet::new();
    for v in remaining {
        if !left.insert(v.as_slice()) {
            failures.push(format!("bq: {} remains twice", show(v)));
        }
        if popped.contains(v.as_slice()) {
            failures.push(format!("bq: {} was popped and still remains", show(v)));
        }
    }
    for v in popped.iter().chain(left.iter()) {
        if !pushes.contains_key(v) {
            failures.push(format!("bq: {} was never pushed", show(v)));
        }
    }
    let lost_pops = pops
        .iter()
        .filter(|p| matches!(p.outcome, Outcome::Lost))
        .count();
    let missing: Vec<&[u8]> = pushes
        .iter()
        .filter(|(v, a)| a.is_some() && !popped.contains(*v) && !left.contains(*v))
        .map(|(v, _)| *v)
        .collect();
    if missing.len() > lost_pops {
        failures.push(format!(
            "bq: {} acknowledged pushes were neither popped nor left (only {lost_pops} pops \
             lost their reply), e.g. {}",
            missing.len(),
            show(missing[0])
        ));
    }
    // No lost wakeup: at a timeout, every element acknowledged well before the deadline was
    // popped already, save those the lost pops before it may have taken.
    let mut before = BTreeSet::new();
    let mut lost = 0;
    for p in &pops {
        match &p.outcome {
            Outcome::Got(v) => {
                before.insert(v.as_slice());
            }
            Outcome::Lost => lost += 1,
            Outcome::TimedOut => {
                let deadline = p.sent_ns + p.timeout_ns;
                let waiting: Vec<&[u8]> = pushes
                    .iter()
                    .filter(|(v, a)| {
                        a.is_some_and(|a| a + WAKE_MARGIN_NS < deadline) && !before.contains(*v)
                    })
                    .map(|(v, _)| *v)
                    .collect();
                if waiting.len() > lost {
                    failures.push(format!(
                        "bq: a BLPOP sent at t={:.6}s timed out while {} pushed well before its \
                         deadline was in the list (lost wakeup)",
                        p.sent_ns as f64 / 1e9,
                        show(waiting[0])
                    ));
                }
            }
        }
    }
    failures
}

fn show(v: &[u8]) -> String {
    format!("\"{}\"", String::from_utf8_lossy(v))
}
