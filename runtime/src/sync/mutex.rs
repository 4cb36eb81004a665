//! A mutex whose waiters park instead of blocking the thread.

use super::{forget_waiter, wait_until, SpinLock, Waiter};
use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};

struct LockState {
    locked: bool,
    waiters: VecDeque<Waiter>,
}

pub struct Mutex<T> {
    state: SpinLock<LockState>,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a guard, and one guard exists at a time.
unsafe impl<T: Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    pub fn new(value: T) -> Self {
        Mutex {
            state: SpinLock::new(LockState {
                locked: false,
                waiters: VecDeque::new(),
            }),
            value: UnsafeCell::new(value),
        }
    }

    /// Waits (parking the fiber) until the lock is free, FIFO among waiters.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        let me = Waiter::current();
        let mut queued = false;
        loop {
            {
                let mut st = self.state.lock();
                let first = st.waiters.front().is_none_or(|w| w.is_same(&me));
                if !st.locked && (first || !queued) {
                    st.locked = true;
                    if queued {
                        forget_waiter(&mut st.waiters, &me);
                    }
                    return MutexGuard { mutex: self };
                }
                if !queued {
                    st.waiters.push_back(me.clone());
                    queued = true;
                }
            }
            wait_until(None);
        }
    }

    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let mut st = self.state.lock();
        if st.locked || !st.waiters.is_empty() {
            return None;
        }
        st.locked = true;
        Some(MutexGuard { mutex: self })
    }

    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves exclusive ownership of the lock.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard proves exclusive ownership of the lock.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        let next = {
            let mut st = self.mutex.state.lock();
            st.locked = false;
            st.waiters.front().cloned()
        };
        if let Some(w) = next {
            w.wake();
        }
    }
}
