//! TCP and files through the runtime, on both backends.

mod common;

use common::{each_backend, pool, raise_fd_limit};
use damselfly_runtime::clock;
use damselfly_runtime::fiber;
use damselfly_runtime::fs::{self, File};
use damselfly_runtime::net::{TcpListener, TcpStream};
use damselfly_runtime::sync::oneshot;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

fn echo(stream: TcpStream) {
    let mut buf = vec![0u8; 4096];
    loop {
        match stream.recv(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.send_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Starts an echo server on the pool; returns its address.
fn start_echo(p: &damselfly_runtime::ProactorPool) -> SocketAddr {
    let (tx, rx) = oneshot::channel();
    p.spawn_on(0, move || {
        let l = TcpListener::bind(([127, 0, 0, 1], 0).into()).unwrap();
        tx.send(l.local_addr());
        let _ = l.serve(echo);
    });
    rx.recv().unwrap()
}

#[test]
fn pong_like_exchange_with_std_client() {
    each_backend(|b| {
        let p = pool(b, 2);
        let addr = start_echo(&p);
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"hello damselfly").unwrap();
        let mut buf = [0u8; 15];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello damselfly");
        p.shutdown();
    });
}

#[test]
fn thousand_concurrent_connections_exchange_data() {
    raise_fd_limit();
    each_backend(|b| {
        let server = pool(b, 2);
        let addr = start_echo(&server);
        let clients = pool(b, 2);
        const CONNS: usize = 1000;
        const ROUNDS: usize = 20;
        let hs: Vec<_> = (0..CONNS)
            .map(|i| {
                clients.spawn_on(i % 2, move || {
                    let s = TcpStream::connect(addr).unwrap();
                    let mut buf = [0u8; 512];
                    for r in 0..ROUNDS {
                        let msg: Vec<u8> = (0..300).map(|k| (i * 7 + r * 13 + k) as u8).collect();
                        s.send_all(&msg).unwrap();
                        let mut got = 0;
                        while got < msg.len() {
                            let n = s.recv(&mut buf[got..msg.len()]).unwrap();
                            assert!(n > 0, "server closed early");
                            got += n;
                        }
                        assert_eq!(&buf[..msg.len()], &msg[..]);
                        if r == 0 {
                            fiber::yield_now(); // let every client connect before the rest
                        }
                    }
                    s.close().unwrap();
                    ROUNDS
                })
            })
            .collect();
        let total: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, CONNS * ROUNDS);
        clients.shutdown();
        server.shutdown();
    });
}

#[test]
fn close_cancels_recv_and_send_in_flight() {
    each_backend(|b| {
        let p = pool(b, 1);
        let (results, still_serving) = p.run_on(0, || {
            let l = TcpListener::bind(([127, 0, 0, 1], 0).into()).unwrap();
            let addr = l.local_addr();
            // A peer that never reads and never writes.
            let peer = fiber::spawn(move || {
                let (s, _) = l.accept().unwrap();
                fiber::sleep(Duration::from_millis(300));
                drop(s);
            });
            let s = TcpStream::connect(addr).unwrap();
            let r = s.clone();
            let reader = fiber::spawn(move || {
                let mut buf = vec![0u8; 1024];
                r.recv(&mut buf).map_err(|e| e.raw_os_error())
            });
            let w = s.clone();
            let writer = fiber::spawn(move || {
                let chunk = vec![7u8; 1 << 20];
                loop {
                    if let Err(e) = w.send(&chunk) {
                        return e.raw_os_error();
                    }
                }
            });
            fiber::sleep(Duration::from_millis(50)); // both are now parked in the kernel
            s.close().unwrap();
            let results = (reader.join().unwrap(), writer.join().unwrap());
            let mut buf = [0u8; 4];
            let after = s.recv(&mut buf).map_err(|e| e.raw_os_error());
            peer.join().unwrap();
            (results, after)
        });
        assert_eq!(results.0, Err(Some(libc::ECANCELED)));
        assert_eq!(results.1, Some(libc::ECANCELED));
        assert_eq!(still_serving, Err(Some(libc::ECANCELED)));
        assert_eq!(p.run_on(0, || 1), 1);
        p.shutdown();
    });
}

#[test]
fn recv_deadline_times_out_and_connect_refused_errors() {
    each_backend(|b| {
        let p = pool(b, 1);
        let (timed_out, refused) = p.run_on(0, || {
            let l = TcpListener::bind(([127, 0, 0, 1], 0).into()).unwrap();
            let s = TcpStream::connect(l.local_addr()).unwrap();
            let (_peer, _) = l.accept().unwrap();
            let start = clock::now();
            let mut buf = [0u8; 8];
            let r = s.recv_until(&mut buf, Some(start + Duration::from_millis(20)));
            assert!(clock::now() - start >= Duration::from_millis(20));
            // A port nobody listens on.
            let dead = {
                let l2 = TcpListener::bind(([127, 0, 0, 1], 0).into()).unwrap();
                l2.local_addr()
            };
            let c = TcpStream::connect(dead).map(|_| ()).map_err(|e| e.kind());
            (r.map_err(|e| e.raw_os_error()), c)
        });
        assert_eq!(timed_out, Err(Some(libc::ETIMEDOUT)));
        assert_eq!(refused, Err(std::io::ErrorKind::ConnectionRefused));
        p.shutdown();
    });
}

#[test]
fn files_write_fsync_read_rename() {
    each_backend(|b| {
        let p = pool(b, 1);
        let dir = std::env::temp_dir().join(format!("damselfly-fs-{}-{b:?}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d2 = dir.clone();
        p.run_on(0, move || {
            let tmp = d2.join("snap.tmp");
            let f = File::create(&tmp).unwrap();
            let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
            f.write_all_at(&data, 0).unwrap();
            f.write_all_at(b"HEAD", 0).unwrap();
            f.fsync().unwrap();
            assert_eq!(f.len().unwrap(), data.len() as u64);
            drop(f);
            fs::rename(&tmp, d2.join("snap.rdb")).unwrap();
            let f = File::open(d2.join("snap.rdb")).unwrap();
            let mut back = vec![0u8; data.len() + 10];
            let n = f.read_full_at(&mut back, 0).unwrap();
            assert_eq!(n, data.len());
            assert_eq!(&back[..4], b"HEAD");
            assert_eq!(&back[4..n], &data[4..]);
            assert!(File::open(&tmp).is_err());
        });
        std::fs::remove_dir_all(&dir).unwrap();
        p.shutdown();
    });
}
