//! The command registry: one table built from every family's registration list. `COMMAND`,
//! `COMMAND INFO/DOCS/COUNT/LIST` and COMMANDS.md are generated from it.

use crate::args::Args;
use crate::ctx::CmdCtx;
use crate::error::CmdResult;
use std::collections::HashMap;
use std::sync::OnceLock;

pub type Handler = fn(&mut CmdCtx<'_>, &Args<'_>) -> CmdResult;

/// Command flags, as `COMMAND INFO` names them.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const FAST: u32 = 1 << 9;
    pub const NO_AUTH: u32 = 1 << 10;
    pub const ALLOW_BUSY: u32 = 1 << 11;
    pub const NO_MULTI: u32 = 1 << 12;
    pub const SKIP_SLOWLOG: u32 = 1 << 13;

    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

pub struct CommandSpec {
    /// Lower case, as COMMAND prints it.
    pub name: &'static str,
    /// Redis arity: N means exactly N arguments (name included), -N at least N.
    pub arity: i32,
    pub flags: u32,
    /// ACL categories, e.g. "@string", "@fast".
    pub acl: &'static [&'static str],
    /// Key positions: first, last (-1 = last argument), step; 0, 0, 0 for none.
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub handler: Handler,
    /// Subcommands of a container command (`config|get`...), as COMMAND INFO/DOCS/LIST show
    /// them. Their handler is the container's, which dispatches on the second argument.
    pub subcommands: Vec<CommandSpec>,
}

/// A command without subcommands, the common entry of a family's table.
#[allow(clippy::too_many_arguments)]
pub fn command(
    name: &'static str,
    arity: i32,
    flags: u32,
    acl: &'static [&'static str],
    (first_key, last_key, step): (i32, i32, i32),
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    handler: Handler,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        acl,
        first_key,
        last_key,
        step,
        group,
        summary,
        since,
        handler,
        subcommands: Vec::new(),
    }
}

impl CommandSpec {
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = flags::NAMES
            .iter()
            .filter(|(f, _)| self.flags & f != 0)
            .map(|(_, n)| *n)
            .collect();
        // Keys found by reading the arguments; SORT_RO's BY/GET patterns count too.
        if self.movable_keys() || self.name == "sort_ro" {
            names.push("movablekeys");
        }
        names
    }

    /// A subcommand spec: `name` is the full `container|sub` form; everything else as for a
    /// command, with the container's handler.
    #[allow(clippy::too_many_arguments)]
    pub fn sub(
        &self,
        name: &'static str,
        arity: i32,
        flags: u32,
        acl: &'static [&'static str],
        keys: (i32, i32, i32),
        since: &'static str,
        summary: &'static str,
    ) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags,
            acl,
            first_key: keys.0,
            last_key: keys.1,
            step: keys.2,
            group: self.group,
            summary,
            since,
            handler: self.handler,
            subcommands: Vec::new(),
        }
    }

    /// Attaches the subcommands `make` builds (with [`CommandSpec::sub`]).
    pub fn with_subcommands(mut self, make: impl FnOnce(&CommandSpec) -> Vec<CommandSpec>) -> Self {
        self.subcommands = make(&self);
        self
    }

    /// The subcommand named by `argument` (`get` for `config|get`), any case.
    pub fn subcommand(&self, argument: &[u8]) -> Option<&CommandSpec> {
        self.subcommands.iter().find(|s| {
            s.name
                .split_once('|')
                .is_some_and(|(_, sub)| sub.as_bytes().eq_ignore_ascii_case(argument))
        })
    }

    /// Key argument positions for `argc` arguments.
    pub fn key_positions(&self, argc: usize) -> Vec<usize> {
        self.key_indices(argc).collect()
    }

    /// True when the keys depend on the arguments (a `numkeys` argument, a STORE option): use
    /// [`CommandSpec::keys_in`] rather than [`CommandSpec::key_indices`].
    pub fn movable_keys(&self) -> bool {
        self.numkeys_at().is_some()
            || matches!(
                self.name,
                "sort" | "georadius" | "georadiusbymember" | "xread" | "xreadgroup"
            )
    }

    /// Where the `numkeys` argument is, for commands whose keys follow one.
    fn numkeys_at(&self) -> Option<usize> {
        match self.name {
            "lmpop" | "zmpop" | "sintercard" | "zintercard" | "zunion" | "zinter" | "zdiff" => {
                Some(1)
            }
            "blmpop" | "bzmpop" | "zunionstore" | "zinterstore" | "zdiffstore" | "eval"
            | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => Some(2),
            _ => None,
        }
    }

    /// Key argument positions of a command as sent, including the keys a fixed spec cannot
    /// name (Redis's movable keys: a `numkeys` argument, SORT's STORE): what a transaction
    /// around the command must lock.
    pub fn keys_in(&self, args: &Args<'_>) -> Vec<usize> {
        self.keys_with(args.len(), &|i| args.get(i))
    }

    /// [`CommandSpec::keys_in`] as an iterator: a command whose keys a fixed spec names
    /// yields them without allocating (a script's `redis.call` asks this per call).
    pub fn keys_iter(&self, args: &Args<'_>) -> KeyPositions {
        if self.movable_keys() {
            KeyPositions::Listed(self.keys_in(args).into_iter())
        } else {
            KeyPositions::Fixed(self.key_indices(args.len()))
        }
    }

    /// [`CommandSpec::keys_in`] over `argc` arguments read through `arg` (COMMAND GETKEYS
    /// reads a command nested in its own arguments).
    pub fn keys_with<'a>(&self, argc: usize, arg: &dyn Fn(usize) -> &'a [u8]) -> Vec<usize> {
        if matches!(self.name, "xread" | "xreadgroup") {
            return crate::families::stream_read::read_keys(argc, arg);
        }
        if let Some(at) = self.numkeys_at() {
            // ZUNIONSTORE and the like name their destination first.
            let mut keys = if self.name.ends_with("store") {
                vec![1]
            } else {
                Vec::new()
            };
            if at < argc {
                let n = std::str::from_utf8(arg(at))
                    .ok()
                    .and_then(|t| t.parse::<usize>().ok())
                    .unwrap_or(0);
                keys.extend((at + 1..argc).take(n));
            }
            return keys;
        }
        let mut keys: Vec<usize> = self.key_indices(argc).collect();
        if self.name == "sort" {
            // SORT key ... STORE destination: the last STORE wins.
            // Options' arguments are skipped, so `GET store` names no key.
            let (mut i, mut store) = (2, None);
            while i < argc {
                let a = arg(i);
                let skip = if a.eq_ignore_ascii_case(b"limit") {
                    2
                } else if a.eq_ignore_ascii_case(b"get") || a.eq_ignore_ascii_case(b"by") {
                    1
                } else if a.eq_ignore_ascii_case(b"store") {
                    store = (i + 1 < argc).then_some(i + 1);
                    1
                } else {
                    0
                };
                i += 1 + skip;
            }
            keys.extend(store);
        }
        if self.name == "georadius" || self.name == "georadiusbymember" {
            // STORE/STOREDIST destination: the last one wins, as Redis finds it.
            let (mut i, mut store) = (5, None);
            while i < argc {
                let a = arg(i);
                if (a.eq_ignore_ascii_case(b"store") || a.eq_ignore_ascii_case(b"storedist"))
                    && i + 1 < argc
                {
                    store = Some(i + 1);
                    i += 1;
                }
                i += 1;
            }
            keys.extend(store);
        }
        keys
    }

    /// Key argument positions for `argc` arguments, without allocating.
    pub fn key_indices(&self, argc: usize) -> KeyIndices {
        let (first, step) = (self.first_key.max(0) as usize, self.step.max(1) as usize);
        let last = if self.first_key <= 0 {
            -1
        } else if self.last_key < 0 {
            argc as i64 + i64::from(self.last_key)
        } else {
            i64::from(self.last_key)
        };
        let end = (last + 1).clamp(0, argc as i64) as usize;
        KeyIndices {
            next: first,
            end,
            step,
        }
    }
}

/// Key positions: `next`, `next + step`, ... below `end`. A plain counter (a `StepBy` costs
/// a division per call, and this runs for every command).
#[derive(Clone, Copy, Debug)]
pub struct KeyIndices {
    next: usize,
    end: usize,
    step: usize,
}

impl Iterator for KeyIndices {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.next < self.end {
            let at = self.next;
            self.next += self.step;
            Some(at)
        } else {
            None
        }
    }
}

/// What [`CommandSpec::keys_iter`] yields: the spec's fixed positions, or the positions a
/// movable-keys command's arguments name.
#[derive(Clone, Debug)]
pub enum KeyPositions {
    Fixed(KeyIndices),
    Listed(std::vec::IntoIter<usize>),
}

impl Iterator for KeyPositions {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        match self {
            KeyPositions::Fixed(k) => k.next(),
            KeyPositions::Listed(k) => k.next(),
        }
    }
}

pub struct Registry {
    commands: Vec<CommandSpec>,
    /// Lower-case name bytes to index: looked up without a UTF-8 check per command.
    by_name: HashMap<&'static [u8], usize, ahash::RandomState>,
}

impl Registry {
    fn build() -> Registry {
        let mut commands = Vec::new();
        for family in crate::families::ALL {
            commands.extend(family());
        }
        commands.sort_by_key(|c: &CommandSpec| c.name);
        let by_name = commands
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_bytes(), i))
            .collect();
        Registry { commands, by_name }
    }

    pub fn get() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(Registry::build)
    }

    /// Finds a command by name, any case, without allocating for names up to 32 bytes.
    pub fn lookup(&self, name: &[u8]) -> Option<(usize, &CommandSpec)> {
        let mut buf = [0u8; 32];
        let lower: Vec<u8>;
        let key: &[u8] = if name.len() <= buf.len() {
            for (d, s) in buf.iter_mut().zip(name) {
                *d = s.to_ascii_lowercase();
            }
            &buf[..name.len()]
        } else {
            lower = name.to_ascii_lowercase();
            &lower
        };
        let i = *self.by_name.get(key)?;
        Some((i, &self.commands[i]))
    }

    /// A command, or a subcommand in `container|sub` form (COMMAND INFO and DOCS accept both).
    pub fn lookup_full(&self, name: &[u8]) -> Option<&CommandSpec> {
        match name.iter().position(|&b| b == b'|') {
            Some(bar) => self.lookup(&name[..bar])?.1.subcommand(&name[bar + 1..]),
            None => self.lookup(name).map(|(_, c)| c),
        }
    }

    pub fn commands(&self) -> &[CommandSpec] {
        &self.commands
    }

    pub fn len(&self) -> usize {
        self.commands.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// COMMANDS.md: the supported commands, generated from the registry.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "# Commands\n\nGenerated from the command registry (`cargo run -p damselfly -- \
             --commands-md > COMMANDS.md`); a test fails when this file is stale.\n\n\
             | command | group | arity | flags | summary |\n|---|---|---|---|---|\n",
        );
        for c in self
            .commands
            .iter()
            .flat_map(|c| std::iter::once(c).chain(&c.subcommands))
        {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                c.name.to_ascii_uppercase().replace('|', " "),
                c.group,
                c.arity,
                c.flag_names().join(" "),
                c.summary
            ));
        }
        out.push_str(&format!("\n{} commands.\n", self.commands.len()));
        out
    }
}
