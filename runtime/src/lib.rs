//! damselfly-runtime: the thread-per-core runtime every other part of Damselfly runs on.
//!
//! - [`pool`]: `ProactorPool` — N pinned threads, one proactor each; the door for other threads.
//! - `proactor`: the per-thread loop (completions → inboxes → timers → fibers → sleep).
//! - [`fiber`]: stackful fibers on corosensei — spawn, join, yield, park/unpark, sleep,
//!   heartbeat; pooled stacks with guard pages (`stack`), panics caught at the root.
//! - [`sync`]: fiber-aware Mutex, Event, Notify, oneshot, bounded channel, ReplyCounter — usable
//!   across proactors and from plain threads.
//! - [`bus`]: typed messages between proactors over bounded lock-free queues, with MSG_RING or
//!   eventfd wakeups of sleeping targets.
//! - [`clock`]: the runtime's time (`now`, `wall_now_ms`); `timer` is the per-proactor heap.
//! - [`net`], [`fs`]: TCP and files over the chosen backend.
//! - `driver`: the backends, `io_uring` and `epoll`, chosen at start ([`BackendChoice`]).
//! - [`sim`]: the deterministic simulator backend: every proactor on one thread, seeded
//!   scheduling, virtual time, simulated TCP.
//!
//! Rules: a fiber never finishes or unwinds with an op in flight; nothing blocks a proactor
//! thread except its own wait in the kernel; time comes from [`clock`].

pub mod bus;
pub mod clock;
mod driver;
pub mod fiber;
pub mod fs;
pub mod net;
pub mod pool;
mod proactor;
pub mod sim;
mod stack;
pub mod sync;
mod timer;

pub use driver::{resolve as resolve_backend, Backend, BackendChoice};
pub use pool::{PoolBuilder, ProactorPool};
pub use proactor::{
    count as proactor_count, fiber_count, hash_seed, index as proactor_index, local, set_local,
    stopping, work_done,
};
pub use sim::SimConfig;

/// Cores this process may run on (its affinity mask), at least 1: the default proactor count,
/// and the cores proactors are pinned to.
pub fn usable_cores() -> usize {
    core_affinity::get_core_ids()
        .map(|c| c.len())
        .filter(|n| *n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
}
