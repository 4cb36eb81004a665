//! The executor: the one way a command reaches the shards that own its keys (DESIGN.md §4).
//!
//! A `cmd_*` function asks its [`Exec`] (in `CmdCtx`) to run shard-side work; the executor
//! knows the mode the command runs in and picks the mechanism:
//!
//! - **Now**: the command schedules itself: inline fast path or one hop for one shard, a VLL
//!   transaction for several ([`crate::tx`]).
//! - **Scheduled**: the command runs inside a transaction already scheduled over its keys
//!   (EXEC, later scripts): its locks are held, so every hop is a step of that transaction,
//!   never a new txid and never a conclude.
//!
//! - **On shard**: the command is part of a squashed batch and already runs on the thread of
//!   the one shard that owns its keys, inside a hop that holds their locks: shard-side work
//!   runs in place, without any hop.
//!
//! The same `cmd_*` code therefore runs plainly, inside EXEC and in a squashed pipeline.

use crate::keys::{self, KeyPlan};
use crate::shard::{shard_of, Shard, ShardLocks};
use crate::tx::{self, client_tag, locks::LockMode, Transaction};

enum Mode<'t> {
    Now,
    Scheduled(&'t mut Transaction),
    OnShard,
}

/// How the running command reaches its shards.
pub struct Exec<'t> {
    mode: Mode<'t>,
    /// Called by a script: it must never park waiting for a key (blocking commands answer as
    /// if they timed out), whatever the mode.
    scripted: bool,
}

impl<'t> Exec<'t> {
    /// A command that schedules its own hops.
    pub fn now() -> Exec<'static> {
        Exec {
            mode: Mode::Now,
            scripted: false,
        }
    }

    /// The same mode, for commands a script calls.
    pub fn for_script(mut self) -> Self {
        self.scripted = true;
        self
    }

    /// A command inside `tx`, which already holds the locks of every key it touches.
    pub fn scheduled(tx: &'t mut Transaction) -> Exec<'t> {
        Exec {
            mode: Mode::Scheduled(tx),
            scripted: false,
        }
    }

    /// A command of a squashed batch, running on the shard that owns all its keys.
    pub fn on_shard() -> Exec<'static> {
        Exec {
            mode: Mode::OnShard,
            scripted: false,
        }
    }

    /// The same mode for a command run on behalf of this one (a script's `redis.call`).
    pub fn reborrow(&mut self) -> Exec<'_> {
        Exec {
            mode: match &mut self.mode {
                Mode::Now => Mode::Now,
                Mode::Scheduled(t) => Mode::Scheduled(t),
                Mode::OnShard => Mode::OnShard,
            },
            scripted: self.scripted,
        }
    }

    /// Whether the command runs inside an enclosing transaction (EXEC, later scripts): it
    /// must not park there, so blocking commands answer as if they timed out.
    /// The transaction the command runs in, when it runs inside one.
    pub fn transaction(&mut self) -> Option<&mut Transaction> {
        match &mut self.mode {
            Mode::Scheduled(t) => Some(t),
            _ => None,
        }
    }

    /// Whether a script called the command.
    pub fn scripted(&self) -> bool {
        self.scripted
    }

    /// Whether an enclosing transaction holds the locks (EXEC).
    pub fn enclosing(&self) -> bool {
        matches!(self.mode, Mode::Scheduled(_))
    }

    /// The command schedules its own hops (not inside EXEC, a script or a squashed batch).
    pub fn is_now(&self) -> bool {
        matches!(self.mode, Mode::Now) && !self.scripted
    }

    pub fn in_transaction(&self) -> bool {
        self.scripted || matches!(self.mode, Mode::Scheduled(_))
    }

    /// A single-key command: inline when the key is local and unlocked, else one hop.
    pub fn single_key<R: Send>(
        &mut self,
        key_hash: u64,
        mode: LockMode,
        f: &(dyn Fn(&Shard) -> R + Sync),
    ) -> R {
        match &mut self.mode {
            Mode::Scheduled(t) if t.shards().contains(&shard_of(key_hash, count())) => {
                one(t.execute(&[shard_of(key_hash, count())], false, f))
            }
            // A shard the enclosing transaction does not hold (a key its plan could not see):
            // the command schedules that part itself rather than fail mid-transaction.
            Mode::Now | Mode::Scheduled(_) => tx::single_key(key_hash, mode, f),
            Mode::OnShard => in_place(shard_of(key_hash, damselfly_runtime::proactor_count()), f),
        }
    }

    /// A command whose keys all live on `shard`.
    pub fn single_shard<R: Send>(
        &mut self,
        shard: usize,
        locks: &ShardLocks,
        f: &(dyn Fn(&Shard) -> R + Sync),
    ) -> R {
        match &mut self.mode {
            Mode::Scheduled(t) if t.shards().contains(&shard) => one(t.execute(&[shard], false, f)),
            Mode::Now | Mode::Scheduled(_) => tx::single_shard(shard, locks, f),
            Mode::OnShard => in_place(shard, f),
        }
    }

    /// Runs `f` atomically on every shard of `plan`; (shard, result) in plan order.
    pub fn atomic<R: Send>(
        &mut self,
        plan: &KeyPlan,
        f: &(dyn Fn(&Shard) -> R + Sync),
    ) -> Vec<(usize, R)> {
        match &mut self.mode {
            Mode::Scheduled(t) if holds(t, plan) => {
                let shards = plan.shards();
                let out = t.execute(&shards, false, f);
                shards.into_iter().zip(out).collect()
            }
            Mode::Now | Mode::Scheduled(_) => keys::run_atomic(plan, f),
            Mode::OnShard => plan
                .shards()
                .into_iter()
                .map(|shard| (shard, in_place(shard, f)))
                .collect(),
        }
    }

    /// [`keys::run_sliced`]: `f` over bounded slices of each shard's keys, atomically.
    pub fn sliced<R: Send>(
        &mut self,
        plan: &KeyPlan,
        f: &(dyn Fn(&Shard, &[usize]) -> R + Sync),
        merge: impl FnMut(usize, R),
    ) {
        match &mut self.mode {
            Mode::Scheduled(t) if holds(t, plan) => keys::execute_sliced(t, plan, false, f, merge),
            Mode::Now | Mode::Scheduled(_) => keys::run_sliced(plan, f, merge),
            Mode::OnShard => sliced_in_place(plan, f, merge),
        }
    }

    /// Runs `f` on `shards` without locks (reads Redis also serves non-atomically across the
    /// keyspace); inside a transaction that holds those shards, as its steps.
    pub fn on_shards<R: Send>(
        &mut self,
        shards: &[usize],
        f: &(dyn Fn(&Shard) -> R + Sync),
    ) -> Vec<R> {
        match &mut self.mode {
            Mode::Scheduled(t) if shards.iter().all(|s| t.shards().contains(s)) => {
                t.execute(shards, false, f)
            }
            Mode::OnShard => shards.iter().map(|&s| in_place(s, f)).collect(),
            _ => tx::on_shards(shards, f),
        }
    }

    pub fn on_all_shards<R: Send>(&mut self, f: &(dyn Fn(&Shard) -> R + Sync)) -> Vec<R> {
        let all: Vec<usize> = (0..damselfly_runtime::proactor_count()).collect();
        self.on_shards(&all, f)
    }

    /// A multi-hop transaction over the keys of `plan`.
    pub fn schedule(&mut self, plan: &KeyPlan) -> TxRef<'_> {
        let shards = plan.shards();
        match &mut self.mode {
            Mode::Scheduled(t) if holds(t, plan) => TxRef {
                tx: Owned::Borrowed(t),
                shards,
            },
            Mode::Now | Mode::Scheduled(_) => TxRef {
                tx: Owned::Own(Transaction::schedule(&plan.locks())),
                shards,
            },
            Mode::OnShard => TxRef {
                tx: Owned::OnShard,
                shards,
            },
        }
    }

    /// A transaction over every shard with whole-shard locks (FLUSHALL, SWAPDB).
    pub fn schedule_global(&mut self) -> TxRef<'_> {
        let shards: Vec<usize> = (0..damselfly_runtime::proactor_count()).collect();
        match &mut self.mode {
            Mode::Now => TxRef {
                tx: Owned::Own(Transaction::schedule_global()),
                shards,
            },
            Mode::Scheduled(t) => TxRef {
                tx: Owned::Borrowed(t),
                shards,
            },
            Mode::OnShard => panic!("a whole-keyspace command was squashed"),
        }
    }
}

fn count() -> usize {
    damselfly_runtime::proactor_count()
}

/// Whether a command inside the enclosing transaction `t` runs its `plan` as steps of `t`:
/// yes unless `t` holds none of its shards (keys EXEC's plan could not see), which the
/// command then schedules on its own without meeting `t`'s locks. A plan only partly held is
/// a key-spec bug and fails loudly at the missing shard rather than wait on `t` itself.
fn holds(t: &Transaction, plan: &KeyPlan) -> bool {
    plan.groups.iter().any(|g| t.shards().contains(&g.0))
}

/// The shard a squashed command runs on; it must own every key the command touches.
fn local_shard(shard: usize) -> &'static Shard {
    let s = Shard::current();
    assert_eq!(s.index, shard, "a squashed command reached past its shard");
    s
}

/// A squashed command's slices, run in place on its shard.
fn sliced_in_place<R>(
    plan: &KeyPlan,
    f: &(dyn Fn(&Shard, &[usize]) -> R + Sync),
    mut merge: impl FnMut(usize, R),
) {
    for shard in plan.shards() {
        let s = local_shard(shard);
        let tag = client_tag::inline_tag();
        for slice in plan.keys_of(shard).chunks(keys::SLICE_KEYS) {
            merge(shard, client_tag::run_as(s, tag, || f(s, slice)));
        }
    }
}

/// Runs `f` in place on `shard` (the local one) for the running client: as a hop would, with
/// its CLIENT NO-TOUCH mode (a script's commands on its own shard run this way, outside any
/// hop).
fn in_place<R>(shard: usize, f: &(dyn Fn(&Shard) -> R + Sync)) -> R {
    let s = local_shard(shard);
    client_tag::run_as(s, client_tag::inline_tag(), || f(s))
}

fn one<R>(mut v: Vec<R>) -> R {
    v.pop().expect("one shard answered")
}

enum Owned<'a> {
    Own(Transaction),
    Borrowed(&'a mut Transaction),
    /// A squashed command on its shard: steps run in place.
    OnShard,
}

/// A command's multi-hop transaction: its own, or its part of the enclosing one (which the
/// command never concludes: the enclosing transaction does, after its last command).
pub struct TxRef<'a> {
    tx: Owned<'a>,
    /// The shards this command touches.
    shards: Vec<usize>,
}

impl TxRef<'_> {
    pub fn shards(&self) -> &[usize] {
        &self.shards
    }

    fn tx(&mut self) -> (&mut Transaction, bool) {
        match &mut self.tx {
            Owned::Own(t) => (t, true),
            Owned::Borrowed(t) => (t, false),
            Owned::OnShard => unreachable!("on-shard steps run in place"),
        }
    }

    /// Runs `f` on `shards` (a subset of this command's), in parallel; with `conclude`, an
    /// owned transaction releases those shards after.
    pub fn execute<R: Send>(
        &mut self,
        shards: &[usize],
        conclude: bool,
        f: &(dyn Fn(&Shard) -> R + Sync),
    ) -> Vec<R> {
        if let Owned::OnShard = self.tx {
            return shards.iter().map(|&s| in_place(s, f)).collect();
        }
        let (tx, owned) = self.tx();
        tx.execute(shards, conclude && owned, f)
    }

    /// Runs `f` on every shard of the command and ends its part of the transaction.
    pub fn execute_all<R: Send>(mut self, f: &(dyn Fn(&Shard) -> R + Sync)) -> Vec<R> {
        let shards = std::mem::take(&mut self.shards);
        let out = self.execute(&shards, true, f);
        self.finish();
        out
    }

    /// [`keys::execute_sliced`] within this transaction.
    pub fn execute_sliced<R: Send>(
        &mut self,
        plan: &KeyPlan,
        conclude: bool,
        f: &(dyn Fn(&Shard, &[usize]) -> R + Sync),
        merge: impl FnMut(usize, R),
    ) {
        if let Owned::OnShard = self.tx {
            return sliced_in_place(plan, f, merge);
        }
        let (tx, owned) = self.tx();
        keys::execute_sliced(tx, plan, conclude && owned, f, merge);
    }

    /// Ends the command's part: an owned transaction releases the shards still held.
    pub fn conclude(self) {
        self.finish();
    }

    fn finish(self) {
        if let Owned::Own(t) = self.tx {
            t.conclude();
        }
    }
}
