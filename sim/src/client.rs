//! One simulated client: a connection, a seeded operation mix, and the checks of each reply.
//!
//! Keys are of three kinds. Private keys (`p<client>:<gen>:<j>`) are touched by this client
//! only, so their history is sequential and every reply must equal the model's, with expiry
//! modelled as a window of virtual time. Shared groups (`g<g>:<i>`) are only ever written all
//! together (MSET, DEL) so any MGET of a group sees all its keys equal; shared pairs are only
//! changed together in MULTI/EXEC. Shared counters (`ctr<k>`) record every INCR for the
//! linearizability check after the run.
//!
//! A command whose connection fails before its reply has an unknown outcome: the client then
//! reconnects and moves its private keys to a new generation (the lost command may still run
//! later), and counts the INCR as unknown.

mod blocking;
mod families;
mod more;
mod moves;
mod pipeline;

pub use blocking::{check as check_queue, QueueLog, QUEUE_KEY};
pub use moves::{check as check_moves, MOVE_FROM, MOVE_TO};

use crate::check::{self, Counters};
use crate::linearize::{self, RegOp};
use crate::persist::SavedModel;
use crate::resp::{self, Reply};
use crate::Plan;
use damselfly_runtime::clock;
use damselfly_runtime::fiber;
use damselfly_runtime::net::TcpStream;
use damselfly_runtime::sim::Rng;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

/// A reply must arrive within this much virtual time, or the run fails (liveness).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// History events each client keeps for a failure report.
const TAIL: usize = 64;

/// What a client hands back when it is done.
pub struct Report {
    pub failures: Vec<String>,
    pub counters: Counters,
    /// Every operation on each shared register, for the linearizability check.
    pub registers: Vec<Vec<linearize::Event>>,
    /// Client 0's keys at each SAVE it sent (seeds with snapshots), and at its end.
    pub saves: Vec<SavedModel>,
    pub final_model: SavedModel,
    pub hash: u64,
    pub ops: u64,
    pub tail: VecDeque<(u64, String)>,
    pub queue: QueueLog,
}

/// A private key's value and, when it has a TTL, the window of wall-clock milliseconds its
/// deadline lies in (the server fixes it somewhere between sending and the reply).
struct Entry {
    value: Vec<u8>,
    expiry: Option<(u64, u64)>,
}

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Presence {
    Present,
    Absent,
    Maybe,
}

/// Why a call did not return a reply.
enum CallError {
    /// The connection failed: the command may or may not have run.
    Lost,
    /// A check failed; the message says what.
    Failed(String),
}

/// When a command was sent and answered, in wall-clock ms and monotonic ns of virtual time.
#[derive(Copy, Clone)]
struct Span {
    sent_ms: u64,
    recv_ms: u64,
    sent_ns: u64,
    recv_ns: u64,
}

pub struct Client {
    id: usize,
    addr: SocketAddr,
    rng: Rng,
    conn: Option<(TcpStream, Vec<u8>)>,
    gen: u32,
    private: BTreeMap<Vec<u8>, Entry>,
    counters: BTreeMap<Vec<u8>, i64>,
    shared: Counters,
    registers: Vec<Vec<linearize::Event>>,
    saves: Vec<SavedModel>,
    saver: bool,
    failures: Vec<String>,
    hash: u64,
    ops: u64,
    seq: u64,
    tail: VecDeque<(u64, String)>,
    disconnect_per_million: u32,
    models: families::Models,
    queue: QueueLog,
}

impl Client {
    pub fn new(id: usize, plan: &Plan, addr: SocketAddr) -> Client {
        Client {
            id,
            addr,
            rng: Rng::new(plan.seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xc1),
            conn: None,
            gen: 0,
            private: BTreeMap::new(),
            counters: BTreeMap::new(),
            shared: Counters::new(plan.counters),
            registers: vec![Vec::new(); plan.registers],
            saves: Vec::new(),
            saver: plan.persist && id == 0,
            failures: Vec::new(),
            hash: 0,
            ops: 0,
            seq: 0,
            tail: VecDeque::new(),
            models: Default::default(),
            queue: Default::default(),
            // The quiet phase's verifier never drops its own connection.
            disconnect_per_million: if id == usize::MAX {
                0
            } else {
                plan.disconnect_per_million
            },
        }
    }

    /// This client's own keys as its model has them now.
    fn model_now(&self, acknowledged: bool) -> SavedModel {
        SavedModel {
            gen: self.gen,
            values: self
                .private
                .iter()
                .map(|(k, e)| (k.clone(), (e.value.clone(), e.expiry.is_some())))
                .collect(),
            counters: self.counters.clone(),
            acknowledged,
        }
    }

    pub fn into_report(self) -> Report {
        let final_model = self.model_now(false);
        Report {
            saves: self.saves,
            final_model,
            failures: self.failures,
            counters: self.shared,
            registers: self.registers,
            hash: self.hash,
            ops: self.ops,
            tail: self.tail,
            queue: self.queue,
        }
    }

    fn event(&mut self, text: String) {
        let now = clock::now().as_nanos();
        self.hash = check::fold(self.hash, check::hash_bytes(text.as_bytes()));
        self.hash = check::fold(self.hash, now);
        let who = if self.id == usize::MAX {
            "verifier".to_string()
        } else {
            format!("client {}", self.id)
        };
        self.tail
            .push_back((now, format!("t={:.6}s {who}: {text}", now as f64 / 1e9)));
        if self.tail.len() > TAIL {
            self.tail.pop_front();
        }
    }

    pub fn fail(&mut self, msg: String) {
        let who = if self.id == usize::MAX {
            "verifier".to_string()
        } else {
            format!("client {}", self.id)
        };
        self.event(format!("FAILED: {msg}"));
        self.failures.push(format!("{who}: {msg}"));
    }

    fn lose_connection(&mut self) {
        if let Some((s, _)) = self.conn.take() {
            let _ = s.close();
        }
        // A command of the lost connection may still run: start over on fresh private keys.
        self.gen += 1;
        self.private.clear();
        self.counters.clear();
        self.models.clear();
    }

    /// Sends one command and reads its reply.
    fn call(&mut self, args: &[&[u8]]) -> Result<(Reply, Span), CallError> {
        let (mut replies, span) = self.pipeline(&[args])?;
        Ok((replies.pop().expect("one reply"), span))
    }

    /// Sends `cmds` in one write (a pipeline) and reads their replies, in order. The span runs
    /// from before the write to after the last reply.
    fn pipeline(&mut self, cmds: &[&[&[u8]]]) -> Result<(Vec<Reply>, Span), CallError> {
        let text = cmds
            .iter()
            .map(|args| {
                args.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join(" | ");
        if self.conn.is_none() {
            match TcpStream::connect_from_sim_node(
                crate::client_node(self.addr, self.id),
                self.addr,
            ) {
                Ok(s) => self.conn = Some((s, Vec::new())),
                Err(e) => return Err(CallError::Failed(format!("connect: {e}"))),
            }
        }
        self.ops += cmds.len() as u64;
        let mut out = Vec::new();
        for args in cmds {
            resp::encode(&mut out, args);
        }
        let sent_ms = clock::wall_now_ms();
        let sent_ns = clock::now().as_nanos();
        let s = self.conn.as_ref().expect("connected").0.clone();
        if let Err(e) = s.send_all(&out) {
            self.event(format!("{text} -> connection lost while sending ({e})"));
            self.lose_connection();
            return Err(CallError::Lost);
        }
        if self.rng.below(1_000_000) < self.disconnect_per_million as u64 {
            self.event(format!("{text} -> client disconnects before the reply"));
            self.lose_connection();
            return Err(CallError::Lost);
        }
        let deadline = clock::now() + REPLY_TIMEOUT;
        let mut replies = Vec::with_capacity(cmds.len());
        while replies.len() < cmds.len() {
            let buf = &mut self.conn.as_mut().expect("connected").1;
            match resp::parse(buf) {
                Ok(Some((r, used))) => {
                    buf.drain(..used);
                    replies.push(r);
                    continue;
                }
                Ok(None) => {}
                Err(e) => return Err(CallError::Failed(format!("{text}: bad reply: {e}"))),
            }
            let mut chunk = [0u8; 4096];
            match s.recv_until(&mut chunk, Some(deadline)) {
                Ok(0) => {
                    self.event(format!("{text} -> connection closed by the server"));
                    self.lose_connection();
                    return Err(CallError::Lost);
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(CallError::Failed(format!(
                        "{text}: no reply within {REPLY_TIMEOUT:?} of virtual time"
                    )));
                }
                Err(e) => {
                    self.event(format!("{text} -> connection lost ({e})"));
                    self.lose_connection();
                    return Err(CallError::Lost);
                }
            }
        }
        let span = Span {
            sent_ms,
            recv_ms: clock::wall_now_ms(),
            sent_ns,
            recv_ns: clock::now().as_nanos(),
        };
        let shown = replies
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(" | ");
        self.event(format!("{text} -> {shown}"));
        Ok((replies, span))
    }

    /// `call` for the checks: a lost connection is Ok(None), a failure is recorded.
    fn checked(&mut self, args: &[&[u8]]) -> Option<Option<(Reply, Span)>> {
        match self.call(args) {
            Ok(r) => Some(Some(r)),
            Err(CallError::Lost) => Some(None),
            Err(CallError::Failed(m)) => {
                self.fail(m);
                None
            }
        }
    }

    fn expect(&mut self, what: &str, got: &Reply, ok: bool) -> Option<()> {
        if ok {
            Some(())
        } else {
            self.fail(format!("{what}: unexpected reply {got}"));
            None
        }
    }

    fn private_key(&mut self, plan: &Plan) -> Vec<u8> {
        let j = self.rng.below(plan.private_keys as u64);
        format!("p{}:{}:{j}", self.id, self.gen).into_bytes()
    }

    fn value(&mut self) -> Vec<u8> {
        self.seq += 1;
        // Client, connection generation and sequence: the MONITOR watcher checks the order.
        format!("v{}.{}-{}", self.id, self.gen, self.seq).into_bytes()
    }

    fn presence(&self, key: &[u8], span: Span) -> Presence {
        match self.private.get(key) {
            None => Presence::Absent,
            Some(Entry { expiry: None, .. }) => Presence::Present,
            Some(Entry {
                expiry: Some((lo, hi)),
                ..
            }) => {
                if span.recv_ms < *lo {
                    Presence::Present
                } else if span.sent_ms > *hi {
                    Presence::Absent
                } else {
                    Presence::Maybe
                }
            }
        }
    }

    /// Checks a GET-like reply for a private key against the model and learns from it.
    fn check_value(&mut self, key: &[u8], got: &Reply, span: Span) -> Option<()> {
        let presence = self.presence(key, span);
        let want = self.private.get(key).map(|e| e.value.clone());
        let name = String::from_utf8_lossy(key).into_owned();
        match (presence, got) {
            (Presence::Absent, Reply::Bulk(None)) => {
                self.private.remove(key);
                Some(())
            }
            (Presence::Present | Presence::Maybe, Reply::Bulk(Some(v)))
                if Some(v) == want.as_ref() =>
            {
                Some(())
            }
            (Presence::Maybe, Reply::Bulk(None)) => {
                self.private.remove(key);
                Some(())
            }
            _ => {
                let want = match (&want, presence) {
                    (_, Presence::Absent) | (None, _) => "(nil)".to_string(),
                    (Some(v), p) => format!("\"{}\" ({p:?})", String::from_utf8_lossy(v)),
                };
                self.fail(format!("{name}: got {got}, the model says {want}"));
                None
            }
        }
    }

    /// One operation of the mix. None when a check failed (the client stops).
    fn step(&mut self, plan: &Plan) -> Option<()> {
        if self.saver && self.rng.chance(1, 40) {
            return self.save();
        }
        // The blocking pair: the popper BLPOPs often (so it blocks often), the others push.
        let queue_share = if self.id == blocking::POPPER { 50 } else { 8 };
        if plan.blocking && self.rng.below(100) < queue_share {
            return self.queue_step(plan);
        }
        if self.rng.below(100) < plan.shared_percent {
            return self.shared_step(plan);
        }
        if self.rng.chance(1, 4) {
            return self.collection_step(plan);
        }
        match self.rng.below(100) {
            0..=17 => {
                let (k, v) = (self.private_key(plan), self.value());
                let Some((r, _)) = self.checked(&[b"SET", &k, &v])? else {
                    return Some(());
                };
                self.expect("SET", &r, r == Reply::ok())?;
                self.private.insert(
                    k,
                    Entry {
                        value: v,
                        expiry: None,
                    },
                );
            }
            18..=35 => {
                let k = self.private_key(plan);
                let Some((r, span)) = self.checked(&[b"GET", &k])? else {
                    return Some(());
                };
                self.check_value(&k, &r, span)?;
            }
            36..=42 => {
                let keys: Vec<Vec<u8>> = (0..self.rng.between(1, 3))
                    .map(|_| self.private_key(plan))
                    .collect();
                let mut uniq = keys.clone();
                uniq.sort();
                uniq.dedup();
                let mut args: Vec<&[u8]> = vec![b"DEL"];
                args.extend(keys.iter().map(|k| k.as_slice()));
                let Some((r, span)) = self.checked(&args)? else {
                    return Some(());
                };
                let (mut lo, mut hi) = (0, 0);
                for k in &uniq {
                    match self.presence(k, span) {
                        Presence::Present => (lo, hi) = (lo + 1, hi + 1),
                        Presence::Maybe => hi += 1,
                        Presence::Absent => {}
                    }
                }
                let ok = matches!(r, Reply::Int(n) if (lo..=hi).contains(&n));
                self.expect(&format!("DEL (expected {lo}..={hi})"), &r, ok)?;
                for k in &uniq {
                    self.private.remove(k);
                }
            }
            43..=52 => {
                let j = self.rng.below(2);
                let k = format!("n{}:{}:{j}", self.id, self.gen).into_bytes();
                let Some((r, _)) = self.checked(&[b"INCR", &k])? else {
                    return Some(());
                };
                let want = self.counters.get(&k).copied().unwrap_or(0) + 1;
                self.expect(
                    &format!("INCR (expected {want})"),
                    &r,
                    r == Reply::Int(want),
                )?;
                self.counters.insert(k, want);
            }
            53..=59 => {
                let n = self.rng.between(2, 4);
                let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..n)
                    .map(|_| (self.private_key(plan), self.value()))
                    .collect();
                let mut args: Vec<&[u8]> = vec![b"MSET"];
                for (k, v) in &pairs {
                    args.push(k);
                    args.push(v);
                }
                let Some((r, _)) = self.checked(&args)? else {
                    return Some(());
                };
                self.expect("MSET", &r, r == Reply::ok())?;
                for (k, v) in pairs {
                    self.private.insert(
                        k,
                        Entry {
                            value: v,
                            expiry: None,
                        },
                    );
                }
            }
            60..=66 => {
                let keys: Vec<Vec<u8>> = (0..self.rng.between(2, 4))
                    .map(|_| self.private_key(plan))
                    .collect();
                let mut args: Vec<&[u8]> = vec![b"MGET"];
                args.extend(keys.iter().map(|k| k.as_slice()));
                let Some((r, span)) = self.checked(&args)? else {
                    return Some(());
                };
                let Reply::Array(Some(items)) = &r else {
                    return self.expect("MGET", &r, false);
                };
                if items.len() != keys.len() {
                    return self.expect("MGET length", &r, false);
                }
                for (k, item) in keys.iter().zip(items.clone()) {
                    self.check_value(k, &item, span)?;
                }
            }
            67..=80 => self.expire(plan)?,
            81..=88 => self.pipelined(plan)?,
            _ => {
                // Think time: lets expiry windows pass and other clients interleave.
                let ms = if self.rng.chance(1, 20) {
                    self.rng.between(500, 5_000)
                } else {
                    self.rng.between(0, 20)
                };
                fiber::sleep(Duration::from_millis(ms));
            }
        }
        Some(())
    }

    fn expire(&mut self, plan: &Plan) -> Option<()> {
        let k = self.private_key(plan);
        let ttl = if self.rng.chance(1, 2) {
            self.rng.between(1, 50)
        } else {
            self.rng.between(50, 3_000)
        };
        let t = ttl.to_string().into_bytes();
        let Some((r, span)) = self.checked(&[b"PEXPIRE", &k, &t])? else {
            return Some(());
        };
        match self.presence(&k, span) {
            Presence::Present => self.expect("PEXPIRE (expected 1)", &r, r == Reply::Int(1))?,
            Presence::Absent => self.expect("PEXPIRE (expected 0)", &r, r == Reply::Int(0))?,
            Presence::Maybe => {
                self.expect("PEXPIRE", &r, matches!(r, Reply::Int(0 | 1)))?;
            }
        }
        if r == Reply::Int(1) {
            let e = self.private.get_mut(&k).expect("present");
            e.expiry = Some((span.sent_ms + ttl, span.recv_ms + ttl));
        } else {
            self.private.remove(&k);
        }
        if self.rng.chance(1, 3) {
            fiber::sleep(Duration::from_millis(self.rng.between(0, ttl * 2)));
        }
        Some(())
    }

    fn group_keys(&mut self, plan: &Plan) -> Vec<Vec<u8>> {
        let g = self.rng.below(plan.groups as u64);
        (0..crate::GROUP_KEYS)
            .map(|i| format!("g{g}:{i}").into_bytes())
            .collect()
    }

    fn shared_step(&mut self, plan: &Plan) -> Option<()> {
        match self.rng.below(8) {
            6 | 7 => return self.register_step(plan),
            0 => {
                let keys = self.group_keys(plan);
                let v = self.value();
                let mut args: Vec<&[u8]> = vec![b"MSET"];
                for k in &keys {
                    args.push(k);
                    args.push(&v);
                }
                let Some((r, _)) = self.checked(&args)? else {
                    return Some(());
                };
                self.expect("MSET of a group", &r, r == Reply::ok())?;
            }
            1 => {
                let keys = self.group_keys(plan);
                let mut args: Vec<&[u8]> = vec![b"MGET"];
                args.extend(keys.iter().map(|k| k.as_slice()));
                let Some((r, _)) = self.checked(&args)? else {
                    return Some(());
                };
                self.expect(
                    "MGET of a group (all equal)",
                    &r,
                    check::all_equal(&r, keys.len()),
                )?;
            }
            2 => {
                let keys = self.group_keys(plan);
                let mut args: Vec<&[u8]> = vec![b"DEL"];
                args.extend(keys.iter().map(|k| k.as_slice()));
                let Some((r, _)) = self.checked(&args)? else {
                    return Some(());
                };
                let ok = matches!(r, Reply::Int(n) if n == 0 || n == keys.len() as i64);
                self.expect("DEL of a group (none or all)", &r, ok)?;
            }
            3 => {
                let k = self.rng.below(plan.counters as u64) as usize;
                let key = format!("ctr{k}").into_bytes();
                match self.call(&[b"INCR", &key]) {
                    Ok((Reply::Int(v), span)) => {
                        self.shared.record(k, v, span.sent_ns, span.recv_ns)
                    }
                    Ok((r, _)) => return self.expect("INCR of a shared counter", &r, false),
                    Err(CallError::Lost) => self.shared.unknown[k] += 1,
                    Err(CallError::Failed(m)) => {
                        self.fail(m);
                        return None;
                    }
                }
            }
            4 => {
                let p = self.rng.below(plan.pairs as u64);
                let (a, b) = (format!("pa{p}").into_bytes(), format!("pb{p}").into_bytes());
                let Some((r, _)) = self.checked(&[b"MULTI"])? else {
                    return Some(());
                };
                self.expect("MULTI", &r, r == Reply::ok())?;
                // Half the time the transaction reads both first: a step on both shards
                // before the writes, so its locks must hold from its first step to its last.
                let read_first = self.rng.chance(1, 2);
                let queued = Reply::Simple("QUEUED".into());
                if read_first {
                    let Some((r, _)) = self.checked(&[b"MGET", &a, &b])? else {
                        return Some(());
                    };
                    self.expect("MGET in MULTI", &r, r == queued)?;
                }
                for k in [&a, &b] {
                    let Some((r, _)) = self.checked(&[b"INCR", k])? else {
                        return Some(());
                    };
                    self.expect("INCR in MULTI", &r, r == queued)?;
                }
                let Some((r, _)) = self.checked(&[b"EXEC"])? else {
                    return Some(());
                };
                let ok = match &r {
                    Reply::Array(Some(v)) if !read_first => {
                        v.len() == 2 && v[0] == v[1] && matches!(v[0], Reply::Int(_))
                    }
                    Reply::Array(Some(v)) => match (&v[..], check::all_equal(&v[0], 2)) {
                        ([Reply::Array(Some(before)), Reply::Int(x), Reply::Int(y)], true) => {
                            let old = match &before[0] {
                                Reply::Bulk(None) => Some(0),
                                Reply::Bulk(Some(n)) => std::str::from_utf8(n)
                                    .ok()
                                    .and_then(|n| n.parse::<i64>().ok()),
                                _ => None,
                            };
                            x == y && old == Some(x - 1)
                        }
                        _ => false,
                    },
                    _ => false,
                };
                self.expect(
                    "EXEC of a pair (equal counts, one more than it read)",
                    &r,
                    ok,
                )?;
            }
            _ => {
                let p = self.rng.below(plan.pairs as u64);
                let (a, b) = (format!("pa{p}").into_bytes(), format!("pb{p}").into_bytes());
                let Some((r, _)) = self.checked(&[b"MGET", &a, &b])? else {
                    return Some(());
                };
                self.expect("MGET of a pair (equal)", &r, check::all_equal(&r, 2))?;
            }
        }
        Some(())
    }

    /// SAVE, remembering this client's keys as they are: the snapshot must hold exactly them.
    fn save(&mut self) -> Option<()> {
        let before = self.model_now(false);
        match self.call(&[b"SAVE"]) {
            // A SAVE of a lost connection may still be running: this one then saves nothing.
            Ok((Reply::Error(e), _)) if e == "ERR Background save already in progress" => {}
            Ok((r, _)) => {
                self.expect("SAVE", &r, r == Reply::ok())?;
                self.saves.push(SavedModel {
                    acknowledged: true,
                    ..before
                });
            }
            // It may have run: the model of the generation it ran in.
            Err(CallError::Lost) => self.saves.push(before),
            Err(CallError::Failed(m)) => {
                self.fail(m);
                return None;
            }
        }
        Some(())
    }

    /// One SET, GET or DEL of a shared register, recorded with its times for the
    /// linearizability check. Written values are unique: `w<client+1><seq>` as one number.
    fn register_step(&mut self, plan: &Plan) -> Option<()> {
        let k = self.rng.below(plan.registers as u64) as usize;
        let key = format!("r{k}").into_bytes();
        self.seq += 1;
        let written = ((self.id as u64).wrapping_add(1) << 32) | self.seq;
        let (op, args): (RegOp, Vec<Vec<u8>>) = match self.rng.below(5) {
            0 | 1 => (
                RegOp::Write(written),
                vec![b"SET".to_vec(), key, format!("w{written}").into_bytes()],
            ),
            2 => (RegOp::Delete, vec![b"DEL".to_vec(), key]),
            _ => (RegOp::Read(None), vec![b"GET".to_vec(), key]),
        };
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        let sent_ns = clock::now().as_nanos();
        let (op, recv_ns) = match self.call(&refs) {
            Ok((r, span)) => {
                let op = match (op, &r) {
                    (RegOp::Write(_), Reply::Simple(s)) if s == "OK" => op,
                    (RegOp::Delete, Reply::Int(0 | 1)) => op,
                    (RegOp::Read(_), Reply::Bulk(None)) => RegOp::Read(None),
                    (RegOp::Read(_), Reply::Bulk(Some(v))) => {
                        match std::str::from_utf8(v)
                            .ok()
                            .and_then(|s| s.strip_prefix('w'))
                            .and_then(|s| s.parse().ok())
                        {
                            Some(v) => RegOp::Read(Some(v)),
                            None => return self.expect("GET of a register", &r, false),
                        }
                    }
                    _ => return self.expect("register command", &r, false),
                };
                (op, Some(span.recv_ns))
            }
            // A read that got no reply tells nothing; a write may still apply, or never.
            Err(CallError::Lost) if matches!(op, RegOp::Read(_)) => return Some(()),
            Err(CallError::Lost) => (op, None),
            Err(CallError::Failed(m)) => {
                self.fail(m);
                return None;
            }
        };
        self.registers[k].push(linearize::Event {
            op,
            sent_ns,
            recv_ns,
        });
        Some(())
    }

    /// The quiet phase's final read of register `k`, added to its history.
    pub fn read_register(&mut self, k: usize) -> Option<linearize::Event> {
        let key = format!("r{k}").into_bytes();
        let sent_ns = clock::now().as_nanos();
        let r = self.must(&[b"GET", &key])?;
        let op = match &r {
            Reply::Bulk(None) => RegOp::Read(None),
            Reply::Bulk(Some(v)) => RegOp::Read(Some(
                std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.strip_prefix('w'))
                    .and_then(|s| s.parse().ok())?,
            )),
            _ => return None,
        };
        Some(linearize::Event {
            op,
            sent_ns,
            recv_ns: Some(clock::now().as_nanos()),
        })
    }

    /// For the quiet phase: a command that must be answered.
    pub fn must(&mut self, args: &[&[u8]]) -> Option<Reply> {
        match self.call(args) {
            Ok((r, _)) => Some(r),
            Err(CallError::Lost) => {
                self.fail("connection lost in the quiet phase".into());
                None
            }
            Err(CallError::Failed(m)) => {
                self.fail(m);
                None
            }
        }
    }
}

/// A client's whole life: its operations, then a clean disconnect.
pub fn run(id: usize, plan: &Plan, addr: SocketAddr) -> Report {
    let mut c = Client::new(id, plan, addr);
    for _ in 0..plan.ops_per_client {
        if c.step(plan).is_none() {
            break;
        }
    }
    if let Some((s, _)) = c.conn.take() {
        let _ = s.close();
    }
    c.into_report()
}
