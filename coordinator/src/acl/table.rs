//! What ACL rules are written against: a numeric id per command and subcommand (the bit in a
//! selector's command set), Redis's category names and order, and how each command reaches
//! its keys (read, write or both), which `%R~` / `%W~` patterns are checked against.

use crate::registry::{CommandSpec, Registry};
use std::sync::OnceLock;

/// Redis's ACL categories, in the order ACL CAT and rule descriptions use.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Command ids fit in this many bits (a selector's command set is a fixed array).
pub const ID_BITS: usize = 1024;
pub const ID_WORDS: usize = ID_BITS / 64;

/// Key access a command needs: `%R~` patterns satisfy READ, `%W~` WRITE, `~` both.
pub const READ: u8 = 1;
pub const WRITE: u8 = 2;

/// One entry per id: a command or a subcommand.
pub struct Entry {
    pub spec: &'static CommandSpec,
    /// `get`, or `config|get` for a subcommand.
    pub name: &'static str,
    /// Bit i set: in CATEGORIES[i].
    pub categories: u32,
    /// The container's id for a subcommand.
    pub parent: Option<usize>,
    /// Ids of this command's subcommands.
    pub subs: std::ops::Range<usize>,
    /// The access its first key and its other keys need ([`key_access`]).
    pub access: (u8, u8),
    /// The access depends on the arguments (SET's GET, BITFIELD's operations).
    pub variable_access: bool,
    /// Its keys depend on the arguments ([`CommandSpec::movable_keys`]).
    pub movable_keys: bool,
}

pub struct CommandTable {
    pub entries: Vec<Entry>,
    /// `sub_base[i]`: id of the first subcommand of registry command i.
    sub_base: Vec<usize>,
}

impl CommandTable {
    pub fn get() -> &'static CommandTable {
        static TABLE: OnceLock<CommandTable> = OnceLock::new();
        TABLE.get_or_init(|| CommandTable::build(Registry::get()))
    }

    fn build(registry: &'static Registry) -> CommandTable {
        let commands = registry.commands();
        let mut entries: Vec<Entry> = commands
            .iter()
            .map(|c| Entry {
                spec: c,
                name: c.name,
                categories: category_bits(c),
                parent: None,
                subs: 0..0,
                access: key_access(c.name),
                variable_access: matches!(c.name, "set" | "bitfield"),
                movable_keys: c.movable_keys(),
            })
            .collect();
        let mut sub_base = Vec::with_capacity(commands.len());
        for (i, c) in commands.iter().enumerate() {
            let base = entries.len();
            sub_base.push(base);
            for s in &c.subcommands {
                entries.push(Entry {
                    spec: s,
                    name: s.name,
                    categories: category_bits(s),
                    parent: Some(i),
                    subs: 0..0,
                    access: key_access(s.name),
                    variable_access: false,
                    movable_keys: s.movable_keys(),
                });
            }
            entries[i].subs = base..entries.len();
        }
        assert!(entries.len() < ID_BITS, "more commands than ACL id bits");
        CommandTable { entries, sub_base }
    }

    /// The id of registry command `index`, or of its subcommand named by `sub`.
    pub fn id_of(&self, index: usize, sub: Option<&CommandSpec>) -> usize {
        match sub {
            Some(s) => {
                let c = &self.entries[index];
                let k = c
                    .spec
                    .subcommands
                    .iter()
                    .position(|x| std::ptr::eq(x, s))
                    .expect("subcommand of this command");
                self.sub_base[index] + k
            }
            None => index,
        }
    }

    /// A command or `container|sub` by name, any case, as ACL rules name them.
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        let registry = Registry::get();
        match name.iter().position(|&b| b == b'|') {
            Some(bar) => {
                let (index, spec) = registry.lookup(&name[..bar])?;
                let sub = spec.subcommand(&name[bar + 1..])?;
                Some(self.id_of(index, Some(sub)))
            }
            None => registry.lookup(name).map(|(i, _)| i),
        }
    }
}

/// A category's bit, or None for a name Redis does not know.
pub fn category(name: &[u8]) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

/// The declared categories and those Redis implies from the flags (as COMMAND INFO shows).
fn category_bits(spec: &CommandSpec) -> u32 {
    crate::families::server_family::acl_categories(spec)
        .iter()
        .filter_map(|c| category(c.trim_start_matches('@').as_bytes()))
        .fold(0, |a, b| a | b)
}

/// The access a command needs to its first key and to the others (Redis's key-spec flags:
/// ACCESS reads, INSERT/DELETE/UPDATE write). Commands whose keys need nothing (EXISTS, TYPE,
/// OBJECT ENCODING...) still need the key to match a pattern.
pub fn key_access(name: &str) -> (u8, u8) {
    const RW: u8 = READ | WRITE;
    match name {
        // Destination first, sources after.
        "bitop" | "geosearchstore" | "sdiffstore" | "sinterstore" | "sunionstore"
        | "zdiffstore" | "zinterstore" | "zrangestore" | "zunionstore" => (WRITE, READ),
        "pfmerge" => (RW, READ),
        // Source read and removed, destination written.
        "blmove" | "brpoplpush" | "lmove" | "rename" | "renamenx" | "rpoplpush" | "smove" => {
            (RW, WRITE)
        }
        // Source read, destination (COPY's, or a STORE option's) written.
        "copy" | "georadius" | "georadiusbymember" | "sort" => (READ, WRITE),
        "append"
        | "del"
        | "expire"
        | "expireat"
        | "geoadd"
        | "hdel"
        | "hmset"
        | "hset"
        | "hsetnx"
        | "linsert"
        | "lpush"
        | "lpushx"
        | "lrem"
        | "lset"
        | "ltrim"
        | "mset"
        | "msetnx"
        | "persist"
        | "pexpire"
        | "pexpireat"
        | "pfadd"
        | "psetex"
        | "restore"
        | "restore-asking"
        | "rpush"
        | "rpushx"
        | "sadd"
        | "setex"
        | "setnx"
        | "setrange"
        | "srem"
        | "unlink"
        | "xack"
        | "xadd"
        | "xautoclaim"
        | "xclaim"
        | "xdel"
        | "xgroup|create"
        | "xgroup|createconsumer"
        | "xgroup|delconsumer"
        | "xgroup|destroy"
        | "xgroup|setid"
        | "xsetid"
        | "xtrim"
        | "zadd"
        | "zrem"
        | "zremrangebylex"
        | "zremrangebyrank"
        | "zremrangebyscore" => (WRITE, WRITE),
        "bitfield" | "blmpop" | "blpop" | "brpop" | "bzmpop" | "bzpopmax" | "bzpopmin" | "decr"
        | "decrby" | "eval" | "evalsha" | "fcall" | "getdel" | "getex" | "getset" | "hincrby"
        | "hincrbyfloat" | "incr" | "incrby" | "incrbyfloat" | "lmpop" | "lpop" | "migrate"
        | "move" | "rpop" | "set" | "setbit" | "spop" | "zincrby" | "zmpop" | "zpopmax"
        | "zpopmin" => (RW, RW),
        "exists" | "hexists" | "hlen" | "hstrlen" | "llen" | "memory|usage" | "object|encoding"
        | "object|freq" | "object|idletime" | "object|refcount" | "scard" | "sismember"
        | "strlen" | "touch" | "type" | "watch" | "xlen" | "zcard" => (0, 0),
        // Everything else that names keys reads them.
        _ => (READ, READ),
    }
}

/// The access a command as sent needs: SET reads its key only with GET, and BITFIELD
/// with only GET operations only reads.
pub fn key_access_of(entry: &Entry, args: &crate::args::Args<'_>) -> (u8, u8) {
    if !entry.variable_access {
        return entry.access;
    }
    match entry.name {
        "set" => {
            let get = (3..args.len()).any(|i| args.get(i).eq_ignore_ascii_case(b"get"));
            let a = if get { READ | WRITE } else { WRITE };
            (a, a)
        }
        "bitfield" => {
            let mut read_only = true;
            let mut i = 2;
            while i < args.len() {
                let more = args.len() - i - 1;
                let a = args.get(i);
                if a.eq_ignore_ascii_case(b"get") && more >= 2 {
                    i += 3;
                } else if a.eq_ignore_ascii_case(b"overflow") && more >= 1 {
                    i += 2;
                } else {
                    read_only = false;
                    break;
                }
            }
            let a = if read_only { READ } else { READ | WRITE };
            (a, a)
        }
        _ => entry.access,
    }
}

/// Which arguments of a pub/sub command are channels ACL rules restrict, and whether they are
/// patterns (matched literally against the rules). Unsubscribing is never refused.
pub fn channel_args(name: &str, argc: usize) -> Option<(std::ops::Range<usize>, bool)> {
    match name {
        "publish" | "spublish" => Some((1..2.min(argc), false)),
        "subscribe" | "ssubscribe" => Some((1..argc, false)),
        "psubscribe" => Some((1..argc, true)),
        _ => None,
    }
}
