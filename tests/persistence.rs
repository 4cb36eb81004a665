//! Snapshots end to end: RDB files both ways with the real redis-server 7.0 (every type and
//! encoding, deadlines, several databases), a BGSAVE taken while clients write is one
//! instant, kill -9 during a BGSAVE leaves the previous file, corrupt files refuse to start.
// Test threads are plain threads, not proactors: they may sleep and read the wall clock.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{ok, simple, Client};
use damselfly_protocol::Reply;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("df-persist-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The damselfly binary as a child process, stopped by PID on drop.
struct Damselfly {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Damselfly {
    fn spawn(dir: &Path, extra: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_damselfly"))
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "--proactor_threads",
                "2",
            ])
            .arg("--dir")
            .arg(dir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start damselfly")
    }

    fn start(dir: &Path, extra: &[&str]) -> Damselfly {
        let mut child = Damselfly::spawn(dir, extra);
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(String::new()));
        let addr = loop {
            let line = lines
                .next()
                .expect("damselfly exited before listening")
                .unwrap();
            log.lock().unwrap().push_str(&line);
            if let Some(rest) = line.split("listening on ").nth(1) {
                let a = rest.split_whitespace().next().unwrap();
                break a.trim_end_matches(',').parse().unwrap();
            }
        };
        let sink = log.clone();
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                sink.lock().unwrap().push_str(&l);
            }
        });
        Damselfly { child, addr, log }
    }

    /// Starting on `dir` must fail; returns the log.
    fn refuse(dir: &Path) -> String {
        let out = Damselfly::spawn(dir, &["--df_snapshot_format", "yes"])
            .wait_with_output()
            .unwrap();
        assert!(!out.status.success(), "started on a bad file");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn client(&self) -> Client {
        Client::connect(self.addr)
    }
}

impl Drop for Damselfly {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// redis-server on `dir/dbfilename`; fails (not skips) under CI when it is missing.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(dir: &Path, file: &str) -> Option<Redis> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "redis-server is missing and CI=true"
            );
            eprintln!("redis-server not installed: skipping");
            return None;
        }
        for _ in 0..5 {
            let port = common::reference::free_port();
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--dbfilename", file])
                .arg("--dir")
                .arg(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start redis-server");
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(20) {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                    drop(s);
                    let mut c = Client::connect(SocketAddr::from(([127, 0, 0, 1], port)));
                    // Up and done loading.
                    if matches!(c.cmd(&["PING"]), Reply::Simple(_)) {
                        return Some(Redis { child, port });
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start");
    }

    fn client(&self) -> Client {
        Client::connect(SocketAddr::from(([127, 0, 0, 1], self.port)))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s(r: Reply) -> Vec<u8> {
    match r {
        Reply::Bulk(b) | Reply::Simple(b) => b,
        Reply::Integer(i) => i.to_string().into_bytes(),
        other => panic!("not a string: {other:?}"),
    }
}

fn list(r: Reply) -> Vec<Vec<u8>> {
    match r {
        Reply::Array(v) => v.into_iter().map(s).collect(),
        other => panic!("not an array: {other:?}"),
    }
}

fn int(r: Reply) -> i64 {
    match r {
        Reply::Integer(i) => i,
        other => panic!("not an integer: {other:?}"),
    }
}

/// Every key of databases 0..4 as (type, normalized contents, deadline present + pttl).
type Model = BTreeMap<(usize, Vec<u8>), (Vec<u8>, Vec<Vec<u8>>, i64)>;

fn model(c: &mut Client) -> Model {
    model_of(c, 0..4)
}

fn model_of(c: &mut Client, dbs: std::ops::Range<usize>) -> Model {
    let mut m = Model::new();
    for db in dbs {
        assert_eq!(c.cmd(&["SELECT", &db.to_string()]), ok());
        for key in list(c.cmd(&["KEYS", "*"])) {
            let k = key.as_slice();
            let t = s(c.cmd_bytes(&[b"TYPE", k]));
            let mut v = match t.as_slice() {
                b"string" => vec![s(c.cmd_bytes(&[b"GET", k]))],
                b"list" => list(c.cmd_bytes(&[b"LRANGE", k, b"0", b"-1"])),
                b"set" => list(c.cmd_bytes(&[b"SMEMBERS", k])),
                b"hash" => {
                    let flat = list(c.cmd_bytes(&[b"HGETALL", k]));
                    flat.chunks(2)
                        .map(|p| [p[0].clone(), b"=".to_vec(), p[1].clone()].concat())
                        .collect()
                }
                b"zset" => list(c.cmd_bytes(&[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"])),
                other => panic!("type {}", String::from_utf8_lossy(other)),
            };
            if matches!(t.as_slice(), b"set" | b"hash") {
                v.sort();
            }
            let ttl = int(c.cmd_bytes(&[b"PTTL", k]));
            m.insert((db, key), (t, v, ttl));
        }
    }
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
    m
}

fn assert_same(want: &Model, got: &Model) {
    assert_eq!(want.len(), got.len(), "key counts differ");
    for (k, (t, v, ttl)) in want {
        let (t2, v2, ttl2) = got.get(k).unwrap_or_else(|| panic!("missing key {k:?}"));
        assert_eq!((t, v), (t2, v2), "key {k:?}");
        assert_eq!(*ttl < 0, *ttl2 < 0, "deadline of {k:?}: {ttl} vs {ttl2}");
        assert!((ttl - ttl2).abs() < 10_000, "ttl of {k:?}: {ttl} vs {ttl2}");
    }
}

/// Every type in every encoding both servers use, deadlines, four databases.
fn fill(c: &mut Client) {
    let run = |c: &mut Client, args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = c.cmd(&a);
        assert!(!matches!(r, Reply::Error(_)), "{args:?}: {r:?}");
    };
    let seq = |n: usize, f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>();
    for db in 0..4usize {
        run(c, vec!["SELECT".into(), db.to_string()]);
        run(c, vec!["SET".into(), "int".into(), "12345".into()]);
        run(c, vec!["SET".into(), "neg".into(), "-9000000000".into()]);
        run(c, vec!["SET".into(), "str".into(), format!("hello{db}")]);
        run(c, vec!["SET".into(), "long".into(), "abc".repeat(500)]);
        run(
            c,
            vec!["SET".into(), "bin".into(), "\u{1}\u{0}\u{ff}".into()],
        );
        run(
            c,
            vec![
                "SET".into(),
                "ttl".into(),
                "v".into(),
                "EX".into(),
                "5000".into(),
            ],
        );
        let mut l = vec!["RPUSH".into(), "small_list".into()];
        l.extend(seq(10, &|i| format!("e{i}")));
        run(c, l);
        let mut l = vec!["RPUSH".into(), "big_list".into()];
        l.extend(seq(3000, &|i| {
            format!("element-{i}-{}", "x".repeat(i % 40))
        }));
        run(c, l);
        let mut l = vec!["SADD".into(), "intset".into()];
        l.extend(seq(50, &|i| (i * 7).to_string()));
        run(c, l);
        let mut l = vec!["SADD".into(), "small_set".into()];
        l.extend(seq(20, &|i| format!("m{i}")));
        run(c, l);
        let mut l = vec!["SADD".into(), "big_set".into()];
        l.extend(seq(1000, &|i| format!("member:{i}")));
        run(c, l);
        let mut l = vec!["HSET".into(), "small_hash".into()];
        l.extend(seq(20, &|i| {
            if i % 2 == 0 {
                format!("f{i}")
            } else {
                i.to_string()
            }
        }));
        run(c, l);
        let mut l = vec!["HSET".into(), "big_hash".into()];
        l.extend(seq(600, &|i| {
            if i % 2 == 0 {
                format!("field{i}")
            } else {
                "v".repeat(i % 100) + "."
            }
        }));
        run(c, l);
        let mut l = vec!["ZADD".into(), "small_zset".into()];
        l.extend(seq(20, &|i| {
            if i % 2 == 0 {
                format!("{}.5", i)
            } else {
                format!("z{i}")
            }
        }));
        run(c, l);
        let mut l = vec!["ZADD".into(), "big_zset".into()];
        l.extend(seq(600, &|i| {
            if i % 2 == 0 {
                format!("{}", i as f64 / 3.0)
            } else {
                format!("member{i}")
            }
        }));
        run(c, l);
        run(
            c,
            vec![
                "ZADD".into(),
                "inf_zset".into(),
                "-inf".into(),
                "a".into(),
                "inf".into(),
                "b".into(),
            ],
        );
        run(
            c,
            vec![
                "PFADD".into(),
                "hll".into(),
                "a".into(),
                "b".into(),
                "c".into(),
            ],
        );
        run(c, vec!["EXPIRE".into(), "big_hash".into(), "100000".into()]);
    }
    run(c, vec!["SELECT".into(), "0".into()]);
}

const LIBRARY: &str = "#!lua name=snaplib\nredis.register_function('snapfn', function() return 'from the snapshot' end)";

fn wait_bgsave_done(c: &mut Client) {
    let start = Instant::now();
    loop {
        let info = String::from_utf8(s(c.cmd(&["INFO", "persistence"]))).unwrap();
        if info.contains("rdb_bgsave_in_progress:0") {
            assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "BGSAVE never ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn redis_server_file_loads_in_damselfly() {
    let dir = temp_dir("from-redis");
    let Some(redis) = Redis::start(&dir, "redis.rdb") else {
        return;
    };
    let mut rc = redis.client();
    fill(&mut rc);
    assert_eq!(
        rc.cmd(&["FUNCTION", "LOAD", LIBRARY]),
        common::bulk("snaplib")
    );
    let want = model(&mut rc);
    assert_eq!(rc.cmd(&["SAVE"]), ok());
    drop(redis);
    let df = Damselfly::start(&dir, &["--dbfilename", "redis.rdb"]);
    let mut c = df.client();
    let got = model(&mut c);
    assert_same(&want, &got);
    assert_eq!(
        c.cmd(&["FCALL", "snapfn", "0"]),
        common::bulk("from the snapshot")
    );
}

#[test]
fn damselfly_file_loads_in_redis_server() {
    let dir = temp_dir("to-redis");
    let df = Damselfly::start(&dir, &["--dbfilename", "df.rdb"]);
    let mut c = df.client();
    fill(&mut c);
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", LIBRARY]),
        common::bulk("snaplib")
    );
    let want = model(&mut c);
    assert_eq!(c.cmd(&["SAVE"]), ok());
    let Some(redis) = Redis::start(&dir, "df.rdb") else {
        return;
    };
    let mut rc = redis.client();
    assert_same(&want, &model(&mut rc));
    let fcall = &["FCALL", "snapfn", "0"];
    assert_eq!(rc.cmd(fcall), common::bulk("from the snapshot"));
    // And back: DEBUG RELOAD keeps everything.
    assert_eq!(c.cmd(&["DEBUG", "RELOAD"]), ok());
    assert_same(&want, &model(&mut c));
    assert_eq!(c.cmd(fcall), common::bulk("from the snapshot"));
}

#[test]
fn commands_and_errors_match_redis() {
    let dir = temp_dir("commands");
    let df = Damselfly::start(&dir, &[]);
    let mut c = df.client();
    let before = int(c.cmd(&["LASTSAVE"]));
    assert_eq!(c.cmd(&["BGSAVE", "now"]), common::err("ERR syntax error"));
    assert_eq!(c.cmd(&["SET", "a", "1"]), ok());
    let info = String::from_utf8(s(c.cmd(&["INFO", "persistence"]))).unwrap();
    assert!(info.contains("rdb_changes_since_last_save:1"), "{info}");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        c.cmd(&["BGSAVE", "SCHEDULE"]),
        simple("Background saving started")
    );
    wait_bgsave_done(&mut c);
    assert!(int(c.cmd(&["LASTSAVE"])) > before);
    let info = String::from_utf8(s(c.cmd(&["INFO", "persistence"]))).unwrap();
    assert!(info.contains("rdb_changes_since_last_save:0"), "{info}");
    assert!(info.contains("rdb_saves:1"), "{info}");
    assert!(dir.join("dump.rdb").exists());
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "dir", "/nonexistent-dir"]),
        common::err("ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory")
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "dbfilename", "a/b.rdb"]),
        common::err("ERR CONFIG SET failed (possibly related to argument 'dbfilename') - dbfilename can't be a path, just a filename")
    );
    let other = temp_dir("commands-other");
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "dir", other.to_str().unwrap()]),
        ok()
    );
    assert_eq!(c.cmd(&["SAVE"]), ok());
    assert!(other.join("dump.rdb").exists());
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "dir", dir.to_str().unwrap()]),
        ok()
    );
    assert_eq!(c.cmd(&["CONFIG", "SET", "dbfilename", "other.rdb"]), ok());
    assert_eq!(c.cmd(&["SAVE"]), ok());
    assert!(dir.join("other.rdb").exists());
    // SHUTDOWN SAVE writes the file before the server exits.
    assert_eq!(c.cmd(&["SET", "b", "2"]), ok());
    c.send_raw(&Client::encode(&[b"SHUTDOWN", b"SAVE"]));
    assert!(c.is_closed());
    let df2 = Damselfly::start(&dir, &["--dbfilename", "other.rdb"]);
    let mut c2 = df2.client();
    assert_eq!(c2.cmd(&["GET", "b"]), common::bulk("2"));
}

/// With save points set, SIGTERM saves before exiting; a save point that is reached starts a
/// background save on its own; BGSAVE inside MULTI is scheduled, as in Redis.
#[test]
fn sigterm_and_save_points_save() {
    let dir = temp_dir("sigterm");
    let mut df = Damselfly::start(&dir, &["--save", "1 2"]);
    let mut c = df.client();
    assert_eq!(
        c.cmd(&["CONFIG", "GET", "save"]),
        common::arr(vec![common::bulk("save"), common::bulk("1 2")])
    );
    assert_eq!(c.cmd(&["SET", "a", "1"]), ok());
    assert_eq!(c.cmd(&["SET", "b", "2"]), ok());
    let start = Instant::now();
    while info_field(&mut c, "rdb_saves") == "0" {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the save point never fired"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_bgsave_done(&mut c);
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["BGSAVE"]), simple("QUEUED"));
    assert_eq!(
        c.cmd(&["EXEC"]),
        common::arr(vec![simple("Background saving scheduled")])
    );
    assert_eq!(c.cmd(&["CONFIG", "SET", "save", "3600 1"]), ok());
    assert_eq!(c.cmd(&["SET", "c", "3"]), ok());
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(df.child.id() as i32, libc::SIGTERM) };
    let status = df.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let df = Damselfly::start(&dir, &[]);
    assert_eq!(df.client().cmd(&["GET", "c"]), common::bulk("3"));
}

/// With save points set, FLUSHALL stops a running BGSAVE and saves the empty dataset, as
/// Redis does: a restart does not bring the flushed keys back.
#[test]
fn flushall_with_save_points_stops_the_save_and_saves_empty() {
    let dir = temp_dir("flushall-save");
    let mut df = Damselfly::start(&dir, &["--save", "3600 1000000"]);
    let mut c = df.client();
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "20000"]), ok());
    assert_eq!(c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "100"]), ok());
    assert_eq!(c.cmd(&["BGSAVE"]), simple("Background saving started"));
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "1");
    assert_eq!(c.cmd(&["FLUSHALL"]), ok());
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "0");
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(df.child.id() as i32, libc::SIGKILL) };
    let _ = df.child.wait();
    let df = Damselfly::start(&dir, &[]);
    assert_eq!(df.client().cmd(&["DBSIZE"]), common::int(0));
}

/// A save that cannot write its file fails cleanly (SAVE's error, BGSAVE's status), stops
/// every walker, and the next save works.
#[test]
fn a_failed_save_reports_an_error_and_the_next_save_works() {
    let dir = temp_dir("failing");
    let gone = temp_dir("failing-gone");
    let df = Damselfly::start(&dir, &[]);
    let mut c = df.client();
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "50000"]), ok());
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "dir", gone.to_str().unwrap()]),
        ok()
    );
    std::fs::remove_dir_all(&gone).unwrap();
    assert_eq!(c.cmd(&["SAVE"]), common::err("ERR"));
    assert_eq!(c.cmd(&["BGSAVE"]), simple("Background saving started"));
    let start = Instant::now();
    while info_field(&mut c, "rdb_bgsave_in_progress") != "0" {
        assert!(start.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(info_field(&mut c, "rdb_last_bgsave_status"), "err");
    assert_eq!(c.cmd(&["SET", "after", "1"]), ok());
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "dir", dir.to_str().unwrap()]),
        ok()
    );
    assert_eq!(c.cmd(&["BGSAVE"]), simple("Background saving started"));
    wait_bgsave_done(&mut c);
    drop(df);
    let df = Damselfly::start(&dir, &[]);
    assert_eq!(df.client().cmd(&["DBSIZE"]), common::int(50001));
}

/// While writers run (values carry per-writer sequence numbers, one writer flushes its
/// database now and then), a BGSAVE is one instant: each writer's keys in the file are
/// exactly what the first p of its acknowledged operations made, for some p.
#[test]
fn bgsave_is_a_point_in_time_cut_under_writes() {
    let dir = temp_dir("pit");
    let df = Damselfly::start(&dir, &[]);
    let mut c = df.client();
    assert_eq!(c.cmd(&["SELECT", "3"]), ok());
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "1000000"]), ok());
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
    let stop = Arc::new(AtomicBool::new(false));
    const WRITERS: usize = 6;
    let mut handles = Vec::new();
    for w in 0..WRITERS {
        let (stop, addr) = (stop.clone(), df.addr);
        handles.push(std::thread::spawn(move || {
            let mut c = Client::connect(addr);
            // Writer 0 owns database 1 and flushes it; the others share database 0.
            let db = if w == 0 { 1 } else { 0 };
            assert_eq!(c.cmd(&["SELECT", &db.to_string()]), ok());
            let mut ops: Vec<(u8, String, u64)> = Vec::new();
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) || seq < 2000 {
                seq += 1;
                let key = format!("w{w}:k{}", seq % 97);
                let op = if w == 0 && seq.is_multiple_of(500) {
                    assert_eq!(c.cmd(&["FLUSHDB"]), ok());
                    b'F'
                } else if seq.is_multiple_of(3) {
                    let list = format!("w{w}:list{}", seq % 5);
                    c.cmd(&["RPUSH", &list, &seq.to_string()]);
                    ops.push((b'L', list, seq));
                    continue;
                } else if seq.is_multiple_of(11) {
                    c.cmd(&["DEL", &key]);
                    b'D'
                } else {
                    assert_eq!(c.cmd(&["SET", &key, &seq.to_string()]), ok());
                    b'S'
                };
                ops.push((op, key, seq));
            }
            (w, db, ops)
        }));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(c.cmd(&["BGSAVE"]), simple("Background saving started"));
    wait_bgsave_done(&mut c);
    stop.store(true, Ordering::Relaxed);
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    drop(c);
    drop(df);
    let loaded = Damselfly::start(&dir, &[]);
    let mut c = loaded.client();
    let got = model_of(&mut c, 0..2);
    assert_eq!(c.cmd(&["SELECT", "3"]), ok());
    assert_eq!(
        c.cmd(&["DBSIZE"]),
        common::int(1000000),
        "the preloaded database"
    );
    for (w, db, ops) in results {
        let prefix = format!("w{w}:");
        let mine: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = got
            .iter()
            .filter(|((d, k), _)| *d == db && k.starts_with(prefix.as_bytes()))
            .map(|((_, k), (_, v, _))| (k.clone(), v.clone()))
            .collect();
        // Replay prefixes of this writer's operations until one matches the file.
        let mut state: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
        let mut matched = state == mine;
        for (op, key, seq) in &ops {
            if matched {
                break;
            }
            let k = key.as_bytes().to_vec();
            match op {
                b'S' => {
                    state.insert(k, vec![seq.to_string().into_bytes()]);
                }
                b'L' => state
                    .entry(k)
                    .or_default()
                    .push(seq.to_string().into_bytes()),
                b'D' => {
                    state.remove(&k);
                }
                _ => state.clear(),
            }
            matched = state == mine;
        }
        assert!(
            matched,
            "writer {w}: the file is no prefix of its {} operations",
            ops.len()
        );
    }
}

/// FLUSHDB, FLUSHALL, SWAPDB, overwrites and deletes during a BGSAVE: the file holds the
/// databases as they were at the cut.
#[test]
fn bgsave_keeps_what_flushes_and_swapdb_change_during_it() {
    let dir = temp_dir("flushes");
    let df = Damselfly::start(&dir, &[]);
    let mut c = df.client();
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "20000"]), ok());
    assert_eq!(c.cmd(&["SELECT", "1"]), ok());
    assert_eq!(c.cmd(&["SET", "one", "1", "EX", "1000"]), ok());
    assert_eq!(c.cmd(&["RPUSH", "list", "a", "b", "c"]), common::int(3));
    assert_eq!(c.cmd(&["SELECT", "2"]), ok());
    assert_eq!(c.cmd(&["HSET", "h", "f", "v"]), common::int(1));
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
    let want = model_of(&mut c, 0..3);
    assert_eq!(c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "150"]), ok());
    assert_eq!(c.cmd(&["BGSAVE"]), simple("Background saving started"));
    for i in 0..200 {
        let k = format!("key:{}", i * 97);
        assert_eq!(c.cmd(&["SET", &k, "changed"]), ok());
        c.cmd(&["DEL", &format!("key:{}", i * 89 + 1)]);
        c.cmd(&["SET", &format!("new:{i}"), "x"]);
    }
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "1");
    assert_eq!(c.cmd(&["SWAPDB", "0", "2"]), ok());
    assert_eq!(c.cmd(&["SELECT", "2"]), ok());
    assert_eq!(c.cmd(&["FLUSHDB"]), ok());
    assert_eq!(c.cmd(&["SELECT", "1"]), ok());
    assert_eq!(c.cmd(&["LPUSH", "list", "z"]), common::int(4));
    assert_eq!(c.cmd(&["FLUSHALL"]), ok());
    assert_eq!(c.cmd(&["SET", "after", "1"]), ok());
    assert_eq!(
        info_field(&mut c, "rdb_bgsave_in_progress"),
        "1",
        "the save ended too soon"
    );
    wait_bgsave_done(&mut c);
    drop(c);
    drop(df);
    let df = Damselfly::start(&dir, &[]);
    assert_same(&want, &model_of(&mut df.client(), 0..3));
}

fn info_field(c: &mut Client, field: &str) -> String {
    let info = String::from_utf8(s(c.cmd(&["INFO", "persistence"]))).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn kill_during_bgsave_keeps_the_previous_file_and_bad_files_refuse_to_start() {
    let dir = temp_dir("crash");
    let file = dir.join("dump.rdb");
    let mut df = Damselfly::start(&dir, &[]);
    let mut c = df.client();
    assert_eq!(c.cmd(&["SET", "marker", "before"]), ok());
    assert_eq!(c.cmd(&["SAVE"]), ok());
    let previous = std::fs::read(&file).unwrap();
    assert_eq!(c.cmd(&["DEBUG", "POPULATE", "200000"]), ok());
    // 20 us per key: the save runs for seconds.
    assert_eq!(c.cmd(&["CONFIG", "SET", "rdb-key-save-delay", "20"]), ok());
    assert_eq!(c.cmd(&["BGSAVE"]), simple("Background saving started"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(info_field(&mut c, "rdb_bgsave_in_progress"), "1");
    assert_eq!(
        c.cmd(&["BGSAVE"]),
        common::err("ERR Background save already in progress")
    );
    assert_eq!(
        c.cmd(&["SAVE"]),
        common::err("ERR Background save already in progress")
    );
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(df.child.id() as i32, libc::SIGKILL) };
    let _ = df.child.wait();
    assert!(
        std::fs::read(&file).unwrap() == previous,
        "the previous file changed"
    );
    let df = Damselfly::start(&dir, &[]);
    let mut c = df.client();
    assert_eq!(c.cmd(&["GET", "marker"]), common::bulk("before"));
    assert_eq!(c.cmd(&["DBSIZE"]), common::int(1));
    assert!(df.log.lock().unwrap().contains("DB loaded from disk"));
    drop(c);
    drop(df);
    // Truncated, bit-flipped and foreign files refuse to start with a clear error.
    let good = std::fs::read(&file).unwrap();
    std::fs::write(&file, &good[..good.len() / 2]).unwrap();
    let log = Damselfly::refuse(&dir);
    assert!(log.contains("can't load"), "{log}");
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x10;
    std::fs::write(&file, &flipped).unwrap();
    let log = Damselfly::refuse(&dir);
    assert!(log.contains("checksum"), "{log}");
    std::fs::write(&file, b"not a snapshot at all").unwrap();
    let log = Damselfly::refuse(&dir);
    assert!(log.contains("not an RDB file"), "{log}");
}

/// DFS snapshots: one file per shard plus a summary; a second save replaces the generation;
/// the files load on start (every type, deadline and database) and through DEBUG RELOAD; a
/// damaged shard file refuses to start.
#[test]
fn dfs_snapshots_round_trip_and_refuse_damage() {
    let dir = temp_dir("dfs");
    let df = Damselfly::start(&dir, &["--df_snapshot_format", "yes"]);
    let mut c = df.client();
    fill(&mut c);
    assert_eq!(
        c.cmd(&["FUNCTION", "LOAD", LIBRARY]),
        common::bulk("snaplib")
    );
    let want = model(&mut c);
    assert_eq!(c.cmd(&["SAVE"]), ok());
    assert_eq!(c.cmd(&["BGSAVE"]), simple("Background saving started"));
    wait_bgsave_done(&mut c);
    let shard_files = || {
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".dfs") && !n.ends_with("summary.dfs"))
            .collect();
        v.sort();
        v
    };
    assert_eq!(shard_files().len(), 2, "{:?}", shard_files());
    assert!(dir.join("dump-summary.dfs").exists());
    assert!(!dir.join("dump.rdb").exists());
    assert_eq!(c.cmd(&["DEBUG", "RELOAD"]), ok());
    assert_same(&want, &model(&mut c));
    drop(c);
    drop(df);
    let df = Damselfly::start(&dir, &["--df_snapshot_format", "yes"]);
    let mut c = df.client();
    assert_same(&want, &model(&mut c));
    assert_eq!(
        c.cmd(&["FCALL", "snapfn", "0"]),
        common::bulk("from the snapshot")
    );
    drop(c);
    drop(df);
    let victim = dir.join(&shard_files()[0]);
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&victim, &bytes).unwrap();
    let log = Damselfly::refuse(&dir);
    assert!(log.contains("corrupt DFS shard file"), "{log}");
}
