//! SORT and SORT_RO: sort the elements of a list, set or sorted set numerically or
//! lexicographically, optionally by the values of other keys (`BY weight_*`, `BY h_*->field`),
//! fetch other keys per element (`GET`), and store the result as a list (`STORE`).
//!
//! The source (and the STORE destination) are read and written inside one transaction over
//! both keys; the keys a BY or GET pattern names can live on any shard and are fetched between
//! those steps with one unlocked hop per shard, grouped (Redis reads them atomically; here they
//! are read while the source and destination stay locked).

use crate::args::{eq_ignore_case, parse_i64, Args};
use crate::ctx::{now_ms, CmdCtx};
use crate::error::{CmdError, CmdResult, OpResult};
use crate::families::string_family::count_lookup;
use crate::families::{hash_family, list_ops, set_family, zset_family};
use crate::keys::KeyPlan;
use crate::notify::{self, class};
use crate::registry::{flags::*, CommandSpec};
use crate::shard::{key_hash, shard_of, Shard};
use crate::tx::locks::LockMode;
use damselfly_shards::{CompactValue, ObjType, QuickList};
use std::cmp::Ordering;

const NOT_DOUBLE: &str = "ERR One or more scores can't be converted into double";

/// Parsed SORT options.
struct SortOptions {
    by: Option<Vec<u8>>,
    /// BY a pattern without `*`: keep the source's order.
    dont_sort: bool,
    limit: Option<(i64, i64)>,
    gets: Vec<Vec<u8>>,
    desc: bool,
    alpha: bool,
    store: Option<Vec<u8>>,
}

fn parse_options(args: &Args<'_>, read_only: bool) -> OpResult<SortOptions> {
    let mut o = SortOptions {
        by: None,
        dont_sort: false,
        limit: None,
        gets: Vec::new(),
        desc: false,
        alpha: false,
        store: None,
    };
    let mut i = 2;
    while i < args.len() {
        let a = args.get(i);
        let left = args.len() - i - 1;
        if eq_ignore_case(a, "asc") {
            o.desc = false;
        } else if eq_ignore_case(a, "desc") {
            o.desc = true;
        } else if eq_ignore_case(a, "alpha") {
            o.alpha = true;
        } else if eq_ignore_case(a, "limit") && left >= 2 {
            let start = parse_i64(args.get(i + 1))?;
            let count = parse_i64(args.get(i + 2))?;
            o.limit = Some((start, count));
            i += 2;
        } else if eq_ignore_case(a, "store") && left >= 1 && !read_only {
            o.store = Some(args.get(i + 1).to_vec());
            i += 1;
        } else if eq_ignore_case(a, "by") && left >= 1 {
            let pattern = args.get(i + 1);
            o.dont_sort = !pattern.contains(&b'*');
            o.by = Some(pattern.to_vec());
            i += 1;
        } else if eq_ignore_case(a, "get") && left >= 1 {
            o.gets.push(args.get(i + 1).to_vec());
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(o)
}

/// The elements of the source key, in its own order (a sorted set's by score), and its type.
fn op_source(
    s: &Shard,
    db: usize,
    key: &[u8],
    now: u64,
) -> OpResult<Option<(ObjType, Vec<Vec<u8>>)>> {
    let ty = {
        let mut dbs = s.db.borrow_mut();
        let found = dbs.find(db, key, now);
        count_lookup(found.is_some());
        match found {
            None => return Ok(None),
            Some(v) => v.obj_type(),
        }
    };
    let elements = match ty {
        ObjType::List => {
            let mut dbs = s.db.borrow_mut();
            let v = dbs.find(db, key, now).expect("found above");
            list_ops::list_of(v)?.to_vec()
        }
        ObjType::Set => set_family::op_members(s, db, key, now)?,
        ObjType::ZSet => {
            let mut dbs = s.db.borrow_mut();
            let v = dbs.find(db, key, now).expect("found above");
            zset_family::zset_of(v)?
                .to_pairs()
                .into_iter()
                .map(|(m, _)| m)
                .collect()
        }
        _ => return Err(CmdError::WrongType),
    };
    Ok(Some((ty, elements)))
}

/// A key a pattern names, and the hash field after `->` if any.
type Target = (Vec<u8>, Option<Vec<u8>>);

/// A BY/GET pattern applied to one element: the key it names and the hash field, if any.
/// None when the pattern has no `*` (it names nothing).
fn pattern_target(pattern: &[u8], element: &[u8]) -> Option<Target> {
    let star = pattern.iter().position(|&c| c == b'*')?;
    let after = &pattern[star + 1..];
    let (suffix, field) = match after.windows(2).position(|w| w == b"->") {
        Some(p) if p + 2 < after.len() => (&after[..p], Some(after[p + 2..].to_vec())),
        _ => (after, None),
    };
    let mut key = Vec::with_capacity(star + element.len() + suffix.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(suffix);
    Some((key, field))
}

/// A string key's value, or a hash field; None when missing or of another type.
fn op_lookup(s: &Shard, db: usize, key: &[u8], field: Option<&[u8]>, now: u64) -> Option<Vec<u8>> {
    match field {
        Some(f) => hash_family::op_hget(s, db, key, f, now).ok().flatten(),
        None => {
            let mut dbs = s.db.borrow_mut();
            dbs.find(db, key, now).and_then(CompactValue::to_vec)
        }
    }
}

/// Resolves many pattern lookups with one hop per shard involved.
/// The hop is unlocked (a plain read, as Redis's lookups inside SORT are plain reads) and goes
/// straight to the shards: the source's transaction stays open meanwhile.
fn lookup_all(db: usize, now: u64, targets: &[Option<Target>]) -> Vec<Option<Vec<u8>>> {
    let n = damselfly_runtime::proactor_count();
    let shard_of_target = |t: &Target| shard_of(key_hash(&t.0), n);
    let mut shards: Vec<usize> = targets.iter().flatten().map(shard_of_target).collect();
    shards.sort_unstable();
    shards.dedup();
    let mut out: Vec<Option<Vec<u8>>> = vec![None; targets.len()];
    if shards.is_empty() {
        return out;
    }
    let answers = crate::tx::on_shards(&shards, &|s| {
        targets
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().map(|t| (i, t)))
            .filter(|(_, t)| shard_of_target(t) == s.index)
            .map(|(i, (key, field))| (i, op_lookup(s, db, key, field.as_deref(), now)))
            .collect::<Vec<_>>()
    });
    for (i, v) in answers.into_iter().flatten() {
        out[i] = v;
    }
    out
}

/// Redis's strtod-style score of a weight: the whole string must be a number.
fn parse_weight(v: &[u8]) -> OpResult<f64> {
    zset_family::parse_score_strict(v).ok_or_else(|| CmdError::raw(NOT_DOUBLE))
}

/// One element being sorted, with what it sorts by.
struct Item {
    element: Vec<u8>,
    score: f64,
    by: Option<Vec<u8>>,
}

fn compare(a: &Item, b: &Item, alpha: bool, by_pattern: bool) -> Ordering {
    if !alpha {
        return a
            .score
            .partial_cmp(&b.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.element.cmp(&b.element));
    }
    if by_pattern {
        // A missing BY value sorts first.
        return a.by.cmp(&b.by);
    }
    a.element.cmp(&b.element)
}

/// Redis's LIMIT window over `len` elements: (start, end) inclusive, or None when empty.
fn window(len: usize, limit: Option<(i64, i64)>) -> Option<(usize, usize)> {
    let len = len as i64;
    let (start, count) = limit.unwrap_or((0, -1));
    let mut start = start.max(0);
    let mut end = if count < 0 {
        len - 1
    } else {
        start.saturating_add(count) - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    (start <= end && start >= 0).then_some((start as usize, end as usize))
}

fn sort(ctx: &mut CmdCtx<'_>, args: &Args<'_>, read_only: bool) -> CmdResult {
    let mut o = parse_options(args, read_only)?;
    let (db, now) = (ctx.db(), now_ms());
    let key = args.get(1);
    let n = damselfly_runtime::proactor_count();
    let src_shard = shard_of(key_hash(key), n);
    let mut keys: Vec<&[u8]> = vec![key];
    if let Some(dst) = &o.store {
        keys.push(dst);
    }
    let mode = if o.store.is_some() {
        LockMode::Exclusive
    } else {
        LockMode::Shared
    };
    let plan = KeyPlan::new(keys.into_iter(), mode);
    let limits = ctx.limits();
    let scripted = ctx.exec.scripted();
    let mut tx = ctx.exec.schedule(&plan);
    let source = tx
        .execute(&[src_shard], false, &|s| op_source(s, db, key, now))
        .pop()
        .expect("one shard");
    let (ty, elements) = match source {
        Ok(Some(found)) => found,
        Ok(None) => (ObjType::List, Vec::new()),
        Err(e) => {
            tx.conclude();
            return Err(e);
        }
    };
    // A set has no order of its own: when its result is stored or goes to a script, sort it
    // anyway so the result is deterministic (as Redis does).
    if o.dont_sort && ty == ObjType::Set && (o.store.is_some() || scripted) {
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    let result = sort_elements((db, now), &o, ty, elements);
    let rows = match result {
        Ok(rows) => rows,
        Err(e) => {
            tx.conclude();
            return Err(e);
        }
    };
    match &o.store {
        Some(dst) => {
            let dst_shard = shard_of(key_hash(dst), n);
            let stored = rows.len();
            tx.execute(&[dst_shard], false, &|s| {
                let values: Vec<&[u8]> = rows.iter().map(|r| r.as_deref().unwrap_or(b"")).collect();
                let mut dbs = s.db.borrow_mut();
                if values.is_empty() {
                    if dbs.delete(db, dst, now).is_some() {
                        notify::keyspace_event(class::GENERIC, "del", dst, db);
                    }
                    return;
                }
                let mut list = QuickList::new(&limits);
                for v in &values {
                    list.push(v, false);
                }
                // Overwritten in place: an existing destination raises no `new`, as in Redis.
                dbs.store(db, dst, CompactValue::from_object(Box::new(list)), now);
                notify::keyspace_event(class::LIST, "sortstore", dst, db);
            });
            tx.conclude();
            ctx.reply().integer(stored as i64);
        }
        None => {
            tx.conclude();
            let mut w = ctx.reply();
            w.array_header(rows.len());
            for r in &rows {
                match r {
                    Some(v) => w.bulk(v),
                    None => w.null(),
                }
            }
        }
    }
    Ok(())
}

/// Sorts (or keeps in order), windows and projects the elements: the reply's rows.
fn sort_elements(
    (db, now): (usize, u64),
    o: &SortOptions,
    ty: ObjType,
    elements: Vec<Vec<u8>>,
) -> OpResult<Vec<Option<Vec<u8>>>> {
    let by_pattern = o.by.is_some() && !o.dont_sort;
    let weights = match (&o.by, o.dont_sort) {
        (Some(pattern), false) => {
            let targets: Vec<_> = elements
                .iter()
                .map(|e| pattern_target(pattern, e))
                .collect();
            lookup_all(db, now, &targets)
        }
        _ => vec![None; elements.len()],
    };
    let mut items = Vec::with_capacity(elements.len());
    for (element, by) in elements.into_iter().zip(weights) {
        let mut score = 0.0;
        if !o.dont_sort && !o.alpha {
            match (&by, by_pattern) {
                (Some(w), true) => score = parse_weight(w)?,
                (None, true) => {}
                (_, false) => score = parse_weight(&element)?,
            }
        }
        items.push(Item { element, score, by });
    }
    if !o.dont_sort {
        items.sort_by(|a, b| {
            let c = compare(a, b, o.alpha, by_pattern);
            if o.desc {
                c.reverse()
            } else {
                c
            }
        });
    }
    let Some((start, end)) = window(items.len(), o.limit) else {
        return Ok(Vec::new());
    };
    // Kept in the source's order, DESC walks a sorted set from the top, and a list from its
    // tail when a LIMIT window applies (Redis reads only that window, backwards).
    let partial = start != 0 || end + 1 != items.len();
    if o.dont_sort && o.desc && (ty == ObjType::ZSet || (ty == ObjType::List && partial)) {
        items.reverse();
    }
    let picked: Vec<Vec<u8>> = items.drain(start..=end).map(|i| i.element).collect();
    if o.gets.is_empty() {
        return Ok(picked.into_iter().map(Some).collect());
    }
    let mut targets = Vec::with_capacity(picked.len() * o.gets.len());
    for e in &picked {
        for g in &o.gets {
            targets.push(if g.as_slice() == b"#" {
                None
            } else {
                pattern_target(g, e)
            });
        }
    }
    let mut found = lookup_all(db, now, &targets);
    let mut rows = Vec::with_capacity(found.len());
    let mut i = 0;
    for e in &picked {
        for g in &o.gets {
            rows.push(if g.as_slice() == b"#" {
                Some(e.clone())
            } else {
                found[i].take()
            });
            i += 1;
        }
    }
    Ok(rows)
}

fn cmd_sort(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    sort(ctx, args, false)
}

fn cmd_sort_ro(ctx: &mut CmdCtx<'_>, args: &Args<'_>) -> CmdResult {
    sort(ctx, args, true)
}

pub fn commands() -> Vec<CommandSpec> {
    let spec = |name, flags, acl, summary, handler, since| CommandSpec {
        name,
        arity: -2,
        flags,
        acl,
        first_key: 1,
        last_key: 1,
        step: 1,
        group: "generic",
        summary,
        since,
        handler,
        subcommands: Vec::new(),
    };
    vec![
        spec(
            "sort",
            WRITE | DENYOOM,
            &[
                "@write",
                "@set",
                "@sortedset",
                "@list",
                "@slow",
                "@dangerous",
            ],
            "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
            cmd_sort as _,
            "1.0.0",
        ),
        spec(
            "sort_ro",
            READONLY,
            &[
                "@read",
                "@set",
                "@sortedset",
                "@list",
                "@slow",
                "@dangerous",
            ],
            "Returns the sorted elements of a list, a set, or a sorted set.",
            cmd_sort_ro as _,
            "7.0.0",
        ),
    ]
}
