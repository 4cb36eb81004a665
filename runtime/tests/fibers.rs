//! Fibers and the fiber-aware primitives, on both backends.

mod common;

use common::{each_backend, pool};
use damselfly_runtime::clock::{self, Time};
use damselfly_runtime::fiber::{self, JoinError};
use damselfly_runtime::sync::{self, oneshot, Event, Mutex, Notify, ReplyCounter};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn spawn_join_and_yield_interleave() {
    each_backend(|b| {
        let p = pool(b, 1);
        let order = p.run_on(0, || {
            let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let handles: Vec<_> = (0..3)
                .map(|i| {
                    let log = log.clone();
                    fiber::spawn(move || {
                        for step in 0..3 {
                            log.borrow_mut().push((i, step));
                            fiber::yield_now();
                        }
                        i * 10
                    })
                })
                .collect();
            let sums: Vec<i32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(sums, vec![0, 10, 20]);
            let v = log.borrow().clone();
            v
        });
        // Round robin: every fiber takes step 0 before any takes step 1.
        let steps: Vec<i32> = order.iter().map(|(_, s)| *s).collect();
        assert_eq!(steps, vec![0, 0, 0, 1, 1, 1, 2, 2, 2]);
        p.shutdown();
    });
}

#[test]
fn park_and_unpark_across_proactors() {
    each_backend(|b| {
        let p = pool(b, 2);
        let woke = p.run_on(0, || {
            let me = fiber::current();
            let flag = Arc::new(AtomicUsize::new(0));
            let f2 = flag.clone();
            fiber::spawn_on(1, move || {
                fiber::sleep(Duration::from_millis(5));
                f2.store(1, Ordering::SeqCst);
                me.unpark();
            });
            while flag.load(Ordering::SeqCst) == 0 {
                fiber::park();
            }
            flag.load(Ordering::SeqCst)
        });
        assert_eq!(woke, 1);
        p.shutdown();
    });
}

#[test]
fn timers_fire_in_deadline_order() {
    each_backend(|b| {
        let p = pool(b, 1);
        let order = p.run_on(0, || {
            let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let delays = [30u64, 5, 20, 1, 10, 15, 25];
            let hs: Vec<_> = delays
                .iter()
                .map(|&ms| {
                    let log = log.clone();
                    fiber::spawn(move || {
                        let start = clock::now();
                        fiber::sleep(Duration::from_millis(ms));
                        assert!(
                            clock::now() - start >= Duration::from_millis(ms),
                            "woke early"
                        );
                        log.borrow_mut().push(ms);
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
            let v = log.borrow().clone();
            v
        });
        assert_eq!(order, vec![1, 5, 10, 15, 20, 25, 30]);
        p.shutdown();
    });
}

#[test]
fn heartbeat_runs_periodically_until_stopped() {
    each_backend(|b| {
        let p = pool(b, 1);
        let ticks = p.run_on(0, || {
            let n = std::rc::Rc::new(std::cell::Cell::new(0));
            let n2 = n.clone();
            let h = fiber::every("heartbeat", Duration::from_millis(2), move || {
                n2.set(n2.get() + 1);
                n2.get() < 5
            });
            h.join().unwrap();
            n.get()
        });
        assert_eq!(ticks, 5);
        p.shutdown();
    });
}

#[test]
fn mutex_serializes_fibers_on_all_proactors() {
    each_backend(|b| {
        let p = pool(b, 2);
        let m = Arc::new(Mutex::new(0u64));
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let m = m.clone();
                p.spawn_on(i % 2, move || {
                    for _ in 0..500 {
                        let mut g = m.lock();
                        let v = *g;
                        fiber::yield_now(); // hold the lock across a switch
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*m.lock(), 4000);
        p.shutdown();
    });
}

#[test]
fn event_notify_oneshot_and_deadlines() {
    each_backend(|b| {
        let p = pool(b, 2);
        let ev = Arc::new(Event::new());
        let ev2 = ev.clone();
        let waiter = p.spawn_on(1, move || {
            ev2.wait();
            ev2.is_set()
        });
        p.run_on(0, move || {
            fiber::sleep(Duration::from_millis(2));
            ev.set()
        });
        assert!(waiter.join().unwrap());

        let n = Arc::new(Notify::new());
        n.notify_one(); // stored permit
        let n2 = n.clone();
        let got = p.run_on(0, move || {
            let first = n2.notified_until(Some(clock::now() + Duration::from_millis(1)));
            let second = n2.notified_until(Some(clock::now() + Duration::from_millis(5)));
            (first, second)
        });
        assert_eq!(got, (true, false));

        let (tx, rx) = oneshot::channel::<String>();
        p.spawn_on(1, move || tx.send("hello".into()));
        assert_eq!(p.run_on(0, move || rx.recv()).unwrap(), "hello");
        let (tx, rx) = oneshot::channel::<u8>();
        drop(tx);
        assert!(p.run_on(0, move || rx.recv()).is_err());
        p.shutdown();
    });
}

#[test]
fn bounded_channel_back_pressure_and_close() {
    each_backend(|b| {
        let p = pool(b, 2);
        let (tx, rx) = sync::bounded::<u32>(4);
        let producer = p.spawn_on(0, move || {
            for i in 0..10_000 {
                tx.send(i).unwrap();
            }
        });
        let consumer = p.spawn_on(1, move || {
            let mut next = 0;
            while let Ok(v) = rx.recv() {
                assert_eq!(v, next);
                next += 1;
                if next % 1000 == 0 {
                    fiber::sleep(Duration::from_micros(200));
                }
            }
            next
        });
        producer.join().unwrap();
        assert_eq!(consumer.join().unwrap(), 10_000);

        let (tx, rx) = sync::bounded::<u32>(1);
        let r = p.run_on(0, move || {
            let t = rx.recv_until(Some(clock::now() + Duration::from_millis(3)));
            drop(rx);
            (t, tx.send(1))
        });
        assert_eq!(r.0, Err(sync::RecvError::TimedOut));
        assert!(r.1.is_err());
        p.shutdown();
    });
}

#[test]
fn reply_counter_fans_out_to_every_proactor() {
    each_backend(|b| {
        let p = pool(b, 2);
        let total = p.run_on(0, || {
            let counter = Arc::new(ReplyCounter::new(0));
            let sum = Arc::new(AtomicUsize::new(0));
            for round in 0..200 {
                counter.add(2);
                for shard in 0..2 {
                    let (c, s) = (counter.clone(), sum.clone());
                    fiber::spawn_on(shard, move || {
                        s.fetch_add(round + shard, Ordering::SeqCst);
                        c.done();
                    });
                }
                counter.wait();
                assert_eq!(counter.pending(), 0);
            }
            sum.load(Ordering::SeqCst)
        });
        assert_eq!(total, (0..200).map(|r| 2 * r + 1).sum::<usize>());
        p.shutdown();
    });
}

#[test]
fn panic_in_fiber_is_reported_and_others_continue() {
    each_backend(|b| {
        let p = pool(b, 1);
        let r = p.spawn_on(0, || -> u32 { panic!("boom") }).join();
        assert_eq!(r, Err(JoinError::Panicked("boom".into())));
        assert_eq!(p.run_on(0, || 7), 7);
        p.shutdown();
    });
}

#[test]
fn thread_outside_pool_can_wait_on_primitives() {
    each_backend(|b| {
        let p = pool(b, 1);
        let ev = Arc::new(Event::new());
        let ev2 = ev.clone();
        p.spawn_on(0, move || {
            fiber::sleep(Duration::from_millis(2));
            ev2.set();
        });
        assert!(ev.wait_until(Some(clock::now() + Duration::from_secs(10))));
        assert!(clock::now() > Time::ZERO);
        p.shutdown();
    });
}
