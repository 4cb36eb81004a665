//! What a running script calls: the `redis.*` functions, Redis's `pcall`, `math.random`, the
//! sandbox's guards and the instruction-count hook. They are plain C functions on the raw Lua
//! API (as Redis's are), so errors are the exact Lua values Redis raises (`{err=...}` tables
//! and strings), never wrapped.
//!
//! Each function that may raise does its work in an inner function that returns what to do,
//! so no Rust value with a destructor is alive when `lua_error` unwinds the C stack.

use crate::reply::{self, push_bytes, push_error_table};
use crate::{CallOutcome, Host, Interrupt, LogLevel};
use mlua::ffi::{self, lua_Debug, lua_State};
use std::ffi::{c_int, c_void};

/// Registry key (its address) of the box (a userdata) holding a run's [`RunCtx`] pointer;
/// `redis.call` and `redis.pcall` also hold the box as their upvalue, so a call finds its
/// run without a registry lookup.
static RUN_KEY: u8 = 0;
/// Registry key of the set of read-only proxy tables.
pub(crate) static READONLY_KEY: u8 = 0;

/// Instructions between two calls of the hook (Redis's figure).
pub(crate) const HOOK_EVERY: c_int = 100_000;

/// Why a run stops before its end.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum Abort {
    /// SCRIPT KILL / FUNCTION KILL.
    Killed,
    /// The host asked for the whole script to run again (under other locks).
    Restart,
}

/// The state of one script run, reachable from the Lua state while it runs.
pub(crate) struct RunCtx<'h> {
    pub host: &'h mut dyn Host,
    /// RESP version of the replies `redis.call` converts (`redis.setresp`).
    pub resp: u8,
    pub abort: Option<Abort>,
    /// Scratch buffers reused by every `redis.call` (the interpreter keeps them between runs).
    pub bufs: CallBufs,
    /// Inside `redis.call`: a hook that fires then must not reenter the host.
    pub in_call: bool,
}

/// `redis.call`'s buffers: the arguments (one buffer and their spans) and the reply.
#[derive(Default)]
pub(crate) struct CallBufs {
    pub args: Vec<u8>,
    pub spans: Vec<(usize, usize)>,
    pub reply: Vec<u8>,
}

/// Buffers grown past this by one huge call are freed after it.
const KEEP_BUFFER: usize = 64 * 1024;

/// The 48-bit generator behind `math.random` (`redisLrand48`), so a seeded script sees the same
/// sequence as on Redis.
pub(crate) struct Rand48 {
    x: u64,
}

impl Rand48 {
    pub const fn new() -> Rand48 {
        Rand48 {
            x: 0x1234_ABCD_330E,
        }
    }

    pub fn seed(&mut self, seed: i32) {
        let s = seed as u32 as u64;
        self.x = ((s & 0xffff) << 16) | ((s >> 16) << 32) | 0x330E;
    }

    pub fn next(&mut self) -> i32 {
        self.x = (self.x.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & ((1 << 48) - 1);
        (self.x >> 17) as i32
    }
}

/// Creates the (null) context box of `l`, keeps it in the registry and leaves it on the
/// stack.
///
/// # Safety
/// `l` is valid with room for three pushes.
pub(crate) unsafe fn push_new_ctx_box(l: *mut lua_State) {
    ffi::lua_pushlightuserdata(l, &RUN_KEY as *const u8 as *mut c_void);
    let p = ffi::lua_newuserdata(l, std::mem::size_of::<*mut RunCtx<'static>>())
        as *mut *mut RunCtx<'static>;
    p.write(std::ptr::null_mut());
    ffi::lua_pushvalue(l, -1);
    ffi::lua_insert(l, -3);
    ffi::lua_rawset(l, ffi::LUA_REGISTRYINDEX);
}

/// The context box of `l` (null before the sandbox is installed).
unsafe fn ctx_box(l: *mut lua_State) -> *mut *mut RunCtx<'static> {
    ffi::lua_pushlightuserdata(l, &RUN_KEY as *const u8 as *mut c_void);
    ffi::lua_rawget_(l, ffi::LUA_REGISTRYINDEX);
    let p = ffi::lua_touserdata(l, -1) as *mut *mut RunCtx<'static>;
    ffi::lua_pop(l, 1);
    p
}

/// Stores `ctx` as the running context of `l` (null to clear).
///
/// # Safety
/// `l` is valid; `ctx` stays valid until cleared.
pub(crate) unsafe fn set_ctx(l: *mut lua_State, ctx: *mut RunCtx<'_>) {
    let b = ctx_box(l);
    if !b.is_null() {
        // SAFETY: the box is a live userdata (the registry holds it) sized for a pointer;
        // the lifetime is erased only while the run, which outlives its use, goes on.
        b.write(ctx.cast());
    }
}

unsafe fn ctx<'a>(l: *mut lua_State) -> Option<&'a mut RunCtx<'static>> {
    let b = ctx_box(l);
    // SAFETY (caller's): the pointer was stored by `set_ctx` for the run in progress.
    if b.is_null() {
        None
    } else {
        (*b).as_mut()
    }
}

/// [`ctx`] for `redis.call` and `redis.pcall`, whose upvalue 1 is the context box.
unsafe fn call_ctx<'a>(l: *mut lua_State) -> Option<&'a mut RunCtx<'static>> {
    let b = ffi::lua_touserdata(l, ffi::lua_upvalueindex(1)) as *mut *mut RunCtx<'static>;
    // SAFETY (caller's): as in `ctx`; the upvalue is the box `push_new_ctx_box` made.
    if b.is_null() {
        None
    } else {
        (*b).as_mut()
    }
}

/// The per-state generator, kept as a userdata in the registry.
unsafe fn rand48<'a>(l: *mut lua_State) -> &'a mut Rand48 {
    static RAND_KEY: u8 = 0;
    ffi::lua_pushlightuserdata(l, &RAND_KEY as *const u8 as *mut c_void);
    ffi::lua_rawget_(l, ffi::LUA_REGISTRYINDEX);
    let mut p = ffi::lua_touserdata(l, -1) as *mut Rand48;
    ffi::lua_pop(l, 1);
    if p.is_null() {
        ffi::lua_pushlightuserdata(l, &RAND_KEY as *const u8 as *mut c_void);
        p = ffi::lua_newuserdata(l, std::mem::size_of::<Rand48>()) as *mut Rand48;
        p.write(Rand48::new());
        ffi::lua_rawset(l, ffi::LUA_REGISTRYINDEX);
    }
    &mut *p
}

/// What a C function does once its Rust work is finished.
enum Step {
    Return(c_int),
    /// Raise the value on top of the stack.
    Raise,
}

unsafe fn finish(l: *mut lua_State, step: Step) -> c_int {
    match step {
        Step::Return(n) => n,
        Step::Raise => ffi::lua_error(l),
    }
}

/// Pushes the string `msg` prefixed with the position of the Lua code at `level`.
unsafe fn push_where(l: *mut lua_State, level: c_int, msg: &[u8]) {
    ffi::luaL_where(l, level);
    push_bytes(l, msg);
    ffi::lua_concat(l, 2);
}

// ---- redis.call / redis.pcall ---------------------------------------------------------------

pub(crate) unsafe extern "C-unwind" fn redis_call(l: *mut lua_State) -> c_int {
    let step = call_inner(l, true);
    finish(l, step)
}

pub(crate) unsafe extern "C-unwind" fn redis_pcall(l: *mut lua_State) -> c_int {
    let step = call_inner(l, false);
    finish(l, step)
}

unsafe fn call_inner(l: *mut lua_State, raise: bool) -> Step {
    let Some(ctx) = call_ctx(l) else {
        push_error_table(
            l,
            b"redis.call/pcall can only be called inside a script invocation",
        );
        return Step::Raise;
    };
    if ctx.in_call {
        push_error_table(
            l,
            b"luaRedisGenericCommand() recursive call detected. Are you doing funny stuff with Lua debug hooks?",
        );
        return Step::Return(1);
    }
    let argc = ffi::lua_gettop(l);
    if argc == 0 {
        push_error_table(
            l,
            b"Please specify at least one argument for this redis lib call",
        );
        return if raise { Step::Raise } else { Step::Return(1) };
    }
    let b = &mut ctx.bufs;
    b.args.clear();
    b.spans.clear();
    for i in 1..=argc {
        let start = b.args.len();
        if ffi::lua_type(l, i) == ffi::LUA_TNUMBER {
            // Not lua_tolstring: Lua's own number format loses precision.
            reply::format_g17(ffi::lua_tonumber(l, i), &mut b.args);
        } else {
            let mut len = 0usize;
            let p = ffi::lua_tolstring(l, i, &mut len);
            if p.is_null() {
                ffi::lua_settop(l, 0);
                push_error_table(
                    l,
                    b"Lua redis lib command arguments must be strings or integers",
                );
                return if raise { Step::Raise } else { Step::Return(1) };
            }
            b.args
                .extend_from_slice(std::slice::from_raw_parts(p.cast::<u8>(), len));
        }
        b.spans.push((start, b.args.len() - start));
    }
    ffi::lua_settop(l, 0);
    let outcome = {
        let args = crate::CallArgs {
            buf: &ctx.bufs.args,
            spans: &ctx.bufs.spans,
        };
        ctx.bufs.reply.clear();
        ctx.in_call = true;
        let o = ctx.host.call(args, ctx.resp, &mut ctx.bufs.reply);
        ctx.in_call = false;
        o
    };
    if outcome == CallOutcome::Restart {
        begin_abort(l, ctx, Abort::Restart);
        return Step::Raise;
    }
    let is_error = reply::push_reply(l, &ctx.bufs.reply);
    let b = &mut ctx.bufs;
    if b.reply.capacity() > KEEP_BUFFER {
        b.reply = Vec::new();
    }
    if b.args.capacity() > KEEP_BUFFER {
        b.args = Vec::new();
    }
    if is_error && raise {
        Step::Raise
    } else {
        Step::Return(1)
    }
}

/// Stops the run: from now on every line raises again, so `pcall` cannot swallow it.
unsafe fn begin_abort(l: *mut lua_State, ctx: &mut RunCtx<'_>, why: Abort) {
    ctx.abort = Some(why);
    ffi::lua_sethook(
        l,
        Some(count_hook),
        ffi::LUA_MASKLINE | ffi::LUA_MASKCOUNT,
        1,
    );
    push_abort_error(l, why);
}

unsafe fn push_abort_error(l: *mut lua_State, why: Abort) {
    match why {
        Abort::Killed => push_error_table(l, b"Script killed by user with SCRIPT KILL..."),
        Abort::Restart => push_error_table(l, b"script restarted under wider locks"),
    }
}

/// The hook: every [`HOOK_EVERY`] instructions the host may yield (a slow script lets other
/// clients in) or kill the script; an aborting run raises on every line.
pub(crate) unsafe extern "C-unwind" fn count_hook(l: *mut lua_State, _ar: *mut lua_Debug) {
    let Some(ctx) = ctx(l) else { return };
    if let Some(why) = ctx.abort {
        push_abort_error(l, why);
        ffi::lua_error(l);
    }
    if ctx.in_call {
        return;
    }
    if ctx.host.interrupt() == Interrupt::Kill {
        begin_abort(l, ctx, Abort::Killed);
        ffi::lua_error(l);
    }
}

/// Redis's `pcall`: Lua's, except that an error table `{err=...}` is handed back as its
/// message (older scripts compare strings), and an aborting run is not caught.
pub(crate) unsafe extern "C-unwind" fn pcall(l: *mut lua_State) -> c_int {
    let argc = ffi::lua_gettop(l);
    if argc == 0 {
        push_where(l, 1, b"bad argument #1 to 'pcall' (value expected)");
        ffi::lua_error(l);
    }
    ffi::lua_pushboolean(l, 1);
    ffi::lua_insert(l, 1);
    if ffi::lua_pcall(l, argc - 1, ffi::LUA_MULTRET, 0) != 0 {
        if ctx(l).is_some_and(|c| c.abort.is_some()) {
            ffi::lua_error(l);
        }
        ffi::lua_remove(l, 1);
        if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
            ffi::lua_getfield_(l, -1, c"err".as_ptr());
            if ffi::lua_type(l, -1) == ffi::LUA_TSTRING {
                ffi::lua_replace(l, -2);
            } else {
                ffi::lua_pop(l, 1);
            }
        }
        ffi::lua_pushboolean(l, 0);
        ffi::lua_insert(l, 1);
    }
    ffi::lua_gettop(l)
}

/// `xpcall(f, handler)` that, like `pcall`, never catches an aborting run.
pub(crate) unsafe extern "C-unwind" fn xpcall(l: *mut lua_State) -> c_int {
    if ffi::lua_gettop(l) < 2 {
        push_where(l, 1, b"bad argument #2 to 'xpcall' (value expected)");
        ffi::lua_error(l);
    }
    ffi::lua_settop(l, 2);
    // Stack: f, handler → handler, f.
    ffi::lua_insert(l, 1);
    let status = ffi::lua_pcall(l, 0, ffi::LUA_MULTRET, 1);
    if status != 0 && ctx(l).is_some_and(|c| c.abort.is_some()) {
        ffi::lua_error(l);
    }
    ffi::lua_pushboolean(l, (status == 0) as c_int);
    ffi::lua_replace(l, 1);
    ffi::lua_gettop(l)
}

// ---- the other redis.* functions ---------------------------------------------------------------

pub(crate) unsafe extern "C-unwind" fn sha1hex(l: *mut lua_State) -> c_int {
    if ffi::lua_gettop(l) != 1 {
        push_error_table(l, b"wrong number of arguments");
        ffi::lua_error(l);
    }
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, 1, &mut len);
    let data: &[u8] = if p.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(p.cast(), len)
    };
    let hex = crate::sha1_hex(data);
    push_bytes(l, hex.as_bytes());
    1
}

pub(crate) unsafe extern "C-unwind" fn error_reply(l: *mut lua_State) -> c_int {
    if ffi::lua_gettop(l) != 1 || ffi::lua_type(l, -1) != ffi::LUA_TSTRING {
        push_error_table(l, b"wrong number or type of arguments");
        return 1;
    }
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, 1, &mut len);
    let s = std::slice::from_raw_parts(p.cast::<u8>(), len);
    // Redis adds the '-' when it is missing: the first word is the code.
    let text = if s.starts_with(b"-") {
        s.to_vec()
    } else {
        [b"-".as_slice(), s].concat()
    };
    push_error_table(l, &text);
    1
}

pub(crate) unsafe extern "C-unwind" fn status_reply(l: *mut lua_State) -> c_int {
    if ffi::lua_gettop(l) != 1 || ffi::lua_type(l, -1) != ffi::LUA_TSTRING {
        push_error_table(l, b"wrong number or type of arguments");
        return 1;
    }
    ffi::lua_createtable(l, 0, 1);
    push_bytes(l, b"ok");
    ffi::lua_pushvalue(l, 1);
    ffi::lua_rawset(l, -3);
    1
}

pub(crate) unsafe extern "C-unwind" fn log(l: *mut lua_State) -> c_int {
    let step = log_inner(l);
    finish(l, step)
}

unsafe fn log_inner(l: *mut lua_State) -> Step {
    let argc = ffi::lua_gettop(l);
    if argc < 2 {
        push_error_table(l, b"redis.log() requires two arguments or more.");
        return Step::Raise;
    }
    if ffi::lua_isnumber(l, 1) == 0 {
        push_error_table(l, b"First argument must be a number (log level).");
        return Step::Raise;
    }
    let level = match ffi::lua_tonumber(l, 1) as i64 {
        0 => LogLevel::Debug,
        1 => LogLevel::Verbose,
        2 => LogLevel::Notice,
        3 => LogLevel::Warning,
        _ => {
            push_error_table(l, b"Invalid debug level.");
            return Step::Raise;
        }
    };
    let mut msg = Vec::new();
    for i in 2..=argc {
        let mut len = 0usize;
        let p = ffi::lua_tolstring(l, i, &mut len);
        if !p.is_null() {
            if i != 2 {
                msg.push(b' ');
            }
            msg.extend_from_slice(std::slice::from_raw_parts(p.cast::<u8>(), len));
        }
    }
    if let Some(ctx) = ctx(l) {
        ctx.host.log(level, &msg);
    }
    Step::Return(0)
}

pub(crate) unsafe extern "C-unwind" fn setresp(l: *mut lua_State) -> c_int {
    let step = setresp_inner(l);
    finish(l, step)
}

unsafe fn setresp_inner(l: *mut lua_State) -> Step {
    let Some(ctx) = ctx(l) else {
        push_error_table(
            l,
            b"redis.setresp can only be called inside a script invocation",
        );
        return Step::Raise;
    };
    if ffi::lua_gettop(l) != 1 {
        push_error_table(l, b"redis.setresp() requires one argument.");
        return Step::Raise;
    }
    let v = ffi::lua_tonumber(l, 1) as i64;
    if v != 2 && v != 3 {
        push_error_table(l, b"RESP version must be 2 or 3.");
        return Step::Raise;
    }
    ctx.resp = v as u8;
    Step::Return(0)
}

pub(crate) unsafe extern "C-unwind" fn set_repl(l: *mut lua_State) -> c_int {
    let step = set_repl_inner(l);
    finish(l, step)
}

unsafe fn set_repl_inner(l: *mut lua_State) -> Step {
    if ctx(l).is_none() {
        push_error_table(
            l,
            b"redis.set_repl can only be called inside a script invocation",
        );
        return Step::Raise;
    }
    if ffi::lua_gettop(l) != 1 {
        push_error_table(l, b"redis.set_repl() requires two arguments.");
        return Step::Raise;
    }
    let flags = ffi::lua_tonumber(l, -1) as i64;
    if flags & !3 != 0 {
        push_error_table(
            l,
            b"Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        );
        return Step::Raise;
    }
    // Damselfly replicates a script's effects; which of them is chosen here changes nothing
    // until replication exists.
    Step::Return(0)
}

/// `redis.replicate_commands()`: always on in Redis 7; answers true.
pub(crate) unsafe extern "C-unwind" fn replicate_commands(l: *mut lua_State) -> c_int {
    ffi::lua_pushboolean(l, 1);
    1
}

/// `redis.breakpoint()`: false outside the script debugger.
pub(crate) unsafe extern "C-unwind" fn breakpoint(l: *mut lua_State) -> c_int {
    ffi::lua_pushboolean(l, 0);
    1
}

/// `redis.debug(...)`: logs to the debugger's console, which is not attached: nothing.
pub(crate) unsafe extern "C-unwind" fn debug_noop(_l: *mut lua_State) -> c_int {
    0
}

pub(crate) unsafe extern "C-unwind" fn acl_check_cmd(l: *mut lua_State) -> c_int {
    let step = acl_inner(l);
    finish(l, step)
}

unsafe fn acl_inner(l: *mut lua_State) -> Step {
    let Some(ctx) = ctx(l) else {
        push_error_table(
            l,
            b"redis.acl_check_cmd can only be called inside a script invocation",
        );
        return Step::Raise;
    };
    let argc = ffi::lua_gettop(l);
    if argc == 0 {
        push_error_table(
            l,
            b"Please specify at least one argument for this redis lib call",
        );
        return Step::Raise;
    }
    let mut owned: Vec<Vec<u8>> = Vec::with_capacity(argc as usize);
    for i in 1..=argc {
        let mut len = 0usize;
        let p = ffi::lua_tolstring(l, i, &mut len);
        if p.is_null() {
            push_error_table(
                l,
                b"Lua redis lib command arguments must be strings or integers",
            );
            return Step::Raise;
        }
        owned.push(std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec());
    }
    let args: Vec<&[u8]> = owned.iter().map(|a| &a[..]).collect();
    let verdict = ctx.host.acl_check_cmd(&args);
    drop(args);
    drop(owned);
    match verdict {
        Some(ok) => {
            ffi::lua_pushboolean(l, ok as c_int);
            Step::Return(1)
        }
        None => {
            push_error_table(l, b"Invalid command passed to redis.acl_check_cmd()");
            Step::Raise
        }
    }
}

// ---- math.random ------------------------------------------------------------------------

pub(crate) unsafe extern "C-unwind" fn math_random(l: *mut lua_State) -> c_int {
    const MAX: f64 = i32::MAX as f64;
    let r = (rand48(l).next() as u32 % i32::MAX as u32) as f64 / MAX;
    match ffi::lua_gettop(l) {
        0 => ffi::lua_pushnumber(l, r),
        1 => {
            let u = ffi::luaL_checkinteger(l, 1);
            if u < 1 {
                ffi::luaL_argerror(l, 1, c"interval is empty".as_ptr());
            }
            ffi::lua_pushnumber(l, (r * u as f64).floor() + 1.0);
        }
        2 => {
            let lo = ffi::luaL_checkinteger(l, 1);
            let hi = ffi::luaL_checkinteger(l, 2);
            if lo > hi {
                ffi::luaL_argerror(l, 2, c"interval is empty".as_ptr());
            }
            ffi::lua_pushnumber(l, (r * (hi - lo + 1) as f64).floor() + lo as f64);
        }
        _ => {
            push_bytes(l, b"wrong number of arguments");
            ffi::lua_error(l);
        }
    }
    1
}

pub(crate) unsafe extern "C-unwind" fn math_randomseed(l: *mut lua_State) -> c_int {
    let seed = ffi::luaL_checkinteger(l, 1);
    rand48(l).seed(seed as i32);
    0
}

// ---- sandbox guards -----------------------------------------------------------------------

/// `__index` of the globals: reading a global that does not exist is an error.
pub(crate) unsafe extern "C-unwind" fn missing_global(l: *mut lua_State) -> c_int {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, 2, &mut len);
    let name: &[u8] = if p.is_null() {
        b"?"
    } else {
        std::slice::from_raw_parts(p.cast(), len)
    };
    let mut msg = b"Script attempted to access nonexistent global variable '".to_vec();
    msg.extend_from_slice(name);
    msg.push(b'\'');
    push_bytes(l, &msg);
    drop(msg);
    ffi::lua_error(l)
}

/// `__newindex` of every read-only table.
pub(crate) unsafe extern "C-unwind" fn readonly_write(l: *mut lua_State) -> c_int {
    push_where(l, 2, b"Attempt to modify a readonly table");
    ffi::lua_error(l)
}

/// Whether the value at `idx` is one of the read-only proxies.
unsafe fn is_readonly(l: *mut lua_State, idx: c_int) -> bool {
    if ffi::lua_type(l, idx) != ffi::LUA_TTABLE {
        return false;
    }
    let idx = if idx < 0 {
        ffi::lua_gettop(l) + idx + 1
    } else {
        idx
    };
    ffi::lua_pushlightuserdata(l, &READONLY_KEY as *const u8 as *mut c_void);
    ffi::lua_rawget_(l, ffi::LUA_REGISTRYINDEX);
    if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
        ffi::lua_pop(l, 1);
        return false;
    }
    ffi::lua_pushvalue(l, idx);
    ffi::lua_rawget_(l, -2);
    let yes = ffi::lua_toboolean(l, -1) != 0;
    ffi::lua_pop(l, 2);
    yes
}

/// `setmetatable` and `rawset` refuse read-only tables; otherwise the original (upvalue 1).
pub(crate) unsafe extern "C-unwind" fn guarded(l: *mut lua_State) -> c_int {
    if is_readonly(l, 1) {
        push_where(l, 1, b"Attempt to modify a readonly table");
        ffi::lua_error(l);
    }
    let argc = ffi::lua_gettop(l);
    ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
    ffi::lua_insert(l, 1);
    ffi::lua_call(l, argc, ffi::LUA_MULTRET);
    ffi::lua_gettop(l)
}
