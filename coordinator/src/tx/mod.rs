//! Transactions: how a command reaches the shards that own its keys (DESIGN.md §4).
//!
//! - A single-key command on the local shard with no conflicting lock runs inline: no message,
//!   no txid ([`single_key`]).
//! - A single-shard command elsewhere is one hop; on arrival it runs at once when its locks are
//!   free, else it queues behind the conflicting transactions.
//! - A multi-shard command is a [`Transaction`]: a global txid, a schedule hop that enters it in
//!   every involved shard's queue and takes its intent locks (VLL), then execution hops, the
//!   last of which concludes (releases locks, lets the next queued transaction run).
//!
//! A hop is a [`Job`] on the coordinator fiber's stack, sent as a plain function pointer plus
//! the job's address: no allocation and no boxed closure per hop. The coordinator stays parked
//! on the job's reply counter until every shard answered, which keeps the job alive.

pub mod client_tag;
pub mod locks;
pub mod queue;
pub mod scheduling;

use crate::shard::{Shard, ShardLocks};
use damselfly_runtime::bus::{self, Message, RawCall};
use damselfly_runtime::sync::ReplyCounter;
use locks::LockMode;
use scheduling::Scheduling;
use std::cell::UnsafeCell;
use std::sync::atomic::Ordering;

/// Scheduling figures for INFO (this server's): multi-shard transactions scheduled and the
/// attempts it took.
pub mod stats {
    use super::scheduling::Scheduling;
    use std::sync::atomic::Ordering;

    pub fn scheduled() -> u64 {
        Scheduling::current().scheduled.load(Ordering::Relaxed)
    }

    /// Transactions that were refused so often that they scheduled alone.
    pub fn scheduled_alone() -> u64 {
        Scheduling::current()
            .scheduled_alone
            .load(Ordering::Relaxed)
    }

    pub fn attempts() -> u64 {
        Scheduling::current().attempts.load(Ordering::Relaxed)
    }

    /// The most attempts one transaction took (bounded by `ATTEMPTS_BEFORE_ALONE` + 1).
    pub fn attempts_max() -> u64 {
        Scheduling::current().attempts_max.load(Ordering::Relaxed)
    }
}

/// A transaction refused this many times schedules alone: it waits until no other scheduling
/// attempt is in flight and none may start, then takes a txid above every txid handed out, which
/// every shard admits. So no transaction is refused more than this many times.
const ATTEMPTS_BEFORE_ALONE: u32 = 24;

/// How a waiting scheduler waits between looks: a short sleep, so its proactor serves other
/// fibers and hops meanwhile instead of spinning (the wait is about one schedule hop long).
fn wait_a_little() {
    damselfly_runtime::fiber::sleep(std::time::Duration::from_micros(10));
}

/// Right to take a txid and send a schedule hop; dropped once every shard answered.
struct Attempt {
    alone: bool,
    sched: &'static Scheduling,
}

impl Attempt {
    /// A normal attempt: waits while a starved transaction schedules alone.
    fn begin(sched: &'static Scheduling) -> Attempt {
        loop {
            while sched.alone.load(Ordering::SeqCst) {
                wait_a_little();
            }
            // Announce first, then look again: either the starved transaction sees this
            // attempt in flight and waits for it, or this attempt sees it and backs off.
            sched.attempts_in_flight.fetch_add(1, Ordering::SeqCst);
            if !sched.alone.load(Ordering::SeqCst) {
                return Attempt {
                    alone: false,
                    sched,
                };
            }
            sched.attempts_in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// An attempt no other one overlaps: its txid is the highest handed out, and no shard
    /// has seen a later one.
    fn begin_alone(sched: &'static Scheduling) -> Attempt {
        sched.scheduled_alone.fetch_add(1, Ordering::Relaxed);
        while sched
            .alone
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            wait_a_little();
        }
        while sched.attempts_in_flight.load(Ordering::SeqCst) > 0 {
            wait_a_little();
        }
        Attempt { alone: true, sched }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if self.alone {
            self.sched.alone.store(false, Ordering::SeqCst);
        } else {
            self.sched.attempts_in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Scheduling attempts after which a transaction waits a little before each retry (its
/// conflicts need time to conclude), instead of retrying at once.
const ATTEMPTS_BEFORE_BACKOFF: u32 = 4;

#[derive(Copy, Clone)]
enum JobKind<'a> {
    /// Run now (reads that need no isolation, scheduling steps).
    Plain,
    /// Single-shard transaction: run now if its locks are free, else queue, run, conclude.
    Single {
        keys: &'a [(u64, LockMode)],
        global: bool,
    },
    /// A hop of a scheduled transaction: run when it may; conclude after when asked.
    Step { seq: u64, conclude: bool },
}

struct Job<'a, R> {
    f: &'a (dyn Fn(&Shard) -> R + Sync),
    /// The coordinator fiber's tag: the client the hop works for (tracking's NOLOOP) and its
    /// CLIENT NO-TOUCH mode ([`client_tag`]).
    client: u64,
    kind: UnsafeCell<JobKind<'a>>,
    result: UnsafeCell<Option<R>>,
    counter: &'a ReplyCounter,
}

// SAFETY: a job is touched by exactly one shard thread between the send and `counter.done()`,
// and by the coordinator only before the send and after `wait()` (ordered by the counter's
// AcqRel decrement and Acquire load); `f` is Sync and `R` is Send.
unsafe impl<R: Send> Sync for Job<'_, R> {}

fn run_job<R: Send>(arg: usize) {
    // SAFETY: `arg` is the address of a Job whose coordinator is parked until `done()`.
    let job = unsafe { &*(arg as *const Job<R>) };
    let shard = Shard::current();
    // SAFETY: only this shard's thread touches `kind` now (see the Sync impl).
    let kind = unsafe { *job.kind.get() };
    match kind {
        JobKind::Plain => complete(job, shard, None),
        JobKind::Single { keys, global } => {
            let free = keys.iter().all(|(k, m)| shard.key_is_free(*k, *m));
            if free && !global {
                return complete(job, shard, None);
            }
            // Only a conflict queues the hop (and copies its locks).
            let locks = ShardLocks {
                keys: keys.to_vec(),
                global,
            };
            let seq = shard
                .schedule(0, locks)
                .expect("single-shard txs are always admitted");
            // SAFETY: as above.
            unsafe {
                *job.kind.get() = JobKind::Step {
                    seq,
                    conclude: true,
                }
            };
            run_step(job, shard, arg, seq, true);
        }
        JobKind::Step { seq, conclude } => run_step(job, shard, arg, seq, conclude),
    }
}

fn run_step<R: Send>(job: &Job<R>, shard: &Shard, arg: usize, seq: u64, conclude: bool) {
    if shard.can_run(seq) {
        complete(job, shard, conclude.then_some(seq));
    } else {
        shard.arm(
            seq,
            RawCall {
                func: run_armed::<R>,
                arg,
            },
        );
    }
}

fn run_armed<R: Send>(arg: usize) {
    // SAFETY: as in `run_job`; the queue only hands back an armed hop once it may run.
    let job = unsafe { &*(arg as *const Job<R>) };
    // SAFETY: as above.
    let JobKind::Step { seq, conclude } = (unsafe { *job.kind.get() }) else {
        unreachable!("only steps are armed")
    };
    complete(job, Shard::current(), conclude.then_some(seq));
}

fn complete<R: Send>(job: &Job<R>, shard: &Shard, conclude: Option<u64>) {
    // SAFETY: as in `run_job`.
    if let JobKind::Step { seq, .. } = unsafe { *job.kind.get() } {
        shard.note_running(seq);
    }
    let acting = &crate::server::ProactorState::current().acting_client;
    let outer = acting.replace(client_tag::client_id(job.client));
    let r = run_or_abort(|| client_tag::run_as(shard, job.client, || (job.f)(shard)));
    // Planted `bus-duplicate`: the hop handled as if its message came twice (the job is alive
    // until `done()` below, and only this shard touches it meanwhile).
    #[cfg(feature = "sim-mutations")]
    let r = if planted::handle_twice() {
        run_or_abort(|| client_tag::run_as(shard, job.client, || (job.f)(shard)))
    } else {
        r
    };
    acting.set(outer);
    // BCAST announcements leave when the shard is done with the command (a transaction's
    // last step), so one transaction's writes are announced together.
    // SAFETY: as in `run_job`.
    let mid_transaction = matches!(unsafe { *job.kind.get() }, JobKind::Step { .. });
    if conclude.is_some() || !mid_transaction {
        crate::tracking::flush_broadcasts();
    }
    // SAFETY: as in `run_job`.
    unsafe { *job.result.get() = Some(r) };
    #[cfg(feature = "sim-mutations")]
    let conclude = planted::conclude_or_skip(job, shard, conclude);
    if let Some(seq) = conclude {
        shard.conclude(seq);
    }
    // Last touch of the job: after this the coordinator may return and free it.
    job.counter.done();
    shard.serve_blocked();
    crate::eviction::after_job();
}

/// Runs a shard-side op. A panic there aborts the process with a clear message (DESIGN.md §2):
/// unwinding would free jobs and reply slots other shards still point to, and leave the shard's
/// data and locks half changed.
fn run_or_abort<R>(op: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(op)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            let shard = damselfly_runtime::proactor_index().unwrap_or(usize::MAX);
            let line = format!(
                "damselfly: a shard-side operation panicked on shard {shard}: {what}; aborting"
            );
            log::error!("{line}");
            eprintln!("{line}");
            std::process::abort();
        }
    }
}

/// Aborts if dropped by unwinding while hops it covers may still run elsewhere: their jobs
/// and reply counter live in the frame being unwound.
struct HopsInFlight<'a>(&'a ReplyCounter);

impl Drop for HopsInFlight<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() && self.0.pending() > 0 {
            eprintln!(
                "damselfly: unwinding while {} hops are in flight; aborting",
                self.0.pending()
            );
            std::process::abort();
        }
    }
}

/// Jobs a fan-out keeps on the coordinator's stack; wider ones use the heap.
const INLINE_JOBS: usize = 4;

/// Sends one job per shard and waits for all; results in the order of `shards`.
fn dispatch<'a, R: Send>(
    shards: &[usize],
    kinds: impl Fn(usize) -> JobKind<'a>,
    f: &'a (dyn Fn(&Shard) -> R + Sync),
) -> Vec<R> {
    let counter = ReplyCounter::new(shards.len());
    // Shards hold pointers to `counter` and the jobs until they answer.
    let _share = damselfly_runtime::fiber::StackShare::new();
    let mut inline: [Option<Job<R>>; INLINE_JOBS] = std::array::from_fn(|_| None);
    let mut heap: Vec<Option<Job<R>>> = Vec::new();
    let jobs: &mut [Option<Job<R>>] = if shards.len() <= INLINE_JOBS {
        &mut inline[..shards.len()]
    } else {
        heap.resize_with(shards.len(), || None);
        &mut heap
    };
    let client = damselfly_runtime::fiber::tag();
    for (i, job) in jobs.iter_mut().enumerate() {
        *job = Some(Job {
            f,
            client,
            kind: UnsafeCell::new(kinds(i)),
            result: UnsafeCell::new(None),
            counter: &counter,
        });
    }
    let here = damselfly_runtime::proactor_index().expect("commands run on proactors");
    let in_flight = HopsInFlight(&counter);
    let mut local = None;
    for (job, &shard) in jobs.iter().zip(shards) {
        let job = job.as_ref().expect("filled above");
        let arg = job as *const Job<R> as usize;
        if shard == here {
            local = Some(arg); // after the remote sends, so shards work in parallel
        } else {
            send_job::<R>(shard, arg);
        }
    }
    if let Some(arg) = local {
        run_job::<R>(arg);
    }
    counter.wait();
    drop(in_flight);
    jobs.iter_mut()
        .map(|j| {
            let job = j.take().expect("filled above");
            job.result.into_inner().expect("every shard answered")
        })
        .collect()
}

/// Sends the job at `arg` to `shard`, which runs it with `run_job`.
fn send_job<R: Send>(shard: usize, arg: usize) {
    bus::send(
        shard,
        Message::Call(RawCall {
            func: run_job::<R>,
            arg,
        }),
    );
}

/// [`dispatch`] for one shard, with the job on this stack: no allocation per hop.
fn dispatch_one<'a, R: Send>(
    shard: usize,
    kind: JobKind<'a>,
    f: &'a (dyn Fn(&Shard) -> R + Sync),
) -> R {
    let counter = ReplyCounter::new(1);
    // The shard holds pointers to `counter` and `job` until it answers.
    let _share = damselfly_runtime::fiber::StackShare::new();
    let job = Job {
        f,
        client: damselfly_runtime::fiber::tag(),
        kind: UnsafeCell::new(kind),
        result: UnsafeCell::new(None),
        counter: &counter,
    };
    let in_flight = HopsInFlight(&counter);
    let arg = &job as *const Job<R> as usize;
    if Some(shard) == damselfly_runtime::proactor_index() {
        run_job::<R>(arg);
    } else {
        send_job::<R>(shard, arg);
    }
    counter.wait();
    drop(in_flight);
    job.result.into_inner().expect("the shard answered")
}

/// Runs `f` on each shard of `shards` at once, without locks (reads that Redis also serves
/// non-atomically across the keyspace: DBSIZE, KEYS, SCAN, INFO).
pub fn on_shards<R: Send>(shards: &[usize], f: &(dyn Fn(&Shard) -> R + Sync)) -> Vec<R> {
    dispatch(shards, |_| JobKind::Plain, f)
}

/// Runs `f` on each shard of `shards` holding `locks[i]` there: at once when they are free,
/// else queued behind the conflicting transactions (a squashed group per shard).
pub fn on_shards_locked<R: Send>(
    shards: &[usize],
    locks: &[ShardLocks],
    f: &(dyn Fn(&Shard) -> R + Sync),
) -> Vec<R> {
    assert_eq!(shards.len(), locks.len(), "one lock set per shard");
    dispatch(
        shards,
        |i| JobKind::Single {
            keys: &locks[i].keys,
            global: locks[i].global,
        },
        f,
    )
}

/// Runs `f` on every shard.
pub fn on_all_shards<R: Send>(f: &(dyn Fn(&Shard) -> R + Sync)) -> Vec<R> {
    let all: Vec<usize> = (0..damselfly_runtime::proactor_count()).collect();
    on_shards(&all, f)
}

/// A single-key command: inline when the key is local and unlocked, else one hop.
pub fn single_key<R: Send>(key_hash: u64, mode: LockMode, f: &(dyn Fn(&Shard) -> R + Sync)) -> R {
    let n = damselfly_runtime::proactor_count();
    let shard = crate::shard::shard_of(key_hash, n);
    if Some(shard) == damselfly_runtime::proactor_index() {
        let s = Shard::current();
        if s.key_is_free(key_hash, mode) {
            let tag = client_tag::inline_tag();
            let r = run_or_abort(|| client_tag::run_as(s, tag, || f(s)));
            s.serve_blocked();
            crate::eviction::after_job();
            return r;
        }
    }
    let keys = [(key_hash, mode)];
    dispatch_one(
        shard,
        JobKind::Single {
            keys: &keys,
            global: false,
        },
        f,
    )
}

/// A command whose keys all live on `shard`: one hop, queued only on conflict.
pub fn single_shard<R: Send>(
    shard: usize,
    locks: &ShardLocks,
    f: &(dyn Fn(&Shard) -> R + Sync),
) -> R {
    dispatch_one(
        shard,
        JobKind::Single {
            keys: &locks.keys,
            global: locks.global,
        },
        f,
    )
}

/// A transaction over several shards, scheduled with VLL. Drop without `conclude` is a bug
/// (locks would stay held): it panics.
pub struct Transaction {
    shards: Vec<usize>,
    seqs: Vec<u64>,
    txid: u64,
    open: bool,
}

impl Transaction {
    /// Enters the transaction in the queues of the shards in `plan` (shard, its locks).
    pub fn schedule(plan: &[(usize, ShardLocks)]) -> Transaction {
        let shards: Vec<usize> = plan.iter().map(|(s, _)| *s).collect();
        let sched = Scheduling::current();
        sched.scheduled.fetch_add(1, Ordering::Relaxed);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            sched.attempts.fetch_add(1, Ordering::Relaxed);
            sched
                .attempts_max
                .fetch_max(u64::from(attempt), Ordering::Relaxed);
            if attempt > ATTEMPTS_BEFORE_BACKOFF && attempt <= ATTEMPTS_BEFORE_ALONE {
                // Let the conflicting transactions this one keeps meeting conclude first.
                damselfly_runtime::fiber::sleep(std::time::Duration::from_micros(
                    10 << (attempt - ATTEMPTS_BEFORE_BACKOFF).min(6),
                ));
            }
            let turn = if attempt > ATTEMPTS_BEFORE_ALONE {
                Attempt::begin_alone(sched)
            } else {
                Attempt::begin(sched)
            };
            let txid = sched.next_txid();
            let schedule = |shard: &Shard| {
                let locks = &plan
                    .iter()
                    .find(|(s, _)| *s == shard.index)
                    .expect("planned")
                    .1;
                shard.schedule(txid, locks.clone())
            };
            let seqs = on_shards(&shards, &schedule);
            let alone = turn.alone;
            drop(turn);
            debug_assert!(
                !alone || seqs.iter().all(|s| s.is_some()),
                "a transaction scheduling alone was refused"
            );
            if seqs.iter().all(|s| s.is_some()) {
                let seqs = seqs.into_iter().map(|s| s.expect("checked")).collect();
                return Transaction {
                    shards,
                    seqs,
                    txid,
                    open: true,
                };
            }
            // Some shard had already admitted a later txid: undo and retry with a fresh one.
            let admitted: Vec<(usize, u64)> = shards
                .iter()
                .zip(&seqs)
                .filter_map(|(sh, s)| s.map(|s| (*sh, s)))
                .collect();
            let undo_shards: Vec<usize> = admitted.iter().map(|(s, _)| *s).collect();
            let undo = |shard: &Shard| {
                let seq = admitted
                    .iter()
                    .find(|(s, _)| *s == shard.index)
                    .expect("admitted")
                    .1;
                shard.conclude(seq);
            };
            on_shards(&undo_shards, &undo);
        }
    }

    /// A global transaction: every shard, whole-shard locks (FLUSHALL, SWAPDB).
    pub fn schedule_global() -> Transaction {
        let n = damselfly_runtime::proactor_count();
        let plan: Vec<(usize, ShardLocks)> = (0..n)
            .map(|s| {
                (
                    s,
                    ShardLocks {
                        keys: Vec::new(),
                        global: true,
                    },
                )
            })
            .collect();
        Transaction::schedule(&plan)
    }

    pub fn txid(&self) -> u64 {
        self.txid
    }

    /// Locks `keys` on `shard` too, for the rest of the transaction, if they are all free now;
    /// never waits (so it cannot deadlock). On a shard the transaction did not enter yet, it
    /// enters there with just those locks.
    pub fn try_lock_more(&mut self, shard: usize, keys: &[(u64, LockMode)]) -> bool {
        assert!(self.open, "transaction already concluded");
        if let Some(i) = self.shards.iter().position(|s| *s == shard) {
            let seq = self.seqs[i];
            return on_shards(&[shard], &|s: &Shard| s.try_add_locks(seq, keys))[0];
        }
        let entered = on_shards(&[shard], &|s: &Shard| {
            if keys.iter().all(|(k, m)| s.key_is_free(*k, *m)) {
                s.schedule(
                    0,
                    ShardLocks {
                        keys: keys.to_vec(),
                        global: false,
                    },
                )
            } else {
                None
            }
        })[0];
        match entered {
            Some(seq) => {
                self.shards.push(shard);
                self.seqs.push(seq);
                true
            }
            None => false,
        }
    }

    pub fn shards(&self) -> &[usize] {
        &self.shards
    }

    /// Runs `f` on the given subset of the transaction's shards, in parallel, once the
    /// transaction may run there. With `conclude`, those shards release the transaction after.
    pub fn execute<R: Send>(
        &mut self,
        shards: &[usize],
        conclude: bool,
        f: &(dyn Fn(&Shard) -> R + Sync),
    ) -> Vec<R> {
        assert!(self.open, "transaction already concluded");
        let seq_of = |s: usize| {
            let i = self
                .shards
                .iter()
                .position(|x| *x == s)
                .expect("shard not in transaction");
            self.seqs[i]
        };
        let seqs: Vec<u64> = shards.iter().map(|s| seq_of(*s)).collect();
        let out = dispatch(
            shards,
            |i| JobKind::Step {
                seq: seqs[i],
                conclude,
            },
            f,
        );
        if conclude {
            let done: Vec<usize> = shards.to_vec();
            let keep: Vec<usize> = (0..self.shards.len())
                .filter(|i| !done.contains(&self.shards[*i]))
                .collect();
            self.seqs = keep.iter().map(|i| self.seqs[*i]).collect();
            self.shards = keep.iter().map(|i| self.shards[*i]).collect();
            self.open = !self.shards.is_empty();
        }
        out
    }

    /// Runs `f` on every shard of the transaction and concludes it.
    pub fn execute_all<R: Send>(mut self, f: &(dyn Fn(&Shard) -> R + Sync)) -> Vec<R> {
        let shards = self.shards.clone();
        self.execute(&shards, true, f)
    }

    /// Releases the shards not concluded yet.
    pub fn conclude(mut self) {
        if self.open {
            let shards = self.shards.clone();
            self.execute(&shards, true, &|_| ());
        }
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if self.open && !std::thread::panicking() {
            panic!("transaction {} dropped while holding locks", self.txid);
        }
    }
}

/// Planted bugs for the simulator (`sim-mutations` builds only, see docs/simulation.md).
#[cfg(feature = "sim-mutations")]
mod planted {
    use super::{Job, JobKind};
    use crate::shard::Shard;
    use std::cell::Cell;

    thread_local! {
        static CONCLUDES: Cell<u64> = const { Cell::new(0) };
        static HOPS: Cell<u64> = const { Cell::new(0) };
    }

    /// `bus-duplicate`: one hop in 32 is handled twice.
    pub(super) fn handle_twice() -> bool {
        damselfly_runtime::sim::mutation("bus-duplicate")
            && HOPS.with(|c| {
                c.set(c.get() + 1);
                c.get().is_multiple_of(32)
            })
    }

    /// `conclude-skipped`: one conclude in 64 never happens, so that transaction stays
    /// queued with its locks. `intent-locks-released-early`: a transaction's locks on a shard
    /// go at its first step there instead of at its last.
    pub(super) fn conclude_or_skip<R: Send>(
        job: &Job<R>,
        shard: &Shard,
        conclude: Option<u64>,
    ) -> Option<u64> {
        if let Some(seq) = conclude {
            if damselfly_runtime::sim::mutation("conclude-skipped") {
                let n = CONCLUDES.with(|c| {
                    c.set(c.get() + 1);
                    c.get()
                });
                if n.is_multiple_of(64) {
                    return None;
                }
            }
            return Some(seq);
        }
        // SAFETY: as in `run_job`: the job lives until its counter is done, after this.
        if let JobKind::Step { seq, .. } = unsafe { *job.kind.get() } {
            if damselfly_runtime::sim::mutation("intent-locks-released-early") {
                shard.release_locks_early(seq);
            }
        }
        None
    }
}
