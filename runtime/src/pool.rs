//! ProactorPool: N threads, each pinned to a core and running one proactor; the entry point for
//! threads outside the pool (spawn or run work on a proactor, wait for the answer) and the clean
//! shutdown that cancels and drains every op in flight.

use crate::bus::{Bus, Message};
use crate::driver::{self, Backend, BackendChoice, Driver};
use crate::fiber::{Builder, JoinHandle};
use crate::proactor::Proactor;
use crate::stack;
use crate::sync::SpinLock;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread;

/// Usable fiber stack size: 64 KiB in release builds, more in debug builds whose frames are
/// several times larger.
pub const DEFAULT_STACK_SIZE: usize = if cfg!(debug_assertions) {
    256 * 1024
} else {
    64 * 1024
};

pub(crate) struct PoolShared {
    pub id: u32,
    /// Seed of the hash tables whose iteration order can reach replies (`hash_seed`).
    pub hash_seed: u64,
    pub bus: Bus,
    pub backend: Backend,
    stop: AtomicBool,
    /// Proactors whose own fibers have settled during shutdown (the first barrier).
    pub settled: AtomicUsize,
    /// Proactors that have released their fibers' stacks (the second barrier).
    pub released: AtomicUsize,
}

impl PoolShared {
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// Live pools, so a thread outside a pool can wake one of its fibers.
static POOLS: SpinLock<Vec<(u32, Weak<PoolShared>)>> = SpinLock::new(Vec::new());
static NEXT_POOL_ID: AtomicU32 = AtomicU32::new(1);

pub(crate) fn registered_pool(id: u32) -> Option<Arc<PoolShared>> {
    POOLS
        .lock()
        .iter()
        .find(|(i, _)| *i == id)
        .and_then(|(_, w)| w.upgrade())
}

/// A seed no client can guess (std's per-process random keys), for hash tables of a real pool.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(NEXT_POOL_ID.load(Ordering::Relaxed));
    h.finish()
}

/// Options for a pool.
pub struct PoolBuilder {
    threads: Option<usize>,
    backend: BackendChoice,
    pin: bool,
    stack_size: usize,
    ring_entries: u32,
    name: String,
    sim: crate::sim::SimConfig,
    sim_join: Option<crate::sim::SimWorld>,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            threads: None,
            backend: BackendChoice::Auto,
            pin: true,
            stack_size: DEFAULT_STACK_SIZE,
            ring_entries: driver::uring::SQ_ENTRIES,
            name: "proactor".into(),
            sim: Default::default(),
            sim_join: None,
        }
    }
}

impl PoolBuilder {
    /// Number of proactors (default: the cores this process may run on).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n.max(1));
        self
    }
    pub fn backend(mut self, choice: BackendChoice) -> Self {
        self.backend = choice;
        self
    }
    /// Pin proactor i to allowed core i mod cores (default on).
    pub fn pin(mut self, pin: bool) -> Self {
        self.pin = pin;
        self
    }
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }
    /// io_uring submission queue entries per proactor.
    pub fn ring_entries(mut self, n: u32) -> Self {
        self.ring_entries = n;
        self
    }
    /// The simulated run (seed, faults) when the backend is `BackendChoice::Sim`.
    pub fn sim(mut self, cfg: crate::sim::SimConfig) -> Self {
        self.sim = cfg;
        self
    }
    /// With the `Sim` backend: run in the world of another simulated pool (its thread steps
    /// this pool's proactors too, on the same clock and network) instead of a world of its own.
    /// That world's faults apply; `sim`'s seed still seeds this pool's hash tables.
    pub fn sim_join(mut self, world: crate::sim::SimWorld) -> Self {
        self.sim_join = Some(world);
        self
    }
    /// Thread name prefix.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    pub fn build(self) -> io::Result<ProactorPool> {
        let backend = driver::resolve(self.backend)?;
        let cores = core_affinity::get_core_ids().unwrap_or_default();
        let n = self.threads.unwrap_or_else(|| {
            if cores.is_empty() {
                thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            } else {
                cores.len()
            }
        });
        let id = NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed);
        let hash_seed = if backend == Backend::Sim {
            crate::sim::hash_seed(self.sim.seed)
        } else {
            random_seed()
        };
        let shared = Arc::new(PoolShared {
            id,
            hash_seed,
            bus: Bus::new(n),
            backend,
            stop: AtomicBool::new(false),
            settled: AtomicUsize::new(0),
            released: AtomicUsize::new(0),
        });
        POOLS.lock().push((id, Arc::downgrade(&shared)));
        stack::install_overflow_handler();

        let mut threads = Vec::with_capacity(n);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let mut sim_world = None;
        let mut joined = None;
        if let (Backend::Sim, Some(world)) = (backend, &self.sim_join) {
            // The world's thread steps this pool's proactors too.
            let (done, done_rx) = std::sync::mpsc::channel();
            world.join(crate::sim::JoinRequest {
                shared: shared.clone(),
                stack_size: self.stack_size,
                ready: ready_tx.clone(),
                done,
            });
            joined = Some(std::sync::Mutex::new(done_rx));
            sim_world = Some(world.clone());
        } else if backend == Backend::Sim {
            // One thread steps every proactor (see `crate::sim`).
            let door = Arc::new(crate::sim::Door::new()?);
            sim_world = Some(crate::sim::SimWorld(door.clone()));
            let (shared, ready, stack_size, cfg) =
                (shared.clone(), ready_tx.clone(), self.stack_size, self.sim);
            threads.push(
                thread::Builder::new()
                    .name(format!("{}-sim", self.name))
                    .spawn(move || crate::sim::run(shared, stack_size, cfg, door, ready))?,
            );
        }
        for i in (0..n).filter(|_| backend != Backend::Sim) {
            let shared = shared.clone();
            let ready = ready_tx.clone();
            let core = if self.pin && !cores.is_empty() {
                Some(cores[i % cores.len()])
            } else {
                None
            };
            let (stack_size, ring_entries) = (self.stack_size, self.ring_entries);
            let t = thread::Builder::new()
                .name(format!("{}-{i}", self.name))
                .spawn(move || {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    stack::ensure_alt_stack();
                    let driver = match Driver::new(shared.backend, ring_entries) {
                        Ok(d) => d,
                        Err(e) => {
                            let _ = ready.send(Err(e));
                            return;
                        }
                    };
                    shared.bus.ring_fds[i].store(driver.ring_fd(), Ordering::Release);
                    shared.bus.eventfds[i].store(driver.eventfd(), Ordering::Release);
                    let proactor = Proactor::new(i, shared.clone(), driver, stack_size);
                    let _ = ready.send(Ok(()));
                    drop(ready);
                    proactor.run();
                    shared.bus.ring_fds[i].store(-1, Ordering::Release);
                    shared.bus.eventfds[i].store(-1, Ordering::Release);
                })?;
            threads.push(t);
        }
        drop(ready_tx);
        let mut pool = ProactorPool {
            shared,
            threads,
            sim_world,
            joined,
        };
        for _ in 0..n {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    pool.stop();
                    return Err(e);
                }
                Err(_) => {
                    pool.stop();
                    return Err(io::Error::other("a proactor thread died while starting"));
                }
            }
        }
        Ok(pool)
    }
}

/// A pool of proactor threads.
pub struct ProactorPool {
    shared: Arc<PoolShared>,
    threads: Vec<thread::JoinHandle<()>>,
    /// Under `sim`: the world this pool runs in.
    sim_world: Option<crate::sim::SimWorld>,
    /// Under `sim`, for a pool that joined another's world: closed once its proactors are gone.
    /// In a Mutex only so that the pool stays `Sync` (a Receiver is not); never contended.
    joined: Option<std::sync::Mutex<std::sync::mpsc::Receiver<()>>>,
}

impl ProactorPool {
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }

    pub fn len(&self) -> usize {
        self.shared.bus.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn backend(&self) -> Backend {
        self.shared.backend
    }

    /// The pool's process-wide id (the target of `sim::spawn_on_pool`).
    pub fn id(&self) -> u32 {
        self.shared.id
    }

    /// Under `sim`: the world the pool runs in, for another pool to join.
    pub fn sim_world(&self) -> Option<crate::sim::SimWorld> {
        self.sim_world.clone()
    }

    /// Sends a message to proactor `index` from a thread outside the pool.
    pub fn send(&self, index: usize, msg: Message) {
        self.shared.bus.send_external(index, msg);
    }

    /// Starts `f` in a fiber on proactor `index`.
    pub fn spawn_on<F, T>(&self, index: usize, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_named(index, "task", f)
    }

    pub fn spawn_named<F, T>(&self, index: usize, name: &str, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (msg, handle) = Builder::new().name(name).into_message(f);
        self.send(index, msg);
        handle
    }

    /// Runs `f` in a fiber on proactor `index` and blocks the calling thread (which must not be
    /// a proactor) until it returns. A panic in `f` is re-raised here.
    pub fn run_on<F, T>(&self, index: usize, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match self.spawn_on(index, f).join() {
            Ok(v) => v,
            Err(e) => panic!("run_on({index}): {e}"),
        }
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        for i in 0..self.len() {
            self.shared.bus.wake_by_eventfd(i);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(done) = self.joined.take() {
            // The world's thread shuts this pool down, then drops the sender (or it has ended).
            let _ = done.into_inner().map(|rx| rx.recv());
        }
    }

    /// Stops every proactor: cancels ops in flight and waits for their completions, lets fibers
    /// see their errors, unwinds the fibers still parked, joins the threads.
    pub fn shutdown(mut self) {
        self.stop();
    }
}

impl Drop for ProactorPool {
    fn drop(&mut self) {
        self.stop();
        let id = self.shared.id;
        POOLS.lock().retain(|(i, _)| *i != id);
    }
}
