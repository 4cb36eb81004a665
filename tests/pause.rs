//! CLIENT PAUSE / UNPAUSE through real sockets: writers wait on every proactor while readers
//! pass, ALL holds everything, the pause ends at its deadline, EXEC with a write waits,
//! expiry stops while paused, and the errors are redis-server's.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::reference::start_redis;
use common::*;
use damselfly_protocol::Reply;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Sends a command without reading its reply.
fn send(c: &mut Client, args: &[&str]) {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    c.send_raw(&Client::encode(&a));
}

/// True when no reply byte arrives within `d` (the command is held).
fn silent_for(c: &mut Client, d: Duration) -> bool {
    let s = c.stream();
    s.set_read_timeout(Some(d)).unwrap();
    let mut b = [0u8; 1];
    let silent = match s.peek(&mut b) {
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    };
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    silent
}

fn info_field(c: &mut Client, field: &str) -> i64 {
    let Reply::Bulk(text) = c.cmd(&["INFO"]) else {
        panic!("INFO")
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO has no {field}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn write_pause_holds_writers_on_every_proactor_and_lets_readers_pass() {
    let s = server(2);
    let mut admin = Client::connect(s.addr());
    admin.cmd(&["SET", "k", "v"]);
    // Connections go round robin to the proactors: four writers cover both.
    let mut writers: Vec<Client> = (0..4).map(|_| Client::connect(s.addr())).collect();
    let mut reader = Client::connect(s.addr());
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]), ok());
    for (i, w) in writers.iter_mut().enumerate() {
        send(w, &["SET", &format!("w{i}"), "x"]);
    }
    for w in writers.iter_mut() {
        assert!(silent_for(w, Duration::from_millis(200)), "a writer ran");
    }
    assert_eq!(reader.cmd(&["GET", "k"]), bulk("v"));
    assert!(matches!(reader.cmd(&["INFO", "server"]), Reply::Bulk(_)));
    // PUBLISH reaches replicas in Redis: a WRITE pause holds it too.
    send(&mut reader, &["PUBLISH", "ch", "m"]);
    assert!(silent_for(&mut reader, Duration::from_millis(100)));
    assert_eq!(info_field(&mut admin, "blocked_clients"), 5);
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), ok());
    for w in writers.iter_mut() {
        assert_eq!(w.read_reply(), ok());
    }
    assert_eq!(reader.read_reply(), int(0));
    assert_eq!(info_field(&mut admin, "blocked_clients"), 0);
    assert_eq!(reader.cmd(&["GET", "w3"]), bulk("x"));
}

#[test]
fn all_pause_holds_reads_and_ends_at_its_deadline() {
    let s = server(2);
    let mut admin = Client::connect(s.addr());
    let mut other = Client::connect(s.addr());
    let start = Instant::now();
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "400", "ALL"]), ok());
    send(&mut other, &["PING"]);
    assert!(silent_for(&mut other, Duration::from_millis(150)));
    assert_eq!(other.read_reply(), simple("PONG"));
    assert!(start.elapsed() >= Duration::from_millis(380));
}

#[test]
fn exec_with_a_write_waits_and_a_read_only_exec_passes() {
    let s = server(2);
    let mut admin = Client::connect(s.addr());
    let mut tx = Client::connect(s.addr());
    let mut ro = Client::connect(s.addr());
    assert_eq!(tx.cmd(&["MULTI"]), ok());
    assert_eq!(tx.cmd(&["SET", "a", "1"]), simple("QUEUED"));
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]), ok());
    assert_eq!(ro.cmd(&["MULTI"]), ok());
    assert_eq!(ro.cmd(&["GET", "a"]), simple("QUEUED"));
    assert_eq!(ro.cmd(&["EXEC"]), arr(vec![nil()]));
    // A script that declares no writes is a read.
    assert_eq!(
        ro.cmd(&["EVAL", "#!lua flags=no-writes\nreturn 7", "0"]),
        int(7)
    );
    send(&mut tx, &["EXEC"]);
    assert!(silent_for(&mut tx, Duration::from_millis(200)));
    send(&mut ro, &["EVAL", "return 8", "0"]);
    assert!(silent_for(&mut ro, Duration::from_millis(50)));
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), ok());
    assert_eq!(tx.read_reply(), arr(vec![ok()]));
    assert_eq!(ro.read_reply(), int(8));
}

#[test]
fn expiry_stops_while_paused() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    let before = info_field(&mut c, "expired_keys");
    c.cmd(&["SET", "e1{t}", "v", "PX", "30"]);
    c.cmd(&["SET", "e2{t}", "v", "PX", "30"]);
    assert_eq!(c.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]), ok());
    std::thread::sleep(Duration::from_millis(400));
    // Logically gone, but not deleted: neither the heartbeat nor the read expired them.
    assert_eq!(c.cmd(&["GET", "e1{t}"]), nil());
    assert_eq!(c.cmd(&["GET", "e2{t}"]), nil());
    assert_eq!(info_field(&mut c, "expired_keys"), before);
    assert_eq!(c.cmd(&["CLIENT", "UNPAUSE"]), ok());
    assert_eq!(c.cmd(&["GET", "e1{t}"]), nil());
    assert_eq!(c.cmd(&["GET", "e2{t}"]), nil());
    assert_eq!(info_field(&mut c, "expired_keys"), before + 2);
}

#[test]
fn a_paused_clients_syntax_error_is_answered_at_once() {
    let s = server(2);
    let mut admin = Client::connect(s.addr());
    let mut other = Client::connect(s.addr());
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "60000", "WRITE"]), ok());
    assert_eq!(
        other.cmd(&["SET", "x"]),
        err("ERR wrong number of arguments for 'set' command")
    );
    admin.cmd(&["CLIENT", "UNPAUSE"]);
}

fn pause_errors(addr: SocketAddr) -> Vec<Vec<u8>> {
    let mut c = Client::connect(addr);
    let cases: &[&[&str]] = &[
        &["CLIENT", "PAUSE", "abc"],
        &["CLIENT", "PAUSE", "-1"],
        &["CLIENT", "PAUSE", "100", "FOO"],
        &["CLIENT", "PAUSE", "abc", "FOO"],
        &["CLIENT", "PAUSE"],
        &["CLIENT", "PAUSE", "1", "WRITE", "x"],
        &["CLIENT", "UNPAUSE", "x"],
        &["CLIENT", "PAUSE", "0"],
        &["CLIENT", "UNPAUSE"],
        &["EVAL_RO", "return redis.call('publish','ch','m')", "0"],
    ];
    cases.iter().map(|a| c.cmd_raw(a)).collect()
}

#[test]
fn pause_errors_match_redis() {
    let Some(redis) = start_redis() else { return };
    let ours = server(2);
    let want = pause_errors(SocketAddr::from(([127, 0, 0, 1], redis.port)));
    let got = pause_errors(ours.addr());
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        let (w, g) = (String::from_utf8_lossy(w), String::from_utf8_lossy(g));
        // Script errors name the script's sha and line after "script:": compare up to there.
        let cut = |s: &str| s.split(" script:").next().unwrap_or("").to_string();
        assert_eq!(cut(&w), cut(&g), "case {i}");
    }
}
