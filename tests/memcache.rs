//! The memcached text and meta protocol over real TCP: every command and its errors, Redis
//! and memcached sharing items, bad input, and a real client (libmemcached's tools).

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;

use common::memcached::{damselfly, require, Mc};
use common::{bulk, nil, Client};
use std::process::Command;
use std::time::Duration;

#[test]
fn storage_and_retrieval() {
    let (server, addr) = damselfly(2);
    let mut c = Mc::connect(addr);
    assert_eq!(c.q("get a|"), "END\r\n");
    assert_eq!(c.q("set a 5 0 3|abc|"), "STORED\r\n");
    assert_eq!(c.q("get a|"), "VALUE a 5 3\r\nabc\r\nEND\r\n");
    let gets = c.q("gets a|");
    assert!(gets.starts_with("VALUE a 5 3 "), "{gets}");
    assert_eq!(c.q("add a 0 0 1|x|"), "NOT_STORED\r\n");
    assert_eq!(c.q("add b 0 0 1|x|"), "STORED\r\n");
    assert_eq!(c.q("replace nokey 0 0 1|x|"), "NOT_STORED\r\n");
    assert_eq!(c.q("replace b 3 0 1|y|"), "STORED\r\n");
    assert_eq!(c.q("append b 9 9 2|zz|"), "STORED\r\n");
    assert_eq!(c.q("prepend b 0 0 2|aa|"), "STORED\r\n");
    // Append and prepend keep the item's flags.
    assert_eq!(c.q("get b|"), "VALUE b 3 5\r\naayzz\r\nEND\r\n");
    assert_eq!(c.q("append nokey 0 0 1|x|"), "NOT_STORED\r\n");
    assert_eq!(
        c.q("get a b nokey a|"),
        "VALUE a 5 3\r\nabc\r\nVALUE b 3 5\r\naayzz\r\nVALUE a 5 3\r\nabc\r\nEND\r\n"
    );
    // Empty values and values with CR/LF inside.
    assert_eq!(c.q("set e 0 0 0||"), "STORED\r\n");
    assert_eq!(c.q("get e|"), "VALUE e 0 0\r\n\r\nEND\r\n");
    assert_eq!(c.q("set crlf 0 0 4|\r\n\r\n|"), "STORED\r\n");
    assert_eq!(c.q("get crlf|"), "VALUE crlf 0 4\r\n\r\n\r\n\r\nEND\r\n");
    // Flags are 32-bit.
    assert_eq!(c.q("set f 4294967295 0 1|x|"), "STORED\r\n");
    assert_eq!(c.q("get f|"), "VALUE f 4294967295 1\r\nx\r\nEND\r\n");
    drop(server);
}

fn cas_of(reply: &str) -> u64 {
    let line = reply.lines().next().unwrap();
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn cas_changes_on_every_modification_from_either_protocol() {
    let (server, addr) = damselfly(2);
    let mut c = Mc::connect(addr);
    let mut other = Mc::connect(addr);
    let mut redis = Client::connect(server.addr());
    assert_eq!(c.q("cas nokey 0 0 1 1|x|"), "NOT_FOUND\r\n");
    assert_eq!(c.q("set k 0 0 1|a|"), "STORED\r\n");
    let first = cas_of(&c.q("gets k|"));
    assert_eq!(cas_of(&c.q("gets k|")), first, "a read keeps the cas");
    assert_eq!(c.q(&format!("cas k 0 0 1 {}|b|", first + 1)), "EXISTS\r\n");
    assert_eq!(c.q(&format!("cas k 7 0 1 {first}|b|")), "STORED\r\n");
    assert_eq!(c.q(&format!("cas k 0 0 1 {first}|c|")), "EXISTS\r\n");
    // A race: both read the same cas, the first cas wins.
    let shared = cas_of(&c.q("gets k|"));
    assert_eq!(cas_of(&other.q("gets k|")), shared);
    assert_eq!(other.q(&format!("cas k 0 0 1 {shared}|o|")), "STORED\r\n");
    assert_eq!(c.q(&format!("cas k 0 0 1 {shared}|c|")), "EXISTS\r\n");
    // Every kind of write gives a new cas.
    for write in [
        "set k 0 0 1|s|",
        "append k 0 0 1|a|",
        "prepend k 0 0 1|p|",
        "replace k 0 0 1|r|",
        "set k 0 0 1|1|",
        "incr k 1|",
        "decr k 1|",
    ] {
        let before = cas_of(&c.q("gets k|"));
        c.q(write);
        let after = cas_of(&c.q("gets k|"));
        assert_ne!(before, after, "{write}");
        assert_eq!(c.q(&format!("cas k 0 0 1 {before}|z|")), "EXISTS\r\n");
    }
    // Touch changes the deadline, not the item.
    let before = cas_of(&c.q("gets k|"));
    assert_eq!(c.q("touch k 1000|"), "TOUCHED\r\n");
    assert_eq!(cas_of(&c.q("gets k|")), before);
    // A Redis write invalidates a cas handed out before it.
    for write in [
        &["SET", "k", "redis"][..],
        &["APPEND", "k", "x"],
        &["SETRANGE", "k", "0", "Q"],
    ] {
        let before = cas_of(&c.q("gets k|"));
        redis.cmd(write);
        assert_eq!(
            c.q(&format!("cas k 0 0 1 {before}|z|")),
            "EXISTS\r\n",
            "{write:?}"
        );
    }
    let before = cas_of(&c.q("gets k|"));
    assert_eq!(c.q(&format!("cas k 0 0 1 {before} noreply|z|")), "");
    assert_eq!(c.q("get k|"), "VALUE k 0 1\r\nz\r\nEND\r\n");
    drop(server);
}

#[test]
fn incr_decr_delete_touch() {
    let (server, addr) = damselfly(1);
    let mut c = Mc::connect(addr);
    assert_eq!(c.q("incr n 1|"), "NOT_FOUND\r\n");
    assert_eq!(c.q("decr n 1|"), "NOT_FOUND\r\n");
    assert_eq!(c.q("set n 0 0 2|10|"), "STORED\r\n");
    assert_eq!(c.q("decr n 1|"), "9\r\n");
    // memcached rewrites a shorter number in place, padded with spaces.
    assert_eq!(c.q("get n|"), "VALUE n 0 2\r\n9 \r\nEND\r\n");
    assert_eq!(c.q("incr n 100|"), "109\r\n");
    assert_eq!(c.q("incr n 18446744073709551615|"), "108\r\n");
    assert_eq!(c.q("decr n 1000|"), "0\r\n");
    assert_eq!(c.q("set n 0 0 20|18446744073709551615|"), "STORED\r\n");
    assert_eq!(c.q("incr n 1|"), "0\r\n");
    for bad in ["-1", "abc", "12abc", ""] {
        c.q(&format!("set n 0 0 {}|{bad}|", bad.len()));
        assert_eq!(
            c.q("incr n 1|"),
            "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
            "{bad:?}"
        );
    }
    assert_eq!(c.q("set n 0 0 3| 12|"), "STORED\r\n");
    assert_eq!(c.q("incr n 1|"), "13\r\n");
    assert_eq!(c.q("incr n 1 noreply|"), "");
    assert_eq!(c.q("get n|"), "VALUE n 0 3\r\n14 \r\nEND\r\n");
    assert_eq!(
        c.q("incr n x|"),
        "CLIENT_ERROR invalid numeric delta argument\r\n"
    );
    assert_eq!(
        c.q("incr n -1|"),
        "CLIENT_ERROR invalid numeric delta argument\r\n"
    );
    assert_eq!(c.q("delete n|"), "DELETED\r\n");
    assert_eq!(c.q("delete n|"), "NOT_FOUND\r\n");
    assert_eq!(c.q("delete n 0|"), "NOT_FOUND\r\n");
    assert_eq!(c.q("delete n noreply|"), "");
    assert_eq!(
        c.q("delete n 5|"),
        "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
    );
    assert_eq!(c.q("touch n 10|"), "NOT_FOUND\r\n");
    assert_eq!(c.q("set t 0 0 1|x|"), "STORED\r\n");
    assert_eq!(c.q("touch t 10|"), "TOUCHED\r\n");
    assert_eq!(c.q("touch t 10 noreply|"), "");
    assert_eq!(
        c.q("touch t abc|"),
        "CLIENT_ERROR invalid exptime argument\r\n"
    );
    assert_eq!(c.q("touch t -1|"), "TOUCHED\r\n");
    assert_eq!(c.q("get t|"), "END\r\n");
    drop(server);
}

#[test]
fn exptime_rules() {
    let (server, addr) = damselfly(2);
    let mut c = Mc::connect(addr);
    let mut redis = Client::connect(server.addr());
    // Negative: stored, and gone at once.
    assert_eq!(c.q("set neg 0 -1 1|x|"), "STORED\r\n");
    assert_eq!(c.q("get neg|"), "END\r\n");
    // Relative up to 30 days.
    assert_eq!(c.q("set rel 0 2592000 1|x|"), "STORED\r\n");
    let ttl = redis.cmd(&["TTL", "rel"]);
    assert!(
        matches!(ttl, damselfly_protocol::Reply::Integer(t) if t > 2591990),
        "{ttl:?}"
    );
    // Later: absolute unix time; one in the past is expired at once.
    assert_eq!(c.q("set past 0 2592001 1|x|"), "STORED\r\n");
    assert_eq!(c.q("get past|"), "END\r\n");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(c.q(&format!("set abs 0 {} 1|x|", now + 1000)), "STORED\r\n");
    let ttl = redis.cmd(&["TTL", "abs"]);
    assert!(matches!(ttl, damselfly_protocol::Reply::Integer(t) if (990..=1000).contains(&t)));
    // (999 when a second boundary passed between the two clock reads.)
    let ttl = c.q("mg abs t|");
    assert!(ttl == "HD t1000\r\n" || ttl == "HD t999\r\n", "{ttl}");
    // A short TTL runs out; gat sets and reads the deadline.
    assert_eq!(c.q("set short 0 1 1|x|"), "STORED\r\n");
    assert_eq!(c.q("gat 100 short|"), "VALUE short 0 1\r\nx\r\nEND\r\n");
    assert_eq!(c.q("mg short t|"), "HD t100\r\n");
    assert_eq!(c.q("gat 1 short|"), "VALUE short 0 1\r\nx\r\nEND\r\n");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(c.q("get short|"), "END\r\n");
    assert_eq!(c.q("gat 0 short|"), "END\r\n");
    // gat -1: returned once, then gone.
    assert_eq!(c.q("set g 0 0 1|x|"), "STORED\r\n");
    let gats = c.q("gats -1 g|");
    assert!(gats.starts_with("VALUE g 0 1 "), "{gats}");
    assert_eq!(c.q("get g|"), "END\r\n");
    assert_eq!(c.q("gat x g|"), "CLIENT_ERROR invalid exptime argument\r\n");
    drop(server);
}

#[test]
fn other_commands() {
    let (server, addr) = damselfly(2);
    let mut c = Mc::connect(addr);
    assert_eq!(c.q("version|"), "VERSION 1.6.18\r\n");
    assert_eq!(c.q("verbosity 1|"), "OK\r\n");
    assert_eq!(c.q("verbosity 1 noreply|"), "");
    assert_eq!(c.q("verbosity|"), "ERROR\r\n");
    assert_eq!(c.q("bogus|"), "ERROR\r\n");
    assert_eq!(c.q("GET a|"), "ERROR\r\n");
    assert_eq!(c.q("|"), "ERROR\r\n");
    c.q("set a 0 0 1|x|");
    c.q("get a nokey|");
    let stats = c.q("stats|");
    for field in [
        "STAT pid ",
        "STAT uptime ",
        "STAT version 1.6.18\r\n",
        "STAT curr_connections 1\r\n",
        "STAT cmd_get 2\r\n",
        "STAT cmd_set 1\r\n",
        "STAT get_hits 1\r\n",
        "STAT get_misses 1\r\n",
        "STAT curr_items 1\r\n",
        "STAT total_items 1\r\n",
        "STAT threads 2\r\n",
        "STAT evictions 0\r\n",
    ] {
        assert!(stats.contains(field), "{field:?} in {stats}");
    }
    assert!(stats.ends_with("END\r\n"));
    let settings = c.q("stats settings|");
    assert!(
        settings.contains("STAT item_size_max 1048576\r\n"),
        "{settings}"
    );
    assert!(settings.contains("STAT verbosity 1\r\n"), "{settings}");
    assert_eq!(c.q("stats reset|"), "RESET\r\n");
    assert!(c.q("stats|").contains("STAT cmd_get 0\r\n"));
    assert_eq!(c.q("stats slabs|"), "ERROR\r\n");
    assert_eq!(c.q("flush_all|"), "OK\r\n");
    assert_eq!(c.q("get a|"), "END\r\n");
    c.q("set a 0 0 1|x|");
    assert_eq!(c.q("flush_all noreply|"), "");
    assert_eq!(c.q("get a|"), "END\r\n");
    assert_eq!(
        c.q("flush_all x|"),
        "CLIENT_ERROR invalid exptime argument\r\n"
    );
    // A delayed flush.
    c.q("set a 0 0 1|x|");
    assert_eq!(c.q("flush_all 1|"), "OK\r\n");
    assert_eq!(c.q("get a|"), "VALUE a 0 1\r\nx\r\nEND\r\n");
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(c.q("get a|"), "END\r\n");
    // A later flush_all replaces a pending one, as memcached keeps one flush time.
    assert_eq!(c.q("flush_all 1|"), "OK\r\n");
    assert_eq!(c.q("flush_all 0|"), "OK\r\n");
    c.q("set b 0 0 1|y|");
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(c.q("get b|"), "VALUE b 0 1\r\ny\r\nEND\r\n");
    assert_eq!(c.q("flush_all 1|"), "OK\r\n");
    assert_eq!(c.q("flush_all 3|"), "OK\r\n");
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(c.q("get b|"), "VALUE b 0 1\r\ny\r\nEND\r\n");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        c.q("get b|"),
        "END\r\n",
        "the replacing flush runs at its own time"
    );
    // quit closes without a reply.
    c.send(b"quit\r\n");
    assert!(c.is_closed());
    drop(server);
}

#[test]
fn redis_and_memcached_share_items() {
    let (server, addr) = damselfly(2);
    let mut c = Mc::connect(addr);
    let mut redis = Client::connect(server.addr());
    assert_eq!(c.q("set shared 17 0 5|hello|"), "STORED\r\n");
    assert_eq!(redis.cmd(&["GET", "shared"]), bulk("hello"));
    assert_eq!(redis.cmd(&["SET", "fromredis", "world"]), common::ok());
    assert_eq!(
        c.q("get fromredis|"),
        "VALUE fromredis 0 5\r\nworld\r\nEND\r\n"
    );
    // A Redis write makes a plain string: memcached's flags are gone with the old value.
    redis.cmd(&["SET", "shared", "v2"]);
    assert_eq!(c.q("get shared|"), "VALUE shared 0 2\r\nv2\r\nEND\r\n");
    redis.cmd(&["DEL", "shared"]);
    assert_eq!(c.q("get shared|"), "END\r\n");
    // Integers written by INCR are read as text, and memcached incr reads them.
    redis.cmd(&["INCRBY", "counter", "41"]);
    assert_eq!(c.q("incr counter 1|"), "42\r\n");
    assert_eq!(redis.cmd(&["GET", "counter"]), bulk("42"));
    // Expiry set on one side is seen on the other.
    c.q("set ttl 0 100 1|x|");
    assert!(matches!(
        redis.cmd(&["TTL", "ttl"]),
        damselfly_protocol::Reply::Integer(100 | 99)
    ));
    redis.cmd(&["EXPIRE", "ttl", "50"]);
    assert_eq!(c.q("mg ttl t|"), "HD t50\r\n");
    // A typed Redis value is no item: a miss, and `set` replaces it.
    redis.cmd(&["RPUSH", "list", "a"]);
    assert_eq!(c.q("get list|"), "END\r\n");
    assert_eq!(c.q("add list 0 0 1|x|"), "NOT_STORED\r\n");
    assert_eq!(c.q("set list 0 0 1|x|"), "STORED\r\n");
    assert_eq!(redis.cmd(&["GET", "list"]), bulk("x"));
    // WATCH sees memcached writes, not memcached reads (gets assigning a CAS included).
    c.q("set w 0 0 1|a|");
    let mut watcher = Client::connect(server.addr());
    watcher.cmd(&["WATCH", "w"]);
    c.q("gets w|");
    c.q("mg w c h|");
    watcher.cmd(&["MULTI"]);
    watcher.cmd(&["SET", "w", "from-redis"]);
    assert_eq!(watcher.cmd(&["EXEC"]), common::arr(vec![common::ok()]));
    watcher.cmd(&["WATCH", "w"]);
    c.q("set w 0 0 1|b|");
    watcher.cmd(&["MULTI"]);
    watcher.cmd(&["SET", "w", "lost"]);
    assert_eq!(watcher.cmd(&["EXEC"]), damselfly_protocol::Reply::NullArray);
    assert_eq!(c.q("get w|"), "VALUE w 0 1\r\nb\r\nEND\r\n");
    // Items live in database 0 only.
    redis.cmd(&["SELECT", "1"]);
    assert_eq!(redis.cmd(&["GET", "list"]), nil());
    // flush_all empties database 0.
    c.q("flush_all|");
    redis.cmd(&["SELECT", "0"]);
    assert_eq!(redis.cmd(&["DBSIZE"]), common::int(0));
    drop(server);
}

#[test]
fn meta_commands() {
    let (server, addr) = damselfly(2);
    let mut c = Mc::connect(addr);
    assert_eq!(c.q("mg miss v|"), "EN\r\n");
    assert_eq!(c.q("mg miss k O123 v|"), "EN kmiss O123\r\n");
    assert_eq!(c.q("mg miss q v|"), "");
    assert_eq!(c.q("set foo 5 0 3|bar|"), "STORED\r\n");
    assert_eq!(c.q("mg foo|"), "HD\r\n");
    assert_eq!(c.q("mg foo v|"), "VA 3\r\nbar\r\n");
    assert_eq!(
        c.q("mg foo s v f t k O9 h|"),
        "VA 3 s3 f5 t-1 kfoo O9 h1\r\nbar\r\n"
    );
    let cas = c.q("mg foo c|");
    assert!(cas.starts_with("HD c"), "{cas}");
    let cas: u64 = cas[4..cas.len() - 2].parse().unwrap();
    assert_eq!(c.q(&format!("ms foo 1 C{}|x|", cas + 1)), "EX\r\n");
    assert_eq!(c.q(&format!("ms foo 1 C{cas} T0 F3|x|")), "HD\r\n");
    assert_eq!(c.q("mg foo v f h|"), "VA 1 f3 h0\r\nx\r\n");
    assert_eq!(c.q("ms foo 1 MA|y|"), "HD\r\n");
    assert_eq!(c.q("ms foo 1 MP|w|"), "HD\r\n");
    assert_eq!(c.q("ms foo 1 ME|z|"), "NS\r\n");
    assert_eq!(c.q("ms new 1 MR|z|"), "NS\r\n");
    assert_eq!(c.q("ms new 1 MA|z|"), "NS\r\n");
    assert_eq!(c.q("ms new 1 MA N0|z|"), "NS\r\n");
    assert_eq!(c.q("ms new 1 q|z|"), "");
    assert_eq!(c.q("mg foo v|"), "VA 3\r\nwxy\r\n");
    assert_eq!(
        c.q("ms foo 1 MZ|z|"),
        "CLIENT_ERROR invalid mode for ms M token\r\n"
    );
    let ms = c.q("ms got 2 c k O1|hi|");
    assert!(
        ms.starts_with("HD c") && ms.ends_with(" kgot O1\r\n"),
        "{ms}"
    );
    // Deletes.
    assert_eq!(c.q("md got q|"), "");
    assert_eq!(c.q("md got|"), "NF\r\n");
    assert_eq!(c.q("md got q|"), "NF\r\n");
    assert_eq!(c.q("md foo C1|"), "EX\r\n");
    // Invalidation: the item stays, stale, and the first reader wins the recache token.
    assert_eq!(c.q("md foo I T30|"), "HD\r\n");
    assert_eq!(c.q("mg foo v|"), "VA 3 X W\r\nwxy\r\n");
    assert_eq!(c.q("mg foo v|"), "VA 3 Z X\r\nwxy\r\n");
    // Vivify on miss.
    assert_eq!(c.q("mg viv N30 v t|"), "VA 0 t30 W\r\n\r\n");
    assert_eq!(c.q("mg viv v|"), "VA 0 Z\r\n\r\n");
    // Arithmetic.
    assert_eq!(c.q("ma cnt|"), "NF\r\n");
    assert_eq!(c.q("ma cnt N0 J10 v|"), "VA 2\r\n10\r\n");
    assert_eq!(c.q("ma cnt v MD D20|"), "VA 1\r\n0\r\n");
    assert_eq!(c.q("ma cnt v t|"), "VA 1 t-1\r\n1\r\n");
    assert_eq!(c.q("ma cnt q|"), "");
    assert_eq!(c.q("ma cnt T100 t v|"), "VA 1 t100\r\n3\r\n");
    assert_eq!(
        c.q("ma foo|"),
        "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
    );
    assert_eq!(
        c.q("ma cnt Mi|"),
        "CLIENT_ERROR invalid mode for ma M token\r\n"
    );
    // TTL flags apply in the order given.
    assert_eq!(c.q("mg cnt t T30|"), "HD t100\r\n");
    assert_eq!(c.q("mg cnt T40 t|"), "HD t40\r\n");
    assert_eq!(c.q("mg cnt T-1 v|"), "VA 2\r\n3 \r\n");
    assert_eq!(c.q("mg cnt v|"), "EN\r\n");
    // Base64 keys.
    assert_eq!(c.q("ms Zm9v 1 b k O1|z|"), "HD kZm9v b O1\r\n");
    assert_eq!(c.q("get foo|"), "VALUE foo 0 1\r\nz\r\nEND\r\n");
    assert_eq!(c.q("mg Zm9v b k v|"), "VA 1 kZm9v b\r\nz\r\n");
    assert_eq!(c.q("mg fk b|"), "CLIENT_ERROR error decoding key\r\n");
    assert_eq!(
        c.q("md fk b|"),
        "CLIENT_ERROR invalid or duplicate flag\r\n"
    );
    // Flag errors, as memcached words them.
    assert_eq!(
        c.q("mg k Tx|"),
        "CLIENT_ERROR bad token in command line format\r\n"
    );
    assert_eq!(
        c.q("mg k D|"),
        "CLIENT_ERROR invalid numeric delta value\r\n"
    );
    assert_eq!(
        c.q("mg k J|"),
        "CLIENT_ERROR invalid numeric initial value\r\n"
    );
    assert_eq!(c.q("mg k F|"), "CLIENT_ERROR bad command line format\r\n");
    assert_eq!(
        c.q("mg k Mxx|"),
        "CLIENT_ERROR incorrect length for M token\r\n"
    );
    assert_eq!(c.q("mg k S|"), "CLIENT_ERROR invalid flag\r\n");
    // `l` (last access) is a flag memcached serves: a miss is a miss.
    assert_eq!(c.q("mg k l|"), "EN\r\n");
    assert_eq!(c.q("md k S|"), "CLIENT_ERROR invalid or duplicate flag\r\n");
    assert_eq!(c.q("ms k 1 S1|x|"), "CLIENT_ERROR invalid flag\r\n");
    assert_eq!(c.q("mg k q k k|"), "CLIENT_ERROR duplicate flag\r\n");
    // `me` answers memcached's debug line (tests/object_clock.rs compares it with memcached).
    let me = c.q("me foo|");
    assert!(
        me.starts_with("ME foo exp=-1 la=") && me.ends_with(" fetch=yes cls=1 size=63\r\n"),
        "{me:?}"
    );
    c.send(b"mn x\r\n");
    assert_eq!(c.read_until(b"\r\n"), b"MN\r\n");
    drop(server);
}

#[test]
fn bad_input_gets_memcacheds_errors_and_others_are_served() {
    let (server, addr) = damselfly(2);
    let mut c = Mc::connect(addr);
    let mut bystander = Mc::connect(addr);
    assert_eq!(
        c.q("set k 0 0 -1|"),
        "CLIENT_ERROR bad command line format\r\n"
    );
    // A rejected storage line does not swallow its data: it is read as a command.
    assert_eq!(
        c.q("set k 0 0 -1|hello|"),
        "CLIENT_ERROR bad command line format\r\nERROR\r\n"
    );
    assert_eq!(c.q("set k 0 0 5 noreply|helloXX|"), "ERROR\r\n");
    assert_eq!(
        c.q("set k 0 0 5|helloXX|get k|"),
        "CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n"
    );
    // A short block waits for the rest.
    c.send(b"set k 0 0 5\r\nhel");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(c.q("lo\r\n"), "STORED\r\n");
    // Too large: discarded as it arrives, then the error.
    let big = vec![b'x'; 1024 * 1024 + 1];
    let mut req = format!("set big 0 0 {}\r\n", big.len()).into_bytes();
    req.extend_from_slice(&big);
    req.extend_from_slice(b"\r\n");
    assert_eq!(c.req(&req), b"SERVER_ERROR object too large for cache\r\n");
    let max = vec![b'y'; 1024 * 1024];
    let mut req = format!("set max 0 0 {}\r\n", max.len()).into_bytes();
    req.extend_from_slice(&max);
    req.extend_from_slice(b"\r\n");
    assert_eq!(c.req(&req), b"STORED\r\n");
    let got = c.req(b"get max\r\n");
    assert_eq!(
        got.len(),
        max.len() + "VALUE max 0 1048576\r\n\r\nEND\r\n".len()
    );
    // 10,000 keys in one get.
    let keys: Vec<String> = (0..10_000).map(|i| format!("key{i}")).collect();
    for chunk in keys.chunks(500) {
        let mut req = String::new();
        for k in chunk {
            req.push_str(&format!("set {k} 0 0 {}\r\n{k}\r\n", k.len()));
        }
        assert_eq!(
            c.req(req.as_bytes()),
            "STORED\r\n".repeat(chunk.len()).as_bytes()
        );
    }
    let got = c.req(format!("get {}\r\n", keys.join(" ")).as_bytes());
    let mut expected = String::new();
    for k in &keys {
        expected.push_str(&format!("VALUE {k} 0 {}\r\n{k}\r\n", k.len()));
    }
    expected.push_str("END\r\n");
    assert_eq!(String::from_utf8(got).unwrap(), expected);
    // Binary garbage: an error per line, then the connection still works.
    let garbage: Vec<u8> = (0..1500u32).map(|i| (i * 7919 % 251) as u8 | 1).collect();
    let mut req = garbage.clone();
    req.extend_from_slice(b"\r\n");
    let replies = c.req(&req);
    assert!(!replies.is_empty() && replies.ends_with(b"\r\n"));
    assert_eq!(c.q("get k|"), "VALUE k 0 5\r\nhello\r\nEND\r\n");
    assert_eq!(bystander.q("get k|"), "VALUE k 0 5\r\nhello\r\nEND\r\n");
    // A 1 MB line without CRLF closes that connection only.
    let mut liner = Mc::connect(addr);
    {
        use std::io::Write;
        // The server closes after 2048 bytes, so this write may fail part way.
        let _ = liner.stream.write_all(&vec![b'a'; 1024 * 1024]);
    }
    assert!(liner.is_closed());
    assert_eq!(bystander.q("get k|"), "VALUE k 0 5\r\nhello\r\nEND\r\n");
    // Nothing was lost.
    assert_eq!(
        c.q("get key0 key9999|"),
        "VALUE key0 0 4\r\nkey0\r\nVALUE key9999 0 7\r\nkey9999\r\nEND\r\n"
    );
    drop(server);
}

#[test]
fn a_client_that_never_reads_is_held_back_and_others_are_served() {
    let (server, addr) = damselfly(1);
    let mut c = Mc::connect(addr);
    let value = vec![b'v'; 100_000];
    let mut req = format!("set big 0 0 {}\r\n", value.len()).into_bytes();
    req.extend_from_slice(&value);
    req.extend_from_slice(b"\r\n");
    assert_eq!(c.req(&req), b"STORED\r\n");
    // 2,000 gets of 100 kB, never read: the server parks that client in send.
    let mut hog = Mc::connect(addr);
    hog.stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut sent = 0;
    for _ in 0..2000 {
        use std::io::Write;
        if hog.stream.write_all(b"get big\r\n").is_err() {
            break;
        }
        sent += 1;
    }
    assert!(sent > 0);
    assert_eq!(c.q("get nokey|"), "END\r\n");
    assert_eq!(c.q("set x 0 0 1|x|"), "STORED\r\n");
    drop(hog);
    drop(server);
}

fn memc_tool(tool: &str, addr: std::net::SocketAddr, args: &[&str]) -> std::process::Output {
    Command::new(tool)
        .arg(format!("--servers=127.0.0.1:{}", addr.port()))
        .args(args)
        .output()
        .expect("run libmemcached tool")
}

#[test]
fn libmemcached_client_tools() {
    if !require("memccp", "libmemcached-tools") {
        return;
    }
    let (server, addr) = damselfly(2);
    let dir = std::env::temp_dir().join(format!("damselfly-memccp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("payload.txt");
    let payload: Vec<u8> = (0..50_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&file, &payload).unwrap();
    let out = memc_tool("memccp", addr, &["--flag=7", file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let out = memc_tool("memccat", addr, &["payload.txt"]);
    assert!(out.status.success(), "{out:?}");
    // memccat ends what it prints with a newline.
    assert!(
        out.stdout.strip_suffix(b"\n") == Some(&payload[..]),
        "memccat returned {} bytes",
        out.stdout.len()
    );
    let mut c = Mc::connect(addr);
    let got = c.req(b"mg payload.txt f s\r\n");
    assert_eq!(got, b"HD f7 s50000\r\n");
    let mut redis = Client::connect(server.addr());
    assert_eq!(
        redis.cmd(&["STRLEN", "payload.txt"]),
        common::int(payload.len() as i64)
    );
    let out = memc_tool("memcexist", addr, &["payload.txt"]);
    assert!(out.status.success(), "{out:?}");
    let out = memc_tool("memcrm", addr, &["payload.txt"]);
    assert!(out.status.success(), "{out:?}");
    let out = memc_tool("memcexist", addr, &["payload.txt"]);
    assert!(!out.status.success(), "{out:?}");
    let out = memc_tool("memcflush", addr, &[]);
    assert!(out.status.success(), "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
    drop(server);
}

#[test]
fn pipelines_squashed_across_shards_answer_as_one_by_one() {
    let (squashed, squashed_addr) = damselfly(3);
    let (plain, plain_addr) = damselfly(1);
    let mut pipeline = String::new();
    for i in 0..400u32 {
        let key = format!("k{}", i % 23);
        match i % 7 {
            0 => pipeline.push_str(&format!("set {key} {i} 0 2\r\n{:02}\r\n", i % 100)),
            1 => pipeline.push_str(&format!("incr {key} {i}\r\n")),
            2 => pipeline.push_str(&format!("get {key}\r\n")),
            3 => pipeline.push_str(&format!("append {key} 0 0 1 noreply\r\n{}\r\n", i % 10)),
            4 => pipeline.push_str(&format!("delete {key}\r\n")),
            5 => pipeline.push_str(&format!("add {key} 0 0 1\r\nx\r\n")),
            _ => pipeline.push_str(&format!("touch {key} 100\r\n")),
        }
    }
    pipeline.push_str("get k0 k1 k2 k3 k4 k5 k6 k7\r\n");
    let mut a = Mc::connect(squashed_addr);
    let mut b = Mc::connect(plain_addr);
    let got = a.req(pipeline.as_bytes());
    let expected = b.req(pipeline.as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&expected)
    );
    assert!(got.windows(6).filter(|w| w == b"STORED").count() > 50);
    drop((squashed, plain));
}

#[test]
fn memcached_writes_invalidate_redis_client_side_caches() {
    let (server, addr) = damselfly(2);
    let mut c = Mc::connect(addr);
    let mut redis = Client::connect(server.addr());
    redis.cmd(&["HELLO", "3"]);
    assert_eq!(redis.cmd(&["CLIENT", "TRACKING", "ON"]), common::ok());
    c.q("set cached 0 0 1|a|");
    assert_eq!(redis.cmd(&["GET", "cached"]), bulk("a"));
    // A memcached read hands out a CAS: no invalidation for that.
    c.q("gets cached|");
    c.q("mg cached c h|");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(redis.cmd(&["PING"]), common::simple("PONG"));
    assert_eq!(c.q("set cached 0 0 1|b|"), "STORED\r\n");
    let push = redis.read_reply();
    assert_eq!(
        push,
        damselfly_protocol::Reply::Push(vec![
            bulk("invalidate"),
            common::arr(vec![bulk("cached")])
        ])
    );
    assert_eq!(redis.cmd(&["GET", "cached"]), bulk("b"));
    drop(server);
}

/// memcached clients take places in maxclients and show in INFO's connected_clients; past the
/// limit one gets memcached's own error and is closed.
#[test]
fn memcached_connections_count_in_maxclients_and_info() {
    let (server, addr) = damselfly(2);
    let mut redis = Client::connect(server.addr());
    assert_eq!(
        redis.cmd(&["CONFIG", "SET", "maxclients", "3"]),
        common::ok()
    );
    let mut first = Mc::connect(addr);
    assert_eq!(first.q("version|").split(' ').next(), Some("VERSION"));
    let mut second = Mc::connect(addr);
    assert_eq!(second.q("set k 0 0 1|v|"), "STORED\r\n");
    let damselfly_protocol::Reply::Bulk(info) = redis.cmd(&["INFO", "clients"]) else {
        panic!("INFO reply")
    };
    let info = String::from_utf8_lossy(&info).to_string();
    assert!(info.contains("connected_clients:3\r\n"), "{info}");
    let mut third = std::net::TcpStream::connect(addr).unwrap();
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = String::new();
    std::io::Read::read_to_string(&mut third, &mut got).unwrap();
    assert_eq!(got, "ERROR Too many open connections\r\n");
    drop(second);
    // The place is given back when a client leaves.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = Mc::connect(addr);
        let mut r = Vec::new();
        again.send(b"get k\r\n");
        let mut b = [0u8; 256];
        let n = std::io::Read::read(&mut again.stream, &mut b).unwrap_or(0);
        r.extend_from_slice(&b[..n]);
        if r.starts_with(b"VALUE k") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            String::from_utf8_lossy(&r)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(first.q("get k|"), "VALUE k 0 1\r\nv\r\nEND\r\n");
    drop(server);
}

/// The `STAT <fd>:<field> <value>` lines of one connection in a `stats conns` reply.
fn conn_lines(stats: &str, port: u16) -> Option<(String, String)> {
    let addr_line = stats
        .lines()
        .find(|l| l.ends_with(&format!(":addr tcp:127.0.0.1:{port}")))?;
    let fd = addr_line
        .strip_prefix("STAT ")?
        .split(':')
        .next()?
        .to_string();
    let state = stats
        .lines()
        .find_map(|l| l.strip_prefix(&format!("STAT {fd}:state ")))?
        .to_string();
    Some((fd, state))
}

#[test]
fn stats_conns_lists_the_listener_and_each_connection_with_its_state() {
    let (server, addr) = damselfly(2);
    let mut asker = Mc::connect(addr);
    let mut idle = Mc::connect(addr);
    assert_eq!(idle.q("version|").split(' ').next(), Some("VERSION"));
    let mut half = Mc::connect(addr);
    // A storage line whose data block has not all arrived.
    half.send(b"set x 0 0 10\r\nab");
    let fresh = Mc::connect(addr);
    let port_of = |m: &Mc| m.stream.local_addr().unwrap().port();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let stats = loop {
        let stats = asker.q("stats conns|");
        let states: Vec<_> = [&asker, &idle, &half, &fresh]
            .iter()
            .map(|m| conn_lines(&stats, port_of(m)).map(|(_, s)| s))
            .collect();
        let want = [
            Some("conn_parse_cmd".to_string()),
            Some("conn_read".to_string()),
            Some("conn_nread".to_string()),
            Some("conn_new_cmd".to_string()),
        ];
        if states == want {
            break stats;
        }
        assert!(std::time::Instant::now() < deadline, "{states:?}\n{stats}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        stats.starts_with("STAT ") && stats.contains(&format!(":addr tcp:{addr}\r\n")),
        "{stats}"
    );
    assert!(stats.contains(":state conn_listening\r\n"), "{stats}");
    assert!(
        stats.contains(&format!(":listen_addr tcp:{addr}\r\n")),
        "{stats}"
    );
    assert!(stats.ends_with("END\r\n"), "{stats}");
    // A connection that left is no longer listed.
    let (_, _) = conn_lines(&stats, port_of(&fresh)).unwrap();
    let gone = port_of(&fresh);
    drop(fresh);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while conn_lines(&asker.q("stats conns|"), gone).is_some() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        asker.q("stats sizes|"),
        "STAT sizes_status disabled\r\nEND\r\n"
    );
    assert_eq!(asker.q("stats items|"), "ERROR\r\n");
    // `stats settings` says whether items can be evicted (memcached's `-M` is noeviction).
    assert!(asker
        .q("stats settings|")
        .contains("STAT evictions off\r\n"));
    let mut redis = Client::connect(server.addr());
    redis.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    assert!(asker.q("stats settings|").contains("STAT evictions on\r\n"));
    drop(server);
}
