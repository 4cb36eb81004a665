//! Consumer groups of a stream: the last delivered id, the entries-read counter, the pending
//! entries list (PEL: delivered, not yet acknowledged) and the consumers, each with its own
//! view of the PEL, as Redis keeps them.

use crate::stream::StreamId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A consumer's name, shared by its group entry and each entry it has pending: a delivery
/// takes a reference rather than a copy of the name.
pub type ConsumerName = Arc<[u8]>;

/// A delivered entry waiting for XACK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub consumer: ConsumerName,
    /// Unix ms of the last delivery.
    pub delivery_time: u64,
    pub delivery_count: u64,
}

#[derive(Clone, Debug, Default)]
pub struct Consumer {
    /// Unix ms of the consumer's last interaction (XINFO's idle).
    pub seen_time: u64,
    /// The ids of the group's PEL owned by this consumer.
    pub pel: BTreeSet<StreamId>,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub last_id: StreamId,
    /// Entries delivered so far in the stream's logical order; -1 when unknown.
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Pending>,
    pub consumers: BTreeMap<ConsumerName, Consumer>,
}

/// Rough bytes of one PEL entry: the group's node, the consumer's set node, the name copy.
const PEL_ENTRY_BYTES: usize = 64;
const CONSUMER_BYTES: usize = 96;

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.pel.len() * PEL_ENTRY_BYTES
            + self
                .consumers
                .keys()
                .map(|k| k.len() + CONSUMER_BYTES)
                .sum::<usize>()
    }

    /// Creates consumer `name` if missing; true when created.
    pub fn create_consumer(&mut self, name: &[u8], now: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            name.into(),
            Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Looks consumer `name` up, creating it if missing, and marks it seen; true when created.
    pub fn touch_consumer(&mut self, name: &[u8], now: u64) -> bool {
        let created = self.create_consumer(name, now);
        if let Some(c) = self.consumers.get_mut(name) {
            c.seen_time = now;
        }
        created
    }

    /// Deletes consumer `name` and its pending entries; the number it had pending, None when
    /// there was no such consumer.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pel {
            self.pel.remove(id);
        }
        Some(c.pel.len())
    }

    /// Acknowledges `id`; true when it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(p) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(&p.consumer) {
            c.pel.remove(&id);
        }
        true
    }

    /// Records a delivery of `id` to `consumer` (an existing consumer): a new PEL entry, or
    /// the existing one moved to `consumer`. `count` sets the delivery count (None: +1 on an
    /// existing entry, 1 on a new one).
    pub fn deliver(&mut self, id: StreamId, consumer: &[u8], now: u64, count: Option<u64>) {
        let name = match self.consumers.get_key_value(consumer) {
            Some((name, _)) => name.clone(),
            None => ConsumerName::from(consumer),
        };
        match self.pel.get_mut(&id) {
            Some(p) => {
                if *p.consumer != *consumer {
                    if let Some(old) = self.consumers.get_mut(&p.consumer) {
                        old.pel.remove(&id);
                    }
                    p.consumer = name;
                }
                p.delivery_time = now;
                p.delivery_count = count.unwrap_or(p.delivery_count + 1);
            }
            None => {
                self.pel.insert(
                    id,
                    Pending {
                        consumer: name,
                        delivery_time: now,
                        delivery_count: count.unwrap_or(1),
                    },
                );
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pel_follows_consumers() {
        let mut g = Group::new(StreamId::MIN, 0);
        assert!(g.create_consumer(b"a", 1));
        assert!(!g.create_consumer(b"a", 2));
        g.create_consumer(b"b", 1);
        let id = StreamId::new(1, 1);
        g.deliver(id, b"a", 5, None);
        assert_eq!(g.pel[&id].delivery_count, 1);
        g.deliver(id, b"b", 6, None);
        assert_eq!(g.pel[&id].delivery_count, 2);
        assert!(g.consumers[&b"a"[..]].pel.is_empty());
        assert!(g.consumers[&b"b"[..]].pel.contains(&id));
        assert_eq!(g.delete_consumer(b"b"), Some(1));
        assert!(g.pel.is_empty());
        assert!(!g.ack(id));
    }
}
