//! Keyspace notifications (`notify-keyspace-events`): a write publishes `<event>` on
//! `__keyspace@<db>__:<key>` and `<key>` on `__keyevent@<db>__:<event>`, for the event classes
//! the config enables.
//!
//! Events are raised on the shard that owns the key, inside the command's hop, and delivered
//! at once: to this proactor's subscribers directly, to other proactors' with one posted
//! message each. Nothing here parks, so a shard can raise events while it holds its tables.

use crate::pubsub::{self, Kind};
use crate::server::ProactorState;
use damselfly_runtime::bus::{self, Message, RawCall};
use damselfly_shards::{KeyEvent, KeyEventSink};

/// Event classes, as Redis numbers them.
pub mod class {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const KEYEVENT: u32 = 1 << 1;
    pub const GENERIC: u32 = 1 << 2;
    pub const STRING: u32 = 1 << 3;
    pub const LIST: u32 = 1 << 4;
    pub const SET: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const ZSET: u32 = 1 << 7;
    pub const EXPIRED: u32 = 1 << 8;
    pub const EVICTED: u32 = 1 << 9;
    pub const STREAM: u32 = 1 << 10;
    pub const KEY_MISS: u32 = 1 << 11;
    pub const MODULE: u32 = 1 << 13;
    pub const NEW: u32 = 1 << 14;
    /// What `A` stands for.
    pub const ALL: u32 =
        GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;
}

/// The class bits of a `notify-keyspace-events` value (already validated by the config).
pub fn parse_flags(text: &str) -> u32 {
    text.bytes().fold(0, |f, c| {
        f | match c {
            b'A' => class::ALL,
            b'g' => class::GENERIC,
            b'$' => class::STRING,
            b'l' => class::LIST,
            b's' => class::SET,
            b'h' => class::HASH,
            b'z' => class::ZSET,
            b'x' => class::EXPIRED,
            b'e' => class::EVICTED,
            b't' => class::STREAM,
            b'm' => class::KEY_MISS,
            b'd' => class::MODULE,
            b'n' => class::NEW,
            b'K' => class::KEYSPACE,
            b'E' => class::KEYEVENT,
            _ => 0,
        }
    })
}

/// True when an event of `class` would be published now (its class is enabled, with K or E,
/// and someone subscribes to channels or patterns).
pub fn wants(class: u32) -> bool {
    let Some(ps) = damselfly_runtime::local::<ProactorState>() else {
        return false;
    };
    let flags = ps.server.client_limits.notify_flags();
    flags & class != 0 && flags & (class::KEYSPACE | class::KEYEVENT) != 0 && ps.server.pubsub.any()
}

/// The table's own events (`new`, `expired`), published as keyspace notifications.
pub struct TableEvents;

impl KeyEventSink for TableEvents {
    fn wants(&self, event: KeyEvent) -> bool {
        match event {
            KeyEvent::New => wants(class::NEW),
            KeyEvent::Expired => wants(class::EXPIRED) || crate::tracking::wants_writes(),
            KeyEvent::Written => crate::tracking::wants_writes(),
            KeyEvent::Evicted => wants(class::EVICTED),
        }
    }

    fn raise(&mut self, db: usize, event: KeyEvent, key: &[u8]) {
        match event {
            KeyEvent::New => keyspace_event(class::NEW, "new", key, db),
            KeyEvent::Expired => {
                keyspace_event(class::EXPIRED, "expired", key, db);
            }
            KeyEvent::Written => {
                if crate::tracking::wants_writes() {
                    crate::tracking::key_written(key);
                }
            }
            KeyEvent::Evicted => keyspace_event(class::EVICTED, "evicted", key, db),
        }
    }
}

/// Raises `event` of `class` for `key` of `db`. Call it on the key's shard, after the write.
/// Costs two loads when notifications are off or nobody subscribes.
pub fn keyspace_event(class: u32, event: &str, key: &[u8], db: usize) {
    let Some(ps) = damselfly_runtime::local::<ProactorState>() else {
        return;
    };
    let server = &ps.server;
    let flags = server.client_limits.notify_flags();
    if flags & class == 0 || flags & (class::KEYSPACE | class::KEYEVENT) == 0 {
        return;
    }
    let targets = server.pubsub.targets(Kind::Channel);
    if targets.is_empty() {
        return;
    }
    let mut channels = Vec::with_capacity(2);
    if flags & class::KEYSPACE != 0 {
        let mut c = format!("__keyspace@{db}__:").into_bytes();
        c.extend_from_slice(key);
        channels.push((c, event.as_bytes().to_vec()));
    }
    if flags & class::KEYEVENT != 0 {
        let c = format!("__keyevent@{db}__:{event}").into_bytes();
        channels.push((c, key.to_vec()));
    }
    let me = ps.shard.index;
    for &t in &targets {
        if t == me {
            deliver(&channels);
        } else {
            let event = Box::new(channels.clone());
            bus::post(
                t,
                Message::Call(RawCall {
                    func: deliver_posted,
                    arg: Box::into_raw(event) as usize,
                }),
            );
        }
    }
}

type Posted = Vec<(Vec<u8>, Vec<u8>)>;

fn deliver(channels: &Posted) {
    for (channel, message) in channels {
        pubsub::deliver_local(Kind::Channel, channel, message);
    }
}

/// Runs in the target proactor's loop.
fn deliver_posted(arg: usize) {
    // SAFETY: `arg` is the pointer `Box::into_raw` made in `keyspace_event` for this one
    // message; the bus delivers each message exactly once, so it is reclaimed once.
    let channels = unsafe { Box::from_raw(arg as *mut Posted) };
    deliver(&channels);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_of_config_text() {
        assert_eq!(parse_flags(""), 0);
        assert_eq!(parse_flags("AK"), class::ALL | class::KEYSPACE);
        assert_eq!(parse_flags("nE"), class::NEW | class::KEYEVENT);
        assert_eq!(
            parse_flags("g$KE"),
            class::GENERIC | class::STRING | class::KEYSPACE | class::KEYEVENT
        );
        assert_eq!(parse_flags("A") & class::NEW, 0);
    }
}
