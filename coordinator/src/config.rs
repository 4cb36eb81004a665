//! The typed config registry: one table of parameters serving command-line flags, the
//! Redis-style config file and CONFIG GET/SET. Names are Redis's (dashes); Dragonfly-style flag
//! names with underscores are accepted everywhere as the same parameter.

use damselfly_runtime::sync::SpinLock;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int {
        min: i64,
        max: i64,
    },
    /// Integer that also accepts memory units (1kb, 5mb, 2gb).
    Memory,
    Bool,
    Str,
    Enum(&'static [&'static str]),
    /// `save`: pairs of `<seconds> <changes>`, or empty.
    Save,
    /// `dir`: an existing directory, stored as its absolute path (Redis chdirs there).
    Dir,
    /// `dbfilename`: a file name without a directory part.
    FileName,
    /// `notify-keyspace-events`: event class characters, shown in Redis's canonical order.
    KeyspaceEvents,
    /// `client-output-buffer-limit`: `<class> <hard> <soft> <soft-seconds>` groups; a set
    /// changes only the classes it names.
    OutputBufferLimit,
    /// A parameter Damselfly lists for clients but serves with one value only: the value
    /// must parse as the inner kind and equal the default.
    Only(&'static Kind),
    /// A memory value or a percentage of `maxmemory` (`maxmemory-clients`).
    MemoryOrPercent,
    /// Space-separated percentiles, each 0..100 (`latency-tracking-info-percentiles`).
    Percentiles,
    /// `snapshot-cron`: a five-field cron expression, or empty.
    Cron,
    /// `snapshot-key-file`: a readable file holding a 256-bit key, or empty.
    KeyFile,
}

pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    /// Can change while running (CONFIG SET); others only at start.
    pub mutable: bool,
    pub help: &'static str,
}

pub const PARAMS: &[Param] = &[
    Param {
        name: "port",
        kind: Kind::Int { min: 0, max: 65535 },
        default: "6379",
        mutable: true,
        help: "TCP port to listen on (0 picks a free one)",
    },
    Param {
        name: "memcached-port",
        kind: Kind::Int { min: 0, max: 65535 },
        default: "0",
        mutable: false,
        help: "TCP port for the memcached text protocol (0 = off)",
    },
    Param {
        name: "max-item-size",
        kind: Kind::Memory,
        default: "1048576",
        mutable: false,
        help: "largest memcached item value (memcached's -I)",
    },
    Param {
        name: "bind",
        kind: Kind::Str,
        default: "0.0.0.0",
        mutable: true,
        help: "address to listen on",
    },
    Param {
        name: "tls-port",
        kind: Kind::Int { min: 0, max: 65535 },
        default: "0",
        mutable: true,
        help: "TCP port serving RESP over TLS (0 = off; with it, --port 0 serves TLS only)",
    },
    Param {
        name: "tls-cert-file",
        kind: Kind::Str,
        default: "",
        mutable: true,
        help: "PEM certificate chain the TLS listeners present",
    },
    Param {
        name: "tls-key-file",
        kind: Kind::Str,
        default: "",
        mutable: true,
        help: "PEM private key of tls-cert-file",
    },
    Param {
        name: "tls-ca-cert-file",
        kind: Kind::Str,
        default: "",
        mutable: true,
        help: "PEM CA certificates that client certificates are checked against",
    },
    Param {
        name: "tls-ca-cert-dir",
        kind: Kind::Str,
        default: "",
        mutable: true,
        help: "directory of PEM CA certificates (every file in it is read)",
    },
    Param {
        name: "tls-auth-clients",
        kind: Kind::Enum(&["yes", "no", "optional"]),
        default: "yes",
        mutable: true,
        help: "client certificates: required (yes), not asked for (no), checked if sent",
    },
    Param {
        name: "tls-protocols",
        kind: Kind::Str,
        default: "",
        mutable: true,
        help: "TLS versions served, e.g. \"TLSv1.2 TLSv1.3\" (empty: both)",
    },
    Param {
        name: "memcached-tls",
        kind: Kind::Bool,
        default: "no",
        mutable: false,
        help: "serve --memcached_port over TLS (with the tls-* certificates) instead of TCP",
    },
    Param {
        name: "proactor-threads",
        kind: Kind::Int { min: 0, max: 1024 },
        default: "0",
        mutable: false,
        help: "threads (and shards); 0 = the cores available",
    },
    Param {
        name: "databases",
        kind: Kind::Int {
            min: 1,
            max: 1 << 20,
        },
        default: "16",
        mutable: false,
        help: "number of databases (flag --dbnum)",
    },
    Param {
        name: "maxclients",
        kind: Kind::Int {
            min: 1,
            max: 1 << 24,
        },
        default: "10000",
        mutable: true,
        help: "maximum connected clients",
    },
    Param {
        name: "hz",
        kind: Kind::Int { min: 1, max: 500 },
        default: "100",
        mutable: true,
        help: "background task frequency (expiry)",
    },
    Param {
        name: "io-backend",
        kind: Kind::Enum(&["auto", "uring", "epoll"]),
        default: "auto",
        mutable: false,
        help: "I/O backend: io_uring, or epoll, or auto (io_uring with epoll fallback)",
    },
    Param {
        name: "proactor-affinity-mode",
        kind: Kind::Enum(&["on", "off", "auto"]),
        default: "on",
        mutable: false,
        help: "pin each proactor thread to a core: on, off, or auto (pin only when there is one thread per core the process may use)",
    },
    Param {
        name: "proto-max-bulk-len",
        kind: Kind::Memory,
        default: "536870912",
        mutable: true,
        help: "largest bulk string a client may send",
    },
    Param {
        name: "client-query-buffer-limit",
        kind: Kind::Memory,
        default: "1073741824",
        mutable: true,
        help: "largest query buffer of one client",
    },
    Param {
        name: "log-format",
        kind: Kind::Enum(&["text", "json"]),
        default: "text",
        mutable: false,
        help: "log lines as text (time level component: message) or one JSON object per line",
    },
    Param {
        name: "loglevel",
        kind: Kind::Enum(&[
            "debug", "verbose", "notice", "warning", "nothing", "info", "error",
        ]),
        default: "notice",
        mutable: true,
        help: "log level",
    },
    Param {
        name: "timeout",
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        default: "0",
        mutable: true,
        help: "close idle clients after N seconds (0 = never)",
    },
    Param {
        name: "tcp-keepalive",
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        default: "300",
        mutable: true,
        help: "TCP keepalive seconds",
    },
    Param {
        name: "maxmemory",
        kind: Kind::Memory,
        default: "0",
        mutable: true,
        help: "memory limit in bytes (0 = none)",
    },
    Param {
        name: "dir",
        kind: Kind::Dir,
        default: ".",
        mutable: true,
        help: "working directory for snapshots",
    },
    Param {
        name: "dbfilename",
        kind: Kind::FileName,
        default: "dump.rdb",
        mutable: true,
        help: "snapshot file name",
    },
    Param {
        name: "save",
        kind: Kind::Save,
        default: "",
        mutable: true,
        help: "save points: \"seconds changes\" pairs; a background save starts when one is reached",
    },
    Param {
        name: "snapshot-cron",
        kind: Kind::Cron,
        default: "",
        mutable: true,
        help: "cron expression (5 fields, UTC) of the minutes a background save starts at, e.g. \"*/5 * * * *\"",
    },
    Param {
        name: "snapshot-key-file",
        kind: Kind::KeyFile,
        default: "",
        mutable: true,
        help: "file with a 256-bit key (32 bytes or 64 hex digits): snapshots are written AES-256-GCM encrypted, and encrypted ones loaded",
    },
    Param {
        name: "df-snapshot-format",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        help: "write snapshots as DFS files (one per shard, written in parallel, plus a summary) instead of one RDB file",
    },
    Param {
        name: "rdb-key-save-delay",
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        default: "0",
        mutable: true,
        help: "microseconds a snapshot waits per key written (tests use it to keep a save running)",
    },
    Param {
        name: "appendonly",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        help: "always no: Damselfly has no append-only file",
    },
    Param {
        name: "lock-on-hashtags",
        kind: Kind::Bool,
        default: "no",
        mutable: false,
        help: "keys with the same {hashtag} share a shard (always on today)",
    },
    Param {
        name: "maxmemory-policy",
        kind: Kind::Enum(&[
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "noeviction",
        ]),
        default: "noeviction",
        mutable: true,
        help: "what happens at maxmemory: noeviction refuses writes; the others evict keys (lru: longest idle of a sample, lfu: least frequently used of a sample, by the per-key access clock)",
    },
    Param {
        name: "cache-mode",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        help: "behave as a cache at maxmemory: an insert evicts the least-hit key of its bucket neighbourhood instead of answering OOM (overrides maxmemory-policy)",
    },
    // Listed for clients that read them; stored by CONFIG SET, no behaviour yet.
    Param {
        name: "slowlog-log-slower-than",
        kind: Kind::Int {
            min: -1,
            max: i64::MAX,
        },
        default: "10000",
        mutable: true,
        help: "commands slower than this many microseconds go to the slow log (-1: none)",
    },
    Param {
        name: "slowlog-max-len",
        kind: Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default: "128",
        mutable: true,
        help: "entries the slow log keeps",
    },
    Param {
        name: "latency-monitor-threshold",
        kind: Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default: "0",
        mutable: true,
        help: "latency monitor threshold in ms (stored only: no latency monitor yet)",
    },
    Param {
        name: "latency-tracking",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        help: "count every call in its command's latency histogram (INFO latencystats)",
    },
    Param {
        name: "latency-tracking-info-percentiles",
        kind: Kind::Percentiles,
        default: "50 99 99.9",
        mutable: true,
        help: "percentiles INFO latencystats prints, space separated, each 0..100",
    },
    Param {
        name: "notify-keyspace-events",
        kind: Kind::KeyspaceEvents,
        default: "",
        mutable: true,
        help: "keyspace event classes published to __keyspace@N__ / __keyevent@N__ channels",
    },
    Param {
        name: "hash-max-listpack-entries",
        kind: Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default: "512",
        mutable: true,
        help: "hash encoding threshold",
    },
    Param {
        name: "hash-max-listpack-value",
        kind: Kind::Memory,
        default: "64",
        mutable: true,
        help: "hash encoding threshold",
    },
    Param {
        name: "list-max-listpack-size",
        kind: Kind::Int {
            min: i32::MIN as i64,
            max: i32::MAX as i64,
        },
        default: "-2",
        mutable: true,
        help: "list node size",
    },
    Param {
        name: "list-compress-depth",
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        default: "0",
        mutable: true,
        help: "list compression depth",
    },
    Param {
        name: "set-max-intset-entries",
        kind: Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default: "512",
        mutable: true,
        help: "set encoding threshold",
    },
    Param {
        name: "set-max-listpack-entries",
        kind: Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default: "128",
        mutable: true,
        help: "set encoding threshold: members of a packed set of strings",
    },
    Param {
        name: "set-max-listpack-value",
        kind: Kind::Memory,
        default: "64",
        mutable: true,
        help: "set encoding threshold: longest member of a packed set of strings",
    },
    Param {
        name: "zset-max-listpack-entries",
        kind: Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default: "128",
        mutable: true,
        help: "sorted set encoding threshold",
    },
    Param {
        name: "zset-max-listpack-value",
        kind: Kind::Memory,
        default: "64",
        mutable: true,
        help: "sorted set encoding threshold",
    },
    Param {
        name: "stream-node-max-bytes",
        kind: Kind::Memory,
        default: "4096",
        mutable: true,
        help: "bytes of a stream node before a new one starts (0: no limit)",
    },
    Param {
        name: "stream-node-max-entries",
        kind: Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default: "100",
        mutable: true,
        help: "entries of a stream node before a new one starts (0: no limit)",
    },
    Param {
        name: "hll-sparse-max-bytes",
        kind: Kind::Memory,
        default: "3000",
        mutable: true,
        help: "a sparse HyperLogLog past this many bytes turns dense",
    },
    Param {
        name: "lazyfree-lazy-eviction",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        help: "keys evicted for maxmemory free large values off the command path",
    },
    Param {
        name: "lazyfree-lazy-expire",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        help: "expired keys free large values off the command path",
    },
    Param {
        name: "lazyfree-lazy-server-del",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        help: "values a write replaces free off the command path when large",
    },
    Param {
        name: "lazyfree-lazy-user-del",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        help: "DEL frees large values off the command path, like UNLINK",
    },
    Param {
        name: "lazyfree-lazy-user-flush",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        help: "FLUSHDB and FLUSHALL without SYNC|ASYNC are ASYNC",
    },
    Param {
        name: "key-load-delay",
        kind: Kind::Int {
            min: i32::MIN as i64,
            max: i32::MAX as i64,
        },
        default: "0",
        mutable: true,
        help: "debugging: microseconds loading sleeps per key (negative: 1 us every -N keys); \
               hidden from CONFIG GET patterns",
    },
    Param {
        name: "maxmemory-samples",
        kind: Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        default: "5",
        mutable: true,
        help: "keys sampled for each eviction choice",
    },
    Param {
        name: "lfu-log-factor",
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        default: "10",
        mutable: true,
        help: "how slowly a key's LFU counter grows: each hit counts with probability 1/((counter-5)*factor+1)",
    },
    Param {
        name: "lfu-decay-time",
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        default: "1",
        mutable: true,
        help: "minutes without access for a key's LFU counter to lose one (0: never decays)",
    },
    Param {
        name: "maxmemory-eviction-tenacity",
        kind: Kind::Int { min: 0, max: 100 },
        default: "10",
        mutable: true,
        help: "eviction effort (stored only: Damselfly evicts in bounded steps between commands)",
    },
    Param {
        name: "client-output-buffer-limit",
        kind: Kind::OutputBufferLimit,
        default: "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        mutable: true,
        help: "per client class: disconnect past `hard` bytes of unsent replies, or past `soft` bytes for `seconds`",
    },
    Param {
        name: "pipeline-squash",
        kind: Kind::Int {
            min: 0,
            max: 1 << 20,
        },
        default: "10",
        mutable: true,
        help: "pipelines of at least this many commands read at once run grouped per shard, one hop per shard (0 = never)",
    },
    Param {
        name: "multi-exec-squash",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        help: "inside EXEC, run consecutive single-shard commands grouped per shard, one hop per shard",
    },
    Param {
        name: "maxmemory-clients",
        kind: Kind::MemoryOrPercent,
        default: "0",
        mutable: true,
        help: "memory all clients' buffers may hold together (bytes or % of maxmemory); past it the largest client is disconnected; 0 = no limit",
    },
    Param {
        name: "protected-mode",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        help: "with no password and a non-loopback bind, serve only loopback clients",
    },
    Param {
        name: "tracking-table-max-keys",
        kind: Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default: "1000000",
        mutable: true,
        help: "keys CLIENT TRACKING remembers; past it the oldest are invalidated (0 = no limit)",
    },
    Param {
        name: "busy-reply-threshold",
        kind: Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default: "5000",
        mutable: true,
        help: "ms a script runs before other clients are answered -BUSY and it may be killed (alias lua-time-limit); 0 = never",
    },
    Param {
        name: "default-lua-flags",
        kind: Kind::Str,
        default: "",
        mutable: true,
        help: "flags every script runs with unless its shebang says otherwise: 'disallow-undeclared-keys' refuses keys a script did not declare, as Dragonfly does",
    },
    Param {
        name: "requirepass",
        kind: Kind::Str,
        default: "",
        mutable: true,
        help: "password of the default user (empty: none, every connection is the default user)",
    },
    Param {
        name: "aclfile",
        kind: Kind::Str,
        default: "",
        mutable: false,
        help: "file of `user` lines loaded at start and by ACL LOAD, written by ACL SAVE",
    },
    Param {
        name: "acl-pubsub-default",
        kind: Kind::Enum(&["resetchannels", "allchannels"]),
        default: "resetchannels",
        mutable: true,
        help: "channels a new ACL user may use: none (resetchannels) or all (allchannels)",
    },
    Param {
        name: "acllog-max-len",
        kind: Kind::Int {
            min: 0,
            max: i64::MAX,
        },
        default: "128",
        mutable: true,
        help: "entries ACL LOG keeps",
    },
    // Listed with the only value Damselfly serves: setting another is refused.
    Param {
        name: "cluster-enabled",
        kind: Kind::Bool,
        default: "no",
        mutable: false,
        help: "always no: Damselfly has no cluster mode",
    },
    Param {
        name: "daemonize",
        kind: Kind::Only(&Kind::Bool),
        default: "no",
        mutable: false,
        help: "always no: Damselfly runs in the foreground (run it under a supervisor such as systemd)",
    },
];

/// Redis's old names of parameters: CONFIG GET and SET take either, and CONFIG GET lists
/// both, as Redis 7 does.
pub const ALIASES: &[(&str, &str)] = &[
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
    ("list-max-ziplist-size", "list-max-listpack-size"),
    ("lua-time-limit", "busy-reply-threshold"),
];

/// Canonical parameter name: lower case, underscores as dashes, Dragonfly's aliases resolved.
pub fn canonical(name: &str) -> String {
    let n = name.to_ascii_lowercase().replace('_', "-");
    match n.as_str() {
        "dbnum" => "databases".into(),
        "force-epoll" => "io-backend".into(),
        _ => n,
    }
}

/// Debugging parameters CONFIG GET shows only when asked for by name.
const HIDDEN: &[&str] = &["key-load-delay"];

/// Startup-only parameters that CONFIG SET accepts when the value is the one in force (nothing
/// changes): those Redis can change at run time (port, bind) and Damselfly's own, so a client
/// that writes back what CONFIG GET showed succeeds. Redis's immutable parameters always refuse.
const SAME_VALUE_ACCEPTED: &[&str] = &[
    "port",
    "bind",
    "memcached-port",
    "max-item-size",
    "proactor-threads",
    "io-backend",
    "proactor-affinity-mode",
    "lock-on-hashtags",
    "log-format",
    "memcached-tls",
];

/// Whether CONFIG SET of the immutable `p` to `value` changes nothing and is accepted.
pub fn same_value_accepted(p: &Param, value: &str, config: &Config) -> bool {
    SAME_VALUE_ACCEPTED.contains(&p.name)
        && config
            .get(p.name)
            .is_some_and(|current| validate(p, value, &current).is_ok_and(|v| v == current))
}

pub fn find(name: &str) -> Option<&'static Param> {
    PARAMS.get(index(name)?)
}

/// Index in [`PARAMS`] of a parameter or of the parameter an alias names.
fn index(name: &str) -> Option<usize> {
    let c = canonical(name);
    let c = ALIASES
        .iter()
        .find(|(alias, _)| *alias == c)
        .map_or(c.as_str(), |(_, p)| p);
    PARAMS.iter().position(|p| p.name == c)
}

/// Parses memory sizes the way Redis's config does: bytes, k/kb, m/mb, g/gb (k = 1000,
/// kb = 1024).
pub fn parse_memory(s: &str) -> Option<i64> {
    let l = s.to_ascii_lowercase();
    let (digits, mult) = [
        ("gb", 1i64 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, m)| l.strip_suffix(suf).map(|d| (d.to_string(), *m)))
    .unwrap_or((l.clone(), 1));
    let v: i64 = digits.parse().ok()?;
    v.checked_mul(mult).filter(|v| *v >= 0)
}

/// Validates `value` for `p` (whose value is `current`), returning the normalized text to
/// store or Redis's error reason.
pub fn validate(p: &Param, value: &str, current: &str) -> Result<String, String> {
    match p.kind {
        Kind::Only(inner) => {
            let v = validate_kind(inner, value, current)?;
            if v == p.default {
                Ok(v)
            } else {
                Err(format!(
                    "Damselfly serves only '{}' for this parameter",
                    p.default
                ))
            }
        }
        ref kind => validate_kind(kind, value, current),
    }
}

fn validate_kind(kind: &Kind, value: &str, current: &str) -> Result<String, String> {
    match *kind {
        Kind::Only(inner) => validate_kind(inner, value, current),
        Kind::Save => validate_save(value),
        Kind::Dir => match std::fs::canonicalize(value) {
            Ok(p) if p.is_dir() => Ok(p.to_string_lossy().into_owned()),
            Ok(_) => Err("Not a directory".into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err("No such file or directory".into())
            }
            Err(e) => Err(e.to_string()),
        },
        Kind::FileName => {
            if value.contains('/') {
                Err("dbfilename can't be a path, just a filename".into())
            } else {
                Ok(value.to_string())
            }
        }
        Kind::KeyspaceEvents => keyspace_events(value).map(keyspace_events_text),
        Kind::OutputBufferLimit => output_buffer_limit(value, current),
        Kind::MemoryOrPercent => validate_memory_or_percent(value),
        Kind::Percentiles => crate::metrics::latencystats::validate_percentiles(value),
        Kind::Cron if value.trim().is_empty() => Ok(String::new()),
        Kind::Cron => damselfly_persistence::cron::CronSchedule::parse(value).map(|_| value.into()),
        Kind::KeyFile if value.is_empty() => Ok(String::new()),
        Kind::KeyFile => crate::snapshot_crypt::read_key(value).map(|_| value.into()),
        Kind::Int { min, max } => match value.parse::<i64>() {
            Ok(v) if v >= min && v <= max => Ok(v.to_string()),
            Ok(_) => Err(format!(
                "argument must be between {min} and {max} inclusive"
            )),
            Err(_) => Err("argument couldn't be parsed into an integer".into()),
        },
        Kind::Memory => parse_memory(value)
            .map(|v| v.to_string())
            .ok_or_else(|| "argument must be a memory value".into()),
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            "yes" | "true" | "1" => Ok("yes".into()),
            "no" | "false" | "0" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Str => Ok(value.to_string()),
        Kind::Enum(options) => {
            let v = value.to_ascii_lowercase();
            if options.contains(&v.as_str()) {
                Ok(v)
            } else {
                Err("argument(s) must be one of the following: ".to_string() + &options.join(", "))
            }
        }
    }
}

/// Current values, by parameter index.
pub struct Config {
    /// A spin lock, not a fiber mutex: a squashed command reads the config on a shard's
    /// thread outside any fiber, where nothing may park; every critical section is a copy.
    values: SpinLock<Vec<String>>,
    /// Bumped by every change, so readers that cache values know when to re-read them.
    generation: AtomicU64,
    /// The config file the server was started with (CONFIG REWRITE writes it back).
    file: SpinLock<Option<std::path::PathBuf>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            values: SpinLock::new(PARAMS.iter().map(|p| p.default.to_string()).collect()),
            generation: AtomicU64::new(0),
            file: SpinLock::new(None),
        }
    }
}

impl Config {
    pub fn get(&self, name: &str) -> Option<String> {
        let i = index(name)?;
        Some(self.values.lock()[i].clone())
    }

    /// The value as CONFIG GET shows it (see [`shown`]).
    pub fn get_shown(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| shown(name, &v))
    }

    pub fn get_int(&self, name: &str) -> i64 {
        self.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// Sets a parameter (start-up: any; running: `mutable` ones unless `at_start`).
    pub fn set(&self, name: &str, value: &str, at_start: bool) -> Result<(), String> {
        let Some(i) = index(name) else {
            return Err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        };
        let p = &PARAMS[i];
        if !at_start && !p.mutable {
            return Err(format!("can't set immutable config '{}'", p.name));
        }
        let mut values = self.values.lock();
        values[i] = validate(p, value, &values[i])?;
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Remembers the config file the server was started with (an absolute path).
    pub fn set_file(&self, path: std::path::PathBuf) {
        *self.file.lock() = Some(path);
    }

    pub fn file(&self) -> Option<std::path::PathBuf> {
        self.file.lock().clone()
    }

    /// Changes with every successful `set`, so readers that cache values know to re-read.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Name-value pairs of the parameters (and aliases) matching a glob pattern.
    pub fn matching(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        let values = self.values.lock();
        let canon = canonical(&String::from_utf8_lossy(pattern));
        let names = PARAMS
            .iter()
            .map(|p| p.name)
            .chain(ALIASES.iter().map(|(alias, _)| *alias));
        // A hidden parameter answers only to its exact name, as in Redis.
        let exact = !canon.contains(['*', '?', '[']);
        names
            .filter(|name| exact || !HIDDEN.contains(name))
            .filter(|name| {
                damselfly_shards::glob::glob_match(canon.as_bytes(), name.as_bytes(), true)
            })
            .map(|name| {
                (
                    name,
                    shown(name, &values[index(name).expect("a parameter")]),
                )
            })
            .collect()
    }
}

/// A parameter's value as CONFIG GET shows it: Redis prints `notify-keyspace-events` with
/// `A` but without the `n` that is still in force.
fn shown(name: &str, value: &str) -> String {
    match value.strip_prefix("An") {
        Some(rest) if name == "notify-keyspace-events" => format!("A{rest}"),
        _ => value.to_string(),
    }
}

/// `save`: empty, or `<seconds> <changes>` pairs separated by single spaces (seconds at
/// least 1, changes at least 0), stored without leading zeros.
fn validate_save(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Ok(String::new());
    }
    let bad = || "Invalid save parameters".to_string();
    let parts: Vec<&str> = value.split(' ').collect();
    if !parts.len().is_multiple_of(2) {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(parts.len());
    for pair in parts.chunks(2) {
        let seconds: i64 = pair[0].parse().map_err(|_| bad())?;
        let changes: i64 = pair[1].parse().map_err(|_| bad())?;
        if seconds < 1 || changes < 0 {
            return Err(bad());
        }
        out.push(format!("{seconds} {changes}"));
    }
    Ok(out.join(" "))
}

/// Keyspace event classes in the order Redis shows them; `A` stands for all of them but `n`
/// (key creation), which is shown after them and hidden by `A`, as Redis does.
const EVENT_CLASSES: &[u8] = b"g$lshzxetd";

/// The set of event characters in `value` (`A` expanded), or Redis's error.
fn keyspace_events(value: &str) -> Result<Vec<u8>, String> {
    let mut set = Vec::new();
    for c in value.bytes() {
        match c {
            b'A' => set.extend_from_slice(EVENT_CLASSES),
            c if EVENT_CLASSES.contains(&c) || matches!(c, b'K' | b'E' | b'm' | b'n') => {
                set.push(c)
            }
            _ => return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()),
        }
    }
    Ok(set)
}

/// Redis's canonical text of a set of event characters: `A` or the classes in order, then
/// `K`, `E` and `m` (which `A` does not include). `n` stays after `A` in the stored text, so
/// the flags keep it; CONFIG GET hides it there, as Redis does ([`shown`]).
fn keyspace_events_text(set: Vec<u8>) -> String {
    let mut out = String::new();
    if EVENT_CLASSES.iter().all(|c| set.contains(c)) {
        out.push('A');
        if set.contains(&b'n') {
            out.push('n');
        }
    } else {
        out.extend(
            EVENT_CLASSES
                .iter()
                .chain(b"n")
                .filter(|c| set.contains(c))
                .map(|&c| c as char),
        );
    }
    out.extend(
        b"KEm"
            .iter()
            .filter(|c| set.contains(c))
            .map(|&c| c as char),
    );
    out
}

/// Validates `maxmemory-clients`: a memory value or a percentage of `maxmemory`.
pub fn validate_memory_or_percent(value: &str) -> Result<String, String> {
    if let Some(p) = value.strip_suffix('%') {
        return match p.parse::<u64>() {
            Ok(p) if p <= 100 => Ok(format!("{p}%")),
            _ => Err("percentage argument must be less or equal to 100".into()),
        };
    }
    parse_memory(value)
        .map(|v| v.to_string())
        .ok_or_else(|| "argument must be a memory or percent value".into())
}

/// `client-output-buffer-limit`: merges the groups of `value` into `current` (every class
/// checked before any changes), memory sizes in bytes.
fn output_buffer_limit(value: &str, current: &str) -> Result<String, String> {
    const CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];
    let words: Vec<&str> = value.split_whitespace().collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut limits: Vec<[String; 3]> = {
        let cur: Vec<&str> = current.split_whitespace().collect();
        CLASSES
            .iter()
            .map(|class| {
                cur.chunks(4)
                    .find(|g| g.len() == 4 && g[0] == *class)
                    .map(|g| [g[1].to_string(), g[2].to_string(), g[3].to_string()])
                    .unwrap_or_else(|| ["0".into(), "0".into(), "0".into()])
            })
            .collect()
    };
    for g in words.chunks(4) {
        let class = match g[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let bad = || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        let hard = parse_memory(g[1]).ok_or_else(bad)?;
        let soft = parse_memory(g[2]).ok_or_else(bad)?;
        let seconds: i64 = g[3].parse().ok().filter(|s| *s >= 0).ok_or_else(bad)?;
        limits[class] = [hard.to_string(), soft.to_string(), seconds.to_string()];
    }
    Ok(CLASSES
        .iter()
        .zip(&limits)
        .map(|(class, [h, s, secs])| format!("{class} {h} {s} {secs}"))
        .collect::<Vec<_>>()
        .join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maxmemory_clients_values() {
        assert_eq!(validate_memory_or_percent("10%").unwrap(), "10%");
        assert_eq!(validate_memory_or_percent("1mb").unwrap(), "1048576");
        assert!(validate_memory_or_percent("101%").is_err());
        assert!(validate_memory_or_percent("lots").is_err());
    }

    #[test]
    fn new_events_survive_all() {
        let c = Config::default();
        c.set("notify-keyspace-events", "KEAn", false).unwrap();
        let stored = c.get("notify-keyspace-events").unwrap();
        assert_ne!(
            crate::notify::parse_flags(&stored) & crate::notify::class::NEW,
            0
        );
        let shown = c.matching(b"notify-keyspace-events");
        assert_eq!(shown, vec![("notify-keyspace-events", "AKE".to_string())]);
    }
}
