use super::*;
use crate::bus::{self, Message, RawCall};
use crate::fiber;
use crate::net::{TcpListener, TcpStream};
use crate::pool::ProactorPool;
use crate::BackendChoice;
use std::sync::Mutex;

fn sim_pool(n: usize, seed: u64) -> ProactorPool {
    ProactorPool::builder()
        .threads(n)
        .backend(BackendChoice::Sim)
        .sim(SimConfig {
            seed,
            ..Default::default()
        })
        .build()
        .expect("sim pool")
}

#[test]
fn an_hour_of_virtual_time_costs_no_wall_time() {
    let pool = sim_pool(2, 1);
    let wall = clock::now(); // the test's thread reads the OS clock
    let slept = pool.run_on(0, || {
        set_time_flowing(true);
        let t0 = clock::now();
        let ms0 = clock::wall_now_ms();
        fiber::sleep(Duration::from_secs(3600));
        let slept = clock::now() - t0;
        assert!(clock::wall_now_ms() - ms0 >= 3_600_000);
        set_time_flowing(false);
        slept
    });
    assert!(slept >= Duration::from_secs(3600), "{slept:?}");
    assert!(clock::now() - wall < Duration::from_secs(5));
    pool.shutdown();
}

static ARRIVALS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

fn record(arg: usize) {
    ARRIVALS.lock().unwrap().push(arg);
}

#[test]
fn the_bus_keeps_each_senders_order_exactly() {
    let pool = sim_pool(3, 7);
    ARRIVALS.lock().unwrap().clear();
    pool.run_on(0, || {
        set_time_flowing(true);
        let senders: Vec<_> = [0usize, 2]
            .into_iter()
            .map(|src| {
                fiber::spawn_on(src, move || {
                    for seq in 0..2000usize {
                        let msg = Message::Call(RawCall {
                            func: record,
                            arg: src * 1_000_000 + seq,
                        });
                        bus::send(1, msg);
                        if seq % 97 == 0 {
                            fiber::yield_now();
                        }
                    }
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        fiber::sleep(Duration::from_millis(10));
        set_time_flowing(false);
    });
    let got = ARRIVALS.lock().unwrap().clone();
    assert_eq!(got.len(), 4000);
    for src in [0usize, 2] {
        let seqs: Vec<usize> = got
            .iter()
            .filter(|a| *a / 1_000_000 == src)
            .map(|a| a % 1_000_000)
            .collect();
        assert_eq!(seqs, (0..2000).collect::<Vec<_>>(), "sender {src}");
    }
    // The two senders' messages interleave (delivery delays reorder across senders).
    let first_of_2 = got.iter().position(|a| *a >= 2_000_000).unwrap();
    assert!(first_of_2 < 3999, "no interleaving at all");
    pool.shutdown();
}

/// Streams numbered bytes from a client on proactor 1 to a server on proactor 0, which echoes
/// them; both ends check the order. Returns the run's trace hash.
fn echo_run(seed: u64) -> u64 {
    let pool = sim_pool(2, seed);
    let hash = pool.run_on(0, || {
        set_time_flowing(true);
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr();
        let server = fiber::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 700];
            let mut expect = 0u8;
            loop {
                let n = s.recv(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                for b in &buf[..n] {
                    assert_eq!(*b, expect, "server saw bytes out of order");
                    expect = expect.wrapping_add(1);
                }
                s.send_all(&buf[..n]).unwrap();
            }
            s.close().unwrap();
        });
        let client = fiber::spawn_on(1, move || {
            let s = TcpStream::connect(addr).unwrap();
            let total = 50_000usize;
            let data: Vec<u8> = (0..total).map(|i| i as u8).collect();
            let reader = s.clone();
            let echo = fiber::spawn(move || {
                let mut got = 0usize;
                let mut buf = [0u8; 333];
                loop {
                    let n = reader.recv(&mut buf).unwrap();
                    if n == 0 {
                        return got;
                    }
                    for b in &buf[..n] {
                        assert_eq!(*b, got as u8, "client saw the echo out of order");
                        got += 1;
                    }
                }
            });
            for chunk in data.chunks(1000) {
                s.send_all(chunk).unwrap();
            }
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let got = echo.join().unwrap();
            assert_eq!(got, total);
        });
        client.join().unwrap();
        server.join().unwrap();
        set_time_flowing(false);
        trace_hash()
    });
    pool.shutdown();
    hash
}

#[test]
fn simulated_tcp_keeps_byte_order_and_runs_replay_exactly() {
    let a = echo_run(11);
    let b = echo_run(11);
    let c = echo_run(12);
    assert_eq!(a, b, "same seed, different trace");
    assert_ne!(a, c, "different seeds gave the same trace");
}

#[test]
fn connecting_to_no_listener_is_refused() {
    let pool = sim_pool(1, 3);
    let err = pool.run_on(0, || {
        set_time_flowing(true);
        let e = TcpStream::connect("127.0.0.1:1".parse().unwrap()).err();
        set_time_flowing(false);
        e.map(|e| e.raw_os_error())
    });
    assert_eq!(err, Some(Some(libc::ECONNREFUSED)));
    pool.shutdown();
}

#[test]
fn simulated_files_keep_what_fsync_made_durable_across_a_crash() {
    use crate::fs::{self as rfs, File};
    let pool = sim_pool(1, 11);
    let dir = std::path::PathBuf::from("/sim-test-files");
    let d = dir.clone();
    let outcomes = pool.run_on(0, move || {
        set_time_flowing(true);
        let synced = d.join("synced");
        let f = File::create(&synced).unwrap();
        f.write_all_at(b"durable", 0).unwrap();
        f.fsync().unwrap();
        f.write_all_at(b"-and-more-that-may-be-lost", 7).unwrap();
        let unsynced = d.join("unsynced");
        File::create(&unsynced)
            .unwrap()
            .write_all_at(b"never synced", 0)
            .unwrap();
        let renamed = d.join("renamed");
        let tmp = d.join("tmp");
        let t = File::create(&tmp).unwrap();
        t.write_all_at(b"whole", 0).unwrap();
        t.fsync().unwrap();
        rfs::rename(&tmp, &renamed).unwrap();
        assert!(rfs::exists(&renamed) && !rfs::exists(&tmp));
        let mut names = rfs::read_dir(&d).unwrap();
        names.sort();
        assert_eq!(
            names,
            vec![renamed.clone(), synced.clone(), unsynced.clone()]
        );
        crate::sim::fs::crash(&d);
        assert!(
            File::create(d.join("after")).is_err(),
            "writes fail after a crash"
        );
        let read = |p: &std::path::Path| {
            let f = File::open(p).unwrap();
            let mut buf = vec![0u8; f.len().unwrap() as usize];
            f.read_full_at(&mut buf, 0).unwrap();
            buf
        };
        let out = (read(&synced), read(&unsynced), read(&renamed));
        crate::sim::fs::recover(&d);
        assert!(File::create(d.join("after")).is_ok());
        set_time_flowing(false);
        out
    });
    let (synced, unsynced, renamed) = outcomes;
    assert!(synced.starts_with(b"durable"), "{synced:?}");
    assert!(b"durable-and-more-that-may-be-lost".starts_with(&synced));
    assert!(b"never synced".starts_with(&unsynced), "{unsynced:?}");
    assert_eq!(renamed, b"whole");
    crate::sim::fs::remove_all(&dir);
    pool.shutdown();
}

#[test]
fn a_second_pool_joins_the_world_and_shares_its_clock() {
    let a = sim_pool(2, 11);
    let world = a.sim_world().expect("a simulated pool has a world");
    let b = ProactorPool::builder()
        .threads(2)
        .backend(BackendChoice::Sim)
        .sim(SimConfig {
            seed: 12,
            ..Default::default()
        })
        .sim_join(world)
        .build()
        .expect("joined pool");
    let b_id = b.id();
    let (t0, t_b) = a.run_on(0, move || {
        set_time_flowing(true);
        let t0 = clock::now();
        let h = spawn_on_pool(b_id, 1, "in-b", || {
            fiber::sleep(Duration::from_millis(5));
            (crate::proactor::count(), clock::now())
        });
        let (n, t_b) = h.join().expect("the fiber in pool b");
        assert_eq!(n, 2);
        set_time_flowing(false);
        (t0, t_b)
    });
    assert!(t_b >= t0 + Duration::from_millis(5), "{t0:?} {t_b:?}");
    // The joined pool stops alone; the first one runs on.
    b.shutdown();
    assert_eq!(a.run_on(1, crate::proactor::count), 2);
    a.shutdown();
}

fn read_exactly(c: &TcpStream, len: usize) -> Vec<u8> {
    let mut buf = [0u8; 16];
    let mut got = Vec::new();
    while got.len() < len {
        let n = c.recv(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    got
}

#[test]
fn a_partition_stalls_a_connection_until_it_heals() {
    let pool = sim_pool(2, 21);
    pool.run_on(0, || {
        set_time_flowing(true);
        let listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr();
        let from: std::net::IpAddr = [127, 0, 5, 5].into();
        let c = TcpStream::connect_from_sim_node(from, addr).unwrap();
        // The connection waits in the backlog: accept it here.
        let (s, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), from);
        s.send_all(b"ping").unwrap();
        assert_eq!(read_exactly(&c, 4), b"ping");
        // Cut: nothing arrives (unless the cut reset the connection).
        partition(addr.ip(), from);
        assert!(partitioned(from, addr.ip()));
        if s.send_all(b"pong").is_ok() {
            let mut buf = [0u8; 16];
            let until = clock::now() + Duration::from_millis(50);
            match c.recv_until(&mut buf, Some(until)) {
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    heal(addr.ip(), from);
                    assert_eq!(read_exactly(&c, 4), b"pong");
                }
                Err(e) => assert_eq!(e.raw_os_error(), Some(libc::ECONNRESET), "{e}"),
                Ok(n) => panic!("{n} bytes crossed a partition"),
            }
        }
        heal(addr.ip(), from);
        assert!(!partitioned(from, addr.ip()));
        set_time_flowing(false);
    });
    pool.shutdown();
}

#[test]
fn a_stalled_proactor_runs_nothing_until_the_stall_ends() {
    let pool = sim_pool(2, 31);
    pool.run_on(0, || {
        set_time_flowing(true);
        let t0 = clock::now();
        stall_proactor(1, Duration::from_millis(10));
        let ran_at = fiber::spawn_on(1, clock::now).join().unwrap();
        assert!(
            ran_at >= t0 + Duration::from_millis(10),
            "{t0:?} {ran_at:?}"
        );
        set_time_flowing(false);
    });
    pool.shutdown();
}
