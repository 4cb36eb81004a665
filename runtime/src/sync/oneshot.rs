//! One value, sent once, received once: hop replies, join handles, `run_on` answers.

use super::{wait_until, SpinLock, Waiter};
use std::sync::Arc;

struct State<T> {
    value: Option<T>,
    sender_gone: bool,
    waiter: Option<Waiter>,
}

pub struct Sender<T> {
    shared: Option<Arc<SpinLock<State<T>>>>,
}

pub struct Receiver<T> {
    shared: Arc<SpinLock<State<T>>>,
}

/// The sender was dropped without sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Canceled;

pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(SpinLock::new(State {
        value: None,
        sender_gone: false,
        waiter: None,
    }));
    (
        Sender {
            shared: Some(shared.clone()),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    pub fn send(mut self, value: T) {
        let shared = self.shared.take().expect("sent once");
        let waiter = {
            let mut st = shared.lock();
            st.value = Some(value);
            st.sender_gone = true;
            st.waiter.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let waiter = {
                let mut st = shared.lock();
                st.sender_gone = true;
                st.waiter.take()
            };
            if let Some(w) = waiter {
                w.wake();
            }
        }
    }
}

impl<T> Receiver<T> {
    /// Waits for the value (parks a fiber; blocks a thread outside the pool).
    pub fn recv(self) -> Result<T, Canceled> {
        loop {
            {
                let mut st = self.shared.lock();
                if let Some(v) = st.value.take() {
                    return Ok(v);
                }
                if st.sender_gone || super::stopping() {
                    return Err(Canceled);
                }
                st.waiter = Some(Waiter::current());
            }
            wait_until(None);
        }
    }

    pub fn try_recv(&self) -> Option<T> {
        self.shared.lock().value.take()
    }

    pub fn is_ready(&self) -> bool {
        let st = self.shared.lock();
        st.value.is_some() || st.sender_gone
    }
}
