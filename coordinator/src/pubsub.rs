//! Pub/sub delivery: subscribers live on their connection's proactor; a publish reaches every
//! proactor that has subscribers with one hop each, and each proactor writes the message into
//! its subscribers' output queues.
//!
//! A subscribed connection sends everything through its [`Subscriber`] queue, written by a
//! writer fiber of its own: replies and messages leave in the order they were queued, other
//! fibers (a publisher, a shard's keyspace event) only append, and the queue is held to the
//! `client-output-buffer-limit` of its class — past it the subscriber is disconnected, so a
//! reader that stalls never grows memory or slows the publisher.

use crate::client_limits::{ClientClass, ClientLimits};
use crate::ctx::ConnInfo;
use crate::server::{ProactorState, ServerState};
use ahash::{AHashMap, AHashSet};
use damselfly_protocol::{ReplyWriter, RespVersion};
use damselfly_runtime::clock::{self, Time};
use damselfly_runtime::net::TcpStream;
use damselfly_runtime::sync::Notify;
use damselfly_shards::glob::GlobPattern;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The three subscription kinds: channels, patterns, and (cluster-style) shard channels.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn index(self) -> usize {
        self as usize
    }

    /// The first element of a confirmation frame.
    pub fn subscribe_name(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }

    pub fn unsubscribe_name(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }
}

/// Bytes queued before the connection's own fiber waits for the writer (its replies are
/// held to about this much, as a plain connection's are by its send).
pub const QUEUE_FLUSH: usize = 64 * 1024;

/// A subscribed (or push-receiving) connection's output queue and subscriptions.
pub struct Subscriber {
    pub id: u64,
    stream: TcpStream,
    info: Rc<ConnInfo>,
    server: Arc<ServerState>,
    resp3: Cell<bool>,
    /// Bytes queued and not yet taken by the writer.
    queued: RefCell<Vec<u8>>,
    /// Bytes the writer took and is sending.
    in_flight: Cell<usize>,
    /// Wakes the writer.
    wake: Notify,
    /// Wakes fibers waiting for the queue to shrink.
    drained: Notify,
    closed: Cell<bool>,
    soft_since: Cell<Option<Time>>,
    /// Channels, patterns and shard channels, by [`Kind::index`], in subscription order.
    subs: [RefCell<Vec<Vec<u8>>>; 3],
}

impl Subscriber {
    /// Bytes waiting to reach the client.
    pub fn pending(&self) -> usize {
        self.queued.borrow().len() + self.in_flight.get()
    }

    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    pub fn set_resp(&self, resp: RespVersion) {
        self.resp3.set(resp == RespVersion::Resp3);
    }

    fn resp(&self) -> RespVersion {
        if self.resp3.get() {
            RespVersion::Resp3
        } else {
            RespVersion::Resp2
        }
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.subs[kind.index()].borrow().len()
    }

    /// Channels plus patterns: the count SUBSCRIBE/PSUBSCRIBE confirmations carry.
    pub fn channel_count(&self) -> usize {
        self.count(Kind::Channel) + self.count(Kind::Pattern)
    }

    /// Subscribed to anything: RESP2 clients are then in subscribed mode.
    pub fn subscribed(&self) -> bool {
        self.subs.iter().any(|s| !s.borrow().is_empty())
    }

    pub fn names(&self, kind: Kind) -> Vec<Vec<u8>> {
        self.subs[kind.index()].borrow().clone()
    }

    fn limits(&self) -> &ClientLimits {
        &self.server.client_limits
    }

    fn limit_class(&self) -> ClientClass {
        if self.subscribed() {
            ClientClass::Pubsub
        } else {
            ClientClass::Normal
        }
    }

    /// Appends `bytes` (whole frames) to the queue, enforcing the output limit: past it the
    /// subscriber is disconnected and the bytes are dropped.
    pub fn push(&self, bytes: &[u8]) {
        if self.closed.get() || bytes.is_empty() {
            return;
        }
        let was_empty = {
            let mut q = self.queued.borrow_mut();
            let was_empty = q.is_empty();
            q.extend_from_slice(bytes);
            was_empty
        };
        let pending = self.pending() as u64;
        let limit = self.limits().output(self.limit_class());
        if limit.hard > 0 && pending > limit.hard {
            self.close_over_limit(pending, "hard");
            return;
        }
        if limit.soft > 0 && pending > limit.soft {
            let now = clock::now();
            let since = self.soft_since.get().unwrap_or(now);
            self.soft_since.set(Some(since));
            if now >= since + Duration::from_secs(limit.soft_secs) {
                self.close_over_limit(pending, "soft");
                return;
            }
        } else {
            self.soft_since.set(None);
        }
        if was_empty {
            self.wake.notify_one();
        }
    }

    fn close_over_limit(&self, pending: u64, which: &str) {
        log::warn!(
            "Client id={} addr={} scheduled to be closed ASAP for overcoming of output buffer limits ({which} limit, {pending} bytes unsent).",
            self.info.id,
            self.info.addr
        );
        self.close();
    }

    /// Stops the writer and disconnects the client (its connection fiber then ends and
    /// forgets the subscriptions).
    pub fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        *self.queued.borrow_mut() = Vec::new();
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.wake.notify_one();
        self.drained.notify_all();
    }

    /// Waits (in the connection's fiber) until at most `keep` bytes are pending or the
    /// subscriber is closed. Returns false when it is closed.
    pub fn wait_below(&self, keep: usize) -> bool {
        while !self.closed.get() && self.pending() > keep {
            self.drained.notified();
        }
        !self.closed.get()
    }

    /// Ends the writer once the queue is sent (the connection is going away).
    pub fn finish(&self) {
        self.wait_below(0);
        self.closed.set(true);
        self.wake.notify_one();
    }
}

/// The writer fiber: sends what is queued, in order, until the subscriber is closed.
fn write_loop(sub: Rc<Subscriber>) {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        if sub.closed.get() {
            break;
        }
        std::mem::swap(&mut buf, &mut *sub.queued.borrow_mut());
        if buf.is_empty() {
            sub.drained.notify_all();
            sub.wake.notified();
            continue;
        }
        sub.in_flight.set(buf.len());
        let ok = send_bounded(&sub, &buf);
        sub.in_flight.set(0);
        buf.clear();
        if buf.capacity() > QUEUE_FLUSH * 2 {
            buf = Vec::new();
        }
        sub.drained.notify_all();
        if !ok {
            sub.close();
            break;
        }
    }
}

/// Sends `buf`, giving up when the client stays over its soft limit for the limit's seconds.
fn send_bounded(sub: &Subscriber, buf: &[u8]) -> bool {
    let mut sent = 0;
    while sent < buf.len() {
        let pending = (sub.queued.borrow().len() + buf.len() - sent) as u64;
        let limit = sub.limits().output(sub.limit_class());
        let deadline = if limit.soft > 0 && pending > limit.soft {
            let since = sub.soft_since.get().unwrap_or_else(clock::now);
            sub.soft_since.set(Some(since));
            Some(since + Duration::from_secs(limit.soft_secs))
        } else {
            sub.soft_since.set(None);
            None
        };
        match sub.stream.send_until(&buf[sent..], deadline) {
            Ok(0) => return false,
            Ok(n) => sent += n,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                sub.close_over_limit(pending, "soft");
                return false;
            }
            Err(_) => return false,
        }
    }
    true
}

/// Creates the connection's subscriber and starts its writer.
pub fn attach(id: u64, stream: TcpStream, info: Rc<ConnInfo>, resp: RespVersion) -> Rc<Subscriber> {
    let sub = Rc::new(Subscriber {
        id,
        stream,
        info,
        server: ProactorState::current().server.clone(),
        resp3: Cell::new(resp == RespVersion::Resp3),
        queued: RefCell::new(Vec::new()),
        in_flight: Cell::new(0),
        wake: Notify::new(),
        drained: Notify::new(),
        closed: Cell::new(false),
        soft_since: Cell::new(None),
        subs: Default::default(),
    });
    let writer = sub.clone();
    damselfly_runtime::fiber::Builder::new()
        .name("pubsub-writer")
        .spawn(move || write_loop(writer));
    sub
}

/// How many subscriptions of each kind every proactor holds: a publish visits only the
/// proactors with subscribers.
pub struct PubSubCounts {
    per_proactor: Vec<[AtomicUsize; 3]>,
}

impl PubSubCounts {
    pub fn new(proactors: usize) -> PubSubCounts {
        PubSubCounts {
            per_proactor: (0..proactors).map(|_| Default::default()).collect(),
        }
    }

    fn add(&self, proactor: usize, kind: Kind, delta: isize) {
        let c = &self.per_proactor[proactor][kind.index()];
        if delta >= 0 {
            c.fetch_add(delta as usize, Ordering::AcqRel);
        } else {
            c.fetch_sub((-delta) as usize, Ordering::AcqRel);
        }
    }

    /// Proactors with subscribers that a message of `kind` (Channel: channels and patterns;
    /// Shard: shard channels) may reach.
    pub fn targets(&self, kind: Kind) -> Vec<usize> {
        self.per_proactor
            .iter()
            .enumerate()
            .filter(|(_, c)| match kind {
                Kind::Shard => c[2].load(Ordering::Acquire) > 0,
                _ => c[0].load(Ordering::Acquire) + c[1].load(Ordering::Acquire) > 0,
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// True when any proactor has a channel or pattern subscriber.
    pub fn any(&self) -> bool {
        self.per_proactor
            .iter()
            .any(|c| c[0].load(Ordering::Relaxed) + c[1].load(Ordering::Relaxed) > 0)
    }
}

/// One proactor's subscriptions: who listens to what.
#[derive(Default)]
pub struct LocalSubscriptions {
    channels: AHashMap<Vec<u8>, Vec<Rc<Subscriber>>>,
    patterns: AHashMap<Vec<u8>, (GlobPattern, Vec<Rc<Subscriber>>)>,
    shard_channels: AHashMap<Vec<u8>, Vec<Rc<Subscriber>>>,
}

impl LocalSubscriptions {
    fn listeners(&mut self, kind: Kind, name: &[u8]) -> &mut Vec<Rc<Subscriber>> {
        match kind {
            Kind::Channel => self.channels.entry(name.to_vec()).or_default(),
            Kind::Shard => self.shard_channels.entry(name.to_vec()).or_default(),
            Kind::Pattern => {
                &mut self
                    .patterns
                    .entry(name.to_vec())
                    .or_insert_with(|| (GlobPattern::new(name, false), Vec::new()))
                    .1
            }
        }
    }

    fn remove(&mut self, kind: Kind, name: &[u8], id: u64) {
        fn drop_from(list: &mut Vec<Rc<Subscriber>>, id: u64) -> bool {
            list.retain(|s| s.id != id);
            list.is_empty()
        }
        match kind {
            Kind::Channel => {
                if self
                    .channels
                    .get_mut(name)
                    .is_some_and(|l| drop_from(l, id))
                {
                    self.channels.remove(name);
                }
            }
            Kind::Shard => {
                if self
                    .shard_channels
                    .get_mut(name)
                    .is_some_and(|l| drop_from(l, id))
                {
                    self.shard_channels.remove(name);
                }
            }
            Kind::Pattern => {
                if self
                    .patterns
                    .get_mut(name)
                    .is_some_and(|(_, l)| drop_from(l, id))
                {
                    self.patterns.remove(name);
                }
            }
        }
    }
}

fn local() -> &'static RefCell<LocalSubscriptions> {
    &ProactorState::current().pubsub
}

/// Subscribes `sub` to `name`; returns false when it already was.
pub fn subscribe(server: &ServerState, sub: &Rc<Subscriber>, kind: Kind, name: &[u8]) -> bool {
    {
        let mut mine = sub.subs[kind.index()].borrow_mut();
        if mine.iter().any(|n| n == name) {
            return false;
        }
        mine.push(name.to_vec());
    }
    local().borrow_mut().listeners(kind, name).push(sub.clone());
    let me = ProactorState::current().shard.index;
    server.pubsub.add(me, kind, 1);
    update_info(sub);
    true
}

/// Unsubscribes `sub` from `name`; returns false when it was not subscribed.
pub fn unsubscribe(server: &ServerState, sub: &Subscriber, kind: Kind, name: &[u8]) -> bool {
    {
        let mut mine = sub.subs[kind.index()].borrow_mut();
        let Some(at) = mine.iter().position(|n| n == name) else {
            return false;
        };
        mine.remove(at);
    }
    local().borrow_mut().remove(kind, name, sub.id);
    let me = ProactorState::current().shard.index;
    server.pubsub.add(me, kind, -1);
    update_info(sub);
    true
}

/// Drops every subscription of `sub` (RESET, disconnect).
pub fn unsubscribe_all(server: &ServerState, sub: &Subscriber) {
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        for name in sub.names(kind) {
            unsubscribe(server, sub, kind, &name);
        }
    }
}

fn update_info(sub: &Subscriber) {
    sub.info.sub.set(sub.count(Kind::Channel));
    sub.info.psub.set(sub.count(Kind::Pattern));
    sub.info.ssub.set(sub.count(Kind::Shard));
}

/// A message encoded once per protocol version, on first need.
struct Frames<'a> {
    kind: &'a [u8],
    pattern: Option<&'a [u8]>,
    channel: &'a [u8],
    message: &'a [u8],
    encoded: [Vec<u8>; 2],
}

impl Frames<'_> {
    fn get(&mut self, resp: RespVersion) -> &[u8] {
        let slot = (resp == RespVersion::Resp3) as usize;
        if self.encoded[slot].is_empty() {
            let mut w = ReplyWriter::new(&mut self.encoded[slot], resp);
            w.push_header(3 + self.pattern.is_some() as usize);
            w.bulk(self.kind);
            if let Some(p) = self.pattern {
                w.bulk(p);
            }
            w.bulk(self.channel);
            w.bulk(self.message);
        }
        &self.encoded[slot]
    }
}

/// Delivers a message to this proactor's subscribers; returns how many received it.
/// `kind`: Channel (channel and pattern subscribers) or Shard (shard-channel subscribers).
pub fn deliver_local(kind: Kind, channel: &[u8], message: &[u8]) -> usize {
    let subs = local().borrow();
    let mut delivered = 0;
    let exact = match kind {
        Kind::Shard => subs.shard_channels.get(channel),
        _ => subs.channels.get(channel),
    };
    if let Some(list) = exact {
        let name: &[u8] = if kind == Kind::Shard {
            b"smessage"
        } else {
            b"message"
        };
        let mut frames = Frames {
            kind: name,
            pattern: None,
            channel,
            message,
            encoded: Default::default(),
        };
        for s in list {
            s.push(frames.get(s.resp()));
            delivered += 1;
        }
    }
    if kind == Kind::Channel {
        for (pattern, (glob, list)) in &subs.patterns {
            if !glob.matches(channel) {
                continue;
            }
            let mut frames = Frames {
                kind: b"pmessage",
                pattern: Some(pattern),
                channel,
                message,
                encoded: Default::default(),
            };
            for s in list {
                s.push(frames.get(s.resp()));
                delivered += 1;
            }
        }
    }
    delivered
}

/// PUBLISH / SPUBLISH: delivers on every proactor with subscribers, one hop each, and returns
/// the receivers counted over all of them.
pub fn publish(
    server: &ServerState,
    exec: &mut crate::exec::Exec<'_>,
    kind: Kind,
    channel: &[u8],
    message: &[u8],
) -> usize {
    let targets = server.pubsub.targets(kind);
    if targets.is_empty() {
        return 0;
    }
    exec.on_shards(&targets, &|_| deliver_local(kind, channel, message))
        .into_iter()
        .sum()
}

/// This proactor's subscribed names of `kind` with their local subscriber counts.
pub fn local_names(kind: Kind) -> Vec<(Vec<u8>, usize)> {
    let subs = local().borrow();
    match kind {
        Kind::Channel => subs
            .channels
            .iter()
            .map(|(n, l)| (n.clone(), l.len()))
            .collect(),
        Kind::Shard => subs
            .shard_channels
            .iter()
            .map(|(n, l)| (n.clone(), l.len()))
            .collect(),
        Kind::Pattern => subs
            .patterns
            .iter()
            .map(|(n, (_, l))| (n.clone(), l.len()))
            .collect(),
    }
}

/// Local subscriber count of each of `names`.
pub fn local_counts(kind: Kind, names: &[&[u8]]) -> Vec<usize> {
    let subs = local().borrow();
    names
        .iter()
        .map(|n| match kind {
            Kind::Channel => subs.channels.get(*n).map_or(0, Vec::len),
            Kind::Shard => subs.shard_channels.get(*n).map_or(0, Vec::len),
            Kind::Pattern => subs.patterns.get(*n).map_or(0, |(_, l)| l.len()),
        })
        .collect()
}

/// Unique names across proactors (PUBSUB CHANNELS, NUMPAT).
pub fn union_names(per_proactor: Vec<Vec<(Vec<u8>, usize)>>) -> Vec<Vec<u8>> {
    let mut seen = AHashSet::new();
    let mut out = Vec::new();
    for (name, _) in per_proactor.into_iter().flatten() {
        if seen.insert(name.clone()) {
            out.push(name);
        }
    }
    out
}
