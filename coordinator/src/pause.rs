//! CLIENT PAUSE / CLIENT UNPAUSE: a server-wide pause of client commands until a deadline.
//!
//! The state is two atomics every proactor reads, so a pause set on one proactor holds the
//! clients of all of them. A paused command's fiber waits before the command runs (or is
//! queued by MULTI), polling the state on a short timer: an UNPAUSE from another proactor is
//! then seen without a wake-up message, and the hot path pays one relaxed load per command.
//! While paused, expiry stops as in Redis: the heartbeat skips active expiry and eviction,
//! and each shard's reads treat expired keys as absent without deleting them.

use crate::args::{eq_ignore_case, Args};
use crate::ctx::{CmdCtx, ConnState};
use crate::error::{CmdError, CmdResult};
use crate::registry::{flags, CommandSpec};
use crate::server::ServerState;
use damselfly_runtime::clock;
use damselfly_scripts::shebang;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

/// How often a paused client looks at the pause again.
const POLL: Duration = Duration::from_millis(5);

const NONE: u8 = 0;
const WRITE: u8 = 1;
const ALL: u8 = 2;

/// The server's pause: its mode (none, writes, all) and its end (wall-clock ms).
#[derive(Default)]
pub struct PauseState {
    mode: AtomicU8,
    until_ms: AtomicU64,
    /// Clients waiting for the pause to end (counted in INFO blocked_clients, as Redis does).
    waiting: AtomicUsize,
}

impl PauseState {
    /// Whether a pause may be in effect (its deadline is checked by the caller).
    #[inline]
    pub fn maybe_active(&self) -> bool {
        self.mode.load(Ordering::Relaxed) != NONE
    }

    /// The pause in effect now: its mode, or NONE once its deadline passed.
    fn current(&self, now_ms: u64) -> u8 {
        let mode = self.mode.load(Ordering::Acquire);
        if mode == NONE || now_ms >= self.until_ms.load(Ordering::Acquire) {
            return NONE;
        }
        mode
    }

    /// Whether expiry and eviction are stopped now.
    pub fn stops_expiry(&self) -> bool {
        self.maybe_active() && self.current(clock::wall_now_ms()) != NONE
    }

    /// Clients whose command waits for the pause to end.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Pauses until `until_ms` at least, in `mode` at least: a pause in effect is only
    /// extended or made stricter, never shortened, as in Redis.
    fn pause(&self, mode: u8, until_ms: u64) -> u64 {
        let now = clock::wall_now_ms();
        if self.current(now) == NONE {
            self.until_ms.store(until_ms, Ordering::Release);
            self.mode.store(mode, Ordering::Release);
            return until_ms;
        }
        self.mode.fetch_max(mode, Ordering::AcqRel);
        self.until_ms.fetch_max(until_ms, Ordering::AcqRel);
        self.until_ms.load(Ordering::Acquire)
    }

    fn unpause(&self) {
        self.mode.store(NONE, Ordering::Release);
        self.until_ms.store(0, Ordering::Release);
    }
}

/// Commands flagged may-replicate in Redis: not writes, but they reach replicas (PUBLISH) or
/// may change a value (PFCOUNT), so a WRITE pause holds them too.
pub(crate) fn may_replicate(name: &str) -> bool {
    matches!(
        name,
        "publish" | "spublish" | "pfcount" | "eval" | "evalsha" | "fcall"
    )
}

/// Whether a script command may write: EVAL/EVALSHA/FCALL whose script declares `no-writes`
/// do not (the *_RO forms are read-only commands and never get here).
fn script_may_write(server: &ServerState, name: &str, args: &Args<'_>) -> bool {
    let flags = match name {
        "eval" => shebang::parse_script(args.get(1)).map_or(shebang::EVAL_COMPAT, |s| s.flags),
        "evalsha" => {
            let sha = String::from_utf8_lossy(args.get(1)).to_ascii_lowercase();
            match server.scripts.get(&sha) {
                Some(s) => s.flags,
                None => shebang::EVAL_COMPAT,
            }
        }
        "fcall" => {
            let name = String::from_utf8_lossy(args.get(1));
            match server.scripts.function(&name) {
                Some((_, flags)) => flags,
                None => shebang::EVAL_COMPAT,
            }
        }
        _ => return true,
    };
    flags & shebang::EVAL_COMPAT != 0 || flags & shebang::NO_WRITES == 0
}

/// Whether a command writes or may replicate (what a WRITE pause holds).
fn writes(server: &ServerState, spec: &CommandSpec, args: &Args<'_>) -> bool {
    let effective = if !spec.subcommands.is_empty() && args.len() > 1 {
        spec.subcommand(args.get(1)).unwrap_or(spec)
    } else {
        spec
    };
    if effective.has(flags::WRITE) {
        return true;
    }
    may_replicate(spec.name) && script_may_write(server, spec.name, args)
}

/// Whether the pause holds this command: everything under ALL; under WRITE, writes and
/// may-replicate commands, and an EXEC with any of those queued.
fn held(server: &ServerState, conn: &ConnState, spec: &CommandSpec, args: &Args<'_>) -> bool {
    if spec.name == "exec" {
        if let Some(multi) = &conn.multi {
            return multi.queued.iter().any(|q| {
                q.found
                    .is_some_and(|(_, s)| writes(server, s, &Args::new(&q.raw, &q.args)))
            });
        }
        return false;
    }
    writes(server, spec, args)
}

/// Called before a command runs (or is queued): waits while a pause holds it. Returns
/// whether it waited (the caller restarts its clock: the wait is not the command's time).
pub fn wait_if_paused(
    server: &ServerState,
    conn: &ConnState,
    spec: &CommandSpec,
    args: &Args<'_>,
) -> bool {
    let p = &server.pause;
    let mut counted = false;
    loop {
        let mode = p.current(clock::wall_now_ms());
        let hold = match mode {
            NONE => false,
            ALL => true,
            _ => held(server, conn, spec, args),
        };
        if !hold || damselfly_runtime::stopping() {
            break;
        }
        if !counted {
            counted = true;
            p.waiting.fetch_add(1, Ordering::Relaxed);
            conn.info.blocked.set(true);
        }
        damselfly_runtime::fiber::sleep(POLL);
    }
    if counted {
        p.waiting.fetch_sub(1, Ordering::Relaxed);
        conn.info.blocked.set(false);
    }
    counted
}

/// Each shard's reads stop deleting expired keys until `until_ms` (0: from now on again).
fn freeze_expiry(until_ms: u64) {
    crate::tx::on_all_shards(&|shard| shard.db.borrow_mut().pause_expiry_until(until_ms));
}

/// CLIENT PAUSE timeout [WRITE|ALL]
pub fn client_pause(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let mode = if args.len() == 4 {
        let m = args.get(3);
        if eq_ignore_case(m, "write") {
            WRITE
        } else if eq_ignore_case(m, "all") {
            ALL
        } else {
            return Err(CmdError::raw("ERR CLIENT PAUSE mode must be WRITE or ALL"));
        }
    } else {
        ALL
    };
    let timeout = crate::args::parse_i64(args.get(2))
        .map_err(|_| CmdError::raw("ERR timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::raw("ERR timeout is negative"));
    }
    let now = clock::wall_now_ms();
    if timeout as u64 > i64::MAX as u64 - now {
        return Err(CmdError::raw("ERR timeout is out of range"));
    }
    // A timeout of 0 pauses until now: no command waits.
    let until = if timeout == 0 {
        0
    } else {
        now + timeout as u64
    };
    let until = ctx.server.pause.pause(mode, until);
    freeze_expiry(until);
    ctx.reply().ok();
    Ok(())
}

/// CLIENT UNPAUSE
pub fn client_unpause(ctx: &mut CmdCtx<'_>) -> CmdResult {
    ctx.server.pause.unpause();
    freeze_expiry(0);
    ctx.reply().ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_is_extended_and_made_stricter_never_shortened() {
        let p = PauseState::default();
        let now = clock::wall_now_ms();
        assert_eq!(p.current(now), NONE);
        assert_eq!(p.pause(WRITE, now + 10_000), now + 10_000);
        assert_eq!(p.current(now), WRITE);
        assert_eq!(p.pause(ALL, now + 5_000), now + 10_000);
        assert_eq!(p.current(now), ALL);
        assert_eq!(p.pause(WRITE, now + 20_000), now + 20_000);
        assert_eq!(p.current(now), ALL);
        assert_eq!(p.current(now + 20_000), NONE);
        p.unpause();
        assert!(!p.maybe_active());
    }

    #[test]
    fn an_ended_pause_is_replaced_not_merged() {
        let p = PauseState::default();
        let now = clock::wall_now_ms();
        p.pause(ALL, now.saturating_sub(1));
        assert_eq!(p.current(now), NONE);
        p.pause(WRITE, now + 1_000);
        assert_eq!(p.current(now), WRITE);
    }
}
