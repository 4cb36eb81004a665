//! One proactor per thread: its I/O driver, its fibers, its timers and its inboxes, and the loop
//! that drives them (DESIGN.md §2):
//!
//! reap completions → drain inboxes (bounded) → fire due timers → run ready fibers → flush
//! overflowed sends → announce sleep, re-check, sleep in the kernel until the next deadline.
//!
//! Code finds "its" proactor through a context pointer set while the loop runs, never through a
//! thread-local that assumes one proactor per OS thread: the simulator will step many proactors
//! on one thread by switching that pointer.

use crate::bus::{self, Message};
use crate::clock::{self, Time};
use crate::driver::Driver;
use crate::fiber::{FiberId, FiberRecord, FiberState, Slab};
use crate::pool::PoolShared;
use crate::stack::{self, StackPool};
use crate::timer::TimerHeap;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// How long each shutdown step waits for fibers and peers before it stops waiting.
const SETTLE_TIMEOUT: Duration = Duration::from_millis(300);

pub(crate) type FiberCoroutine = Coroutine<(), (), (), corosensei::stack::DefaultStack>;

thread_local! {
    static CURRENT: Cell<*const Proactor> = const { Cell::new(std::ptr::null()) };
}

/// The proactor whose loop is running on this thread.
pub(crate) fn try_current() -> Option<&'static Proactor> {
    let p = CURRENT.with(|c| c.get());
    // SAFETY: the pointer is set by `Proactor::run` for the duration of the loop and cleared
    // before the proactor is dropped; everything that reads it runs inside that loop.
    unsafe { p.as_ref() }
}

pub(crate) fn current() -> &'static Proactor {
    try_current().expect("not on a proactor: call this from a fiber of a ProactorPool")
}

/// Index of the current proactor, or None on other threads.
pub fn index() -> Option<usize> {
    try_current().map(|p| p.index)
}

/// The seed of the current pool's hash tables whose iteration order can reach replies (set
/// algebra, watched keys, the lock table): random for a real pool, derived from the seed
/// under `sim`, so a simulated run replays the same orders in any process. None off a
/// proactor thread.
pub fn hash_seed() -> Option<u64> {
    try_current().map(|p| p.shared.hash_seed)
}

/// Attaches `value` to the current proactor, once. Returns it back if one is already set.
pub fn set_local<T: 'static>(value: T) -> Result<(), T> {
    current()
        .local
        .set(Box::new(value))
        .map_err(|b| *b.downcast::<T>().expect("same type"))
}

/// The value attached to the current proactor with `set_local`, if it has type `T`. The
/// reference is valid for as long as the proactor runs, which outlives its fibers and calls.
pub fn local<T: 'static>() -> Option<&'static T> {
    try_current()?.local.get()?.downcast_ref::<T>()
}

/// True once the current proactor's pool is shutting down: long-running fibers should stop
/// starting new work (each hop they start delays the shutdown of every proactor).
pub fn stopping() -> bool {
    try_current().is_some_and(|p| p.stopping.get() || p.shared.stop_requested())
}

/// Fibers alive on the current proactor.
pub fn fiber_count() -> usize {
    current().fiber_count()
}

/// Resumptions of fibers not marked background ([`crate::fiber::set_background`]) and messages
/// other than wakes handled on the current proactor so far. A background fiber compares it
/// across a yield to tell whether foreground work ran meanwhile.
pub fn work_done() -> u64 {
    current().work.get()
}

/// Number of proactors in the current pool.
pub fn count() -> usize {
    current().shared.bus.len()
}

pub(crate) struct Proactor {
    pub index: usize,
    pub shared: Arc<PoolShared>,
    pub driver: RefCell<Driver>,
    pub fibers: RefCell<Slab>,
    ready: RefCell<VecDeque<FiberId>>,
    timers: RefCell<TimerHeap>,
    current_fiber: Cell<Option<FiberId>>,
    stacks: RefCell<StackPool>,
    /// Stacks of fibers that asked for a larger stack (script runs), pooled separately.
    large_stacks: RefCell<StackPool>,
    /// Fibers resumed and messages handled so far (see [`work_done`]).
    work: Cell<u64>,
    /// Set once shutdown starts: new I/O fails with ECANCELED and parking never suspends.
    pub stopping: Cell<bool>,
    /// Set while parked fibers are being force-unwound, so their root re-throws corosensei's
    /// unwind payload instead of treating it as a panic.
    pub force_unwinding: Cell<bool>,
    overflow: RefCell<Vec<VecDeque<Message>>>,
    due: RefCell<Vec<FiberId>>,
    /// State a program attaches to this proactor (the coordinator's shard).
    local: std::cell::OnceCell<Box<dyn std::any::Any>>,
    /// Runs under the simulator (`crate::sim`): its seeded choices replace the loop's fixed
    /// orders (mailbox budgets, ready-fiber order) and it never reads the external inbox itself.
    sim: bool,
}

impl Proactor {
    pub fn new(index: usize, shared: Arc<PoolShared>, driver: Driver, stack_size: usize) -> Self {
        let n = shared.bus.len();
        let sim = driver.backend() == crate::driver::Backend::Sim;
        Proactor {
            index,
            shared,
            driver: RefCell::new(driver),
            fibers: RefCell::new(Slab::default()),
            ready: RefCell::new(VecDeque::new()),
            timers: RefCell::new(TimerHeap::default()),
            current_fiber: Cell::new(None),
            stacks: RefCell::new(StackPool::new(stack_size)),
            large_stacks: RefCell::new(StackPool::keeping(crate::fiber::LARGE_STACK_SIZE, 16)),
            work: Cell::new(0),
            stopping: Cell::new(false),
            force_unwinding: Cell::new(false),
            overflow: RefCell::new((0..n).map(|_| VecDeque::new()).collect()),
            due: RefCell::new(Vec::new()),
            local: std::cell::OnceCell::new(),
            sim,
        }
    }

    /// Fibers alive on this proactor (running, ready or parked).
    pub fn fiber_count(&self) -> usize {
        self.fibers.borrow().len()
    }

    pub fn current_fiber(&self) -> Option<FiberId> {
        self.current_fiber.get()
    }

    // ---- fibers -------------------------------------------------------------------------

    /// Creates a fiber that runs `body` and queues it. `body` must not let a panic escape (the
    /// public spawn wraps it in `catch_unwind`), except corosensei's forced unwind.
    pub fn spawn_fiber(&self, name: Box<str>, body: Box<dyn FnOnce()>) -> FiberId {
        self.spawn_fiber_on(name, body, false)
    }

    /// [`spawn_fiber`](Self::spawn_fiber) with a choice of stack: `large` takes one of
    /// [`crate::fiber::LARGE_STACK_SIZE`] bytes.
    pub fn spawn_fiber_on(&self, name: Box<str>, body: Box<dyn FnOnce()>, large: bool) -> FiberId {
        let pool = if large {
            &self.large_stacks
        } else {
            &self.stacks
        };
        let stack = pool.borrow_mut().get().unwrap_or_else(|e| {
            panic!(
                "cannot map a {} byte fiber stack: {e}",
                pool.borrow().size()
            )
        });
        let guard = stack::guard_range(&stack);
        let self_ptr: *const Proactor = self;
        let co: FiberCoroutine = Coroutine::with_stack(stack, move |y: &Yielder<(), ()>, ()| {
            // SAFETY: the proactor outlives every fiber it runs (fibers are finished or dropped
            // before the proactor is).
            let p = unsafe { &*self_ptr };
            p.record_yielder(y);
            body();
        });
        let id = self.fibers.borrow_mut().insert(FiberRecord {
            gen: 0,
            state: FiberState::Ready,
            notified: false,
            co: Some(Box::new(co)),
            yielder: std::ptr::null(),
            name,
            guard,
            stack_shares: 0,
            tag: 0,
            background: false,
        });
        self.ready.borrow_mut().push_back(id);
        id
    }

    fn record_yielder(&self, y: &Yielder<(), ()>) {
        let id = self
            .current_fiber
            .get()
            .expect("fiber started outside run_fiber");
        self.fibers
            .borrow_mut()
            .get_mut(id)
            .expect("running fiber")
            .yielder = y;
    }

    /// Suspends the running fiber until `unpark`. Returns at once (a spurious wakeup, which every
    /// caller tolerates) if an unpark arrived while it was running, during shutdown's forced
    /// unwinding, or while panicking.
    pub fn park_current(&self) {
        let id = self.current_fiber.get().expect("park outside a fiber");
        if std::thread::panicking() {
            return;
        }
        let yielder = {
            let mut fibers = self.fibers.borrow_mut();
            let rec = fibers.get_mut(id).expect("running fiber");
            if rec.notified {
                rec.notified = false;
                return;
            }
            rec.state = FiberState::Parked;
            rec.yielder
        };
        // SAFETY: `yielder` was recorded by this fiber's own coroutine body and stays valid for
        // as long as the coroutine runs; we are inside it now.
        unsafe { (*yielder).suspend(()) };
    }

    /// Puts the running fiber at the back of the ready queue and suspends it.
    pub fn yield_current(&self) {
        let id = self.current_fiber.get().expect("yield outside a fiber");
        if std::thread::panicking() {
            return;
        }
        let yielder = {
            let mut fibers = self.fibers.borrow_mut();
            let rec = fibers.get_mut(id).expect("running fiber");
            rec.state = FiberState::Ready;
            rec.notified = false;
            rec.yielder
        };
        self.ready.borrow_mut().push_back(id);
        // SAFETY: as in `park_current`.
        unsafe { (*yielder).suspend(()) };
    }

    /// Makes a fiber of this proactor runnable. Stale ids (finished fibers) are ignored.
    pub fn unpark_local(&self, id: FiberId) {
        let mut fibers = self.fibers.borrow_mut();
        let Some(rec) = fibers.get_mut(id) else {
            return;
        };
        match rec.state {
            FiberState::Parked => {
                rec.state = FiberState::Ready;
                self.ready.borrow_mut().push_back(id);
            }
            FiberState::Running => rec.notified = true,
            FiberState::Ready => {}
        }
    }

    pub fn add_timer(&self, deadline: Time, id: FiberId) {
        self.timers.borrow_mut().insert(deadline, id);
    }

    fn run_fiber(&self, id: FiberId) {
        let (mut co, guard, name) = {
            let mut fibers = self.fibers.borrow_mut();
            let Some(rec) = fibers.get_mut(id) else {
                return;
            };
            if rec.state != FiberState::Ready {
                return;
            }
            rec.state = FiberState::Running;
            if !rec.background {
                self.work.set(self.work.get() + 1);
            }
            let name: *const str = &*rec.name;
            (
                rec.co.take().expect("ready fiber has its coroutine"),
                rec.guard,
                name,
            )
        };
        // SAFETY: the name is a boxed str owned by the fiber record, which is only freed below,
        // after the fiber stopped running.
        stack::set_running(guard, unsafe { &*name });
        self.current_fiber.set(Some(id));
        let result = co.resume(());
        self.current_fiber.set(None);
        stack::clear_running();
        match result {
            CoroutineResult::Yield(()) => {
                let mut fibers = self.fibers.borrow_mut();
                let rec = fibers
                    .get_mut(id)
                    .expect("suspended fiber keeps its record");
                assert!(
                    rec.state != FiberState::Running,
                    "fiber suspended without parking"
                );
                rec.co = Some(co);
            }
            CoroutineResult::Return(()) => {
                self.fibers.borrow_mut().remove(id);
                let stack = co.into_stack();
                if stack::usable_size(&stack) >= crate::fiber::LARGE_STACK_SIZE {
                    self.large_stacks.borrow_mut().put(stack);
                } else {
                    self.stacks.borrow_mut().put(stack);
                }
            }
        }
    }

    // ---- bus ----------------------------------------------------------------------------

    pub fn has_overflow(&self, dst: usize) -> bool {
        !self.overflow.borrow()[dst].is_empty()
    }
    pub fn push_overflow(&self, dst: usize, msg: Message) {
        self.overflow.borrow_mut()[dst].push_back(msg);
    }
    pub fn pop_overflow(&self, dst: usize) -> Option<Message> {
        self.overflow.borrow_mut()[dst].pop_front()
    }
    pub fn unpop_overflow(&self, dst: usize, msg: Message) {
        self.overflow.borrow_mut()[dst].push_front(msg);
    }

    /// Wakes proactor `dst`, which announced it is going to sleep.
    pub fn wake_remote(&self, dst: usize) {
        let ring_fd = self.shared.bus.ring_fds[dst].load(std::sync::atomic::Ordering::Acquire);
        let sent = ring_fd >= 0 && self.driver.borrow_mut().msg_ring_wake(ring_fd, dst);
        if !sent {
            self.shared.bus.wake_by_eventfd(dst);
        }
    }

    fn handle(&self, msg: Message) {
        if !matches!(msg, Message::Wake(_)) {
            // A wake counts when its fiber runs (unless that is background work).
            self.work.set(self.work.get() + 1);
        }
        match msg {
            Message::Wake(id) => self.unpark_local(id),
            Message::Spawn(f) => {
                self.spawn_fiber("remote".into(), Box::new(f));
            }
            Message::Call(call) => (call.func)(call.arg),
        }
    }

    fn drain_inboxes(&self) -> usize {
        let bus = &self.shared.bus;
        let mut n = 0;
        for src in 0..bus.len() {
            let budget = if self.sim {
                crate::sim::drain_budget()
            } else {
                bus::DRAIN_BUDGET
            };
            for _ in 0..budget {
                let Some(msg) = bus.pop(self.index, src) else {
                    break;
                };
                #[cfg(feature = "sim-mutations")]
                if self.sim && crate::sim::mutation("bus-reorder") {
                    // Planted bug: two messages of one sender handled out of order.
                    if let Some(next) = bus.pop(self.index, src) {
                        self.handle(next);
                        n += 1;
                    }
                }
                self.handle(msg);
                n += 1;
            }
        }
        // The simulator delivers mail from outside the pool itself, only while nothing else can
        // run, so its arrival time cannot change the run.
        let external = if self.sim { 0 } else { bus::DRAIN_BUDGET };
        for _ in 0..external {
            let Some(msg) = bus.pop_external(self.index) else {
                break;
            };
            self.handle(msg);
            n += 1;
        }
        n
    }

    fn fire_timers(&self, now: Time) {
        let mut due = self.due.borrow_mut();
        self.timers.borrow_mut().pop_due(now, &mut due);
        for id in due.drain(..) {
            self.unpark_local(id);
        }
    }

    fn run_ready(&self) {
        if self.sim {
            crate::sim::shuffle(self.ready.borrow_mut().make_contiguous());
        }
        let n = self.ready.borrow().len();
        for _ in 0..n {
            let Some(id) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            self.run_fiber(id);
        }
    }

    fn overflow_pending(&self) -> bool {
        self.overflow.borrow().iter().any(|q| !q.is_empty())
    }

    /// One turn of the loop. `may_sleep` is false while stopping.
    fn turn(&self, may_sleep: bool) {
        self.driver.borrow_mut().reap(self);
        self.drain_inboxes();
        self.fire_timers(clock::now());
        self.run_ready();
        bus::flush_overflow(self);
        if !self.ready.borrow().is_empty() || self.overflow_pending() || !may_sleep {
            self.driver.borrow_mut().submit(self);
            return;
        }
        let bus = &self.shared.bus;
        if !bus.prepare_sleep(self.index) {
            self.driver.borrow_mut().submit(self);
            return;
        }
        let timeout = self
            .timers
            .borrow()
            .next_deadline()
            .map(|t| t - clock::now());
        if timeout != Some(Duration::ZERO) {
            self.driver.borrow_mut().wait(self, timeout);
        }
        bus.mark_awake(self.index);
    }

    /// Runs the loop until the pool asks this proactor to stop, then stops it cleanly.
    pub fn run(&self) {
        CURRENT.with(|c| c.set(self));
        while !self.shared.stop_requested() {
            self.turn(true);
        }
        self.shutdown();
        CURRENT.with(|c| c.set(std::ptr::null()));
    }

    /// True when none of this proactor's fibers has work to do or a hop in flight.
    pub(crate) fn settled(&self) -> bool {
        self.ready.borrow().is_empty()
            && self.driver.borrow().ops_in_flight() == 0
            && !self.overflow_pending()
            && !self.fibers.borrow().any_stack_shared()
    }

    /// Arrives at a shutdown barrier and keeps turning (answering other proactors' hops) until
    /// every proactor of the pool has arrived or `deadline` passes.
    fn barrier(&self, arrived: &std::sync::atomic::AtomicUsize, deadline: Time) {
        use std::sync::atomic::Ordering;
        arrived.fetch_add(1, Ordering::AcqRel);
        let n = self.shared.bus.len();
        while arrived.load(Ordering::Acquire) < n && clock::now() <= deadline {
            self.turn(false);
            // Peers may share this core: let them run (shutdown only, never on the hot path).
            std::thread::yield_now();
        }
    }

    /// Unwinds (or, where that is unsafe, leaks) every fiber still alive.
    pub(crate) fn release_fibers(&self) {
        let ops_left = self.driver.borrow().ops_in_flight();
        if ops_left > 0 {
            log::error!("proactor {}: {ops_left} ops still in flight", self.index);
        }
        self.force_unwinding.set(true);
        for _round in 0..16 {
            let ids = self.fibers.borrow().ids();
            if ids.is_empty() {
                break;
            }
            for id in ids {
                let (co, shared, name) = {
                    let mut fibers = self.fibers.borrow_mut();
                    let Some(rec) = fibers.get_mut(id) else {
                        continue;
                    };
                    (rec.co.take(), rec.stack_shares > 0, rec.name.clone())
                };
                let Some(co) = co else { continue };
                if ops_left > 0 || shared {
                    // The kernel or another proactor may still write into this stack: leak
                    // it rather than free memory someone else points to.
                    log::warn!(
                        "proactor {}: leaking fiber '{name}' (stack shared: {shared})",
                        self.index
                    );
                    std::mem::forget(co);
                } else {
                    self.current_fiber.set(Some(id));
                    drop(co); // corosensei unwinds the suspended stack, running destructors
                    self.current_fiber.set(None);
                }
                self.fibers.borrow_mut().remove(id);
            }
            // Destructors may have spawned fibers or sent messages: let them run.
            self.force_unwinding.set(false);
            self.turn(false);
            self.force_unwinding.set(true);
        }
        self.force_unwinding.set(false);
    }

    /// Clean shutdown, in three steps, so no fiber stack is freed while another proactor may
    /// still run a hop that points into it:
    ///
    /// 1. Cancel every op in flight and keep turning until this proactor's fibers have settled:
    ///    nothing ready, no op in flight, no hop of theirs unanswered (bounded by a deadline).
    /// 2. Barrier: keep answering the other proactors' hops until all of them have settled.
    /// 3. Force-unwind the fibers still parked so their destructors run. A fiber whose stack is
    ///    still shared (its hop was never answered: a peer missed the deadline) or that may
    ///    still have an op in flight is leaked instead: its memory stays valid for ever.
    ///
    /// A second barrier keeps every proactor draining its inboxes until all have unwound, so a
    /// hop sent by a destructor elsewhere is still answered.
    fn shutdown(&self) {
        self.stopping.set(true);
        self.driver.borrow_mut().cancel_all(self);
        let settle_deadline = clock::now() + SETTLE_TIMEOUT;
        loop {
            self.turn(false);
            if self.settled() || clock::now() > settle_deadline {
                break;
            }
            std::thread::yield_now();
        }
        self.barrier(&self.shared.settled, settle_deadline + SETTLE_TIMEOUT);
        self.release_fibers();
        self.barrier(&self.shared.released, clock::now() + SETTLE_TIMEOUT);
        self.timers.borrow_mut().clear();
        self.driver.borrow_mut().finish(self);
    }
}

/// Entry points for the simulator, which steps every proactor of a pool on one thread.
impl Proactor {
    /// Runs `f` with this proactor as the current one.
    pub(crate) fn with_current<R>(&self, f: impl FnOnce() -> R) -> R {
        let prev = CURRENT.with(|c| c.replace(self));
        let r = f();
        CURRENT.with(|c| c.set(prev));
        r
    }

    /// Something to do at `now`: a ready fiber, mail from a peer, overflow, a due timer.
    pub(crate) fn sim_has_work(&self, now: Time) -> bool {
        !self.ready.borrow().is_empty()
            || self.shared.bus.has_peer_mail(self.index)
            || self.overflow_pending()
            || self.next_deadline().is_some_and(|t| t <= now)
    }

    pub(crate) fn next_deadline(&self) -> Option<Time> {
        self.timers.borrow().next_deadline()
    }

    /// One loop turn that never sleeps.
    pub(crate) fn sim_turn(&self) {
        self.with_current(|| self.turn(false));
    }

    /// Handles the mail threads outside the pool sent; returns how many messages.
    pub(crate) fn sim_drain_external(&self) -> usize {
        self.with_current(|| {
            let mut n = 0;
            while let Some(msg) = self.shared.bus.pop_external(self.index) {
                self.handle(msg);
                n += 1;
            }
            n
        })
    }

    /// Handles one message from a fiber of another pool of the simulated world.
    pub(crate) fn sim_deliver(&self, msg: Message) {
        self.with_current(|| self.handle(msg));
    }

    /// The last step of shutdown, once the fibers are released.
    pub(crate) fn sim_finish(&self) {
        self.with_current(|| {
            self.timers.borrow_mut().clear();
            self.driver.borrow_mut().finish(self);
        });
    }
}
