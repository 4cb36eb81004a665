//! Differential test of keyspace notifications: seeded random writes over every family on a
//! few keys go to redis-server 7.0 and to Damselfly, each with `notify-keyspace-events KEA`
//! (then `KEAn`) and a `PSUBSCRIBE *` listener; the replies and the event streams must be
//! identical. A 1-proactor Damselfly must match Redis's stream message for message; on 4
//! proactors, where events of keys on different shards may interleave differently, every
//! key's own events must match, in order. Fails (does not skip) when CI=true and
//! redis-server is missing.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
mod events_common;
use common::reference::{start_redis, Rng};
use common::*;
use events_common::{assert_same_per_key, Listener, Message};

/// Keys per family: each family writes mostly its own few keys (so most writes succeed and
/// raise events), now and then another family's (WRONGTYPE, which raises nothing).
const KEYS: u64 = 3;
const FAMILIES: &[&str] = &["s", "l", "h", "t", "z", "x"];

fn start(threads: usize) -> damselfly::ServerHandle {
    std::thread::spawn(move || server(threads))
        .join()
        .expect("server starts")
}

/// One random write (or a command that must raise nothing), as its words.
fn random_command(r: &mut Rng) -> Vec<String> {
    let any = |r: &mut Rng| format!("{}{}", r.pick(FAMILIES), r.below(KEYS));
    let of = |r: &mut Rng, family: &str| {
        if r.below(10) == 0 {
            any(r)
        } else {
            format!("{family}{}", r.below(KEYS))
        }
    };
    let val = |r: &mut Rng| match r.below(6) {
        0 => r.below(20).to_string(),
        1 => "x".repeat(r.below(5) as usize),
        _ => format!("v{}", r.below(5)),
    };
    let small = |r: &mut Rng| (r.below(12) as i64 - 4).to_string();
    let side = |r: &mut Rng| r.pick(&["LEFT", "RIGHT"]).to_string();
    let mut c: Vec<String> = Vec::new();
    macro_rules! push {
        ($($e:expr),*) => {{ $( c.push($e.to_string()); )* }};
    }
    match r.below(67) {
        // strings
        0 => {
            push!("SET", of(r, "s"), val(r));
            match r.below(7) {
                0 => push!("EX", "100"),
                1 => push!("PX", "100000"),
                2 => push!("NX"),
                3 => push!("XX"),
                4 => push!("KEEPTTL"),
                5 => push!("GET"),
                _ => {}
            }
        }
        1 => push!(r.pick(&["SETNX", "GETSET"]), of(r, "s"), val(r)),
        2 => push!(r.pick(&["SETEX", "PSETEX"]), of(r, "s"), "100000", val(r)),
        3 => push!("GETDEL", of(r, "s")),
        4 => {
            push!("GETEX", of(r, "s"));
            match r.below(4) {
                0 => push!("PERSIST"),
                1 => push!("EX", "100"),
                2 => push!("PXAT", "1"),
                _ => {}
            }
        }
        5 => push!(
            r.pick(&["MSET", "MSETNX"]),
            of(r, "s"),
            val(r),
            of(r, "s"),
            val(r)
        ),
        6 => push!(r.pick(&["INCR", "DECR"]), of(r, "s")),
        7 => push!(r.pick(&["INCRBY", "DECRBY"]), of(r, "s"), small(r)),
        8 => push!("INCRBYFLOAT", of(r, "s"), r.pick(&["1.5", "-2", "0"])),
        9 => push!("APPEND", of(r, "s"), val(r)),
        10 => push!("SETRANGE", of(r, "s"), r.below(6), r.pick(&["", "ab", "z"])),
        11 => push!("SETBIT", of(r, "s"), r.below(24), r.below(2)),
        12 => {
            push!("BITFIELD", of(r, "s"));
            match r.below(3) {
                0 => push!("SET", "u8", r.below(16), r.below(256)),
                1 => push!("OVERFLOW", "FAIL", "INCRBY", "u4", r.below(8), r.below(20)),
                _ => push!("GET", "u8", "0"),
            }
        }
        13 => {
            let op = r.pick(&["AND", "OR", "XOR", "NOT"]);
            push!("BITOP", op, of(r, "s"), of(r, "s"));
            if op != "NOT" {
                push!(of(r, "s"));
            }
        }
        // keyspace
        14 => push!(r.pick(&["DEL", "UNLINK"]), any(r), any(r)),
        15 => {
            push!(
                r.pick(&["EXPIRE", "PEXPIRE"]),
                any(r),
                r.pick(&["100000", "-1", "0", "200000"])
            );
            if r.below(3) == 0 {
                push!(r.pick(&["NX", "XX", "GT", "LT"]));
            }
        }
        16 => push!(
            r.pick(&["EXPIREAT", "PEXPIREAT"]),
            any(r),
            r.pick(&["1", "99999999999"])
        ),
        17 => push!("PERSIST", any(r)),
        18 => push!(r.pick(&["RENAME", "RENAMENX"]), any(r), any(r)),
        19 => {
            push!("COPY", any(r), any(r));
            if r.below(2) == 0 {
                push!("REPLACE");
            }
            if r.below(3) == 0 {
                push!("DB", "1");
            }
        }
        20 => push!("MOVE", any(r), "1"),
        21 if r.below(10) == 0 => push!("SWAPDB", "0", "1"),
        22 if r.below(20) == 0 => push!("FLUSHDB"),
        // lists
        23..=25 => {
            push!(
                r.pick(&["LPUSH", "RPUSH", "LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]),
                of(r, "l")
            );
            for _ in 0..=r.below(3) {
                push!(val(r));
            }
        }
        26 => {
            push!(r.pick(&["LPOP", "RPOP"]), of(r, "l"));
            if r.below(2) == 0 {
                push!(r.below(4));
            }
        }
        27 => push!("LSET", of(r, "l"), small(r), val(r)),
        28 => push!(
            "LINSERT",
            of(r, "l"),
            r.pick(&["BEFORE", "AFTER"]),
            val(r),
            val(r)
        ),
        29 => push!("LREM", of(r, "l"), small(r), val(r)),
        30 => push!("LTRIM", of(r, "l"), small(r), small(r)),
        31 => push!("LMOVE", of(r, "l"), of(r, "l"), side(r), side(r)),
        32 => push!("RPOPLPUSH", of(r, "l"), of(r, "l")),
        33 => push!(
            "LMPOP",
            "2",
            of(r, "l"),
            of(r, "l"),
            side(r),
            "COUNT",
            1 + r.below(3)
        ),
        34 => push!(r.pick(&["BLPOP", "BRPOP"]), of(r, "l"), of(r, "l"), "0.01"),
        35 => push!("BLMOVE", of(r, "l"), of(r, "l"), side(r), side(r), "0.01"),
        // hashes
        36 | 37 => {
            push!(r.pick(&["HSET", "HMSET"]), of(r, "h"));
            for _ in 0..=r.below(2) {
                push!(format!("f{}", r.below(4)), val(r));
            }
        }
        38 => push!("HSETNX", of(r, "h"), format!("f{}", r.below(4)), val(r)),
        39 => push!(
            "HDEL",
            of(r, "h"),
            format!("f{}", r.below(4)),
            format!("f{}", r.below(4))
        ),
        40 => push!("HINCRBY", of(r, "h"), format!("f{}", r.below(4)), small(r)),
        41 => push!(
            "HINCRBYFLOAT",
            of(r, "h"),
            format!("f{}", r.below(4)),
            "1.5"
        ),
        // sets
        42 | 43 => {
            push!("SADD", of(r, "t"));
            for _ in 0..=r.below(3) {
                push!(format!("m{}", r.below(5)));
            }
        }
        44 => push!(
            "SREM",
            of(r, "t"),
            format!("m{}", r.below(5)),
            format!("m{}", r.below(5))
        ),
        45 => push!("SMOVE", of(r, "t"), of(r, "t"), format!("m{}", r.below(5))),
        46 => push!(
            r.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]),
            of(r, "t"),
            of(r, "t"),
            of(r, "t")
        ),
        47 => push!("SPOP", of(r, "t"), r.pick(&["0", "100"])),
        // sorted sets
        48 | 49 => {
            push!("ZADD", of(r, "z"));
            match r.below(6) {
                0 => push!("NX"),
                1 => push!("XX"),
                2 => push!("GT", "CH"),
                3 => push!("LT"),
                _ => {}
            }
            if r.below(5) == 0 {
                push!("INCR", small(r), format!("m{}", r.below(5)));
            } else {
                for _ in 0..=r.below(2) {
                    push!(small(r), format!("m{}", r.below(5)));
                }
            }
        }
        50 => push!("ZINCRBY", of(r, "z"), small(r), format!("m{}", r.below(5))),
        51 => push!(
            "ZREM",
            of(r, "z"),
            format!("m{}", r.below(5)),
            format!("m{}", r.below(5))
        ),
        52 => push!("ZREMRANGEBYSCORE", of(r, "z"), small(r), small(r)),
        53 => push!("ZREMRANGEBYRANK", of(r, "z"), small(r), small(r)),
        // Lex ranges only mean something when every score is equal: a key of its own.
        54 if r.below(2) == 0 => push!("ZADD", "zlex", "0", format!("m{}", r.below(5))),
        54 => push!(
            "ZREMRANGEBYLEX",
            "zlex",
            r.pick(&["-", "[m1", "(m2"]),
            r.pick(&["+", "[m3", "(m1"])
        ),
        55 => {
            push!(r.pick(&["ZPOPMIN", "ZPOPMAX"]), of(r, "z"));
            if r.below(2) == 0 {
                push!(r.below(4));
            }
        }
        56 => push!(
            "ZMPOP",
            "2",
            of(r, "z"),
            of(r, "z"),
            r.pick(&["MIN", "MAX"]),
            "COUNT",
            1 + r.below(3)
        ),
        57 => push!(
            r.pick(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]),
            of(r, "z"),
            "2",
            of(r, "z"),
            of(r, "z")
        ),
        58 => push!("ZRANGESTORE", of(r, "z"), of(r, "z"), small(r), small(r)),
        // streams, with explicit ids so both servers reply alike
        60 | 61 => {
            push!("XADD", of(r, "x"));
            match r.below(4) {
                0 => push!("MAXLEN", r.pick(&["=", "~"]), r.below(3)),
                1 => push!("NOMKSTREAM"),
                _ => {}
            }
            push!(format!("{}-{}", r.below(40), r.below(2)), "f", val(r));
        }
        62 => push!(
            r.pick(&["XDEL", "XACK"]),
            of(r, "x"),
            format!("{}-0", r.below(40))
        ),
        63 => push!(
            "XTRIM",
            of(r, "x"),
            r.pick(&["MAXLEN", "MINID"]),
            r.below(20)
        ),
        64 => match r.below(5) {
            0 => push!("XGROUP", "CREATE", of(r, "x"), "g", "0", "MKSTREAM"),
            1 => push!("XGROUP", "DESTROY", of(r, "x"), "g"),
            2 => push!("XGROUP", "SETID", of(r, "x"), "g", "$"),
            3 => push!(
                "XGROUP",
                "CREATECONSUMER",
                of(r, "x"),
                "g",
                format!("c{}", r.below(3))
            ),
            _ => push!(
                "XGROUP",
                "DELCONSUMER",
                of(r, "x"),
                "g",
                format!("c{}", r.below(3))
            ),
        },
        65 => push!(
            "XREADGROUP",
            "GROUP",
            "g",
            format!("c{}", r.below(3)),
            "STREAMS",
            of(r, "x"),
            ">"
        ),
        66 => push!("XSETID", of(r, "x"), format!("{}-5", r.below(60))),
        // SORT ... STORE
        _ => push!("SORT", any(r), "ALPHA", "STORE", of(r, "l")),
    }
    if c.is_empty() {
        push!("SET", of(r, "s"), val(r));
    }
    c
}

/// Runs `script` on the server at `addr` with `flags`: its replies and its event stream.
fn run(
    addr: std::net::SocketAddr,
    flags: &str,
    script: &[Vec<String>],
) -> (Vec<Vec<u8>>, Vec<Message>) {
    let mut w = Client::connect(addr);
    assert_eq!(w.cmd(&["FLUSHALL"]), ok());
    assert_eq!(
        w.cmd(&["CONFIG", "SET", "notify-keyspace-events", flags]),
        ok()
    );
    let mut l = Listener::new(addr);
    let replies = script
        .iter()
        .map(|c| {
            let words: Vec<&str> = c.iter().map(String::as_str).collect();
            w.cmd_raw(&words)
        })
        .collect();
    let events = l.drain(&mut w);
    assert_eq!(
        w.cmd(&["CONFIG", "SET", "notify-keyspace-events", ""]),
        ok()
    );
    (replies, events)
}

fn compare_replies(script: &[Vec<String>], want: &[Vec<u8>], got: &[Vec<u8>], what: &str) {
    for (i, c) in script.iter().enumerate() {
        let (mut g, mut w) = (
            String::from_utf8_lossy(&got[i]).into_owned(),
            String::from_utf8_lossy(&want[i]).into_owned(),
        );
        if c[0] == "SPOP" {
            // A set's members come in the table's order: compare them as a set.
            let sorted = |s: &str| {
                let mut lines: Vec<&str> = s.split("\r\n").collect();
                lines.sort_unstable();
                lines.join("\r\n")
            };
            (g, w) = (sorted(&g), sorted(&w));
        }
        assert_eq!(g, w, "{what}: reply to command {i} {c:?}");
    }
}

#[test]
fn event_streams_match_redis() {
    let Some(redis) = start_redis() else { return };
    let redis_addr: std::net::SocketAddr = format!("127.0.0.1:{}", redis.port).parse().unwrap();
    let one = start(1);
    let four = start(4);
    for seed in [0x9e3779b97f4a7c15u64, 42, 0xdead_beef] {
        let mut r = Rng(seed);
        let script: Vec<Vec<String>> = (0..800).map(|_| random_command(&mut r)).collect();
        for flags in ["KEA", "KEAn"] {
            let what = format!("seed {seed:#x}, flags {flags}");
            let (want_replies, want) = run(redis_addr, flags, &script);
            assert!(
                want.len() > script.len() / 2,
                "{what}: the script raises events ({} messages)",
                want.len()
            );
            let (replies, got) = run(one.addr(), flags, &script);
            compare_replies(
                &script,
                &want_replies,
                &replies,
                &format!("{what}, 1 proactor"),
            );
            if got != want {
                let at = got
                    .iter()
                    .zip(&want)
                    .position(|(g, w)| g != w)
                    .unwrap_or(got.len().min(want.len()));
                let from = at.saturating_sub(6);
                panic!(
                    "{what}, 1 proactor: streams differ at message {at}:\n got  {:?}\n want {:?}",
                    &got[from..(at + 6).min(got.len())],
                    &want[from..(at + 6).min(want.len())]
                );
            }
            let (replies, got) = run(four.addr(), flags, &script);
            compare_replies(
                &script,
                &want_replies,
                &replies,
                &format!("{what}, 4 proactors"),
            );
            assert_same_per_key(&got, &want, &format!("{what}, 4 proactors"));
        }
    }
    one.shutdown();
    four.shutdown();
}
