//! One Lua interpreter: compiled EVAL scripts by SHA1, loaded function libraries, and the
//! runs of both. An interpreter runs one script at a time; the coordinator keeps one per
//! proactor (more only while a script waits on another shard and a second one starts).

use crate::library::{self, LibraryDef, PENDING_KEY};
use crate::reply::{self, Protocols};
use crate::run::{self, RunCtx};
use crate::sandbox::{self, ENV_KEY, HANDLER_KEY};
use crate::shebang;
use crate::Host;
#[cfg(test)]
use crate::Interrupt;
use mlua::ffi::{self, lua_State};
use mlua::{Lua, LuaOptions, StdLib};
use std::ffi::{c_int, c_void};

static SCRIPTS_KEY: u8 = 0;
static FUNCTIONS_KEY: u8 = 0;

/// One run of a script or function.
pub struct ScriptRun<'a> {
    /// Named in error messages: the SHA1 for EVAL, the function's name for FCALL.
    pub name: &'a str,
    pub keys: &'a [&'a [u8]],
    pub args: &'a [&'a [u8]],
    /// The calling client's RESP version.
    pub caller_resp: u8,
}

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum RunOutcome {
    /// The reply is in the output buffer.
    Replied,
    /// The reply in the output buffer is an error. `counted`: it came from a command's error
    /// reply (counted in the error stats when that command failed), so it is not counted again.
    Failed { counted: bool },
    /// The host asked for a rerun (see [`crate::CallOutcome::Restart`]); nothing was written
    /// to the output.
    Restart,
}

pub struct Interpreter {
    /// Owns the state; everything below goes through its raw pointer.
    _lua: Lua,
    l: *mut lua_State,
    /// `redis.call`'s argument and reply buffers, kept from run to run.
    bufs: run::CallBufs,
    /// The last scripts run, by SHA1, each with a registry reference to its function: a run
    /// finds its function without a string lookup in the scripts table.
    recent: [Option<([u8; 40], c_int)>; RECENT],
    /// The slot the next script taken into `recent` replaces.
    recent_next: usize,
    /// Registry references of the strings "KEYS" and "ARGV": a run sets its globals without
    /// interning their names again.
    array_names: [c_int; 2],
}

/// Scripts kept in [`Interpreter::recent`].
const RECENT: usize = 8;

pub(crate) unsafe fn push_key(l: *mut lua_State, key: &'static u8) {
    ffi::lua_pushlightuserdata(l, key as *const u8 as *mut c_void);
}

pub(crate) unsafe fn push_registry(l: *mut lua_State, key: &'static u8) {
    push_key(l, key);
    ffi::lua_rawget_(l, ffi::LUA_REGISTRYINDEX);
}

pub(crate) unsafe fn new_registry_table(l: *mut lua_State, key: &'static u8) {
    push_key(l, key);
    ffi::lua_createtable(l, 0, 0);
    ffi::lua_rawset(l, ffi::LUA_REGISTRYINDEX);
}

pub(crate) unsafe fn top_string(l: *mut lua_State, idx: c_int) -> Option<Vec<u8>> {
    let mut len = 0usize;
    let p = ffi::lua_tolstring(l, idx, &mut len);
    (!p.is_null()).then(|| std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec())
}

pub(crate) fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

impl Interpreter {
    /// A fresh interpreter; `version` is what scripts see as `redis.REDIS_VERSION`.
    pub fn new(version: &str, version_num: u32) -> Result<Interpreter, String> {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG;
        // SAFETY: the debug library is unsafe in mlua's sense (it can break invariants);
        // the sandbox removes it from the globals before any script runs and keeps it only
        // inside the error handler.
        let lua = unsafe { Lua::unsafe_new_with(libs, LuaOptions::default()) };
        crate::libs::register_all(&lua).map_err(|e| e.to_string())?;
        let mut state: *mut lua_State = std::ptr::null_mut();
        let version = version.to_string();
        let mut array_names = [0; 2];
        // SAFETY: exec_raw hands the main state inside a protected call, where the sandbox is
        // installed (it may raise on allocation failure); the pointer stays valid for as long
        // as `lua` lives, and only this interpreter uses it.
        unsafe {
            lua.exec_raw::<()>((), |l| {
                state = l;
                sandbox::install(l, &version, version_num);
                new_registry_table(l, &SCRIPTS_KEY);
                new_registry_table(l, &FUNCTIONS_KEY);
                new_registry_table(l, &PENDING_KEY);
                library::install_load_api(l, &version, version_num);
                for (r, name) in array_names.iter_mut().zip([c"KEYS", c"ARGV"]) {
                    ffi::lua_pushstring_(l, name.as_ptr());
                    *r = ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX);
                }
            })
            .map_err(|e| e.to_string())?;
        }
        Ok(Interpreter {
            _lua: lua,
            l: state,
            bufs: run::CallBufs::default(),
            recent: [None; RECENT],
            recent_next: 0,
            array_names,
        })
    }

    /// Whether the script `sha` is compiled here.
    pub fn has_script(&self, sha: &str) -> bool {
        if self.recent_ref(sha).is_some() {
            return true;
        }
        // SAFETY: `self.l` is valid (see `new`).
        unsafe { registry_has_function(self.l, &SCRIPTS_KEY, sha) }
    }

    /// The registry reference of script `sha` when it is one of the recent ones.
    fn recent_ref(&self, sha: &str) -> Option<c_int> {
        let sha = sha.as_bytes();
        if sha.len() != 40 {
            return None;
        }
        self.recent
            .iter()
            .flatten()
            .find(|(s, _)| s[..] == *sha)
            .map(|&(_, r)| r)
    }

    /// Takes the function on top of the stack (left there) into the recent scripts as `sha`.
    ///
    /// # Safety
    /// `self.l` is valid with a function on top and room for one push.
    unsafe fn remember(&mut self, sha: &str) {
        let Ok(key) = <[u8; 40]>::try_from(sha.as_bytes()) else {
            return;
        };
        let l = self.l;
        ffi::lua_pushvalue(l, -1);
        let r = ffi::luaL_ref(l, ffi::LUA_REGISTRYINDEX);
        let slot = &mut self.recent[self.recent_next];
        if let Some((_, old)) = slot.replace((key, r)) {
            ffi::luaL_unref(l, ffi::LUA_REGISTRYINDEX, old);
        }
        self.recent_next = (self.recent_next + 1) % RECENT;
    }

    /// Compiles `body` (a whole EVAL script, shebang included) as script `sha`. Err: Redis's
    /// error text.
    pub fn compile(&mut self, sha: &str, body: &[u8]) -> Result<(), String> {
        let skip = shebang::parse_script(body)?.len;
        let code = &body[skip..];
        // SAFETY: `self.l` is valid; the stack is balanced on every path.
        unsafe {
            let l = self.l;
            load_chunk(
                l,
                code,
                c"@user_script",
                "Error compiling script (new function)",
            )?;
            push_registry(l, &SCRIPTS_KEY);
            reply::push_bytes(l, sha.as_bytes());
            ffi::lua_pushvalue(l, -3);
            ffi::lua_rawset(l, -3);
            ffi::lua_pop(l, 1);
            if self.recent_ref(sha).is_none() {
                self.remember(sha);
            }
            ffi::lua_pop(l, 1);
        }
        Ok(())
    }

    /// Forgets every compiled script (SCRIPT FLUSH).
    pub fn forget_scripts(&mut self) {
        // SAFETY: `self.l` is valid.
        unsafe {
            for slot in &mut self.recent {
                if let Some((_, r)) = slot.take() {
                    ffi::luaL_unref(self.l, ffi::LUA_REGISTRYINDEX, r);
                }
            }
            new_registry_table(self.l, &SCRIPTS_KEY);
            ffi::lua_gc(self.l, ffi::LUA_GCCOLLECT, 0);
        }
    }

    /// One incremental garbage-collection step of `size` (Lua's units): a busy interpreter
    /// collects a little at a time instead of in one long pause.
    pub fn gc_step(&mut self, size: i32) {
        // SAFETY: `self.l` is valid and no script runs now.
        unsafe {
            ffi::lua_gc(self.l, ffi::LUA_GCSTEP, size);
        }
    }

    /// Bytes the Lua heap holds.
    pub fn used_memory(&self) -> usize {
        // SAFETY: `self.l` is valid.
        unsafe {
            ffi::lua_gc(self.l, ffi::LUA_GCCOUNT, 0) as usize * 1024
                + ffi::lua_gc(self.l, ffi::LUA_GCCOUNTB, 0) as usize
        }
    }

    /// Runs compiled script `sha` (see [`Self::has_script`]) with KEYS and ARGV, appending its
    /// reply to `out`.
    pub fn run_script(
        &mut self,
        sha: &str,
        run: &ScriptRun<'_>,
        host: &mut dyn Host,
        out: &mut Vec<u8>,
    ) -> RunOutcome {
        // SAFETY: `self.l` is valid; the function is pushed with the handler below it.
        unsafe {
            let l = self.l;
            match self.recent_ref(sha) {
                Some(r) => {
                    ffi::lua_checkstack(l, 8);
                    push_registry(l, &HANDLER_KEY);
                    ffi::lua_rawgeti_(l, ffi::LUA_REGISTRYINDEX, r);
                }
                None => {
                    push_handler_and_function(l, &SCRIPTS_KEY, sha);
                    if ffi::lua_type(l, -1) == ffi::LUA_TFUNCTION {
                        self.remember(sha);
                    }
                }
            }
            set_global_array(l, self.array_names[0], run.keys);
            set_global_array(l, self.array_names[1], run.args);
            self.call(run, host, out, 0)
        }
    }

    /// Runs function `name` of a loaded library with its keys and args.
    pub fn run_function(
        &mut self,
        name: &str,
        run: &ScriptRun<'_>,
        host: &mut dyn Host,
        out: &mut Vec<u8>,
    ) -> RunOutcome {
        // SAFETY: as in `run_script`.
        unsafe {
            let l = self.l;
            push_handler_and_function(l, &FUNCTIONS_KEY, name);
            if ffi::lua_type(l, -1) != ffi::LUA_TFUNCTION {
                ffi::lua_pop(l, 2);
                reply::error_reply(out, b"ERR Function not found");
                return RunOutcome::Failed { counted: false };
            }
            push_array(l, run.keys);
            push_array(l, run.args);
            self.call(run, host, out, 2)
        }
    }

    /// Whether function `name` is loaded here.
    pub fn has_function(&self, name: &str) -> bool {
        // SAFETY: `self.l` is valid (see `new`).
        unsafe { registry_has_function(self.l, &FUNCTIONS_KEY, name) }
    }

    /// Stack: handler, function, `nargs` arguments.
    unsafe fn call(
        &mut self,
        run: &ScriptRun<'_>,
        host: &mut dyn Host,
        out: &mut Vec<u8>,
        nargs: c_int,
    ) -> RunOutcome {
        let l = self.l;
        let handler = ffi::lua_gettop(l) - nargs - 1;
        let mut ctx = RunCtx {
            host,
            resp: 2,
            abort: None,
            bufs: std::mem::take(&mut self.bufs),
            in_call: false,
        };
        let ctx_ptr: *mut RunCtx<'_> = &mut ctx;
        run::set_ctx(l, ctx_ptr);
        ffi::lua_sethook(
            l,
            Some(run::count_hook),
            ffi::LUA_MASKCOUNT,
            run::HOOK_EVERY,
        );
        let status = ffi::lua_pcall(l, nargs, 1, handler);
        ffi::lua_sethook(l, None, 0, 0);
        run::set_ctx(l, std::ptr::null_mut());
        self.bufs = std::mem::take(&mut ctx.bufs);
        if ctx.abort == Some(run::Abort::Restart) {
            ffi::lua_settop(l, handler - 1);
            return RunOutcome::Restart;
        }
        let error = reply::error_table_state(l);
        let outcome = if status == 0 {
            reply::write_top(
                l,
                out,
                Protocols {
                    script: ctx.resp,
                    caller: run.caller_resp,
                },
            );
            match error {
                Some(counted) => RunOutcome::Failed { counted },
                None => RunOutcome::Replied,
            }
        } else {
            write_error(l, run.name, out);
            RunOutcome::Failed {
                counted: error.unwrap_or(false),
            }
        };
        ffi::lua_settop(l, handler - 1);
        outcome
    }

    // ---- function libraries ------------------------------------------------------------

    /// Runs the top level of library `code` (`#!lua name=...` first) so it registers its
    /// functions, which wait until [`Self::install_pending`] or [`Self::discard_pending`].
    pub fn load_library(&mut self, code: &[u8]) -> Result<LibraryDef, String> {
        // SAFETY: `self.l` is valid (see `new`) and no script runs now.
        unsafe { library::load(self.l, code) }
    }

    /// Makes the functions of the last [`Self::load_library`] callable.
    pub fn install_pending(&mut self) {
        // SAFETY: `self.l` is valid; stack balanced.
        unsafe {
            let l = self.l;
            push_registry(l, &FUNCTIONS_KEY);
            push_registry(l, &PENDING_KEY);
            ffi::lua_pushnil(l);
            while ffi::lua_next(l, -2) != 0 {
                ffi::lua_pushvalue(l, -2);
                ffi::lua_insert(l, -2);
                ffi::lua_rawset(l, -5);
            }
            ffi::lua_pop(l, 2);
            new_registry_table(l, &PENDING_KEY);
        }
    }

    pub fn discard_pending(&mut self) {
        // SAFETY: `self.l` is valid.
        unsafe { new_registry_table(self.l, &PENDING_KEY) }
    }

    /// Forgets every loaded function.
    pub fn clear_functions(&mut self) {
        // SAFETY: `self.l` is valid.
        unsafe {
            new_registry_table(self.l, &FUNCTIONS_KEY);
            new_registry_table(self.l, &PENDING_KEY);
        }
    }
}

/// Pushes the error handler, then what the registry table under `key` holds for `name`.
unsafe fn push_handler_and_function(l: *mut lua_State, key: &'static u8, name: &str) {
    ffi::lua_checkstack(l, 8);
    push_registry(l, &HANDLER_KEY);
    push_registry(l, key);
    reply::push_bytes(l, name.as_bytes());
    ffi::lua_rawget_(l, -2);
    ffi::lua_remove(l, -2);
}

/// Whether the registry table under `key` maps `name` to a function.
unsafe fn registry_has_function(l: *mut lua_State, key: &'static u8, name: &str) -> bool {
    push_registry(l, key);
    reply::push_bytes(l, name.as_bytes());
    ffi::lua_rawget_(l, -2);
    let yes = ffi::lua_type(l, -1) == ffi::LUA_TFUNCTION;
    ffi::lua_pop(l, 2);
    yes
}

/// Compiles `code` as chunk `name` and pushes it with the scripts' environment; Err:
/// "<what>: <Lua's message>" with nothing pushed.
pub(crate) unsafe fn load_chunk(
    l: *mut lua_State,
    code: &[u8],
    name: &std::ffi::CStr,
    what: &str,
) -> Result<(), String> {
    if ffi::luaL_loadbuffer(l, code.as_ptr().cast(), code.len(), name.as_ptr()) != 0 {
        let msg = top_string(l, -1).unwrap_or_default();
        ffi::lua_pop(l, 1);
        return Err(format!("{what}: {}", String::from_utf8_lossy(&msg)));
    }
    push_registry(l, &ENV_KEY);
    ffi::lua_setfenv(l, -2);
    Ok(())
}

/// Pushes a Lua array of `items`.
unsafe fn push_array(l: *mut lua_State, items: &[&[u8]]) {
    ffi::lua_createtable(l, items.len().min(1 << 20) as c_int, 0);
    for (i, item) in items.iter().enumerate() {
        reply::push_bytes(l, item);
        ffi::lua_rawseti_(l, -2, (i + 1) as c_int);
    }
}

/// Sets the global whose name registry reference `name` holds (raw: the globals are locked
/// to scripts, not to the interpreter).
unsafe fn set_global_array(l: *mut lua_State, name: c_int, items: &[&[u8]]) {
    ffi::lua_rawgeti_(l, ffi::LUA_REGISTRYINDEX, name);
    push_array(l, items);
    ffi::lua_rawset(l, ffi::LUA_GLOBALSINDEX);
}

/// The message of the error value on top: its `err` field, or "ERR <string>".
pub(crate) unsafe fn error_message(l: *mut lua_State) -> Vec<u8> {
    if ffi::lua_type(l, -1) == ffi::LUA_TTABLE {
        ffi::lua_getfield_(l, -1, c"err".as_ptr());
        let m = top_string(l, -1).unwrap_or_default();
        ffi::lua_pop(l, 1);
        return m;
    }
    let mut m = b"ERR ".to_vec();
    m.extend(top_string(l, -1).unwrap_or_default());
    m
}

/// The reply for a script that raised: "<msg> script: <name>, on <source>:<line>." as Redis
/// writes it.
unsafe fn write_error(l: *mut lua_State, name: &str, out: &mut Vec<u8>) {
    if ffi::lua_type(l, -1) != ffi::LUA_TTABLE {
        let msg = top_string(l, -1).unwrap_or_else(|| b"execution failure".to_vec());
        let mut text = format!("ERR Error running script {name}, ").into_bytes();
        text.extend_from_slice(&msg[..msg.len().min(100)]);
        reply::error_reply(out, &text);
        return;
    }
    let mut msg = error_message(l);
    ffi::lua_getfield_(l, -1, c"source".as_ptr());
    let source = top_string(l, -1);
    ffi::lua_pop(l, 1);
    ffi::lua_getfield_(l, -1, c"line".as_ptr());
    let line = top_string(l, -1);
    ffi::lua_pop(l, 1);
    if let (Some(source), Some(line)) = (source, line) {
        msg.extend_from_slice(format!(" script: {name}, on ").as_bytes());
        msg.extend_from_slice(&source);
        msg.push(b':');
        msg.extend_from_slice(&line);
        msg.push(b'.');
    }
    reply::error_reply(out, &msg);
}

/// For tests: a host that answers every command with a fixed reply.
#[cfg(test)]
pub(crate) struct EchoHost {
    pub calls: Vec<Vec<Vec<u8>>>,
    pub reply: Vec<u8>,
}

#[cfg(test)]
impl Host for EchoHost {
    fn call(
        &mut self,
        args: crate::CallArgs<'_>,
        _resp: u8,
        reply: &mut Vec<u8>,
    ) -> crate::CallOutcome {
        self.calls
            .push((0..args.len()).map(|i| args.get(i).to_vec()).collect());
        reply.extend_from_slice(&self.reply);
        crate::CallOutcome::Replied
    }
    fn interrupt(&mut self) -> Interrupt {
        Interrupt::Continue
    }
    fn log(&mut self, _level: crate::LogLevel, _message: &[u8]) {}
    fn acl_check_cmd(&mut self, _args: &[&[u8]]) -> Option<bool> {
        Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(i: &mut Interpreter, body: &str, keys: &[&[u8]], host: &mut EchoHost) -> Vec<u8> {
        let sha = crate::sha1_hex(body.as_bytes());
        if !i.has_script(&sha) {
            if let Err(e) = i.compile(&sha, body.as_bytes()) {
                return format!("-{e}\r\n").into_bytes();
            }
        }
        let mut out = Vec::new();
        let run = ScriptRun {
            name: &sha,
            keys,
            args: &[b"a1"],
            caller_resp: 2,
        };
        let outcome = i.run_script(&sha, &run, host, &mut out);
        assert_ne!(outcome, RunOutcome::Restart);
        // An error reply is reported as one.
        assert_eq!(
            out.starts_with(b"-"),
            matches!(outcome, RunOutcome::Failed { .. }),
            "{}",
            String::from_utf8_lossy(&out)
        );
        out
    }

    fn host() -> EchoHost {
        EchoHost {
            calls: Vec::new(),
            reply: b"+OK\r\n".to_vec(),
        }
    }

    #[test]
    fn conversions_both_ways() {
        let mut i = Interpreter::new("7.0.15", 0x07000f).unwrap();
        let mut h = host();
        assert_eq!(eval(&mut i, "return 1.9", &[], &mut h), b":1\r\n");
        assert_eq!(eval(&mut i, "return 'x'", &[], &mut h), b"$1\r\nx\r\n");
        assert_eq!(eval(&mut i, "return true", &[], &mut h), b":1\r\n");
        assert_eq!(eval(&mut i, "return false", &[], &mut h), b"$-1\r\n");
        assert_eq!(eval(&mut i, "return nil", &[], &mut h), b"$-1\r\n");
        assert_eq!(
            eval(&mut i, "return {1,'a',{2}, nil, 3}", &[], &mut h),
            b"*3\r\n:1\r\n$1\r\na\r\n*1\r\n:2\r\n"
        );
        assert_eq!(
            eval(&mut i, "return {ok='fine'}", &[], &mut h),
            b"+fine\r\n"
        );
        assert_eq!(
            eval(&mut i, "return {err='BAD x'}", &[], &mut h),
            b"-BAD x\r\n"
        );
        assert_eq!(
            eval(&mut i, "return redis.call('set','k',1)", &[], &mut h),
            b"+OK\r\n"
        );
        assert_eq!(
            h.calls.last().unwrap(),
            &vec![b"set".to_vec(), b"k".to_vec(), b"1".to_vec()]
        );
        assert_eq!(
            eval(&mut i, "return KEYS[1] .. ARGV[1]", &[b"k1"], &mut h),
            b"$4\r\nk1a1\r\n"
        );
        h.reply = b"*2\r\n$1\r\na\r\n$-1\r\n".to_vec();
        assert_eq!(
            eval(
                &mut i,
                "local r = redis.call('x'); return type(r[2])",
                &[],
                &mut h
            ),
            b"$7\r\nboolean\r\n"
        );
    }

    #[test]
    fn recent_scripts_are_evicted_and_forgotten() {
        let mut i = Interpreter::new("7.0.15", 0x07000f).unwrap();
        let mut h = host();
        // More scripts than the recent ones kept, twice round: each still runs as itself.
        for round in 0..2 {
            for n in 0..(RECENT as i64 * 2 + 3) {
                let body = format!("return {n}");
                let want = format!(":{n}\r\n").into_bytes();
                assert_eq!(eval(&mut i, &body, &[], &mut h), want, "round {round}");
            }
        }
        let sha = crate::sha1_hex(b"return 1");
        assert!(i.has_script(&sha));
        i.forget_scripts();
        assert!(!i.has_script(&sha));
        assert!(i.recent.iter().all(Option::is_none));
        assert_eq!(eval(&mut i, "return 1", &[], &mut h), b":1\r\n");
    }

    #[test]
    fn errors_and_sandbox() {
        let mut i = Interpreter::new("7.0.15", 0x07000f).unwrap();
        let mut h = host();
        h.reply = b"-ERR wrong kind\r\n".to_vec();
        let e = eval(&mut i, "return redis.call('x')", &[], &mut h);
        assert!(
            e.starts_with(b"-ERR wrong kind script: "),
            "{}",
            String::from_utf8_lossy(&e)
        );
        assert!(e.ends_with(b"on @user_script:1.\r\n"));
        let e = eval(&mut i, "return redis.pcall('x')", &[], &mut h);
        assert_eq!(e, b"-ERR wrong kind\r\n");
        let e = eval(&mut i, "return a", &[], &mut h);
        assert!(String::from_utf8_lossy(&e)
            .contains("Script attempted to access nonexistent global variable 'a'"));
        for s in [
            "a = 10",
            "redis = function() end",
            "redis.call = 1",
            "math.x = 1",
            "cjson.encode = 1",
            "_G = {}",
            "setmetatable(_G, {})",
            "local g = getmetatable(_G); g.__index = {}",
            "rawset(_G, 'x', 1)",
            "string.x = 1",
        ] {
            let e = eval(&mut i, s, &[], &mut h);
            assert!(
                String::from_utf8_lossy(&e).contains("Attempt to modify a readonly table"),
                "{s}: {}",
                String::from_utf8_lossy(&e)
            );
        }
        for s in [
            "print('x')",
            "loadfile('x')",
            "dofile('x')",
            "return os.time()",
            "return io",
        ] {
            let e = eval(&mut i, s, &[], &mut h);
            assert!(
                String::from_utf8_lossy(&e).contains("nonexistent global variable"),
                "{s}"
            );
        }
        let e = eval(
            &mut i,
            "return loadstring(string.dump(function() return 1 end))()",
            &[],
            &mut h,
        );
        assert!(String::from_utf8_lossy(&e).contains("attempt to call a nil value"));
        let e = eval(&mut i, "error('boom')", &[], &mut h);
        assert!(e.starts_with(b"-ERR user_script:1: boom script:"));
        let e = eval(
            &mut i,
            "return pcall(function() error({err='X y'}) end)",
            &[],
            &mut h,
        );
        assert_eq!(e, b"$-1\r\n");
        let e = eval(
            &mut i,
            "local ok, e = pcall(function() error({err='X y'}) end) return e",
            &[],
            &mut h,
        );
        assert_eq!(e, b"$3\r\nX y\r\n");
        assert_eq!(
            eval(
                &mut i,
                "return redis.sha1hex('Pizza & Mandolino')",
                &[],
                &mut h
            ),
            b"$40\r\n74822d82031af7493c20eefa13bd07ec4fada82f\r\n"
        );
        let e = eval(&mut i, "return 'x", &[], &mut h);
        assert!(e.starts_with(b"-Error compiling script (new function): user_script:1:"));
    }

    #[test]
    fn libraries_register_functions() {
        let mut i = Interpreter::new("7.0.15", 0x07000f).unwrap();
        let def = i
            .load_library(b"#!lua name=lib1\nredis.register_function('f1', function(keys, args) return keys[1] .. args[1] end)\nredis.register_function{function_name='f2', callback=function() return 2 end, flags={'no-writes'}}")
            .unwrap();
        assert_eq!(def.name, "lib1");
        assert_eq!(def.functions.len(), 2);
        assert_eq!(def.functions[1].flags, shebang::NO_WRITES);
        assert!(!i.has_function("f1"));
        i.install_pending();
        let mut h = host();
        let mut out = Vec::new();
        let run = ScriptRun {
            name: "f1",
            keys: &[b"k"],
            args: &[b"v"],
            caller_resp: 2,
        };
        i.run_function("f1", &run, &mut h, &mut out);
        assert_eq!(out, b"$2\r\nkv\r\n");
        let e = i
            .load_library(b"#!lua name=lib2\nreturn math.random()")
            .unwrap_err();
        assert!(e.contains("nonexistent global variable 'math'"), "{e}");
        let e = i
            .load_library(b"#!lua name=lib2\nreturn redis.call('ping')")
            .unwrap_err();
        assert!(e.contains("nonexistent global variable 'call'"), "{e}");
        let e = i.load_library(b"#!lua name=lib2\nlocal x = 1").unwrap_err();
        assert_eq!(e, "No functions registered");
        let e = i
            .load_library(b"#!lua name=lib2\nwhile true do end")
            .unwrap_err();
        assert!(e.contains("FUNCTION LOAD timeout"), "{e}");
    }
}
