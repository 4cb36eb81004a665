use super::table::*;
use super::*;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

/// Recomputes (len, links, entry bytes) by walking every chain, to check the O(1) counters.
fn audit<const MAP: bool>(core: &Core<MAP>) -> (usize, usize, usize) {
    let (mut len, mut links, mut bytes) = (0, 0, 0);
    for (ti, table) in core.t.iter().enumerate() {
        for (b, &slot) in table.iter().enumerate() {
            if ti == 0 && core.rehashing() && b < core.rehash_idx {
                assert_eq!(slot, 0, "migrated bucket not empty");
            }
            let mut v = slot;
            while v != 0 {
                let e = if v & LINK_TAG == 0 {
                    let e = v;
                    v = 0;
                    e
                } else {
                    links += 1;
                    let l = unsafe { link(v) };
                    v = l.next;
                    l.entry
                };
                let key = unsafe { entry_key(e) };
                assert_eq!(
                    bucket_of(FixedHasher::hash_bytes(key), table.len()),
                    b,
                    "entry in the wrong bucket"
                );
                len += 1;
                bytes += unsafe { entry_size::<MAP>(e) };
            }
        }
    }
    (len, links, bytes)
}

fn check_map(map: &StringMap, model: &HashMap<Vec<u8>, Vec<u8>>) {
    assert_eq!(map.len(), model.len());
    let (len, links, bytes) = audit(&map.core);
    assert_eq!(len, model.len());
    assert_eq!(links, map.core.links);
    assert_eq!(bytes, map.core.entry_bytes);
    assert_eq!(
        map.heap_bytes(),
        map.bucket_count() * 8 + links * 16 + bytes
    );
    let got: HashMap<Vec<u8>, Vec<u8>> =
        map.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
    assert_eq!(&got, model);
    assert_eq!(map.iter().count(), model.len());
}

fn check_set(set: &DenseSet, model: &HashSet<Vec<u8>>) {
    assert_eq!(set.len(), model.len());
    let (len, links, bytes) = audit(&set.core);
    assert_eq!(len, model.len());
    assert_eq!(links, set.core.links);
    assert_eq!(bytes, set.core.entry_bytes);
    let got: HashSet<Vec<u8>> = set.iter().map(<[u8]>::to_vec).collect();
    assert_eq!(&got, model);
    assert_eq!(set.iter().count(), model.len());
}

#[derive(Debug, Clone)]
enum MapOp {
    Insert(u16, Vec<u8>),
    InsertNew(u16, Vec<u8>),
    Replace(u16, Vec<u8>),
    SetMut(u16, Vec<u8>),
    Remove(u16),
    Take(u16),
    Get(u16),
}

fn key_of(k: u16) -> Vec<u8> {
    // Some long keys so varints take two bytes.
    if k.is_multiple_of(7) {
        format!("long-key-{k}-{}", "x".repeat(130)).into_bytes()
    } else {
        format!("k{k}").into_bytes()
    }
}

fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..8),
        proptest::collection::vec(any::<u8>(), 120..140),
    ]
}

fn map_op(keys: u16) -> impl Strategy<Value = MapOp> {
    prop_oneof![
        4 => (0..keys, value_strategy()).prop_map(|(k, v)| MapOp::Insert(k, v)),
        1 => (0..keys, value_strategy()).prop_map(|(k, v)| MapOp::InsertNew(k, v)),
        1 => (0..keys, value_strategy()).prop_map(|(k, v)| MapOp::Replace(k, v)),
        1 => (0..keys, value_strategy()).prop_map(|(k, v)| MapOp::SetMut(k, v)),
        2 => (0..keys).prop_map(MapOp::Remove),
        1 => (0..keys).prop_map(MapOp::Take),
        1 => (0..keys).prop_map(MapOp::Get),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn string_map_matches_hash_map(ops in proptest::collection::vec(map_op(600), 1..3000)) {
        let mut map = StringMap::new();
        let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            match op {
                MapOp::Insert(k, v) => {
                    let k = key_of(*k);
                    prop_assert_eq!(map.insert(&k, v), model.insert(k, v.clone()).is_none());
                }
                MapOp::InsertNew(k, v) => {
                    let k = key_of(*k);
                    let absent = !model.contains_key(&k);
                    prop_assert_eq!(map.insert_new(&k, v), absent);
                    if absent {
                        model.insert(k, v.clone());
                    }
                }
                MapOp::Replace(k, v) => {
                    let k = key_of(*k);
                    prop_assert_eq!(map.replace(&k, v), model.insert(k, v.clone()));
                }
                MapOp::SetMut(k, v) => {
                    let k = key_of(*k);
                    match (map.get_mut(&k), model.get_mut(&k)) {
                        (Some(mut slot), Some(m)) => {
                            prop_assert_eq!(slot.get(), &m[..]);
                            slot.set(v);
                            *m = v.clone();
                        }
                        (None, None) => {}
                        _ => prop_assert!(false, "get_mut disagrees"),
                    }
                }
                MapOp::Remove(k) => {
                    let k = key_of(*k);
                    prop_assert_eq!(map.remove(&k), model.remove(&k).is_some());
                }
                MapOp::Take(k) => {
                    let k = key_of(*k);
                    prop_assert_eq!(map.take(&k), model.remove(&k));
                }
                MapOp::Get(k) => {
                    let k = key_of(*k);
                    prop_assert_eq!(map.get(&k), model.get(&k).map(Vec::as_slice));
                    prop_assert_eq!(map.contains_key(&k), model.contains_key(&k));
                }
            }
            if i % 97 == 0 {
                check_map(&map, &model);
            }
        }
        check_map(&map, &model);
        check_map(&map.clone(), &model);
    }

    #[test]
    fn dense_set_matches_hash_set(ops in proptest::collection::vec((0u8..4, 0u16..2000), 1..4000)) {
        let mut set = DenseSet::new();
        let mut model: HashSet<Vec<u8>> = HashSet::new();
        for (i, (op, k)) in ops.iter().enumerate() {
            let k = key_of(*k);
            match op {
                0 | 1 => prop_assert_eq!(set.insert(&k), model.insert(k)),
                2 => prop_assert_eq!(set.remove(&k), model.remove(&k)),
                _ => prop_assert_eq!(set.contains(&k), model.contains(&k)),
            }
            if i % 131 == 0 {
                check_set(&set, &model);
            }
        }
        check_set(&set, &model);
        let copy = set.clone();
        check_set(&copy, &model);
        // Popping drains the set, every member once.
        let mut seed = 1;
        while let Some(m) = set.pop_random(seed) {
            prop_assert!(model.remove(&m));
            seed += 1;
        }
        prop_assert!(model.is_empty());
        prop_assert_eq!(set.heap_bytes(), 0);
    }

    /// Entries present for the whole scan are reported, whatever is added or removed between
    /// steps (growth, shrinking and incremental rehash included).
    #[test]
    fn scan_never_misses_a_stable_entry(
        initial in 0usize..3000,
        churn in proptest::collection::vec((any::<bool>(), 0u32..5000), 0..400),
        per_step in 0usize..20,
    ) {
        let mut set = DenseSet::new();
        for i in 0..initial {
            set.insert(format!("s{i}").as_bytes());
        }
        // Stable members: the first half of the initial ones, never removed by the churn.
        let stable: HashSet<Vec<u8>> =
            (0..initial / 2).map(|i| format!("s{i}").into_bytes()).collect();
        let mut seen = HashSet::new();
        let mut cursor = 0u64;
        let mut churn = churn.into_iter();
        let mut steps = 0;
        loop {
            cursor = set.scan(cursor, |m| {
                seen.insert(m.to_vec());
            });
            steps += 1;
            prop_assert!(steps < 1_000_000, "scan does not terminate");
            for _ in 0..per_step {
                if let Some((add, n)) = churn.next() {
                    if add {
                        set.insert(format!("c{n}").as_bytes());
                        // Mass growth now and then.
                        if n.is_multiple_of(50) {
                            for j in 0..2000 {
                                set.insert(format!("g{n}-{j}").as_bytes());
                            }
                        }
                    } else {
                        set.remove(format!("c{n}").as_bytes());
                        if n.is_multiple_of(40) {
                            // Mass removal, to trigger shrinking.
                            let victims: Vec<Vec<u8>> = set
                                .iter()
                                .filter(|m| !m.starts_with(b"s"))
                                .map(<[u8]>::to_vec)
                                .collect();
                            for v in victims {
                                set.remove(&v);
                            }
                            for i in initial / 2..initial {
                                set.remove(format!("s{i}").as_bytes());
                            }
                        }
                    }
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for m in &stable {
            prop_assert!(seen.contains(m), "scan missed {:?}", String::from_utf8_lossy(m));
        }
    }
}

#[test]
fn map_scan_reports_keys_with_their_values() {
    let mut map = StringMap::new();
    for i in 0..1000 {
        map.insert(format!("f{i}").as_bytes(), format!("v{i}").as_bytes());
    }
    let mut got = HashMap::new();
    let mut cursor = 0;
    loop {
        cursor = map.scan(cursor, |k, v| {
            got.insert(k.to_vec(), v.to_vec());
        });
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(got.len(), 1000);
    for (k, v) in got {
        assert_eq!(map.get(&k), Some(&v[..]));
    }
}

#[test]
fn random_draws_are_close_to_uniform() {
    // 200 members, 200,000 draws: each expected 1000 times. A chi-square statistic for 199
    // degrees of freedom is ~199 on average; 400 is far in the tail for a fair draw.
    for n in [5usize, 200] {
        let mut set = DenseSet::new();
        for i in 0..n {
            set.insert(format!("m{i}").as_bytes());
        }
        let draws = 1000 * n;
        let mut counts: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut rng = SplitMix(42);
        for _ in 0..draws {
            let m = set.random(rng.next()).unwrap();
            *counts.entry(m.to_vec()).or_default() += 1;
        }
        assert_eq!(counts.len(), n);
        let expected = (draws / n) as f64;
        let chi2: f64 = counts
            .values()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 2.0 * n as f64 + 20.0, "n={n} chi2={chi2}");
    }
}

#[test]
fn random_map_entry_during_rehash() {
    let mut map = StringMap::new();
    for i in 0..4097 {
        map.insert(format!("f{i}").as_bytes(), b"v");
    }
    assert!(map.core.rehashing());
    let mut rng = SplitMix(7);
    let mut seen = HashSet::new();
    for _ in 0..100_000 {
        let (k, v) = map.random(rng.next()).unwrap();
        assert_eq!(v, b"v");
        seen.insert(k.to_vec());
    }
    assert!(seen.len() > 4000);
}

#[test]
fn value_set_in_place_and_resized() {
    let mut map = StringMap::new();
    map.insert(b"a", b"123");
    let before = map.heap_bytes();
    map.get_mut(b"a").unwrap().set(b"456");
    assert_eq!(map.get(b"a"), Some(&b"456"[..]));
    assert_eq!(map.heap_bytes(), before);
    map.get_mut(b"a").unwrap().set(b"4567");
    assert_eq!(map.get(b"a"), Some(&b"4567"[..]));
    assert_eq!(map.heap_bytes(), before + 1);
    assert!(map.remove(b"a"));
    assert!(map.is_empty());
    assert_eq!(map.heap_bytes(), 0);
}

#[test]
fn varints_round_trip() {
    for n in [0usize, 1, 127, 128, 16383, 16384, 1 << 30, usize::MAX >> 1] {
        let mut buf = [0u8; 10];
        let w = write_varint(&mut buf, n);
        assert_eq!(w, varint_len(n));
        assert_eq!(unsafe { read_varint(buf.as_ptr()) }, (n, w));
    }
}
