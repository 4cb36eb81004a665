//! The harness as a test: a bounded seed sweep with faults on, exact replay of a seed, and a
//! one-hour expiry that virtual time runs in well under a second.

use damselfly_runtime::net::TcpStream;
use damselfly_runtime::{fiber, SimConfig};
use damselfly_sim::resp::{self, Reply};
use damselfly_sim::{run_seed, Opts, Plan};
use std::time::Duration;

/// Seeds every `cargo test` runs (DAMSELFLY_SIM_SEEDS raises it for long sweeps).
fn ci_seeds() -> u64 {
    std::env::var("DAMSELFLY_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500)
}

#[test]
fn seeds_pass_with_faults_on() {
    let opts = Opts::default();
    let mut failed = Vec::new();
    for seed in 0..ci_seeds() {
        let o = run_seed(seed, &opts);
        assert!(o.ops > 0, "seed {seed} ran no operations");
        if !o.passed() {
            failed.push(format!(
                "seed {seed}: {:?}\n  replay: {}\n  last events:\n    {}",
                o.failures,
                damselfly_sim::replay_command(seed, &opts),
                o.tail.join("\n    ")
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn the_same_seed_replays_the_identical_trace() {
    let opts = Opts::default();
    for seed in [3, 17, 12345] {
        let a = run_seed(seed, &opts);
        let b = run_seed(seed, &opts);
        assert!(
            a.passed() && b.passed(),
            "{:?} {:?}",
            a.failures,
            b.failures
        );
        assert_eq!(a.trace, b.trace, "seed {seed}: two runs, two traces");
        assert_eq!((a.ops, a.virtual_ms), (b.ops, b.virtual_ms));
        assert_eq!(a.tail, b.tail);
    }
    let c = run_seed(4, &opts);
    assert_ne!(run_seed(3, &opts).trace, c.trace);
}

#[test]
fn two_servers_with_partitions_and_stalls_replay_the_identical_trace() {
    let opts = Opts::default();
    let seed = (0..)
        .find(|&s| {
            let p = Plan::from_seed(s, &opts);
            p.servers == 2 && p.partitions && p.stalls
        })
        .expect("some seed draws two servers, partitions and stalls");
    let a = run_seed(seed, &opts);
    let b = run_seed(seed, &opts);
    assert!(a.passed(), "seed {seed}: {:?}", a.failures);
    assert_eq!(a.trace, b.trace, "seed {seed}: two runs, two traces");
    assert_eq!((a.ops, a.virtual_ms), (b.ops, b.virtual_ms));
    assert_eq!(a.tail, b.tail);
    // The second server's clients ran and are in the history.
    assert!(
        a.tail.iter().any(|e| e.ends_with("(server 2)")),
        "{:?}",
        a.tail
    );
}

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

#[test]
fn a_one_hour_expiry_runs_in_virtual_time() {
    let server = damselfly::Server::builder()
        .bind("127.0.0.1")
        .port(0)
        .threads(3)
        .set("hz", "10")
        .sim(SimConfig {
            seed: 99,
            ..Default::default()
        })
        .start()
        .unwrap();
    let addr = server.addr();
    // The test's thread is not the simulator's: its clock is the OS's.
    let wall = damselfly_runtime::clock::now();
    let (before, after) = server.simulate(move || {
        let s = TcpStream::connect(addr).unwrap();
        let mut buf = Vec::new();
        assert_eq!(
            call(
                &s,
                &mut buf,
                &[b"SET", b"session", b"alive", b"EX", b"3600"]
            ),
            Reply::ok()
        );
        fiber::sleep(Duration::from_secs(3598));
        let before = call(&s, &mut buf, &[b"GET", b"session"]);
        fiber::sleep(Duration::from_secs(4));
        let after = call(&s, &mut buf, &[b"GET", b"session"]);
        (before, after)
    });
    assert_eq!(before, Reply::Bulk(Some(b"alive".to_vec())));
    assert_eq!(after, Reply::Bulk(None));
    let took = damselfly_runtime::clock::now() - wall;
    assert!(took < Duration::from_secs(20), "{took:?}");
    drop(server);
}

#[test]
fn a_blocked_pop_is_woken_by_a_push_from_another_client() {
    for threads in [1, 2, 3] {
        let server = damselfly::Server::builder()
            .bind("127.0.0.1")
            .port(0)
            .threads(threads)
            .sim(SimConfig {
                seed: 5,
                ..Default::default()
            })
            .start()
            .unwrap();
        let addr = server.addr();
        let (popped, timed_out) = server.simulate(move || {
            let n = damselfly_runtime::proactor_count();
            let pusher =
                fiber::Builder::new()
                    .name("pusher".to_string())
                    .spawn_on(n - 1, move || {
                        let s = TcpStream::connect(addr).unwrap();
                        let mut buf = Vec::new();
                        fiber::sleep(Duration::from_millis(20));
                        call(&s, &mut buf, &[b"LPUSH", b"q", b"x"])
                    });
            let s = TcpStream::connect(addr).unwrap();
            let mut buf = Vec::new();
            let popped = call(&s, &mut buf, &[b"BLPOP", b"q", b"5"]);
            pusher.join().unwrap();
            let timed_out = call(&s, &mut buf, &[b"BLPOP", b"q", b"0.2"]);
            (popped, timed_out)
        });
        assert_eq!(
            popped,
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"q".to_vec())),
                Reply::Bulk(Some(b"x".to_vec()))
            ])),
            "{threads} proactors"
        );
        assert_eq!(timed_out, Reply::Array(None), "{threads} proactors");
        drop(server);
    }
}
