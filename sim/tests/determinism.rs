//! Two simulated servers started one after the other in one process, with the same seed, run
//! the same scripted session: their replies (set algebra and channel orders, INFO's transaction
//! figures) and trace hashes must be identical. Process-wide state (a txid counter, hash seeds
//! drawn per process) would make the second differ.

use damselfly_runtime::net::TcpStream;
use damselfly_runtime::{sim, SimConfig};
use damselfly_sim::resp::{self, Reply};

fn call(s: &TcpStream, buf: &mut Vec<u8>, args: &[&[u8]]) -> Reply {
    let mut out = Vec::new();
    resp::encode(&mut out, args);
    s.send_all(&out).unwrap();
    loop {
        if let Some((r, n)) = resp::parse(buf).unwrap() {
            buf.drain(..n);
            return r;
        }
        let mut chunk = [0u8; 1024];
        let n = s.recv(&mut chunk).unwrap();
        assert!(n > 0, "server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One server's run of the session: every reply as text, and the trace hash.
fn session(seed: u64) -> (Vec<String>, u64) {
    let server = damselfly::Server::builder()
        .bind("127.0.0.1")
        .port(0)
        .threads(3)
        .sim(SimConfig {
            seed,
            ..Default::default()
        })
        .start()
        .unwrap();
    let addr = server.addr();
    let out = server.simulate(move || {
        let s = TcpStream::connect(addr).unwrap();
        let sub = TcpStream::connect(addr).unwrap();
        let (mut buf, mut sbuf) = (Vec::new(), Vec::new());
        let mut replies = Vec::new();
        for i in 0..40 {
            let m = format!("m{i}").into_bytes();
            let key: &[u8] = [b"sa".as_slice(), b"sb", b"sc"][i % 3];
            replies.push(call(&s, &mut buf, &[b"SADD", key, &m]));
            let ch = format!("ch{i}").into_bytes();
            replies.push(call(&sub, &mut sbuf, &[b"SUBSCRIBE", &ch]));
        }
        for cmd in [
            &[b"SUNION".as_slice(), b"sa", b"sb", b"sc"][..],
            &[b"SDIFF", b"sa", b"sb"],
            &[b"SUNIONSTORE", b"su", b"sa", b"sc"],
            &[b"SMEMBERS", b"su"],
            &[b"MSET", b"k1", b"1", b"k2", b"2", b"k3", b"3"],
            &[b"MGET", b"k1", b"k2", b"k3"],
            &[b"PUBSUB", b"CHANNELS"],
        ] {
            replies.push(call(&s, &mut buf, cmd));
        }
        let info = call(&s, &mut buf, &[b"INFO", b"stats"]);
        let Reply::Bulk(Some(text)) = &info else {
            panic!("INFO: {info}");
        };
        let mut lines: Vec<String> = replies.iter().map(|r| r.to_string()).collect();
        lines.extend(
            String::from_utf8_lossy(text)
                .lines()
                .filter(|l| l.starts_with("tx_"))
                .map(str::to_string),
        );
        (lines, sim::trace_hash())
    });
    drop(server);
    out
}

#[test]
fn two_servers_of_one_process_with_one_seed_run_identically() {
    let (a, ta) = session(7);
    let (b, tb) = session(7);
    assert!(a.iter().any(|l| l.starts_with("tx_multi_shard_scheduled:")));
    assert_eq!(a, b, "the second server's replies differ");
    assert_eq!(ta, tb, "the second server's trace differs");
}
