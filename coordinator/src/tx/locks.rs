//! Intent locks of one shard (VLL): per key (or per `{hashtag}`), counts of shared and exclusive
//! holders, plus a shard-wide lock for global transactions. Keys are identified by a 64-bit
//! hash; a collision only makes two keys conflict, never lets a conflict through.

use std::collections::HashMap;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
struct Counts {
    shared: u32,
    exclusive: u32,
}

impl Counts {
    fn free_for(&self, mode: LockMode) -> bool {
        match mode {
            LockMode::Shared => self.exclusive == 0,
            LockMode::Exclusive => self.exclusive == 0 && self.shared == 0,
        }
    }
    fn add(&mut self, mode: LockMode) {
        match mode {
            LockMode::Shared => self.shared += 1,
            LockMode::Exclusive => self.exclusive += 1,
        }
    }
    fn sub(&mut self, mode: LockMode) {
        match mode {
            LockMode::Shared => {
                assert!(self.shared > 0, "shared lock released twice");
                self.shared -= 1
            }
            LockMode::Exclusive => {
                assert!(self.exclusive > 0, "exclusive lock released twice");
                self.exclusive -= 1
            }
        }
    }
    fn is_zero(&self) -> bool {
        self.shared == 0 && self.exclusive == 0
    }
}

#[derive(Default)]
pub struct IntentLocks {
    keys: HashMap<u64, Counts, damselfly_shards::PoolHasher>,
    global: Counts,
}

impl IntentLocks {
    /// True when a holder of `mode` on `key` would conflict with nobody.
    pub fn is_free(&self, key: u64, mode: LockMode) -> bool {
        if self.global.exclusive > 0 {
            return false;
        }
        // The common case on the hot path: nothing locked, no hashing at all.
        self.keys.is_empty() || self.keys.get(&key).is_none_or(|c| c.free_for(mode))
    }

    /// True when nothing at all is locked (a global transaction can run at once).
    pub fn is_idle(&self) -> bool {
        self.global.is_zero() && self.keys.is_empty()
    }

    /// Takes the lock whether or not it is free (the queue orders conflicting holders); returns
    /// whether it was free.
    pub fn acquire(&mut self, key: u64, mode: LockMode) -> bool {
        let free = self.is_free(key, mode);
        self.keys.entry(key).or_default().add(mode);
        free
    }

    pub fn release(&mut self, key: u64, mode: LockMode) {
        let c = self
            .keys
            .get_mut(&key)
            .expect("released a lock that is not held");
        c.sub(mode);
        if c.is_zero() {
            self.keys.remove(&key);
        }
    }

    pub fn acquire_global(&mut self) -> bool {
        let free = self.is_idle();
        self.global.add(LockMode::Exclusive);
        free
    }

    pub fn release_global(&mut self) {
        self.global.sub(LockMode::Exclusive);
    }

    pub fn held(&self) -> usize {
        self.keys.len() + (!self.global.is_zero()) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_and_exclusive_conflicts() {
        let mut l = IntentLocks::default();
        assert!(l.acquire(1, LockMode::Shared));
        assert!(l.acquire(1, LockMode::Shared));
        assert!(!l.is_free(1, LockMode::Exclusive));
        assert!(l.is_free(2, LockMode::Exclusive));
        assert!(!l.acquire(1, LockMode::Exclusive));
        l.release(1, LockMode::Shared);
        l.release(1, LockMode::Shared);
        l.release(1, LockMode::Exclusive);
        assert!(l.is_idle());
        assert!(l.acquire_global());
        assert!(!l.is_free(2, LockMode::Shared));
        l.release_global();
        assert_eq!(l.held(), 0);
    }
}
