//! Lua scripting for Damselfly (DESIGN.md §8): a Lua 5.1 interpreter set up as Redis 7 sets up
//! its own (the sandbox, the `redis.*` API, Redis's conversions between Lua values and
//! replies) and Redis's Lua libraries (`bit`, `struct`, `cjson`, `cmsgpack`).
//!
//! The crate depends on nothing else of Damselfly: a script reaches the data through the
//! [`Host`] trait, which the coordinator implements on its executor.

mod interpreter;
mod library;
pub mod libs;
mod reply;
mod run;
mod sandbox;
pub mod shebang;

pub use interpreter::{Interpreter, RunOutcome, ScriptRun};
pub use library::{FunctionDef, LibraryDef};
pub use reply::format_g17;

/// What the coordinator provides to a running script.
pub trait Host {
    /// Runs one command for `redis.call`/`redis.pcall` (`args[0]` is its name) and appends its
    /// reply, in RESP version `resp`, to `reply`. Errors (unknown command, wrong arity, a
    /// command scripts may not call) are error replies like any other.
    fn call(&mut self, args: CallArgs<'_>, resp: u8, reply: &mut Vec<u8>) -> CallOutcome;

    /// Called every hundred thousand Lua instructions: may let other clients in while a slow
    /// script runs, and says whether the script was killed.
    fn interrupt(&mut self) -> Interrupt;

    /// `redis.log`.
    fn log(&mut self, level: LogLevel, message: &[u8]);

    /// `redis.acl_check_cmd`: whether the calling user may run `args`; None for an unknown
    /// command.
    fn acl_check_cmd(&mut self, args: &[&[u8]]) -> Option<bool>;
}

/// The arguments of a `redis.call`: spans `(start, len)` of one buffer, so the host can run
/// the command straight from it.
#[derive(Copy, Clone)]
pub struct CallArgs<'a> {
    pub buf: &'a [u8],
    pub spans: &'a [(usize, usize)],
}

impl<'a> CallArgs<'a> {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn get(&self, i: usize) -> &'a [u8] {
        let (start, len) = self.spans[i];
        &self.buf[start..start + len]
    }
}

/// What became of a `redis.call`.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum CallOutcome {
    /// The reply is in the buffer.
    Replied,
    /// The command cannot run under the script's locks and nothing has been written yet: stop
    /// the script (uncatchably) so the host can run it again under wider locks.
    Restart,
}

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Interrupt {
    Continue,
    Kill,
}

/// `redis.log` levels, as Redis numbers them.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum LogLevel {
    Debug,
    Verbose,
    Notice,
    Warning,
}

/// SHA1 of `data` as 40 lowercase hex digits (script ids, `redis.sha1hex`).
pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}
