//! The deterministic simulator backend (`BackendChoice::Sim`, DESIGN.md §9).
//!
//! Every proactor of the pool runs on ONE OS thread. A seeded PRNG picks which proactor turns
//! next, how many messages each mailbox delivers in a turn (a prefix of the sender's queue, so
//! per-sender FIFO holds exactly as on the real bus and nothing more), and the order in which
//! ready fibers run. Time is virtual (`clock::now` reads the simulator's clock on this thread):
//! it moves a little with every step and jumps to the next timer when nothing can run, so a
//! simulated hour costs no wall time. TCP is simulated between in-process endpoints
//! (`sim::net`): latency, short reads and writes, resets.
//!
//! Mail from threads outside the pool (`ProactorPool::run_on`, `spawn_on`) is handled only
//! while the whole world is idle, so how late it arrives in real time never changes a run;
//! a program drives a run by sending ONE message that starts its workload, with time flowing
//! (`set_time_flowing`), and waiting for its answer.
//!
//! Files (`fs::File`) live in the simulator's store (`fs.rs`): virtual latency, and crashes
//! that keep only what fsync made durable.

pub mod fs;
pub(crate) mod net;
mod rng;
mod world;

pub use net::{heal, partition, partitioned};
pub use rng::Rng;
pub(crate) use world::{cross_send, Door, JoinRequest};
pub use world::{spawn_on_pool, SimWorld};

use crate::clock::{self, Time};
use crate::fiber::FiberId;
use crate::pool::PoolShared;
use crate::proactor::Proactor;
use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// What a simulated run looks like: its seed and which faults are on. Everything random in the
/// run derives from `seed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    pub seed: u64,
    /// One-way network latency, uniformly in [min, max] microseconds per send.
    pub net_latency_us: (u64, u64),
    /// Sends take, and receives return, a random part of what they could (short I/O).
    pub short_io: bool,
    /// Chance, per million sends, that the connection is reset by the network.
    pub reset_per_million: u32,
    /// Mailboxes deliver a random prefix of their queue per turn (delays, cross-sender reorder).
    pub bus_delay: bool,
    /// Ready fibers run in a random order each turn.
    pub shuffle_fibers: bool,
    /// A planted bug to switch on (builds with the `sim-mutations` feature only).
    pub mutation: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            net_latency_us: (10, 200),
            short_io: true,
            reset_per_million: 0,
            bus_delay: true,
            shuffle_fibers: true,
            mutation: None,
        }
    }
}

/// The hash-table seed of a simulated pool: a function of the run's seed only.
pub(crate) fn hash_seed(seed: u64) -> u64 {
    rng::mix(seed ^ 0x6861_7368_5f73_6565)
}

/// The simulated machine of one pool: its PRNG, its network, its trace.
pub(crate) struct World {
    pub cfg: SimConfig,
    pub rng: RefCell<Rng>,
    flowing: Cell<bool>,
    /// Faults are off (the quiet phase of a run): no resets by the network.
    pub quiet: Cell<bool>,
    /// Wakes the simulator's thread when a thread outside the pool sends mail or a pool joins.
    door: Arc<Door>,
    /// Ids of the pools stepped in this world.
    members: RefCell<Vec<u32>>,
    /// Messages from a fiber of one pool to a proactor of another (`world::cross_send`).
    cross: RefCell<std::collections::VecDeque<(u32, usize, crate::bus::Message)>>,
    /// A proactor that does not run until the given moment (a proactor stall).
    stalled: Cell<Option<(u32, usize, Time)>>,
    pub net: RefCell<net::Network>,
    trace: Cell<u64>,
    steps: Cell<u64>,
    /// How many times time started flowing (each start reseeds the PRNG).
    phases: Cell<u64>,
}

impl World {
    fn new(cfg: SimConfig, door: Arc<Door>) -> World {
        World {
            rng: RefCell::new(Rng::new(cfg.seed)),
            cfg,
            flowing: Cell::new(false),
            quiet: Cell::new(false),
            door,
            members: RefCell::new(Vec::new()),
            cross: RefCell::new(Default::default()),
            stalled: Cell::new(None),
            net: RefCell::new(net::Network::default()),
            trace: Cell::new(0xcbf2_9ce4_8422_2325),
            steps: Cell::new(0),
            phases: Cell::new(0),
        }
    }

    /// Folds an event into the run's trace hash.
    pub fn trace(&self, kind: u64, a: u64, b: u64) {
        // Steps taken while time stands still (setup from outside) are not part of the run.
        if !self.flowing.get() {
            return;
        }
        let mut h = self.trace.get();
        for v in [kind, a, b] {
            h = rng::mix(h ^ v);
        }
        self.trace.set(h);
    }

    pub fn below(&self, n: u64) -> u64 {
        self.rng.borrow_mut().below(n)
    }

    pub fn chance_per_million(&self, p: u32) -> bool {
        p > 0 && !self.quiet.get() && self.below(1_000_000) < p as u64
    }
}

thread_local! {
    static WORLD: RefCell<Option<Rc<World>>> = const { RefCell::new(None) };
}

/// The world of the simulator running on this thread.
pub(crate) fn world() -> Rc<World> {
    try_world().expect("not on the simulator's thread")
}

fn try_world() -> Option<Rc<World>> {
    WORLD.with(|w| w.borrow().clone())
}

/// True when this thread runs a simulated pool.
pub fn active() -> bool {
    WORLD.with(|w| w.borrow().is_some())
}

/// Lets virtual time jump to the next timer whenever nothing can run. Off while a run is being
/// set up from outside (so timers do not fire at moments that depend on real time), on while
/// a workload runs. Call from a fiber of the simulated pool.
pub fn set_time_flowing(on: bool) {
    let w = world();
    if on && !w.flowing.get() {
        // While time stood still, servers were set up from outside: how those steps batched
        // depends on when the outside mail arrived in real time. The run's randomness restarts
        // from the seed here, so they cannot change anything that follows.
        let phase = w.phases.get() + 1;
        w.phases.set(phase);
        *w.rng.borrow_mut() = Rng::new(rng::mix(w.cfg.seed ^ rng::mix(phase)));
    }
    w.flowing.set(on);
}

/// True when the simulated run on this thread planted the mutation `name`. Call sites exist
/// only in builds with the `sim-mutations` feature.
pub fn mutation(name: &str) -> bool {
    try_world().is_some_and(|w| w.cfg.mutation.as_deref() == Some(name))
}

/// Turns the network's faults off (a run's quiet phase) or back on.
pub fn set_quiet(on: bool) {
    world().quiet.set(on);
}

/// Folds an event of the program driving the run into the trace hash.
pub fn trace_event(a: u64, b: u64) {
    world().trace(9, a, b);
}

/// The run's trace hash so far: every scheduling choice, time jump and network event.
pub fn trace_hash() -> u64 {
    world().trace.get()
}

/// Loop steps the simulator has taken.
pub fn steps() -> u64 {
    world().steps.get()
}

/// A random number from the run's PRNG (for programs that drive a simulated run: their
/// choices then replay with the seed too).
pub fn random_below(n: u64) -> u64 {
    world().below(n)
}

/// How many messages a mailbox delivers this turn: sometimes none (the message is delayed),
/// else any number. Taking a prefix keeps each sender's order.
pub(crate) fn drain_budget() -> usize {
    let w = world();
    if !w.cfg.bus_delay {
        return crate::bus::DRAIN_BUDGET;
    }
    match w.below(4) {
        0 => 0,
        1 => 1,
        _ => crate::bus::DRAIN_BUDGET,
    }
}

/// Puts the ready fibers in a random order (any order is valid: they are independent).
pub(crate) fn shuffle(ids: &mut [FiberId]) {
    let w = world();
    if !w.cfg.shuffle_fibers || ids.len() < 2 {
        return;
    }
    let mut rng = w.rng.borrow_mut();
    for i in (1..ids.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        ids.swap(i, j);
    }
}

/// The driver of a simulated proactor: counts the fibers parked in simulated I/O, so shutdown
/// knows when they have all seen their cancellation.
#[derive(Default)]
pub(crate) struct SimDriver {
    waiting: Vec<FiberId>,
}

impl SimDriver {
    pub fn ops_in_flight(&self) -> usize {
        self.waiting.len()
    }

    pub fn op_parked(&mut self, id: FiberId) {
        self.waiting.push(id);
    }

    pub fn op_woke(&mut self, id: FiberId) {
        if let Some(i) = self.waiting.iter().position(|w| *w == id) {
            self.waiting.swap_remove(i);
        }
    }

    pub fn cancel_all(&mut self, p: &Proactor) {
        for id in self.waiting.drain(..) {
            p.unpark_local(id);
        }
    }
}

/// Virtual time a loop step costs (makes time pass under load as it would on a real CPU).
fn step_cost(w: &World) -> Duration {
    Duration::from_nanos(200 + w.below(1_800))
}

/// Stalls proactor `index` of the calling fiber's pool: it takes no turn for `d` of virtual
/// time (its mail, timers and ready fibers wait) while the others keep running, as when its
/// thread is descheduled. One stall at a time; a new one replaces the last.
pub fn stall_proactor(index: usize, d: Duration) {
    let w = world();
    let pool = crate::proactor::current().shared.id;
    let until = clock::now() + d;
    w.trace(11, index as u64, until.as_nanos());
    w.stalled.set(Some((pool, index, until)));
}

/// The world of this thread, for another pool to join (`PoolBuilder::sim_join`). Call from a
/// fiber of a simulated pool.
pub fn this_world() -> SimWorld {
    SimWorld(world().door.clone())
}

/// The simulator's thread: builds the proactors, then steps them (and those of every pool that
/// joins) until the first pool stops.
pub(crate) fn run(
    shared: Arc<PoolShared>,
    stack_size: usize,
    cfg: SimConfig,
    door: Arc<Door>,
    ready: std::sync::mpsc::Sender<io::Result<()>>,
) {
    let n = shared.bus.len();
    let world = Rc::new(World::new(cfg, door));
    WORLD.with(|w| *w.borrow_mut() = Some(world.clone()));
    clock::enter_virtual(Time::ZERO);
    crate::stack::ensure_alt_stack();
    let efd = world.door.eventfd.as_raw_fd();
    world.members.borrow_mut().push(shared.id);
    let mut groups = vec![world::Group::new(shared.clone(), stack_size, efd)];
    for _ in 0..n {
        let _ = ready.send(Ok(()));
    }
    drop(ready);
    let mut runnable = Vec::with_capacity(n);
    while !shared.stop_requested() {
        if !step(&groups, &world, &mut runnable) {
            idle(&mut groups, &world);
        }
        if let Some(g) = (1..groups.len()).find(|&g| groups[g].shared.stop_requested()) {
            let g = groups.remove(g);
            world.members.borrow_mut().retain(|id| *id != g.shared.id);
            let flowing = world.flowing.get();
            shutdown(std::slice::from_ref(&g), &world, &mut runnable);
            world.flowing.set(flowing);
            g.finish();
        }
    }
    shutdown(&groups, &world, &mut runnable);
    world.members.borrow_mut().clear();
    for g in groups {
        g.finish();
    }
    WORLD.with(|w| *w.borrow_mut() = None);
    clock::leave_virtual();
}

/// The moment the stalled proactor runs again, while it is stalled.
fn stall_of(world: &World, now: Time) -> Option<(u32, usize, Time)> {
    match world.stalled.get() {
        Some((_, _, until)) if until <= now => {
            world.stalled.set(None);
            None
        }
        s => s,
    }
}

/// One step of the world: a turn of a randomly chosen proactor that has work, or a jump of
/// virtual time to the next timer. False when nothing can happen without outside mail.
fn step(groups: &[world::Group], world: &World, runnable: &mut Vec<(usize, usize)>) -> bool {
    if world::deliver_cross(groups, world) {
        return true;
    }
    let now = clock::now();
    let stall = stall_of(world, now);
    runnable.clear();
    for (g, group) in groups.iter().enumerate() {
        let skip = stall.and_then(|(pool, i, _)| (pool == group.shared.id).then_some(i));
        runnable.extend(
            group
                .proactors
                .iter()
                .filter(|p| Some(p.index) != skip && p.sim_has_work(now))
                .map(|p| (g, p.index)),
        );
    }
    if !runnable.is_empty() {
        let (g, i) = runnable[world.below(runnable.len() as u64) as usize];
        world.trace(1, (g * 64 + i) as u64, now.as_nanos());
        world.steps.set(world.steps.get() + 1);
        groups[g].proactors[i].sim_turn();
        if world.flowing.get() {
            clock::advance_virtual(clock::now() + step_cost(world));
        }
        return true;
    }
    if world.flowing.get() {
        // A stalled proactor's timers wait for the stall's end (they may be overdue).
        let stalled =
            |p: &Proactor| stall.is_some_and(|(pool, i, _)| (pool, i) == (p.shared.id, p.index));
        let timers = groups
            .iter()
            .flat_map(|g| g.proactors.iter())
            .filter(|p| !stalled(p))
            .filter_map(|p| p.next_deadline());
        if let Some(t) = timers.chain(stall.map(|s| s.2)).min() {
            world.trace(2, t.as_nanos(), 0);
            clock::advance_virtual(t.max(now));
            return true;
        }
    }
    false
}

/// Nothing can run: let waiting pools join, handle mail from outside the pool, or block until
/// some arrives.
fn idle(groups: &mut Vec<world::Group>, world: &World) {
    loop {
        let mut got = 0;
        for req in world.door.take_joins() {
            let efd = world.door.eventfd.as_raw_fd();
            world.members.borrow_mut().push(req.shared.id);
            let mut g = world::Group::new(req.shared, req.stack_size, efd);
            g.done = Some(req.done);
            for _ in 0..g.proactors.len() {
                let _ = req.ready.send(Ok(()));
            }
            world.trace(12, g.proactors.len() as u64, 0);
            groups.push(g);
            got += 1;
        }
        for p in groups.iter().flat_map(|g| g.proactors.iter()) {
            got += p.sim_drain_external();
        }
        if got > 0 {
            world.trace(3, got as u64, 0);
            return;
        }
        if groups.iter().any(|g| g.shared.stop_requested()) {
            return;
        }
        let quiet = groups
            .iter()
            .all(|g| (0..g.proactors.len()).all(|i| g.shared.bus.prepare_sleep(i)));
        if quiet && !groups.iter().any(|g| g.shared.stop_requested()) {
            let mut buf = 0u64;
            // SAFETY: reads 8 bytes into a live u64 from the world's own blocking eventfd.
            unsafe {
                libc::read(
                    world.door.eventfd.as_raw_fd(),
                    (&mut buf as *mut u64).cast(),
                    8,
                )
            };
        }
        for g in groups.iter() {
            for i in 0..g.proactors.len() {
                g.shared.bus.mark_awake(i);
            }
        }
    }
}

/// Pools stop: cancel everything in flight, let every proactor settle (stepping them all,
/// since they share this thread), then release the fibers still parked.
fn shutdown(groups: &[world::Group], world: &World, runnable: &mut Vec<(usize, usize)>) {
    world.flowing.set(true);
    let all = || groups.iter().flat_map(|g| g.proactors.iter());
    for p in all() {
        p.with_current(|| {
            p.stopping.set(true);
            p.driver.borrow_mut().cancel_all(p);
        });
    }
    let deadline = clock::now() + Duration::from_millis(300);
    while clock::now() <= deadline {
        for p in all() {
            p.sim_drain_external();
        }
        if !step(groups, world, runnable) {
            clock::advance_virtual(clock::now() + Duration::from_millis(1));
        }
        if all().all(|p| p.settled()) {
            break;
        }
    }
    for p in all() {
        p.with_current(|| p.release_fibers());
    }
    for _ in 0..64 {
        for p in all() {
            p.sim_drain_external();
            p.sim_turn();
        }
    }
    for p in all() {
        p.sim_finish();
    }
}

#[cfg(test)]
mod tests;
