//! Collections on private keys, each against an exact model: lists (`pl…`), hashes (`ph…`)
//! and sets (`ps…`, with SINTERSTORE across shards). Private keys are touched by one client
//! only, so every reply must equal the model's. Order-free replies (HGETALL, SMEMBERS) are
//! compared as sets.

use super::{CallError, Client};
use crate::resp::Reply;
use crate::Plan;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// This client's collections as the server must have them.
#[derive(Default)]
pub(super) struct Models {
    lists: BTreeMap<Vec<u8>, VecDeque<Vec<u8>>>,
    hashes: BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>>,
    sets: BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>>,
    /// Sorted sets, the script's keys and streams (more.rs).
    pub(super) more: super::more::Models,
}

impl Models {
    /// A lost connection: the keys move to a new generation.
    pub(super) fn clear(&mut self) {
        *self = Models::default();
    }
}

fn bulk(v: &[u8]) -> Reply {
    Reply::Bulk(Some(v.to_vec()))
}

/// The bulk strings of an array reply, or None.
fn bulks(r: &Reply) -> Option<Vec<Vec<u8>>> {
    match r {
        Reply::Array(Some(items)) => items
            .iter()
            .map(|i| match i {
                Reply::Bulk(Some(b)) => Some(b.clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

impl Client {
    pub(super) fn coll_key(&mut self, kind: &str, plan: &Plan) -> Vec<u8> {
        let j = self.rng.below(plan.private_keys.min(4) as u64);
        format!("{kind}{}:{}:{j}", self.id, self.gen).into_bytes()
    }

    /// `call` that records a failure and maps a lost connection to Ok(None).
    pub(super) fn ask(&mut self, args: &[&[u8]]) -> Option<Option<Reply>> {
        match self.call(args) {
            Ok((r, _)) => Some(Some(r)),
            Err(CallError::Lost) => Some(None),
            Err(CallError::Failed(m)) => {
                self.fail(m);
                None
            }
        }
    }

    /// One operation on a private collection.
    pub(super) fn collection_step(&mut self, plan: &Plan) -> Option<()> {
        match self.rng.below(6) {
            0 => self.list_step(plan),
            1 => self.hash_step(plan),
            2 => self.set_step(plan),
            _ => self.more_step(plan),
        }
    }

    fn list_step(&mut self, plan: &Plan) -> Option<()> {
        let k = self.coll_key("pl", plan);
        match self.rng.below(5) {
            0 | 1 => {
                let left = self.rng.chance(1, 2);
                let vals: Vec<Vec<u8>> =
                    (0..self.rng.between(1, 3)).map(|_| self.value()).collect();
                let mut args: Vec<&[u8]> = vec![if left { b"LPUSH" } else { b"RPUSH" }, &k];
                args.extend(vals.iter().map(|v| v.as_slice()));
                let Some(r) = self.ask(&args)? else {
                    return Some(());
                };
                let l = self.models.lists.entry(k.clone()).or_default();
                for v in vals {
                    if left {
                        l.push_front(v);
                    } else {
                        l.push_back(v);
                    }
                }
                let want = l.len() as i64;
                self.expect(
                    &format!("LPUSH/RPUSH (expected {want})"),
                    &r,
                    r == Reply::Int(want),
                )
            }
            2 | 3 => {
                let left = self.rng.chance(1, 2);
                let cmd: &[u8] = if left { b"LPOP" } else { b"RPOP" };
                let Some(r) = self.ask(&[cmd, &k])? else {
                    return Some(());
                };
                let l = self.models.lists.entry(k.clone()).or_default();
                let want = if left { l.pop_front() } else { l.pop_back() };
                if l.is_empty() {
                    self.models.lists.remove(&k);
                }
                let shown = format!("LPOP/RPOP (expected {want:?})");
                self.expect(&shown, &r, r == Reply::Bulk(want))
            }
            _ => {
                let (start, stop) = if self.rng.chance(1, 2) {
                    (0i64, -1i64)
                } else {
                    (self.rng.below(4) as i64 - 2, self.rng.below(6) as i64 - 3)
                };
                let (a, b) = (start.to_string(), stop.to_string());
                let Some(r) = self.ask(&[b"LRANGE", &k, a.as_bytes(), b.as_bytes()])? else {
                    return Some(());
                };
                let l: Vec<Vec<u8>> = self
                    .models
                    .lists
                    .get(&k)
                    .map(|l| l.iter().cloned().collect())
                    .unwrap_or_default();
                let n = l.len() as i64;
                // Redis's rules: negative indexes count from the end, the start clamps to 0
                // and the stop to the last element.
                let s = if start < 0 { (n + start).max(0) } else { start };
                let e = if stop < 0 { n + stop } else { stop.min(n - 1) };
                let want: Vec<Reply> = if s > e || s >= n {
                    Vec::new()
                } else {
                    l[s as usize..=e as usize].iter().map(|v| bulk(v)).collect()
                };
                self.expect(
                    &format!("LRANGE {start} {stop} of {n} elements"),
                    &r,
                    r == Reply::Array(Some(want)),
                )
            }
        }
    }

    fn field(&mut self) -> Vec<u8> {
        format!("f{}", self.rng.below(5)).into_bytes()
    }

    fn hash_step(&mut self, plan: &Plan) -> Option<()> {
        let k = self.coll_key("ph", plan);
        match self.rng.below(4) {
            0 => {
                let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..self.rng.between(1, 3))
                    .map(|_| (self.field(), self.value()))
                    .collect();
                let mut args: Vec<&[u8]> = vec![b"HSET", &k];
                for (f, v) in &pairs {
                    args.push(f);
                    args.push(v);
                }
                let Some(r) = self.ask(&args)? else {
                    return Some(());
                };
                let h = self.models.hashes.entry(k).or_default();
                let mut added = 0;
                for (f, v) in pairs {
                    if h.insert(f, v).is_none() {
                        added += 1;
                    }
                }
                self.expect(
                    &format!("HSET (expected {added})"),
                    &r,
                    r == Reply::Int(added),
                )
            }
            1 => {
                let f = self.field();
                let Some(r) = self.ask(&[b"HGET", &k, &f])? else {
                    return Some(());
                };
                let want = self.models.hashes.get(&k).and_then(|h| h.get(&f)).cloned();
                self.expect(
                    &format!("HGET (expected {want:?})"),
                    &r,
                    r == Reply::Bulk(want),
                )
            }
            2 => {
                let fields: BTreeSet<Vec<u8>> =
                    (0..self.rng.between(1, 3)).map(|_| self.field()).collect();
                let mut args: Vec<&[u8]> = vec![b"HDEL", &k];
                args.extend(fields.iter().map(|f| f.as_slice()));
                let Some(r) = self.ask(&args)? else {
                    return Some(());
                };
                let h = self.models.hashes.entry(k.clone()).or_default();
                let removed = fields.iter().filter(|f| h.remove(*f).is_some()).count() as i64;
                if h.is_empty() {
                    self.models.hashes.remove(&k);
                }
                self.expect(
                    &format!("HDEL (expected {removed})"),
                    &r,
                    r == Reply::Int(removed),
                )
            }
            _ => {
                let Some(r) = self.ask(&[b"HGETALL", &k])? else {
                    return Some(());
                };
                let want = self.models.hashes.get(&k).cloned().unwrap_or_default();
                let got = bulks(&r).filter(|b| b.len() % 2 == 0).map(|b| {
                    b.chunks(2)
                        .map(|p| (p[0].clone(), p[1].clone()))
                        .collect::<BTreeMap<_, _>>()
                });
                let ok = got.as_ref() == Some(&want)
                    && bulks(&r).is_some_and(|b| b.len() == want.len() * 2);
                self.expect(&format!("HGETALL (expected {} fields)", want.len()), &r, ok)
            }
        }
    }

    fn member(&mut self) -> Vec<u8> {
        format!("m{}", self.rng.below(8)).into_bytes()
    }

    fn set_step(&mut self, plan: &Plan) -> Option<()> {
        let k = self.coll_key("ps", plan);
        match self.rng.below(4) {
            0 => {
                let ms: Vec<Vec<u8>> = (0..self.rng.between(1, 4)).map(|_| self.member()).collect();
                let mut args: Vec<&[u8]> = vec![b"SADD", &k];
                args.extend(ms.iter().map(|m| m.as_slice()));
                let Some(r) = self.ask(&args)? else {
                    return Some(());
                };
                let s = self.models.sets.entry(k).or_default();
                let added = ms.into_iter().filter(|m| s.insert(m.clone())).count() as i64;
                self.expect(
                    &format!("SADD (expected {added})"),
                    &r,
                    r == Reply::Int(added),
                )
            }
            1 => {
                let ms: BTreeSet<Vec<u8>> =
                    (0..self.rng.between(1, 3)).map(|_| self.member()).collect();
                let mut args: Vec<&[u8]> = vec![b"SREM", &k];
                args.extend(ms.iter().map(|m| m.as_slice()));
                let Some(r) = self.ask(&args)? else {
                    return Some(());
                };
                let s = self.models.sets.entry(k.clone()).or_default();
                let removed = ms.iter().filter(|m| s.remove(*m)).count() as i64;
                if s.is_empty() {
                    self.models.sets.remove(&k);
                }
                self.expect(
                    &format!("SREM (expected {removed})"),
                    &r,
                    r == Reply::Int(removed),
                )
            }
            2 => {
                let Some(r) = self.ask(&[b"SMEMBERS", &k])? else {
                    return Some(());
                };
                self.check_members(&k, &r, "SMEMBERS")
            }
            _ => {
                // Keys of one client spread over the shards: a multi-shard transaction.
                let (a, b) = (self.coll_key("ps", plan), self.coll_key("ps", plan));
                let Some(r) = self.ask(&[b"SINTERSTORE", &k, &a, &b])? else {
                    return Some(());
                };
                let empty = BTreeSet::new();
                let sa = self.models.sets.get(&a).unwrap_or(&empty);
                let sb = self.models.sets.get(&b).unwrap_or(&empty);
                let inter: BTreeSet<Vec<u8>> = sa.intersection(sb).cloned().collect();
                let n = inter.len() as i64;
                if inter.is_empty() {
                    self.models.sets.remove(&k);
                } else {
                    self.models.sets.insert(k, inter);
                }
                self.expect(
                    &format!("SINTERSTORE (expected {n})"),
                    &r,
                    r == Reply::Int(n),
                )
            }
        }
    }

    fn check_members(&mut self, k: &[u8], r: &Reply, what: &str) -> Option<()> {
        let want = self.models.sets.get(k).cloned().unwrap_or_default();
        let got = bulks(r);
        let ok = got.as_ref().is_some_and(|g| {
            g.len() == want.len() && g.iter().cloned().collect::<BTreeSet<_>>() == want
        });
        self.expect(&format!("{what} (expected {} members)", want.len()), r, ok)
    }
}
