//! Time as the runtime sees it. Every part of Damselfly reads time through here, never through
//! `std::time` directly, so the deterministic simulator can own the clock.
#![allow(clippy::disallowed_methods)] // this module is the one place that reads the OS clock

use std::ops::{Add, Sub};
use std::sync::OnceLock;
use std::time::{Duration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

/// A point on the runtime's monotonic clock, in nanoseconds since the clock's epoch.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(u64);

impl Time {
    pub const ZERO: Time = Time(0);
    pub const MAX: Time = Time(u64::MAX);

    pub fn from_nanos(ns: u64) -> Time {
        Time(ns)
    }
    pub fn as_nanos(self) -> u64 {
        self.0
    }
    /// Time left until `self`, zero if it has passed.
    pub fn saturating_since(self, earlier: Time) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
    pub fn checked_add(self, d: Duration) -> Option<Time> {
        u64::try_from(d.as_nanos())
            .ok()
            .and_then(|ns| self.0.checked_add(ns))
            .map(Time)
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        self.checked_add(d).unwrap_or(Time::MAX)
    }
}

impl Sub<Time> for Time {
    type Output = Duration;
    fn sub(self, earlier: Time) -> Duration {
        self.saturating_since(earlier)
    }
}

thread_local! {
    /// Virtual time in nanoseconds on a thread that runs the simulator; `u64::MAX` elsewhere.
    /// A const-initialized cell: reading it is one thread-local load, no lazy setup.
    static VIRTUAL_NS: std::cell::Cell<u64> = const { std::cell::Cell::new(u64::MAX) };
}

/// Wall clock of a simulated run at virtual time zero (2023-11-14T22:13:20Z): fixed, so expiry
/// deadlines and TIME replies are the same in every replay.
pub const SIM_WALL_EPOCH_MS: u64 = 1_700_000_000_000;

/// True on a thread that runs the simulator (its time is virtual).
pub fn is_simulated() -> bool {
    VIRTUAL_NS.with(|c| c.get()) != u64::MAX
}

/// Makes this thread's time virtual, starting at `t` (the simulator's thread only).
pub(crate) fn enter_virtual(t: Time) {
    VIRTUAL_NS.with(|c| c.set(t.0.min(u64::MAX - 1)));
}

/// Moves virtual time forward to `t` (never backwards).
pub(crate) fn advance_virtual(t: Time) {
    VIRTUAL_NS.with(|c| {
        if c.get() != u64::MAX && t.0 > c.get() {
            c.set(t.0.min(u64::MAX - 1));
        }
    });
}

/// Returns this thread to the OS clock.
pub(crate) fn leave_virtual() {
    VIRTUAL_NS.with(|c| c.set(u64::MAX));
}

fn epoch() -> StdInstant {
    static EPOCH: OnceLock<StdInstant> = OnceLock::new();
    *EPOCH.get_or_init(StdInstant::now)
}

/// Monotonic now.
pub fn now() -> Time {
    let v = VIRTUAL_NS.with(|c| c.get());
    if v != u64::MAX {
        return Time(v);
    }
    let d = StdInstant::now().saturating_duration_since(epoch());
    Time(d.as_nanos() as u64)
}

/// Wall-clock now in milliseconds since the Unix epoch (for expiry deadlines, TIME, LASTSAVE).
pub fn wall_now_ms() -> u64 {
    let v = VIRTUAL_NS.with(|c| c.get());
    if v != u64::MAX {
        return SIM_WALL_EPOCH_MS + v / 1_000_000;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Wall-clock now in microseconds since the Unix epoch.
pub fn wall_now_us() -> u64 {
    let v = VIRTUAL_NS.with(|c| c.get());
    if v != u64::MAX {
        return SIM_WALL_EPOCH_MS * 1000 + v / 1000;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Blocks the calling OS thread. Only for threads that are not proactors (tests, helpers).
pub fn sleep_thread(d: Duration) {
    std::thread::sleep(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_monotonic_and_arithmetic_saturates() {
        let a = now();
        let b = now();
        assert!(b >= a);
        assert_eq!(a - b, Duration::ZERO);
        assert_eq!(Time::MAX + Duration::from_secs(1), Time::MAX);
        assert!(wall_now_ms() > 1_600_000_000_000);
    }

    #[test]
    fn virtual_time_is_per_thread_and_only_moves_forward() {
        std::thread::spawn(|| {
            enter_virtual(Time::from_nanos(5_000_000));
            assert!(is_simulated());
            assert_eq!(now(), Time::from_nanos(5_000_000));
            assert_eq!(wall_now_ms(), SIM_WALL_EPOCH_MS + 5);
            advance_virtual(Time::from_nanos(1_000));
            assert_eq!(now(), Time::from_nanos(5_000_000));
            advance_virtual(Time::from_nanos(3_600_000_000_000));
            assert_eq!(wall_now_ms(), SIM_WALL_EPOCH_MS + 3_600_000);
            leave_virtual();
            assert!(!is_simulated());
        })
        .join()
        .unwrap();
        assert!(!is_simulated());
    }
}
