//! CLIENT NO-TOUCH: a no-touch client's reads leave keys' access clocks alone (OBJECT
//! IDLETIME keeps growing) whichever way they reach the shard — inline on the local shard,
//! one hop, several shards, inside MULTI/EXEC, from a script, in a squashed pipeline — while
//! TOUCH still updates the clock; CLIENT LIST shows the `T` flag. The argument errors are
//! compared with redis-server's for the sibling CLIENT NO-EVICT (redis-server 7.0 predates
//! NO-TOUCH; both follow the same rule).

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::reference::start_redis;
use common::*;
use damselfly_protocol::Reply;
use std::time::Duration;

fn idle(c: &mut Client, key: &str) -> i64 {
    match c.cmd(&["object", "idletime", key]) {
        Reply::Integer(i) => i,
        other => panic!("OBJECT IDLETIME {key}: {other:?}"),
    }
}

fn client_line(c: &mut Client) -> String {
    match c.cmd(&["client", "info"]) {
        Reply::Bulk(b) => String::from_utf8(b).unwrap(),
        other => panic!("CLIENT INFO: {other:?}"),
    }
}

const KEYS: [&str; 8] = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];

#[test]
fn no_touch_reads_leave_the_access_clock_alone() {
    // Four shards: the keys spread over local and remote shards of the client's proactor.
    let s = server(4);
    let mut c = Client::connect(s.addr());
    let mut other = Client::connect(s.addr());
    for k in KEYS {
        assert_eq!(c.cmd(&["set", k, "v"]), ok());
    }
    assert_eq!(c.cmd(&["client", "no-touch", "on"]), ok());
    assert!(client_line(&mut c).contains(" flags=T "));
    assert!(client_line(&mut other).contains(" flags=N "));
    std::thread::sleep(Duration::from_millis(2100));

    // Every path a read takes to its shard.
    for k in KEYS {
        c.cmd(&["get", k]);
    }
    c.cmd(&["mget", "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"]);
    c.cmd(&["multi"]);
    for k in KEYS {
        c.cmd(&["strlen", k]);
    }
    assert!(matches!(c.cmd(&["exec"]), Reply::Array(_)));
    for k in KEYS {
        c.cmd(&["eval", "return redis.call('get', KEYS[1])", "1", k]);
    }
    let mut pipeline = Vec::new();
    for _ in 0..4 {
        for k in KEYS {
            pipeline.extend(Client::encode(&[b"get", k.as_bytes()]));
        }
    }
    c.send_raw(&pipeline);
    for _ in 0..4 * KEYS.len() {
        c.read_reply();
    }
    for k in KEYS {
        assert!(idle(&mut c, k) >= 2, "{k} was touched by a no-touch read");
    }

    // TOUCH still counts; so do the reads of a client without the mode.
    assert_eq!(c.cmd(&["touch", "k0", "k1"]), int(2));
    assert!(idle(&mut c, "k0") <= 1);
    assert!(idle(&mut c, "k1") <= 1);
    other.cmd(&["get", "k2"]);
    assert!(idle(&mut c, "k2") <= 1);

    // Off again: reads touch.
    assert_eq!(c.cmd(&["client", "no-touch", "off"]), ok());
    assert!(client_line(&mut c).contains(" flags=N "));
    c.cmd(&["get", "k3"]);
    assert!(idle(&mut c, "k3") <= 1);

    // RESET leaves the mode.
    assert_eq!(c.cmd(&["client", "no-touch", "on"]), ok());
    assert_eq!(c.cmd(&["reset"]), simple("RESET"));
    assert!(client_line(&mut c).contains(" flags=N "));
}

#[test]
fn no_touch_argument_errors_follow_redis() {
    let s = server(2);
    let mut ours = Client::connect(s.addr());
    assert_eq!(
        ours.cmd(&["client", "no-touch", "maybe"]),
        err("ERR syntax error")
    );
    // redis-server 7.0 predates NO-TOUCH: its replies for NO-EVICT, which takes the same
    // arguments, with the subcommand's name swapped, are what NO-TOUCH must answer.
    let Some(reference) = start_redis() else {
        return;
    };
    let mut theirs = Client::connect(([127, 0, 0, 1], reference.port).into());
    for args in [
        &["client", "no-evict", "maybe"][..],
        &["client", "no-evict"],
        &["client", "no-evict", "on", "x"],
        &["client", "no-evict", "ON"],
        &["client", "no-evict", "Off"],
    ] {
        let expected =
            String::from_utf8_lossy(&theirs.cmd_raw(args)).replace("no-evict", "no-touch");
        let mut touch_args = args.to_vec();
        touch_args[1] = "no-touch";
        assert_eq!(
            String::from_utf8_lossy(&ours.cmd_raw(&touch_args)),
            expected,
            "{touch_args:?}"
        );
    }
}
