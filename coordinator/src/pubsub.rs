//! Pub/sub delivery: subscribers live on their connection's proactor; a publish reaches every
//! proactor that has subscribers with one hop each, and each proactor writes the message into
//! its subscribers' output queues.
//!
//! A subscribed connection sends everything through its [`Subscriber`] queue, written by a
//! writer fiber of its own: replies and messages leave in the order they were queued, other
//! fibers (a publisher, a shard's keyspace event) only append, and the queue is held to the
//! `client-output-buffer-limit` of its class — past it the subscriber is disconnected, so a
//! reader that stalls never grows memory or slows the publisher.

use crate::ctx::ConnInfo;
use crate::server::{ProactorState, ServerState};
use damselfly_shards::PoolHasher;

// Seeded per server: channel orders (PUBSUB CHANNELS) replay exactly under the simulator.
type AHashMap<K, V> = std::collections::HashMap<K, V, PoolHasher>;
type AHashSet<T> = std::collections::HashSet<T, PoolHasher>;
use damselfly_protocol::{ReplyWriter, RespVersion};
use damselfly_shards::glob::GlobPattern;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// A subscribed connection's subscriptions; messages go out through its connection's
/// push queue (`ConnInfo::push`).
pub struct Subscriber {
    pub id: u64,
    info: Rc<ConnInfo>,
    /// Channels, patterns and shard channels, by [`Kind::index`], in subscription order.
    subs: [RefCell<Vec<Vec<u8>>>; 3],
}

impl Subscriber {
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

    fn resp(&self) -> RespVersion {
        if self.info.resp.get() == 3 {
            RespVersion::Resp3
        } else {
            RespVersion::Resp2
        }
    }

    /// Queues whole frames for this client.
    pub fn push(&self, bytes: &[u8]) {
        self.info.push.push(&self.info, bytes);
    }

    /// True when `user`'s channel rules no longer allow one of these subscriptions.
    pub fn violates(&self, user: &crate::acl::rules::User) -> bool {
        use crate::acl::check::channel_allowed;
        let denied = |kind: Kind, pattern: bool| {
            self.subs[kind.index()]
                .borrow()
                .iter()
                .any(|c| !channel_allowed(user, c, pattern))
        };
        denied(Kind::Pattern, true) || denied(Kind::Channel, false) || denied(Kind::Shard, false)
    }
}

/// The subscriptions of a connection that subscribes for the first time.
pub fn attach(id: u64, info: Rc<ConnInfo>) -> Rc<Subscriber> {
    Rc::new(Subscriber {
        id,
        info,
        subs: Default::default(),
    })
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

    /// Ids of this proactor's subscribers that `pick` chooses.
    pub fn subscribers_where(&self, pick: &dyn Fn(&ConnInfo, &Subscriber) -> bool) -> Vec<u64> {
        let mut seen = AHashSet::default();
        let all = self
            .channels
            .values()
            .flatten()
            .chain(self.patterns.values().flat_map(|(_, l)| l))
            .chain(self.shard_channels.values().flatten());
        all.filter(|s| seen.insert(s.id) && pick(&s.info, s))
            .map(|s| s.id)
            .collect()
    }

    fn remove(&mut self, kind: Kind, name: &[u8], id: u64) {
        match kind {
            Kind::Channel => forget(&mut self.channels, name, id, |l| l),
            Kind::Shard => forget(&mut self.shard_channels, name, id, |l| l),
            Kind::Pattern => forget(&mut self.patterns, name, id, |(_, l)| l),
        }
    }
}

/// Drops subscriber `id` from `name`'s listeners, and the name once nobody listens.
fn forget<V>(
    map: &mut AHashMap<Vec<u8>, V>,
    name: &[u8],
    id: u64,
    listeners: impl Fn(&mut V) -> &mut Vec<Rc<Subscriber>>,
) {
    if let Some(v) = map.get_mut(name) {
        let list = listeners(v);
        list.retain(|s| s.id != id);
        if list.is_empty() {
            map.remove(name);
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
    let mut seen = AHashSet::default();
    let mut out = Vec::new();
    for (name, _) in per_proactor.into_iter().flatten() {
        if seen.insert(name.clone()) {
            out.push(name);
        }
    }
    out
}
