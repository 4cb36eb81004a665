//! Shared by the runtime's integration tests: every test runs once per backend.
#![allow(dead_code)]

use damselfly_runtime::{BackendChoice, ProactorPool};

pub const BACKENDS: [BackendChoice; 2] = [BackendChoice::Uring, BackendChoice::Epoll];

pub fn pool(backend: BackendChoice, threads: usize) -> ProactorPool {
    ProactorPool::builder()
        .threads(threads)
        .backend(backend)
        .pin(false)
        .build()
        .unwrap_or_else(|e| panic!("cannot start a {backend:?} pool: {e}"))
}

/// Runs `f` for each backend, naming the backend if it panics.
pub fn each_backend(mut f: impl FnMut(BackendChoice)) {
    for b in BACKENDS {
        eprintln!("-- backend {b:?}");
        f(b);
    }
}

/// Raises the open-file limit to its hard limit (many sockets in one process).
pub fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit on a live local struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}
