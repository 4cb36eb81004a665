//! Hostile and broken clients: each gets Redis's error or a closed connection, never a crash or
//! unbounded memory, and other clients keep being served.

// Test clients are plain threads outside the runtime: they may sleep and read the OS clock.
#![allow(clippy::disallowed_methods)]

mod common;
use common::*;
use damselfly_protocol::Reply;
use std::io::{Read, Write};
use std::time::Duration;

fn expect_error_and_close(addr: std::net::SocketAddr, input: &[u8], error: &str) {
    let mut c = Client::connect(addr);
    c.send_raw(input);
    assert_eq!(
        c.read_reply(),
        err(error),
        "input {:?}",
        String::from_utf8_lossy(input)
    );
    assert!(c.is_closed(), "connection closed after a protocol error");
}

#[test]
fn protocol_errors_match_redis_and_close() {
    let s = server(2);
    let a = s.addr();
    expect_error_and_close(
        a,
        b"*1\r\n$x\r\n",
        "ERR Protocol error: invalid bulk length",
    );
    expect_error_and_close(
        a,
        b"*1\r\n$2147483648\r\n",
        "ERR Protocol error: invalid bulk length",
    );
    expect_error_and_close(
        a,
        b"*1\r\n$-1\r\n",
        "ERR Protocol error: invalid bulk length",
    );
    expect_error_and_close(
        a,
        b"*abc\r\n",
        "ERR Protocol error: invalid multibulk length",
    );
    expect_error_and_close(
        a,
        b"*2\r\n:1\r\n",
        "ERR Protocol error: expected '$', got ':'",
    );
    expect_error_and_close(
        a,
        b"SET \"k v\r\n",
        "ERR Protocol error: unbalanced quotes in request",
    );
    let mut c = Client::connect(a);
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    s.shutdown();
}

#[test]
fn inline_commands_and_pipelines() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    c.send_raw(b"PING\r\nSET k \"a b\"\r\nGET k\r\n\r\n*1\r\n$4\r\nPING\r\n");
    assert_eq!(c.read_reply(), simple("PONG"));
    assert_eq!(c.read_reply(), ok());
    assert_eq!(c.read_reply(), bulk("a b"));
    assert_eq!(c.read_reply(), simple("PONG"));
    s.shutdown();
}

#[test]
fn huge_headers_half_commands_and_garbage_do_not_hurt_others() {
    let s = server(2);
    let a = s.addr();
    // A 1M-element multibulk header, then silence: nothing may be preallocated for it.
    let mut big = Client::connect(a);
    big.send_raw(b"*1000000\r\n$3\r\nSET\r\n");
    // A command cut in the middle, then a disconnect.
    {
        let mut half = Client::connect(a);
        half.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nva");
    }
    // Binary garbage from several clients.
    let mut seed = 0x9e3779b97f4a7c15u64;
    for _ in 0..20 {
        let mut g = Client::connect(a);
        let junk: Vec<u8> = (0..4096)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let _ = g.stream().write_all(&junk);
    }
    let mut c = Client::connect(a);
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
    drop(big);
    s.shutdown();
}

#[test]
fn a_client_that_never_reads_does_not_grow_memory_or_block_others() {
    let s = server(2);
    let a = s.addr();
    let mut c = Client::connect(a);
    let value = "x".repeat(64 * 1024);
    assert_eq!(c.cmd(&["SET", "big", &value]), ok());
    // Push GETs of 64 KiB for ~256 MiB of replies without reading any.
    let mut lazy = std::net::TcpStream::connect(a).unwrap();
    lazy.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let get = Client::encode(&[b"GET", b"big"]);
    let batch: Vec<u8> = get.iter().copied().cycle().take(get.len() * 1000).collect();
    let mut sent = 0usize;
    for _ in 0..4 {
        match lazy.write(&batch) {
            Ok(n) => sent += n,
            Err(_) => break, // the server stopped reading us: back-pressure works
        }
    }
    assert!(sent > 0);
    // Others are served meanwhile.
    for i in 0..100 {
        assert_eq!(c.cmd(&["SET", &format!("k{i}"), "v"]), ok());
    }
    // The lazy client reading now gets correct replies.
    let mut buf = vec![0u8; 1 << 16];
    let n = lazy.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"$65536\r\nxxx"));
    drop(lazy);
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    s.shutdown();
}

/// Unknown commands and subcommands quote what the client sent as Redis does: each argument
/// (and the name) up to its first NUL byte, 128 bytes of quoted arguments at most, bytes
/// that are not UTF-8 as they came, line breaks as spaces.
#[test]
fn unknown_command_errors_quote_arguments_like_redis() {
    let s = server(2);
    let mut c = Client::connect(s.addr());
    let e = |c: &mut Client, args: &[&[u8]]| match c.cmd_bytes(args) {
        Reply::Error(e) => e,
        other => panic!("{args:?} replied {other:?}"),
    };
    let unknown = |shown: &[u8]| {
        let mut v = b"ERR unknown command 'foo', with args beginning with: ".to_vec();
        v.extend_from_slice(shown);
        v
    };
    assert_eq!(e(&mut c, &[b"foo", b"a\0bcd"]), unknown(b"'a' "));
    assert_eq!(e(&mut c, &[b"foo", b"\0abc", b"z"]), unknown(b"'' 'z' "));
    assert_eq!(
        e(&mut c, &[b"fo\0o", b"x"]),
        b"ERR unknown command 'fo', with args beginning with: 'x' ".to_vec()
    );
    assert_eq!(
        e(&mut c, &[b"\0"]),
        b"ERR unknown command '', with args beginning with: ".to_vec()
    );
    // A NUL cut shortens what counts against the 128 bytes.
    let y = [b'y'; 300];
    let z = [b'z'; 130];
    let mut long_x = b"x\0".to_vec();
    long_x.extend_from_slice(&y);
    let mut want = b"'x' '".to_vec();
    want.extend_from_slice(&z[..124]);
    want.extend_from_slice(b"' ");
    assert_eq!(e(&mut c, &[b"foo", &long_x, &z]), unknown(&want));
    // Quoting stops once 128 bytes of quoted text are written.
    let a = [b'a'; 200];
    let mut want = b"'".to_vec();
    want.extend_from_slice(&a[..125]);
    want.extend_from_slice(b"' ");
    assert_eq!(e(&mut c, &[b"foo", &a[..125], b"b"]), unknown(&want));
    let mut want = b"'".to_vec();
    want.extend_from_slice(&a[..120]);
    want.extend_from_slice(b"' 'bbbbb' ");
    assert_eq!(
        e(&mut c, &[b"foo", &a[..120], b"bbbbbbbbbbbbb", b"c"]),
        unknown(&want)
    );
    assert_eq!(e(&mut c, &[b"foo", b"\xff\xfe"]), unknown(b"'\xff\xfe' "));
    assert_eq!(e(&mut c, &[b"foo", b"a\r\nb"]), unknown(b"'a  b' "));
    let f = [b'f'; 200];
    let mut want = b"ERR unknown command '".to_vec();
    want.extend_from_slice(&f[..128]);
    want.extend_from_slice(b"', with args beginning with: ");
    assert_eq!(e(&mut c, &[&f]), want);

    // Subcommands: the same NUL and 128-byte cut.
    assert_eq!(
        e(&mut c, &[b"client", b"fo\0o"]),
        b"ERR unknown subcommand 'fo'. Try CLIENT HELP.".to_vec()
    );
    assert_eq!(
        e(&mut c, &[b"config", b"x\0y"]),
        b"ERR unknown subcommand 'x'. Try CONFIG HELP.".to_vec()
    );
    assert_eq!(
        e(&mut c, &[b"object", b"\xff"]),
        b"ERR unknown subcommand '\xff'. Try OBJECT HELP.".to_vec()
    );
    let x = [b'x'; 200];
    let mut want = b"ERR unknown subcommand '".to_vec();
    want.extend_from_slice(&x[..128]);
    want.extend_from_slice(b"'. Try CLIENT HELP.");
    assert_eq!(e(&mut c, &[b"cLiEnT", &x]), want);
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    s.shutdown();
}
