//! Shared by the keyspace-event tests: a `PSUBSCRIBE *` listener that turns the pmessages it
//! receives into (event, key) pairs, and the helpers that compare two event streams.
#![allow(dead_code)]

use damselfly_protocol::Reply;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::common::Client;

/// The channel a writer publishes on to mark the end of a run: the marker's pmessage comes
/// after every event the run raised on the writer's proactor.
pub const MARKER: &str = "end-of-run";

/// One keyspace notification as a subscriber with `K` and `E` sees it: the keyspace message
/// (`__keyspace@<db>__:<key>` → event) and the keyevent message
/// (`__keyevent@<db>__:<event>` → key), kept apart so a test sees each of them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Message {
    pub channel: String,
    pub payload: String,
}

impl Message {
    /// The key this message is about (the channel's tail, or the keyevent payload).
    pub fn key(&self) -> String {
        match self.channel.split_once("__:") {
            Some((prefix, tail)) if prefix.starts_with("__keyspace@") => tail.to_string(),
            _ => self.payload.clone(),
        }
    }

    /// The database, event and key, however the message carried them.
    pub fn event(&self) -> (String, String, String) {
        let (prefix, tail) = self.channel.split_once("__:").unwrap_or(("", ""));
        let db = prefix.rsplit('@').next().unwrap_or("").to_string();
        if prefix.starts_with("__keyspace@") {
            (db, self.payload.clone(), tail.to_string())
        } else {
            (db, tail.to_string(), self.payload.clone())
        }
    }
}

/// The two messages a `KEA` subscriber receives for `event` on `key` in `db`, in the order
/// Redis sends them (keyspace first).
pub fn both(db: usize, event: &str, key: &str) -> [Message; 2] {
    [
        Message {
            channel: format!("__keyspace@{db}__:{key}"),
            payload: event.to_string(),
        },
        Message {
            channel: format!("__keyevent@{db}__:{event}"),
            payload: key.to_string(),
        },
    ]
}

pub struct Listener {
    client: Client,
}

impl Listener {
    /// Connects and subscribes to every channel with `PSUBSCRIBE *`.
    pub fn new(addr: SocketAddr) -> Listener {
        let mut client = Client::connect(addr);
        client
            .stream()
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let r = client.cmd(&["PSUBSCRIBE", "*"]);
        assert_eq!(
            r,
            Reply::Array(vec![
                Reply::Bulk(b"psubscribe".to_vec()),
                Reply::Bulk(b"*".to_vec()),
                Reply::Integer(1)
            ])
        );
        Listener { client }
    }

    /// The next pmessage.
    pub fn next(&mut self) -> Message {
        match self.client.read_reply() {
            Reply::Array(items) if items.len() == 4 => {
                let text = |r: &Reply| match r {
                    Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                    other => panic!("not a bulk: {other:?}"),
                };
                assert_eq!(text(&items[0]), "pmessage");
                Message {
                    channel: text(&items[2]),
                    payload: text(&items[3]),
                }
            }
            other => panic!("not a pmessage: {other:?}"),
        }
    }

    /// The next `n` messages.
    pub fn take(&mut self, n: usize) -> Vec<Message> {
        (0..n).map(|_| self.next()).collect()
    }

    /// Every message up to the run's end marker (published by `writer`), excluding it. A
    /// second marker a moment later catches events another proactor delivered after the
    /// first one, so the stream is complete; markers are dropped.
    pub fn drain(&mut self, writer: &mut Client) -> Vec<Message> {
        let mut out = Vec::new();
        for round in 0..2 {
            if round == 1 {
                std::thread::sleep(Duration::from_millis(100));
            }
            writer.cmd(&["PUBLISH", MARKER, "x"]);
            loop {
                let m = self.next();
                if m.channel == MARKER {
                    break;
                }
                out.push(m);
            }
        }
        out
    }
}

/// The messages of each key, in their order.
pub fn per_key(messages: &[Message]) -> BTreeMap<String, Vec<Message>> {
    let mut by_key: BTreeMap<String, Vec<Message>> = BTreeMap::new();
    for m in messages {
        by_key.entry(m.key()).or_default().push(m.clone());
    }
    by_key
}

/// Asserts `got` is `want` with messages of different keys perhaps interleaved otherwise:
/// each key's messages in the same order, and the same messages overall.
pub fn assert_same_per_key(got: &[Message], want: &[Message], what: &str) {
    let (g, w) = (per_key(got), per_key(want));
    for (key, wanted) in &w {
        let empty = Vec::new();
        let gotten = g.get(key).unwrap_or(&empty);
        assert_eq!(gotten, wanted, "{what}: events of key {key}");
    }
    for key in g.keys() {
        assert!(
            w.contains_key(key),
            "{what}: unexpected events for {key}: {:?}",
            g[key]
        );
    }
    assert_eq!(got.len(), want.len(), "{what}: message count");
}
