//! The message bus: a million messages across proactors, none lost, none duplicated, FIFO per
//! sender, with senders parked by full inboxes along the way.

mod common;

use common::{each_backend, pool};
use damselfly_runtime::bus::{self, Message, RawCall};
use damselfly_runtime::fiber;
use damselfly_runtime::sync::ReplyCounter;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

const MESSAGES: u64 = 1_000_000;
const SENDERS: usize = 4; // two fibers on each proactor, each sending to the other proactor

/// Per-sender state the receiving side checks: next expected sequence number and a count.
struct Track {
    next: [AtomicU64; SENDERS],
    received: AtomicU64,
    errors: AtomicUsize,
    done: ReplyCounter,
}

static TRACK: AtomicUsize = AtomicUsize::new(0);

fn on_message(arg: usize) {
    // arg = sender << 48 | seq
    let t = unsafe_track();
    let sender = arg >> 48;
    let seq = (arg & ((1 << 48) - 1)) as u64;
    if t.next[sender].load(Ordering::Relaxed) != seq {
        t.errors.fetch_add(1, Ordering::Relaxed);
    }
    t.next[sender].store(seq + 1, Ordering::Relaxed);
    if t.received.fetch_add(1, Ordering::Relaxed) + 1 == MESSAGES {
        t.done.done();
    }
}

fn unsafe_track() -> &'static Track {
    let p = TRACK.load(Ordering::Acquire) as *const Track;
    // SAFETY: the test stores a pointer into an Arc it keeps alive until every message was
    // handled, and clears it afterwards.
    unsafe { &*p }
}

#[test]
fn million_cross_proactor_messages_none_lost_or_duplicated() {
    each_backend(|b| {
        let p = pool(b, 2);
        let track = Arc::new(Track {
            next: Default::default(),
            received: AtomicU64::new(0),
            errors: AtomicUsize::new(0),
            done: ReplyCounter::new(1),
        });
        TRACK.store(Arc::as_ptr(&track) as usize, Ordering::Release);
        let per_sender = MESSAGES / SENDERS as u64;
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let from = s % 2;
                p.spawn_on(from, move || {
                    let to = 1 - from;
                    for seq in 0..per_sender {
                        let arg = (s << 48) | seq as usize;
                        bus::send(
                            to,
                            Message::Call(RawCall {
                                func: on_message,
                                arg,
                            }),
                        );
                        if seq % 4096 == 0 {
                            fiber::yield_now();
                        }
                    }
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        track.done.wait();
        assert_eq!(track.received.load(Ordering::SeqCst), MESSAGES);
        assert_eq!(
            track.errors.load(Ordering::SeqCst),
            0,
            "out of order or duplicated"
        );
        for s in 0..SENDERS {
            assert_eq!(track.next[s].load(Ordering::SeqCst), per_sender);
        }
        p.shutdown();
        TRACK.store(0, Ordering::Release);
    });
}

#[test]
fn outside_thread_submits_work_and_waits() {
    each_backend(|b| {
        let p = pool(b, 2);
        let sum: u64 = (0..2000u64)
            .map(|i| p.run_on((i % 2) as usize, move || i * 2))
            .sum();
        assert_eq!(sum, (0..2000u64).map(|i| i * 2).sum());
        let hs: Vec<_> = (0..100usize)
            .map(|i| p.spawn_on(i % 2, damselfly_runtime::proactor_index))
            .collect();
        for (i, h) in hs.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), Some(i % 2));
        }
        p.shutdown();
    });
}
