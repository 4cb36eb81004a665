//! CONFIG SET port / bind at run time, against redis-server: the new port serves and the old
//! one stops, connections already open stay; a port in use or an address that cannot be
//! bound is refused with Redis's error and the old listener keeps serving. Also the hidden
//! `key-load-delay` debugging parameter.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::reference::{free_port, start_redis};
use common::*;
use damselfly_protocol::Reply;
use std::net::{SocketAddr, TcpStream};

fn at(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn pong(port: u16) -> bool {
    if TcpStream::connect(at(port)).is_err() {
        return false;
    }
    Client::connect(at(port)).cmd(&["ping"]) == simple("PONG")
}

/// The same steps on a server listening on `port`; returns the replies to compare.
fn moves_listener(port: u16) -> Vec<Reply> {
    let mut replies = Vec::new();
    let mut old = Client::connect(at(port));
    // The same value: nothing moves.
    replies.push(old.cmd(&["config", "set", "port", &port.to_string()]));
    assert!(pong(port));
    let new_port = free_port();
    replies.push(old.cmd(&["config", "set", "port", &new_port.to_string()]));
    assert!(pong(new_port), "the new port serves");
    assert!(TcpStream::connect(at(port)).is_err(), "the old port closed");
    // The connection made on the old port stays.
    replies.push(old.cmd(&["ping"]));
    replies.push(old.cmd(&["config", "get", "port"]));
    // A port in use: refused, and the listener stays where it was.
    let taken = std::net::TcpListener::bind(at(0)).unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    replies.push(old.cmd(&["config", "set", "port", &taken_port.to_string()]));
    assert!(pong(new_port), "still served after a refused move");
    // An address this host does not have.
    replies.push(old.cmd(&["config", "set", "bind", "192.0.2.1"]));
    replies.push(old.cmd(&["config", "get", "bind"]));
    assert!(pong(new_port));
    replies.push(old.cmd(&["config", "set", "port", &port.to_string()]));
    assert!(pong(port));
    // Normalise the ports the two servers were given.
    for r in &mut replies {
        if let Reply::Array(items) = r {
            for item in items.iter_mut() {
                if *item == bulk(&new_port.to_string()) {
                    *item = bulk("NEW");
                }
            }
        }
    }
    replies
}

#[test]
fn config_set_port_and_bind_as_redis() {
    let server = common::server(2);
    let ours = moves_listener(server.addr().port());
    let expected_port_error = err(
        "ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on \
         this port. Check server logs.",
    );
    assert_eq!(ours[4], expected_port_error);
    assert_eq!(
        ours[5],
        err(
            "ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to \
             specified addresses."
        )
    );
    let Some(redis) = start_redis() else {
        return;
    };
    let theirs = moves_listener(redis.port);
    assert_eq!(ours, theirs);
}

/// `key-load-delay` answers only to its own name, and slows loading down per key.
#[test]
fn key_load_delay_is_hidden_and_slows_loading() {
    let dir = std::env::temp_dir().join(format!("damselfly-kld-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server = damselfly::Server::builder()
        .bind("127.0.0.1")
        .port(0)
        .threads(2)
        .set("dir", dir.to_str().unwrap())
        .start()
        .unwrap();
    let mut c = Client::connect(server.addr());
    let Reply::Array(all) = c.cmd(&["config", "get", "*"]) else {
        panic!()
    };
    assert!(!all.contains(&bulk("key-load-delay")));
    assert_eq!(
        c.cmd(&["config", "get", "key-load-delay"]),
        Reply::Array(vec![bulk("key-load-delay"), bulk("0")])
    );
    for i in 0..200 {
        assert_eq!(c.cmd(&["set", &format!("k{i}"), "v"]), ok());
    }
    let started = std::time::Instant::now();
    assert_eq!(c.cmd(&["debug", "reload"]), ok());
    let quick = started.elapsed();
    assert_eq!(c.cmd(&["config", "set", "key-load-delay", "2000"]), ok());
    let started = std::time::Instant::now();
    assert_eq!(c.cmd(&["debug", "reload"]), ok());
    // 200 keys at 2 ms each.
    assert!(started.elapsed() >= std::time::Duration::from_millis(400));
    assert!(quick < std::time::Duration::from_millis(400));
    assert_eq!(c.cmd(&["dbsize"]), int(200));
    drop(c);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
