//! The typed config registry: one table of parameters serving command-line flags, the
//! Redis-style config file and CONFIG GET/SET. Names are Redis's (dashes); Dragonfly-style flag
//! names with underscores are accepted everywhere as the same parameter.

use damselfly_runtime::sync::Mutex;
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
    /// `client-output-buffer-limit`: groups of `class hard soft seconds`; a SET names only the
    /// classes it changes.
    OutputLimits,
    /// A memory value or a percentage of `maxmemory` (`maxmemory-clients`).
    MemoryOrPercent,
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
        mutable: false,
        help: "TCP port to listen on (0 picks a free one)",
    },
    Param {
        name: "bind",
        kind: Kind::Str,
        default: "0.0.0.0",
        mutable: false,
        help: "address to listen on",
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
        kind: Kind::Str,
        default: ".",
        mutable: true,
        help: "working directory for snapshots",
    },
    Param {
        name: "dbfilename",
        kind: Kind::Str,
        default: "dump.rdb",
        mutable: true,
        help: "snapshot file name",
    },
    Param {
        name: "save",
        kind: Kind::Str,
        default: "",
        mutable: true,
        help: "snapshot schedule (not served yet; accepted for compatibility)",
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
        kind: Kind::Enum(&["noeviction"]),
        default: "noeviction",
        mutable: true,
        help: "what happens at maxmemory: noeviction (the only policy served today)",
    },
    Param {
        name: "client-output-buffer-limit",
        kind: Kind::OutputLimits,
        default: "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        mutable: true,
        help: "per client class: disconnect past `hard` bytes of unsent replies, or past `soft` bytes for `seconds`",
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
        help: "with no password and a non-loopback bind, refuse clients from non-loopback addresses",
    },
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

pub fn find(name: &str) -> Option<&'static Param> {
    let c = canonical(name);
    PARAMS.iter().find(|p| p.name == c)
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

/// Validates `value` for `p`, returning its normalized text or Redis's error reason.
pub fn validate(p: &Param, value: &str) -> Result<String, String> {
    match p.kind {
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
        Kind::OutputLimits => crate::client_limits::validate_output_limits(value),
        Kind::MemoryOrPercent => crate::client_limits::validate_memory_or_percent(value),
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
    values: Mutex<Vec<String>>,
    /// Bumped by every change, so readers that cache values know when to re-read them.
    generation: AtomicU64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            values: Mutex::new(PARAMS.iter().map(|p| p.default.to_string()).collect()),
            generation: AtomicU64::new(0),
        }
    }
}

impl Config {
    pub fn get(&self, name: &str) -> Option<String> {
        let i = PARAMS.iter().position(|p| p.name == canonical(name))?;
        Some(self.values.lock()[i].clone())
    }

    pub fn get_int(&self, name: &str) -> i64 {
        self.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// Sets a parameter (start-up: any; running: `mutable` ones unless `at_start`).
    pub fn set(&self, name: &str, value: &str, at_start: bool) -> Result<(), String> {
        let Some(i) = PARAMS.iter().position(|p| p.name == canonical(name)) else {
            return Err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        };
        let p = &PARAMS[i];
        if !at_start && !p.mutable {
            return Err(format!("can't set immutable config '{}'", p.name));
        }
        let v = validate(p, value)?;
        let mut values = self.values.lock();
        values[i] = match p.kind {
            Kind::OutputLimits => crate::client_limits::merge_output_limits(&values[i], &v),
            _ => v,
        };
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Changes with every successful `set`.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Name-value pairs of the parameters matching a glob pattern.
    pub fn matching(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        let values = self.values.lock();
        let canon = canonical(&String::from_utf8_lossy(pattern));
        PARAMS
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                damselfly_shards::glob::glob_match(canon.as_bytes(), p.name.as_bytes(), true)
            })
            .map(|(i, p)| (p.name, values[i].clone()))
            .collect()
    }
}
