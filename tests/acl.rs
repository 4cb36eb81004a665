//! AUTH and ACL: a scripted session over several connections sent to redis-server and to
//! Damselfly (4 proactors) with replies compared byte for byte, plus what the differential
//! cannot show — start-up users, ACL files, the memcached port, disconnections. Fails (does
//! not skip) under CI=true when redis-server is missing.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::reference::start_redis;
use common::*;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::SocketAddr;

/// `[@conn] command args...` per line; `~` first: run but do not compare (replies that carry
/// ids, times, random bytes or Redis's hash order).
const SCRIPT: &str = r#"
acl setuser alice
acl list
acl getuser alice
acl setuser bob on >pw ~k* %R~r* &ch +get +config|get -@all +@string (+set ~x*)
acl list
acl getuser bob
acl whoami
auth foo
@b auth bob pw
@b acl whoami
acl dryrun bob get k1
acl dryrun bob get zz
acl dryrun bob set x1 v
acl dryrun bob lpush k1 v
acl dryrun bob publish ch m
acl dryrun bob publish zz m
acl dryrun bob nosuch
acl dryrun nobody get k
acl dryrun bob get
acl setuser carol on nopass +@all -@dangerous ~*
acl list
acl setuser dan on >p +@read +@write -keys ~*
acl getuser dan
acl setuser e +select|0 +debug|object -@all +client|id
acl getuser e
acl setuser e +acl|foo
acl setuser e +nosuch
acl setuser e +@nosuch
acl setuser e ~* ~x
acl setuser e &* &x
acl setuser e #abc
acl setuser e <nopw
acl setuser e (+get
acl setuser e (+get ~x)
acl setuser e %X~x
acl setuser e +client|id|x
acl setuser "e f"
acl getuser e
acl getuser nosuch
acl deluser default
acl deluser nosuch alice
acl users
acl cat
~acl cat string
acl cat nosuch
acl genpass 0
acl genpass 5000
acl genpass abc
acl log 0
acl load
acl save
acl help
acl foo
acl
@b get k1
@b get zz
@b set k1 v
@b set x1 v
@b lpush k1 v
@b publish ch m
@b publish zz m
@b subscribe zz
@b config get maxmemory
@b config set maxmemory 0
@b acl whoami
@b multi
@b get k1
@b lpush zz v
@b exec
acl setuser bob resetpass
@b get k1
@b2 auth bob pw
acl deluser bob
@b get k1
acl setuser rw on >p ~rw* %R~ro* %W~wo* +@all
@u auth rw p
@u set rw1 v
@u get rw1
@u set ro1 v
@u get ro1
@u set wo1 v
@u set wo1 v get
@u get wo1
@u lpush wo2 a
@u lpush ro2 a
@u copy ro1 wo9
@u copy wo1 ro9
@u sort rw1 store wo3
@u sort ro1 store rw3
@u rename rw1 wo4
@u exists ro1 wo1 nope
@u object encoding wo1
@u mget ro1 rw1 wo1
@u sunionstore wo5 ro1 rw1
@u sunionstore ro5 ro1 rw1
@u bitfield ro1 get u8 0
@u bitfield ro1 set u8 0 1
@u eval "return 1" 1 ro1
@u eval "return redis.call('get','ro1')" 0
@u eval "return redis.call('set','ro1','x')" 0
@u eval "return redis.call('set','wo1','x')" 0
@u eval "return redis.acl_check_cmd('set','ro1','x')" 0
@u eval "return redis.acl_check_cmd('get','ro1')" 0
@u multi
@u get ro1
@u set ro1 v
@u exec
@u multi
@u get rw1
acl setuser rw -get
@u exec
acl setuser sel on >p resetkeys -@all (+get ~g*) (+set ~s*)
@s auth sel p
@s get g1
@s get s1
@s set s1 v
@s set g1 v
@s del g1
acl getuser sel
acl setuser ps on >p resetchannels &news* +@all ~*
@p auth ps p
@p subscribe news1
@p psubscribe news*
@p psubscribe n*
acl setuser ps resetchannels &news1
@p ping
acl setuser killme on >p +@all ~* &*
@k auth killme p
client kill user killme
client kill user nosuch
@k ping
config set requirepass secret
@n ping
@n get x
@n hello 3
@n hello 3 auth default wrong
@n auth wrong
@n auth a b c
@n auth default secret
@n ping
~@m hello 2 auth default secret setname foo
@m client getname
@q auth secret
@q acl whoami
@q reset
@q acl whoami
@q auth secret
@q acl whoami
config set requirepass ""
@r ping
@r auth x
"#;

fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let (mut quote, mut any) = (None, false);
    for ch in line.chars() {
        match (quote, ch) {
            (None, '"') | (None, '\'') => {
                quote = Some(ch);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, ' ') => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (_, c) => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

/// Runs the script against `addr`: each line's raw reply (None: not compared).
fn run_script(addr: SocketAddr) -> Vec<(String, Option<Vec<u8>>)> {
    let mut conns: HashMap<String, Client> = HashMap::new();
    let mut out = Vec::new();
    for line in SCRIPT.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (compare, line) = match line.strip_prefix('~') {
            Some(rest) => (false, rest),
            None => (true, line),
        };
        let (conn, cmd) = match line.strip_prefix('@') {
            Some(rest) => rest.split_once(' ').expect("connection and command"),
            None => ("a", line),
        };
        let c = conns
            .entry(conn.to_string())
            .or_insert_with(|| Client::connect(addr));
        let words = split_words(cmd);
        let args: Vec<&str> = words.iter().map(String::as_str).collect();
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        // A closed connection (its user deleted, a client killed) answers "<closed>".
        let reply = match std::io::Write::write_all(c.stream(), &Client::encode(&bytes)) {
            Ok(()) => c.try_read_reply().map(|r| {
                let mut raw = Vec::new();
                r.write_to(&mut raw);
                raw
            }),
            Err(_) => None,
        };
        let reply = reply.unwrap_or_else(|| b"<closed>".to_vec());
        out.push((line.to_string(), compare.then_some(reply)));
    }
    out
}

#[test]
fn acl_session_matches_redis() {
    let Some(redis) = start_redis() else { return };
    let ours = server(4);
    let expected = run_script(SocketAddr::from(([127, 0, 0, 1], redis.port)));
    let got = run_script(ours.addr());
    let mut diffs = Vec::new();
    for ((line, want), (_, have)) in expected.iter().zip(&got) {
        if want != have {
            diffs.push(format!(
                "{line}\n  redis: {:?}\n  ours:  {:?}",
                want.as_ref()
                    .map(|w| String::from_utf8_lossy(w).into_owned()),
                have.as_ref()
                    .map(|h| String::from_utf8_lossy(h).into_owned())
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn acl_log_records_refusals_and_failed_logins() {
    let s = server(2);
    let mut admin = Client::connect(s.addr());
    assert_eq!(
        admin.cmd(&["acl", "setuser", "u", "on", ">p", "+get", "~a*"]),
        ok()
    );
    let mut u = Client::connect(s.addr());
    assert_eq!(
        u.cmd(&["auth", "u", "wrong"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(u.cmd(&["auth", "u", "p"]), ok());
    for _ in 0..3 {
        u.cmd(&["get", "b"]);
    }
    u.cmd(&["set", "a", "1"]);
    let log = admin.cmd(&["acl", "log"]);
    let text = format!("{log:?}");
    let Reply::Array(entries) = log else {
        panic!("{text}")
    };
    assert_eq!(entries.len(), 3, "{text}");
    // Newest first: the SET, the three GETs grouped, the failed AUTH.
    let field = |e: &Reply, name: &str| -> Reply {
        let Reply::Array(kv) = e else { panic!() };
        let at = kv.iter().position(|x| *x == bulk(name)).expect("field");
        kv[at + 1].clone()
    };
    assert_eq!(field(&entries[0], "reason"), bulk("command"));
    assert_eq!(field(&entries[0], "object"), bulk("set"));
    assert_eq!(field(&entries[1], "reason"), bulk("key"));
    assert_eq!(field(&entries[1], "object"), bulk("b"));
    assert_eq!(field(&entries[1], "count"), int(3));
    assert_eq!(field(&entries[2], "reason"), bulk("auth"));
    assert_eq!(field(&entries[2], "username"), bulk("u"));
    let Reply::Bulk(info) = field(&entries[0], "client-info") else {
        panic!()
    };
    assert!(String::from_utf8_lossy(&info).contains(" cmd=set user=u "));
    assert_eq!(admin.cmd(&["acl", "log", "reset"]), ok());
    assert_eq!(admin.cmd(&["acl", "log"]), arr(vec![]));
}

use damselfly_protocol::Reply;

#[test]
fn password_from_start_guards_every_command_on_both_ports() {
    let s = damselfly::Server::builder()
        .bind("127.0.0.1")
        .port(0)
        .threads(2)
        .set("requirepass", "s3cret")
        .set(
            "memcached-port",
            &common::reference::free_port().to_string(),
        )
        .start()
        .unwrap();
    let mut c = Client::connect(s.addr());
    for cmd in [
        &["get", "k"][..],
        &["set", "k", "v"],
        &["acl", "whoami"],
        &["multi"],
        &["subscribe", "x"],
    ] {
        assert_eq!(
            c.cmd(cmd),
            err("NOAUTH Authentication required."),
            "{cmd:?}"
        );
    }
    assert_eq!(
        c.cmd(&["auth", "nope"]),
        err("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(c.cmd(&["auth", "s3cret"]), ok());
    assert_eq!(c.cmd(&["set", "k", "v"]), ok());

    // memcached: nothing but the login works before it.
    let mc_addr = s.memcached_addr().unwrap();
    let talk = |bytes: &[u8], expect: &[u8]| {
        let mut m = std::net::TcpStream::connect(mc_addr).unwrap();
        m.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        m.write_all(bytes).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while got.len() < expect.len() {
            let n = m.read(&mut buf).unwrap();
            assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expect)
        );
    };
    talk(b"get k\r\n", b"CLIENT_ERROR unauthenticated\r\n");
    talk(
        b"set x 0 0 11\r\ndefault bad\r\n",
        b"CLIENT_ERROR authentication failure\r\n",
    );
    talk(
        b"set x 0 0 9\r\ndefault  \r\n",
        b"CLIENT_ERROR authentication failure\r\n",
    );
    talk(
        b"set x 0 0 14\r\ndefault s3cret\r\nget k\r\n",
        b"STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n",
    );
}

#[test]
fn users_from_config_lines_and_acl_files() {
    let dir = std::env::temp_dir().join(format!("damselfly-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // `user` lines (as in a config file).
    let s = damselfly::Server::builder()
        .bind("127.0.0.1")
        .port(0)
        .threads(2)
        .set("user", "default on nopass ~* &* +@all -flushdb")
        .set("user", "reader on >rp %R~* +@read")
        .start()
        .unwrap();
    let mut c = Client::connect(s.addr());
    assert_eq!(
        c.cmd(&["flushdb"]),
        err("NOPERM this user has no permissions to run the 'flushdb' command")
    );
    assert_eq!(c.cmd(&["auth", "reader", "rp"]), ok());
    assert_eq!(c.cmd(&["get", "x"]), nil());
    assert_eq!(
        c.cmd(&["set", "x", "1"]),
        err("NOPERM this user has no permissions to run the 'set' command")
    );
    drop(s);

    // An ACL file: loaded at start, rewritten by ACL SAVE, read back by ACL LOAD.
    let file = dir.join("users.acl");
    std::fs::write(
        &file,
        "user default on nopass ~* &* +@all\nuser w on >wp ~w* +set\n",
    )
    .unwrap();
    let s = damselfly::Server::builder()
        .bind("127.0.0.1")
        .port(0)
        .threads(2)
        .set("aclfile", file.to_str().unwrap())
        .start()
        .unwrap();
    let mut c = Client::connect(s.addr());
    assert_eq!(
        c.cmd(&["acl", "users"]),
        arr(vec![bulk("default"), bulk("w")])
    );
    assert_eq!(
        c.cmd(&["acl", "setuser", "z", "on", ">zp", "+get", "~*"]),
        ok()
    );
    assert_eq!(c.cmd(&["acl", "save"]), ok());
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(saved.contains("user z on #"), "{saved}");
    assert!(!saved.contains("zp"), "a password in clear in {saved}");
    assert_eq!(c.cmd(&["acl", "deluser", "z"]), int(1));
    assert_eq!(c.cmd(&["acl", "load"]), ok());
    assert_eq!(
        c.cmd(&["acl", "users"]),
        arr(vec![bulk("default"), bulk("w"), bulk("z")])
    );
    let mut z = Client::connect(s.addr());
    assert_eq!(z.cmd(&["auth", "z", "zp"]), ok());
    // A broken file changes nothing; the error names the line.
    std::fs::write(
        &file,
        "user default on nopass ~* &* +@all\nuser q on +nosuchcmd\nnot a user line\n",
    )
    .unwrap();
    let Reply::Error(e) = c.cmd(&["acl", "load"]) else {
        panic!()
    };
    let e = String::from_utf8_lossy(&e).into_owned();
    assert!(
        e.contains(":2: Error in applying operation '+nosuchcmd'"),
        "{e}"
    );
    assert!(e.contains(":3 should start with user keyword"), "{e}");
    assert!(
        e.ends_with("no change to the previously active ACL rules was performed"),
        "{e}"
    );
    assert_eq!(
        c.cmd(&["acl", "users"]),
        arr(vec![bulk("default"), bulk("w"), bulk("z")])
    );
    drop(s);

    // A server refuses to start on a broken ACL file, or with both user lines and a file.
    let bad = damselfly::Server::builder()
        .bind("127.0.0.1")
        .port(0)
        .set("aclfile", file.to_str().unwrap())
        .start();
    assert!(bad.is_err());
    let both = damselfly::Server::builder()
        .bind("127.0.0.1")
        .port(0)
        .set("aclfile", file.to_str().unwrap())
        .set("user", "x on nopass")
        .start();
    assert!(both.is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rule_changes_reach_connections_on_every_proactor() {
    let s = server(4);
    let mut admin = Client::connect(s.addr());
    assert_eq!(
        admin.cmd(&["acl", "setuser", "v", "on", ">p", "+@all", "~*"]),
        ok()
    );
    let mut users: Vec<Client> = (0..8).map(|_| Client::connect(s.addr())).collect();
    for u in &mut users {
        assert_eq!(u.cmd(&["auth", "v", "p"]), ok());
        assert_eq!(u.cmd(&["set", "k", "1"]), ok());
    }
    assert_eq!(admin.cmd(&["acl", "setuser", "v", "-set"]), ok());
    for u in &mut users {
        assert_eq!(
            u.cmd(&["set", "k", "1"]),
            err("NOPERM this user has no permissions to run the 'set' command")
        );
        assert_eq!(u.cmd(&["get", "k"]), bulk("1"));
    }
    // Deleting the user disconnects its clients wherever they are.
    assert_eq!(admin.cmd(&["acl", "deluser", "v"]), int(1));
    for u in &mut users {
        assert!(u.is_closed());
    }
    let Reply::Bulk(list) = admin.cmd(&["client", "list"]) else {
        panic!()
    };
    assert!(!String::from_utf8_lossy(&list).contains("user=v"));
}

#[test]
fn pipelines_of_a_restricted_user_are_checked_command_by_command() {
    let s = server(4);
    let mut admin = Client::connect(s.addr());
    assert_eq!(
        admin.cmd(&["acl", "setuser", "p", "on", ">p", "+@all", "~mine*"]),
        ok()
    );
    let mut c = Client::connect(s.addr());
    assert_eq!(c.cmd(&["auth", "p", "p"]), ok());
    let mut bytes = Vec::new();
    for i in 0..64 {
        let key = if i % 2 == 0 {
            format!("mine{i}")
        } else {
            format!("other{i}")
        };
        bytes.extend(Client::encode(&[b"set", key.as_bytes(), b"v"]));
    }
    c.send_raw(&bytes);
    for i in 0..64 {
        let want = if i % 2 == 0 {
            ok()
        } else {
            err("NOPERM this user has no permissions to access one of the keys used as arguments")
        };
        assert_eq!(c.read_reply(), want, "command {i}");
    }
    assert_eq!(admin.cmd(&["exists", "other1", "mine0"]), int(1));
}
