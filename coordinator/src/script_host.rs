//! How a script's `redis.call` reaches the data: the coordinator's side of
//! `damselfly_scripts::Host`. A call is checked as Redis checks it (known command, arity, not
//! a command scripts may not call, no writes from read-only scripts, maxmemory), its keys are
//! checked against the run's locks (see `scripting`), and it runs through the executor of the
//! run's transaction with the script's RESP version.

use crate::args::Args;
use crate::conn;
use crate::ctx::ConnState;
use crate::exec::Exec;
use crate::keys::KeyPlan;
use crate::registry::{flags::*, CommandSpec, Registry};
use crate::scripting::{BusyScript, Scope};
use crate::server::ServerState;
use crate::shard::{key_hash, shard_of};
use crate::tx::locks::LockMode;
use crate::tx::Transaction;
use damselfly_protocol::{CommandArgs, RespVersion};
use damselfly_runtime::clock::{self, Time};
use damselfly_scripts::{CallArgs, CallOutcome, Host, Interrupt, LogLevel};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct ScriptHost<'a, 'e> {
    pub server: &'a ServerState,
    pub conn: &'a mut ConnState,
    pub exec: Exec<'e>,
    pub scope: Scope,
    /// Hashes of the keys the script declared.
    pub declared: &'a [u64],
    pub read_only: bool,
    pub allow_oom: bool,
    /// `default-lua-flags disallow-undeclared-keys`: undeclared keys are an error.
    pub strict: bool,
    /// Whether a key outside the locks may stop the run for a rerun (not inside EXEC, not
    /// when the run holds every shard).
    pub can_restart: bool,
    pub eval: bool,
    pub name: &'a str,
    /// The run executed a write command.
    pub wrote: bool,
    /// Shared with SCRIPT KILL once the run is busy: (wrote, kill requested).
    shared: Option<(Arc<AtomicBool>, Arc<AtomicBool>)>,
    /// Shards of keys reached that the script did not declare.
    pub undeclared: u64,
    pub started: Time,
    /// When the last call ended (the next one's start: one clock read per call).
    clock: Time,
    pub busy: bool,
    /// The EVAL/FCALL being run (shown by FUNCTION STATS once it is busy).
    pub command: Option<Args<'a>>,
    /// The declared keys themselves.
    pub keys: &'a [&'a [u8]],
    /// The transaction a [`Scope::Local`] run schedules once it must park.
    own_tx: Option<Transaction>,
    /// Undeclared keys (hashes) locked during the run.
    extra: Vec<u64>,
    parsed: CommandArgs,
}

impl<'a, 'e> ScriptHost<'a, 'e> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        server: &'a ServerState,
        conn: &'a mut ConnState,
        exec: Exec<'e>,
        scope: Scope,
        declared: &'a [u64],
        eval: bool,
        name: &'a str,
    ) -> Self {
        let now = clock::now();
        ScriptHost {
            server,
            conn,
            exec,
            scope,
            declared,
            read_only: false,
            allow_oom: false,
            strict: false,
            can_restart: false,
            eval,
            name,
            wrote: false,
            shared: None,
            undeclared: 0,
            started: now,
            clock: now,
            busy: false,
            command: None,
            keys: &[],
            own_tx: None,
            extra: Vec::new(),
            parsed: CommandArgs::new(),
        }
    }

    /// Ends the run's busy state, if it had one, and releases the locks a local run took.
    pub fn finish(&mut self) {
        if self.busy {
            self.server.scripts.clear_busy(self.conn.id);
            self.busy = false;
        }
        if let Some(t) = self.own_tx.take() {
            t.conclude();
        }
    }

    /// Locks `keys` (shard, hash) in the run's transaction if all are free now.
    fn lock_more(&mut self, keys: &[(usize, u64)]) -> bool {
        let tx = match self.own_tx.as_mut() {
            Some(t) => t,
            None => match self.exec.transaction() {
                Some(t) => t,
                None => return false,
            },
        };
        let mut by_shard: Vec<(usize, Vec<(u64, LockMode)>)> = Vec::new();
        for &(shard, h) in keys {
            match by_shard.iter_mut().find(|(s, _)| *s == shard) {
                Some((_, v)) => {
                    if !v.iter().any(|(k, _)| *k == h) {
                        v.push((h, LockMode::Exclusive));
                    }
                }
                None => by_shard.push((shard, vec![(h, LockMode::Exclusive)])),
            }
        }
        for (shard, locks) in &by_shard {
            if !tx.try_lock_more(*shard, locks) {
                return false;
            }
            self.extra.extend(locks.iter().map(|(h, _)| *h));
        }
        true
    }

    /// Before a [`Scope::Local`] run first lets other fibers run (a hop, a busy yield) or
    /// runs a command that is not a plain one on its own keys, it schedules its transaction:
    /// its keys were free when it started and nothing ran since, so it holds them at once,
    /// and from then on it runs as a [`Scope::Declared`] run.
    fn schedule_local(&mut self) {
        if !matches!(self.scope, Scope::Local) || self.own_tx.is_some() {
            return;
        }
        let plan = KeyPlan::new(self.keys.iter().copied(), LockMode::Exclusive);
        self.own_tx = Some(Transaction::schedule(&plan.locks()));
        self.scope = Scope::Declared;
    }
}

/// A command the script may not run here: its error, counted as a rejected call.
fn reject(reply: &mut Vec<u8>, index: Option<usize>, msg: &str) -> CallOutcome {
    crate::server::ProactorState::current()
        .stats
        .count_rejected(index, msg.as_bytes());
    error(reply, msg)
}

fn error(reply: &mut Vec<u8>, msg: &str) -> CallOutcome {
    reply.push(b'-');
    reply.extend_from_slice(msg.as_bytes());
    reply.extend_from_slice(b"\r\n");
    CallOutcome::Replied
}

/// Command names of `redis.call` as scripts spell them, each with its registry index: a
/// script calls the same few commands again and again, and a hit here costs one short
/// comparison instead of lowercasing and hashing the name.
const NAME_CACHE: usize = 8;
/// Longest name kept there.
const NAME_MAX: usize = 16;

thread_local! {
    static NAMES: std::cell::RefCell<[([u8; NAME_MAX], u8, u16); NAME_CACHE]> =
        const { std::cell::RefCell::new([([0; NAME_MAX], 0, 0); NAME_CACHE]) };
    static NAMES_NEXT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// [`Registry::lookup`] through this proactor's cache of names.
fn lookup_cached(name: &[u8]) -> Option<(usize, &'static CommandSpec)> {
    let registry = Registry::get();
    if name.is_empty() || name.len() > NAME_MAX {
        return registry.lookup(name);
    }
    // Searched in place: copying the cache out would cost more than the search.
    let hit = NAMES.with(|c| {
        c.borrow()
            .iter()
            .find(|(n, len, _)| *len as usize == name.len() && n[..name.len()] == *name)
            .map(|&(_, _, i)| i as usize)
    });
    if let Some(i) = hit {
        return Some((i, &registry.commands()[i]));
    }
    let (i, spec) = registry.lookup(name)?;
    if let Ok(index) = u16::try_from(i) {
        let mut entry = [0u8; NAME_MAX];
        entry[..name.len()].copy_from_slice(name);
        let slot = NAMES_NEXT.with(|n| {
            let s = n.get();
            n.set((s + 1) % NAME_CACHE);
            s
        });
        NAMES.with(|c| c.borrow_mut()[slot] = (entry, name.len() as u8, index));
    }
    Some((i, spec))
}

impl Host for ScriptHost<'_, '_> {
    fn call(&mut self, args: CallArgs<'_>, resp: u8, reply: &mut Vec<u8>) -> CallOutcome {
        let Some((index, spec)) = lookup_cached(args.get(0)) else {
            return reject(reply, None, "ERR Unknown Redis command called from script");
        };
        if !spec.arity_ok(args.len()) {
            return reject(
                reply,
                Some(index),
                "ERR Wrong number of args calling Redis command from script",
            );
        }
        let effective = if !spec.subcommands.is_empty() && args.len() > 1 {
            spec.subcommand(args.get(1)).unwrap_or(spec)
        } else {
            spec
        };
        if effective.has(NOSCRIPT) {
            return reject(
                reply,
                Some(index),
                "ERR This Redis command is not allowed from script",
            );
        }
        let writes = effective.has(WRITE);
        // May-replicate commands (PUBLISH, PFCOUNT) count as writes here, as in Redis.
        if self.read_only && (writes || crate::pause::may_replicate(effective.name)) {
            return reject(
                reply,
                Some(index),
                "ERR Write commands are not allowed from read-only scripts.",
            );
        }
        if effective.has(DENYOOM)
            && !self.allow_oom
            && !self.wrote
            && self.server.client_limits.over_maxmemory()
        {
            return reject(reply, Some(index), conn::OOM_ERROR);
        }
        // The command runs straight from the script's argument buffer.
        self.parsed.set_spans(args.spans.iter().copied());
        // Taken out while the command runs (the host is borrowed mutably meanwhile).
        let parsed = std::mem::take(&mut self.parsed);
        let outcome = self.call_parsed(
            index,
            spec,
            effective,
            &Args::new(args.buf, &parsed),
            resp,
            reply,
        );
        self.parsed = parsed;
        outcome
    }

    fn interrupt(&mut self) -> Interrupt {
        self.interrupt_inner()
    }

    fn log(&mut self, level: LogLevel, message: &[u8]) {
        let msg = String::from_utf8_lossy(message);
        match level {
            // Redis's levels, as `--loglevel` maps them (see src/logging.rs).
            LogLevel::Debug => log::trace!("{msg}"),
            LogLevel::Verbose => log::debug!("{msg}"),
            LogLevel::Notice => log::info!("{msg}"),
            LogLevel::Warning => log::warn!("{msg}"),
        }
    }

    fn acl_check_cmd(&mut self, args: &[&[u8]]) -> Option<bool> {
        let (index, spec) = Registry::get().lookup(args[0])?;
        let (buf, parsed) = crate::acl::check::owned_args(args.iter().copied());
        let args = Args::new(&buf, &parsed);
        Some(crate::acl::check::check(&self.conn.acl.user, index, spec, &args).is_ok())
    }
}

impl ScriptHost<'_, '_> {
    fn call_parsed(
        &mut self,
        index: usize,
        spec: &'static CommandSpec,
        effective: &CommandSpec,
        cmd_args: &Args<'_>,
        resp: u8,
        reply: &mut Vec<u8>,
    ) -> CallOutcome {
        if let Err(e) = crate::acl::gate::acl_gate(
            self.server,
            self.conn,
            cmd_args,
            (index, spec),
            crate::acl::gate::Caller::Script,
        ) {
            return reject(reply, Some(index), &e);
        }
        let writes = effective.has(WRITE);
        let shards = self.server.shards;
        let (mut outside_scope, mut outside_declared) = (0u64, 0u64);
        let mut uncovered: Vec<(usize, u64)> = Vec::new();
        let mut has_keys = false;
        for i in effective.keys_iter(cmd_args) {
            has_keys = true;
            let h = key_hash(cmd_args.get(i));
            let shard = shard_of(h, shards);
            let bit = 1u64.checked_shl(shard as u32).unwrap_or(0);
            if !self.scope.covers(h, shards, self.declared) && !self.extra.contains(&h) {
                outside_scope |= bit;
                uncovered.push((shard, h));
            }
            if !self.declared.contains(&h) {
                outside_declared |= bit;
            }
        }
        let mut keyspace_wide = false;
        if !has_keys && effective.flags & (WRITE | ADMIN) != 0 {
            // FLUSHALL, FLUSHDB, SWAPDB: the whole keyspace.
            let all = if shards >= 64 {
                u64::MAX
            } else {
                (1 << shards) - 1
            };
            outside_declared = all;
            if !self.scope.is_global(shards) {
                outside_scope = all;
                keyspace_wide = true;
            }
        }
        if outside_declared != 0 && self.strict {
            return reject(
                reply,
                Some(index),
                "ERR Script attempted to access a key it did not declare (default-lua-flags disallow-undeclared-keys)",
            );
        }
        self.undeclared |= outside_declared;
        if outside_scope != 0 {
            if self.can_restart && !self.wrote {
                return CallOutcome::Restart;
            }
            // It already wrote: lock what it reached now if nobody holds or awaits it, else
            // refuse the command (never wait: that could deadlock). The next run locks it.
            if keyspace_wide || !self.lock_more(&uncovered) {
                return reject(
                    reply,
                    Some(index),
                    "ERR Script reached keys outside its locks after it wrote and they are in use; its next run locks them",
                );
            }
        }
        if writes {
            self.wrote = true;
            if let Some((wrote, _)) = &self.shared {
                wrote.store(true, Ordering::Release);
            }
        }
        // A local run executes commands on its own keys in place (the commands a squashed
        // pipeline may run in place: they touch only their keys' shard); anything else may
        // park, so it holds its keys' locks first.
        let in_place = matches!(self.scope, Scope::Local)
            && crate::squash::squashable(index)
            && has_keys
            && outside_scope == 0;
        if matches!(self.scope, Scope::Local) && !in_place {
            self.schedule_local();
        }
        let saved = self.conn.resp;
        self.conn.resp = if resp == 3 {
            RespVersion::Resp3
        } else {
            RespVersion::Resp2
        };
        let exec = if in_place {
            Exec::on_shard().for_script()
        } else {
            match self.own_tx.as_mut() {
                Some(t) => Exec::scheduled(t).for_script(),
                None => self.exec.reborrow(),
            }
        };
        // CLIENT LIST goes on showing the EVAL or FCALL, not the commands it called.
        let shown = *self.conn.info.last_cmd.borrow();
        self.clock = conn::execute_at(
            self.server,
            self.conn,
            cmd_args,
            Some((index, spec)),
            reply,
            exec,
            self.clock,
        );
        self.conn.resp = saved;
        *self.conn.info.last_cmd.borrow_mut() = shown;
        CallOutcome::Replied
    }

    fn interrupt_inner(&mut self) -> Interrupt {
        if self.kill_requested() {
            return Interrupt::Kill;
        }
        let threshold = self.server.config.get_int("busy-reply-threshold");
        if threshold <= 0 {
            return Interrupt::Continue;
        }
        let elapsed_ms = (clock::now().as_nanos() - self.started.as_nanos()) / 1_000_000;
        if elapsed_ms < threshold as u64 {
            return Interrupt::Continue;
        }
        if !self.busy {
            self.busy = true;
            log::warn!(
                "Slow script detected: still in execution after {elapsed_ms} milliseconds. You can try killing the script using the {} command. Script name is: {}.",
                if self.eval { "SCRIPT KILL" } else { "FUNCTION KILL" },
                self.name
            );
            let wrote = Arc::new(AtomicBool::new(self.wrote));
            let kill = Arc::new(AtomicBool::new(false));
            self.shared = Some((wrote.clone(), kill.clone()));
            self.server.scripts.set_busy(BusyScript {
                eval: self.eval,
                name: self.name.to_string(),
                wrote,
                kill,
                client: self.conn.id,
                command: self.command.map(|a| a.to_vecs()).unwrap_or_default(),
                started: self.started,
            });
        }
        // Let the other clients of this proactor in: they are answered -BUSY.
        self.schedule_local();
        damselfly_runtime::fiber::yield_now();
        if self.kill_requested() {
            Interrupt::Kill
        } else {
            Interrupt::Continue
        }
    }

    fn kill_requested(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|(_, kill)| kill.swap(false, Ordering::AcqRel))
    }
}
