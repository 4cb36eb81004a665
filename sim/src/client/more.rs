//! More families on private keys, each against an exact model: sorted sets (`pz…`, integer
//! scores so every score has one spelling), a compare-and-increment script (`pe…`, EVAL) and
//! streams (`px…`, XADD with explicit increasing ids). Private keys are touched by one client
//! only, so every reply must equal the model's.

use super::Client;
use crate::resp::Reply;
use crate::Plan;
use std::collections::{BTreeMap, BTreeSet};

/// The script: increments its key only when the key's value (0 when absent) is ARGV[1].
const CAS_INCR: &[u8] = b"if (redis.call('GET', KEYS[1]) or '0') == ARGV[1] then \
return redis.call('INCR', KEYS[1]) else return false end";

/// A stream as the server must have it: entries by id, and the greatest id ever added (a
/// stream keeps it when its top entry is deleted).
#[derive(Default, Clone)]
struct Stream {
    entries: BTreeMap<(u64, u64), (Vec<u8>, Vec<u8>)>,
    last: (u64, u64),
}

#[derive(Default)]
pub(super) struct Models {
    zsets: BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, i64>>,
    scripted: BTreeMap<Vec<u8>, i64>,
    streams: BTreeMap<Vec<u8>, Stream>,
}

fn bulk(v: impl AsRef<[u8]>) -> Reply {
    Reply::Bulk(Some(v.as_ref().to_vec()))
}

fn id_text((ms, seq): (u64, u64)) -> String {
    format!("{ms}-{seq}")
}

/// The start and stop of a range by Redis's index rules (negative counts from the end, the
/// start clamps to 0, the stop to the last element), or None when it is empty.
fn index_range(start: i64, stop: i64, n: i64) -> Option<(usize, usize)> {
    let s = if start < 0 { (n + start).max(0) } else { start };
    let e = if stop < 0 { n + stop } else { stop.min(n - 1) };
    (s <= e && s < n).then_some((s as usize, e as usize))
}

impl Client {
    /// One operation of the families of this file.
    pub(super) fn more_step(&mut self, plan: &Plan) -> Option<()> {
        match self.rng.below(3) {
            0 => self.zset_step(plan),
            1 => self.script_step(plan),
            _ => self.stream_step(plan),
        }
    }

    fn zmember(&mut self) -> Vec<u8> {
        format!("z{}", self.rng.below(6)).into_bytes()
    }

    /// The sorted set of `k` in Redis's order: by score, then by member.
    fn zsorted(&self, k: &[u8]) -> Vec<(Vec<u8>, i64)> {
        let mut v: Vec<(Vec<u8>, i64)> = self
            .models
            .more
            .zsets
            .get(k)
            .map(|z| z.iter().map(|(m, s)| (m.clone(), *s)).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    fn zset_step(&mut self, plan: &Plan) -> Option<()> {
        let k = self.coll_key("pz", plan);
        match self.rng.below(6) {
            0 => {
                let pairs: Vec<(i64, Vec<u8>)> = (0..self.rng.between(1, 3))
                    .map(|_| (self.rng.below(11) as i64 - 3, self.zmember()))
                    .collect();
                let scores: Vec<String> = pairs.iter().map(|(s, _)| s.to_string()).collect();
                let mut args: Vec<&[u8]> = vec![b"ZADD", &k];
                for ((_, m), s) in pairs.iter().zip(&scores) {
                    args.push(s.as_bytes());
                    args.push(m);
                }
                let Some(r) = self.ask(&args)? else {
                    return Some(());
                };
                // Pairs apply in order: a member given twice is added once, the last score
                // stays.
                let z = self.models.more.zsets.entry(k).or_default();
                let added = pairs
                    .into_iter()
                    .filter(|(s, m)| z.insert(m.clone(), *s).is_none())
                    .count() as i64;
                self.expect(
                    &format!("ZADD (expected {added})"),
                    &r,
                    r == Reply::Int(added),
                )
            }
            1 => {
                let (inc, m) = (self.rng.below(9) as i64 - 4, self.zmember());
                let i = inc.to_string();
                let Some(r) = self.ask(&[b"ZINCRBY", &k, i.as_bytes(), &m])? else {
                    return Some(());
                };
                let z = self.models.more.zsets.entry(k).or_default();
                let s = z.entry(m).or_insert(0);
                *s += inc;
                let want = s.to_string();
                self.expect(&format!("ZINCRBY (expected {want})"), &r, r == bulk(&want))
            }
            2 => {
                let ms: BTreeSet<Vec<u8>> = (0..self.rng.between(1, 3))
                    .map(|_| self.zmember())
                    .collect();
                let mut args: Vec<&[u8]> = vec![b"ZREM", &k];
                args.extend(ms.iter().map(|m| m.as_slice()));
                let Some(r) = self.ask(&args)? else {
                    return Some(());
                };
                let z = self.models.more.zsets.entry(k.clone()).or_default();
                let removed = ms.iter().filter(|m| z.remove(*m).is_some()).count() as i64;
                if z.is_empty() {
                    self.models.more.zsets.remove(&k);
                }
                self.expect(
                    &format!("ZREM (expected {removed})"),
                    &r,
                    r == Reply::Int(removed),
                )
            }
            3 => {
                let m = self.zmember();
                let Some(r) = self.ask(&[b"ZSCORE", &k, &m])? else {
                    return Some(());
                };
                let want = self
                    .models
                    .more
                    .zsets
                    .get(&k)
                    .and_then(|z| z.get(&m))
                    .map(|s| s.to_string().into_bytes());
                self.expect(
                    &format!("ZSCORE (expected {want:?})"),
                    &r,
                    r == Reply::Bulk(want),
                )
            }
            4 => {
                let (start, stop) = if self.rng.chance(1, 2) {
                    (0i64, -1i64)
                } else {
                    (self.rng.below(4) as i64 - 2, self.rng.below(6) as i64 - 3)
                };
                let (a, b) = (start.to_string(), stop.to_string());
                let args: [&[u8]; 5] = [b"ZRANGE", &k, a.as_bytes(), b.as_bytes(), b"WITHSCORES"];
                let Some(r) = self.ask(&args)? else {
                    return Some(());
                };
                let sorted = self.zsorted(&k);
                let n = sorted.len() as i64;
                let want: Vec<Reply> = match index_range(start, stop, n) {
                    None => Vec::new(),
                    Some((s, e)) => sorted[s..=e]
                        .iter()
                        .flat_map(|(m, sc)| [bulk(m), bulk(sc.to_string())])
                        .collect(),
                };
                self.expect(
                    &format!("ZRANGE {start} {stop} WITHSCORES of {n} members"),
                    &r,
                    r == Reply::Array(Some(want)),
                )
            }
            _ => {
                let count = self.rng.below(4);
                let c = count.to_string();
                let mut args: Vec<&[u8]> = vec![b"ZPOPMIN", &k];
                if count > 0 {
                    args.push(c.as_bytes());
                }
                let Some(r) = self.ask(&args)? else {
                    return Some(());
                };
                let sorted = self.zsorted(&k);
                let take = (count.max(1) as usize).min(sorted.len());
                let want: Vec<Reply> = sorted[..take]
                    .iter()
                    .flat_map(|(m, sc)| [bulk(m), bulk(sc.to_string())])
                    .collect();
                if let Some(z) = self.models.more.zsets.get_mut(&k) {
                    for (m, _) in &sorted[..take] {
                        z.remove(m);
                    }
                    if z.is_empty() {
                        self.models.more.zsets.remove(&k);
                    }
                }
                self.expect(
                    &format!("ZPOPMIN {count} (expected {take} members)"),
                    &r,
                    r == Reply::Array(Some(want)),
                )
            }
        }
    }

    /// EVAL of the compare-and-increment, half the time with the value the model has.
    fn script_step(&mut self, plan: &Plan) -> Option<()> {
        let k = self.coll_key("pe", plan);
        let now = self.models.more.scripted.get(&k).copied().unwrap_or(0);
        let guess = if self.rng.chance(1, 2) {
            now
        } else {
            now + self.rng.below(3) as i64 - 1
        };
        let g = guess.to_string();
        if self.rng.chance(1, 5) {
            let Some(r) = self.ask(&[b"GET", &k])? else {
                return Some(());
            };
            let want = self
                .models
                .more
                .scripted
                .get(&k)
                .map(|v| bulk(v.to_string()));
            let want = want.unwrap_or(Reply::Bulk(None));
            return self.expect(
                &format!("GET of a script's key (expected {want})"),
                &r,
                r == want,
            );
        }
        let Some(r) = self.ask(&[b"EVAL", CAS_INCR, b"1", &k, g.as_bytes()])? else {
            return Some(());
        };
        let want = if guess == now {
            self.models.more.scripted.insert(k, now + 1);
            Reply::Int(now + 1)
        } else {
            // Lua's false is a null bulk reply.
            Reply::Bulk(None)
        };
        self.expect(
            &format!("EVAL compare-and-increment {guess} of {now} (expected {want})"),
            &r,
            r == want,
        )
    }

    fn stream_step(&mut self, plan: &Plan) -> Option<()> {
        let k = self.coll_key("px", plan);
        match self.rng.below(5) {
            0 | 1 => {
                let model = self.models.more.streams.get(&k).cloned();
                let last = model.as_ref().map(|s| s.last);
                // Now and then an id not above the top one: Redis refuses it.
                let stale = last.is_some_and(|l| l != (0, 0)) && self.rng.chance(1, 8);
                let id = match last {
                    Some(l) if stale => l,
                    Some((ms, seq)) if self.rng.chance(1, 3) => (ms, seq + 1),
                    Some((ms, _)) => (ms + self.rng.between(1, 5), self.rng.below(3)),
                    None => (self.rng.between(1, 5), self.rng.below(3)),
                };
                let (f, v) = (format!("f{}", self.rng.below(3)), self.value());
                let idt = id_text(id);
                let Some(r) = self.ask(&[b"XADD", &k, idt.as_bytes(), f.as_bytes(), &v])? else {
                    return Some(());
                };
                if stale {
                    let want = Reply::Error(
                        "ERR The ID specified in XADD is equal or smaller than the target \
                         stream top item"
                            .into(),
                    );
                    return self.expect("XADD of the top id (expected an error)", &r, r == want);
                }
                let s = self.models.more.streams.entry(k).or_default();
                s.entries.insert(id, (f.into_bytes(), v));
                s.last = id;
                self.expect(&format!("XADD (expected {idt})"), &r, r == bulk(&idt))
            }
            2 => {
                let ids: Vec<(u64, u64)> = self
                    .models
                    .more
                    .streams
                    .get(&k)
                    .map(|s| s.entries.keys().copied().collect())
                    .unwrap_or_default();
                // Mostly ids it has, sometimes one it never had.
                let mut del: BTreeSet<(u64, u64)> = BTreeSet::new();
                for _ in 0..self.rng.between(1, 2) {
                    if !ids.is_empty() && self.rng.chance(3, 4) {
                        del.insert(ids[self.rng.below(ids.len() as u64) as usize]);
                    } else {
                        del.insert((self.rng.between(1, 40), self.rng.below(3)));
                    }
                }
                let texts: Vec<String> = del.iter().map(|i| id_text(*i)).collect();
                let mut args: Vec<&[u8]> = vec![b"XDEL", &k];
                args.extend(texts.iter().map(|t| t.as_bytes()));
                let Some(r) = self.ask(&args)? else {
                    return Some(());
                };
                // An emptied stream stays, with its top id.
                let n = match self.models.more.streams.get_mut(&k) {
                    Some(s) => del.iter().filter(|i| s.entries.remove(i).is_some()).count(),
                    None => 0,
                } as i64;
                self.expect(&format!("XDEL (expected {n})"), &r, r == Reply::Int(n))
            }
            3 => {
                let Some(r) = self.ask(&[b"XLEN", &k])? else {
                    return Some(());
                };
                let n = self
                    .models
                    .more
                    .streams
                    .get(&k)
                    .map_or(0, |s| s.entries.len()) as i64;
                self.expect(&format!("XLEN (expected {n})"), &r, r == Reply::Int(n))
            }
            _ => {
                let (lo, hi) = if self.rng.chance(1, 2) {
                    (None, None)
                } else {
                    let a = (self.rng.between(0, 30), self.rng.below(3));
                    let b = (self.rng.between(0, 30), self.rng.below(3));
                    (Some(a.min(b)), Some(a.max(b)))
                };
                let lt = lo.map_or("-".to_string(), id_text);
                let ht = hi.map_or("+".to_string(), id_text);
                let Some(r) = self.ask(&[b"XRANGE", &k, lt.as_bytes(), ht.as_bytes()])? else {
                    return Some(());
                };
                let want: Vec<Reply> = self
                    .models
                    .more
                    .streams
                    .get(&k)
                    .map(|s| {
                        s.entries
                            .range(lo.unwrap_or((0, 0))..=hi.unwrap_or((u64::MAX, u64::MAX)))
                            .map(|(id, (f, v))| {
                                Reply::Array(Some(vec![
                                    bulk(id_text(*id)),
                                    Reply::Array(Some(vec![bulk(f), bulk(v)])),
                                ]))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                self.expect(
                    &format!("XRANGE {lt} {ht} (expected {} entries)", want.len()),
                    &r,
                    r == Reply::Array(Some(want)),
                )
            }
        }
    }
}
