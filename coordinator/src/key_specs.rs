//! The flags of each key a command names (COMMAND GETKEYSANDFLAGS), from Redis 7.0's key
//! specs: per command, its specs in order, each with its flags and where its keys are (Redis's
//! begin_search / find_keys). A key takes the flags of the first spec that finds it; a key no
//! spec can find (their position depends on keywords anywhere, as SORT's STORE) takes the last
//! spec's. SET and BITFIELD, whose flags depend on their arguments, are decided from them, as
//! Redis's getkeys functions do.

/// Where a spec's first key is: at an argument index, or after a keyword searched from an
/// index (negative: from the end, backwards); unknown when no rule can tell.
#[derive(Clone, Copy)]
enum Begin {
    Index(i32),
    Keyword(&'static str, i32),
    Unknown,
}

/// How many keys follow the first: a range (last key relative to the first, or from the end
/// when negative; key step; limit, dividing what remains), or a count argument (its index
/// relative to the begin, the first key's index relative to it, key step).
#[derive(Clone, Copy)]
enum Find {
    Range(i32, i32, i32),
    Keynum(i32, i32, i32),
    Unknown,
}

struct S(&'static [&'static str], Begin, Find);

/// The flags of the key at argument index `pos` of `argv` (the command name at 0) for the
/// command (or `container|subcommand`) `name`; None when Redis lists no key spec for it.
pub fn key_flags<'a>(
    name: &str,
    argv: &dyn Fn(usize) -> &'a [u8],
    argc: usize,
    pos: usize,
) -> Option<&'static [&'static str]> {
    let i = SPECS.binary_search_by(|(n, _)| n.cmp(&name)).ok()?;
    let specs = SPECS[i].1;
    match name {
        "set" => return Some(set_flags(argv, argc)),
        "bitfield" => return Some(bitfield_flags(argv, argc)),
        _ => {}
    }
    for s in specs {
        if spec_finds(s, argv, argc, pos) {
            return Some(s.0);
        }
    }
    specs.last().map(|s| s.0)
}

fn eq(a: &[u8], b: &str) -> bool {
    a.eq_ignore_ascii_case(b.as_bytes())
}

/// SET reads its key only with GET.
fn set_flags<'a>(argv: &dyn Fn(usize) -> &'a [u8], argc: usize) -> &'static [&'static str] {
    if (3..argc).any(|i| eq(argv(i), "get")) {
        &["RW", "access", "update"]
    } else {
        &["OW", "update"]
    }
}

/// BITFIELD only reads when every operation is a GET (or OVERFLOW); anything else, a syntax
/// error included, counts as a write.
fn bitfield_flags<'a>(argv: &dyn Fn(usize) -> &'a [u8], argc: usize) -> &'static [&'static str] {
    let mut i = 2;
    while i < argc {
        let rest = argc - i - 1;
        let op = argv(i);
        if eq(op, "get") && rest >= 2 {
            i += 3;
        } else if eq(op, "overflow") && rest >= 1 {
            i += 2;
        } else {
            return &["RW", "access", "update"];
        }
    }
    &["RO", "access"]
}

/// Whether spec `s` finds a key at `pos`.
fn spec_finds<'a>(s: &S, argv: &dyn Fn(usize) -> &'a [u8], argc: usize, pos: usize) -> bool {
    let argc = argc as i64;
    let first = match s.1 {
        Begin::Index(i) => i64::from(i),
        Begin::Keyword(kw, from) => {
            let from = i64::from(from);
            let (start, end, step) = if from > 0 {
                (from, argc - 1, 1)
            } else {
                (argc + from, 0, -1)
            };
            let mut i = start;
            let mut found = None;
            while i != end && i >= 1 && i < argc {
                if eq(argv(i as usize), kw) {
                    found = Some(i + 1);
                    break;
                }
                i += step;
            }
            match found {
                Some(f) => f,
                None => return false,
            }
        }
        Begin::Unknown => return false,
    };
    let (first, last, step) = match s.2 {
        Find::Range(lastkey, step, limit) => {
            let (lastkey, limit) = (i64::from(lastkey), i64::from(limit));
            let last = if lastkey >= 0 {
                first + lastkey
            } else if limit <= 1 {
                argc + lastkey
            } else {
                first + ((argc - first) / limit + lastkey)
            };
            (first, last, i64::from(step))
        }
        Find::Keynum(idx, firstkey, step) => {
            let at = first + i64::from(idx);
            if at >= argc {
                return false;
            }
            let Some(n) = std::str::from_utf8(argv(at as usize))
                .ok()
                .and_then(|t| t.parse::<i64>().ok())
            else {
                return false;
            };
            let first = first + i64::from(firstkey);
            (first, first + (n - 1) * i64::from(step), i64::from(step))
        }
        Find::Unknown => return false,
    };
    let pos = pos as i64;
    step > 0 && pos >= first && pos <= last.min(argc - 1) && (pos - first) % step == 0
}

/// Redis 7.0's key specs, by command name (sorted for the binary search).
#[rustfmt::skip]
static SPECS: &[(&str, &[S])] = &[
    ("append", &[S(&["RW", "insert"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("bitcount", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("bitfield", &[S(&["RW", "access", "update", "variable_flags"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("bitfield_ro", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    (
        "bitop",
        &[
            S(&["OW", "update"], Begin::Index(2), Find::Range(0, 1, 0)),
            S(&["RO", "access"], Begin::Index(3), Find::Range(-1, 1, 0)),
        ],
    ),
    ("bitpos", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    (
        "blmove",
        &[
            S(&["RW", "access", "delete"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["RW", "insert"], Begin::Index(2), Find::Range(0, 1, 0)),
        ],
    ),
    ("blmpop", &[S(&["RW", "access", "delete"], Begin::Index(2), Find::Keynum(0, 1, 1))]),
    ("blpop", &[S(&["RW", "access", "delete"], Begin::Index(1), Find::Range(-2, 1, 0))]),
    ("brpop", &[S(&["RW", "access", "delete"], Begin::Index(1), Find::Range(-2, 1, 0))]),
    (
        "brpoplpush",
        &[
            S(&["RW", "access", "delete"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["RW", "insert"], Begin::Index(2), Find::Range(0, 1, 0)),
        ],
    ),
    ("bzmpop", &[S(&["RW", "access", "delete"], Begin::Index(2), Find::Keynum(0, 1, 1))]),
    ("bzpopmax", &[S(&["RW", "access", "delete"], Begin::Index(1), Find::Range(-2, 1, 0))]),
    ("bzpopmin", &[S(&["RW", "access", "delete"], Begin::Index(1), Find::Range(-2, 1, 0))]),
    (
        "copy",
        &[
            S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["OW", "update"], Begin::Index(2), Find::Range(0, 1, 0)),
        ],
    ),
    ("decr", &[S(&["RW", "access", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("decrby", &[S(&["RW", "access", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("del", &[S(&["RM", "delete"], Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("dump", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("eval", &[S(&["RW", "access", "update"], Begin::Index(2), Find::Keynum(0, 1, 1))]),
    ("eval_ro", &[S(&["RO", "access"], Begin::Index(2), Find::Keynum(0, 1, 1))]),
    ("evalsha", &[S(&["RW", "access", "update"], Begin::Index(2), Find::Keynum(0, 1, 1))]),
    ("evalsha_ro", &[S(&["RO", "access"], Begin::Index(2), Find::Keynum(0, 1, 1))]),
    ("exists", &[S(&["RO"], Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("expire", &[S(&["RW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("expireat", &[S(&["RW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("expiretime", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("fcall", &[S(&["RW", "access", "update"], Begin::Index(2), Find::Keynum(0, 1, 1))]),
    ("fcall_ro", &[S(&["RO", "access"], Begin::Index(2), Find::Keynum(0, 1, 1))]),
    ("geoadd", &[S(&["RW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("geodist", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("geohash", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("geopos", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    (
        "georadius",
        &[
            S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["OW", "update"], Begin::Keyword("STORE", 6), Find::Range(0, 1, 0)),
            S(&["OW", "update"], Begin::Keyword("STOREDIST", 6), Find::Range(0, 1, 0)),
        ],
    ),
    ("georadius_ro", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    (
        "georadiusbymember",
        &[
            S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["OW", "update"], Begin::Keyword("STORE", 5), Find::Range(0, 1, 0)),
            S(&["OW", "update"], Begin::Keyword("STOREDIST", 5), Find::Range(0, 1, 0)),
        ],
    ),
    ("georadiusbymember_ro", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("geosearch", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    (
        "geosearchstore",
        &[
            S(&["OW", "update"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["RO", "access"], Begin::Index(2), Find::Range(0, 1, 0)),
        ],
    ),
    ("get", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("getbit", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("getdel", &[S(&["RW", "access", "delete"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("getex", &[S(&["RW", "access", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("getrange", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("getset", &[S(&["RW", "access", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hdel", &[S(&["RW", "delete"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hexists", &[S(&["RO"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hget", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hgetall", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hincrby", &[S(&["RW", "access", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hincrbyfloat", &[S(&["RW", "access", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hkeys", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hlen", &[S(&["RO"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hmget", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hmset", &[S(&["RW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hrandfield", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hscan", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hset", &[S(&["RW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hsetnx", &[S(&["RW", "insert"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hstrlen", &[S(&["RO"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("hvals", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("incr", &[S(&["RW", "access", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("incrby", &[S(&["RW", "access", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("incrbyfloat", &[S(&["RW", "access", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("lcs", &[S(&["RO", "access"], Begin::Index(1), Find::Range(1, 1, 0))]),
    ("lindex", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("linsert", &[S(&["RW", "insert"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("llen", &[S(&["RO"], Begin::Index(1), Find::Range(0, 1, 0))]),
    (
        "lmove",
        &[
            S(&["RW", "access", "delete"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["RW", "insert"], Begin::Index(2), Find::Range(0, 1, 0)),
        ],
    ),
    ("lmpop", &[S(&["RW", "access", "delete"], Begin::Index(1), Find::Keynum(0, 1, 1))]),
    ("lpop", &[S(&["RW", "access", "delete"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("lpos", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("lpush", &[S(&["RW", "insert"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("lpushx", &[S(&["RW", "insert"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("lrange", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("lrem", &[S(&["RW", "delete"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("lset", &[S(&["RW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("ltrim", &[S(&["RW", "delete"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("memory|usage", &[S(&["RO"], Begin::Index(2), Find::Range(0, 1, 0))]),
    ("mget", &[S(&["RO", "access"], Begin::Index(1), Find::Range(-1, 1, 0))]),
    (
        "migrate",
        &[
            S(&["RW", "access", "delete"], Begin::Index(3), Find::Range(0, 1, 0)),
            S(&["RW", "access", "delete", "incomplete"], Begin::Keyword("KEYS", -2), Find::Range(-1, 1, 0)),
        ],
    ),
    ("move", &[S(&["RW", "access", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("mset", &[S(&["OW", "update"], Begin::Index(1), Find::Range(-1, 2, 0))]),
    ("msetnx", &[S(&["OW", "insert"], Begin::Index(1), Find::Range(-1, 2, 0))]),
    ("object|encoding", &[S(&["RO"], Begin::Index(2), Find::Range(0, 1, 0))]),
    ("object|freq", &[S(&["RO"], Begin::Index(2), Find::Range(0, 1, 0))]),
    ("object|idletime", &[S(&["RO"], Begin::Index(2), Find::Range(0, 1, 0))]),
    ("object|refcount", &[S(&["RO"], Begin::Index(2), Find::Range(0, 1, 0))]),
    ("persist", &[S(&["RW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("pexpire", &[S(&["RW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("pexpireat", &[S(&["RW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("pexpiretime", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("pfadd", &[S(&["RW", "insert"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("pfcount", &[S(&["RW", "access"], Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("pfdebug", &[S(&["RW", "access"], Begin::Index(2), Find::Range(0, 1, 0))]),
    (
        "pfmerge",
        &[
            S(&["RW", "access", "insert"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["RO", "access"], Begin::Index(2), Find::Range(-1, 1, 0)),
        ],
    ),
    ("psetex", &[S(&["OW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("pttl", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    (
        "rename",
        &[
            S(&["RW", "access", "delete"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["OW", "update"], Begin::Index(2), Find::Range(0, 1, 0)),
        ],
    ),
    (
        "renamenx",
        &[
            S(&["RW", "access", "delete"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["OW", "insert"], Begin::Index(2), Find::Range(0, 1, 0)),
        ],
    ),
    ("restore", &[S(&["OW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("restore-asking", &[S(&["OW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("rpop", &[S(&["RW", "access", "delete"], Begin::Index(1), Find::Range(0, 1, 0))]),
    (
        "rpoplpush",
        &[
            S(&["RW", "access", "delete"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["RW", "insert"], Begin::Index(2), Find::Range(0, 1, 0)),
        ],
    ),
    ("rpush", &[S(&["RW", "insert"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("rpushx", &[S(&["RW", "insert"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("sadd", &[S(&["RW", "insert"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("scard", &[S(&["RO"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("sdiff", &[S(&["RO", "access"], Begin::Index(1), Find::Range(-1, 1, 0))]),
    (
        "sdiffstore",
        &[
            S(&["OW", "update"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["RO", "access"], Begin::Index(2), Find::Range(-1, 1, 0)),
        ],
    ),
    ("set", &[S(&["RW", "access", "update", "variable_flags"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("setbit", &[S(&["RW", "access", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("setex", &[S(&["OW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("setnx", &[S(&["OW", "insert"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("setrange", &[S(&["RW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("sinter", &[S(&["RO", "access"], Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("sintercard", &[S(&["RO", "access"], Begin::Index(1), Find::Keynum(0, 1, 1))]),
    (
        "sinterstore",
        &[
            S(&["RW", "update"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["RO", "access"], Begin::Index(2), Find::Range(-1, 1, 0)),
        ],
    ),
    ("sismember", &[S(&["RO"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("smembers", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("smismember", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    (
        "smove",
        &[
            S(&["RW", "access", "delete"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["RW", "insert"], Begin::Index(2), Find::Range(0, 1, 0)),
        ],
    ),
    (
        "sort",
        &[
            S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["RO", "access"], Begin::Unknown, Find::Unknown),
            S(&["OW", "update"], Begin::Unknown, Find::Unknown),
        ],
    ),
    (
        "sort_ro",
        &[
            S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["RO", "access"], Begin::Unknown, Find::Unknown),
        ],
    ),
    ("spop", &[S(&["RW", "access", "delete"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("spublish", &[S(&["not_key"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("srandmember", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("srem", &[S(&["RW", "delete"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("sscan", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("ssubscribe", &[S(&["not_key"], Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("strlen", &[S(&["RO"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("substr", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("sunion", &[S(&["RO", "access"], Begin::Index(1), Find::Range(-1, 1, 0))]),
    (
        "sunionstore",
        &[
            S(&["OW", "update"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["RO", "access"], Begin::Index(2), Find::Range(-1, 1, 0)),
        ],
    ),
    ("sunsubscribe", &[S(&["not_key"], Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("touch", &[S(&["RO"], Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("ttl", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("type", &[S(&["RO"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("unlink", &[S(&["RM", "delete"], Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("watch", &[S(&["RO"], Begin::Index(1), Find::Range(-1, 1, 0))]),
    ("xack", &[S(&["RW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xadd", &[S(&["RW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xautoclaim", &[S(&["RW", "delete"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xclaim", &[S(&["RW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xdel", &[S(&["RW", "delete"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xgroup|create", &[S(&["RW", "insert"], Begin::Index(2), Find::Range(0, 1, 0))]),
    ("xgroup|createconsumer", &[S(&["RW", "insert"], Begin::Index(2), Find::Range(0, 1, 0))]),
    ("xgroup|delconsumer", &[S(&["RW", "delete"], Begin::Index(2), Find::Range(0, 1, 0))]),
    ("xgroup|destroy", &[S(&["RW", "delete"], Begin::Index(2), Find::Range(0, 1, 0))]),
    ("xgroup|setid", &[S(&["RW", "update"], Begin::Index(2), Find::Range(0, 1, 0))]),
    ("xinfo|consumers", &[S(&["RO", "access"], Begin::Index(2), Find::Range(0, 1, 0))]),
    ("xinfo|groups", &[S(&["RO", "access"], Begin::Index(2), Find::Range(0, 1, 0))]),
    ("xinfo|stream", &[S(&["RO", "access"], Begin::Index(2), Find::Range(0, 1, 0))]),
    ("xlen", &[S(&["RO"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xpending", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xrange", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xread", &[S(&["RO", "access"], Begin::Keyword("STREAMS", 1), Find::Range(-1, 1, 2))]),
    ("xreadgroup", &[S(&["RO", "access"], Begin::Keyword("STREAMS", 4), Find::Range(-1, 1, 2))]),
    ("xrevrange", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xsetid", &[S(&["RW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("xtrim", &[S(&["RW", "delete"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zadd", &[S(&["RW", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zcard", &[S(&["RO"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zcount", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zdiff", &[S(&["RO", "access"], Begin::Index(1), Find::Keynum(0, 1, 1))]),
    (
        "zdiffstore",
        &[
            S(&["OW", "update"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["RO", "access"], Begin::Index(2), Find::Keynum(0, 1, 1)),
        ],
    ),
    ("zincrby", &[S(&["RW", "access", "update"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zinter", &[S(&["RO", "access"], Begin::Index(1), Find::Keynum(0, 1, 1))]),
    ("zintercard", &[S(&["RO", "access"], Begin::Index(1), Find::Keynum(0, 1, 1))]),
    (
        "zinterstore",
        &[
            S(&["OW", "update"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["RO", "access"], Begin::Index(2), Find::Keynum(0, 1, 1)),
        ],
    ),
    ("zlexcount", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zmpop", &[S(&["RW", "access", "delete"], Begin::Index(1), Find::Keynum(0, 1, 1))]),
    ("zmscore", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zpopmax", &[S(&["RW", "access", "delete"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zpopmin", &[S(&["RW", "access", "delete"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrandmember", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrange", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrangebylex", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrangebyscore", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    (
        "zrangestore",
        &[
            S(&["OW", "update"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["RO", "access"], Begin::Index(2), Find::Range(0, 1, 0)),
        ],
    ),
    ("zrank", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrem", &[S(&["RW", "delete"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zremrangebylex", &[S(&["RW", "delete"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zremrangebyrank", &[S(&["RW", "delete"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zremrangebyscore", &[S(&["RW", "delete"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrevrange", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrevrangebylex", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrevrangebyscore", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zrevrank", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zscan", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zscore", &[S(&["RO", "access"], Begin::Index(1), Find::Range(0, 1, 0))]),
    ("zunion", &[S(&["RO", "access"], Begin::Index(1), Find::Keynum(0, 1, 1))]),
    (
        "zunionstore",
        &[
            S(&["OW", "update"], Begin::Index(1), Find::Range(0, 1, 0)),
            S(&["RO", "access"], Begin::Index(2), Find::Keynum(0, 1, 1)),
        ],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str], pos: usize) -> Option<&'static [&'static str]> {
        let argv = |i: usize| args[i].as_bytes();
        key_flags(args[0], &argv, args.len(), pos)
    }

    #[test]
    fn the_table_is_sorted() {
        assert!(SPECS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn keys_take_their_own_specs_flags() {
        assert_eq!(flags(&["set", "k", "v"], 1), Some(&["OW", "update"][..]));
        assert_eq!(
            flags(&["set", "k", "v", "get"], 1),
            Some(&["RW", "access", "update"][..])
        );
        let lmove = ["lmove", "a", "b", "left", "right"];
        assert_eq!(flags(&lmove, 1), Some(&["RW", "access", "delete"][..]));
        assert_eq!(flags(&lmove, 2), Some(&["RW", "insert"][..]));
        let sort = ["sort", "k", "by", "w_*", "store", "dst"];
        assert_eq!(flags(&sort, 1), Some(&["RO", "access"][..]));
        assert_eq!(flags(&sort, 5), Some(&["OW", "update"][..]));
        let zunion = ["zunionstore", "d", "2", "a", "b"];
        assert_eq!(flags(&zunion, 1), Some(&["OW", "update"][..]));
        assert_eq!(flags(&zunion, 4), Some(&["RO", "access"][..]));
        assert_eq!(
            flags(&["bitfield", "k", "get", "u8", "0"], 1),
            Some(&["RO", "access"][..])
        );
        assert_eq!(
            flags(&["bitfield", "k", "incrby", "u8", "0", "1"], 1),
            Some(&["RW", "access", "update"][..])
        );
        assert_eq!(flags(&["ping"], 1), None);
    }
}
