//! The per-key access clock (Redis's 24-bit `lru` field, here 21 bits): the primary table's
//! 16-bit per-slot stamp holds the low bits, the key cell's spare flag bits the top five
//! ([`CellFlags::KEY_CLOCK`](crate::cell::CellFlags::KEY_CLOCK)), so a key costs 2 bytes
//! more and its clock moves with it through every table rebuild.
//!
//! Like Redis's field, the bits mean one of two things, chosen by the eviction policy:
//! - LRU (every policy but the `*-lfu` ones): the last access in seconds, modulo 2^21
//!   (24 days, where Redis wraps at 194): OBJECT IDLETIME and the `*-lru` policies.
//! - LFU: the time of the last decrement in minutes modulo 2^13 (5.7 days; Redis: 45) in
//!   the top 13 bits, and an 8-bit logarithmic counter (new keys start at
//!   [`LFU_INIT`], each access increments it with probability 1 / ((c - 5) * log_factor + 1),
//!   and it loses one per `lfu-decay-time` minutes without access): OBJECT FREQ and the
//!   `*-lfu` policies.
//!
//! Switching policy at run time reinterprets the bits, as in Redis (hence its error text
//! about data that "will take some time to adjust").

use super::{Db, DbIndex, DbSlice};
use crate::dash::EntryPos;
use crate::FixedHasher;

/// Bits of the clock.
pub const CLOCK_BITS: u32 = 21;
pub const CLOCK_MAX: u32 = (1 << CLOCK_BITS) - 1;
/// Counter of a new key under LFU (Redis's LFU_INIT_VAL).
pub const LFU_INIT: u8 = 5;
const LFU_MINUTES_MASK: u32 = CLOCK_MAX >> 8;

/// `lfu-log-factor` and `lfu-decay-time`, and whether an LFU policy is selected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockSettings {
    pub lfu: bool,
    pub log_factor: u32,
    pub decay_minutes: u32,
}

impl Default for ClockSettings {
    fn default() -> ClockSettings {
        ClockSettings {
            lfu: false,
            log_factor: 10,
            decay_minutes: 1,
        }
    }
}

/// The slice's clock state.
#[derive(Debug)]
pub(super) struct AccessClock {
    pub(super) settings: ClockSettings,
    /// Lookups leave the clock alone (CLIENT NO-TOUCH, OBJECT, and commands Redis runs
    /// with LOOKUP_NOTOUCH).
    pub(super) no_touch: bool,
    random: u64,
}

impl Default for AccessClock {
    fn default() -> AccessClock {
        AccessClock {
            settings: ClockSettings::default(),
            no_touch: false,
            random: 0x2545_f491_4f6c_dd1d,
        }
    }
}

#[inline]
fn lru_now(now_ms: u64) -> u32 {
    (now_ms / 1000) as u32 & CLOCK_MAX
}

#[inline]
fn lfu_minutes(now_ms: u64) -> u32 {
    (now_ms / 60_000) as u32 & LFU_MINUTES_MASK
}

/// Seconds since an LRU stamp (one wrap of the clock assumed at most, as Redis does).
pub fn lru_idle_secs(stamp: u32, now_ms: u64) -> u64 {
    u64::from(lru_now(now_ms).wrapping_sub(stamp) & CLOCK_MAX)
}

/// The LFU counter of `stamp` after its decay up to now (Redis's LFUDecrAndReturn).
pub fn lfu_decayed(stamp: u32, settings: &ClockSettings, now_ms: u64) -> u8 {
    let counter = (stamp & 0xff) as u8;
    if settings.decay_minutes == 0 {
        return counter;
    }
    let elapsed = lfu_minutes(now_ms).wrapping_sub(stamp >> 8) & LFU_MINUTES_MASK;
    let periods = elapsed / settings.decay_minutes;
    counter.saturating_sub(periods.min(255) as u8)
}

/// Redis's LFULogIncr: the counter grows by one with probability 1 / ((c - 5) * f + 1).
pub fn lfu_log_incr(counter: u8, log_factor: u32, random: u64) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT));
    let p = 1.0 / (base * f64::from(log_factor) + 1.0);
    // 53 random bits as a uniform number in [0, 1).
    let r = (random >> 11) as f64 / (1u64 << 53) as f64;
    if r < p {
        counter + 1
    } else {
        counter
    }
}

fn lfu_stamp(counter: u8, now_ms: u64) -> u32 {
    lfu_minutes(now_ms) << 8 | u32::from(counter)
}

impl Db {
    #[inline]
    pub(super) fn clock_at(&self, pos: EntryPos) -> u32 {
        let high = self.primary.entry(pos).0.clock_bits();
        u32::from(high) << 16 | u32::from(self.primary.stamp(pos))
    }

    #[inline]
    pub(super) fn set_clock_at(&mut self, pos: EntryPos, clock: u32) {
        let (key, stamp) = self.primary.key_and_stamp_mut(pos);
        if let Some(stamp) = stamp {
            *stamp = clock as u16;
        }
        key.set_clock_bits((clock >> 16) as u8);
    }
}

impl DbSlice {
    /// Applies `lfu-log-factor`, `lfu-decay-time` and whether the policy is an LFU one.
    pub fn set_clock_settings(&mut self, settings: ClockSettings) {
        self.clock.settings = settings;
    }

    pub fn clock_settings(&self) -> ClockSettings {
        self.clock.settings
    }

    /// Lookups stop (or start again) updating the clock; returns the previous setting. The
    /// coordinator sets it around commands that must not touch keys.
    pub fn set_no_touch(&mut self, on: bool) -> bool {
        std::mem::replace(&mut self.clock.no_touch, on)
    }

    /// Marks the key at `pos` accessed now (a lookup found it).
    #[inline]
    pub(super) fn touch_at(&mut self, db: DbIndex, pos: EntryPos, now_ms: u64) {
        if self.clock.settings.lfu {
            return self.touch_lfu(db, pos, now_ms);
        }
        let Some(d) = self.dbs[db].as_mut() else {
            return;
        };
        let now = lru_now(now_ms);
        let (key, Some(stamp)) = d.primary.key_and_stamp_mut(pos) else {
            return;
        };
        // Only a changed clock is written, so a key read many times a second dirties no line.
        if (u32::from(key.clock_bits()) << 16 | u32::from(*stamp)) != now {
            *stamp = now as u16;
            key.set_clock_bits((now >> 16) as u8);
        }
    }

    #[inline(never)]
    fn touch_lfu(&mut self, db: DbIndex, pos: EntryPos, now_ms: u64) {
        self.clock.random = FixedHasher::hash_u64(self.clock.random.wrapping_add(1));
        let (settings, random) = (self.clock.settings, self.clock.random);
        let Some(d) = self.dbs[db].as_mut() else {
            return;
        };
        let counter = lfu_decayed(d.clock_at(pos), &settings, now_ms);
        let counter = lfu_log_incr(counter, settings.log_factor, random);
        d.set_clock_at(pos, lfu_stamp(counter, now_ms));
    }

    /// The clock a new key starts with.
    pub(super) fn stamp_new(&mut self, db: DbIndex, pos: EntryPos, now_ms: u64) {
        let clock = if self.clock.settings.lfu {
            lfu_stamp(LFU_INIT, now_ms)
        } else {
            lru_now(now_ms)
        };
        if let Some(d) = self.dbs[db].as_mut() {
            d.set_clock_at(pos, clock);
        }
    }

    /// Position of a live key, without touching it.
    fn peek(&mut self, db: DbIndex, key: &[u8], now_ms: u64) -> Option<EntryPos> {
        self.lookup_quiet(db, Self::hash_key(key), key, now_ms)
    }

    /// A lookup that is not an access: the writes that follow another command's own lookup
    /// (SETEX's deadline, PERSIST) must not count twice, as Redis's setExpire finds the key
    /// without touching it.
    pub(super) fn lookup_quiet(
        &mut self,
        db: DbIndex,
        hash: u64,
        key: &[u8],
        now_ms: u64,
    ) -> Option<EntryPos> {
        let no_touch = self.set_no_touch(true);
        let pos = self.lookup(db, hash, key, now_ms);
        self.clock.no_touch = no_touch;
        pos
    }

    /// OBJECT IDLETIME: seconds since the key was last accessed (without touching it); 0
    /// under an LFU policy, whose clock keeps no access time.
    pub fn idle_secs(&mut self, db: DbIndex, key: &[u8], now_ms: u64) -> Option<u64> {
        let pos = self.peek(db, key, now_ms)?;
        if self.clock.settings.lfu {
            return Some(0);
        }
        let stamp = self.dbs[db].as_ref()?.clock_at(pos);
        Some(lru_idle_secs(stamp, now_ms))
    }

    /// OBJECT FREQ: the key's LFU counter after decay (without touching it).
    pub fn lfu_freq(&mut self, db: DbIndex, key: &[u8], now_ms: u64) -> Option<u8> {
        let pos = self.peek(db, key, now_ms)?;
        let stamp = self.dbs[db].as_ref()?.clock_at(pos);
        Some(lfu_decayed(stamp, &self.clock.settings, now_ms))
    }

    /// TOUCH: marks a live key accessed even for a no-touch client; false if missing.
    pub fn touch_key(&mut self, db: DbIndex, key: &[u8], now_ms: u64) -> bool {
        let no_touch = self.set_no_touch(false);
        let found = self.lookup(db, Self::hash_key(key), key, now_ms).is_some();
        self.clock.no_touch = no_touch;
        found
    }

    /// RESTORE IDLETIME / FREQ: what the key's clock is set to, as Redis's
    /// objectSetLRUOrLFU does: the idle time only under an LRU policy, the frequency only
    /// under an LFU one (the other is ignored). False if the key is missing.
    pub fn set_access(
        &mut self,
        db: DbIndex,
        key: &[u8],
        idle_secs: Option<u64>,
        freq: Option<u8>,
        now_ms: u64,
    ) -> bool {
        let Some(pos) = self.peek(db, key, now_ms) else {
            return false;
        };
        let clock = match (self.clock.settings.lfu, idle_secs, freq) {
            (false, Some(idle), _) => {
                let idle = idle.min(u64::from(CLOCK_MAX)) as u32;
                lru_now(now_ms).wrapping_sub(idle) & CLOCK_MAX
            }
            (true, _, Some(freq)) => lfu_stamp(freq, now_ms),
            _ => return true,
        };
        if let Some(d) = self.dbs[db].as_mut() {
            d.set_clock_at(pos, clock);
        }
        true
    }

    /// How strongly the key at `pos` deserves eviction under an LRU/LFU policy: its idle
    /// seconds, or 255 minus its decayed LFU counter (Redis ranks its pool the same way).
    pub(super) fn eviction_rank(&self, db: DbIndex, pos: EntryPos, now_ms: u64) -> u64 {
        let Some(d) = self.dbs[db].as_ref() else {
            return 0;
        };
        let stamp = d.clock_at(pos);
        if self.clock.settings.lfu {
            255 - u64::from(lfu_decayed(stamp, &self.clock.settings, now_ms))
        } else {
            lru_idle_secs(stamp, now_ms)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::{CellFlags, CompactKey};

    #[test]
    fn key_clock_bits_leave_other_flags_alone() {
        let mut heap_key = CompactKey::new(&[b'k'; 40]);
        heap_key.set_flag(CellFlags::HAS_EXPIRY | CellFlags::STICKY, true);
        for bits in 0..32u8 {
            heap_key.set_clock_bits(bits);
            assert_eq!(heap_key.clock_bits(), bits);
            assert!(heap_key.has_flag(CellFlags::HAS_EXPIRY | CellFlags::STICKY));
            assert!(!heap_key.has_flag(CellFlags::MC_META));
            // A clone of a heap key reads its bytes the plain way (MC_META is not set).
            assert_eq!(&*heap_key.clone().as_bytes(), &[b'k'; 40][..]);
        }
        heap_key.set_clock_bits(0xff);
        assert_eq!(heap_key.clock_bits(), 31);
    }

    #[test]
    fn lru_idle_wraps_once() {
        let now = 5_000_000u64 * 1000;
        let stamp = lru_now(now - 1000 * 1000);
        assert_eq!(lru_idle_secs(stamp, now), 1000);
        // A stamp from just before the clock wrapped.
        let wrap_ms = u64::from(CLOCK_MAX + 1) * 1000;
        assert_eq!(lru_idle_secs(CLOCK_MAX - 9, wrap_ms + 5000), 15);
    }

    #[test]
    fn lfu_counter_decays_per_period() {
        let settings = ClockSettings {
            lfu: true,
            log_factor: 10,
            decay_minutes: 2,
        };
        let now = 600 * 60_000u64;
        let stamp = lfu_stamp(20, now);
        assert_eq!(lfu_decayed(stamp, &settings, now), 20);
        assert_eq!(lfu_decayed(stamp, &settings, now + 3 * 60_000), 19);
        assert_eq!(lfu_decayed(stamp, &settings, now + 10 * 60_000), 15);
        assert_eq!(lfu_decayed(stamp, &settings, now + 100 * 60_000), 0);
        let no_decay = ClockSettings {
            decay_minutes: 0,
            ..settings
        };
        assert_eq!(lfu_decayed(stamp, &no_decay, now + 100 * 60_000), 20);
    }

    #[test]
    fn lfu_increments_get_rarer() {
        // Below LFU_INIT + 1 every hit counts.
        assert_eq!(lfu_log_incr(3, 10, u64::MAX), 4);
        assert_eq!(lfu_log_incr(5, 10, u64::MAX - 1), 6);
        assert_eq!(lfu_log_incr(255, 0, 0), 255);
        // redis.conf's table for factor 10: 100K hits reach about 142.
        let (mut c, mut random) = (LFU_INIT, 1u64);
        for _ in 0..100_000 {
            random = FixedHasher::hash_u64(random);
            c = lfu_log_incr(c, 10, random);
        }
        assert!((125..=160).contains(&c), "counter {c}");
    }
}
