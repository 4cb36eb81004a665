//! Bounded multi-producer multi-consumer channel. A full channel parks senders; an empty one
//! parks receivers. Dropping every sender ends the stream; dropping every receiver fails sends.

use super::{forget_waiter, wait_until, SpinLock, Waiter};
use crate::clock::Time;
use std::collections::VecDeque;
use std::sync::Arc;

struct State<T> {
    queue: VecDeque<T>,
    capacity: usize,
    senders: usize,
    receivers: usize,
    recv_waiters: VecDeque<Waiter>,
    send_waiters: VecDeque<Waiter>,
}

pub struct Sender<T> {
    shared: Arc<SpinLock<State<T>>>,
}

pub struct Receiver<T> {
    shared: Arc<SpinLock<State<T>>>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct SendError<T>(pub T);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// Every sender is gone and the channel is empty.
    Disconnected,
    TimedOut,
}

pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "a channel needs room for one value");
    let shared = Arc::new(SpinLock::new(State {
        queue: VecDeque::with_capacity(capacity.min(1024)),
        capacity,
        senders: 1,
        receivers: 1,
        recv_waiters: VecDeque::new(),
        send_waiters: VecDeque::new(),
    }));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Waits for room, then queues `value`.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let me = Waiter::current();
        let mut value = Some(value);
        loop {
            let queued = {
                let mut st = self.shared.lock();
                if st.receivers == 0 || super::stopping() {
                    forget_waiter(&mut st.send_waiters, &me);
                    return Err(SendError(value.take().expect("value kept until sent")));
                }
                if st.queue.len() < st.capacity {
                    forget_waiter(&mut st.send_waiters, &me);
                    st.queue
                        .push_back(value.take().expect("value kept until sent"));
                    Some(st.recv_waiters.pop_front())
                } else {
                    if !st.send_waiters.iter().any(|w| w.is_same(&me)) {
                        st.send_waiters.push_back(me.clone());
                    }
                    None
                }
            };
            match queued {
                Some(receiver) => {
                    if let Some(w) = receiver {
                        w.wake();
                    }
                    return Ok(());
                }
                None => {
                    wait_until(None);
                }
            }
        }
    }

    pub fn try_send(&self, value: T) -> Result<(), SendError<T>> {
        let wake = {
            let mut st = self.shared.lock();
            if st.receivers == 0 || st.queue.len() >= st.capacity {
                return Err(SendError(value));
            }
            st.queue.push_back(value);
            st.recv_waiters.pop_front()
        };
        if let Some(w) = wake {
            w.wake();
        }
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waiters = {
            let mut st = self.shared.lock();
            st.senders -= 1;
            if st.senders == 0 {
                std::mem::take(&mut st.recv_waiters)
            } else {
                VecDeque::new()
            }
        };
        for w in waiters {
            w.wake();
        }
    }
}

impl<T> Receiver<T> {
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_until(None)
    }

    /// Waits for a value until `deadline`.
    pub fn recv_until(&self, deadline: Option<Time>) -> Result<T, RecvError> {
        let me = Waiter::current();
        loop {
            {
                let mut st = self.shared.lock();
                if let Some(v) = st.queue.pop_front() {
                    forget_waiter(&mut st.recv_waiters, &me);
                    let w = st.send_waiters.pop_front();
                    drop(st);
                    if let Some(w) = w {
                        w.wake();
                    }
                    return Ok(v);
                }
                if st.senders == 0 || super::stopping() {
                    forget_waiter(&mut st.recv_waiters, &me);
                    return Err(RecvError::Disconnected);
                }
                if !st.recv_waiters.iter().any(|w| w.is_same(&me)) {
                    st.recv_waiters.push_back(me.clone());
                }
            }
            if wait_until(deadline) {
                let mut st = self.shared.lock();
                forget_waiter(&mut st.recv_waiters, &me);
                if st.queue.is_empty() {
                    return Err(RecvError::TimedOut);
                }
            }
        }
    }

    pub fn try_recv(&self) -> Option<T> {
        let (v, w) = {
            let mut st = self.shared.lock();
            let v = st.queue.pop_front();
            let w = if v.is_some() {
                st.send_waiters.pop_front()
            } else {
                None
            };
            (v, w)
        };
        if let Some(w) = w {
            w.wake();
        }
        v
    }

    pub fn len(&self) -> usize {
        self.shared.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.shared.lock().receivers += 1;
        Receiver {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let waiters = {
            let mut st = self.shared.lock();
            st.receivers -= 1;
            if st.receivers == 0 {
                std::mem::take(&mut st.send_waiters)
            } else {
                VecDeque::new()
            }
        };
        for w in waiters {
            w.wake();
        }
    }
}
