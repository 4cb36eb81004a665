//! Fibers: stackful coroutines (corosensei), cooperative, never moved between threads.
//!
//! A fiber parks when it waits (I/O, a timer, a message, a lock) and becomes runnable again when
//! something unparks it. Parking allows spurious wakeups: every wait loops on its condition.
//! A panic is caught at the fiber's root: it is logged with the fiber's name and reported to
//! `join`; a fiber spawned as `critical` (shard fibers, whose state may be half-mutated) aborts
//! the process instead.

use crate::bus::{self, Message};
use crate::clock::{self, Time};
use crate::proactor::{self, Proactor};
use crate::sync::oneshot;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

/// A fiber on one proactor: slot in its slab and the slot's generation.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FiberId {
    slot: u32,
    gen: u32,
}

impl FiberId {
    #[cfg(test)]
    pub(crate) fn new(slot: u32, gen: u32) -> FiberId {
        FiberId { slot, gen }
    }
}

/// A fiber anywhere in the pool; can be sent to other threads to wake it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct FiberRef {
    pub pool: u32,
    pub proactor: usize,
    pub id: FiberId,
}

impl FiberRef {
    /// Makes the fiber runnable, from any proactor (a message when it lives elsewhere).
    pub fn unpark(self) {
        match proactor::try_current() {
            Some(p) if p.shared.id == self.pool => {
                if p.index == self.proactor {
                    p.unpark_local(self.id);
                } else {
                    bus::send(self.proactor, Message::Wake(self.id));
                }
            }
            _ => {
                // A fiber of another pool of the same simulated world: the world's own queue.
                let Err(msg) =
                    crate::sim::cross_send(self.pool, self.proactor, Message::Wake(self.id))
                else {
                    return;
                };
                match crate::pool::registered_pool(self.pool) {
                    Some(shared) => shared.bus.send_external(self.proactor, msg),
                    None => log::debug!("wake for a fiber of a pool that is gone"),
                }
            }
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum FiberState {
    Ready,
    Running,
    Parked,
}

pub(crate) struct FiberRecord {
    pub gen: u32,
    pub state: FiberState,
    /// An unpark arrived while the fiber was running: its next park returns at once.
    pub notified: bool,
    pub co: Option<Box<proactor::FiberCoroutine>>,
    pub yielder: *const corosensei::Yielder<(), ()>,
    pub name: Box<str>,
    pub guard: (usize, usize),
    /// Other threads hold pointers into this fiber's stack (see `StackShare`).
    pub stack_shares: u32,
    /// What the fiber works for, set by its owner (see [`set_tag`]).
    pub tag: u64,
    /// Its resumptions do not count in [`crate::work_done`] (see [`set_background`]).
    pub background: bool,
}

/// Fiber records by slot; a freed slot bumps its generation so stale ids miss.
#[derive(Default)]
pub(crate) struct Slab {
    records: Vec<Option<FiberRecord>>,
    gens: Vec<u32>,
    free: Vec<u32>,
    len: usize,
}

impl Slab {
    pub fn insert(&mut self, mut rec: FiberRecord) -> FiberId {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.records.push(None);
                self.gens.push(0);
                (self.records.len() - 1) as u32
            }
        };
        rec.gen = self.gens[slot as usize];
        self.records[slot as usize] = Some(rec);
        self.len += 1;
        FiberId {
            slot,
            gen: self.gens[slot as usize],
        }
    }

    pub fn get_mut(&mut self, id: FiberId) -> Option<&mut FiberRecord> {
        match self.records.get_mut(id.slot as usize) {
            Some(Some(r)) if r.gen == id.gen => Some(r),
            _ => None,
        }
    }

    pub fn remove(&mut self, id: FiberId) {
        if self.get_mut(id).is_some() {
            self.records[id.slot as usize] = None;
            self.gens[id.slot as usize] = id.gen.wrapping_add(1);
            self.free.push(id.slot);
            self.len -= 1;
        }
    }

    /// True when some fiber's stack is shared with another thread (a hop is in flight).
    pub fn any_stack_shared(&self) -> bool {
        self.records.iter().flatten().any(|r| r.stack_shares > 0)
    }

    pub fn ids(&self) -> Vec<FiberId> {
        self.records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                r.as_ref().map(|r| FiberId {
                    slot: i as u32,
                    gen: r.gen,
                })
            })
            .collect()
    }

    /// Fibers alive on this proactor.
    pub fn len(&self) -> usize {
        self.len
    }
}

/// Why `join` did not return a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinError {
    /// The fiber panicked; the panic message.
    Panicked(String),
    /// The fiber was dropped before finishing (pool shutdown).
    Cancelled,
}

impl std::fmt::Display for JoinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JoinError::Panicked(m) => write!(f, "fiber panicked: {m}"),
            JoinError::Cancelled => write!(f, "fiber cancelled"),
        }
    }
}

impl std::error::Error for JoinError {}

/// Waits for a fiber's result.
pub struct JoinHandle<T> {
    rx: oneshot::Receiver<Result<T, JoinError>>,
}

impl<T> JoinHandle<T> {
    /// Waits for the fiber (parks a fiber, blocks any other thread).
    pub fn join(self) -> Result<T, JoinError> {
        self.rx.recv().unwrap_or(Err(JoinError::Cancelled))
    }

    pub fn is_finished(&self) -> bool {
        self.rx.is_ready()
    }
}

/// Options for a new fiber.
#[derive(Default)]
pub struct Builder {
    name: Option<String>,
    critical: bool,
}

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Name shown in logs, panics and stack overflow reports.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// A panic in a critical fiber aborts the process (its state may be half-mutated).
    pub fn critical(mut self, critical: bool) -> Builder {
        self.critical = critical;
        self
    }

    /// Spawns on the current proactor.
    pub fn spawn<F, T>(self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let name: Box<str> = self.name.unwrap_or_else(|| "fiber".into()).into();
        let body = root(name.clone(), self.critical, f, tx);
        proactor::current().spawn_fiber(name, Box::new(body));
        JoinHandle { rx }
    }

    /// Spawns on proactor `index` (from a fiber or loop of the pool; other threads use
    /// `ProactorPool::spawn_on`).
    pub fn spawn_on<F, T>(self, index: usize, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (msg, handle) = self.into_message(f);
        bus::send(index, msg);
        handle
    }

    pub(crate) fn into_message<F, T>(self, f: F) -> (Message, JoinHandle<T>)
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let name: Box<str> = self.name.unwrap_or_else(|| "fiber".into()).into();
        let critical = self.critical;
        let spawn = move || {
            let body = root(name.clone(), critical, f, tx);
            proactor::current().spawn_fiber(name, Box::new(body));
        };
        (Message::Spawn(Box::new(spawn)), JoinHandle { rx })
    }
}

/// The body every fiber runs: the user's function under `catch_unwind`.
fn root<F, T>(
    name: Box<str>,
    critical: bool,
    f: F,
    tx: oneshot::Sender<Result<T, JoinError>>,
) -> impl FnOnce()
where
    F: FnOnce() -> T + 'static,
    T: Send + 'static,
{
    move || match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => tx.send(Ok(v)),
        Err(payload) => {
            if proactor::current().force_unwinding.get() {
                // corosensei's own unwind of a dropped fiber: let it through.
                resume_unwind(payload);
            }
            let msg = panic_message(&*payload);
            if critical {
                log::error!("critical fiber '{name}' panicked: {msg}; aborting");
                std::process::abort();
            }
            log::error!("fiber '{name}' panicked: {msg}");
            tx.send(Err(JoinError::Panicked(msg)));
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Spawns a fiber on the current proactor.
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f)
}

/// Spawns a fiber on proactor `index`.
pub fn spawn_on<F, T>(index: usize, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn_on(index, f)
}

/// True when called from a fiber (not from a loop or a foreign thread).
pub fn in_fiber() -> bool {
    proactor::try_current().is_some_and(|p| p.current_fiber().is_some())
}

/// The running fiber.
pub fn current() -> FiberRef {
    let p = proactor::current();
    FiberRef {
        pool: p.shared.id,
        proactor: p.index,
        id: p.current_fiber().expect("not in a fiber"),
    }
}

/// Marks the running fiber's stack as shared with other threads (a hop whose job lives on
/// this stack is in flight) until the guard drops. If the pool shuts down meanwhile, the fiber
/// is leaked rather than unwound, so a late job never writes into freed memory.
pub struct StackShare {
    id: FiberId,
}

impl StackShare {
    pub fn new() -> StackShare {
        let p = proactor::current();
        let id = p.current_fiber().expect("StackShare outside a fiber");
        if let Some(r) = p.fibers.borrow_mut().get_mut(id) {
            r.stack_shares += 1;
        }
        StackShare { id }
    }
}

impl Default for StackShare {
    fn default() -> Self {
        StackShare::new()
    }
}

impl Drop for StackShare {
    fn drop(&mut self) {
        if let Some(p) = proactor::try_current() {
            if let Some(r) = p.fibers.borrow_mut().get_mut(self.id) {
                r.stack_shares -= 1;
            }
        }
    }
}

/// Stack size of fibers that run deep C code (the Lua interpreter): its C recursion limit and
/// the commands a script calls fit with room to spare.
pub const LARGE_STACK_SIZE: usize = 1024 * 1024;

/// A fiber with a large stack that runs jobs handed to it, one at a time, and parks in
/// between: a script run costs two context switches, not a fiber's creation.
struct Runner {
    fiber: std::cell::Cell<Option<FiberRef>>,
    /// The job to run next: an erased `&mut dyn FnMut()` on the caller's stack.
    job: std::cell::Cell<Option<*mut (dyn FnMut() + 'static)>>,
    caller: std::cell::Cell<Option<FiberRef>>,
    /// The caller's tag, taken on for the job.
    tag: std::cell::Cell<u64>,
}

/// Idle runners kept per proactor.
const IDLE_RUNNERS: usize = 64;

thread_local! {
    /// Idle runners with the proactor they live on (its address): the simulator steps several
    /// proactors on one thread, and a runner must only take jobs from its own proactor.
    static RUNNERS: std::cell::RefCell<Vec<(usize, std::rc::Rc<Runner>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn proactor_key(p: &Proactor) -> usize {
    p as *const Proactor as usize
}

fn runner_loop(me: std::rc::Rc<Runner>) {
    let p = proactor::current();
    me.fiber.set(Some(current()));
    loop {
        let Some(job) = me.job.take() else {
            if p.stopping.get() {
                return;
            }
            p.park_current();
            continue;
        };
        {
            let _own = StackShare::new();
            // SAFETY: the caller stored a pointer to a closure on its own stack and waits in
            // `call_on_large_stack` until `done` is set below; its StackShare keeps it from
            // being unwound meanwhile, so the closure is alive for this whole call.
            let job = unsafe { &mut *job };
            set_tag(me.tag.get());
            if let Err(payload) = catch_unwind(AssertUnwindSafe(job)) {
                log::error!(
                    "a large-stack fiber panicked: {}; aborting",
                    panic_message(&*payload)
                );
                std::process::abort();
            }
        }
        if let Some(c) = me.caller.take() {
            c.unpark();
        }
        let keep = RUNNERS.with(|r| {
            let mut r = r.borrow_mut();
            let key = proactor_key(p);
            if r.iter().filter(|(k, _)| *k == key).count() < IDLE_RUNNERS {
                r.push((key, me.clone()));
                true
            } else {
                false
            }
        });
        if !keep {
            return;
        }
    }
}

/// Runs `f` to completion on a fiber of this proactor with a [`LARGE_STACK_SIZE`] stack, while
/// the calling fiber waits; returns what `f` returned. A panic in `f` aborts the process: it
/// may hold pointers into the caller's stack and state half changed.
pub fn call_on_large_stack<R>(f: impl FnOnce() -> R) -> R {
    let p = proactor::current();
    let mut f = Some(f);
    let mut result: Option<R> = None;
    // Set by the job itself as it ends: the runner goes on to other jobs, so its own state
    // cannot tell this caller that its job is done.
    let finished = std::cell::Cell::new(false);
    {
        let mut job = || {
            result = Some((f.take().expect("the job runs once"))());
            finished.set(true);
        };
        let job: &mut (dyn FnMut() + '_) = &mut job;
        // SAFETY: only the lifetime is erased. The runner calls the job while this block
        // waits below for `finished`, and never after; the StackShare keeps shutdown from
        // unwinding this frame while the runner may still use it.
        let job: *mut (dyn FnMut() + 'static) = unsafe { std::mem::transmute(job) };
        let _share = StackShare::new();
        let runner = RUNNERS
            .with(|r| {
                let mut r = r.borrow_mut();
                let key = proactor_key(p);
                let i = r.iter().rposition(|(k, _)| *k == key)?;
                Some(r.swap_remove(i).1)
            })
            .unwrap_or_else(|| {
                let r = std::rc::Rc::new(Runner {
                    fiber: std::cell::Cell::new(None),
                    job: std::cell::Cell::new(None),
                    caller: std::cell::Cell::new(None),
                    tag: std::cell::Cell::new(0),
                });
                let me = r.clone();
                p.spawn_fiber_on("script".into(), Box::new(move || runner_loop(me)), true);
                r
            });
        runner.caller.set(Some(current()));
        runner.tag.set(tag());
        runner.job.set(Some(job));
        if let Some(fiber) = runner.fiber.get() {
            fiber.unpark();
        }
        drop(runner);
        while !finished.get() {
            p.park_current();
        }
    }
    result.expect("the job ran")
}

/// Tags the running fiber with a value of its owner's choosing (a server tags a connection's
/// fiber with its client id); a large-stack call runs with its caller's tag.
pub fn set_tag(tag: u64) {
    let p = proactor::current();
    if let Some(id) = p.current_fiber() {
        if let Some(r) = p.fibers.borrow_mut().get_mut(id) {
            r.tag = tag;
        }
    }
}

/// Marks the running fiber as background work (or not): its resumptions stop counting in
/// [`crate::work_done`], so a fiber that yields to foreground work does not mistake it for
/// foreground work (a snapshot's writer, for the snapshot's walkers).
pub fn set_background(background: bool) {
    let p = proactor::current();
    if let Some(id) = p.current_fiber() {
        if let Some(r) = p.fibers.borrow_mut().get_mut(id) {
            r.background = background;
        }
    }
}

/// The running fiber's tag; 0 outside a fiber or when never set.
pub fn tag() -> u64 {
    let Some(p) = proactor::try_current() else {
        return 0;
    };
    let Some(id) = p.current_fiber() else {
        return 0;
    };
    p.fibers.borrow_mut().get_mut(id).map_or(0, |r| r.tag)
}

/// Lets other ready fibers run.
pub fn yield_now() {
    proactor::current().yield_current();
}

/// Suspends until `FiberRef::unpark` (or spuriously).
pub fn park() {
    proactor::current().park_current();
}

/// Suspends until unparked or `deadline`. Returns true when the deadline has passed.
pub fn park_until(deadline: Time) -> bool {
    let p: &Proactor = proactor::current();
    if clock::now() >= deadline {
        return true;
    }
    if deadline != Time::MAX {
        p.add_timer(deadline, p.current_fiber().expect("park outside a fiber"));
    }
    p.park_current();
    clock::now() >= deadline
}

/// Sleeps for `d` of runtime time.
pub fn sleep(d: Duration) {
    sleep_until(clock::now() + d);
}

pub fn sleep_until(deadline: Time) {
    while !park_until(deadline) {
        if proactor::current().stopping.get() {
            return;
        }
    }
}

/// Runs `f` every `period` in a fiber of the current proactor (the heartbeat hook). `f` returning
/// false stops it.
pub fn every<F>(name: &str, period: Duration, mut f: F) -> JoinHandle<()>
where
    F: FnMut() -> bool + 'static,
{
    Builder::new().name(name).spawn(move || {
        let mut next = clock::now() + period;
        loop {
            sleep_until(next);
            if proactor::current().stopping.get() || !f() {
                return;
            }
            next = (next + period).max(clock::now());
        }
    })
}
