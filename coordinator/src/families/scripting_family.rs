//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT, and the run of a script or function as one
//! transaction (see `scripting` for how its locks are chosen).

use crate::args::{eq_ignore_case, Args};
use crate::ctx::CmdCtx;
use crate::error::{CmdError, CmdResult};
use crate::exec::Exec;
use crate::families::server_family::{help_reply, sub_arity, unknown_sub};
use crate::registry::{command, flags::*, CommandSpec};
use crate::script_host::ScriptHost;
use crate::scripting::{self, CachedScript, Lease, Scope};
use crate::shard::key_hash;
use damselfly_protocol::RespVersion;
use damselfly_runtime::fiber::call_on_large_stack;
use damselfly_scripts::{shebang, RunOutcome, ScriptRun};
use std::sync::Arc;

/// Runs before a rerun is no longer tried: the last attempt holds every shard.
const MAX_ATTEMPTS: usize = 3;

/// A script's SHA1 as 40 lowercase hex digits, kept on the stack.
#[derive(Clone, Copy)]
pub(crate) struct Sha([u8; 40]);

impl Sha {
    /// `text` lowercased, when it has the length of a SHA1 and is ASCII.
    fn parse(text: &[u8]) -> Option<Sha> {
        let mut b: [u8; 40] = text.try_into().ok()?;
        if !b.is_ascii() {
            return None;
        }
        b.make_ascii_lowercase();
        Some(Sha(b))
    }

    pub(crate) fn as_str(&self) -> &str {
        // SAFETY: `parse`, the only constructor, keeps ASCII bytes only, which are UTF-8; no
        // validation pass per use (a script run asks for its SHA several times).
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

/// The items of `items` in `buf` when they fit, else in `spill`: no allocation for the few
/// keys and arguments of a usual script call.
fn on_stack<'b, T: Copy, const N: usize>(
    buf: &'b mut [T; N],
    spill: &'b mut Vec<T>,
    items: impl ExactSizeIterator<Item = T>,
) -> &'b [T] {
    let n = items.len();
    if n <= N {
        for (d, s) in buf.iter_mut().zip(items) {
            *d = s;
        }
        &buf[..n]
    } else {
        spill.extend(items);
        spill
    }
}

/// What runs: an EVAL script or a library function.
pub(crate) enum Target<'a> {
    Script {
        sha: Sha,
        body: Option<&'a [u8]>,
        cached: Option<Arc<CachedScript>>,
    },
    Function {
        name: String,
        flags: u32,
    },
}

fn numkeys(args: &Args<'_>) -> Result<usize, CmdError> {
    let n = crate::args::parse_i64(args.get(2))?;
    if n > args.len() as i64 - 3 {
        return Err(CmdError::Raw(
            "ERR Number of keys can't be greater than number of args".into(),
        ));
    }
    if n < 0 {
        return Err(CmdError::Raw("ERR Number of keys can't be negative".into()));
    }
    Ok(n as usize)
}

fn eval_generic(ctx: &mut CmdCtx<'_>, args: &Args<'_>, by_sha: bool, ro: bool) -> CmdResult {
    let n = numkeys(args)?;
    let target = if by_sha {
        let sha = Sha::parse(args.get(1));
        let cached = sha.and_then(|sha| ctx.server.scripts.get(sha.as_str()));
        let (Some(sha), Some(cached)) = (sha, cached) else {
            return Err(CmdError::Raw(
                "NOSCRIPT No matching script. Please use EVAL.".into(),
            ));
        };
        Target::Script {
            sha,
            body: None,
            cached: Some(cached),
        }
    } else {
        let body = args.get(1);
        let sha = Sha::parse(damselfly_scripts::sha1_hex(body).as_bytes())
            .expect("a SHA1 is 40 hex digits");
        let cached = ctx.server.scripts.get(sha.as_str());
        Target::Script {
            sha,
            body: Some(body),
            cached,
        }
    };
    let (mut kbuf, mut kspill): ([&[u8]; 8], _) = ([&[]; 8], Vec::new());
    let keys = on_stack(&mut kbuf, &mut kspill, (3..3 + n).map(|i| args.get(i)));
    let (mut abuf, mut aspill): ([&[u8]; 8], _) = ([&[]; 8], Vec::new());
    let argv = on_stack(
        &mut abuf,
        &mut aspill,
        (3 + n..args.len()).map(|i| args.get(i)),
    );
    run(ctx, args, target, keys, argv, ro)
}

fn cmd_eval(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    eval_generic(ctx, args, false, false)
}

fn cmd_evalsha(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    eval_generic(ctx, args, true, false)
}

fn cmd_eval_ro(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    eval_generic(ctx, args, false, true)
}

fn cmd_evalsha_ro(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    eval_generic(ctx, args, true, true)
}

/// `default-lua-flags` names `disallow-undeclared-keys` (read once per config change).
fn strict_keys(ctx: &CmdCtx<'_>) -> bool {
    thread_local! {
        static CACHED: std::cell::Cell<(u64, bool)> = const { std::cell::Cell::new((u64::MAX, false)) };
    }
    let gen = ctx.server.config.generation();
    let (at, strict) = CACHED.with(|c| c.get());
    if at == gen {
        return strict;
    }
    let strict = ctx
        .server
        .config
        .get("default-lua-flags")
        .is_some_and(|f| f.contains("disallow-undeclared-keys"));
    CACHED.with(|c| c.set((gen, strict)));
    strict
}

fn raw(msg: impl Into<String>) -> CmdError {
    CmdError::Raw(msg.into())
}

/// Runs `target` with `keys` and `argv` as one transaction and writes its reply.
pub(crate) fn run(
    ctx: &mut CmdCtx<'_>,
    command: &Args<'_>,
    mut target: Target<'_>,
    keys: &[&[u8]],
    argv: &[&[u8]],
    ro: bool,
) -> CmdResult {
    let flags = match &target {
        Target::Script {
            cached: Some(c), ..
        } => c.flags,
        Target::Script { body: Some(b), .. } => {
            shebang::parse_script(b)
                .map_err(|e| raw(format!("ERR {e}")))?
                .flags
        }
        Target::Script { .. } => shebang::EVAL_COMPAT,
        Target::Function { flags, .. } => *flags,
    };
    let compat = flags & shebang::EVAL_COMPAT != 0;
    let no_writes = !compat && flags & shebang::NO_WRITES != 0;
    if !compat && !no_writes && ro {
        return Err(raw(
            "ERR Can not execute a script with write flag using *_ro command.",
        ));
    }
    if !compat
        && flags & (shebang::ALLOW_OOM | shebang::NO_WRITES) == 0
        && ctx.server.client_limits.over_maxmemory()
    {
        return Err(raw("OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'"));
    }
    let read_only = ro || no_writes;
    let allow_oom = !compat && flags & shebang::ALLOW_OOM != 0;
    let strict = strict_keys(ctx);
    let in_tx = ctx.exec.enclosing();
    let shards = ctx.server.shards;
    let caller_resp = if ctx.conn.resp == RespVersion::Resp3 {
        3
    } else {
        2
    };
    let server = ctx.server;
    // Err(Replied): the script's error reply is written (and counted where due).
    let result: Result<(), Result<(), String>> = call_on_large_stack(|| {
        let mut lease = Lease::take(&server.scripts);
        if let Target::Script { sha, body, cached } = &mut target {
            let sha = sha.as_str();
            if !lease.interp().has_script(sha) {
                let code = match (body, cached.as_ref()) {
                    (Some(b), _) => b.to_vec(),
                    (None, Some(c)) => c.body.clone(),
                    (None, None) => {
                        return Err(Err("NOSCRIPT No matching script. Please use EVAL.".into()))
                    }
                };
                lease
                    .interp()
                    .compile(sha, &code)
                    .map_err(|e| Err(format!("ERR {e}")))?;
                if cached.is_none() {
                    *cached = Some(server.scripts.insert(sha.to_string(), code, flags));
                }
            } else if cached.is_none() {
                *cached = Some(server.scripts.insert(
                    sha.to_string(),
                    body.unwrap_or_default().to_vec(),
                    flags,
                ));
            }
        }
        let cached_script = match &target {
            Target::Script { cached, .. } => cached.clone(),
            Target::Function { name, .. } => Some(server.scripts.function_state(name)),
        };
        let (name, eval) = match &target {
            Target::Script { sha, .. } => (sha.as_str(), true),
            Target::Function { name, .. } => (name.as_str(), false),
        };
        let (mut dbuf, mut dspill) = ([0u64; 8], Vec::new());
        let declared = on_stack(&mut dbuf, &mut dspill, keys.iter().map(|k| key_hash(k)));
        let db = ctx.conn.db;
        for attempt in 0..MAX_ATTEMPTS {
            let scope = if in_tx {
                Scope::Enclosing
            } else if strict {
                Scope::Declared
            } else if attempt + 1 == MAX_ATTEMPTS {
                Scope::Shards(u64::MAX)
            } else {
                scripting::initial_scope(cached_script.as_deref(), declared, shards)
            };
            let mut tx = scripting::schedule(&scope, keys, shards);
            let exec = match tx.as_mut() {
                Some(t) => Exec::scheduled(t),
                None if in_tx => ctx.exec.reborrow(),
                None => Exec::now(),
            }
            .for_script();
            let can_restart = !in_tx && !strict && !scope.is_global(shards);
            let mut host = ScriptHost::new(server, ctx.conn, exec, scope, declared, eval, name);
            host.read_only = read_only;
            host.allow_oom = allow_oom;
            host.strict = strict;
            host.can_restart = can_restart;
            host.command = Some(*command);
            host.keys = keys;
            let run = ScriptRun {
                name,
                keys,
                args: argv,
                caller_resp,
            };
            let mark = ctx.out.len();
            let outcome = match &target {
                Target::Script { sha, .. } => {
                    lease
                        .interp()
                        .run_script(sha.as_str(), &run, &mut host, ctx.out)
                }
                Target::Function { name, .. } => {
                    lease.interp().run_function(name, &run, &mut host, ctx.out)
                }
            };
            host.finish();
            let undeclared = host.undeclared;
            let local = matches!(host.scope, Scope::Local);
            drop(host);
            ctx.conn.db = db;
            if let Some(t) = tx {
                t.conclude();
            } else if local {
                // Its writes ran in place: wake the clients blocked on what they filled.
                crate::shard::Shard::current().serve_blocked();
            }
            scripting::learn(cached_script.as_deref(), undeclared);
            match outcome {
                RunOutcome::Replied => return Ok(()),
                RunOutcome::Failed { counted } => {
                    if !counted {
                        let stats = &crate::server::ProactorState::current().stats;
                        stats.count_error(&ctx.out[mark..]);
                    }
                    return Err(Ok(()));
                }
                RunOutcome::Restart => ctx.out.truncate(mark),
            }
        }
        unreachable!("the last attempt holds every shard and cannot restart")
    });
    match result {
        Ok(()) => Ok(()),
        Err(Ok(())) => Err(CmdError::Replied),
        Err(Err(line)) => Err(CmdError::Raw(line)),
    }
}

// ---- SCRIPT ---------------------------------------------------------------------------------

fn cmd_script(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    let sub = args.get(1);
    if eq_ignore_case(sub, "load") {
        sub_arity(args, 3, "script|load")?;
        let body = args.get(2);
        let flags = shebang::parse_script(body)
            .map_err(|e| raw(format!("ERR {e}")))?
            .flags;
        let sha = damselfly_scripts::sha1_hex(body);
        let server = ctx.server;
        call_on_large_stack(|| {
            let mut lease = Lease::take(&server.scripts);
            if lease.interp().has_script(&sha) {
                return Ok(());
            }
            lease
                .interp()
                .compile(&sha, body)
                .map_err(|e| raw(format!("ERR {e}")))
        })?;
        server.scripts.insert(sha.clone(), body.to_vec(), flags);
        ctx.reply().bulk(sha.as_bytes());
        Ok(())
    } else if eq_ignore_case(sub, "exists") {
        sub_arity(args, -3, "script|exists")?;
        let scripts = &ctx.server.scripts;
        let found: Vec<bool> = args
            .rest(2)
            .map(|sha| scripts.exists(&String::from_utf8_lossy(sha).to_ascii_lowercase()))
            .collect();
        let mut r = ctx.reply();
        r.array_header(found.len());
        for f in found {
            r.integer(f as i64);
        }
        Ok(())
    } else if eq_ignore_case(sub, "flush") {
        let ok = args.len() == 2
            || (args.len() == 3
                && (eq_ignore_case(args.get(2), "sync") || eq_ignore_case(args.get(2), "async")));
        if !ok {
            return Err(raw("ERR SCRIPT FLUSH only support SYNC|ASYNC option"));
        }
        ctx.server.scripts.flush();
        ctx.exec
            .on_all_shards(&|_| crate::scripting::drop_idle_interpreters());
        ctx.reply().ok();
        Ok(())
    } else if eq_ignore_case(sub, "kill") {
        sub_arity(args, 2, "script|kill")?;
        ctx.server.scripts.kill(true).map_err(raw)?;
        ctx.reply().ok();
        Ok(())
    } else if eq_ignore_case(sub, "help") {
        sub_arity(args, 2, "script|help")?;
        help_reply(
            ctx,
            "SCRIPT",
            &[
                "EXISTS <sha1> [<sha1> ...]",
                "    Return information about the existence of the scripts in the script cache.",
                "FLUSH [ASYNC|SYNC]",
                "    Flush the Lua scripts cache. Very dangerous on replicas.",
                "    When called without the optional mode argument, the behavior is determined by the",
                "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                "    * ASYNC: Asynchronously flush the scripts cache.",
                "    * SYNC: Synchronously flush the scripts cache.",
                "KILL",
                "    Kill the currently executing Lua script.",
                "LOAD <script>",
                "    Load a script into the scripts cache without executing it.",
            ],
        );
        Ok(())
    } else {
        Err(unknown_sub("script", args))
    }
}

// ---- registration ----------------------------------------------------------------------------

#[rustfmt::skip]
pub fn commands() -> Vec<CommandSpec> {
    let c = |name: &'static str, arity, flags, summary, handler| {
        let since = if name.ends_with("_ro") { "7.0.0" } else { "2.6.0" };
        command(name, arity, flags, &["@slow", "@scripting"], (0, 0, 0), "scripting", since, summary, handler)
    };
    let run_flags = NOSCRIPT | STALE;
    vec![
        c("eval", -3, run_flags, "Executes a server-side Lua script.", cmd_eval),
        c("evalsha", -3, run_flags, "Executes a server-side Lua script by SHA1 digest.", cmd_evalsha),
        c("eval_ro", -3, run_flags | READONLY, "Executes a read-only server-side Lua script.", cmd_eval_ro),
        c("evalsha_ro", -3, run_flags | READONLY, "Executes a read-only server-side Lua script by SHA1 digest.", cmd_evalsha_ro),
        c("script", -2, 0, "A container for Lua scripts management commands.", cmd_script).with_subcommands(|c| {
            let acl = &["@slow", "@scripting"];
            let none = (0, 0, 0);
            vec![
                c.sub("script|exists", -3, NOSCRIPT, acl, none, "2.6.0", "Determines whether server-side Lua scripts exist in the script cache."),
                c.sub("script|flush", -2, NOSCRIPT, acl, none, "2.6.0", "Removes all server-side Lua scripts from the script cache."),
                c.sub("script|help", 2, LOADING | STALE, acl, none, "5.0.0", "Returns helpful text about the different subcommands."),
                c.sub("script|kill", 2, NOSCRIPT | ALLOW_BUSY, acl, none, "2.6.0", "Terminates a server-side Lua script during execution."),
                c.sub("script|load", 3, NOSCRIPT | STALE, acl, none, "2.6.0", "Loads a server-side Lua script to the script cache."),
            ]
        }),
    ]
}
