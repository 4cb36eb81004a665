//! `Event`: a flag fibers wait on (set / reset / wait). `Notify`: wake one or all waiters, with
//! one stored permit when `notify_one` finds nobody waiting.

use super::{forget_waiter, wait_until, SpinLock, Waiter};
use crate::clock::Time;
use std::collections::VecDeque;

struct EventState {
    set: bool,
    waiters: VecDeque<Waiter>,
}

pub struct Event {
    state: SpinLock<EventState>,
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl Event {
    pub fn new() -> Event {
        Event {
            state: SpinLock::new(EventState {
                set: false,
                waiters: VecDeque::new(),
            }),
        }
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        let waiters = {
            let mut st = self.state.lock();
            st.set = true;
            std::mem::take(&mut st.waiters)
        };
        for w in waiters {
            w.wake();
        }
    }

    pub fn reset(&self) {
        self.state.lock().set = false;
    }

    pub fn is_set(&self) -> bool {
        self.state.lock().set
    }

    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Waits until set or `deadline`; returns whether it is set.
    pub fn wait_until(&self, deadline: Option<Time>) -> bool {
        let me = Waiter::current();
        loop {
            {
                let mut st = self.state.lock();
                if st.set {
                    forget_waiter(&mut st.waiters, &me);
                    return true;
                }
                if !st.waiters.iter().any(|w| w.is_same(&me)) {
                    st.waiters.push_back(me.clone());
                }
            }
            if wait_until(deadline) || super::stopping() {
                let mut st = self.state.lock();
                forget_waiter(&mut st.waiters, &me);
                return st.set;
            }
        }
    }
}

struct NotifyState {
    permit: bool,
    waiters: VecDeque<(Waiter, bool)>,
}

pub struct Notify {
    state: SpinLock<NotifyState>,
}

impl Default for Notify {
    fn default() -> Self {
        Notify::new()
    }
}

impl Notify {
    pub fn new() -> Notify {
        Notify {
            state: SpinLock::new(NotifyState {
                permit: false,
                waiters: VecDeque::new(),
            }),
        }
    }

    /// Wakes the oldest waiter, or leaves a permit for the next `notified` call.
    pub fn notify_one(&self) {
        let w = {
            let mut st = self.state.lock();
            match st.waiters.iter_mut().find(|(_, woken)| !*woken) {
                Some((w, woken)) => {
                    *woken = true;
                    Some(w.clone())
                }
                None => {
                    st.permit = true;
                    None
                }
            }
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Wakes every current waiter (no permit is stored).
    pub fn notify_all(&self) {
        let ws: Vec<Waiter> = {
            let mut st = self.state.lock();
            st.waiters
                .iter_mut()
                .filter(|(_, woken)| !*woken)
                .map(|(w, woken)| {
                    *woken = true;
                    w.clone()
                })
                .collect()
        };
        for w in ws {
            w.wake();
        }
    }

    /// Waits for a notification.
    pub fn notified(&self) {
        self.notified_until(None);
    }

    /// Waits for a notification or `deadline`; returns true when notified.
    pub fn notified_until(&self, deadline: Option<Time>) -> bool {
        let me = Waiter::current();
        {
            let mut st = self.state.lock();
            if st.permit {
                st.permit = false;
                return true;
            }
            st.waiters.push_back((me.clone(), false));
        }
        loop {
            let timed_out = wait_until(deadline) || super::stopping();
            let mut st = self.state.lock();
            let pos = st.waiters.iter().position(|(w, _)| w.is_same(&me));
            match pos {
                Some(i) if st.waiters[i].1 => {
                    st.waiters.remove(i);
                    return true;
                }
                Some(i) if timed_out => {
                    st.waiters.remove(i);
                    return false;
                }
                Some(_) => {}
                None => return true,
            }
        }
    }
}
