//! The latency monitor (LATENCY LATEST/HISTORY/RESET/DOCTOR) and the per-command latency
//! histograms (LATENCY HISTOGRAM, INFO latencystats, Prometheus; see `metrics::histogram`).
//!
//! Events are recorded only when they last at least `latency-monitor-threshold` ms, so the
//! server-wide lock is taken only for slow events. The histograms are per proactor (thread
//! local, no lock, no allocation once a command has been seen) and merged when asked for.

use crate::metrics::histogram::Histogram;
use crate::registry::CommandSpec;
use damselfly_runtime::sync::SpinLock;
use std::cell::RefCell;
use std::collections::HashMap;

/// Samples kept per event: one per second, the oldest dropped first (as Redis keeps 160).
pub const HISTORY_LEN: usize = 160;

#[derive(Clone, Copy, Default)]
pub struct Sample {
    pub unix_secs: u64,
    pub ms: u64,
}

/// One event's history: the last samples (oldest first) and the all-time maximum.
#[derive(Default)]
pub struct EventHistory {
    pub samples: std::collections::VecDeque<Sample>,
    pub max_ms: u64,
}

/// The server's latency events, in the order they first happened.
#[derive(Default)]
pub struct LatencyMonitor {
    events: SpinLock<Vec<(&'static str, EventHistory)>>,
}

impl LatencyMonitor {
    /// Records `ms` for `event` at `unix_secs`: a second's sample keeps its largest latency.
    pub fn record(&self, event: &'static str, ms: u64, unix_secs: u64) {
        let mut events = self.events.lock();
        let i = match events.iter().position(|(e, _)| *e == event) {
            Some(i) => i,
            None => {
                events.push((event, EventHistory::default()));
                events.len() - 1
            }
        };
        let h = &mut events[i].1;
        h.max_ms = h.max_ms.max(ms);
        if let Some(last) = h.samples.back_mut() {
            if last.unix_secs == unix_secs {
                last.ms = last.ms.max(ms);
                return;
            }
        }
        if h.samples.len() == HISTORY_LEN {
            h.samples.pop_front();
        }
        h.samples.push_back(Sample { unix_secs, ms });
    }

    /// Reads every event: name, samples (oldest first), all-time max.
    pub fn with_events<R>(&self, f: impl FnOnce(&[(&'static str, EventHistory)]) -> R) -> R {
        f(&self.events.lock())
    }

    /// Forgets the named events (all when `names` is None); returns how many were known.
    pub fn reset(&self, names: Option<&[String]>) -> usize {
        let mut events = self.events.lock();
        match names {
            None => {
                let n = events.len();
                events.clear();
                n
            }
            Some(names) => {
                let before = events.len();
                events.retain(|(e, _)| !names.iter().any(|n| n == e));
                before - events.len()
            }
        }
    }
}

/// After a command ran for `nanos`: counted in its histogram, and recorded as a `command`
/// (or `fast-command`) event when at least `latency-monitor-threshold` ms slow.
#[inline]
pub fn command_done(
    server: &crate::server::ServerState,
    (index, spec): (usize, &CommandSpec),
    name: &'static str,
    nanos: u64,
) {
    if server.client_limits.latency_tracking() {
        count_call(index, spec, name, nanos);
    }
    let threshold = server.client_limits.latency_threshold_ms();
    if threshold > 0 && nanos / 1_000_000 >= threshold {
        let event = if spec.has(crate::registry::flags::FAST) {
            "fast-command"
        } else {
            "command"
        };
        record_event(server, event, nanos);
    }
}

/// Records `event` if it took at least `latency-monitor-threshold` ms (expiry, eviction).
pub fn event_done(server: &crate::server::ServerState, event: &'static str, nanos: u64) {
    let threshold = server.client_limits.latency_threshold_ms();
    if threshold > 0 && nanos / 1_000_000 >= threshold {
        record_event(server, event, nanos);
    }
}

/// [`event_done`] for an event that started at `started`; returns when it ended.
pub fn timed(
    server: &crate::server::ServerState,
    event: &'static str,
    started: damselfly_runtime::clock::Time,
) -> damselfly_runtime::clock::Time {
    let now = damselfly_runtime::clock::now();
    event_done(
        server,
        event,
        now.as_nanos().saturating_sub(started.as_nanos()),
    );
    now
}

#[inline(never)]
fn record_event(server: &crate::server::ServerState, event: &'static str, nanos: u64) {
    let secs = damselfly_runtime::clock::wall_now_ms() / 1000;
    server.latency.record(event, nanos / 1_000_000, secs);
}

/// Per-proactor histograms: by registry index for commands, by name for subcommands.
#[derive(Default)]
struct Histograms {
    commands: Vec<Option<Histogram>>,
    subcommands: HashMap<&'static str, Histogram>,
}

thread_local! {
    static HISTOGRAMS: RefCell<Histograms> = RefCell::default();
}

/// Counts one call of a command in this proactor's histograms; `name` is the subcommand's
/// full name for a container (`config|set`), else the command's. Out of line, so the
/// command path around it is laid out as without it.
#[inline(never)]
pub fn count_call(index: usize, spec: &CommandSpec, name: &'static str, nanos: u64) {
    HISTOGRAMS.with(|h| {
        let mut h = h.borrow_mut();
        if !spec.subcommands.is_empty() && name != spec.name {
            h.subcommands.entry(name).or_default().record(nanos);
            return;
        }
        if h.commands.len() <= index {
            h.commands.resize_with(index + 1, || None);
        }
        h.commands[index]
            .get_or_insert_with(Histogram::default)
            .record(nanos);
    });
}

/// This proactor's histograms by command name (run on each proactor, merged by the caller).
pub fn local_histograms() -> Vec<(&'static str, Histogram)> {
    let registry = crate::registry::Registry::get();
    HISTOGRAMS.with(|h| {
        let h = h.borrow();
        let commands = h
            .commands
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((registry.commands().get(i)?.name, c.as_ref()?.clone())));
        let subs = h.subcommands.iter().map(|(n, c)| (*n, c.clone()));
        commands.chain(subs).collect()
    })
}

/// Every proactor's histograms merged, by command name (in no particular order).
pub fn merged_histograms() -> Vec<(&'static str, Histogram)> {
    let per = crate::tx::on_all_shards(&|_| local_histograms());
    let mut merged: Vec<(&'static str, Histogram)> = Vec::new();
    for (name, h) in per.into_iter().flatten() {
        match merged.iter_mut().find(|(n, _)| *n == name) {
            Some((_, m)) => m.merge(&h),
            None => merged.push((name, h)),
        }
    }
    merged
}

/// Zeroes this proactor's histograms (CONFIG RESETSTAT).
pub fn reset_local_histograms() {
    HISTOGRAMS.with(|h| *h.borrow_mut() = Histograms::default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_keeping_the_largest() {
        let m = LatencyMonitor::default();
        m.record("command", 50, 100);
        m.record("command", 20, 100);
        m.record("command", 30, 101);
        m.with_events(|e| {
            assert_eq!(e.len(), 1);
            let h = &e[0].1;
            assert_eq!(h.max_ms, 50);
            let s: Vec<_> = h.samples.iter().map(|s| (s.unix_secs, s.ms)).collect();
            assert_eq!(s, vec![(100, 50), (101, 30)]);
        });
        for t in 0..200 {
            m.record("command", 1, 200 + t);
        }
        m.with_events(|e| assert_eq!(e[0].1.samples.len(), HISTORY_LEN));
        assert_eq!(m.reset(Some(&["nosuch".into()])), 0);
        assert_eq!(m.reset(Some(&["command".into()])), 1);
        assert_eq!(m.reset(None), 0);
    }
}
