//! Bitmap commands over TCP; every expected reply is what redis-server 7 answers to the same
//! commands.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use damselfly_protocol::Reply;

fn bulk_bytes(b: &[u8]) -> Reply {
    Reply::Bulk(b.to_vec())
}

fn set_bytes(c: &mut Client, key: &str, value: &[u8]) {
    assert_eq!(c.cmd_bytes(&[b"SET", key.as_bytes(), value]), ok());
}

const OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";
const TYPE_ERR: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// `n` keys owned by pairwise different shards of a `threads`-thread server.
fn keys_on_shards(threads: usize, n: usize) -> Vec<String> {
    use damselfly_coordinator::shard::{key_hash, shard_of};
    let shard = |k: &str| shard_of(key_hash(k.as_bytes()), threads);
    let mut keys: Vec<String> = Vec::new();
    for i in 0.. {
        let k = format!("bm:{i}");
        if keys.iter().all(|o| shard(o) != shard(&k)) {
            keys.push(k);
            if keys.len() == n {
                break;
            }
        }
    }
    keys
}

#[test]
fn setbit_getbit() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["SETBIT", "b", "7", "1"]), int(0));
    assert_eq!(c.cmd(&["SETBIT", "b", "7", "1"]), int(1));
    assert_eq!(c.cmd(&["GET", "b"]), bulk("\x01"));
    assert_eq!(c.cmd(&["SETBIT", "b", "7", "0"]), int(1));
    assert_eq!(c.cmd(&["GET", "b"]), bulk("\0"));
    assert_eq!(c.cmd(&["SETBIT", "b", "17", "1"]), int(0));
    assert_eq!(c.cmd(&["GET", "b"]), bulk_bytes(b"\0\0\x40"));
    assert_eq!(c.cmd(&["GETBIT", "b", "17"]), int(1));
    assert_eq!(c.cmd(&["GETBIT", "b", "16"]), int(0));
    assert_eq!(c.cmd(&["GETBIT", "b", "4294967295"]), int(0));
    assert_eq!(c.cmd(&["GETBIT", "missing", "5"]), int(0));
    // Clearing a bit past the end still grows the string.
    assert_eq!(c.cmd(&["SETBIT", "z", "100", "0"]), int(0));
    assert_eq!(c.cmd(&["STRLEN", "z"]), int(13));
    assert_eq!(c.cmd(&["SETBIT", "z", "0", "1"]), int(0));
    assert_eq!(c.cmd(&["GETBIT", "z", "0"]), int(1));
    // Integer values are their decimal text: "12" is 0x31 0x32.
    assert_eq!(c.cmd(&["SET", "n", "12"]), ok());
    assert_eq!(c.cmd(&["GETBIT", "n", "2"]), int(1));
    assert_eq!(c.cmd(&["GETBIT", "n", "3"]), int(1));
    assert_eq!(c.cmd(&["GETBIT", "n", "4"]), int(0));
    assert_eq!(c.cmd(&["GETBIT", "n", "100"]), int(0));
    assert_eq!(c.cmd(&["SETBIT", "n", "0", "1"]), int(0));
    assert_eq!(c.cmd(&["GET", "n"]), bulk_bytes(b"\xb12"));
    for bad in ["4294967296", "-1", "x", "#1", "01", ""] {
        assert_eq!(
            c.cmd(&["SETBIT", "b", bad, "1"]),
            err(OFFSET_ERR),
            "{bad:?}"
        );
        assert_eq!(c.cmd(&["GETBIT", "b", bad]), err(OFFSET_ERR), "{bad:?}");
    }
    assert_eq!(c.cmd(&["GETBIT", "missing", "x"]), err(OFFSET_ERR));
    for bad in ["2", "-1", "x", "01", "+1", " 1"] {
        assert_eq!(
            c.cmd(&["SETBIT", "b", "1", bad]),
            err("ERR bit is not an integer or out of range"),
            "{bad:?}"
        );
    }
    assert_eq!(
        c.cmd(&["SETBIT", "b", "1"]),
        err("ERR wrong number of arguments for 'setbit' command")
    );
    assert_eq!(
        c.cmd(&["GETBIT", "b"]),
        err("ERR wrong number of arguments for 'getbit' command")
    );
    s.shutdown();
}

#[test]
fn offsets_follow_proto_max_bulk_len() {
    let s = damselfly::Server::builder()
        .bind("127.0.0.1")
        .port(0)
        .threads(2)
        .set("proto-max-bulk-len", "1mb")
        .start()
        .expect("server starts");
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["SETBIT", "b", "8388607", "1"]), int(0));
    assert_eq!(c.cmd(&["SETBIT", "b", "8388608", "1"]), err(OFFSET_ERR));
    assert_eq!(c.cmd(&["GETBIT", "b", "8388608"]), err(OFFSET_ERR));
    assert_eq!(
        c.cmd(&["BITFIELD", "b", "GET", "u8", "8388608"]),
        err(OFFSET_ERR)
    );
    assert_eq!(
        c.cmd(&["BITFIELD", "b", "GET", "u8", "#1048576"]),
        err(OFFSET_ERR)
    );
    assert_eq!(
        c.cmd(&["BITFIELD", "b", "GET", "u8", "#1048575"]),
        arr(vec![int(1)])
    );
    s.shutdown();
}

#[test]
fn bitcount_ranges() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["SET", "mykey", "foobar"]), ok());
    let cases: &[(&[&str], i64)] = &[
        (&[], 26),
        (&["0", "0"], 4),
        (&["1", "1"], 6),
        (&["1", "1", "BYTE"], 6),
        (&["5", "30", "BIT"], 17),
        (&["-1", "-1"], 4),
        (&["-2", "-3"], 0),
        (&["-3", "-2", "BIT"], 1),
        (&["0", "-1", "bit"], 26),
        (&["-100", "100"], 26),
        (&["7", "7", "BIT"], 0),
        (&["1", "6", "BIT"], 4),
        (&["1", "9", "BIT"], 5),
        (&["47", "47", "BIT"], 0),
        (&["48", "100", "BIT"], 0),
        (&["-9223372036854775808", "9223372036854775807", "BIT"], 26),
        (&["-9223372036854775808", "9223372036854775807"], 26),
        (&["1", "0", "BIT"], 0),
        (&["-10", "-20"], 0),
        (&["-100", "-90", "BIT"], 0),
    ];
    for (range, want) in cases {
        let mut cmd = vec!["BITCOUNT", "mykey"];
        cmd.extend_from_slice(range);
        assert_eq!(c.cmd(&cmd), int(*want), "{range:?}");
    }
    for bad in [
        &["0"][..],
        &["0", "1", "foo"],
        &["0", "1", "bit", "extra"],
        &["a", "b", "c", "d"],
    ] {
        let mut cmd = vec!["BITCOUNT", "mykey"];
        cmd.extend_from_slice(bad);
        assert_eq!(c.cmd(&cmd), err("ERR syntax error"), "{bad:?}");
    }
    let not_int = err("ERR value is not an integer or out of range");
    assert_eq!(c.cmd(&["BITCOUNT", "mykey", "a", "b"]), not_int);
    assert_eq!(c.cmd(&["BITCOUNT", "mykey", "0", "b"]), not_int);
    assert_eq!(c.cmd(&["BITCOUNT", "mykey", "0", "b", "foo"]), not_int);
    // Redis 7.0 answers 0 for a missing key before looking at the range.
    assert_eq!(c.cmd(&["BITCOUNT", "missing"]), int(0));
    assert_eq!(c.cmd(&["BITCOUNT", "missing", "0"]), int(0));
    assert_eq!(c.cmd(&["BITCOUNT", "missing", "a", "b", "c", "d"]), int(0));
    assert_eq!(c.cmd(&["SET", "num", "123"]), ok());
    assert_eq!(c.cmd(&["BITCOUNT", "num"]), int(10));
    assert_eq!(c.cmd(&["SET", "e", ""]), ok());
    assert_eq!(c.cmd(&["BITCOUNT", "e"]), int(0));
    assert_eq!(c.cmd(&["BITCOUNT", "e", "0", "-1", "BIT"]), int(0));
    assert_eq!(
        c.cmd(&["BITCOUNT"]),
        err("ERR wrong number of arguments for 'bitcount' command")
    );
    s.shutdown();
}

#[test]
fn bitpos_set_and_clear_bits() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    set_bytes(&mut c, "mykey", b"\xff\xf0\x00");
    set_bytes(&mut c, "ones", b"\xff\xff\xff");
    set_bytes(&mut c, "zeros", b"\x00\x00\x00");
    let mut long = vec![0u8; 22];
    long[20] = 0x04;
    set_bytes(&mut c, "long", &long);
    let mut flong = vec![0xffu8; 22];
    flong[21] = 0xfe;
    set_bytes(&mut c, "flong", &flong);
    assert_eq!(c.cmd(&["SET", "e", ""]), ok());
    assert_eq!(c.cmd(&["SET", "num", "123"]), ok());
    let cases: &[(&str, &[&str], i64)] = &[
        ("mykey", &["0"], 12),
        ("mykey", &["1"], 0),
        ("mykey", &["1", "2"], -1),
        ("mykey", &["0", "2"], 16),
        ("mykey", &["1", "2", "-1", "BYTE"], -1),
        ("mykey", &["1", "7", "15", "BIT"], 7),
        ("mykey", &["0", "7", "15", "BIT"], 12),
        ("mykey", &["0", "0", "11", "BIT"], -1),
        ("mykey", &["0", "0", "12", "BIT"], 12),
        ("mykey", &["0", "2", "1"], -1),
        ("mykey", &["1", "-1", "-1", "BIT"], -1),
        ("mykey", &["0", "-1", "-1", "BIT"], 23),
        ("mykey", &["0", "-9", "-1", "BIT"], 15),
        ("mykey", &["1", "12", "11", "BIT"], -1),
        ("mykey", &["0", "23", "23", "bit"], 23),
        ("mykey", &["0", "-10", "-20"], -1),
        ("mykey", &["1", "-10", "-20"], 0),
        ("mykey", &["1", "-10", "-20", "BIT"], -1),
        ("mykey", &["1", "-100", "-200", "BIT"], 0),
        (
            "mykey",
            &["0", "-9223372036854775808", "9223372036854775807", "BIT"],
            12,
        ),
        // Without an end, the bits past the string count as clear ones.
        ("ones", &["0"], 24),
        ("ones", &["0", "1"], 24),
        ("ones", &["0", "-1"], 24),
        ("ones", &["0", "-9223372036854775808"], 24),
        ("ones", &["0", "0", "-1"], -1),
        ("ones", &["0", "0", "2"], -1),
        ("ones", &["0", "0", "100"], -1),
        ("ones", &["0", "-1", "-1", "BYTE"], -1),
        ("ones", &["0", "5", "10", "BIT"], -1),
        ("ones", &["1", "5", "10", "BIT"], 5),
        ("zeros", &["1"], -1),
        ("zeros", &["0"], 0),
        ("zeros", &["1", "0", "-1"], -1),
        ("zeros", &["0", "3"], -1),
        ("zeros", &["0", "100"], -1),
        ("e", &["0"], -1),
        ("e", &["1"], -1),
        ("e", &["0", "0", "-1", "bit"], -1),
        ("missing", &["0"], 0),
        ("missing", &["1"], -1),
        ("missing", &["1", "a", "b", "c", "d"], -1),
        ("missing", &["0", "a"], 0),
        ("num", &["0"], 0),
        ("num", &["1", "1"], 10),
        ("long", &["1"], 165),
        ("long", &["1", "3"], 165),
        ("long", &["1", "3", "169", "bit"], 165),
        ("long", &["0", "3", "169", "bit"], 3),
        ("long", &["1", "0", "164", "bit"], -1),
        ("flong", &["0"], 175),
        ("flong", &["0", "0", "174", "bit"], -1),
        ("flong", &["0", "0", "175", "bit"], 175),
        ("flong", &["0", "1", "-2"], -1),
        ("flong", &["0", "1"], 175),
    ];
    for (key, rest, want) in cases {
        let mut cmd = vec!["BITPOS", key];
        cmd.extend_from_slice(rest);
        assert_eq!(c.cmd(&cmd), int(*want), "{cmd:?}");
    }
    let must = err("ERR The bit argument must be 1 or 0.");
    let not_int = err("ERR value is not an integer or out of range");
    let syntax = err("ERR syntax error");
    assert_eq!(c.cmd(&["BITPOS", "missing", "2"]), must);
    assert_eq!(c.cmd(&["BITPOS", "mykey", "-1"]), must);
    assert_eq!(c.cmd(&["BITPOS", "missing", "x"]), not_int);
    assert_eq!(c.cmd(&["BITPOS", "mykey", "0", "a"]), not_int);
    assert_eq!(c.cmd(&["BITPOS", "mykey", "0", "0", "a"]), not_int);
    assert_eq!(c.cmd(&["BITPOS", "mykey", "0", "0", "a", "BIT"]), not_int);
    assert_eq!(c.cmd(&["BITPOS", "mykey", "0", "a", "1", "foo"]), not_int);
    // The unit is checked before the end.
    assert_eq!(c.cmd(&["BITPOS", "mykey", "0", "0", "a", "foo"]), syntax);
    assert_eq!(c.cmd(&["BITPOS", "mykey", "0", "0", "1", "foo"]), syntax);
    assert_eq!(
        c.cmd(&["BITPOS", "mykey", "0", "0", "1", "bit", "x"]),
        syntax
    );
    assert_eq!(
        c.cmd(&["BITPOS", "mykey"]),
        err("ERR wrong number of arguments for 'bitpos' command")
    );
    s.shutdown();
}

#[test]
fn bitop_operations() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(
        c.cmd(&["MSET", "a", "foobar", "b", "abcdef", "c", "xy"]),
        ok()
    );
    assert_eq!(c.cmd(&["BITOP", "AND", "dest", "a", "b"]), int(6));
    assert_eq!(c.cmd(&["GET", "dest"]), bulk("`bc`ab"));
    assert_eq!(c.cmd(&["BITOP", "or", "dest", "a", "b", "c"]), int(6));
    assert_eq!(c.cmd(&["GET", "dest"]), bulk_bytes(b"\x7f\x7fofev"));
    assert_eq!(c.cmd(&["BITOP", "Xor", "dest", "a", "c"]), int(6));
    assert_eq!(c.cmd(&["GET", "dest"]), bulk_bytes(b"\x1e\x16obar"));
    assert_eq!(c.cmd(&["BITOP", "NOT", "dest", "c"]), int(2));
    assert_eq!(c.cmd(&["GET", "dest"]), bulk_bytes(b"\x87\x86"));
    // Missing sources are zero bytes; an empty result deletes the destination.
    assert_eq!(c.cmd(&["SET", "dest", "x", "EX", "100"]), ok());
    assert_eq!(c.cmd(&["BITOP", "AND", "dest", "a", "missing"]), int(6));
    assert_eq!(c.cmd(&["GET", "dest"]), bulk_bytes(&[0; 6]));
    assert_eq!(c.cmd(&["BITOP", "OR", "dest", "missing", "a"]), int(6));
    assert_eq!(c.cmd(&["GET", "dest"]), bulk("foobar"));
    assert_eq!(c.cmd(&["BITOP", "AND", "dest", "missing"]), int(0));
    assert_eq!(c.cmd(&["GET", "dest"]), nil());
    assert_eq!(c.cmd(&["SET", "e", ""]), ok());
    assert_eq!(c.cmd(&["SET", "dest", "x"]), ok());
    assert_eq!(c.cmd(&["BITOP", "NOT", "dest", "e"]), int(0));
    assert_eq!(c.cmd(&["GET", "dest"]), nil());
    // The destination may be a source; integers are their decimal text.
    assert_eq!(c.cmd(&["SET", "n", "123"]), ok());
    assert_eq!(c.cmd(&["BITOP", "XOR", "n", "n", "c"]), int(3));
    assert_eq!(c.cmd(&["GET", "n"]), bulk_bytes(b"\x49\x4b3"));
    assert_eq!(
        c.cmd(&["BITOP", "NOT", "dest", "a", "b"]),
        err("ERR BITOP NOT must be called with a single source key.")
    );
    assert_eq!(
        c.cmd(&["BITOP", "FOO", "dest", "a"]),
        err("ERR syntax error")
    );
    assert_eq!(
        c.cmd(&["BITOP", "NOT", "dest"]),
        err("ERR wrong number of arguments for 'bitop' command")
    );
    s.shutdown();
}

#[test]
fn bitop_across_shards() {
    let s = server(4);
    let mut c = Client::connect(s.addr());
    let keys = keys_on_shards(4, 4);
    let (dest, sources) = (&keys[0], &keys[1..]);
    let values: [&[u8]; 3] = [b"\x0f\xf0\xaa", b"\xff", b"\x01\x02\x03\x04"];
    for (k, v) in sources.iter().zip(values) {
        set_bytes(&mut c, k, v);
    }
    let mut cmd = vec!["BITOP", "XOR", dest.as_str()];
    cmd.extend(sources.iter().map(|k| k.as_str()));
    assert_eq!(c.cmd(&cmd), int(4));
    assert_eq!(c.cmd(&["GET", dest]), bulk_bytes(b"\xf1\xf2\xa9\x04"));
    cmd[1] = "AND";
    assert_eq!(c.cmd(&cmd), int(4));
    assert_eq!(c.cmd(&["GET", dest]), bulk_bytes(b"\x01\0\0\0"));
    cmd[1] = "OR";
    assert_eq!(c.cmd(&cmd), int(4));
    assert_eq!(c.cmd(&["GET", dest]), bulk_bytes(b"\xff\xf2\xab\x04"));
    assert_eq!(c.cmd(&["BITOP", "NOT", dest, &sources[0]]), int(3));
    assert_eq!(c.cmd(&["GET", dest]), bulk_bytes(b"\xf0\x0f\x55"));
    s.shutdown();
}

#[test]
fn bitop_reads_sources_atomically() {
    let s = server(4);
    let keys = keys_on_shards(4, 3);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["MSET", &keys[1], "A", &keys[2], "A"]), ok());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (addr, keys, stop) = (s.addr(), keys.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut w = Client::connect(addr);
            let mut i = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let v = if i.is_multiple_of(2) { "\u{7f}" } else { "A" };
                assert_eq!(w.cmd(&["MSET", &keys[1], v, &keys[2], v]), ok());
                i += 1;
            }
        })
    };
    for _ in 0..300 {
        // Both sources always come from the same MSET: they cancel out.
        assert_eq!(
            c.cmd(&["BITOP", "XOR", &keys[0], &keys[1], &keys[2]]),
            int(1)
        );
        assert_eq!(c.cmd(&["GET", &keys[0]]), bulk("\0"));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    s.shutdown();
}

#[test]
fn bitfield_get_set_incrby() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    let bf = |c: &mut Client, args: &[&str]| {
        let mut cmd = vec!["BITFIELD", "bf"];
        cmd.extend_from_slice(args);
        c.cmd(&cmd)
    };
    assert_eq!(
        bf(
            &mut c,
            &["SET", "i8", "0", "100", "GET", "i8", "0", "INCRBY", "i8", "0", "100"]
        ),
        arr(vec![int(0), int(100), int(-56)])
    );
    assert_eq!(
        bf(
            &mut c,
            &[
                "OVERFLOW", "SAT", "INCRBY", "i8", "0", "100", "OVERFLOW", "FAIL", "INCRBY", "i8",
                "0", "1", "OVERFLOW", "WRAP", "INCRBY", "i8", "0", "1",
            ]
        ),
        arr(vec![int(44), int(45), int(46)])
    );
    assert_eq!(
        bf(
            &mut c,
            &[
                "GET", "u8", "0", "GET", "i4", "0", "GET", "u4", "4", "GET", "i64", "0", "GET",
                "u63", "0"
            ]
        ),
        arr(vec![
            int(46),
            int(2),
            int(14),
            int(3314649325744685056),
            int(1657324662872342528)
        ])
    );
    // #N offsets are N fields of the type's width; the product wraps like Redis's.
    assert_eq!(
        bf(&mut c, &["GET", "u8", "#2305843009213693952"]),
        arr(vec![int(46)])
    );
    assert_eq!(bf(&mut c, &["GET", "u8", "4294967295"]), arr(vec![int(0)]));
    assert_eq!(bf(&mut c, &["GET", "u8", "#536870911"]), arr(vec![int(0)]));
    // An unsigned SET stores its value as u64: -1 is far above u8's max.
    assert_eq!(bf(&mut c, &["SET", "u8", "0", "-1"]), arr(vec![int(46)]));
    assert_eq!(bf(&mut c, &["GET", "u8", "0"]), arr(vec![int(255)]));
    assert_eq!(
        bf(&mut c, &["OVERFLOW", "SAT", "SET", "u8", "0", "-1"]),
        arr(vec![int(255)])
    );
    assert_eq!(
        bf(&mut c, &["OVERFLOW", "FAIL", "SET", "u8", "0", "256"]),
        arr(vec![nil()])
    );
    assert_eq!(
        bf(&mut c, &["OVERFLOW", "SAT", "SET", "i8", "0", "-1000"]),
        arr(vec![int(-1)])
    );
    assert_eq!(bf(&mut c, &["GET", "i8", "0"]), arr(vec![int(-128)]));
    assert_eq!(bf(&mut c, &[]), arr(vec![]));
    assert_eq!(
        bf(&mut c, &["get", "u8", "0", "set", "u8", "0", "5"]),
        arr(vec![int(128), int(128)])
    );
    assert_eq!(
        bf(&mut c, &["OVERFLOW", "sat", "GET", "u8", "0"]),
        arr(vec![int(5)])
    );
    // 63- and 64-bit limits.
    assert_eq!(
        bf(&mut c, &["INCRBY", "u63", "0", "-1"]),
        arr(vec![int(180143985094819839)])
    );
    assert_eq!(
        bf(
            &mut c,
            &[
                "OVERFLOW",
                "SAT",
                "INCRBY",
                "u63",
                "0",
                "-9223372036854775808"
            ]
        ),
        arr(vec![int(0)])
    );
    assert_eq!(
        bf(
            &mut c,
            &[
                "OVERFLOW",
                "SAT",
                "INCRBY",
                "u63",
                "0",
                "9223372036854775807"
            ]
        ),
        arr(vec![int(9223372036854775807)])
    );
    assert_eq!(
        bf(&mut c, &["INCRBY", "u63", "0", "9223372036854775807"]),
        arr(vec![int(9223372036854775806)])
    );
    assert_eq!(
        bf(
            &mut c,
            &[
                "SET",
                "i64",
                "0",
                "-9223372036854775808",
                "INCRBY",
                "i64",
                "0",
                "-1"
            ]
        ),
        arr(vec![int(-4), int(9223372036854775807)])
    );
    assert_eq!(
        bf(
            &mut c,
            &[
                "OVERFLOW",
                "SAT",
                "INCRBY",
                "i64",
                "0",
                "-1",
                "INCRBY",
                "i64",
                "0",
                "9223372036854775807",
                "INCRBY",
                "i64",
                "0",
                "1",
            ]
        ),
        arr(vec![
            int(9223372036854775806),
            int(9223372036854775807),
            int(9223372036854775807)
        ])
    );
    assert_eq!(
        bf(
            &mut c,
            &[
                "OVERFLOW",
                "FAIL",
                "INCRBY",
                "i64",
                "0",
                "1",
                "INCRBY",
                "i64",
                "0",
                "-9223372036854775808",
                "INCRBY",
                "i64",
                "0",
                "-1",
            ]
        ),
        arr(vec![nil(), int(-1), int(-2)])
    );
    assert_eq!(
        bf(
            &mut c,
            &[
                "OVERFLOW",
                "SAT",
                "INCRBY",
                "i64",
                "0",
                "-9223372036854775808",
                "INCRBY",
                "i64",
                "0",
                "-9223372036854775808",
            ]
        ),
        arr(vec![int(-9223372036854775808), int(-9223372036854775808)])
    );
    assert_eq!(
        bf(
            &mut c,
            &["SET", "i1", "0", "1", "GET", "i1", "0", "GET", "u1", "0"]
        ),
        arr(vec![int(-1), int(-1), int(1)])
    );
    s.shutdown();
}

#[test]
fn bitfield_unaligned_fields_and_overflow() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    let w = |c: &mut Client, args: &[&str]| {
        let mut cmd = vec!["BITFIELD", "w"];
        cmd.extend_from_slice(args);
        c.cmd(&cmd)
    };
    assert_eq!(
        w(
            &mut c,
            &[
                "SET", "u5", "3", "31", "SET", "i3", "#2", "-4", "GET", "u16", "0", "INCRBY", "u5",
                "3", "1", "INCRBY", "i3", "#2", "-1", "GET", "u16", "0",
            ]
        ),
        arr(vec![
            int(0),
            int(-2),
            int(7680),
            int(31),
            int(-3),
            int(7808)
        ])
    );
    assert_eq!(
        w(
            &mut c,
            &[
                "OVERFLOW", "SAT", "INCRBY", "u5", "3", "100", "INCRBY", "i3", "#2", "-100",
                "OVERFLOW", "WRAP", "INCRBY", "u5", "3", "-33", "GET", "u16", "0", "GET", "u5",
                "3",
            ]
        ),
        arr(vec![int(31), int(-4), int(29), int(7424), int(29)])
    );
    assert_eq!(
        w(
            &mut c,
            &[
                "OVERFLOW",
                "WRAP",
                "INCRBY",
                "u63",
                "#1",
                "-9223372036854775808",
                "INCRBY",
                "u63",
                "#1",
                "-1",
                "INCRBY",
                "i64",
                "#1",
                "9223372036854775807",
                "INCRBY",
                "i64",
                "#1",
                "9223372036854775807",
            ]
        ),
        arr(vec![
            int(0),
            int(9223372036854775807),
            int(9223372036854775803),
            int(-6)
        ])
    );
    assert_eq!(
        c.cmd(&["GET", "w"]),
        bulk_bytes(b"\x1d\x00\x00\x00\x00\x00\x00\x01\xff\xff\xff\xff\xff\xff\xff\xfa")
    );
    assert_eq!(
        w(
            &mut c,
            &[
                "OVERFLOW", "FAIL", "SET", "u2", "0", "4", "SET", "i2", "0", "2", "SET", "i2", "0",
                "-3", "SET", "i2", "0", "-2", "GET", "i2", "0",
            ]
        ),
        arr(vec![nil(), nil(), nil(), int(0), int(-2)])
    );
    assert_eq!(
        w(
            &mut c,
            &[
                "OVERFLOW",
                "SAT",
                "SET",
                "i64",
                "3",
                "-1",
                "GET",
                "i64",
                "3",
                "GET",
                "u63",
                "3",
                "GET",
                "u63",
                "4",
                "INCRBY",
                "i64",
                "3",
                "-9223372036854775808",
            ]
        ),
        arr(vec![
            int(-1729382256910270449),
            int(-1),
            int(9223372036854775807),
            int(9223372036854775807),
            int(-9223372036854775808),
        ])
    );
    // Writes grow the string to their last bit, even when they fail.
    assert_eq!(
        w(
            &mut c,
            &[
                "incrby", "u1", "1000", "1", "incrby", "u1", "1000", "1", "incrby", "i1", "1000",
                "-1"
            ]
        ),
        arr(vec![int(1), int(0), int(-1)])
    );
    assert_eq!(c.cmd(&["STRLEN", "w"]), int(126));
    assert_eq!(
        c.cmd(&["BITFIELD", "m2", "OVERFLOW", "FAIL", "INCRBY", "u8", "100", "1000"]),
        arr(vec![nil()])
    );
    assert_eq!(c.cmd(&["STRLEN", "m2"]), int(14));
    assert_eq!(
        c.cmd(&["BITFIELD", "m3", "SET", "u8", "0", "0"]),
        arr(vec![int(0)])
    );
    assert_eq!(c.cmd(&["GET", "m3"]), bulk("\0"));
    // GETs alone never create the key.
    assert_eq!(
        c.cmd(&["BITFIELD", "missing", "GET", "u8", "0"]),
        arr(vec![int(0)])
    );
    assert_eq!(c.cmd(&["GET", "missing"]), nil());
    // Integers are their decimal text.
    assert_eq!(c.cmd(&["SET", "num", "1234"]), ok());
    assert_eq!(
        c.cmd(&["BITFIELD", "num", "GET", "u8", "0", "GET", "u32", "0"]),
        arr(vec![int(49), int(825373492)])
    );
    assert_eq!(
        c.cmd(&["BITFIELD", "num", "SET", "u8", "#1", "65"]),
        arr(vec![int(50)])
    );
    assert_eq!(c.cmd(&["GET", "num"]), bulk("1A34"));
    s.shutdown();
}

#[test]
fn bitfield_errors_and_ro() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(
        c.cmd(&["BITFIELD", "bf", "SET", "u8", "0", "128"]),
        arr(vec![int(0)])
    );
    let bf = |c: &mut Client, args: &[&str]| {
        let mut cmd = vec!["BITFIELD", "bf"];
        cmd.extend_from_slice(args);
        c.cmd(&cmd)
    };
    for t in ["u64", "i65", "i0", "x8", "u", "", "i08", "u-1"] {
        assert_eq!(bf(&mut c, &["GET", t, "0"]), err(TYPE_ERR), "{t:?}");
    }
    for o in ["-1", "4294967296", "#536870912", "#-1", "##1", "#", "x"] {
        assert_eq!(bf(&mut c, &["GET", "u8", o]), err(OFFSET_ERR), "{o:?}");
    }
    let syntax = err("ERR syntax error");
    assert_eq!(bf(&mut c, &["GET", "u8"]), syntax);
    assert_eq!(bf(&mut c, &["FOO", "u8", "0"]), syntax);
    assert_eq!(bf(&mut c, &["OVERFLOW"]), syntax);
    assert_eq!(bf(&mut c, &["SET", "u8", "0"]), syntax);
    assert_eq!(
        bf(&mut c, &["OVERFLOW", "BAD", "GET", "u8", "0"]),
        err("ERR Invalid OVERFLOW type specified")
    );
    let not_int = err("ERR value is not an integer or out of range");
    assert_eq!(bf(&mut c, &["SET", "u8", "0", "x"]), not_int);
    // The type is checked before the offset, the offset before the value.
    assert_eq!(bf(&mut c, &["SET", "u64", "0", "x"]), err(TYPE_ERR));
    assert_eq!(bf(&mut c, &["SET", "u8", "x", "x"]), err(OFFSET_ERR));
    assert_eq!(c.cmd(&["GET", "bf"]), bulk_bytes(b"\x80"));

    let ro = |c: &mut Client, args: &[&str]| {
        let mut cmd = vec!["BITFIELD_RO", "bf"];
        cmd.extend_from_slice(args);
        c.cmd(&cmd)
    };
    assert_eq!(
        ro(
            &mut c,
            &["GET", "u8", "0", "OVERFLOW", "SAT", "GET", "i8", "0"]
        ),
        arr(vec![int(128), int(-128)])
    );
    assert_eq!(ro(&mut c, &[]), arr(vec![]));
    let only_get = err("ERR BITFIELD_RO only supports the GET subcommand");
    assert_eq!(ro(&mut c, &["SET", "u8", "0", "1"]), only_get);
    assert_eq!(
        ro(&mut c, &["GET", "u8", "0", "INCRBY", "u8", "0", "1"]),
        only_get
    );
    assert_eq!(ro(&mut c, &["SET", "u8", "0", "x"]), not_int);
    assert_eq!(ro(&mut c, &["FOO"]), syntax);
    assert_eq!(
        c.cmd(&["BITFIELD_RO"]),
        err("ERR wrong number of arguments for 'bitfield_ro' command")
    );
    assert_eq!(c.cmd(&["GET", "bf"]), bulk_bytes(b"\x80"));
    s.shutdown();
}

/// The type prefix is lower-case only, as in Redis: "I8" and "U8" are errors, for reads,
/// writes and BITFIELD_RO, and a rejected SET writes nothing.
#[test]
fn bitfield_type_prefix_is_case_sensitive() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    for t in ["I8", "U8", "I64", "U1"] {
        assert_eq!(
            c.cmd(&["BITFIELD", "k", "GET", t, "0"]),
            err(TYPE_ERR),
            "{t}"
        );
        assert_eq!(
            c.cmd(&["BITFIELD", "k", "SET", t, "0", "1"]),
            err(TYPE_ERR),
            "{t}"
        );
        assert_eq!(
            c.cmd(&["BITFIELD", "k", "INCRBY", t, "0", "1"]),
            err(TYPE_ERR),
            "{t}"
        );
        assert_eq!(
            c.cmd(&["BITFIELD_RO", "k", "GET", t, "0"]),
            err(TYPE_ERR),
            "{t}"
        );
    }
    assert_eq!(c.cmd(&["EXISTS", "k"]), int(0));
    assert_eq!(
        c.cmd(&["BITFIELD", "k", "GET", "i8", "0", "GET", "u8", "0"]),
        arr(vec![int(0), int(0)])
    );
    s.shutdown();
}

/// keyspace_hits and keyspace_misses of INFO stats.
fn hits_misses(c: &mut Client) -> (i64, i64) {
    let Reply::Bulk(text) = c.cmd(&["INFO", "stats"]) else {
        panic!("INFO replies with a bulk string");
    };
    let text = String::from_utf8(text).unwrap();
    let field = |name: &str| -> i64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("INFO stats has {name}"))
    };
    (field("keyspace_hits:"), field("keyspace_misses:"))
}

#[test]
fn reads_count_keyspace_hits_and_misses() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["SETBIT", "b", "1", "1"]), int(0));
    // (command, hits, misses) as redis-server 7 counts them.
    let cases: &[(&[&str], i64, i64)] = &[
        (&["SETBIT", "b", "1", "1"], 0, 0),
        (&["GETBIT", "b", "1"], 1, 0),
        (&["GETBIT", "nx", "1"], 0, 1),
        (&["GETBIT", "b", "x"], 0, 0),
        (&["BITCOUNT", "b"], 1, 0),
        (&["BITCOUNT", "nx"], 0, 1),
        (&["BITPOS", "b", "1"], 1, 0),
        (&["BITPOS", "nx", "1"], 0, 1),
        (&["BITOP", "AND", "d", "b", "nx"], 1, 1),
        (&["BITOP", "OR", "d", "b", "b", "d"], 3, 0),
        (&["BITFIELD", "b", "GET", "u8", "0"], 1, 0),
        (&["BITFIELD", "nx", "GET", "u8", "0"], 0, 1),
        (&["BITFIELD", "b"], 1, 0),
        (&["BITFIELD", "b", "SET", "u8", "0", "1"], 0, 0),
        (
            &["BITFIELD", "b", "GET", "u8", "0", "SET", "u8", "0", "1"],
            0,
            0,
        ),
        (&["BITFIELD_RO", "b", "GET", "u8", "0"], 1, 0),
    ];
    for (cmd, hits, misses) in cases {
        let (h0, m0) = hits_misses(&mut c);
        c.cmd(cmd);
        let (h1, m1) = hits_misses(&mut c);
        assert_eq!((h1 - h0, m1 - m0), (*hits, *misses), "{cmd:?}");
    }
    s.shutdown();
}
