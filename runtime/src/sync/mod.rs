//! Fiber-aware synchronization that also works across proactors and from plain threads.
//!
//! A waiter is either a fiber (woken by unpark, through the bus when it lives on another
//! proactor) or an OS thread outside the pool (woken by `Thread::unpark`). State is guarded by
//! a short spin lock: critical sections are a few instructions, never a park, so a proactor
//! never blocks in the kernel on them.

pub mod channel;
pub mod counter;
pub mod event;
pub mod mutex;
pub mod oneshot;
mod spin;

pub use channel::{bounded, Receiver, RecvError, SendError, Sender};
pub use counter::ReplyCounter;
pub use event::{Event, Notify};
pub use mutex::{Mutex, MutexGuard};

pub use spin::{SpinGuard, SpinLock};

use crate::clock::{self, Time};
use crate::fiber::{self, FiberRef};

/// Something that waits: a fiber or a thread outside the pool.
#[derive(Clone, Debug)]
pub(crate) enum Waiter {
    Fiber(FiberRef),
    Thread(std::thread::Thread),
}

impl Waiter {
    pub fn current() -> Waiter {
        if fiber::in_fiber() {
            Waiter::Fiber(fiber::current())
        } else {
            assert!(
                crate::proactor::try_current().is_none(),
                "a proactor's loop must not wait; wait from a fiber"
            );
            Waiter::Thread(std::thread::current())
        }
    }

    pub fn is_same(&self, other: &Waiter) -> bool {
        match (self, other) {
            (Waiter::Fiber(a), Waiter::Fiber(b)) => a == b,
            (Waiter::Thread(a), Waiter::Thread(b)) => a.id() == b.id(),
            _ => false,
        }
    }

    pub fn wake(self) {
        match self {
            Waiter::Fiber(f) => f.unpark(),
            Waiter::Thread(t) => t.unpark(),
        }
    }
}

/// Suspends the caller (fiber or thread) until woken or `deadline`; may return spuriously.
/// Returns true when the deadline has passed.
pub(crate) fn wait_until(deadline: Option<Time>) -> bool {
    if fiber::in_fiber() {
        match deadline {
            Some(d) => fiber::park_until(d),
            None => {
                fiber::park();
                false
            }
        }
    } else {
        match deadline {
            Some(d) => {
                let now = clock::now();
                if now >= d {
                    return true;
                }
                std::thread::park_timeout(d - now);
                clock::now() >= d
            }
            None => {
                std::thread::park();
                false
            }
        }
    }
}

/// Removes `me` from a waiter list (after a wait ends for any reason).
pub(crate) fn forget_waiter(list: &mut std::collections::VecDeque<Waiter>, me: &Waiter) {
    list.retain(|w| !w.is_same(me));
}

/// True when the calling fiber's proactor is shutting down (waits give up then).
pub(crate) fn stopping() -> bool {
    crate::proactor::try_current().is_some_and(|p| p.stopping.get())
}
