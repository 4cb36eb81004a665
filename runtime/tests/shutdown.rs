//! Shutdown with fibers parked everywhere, and the crash behaviour of fibers (stack overflow,
//! panic in a critical fiber), tested in child processes.

mod common;

use common::{each_backend, pool};
use damselfly_runtime::fiber;
use damselfly_runtime::net::{TcpListener, TcpStream};
use damselfly_runtime::sync::{self, Mutex, Notify};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct DropCount(Arc<AtomicUsize>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
#[allow(clippy::disallowed_methods)] // measures wall time of the shutdown from outside the pool
fn shutdown_with_fibers_parked_runs_their_destructors() {
    each_backend(|b| {
        let p = pool(b, 2);
        let dropped = Arc::new(AtomicUsize::new(0));
        let (_tx, rx) = sync::bounded::<u8>(1);
        let mutex = Arc::new(Mutex::new(()));
        let notify = Arc::new(Notify::new());
        let held = {
            let m = mutex.clone();
            let d = DropCount(dropped.clone());
            p.spawn_on(0, move || {
                let _g = m.lock();
                let _d = d;
                fiber::sleep(Duration::from_secs(3600));
            })
        };
        let mut parked = vec![held];
        for i in 0..2 {
            let d = DropCount(dropped.clone());
            let rx = rx.clone();
            parked.push(p.spawn_on(i, move || {
                let _d = d;
                let _ = rx.recv();
            }));
            let d = DropCount(dropped.clone());
            let m = mutex.clone();
            parked.push(p.spawn_on(i, move || {
                let _d = d;
                fiber::sleep(Duration::from_millis(10));
                let _g = m.lock();
            }));
            let d = DropCount(dropped.clone());
            let n = notify.clone();
            parked.push(p.spawn_on(i, move || {
                let _d = d;
                n.notified();
            }));
            let d = DropCount(dropped.clone());
            parked.push(p.spawn_on(i, move || {
                let _d = d;
                let l = TcpListener::bind(([127, 0, 0, 1], 0).into()).unwrap();
                let c = TcpStream::connect(l.local_addr()).unwrap();
                let (_s, _) = l.accept().unwrap();
                let mut buf = [0u8; 16];
                let _ = c.recv(&mut buf); // parked in the kernel until shutdown cancels it
            }));
        }
        std::thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        p.shutdown();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "shutdown took {:?}",
            start.elapsed()
        );
        assert_eq!(
            dropped.load(Ordering::SeqCst),
            9,
            "every parked fiber's locals were dropped"
        );
        for h in parked {
            let _ = h.join(); // cancelled or finished; must not hang
        }
    });
}

/// Runs this test binary again with only `test` selected and `DAMSELFLY_CHILD` set.
fn run_child(test: &str, scenario: &str) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env("DAMSELFLY_CHILD", scenario)
        .output()
        .unwrap()
}

fn child_scenario() -> Option<String> {
    std::env::var("DAMSELFLY_CHILD").ok()
}

#[inline(never)]
fn recurse(depth: u64, pad: &mut [u8; 512]) -> u64 {
    let mut local = [0u8; 512];
    local[(depth % 512) as usize] = pad[0].wrapping_add(1);
    std::hint::black_box(&mut local);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1, &mut local) + local[3] as u64
}

#[test]
fn stack_overflow_aborts_naming_the_fiber() {
    if let Some(s) = child_scenario() {
        let backend = s.parse().unwrap();
        let p = pool(backend, 1);
        let h = p.spawn_named(0, "deep-recursion", || recurse(0, &mut [0u8; 512]));
        let _ = h.join();
        unreachable!("the overflow must have aborted the process");
    }
    for b in ["uring", "epoll"] {
        let out = run_child("stack_overflow_aborts_naming_the_fiber", b);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            stderr.contains("fiber stack overflow in fiber 'deep-recursion'"),
            "stderr was: {stderr}"
        );
    }
}

#[test]
fn panic_in_critical_fiber_aborts_the_process() {
    if let Some(s) = child_scenario() {
        let p = pool(s.parse().unwrap(), 1);
        let h = p.spawn_on(0, || {
            fiber::Builder::new()
                .name("shard-0")
                .critical(true)
                .spawn(|| panic!("half-mutated"));
            fiber::sleep(Duration::from_secs(10));
        });
        let _ = h.join();
        unreachable!("the critical panic must have aborted the process");
    }
    for b in ["uring", "epoll"] {
        let out = run_child("panic_in_critical_fiber_aborts_the_process", b);
        let stderr = String::from_utf8_lossy(&out.stderr);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(libc::SIGABRT), "stderr: {stderr}");
        assert!(stderr.contains("half-mutated"), "stderr: {stderr}");
    }
}
