//! Differential test of the stream commands: seeded random command streams with explicit ids
//! (so replies are comparable) go to redis-server and to Damselfly, in RESP2 and RESP3; replies
//! must be identical once the time-dependent numbers (idle times, XINFO's radix-tree-nodes)
//! are blanked; at the end of each run every stream is moved by DUMP/RESTORE both ways and
//! must read back the same. Node thresholds are set alike on both (entries only), so approximate trimming
//! removes the same entries. Fails (does not skip) when CI=true and redis-server is missing.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::reference::{start_redis, Rng};
use common::*;
use damselfly_protocol::Reply;

fn random_command(r: &mut Rng, next_ms: &mut u64) -> Vec<String> {
    let key = |r: &mut Rng| format!("s{}", r.below(3));
    let group = |r: &mut Rng| format!("g{}", r.below(3));
    let consumer = |r: &mut Rng| format!("c{}", r.below(3));
    let id = |r: &mut Rng| -> String {
        match r.below(10) {
            0 => format!("{}-{}", r.below(*next_ms + 2), r.below(3)),
            1 => r
                .pick(&["-", "+", "0", "0-0", "x", "1-x", "(5", "(0-0"])
                .into(),
            _ => format!("{}", r.below(*next_ms + 2)),
        }
    };
    let cmd = r.pick(&[
        "XADD",
        "XADD",
        "XADD",
        "XADD",
        "XADD",
        "XLEN",
        "XRANGE",
        "XREVRANGE",
        "XDEL",
        "XTRIM",
        "XREAD",
        "XGROUP",
        "XGROUP",
        "XREADGROUP",
        "XREADGROUP",
        "XACK",
        "XPENDING",
        "XCLAIM",
        "XAUTOCLAIM",
        "XINFO",
        "XSETID",
        "DEL",
        "TYPE",
        "ENCODING",
        "SET",
    ]);
    let mut c: Vec<String> = match cmd {
        "XADD" => {
            let mut v = vec![cmd.to_string(), key(r)];
            match r.below(8) {
                0 => v.extend([
                    "MAXLEN".into(),
                    r.pick(&["~", "="]).into(),
                    r.below(12).to_string(),
                ]),
                1 => v.extend([
                    "MINID".into(),
                    r.pick(&["~", "="]).into(),
                    r.below(*next_ms).to_string(),
                ]),
                2 => v.extend([
                    "MAXLEN".into(),
                    "~".into(),
                    r.below(12).to_string(),
                    "LIMIT".into(),
                    r.below(10).to_string(),
                ]),
                3 => v.push("NOMKSTREAM".into()),
                _ => {}
            }
            *next_ms += r.below(3);
            match r.below(10) {
                0 => v.push(format!("{}-*", next_ms)),
                1 => v.push(r.pick(&["0-0", "0", "1-1", "x"]).into()),
                _ => v.push(format!("{}-{}", next_ms, r.below(4))),
            }
            for _ in 0..1 + r.below(3) {
                v.push(format!("f{}", r.below(4)));
                v.push(format!("v{}", r.below(100)));
            }
            v
        }
        "XLEN" | "DEL" | "TYPE" => vec![cmd.into(), key(r)],
        "XRANGE" | "XREVRANGE" => {
            let mut v = vec![cmd.to_string(), key(r), id(r), id(r)];
            if r.below(2) == 0 {
                v.extend(["COUNT".into(), r.pick(&["0", "1", "3", "-1", "x"]).into()]);
            }
            v
        }
        "XDEL" => {
            let mut v = vec![cmd.to_string(), key(r)];
            for _ in 0..1 + r.below(3) {
                v.push(id(r));
            }
            v
        }
        "XTRIM" => match r.below(4) {
            0 => vec![cmd.into(), key(r), "MAXLEN".into(), r.below(10).to_string()],
            1 => vec![
                cmd.into(),
                key(r),
                "MAXLEN".into(),
                "~".into(),
                r.below(10).to_string(),
            ],
            2 => vec![cmd.into(), key(r), "MINID".into(), id(r)],
            _ => vec![
                cmd.into(),
                key(r),
                "MAXLEN".into(),
                "~".into(),
                "0".into(),
                "LIMIT".into(),
                r.pick(&["0", "3", "5", "-1"]).into(),
            ],
        },
        "XREAD" => {
            let mut v = vec![cmd.to_string()];
            if r.below(2) == 0 {
                v.extend(["COUNT".into(), r.below(4).to_string()]);
            }
            v.push("STREAMS".into());
            let n = 1 + r.below(2);
            let keys: Vec<String> = (0..n).map(|_| key(r)).collect();
            v.extend(keys);
            for _ in 0..n {
                v.push(if r.below(4) == 0 { "$".into() } else { id(r) });
            }
            v
        }
        "XGROUP" => match r.below(6) {
            0 | 1 => {
                let mut v = vec![
                    cmd.into(),
                    "CREATE".into(),
                    key(r),
                    group(r),
                    if r.below(3) == 0 { "$".into() } else { id(r) },
                ];
                if r.below(2) == 0 {
                    v.push("MKSTREAM".into());
                }
                if r.below(4) == 0 {
                    v.extend(["ENTRIESREAD".into(), r.pick(&["0", "2", "-1", "-2"]).into()]);
                }
                v
            }
            2 => vec![
                cmd.into(),
                "SETID".into(),
                key(r),
                group(r),
                if r.below(3) == 0 { "$".into() } else { id(r) },
            ],
            3 => vec![cmd.into(), "DESTROY".into(), key(r), group(r)],
            4 => vec![
                cmd.into(),
                "CREATECONSUMER".into(),
                key(r),
                group(r),
                consumer(r),
            ],
            _ => vec![
                cmd.into(),
                "DELCONSUMER".into(),
                key(r),
                group(r),
                consumer(r),
            ],
        },
        "XREADGROUP" => {
            let mut v = vec![cmd.to_string(), "GROUP".into(), group(r), consumer(r)];
            if r.below(2) == 0 {
                v.extend(["COUNT".into(), r.below(4).to_string()]);
            }
            if r.below(5) == 0 {
                v.push("NOACK".into());
            }
            v.push("STREAMS".into());
            v.push(key(r));
            v.push(if r.below(3) == 0 { id(r) } else { ">".into() });
            v
        }
        "XACK" => {
            let mut v = vec![cmd.to_string(), key(r), group(r)];
            for _ in 0..1 + r.below(3) {
                v.push(id(r));
            }
            v
        }
        "XPENDING" => match r.below(3) {
            0 => vec![cmd.into(), key(r), group(r)],
            1 => vec![
                cmd.into(),
                key(r),
                group(r),
                "-".into(),
                "+".into(),
                r.below(5).to_string(),
            ],
            _ => vec![
                cmd.into(),
                key(r),
                group(r),
                id(r),
                "+".into(),
                "10".into(),
                consumer(r),
            ],
        },
        "XCLAIM" => {
            let mut v = vec![cmd.to_string(), key(r), group(r), consumer(r), "0".into()];
            for _ in 0..1 + r.below(3) {
                v.push(id(r));
            }
            match r.below(4) {
                0 => v.push("JUSTID".into()),
                1 => v.extend(["RETRYCOUNT".into(), "7".into()]),
                2 => v.push("FORCE".into()),
                _ => {}
            }
            v
        }
        "XAUTOCLAIM" => {
            let mut v = vec![
                cmd.to_string(),
                key(r),
                group(r),
                consumer(r),
                "0".into(),
                id(r),
            ];
            if r.below(2) == 0 {
                v.extend(["COUNT".into(), r.pick(&["1", "2", "0", "x"]).into()]);
            }
            if r.below(3) == 0 {
                v.push("JUSTID".into());
            }
            v
        }
        "XINFO" => match r.below(3) {
            0 => vec![cmd.into(), "STREAM".into(), key(r)],
            1 => vec![cmd.into(), "GROUPS".into(), key(r)],
            _ => vec![cmd.into(), "CONSUMERS".into(), key(r), group(r)],
        },
        "XSETID" => {
            let mut v = vec![cmd.to_string(), key(r), id(r)];
            if r.below(3) == 0 {
                v.extend([
                    "ENTRIESADDED".into(),
                    r.below(40).to_string(),
                    "MAXDELETEDID".into(),
                    id(r),
                ]);
            }
            v
        }
        "ENCODING" => vec!["OBJECT".into(), "ENCODING".into(), key(r)],
        _ => vec!["SET".into(), key(r), "x".into()],
    };
    if r.below(60) == 0 && c.len() > 1 {
        c.pop(); // wrong arity now and then
    }
    c
}

/// Blanks what depends on time or on the index's internal shape.
fn normalize(cmd: &[String], reply: Reply) -> Reply {
    let name = cmd[0].to_ascii_uppercase();
    let sub = cmd
        .get(1)
        .map(|s| s.to_ascii_uppercase())
        .unwrap_or_default();
    match (name.as_str(), sub.as_str(), reply) {
        ("XPENDING", _, Reply::Array(rows)) if cmd.len() > 3 => Reply::Array(
            rows.into_iter()
                .map(|row| match row {
                    Reply::Array(mut f) if f.len() == 4 => {
                        f[2] = Reply::Integer(0);
                        Reply::Array(f)
                    }
                    other => other,
                })
                .collect(),
        ),
        ("XINFO", "CONSUMERS", Reply::Array(rows)) => Reply::Array(
            rows.into_iter()
                .map(|row| blank_field(row, b"idle"))
                .collect(),
        ),
        ("XINFO", "STREAM", row) => blank_field(row, b"radix-tree-nodes"),
        (_, _, r) => r,
    }
}

fn blank_field(row: Reply, name: &[u8]) -> Reply {
    match row {
        Reply::Array(mut f) => {
            for i in (0..f.len()).step_by(2) {
                if f[i] == Reply::Bulk(name.to_vec()) && i + 1 < f.len() {
                    f[i + 1] = Reply::Integer(0);
                }
            }
            Reply::Array(f)
        }
        Reply::Map(mut m) => {
            for (k, v) in m.iter_mut() {
                if *k == Reply::Bulk(name.to_vec()) {
                    *v = Reply::Integer(0);
                }
            }
            Reply::Map(m)
        }
        other => other,
    }
}

fn run_streams(resp3: bool, seeds: std::ops::RangeInclusive<u64>) {
    let Some(redis) = start_redis() else { return };
    let ours = server(4);
    let mut theirs_c = Client::connect(format!("127.0.0.1:{}", redis.port).parse().unwrap());
    let mut ours_c = Client::connect(ours.addr());
    if resp3 {
        theirs_c.cmd(&["HELLO", "3"]);
        ours_c.cmd(&["HELLO", "3"]);
    }
    for c in [&mut theirs_c, &mut ours_c] {
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "stream-node-max-entries", "4"]),
            ok()
        );
        assert_eq!(
            c.cmd(&["CONFIG", "SET", "stream-node-max-bytes", "0"]),
            ok()
        );
    }
    for seed in seeds {
        for k in 0..3 {
            let k = format!("s{k}");
            ours_c.cmd(&["DEL", &k]);
            theirs_c.cmd(&["DEL", &k]);
        }
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut next_ms = 1;
        for step in 0..400 {
            let cmd = random_command(&mut r, &mut next_ms);
            let args: Vec<&str> = cmd.iter().map(|s| s.as_str()).collect();
            let want = normalize(&cmd, theirs_c.cmd(&args));
            let got = normalize(&cmd, ours_c.cmd(&args));
            assert_eq!(got, want, "resp3={resp3} seed {seed} step {step}: {cmd:?}");
        }
        dump_both_ways(&mut theirs_c, &mut ours_c, seed);
    }
}

/// Each stream DUMPed by one server RESTOREs on the other to the same XINFO STREAM FULL
/// (entries, counters, groups, PELs with their times, consumers).
fn dump_both_ways(theirs: &mut Client, ours: &mut Client, seed: u64) {
    let info = |c: &mut Client, k: &str| {
        let r = c.cmd(&["XINFO", "STREAM", k, "FULL"]);
        blank_field(blank_field(r, b"radix-tree-keys"), b"radix-tree-nodes")
    };
    for k in 0..3 {
        let k = format!("s{k}");
        if theirs.cmd(&["TYPE", &k]) != simple("stream") {
            continue;
        }
        let copy = format!("copy-{k}");
        for forward in [true, false] {
            let (from, to): (&mut Client, &mut Client) = if forward {
                (&mut *theirs, &mut *ours)
            } else {
                (&mut *ours, &mut *theirs)
            };
            let Reply::Bulk(payload) = from.cmd(&["DUMP", &k]) else {
                panic!("seed {seed}: DUMP {k}")
            };
            let restored = to.cmd_bytes(&[b"RESTORE", copy.as_bytes(), b"0", &payload, b"REPLACE"]);
            assert_eq!(restored, ok(), "seed {seed}: RESTORE {k}");
            assert_eq!(
                info(to, &copy),
                info(from, &k),
                "seed {seed}: {k} after DUMP/RESTORE"
            );
            to.cmd(&["DEL", &copy]);
        }
    }
}

#[test]
fn random_stream_commands_resp2() {
    run_streams(false, 1..=30);
}

#[test]
fn random_stream_commands_resp3() {
    run_streams(true, 101..=115);
}
