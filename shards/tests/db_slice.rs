//! DbSlice behaviour driven by an injected clock (plain u64 milliseconds).

use std::collections::{HashMap, HashSet};

use damselfly_shards::db_slice::KeyExpiry;
use damselfly_shards::{CompactValue, DbSlice, ExpireBudget, GlobPattern, KeyEvent, KeyEventSink};
use proptest::prelude::*;

fn get(slice: &mut DbSlice, db: usize, key: &str, now_ms: u64) -> Option<Vec<u8>> {
    slice
        .find(db, key.as_bytes(), now_ms)
        .and_then(|v| v.to_vec())
}

fn set(slice: &mut DbSlice, db: usize, key: &str, value: &str, now_ms: u64) {
    slice.set(
        db,
        key.as_bytes(),
        CompactValue::from_bytes(value.as_bytes()),
        now_ms,
    );
}

/// The events a test hook saw, shared with the test.
type Seen = std::rc::Rc<std::cell::RefCell<Vec<(KeyEvent, Vec<u8>)>>>;

/// Records the table's `new` events.
struct Events(Seen);

impl KeyEventSink for Events {
    fn wants(&self, event: KeyEvent) -> bool {
        event == KeyEvent::New
    }
    fn raise(&mut self, _: usize, event: KeyEvent, key: &[u8]) {
        self.0.borrow_mut().push((event, key.to_vec()));
    }
}

#[test]
fn store_overwrites_in_place_and_drops_the_deadline() {
    let mut slice = DbSlice::new(1);
    let seen = Seen::default();
    slice.set_key_event_hook(Some(Box::new(Events(seen.clone()))));
    assert!(!slice.store(0, b"k", CompactValue::from_bytes(b"1"), 0));
    assert_eq!(*seen.borrow(), vec![(KeyEvent::New, b"k".to_vec())]);
    slice.set_expiry(0, b"k", 1000, 0);
    // An existing key is overwritten: no second `new`, and no deadline left.
    assert!(slice.store(0, b"k", CompactValue::from_bytes(b"2"), 0));
    assert_eq!(seen.borrow().len(), 1);
    assert_eq!(slice.expiry(0, b"k", 0), KeyExpiry::Persistent);
    assert_eq!(get(&mut slice, 0, "k", 2000), Some(b"2".to_vec()));
}

#[test]
fn add_or_find_reports_new_keys_and_keeps_values() {
    let mut slice = DbSlice::new(16);
    let (mut v, is_new) = slice.add_or_find(0, b"k", 0);
    assert!(is_new);
    *v = CompactValue::from_bytes(b"a value longer than fourteen bytes");
    drop(v);
    let (v, is_new) = slice.add_or_find(0, b"k", 0);
    assert!(!is_new);
    assert!(*v == b"a value longer than fourteen bytes"[..]);
    drop(v);
    assert_eq!(slice.len(0), 1);
    assert_eq!(slice.len(1), 0);
    assert!(slice.delete(0, b"k", 0).is_some());
    assert!(slice.delete(0, b"k", 0).is_none());
    slice.check_invariants();
}

#[test]
fn lazy_expiry_follows_the_clock() {
    let mut slice = DbSlice::new(2);
    set(&mut slice, 0, "session", "data", 1_000);
    assert!(slice.set_expiry(0, b"session", 1_500, 1_000));
    assert_eq!(slice.expiry(0, b"session", 1_000), KeyExpiry::At(1_500));
    assert_eq!(
        get(&mut slice, 0, "session", 1_500),
        Some(b"data".to_vec()),
        "alive at deadline"
    );
    assert_eq!(slice.len(0), 1);
    assert_eq!(get(&mut slice, 0, "session", 1_501), None);
    assert_eq!(slice.len(0), 0, "the lookup deleted it");
    assert_eq!(slice.expire_len(0), 0);
    assert_eq!(slice.stats(0).expired_keys, 1);
    assert_eq!(slice.expiry(0, b"session", 1_501), KeyExpiry::Missing);
    assert!(!slice.set_expiry(0, b"session", 9_000, 1_501));
    slice.check_invariants();
}

#[test]
fn persist_and_overwrite_keep_tables_consistent() {
    let mut slice = DbSlice::new(1);
    set(&mut slice, 0, "k", "v", 0);
    assert_eq!(slice.expiry(0, b"k", 0), KeyExpiry::Persistent);
    assert!(!slice.clear_expiry(0, b"k", 0));
    assert!(slice.set_expiry(0, b"k", 100, 0));
    assert!(slice.set_expiry(0, b"k", 200, 0));
    assert_eq!(slice.expire_len(0), 1);
    set(&mut slice, 0, "k", "v2", 150);
    assert_eq!(
        slice.expiry(0, b"k", 150),
        KeyExpiry::At(200),
        "SET through the slice keeps TTL"
    );
    assert!(slice.clear_expiry(0, b"k", 150));
    assert_eq!(slice.expire_len(0), 0);
    assert_eq!(get(&mut slice, 0, "k", 10_000), Some(b"v2".to_vec()));
    let removed = slice.insert_entry(0, b"k", CompactValue::from_int(5), Some(50), 10_000);
    assert_eq!(removed.unwrap().expire_at_ms, None);
    assert_eq!(
        get(&mut slice, 0, "k", 10_000),
        None,
        "inserted with a past deadline"
    );
    slice.check_invariants();
}

#[test]
fn active_expiry_is_bounded_and_eventually_complete() {
    let mut slice = DbSlice::new(1);
    for i in 0..5_000u64 {
        let key = format!("key:{i}");
        set(&mut slice, 0, &key, "v", 0);
        if i % 2 == 0 {
            slice.set_expiry(0, key.as_bytes(), 100 + i, 0);
        }
    }
    assert_eq!(slice.expire_len(0), 2_500);
    let budget = ExpireBudget {
        buckets_max: 4,
        expired_max: 30,
    };
    let report = slice.active_expire(0, 50, budget);
    assert_eq!(report.expired, 0, "nothing is due yet");
    assert!(report.buckets_visited <= 4 && report.checked > 0);
    let mut total = 0;
    let mut steps = 0;
    loop {
        let report = slice.active_expire(0, 1_000_000, budget);
        assert!(report.expired <= 30 && report.buckets_visited <= 4);
        total += report.expired;
        steps += 1;
        if slice.expire_len(0) == 0 {
            break;
        }
        assert!(steps < 10_000, "active expiry makes progress");
    }
    assert_eq!(total, 2_500);
    assert_eq!(slice.len(0), 2_500);
    assert_eq!(slice.stats(0).expired_keys, 2_500);
    slice.check_invariants();
}

#[test]
fn expired_keys_are_dropped_before_a_split_instead_of_growing() {
    let mut slice = DbSlice::new(1);
    for i in 0..600u64 {
        let key = format!("k{i}");
        set(&mut slice, 0, &key, "v", 0);
        slice.set_expiry(0, key.as_bytes(), 10, 0);
    }
    let bytes_before = slice.stats(0).table_bytes;
    // At t=11 all 600 are expired; inserting 500 fresh keys reuses their slots (fewer than
    // 600: how full a segment is when it first has no room depends on the keys' hashes).
    for i in 0..500u64 {
        set(&mut slice, 0, &format!("fresh{i}"), "v", 11);
    }
    let stats = slice.stats(0);
    assert!(
        stats.expired_keys > 0,
        "a full segment collected expired keys"
    );
    assert!(stats.table_bytes <= bytes_before, "no split was needed");
    slice.check_invariants();
}

#[test]
fn scan_sees_every_stable_key_while_keys_are_added() {
    let mut slice = DbSlice::new(1);
    for i in 0..3_000 {
        set(&mut slice, 0, &format!("stable:{i}"), "v", 0);
    }
    let mut seen = HashSet::new();
    let mut cursor = 0;
    let mut added = 0;
    loop {
        cursor = slice.scan(0, cursor, 0, None, |k, _| {
            seen.insert(k.to_vec());
        });
        for _ in 0..40 {
            set(&mut slice, 0, &format!("new:{added}"), "v", 0);
            added += 1;
        }
        if cursor == 0 {
            break;
        }
    }
    assert!(added > 3_000, "the table grew during the scan");
    for i in 0..3_000 {
        assert!(
            seen.contains(format!("stable:{i}").as_bytes()),
            "stable:{i} missed"
        );
    }
}

#[test]
fn scan_match_random_key_flush_and_swap() {
    let mut slice = DbSlice::new(4);
    for i in 0..100 {
        set(&mut slice, 1, &format!("user:{i}"), "v", 0);
        set(&mut slice, 1, &format!("item:{i}"), "v", 0);
    }
    slice.set_expiry(1, b"user:7", 5, 0);
    let pattern = GlobPattern::new(b"user:*", false);
    let mut matched = HashSet::new();
    let mut cursor = 0;
    loop {
        cursor = slice.scan(1, cursor, 10, Some(&pattern), |k, _| {
            matched.insert(k.to_vec());
        });
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(matched.len(), 99, "expired user:7 is skipped");
    let mut keys = 0;
    slice.for_each_key(1, 10, Some(&GlobPattern::new(b"item:1?", false)), |_, _| {
        keys += 1
    });
    assert_eq!(keys, 10);

    let mut picked = HashSet::new();
    for r in 0..200u64 {
        let key = slice
            .random_key(1, 10, r.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .unwrap();
        picked.insert(key.to_vec());
    }
    assert!(picked.len() > 50, "random keys spread: {}", picked.len());
    assert!(slice.random_key(2, 10, 1).is_none());

    let before = slice.len(1);
    assert!(
        before == 199 || before == 200,
        "random_key may have deleted expired user:7"
    );
    slice.swap_dbs(1, 2);
    assert_eq!(slice.len(1), 0);
    assert_eq!(slice.len(2), before);
    assert_eq!(get(&mut slice, 2, "item:3", 10), Some(b"v".to_vec()));
    slice.flush_db(2);
    assert_eq!(slice.len(2), 0);
    assert_eq!(slice.stats(2), Default::default());
    slice.check_invariants();
}

#[test]
fn watched_versions_change_on_writes_only() {
    let mut slice = DbSlice::new(2);
    set(&mut slice, 0, "w", "1", 0);
    let v0 = slice.watch_key(0, b"w");
    assert_eq!(get(&mut slice, 0, "w", 0), Some(b"1".to_vec()));
    assert_eq!(
        slice.watched_version(0, b"w"),
        Some(v0),
        "reads do not touch"
    );
    set(&mut slice, 0, "w", "2", 0);
    let v1 = slice.watched_version(0, b"w").unwrap();
    assert_ne!(v1, v0);
    slice.set_expiry(0, b"w", 10, 0);
    let v2 = slice.watched_version(0, b"w").unwrap();
    assert_ne!(v2, v1);
    assert_eq!(get(&mut slice, 0, "w", 11), None);
    let v3 = slice.watched_version(0, b"w").unwrap();
    assert_ne!(v3, v2, "expiry touches");
    // SWAPDB and FLUSHDB touch a watched key only where it is stored (as Redis does).
    slice.swap_dbs(0, 1);
    assert_eq!(
        slice.watched_version(0, b"w").unwrap(),
        v3,
        "absent from both"
    );
    set(&mut slice, 1, "w", "x", 0);
    slice.swap_dbs(0, 1);
    let v4 = slice.watched_version(0, b"w").unwrap();
    assert_ne!(v4, v3, "stored in the other database");
    slice.flush_db(1);
    assert_eq!(slice.watched_version(0, b"w").unwrap(), v4);
    slice.flush_db(0);
    assert_ne!(slice.watched_version(0, b"w").unwrap(), v4);
    // A write that changes nothing through the value does not touch.
    set(&mut slice, 0, "w", "1", 0);
    let v5 = slice.watched_version(0, b"w").unwrap();
    drop(slice.find_mut(0, b"w", 0));
    assert_eq!(slice.watched_version(0, b"w").unwrap(), v5);
    slice.unwatch_key(0, b"w");
    assert_eq!(slice.watched_version(0, b"w"), None);
}

#[test]
fn change_hook_sees_buckets_before_writes() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let seen: Rc<RefCell<Vec<Vec<Vec<u8>>>>> = Rc::default();
    let sink = seen.clone();
    let mut slice = DbSlice::new(1);
    set(&mut slice, 0, "a", "1", 0);
    slice.set_change_hook(Some(Box::new(move |_table, bucket| {
        sink.borrow_mut()
            .push(bucket.iter().map(|(k, _)| k.to_vec()).collect());
    })));
    slice.delete(0, b"a", 0);
    assert_eq!(
        seen.borrow().last().unwrap(),
        &vec![b"a".to_vec()],
        "deleted key still there"
    );
    slice.set_change_hook(None);
    set(&mut slice, 0, "b", "1", 0);
    assert_eq!(seen.borrow().len(), 1);
}

#[derive(Clone, Debug)]
enum Op {
    Set(u8, u16),
    Del(u8),
    Expire(u8, u16),
    Persist(u8),
    Get(u8),
    Tick(u16),
    Active,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The slice against a model map of key -> (value, deadline) with a moving clock.
    #[test]
    fn slice_matches_model(ops in prop::collection::vec(prop_oneof![
        4 => (any::<u8>(), any::<u16>()).prop_map(|(k, v)| Op::Set(k, v)),
        1 => any::<u8>().prop_map(Op::Del),
        2 => (any::<u8>(), any::<u16>()).prop_map(|(k, t)| Op::Expire(k, t)),
        1 => any::<u8>().prop_map(Op::Persist),
        3 => any::<u8>().prop_map(Op::Get),
        1 => (0..50u16).prop_map(Op::Tick),
        1 => Just(Op::Active),
    ], 1..600)) {
        let mut slice = DbSlice::new(1);
        let mut model: HashMap<Vec<u8>, (Vec<u8>, Option<u64>)> = HashMap::new();
        let mut now = 1_000u64;
        let key = |k: u8| format!("key-{k}-{}", "x".repeat((k % 24) as usize)).into_bytes();
        for op in ops {
            model.retain(|_, (_, d)| d.is_none_or(|d| now <= d));
            match op {
                Op::Set(k, v) => {
                    let value = if v % 3 == 0 { v.to_string().into_bytes() } else { vec![b'v'; (v % 40) as usize] };
                    slice.set(0, &key(k), CompactValue::from_bytes(&value), now);
                    model.entry(key(k)).and_modify(|e| e.0 = value.clone()).or_insert((value, None));
                }
                Op::Del(k) => prop_assert_eq!(slice.delete(0, &key(k), now).is_some(), model.remove(&key(k)).is_some()),
                Op::Expire(k, t) => {
                    let deadline = now + u64::from(t % 200);
                    let present = model.get_mut(&key(k)).map(|e| e.1 = Some(deadline)).is_some();
                    prop_assert_eq!(slice.set_expiry(0, &key(k), deadline, now), present);
                }
                Op::Persist(k) => {
                    let had = model.get_mut(&key(k)).and_then(|e| e.1.take()).is_some();
                    prop_assert_eq!(slice.clear_expiry(0, &key(k), now), had);
                }
                Op::Get(k) => {
                    let got = slice.find(0, &key(k), now).and_then(|v| v.to_vec());
                    prop_assert_eq!(got, model.get(&key(k)).map(|e| e.0.clone()));
                }
                Op::Tick(ms) => now += u64::from(ms),
                Op::Active => { slice.active_expire(0, now, ExpireBudget { buckets_max: 2, expired_max: 5 }); }
            }
        }
        slice.check_invariants();
        let mut live = 0;
        slice.for_each_key(0, now, None, |_, _| live += 1);
        model.retain(|_, (_, d)| d.is_none_or(|d| now <= d));
        prop_assert_eq!(live, model.len());
    }
}

/// The snapshot protocol on one slice: cut, then walk bucket by bucket (writing buckets at or
/// below the cut and marking them) while writes, deadline changes, flushes, SWAPDB and table
/// growth happen between steps; the change hook writes a bucket still at or below the cut
/// before a write changes it, the flush hook keeps a flushed table. What was written is
/// exactly the slice at the cut: every key once, with its value and deadline.
#[test]
fn cut_walk_and_hooks_write_exactly_the_state_at_the_cut() {
    use damselfly_shards::{BucketRef, CellFlags, CompactKey, DetachedDb, TableCut};
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::rc::Rc;

    type Written = BTreeMap<(usize, Vec<u8>), (Vec<u8>, Option<u64>)>;
    fn write(
        out: &mut Written,
        db: usize,
        bucket: &BucketRef<'_, CompactKey, CompactValue>,
        expire: &damselfly_shards::expiry::ExpireTable,
    ) {
        for (k, v) in bucket.iter() {
            let deadline = k
                .has_flag(CellFlags::HAS_EXPIRY)
                .then(|| *expire.find(k).unwrap());
            let prev = out.insert((db, k.to_vec()), (v.to_vec().unwrap(), deadline));
            assert!(prev.is_none(), "key written twice");
        }
    }

    let (mut swaps, mut flushes) = (0, 0);
    for seed in 0..8u64 {
        let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut slice = DbSlice::new(3);
        for i in 0..3000u64 {
            let db = (i % 3) as usize;
            set(&mut slice, db, &format!("k{i}"), &format!("v{i}"), 0);
            if i % 7 == 0 {
                slice.set_expiry(db, format!("k{i}").as_bytes(), 1_000_000 + i, 0);
            }
        }
        let mut want = Written::new();
        for db in 0..3 {
            slice.for_each_key(db, 0, None, |k, v| {
                let deadline = slice_expiry_of(&slice, db, k);
                want.insert((db, k.to_vec()), (v.to_vec().unwrap(), deadline));
            });
        }
        let cuts: Vec<TableCut> = slice.cut();
        let out: Rc<RefCell<Written>> = Rc::default();
        let detached: Rc<RefCell<Vec<DetachedDb>>> = Rc::default();
        let (sink, cuts_for_hook) = (out.clone(), cuts.clone());
        slice.set_change_hook(Some(Box::new(move |t, bucket| {
            if let Some(c) = cuts_for_hook.iter().find(|c| c.table_id == t.table_id) {
                if bucket.version() <= c.version {
                    write(&mut sink.borrow_mut(), c.db, &bucket, t.expire);
                }
            }
        })));
        let keep = detached.clone();
        slice.set_flush_hook(Some(Box::new(move |d| keep.borrow_mut().push(d))));
        for cut in &cuts {
            let mut cursor = 0;
            loop {
                let mut marks = Vec::new();
                if let Some(d) = detached
                    .borrow()
                    .iter()
                    .find(|d| d.table_id == cut.table_id)
                {
                    cursor = d.primary.traverse_buckets(cursor, |b| {
                        if b.version() <= cut.version {
                            write(&mut out.borrow_mut(), cut.db, &b, &d.expire);
                        }
                    });
                } else {
                    let (primary, expire) = slice.tables_by_id(cut.table_id).unwrap();
                    cursor = primary.traverse_buckets(cursor, |b| {
                        if b.version() <= cut.version {
                            write(&mut out.borrow_mut(), cut.db, &b, expire);
                            marks.push(b.id);
                        }
                    });
                }
                for b in marks {
                    slice.mark_bucket(cut.table_id, b, cut.mark);
                }
                if cursor == 0 {
                    break;
                }
                // Writes between steps: overwrite, delete, new keys (splits), deadlines.
                for _ in 0..6 {
                    let r = next();
                    let db = (r % 3) as usize;
                    let key = format!("k{}", (r >> 8) % 4000);
                    match (r >> 40) % 6 {
                        0 => {
                            slice.delete(db, key.as_bytes(), 0);
                        }
                        1 => {
                            slice.set_expiry(db, key.as_bytes(), 5_000_000, 0);
                        }
                        2 => {
                            slice.clear_expiry(db, key.as_bytes(), 0);
                        }
                        _ => set(&mut slice, db, &format!("{key}n{r}"), "new", 0),
                    }
                }
                if next() % 60 == 0 {
                    slice.swap_dbs(0, 1);
                    swaps += 1;
                }
                if next() % 80 == 0 {
                    slice.flush_db((next() % 3) as usize);
                    flushes += 1;
                }
            }
        }
        slice.set_change_hook(None);
        slice.set_flush_hook(None);
        assert_eq!(*out.borrow(), want, "seed {seed}");
        slice.check_invariants();
    }
    assert!(swaps > 8 && flushes > 8, "{swaps} swaps, {flushes} flushes");
}

fn slice_expiry_of(slice: &DbSlice, db: usize, key: &damselfly_shards::CompactKey) -> Option<u64> {
    if !key.has_flag(damselfly_shards::CellFlags::HAS_EXPIRY) {
        return None;
    }
    slice.expire_table(db).and_then(|e| e.find(key).copied())
}
