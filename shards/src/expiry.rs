//! Expiry rules and the bounded active-expiry step.
//!
//! Deadlines are absolute milliseconds. As in Redis (`keyIsExpired`), a key is expired when
//! `now_ms > deadline_ms`: at exactly its deadline it still exists.

use crate::cell::CompactKey;
use crate::dash::DashTable;
use crate::hash::KeyPolicy;

/// key -> absolute deadline in ms, one per database.
pub type ExpireTable = DashTable<CompactKey, u64, KeyPolicy>;

#[inline]
pub fn is_expired(deadline_ms: u64, now_ms: u64) -> bool {
    now_ms > deadline_ms
}

/// Limits of one active-expiry step, so a heartbeat never stalls the shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpireBudget {
    /// Expire-table buckets sampled at most (each holds up to 15 keys).
    pub buckets_max: usize,
    /// Keys deleted at most.
    pub expired_max: usize,
}

impl Default for ExpireBudget {
    fn default() -> ExpireBudget {
        ExpireBudget {
            buckets_max: 16,
            expired_max: 200,
        }
    }
}

/// What one step did; a caller that sees `expired` close to `checked` runs again sooner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpireReport {
    pub buckets_visited: usize,
    pub checked: usize,
    pub expired: usize,
    /// The step reached the end of the expire table (the next step starts over).
    pub cycle_done: bool,
}

/// Walks the expire table from `*cursor` within `budget` and returns the expired keys
/// (deleting them is the caller's job: they live in two tables). Advances `*cursor`.
pub(crate) fn collect_expired(
    expire: &ExpireTable,
    cursor: &mut u64,
    now_ms: u64,
    budget: ExpireBudget,
) -> (Vec<CompactKey>, ExpireReport) {
    let mut report = ExpireReport::default();
    let mut doomed = Vec::new();
    while report.buckets_visited < budget.buckets_max && doomed.len() < budget.expired_max {
        *cursor = expire.traverse(*cursor, |key, &deadline_ms| {
            report.checked += 1;
            if is_expired(deadline_ms, now_ms) && doomed.len() < budget.expired_max {
                doomed.push(key.clone());
            }
        });
        report.buckets_visited += 1;
        if *cursor == 0 {
            report.cycle_done = true;
            break;
        }
    }
    (doomed, report)
}
