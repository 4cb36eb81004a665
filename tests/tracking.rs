//! Client-side caching (CLIENT TRACKING) through real sockets: default and BCAST modes,
//! REDIRECT in RESP2 and RESP3, OPTIN/OPTOUT with CLIENT CACHING, NOLOOP, flushes, the table
//! limit, introspection and every error, on servers with several proactors.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use damselfly_protocol::Reply;
use std::time::Duration;

fn b(s: &str) -> Reply {
    bulk(s)
}

fn invalidate(keys: &[&str]) -> Reply {
    Reply::Push(vec![
        b("invalidate"),
        arr(keys.iter().map(|k| b(k)).collect()),
    ])
}

fn resp3(c: &mut Client) {
    let Reply::Map(_) = c.cmd(&["HELLO", "3"]) else {
        panic!("HELLO 3")
    };
}

fn client_id(c: &mut Client) -> String {
    match c.cmd(&["CLIENT", "ID"]) {
        Reply::Integer(i) => i.to_string(),
        other => panic!("CLIENT ID: {other:?}"),
    }
}

/// A RESP2 client subscribed to `__redis__:invalidate`, and its id.
fn redirect_target(s: &damselfly::ServerHandle) -> (Client, String) {
    let mut c = Client::connect(s.addr());
    let id = client_id(&mut c);
    assert_eq!(
        c.cmd(&["SUBSCRIBE", "__redis__:invalidate"]),
        arr(vec![b("subscribe"), b("__redis__:invalidate"), int(1)])
    );
    (c, id)
}

fn redirected(keys: &[&str]) -> Reply {
    arr(vec![
        b("message"),
        b("__redis__:invalidate"),
        arr(keys.iter().map(|k| b(k)).collect()),
    ])
}

#[test]
fn resp3_invalidation_follows_the_reply_and_fires_once() {
    let s = server(4);
    let mut r = Client::connect(s.addr());
    let mut w = Client::connect(s.addr());
    resp3(&mut r);
    assert_eq!(r.cmd(&["CLIENT", "TRACKING", "ON"]), ok());
    w.cmd(&["SET", "k1", "1"]);
    assert_eq!(r.cmd(&["GET", "k1"]), b("1"));
    assert_eq!(w.cmd(&["SET", "k1", "2"]), ok());
    assert_eq!(r.read_reply(), invalidate(&["k1"]));
    // Forgotten after one invalidation: the next write says nothing.
    w.cmd(&["SET", "k1", "3"]);
    assert_eq!(r.cmd(&["PING"]), simple("PONG"));
    // Its own write: the invalidation comes after the command's reply.
    r.cmd(&["HSET", "h", "f", "1"]);
    r.cmd(&["HGET", "h", "f"]);
    assert_eq!(r.cmd(&["HDEL", "h", "f"]), int(1));
    assert_eq!(r.read_reply(), invalidate(&["h"]));
    // A flush invalidates everything, with a null.
    r.cmd(&["GET", "k1"]);
    w.cmd(&["FLUSHALL"]);
    assert_eq!(
        r.read_reply(),
        Reply::Push(vec![b("invalidate"), Reply::Null])
    );
}

#[test]
fn redirect_to_a_resp2_subscriber_and_broken_redirect() {
    let s = server(4);
    let (mut target, id) = redirect_target(&s);
    let mut r = Client::connect(s.addr());
    let mut w = Client::connect(s.addr());
    assert_eq!(r.cmd(&["CLIENT", "TRACKING", "ON", "REDIRECT", &id]), ok());
    assert_eq!(r.cmd(&["CLIENT", "GETREDIR"]), int(id.parse().unwrap()));
    w.cmd(&["SET", "a", "1"]);
    w.cmd(&["SET", "b", "1"]);
    r.cmd(&["GET", "a"]);
    w.cmd(&["INCR", "b"]); // not read: no invalidation
    w.cmd(&["INCR", "a"]);
    assert_eq!(target.read_reply(), redirected(&["a"]));
    // The redirect client leaves: a RESP3 tracking client is told so.
    resp3(&mut r);
    r.cmd(&["GET", "a"]);
    assert_eq!(target.cmd(&["QUIT"]), ok());
    std::thread::sleep(Duration::from_millis(50));
    w.cmd(&["SET", "a", "2"]);
    assert_eq!(
        r.read_reply(),
        Reply::Push(vec![b("tracking-redir-broken"), int(id.parse().unwrap())])
    );
    let Reply::Map(info) = r.cmd(&["CLIENT", "TRACKINGINFO"]) else {
        panic!("TRACKINGINFO")
    };
    assert_eq!(info[0].1, Reply::Set(vec![b("on"), b("broken_redirect")]));
    assert_eq!(
        r.cmd(&["CLIENT", "TRACKING", "ON", "REDIRECT", "999999"]),
        err("ERR The client ID you want redirect to does not exist")
    );
}

#[test]
fn bcast_prefixes_noloop_and_batching() {
    let s = server(2);
    let (mut target, id) = redirect_target(&s);
    let mut r = Client::connect(s.addr());
    let mut w = Client::connect(s.addr());
    assert_eq!(
        r.cmd(&[
            "CLIENT", "TRACKING", "ON", "BCAST", "REDIRECT", &id, "PREFIX", "a:", "PREFIX", "b:",
        ]),
        ok()
    );
    // One transaction: one announcement per prefix.
    w.cmd(&["MULTI"]);
    for k in ["a:1{t}", "a:2{t}", "b:1{t}", "c:1{t}"] {
        w.cmd(&["INCR", k]);
    }
    w.cmd(&["EXEC"]);
    let mut got = vec![target.read_reply(), target.read_reply()];
    let mut expected = vec![redirected(&["a:1{t}", "a:2{t}"]), redirected(&["b:1{t}"])];
    got.sort_by_key(|r| format!("{r:?}"));
    expected.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(got, expected);
    // NOLOOP: the client's own writes are not announced to it.
    assert_eq!(r.cmd(&["CLIENT", "TRACKING", "OFF"]), ok());
    assert_eq!(
        r.cmd(&["CLIENT", "TRACKING", "ON", "BCAST", "REDIRECT", &id, "NOLOOP"]),
        ok()
    );
    r.cmd(&["SET", "mine", "1"]);
    w.cmd(&["SET", "theirs", "1"]);
    assert_eq!(target.read_reply(), redirected(&["theirs"]));
    // Errors, as Redis words them.
    let mut e = Client::connect(s.addr());
    assert_eq!(
        e.cmd(&["CLIENT", "TRACKING", "ON", "PREFIX", "x"]),
        err("ERR PREFIX option requires BCAST mode to be enabled")
    );
    assert_eq!(
        e.cmd(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "FOOBAR", "PREFIX", "FOO"]),
        err("ERR Prefix 'FOOBAR' overlaps with another provided prefix 'FOO'. Prefixes for a single client must not overlap.")
    );
    assert_eq!(
        e.cmd(&["CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"]),
        err("ERR OPTIN and OPTOUT are not compatible with BCAST")
    );
    assert_eq!(
        e.cmd(&["CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT"]),
        err("ERR You can't specify both OPTIN mode and OPTOUT mode")
    );
    assert_eq!(
        e.cmd(&["CLIENT", "TRACKING", "MAYBE"]),
        err("ERR syntax error")
    );
    assert_eq!(
        e.cmd(&["CLIENT", "CACHING", "YES"]),
        err("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
    );
}

#[test]
fn optin_optout_with_client_caching() {
    let s = server(2);
    let mut r = Client::connect(s.addr());
    let mut w = Client::connect(s.addr());
    resp3(&mut r);
    assert_eq!(r.cmd(&["CLIENT", "TRACKING", "ON", "OPTIN"]), ok());
    w.cmd(&["SET", "k", "1"]);
    r.cmd(&["GET", "k"]); // not remembered: no CACHING YES
    assert_eq!(r.cmd(&["CLIENT", "CACHING", "YES"]), ok());
    r.cmd(&["GET", "k2"]);
    w.cmd(&["SET", "k", "2"]);
    w.cmd(&["SET", "k2", "2"]);
    assert_eq!(r.read_reply(), invalidate(&["k2"]));
    assert_eq!(
        r.cmd(&["CLIENT", "CACHING", "NO"]),
        err("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
    );
    assert_eq!(r.cmd(&["CLIENT", "TRACKING", "OFF"]), ok());
    assert_eq!(r.cmd(&["CLIENT", "TRACKING", "ON", "OPTOUT"]), ok());
    assert_eq!(r.cmd(&["CLIENT", "CACHING", "NO"]), ok());
    r.cmd(&["GET", "k"]); // opted out
    r.cmd(&["GET", "k2"]);
    w.cmd(&["SET", "k", "3"]);
    w.cmd(&["SET", "k2", "3"]);
    assert_eq!(r.read_reply(), invalidate(&["k2"]));
}

#[test]
fn table_limit_invalidates_the_excess_and_info_counts() {
    let s = server(4);
    let mut r = Client::connect(s.addr());
    let mut admin = Client::connect(s.addr());
    resp3(&mut r);
    r.cmd(&["CLIENT", "TRACKING", "ON"]);
    for i in 0..50 {
        r.cmd(&["GET", &format!("key{i}")]);
    }
    let stat = |c: &mut Client, f: &str| -> String {
        let Reply::Bulk(t) = c.cmd(&["INFO"]) else {
            panic!()
        };
        let t = String::from_utf8(t).unwrap();
        t.lines()
            .find_map(|l| l.strip_prefix(&format!("{f}:")).map(str::to_string))
            .unwrap()
    };
    assert_eq!(stat(&mut admin, "tracking_total_keys"), "50");
    assert_eq!(stat(&mut admin, "tracking_clients"), "1");
    admin.cmd(&["CONFIG", "SET", "tracking-table-max-keys", "10"]);
    // Exactly the excess is invalidated (40 keys), then the table holds 10.
    for _ in 0..40 {
        let Reply::Push(p) = r.read_reply() else {
            panic!("not an invalidation")
        };
        assert_eq!(p[0], b("invalidate"));
    }
    assert_eq!(r.cmd(&["PING"]), simple("PONG"));
    assert_eq!(stat(&mut admin, "tracking_total_keys"), "10");
}
