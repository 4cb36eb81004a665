//! The I/O backends behind one API. The backend is chosen when the pool starts (not by a Cargo
//! feature), so a program embedding the server can pick one at run time.

pub(crate) mod epoll;
pub(crate) mod uring;

use crate::proactor::Proactor;
use std::io;
use std::time::Duration;

/// Which backend to use.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// io_uring when the probe passes, else epoll with one log line naming the cause.
    Auto,
    Uring,
    Epoll,
    /// The deterministic simulator: every proactor on one thread, virtual time, simulated
    /// TCP (see `crate::sim`).
    Sim,
}

impl std::str::FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            "uring" | "io_uring" => Ok(BackendChoice::Uring),
            "epoll" => Ok(BackendChoice::Epoll),
            "sim" => Ok(BackendChoice::Sim),
            _ => Err(format!(
                "unknown io backend '{s}' (expected auto, uring, epoll or sim)"
            )),
        }
    }
}

/// The backend a pool runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Uring,
    Epoll,
    Sim,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Uring => "io_uring",
            Backend::Epoll => "epoll",
            Backend::Sim => "sim",
        })
    }
}

/// Probes io_uring on a short-lived thread of its own: tearing a ring down queues task work to
/// the thread that created it, which would interrupt that thread's next blocking syscall with
/// EINTR — the caller's thread must not be the one.
fn probe_uring() -> io::Result<()> {
    std::thread::Builder::new()
        .name("io_uring-probe".into())
        .spawn(uring::probe)?
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("io_uring probe panicked")))
}

/// Resolves a choice to a backend, probing io_uring when needed.
pub fn resolve(choice: BackendChoice) -> io::Result<Backend> {
    match choice {
        BackendChoice::Epoll => Ok(Backend::Epoll),
        BackendChoice::Sim => Ok(Backend::Sim),
        BackendChoice::Uring => probe_uring().map(|_| Backend::Uring).map_err(explain),
        BackendChoice::Auto => match probe_uring() {
            Ok(()) => Ok(Backend::Uring),
            Err(e) => {
                log::warn!("io_uring unavailable, using epoll: {}", explain(e));
                Ok(Backend::Epoll)
            }
        },
    }
}

/// Turns a failed io_uring probe into an actionable message.
fn explain(e: io::Error) -> io::Error {
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .map(|s| s.trim() != "0")
        .unwrap_or(false);
    let why = match e.raw_os_error() {
        Some(libc::ENOSYS) => "the kernel has no io_uring (ENOSYS: too old, or a sandbox removed it)".to_string(),
        Some(libc::EPERM) if disabled => {
            "io_uring is disabled by the kernel.io_uring_disabled sysctl (EPERM)".to_string()
        }
        Some(libc::EPERM) => "io_uring is blocked (EPERM), usually by a seccomp profile; for Docker run with --security-opt seccomp=unconfined".to_string(),
        Some(libc::ENOMEM) => "cannot create the ring (ENOMEM): raise the locked-memory limit, e.g. ulimit -l unlimited or --ulimit memlock=-1".to_string(),
        Some(libc::EINVAL) => "the kernel rejected the ring setup flags (EINVAL): kernel too old".to_string(),
        _ => e.to_string(),
    };
    io::Error::new(e.kind(), why)
}

// One driver per proactor, matched on every op: boxing the larger variant would add a pointer
// chase to the hot path for no memory that matters.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Driver {
    Uring(uring::UringDriver),
    Epoll(epoll::EpollDriver),
    Sim(crate::sim::SimDriver),
}

impl Driver {
    pub fn new(backend: Backend, ring_entries: u32) -> io::Result<Driver> {
        Ok(match backend {
            Backend::Uring => Driver::Uring(uring::UringDriver::new(ring_entries)?),
            Backend::Epoll => Driver::Epoll(epoll::EpollDriver::new()?),
            Backend::Sim => Driver::Sim(crate::sim::SimDriver::default()),
        })
    }

    pub fn backend(&self) -> Backend {
        match self {
            Driver::Uring(_) => Backend::Uring,
            Driver::Epoll(_) => Backend::Epoll,
            Driver::Sim(_) => Backend::Sim,
        }
    }

    pub fn uring(&mut self) -> &mut uring::UringDriver {
        match self {
            Driver::Uring(u) => u,
            _ => unreachable!("io_uring op on a proactor of another backend"),
        }
    }

    pub fn epoll(&mut self) -> &mut epoll::EpollDriver {
        match self {
            Driver::Epoll(e) => e,
            _ => unreachable!("epoll op on a proactor of another backend"),
        }
    }

    pub fn sim(&mut self) -> &mut crate::sim::SimDriver {
        match self {
            Driver::Sim(s) => s,
            _ => unreachable!("simulated I/O on a proactor of another backend"),
        }
    }

    pub fn ring_fd(&self) -> i32 {
        match self {
            Driver::Uring(u) => u.ring_fd(),
            Driver::Epoll(_) | Driver::Sim(_) => -1,
        }
    }

    pub fn eventfd(&self) -> i32 {
        match self {
            Driver::Uring(u) => u.eventfd(),
            Driver::Epoll(e) => e.eventfd(),
            Driver::Sim(_) => -1,
        }
    }

    pub fn ops_in_flight(&self) -> usize {
        match self {
            Driver::Uring(u) => u.ops_in_flight(),
            Driver::Epoll(e) => e.ops_in_flight(),
            Driver::Sim(s) => s.ops_in_flight(),
        }
    }

    pub fn reap(&mut self, p: &Proactor) {
        match self {
            Driver::Uring(u) => u.reap(p),
            Driver::Epoll(e) => e.reap(p),
            // Simulated sockets wake their fibers directly.
            Driver::Sim(_) => {}
        }
    }

    pub fn submit(&mut self, _p: &Proactor) {
        if let Driver::Uring(u) = self {
            u.submit();
        }
    }

    pub fn wait(&mut self, p: &Proactor, timeout: Option<Duration>) {
        match self {
            Driver::Uring(u) => u.wait(timeout),
            Driver::Epoll(e) => e.wait(p, timeout),
            // The simulator never lets a proactor sleep: it moves virtual time instead.
            Driver::Sim(_) => {}
        }
    }

    /// Wakes sleeping io_uring proactor `dst` through MSG_RING; false when this proactor
    /// cannot. A MSG_RING that fails later falls back to `dst`'s eventfd when it completes.
    pub fn msg_ring_wake(&mut self, ring_fd: i32, dst: usize) -> bool {
        match self {
            Driver::Uring(u) => u.msg_ring_wake(ring_fd, dst),
            Driver::Epoll(_) | Driver::Sim(_) => false,
        }
    }

    pub fn cancel_all(&mut self, p: &Proactor) {
        match self {
            Driver::Uring(u) => u.cancel_all(),
            Driver::Epoll(e) => e.cancel_all(p),
            Driver::Sim(s) => s.cancel_all(p),
        }
    }

    pub fn finish(&mut self, _p: &Proactor) {
        if let Driver::Uring(u) = self {
            u.finish();
        }
    }
}

pub(crate) fn cancelled_error() -> io::Error {
    io::Error::from_raw_os_error(libc::ECANCELED)
}

pub(crate) fn timed_out_error() -> io::Error {
    io::Error::from_raw_os_error(libc::ETIMEDOUT)
}
