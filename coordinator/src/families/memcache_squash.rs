//! Squashing for memcached pipelines, as the Redis side does it: a run of classic single-key
//! commands (get/gets, the storage commands, delete, incr/decr, touch) parsed from one read is
//! split into per-key operations, grouped by shard and sent as one hop per shard, the shards
//! running their groups in parallel while holding the locks of the group's keys. Operations
//! on one key keep the client's order (one key, one shard, run in sequence); the replies are
//! written in the client's order.

use crate::families::memcache_family::{
    classic_store, expiry_of, now_ms, reply_delete, reply_delta, reply_fetched, reply_store,
    reply_touch, Expiry, McState,
};
use crate::families::memcache_ops::{
    op_delete, op_delta, op_fetch, op_store, op_touch, Delta, Item, StoreReq, Stored,
};
use crate::keys::KeyPlan;
use crate::memcache_reply::McOut;
use crate::shard::Shard;
use crate::tx::{self, locks::LockMode};
use damselfly_protocol::memcache::{GetKind, MemcacheCommand, MemcacheRequest};
use std::sync::atomic::AtomicU64;

/// Whether a command can be part of a squashed run.
pub fn squashable(command: &MemcacheCommand<'_>) -> bool {
    match command {
        // One key per get: a squashed run holds its values until all shards answered.
        MemcacheCommand::Get { kind, keys, .. } => {
            matches!(kind, GetKind::Get | GetKind::Gets) && keys.clone().nth(1).is_none()
        }
        MemcacheCommand::Store { .. }
        | MemcacheCommand::Delete { .. }
        | MemcacheCommand::Arithmetic { .. }
        | MemcacheCommand::Touch { .. } => true,
        _ => false,
    }
}

/// One key's share of a command.
enum Op<'a> {
    Fetch {
        key: &'a [u8],
        want_cas: bool,
    },
    Store {
        key: &'a [u8],
        req: StoreReq<'a>,
    },
    Delete {
        key: &'a [u8],
    },
    Delta {
        key: &'a [u8],
        incr: bool,
        delta: u64,
    },
    Touch {
        key: &'a [u8],
        expiry: Expiry,
    },
}

impl<'a> Op<'a> {
    fn key(&self) -> &'a [u8] {
        match self {
            Op::Fetch { key, .. }
            | Op::Store { key, .. }
            | Op::Delete { key }
            | Op::Delta { key, .. }
            | Op::Touch { key, .. } => key,
        }
    }

    fn run(&self, shard: &Shard, cas_counter: &AtomicU64, now: u64) -> Outcome {
        match *self {
            Op::Fetch { key, want_cas } => {
                Outcome::Item(op_fetch(shard, key, want_cas, None, cas_counter, now))
            }
            Op::Store { key, ref req } => {
                Outcome::Stored(op_store(shard, key, req, cas_counter, now))
            }
            Op::Delete { key } => Outcome::Found(op_delete(shard, key, now)),
            Op::Delta { key, incr, delta } => Outcome::Delta(op_delta(
                shard,
                key,
                incr,
                delta,
                None,
                None,
                false,
                cas_counter,
                now,
            )),
            Op::Touch { key, expiry } => Outcome::Found(op_touch(shard, key, expiry, now)),
        }
    }
}

enum Outcome {
    Item(Option<Item>),
    Stored(Stored),
    Found(bool),
    Delta(Delta),
}

fn command<'r, 'a>(request: &'r MemcacheRequest<'a>) -> &'r MemcacheCommand<'a> {
    match request {
        MemcacheRequest::Command(c) => c,
        _ => unreachable!("only squashable commands are squashed"),
    }
}

/// Runs `requests` (all [`squashable`] commands) with one hop per shard and answers them in
/// order.
pub fn run(mc: &McState, requests: &[MemcacheRequest<'_>], out: &mut McOut<'_>) {
    let commands = || requests.iter().map(command);
    let now = now_ms();
    let mut ops: Vec<Op<'_>> = Vec::with_capacity(requests.len());
    for command in commands() {
        match *command {
            MemcacheCommand::Get { kind, keys, .. } => {
                let want_cas = kind == GetKind::Gets;
                ops.extend(keys.map(|key| Op::Fetch { key, want_cas }));
            }
            MemcacheCommand::Store {
                kind,
                key,
                flags,
                exptime,
                cas_unique,
                data,
                ..
            } => ops.push(Op::Store {
                key,
                req: classic_store(kind, flags, exptime, cas_unique, data, now),
            }),
            MemcacheCommand::Delete { key, .. } => ops.push(Op::Delete { key }),
            MemcacheCommand::Arithmetic {
                incr, key, delta, ..
            } => ops.push(Op::Delta { key, incr, delta }),
            MemcacheCommand::Touch { key, exptime, .. } => ops.push(Op::Touch {
                key,
                expiry: expiry_of(i64::from(exptime), now),
            }),
            _ => unreachable!("only squashable commands are squashed"),
        }
    }
    let plan = KeyPlan::new(ops.iter().map(Op::key), LockMode::Exclusive);
    let shards = plan.shards();
    let locks: Vec<_> = plan.groups.iter().map(|g| g.2.clone()).collect();
    let cas_counter = mc.cas_counter();
    let group = |s: &Shard| -> Vec<Outcome> {
        let (_, indices, _) = plan
            .groups
            .iter()
            .find(|g| g.0 == s.index)
            .expect("a shard of the plan");
        indices
            .iter()
            .map(|&i| ops[i].run(s, cas_counter, now))
            .collect()
    };
    let per_shard = tx::on_shards_locked(&shards, &locks, &group);
    // Scatter the outcomes back to operation order.
    let mut outcomes: Vec<Option<Outcome>> = (0..ops.len()).map(|_| None).collect();
    for ((_, indices, _), results) in plan.groups.iter().zip(per_shard) {
        for (&i, r) in indices.iter().zip(results) {
            outcomes[i] = Some(r);
        }
    }
    let mut next = outcomes.into_iter().map(|o| o.expect("every op ran"));
    for command in commands() {
        match *command {
            MemcacheCommand::Get { kind, keys, .. } => {
                let want_cas = kind == GetKind::Gets;
                for key in keys {
                    let Some(Outcome::Item(item)) = next.next() else {
                        unreachable!("a fetch answers an item")
                    };
                    reply_fetched(mc, key, want_cas, item.as_ref(), out);
                    out.maybe_flush();
                }
                out.raw(b"END\r\n");
            }
            MemcacheCommand::Store { kind, noreply, .. } => {
                let Some(Outcome::Stored(result)) = next.next() else {
                    unreachable!("a store answers a store outcome")
                };
                reply_store(mc, kind, noreply, result, out);
            }
            MemcacheCommand::Delete { noreply, .. } => {
                let Some(Outcome::Found(found)) = next.next() else {
                    unreachable!("a delete answers found or not")
                };
                reply_delete(mc, noreply, found, out);
            }
            MemcacheCommand::Arithmetic { incr, noreply, .. } => {
                let Some(Outcome::Delta(result)) = next.next() else {
                    unreachable!("incr/decr answers a delta")
                };
                reply_delta(mc, incr, noreply, result, out);
            }
            MemcacheCommand::Touch { noreply, .. } => {
                let Some(Outcome::Found(found)) = next.next() else {
                    unreachable!("a touch answers found or not")
                };
                reply_touch(mc, noreply, found, out);
            }
            _ => unreachable!("only squashable commands are squashed"),
        }
    }
}
