//! Micro-benchmarks of the runtime: fiber switch time and cross-proactor message round trips
//! (target awake and target asleep).
//!
//! cargo run --release -p damselfly-runtime --example micro -- [--io_backend uring|epoll]

use damselfly_runtime::bus::{self, Message, RawCall};
use damselfly_runtime::clock;
use damselfly_runtime::fiber;
use damselfly_runtime::sync::ReplyCounter;
use damselfly_runtime::{BackendChoice, ProactorPool};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const SWITCHES: u64 = 2_000_000;
const ROUND_TRIPS: u64 = 100_000;
const SLEEPY_ROUND_TRIPS: u64 = 2_000;

fn main() {
    let mut backend = BackendChoice::Auto;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--io_backend") {
        backend = args[i + 1].parse().expect("auto|uring|epoll");
    }
    let pool = ProactorPool::builder()
        .threads(2)
        .backend(backend)
        .build()
        .expect("pool");
    println!("backend: {}", pool.backend());

    let ns = pool.run_on(0, || {
        let other = fiber::spawn(|| {
            for _ in 0..SWITCHES {
                fiber::yield_now();
            }
        });
        let start = clock::now();
        for _ in 0..SWITCHES {
            fiber::yield_now();
        }
        let elapsed = clock::now() - start;
        other.join().unwrap();
        // Each iteration switches away and back: two switches through the scheduler.
        elapsed.as_nanos() as f64 / (SWITCHES * 2) as f64
    });
    println!("fiber switch (yield to another fiber via the scheduler): {ns:.1} ns");

    let awake = pool.run_on(0, || round_trips(ROUND_TRIPS, false));
    println!("round trip to proactor 1, target awake (busy): {awake:.2} µs");
    let asleep = pool.run_on(0, || round_trips(SLEEPY_ROUND_TRIPS, true));
    println!("round trip to proactor 1, target asleep: {asleep:.2} µs");
    pool.shutdown();
}

/// Runs on proactor 1: the reply of a hop, the way the coordinator will use it.
fn pong(arg: usize) {
    // SAFETY: `arg` is the address of a ReplyCounter on the sending fiber's stack; that fiber
    // stays parked in `wait` until this `done`, so the counter is alive.
    let counter = unsafe { &*(arg as *const ReplyCounter) };
    counter.done();
}

static STOP_BUSY: AtomicBool = AtomicBool::new(false);

fn round_trips(n: u64, let_target_sleep: bool) -> f64 {
    let busy = if let_target_sleep {
        None
    } else {
        // Keep proactor 1 awake with a fiber that yields in a loop.
        Some(fiber::spawn_on(1, || {
            while !STOP_BUSY.load(Ordering::Acquire) {
                fiber::yield_now();
            }
        }))
    };
    let mut total = Duration::ZERO;
    for _ in 0..n {
        if let_target_sleep {
            fiber::sleep(Duration::from_micros(200)); // proactor 1 goes to sleep meanwhile
        }
        let counter = ReplyCounter::new(1);
        let start = clock::now();
        let arg = &counter as *const ReplyCounter as usize;
        bus::send(1, Message::Call(RawCall { func: pong, arg }));
        counter.wait();
        total += clock::now() - start;
    }
    STOP_BUSY.store(true, Ordering::Release);
    if let Some(b) = busy {
        b.join().unwrap();
    }
    STOP_BUSY.store(false, Ordering::Release);
    total.as_nanos() as f64 / n as f64 / 1000.0
}
